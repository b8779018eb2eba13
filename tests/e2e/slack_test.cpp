// The whole incident loop as Slack drives it: the real haverid loads the real
// libhaveri_slack.so, Slack's side is played by a fake Slack on loopback
// (tests/fakes/slack) — signed requests to /hooks/slack/… in events mode, envelopes on
// a WebSocket in Socket Mode — and every Web API call the plugin makes goes to the
// fake, which checks tokens, Block Kit limits and trigger lifetimes as Slack does.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>

#include "daemon_test.hpp"
#include "slack/fake_slack.hpp"

namespace {

using namespace haveri::testing;
using haveri::fakes::DriverResponse;
using haveri::fakes::FakeSlack;
using haveri::fakes::Fault;
using haveri::fakes::SigningOptions;
using haveri::fakes::SlackDriver;
using haveri::fakes::SlackPayloads;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(15);

class SlackEndToEnd : public DaemonTest {
 protected:
  void SetUp() override {}  // each test starts the daemon in the mode it needs

  void start_daemon(const std::string& mode) {
    slack_ = std::make_unique<FakeSlack>();
    general_ = slack_->add_channel("general", {"U0ALICE", "U0BOB", "U0BOT"});
    announcements_ = slack_->add_channel("incidents", {"U0BOT"});
    write_file(dir_.path() / "slack-signing-secret", "fake-signing-secret\n");
    write_file(dir_.path() / "slack-bot-token", "xoxb-fake-bot-token\n");
    write_file(dir_.path() / "slack-app-token", "xapp-fake-app-token\n");
    const std::string base = "http://127.0.0.1:" + std::to_string(slack_->port());
    const std::string instances =
        "    - name: slack\n      plugin: slack\n      settings:\n"
        "        mode: " +
        mode +
        "\n"
        "        signing_secret_file: " +
        (dir_.path() / "slack-signing-secret").string() +
        "\n"
        "        bot_token_file: " +
        (dir_.path() / "slack-bot-token").string() + "\n" +
        (mode == "socket"
             ? "        app_token_file: " + (dir_.path() / "slack-app-token").string() + "\n"
             : std::string()) +
        "        api_base_url: " + slack_->api_base_url() +
        "\n"
        "        response_url_prefix: " +
        base + "/\n";
    write_file(dir_.path() / "directory.yaml",
               "organizations:\n"
               "  - id: acme\n"
               "    name: Acme\n"
               "    installations:\n"
               "      - {platform: slack, id: T0FAKE}\n"
               "    announcements: {instance: slack, channel: " +
                   announcements_ +
                   "}\n"
                   "    facilities:\n"
                   "      - {id: plant-a, name: Plant A, time_zone: Europe/Helsinki}\n"
                   "    members:\n"
                   "      - {id: alice, name: Alice, identities: {slack: U0ALICE}}\n"
                   "      - {id: bob, name: Bob, identities: {slack: U0BOB}}\n");
    config_ = dir_.path() / "haveri.yaml";
    write_file(config_, test_config(dir_.path(), (build_dir() / "plugins").string(), instances) +
                            "directory:\n  path: " + (dir_.path() / "directory.yaml").string() +
                            "\n");
    start();
    hooks_ = url() + "/hooks/slack";
  }

  DriverResponse command(const std::string& text, const std::string& channel,
                         const std::string& user = "U0ALICE", const std::string& trigger = {}) {
    SlackPayloads::SlashCommand slash;
    slash.text = text;
    slash.channel_id = channel;
    slash.channel_name = channel == general_ ? "general" : "incident";
    slash.user_id = user;
    slash.user_name = user == "U0ALICE" ? "alice" : "bob";
    slash.trigger_id = trigger.empty() ? slack_->issue_trigger_id() : trigger;
    slash.response_url = slack_->issue_response_url();
    return driver_.post_slash_command(hooks_ + "/commands", payloads_.slash_command(slash));
  }

  // The incident's channel once the plugin created it in Slack.
  std::string await_incident_channel(int number) {
    auto incident = await("/api/v1/incidents/" + std::to_string(number),
                          [](const json& doc) { return doc["channel"].is_object(); });
    return incident["channel"].value("id", "");
  }

  json timeline(int number) {
    return api("/api/v1/incidents/" + std::to_string(number) + "/events");
  }

  static int count(const json& events, const std::string& type) {
    int n = 0;
    for (const auto& event : events["events"]) {
      n += event.value("type", "") == type ? 1 : 0;
    }
    return n;
  }

