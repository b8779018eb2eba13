// Escalation through core's IncidentEngine, a real SQLite file and a fake chat
// platform, on a fake clock: chains start on declaration and on severity changes,
// pages reach people, acknowledgement and resolve stop them, and a restart fires
// what fell due meanwhile exactly once, marked late. The daemon's timer wheel is
// played by the test: it fires the timers the engine hands out.

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/engine.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/time_zone.hpp>
#include <haveri/store/sqlite_event_store.hpp>

#include "support/daemon_process.hpp"

namespace haveri {
namespace {

using core::InboundEvent;
using core::InboundOutcome;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class FakeClock final : public core::WallClock {
 public:
  core::TimePoint now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  // Tuesday 2026-11-24 10:00 UTC.
  core::TimePoint now_{std::chrono::milliseconds(1'795'514'400'000)};
};

core::Directory escalation_directory() {
  core::Organization acme;
  acme.id = "acme";
  acme.name = "Acme";
  acme.installations = {{"local", "plant"}};
  acme.facilities = {{"plant-a", "Plant A", "UTC"}};
  acme.areas = {{"assembly", "Assembly", "plant-a"}};
  core::Team maintenance;
  maintenance.id = "maintenance";
  maintenance.facility = "plant-a";
  maintenance.members = {"alice", "bob"};
  maintenance.channel = core::TeamChannel{"local", "maintenance", "maintenance"};
  acme.teams = {maintenance};
  acme.members = {{"alice", "Alice", "maintenance", {{"local", "alice"}}},
                  {"bob", "Bob", "maintenance", {{"local", "bob"}}},
                  {"sam", "Sam", "supervisor", {{"local", "sam"}}},
                  {"pat", "Pat", "manager", {}}};
  core::Directory directory;
  directory.organizations.push_back(std::move(acme));
  return directory;
}

policy::Step step(std::chrono::seconds after, std::vector<policy::NotifyTarget> notify,
                  bool if_unacknowledged = true) {
  policy::Step s;
  s.after = after;
  s.notify = std::move(notify);
  s.if_unacknowledged = if_unacknowledged;
  return s;
}

policy::NotifyTarget team(const std::string& id) {
  return {policy::NotifyTarget::Kind::team_on_shift, id, {}};
}
policy::NotifyTarget members(std::vector<std::string> ids) {
  return {policy::NotifyTarget::Kind::members, "", std::move(ids)};
}

policy::Policy policy_for(const std::string& name, core::Severity severity,
                          std::vector<policy::Step> steps) {
  policy::Policy p;
  p.name = name;
  p.organization = "acme";
  p.facility = "plant-a";
  p.match.severities = {severity};
  p.steps = std::move(steps);
  return p;
}

std::shared_ptr<const policy::PolicySet> escalation_policies() {
  policy::PolicySet set;
  set.policies.push_back(policy_for("sev1", core::Severity::sev1,
                                    {step(0s, {team("maintenance"), members({"sam", "pat"})}),
                                     step(30min, {members({"sam"})}, false)}));
  set.policies.push_back(
      policy_for("sev2", core::Severity::sev2,
                 {step(0s, {team("maintenance")}), step(15min, {members({"sam"})}),
                  step(60min, {members({"pat"})}, false)}));
  // SEV3 has no policy: nobody is paged.
  return std::make_shared<const policy::PolicySet>(std::move(set));
}

class Escalation : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    auto store = store::SqliteEventStore::open({dir_.path() / "haveri.db", "full"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store.value());
    engine_ = std::make_unique<core::IncidentEngine>(
        *store_, std::make_shared<const core::Directory>(escalation_directory()),
        core::IncidentSettings{}, core::OutboxSettings{}, clock_);
    engine_->set_limits("local", core::InstanceLimits{0ms, 1000.0, 1000});
    engine_->set_policies(escalation_policies());
    engine_->set_time_zones(std::make_shared<policy::TimeZoneDatabase>());
    auto started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    take_timers();
  }

  void restart() {
    engine_.reset();
    store_.reset();
    timers_.clear();
    open();
  }

