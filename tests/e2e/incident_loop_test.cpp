// The whole incident loop through the real haverid, the real local plugin and HTTP
// over loopback: declare, talk, severity, lead, acknowledge, mitigate, resolve
// with the summary form, close, follow-ups; and restarts in the middle of it.
#include <csignal>

#include <gmock/gmock.h>

#include "daemon_test.hpp"

namespace {

using namespace haveri::testing;
using ::testing::HasSubstr;

class IncidentLoopEndToEnd : public DaemonTest {
 protected:
  // Posts to the local transport's form endpoint as `user`.
  haveri::http::ClientResponse submit_form(const std::string& channel, const std::string& user,
                                           const std::string& form_id, const nlohmann::json& values,
                                           const std::string& id) {
    nlohmann::json body = {{"channel", channel},
                           {"user", user},
                           {"form_id", form_id},
                           {"values", values},
                           {"client_message_id", id}};
    return client_->request("POST", "/hooks/local/messages", body.dump(), "application/json");
  }

  // The local transport's messages of a channel as `user` sees them.
  nlohmann::json messages(const std::string& channel, const std::string& user = "") {
    std::string target = "/hooks/local/messages?channel=" + channel + "&after=0";
    if (!user.empty()) {
      target += "&user=" + user;
    }
    auto response = client_->get(target);
    EXPECT_EQ(response.status, 200) << response.body;
    return nlohmann::json::parse(response.body)["messages"];
  }

  // Waits (bounded) until a message of `channel` visible to `user` satisfies `ready`.
  nlohmann::json await_message(const std::string& channel, const std::string& user,
                               const std::function<bool(const nlohmann::json&)>& ready) {
    for (int i = 0; i < 200; ++i) {
      for (const auto& message : messages(channel, user)) {
        if (ready(message)) {
          return message;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "no such message in #" << channel << ": " << messages(channel, user).dump(2)
                  << "\nlog:\n"
                  << daemon_->log();
    return nullptr;
  }

  static bool has_form(const nlohmann::json& message, const std::string& form_id) {
    return message.contains("message") && message["message"].contains("form") &&
           message["message"]["form"].value("id", "") == form_id;
  }

  // Waits until everything the daemon owes the plugins has been delivered.
  void await_outbox_drained() {
    await("/api/v1/outbox", [](const nlohmann::json& doc) {
      return doc.value("queued", 1) == 0 && doc.value("in_flight", 1) == 0;
    });
  }

  std::string declare(const std::string& text) {
    EXPECT_EQ(say("general", "alice", "/incident declare " + text, "declare").status, 200);
    auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
      return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
    });
    return incidents["incidents"][0]["channel"].value("name", "");
  }
};

TEST_F(IncidentLoopEndToEnd, DeclareToCloseWithSummaryAndFollowUps) {
  const std::string channel = declare("Conveyor 4 jammed sev2");
  ASSERT_EQ(channel, "inc-1-conveyor-4-jammed");
  // The triage card carries the triage form; the global card is in #general.
  await_message(channel, "alice", [](const auto& m) { return has_form(m, "triage:1"); });
  ASSERT_EQ(say(channel, "bob", "belt slipped off the rollers", "l-1").status, 200);
  ASSERT_EQ(say(channel, "alice", "/incident sev sev1", "l-2").status, 200);
  ASSERT_EQ(say(channel, "alice", "/incident lead @bob", "l-3").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident ack", "l-4").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident status mitigated", "l-5").status, 200);
  ASSERT_EQ(submit_form(channel, "alice", "triage:1",
                        {{"line_stopped", "yes"}, {"safety_risk", "no"}, {"impact", "line 4 idle"}},
                        "l-6")
                .status,
            200);

  // Resolve: the form goes to bob only; his submission resolves the incident.
  ASSERT_EQ(say(channel, "bob", "/incident resolve", "l-7").status, 200);
  await_message(channel, "bob", [](const auto& m) { return has_form(m, "resolve:1"); });
  for (const auto& message : messages(channel, "carol")) {
    EXPECT_FALSE(has_form(message, "resolve:1")) << "carol sees bob's form";
  }
  ASSERT_EQ(submit_form(channel, "bob", "resolve:1",
                        {{"what_happened", "The belt came off conveyor 4"},
                         {"root_cause", "A worn tensioner"},
                         {"resolution", "Replaced the tensioner"},
                         {"lines_affected", "1"},
                         {"units_lost", "340"}},
                        "l-8")
                .status,
            200);
  auto resolved = await("/api/v1/incidents/1", [](const nlohmann::json& doc) {
    return doc.value("status", "") == "RESOLVED";
  });
  EXPECT_EQ(resolved["summary"]["root_cause"], "A worn tensioner");
  EXPECT_EQ(resolved["summary"]["impact"]["units_lost"], 340);
  EXPECT_FALSE(resolved["metrics"]["time_to_acknowledge_ms"].is_null());
  EXPECT_FALSE(resolved["metrics"]["time_to_resolve_ms"].is_null());
  EXPECT_EQ(resolved["triage"]["line_stopped"], "yes");
  EXPECT_EQ(resolved["lead"]["member"], "local:bob");

