#include "websocket_client.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

namespace haveri::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct Endpoint {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string target = "/";

  // What the Host header and CONNECT name: brackets for IPv6, no default port.
  std::string authority(bool with_port) const {
    const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return with_port ? name + ":" + port : name;
  }
};

// scheme://host[:port][/target]; nullopt with `why` for anything else.
std::optional<Endpoint> parse_endpoint(std::string_view url, bool proxy, std::string& why) {
  Endpoint out;
  std::string_view rest;
  const auto starts = [&](std::string_view prefix) {
    if (url.size() >= prefix.size() &&
        std::equal(prefix.begin(), prefix.end(), url.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      rest = url.substr(prefix.size());
      return true;
    }
    return false;
  };
  if (proxy ? starts("http://") : starts("ws://")) {
    out.port = "80";
  } else if (!proxy && starts("wss://")) {
    out.tls = true;
    out.port = "443";
  } else {
    why = proxy ? "not an http:// proxy URL" : "not a ws:// or wss:// URL";
    return std::nullopt;
  }
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.target = std::string(rest.substr(slash));
    if (out.target.front() != '/') {
      out.target.insert(out.target.begin(), '/');
    }
    if (const std::size_t hash = out.target.find('#'); hash != std::string::npos) {
      out.target.resize(hash);
    }
  }
  if (authority.find('@') != std::string_view::npos) {
    why = "a URL with credentials in it";
    return std::nullopt;
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "an unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        why = "junk after the IPv6 address";
        return std::nullopt;
      }
      port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    why = "a URL without a host";
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      why = "a bad port";
      return std::nullopt;
    }
    out.port = std::string(port);
  }
  return out;
}

}  // namespace

// What every connection shares, whatever its stream: the state callers see through
// send() / close() and the events. The stream and its steps live in Session<>.
struct WebSocketClient::Impl : std::enable_shared_from_this<WebSocketClient::Impl> {
  enum class Phase { connecting, open, closing, closed };

  Impl(asio::io_context& io, WebSocketOptions opts, WebSocketEvents handlers)
      : options(std::move(opts)), strand(asio::make_strand(io)), events(std::move(handlers)) {}
  virtual ~Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  virtual void start() = 0;
  // Runs on: strand. Writes what is queued, or closes once it is written.
  virtual void pump() = 0;
  // Runs on: strand. Tears the connection down without a close handshake.
  virtual void cut() = 0;

  const WebSocketOptions options;
  asio::strand<asio::io_context::executor_type> strand;

  std::mutex state_mutex;  // guards phase, outbox, close_requested
  Phase phase = Phase::connecting;
  std::deque<std::string> outbox;
  bool close_requested = false;

  // Held while an event runs and while abort() empties the handlers: after abort()
  // returned, none runs.
  std::mutex events_mutex;
  WebSocketEvents events;
  bool closed_reported = false;  // Runs on: strand

  void emit_opened() {
    std::lock_guard lock(events_mutex);
    if (events.opened) {
      events.opened();
    }
  }
  void emit_message(std::string text) {
    std::lock_guard lock(events_mutex);
    if (events.message) {
      events.message(std::move(text));
    }
  }
  // Runs on: strand. Reports the end once; everything after is quiet.
  void emit_closed(unsigned code, std::string reason, std::string error) {
    if (closed_reported) {
      return;
    }
    closed_reported = true;
    {
      std::lock_guard lock(state_mutex);
      phase = Phase::closed;
      outbox.clear();
    }
    std::lock_guard lock(events_mutex);
    if (events.closed) {
      auto closed = std::move(events.closed);
      events = {};
      closed(code, std::move(reason), std::move(error));
    }
  }
};

namespace {

template <bool kTls>
class Session final : public WebSocketClient::Impl {
 public:
  using Stream = std::conditional_t<kTls, websocket::stream<beast::ssl_stream<beast::tcp_stream>>,
                                    websocket::stream<beast::tcp_stream>>;

  Session(asio::io_context& io, WebSocketOptions opts, WebSocketEvents handlers, Endpoint target,
          std::optional<Endpoint> proxy)
      : Impl(io, std::move(opts), std::move(handlers)),
        target_(std::move(target)),
        proxy_(std::move(proxy)),
        tls_(asio::ssl::context::tls_client),
        resolver_(strand),
        deadline_(strand),
        ws_(make_stream()) {}

