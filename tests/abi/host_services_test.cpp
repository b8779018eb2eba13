// The host services of ABI 1.2 through the real plugin host: a plugin
// (plugins/services.cpp) sends HTTP requests, opens WebSockets, sets timers and
// settles inbound deliveries against a Beast HTTP + WebSocket server on loopback.
// Every wait is bounded and ends on a condition, never on a sleep.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <haveri/plugin.h>

#include "plugin_host.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using haveri::daemon::InboundVerdict;
using haveri::daemon::PluginHost;
using nlohmann::json;

constexpr std::size_t kResponseLimit = 64 * 1024;
constexpr std::size_t kMessageLimit = 16 * 1024;

// A self-signed certificate for 127.0.0.1 and localhost, made for one test run.
struct TestCertificate {
  std::string certificate_pem;
  std::string key_pem;
};

std::string pem_of(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || write(bio.get()) != 1) {
    throw std::runtime_error("cannot write PEM");
  }
  char* data = nullptr;
  // BIO_get_mem_data, spelled out: the macro casts C-style.
  const long size = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  return std::string(data, static_cast<std::size_t>(size));
}

TestCertificate make_test_certificate() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(X509_new(), &X509_free);
  if (!key || !certificate) {
    throw std::runtime_error("cannot make a key");
  }
  X509* cert = certificate.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("haveri test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(cert, key.get(), EVP_sha256()) == 0) {
    throw std::runtime_error("cannot sign the certificate");
  }
  return {pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert); }), pem_of([&](BIO* bio) {
            return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
          })};
}

// HTTP and WebSocket on 127.0.0.1 (with TLS when given a certificate), on its own
// thread.
//   /echo          200 with what arrived as JSON, and Retry-After / X-Mixed-Case headers
//   /slow          never answers
//   /big?n=N       N bytes (Content-Length); /chunked?n=N likewise, chunked
//   /ws (upgrade)  says "hello <authorization>", echoes "echo:<text>", answers "big"
//                  with 64 KiB, and "close-please" with a close frame (4000, "bye")
class LoopbackServer {
 public:
  explicit LoopbackServer(const TestCertificate* certificate = nullptr) {
    if (certificate != nullptr) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain(
          asio::buffer(certificate->certificate_pem.data(), certificate->certificate_pem.size()));
      tls_->use_private_key(asio::buffer(certificate->key_pem.data(), certificate->key_pem.size()),
                            asio::ssl::context::pem);
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LoopbackServer() {
    io_.stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    try {
      if (tls_) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_);
        co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        co_await serve_http(std::move(stream));
      } else {
        co_await serve_http(beast::tcp_stream(std::move(socket)));
      }
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): the client went away
    }
  }

  static std::size_t size_in(const std::string& target) {
    const auto at = target.find("n=");
    return at == std::string::npos ? 0 : std::stoul(target.substr(at + 2));
  }

  template <class Stream>
  static asio::awaitable<void> serve_http(Stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      co_await bhttp::async_read(stream, buffer, request, asio::use_awaitable);
      if (websocket::is_upgrade(request)) {
        co_await serve_websocket(std::move(stream), std::move(request));
        co_return;
      }
      const std::string target(request.target());
      bhttp::response<bhttp::string_body> response{bhttp::status::ok, request.version()};
      if (target.starts_with("/slow")) {
        asio::steady_timer never(co_await asio::this_coro::executor, std::chrono::hours(1));
        co_await never.async_wait(asio::use_awaitable);
      } else if (target.starts_with("/big") || target.starts_with("/chunked")) {
        response.body() = std::string(size_in(target), 'x');
        response.chunked(target.starts_with("/chunked"));
      } else {
        json headers = json::object();
        for (const auto& field : request) {
          std::string name(field.name_string());
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          headers[name] = std::string(field.value());
        }
        response.set(bhttp::field::content_type, "application/json");
        response.set(bhttp::field::retry_after, "30");
        response.set("X-Mixed-Case", "Yes");
        response.body() = json{
            {"method", std::string(request.method_string())},
            {"target", target},
            {"headers", headers},
            {"body",
             request.body()}}.dump();
      }
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, asio::use_awaitable);
      if (!request.keep_alive()) {
        co_return;
      }
    }
  }

  template <class Stream>
  static asio::awaitable<void> serve_websocket(Stream stream,
                                               bhttp::request<bhttp::string_body> request) {
    websocket::stream<Stream> ws(std::move(stream));
    co_await ws.async_accept(request, asio::use_awaitable);
    ws.text(true);
    const std::string hello = "hello " + std::string(request[bhttp::field::authorization]);
    co_await ws.async_write(asio::buffer(hello), asio::use_awaitable);
    beast::flat_buffer buffer;
    for (;;) {
      co_await ws.async_read(buffer, asio::use_awaitable);
      const std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (text == "close-please") {
        co_await ws.async_close(
            websocket::close_reason(static_cast<websocket::close_code>(4000), "bye"),
            asio::use_awaitable);
        co_return;
      }
      const std::string answer = text == "big" ? std::string(64 * 1024, 'x') : "echo:" + text;
      co_await ws.async_write(asio::buffer(answer), asio::use_awaitable);
    }
  }

  asio::io_context io_;
  std::optional<asio::ssl::context> tls_;
  tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread_;
};

