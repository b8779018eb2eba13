#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/outbox.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;
using Disposition = Completion::Disposition;

// The fake clock: tests advance `now` by hand, never sleep.
constexpr TimePoint kStart{std::chrono::milliseconds(1'780'000'000'000)};

// No pacing at all: for tests about something else.
constexpr InstanceLimits kUnpaced{0ms, 1000.0, 1000};

OutboxSettings test_settings() {
  OutboxSettings settings;
  settings.first_retry_delay = 1000ms;
  settings.max_retry_delay = 60s;
  settings.max_attempts = 5;
  settings.default_channel_interval = 1000ms;
  settings.default_instance_per_second = 20.0;
  return settings;
}

OutboxEntry make_entry(std::int64_t id, const std::string& lane,
                       const std::string& instance = "slack", const std::string& key = "") {
  OutboxEntry entry;
  entry.id = id;
  entry.organization = "plant-a";
  entry.instance = instance;
  entry.lane = lane;
  entry.coalesce_key = key;
  entry.operation_key = "op-" + std::to_string(id);
  entry.operation = R"({"op":"post_message"})";
  entry.incident = 7;
  entry.created_at = kStart;
  return entry;
}

std::vector<std::int64_t> ids_of(const std::vector<OutboxEntry>& entries) {
  std::vector<std::int64_t> ids;
  ids.reserve(entries.size());
  for (const OutboxEntry& entry : entries) {
    ids.push_back(entry.id);
  }
  return ids;
}

AttemptOutcome ok() {
  return AttemptOutcome{AttemptOutcome::Kind::ok, std::nullopt, ""};
}

AttemptOutcome retryable(std::optional<std::chrono::milliseconds> retry_after = std::nullopt) {
  return AttemptOutcome{AttemptOutcome::Kind::retryable, retry_after, "HTTP 503 from slack"};
}

AttemptOutcome permanent() {
  return AttemptOutcome{AttemptOutcome::Kind::permanent, std::nullopt, "channel_not_found"};
}

using Ids = std::vector<std::int64_t>;

// --- lanes -------------------------------------------------------------------------

TEST(OutboxLanes, HandsOutOneLaneInIdOrderEvenWhenAddedOutOfOrder) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(3, "incident:7"));
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));

  Ids order;
  for (int i = 0; i < 3; ++i) {
    const auto taken = outbox.take_due(kStart, 10);
    ASSERT_EQ(taken.size(), 1U);
    order.push_back(taken[0].id);
    EXPECT_EQ(outbox.complete(taken[0].id, ok(), kStart).disposition, Disposition::done);
  }
  EXPECT_EQ(order, (Ids{1, 2, 3}));
  EXPECT_TRUE(outbox.take_due(kStart, 10).empty());
}

TEST(OutboxLanes, ALaneWithAnEntryInFlightHandsOutNothingElse) {
  OutboxScheduler outbox(test_settings());
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));

  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1}));
  // Long after the lane interval, still nothing while 1 is in flight.
  EXPECT_TRUE(outbox.take_due(kStart + 10min, 10).empty());
  EXPECT_EQ(outbox.next_due(kStart + 10min), std::nullopt);

  outbox.complete(1, ok(), kStart + 10min);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 10min, 10)), (Ids{2}));
}

TEST(OutboxLanes, LanesAreIndependentAndAFailingLaneBlocksNoOther) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));
  outbox.add(make_entry(3, "slack/C042"));
  outbox.add(make_entry(4, "slack/C042"));

  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1, 3}));
  // Lane incident:7 keeps failing for a minute.
  outbox.complete(1, retryable(60s), kStart);
  outbox.complete(3, ok(), kStart);
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{4}));
  outbox.complete(4, ok(), kStart);
  EXPECT_TRUE(outbox.take_due(kStart + 59s, 10).empty());
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 60s, 10)), (Ids{1}));
}

TEST(OutboxLanes, TakeDueReturnsAtMostMaxOldestFirstAcrossLanes) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(5, "lane-c"));
  outbox.add(make_entry(2, "lane-b"));
  outbox.add(make_entry(9, "lane-a"));
  outbox.add(make_entry(4, "lane-d"));

  EXPECT_TRUE(outbox.take_due(kStart, 0).empty());
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 2)), (Ids{2, 4}));
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 5)), (Ids{5, 9}));
}

