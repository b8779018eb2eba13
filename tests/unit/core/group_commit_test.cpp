// GroupCommitWriter against a store that records what it is asked to do, so that
// failures SQLite cannot be made to produce on demand (a commit that fails, a
// batch that cannot begin) are tested too. The SQLite store runs the same writer
// in the store conformance suite.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/group_commit.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

// Touched by the writer thread only, read by the test after stop().
class RecordingStore final : public EventStore {
 public:
  std::vector<std::string> log;
  bool fail_begin = false;
  bool fail_commit = false;
  std::size_t appended = 0;

  Result<AppendOutcome> append(const AppendRequest& request) override {
    log.push_back("append " + request.idempotency_key);
    if (request.idempotency_key == "bad") {
      return make_error(ErrorCode::conflict, "someone appended first");
    }
    AppendOutcome outcome;
    outcome.incident = static_cast<IncidentId>(++appended);
    return outcome;
  }
  VoidResult begin_batch() override {
    log.emplace_back("begin");
    if (fail_begin) {
      return make_error(ErrorCode::storage, "disk on fire");
    }
    return Done{};
  }
  VoidResult commit_batch() override {
    log.emplace_back("commit");
    if (fail_commit) {
      return make_error(ErrorCode::storage, "disk full");
    }
    return Done{};
  }
  void rollback_batch() noexcept override { log.emplace_back("rollback"); }
  VoidResult begin_job() override {
    log.emplace_back("savepoint");
    return Done{};
  }
  VoidResult end_job(bool keep) override {
    log.emplace_back(keep ? "release" : "undo");
    return Done{};
  }

  // Not used by the writer.
  Result<std::vector<Event>> events(IncidentId) override { return unused(); }
  Result<std::optional<Incident>> incident(IncidentId) override { return unused(); }
  Result<std::vector<Incident>> incidents(std::string_view) override { return unused(); }
  Result<std::vector<Incident>> incidents_with_timed_work() override { return unused(); }
  Result<bool> has_receipt(std::string_view) override { return unused(); }
  Result<std::optional<IncidentId>> incident_by_channel(std::string_view, std::string_view,
                                                        std::string_view) override {
    return unused();
  }
  Result<std::vector<FollowUpListing>> follow_ups(std::string_view, std::optional<std::string_view>,
                                                  bool) override {
    return unused();
  }
  Result<std::optional<Member>> member_by_identity(std::string_view, std::string_view,
                                                   std::string_view) override {
    return unused();
  }
  Result<bool> record_member(std::string_view, const Member&, TimePoint) override {
    return unused();
  }
  Result<std::vector<Member>> members(std::string_view) override { return unused(); }
  Result<std::vector<SearchHit>> search(std::string_view, std::string_view, std::size_t) override {
    return unused();
  }
  VoidResult rebuild_projections() override { return unused(); }
  Result<std::vector<std::string>> projection_rows() override { return unused(); }
  Result<std::vector<OutboxEntry>> pending_outbox() override { return unused(); }
  VoidResult outbox_done(std::int64_t) override { return unused(); }
  VoidResult outbox_retry(std::int64_t, int, TimePoint, std::string_view) override {
    return unused();
  }
  VoidResult outbox_failed(std::int64_t, int, std::string_view, TimePoint) override {
    return unused();
  }
  VoidResult outbox_remove(std::span<const std::int64_t>) override { return unused(); }
  Result<std::vector<OutboxFailure>> outbox_failures(std::size_t) override { return unused(); }

 private:
  static Error unused() { return make_error(ErrorCode::not_found, "not part of this test"); }
};

// Holds the writer inside a first job until released, so that everything
// submitted meanwhile is known to land in one later batch.
class Gate {
 public:
  GroupCommitWriter::Job job() {
    GroupCommitWriter::Job job;
    job.run = [this](EventStore&) {
      // Taken before saying "entered": once released, the test (and the gate) may end
      // while this job is still returning.
      std::future<void> released = release_.get_future();
      entered_.set_value();
      released.wait();
      return true;
    };
    return job;
  }
  void wait_entered() { entered_.get_future().wait(); }
  void release() { release_.set_value(); }

 private:
  std::promise<void> entered_;
  std::promise<void> release_;
};

const Executor kInline = [](std::function<void()> work) { work(); };

AppendRequest keyed(std::string key) {
  AppendRequest request;
  request.idempotency_key = std::move(key);
  return request;
}

