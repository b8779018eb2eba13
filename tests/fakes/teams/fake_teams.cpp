#include "teams/fake_teams.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "blocking_client.hpp"
#include "teams/adaptive_card_checker.hpp"

namespace haveri::fakes {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kJsonType = "application/json; charset=utf-8";
constexpr const char* kGraphJsonType =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8";
constexpr const char* kGraphPublicBase = "https://graph.microsoft.com/v1.0";
constexpr const char* kBotFrameworkIssuer = "https://api.botframework.com";
constexpr const char* kConnectorDenied = "Authorization has been denied for this request.";
// Graph's limits on a channel (https://learn.microsoft.com/graph/api/channel-post).
constexpr std::size_t kMaxChannelName = 50;
constexpr std::size_t kMaxChannelDescription = 1024;
// The first message id; ids increase by one from there ("1700000000101", …).
constexpr std::uint64_t kFirstMessageId = 1700000000101ULL;
constexpr auto kSessionTimeout = std::chrono::seconds(30);

// ---------------------------------------------------------------------------------------
// Small text helpers

std::size_t code_points(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Percent-decoding; `plus_is_space` for form bodies only (a "+" in a path is a "+").
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!key || !value) {
      return std::nullopt;
    }
    fields[*key] = *value;
  }
  return fields;
}

std::uint64_t random_u64() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  return random();
}

std::string random_hex(std::size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (out.size() < digits) {
    std::uint64_t r = random_u64();
    for (int i = 0; i < 16 && out.size() < digits; ++i, r >>= 4) {
      out += kHex[r & 0xF];
    }
  }
  return out;
}

std::string random_alnum(std::size_t length) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < length) {
    out += kChars[random_u64() % (sizeof kChars - 1)];
  }
  return out;
}

std::string random_uuid() {
  std::string hex = random_hex(32);
  hex[12] = '4';
  hex[16] = "89ab"[hex_value(hex[16]) & 3];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

// "2026-11-24T13:03:10.123Z"
std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string base64(std::string_view bytes) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// "19:abc@thread.tacv2;messageid=123" -> ("19:abc@thread.tacv2", "123").
std::pair<std::string, std::string> split_thread(const std::string& conversation_id) {
  static constexpr std::string_view kMarker = ";messageid=";
  const std::size_t at = conversation_id.find(kMarker);
  if (at == std::string::npos) {
    return {conversation_id, {}};
  }
  return {conversation_id.substr(0, at), conversation_id.substr(at + kMarker.size())};
}

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// ---------------------------------------------------------------------------------------
// State shared between the io thread and the callers

// Lock-carrying wrapper for the fake's state. Every write bumps a version and wakes the
// waiters, so waits can re-check their condition after each change.
template <typename T>
class Guarded {
 public:
  template <typename F>
  decltype(auto) write(F&& f) {
    std::lock_guard lock(mutex_);
    ++version_;
    changed_.notify_all();  // the waiters run once this lock is released
    return f(value_);
  }
  template <typename F>
  decltype(auto) read(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(std::as_const(value_));
  }
  std::uint64_t version() const {
    std::lock_guard lock(mutex_);
    return version_;
  }
  void wait_for_change(std::uint64_t seen, SteadyClock::time_point deadline) const {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return version_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::uint64_t version_ = 0;
  T value_;
};

struct QueuedFault {
  TeamsService service;
  std::string path_contains;
  TeamsFault fault;
};

struct State {
  // Keys are never removed: references handed out stay valid.
  std::vector<std::unique_ptr<TestSigningKey>> keys;
  std::size_t current_key = 0;
  json jwks_override;
  json metadata_override;
  std::size_t metadata_fetches = 0;
  std::size_t jwks_fetches = 0;

  std::vector<IssuedToken> tokens;
  std::chrono::seconds token_lifetime{3599};

  std::vector<TeamsChannel> channels;
  std::vector<std::string> team_members;
  std::vector<TeamsConversation> conversations;
  std::map<std::string, std::string> personal_by_user;
  std::vector<TeamsActivity> activities;
  std::uint64_t next_message = kFirstMessageId;

  std::vector<TeamsRequest> requests;
  std::vector<CardViolation> violations;
  std::deque<QueuedFault> faults;
  std::map<TeamsService, std::chrono::milliseconds> latency;

  std::string new_message_id() { return std::to_string(next_message++); }

  TeamsChannel* find_channel(const std::string& id) {
    for (auto& c : channels) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }
  const TeamsConversation* find_conversation(const std::string& id) const {
    for (const auto& c : conversations) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }
  TeamsActivity* find_activity(const std::string& conversation_id, const std::string& id) {
    for (auto& a : activities) {
      if (a.id == id && a.conversation_id == conversation_id) {
        return &a;
      }
    }
    return nullptr;
  }
  std::string personal_conversation(const std::string& aad_object_id) {
    auto it = personal_by_user.find(aad_object_id);
    if (it != personal_by_user.end()) {
      return it->second;
    }
    // Shaped like Teams' personal chat ids: "a:1" and a long opaque token.
    std::string id = "a:1" + random_alnum(60);
    personal_by_user[aad_object_id] = id;
    conversations.push_back({id, TeamsConversation::Kind::personal, aad_object_id});
    return id;
  }
};

// What an HTTP request gets.
struct Answer {
  unsigned status = 200;
  std::string content_type = kJsonType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  bool drop = false;
};

// A request as the handlers see it.
struct Incoming {
  TeamsService service = TeamsService::other;
  std::string method;
  std::vector<std::string> segments;  // decoded, after the service prefix
  std::string content_type;
  std::string body;
  json parsed;  // JSON body (or null)
  std::map<std::string, std::string> headers;
  std::string bearer;
};

// A handler's result: status and JSON body (null: no body).
struct Reply {
  unsigned status = 200;
  json body;
  std::vector<std::pair<std::string, std::string>> headers;
};

const char* default_code(int status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 412:
      return "PreconditionFailed";
    case 413:
      return "RequestEntityTooLarge";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalServerError";
    case 502:
      return "BadGateway";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "GatewayTimeout";
    default:
      return "UnknownError";
  }
}

std::string default_message(int status) {
  switch (status) {
    case 412:
      return "The precondition given in one or more of the request-header fields evaluated to "
             "false.";
    case 429:
      return "Too many requests. Please retry after the time given in Retry-After.";
    case 500:
      return "An internal server error occurred.";
    case 502:
      return "Bad gateway.";
    case 503:
      return "The service is temporarily unavailable.";
    case 504:
      return "The gateway timed out.";
    default:
      return std::string("Error ") + default_code(status) + ".";
  }
}

Reply connector_error(unsigned status, const std::string& code, const std::string& message) {
  return Reply{status, json{{"error", {{"code", code}, {"message", message}}}}, {}};
}

Reply graph_error(unsigned status, const std::string& code, const std::string& message) {
  return Reply{status,
               json{{"error",
                     {{"code", code},
                      {"message", message},
                      {"innerError",
                       {{"date", iso_time(std::chrono::system_clock::now()).substr(0, 19)},
                        {"request-id", random_uuid()},
                        {"client-request-id", random_uuid()}}}}}},
               {}};
}

// The identity platform's error shape, with the AADSTS number first in the description.
Reply token_error(unsigned status, const std::string& error, int aadsts,
                  const std::string& description) {
  return Reply{
      status,
      json{{"error", error},
           {"error_description", "AADSTS" + std::to_string(aadsts) + ": " + description +
                                     " Trace ID: " + random_uuid() +
                                     " Correlation ID: " + random_uuid() +
                                     " Timestamp: " + iso_time(std::chrono::system_clock::now())},
           {"error_codes", json::array({aadsts})},
           {"timestamp", iso_time(std::chrono::system_clock::now())},
           {"trace_id", random_uuid()},
           {"correlation_id", random_uuid()},
           {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(aadsts)}},
      {}};
}

// The answer of an injected http_status fault, in the service's own error shape.
Reply fault_reply(TeamsService service, const TeamsFault& fault) {
  const unsigned status = static_cast<unsigned>(fault.status);
  const std::string code = fault.code.empty() ? default_code(fault.status) : fault.code;
  const std::string message = fault.message.empty() ? default_message(fault.status) : fault.message;
  Reply reply;
  if (service == TeamsService::token) {
    const std::string error = !fault.code.empty() ? fault.code
                              : fault.status == 429 || fault.status == 503
                                  ? "temporarily_unavailable"
                              : fault.status >= 500 ? "server_error"
                                                    : "invalid_request";
    reply = token_error(status, error, fault.status == 429 ? 50196 : 90033, message);
  } else if (service == TeamsService::graph) {
    reply = graph_error(status, code, message);
  } else {
    reply = connector_error(status, code, message);
  }
  if (fault.retry_after.count() > 0) {
    reply.headers.emplace_back("Retry-After", std::to_string(fault.retry_after.count()));
  }
  return reply;
}

bool is_forbidden_channel_name(const std::string& name) {
  static constexpr std::string_view kForbidden = "~#%&*{}+/\\:<>?|'\"";
  if (name.find_first_of(kForbidden) != std::string::npos) {
    return true;
  }
  if (name.find("..") != std::string::npos) {
    return true;
  }
  return name.front() == '_' || name.front() == '.' || name.back() == '.';
}

}  // namespace

