// The pure escalation functions (core/src/policy/escalation.cpp): who is on duty at
// an instant (shifts across midnight and DST, overrides), which policy is chosen,
// the planned chain, the events a change brings, and what a due step pages.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/policy/escalation.hpp>

namespace haveri::policy {
namespace {

using core::Severity;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono;
using namespace std::chrono_literals;

// A UTC instant from "YYYY-MM-DD HH:MM" written as UTC.
core::TimePoint utc(int y, unsigned m, unsigned d, int hh, int mm) {
  return time_point_cast<milliseconds>(sys_days{year{y} / month{m} / day{d}} + hours{hh} +
                                       minutes{mm});
}

core::Shift shift(std::string name, std::vector<int> days, int start_h, int end_h,
                  std::vector<std::string> members) {
  core::Shift s;
  s.name = std::move(name);
  s.days = std::move(days);
  s.start = hours{start_h};
  s.end = hours{end_h};
  s.members = std::move(members);
  return s;
}

core::Organization plant() {
  core::Organization acme;
  acme.id = "acme";
  acme.facilities = {{"plant-a", "Plant A", "Europe/Helsinki"}, {"plant-b", "Plant B", "UTC"}};
  acme.areas = {{"assembly", "Assembly", "plant-a"}, {"paint", "Paint", "plant-b"}};
  acme.assets = {{"conveyor-4", "Conveyor 4", "conveyor", "assembly"},
                 {"press-2", "Press 2", "press", "assembly"}};
  core::Team maintenance;
  maintenance.id = "maintenance";
  maintenance.facility = "plant-a";
  maintenance.members = {"alice", "bob", "dave", "erin"};
  maintenance.shifts = {shift("early", {0, 1, 2, 3, 4}, 6, 14, {"alice"}),
                        shift("late", {0, 1, 2, 3, 4}, 14, 22, {"bob"}),
                        shift("night", {0, 1, 2, 3, 4, 5, 6}, 22, 6, {"dave"}),
                        shift("weekend", {5, 6}, 6, 22, {"erin"})};
  core::ShiftOverride christmas;
  christmas.from = core::LocalMinutes{local_days{2026y / 12 / 24} + 22h};
  christmas.to = core::LocalMinutes{local_days{2026y / 12 / 25} + 6h};
  christmas.members = {"erin"};
  maintenance.overrides = {christmas};
  maintenance.channel = core::TeamChannel{"local", "maint", "maintenance"};
  core::Team always;
  always.id = "always";
  always.members = {"carol"};
  acme.teams = {maintenance, always};
  acme.members = {{"alice", "Alice", "", {{"local", "alice"}, {"slack", "U1"}}},
                  {"bob", "Bob", "", {{"local", "bob"}}},
                  {"carol", "Carol", "", {{"local", "carol"}}},
                  {"dave", "Dave", "", {{"local", "dave"}}},
                  {"erin", "Erin", "", {{"local", "erin"}}},
                  {"sam", "Sam", "", {{"local", "sam"}}}};
  return acme;
}

class EscalationFunctions : public ::testing::Test {
 protected:
  std::vector<std::string> on_duty(core::TimePoint at) {
    return members_on_duty(*organization_.team("maintenance"), organization_, at, zones_);
  }
  core::Organization organization_ = plant();
  TimeZoneDatabase zones_;
};

// Helsinki is UTC+2 in winter, UTC+3 in summer.
TEST_F(EscalationFunctions, ShiftsFollowTheFacilitysWallClockAcrossMidnight) {
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 8, 0)), ElementsAre("alice"));    // Tue 10:00
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 11, 59)), ElementsAre("alice"));  // Tue 13:59
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 12, 0)), ElementsAre("bob"));     // Tue 14:00
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 20, 0)), ElementsAre("dave"));    // Tue 22:00
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 22, 30)), ElementsAre("dave"));   // Wed 00:30
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 3, 59)), ElementsAre("dave"));    // Wed 05:59
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 4, 0)), ElementsAre("alice"));    // Wed 06:00
  EXPECT_THAT(on_duty(utc(2026, 11, 28, 3, 59)), ElementsAre("dave"));    // Sat 05:59
  EXPECT_THAT(on_duty(utc(2026, 11, 28, 4, 0)), ElementsAre("erin"));     // Sat 06:00
}

