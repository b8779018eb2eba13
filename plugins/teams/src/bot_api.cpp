#include "bot_api.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <utility>

namespace haveri::teams {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxErrorBytes = 300;
constexpr std::size_t kMaxErrorCodeBytes = 100;
constexpr std::size_t kMaxBodySnippetBytes = 120;
constexpr std::uint64_t kFirstBackoffMs = 500;
constexpr unsigned kMaxBackoffDoublings = 16;
// A refused host call (plugins.max_outbound_in_flight reached) or a full queue: the
// caller's outbox should come back soon, not at once.
constexpr std::uint64_t kBusyRetryMs = 1000;
// RFC 6749 makes expires_in optional; Microsoft always sends it, a proxy might not.
constexpr std::int64_t kDefaultTokenLifetimeSeconds = 3600;
// Pacing entries are dropped once idle, when there are more than this many.
constexpr std::size_t kPacesBeforePruning = 1024;
constexpr std::string_view kRedacted = "[redacted]";

bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// `marks`: also keep encodeURIComponent's "!*'()".
std::string percent_encode(std::string_view value, bool marks) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_unreserved(byte) ||
        (marks && (c == '!' || c == '*' || c == '\'' || c == '(' || c == ')'))) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

// Control characters (a body's line breaks) become spaces: errors end up in log lines.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      c = ' ';
    }
  }
  return out;
}