TEST(GroupCommitWriter, JobsQueuedDuringACommitShareTheNextTransaction) {
  RecordingStore store;
  GroupCommitWriter writer(store);
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  std::vector<std::future<Result<AppendOutcome>>> outcomes;
  for (int i = 0; i < 5; ++i) {
    auto promise = std::make_shared<std::promise<Result<AppendOutcome>>>();
    outcomes.push_back(promise->get_future());
    writer.append(keyed("k" + std::to_string(i)), kInline,
                  [promise](Result<AppendOutcome> outcome) { promise->set_value(outcome); });
  }
  gate.release();
  for (auto& outcome : outcomes) {
    EXPECT_TRUE(outcome.get().ok());
  }
  writer.stop();
  const std::vector<std::string> expected = {
      "begin",   "savepoint", "release",   "commit",  // the gate alone
      "begin",   "savepoint", "append k0", "release", "savepoint", "append k1",
      "release", "savepoint", "append k2", "release", "savepoint", "append k3",
      "release", "savepoint", "append k4", "release", "commit"};
  EXPECT_EQ(store.log, expected);
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.batches, 2U);
  EXPECT_EQ(stats.jobs, 6U);
  EXPECT_EQ(stats.largest_batch, 5U);
}

TEST(GroupCommitWriter, AFailedAppendIsUndoneAloneAndOthersCommit) {
  RecordingStore store;
  GroupCommitWriter writer(store);
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  std::promise<Result<AppendOutcome>> good;
  std::promise<Result<AppendOutcome>> bad;
  writer.append(keyed("good"), kInline, [&good](auto outcome) { good.set_value(outcome); });
  writer.append(keyed("bad"), kInline, [&bad](auto outcome) { bad.set_value(outcome); });
  gate.release();
  EXPECT_TRUE(good.get_future().get().ok());
  auto refused = bad.get_future().get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  writer.stop();
  EXPECT_EQ(std::count(store.log.begin(), store.log.end(), "undo"), 1);
  EXPECT_EQ(store.log.back(), "commit");
}

TEST(GroupCommitWriter, ACommitThatFailsFailsEveryJobOfItsBatch) {
  RecordingStore store;
  store.fail_commit = true;
  GroupCommitWriter writer(store);
  std::promise<Result<AppendOutcome>> answered;
  writer.append(keyed("k"), kInline, [&answered](auto outcome) { answered.set_value(outcome); });
  auto outcome = answered.get_future().get();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::storage);
  EXPECT_NE(outcome.error().message.find("disk full"), std::string::npos);
  writer.stop();
  EXPECT_EQ(store.log.back(), "rollback");
  EXPECT_EQ(writer.stats().failed_batches, 1U);
  EXPECT_EQ(writer.stats().batches, 0U);
}

TEST(GroupCommitWriter, ABatchThatCannotBeginRunsNoJobAndSaysWhy) {
  RecordingStore store;
  store.fail_begin = true;
  GroupCommitWriter writer(store);
  std::promise<VoidResult> settled;
  GroupCommitWriter::Job job;
  bool ran = false;
  job.run = [&ran](EventStore&) {
    ran = true;
    return true;
  };
  job.settled = [&settled](const VoidResult& durable) { settled.set_value(durable); };
  ASSERT_TRUE(writer.submit(std::move(job)).ok());
  auto durable = settled.get_future().get();
  ASSERT_FALSE(durable.ok());
  EXPECT_NE(durable.error().message.find("disk on fire"), std::string::npos);
  writer.stop();
  EXPECT_FALSE(ran);
}

TEST(GroupCommitWriter, TheBatchObserverSeesEveryBatchAfterItsJobsAreSettled) {
  RecordingStore store;
  std::vector<GroupCommitBatch> observed;  // writer thread; read after stop()
  std::vector<std::string> order;
  GroupCommitOptions options;
  options.on_batch = [&](const GroupCommitBatch& batch) {
    observed.push_back(batch);
    order.emplace_back("observed");
    if (observed.size() == 1) {
      throw std::runtime_error("an observer that throws stops nothing");
    }
  };
  GroupCommitWriter writer(store, options);
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  std::vector<std::future<Result<AppendOutcome>>> outcomes;
  for (int i = 0; i < 3; ++i) {
    auto promise = std::make_shared<std::promise<Result<AppendOutcome>>>();
    outcomes.push_back(promise->get_future());
    writer.append(keyed("k" + std::to_string(i)), kInline,
                  [promise, &order](const Result<AppendOutcome>& outcome) {
                    order.emplace_back("settled");
                    promise->set_value(outcome);
                  });
  }
  gate.release();
  for (auto& outcome : outcomes) {
    EXPECT_TRUE(outcome.get().ok());
  }
  store.fail_commit = true;  // the writer is idle: the next batch fails to commit
  std::promise<Result<AppendOutcome>> lost;
  writer.append(keyed("lost"), kInline, [&lost](auto outcome) { lost.set_value(outcome); });
  EXPECT_FALSE(lost.get_future().get().ok());
  writer.stop();
  ASSERT_EQ(observed.size(), 3U);
  EXPECT_EQ(observed[0].jobs, 1U);
  EXPECT_TRUE(observed[0].committed);
  EXPECT_EQ(observed[1].jobs, 3U);
  EXPECT_TRUE(observed[1].committed);
  EXPECT_GE(observed[1].commit_time.count(), 0);
  EXPECT_EQ(observed[2].jobs, 1U);
  EXPECT_FALSE(observed[2].committed);
  const std::vector<std::string> expected = {"observed", "settled",  "settled",
                                             "settled",  "observed", "observed"};
  EXPECT_EQ(order, expected);
}

