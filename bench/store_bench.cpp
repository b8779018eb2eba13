// (b) The EventStore append path as the daemon drives it: core::GroupCommitWriter
// over SqliteEventStore (synchronous=FULL). 1, 8 or 64 appender threads, each
// appending one chat message (with an idempotency key) to its own incident and
// waiting until it is durable before the next (closed loop). items_per_second is
// appends/s over all threads; avg_batch is appends per transaction (per fsync).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <haveri/core/event_store.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/group_commit.hpp>
#include <haveri/store/sqlite_event_store.hpp>

#include "bench_support.hpp"

namespace {

using namespace haveri::core;

TimePoint now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
}

ChannelRef channel_of(std::size_t appender) {
  const std::string name = "inc-" + std::to_string(appender + 1) + "-pump-down";
  return ChannelRef{"local", name, name};
}

Actor appender_actor(std::size_t appender) {
  const std::string id = "bench-" + std::to_string(appender);
  return Actor{id, id, "local:" + id};
}

// One store and its writer, shared by the appender threads of one benchmark run.
// Made by thread 0 before the timed loop (Google Benchmark lines the threads up at
// its start) and taken down by thread 0 after it.
struct AppendFixture {
  explicit AppendFixture(std::size_t appenders) : dir("store") {
    auto opened = haveri::store::SqliteEventStore::open({dir.path() / "haveri.db", "full"});
    if (!opened) {
      throw std::runtime_error(opened.error().message);
    }
    store = std::move(opened.value());
    // Each appender gets its own incident, declared with its channel, as the
    // daemon's incidents are when people start talking in them.
    for (std::size_t i = 0; i < appenders; ++i) {
      AppendRequest declare;
      declare.events.push_back(
          Event{0, 0, now(), appender_actor(i),
                Declared{"Pump " + std::to_string(i) + " down", Severity::sev2,
                         ChannelRef{"local", "general", "general"}, "default"}});
      declare.events.push_back(Event{0, 0, now(), Actor::system(), ChannelLinked{channel_of(i)}});
      declare.idempotency_key = "local:local:bench-" + std::to_string(i) + ":declare";
      auto declared = store->append(declare);
      if (!declared) {
        throw std::runtime_error(declared.error().message);
      }
      incidents.push_back(declared.value().incident);
      last_sequence.push_back(declared.value().state.last_sequence);
    }
    writer = std::make_unique<GroupCommitWriter>(*store);
  }

  haveri::bench::ScratchDir dir;
  std::unique_ptr<haveri::store::SqliteEventStore> store;
  std::unique_ptr<GroupCommitWriter> writer;  // after the store: stopped before it closes
  std::vector<IncidentId> incidents;
  std::vector<Sequence> last_sequence;
};

AppendFixture* fixture = nullptr;  // thread 0 owns it for the length of one run

void BM_GroupCommitAppend(benchmark::State& state) {
  if (state.thread_index() == 0) {
    fixture = new AppendFixture(static_cast<std::size_t>(state.threads()));
  }
  // Google Benchmark holds every thread at the start of the loop until all are there.
  const auto me = static_cast<std::size_t>(state.thread_index());
  std::uint64_t n = 0;
  for (auto _ : state) {
    const IncidentId incident = fixture->incidents[me];
    AppendRequest request;
    request.incident = incident;
    request.expected_last_sequence = fixture->last_sequence[me];
    request.events.push_back(Event{
        0, 0, now(), appender_actor(me),
        MessagePosted{haveri::bench::message_text(n), channel_of(me), std::to_string(n + 1)}});
    request.idempotency_key = "local:local:bench-" + std::to_string(me) + ":m-" + std::to_string(n);
    ++n;
    std::promise<Result<AppendOutcome>> durable;
    auto outcome = durable.get_future();
    fixture->writer->append(
        std::move(request), [](std::function<void()> work) { work(); },
        [&durable](Result<AppendOutcome> result) { durable.set_value(std::move(result)); });
    auto result = outcome.get();
    if (!result) {
      state.SkipWithError(result.error().message.c_str());
      break;
    }
    fixture->last_sequence[me] = result.value().state.last_sequence;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    // Every thread has left its loop: nothing is queued any more.
    fixture->writer->stop();
    const auto stats = fixture->writer->stats();
    if (stats.batches > 0) {
      state.counters["avg_batch"] =
          static_cast<double>(stats.jobs) / static_cast<double>(stats.batches);
      state.counters["commit_ms"] =
          std::chrono::duration<double, std::milli>(stats.commit_time).count() /
          static_cast<double>(stats.batches);
    }
    delete fixture;
    fixture = nullptr;
  }
}
BENCHMARK(BM_GroupCommitAppend)
    ->Threads(1)
    ->Threads(8)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  // An experiment, not a setting of the store: HAVERI_BENCH_STMTJRNL_SPILL=-1 keeps
  // SQLite's statement journals (the undo log of each job's savepoint) in memory
  // instead of spilling them to a temporary file past 64 KiB.
  if (const char* spill = std::getenv("HAVERI_BENCH_STMTJRNL_SPILL");
      spill != nullptr && *spill != '\0') {
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, std::atoi(spill));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
