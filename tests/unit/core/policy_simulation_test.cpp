// Tests core/src/policy/simulation.cpp: scenarios run through the engine's escalation
// code, in Europe/Helsinki with its DST changes.
#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/core/events.hpp>
#include <haveri/policy/simulation.hpp>
#include <haveri/policy/time_zone.hpp>

#include "policy_fixture.hpp"

namespace haveri::policy {
namespace {

using namespace std::chrono_literals;
using core::Severity;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kZoneinfo;
using testing::members;
using testing::policy;
using testing::policy_set;
using testing::step;
using testing::team_channel;
using testing::team_on_shift;

// Minute and members of a page, for compact expectations.
struct PageSummary {
  long long minute = 0;
  std::vector<std::string> members;
  std::vector<std::string> channels;
  bool operator==(const PageSummary&) const = default;
};

// GoogleTest finds the printer by this name.
void PrintTo(const PageSummary& page,  // NOLINT(readability-identifier-naming)
             std::ostream* out) {
  *out << "{minute " << page.minute << ", members [";
  for (const auto& member : page.members) {
    *out << member << " ";
  }
  *out << "], channels [";
  for (const auto& channel : page.channels) {
    *out << channel << " ";
  }
  *out << "]}";
}

std::vector<PageSummary> summary(const SimulationResult& result) {
  std::vector<PageSummary> out;
  for (const auto& page : result.pages) {
    out.push_back({page.minute.count(), page.members, page.channels});
  }
  return out;
}

PageSummary page_at(long long minute, std::vector<std::string> paged,
                    std::vector<std::string> channels = {}) {
  return {minute, std::move(paged), std::move(channels)};
}

class SimulationTest : public ::testing::Test {
 protected:
  core::TimePoint local(const std::string& text) {
    auto zone = zones_.get("Europe/Helsinki");
    EXPECT_TRUE(zone.ok());
    auto parsed = parse_scenario_time(text, zone.ok() ? zone.value().get() : nullptr);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    return parsed.ok() ? parsed.value() : core::TimePoint{};
  }

  std::string wall_clock(core::TimePoint at) {
    return format_wall_clock(at, *zones_.get("Europe/Helsinki").value());
  }

  SimulationResult run(const PolicySet& policies, const Scenario& scenario) {
    auto result = simulate(policies, directory_, scenario, zones_);
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
    return result.ok() ? std::move(result.value()) : SimulationResult{};
  }

  Scenario scenario(Severity severity, const std::string& declared_local) {
    Scenario out;
    out.severity = severity;
    out.area = "assembly";
    out.declared_at = local(declared_local);
    return out;
  }

  static ScenarioEvent at(std::chrono::minutes minute, ScenarioEvent::Kind kind) {
    ScenarioEvent event;
    event.at = minute;
    event.kind = kind;
    return event;
  }

  core::Directory directory_ = testing::test_directory();
  TimeZoneDatabase zones_{kZoneinfo};
};

TEST_F(SimulationTest, NightShiftAcrossMidnightPagesTheNightShiftAfterMidnight) {
  const auto policies =
      policy_set({policy("plant-a-sev2", {Severity::sev2},
                         {step(0s, {team_on_shift("maintenance")}),
                          step(15min, {team_on_shift("maintenance"), members({"sam"})})})});
  const auto result = run(policies, scenario(Severity::sev2, "2026-11-24 23:50"));

  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"dave"}), page_at(15, {"dave", "sam"})));
  ASSERT_EQ(result.pages.size(), 2U);
  EXPECT_EQ(wall_clock(result.pages[0].at), "Tue 2026-11-24 23:50 EET");
  EXPECT_EQ(wall_clock(result.pages[1].at), "Wed 2026-11-25 00:05 EET");
  EXPECT_EQ(result.pages[1].teams, std::vector<std::string>{"maintenance"});
  EXPECT_EQ(result.facility, "plant-a");
  EXPECT_EQ(result.time_zone, "Europe/Helsinki");
  ASSERT_EQ(result.choices.size(), 1U);
  EXPECT_EQ(result.choices[0].policy, "plant-a-sev2");
  EXPECT_EQ(result.choices[0].reason, "declared");
  EXPECT_TRUE(result.choices[0].started);
}