  // What the daemon's wheel would hold, kept up to date from the engine's updates.
  void take_timers() {
    const core::EscalationTimerUpdate update = engine_->take_escalation_updates();
    if (update.replace_all) {
      timers_.clear();
    }
    for (const core::IncidentId incident : update.incidents) {
      std::erase_if(timers_,
                    [&](const core::EscalationTimer& t) { return t.incident == incident; });
    }
    timers_.insert(timers_.end(), update.timers.begin(), update.timers.end());
  }

  // Fires every timer due by now, like the wheel's tick; returns how many paged.
  int fire_due() {
    int fired = 0;
    std::vector<core::EscalationTimer> due;
    for (const auto& timer : timers_) {
      if (timer.due <= clock_.now()) {
        due.push_back(timer);
      }
    }
    std::erase_if(timers_, [&](const core::EscalationTimer& t) { return t.due <= clock_.now(); });
    for (const auto& timer : due) {
      const auto before = events(timer.incident).size();
      EXPECT_EQ(engine_->fire_escalation(timer), InboundOutcome::committed);
      fired += events(timer.incident).size() > before ? 1 : 0;
    }
    take_timers();
    deliver();
    return fired;
  }

  void pass(std::chrono::milliseconds by) {
    clock_.advance(by);
    fire_due();
  }

  InboundOutcome command(const std::string& channel, const std::string& user,
                         const std::string& text) {
    InboundEvent event;
    event.type = InboundEvent::Type::command;
    event.platform = "local";
    event.installation = "plant";
    event.channel = core::ChannelRef{"local", channel, channel};
    event.user = core::Actor{user, user};
    event.text = text;
    event.idempotency_key = "k" + std::to_string(++key_counter_);
    const InboundOutcome outcome = engine_->handle(event);
    take_timers();
    deliver();
    return outcome;
  }

  void deliver() {
    for (int round = 0; round < 100; ++round) {
      auto due = engine_->take_due(100);
      if (due.empty()) {
        return;
      }
      for (const auto& operation : due) {
        json parsed = json::parse(operation.operation);
        operations_.push_back(parsed);
        json result = {{"v", 1}, {"status", "ok"}};
        const std::string type = parsed.value("type", "");
        if (type == "create_channel") {
          result["channel"] = {{"id", parsed.value("name", "")},
                               {"name", parsed.value("name", "")}};
        } else if (type == "post_message" || type == "notify_person") {
          result["message_id"] = "m" + std::to_string(operations_.size());
        }
        engine_->complete(operation.outbox_id, result.dump());
      }
    }
  }

  // Who got a personal page, in order.
  std::vector<std::string> paged() const {
    std::vector<std::string> people;
    for (const json& operation : operations_) {
      if (operation.value("type", "") == "notify_person") {
        people.push_back(operation["user"].value("id", ""));
      }
    }
    return people;
  }

  std::vector<core::Event> events(core::IncidentId id) {
    auto loaded = store_->events(id);
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? loaded.value() : std::vector<core::Event>{};
  }

  template <class Payload>
  std::vector<Payload> payloads(core::IncidentId id) {
    std::vector<Payload> out;
    for (const auto& event : events(id)) {
      if (const auto* payload = std::get_if<Payload>(&event.payload)) {
        out.push_back(*payload);
      }
    }
    return out;
  }

