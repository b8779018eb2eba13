// The whole incident loop through core's IncidentEngine, a real SQLite file and an
// in-process fake chat platform, on a fake clock: what a responder does and sees,
// minute by minute, including restarts in the middle.

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/engine.hpp>
#include <haveri/store/sqlite_event_store.hpp>

#include "support/daemon_process.hpp"

namespace haveri {
namespace {

using core::InboundEvent;
using core::InboundOutcome;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class FakeClock final : public core::WallClock {
 public:
  core::TimePoint now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }
  core::TimePoint start() const { return start_; }
  std::int64_t minutes_since_start() const {
    return std::chrono::duration_cast<std::chrono::minutes>(now_ - start_).count();
  }

 private:
  core::TimePoint start_{std::chrono::milliseconds(1'795'000'000'000)};  // 2026-11-18
  core::TimePoint now_ = start_;
};

// What the fake platform shows in one channel.
struct PostedMessage {
  std::string id;
  json message;
  std::string visible_to;
  int edits = 0;
};

// A chat platform in memory that performs operations like Slack would: channels
// by name (taken names refused), message ids, edits in place, operation keys
// deduplicated, and failures on demand.
class FakePlatform {
 public:
  // The result the plugin would report for `operation`.
  json perform(const json& operation) {
    const std::string key = operation.value("operation_key", "");
    ++attempts_[key];
    if (auto seen = results_.find(key); seen != results_.end()) {
      ++repeats_;
      return seen->second;
    }
    if (fail_next_ > 0) {
      --fail_next_;
      return json{{"v", 1},
                  {"status", "retryable"},
                  {"retry_after_ms", 5000},
                  {"error", "rate limited (429)"}};
    }
    const std::string type = operation.value("type", "");
    json result = {{"v", 1}, {"status", "ok"}};
    if (type == "create_channel") {
      const std::string name = operation.value("name", "");
      if (channels_.count(name) != 0) {
        return json{{"v", 1},
                    {"status", "permanent"},
                    {"error_code", "name_taken"},
                    {"error", "name_taken"}};
      }
      channels_[name];
      result["channel"] = {{"id", "C-" + name}, {"name", name}};
    } else if (type == "post_message") {
      const std::string channel = channel_name(operation);
      const std::string id = "m" + std::to_string(++message_counter_);
      channels_[channel].push_back(
          PostedMessage{id, operation["message"], operation.value("visible_to", ""), 0});
      result["message_id"] = id;
    } else if (type == "update_message") {
      auto& messages = channels_[channel_name(operation)];
      auto it = std::find_if(messages.begin(), messages.end(), [&](const PostedMessage& m) {
        return m.id == operation.value("message_id", "");
      });
      if (it == messages.end()) {
        return json{{"v", 1},
                    {"status", "permanent"},
                    {"error_code", "message_not_found"},
                    {"error", "message_not_found"}};
      }
      it->message = operation["message"];
      ++it->edits;
      ++edits_;
    } else if (type == "invite") {
      for (const auto& user : operation["users"]) {
        members_[channel_name(operation)].insert(user.get<std::string>());
      }
    } else {
      return json{{"v", 1}, {"status", "permanent"}, {"error", "unknown operation"}};
    }
    results_[key] = result;
    return result;
  }

  static std::string channel_name(const json& operation) {
    const json channel = operation.value("channel", json::object());
    return channel.value("name", channel.value("id", ""));
  }

  const std::vector<PostedMessage>& channel(const std::string& name) { return channels_[name]; }
  bool has_channel(const std::string& name) const { return channels_.count(name) != 0; }
  const std::set<std::string>& members(const std::string& name) { return members_[name]; }
  // Titles of messages in a channel that everyone sees.
  std::vector<std::string> titles(const std::string& name) {
    std::vector<std::string> out;
    for (const auto& posted : channel(name)) {
      if (posted.visible_to.empty()) {
        out.push_back(posted.message.value("title", ""));
      }
    }
    return out;
  }
  void fail_next(int count) { fail_next_ = count; }
  void take_name(const std::string& name) { channels_[name]; }
  void delete_all(const std::string& name) { channels_[name].clear(); }
  int repeats() const { return repeats_; }
  int edits() const { return edits_; }
  int performed() const { return static_cast<int>(results_.size()); }
  // Operation keys that reached the platform more than once with a first success.
  const std::map<std::string, int>& attempts() const { return attempts_; }

