// (a) The ceiling of the storage engine: raw SQLite with the store's schema and
// settings (WAL, synchronous=FULL), writing what an append of one chat message
// writes at the least — its event row and the inbound receipt of its idempotency
// key — with 1, 64 or 1024 such appends per transaction. Items are appends
// (event + receipt), so items_per_second reads as rows/s of events.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <haveri/core/events.hpp>

#include "bench_support.hpp"
#include "raw_sqlite.hpp"

namespace {

using haveri::bench::EventRowWriter;

// Incidents the rows are spread over, like the 64 appenders of haveri_store_bench.
constexpr std::int64_t kIncidents = 64;

// Payloads as the store writes them (payload_to_json of a chat message), with the
// lengths of haveri::bench::message_text.
std::vector<std::string> realistic_payloads() {
  std::vector<std::string> payloads;
  for (std::uint64_t n = 0; n < 64; ++n) {
    const haveri::core::MessagePosted message{
        haveri::bench::message_text(n),
        haveri::core::ChannelRef{"local", "inc-" + std::to_string(n) + "-pump-down",
                                 "inc-" + std::to_string(n) + "-pump-down"},
        std::to_string(1000 + n)};
    payloads.push_back(haveri::core::payload_to_json(message).dump());
  }
  return payloads;
}

void BM_RawSqliteAppendRows(benchmark::State& state) {
  const auto rows_per_transaction = static_cast<std::int64_t>(state.range(0));
  const haveri::bench::ScratchDir dir("sqlite");
  auto db = haveri::bench::open_with_store_schema(dir.path() / "raw.db");
  EventRowWriter writer(db.get());
  const auto payloads = realistic_payloads();
  std::vector<std::int64_t> last_sequence(kIncidents, 0);
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  std::uint64_t n = 0;
  std::string key;
  for (auto _ : state) {
    haveri::bench::exec(db.get(), "BEGIN IMMEDIATE");
    for (std::int64_t i = 0; i < rows_per_transaction; ++i, ++n) {
      const auto incident = static_cast<std::int64_t>(n % kIncidents);
      key = "local:local:bench-" + std::to_string(incident) + ":m-" + std::to_string(n);
      const bool written =
          writer.write({incident + 1, ++last_sequence[incident], now_ms, "bench-user",
                        "local:bench-user", payloads[n % payloads.size()], key});
      benchmark::DoNotOptimize(written);
    }
    haveri::bench::exec(db.get(), "COMMIT");
  }
  state.SetItemsProcessed(state.iterations() * rows_per_transaction);
  state.counters["rows_per_transaction"] = static_cast<double>(rows_per_transaction);
}
BENCHMARK(BM_RawSqliteAppendRows)
    ->ArgName("rows_per_tx")
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  // The library actually linked, for RESULTS.md.
  benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
