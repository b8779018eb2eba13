// The whole walking skeleton through real parts: the haverid binary, the local
// plugin .so, a SQLite file, HTTP over loopback, and haverictl.
#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_test.hpp"

namespace {

using namespace haveri::testing;
using haveri::http::BlockingClient;
using ::testing::HasSubstr;

// Sends raw bytes on a fresh connection and returns what comes back before the
// server closes it (bounded by a 5 s receive timeout).
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

class EndToEnd : public DaemonTest {};

TEST_F(EndToEnd, DeclareChatChangeStatusRestartAndReadTheSameTimelineBack) {
  EXPECT_EQ(client_->get("/healthz").status, 200);

  ASSERT_EQ(say("general", "alice", "/incident declare Database down sev1", "m-1").status, 200);
  auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  ASSERT_EQ(incidents["incidents"].size(), 1u);
  const auto& incident = incidents["incidents"][0];
  EXPECT_EQ(incident["title"], "Database down");
  EXPECT_EQ(incident["severity"], "SEV1");
  EXPECT_EQ(incident["status"], "DECLARED");
  const std::string channel = incident["channel"]["name"];
  EXPECT_EQ(channel, "inc-1-database-down");

  // The card is posted in the new channel; the declaring channel is told where.
  EXPECT_THAT(await_channel_text(channel, "INC-1"), HasSubstr("Database down"));
  EXPECT_THAT(await_channel_text("general", channel), HasSubstr(channel));

  ASSERT_EQ(say(channel, "alice", "primary is not answering", "m-2").status, 200);
  ASSERT_EQ(say(channel, "bob", "failing over to the replica", "m-3").status, 200);
  ASSERT_EQ(say(channel, "alice", "/incident status investigating", "m-4").status, 200);
  // Chatter outside incident channels is not recorded.
  ASSERT_EQ(say("general", "carol", "lunch?", "m-5").status, 200);

  auto timeline = await("/api/v1/incidents/1/events", has_events(5));
  EXPECT_THAT(event_types(timeline), ::testing::ElementsAre("declared", "channel_linked", "message",
                                                            "message", "status_change"));
  EXPECT_EQ(timeline["incident"]["status"], "INVESTIGATING");
  const auto events = people_events(timeline);
  EXPECT_EQ(events[2]["payload"]["text"], "primary is not answering");
  EXPECT_EQ(events[3]["actor"]["id"], "bob");
  EXPECT_EQ(events[3]["actor"]["member"], "local:bob");  // first seen: recorded as a member
  EXPECT_EQ(events[4]["payload"]["to"], "INVESTIGATING");
  EXPECT_THAT(await_channel_text(channel, "INVESTIGATING"), HasSubstr("INVESTIGATING"));

  ASSERT_EQ(daemon_->terminate(), 0) << daemon_->log();
  EXPECT_THAT(daemon_->log(), HasSubstr("haverid stopped"));

  start();
  auto after_restart = api("/api/v1/incidents/1/events");
  EXPECT_EQ(after_restart["events"], timeline["events"]);
  // The metrics are computed at request time; the stored state is the same.
  after_restart["incident"].erase("metrics");
  timeline["incident"].erase("metrics");
  EXPECT_EQ(after_restart["incident"], timeline["incident"]);
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 1u);

  // The incident channel is still an incident channel after the restart.
  ASSERT_EQ(say(channel, "carol", "replica is serving", "m-6").status, 200);
  auto grown = await("/api/v1/incidents/1/events", has_events(6));
  EXPECT_EQ(people_events(grown)[5]["payload"]["text"], "replica is serving");
}

TEST_F(EndToEnd, RetriedDeliveryIsRecordedOnce) {
  ASSERT_EQ(say("general", "alice", "/incident declare Disk full sev2", "d-1").status, 200);
  auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  const std::string channel = incidents["incidents"][0]["channel"]["name"];
  ASSERT_EQ(say(channel, "alice", "cleaning /var/log", "d-2").status, 200);
  ASSERT_EQ(say(channel, "alice", "cleaning /var/log", "d-2").status, 200);  // a retry
  ASSERT_EQ(say("general", "alice", "/incident declare Disk full sev2", "d-1").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto timeline = api("/api/v1/incidents/1/events");
  EXPECT_THAT(event_types(timeline),
              ::testing::ElementsAre("declared", "channel_linked", "message"));
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 1u);
}