 private:
  std::map<std::string, std::vector<PostedMessage>> channels_;
  std::map<std::string, std::set<std::string>> members_;
  std::map<std::string, json> results_;
  std::map<std::string, int> attempts_;
  int message_counter_ = 0;
  int fail_next_ = 0;
  int repeats_ = 0;
  int edits_ = 0;
};

core::Directory test_directory() {
  core::Organization acme;
  acme.id = "acme";
  acme.name = "Acme";
  acme.installations = {{"local", "plant"}};
  acme.announcements = core::AnnouncementsChannel{"local", "announcements", "announcements"};
  acme.areas = {{"assembly", "Assembly", "plant-a"}};
  acme.assets = {{"conveyor-4", "Conveyor 4", "conveyor", "assembly"}};
  acme.members = {{"alice", "Alice", "maintenance", {{"local", "alice"}}},
                  {"bob", "Bob", "maintenance", {{"local", "bob"}}}};
  core::Directory directory;
  directory.organizations.push_back(std::move(acme));
  return directory;
}

class IncidentLoop : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    auto store = store::SqliteEventStore::open({dir_.path() / "haveri.db", "full"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store.value());
    engine_ = std::make_unique<core::IncidentEngine>(
        *store_, std::make_shared<const core::Directory>(test_directory()), settings_,
        core::OutboxSettings{}, clock_);
    // Like the local plugin: no pacing, so minutes stay exact (pacing has its own test).
    engine_->set_limits("local", core::InstanceLimits{0ms, 1000.0, 1000});
    auto started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  // A restart: everything in memory is gone, the file stays.
  void restart() {
    engine_.reset();
    store_.reset();
    open();
  }

  InboundOutcome say(const std::string& channel, const std::string& user, const std::string& text,
                     InboundEvent::Type type = InboundEvent::Type::message) {
    InboundEvent event;
    event.type = type;
    event.platform = "local";
    event.installation = "plant";
    event.channel = core::ChannelRef{"local", channel_id(channel), channel};
    event.user = core::Actor{user, user};
    event.text = text;
    event.idempotency_key = "k" + std::to_string(++key_counter_);
    event.message_id = "pm" + std::to_string(key_counter_);
    return engine_->handle(event);
  }

  InboundOutcome command(const std::string& channel, const std::string& user,
                         const std::string& text) {
    return say(channel, user, text, InboundEvent::Type::command);
  }

  InboundOutcome submit(const std::string& channel, const std::string& user,
                        const std::string& form_id, std::map<std::string, std::string> values) {
    InboundEvent event;
    event.type = InboundEvent::Type::form_submission;
    event.platform = "local";
    event.installation = "plant";
    event.channel = core::ChannelRef{"local", channel_id(channel), channel};
    event.user = core::Actor{user, user};
    event.form_id = form_id;
    event.values = std::move(values);
    event.idempotency_key = "k" + std::to_string(++key_counter_);
    return engine_->handle(event);
  }

  std::string channel_id(const std::string& name) {
    return name.starts_with("inc-") ? "C-" + name : name;
  }

  // Delivers every due operation to the fake platform until nothing is due now.
  int deliver() {
    int delivered = 0;
    for (int round = 0; round < 100; ++round) {
      auto due = engine_->take_due(100);
      if (due.empty()) {
        break;
      }
      for (const auto& operation : due) {
        const json result = platform_.perform(json::parse(operation.operation));
        engine_->complete(operation.outbox_id, result.dump());
        ++delivered;
      }
    }
    return delivered;
  }

  // Lets `minutes` pass minute by minute, ticking and delivering like the daemon.
  void pass(int minutes) {
    for (int i = 0; i < minutes; ++i) {
      clock_.advance(1min);
      auto ticked = engine_->tick();
      ASSERT_TRUE(ticked.ok()) << ticked.error().message;
      deliver();
    }
  }

  core::Incident incident(core::IncidentId id) {
    auto loaded = store_->incident(id);
    EXPECT_TRUE(loaded.ok() && loaded.value().has_value());
    return loaded.ok() && loaded.value() ? *loaded.value() : core::Incident{};
  }

  std::vector<core::Event> events(core::IncidentId id) {
    auto loaded = store_->events(id);
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? loaded.value() : std::vector<core::Event>{};
  }

  std::vector<std::string> event_types(core::IncidentId id) {
    std::vector<std::string> types;
    for (const auto& event : events(id)) {
      types.emplace_back(core::to_string(event.type()));
    }
    return types;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  core::IncidentSettings settings_;
  std::unique_ptr<store::SqliteEventStore> store_;
  std::unique_ptr<core::IncidentEngine> engine_;
  FakePlatform platform_;
  int key_counter_ = 0;
};

const std::string kChannel = "inc-1-conveyor-4-jammed";

TEST_F(IncidentLoop, TheWholeLoopOnAFakeClock) {
  // Minute 0: declare.
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2 area:assembly"),
            InboundOutcome::committed);
  deliver();
  ASSERT_TRUE(platform_.has_channel(kChannel));
  EXPECT_THAT(platform_.titles("general"), ::testing::Contains(HasSubstr("INC-1 declared")));
  EXPECT_EQ(platform_.members(kChannel), (std::set<std::string>{"alice"}));
  const auto triage = platform_.titles(kChannel);
  ASSERT_FALSE(triage.empty());
  EXPECT_THAT(triage.front(), HasSubstr("INC-1 · Conveyor 4 jammed"));
  ASSERT_EQ(platform_.channel("announcements").size(), 1U);
  const std::string card_id = platform_.channel("announcements")[0].id;
  EXPECT_EQ(incident(1).global_card->message_id, card_id);
  EXPECT_EQ(incident(1).area, "assembly");
  EXPECT_EQ(incident(1).organization, "acme");

  // Minute 2: people talk, attach nothing, set severity and lead.
  pass(2);
  ASSERT_EQ(say(kChannel, "bob", "belt slipped off the rollers"), InboundOutcome::committed);
  ASSERT_EQ(say(kChannel, "alice", "stopping the line"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "bob", "sev sev1"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "alice", "lead @bob"), InboundOutcome::committed);
  deliver();
  EXPECT_EQ(incident(1).message_count, 2);
  EXPECT_EQ(incident(1).severity, core::Severity::sev1);
  ASSERT_TRUE(incident(1).lead.has_value());
  EXPECT_EQ(incident(1).lead->member, "bob");
  EXPECT_EQ(platform_.members(kChannel), (std::set<std::string>{"alice", "bob"}));  // invited
  // The global card was edited in place, never posted twice.
  ASSERT_EQ(platform_.channel("announcements").size(), 1U);
  EXPECT_GE(platform_.channel("announcements")[0].edits, 1);
  auto global = platform_.channel("announcements")[0].message;
  EXPECT_THAT(global.value("title", ""), HasSubstr("SEV1"));

  // SEV1: 15 minutes without acknowledgement breaches the SLA; no update for 15
  // minutes nudges the lead. Both happen at minute 15, once.
  pass(12);  // now minute 14
  auto types = event_types(1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "sla_breach"), 0);
  pass(1);  // minute 15
  types = event_types(1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "sla_breach"), 1)
      << clock_.minutes_since_start();
  EXPECT_EQ(std::count(types.begin(), types.end(), "nudge"), 1);
  EXPECT_THAT(platform_.titles(kChannel), ::testing::Contains(HasSubstr("@Bob: no update")));
  pass(5);
  types = event_types(1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "sla_breach"), 1);  // once only

  // Minute 20: acknowledge, mitigate.
  ASSERT_EQ(command(kChannel, "bob", "ack"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "bob", "status mitigated"), InboundOutcome::committed);
  deliver();
  EXPECT_EQ(incident(1).status, core::Status::mitigated);
  EXPECT_EQ(core::metrics_of(incident(1), clock_.now()).time_to_acknowledge, 20min);

  // Resolve: the form first, then its submission with a summary.
  ASSERT_EQ(command(kChannel, "bob", "resolve"), InboundOutcome::committed);
  deliver();
  const auto& last = platform_.channel(kChannel).back();
  EXPECT_EQ(last.visible_to, "bob");
  EXPECT_EQ(last.message["form"].value("id", ""), "resolve:1");
  ASSERT_EQ(submit(kChannel, "bob", "resolve:1",
                   {{"what_happened", "Belt came off"},
                    {"root_cause", "Worn tensioner"},
                    {"resolution", "Replaced the tensioner"},
                    {"lines_affected", "1"},
                    {"units_lost", "340"}}),
            InboundOutcome::committed);
  deliver();
  EXPECT_EQ(incident(1).status, core::Status::resolved);
  ASSERT_TRUE(incident(1).summary.has_value());
  EXPECT_EQ(incident(1).summary->impact.units_lost, 340);
  EXPECT_EQ(core::metrics_of(incident(1), clock_.now()).time_to_resolve, 20min);

  // Close, then two follow-ups; reminders before and when due.
  ASSERT_EQ(command(kChannel, "bob", "close"), InboundOutcome::committed);
  deliver();
  EXPECT_EQ(incident(1).status, core::Status::closed);
  EXPECT_EQ(platform_.channel(kChannel).back().message["form"].value("id", ""), "followup:1");
  ASSERT_EQ(
      submit(kChannel, "bob", "followup:1",
             {{"description", "Order spare tensioners"}, {"assignee", "@alice"}, {"due", "+2d"}}),
      InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "alice", "followup Inspect all belts @bob due:+26h"),
            InboundOutcome::committed);
  deliver();
  ASSERT_EQ(incident(1).follow_ups.size(), 2U);
  EXPECT_EQ(incident(1).follow_ups[0].assignee->member, "alice");
  EXPECT_EQ(incident(1).follow_ups[1].assignee->member, "bob");

  // #2 is due in 26 h: its "before" reminder comes 24 h ahead, at +2 h.
  pass(119);
  EXPECT_EQ(incident(1).follow_ups[1].last_reminder, "");
  pass(1);
  EXPECT_EQ(incident(1).follow_ups[1].last_reminder, "before");
  EXPECT_THAT(platform_.titles(kChannel),
              ::testing::Contains(HasSubstr("@Bob: reminder, Follow-up #2 is due soon")));
  // At +26 h it is due; #1 (due +48 h) got its "before" reminder at +24 h.
  pass(24 * 60);
  EXPECT_EQ(incident(1).follow_ups[1].last_reminder, "due");
  EXPECT_EQ(incident(1).follow_ups[0].last_reminder, "before");
  ASSERT_EQ(command(kChannel, "bob", "followup done 2"), InboundOutcome::committed);
  deliver();
  // Done follow-ups are not reminded again; #1 becomes due at +48 h.
  pass(22 * 60);
  EXPECT_EQ(incident(1).follow_ups[1].last_reminder, "due");
  EXPECT_EQ(incident(1).follow_ups[0].last_reminder, "due");

  // A closed incident takes no changes but its follow-ups.
  ASSERT_EQ(command(kChannel, "bob", "sev sev3"), InboundOutcome::committed);
  deliver();
  EXPECT_EQ(incident(1).severity, core::Severity::sev1);
  EXPECT_THAT(platform_.channel(kChannel).back().message.value("text", ""), HasSubstr("CLOSED"));

  // Nothing the platform confirmed was ever performed twice.
  EXPECT_EQ(platform_.repeats(), 0);
}

