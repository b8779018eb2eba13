#include "http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace haveri::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string Request::header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? std::string{} : it->second;
}

Response Response::json(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::error(unsigned status, const std::string& message) {
  std::string escaped;
  escaped.reserve(message.size());
  for (char c : message) {
    if (c == '"' || c == '\\') {
      escaped += '\\';
      escaped += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      escaped += ' ';
    } else {
      escaped += c;
    }
  }
  return json(status, "{\"error\":\"" + escaped + "\"}");
}

namespace {

constexpr std::size_t kHeaderLimitBytes = std::size_t{16} * 1024;
constexpr std::size_t kMaxRequestIdLength = 64;
// After an error answer the client may still be sending. Closing with its bytes
// unread makes the kernel answer with a reset, which can discard our response from
// the client's receive buffer before it is read; so such bytes are read and dropped
// for a moment first.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerReadBytes = std::size_t{16} * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdLength &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                  c == '-';
         });
}

// 16 hex digits, unique in this process: the splitmix64 finaliser is a bijection, so
// distinct counter values give distinct ids, and the random base keeps ids of
// different runs apart in the logs.
std::string new_request_id() {
  static const std::uint64_t base = [] {
    std::random_device random;
    return (static_cast<std::uint64_t>(random()) << 32U) | random();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t z = base + counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  z ^= z >> 31U;
  std::array<char, 17> text{};
  std::snprintf(text.data(), text.size(), "%016llx", static_cast<unsigned long long>(z));
  return {text.data(), 16};
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

class Session;

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io_context, ServerOptions opts, Handler h)
      : io(io_context),
        options(std::move(opts)),
        handler(std::move(h)),
        acceptor(asio::make_strand(io_context)) {}

  asio::io_context& io;
  ServerOptions options;
  Handler handler;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer{acceptor.get_executor()};
  asio::steady_timer drain_timer{acceptor.get_executor()};  // the drain's limit
  std::atomic<bool> stopped{false};
  std::atomic<bool> draining{false};  // set once, with connections.draining
  std::atomic<std::uint64_t> next_session_id{0};

  // ServerStats, and the refusing sessions that max_connections does not count.
  std::atomic<std::size_t> served_sessions{0};
  std::atomic<std::size_t> refusing_sessions{0};
  std::atomic<std::size_t> requests_in_flight{0};
  std::atomic<std::uint64_t> requests_total{0};
  std::atomic<std::uint64_t> refused_busy_total{0};
  std::atomic<std::uint64_t> timed_out_total{0};

  // The open connections and the drain, with the lock that guards them.
  struct Connections {
    std::mutex mutex;
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> open;
    bool draining = false;
    bool cutting = false;   // the limit passed: the cut reports, not the last close
    bool reported = false;  // `done` has been handed to the io_context
    std::size_t finished = 0;
    std::function<void(DrainReport)> done;
  };
  Connections connections;

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void admit(tcp::socket socket);

  void opened(std::uint64_t id, const std::shared_ptr<Session>& session);
  void closed(std::uint64_t id);
  void answered();
  // Runs on the acceptor's strand.
  void cut_open_sessions();
  void report_drain(DrainReport report);
};

