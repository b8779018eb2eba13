#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include <haveri/core/outbox.hpp>

namespace haveri::core {

namespace {

using std::chrono::milliseconds;

// Refills are computed in floating point: an instant that should give exactly one
// token may give a hair less, which must still count as one.
constexpr double kTokenEpsilon = 1e-9;
// A computed wait never exceeds this (a year), so a tiny rate cannot overflow it.
constexpr double kMaxTokenWaitMs = 365.0 * 24 * 3600 * 1000;
constexpr double kJitter = 0.2;  // +-20 % on computed backoff delays
// 2^62 times any delay of at least 1 ms is beyond every sensible max_retry_delay.
constexpr int kMaxBackoffExponent = 62;

// Limits come from plugins: never trust them to be sane.
InstanceLimits sanitized(InstanceLimits limits, double fallback_per_second) {
  limits.channel_interval = std::max(limits.channel_interval, milliseconds::zero());
  if (!std::isfinite(limits.per_second) || limits.per_second <= 0) {
    limits.per_second = fallback_per_second;
  }
  limits.burst = std::max(limits.burst, 1);
  return limits;
}

bool has_token(double tokens) {
  return tokens >= 1.0 - kTokenEpsilon;
}

// Tokens a bucket holding `tokens` at `since` holds at `at`; an unset `since` means
// the bucket was never drawn from. Time running backwards refills nothing.
double tokens_at(double tokens, std::optional<TimePoint> since, const InstanceLimits& limits,
                 TimePoint at) {
  const auto burst = static_cast<double>(limits.burst);
  if (!since || at <= *since) {
    return std::min(tokens, burst);
  }
  const double elapsed_seconds = std::chrono::duration<double>(at - *since).count();
  return std::min(burst, tokens + elapsed_seconds * limits.per_second);
}

// Uniform in [0, 1) from the top 53 bits, so a seed gives the same sequence with
// every standard library (uniform_real_distribution is implementation-defined).
double unit_interval(std::mt19937_64& random) {
  return std::ldexp(static_cast<double>(random() >> 11), -53);
}

milliseconds retry_delay(const OutboxSettings& settings, std::optional<milliseconds> hint,
                         int attempts, std::mt19937_64& random) {
  const milliseconds cap = std::max(settings.max_retry_delay, milliseconds::zero());
  if (hint) {
    return std::clamp(*hint, milliseconds::zero(), cap);
  }
  const auto first =
      static_cast<double>(std::max(settings.first_retry_delay, milliseconds::zero()).count());
  const int exponent = std::clamp(attempts - 1, 0, kMaxBackoffExponent);
  const double factor = 1.0 - kJitter + 2.0 * kJitter * unit_interval(random);
  const double delay =
      std::min(std::ldexp(first, exponent) * factor, static_cast<double>(cap.count()));
  return milliseconds(std::llround(delay));
}

}  // namespace

OutboxScheduler::OutboxScheduler(OutboxSettings settings, std::uint64_t jitter_seed)
    : settings_(settings),
      default_limits_(
          sanitized(InstanceLimits{settings.default_channel_interval,
                                   settings.default_instance_per_second, InstanceLimits{}.burst},
                    InstanceLimits{}.per_second)),
      jitter_(jitter_seed) {}

void OutboxScheduler::set_limits(const std::string& instance, InstanceLimits limits) {
  limits_[instance] = sanitized(limits, default_limits_.per_second);
}

const InstanceLimits& OutboxScheduler::limits_of(const std::string& instance) const {
  const auto found = limits_.find(instance);
  return found == limits_.end() ? default_limits_ : found->second;
}

std::vector<std::int64_t> OutboxScheduler::add(OutboxEntry entry) {
  std::vector<std::int64_t> superseded;
  if (queued_.contains(entry.id) || in_flight_.contains(entry.id)) {
    return superseded;
  }
  if (!entry.coalesce_key.empty()) {
    const auto same_key = queued_by_key_.find(entry.coalesce_key);
    if (same_key != queued_by_key_.end()) {
      superseded = same_key->second;
      for (const std::int64_t id : superseded) {
        remove_queued(id);
      }
      counters_.coalesced += superseded.size();
      std::sort(superseded.begin(), superseded.end());
    }
    queued_by_key_[entry.coalesce_key].push_back(entry.id);
  }
  queued_.emplace(entry.id, entry.lane);
  ++depth_[entry.instance];
  instance_counters_.try_emplace(entry.instance);  // listed from now on, even at depth 0

  std::deque<OutboxEntry>& queue = lanes_[entry.lane].queued;
  // Entries nearly always arrive in id order, so the search from the back is short.
  auto position = queue.end();
  while (position != queue.begin() && std::prev(position)->id > entry.id) {
    --position;
  }
  queue.insert(position, std::move(entry));
  return superseded;
}

std::vector<OutboxEntry> OutboxScheduler::take_due(TimePoint now, std::size_t max) {
  std::vector<OutboxEntry> taken;
  if (max == 0) {
    return taken;
  }
  std::vector<std::pair<std::int64_t, Lane*>> ready;
  for (auto it = lanes_.begin(); it != lanes_.end();) {
    Lane& lane = it->second;
    if (lane.in_flight) {
      ++it;
      continue;
    }
    if (lane.queued.empty()) {
      // An idle lane is only kept while its interval still paces the next entry.
      const bool paced =
          lane.last_attempt && *lane.last_attempt + limits_of(lane.instance).channel_interval > now;
      it = paced ? std::next(it) : lanes_.erase(it);
      continue;
    }
    const OutboxEntry& head = lane.queued.front();
    const bool interval_passed =
        !lane.last_attempt || *lane.last_attempt + limits_of(head.instance).channel_interval <= now;
    if (head.not_before <= now && interval_passed) {
      ready.emplace_back(head.id, &lane);
    }
    ++it;
  }
  std::sort(ready.begin(), ready.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  for (const auto& [id, lane] : ready) {
    if (taken.size() >= max) {
      break;
    }
    OutboxEntry& head = lane->queued.front();
    const InstanceLimits& limits = limits_of(head.instance);
    Bucket& bucket =
        buckets_.try_emplace(head.instance, Bucket{static_cast<double>(limits.burst), {}})
            .first->second;
    bucket.tokens = tokens_at(bucket.tokens, bucket.refilled_at, limits, now);
    if (!bucket.refilled_at || *bucket.refilled_at < now) {
      bucket.refilled_at = now;
    }
    if (!has_token(bucket.tokens)) {
      continue;
    }
    bucket.tokens = std::max(0.0, bucket.tokens - 1.0);

    lane->in_flight = id;
    lane->last_attempt = now;
    lane->instance = head.instance;
    unindex(head);
    taken.push_back(head);
    in_flight_.emplace(id, std::move(head));
    lane->queued.pop_front();
  }
  return taken;
}

TimePoint OutboxScheduler::token_time(const std::string& instance, TimePoint now) const {
  const auto found = buckets_.find(instance);
  if (found == buckets_.end()) {
    return now;  // never drawn from: full
  }
  const Bucket& bucket = found->second;
  const InstanceLimits& limits = limits_of(instance);
  const auto holds_token = [&](TimePoint at) {
    return has_token(tokens_at(bucket.tokens, bucket.refilled_at, limits, at));
  };
  if (holds_token(now)) {
    return now;
  }
  // Time running backwards refills nothing until it passes the last refill again.
  const TimePoint base = bucket.refilled_at ? std::max(now, *bucket.refilled_at) : now;
  const double missing = 1.0 - tokens_at(bucket.tokens, bucket.refilled_at, limits, base);
  const double wait_ms =
      std::clamp(std::ceil(missing * 1000.0 / limits.per_second), 1.0, kMaxTokenWaitMs);
  TimePoint at = base + milliseconds(static_cast<std::int64_t>(wait_ms));
  // Rounding may put the estimate a millisecond off; take_due decides with the same
  // arithmetic, so answer exactly the first instant it will find a token.
  for (int step = 0; step < 2 && at - milliseconds(1) > base && holds_token(at - milliseconds(1));
       ++step) {
    at -= milliseconds(1);
  }
  for (int step = 0; step < 2 && !holds_token(at); ++step) {
    at += milliseconds(1);
  }
  return at;
}

std::optional<TimePoint> OutboxScheduler::next_due(TimePoint now) const {
  std::optional<TimePoint> earliest;
  for (const auto& named : lanes_) {
    const Lane& lane = named.second;
    if (lane.in_flight || lane.queued.empty()) {
      continue;
    }
    const OutboxEntry& head = lane.queued.front();
    TimePoint due = head.not_before;
    if (lane.last_attempt) {
      due = std::max(due, *lane.last_attempt + limits_of(head.instance).channel_interval);
    }
    due = std::max(due, token_time(head.instance, now));
    if (!earliest || due < *earliest) {
      earliest = due;
    }
  }
  return earliest;
}

Completion OutboxScheduler::complete(std::int64_t id, const AttemptOutcome& outcome,
                                     TimePoint now) {
  const auto found = in_flight_.find(id);
  if (found == in_flight_.end()) {
    return Completion{Completion::Disposition::failed, 0, {}, "unknown outbox entry"};
  }
  OutboxEntry entry = land(found);
  entry.attempts += 1;
  const int attempts = entry.attempts;

  InstanceOutboxStats& instance = instance_counters_[entry.instance];
  if (outcome.kind == AttemptOutcome::Kind::ok) {
    forget(entry);
    ++counters_.done;
    ++instance.done;
    return Completion{Completion::Disposition::done, attempts, {}, {}};
  }
  if (outcome.kind == AttemptOutcome::Kind::retryable) {
    ++counters_.retried;
    ++instance.retried;
  }
  if (outcome.kind == AttemptOutcome::Kind::permanent || attempts >= settings_.max_attempts) {
    forget(entry);
    ++counters_.failed;
    ++instance.failed;
    return Completion{Completion::Disposition::failed, attempts, {}, outcome.error};
  }
  entry.not_before = now + retry_delay(settings_, outcome.retry_after, attempts, jitter_);
  entry.last_error = outcome.error;
  Completion completion{Completion::Disposition::retry_scheduled, attempts, entry.not_before,
                        outcome.error};
  requeue_first(std::move(entry));
  return completion;
}

void OutboxScheduler::defer(std::int64_t id, TimePoint not_before) {
  const auto found = in_flight_.find(id);
  if (found == in_flight_.end()) {
    return;
  }
  OutboxEntry entry = land(found);
  entry.not_before = not_before;
  requeue_first(std::move(entry));
}

OutboxStats OutboxScheduler::stats() const {
  OutboxStats stats = counters_;
  stats.queued = queued_.size();
  stats.in_flight = in_flight_.size();
  return stats;
}

std::size_t OutboxScheduler::depth(const std::string& instance) const {
  const auto found = depth_.find(instance);
  return found == depth_.end() ? 0 : found->second;
}

std::map<std::string, InstanceOutboxStats> OutboxScheduler::instance_stats() const {
  std::map<std::string, InstanceOutboxStats> stats = instance_counters_;
  for (auto& [instance, counts] : stats) {
    counts.depth = 0;
  }
  for (const auto& [instance, depth] : depth_) {
    stats[instance].depth = depth;
  }
  return stats;
}

void OutboxScheduler::keep_counters_of(const OutboxScheduler& previous) {
  counters_.retried = previous.counters_.retried;
  counters_.failed = previous.counters_.failed;
  counters_.done = previous.counters_.done;
  counters_.coalesced = previous.counters_.coalesced;
  instance_counters_ = previous.instance_counters_;
}

void OutboxScheduler::remove_queued(std::int64_t id) {
  const auto found = queued_.find(id);
  if (found == queued_.end()) {
    return;
  }
  const auto lane = lanes_.find(found->second);
  if (lane == lanes_.end()) {
    queued_.erase(found);
    return;
  }
  std::deque<OutboxEntry>& queue = lane->second.queued;
  const auto entry = std::find_if(queue.begin(), queue.end(),
                                  [id](const OutboxEntry& queued) { return queued.id == id; });
  if (entry == queue.end()) {
    queued_.erase(found);
    return;
  }
  unindex(*entry);
  forget(*entry);
  queue.erase(entry);
}

void OutboxScheduler::unindex(const OutboxEntry& entry) {
  queued_.erase(entry.id);
  if (entry.coalesce_key.empty()) {
    return;
  }
  const auto same_key = queued_by_key_.find(entry.coalesce_key);
  if (same_key == queued_by_key_.end()) {
    return;
  }
  std::erase(same_key->second, entry.id);
  if (same_key->second.empty()) {
    queued_by_key_.erase(same_key);
  }
}

void OutboxScheduler::requeue_first(OutboxEntry entry) {
  queued_.emplace(entry.id, entry.lane);
  if (!entry.coalesce_key.empty()) {
    queued_by_key_[entry.coalesce_key].push_back(entry.id);
  }
  Lane& lane = lanes_[entry.lane];
  lane.queued.push_front(std::move(entry));
}

OutboxEntry OutboxScheduler::land(std::map<std::int64_t, OutboxEntry>::iterator in_flight) {
  OutboxEntry entry = std::move(in_flight->second);
  in_flight_.erase(in_flight);
  const auto lane = lanes_.find(entry.lane);
  if (lane != lanes_.end()) {
    lane->second.in_flight.reset();
  }
  return entry;
}

void OutboxScheduler::forget(const OutboxEntry& entry) {
  const auto found = depth_.find(entry.instance);
  if (found == depth_.end()) {
    return;
  }
  if (--found->second == 0) {
    depth_.erase(found);
  }
}

}  // namespace haveri::core