TEST(OutboxLanes, AnEntryWaitsForItsNotBefore) {
  OutboxScheduler outbox(test_settings());
  OutboxEntry later = make_entry(1, "incident:7");
  later.not_before = kStart + 30s;
  outbox.add(later);

  EXPECT_TRUE(outbox.take_due(kStart + 29'999ms, 10).empty());
  EXPECT_EQ(outbox.next_due(kStart), kStart + 30s);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 30s, 10)), (Ids{1}));
}

TEST(OutboxLanes, HandsOutTheEntryUnchanged) {
  OutboxScheduler outbox(test_settings());
  const OutboxEntry original = make_entry(1, "incident:7", "teams", "card:7");
  outbox.add(original);
  const auto taken = outbox.take_due(kStart, 1);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0], original);
}

// --- pacing ------------------------------------------------------------------------

TEST(OutboxPacing, ALaneWaitsTheChannelIntervalOfItsInstanceSinceItsLastAttempt) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", InstanceLimits{1500ms, 100.0, 100});
  outbox.add(make_entry(1, "slack/C042"));
  outbox.add(make_entry(2, "slack/C042"));
  outbox.add(make_entry(3, "slack/C042"));

  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1}));
  // Completing quickly does not shorten the interval: it runs from the take.
  outbox.complete(1, ok(), kStart + 200ms);
  EXPECT_TRUE(outbox.take_due(kStart + 1499ms, 10).empty());
  EXPECT_EQ(outbox.next_due(kStart + 200ms), kStart + 1500ms);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1500ms, 10)), (Ids{2}));
  outbox.complete(2, ok(), kStart + 1500ms);
  EXPECT_TRUE(outbox.take_due(kStart + 2999ms, 10).empty());
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 3000ms, 10)), (Ids{3}));
}

TEST(OutboxPacing, AnInstanceWithoutOwnLimitsUsesTheSettingsInterval) {
  OutboxSettings settings = test_settings();
  settings.default_channel_interval = 2500ms;
  OutboxScheduler outbox(settings);
  outbox.add(make_entry(1, "teams/19:abc"));
  outbox.add(make_entry(2, "teams/19:abc"));
  outbox.take_due(kStart, 10);
  outbox.complete(1, ok(), kStart);
  EXPECT_EQ(outbox.next_due(kStart), kStart + 2500ms);
  EXPECT_TRUE(outbox.take_due(kStart + 2499ms, 10).empty());
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 2500ms, 10)), (Ids{2}));
}

TEST(OutboxPacing, AnIdleLaneStillRespectsTheIntervalForTheNextEntry) {
  OutboxScheduler outbox(test_settings());
  outbox.add(make_entry(1, "slack/C042"));
  outbox.take_due(kStart, 10);
  outbox.complete(1, ok(), kStart);
  EXPECT_TRUE(outbox.take_due(kStart + 100ms, 10).empty());  // lane now empty
  outbox.add(make_entry(2, "slack/C042"));
  EXPECT_TRUE(outbox.take_due(kStart + 999ms, 10).empty());
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1000ms, 10)), (Ids{2}));
}

TEST(OutboxPacing, TheTokenBucketAllowsABurstThenTheSustainedRate) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", InstanceLimits{0ms, 2.0, 3});  // 2/s, burst 3
  for (std::int64_t id = 1; id <= 10; ++id) {
    outbox.add(make_entry(id, "slack/C" + std::to_string(id)));
  }

  EXPECT_EQ(ids_of(outbox.take_due(kStart, 100)), (Ids{1, 2, 3}));
  EXPECT_TRUE(outbox.take_due(kStart + 499ms, 100).empty());
  EXPECT_EQ(outbox.next_due(kStart + 100ms), kStart + 500ms);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 500ms, 100)), (Ids{4}));
  EXPECT_EQ(outbox.next_due(kStart + 500ms), kStart + 1000ms);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1000ms, 100)), (Ids{5}));
  // A long pause refills at most `burst` tokens.
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1h, 100)), (Ids{6, 7, 8}));
  EXPECT_TRUE(outbox.take_due(kStart + 1h + 499ms, 100).empty());
}

TEST(OutboxPacing, AnInstanceOutOfTokensDoesNotHoldUpAnotherInstance) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", InstanceLimits{0ms, 1.0, 1});
  outbox.set_limits("teams", kUnpaced);
  outbox.add(make_entry(1, "slack/C1", "slack"));
  outbox.add(make_entry(2, "slack/C2", "slack"));
  outbox.add(make_entry(3, "teams/T1", "teams"));
  outbox.add(make_entry(4, "teams/T2", "teams"));

  // Entry 2 is older than 3 and 4 but its instance has no token left.
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1, 3, 4}));
  EXPECT_EQ(outbox.next_due(kStart), kStart + 1s);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1s, 10)), (Ids{2}));
}

