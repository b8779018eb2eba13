// (e) Builds a large store for the start-up benchmark, through the real
// SqliteEventStore, in batches (begin_batch, many appends, commit_batch).
//
//   haveri_seed_store --db FILE [--incidents 100000] [--events 2000000] [--batch 500]
//
// Every incident is a whole worked incident of the "default" organization, spread
// over the past three years: declared, channel_linked, acknowledgement,
// status_change to INVESTIGATING, chat messages, a note, an action, MITIGATED,
// RESOLVED, the summary, closed — events/incidents events each (20 by default). All
// are CLOSED, so nothing (nudge, SLA breach, reminder) is due when haverid starts
// on the file and every start does the same work. Refuses a FILE that exists.
// Prints one line of JSON: {"incidents":…,"events":…,"seconds":…}.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/core/event_store.hpp>
#include <haveri/core/events.hpp>
#include <haveri/store/sqlite_event_store.hpp>

#include "bench_support.hpp"

namespace {

using namespace haveri::core;
using std::chrono::minutes;

struct Options {
  std::filesystem::path db;
  std::int64_t incidents = 100'000;
  std::int64_t events = 2'000'000;
  std::int64_t batch = 500;  // incidents per transaction
};

constexpr const char* kUsage =
    "usage: haveri_seed_store --db FILE [--incidents 100000] [--events 2000000] [--batch 500]\n";

// Events of a worked incident besides its chat messages.
constexpr std::int64_t kFixedEvents = 10;

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw std::invalid_argument(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--db") {
      options.db = value();
    } else if (arg == "--incidents") {
      options.incidents = std::stoll(value());
    } else if (arg == "--events") {
      options.events = std::stoll(value());
    } else if (arg == "--batch") {
      options.batch = std::stoll(value());
    } else {
      throw std::invalid_argument("unknown argument \"" + arg + "\"");
    }
  }
  if (options.db.empty()) {
    throw std::invalid_argument("--db is required");
  }
  if (options.incidents <= 0 || options.batch <= 0 ||
      options.events < options.incidents * (kFixedEvents + 1)) {
    throw std::invalid_argument("--incidents and --batch must be > 0, and --events at least " +
                                std::to_string(kFixedEvents + 1) + " per incident");
  }
  return options;
}

void check(const VoidResult& result, const char* what) {
  if (!result) {
    throw std::runtime_error(std::string(what) + ": " + result.error().message);
  }
}

// The events of the k-th incident (from 0), declared at `at`, with `messages` chat
// messages; its channel is named after k (the store assigns the id).
std::vector<Event> worked_incident(std::int64_t k, TimePoint at, std::int64_t messages) {
  static const Severity kSeverities[] = {Severity::sev1, Severity::sev2, Severity::sev3};
  const std::string n = std::to_string(k + 1);
  const std::string name = "inc-" + n + "-line-" + std::to_string(k % 40) + "-stopped";
  const ChannelRef channel{"local", name, name};
  const Actor lead{"op-" + std::to_string(k % 50), "Operator " + std::to_string(k % 50),
                   "local:op-" + std::to_string(k % 50)};
  const Actor helper{"eng-" + std::to_string(k % 30), "Engineer " + std::to_string(k % 30),
                     "local:eng-" + std::to_string(k % 30)};
  std::vector<Event> events;
  const auto add = [&](const Actor& actor, EventPayload payload) {
    events.push_back(Event{0, 0, at, actor, std::move(payload)});
    at += minutes(3);
  };
  add(lead, Declared{"Line " + std::to_string(k % 40) + " stopped, batch " + n, kSeverities[k % 3],
                     ChannelRef{"local", "general", "general"}, "default"});
  add(Actor::system(), ChannelLinked{channel});
  add(lead, Acknowledged{});
  add(lead, StatusChanged{Status::declared, Status::investigating});
  for (std::int64_t m = 0; m < messages; ++m) {
    add(m % 2 == 0 ? lead : helper,
        MessagePosted{haveri::bench::message_text(static_cast<std::uint64_t>(k * 31 + m)), channel,
                      std::to_string(m + 1)});
  }
  add(helper, Annotation{"vendor says the sensor firmware is known to drift", std::nullopt});
  add(helper, ActionTaken{"replaced the sensor and recalibrated the line"});
  add(lead, StatusChanged{Status::investigating, Status::mitigated});
  add(lead, StatusChanged{Status::mitigated, Status::resolved});
  Summary summary;
  summary.what_happened = "Line " + std::to_string(k % 40) + " stopped for 40 minutes";
  summary.root_cause = "a drifting pressure sensor tripped the interlock";
  summary.resolution = "sensor replaced, interlock threshold reviewed";
  add(lead, SummaryRecorded{summary});
  add(lead, Closed{Status::resolved});
  return events;
}

int run(const Options& options) {
  if (std::filesystem::exists(options.db)) {
    throw std::runtime_error(options.db.string() + " exists already; remove it or pick another");
  }
  auto opened = haveri::store::SqliteEventStore::open({options.db, "full"});
  if (!opened) {
    throw std::runtime_error(opened.error().message);
  }
  auto& store = *opened.value();
  const auto started = std::chrono::steady_clock::now();
  // Messages per incident so that the total is exactly --events.
  const std::int64_t events_left = options.events - options.incidents * kFixedEvents;
  const TimePoint first = std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()) -
                          std::chrono::hours(24 * 365 * 3);
  const auto spacing =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::hours(24 * 365 * 3 - 24)) /
      options.incidents;
  std::int64_t appended = 0;
  for (std::int64_t k = 0; k < options.incidents;) {
    check(store.begin_batch(), "begin_batch");
    const std::int64_t end = std::min(options.incidents, k + options.batch);
    for (; k < end; ++k) {
      const std::int64_t messages =
          events_left / options.incidents + (k < events_left % options.incidents ? 1 : 0);
      AppendRequest request;
      request.events = worked_incident(k, first + spacing * k, messages);
      request.idempotency_key = "seed:" + std::to_string(k);
      auto outcome = store.append(request);
      if (!outcome) {
        store.rollback_batch();
        throw std::runtime_error("append: " + outcome.error().message);
      }
      appended += static_cast<std::int64_t>(outcome.value().committed.size());
    }
    check(store.commit_batch(), "commit_batch");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << nlohmann::json{{"incidents", options.incidents},
                              {"events", appended},
                              {"seconds", seconds}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "haveri_seed_store: " << e.what() << '\n' << kUsage;
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "haveri_seed_store: " << e.what() << '\n';
    return 1;
  }
}
