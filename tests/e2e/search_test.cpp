// Full-text search, projection rebuilds and readiness through the real haverid:
// what people wrote in chat is found from chat, the API and haverictl, bad search
// syntax gets an answer that says what to do, and a rebuild changes nothing.
#include <gmock/gmock.h>

#include "daemon_test.hpp"

namespace {

using namespace haveri::testing;
using ::testing::HasSubstr;

class SearchEndToEnd : public DaemonTest {
 protected:
  std::string declare(const std::string& text) {
    EXPECT_EQ(say("general", "alice", "/incident declare " + text, "declare").status, 200);
    auto incidents = await("/api/v1/incidents", [](const nlohmann::json& doc) {
      return doc["incidents"].size() == 1 && doc["incidents"][0]["channel"].is_object();
    });
    return incidents["incidents"][0]["channel"].value("name", "");
  }

  RunResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url()});
    return run_program(build_dir() / "bin" / "haverictl", args, dir_.path(), std::nullopt,
                       {std::string("HAVERI_API_TOKEN=") + kTestToken});
  }
};

TEST_F(SearchEndToEnd, WhatWasSaidIsFoundFromChatTheApiAndHaverictl) {
  const std::string channel = declare("Conveyor 4 jammed sev2");
  ASSERT_EQ(say(channel, "bob", "the tensioner snapped near roller 7", "m-1").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident note ordered a spare gearbox", "m-2").status, 200);
  await("/api/v1/incidents/1/events", has_events(4));

  ASSERT_EQ(say(channel, "alice", "/incident search tensioner", "s-1").status, 200);
  const std::string reply = await_channel_text(channel, "Search: tensioner");
  EXPECT_THAT(reply, HasSubstr("INC-1 · SEV2"));
  EXPECT_THAT(reply, HasSubstr("**tensioner**"));

  const auto found = api("/api/v1/search?q=gearbox");
  ASSERT_EQ(found["results"].size(), 1U) << found.dump(2);
  EXPECT_EQ(found["results"][0]["incident"], 1);
  EXPECT_EQ(found["results"][0]["title"], "Conveyor 4 jammed");
  EXPECT_EQ(found["results"][0]["field"], "note");
  EXPECT_THAT(found["results"][0]["snippet"].get<std::string>(), HasSubstr("**gearbox**"));
  EXPECT_EQ(found["results"][0]["channel"]["name"], channel);
  EXPECT_TRUE(api("/api/v1/search?q=conveyor&organization=someone-else")["results"].empty());

  auto shell = ctl({"search", "roller", "7"});
  EXPECT_EQ(shell.exit_code, 0) << shell.output;
  EXPECT_THAT(shell.output, HasSubstr("INC-1"));
  EXPECT_THAT(shell.output, HasSubstr("**roller**"));
}

TEST_F(SearchEndToEnd, MalformedSearchSyntaxIsExplainedNotAnError) {
  const std::string channel = declare("Press 2 hydraulic leak sev3");
  const auto bad = client_->get("/api/v1/search?q=%22unbalanced", kAuth);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_THAT(bad.body, HasSubstr("unbalanced"));
  EXPECT_EQ(client_->get("/api/v1/search", kAuth).status, 400);
  EXPECT_EQ(client_->get("/api/v1/search?q=x&limit=500", kAuth).status, 400);
  EXPECT_EQ(client_->get("/api/v1/search?q=leak").status, 401);

  ASSERT_EQ(say(channel, "alice", "/incident search \"unbalanced", "s-2").status, 200);
  EXPECT_THAT(await_channel_text(channel, "unbalanced"), HasSubstr("unbalanced"));
  // The daemon is still fine afterwards.
  EXPECT_EQ(api("/api/v1/search?q=hydraulic")["results"].size(), 1U);
}

TEST_F(SearchEndToEnd, RebuildProvesTheProjectionsEqualAReplayAndReadinessIsReported) {
  EXPECT_EQ(client_->get("/readyz").status, 200);
  const std::string channel = declare("Oven 1 overheating sev1");
  ASSERT_EQ(say(channel, "bob", "/incident status investigating", "r-1").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident followup replace the relay", "r-2").status, 200);
  ASSERT_EQ(say(channel, "bob", "/incident action swapped the thermostat", "r-3").status, 200);
  await("/api/v1/incidents/1/events", has_events(5));

  auto check = ctl({"rebuild", "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("0 differed"));
  auto rebuilt = ctl({"rebuild", "--json"});
  EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  const auto report = nlohmann::json::parse(rebuilt.output, nullptr, false);
  ASSERT_TRUE(report.is_object()) << rebuilt.output;
  EXPECT_EQ(report["differed"], 0);
  EXPECT_EQ(report["kept"], true);
  EXPECT_GT(report["rows"].get<int>(), 2);
  EXPECT_EQ(client_->request("GET", "/api/v1/rebuild", {}, {}, kAuth).status, 405);
  // Still searchable and listed after the rebuild.
  EXPECT_EQ(api("/api/v1/search?q=thermostat")["results"].size(), 1U);
  EXPECT_EQ(api("/api/v1/incidents")["incidents"].size(), 1U);
}

}  // namespace
