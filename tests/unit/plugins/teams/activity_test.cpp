// Tests plugins/teams/src/activity.cpp: what Bot Framework activities, shaped as Microsoft
// Teams sends them (learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations:
// conversation-messages, subscribe-to-conversation-events, channel-and-group-conversations;
// the Universal Actions invoke), become as neutral inbound events, and hostile variants.
// Ids and names are made up.
#include "activity.hpp"

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace haveri::teams {
namespace {

using nlohmann::json;

constexpr const char* kAppId = "3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60";
constexpr const char* kBotId = "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60";
constexpr const char* kTenant = "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d";
constexpr const char* kServiceUrl = "https://smba.trafficmanager.net/emea/";
constexpr const char* kTeamId = "19:Xk3aQ1rT8vLmN2pZ9bWc5yE7uH4jK6sD0fGhJ1kL2m@thread.tacv2";
constexpr const char* kTeamGroupId = "d1c4f7a2-6b3e-4c58-9f01-2a7e5b8c3d94";
constexpr const char* kChannel = "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2";
constexpr const char* kRootId = "1712297278901";
constexpr const char* kRootConversation =
    "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297278901";
constexpr const char* kAinoMri =
    "29:1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
constexpr const char* kAinoAad = "6c2f4e8a-1b3d-4f5a-9c7e-0d2b4f6a8c1e";
constexpr const char* kPersonalChat =
    "a:1Xh7pQ2rS9tU4vW6xY8zA0bC3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO1pQ";
constexpr const char* kGroupChat = "19:b8577894a63548969c5c92bb9c80c5e1@thread.v2";

const BotIdentity haveri_bot{kAppId};

json aino() {
  return json{{"id", kAinoMri}, {"name", "Aino Virtanen"}, {"aadObjectId", kAinoAad}};
}

json team_channel_data() {
  return json::parse(R"({
    "teamsChannelId": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2",
    "teamsTeamId": "19:Xk3aQ1rT8vLmN2pZ9bWc5yE7uH4jK6sD0fGhJ1kL2m@thread.tacv2",
    "channel": {"id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2"},
    "team": {"id": "19:Xk3aQ1rT8vLmN2pZ9bWc5yE7uH4jK6sD0fGhJ1kL2m@thread.tacv2"},
    "tenant": {"id": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"}
  })");
}

// A channel post that @mentions the bot (resource-specific consent or not, Teams sends it).
json channel_mention() {
  json activity = json::parse(R"({
    "text": "<at>Haveri</at> incident declare Pump 3 down sev2\n",
    "textFormat": "plain",
    "attachments": [{
      "contentType": "text/html",
      "content": "<div><div><span itemscope=\"\" itemtype=\"http://schema.skype.com/Mention\" itemid=\"0\">Haveri</span>&nbsp;incident declare Pump 3 down sev2</div>\n</div>"
    }],
    "type": "message",
    "timestamp": "2024-04-05T06:07:58.901Z",
    "localTimestamp": "2024-04-05T09:07:58.901+03:00",
    "id": "1712297278901",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {
      "isGroup": true,
      "conversationType": "channel",
      "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
      "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297278901"
    },
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "entities": [
      {"mentioned": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
       "text": "<at>Haveri</at>", "type": "mention"},
      {"locale": "en-US", "country": "FI", "platform": "Web", "timezone": "Europe/Helsinki",
       "type": "clientInfo"}
    ],
    "locale": "en-US",
    "localTimezone": "Europe/Helsinki"
  })");
  activity["from"] = aino();
  activity["channelData"] = team_channel_data();
  activity["channelData"]["channel"]["name"] = "Line 3";
  activity["channelData"]["team"]["name"] = "Plant A Operations";
  activity["channelData"]["team"]["aadGroupId"] = kTeamGroupId;
  return activity;
}

// A reply in the thread of that post, seen with resource-specific consent (no mention).
json thread_reply() {
  json activity = json::parse(R"({
    "text": "Bypass valve opened, pressure back at 4.1 bar",
    "textFormat": "plain",
    "type": "message",
    "timestamp": "2024-04-05T06:08:32.456Z",
    "id": "1712297312456",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "from": {"id": "29:1zY8xW7vU6tS5rQ4pO3nM2lK1jI0hG9fE8dC7bA6-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu",
             "name": "Mikko Korhonen", "aadObjectId": "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b"},
    "conversation": {
      "isGroup": true, "conversationType": "channel",
      "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
      "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297278901"
    },
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "entities": [{"locale": "en-US", "country": "FI", "platform": "Windows",
                  "timezone": "Europe/Helsinki", "type": "clientInfo"}],
    "replyToId": "1712297278901",
    "locale": "en-US"
  })");
  activity["channelData"] = team_channel_data();
  return activity;
}

// A new post at the top of the channel, no mention: its own id is the ";messageid=".
json channel_post() {
  json activity = thread_reply();
  activity["id"] = "1712297500777";
  activity["conversation"]["id"] =
      "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297500777";
  activity.erase("replyToId");
  activity["text"] = "Shift handover: pump 3 still on bypass";
  return activity;
}

