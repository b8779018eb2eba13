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
  std::size_t body_limit_bytes = std::size_t{1024} * 1024;
  std::chrono::seconds read_timeout{15};
  std::size_t max_connections = 256;
};

// HTTP/1.1 server (Boost.Beast): one session per connection, each read bounded in
// size and time, keep-alive, no pipelining (the next request is read only after
// the response is written). Oversized bodies get 413, malformed requests 400,
// connections beyond max_connections 503.
// Runs on: the io_context's threads; start/stop from any thread.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Throws std::runtime_error naming the address and
  // the cause ("127.0.0.1:8480: address already in use").
  void start();
  // The bound port (useful when options.port is 0).
  std::uint16_t port() const;
  // Stops accepting new connections; sessions finish their current exchange.
  void stop();

  struct Impl;  // public so the session type in the .cpp can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::http
