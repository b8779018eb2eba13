// Tests plugins/slack/src/events_api.cpp: what Slack's Events API deliveries and slash
// commands become, with fixtures shaped as Slack sends them, and hostile variants of them.
#include "events_api.hpp"

#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "form_body.hpp"

namespace haveri::slack {
namespace {

using nlohmann::json;

const AppIdentity kApp{"U0BOT", "B0BOT", "A0APP"};

// The whole body Slack posts for one event of a workspace install (Events API, 2024).
json envelope(json event, std::string event_id = "Ev06PV52K21") {
  json body = json::parse(R"({
    "token": "XXYYZZ",
    "team_id": "T024BE7LD",
    "context_team_id": "T024BE7LD",
    "context_enterprise_id": null,
    "api_app_id": "A0APP",
    "type": "event_callback",
    "event_time": 1712345678,
    "authorizations": [{"enterprise_id": null, "team_id": "T024BE7LD", "user_id": "U0BOT",
                        "is_bot": true, "is_enterprise_install": false}],
    "is_ext_shared_channel": false,
    "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMDI0QkU3TEQiLCJjaWQiOiJDMDI0QkU5MUwifQ"
  })");
  body["event"] = std::move(event);
  body["event_id"] = std::move(event_id);
  return body;
}

json user_message() {
  return json::parse(R"({
    "client_msg_id": "5b0c1c6e-2f4e-4b4e-9a39-0d4f3c2b1a00",
    "type": "message",
    "text": "Pump 2 tripped again, pressure at 0.3 bar",
    "user": "U0G9QF9C6",
    "ts": "1712345678.000100",
    "blocks": [{"type": "rich_text", "block_id": "Xy1Q",
                "elements": [{"type": "rich_text_section",
                              "elements": [{"type": "text",
                                            "text": "Pump 2 tripped again, pressure at 0.3 bar"}]}]}],
    "team": "T024BE7LD",
    "channel": "C024BE91L",
    "event_ts": "1712345678.000100",
    "channel_type": "channel"
  })");
}

json thread_reply() {
  json reply = user_message();
  reply["text"] = "restarted it from the HMI";
  reply["ts"] = "1712345700.000300";
  reply["event_ts"] = "1712345700.000300";
  reply["thread_ts"] = "1712345678.000100";
  reply["parent_user_id"] = "U0G9QF9C6";
  return reply;
}

json file_share() {
  return json::parse(R"({
    "type": "message",
    "subtype": "file_share",
    "text": "log from the PLC",
    "files": [{
      "id": "F0123ABC", "created": 1712345678, "timestamp": 1712345678,
      "name": "pump.log", "title": "pump.log", "mimetype": "text/plain", "filetype": "text",
      "pretty_type": "Plain Text", "user": "U0G9QF9C6", "user_team": "T024BE7LD",
      "editable": true, "size": 12345, "mode": "snippet", "is_external": false,
      "external_type": "", "is_public": true, "public_url_shared": false,
      "display_as_bot": false, "username": "",
      "url_private": "https://files.slack.com/files-pri/T024BE7LD-F0123ABC/pump.log",
      "url_private_download": "https://files.slack.com/files-pri/T024BE7LD-F0123ABC/download/pump.log",
      "permalink": "https://example.slack.com/files/U0G9QF9C6/F0123ABC/pump.log",
      "permalink_public": "https://slack-files.com/T024BE7LD-F0123ABC-1a2b3c4d5e",
      "preview": "02:41:07 P2 TRIP low suction pressure", "lines": 12, "lines_more": 7,
      "preview_is_truncated": true, "has_rich_preview": false, "file_access": "visible"
    }, {
      "id": "F0456DEF", "created": 1712345679, "timestamp": 1712345679,
      "name": "trend.png", "title": "trend.png", "mimetype": "image/png", "filetype": "png",
      "pretty_type": "PNG", "user": "U0G9QF9C6", "size": 48213, "mode": "hosted",
      "url_private": "https://files.slack.com/files-pri/T024BE7LD-F0456DEF/trend.png",
      "thumb_64": "https://files.slack.com/files-tmb/T024BE7LD-F0456DEF-aa/trend_64.png",
      "original_w": 1280, "original_h": 720, "file_access": "visible"
    }],
    "upload": false,
    "user": "U0G9QF9C6",
    "display_as_bot": false,
    "ts": "1712345690.000200",
    "client_msg_id": "7c1d2e3f-0000-4a4a-8b8b-123456789abc",
    "channel": "C024BE91L",
    "event_ts": "1712345690.000200",
    "channel_type": "channel"
  })");
}