namespace {

// One connection: wait for a request's first byte, read its headers, then its body,
// hand it to the handler, write the response, repeat while keep-alive. Each waiting
// step has a deadline (a session-wide timer, so a trickling client cannot extend it).
// Runs on: the session's strand; the destructor wherever the last reference goes.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Impl> server, std::uint64_t id,
          bool served)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        server_(std::move(server)),
        id_(id),
        served_(served) {}

  // A handler that dropped its Responder: the connection goes with it.
  ~Session() { release(); }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Any thread: the socket's executor (the session's strand) is set at construction.
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

  void start() {
    if (server_->draining.load()) {
      close();
      return;
    }
    wait_for_request();
  }

  void refuse_busy() {
    if (server_->draining.load()) {
      close();
      return;
    }
    request_id_ = new_request_id();
    keep_alive_ = false;
    linger_after_write_ = true;
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        bhttp::status::service_unavailable, 11);
    response->set(bhttp::field::server, "haverid");
    response->set(bhttp::field::content_type, "application/json");
    response->set(bhttp::field::retry_after, "1");
    response->set("X-Request-Id", request_id_);
    response->body() = R"({"error":"too many connections"})";
    response->keep_alive(false);
    response->prepare_payload();
    write(response, 503);
  }

  // A drain began: a connection between requests closes now; one with a request
  // arriving, being handled or being answered closes after its answer.
  void begin_drain() {
    if (phase_ == Phase::idle || phase_ == Phase::lingering) {
      close();
    }
  }

  // The drain's limit passed. Returns whether the connection was still open.
  bool cut() {
    if (phase_ == Phase::closed) {
      return false;
    }
    spdlog::debug("http: connection cut at the drain limit request={}",
                  request_id_.empty() ? "-" : request_id_);
    close();
    return true;
  }

 private:
  enum class Phase { idle, header, body, handling, writing, lingering, closed };

  void wait_for_request() {
    phase_ = Phase::idle;
    if (buffer_.size() > 0) {
      read_header();  // the next request's first bytes came with the last one
      return;
    }
    arm(server_->options.idle_timeout);
    socket_.async_wait(tcp::socket::wait_read,
                       beast::bind_front_handler(&Session::on_first_byte, shared_from_this()));
  }

  void on_first_byte(beast::error_code ec) {
    if (phase_ != Phase::idle) {
      return;
    }
    if (ec) {
      close();
      return;
    }
    read_header();
  }

  void read_header() {
    phase_ = Phase::header;
    timed_out_ = false;
    request_id_.clear();
    started_ = std::chrono::steady_clock::now();
    parser_.emplace();
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(server_->options.body_limit_bytes);
    arm(server_->options.header_timeout);
    bhttp::async_read_header(socket_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t /*bytes*/) {
    if (phase_ != Phase::header) {
      return;
    }
    if (ec) {
      on_read_error(ec);
      return;
    }
    const auto client_id = parser_->get()["X-Request-Id"];
    request_id_ = valid_request_id({client_id.data(), client_id.size()}) ? std::string(client_id)
                                                                         : new_request_id();
    if (parser_->is_done()) {
      handle_request();
      return;
    }
    phase_ = Phase::body;
    arm(server_->options.body_timeout);
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      // curl and others wait a second for this before sending a large body.
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          if (self->phase_ != Phase::body) {
                            return;
                          }
                          if (write_ec) {
                            self->on_read_error(write_ec);
                            return;
                          }
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(socket_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t /*bytes*/) {
    if (phase_ != Phase::body) {
      return;
    }
    if (ec) {
      on_read_error(ec);
      return;
    }
    handle_request();
  }

  void on_read_error(const beast::error_code& ec) {
    if (request_id_.empty()) {
      request_id_ = new_request_id();
    }
    if (timed_out_ && ec == asio::error::operation_aborted) {
      const bool headers = phase_ == Phase::header;
      const auto limit = headers ? server_->options.header_timeout : server_->options.body_timeout;
      spdlog::debug("http: request {} not received in time, answering 408 limit_ms={} request={}",
                    headers ? "headers" : "body", limit.count(), request_id_);
      send_error(bhttp::status::request_timeout,
                 std::string("request ") + (headers ? "headers" : "body") +
                     " not received within " + std::to_string(limit.count()) + " ms");
      return;
    }
    if (ec == bhttp::error::body_limit) {
      send_error(bhttp::status::payload_too_large,
                 "request body exceeds the limit of " +
                     std::to_string(server_->options.body_limit_bytes) + " bytes");
      return;
    }
    if (ec == bhttp::error::header_limit) {
      send_error(
          bhttp::status::request_header_fields_too_large,
          "request headers exceed the limit of " + std::to_string(kHeaderLimitBytes) + " bytes");
      return;
    }
    // The client went away (between requests or in the middle of one).
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        !is_http_error(ec)) {
      close();
      return;
    }
    spdlog::debug("http: malformed request ({}) request={}", ec.message(), request_id_);
    send_error(bhttp::status::bad_request, "malformed HTTP request");
  }

  void handle_request() {
    disarm();
    phase_ = Phase::handling;
    in_flight_ = true;
    server_->requests_in_flight.fetch_add(1);
    server_->requests_total.fetch_add(1);
    auto raw = parser_->release();
    keep_alive_ = raw.keep_alive();
    version_ = raw.version();

    Request request;
    request.method = std::string(raw.method_string());
    request.target = std::string(raw.target());
    auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) {
      request.query = request.target.substr(question + 1);
    }
    for (const auto& field : raw) {
      request.headers[to_lower({field.name_string().data(), field.name_string().size()})] =
          std::string(field.value());
    }
    request.body = std::move(raw.body());
    request.request_id = request_id_;
    log_method_ = request.method;
    log_path_ = request.path;

    // The responder may be called from any thread and more than once by mistake;
    // only the first call counts, and it hops onto this session's strand.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto self = shared_from_this();
    Responder responder = [self, answered](Response response) {
      if (answered->exchange(true)) {
        return;
      }
      asio::post(self->socket_.get_executor(), [self, response = std::move(response)]() mutable {
        self->send(std::move(response));
      });
    };
    try {
      server_->handler(std::move(request), std::move(responder));
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed: {} request={}", e.what(), request_id_);
      if (!answered->exchange(true)) {
        send_error(bhttp::status::internal_server_error, "internal error");
      }
    }
  }

  void send(Response response) {
    if (phase_ == Phase::closed) {
      return;  // cut at the drain limit meanwhile
    }
    const unsigned status = response.status;
    try {
      write(build(std::move(response)), status);
    } catch (const std::exception& e) {
      // A response Beast cannot serialise (a body on 204, a bad header) is our bug
      // or a plugin's: answer 500 rather than let it end the io thread.
      spdlog::error("http: cannot send a response: {} request={}", e.what(), request_id_);
      keep_alive_ = false;
      write(build(Response::error(500, "internal error")), 500);
    }
  }

  std::shared_ptr<bhttp::response<bhttp::string_body>> build(Response response) {
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(response.status), version_);
    message->set(bhttp::field::server, "haverid");
    if (!response.content_type.empty()) {
      message->set(bhttp::field::content_type, response.content_type);
    }
    for (auto& [name, value] : response.headers) {
      message->set(name, value);
    }
    message->set("X-Request-Id", request_id_);
    message->body() = std::move(response.body);
    // A drain answers with `Connection: close`; so does a stopped server.
    message->keep_alive(keep_alive_ && !server_->stopped.load());
    message->prepare_payload();
    return message;
  }

  // Answers a request that could not be read, then closes (after lingering).
  void send_error(bhttp::status status, const std::string& text) {
    keep_alive_ = false;
    linger_after_write_ = true;
    send(Response::error(static_cast<unsigned>(status), text));
  }

  void write(const std::shared_ptr<bhttp::response<bhttp::string_body>>& message, unsigned status) {
    phase_ = Phase::writing;
    arm(server_->options.write_timeout);
    bhttp::async_write(
        socket_, *message,
        [self = shared_from_this(), message, status](beast::error_code ec, std::size_t) {
          self->on_write(ec, message->keep_alive(), status);
        });
  }

  void on_write(beast::error_code ec, bool keep_alive, unsigned status) {
    if (phase_ != Phase::writing) {
      return;  // cut by the write timeout or the drain limit
    }
    disarm();
    const bool answered_request = in_flight_;
    end_in_flight();
    if (ec) {
      close();
      return;
    }
    if (answered_request) {
      spdlog::debug("http: answered method={} path={} status={} request={} duration_ms={}",
                    log_method_, log_path_, status, request_id_,
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started_)
                        .count());
      server_->answered();
    }
    if (linger_after_write_) {
      linger();
      return;
    }
    if (!keep_alive || server_->draining.load()) {
      close();
      return;
    }
    wait_for_request();
  }

  void linger() {
    phase_ = Phase::lingering;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    arm(kLingerTime);
    discard();
  }

  void discard() {
    buffer_.consume(buffer_.size());
    socket_.async_read_some(buffer_.prepare(kLingerReadBytes),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->phase_ != Phase::lingering) {
                                return;
                              }
                              if (ec) {
                                self->close();
                                return;
                              }
                              self->discard();
                            });
  }

  // One timer for every wait of the session; the generation tells a stale expiry
  // (queued just before the step it guarded completed) from a live one.
  void arm(std::chrono::milliseconds after) {
    const std::uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (!ec && generation == self->deadline_generation_) {
        self->on_deadline();
      }
    });
  }

  void disarm() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void on_deadline() {
    switch (phase_) {
      case Phase::header:
      case Phase::body:
        if (timed_out_) {
          close();  // the read did not end when cancelled (see below)
          break;
        }
        // The read completes with operation_aborted and answers 408. If its last
        // read_some had completed already (its handler queued behind this one), the
        // composed read starts another that the cancel does not reach: the deadline
        // is armed once more so that such a read cannot outlast it for long.
        timed_out_ = true;
        server_->timed_out_total.fetch_add(1);
        {
          beast::error_code ignored;
          socket_.cancel(ignored);
        }
        arm(kLingerTime);
        break;
      case Phase::writing:
        server_->timed_out_total.fetch_add(1);
        spdlog::debug("http: response not taken in time, connection cut limit_ms={} request={}",
                      server_->options.write_timeout.count(),
                      request_id_.empty() ? "-" : request_id_);
        close();
        break;
      case Phase::idle:
      case Phase::lingering:
        close();
        break;
      case Phase::handling:
      case Phase::closed:
        break;
    }
  }

  void end_in_flight() {
    if (in_flight_) {
      in_flight_ = false;
      server_->requests_in_flight.fetch_sub(1);
    }
  }

  void close() {
    if (phase_ == Phase::closed) {
      return;
    }
    disarm();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
    release();
  }

  // What the server counts for this connection, given back once.
  void release() noexcept {
    if (phase_ == Phase::closed) {
      return;
    }
    phase_ = Phase::closed;
    end_in_flight();
    (served_ ? server_->served_sessions : server_->refusing_sessions).fetch_sub(1);
    server_->closed(id_);
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  std::uint64_t id_;
  bool served_;  // false: refused (503), not counted against max_connections
  Phase phase_ = Phase::idle;
  std::uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;           // the header or body deadline passed
  bool in_flight_ = false;           // handed to the handler, response not written
  bool linger_after_write_ = false;  // an error answer: read what the client still sends
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::string request_id_;
  std::string log_method_;  // of the request being answered, for the log
  std::string log_path_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(io),
                        beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopped.load() || ec == asio::error::operation_aborted) {
    return;
  }
  if (ec) {
    // Out of file descriptors and the like: pause instead of spinning on the error.
    spdlog::warn("http: accept failed: {}; pausing accepts for 100 ms", ec.message());
    retry_timer.expires_after(std::chrono::milliseconds(100));
    retry_timer.async_wait([self = shared_from_this()](beast::error_code timer_ec) {
      if (!timer_ec) {
        self->do_accept();
      }
    });
    return;
  }
  admit(std::move(socket));
  do_accept();
}