// A port on loopback where nothing listens.
std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

class HostServices : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certificate_ = new TestCertificate(make_test_certificate());
    ca_file_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                         ("haveri-test-ca-" + std::to_string(::getpid()) + ".pem"));
    std::ofstream(*ca_file_) << certificate_->certificate_pem;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove(*ca_file_, ignored);
    delete ca_file_;
    delete certificate_;
  }

  void SetUp() override {
    log_ = std::make_shared<std::ostringstream>();
    previous_logger_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>(
        "host-services-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_));
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);

    haveri::daemon::PluginHostOptions options{
        HAVERI_TEST_PLUGIN_DIR, std::chrono::milliseconds(500), std::chrono::milliseconds(10000)};
    options.max_outbound_in_flight = 2;
    options.max_outbound_response_bytes = kResponseLimit;
    options.max_websockets = 2;
    options.max_websocket_message_bytes = kMessageLimit;
    options.max_timers = 8;
    options.ca_file = *ca_file_;
    host_ = std::make_unique<PluginHost>(
        io_, std::move(options),
        [this](const std::string&, const json&, auto done) { done(verdict_); });
    host_->start(
        {{"svc", "abi_services", json::object()}, {"bare", "abi_services_bare", json::object()}});
  }

  void TearDown() override {
    if (host_) {
      host_->shutdown();
      host_.reset();
    }
    spdlog::set_default_logger(previous_logger_);
  }

  // Runs the host's io_context until `slot` is filled, at most 10 s.
  template <class T>
  T run_until(std::optional<T>& slot) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!slot && std::chrono::steady_clock::now() < give_up) {
      io_.run_for(std::chrono::milliseconds(5));
    }
    io_.restart();
    EXPECT_TRUE(slot.has_value()) << "no answer within 10 s";
    return slot.value_or(T{});
  }

  json perform(const std::string& instance, json operation) {
    std::optional<json> result;
    operation["v"] = 1;
    host_->perform(instance, operation, [&result](json r) { result = std::move(r); });
    return run_until(result);
  }

  // What the host function returned for an operation of the services plugin.
  int call(json operation, const std::string& instance = "svc") {
    return perform(instance, std::move(operation)).value("result", -1);
  }

  // The first `count` callbacks recorded under `key`, waiting for them.
  json records(const std::string& key, std::size_t count = 1) {
    json answer = perform("svc", {{"type", "wait"}, {"key", key}, {"count", count}});
    EXPECT_EQ(answer.value("status", ""), "ok") << answer.dump();
    return answer.value("records", json::array());
  }

  json http_answer(std::uint64_t call_id) { return records("http:" + std::to_string(call_id))[0]; }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }
  std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(server_.port()) + "/ws"; }

  static TestCertificate* certificate_;
  static std::filesystem::path* ca_file_;
  LoopbackServer server_;
  LoopbackServer tls_server_{certificate_};
  asio::io_context io_;
  std::unique_ptr<PluginHost> host_;
  InboundVerdict verdict_ = InboundVerdict::committed;
  std::shared_ptr<std::ostringstream> log_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