json personal_command() {
  json activity = json::parse(R"({
    "text": "incident status mitigated",
    "textFormat": "plain",
    "type": "message",
    "timestamp": "2024-04-05T06:15:00.100Z",
    "id": "1712297700100",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {"conversationType": "personal",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "entities": [{"locale": "en-US", "country": "FI", "platform": "Android",
                  "timezone": "Europe/Helsinki", "type": "clientInfo"}],
    "channelData": {"tenant": {"id": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"}},
    "locale": "en-US"
  })");
  activity["conversation"]["id"] = kPersonalChat;
  activity["from"] = aino();
  return activity;
}

json group_chat(std::string text, bool mention) {
  json activity = json::parse(R"({
    "textFormat": "plain",
    "type": "message",
    "timestamp": "2024-04-05T06:20:00.200Z",
    "id": "1712298000200",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {"isGroup": true, "conversationType": "groupChat",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
                     "id": "19:b8577894a63548969c5c92bb9c80c5e1@thread.v2"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "entities": [{"locale": "en-US", "country": "FI", "platform": "Mac",
                  "timezone": "Europe/Helsinki", "type": "clientInfo"}],
    "channelData": {"tenant": {"id": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"}},
    "locale": "en-US"
  })");
  activity["text"] = std::move(text);
  activity["from"] = aino();
  if (mention) {
    activity["entities"].push_back(json{{"type", "mention"},
                                        {"text", "<at>Haveri</at>"},
                                        {"mentioned", {{"id", kBotId}, {"name", "Haveri"}}}});
  }
  return activity;
}

// A file sent to the bot in a personal chat (supportsFiles), with an inline image and the
// HTML copy of the message that Teams attaches.
json personal_files() {
  json activity = personal_command();
  activity["id"] = "1712297800300";
  activity["text"] = "PLC log and a photo of the seal";
  activity["attachments"] = json::parse(R"([
    {"contentType": "application/vnd.microsoft.teams.file.download.info",
     "contentUrl": "https://plantaoy-my.sharepoint.com/personal/aino_virtanen_plantaoy_fi/Documents/Microsoft Teams Chat Files/pump3-plc.pdf",
     "name": "pump3-plc.pdf",
     "content": {
       "downloadUrl": "https://plantaoy-my.sharepoint.com/personal/aino_virtanen_plantaoy_fi/_layouts/15/download.aspx?UniqueId=2f4e6a8c-0b1d-4f3e-9a5c-7e9b1d3f5a70&Translate=false&tempauth=eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJhdWQiOiJmYWtlIn0.&ApiVersion=2.0",
       "uniqueId": "2f4e6a8c-0b1d-4f3e-9a5c-7e9b1d3f5a70",
       "fileType": "pdf",
       "etag": "\"{2F4E6A8C-0B1D-4F3E-9A5C-7E9B1D3F5A70},1\""}},
    {"contentType": "image/*",
     "contentUrl": "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d3-5c1e7f0a2b4d6e8f/views/original"},
    {"contentType": "text/html",
     "content": "<div><div>PLC log and a photo of the seal</div><div><span><img height=\"250\" src=\"https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d3-5c1e7f0a2b4d6e8f/views/imgo\" width=\"188\" itemscope=\"\" itemtype=\"http://schema.skype.com/AMSImage\"></span></div></div>"}
  ])");
  return activity;
}

json html_message() {
  json activity = channel_post();
  activity["id"] = "1712297600500";
  activity["conversation"]["id"] =
      "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297600500";
  activity["textFormat"] = "xml";
  activity["text"] =
      "<p>Pressure &amp; flow readings:<br>P1&nbsp;=&nbsp;4.1&nbsp;bar<br/>P2 = 3.9 bar</p>\n"
      "<p>&lt;checked&gt; by <b>night&nbsp;shift</b> &#8212; ok&#x2705;</p>";
  activity["attachments"] = json::array(
      {json{{"contentType", "text/html"},
            {"content", "<div><p>Pressure &amp; flow readings:<br>P1 = 4.1 bar</p></div>"}}});
  return activity;
}

// Action.Submit on an older client: a message with the card's data and inputs as `value`.
json submit(json value) {
  json activity = json::parse(R"({
    "type": "message",
    "timestamp": "2024-04-05T06:30:00.000Z",
    "id": "1712298600000",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {"isGroup": true, "conversationType": "channel",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
                     "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297350000"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "replyToId": "1712297350000",
    "locale": "en-US"
  })");
  activity["from"] = aino();
  activity["channelData"] = team_channel_data();
  activity["channelData"]["source"] = {{"name", "message"}};
  activity["channelData"]["legacy"] = {{"replyToId", "1:1c2Yp9rV4xJ7bN3mQ6tW8zL0kH5gF2dS"}};
  activity["value"] = std::move(value);
  return activity;
}

// Action.Execute: an invoke named adaptiveCard/action (Universal Actions).
json execute(std::string verb, json data) {
  json activity = json::parse(R"({
    "name": "adaptiveCard/action",
    "type": "invoke",
    "timestamp": "2024-04-05T06:31:00.000Z",
    "localTimestamp": "2024-04-05T09:31:00.000+03:00",
    "id": "f:4d1e6b0c-2a79-9c4f-0a5e-7d3b1f8e2c66",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {"isGroup": true, "conversationType": "channel",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
                     "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297350000"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "entities": [{"locale": "en-US", "country": "FI", "platform": "Web",
                  "timezone": "Europe/Helsinki", "type": "clientInfo"}],
    "replyToId": "1712297350000",
    "value": {"action": {"type": "Action.Execute", "title": "Submit"}, "trigger": "manual"},
    "locale": "en-US"
  })");
  activity["from"] = aino();
  activity["channelData"] = team_channel_data();
  activity["channelData"]["source"] = {{"name", "message"}};
  activity["value"]["action"]["verb"] = std::move(verb);
  activity["value"]["action"]["data"] = std::move(data);
  return activity;
}

json edit(std::string text, std::string timestamp) {
  json activity = json::parse(R"({
    "type": "messageUpdate",
    "id": "1712297312456",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "conversation": {"isGroup": true, "conversationType": "channel",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
                     "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2;messageid=1712297278901"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "textFormat": "plain",
    "locale": "en-US",
    "localTimezone": "Europe/Helsinki"
  })");
  activity["from"] = aino();
  activity["channelData"] = team_channel_data();
  activity["channelData"]["eventType"] = "editMessage";
  activity["text"] = std::move(text);
  activity["timestamp"] = std::move(timestamp);
  return activity;
}

json soft_delete() {
  json activity = edit("", "2024-04-05T06:40:43.1612052Z");
  activity.erase("text");
  activity.erase("textFormat");
  activity["type"] = "messageDelete";
  activity["channelData"]["eventType"] = "softDeleteMessage";
  return activity;
}

// The bot added to a team: conversation.id is the channel chosen at install, from has no
// name, the team carries its name and Entra group id.
json bot_added_to_team() {
  return json::parse(R"({
    "type": "conversationUpdate",
    "membersAdded": [{"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60"}],
    "timestamp": "2024-04-01T08:00:00.000Z",
    "id": "f:0b9079f4-d4d3-3d8e-b883-798298053c7e",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "from": {"id": "29:1ljv6N86roXr5pjPrCJVIz6xHh5QxjI-Zb8aY7cX6dW5eV4fU3gT2hS1iR0jQ9kP8lO7mN6",
             "aadObjectId": "eddfa9d4-346e-4cce-a18f-fa6261ad776b"},
    "conversation": {"isGroup": true, "conversationType": "channel",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d",
                     "id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2",
                     "name": "Line 3"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "channelData": {
      "settings": {"selectedChannel": {"id": "19:7f1e2d3c4b5a49687766554433221100@thread.tacv2"}},
      "team": {"aadGroupId": "d1c4f7a2-6b3e-4c58-9f01-2a7e5b8c3d94",
               "name": "Plant A Operations",
               "id": "19:Xk3aQ1rT8vLmN2pZ9bWc5yE7uH4jK6sD0fGhJ1kL2m@thread.tacv2"},
      "eventType": "teamMemberAdded",
      "tenant": {"id": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"}
    }
  })");
}

// Two people added to the team: conversation.id is the team's, members carry no names.
json people_added_to_team() {
  json activity = bot_added_to_team();
  activity["id"] = "f:7c1a9e3d-5b2f-4a8c-9d0e-1f2a3b4c5d6e";
  activity["conversation"]["id"] = kTeamId;
  activity["conversation"].erase("name");
  activity["channelData"].erase("settings");
  activity["membersAdded"] = json::parse(R"([
    {"id": "29:1pQ2rS3tU4vW5xY6zA7bC8dE9fG0hI1jK2lM3nO4pQ5rS6tU7vW8xY9zA0bC1dE2fG3hI4jK5lM6n",
     "aadObjectId": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"},
    {"id": "29:1hI2jK3lM4nO5pQ6rS7tU8vW9xY0zA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1vW2xY3zA4bC5dE6f"}
  ])");
  return activity;
}

// The app installed in a personal chat: the bot and the person in membersAdded.
json personal_install() {
  json activity = json::parse(R"({
    "membersAdded": [{"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60"},
                     {"id": "29:1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                      "aadObjectId": "6c2f4e8a-1b3d-4f5a-9c7e-0d2b4f6a8c1e"}],
    "type": "conversationUpdate",
    "timestamp": "2024-04-01T09:00:00.000Z",
    "id": "f:5f85c2ad-0001-4e2a-9b3c-4d5e6f7a8b9c",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "from": {"id": "29:1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
             "aadObjectId": "6c2f4e8a-1b3d-4f5a-9c7e-0d2b4f6a8c1e"},
    "conversation": {"conversationType": "personal",
                     "tenantId": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"},
    "recipient": {"id": "28:3f2a6c1e-8b7d-4e59-a0c4-5d1e9b2f7a60", "name": "Haveri"},
    "channelData": {"tenant": {"id": "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d"}}
  })");
  activity["conversation"]["id"] = kPersonalChat;
  return activity;
}

json installation_update() {
  json activity = bot_added_to_team();
  activity.erase("membersAdded");
  activity["type"] = "installationUpdate";
  activity["id"] = "f:816eb23d-bfa1-afa3-dfeb-d2aa338e9541";
  activity["action"] = "add";
  activity["channelData"].erase("eventType");
  activity["channelData"]["source"] = {{"name", "message"}};
  return activity;
}

json typing() {
  json activity = personal_command();
  activity.erase("text");
  activity.erase("textFormat");
  activity["type"] = "typing";
  activity["id"] = "1712297699000";
  return activity;
}

json reaction() {
  json activity = thread_reply();
  activity.erase("text");
  activity.erase("textFormat");
  activity["type"] = "messageReaction";
  activity["id"] = "f:9f78d1f3-0a1b-4c2d-8e3f-4a5b6c7d8e9f";
  activity["reactionsAdded"] = json::array({json{{"type", "like"}}});
  activity["replyToId"] = "1712297350000";
  return activity;
}

json from_bot() {
  json activity = channel_post();
  activity["from"] = json{{"id", kBotId}, {"name", "Haveri"}};
  return activity;
}

// ---------------------------------------------------------------------------------------
// What the host requires of an event (docs/plugin-abi.md, "Inbound events";
// daemon/src/incident_service.cpp parse_inbound_event).

::testing::AssertionResult valid_event(const json& event) {
  const auto fail = [&](const std::string& why) {
    return ::testing::AssertionFailure()
           << why << " in " << event.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  const auto non_empty_string = [](const json& object, const char* key) {
    return object.is_object() && object.contains(key) && object[key].is_string() &&
           !object[key].get<std::string>().empty();
  };
  if (!event.is_object()) {
    return fail("not an object");
  }
  try {
    (void)event.dump();  // throws on a string that is not UTF-8
  } catch (const json::exception& error) {
    return fail(error.what());
  }
  if (!event.contains("v") || event["v"] != 1) {
    return fail("v is not 1");
  }
  static const std::set<std::string> known_types{"command",         "message",
                                                 "message_changed", "message_deleted",
                                                 "form_submission", "member_joined"};
  if (!event.contains("type") || !event["type"].is_string() ||
      known_types.count(event["type"].get<std::string>()) == 0) {
    return fail("unknown type");
  }
  const std::string type = event["type"];
  if (!non_empty_string(event, "idempotency_key") ||
      event["idempotency_key"].get<std::string>().size() > 512) {
    return fail("idempotency_key is not 1-512 bytes");
  }
  if (!non_empty_string(event, "installation")) {
    return fail("no installation");
  }
  for (const char* who : {"channel", "user"}) {
    if (!event.contains(who) || !non_empty_string(event[who], "id")) {
      return fail(std::string("no ") + who + ".id");
    }
    if (event[who].contains("name") && !non_empty_string(event[who], "name")) {
      return fail(std::string(who) + ".name is not a name");
    }
  }
  if ((type == "command" || type == "message_changed" ||
       (type == "message" && !event.contains("files"))) &&
      !(event.contains("text") && event["text"].is_string())) {
    return fail("no text");
  }
  if (type == "command" && event["text"].get<std::string>().empty()) {
    return fail("an empty command");
  }
  if ((type == "message_changed" || type == "message_deleted") &&
      !non_empty_string(event, "message_id")) {
    return fail("no message_id");
  }
  if (type == "form_submission") {
    if (!non_empty_string(event, "form_id") || !event.contains("values") ||
        !event["values"].is_object() || event["values"].size() > 50) {
      return fail("no form_id or values");
    }
    for (const auto& [name, value] : event["values"].items()) {
      if (!value.is_string()) {
        return fail("value " + name + " is not a string");
      }
    }
  }
  if (event.contains("files")) {
    if (!event["files"].is_array() || event["files"].size() > 20) {
      return fail("files is not an array of at most 20");
    }
    for (const json& file : event["files"]) {
      if (!non_empty_string(file, "name")) {
        return fail("a file without a name");
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Translates and checks what every translation must satisfy.
ActivityTranslation translated(const json& activity) {
  ActivityTranslation out;
  EXPECT_NO_THROW(out = translate_activity(activity, haveri_bot));
  for (const json& event : out.events) {
    EXPECT_TRUE(valid_event(event));
  }
  if (out.events.empty()) {
    EXPECT_FALSE(out.ignored_because.empty()) << activity.dump();
  } else {
    EXPECT_TRUE(out.ignored_because.empty()) << out.ignored_because;
    EXPECT_FALSE(out.malformed);
  }
  return out;
}

json only_event(const json& activity) {
  const ActivityTranslation out = translated(activity);
  EXPECT_FALSE(out.malformed) << out.ignored_because;
  EXPECT_EQ(out.events.size(), 1u) << out.ignored_because;
  return out.events.empty() ? json::object() : out.events.front();
}

// ---------------------------------------------------------------------------------------
// Fixtures as Teams sends them

TEST(ActivityTranslation, ChannelMentionOfTheBotIsACommand) {
  const json event = only_event(channel_mention());
  EXPECT_EQ(event["v"], 1);
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "declare Pump 3 down sev2");
  EXPECT_EQ(event["installation"], kTenant);
  EXPECT_EQ(event["channel"], (json{{"id", kChannel}, {"name", "Line 3"}}));
  EXPECT_EQ(event["user"], (json{{"id", kAinoAad}, {"name", "Aino Virtanen"}}));
  EXPECT_EQ(event["message_id"], kRootId);
  EXPECT_EQ(event["idempotency_key"], std::string("teams:") + kRootConversation + ":" + kRootId);
  EXPECT_FALSE(event.contains("thread_id"));
}

TEST(ActivityTranslation, ChannelMentionFillsTheConversationRef) {
  const ActivityTranslation out = translated(channel_mention());
  EXPECT_EQ(out.conversation.service_url, kServiceUrl);
  EXPECT_EQ(out.conversation.tenant_id, kTenant);
  EXPECT_EQ(out.conversation.team_id, kTeamId);
  EXPECT_EQ(out.conversation.team_aad_group_id, kTeamGroupId);
  EXPECT_EQ(out.conversation.conversation_id, kRootConversation);
  EXPECT_EQ(out.conversation.conversation_type, "channel");
  EXPECT_FALSE(out.is_card_action_invoke);
  EXPECT_FALSE(out.bot_installed);
}

TEST(ActivityTranslation, ThreadReplyIsAMessageInTheRootsThread) {
  const json event = only_event(thread_reply());
  EXPECT_EQ(event["type"], "message");
  EXPECT_EQ(event["text"], "Bypass valve opened, pressure back at 4.1 bar");
  EXPECT_EQ(event["channel"], (json{{"id", kChannel}}));  // no name: Teams sent none
  EXPECT_EQ(event["user"],
            (json{{"id", "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b"}, {"name", "Mikko Korhonen"}}));
  EXPECT_EQ(event["message_id"], "1712297312456");
  EXPECT_EQ(event["thread_id"], kRootId);
  EXPECT_EQ(event["idempotency_key"], std::string("teams:") + kRootConversation + ":1712297312456");
  EXPECT_FALSE(event.contains("files"));
}

TEST(ActivityTranslation, TopLevelChannelPostHasNoThread) {
  const json event = only_event(channel_post());
  EXPECT_EQ(event["type"], "message");
  EXPECT_EQ(event["channel"]["id"], kChannel);
  EXPECT_EQ(event["message_id"], "1712297500777");
  EXPECT_FALSE(event.contains("thread_id"));
}

TEST(ActivityTranslation, PersonalChatTextIsACommandWithoutMention) {
  const ActivityTranslation out = translated(personal_command());
  ASSERT_EQ(out.events.size(), 1u);
  const json& event = out.events.front();
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "status mitigated");
  EXPECT_EQ(event["channel"], (json{{"id", kPersonalChat}}));
  EXPECT_EQ(event["user"]["id"], kAinoAad);
  EXPECT_EQ(event["message_id"], "1712297700100");
  EXPECT_EQ(event["idempotency_key"], std::string("teams:") + kPersonalChat + ":1712297700100");
  EXPECT_EQ(out.conversation.conversation_type, "personal");
  EXPECT_EQ(out.conversation.conversation_id, kPersonalChat);
  EXPECT_EQ(out.conversation.team_id, "");
  EXPECT_EQ(out.conversation.team_aad_group_id, "");
}

TEST(ActivityTranslation, GroupChatMentionIsACommandAndOtherTalkIsAMessage) {
  const ActivityTranslation mention = translated(group_chat("<at>Haveri</at> ack", true));
  ASSERT_EQ(mention.events.size(), 1u);
  EXPECT_EQ(mention.events[0]["type"], "command");
  EXPECT_EQ(mention.events[0]["text"], "ack");
  EXPECT_EQ(mention.events[0]["channel"]["id"], kGroupChat);
  EXPECT_EQ(mention.conversation.conversation_type, "groupChat");

  const json talk = only_event(group_chat("who has the spare seal kit?", false));
  EXPECT_EQ(talk["type"], "message");
  EXPECT_EQ(talk["text"], "who has the spare seal kit?");
  EXPECT_EQ(talk["channel"]["id"], kGroupChat);
  EXPECT_FALSE(talk.contains("thread_id"));
}

TEST(ActivityTranslation, PersonalChatFilesAreReferencesWithoutCredentials) {
  // A personal chat makes this a command; the same attachments in a group chat are files.
  json activity = personal_files();
  activity["conversation"] = {{"isGroup", true},
                              {"conversationType", "groupChat"},
                              {"tenantId", kTenant},
                              {"id", kGroupChat}};
  const json event = only_event(activity);
  EXPECT_EQ(event["type"], "message");
  EXPECT_EQ(event["text"], "PLC log and a photo of the seal");
  ASSERT_EQ(event["files"].size(), 2u) << event.dump();  // the text/html copy is no file
  EXPECT_EQ(event["files"][0],
            (json{{"id", "2f4e6a8c-0b1d-4f3e-9a5c-7e9b1d3f5a70"},
                  {"name", "pump3-plc.pdf"},
                  {"url",
                   "https://plantaoy-my.sharepoint.com/personal/aino_virtanen_plantaoy_fi/"
                   "Documents/Microsoft Teams Chat Files/pump3-plc.pdf"},
                  {"mimetype", "application/pdf"}}));
  const std::string image =
      "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d3-5c1e7f0a2b4d6e8f/views/"
      "original";
  EXPECT_EQ(event["files"][1]["id"], image);
  EXPECT_EQ(event["files"][1]["url"], image);
  EXPECT_EQ(event["files"][1]["name"], "image");
  EXPECT_FALSE(event["files"][1].contains("mimetype")) << "image/* is no media type";
  EXPECT_EQ(event.dump().find("tempauth"), std::string::npos);
}

TEST(ActivityTranslation, DownloadUrlOnlyWithoutContentUrlAndWithoutToken) {
  json activity = group_chat("", false);
  activity["attachments"] = json::parse(R"([
    {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "a.txt",
     "content": {"downloadUrl": "https://x.sharepoint.com/download.aspx?UniqueId=1&tempauth=abc",
                 "uniqueId": "u-1", "fileType": "txt"}},
    {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "b.png",
     "content": {"downloadUrl": "https://x.sharepoint.com/:i:/g/personal/aino/EYppPe",
                 "uniqueId": "u-2", "fileType": "png"}},
    {"contentType": "application/vnd.microsoft.teams.file.download.info",
     "content": {"downloadUrl": "https://x.sharepoint.com/d.aspx?tempauth=def"}},
    {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": "https://card",
     "content": {"type": "AdaptiveCard"}}
  ])");
  const json event = only_event(activity);
  EXPECT_EQ(event["text"], "");
  ASSERT_EQ(event["files"].size(), 2u) << event.dump();
  EXPECT_EQ(event["files"][0],
            (json{{"id", "u-1"}, {"name", "a.txt"}, {"mimetype", "text/plain"}}));
  EXPECT_EQ(event["files"][1], (json{{"id", "u-2"},
                                     {"name", "b.png"},
                                     {"url", "https://x.sharepoint.com/:i:/g/personal/aino/EYppPe"},
                                     {"mimetype", "image/png"}}));
}

TEST(ActivityTranslation, ChannelFileReferenceIsAFile) {
  json activity = channel_post();
  activity["text"] = "<p>Vibration trend attached</p>";
  activity["attachments"] = json::array(
      {json{{"contentType", "reference"},
            {"contentUrl",
             "https://plantaoy.sharepoint.com/sites/PlantAOperations/Shared Documents/Line 3/"
             "vibration.xlsx"},
            {"name", "vibration.xlsx"}}});
  const json event = only_event(activity);
  EXPECT_EQ(event["text"], "Vibration trend attached");
  ASSERT_EQ(event["files"].size(), 1u);
  EXPECT_EQ(event["files"][0]["name"], "vibration.xlsx");
  EXPECT_FALSE(event["files"][0].contains("mimetype")) << "\"reference\" is no media type";
}

TEST(ActivityTranslation, HtmlTextBecomesPlainText) {
  const json event = only_event(html_message());
  EXPECT_EQ(event["type"], "message");
  EXPECT_EQ(event["text"],
            "Pressure & flow readings:\nP1 = 4.1 bar\nP2 = 3.9 bar\n<checked> by night shift "
            "\xE2\x80\x94 ok\xE2\x9C\x85");
  EXPECT_FALSE(event.contains("files"));
}

TEST(ActivityTranslation, ActionSubmitCommand) {
  const ActivityTranslation out =
      translated(submit(json{{"haveri_action", "command"}, {"command", "ack"}}));
  ASSERT_EQ(out.events.size(), 1u);
  const json& event = out.events.front();
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "ack");
  EXPECT_EQ(event["channel"]["id"], kChannel);
  EXPECT_EQ(event["user"]["id"], kAinoAad);
  EXPECT_EQ(event["message_id"], "1712297350000");
  EXPECT_EQ(event["idempotency_key"],
            std::string("teams:") + kChannel + ";messageid=1712297350000:1712298600000");
  EXPECT_FALSE(out.is_card_action_invoke);
  EXPECT_EQ(out.replied_to_activity, "1712297350000");
}

TEST(ActivityTranslation, ActionSubmitForm) {
  const json event = only_event(submit(json::parse(R"({
    "haveri_action": "form", "form_id": "resolve:7", "haveri_version": 2,
    "what_happened": "Pump 3 bearing failed", "units_lost": 120, "downtime_h": 1.5,
    "customer_impact": false, "nested": {"a": 1}, "list": [1], "nothing": null
  })")));
  EXPECT_EQ(event["type"], "form_submission");
  EXPECT_EQ(event["form_id"], "resolve:7");
  EXPECT_EQ(event["values"], (json{{"what_happened", "Pump 3 bearing failed"},
                                   {"units_lost", "120"},
                                   {"downtime_h", "1.5"},
                                   {"customer_impact", "false"}}));
  EXPECT_EQ(event["message_id"], "1712297350000");
  EXPECT_EQ(event["user"]["name"], "Aino Virtanen");
}

TEST(ActivityTranslation, ActionSubmitOfAnotherCardIsIgnored) {
  const ActivityTranslation out = translated(submit(json{{"choice", "yes"}}));
  EXPECT_TRUE(out.events.empty());
  EXPECT_FALSE(out.malformed);
  const ActivityTranslation no_command =
      translated(submit(json{{"haveri_action", "command"}, {"command", "  "}}));
  EXPECT_TRUE(no_command.events.empty());
  const ActivityTranslation no_form = translated(submit(json{{"haveri_action", "form"}}));
  EXPECT_TRUE(no_form.events.empty());
}

TEST(ActivityTranslation, ExecuteInvokeCommand) {
  const json data{{"haveri_action", "command"}, {"command", "status mitigated"}};
  const ActivityTranslation out = translated(execute("haveri.command", data));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_TRUE(out.is_card_action_invoke);
  EXPECT_EQ(out.card_action_verb, "haveri.command");
  EXPECT_EQ(out.card_action_data, data);
  EXPECT_EQ(out.replied_to_activity, "1712297350000");
  const json& event = out.events.front();
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "status mitigated");
  EXPECT_EQ(event["channel"]["id"], kChannel);
  EXPECT_EQ(event["idempotency_key"], std::string("teams:") + kChannel +
                                          ";messageid=1712297350000:"
                                          "f:4d1e6b0c-2a79-9c4f-0a5e-7d3b1f8e2c66");
}

TEST(ActivityTranslation, ExecuteInvokeForm) {
  const json data = json::parse(R"({"haveri_action": "form", "form_id": "triage:12",
                                    "severity": "sev2", "area": "Line 3"})");
  const ActivityTranslation out = translated(execute("haveri.form", data));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_TRUE(out.is_card_action_invoke);
  EXPECT_EQ(out.card_action_verb, "haveri.form");
  const json& event = out.events.front();
  EXPECT_EQ(event["type"], "form_submission");
  EXPECT_EQ(event["form_id"], "triage:12");
  EXPECT_EQ(event["values"], (json{{"severity", "sev2"}, {"area", "Line 3"}}));
  EXPECT_EQ(event["message_id"], "1712297350000");
}

TEST(ActivityTranslation, ExecuteVerbStandsInForAMissingHaveriAction) {
  const ActivityTranslation out = translated(execute("haveri.command", json{{"command", "ack"}}));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0]["text"], "ack");
}

TEST(ActivityTranslation, ExecuteAutomaticRefreshIsNoAction) {
  json activity = execute("haveri.command", json{{"haveri_action", "command"}, {"command", "ack"}});
  activity["value"]["trigger"] = "automatic";
  const ActivityTranslation out = translated(activity);
  EXPECT_TRUE(out.events.empty());
  EXPECT_TRUE(out.is_card_action_invoke);  // still answered with a card
  EXPECT_FALSE(out.malformed);
}

TEST(ActivityTranslation, OtherInvokesAreIgnored) {
  json activity = execute("x", json::object());
  activity["name"] = "composeExtension/query";
  const ActivityTranslation out = translated(activity);
  EXPECT_TRUE(out.events.empty());
  EXPECT_FALSE(out.is_card_action_invoke);
  EXPECT_FALSE(out.malformed);
}

TEST(ActivityTranslation, EditIsMessageChangedKeyedByTimestamp) {
  const json first = only_event(
      edit("Bypass valve opened, pressure back at 4.2 bar", "2024-04-05T06:09:12.3456789Z"));
  EXPECT_EQ(first["type"], "message_changed");
  EXPECT_EQ(first["message_id"], "1712297312456");
  EXPECT_EQ(first["text"], "Bypass valve opened, pressure back at 4.2 bar");
  EXPECT_EQ(first["channel"]["id"], kChannel);
  EXPECT_EQ(first["user"]["id"], kAinoAad);
  EXPECT_EQ(first["idempotency_key"], std::string("teams:edit:") + kRootConversation +
                                          ":1712297312456:2024-04-05T06:09:12.3456789Z");
  // The same edit delivered again keeps its key; a second edit has its own.
  EXPECT_EQ(only_event(edit("Bypass valve opened, pressure back at 4.2 bar",
                            "2024-04-05T06:09:12.3456789Z"))["idempotency_key"],
            first["idempotency_key"]);
  EXPECT_NE(only_event(edit("pressure 4.3 bar", "2024-04-05T06:11:00.0000001Z"))["idempotency_key"],
            first["idempotency_key"]);
}

TEST(ActivityTranslation, EditWithoutTimestampIsKeyedByItsText) {
  json a = edit("pressure 4.3 bar", "");
  a.erase("timestamp");
  json b = a;
  b["text"] = "pressure 4.4 bar";
  const json first = only_event(a);
  EXPECT_EQ(only_event(a)["idempotency_key"], first["idempotency_key"]);
  EXPECT_NE(only_event(b)["idempotency_key"], first["idempotency_key"]);
}

TEST(ActivityTranslation, UndeleteAndOtherUpdatesAreNotEdits) {
  json undelete = edit("restored text", "2024-04-05T06:50:00.000Z");
  undelete["channelData"]["eventType"] = "undeleteMessage";
  EXPECT_TRUE(translated(undelete).events.empty());
  json no_text = edit("", "2024-04-05T06:50:00.000Z");
  no_text.erase("text");
  EXPECT_TRUE(translated(no_text).events.empty());
  json no_event_type = edit("plain edit", "2024-04-05T06:51:00.000Z");
  no_event_type["channelData"].erase("eventType");
  EXPECT_EQ(only_event(no_event_type)["type"], "message_changed");
}

TEST(ActivityTranslation, SoftDeleteIsMessageDeleted) {
  const json event = only_event(soft_delete());
  EXPECT_EQ(event["type"], "message_deleted");
  EXPECT_EQ(event["message_id"], "1712297312456");
  EXPECT_EQ(event["channel"]["id"], kChannel);
  EXPECT_EQ(event["user"]["id"], kAinoAad);
  EXPECT_EQ(event["idempotency_key"],
            std::string("teams:delete:") + kRootConversation + ":1712297312456");
  json hard = soft_delete();
  hard["channelData"]["eventType"] = "somethingElse";
  EXPECT_TRUE(translated(hard).events.empty());
}

TEST(ActivityTranslation, BotAddedToATeamIsAnInstallWithoutEvents) {
  const ActivityTranslation out = translated(bot_added_to_team());
  EXPECT_TRUE(out.bot_installed);
  EXPECT_TRUE(out.events.empty());
  EXPECT_FALSE(out.malformed);
  EXPECT_EQ(out.conversation.service_url, kServiceUrl);
  EXPECT_EQ(out.conversation.tenant_id, kTenant);
  EXPECT_EQ(out.conversation.team_id, kTeamId);
  EXPECT_EQ(out.conversation.team_aad_group_id, kTeamGroupId);
  EXPECT_EQ(out.conversation.conversation_id, kChannel);
  EXPECT_EQ(out.conversation.conversation_type, "channel");
}

TEST(ActivityTranslation, BotIdIsComparedWithoutCase) {
  json activity = bot_added_to_team();
  activity["membersAdded"][0]["id"] = "28:3F2A6C1E-8B7D-4E59-A0C4-5D1E9B2F7A60";
  EXPECT_TRUE(translated(activity).bot_installed);
}

TEST(ActivityTranslation, TwoPeopleAddedAreTwoJoins) {
  const ActivityTranslation out = translated(people_added_to_team());
  EXPECT_FALSE(out.bot_installed);
  ASSERT_EQ(out.events.size(), 2u);
  const std::string activity_id = "f:7c1a9e3d-5b2f-4a8c-9d0e-1f2a3b4c5d6e";
  EXPECT_EQ(out.events[0]["type"], "member_joined");
  EXPECT_EQ(out.events[0]["user"], (json{{"id", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"}}));
  EXPECT_EQ(out.events[0]["channel"], (json{{"id", kTeamId}}));
  EXPECT_EQ(out.events[0]["installation"], kTenant);
  EXPECT_EQ(
      out.events[0]["idempotency_key"],
      "teams:join:" + activity_id +
          ":29:1pQ2rS3tU4vW5xY6zA7bC8dE9fG0hI1jK2lM3nO4pQ5rS6tU7vW8xY9zA0bC1dE2fG3hI4jK5lM6n");
  // Without an aadObjectId the Teams id is all there is.
  const std::string second =
      "29:1hI2jK3lM4nO5pQ6rS7tU8vW9xY0zA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1vW2xY3zA4bC5dE6f";
  EXPECT_EQ(out.events[1]["user"], (json{{"id", second}}));
  EXPECT_EQ(out.events[1]["idempotency_key"], "teams:join:" + activity_id + ":" + second);
}

TEST(ActivityTranslation, PersonalInstallIsAnInstallAndThePersonsJoin) {
  const ActivityTranslation out = translated(personal_install());
  EXPECT_TRUE(out.bot_installed);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0]["type"], "member_joined");
  EXPECT_EQ(out.events[0]["user"]["id"], kAinoAad);
  EXPECT_EQ(out.events[0]["channel"]["id"], kPersonalChat);
  EXPECT_EQ(out.conversation.conversation_type, "personal");
}

TEST(ActivityTranslation, InstallationUpdateTypingAndReactionsProduceNothing) {
  for (const json& activity : {installation_update(), typing(), reaction()}) {
    const ActivityTranslation out = translated(activity);
    EXPECT_TRUE(out.events.empty()) << activity["type"];
    EXPECT_FALSE(out.malformed) << activity["type"];
    EXPECT_FALSE(out.bot_installed) << activity["type"];
    EXPECT_NE(out.ignored_because.find(activity["type"].get<std::string>()), std::string::npos)
        << out.ignored_because;
    EXPECT_EQ(out.conversation.tenant_id, kTenant);
  }
}

TEST(ActivityTranslation, TheBotsOwnActivitiesAreIgnored) {
  const ActivityTranslation out = translated(from_bot());
  EXPECT_TRUE(out.events.empty());
  EXPECT_FALSE(out.malformed);
  EXPECT_EQ(out.conversation.conversation_type, "channel");  // still known for replies
}

TEST(ActivityTranslation, TenantFromConversationWhenChannelDataHasNone) {
  json activity = personal_command();
  activity.erase("channelData");
  EXPECT_EQ(only_event(activity)["installation"], kTenant);
  activity["conversation"].erase("tenantId");
  EXPECT_TRUE(translated(activity).malformed);
}

TEST(ActivityTranslation, KeyOver512BytesBecomesItsSha256) {
  json activity = personal_command();
  activity["id"] = kRootId;
  // "teams:" + conversation id + ":" + activity id: 512 bytes stay, 513 are hashed.
  activity["conversation"]["id"] = "a:1" + std::string(489, 'x');
  const json kept = only_event(activity);
  EXPECT_EQ(kept["idempotency_key"].get<std::string>().size(), 512u);
  EXPECT_EQ(kept["idempotency_key"], "teams:a:1" + std::string(489, 'x') + ":" + kRootId);

  activity["conversation"]["id"] = "a:1" + std::string(600, 'x');
  const json hashed = only_event(activity);
  // sha256("teams:a:1" + 600 * "x" + ":1712297278901"), computed with Python's hashlib.
  EXPECT_EQ(hashed["idempotency_key"],
            "teams:sha256:a953d42fb11de512cfb82dcc5745b94477c373a6cd12c908e342f5e29534e407");
  EXPECT_EQ(hashed["channel"]["id"], "a:1" + std::string(600, 'x'));
}

TEST(ActivityTranslation, ConversationTypeIsInferredForOlderPayloads) {
  json channel = thread_reply();
  channel["conversation"].erase("conversationType");
  channel["conversation"].erase("isGroup");
  EXPECT_EQ(translated(channel).conversation.conversation_type, "channel");
  json group = group_chat("hello", false);
  group["conversation"].erase("conversationType");
  EXPECT_EQ(translated(group).conversation.conversation_type, "groupChat");
  json personal = personal_command();
  personal["conversation"].erase("conversationType");
  const ActivityTranslation out = translated(personal);
  EXPECT_EQ(out.conversation.conversation_type, "personal");
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0]["type"], "command");
}

// ---------------------------------------------------------------------------------------
// command_text

json channel_text(std::string text, json mentions) {
  json activity = channel_mention();
  activity["text"] = std::move(text);
  activity["entities"] = std::move(mentions);
  return activity;
}

json bot_mention(std::string text = "<at>Haveri</at>") {
  return json{{"type", "mention"},
              {"text", std::move(text)},
              {"mentioned", {{"id", kBotId}, {"name", "Haveri"}}}};
}

json person_mention(std::string name, std::string text) {
  return json{{"type", "mention"},
              {"text", std::move(text)},
              {"mentioned", {{"id", kAinoMri}, {"name", std::move(name)}}}};
}

TEST(CommandText, MentionFirst) {
  EXPECT_EQ(command_text(channel_mention(), haveri_bot), "declare Pump 3 down sev2");
}

TEST(CommandText, WhatPrecedesTheMentionIsForPeople) {
  EXPECT_EQ(command_text(channel_text("Morning all, <at>Haveri</at> status investigating",
                                      json::array({bot_mention()})),
                         haveri_bot),
            "status investigating");
}

TEST(CommandText, TwoMentions) {
  const json aino_mention = person_mention("Aino", "<at>Aino</at>");
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> lead <at>Aino</at>",
                                      json::array({bot_mention(), aino_mention})),
                         haveri_bot),
            std::string("lead <@") + kAinoMri + "|Aino>");
  EXPECT_EQ(command_text(channel_text("<at>Aino</at> please <at>Haveri</at> ack",
                                      json::array({aino_mention, bot_mention()})),
                         haveri_bot),
            "ack");
  // The bot twice: the command follows the first.
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> note ask <at>Haveri</at> later",
                                      json::array({bot_mention(), bot_mention()})),
                         haveri_bot),
            "note ask Haveri later");
}

