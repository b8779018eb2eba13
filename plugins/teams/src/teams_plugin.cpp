// libhaveri_teams.so — the Microsoft Teams adapter (docs/teams.md).
//
// Inbound, the Bot Framework service posts activities to /hooks/<instance>/messages.
// Every request carries a bearer JWT that we check against the keys the Bot Framework
// publishes (jwt.hpp, openid_keys.hpp) before anything else is looked at; when the key
// is not cached yet the request waits for the fetch, and the host holds Teams' answer.
// Activities become neutral events (activity.hpp); the host answers once they are
// durable, and activity ids make Teams' retries idempotent.
//
// Outbound, the host's outbox asks for neutral operations. Incident channels are made
// through Microsoft Graph in the configured team; messages, thread replies, card
// updates and personal pages go through the Bot Connector at the tenant's serviceUrl
// (bot_api.hpp: tokens, retries honouring Retry-After, per-tenant and per-conversation
// budgets). Cards are Adaptive Cards 1.5 (adaptive_card.hpp); buttons and forms are
// Action.Execute, answered with an invoke response that refreshes the card.
//
// Runs on: the instance's serialised context (the host never calls an instance
// concurrently and delivers HTTP answers and timers the same way): no locks.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>
#include <haveri/plugin_json.hpp>

#include "activity.hpp"
#include "adaptive_card.hpp"
#include "bot_api.hpp"
#include "jwt.hpp"
#include "openid_keys.hpp"

