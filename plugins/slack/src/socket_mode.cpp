#include "socket_mode.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace haveri::slack {

namespace {
using json = nlohmann::json;

// Hello timers are keyed by socket id above kHelloTimerBase; socket ids stay far
// below the Web API's timer range.
constexpr std::uint64_t kMaxSocketId = std::uint64_t{1} << 32;
}  // namespace

SocketMode::SocketMode(sdk::Host host, SlackWebApi& api, Options options,
                       EnvelopeHandler on_envelope)
    : host_(host), api_(api), options_(std::move(options)), on_envelope_(std::move(on_envelope)) {
  random_state_ ^=
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

void SocketMode::start() {
  running_ = true;
  connect();
}

void SocketMode::stop() {
  running_ = false;
  host_.cancel_timer(kReconnectTimer);
  for (auto& [socket, connection] : connections_) {
    if (!connection.closing) {
      connection.closing = true;
      host_.websocket_close(socket);
    }
  }
}

void SocketMode::connect() {
  if (!running_ || disabled_ || opening_) {
    return;
  }
  opening_ = true;
  api_.call(
      "apps.connections.open", json::object(),
      [this](const ApiOutcome& outcome) { on_connection_url(outcome); }, SlackWebApi::Token::app);
}

void SocketMode::on_connection_url(const ApiOutcome& outcome) {
  if (!running_) {
    opening_ = false;
    return;
  }
  const auto url = outcome.response.find("url");
  if (!outcome.ok() || url == outcome.response.end() || !url->is_string()) {
    opening_ = false;
    min_delay_ms_ = outcome.retry_after_ms;  // Slack's Retry-After, when it sent one
    host_.log(outcome.kind == ApiOutcome::Kind::permanent ? HAVERI_LOG_ERROR : HAVERI_LOG_WARN,
              "Socket Mode: apps.connections.open failed: " +
                  (outcome.error.empty() ? std::string("no url in the answer") : outcome.error) +
                  (outcome.error == "invalid_auth" || outcome.error == "not_authed"
                       ? " (check app_token: an app-level token xapp-… with connections:write)"
                       : ""));
    schedule_reconnect();
    return;
  }
  const std::uint64_t socket = next_socket_++;
  if (next_socket_ >= kMaxSocketId) {
    next_socket_ = 1;
  }
  json request = {
      {"v", 1}, {"url", url->get<std::string>()}, {"timeout_ms", options_.connect_timeout_ms}};
  if (!options_.proxy.empty()) {
    request["proxy"] = options_.proxy;
  }
  if (host_.websocket_open(socket, request.dump()) != HAVERI_OK) {
    opening_ = false;
    host_.log(HAVERI_LOG_ERROR, "Socket Mode: the host refused to open a WebSocket");
    schedule_reconnect();
    return;
  }
  connections_.emplace(socket, Connection{});
}

void SocketMode::schedule_reconnect() {
  if (!running_ || disabled_ || reconnect_pending_) {
    return;
  }
  backoff_ms_ = backoff_ms_ == 0 ? options_.first_backoff_ms
                                 : std::min(backoff_ms_ * 2, options_.max_backoff_ms);
  // Full jitter in the upper half: replicas that lost Slack together do not come
  // back in step.
  random_state_ ^= random_state_ << 13;
  random_state_ ^= random_state_ >> 7;
  random_state_ ^= random_state_ << 17;
  const std::uint64_t delay =
      std::max(backoff_ms_ / 2 + random_state_ % (backoff_ms_ / 2 + 1), min_delay_ms_);
  min_delay_ms_ = 0;
  reconnect_pending_ = host_.set_timer(kReconnectTimer, delay) == HAVERI_OK;
  if (reconnect_pending_) {
    host_.log(HAVERI_LOG_INFO, "Socket Mode: reconnecting in " + std::to_string(delay) + " ms");
  } else {
    host_.log(HAVERI_LOG_ERROR,
              "Socket Mode: the host refused the reconnect timer; reconnecting on the next "
              "event");
  }
}

void SocketMode::close(std::uint64_t socket) {
  const auto it = connections_.find(socket);
  if (it != connections_.end() && !it->second.closing) {
    it->second.closing = true;
    host_.websocket_close(socket);
  }
}

std::optional<std::uint64_t> SocketMode::live_socket() const {
  std::optional<std::uint64_t> newest;
  for (const auto& [socket, connection] : connections_) {
    if (connection.state == State::live && !connection.closing) {
      newest = socket;
    }
  }
  return newest;
}

std::size_t SocketMode::live_connections() const {
  return static_cast<std::size_t>(
      std::count_if(connections_.begin(), connections_.end(), [](const auto& entry) {
        return entry.second.state == State::live && !entry.second.closing;
      }));
}

void SocketMode::acknowledge(std::uint64_t socket, const std::string& envelope_id,
                             const json* payload) {
  json ack = {{"envelope_id", envelope_id}};
  if (payload != nullptr && !payload->is_null()) {
    ack["payload"] = *payload;
  }
  const std::string text = ack.dump(-1, ' ', false, json::error_handler_t::replace);
  const auto it = connections_.find(socket);
  if (it != connections_.end() && !it->second.closing &&
      host_.websocket_send(socket, text) == HAVERI_OK) {
    return;
  }
  if (const auto live = live_socket(); live && host_.websocket_send(*live, text) == HAVERI_OK) {
    return;
  }
  host_.log(HAVERI_LOG_WARN, "Socket Mode: no open connection to acknowledge envelope " +
                                 envelope_id + "; Slack will deliver it again");
}

void SocketMode::on_websocket_event(std::uint64_t socket, int event, std::string_view data) {
  const auto it = connections_.find(socket);
  if (it == connections_.end()) {
    return;
  }
  switch (event) {
    case HAVERI_WS_OPENED:
      host_.set_timer(kHelloTimerBase + socket, options_.hello_timeout_ms);
      return;
    case HAVERI_WS_MESSAGE:
      on_message(socket, data);
      return;
    case HAVERI_WS_CLOSED: {
      const bool was_opening = it->second.state == State::connecting;
      host_.cancel_timer(kHelloTimerBase + socket);
      connections_.erase(it);
      if (was_opening) {
        opening_ = false;
      }
      host_.log(running_ ? HAVERI_LOG_INFO : HAVERI_LOG_DEBUG,
                "Socket Mode: connection " + std::to_string(socket) +
                    " closed: " + std::string(data.substr(0, 200)));
      // Stay connected: unless a replacement is live or on its way, open another.
      if (running_ && !live_socket() && !opening_) {
        schedule_reconnect();
      }
      return;
    }
    default:
      return;
  }
}

void SocketMode::on_message(std::uint64_t socket, std::string_view data) {
  const json message = json::parse(data, nullptr, false);
  if (message.is_discarded() || !message.is_object()) {
    host_.log(HAVERI_LOG_WARN, "Socket Mode: a message that is not a JSON object; ignored");
    return;
  }
  const auto type = message.find("type");
  const std::string kind =
      type != message.end() && type->is_string() ? type->get<std::string>() : std::string{};
  if (kind == "hello") {
    Connection& connection = connections_[socket];
    if (connection.state == State::connecting) {
      connection.state = State::live;
      opening_ = false;
      backoff_ms_ = 0;
      host_.cancel_timer(kHelloTimerBase + socket);
    }
    // The new connection carries the traffic now: let the old ones go.
    for (auto& [other, state] : connections_) {
      if (other != socket && state.state != State::connecting) {
        close(other);
      }
    }
    host_.log(HAVERI_LOG_INFO, "Socket Mode: connection " + std::to_string(socket) + " is live");
    return;
  }
  if (kind == "disconnect") {
    const auto reason = message.find("reason");
    const std::string why =
        reason != message.end() && reason->is_string() ? reason->get<std::string>() : "";
    if (why == "link_disabled") {
      disabled_ = true;
      host_.log(HAVERI_LOG_ERROR,
                "Socket Mode: Slack disabled the link (Socket Mode was turned off for the app); "
                "turn it on again and restart haverid");
      close(socket);
      return;
    }
    if (connections_[socket].state == State::connecting) {
      // Not live yet: nothing to hand over; close it and open another.
      close(socket);
      return;
    }
    host_.log(HAVERI_LOG_INFO, "Socket Mode: Slack asks to reconnect (" +
                                   (why.empty() ? std::string("no reason") : why) +
                                   "); opening a new connection first");
    connections_[socket].state = State::draining;
    connect();
    return;
  }
  if (message.contains("envelope_id") && message["envelope_id"].is_string()) {
    on_envelope_(message, socket);
    return;
  }
  host_.log(HAVERI_LOG_DEBUG, "Socket Mode: ignored a message of type \"" + kind + "\"");
}

bool SocketMode::on_timer(std::uint64_t timer_id) {
  if (timer_id == kReconnectTimer) {
    reconnect_pending_ = false;
    connect();
    return true;
  }
  if (timer_id > kHelloTimerBase && timer_id < kHelloTimerBase + kMaxSocketId) {
    const std::uint64_t socket = timer_id - kHelloTimerBase;
    const auto it = connections_.find(socket);
    if (it != connections_.end() && it->second.state == State::connecting) {
      host_.log(HAVERI_LOG_WARN, "Socket Mode: no hello on connection " + std::to_string(socket) +
                                     " in time; trying again");
      close(socket);
    }
    return true;
  }
  return false;
}

}  // namespace haveri::slack