json edited_by_person() {
  return json::parse(R"({
    "type": "message",
    "subtype": "message_changed",
    "message": {
      "client_msg_id": "5b0c1c6e-2f4e-4b4e-9a39-0d4f3c2b1a00",
      "type": "message", "text": "Pump 2 tripped again, pressure at 0.2 bar",
      "user": "U0G9QF9C6", "team": "T024BE7LD",
      "edited": {"user": "U0G9QF9C6", "ts": "1712345800.000000"},
      "blocks": [], "ts": "1712345678.000100", "source_team": "T024BE7LD",
      "user_team": "T024BE7LD"
    },
    "previous_message": {
      "client_msg_id": "5b0c1c6e-2f4e-4b4e-9a39-0d4f3c2b1a00",
      "type": "message", "text": "Pump 2 tripped again, pressure at 0.3 bar",
      "user": "U0G9QF9C6", "ts": "1712345678.000100", "team": "T024BE7LD", "blocks": []
    },
    "channel": "C024BE91L",
    "hidden": true,
    "ts": "1712345800.000400",
    "event_ts": "1712345800.000400",
    "channel_type": "channel"
  })");
}

json edited_by_us() {
  return json::parse(R"({
    "type": "message",
    "subtype": "message_changed",
    "message": {
      "bot_id": "B0BOT", "type": "message", "text": "INC-7 · Pump down · MITIGATED",
      "user": "U0BOT", "app_id": "A0APP", "team": "T024BE7LD",
      "bot_profile": {"id": "B0BOT", "deleted": false, "name": "Haveri",
                      "updated": 1700000000, "app_id": "A0APP", "team_id": "T024BE7LD"},
      "edited": {"user": "B0BOT", "ts": "1712345900.000000"},
      "blocks": [], "ts": "1712345000.000100", "source_team": "T024BE7LD"
    },
    "previous_message": {
      "bot_id": "B0BOT", "type": "message", "text": "INC-7 · Pump down · DECLARED",
      "user": "U0BOT", "app_id": "A0APP", "ts": "1712345000.000100"
    },
    "channel": "C0INC7",
    "hidden": true,
    "ts": "1712345900.000500",
    "event_ts": "1712345900.000500",
    "channel_type": "channel"
  })");
}

json deleted_by_person() {
  return json::parse(R"({
    "type": "message",
    "subtype": "message_deleted",
    "previous_message": {
      "client_msg_id": "5b0c1c6e-2f4e-4b4e-9a39-0d4f3c2b1a00",
      "type": "message", "text": "wrong channel, sorry", "user": "U0G9QF9C6",
      "ts": "1712345678.000100", "team": "T024BE7LD"
    },
    "channel": "C024BE91L",
    "hidden": true,
    "deleted_ts": "1712345678.000100",
    "event_ts": "1712345950.000600",
    "ts": "1712345950.000600",
    "channel_type": "channel"
  })");
}

json app_mention(std::string text) {
  json mention = json::parse(R"({
    "client_msg_id": "e3f1a2b4-1111-4c4c-9d9d-abcdefabcdef",
    "type": "app_mention",
    "user": "U0G9QF9C6",
    "ts": "1712346000.000700",
    "blocks": [],
    "team": "T024BE7LD",
    "channel": "C024BE91L",
    "event_ts": "1712346000.000700"
  })");
  mention["text"] = std::move(text);
  return mention;
}

json member_joined() {
  return json::parse(R"({
    "type": "member_joined_channel",
    "user": "U0G9QF9C6",
    "channel": "C0INC7",
    "channel_type": "C",
    "team": "T024BE7LD",
    "inviter": "U0ALICE",
    "event_ts": "1712346100.000800"
  })");
}

// The fields docs/plugin-abi.md requires of every neutral event, and of each type.
void expect_well_formed(const Translation& translation) {
  if (!translation.event) {
    EXPECT_FALSE(translation.ignored_because.empty());
    return;
  }
  const json& event = *translation.event;
  ASSERT_TRUE(event.is_object());
  EXPECT_EQ(event.value("v", 0), 1);
  const std::string type = event.value("type", "");
  EXPECT_TRUE(std::set<std::string>(
                  {"command", "message", "message_changed", "message_deleted", "member_joined"})
                  .contains(type))
      << type;
  ASSERT_TRUE(event.contains("idempotency_key") && event["idempotency_key"].is_string());
  const auto key_size = event["idempotency_key"].get_ref<const std::string&>().size();
  EXPECT_GE(key_size, 1U);
  EXPECT_LE(key_size, 512U);
  ASSERT_TRUE(event.contains("installation") && event["installation"].is_string());
  EXPECT_FALSE(event["installation"].get_ref<const std::string&>().empty());
  for (const char* who : {"channel", "user"}) {
    ASSERT_TRUE(event.contains(who) && event[who].is_object()) << who;
    ASSERT_TRUE(event[who].contains("id") && event[who]["id"].is_string()) << who;
    EXPECT_FALSE(event[who]["id"].get_ref<const std::string&>().empty()) << who;
  }
  if (type == "command" || type == "message" || type == "message_changed") {
    EXPECT_TRUE(event.contains("text") && event["text"].is_string()) << event.dump();
  }
  if (type == "message_changed" || type == "message_deleted") {
    ASSERT_TRUE(event.contains("message_id") && event["message_id"].is_string());
    EXPECT_FALSE(event["message_id"].get_ref<const std::string&>().empty());
  }
  // The host serialises it: every string must be UTF-8.
  EXPECT_NO_THROW(static_cast<void>(event.dump()));
}