TEST_F(IncidentLoop, RetriesHonourRetryAfterAndTakenNamesGetTheNextOne) {
  platform_.take_name(kChannel);
  platform_.fail_next(1);
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  // The first attempt was rate limited for 5 s: nothing more happens before that.
  EXPECT_FALSE(platform_.has_channel(kChannel + "-2"));
  clock_.advance(4s);
  deliver();
  EXPECT_FALSE(platform_.has_channel(kChannel + "-2"));
  clock_.advance(2s);
  for (int i = 0; i < 10; ++i) {
    deliver();
    clock_.advance(2s);
  }
  ASSERT_TRUE(platform_.has_channel(kChannel + "-2"));
  EXPECT_EQ(incident(1).channel->name, kChannel + "-2");
  EXPECT_EQ(engine_->outbox_stats().failed, 1U);  // the taken name
}

TEST_F(IncidentLoop, QueuedEditsOfTheGlobalCardCoalesceIntoTheNewest) {
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  const int edits_before = platform_.edits();
  // Four changes while nothing is delivered: one edit, showing the last state.
  ASSERT_EQ(command(kChannel, "alice", "sev sev1"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "alice", "lead me"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "alice", "comms @bob"), InboundOutcome::committed);
  ASSERT_EQ(command(kChannel, "alice", "status investigating"), InboundOutcome::committed);
  EXPECT_GE(engine_->outbox_stats().coalesced, 3U);
  clock_.advance(10s);
  deliver();
  EXPECT_EQ(platform_.edits() - edits_before, 1);
  const json card = platform_.channel("announcements")[0].message;
  EXPECT_THAT(card.dump(), HasSubstr("INVESTIGATING"));
  EXPECT_THAT(card.dump(), HasSubstr("Bob"));
}

