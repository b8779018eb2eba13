#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/ids.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

TimePoint at(std::chrono::year_month_day day, std::chrono::milliseconds time_of_day) {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::sys_days{day} +
                                                                 time_of_day);
}

TEST(FormatTime, WritesRfc3339UtcWithMilliseconds) {
  const TimePoint t = at(std::chrono::year{2026} / 11 / 24, 2h + 43min + 50s + 123ms);
  EXPECT_EQ(format_time(t), "2026-11-24T02:43:50.123Z");
}

TEST(FormatTime, EpochAndWholeSecondsKeepTheMillisecondPart) {
  EXPECT_EQ(format_time(TimePoint{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(TimePoint{5ms}), "1970-01-01T00:00:00.005Z");
}

TEST(FormatTime, InstantsBeforeTheEpochAreNotOffByOneSecond) {
  EXPECT_EQ(format_time(TimePoint{-1ms}), "1969-12-31T23:59:59.999Z");
}

TEST(ParseTime, RoundTripsWhatFormatTimeWrites) {
  const std::vector<TimePoint> instants = {
      TimePoint{},
      TimePoint{-1ms},
      TimePoint{1ms},
      at(std::chrono::year{2026} / 11 / 24, 2h + 43min + 50s + 123ms),
      at(std::chrono::year{2024} / 2 / 29, 23h + 59min + 59s + 999ms),
      at(std::chrono::year{2000} / 1 / 1, 0ms),
      at(std::chrono::year{9999} / 12 / 31, 23h + 59min + 59s + 999ms),
  };
  for (const TimePoint t : instants) {
    TimePoint parsed{};
    ASSERT_TRUE(parse_time(format_time(t), parsed)) << format_time(t);
    EXPECT_EQ(parsed, t) << format_time(t);
  }
}

TEST(ParseTime, ReadsAKnownInstant) {
  TimePoint parsed{};
  ASSERT_TRUE(parse_time("2026-11-24T02:43:50.123Z", parsed));
  EXPECT_EQ(parsed, at(std::chrono::year{2026} / 11 / 24, 2h + 43min + 50s + 123ms));
}

TEST(ParseTime, RejectsEverythingElseAndLeavesTheOutputAlone) {
  const std::vector<std::string> garbage = {
      "",
      "now",
      "2026-11-24",
      "2026-11-24T02:43:50Z",           // no milliseconds
      "2026-11-24T02:43:50.12Z",        // two digits
      "2026-11-24T02:43:50.1234Z",      // four digits
      "2026-11-24T02:43:50.123",        // no zone
      "2026-11-24T02:43:50.123+00:00",  // offset instead of Z
      "2026-11-24T02:43:50.123z",       // lower-case z
      "2026-11-24t02:43:50.123Z",       // lower-case t
      "2026-11-24 02:43:50.123Z",       // space separator
      " 2026-11-24T02:43:50.123Z",      // leading space
      "2026-11-24T02:43:50.123Z ",      // trailing space
      "2026-13-24T02:43:50.123Z",       // month 13
      "2026-00-24T02:43:50.123Z",       // month 0
      "2026-11-00T02:43:50.123Z",       // day 0
      "2026-11-31T02:43:50.123Z",       // November has 30 days
      "2026-02-30T02:43:50.123Z",       // Feb 30
      "2025-02-29T02:43:50.123Z",       // not a leap year
      "2026-11-24T24:00:00.000Z",       // hour 24
      "2026-11-24T02:60:50.123Z",       // minute 60
      "2026-11-24T02:43:60.123Z",       // second 60
      "2026-11-24T02:43:5a.123Z",       // letter
      "+026-11-24T02:43:50.123Z",       // sign
      "2026-1-24T02:43:50.123Z0",       // shifted fields, right length
      std::string("2026-11-24T02:43:50.123Z\0", 25),
  };
  const TimePoint sentinel{42ms};
  for (const std::string& text : garbage) {
    TimePoint parsed = sentinel;
    EXPECT_FALSE(parse_time(text, parsed)) << '"' << text << '"';
    EXPECT_EQ(parsed, sentinel) << '"' << text << '"';
  }
}

TEST(ParseTime, AcceptsALeapDay) {
  TimePoint parsed{};
  EXPECT_TRUE(parse_time("2024-02-29T12:00:00.000Z", parsed));
  EXPECT_TRUE(parse_time("2000-02-29T12:00:00.000Z", parsed));
  EXPECT_FALSE(parse_time("1900-02-29T12:00:00.000Z", parsed));
}

TEST(ParseTime, RejectsANonDigitInEveryDigitPosition) {
  const std::string valid = "2026-11-24T02:43:50.123Z";
  for (const std::size_t pos :
       {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U, 11U, 12U, 14U, 15U, 17U, 18U, 20U, 21U, 22U}) {
    for (const char bad : {'a', ' ', '/', ':', '\xC3'}) {
      std::string text = valid;
      text[pos] = bad;
      TimePoint parsed{};
      EXPECT_FALSE(parse_time(text, parsed)) << text;
    }
  }
}

TEST(ParseTime, RejectsHugeInputQuickly) {
  TimePoint parsed{};
  EXPECT_FALSE(parse_time(std::string(10'000'000, '2'), parsed));
  EXPECT_FALSE(parse_time("2026-11-24T02:43:50.123Z" + std::string(1000, ' '), parsed));
}

TEST(FormatTime, FollowUpDueDatesUpToTheYear2200RoundTrip) {
  for (const TimePoint t : {at(std::chrono::year{2200} / 12 / 31, 23h + 59min),
                            at(std::chrono::year{2100} / 2 / 28, 9h)}) {
    TimePoint parsed{};
    ASSERT_TRUE(parse_time(format_time(t), parsed)) << format_time(t);
    EXPECT_EQ(parsed, t);
  }
  EXPECT_EQ(format_time(at(std::chrono::year{2200} / 12 / 31, 9h)), "2200-12-31T09:00:00.000Z");
}

TEST(Actor, SystemActorIsNamedHaveri) {
  EXPECT_EQ(Actor::system().id, "system");
  EXPECT_EQ(Actor::system().display_name, "Haveri");
  EXPECT_EQ(Actor::system().member, "");
}

TEST(Actor, EqualityIncludesTheMember) {
  EXPECT_EQ((Actor{"U1", "Ana"}), (Actor{"U1", "Ana", ""}));
  EXPECT_NE((Actor{"U1", "Ana", "ana"}), (Actor{"U1", "Ana"}));
  EXPECT_NE((Actor{"U1", "Ana"}), (Actor{"U1", "Anna"}));
}

TEST(ChannelRef, EqualityComparesEveryPart) {
  const ChannelRef general{"local", "C1", "general"};
  EXPECT_EQ(general, (ChannelRef{"local", "C1", "general"}));
  EXPECT_NE(general, (ChannelRef{"slack", "C1", "general"}));
  EXPECT_NE(general, (ChannelRef{"local", "C2", "general"}));
  EXPECT_NE(general, (ChannelRef{"local", "C1", "random"}));
}

}  // namespace
}  // namespace haveri::core