Translation translate(const json& event, const AppIdentity& app = kApp) {
  Translation translation = translate_event_callback(envelope(event), app);
  expect_well_formed(translation);
  return translation;
}

// ---- messages ----

TEST(SlackEventsApi, APersonsMessageIsRecordedWithItsText) {
  const Translation t = translate(user_message());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "message", "idempotency_key": "slack:Ev06PV52K21",
    "installation": "T024BE7LD", "channel": {"id": "C024BE91L"}, "user": {"id": "U0G9QF9C6"},
    "text": "Pump 2 tripped again, pressure at 0.3 bar", "message_id": "1712345678.000100"
  })"));
}

TEST(SlackEventsApi, AThreadReplyPointsAtItsParent) {
  const Translation t = translate(thread_reply());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["message_id"], "1712345700.000300");
  EXPECT_EQ((*t.event)["thread_id"], "1712345678.000100");
}

TEST(SlackEventsApi, AThreadParentHasNoThreadId) {
  json parent = user_message();
  parent["thread_ts"] = parent["ts"];
  parent["reply_count"] = 1;
  const Translation t = translate(parent);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_FALSE(t.event->contains("thread_id"));
}

TEST(SlackEventsApi, AThreadBroadcastIsAMessageInItsThread) {
  json broadcast = thread_reply();
  broadcast["subtype"] = "thread_broadcast";
  broadcast["root"] = user_message();
  const Translation t = translate(broadcast);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["type"], "message");
  EXPECT_EQ((*t.event)["text"], "restarted it from the HMI");
  EXPECT_EQ((*t.event)["thread_id"], "1712345678.000100");
}

TEST(SlackEventsApi, AFileShareCarriesReferencesNeverContents) {
  const Translation t = translate(file_share());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["text"], "log from the PLC");
  EXPECT_EQ((*t.event)["files"], json::parse(R"([
    {"id": "F0123ABC", "name": "pump.log", "size": 12345, "mimetype": "text/plain",
     "url": "https://files.slack.com/files-pri/T024BE7LD-F0123ABC/pump.log"},
    {"id": "F0456DEF", "name": "trend.png", "size": 48213, "mimetype": "image/png",
     "url": "https://files.slack.com/files-pri/T024BE7LD-F0456DEF/trend.png"}
  ])"));
  EXPECT_EQ(t.event->dump().find("P2 TRIP"), std::string::npos) << "a preview leaked";
}

TEST(SlackEventsApi, AFileShareWithoutTextHasEmptyText) {
  json share = file_share();
  share.erase("text");
  const Translation t = translate(share);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["text"], "");
  EXPECT_EQ((*t.event)["files"].size(), 2U);
}

TEST(SlackEventsApi, FileEntriesWithoutAnIdOrWithWrongTypesKeepOnlyWhatIsSound) {
  json share = file_share();
  share["files"] = json::parse(R"([
    "F0NOTANOBJECT", {"name": "no-id.txt"}, {"id": 42},
    {"id": "F0HIDDEN", "mode": "hidden_by_limit"},
    {"id": "F0ODD", "name": 7, "size": -1, "url_private": ["x"], "mimetype": null}
  ])");
  const Translation t = translate(share);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["files"], json::parse(R"([{"id": "F0HIDDEN"}, {"id": "F0ODD"}])"));
}

TEST(SlackEventsApi, TheAppsOwnMessagesAreIgnored) {
  json ours = user_message();
  ours["user"] = "U0BOT";
  EXPECT_FALSE(translate(ours).event);
  // A bot token's message: bot_id and app_id, with or without the bot user.
  json by_bot = user_message();
  by_bot["user"] = "U0BOTUSERBEFOREREINSTALL";
  by_bot["bot_id"] = "B0BOT";
  const Translation t = translate(by_bot);
  EXPECT_FALSE(t.event);
  EXPECT_NE(t.ignored_because.find("app itself"), std::string::npos) << t.ignored_because;
  json by_app = user_message();
  by_app["user"] = "U0SOMEONE";
  by_app["bot_id"] = "B0REINSTALLED";
  by_app["app_id"] = "A0APP";
  EXPECT_FALSE(translate(by_app).event);
  json by_profile = user_message();
  by_profile["bot_profile"] = {{"id", "B0OTHER"}, {"app_id", "A0APP"}, {"name", "Haveri"}};
  EXPECT_FALSE(translate(by_profile).event);
}