TEST_F(EscalationFunctions, ShiftsFollowTheWallClockAcrossBothDstChanges) {
  // 2026-03-29: 03:00 EET becomes 04:00 EEST at 01:00 UTC.
  EXPECT_THAT(on_duty(utc(2026, 3, 29, 0, 59)), ElementsAre("dave"));  // 02:59 EET
  EXPECT_THAT(on_duty(utc(2026, 3, 29, 2, 59)), ElementsAre("dave"));  // 05:59 EEST
  EXPECT_THAT(on_duty(utc(2026, 3, 29, 3, 0)), ElementsAre("erin"));   // 06:00 EEST
  // 2026-10-25: 04:00 EEST becomes 03:00 EET at 01:00 UTC; the night lasts 9 hours.
  EXPECT_THAT(on_duty(utc(2026, 10, 24, 19, 0)), ElementsAre("dave"));  // Sat 22:00 EEST
  EXPECT_THAT(on_duty(utc(2026, 10, 25, 0, 30)), ElementsAre("dave"));  // 03:30 EEST
  EXPECT_THAT(on_duty(utc(2026, 10, 25, 1, 30)), ElementsAre("dave"));  // 03:30 EET
  EXPECT_THAT(on_duty(utc(2026, 10, 25, 3, 59)), ElementsAre("dave"));  // 05:59 EET
  EXPECT_THAT(on_duty(utc(2026, 10, 25, 4, 0)), ElementsAre("erin"));   // 06:00 EET
}

TEST_F(EscalationFunctions, AnOverrideDecidesAloneWhileInForce) {
  EXPECT_THAT(on_duty(utc(2026, 12, 24, 19, 59)), ElementsAre("bob"));  // Thu 21:59
  EXPECT_THAT(on_duty(utc(2026, 12, 24, 20, 0)), ElementsAre("erin"));  // Thu 22:00
  EXPECT_THAT(on_duty(utc(2026, 12, 25, 3, 59)), ElementsAre("erin"));  // Fri 05:59
  EXPECT_THAT(on_duty(utc(2026, 12, 25, 4, 0)), ElementsAre("alice"));  // Fri 06:00
  auto& overrides = organization_.teams[0].overrides;
  overrides[0].members.clear();  // nobody
  EXPECT_THAT(on_duty(utc(2026, 12, 24, 21, 0)), IsEmpty());
}

TEST_F(EscalationFunctions, ShiftsOfTwentyFourHoursRunFromTheirStartToTheNextDay) {
  auto& team = organization_.teams[0];
  team.overrides.clear();
  team.shifts = {shift("day-and-night", {1}, 8, 8, {"carol"}),
                 shift("calendar-day", {3}, 0, 0, {"bob"})};
  team.members.push_back("carol");
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 5, 59)), IsEmpty());             // Tue 07:59
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 6, 0)), ElementsAre("carol"));   // Tue 08:00
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 5, 59)), ElementsAre("carol"));  // Wed 07:59
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 6, 0)), IsEmpty());              // Wed 08:00
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 21, 59)), IsEmpty());            // Wed 23:59
  EXPECT_THAT(on_duty(utc(2026, 11, 25, 22, 0)), ElementsAre("bob"));    // Thu 00:00
  EXPECT_THAT(on_duty(utc(2026, 11, 26, 21, 59)), ElementsAre("bob"));   // Thu 23:59
  EXPECT_THAT(on_duty(utc(2026, 11, 26, 22, 0)), IsEmpty());             // Fri 00:00
}

TEST_F(EscalationFunctions, ATeamWithoutShiftsIsAlwaysOnDuty) {
  EXPECT_THAT(members_on_duty(*organization_.team("always"), organization_, utc(2026, 11, 29, 3, 0),
                              zones_),
              ElementsAre("carol"));
}