TEST_F(SimulationTest, TheEventsAreTheEnginesEvents) {
  const auto policies = policy_set({policy(
      "p", {Severity::sev2}, {step(0s, {members({"alice"})}), step(5min, {members({"bob"})})})});
  const auto result = run(policies, scenario(Severity::sev2, "2026-11-24 10:00"));

  ASSERT_EQ(result.events.size(), 4U);
  const auto& declared = std::get<core::Declared>(result.events[0].payload);
  EXPECT_EQ(declared.organization, "acme");
  EXPECT_EQ(declared.area, "assembly");
  EXPECT_EQ(declared.severity, Severity::sev2);
  const auto& started = std::get<core::EscalationStarted>(result.events[1].payload);
  EXPECT_EQ(started.policy, "p");
  EXPECT_EQ(started.reason, "declared");
  EXPECT_EQ(started.steps.size(), 2U);
  const auto& first = std::get<core::Escalated>(result.events[2].payload);
  EXPECT_EQ(first.chain, 2);
  EXPECT_EQ(first.step, 1);
  EXPECT_FALSE(first.late);
  ASSERT_EQ(first.notified.size(), 1U);
  EXPECT_EQ(first.notified[0], (core::Actor{"alice", "Alice", "alice"}));
  EXPECT_EQ(result.events[3].at - result.events[0].at, 5min);
  for (std::size_t i = 0; i < result.events.size(); ++i) {
    EXPECT_EQ(result.events[i].sequence, static_cast<core::Sequence>(i + 1));
  }
  EXPECT_TRUE(result.incident.escalation->pending.empty());
}

// 2026-10-25 04:00 EEST the clocks go back to 03:00 EET: the night shift that starts
// on Saturday at 22:00 and ends on Sunday at 06:00 lasts nine hours.
TEST_F(SimulationTest, OnTheNightTheClocksGoBackTheNightShiftIsPagedForNineHours) {
  auto hourly = policy("hourly", {Severity::sev2}, {step(0s, {team_on_shift("maintenance")})});
  hourly.repeat = 9;
  hourly.repeat_every = 1h;
  auto night = scenario(Severity::sev2, "2026-10-24 22:00");
  night.horizon = 600min;
  const auto result = run(policy_set({hourly}), night);

  std::vector<PageSummary> expected;
  for (long long hour = 0; hour < 9; ++hour) {
    expected.push_back(page_at(hour * 60, {"dave"}));
  }
  expected.push_back(page_at(540, {"alice", "bob"}));
  EXPECT_EQ(summary(result), expected);
  ASSERT_EQ(result.pages.size(), 10U);
  EXPECT_EQ(wall_clock(result.pages[5].at), "Sun 2026-10-25 03:00 EEST");
  EXPECT_EQ(wall_clock(result.pages[6].at), "Sun 2026-10-25 03:00 EET");
  EXPECT_EQ(wall_clock(result.pages[9].at), "Sun 2026-10-25 06:00 EET");
  EXPECT_EQ(result.pages[9].round, 9);
}

// 2026-03-29 03:00 EET the clocks jump to 04:00 EEST: that night shift lasts 7 hours.
TEST_F(SimulationTest, OnTheNightTheClocksGoForwardTheNightShiftIsPagedForSevenHours) {
  auto hourly = policy("hourly", {Severity::sev2}, {step(0s, {team_on_shift("maintenance")})});
  hourly.repeat = 8;
  hourly.repeat_every = 1h;
  auto night = scenario(Severity::sev2, "2026-03-28 22:00");
  night.horizon = 480min;
  const auto result = run(policy_set({hourly}), night);

  std::vector<PageSummary> expected;
  for (long long hour = 0; hour < 7; ++hour) {
    expected.push_back(page_at(hour * 60, {"dave"}));
  }
  expected.push_back(page_at(420, {"alice", "bob"}));
  expected.push_back(page_at(480, {"alice", "bob"}));
  EXPECT_EQ(summary(result), expected);
  ASSERT_EQ(result.pages.size(), 9U);
  EXPECT_EQ(wall_clock(result.pages[4].at), "Sun 2026-03-29 02:00 EET");
  EXPECT_EQ(wall_clock(result.pages[5].at), "Sun 2026-03-29 04:00 EEST");
}

