#pragma once
// Test support: a stand-in for systemd's notification socket. A real AF_UNIX
// datagram socket, bound at a path or in the abstract namespace, that receives what a
// service sends to $NOTIFY_SOCKET together with the sender's pid (SO_PASSCRED), as
// systemd does. Every wait is bounded.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace haveri::testing {

// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= carries it.
inline std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

// One datagram: newline-separated assignments.
struct Notification {
  std::string text;
  pid_t sender = 0;
  std::chrono::steady_clock::time_point received;

  std::vector<std::string> lines() const {
    std::vector<std::string> all;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      if (end > start) {
        all.push_back(text.substr(start, end - start));
      }
      start = end + 1;
    }
    return all;
  }
  // Whether one of the lines is exactly `assignment` ("READY=1").
  bool has(std::string_view assignment) const {
    const auto all = lines();
    return std::find(all.begin(), all.end(), assignment) != all.end();
  }
  // The value assigned to `name` ("STATUS"), if any.
  std::optional<std::string> value(std::string_view name) const {
    const std::string prefix = std::string(name) + "=";
    for (const auto& line : lines()) {
      if (line.starts_with(prefix)) {
        return line.substr(prefix.size());
      }
    }
    return std::nullopt;
  }
};

class FakeNotifySocket {
 public:
  // Bound at `path` (which must not exist).
  static FakeNotifySocket at_path(const std::filesystem::path& path) {
    return FakeNotifySocket(path.string(), false);
  }
  // Bound in the abstract namespace under a name no other test uses.
  static FakeNotifySocket abstract() {
    static std::atomic<int> counter{0};
    return FakeNotifySocket(
        "@haveri-test-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++counter),
        true);
  }

  FakeNotifySocket(FakeNotifySocket&& other) noexcept
      : fd_(other.fd_), address_(std::move(other.address_)), path_(std::move(other.path_)) {
    other.fd_ = -1;
    other.path_.clear();
  }
  FakeNotifySocket& operator=(FakeNotifySocket&&) = delete;
  FakeNotifySocket(const FakeNotifySocket&) = delete;
  FakeNotifySocket& operator=(const FakeNotifySocket&) = delete;
  ~FakeNotifySocket() { close(); }

  // The value for $NOTIFY_SOCKET.
  const std::string& address() const { return address_; }

  // Closes the socket and removes its path: the service's next send fails.
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
      path_.clear();
    }
  }

  // The next datagram, waiting at most `limit` (0: only one already queued).
  std::optional<Notification> receive(std::chrono::milliseconds limit) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(limit.count())) <= 0) {
      return std::nullopt;
    }
    char buffer[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec part{buffer, sizeof buffer};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t size = ::recvmsg(fd_, &message, MSG_DONTWAIT);
    if (size < 0) {
      return std::nullopt;
    }
    Notification notification;
    notification.text.assign(buffer, static_cast<std::size_t>(size));
    notification.received = std::chrono::steady_clock::now();
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS) {
        ucred credentials{};
        std::memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
        notification.sender = credentials.pid;
      }
    }
    return notification;
  }

  // Receives until a datagram has `assignment`, for at most `limit` in all. Every
  // datagram received on the way, that one included, is appended to `seen`.
  std::optional<Notification> await(std::string_view assignment, std::chrono::milliseconds limit,
                                    std::vector<Notification>* seen = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto next = receive(std::max(left, std::chrono::milliseconds(0)));
      if (!next) {
        return std::nullopt;
      }
      if (seen != nullptr) {
        seen->push_back(*next);
      }
      if (next->has(assignment)) {
        return next;
      }
    }
  }

  // Every datagram already queued.
  std::vector<Notification> drain() {
    std::vector<Notification> all;
    while (auto next = receive(std::chrono::milliseconds(0))) {
      all.push_back(std::move(*next));
    }
    return all;
  }

 private:
  FakeNotifySocket(std::string address, bool abstract) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      throw std::runtime_error("cannot create a datagram socket");
    }
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    sockaddr_un bound{};
    bound.sun_family = AF_UNIX;
    if (address_.size() >= sizeof bound.sun_path) {
      throw std::runtime_error("socket address too long: " + address_);
    }
    std::memcpy(bound.sun_path, address_.data(), address_.size());
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (abstract) {
      bound.sun_path[0] = '\0';
    } else {
      length += 1;
      path_ = address_;
    }
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&bound), length) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("cannot bind " + address_ + ": " + reason);
    }
  }

  int fd_ = -1;
  std::string address_;
  std::string path_;  // removed on close(); empty for an abstract socket
};

}  // namespace haveri::testing
