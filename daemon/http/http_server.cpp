#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
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

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

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
  std::atomic<std::size_t> open_sessions{0};
  std::atomic<bool> stopped{false};

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
};

namespace {

// One connection: read a request, hand it to the handler, write the response,
// repeat while keep-alive. All steps run on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  ~Session() { server_->open_sessions.fetch_sub(1); }

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  void refuse_busy() {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        bhttp::status::service_unavailable, 11);
    response->set(bhttp::field::content_type, "application/json");
    response->set(bhttp::field::retry_after, "1");
    response->body() = R"({"error":"too many connections"})";
    response->keep_alive(false);
    response->prepare_payload();
    write(response);
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit_bytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      close();
      return;
    }
    if (ec == bhttp::error::body_limit) {
      send_error(bhttp::status::payload_too_large, "request body exceeds the limit");
      return;
    }
    if (ec) {
      send_error(bhttp::status::bad_request, "malformed HTTP request");
      return;
    }
    stream_.expires_never();
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

    // The responder may be called from any thread and more than once by mistake;
    // only the first call counts, and it hops onto this session's strand.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto self = shared_from_this();
    Responder responder = [self, answered](Response response) {
      if (answered->exchange(true)) {
        return;
      }
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->send(std::move(response));
      });
    };
    try {
      server_->handler(std::move(request), std::move(responder));
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed: {}", e.what());
      if (!answered->exchange(true)) {
        send_error(bhttp::status::internal_server_error, "internal error");
      }
    }
  }

  void send(Response response) {
    try {
      write(build(std::move(response)));
    } catch (const std::exception& e) {
      // A response Beast cannot serialise (a body on 204, a bad header) is our bug
      // or a plugin's: answer 500 rather than let it end the io thread.
      spdlog::error("http: cannot send a response: {}", e.what());
      keep_alive_ = false;
      write(build(Response::error(500, "internal error")));
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
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !server_->stopped.load());
    message->prepare_payload();
    return message;
  }

  void send_error(bhttp::status status, const std::string& text) {
    keep_alive_ = false;
    Response response = Response::error(static_cast<unsigned>(status), text);
    send(std::move(response));
  }

  void write(const std::shared_ptr<bhttp::response<bhttp::string_body>>& message) {
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_write(stream_, *message,
                       [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                         self->on_write(ec, message->keep_alive());
                       });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    if (ec || !keep_alive) {
      close();
      return;
    }
    do_read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
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
  {
    const bool over_limit = open_sessions.fetch_add(1) >= options.max_connections;
    auto session = std::make_shared<Session>(std::move(socket), shared_from_this());
    if (over_limit) {
      session->refuse_busy();
    } else {
      session->run();
    }
  }
  do_accept();
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

}  // namespace haveri::http