namespace haveri::teams {
namespace {

using json = nlohmann::json;
using sdk::dump;
using sdk::object_at;
using sdk::remember_bounded;
using sdk::required_string;
using sdk::result_ok;
using sdk::result_permanent;
using sdk::result_retryable;
using sdk::string_at;

// Operation keys remembered so a retried operation is answered, not done again.
constexpr std::size_t kRememberedOperations = 2000;
// Forms we showed (by form id), to check answers and show what was submitted.
constexpr std::size_t kRememberedForms = 1000;
// Conversations: their tenant; people: their personal conversation with the bot.
constexpr std::size_t kRememberedConversations = 10000;
// People looked up (Bot Connector, conversation member) for one command, at most.
constexpr std::size_t kMaxMentionLookups = 3;
// People whose Entra object id we know from their "29:…" id.
constexpr std::size_t kRememberedPeople = 10000;
// Teams' limits on a channel's display name and description (Graph, channel-post).
constexpr std::size_t kChannelNameChars = 50;
constexpr std::size_t kChannelDescriptionChars = 1024;
// Requests waiting for signing keys, at most; beyond it Teams is told to retry.
constexpr std::size_t kMaxPendingRequests = 500;

const std::vector<std::string>& default_service_url_allow_list() {
  // The Bot Connector's public and government clouds.
  // The Bot Connector of the public cloud and of GCC, whose tokens the public Bot
  // Framework issues. (GCC High and DoD have their own issuer and keys: not supported.)
  static const std::vector<std::string> list = {"https://smba.trafficmanager.net/",
                                                "https://smba.infra.gcc.teams.microsoft.com/"};
  return list;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The host's code for what Microsoft said, where the host can act on it.
std::string error_code_for(const ApiOutcome& outcome) {
  if (outcome.error_code == "ConversationNotFound" || outcome.error_code == "ChannelNotFound" ||
      (outcome.status == 404 && outcome.error_code != "ActivityNotFound")) {
    return "channel_not_found";
  }
  if (outcome.error_code == "ActivityNotFound") {
    return "message_not_found";
  }
  if (outcome.status == 403) {
    return "forbidden";
  }
  return outcome.error_code.empty() ? "teams_error" : outcome.error_code;
}

json result_of_failure(const ApiOutcome& outcome, std::string_view what) {
  if (outcome.kind == ApiOutcome::Kind::retryable) {
    return result_retryable(outcome.retry_after_ms, std::string(what) + ": " + outcome.error);
  }
  return result_permanent(error_code_for(outcome), std::string(what) + ": " + outcome.error);
}

bool is_teams_channel(std::string_view conversation) {
  // Channel ids are "19:…@thread.tacv2" (or the older "@thread.skype"); group chats are
  // "19:…@thread.v2", personal chats "a:…".
  return conversation.starts_with("19:") &&
         (conversation.ends_with("@thread.tacv2") || conversation.ends_with("@thread.skype"));
}

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

struct Settings {
  std::string app_id;
  std::string client_secret;
  std::vector<std::string> tenants;  // the first is the home tenant (the team's)
  std::string team_id;               // Graph id of the team incident channels go into
  std::string announcements_channel;
  std::string service_url = "https://smba.trafficmanager.net/teams/";
  std::vector<std::string> service_url_allow_list = default_service_url_allow_list();
  std::string openid_metadata_url =
      "https://login.botframework.com/v1/.well-known/openidconfiguration";
  // Single-tenant bots (Microsoft's default for new ones) get tokens from their own
  // tenant; multi-tenant bots from botframework.com. "{tenant}" is the home tenant.
  std::string token_url = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
  std::string graph_token_url = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
  std::string graph_base_url = "https://graph.microsoft.com/v1.0";
  std::string proxy;
  std::uint64_t api_timeout_ms = 10000;
  double tenant_requests_per_second = 30;
};

bool is_guid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return false;
      }
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string url_setting(const json& config, const char* key, std::string fallback) {
  if (!config.contains(key)) {
    return fallback;
  }
  std::string url = string_at(config, key);
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    throw std::invalid_argument(std::string("settings.") + key + ": must be an http(s) URL");
  }
  return url;
}

Settings parse_settings(std::string_view config_json) {
  const json config = json::parse(config_json, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    throw std::invalid_argument("settings must be a mapping");
  }
  static const std::set<std::string, std::less<>> known_keys = {"app_id",
                                                                "client_secret",
                                                                "tenants",
                                                                "team_id",
                                                                "announcements_channel",
                                                                "service_url",
                                                                "service_url_allow_list",
                                                                "openid_metadata_url",
                                                                "token_url",
                                                                "graph_token_url",
                                                                "graph_base_url",
                                                                "https_proxy",
                                                                "api_timeout_ms",
                                                                "tenant_requests_per_second"};
  for (const auto& [key, value] : config.items()) {
    if (known_keys.count(key) == 0) {
      throw std::invalid_argument(
          "settings." + key +
          ": unknown key (known: app_id, client_secret[_file], tenants, team_id, "
          "announcements_channel, app_type, service_url, service_url_allow_list, "
          "openid_metadata_url, token_url, graph_token_url, graph_base_url, https_proxy, "
          "api_timeout_ms, tenant_requests_per_second)");
    }
    const bool is_list = key == "tenants" || key == "service_url_allow_list";
    const bool is_number = key == "api_timeout_ms" || key == "tenant_requests_per_second";
    if (!is_list && !is_number && !value.is_string()) {
      throw std::invalid_argument("settings." + key + ": must be a string");
    }
  }
  Settings settings;
  settings.app_id = required_string(
      config, "app_id", "the bot's Microsoft App ID from its Azure Bot registration, a GUID");
  if (!is_guid(settings.app_id)) {
    throw std::invalid_argument("settings.app_id: \"" + settings.app_id +
                                "\" is not a GUID (the Microsoft App ID of the Azure Bot)");
  }
  settings.client_secret = required_string(
      config, "client_secret", "the app registration's client secret; use client_secret_file");
  const auto tenants = config.find("tenants");
  if (tenants == config.end() || !tenants->is_array() || tenants->empty()) {
    throw std::invalid_argument(
        "settings.tenants: required, a list of Microsoft Entra tenant ids (the first is the "
        "tenant of team_id)");
  }
  for (const json& tenant : *tenants) {
    if (!tenant.is_string() || !is_guid(tenant.get_ref<const std::string&>())) {
      throw std::invalid_argument("settings.tenants: " + dump(tenant) +
                                  " is not a tenant id (a GUID)");
    }
    settings.tenants.push_back(tenant.get<std::string>());
  }
  settings.team_id = required_string(
      config, "team_id",
      "the Microsoft Graph id (a GUID: the team's group id) of the team that gets incident "
      "channels");
  if (!is_guid(settings.team_id)) {
    throw std::invalid_argument("settings.team_id: \"" + settings.team_id +
                                "\" is not a team's group id (a GUID; Teams: … → Get link to "
                                "team, groupId=…)");
  }
  settings.announcements_channel = string_at(config, "announcements_channel");
  if (!settings.announcements_channel.empty() &&
      !is_teams_channel(settings.announcements_channel)) {
    throw std::invalid_argument(
        "settings.announcements_channel: a channel id such as 19:…@thread.tacv2");
  }
  settings.service_url = url_setting(config, "service_url", settings.service_url);
  if (const auto list = config.find("service_url_allow_list"); list != config.end()) {
    if (!list->is_array() || list->empty()) {
      throw std::invalid_argument("settings.service_url_allow_list: a list of URL prefixes");
    }
    settings.service_url_allow_list.clear();
    for (const json& prefix : *list) {
      // A prefix ends in "/" after its host, so that "https://smba.trafficmanager.net"
      // cannot admit "https://smba.trafficmanager.net.example".
      const std::string text = prefix.is_string() ? prefix.get<std::string>() : std::string();
      const std::size_t host = text.starts_with("https://")  ? 8
                               : text.starts_with("http://") ? 7
                                                             : 0;
      if (host == 0 || text.size() <= host + 1 || text.find('/', host) == std::string::npos ||
          !text.ends_with("/")) {
        throw std::invalid_argument("settings.service_url_allow_list: " + dump(prefix) +
                                    " is not an http(s) URL prefix ending in \"/\" "
                                    "(https://smba.trafficmanager.net/)");
      }
      settings.service_url_allow_list.push_back(prefix.get<std::string>());
    }
  }
  settings.openid_metadata_url =
      url_setting(config, "openid_metadata_url", settings.openid_metadata_url);
  const std::string app_type =
      config.contains("app_type") ? string_at(config, "app_type") : "single_tenant";
  if (app_type == "multi_tenant") {
    settings.token_url = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";
  } else if (app_type != "single_tenant") {
    throw std::invalid_argument("settings.app_type: \"" + app_type +
                                "\" is neither single_tenant nor multi_tenant (the Azure Bot's "
                                "Type of App)");
  }
  settings.token_url = url_setting(config, "token_url", settings.token_url);
  settings.graph_token_url = url_setting(config, "graph_token_url", settings.graph_token_url);
  if (settings.graph_token_url.find("{tenant}") == std::string::npos) {
    throw std::invalid_argument(
        "settings.graph_token_url: must contain {tenant} (…/{tenant}/oauth2/v2.0/token)");
  }
  settings.graph_base_url =
      without_trailing_slash(url_setting(config, "graph_base_url", settings.graph_base_url));
  settings.proxy = string_at(config, "https_proxy");
  if (!settings.proxy.empty() && !settings.proxy.starts_with("http://")) {
    // Not echoed: a proxy URL may carry user:password.
    throw std::invalid_argument("settings.https_proxy: must be http://host:port");
  }
  if (const auto timeout = config.find("api_timeout_ms"); timeout != config.end()) {
    if (!timeout->is_number_unsigned() || timeout->get<std::uint64_t>() < 100 ||
        timeout->get<std::uint64_t>() > 120000) {
      throw std::invalid_argument("settings.api_timeout_ms: an integer from 100 to 120000");
    }
    settings.api_timeout_ms = timeout->get<std::uint64_t>();
  }
  if (const auto rate = config.find("tenant_requests_per_second"); rate != config.end()) {
    if (!rate->is_number() || rate->get<double>() < 1 || rate->get<double>() > 50) {
      throw std::invalid_argument(
          "settings.tenant_requests_per_second: a number from 1 to 50 (Teams allows an app "
          "about 50 requests per second per tenant)");
    }
    settings.tenant_requests_per_second = rate->get<double>();
  }
  return settings;
}

// What the plugin answers Teams for one activity.
struct Answer {
  std::uint16_t status = 200;
  json body = json::object();
};

Answer refusal(std::uint16_t status, std::string message) {
  return Answer{status, json{{"error",
                              {{"code", status == 401   ? "Unauthorized"
                                        : status == 403 ? "Forbidden"
                                                        : "BadRequest"},
                               {"message", std::move(message)}}}}};
}

// A bounded map remembered in insertion order.
template <class Value>
struct Remembered {
  std::unordered_map<std::string, Value> values;
  std::deque<std::string> order;
  std::size_t limit = 1000;

