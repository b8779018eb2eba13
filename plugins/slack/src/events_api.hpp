#pragma once
// Translation of Slack's Events API and slash commands into Haveri's neutral inbound
// events (docs/plugin-abi.md, "Inbound events"). Pure functions: no I/O, no clock.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "form_body.hpp"

namespace haveri::slack {

// Who the app is in this workspace (from auth.test), so that its own messages and
// mentions of it are recognised. An empty id matches nothing (before auth.test answers).
struct AppIdentity {
  std::string bot_user_id;  // "U0BOT" — the bot user; messages by it are ignored
  std::string bot_id;       // "B0BOT" — messages carrying this bot_id are ignored
  std::string app_id;       // "A0APP" — messages carrying this app_id are ignored
};

// What one Slack delivery becomes: at most one neutral event, or why none.
struct Translation {
  std::optional<nlohmann::json> event;  // {"v":1,"type":…,"idempotency_key":…,"installation":…}
  std::string ignored_because;          // set when `event` is empty: for a debug log line
};

// The installation an Events API envelope or interactivity payload comes from: the
// enterprise id for an org-wide Enterprise Grid install (authorizations[0]
// .is_enterprise_install, or is_enterprise_install at the top; the id from
// authorizations[0].enterprise_id, enterprise_id, or enterprise.id), else the team id
// (team_id, team.id, or event.team). Empty when none is present — also for an org-wide
// install without an enterprise id: its events come from any workspace of the org, so a
// team id would name the wrong installation. Never throws.
std::string installation_of(const nlohmann::json& payload);

// One Events API "event_callback" envelope (the whole JSON body Slack posts, or the
// payload of a Socket Mode "events_api" envelope) into an event:
//   message (no subtype, thread_broadcast, file_share) -> "message" with text ("" for
//     files without text), message_id = ts, thread_id = thread_ts when it differs from
//     ts (a thread's parent has thread_ts == ts), files as references only (id, name,
//     size, url = url_private, mimetype; entries without an id are skipped);
//   message/message_changed -> "message_changed" (message_id = message.ts, text =
//     message.text), unless previous_message.text is the same text (Slack also sends
//     message_changed for unfurls, reply counts and metadata: no person edited
//     anything); a message.subtype "tombstone" (a deleted thread parent) is a deletion;
//   message/message_deleted -> "message_deleted" (message_id = deleted_ts);
//   other subtypes (channel_join, bot_message, …) are ignored;
//   app_mention -> "command" with the text after the first mention of our bot user
//     ("<@U0BOT>" or "<@U0BOT|name>"; what precedes it is addressed to people), without
//     a leading word "incident"; an empty rest is "help". With bot_user_id still unknown
//     only a mention at the very start is taken. A mention with "edited" is ignored (Slack
//     repeats app_mention on edits; running "declare" twice would open two incidents);
//   member_joined_channel -> "member_joined" (channel, user; ABI 1.2 event, hosts that
//     do not know it acknowledge and ignore it); the app itself joining is ignored.
// Anything said by the app itself (user == bot_user_id, or bot_id, app_id or
// bot_profile.app_id equal to ours, also inside message_changed and in the
// previous_message of a deletion) is ignored. Other bots' and integrations' messages that
// carry a user (chat.postMessage with a bot token) are recorded like people's: alerts
// posted into an incident channel belong to its timeline. idempotency_key is "slack:" +
// event_id; channel.id is event.channel (event.item.channel never); user.id is
// event.user (message.user for edits, previous_message.user for deletions: Slack does
// not say who deleted a message). user.name and channel.name are left out: the Events
// API gives only ids. A type other than "event_callback" (url_verification, answered by
// the plugin itself), a missing event_id, team or required field, a string that is not
// UTF-8 or an idempotency key over 512 bytes: no event, with the reason. Never throws.
Translation translate_event_callback(const nlohmann::json& envelope, const AppIdentity& app);

// A slash command's fields (https://api.slack.com/interactivity/slash-commands) into
// a "command" event: text = the command's text trimmed ("" -> "help"), channel
// {channel_id, channel_name}, user {user_id, user_name}, installation = enterprise_id
// when is_enterprise_install is "true" else team_id, idempotency_key = "slack:command:"
// + trigger_id. channel_name is left out when Slack sends its placeholder
// ("privategroup", "directmessage") instead of a name. The verification `token` is not
// looked at: the request's signature is what authenticates it. Not for us (command
// differs from `expected_command`, compared case-insensitively) or missing fields
// (trigger_id, channel_id, user_id, the team or enterprise id): no event, with the
// reason. Never throws.
Translation translate_slash_command(const FormFields& fields, std::string_view expected_command);

}  // namespace haveri::slack
