#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <haveri/core/ids.hpp>
#include <haveri/core/settings.hpp>

namespace haveri::core {

// One outbound operation waiting to be performed by a plugin instance. Entries are
// persisted by the EventStore in the same transaction as the events that caused
// them, so nothing a commit promised is lost in a crash.
struct OutboxEntry {
  std::int64_t id = 0;       // assigned by the store; increasing in commit order
  std::string organization;  // Organization::id
  std::string instance;      // plugin instance that performs it
  // Ordering and pacing key: entries of one lane are performed one at a time, in id
  // order, at most one per channel interval. "incident:7" for the incident's own
  // channel (known or not yet), "<instance>/<channel id>" for any other channel.
  std::string lane;
  // Non-empty: an entry added later with the same key supersedes a queued one that
  // is not in flight (edits of one card coalesce into the newest).
  std::string coalesce_key;
  // Stable across retries and restarts; plugins deduplicate on it.
  std::string operation_key;
  std::string operation;               // the operation JSON (docs/plugin-abi.md), as text
  std::optional<IncidentId> incident;  // the incident it belongs to, if any
  int attempts = 0;                    // attempts made so far
  TimePoint not_before{};              // no attempt before this time
  TimePoint created_at{};
  std::string last_error;  // from the last failed attempt
  bool operator==(const OutboxEntry&) const = default;
};

// What a plugin instance declares it can take (docs/plugin-abi.md, "Limits").
struct InstanceLimits {
  std::chrono::milliseconds channel_interval{1000};  // between two operations of one lane
  double per_second = 20.0;                          // sustained, across the instance
  int burst = 20;                                    // token bucket size
  bool operator==(const InstanceLimits&) const = default;
};

// How one attempt ended, as the plugin reported it.
struct AttemptOutcome {
  enum class Kind { ok, retryable, permanent };
  Kind kind = Kind::ok;
  std::optional<std::chrono::milliseconds> retry_after;  // the platform's hint, if any
  std::string error;                                     // empty on ok
};

// What became of an entry after an attempt.
struct Completion {
  enum class Disposition { done, retry_scheduled, failed };
  Disposition disposition = Disposition::done;
  int attempts = 0;          // including this one
  TimePoint next_attempt{};  // for retry_scheduled
  std::string error;         // for retry_scheduled and failed
};

struct OutboxStats {
  std::size_t queued = 0;       // waiting (including those waiting for a retry)
  std::size_t in_flight = 0;    // handed out by take_due, not completed yet
  std::uint64_t retried = 0;    // attempts that ended retryable, since start
  std::uint64_t failed = 0;     // entries given up, since start
  std::uint64_t done = 0;       // entries performed, since start
  std::uint64_t coalesced = 0;  // entries superseded by a newer one, since start
  bool operator==(const OutboxStats&) const = default;
};

// One plugin instance's share of the outbox.
struct InstanceOutboxStats {
  std::size_t depth = 0;      // queued and in flight now
  std::uint64_t retried = 0;  // attempts that ended retryable, since start
  std::uint64_t failed = 0;   // entries given up, since start
  std::uint64_t done = 0;     // entries performed, since start
  bool operator==(const InstanceOutboxStats&) const = default;
};

// Decides which outbox entries are performed when: ordering per lane, pacing per
// lane and per instance, exponential backoff with jitter that honours the
// platform's retry-after, and coalescing of queued edits. Pure: no I/O, time is
// passed in; persisting its decisions is the caller's job.
//
// Runs on: one thread at a time (the daemon's store thread); not thread-safe.
class OutboxScheduler {
 public:
  // `jitter_seed` makes the backoff jitter reproducible in tests.
  explicit OutboxScheduler(OutboxSettings settings, std::uint64_t jitter_seed = 0x5eed);

  // Limits for one instance; instances never set use the settings' defaults.
  void set_limits(const std::string& instance, InstanceLimits limits);