  // The value of the first button of the app's messages in `channel` whose command
  // starts with `command`.
  std::optional<std::pair<std::string, haveri::fakes::SlackMessage>> button(
      const std::string& channel, const std::string& command) {
    const auto found = slack_->channel(channel);
    if (!found) {
      return std::nullopt;
    }
    for (const auto& message : found->messages) {
      if (!message.blocks.is_array()) {
        continue;
      }
      for (const auto& block : message.blocks) {
        if (block.value("type", "") != "actions") {
          continue;
        }
        for (const auto& element : block["elements"]) {
          if (element.value("value", "").starts_with(command)) {
            return std::make_pair(element.value("action_id", ""), message);
          }
        }
      }
    }
    return std::nullopt;
  }

  void expect_no_block_kit_violations() {
    for (const auto& violation : slack_->violations()) {
      ADD_FAILURE() << violation.method << ": " << json(violation.errors).dump() << "\n"
                    << violation.request.dump();
    }
  }

  std::unique_ptr<FakeSlack> slack_;
  SlackDriver driver_;
  SlackPayloads payloads_;
  std::string general_;
  std::string announcements_;
  std::string hooks_;
};

TEST_F(SlackEndToEnd, TheWholeIncidentLoopOverTheEventsApi) {
  start_daemon("events");
  // Slack checks the Request URL before it sends anything.
  const auto challenge = driver_.post_event(hooks_ + "/events", payloads_.url_verification("c-42"));
  EXPECT_EQ(challenge.status, 200);
  EXPECT_EQ(challenge.body, "c-42");

  const auto declared = command("declare Pump 2 down sev2", general_);
  ASSERT_EQ(declared.status, 200) << declared.body;
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty());
  const auto created = slack_->channel(channel);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->name, "inc-1-pump-2-down");
  EXPECT_THAT(created->topic, HasSubstr("Pump 2 down"));
  EXPECT_TRUE(slack_->wait_until(
      [&] {
        const auto joined = slack_->channel(channel);
        return joined && std::find(joined->members.begin(), joined->members.end(), "U0ALICE") !=
                             joined->members.end();
      },
      kWait))
      << "the declarer was not invited; invites: " << slack_->calls("conversations.invite").size();
  // The summary card arrives in the announcements channel.
  ASSERT_TRUE(slack_->wait_until(
      [&] {
        const auto incidents = slack_->channel(announcements_);
        return incidents && !incidents->messages.empty();
      },
      kWait));

  // Said in the incident channel: recorded once, also when Slack retries.
  json said = payloads_.event_callback(
      payloads_.message(channel, "U0BOB", "pump 2 breaker tripped, resetting"));
  EXPECT_EQ(driver_.post_event(hooks_ + "/events", said).status, 200);
  SigningOptions retry;
  retry.retry_num = 1;
  retry.retry_reason = "http_timeout";
  EXPECT_EQ(driver_.post_event(hooks_ + "/events", said, retry).status, 200);
  const std::string said_ts = said["event"].value("ts", "");
  // A retry whose first delivery never reached us is simply recorded.
  SigningOptions second_retry;
  second_retry.retry_num = 2;
  second_retry.retry_reason = "http_error";
  EXPECT_EQ(driver_
                .post_event(hooks_ + "/events",
                            payloads_.event_callback(
                                payloads_.message(channel, "U0ALICE", "isolating pump 2")),
                            second_retry)
                .status,
            200);
  // An edit, a thread reply, a file.
  EXPECT_EQ(driver_
                .post_event(hooks_ + "/events",
                            payloads_.event_callback(payloads_.message_changed(
                                channel, "U0BOB", said_ts, "pump 2 breaker tripped twice",
                                "pump 2 breaker tripped, resetting")))
                .status,
            200);
  EXPECT_EQ(
      driver_
          .post_event(hooks_ + "/events", payloads_.event_callback(payloads_.file_share(
                                              channel, "U0BOB", "trend",
                                              {json{{"id", "F1"}, {"name", "pump2-trend.png"}}})))
          .status,
      200);
  auto events = await("/api/v1/incidents/1/events", [](const json& doc) {
    int attachments = 0;
    for (const auto& event : doc["events"]) {
      attachments += event.value("type", "") == "attachment" ? 1 : 0;
    }
    return attachments == 1;
  });
  EXPECT_EQ(count(events, "message"), 3) << events.dump(2);  // two lines, the file's text
  EXPECT_GE(count(events, "annotation"), 1) << events.dump(2);

  // A card button, pressed by Bob.
  std::optional<std::pair<std::string, haveri::fakes::SlackMessage>> ack;
  ASSERT_TRUE(slack_->wait_until([&] { return (ack = button(channel, "ack")).has_value(); }, kWait))
      << "no ack button on the incident card";
  SlackPayloads::ButtonClick click;
  click.action_id = ack->first;
  click.value = "ack";
  click.user_id = "U0BOB";
  click.user_name = "bob";
  click.channel_id = channel;
  click.channel_name = created->name;
  click.message_ts = ack->second.ts;
  click.trigger_id = slack_->issue_trigger_id();
  EXPECT_EQ(
      driver_.post_interaction(hooks_ + "/interactivity", payloads_.block_actions(click)).status,
      200);
  await("/api/v1/incidents/1", [](const json& doc) { return doc["acknowledged_by"].is_object(); });

  // Resolve: the form opens as a modal on the command's trigger, and is submitted.
  ASSERT_EQ(command("resolve", channel, "U0ALICE").status, 200);
  ASSERT_TRUE(slack_->wait_until([&] { return !slack_->views().empty(); }, kWait))
      << "no modal opened\n"
      << daemon_->log();
  const auto view = slack_->views().front();
  const json answers =
      SlackPayloads::state_values(view.view, {{"what_happened", "Pump 2 tripped on overcurrent"},
                                              {"root_cause", "A worn bearing"},
                                              {"resolution", "Bearing replaced"}});
  const auto submitted = driver_.post_interaction(
      hooks_ + "/interactivity", payloads_.view_submission(view.view, answers, "U0ALICE", view.id));
  EXPECT_EQ(submitted.status, 200) << submitted.body;
  EXPECT_TRUE(submitted.body.empty()) << "an empty answer closes the modal: " << submitted.body;
  await("/api/v1/incidents/1",
        [](const json& doc) { return doc.value("status", "") == "RESOLVED"; });
  // The global card was edited in place, not posted again.
  ASSERT_TRUE(slack_->wait_until(
      [&] {
        const auto incidents = slack_->channel(announcements_);
        return incidents && incidents->messages.size() == 1 &&
               !incidents->messages[0].previous_versions.empty() &&
               incidents->messages[0].blocks.dump().find("RESOLVED") != std::string::npos;
      },
      kWait))
      << slack_->channel(announcements_)->messages.size() << " messages in #incidents";

  const json final_events = timeline(1);
  EXPECT_EQ(count(final_events, "acknowledgement"), 1);
  EXPECT_EQ(count(final_events, "message"), 3) << "the retry was not recorded twice";
  expect_no_block_kit_violations();
  EXPECT_THAT(daemon_->log(), ::testing::Not(HasSubstr("xoxb-fake-bot-token")));
  EXPECT_THAT(daemon_->log(), ::testing::Not(HasSubstr("fake-signing-secret")));
}