TEST_F(IncidentLoop, AGlobalCardDeletedOnThePlatformIsPostedAnew) {
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  const std::string first_id = incident(1).global_card->message_id;
  platform_.delete_all("announcements");
  ASSERT_EQ(command(kChannel, "alice", "sev sev1"), InboundOutcome::committed);
  deliver();
  ASSERT_EQ(platform_.channel("announcements").size(), 1U);
  EXPECT_THAT(platform_.channel("announcements")[0].message.value("title", ""), HasSubstr("SEV1"));
  EXPECT_NE(incident(1).global_card->message_id, first_id);
  EXPECT_EQ(incident(1).global_card->message_id, platform_.channel("announcements")[0].id);
}

TEST_F(IncidentLoop, ARestartInTheMiddleLosesNothingAndSendsNothingTwice) {
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  ASSERT_EQ(command(kChannel, "alice", "sev sev1"), InboundOutcome::committed);
  ASSERT_EQ(say(kChannel, "bob", "on my way"), InboundOutcome::committed);
  // Half of what is due reaches the platform, then the daemon dies before it
  // records the results of the rest.
  auto due = engine_->take_due(100);
  ASSERT_GE(due.size(), 2U);
  for (std::size_t i = 0; i < due.size(); ++i) {
    const json result = platform_.perform(json::parse(due[i].operation));
    if (i % 2 == 0) {
      engine_->complete(due[i].outbox_id, result.dump());
    }
  }
  const int performed = platform_.performed();
  restart();
  clock_.advance(5s);
  deliver();
  // The unconfirmed ones were sent again with their keys and recognised; nothing new.
  EXPECT_EQ(platform_.performed(), performed);
  EXPECT_EQ(platform_.repeats(), static_cast<int>(due.size() / 2));
  EXPECT_EQ(engine_->outbox_stats().queued, 0U);
  // The loop goes on after the restart.
  ASSERT_EQ(command(kChannel, "alice", "ack"), InboundOutcome::committed);
  deliver();
  EXPECT_TRUE(incident(1).acknowledged_at.has_value());
  EXPECT_EQ(incident(1).message_count, 1);
  auto pending = store_->pending_outbox();
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending.value().empty());
}