  void put(const std::string& key, Value value) {
    remember_bounded(values, order, key, std::move(value), limit);
  }
  const Value* find(const std::string& key) const {
    const auto it = values.find(key);
    return it == values.end() ? nullptr : &it->second;
  }
};

class TeamsPlugin {
 public:
  using Finish = std::function<void(const json&)>;

  static std::unique_ptr<TeamsPlugin> create(sdk::Host host, std::string_view instance_name,
                                             std::string_view config_json) {
    if (!host.offers_services()) {
      throw std::runtime_error(
          "this haverid offers no HTTP services to plugins (plugin ABI 1.2); upgrade haverid");
    }
    return std::unique_ptr<TeamsPlugin>(
        new TeamsPlugin(host, std::string(instance_name), parse_settings(config_json)));
  }

  ~TeamsPlugin() {
    keys_.abandon_all();
    api_.abandon_all();
  }
  TeamsPlugin(const TeamsPlugin&) = delete;
  TeamsPlugin& operator=(const TeamsPlugin&) = delete;

  std::string describe() {
    // Teams allows a bot about 7 messages a second in one conversation and an app 50
    // requests a second per tenant; an operation is one to three requests.
    return R"({"v":1,"limits":{"channel_interval_ms":250,"per_second":8,"burst":16}})";
  }

  // ---- inbound ----

  void handle_request(std::uint64_t request_id, std::string_view request_json,
                      std::string_view body) {
    const json request = json::parse(request_json, nullptr, false);
    const std::string method = string_at(request, "method");
    const std::string path = string_at(request, "path");
    if (path != "/messages" && path != "/messages/") {
      respond(request_id,
              refusal(404, "Teams posts activities to /hooks/" + instance_ + "/messages"));
      return;
    }
    if (method != "POST") {
      respond(request_id, refusal(405, "only POST"));
      return;
    }
    const std::string authorization = string_at(object_at(request, "headers"), "authorization");
    ParsedJwt token = parse_bearer(authorization);
    if (!token.ok()) {
      refuse_token(request_id, token.error, token.detail);
      return;
    }
    if (pending_requests_ >= kMaxPendingRequests) {
      respond(request_id, refusal(503, "too many requests waiting for signing keys"));
      return;
    }
    json activity = json::parse(body, nullptr, false);
    ++pending_requests_;
    const std::string kid = token.kid;
    keys_.with_key(
        kid, [this, request_id, token = std::move(token), activity = std::move(activity)](
                 const KeySet* keys, const std::string& error) {
          --pending_requests_;
          if (keys == nullptr) {
            host_.log(HAVERI_LOG_WARN, "Bot Framework signing keys unavailable: " + error);
            respond(request_id, refusal(503, "signing keys unavailable; try again"));
            return;
          }
          on_authenticable(request_id, token, activity, *keys);
        });
  }

  // ---- outbound operations ----

  void perform_operation(std::uint64_t operation_id, std::string_view operation_json) {
    const json operation = json::parse(operation_json, nullptr, false);
    if (operation.is_discarded() || !operation.is_object()) {
      complete(operation_id, result_permanent("invalid", "the operation is not a JSON object"));
      return;
    }
    const std::string key = string_at(operation, "operation_key");
    if (!key.empty()) {
      if (const json* done = done_operations_.find(key)) {
        complete(operation_id, *done);
        return;
      }
      if (const auto running = running_operations_.find(key);
          running != running_operations_.end()) {
        // The host gave up waiting and asked again; the first attempt answers this one.
        running->second = operation_id;
        return;
      }
      running_operations_[key] = operation_id;
    }
    auto finish = [this, key, operation_id](const json& result) {
      std::uint64_t id = operation_id;
      if (!key.empty()) {
        if (const auto running = running_operations_.find(key);
            running != running_operations_.end()) {
          id = running->second;
          running_operations_.erase(running);
        }
        if (string_at(result, "status") == "ok") {
          done_operations_.put(key, result);
        }
      }
      complete(id, result);
    };
    const std::string type = string_at(operation, "type");
    if (type == "create_channel") {
      create_channel(operation, key, finish);
    } else if (type == "post_message") {
      post_message(operation, finish);
    } else if (type == "update_message") {
      update_message(operation, finish);
    } else if (type == "invite") {
      invite(operation, finish);
    } else if (type == "notify_person") {
      notify_person(operation, finish);
    } else {
      finish(
          result_permanent("unsupported_operation",
                           "the Teams plugin does not know operations of type \"" + type + "\""));
    }
  }