TestCertificate* HostServices::certificate_ = nullptr;
std::filesystem::path* HostServices::ca_file_ = nullptr;

const json kEvent = {{"v", 1},
                     {"type", "message"},
                     {"idempotency_key", "services:1"},
                     {"installation", "T0"},
                     {"channel", {{"id", "C1"}}},
                     {"user", {{"id", "U1"}}},
                     {"text", "hi"}};

// ---- HTTP

TEST_F(HostServices, GetAndPostArriveIntactAndResponseHeadersAreLowerCase) {
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request",
                   {{"v", 1},
                    {"method", "GET"},
                    {"url", url("/echo?channel=C1&x=%20y")},
                    {"headers", {{"authorization", "Bearer xoxb-fake"}, {"X-Custom", "A b"}}}}}}),
            HAVERI_OK);
  json get = http_answer(1);
  EXPECT_EQ(get["response"]["status"], 200);
  EXPECT_EQ(get["response"]["headers"]["retry-after"], "30");
  EXPECT_EQ(get["response"]["headers"]["x-mixed-case"], "Yes");
  json seen = json::parse(get["body"].get<std::string>());
  EXPECT_EQ(seen["method"], "GET");
  EXPECT_EQ(seen["target"], "/echo?channel=C1&x=%20y");
  EXPECT_EQ(seen["headers"]["authorization"], "Bearer xoxb-fake");
  EXPECT_EQ(seen["headers"]["x-custom"], "A b");

  const std::string body = R"({"channel":"C1","text":"ünïcode \u0000 and \"quotes\""})";
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 2},
                  {"request",
                   {{"v", 1},
                    {"method", "POST"},
                    {"url", url("/echo")},
                    {"headers", {{"content-type", "application/json; charset=utf-8"}}}}},
                  {"body", body}}),
            HAVERI_OK);
  json post = http_answer(2);
  EXPECT_EQ(post["response"]["status"], 200);
  seen = json::parse(post["body"].get<std::string>());
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(seen["body"], body);
  EXPECT_EQ(seen["headers"]["content-type"], "application/json; charset=utf-8");
  // Debug log: method, URL without its query, status, time; never a header value.
  EXPECT_NE(log_->str().find("outbound GET " + url("/echo") + " -> 200 in "), std::string::npos)
      << log_->str();
  EXPECT_EQ(log_->str().find("xoxb-fake"), std::string::npos);
  EXPECT_EQ(log_->str().find("channel=C1"), std::string::npos);

  // A token in the path (a Slack response_url ends in one) is not logged either.
  ASSERT_EQ(
      call({{"type", "http"},
            {"call_id", 3},
            {"request",
             {{"method", "GET"}, {"url", url("/actions/T0001/99/Fake0token1not2a3secret4")}}}}),
      HAVERI_OK);
  (void)http_answer(3);
  EXPECT_NE(log_->str().find("outbound GET " + url("/actions/T0001/99/…")), std::string::npos)
      << log_->str();
  EXPECT_EQ(log_->str().find("Fake0token1not2a3secret4"), std::string::npos) << log_->str();
}

TEST_F(HostServices, NoAnswerInTimeIsStatusZeroWithAnError) {
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", url("/slow")}, {"timeout_ms", 200}}}}),
            HAVERI_OK);
  json answer = http_answer(1);
  EXPECT_EQ(answer["response"]["status"], 0);
  EXPECT_EQ(answer["response"]["error"],
            "127.0.0.1:" + std::to_string(server_.port()) + ": timed out after 200 ms");
  EXPECT_EQ(answer["body"], "");
}

TEST_F(HostServices, ConnectionRefusedIsStatusZeroNamingTheDestination) {
  const std::uint16_t port = closed_port();
  ASSERT_EQ(
      call({{"type", "http"},
            {"call_id", 1},
            {"request",
             {{"method", "GET"}, {"url", "http://127.0.0.1:" + std::to_string(port) + "/"}}}}),
      HAVERI_OK);
  json answer = http_answer(1);
  EXPECT_EQ(answer["response"]["status"], 0);
  EXPECT_TRUE(answer["response"]["error"].get<std::string>().starts_with(
      "127.0.0.1:" + std::to_string(port) + ": "))
      << answer.dump();
}