TEST_F(EscalationFunctions, OverlappingShiftsAreListedInTheTeamsOrderOfPreference) {
  organization_.teams[0].shifts.push_back(shift("cover", {1}, 9, 11, {"dave", "alice", "bob"}));
  EXPECT_THAT(on_duty(utc(2026, 11, 24, 8, 0)), ElementsAre("alice", "bob", "dave"));
}

PolicySet set_of(std::vector<Policy> policies) {
  PolicySet set;
  set.policies = std::move(policies);
  return set;
}

Policy policy(std::string name, std::string facility, int priority, Match match) {
  Policy p;
  p.name = std::move(name);
  p.organization = "acme";
  p.facility = std::move(facility);
  p.priority = priority;
  p.match = std::move(match);
  Step first;
  first.notify = {{NotifyTarget::Kind::team_on_shift, "maintenance", {}}};
  p.steps = {first};
  return p;
}

TEST_F(EscalationFunctions, SelectionTakesTheFirstMatchOfTheIncidentsFacility) {
  Match night_conveyor;
  night_conveyor.severities = {Severity::sev2};
  night_conveyor.asset_types = {"conveyor"};
  night_conveyor.windows = {Window{{0, 1, 2, 3, 4, 5, 6}, 22h, 6h}};
  Match sev2;
  sev2.severities = {Severity::sev2};
  Match paint;
  paint.areas = {"paint"};
  const PolicySet set =
      set_of({policy("night-conveyor", "plant-a", 10, night_conveyor),
              policy("sev2", "plant-a", 0, sev2), policy("paint", "plant-b", 0, paint)});
  IncidentFacts facts{Severity::sev2, "assembly", {"conveyor"}};
  const auto chosen = [&](core::TimePoint at) {
    const Policy* p = select_policy(set, organization_, facts, at, zones_);
    return p ? p->name : std::string("none");
  };
  EXPECT_EQ(chosen(utc(2026, 11, 24, 21, 0)), "night-conveyor");  // 23:00 local
  EXPECT_EQ(chosen(utc(2026, 11, 24, 10, 0)), "sev2");            // 12:00 local
  facts.asset_types = {"press"};
  EXPECT_EQ(chosen(utc(2026, 11, 24, 21, 0)), "sev2");
  facts.severity = Severity::sev1;
  EXPECT_EQ(chosen(utc(2026, 11, 24, 21, 0)), "none");
  facts.area = "paint";
  EXPECT_EQ(chosen(utc(2026, 11, 24, 21, 0)), "paint");
  // Without an area, an organization of two facilities decides nothing.
  facts.area.clear();
  EXPECT_EQ(chosen(utc(2026, 11, 24, 21, 0)), "none");
}

TEST_F(EscalationFunctions, FactsCollectTheAssetTypesOnce) {
  core::Incident incident;
  incident.severity = Severity::sev1;
  incident.area = "assembly";
  incident.assets = {"conveyor-4", "press-2", "conveyor-4", "gone"};
  const IncidentFacts facts = facts_of(incident, organization_);
  EXPECT_THAT(facts.asset_types, ElementsAre("conveyor", "press"));
}

TEST_F(EscalationFunctions, ThePlannedChainCountsFromItsStartAndRepeats) {
  Policy p = policy("p", "plant-a", 0, {});
  Step later;
  later.after = 15min;
  later.if_unacknowledged = false;
  later.notify = {{NotifyTarget::Kind::members, "", {"sam", "sam"}},
                  {NotifyTarget::Kind::team_channel, "maintenance", {}}};
  p.steps.push_back(later);
  p.repeat = 1;
  p.repeat_every = 20min;
  const auto start = utc(2026, 11, 24, 10, 0);
  const auto steps = plan_chain(p, start);
  ASSERT_EQ(steps.size(), 4U);
  EXPECT_EQ(steps[0].due, start);
  EXPECT_EQ(steps[1].due, start + 15min);
  EXPECT_EQ(steps[2].due, start + 20min);
  EXPECT_EQ(steps[2].round, 1);
  EXPECT_EQ(steps[3].due, start + 35min);
  EXPECT_THAT(steps[1].members, ElementsAre("sam"));
  EXPECT_THAT(steps[1].team_channels, ElementsAre("maintenance"));
  EXPECT_FALSE(steps[1].if_unacknowledged);
}