  // ---- the host's services ----

  void on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body) {
    if (!keys_.on_http_response(call_id, response_json, body)) {
      api_.on_http_response(call_id, response_json, body);
    }
  }

  void on_timer(std::uint64_t timer_id) { api_.on_timer(timer_id); }

 private:
  TeamsPlugin(sdk::Host host, std::string instance_name, Settings settings)
      : host_(host),
        instance_(std::move(instance_name)),
        settings_(std::move(settings)),
        bot_{settings_.app_id},
        keys_(host,
              OpenIdSettings{settings_.openid_metadata_url, settings_.proxy,
                             settings_.api_timeout_ms},
              steady_ms),
        api_(host, api_settings(settings_), steady_ms, unix_seconds) {
    done_operations_.limit = kRememberedOperations;
    forms_.limit = kRememberedForms;
    conversation_tenants_.limit = kRememberedConversations;
    personal_conversations_.limit = kRememberedConversations;
    entra_ids_.limit = kRememberedPeople;
    teams_ids_.limit = kRememberedPeople;
    people_tenants_.limit = kRememberedPeople;
    service_urls_[home_tenant()] = settings_.service_url;
  }

  static BotApiSettings api_settings(const Settings& settings) {
    BotApiSettings api;
    api.app_id = settings.app_id;
    api.client_secret = settings.client_secret;
    api.connector_token_url = settings.token_url;
    if (const auto at = api.connector_token_url.find("{tenant}"); at != std::string::npos) {
      api.connector_token_url.replace(at, std::string_view("{tenant}").size(),
                                      settings.tenants.front());
    }
    api.graph_token_url = settings.graph_token_url;
    api.graph_base_url = settings.graph_base_url;
    api.proxy = settings.proxy;
    api.timeout_ms = settings.api_timeout_ms;
    api.tenant_per_second = settings.tenant_requests_per_second;
    api.tenant_burst = settings.tenant_requests_per_second;
    return api;
  }

  const std::string& home_tenant() const { return settings_.tenants.front(); }

  void complete(std::uint64_t operation_id, const json& result) {
    host_.complete_operation(operation_id, dump(result));
  }

  void respond(std::uint64_t request_id, const Answer& answer) {
    host_.respond(request_id, answer.status, "application/json; charset=utf-8", dump(answer.body));
  }

  void refuse_token(std::uint64_t request_id, JwtError error, const std::string& detail) {
    // The reason goes to the log for the operator; Teams (or whoever sent it) learns
    // only that it was refused.
    host_.log(HAVERI_LOG_WARN, "refused a request to /hooks/" + instance_ +
                                   "/messages: " + std::string(to_string(error)) +
                                   (detail.empty() ? "" : " (" + detail + ")"));
    respond(request_id, refusal(401, "unauthorized"));
  }

  bool service_url_allowed(const std::string& url) const {
    for (const std::string& prefix : settings_.service_url_allow_list) {
      if (url.starts_with(prefix)) {
        return true;
      }
    }
    return false;
  }

  bool tenant_allowed(const std::string& tenant) const {
    for (const std::string& allowed : settings_.tenants) {
      if (allowed == tenant) {
        return true;
      }
    }
    return false;
  }

  void on_authenticable(std::uint64_t request_id, const ParsedJwt& token, const json& activity,
                        const KeySet& keys) {
    ExpectedClaims expected;
    expected.audience = settings_.app_id;
    expected.now_unix_seconds = unix_seconds();
    const bool usable = activity.is_object();
    // A body that is not an activity has no serviceUrl to compare: the token is still
    // checked in full, so that only a genuine sender learns that its body was bad.
    expected.service_url = usable ? string_at(activity, "serviceUrl")
                           : string_at(token.claims, "serviceurl").empty()
                               ? string_at(token.claims, "serviceUrl")
                               : string_at(token.claims, "serviceurl");
    const JwtVerdict verdict = verify(token, keys, expected);
    if (!verdict.ok()) {
      refuse_token(request_id, verdict.error, verdict.detail);
      return;
    }
    if (!usable) {
      respond(request_id, refusal(400, "the body is not a Bot Framework activity"));
      return;
    }
    if (string_at(activity, "channelId") != "msteams") {
      respond(request_id, refusal(400, "only Microsoft Teams activities (channelId msteams)"));
      return;
    }
    const std::string service_url = string_at(activity, "serviceUrl");
    if (!service_url_allowed(service_url)) {
      host_.log(HAVERI_LOG_WARN, "refused an activity whose serviceUrl " + service_url +
                                     " is not in service_url_allow_list");
      respond(request_id, refusal(401, "unauthorized"));
      return;
    }
    ActivityTranslation translation = translate_activity(activity, bot_);
    if (translation.malformed) {
      host_.log(HAVERI_LOG_WARN, "a malformed activity: " + translation.ignored_because);
      respond(request_id, refusal(400, "malformed activity: " + translation.ignored_because));
      return;
    }
    const ConversationRef& where = translation.conversation;
    if (!where.tenant_id.empty() && !tenant_allowed(where.tenant_id)) {
      host_.log(HAVERI_LOG_WARN, "refused an activity from tenant " + where.tenant_id +
                                     ", which is not in settings.tenants");
      respond(request_id, refusal(403, "this tenant is not served here"));
      return;
    }
    remember_conversation(where, translation.bot_installed);
    if (translation.events.empty() && !translation.ignored_because.empty()) {
      host_.log(HAVERI_LOG_DEBUG, "activity ignored: " + translation.ignored_because);
    }
    // A submitted form we showed: its answers checked against it (once, for the event
    // and for the card that replaces the form).
    const json* submitted_form = nullptr;
    CardAnswers answers;
    for (json& event : translation.events) {
      if (string_at(event, "type") == "form_submission") {
        const std::string form_id = string_at(event, "form_id");
        if (const json* form = forms_.find(form_id)) {
          submitted_form = form;
          answers =
              read_card_answers(translation.is_card_action_invoke ? translation.card_action_data
                                                                  : object_at(activity, "value"),
                                form);
          if (!answers.errors.empty()) {
            const auto& [input, problem] = *answers.errors.begin();
            respond(request_id, Answer{200, invoke_error_response(input + ": " + problem)});
            return;
          }
          json values = json::object();
          for (const auto& [name, value] : answers.values) {
            values[name] = value;
          }
          event["values"] = std::move(values);
        }
      }
    }
    Answer answer;
    if (translation.is_card_action_invoke) {
      answer = invoke_answer(translation, string_at(object_at(activity, "from"), "name"),
                             submitted_form, answers);
    }
    learn_people(activity, translation.conversation.tenant_id);
    // Teams waits about 15 s for its answer: a few lookups at most; the rest stay
    // "29:…" ids and the daemon says it does not know them.
    std::vector<std::string> unknown;
    for (const std::string& id : translation.mentioned_user_ids) {
      if (entra_ids_.find(id) == nullptr && unknown.size() < kMaxMentionLookups) {
        unknown.push_back(id);
      }
    }
    resolve_mentions_then_submit(request_id, std::move(translation), std::move(answer),
                                 std::move(unknown));
  }