  core::Incident incident(core::IncidentId id) {
    auto loaded = store_->incident(id);
    EXPECT_TRUE(loaded.ok() && loaded.value().has_value());
    return loaded.ok() && loaded.value() ? *loaded.value() : core::Incident{};
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::SqliteEventStore> store_;
  std::unique_ptr<core::IncidentEngine> engine_;
  std::vector<core::EscalationTimer> timers_;
  std::vector<json> operations_;
  int key_counter_ = 0;
};

TEST_F(Escalation, DeclarationStartsTheChainAndPagesTheShiftAtOnce) {
  ASSERT_EQ(command("general", "carol", "declare Conveyor 4 jammed sev2 area:assembly"),
            InboundOutcome::committed);
  const auto started = payloads<core::EscalationStarted>(1);
  ASSERT_EQ(started.size(), 1U);
  EXPECT_EQ(started[0].policy, "sev2");
  EXPECT_EQ(started[0].reason, "declared");
  ASSERT_EQ(started[0].steps.size(), 3U);
  EXPECT_EQ(started[0].steps[1].due, clock_.now() + 15min);
  ASSERT_EQ(timers_.size(), 3U);

  EXPECT_EQ(fire_due(), 1);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
  const auto pages = payloads<core::Escalated>(1);
  ASSERT_EQ(pages.size(), 1U);
  EXPECT_EQ(pages[0].step, 1);
  EXPECT_FALSE(pages[0].late);
  EXPECT_EQ(pages[0].instance, "local");
  // The page names the incident on its button, so it works from a personal chat.
  const auto page = std::find_if(operations_.begin(), operations_.end(), [](const json& op) {
    return op.value("type", "") == "notify_person";
  });
  ASSERT_NE(page, operations_.end());
  EXPECT_EQ((*page)["message"]["actions"][0]["command"], "ack INC-1");
  EXPECT_THAT((*page)["message"].value("title", ""), HasSubstr("INC-1"));
}

TEST_F(Escalation, UnacknowledgedTheSupervisorIsPagedAfterFifteenMinutes) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  pass(14min);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
  pass(1min);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob", "sam"));
  EXPECT_EQ(incident(1).escalation->pending.size(), 1U);
}

TEST_F(Escalation, AcknowledgingFromThePageStopsTheStepsThatNeedNoAcknowledgement) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  pass(5min);
  // Alice presses Acknowledge in her personal chat: no incident channel there.
  ASSERT_EQ(command("dm-alice", "alice", "ack INC-1"), InboundOutcome::committed);
  const core::Incident acknowledged = incident(1);
  ASSERT_TRUE(acknowledged.acknowledged_by);
  EXPECT_EQ(acknowledged.acknowledged_by->member, "alice");
  const auto stopped = payloads<core::EscalationStopped>(1);
  ASSERT_EQ(stopped.size(), 1U);
  EXPECT_EQ(stopped[0].reason, "acknowledged");
  EXPECT_EQ(stopped[0].cancelled, 1);
  // The timer for the supervisor may still be in a wheel somewhere: firing it pages nobody.
  pass(20min);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
  // The step that keeps the manager informed still fires.
  pass(40min);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));  // Pat has no local account
  const auto pages = payloads<core::Escalated>(1);
  ASSERT_EQ(pages.size(), 2U);
  EXPECT_EQ(pages[1].step, 3);
  EXPECT_THAT(pages[1].unreachable, ElementsAre(HasSubstr("Pat has no local account")));
  // Alice was told privately that her acknowledgement counted.
  const bool told = std::any_of(operations_.begin(), operations_.end(), [](const json& op) {
    return op.value("visible_to", "") == "alice" &&
           op["message"].value("text", "").find("You acknowledged INC-1") != std::string::npos;
  });
  EXPECT_TRUE(told);
}

TEST_F(Escalation, AStaleTimerFromAnEarlierWheelPagesNobody) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  const auto first = timers_.front();
  fire_due();
  EXPECT_EQ(engine_->fire_escalation(first), InboundOutcome::committed);  // the same step again
  EXPECT_EQ(payloads<core::Escalated>(1).size(), 1U);
  core::EscalationTimer wrong_chain = timers_.front();
  wrong_chain.chain += 100;
  EXPECT_EQ(engine_->fire_escalation(wrong_chain), InboundOutcome::committed);
  core::EscalationTimer gone{42, 1, 1, 0, clock_.now()};
  EXPECT_EQ(engine_->fire_escalation(gone), InboundOutcome::committed);
  EXPECT_EQ(payloads<core::Escalated>(1).size(), 1U);
}

TEST_F(Escalation, ResolvingCancelsEveryPendingStep) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "status mitigated"), InboundOutcome::committed);
  InboundEvent resolve;
  resolve.type = InboundEvent::Type::form_submission;
  resolve.platform = "local";
  resolve.installation = "plant";
  resolve.channel = core::ChannelRef{"local", "inc-1-press-stuck", "inc-1-press-stuck"};
  resolve.user = core::Actor{"carol", "carol"};
  resolve.form_id = "resolve:1";
  resolve.values = {{"what_happened", "stuck"}, {"root_cause", "dirt"}, {"resolution", "cleaned"}};
  resolve.idempotency_key = "resolve-1";
  ASSERT_EQ(engine_->handle(resolve), InboundOutcome::committed);
  take_timers();
  EXPECT_TRUE(timers_.empty());
  const auto stopped = payloads<core::EscalationStopped>(1);
  ASSERT_EQ(stopped.size(), 1U);
  EXPECT_EQ(stopped[0].reason, "resolved");
  EXPECT_EQ(stopped[0].cancelled, 2);
  pass(2h);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
}