core::Event event_of(core::Sequence sequence, core::TimePoint at, core::EventPayload payload) {
  return core::Event{1, sequence, at, core::Actor{"carol", "Carol", "carol"}, std::move(payload)};
}

TEST_F(EscalationFunctions, ChangesBringTheRightEscalationEvents) {
  Match sev2;
  sev2.severities = {Severity::sev2};
  Match sev1;
  sev1.severities = {Severity::sev1};
  Policy two = policy("two", "plant-a", 0, sev2);
  Step supervisor;
  supervisor.after = 15min;
  supervisor.notify = {{NotifyTarget::Kind::members, "", {"sam"}}};
  two.steps.push_back(supervisor);
  const PolicySet set = set_of({two, policy("one", "plant-a", 0, sev1)});
  const auto now = utc(2026, 11, 24, 10, 0);

  core::Declared declared;
  declared.title = "Pump";
  declared.severity = Severity::sev2;
  declared.organization = "acme";
  declared.area = "assembly";
  const core::Incident empty;
  core::Incident after = core::apply(empty, event_of(1, now, declared));
  auto events = escalation_events(empty, after, {declared}, set, organization_, now, zones_);
  ASSERT_EQ(events.size(), 1U);
  const auto& started = std::get<core::EscalationStarted>(events[0]);
  EXPECT_EQ(started.policy, "two");
  EXPECT_EQ(started.reason, "declared");
  after = core::apply(after, event_of(2, now, events[0]));
  ASSERT_TRUE(after.escalation);
  EXPECT_EQ(after.escalation->started_by, 2);
  EXPECT_EQ(after.escalation->pending.size(), 2U);

  // A note changes nothing.
  EXPECT_THAT(escalation_events(after, after, {core::Annotation{"hm", std::nullopt}}, set,
                                organization_, now, zones_),
              IsEmpty());
  // Acknowledgement cancels the waiting steps.
  core::Incident acked = core::apply(after, event_of(3, now, core::Acknowledged{}));
  events = escalation_events(after, acked, {core::Acknowledged{}}, set, organization_, now, zones_);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<core::EscalationStopped>(events[0]),
            (core::EscalationStopped{"two", "acknowledged", false, 2}));
  // SEV1 replaces the chain.
  core::Incident raised =
      core::apply(after, event_of(3, now, core::SeverityChanged{Severity::sev2, Severity::sev1}));
  events = escalation_events(after, raised, {core::SeverityChanged{Severity::sev2, Severity::sev1}},
                             set, organization_, now, zones_);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<core::EscalationStopped>(events[0]).reason, "replaced");
  EXPECT_EQ(std::get<core::EscalationStarted>(events[1]).policy, "one");
  EXPECT_EQ(std::get<core::EscalationStarted>(events[1]).reason, "severity_change");
  // SEV3 matches nothing: the chain stops.
  core::Incident lowered =
      core::apply(after, event_of(3, now, core::SeverityChanged{Severity::sev2, Severity::sev3}));
  events =
      escalation_events(after, lowered, {core::SeverityChanged{Severity::sev2, Severity::sev3}},
                        set, organization_, now, zones_);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<core::EscalationStopped>(events[0]).reason, "no_policy");
  // Resolving stops everything.
  core::Incident resolved = core::apply(
      after, event_of(3, now, core::StatusChanged{core::Status::declared, core::Status::resolved}));
  events = escalation_events(after, resolved,
                             {core::StatusChanged{core::Status::declared, core::Status::resolved}},
                             set, organization_, now, zones_);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<core::EscalationStopped>(events[0]),
            (core::EscalationStopped{"two", "resolved", true, 2}));
}

