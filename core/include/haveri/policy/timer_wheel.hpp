#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace haveri::policy {

// A hierarchical timing wheel (Varghese & Lauck, as in the Linux and Kafka
// purgatory timers): timers hang in slots of a few levels of 64 slots each, level
// L covering 64^(L+1) ticks, and cascade down a level as their time comes near.
// Scheduling and cancelling are O(1); advancing costs O(slots passed + timers due).
// Timers live in one pooled node vector with a free list, linked by 32-bit indexes,
// so a pending timer costs sizeof(Node) bytes (see node_bytes()) and no allocation
// once the pool has grown.
//
// Time is abstract ticks (the daemon uses milliseconds of a steady clock): the wheel
// never reads a clock; advance() is driven from outside, by one steady tick.
// Timers due further than the top level can hold are parked in the top level and
// re-filed when it comes round, so any due time is accepted.
//
// Payload: any movable type; an escalation step carries 16 bytes.
// Runs on: one thread at a time; not thread-safe.
template <class Payload>
class TimerWheel {
 public:
  using Tick = std::uint64_t;

  // Identifies one scheduled timer; stale once it fired or was cancelled (a reused
  // node has a new generation, so cancelling a stale handle does nothing).
  struct Handle {
    std::uint32_t index = UINT32_MAX;
    std::uint32_t generation = 0;
    bool operator==(const Handle&) const = default;
  };

  explicit TimerWheel(Tick now = 0);

  // Files a timer due at `due`. A due time at or before now() fires on the next
  // advance().
  Handle schedule(Tick due, Payload payload);

  // Removes a pending timer; false if it already fired, was cancelled or never existed.
  bool cancel(Handle handle) noexcept;

  // Moves time to `to` (ignored if not later than now()) and calls
  // on_due(Tick due, Payload&& payload) for every timer due at or before `to`, in
  // order of due tick (timers due at the same tick in the order scheduled). on_due
  // may schedule and cancel timers; one it schedules at or before `to` fires in this
  // same call. Returns how many fired.
  template <class OnDue>
  std::size_t advance(Tick to, OnDue&& on_due);

  Tick now() const noexcept;
  std::size_t size() const noexcept;  // pending timers
  // The earliest due tick of a pending timer, if any (may scan; for tests and sleep).
  std::optional<Tick> next_due() const;
  void reserve(std::size_t timers);

  // Bytes one pending timer occupies in the pool, payload included.
  static constexpr std::size_t node_bytes() noexcept;
};

}  // namespace haveri::policy