TEST(OutboxPacing, InvalidLimitsFromAPluginAreMadeSafe) {
  OutboxScheduler outbox(test_settings());
  // Negative interval, a rate of zero, no burst: none of these may stall or crash.
  outbox.set_limits("slack", InstanceLimits{-5ms, 0.0, 0});
  outbox.add(make_entry(1, "slack/C1"));
  outbox.add(make_entry(2, "slack/C2"));
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1}));
  const auto due = outbox.next_due(kStart);
  ASSERT_TRUE(due.has_value());
  EXPECT_GT(*due, kStart);
  EXPECT_EQ(ids_of(outbox.take_due(*due, 10)), (Ids{2}));
}

// --- coalescing --------------------------------------------------------------------

TEST(OutboxCoalescing, ANewerEntrySupersedesQueuedOnesWithTheSameKey) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  EXPECT_TRUE(outbox.add(make_entry(1, "incident:7", "slack", "card:7")).empty());
  EXPECT_TRUE(outbox.add(make_entry(2, "incident:7", "slack", "")).empty());
  EXPECT_TRUE(outbox.add(make_entry(3, "incident:7", "slack", "card:8")).empty());
  EXPECT_EQ(outbox.add(make_entry(4, "incident:7", "slack", "card:7")), (Ids{1}));
  EXPECT_EQ(outbox.add(make_entry(5, "incident:7", "slack", "card:7")), (Ids{4}));

  EXPECT_EQ(outbox.stats().coalesced, 2U);
  EXPECT_EQ(outbox.stats().queued, 3U);
  EXPECT_EQ(outbox.depth("slack"), 3U);
  Ids order;
  while (true) {
    const auto taken = outbox.take_due(kStart, 10);
    if (taken.empty()) {
      break;
    }
    order.push_back(taken[0].id);
    outbox.complete(taken[0].id, ok(), kStart);
  }
  EXPECT_EQ(order, (Ids{2, 3, 5}));
}

TEST(OutboxCoalescing, AnEntryInFlightIsNotSupersededTheNewOneQueuesBehindIt) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7", "slack", "card:7"));
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1}));

  EXPECT_TRUE(outbox.add(make_entry(2, "incident:7", "slack", "card:7")).empty());
  EXPECT_EQ(outbox.stats().coalesced, 0U);
  EXPECT_TRUE(outbox.take_due(kStart, 10).empty());
  // A third edit supersedes the queued second one, still not the one in flight.
  EXPECT_EQ(outbox.add(make_entry(3, "incident:7", "slack", "card:7")), (Ids{2}));
  EXPECT_EQ(outbox.stats().in_flight, 1U);

  EXPECT_EQ(outbox.complete(1, ok(), kStart).disposition, Disposition::done);
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{3}));
}

TEST(OutboxCoalescing, AnEntryWaitingForARetryIsSuperseded) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7", "slack", "card:7"));
  outbox.take_due(kStart, 10);
  outbox.complete(1, retryable(30s), kStart);
  EXPECT_EQ(outbox.add(make_entry(2, "incident:7", "slack", "card:7")), (Ids{1}));
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{2}));
}

TEST(OutboxCoalescing, SupersedesAcrossLanesToo) {
  OutboxScheduler outbox(test_settings());
  outbox.add(make_entry(1, "slack/C1", "slack", "pin:7"));
  EXPECT_EQ(outbox.add(make_entry(2, "slack/C2", "slack", "pin:7")), (Ids{1}));
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{2}));
  EXPECT_EQ(outbox.stats().queued, 0U);
}

// --- duplicates --------------------------------------------------------------------

TEST(OutboxDuplicates, AddingAnIdAlreadyQueuedIsIgnored) {
  OutboxScheduler outbox(test_settings());
  OutboxEntry first = make_entry(1, "incident:7", "slack", "card:7");
  outbox.add(first);
  OutboxEntry again = first;
  again.operation = R"({"op":"something else"})";
  // Same id and key: must not supersede itself.
  EXPECT_TRUE(outbox.add(again).empty());
  EXPECT_EQ(outbox.stats().queued, 1U);
  EXPECT_EQ(outbox.stats().coalesced, 0U);
  EXPECT_EQ(outbox.depth("slack"), 1U);
  const auto taken = outbox.take_due(kStart, 10);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].operation, first.operation);
}