TEST_F(EndToEnd, CommandMistakesAreAnsweredInChatAndStoreNothing) {
  ASSERT_EQ(say("general", "alice", "/incident status resolved", "e-1").status, 200);
  EXPECT_THAT(await_channel_text("general", "not one"), HasSubstr("incident channel"));
  ASSERT_EQ(say("general", "alice", "/incident declare Broken sev9", "e-2").status, 200);
  EXPECT_THAT(await_channel_text("general", "sev9"), HasSubstr("unknown severity"));
  ASSERT_EQ(say("general", "alice", "/incident frobnicate", "e-3").status, 200);
  EXPECT_THAT(await_channel_text("general", "frobnicate"), HasSubstr("Usage"));
  ASSERT_EQ(say("general", "alice", "/incident help", "e-4").status, 200);
  EXPECT_THAT(await_channel_text("general", "declare <title>"), HasSubstr("status"));
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 0u);
}

TEST_F(EndToEnd, RefusedTransitionExplainsWhatIsAllowed) {
  ASSERT_EQ(say("general", "alice", "/incident declare Router flapping sev3", "t-1").status, 200);
  auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  const std::string channel = incidents["incidents"][0]["channel"]["name"];
  ASSERT_EQ(say(channel, "alice", "/incident status closed", "t-2").status, 200);
  const std::string text = await_channel_text(channel, "can move to");
  EXPECT_THAT(text, HasSubstr("can move to"));
  EXPECT_THAT(event_types(api("/api/v1/incidents/1/events")),
              ::testing::Not(::testing::Contains("status_change")));
}