TEST_F(Escalation, ARestartFiresWhatFellDueMeanwhileOnceAndMarksItLate) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  // haverid stops for two hours before the supervisor's step was due.
  restart();
  ASSERT_EQ(timers_.size(), 2U) << "pending steps are read back from the store";
  clock_.advance(2h);
  EXPECT_EQ(fire_due(), 2);
  const auto pages = payloads<core::Escalated>(1);
  ASSERT_EQ(pages.size(), 3U);
  EXPECT_FALSE(pages[0].late);
  EXPECT_TRUE(pages[1].late);
  EXPECT_TRUE(pages[2].late);
  EXPECT_EQ(pages[1].due, incident(1).declared_at + 15min);
  const bool noted = std::any_of(operations_.begin(), operations_.end(), [](const json& op) {
    return op.value("type", "") == "notify_person" && op["user"].value("id", "") == "sam" &&
           op["message"].value("context", "").find("Late") != std::string::npos;
  });
  EXPECT_TRUE(noted);
  // Another restart finds nothing left to fire.
  restart();
  EXPECT_TRUE(timers_.empty());
  pass(1h);
  EXPECT_EQ(payloads<core::Escalated>(1).size(), 3U);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob", "sam"));
}

TEST_F(Escalation, RaisingTheSeverityStartsTheNewPolicysChainAndNeedsItsOwnAcknowledgement) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev3 area:assembly"),
            InboundOutcome::committed);
  EXPECT_TRUE(payloads<core::EscalationStarted>(1).empty()) << "SEV3 has no policy here";
  ASSERT_EQ(command("inc-1-press-stuck", "alice", "ack"), InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "sev sev2"), InboundOutcome::committed);
  const auto started = payloads<core::EscalationStarted>(1);
  ASSERT_EQ(started.size(), 1U);
  EXPECT_EQ(started[0].reason, "severity_change");
  fire_due();
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
  // The earlier acknowledgement does not stop a chain that started after it.
  ASSERT_EQ(command("inc-1-press-stuck", "bob", "ack"), InboundOutcome::committed);
  EXPECT_EQ(payloads<core::EscalationStopped>(1).size(), 1U);
  EXPECT_EQ(incident(1).acknowledged_by->member, "alice") << "time to acknowledge keeps the first";
  // Now a further acknowledgement is refused as before.
  const auto before = events(1).size();
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "ack"), InboundOutcome::committed);
  EXPECT_EQ(events(1).size(), before);
  // SEV2 -> SEV1 replaces the chain (its informational step was pending).
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "sev sev1"), InboundOutcome::committed);
  const auto stopped = payloads<core::EscalationStopped>(1);
  ASSERT_EQ(stopped.size(), 2U);
  EXPECT_EQ(stopped[1].reason, "replaced");
  fire_due();
  EXPECT_THAT(paged(), ElementsAre("alice", "bob", "alice", "bob", "sam"));
}

TEST_F(Escalation, OnlyAnIncidentsFirstAcknowledgementIsReportedForTheLatencyMetric) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev3 area:assembly"),
            InboundOutcome::committed);
  clock_.advance(2min);
  ASSERT_EQ(command("inc-1-press-stuck", "alice", "ack"), InboundOutcome::committed);
  EXPECT_THAT(engine_->take_first_acknowledgements(),
              ElementsAre(core::FirstAcknowledgement{1, core::Severity::sev3, 120000ms}));
  EXPECT_TRUE(engine_->take_first_acknowledgements().empty()) << "taken once";
  // A chain started by raising the severity waits for an acknowledgement of its
  // own; that one, and one refused after it, are not the incident's first.
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "sev sev2"), InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "bob", "ack"), InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "ack"), InboundOutcome::committed);
  EXPECT_TRUE(engine_->take_first_acknowledgements().empty());
}