  // Queues an entry (loaded at start, or just committed). Returns the ids of queued
  // entries it supersedes (same non-empty coalesce_key, not in flight), which the
  // caller deletes from the store. Adding an id already known is ignored.
  std::vector<std::int64_t> add(OutboxEntry entry);

  // Entries to perform now, at most `max`, oldest first: the head of each lane that
  // is not in flight, whose not_before has passed, whose lane interval since its
  // last attempt has passed and whose instance has a token. Each is marked in
  // flight until complete() is called for it.
  std::vector<OutboxEntry> take_due(TimePoint now, std::size_t max);

  // The earliest time take_due could return something, given nothing is added or
  // completed before; nullopt when nothing is queued outside flight.
  std::optional<TimePoint> next_due(TimePoint now) const;

  // Records how an in-flight entry's attempt ended. ok and permanent remove it;
  // retryable re-queues it at the head of its lane with not_before set to now plus
  // the retry-after hint (capped at max_retry_delay) or, without a hint, an
  // exponential backoff from first_retry_delay with +-20 % jitter (capped); after
  // max_attempts attempts it is failed and removed. Unknown ids: failed, no-op.
  Completion complete(std::int64_t id, const AttemptOutcome& outcome, TimePoint now);

  // Puts an in-flight entry back untouched (e.g. its target is not known yet),
  // to be tried again no earlier than `not_before`.
  void defer(std::int64_t id, TimePoint not_before);

  OutboxStats stats() const;
  // Queued and in-flight entries of one instance.
  std::size_t depth(const std::string& instance) const;
  // Every instance that has entries now or had any since start, by name.
  std::map<std::string, InstanceOutboxStats> instance_stats() const;
  // Takes over the "since start" counters of `previous` (a scheduler this one
  // replaces after the outbox was reloaded from the store), so they never go back.
  void keep_counters_of(const OutboxScheduler& previous);

 private:
  struct Lane {
    std::deque<OutboxEntry> queued;  // id order, except that a retried entry stays first
    std::optional<std::int64_t> in_flight;
    std::optional<TimePoint> last_attempt;  // of the last take_due that handed out an entry
    std::string instance;                   // of that entry: its interval paces the lane
  };
  struct Bucket {
    double tokens = 0;
    std::optional<TimePoint> refilled_at;  // unset: full, never used
  };

  const InstanceLimits& limits_of(const std::string& instance) const;
  // When the instance's bucket holds a token, at `now` or later.
  TimePoint token_time(const std::string& instance, TimePoint now) const;
  // Drops a queued entry for good: from its lane, the indexes and depth().
  void remove_queued(std::int64_t id);
  // Unlinks a queued entry from the indexes of queued entries (not from its lane).
  void unindex(const OutboxEntry& entry);
  // Puts an entry that was in flight back at the head of its lane.
  void requeue_first(OutboxEntry entry);
  // Takes an entry out of flight; the caller decides what becomes of it.
  OutboxEntry land(std::map<std::int64_t, OutboxEntry>::iterator in_flight);
  // An entry leaves for good (done, failed): it no longer counts in depth().
  void forget(const OutboxEntry& entry);

  OutboxSettings settings_;
  InstanceLimits default_limits_;
  std::map<std::string, InstanceLimits> limits_;
  std::map<std::string, Lane> lanes_;
  std::map<std::string, Bucket> buckets_;
  std::map<std::int64_t, OutboxEntry> in_flight_;  // id -> entry
  std::map<std::int64_t, std::string> queued_;     // id -> lane, for every queued entry
  // coalesce_key -> ids of the queued entries that carry it (usually one).
  std::map<std::string, std::vector<std::int64_t>> queued_by_key_;
  std::map<std::string, std::size_t> depth_;  // instance -> queued and in-flight entries
  std::mt19937_64 jitter_;
  OutboxStats counters_;
  std::map<std::string, InstanceOutboxStats> instance_counters_;  // depth unused
};

}  // namespace haveri::core