TEST(GroupCommitWriter, AJobThatThrowsIsUndoneAndSettledWithAnErrorWhileOthersCommit) {
  RecordingStore store;
  GroupCommitWriter writer(store);
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  std::promise<VoidResult> thrower;
  std::promise<VoidResult> bystander;
  GroupCommitWriter::Job throwing;
  throwing.run = [](EventStore&) -> bool { throw std::runtime_error("bug"); };
  throwing.settled = [&thrower](const VoidResult& durable) { thrower.set_value(durable); };
  GroupCommitWriter::Job fine;
  fine.run = [](EventStore&) { return true; };
  fine.settled = [&bystander](const VoidResult& durable) { bystander.set_value(durable); };
  ASSERT_TRUE(writer.submit(std::move(throwing)).ok());
  ASSERT_TRUE(writer.submit(std::move(fine)).ok());
  gate.release();
  EXPECT_FALSE(thrower.get_future().get().ok());
  EXPECT_TRUE(bystander.get_future().get().ok());
  writer.stop();
  EXPECT_EQ(std::count(store.log.begin(), store.log.end(), "undo"), 1);
  EXPECT_EQ(store.log.back(), "commit");
}

TEST(GroupCommitWriter, AFullQueueRefusesAtOnceAndTheAppendIsAnsweredOnTheExecutor) {
  RecordingStore store;
  GroupCommitWriter writer(store, GroupCommitOptions{16, 2});
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  ASSERT_TRUE(writer.submit({}).ok());
  ASSERT_TRUE(writer.submit({}).ok());
  auto full = writer.submit({});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::unavailable);
  EXPECT_NE(full.error().message.find("2 jobs waiting"), std::string::npos);
  // The writer's own follow-up work is never lost to a burst of requests.
  EXPECT_TRUE(writer.submit({}, GroupCommitWriter::Admission::always).ok());

  std::vector<std::function<void()>> posted;
  const Executor recording = [&posted](std::function<void()> work) {
    posted.push_back(std::move(work));
  };
  std::optional<Result<AppendOutcome>> answer;
  writer.append(keyed("k"), recording, [&answer](auto outcome) { answer = outcome; });
  ASSERT_EQ(posted.size(), 1U);
  EXPECT_FALSE(answer.has_value());  // only once the executor runs it
  posted.front()();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->error().code, ErrorCode::unavailable);
  gate.release();
}

TEST(GroupCommitWriter, StopRunsWhatIsQueuedThenRefusesMore) {
  RecordingStore store;
  GroupCommitWriter writer(store);
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.job()).ok());
  gate.wait_entered();
  std::atomic<int> settled{0};
  for (int i = 0; i < 3; ++i) {
    GroupCommitWriter::Job job;
    job.settled = [&settled](const VoidResult& durable) {
      if (durable) {
        ++settled;
      }
    };
    ASSERT_TRUE(writer.submit(std::move(job)).ok());
  }
  std::thread stopper([&writer] { writer.stop(); });
  gate.release();
  stopper.join();
  EXPECT_EQ(settled.load(), 3);
  EXPECT_EQ(writer.submit({}).error().code, ErrorCode::unavailable);
  std::optional<Result<AppendOutcome>> late;
  writer.append(keyed("late"), kInline, [&late](auto outcome) { late = outcome; });
  ASSERT_TRUE(late.has_value());
  EXPECT_FALSE(late->ok());
}

TEST(GroupCommitWriter, ConcurrentAppendersAreEachAnsweredExactlyOnce) {
  RecordingStore store;
  GroupCommitWriter writer(store);
  constexpr int kThreads = 16;
  constexpr int kEach = 200;
  std::atomic<int> answered{0};
  std::vector<std::thread> appenders;
  for (int t = 0; t < kThreads; ++t) {
    appenders.emplace_back([&writer, &answered, t] {
      for (int i = 0; i < kEach; ++i) {
        std::promise<void> done;
        writer.append(keyed(std::to_string(t) + ":" + std::to_string(i)), kInline,
                      [&done, &answered](auto outcome) {
                        if (outcome.ok()) {
                          ++answered;
                        }
                        done.set_value();
                      });
        done.get_future().wait();
      }
    });
  }
  for (auto& appender : appenders) {
    appender.join();
  }
  writer.stop();
  EXPECT_EQ(answered.load(), kThreads * kEach);
  EXPECT_EQ(store.appended, static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(writer.stats().jobs, static_cast<std::uint64_t>(kThreads * kEach));
  // With 16 closed-loop appenders the writer cannot have committed one by one.
  EXPECT_LT(writer.stats().batches, static_cast<std::uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace haveri::core