  // Who is who: Teams names people by "29:…" ids in mentions, the directory by Entra
  // object ids; every activity's sender (and people added) tells us both.
  void learn_people(const json& activity, const std::string& tenant) {
    const json& from = object_at(activity, "from");
    learn_person(string_at(from, "id"), string_at(from, "aadObjectId"), tenant);
    if (const auto added = activity.find("membersAdded");
        added != activity.end() && added->is_array()) {
      for (const json& member : *added) {
        learn_person(string_at(member, "id"), string_at(member, "aadObjectId"), tenant);
      }
    }
  }

  void learn_person(const std::string& teams_id, const std::string& entra,
                    const std::string& tenant = {}) {
    if (teams_id.empty() || entra.empty()) {
      return;
    }
    entra_ids_.put(teams_id, entra);
    teams_ids_.put(entra, teams_id);
    if (!tenant.empty()) {
      people_tenants_.put(entra, tenant);
    }
  }

  // Person mentions in a command become Entra object ids before the command is handed
  // on; one we have not seen is asked of the Bot Connector (the conversation's member).
  // One that cannot be resolved stays a "29:…" id, which the daemon reports as unknown.
  void resolve_mentions_then_submit(std::uint64_t request_id, ActivityTranslation translation,
                                    Answer answer, std::vector<std::string> unknown) {
    if (unknown.empty()) {
      std::map<std::string, std::string> ids;
      for (const std::string& id : translation.mentioned_user_ids) {
        if (const std::string* entra = entra_ids_.find(id)) {
          ids[id] = *entra;
        }
      }
      for (json& event : translation.events) {
        if (!ids.empty() && string_at(event, "type") == "command") {
          event["text"] = replace_mentioned_ids(string_at(event, "text"), ids);
        }
        if (host_.submit_inbound(request_id, dump(event)) != HAVERI_OK) {
          respond(request_id, refusal(503, "the event could not be handed to haverid"));
          return;
        }
      }
      respond(request_id, answer);
      return;
    }
    const std::string id = unknown.back();
    unknown.pop_back();
    // Copies: `translation` moves into the callback below.
    const std::string tenant = translation.conversation.tenant_id;
    const std::string service_url = translation.conversation.service_url;
    const std::string path = "/v3/conversations/" +
                             encode_path_segment(translation.conversation.conversation_id) +
                             "/members/" + encode_path_segment(id);
    api_.connector(
        tenant, "", "GET", service_url, path, nullptr,
        [this, request_id, id, translation = std::move(translation), answer = std::move(answer),
         unknown = std::move(unknown)](const ApiOutcome& outcome) mutable {
          if (const std::string entra = string_at(outcome.response, "aadObjectId");
              outcome.ok() && !entra.empty()) {
            learn_person(id, entra);
          } else {
            host_.log(HAVERI_LOG_DEBUG, "could not look up the mentioned person " + id + ": " +
                                            (outcome.ok() ? "no aadObjectId" : outcome.error));
          }
          resolve_mentions_then_submit(request_id, std::move(translation), std::move(answer),
                                       std::move(unknown));
        });
  }

  // The invoke response for an Action.Execute: the form replaced by what was submitted;
  // for a command button, a short message (the card's new state arrives when haverid
  // updates it).
  Answer invoke_answer(const ActivityTranslation& translation, const std::string& by,
                       const json* submitted_form, const CardAnswers& answers) {
    if (translation.card_action_verb == kFormVerb) {
      if (submitted_form != nullptr) {
        return Answer{200,
                      invoke_card_response(render_submitted_form(*submitted_form, answers, by))};
      }
      return Answer{200, invoke_message_response("Submitted.")};
    }
    // Not the card as it was: haverid updates it for everyone once the command is
    // recorded, and an old card in this answer could land after that update.
    return Answer{200, invoke_message_response("Got it — the card updates in a moment.")};
  }

