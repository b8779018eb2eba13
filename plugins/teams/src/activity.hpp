#pragma once
// Translation of Bot Framework activities (https://learn.microsoft.com/azure/bot-service/
// rest-api/bot-framework-rest-connector-api-reference#activity-object) as Microsoft Teams
// sends them into Haveri's neutral inbound events (docs/plugin-abi.md, "Inbound events").
// Pure functions: no I/O, no clock. The caller has already authenticated the request.
//
// Identities used throughout (docs/teams.md, "Identities"):
//   installation = the tenant id (channelData.tenant.id, else conversation.tenantId);
//   user.id      = from.aadObjectId (the Entra object id: what the directory lists, what
//                  Graph and proactive messages take), from.id ("29:…") when absent;
//   user.name    = from.name when present;
//   channel.id   = for a Teams channel, the channel's id ("19:…@thread.tacv2", the
//                  conversation id without its ";messageid=…" suffix); for personal and
//                  group chats, conversation.id;
//   channel.name = channelData.channel.name when present;
//   message_id   = activity.id; thread_id = the root message id of a channel thread
//                  (the ";messageid=" suffix) when it differs from the activity's id.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace haveri::teams {

// What the bot knows of itself: recipient.id of activities addressed to it is "28:" +
// app id. Messages from the bot itself are ignored; mentions of it make commands.
struct BotIdentity {
  std::string app_id;  // the Microsoft app id (GUID)
  std::string bot_id() const { return "28:" + app_id; }
};

// Where a conversation is, as the plugin remembers it for outbound calls.
struct ConversationRef {
  std::string service_url;  // activity.serviceUrl
  std::string tenant_id;
  std::string team_id;            // channelData.team.id ("19:…@thread.tacv2" team thread) or ""
  std::string team_aad_group_id;  // channelData.team.aadGroupId when Teams sends it, or ""
  std::string conversation_id;    // activity.conversation.id as sent
  std::string conversation_type;  // "channel", "personal", "groupChat"
};

// What the plugin does with one activity.
struct ActivityTranslation {
  // Events to submit (zero or more: a conversationUpdate adding three people gives three).
  std::vector<nlohmann::json> events;
  // Set for "invoke" adaptiveCard/action: the action's verb and data, so that the
  // plugin can answer with an invoke response (see adaptive_card.hpp) once the events
  // are durable.
  bool is_card_action_invoke = false;
  std::string card_action_verb;
  nlohmann::json card_action_data = nlohmann::json::object();
  // activity.replyToId: the card the action was on (invokes, and Action.Submit messages).
  std::string replied_to_activity;
  // The conversation the activity came from (always filled when the activity has one).
  ConversationRef conversation;
  // conversationUpdate with the bot itself among membersAdded: the app was installed.
  bool bot_installed = false;
  // Why nothing was produced, for a debug log line: set whenever `events` is empty (also
  // for typing, or a conversationUpdate adding only the bot); "" when events were produced.
  std::string ignored_because;
  // The activity is unusable (missing type, id, conversation, from, or tenant; not an
  // object; strings not UTF-8): answer 400 and store nothing.
  bool malformed = false;
  // The distinct Bot Framework user ids ("29:…") written into command texts as
  // "<@29:…|Name>" (see command_text), in order of first appearance. The directory knows
  // people by Entra object id, which mention entities do not carry: the plugin looks the
  // ids up (conversation members) and rewrites the texts with replace_mentioned_ids.
  std::vector<std::string> mentioned_user_ids;
};

// Text of a Teams message as people wrote it: <at>…</at> mentions kept as their inner
// text, other HTML tags removed (<br>, </p> and </div> become line breaks), entities
// (&amp; &lt; &gt; &quot; &#39; &nbsp; and numeric &#…; / &#x…;) decoded, lines trimmed
// at the ends, runs of blank lines collapsed, result trimmed. Invalid UTF-8 becomes
// U+FFFD. Never throws but std::bad_alloc.
std::string plain_text(std::string_view teams_html);