TEST_F(SimulationTest, AWindowFromHalfPastThreeOnTheSpringForwardNight) {
  auto early = policy("early", {}, {step(0s, {members({"alice"})})}, 10);
  early.match.windows = {Window{{0, 1, 2, 3, 4, 5, 6}, 210min, 360min}};  // 03:30-06:00
  const auto policies = policy_set({early, policy("fallback", {}, {step(0s, {members({"bob"})})})});

  const auto before = run(policies, scenario(Severity::sev3, "2026-03-29 02:59"));
  ASSERT_EQ(before.choices.size(), 1U);
  EXPECT_EQ(before.choices[0].policy, "fallback");

  // One minute later on the clock of the world, 04:00 on the wall: past 03:30.
  const auto after = run(policies, scenario(Severity::sev3, "2026-03-29 04:00"));
  ASSERT_EQ(after.choices.size(), 1U);
  EXPECT_EQ(after.choices[0].policy, "early");
  EXPECT_EQ(after.pages[0].at - before.pages[0].at, 1min);

  // 03:30 itself never happened there that night.
  auto zone = zones_.get("Europe/Helsinki");
  const auto skipped = parse_scenario_time("2026-03-29 03:30", zone.value().get());
  ASSERT_FALSE(skipped.ok());
  EXPECT_EQ(skipped.error().message,
            "\"2026-03-29 03:30\" does not exist in Europe/Helsinki: the clocks jump from 03:00 "
            "to 04:00 that night; use a time after the change, or RFC 3339 with an offset");
}

TEST_F(SimulationTest, AnAmbiguousLocalTimeNeedsAnOffset) {
  auto zone = zones_.get("Europe/Helsinki");
  const auto twice = parse_scenario_time("2026-10-25 03:30", zone.value().get());
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message,
            "\"2026-10-25 03:30\" happens twice in Europe/Helsinki: the clocks go back that "
            "night; write it with its offset: 2026-10-25T03:30+03:00 (EEST, the first) or "
            "2026-10-25T03:30+02:00 (EET, the second)");
  const auto first = parse_scenario_time("2026-10-25T03:30+03:00", zone.value().get());
  const auto second = parse_scenario_time("2026-10-25T03:30+02:00", zone.value().get());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value() - first.value(), 1h);
  EXPECT_EQ(wall_clock(first.value()), "Sun 2026-10-25 03:30 EEST");
}

TEST_F(SimulationTest, ScenarioTimesInEveryForm) {
  auto zone = zones_.get("Europe/Helsinki");
  const TimeZone* helsinki = zone.value().get();
  const auto utc = parse_scenario_time("2026-11-24T21:50:00Z", nullptr);
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(core::format_time(utc.value()), "2026-11-24T21:50:00.000Z");
  for (const char* same : {"2026-11-24 23:50", "2026-11-24T23:50", "2026-11-24 23:50:00",
                           "2026-11-24T23:50+02:00", "2026-11-24T16:50:00.000-05:00"}) {
    const auto parsed = parse_scenario_time(same, helsinki);
    ASSERT_TRUE(parsed.ok()) << same;
    EXPECT_EQ(parsed.value(), utc.value()) << same;
  }
  for (const char* bad : {"", "2026-11-24", "2026-11-24 24:00", "2026-02-30 10:00",
                          "2026-11-24 23:50 EET", "2026-11-24T23:50+2", "tomorrow"}) {
    const auto parsed = parse_scenario_time(bad, helsinki);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.error().message, HasSubstr("expected a local time")) << bad;
  }
  const auto without_zone = parse_scenario_time("2026-11-24 23:50", nullptr);
  ASSERT_FALSE(without_zone.ok());
  EXPECT_THAT(without_zone.error().message, HasSubstr("no facility"));
}