TEST_F(SlackEndToEnd, RequestsSlackWouldNeverSendAreRefusedAndNothingIsStored) {
  start_daemon("events");
  SlackPayloads::SlashCommand slash;
  slash.text = "declare Boiler down sev1";
  slash.channel_id = general_;
  const auto fields = payloads_.slash_command(slash);

  SigningOptions corrupt;
  corrupt.corrupt_signature = true;
  EXPECT_EQ(driver_.post_slash_command(hooks_ + "/commands", fields, corrupt).status, 401);
  SigningOptions unsigned_request;
  unsigned_request.omit_signature = true;
  EXPECT_EQ(driver_.post_slash_command(hooks_ + "/commands", fields, unsigned_request).status, 401);
  SigningOptions stale;
  stale.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count() -
                    600;
  EXPECT_EQ(driver_.post_slash_command(hooks_ + "/commands", fields, stale).status, 401);
  // Signed by Slack but from a workspace no organization claims.
  auto other_team = fields;
  other_team["team_id"] = "T0OTHER";
  EXPECT_EQ(driver_.post_slash_command(hooks_ + "/commands", other_team).status, 403);
  // Malformed bodies.
  EXPECT_EQ(driver_.post_raw(hooks_ + "/events", "{\"type\":", "application/json").status, 400);
  EXPECT_EQ(
      driver_.post_raw(hooks_ + "/commands", "text=%E2%28", "application/x-www-form-urlencoded")
          .status,
      400);
  EXPECT_EQ(driver_
                .post_raw(hooks_ + "/interactivity", "payload=not-json",
                          "application/x-www-form-urlencoded")
                .status,
            400);
  // Too large for any Slack request: 413, and the connection closed — the server may
  // close it while the client is still sending, which the client sees as a broken pipe.
  try {
    EXPECT_EQ(
        driver_.post_raw(hooks_ + "/events", std::string(2 * 1024 * 1024, 'x'), "application/json")
            .status,
        413);
  } catch (const haveri::http::ClientError& e) {
    EXPECT_THAT(e.what(), ::testing::AnyOf(HasSubstr("Broken pipe"), HasSubstr("reset")));
  }
  // Another app's command.
  auto deploy = fields;
  deploy["command"] = "/deploy";
  const auto hint = driver_.post_slash_command(hooks_ + "/commands", deploy);
  EXPECT_EQ(hint.status, 200);
  EXPECT_THAT(hint.body, HasSubstr("/incident"));

  EXPECT_TRUE(api("/api/v1/incidents")["incidents"].empty());
  EXPECT_EQ(slack_->call_count("conversations.create"), 0U);
  // The one right request afterwards works.
  EXPECT_EQ(driver_.post_slash_command(hooks_ + "/commands", fields).status, 200);
  EXPECT_FALSE(await_incident_channel(1).empty());
}

