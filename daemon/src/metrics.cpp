#include "metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include <haveri/core/incident.hpp>
#include <haveri/plugin.h>

#ifndef HAVERI_VERSION
#define HAVERI_VERSION "unknown"
#endif

namespace haveri::daemon::metrics {

namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) {
  return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [colon_allowed](char c) { return is_name_char(c, colon_allowed); });
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// `name{labels}` or `name` when there are none.
void append_series_name(std::string& out, std::string_view name, std::string_view suffix,
                        const std::string& labels) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[64];
  // Whole numbers (counts, most gauges) read best without an exponent.
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegers) {
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(value));
    return ec == std::errc{} ? std::string(buffer, end) : std::string("NaN");
  }
  // Shortest round trip, in %g style: 0.0005 rather than 5e-04, as a bucket's le
  // is compared as text in queries.
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  return ec == std::errc{} ? std::string(buffer, end) : std::string("NaN");
}

void Counter::advance_to(std::uint64_t total) noexcept {
  std::uint64_t current = value_.load(std::memory_order_relaxed);
  while (current < total &&
         !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) {
    return;
  }
  // Upper bounds are inclusive: the first bound not below the value.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  // The count is the +Inf bucket by construction, never a separate (racing) total.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::render_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escape_help(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
}

std::string FamilyBase::label_text(const std::vector<std::string>& label_values) const {
  std::string text;
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    if (label_values[i].empty()) {
      continue;
    }
    if (!text.empty()) {
      text += ',';
    }
    text += label_names_[i];
    text += "=\"";
    text += escape_label_value(label_values[i]);
    text += '"';
  }
  return text;
}

void FamilyBase::check_label_count(const std::vector<std::string>& label_values) const {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + " has " + std::to_string(label_names_.size()) +
                                " label(s), given " + std::to_string(label_values.size()));
  }
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names, std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)) {
  if (label_names_.empty()) {
    (void)with({});
  }
}

template <class Metric>
Metric& Family<Metric>::with(const std::vector<std::string>& label_values) {
  check_label_count(label_values);
  std::lock_guard lock(mutex_);
  auto found = series_.find(label_values);
  if (found != series_.end()) {
    return *found->second;
  }
  std::unique_ptr<Metric> metric;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    metric = std::make_unique<Histogram>(std::span<const double>(bounds_));
  } else {
    metric = std::make_unique<Metric>();
  }
  Metric& created = *metric;
  series_.emplace(label_values, std::move(metric));
  return created;
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  if (!visible_) {
    return;
  }
  render_header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [label_values, metric] : series_) {
    const std::string labels = label_text(label_values);
    if constexpr (std::is_same_v<Metric, Histogram>) {
      const Histogram::Snapshot snapshot = metric->snapshot();
      for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        out += name_;
        out += "_bucket{";
        out += labels;
        out += labels.empty() ? "le=\"" : ",le=\"";
        out += i < bounds_.size() ? format_value(bounds_[i]) : std::string("+Inf");
        out += "\"} ";
        out += std::to_string(snapshot.cumulative[i]);
        out += '\n';
      }
      append_series_name(out, name_, "_sum", labels);
      out += ' ';
      out += format_value(snapshot.sum);
      out += '\n';
      append_series_name(out, name_, "_count", labels);
      out += ' ';
      out += std::to_string(snapshot.count);
      out += '\n';
    } else if constexpr (std::is_same_v<Metric, Counter>) {
      append_series_name(out, name_, "", labels);
      out += ' ';
      out += std::to_string(metric->value());
      out += '\n';
    } else {
      append_series_name(out, name_, "", labels);
      out += ' ';
      out += format_value(metric->value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class Metric>
Family<Metric>& Registry::add(const std::string& name, const std::string& help, Type type,
                              std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!valid_name(name, true)) {
    throw std::invalid_argument("\"" + name + "\" is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (type == Type::counter && !name.ends_with("_total")) {
    throw std::invalid_argument("counter " + name + " must be named *_total");
  }
  for (const std::string& label : label_names) {
    if (!valid_name(label, false) || label.starts_with("__")) {
      throw std::invalid_argument("metric " + name + ": \"" + label +
                                  "\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)");
    }
    if (type == Type::histogram && label == "le") {
      throw std::invalid_argument("histogram " + name + ": \"le\" is the buckets' own label");
    }
    if (std::count(label_names.begin(), label_names.end(), label) > 1) {
      throw std::invalid_argument("metric " + name + ": label " + label + " named twice");
    }
  }
  if (type == Type::histogram) {
    const bool finite = std::all_of(bounds.begin(), bounds.end(),
                                    [](double bound) { return std::isfinite(bound); });
    if (bounds.empty() || !finite ||
        std::adjacent_find(bounds.begin(), bounds.end(), std::greater_equal<>()) != bounds.end()) {
      throw std::invalid_argument("histogram " + name +
                                  ": bounds must be finite and increasing (+Inf is implied)");
    }
  }
  std::lock_guard lock(mutex_);
  // A histogram's samples use three more names; none may be another family's.
  const auto names_of = [](const std::string& family, Type family_type) {
    std::vector<std::string> names{family};
    if (family_type == Type::histogram) {
      names.push_back(family + "_bucket");
      names.push_back(family + "_sum");
      names.push_back(family + "_count");
    }
    return names;
  };
  for (const auto& [existing, family] : families_) {
    for (const std::string& taken : names_of(existing, family->type())) {
      for (const std::string& wanted : names_of(name, type)) {
        if (taken == wanted) {
          throw std::invalid_argument("metric " + name + ": the name " + wanted +
                                      " is taken by metric " + existing);
        }
      }
    }
  }
  auto family =
      std::make_unique<Family<Metric>>(name, help, type, std::move(label_names), std::move(bounds));
  Family<Metric>& added = *family;
  families_.emplace(name, std::move(family));
  return added;
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names) {
  return add<Counter>(name, help, Type::counter, std::move(label_names), {});
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names) {
  return add<Gauge>(name, help, Type::gauge, std::move(label_names), {});
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     std::vector<double> bounds,
                                     std::vector<std::string> label_names) {
  return add<Histogram>(name, help, Type::histogram, std::move(label_names), std::move(bounds));
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    family->render(out);
  }
  return out;
}

}  // namespace haveri::daemon::metrics