TEST_F(SimulationTest, AcknowledgementStopsOnlyTheStepsThatWaitForIt) {
  const auto policies = policy_set(
      {policy("p", {Severity::sev2},
              {step(0s, {team_on_shift("maintenance")}), step(15min, {members({"sam"})}),
               step(30min, {team_channel("maintenance")}, /*if_unacknowledged=*/false)})});

  const auto unacknowledged = run(policies, scenario(Severity::sev2, "2026-11-24 10:00"));
  EXPECT_THAT(summary(unacknowledged),
              ElementsAre(page_at(0, {"alice", "bob"}), page_at(15, {"sam"}),
                          page_at(30, {}, {"maintenance"})));
  ASSERT_EQ(unacknowledged.pages[2].event.channels.size(), 1U);
  EXPECT_EQ(unacknowledged.pages[2].event.channels[0].id, "maint");

  auto acknowledged = scenario(Severity::sev2, "2026-11-24 10:00");
  acknowledged.events = {at(10min, ScenarioEvent::Kind::acknowledge)};
  const auto result = run(policies, acknowledged);
  EXPECT_THAT(summary(result),
              ElementsAre(page_at(0, {"alice", "bob"}), page_at(30, {}, {"maintenance"})));
  const auto stopped = std::find_if(result.events.begin(), result.events.end(), [](const auto& e) {
    return std::holds_alternative<core::EscalationStopped>(e.payload);
  });
  ASSERT_NE(stopped, result.events.end());
  EXPECT_EQ(std::get<core::EscalationStopped>(stopped->payload),
            (core::EscalationStopped{"p", "acknowledged", false, 1}));
}

TEST_F(SimulationTest, AStepDueAtTheMinuteOfAnEventFiresFirst) {
  const auto policies = policy_set({policy(
      "p", {Severity::sev2}, {step(0s, {members({"alice"})}), step(15min, {members({"sam"})})})});
  auto acknowledged = scenario(Severity::sev2, "2026-11-24 10:00");
  acknowledged.events = {at(15min, ScenarioEvent::Kind::acknowledge)};
  EXPECT_THAT(summary(run(policies, acknowledged)),
              ElementsAre(page_at(0, {"alice"}), page_at(15, {"sam"})));
  acknowledged.events = {at(14min, ScenarioEvent::Kind::acknowledge)};
  EXPECT_THAT(summary(run(policies, acknowledged)), ElementsAre(page_at(0, {"alice"})));
}

TEST_F(SimulationTest, RepeatsRunTheChainAgainUntilAcknowledged) {
  auto repeating = policy("p", {Severity::sev2},
                          {step(0s, {members({"alice"})}), step(10min, {members({"bob"})})});
  repeating.repeat = 2;
  repeating.repeat_every = 30min;
  const auto policies = policy_set({repeating});

  const auto result = run(policies, scenario(Severity::sev2, "2026-11-24 10:00"));
  EXPECT_THAT(summary(result),
              ElementsAre(page_at(0, {"alice"}), page_at(10, {"bob"}), page_at(30, {"alice"}),
                          page_at(40, {"bob"}), page_at(60, {"alice"}), page_at(70, {"bob"})));
  ASSERT_EQ(result.pages.size(), 6U);
  EXPECT_EQ(result.pages[3].round, 1);
  EXPECT_EQ(result.pages[3].step, 2);
  EXPECT_EQ(result.pages[4].round, 2);

  auto acknowledged = scenario(Severity::sev2, "2026-11-24 10:00");
  acknowledged.events = {at(35min, ScenarioEvent::Kind::acknowledge)};
  EXPECT_THAT(summary(run(policies, acknowledged)),
              ElementsAre(page_at(0, {"alice"}), page_at(10, {"bob"}), page_at(30, {"alice"})));
}

