// Escalation end to end: the real haverid with the real local plugin, a directory
// and policies on disk, pages on the wall clock through the daemon's timer wheel,
// the Acknowledge button pressed in a personal chat, a restart while a step is
// pending, and SIGHUP reloads (a broken set is refused, a good one replaces it).

#include <csignal>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon_test.hpp"

namespace haveri::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kDirectory = R"(organizations:
  - id: acme
    installations: [{platform: local, id: local}]
    announcements: {instance: local, channel: general}
    facilities: [{id: plant-a, time_zone: UTC}]
    areas: [{id: assembly, facility: plant-a}]
    teams:
      - {id: maintenance, facility: plant-a, members: [alice, bob]}
    members:
      - {id: alice, name: Alice, identities: {local: alice}}
      - {id: bob, name: Bob, identities: {local: bob}}
      - {id: sam, name: Sam, identities: {local: sam}}
)";

// SEV2: the team now, Sam after `supervisor_after` unless acknowledged.
std::string policies(const std::string& supervisor_after,
                     const std::string& first = "team: maintenance") {
  return "policies:\n"
         "  - name: sev2\n"
         "    facility: plant-a\n"
         "    match: {severity: SEV2}\n"
         "    steps:\n"
         "      - notify: {" +
         first +
         "}\n"
         "      - after: " +
         supervisor_after +
         "\n"
         "        notify: {members: [sam]}\n";
}

class EscalationEndToEnd : public DaemonTest {
 protected:
  void SetUp() override {
    config_ = dir_.path() / "haveri.yaml";
    write_file(dir_.path() / "directory.yaml", kDirectory);
    write_file(dir_.path() / "policies" / "plant-a.yaml", policies("3s"));
    write_file(config_, test_config(dir_.path()) +
                            "directory:\n  path: " + (dir_.path() / "directory.yaml").string() +
                            "\npolicies:\n  path: " + (dir_.path() / "policies").string() +
                            "\n  tick_ms: 20\n");
    start();
  }

