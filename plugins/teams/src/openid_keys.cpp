#include "openid_keys.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace haveri::teams {

namespace {

// What the host accepts as timeout_ms.
constexpr std::uint64_t kMinTimeoutMs = 1;
constexpr std::uint64_t kMaxTimeoutMs = 120000;

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char p, char t) {
           return p == (t >= 'A' && t <= 'Z' ? static_cast<char>(t + 32) : t);
         });
}

bool is_https(std::string_view url) noexcept {
  return starts_with_ignoring_case(url, "https://");
}
bool is_http(std::string_view url) noexcept {
  return starts_with_ignoring_case(url, "http://");
}

std::string quoted(const std::string& text) {
  constexpr std::size_t kMax = 200;
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  if (text.size() > kMax) {
    return nlohmann::json(text.substr(0, kMax)).dump(-1, ' ', true, kReplace) + "...";
  }
  return nlohmann::json(text).dump(-1, ' ', true, kReplace);
}

// The status and transport error of the host's response_json; status 0 when unreadable.
std::pair<std::int64_t, std::string> status_of(std::string_view response_json) {
  const nlohmann::json response = nlohmann::json::parse(response_json, nullptr, false);
  if (!response.is_object()) {
    return {0, "the host's answer is not JSON"};
  }
  std::int64_t status = 0;
  const auto status_it = response.find("status");
  if (status_it != response.end() && status_it->is_number_integer()) {
    status = status_it->get<std::int64_t>();
  }
  std::string error;
  const auto error_it = response.find("error");
  if (error_it != response.end() && error_it->is_string()) {
    error = error_it->get<std::string>();
  }
  return {status, std::move(error)};
}