TEST(CommandText, PersonNamedLikeTheBotIsPairedByOrder) {
  json haveri_person = person_mention("Haveri", "<at>Haveri</at>");
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> hi, <at>Haveri</at> ack",
                                      json::array({haveri_person, bot_mention()})),
                         haveri_bot),
            "ack");
}

TEST(CommandText, MentionOfSomeoneElseOnlyIsNoCommand) {
  EXPECT_EQ(command_text(channel_text("<at>Aino</at> can you check pump 3?",
                                      json::array({person_mention("Aino", "<at>Aino</at>")})),
                         haveri_bot),
            std::nullopt);
  json group = group_chat("<at>Aino</at> ack", false);
  group["entities"] = json::array({person_mention("Aino", "<at>Aino</at>")});
  EXPECT_EQ(command_text(group, haveri_bot), std::nullopt);
}

TEST(CommandText, IncidentWordInAnyCase) {
  for (const char* text : {"<at>Haveri</at> incident ack", "<at>Haveri</at> INCIDENT ack",
                           "<at>Haveri</at> Incident\tack", "<at>Haveri</at>&nbsp;InCiDeNt ack"}) {
    EXPECT_EQ(command_text(channel_text(text, json::array({bot_mention()})), haveri_bot), "ack")
        << text;
  }
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> incidents", json::array({bot_mention()})),
                         haveri_bot),
            "incidents");
}

