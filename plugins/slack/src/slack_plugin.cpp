// libhaveri_slack.so — the Slack adapter (docs/slack.md).
//
// Inbound, Slack reaches us either over HTTP (Events API, slash commands and
// interactivity posted to /hooks/<instance>/events, /commands, /interactivity; every
// request signed) or over Socket Mode (envelopes on a WebSocket we open). Both
// become the same neutral events; the host answers Slack (the HTTP response, or our
// envelope acknowledgement) only once they are durable, so nothing acknowledged is
// lost, and every event carries an idempotency key Slack repeats on its retries
// (event_id, trigger_id, view id), so nothing is recorded twice.
//
// Outbound, the host's outbox asks for neutral operations; each becomes a few Web API
// calls (web_api.hpp: paced per method tier and per channel, 429s honoured) and a
// result the outbox understands (ok, retryable with a delay, permanent with a code).
//
// Forms: Slack opens a modal only with a trigger_id younger than 3 s. When a form is
// the answer to what someone just did (a slash command, a button) we open it at once
// with that trigger; otherwise — or when the trigger expired on the way — the form
// arrives as a message with a button that opens it (the click brings a fresh trigger).
//
// Runs on: the instance's serialised context (the host never calls an instance
// concurrently, and delivers its HTTP answers, socket events and timers the same
// way), so the plugin holds no locks.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
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

#include "block_kit.hpp"
#include "events_api.hpp"
#include "form_body.hpp"
#include "signature.hpp"
#include "socket_mode.hpp"
#include "web_api.hpp"

namespace haveri::slack {
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
// Forms that can still be opened from their button; older ones say "expired".
constexpr std::size_t kRememberedForms = 1000;
// People whose names we keep (users.info answers).
constexpr std::size_t kRememberedNames = 10000;
// A trigger_id is good for 3 s at Slack; leave room for the views.open call itself.
constexpr std::int64_t kTriggerUsableMs = 2500;
// A response_url takes answers for 30 minutes.
constexpr std::int64_t kResponseUrlUsableMs = std::int64_t{29} * 60 * 1000;
constexpr std::size_t kRememberedResponseUrls = 5000;
// Slack's limit on a channel topic.
constexpr std::size_t kTopicChars = 250;

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

// The host's error codes for Slack's (docs/plugin-abi.md, "Operation results").
std::string error_code_for(const std::string& slack_error) {
  if (slack_error == "not_in_channel" || slack_error == "is_archived" ||
      slack_error == "channel_not_found") {
    return "channel_not_found";
  }
  if (slack_error.starts_with("invalid_") || slack_error == "no_text" ||
      slack_error == "too_many_attachments" || slack_error == "msg_too_long") {
    return "invalid";
  }
  return slack_error;
}

json result_of_failure(const ApiOutcome& outcome, std::string_view what) {
  if (outcome.kind == ApiOutcome::Kind::retryable) {
    return result_retryable(outcome.retry_after_ms, std::string(what) + ": " + outcome.error);
  }
  return result_permanent(error_code_for(outcome.error), std::string(what) + ": " + outcome.error);
}

struct Settings {
  enum class Mode { events, socket };
  Mode mode = Mode::events;
  std::string signing_secret;
  std::string bot_token;
  std::string app_token;
  std::string api_base_url = "https://slack.com/api";
  std::string proxy;
  std::string command = "/incident";
  std::string team_id;
  std::string response_url_prefix;
  std::uint64_t api_timeout_ms = 10000;
};

Settings parse_settings(std::string_view config_json) {
  const json config = json::parse(config_json, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    throw std::invalid_argument("settings must be a mapping");
  }
  static const std::set<std::string, std::less<>> known_keys = {
      "mode",        "signing_secret", "bot_token", "app_token",      "api_base_url",
      "https_proxy", "command",        "team_id",   "api_timeout_ms", "response_url_prefix"};
  for (const auto& [key, value] : config.items()) {
    if (known_keys.count(key) == 0) {
      throw std::invalid_argument(
          "settings." + key +
          ": unknown key (known: mode, signing_secret[_file], bot_token[_file], "
          "app_token[_file], api_base_url, https_proxy, command, team_id, api_timeout_ms, "
          "response_url_prefix)");
    }
    if (key != "api_timeout_ms" && !value.is_string()) {
      throw std::invalid_argument("settings." + key + ": must be a string, got " + value.dump());
    }
  }
  Settings settings;
  const std::string mode = string_at(config, "mode");
  if (mode == "socket") {
    settings.mode = Settings::Mode::socket;
  } else if (!mode.empty() && mode != "events") {
    throw std::invalid_argument("settings.mode: \"" + mode +
                                "\" is neither events (HTTP requests from Slack) nor socket "
                                "(Socket Mode)");
  }
  settings.bot_token =
      required_string(config, "bot_token", "the Bot User OAuth Token, xoxb-…; use bot_token_file");
  if (!settings.bot_token.starts_with("xoxb-")) {
    throw std::invalid_argument(
        "settings.bot_token: a bot token starts with xoxb- (OAuth & Permissions, Bot User "
        "OAuth Token)");
  }
  if (settings.mode == Settings::Mode::events) {
    settings.signing_secret = required_string(
        config, "signing_secret", "Basic Information, Signing Secret; use signing_secret_file");
  } else {
    settings.signing_secret = string_at(config, "signing_secret");
    settings.app_token = required_string(
        config, "app_token", "Socket Mode needs an app-level token xapp-… with connections:write");
    if (!settings.app_token.starts_with("xapp-")) {
      throw std::invalid_argument(
          "settings.app_token: an app-level token starts with xapp- (Basic Information, "
          "App-Level Tokens, scope connections:write)");
    }
  }
  if (config.contains("api_base_url")) {
    settings.api_base_url = string_at(config, "api_base_url");
    if (!settings.api_base_url.starts_with("https://") &&
        !settings.api_base_url.starts_with("http://")) {
      throw std::invalid_argument("settings.api_base_url: must be an http(s) URL");
    }
  }
  settings.proxy = string_at(config, "https_proxy");
  if (!settings.proxy.empty() && !settings.proxy.starts_with("http://")) {
    // Not echoed: a proxy URL may carry user:password.
    throw std::invalid_argument("settings.https_proxy: must be http://host:port");
  }
  if (config.contains("command")) {
    settings.command = string_at(config, "command");
    if (!settings.command.starts_with("/") || settings.command.size() < 2 ||
        settings.command.size() > 32) {
      throw std::invalid_argument("settings.command: a slash command such as /incident");
    }
  }
  settings.team_id = string_at(config, "team_id");
  settings.response_url_prefix = string_at(config, "response_url_prefix");
  if (const auto timeout = config.find("api_timeout_ms"); timeout != config.end()) {
    if (!timeout->is_number_unsigned() || timeout->get<std::uint64_t>() < 100 ||
        timeout->get<std::uint64_t>() > 120000) {
      throw std::invalid_argument("settings.api_timeout_ms: an integer from 100 to 120000");
    }
    settings.api_timeout_ms = timeout->get<std::uint64_t>();
  }
  return settings;
}

// What one Slack delivery (HTTP request or Socket Mode envelope) comes to.
struct Delivery {
  std::vector<json> events;
  std::uint16_t status = 200;
  std::string content_type;
  std::string body;
  json ack_payload;  // Socket Mode: what the acknowledgement carries (null: nothing)
};

Delivery answer(std::uint16_t status, std::string message) {
  Delivery delivery;
  delivery.status = status;
  delivery.content_type = "application/json";
  delivery.body = dump(json{{"error", std::move(message)}});
  return delivery;
}

// An ephemeral text for the person who typed an unknown command.
Delivery ephemeral_text(const std::string& text) {
  Delivery delivery;
  json reply = {{"response_type", "ephemeral"}, {"text", text}};
  delivery.content_type = "application/json";
  delivery.body = dump(reply);
  delivery.ack_payload = reply;
  return delivery;
}

class SlackPlugin {
 public:
  static std::unique_ptr<SlackPlugin> create(sdk::Host host, std::string_view instance_name,
                                             std::string_view config_json) {
    if (!host.offers_services()) {
      throw std::runtime_error(
          "this haverid offers no HTTP/WebSocket services (plugin ABI 1.2); upgrade haverid");
    }
    return std::unique_ptr<SlackPlugin>(
        new SlackPlugin(host, std::string(instance_name), parse_settings(config_json)));
  }

