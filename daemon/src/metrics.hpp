#pragma once
// Prometheus metrics of haverid: a small registry of counters, gauges and
// histograms with labels, rendered in the text exposition format 0.0.4
// (docs/metrics.md lists every metric haverid exports).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace haveri::daemon::metrics {

// The Content-Type of a scrape answer.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A count that only goes up. Thread-safe, lock-free.
class Counter {
 public:
  void increment(std::uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  // For a total kept elsewhere (the outbox scheduler's): raises the counter to
  // `total` and never lowers it, so a counter stays monotonic whatever it is fed.
  void advance_to(std::uint64_t total) noexcept;
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe, lock-free.
class Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted in buckets by upper bound (inclusive), plus their sum.
// Thread-safe, lock-free; a snapshot taken while others observe may miss an
// observation's sum or bucket, but its count always equals the +Inf bucket.
class Histogram {
 public:
  // `bounds`: increasing, finite upper bounds; +Inf is implied. Must outlive the
  // histogram (its family owns them).
  explicit Histogram(std::span<const double> bounds);

  // NaN is ignored (it belongs to no bucket).
  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bound, then +Inf
  std::atomic<double> sum_{0.0};
};

enum class Type { counter, gauge, histogram };

// One metric name with its help text, type, label names and series.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const noexcept { return name_; }
  Type type() const noexcept { return type_; }

  // A family that is not visible is left out of the scrape (its value is not
  // known right now: better absent than wrong). Visible from the start.
  void set_visible(bool visible) noexcept { visible_ = visible; }
  bool visible() const noexcept { return visible_; }

  // Appends the family to `out`: HELP, TYPE, then each series in label-value order.
  virtual void render(std::string& out) const = 0;

 protected:
  void render_header(std::string& out) const;
  // `a="x",b="y"` for the samples of a series; a label whose value is empty is
  // left out (Prometheus reads both the same), so this may be empty.
  std::string label_text(const std::vector<std::string>& label_values) const;
  void check_label_count(const std::vector<std::string>& label_values) const;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  std::atomic<bool> visible_{true};
};

// The series of one family, by label values. Series are created on first use and
// never removed, so a reference to one stays valid as long as the registry; a hot
// path may keep it rather than look it up again.
//
// Threads: with() and render() from any thread, under a short lock of the family's
// series table; the series themselves are lock-free.
template <class Metric>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The series with these label values, in the order of the family's label names.
  // Throws std::invalid_argument when their number is wrong (a bug of ours).
  Metric& with(const std::vector<std::string>& label_values);

  void render(std::string& out) const override;

 private:
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;          // guards series_ (the table, not the metrics)
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Every metric of a process, rendered in name order.
//
// Registration throws std::invalid_argument for a name or label name Prometheus
// does not allow, a name registered twice (or clashing with a histogram's
// _bucket/_sum/_count), a counter not named *_total, a histogram label named
// "le", or histogram bounds that are not finite and increasing. A family
// without labels has its one series from the start, so it is rendered at 0.
//
// Threads: everything from any thread; render() holds one family's lock at a
// time, while it writes that family's samples.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help,
                     std::vector<std::string> label_names = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             std::vector<double> bounds, std::vector<std::string> label_names = {});

  // The text exposition format 0.0.4, families sorted by name, series by label values.
  std::string render() const;

 private:
  template <class Metric>
  Family<Metric>& add(const std::string& name, const std::string& help, Type type,
                      std::vector<std::string> label_names, std::vector<double> bounds);

  mutable std::mutex mutex_;  // guards families_
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
};

// A label value as the format writes it: \ " and line feed escaped.
std::string escape_label_value(std::string_view value);
// A sample value as the format writes it: integers without a fraction, others
// in the shortest form that reads back the same, NaN, +Inf, -Inf.
std::string format_value(double value);

}  // namespace haveri::daemon::metrics

namespace haveri::daemon {

// Every metric haverid exports (docs/metrics.md), registered at construction.
// Label values are bounded: routes are patterns, plugin instances are the
// configured ones (or outbox entries' own), severities and statuses are enums.
//
// Threads: any; it must outlive everything that counts into it.
class DaemonMetrics {
 public:
  // `plugin_instances`: the configured instance names, whose per-instance series
  // exist (at 0) from the start.
  explicit DaemonMetrics(const std::vector<std::string>& plugin_instances);
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  metrics::Registry registry;

  // HTTP, counted by route pattern (routes.hpp, route_label).
  metrics::CounterFamily& http_requests;            // route, plugin_instance, status
  metrics::HistogramFamily& http_request_duration;  // route
  // Declaration to first acknowledgement, once per incident, when it is committed.
  metrics::HistogramFamily& acknowledge_latency;  // severity
  // The store writer (group commit).
  metrics::Histogram& store_commit_batch_size;
  metrics::Histogram& store_commit_duration;
  metrics::Counter& store_commit_failures;
  metrics::Gauge& store_queue_depth;
  // The outbox, per plugin instance.
  metrics::GaugeFamily& outbox_depth;        // plugin_instance
  metrics::CounterFamily& outbox_retries;    // plugin_instance
  metrics::CounterFamily& outbox_failures;   // plugin_instance
  metrics::CounterFamily& outbox_delivered;  // plugin_instance
  metrics::CounterFamily& inbound_events;    // plugin_instance, outcome
  metrics::Gauge& escalation_timers_pending;
  metrics::GaugeFamily& incidents_open;  // severity, status
  metrics::Gauge& ready;
  // The HTTP server's own counts, copied in by before_scrape (main.cpp): what it
  // refuses or cuts never reaches a route.
  metrics::Gauge& http_connections_open;
  metrics::Counter& http_connections_refused;
  metrics::Counter& http_timeouts;

  // Called at each scrape before rendering, to copy in numbers kept elsewhere. Set
  // once, before the server starts.
  std::function<void()> before_scrape;

  // Counts one answered request; `took` from routing to the answer.
  void count_request(const std::string& route, const std::string& plugin_instance, unsigned status,
                     std::chrono::nanoseconds took);
};

}  // namespace haveri::daemon