  void remember_conversation(const ConversationRef& where, bool bot_installed) {
    if (where.tenant_id.empty()) {
      return;
    }
    if (!where.service_url.empty()) {
      service_urls_[where.tenant_id] = where.service_url;
    }
    const std::string channel = channel_of_conversation(where.conversation_id);
    if (!channel.empty()) {
      conversation_tenants_.put(channel, where.tenant_id);
    }
    if (bot_installed && !where.team_id.empty()) {
      teams_by_tenant_[where.tenant_id] = where.team_id;
    }
    if (bot_installed) {
      host_.log(HAVERI_LOG_INFO, "installed in team " + where.team_id + " of tenant " +
                                     where.tenant_id + " (service " + where.service_url + ")");
    }
  }

  static std::string channel_of_conversation(const std::string& conversation) {
    const auto cut = conversation.find(";messageid=");
    return cut == std::string::npos ? conversation : conversation.substr(0, cut);
  }

  std::string tenant_of(const std::string& conversation) const {
    if (const std::string* tenant = conversation_tenants_.find(conversation)) {
      return *tenant;
    }
    return home_tenant();
  }

  std::string service_url_for(const std::string& tenant) const {
    const auto it = service_urls_.find(tenant);
    return it == service_urls_.end() ? settings_.service_url : it->second;
  }

  std::string resolve_channel(const json& operation) const {
    std::string channel = string_at(object_at(operation, "channel"), "id");
    if (channel == "announcements" && !settings_.announcements_channel.empty()) {
      return settings_.announcements_channel;
    }
    return channel;
  }

  // ---- create_channel ----

  // Teams allows 50 characters in a channel name; the host's names run to 80 and end in
  // "-2", "-3", … when a name is taken, so a long name is shortened in the middle and
  // keeps that ending (else every attempt would send the same name).
  static std::string channel_display_name(const std::string& name) {
    if (cut_to(name, kChannelNameChars) == name) {
      return name;
    }
    std::string ending;
    if (const auto dash = name.rfind('-');
        dash != std::string::npos && dash + 1 < name.size() && name.size() - dash <= 6 &&
        name.find_first_not_of("0123456789", dash + 1) == std::string::npos) {
      ending = name.substr(dash);
    }
    std::string start = cut_to(name, kChannelNameChars - ending.size());
    if (start.ends_with("…")) {  // Teams refuses some punctuation in names: no "…"
      start.resize(start.size() - std::string_view("…").size());
    }
    while (!start.empty() && start.back() == '-') {
      start.pop_back();
    }
    return start + ending;
  }

  // What marks a channel as made by one create_channel operation, in its description:
  // after a lost answer, the retry finds its own channel by it (also after a restart).
  static std::string creation_mark(const std::string& key) {
    std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a: the same in every build
    for (const char c : key) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string mark = "haveri:";
    for (int shift = 60; shift >= 0; shift -= 4) {
      mark += kHex[(hash >> shift) & 0xF];
    }
    return mark;
  }

  void create_channel(const json& operation, const std::string& key, const Finish& finish) {
    const std::string display_name = channel_display_name(string_at(operation, "name"));
    if (display_name.empty()) {
      finish(result_permanent("invalid", "create_channel needs a name"));
      return;
    }
    std::string description = cut_to(string_at(operation, "topic"), kChannelDescriptionChars - 40);
    const std::string mark = key.empty() ? std::string() : creation_mark(key);
    if (!mark.empty()) {
      description += (description.empty() ? "" : "\n\n") + mark;
    }
    std::vector<std::string> members;
    if (const auto list = operation.find("members"); list != operation.end() && list->is_array()) {
      for (const json& member : *list) {
        if (member.is_string() && !member.get_ref<const std::string&>().empty()) {
          members.push_back(member.get<std::string>());
        }
      }
    }
    json body = {{"displayName", display_name}, {"membershipType", "standard"}};
    if (!description.empty()) {
      body["description"] = description;
    }
    api_.graph(home_tenant(), "POST",
               "/teams/" + encode_path_segment(settings_.team_id) + "/channels", body,
               [this, key, mark, display_name, members, finish](const ApiOutcome& outcome) {
                 if (outcome.ok()) {
                   json channel = {{"id", string_at(outcome.response, "id")},
                                   {"name", string_at(outcome.response, "displayName")}};
                   if (string_at(channel, "id").empty()) {
                     finish(result_retryable(0, "Graph made a channel but sent no id"));
                     return;
                   }
                   if (string_at(channel, "name").empty()) {
                     channel["name"] = display_name;
                   }
                   channel_made(key, channel, members, finish);
                 } else if (name_taken(outcome) && !mark.empty()) {
                   find_own_channel(key, mark, display_name, members, finish);
                 } else if (name_taken(outcome)) {
                   finish(result_permanent("name_taken", "a channel named \"" + display_name +
                                                             "\" exists already in the team"));
                 } else {
                   finish(result_of_failure(outcome, "create channel (Graph)"));
                 }
               });
  }

  void channel_made(const std::string& key, const json& channel,
                    const std::vector<std::string>& members, const Finish& finish) {
    conversation_tenants_.put(string_at(channel, "id"), home_tenant());
    if (!key.empty()) {
      created_channels_.put(key, channel);
    }
    add_team_members(members, [channel, finish](const json& failure) {
      finish(failure.is_null() ? result_ok(json{{"channel", channel}}) : failure);
    });
  }