const char* to_string(TeamsService service) {
  switch (service) {
    case TeamsService::token:
      return "token";
    case TeamsService::openid:
      return "openid";
    case TeamsService::connector:
      return "connector";
    case TeamsService::graph:
      return "graph";
    case TeamsService::other:
      return "other";
    case TeamsService::any:
      return "any";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// The fake's state and its handlers.
//
// Runs on: one io thread owned by the fake (every socket operation and every handler),
// and on callers' threads for the public API, which only touches the Guarded state. With
// one io thread no strands are needed.

struct FakeTeams::Impl {
  explicit Impl(FakeTeamsConfig c) : config(std::move(c)) {}
  ~Impl();

  FakeTeamsConfig config;
  Guarded<State> state;
  std::optional<asio::io_context> io{std::in_place};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  std::uint16_t port = 0;

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::string service_url() const { return base() + "/connector/"; }
  std::string jwks_url() const { return base() + "/botframework/v1/.well-known/keys"; }

  void start();
  void stop();
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  // Called by the sessions, on the io thread.
  Answer handle_http(const bhttp::request<bhttp::string_body>& request);
  Answer body_too_large();

  Reply dispatch(State& s, const Incoming& in, bool& token_valid);
  // The reason a bearer token is refused for `scope`, or "" when it is good.
  std::string token_problem(const State& s, const std::string& token,
                            const std::string& scope) const;

  Reply token_endpoint(State& s, const Incoming& in);
  Reply openid(State& s, const Incoming& in);
  Reply connector(State& s, const Incoming& in);
  Reply graph(State& s, const Incoming& in);

  // Connector.
  Reply create_conversation(State& s, const json& body);
  // Stores a message the bot sends (after the card check); the reply is {"id":…}.
  std::optional<Reply> check_activity(State& s, const Incoming& in, const json& activity);
  TeamsActivity& store_bot_activity(State& s, const std::string& conversation_id,
                                    const std::string& root, const std::string& reply_to,
                                    const json& activity);
  json channel_account(const TeamsUser& user) const;

  // Graph.
  Reply create_channel(State& s, const json& body);
  Reply add_member(State& s, const json& body);
  json channel_json(const TeamsChannel& channel) const;
  json member_json(const TeamsUser& user, const json& roles) const;

  const TeamsUser* find_user(const std::string& key) const {
    for (const auto& u : config.users) {
      if (u.aad_object_id == key || u.id == key || lower(u.email) == lower(key)) {
        return &u;
      }
    }
    return nullptr;
  }
};

namespace {

// One HTTP connection (keep-alive): read a request, answer it (maybe late, maybe not at
// all), repeat.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, FakeTeams::Impl& fake)
      : stream_(std::move(socket)), fake_(fake), delay_timer_(stream_.get_executor()) {}

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(fake_.config.body_limit_bytes);
    stream_.expires_after(kSessionTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      keep_alive_ = false;
      write(fake_.body_too_large());
      return;
    }
    if (ec) {
      close();
      return;
    }
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    Answer answer = fake_.handle_http(request);
    if (answer.drop) {
      reset();
      return;
    }
    if (answer.delay.count() > 0) {
      delay_timer_.expires_after(answer.delay);
      delay_timer_.async_wait([self = shared_from_this(),
                               answer = std::move(answer)](beast::error_code timer_ec) mutable {
        if (!timer_ec) {
          self->write(std::move(answer));
        }
      });
      return;
    }
    write(std::move(answer));
  }

  void write(Answer answer) {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(answer.status), 11);
    response->set(bhttp::field::server, "fake-teams");
    if (!answer.body.empty()) {
      response->set(bhttp::field::content_type, answer.content_type);
    }
    for (const auto& [name, value] : answer.headers) {
      response->set(name, value);
    }
    response->body() = std::move(answer.body);
    response->keep_alive(keep_alive_);
    response->prepare_payload();
    stream_.expires_after(kSessionTimeout);
    bhttp::async_write(stream_, *response,
                       [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                         if (ec || !response->keep_alive()) {
                           self->close();
                           return;
                         }
                         self->do_read();
                       });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  // An abrupt end: RST, no answer.
  void reset() {
    beast::error_code ignored;
    stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  FakeTeams::Impl& fake_;
  asio::steady_timer delay_timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Start and stop

FakeTeams::Impl::~Impl() {
  stop();
  // The pending handlers hold sessions that refer to this object: destroy them (with the
  // io_context) while the rest of it is still alive.
  acceptor.reset();
  io.reset();
}

void FakeTeams::Impl::start() {
  acceptor.emplace(*io);
  const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), 0};
  beast::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error("fake Teams: cannot listen on 127.0.0.1: " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  work.emplace(io->get_executor());
  do_accept();
  thread = std::thread([this] { io->run(); });
}

void FakeTeams::Impl::stop() {
  if (!thread.joinable()) {
    return;
  }
  asio::post(*io, [this] {
    beast::error_code ignored;
    acceptor->close(ignored);
    io->stop();
  });
  work.reset();
  thread.join();
}

void FakeTeams::Impl::do_accept() {
  acceptor->async_accept(
      *io, [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void FakeTeams::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) {
    return;
  }
  if (!ec) {
    std::make_shared<HttpSession>(std::move(socket), *this)->run();
  }
  do_accept();
}

// ---------------------------------------------------------------------------------------
// HTTP dispatch

Answer FakeTeams::Impl::body_too_large() {
  Answer answer;
  answer.status = 413;
  answer.body = json{{"error",
                      {{"code", "RequestEntityTooLarge"},
                       {"message", "The request body exceeds " +
                                       std::to_string(config.body_limit_bytes) + " bytes."}}}}
                    .dump();
  return answer;
}

Answer FakeTeams::Impl::handle_http(const bhttp::request<bhttp::string_body>& request) {
  TeamsRequest record;
  record.received = std::chrono::system_clock::now();
  record.method = std::string(request.method_string());
  record.target = std::string(request.target());
  record.body = request.body();
  for (const auto& field : request) {
    record.headers[lower(std::string(field.name_string()))] = std::string(field.value());
  }

  Incoming in;
  in.method = record.method;
  in.body = record.body;
  in.headers = record.headers;
  in.content_type = std::string(request[bhttp::field::content_type]);
  const std::string authorization(request[bhttp::field::authorization]);
  if (authorization.size() > 7 && lower(authorization.substr(0, 7)) == "bearer ") {
    in.bearer = authorization.substr(7);
  }
  record.bearer_token = in.bearer;

  // The path, decoded segment by segment.
  const std::string path = record.target.substr(0, record.target.find('?'));
  std::vector<std::string> segments;
  bool bad_encoding = false;
  std::size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  while (start <= path.size() && !path.empty()) {
    const std::size_t slash = path.find('/', start);
    const std::string_view raw = std::string_view(path).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    auto decoded = percent_decode(raw, false);
    if (!decoded) {
      bad_encoding = true;
      decoded = std::string(raw);
    }
    segments.push_back(*decoded);
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  for (const auto& segment : segments) {
    record.path += "/" + segment;
  }

  if (!segments.empty()) {
    const std::string& first = segments.front();
    if (first == "login") {
      in.service = TeamsService::token;
    } else if (first == "botframework") {
      in.service = TeamsService::openid;
    } else if (first == "connector") {
      in.service = TeamsService::connector;
    } else if (first == "graph") {
      in.service = TeamsService::graph;
    }
    in.segments.assign(segments.begin() + 1, segments.end());
  }
  record.service = in.service;

  // The body: JSON as is, form fields for the token endpoint.
  if (in.service == TeamsService::token) {
    if (auto fields = parse_form(in.body)) {
      record.json = json::object();
      for (const auto& [key, value] : *fields) {
        record.json[key] = value;
      }
    }
  } else if (!in.body.empty()) {
    json parsed = json::parse(in.body, nullptr, false);
    if (!parsed.is_discarded()) {
      record.json = parsed;
    }
  }
  in.parsed = record.json;

  Answer answer;
  state.write([&](State& s) {
    std::optional<TeamsFault> fault;
    for (auto it = s.faults.begin(); it != s.faults.end(); ++it) {
      if ((it->service == in.service || it->service == TeamsService::any) &&
          record.path.find(it->path_contains) != std::string::npos) {
        fault = it->fault;
        s.faults.erase(it);
        break;
      }
    }
    if (auto it = s.latency.find(in.service); it != s.latency.end()) {
      answer.delay = it->second;
    }
    Reply reply;
    bool token_valid = false;
    if (fault && fault->kind == TeamsFault::Kind::drop) {
      answer.drop = true;
    } else if (fault && fault->kind == TeamsFault::Kind::http_status) {
      reply = fault_reply(in.service, *fault);
    } else {
      if (fault) {
        answer.delay += fault->delay;
      }
      if (bad_encoding) {
        reply = connector_error(400, "BadSyntax",
                                "Invalid percent-encoding in the path " + record.target);
      } else {
        reply = dispatch(s, in, token_valid);
      }
    }
    if (!answer.drop) {
      answer.status = reply.status;
      if (!reply.body.is_null()) {
        answer.body = reply.body.dump();
        if (in.service == TeamsService::graph) {
          answer.content_type = kGraphJsonType;
        }
      }
      answer.headers = reply.headers;
      if (in.service == TeamsService::graph) {
        answer.headers.emplace_back("request-id", random_uuid());
        auto it = in.headers.find("client-request-id");
        answer.headers.emplace_back("client-request-id",
                                    it != in.headers.end() ? it->second : random_uuid());
      }
    }
    record.token_valid = token_valid;
    record.status = answer.drop ? 0 : static_cast<int>(answer.status);
    record.response = answer.drop ? json() : reply.body;
    s.requests.push_back(std::move(record));
  });
  return answer;
}

std::string FakeTeams::Impl::token_problem(const State& s, const std::string& token,
                                           const std::string& scope) const {
  if (token.empty()) {
    return "Access token is empty.";
  }
  for (const auto& t : s.tokens) {
    if (t.access_token != token) {
      continue;
    }
    if (t.scope != scope) {
      return "Invalid audience.";
    }
    if (t.revoked) {
      return "The token has been revoked.";
    }
    if (SteadyClock::now() >= t.expires) {
      return "Lifetime validation failed, the token is expired.";
    }
    return {};
  }
  return "IDX14100: JWT is not well formed, there are no dots (.).";
}

Reply FakeTeams::Impl::dispatch(State& s, const Incoming& in, bool& token_valid) {
  switch (in.service) {
    case TeamsService::token:
      return token_endpoint(s, in);
    case TeamsService::openid:
      return openid(s, in);
    case TeamsService::connector: {
      const std::string problem = token_problem(s, in.bearer, kConnectorScope);
      if (!problem.empty()) {
        return Reply{401, json{{"message", kConnectorDenied}}, {}};
      }
      token_valid = true;
      return connector(s, in);
    }
    case TeamsService::graph: {
      const std::string problem = token_problem(s, in.bearer, kGraphScope);
      if (!problem.empty()) {
        return graph_error(401, "InvalidAuthenticationToken", problem);
      }
      token_valid = true;
      return graph(s, in);
    }
    default:
      return connector_error(404, "NotFound", "No such endpoint on the fake Microsoft side.");
  }
}

// ---------------------------------------------------------------------------------------
// Token endpoint (Microsoft identity platform, client-credentials grant)

Reply FakeTeams::Impl::token_endpoint(State& s, const Incoming& in) {
  const auto& seg = in.segments;
  if (seg.size() != 4 || seg[1] != "oauth2" || seg[2] != "v2.0" || seg[3] != "token") {
    return token_error(404, "invalid_request", 900561,
                       "The endpoint only accepts POST requests to /{tenant}/oauth2/v2.0/token.");
  }
  if (in.method != "POST") {
    return token_error(
        405, "invalid_request", 900561,
        "The endpoint only accepts POST, OPTIONS requests. Received a " + in.method + " request.");
  }
  const std::string& tenant = seg[0];
  if (tenant != kBotFrameworkTenant && tenant != config.tenant_id) {
    return token_error(400, "invalid_request", 90002,
                       "Tenant '" + tenant +
                           "' not found. Check to make sure you have the correct tenant ID and "
                           "are signing into the correct cloud.");
  }
  if (!lower(in.content_type).starts_with("application/x-www-form-urlencoded")) {
    return token_error(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: 'grant_type'.");
  }
  const json& form = in.parsed;
  if (!form.is_object()) {
    return token_error(400, "invalid_request", 900144, "The request body is not a valid form.");
  }
  for (const char* required : {"grant_type", "client_id"}) {
    if (string_at(form, required).empty()) {
      return token_error(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: '" +
                             std::string(required) + "'.");
    }
  }
  if (string_at(form, "grant_type") != "client_credentials") {
    return token_error(
        400, "unsupported_grant_type", 70003,
        "The app requested an unsupported grant type '" + string_at(form, "grant_type") + "'.");
  }
  if (string_at(form, "client_id") != config.app_id) {
    return token_error(400, "unauthorized_client", 700016,
                       "Application with identifier '" + string_at(form, "client_id") +
                           "' was not found in the directory '" + tenant + "'.");
  }
  if (string_at(form, "client_secret").empty()) {
    return token_error(401, "invalid_client", 7000216,
                       "'client_assertion', 'client_secret' or 'request' is required for the "
                       "'client_credentials' grant type.");
  }
  if (string_at(form, "client_secret") != config.client_secret) {
    return token_error(401, "invalid_client", 7000215,
                       "Invalid client secret provided. Ensure the secret being sent in the "
                       "request is the client secret value, not the client secret ID, for a "
                       "secret added to app '" +
                           config.app_id + "'.");
  }
  const std::string scope = string_at(form, "scope");
  if (scope.empty()) {
    return token_error(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: 'scope'.");
  }
  const bool allowed = (scope == kConnectorScope && tenant == kBotFrameworkTenant) ||
                       (scope == kGraphScope && tenant == config.tenant_id);
  if (!allowed) {
    return token_error(400, "invalid_scope", 70011,
                       "The provided request must include a valid 'scope' input parameter. The "
                       "scope '" +
                           scope + "' is not valid for the authority '" + tenant +
                           "' (the fake grants " + kConnectorScope + " from " +
                           kBotFrameworkTenant + " and " + kGraphScope + " from " +
                           config.tenant_id + ").");
  }
  IssuedToken token;
  token.access_token = std::string("fake-") + (scope == kConnectorScope ? "connector" : "graph") +
                       "-token-" + random_hex(32);
  token.scope = scope;
  token.tenant = tenant;
  token.expires = SteadyClock::now() + s.token_lifetime;
  s.tokens.push_back(token);
  const auto lifetime = s.token_lifetime.count();
  return Reply{200,
               json{{"token_type", "Bearer"},
                    {"expires_in", lifetime},
                    {"ext_expires_in", lifetime},
                    {"access_token", token.access_token}},
               {{"Cache-Control", "no-store, no-cache"}, {"Pragma", "no-cache"}}};
}

// ---------------------------------------------------------------------------------------
// OpenID metadata and JWKS (what login.botframework.com serves)

Reply FakeTeams::Impl::openid(State& s, const Incoming& in) {
  const auto& seg = in.segments;
  const bool metadata = seg == std::vector<std::string>{"v1", ".well-known", "openidconfiguration"};
  const bool keys = seg == std::vector<std::string>{"v1", ".well-known", "keys"};
  if (!metadata && !keys) {
    return connector_error(404, "NotFound", "No such document.");
  }
  if (in.method != "GET") {
    return connector_error(405, "MethodNotAllowed", "Only GET is allowed here.");
  }
  if (metadata) {
    ++s.metadata_fetches;
    if (!s.metadata_override.is_null()) {
      return Reply{200, s.metadata_override, {}};
    }
    return Reply{200,
                 json{{"issuer", kBotFrameworkIssuer},
                      {"authorization_endpoint", "https://invalid.botframework.com"},
                      {"jwks_uri", jwks_url()},
                      {"id_token_signing_alg_values_supported", json::array({"RS256"})},
                      {"token_endpoint_auth_methods_supported", json::array({"private_key_jwt"})}},
                 {}};
  }
  ++s.jwks_fetches;
  if (!s.jwks_override.is_null()) {
    return Reply{200, s.jwks_override, {}};
  }
  std::vector<const TestSigningKey*> all;
  for (const auto& key : s.keys) {
    all.push_back(key.get());
  }
  return Reply{200, jwks_of(all), {}};
}

// ---------------------------------------------------------------------------------------
// Bot Connector (v3)

json FakeTeams::Impl::channel_account(const TeamsUser& user) const {
  const std::size_t space = user.name.find(' ');
  return json{{"id", user.id},
              {"name", user.name},
              {"aadObjectId", user.aad_object_id},
              {"givenName", user.name.substr(0, space)},
              {"surname", space == std::string::npos ? "" : user.name.substr(space + 1)},
              {"email", user.email},
              {"userPrincipalName", user.email},
              {"tenantId", config.tenant_id},
              {"userRole", "user"}};
}

std::optional<Reply> FakeTeams::Impl::check_activity(State& s, const Incoming& in,
                                                     const json& activity) {
  if (!activity.is_object()) {
    return connector_error(400, "BadSyntax", "The request body is not a JSON object.");
  }
  if (string_at(activity, "type").empty()) {
    return connector_error(400, "BadArgument", "Activity type is required.");
  }
  if (string_at(activity, "type") != "message") {
    return std::nullopt;
  }
  std::vector<std::string> errors = check_message_activity(activity, config.max_activity_bytes);
  if (errors.empty()) {
    return std::nullopt;
  }
  std::string path;
  for (const auto& segment : in.segments) {
    path += "/" + segment;
  }
  s.violations.push_back({in.method, "/connector" + path, errors, activity});
  std::string message;
  for (const auto& e : errors) {
    message += (message.empty() ? "" : "; ") + e;
  }
  return connector_error(400, "BadSyntax", message);
}

TeamsActivity& FakeTeams::Impl::store_bot_activity(State& s, const std::string& conversation_id,
                                                   const std::string& root,
                                                   const std::string& reply_to,
                                                   const json& activity) {
  TeamsActivity a;
  a.id = s.new_message_id();
  a.conversation_id = conversation_id;
  const TeamsConversation* conversation = s.find_conversation(conversation_id);
  const bool channel = conversation == nullptr;
  a.thread_root_id = channel ? (root.empty() ? a.id : root) : std::string{};
  a.reply_to_id = reply_to.empty() ? string_at(activity, "replyToId") : reply_to;
  a.from_bot = true;
  a.activity = activity;
  s.activities.push_back(std::move(a));
  return s.activities.back();
}

Reply FakeTeams::Impl::connector(State& s, const Incoming& in) {
  const auto& seg = in.segments;
  if (seg.size() < 2 || seg[0] != "v3" || seg[1] != "conversations") {
    return connector_error(404, "NotFound", "No such Bot Connector operation.");
  }
  for (const auto& segment : seg) {
    if (segment.empty()) {
      return connector_error(404, "NotFound", "Empty path segment (a doubled \"/\" in the URL?).");
    }
  }
  const bool has_body = in.method == "POST" || in.method == "PUT";
  if (has_body && !in.parsed.is_object()) {
    return connector_error(400, "BadSyntax", "The request body is not a JSON object.");
  }
  if (seg.size() == 2) {
    if (in.method != "POST") {
      return connector_error(405, "MethodNotAllowed", "Use POST v3/conversations.");
    }
    return create_conversation(s, in.parsed);
  }

  // v3/conversations/{conversationId}/…
  const auto [conversation_id, requested_thread] = split_thread(seg[2]);
  const TeamsConversation* personal = s.find_conversation(conversation_id);
  TeamsChannel* channel = personal == nullptr ? s.find_channel(conversation_id) : nullptr;
  if (personal == nullptr && channel == nullptr) {
    return connector_error(404, "ConversationNotFound", "Conversation not found: " + seg[2]);
  }
  // "<channel>;messageid=<id>": the thread of that message. Posts need it to exist (the
  // thread they go to is the one it is in); an update only names its activity.
  std::string thread_root = requested_thread;
  if (!requested_thread.empty() && in.method == "POST") {
    const TeamsActivity* in_thread =
        channel == nullptr ? nullptr : s.find_activity(conversation_id, requested_thread);
    if (in_thread == nullptr) {
      return connector_error(
          404, "ConversationNotFound",
          "No message " + requested_thread + " to thread on in " + conversation_id + ".");
    }
    thread_root = in_thread->thread_root_id;
  }

  if (seg.size() == 4 && seg[3] == "activities") {
    if (in.method != "POST") {
      return connector_error(405, "MethodNotAllowed",
                             "Use POST v3/conversations/{conversationId}/activities.");
    }
    if (auto refused = check_activity(s, in, in.parsed)) {
      return *refused;
    }
    const TeamsActivity& a = store_bot_activity(s, conversation_id, thread_root, {}, in.parsed);
    return Reply{201, json{{"id", a.id}}, {}};
  }

  if (seg.size() == 5 && seg[3] == "activities") {
    const std::string& activity_id = seg[4];
    TeamsActivity* target = s.find_activity(conversation_id, activity_id);
    if (target == nullptr) {
      return connector_error(
          404, "ActivityNotFound",
          "Activity " + activity_id + " not found in conversation " + conversation_id + ".");
    }
    if (in.method == "POST") {
      if (auto refused = check_activity(s, in, in.parsed)) {
        return *refused;
      }
      const std::string root = thread_root.empty() ? target->thread_root_id : thread_root;
      const TeamsActivity& a = store_bot_activity(s, conversation_id, root, activity_id, in.parsed);
      return Reply{201, json{{"id", a.id}}, {}};
    }
    if (in.method == "PUT") {
      if (!target->from_bot) {
        return connector_error(403, "Forbidden",
                               "The bot can only update activities it sent; " + activity_id +
                                   " was sent by a person.");
      }
      if (auto refused = check_activity(s, in, in.parsed)) {
        return *refused;
      }
      target->previous_versions.push_back(std::move(target->activity));
      target->activity = in.parsed;
      return Reply{200, json{{"id", activity_id}}, {}};
    }
    return connector_error(405, "MethodNotAllowed",
                           "Use POST (reply) or PUT (update) on an activity.");
  }

  if ((seg.size() == 4 || seg.size() == 5) && seg[3] == "members") {
    if (in.method != "GET") {
      return connector_error(405, "MethodNotAllowed", "Use GET on members.");
    }
    std::vector<const TeamsUser*> members;
    if (personal != nullptr) {
      members.push_back(find_user(personal->user_aad_object_id));
    } else {
      for (const auto& id : s.team_members) {
        members.push_back(find_user(id));
      }
    }
    if (seg.size() == 4) {
      json out = json::array();
      for (const TeamsUser* user : members) {
        if (user != nullptr) {
          out.push_back(channel_account(*user));
        }
      }
      return Reply{200, out, {}};
    }
    for (const TeamsUser* user : members) {
      if (user != nullptr && (user->id == seg[4] || user->aad_object_id == seg[4])) {
        return Reply{200, channel_account(*user), {}};
      }
    }
    return connector_error(404, "MemberNotFoundInConversation",
                           "The member " + seg[4] + " is not in the conversation.");
  }
  return connector_error(404, "NotFound", "No such Bot Connector operation.");
}

Reply FakeTeams::Impl::create_conversation(State& s, const json& body) {
  const json channel_data = body.value("channelData", json::object());
  const std::string channel_id =
      channel_data.is_object() ? string_at(channel_data.value("channel", json::object()), "id")
                               : std::string{};
  const json activity = body.value("activity", json());
  const json bot = body.value("bot", json::object());
  if (!string_at(bot, "id").empty() && string_at(bot, "id") != "28:" + config.app_id) {
    return connector_error(
        400, "BadArgument",
        "bot.id " + string_at(bot, "id") + " is not this bot (28:" + config.app_id + ").");
  }
  std::string tenant = string_at(body, "tenantId");
  if (tenant.empty() && channel_data.is_object()) {
    tenant = string_at(channel_data.value("tenant", json::object()), "id");
  }

  if (!channel_id.empty()) {
    // A new thread in a channel: its root post is the activity.
    if (body.contains("isGroup") && body["isGroup"] != true) {
      return connector_error(400, "BadArgument",
                             "A conversation in a channel must have isGroup true.");
    }
    if (s.find_channel(channel_id) == nullptr) {
      return connector_error(404, "ConversationNotFound", "Channel not found: " + channel_id);
    }
    if (!activity.is_object()) {
      return connector_error(400, "BadArgument",
                             "An activity is required to start a conversation in a channel.");
    }
    Incoming in;
    in.method = "POST";
    in.segments = {"v3", "conversations"};
    if (auto refused = check_activity(s, in, activity)) {
      return *refused;
    }
    const TeamsActivity& a = store_bot_activity(s, channel_id, {}, {}, activity);
    return Reply{201, json{{"id", channel_id + ";messageid=" + a.id}, {"activityId", a.id}}, {}};
  }

  // A personal chat with one person.
  if (body.value("isGroup", false)) {
    return connector_error(400, "BadArgument",
                           "Group chats cannot be created by a bot; give channelData.channel.id "
                           "for a channel or one member for a personal chat.");
  }
  if (tenant.empty()) {
    return connector_error(400, "BadArgument",
                           "A tenant id is required (tenantId or channelData.tenant.id).");
  }
  if (tenant != config.tenant_id) {
    return connector_error(403, "Forbidden", "The bot is not installed in tenant " + tenant + ".");
  }
  const json members = body.value("members", json::array());
  if (!members.is_array() || members.size() != 1 || !members[0].is_object()) {
    return connector_error(400, "BadArgument",
                           "A personal conversation needs exactly one member {\"id\":…}.");
  }
  const std::string member = string_at(members[0], "id");
  const TeamsUser* user = find_user(member);
  if (user == nullptr) {
    return connector_error(400, "BadArgument",
                           "Failed to decrypt pairwise id: unknown member " + member + ".");
  }
  const std::string id = s.personal_conversation(user->aad_object_id);
  json response{{"id", id}};
  if (activity.is_object()) {
    Incoming in;
    in.method = "POST";
    in.segments = {"v3", "conversations"};
    if (auto refused = check_activity(s, in, activity)) {
      return *refused;
    }
    response["activityId"] = store_bot_activity(s, id, {}, {}, activity).id;
  }
  return Reply{201, response, {}};
}

// ---------------------------------------------------------------------------------------
// Microsoft Graph v1.0 (teams, channels, members)

json FakeTeams::Impl::channel_json(const TeamsChannel& channel) const {
  return json{{"id", channel.id},
              {"createdDateTime", "2026-01-01T00:00:00Z"},
              {"displayName", channel.display_name},
              {"description", channel.description.empty() ? json() : json(channel.description)},
              {"isFavoriteByDefault", nullptr},
              {"email", ""},
              {"tenantId", config.tenant_id},
              {"webUrl", channel.web_url},
              {"membershipType", channel.membership_type}};
}

json FakeTeams::Impl::member_json(const TeamsUser& user, const json& roles) const {
  return json{{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
              {"id", base64(config.team.group_id + "##" + user.aad_object_id)},
              {"roles", roles},
              {"displayName", user.name},
              {"visibleHistoryStartDateTime", "0001-01-01T00:00:00Z"},
              {"userId", user.aad_object_id},
              {"email", user.email},
              {"tenantId", config.tenant_id}};
}

Reply FakeTeams::Impl::graph(State& s, const Incoming& in) {
  const auto& seg = in.segments;
  if (seg.empty() || seg[0] != "v1.0") {
    return graph_error(400, "BadRequest",
                       "Invalid version: " + (seg.empty() ? std::string() : seg[0]) + ".");
  }
  if (seg.size() < 3 || seg[1] != "teams") {
    return graph_error(
        400, "BadRequest",
        "Resource not found for the segment '" + (seg.size() > 1 ? seg[1] : std::string()) + "'.");
  }
  if (seg[2] != config.team.group_id) {
    return graph_error(404, "NotFound", "No team found with Group Id " + seg[2] + ".");
  }
  const std::string context =
      std::string(kGraphPublicBase) + "/$metadata#teams('" + config.team.group_id + "')";
  if ((in.method == "POST") && !in.parsed.is_object()) {
    return graph_error(400, "BadRequest", "Invalid request body: not a JSON object.");
  }
  if (seg.size() == 4 && seg[3] == "channels") {
    if (in.method == "POST") {
      return create_channel(s, in.parsed);
    }
    if (in.method == "GET") {
      json value = json::array();
      for (const auto& c : s.channels) {
        value.push_back(channel_json(c));
      }
      return Reply{200,
                   json{{"@odata.context", context + "/channels"},
                        {"@odata.count", value.size()},
                        {"value", value}},
                   {}};
    }
  } else if (seg.size() == 5 && seg[3] == "channels") {
    if (in.method == "GET") {
      if (const TeamsChannel* c = s.find_channel(seg[4])) {
        json out = channel_json(*c);
        out["@odata.context"] = context + "/channels/$entity";
        return Reply{200, out, {}};
      }
      return graph_error(404, "NotFound", "Channel " + seg[4] + " not found in the team.");
    }
  } else if (seg.size() == 4 && seg[3] == "members") {
    if (in.method == "POST") {
      return add_member(s, in.parsed);
    }
    if (in.method == "GET") {
      json value = json::array();
      for (const auto& id : s.team_members) {
        if (const TeamsUser* user = find_user(id)) {
          value.push_back(member_json(*user, json::array()));
        }
      }
      return Reply{200,
                   json{{"@odata.context", context + "/members"},
                        {"@odata.count", value.size()},
                        {"value", value}},
                   {}};
    }
  } else {
    return graph_error(400, "BadRequest",
                       "Resource not found for the segment '" + seg.back() + "'.");
  }
  return graph_error(405, "MethodNotAllowed",
                     "The method " + in.method + " is not allowed on this resource.");
}

Reply FakeTeams::Impl::create_channel(State& s, const json& body) {
  auto name_it = body.find("displayName");
  if (name_it == body.end() || !name_it->is_string() || name_it->get<std::string>().empty()) {
    return graph_error(400, "BadRequest", "displayName is required and must be a string.");
  }
  const std::string name = name_it->get<std::string>();
  if (code_points(name) > kMaxChannelName) {
    return graph_error(400, "BadRequest",
                       "Channel name cannot be longer than " + std::to_string(kMaxChannelName) +
                           " characters (got " + std::to_string(code_points(name)) + ").");
  }
  if (is_forbidden_channel_name(name)) {
    return graph_error(400, "BadRequest",
                       "Channel name contains invalid characters: it cannot contain ~ # % & * { "
                       "} + / \\ : < > ? | ' \" or .., start with _ or . or end with .");
  }
  const std::string description = string_at(body, "description");
  if (body.contains("description") && !body["description"].is_string() &&
      !body["description"].is_null()) {
    return graph_error(400, "BadRequest", "description must be a string.");
  }
  if (code_points(description) > kMaxChannelDescription) {
    return graph_error(400, "BadRequest",
                       "Channel description cannot be longer than 1024 characters.");
  }
  std::string membership = "standard";
  if (body.contains("membershipType")) {
    membership = string_at(body, "membershipType");
    if (membership != "standard" && membership != "private" && membership != "shared") {
      return graph_error(400, "BadRequest", "membershipType must be standard, private or shared.");
    }
  }
  if (membership != "standard" &&
      (!body.contains("members") || !body["members"].is_array() || body["members"].empty())) {
    return graph_error(400, "BadRequest",
                       "A " + membership +
                           " channel created with application permissions needs members with "
                           "an owner.");
  }
  for (const auto& c : s.channels) {
    if (lower(c.display_name) == lower(name)) {
      return graph_error(400, "NameAlreadyExists",
                         "Channel name already existed, please use other name");
    }
  }
  TeamsChannel channel;
  channel.id = "19:" + random_hex(32) + "@thread.tacv2";
  channel.display_name = name;
  channel.description = description;
  channel.membership_type = membership;
  channel.web_url = "https://teams.microsoft.com/l/channel/" + encode_uri_component(channel.id) +
                    "/" + encode_uri_component(name) + "?groupId=" + config.team.group_id +
                    "&tenantId=" + config.tenant_id;
  channel.created_through_graph = true;
  channel.request = body;
  s.channels.push_back(channel);
  json out = channel_json(channel);
  out["@odata.context"] = std::string(kGraphPublicBase) + "/$metadata#teams('" +
                          config.team.group_id + "')/channels/$entity";
  return Reply{201,
               out,
               {{"Location", std::string(kGraphPublicBase) + "/teams('" + config.team.group_id +
                                 "')/channels('" + channel.id + "')"}}};
}

Reply FakeTeams::Impl::add_member(State& s, const json& body) {
  if (string_at(body, "@odata.type") != "#microsoft.graph.aadUserConversationMember") {
    return graph_error(400, "BadRequest",
                       "@odata.type must be #microsoft.graph.aadUserConversationMember.");
  }
  const json roles = body.value("roles", json());
  if (!roles.is_array()) {
    return graph_error(400, "BadRequest", "roles must be an array ([] or [\"owner\"]).");
  }
  for (const auto& role : roles) {
    if (role != "owner") {
      return graph_error(400, "BadRequest", "A team member role can only be \"owner\".");
    }
  }
  const std::string bind = string_at(body, "user@odata.bind");
  // "https://graph.microsoft.com/v1.0/users('<id>')", as Graph's documentation writes it;
  // the fake's own base URL in front is accepted as well.
  std::string user_key;
  for (const std::string& prefix :
       {std::string(kGraphPublicBase) + "/users('", base() + "/graph/v1.0/users('"}) {
    if (bind.starts_with(prefix) && bind.ends_with("')") && bind.size() > prefix.size() + 2) {
      user_key = bind.substr(prefix.size(), bind.size() - prefix.size() - 2);
    }
  }
  if (user_key.empty()) {
    return graph_error(400, "BadRequest",
                       "user@odata.bind must be \"" + std::string(kGraphPublicBase) +
                           "/users('<id>')\", got \"" + bind + "\".");
  }
  const TeamsUser* user = find_user(user_key);
  if (user == nullptr) {
    return graph_error(404, "NotFound",
                       "Resource '" + user_key +
                           "' does not exist or one of its queried "
                           "reference-property objects are not present.");
  }
  if (std::find(s.team_members.begin(), s.team_members.end(), user->aad_object_id) !=
      s.team_members.end()) {
    return graph_error(409, "Conflict",
                       "The user " + user->aad_object_id + " is already a member of the team.");
  }
  s.team_members.push_back(user->aad_object_id);
  json out = member_json(*user, roles);
  out["@odata.context"] = std::string(kGraphPublicBase) + "/$metadata#teams('" +
                          config.team.group_id +
                          "')/members/microsoft.graph.aadUserConversationMember/$entity";
  return Reply{201, out, {}};
}

// ---------------------------------------------------------------------------------------
// FakeTeams

FakeTeams::FakeTeams(FakeTeamsConfig config) : impl_(std::make_shared<Impl>(std::move(config))) {
  auto first_key = std::make_unique<TestSigningKey>("fake-key-1");
  impl_->state.write([&](State& s) {
    s.keys.push_back(std::move(first_key));
    s.token_lifetime = impl_->config.token_lifetime;
    TeamsChannel general;
    general.id = impl_->config.team.thread_id;
    general.display_name = "General";
    general.membership_type = "standard";
    general.web_url = "https://teams.microsoft.com/l/channel/" + encode_uri_component(general.id) +
                      "/General?groupId=" + impl_->config.team.group_id +
                      "&tenantId=" + impl_->config.tenant_id;
    s.channels.push_back(general);
    s.team_members = impl_->config.team.members;
  });
  impl_->start();
}

FakeTeams::~FakeTeams() = default;

std::uint16_t FakeTeams::port() const {
  return impl_->port;
}

const FakeTeamsConfig& FakeTeams::config() const {
  return impl_->config;
}

std::string FakeTeams::base_url() const {
  return impl_->base();
}

std::string FakeTeams::connector_token_url() const {
  return impl_->base() + "/login/botframework.com/oauth2/v2.0/token";
}

std::string FakeTeams::graph_token_url() const {
  return impl_->base() + "/login/{tenant}/oauth2/v2.0/token";
}

std::string FakeTeams::openid_metadata_url() const {
  return impl_->base() + "/botframework/v1/.well-known/openidconfiguration";
}

std::string FakeTeams::jwks_url() const {
  return impl_->jwks_url();
}

std::string FakeTeams::service_url() const {
  return impl_->service_url();
}

std::string FakeTeams::graph_base_url() const {
  return impl_->base() + "/graph/v1.0";
}

const TeamsUser& FakeTeams::user(const std::string& key) const {
  for (const auto& u : impl_->config.users) {
    const std::string first_word = lower(u.name.substr(0, u.name.find(' ')));
    if (u.aad_object_id == key || u.id == key || u.name == key || first_word == key) {
      return u;
    }
  }
  std::string names;
  for (const auto& u : impl_->config.users) {
    names += (names.empty() ? "" : ", ") + u.name;
  }
  throw std::invalid_argument("fake Teams: no user \"" + key + "\" (users: " + names + ")");
}

std::vector<IssuedToken> FakeTeams::issued_tokens() const {
  return impl_->state.read([](const State& s) { return s.tokens; });
}

std::size_t FakeTeams::tokens_issued(const std::string& scope) const {
  return impl_->state.read([&](const State& s) {
    return static_cast<std::size_t>(std::count_if(
        s.tokens.begin(), s.tokens.end(), [&](const IssuedToken& t) { return t.scope == scope; }));
  });
}

void FakeTeams::set_token_lifetime(std::chrono::seconds lifetime) {
  impl_->state.write([&](State& s) { s.token_lifetime = lifetime; });
}

void FakeTeams::revoke_tokens() {
  impl_->state.write([](State& s) {
    for (auto& t : s.tokens) {
      t.revoked = true;
    }
  });
}

void FakeTeams::expire_tokens() {
  impl_->state.write([](State& s) {
    const auto now = SteadyClock::now();
    for (auto& t : s.tokens) {
      t.expires = std::min(t.expires, now);
    }
  });
}

const TestSigningKey& FakeTeams::current_key() const {
  return impl_->state.read(
      [](const State& s) -> const TestSigningKey& { return *s.keys[s.current_key]; });
}

const TestSigningKey& FakeTeams::rotate_key(std::string kid,
                                            std::vector<std::string> endorsements) {
  const TestSigningKey& key = add_key(std::move(kid), std::move(endorsements));
  sign_with(key);
  return key;
}

const TestSigningKey& FakeTeams::add_key(std::string kid, std::vector<std::string> endorsements) {
  const std::size_t n = impl_->state.read([](const State& s) { return s.keys.size(); });
  if (kid.empty()) {
    kid = "fake-key-" + std::to_string(n + 1);
  }
  // Made outside the lock: generation takes tens of milliseconds.
  auto key = std::make_unique<TestSigningKey>(std::move(kid), std::move(endorsements));
  return impl_->state.write([&](State& s) -> const TestSigningKey& {
    s.keys.push_back(std::move(key));
    return *s.keys.back();
  });
}

void FakeTeams::sign_with(const TestSigningKey& key) {
  const bool held = impl_->state.write([&](State& s) {
    for (std::size_t i = 0; i < s.keys.size(); ++i) {
      if (s.keys[i].get() == &key) {
        s.current_key = i;
        return true;
      }
    }
    return false;
  });
  if (!held) {
    throw std::invalid_argument("fake Teams: sign_with: key \"" + key.kid() +
                                "\" is not one of the fake's keys (make it with add_key)");
  }
}

void FakeTeams::publish_jwks(nlohmann::json jwks) {
  impl_->state.write([&](State& s) { s.jwks_override = std::move(jwks); });
}

void FakeTeams::publish_openid_metadata(nlohmann::json metadata) {
  impl_->state.write([&](State& s) { s.metadata_override = std::move(metadata); });
}

nlohmann::json FakeTeams::jwks() const {
  return impl_->state.read([](const State& s) {
    if (!s.jwks_override.is_null()) {
      return s.jwks_override;
    }
    std::vector<const TestSigningKey*> all;
    for (const auto& key : s.keys) {
      all.push_back(key.get());
    }
    return jwks_of(all);
  });
}

std::size_t FakeTeams::metadata_fetches() const {
  return impl_->state.read([](const State& s) { return s.metadata_fetches; });
}

std::size_t FakeTeams::jwks_fetches() const {
  return impl_->state.read([](const State& s) { return s.jwks_fetches; });
}

std::vector<TeamsChannel> FakeTeams::channels() const {
  return impl_->state.read([](const State& s) { return s.channels; });
}

std::optional<TeamsChannel> FakeTeams::channel(const std::string& id) const {
  return impl_->state.read([&](const State& s) -> std::optional<TeamsChannel> {
    for (const auto& c : s.channels) {
      if (c.id == id) {
        return c;
      }
    }
    return std::nullopt;
  });
}

std::optional<TeamsChannel> FakeTeams::channel_by_name(const std::string& display_name) const {
  return impl_->state.read([&](const State& s) -> std::optional<TeamsChannel> {
    for (const auto& c : s.channels) {
      if (lower(c.display_name) == lower(display_name)) {
        return c;
      }
    }
    return std::nullopt;
  });
}

std::vector<std::string> FakeTeams::team_members() const {
  return impl_->state.read([](const State& s) { return s.team_members; });
}

std::string FakeTeams::personal_conversation_id(const std::string& user_aad_object_id) {
  return impl_->state.write([&](State& s) { return s.personal_conversation(user_aad_object_id); });
}

std::vector<TeamsConversation> FakeTeams::conversations() const {
  return impl_->state.read([](const State& s) {
    std::vector<TeamsConversation> out;
    for (const auto& c : s.channels) {
      out.push_back({c.id, TeamsConversation::Kind::channel, {}});
    }
    out.insert(out.end(), s.conversations.begin(), s.conversations.end());
    return out;
  });
}

std::string FakeTeams::new_message_id() {
  return impl_->state.write([](State& s) { return s.new_message_id(); });
}

void FakeTeams::record_user_activity(const nlohmann::json& activity) {
  const std::string id = string_at(activity, "id");
  const std::string conversation = string_at(activity.value("conversation", json::object()), "id");
  if (id.empty() || conversation.empty()) {
    return;
  }
  // Not a structured binding: clang before 16 cannot capture one in a lambda.
  const std::pair<std::string, std::string> thread = split_thread(conversation);
  const std::string& conversation_id = thread.first;
  const std::string& root = thread.second;
  impl_->state.write([&](State& s) {
    const bool channel = s.find_channel(conversation_id) != nullptr;
    if ((!channel && s.find_conversation(conversation_id) == nullptr) ||
        s.find_activity(conversation_id, id) != nullptr) {
      return;
    }
    TeamsActivity a;
    a.id = id;
    a.conversation_id = conversation_id;
    a.thread_root_id = channel ? (root.empty() ? id : root) : std::string{};
    a.reply_to_id = string_at(activity, "replyToId");
    a.from_bot = false;
    a.activity = activity;
    s.activities.push_back(std::move(a));
  });
}

std::vector<TeamsRequest> FakeTeams::requests() const {
  return impl_->state.read([](const State& s) { return s.requests; });
}

std::vector<TeamsRequest> FakeTeams::requests(TeamsService service) const {
  return impl_->state.read([&](const State& s) {
    std::vector<TeamsRequest> out;
    std::copy_if(s.requests.begin(), s.requests.end(), std::back_inserter(out),
                 [&](const TeamsRequest& r) {
                   return service == TeamsService::any || r.service == service;
                 });
    return out;
  });
}

std::size_t FakeTeams::request_count(TeamsService service, const std::string& method,
                                     const std::string& path_contains) const {
  return impl_->state.read([&](const State& s) {
    return static_cast<std::size_t>(
        std::count_if(s.requests.begin(), s.requests.end(), [&](const TeamsRequest& r) {
          return (service == TeamsService::any || r.service == service) &&
                 (method.empty() || r.method == method) &&
                 r.path.find(path_contains) != std::string::npos;
        }));
  });
}

std::vector<TeamsActivity> FakeTeams::activities() const {
  return impl_->state.read([](const State& s) { return s.activities; });
}

std::vector<TeamsActivity> FakeTeams::bot_activities() const {
  return impl_->state.read([](const State& s) {
    std::vector<TeamsActivity> out;
    std::copy_if(s.activities.begin(), s.activities.end(), std::back_inserter(out),
                 [](const TeamsActivity& a) { return a.from_bot; });
    return out;
  });
}

std::vector<TeamsActivity> FakeTeams::activities_in(const std::string& conversation_id) const {
  const std::string id = split_thread(conversation_id).first;
  return impl_->state.read([&](const State& s) {
    std::vector<TeamsActivity> out;
    std::copy_if(s.activities.begin(), s.activities.end(), std::back_inserter(out),
                 [&](const TeamsActivity& a) { return a.conversation_id == id; });
    return out;
  });
}

std::optional<TeamsActivity> FakeTeams::activity(const std::string& activity_id) const {
  return impl_->state.read([&](const State& s) -> std::optional<TeamsActivity> {
    for (const auto& a : s.activities) {
      if (a.id == activity_id) {
        return a;
      }
    }
    return std::nullopt;
  });
}

std::vector<CardViolation> FakeTeams::card_violations() const {
  return impl_->state.read([](const State& s) { return s.violations; });
}

bool FakeTeams::wait_for(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout) const {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const std::uint64_t seen = impl_->state.version();
    if (condition()) {
      return true;
    }
    if (SteadyClock::now() >= deadline) {
      return false;
    }
    impl_->state.wait_for_change(seen, deadline);
  }
}

bool FakeTeams::wait_for_requests(TeamsService service, std::size_t count,
                                  std::chrono::milliseconds timeout) const {
  return wait_for([&] { return request_count(service) >= count; }, timeout);
}

bool FakeTeams::wait_for_bot_activities(std::size_t count,
                                        std::chrono::milliseconds timeout) const {
  return wait_for(
      [&] {
        return impl_->state.read([](const State& s) {
          return static_cast<std::size_t>(
              std::count_if(s.activities.begin(), s.activities.end(),
                            [](const TeamsActivity& a) { return a.from_bot; }));
        }) >= count;
      },
      timeout);
}

void FakeTeams::inject(TeamsService service, TeamsFault fault, const std::string& path_contains,
                       std::size_t times) {
  impl_->state.write([&](State& s) {
    for (std::size_t i = 0; i < times; ++i) {
      s.faults.push_back({service, path_contains, fault});
    }
  });
}

void FakeTeams::set_latency(TeamsService service, std::chrono::milliseconds latency) {
  impl_->state.write([&](State& s) {
    if (latency.count() <= 0) {
      s.latency.erase(service);
    } else {
      s.latency[service] = latency;
    }
  });
}

void FakeTeams::clear_faults() {
  impl_->state.write([](State& s) {
    s.faults.clear();
    s.latency.clear();
  });
}

// ---------------------------------------------------------------------------------------
// The driver

TeamsDriver::TeamsDriver(FakeTeams& fake, std::string adapter_url,
                         std::chrono::milliseconds timeout)
    : fake_(fake), adapter_url_(std::move(adapter_url)), timeout_(timeout) {}

std::string TeamsDriver::bot_id() const {
  return "28:" + fake_.config().app_id;
}

nlohmann::json TeamsDriver::base_activity(const std::string& type, const TeamsUser& from,
                                          const std::string& conversation_id,
                                          const std::string& activity_id) const {
  const auto& config = fake_.config();
  const std::string now = iso_time(std::chrono::system_clock::now());
  json activity{
      {"type", type},
      {"id", activity_id},
      {"timestamp", now},
      {"localTimestamp", now.substr(0, now.size() - 1) + "+00:00"},
      {"serviceUrl", fake_.service_url()},
      {"channelId", "msteams"},
      {"from", {{"id", from.id}, {"name", from.name}, {"aadObjectId", from.aad_object_id}}},
      {"recipient", {{"id", bot_id()}, {"name", config.bot_name}}},
      {"entities", json::array({{{"locale", "en-US"},
                                 {"country", "US"},
                                 {"platform", "Web"},
                                 {"timezone", "Europe/Helsinki"},
                                 {"type", "clientInfo"}}})},
      {"locale", "en-US"},
      {"localTimezone", "Europe/Helsinki"}};
  const auto [channel_id, root] = split_thread(conversation_id);
  if (channel_id.starts_with("19:")) {
    const auto channel = fake_.channel(channel_id);
    json channel_json{{"id", channel_id}};
    if (channel && channel_id != config.team.thread_id) {
      channel_json["name"] = channel->display_name;
    }
    activity["conversation"] = {{"isGroup", true},
                                {"conversationType", "channel"},
                                {"tenantId", config.tenant_id},
                                {"id", conversation_id}};
    activity["channelData"] = {{"teamsChannelId", channel_id},
                               {"teamsTeamId", config.team.thread_id},
                               {"channel", channel_json},
                               {"team",
                                {{"id", config.team.thread_id},
                                 {"name", config.team.name},
                                 {"aadGroupId", config.team.group_id}}},
                               {"tenant", {{"id", config.tenant_id}}}};
  } else {
    activity["conversation"] = {
        {"conversationType", "personal"}, {"tenantId", config.tenant_id}, {"id", conversation_id}};
    activity["channelData"] = {{"tenant", {{"id", config.tenant_id}}}};
  }
  return activity;
}

namespace {

void set_text(json& activity, const std::string& text) {
  activity["text"] = text;
  activity["textFormat"] = "plain";
  activity["attachments"] =
      json::array({{{"contentType", "text/html"}, {"content", "<p>" + text + "</p>"}}});
}

}  // namespace

nlohmann::json TeamsDriver::channel_message(const TeamsUser& from, const std::string& text,
                                            const std::string& channel_id) const {
  const std::string channel = channel_id.empty() ? fake_.config().team.thread_id : channel_id;
  const std::string id = fake_.new_message_id();
  json activity = base_activity("message", from, channel + ";messageid=" + id, id);
  set_text(activity, text);
  return activity;
}

nlohmann::json TeamsDriver::channel_mention(const TeamsUser& from, const std::string& command,
                                            const std::string& channel_id) const {
  const std::string mention = "<at>" + fake_.config().bot_name + "</at>";
  json activity = channel_message(from, mention + " " + command, channel_id);
  activity["entities"].push_back(
      {{"type", "mention"},
       {"text", mention},
       {"mentioned", {{"id", bot_id()}, {"name", fake_.config().bot_name}}}});
  return activity;
}

nlohmann::json TeamsDriver::thread_reply(const TeamsUser& from, const std::string& text,
                                         const std::string& channel_id, const std::string& root_id,
                                         bool mention_bot) const {
  const std::string channel =
      split_thread(channel_id.empty() ? fake_.config().team.thread_id : channel_id).first;
  const std::string mention = "<at>" + fake_.config().bot_name + "</at>";
  json activity =
      base_activity("message", from, channel + ";messageid=" + root_id, fake_.new_message_id());
  activity["replyToId"] = root_id;
  set_text(activity, mention_bot ? mention + " " + text : text);
  if (mention_bot) {
    activity["entities"].push_back(
        {{"type", "mention"},
         {"text", mention},
         {"mentioned", {{"id", bot_id()}, {"name", fake_.config().bot_name}}}});
  }
  return activity;
}

nlohmann::json TeamsDriver::personal_message(const TeamsUser& from, const std::string& text) const {
  json activity = base_activity("message", from, fake_.personal_conversation_id(from.aad_object_id),
                                fake_.new_message_id());
  activity["text"] = text;
  activity["textFormat"] = "plain";
  return activity;
}

namespace {

// A card's conversation as Teams sends it with an action on the card: in a channel,
// "<channel>;messageid=<root of the card's thread>".
std::string card_conversation(const FakeTeams& fake, const std::string& conversation_id,
                              const std::string& card_activity_id) {
  const auto [channel, root] = split_thread(conversation_id);
  if (!channel.starts_with("19:") || !root.empty()) {
    return conversation_id;
  }
  const auto card = fake.activity(card_activity_id);
  const std::string thread =
      card && !card->thread_root_id.empty() ? card->thread_root_id : card_activity_id;
  return channel + ";messageid=" + thread;
}

}  // namespace

nlohmann::json TeamsDriver::card_submit(const TeamsUser& from, const std::string& conversation_id,
                                        const std::string& card_activity_id,
                                        const nlohmann::json& value) const {
  json activity =
      base_activity("message", from, card_conversation(fake_, conversation_id, card_activity_id),
                    fake_.new_message_id());
  activity["replyToId"] = card_activity_id;
  activity["value"] = value;
  activity["channelData"]["source"] = {{"name", "message"}};
  activity["channelData"]["legacy"] = {{"replyToId", card_activity_id}};
  return activity;
}

nlohmann::json TeamsDriver::card_execute(const TeamsUser& from, const std::string& conversation_id,
                                         const std::string& card_activity_id,
                                         const std::string& verb,
                                         const nlohmann::json& data) const {
  json activity =
      base_activity("invoke", from, card_conversation(fake_, conversation_id, card_activity_id),
                    "f:" + fake_.new_message_id());
  activity["name"] = "adaptiveCard/action";
  activity["replyToId"] = card_activity_id;
  activity["value"] = {{"action", {{"type", "Action.Execute"}, {"verb", verb}, {"data", data}}},
                       {"trigger", "manual"}};
  activity["channelData"]["source"] = {{"name", "message"}};
  activity["channelData"]["legacy"] = {{"replyToId", card_activity_id}};
  return activity;
}

nlohmann::json TeamsDriver::message_edit(const TeamsUser& from, const std::string& conversation_id,
                                         const std::string& message_id,
                                         const std::string& new_text) const {
  json activity = base_activity("messageUpdate", from, conversation_id, message_id);
  set_text(activity, new_text);
  activity["channelData"]["eventType"] = "editMessage";
  return activity;
}

nlohmann::json TeamsDriver::message_delete(const TeamsUser& from,
                                           const std::string& conversation_id,
                                           const std::string& message_id) const {
  json activity = base_activity("messageDelete", from, conversation_id, message_id);
  activity["channelData"]["eventType"] = "softDeleteMessage";
  return activity;
}

nlohmann::json TeamsDriver::bot_installed(const TeamsUser& installer) const {
  const auto& config = fake_.config();
  json activity = base_activity("conversationUpdate", installer, config.team.thread_id,
                                "f:" + fake_.new_message_id());
  activity["membersAdded"] = json::array({{{"id", bot_id()}}});
  activity["channelData"]["eventType"] = "teamMemberAdded";
  activity["channelData"]["settings"] = {{"selectedChannel", {{"id", config.team.thread_id}}}};
  activity.erase("entities");
  return activity;
}

nlohmann::json TeamsDriver::members_added(const std::vector<TeamsUser>& added,
                                          const TeamsUser& by) const {
  const auto& config = fake_.config();
  json activity =
      base_activity("conversationUpdate", by, config.team.thread_id, "f:" + fake_.new_message_id());
  json members = json::array();
  for (const auto& user : added) {
    members.push_back({{"id", user.id}, {"aadObjectId", user.aad_object_id}});
  }
  activity["membersAdded"] = members;
  activity["channelData"]["eventType"] = "teamMemberAdded";
  activity.erase("entities");
  return activity;
}

std::string TeamsDriver::bearer_token(const std::string& service_url, const TeamsAuth& auth) const {
  json claims = auth.claims ? *auth.claims
                            : bot_framework_claims(fake_.config().app_id, service_url,
                                                   auth.now_unix_seconds.value_or(unix_now()));
  if (!auth.claims_patch.is_null() && !auth.claims_patch.empty()) {
    claims.merge_patch(auth.claims_patch);
  }
  const TestSigningKey& key = auth.key != nullptr ? *auth.key : fake_.current_key();
  return key.sign(claims, auth.header.is_object() ? auth.header : json::object());
}

TeamsDriverResponse TeamsDriver::send(const std::string& body, const std::string& content_type,
                                      const std::string& service_url, const TeamsAuth& auth) const {
  constexpr std::string_view kScheme = "http://";
  const std::size_t slash = adapter_url_.find('/', kScheme.size());
  const std::string base = adapter_url_.substr(0, slash);
  const std::string target = slash == std::string::npos ? "/" : adapter_url_.substr(slash);
  http::BlockingClient client(http::parse_base_url(base), timeout_);

  std::map<std::string, std::string> headers{
      {"User-Agent", "Microsoft-SkypeBotApi (Microsoft-BotFramework 3.0)"},
      {"MS-CV", random_alnum(22) + ".1"},
      {"x-ms-tenant-id", fake_.config().tenant_id}};
  if (!auth.omit_authorization) {
    headers["Authorization"] =
        auth.authorization ? *auth.authorization : "Bearer " + bearer_token(service_url, auth);
  }
  auto response = client.request("POST", target, body, content_type, headers);
  TeamsDriverResponse out{response.status, response.content_type, response.body, nullptr};
  if (!response.body.empty()) {
    json parsed = json::parse(response.body, nullptr, false);
    if (!parsed.is_discarded()) {
      out.json = std::move(parsed);
    }
  }
  return out;
}

TeamsDriverResponse TeamsDriver::post(const nlohmann::json& activity, const TeamsAuth& auth) const {
  if (string_at(activity, "type") == "message" &&
      string_at(activity.value("from", json::object()), "id") != bot_id()) {
    fake_.record_user_activity(activity);
  }
  std::string service_url = string_at(activity, "serviceUrl");
  if (service_url.empty()) {
    service_url = fake_.service_url();
  }
  return send(activity.dump(), kJsonType, service_url, auth);
}

TeamsDriverResponse TeamsDriver::post_raw(const std::string& body, const std::string& content_type,
                                          const TeamsAuth& auth) const {
  return send(body, content_type, fake_.service_url(), auth);
}

std::string encode_uri_component(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr std::string_view kKept = "-_.!~*'()";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        kKept.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace haveri::fakes