void HttpServer::Impl::admit(tcp::socket socket) {
  const std::uint64_t id = next_session_id.fetch_add(1);
  if (served_sessions.fetch_add(1) < options.max_connections) {
    auto session = std::make_shared<Session>(std::move(socket), shared_from_this(), id, true);
    opened(id, session);
    asio::dispatch(session->executor(), [session] { session->start(); });
    return;
  }
  served_sessions.fetch_sub(1);
  refused_busy_total.fetch_add(1);
  // Refusals are bounded too: a flood beyond twice the limit is closed unanswered.
  if (refusing_sessions.fetch_add(1) >= options.max_connections) {
    refusing_sessions.fetch_sub(1);
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  auto session = std::make_shared<Session>(std::move(socket), shared_from_this(), id, false);
  opened(id, session);
  asio::dispatch(session->executor(), [session] { session->refuse_busy(); });
}

void HttpServer::Impl::opened(std::uint64_t id, const std::shared_ptr<Session>& session) {
  std::lock_guard lock(connections.mutex);
  connections.open.emplace(id, session);
}

void HttpServer::Impl::closed(std::uint64_t id) {
  std::optional<DrainReport> report;
  {
    std::lock_guard lock(connections.mutex);
    if (connections.open.erase(id) == 0) {
      return;
    }
    if (connections.draining && !connections.cutting && !connections.reported &&
        connections.open.empty()) {
      report = DrainReport{connections.finished, 0};
    }
  }
  if (report) {
    report_drain(*report);
  }
}

void HttpServer::Impl::answered() {
  if (!draining.load()) {
    return;
  }
  std::lock_guard lock(connections.mutex);
  if (!connections.reported) {
    ++connections.finished;
  }
}

void HttpServer::Impl::cut_open_sessions() {
  std::vector<std::weak_ptr<Session>> open;
  std::size_t finished = 0;
  {
    std::lock_guard lock(connections.mutex);
    if (!connections.draining || connections.cutting || connections.reported) {
      return;
    }
    connections.cutting = true;
    finished = connections.finished;
    for (const auto& [id, session] : connections.open) {
      open.push_back(session);
    }
  }
  if (open.empty()) {
    report_drain({finished, 0});
    return;
  }
  // Each session is cut on its own strand; the last one to report sends the total.
  struct Tally {
    std::atomic<std::size_t> remaining;
    std::atomic<std::size_t> cut{0};
  };
  auto tally = std::make_shared<Tally>();
  tally->remaining = open.size();
  auto count_down = [self = shared_from_this(), tally, finished](bool was_open) {
    if (was_open) {
      tally->cut.fetch_add(1);
    }
    if (tally->remaining.fetch_sub(1) == 1) {
      self->report_drain({finished, tally->cut.load()});
    }
  };
  for (const auto& weak : open) {
    if (auto session = weak.lock()) {
      asio::post(session->executor(), [session, count_down] { count_down(session->cut()); });
    } else {
      count_down(false);  // being destroyed: closed already
    }
  }
}

void HttpServer::Impl::report_drain(DrainReport report) {
  std::function<void(DrainReport)> done;
  {
    std::lock_guard lock(connections.mutex);
    if (connections.reported) {
      return;
    }
    connections.reported = true;
    done = std::move(connections.done);
  }
  asio::post(acceptor.get_executor(), [self = shared_from_this()] { self->drain_timer.cancel(); });
  if (done) {
    asio::post(io, [done = std::move(done), report] { done(report); });
  }
}

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  const std::string where = impl_->options.address + ":" + std::to_string(impl_->options.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.address, ec);
  if (ec) {
    throw std::runtime_error(where + ": not an IP address: " + ec.message());
  }
  tcp::endpoint endpoint{address, impl_->options.port};
  auto& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    throw std::runtime_error(where + ": cannot open socket: " + ec.message());
  }
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    throw std::runtime_error(where + ": cannot set SO_REUSEADDR: " + ec.message());
  }
  if (acceptor.bind(endpoint, ec); ec) {
    throw std::runtime_error(where + ": cannot bind: " + ec.message());
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    throw std::runtime_error(where + ": cannot listen: " + ec.message());
  }
  asio::dispatch(acceptor.get_executor(), [impl = impl_] { impl->do_accept(); });
}

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::stop() {
  if (impl_->stopped.exchange(true)) {
    return;
  }
  // Close on the acceptor's strand: closing from another thread races the accept.
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

void HttpServer::drain(std::chrono::milliseconds limit, std::function<void(DrainReport)> done) {
  std::vector<std::weak_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->connections.mutex);
    if (impl_->connections.draining) {
      return;
    }
    impl_->connections.draining = true;
    impl_->connections.done = std::move(done);
    // Under the lock: a session opened after this sees the flag when it starts.
    impl_->draining.store(true);
    for (const auto& [id, session] : impl_->connections.open) {
      open.push_back(session);
    }
  }
  stop();
  for (const auto& weak : open) {
    if (auto session = weak.lock()) {
      asio::post(session->executor(), [session] { session->begin_drain(); });
    }
  }
  asio::post(impl_->acceptor.get_executor(), [impl = impl_, limit] {
    impl->drain_timer.expires_after(limit);
    impl->drain_timer.async_wait([impl](beast::error_code ec) {
      if (!ec) {
        impl->cut_open_sessions();
      }
    });
    // Nothing open (or everything closed before the timer was set): report now.
    std::optional<DrainReport> report;
    {
      std::lock_guard lock(impl->connections.mutex);
      if (!impl->connections.cutting && !impl->connections.reported &&
          impl->connections.open.empty()) {
        report = DrainReport{impl->connections.finished, 0};
      }
    }
    if (report) {
      impl->report_drain(*report);
    }
  });
}

void HttpServer::cut_drain() {
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    impl->drain_timer.cancel();
    impl->cut_open_sessions();
  });
}

ServerStats HttpServer::stats() const {
  ServerStats stats;
  stats.open_connections = impl_->served_sessions.load();
  stats.requests_in_flight = impl_->requests_in_flight.load();
  stats.requests_total = impl_->requests_total.load();
  stats.refused_busy_total = impl_->refused_busy_total.load();
  stats.timed_out_total = impl_->timed_out_total.load();
  return stats;
}

}  // namespace haveri::http