  // Close; the close message offers the follow-up form.
  ASSERT_EQ(say(channel, "bob", "/incident close", "l-9").status, 200);
  await_message(channel, "bob", [](const auto& m) { return has_form(m, "followup:1"); });
  ASSERT_EQ(submit_form(
                channel, "bob", "followup:1",
                {{"description", "Order spare tensioners"}, {"assignee", "@alice"}, {"due", "+2d"}},
                "l-10")
                .status,
            200);
  ASSERT_EQ(
      say(channel, "alice", "/incident followup Inspect all belts @bob due:+1d", "l-11").status,
      200);
  auto follow_ups = await("/api/v1/follow-ups?organization=default",
                          [](const auto& doc) { return doc["follow_ups"].size() == 2; });
  EXPECT_EQ(follow_ups["follow_ups"][0]["description"], "Order spare tensioners");
  EXPECT_EQ(follow_ups["follow_ups"][0]["assignee"]["member"], "local:alice");
  EXPECT_EQ(
      api("/api/v1/follow-ups?organization=default&assignee=local%3Abob")["follow_ups"].size(), 1u);
  EXPECT_EQ(client_->get("/api/v1/follow-ups", kAuth).status, 400);  // which organization?
  ASSERT_EQ(say(channel, "bob", "/incident followup done 2", "l-12").status, 200);
  await("/api/v1/incidents/1", [](const nlohmann::json& doc) {
    return doc["follow_ups"].size() == 2 && doc["follow_ups"][1]["status"] == "DONE";
  });
  EXPECT_EQ(api("/api/v1/incidents/1")["status"], "CLOSED");

  // The global card in #general was posted once and edited in place.
  await_outbox_drained();
  int cards = 0;
  for (const auto& message : messages("general")) {
    if (message.contains("message") &&
        message["message"].value("title", "").starts_with("INC-1 · SEV1")) {
      ++cards;
      EXPECT_TRUE(message.value("edited", false));
      EXPECT_THAT(message["message"].dump(), HasSubstr("CLOSED"));
    }
  }
  EXPECT_EQ(cards, 1);
  auto outbox = api("/api/v1/outbox");
  EXPECT_EQ(outbox["failed"], 0) << outbox.dump(2);
  EXPECT_GT(outbox["done"].get<int>(), 10);

  // haverictl shows the whole story in words.
  auto human =
      run_program(build_dir() / "bin" / "haverictl", {"--url", url(), "timeline", "1"}, dir_.path(),
                  std::nullopt, {std::string("HAVERI_API_TOKEN=") + kTestToken});
  EXPECT_EQ(human.exit_code, 0) << human.output;
  for (const char* line :
       {"triage: impact=line 4 idle line_stopped=yes safety_risk=no",
        "summary: The belt came off conveyor 4 | root cause: A worn tensioner", "closed",
        "follow-up #1 created: Order spare tensioners \xE2\x86\x92 alice",
        "follow-up #2 status: DONE", "summary card posted in #general"}) {
    EXPECT_THAT(human.output, HasSubstr(line));
  }