TEST_F(SimulationTest, ASeverityChangeReplacesTheChain) {
  const auto policies =
      policy_set({policy("minor", {Severity::sev3},
                         {step(0s, {members({"alice"})}), step(30min, {members({"bob"})})}),
                  policy("major", {Severity::sev1},
                         {step(0s, {members({"sam"})}), step(10min, {members({"dave"})})})});
  auto raised = scenario(Severity::sev3, "2026-11-24 10:00");
  ScenarioEvent change = at(5min, ScenarioEvent::Kind::severity);
  change.severity = Severity::sev1;
  raised.events = {change};
  const auto result = run(policies, raised);

  EXPECT_THAT(summary(result),
              ElementsAre(page_at(0, {"alice"}), page_at(5, {"sam"}), page_at(15, {"dave"})));
  ASSERT_EQ(result.choices.size(), 2U);
  EXPECT_EQ(result.choices[0].policy, "minor");
  EXPECT_EQ(result.choices[1].policy, "major");
  EXPECT_EQ(result.choices[1].reason, "severity_change");
  EXPECT_EQ(result.choices[1].minute, 5min);
  const auto replaced = std::find_if(result.events.begin(), result.events.end(), [](const auto& e) {
    return std::holds_alternative<core::EscalationStopped>(e.payload);
  });
  ASSERT_NE(replaced, result.events.end());
  EXPECT_EQ(std::get<core::EscalationStopped>(replaced->payload),
            (core::EscalationStopped{"minor", "replaced", true, 1}));
}

TEST_F(SimulationTest, ASeverityChangeThatKeepsThePolicyKeepsTheChain) {
  const auto policies =
      policy_set({policy("any", {Severity::sev1, Severity::sev2},
                         {step(0s, {members({"alice"})}), step(30min, {members({"bob"})})})});
  auto raised = scenario(Severity::sev2, "2026-11-24 10:00");
  ScenarioEvent change = at(5min, ScenarioEvent::Kind::severity);
  change.severity = Severity::sev1;
  raised.events = {change};
  const auto result = run(policies, raised);
  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"alice"}), page_at(30, {"bob"})));
  EXPECT_EQ(result.choices.size(), 1U);
}

TEST_F(SimulationTest, AnAreaChangeChoosesTheAreasPolicy) {
  auto assembly = policy("assembly", {}, {step(0s, {members({"alice"})})});
  assembly.match.areas = {"assembly"};
  auto packaging = policy("packaging", {}, {step(0s, {members({"bob"})})});
  packaging.match.areas = {"packaging"};
  auto moved = scenario(Severity::sev2, "2026-11-24 10:00");
  ScenarioEvent change = at(5min, ScenarioEvent::Kind::area);
  change.area = "packaging";
  moved.events = {change};
  const auto result = run(policy_set({assembly, packaging}), moved);

  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"alice"}), page_at(5, {"bob"})));
  ASSERT_EQ(result.choices.size(), 2U);
  EXPECT_EQ(result.choices[1].reason, "area_change");
  EXPECT_EQ(result.incident.area, "packaging");
}

TEST_F(SimulationTest, AnOverrideInForceDecidesWhoIsOnDuty) {
  const auto policies = policy_set({policy(
      "p", {Severity::sev2},
      {step(0s, {team_on_shift("maintenance")}), step(8h, {team_on_shift("maintenance")})})});
  auto holidays = scenario(Severity::sev2, "2026-12-27 00:00");
  holidays.horizon = 480min;
  const auto result = run(policies, holidays);
  // The override (carol) runs until 2026-12-27 06:00; at 08:00 the day shift is back.
  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"carol"}), page_at(480, {"alice", "bob"})));
}

TEST_F(SimulationTest, NobodyOnDutyIsUnreachable) {
  const auto policies =
      policy_set({policy("p", {Severity::sev2}, {step(0s, {team_on_shift("weekend")})})});
  const auto result = run(policies, scenario(Severity::sev2, "2026-11-24 10:00"));
  ASSERT_EQ(result.pages.size(), 1U);
  EXPECT_THAT(result.pages[0].members, IsEmpty());
  EXPECT_THAT(result.pages[0].unreachable,
              ElementsAre(Unreachable{"weekend", "nobody of team weekend is on duty"}));
}