namespace haveri::daemon {

namespace {

// Request latency, including the wait for the store's commit of hook requests.
constexpr double kRequestSeconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Time to acknowledge is minutes to hours: 10 s … 4 h.
constexpr double kAcknowledgeSeconds[] = {10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400};
// Jobs per transaction, up to the largest storage.max_batch people configure.
constexpr double kBatchJobs[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
// commit_batch is where the fsync happens: sub-millisecond to a second.
constexpr double kCommitSeconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,   0.25,   0.5,   1,    2.5};

constexpr core::Severity kSeverities[] = {core::Severity::sev1, core::Severity::sev2,
                                          core::Severity::sev3};
constexpr core::Status kOpenStatuses[] = {core::Status::declared, core::Status::investigating,
                                          core::Status::mitigated, core::Status::resolved};
constexpr const char* kInboundOutcomes[] = {"committed", "retry_later", "refused", "malformed",
                                            "ignored"};

std::string text(std::string_view view) {
  return std::string(view);
}

std::vector<double> bounds(std::span<const double> upper) {
  return {upper.begin(), upper.end()};
}

}  // namespace

DaemonMetrics::DaemonMetrics(const std::vector<std::string>& plugin_instances)
    : http_requests(registry.counter(
          "haveri_http_requests_total",
          "HTTP requests answered, by route pattern, plugin instance (hooks) and status.",
          {"route", "plugin_instance", "status"})),
      http_request_duration(registry.histogram(
          "haveri_http_request_duration_seconds",
          "Time from routing a request to its answer (hooks wait for the store's commit).",
          bounds(kRequestSeconds), {"route"})),
      acknowledge_latency(registry.histogram(
          "haveri_acknowledge_latency_seconds",
          "Declaration to first acknowledgement, observed once per incident when the "
          "acknowledgement is committed.",
          bounds(kAcknowledgeSeconds), {"severity"})),
      store_commit_batch_size(registry
                                  .histogram("haveri_store_commit_batch_size",
                                             "Jobs per store transaction (group commit), "
                                             "committed or not.",
                                             bounds(kBatchJobs))
                                  .with({})),
      store_commit_duration(registry
                                .histogram("haveri_store_commit_duration_seconds",
                                           "Time spent committing one store transaction "
                                           "(commit_batch, where the fsync happens).",
                                           bounds(kCommitSeconds))
                                .with({})),
      store_commit_failures(registry
                                .counter("haveri_store_commit_failures_total",
                                         "Store transactions that could not be begun or "
                                         "committed; none of their jobs was kept.")
                                .with({})),
      store_queue_depth(registry
                            .gauge("haveri_store_queue_depth",
                                   "Jobs waiting for the store writer at scrape time.")
                            .with({})),
      outbox_depth(registry.gauge("haveri_outbox_depth",
                                  "Outbox operations queued or in flight, by plugin instance.",
                                  {"plugin_instance"})),
      outbox_retries(registry.counter(
          "haveri_outbox_retries_total",
          "Outbox attempts that ended retryable (to be tried again), by plugin instance.",
          {"plugin_instance"})),
      outbox_failures(registry.counter(
          "haveri_outbox_failures_total",
          "Outbox operations given up (permanent error or attempts exhausted), by plugin "
          "instance.",
          {"plugin_instance"})),
      outbox_delivered(registry.counter(
          "haveri_outbox_delivered_total",
          "Outbox operations the plugin performed, by plugin instance.", {"plugin_instance"})),
      inbound_events(
          registry.counter("haveri_inbound_events_total",
                           "Inbound events plugins submitted, by plugin instance and outcome "
                           "(committed, retry_later, refused, malformed, ignored).",
                           {"plugin_instance", "outcome"})),
      escalation_timers_pending(
          registry
              .gauge("haveri_escalation_timers_pending",
                     "Escalation steps waiting in the timer wheel at scrape time.")
              .with({})),
      incidents_open(registry.gauge(
          "haveri_incidents_open",
          "Incidents not CLOSED, by severity and status (every combination, 0 included).",
          {"severity", "status"})),
      ready(registry
                .gauge("haveri_ready",
                       "1 when the store is open and every plugin instance started (as /readyz).")
                .with({})),
      http_connections_open(registry
                                .gauge("haveri_http_connections_open",
                                       "HTTP connections being served at scrape time.")
                                .with({})),
      http_connections_refused(
          registry
              .counter("haveri_http_connections_refused_total",
                       "HTTP connections answered 503 because server.max_connections were open.")
              .with({})),
      http_timeouts(registry
                        .counter("haveri_http_timeouts_total",
                                 "HTTP requests cut because their header, body or response "
                                 "outlasted its timeout (idle keep-alive closes are not counted).")
                        .with({})) {
  registry.gauge("haveri_build_info", "Always 1; the labels name the build.", {"version", "abi"})
      .with({HAVERI_VERSION, std::to_string(HAVERI_ABI_VERSION_MAJOR) + "." +
                                 std::to_string(HAVERI_ABI_VERSION_MINOR)})
      .set(1);
  const auto started =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  registry.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.")
      .with({})
      .set(std::floor(started.count()));

  for (const core::Severity severity : kSeverities) {
    (void)acknowledge_latency.with({text(core::to_string(severity))});
    for (const core::Status status : kOpenStatuses) {
      (void)incidents_open.with({text(core::to_string(severity)), text(core::to_string(status))});
    }
  }
  for (const std::string& instance : plugin_instances) {
    (void)outbox_depth.with({instance});
    (void)outbox_retries.with({instance});
    (void)outbox_failures.with({instance});
    (void)outbox_delivered.with({instance});
    for (const char* outcome : kInboundOutcomes) {
      (void)inbound_events.with({instance, outcome});
    }
  }
}

void DaemonMetrics::count_request(const std::string& route, const std::string& plugin_instance,
                                  unsigned status, std::chrono::nanoseconds took) {
  http_requests.with({route, plugin_instance, std::to_string(status)}).increment();
  http_request_duration.with({route}).observe(std::chrono::duration<double>(took).count());
}

}  // namespace haveri::daemon
