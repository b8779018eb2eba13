#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace haveri::http {

// An HTTP request as handlers see it: no Beast types.
struct Request {
  std::string method;                          // "GET"
  std::string target;                          // "/api/v1/incidents?x=1"
  std::string path;                            // "/api/v1/incidents"
  std::string query;                           // "x=1" (raw, not decoded)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  // The client's X-Request-Id when it is 1–64 characters of [A-Za-z0-9._-], else one
  // the server made up (16 hex digits, unique in this process). The response carries
  // it back as X-Request-Id; log lines about this request say `request=<id>`.
  std::string request_id;

  // A header's value or empty.
  std::string header(const std::string& lower_case_name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response json(unsigned status, std::string body);
  // {"error": message}
  static Response error(unsigned status, const std::string& message);
};

// Sends the response for one request. Call exactly once, from any thread; later
// calls are ignored. Dropping it without calling closes the connection.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Responder)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  // A larger Content-Length, or a chunked body growing past it: 413, then close.
  std::size_t body_limit_bytes = std::size_t{1024} * 1024;
  // The request line and headers must have arrived this long after the request's
  // first byte (a deadline, not a per-byte timeout): else 408, then close.
  std::chrono::milliseconds header_timeout{10'000};
  // The body must have arrived this long after the headers: else 408, then close.
  std::chrono::milliseconds body_timeout{30'000};
  // A connection waiting for the first byte of its first or next request is closed
  // after this long.
  std::chrono::milliseconds idle_timeout{60'000};
  // A response not written (the client does not read) within this long: the
  // connection is cut.
  std::chrono::milliseconds write_timeout{30'000};
  // Connections served at once; beyond it a connection gets 503 with Retry-After and
  // is closed.
  std::size_t max_connections = 256;
};

// What a drain did (HttpServer::drain).
struct DrainReport {
  std::size_t finished = 0;  // requests answered (response fully written) during the drain
  std::size_t cut = 0;       // connections closed at the limit without their answer
};

// Counters for metrics; each read is atomic on its own, not a consistent snapshot.
struct ServerStats {
  std::size_t open_connections = 0;      // being served (refused ones are not counted)
  std::size_t requests_in_flight = 0;    // read, response not yet written
  std::uint64_t requests_total = 0;      // requests read completely and handed to the handler
  std::uint64_t refused_busy_total = 0;  // connections refused because max_connections were open
  std::uint64_t timed_out_total = 0;     // header, body or write timeouts (idle closes are not)
};

// HTTP/1.1 server (Boost.Beast): one session per connection, each read bounded in
// size and time, keep-alive, no pipelining (the next request is read only after the
// response is written). Oversized bodies get 413, slow requests 408, oversized
// headers 431, malformed requests 400, connections beyond max_connections 503; each
// of those closes the connection. HTTP/1.0 without keep-alive and `Connection: close`
// close after the response.
// Runs on: the io_context's threads (a strand per connection); every public function
// from any thread.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerOptions options, Handler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Throws std::runtime_error naming the address and
  // the cause ("127.0.0.1:8480: address already in use").
  void start();
  // The bound port (useful when options.port is 0).
  std::uint16_t port() const;
  // Stops accepting new connections; sessions finish their current exchange.
  void stop();

  // Stops accepting (as stop()) and winds the open connections down:
  // - connections waiting for a request's first byte are closed at once;
  // - a request already arriving is read, and every request read is answered; its
  //   response carries `Connection: close` and the connection closes after it;
  // - once no connection is open, or when `limit` has passed (the rest are then
  //   closed, unanswered), `done` runs once on the io_context with what happened.
  // Call while the io_context runs (everything here is posted to it). A second
  // drain() while one runs is ignored (its `done` never runs); see cut_drain().
  void drain(std::chrono::milliseconds limit, std::function<void(DrainReport)> done);
  // Ends a running drain now, as if its limit had passed. Nothing without a drain.
  void cut_drain();

  ServerStats stats() const;

  struct Impl;  // public so the session type in the .cpp can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::http