TEST(OutboxDuplicates, AddingAnIdInFlightIsIgnored) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.take_due(kStart, 10);
  EXPECT_TRUE(outbox.add(make_entry(1, "incident:7")).empty());
  EXPECT_EQ(outbox.stats().queued, 0U);
  EXPECT_EQ(outbox.stats().in_flight, 1U);
  outbox.complete(1, ok(), kStart);
  EXPECT_TRUE(outbox.take_due(kStart + 1h, 10).empty());
  EXPECT_EQ(outbox.depth("slack"), 0U);
}

// --- retries -----------------------------------------------------------------------

TEST(OutboxRetry, HonoursThePlatformsRetryAfter) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.take_due(kStart, 10);

  const Completion completion = outbox.complete(1, retryable(3s), kStart + 100ms);
  EXPECT_EQ(completion.disposition, Disposition::retry_scheduled);
  EXPECT_EQ(completion.attempts, 1);
  EXPECT_EQ(completion.next_attempt, kStart + 3100ms);
  EXPECT_EQ(completion.error, "HTTP 503 from slack");
  EXPECT_EQ(outbox.stats().retried, 1U);
  EXPECT_EQ(outbox.next_due(kStart + 100ms), kStart + 3100ms);

  EXPECT_TRUE(outbox.take_due(kStart + 3099ms, 10).empty());
  const auto taken = outbox.take_due(kStart + 3100ms, 10);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].attempts, 1);
  EXPECT_EQ(taken[0].last_error, "HTTP 503 from slack");
  EXPECT_EQ(taken[0].not_before, kStart + 3100ms);
}

TEST(OutboxRetry, RetryAfterIsCappedAndNeverNegative) {
  OutboxSettings settings = test_settings();
  settings.max_retry_delay = 10s;
  OutboxScheduler outbox(settings);
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));

  outbox.take_due(kStart, 10);
  EXPECT_EQ(outbox.complete(1, retryable(1h), kStart).next_attempt, kStart + 10s);
  outbox.take_due(kStart + 10s, 10);
  EXPECT_EQ(outbox.complete(1, retryable(-5s), kStart + 10s).next_attempt, kStart + 10s);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 10s, 10)), (Ids{1}));
}

// The delays an entry gets from `failures` retryable outcomes without a hint.
std::vector<std::chrono::milliseconds> backoff_delays(const OutboxSettings& settings,
                                                      std::uint64_t seed, int failures) {
  OutboxScheduler outbox(settings, seed);
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  std::vector<std::chrono::milliseconds> delays;
  TimePoint now = kStart;
  for (int i = 0; i < failures; ++i) {
    const auto taken = outbox.take_due(now, 10);
    EXPECT_EQ(ids_of(taken), (Ids{1})) << "attempt " << i + 1;
    const Completion completion = outbox.complete(1, retryable(), now);
    EXPECT_EQ(completion.disposition, Disposition::retry_scheduled);
    EXPECT_EQ(completion.attempts, i + 1);
    delays.push_back(completion.next_attempt - now);
    now = completion.next_attempt;
  }
  return delays;
}

TEST(OutboxRetry, BackoffDoublesWithJitterWithinTwentyPercent) {
  OutboxSettings settings = test_settings();
  settings.first_retry_delay = 1000ms;
  settings.max_retry_delay = 1h;
  settings.max_attempts = 20;
  const auto delays = backoff_delays(settings, 42, 10);

  bool jittered = false;
  for (std::size_t i = 0; i < delays.size(); ++i) {
    const double nominal = 1000.0 * static_cast<double>(1U << i);
    const auto delay = static_cast<double>(delays[i].count());
    EXPECT_GE(delay, nominal * 0.8 - 1) << "retry " << i + 1;
    EXPECT_LE(delay, nominal * 1.2 + 1) << "retry " << i + 1;
    jittered = jittered || delay != nominal;
  }
  EXPECT_TRUE(jittered) << "no delay differs from the nominal backoff";
}

