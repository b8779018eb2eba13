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
// mentions of it are recognised.
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
// .is_enterprise_install, or is_enterprise_install at the top), else the team id
// (team_id, team.id, or event.team). Empty when none is present.
std::string installation_of(const nlohmann::json& payload);

// One Events API "event_callback" envelope (the whole JSON body Slack posts, or the
// payload of a Socket Mode "events_api" envelope) into an event:
//   message (no subtype, thread_broadcast, file_share) -> "message" with text,
//     message_id = ts, thread_id = thread_ts when it differs from ts, files as
//     references (id, name, size, url = url_private, mimetype);
//   message/message_changed -> "message_changed" (message_id = message.ts, text =
//     message.text); message/message_deleted -> "message_deleted" (message_id =
//     deleted_ts); other subtypes (channel_join, bot_message, …) are ignored;
//   app_mention -> "command" with the leading "<@BOTID>" (and "incident" after it, if
//     present) stripped from the text; an empty rest is "help";
//   member_joined_channel -> "member_joined" (channel, user; ABI 1.2 event, hosts that
//     do not know it acknowledge and ignore it).
// Anything said by the app itself (user == bot_user_id, or bot_id/app_id equal to
// ours, also inside message_changed) is ignored. idempotency_key is "slack:" +
// event_id; channel.id is event.channel (event.item.channel never); user.id is
// event.user (message.user for edits). A missing event_id, team or required field
// is ignored with the reason. Never throws.
Translation translate_event_callback(const nlohmann::json& envelope, const AppIdentity& app);

// A slash command's fields (https://api.slack.com/interactivity/slash-commands) into
// a "command" event: text = the command's text trimmed ("" -> "help"), channel
// {channel_id, channel_name}, user {user_id, user_name}, installation = enterprise_id
// when is_enterprise_install is "true" else team_id, idempotency_key = "slack:command:"
// + trigger_id. Not for us (command differs from `expected_command`, compared
// case-insensitively) or missing fields: no event, with the reason. Never throws.
Translation translate_slash_command(const FormFields& fields, std::string_view expected_command);

}  // namespace haveri::slack