  // The name is taken: by our own channel from an attempt whose answer was lost (its
  // description carries this operation's mark), or by someone else's.
  void find_own_channel(const std::string& key, const std::string& mark,
                        const std::string& display_name, const std::vector<std::string>& members,
                        const Finish& finish) {
    if (const json* ours = created_channels_.find(key)) {
      channel_made(key, *ours, members, finish);
      return;
    }
    api_.graph(
        home_tenant(), "GET", "/teams/" + encode_path_segment(settings_.team_id) + "/channels",
        nullptr, [this, key, mark, display_name, members, finish](const ApiOutcome& listed) {
          if (!listed.ok()) {
            finish(result_of_failure(listed, "list the team's channels (Graph)"));
            return;
          }
          const auto channels = listed.response.find("value");
          if (channels != listed.response.end() && channels->is_array()) {
            for (const json& found : *channels) {
              if (string_at(found, "description").find(mark) != std::string::npos &&
                  !string_at(found, "id").empty()) {
                channel_made(
                    key,
                    json{{"id", string_at(found, "id")}, {"name", string_at(found, "displayName")}},
                    members, finish);
                return;
              }
            }
          }
          finish(result_permanent(
              "name_taken", "a channel named \"" + display_name + "\" exists already in the team"));
        });
  }

  static bool name_taken(const ApiOutcome& outcome) {
    return outcome.error_code == "NameAlreadyExists" ||
           (outcome.status == 400 && outcome.error.find("already exist") != std::string::npos);
  }