TEST_F(HostServices, ResponseBodyOverTheLimitIsAnError) {
  for (const std::string path : {"/big", "/chunked"}) {
    ASSERT_EQ(call({{"type", "http"},
                    {"call_id", 1},
                    {"request",
                     {{"method", "GET"},
                      {"url", url(path + "?n=" + std::to_string(kResponseLimit + 1))}}}}),
              HAVERI_OK);
    json answer = records("http:1", path == "/big" ? 1 : 2).back();
    EXPECT_EQ(answer["response"]["status"], 0) << path;
    EXPECT_NE(answer["response"]["error"].get<std::string>().find(std::to_string(kResponseLimit)),
              std::string::npos)
        << answer.dump();
  }
  // Right at the limit is fine.
  ASSERT_EQ(
      call({{"type", "http"},
            {"call_id", 2},
            {"request",
             {{"method", "GET"}, {"url", url("/chunked?n=" + std::to_string(kResponseLimit))}}}}),
      HAVERI_OK);
  json answer = http_answer(2);
  EXPECT_EQ(answer["response"]["status"], 200);
  EXPECT_EQ(answer["body"].get<std::string>().size(), kResponseLimit);
}

TEST_F(HostServices, CallIdInFlightTooManyCallsAndMalformedRequestsAreInvalid) {
  const json slow = {{"method", "GET"}, {"url", url("/slow")}, {"timeout_ms", 300}};
  EXPECT_EQ(call({{"type", "http"}, {"call_id", 1}, {"request", slow}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "http"}, {"call_id", 1}, {"request", slow}}), HAVERI_ERR_INVALID);
  EXPECT_EQ(call({{"type", "http"}, {"call_id", 2}, {"request", slow}}), HAVERI_OK);
  // plugins.max_outbound_in_flight is 2 here.
  EXPECT_EQ(call({{"type", "http"}, {"call_id", 3}, {"request", slow}}), HAVERI_ERR_INVALID);
  EXPECT_NE(log_->str().find("plugins.max_outbound_in_flight"), std::string::npos);

  EXPECT_EQ(call({{"type", "http"}, {"call_id", 4}, {"request", "{not json"}}), HAVERI_ERR_INVALID);
  EXPECT_EQ(call({{"type", "http"},
                  {"call_id", 4},
                  {"request", {{"method", "GET"}, {"url", "ftp://127.0.0.1/"}}}}),
            HAVERI_ERR_INVALID);
  EXPECT_EQ(call({{"type", "http"},
                  {"call_id", 4},
                  {"request", {{"method", "GET"}, {"url", url("/echo")}, {"timeout_ms", 0}}}}),
            HAVERI_ERR_INVALID);
  EXPECT_EQ(call({{"type", "http"},
                  {"call_id", 4},
                  {"request",
                   {{"method", "GET"}, {"url", url("/echo")}, {"headers", {{"x", "a\r\nb"}}}}}}),
            HAVERI_ERR_INVALID);

  // Once answered, an id is free again.
  EXPECT_EQ(http_answer(1)["response"]["status"], 0);
  EXPECT_EQ(http_answer(2)["response"]["status"], 0);
  EXPECT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", url("/echo")}}}}),
            HAVERI_OK);
  EXPECT_EQ(records("http:1", 2)[1]["response"]["status"], 200);
}

TEST_F(HostServices, PluginWithoutTheCallbacksIsRefusedEveryService) {
  EXPECT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", url("/echo")}}}},
                 "bare"),
            HAVERI_ERR_UNSUPPORTED);
  EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", 1}, {"request", {{"url", ws_url()}}}}, "bare"),
            HAVERI_ERR_UNSUPPORTED);
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 1}, {"delay_ms", 0}}, "bare"),
            HAVERI_ERR_UNSUPPORTED);
  EXPECT_EQ(call({{"type", "inbound"}}, "bare"), HAVERI_ERR_UNSUPPORTED);
}

// ---- WebSocket