TEST(CommandText, EmptyIsHelp) {
  for (const char* text : {"<at>Haveri</at>", "<at>Haveri</at> ", "<at>Haveri</at> incident",
                           "<at>Haveri</at>&nbsp;<br>", "<p><at>Haveri</at></p>"}) {
    EXPECT_EQ(command_text(channel_text(text, json::array({bot_mention()})), haveri_bot), "help")
        << text;
  }
  json personal = personal_command();
  personal["text"] = "  ";
  EXPECT_EQ(command_text(personal, haveri_bot), "help");
}

TEST(CommandText, PersonalChatWithoutMention) {
  EXPECT_EQ(command_text(personal_command(), haveri_bot), "status mitigated");
  json html = personal_command();
  html["text"] = "<p>declare Conveyor&nbsp;2 stopped sev1</p>";
  EXPECT_EQ(command_text(html, haveri_bot), "declare Conveyor 2 stopped sev1");
  json mentioned = personal_command();
  mentioned["text"] = "<at>Haveri</at> timeline";
  mentioned["entities"] = json::array({bot_mention()});
  EXPECT_EQ(command_text(mentioned, haveri_bot), "timeline");
}

TEST(CommandText, EntitiesAbsentTakeTheFirstAtElement) {
  json activity = channel_mention();
  activity.erase("entities");
  EXPECT_EQ(command_text(activity, haveri_bot), "declare Pump 3 down sev2");
  activity["entities"] = "not an array";
  EXPECT_EQ(command_text(activity, haveri_bot), "declare Pump 3 down sev2");
  activity["text"] = "no mention at all";
  EXPECT_EQ(command_text(activity, haveri_bot), std::nullopt);
}