  ~SlackPlugin() {
    if (socket_) {
      socket_->stop();
    }
    api_.abandon_all();
  }
  SlackPlugin(const SlackPlugin&) = delete;
  SlackPlugin& operator=(const SlackPlugin&) = delete;

  std::string describe() {
    // The host's outbox paces us below Slack's limits: one post per channel per
    // second, a few operations a second in all (each is one to three calls).
    return R"({"v":1,"limits":{"channel_interval_ms":1000,"per_second":5,"burst":10}})";
  }

  // ---- inbound over HTTP ----

  void handle_request(std::uint64_t request_id, std::string_view request_json,
                      std::string_view body) {
    const json request = json::parse(request_json, nullptr, false);
    const Delivery delivery = read_request(request, body);
    if (!delivery.events.empty()) {
      for (const json& event : delivery.events) {
        if (host_.submit_inbound(request_id, dump(event)) != HAVERI_OK) {
          host_.respond(request_id, 500, "application/json",
                        R"({"error":"the event could not be handed to haverid"})");
          return;
        }
      }
    }
    host_.respond(request_id, delivery.status, delivery.content_type, delivery.body);
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
      if (const auto done = done_operations_.find(key); done != done_operations_.end()) {
        complete(operation_id, done->second);
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
          remember_bounded(done_operations_, done_order_, key, result, kRememberedOperations);
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
                           "the Slack plugin does not know operations of type \"" + type + "\""));
    }
  }

  // ---- the host's services ----

  void on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body) {
    api_.on_http_response(call_id, response_json, body);
  }

  void on_websocket_event(std::uint64_t socket, int event, std::string_view data) {
    if (socket_) {
      socket_->on_websocket_event(socket, event, data);
    }
  }

  void on_timer(std::uint64_t timer_id) {
    if (api_.on_timer(timer_id)) {
      return;
    }
    if (socket_) {
      socket_->on_timer(timer_id);
    }
  }

  void on_inbound_settled(std::uint64_t inbound_id, std::uint16_t status) {
    const auto it = pending_envelopes_.find(inbound_id);
    if (it == pending_envelopes_.end()) {
      return;
    }
    PendingEnvelope pending = std::move(it->second);
    pending_envelopes_.erase(it);
    if (status == 503 || status == 504) {
      // Not stored: no acknowledgement, so that Slack delivers the envelope again.
      host_.log(HAVERI_LOG_WARN, "Socket Mode: envelope " + pending.envelope_id +
                                     " could not be stored now (" + std::to_string(status) +
                                     "); Slack will deliver it again");
      return;
    }
    if (status == 403) {
      host_.log(HAVERI_LOG_WARN, "Socket Mode: envelope " + pending.envelope_id +
                                     " is from an installation no organization claims; dropped");
    }
    socket_->acknowledge(pending.socket, pending.envelope_id,
                         pending.ack_payload.is_null() ? nullptr : &pending.ack_payload);
  }

 private:
  SlackPlugin(sdk::Host host, std::string instance_name, Settings settings)
      : host_(host),
        instance_(std::move(instance_name)),
        settings_(std::move(settings)),
        api_(host, WebApiSettings{settings_.api_base_url, settings_.bot_token, settings_.app_token,
                                  settings_.proxy, settings_.api_timeout_ms}) {
    if (!settings_.response_url_prefix.empty()) {
      api_.set_allowed_response_url_prefix(settings_.response_url_prefix);
    }
    std::random_device random;
    epoch_ = std::to_string(random() % 1000000);
    api_.call("auth.test", json::object(),
              [this](const ApiOutcome& outcome) { on_auth_test(outcome); });
    if (settings_.mode == Settings::Mode::socket) {
      SocketMode::Options options;
      options.proxy = settings_.proxy;
      socket_ = std::make_unique<SocketMode>(
          host_, api_, options,
          [this](const json& envelope, std::uint64_t socket) { on_envelope(envelope, socket); });
      socket_->start();
    }
  }

  void complete(std::uint64_t operation_id, const json& result) {
    host_.complete_operation(operation_id, dump(result));
  }

  void on_auth_test(const ApiOutcome& outcome) {
    if (!outcome.ok()) {
      host_.log(outcome.kind == ApiOutcome::Kind::permanent ? HAVERI_LOG_ERROR : HAVERI_LOG_WARN,
                "auth.test failed: " + outcome.error +
                    (outcome.error == "invalid_auth" || outcome.error == "not_authed"
                         ? " (check bot_token: the Bot User OAuth Token, xoxb-…)"
                         : ""));
      return;
    }
    app_.bot_user_id = string_at(outcome.response, "user_id");
    app_.bot_id = string_at(outcome.response, "bot_id");
    host_.log(HAVERI_LOG_INFO,
              "connected to Slack workspace " + string_at(outcome.response, "team") + " (" +
                  string_at(outcome.response, "team_id") + ") as bot user " + app_.bot_user_id);
  }

  // ---- reading what Slack sent ----

  Delivery read_request(const json& request, std::string_view body) {
    if (!request.is_object()) {
      return answer(500, "the host sent malformed request metadata");
    }
    const std::string path = string_at(request, "path");
    if (path != "/events" && path != "/commands" && path != "/interactivity") {
      return answer(404, "unknown path " + path.substr(0, 100) +
                             " (Slack posts to /events, /commands and /interactivity)");
    }
    if (string_at(request, "method") != "POST") {
      return answer(405, "Slack posts; use POST");
    }
    if (settings_.signing_secret.empty()) {
      return answer(404, "this instance runs in Socket Mode and takes no HTTP requests");
    }
    const json& headers = object_at(request, "headers");
    const SignatureVerdict verdict =
        verify_signature(settings_.signing_secret, string_at(headers, "x-slack-request-timestamp"),
                         string_at(headers, "x-slack-signature"), body, unix_seconds());
    if (verdict != SignatureVerdict::valid) {
      host_.log(HAVERI_LOG_WARN,
                "refused a request to " + path + ": " + std::string(slack::describe(verdict)));
      return answer(401, std::string(slack::describe(verdict)));
    }
    if (const std::string retry = string_at(headers, "x-slack-retry-num"); !retry.empty()) {
      host_.log(HAVERI_LOG_DEBUG, "Slack retry " + retry + " (" +
                                      string_at(headers, "x-slack-retry-reason") + ") of " + path);
    }
    if (path == "/events") {
      const json envelope = json::parse(body, nullptr, false);
      if (envelope.is_discarded() || !envelope.is_object()) {
        return answer(400, "the body is not a JSON object");
      }
      if (string_at(envelope, "type") == "url_verification") {
        Delivery challenge;
        challenge.content_type = "text/plain";
        challenge.body = string_at(envelope, "challenge").substr(0, 1000);
        return challenge;
      }
      return read_event_callback(envelope);
    }
    const std::optional<FormFields> fields = parse_form(body);
    if (!fields) {
      return answer(400, "the body is not a valid form (application/x-www-form-urlencoded)");
    }
    if (path == "/commands") {
      return read_slash_command(*fields);
    }
    const auto payload_field = fields->find("payload");
    if (payload_field == fields->end()) {
      return answer(400, "an interactivity request carries a payload field");
    }
    const json payload = json::parse(payload_field->second, nullptr, false);
    if (payload.is_discarded() || !payload.is_object()) {
      return answer(400, "the payload is not a JSON object");
    }
    return read_interaction(payload);
  }

  bool installation_allowed(const std::string& installation) const {
    return settings_.team_id.empty() || installation == settings_.team_id;
  }

  Delivery refused_installation(const std::string& installation) {
    host_.log(HAVERI_LOG_WARN, "refused traffic from Slack installation \"" +
                                   installation.substr(0, 40) + "\": settings.team_id is " +
                                   settings_.team_id);
    return answer(403, "this app instance serves another workspace");
  }

  Delivery read_event_callback(const json& envelope) {
    const std::string type = string_at(envelope, "type");
    if (type == "app_rate_limited") {
      host_.log(HAVERI_LOG_WARN,
                "Slack dropped events for this app: it is over the Events API limit");
      return Delivery{};
    }
    const std::string installation = installation_of(envelope);
    if (!installation_allowed(installation)) {
      return refused_installation(installation);
    }
    AppIdentity app = app_;
    app.app_id = string_at(envelope, "api_app_id");
    if (app.bot_user_id.empty()) {
      // Before auth.test answered: the installation's bot user is in the envelope.
      const auto authorizations = envelope.find("authorizations");
      if (authorizations != envelope.end() && authorizations->is_array() &&
          !authorizations->empty()) {
        app.bot_user_id = string_at((*authorizations)[0], "user_id");
      }
    }
    Translation translation = translate_event_callback(envelope, app);
    Delivery delivery;
    if (!translation.event) {
      host_.log(HAVERI_LOG_DEBUG, "ignored a Slack event: " + translation.ignored_because);
      return delivery;
    }
    add_user_name(*translation.event);
    delivery.events.push_back(std::move(*translation.event));
    return delivery;
  }

  Delivery read_slash_command(const FormFields& fields) {
    const auto command = fields.find("command");
    Translation translation = translate_slash_command(fields, settings_.command);
    if (!translation.event) {
      if (command != fields.end() && !command->second.empty()) {
        const auto matches = [&] {
          std::string a = command->second;
          std::string b = settings_.command;
          for (auto* s : {&a, &b}) {
            for (char& c : *s) {
              c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
          }
          return a == b;
        }();
        if (!matches) {
          return ephemeral_text("Haveri answers " + settings_.command + ", not " +
                                command->second.substr(0, 40) + ". Try `" + settings_.command +
                                " help`.");
        }
      }
      host_.log(HAVERI_LOG_WARN, "refused a slash command: " + translation.ignored_because);
      return answer(400, translation.ignored_because);
    }
    json& event = *translation.event;
    const std::string installation = string_at(event, "installation");
    if (!installation_allowed(installation)) {
      return refused_installation(installation);
    }
    const std::string user = string_at(object_at(event, "user"), "id");
    const std::string channel = string_at(object_at(event, "channel"), "id");
    remember_trigger(user, fields_value(fields, "trigger_id"));
    remember_response_url(user, channel, fields_value(fields, "response_url"));
    remember_name(user, string_at(object_at(event, "user"), "name"));
    Delivery delivery;
    delivery.events.push_back(std::move(event));
    return delivery;
  }

  static std::string fields_value(const FormFields& fields, const char* key) {
    const auto it = fields.find(key);
    return it == fields.end() ? std::string{} : it->second;
  }

  Delivery read_interaction(const json& payload) {
    const std::string type = string_at(payload, "type");
    const std::string installation = installation_of(payload);
    if (installation.empty()) {
      return answer(400, "the payload names no team");
    }
    if (!installation_allowed(installation)) {
      return refused_installation(installation);
    }
    const json& user = object_at(payload, "user");
    const std::string user_id = string_at(user, "id");
    if (user_id.empty()) {
      return answer(400, "the payload names no user");
    }
    std::string user_name = string_at(user, "username");
    if (user_name.empty()) {
      user_name = string_at(user, "name");
    }
    remember_name(user_id, user_name);
    const std::string trigger = string_at(payload, "trigger_id");
    if (type == "block_actions") {
      return read_block_action(payload, installation, user_id, trigger);
    }
    if (type == "view_submission") {
      return read_view_submission_payload(payload, installation, user_id);
    }
    host_.log(HAVERI_LOG_DEBUG, "ignored an interaction of type \"" + type.substr(0, 40) + "\"");
    return Delivery{};
  }

  Delivery read_block_action(const json& payload, const std::string& installation,
                             const std::string& user_id, const std::string& trigger) {
    const auto actions = payload.find("actions");
    if (actions == payload.end() || !actions->is_array() || actions->empty() ||
        !(*actions)[0].is_object()) {
      return answer(400, "block_actions without actions");
    }
    const json& action = (*actions)[0];
    const std::string action_id = string_at(action, "action_id");
    const std::string value = string_at(action, "value");
    const json& container = object_at(payload, "container");
    std::string channel = string_at(object_at(payload, "channel"), "id");
    if (channel.empty()) {
      channel = string_at(container, "channel_id");
    }
    const std::string response_url = string_at(payload, "response_url");
    if (action_id == kOpenFormActionId) {
      open_form_from_button(value, trigger, response_url);
      return Delivery{};
    }
    if (!action_id.starts_with(kCommandActionPrefix)) {
      return Delivery{};  // a button that is not ours (or a select we do not offer)
    }
    if (value.empty() || channel.empty() || trigger.empty()) {
      return answer(400, "a button press without value, channel or trigger_id");
    }
    remember_trigger(user_id, trigger);
    remember_response_url(user_id, channel, response_url);
    json event = {{"v", 1},
                  {"type", "command"},
                  {"idempotency_key", "slack:action:" + trigger},
                  {"installation", installation},
                  {"channel", {{"id", channel}}},
                  {"user", {{"id", user_id}}},
                  {"text", value}};
    if (const std::string ts = string_at(container, "message_ts"); !ts.empty()) {
      event["message_id"] = ts;
    }
    const std::string channel_name = string_at(object_at(payload, "channel"), "name");
    if (!channel_name.empty()) {
      event["channel"]["name"] = channel_name;
    }
    add_user_name(event);
    Delivery delivery;
    delivery.events.push_back(std::move(event));
    return delivery;
  }

  Delivery read_view_submission_payload(const json& payload, const std::string& installation,
                                        const std::string& user_id) {
    const json& view = object_at(payload, "view");
    if (string_at(view, "callback_id") != kFormCallbackId) {
      return Delivery{};  // not a modal we opened
    }
    const std::string view_id = string_at(view, "id");
    const json metadata = json::parse(string_at(view, "private_metadata"), nullptr, false);
    const std::string form_id = string_at(metadata, "f");
    const std::string channel = string_at(metadata, "c");
    if (view_id.empty() || form_id.empty() || channel.empty()) {
      return answer(400, "a view submission without its view id or Haveri's metadata");
    }
    ViewAnswers answers = read_view_submission(view);
    if (!answers.errors.empty()) {
      // Shown under the fields by Slack; the modal stays open and nothing is stored.
      json errors = json::object();
      for (const auto& [block, message] : answers.errors) {
        errors[block] = message;
      }
      json reply = {{"response_action", "errors"}, {"errors", std::move(errors)}};
      Delivery delivery;
      delivery.content_type = "application/json";
      delivery.body = dump(reply);
      delivery.ack_payload = std::move(reply);
      return delivery;
    }
    json values = json::object();
    for (auto& [name, answer_text] : answers.values) {
      values[name] = std::move(answer_text);
    }
    json event = {{"v", 1},
                  {"type", "form_submission"},
                  {"idempotency_key", "slack:view:" + view_id},
                  {"installation", installation},
                  {"channel", {{"id", channel}}},
                  {"user", {{"id", user_id}}},
                  {"form_id", form_id},
                  {"values", std::move(values)}};
    if (const std::string message = string_at(metadata, "m"); !message.empty()) {
      event["message_id"] = message;
    }
    add_user_name(event);
    Delivery delivery;
    delivery.events.push_back(std::move(event));
    return delivery;
  }

  // ---- Socket Mode envelopes ----

  struct PendingEnvelope {
    std::uint64_t socket = 0;
    std::string envelope_id;
    json ack_payload;
  };

  void on_envelope(const json& envelope, std::uint64_t socket) {
    const std::string envelope_id = string_at(envelope, "envelope_id");
    const std::string type = string_at(envelope, "type");
    const json payload = envelope.contains("payload") ? envelope["payload"] : json();
    Delivery delivery;
    if (type == "events_api") {
      delivery = payload.is_object() ? read_event_callback(payload)
                                     : answer(400, "events_api without a payload");
    } else if (type == "slash_commands") {
      FormFields fields;
      if (payload.is_object()) {
        for (const auto& [key, value] : payload.items()) {
          if (value.is_string()) {
            fields[key] = value.get<std::string>();
          }
        }
      }
      delivery = read_slash_command(fields);
    } else if (type == "interactive") {
      delivery = payload.is_object() ? read_interaction(payload)
                                     : answer(400, "interactive without a payload");
    } else {
      host_.log(HAVERI_LOG_DEBUG, "Socket Mode: acknowledged an envelope of type \"" +
                                      type.substr(0, 40) + "\" and ignored it");
    }
    const bool wants_payload = envelope.value("accepts_response_payload", false);
    json ack_payload = wants_payload ? delivery.ack_payload : json();
    if (delivery.status >= 400) {
      // A delivery we cannot read will not get better: acknowledge so it is not repeated.
      host_.log(HAVERI_LOG_WARN, "Socket Mode: envelope " + envelope_id + " of type " + type +
                                     " could not be read: " + delivery.body.substr(0, 200));
    }
    if (delivery.events.empty()) {
      socket_->acknowledge(socket, envelope_id, ack_payload.is_null() ? nullptr : &ack_payload);
      return;
    }
    std::uint64_t inbound = 0;
    if (host_.begin_inbound(inbound) != HAVERI_OK) {
      host_.log(HAVERI_LOG_ERROR, "Socket Mode: the host refused an inbound delivery");
      return;  // unacknowledged: Slack delivers it again
    }
    for (const json& event : delivery.events) {
      if (host_.submit_inbound(inbound, dump(event)) != HAVERI_OK) {
        host_.log(HAVERI_LOG_ERROR, "Socket Mode: the host refused an event of envelope " +
                                        envelope_id + "; not acknowledged");
        host_.respond(inbound, 500, {}, {});
        return;
      }
    }
    pending_envelopes_[inbound] = PendingEnvelope{socket, envelope_id, std::move(ack_payload)};
    host_.respond(inbound, 200, {}, {});
  }

  // ---- people ----

  void remember_name(const std::string& user, const std::string& name) {
    if (!user.empty() && !name.empty()) {
      remember_bounded(user_names_, name_order_, user, name, kRememberedNames);
    }
  }

  // Puts the person's name on an event when we know it, and learns it otherwise
  // (users.info) so that the next event has it. Events do not wait for the lookup:
  // Slack's 3 seconds are for storing what was said.
  void add_user_name(json& event) {
    json& user = event["user"];
    const std::string id = string_at(user, "id");
    if (id.empty() || !string_at(user, "name").empty()) {
      return;
    }
    if (const auto known = user_names_.find(id); known != user_names_.end()) {
      user["name"] = known->second;
      return;
    }
    if (looking_up_.size() >= 32 || !looking_up_.insert(id).second) {
      return;
    }
    api_.call("users.info", json{{"user", id}}, [this, id](const ApiOutcome& outcome) {
      looking_up_.erase(id);
      if (!outcome.ok()) {
        return;
      }
      const json& person = object_at(outcome.response, "user");
      const json& profile = object_at(person, "profile");
      std::string name = string_at(profile, "display_name");
      if (name.empty()) {
        name = string_at(profile, "real_name");
      }
      if (name.empty()) {
        name = string_at(person, "real_name");
      }
      if (name.empty()) {
        name = string_at(person, "name");
      }
      remember_name(id, name);
    });
  }

  void remember_trigger(const std::string& user, const std::string& trigger) {
    if (!user.empty() && !trigger.empty()) {
      remember_bounded(triggers_, trigger_order_, user, Trigger{trigger, steady_ms()},
                       kRememberedNames);
    }
  }

  // A trigger of `user` young enough to open a modal with; used up by taking it.
  std::optional<std::string> take_trigger(const std::string& user) {
    const auto it = triggers_.find(user);
    if (it == triggers_.end() || steady_ms() - it->second.at_ms > kTriggerUsableMs) {
      return std::nullopt;
    }
    std::string trigger = std::move(it->second.id);
    it->second.at_ms = 0;  // used: Slack accepts a trigger once
    return trigger;
  }

  void remember_response_url(const std::string& user, const std::string& channel,
                             const std::string& url) {
    if (!user.empty() && !channel.empty() && !url.empty()) {
      remember_bounded(response_urls_, response_url_order_, user + "#" + channel,
                       Trigger{url, steady_ms()}, kRememberedResponseUrls);
    }
  }

  std::optional<std::string> response_url_for(const std::string& user,
                                              const std::string& channel) const {
    const auto it = response_urls_.find(user + "#" + channel);
    if (it == response_urls_.end() || steady_ms() - it->second.at_ms > kResponseUrlUsableMs) {
      return std::nullopt;
    }
    return it->second.id;
  }

  // ---- forms ----

  struct ShownForm {
    json form;
    std::string channel;
  };

  std::string remember_form(const json& form, const std::string& channel) {
    std::string handle = epoch_ + "-" + std::to_string(next_form_++);
    remember_bounded(forms_, form_order_, handle, ShownForm{form, channel}, kRememberedForms);
    return handle;
  }

  json modal_for(const ShownForm& shown) const {
    const json metadata = {{"f", string_at(shown.form, "id")}, {"c", shown.channel}};
    return render_modal(shown.form, dump(metadata));
  }

  void open_form_from_button(const std::string& handle, const std::string& trigger,
                             const std::string& response_url) {
    const auto it = forms_.find(handle);
    if (it == forms_.end() || trigger.empty()) {
      if (!response_url.empty()) {
        api_.post_response_url(
            response_url,
            json{{"response_type", "ephemeral"},
                 {"replace_original", false},
                 {"text",
                  "This form is no longer available (Haveri restarted or many forms "
                  "were shown since). Run the command again for a fresh one."}},
            [](const ApiOutcome&) {});
      }
      return;
    }
    api_.call("views.open", json{{"trigger_id", trigger}, {"view", modal_for(it->second)}},
              [this](const ApiOutcome& outcome) {
                if (!outcome.ok()) {
                  host_.log(HAVERI_LOG_WARN, "views.open failed: " + outcome.error);
                }
              });
  }

  // ---- operations ----

  using Finish = std::function<void(json)>;

  static json channel_of(const json& operation) {
    const json& channel = object_at(operation, "channel");
    return channel;
  }

  void create_channel(const json& operation, const std::string& key, const Finish& finish) {
    const std::string name = string_at(operation, "name");
    if (name.empty() || name.size() > 80) {
      finish(result_permanent("invalid", "create_channel needs a name of 1-80 characters"));
      return;
    }
    std::string topic = cut_to(string_at(operation, "topic"), kTopicChars);
    std::vector<std::string> members;
    if (const auto list = operation.find("members"); list != operation.end() && list->is_array()) {
      for (const json& member : *list) {
        if (member.is_string() && !member.get_ref<const std::string&>().empty()) {
          members.push_back(member.get<std::string>());
        }
      }
    }
    api_.call("conversations.create", json{{"name", name}, {"is_private", false}},
              [this, key, name, topic, members, finish](const ApiOutcome& outcome) {
                json channel;
                if (outcome.ok()) {
                  const json& made = object_at(outcome.response, "channel");
                  channel = {{"id", string_at(made, "id")}, {"name", string_at(made, "name")}};
                  if (!key.empty()) {
                    created_channels_[key] = channel;
                  }
                } else if (outcome.error == "name_taken" && !key.empty() &&
                           created_channels_.count(key) > 0) {
                  channel = created_channels_[key];  // our own, from an attempt that timed out
                } else if (outcome.error == "name_taken") {
                  finish(result_permanent("name_taken", "#" + name + " exists already in Slack"));
                  return;
                } else {
                  finish(result_of_failure(outcome, "conversations.create"));
                  return;
                }
                finish_channel(channel, topic, members, finish);
              });
  }

  // Topic and invitations after a channel exists: their failures are logged, not
  // fatal — the incident channel is there and people can be invited again.
  void finish_channel(const json& channel, const std::string& topic,
                      const std::vector<std::string>& members, const Finish& finish) {
    const std::string id = string_at(channel, "id");
    auto after_topic = [this, channel, id, members, finish](const ApiOutcome& topic_outcome) {
      if (!topic_outcome.ok()) {
        host_.log(HAVERI_LOG_WARN, "conversations.setTopic on " + id + ": " + topic_outcome.error);
      }
      if (members.empty()) {
        finish(result_ok(json{{"channel", channel}}));
        return;
      }
      invite_users(id, members, [this, channel, id, finish](const ApiOutcome& invited) {
        if (!invited.ok()) {
          host_.log(HAVERI_LOG_WARN, "conversations.invite on " + id + ": " + invited.error);
        }
        finish(result_ok(json{{"channel", channel}}));
      });
    };
    if (topic.empty()) {
      after_topic(ApiOutcome{ApiOutcome::Kind::ok, json::object(), {}, 0});
      return;
    }
    api_.call("conversations.setTopic", json{{"channel", id}, {"topic", topic}},
              [after_topic](const ApiOutcome& outcome) { after_topic(outcome); });
  }

  void invite_users(const std::string& channel, const std::vector<std::string>& users,
                    std::function<void(const ApiOutcome&)> done) {
    std::string list;
    for (const std::string& user : users) {
      if (user == app_.bot_user_id) {
        continue;  // the app is in the channels it makes
      }
      list += (list.empty() ? "" : ",") + user;
    }
    if (list.empty()) {
      done(ApiOutcome{ApiOutcome::Kind::ok, json::object(), {}, 0});
      return;
    }
    // force: invite whoever can be invited even when some are already in, or unknown.
    api_.call("conversations.invite", json{{"channel", channel}, {"users", list}, {"force", true}},
              [done = std::move(done)](ApiOutcome outcome) {
                if (outcome.error == "already_in_channel" || outcome.error == "cant_invite_self") {
                  outcome.kind = ApiOutcome::Kind::ok;
                }
                done(outcome);
              });
  }

  void invite(const json& operation, const Finish& finish) {
    const std::string channel = string_at(channel_of(operation), "id");
    std::vector<std::string> users;
    if (const auto list = operation.find("users"); list != operation.end() && list->is_array()) {
      for (const json& user : *list) {
        if (user.is_string() && !user.get_ref<const std::string&>().empty()) {
          users.push_back(user.get<std::string>());
        }
      }
    }
    if (channel.empty()) {
      finish(result_permanent("invalid", "invite needs channel.id"));
      return;
    }
    invite_users(channel, users, [finish](const ApiOutcome& outcome) {
      finish(outcome.ok() ? result_ok() : result_of_failure(outcome, "conversations.invite"));
    });
  }

  void post_message(const json& operation, const Finish& finish) {
    const std::string channel = string_at(channel_of(operation), "id");
    const json& message = object_at(operation, "message");
    if (channel.empty()) {
      finish(result_permanent("invalid", "post_message needs channel.id"));
      return;
    }
    const std::string visible_to = string_at(operation, "visible_to");
    const json& form = object_at(message, "form");
    std::string handle;
    if (!form.empty()) {
      handle = remember_form(form, channel);
      if (!visible_to.empty()) {
        if (auto trigger = take_trigger(visible_to)) {
          open_form_now(operation, *trigger, handle, finish);
          return;
        }
      }
    }
    post_rendered(operation, render_message(message, handle), finish);
  }

  // The form answers what this person just did: open it as a modal with their
  // trigger; if Slack says the trigger expired, post it with its button instead.
  void open_form_now(const json& operation, const std::string& trigger, const std::string& handle,
                     const Finish& finish) {
    const ShownForm& shown = forms_.at(handle);
    api_.call("views.open", json{{"trigger_id", trigger}, {"view", modal_for(shown)}},
              [this, operation, handle, finish](const ApiOutcome& outcome) {
                if (outcome.ok()) {
                  const std::string view = string_at(object_at(outcome.response, "view"), "id");
                  finish(result_ok(json{{"message_id", "view:" + view}}));
                  return;
                }
                host_.log(HAVERI_LOG_DEBUG,
                          "views.open: " + outcome.error + "; posting the form's button instead");
                post_rendered(operation, render_message(object_at(operation, "message"), handle),
                              finish);
              });
  }

  void post_rendered(const json& operation, json rendered, const Finish& finish) {
    const std::string channel = string_at(channel_of(operation), "id");
    const std::string visible_to = string_at(operation, "visible_to");
    rendered["channel"] = channel;
    if (visible_to.empty()) {
      rendered["unfurl_links"] = false;
      rendered["unfurl_media"] = false;
      if (const std::string thread = string_at(operation, "thread_id"); !thread.empty()) {
        rendered["thread_ts"] = thread;
      }
      api_.call("chat.postMessage", rendered, [finish](const ApiOutcome& outcome) {
        if (!outcome.ok()) {
          finish(result_of_failure(outcome, "chat.postMessage"));
          return;
        }
        finish(result_ok(json{{"message_id", string_at(outcome.response, "ts")}}));
      });
      return;
    }
    rendered["user"] = visible_to;
    api_.call(
        "chat.postEphemeral", rendered,
        [this, rendered, channel, visible_to, finish](const ApiOutcome& outcome) {
          if (outcome.ok()) {
            finish(result_ok(json{{"message_id", string_at(outcome.response, "message_ts")}}));
            return;
          }
          // The app is not in that channel (a slash command typed anywhere):
          // the command's response_url still reaches the person.
          const auto url = response_url_for(visible_to, channel);
          if (outcome.kind == ApiOutcome::Kind::permanent && url) {
            json reply = {{"response_type", "ephemeral"},
                          {"replace_original", false},
                          {"text", rendered.value("text", "")},
                          {"blocks", rendered.value("blocks", json::array())}};
            api_.post_response_url(*url, reply, [finish](const ApiOutcome& posted) {
              finish(posted.ok() ? result_ok(json{{"message_id", ""}})
                                 : result_of_failure(posted, "response_url"));
            });
            return;
          }
          finish(result_of_failure(outcome, "chat.postEphemeral"));
        });
  }

  void update_message(const json& operation, const Finish& finish) {
    const std::string channel = string_at(channel_of(operation), "id");
    const std::string ts = string_at(operation, "message_id");
    if (channel.empty() || ts.empty()) {
      finish(result_permanent("invalid", "update_message needs channel.id and message_id"));
      return;
    }
    json rendered = render_message(object_at(operation, "message"));
    rendered["channel"] = channel;
    rendered["ts"] = ts;
    api_.call("chat.update", rendered, [finish](const ApiOutcome& outcome) {
      if (!outcome.ok()) {
        finish(result_of_failure(outcome, "chat.update"));
        return;
      }
      finish(result_ok(json{{"message_id", string_at(outcome.response, "ts")}}));
    });
  }

  // A page: a direct message to one person ({"user":{"id":…}} or {"user":"U…"}).
  void notify_person(const json& operation, const Finish& finish) {
    std::string user = string_at(operation, "user");
    if (user.empty()) {
      user = string_at(object_at(operation, "user"), "id");
    }
    if (user.empty()) {
      finish(result_permanent("invalid", "notify_person needs user.id"));
      return;
    }
    json message = object_at(operation, "message");
    api_.call("conversations.open", json{{"users", user}},
              [this, message, finish](const ApiOutcome& outcome) {
                if (!outcome.ok()) {
                  finish(result_of_failure(outcome, "conversations.open"));
                  return;
                }
                const std::string channel = string_at(object_at(outcome.response, "channel"), "id");
                json rendered = render_message(message);
                rendered["channel"] = channel;
                api_.call("chat.postMessage", rendered,
                          [channel, finish](const ApiOutcome& posted) {
                            if (!posted.ok()) {
                              finish(result_of_failure(posted, "chat.postMessage"));
                              return;
                            }
                            finish(result_ok(json{{"message_id", string_at(posted.response, "ts")},
                                                  {"channel", {{"id", channel}}}}));
                          });
              });
  }

  struct Trigger {
    std::string id;
    std::int64_t at_ms = 0;
  };

  sdk::Host host_;
  std::string instance_;
  Settings settings_;
  SlackWebApi api_;
  std::unique_ptr<SocketMode> socket_;
  AppIdentity app_;
  std::string epoch_;
  std::uint64_t next_form_ = 1;

  std::unordered_map<std::string, json> done_operations_;
  std::deque<std::string> done_order_;
  std::unordered_map<std::string, std::uint64_t> running_operations_;
  std::unordered_map<std::string, json> created_channels_;
  std::unordered_map<std::string, ShownForm> forms_;
  std::deque<std::string> form_order_;
  std::unordered_map<std::string, std::string> user_names_;
  std::deque<std::string> name_order_;
  std::set<std::string> looking_up_;
  std::unordered_map<std::string, Trigger> triggers_;
  std::deque<std::string> trigger_order_;
  std::unordered_map<std::string, Trigger> response_urls_;
  std::deque<std::string> response_url_order_;
  std::unordered_map<std::uint64_t, PendingEnvelope> pending_envelopes_;
};

}  // namespace
}  // namespace haveri::slack

HAVERI_DEFINE_PLUGIN(haveri::slack::SlackPlugin, "slack", "0.1.0")
