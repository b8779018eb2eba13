#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace haveri::http {

// One outbound HTTP(S) request. No cpprestsdk or Boost types: the few files that
// send requests need not compile them.
struct OutboundRequest {
  std::string method = "GET";  // any token: GET, POST, PATCH, …
  std::string url;             // http:// or https://, absolute
  // Sent as given (names case-insensitive); values are never logged: they carry
  // bearer tokens.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Bounds the whole exchange: connecting, TLS, sending, the answer and its body.
  std::chrono::milliseconds timeout{10000};
  std::string proxy;  // "http://proxy.example:3128"; empty: connect directly
};

struct OutboundResponse {
  // The HTTP status; 0 when no HTTP answer came (then `error` says why).
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
  // "slack.com:443: timed out after 10000 ms", "127.0.0.1:9: connection refused", …
  // Names host:port and the cause; never a header value or a body.
  std::string error;
};

struct OutboundHttpOptions {
  // A response body longer than this is not read: the answer is status 0 with an error.
  std::size_t max_response_bytes = std::size_t{8} * 1024 * 1024;
  // PEM file of CAs trusted besides the system's; empty: the system's only.
  std::filesystem::path ca_file;
  // Clients kept for connection reuse, one per (scheme, host, port, proxy); the
  // oldest is dropped beyond it (its requests in flight still finish).
  std::size_t max_clients = 64;
};

using OutboundCallback = std::function<void(OutboundResponse)>;

// The daemon's HTTP(S) client (cpprestsdk inside): TLS with certificate and host
// name verification against the system's CAs (plus an optional CA file), an
// optional proxy, connection reuse per destination, a deadline per request and a
// cap on response bodies.
//
// Threads: send() and the destructor from any thread. `done` is called exactly
// once on cpprestsdk's thread pool — never inside send() — so callers post it to
// where they work and must not block in it. Destroying the client abandons calls
// in flight: their callbacks are dropped, never called.
class OutboundHttp {
 public:
  explicit OutboundHttp(OutboundHttpOptions options);
  ~OutboundHttp();
  OutboundHttp(const OutboundHttp&) = delete;
  OutboundHttp& operator=(const OutboundHttp&) = delete;

  // Why `url` cannot be sent (not absolute http(s), no host, malformed), or empty
  // when it can. send() answers such a URL with status 0 and this text.
  static std::string check_url(const std::string& url);

  void send(OutboundRequest request, OutboundCallback done);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::http