  // A closed incident refuses changes, and says so.
  ASSERT_EQ(say(channel, "alice", "/incident sev sev3", "l-13").status, 200);
  EXPECT_THAT(await_channel_text(channel, "is CLOSED; a closed incident"),
              HasSubstr("is CLOSED; a closed incident"));
}

TEST_F(IncidentLoopEndToEnd, RestartInTheMiddleLosesNothingAndSendsNothingTwice) {
  const std::string channel = declare("Press 2 hydraulic leak sev2");
  ASSERT_EQ(say(channel, "bob", "oil on the floor", "r-1").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident lead me", "r-2").status, 200);
  await_outbox_drained();
  ASSERT_EQ(daemon_->terminate(), 0) << daemon_->log();

  start();
  // Everything was confirmed before the stop: the new plugin instance gets nothing
  // old, not even once more.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(messages(channel).empty()) << messages(channel).dump(2);
  EXPECT_TRUE(messages("general").empty()) << messages("general").dump(2);

  // A SIGKILL right after a command: what was acknowledged is stored, and what it
  // still owed the chat is sent after the next start, at most once to this plugin
  // (whether the killed one got it first is a race; the in-process loop test
  // covers that moment exactly).
  ASSERT_EQ(say(channel, "bob", "/incident status investigating", "r-3").status, 200);
  ASSERT_TRUE(daemon_->terminate(std::chrono::seconds(10), SIGKILL).has_value());
  start();
  auto incident = await("/api/v1/incidents/1", [](const nlohmann::json& doc) {
    return doc.value("status", "") == "INVESTIGATING";
  });
  EXPECT_EQ(incident["lead"]["id"], "bob");
  await_outbox_drained();
  const std::string shown = channel_text(channel);
  const std::string change = "Status changed from DECLARED to INVESTIGATING";
  const auto first = shown.find(change);
  EXPECT_TRUE(first == std::string::npos || shown.find(change, first + 1) == std::string::npos)
      << shown;
  // The new local transport no longer knows the global card (its chat lives in
  // memory): the edit finds no message and the card is posted anew, once.
  int cards = 0;
  for (const auto& message : messages("general")) {
    cards += message.contains("message") &&
                     message["message"].value("title", "").starts_with("INC-1 · SEV2")
                 ? 1
                 : 0;
  }
  EXPECT_LE(cards, 1);
  // The loop goes on: each change is recorded once.
  ASSERT_EQ(say(channel, "bob", "/incident ack", "r-4").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident ack", "r-4").status, 200);  // a platform retry
  auto timeline = await("/api/v1/incidents/1/events", [](const nlohmann::json& doc) {
    return doc["incident"]["acknowledged_by"].is_object();
  });
  int acknowledgements = 0;
  int messages_recorded = 0;
  for (const auto& event : timeline["events"]) {
    acknowledgements += event["type"] == "acknowledgement" ? 1 : 0;
    messages_recorded += event["type"] == "message" ? 1 : 0;
  }
  EXPECT_EQ(acknowledgements, 1);
  EXPECT_EQ(messages_recorded, 1);
}

TEST_F(IncidentLoopEndToEnd, DeclareWithoutSeverityOpensTheTriageFormForTheCaller) {
  ASSERT_EQ(say("general", "dana", "/incident declare Chiller alarm", "f-1").status, 200);
  auto form =
      await_message("general", "dana", [](const auto& m) { return has_form(m, "declare"); });
  EXPECT_EQ(form.value("visible_to", ""), "dana");
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 0u);
  // The plugin checks what the form itself says (a choice not offered: 400) ...
  EXPECT_EQ(submit_form("general", "dana", "declare",
                        {{"title", "Chiller alarm"}, {"severity", "sev9"}}, "f-2")
                .status,
            400);
  // ... the core the rest, reported with the field; nothing is declared.
  ASSERT_EQ(
      submit_form("general", "dana", "declare",
                  {{"title", "Chiller alarm"}, {"severity", "sev2"}, {"assets", "chiller #2"}},
                  "f-2b")
          .status,
      200);
  EXPECT_THAT(await_channel_text("general", "is not an asset id"), HasSubstr("assets:"));
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 0u);
  ASSERT_EQ(submit_form("general", "dana", "declare",
                        {{"title", "Chiller alarm"}, {"severity", "sev2"}}, "f-3")
                .status,
            200);
  auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  EXPECT_EQ(incidents["incidents"][0]["severity"], "SEV2");
  EXPECT_EQ(incidents["incidents"][0]["declared_by"]["member"], "local:dana");
}

TEST_F(IncidentLoopEndToEnd, AnInstallationNoOrganizationClaimsIsRefused) {
  TempDir other;
  auto config = test_config(other.path(), (build_dir() / "plugins").string(),
                            "    - name: local\n      plugin: local\n      settings:\n"
                            "        installation: not-ours\n");
  write_file(other.path() / "haveri.yaml", config);
  Haverid stranger(other.path() / "haveri.yaml", other.path() / "haverid.log");
  BlockingClient client(haveri::http::BaseUrl{"127.0.0.1", stranger.port(), ""});
  auto response = client.request(
      "POST", "/hooks/local/messages",
      R"({"channel":"general","user":"mallory","text":"/incident declare Fake sev1"})",
      "application/json");
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_THAT(stranger.log(), HasSubstr("no organization claims local installation"));
  auto list = client.get("/api/v1/incidents", kAuth);
  EXPECT_EQ(nlohmann::json::parse(list.body)["incidents"].size(), 0u);
}

}  // namespace