  void start() override {
    asio::dispatch(strand, [self = shared()] { self->do_resolve(); });
  }

  void pump() override {
    const Phase now = current_phase();
    if (now == Phase::connecting && close_requested_now()) {
      fail_opening("closed before it opened");
      return;
    }
    if (now != Phase::open && now != Phase::closing) {
      return;
    }
    if (writing_ || closing_) {
      return;
    }
    std::optional<std::string> next;
    bool close_now = false;
    {
      std::lock_guard lock(state_mutex);
      if (!outbox.empty()) {
        next = std::move(outbox.front());
        outbox.pop_front();
      } else {
        close_now = close_requested;
      }
    }
    if (next) {
      do_write(std::move(*next));
    } else if (close_now) {
      do_close();
    }
  }

  void cut() override {
    deadline_.cancel();
    resolver_.cancel();
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  std::shared_ptr<Session> shared() {
    return std::static_pointer_cast<Session>(shared_from_this());
  }

  Stream make_stream() {
    if constexpr (kTls) {
      return Stream(strand, tls_);
    } else {
      return Stream(strand);
    }
  }

  Phase current_phase() {
    std::lock_guard lock(state_mutex);
    return phase;
  }
  bool close_requested_now() {
    std::lock_guard lock(state_mutex);
    return close_requested;
  }

  // host:port of what we talk to, for messages.
  std::string where() const {
    return proxy_ ? target_.authority(true) + " via proxy " + proxy_->authority(true)
                  : target_.authority(true);
  }

  void do_resolve() {
    if (current_phase() != Phase::connecting) {
      return;
    }
    if constexpr (kTls) {
      error_code ec;
      tls_.set_default_verify_paths(ec);
      if (!ec && !options.ca_file.empty()) {
        tls_.load_verify_file(options.ca_file.string(), ec);
      }
      if (ec) {
        fail_opening("cannot load trusted CAs: " + ec.message());
        return;
      }
    }
    deadline_.expires_after(options.timeout);
    deadline_.async_wait([self = shared()](const error_code& ec) {
      if (!ec && self->current_phase() == Phase::connecting) {
        self->timed_out_ = true;
        self->cut();
      }
    });
    const Endpoint& first_hop = proxy_ ? *proxy_ : target_;
    stage_ = "resolving";
    resolver_.async_resolve(first_hop.host, first_hop.port,
                            beast::bind_front_handler(&Session::on_resolve, shared()));
  }

  void on_resolve(error_code ec, tcp::resolver::results_type results) {
    if (ec) {
      return fail_opening(ec);
    }
    stage_ = "connecting";
    beast::get_lowest_layer(ws_).async_connect(
        results, beast::bind_front_handler(&Session::on_connect, shared()));
  }

  void on_connect(error_code ec, const tcp::endpoint&) {
    if (ec) {
      return fail_opening(ec);
    }
    if (proxy_) {
      do_proxy_connect();
    } else {
      do_tls_handshake();
    }
  }

  void do_proxy_connect() {
    stage_ = "asking the proxy to connect";
    proxy_request_ = {bhttp::verb::connect, target_.authority(true), 11};
    proxy_request_.set(bhttp::field::host, target_.authority(true));
    bhttp::async_write(beast::get_lowest_layer(ws_), proxy_request_,
                       beast::bind_front_handler(&Session::on_proxy_request, shared()));
  }

  void on_proxy_request(error_code ec, std::size_t) {
    if (ec) {
      return fail_opening(ec);
    }
    proxy_response_.emplace();
    proxy_response_->skip(true);  // an answer to CONNECT has no body
    bhttp::async_read(beast::get_lowest_layer(ws_), proxy_buffer_, *proxy_response_,
                      beast::bind_front_handler(&Session::on_proxy_response, shared()));
  }

  void on_proxy_response(error_code ec, std::size_t) {
    if (ec) {
      return fail_opening(ec);
    }
    const unsigned status = proxy_response_->get().result_int();
    if (status / 100 != 2) {
      return fail_opening("the proxy refused to connect with HTTP " + std::to_string(status));
    }
    do_tls_handshake();
  }

  void do_tls_handshake() {
    if constexpr (kTls) {
      stage_ = "TLS handshake";
      auto& tls_stream = ws_.next_layer();
      // SSL_set_tlsext_host_name, spelled out: the macro casts C-style.
      if (SSL_ctrl(tls_stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                   TLSEXT_NAMETYPE_host_name,
                   static_cast<void*>(const_cast<char*>(target_.host.c_str()))) != 1) {
        return fail_opening("cannot set the TLS server name");
      }
      tls_stream.set_verify_mode(asio::ssl::verify_peer);
      tls_stream.set_verify_callback(asio::ssl::host_name_verification(target_.host));
      tls_stream.async_handshake(asio::ssl::stream_base::client,
                                 beast::bind_front_handler(&Session::on_tls_handshake, shared()));
    } else {
      do_handshake();
    }
  }

  void on_tls_handshake(error_code ec) {
    if (ec) {
      return fail_opening(ec);
    }
    do_handshake();
  }

  void do_handshake() {
    stage_ = "WebSocket upgrade";
    // The websocket stream keeps its own time from here on.
    beast::get_lowest_layer(ws_).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    // Our deadline bounds the upgrade; suggested() for a client sends no pings, and
    // a dead peer behind a NAT would otherwise hold the socket for ever.
    timeouts.handshake_timeout = websocket::stream_base::none();
    timeouts.idle_timeout = options.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(options.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [headers = options.headers](websocket::request_type& request) {
          request.set(bhttp::field::user_agent, "haverid/0.1");
          for (const auto& [name, value] : headers) {
            request.set(name, value);
          }
        }));
    const bool default_port = target_.port == (kTls ? "443" : "80");
    ws_.async_handshake(target_.authority(!default_port), target_.target,
                        beast::bind_front_handler(&Session::on_handshake, shared()));
  }

