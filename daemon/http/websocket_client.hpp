#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace haveri::http {

struct WebSocketOptions {
  std::string url;  // ws://host[:port]/path or wss://…
  // Added to the upgrade request (e.g. authorization); values are never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  // Bounds resolving, connecting, the proxy's CONNECT, TLS and the upgrade together.
  std::chrono::milliseconds timeout{10000};
  // "http://proxy.example:3128": tunnel through an HTTP proxy with CONNECT; empty: direct.
  std::string proxy;
  // An incoming message longer than this closes the connection (an error).
  std::size_t max_message_bytes = std::size_t{4} * 1024 * 1024;
  // Messages waiting to be written at most; send() refuses more.
  std::size_t max_queued_messages = 1024;
  // Once open, a ping goes out after half of this without traffic, and the
  // connection is dropped when nothing came back for all of it.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // PEM file of CAs trusted besides the system's (wss); empty: the system's only.
  std::filesystem::path ca_file;
};

// What a connection reports, in this order: `opened` at most once, then
// `message` for each text message, then `closed` exactly once — also when it never
// opened — and nothing after it.
struct WebSocketEvents {
  std::function<void()> opened;
  std::function<void(std::string text)> message;
  // `code`: the close frame's code (1000…4999) with its `reason`; 0 when there was
  // no close frame (connect failure, timeout, oversized message, cut off), with
  // `error` saying why and naming host:port.
  std::function<void(unsigned code, std::string reason, std::string error)> closed;
};

// A WebSocket client connection (Boost.Beast): ws:// and wss:// (TLS verified
// against the system's CAs and the optional CA file, SNI, host name checked), extra
// headers on the upgrade, an optional HTTP CONNECT proxy, keep-alive pings, a cap on
// incoming messages, and an ordered, bounded queue of outgoing text messages.
//
// Threads: open(), send(), close() and abort() from any thread. Events run on the
// connection's own strand of `io`, never inside a call to this class; callers post
// them to where they work. The connection lives until `closed` was reported (or it
// was aborted) even if the caller drops its pointer.
class WebSocketClient {
 public:
  enum class SendResult {
    queued,     // will be written, after everything queued before it
    closed,     // closing or closed: not sent
    too_large,  // over max_message_bytes
    queue_full  // max_queued_messages are waiting
  };

  // Starts connecting at once. A malformed URL is reported through `closed` (code 0)
  // like any other failure.
  static std::shared_ptr<WebSocketClient> open(boost::asio::io_context& io,
                                               WebSocketOptions options, WebSocketEvents events);

  // Why `url` cannot be opened (not ws:// or wss://, no host), or empty.
  static std::string check_url(const std::string& url);

  // Accepted from open() until close(): what is queued before the connection opened
  // is written once it has.
  SendResult send(std::string text);
  // Sends a close frame (1000) after the queued messages, then `closed` follows.
  // False when it was already closing or closed.
  bool close();
  // Stops at once without any further event (for shutdown): the socket is closed on
  // the strand if `io` still runs, else when `io` is destroyed.
  void abort();

  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  struct Impl;

 private:
  explicit WebSocketClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::http
