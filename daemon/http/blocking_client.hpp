#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace haveri::http {

// A parsed http://host:port base URL. Only plain HTTP: this client talks to
// haverid on loopback (haverictl, tests), never to the internet.
struct BaseUrl {
  std::string host;
  std::uint16_t port = 0;
  std::string path_prefix;  // without trailing slash; usually empty
};

// Throws std::invalid_argument naming the URL and what is wrong with it.
BaseUrl parse_base_url(const std::string& url);

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Thrown when the server cannot be reached or the exchange breaks off; the
// message names the address and the cause ("connect 127.0.0.1:8480: refused").
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One-request-per-connection synchronous HTTP/1.1 client (Boost.Beast inside).
class BlockingClient {
 public:
  explicit BlockingClient(BaseUrl base,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // `target` is the path and query ("/api/v1/incidents"). Extra headers are sent
  // as given (e.g. {"authorization", "Bearer …"}).
  ClientResponse request(const std::string& method, const std::string& target,
                         const std::string& body = {}, const std::string& content_type = {},
                         const std::map<std::string, std::string>& headers = {}) const;

  ClientResponse get(const std::string& target,
                     const std::map<std::string, std::string>& headers = {}) const {
    return request("GET", target, {}, {}, headers);
  }

 private:
  BaseUrl base_;
  std::chrono::milliseconds timeout_;
};

}  // namespace haveri::http