TEST(SlackEventsApi, AnotherBotsMessageIsRecordedLikeAPersons) {
  json pager = user_message();
  pager["user"] = "U0PAGER";
  pager["bot_id"] = "B0PAGER";
  pager["app_id"] = "A0PAGER";
  pager["text"] = "ALERT pump 2 suction pressure low";
  pager["bot_profile"] = {{"id", "B0PAGER"}, {"app_id", "A0PAGER"}, {"name", "PagerBot"}};
  const Translation t = translate(pager);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["user"]["id"], "U0PAGER");
}

TEST(SlackEventsApi, AnUnknownAppIdentityIgnoresNothingByEmptyIds) {
  // Before auth.test has answered, empty ids must not match messages without those fields.
  const Translation t = translate(user_message(), AppIdentity{});
  EXPECT_TRUE(t.event) << t.ignored_because;
}

TEST(SlackEventsApi, OtherSubtypesAreIgnoredWithTheirName) {
  for (const char* subtype : {"channel_join", "bot_message", "channel_topic", "channel_purpose",
                              "pinned_item", "me_message", "ekm_access_denied"}) {
    json message = user_message();
    message["subtype"] = subtype;
    const Translation t = translate(message);
    EXPECT_FALSE(t.event) << subtype;
    EXPECT_NE(t.ignored_because.find(subtype), std::string::npos) << t.ignored_because;
  }
}

TEST(SlackEventsApi, AChannelJoinMessageIsIgnored) {
  const json join = json::parse(R"({
    "type": "message", "subtype": "channel_join", "ts": "1712346100.000800",
    "user": "U0G9QF9C6", "text": "<@U0G9QF9C6> has joined the channel", "inviter": "U0ALICE",
    "channel": "C0INC7", "event_ts": "1712346100.000800", "channel_type": "channel"
  })");
  EXPECT_FALSE(translate(join).event);
}

TEST(SlackEventsApi, ALegacyBotMessageIsIgnored) {
  const json legacy = json::parse(R"({
    "type": "message", "subtype": "bot_message", "text": "Deploy 4812 finished",
    "ts": "1712346200.000900", "username": "ci", "bot_id": "B0CI", "channel": "C024BE91L",
    "event_ts": "1712346200.000900", "channel_type": "channel"
  })");
  EXPECT_FALSE(translate(legacy).event);
}

// ---- edits and deletions ----

TEST(SlackEventsApi, APersonsEditIsAMessageChangedWithTheNewText) {
  const Translation t = translate(edited_by_person());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "message_changed", "idempotency_key": "slack:Ev06PV52K21",
    "installation": "T024BE7LD", "channel": {"id": "C024BE91L"}, "user": {"id": "U0G9QF9C6"},
    "message_id": "1712345678.000100", "text": "Pump 2 tripped again, pressure at 0.2 bar"
  })"));
}

TEST(SlackEventsApi, AnEditOfTheAppsOwnMessageIsIgnored) {
  const Translation t = translate(edited_by_us());
  EXPECT_FALSE(t.event);
  EXPECT_NE(t.ignored_because.find("own"), std::string::npos) << t.ignored_because;
}

TEST(SlackEventsApi, AChangeThatKeepsTheTextIsNotAnEdit) {
  // Unfurls, reply counts and language metadata arrive as message_changed too.
  json unfurl = edited_by_person();
  unfurl["message"]["text"] = unfurl["previous_message"]["text"];
  unfurl["message"]["attachments"] = json::array({{{"from_url", "https://example.com"}}});
  EXPECT_FALSE(translate(unfurl).event);
}

TEST(SlackEventsApi, AnEditWithoutPreviousMessageIsStillAnEdit) {
  json edit = edited_by_person();
  edit.erase("previous_message");
  EXPECT_TRUE(translate(edit).event);
}

TEST(SlackEventsApi, ADeletionIsAMessageDeletedOfTheDeletedTs) {
  const Translation t = translate(deleted_by_person());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "message_deleted", "idempotency_key": "slack:Ev06PV52K21",
    "installation": "T024BE7LD", "channel": {"id": "C024BE91L"}, "user": {"id": "U0G9QF9C6"},
    "message_id": "1712345678.000100"
  })"));
}

TEST(SlackEventsApi, DeletingTheAppsOwnMessageIsIgnored) {
  json deletion = deleted_by_person();
  deletion["previous_message"] = {{"type", "message"},
                                  {"user", "U0BOT"},
                                  {"bot_id", "B0BOT"},
                                  {"text", "INC-7"},
                                  {"ts", "1712345678.000100"}};
  EXPECT_FALSE(translate(deletion).event);
}

TEST(SlackEventsApi, DeletingAThreadParentLeavesATombstoneThatIsADeletion) {
  const json tombstone = json::parse(R"({
    "type": "message", "subtype": "message_changed", "hidden": true,
    "message": {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                "user": "USLACKBOT", "hidden": true, "ts": "1712345678.000100",
                "thread_ts": "1712345678.000100", "reply_count": 2},
    "previous_message": {"type": "message", "text": "Pump 2 tripped", "user": "U0G9QF9C6",
                         "ts": "1712345678.000100", "thread_ts": "1712345678.000100"},
    "channel": "C024BE91L", "ts": "1712346300.001000", "event_ts": "1712346300.001000",
    "channel_type": "channel"
  })");
  const Translation t = translate(tombstone);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["type"], "message_deleted");
  EXPECT_EQ((*t.event)["message_id"], "1712345678.000100");
  EXPECT_EQ((*t.event)["user"]["id"], "U0G9QF9C6");
}