TEST(CommandText, OldClientsEntityTextWithAtSign) {
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> status resolved",
                                      json::array({bot_mention("<at>@Haveri</at>")})),
                         haveri_bot),
            "status resolved");
}

TEST(CommandText, ABotNameWithSpacesIsSplitIntoElements) {
  json first = bot_mention("<at>Haveri</at>");
  json second = bot_mention("<at>Incidents</at>");
  second["mentioned"]["name"] = "Incidents";
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at>&nbsp;<at>Incidents</at> sev sev1",
                                      json::array({first, second})),
                         haveri_bot),
            "sev sev1");
}

TEST(CommandText, BotIdInAnotherCase) {
  json mention = bot_mention();
  mention["mentioned"]["id"] = "28:3F2A6C1E-8B7D-4E59-A0C4-5D1E9B2F7A60";
  EXPECT_EQ(command_text(channel_text("<at>Haveri</at> ack", json::array({mention})), haveri_bot),
            "ack");
}

TEST(CommandText, BotEntityWithoutElementTakesTheWholeText) {
  EXPECT_EQ(command_text(channel_text("Haveri ack", json::array({bot_mention("<at>X</at>")})),
                         haveri_bot),
            "Haveri ack");
}

TEST(CommandText, AnotherBotIsNotUs) {
  const BotIdentity other{"00000000-0000-0000-0000-000000000000"};
  EXPECT_EQ(command_text(channel_mention(), other), std::nullopt);
}