TEST(OutboxRetry, JitterSpreadsRetriesOfManyEntries) {
  OutboxSettings settings = test_settings();
  OutboxScheduler outbox(settings);
  outbox.set_limits("slack", kUnpaced);
  std::set<TimePoint> retry_times;
  for (std::int64_t id = 1; id <= 50; ++id) {
    outbox.add(make_entry(id, "slack/C" + std::to_string(id)));
  }
  for (const OutboxEntry& entry : outbox.take_due(kStart, 100)) {
    const Completion completion = outbox.complete(entry.id, retryable(), kStart);
    EXPECT_GE(completion.next_attempt, kStart + 800ms);
    EXPECT_LE(completion.next_attempt, kStart + 1200ms);
    retry_times.insert(completion.next_attempt);
  }
  // Fifty entries failing together must not all come back in the same millisecond.
  EXPECT_GT(retry_times.size(), 25U);
}

TEST(OutboxRetry, BackoffIsDeterministicForASeed) {
  OutboxSettings settings = test_settings();
  settings.max_retry_delay = 1h;
  settings.max_attempts = 20;
  EXPECT_EQ(backoff_delays(settings, 7, 8), backoff_delays(settings, 7, 8));
  EXPECT_NE(backoff_delays(settings, 7, 8), backoff_delays(settings, 8, 8));
}

TEST(OutboxRetry, BackoffIsCappedAtMaxRetryDelay) {
  OutboxSettings settings = test_settings();
  settings.first_retry_delay = 1000ms;
  settings.max_retry_delay = 5s;
  settings.max_attempts = 100;
  const auto delays = backoff_delays(settings, 1, 70);
  // 8 s * 0.8 > 5 s: from the fourth retry on every delay is the cap, even when the
  // nominal backoff is far beyond what a duration can hold.
  for (std::size_t i = 3; i < delays.size(); ++i) {
    EXPECT_EQ(delays[i], 5s) << "retry " << i + 1;
  }
}

TEST(OutboxRetry, AfterMaxAttemptsTheEntryIsFailedAndRemoved) {
  OutboxSettings settings = test_settings();
  settings.max_attempts = 3;
  OutboxScheduler outbox(settings);
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));

  TimePoint now = kStart;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_EQ(ids_of(outbox.take_due(now, 10)), (Ids{1}));
    const Completion completion = outbox.complete(1, retryable(2s), now);
    ASSERT_EQ(completion.disposition, Disposition::retry_scheduled);
    now = completion.next_attempt;
  }
  ASSERT_EQ(ids_of(outbox.take_due(now, 10)), (Ids{1}));
  const Completion last = outbox.complete(1, retryable(2s), now);
  EXPECT_EQ(last.disposition, Disposition::failed);
  EXPECT_EQ(last.attempts, 3);
  EXPECT_EQ(last.error, "HTTP 503 from slack");

  const OutboxStats stats = outbox.stats();
  EXPECT_EQ(stats.failed, 1U);
  EXPECT_EQ(stats.retried, 3U);
  EXPECT_EQ(stats.queued, 1U);
  EXPECT_EQ(stats.in_flight, 0U);
  EXPECT_EQ(outbox.depth("slack"), 1U);
  // The lane moves on to the next entry.
  EXPECT_EQ(ids_of(outbox.take_due(now, 10)), (Ids{2}));
}

TEST(OutboxRetry, APermanentFailureRemovesTheEntryAtOnce) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));
  outbox.take_due(kStart, 10);
  const Completion completion = outbox.complete(1, permanent(), kStart);
  EXPECT_EQ(completion.disposition, Disposition::failed);
  EXPECT_EQ(completion.attempts, 1);
  EXPECT_EQ(completion.error, "channel_not_found");
  EXPECT_EQ(outbox.stats().failed, 1U);
  EXPECT_EQ(outbox.stats().retried, 0U);
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{2}));
}

TEST(OutboxRetry, ARetriedEntryStaysFirstInItsLane) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));
  outbox.add(make_entry(3, "incident:7"));
  outbox.take_due(kStart, 10);
  outbox.complete(1, retryable(5s), kStart);

  // Entries 2 and 3 are due but must not overtake 1.
  EXPECT_TRUE(outbox.take_due(kStart + 4999ms, 10).empty());
  EXPECT_EQ(outbox.next_due(kStart), kStart + 5s);
  Ids order;
  TimePoint now = kStart + 5s;
  for (int i = 0; i < 3; ++i) {
    const auto taken = outbox.take_due(now, 10);
    ASSERT_EQ(taken.size(), 1U);
    order.push_back(taken[0].id);
    outbox.complete(taken[0].id, ok(), now);
  }
  EXPECT_EQ(order, (Ids{1, 2, 3}));
}

