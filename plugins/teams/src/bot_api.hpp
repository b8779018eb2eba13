#pragma once
// Microsoft's APIs as the Teams adapter calls them, through the host's HTTP service
// (plugin ABI 1.2, host->http_request):
//   - tokens by the OAuth 2.0 client-credentials grant (POST form to a token URL:
//     grant_type=client_credentials, client_id, client_secret, scope), one per scope
//     and authority, cached until `token_refresh_margin_ms` before "expires_in" ends,
//     concurrent requests for one token coalesced into one call;
//   - the Bot Connector REST API at a conversation's serviceUrl (scope
//     https://api.botframework.com/.default, token from `connector_token_url`);
//   - Microsoft Graph at `graph_base_url` (scope https://graph.microsoft.com/.default,
//     token from `graph_token_url` with "{tenant}" replaced by the tenant id).
//
// Retries: 429, 412, 502, 503, 504 and transport failures are retried here with
// exponential backoff and jitter (500 ms doubling, Retry-After honoured: seconds or an
// HTTP date) as long as the total wait stays under `max_retry_wait_ms`; then the call
// ends `retryable` with the wait still needed, for the host's outbox to retry. A 401
// from the Connector or Graph drops the cached token and is tried once more with a new
// one. Every other status is `permanent`.
//
// Budget: every call counts against its tenant's budget (`tenant_per_second`, `burst`;
// Teams allows an app about 50 requests per second per tenant) and, for Connector
// calls, against its conversation's (`conversation_per_second`; Teams allows a bot
// about 7 per second in one conversation). A call that would wait longer than
// `max_pacing_wait_ms` fails at once as retryable with that wait.
//
// Runs on: the plugin instance's serialised context, so it needs no lock.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace haveri::teams {

struct ApiOutcome {
  enum class Kind { ok, retryable, permanent };
  Kind kind = Kind::permanent;
  int status = 0;                                      // HTTP status; 0 transport failure
  nlohmann::json response = nlohmann::json::object();  // the answer's JSON (object if none)
  std::string error_code;            // Graph/Connector error.code ("NameAlreadyExists", "NotFound")
  std::string error;                 // for people and logs: never a token or secret
  std::uint64_t retry_after_ms = 0;  // retryable: the wait still needed (0: caller decides)

  bool ok() const noexcept { return kind == Kind::ok; }
};

// One HTTP answer of the Connector, Graph or a token endpoint. 2xx ok (an empty or
// non-JSON body gives an empty object); 429/412/502/503/504 and status 0 retryable with
// Retry-After (delta seconds, or an HTTP date against `now_unix_seconds`) in ms; every
// other status permanent. error_code from {"error":{"code":…,"message":…}} (Graph and
// Connector) or {"error":"invalid_client","error_description":…} (token endpoints);
// error names the status and the code/message, cut to 300 characters.
ApiOutcome interpret_answer(int status, const nlohmann::json& headers, std::string_view body,
                            std::string_view transport_error, std::int64_t now_unix_seconds);

struct BotApiSettings {
  std::string app_id;
  std::string client_secret;
  std::string connector_token_url =
      "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";
  std::string connector_scope = "https://api.botframework.com/.default";
  std::string graph_token_url = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
  std::string graph_scope = "https://graph.microsoft.com/.default";
  std::string graph_base_url = "https://graph.microsoft.com/v1.0";  // no trailing slash
  std::string proxy;                                                // "" or http://host:port
  std::uint64_t timeout_ms = 10000;
  std::int64_t token_refresh_margin_ms = std::int64_t{5} * 60 * 1000;
  std::uint64_t max_retry_wait_ms = 8000;
  std::uint64_t max_pacing_wait_ms = 5000;
  std::size_t max_waiting_calls = 1000;
  double tenant_per_second = 30;
  double tenant_burst = 30;
  double conversation_per_second = 4;
  double conversation_burst = 4;
};

class BotApi {
 public:
  using Done = std::function<void(const ApiOutcome&)>;
  using SteadyMs = std::function<std::int64_t()>;     // a steady clock, milliseconds
  using UnixSeconds = std::function<std::int64_t()>;  // wall clock, for Retry-After dates

  // Timer ids this object uses are at or above kTimerBase; call ids at or above
  // kCallBase and below OpenIdKeys::kCallBase. The plugin's own stay below both.
  static constexpr std::uint64_t kTimerBase = std::uint64_t{1} << 40;
  static constexpr std::uint64_t kCallBase = std::uint64_t{1} << 40;

  BotApi(sdk::Host host, BotApiSettings settings, SteadyMs now_ms = {}, UnixSeconds unix_now = {});

  // A Connector call: `method` "POST"/"PUT"/"GET"/"DELETE" to service_url (with or
  // without a trailing "/") + path ("/v3/conversations/…", path segments already
  // percent-encoded by the caller: see encode_path_segment), `body` as JSON (null: none).
  // Paced by `tenant` and by `conversation` ("" for none). `done` is called once, later,
  // never inside this call.
  void connector(const std::string& tenant, const std::string& conversation,
                 const std::string& method, const std::string& service_url, const std::string& path,
                 const nlohmann::json& body, Done done);

  // A Graph call: graph_base_url + path ("/teams/{id}/channels"), token for `tenant`.
  void graph(const std::string& tenant, const std::string& method, const std::string& path,
             const nlohmann::json& body, Done done);

  // The host's answers and timers, routed here by the plugin. False: not ours.
  bool on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body);
  bool on_timer(std::uint64_t timer_id);

  // Forgets every pending call without answering it (the instance is going away).
  void abandon_all();

  std::size_t calls_waiting() const noexcept;
  std::size_t calls_in_flight() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Percent-encodes one URL path segment as Microsoft's SDKs do (encodeURIComponent:
// RFC 3986 unreserved characters and !*'() kept, every other byte %XX, so the ":", "@",
// ";" and "=" of "19:…@thread.tacv2;messageid=…" are encoded).
std::string encode_path_segment(std::string_view segment);

}  // namespace haveri::teams
