#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <haveri/core/event_store.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// Runs a completion where its caller wants it: the daemon posts to its io_context,
// a test may run it inline or fulfil a promise. Must not block.
using Executor = std::function<void(std::function<void()>)>;

// One transaction of the writer, as its observer sees it.
struct GroupCommitBatch {
  std::size_t jobs = 0;
  bool committed = false;  // false: it could not be begun or committed; nothing was kept
  std::chrono::nanoseconds commit_time{0};  // in commit_batch; zero when it was never begun
};

struct GroupCommitOptions {
  // Jobs in one transaction at most; the rest wait for the next one.
  std::size_t max_batch = 512;
  // Jobs waiting for the writer at most; beyond it submit() fails at once with
  // ErrorCode::unavailable, so the caller can answer "retry later".
  std::size_t max_queued = 10000;
  // Called on the writer thread after each batch, once all its jobs are settled
  // (metrics: batch sizes, commit times, and whatever the jobs changed). Must not
  // block; an exception from it is swallowed. May be empty.
  std::function<void(const GroupCommitBatch&)> on_batch{};
};

struct GroupCommitStats {
  std::uint64_t batches = 0;         // transactions committed
  std::uint64_t failed_batches = 0;  // transactions that could not be begun or committed
  std::uint64_t jobs = 0;            // jobs run, in either
  std::size_t largest_batch = 0;
  std::size_t queued = 0;  // waiting now
  // Time spent in commit_batch (where the fsync happens), over every batch.
  std::chrono::nanoseconds commit_time{0};
  // When the batch running now was taken from the queue; nullopt while idle. A
  // watchdog tells a long transaction (a projection rebuild) from a stuck one by it.
  std::optional<std::chrono::steady_clock::time_point> batch_began;
};

// The one writer of an EventStore. Its own thread takes every job queued since the
// last transaction (at most max_batch), runs them in one transaction, each in its
// own savepoint, commits once and only then tells each job how it ended: N
// concurrent appends cost one fsync (group commit). A job that fails is undone
// alone; a batch that cannot commit fails all its jobs, and nothing of it is kept.
//
// Runs on: submit(), append(), stop() and stats() from any thread; jobs and their
// `settled` calls on the writer thread, one at a time, in submission order. The
// store is touched by the writer thread only, from construction to stop().
class GroupCommitWriter {
 public:
  // A unit of work inside a batch.
  struct Job {
    // Runs on the writer thread inside the batch's transaction and the job's
    // savepoint. Returns whether its writes are kept; false undoes them. An
    // exception counts as false.
    std::function<bool(EventStore& store)> run;
    // Runs on the writer thread once the batch is durable (success) or known lost
    // (the error: the batch could not be begun or committed, or `run` threw).
    // Jobs whose `run` returned false are settled with success: their batch
    // committed, without their writes. May be empty.
    std::function<void(const VoidResult& durable)> settled;
  };

  // Starts the writer thread. `store` must outlive the writer.
  explicit GroupCommitWriter(EventStore& store, GroupCommitOptions options = {});
  ~GroupCommitWriter();  // stop()
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Whether a job may be refused because max_queued jobs wait already. Work from
  // outside (inbound requests) is bounded; the writer's own follow-up work (an
  // operation's result, the next outbox pump) is bounded by other limits and must
  // not be lost to a burst of requests.
  enum class Admission { bounded, always };

  // Queues a job. ErrorCode::unavailable when the writer is stopped, or when it is
  // bounded and max_queued jobs wait already; the job is then dropped without
  // being settled.
  VoidResult submit(Job job, Admission admission = Admission::bounded);

  // Appends through the next batch. `done` runs on `executor` once the append is
  // durable, or with its error (the store's, ErrorCode::unavailable when the queue
  // is full or the writer stopped, ErrorCode::storage when the batch could not be
  // committed — then nothing of it is stored).
  void append(AppendRequest request, const Executor& executor,
              std::function<void(Result<AppendOutcome>)> done);

  // Runs every job already queued, then stops the thread. Idempotent.
  void stop();

  GroupCommitStats stats() const;

 private:
  void run_writer();
  void run_batch(std::deque<Job>& batch);

  // What submitters and the writer share, with the lock that guards it.
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;  // jobs queued, or stopping
    std::deque<Job> queue;
    bool stopping = false;
    GroupCommitStats stats;
  };

  EventStore& store_;
  GroupCommitOptions options_;
  mutable Shared shared_;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace haveri::core