TEST_F(Escalation, LoweringToASeverityWithoutPolicyStopsTheChain) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "sev sev3"), InboundOutcome::committed);
  const auto stopped = payloads<core::EscalationStopped>(1);
  ASSERT_EQ(stopped.size(), 1U);
  EXPECT_EQ(stopped[0].reason, "no_policy");
  pass(2h);
  EXPECT_THAT(paged(), ElementsAre("alice", "bob"));
}

TEST_F(Escalation, PendingStepsReachTheWheelOnlyOnceTheirBatchIsDurable) {
  engine_->hold_outbox(true);
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  EXPECT_TRUE(engine_->take_escalation_updates().empty());
  engine_->settle(true);
  const auto update = engine_->take_escalation_updates();
  EXPECT_FALSE(update.replace_all);
  EXPECT_THAT(update.incidents, ElementsAre(1));
  EXPECT_EQ(update.timers.size(), 3U);
  // A lost batch: the wheel is rebuilt from what the store really has.
  ASSERT_EQ(command("dm-alice", "alice", "ack INC-1"), InboundOutcome::committed);
  engine_->settle(false);
  const auto resync = engine_->take_escalation_updates();
  EXPECT_TRUE(resync.replace_all);
}

TEST_F(Escalation, AckWithAnIncidentNumberIsParsedAndRefusedForAnotherOrganizationsIncident) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  const auto before = events(1).size();
  ASSERT_EQ(command("dm-alice", "alice", "ack INC-99"), InboundOutcome::committed);
  ASSERT_EQ(command("dm-alice", "alice", "ack INC-x"), InboundOutcome::committed);
  EXPECT_EQ(events(1).size(), before);
  ASSERT_EQ(command("dm-alice", "alice", "ack #1"), InboundOutcome::committed);
  EXPECT_EQ(events(1).size(), before + 2);  // acknowledgement + escalation_stopped
}

TEST_F(Escalation, ADeclarationInAnotherIncidentsChannelStartsFromNothing) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "declare Second press stuck sev1 area:assembly"),
            InboundOutcome::committed);
  EXPECT_TRUE(payloads<core::EscalationStopped>(2).empty());
  ASSERT_EQ(payloads<core::EscalationStarted>(2).size(), 1U);
  EXPECT_EQ(payloads<core::EscalationStarted>(2)[0].policy, "sev1");
  EXPECT_EQ(incident(1).escalation->pending.size(), 3U) << "INC-1's chain is untouched";
}

TEST_F(Escalation, AnOnlyInformingChainStartedAfterTheFirstAcknowledgementTakesOneMore) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev3 area:assembly"),
            InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "alice", "ack"), InboundOutcome::committed);
  ASSERT_EQ(command("inc-1-press-stuck", "carol", "sev sev1"), InboundOutcome::committed);
  fire_due();  // step 1; what is left informs Sam whatever happens
  ASSERT_EQ(incident(1).escalation->pending.size(), 1U);
  EXPECT_FALSE(incident(1).escalation->pending[0].if_unacknowledged);
  const auto before = events(1).size();
  ASSERT_EQ(command("dm-bob", "bob", "ack INC-1"), InboundOutcome::committed);
  EXPECT_EQ(events(1).size(), before + 2);
  EXPECT_TRUE(incident(1).escalation->acknowledged);
  ASSERT_EQ(command("dm-bob", "bob", "ack INC-1"), InboundOutcome::committed);
  EXPECT_EQ(events(1).size(), before + 2) << "a third acknowledgement is refused";
}

TEST_F(Escalation, AStepOfAnOrganizationThatLeftTheDirectoryIsRecordedAsPagingNobody) {
  ASSERT_EQ(command("general", "carol", "declare Press stuck sev2 area:assembly"),
            InboundOutcome::committed);
  fire_due();
  engine_->set_directory(std::make_shared<const core::Directory>());
  pass(15min);
  const auto pages = payloads<core::Escalated>(1);
  ASSERT_EQ(pages.size(), 2U);
  EXPECT_TRUE(pages[1].notified.empty());
  EXPECT_THAT(pages[1].unreachable, ElementsAre("organization acme is no longer in the directory"));
  EXPECT_EQ(incident(1).escalation->pending.size(), 1U);
}

}  // namespace
}  // namespace haveri
