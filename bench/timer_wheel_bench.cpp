// The escalation timer wheel against one boost::asio::steady_timer per timer, in
// one run (bench/run-timers runs it 3 times and writes RESULTS.md):
//
//   (a) schedule + cancel: N timers due uniformly over 1 min .. 1 h (1 ms ticks), then
//       90 % of them cancelled in random order. Wheel: schedule() into a fresh wheel
//       (its pool grows as it goes), cancel(). Asio, as the daemon's per-request
//       timers: make_unique<steady_timer>, expires_after, async_wait with a lambda
//       carrying the 16-byte step; cancelling is cancel(), then poll() runs the
//       aborted handlers, then the cancelled timers are destroyed. Timed: all the
//       schedules, then all the cancels; reported per timer scheduled and per timer
//       cancelled, and their sum. The caller's handles (the owning pointers for asio)
//       are gathered in cancel order before the clock starts, as when the caller
//       cancels with the incident's record in hand; (a') is the same with each
//       handle read from an array in schedule order, so that each cancel also pays
//       the caller's own cache miss. Median of R repetitions, each on a fresh wheel /
//       io_context, alternating which goes first.
//   (b) heap bytes per pending timer with N pending (mallinfo2: bytes malloc hands
//       out, including its chunk headers, plus mmapped blocks), the wheel's pool grown
//       by schedule() alone; for asio the timer objects, their wait operations and
//       the timer queue, not the caller's array of pointers.
//   (c) lateness: M timers due within one second, driven by one steady_timer ticking
//       every T ms (drift-free: each expiry is the previous one plus T) that calls
//       advance(milliseconds since the start); lateness = steady_clock::now() in
//       on_due minus the due time.
//
// Output: one figure per line, "name value unit"; lines starting with '#' say what
// ran. Usage:
//
//   haveri_timer_wheel_bench [--timers N] [--repetitions R] [--lateness-timers M]
//                            [--ticks 1,10,100]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <malloc.h>

#include <haveri/policy/timer_wheel.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using Tick = std::uint64_t;

// What the daemon files per escalation step: 16 bytes.
struct EscalationStep {
  std::int64_t incident = 0;
  std::uint32_t chain = 0;
  std::uint16_t step = 0;
  std::uint16_t round = 0;
};
static_assert(sizeof(EscalationStep) == 16);

using Wheel = haveri::policy::TimerWheel<EscalationStep>;

EscalationStep step_for(std::size_t i) {
  return EscalationStep{static_cast<std::int64_t>(i / 4), static_cast<std::uint32_t>(i % 7),
                        static_cast<std::uint16_t>(i % 4), 0};
}

struct Options {
  std::size_t timers = 1'000'000;
  double cancel_share = 0.9;
  // Escalation steps: the first after a minute at the soonest, the last within the hour.
  Tick earliest_ms = 60'000;
  Tick horizon_ms = 3'600'000;
  int repetitions = 5;
  std::size_t lateness_timers = 10'000;
  std::vector<int> tick_ms = {1, 10, 100};
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      throw std::invalid_argument("missing value after " + std::string(arg));
    }
    const std::string value = argv[++i];
    if (arg == "--timers") {
      options.timers = std::stoul(value);
    } else if (arg == "--repetitions") {
      options.repetitions = std::stoi(value);
    } else if (arg == "--lateness-timers") {
      options.lateness_timers = std::stoul(value);
    } else if (arg == "--ticks") {
      options.tick_ms.clear();
      std::istringstream list(value);
      for (std::string item; std::getline(list, item, ',');) {
        options.tick_ms.push_back(std::stoi(item));
      }
    } else {
      throw std::invalid_argument("unknown option " + std::string(arg) +
                                  " (known: --timers, --repetitions, --lateness-timers, --ticks)");
    }
  }
  if (options.timers == 0 || options.repetitions < 1 || options.lateness_timers == 0 ||
      options.tick_ms.empty() ||
      std::any_of(options.tick_ms.begin(), options.tick_ms.end(), [](int t) { return t < 1; })) {
    throw std::invalid_argument(
        "--timers, --repetitions, --lateness-timers and --ticks must be >= 1");
  }
  return options;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Nearest rank: the smallest value with at least `share` of the values at or below it.
double percentile(const std::vector<double>& sorted, double share) {
  const auto rank = static_cast<std::size_t>(std::ceil(share * static_cast<double>(sorted.size())));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

double ns_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::nano>(to - from).count();
}

