// The incident service with a real SQLite file, a fake clock and a recording
// operation sender standing in for the plugin host.
#include "incident_service.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/store/sqlite_event_store.hpp>

#include "support/daemon_process.hpp"

namespace {

using haveri::core::InboundOutcome;
using haveri::daemon::IncidentService;
using ::testing::HasSubstr;

class FakeClock final : public haveri::core::WallClock {
 public:
  haveri::core::TimePoint now() const override { return haveri::core::TimePoint{} + now_; }
  std::chrono::milliseconds now_{1'795'000'000'000};
};

// What the service asked plugins to do; each is answered by a scripted result.
class RecordingSender {
 public:
  using Script = std::function<nlohmann::json(const nlohmann::json& operation)>;

  haveri::daemon::OperationSender sender() {
    return [this](const std::string& instance, nlohmann::json operation, auto done) {
      nlohmann::json result;
      {
        std::lock_guard lock(mutex_);
        operation["instance"] = instance;
        operations_.push_back(operation);
        result = script_(operation);
      }
      changed_.notify_all();
      done(std::move(result));
    };
  }

  void set_script(Script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }

  // Waits (bounded) until `count` operations were sent; returns them all.
  std::vector<nlohmann::json> await(std::size_t count,
                                    std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return operations_.size() >= count; });
    return {operations_.begin(), operations_.end()};
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<nlohmann::json> operations_;
  Script script_ = [](const nlohmann::json& operation) {
    if (operation.value("type", "") == "create_channel") {
      return nlohmann::json{{"v", 1},
                            {"status", "ok"},
                            {"channel", {{"id", operation["name"]}, {"name", operation["name"]}}}};
    }
    return nlohmann::json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}};
  };
};

// The real SQLite store, whose next commits can be made to fail (as a full disk
// would): nothing of such a batch is kept.
class FlakyStore final : public haveri::core::EventStore {
 public:
  explicit FlakyStore(std::unique_ptr<haveri::core::EventStore> inner) : inner_(std::move(inner)) {}
  std::atomic<int> failing_commits{0};

  haveri::core::VoidResult commit_batch() override {
    if (failing_commits > 0) {
      --failing_commits;
      return haveri::core::make_error(haveri::core::ErrorCode::storage, "disk full (test)");
    }
    return inner_->commit_batch();
  }