TEST(SlackEventsApi, EditsAndDeletionsWithoutTheirFieldsAreIgnoredWithAReason) {
  json no_message = edited_by_person();
  no_message["message"] = json::array();
  json no_deleted_ts = deleted_by_person();
  no_deleted_ts.erase("deleted_ts");
  json no_author = deleted_by_person();
  no_author.erase("previous_message");
  for (const json& event : {no_message, no_deleted_ts, no_author}) {
    const Translation t = translate(event);
    EXPECT_FALSE(t.event) << event.dump();
    EXPECT_FALSE(t.ignored_because.empty());
  }
}

// ---- mentions ----

std::string command_of(std::string text, const AppIdentity& app = kApp) {
  const Translation t = translate(app_mention(std::move(text)), app);
  if (!t.event) {
    return "<ignored: " + t.ignored_because + ">";
  }
  EXPECT_EQ((*t.event)["type"], "command");
  return (*t.event)["text"].get<std::string>();
}

TEST(SlackEventsApi, AMentionBecomesACommandWithoutTheMention) {
  EXPECT_EQ(command_of("<@U0BOT> declare Pump down sev2"), "declare Pump down sev2");
  const Translation t = translate(app_mention("<@U0BOT> declare Pump down sev2"));
  ASSERT_TRUE(t.event);
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "command", "idempotency_key": "slack:Ev06PV52K21",
    "installation": "T024BE7LD", "channel": {"id": "C024BE91L"}, "user": {"id": "U0G9QF9C6"},
    "text": "declare Pump down sev2", "message_id": "1712346000.000700"
  })"));
}

TEST(SlackEventsApi, AMentionDropsALeadingIncidentWord) {
  EXPECT_EQ(command_of("<@U0BOT> incident status mitigated"), "status mitigated");
  EXPECT_EQ(command_of("<@U0BOT> Incident   status mitigated"), "status mitigated");
  EXPECT_EQ(command_of("<@U0BOT> incidents"), "incidents");
  EXPECT_EQ(command_of("<@U0BOT> incident"), "help");
}

TEST(SlackEventsApi, ABareMentionIsHelp) {
  EXPECT_EQ(command_of("<@U0BOT>"), "help");
  EXPECT_EQ(command_of("  <@U0BOT> \n "), "help");
}

TEST(SlackEventsApi, AMentionLaterInTheTextTakesWhatFollowsIt) {
  // What comes before the mention is addressed to people.
  EXPECT_EQ(command_of("<@UALICE> can you check? <@U0BOT> status investigating"),
            "status investigating");
  EXPECT_EQ(command_of("thanks <@U0BOT>"), "help");
}

TEST(SlackEventsApi, OnlyTheAppsOwnMentionCounts) {
  EXPECT_EQ(command_of("<@U0BOT2> <@U0BOT> status mitigated"), "status mitigated");
  EXPECT_EQ(command_of("<@U0BOT|haveri> status mitigated"), "status mitigated");
  // Slack's composer puts a no-break space after an autocompleted mention.
  EXPECT_EQ(command_of("<@U0BOT>\xC2\xA0"
                       "declare Pump down"),
            "declare Pump down");
  EXPECT_EQ(command_of("hi <@UOTHER>").substr(0, 9), "<ignored:");
}

TEST(SlackEventsApi, BeforeAuthTestALeadingMentionIsTakenForTheApps) {
  AppIdentity unknown;
  EXPECT_EQ(command_of("<@U0BOT> status mitigated", unknown), "status mitigated");
  EXPECT_EQ(command_of("hey <@U0BOT> status mitigated", unknown).substr(0, 9), "<ignored:");
}

TEST(SlackEventsApi, AnEditedMentionDoesNotRunTheCommandAgain) {
  json edited = app_mention("<@U0BOT> declare Pump down sev2");
  edited["edited"] = {{"user", "U0G9QF9C6"}, {"ts", "1712346050.000000"}};
  EXPECT_FALSE(translate(edited).event);
}

TEST(SlackEventsApi, TheAppMentioningItselfIsIgnored) {
  json own = app_mention("<@U0BOT> help");
  own["user"] = "U0BOT";
  own["bot_id"] = "B0BOT";
  EXPECT_FALSE(translate(own).event);
}

// ---- members ----

TEST(SlackEventsApi, AMemberJoiningIsMemberJoined) {
  const Translation t = translate(member_joined());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "member_joined", "idempotency_key": "slack:Ev06PV52K21",
    "installation": "T024BE7LD", "channel": {"id": "C0INC7"}, "user": {"id": "U0G9QF9C6"}
  })"));
}