void figure(std::string_view name, double value, std::string_view unit) {
  std::printf("%.*s %.3f %.*s\n", static_cast<int>(name.size()), name.data(), value,
              static_cast<int>(unit.size()), unit.data());
}

struct Workload {
  std::vector<Tick> dues;                   // ms from the start
  std::vector<std::uint32_t> cancel_order;  // indexes into dues
};

Workload make_workload(const Options& options, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  Workload workload;
  std::uniform_int_distribution<Tick> due(options.earliest_ms, options.horizon_ms);
  workload.dues.resize(options.timers);
  for (Tick& d : workload.dues) {
    d = due(random);
  }
  workload.cancel_order.resize(options.timers);
  for (std::size_t i = 0; i < options.timers; ++i) {
    workload.cancel_order[i] = static_cast<std::uint32_t>(i);
  }
  std::shuffle(workload.cancel_order.begin(), workload.cancel_order.end(), random);
  workload.cancel_order.resize(
      static_cast<std::size_t>(options.cancel_share * static_cast<double>(options.timers)));
  return workload;
}

struct OpCost {
  double schedule_ns = 0;  // per scheduled timer
  double cancel_ns = 0;    // per cancelled timer
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "haveri_timer_wheel_bench: check failed: %s\n", what);
    std::exit(1);
  }
}

// ---------------------------------------------------------------------------
// (a) schedule + cancel

// Where the caller keeps what it needs to cancel a timer (the wheel's handle, the
// steady_timer's owning pointer): Lookup::at_hand gathers them in cancel order
// before the clock starts, as when the caller has the incident's record in hand
// (it just handled the acknowledgement); Lookup::random reads them from an array in
// schedule order, so each cancel also pays the caller's own cache miss.
enum class Lookup { at_hand, random };

OpCost wheel_schedule_cancel(const Workload& workload, Lookup lookup) {
  const std::size_t n = workload.dues.size();
  std::vector<Wheel::Handle> handles(n);
  std::vector<Wheel::Handle> to_cancel;
  Wheel wheel(0);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    handles[i] = wheel.schedule(workload.dues[i], step_for(i));
  }
  const auto scheduled = Clock::now();
  std::size_t cancelled = 0;
  Clock::time_point cancel_start = scheduled;
  if (lookup == Lookup::at_hand) {
    to_cancel.reserve(workload.cancel_order.size());
    for (const std::uint32_t i : workload.cancel_order) {
      to_cancel.push_back(handles[i]);
    }
    cancel_start = Clock::now();
    for (const Wheel::Handle handle : to_cancel) {
      cancelled += wheel.cancel(handle) ? 1 : 0;
    }
  } else {
    for (const std::uint32_t i : workload.cancel_order) {
      cancelled += wheel.cancel(handles[i]) ? 1 : 0;
    }
  }
  const auto done = Clock::now();
  benchmark::DoNotOptimize(cancelled);
  check(cancelled == workload.cancel_order.size(), "every wheel cancel found its timer");
  check(wheel.size() == n - cancelled, "the wheel holds the timers not cancelled");
  return {ns_between(start, scheduled) / static_cast<double>(n),
          ns_between(cancel_start, done) / static_cast<double>(cancelled)};
}

OpCost asio_schedule_cancel(const Workload& workload, Lookup lookup) {
  using Timer = boost::asio::steady_timer;
  const std::size_t n = workload.dues.size();
  boost::asio::io_context io;  // as the daemon makes its contexts
  std::size_t aborted = 0;
  std::size_t expired = 0;
  const auto on_wait = [&aborted, &expired](const boost::system::error_code& ec) {
    (ec == boost::asio::error::operation_aborted ? aborted : expired) += 1;
  };
  // The timer service and the reactor are made on first use, not per timer.
  {
    Timer warm(io, std::chrono::hours(1));
    warm.async_wait(on_wait);
    warm.cancel();
    io.poll();
    io.restart();  // poll() stopped the io_context when it ran out of work
    aborted = 0;
  }
  // One timer object per timer, made and destroyed with it, as the daemon's
  // per-request timers are (plugin_host.cpp).
  std::vector<std::unique_ptr<Timer>> timers(n);
  std::vector<std::unique_ptr<Timer>> to_cancel;
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    timers[i] = std::make_unique<Timer>(io);
    timers[i]->expires_after(std::chrono::milliseconds(workload.dues[i]));
    timers[i]->async_wait([step = step_for(i), &on_wait](const boost::system::error_code& ec) {
      benchmark::DoNotOptimize(step);
      on_wait(ec);
    });
  }
  const auto scheduled = Clock::now();
  Clock::time_point cancel_start = scheduled;
  if (lookup == Lookup::at_hand) {
    to_cancel.reserve(workload.cancel_order.size());
    for (const std::uint32_t i : workload.cancel_order) {
      to_cancel.push_back(std::move(timers[i]));
    }
    cancel_start = Clock::now();
    for (const std::unique_ptr<Timer>& timer : to_cancel) {
      timer->cancel();
    }
    io.poll();
    to_cancel.clear();
  } else {
    for (const std::uint32_t i : workload.cancel_order) {
      timers[i]->cancel();
    }
    io.poll();
    for (const std::uint32_t i : workload.cancel_order) {
      timers[i].reset();
    }
  }
  const auto done = Clock::now();
  check(aborted == workload.cancel_order.size(), "every cancelled handler ran, aborted");
  check(expired == 0, "no timer expired during the measurement");
  return {ns_between(start, scheduled) / static_cast<double>(n),
          ns_between(cancel_start, done) / static_cast<double>(workload.cancel_order.size())};
}