// The host's request_json for a GET of `url`.
std::string get_request(const std::string& url, const OpenIdSettings& settings) {
  nlohmann::json request = {
      {"v", 1},
      {"method", "GET"},
      {"url", url},
      {"headers", nlohmann::json::object()},
      {"timeout_ms", std::clamp(settings.timeout_ms, kMinTimeoutMs, kMaxTimeoutMs)},
  };
  if (!settings.proxy.empty()) {
    request["proxy"] = settings.proxy;
  }
  return request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

OpenIdKeys::OpenIdKeys(sdk::Host host, OpenIdSettings settings, SteadyMs now_ms)
    : host_(host),
      settings_(std::move(settings)),
      now_ms_(now_ms ? std::move(now_ms) : SteadyMs(&steady_now_ms)) {}

void OpenIdKeys::with_key(const std::string& kid, Ready ready) {
  if (have_keys_) {
    const std::int64_t now = now_ms_();
    const bool fresh = now - fetched_at_ms_ < settings_.max_age_ms;
    if (fresh && keys_.find(kid) != nullptr) {
      ready(&keys_, {});
      return;
    }
    // An unknown kid, or keys past their age: refetch, but not more often than
    // unknown_kid_refetch_ms, so that forged kids or a Microsoft outage do not turn every
    // request into a fetch. Meanwhile the keys we have are the answer.
    if (!fetching_ && now - attempted_at_ms_ < settings_.unknown_kid_refetch_ms) {
      ready(&keys_, {});
      return;
    }
  }
  // No keys and the last fetch failed a moment ago (Microsoft unreachable at start):
  // do not make every request a fetch.
  if (!have_keys_ && !fetching_ && !last_error_.empty() &&
      now_ms_() - attempted_at_ms_ < settings_.failed_fetch_retry_ms) {
    ready(nullptr, last_error_);
    return;
  }
  if (waiting_.size() >= settings_.max_waiting) {
    ready(nullptr, std::to_string(waiting_.size()) +
                       " requests already wait for the Bot Framework signing keys from " +
                       settings_.metadata_url + " (limit max_waiting)");
    return;
  }
  waiting_.push_back(std::move(ready));
  if (!fetching_) {
    start_fetch();
  }
}

void OpenIdKeys::start_fetch() {
  fetching_ = true;
  ++fetches_;
  attempted_at_ms_ = now_ms_();
  jwks_uri_.clear();
  const std::string& url = settings_.metadata_url;
  if (!is_https(url) && !is_http(url)) {
    finish("the OpenID metadata URL " + quoted(url) + " is not an http(s) URL");
    return;
  }
  const std::uint64_t call_id = next_call_id_++;
  const haveri_status status = host_.http_request(call_id, get_request(url, settings_), {});
  if (status != HAVERI_OK) {
    finish("GET " + url + ": the host refused the request (status " + std::to_string(status) + ")");
    return;
  }
  in_flight_.emplace(call_id, Step::metadata);
}

bool OpenIdKeys::on_http_response(std::uint64_t call_id, std::string_view response_json,
                                  std::string_view body) {
  const auto found = in_flight_.find(call_id);
  if (found == in_flight_.end()) {
    return false;
  }
  const Step step = found->second;
  in_flight_.erase(found);
  const std::string url = step == Step::metadata ? settings_.metadata_url : jwks_uri_;

  const auto [status, transport_error] = status_of(response_json);
  if (status == 0) {
    finish("GET " + url + ": " + (transport_error.empty() ? "no answer" : transport_error));
    return true;
  }
  if (status != 200) {
    finish("GET " + url + ": HTTP " + std::to_string(status));
    return true;
  }
  if (body.size() > settings_.max_document_bytes) {
    finish("GET " + url + ": the document has " + std::to_string(body.size()) +
           " bytes, over the limit of " + std::to_string(settings_.max_document_bytes));
    return true;
  }

  if (step == Step::jwks) {
    std::vector<std::string> skipped;
    KeySet fetched = KeySet::parse(body, &skipped);
    for (const std::string& reason : skipped) {
      host_.log(HAVERI_LOG_DEBUG, "Bot Framework keys: " + url + ": skipped " + reason);
    }
    if (fetched.empty()) {
      finish("GET " + url + ": no usable RSA signing key" +
             (skipped.empty() ? std::string{} : " (" + skipped.front() + ")"));
      return true;
    }
    keys_ = std::move(fetched);
    have_keys_ = true;
    fetched_at_ms_ = now_ms_();
    host_.log(HAVERI_LOG_INFO,
              "Bot Framework keys: " + std::to_string(keys_.size()) + " signing keys from " + url);
    finish({});
    return true;
  }

  const nlohmann::json metadata = nlohmann::json::parse(body, nullptr, false);
  if (!metadata.is_object()) {
    finish("GET " + url + ": the OpenID metadata is not a JSON object");
    return true;
  }
  const auto jwks_uri = metadata.find("jwks_uri");
  if (jwks_uri == metadata.end() || !jwks_uri->is_string()) {
    finish("GET " + url + ": the OpenID metadata has no jwks_uri");
    return true;
  }
  const std::string& jwks = jwks_uri->get_ref<const std::string&>();
  if (!is_https(jwks) && !is_http(jwks)) {
    finish("GET " + url + ": jwks_uri " + quoted(jwks) + " is not an http(s) URL");
    return true;
  }
  if (is_https(url) && !is_https(jwks)) {
    finish("GET " + url + ": jwks_uri " + quoted(jwks) +
           " is plain http although the metadata came over https");
    return true;
  }
  jwks_uri_ = jwks;

  const std::uint64_t jwks_call = next_call_id_++;
  const haveri_status sent = host_.http_request(jwks_call, get_request(jwks_uri_, settings_), {});
  if (sent != HAVERI_OK) {
    finish("GET " + jwks_uri_ + ": the host refused the request (status " + std::to_string(sent) +
           ")");
    return true;
  }
  in_flight_.emplace(jwks_call, Step::jwks);
  return true;
}

void OpenIdKeys::finish(const std::string& error) {
  fetching_ = false;
  last_error_ = error;
  if (!error.empty()) {
    if (have_keys_) {
      const std::int64_t age_s = (now_ms_() - fetched_at_ms_) / 1000;
      host_.log(HAVERI_LOG_WARN, "Bot Framework keys: " + error + "; keeping the " +
                                     std::to_string(keys_.size()) + " keys fetched " +
                                     std::to_string(age_s) + " s ago");
    } else {
      host_.log(HAVERI_LOG_ERROR,
                "Bot Framework keys: " + error + "; no key to check tokens with, requests get 401");
    }
  }
  // Taken out first: a waiter may call with_key again, which may start the next fetch.
  std::vector<Ready> waiters;
  waiters.swap(waiting_);
  for (Ready& ready : waiters) {
    if (have_keys_) {
      ready(&keys_, {});
    } else {
      ready(nullptr, error);
    }
  }
}

void OpenIdKeys::abandon_all() {
  waiting_.clear();
}

}  // namespace haveri::teams