  void on_handshake(error_code ec) {
    if (ec) {
      return fail_opening(ec);
    }
    deadline_.cancel();
    {
      std::lock_guard lock(state_mutex);
      if (phase == Phase::connecting) {
        phase = close_requested ? Phase::closing : Phase::open;
      }
    }
    emit_opened();
    do_read();
    pump();
  }

  void do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&Session::on_read, shared()));
  }

  void on_read(error_code ec, std::size_t) {
    // While our close handshake runs, Beast ends the read this way; on_close reports.
    if (ec == asio::error::operation_aborted && closing_) {
      return;
    }
    if (ec) {
      return finish(ec);
    }
    if (ws_.got_text()) {
      emit_message(beast::buffers_to_string(buffer_.data()));
    }
    buffer_.consume(buffer_.size());
    do_read();
  }

  void do_write(std::string text) {
    writing_ = true;
    writing_text_ = std::move(text);
    ws_.text(true);
    ws_.async_write(asio::buffer(writing_text_),
                    beast::bind_front_handler(&Session::on_write, shared()));
  }

  void on_write(error_code ec, std::size_t) {
    writing_ = false;
    writing_text_.clear();
    if (ec) {
      return finish(ec);
    }
    pump();
  }

  void do_close() {
    closing_ = true;
    ws_.async_close(websocket::close_code::normal,
                    beast::bind_front_handler(&Session::on_close, shared()));
  }

  void on_close(error_code ec) { finish(ec ? ec : error_code(websocket::error::closed)); }

  void fail_opening(error_code ec) {
    if (timed_out_) {
      return fail_opening("timed out after " + std::to_string(options.timeout.count()) + " ms (" +
                          stage_ + ")");
    }
    if (ec == asio::error::operation_aborted && close_requested_now()) {
      return fail_opening("closed before it opened");
    }
    fail_opening(stage_ + ": " + ec.message());
  }

  void fail_opening(const std::string& why) {
    cut();
    emit_closed(0, {}, where() + ": " + why);
  }

  void finish(error_code ec) {
    deadline_.cancel();
    if (ec == websocket::error::closed) {
      const websocket::close_reason& reason = ws_.reason();
      emit_closed(reason.code, std::string(reason.reason.data(), reason.reason.size()), {});
      return;
    }
    std::string why;
    if (ec == websocket::error::message_too_big) {
      why = "an incoming message is over " + std::to_string(options.max_message_bytes) + " bytes";
    } else if (ec == beast::error::timeout) {
      why = "no answer to a ping within " + std::to_string(options.idle_timeout.count()) + " ms";
    } else {
      why = ec.message();
    }
    cut();
    emit_closed(0, {}, where() + ": " + why);
  }

  const Endpoint target_;
  const std::optional<Endpoint> proxy_;
  asio::ssl::context tls_;  // before ws_, which refers to it
  tcp::resolver resolver_;
  asio::steady_timer deadline_;  // bounds the whole opening
  Stream ws_;
  beast::flat_buffer buffer_;
  std::string writing_text_;  // the message being written; the queue holds the rest
  bool writing_ = false;
  bool closing_ = false;
  bool timed_out_ = false;
  std::string stage_ = "starting";
  bhttp::request<bhttp::empty_body> proxy_request_;
  std::optional<bhttp::response_parser<bhttp::empty_body>> proxy_response_;
  beast::flat_buffer proxy_buffer_;
};