TEST_F(SimulationTest, AMemberWithoutAnAccountIsPagedAndUnreachable) {
  const auto policies =
      policy_set({policy("p", {Severity::sev2}, {step(0s, {members({"erin", "sam"})})})});
  const auto result = run(policies, scenario(Severity::sev2, "2026-11-24 10:00"));
  ASSERT_EQ(result.pages.size(), 1U);
  EXPECT_THAT(result.pages[0].members, ElementsAre("erin", "sam"));
  EXPECT_THAT(result.pages[0].unreachable,
              ElementsAre(Unreachable{"erin", "Erin has no local account"}));
}

TEST_F(SimulationTest, ResolvingStopsEveryStep) {
  const auto policies = policy_set({policy(
      "p", {Severity::sev2},
      {step(0s, {members({"alice"})}), step(30min, {team_channel("maintenance")}, false)})});
  auto resolved = scenario(Severity::sev2, "2026-11-24 10:00");
  resolved.events = {at(10min, ScenarioEvent::Kind::resolve),
                     at(20min, ScenarioEvent::Kind::resolve)};
  const auto result = run(policies, resolved);
  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"alice"})));
  EXPECT_EQ(result.incident.status, core::Status::resolved);
  EXPECT_TRUE(result.incident.escalation->pending.empty());
  const auto stops = std::count_if(result.events.begin(), result.events.end(), [](const auto& e) {
    return std::holds_alternative<core::EscalationStopped>(e.payload);
  });
  EXPECT_EQ(stops, 1);
}

TEST_F(SimulationTest, NoPolicyMatches) {
  const auto policies =
      policy_set({policy("major", {Severity::sev1}, {step(0s, {members({"sam"})})})});
  const auto result = run(policies, scenario(Severity::sev3, "2026-11-24 10:00"));
  EXPECT_THAT(result.pages, IsEmpty());
  ASSERT_EQ(result.choices.size(), 1U);
  EXPECT_EQ(result.choices[0].policy, "");
  EXPECT_FALSE(result.choices[0].started);
  EXPECT_EQ(result.events.size(), 1U);
}

TEST_F(SimulationTest, NothingHappensAfterTheHorizon) {
  const auto policies =
      policy_set({policy("p", {Severity::sev2},
                         {step(0s, {members({"alice"})}), step(60min, {members({"bob"})}),
                          step(61min, {members({"sam"})})})});
  auto short_run = scenario(Severity::sev2, "2026-11-24 10:00");
  short_run.horizon = 60min;
  short_run.events = {at(61min, ScenarioEvent::Kind::acknowledge)};
  const auto result = run(policies, short_run);
  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"alice"}), page_at(60, {"bob"})));
  ASSERT_TRUE(result.incident.escalation);
  EXPECT_EQ(result.incident.escalation->pending.size(), 1U);
  EXPECT_FALSE(result.incident.acknowledged_at);
}

// Events are commands decided like the engine decides them: a second acknowledgement
// is refused, unless a chain started since waits for one of its own.
TEST_F(SimulationTest, ASecondAcknowledgementCountsOnlyForANewChain) {
  const auto policies =
      policy_set({policy("minor", {Severity::sev3},
                         {step(0s, {members({"alice"})}), step(30min, {members({"bob"})})}),
                  policy("major", {Severity::sev1},
                         {step(0s, {members({"sam"})}), step(10min, {members({"dave"})})})});
  auto acknowledged_twice = scenario(Severity::sev3, "2026-11-24 10:00");
  ScenarioEvent raised = at(7min, ScenarioEvent::Kind::severity);
  raised.severity = Severity::sev1;
  acknowledged_twice.events = {at(5min, ScenarioEvent::Kind::acknowledge),
                               at(6min, ScenarioEvent::Kind::acknowledge), raised,
                               at(12min, ScenarioEvent::Kind::acknowledge)};
  const auto result = run(policies, acknowledged_twice);

  EXPECT_THAT(summary(result), ElementsAre(page_at(0, {"alice"}), page_at(7, {"sam"})));
  std::vector<long long> acknowledged;
  for (const auto& event : result.events) {
    if (std::holds_alternative<core::Acknowledged>(event.payload)) {
      acknowledged.push_back(
          std::chrono::duration_cast<std::chrono::minutes>(event.at - result.events[0].at).count());
    }
  }
  EXPECT_THAT(acknowledged, ElementsAre(5, 12));
  EXPECT_TRUE(result.incident.escalation->pending.empty());
}