TEST_F(IncidentLoop, OperationsInOneChannelArePacedByTheDeclaredInterval) {
  engine_->set_limits("local", core::InstanceLimits{1000ms, 1000.0, 1000});
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  ASSERT_TRUE(platform_.has_channel(kChannel));
  // Creating the channel used the lane's slot; the triage card waits a second.
  EXPECT_TRUE(platform_.channel(kChannel).empty());
  clock_.advance(999ms);
  deliver();
  EXPECT_TRUE(platform_.channel(kChannel).empty());
  clock_.advance(1ms);
  deliver();
  EXPECT_EQ(platform_.members(kChannel), (std::set<std::string>{"alice"}));
  clock_.advance(1s);
  deliver();
  EXPECT_EQ(platform_.channel(kChannel).size(), 1U);
}

TEST_F(IncidentLoop, RetriedInboundEventsAreRecordedOnceAndRepliedOnce) {
  InboundEvent event;
  event.type = InboundEvent::Type::command;
  event.platform = "local";
  event.installation = "plant";
  event.channel = core::ChannelRef{"local", "general", "general"};
  event.user = core::Actor{"alice", "alice"};
  event.text = "sev sev9";
  event.idempotency_key = "same";
  ASSERT_EQ(engine_->handle(event), InboundOutcome::committed);
  ASSERT_EQ(engine_->handle(event), InboundOutcome::committed);
  deliver();
  EXPECT_EQ(platform_.channel("general").size(), 1U);  // one error reply, not two
}