TEST(OutboxRetry, CompletingAnUnknownIdChangesNothing) {
  OutboxScheduler outbox(test_settings());
  outbox.add(make_entry(1, "incident:7"));
  const OutboxStats before = outbox.stats();

  const Completion queued_not_taken = outbox.complete(1, ok(), kStart);
  EXPECT_EQ(queued_not_taken.disposition, Disposition::failed);
  EXPECT_EQ(queued_not_taken.attempts, 0);
  EXPECT_EQ(queued_not_taken.next_attempt, TimePoint{});
  EXPECT_EQ(queued_not_taken.error, "unknown outbox entry");
  EXPECT_EQ(outbox.complete(99, retryable(), kStart).error, "unknown outbox entry");
  EXPECT_EQ(outbox.stats(), before);

  outbox.take_due(kStart, 10);
  EXPECT_EQ(outbox.complete(1, ok(), kStart).disposition, Disposition::done);
  EXPECT_EQ(outbox.complete(1, ok(), kStart).error, "unknown outbox entry");
  EXPECT_EQ(outbox.stats().done, 1U);
}

// --- defer -------------------------------------------------------------------------

TEST(OutboxDefer, PutsTheEntryBackAtTheHeadOfItsLaneUntouched) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", kUnpaced);
  outbox.add(make_entry(1, "incident:7"));
  outbox.add(make_entry(2, "incident:7"));
  outbox.take_due(kStart, 10);

  outbox.defer(1, kStart + 10s);
  EXPECT_EQ(outbox.stats().in_flight, 0U);
  EXPECT_EQ(outbox.stats().queued, 2U);
  EXPECT_EQ(outbox.stats().retried, 0U);
  EXPECT_EQ(outbox.next_due(kStart), kStart + 10s);
  EXPECT_TRUE(outbox.take_due(kStart + 9999ms, 10).empty());

  const auto taken = outbox.take_due(kStart + 10s, 10);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].id, 1);
  EXPECT_EQ(taken[0].attempts, 0);
  EXPECT_EQ(taken[0].not_before, kStart + 10s);
}

TEST(OutboxDefer, AnUnknownOrQueuedIdIsANoOp) {
  OutboxScheduler outbox(test_settings());
  outbox.add(make_entry(1, "incident:7"));
  outbox.defer(1, kStart + 1h);  // queued, not in flight
  outbox.defer(42, kStart + 1h);
  EXPECT_EQ(outbox.stats().queued, 1U);
  EXPECT_EQ(outbox.next_due(kStart), kStart);
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1}));
}

// --- next_due, stats, depth ----------------------------------------------------------

TEST(OutboxNextDue, IsNulloptWhenNothingIsQueuedOutsideFlight) {
  OutboxScheduler outbox(test_settings());
  EXPECT_EQ(outbox.next_due(kStart), std::nullopt);
  outbox.add(make_entry(1, "incident:7"));
  EXPECT_EQ(outbox.next_due(kStart), kStart);
  outbox.take_due(kStart, 10);
  EXPECT_EQ(outbox.next_due(kStart), std::nullopt);
}

TEST(OutboxNextDue, IsTheEarliestOfAllLanes) {
  OutboxScheduler outbox(test_settings());
  OutboxEntry a = make_entry(1, "slack/C1");
  a.not_before = kStart + 20s;
  OutboxEntry b = make_entry(2, "slack/C2");
  b.not_before = kStart + 5s;
  outbox.add(a);
  outbox.add(b);
  EXPECT_EQ(outbox.next_due(kStart), kStart + 5s);
  EXPECT_EQ(ids_of(outbox.take_due(kStart + 5s, 10)), (Ids{2}));
  EXPECT_EQ(outbox.next_due(kStart + 5s), kStart + 20s);
}

