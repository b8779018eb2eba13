#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <haveri/core/group_commit.hpp>

namespace haveri::core {

GroupCommitWriter::GroupCommitWriter(EventStore& store, GroupCommitOptions options)
    : store_(store), options_(std::move(options)) {
  if (options_.max_batch == 0) {
    options_.max_batch = 1;
  }
  thread_ = std::thread([this] { run_writer(); });
}

GroupCommitWriter::~GroupCommitWriter() {
  stop();
}

VoidResult GroupCommitWriter::submit(Job job, Admission admission) {
  {
    std::lock_guard lock(shared_.mutex);
    if (shared_.stopping) {
      return make_error(ErrorCode::unavailable, "the store writer has stopped");
    }
    if (admission == Admission::bounded && shared_.queue.size() >= options_.max_queued) {
      return make_error(ErrorCode::unavailable, "the store writer has " +
                                                    std::to_string(options_.max_queued) +
                                                    " jobs waiting already; try again shortly");
    }
    shared_.queue.push_back(std::move(job));
  }
  shared_.wake.notify_one();
  return Done{};
}

void GroupCommitWriter::append(AppendRequest request, const Executor& executor,
                               std::function<void(Result<AppendOutcome>)> done) {
  // Shared between run and settled, which both run on the writer thread.
  auto outcome = std::make_shared<std::optional<Result<AppendOutcome>>>();
  auto shared_done = std::make_shared<std::function<void(Result<AppendOutcome>)>>(std::move(done));
  Job job;
  job.run = [request = std::move(request), outcome](EventStore& store) {
    *outcome = store.append(request);
    return outcome->value().ok();
  };
  job.settled = [outcome, executor, shared_done](const VoidResult& durable) {
    Result<AppendOutcome> answer =
        !durable ? Result<AppendOutcome>(durable.error())
        : outcome->has_value()
            ? std::move(**outcome)
            : Result<AppendOutcome>(make_error(ErrorCode::storage, "the append did not run"));
    executor(
        [shared_done, answer = std::move(answer)]() mutable { (*shared_done)(std::move(answer)); });
  };
  auto queued = submit(std::move(job));
  if (!queued) {
    executor([shared_done, error = queued.error()] { (*shared_done)(error); });
  }
}

void GroupCommitWriter::stop() {
  {
    std::lock_guard lock(shared_.mutex);
    shared_.stopping = true;
  }
  shared_.wake.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

GroupCommitStats GroupCommitWriter::stats() const {
  std::lock_guard lock(shared_.mutex);
  GroupCommitStats stats = shared_.stats;
  stats.queued = shared_.queue.size();
  return stats;
}

void GroupCommitWriter::run_writer() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(shared_.mutex);
      shared_.wake.wait(lock, [this] { return shared_.stopping || !shared_.queue.empty(); });
      if (shared_.queue.empty()) {
        return;  // stopping, and everything queued has run
      }
      // Whatever arrived while the last batch committed goes in this one: under load
      // batches grow by themselves, and an idle writer commits a lone job at once.
      const std::size_t take = std::min(shared_.queue.size(), options_.max_batch);
      for (std::size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(shared_.queue.front()));
        shared_.queue.pop_front();
      }
      shared_.stats.batch_began = std::chrono::steady_clock::now();
    }
    run_batch(batch);
    batch.clear();
    std::lock_guard lock(shared_.mutex);
    shared_.stats.batch_began.reset();
  }
}

void GroupCommitWriter::run_batch(std::deque<Job>& batch) {
  const auto settle_all = [&batch](const VoidResult& durable) {
    for (Job& job : batch) {
      if (job.settled) {
        try {
          job.settled(durable);
        } catch (...) {
          // A completion that throws must not take the writer (and every later
          // job) down with it; the job's own code reports its failures.
        }
      }
    }
  };
  const auto observe = [this, &batch](bool committed, std::chrono::nanoseconds commit_time) {
    if (options_.on_batch) {
      try {
        options_.on_batch(GroupCommitBatch{batch.size(), committed, commit_time});
      } catch (...) {
        // Observing must never stop the writer.
      }
    }
  };
  auto begun = store_.begin_batch();
  if (!begun) {
    {
      std::lock_guard lock(shared_.mutex);
      ++shared_.stats.failed_batches;
      shared_.stats.jobs += batch.size();
    }
    settle_all(begun);
    observe(false, std::chrono::nanoseconds{0});
    return;
  }
  // Jobs whose `run` threw are settled with the error, whatever the batch does.
  std::vector<std::size_t> threw;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Job& job = batch[i];
    bool keep = false;
    auto savepoint = store_.begin_job();
    if (savepoint) {
      try {
        keep = job.run ? job.run(store_) : true;
      } catch (...) {
        keep = false;
        threw.push_back(i);
      }
      (void)store_.end_job(keep);
    } else {
      threw.push_back(i);
    }
  }
  const auto started = std::chrono::steady_clock::now();
  auto committed = store_.commit_batch();
  const auto took = std::chrono::steady_clock::now() - started;
  if (!committed) {
    store_.rollback_batch();
  }
  {
    std::lock_guard lock(shared_.mutex);
    shared_.stats.jobs += batch.size();
    if (committed) {
      ++shared_.stats.batches;
      shared_.stats.largest_batch = std::max(shared_.stats.largest_batch, batch.size());
      shared_.stats.commit_time += std::chrono::duration_cast<std::chrono::nanoseconds>(took);
    } else {
      ++shared_.stats.failed_batches;
    }
  }
  if (committed && !threw.empty()) {
    const VoidResult failed = make_error(ErrorCode::storage, "the store job failed unexpectedly");
    for (std::size_t index : threw) {
      if (batch[index].settled) {
        try {
          batch[index].settled(failed);
        } catch (...) {
        }
      }
      batch[index].settled = nullptr;
    }
  }
  settle_all(committed);
  observe(committed.ok(), std::chrono::duration_cast<std::chrono::nanoseconds>(took));
}

}  // namespace haveri::core