// A connection that could not even start: reports its one event like any other.
class Refused final : public WebSocketClient::Impl {
 public:
  Refused(asio::io_context& io, WebSocketOptions opts, WebSocketEvents handlers, std::string why)
      : Impl(io, std::move(opts), std::move(handlers)), why_(std::move(why)) {}
  void start() override {
    asio::post(strand, [self = shared_from_this(), this] { emit_closed(0, {}, why_); });
  }
  void pump() override {}
  void cut() override {}

 private:
  std::string why_;
};

}  // namespace

std::string WebSocketClient::check_url(const std::string& url) {
  std::string why;
  parse_endpoint(url, false, why);
  return why;
}

std::shared_ptr<WebSocketClient> WebSocketClient::open(asio::io_context& io,
                                                       WebSocketOptions options,
                                                       WebSocketEvents events) {
  std::string why;
  std::shared_ptr<Impl> impl;
  auto target = parse_endpoint(options.url, false, why);
  std::optional<Endpoint> proxy;
  if (target && !options.proxy.empty()) {
    proxy = parse_endpoint(options.proxy, true, why);
    if (!proxy) {
      why = "proxy: " + why;
    }
  }
  if (!target || (!options.proxy.empty() && !proxy)) {
    impl = std::make_shared<Refused>(io, std::move(options), std::move(events), why);
  } else if (target->tls) {
    impl = std::make_shared<Session<true>>(io, std::move(options), std::move(events),
                                           std::move(*target), std::move(proxy));
  } else {
    impl = std::make_shared<Session<false>>(io, std::move(options), std::move(events),
                                            std::move(*target), std::move(proxy));
  }
  impl->start();
  return std::shared_ptr<WebSocketClient>(new WebSocketClient(std::move(impl)));
}

WebSocketClient::SendResult WebSocketClient::send(std::string text) {
  if (text.size() > impl_->options.max_message_bytes) {
    return SendResult::too_large;
  }
  {
    std::lock_guard lock(impl_->state_mutex);
    if (impl_->close_requested || impl_->phase == Impl::Phase::closing ||
        impl_->phase == Impl::Phase::closed) {
      return SendResult::closed;
    }
    if (impl_->outbox.size() >= impl_->options.max_queued_messages) {
      return SendResult::queue_full;
    }
    impl_->outbox.push_back(std::move(text));
  }
  asio::post(impl_->strand, [impl = impl_] { impl->pump(); });
  return SendResult::queued;
}

bool WebSocketClient::close() {
  {
    std::lock_guard lock(impl_->state_mutex);
    if (impl_->close_requested || impl_->phase == Impl::Phase::closed) {
      return false;
    }
    impl_->close_requested = true;
    if (impl_->phase == Impl::Phase::open) {
      impl_->phase = Impl::Phase::closing;
    }
  }
  asio::post(impl_->strand, [impl = impl_] { impl->pump(); });
  return true;
}

void WebSocketClient::abort() {
  {
    std::lock_guard lock(impl_->events_mutex);
    impl_->events = {};
  }
  {
    std::lock_guard lock(impl_->state_mutex);
    impl_->phase = Impl::Phase::closed;
    impl_->outbox.clear();
  }
  asio::post(impl_->strand, [impl = impl_] { impl->cut(); });
}

WebSocketClient::~WebSocketClient() = default;

}  // namespace haveri::http
