#pragma once
// Slack's Web API (https://api.slack.com/web) called through the host's HTTP service
// (plugin ABI 1.2, host->http_request), paced so that Slack never has to throttle
// us: a budget per method (Slack's tiers are "per method per workspace") and, for
// chat.postMessage, per channel (about one message per second). A 429 stops the
// method until its Retry-After has passed.
//
// Runs on: the plugin instance's serialised context (every call into the instance
// and every host callback arrive there), so it needs no lock.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace haveri::slack {

// What one Web API call came to.
struct ApiOutcome {
  enum class Kind {
    ok,         // HTTP 200 and "ok": true; `response` is Slack's answer
    retryable,  // rate limited, Slack or the network failed: try again later
    permanent,  // Slack said no ("channel_not_found"): trying again will not help
  };
  Kind kind = Kind::permanent;
  nlohmann::json response = nlohmann::json::object();
  std::string error;                 // Slack's code ("name_taken") or what went wrong
  std::uint64_t retry_after_ms = 0;  // retryable: how long to wait (0: caller's backoff)

  bool ok() const noexcept { return kind == Kind::ok; }
};

// Reads one HTTP answer of the Web API. `status` 0 is a transport failure (the
// host's "error" text in `transport_error`). Retryable: status 0, 429 (Retry-After
// honoured, in seconds), 5xx, a body that is not JSON, and ok:false with
// "ratelimited", "internal_error", "fatal_error", "service_unavailable" or
// "request_timeout". Every other ok:false and every other status is permanent.
ApiOutcome interpret_api_answer(int status, const nlohmann::json& headers, std::string_view body,
                                std::string_view transport_error);

// The steady budget of one Web API method: at most `per_minute`, `burst` at once.
struct MethodBudget {
  double per_minute = 20;
  double burst = 5;
};
// Slack's published tier for `method` (Tier 2 for a method we do not know).
MethodBudget budget_of(std::string_view method) noexcept;

struct WebApiSettings {
  std::string base_url = "https://slack.com/api";  // no trailing slash
  std::string bot_token;                           // xoxb-…
  std::string app_token;                           // xapp-… (Socket Mode only)
  std::string proxy;                               // "" or http://host:port
  std::uint64_t timeout_ms = 10000;
  // A call that would have to wait longer than this for its budget is not queued:
  // it fails at once as retryable, so that the host's outbox backs off instead.
  std::uint64_t max_pacing_wait_ms = 5000;
  // Calls waiting for budget, at most; beyond it they fail as retryable.
  std::size_t max_waiting_calls = 1000;
};

class SlackWebApi {
 public:
  using Done = std::function<void(ApiOutcome)>;
  using SteadyMs = std::function<std::int64_t()>;  // a steady clock in milliseconds
  enum class Token { bot, app };

  // Timer ids this object uses are at or above kTimerBase (the rest are the
  // plugin's).
  static constexpr std::uint64_t kTimerBase = std::uint64_t{1} << 40;

  SlackWebApi(sdk::Host host, WebApiSettings settings, SteadyMs now_ms = {});

  // Calls `method` with `args` as a JSON body; `done` is called once, later (never
  // inside this call), on the instance's context. Paced by the method's budget and,
  // for chat.postMessage, by args["channel"]'s.
  void call(std::string_view method, nlohmann::json args, Done done, Token token = Token::bot);

  // Posts `body` as JSON to a Slack `response_url` (no token: the URL is the
  // credential). Only https://hooks.slack.com/… URLs are accepted, or URLs under
  // `allowed_response_url_prefix` (for tests and proxies).
  void post_response_url(const std::string& url, const nlohmann::json& body, Done done);
  void set_allowed_response_url_prefix(std::string prefix) { response_prefix_ = std::move(prefix); }

  // The host's answers and timers, routed here by the plugin. False: not ours.
  bool on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body);
  bool on_timer(std::uint64_t timer_id);

  // Forgets every pending call without answering it (the instance is going away).
  void abandon_all();

  // Calls waiting for budget now, and sent calls without an answer yet.
  std::size_t waiting_calls() const noexcept { return waiting_.size(); }
  std::size_t calls_in_flight() const noexcept { return in_flight_.size(); }

 private:
  struct Call {
    std::string method;
    std::string url;
    std::string body;
    Token token = Token::bot;
    bool authorised = true;     // false for response_url posts
    bool form_encoded = false;  // the body is a form, not JSON
    Done done;
  };

  // Generic cell rate: the earliest time the next call under `key` may go.
  struct Pace {
    std::int64_t theoretical_arrival_ms = 0;
    std::int64_t blocked_until_ms = 0;  // a 429's Retry-After
  };

  std::int64_t now() const;
  // Reserves a slot for `method` (and `channel`) at time `at`; returns when the call may go.
  std::int64_t reserve(const std::string& method, const std::string& channel, std::int64_t at);
  void send(Call call);
  void fail_later(Done done, ApiOutcome outcome);

  sdk::Host host_;
  WebApiSettings settings_;
  SteadyMs now_ms_;
  std::string response_prefix_ = "https://hooks.slack.com/";
  std::uint64_t next_call_id_ = 1;
  std::uint64_t next_timer_id_ = kTimerBase;
  std::unordered_map<std::string, Pace> paces_;        // "method" and "method#channel"
  std::unordered_map<std::uint64_t, Call> waiting_;    // by timer id
  std::unordered_map<std::uint64_t, Call> in_flight_;  // by call id
};

}  // namespace haveri::slack
