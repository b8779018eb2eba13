#include "blocking_client.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

namespace haveri::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint64_t kMaxResponseBodyBytes = 64ULL * 1024 * 1024;

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

[[noreturn]] void bad_url(const std::string& url, std::string_view why) {
  throw std::invalid_argument("invalid URL \"" + url + "\": " + std::string(why) +
                              " (expected http://host:port[/prefix])");
}

std::string authority(const BaseUrl& base) {
  const bool ipv6 = base.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + base.host + "]" : base.host) + ":" + std::to_string(base.port);
}

// Runs the io_context until the one pending operation has finished. Timeouts come
// from tcp_stream::expires_after, which only applies to asynchronous operations —
// that is why this "blocking" client drives async calls on a private io_context.
void run_one_operation(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

}  // namespace

BaseUrl parse_base_url(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  const std::string_view text = url;
  if (text.starts_with("https://")) {
    throw std::invalid_argument("invalid URL \"" + url +
                                "\": https is not supported by this client; haverictl talks to "
                                "haverid on loopback");
  }
  if (!text.starts_with(kHttp)) {
    bad_url(url, "it does not start with http://");
  }
  std::string_view rest = text.substr(kHttp.size());
  if (rest.find_first_of("?#@ \t") != std::string_view::npos) {
    bad_url(url, "query, fragment, credentials and spaces are not allowed");
  }
  const std::size_t slash = rest.find('/');
  const std::string_view host_port = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

  BaseUrl base;
  std::string_view port_text;
  if (host_port.starts_with('[')) {  // [::1]:8480
    const std::size_t close = host_port.find(']');
    if (close == std::string_view::npos || close == 1) {
      bad_url(url, "unterminated IPv6 address");
    }
    base.host = std::string(host_port.substr(1, close - 1));
    const std::string_view after = host_port.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        bad_url(url, "expected :port after the IPv6 address");
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        bad_url(url, "empty port");
      }
    }
    if (!std::all_of(base.host.begin(), base.host.end(), [](char c) {
          return c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                 (c >= 'A' && c <= 'F');
        })) {
      bad_url(url, "malformed IPv6 address");
    }
  } else {
    const std::size_t colon = host_port.find(':');
    base.host = std::string(host_port.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = host_port.substr(colon + 1);
      if (port_text.empty()) {
        bad_url(url, "empty port");
      }
    }
    if (base.host.empty()) {
      bad_url(url, "no host");
    }
    if (!std::all_of(base.host.begin(), base.host.end(), is_host_char)) {
      bad_url(url, "the host may only contain letters, digits, '.', '-' and '_'");
    }
  }

  base.port = 80;
  if (!port_text.empty()) {
    unsigned long port = 0;
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
      bad_url(url, "the port must be a number from 1 to 65535");
    }
    port = std::stoul(std::string(port_text));
    if (port == 0 || port > 65535) {
      bad_url(url, "the port must be a number from 1 to 65535");
    }
    base.port = static_cast<std::uint16_t>(port);
  }

  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  base.path_prefix = std::string(path);
  return base;
}

BlockingClient::BlockingClient(BaseUrl base, std::chrono::milliseconds timeout)
    : base_(std::move(base)), timeout_(timeout) {}

ClientResponse BlockingClient::request(const std::string& method, const std::string& target,
                                       const std::string& body, const std::string& content_type,
                                       const std::map<std::string, std::string>& headers) const {
  const std::string full_target =
      base_.path_prefix + (target.empty() || target.front() != '/' ? "/" + target : target);
  const std::string where = method + " http://" + authority(base_) + full_target;
  const auto fail = [&](std::string_view step, const beast::error_code& ec) -> ClientError {
    const std::string cause = ec == beast::error::timeout
                                  ? "timed out after " + std::to_string(timeout_.count()) + " ms"
                                  : ec.message();
    return ClientError(where + ": " + std::string(step) + ": " + cause);
  };

  bhttp::request<bhttp::string_body> req;
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) {
    throw ClientError(where + ": unknown HTTP method");
  }
  req.method(verb);
  req.target(full_target);
  req.version(11);
  req.set(bhttp::field::host, authority(base_));
  req.set(bhttp::field::user_agent, "haverictl");
  req.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  if (!body.empty() || !content_type.empty()) {
    req.set(bhttp::field::content_type,
            content_type.empty() ? std::string("application/octet-stream") : content_type);
  }
  req.body() = body;
  req.prepare_payload();

  asio::io_context ioc;
  beast::error_code ec;

  // Resolve (numeric addresses resolve at once; names go through the system resolver).
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(base_.host, std::to_string(base_.port),
                         [&](const beast::error_code& e, tcp::resolver::results_type results) {
                           ec = e;
                           endpoints = std::move(results);
                         });
  ioc.restart();
  ioc.run_for(timeout_);
  if (!ioc.stopped()) {
    resolver.cancel();
    run_one_operation(ioc);
    ec = beast::error::timeout;
  }
  if (ec) {
    throw fail("resolve", ec);
  }

  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout_);
  stream.async_connect(endpoints,
                       [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
  run_one_operation(ioc);
  if (ec) {
    throw fail("connect", ec);
  }

  stream.expires_after(timeout_);
  bhttp::async_write(stream, req, [&](const beast::error_code& e, std::size_t) { ec = e; });
  run_one_operation(ioc);
  if (ec) {
    throw fail("send", ec);
  }

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBodyBytes);
  stream.expires_after(timeout_);
  bhttp::async_read(stream, buffer, parser,
                    [&](const beast::error_code& e, std::size_t) { ec = e; });
  run_one_operation(ioc);
  if (ec == bhttp::error::body_limit) {
    throw ClientError(where + ": response body larger than 64 MiB");
  }
  if (ec) {
    throw fail("read", ec);
  }

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  const auto& res = parser.get();
  ClientResponse response;
  response.status = static_cast<int>(res.result_int());
  response.content_type = std::string(res[bhttp::field::content_type]);
  response.body = res.body();
  return response;
}

}  // namespace haveri::http