// ---------------------------------------------------------------------------------------
// Mentions of people in commands

constexpr const char* kMikkoMri = "29:9zY8xW7vU6tS5rQ4pO3nM2lK1jI0hG-mikko";
constexpr const char* kNbsp = "\xC2\xA0";  // spaces inside a written name

json mention_of(std::string id, json name, std::string text) {
  json mentioned{{"id", std::move(id)}};
  if (!name.is_null()) {
    mentioned["name"] = std::move(name);
  }
  return json{{"type", "mention"}, {"text", std::move(text)}, {"mentioned", std::move(mentioned)}};
}

std::string person(const std::string& id, const std::string& name) {
  return "<@" + id + (name.empty() ? "" : "|" + name) + ">";
}

const std::string aino_virtanen = std::string("Aino") + kNbsp + "Virtanen";

TEST(CommandTextMention, SplitNameIsOneMention) {
  // Teams today: one element and one entity per word, each entity with the whole name.
  const json whole_name =
      json::array({bot_mention(), mention_of(kAinoMri, "Aino Virtanen", "<at>Aino</at>"),
                   mention_of(kAinoMri, "Aino Virtanen", "<at>Virtanen</at>")});
  for (const char* text : {"<at>Haveri</at> lead <at>Aino</at> <at>Virtanen</at>",
                           "<at>Haveri</at> lead <at>Aino</at>&nbsp;<at>Virtanen</at>",
                           "<at>Haveri</at> lead <at>Aino</at><at>Virtanen</at>"}) {
    EXPECT_EQ(command_text(channel_text(text, whole_name), haveri_bot),
              "lead " + person(kAinoMri, aino_virtanen))
        << text;
  }
  // Entities naming only their word, or nothing: the words are joined.
  const json word_names = json::array({bot_mention(), mention_of(kAinoMri, "Aino", "<at>Aino</at>"),
                                       mention_of(kAinoMri, "Virtanen", "<at>Virtanen</at>")});
  const json no_names = json::array({bot_mention(), mention_of(kAinoMri, nullptr, "<at>Aino</at>"),
                                     mention_of(kAinoMri, nullptr, "<at>Virtanen</at>")});
  for (const json& entities : {word_names, no_names}) {
    EXPECT_EQ(command_text(
                  channel_text("<at>Haveri</at> comms <at>Aino</at> <at>Virtanen</at> ", entities),
                  haveri_bot),
              "comms " + person(kAinoMri, aino_virtanen));
  }
}

TEST(CommandTextMention, OnlyAdjacentMentionsOfOneIdMerge) {
  const json entities = json::array({bot_mention(), mention_of(kAinoMri, "Aino", "<at>Aino</at>"),
                                     mention_of(kMikkoMri, "Mikko", "<at>Mikko</at>"),
                                     mention_of(kAinoMri, "Aino", "<at>Aino</at>")});
  EXPECT_EQ(
      command_text(channel_text("<at>Haveri</at> note <at>Aino</at> <at>Mikko</at>, <at>Aino</at>",
                                entities),
                   haveri_bot),
      "note " + person(kAinoMri, "Aino") + " " + person(kMikkoMri, "Mikko") + ", " +
          person(kAinoMri, "Aino"));
}

TEST(CommandTextMention, SingleWordMention) {
  EXPECT_EQ(command_text(
                channel_text("<at>Haveri</at> incident lead <at>Aino</at>",
                             json::array({bot_mention(), person_mention("Aino", "<at>Aino</at>")})),
                haveri_bot),
            "lead " + person(kAinoMri, "Aino"));
}

TEST(CommandTextMention, TheBotsMentionIsStillStripped) {
  // Its own split name too, and a person right after it.
  json first = bot_mention("<at>Haveri</at>");
  json second = bot_mention("<at>Incidents</at>");
  second["mentioned"]["name"] = "Haveri Incidents";
  first["mentioned"]["name"] = "Haveri Incidents";
  EXPECT_EQ(command_text(
                channel_text("<at>Haveri</at> <at>Incidents</at> <at>Aino</at>",
                             json::array({first, second, person_mention("Aino", "<at>Aino</at>")})),
                haveri_bot),
            person(kAinoMri, "Aino"));
}

TEST(CommandTextMention, WhatPrecedesTheBotsMentionIsForPeople) {
  const json activity =
      channel_text("<at>Aino</at> please <at>Haveri</at> lead <at>Mikko</at>",
                   json::array({person_mention("Aino", "<at>Aino</at>"), bot_mention(),
                                mention_of(kMikkoMri, "Mikko Korhonen", "<at>Mikko</at>")}));
  EXPECT_EQ(command_text(activity, haveri_bot),
            "lead " + person(kMikkoMri, std::string("Mikko") + kNbsp + "Korhonen"));
  EXPECT_EQ(translated(activity).mentioned_user_ids, std::vector<std::string>{kMikkoMri});
}

TEST(CommandTextMention, NamesLoseWhatTheGrammarCannotRead) {
  const auto command_for = [](const char* name) {
    return command_text(
        channel_text("<at>Haveri</at> lead <at>Aino</at>",
                     json::array({bot_mention(), person_mention(name, "<at>Aino</at>")})),
        haveri_bot);
  };
  EXPECT_EQ(command_for("Aino | Ops >"),
            "lead " + person(kAinoMri, std::string("Aino") + kNbsp + "Ops"));
  EXPECT_EQ(command_for("R&D <Lead>"),
            "lead " + person(kAinoMri, std::string("R&D") + kNbsp + "Lead"));
  EXPECT_EQ(command_for("|>"), "lead " + person(kAinoMri, ""));
  EXPECT_EQ(command_for(" Aino\t\nVirtanen "), "lead " + person(kAinoMri, aino_virtanen));
  EXPECT_EQ(command_for(std::string(300, 'a').c_str()),
            "lead " + person(kAinoMri, std::string(200, 'a')));
  // Inner texts as the name: entities decoded, then the same rules.
  EXPECT_EQ(
      command_text(channel_text("<at>Haveri</at> lead <at>A&amp;B|C&gt;</at>",
                                json::array({bot_mention(), mention_of(kAinoMri, nullptr,
                                                                       "<at>A&amp;B|C&gt;</at>")})),
                   haveri_bot),
      "lead " + person(kAinoMri, "A&BC"));
}

TEST(CommandTextMention, UnpairedMentionsStayPlainText) {
  // No entities: the first <at> is the bot, the others are their inner text.
  json activity = channel_text("<at>Haveri</at> lead <at>Aino</at>", json::array());
  activity.erase("entities");
  EXPECT_EQ(command_text(activity, haveri_bot), "lead Aino");
  EXPECT_TRUE(translated(activity).mentioned_user_ids.empty());
  // An entity without an id, or for another name, or with an id the grammar cannot hold.
  for (const json& aino :
       {json{{"type", "mention"}, {"text", "<at>Aino</at>"}, {"mentioned", {{"name", "Aino"}}}},
        person_mention("Mikko", "<at>Mikko</at>"), mention_of("29:a b", "Aino", "<at>Aino</at>"),
        mention_of("29:a|b", "Aino", "<at>Aino</at>")}) {
    EXPECT_EQ(command_text(channel_text("<at>Haveri</at> lead <at>Aino</at>",
                                        json::array({bot_mention(), aino})),
                           haveri_bot),
              "lead Aino")
        << aino.dump();
  }
}

TEST(CommandTextMention, PersonalChatMentionsPeople) {
  json activity = personal_command();
  activity["text"] = "lead <at>Aino</at> <at>Virtanen</at>";
  activity["entities"] = json::array({mention_of(kAinoMri, "Aino Virtanen", "<at>Aino</at>"),
                                      mention_of(kAinoMri, "Aino Virtanen", "<at>Virtanen</at>")});
  EXPECT_EQ(command_text(activity, haveri_bot), "lead " + person(kAinoMri, aino_virtanen));
}