  using Id = haveri::core::IncidentId;
  template <class T>
  using R = haveri::core::Result<T>;
  R<haveri::core::AppendOutcome> append(const haveri::core::AppendRequest& r) override {
    return inner_->append(r);
  }
  R<std::vector<haveri::core::Event>> events(Id id) override { return inner_->events(id); }
  R<std::optional<haveri::core::Incident>> incident(Id id) override { return inner_->incident(id); }
  R<std::vector<haveri::core::Incident>> incidents(std::string_view o) override {
    return inner_->incidents(o);
  }
  R<std::vector<haveri::core::Incident>> incidents_with_timed_work() override {
    return inner_->incidents_with_timed_work();
  }
  R<bool> has_receipt(std::string_view k) override { return inner_->has_receipt(k); }
  R<std::optional<Id>> incident_by_channel(std::string_view o, std::string_view i,
                                           std::string_view c) override {
    return inner_->incident_by_channel(o, i, c);
  }
  R<std::vector<haveri::core::FollowUpListing>> follow_ups(std::string_view o,
                                                           std::optional<std::string_view> a,
                                                           bool d) override {
    return inner_->follow_ups(o, a, d);
  }
  R<std::optional<haveri::core::Member>> member_by_identity(std::string_view o, std::string_view p,
                                                            std::string_view u) override {
    return inner_->member_by_identity(o, p, u);
  }
  R<bool> record_member(std::string_view o, const haveri::core::Member& m,
                        haveri::core::TimePoint t) override {
    return inner_->record_member(o, m, t);
  }
  R<std::vector<haveri::core::Member>> members(std::string_view o) override {
    return inner_->members(o);
  }
  R<std::vector<haveri::core::SearchHit>> search(std::string_view o, std::string_view q,
                                                 std::size_t l) override {
    return inner_->search(o, q, l);
  }
  haveri::core::VoidResult rebuild_projections() override { return inner_->rebuild_projections(); }
  R<std::vector<std::string>> projection_rows() override { return inner_->projection_rows(); }
  haveri::core::VoidResult begin_batch() override { return inner_->begin_batch(); }
  void rollback_batch() noexcept override { inner_->rollback_batch(); }
  haveri::core::VoidResult begin_job() override { return inner_->begin_job(); }
  haveri::core::VoidResult end_job(bool keep) override { return inner_->end_job(keep); }
  R<std::vector<haveri::core::OutboxEntry>> pending_outbox() override {
    return inner_->pending_outbox();
  }
  haveri::core::VoidResult outbox_done(std::int64_t id) override { return inner_->outbox_done(id); }
  haveri::core::VoidResult outbox_retry(std::int64_t id, int a, haveri::core::TimePoint n,
                                        std::string_view e) override {
    return inner_->outbox_retry(id, a, n, e);
  }
  haveri::core::VoidResult outbox_failed(std::int64_t id, int a, std::string_view e,
                                         haveri::core::TimePoint t) override {
    return inner_->outbox_failed(id, a, e, t);
  }
  haveri::core::VoidResult outbox_remove(std::span<const std::int64_t> ids) override {
    return inner_->outbox_remove(ids);
  }
  R<std::vector<haveri::core::OutboxFailure>> outbox_failures(std::size_t l) override {
    return inner_->outbox_failures(l);
  }

 private:
  std::unique_ptr<haveri::core::EventStore> inner_;
};

// Short, so a held writer counts as stuck within a test.
constexpr std::chrono::milliseconds kLongestTransaction{500};

class IncidentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(std::size_t max_queued = 10000) {
    service_.reset();
    auto store = haveri::store::SqliteEventStore::open({dir_.path() / "haveri.db", "full"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    haveri::core::OutboxSettings outbox;
    outbox.max_attempts = 5;
    haveri::daemon::IncidentServiceOptions options;
    options.max_queued_inbound = max_queued;
    options.tick_interval = std::chrono::hours(1);
    options.platforms = {{"local", "local"}};
    options.longest_store_transaction = kLongestTransaction;
    auto flaky = std::make_unique<FlakyStore>(std::move(store.value()));
    flaky_ = flaky.get();
    service_ = std::make_unique<IncidentService>(
        std::move(flaky),
        std::make_shared<const haveri::core::Directory>(haveri::core::default_directory({"local"})),
        haveri::core::IncidentSettings{}, outbox, clock_, sender_.sender(), options);
    service_->set_limits("local",
                         haveri::core::InstanceLimits{std::chrono::milliseconds(0), 1000.0, 1000});
    auto started = service_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  // Waits (bounded) until the writer has had nothing to do for a while: start() leaves
  // jobs behind (the first outbox pump), and a test that makes "the next commit" fail
  // must not have one of those take the failure instead.
  void await_idle_writer() {
    std::uint64_t last_jobs = ~std::uint64_t{0};
    int quiet_polls = 0;
    for (int i = 0; i < 250 && quiet_polls < 5; ++i) {
      const auto stats = service_->store_stats();
      quiet_polls = stats.queued == 0 && stats.jobs == last_jobs ? quiet_polls + 1 : 0;
      last_jobs = stats.jobs;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(quiet_polls, 5) << "the writer never went idle";
  }

  // Submits an inbound event and waits for the durability answer.
  bool submit(nlohmann::json event) {
    return outcome_of(std::move(event)) == InboundOutcome::committed;
  }

  InboundOutcome outcome_of(nlohmann::json event) {
    std::promise<InboundOutcome> answered;
    auto future = answered.get_future();
    service_->handle_inbound("local", std::move(event),
                             [&answered](InboundOutcome outcome) { answered.set_value(outcome); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    return future.get();
  }

  static nlohmann::json chat(const std::string& type, const std::string& channel,
                             const std::string& text, const std::string& key) {
    return {{"v", 1},
            {"type", type},
            {"idempotency_key", key},
            {"channel", {{"id", channel}, {"name", channel}}},
            {"user", {{"id", "alice"}, {"name", "Alice"}}},
            {"text", text}};
  }

  std::vector<haveri::core::Event> timeline(haveri::core::IncidentId id) {
    std::promise<std::vector<haveri::core::Event>> result;
    auto future = result.get_future();
    service_->incident_timeline(id, [&result](auto r) {
      result.set_value(r.ok() ? r.value().second : std::vector<haveri::core::Event>{});
    });
    return future.get();
  }

  static std::vector<nlohmann::json> of_type(const std::vector<nlohmann::json>& operations,
                                             const std::string& type) {
    std::vector<nlohmann::json> matching;
    for (const auto& operation : operations) {
      if (operation.value("type", "") == type) {
        matching.push_back(operation);
      }
    }
    return matching;
  }

  haveri::testing::TempDir dir_;
  FakeClock clock_;
  RecordingSender sender_;
  std::unique_ptr<IncidentService> service_;
  FlakyStore* flaky_ = nullptr;  // owned by service_
};

TEST_F(IncidentServiceTest, DeclareCreatesTheChannelLinksItAndPostsTheCard) {
  EXPECT_TRUE(submit(chat("command", "general", "declare Oven 3 overheating sev2", "k-1")));
  // create, announcement, global card; then invite, triage card, global card edit.
  auto operations = sender_.await(6);
  auto creates = of_type(operations, "create_channel");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]["name"], "inc-1-oven-3-overheating");
  EXPECT_FALSE(creates[0].value("operation_key", "").empty());
  EXPECT_FALSE(creates[0].contains("_haveri"));  // host-only members never reach a plugin
  auto posts = of_type(operations, "post_message");
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(posts[2]["channel"]["id"], "inc-1-oven-3-overheating");
  EXPECT_THAT(posts[2]["message"].value("title", ""), HasSubstr("Oven 3 overheating"));
  EXPECT_EQ(of_type(operations, "invite").size(), 1u);
  EXPECT_EQ(of_type(operations, "update_message").size(), 1u);
  service_->stop();
  start();
  std::vector<haveri::core::EventType> types;
  for (const auto& event : timeline(1)) {
    types.push_back(event.type());
  }
  using haveri::core::EventType;
  EXPECT_THAT(types, ::testing::UnorderedElementsAre(EventType::declared, EventType::channel_linked,
                                                     EventType::bot_guidance,
                                                     EventType::global_card_posted));
}

TEST_F(IncidentServiceTest, RetriedCommandIsNeitherAppliedNorAnsweredTwice) {
  EXPECT_TRUE(submit(chat("command", "general", "declare Line 2 stopped sev3", "k-1")));
  sender_.await(7);
  const auto settled = sender_.await(100, std::chrono::milliseconds(300)).size();
  const auto events_before = timeline(1).size();
  EXPECT_TRUE(submit(chat("command", "inc-1-line-2-stopped", "status investigating", "k-2")));
  const auto before = sender_.await(settled + 2).size();
  EXPECT_TRUE(submit(chat("command", "inc-1-line-2-stopped", "status investigating", "k-2")));
  EXPECT_TRUE(submit(chat("command", "general", "declare Line 2 stopped sev3", "k-1")));
  EXPECT_EQ(sender_.await(before + 1, std::chrono::milliseconds(300)).size(), before);
  EXPECT_EQ(timeline(1).size(), events_before + 1);
  EXPECT_TRUE(timeline(2).empty());
}

TEST_F(IncidentServiceTest, MalformedEventIsAcknowledgedAndStoresNothing) {
  EXPECT_TRUE(submit({{"v", 1}, {"type", "message"}, {"text", "no channel or user"}}));
  EXPECT_TRUE(submit({{"v", 1}, {"type", "command"}, {"text", 42}}));
  EXPECT_TRUE(submit(chat("reaction_added", "general", ":fire:", "k-9")));  // unknown type
  EXPECT_TRUE(sender_.await(1, std::chrono::milliseconds(200)).empty());
  EXPECT_TRUE(timeline(1).empty());
}

TEST_F(IncidentServiceTest, OddlyTypedPluginResultIsReportedNotFatal) {
  sender_.set_script([](const nlohmann::json& operation) {
    if (operation.value("type", "") == "create_channel") {
      return nlohmann::json{{"v", 1}, {"status", "permanent"}, {"error", {{"code", 7}}}};
    }
    const auto message = operation.value("message", nlohmann::json::object());
    if (message.value("title", "").find("declared") != std::string::npos) {
      return nlohmann::json{{"v", 1}, {"status", "ok"}, {"message_id", {{"x", 1}}}};
    }
    return nlohmann::json{{"v", 1}, {"status", "ok"}, {"message_id", 12}};
  });
  EXPECT_TRUE(submit(chat("command", "general", "declare Chiller fault sev2", "k-1")));
  // create (refused), announcement, global card, the failure, then the incident is
  // worked in #general: invite, card, global card edit.
  auto operations = sender_.await(7);
  auto posts = of_type(operations, "post_message");
  ASSERT_GE(posts.size(), 3u);
  bool reported = false;
  for (const auto& post : posts) {
    reported = reported ||
               post["message"].value("title", "").find("could not be created") != std::string::npos;
  }
  EXPECT_TRUE(reported);
  bool linked_to_general = false;
  for (const auto& event : timeline(1)) {
    if (const auto* linked = std::get_if<haveri::core::ChannelLinked>(&event.payload)) {
      linked_to_general = linked->channel.id == "general";
    }
  }
  EXPECT_TRUE(linked_to_general);
  // The service is still alive and stores what follows.
  EXPECT_TRUE(submit(chat("command", "general", "declare Second fault sev3", "k-2")));
  EXPECT_EQ(timeline(2).size(), 1u);
}

TEST_F(IncidentServiceTest, RetryableOperationIsRetriedWithTheSameKeyThenGivenUp) {
  sender_.set_script([](const nlohmann::json&) {
    return nlohmann::json{{"v", 1}, {"status", "retryable"}, {"retry_after_ms", 0}};
  });
  EXPECT_TRUE(submit(chat("command", "general", "help", "k-1")));
  auto operations = sender_.await(6, std::chrono::milliseconds(2000));
  ASSERT_EQ(operations.size(), 5u);  // the attempt budget, and no more
  for (const auto& operation : operations) {
    EXPECT_EQ(operation["operation_key"], operations[0]["operation_key"]);
  }
}

TEST_F(IncidentServiceTest, AHugeRetryAfterIsCappedNotOverflowed) {
  sender_.set_script([](const nlohmann::json&) {
    return nlohmann::json{{"v", 1}, {"status", 12}, {"retry_after_ms", 1e300}};
  });
  EXPECT_TRUE(submit(chat("command", "general", "help", "k-1")));
  // One attempt, then a wait of at most the configured cap: not a busy loop.
  EXPECT_EQ(sender_.await(2, std::chrono::milliseconds(300)).size(), 1u);
}

TEST_F(IncidentServiceTest, FullQueueAnswersRetryLaterAtOnce) {
  start(0);
  EXPECT_EQ(outcome_of(chat("command", "general", "declare Queue full sev1", "k-1")),
            InboundOutcome::retry_later);
  EXPECT_TRUE(timeline(1).empty());
}

TEST_F(IncidentServiceTest, MessagesOutsideIncidentChannelsAreNotRecorded) {
  EXPECT_TRUE(submit(chat("message", "general", "anyone seen the oven?", "k-1")));
  EXPECT_TRUE(submit(chat("command", "general", "declare Oven sev3", "k-2")));
  sender_.await(6);
  EXPECT_TRUE(submit(chat("message", "inc-1-oven", "door is open", "k-3")));
  auto events = timeline(1);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), haveri::core::EventType::message);
  EXPECT_EQ(events.back().actor.display_name, "Alice");
  EXPECT_EQ(events.back().actor.member, "local:alice");
  EXPECT_EQ(events.back().at, clock_.now());
}

TEST_F(IncidentServiceTest, AnUnclaimedInstallationIsRefused) {
  auto event = chat("command", "general", "declare Oven sev3", "k-1");
  event["installation"] = "another-plant";
  EXPECT_EQ(outcome_of(event), InboundOutcome::refused);
  EXPECT_TRUE(timeline(1).empty());
}

TEST_F(IncidentServiceTest, NewInboundTypesAreCheckedForShape) {
  EXPECT_TRUE(submit({{"v", 1},
                      {"type", "form_submission"},
                      {"idempotency_key", "f-0"},
                      {"channel", {{"id", "general"}}},
                      {"user", {{"id", "alice"}}},
                      {"form_id", "declare"},
                      {"values", 7}}));
  EXPECT_TRUE(submit({{"v", 1},
                      {"type", "message_changed"},
                      {"idempotency_key", "e-0"},
                      {"channel", {{"id", "general"}}},
                      {"user", {{"id", "alice"}}},
                      {"text", "edited"}}));
  EXPECT_TRUE(sender_.await(1, std::chrono::milliseconds(200)).empty());
  // A well-formed declare form submission declares.
  EXPECT_TRUE(submit({{"v", 1},
                      {"type", "form_submission"},
                      {"idempotency_key", "f-1"},
                      {"channel", {{"id", "general"}}},
                      {"user", {{"id", "alice"}}},
                      {"form_id", "declare"},
                      {"values", {{"title", "Press 2 smoking"}, {"severity", "sev1"}}}}));
  ASSERT_FALSE(timeline(1).empty());
  EXPECT_EQ(timeline(1)[0].type(), haveri::core::EventType::declared);
}

TEST_F(IncidentServiceTest, AnEventWithoutAnIdempotencyKeyIsDroppedNotStored) {
  // Stored without a key, a platform retry would be recorded twice.
  nlohmann::json keyless = chat("command", "general", "declare Press 2 smoking sev1", "k-1");
  keyless.erase("idempotency_key");
  EXPECT_TRUE(submit(keyless));
  nlohmann::json huge = chat("command", "general", "declare Press 2 smoking sev1", "k-1");
  huge["idempotency_key"] = std::string(513, 'k');
  EXPECT_TRUE(submit(huge));
  EXPECT_TRUE(sender_.await(1, std::chrono::milliseconds(200)).empty());
  EXPECT_TRUE(timeline(1).empty());
  // The same event with a key declares.
  EXPECT_TRUE(submit(chat("command", "general", "declare Press 2 smoking sev1", "k-1")));
  EXPECT_FALSE(timeline(1).empty());
}

TEST_F(IncidentServiceTest, ARequestWhoseBatchCannotCommitIsRetriedAndStoredOnce) {
  await_idle_writer();
  flaky_->failing_commits = 1;
  EXPECT_EQ(outcome_of(chat("command", "general", "declare Kiln 2 cold sev2", "k-1")),
            InboundOutcome::retry_later);
  EXPECT_TRUE(timeline(1).empty());
  // The platform's retry lands, once, and the chat hears of it.
  EXPECT_TRUE(submit(chat("command", "general", "declare Kiln 2 cold sev2", "k-1")));
  EXPECT_EQ(of_type(sender_.await(1), "create_channel").size(), 1U);
  EXPECT_EQ(timeline(1).front().type(), haveri::core::EventType::declared);
  EXPECT_TRUE(timeline(2).empty());
}

TEST_F(IncidentServiceTest, AResultLostWithItsBatchIsOwedAgainAndSentWithTheSameKey) {
  // The batch that records the channel's creation fails: the store still owes the
  // operation, so it is sent again (same operation key) and then recorded.
  sender_.set_script([this, failed = false](const nlohmann::json& operation) mutable {
    if (operation.value("type", "") == "create_channel") {
      if (!failed) {
        failed = true;
        flaky_->failing_commits = 1;
      }
      return nlohmann::json{{"v", 1},
                            {"status", "ok"},
                            {"channel", {{"id", operation["name"]}, {"name", operation["name"]}}}};
    }
    return nlohmann::json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}};
  });
  EXPECT_TRUE(submit(chat("command", "general", "declare Press 9 stuck sev3", "k-1")));
  std::vector<nlohmann::json> creates;
  for (int i = 0; i < 100 && creates.size() < 2; ++i) {
    creates = of_type(sender_.await(1000, std::chrono::milliseconds(50)), "create_channel");
  }
  ASSERT_EQ(creates.size(), 2U);
  EXPECT_EQ(creates[0]["operation_key"], creates[1]["operation_key"]);
  bool linked = false;
  for (int i = 0; i < 100 && !linked; ++i) {
    for (const auto& event : timeline(1)) {
      linked = linked || event.type() == haveri::core::EventType::channel_linked;
    }
    if (!linked) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(linked);
}

