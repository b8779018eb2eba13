// Costs of the pure core on the hot path of every chat message: parsing a command
// and folding an incident's history (what a replay after restart does).
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <haveri/core/commands.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>

namespace {

void BM_ParseDeclare(benchmark::State& state) {
  for (auto _ : state) {
    auto parsed = haveri::core::parse_command("/incident declare Database down in plant A sev1");
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseDeclare);

// A hostile megabyte after the verb must be refused in time linear in its size.
void BM_RefuseHugeDeclare(benchmark::State& state) {
  std::string huge = "/incident declare ";
  for (int i = 0; i < 200'000; ++i) {
    huge += "word ";
  }
  for (auto _ : state) {
    auto parsed = haveri::core::parse_command(huge);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * huge.size()));
}
BENCHMARK(BM_RefuseHugeDeclare);

void BM_FoldHistory(benchmark::State& state) {
  using namespace haveri::core;
  const auto length = static_cast<std::size_t>(state.range(0));
  std::vector<Event> history;
  history.reserve(length);
  const ChannelRef channel{"local", "inc-1-db", "inc-1-db"};
  history.push_back(
      Event{1, 1, {}, Actor{"alice", "alice"}, Declared{"DB down", Severity::sev1, channel}});
  for (std::size_t i = 1; i < length; ++i) {
    history.push_back(Event{1,
                            static_cast<Sequence>(i + 1),
                            {},
                            Actor{"bob", "bob"},
                            MessagePosted{"still looking", channel, ""}});
  }
  for (auto _ : state) {
    auto incident = fold(history);
    benchmark::DoNotOptimize(incident);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * length));
}
BENCHMARK(BM_FoldHistory)->Arg(100)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