TEST(ActivityTranslation, CommandListsMentionedUserIdsInOrderOnce) {
  const ActivityTranslation out = translated(
      channel_text("<at>Haveri</at> note <at>Mikko</at> to <at>Aino</at>, <at>Mikko</at> again",
                   json::array({bot_mention(), mention_of(kMikkoMri, "Mikko", "<at>Mikko</at>"),
                                person_mention("Aino", "<at>Aino</at>"),
                                mention_of(kMikkoMri, "Mikko", "<at>Mikko</at>")})));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0]["type"], "command");
  EXPECT_EQ(out.events[0]["text"], "note " + person(kMikkoMri, "Mikko") + " to " +
                                       person(kAinoMri, "Aino") + ", " +
                                       person(kMikkoMri, "Mikko") + " again");
  EXPECT_EQ(out.mentioned_user_ids, (std::vector<std::string>{kMikkoMri, kAinoMri}));
}

TEST(ActivityTranslation, MessageMentioningPeopleKeepsTheirNames) {
  json activity = channel_post();
  activity["text"] = "<at>Aino</at> <at>Virtanen</at> can you check pump 3?";
  activity["entities"] = json::array({mention_of(kAinoMri, "Aino Virtanen", "<at>Aino</at>"),
                                      mention_of(kAinoMri, "Aino Virtanen", "<at>Virtanen</at>")});
  const ActivityTranslation out = translated(activity);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0]["type"], "message");
  EXPECT_EQ(out.events[0]["text"], "Aino Virtanen can you check pump 3?");
  EXPECT_TRUE(out.mentioned_user_ids.empty());
}

TEST(ReplaceMentionedIds, BothFormsWholeIdsOnly) {
  const std::map<std::string, std::string> ids{{"29:a", "aad-a"}, {"29:ab", "aad-ab"}};
  EXPECT_EQ(replace_mentioned_ids("lead <@29:a|Aino> and <@29:ab> <@29:a>", ids),
            "lead <@aad-a|Aino> and <@aad-ab> <@aad-a>");
  // A prefix of a known id, an unknown id, no terminator: untouched.
  EXPECT_EQ(replace_mentioned_ids("<@29:|x> <@29:abc> <@29:c|C> 29:a <@29:a", ids),
            "<@29:|x> <@29:abc> <@29:c|C> 29:a <@29:a");
  EXPECT_EQ(replace_mentioned_ids("<@<@29:a>", ids), "<@<@aad-a>");
  EXPECT_EQ(replace_mentioned_ids("", ids), "");
  // One pass: a replacement that is itself a key is not replaced again.
  const std::map<std::string, std::string> chain{{"x", "y"}, {"y", "z"}};
  EXPECT_EQ(replace_mentioned_ids("<@x> <@y|Y>", chain), "<@y> <@z|Y>");
}

TEST(ReplaceMentionedIds, StaysLinearOnHostileText) {
  std::string text;
  for (int i = 0; i < 200000; ++i) {
    text += "<@";
  }
  const std::map<std::string, std::string> ids{{"29:a", "b"}};
  EXPECT_EQ(replace_mentioned_ids(text + "29:a>", ids), text + "b>");
}

// ---------------------------------------------------------------------------------------
// plain_text

struct PlainTextCase {
  const char* name;
  std::string html;
  std::string text;
};