// The systemd watchdog's probe: a store writer that stops finishing jobs while work
// waits for it is reported stuck, and healthy again once it moves.
TEST_F(IncidentServiceTest, LivenessProbeReportsAStoreWriterThatStopsMoving) {
  const auto probe = [this] {
    auto answered = std::make_shared<std::promise<std::pair<bool, std::string>>>();
    auto future = answered->get_future();
    service_->probe_liveness([answered](bool healthy, std::string problem) {
      answered->set_value({healthy, std::move(problem)});
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    return future.get();
  };
  EXPECT_TRUE(probe().first);  // idle

  // The writer thread hands outbox operations to the sender: one that blocks holds
  // the writer, as a hung disk or a stuck job would.
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  auto blocked = std::make_shared<std::atomic<bool>>(false);
  sender_.set_script([&entered, released, blocked](const nlohmann::json& operation) {
    if (!blocked->exchange(true)) {
      entered.set_value();
      released.wait_for(std::chrono::seconds(10));
    }
    if (operation.value("type", "") == "create_channel") {
      return nlohmann::json{{"v", 1},
                            {"status", "ok"},
                            {"channel", {{"id", operation["name"]}, {"name", operation["name"]}}}};
    }
    return nlohmann::json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}};
  });
  EXPECT_TRUE(submit(chat("command", "general", "declare Writer stuck sev2", "k-1")));
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  std::promise<InboundOutcome> behind;
  auto behind_outcome = behind.get_future();
  service_->handle_inbound("local", chat("command", "general", "declare Behind it sev3", "k-2"),
                           [&behind](InboundOutcome outcome) { behind.set_value(outcome); });
  // The first probe may still count the jobs finished before the writer stopped; a
  // transaction younger than longest_store_transaction is work, not a hang.
  (void)probe();
  EXPECT_TRUE(probe().first) << "a transaction held for less than the limit is not a hang";
  std::this_thread::sleep_for(kLongestTransaction + std::chrono::milliseconds(100));
  const auto [healthy, problem] = probe();
  EXPECT_FALSE(healthy);
  EXPECT_THAT(problem, HasSubstr("job(s) waiting"));

  release.set_value();
  ASSERT_EQ(behind_outcome.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(behind_outcome.get(), InboundOutcome::committed);
  EXPECT_TRUE(probe().first);
}

}  // namespace
