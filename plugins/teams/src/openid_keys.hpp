#pragma once
// The Bot Framework's token signing keys, fetched through the host's HTTP service and
// cached: the OpenID metadata document (its "jwks_uri") and then the JWKS it names.
//
// Fetch policy (what Microsoft asks of bots that validate tokens themselves): keys are
// fetched on first need, refreshed when they are older than `max_age_ms` (a day), and
// refetched when a token names a kid the set does not have — but at most once per
// `unknown_kid_refetch_ms` (5 minutes), so a stream of forged kids cannot make us hammer
// Microsoft. While a fetch runs, further requests wait for it (bounded by `max_waiting`);
// a failed fetch keeps the old keys.
//
// Runs on: the plugin instance's serialised context, like every host callback.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <haveri/plugin.hpp>

#include "jwt.hpp"

namespace haveri::teams {

struct OpenIdSettings {
  std::string metadata_url = "https://login.botframework.com/v1/.well-known/openidconfiguration";
  std::string proxy;  // "" or http://host:port
  std::uint64_t timeout_ms = 10000;
  std::int64_t max_age_ms = std::int64_t{24} * 3600 * 1000;
  std::int64_t unknown_kid_refetch_ms = std::int64_t{5} * 60 * 1000;
  std::size_t max_waiting = 1000;
  // With no keys at all, a failed fetch is not tried again before this: meanwhile
  // requests are answered at once with the failure (Teams retries them).
  std::int64_t failed_fetch_retry_ms = 5000;
  std::size_t max_document_bytes = std::size_t{1024} * 1024;
};

class OpenIdKeys {
 public:
  // `keys` is null when no key set could be had: `error` says why ("GET …: HTTP 503").
  // Otherwise it is the current set, valid during the call only.
  using Ready = std::function<void(const KeySet* keys, const std::string& error)>;
  using SteadyMs = std::function<std::int64_t()>;

  // HTTP call ids this object uses start here (the plugin's other calls stay below).
  static constexpr std::uint64_t kCallBase = std::uint64_t{1} << 41;

  OpenIdKeys(sdk::Host host, OpenIdSettings settings, SteadyMs now_ms = {});

  // Calls `ready` once with a key set in which `kid` should be found: at once (inside
  // this call) when the cached set is fresh and has `kid`, or when it lacks `kid` but
  // was fetched less than unknown_kid_refetch_ms ago (the caller then finds no key and
  // refuses the token); otherwise after a fetch (metadata, then JWKS) completes. Too
  // many waiting: at once with null and an error.
  void with_key(const std::string& kid, Ready ready);

  // The host's answers, routed here by the plugin. False: not ours.
  bool on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body);

  // Drops every waiter without calling it (the instance is going away).
  void abandon_all();

  std::size_t fetches_started() const noexcept { return fetches_; }
  std::size_t keys_cached() const noexcept { return keys_.size(); }

 private:
  enum class Step { metadata, jwks };
  void start_fetch();
  void finish(const std::string& error);

  sdk::Host host_;
  OpenIdSettings settings_;
  SteadyMs now_ms_;
  KeySet keys_;
  std::int64_t fetched_at_ms_ = 0;    // when keys_ arrived
  std::int64_t attempted_at_ms_ = 0;  // when the last fetch started, failed or not
  std::string jwks_uri_;              // from the metadata of the fetch under way
  bool have_keys_ = false;
  bool fetching_ = false;
  std::string last_error_;  // of the last fetch, "" when it succeeded
  std::size_t fetches_ = 0;
  std::uint64_t next_call_id_ = kCallBase;
  std::unordered_map<std::uint64_t, Step> in_flight_;
  std::vector<Ready> waiting_;
};

}  // namespace haveri::teams