TEST(PlainText, Table) {
  const std::vector<PlainTextCase> cases{
      {"plain", "Pump 3 down", "Pump 3 down"},
      {"mention kept", "<at>Haveri</at> ack", "Haveri ack"},
      {"formatting removed", "<b>bold</b> <i>it</i> <strong>x</strong>", "bold it x"},
      {"br forms", "a<br>b<BR/>c<br />d", "a\nb\nc\nd"},
      {"paragraphs", "<p>one</p><p>two</p>", "one\ntwo"},
      {"divs", "<div><div>one</div>\n</div><div>two</div>", "one\ntwo"},
      {"list items", "<ul><li>a</li><li>b</li></ul>", "a\nb"},
      {"nested tags", "<p><span><b><i>deep</i></b></span> text</p>", "deep text"},
      {"attributes", "<a href=\"https://x.example/?a=1&amp;b=2\" title='t'>link</a>", "link"},
      {"named entities", "&amp; &lt; &gt; &quot; &#39; &apos;", "& < > \" ' '"},
      {"nbsp is a space", "a&nbsp;b", "a b"},
      {"numeric entities", "&#65;&#x42;&#X43;&#8364;&#x1F600;", "ABC\xE2\x82\xAC\xF0\x9F\x98\x80"},
      {"invalid numeric", "&#0;&#xD800;&#x110000;&#99999999;",
       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD&#99999999;"},
      {"unknown entity kept", "AT&T &copy; &nosuch; & alone", "AT&T &copy; &nosuch; & alone"},
      {"entity without semicolon", "&amp and &#65", "&amp and &#65"},
      {"invalid UTF-8",
       std::string("a\xFF"
                   "b\xC3(c\xED\xA0\x80"
                   "d\xF0\x9F\x98"),
       "a\xEF\xBF\xBD"
       "b\xEF\xBF\xBD(c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
       "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"overlong", std::string("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"unterminated tag", "pressure <b high", "pressure <b high"},
      {"less-than in text", "1 < 2 and 3 <4 and a<-b", "1 < 2 and 3 <4 and a<-b"},
      {"less-than before a tag", "x < y <b>z</b>", "x < y z"},
      {"comment", "a<!-- hidden <b> -->b", "ab"},
      {"unterminated comment", "a<!-- b", "a<!-- b"},
      {"lines trimmed", "  a  \n\t b \t", "a\nb"},
      {"blank lines collapsed", "a<br><br><br><br>b\n\n\n\nc", "a\n\nb\n\nc"},
      {"crlf", "a\r\nb\rc", "a\nb\nc"},
      {"result trimmed", "<p>&nbsp;</p><br> x <br><br>", "x"},
      {"empty", "", ""},
      {"only tags", "<div></div><br/>", ""},
      {"headings", "<h1>Title</h1>body", "Title\nbody"},
      {"escaped tags stay text", "&lt;at&gt;Haveri&lt;/at&gt;", "<at>Haveri</at>"},
  };
  for (const PlainTextCase& test : cases) {
    EXPECT_EQ(plain_text(test.html), test.text) << test.name;
  }
}

// ---------------------------------------------------------------------------------------
// Hostile activities

TEST(ActivityHostile, NotAnObjectIsMalformed) {
  for (const json& activity :
       {json(nullptr), json(42), json("message"), json::array({channel_mention()}), json(true)}) {
    const ActivityTranslation out = translated(activity);
    EXPECT_TRUE(out.malformed) << activity.dump();
    EXPECT_TRUE(out.events.empty());
  }
}

TEST(ActivityHostile, MissingRequiredPartsAreMalformed) {
  const auto without = [](json activity, const json::json_pointer& pointer) {
    activity.at(pointer.parent_pointer()).erase(pointer.back());
    return activity;
  };
  const std::vector<json> cases{
      without(channel_mention(), json::json_pointer("/id")),
      without(channel_mention(), json::json_pointer("/type")),
      without(channel_mention(), json::json_pointer("/conversation")),
      without(channel_mention(), json::json_pointer("/conversation/id")),
      without(channel_mention(), json::json_pointer("/from")),
      without(channel_mention(), json::json_pointer("/from/id")),
      without(without(channel_mention(), json::json_pointer("/channelData/tenant")),
              json::json_pointer("/conversation/tenantId")),
  };
  for (const json& activity : cases) {
    const ActivityTranslation out = translated(activity);
    EXPECT_TRUE(out.malformed) << activity.dump();
    EXPECT_TRUE(out.events.empty());
    EXPECT_FALSE(out.ignored_because.empty());
  }
  json empty_id = channel_mention();
  empty_id["id"] = "";
  EXPECT_TRUE(translated(empty_id).malformed);
}

TEST(ActivityHostile, WrongTypesForRequiredPartsAreMalformed) {
  const std::vector<std::pair<const char*, json>> cases{
      {"/id", 1712297278901},
      {"/conversation", json::array({"19:x"})},
      {"/conversation/id", json::object()},
      {"/from", "29:abc"},
      {"/from/id", 29},
      {"/type", json::array()},
  };
  for (const auto& [where, value] : cases) {
    json activity = channel_mention();
    activity.erase("channelData");  // the tenant then comes from conversation.tenantId
    activity[json::json_pointer(where)] = value;
    EXPECT_TRUE(translated(activity).malformed) << where;
  }
}

TEST(ActivityHostile, WrongTypesElsewhereAreIgnoredOrSkipped) {
  std::vector<json> cases;
  const auto with = [&](json activity, const char* where, json value) {
    activity[json::json_pointer(where)] = std::move(value);
    cases.push_back(std::move(activity));
  };
  with(channel_mention(), "/text", 42);
  with(channel_mention(), "/entities", json::object({{"type", "mention"}}));
  with(channel_mention(), "/entities/0/mentioned", "28:x");
  with(channel_mention(), "/entities/0/mentioned/id", json::array());
  with(channel_mention(), "/entities/0/text", 5);
  with(channel_mention(), "/entities/1", nullptr);
  with(channel_mention(), "/attachments", json::object({{"contentType", "image/png"}}));
  with(channel_mention(), "/attachments/0", json::array());
  with(channel_mention(), "/channelData", json::array({json::object()}));
  with(channel_mention(), "/channelData/channel", "Line 3");
  with(channel_mention(), "/channelData/team", 7);
  with(channel_mention(), "/from/aadObjectId", json::object());
  with(channel_mention(), "/from/name", false);
  with(channel_mention(), "/conversation/conversationType", 3);
  with(personal_files(), "/attachments/0/content", "x");
  with(personal_files(), "/attachments/0/content/uniqueId", 5);
  with(personal_files(), "/attachments/1/contentUrl", json::object());
  with(submit(json::object()), "/value", json::array({"haveri_action", "command"}));
  with(submit(json{{"haveri_action", "form"}, {"form_id", "f"}}), "/value/form_id", 12);
  with(submit(json{{"haveri_action", 1}}), "/replyToId", json::object());
  with(execute("haveri.command", json::object()), "/value", "x");
  with(execute("haveri.command", json::object()), "/value/action", json::array());
  with(execute("haveri.command", json::object()), "/value/action/data", "ack");
  with(execute("haveri.command", json::object()), "/value/action/verb", 1);
  with(execute("haveri.command", json::object()), "/name", 1);
  with(edit("x", "t"), "/text", json::array());
  with(edit("x", "t"), "/timestamp", 5);
  with(edit("x", "t"), "/channelData/eventType", json::object());
  with(soft_delete(), "/channelData/eventType", 1);
  with(people_added_to_team(), "/membersAdded", json::object());
  with(people_added_to_team(), "/membersAdded/0", "29:x");
  with(people_added_to_team(), "/membersAdded/1/id", 12);
  with(people_added_to_team(), "/membersAdded/1/aadObjectId", json::array());
  with(channel_mention(), "/serviceUrl", json::array());
  for (const json& activity : cases) {
    ActivityTranslation out;
    ASSERT_NO_THROW(out = translated(activity)) << activity.dump();
    EXPECT_FALSE(out.malformed) << activity.dump();
    EXPECT_NO_THROW((void)command_text(activity, haveri_bot));
  }
}

// Every member of every fixture, one level deep, replaced by each JSON type: nothing throws
// and whatever comes out is a valid event.
TEST(ActivityHostile, EveryMemberOfEveryFixtureWithEveryType) {
  const std::vector<json> fixtures{
      channel_mention(),
      thread_reply(),
      personal_command(),
      personal_files(),
      html_message(),
      group_chat("<at>Haveri</at> ack", true),
      submit(json{{"haveri_action", "form"}, {"form_id", "resolve:1"}, {"a", "b"}}),
      execute("haveri.command", json{{"haveri_action", "command"}, {"command", "ack"}}),
      edit("x", "2024-04-05T06:09:12Z"),
      soft_delete(),
      bot_added_to_team(),
      people_added_to_team(),
      installation_update(),
      reaction(),
      typing()};
  const std::vector<json> replacements{nullptr,
                                       true,
                                       -1,
                                       1.5,
                                       "",
                                       "\xE2\x80\x94 text",
                                       json::array(),
                                       json::object(),
                                       json::array({1, "a"}),
                                       json::object({{"id", 1}})};
  std::size_t translations = 0;
  for (const json& fixture : fixtures) {
    std::vector<json::json_pointer> pointers;
    for (const auto& [key, value] : fixture.items()) {
      pointers.emplace_back("/" + key);
      if (value.is_object()) {
        for (const auto& [inner, ignored] : value.items()) {
          pointers.emplace_back("/" + key + "/" + inner);
        }
      }
    }
    for (const json::json_pointer& pointer : pointers) {
      for (const json& replacement : replacements) {
        json activity = fixture;
        activity[pointer] = replacement;
        ASSERT_NO_THROW((void)translated(activity)) << pointer.to_string();
        ASSERT_NO_THROW((void)command_text(activity, haveri_bot)) << pointer.to_string();
        ++translations;
      }
    }
  }
  EXPECT_GT(translations, 1000u);
}

TEST(ActivityHostile, InvalidUtf8IsMalformed) {
  // A parsed body is always UTF-8; a json built in memory may hold any bytes.
  const std::vector<std::pair<const char*, std::string>> cases{
      {"/text", "<at>Haveri</at> declare \xFF\xFE"},
      {"/from/name", "Aino \xC3"},
      {"/from/aadObjectId", "6c2f\x80"},
      {"/conversation/id", "19:\xED\xA0\x80@thread.tacv2"},
      {"/entities/1/locale", "en-\xC0\xAF"},
  };
  for (const auto& [where, bad] : cases) {
    json activity = channel_mention();
    activity[json::json_pointer(where)] = bad;
    const ActivityTranslation out = translated(activity);
    EXPECT_TRUE(out.malformed) << where;
    EXPECT_TRUE(out.events.empty()) << where;
  }
  json bad_key = channel_mention();
  bad_key["channelData"]["\xFF"] = 1;
  EXPECT_TRUE(translated(bad_key).malformed);
}

TEST(ActivityHostile, OneMegabyteTextIsRecordedWhole) {
  json activity = channel_post();
  const std::string text(1 << 20, 'p');
  activity["text"] = text;
  const json event = only_event(activity);
  EXPECT_EQ(event["text"], text);
}

TEST(ActivityHostile, OneMegabyteOfMarkupStaysLinear) {
  // Each would rescan the rest of the text at every '<' or '&' in a naive parser.
  const std::size_t size = 1 << 20;
  const auto repeat = [&](const std::string& unit) {
    std::string text;
    while (text.size() < size) {
      text += unit;
    }
    return text;
  };
  for (const std::string& text :
       {repeat("<at>"), repeat("<at><at>x"), repeat("<a "), repeat("<!--"), repeat("&#"),
        repeat("&amp"), repeat("<at>Haveri</at>"), repeat("\xFF"), repeat("<p>\n")}) {
    json activity = channel_mention();
    activity["text"] = text;
    if (text.starts_with("\xFF")) {
      EXPECT_EQ(plain_text(text).size(), 3 * text.size());
      continue;
    }
    ActivityTranslation out;
    ASSERT_NO_THROW(out = translated(activity));
    EXPECT_FALSE(out.malformed);
    json channel = channel_post();
    channel["text"] = text;
    ASSERT_NO_THROW(out = translated(channel));
  }
}

TEST(ActivityHostile, ManyMentionEntitiesAndElements) {
  json activity = channel_mention();
  std::string text;
  json entities = json::array();
  for (int i = 0; i < 20000; ++i) {
    text += "<at>Person " + std::to_string(i) + "</at> ";
    entities.push_back(
        person_mention("Person " + std::to_string(i), "<at>Person " + std::to_string(i) + "</at>"));
  }
  activity["text"] = text + "<at>Haveri</at> ack";
  entities.push_back(bot_mention());
  activity["entities"] = entities;
  // Pairing is bounded: the bot's mention after 20000 others is not looked for, and
  // nothing takes quadratic time.
  ActivityTranslation out;
  ASSERT_NO_THROW(out = translated(activity));
  EXPECT_FALSE(out.malformed);
}

TEST(ActivityHostile, DeepNestingDoesNotOverflowTheStack) {
  json deep = json::array();
  json* inner = &deep;
  for (int i = 0; i < 100000; ++i) {
    inner->push_back(json::array());
    inner = &inner->back();
  }
  json activity = submit(json{{"haveri_action", "form"}, {"form_id", "resolve:1"}});
  activity["value"]["deep"] = std::move(deep);
  const json event = only_event(activity);
  EXPECT_EQ(event["values"], json::object());
}

TEST(ActivityHostile, DeepInvokeDataIsNotCopied) {
  json deep = json::array();
  json* inner = &deep;
  for (int i = 0; i < 100000; ++i) {
    inner->push_back(json::array());
    inner = &inner->back();
  }
  json activity = execute("haveri.command", json{{"haveri_action", "command"}, {"command", "ack"}});
  activity["value"]["action"]["data"]["deep"] = std::move(deep);
  const ActivityTranslation out = translated(activity);
  EXPECT_TRUE(out.events.empty());
  EXPECT_TRUE(out.is_card_action_invoke);
  EXPECT_EQ(out.card_action_data, json::object());
  // Sixteen levels are more than any card has, and still taken.
  json nested = json::object();
  json* level = &nested;
  for (int i = 0; i < 14; ++i) {
    level = &(*level)["x"];
  }
  *level = 1;
  activity["value"]["action"]["data"] = {
      {"haveri_action", "command"}, {"command", "ack"}, {"nested", nested}};
  EXPECT_EQ(translated(activity).events.size(), 1u);
}

TEST(ActivityHostile, TooManyFilesAndAnswersStayWithinTheHostsLimits) {
  json activity = channel_post();
  activity["attachments"] = json::array();
  for (int i = 0; i < 50; ++i) {
    activity["attachments"].push_back(
        json{{"contentType", "reference"},
             {"contentUrl", "https://x.sharepoint.com/f" + std::to_string(i)},
             {"name", "f" + std::to_string(i)}});
  }
  EXPECT_EQ(only_event(activity)["files"].size(), 20u);

  json form{{"haveri_action", "form"}, {"form_id", "resolve:1"}};
  for (int i = 0; i < 51; ++i) {
    form["answer" + std::to_string(i)] = "x";
  }
  const ActivityTranslation out = translated(submit(form));
  EXPECT_TRUE(out.events.empty());
  EXPECT_FALSE(out.malformed);
}

}  // namespace
}  // namespace haveri::teams