TEST_F(IncidentLoop, UnclaimedInstallationsAreRefusedAndNothingIsStored) {
  InboundEvent event;
  event.type = InboundEvent::Type::command;
  event.platform = "local";
  event.installation = "someone-else";
  event.channel = core::ChannelRef{"local", "general", "general"};
  event.user = core::Actor{"mallory", "mallory"};
  event.text = "declare Fake fire sev1";
  event.idempotency_key = "x1";
  EXPECT_EQ(engine_->handle(event), InboundOutcome::refused);
  EXPECT_THAT(engine_->last_problem(), HasSubstr("someone-else"));
  auto all = store_->incidents("");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all.value().empty());
  EXPECT_FALSE(store_->has_receipt("x1").value());
  EXPECT_EQ(deliver(), 0);
}

TEST_F(IncidentLoop, ChatUsersSeenFirstAreRecordedAsMembers) {
  ASSERT_EQ(command("general", "dave", "declare Smoke at press 2 sev1"), InboundOutcome::committed);
  auto members = store_->members("acme");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members.value().size(), 1U);
  EXPECT_EQ(members.value()[0].id, "local:dave");
  EXPECT_EQ(incident(1).declared_by.member, "local:dave");
  // Directory members are not copied into the store.
  ASSERT_EQ(command("general", "alice", "list"), InboundOutcome::committed);
  EXPECT_EQ(store_->members("acme").value().size(), 1U);
}

TEST_F(IncidentLoop, LongMessagesAreKeptTruncatedNeverRejected) {
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  const std::string huge(100 * 1024, 'x');
  ASSERT_EQ(say(kChannel, "bob", huge), InboundOutcome::committed);
  const auto stored = events(1).back();
  const auto& posted = std::get<core::MessagePosted>(stored.payload);
  EXPECT_TRUE(posted.truncated);
  EXPECT_LE(posted.text.size(), core::kMaxMessageBytes + 200);
  EXPECT_THAT(posted.text, HasSubstr("truncated"));
}

TEST_F(IncidentLoop, RefusedTitleChangesLeaveNothingHalfWritten) {
  ASSERT_EQ(command("general", "alice", "declare Conveyor 4 jammed sev2"),
            InboundOutcome::committed);
  deliver();
  const auto before = events(1).size();
  ASSERT_EQ(command(kChannel, "alice", "title " + std::string(201, 'a')),
            InboundOutcome::committed);
  deliver();
  EXPECT_EQ(events(1).size(), before);
  EXPECT_THAT(platform_.channel(kChannel).back().message.value("text", ""), HasSubstr("200"));
}