TEST_F(EscalationFunctions, AcknowledgementEndsRoundsNotStartedButNotInformingStepsOfThisOne) {
  Match any;
  Policy p = policy("p", "plant-a", 0, any);
  p.steps[0].if_unacknowledged = false;  // inform the team, acknowledged or not
  Step supervisor;
  supervisor.after = 15min;
  supervisor.notify = {{NotifyTarget::Kind::members, "", {"sam"}}};
  Step manager;
  manager.after = 20min;
  manager.if_unacknowledged = false;
  manager.notify = {{NotifyTarget::Kind::members, "", {"pat"}}};
  p.steps.push_back(supervisor);
  p.steps.push_back(manager);
  p.repeat = 2;
  p.repeat_every = 30min;
  const PolicySet set = set_of({p});
  const auto start = utc(2026, 11, 24, 10, 0);
  core::Incident incident;
  incident.id = 1;
  incident.organization = "acme";
  incident.area = "assembly";
  incident = core::apply(
      incident, event_of(1, start, core::EscalationStarted{"p", "declared", plan_chain(p, start)}));
  ASSERT_EQ(incident.escalation->pending.size(), 9U);
  // Acknowledged at +5 min: Sam's step and the two later rounds go; Pat at +20 stays.
  const auto at = start + 5min;
  const auto events =
      escalation_events(incident, incident, {core::Acknowledged{}}, set, organization_, at, zones_);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<core::EscalationStopped>(events[0]).cancelled, 7);
  const core::Incident after = core::apply(incident, event_of(2, at, events[0]));
  ASSERT_EQ(after.escalation->pending.size(), 2U);
  EXPECT_EQ(after.escalation->pending[0].step, 1);  // +0, already due: fires if not yet
  EXPECT_EQ(after.escalation->pending[1].step, 3);
  EXPECT_EQ(after.escalation->pending[1].due, start + 20min);
  EXPECT_FALSE(after.escalation->ended);
}

TEST_F(EscalationFunctions, AFiredStepPagesWhoIsOnDutyThenAndSaysWhoCouldNotBe) {
  core::Incident incident;
  incident.id = 1;
  incident.declared_in = core::ChannelRef{"local", "general", "general"};
  core::EscalationStep step;
  step.step = 1;
  step.due = utc(2026, 11, 24, 8, 0);
  step.teams = {"maintenance", "nobody-team"};
  step.members = {"sam", "alice", "ghost"};
  step.team_channels = {"maintenance", "always"};
  incident.escalation = core::EscalationChain{"p", 5, step.due, {step}};
  const PlatformOf local = [](std::string_view) { return std::string("local"); };

  EXPECT_FALSE(fire_step(incident, 4, 1, 0, organization_, local, step.due, zones_));
  EXPECT_FALSE(fire_step(incident, 5, 2, 0, organization_, local, step.due, zones_));
  auto page = fire_step(incident, 5, 1, 0, organization_, local, step.due + 30s, zones_);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->chain, 5);
  EXPECT_FALSE(page->late);
  ASSERT_EQ(page->notified.size(), 2U);
  EXPECT_EQ(page->notified[0], (core::Actor{"alice", "Alice", "alice"}));
  EXPECT_EQ(page->notified[1], (core::Actor{"sam", "Sam", "sam"}));
  ASSERT_EQ(page->channels.size(), 1U);
  EXPECT_EQ(page->channels[0].id, "maint");
  EXPECT_THAT(page->unreachable, ElementsAre("team nobody-team is no longer in the directory",
                                             "team always has no channel in the directory",
                                             "ghost is no longer in the directory"));
  EXPECT_EQ(page->team, "maintenance");

  // On Slack only Alice has an account.
  const PlatformOf slack = [](std::string_view) { return std::string("slack"); };
  page = fire_step(incident, 5, 1, 0, organization_, slack, step.due, zones_);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->notified[0].id, "U1");
  EXPECT_EQ(page->notified[1].id, "");
  EXPECT_THAT(page->unreachable, ::testing::Contains("Sam has no slack account"));

  // Late: due before the daemon started, or fired more than a minute after due.
  EXPECT_TRUE(
      fire_step(incident, 5, 1, 0, organization_, local, step.due + 2s, zones_, step.due + 1s)
          ->late);
  EXPECT_TRUE(fire_step(incident, 5, 1, 0, organization_, local, step.due + 61s, zones_)->late);
}

}  // namespace
}  // namespace haveri::policy
