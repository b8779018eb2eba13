#include "web_api.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>
#include <utility>

namespace haveri::slack {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 5> kRetryableSlackErrors = {
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"};

// Slack's tiers (https://api.slack.com/docs/rate-limits): Tier 1 1+/min, Tier 2
// 20+/min, Tier 3 50+/min, Tier 4 100+/min. We stay at the floor of each tier.
struct MethodTier {
  std::string_view method;
  MethodBudget budget;
};
constexpr MethodBudget kTier1{1, 5};  // reconnects come in bursts after an outage
constexpr MethodBudget kTier2{20, 5};
constexpr MethodBudget kTier3{50, 10};
constexpr MethodBudget kTier4{100, 20};
constexpr std::array<MethodTier, 12> kTiers = {{
    {"apps.connections.open", kTier1},
    {"auth.test", kTier4},
    {"conversations.create", kTier2},
    {"conversations.setTopic", kTier2},
    {"conversations.invite", kTier3},
    {"conversations.open", kTier3},
    // Special tier: about one per second per channel (paced per channel as well),
    // several hundred a minute per workspace.
    {"chat.postMessage", {300, 30}},
    {"chat.update", kTier3},
    {"chat.postEphemeral", kTier4},
    {"views.open", kTier4},
    {"users.info", kTier4},
    {"response_url", {300, 30}},
}};

// The "method" of a queued entry that only delivers a failure later.
constexpr std::string_view kFailedCarrier = "(failed)";

// chat.postMessage in one channel: one a second, a short burst tolerated.
constexpr MethodBudget kPerChannel{60, 3};

std::string header_value(const json& headers, const char* name) {
  if (!headers.is_object()) {
    return {};
  }
  const auto it = headers.find(name);
  return it != headers.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::uint64_t retry_after_ms(const json& headers) {
  const std::string value = header_value(headers, "retry-after");
  if (value.empty() || value.size() > 6 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  return std::stoull(value) * 1000;
}

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
        (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' || byte == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

}  // namespace

ApiOutcome interpret_api_answer(int status, const json& headers, std::string_view body,
                                std::string_view transport_error) {
  ApiOutcome outcome;
  if (status == 0) {
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.error = transport_error.empty() ? "no answer" : std::string(transport_error);
    return outcome;
  }
  if (status == 429) {
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.retry_after_ms = retry_after_ms(headers);
    outcome.error = "rate limited (429)";
    if (outcome.retry_after_ms == 0) {
      outcome.retry_after_ms = 1000;  // Slack always sends one; a proxy may not
    }
    return outcome;
  }
  if (status >= 500) {
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.retry_after_ms = retry_after_ms(headers);
    outcome.error = "Slack answered HTTP " + std::to_string(status);
    return outcome;
  }
  if (status != 200) {
    outcome.kind = ApiOutcome::Kind::permanent;
    outcome.error = "Slack answered HTTP " + std::to_string(status);
    return outcome;
  }
  json answer = json::parse(body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    // A proxy's error page, or a cut-off answer: the call may well work next time.
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.error = "Slack's answer is not JSON";
    return outcome;
  }
  const auto ok = answer.find("ok");
  if (ok != answer.end() && ok->is_boolean() && ok->get<bool>()) {
    outcome.kind = ApiOutcome::Kind::ok;
    outcome.response = std::move(answer);
    return outcome;
  }
  const auto error = answer.find("error");
  outcome.error = error != answer.end() && error->is_string() ? error->get<std::string>()
                                                              : std::string("unknown_error");
  const bool retryable = std::find(kRetryableSlackErrors.begin(), kRetryableSlackErrors.end(),
                                   outcome.error) != kRetryableSlackErrors.end();
  outcome.kind = retryable ? ApiOutcome::Kind::retryable : ApiOutcome::Kind::permanent;
  if (retryable) {
    outcome.retry_after_ms = retry_after_ms(headers);
  }
  outcome.response = std::move(answer);
  return outcome;
}

MethodBudget budget_of(std::string_view method) noexcept {
  for (const MethodTier& tier : kTiers) {
    if (tier.method == method) {
      return tier.budget;
    }
  }
  return kTier2;
}

SlackWebApi::SlackWebApi(sdk::Host host, WebApiSettings settings, SteadyMs now_ms)
    : host_(host), settings_(std::move(settings)), now_ms_(std::move(now_ms)) {
  while (!settings_.base_url.empty() && settings_.base_url.back() == '/') {
    settings_.base_url.pop_back();
  }
}

std::int64_t SlackWebApi::now() const {
  if (now_ms_) {
    return now_ms_();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t SlackWebApi::reserve(const std::string& method, const std::string& channel,
                                  std::int64_t at) {
  auto take = [&](Pace& pace, MethodBudget budget) {
    const auto interval = static_cast<std::int64_t>(std::ceil(60000.0 / budget.per_minute));
    const auto tolerance =
        static_cast<std::int64_t>((budget.burst - 1) * static_cast<double>(interval));
    const std::int64_t arrival = std::max(pace.theoretical_arrival_ms, at);
    const std::int64_t earliest = std::max(arrival - tolerance, pace.blocked_until_ms);
    pace.theoretical_arrival_ms = std::max(arrival, earliest) + interval;
    return std::max(earliest, at);
  };
  std::int64_t go = take(paces_[method], budget_of(method));
  if (method == "chat.postMessage" && !channel.empty()) {
    go = std::max(go, take(paces_[method + "#" + channel], kPerChannel));
  }
  return go;
}

void SlackWebApi::call(std::string_view method, json args, Done done, Token token) {
  Call call;
  call.method = std::string(method);
  call.url = settings_.base_url + "/" + call.method;
  call.token = token;
  std::string channel;
  if (const auto it = args.find("channel"); it != args.end() && it->is_string()) {
    channel = it->get<std::string>();
  }
  // Slack's read methods (users.info, …) ignore JSON bodies: their arguments go as a form.
  if (method == "users.info" && args.is_object()) {
    call.form_encoded = true;
    for (const auto& [key, value] : args.items()) {
      if (value.is_string()) {
        call.body += (call.body.empty() ? "" : "&") + key + "=" +
                     percent_encode(value.get_ref<const std::string&>());
      }
    }
  } else {
    call.body = args.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  call.done = std::move(done);

  const std::int64_t at = now();
  // A refused call must not use up budget: callers that retry faster than the budget
  // (a reconnect loop) would otherwise push the next free slot away for ever.
  const std::string channel_key = call.method + "#" + channel;
  const Pace method_before = paces_[call.method];
  const std::optional<Pace> channel_before =
      paces_.count(channel_key) > 0 ? std::optional<Pace>(paces_[channel_key]) : std::nullopt;
  const std::int64_t go = reserve(call.method, channel, at);
  if (go <= at) {
    send(std::move(call));
    return;
  }
  const auto wait = static_cast<std::uint64_t>(go - at);
  if (wait > settings_.max_pacing_wait_ms || waiting_.size() >= settings_.max_waiting_calls) {
    paces_[call.method] = method_before;
    if (channel_before) {
      paces_[channel_key] = *channel_before;
    } else {
      paces_.erase(channel_key);
    }
    ApiOutcome busy;
    busy.kind = ApiOutcome::Kind::retryable;
    busy.error = call.method + " is paced: next call in " + std::to_string(wait) + " ms";
    busy.retry_after_ms = wait;
    fail_later(std::move(call.done), std::move(busy));
    return;
  }
  const std::uint64_t timer = next_timer_id_++;
  if (host_.set_timer(timer, wait) != HAVERI_OK) {
    send(std::move(call));  // no timer service: better early than never
    return;
  }
  waiting_.emplace(timer, std::move(call));
}

void SlackWebApi::post_response_url(const std::string& url, const json& body, Done done) {
  if (!url.starts_with(response_prefix_) && !url.starts_with("https://hooks.slack.com/")) {
    ApiOutcome refused;
    refused.error = "not a Slack response_url";
    fail_later(std::move(done), std::move(refused));
    return;
  }
  Call call;
  call.method = "response_url";
  call.url = url;
  call.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  call.authorised = false;
  call.done = std::move(done);
  const std::int64_t at = now();
  const std::int64_t go = reserve(call.method, {}, at);
  if (go > at) {
    const std::uint64_t timer = next_timer_id_++;
    if (host_.set_timer(timer, static_cast<std::uint64_t>(go - at)) == HAVERI_OK) {
      waiting_.emplace(timer, std::move(call));
      return;
    }
  }
  send(std::move(call));
}

void SlackWebApi::send(Call call) {
  json headers = {{"content-type", call.form_encoded ? "application/x-www-form-urlencoded"
                                                     : "application/json; charset=utf-8"}};
  if (call.authorised) {
    const std::string& token = call.token == Token::app ? settings_.app_token : settings_.bot_token;
    headers["authorization"] = "Bearer " + token;
  }
  json request = {{"v", 1},
                  {"method", "POST"},
                  {"url", call.url},
                  {"headers", std::move(headers)},
                  {"timeout_ms", settings_.timeout_ms}};
  if (!settings_.proxy.empty()) {
    request["proxy"] = settings_.proxy;
  }
  const std::uint64_t id = next_call_id_++;
  const haveri_status status = host_.http_request(id, request.dump(), call.body);
  if (status != HAVERI_OK) {
    ApiOutcome failed;
    failed.kind = ApiOutcome::Kind::retryable;
    failed.error =
        "the host refused the HTTP call (status " + std::to_string(static_cast<int>(status)) + ")";
    failed.retry_after_ms = 1000;
    fail_later(std::move(call.done), std::move(failed));
    return;
  }
  in_flight_.emplace(id, std::move(call));
}

void SlackWebApi::fail_later(Done done, ApiOutcome outcome) {
  // `done` must not run inside call(): the caller may still be setting up.
  Call carrier;
  carrier.method = std::string(kFailedCarrier);
  carrier.done = [done = std::move(done), outcome = std::move(outcome)](const ApiOutcome&) mutable {
    done(std::move(outcome));
  };
  const std::uint64_t timer = next_timer_id_++;
  if (host_.set_timer(timer, 0) == HAVERI_OK) {
    waiting_.emplace(timer, std::move(carrier));
  } else {
    carrier.done(ApiOutcome{});
  }
}

bool SlackWebApi::on_http_response(std::uint64_t call_id, std::string_view response_json,
                                   std::string_view body) {
  const auto it = in_flight_.find(call_id);
  if (it == in_flight_.end()) {
    return false;
  }
  Call call = std::move(it->second);
  in_flight_.erase(it);
  const json response = json::parse(response_json, nullptr, false);
  int status = 0;
  json headers = json::object();
  std::string transport_error;
  if (response.is_object()) {
    if (const auto s = response.find("status"); s != response.end() && s->is_number_integer()) {
      status = s->get<int>();
    }
    if (const auto h = response.find("headers"); h != response.end() && h->is_object()) {
      headers = *h;
    }
    if (const auto e = response.find("error"); e != response.end() && e->is_string()) {
      transport_error = e->get<std::string>();
    }
  }
  ApiOutcome outcome = interpret_api_answer(status, headers, body, transport_error);
  if (call.method == "response_url" && status == 200 && outcome.kind != ApiOutcome::Kind::ok) {
    // A response_url answers "ok" as plain text, not as the Web API's JSON.
    outcome = ApiOutcome{};
    outcome.kind = ApiOutcome::Kind::ok;
  }
  if (status == 429) {
    Pace& pace = paces_[call.method];
    pace.blocked_until_ms =
        std::max(pace.blocked_until_ms, now() + static_cast<std::int64_t>(outcome.retry_after_ms));
    host_.log(HAVERI_LOG_WARN, call.method + " is rate limited by Slack for " +
                                   std::to_string(outcome.retry_after_ms) + " ms");
  }
  call.done(std::move(outcome));
  return true;
}

bool SlackWebApi::on_timer(std::uint64_t timer_id) {
  const auto it = waiting_.find(timer_id);
  if (it == waiting_.end()) {
    return timer_id >= kTimerBase;
  }
  Call call = std::move(it->second);
  waiting_.erase(it);
  if (call.method == kFailedCarrier) {
    call.done(ApiOutcome{});
    return true;
  }
  send(std::move(call));
  return true;
}

void SlackWebApi::abandon_all() {
  for (const auto& [timer, call] : waiting_) {
    host_.cancel_timer(timer);
  }
  waiting_.clear();
  in_flight_.clear();
}

}  // namespace haveri::slack