  // Standard channels are open to every member of the team: people who should see an
  // incident channel are added to the team. Someone already in it is no error; a
  // permanent failure for one person is logged and does not fail the others (the
  // channel exists and people can be added by hand); a retryable one fails the whole
  // step so the host tries again. `done` gets null or the failure result.
  void add_team_members(std::vector<std::string> users, std::function<void(const json&)> done) {
    if (users.empty()) {
      done(nullptr);
      return;
    }
    const std::string user = users.back();
    users.pop_back();
    json body = {{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
                 {"roles", json::array()},
                 {"user@odata.bind", settings_.graph_base_url + "/users('" + user + "')"}};
    api_.graph(home_tenant(), "POST",
               "/teams/" + encode_path_segment(settings_.team_id) + "/members", body,
               [this, user, users = std::move(users),
                done = std::move(done)](const ApiOutcome& outcome) mutable {
                 if (outcome.kind == ApiOutcome::Kind::retryable) {
                   done(result_of_failure(outcome, "add " + user + " to the team (Graph)"));
                   return;
                 }
                 if (!outcome.ok() && outcome.status != 409) {
                   host_.log(HAVERI_LOG_WARN,
                             "could not add " + user + " to the team: " + outcome.error);
                 }
                 add_team_members(std::move(users), std::move(done));
               });
  }

  void invite(const json& operation, const Finish& finish) {
    const std::string channel = resolve_channel(operation);
    if (channel.empty()) {
      finish(result_permanent("invalid", "invite needs channel.id"));
      return;
    }
    std::vector<std::string> users;
    if (const auto list = operation.find("users"); list != operation.end() && list->is_array()) {
      for (const json& user : *list) {
        if (user.is_string() && !user.get_ref<const std::string&>().empty()) {
          users.push_back(user.get<std::string>());
        }
      }
    }
    add_team_members(users, [finish](const json& failure) {
      finish(failure.is_null() ? result_ok() : failure);
    });
  }

  // ---- messages ----

  json activity_for(const json& message) {
    json activity = render_activity(message);
    const json& form = object_at(message, "form");
    if (const std::string form_id = string_at(form, "id"); !form_id.empty()) {
      forms_.put(form_id, form);
    }
    return activity;
  }

  void post_message(const json& operation, const Finish& finish) {
    const std::string channel = resolve_channel(operation);
    if (channel.empty()) {
      finish(result_permanent("invalid", "post_message needs channel.id"));
      return;
    }
    const json& message = object_at(operation, "message");
    json activity = activity_for(message);
    const std::string visible_to = string_at(operation, "visible_to");
    if (!visible_to.empty() && !channel.starts_with("a:")) {
      // Teams has no messages only one person sees in a channel: the answer goes to
      // that person's chat with the bot instead.
      send_personal(visible_to, tenant_of(channel), activity, finish);
      return;
    }
    const std::string tenant = tenant_of(channel);
    const std::string thread = string_at(operation, "thread_id");
    if (is_teams_channel(channel) && thread.empty()) {
      start_channel_conversation(channel, tenant, std::move(activity), finish);
      return;
    }
    const std::string conversation =
        thread.empty() || !is_teams_channel(channel) ? channel : channel + ";messageid=" + thread;
    std::string path = "/v3/conversations/" + encode_path_segment(conversation) + "/activities";
    if (!thread.empty()) {
      path += "/" + encode_path_segment(thread);
      activity["replyToId"] = thread;
    }
    api_.connector(tenant, channel, "POST", service_url_for(tenant), path, activity,
                   [finish](const ApiOutcome& outcome) {
                     if (!outcome.ok()) {
                       finish(result_of_failure(outcome, "post to the conversation"));
                       return;
                     }
                     const std::string id = string_at(outcome.response, "id");
                     finish(result_ok(json{{"message_id", id}}));
                   });
  }

  // A new post (a new thread) in a channel: POST /v3/conversations with the channel.
  void start_channel_conversation(const std::string& channel, const std::string& tenant,
                                  json activity, const Finish& finish) {
    json body = {{"isGroup", true},
                 {"channelData", {{"channel", {{"id", channel}}}, {"tenant", {{"id", tenant}}}}},
                 {"activity", activity}};
    api_.connector(tenant, channel, "POST", service_url_for(tenant), "/v3/conversations", body,
                   [finish](const ApiOutcome& outcome) {
                     if (!outcome.ok()) {
                       finish(result_of_failure(outcome, "start a conversation in the channel"));
                       return;
                     }
                     std::string id = string_at(outcome.response, "activityId");
                     if (id.empty()) {
                       const std::string conversation = string_at(outcome.response, "id");
                       const auto at = conversation.find(";messageid=");
                       if (at != std::string::npos) {
                         id = conversation.substr(at + std::string_view(";messageid=").size());
                       }
                     }
                     finish(result_ok(json{{"message_id", id}}));
                   });
  }

  void update_message(const json& operation, const Finish& finish) {
    const std::string channel = resolve_channel(operation);
    const std::string message_id = string_at(operation, "message_id");
    if (channel.empty() || message_id.empty()) {
      finish(result_permanent("invalid", "update_message needs channel.id and message_id"));
      return;
    }
    json activity = activity_for(object_at(operation, "message"));
    activity["id"] = message_id;
    const std::string tenant = tenant_of(channel);
    const std::string conversation =
        is_teams_channel(channel) ? channel + ";messageid=" + message_id : channel;
    api_.connector(tenant, channel, "PUT", service_url_for(tenant),
                   "/v3/conversations/" + encode_path_segment(conversation) + "/activities/" +
                       encode_path_segment(message_id),
                   activity, [message_id, finish](const ApiOutcome& outcome) {
                     if (!outcome.ok()) {
                       // Teams answers 403 for an activity that is not the bot's own.
                       json failure = result_of_failure(outcome, "update the message");
                       if (outcome.status == 403) {
                         failure["error_code"] = "cant_update_message";
                       }
                       finish(failure);
                       return;
                     }
                     finish(result_ok(json{{"message_id", message_id}}));
                   });
  }

  // A page: a personal message from the bot ({"user":{"id":…}}, the person's Entra
  // object id as the directory lists it).
  void notify_person(const json& operation, const Finish& finish) {
    std::string user = string_at(operation, "user");
    if (user.empty()) {
      user = string_at(object_at(operation, "user"), "id");
    }
    if (user.empty()) {
      finish(result_permanent("invalid", "notify_person needs user.id"));
      return;
    }
    const std::string* tenant = people_tenants_.find(user);
    send_personal(user, tenant != nullptr ? *tenant : home_tenant(),
                  activity_for(object_at(operation, "message")), finish);
  }

  // The bot's 1:1 chat with `user` (created once, then remembered), then the message.
  void send_personal(const std::string& user, const std::string& tenant, const json& activity,
                     const Finish& finish) {
    auto post = [this, tenant, activity, finish](const std::string& conversation) {
      api_.connector(
          tenant, conversation, "POST", service_url_for(tenant),
          "/v3/conversations/" + encode_path_segment(conversation) + "/activities", activity,
          [conversation, finish](const ApiOutcome& posted) {
            if (!posted.ok()) {
              finish(result_of_failure(posted, "personal message"));
              return;
            }
            const std::string id = string_at(posted.response, "id");
            finish(result_ok(json{{"message_id", id}, {"channel", {{"id", conversation}}}}));
          });
    };
    if (const std::string* known = personal_conversations_.find(tenant + "/" + user)) {
      post(*known);
      return;
    }
    // The Bot Connector takes the person's "29:…" id; their Entra object id works too
    // in Teams, and is all we have for someone who never wrote to the bot.
    const std::string* teams_id = teams_ids_.find(user);
    json body = {{"bot", {{"id", bot_.bot_id()}}},
                 {"isGroup", false},
                 {"members", json::array({{{"id", teams_id != nullptr ? *teams_id : user}}})},
                 {"tenantId", tenant},
                 {"channelData", {{"tenant", {{"id", tenant}}}}}};
    api_.connector(tenant, "", "POST", service_url_for(tenant), "/v3/conversations", body,
                   [this, user, tenant, post, finish](const ApiOutcome& outcome) {
                     if (!outcome.ok()) {
                       finish(result_of_failure(outcome, "open a chat with " + user));
                       return;
                     }
                     const std::string conversation = string_at(outcome.response, "id");
                     if (conversation.empty()) {
                       finish(result_retryable(0, "the Bot Connector sent no conversation id"));
                       return;
                     }
                     personal_conversations_.put(tenant + "/" + user, conversation);
                     conversation_tenants_.put(conversation, tenant);
                     post(conversation);
                   });
  }

  sdk::Host host_;
  std::string instance_;
  Settings settings_;
  BotIdentity bot_;
  OpenIdKeys keys_;
  BotApi api_;
  std::size_t pending_requests_ = 0;
  std::unordered_map<std::string, std::string> service_urls_;  // by tenant
  Remembered<json> done_operations_;
  std::unordered_map<std::string, std::uint64_t> running_operations_;
  Remembered<json> created_channels_;  // by operation key
  Remembered<json> forms_;             // by form id
  Remembered<std::string> conversation_tenants_;
  Remembered<std::string> personal_conversations_;                // "tenant/user" -> conversation
  Remembered<std::string> entra_ids_;                             // "29:…" -> Entra object id
  Remembered<std::string> teams_ids_;                             // Entra object id -> "29:…"
  Remembered<std::string> people_tenants_;                        // Entra object id -> tenant
  std::unordered_map<std::string, std::string> teams_by_tenant_;  // where the app is installed
};

}  // namespace
}  // namespace haveri::teams

HAVERI_DEFINE_PLUGIN(haveri::teams::TeamsPlugin, "teams", "0.1.0")