  // Waits (bounded, up to `limit`) until `channel` shows `needle`.
  bool channel_shows(const std::string& channel, const std::string& needle,
                     std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (channel_text(channel).find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  nlohmann::json timeline(int incident) {
    return api("/api/v1/incidents/" + std::to_string(incident) + "/events");
  }

  std::vector<nlohmann::json> escalations(int incident) {
    std::vector<nlohmann::json> out;
    const nlohmann::json document = timeline(incident);
    for (const auto& event : document["events"]) {
      if (event.value("type", "") == "escalation") {
        out.push_back(event["payload"]);
      }
    }
    return out;
  }

  bool await_escalations(int incident, std::size_t count, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (escalations(incident).size() >= count) {
        return true;
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  void sighup() { ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0); }

  bool log_shows(const std::string& needle, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (daemon_->log().find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }
};

TEST_F(EscalationEndToEnd, UnacknowledgedTheChainRunsOnTheWallClock) {
  const auto declared = std::chrono::steady_clock::now();
  ASSERT_EQ(say("general", "carol", "/incident declare Pump 3 down sev2").status, 200);
  ASSERT_TRUE(channel_shows("dm-alice", "Page: INC-1")) << daemon_->log();
  EXPECT_TRUE(channel_shows("dm-bob", "Page: INC-1"));
  EXPECT_THAT(channel_text("dm-alice"), HasSubstr("[1 Acknowledge]"));
  // Sam's page is due 3 s after the declaration, not before.
  EXPECT_THAT(channel_text("dm-sam"), Not(HasSubstr("Page: INC-1")));
  ASSERT_TRUE(channel_shows("dm-sam", "Page: INC-1", 10s)) << daemon_->log();
  EXPECT_GE(std::chrono::steady_clock::now() - declared, 2900ms);
  const auto pages = escalations(1);
  ASSERT_EQ(pages.size(), 2U) << timeline(1).dump(1);
  EXPECT_EQ(pages[1]["step"], 2);
  EXPECT_EQ(pages[1]["late"], false);
  EXPECT_EQ(pages[1]["notified"][0]["member"], "sam");
  // The incident's channel says who was paged.
  EXPECT_TRUE(channel_shows("inc-1-pump-3-down", "paged Alice and Bob"));
}

TEST_F(EscalationEndToEnd, TheAcknowledgeButtonOfAPageStopsTheChain) {
  ASSERT_EQ(say("general", "carol", "/incident declare Pump 3 down sev2").status, 200);
  ASSERT_TRUE(channel_shows("dm-alice", "Page: INC-1")) << daemon_->log();
  // Alice presses the button in her personal chat: it runs "ack INC-1" there.
  ASSERT_EQ(say("dm-alice", "alice", "/incident ack INC-1").status, 200);
  EXPECT_TRUE(channel_shows("dm-alice", "You acknowledged INC-1"));
  await("/api/v1/incidents/1/events", [](const nlohmann::json& doc) {
    for (const auto& event : doc["events"]) {
      if (event.value("type", "") == "escalation_stopped") {
        return true;
      }
    }
    return false;
  });
  std::this_thread::sleep_for(4s);  // past Sam's due time
  EXPECT_THAT(channel_text("dm-sam"), Not(HasSubstr("Page")));
  EXPECT_EQ(escalations(1).size(), 1U);
  EXPECT_EQ(api("/api/v1/incidents/1")["acknowledged_by"]["member"], "alice");
}

TEST_F(EscalationEndToEnd, AStepDueWhileHaveridWasStoppedFiresOnceAfterTheRestartMarkedLate) {
  ASSERT_EQ(say("general", "carol", "/incident declare Pump 3 down sev2").status, 200);
  ASSERT_TRUE(await_escalations(1, 1)) << daemon_->log();
  ASSERT_EQ(daemon_->terminate(), 0);
  std::this_thread::sleep_for(3500ms);  // Sam's step falls due meanwhile
  start();
  ASSERT_TRUE(await_escalations(1, 2)) << daemon_->log();
  const auto pages = escalations(1);
  EXPECT_EQ(pages[1]["late"], true);
  EXPECT_TRUE(channel_shows("dm-sam", "Late: this page was due"));
  // Nothing more fires, now or after one more restart.
  ASSERT_EQ(daemon_->terminate(), 0);
  start();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(escalations(1).size(), 2U);
  const std::string sam = channel_text("dm-sam");
  EXPECT_EQ(sam.find("Page: INC-1"), sam.rfind("Page: INC-1")) << sam;
}

TEST_F(EscalationEndToEnd, SighupWithABrokenPolicyKeepsTheRunningSetAndAGoodOneReplacesIt) {
  write_file(dir_.path() / "policies" / "plant-a.yaml", policies("15x") + "    colour: red\n");
  sighup();
  ASSERT_TRUE(log_shows("reload refused")) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_THAT(log, HasSubstr("plant-a.yaml:7:16"));  // after: 15x
  EXPECT_THAT(log, HasSubstr("colour"));
  // Still the old set: Alice and Bob are paged.
  ASSERT_EQ(say("general", "carol", "/incident declare Pump 3 down sev2").status, 200);
  ASSERT_TRUE(channel_shows("dm-alice", "Page: INC-1")) << daemon_->log();

  write_file(dir_.path() / "policies" / "plant-a.yaml", policies("1h", "members: [bob]"));
  sighup();
  ASSERT_TRUE(log_shows("reloaded: 1 organization(s), 1 escalation policy")) << daemon_->log();
  ASSERT_EQ(say("general", "carol", "/incident declare Press 2 slow sev2").status, 200);
  ASSERT_TRUE(channel_shows("dm-bob", "Page: INC-2")) << daemon_->log();
  std::this_thread::sleep_for(300ms);
  EXPECT_THAT(channel_text("dm-alice"), Not(HasSubstr("INC-2")));
}

TEST(EscalationStartup, AnInvalidPolicySetStopsTheDaemonFromStarting) {
  TempDir dir;
  write_file(dir.path() / "directory.yaml", kDirectory);
  write_file(dir.path() / "policies" / "broken.yaml",
             "policies:\n  - name: sev2\n    facility: plant-b\n    steps:\n"
             "      - notify: {team: nobody}\n");
  write_file(dir.path() / "haveri.yaml",
             test_config(dir.path()) +
                 "directory:\n  path: " + (dir.path() / "directory.yaml").string() +
                 "\npolicies:\n  path: " + (dir.path() / "policies").string() + "\n");
  for (const bool check_only : {true, false}) {
    std::vector<std::string> args = {"--config", (dir.path() / "haveri.yaml").string()};
    if (check_only) {
      args.emplace_back("--check-config");
    }
    const auto result = run_program(build_dir() / "bin" / "haverid", args, dir.path());
    EXPECT_EQ(result.exit_code, 3) << result.output;
    EXPECT_THAT(result.output, HasSubstr("broken.yaml:3:15"));  // facility: plant-b
    EXPECT_THAT(result.output, HasSubstr("\"nobody\""));
  }
}

}  // namespace
}  // namespace haveri::testing
