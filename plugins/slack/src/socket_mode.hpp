#pragma once
// Slack Socket Mode (https://api.slack.com/apis/socket-mode): instead of Slack
// posting to a public URL, the app opens a WebSocket (URL from
// apps.connections.open, app-level token) and Slack sends "envelopes" over it; each
// must be acknowledged with {"envelope_id": …} — and Slack delivers it again when
// no acknowledgement comes. We acknowledge only once what an envelope carries is
// durable, so a crash loses nothing; repeats are recognised by idempotency keys.
//
// Connections are replaced before they go: on a "disconnect" message (Slack
// refreshes connections every few hours and warns first) a new connection is
// opened, and the old one is closed only once the new one said "hello". A
// connection that breaks is reopened with exponential backoff and jitter.
//
// Runs on: the plugin instance's serialised context.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

#include "web_api.hpp"

namespace haveri::slack {

class SocketMode {
 public:
  // One envelope ({"envelope_id","type","payload","accepts_response_payload",
  // "retry_attempt",…}) that arrived on connection `socket_id`.
  using EnvelopeHandler = std::function<void(const nlohmann::json& envelope, std::uint64_t socket)>;

  struct Options {
    std::string proxy;                         // "" or http://host:port
    std::uint64_t connect_timeout_ms = 10000;  // connect + WebSocket handshake
    std::uint64_t hello_timeout_ms = 15000;    // from the handshake to "hello"
    std::uint64_t first_backoff_ms = 1000;
    std::uint64_t max_backoff_ms = 60000;
  };

  // Timer ids this object uses: kTimerBase and a few above it.
  static constexpr std::uint64_t kTimerBase = 1000;

  SocketMode(sdk::Host host, SlackWebApi& api, Options options, EnvelopeHandler on_envelope);

  // Opens the first connection (and keeps one open until stop()).
  void start();
  // Closes every connection and stops reconnecting.
  void stop();

  // Acknowledges an envelope, with a response payload when given (a view
  // submission's field errors). Sent on the connection it came on, or on the live
  // one if that is gone; dropped when none is open (Slack will deliver it again).
  void acknowledge(std::uint64_t socket, const std::string& envelope_id,
                   const nlohmann::json* payload = nullptr);

  void on_websocket_event(std::uint64_t socket, int event, std::string_view data);
  bool on_timer(std::uint64_t timer_id);

  // Connections that said hello and are not being replaced.
  std::size_t live_connections() const;
  // Whether Slack disabled the link (the app's Socket Mode was turned off): no
  // reconnecting until restart.
  bool disabled() const noexcept { return disabled_; }

 private:
  enum class State { connecting, live, draining };
  struct Connection {
    State state = State::connecting;
    bool closing = false;
  };

  void connect();
  void on_connection_url(const ApiOutcome& outcome);
  void on_message(std::uint64_t socket, std::string_view data);
  void schedule_reconnect();
  void close(std::uint64_t socket);
  std::optional<std::uint64_t> live_socket() const;

  static constexpr std::uint64_t kReconnectTimer = kTimerBase;
  static constexpr std::uint64_t kHelloTimerBase = kTimerBase + 1;  // + socket id

  sdk::Host host_;
  SlackWebApi& api_;
  Options options_;
  EnvelopeHandler on_envelope_;
  bool running_ = false;
  bool disabled_ = false;
  bool opening_ = false;  // apps.connections.open or a handshake under way
  bool reconnect_pending_ = false;
  std::uint64_t backoff_ms_ = 0;
  std::uint64_t min_delay_ms_ = 0;  // the next reconnect waits at least this (Retry-After)
  std::uint64_t next_socket_ = 1;
  std::uint64_t random_state_ = 0x9e3779b97f4a7c15ULL;
  std::map<std::uint64_t, Connection> connections_;
};

}  // namespace haveri::slack