TEST_F(EndToEnd, ApiRequiresTheBearerToken) {
  EXPECT_EQ(client_->get("/api/v1/incidents").status, 401);
  EXPECT_EQ(client_->get("/api/v1/incidents", {{"authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(client_->get("/api/v1/incidents", {{"authorization", "Basic abc"}}).status, 401);
  EXPECT_EQ(client_->get("/api/v1/incidents", kAuth).status, 200);
  EXPECT_EQ(client_->get("/api/v1/incidents/42/events", kAuth).status, 404);
  EXPECT_EQ(client_->get("/api/v1/incidents/abc/events", kAuth).status, 404);
  EXPECT_EQ(client_->get("/hooks/nobody/messages").status, 404);
  EXPECT_EQ(client_->get("/nothing-here").status, 404);
}

TEST_F(EndToEnd, HostileRequestsAreRefusedAndTheDaemonStaysUp) {
  // Not JSON, an oversized body, a bad channel name: refused, nothing stored.
  EXPECT_EQ(
      client_->request("POST", "/hooks/local/messages", "{not json", "application/json").status,
      400);
  EXPECT_THAT(raw_exchange(daemon_->port(),
                           "POST /hooks/local/messages HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 413"));
  EXPECT_THAT(raw_exchange(daemon_->port(), "NOT HTTP AT ALL\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(say("../etc", "alice", "/incident declare x").status, 400);
  EXPECT_EQ(client_->get("/healthz").status, 200);
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 0u);
}

TEST_F(EndToEnd, HaverictlPrintsIncidentsAndTimelineForPeopleAndScripts) {
  ASSERT_EQ(say("general", "alice", "/incident declare Payments failing sev1", "c-1").status, 200);
  await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  const auto ctl = build_dir() / "bin" / "haverictl";
  const std::vector<std::string> env = {std::string("HAVERI_API_TOKEN=") + kTestToken};

  auto list = run_program(ctl, {"--url", url(), "incidents"}, dir_.path(), std::nullopt, env);
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("INC-1"));
  EXPECT_THAT(list.output, HasSubstr("Payments failing"));
  EXPECT_THAT(list.output, HasSubstr("SEV1"));

  auto json =
      run_program(ctl, {"--url", url(), "incidents", "--json"}, dir_.path(), std::nullopt, env);
  EXPECT_EQ(json.exit_code, 0) << json.output;
  auto parsed = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.output;

  auto timeline =
      run_program(ctl, {"--url", url(), "timeline", "1"}, dir_.path(), std::nullopt, env);
  EXPECT_EQ(timeline.exit_code, 0) << timeline.output;
  EXPECT_THAT(timeline.output, HasSubstr("declared"));
  EXPECT_THAT(timeline.output, HasSubstr("#inc-1-payments-failing"));

  auto refused = run_program(ctl, {"--url", url(), "incidents"}, dir_.path(), std::nullopt,
                             {"HAVERI_API_TOKEN=wrong-token"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("401"));
  EXPECT_THAT(refused.output, ::testing::Not(HasSubstr("wrong-token")));
}

TEST_F(EndToEnd, RolesSeverityAcknowledgementNotesAndActionsAreRecordedAndShown) {
  ASSERT_EQ(say("general", "alice", "/incident declare Boiler pressure low sev2", "r-1").status,
            200);
  auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
  });
  const std::string channel = incidents["incidents"][0]["channel"]["name"];
  ASSERT_EQ(say(channel, "alice", "/incident sev sev1", "r-2").status, 200);
  ASSERT_EQ(say(channel, "alice", "/incident lead @bob", "r-3").status, 200);
  ASSERT_EQ(say(channel, "alice", "/incident comms me", "r-4").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident ack", "r-5").status, 200);
  ASSERT_EQ(say(channel, "carol", "/incident ack", "r-6").status, 200);  // refused: already
  ASSERT_EQ(say(channel, "bob", "/incident note feed pump 2 tripped", "r-7").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident action restarted feed pump 2", "r-8").status, 200);

  auto timeline = await("/api/v1/incidents/1/events", has_events(8));
  EXPECT_THAT(
      event_types(timeline),
      ::testing::ElementsAre("declared", "channel_linked", "severity_change", "assignment",
                             "comms_assignment", "acknowledgement", "annotation", "action_taken"));
  EXPECT_EQ(timeline["incident"]["severity"], "SEV1");
  EXPECT_EQ(timeline["incident"]["lead"]["id"], "bob");
  EXPECT_EQ(timeline["incident"]["comms_lead"]["id"], "alice");
  EXPECT_EQ(timeline["incident"]["acknowledged_by"]["id"], "bob");
  EXPECT_THAT(await_channel_text(channel, "already acknowledged"),
              HasSubstr("already acknowledged"));

  const auto ctl = build_dir() / "bin" / "haverictl";
  auto human = run_program(ctl, {"--url", url(), "timeline", "1"}, dir_.path(), std::nullopt,
                           {std::string("HAVERI_API_TOKEN=") + kTestToken});
  EXPECT_EQ(human.exit_code, 0) << human.output;
  for (const char* line : {"severity SEV2 → SEV1", "lead: bob", "comms lead: alice", "acknowledged",
                           "note: feed pump 2 tripped", "action: restarted feed pump 2"}) {
    EXPECT_THAT(human.output, HasSubstr(line));
  }
}

TEST_F(EndToEnd, HaverictlChatDeclaresAndShowsTheBotsReply) {
  const auto ctl = build_dir() / "bin" / "haverictl";
  auto chat = run_program(
      ctl, {"--url", url(), "chat", "--as", "dana", "--channel", "ops", "--linger", "3"},
      dir_.path(), std::string("/incident declare Cooling failure in hall B sev2\n"));
  EXPECT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_THAT(chat.output, HasSubstr("Connected to #ops"));
  EXPECT_THAT(chat.output, HasSubstr("INC-1 declared"));
  EXPECT_THAT(chat.output, HasSubstr("inc-1-cooling-failure-in-hall-b"));
  auto incidents = api("/api/v1/incidents");
  ASSERT_EQ(incidents["incidents"].size(), 1u);
  EXPECT_EQ(incidents["incidents"][0]["declared_by"]["id"], "dana");
}

}  // namespace