TEST_F(SimulationTest, MismatchReasonsNameTheFirstKeyThatFails) {
  const auto facts = [](Severity severity, std::string area, std::vector<std::string> types) {
    return IncidentFacts{severity, std::move(area), std::move(types)};
  };
  const auto reason = [&](const Policy& p, const IncidentFacts& f, const std::string& when) {
    return mismatch_reason(p, directory_.organizations.front(), f, local(when), zones_);
  };
  auto days = policy("days", {Severity::sev1, Severity::sev2, Severity::sev3}, {});
  days.match.areas = {"assembly"};
  days.match.asset_types = {"conveyor", "press"};
  days.match.windows = {Window{{0, 1, 2, 3, 4}, 6h, 22h}, Window{{5}, 8h, 24h}};
  days.match.shifts = {ShiftRef{"maintenance", "night"}};

  EXPECT_EQ(reason(policy("major", {Severity::sev1}, {}), facts(Severity::sev2, "", {}),
                   "2026-11-24 10:00"),
            "severity SEV2 is not SEV1");
  EXPECT_EQ(reason(policy("two", {Severity::sev1, Severity::sev3}, {}),
                   facts(Severity::sev2, "", {}), "2026-11-24 10:00"),
            "severity SEV2 is not SEV1 or SEV3");
  EXPECT_EQ(reason(days, facts(Severity::sev2, "", {}), "2026-11-24 10:00"),
            "the incident has no area (the policy is for area assembly)");
  EXPECT_EQ(reason(days, facts(Severity::sev2, "packaging", {}), "2026-11-24 10:00"),
            "area packaging is not assembly");
  EXPECT_EQ(reason(days, facts(Severity::sev2, "assembly", {"robot"}), "2026-11-24 10:00"),
            "no asset of type conveyor or press");
  // Sunday 10:00: no window starts on Sunday, and the night shift is over.
  EXPECT_EQ(reason(days, facts(Severity::sev2, "assembly", {"press"}), "2026-11-29 10:00"),
            "Sun 10:00 EET is outside its hours (mon-fri 06:00-22:00; sat 08:00-24:00; shift "
            "maintenance/night)");
  EXPECT_EQ(reason(days, facts(Severity::sev2, "assembly", {"press"}), "2026-11-24 10:00"), "");
  EXPECT_EQ(reason(days, facts(Severity::sev2, "assembly", {"press"}), "2026-11-29 23:00"), "");
}

TEST_F(SimulationTest, ScenariosOutsideTheDirectoryAreRefused) {
  const auto policies = policy_set({});
  auto unknown = scenario(Severity::sev2, "2026-11-24 10:00");
  unknown.organization = "globex";
  auto refused = simulate(policies, directory_, unknown, zones_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "unknown organization \"globex\" (organizations in the directory: acme)");

  auto nowhere = scenario(Severity::sev2, "2026-11-24 10:00");
  nowhere.area = "paint";
  refused = simulate(policies, directory_, nowhere, zones_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "unknown area \"paint\" (areas of acme: assembly, packaging)");

  auto early = scenario(Severity::sev2, "2026-11-24 10:00");
  early.events = {at(-1min, ScenarioEvent::Kind::acknowledge)};
  refused = simulate(policies, directory_, early, zones_);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("before the declaration"));

  auto long_run = scenario(Severity::sev2, "2026-11-24 10:00");
  long_run.horizon = kMaxScenarioHorizon + 1min;
  EXPECT_FALSE(simulate(policies, directory_, long_run, zones_).ok());
}

}  // namespace
}  // namespace haveri::policy