// Drives a random workload and checks, at every step, that next_due is exactly the
// first instant take_due hands something out: never too early (a busy loop in the
// daemon) and never too late (latency, or a stall).
TEST(OutboxNextDue, AgreesWithTakeDueUnderARandomWorkload) {
  OutboxSettings settings = test_settings();
  settings.max_attempts = 4;
  settings.first_retry_delay = 300ms;
  OutboxScheduler outbox(settings, 99);
  outbox.set_limits("slack", InstanceLimits{700ms, 3.0, 2});
  outbox.set_limits("teams", InstanceLimits{250ms, 7.5, 4});
  // "local" keeps the settings' defaults.

  std::mt19937_64 random(2024);
  const auto pick = [&random](std::uint64_t n) { return random() % n; };
  const std::vector<std::string> instances = {"slack", "teams", "local"};
  std::map<std::string, TimePoint> last_take;     // lane -> time of its last take
  std::map<std::int64_t, std::string> in_flight;  // id -> lane
  std::int64_t next_id = 1;
  TimePoint now = kStart;
  int handed_out = 0;

  for (int step = 0; step < 3000; ++step) {
    for (std::uint64_t n = pick(3); n > 0; --n) {
      const std::string& instance = instances[pick(instances.size())];
      OutboxEntry entry = make_entry(next_id++, instance + "/C" + std::to_string(pick(5)), instance,
                                     pick(3) == 0 ? "card:" + std::to_string(pick(4)) : "");
      entry.not_before = now + std::chrono::milliseconds(pick(3000));
      outbox.add(entry);
    }
    if (!in_flight.empty() && pick(2) == 0) {
      auto it = std::next(in_flight.begin(), static_cast<std::ptrdiff_t>(pick(in_flight.size())));
      switch (pick(5)) {
        case 0:
          outbox.complete(it->first, retryable(), now);
          break;
        case 1:
          outbox.complete(it->first, retryable(std::chrono::milliseconds(pick(2000))), now);
          break;
        case 2:
          outbox.defer(it->first, now + std::chrono::milliseconds(pick(1500)));
          break;
        default:
          outbox.complete(it->first, ok(), now);
      }
      in_flight.erase(it);
    }

    const std::optional<TimePoint> due = outbox.next_due(now);
    if (!due) {
      ASSERT_TRUE(outbox.stats().queued == 0 || outbox.stats().in_flight > 0)
          << "queued entries but nothing in flight and no next_due at step " << step;
      now += std::chrono::milliseconds(pick(500));
      continue;
    }
    if (*due > now) {
      ASSERT_TRUE(outbox.take_due(*due - 1ms, 100).empty())
          << "next_due is later than the first instant something is due, step " << step;
      now = *due;
    }
    const auto taken = outbox.take_due(now, 1 + pick(3));
    ASSERT_FALSE(taken.empty()) << "nothing due at next_due, step " << step;
    for (const OutboxEntry& entry : taken) {
      ASSERT_LE(entry.not_before, now);
      for (const auto& [id, lane] : in_flight) {
        ASSERT_NE(lane, entry.lane) << "two entries of one lane in flight, step " << step;
      }
      const auto last = last_take.find(entry.lane);
      if (last != last_take.end()) {
        const auto interval = entry.instance == "slack"   ? 700ms
                              : entry.instance == "teams" ? 250ms
                                                          : 1000ms;
        ASSERT_GE(now - last->second, interval) << "lane " << entry.lane << ", step " << step;
      }
      last_take[entry.lane] = now;
      in_flight.emplace(entry.id, entry.lane);
      ++handed_out;
    }
    now += std::chrono::milliseconds(pick(200));
  }
  EXPECT_GT(handed_out, 1000);
}

TEST(OutboxStatsTest, CountsEveryWayAnEntryEnds) {
  OutboxSettings settings = test_settings();
  settings.max_attempts = 2;
  OutboxScheduler outbox(settings);
  outbox.set_limits("slack", kUnpaced);
  outbox.set_limits("teams", kUnpaced);
  outbox.add(make_entry(1, "slack/C1", "slack"));
  outbox.add(make_entry(2, "slack/C2", "slack"));
  outbox.add(make_entry(3, "teams/T1", "teams", "card:1"));
  outbox.add(make_entry(4, "teams/T1", "teams", "card:1"));  // supersedes 3
  outbox.add(make_entry(5, "teams/T2", "teams"));
  EXPECT_EQ(outbox.stats(), (OutboxStats{4, 0, 0, 0, 0, 1}));
  EXPECT_EQ(outbox.depth("slack"), 2U);
  EXPECT_EQ(outbox.depth("teams"), 2U);
  EXPECT_EQ(outbox.depth("local"), 0U);

  EXPECT_EQ(ids_of(outbox.take_due(kStart, 3)), (Ids{1, 2, 4}));
  EXPECT_EQ(outbox.stats(), (OutboxStats{1, 3, 0, 0, 0, 1}));
  EXPECT_EQ(outbox.depth("slack"), 2U);  // in flight still counts

  outbox.complete(1, ok(), kStart);
  outbox.complete(2, retryable(1s), kStart);
  outbox.complete(4, permanent(), kStart);
  EXPECT_EQ(outbox.stats(), (OutboxStats{2, 0, 1, 1, 1, 1}));
  EXPECT_EQ(outbox.depth("slack"), 1U);
  EXPECT_EQ(outbox.depth("teams"), 1U);

  EXPECT_EQ(ids_of(outbox.take_due(kStart + 1s, 10)), (Ids{2, 5}));
  outbox.complete(2, retryable(), kStart + 1s);  // second attempt: max reached
  outbox.complete(5, ok(), kStart + 1s);
  EXPECT_EQ(outbox.stats(), (OutboxStats{0, 0, 2, 2, 2, 1}));
  EXPECT_EQ(outbox.depth("slack"), 0U);
  EXPECT_EQ(outbox.depth("teams"), 0U);
}