TEST_F(HostServices, WebSocketCarriesMessagesBothWaysInOrderUntilTheServerCloses) {
  ASSERT_EQ(
      call({{"type", "ws_open"},
            {"socket_id", 7},
            {"request",
             {{"v", 1}, {"url", ws_url()}, {"headers", {{"authorization", "Bearer xoxb-fake"}}}}}}),
      HAVERI_OK);
  EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", 7}, {"request", {{"url", ws_url()}}}}),
            HAVERI_ERR_INVALID);
  // Queued while it opens, written in order once it has.
  for (const char* text : {"a", "b", "c"}) {
    EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 7}, {"text", text}}), HAVERI_OK);
  }
  json events = records("ws:7", 5);
  EXPECT_EQ(events[0], (json{{"event", HAVERI_WS_OPENED}, {"data", ""}}));
  EXPECT_EQ(events[1], (json{{"event", HAVERI_WS_MESSAGE}, {"data", "hello Bearer xoxb-fake"}}));
  EXPECT_EQ(events[2]["data"], "echo:a");
  EXPECT_EQ(events[3]["data"], "echo:b");
  EXPECT_EQ(events[4]["data"], "echo:c");

  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 7}, {"text", "close-please"}}), HAVERI_OK);
  events = records("ws:7", 6);
  EXPECT_EQ(events[5],
            (json{{"event", HAVERI_WS_CLOSED}, {"closed", {{"code", 4000}, {"reason", "bye"}}}}));
  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 7}, {"text", "late"}}), HAVERI_ERR_GONE);
  EXPECT_EQ(call({{"type", "ws_close"}, {"socket_id", 7}}), HAVERI_ERR_GONE);
  // The id is free again.
  EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", 7}, {"request", {{"url", ws_url()}}}}),
            HAVERI_OK);
  EXPECT_EQ(records("ws:7", 7)[6]["event"], HAVERI_WS_OPENED);
}

TEST_F(HostServices, WebSocketThatCannotConnectReportsOneClosed) {
  const std::string nowhere = "ws://127.0.0.1:" + std::to_string(closed_port()) + "/ws";
  ASSERT_EQ(call({{"type", "ws_open"}, {"socket_id", 1}, {"request", {{"url", nowhere}}}}),
            HAVERI_OK);
  json closed = records("ws:1")[0];
  EXPECT_EQ(closed["event"], HAVERI_WS_CLOSED);
  EXPECT_EQ(closed["closed"]["code"], 0);
  EXPECT_FALSE(closed["closed"].value("error", "").empty());
  // Nothing follows: a timer set now fires after anything already posted.
  ASSERT_EQ(call({{"type", "set_timer"}, {"timer_id", 1}, {"delay_ms", 20}}), HAVERI_OK);
  records("timer:1");
  EXPECT_EQ(records("ws:1").size(), 1u);
  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 1}, {"text", "x"}}), HAVERI_ERR_GONE);
  EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", 2}, {"request", {{"url", "http://x/"}}}}),
            HAVERI_ERR_INVALID);
}

TEST_F(HostServices, PluginClosesWithACloseFrameAndSendsAfterAreGone) {
  ASSERT_EQ(call({{"type", "ws_open"}, {"socket_id", 1}, {"request", {{"url", ws_url()}}}}),
            HAVERI_OK);
  records("ws:1", 2);  // opened, hello
  EXPECT_EQ(call({{"type", "ws_close"}, {"socket_id", 1}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "ws_close"}, {"socket_id", 1}}), HAVERI_ERR_GONE);
  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 1}, {"text", "x"}}), HAVERI_ERR_GONE);
  json closed = records("ws:1", 3)[2];
  EXPECT_EQ(closed["event"], HAVERI_WS_CLOSED);
  EXPECT_EQ(closed["closed"]["code"], 1000) << closed.dump();
}

TEST_F(HostServices, OversizedMessagesCloseOrAreRefused) {
  ASSERT_EQ(call({{"type", "ws_open"}, {"socket_id", 1}, {"request", {{"url", ws_url()}}}}),
            HAVERI_OK);
  records("ws:1", 2);
  EXPECT_EQ(
      call({{"type", "ws_send"}, {"socket_id", 1}, {"text", std::string(kMessageLimit + 1, 'y')}}),
      HAVERI_ERR_INVALID);
  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 1}, {"text", "big"}}), HAVERI_OK);
  json closed = records("ws:1", 3)[2];
  EXPECT_EQ(closed["event"], HAVERI_WS_CLOSED);
  EXPECT_EQ(closed["closed"]["code"], 0);
  EXPECT_NE(closed["closed"]["error"].get<std::string>().find(std::to_string(kMessageLimit)),
            std::string::npos)
      << closed.dump();
}