// Long random sequences of valid commands: the projection must always equal a
// fold of the stored events, and a reopened store must agree.
TEST_F(IncidentLoop, RandomHistoriesRebuildToTheLiveState) {
  std::mt19937 random(20261124);
  const std::vector<std::string> people = {"alice", "bob", "carol", "dave"};
  const std::vector<std::string> commands = {"sev sev1",
                                             "sev sev2",
                                             "sev sev3",
                                             "lead @bob",
                                             "lead me",
                                             "comms @alice",
                                             "comms me",
                                             "ack",
                                             "note checking",
                                             "action swapped part",
                                             "status investigating",
                                             "status mitigated",
                                             "title Renamed line",
                                             "followup Fix it @carol due:+1d",
                                             "followup done 1",
                                             "followup start 1",
                                             "followup due 1 +3d",
                                             "resolve",
                                             "close",
                                             "search trouble",
                                             "search \"unbalanced"};
  for (int incident_number = 1; incident_number <= 6; ++incident_number) {
    ASSERT_EQ(command("general", people[random() % people.size()],
                      "declare Random trouble " + std::to_string(incident_number) + " sev2"),
              InboundOutcome::committed);
    deliver();
  }
  auto all = store_->incidents("acme");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.value().size(), 6U);
  for (int step = 0; step < 600; ++step) {
    const core::Incident& target = all.value()[random() % all.value().size()];
    const std::string channel = incident(target.id).channel->name;
    const std::string who = people[random() % people.size()];
    const int kind = static_cast<int>(random() % 10);
    if (kind == 0) {
      ASSERT_NE(
          say(channel, who,
              "chatter " + std::to_string(step) + " about pump " + std::to_string(random() % 50)),
          InboundOutcome::retry_later);
    } else if (kind == 1) {
      ASSERT_NE(submit(channel, who, "resolve:" + std::to_string(target.id),
                       {{"what_happened", "w"}, {"root_cause", "r"}, {"resolution", "s"}}),
                InboundOutcome::retry_later);
    } else {
      ASSERT_NE(command(channel, who, commands[random() % commands.size()]),
                InboundOutcome::retry_later);
    }
    if (step % 7 == 0) {
      clock_.advance(std::chrono::minutes(random() % 30));
      ASSERT_TRUE(engine_->tick().ok());
    }
    deliver();
  }
  const auto check = [&] {
    auto listed_incidents = store_->incidents("acme");
    ASSERT_TRUE(listed_incidents.ok());
    auto listed_follow_ups = store_->follow_ups("acme", std::nullopt, true);
    ASSERT_TRUE(listed_follow_ups.ok());
    for (const core::Incident& listed : listed_incidents.value()) {
      const auto history = events(listed.id);
      EXPECT_EQ(core::fold(history), incident(listed.id)) << "INC-" << listed.id;
      EXPECT_EQ(core::fold(history), listed) << "INC-" << listed.id;
      // The follow-up projection equals the fold's follow-ups.
      std::vector<core::FollowUp> projected;
      for (const auto& item : listed_follow_ups.value()) {
        if (item.incident == listed.id) {
          projected.push_back(item.follow_up);
        }
      }
      EXPECT_EQ(projected, core::fold(history).follow_ups) << "INC-" << listed.id;
    }
  };
  check();
  restart();
  check();

  // Every projection row — incident list, channel index, follow-ups, search index —
  // is what a replay of the events writes.
  auto live = store_->projection_rows();
  ASSERT_TRUE(live.ok()) << live.error().message;
  ASSERT_GT(live.value().size(), 600U);
  ASSERT_TRUE(store_->rebuild_projections().ok());
  auto rebuilt = store_->projection_rows();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ(live.value(), rebuilt.value());
  auto found = store_->search("acme", "pump", 50);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_FALSE(found.value().empty());
  EXPECT_LE(found.value().size(), 6U);  // one hit per incident
}

}  // namespace
}  // namespace haveri