TEST(OutboxStatsTest, CountsPerInstanceAndKeepsThemWhenReplacedAfterAReload) {
  OutboxSettings settings = test_settings();
  settings.max_attempts = 2;
  OutboxScheduler outbox(settings);
  outbox.set_limits("slack", kUnpaced);
  outbox.set_limits("teams", kUnpaced);
  outbox.add(make_entry(1, "slack/C1", "slack"));
  outbox.add(make_entry(2, "slack/C2", "slack"));
  outbox.add(make_entry(3, "teams/T1", "teams", "card:1"));
  outbox.add(make_entry(4, "teams/T1", "teams", "card:1"));  // supersedes 3
  EXPECT_EQ(ids_of(outbox.take_due(kStart, 10)), (Ids{1, 2, 4}));
  outbox.complete(1, ok(), kStart);
  outbox.complete(2, retryable(1s), kStart);
  outbox.complete(4, permanent(), kStart);
  using Stats = std::map<std::string, InstanceOutboxStats>;
  EXPECT_EQ(outbox.instance_stats(), (Stats{{"slack", {1, 1, 0, 1}}, {"teams", {0, 0, 1, 0}}}));

  // The engine replaces its scheduler after a lost batch: the counters carry over,
  // the depth is what the new one holds.
  OutboxScheduler reloaded(settings);
  reloaded.keep_counters_of(outbox);
  EXPECT_EQ(reloaded.instance_stats(), (Stats{{"slack", {0, 1, 0, 1}}, {"teams", {0, 0, 1, 0}}}));
  EXPECT_EQ(reloaded.stats(), (OutboxStats{0, 0, 1, 1, 1, 1}));
  reloaded.set_limits("slack", kUnpaced);
  OutboxEntry retried = make_entry(2, "slack/C2", "slack");
  retried.attempts = 1;  // as the store kept it
  reloaded.add(retried);
  reloaded.add(make_entry(9, "local/general", "local"));
  ASSERT_EQ(ids_of(reloaded.take_due(kStart + 1s, 1)), (Ids{2}));
  reloaded.complete(2, retryable(), kStart + 1s);  // second attempt: given up
  EXPECT_EQ(reloaded.instance_stats(),
            (Stats{{"local", {1, 0, 0, 0}}, {"slack", {0, 2, 1, 1}}, {"teams", {0, 0, 1, 0}}}));
}

TEST(OutboxScale, DrainsThousandsOfEntriesInLaneOrder) {
  OutboxScheduler outbox(test_settings());
  outbox.set_limits("slack", InstanceLimits{0ms, 1e6, 1'000'000});
  constexpr std::int64_t kEntries = 5000;
  constexpr int kLanes = 100;
  for (std::int64_t id = 1; id <= kEntries; ++id) {
    outbox.add(make_entry(id, "slack/C" + std::to_string(id % kLanes)));
  }
  std::map<std::string, std::int64_t> last_id;
  std::int64_t drained = 0;
  for (int round = 0; round < 1000 && drained < kEntries; ++round) {
    const auto taken = outbox.take_due(kStart, 1000);
    ASSERT_FALSE(taken.empty());
    for (const OutboxEntry& entry : taken) {
      ASSERT_GT(entry.id, last_id[entry.lane]);
      last_id[entry.lane] = entry.id;
      outbox.complete(entry.id, ok(), kStart);
      ++drained;
    }
  }
  EXPECT_EQ(drained, kEntries);
  EXPECT_EQ(outbox.stats().done, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(outbox.next_due(kStart), std::nullopt);
}

}  // namespace
}  // namespace haveri::core