TEST_F(HostServices, WebSocketsPerInstanceAreBounded) {
  for (int id = 1; id <= 2; ++id) {
    EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", id}, {"request", {{"url", ws_url()}}}}),
              HAVERI_OK);
  }
  EXPECT_EQ(call({{"type", "ws_open"}, {"socket_id", 3}, {"request", {{"url", ws_url()}}}}),
            HAVERI_ERR_INVALID);
  EXPECT_NE(log_->str().find("plugins.max_websockets"), std::string::npos);
}

// ---- Timers

TEST_F(HostServices, TimersFireOnceMovedOnesAtTheirNewTimeCancelledOnesNever) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 1}, {"delay_ms", 10}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 2}, {"delay_ms", 60000}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 2}, {"delay_ms", 30}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 3}, {"delay_ms", 20}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "cancel_timer"}, {"timer_id", 3}}), HAVERI_OK);
  EXPECT_EQ(call({{"type", "cancel_timer"}, {"timer_id", 3}}), HAVERI_ERR_GONE);
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 4}, {"delay_ms", 86400001}}),
            HAVERI_ERR_INVALID);
  records("timer:1");
  records("timer:2");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // A later timer fires after anything the earlier ones could still have done.
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 5}, {"delay_ms", 60}}), HAVERI_OK);
  records("timer:5");
  EXPECT_EQ(records("timer:1").size(), 1u);
  EXPECT_EQ(records("timer:2").size(), 1u);
  EXPECT_EQ(records("timer:3", 0).size(), 0u);
  EXPECT_EQ(call({{"type", "cancel_timer"}, {"timer_id", 1}}), HAVERI_ERR_GONE);
}

TEST_F(HostServices, PendingTimersAreBounded) {
  for (int id = 1; id <= 8; ++id) {
    EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", id}, {"delay_ms", 60000}}), HAVERI_OK);
  }
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 9}, {"delay_ms", 1}}), HAVERI_ERR_INVALID);
  // Moving one that is pending is not a new one.
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 8}, {"delay_ms", 1}}), HAVERI_OK);
  records("timer:8");
  EXPECT_EQ(call({{"type", "set_timer"}, {"timer_id", 9}, {"delay_ms", 1}}), HAVERI_OK);
}

// ---- Inbound deliveries outside HTTP

TEST_F(HostServices, InboundSettlesWithThePluginsStatusOnceTheEventsAreDurable) {
  json started = perform(
      "svc", {{"type", "inbound"}, {"events", json::array({kEvent})}, {"respond_status", 202}});
  ASSERT_EQ(started["result"], HAVERI_OK);
  EXPECT_EQ(records("inbound:" + std::to_string(started["inbound_id"].get<std::uint64_t>()))[0],
            (json{{"settled", 202}}));
}

TEST_F(HostServices, InboundSettles503WhenACommitFailedAnd403WhenRefused) {
  verdict_ = InboundVerdict::retry_later;
  json started = perform("svc", {{"type", "inbound"}, {"events", json::array({kEvent})}});
  EXPECT_EQ(records("inbound:" + std::to_string(started["inbound_id"].get<std::uint64_t>()))[0],
            (json{{"settled", 503}}));
  verdict_ = InboundVerdict::refused;
  started = perform("svc", {{"type", "inbound"}, {"events", json::array({kEvent})}});
  EXPECT_EQ(records("inbound:" + std::to_string(started["inbound_id"].get<std::uint64_t>()))[0],
            (json{{"settled", 403}}));
}

TEST_F(HostServices, InboundWithoutAResponseSettles504AfterTheRequestTimeout) {
  json started = perform("svc", {{"type", "inbound"}, {"respond", false}});
  ASSERT_EQ(started["result"], HAVERI_OK);
  EXPECT_EQ(records("inbound:" + std::to_string(started["inbound_id"].get<std::uint64_t>()))[0],
            (json{{"settled", 504}}));
}