void measure_schedule_cancel(const Options& options, Lookup lookup) {
  const std::string prefix = lookup == Lookup::at_hand ? "" : "random_lookup_";
  std::printf(
      "# (a%s) %zu timers due uniformly over %llu..%llu ms, %zu cancelled in random order "
      "(the caller's records %s), median of %d repetitions\n",
      lookup == Lookup::at_hand ? "" : "'", options.timers,
      static_cast<unsigned long long>(options.earliest_ms),
      static_cast<unsigned long long>(options.horizon_ms),
      static_cast<std::size_t>(options.cancel_share * static_cast<double>(options.timers)),
      lookup == Lookup::at_hand ? "at hand" : "looked up at random", options.repetitions);
  std::vector<double> wheel_schedule;
  std::vector<double> wheel_cancel;
  std::vector<double> wheel_total;
  std::vector<double> asio_schedule;
  std::vector<double> asio_cancel;
  std::vector<double> asio_total;
  for (int r = 0; r < options.repetitions; ++r) {
    const Workload workload = make_workload(options, 1000 + static_cast<std::uint64_t>(r));
    OpCost wheel;
    OpCost asio;
    if (r % 2 == 0) {
      wheel = wheel_schedule_cancel(workload, lookup);
      asio = asio_schedule_cancel(workload, lookup);
    } else {
      asio = asio_schedule_cancel(workload, lookup);
      wheel = wheel_schedule_cancel(workload, lookup);
    }
    std::printf("# repetition %d: wheel %.1f + %.1f ns, steady_timer %.1f + %.1f ns\n", r + 1,
                wheel.schedule_ns, wheel.cancel_ns, asio.schedule_ns, asio.cancel_ns);
    wheel_schedule.push_back(wheel.schedule_ns);
    wheel_cancel.push_back(wheel.cancel_ns);
    wheel_total.push_back(wheel.schedule_ns + wheel.cancel_ns);
    asio_schedule.push_back(asio.schedule_ns);
    asio_cancel.push_back(asio.cancel_ns);
    asio_total.push_back(asio.schedule_ns + asio.cancel_ns);
  }
  figure(prefix + "wheel_schedule", median(wheel_schedule), "ns/timer");
  figure(prefix + "wheel_cancel", median(wheel_cancel), "ns/timer");
  figure(prefix + "wheel_schedule_cancel", median(wheel_total), "ns/timer");
  figure(prefix + "asio_schedule", median(asio_schedule), "ns/timer");
  figure(prefix + "asio_cancel", median(asio_cancel), "ns/timer");
  figure(prefix + "asio_schedule_cancel", median(asio_total), "ns/timer");
}

// ---------------------------------------------------------------------------
// (b) bytes per pending timer

std::size_t heap_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

