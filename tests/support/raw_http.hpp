#pragma once
// Test support: an HTTP/1.1 client on a plain socket that sends exactly the bytes
// (and the pauses) a test tells it to, slow or hostile clients included, over
// keep-alive connections. Every read is bounded. Loopback only.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace haveri::testing {

using RawClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A read's bound when the caller gives none.
inline constexpr milliseconds kRawWait{5000};

struct RawResponse {
  std::string status_line;
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

// A client socket that sends exactly what it is told. Every read is bounded.
class RawClient {
 public:
  // Connects to 127.0.0.1:port; `receive_buffer` > 0 shrinks SO_RCVBUF first.
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed, as haverid always sends), or nullopt
  // when the connection ends or `limit` passes first; received() then holds what came
  // of a response that was cut short (empty when nothing did).
  std::optional<RawResponse> read_response(milliseconds limit = kRawWait) {
    const auto deadline = RawClock::now() + limit;
    std::size_t header_end = std::string::npos;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) {
        return std::nullopt;
      }
    }
    RawResponse response;
    const std::string head = pending_.substr(0, header_end);
    std::size_t line_end = head.find("\r\n");
    response.status_line = head.substr(0, line_end);
    if (response.status_line.size() >= 12) {
      response.status = std::stoi(response.status_line.substr(9, 3));
    }
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) {
        continue;
      }
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[name] = value;
    }
    pending_.erase(0, header_end + 4);
    const std::size_t length = std::stoul(
        response.header("content-length").empty() ? "0" : response.header("content-length"));
    while (pending_.size() < length) {
      if (!fill(deadline)) {
        return std::nullopt;
      }
    }
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  // Waits (bounded) until the server closes the connection: true on end of stream
  // or reset. Whatever arrives meanwhile is kept (see received()).
  bool await_close(milliseconds limit = kRawWait) {
    const auto deadline = RawClock::now() + limit;
    while (RawClock::now() < deadline) {
      if (!fill(deadline)) {
        return ended_;
      }
    }
    return false;
  }

  // Whether bytes (or the end) are ready now, without reading them.
  bool readable_now() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  const std::string& received() const { return pending_; }
  std::size_t received_total() const { return received_total_; }

 private:
  // Reads what arrives before `deadline`; false on end, reset or deadline.
  bool fill(RawClock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - RawClock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      ended_ = true;
      return false;
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
    received_total_ += static_cast<std::size_t>(n);
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool ended_ = false;
  std::string pending_;
  std::size_t received_total_ = 0;
};

}  // namespace haveri::testing