// ---- TLS: a certificate the system does not know, trusted through plugins.ca_file

TEST_F(HostServices, HttpsAndWssAreVerifiedAgainstTheCaFile) {
  const std::string authority = "127.0.0.1:" + std::to_string(tls_server_.port());
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", "https://" + authority + "/echo"}}}}),
            HAVERI_OK);
  EXPECT_EQ(http_answer(1)["response"]["status"], 200) << http_answer(1).dump();

  ASSERT_EQ(call({{"type", "ws_open"},
                  {"socket_id", 1},
                  {"request",
                   {{"url", "wss://" + authority + "/ws"},
                    {"headers", {{"authorization", "Bearer xapp-fake"}}}}}}),
            HAVERI_OK);
  json events = records("ws:1", 2);
  EXPECT_EQ(events[0]["event"], HAVERI_WS_OPENED) << events.dump();
  EXPECT_EQ(events[1]["data"], "hello Bearer xapp-fake");
  EXPECT_EQ(call({{"type", "ws_send"}, {"socket_id", 1}, {"text", "over tls"}}), HAVERI_OK);
  EXPECT_EQ(records("ws:1", 3)[2]["data"], "echo:over tls");
}

TEST_F(HostServices, HttpsAndWssRefuseACertificateNobodyTrusts) {
  host_->shutdown();
  host_.reset();
  haveri::daemon::PluginHostOptions options{HAVERI_TEST_PLUGIN_DIR, std::chrono::seconds(1),
                                            std::chrono::seconds(10)};
  host_ = std::make_unique<PluginHost>(
      io_, std::move(options),
      [](const std::string&, const json&, auto done) { done(InboundVerdict::committed); });
  host_->start({{"svc", "abi_services", json::object()}});

  const std::string authority = "127.0.0.1:" + std::to_string(tls_server_.port());
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", "https://" + authority + "/echo"}}}}),
            HAVERI_OK);
  json answer = http_answer(1);
  EXPECT_EQ(answer["response"]["status"], 0);
  EXPECT_TRUE(answer["response"]["error"].get<std::string>().starts_with(authority + ": "))
      << answer.dump();

  ASSERT_EQ(call({{"type", "ws_open"},
                  {"socket_id", 1},
                  {"request", {{"url", "wss://" + authority + "/ws"}}}}),
            HAVERI_OK);
  json closed = records("ws:1")[0];
  EXPECT_EQ(closed["event"], HAVERI_WS_CLOSED);
  EXPECT_EQ(closed["closed"]["code"], 0);
  EXPECT_NE(closed["closed"]["error"].get<std::string>().find("TLS handshake"), std::string::npos)
      << closed.dump();
}

// ---- Shutdown

TEST_F(HostServices, ShutdownWithServicesPendingCallsThePluginNoMore) {
  ASSERT_EQ(call({{"type", "ws_open"}, {"socket_id", 1}, {"request", {{"url", ws_url()}}}}),
            HAVERI_OK);
  records("ws:1", 2);
  ASSERT_EQ(call({{"type", "http"},
                  {"call_id", 1},
                  {"request", {{"method", "GET"}, {"url", url("/slow")}, {"timeout_ms", 100}}}}),
            HAVERI_OK);
  ASSERT_EQ(call({{"type", "set_timer"}, {"timer_id", 1}, {"delay_ms", 50}}), HAVERI_OK);
  ASSERT_EQ(call({{"type", "ws_send"}, {"socket_id", 1}, {"text", "after shutdown"}}), HAVERI_OK);
  ASSERT_EQ(call({{"type", "inbound"}, {"respond", false}}), HAVERI_OK);

  host_->shutdown();
  const std::size_t logged = log_->str().size();
  // A window in which nothing may happen: the timer, the HTTP deadline, the echo
  // and the inbound timeout would all have come due in it.
  io_.run_for(std::chrono::milliseconds(600));
  io_.restart();
  host_.reset();
  EXPECT_EQ(log_->str().find("services plugin callback", logged), std::string::npos)
      << log_->str().substr(logged);
}

}  // namespace
