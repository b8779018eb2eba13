#include "events_api.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>

#include <haveri/utf8.hpp>

namespace haveri::slack {
namespace {

using sdk::is_valid_utf8;

using nlohmann::json;

constexpr std::size_t kMaxIdempotencyKeyBytes = 512;
constexpr std::string_view kEventKeyPrefix = "slack:";
constexpr std::string_view kCommandKeyPrefix = "slack:command:";
// Values quoted in a reason are cut here: the reason goes to a log line, and the value
// came from whoever sent the request.
constexpr std::size_t kMaxQuotedBytes = 64;

Translation ignored(std::string reason) {
  return Translation{std::nullopt, std::move(reason)};
}

Translation emitted(json event) {
  return Translation{std::move(event), {}};
}

std::string quoted(std::string_view value) {
  if (value.size() > kMaxQuotedBytes) {
    std::size_t cut = kMaxQuotedBytes;
    // Back off to a character boundary so that the reason stays valid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    return "\"" + std::string(value.substr(0, cut)) + "…\"";
  }
  return "\"" + std::string(value) + "\"";
}

const json* member(const json* value, const char* key) {
  if (value == nullptr || !value->is_object()) {
    return nullptr;
  }
  const auto it = value->find(key);
  return it == value->end() ? nullptr : &*it;
}

// A string member that is valid UTF-8. A json parsed from a body always is; one built in
// memory may hold any bytes, and the host could not serialise those.
std::optional<std::string_view> string_member(const json* value, const char* key) {
  const json* found = member(value, key);
  if (found == nullptr || !found->is_string()) {
    return std::nullopt;
  }
  const auto& text = found->get_ref<const std::string&>();
  if (!is_valid_utf8(text)) {
    return std::nullopt;
  }
  return std::string_view(text);
}

// Ids (channel, user, ts, …) must be non-empty to identify anything.
std::optional<std::string_view> id_member(const json* value, const char* key) {
  auto id = string_member(value, key);
  if (id && id->empty()) {
    return std::nullopt;
  }
  return id;
}

// Slack sends booleans in JSON, but "true" as a string in form-derived payloads.
bool is_true(const json* value) {
  return value != nullptr &&
         ((value->is_boolean() && value->get<bool>()) ||
          (value->is_string() && value->get_ref<const std::string&>() == "true"));
}

const json* first_authorization(const json& payload) {
  const json* authorizations = member(&payload, "authorizations");
  if (authorizations == nullptr || !authorizations->is_array() || authorizations->empty()) {
    return nullptr;
  }
  return &authorizations->front();
}

// Said by this app: its bot user, its bot, or its app (a bot message carries both ids,
// and bot_profile repeats the app id).
bool is_ours(const json* message, const AppIdentity& app) {
  const auto same = [](std::optional<std::string_view> value, const std::string& ours) {
    return !ours.empty() && value && *value == ours;
  };
  return same(string_member(message, "user"), app.bot_user_id) ||
         same(string_member(message, "bot_id"), app.bot_id) ||
         same(string_member(message, "app_id"), app.app_id) ||
         same(string_member(member(message, "bot_profile"), "app_id"), app.app_id);
}

bool is_space_at(std::string_view text, std::size_t at, std::size_t& width) {
  const char c = text[at];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
    width = 1;
    return true;
  }
  // Slack's composer puts a no-break space (U+00A0) after an autocompleted mention.
  if (c == '\xC2' && at + 1 < text.size() && text[at + 1] == '\xA0') {
    width = 2;
    return true;
  }
  return false;
}

std::string_view trim(std::string_view text) {
  std::size_t width = 0;
  while (!text.empty() && is_space_at(text, 0, width)) {
    text.remove_prefix(width);
  }
  while (!text.empty()) {
    if (is_space_at(text, text.size() - 1, width)) {
      text.remove_suffix(1);
    } else if (text.size() >= 2 && is_space_at(text, text.size() - 2, width) && width == 2) {
      text.remove_suffix(2);
    } else {
      break;
    }
  }
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// The command said to the bot: the text after the first mention of it, without a leading
// "incident" (people write "@Haveri incident status mitigated" as they would write
// "/incident status mitigated"). nullopt when the text does not mention the bot.
std::optional<std::string> command_after_mention(std::string_view text,
                                                 const std::string& bot_user_id) {
  std::size_t mention = std::string_view::npos;
  if (bot_user_id.empty()) {
    // Before auth.test has answered only a leading mention can be taken for ours.
    const std::string_view start = trim(text);
    if (start.starts_with("<@")) {
      mention = text.size() - start.size();
    }
  } else {
    // "<@U0BOT>", or "<@U0BOT|haveri>" from older clients.
    const std::string needle = "<@" + bot_user_id;
    for (std::size_t at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + 1)) {
      const std::size_t after = at + needle.size();
      if (after < text.size() && (text[after] == '>' || text[after] == '|')) {
        mention = at;
        break;
      }
    }
  }
  if (mention == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t close = text.find('>', mention);
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = trim(text.substr(close + 1));
  constexpr std::string_view kIncident = "incident";
  std::size_t width = 0;
  if (rest.size() >= kIncident.size() && iequals(rest.substr(0, kIncident.size()), kIncident) &&
      (rest.size() == kIncident.size() || is_space_at(rest, kIncident.size(), width))) {
    rest = trim(rest.substr(kIncident.size()));
  }
  return rest.empty() ? std::string("help") : std::string(rest);
}

json neutral_event(std::string_view type, const std::string& idempotency_key,
                   const std::string& installation, std::string_view channel_id,
                   std::string_view user_id) {
  return json{{"v", 1},
              {"type", std::string(type)},
              {"idempotency_key", idempotency_key},
              {"installation", installation},
              {"channel", {{"id", std::string(channel_id)}}},
              {"user", {{"id", std::string(user_id)}}}};
}

// References only: the host never receives file contents, and fetching url_private needs
// the bot token, which stays in the plugin.
json file_references(const json* message) {
  json files = json::array();
  const json* listed = member(message, "files");
  if (listed == nullptr || !listed->is_array()) {
    return files;
  }
  for (const json& file : *listed) {
    const auto id = id_member(&file, "id");
    if (!id) {
      continue;
    }
    json reference{{"id", std::string(*id)}};
    if (const auto name = string_member(&file, "name")) {
      reference["name"] = std::string(*name);
    }
    if (const json* size = member(&file, "size")) {
      if (size->is_number_unsigned()) {
        reference["size"] = size->get<std::uint64_t>();
      } else if (size->is_number_integer() && size->get<std::int64_t>() >= 0) {
        reference["size"] = size->get<std::int64_t>();
      }
    }
    if (const auto url = string_member(&file, "url_private")) {
      reference["url"] = std::string(*url);
    }
    if (const auto mimetype = string_member(&file, "mimetype")) {
      reference["mimetype"] = std::string(*mimetype);
    }
    files.push_back(std::move(reference));
  }
  return files;
}

// What every event of one envelope shares.
struct Delivery {
  std::string idempotency_key;
  std::string installation;
  const json* event;
  const AppIdentity& app;
};

Translation translate_new_message(const Delivery& delivery) {
  const json* event = delivery.event;
  if (is_ours(event, delivery.app)) {
    return ignored("message: said by the app itself");
  }
  const auto channel = id_member(event, "channel");
  const auto user = id_member(event, "user");
  const auto ts = id_member(event, "ts");
  if (!channel || !user || !ts) {
    return ignored("message: no channel, user or ts");
  }
  const auto said = string_member(event, "text");
  if (const json* text = member(event, "text"); !said && text != nullptr && !text->is_null()) {
    return ignored("message: text is not a UTF-8 string");
  }
  json files = file_references(event);
  if (!said && files.empty()) {
    return ignored("message: neither text nor files");
  }
  json out =
      neutral_event("message", delivery.idempotency_key, delivery.installation, *channel, *user);
  out["text"] = std::string(said.value_or(std::string_view{}));
  out["message_id"] = std::string(*ts);
  // A thread's parent carries thread_ts == ts; only replies point elsewhere.
  if (const auto thread_ts = id_member(event, "thread_ts"); thread_ts && *thread_ts != *ts) {
    out["thread_id"] = std::string(*thread_ts);
  }
  if (!files.empty()) {
    out["files"] = std::move(files);
  }
  return emitted(std::move(out));
}

Translation deletion(const Delivery& delivery, std::string_view channel,
                     std::string_view message_id, const json* previous) {
  if (is_ours(previous, delivery.app)) {
    return ignored("message_deleted: a message of the app itself");
  }
  // Slack does not say who deleted a message; its author is the one who (almost always)
  // could, and is the person the timeline already shows for it.
  const auto author = id_member(previous, "user");
  if (!author) {
    return ignored("message_deleted: no previous_message.user");
  }
  json out = neutral_event("message_deleted", delivery.idempotency_key, delivery.installation,
                           channel, *author);
  out["message_id"] = std::string(message_id);
  return emitted(std::move(out));
}

Translation translate_change(const Delivery& delivery) {
  const json* event = delivery.event;
  const json* message = member(event, "message");
  if (message == nullptr || !message->is_object()) {
    return ignored("message_changed: no message object");
  }
  if (is_ours(message, delivery.app)) {
    return ignored("message_changed: an edit of the app's own message");
  }
  const auto channel = id_member(event, "channel");
  const auto ts = id_member(message, "ts");
  if (!channel || !ts) {
    return ignored("message_changed: no channel or message.ts");
  }
  const json* previous = member(event, "previous_message");
  // Deleting a thread's parent leaves a tombstone in its place instead of sending
  // message_deleted.
  if (string_member(message, "subtype") == "tombstone") {
    return deletion(delivery, *channel, *ts, previous);
  }
  const auto user = id_member(message, "user");
  const auto text = string_member(message, "text");
  if (!user || !text) {
    return ignored("message_changed: no message.user or message.text");
  }
  // Slack also sends message_changed for unfurls, reply counts and metadata; only a new
  // text is an edit a person made.
  if (const auto before = string_member(previous, "text"); before && *before == *text) {
    return ignored("message_changed: the text did not change");
  }
  json out = neutral_event("message_changed", delivery.idempotency_key, delivery.installation,
                           *channel, *user);
  out["message_id"] = std::string(*ts);
  out["text"] = std::string(*text);
  return emitted(std::move(out));
}

Translation translate_message(const Delivery& delivery) {
  const json* subtype = member(delivery.event, "subtype");
  if (subtype == nullptr || subtype->is_null()) {
    return translate_new_message(delivery);
  }
  const auto name = string_member(delivery.event, "subtype");
  if (!name) {
    return ignored("message: subtype is not a string");
  }
  if (*name == "thread_broadcast" || *name == "file_share") {
    return translate_new_message(delivery);
  }
  if (*name == "message_changed") {
    return translate_change(delivery);
  }
  if (*name == "message_deleted") {
    const auto channel = id_member(delivery.event, "channel");
    const auto deleted_ts = id_member(delivery.event, "deleted_ts");
    if (!channel || !deleted_ts) {
      return ignored("message_deleted: no channel or deleted_ts");
    }
    return deletion(delivery, *channel, *deleted_ts, member(delivery.event, "previous_message"));
  }
  return ignored("message: subtype " + quoted(*name) + " is not recorded");
}

Translation translate_mention(const Delivery& delivery) {
  const json* event = delivery.event;
  if (is_ours(event, delivery.app)) {
    return ignored("app_mention: said by the app itself");
  }
  // Slack sends app_mention again when the message is edited; running the command twice
  // could declare a second incident.
  if (member(event, "edited") != nullptr) {
    return ignored("app_mention: an edit (the command ran when it was sent)");
  }
  const auto channel = id_member(event, "channel");
  const auto user = id_member(event, "user");
  const auto ts = id_member(event, "ts");
  const auto text = string_member(event, "text");
  if (!channel || !user || !ts || !text) {
    return ignored("app_mention: no channel, user, ts or text");
  }
  auto command = command_after_mention(*text, delivery.app.bot_user_id);
  if (!command) {
    return ignored("app_mention: the text does not mention the bot user");
  }
  json out =
      neutral_event("command", delivery.idempotency_key, delivery.installation, *channel, *user);
  out["text"] = std::move(*command);
  out["message_id"] = std::string(*ts);
  return emitted(std::move(out));
}

Translation translate_join(const Delivery& delivery) {
  const auto channel = id_member(delivery.event, "channel");
  const auto user = id_member(delivery.event, "user");
  if (!channel || !user) {
    return ignored("member_joined_channel: no channel or user");
  }
  if (!delivery.app.bot_user_id.empty() && *user == delivery.app.bot_user_id) {
    return ignored("member_joined_channel: the app itself joined");
  }
  return emitted(neutral_event("member_joined", delivery.idempotency_key, delivery.installation,
                               *channel, *user));
}

Translation translate_envelope(const json& envelope, const AppIdentity& app) {
  if (!envelope.is_object()) {
    return ignored("the envelope is not a JSON object");
  }
  const auto type = string_member(&envelope, "type");
  if (!type) {
    return ignored("the envelope has no type");
  }
  if (*type != "event_callback") {
    return ignored("envelope type " + quoted(*type) +
                   " is not event_callback (url_verification is answered by the plugin)");
  }
  const auto event_id = id_member(&envelope, "event_id");
  if (!event_id) {
    return ignored("the envelope has no event_id");
  }
  if (kEventKeyPrefix.size() + event_id->size() > kMaxIdempotencyKeyBytes) {
    return ignored("event_id is longer than an idempotency key may be");
  }
  std::string installation = installation_of(envelope);
  if (installation.empty()) {
    return ignored("the envelope names no team or enterprise");
  }
  const json* event = member(&envelope, "event");
  if (event == nullptr || !event->is_object()) {
    return ignored("the envelope has no event object");
  }
  const auto event_type = string_member(event, "type");
  if (!event_type) {
    return ignored("the event has no type");
  }
  const Delivery delivery{std::string(kEventKeyPrefix) + std::string(*event_id),
                          std::move(installation), event, app};
  if (*event_type == "message") {
    return translate_message(delivery);
  }
  if (*event_type == "app_mention") {
    return translate_mention(delivery);
  }
  if (*event_type == "member_joined_channel") {
    return translate_join(delivery);
  }
  return ignored("event type " + quoted(*event_type) + " is not one Haveri handles");
}

// A form field that is present and valid UTF-8 (parse_form guarantees the latter, but a
// FormFields may be built by other code).
std::optional<std::string_view> form_field(const FormFields& fields, const char* key) {
  const auto it = fields.find(key);
  if (it == fields.end() || !is_valid_utf8(it->second)) {
    return std::nullopt;
  }
  return std::string_view(it->second);
}

std::optional<std::string_view> form_id(const FormFields& fields, const char* key) {
  auto id = form_field(fields, key);
  if (id) {
    id = trim(*id);
  }
  if (id && id->empty()) {
    return std::nullopt;
  }
  return id;
}

Translation translate_command_fields(const FormFields& fields, std::string_view expected) {
  const auto command = form_field(fields, "command");
  if (!command) {
    return ignored("slash command: no command field");
  }
  if (!iequals(trim(*command), expected)) {
    return ignored("slash command " + quoted(*command) + " is not " + quoted(expected));
  }
  const auto trigger_id = form_id(fields, "trigger_id");
  const auto channel_id = form_id(fields, "channel_id");
  const auto user_id = form_id(fields, "user_id");
  if (!trigger_id || !channel_id || !user_id) {
    return ignored("slash command: no trigger_id, channel_id or user_id");
  }
  if (kCommandKeyPrefix.size() + trigger_id->size() > kMaxIdempotencyKeyBytes) {
    return ignored("slash command: trigger_id is longer than an idempotency key may be");
  }
  const auto enterprise_install = form_field(fields, "is_enterprise_install");
  const bool org_wide = enterprise_install && *enterprise_install == "true";
  const auto installation = form_id(fields, org_wide ? "enterprise_id" : "team_id");
  if (!installation) {
    return ignored(org_wide ? "slash command: an org-wide install without enterprise_id"
                            : "slash command: no team_id");
  }
  json out = neutral_event("command", std::string(kCommandKeyPrefix) + std::string(*trigger_id),
                           std::string(*installation), *channel_id, *user_id);
  // Slack puts these placeholders where it will not tell the app a conversation's name;
  // without a name the host shows the id, which is at least true.
  if (const auto name = form_id(fields, "channel_name");
      name && *name != "privategroup" && *name != "directmessage") {
    out["channel"]["name"] = std::string(*name);
  }
  if (const auto name = form_id(fields, "user_name")) {
    out["user"]["name"] = std::string(*name);
  }
  const std::string_view text = trim(form_field(fields, "text").value_or(std::string_view{}));
  out["text"] = text.empty() ? std::string("help") : std::string(text);
  return emitted(std::move(out));
}

}  // namespace

std::string installation_of(const nlohmann::json& payload) {
  try {
    const json* authorization = first_authorization(payload);
    const bool org_wide = is_true(member(authorization, "is_enterprise_install")) ||
                          is_true(member(&payload, "is_enterprise_install"));
    std::optional<std::string_view> id;
    if (org_wide) {
      // No fall-back to a team: an org-wide install's events come from any workspace of
      // the organization, and the team would name the wrong installation.
      id = id_member(authorization, "enterprise_id");
      if (!id) {
        id = id_member(&payload, "enterprise_id");
      }
      if (!id) {
        id = id_member(member(&payload, "enterprise"), "id");
      }
    } else {
      id = id_member(&payload, "team_id");
      if (!id) {
        id = id_member(member(&payload, "team"), "id");
      }
      if (!id) {
        id = id_member(member(&payload, "event"), "team");
      }
    }
    return id ? std::string(*id) : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

Translation translate_event_callback(const nlohmann::json& envelope, const AppIdentity& app) {
  try {
    return translate_envelope(envelope, app);
  } catch (const std::exception& error) {
    // Only allocation can fail here; the delivery is dropped rather than the plugin.
    return ignored(std::string("the envelope could not be translated: ") + error.what());
  }
}

Translation translate_slash_command(const FormFields& fields, std::string_view expected_command) {
  try {
    return translate_command_fields(fields, expected_command);
  } catch (const std::exception& error) {
    return ignored(std::string("the slash command could not be translated: ") + error.what());
  }
}

}  // namespace haveri::slack