// At most `limit` bytes, never splitting a UTF-8 sequence; "…" marks a cut.
std::string cut(std::string text, std::size_t limit) {
  constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  if (text.size() <= limit) {
    return text;
  }
  std::size_t end = limit > kEllipsis.size() ? limit - kEllipsis.size() : 0;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
  text += kEllipsis;
  return text;
}

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool same_letters(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// The host gives lower-case names; a recorded answer or a proxy may not.
std::string header_value(const json& headers, std::string_view name) {
  if (!headers.is_object()) {
    return {};
  }
  for (const auto& [key, value] : headers.items()) {
    if (same_letters(key, name) && value.is_string()) {
      return value.get<std::string>();
    }
  }
  return {};
}

std::string_view trimmed(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// Reads an HTTP date (RFC 9110 5.6.7): the IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"
// or the obsolete RFC 850 form "Sunday, 06-Nov-94 08:49:37 GMT". Unix seconds.
std::optional<std::int64_t> parse_http_date(std::string_view text) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  const auto comma = text.find(',');
  if (comma == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = trimmed(text.substr(comma + 1));
  auto number = [&rest](std::size_t min_digits, std::size_t max_digits) -> std::optional<int> {
    std::size_t n = 0;
    int value = 0;
    while (n < rest.size() && n < max_digits && rest[n] >= '0' && rest[n] <= '9') {
      value = value * 10 + (rest[n] - '0');
      ++n;
    }
    if (n < min_digits) {
      return std::nullopt;
    }
    rest.remove_prefix(n);
    return value;
  };
  auto expect = [&rest](char c) {
    if (rest.empty() || rest.front() != c) {
      return false;
    }
    rest.remove_prefix(1);
    return true;
  };
  const auto day = number(1, 2);
  if (!day || rest.empty() || (rest.front() != ' ' && rest.front() != '-')) {
    return std::nullopt;
  }
  const char separator = rest.front();
  rest.remove_prefix(1);
  if (rest.size() < 3) {
    return std::nullopt;
  }
  const auto month = std::find_if(kMonths.begin(), kMonths.end(), [&rest](std::string_view name) {
    return same_letters(rest.substr(0, 3), name);
  });
  if (month == kMonths.end()) {
    return std::nullopt;
  }
  rest.remove_prefix(3);
  if (!expect(separator)) {
    return std::nullopt;
  }
  const std::size_t year_start = rest.size();
  auto year = number(2, 4);
  if (!year || year_start - rest.size() == 3) {
    return std::nullopt;
  }
  if (year_start - rest.size() == 2) {
    *year += *year >= 70 ? 1900 : 2000;
  }
  if (!expect(' ')) {
    return std::nullopt;
  }
  const auto hours = number(2, 2);
  const bool colon1 = expect(':');
  const auto minutes = number(2, 2);
  const bool colon2 = expect(':');
  const auto seconds = number(2, 2);
  if (!hours || !colon1 || !minutes || !colon2 || !seconds || *hours > 23 || *minutes > 59 ||
      *seconds > 60 || !same_letters(trimmed(rest), "GMT")) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{
      std::chrono::year{*year},
      std::chrono::month{static_cast<unsigned>(month - kMonths.begin() + 1)},
      std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
  return days * 86400 + std::int64_t{*hours} * 3600 + std::int64_t{*minutes} * 60 + *seconds;
}

// Retry-After in milliseconds (0: none, unreadable, or a date already past).
std::uint64_t retry_after_ms(const json& headers, std::int64_t now_unix_seconds) {
  const std::string header = header_value(headers, "retry-after");
  const std::string_view value = trimmed(header);
  if (value.empty()) {
    return 0;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) {
      return 0;  // more than 30 years: not a wait anyone means
    }
    return std::stoull(std::string(value)) * 1000;
  }
  const auto date = parse_http_date(value);
  if (!date || *date <= now_unix_seconds) {
    return 0;
  }
  return static_cast<std::uint64_t>(*date - now_unix_seconds) * 1000;
}

bool is_retryable_status(int status) noexcept {
  return status == 0 || status == 429 || status == 412 || status == 502 || status == 503 ||
         status == 504;
}

std::string string_member(const json& object, const char* name) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string without_query(const std::string& url) {
  return url.substr(0, url.find('?'));
}

bool is_http_url(std::string_view url) noexcept {
  return url.starts_with("https://") || url.starts_with("http://");
}

std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

std::string replaced_all(std::string text, std::string_view from, std::string_view to) {
  if (from.empty()) {
    return text;
  }
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// expires_in as Microsoft sends it: a number, or (older endpoints) a string of digits.
std::int64_t token_lifetime_seconds(const json& answer) {
  const auto it = answer.find("expires_in");
  if (it == answer.end()) {
    return kDefaultTokenLifetimeSeconds;
  }
  if (it->is_number()) {
    const double seconds = it->get<double>();
    return seconds >= 0 && seconds < 1e9 ? static_cast<std::int64_t>(seconds) : 0;
  }
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    if (!text.empty() && text.size() <= 9 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::stoll(text);
    }
  }
  return 0;
}

}  // namespace

ApiOutcome interpret_answer(int status, const json& headers, std::string_view body,
                            std::string_view transport_error, std::int64_t now_unix_seconds) {
  ApiOutcome outcome;
  outcome.status = status;
  if (status == 0) {
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.error = cut(
        "no answer: " + one_line(transport_error.empty() ? "transport failure" : transport_error),
        kMaxErrorBytes);
    return outcome;
  }
  json answer = body.empty() ? json(json::value_t::discarded) : json::parse(body, nullptr, false);
  const bool is_json = !answer.is_discarded() && (answer.is_object() || answer.is_array());
  if (is_json) {
    outcome.response = std::move(answer);
  }
  if (status >= 200 && status < 300) {
    outcome.kind = ApiOutcome::Kind::ok;
    return outcome;
  }

  std::string message;
  if (is_json && outcome.response.is_object()) {
    const auto error = outcome.response.find("error");
    if (error != outcome.response.end() && error->is_object()) {
      // Graph and the Connector: {"error":{"code":"NameAlreadyExists","message":"…"}}
      outcome.error_code = string_member(*error, "code");
      message = string_member(*error, "message");
    } else if (error != outcome.response.end() && error->is_string()) {
      // Token endpoints (RFC 6749 5.2): {"error":"invalid_client","error_description":"…"}
      outcome.error_code = error->get<std::string>();
      message = string_member(outcome.response, "error_description");
    } else {
      // The Connector's own 401: {"message":"Authorization has been denied …"}
      message = string_member(outcome.response, "message");
    }
  } else if (!is_json && !body.empty()) {
    message = cut(one_line(trimmed(body)), kMaxBodySnippetBytes);  // a proxy's error page
  }
  outcome.error_code = cut(one_line(outcome.error_code), kMaxErrorCodeBytes);
  std::string error = "HTTP " + std::to_string(status);
  if (!outcome.error_code.empty()) {
    error += " " + outcome.error_code;
  }
  if (!message.empty()) {
    error += ": " + one_line(message);
  }
  outcome.error = cut(std::move(error), kMaxErrorBytes);
  if (is_retryable_status(status)) {
    outcome.kind = ApiOutcome::Kind::retryable;
    outcome.retry_after_ms = retry_after_ms(headers, now_unix_seconds);
  } else {
    outcome.kind = ApiOutcome::Kind::permanent;
  }
  return outcome;
}

std::string encode_path_segment(std::string_view segment) {
  return percent_encode(segment, /*marks=*/true);
}

// Runs on: the plugin instance's serialised context (see the header).
struct BotApi::Impl {
  // A call's progress: waiting for its budget, for a token, in flight, or waiting to retry.
  enum class Stage { pacing, token, sending, backoff };

  struct Request {
    std::string tenant;
    std::string conversation;  // paced per conversation when not empty
    std::string method;
    std::string url;
    std::string body;
    bool has_body = false;
    std::string token_key;
    std::string token;  // the one the last attempt carried
    Done done;
    Stage stage = Stage::pacing;
    unsigned retries = 0;
    std::uint64_t waited_ms = 0;
    bool fresh_token_tried = false;  // after a 401
    std::string what() const { return method + " " + without_query(url); }
  };

  // One cached token (per token URL and scope), or its fetch and the calls waiting for it.
  struct Token {
    std::string url;
    std::string scope;
    std::string value;  // "" when none
    std::int64_t refresh_at_ms = 0;
    std::uint64_t call_id = 0;  // the fetch in flight, 0 for none
    std::vector<std::uint64_t> waiters;
  };

  // Generic cell rate: the theoretical arrival time of the next call under one key.
  struct Pace {
    std::int64_t theoretical_arrival_ms = 0;
  };
  struct Budget {
    double per_second = 0;
    double burst = 1;
  };

  enum class TimerUse { pacing, backoff };
  struct Timer {
    TimerUse use = TimerUse::pacing;
    std::uint64_t request = 0;
  };
  struct Call {
    std::uint64_t request = 0;  // 0: a token fetch
    std::string token_key;
  };
  struct Delivery {
    Done done;
    ApiOutcome outcome;
  };

  Impl(sdk::Host host_in, BotApiSettings settings_in, SteadyMs now_ms_in, UnixSeconds unix_now_in)
      : host(host_in),
        settings(std::move(settings_in)),
        now_ms(std::move(now_ms_in)),
        unix_now(std::move(unix_now_in)),
        jitter(static_cast<std::uint32_t>(
            std::chrono::steady_clock::now().time_since_epoch().count())) {
    settings.graph_base_url = without_trailing_slashes(settings.graph_base_url);
  }

  sdk::Host host;
  BotApiSettings settings;
  SteadyMs now_ms;
  UnixSeconds unix_now;
  std::minstd_rand jitter;
  std::uint64_t next_request = 1;
  std::uint64_t next_timer = kTimerBase;
  std::uint64_t next_call = kCallBase;
  std::unordered_map<std::string, Pace> paces;  // "t\n<tenant>", "c\n<tenant>\n<conversation>"
  std::unordered_map<std::uint64_t, Request> requests;   // by our own request id
  std::unordered_map<std::string, Token> tokens;         // by "<token url>\n<scope>"
  std::unordered_map<std::uint64_t, Timer> timers;       // by timer id
  std::unordered_map<std::uint64_t, Delivery> deferred;  // outcomes waiting for a 0 ms timer
  std::unordered_map<std::uint64_t, Call> calls;         // HTTP calls in flight, by call id
  std::vector<Delivery> ready;   // finished, to be delivered once bookkeeping is done
  bool inside_entry = false;     // in connector()/graph(): outcomes go through a timer
  std::uint64_t generation = 0;  // abandon_all() moves it: older deliveries are dropped

  std::int64_t now() const {
    if (now_ms) {
      return now_ms();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t unix_seconds() const {
    if (unix_now) {
      return unix_now();
    }
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::size_t waiting_count() const {
    return static_cast<std::size_t>(
        std::count_if(requests.begin(), requests.end(),
                      [](const auto& r) { return r.second.stage != Stage::sending; }));
  }

  // Errors quote what Microsoft said; that must never carry the secret or a token back out.
  std::string redacted(std::string text) const {
    if (settings.client_secret.size() >= 4) {
      text = replaced_all(std::move(text), settings.client_secret, kRedacted);
    }
    for (const auto& [key, token] : tokens) {
      if (!token.value.empty()) {
        text = replaced_all(std::move(text), token.value, kRedacted);
      }
    }
    return text;
  }
  // `also_hidden`: a token no longer cached (a call's, after a 401) that may be quoted.
  void log(haveri_log_level level, std::string line, const std::string& also_hidden = {}) const {
    line = redacted(std::move(line));
    if (!also_hidden.empty()) {
      line = replaced_all(std::move(line), also_hidden, kRedacted);
    }
    host.log(level, line);
  }

  // --- entry points ------------------------------------------------------------------

  void submit(Request request) {
    if (waiting_count() >= settings.max_waiting_calls) {
      ApiOutcome busy;
      busy.kind = ApiOutcome::Kind::retryable;
      busy.error = request.what() + ": " + std::to_string(settings.max_waiting_calls) +
                   " calls to Microsoft wait already (max_waiting_calls)";
      busy.retry_after_ms = kBusyRetryMs;
      fail_later(std::move(request.done), std::move(busy));
      return;
    }
    const std::uint64_t id = next_request++;
    requests.emplace(id, std::move(request));
    admit(id);
  }

  void connector(const std::string& tenant, const std::string& conversation,
                 const std::string& method, const std::string& service_url, const std::string& path,
                 const json& body, Done done) {
    Request request;
    request.tenant = tenant;
    request.conversation = conversation;
    request.method = method;
    request.url = without_trailing_slashes(service_url) + (path.starts_with('/') ? "" : "/") + path;
    fill_body(request, body);
    request.token_key = token_for(settings.connector_token_url, settings.connector_scope);
    request.done = std::move(done);
    if (!is_http_url(service_url)) {
      fail_later(std::move(request.done),
                 permanent("Bot Connector serviceUrl \"" + cut(one_line(service_url), 100) +
                           "\" is not an http(s) URL"));
      return;
    }
    submit(std::move(request));
  }

  void graph(const std::string& tenant, const std::string& method, const std::string& path,
             const json& body, Done done) {
    Request request;
    request.tenant = tenant;
    request.method = method;
    request.url = settings.graph_base_url + (path.starts_with('/') ? "" : "/") + path;
    fill_body(request, body);
    request.done = std::move(done);
    if (tenant.empty() && settings.graph_token_url.find("{tenant}") != std::string::npos) {
      fail_later(std::move(request.done),
                 permanent(request.what() + ": a Graph call needs the tenant id"));
      return;
    }
    request.token_key =
        token_for(replaced_all(settings.graph_token_url, "{tenant}", encode_path_segment(tenant)),
                  settings.graph_scope);
    submit(std::move(request));
  }

  static void fill_body(Request& request, const json& body) {
    request.has_body = !body.is_null();
    if (request.has_body) {
      request.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }

  static ApiOutcome permanent(std::string error) {
    ApiOutcome outcome;
    outcome.kind = ApiOutcome::Kind::permanent;
    outcome.error = std::move(error);
    return outcome;
  }

  std::string token_for(const std::string& url, const std::string& scope) {
    std::string key = url + "\n" + scope;
    Token& token = tokens[key];
    if (token.url.empty()) {
      token.url = url;
      token.scope = scope;
    }
    return key;
  }

  // --- budgets -------------------------------------------------------------------------

  static std::int64_t interval_ms(const Budget& budget) {
    return budget.per_second > 0 ? static_cast<std::int64_t>(std::ceil(1000.0 / budget.per_second))
                                 : 0;
  }
  static std::int64_t earliest(const Pace& pace, const Budget& budget, std::int64_t at) {
    const std::int64_t interval = interval_ms(budget);
    if (interval == 0) {
      return at;
    }
    const auto tolerance =
        static_cast<std::int64_t>(std::max(0.0, budget.burst - 1) * static_cast<double>(interval));
    return std::max(at, pace.theoretical_arrival_ms - tolerance);
  }
  static Pace after(Pace pace, const Budget& budget, std::int64_t go) {
    pace.theoretical_arrival_ms = std::max(pace.theoretical_arrival_ms, go) + interval_ms(budget);
    return pace;
  }
  Pace pace_of(const std::string& key) const {
    const auto it = paces.find(key);
    return it == paces.end() ? Pace{} : it->second;
  }

  // Takes the call's slot in its tenant's (and conversation's) budget, unless the wait
  // would be too long: then nothing is taken, so that refused callers retrying faster
  // than the budget cannot push the next free slot away for ever.
  void admit(std::uint64_t id) {
    Request& request = requests.at(id);
    const std::int64_t at = now();  // one reading: a tick between two would make a wait
    const std::string tenant_key = "t\n" + request.tenant;
    const Budget tenant_budget{settings.tenant_per_second, settings.tenant_burst};
    const Pace tenant_pace = pace_of(tenant_key);
    std::int64_t go = earliest(tenant_pace, tenant_budget, at);
    std::string conversation_key;
    const Budget conversation_budget{settings.conversation_per_second, settings.conversation_burst};
    Pace conversation_pace;
    if (!request.conversation.empty()) {
      conversation_key = "c\n" + request.tenant + "\n" + request.conversation;
      conversation_pace = pace_of(conversation_key);
      go = std::max(go, earliest(conversation_pace, conversation_budget, at));
    }
    const auto wait = static_cast<std::uint64_t>(go - at);
    if (wait > settings.max_pacing_wait_ms) {
      ApiOutcome busy;
      busy.kind = ApiOutcome::Kind::retryable;
      busy.error = request.what() + ": over the request budget of tenant \"" + request.tenant +
                   "\"" + (conversation_key.empty() ? "" : " or its conversation") +
                   ": next slot in " + std::to_string(wait) + " ms";
      busy.retry_after_ms = wait;
      finish(id, std::move(busy));
      return;
    }
    if (paces.size() > kPacesBeforePruning) {
      std::erase_if(paces, [at](const auto& entry) {
        return entry.second.theoretical_arrival_ms <= at;  // as good as new
      });
    }
    paces[tenant_key] = after(tenant_pace, tenant_budget, go);
    if (!conversation_key.empty()) {
      paces[conversation_key] = after(conversation_pace, conversation_budget, go);
    }
    if (wait > 0) {
      const std::uint64_t timer = next_timer++;
      if (host.set_timer(timer, wait) == HAVERI_OK) {
        request.stage = Stage::pacing;
        timers.emplace(timer, Timer{TimerUse::pacing, id});
        return;
      }
      // No timer to be had (plugins.max_timers): better early than never.
    }
    acquire_token(id);
  }

  // --- tokens --------------------------------------------------------------------------

  void acquire_token(std::uint64_t id) {
    Request& request = requests.at(id);
    Token& token = tokens.at(request.token_key);
    if (!token.value.empty() && now() < token.refresh_at_ms) {
      send_api(id, token.value);
      return;
    }
    request.stage = Stage::token;
    token.waiters.push_back(id);
    if (token.call_id == 0) {
      fetch_token(request.token_key);
    }
  }

  void fetch_token(const std::string& key) {
    Token& token = tokens.at(key);
    const std::string form =
        "grant_type=client_credentials&client_id=" + percent_encode(settings.app_id, false) +
        "&client_secret=" + percent_encode(settings.client_secret, false) +
        "&scope=" + percent_encode(token.scope, false);
    json request = {
        {"v", 1},
        {"method", "POST"},
        {"url", token.url},
        {"headers",
         {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}}},
        {"timeout_ms", settings.timeout_ms}};
    if (!settings.proxy.empty()) {
      request["proxy"] = settings.proxy;
    }
    const std::uint64_t call = next_call++;
    const haveri_status status = host.http_request(call, request.dump(), form);
    if (status != HAVERI_OK) {
      ApiOutcome refused;
      refused.kind = ApiOutcome::Kind::retryable;
      refused.error = "the host refused the HTTP call (status " +
                      std::to_string(static_cast<int>(status)) + ")";
      refused.retry_after_ms = kBusyRetryMs;
      token_failed(key, refused);
      return;
    }
    token.call_id = call;
    calls.emplace(call, Call{0, key});
  }

  void on_token_answer(const std::string& key, int status, const json& headers,
                       std::string_view body, std::string_view transport_error) {
    Token& token = tokens.at(key);
    token.call_id = 0;
    ApiOutcome outcome = interpret_answer(status, headers, body, transport_error, unix_seconds());
    if (!outcome.ok()) {
      token_failed(key, outcome);
      return;
    }
    const std::string value = string_member(outcome.response, "access_token");
    const std::string type = string_member(outcome.response, "token_type");
    const std::int64_t lifetime_ms = token_lifetime_seconds(outcome.response) * 1000;
    outcome.response = json::object();  // holds the token: it goes no further
    if (value.empty() || (!type.empty() && !same_letters(type, "Bearer"))) {
      token_failed(key, permanent("HTTP " + std::to_string(status) +
                                  " without a bearer access_token: is the token URL right?"));
      return;
    }
    token.value = value;
    // Refresh `margin` before the end, but a short-lived token still serves half its life.
    token.refresh_at_ms =
        now() + std::max(lifetime_ms - settings.token_refresh_margin_ms, lifetime_ms / 2);
    const std::vector<std::uint64_t> waiters = std::move(token.waiters);
    token.waiters.clear();
    for (const std::uint64_t id : waiters) {
      if (requests.count(id) > 0) {
        send_api(id, value);
      }
    }
  }

  // Every call waiting for this token ends like the token request did.
  void token_failed(const std::string& key, const ApiOutcome& outcome) {
    Token& token = tokens.at(key);
    token.call_id = 0;
    const std::vector<std::uint64_t> waiters = std::move(token.waiters);
    token.waiters.clear();
    const std::string error = redacted("token request to " + token.url + " (scope " + token.scope +
                                       ") failed: " + outcome.error);
    log(HAVERI_LOG_WARN, error);
    for (const std::uint64_t id : waiters) {
      if (requests.count(id) == 0) {
        continue;
      }
      ApiOutcome failed;
      failed.kind = outcome.kind;
      failed.status = outcome.status;
      failed.error_code = outcome.error_code;
      failed.retry_after_ms = outcome.retry_after_ms;
      failed.error = requests.at(id).what() + ": " + error;
      finish(id, std::move(failed));
    }
  }

  // --- API calls -----------------------------------------------------------------------

  void send_api(std::uint64_t id, const std::string& token) {
    Request& request = requests.at(id);
    json headers = {{"Authorization", "Bearer " + token}, {"Accept", "application/json"}};
    if (request.has_body) {
      headers["Content-Type"] = "application/json; charset=utf-8";
    }
    json http = {{"v", 1},
                 {"method", request.method},
                 {"url", request.url},
                 {"headers", std::move(headers)},
                 {"timeout_ms", settings.timeout_ms}};
    if (!settings.proxy.empty()) {
      http["proxy"] = settings.proxy;
    }
    const std::uint64_t call = next_call++;
    const haveri_status status = host.http_request(call, http.dump(), request.body);
    if (status != HAVERI_OK) {
      ApiOutcome refused;
      refused.kind = ApiOutcome::Kind::retryable;
      refused.error = request.what() + ": the host refused the HTTP call (status " +
                      std::to_string(static_cast<int>(status)) + ")";
      refused.retry_after_ms = kBusyRetryMs;
      finish(id, std::move(refused));
      return;
    }
    request.token = token;
    request.stage = Stage::sending;
    calls.emplace(call, Call{id, {}});
  }

  void on_api_answer(std::uint64_t id, int status, const json& headers, std::string_view body,
                     std::string_view transport_error) {
    Request& request = requests.at(id);
    ApiOutcome outcome = interpret_answer(status, headers, body, transport_error, unix_seconds());
    if (status == 401 && !request.fresh_token_tried) {
      // The token was revoked or rotated early: one more try with a new one.
      request.fresh_token_tried = true;
      log(HAVERI_LOG_INFO, request.what() + ": " + outcome.error + "; fetching a new token",
          request.token);
      Token& token = tokens.at(request.token_key);
      if (token.value == request.token) {
        token.value.clear();
      }
      acquire_token(id);
      return;
    }
    if (outcome.kind == ApiOutcome::Kind::retryable) {
      retry_later(id, std::move(outcome));
      return;
    }
    if (!outcome.ok()) {
      outcome.error = request.what() + ": " + outcome.error +
                      (status == 401 ? " (with a new token as well)" : "");
    }
    finish(id, std::move(outcome));
  }

  void retry_later(std::uint64_t id, ApiOutcome outcome) {
    Request& request = requests.at(id);
    const std::uint64_t wait = outcome.retry_after_ms > 0
                                   ? outcome.retry_after_ms
                                   : kFirstBackoffMs
                                         << std::min(request.retries, kMaxBackoffDoublings);
    if (request.waited_ms + wait > settings.max_retry_wait_ms) {
      outcome.retry_after_ms = wait;
      outcome.error = request.what() + ": " + outcome.error + " (after " +
                      std::to_string(request.retries) + " retries)";
      finish(id, std::move(outcome));
      return;
    }
    // Jitter, so that calls throttled together do not come back together.
    const std::uint64_t delay =
        wait + std::uniform_int_distribution<std::uint64_t>(0, wait / 10)(jitter);
    const std::uint64_t timer = next_timer++;
    if (host.set_timer(timer, delay) != HAVERI_OK) {
      outcome.retry_after_ms = wait;
      outcome.error = request.what() + ": " + outcome.error;
      finish(id, std::move(outcome));
      return;
    }
    ++request.retries;
    request.waited_ms += delay;
    request.stage = Stage::backoff;
    timers.emplace(timer, Timer{TimerUse::backoff, id});
    log(outcome.status == 429 ? HAVERI_LOG_WARN : HAVERI_LOG_INFO,
        request.what() + ": " + outcome.error + "; retry " + std::to_string(request.retries) +
            " in " + std::to_string(delay) + " ms",
        request.token);
  }

  // --- outcomes ------------------------------------------------------------------------

  void finish(std::uint64_t id, ApiOutcome outcome) {
    const auto it = requests.find(id);
    if (it == requests.end()) {
      return;
    }
    Done done = std::move(it->second.done);
    const std::string used = std::move(it->second.token);
    requests.erase(it);
    auto hide = [this, &used](std::string text) {
      text = redacted(std::move(text));
      return used.empty() ? text : replaced_all(std::move(text), used, kRedacted);
    };
    outcome.error = hide(std::move(outcome.error));
    if (!outcome.ok() && !outcome.response.empty()) {
      // A failure's answer may be logged or stored by the caller: it is hidden as well.
      json response =
          json::parse(hide(outcome.response.dump(-1, ' ', false, json::error_handler_t::replace)),
                      nullptr, false);
      outcome.response = response.is_discarded() ? json::object() : std::move(response);
    }
    if (inside_entry) {
      fail_later(std::move(done), std::move(outcome));
    } else {
      ready.push_back({std::move(done), std::move(outcome)});
    }
  }

  // An outcome known inside connector()/graph(): delivered from a 0 ms timer.
  void fail_later(Done done, ApiOutcome outcome) {
    outcome.error = redacted(std::move(outcome.error));
    const std::uint64_t timer = next_timer++;
    if (host.set_timer(timer, 0) == HAVERI_OK) {
      deferred.emplace(timer, Delivery{std::move(done), std::move(outcome)});
      return;
    }
    // No timer to be had (plugins.max_timers, so others are pending): it goes with the
    // next answer or timer, still never inside the caller's call.
    log(HAVERI_LOG_WARN, "no timer for a failed call's outcome; it waits for the next event");
    ready.push_back({std::move(done), std::move(outcome)});
  }

  // --- host callbacks ------------------------------------------------------------------

  bool on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body) {
    const auto it = calls.find(call_id);
    if (it == calls.end()) {
      return call_id >= kCallBase && call_id < next_call;  // ours, abandoned
    }
    const Call call = std::move(it->second);
    calls.erase(it);
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
      transport_error = string_member(response, "error");
    } else {
      transport_error = "the host's answer is not JSON";
    }
    if (call.request == 0) {
      on_token_answer(call.token_key, status, headers, body, transport_error);
    } else if (requests.count(call.request) > 0) {
      on_api_answer(call.request, status, headers, body, transport_error);
    }
    return true;
  }

  bool on_timer(std::uint64_t timer_id) {
    if (const auto d = deferred.find(timer_id); d != deferred.end()) {
      ready.push_back(std::move(d->second));
      deferred.erase(d);
      return true;
    }
    const auto it = timers.find(timer_id);
    if (it == timers.end()) {
      return timer_id >= kTimerBase && timer_id < next_timer;  // ours, abandoned
    }
    const Timer timer = it->second;
    timers.erase(it);
    if (requests.count(timer.request) == 0) {
      return true;
    }
    if (timer.use == TimerUse::pacing) {
      acquire_token(timer.request);
    } else {
      admit(timer.request);  // a retry counts against the budgets like any call
    }
    return true;
  }

  void abandon_all() {
    for (const auto& [timer, use] : timers) {
      host.cancel_timer(timer);
    }
    for (const auto& [timer, delivery] : deferred) {
      host.cancel_timer(timer);
    }
    timers.clear();
    deferred.clear();
    requests.clear();
    calls.clear();
    ready.clear();
    for (auto& [key, token] : tokens) {
      token.call_id = 0;  // its late answer is dropped; the next call fetches again
      token.waiters.clear();
    }
    ++generation;
  }

  // Calls the finished calls' callbacks, after the bookkeeping: a callback may start
  // calls, abandon them all, or destroy the BotApi (then the rest are dropped).
  static void deliver_ready(const std::weak_ptr<Impl>& alive) {
    std::vector<Delivery> batch;
    std::uint64_t generation = 0;
    {
      const std::shared_ptr<Impl> impl = alive.lock();
      if (!impl || impl->ready.empty()) {
        return;
      }
      batch.swap(impl->ready);
      generation = impl->generation;
    }
    for (Delivery& delivery : batch) {
      {
        const std::shared_ptr<Impl> impl = alive.lock();
        if (!impl || impl->generation != generation) {
          return;
        }
      }
      if (delivery.done) {
        delivery.done(delivery.outcome);
      }
    }
  }
};

BotApi::BotApi(sdk::Host host, BotApiSettings settings, SteadyMs now_ms, UnixSeconds unix_now)
    : impl_(std::make_shared<Impl>(host, std::move(settings), std::move(now_ms),
                                   std::move(unix_now))) {}

void BotApi::connector(const std::string& tenant, const std::string& conversation,
                       const std::string& method, const std::string& service_url,
                       const std::string& path, const json& body, Done done) {
  const bool outer = !impl_->inside_entry;
  impl_->inside_entry = true;
  impl_->connector(tenant, conversation, method, service_url, path, body, std::move(done));
  impl_->inside_entry = !outer;
}

void BotApi::graph(const std::string& tenant, const std::string& method, const std::string& path,
                   const json& body, Done done) {
  const bool outer = !impl_->inside_entry;
  impl_->inside_entry = true;
  impl_->graph(tenant, method, path, body, std::move(done));
  impl_->inside_entry = !outer;
}

bool BotApi::on_http_response(std::uint64_t call_id, std::string_view response_json,
                              std::string_view body) {
  const bool ours = impl_->on_http_response(call_id, response_json, body);
  Impl::deliver_ready(impl_);  // may destroy *this: nothing of it is used afterwards
  return ours;
}

bool BotApi::on_timer(std::uint64_t timer_id) {
  const bool ours = impl_->on_timer(timer_id);
  Impl::deliver_ready(impl_);
  return ours;
}

void BotApi::abandon_all() {
  impl_->abandon_all();
}

std::size_t BotApi::calls_waiting() const noexcept {
  return impl_->waiting_count();
}

std::size_t BotApi::calls_in_flight() const noexcept {
  return impl_->calls.size();
}

}  // namespace haveri::teams