// The command in a message addressed to the bot: the text after the mention of the bot
// (the <at>…</at> element whose entity in `entities` has mentioned.id == bot id; when
// entities are absent, the first <at>…</at>), then plain_text; a leading word
// "incident" (any case) removed; empty -> "help". In a personal chat there is no
// mention: the whole text is the command. Nullopt when a channel or group message does
// not mention the bot.
// A mention of anyone but the bot becomes "<@ID|Name>", the form the command grammar
// takes for a person (core/src/commands.cpp, parse_person): ID = the entity's
// mentioned.id; consecutive <at> elements separated only by white space whose entities
// share one id (Teams splits a name with spaces into one element per word) make one
// mention. Name = the entities' mentioned.name (distinct ones joined), else the elements'
// inner texts joined; '|', '>', '<' and '@' dropped, cut to 200 bytes, and its spaces
// written as U+00A0 so that the grammar, which splits words at ASCII white space, reads
// one word; "<@ID>" when nothing is left. A mention no entity pairs with, or whose id the
// grammar could not read (white space, one of "<>@|", over 200 bytes), stays its inner
// text; so do further mentions of the bot.
std::optional<std::string> command_text(const nlohmann::json& activity, const BotIdentity& bot);

// Replaces "<@from|" / "<@from>" by "<@to|" / "<@to>" in a command text, for each pair.
// One pass: a replacement is never replaced again, and an id is matched whole (an id
// that is a prefix of another does not match it). Never throws but std::bad_alloc.
std::string replace_mentioned_ids(std::string_view text,
                                  const std::map<std::string, std::string>& ids);

// One activity into events:
//   message in a personal chat -> "command" (command_text; mentioned_user_ids); in a
//     channel or group chat mentioning the bot -> "command"; otherwise -> "message" (plain_text of
//     text; thread_id; attachments as references: "files" entries from attachments whose
//     contentType is "application/vnd.microsoft.teams.file.download.info" (name,
//     content.uniqueId as id, contentUrl (the file in SharePoint/OneDrive) as url,
//     content.fileType as mimetype when known; content.downloadUrl only without a
//     contentUrl and without a tempauth token: that URL is a credential that expires in
//     an hour) or that carry a contentUrl (name, contentUrl; id = contentUrl); cards and
//     text/html attachments are not files; every file gets a name, as the host requires);
//   message with a `value` object and no text (an Action.Submit) whose value has
//     "haveri_action": "command" -> "command" with value.command;
//     "haveri_action": "form" -> "form_submission" (form_id = value.form_id, values =
//     every other string/number/bool member of value, as strings, "haveri_*" keys left
//     out, message_id = replyToId);
//   invoke named "adaptiveCard/action" -> the same two, from value.action.data
//     (is_card_action_invoke set, verb from value.action.verb);
//   messageUpdate (channelData.eventType "editMessage" or no eventType) ->
//     "message_changed" (message_id = activity id, text = plain_text);
//   messageDelete (eventType "softDeleteMessage" or none) -> "message_deleted";
//   conversationUpdate -> one "member_joined" per membersAdded entry other than the bot
//     (user.id = aadObjectId or id); the bot among them sets bot_installed;
//   installationUpdate, typing, messageReaction, other invokes, anything else ->
//     no events, ignored_because set.
// Anything from the bot itself (from.id == bot id) is ignored. idempotency_key:
//   "teams:" + conversation.id + ":" + activity.id for messages, commands and invokes;
//   "teams:edit:" + conversation.id + ":" + activity.id + ":" + activity.timestamp for
//   edits (one message may be edited many times); "teams:delete:" + conversation.id +
//   ":" + activity.id for deletions; "teams:join:" + activity.id + ":" + member id for
//   joins. A key over 512 bytes is replaced by "teams:sha256:" + hex SHA-256 of it.
// Never throws but std::bad_alloc.
ActivityTranslation translate_activity(const nlohmann::json& activity, const BotIdentity& bot);

}  // namespace haveri::teams