TEST_F(SlackEndToEnd, SlackErrorsAndRateLimitsAreRetriedAndNothingIsDoubled) {
  start_daemon("events");
  slack_->inject("conversations.create", Fault::server_error(503));
  slack_->inject("conversations.create", Fault::drop_connection());
  slack_->inject("chat.postMessage", Fault::rate_limited(std::chrono::seconds(1)));
  slack_->inject("chat.postMessage", Fault::slack_error("internal_error"));
  ASSERT_EQ(command("declare Compressor 3 trips sev3", general_).status, 200);
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty());
  ASSERT_TRUE(slack_->wait_until(
      [&] {
        const auto incidents = slack_->channel(announcements_);
        const auto incident = slack_->channel(channel);
        return incidents && incidents->messages.size() == 1 && incident &&
               !incident->messages.empty();
      },
      kWait))
      << daemon_->log();
  // Give a duplicate the time to show up, then count.
  await("/api/v1/outbox", [](const json& doc) {
    return doc.value("queued", 1) == 0 && doc.value("in_flight", 1) == 0;
  });
  int made = 0;
  for (const auto& found : slack_->channels()) {
    made += found.name.starts_with("inc-1-") ? 1 : 0;
  }
  EXPECT_EQ(made, 1);
  EXPECT_EQ(slack_->channel(announcements_)->messages.size(), 1U);
  // The 429 was honoured: once it was answered, no chat.postMessage until its
  // Retry-After (1 s) had passed. (A post already on its way when the 429 was
  // answered may arrive just after it.)
  const auto posts = slack_->calls("chat.postMessage");
  bool limited = false;
  for (const auto& limit : posts) {
    if (limit.http_status != 429) {
      continue;
    }
    limited = true;
    for (const auto& post : posts) {
      const auto after = post.received - limit.received;
      EXPECT_FALSE(after > std::chrono::milliseconds(100) && after < std::chrono::milliseconds(950))
          << "a post " << std::chrono::duration_cast<std::chrono::milliseconds>(after).count()
          << " ms after a 429 with Retry-After: 1";
    }
  }
  EXPECT_TRUE(limited) << "the injected 429 was never met";
  expect_no_block_kit_violations();
}

TEST_F(SlackEndToEnd, SocketModeLosesAndDoublesNothingAcrossReconnects) {
  start_daemon("socket");
  ASSERT_TRUE(slack_->wait_for_connections_opened(1, kWait)) << daemon_->log();

  SlackPayloads::SlashCommand slash;
  slash.text = "declare Kiln 1 overheating sev2";
  slash.channel_id = general_;
  slash.trigger_id = slack_->issue_trigger_id();
  slash.response_url = slack_->issue_response_url();
  const std::string declared = slack_->push_envelope(
      "slash_commands", haveri::fakes::to_json(payloads_.slash_command(slash)), true);
  ASSERT_TRUE(slack_->wait_for_ack(declared, kWait)) << daemon_->log();
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty());

  auto say = [&](const std::string& text) {
    return slack_->push_envelope(
        "events_api", payloads_.event_callback(payloads_.message(channel, "U0BOB", text)), false);
  };
  const std::string first = say("kiln 1 at 1350 C");
  ASSERT_TRUE(slack_->wait_for_ack(first, kWait));
  // Slack did not see the acknowledgement and delivers it again.
  ASSERT_TRUE(slack_->redeliver(first));

  // Slack refreshes the connection: a new one opens before the old one goes.
  ASSERT_TRUE(slack_->send_disconnect("refresh_requested", std::chrono::milliseconds(3000)));
  ASSERT_TRUE(slack_->wait_for_connections_opened(2, kWait)) << daemon_->log();
  const std::string second = say("burner 2 shut off");
  ASSERT_TRUE(slack_->wait_for_ack(second, kWait));

  // The connection breaks: reopened with backoff; what Slack sends meanwhile waits for it.
  slack_->drop_connections();
  const std::string third = say("temperature falling");
  ASSERT_TRUE(slack_->wait_for_connections_opened(3, kWait)) << daemon_->log();
  ASSERT_TRUE(slack_->wait_for_ack(third, kWait)) << daemon_->log();

  const json events = await("/api/v1/incidents/1/events", [](const json& doc) {
    int messages = 0;
    for (const auto& event : doc["events"]) {
      messages += event.value("type", "") == "message" ? 1 : 0;
    }
    return messages >= 3;
  });
  EXPECT_EQ(count(events, "message"), 3) << events.dump(2);
  EXPECT_EQ(slack_->open_connections(), 1U);
  expect_no_block_kit_violations();
}

}  // namespace