TEST(SlackEventsApi, TheAppJoiningAChannelIsIgnored) {
  json joined = member_joined();
  joined["user"] = "U0BOT";
  EXPECT_FALSE(translate(joined).event);
}

// ---- envelopes and installations ----

TEST(SlackEventsApi, UrlVerificationIsLeftToThePlugin) {
  const json challenge = json::parse(R"({
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification"
  })");
  const Translation t = translate_event_callback(challenge, kApp);
  EXPECT_FALSE(t.event);
  EXPECT_NE(t.ignored_because.find("url_verification"), std::string::npos);
}

TEST(SlackEventsApi, UnhandledEventTypesAreIgnoredWithTheirName) {
  const json reaction = json::parse(R"({
    "type": "reaction_added", "user": "U0G9QF9C6", "reaction": "eyes",
    "item": {"type": "message", "channel": "C024BE91L", "ts": "1712345678.000100"},
    "item_user": "U0G9QF9C6", "event_ts": "1712346400.001100"
  })");
  const Translation t = translate(reaction);
  EXPECT_FALSE(t.event);
  EXPECT_NE(t.ignored_because.find("reaction_added"), std::string::npos);
}

TEST(SlackEventsApi, AnOrgWideGridInstallIsTheEnterprise) {
  json grid = envelope(user_message());
  grid["enterprise_id"] = "E0ORG";
  grid["team_id"] = "T0WS1";
  grid["context_team_id"] = "T0WS1";
  grid["context_enterprise_id"] = "E0ORG";
  grid["authorizations"] = json::parse(R"([{"enterprise_id": "E0ORG", "team_id": null,
    "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": true}])");
  const Translation t = translate_event_callback(grid, kApp);
  expect_well_formed(t);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["installation"], "E0ORG");
}

TEST(SlackEventsApi, AWorkspaceInstallInsideAGridIsTheTeam) {
  json grid = envelope(user_message());
  grid["enterprise_id"] = "E0ORG";
  grid["team_id"] = "T0WS1";
  grid["authorizations"] = json::parse(R"([{"enterprise_id": "E0ORG", "team_id": "T0WS1",
    "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false}])");
  EXPECT_EQ(installation_of(grid), "T0WS1");
}

TEST(SlackEventsApi, InstallationOfFindsTheTeamWhereEachPayloadPutsIt) {
  EXPECT_EQ(installation_of(json::parse(R"({"team_id": "T1"})")), "T1");
  // Interactivity payloads: team and enterprise are objects.
  EXPECT_EQ(installation_of(json::parse(R"({"team": {"id": "T2", "domain": "plant"}})")), "T2");
  EXPECT_EQ(installation_of(json::parse(R"({"event": {"team": "T3"}})")), "T3");
  EXPECT_EQ(installation_of(json::parse(R"({"is_enterprise_install": true,
      "team": null, "enterprise": {"id": "E4", "name": "Org"}})")),
            "E4");
  EXPECT_EQ(installation_of(json::parse(R"({"is_enterprise_install": true, "enterprise_id": "E5",
      "team_id": "T5"})")),
            "E5");
}

TEST(SlackEventsApi, AnOrgWideInstallWithoutAnEnterpriseIdHasNoInstallation) {
  // Falling back to the team would file an org's event under one of its workspaces.
  EXPECT_EQ(installation_of(json::parse(R"({"team_id": "T1",
      "authorizations": [{"is_enterprise_install": true, "enterprise_id": null}]})")),
            "");
  json grid = envelope(user_message());
  grid["authorizations"][0]["is_enterprise_install"] = true;
  const Translation t = translate_event_callback(grid, kApp);
  EXPECT_FALSE(t.event);
  EXPECT_FALSE(t.ignored_because.empty());
}

TEST(SlackEventsApi, InstallationOfHostileShapesIsEmpty) {
  for (const char* payload :
       {"null", "[]", "\"T1\"", "42", "{}", R"({"team_id": 7})", R"({"team_id": ""})",
        R"({"team": "T1"})", R"({"authorizations": {"is_enterprise_install": true}})",
        R"({"event": []})"}) {
    EXPECT_EQ(installation_of(json::parse(payload)), "") << payload;
  }
}

TEST(SlackEventsApi, ADeliveryWithoutTeamOrEventIdIsIgnored) {
  json no_team = envelope(user_message());
  no_team.erase("team_id");
  no_team["event"].erase("team");
  json no_event_id = envelope(user_message());
  no_event_id.erase("event_id");
  json empty_event_id = envelope(user_message(), "");
  for (const json& delivery : {no_team, no_event_id, empty_event_id}) {
    const Translation t = translate_event_callback(delivery, kApp);
    EXPECT_FALSE(t.event) << delivery.dump();
    EXPECT_FALSE(t.ignored_because.empty());
  }
}