void measure_memory(const Options& options) {
  const Workload workload = make_workload(options, 7);
  const std::size_t n = workload.dues.size();
  std::printf("# (b) %zu pending timers; heap = mallinfo2 uordblks + hblkhd\n", n);
  double wheel_bytes = 0;
  {
    const std::size_t before = heap_bytes();
    Wheel wheel(0);
    for (std::size_t i = 0; i < n; ++i) {
      wheel.schedule(workload.dues[i], step_for(i));
    }
    wheel_bytes = static_cast<double>(heap_bytes() - before) / static_cast<double>(n);
    check(wheel.size() == n, "the wheel holds every timer");
  }
  double asio_bytes = 0;
  {
    boost::asio::io_context io;
    {
      boost::asio::steady_timer warm(io, std::chrono::hours(1));
      warm.async_wait([](const boost::system::error_code&) {});
      warm.cancel();
      io.poll();
    }
    std::vector<std::unique_ptr<boost::asio::steady_timer>> timers(n);
    const std::size_t before = heap_bytes();
    for (std::size_t i = 0; i < n; ++i) {
      timers[i] = std::make_unique<boost::asio::steady_timer>(io);
      timers[i]->expires_after(std::chrono::milliseconds(workload.dues[i]));
      timers[i]->async_wait([step = step_for(i)](const boost::system::error_code&) {
        benchmark::DoNotOptimize(step);
      });
    }
    asio_bytes = static_cast<double>(heap_bytes() - before) / static_cast<double>(n);
  }
  figure("wheel_node", static_cast<double>(Wheel::node_bytes()), "bytes");
  figure("wheel_memory", wheel_bytes, "bytes/timer");
  figure("asio_timer_object", static_cast<double>(sizeof(boost::asio::steady_timer)), "bytes");
  figure("asio_memory", asio_bytes, "bytes/timer");
}

// ---------------------------------------------------------------------------
// (c) lateness

// Drives the wheel from one steady_timer, as the daemon does.
// Runs on: the io_context's one thread.
class TickDriver {
 public:
  TickDriver(boost::asio::io_context& io, Wheel& wheel, Clock::time_point epoch,
             std::chrono::milliseconds tick, std::vector<double>& lateness_ms)
      : timer_(io), wheel_(wheel), epoch_(epoch), tick_(tick), lateness_ms_(lateness_ms) {}

  void start() {
    next_ = epoch_ + tick_;
    do_wait();
  }

 private:
  void do_wait() {
    timer_.expires_at(next_);
    timer_.async_wait([this](const boost::system::error_code& ec) { on_wait(ec); });
  }

  void on_wait(const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - epoch_);
    wheel_.advance(static_cast<Tick>(now_ms.count()), [this](Tick due, EscalationStep&&) {
      const auto due_at = epoch_ + std::chrono::milliseconds(due);
      lateness_ms_.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - due_at).count());
    });
    if (wheel_.size() == 0) {
      return;
    }
    // From the previous expiry, not from now: a late wake-up does not shift the ticks.
    next_ += tick_;
    do_wait();
  }

  boost::asio::steady_timer timer_;
  Wheel& wheel_;
  Clock::time_point epoch_;
  std::chrono::milliseconds tick_;
  std::vector<double>& lateness_ms_;
  Clock::time_point next_;
};

void measure_lateness(const Options& options) {
  // The second the timers are due in starts a little after the start, so that
  // setting up is not measured.
  constexpr int kFirstDueMs = 200;
  std::printf("# (c) %zu timers due uniformly within one second (%d..%d ms after the start)\n",
              options.lateness_timers, kFirstDueMs, kFirstDueMs + 999);
  for (const int tick_ms : options.tick_ms) {
    std::mt19937_64 random(static_cast<std::uint64_t>(tick_ms));
    std::uniform_int_distribution<Tick> offset(0, 999);
    boost::asio::io_context io(1);
    Wheel wheel(0);
    std::vector<double> lateness_ms;
    lateness_ms.reserve(options.lateness_timers);
    for (std::size_t i = 0; i < options.lateness_timers; ++i) {
      wheel.schedule(static_cast<Tick>(kFirstDueMs) + offset(random), step_for(i));
    }
    TickDriver driver(io, wheel, Clock::now(), std::chrono::milliseconds(tick_ms), lateness_ms);
    driver.start();
    io.run();
    check(lateness_ms.size() == options.lateness_timers, "every timer fired once");
    std::sort(lateness_ms.begin(), lateness_ms.end());
    const std::string name = "lateness_" + std::to_string(tick_ms) + "ms";
    figure(name + "_p50", percentile(lateness_ms, 0.50), "ms");
    figure(name + "_p99", percentile(lateness_ms, 0.99), "ms");
    figure(name + "_max", lateness_ms.back(), "ms");
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    measure_schedule_cancel(options, Lookup::at_hand);
    measure_schedule_cancel(options, Lookup::random);
    measure_memory(options);
    measure_lateness(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "haveri_timer_wheel_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
