#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/policy/timer_wheel.hpp>

namespace haveri::policy {
namespace {

using Tick = std::uint64_t;

// The daemon's escalation payload.
struct EscalationStep {
  std::int64_t incident = 0;
  std::uint32_t chain = 0;
  std::uint16_t step = 0;
  std::uint16_t round = 0;
};
static_assert(sizeof(EscalationStep) == 16);

using Wheel = TimerWheel<std::uint64_t>;

struct Firing {
  Tick due = 0;
  Tick at = 0;  // now() when on_due ran
  std::uint64_t id = 0;
  bool operator==(const Firing&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Firing& f) {
  return out << "{due " << f.due << ", at " << f.at << ", id " << f.id << "}";
}

// Advances `wheel` to `to` and returns what fired.
std::vector<Firing> advance(Wheel& wheel, Tick to) {
  std::vector<Firing> fired;
  const std::size_t count = wheel.advance(to, [&](Tick due, std::uint64_t id) {
    fired.push_back({due, wheel.now(), id});
  });
  EXPECT_EQ(count, fired.size());
  return fired;
}

constexpr Tick kBoundaries[] = {1,
                                2,
                                63,
                                64,
                                65,
                                4095,
                                4096,
                                4097,
                                (Tick{1} << 18) - 1,
                                Tick{1} << 18,
                                (Tick{1} << 18) + 1,
                                (Tick{1} << 24) - 1,
                                Tick{1} << 24,
                                (Tick{1} << 24) + 1,
                                (Tick{1} << 30) - 1,
                                Tick{1} << 30,
                                (Tick{1} << 30) + 1,
                                (Tick{1} << 36) - 1,
                                Tick{1} << 36,
                                (Tick{1} << 36) + 1,
                                (Tick{3} << 36) + 12345,
                                Tick{1} << 42,
                                (Tick{1} << 48) + 7};

// Starting points that put now() at and around the boundaries of each level.
constexpr Tick kStarts[] = {0,
                            1,
                            63,
                            64,
                            4095,
                            123456789,
                            (Tick{1} << 30) - 1,
                            (Tick{1} << 36) - 1,
                            (Tick{1} << 36) + (Tick{1} << 30) - 2,
                            (Tick{5} << 40) + 4097};

TEST(TimerWheel, EscalationNodeIsAtMost40Bytes) {
  EXPECT_LE(TimerWheel<EscalationStep>::node_bytes(), 40U);
}

TEST(TimerWheel, FiresAtExactlyTheDueTickAcrossEveryLevelBoundary) {
  for (const Tick start : kStarts) {
    for (const Tick delta : kBoundaries) {
      SCOPED_TRACE(testing::Message() << "start " << start << " delta " << delta);
      const Tick due = start + delta;
      Wheel wheel(start);
      wheel.schedule(due, 1);
      EXPECT_EQ(wheel.next_due(), due);
      EXPECT_TRUE(advance(wheel, due - 1).empty());
      EXPECT_EQ(wheel.size(), 1U);
      EXPECT_EQ(wheel.next_due(), due);
      EXPECT_EQ(advance(wheel, due), (std::vector<Firing>{{due, due, 1}}));
      EXPECT_EQ(wheel.size(), 0U);
      EXPECT_EQ(wheel.now(), due);
    }
  }
}

TEST(TimerWheel, FiresAtTheDueTickWhenOneAdvanceJumpsPastIt) {
  for (const Tick start : kStarts) {
    for (const Tick delta : kBoundaries) {
      SCOPED_TRACE(testing::Message() << "start " << start << " delta " << delta);
      const Tick due = start + delta;
      Wheel wheel(start);
      wheel.schedule(due, 1);
      EXPECT_EQ(advance(wheel, due + delta + 1000), (std::vector<Firing>{{due, due, 1}}));
      EXPECT_EQ(wheel.now(), due + delta + 1000);
    }
  }
}

TEST(TimerWheel, FiresAtTheDueTickWhenAdvancedOneTickAtATimeAroundIt) {
  for (const Tick start : kStarts) {
    for (const Tick delta : kBoundaries) {
      SCOPED_TRACE(testing::Message() << "start " << start << " delta " << delta);
      const Tick due = start + delta;
      Wheel wheel(start);
      wheel.schedule(due, 1);
      if (delta > 3) {
        EXPECT_TRUE(advance(wheel, due - 3).empty());
      }
      std::vector<Firing> fired;
      for (Tick t = wheel.now() + 1; t <= due + 2; ++t) {
        for (const Firing& f : advance(wheel, t)) {
          fired.push_back(f);
        }
      }
      EXPECT_EQ(fired, (std::vector<Firing>{{due, due, 1}}));
    }
  }
}

TEST(TimerWheel, AllBoundariesTogetherFireInOrderInOneAdvance) {
  for (const Tick start : kStarts) {
    SCOPED_TRACE(testing::Message() << "start " << start);
    Wheel wheel(start);
    std::vector<Firing> expected;
    // Scheduled latest first, so that the order is the wheel's doing.
    for (std::size_t i = std::size(kBoundaries); i-- > 0;) {
      wheel.schedule(start + kBoundaries[i], i);
    }
    for (std::size_t i = 0; i < std::size(kBoundaries); ++i) {
      expected.push_back({start + kBoundaries[i], start + kBoundaries[i], i});
    }
    EXPECT_EQ(advance(wheel, start + (Tick{1} << 49)), expected);
    EXPECT_EQ(wheel.size(), 0U);
  }
}

TEST(TimerWheel, TimersDueAtTheSameTickFireInTheOrderScheduledWhateverTheLevelTheyWereFiledAt) {
  Wheel wheel(0);
  const Tick due = 5000;
  wheel.schedule(due, 1);  // level 2
  EXPECT_TRUE(advance(wheel, 4000).empty());
  wheel.schedule(due, 2);  // level 1
  wheel.schedule(due + 1, 10);
  EXPECT_TRUE(advance(wheel, 4990).empty());
  wheel.schedule(due, 3);  // level 0
  wheel.schedule(due - 1, 0);
  wheel.schedule(due, 4);
  EXPECT_EQ(advance(wheel, 6000), (std::vector<Firing>{{due - 1, due - 1, 0},
                                                       {due, due, 1},
                                                       {due, due, 2},
                                                       {due, due, 3},
                                                       {due, due, 4},
                                                       {due + 1, due + 1, 10}}));
}

TEST(TimerWheel, ParkedTimersBeyondTheTopLevelKeepTheirOrder) {
  Wheel wheel(0);
  const Tick due = (Tick{1} << 40) + 77;
  wheel.schedule(due, 1);  // parked: 2^40 is beyond the 2^36 ticks the levels cover
  wheel.schedule(due + 1, 5);
  EXPECT_TRUE(advance(wheel, due - (Tick{1} << 37)).empty());
  wheel.schedule(due, 2);  // still parked
  EXPECT_TRUE(advance(wheel, due - (Tick{1} << 20)).empty());
  wheel.schedule(due, 3);
  EXPECT_TRUE(advance(wheel, due - 10).empty());
  wheel.schedule(due, 4);
  EXPECT_EQ(wheel.next_due(), due);
  EXPECT_EQ(
      advance(wheel, due + 1),
      (std::vector<Firing>{
          {due, due, 1}, {due, due, 2}, {due, due, 3}, {due, due, 4}, {due + 1, due + 1, 5}}));
}

TEST(TimerWheel, CancelBeforeFiringRemovesTheTimer) {
  Wheel wheel(0);
  const Wheel::Handle kept = wheel.schedule(100, 1);
  const Wheel::Handle dropped = wheel.schedule(100, 2);
  const Wheel::Handle far = wheel.schedule(Tick{1} << 40, 3);
  EXPECT_EQ(wheel.size(), 3U);
  EXPECT_TRUE(wheel.cancel(dropped));
  EXPECT_TRUE(wheel.cancel(far));
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_FALSE(wheel.cancel(dropped));  // twice
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(advance(wheel, Tick{1} << 41), (std::vector<Firing>{{100, 100, 1}}));
  EXPECT_FALSE(wheel.cancel(kept));  // after firing
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, CancelRefusesHandlesThatNeverExisted) {
  Wheel wheel(0);
  EXPECT_FALSE(wheel.cancel(Wheel::Handle{}));
  const Wheel::Handle handle = wheel.schedule(10, 1);
  EXPECT_FALSE(wheel.cancel(Wheel::Handle{handle.index + 1, handle.generation}));
  EXPECT_FALSE(wheel.cancel(Wheel::Handle{handle.index, handle.generation + 1}));
  EXPECT_EQ(wheel.size(), 1U);
}

TEST(TimerWheel, AStaleHandleDoesNotCancelTheTimerThatReusedItsNode) {
  Wheel wheel(0);
  const Wheel::Handle first = wheel.schedule(10, 1);
  ASSERT_TRUE(wheel.cancel(first));
  const Wheel::Handle second = wheel.schedule(20, 2);
  EXPECT_EQ(second.index, first.index);  // the node is reused...
  EXPECT_NE(second, first);              // ...under a new generation
  EXPECT_FALSE(wheel.cancel(first));
  EXPECT_EQ(advance(wheel, 20), (std::vector<Firing>{{20, 20, 2}}));

  // The same after firing: the fired timer's handle does not reach its successor.
  const Wheel::Handle third = wheel.schedule(30, 3);
  EXPECT_EQ(third.index, first.index);
  EXPECT_FALSE(wheel.cancel(second));
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_TRUE(wheel.cancel(third));
}

TEST(TimerWheel, AdvancingBackwardsOrToNowDoesNothing) {
  Wheel wheel(1000);
  wheel.schedule(1001, 1);
  wheel.schedule(900, 2);  // overdue: waits for an advance that moves time
  EXPECT_EQ(wheel.advance(1000, [](Tick, std::uint64_t) { ADD_FAILURE(); }), 0U);
  EXPECT_EQ(wheel.advance(10, [](Tick, std::uint64_t) { ADD_FAILURE(); }), 0U);
  EXPECT_EQ(wheel.now(), 1000U);
  EXPECT_EQ(wheel.size(), 2U);
  EXPECT_EQ(advance(wheel, 1001), (std::vector<Firing>{{900, 1000, 2}, {1001, 1001, 1}}));
}

TEST(TimerWheel, OverdueTimersFireFirstInOrderOfDueTick) {
  Wheel wheel(1000);
  wheel.schedule(1000, 1);
  wheel.schedule(999, 2);
  wheel.schedule(5, 3);
  wheel.schedule(999, 4);
  wheel.schedule(1001, 5);
  EXPECT_EQ(wheel.next_due(), 5U);
  EXPECT_EQ(advance(wheel, 2000),
            (std::vector<Firing>{
                {5, 1000, 3}, {999, 1000, 2}, {999, 1000, 4}, {1000, 1000, 1}, {1001, 1001, 5}}));
}

TEST(TimerWheel, OnDueMayScheduleTimersThatFireInTheSameAdvance) {
  Wheel wheel(0);
  wheel.schedule(10, 0);
  std::vector<Firing> fired;
  // Each timer schedules the next one tick later: a chain of 1000.
  const std::size_t count = wheel.advance(5000, [&](Tick due, std::uint64_t id) {
    fired.push_back({due, wheel.now(), id});
    if (id < 999) {
      wheel.schedule(due + 1, id + 1);
    }
  });
  EXPECT_EQ(count, 1000U);
  ASSERT_EQ(fired.size(), 1000U);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(fired[i], (Firing{10 + i, 10 + i, i}));
  }
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, OnDueMayScheduleAtOrBeforeNowAndThoseFireRightAfterTheCurrentTick) {
  Wheel wheel(0);
  wheel.schedule(100, 1);
  wheel.schedule(100, 2);
  wheel.schedule(101, 3);
  std::vector<Firing> fired;
  wheel.advance(200, [&](Tick due, std::uint64_t id) {
    fired.push_back({due, wheel.now(), id});
    if (id == 1) {
      wheel.schedule(wheel.now(), 10);
      wheel.schedule(wheel.now() - 50, 11);
      wheel.schedule(300, 12);  // after `to`: stays pending
    }
  });
  EXPECT_EQ(fired,
            (std::vector<Firing>{
                {100, 100, 1}, {100, 100, 2}, {50, 100, 11}, {100, 100, 10}, {101, 101, 3}}));
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.next_due(), 300U);
}

TEST(TimerWheel, OnDueMayCancelTimersOfTheSameTickLaterTicksAndItself) {
  Wheel wheel(0);
  std::vector<Wheel::Handle> handles;
  handles.push_back(wheel.schedule(4096, 0));
  handles.push_back(wheel.schedule(4096, 1));
  handles.push_back(wheel.schedule(4096, 2));
  handles.push_back(wheel.schedule(5000, 3));
  handles.push_back(wheel.schedule(Tick{1} << 40, 4));
  std::vector<std::uint64_t> fired;
  std::vector<bool> cancelled;
  wheel.advance(Tick{1} << 41, [&](Tick, std::uint64_t id) {
    fired.push_back(id);
    if (id == 0) {
      cancelled.push_back(wheel.cancel(handles[0]));  // itself: already fired
      cancelled.push_back(wheel.cancel(handles[2]));  // same tick, not called yet
      cancelled.push_back(wheel.cancel(handles[4]));  // parked
      cancelled.push_back(wheel.cancel(handles[2]));
    }
  });
  EXPECT_EQ(fired, (std::vector<std::uint64_t>{0, 1, 3}));
  EXPECT_EQ(cancelled, (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, OnDueMayReuseTheNodeOfTheTimerBeingFired) {
  Wheel wheel(0);
  const Wheel::Handle first = wheel.schedule(10, 1);
  Wheel::Handle second;
  wheel.advance(10, [&](Tick, std::uint64_t id) {
    if (id == 1) {
      second = wheel.schedule(20, 2);
    }
  });
  EXPECT_EQ(second.index, first.index);
  EXPECT_FALSE(wheel.cancel(first));
  EXPECT_EQ(advance(wheel, 30), (std::vector<Firing>{{20, 20, 2}}));
}

TEST(TimerWheel, OnDueMayGrowThePool) {
  Wheel wheel(0);
  wheel.schedule(1, 0);
  wheel.schedule(1, 1);
  std::size_t calls = 0;
  wheel.advance(1, [&](Tick, std::uint64_t) {
    ++calls;
    for (std::uint64_t i = 0; i < 10000; ++i) {
      wheel.schedule(2 + i % 5000, i);
    }
  });
  EXPECT_EQ(calls, 2U);
  EXPECT_EQ(wheel.size(), 20000U);
  EXPECT_EQ(wheel.advance(1'000'000, [](Tick, std::uint64_t) {}), 20000U);
}

TEST(TimerWheel, AThrowingOnDueLeavesTheRestOfTheTickForTheNextAdvance) {
  Wheel wheel(0);
  for (std::uint64_t id = 0; id < 4; ++id) {
    wheel.schedule(64, id);
  }
  wheel.schedule(65, 9);
  EXPECT_THROW(wheel.advance(100,
                             [](Tick, std::uint64_t id) {
                               if (id == 1) {
                                 throw std::runtime_error("boom");
                               }
                             }),
               std::runtime_error);
  EXPECT_EQ(wheel.now(), 64U);
  EXPECT_EQ(wheel.size(), 3U);
  EXPECT_EQ(advance(wheel, 100), (std::vector<Firing>{{64, 64, 2}, {64, 64, 3}, {65, 65, 9}}));
}

TEST(TimerWheel, AnEmptyWheelJumpsAnyDistanceAtOnce) {
  Wheel wheel(0);
  EXPECT_EQ(wheel.advance(Tick{1} << 62, [](Tick, std::uint64_t) {}), 0U);
  EXPECT_EQ(wheel.now(), Tick{1} << 62);
  EXPECT_EQ(wheel.next_due(), std::nullopt);
}

constexpr Tick kYearMs = Tick{365} * 24 * 3600 * 1000 + Tick{6} * 3600 * 1000;

// Due ticks skewed towards the near future, as escalations are: a log-uniform
// horizon from 1 tick up to about `max_bits` bits.
Tick skewed_horizon(std::mt19937_64& random, unsigned max_bits) {
  const unsigned bits = std::uniform_int_distribution<unsigned>(0, max_bits)(random);
  return std::uniform_int_distribution<Tick>(Tick{1} << bits, Tick{2} << bits)(random) - 1;
}

TEST(TimerWheel, TenYearsInOneAdvanceFireEverythingOnceInOrder) {
  std::mt19937_64 random(7);
  Wheel wheel(12345);
  std::multimap<Tick, std::uint64_t> expected;
  for (std::uint64_t id = 0; id < 20000; ++id) {
    Tick due = 12345 + std::min(skewed_horizon(random, 39), 10 * kYearMs - 1);
    if (id % 10 == 0) {
      due = 12345 + std::uniform_int_distribution<Tick>(1, 10 * kYearMs - 1)(random);
    }
    wheel.schedule(due, id);
    expected.emplace(due, id);
  }
  const std::vector<Firing> fired = advance(wheel, 12345 + 10 * kYearMs);
  ASSERT_EQ(fired.size(), expected.size());
  auto want = expected.begin();
  for (const Firing& f : fired) {
    ASSERT_EQ(f, (Firing{want->first, want->first, want->second}));
    ++want;
  }
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, TenYearsInRandomStepsFireEverythingOnceInOrder) {
  std::mt19937_64 random(8);
  Wheel wheel(0);
  std::multimap<Tick, std::uint64_t> expected;
  for (std::uint64_t id = 0; id < 5000; ++id) {
    const Tick due = std::uniform_int_distribution<Tick>(1, 10 * kYearMs)(random);
    wheel.schedule(due, id);
    expected.emplace(due, id);
  }
  std::vector<Firing> fired;
  while (wheel.now() < 10 * kYearMs) {
    const Tick step = skewed_horizon(random, 36);
    for (const Firing& f : advance(wheel, std::min(wheel.now() + step, 10 * kYearMs))) {
      fired.push_back(f);
    }
  }
  ASSERT_EQ(fired.size(), expected.size());
  auto want = expected.begin();
  for (const Firing& f : fired) {
    ASSERT_EQ(f, (Firing{want->first, want->first, want->second}));
    ++want;
  }
}

TEST(TimerWheel, NextDueIsTheEarliestPendingTimer) {
  Wheel wheel(1000);
  EXPECT_EQ(wheel.next_due(), std::nullopt);
  const Wheel::Handle parked = wheel.schedule(1000 + (Tick{1} << 40), 1);
  EXPECT_EQ(wheel.next_due(), 1000 + (Tick{1} << 40));
  // A later top-level cycle's timer in an earlier slot than one of this cycle.
  wheel.schedule((Tick{1} << 35) + 5, 2);
  EXPECT_EQ(wheel.next_due(), (Tick{1} << 35) + 5);
  const Wheel::Handle level2 = wheel.schedule(1000 + 5000, 3);
  wheel.schedule(1000 + 6000, 4);
  EXPECT_EQ(wheel.next_due(), 6000U);
  const Wheel::Handle level0 = wheel.schedule(1010, 5);
  EXPECT_EQ(wheel.next_due(), 1010U);
  const Wheel::Handle overdue = wheel.schedule(17, 6);
  EXPECT_EQ(wheel.next_due(), 17U);
  EXPECT_TRUE(wheel.cancel(overdue));
  EXPECT_TRUE(wheel.cancel(level0));
  EXPECT_TRUE(wheel.cancel(level2));
  EXPECT_EQ(wheel.next_due(), 7000U);
  advance(wheel, 7000);
  EXPECT_EQ(wheel.next_due(), (Tick{1} << 35) + 5);
  advance(wheel, Tick{1} << 36);
  EXPECT_EQ(wheel.next_due(), 1000 + (Tick{1} << 40));
  EXPECT_TRUE(wheel.cancel(parked));
  EXPECT_EQ(wheel.next_due(), std::nullopt);
}

// The reference model: every pending timer keyed by when and in which order it must
// fire. A timer scheduled after now() fires at its due tick, in the order
// scheduled; one scheduled at or before now() fires at that now(), after the timers
// due at that tick, in order of due tick, then of scheduling.
class Model {
 public:
  using Key = std::tuple<Tick /*fires at*/, int /*overdue*/, Tick /*due*/, std::uint64_t /*id*/>;

  void schedule(Tick now, Tick due, std::uint64_t id) {
    const Key key = due > now ? Key{due, 0, due, id} : Key{now, 1, due, id};
    pending_.emplace(key, id);
    keys_.emplace(id, key);
  }
  bool cancel(std::uint64_t id) {
    const auto found = keys_.find(id);
    if (found == keys_.end()) {
      return false;
    }
    pending_.erase(found->second);
    keys_.erase(found);
    return true;
  }
  // The next timer to fire by `to`, removed; nullopt if none is due by then.
  std::optional<Key> pop(Tick to) {
    if (pending_.empty() || std::get<0>(pending_.begin()->first) > to) {
      return std::nullopt;
    }
    const Key key = pending_.begin()->first;
    keys_.erase(pending_.begin()->second);
    pending_.erase(pending_.begin());
    return key;
  }
  std::size_t size() const { return pending_.size(); }
  std::optional<Tick> next_due() const {
    std::optional<Tick> earliest;
    for (const auto& [key, id] : pending_) {
      if (!earliest || std::get<2>(key) < *earliest) {
        earliest = std::get<2>(key);
      }
      if (std::get<1>(key) == 0) {
        break;  // the first not overdue is the earliest of those not overdue
      }
    }
    return earliest;
  }

 private:
  std::map<Key, std::uint64_t> pending_;
  std::unordered_map<std::uint64_t, Key> keys_;
};

TEST(TimerWheel, RandomOperationsMatchAReferenceModel) {
  const std::uint64_t seed = 20261124;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 random(seed);
  const auto chance = [&](double p) { return std::bernoulli_distribution(p)(random); };
  Wheel wheel(std::uniform_int_distribution<Tick>(0, Tick{1} << 40)(random));
  Model model;
  std::vector<Wheel::Handle> handles;  // every handle ever issued, id = position
  std::uint64_t fired_count = 0;

  // Skewed: mostly minutes, sometimes the exact edge of a level, sometimes years
  // away, sometimes already due.
  const auto random_due = [&]() -> Tick {
    const Tick now = wheel.now();
    const double kind = std::uniform_real_distribution<double>(0, 1)(random);
    if (kind < 0.04) {
      return now - std::min(now, skewed_horizon(random, 20));
    }
    if (kind < 0.10) {
      const unsigned level = std::uniform_int_distribution<unsigned>(1, 7)(random);
      const Tick edge = Tick{1} << (6 * level);
      return now + edge + std::uniform_int_distribution<int>(-1, 1)(random) -
             (now & (edge - 1)) * (chance(0.5) ? 1 : 0);
    }
    if (kind < 0.85) {
      return now + skewed_horizon(random, 22);
    }
    return now + skewed_horizon(random, 41);
  };
  const auto schedule = [&]() {
    const std::uint64_t id = handles.size();
    const Tick due = random_due();
    handles.push_back(wheel.schedule(due, id));
    model.schedule(wheel.now(), due, id);
  };
  const auto cancel = [&]() {
    if (handles.empty()) {
      return;
    }
    // Recent handles more often: most of them are still pending.
    const std::uint64_t back =
        std::clamp<std::uint64_t>(skewed_horizon(random, 16), 1, handles.size());
    const std::uint64_t id = handles.size() - back;
    ASSERT_EQ(wheel.cancel(handles[id]), model.cancel(id)) << "cancel id " << id;
  };

  for (int op = 0; op < 200000; ++op) {
    const double kind = std::uniform_real_distribution<double>(0, 1)(random);
    if (kind < 0.5) {
      schedule();
    } else if (kind < 0.7) {
      cancel();
    } else {
      const Tick from = wheel.now();
      Tick to = from;
      if (chance(0.03)) {
        to = from - std::min<Tick>(from, skewed_horizon(random, 10));  // backwards or same
      } else if (chance(0.02)) {
        to = from + skewed_horizon(random, 40);
      } else {
        to = from + skewed_horizon(random, 18);
      }
      const std::size_t count = wheel.advance(to, [&](Tick due, std::uint64_t id) {
        const std::optional<Model::Key> want = model.pop(to);
        ASSERT_TRUE(want.has_value()) << "id " << id << " due " << due << " fired unexpectedly";
        ASSERT_EQ(std::get<3>(*want), id) << "at " << wheel.now();
        ASSERT_EQ(std::get<2>(*want), due);
        ASSERT_EQ(std::get<0>(*want), wheel.now()) << "id " << id << " due " << due;
        ++fired_count;
        // Re-entrant: a quarter of the callbacks schedule or cancel.
        if (chance(0.15)) {
          schedule();
        } else if (chance(0.1)) {
          cancel();
        }
      });
      if (testing::Test::HasFatalFailure()) {
        return;
      }
      ASSERT_EQ(wheel.now(), std::max(from, to));
      if (to <= from) {
        ASSERT_EQ(count, 0U);  // overdue timers wait for an advance that moves time
      } else {
        ASSERT_FALSE(model.pop(wheel.now()).has_value()) << "a timer due by now did not fire";
      }
    }
    if (testing::Test::HasFatalFailure()) {
      return;
    }
    ASSERT_EQ(wheel.size(), model.size()) << "op " << op;
    if (op % 64 == 0) {
      ASSERT_EQ(wheel.next_due(), model.next_due()) << "op " << op;
    }
  }
  // Everything left fires exactly once.
  const std::size_t left = wheel.size();
  const std::size_t count =
      wheel.advance(wheel.now() + (Tick{1} << 44), [&](Tick due, std::uint64_t id) {
        const std::optional<Model::Key> want = model.pop(wheel.now());
        ASSERT_TRUE(want.has_value());
        ASSERT_EQ(std::get<3>(*want), id);
        ASSERT_EQ(std::get<2>(*want), due);
        ++fired_count;
      });
  EXPECT_EQ(count, left);
  EXPECT_EQ(wheel.size(), 0U);
  EXPECT_EQ(model.size(), 0U);
  EXPECT_GT(fired_count, 30000U);  // the run exercised firing, not only scheduling
}

// Counts destroyed payloads, so that leaks and double destruction show.
struct CountingDeleter {
  int* destroyed = nullptr;
  void operator()(int* value) const {
    ++*destroyed;
    delete value;
  }
};
using Owned = std::unique_ptr<int, CountingDeleter>;

TEST(TimerWheel, MoveOnlyPayloadsAreDeliveredCancelledAndDestroyedExactlyOnce) {
  int destroyed = 0;
  int delivered = 0;
  {
    TimerWheel<Owned> wheel(0);
    std::vector<TimerWheel<Owned>::Handle> handles;
    handles.reserve(3000);
    // Enough to make the pool reallocate several times with live payloads.
    for (int i = 0; i < 3000; ++i) {
      handles.push_back(
          wheel.schedule(1 + i % 700, Owned(new int(i), CountingDeleter{&destroyed})));
    }
    for (int i = 0; i < 3000; i += 3) {
      EXPECT_TRUE(wheel.cancel(handles[i]));
    }
    EXPECT_EQ(destroyed, 1000);
    wheel.advance(350, [&](Tick due, Owned&& value) {
      ASSERT_TRUE(value);
      EXPECT_EQ(1 + *value % 700, static_cast<int>(due));
      ++delivered;
    });
    EXPECT_EQ(destroyed, 1000 + delivered);  // each delivered payload died with its call
    EXPECT_GT(wheel.size(), 0U);
    // The wheel destroys what is still pending.
  }
  EXPECT_EQ(destroyed, 3000);
}

TEST(TimerWheel, PayloadsNeedNoDefaultConstructor) {
  struct Named {
    explicit Named(std::string name) : value(std::move(name)) {}
    std::string value;
  };
  TimerWheel<Named> wheel(0);
  wheel.schedule(5, Named("five"));
  wheel.schedule(3, Named("three"));
  std::vector<std::string> fired;
  wheel.advance(10, [&](Tick, Named&& named) { fired.push_back(std::move(named.value)); });
  EXPECT_EQ(fired, (std::vector<std::string>{"three", "five"}));
}

TEST(TimerWheel, AMovedWheelKeepsItsTimersAndTheMovedFromOneIsEmpty) {
  Wheel wheel(100);
  wheel.schedule(200, 1);
  wheel.schedule(50, 2);
  Wheel moved(std::move(wheel));
  EXPECT_EQ(moved.size(), 2U);
  EXPECT_EQ(wheel.size(), 0U);  // NOLINT(bugprone-use-after-move): documented as empty
  wheel.schedule(150, 3);
  EXPECT_EQ(advance(wheel, 300), (std::vector<Firing>{{150, 150, 3}}));
  EXPECT_EQ(advance(moved, 300), (std::vector<Firing>{{50, 100, 2}, {200, 200, 1}}));
}

}  // namespace
}  // namespace haveri::policy