TEST(SlackEventsApi, TheIdempotencyKeyStaysWithin512Bytes) {
  const std::string longest(512 - 6, 'E');
  const Translation fits = translate_event_callback(envelope(user_message(), longest), kApp);
  ASSERT_TRUE(fits.event) << fits.ignored_because;
  EXPECT_EQ((*fits.event)["idempotency_key"].get<std::string>().size(), 512U);
  const Translation too_long =
      translate_event_callback(envelope(user_message(), longest + "E"), kApp);
  EXPECT_FALSE(too_long.event);
}

TEST(SlackEventsApi, HostileEnvelopesNeverThrowAndAlwaysSayWhy) {
  for (const char* body :
       {"null",
        "[]",
        "42",
        "\"event_callback\"",
        "{}",
        R"({"type": 1})",
        R"({"type": "event_callback"})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1"})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": []})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": "message"})",
        R"({"type": "event_callback", "event_id": ["Ev1"], "team_id": "T1", "event": {}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": {}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": ["message"]}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "subtype": 5}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "channel": {"id": "C1"}, "user": "U1", "ts": "1",
                      "text": "x"}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "channel": "C1", "user": "U1", "ts": "1",
                      "text": {"t": "x"}}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "channel": "C1", "user": "U1", "ts": "1"}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "channel": "C1", "user": "U1", "ts": "1",
                      "files": {"id": "F1"}}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "message", "subtype": "message_changed", "channel": "C1",
                      "message": "edited"}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "app_mention", "channel": "C1", "user": "U1", "ts": "1",
                      "text": "<@U0BOT"}})",
        R"({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
            "event": {"type": "member_joined_channel", "channel": ["C1"], "user": "U1"}})"}) {
    Translation t;
    ASSERT_NO_THROW(t = translate_event_callback(json::parse(body), kApp)) << body;
    expect_well_formed(t);
    EXPECT_FALSE(t.event) << body << " -> " << t.event->dump();
  }
}

TEST(SlackEventsApi, BytesThatAreNotUtf8AreNotPassedOn) {
  // A json parsed from a body is always UTF-8; one built in memory need not be.
  json message = user_message();
  message["text"] = "pump \xFF down";
  EXPECT_FALSE(translate(message).event);
  json channel = user_message();
  channel["channel"] = "C\xC3";
  EXPECT_FALSE(translate(channel).event);
}

TEST(SlackEventsApi, HugeStringsPassThroughUnharmed) {
  json message = user_message();
  message["text"] = std::string(4 * 1024 * 1024, 'x');
  const Translation t = translate(message);
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["text"].get_ref<const std::string&>().size(), 4U * 1024 * 1024);
  json subtype = user_message();
  subtype["subtype"] = std::string(100000, 's');
  const Translation ignored = translate(subtype);
  EXPECT_FALSE(ignored.event);
  EXPECT_LT(ignored.ignored_because.size(), 200U) << "the reason quotes the subtype whole";
}

// Every value of every fixture, replaced in turn by each hostile value: the translation
// never throws and gives a well-formed event or a reason.
void visit_paths(const json& value, const json::json_pointer& at,
                 std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      visit_paths(child, at / key, out);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      visit_paths(value[i], at / i, out);
    }
  }
}

TEST(SlackEventsApi, EveryFieldReplacedByAWrongTypeStaysSafe) {
  const std::array hostile{json(nullptr),
                           json(42),
                           json(-1.5),
                           json(true),
                           json(""),
                           json::array(),
                           json::object(),
                           json("U0BOT"),
                           json(std::string(70000, 'y')),
                           json::array({1, "x", nullptr})};
  const std::vector<json> fixtures{user_message(),
                                   thread_reply(),
                                   file_share(),
                                   edited_by_person(),
                                   edited_by_us(),
                                   deleted_by_person(),
                                   app_mention("<@U0BOT> declare Pump down sev2"),
                                   member_joined()};
  int translations = 0;
  for (const json& event : fixtures) {
    const json original = envelope(event);
    std::vector<json::json_pointer> paths;
    visit_paths(original, json::json_pointer(), paths);
    for (const auto& path : paths) {
      for (const json& replacement : hostile) {
        json mutated = original;
        mutated[path] = replacement;
        Translation t;
        ASSERT_NO_THROW(t = translate_event_callback(mutated, kApp)) << path.to_string();
        expect_well_formed(t);
        ++translations;
      }
    }
  }
  EXPECT_GT(translations, 1000);
}

// ---- slash commands ----

FormFields slash_command() {
  return {{"token", "gIkuvaNzQIHg97ATvDxqgjtO"},
          {"team_id", "T024BE7LD"},
          {"team_domain", "plant-a"},
          {"channel_id", "C024BE91L"},
          {"channel_name", "control-room"},
          {"user_id", "U0G9QF9C6"},
          {"user_name", "alice"},
          {"command", "/incident"},
          {"text", "declare Pump down sev2"},
          {"api_app_id", "A0APP"},
          {"is_enterprise_install", "false"},
          {"response_url", "https://hooks.slack.com/commands/T024BE7LD/1234567890/abcdefgh"},
          {"trigger_id", "13345224609.738474920.8088930838d88f008e0"}};
}

Translation run(const FormFields& fields, std::string_view expected = "/incident") {
  Translation t = translate_slash_command(fields, expected);
  expect_well_formed(t);
  return t;
}

TEST(SlackSlashCommand, BecomesACommandEvent) {
  const Translation t = run(slash_command());
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ(*t.event, json::parse(R"({
    "v": 1, "type": "command",
    "idempotency_key": "slack:command:13345224609.738474920.8088930838d88f008e0",
    "installation": "T024BE7LD",
    "channel": {"id": "C024BE91L", "name": "control-room"},
    "user": {"id": "U0G9QF9C6", "name": "alice"},
    "text": "declare Pump down sev2"
  })"));
}

TEST(SlackSlashCommand, TextIsTrimmedAndEmptyTextIsHelp) {
  FormFields fields = slash_command();
  fields["text"] = "  status mitigated \n";
  EXPECT_EQ((*run(fields).event)["text"], "status mitigated");
  fields["text"] = "";
  EXPECT_EQ((*run(fields).event)["text"], "help");
  fields.erase("text");
  EXPECT_EQ((*run(fields).event)["text"], "help");
}

TEST(SlackSlashCommand, TheCommandIsComparedCaseInsensitively) {
  FormFields fields = slash_command();
  fields["command"] = "/Incident";
  EXPECT_TRUE(run(fields).event);
  fields["command"] = "/deploy";
  const Translation other = run(fields);
  EXPECT_FALSE(other.event);
  EXPECT_NE(other.ignored_because.find("/deploy"), std::string::npos);
}

TEST(SlackSlashCommand, AnOrgWideInstallIsTheEnterprise) {
  FormFields fields = slash_command();
  fields["enterprise_id"] = "E0ORG";
  fields["enterprise_name"] = "Globular Construct Inc";
  fields["is_enterprise_install"] = "true";
  EXPECT_EQ((*run(fields).event)["installation"], "E0ORG");
  fields["is_enterprise_install"] = "false";
  EXPECT_EQ((*run(fields).event)["installation"], "T024BE7LD");
  fields["is_enterprise_install"] = "true";
  fields.erase("enterprise_id");
  EXPECT_FALSE(run(fields).event);
}

TEST(SlackSlashCommand, MissingIdentifyingFieldsAreIgnoredWithAReason) {
  for (const char* field : {"trigger_id", "channel_id", "user_id", "team_id", "command"}) {
    FormFields fields = slash_command();
    fields.erase(field);
    const Translation t = run(fields);
    EXPECT_FALSE(t.event) << field;
    EXPECT_FALSE(t.ignored_because.empty());
    fields = slash_command();
    fields[field] = "";
    EXPECT_FALSE(run(fields).event) << field;
  }
}

TEST(SlackSlashCommand, PlaceholderChannelNamesAreLeftOut) {
  FormFields fields = slash_command();
  for (const char* placeholder : {"privategroup", "directmessage"}) {
    fields["channel_name"] = placeholder;
    const Translation t = run(fields);
    ASSERT_TRUE(t.event);
    EXPECT_FALSE((*t.event)["channel"].contains("name")) << placeholder;
  }
  fields.erase("channel_name");
  fields.erase("user_name");
  const Translation t = run(fields);
  ASSERT_TRUE(t.event);
  EXPECT_EQ((*t.event)["channel"], json({{"id", "C024BE91L"}}));
  EXPECT_EQ((*t.event)["user"], json({{"id", "U0G9QF9C6"}}));
}

TEST(SlackSlashCommand, AnOverlongTriggerIdOrNonUtf8FieldIsIgnored) {
  FormFields fields = slash_command();
  fields["trigger_id"] = std::string(600, '1');
  EXPECT_FALSE(run(fields).event);
  fields = slash_command();
  fields["user_id"] = "U\xFF";
  EXPECT_FALSE(run(fields).event);
}

TEST(SlackSlashCommand, SlacksSignedExampleBodyParsesAndTranslates) {
  // The body of Slack's signing example: parse_form and the translation together.
  const auto fields = parse_form(
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
      "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
      "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
      "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
      "803a0bc887a14d10d2c447fce8b6703c");
  ASSERT_TRUE(fields);
  const Translation t = run(*fields, "/webhook-collect");
  ASSERT_TRUE(t.event) << t.ignored_because;
  EXPECT_EQ((*t.event)["installation"], "T1DC2JH3J");
  EXPECT_EQ((*t.event)["channel"]["name"], "foobar");
  EXPECT_EQ((*t.event)["user"]["name"], "roadrunner");
  EXPECT_EQ((*t.event)["text"], "help");
  EXPECT_EQ((*t.event)["idempotency_key"],
            "slack:command:398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
}

}  // namespace
}  // namespace haveri::slack
