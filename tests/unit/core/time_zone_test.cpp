#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {
namespace {

namespace chrono = std::chrono;
namespace fs = std::filesystem;
using core::ErrorCode;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = LocalTimeResolution::Kind;

// ---------------------------------------------------------------------------
// Readable values: instants as ISO 8601 UTC, local times without a zone, offsets
// as "+03:00 EEST dst", resolutions as "ambiguous <earliest> <latest>".

chrono::sys_seconds utc(int year, unsigned month, unsigned day, int hour = 0, int minute = 0,
                        int second = 0) {
  return chrono::sys_days{chrono::year{year} / chrono::month{month} / chrono::day{day}} +
         chrono::hours{hour} + chrono::minutes{minute} + chrono::seconds{second};
}

chrono::local_seconds local(int year, unsigned month, unsigned day, int hour = 0, int minute = 0,
                            int second = 0) {
  return chrono::local_days{chrono::year{year} / chrono::month{month} / chrono::day{day}} +
         chrono::hours{hour} + chrono::minutes{minute} + chrono::seconds{second};
}

std::string calendar_text(chrono::seconds since_epoch) {
  const chrono::sys_seconds instant{since_epoch};
  const auto day = chrono::floor<chrono::days>(instant);
  const chrono::year_month_day date{day};
  const chrono::hh_mm_ss clock_time{instant - day};
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(clock_time.hours().count()),
                static_cast<int>(clock_time.minutes().count()),
                static_cast<int>(clock_time.seconds().count()));
  return text.data();
}

std::string iso(chrono::sys_seconds instant) {
  return calendar_text(instant.time_since_epoch()) + "Z";
}

std::string iso(chrono::local_seconds wall) {
  return calendar_text(wall.time_since_epoch());
}

std::string text_of(const ZoneOffset& offset) {
  const auto seconds = offset.utc_offset.count();
  const auto magnitude = seconds < 0 ? -seconds : seconds;
  std::array<char, 32> clock{};
  if (magnitude % 60 == 0) {
    std::snprintf(clock.data(), clock.size(), "%c%02lld:%02lld", seconds < 0 ? '-' : '+',
                  static_cast<long long>(magnitude / 3600),
                  static_cast<long long>(magnitude / 60 % 60));
  } else {
    std::snprintf(clock.data(), clock.size(), "%c%02lld:%02lld:%02lld", seconds < 0 ? '-' : '+',
                  static_cast<long long>(magnitude / 3600),
                  static_cast<long long>(magnitude / 60 % 60),
                  static_cast<long long>(magnitude % 60));
  }
  return std::string(clock.data()) + " " + offset.abbreviation + (offset.is_dst ? " dst" : "");
}

std::string text_of(const LocalTimeResolution& resolution) {
  switch (resolution.kind) {
    case Kind::unique:
      return "unique " + iso(resolution.earliest) +
             (resolution.latest == resolution.earliest
                  ? ""
                  : " (latest " + iso(resolution.latest) + "!)");
    case Kind::ambiguous:
      return "ambiguous " + iso(resolution.earliest) + " " + iso(resolution.latest);
    case Kind::nonexistent:
      return "nonexistent " + iso(resolution.earliest) +
             (resolution.latest == resolution.earliest
                  ? ""
                  : " (latest " + iso(resolution.latest) + "!)");
  }
  return "?";
}

std::string offset_at(const TimeZone& zone, chrono::sys_seconds instant) {
  return text_of(zone.offset_at(instant));
}

std::string from_local(const TimeZone& zone, chrono::local_seconds wall) {
  return text_of(zone.from_local(wall));
}

std::string next_transition(const TimeZone& zone, chrono::sys_seconds instant) {
  const std::optional<chrono::sys_seconds> next = zone.next_transition(instant);
  return next ? iso(*next) : "none";
}

// The system's tz database (tzdata 2025b on the build machine).
std::shared_ptr<const TimeZone> system_zone(std::string_view name) {
  static TimeZoneDatabase database;
  core::Result<std::shared_ptr<const TimeZone>> zone = database.get(name);
  if (!zone) {
    ADD_FAILURE() << zone.error().message;
    return nullptr;
  }
  return *zone;
}

// ---------------------------------------------------------------------------
// Zones of the system database, at their 2026 changes. Expected values are from
// zdump -v (tzcode), written out by hand.

TEST(TimeZoneTest, HelsinkiSpringForwardSkipsAnHour) {
  const auto zone = system_zone("Europe/Helsinki");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(zone->name(), "Europe/Helsinki");
  EXPECT_EQ(offset_at(*zone, utc(2026, 3, 29, 0, 59, 59)), "+02:00 EET");
  EXPECT_EQ(offset_at(*zone, utc(2026, 3, 29, 1)), "+03:00 EEST dst");
  EXPECT_EQ(iso(zone->to_local(utc(2026, 3, 29, 0, 59, 59))), "2026-03-29T02:59:59");
  EXPECT_EQ(iso(zone->to_local(utc(2026, 3, 29, 1))), "2026-03-29T04:00:00");

  EXPECT_EQ(from_local(*zone, local(2026, 3, 29, 2, 59, 59)), "unique 2026-03-29T00:59:59Z");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 29, 3)), "nonexistent 2026-03-29T01:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 29, 3, 30)), "nonexistent 2026-03-29T01:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 29, 3, 59, 59)), "nonexistent 2026-03-29T01:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 29, 4)), "unique 2026-03-29T01:00:00Z");

  EXPECT_EQ(next_transition(*zone, utc(2026, 1, 1)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 3, 29, 0, 59, 59)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 3, 29, 1)), "2026-10-25T01:00:00Z");
}

TEST(TimeZoneTest, HelsinkiFallBackRepeatsAnHour) {
  const auto zone = system_zone("Europe/Helsinki");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2026, 10, 25, 0, 59, 59)), "+03:00 EEST dst");
  EXPECT_EQ(offset_at(*zone, utc(2026, 10, 25, 1)), "+02:00 EET");
  EXPECT_EQ(iso(zone->to_local(utc(2026, 10, 25, 0, 59, 59))), "2026-10-25T03:59:59");
  EXPECT_EQ(iso(zone->to_local(utc(2026, 10, 25, 1))), "2026-10-25T03:00:00");

  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 2, 59, 59)), "unique 2026-10-24T23:59:59Z");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 3)),
            "ambiguous 2026-10-25T00:00:00Z 2026-10-25T01:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 3, 30)),
            "ambiguous 2026-10-25T00:30:00Z 2026-10-25T01:30:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 3, 59, 59)),
            "ambiguous 2026-10-25T00:59:59Z 2026-10-25T01:59:59Z");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 4)), "unique 2026-10-25T02:00:00Z");

  const LocalTimeResolution resolution = zone->from_local(local(2026, 10, 25, 3, 30));
  EXPECT_EQ(resolution.kind, Kind::ambiguous);
  EXPECT_EQ(resolution.earliest, utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(resolution.latest, utc(2026, 10, 25, 1, 30));
  EXPECT_EQ(next_transition(*zone, utc(2026, 10, 25, 1)), "2027-03-28T01:00:00Z");
}

TEST(TimeZoneTest, ChicagoChangesOnTheSecondSundayOfMarchAndFirstOfNovember) {
  const auto zone = system_zone("America/Chicago");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2026, 3, 8, 7, 59, 59)), "-06:00 CST");
  EXPECT_EQ(offset_at(*zone, utc(2026, 3, 8, 8)), "-05:00 CDT dst");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 8, 2, 30)), "nonexistent 2026-03-08T08:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 3, 8, 3)), "unique 2026-03-08T08:00:00Z");

  EXPECT_EQ(offset_at(*zone, utc(2026, 11, 1, 6, 59, 59)), "-05:00 CDT dst");
  EXPECT_EQ(offset_at(*zone, utc(2026, 11, 1, 7)), "-06:00 CST");
  EXPECT_EQ(from_local(*zone, local(2026, 11, 1, 1, 30)),
            "ambiguous 2026-11-01T06:30:00Z 2026-11-01T07:30:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 11, 1, 2)), "unique 2026-11-01T08:00:00Z");

  EXPECT_EQ(next_transition(*zone, utc(2026, 1, 1)), "2026-03-08T08:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 3, 8, 8)), "2026-11-01T07:00:00Z");
}

TEST(TimeZoneTest, SaoPauloHasHadNoDstSince2019) {
  const auto zone = system_zone("America/Sao_Paulo");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2018, 12, 1)), "-02:00 -02 dst");
  EXPECT_EQ(next_transition(*zone, utc(2018, 12, 1)), "2019-02-17T02:00:00Z");
  EXPECT_EQ(offset_at(*zone, utc(2026, 1, 15)), "-03:00 -03");
  EXPECT_EQ(offset_at(*zone, utc(2026, 7, 15)), "-03:00 -03");
  EXPECT_EQ(offset_at(*zone, utc(2400, 1, 15)), "-03:00 -03");
  EXPECT_EQ(next_transition(*zone, utc(2019, 2, 17, 2)), "none");
  EXPECT_EQ(from_local(*zone, local(2026, 11, 1, 0, 30)), "unique 2026-11-01T03:30:00Z");
}

TEST(TimeZoneTest, SydneyIsInDstAcrossTheNewYear) {
  const auto zone = system_zone("Australia/Sydney");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2026, 1, 15)), "+11:00 AEDT dst");
  EXPECT_EQ(offset_at(*zone, utc(2026, 7, 15)), "+10:00 AEST");
  EXPECT_EQ(offset_at(*zone, utc(2026, 4, 4, 15, 59, 59)), "+11:00 AEDT dst");
  EXPECT_EQ(offset_at(*zone, utc(2026, 4, 4, 16)), "+10:00 AEST");
  EXPECT_EQ(from_local(*zone, local(2026, 4, 5, 2, 30)),
            "ambiguous 2026-04-04T15:30:00Z 2026-04-04T16:30:00Z");
  EXPECT_EQ(offset_at(*zone, utc(2026, 10, 3, 16)), "+11:00 AEDT dst");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 4, 2, 30)), "nonexistent 2026-10-03T16:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 1, 1)), "2026-04-04T16:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 4, 4, 16)), "2026-10-03T16:00:00Z");
}

TEST(TimeZoneTest, LordHoweMovesItsClocksByHalfAnHour) {
  const auto zone = system_zone("Australia/Lord_Howe");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2026, 4, 4, 14, 59, 59)), "+11:00 +11 dst");
  EXPECT_EQ(offset_at(*zone, utc(2026, 4, 4, 15)), "+10:30 +1030");
  EXPECT_EQ(from_local(*zone, local(2026, 4, 5, 1, 45)),
            "ambiguous 2026-04-04T14:45:00Z 2026-04-04T15:15:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 4, 5, 2)), "unique 2026-04-04T15:30:00Z");
  EXPECT_EQ(offset_at(*zone, utc(2026, 10, 3, 15, 30)), "+11:00 +11 dst");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 4, 2, 15)), "nonexistent 2026-10-03T15:30:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2026, 4, 4, 15)), "2026-10-03T15:30:00Z");
}

TEST(TimeZoneTest, DublinKeepsIrishStandardTimeInSummer) {
  // The compiled data has negative DST: IST (+01:00) is standard time and GMT in
  // winter is flagged DST. Only the offsets are what a user sees.
  const auto zone = system_zone("Europe/Dublin");
  ASSERT_NE(zone, nullptr);
  for (const int year : {2026, 2100, 2400}) {
    SCOPED_TRACE(year);
    EXPECT_EQ(zone->offset_at(utc(year, 1, 15)).utc_offset, chrono::hours{0});
    EXPECT_EQ(zone->offset_at(utc(year, 7, 15)).utc_offset, chrono::hours{1});
  }
  EXPECT_EQ(zone->offset_at(utc(2026, 3, 29, 0, 59, 59)).utc_offset, chrono::hours{0});
  EXPECT_EQ(zone->offset_at(utc(2026, 3, 29, 1)).utc_offset, chrono::hours{1});
  EXPECT_EQ(zone->offset_at(utc(2026, 10, 25, 0, 59, 59)).utc_offset, chrono::hours{1});
  EXPECT_EQ(zone->offset_at(utc(2026, 10, 25, 1)).utc_offset, chrono::hours{0});
  EXPECT_EQ(next_transition(*zone, utc(2026, 1, 1)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2100, 4, 1)), "2100-10-31T01:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2026, 10, 25, 1, 30)),
            "ambiguous 2026-10-25T00:30:00Z 2026-10-25T01:30:00Z");
}

TEST(TimeZoneTest, KolkataIsFiveAndAHalfHoursAheadAllYear) {
  const auto zone = system_zone("Asia/Kolkata");
  ASSERT_NE(zone, nullptr);
  for (const int year : {1990, 2026, 2100}) {
    SCOPED_TRACE(year);
    EXPECT_EQ(offset_at(*zone, utc(year, 1, 15)), "+05:30 IST");
    EXPECT_EQ(offset_at(*zone, utc(year, 7, 15)), "+05:30 IST");
  }
  EXPECT_EQ(iso(zone->to_local(utc(2026, 6, 1, 20))), "2026-06-02T01:30:00");
  EXPECT_EQ(from_local(*zone, local(2026, 6, 2, 1, 30)), "unique 2026-06-01T20:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2000, 1, 1)), "none");
}

TEST(TimeZoneTest, ApiaSkippedThe30thOfDecember2011) {
  const auto zone = system_zone("Pacific/Apia");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(2011, 12, 30, 9, 59, 59)), "-10:00 -10 dst");
  EXPECT_EQ(offset_at(*zone, utc(2011, 12, 30, 10)), "+14:00 +14 dst");
  EXPECT_EQ(iso(zone->to_local(utc(2011, 12, 30, 9, 59, 59))), "2011-12-29T23:59:59");
  EXPECT_EQ(iso(zone->to_local(utc(2011, 12, 30, 10))), "2011-12-31T00:00:00");
  EXPECT_EQ(from_local(*zone, local(2011, 12, 30, 12)), "nonexistent 2011-12-30T10:00:00Z");
  EXPECT_EQ(from_local(*zone, local(2011, 12, 31, 0)), "unique 2011-12-30T10:00:00Z");
  // Samoa dropped DST in 2021.
  EXPECT_EQ(next_transition(*zone, utc(2021, 1, 1)), "2021-04-03T14:00:00Z");
  EXPECT_EQ(next_transition(*zone, utc(2021, 4, 3, 14)), "none");
  EXPECT_EQ(offset_at(*zone, utc(2026, 7, 15)), "+13:00 +13");
  EXPECT_EQ(offset_at(*zone, utc(2026, 12, 15)), "+13:00 +13");
}

TEST(TimeZoneTest, UtcFromTheDatabaseAndBuiltIn) {
  const auto file = system_zone("UTC");
  ASSERT_NE(file, nullptr);
  const TimeZone built_in = TimeZone::utc();
  EXPECT_EQ(built_in.name(), "UTC");
  const TimeZone default_constructed;
  EXPECT_EQ(default_constructed.name(), "");
  for (const TimeZone* zone : {file.get(), &built_in, &default_constructed}) {
    EXPECT_EQ(offset_at(*zone, utc(2026, 7, 1)), "+00:00 UTC");
    EXPECT_EQ(offset_at(*zone, utc(1800, 1, 1)), "+00:00 UTC");
    EXPECT_EQ(iso(zone->to_local(utc(2026, 7, 1, 12))), "2026-07-01T12:00:00");
    EXPECT_EQ(from_local(*zone, local(2026, 7, 1, 12)), "unique 2026-07-01T12:00:00Z");
    EXPECT_EQ(next_transition(*zone, utc(2026, 1, 1)), "none");
  }
}

TEST(TimeZoneTest, FarFutureFollowsTheFooterRule) {
  const auto helsinki = system_zone("Europe/Helsinki");
  ASSERT_NE(helsinki, nullptr);
  EXPECT_EQ(offset_at(*helsinki, utc(2100, 1, 15)), "+02:00 EET");
  EXPECT_EQ(offset_at(*helsinki, utc(2100, 7, 15)), "+03:00 EEST dst");
  EXPECT_EQ(next_transition(*helsinki, utc(2100, 1, 1)), "2100-03-28T01:00:00Z");
  EXPECT_EQ(next_transition(*helsinki, utc(2100, 3, 28, 1)), "2100-10-31T01:00:00Z");
  EXPECT_EQ(offset_at(*helsinki, utc(2400, 3, 26, 0, 59, 59)), "+02:00 EET");
  EXPECT_EQ(offset_at(*helsinki, utc(2400, 3, 26, 1)), "+03:00 EEST dst");
  EXPECT_EQ(next_transition(*helsinki, utc(2400, 3, 26, 1)), "2400-10-29T01:00:00Z");
  EXPECT_EQ(from_local(*helsinki, local(2400, 10, 29, 3, 30)),
            "ambiguous 2400-10-29T00:30:00Z 2400-10-29T01:30:00Z");
  // The rule repeats every 400 years, far beyond what the transitions list.
  EXPECT_EQ(next_transition(*helsinki, utc(6026, 1, 1)), "6026-03-29T01:00:00Z");

  const auto chicago = system_zone("America/Chicago");
  ASSERT_NE(chicago, nullptr);
  EXPECT_EQ(offset_at(*chicago, utc(2100, 1, 15)), "-06:00 CST");
  EXPECT_EQ(offset_at(*chicago, utc(2100, 7, 15)), "-05:00 CDT dst");
  EXPECT_EQ(offset_at(*chicago, utc(2400, 7, 15)), "-05:00 CDT dst");

  const auto sydney = system_zone("Australia/Sydney");
  ASSERT_NE(sydney, nullptr);
  EXPECT_EQ(offset_at(*sydney, utc(2400, 1, 15)), "+11:00 AEDT dst");
  EXPECT_EQ(offset_at(*sydney, utc(2400, 7, 15)), "+10:00 AEST");
}

TEST(TimeZoneTest, BeforeTheFirstTransitionIsLocalMeanTime) {
  const auto zone = system_zone("Europe/Helsinki");
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(offset_at(*zone, utc(1800, 1, 1)), "+01:39:49 LMT");
  EXPECT_EQ(iso(zone->to_local(utc(1800, 1, 1))), "1800-01-01T01:39:49");
  EXPECT_EQ(from_local(*zone, local(1800, 1, 1, 1, 39, 49)), "unique 1800-01-01T00:00:00Z");
  // The abbreviation changed in 1878 without the clocks moving.
  EXPECT_EQ(next_transition(*zone, utc(1800, 1, 1)), "1878-05-30T22:20:11Z");
  EXPECT_EQ(offset_at(*zone, utc(1900, 1, 1)), "+01:39:49 HMT");
}

TEST(TimeZoneTest, ExtremeInstantsNeitherOverflowNorCrash) {
  const auto zone = system_zone("Europe/Helsinki");
  ASSERT_NE(zone, nullptr);
  const chrono::sys_seconds lowest = chrono::sys_seconds::min();
  const chrono::sys_seconds highest = chrono::sys_seconds::max();
  EXPECT_EQ(offset_at(*zone, lowest), "+01:39:49 LMT");
  EXPECT_EQ(zone->to_local(highest), chrono::local_seconds::max());
  EXPECT_EQ(zone->to_local(lowest).time_since_epoch(),
            lowest.time_since_epoch() + chrono::seconds{5989});
  EXPECT_FALSE(zone->offset_at(highest).abbreviation.empty());
  EXPECT_EQ(next_transition(*zone, highest), "none");
  (void)zone->from_local(chrono::local_seconds::max());
  (void)zone->from_local(chrono::local_seconds::min());
  (void)zone->next_transition(highest - chrono::hours{24 * 365});
}

// ---------------------------------------------------------------------------
// Synthetic TZif files, built byte by byte.

struct TzifType {
  std::int32_t utc_offset = 0;
  std::uint8_t is_dst = 0;
  std::uint8_t abbreviation_index = 0;
};

struct TzifData {
  std::vector<std::int64_t> transitions;
  std::vector<std::uint8_t> type_indexes;
  std::vector<TzifType> types;
  std::string abbreviations;  // NUL-terminated strings, back to back
  std::vector<std::pair<std::int64_t, std::int32_t>> leap_seconds;
  bool indicators = false;  // one standard/wall and one UT/local indicator per type
};

void append_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xffU);
  }
}

void append_i64(std::string& out, std::int64_t value) {
  const auto bits = static_cast<std::uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out += static_cast<char>((bits >> static_cast<unsigned>(shift)) & 0xffU);
  }
}

void append_header(std::string& out, char version, const TzifData& data) {
  out += "TZif";
  out += version;
  out.append(15, '\0');
  const auto indicator_count = static_cast<std::uint32_t>(data.indicators ? data.types.size() : 0);
  append_u32(out, indicator_count);
  append_u32(out, indicator_count);
  append_u32(out, static_cast<std::uint32_t>(data.leap_seconds.size()));
  append_u32(out, static_cast<std::uint32_t>(data.transitions.size()));
  append_u32(out, static_cast<std::uint32_t>(data.types.size()));
  append_u32(out, static_cast<std::uint32_t>(data.abbreviations.size()));
}

void append_block(std::string& out, const TzifData& data, bool wide) {
  const auto append_time = [&out, wide](std::int64_t time) {
    if (wide) {
      append_i64(out, time);
    } else {
      append_u32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(time)));
    }
  };
  for (const std::int64_t transition : data.transitions) {
    append_time(transition);
  }
  for (const std::uint8_t index : data.type_indexes) {
    out += static_cast<char>(index);
  }
  for (const TzifType& type : data.types) {
    append_u32(out, static_cast<std::uint32_t>(type.utc_offset));
    out += static_cast<char>(type.is_dst);
    out += static_cast<char>(type.abbreviation_index);
  }
  out += data.abbreviations;
  for (const auto& [occurrence, correction] : data.leap_seconds) {
    append_time(occurrence);
    append_u32(out, static_cast<std::uint32_t>(correction));
  }
  if (data.indicators) {
    out.append(data.types.size(), '\0');
    out.append(data.types.size(), '\0');
  }
}

// A version 1 file when `version` is '\0'; otherwise a version 2+ file whose
// version 1 block holds `v1` and whose 64-bit block holds `data`.
std::string tzif(char version, const TzifData& data, std::string_view footer = "",
                 const std::optional<TzifData>& v1 = std::nullopt) {
  std::string out;
  const TzifData& first = v1 ? *v1 : data;
  append_header(out, version, first);
  append_block(out, first, false);
  if (version == '\0') {
    return out;
  }
  append_header(out, version, data);
  append_block(out, data, true);
  out += '\n';
  out += footer;
  out += '\n';
  return out;
}

constexpr std::int64_t kSpring2026 = 1774746000;  // 2026-03-29T01:00:00Z
constexpr std::int64_t kAutumn2026 = 1792890000;  // 2026-10-25T01:00:00Z

// Helsinki in 2026: EET, EEST from March 29, EET from October 25.
TzifData helsinki_2026() {
  TzifData data;
  data.transitions = {kSpring2026, kAutumn2026};
  data.type_indexes = {1, 0};
  data.types = {{7200, 0, 0}, {10800, 1, 4}};
  data.abbreviations = std::string("EET\0EEST\0", 9);
  return data;
}

// One local time type and no transitions, as zic writes "slim" files.
TzifData single_type(std::int32_t utc_offset, std::string_view abbreviation) {
  TzifData data;
  data.types = {{utc_offset, 0, 0}};
  data.abbreviations = std::string(abbreviation) + '\0';
  return data;
}

TimeZone parse_or_fail(std::string_view bytes, std::string name = "Test/Zone") {
  core::Result<TimeZone> zone = TimeZone::from_tzif(std::move(name), bytes);
  if (!zone) {
    ADD_FAILURE() << zone.error().message;
    return TimeZone::utc();
  }
  return std::move(zone).value();
}

std::string parse_error(std::string_view bytes) {
  core::Result<TimeZone> zone = TimeZone::from_tzif("Test/Hostile", bytes);
  if (zone) {
    return "parsed";
  }
  EXPECT_EQ(zone.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(zone.error().message, HasSubstr("\"Test/Hostile\""));
  return zone.error().message;
}

TEST(TimeZoneTzifTest, VersionOneFileUsesItsThirtyTwoBitData) {
  const TimeZone zone = parse_or_fail(tzif('\0', helsinki_2026()));
  EXPECT_EQ(zone.name(), "Test/Zone");
  EXPECT_EQ(offset_at(zone, utc(2000, 1, 1)), "+02:00 EET");
  EXPECT_EQ(offset_at(zone, utc(2026, 7, 1)), "+03:00 EEST dst");
  // No footer: the last type stays in force, summer or not.
  EXPECT_EQ(offset_at(zone, utc(2027, 7, 1)), "+02:00 EET");
  EXPECT_EQ(from_local(zone, local(2026, 10, 25, 3, 30)),
            "ambiguous 2026-10-25T00:30:00Z 2026-10-25T01:30:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 1, 1)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 10, 25, 1)), "none");
}

TEST(TimeZoneTzifTest, VersionTwoAndLaterReadTheSixtyFourBitBlock) {
  // The version 1 block says something else entirely: readers must skip it.
  TzifData decoy = single_type(0, "XXX");
  decoy.leap_seconds = {{78796800, 1}};
  for (const char version : {'2', '3', '4'}) {
    SCOPED_TRACE(version);
    TzifData data = helsinki_2026();
    data.leap_seconds = {{78796800, 1}, {94694401, 2}};
    data.indicators = true;
    const TimeZone zone = parse_or_fail(tzif(version, data, "EET-2EEST,M3.5.0/3,M10.5.0/4", decoy));
    EXPECT_EQ(offset_at(zone, utc(2026, 7, 1)), "+03:00 EEST dst");
    EXPECT_EQ(offset_at(zone, utc(2027, 7, 1)), "+03:00 EEST dst");
    EXPECT_EQ(next_transition(zone, utc(2026, 10, 25, 1)), "2027-03-28T01:00:00Z");
  }
}

TEST(TimeZoneTzifTest, BeforeTheFirstTransitionIsTypeZero) {
  // RFC 8536 section 3.2: type 0, even when it is a DST type.
  TzifData data = helsinki_2026();
  data.types = {{10800, 1, 4}, {7200, 0, 0}};
  data.type_indexes = {0, 1};
  const TimeZone zone = parse_or_fail(tzif('2', data, ""));
  EXPECT_EQ(offset_at(zone, utc(2000, 1, 1)), "+03:00 EEST dst");
  EXPECT_EQ(offset_at(zone, utc(2026, 7, 1)), "+03:00 EEST dst");
  EXPECT_EQ(offset_at(zone, utc(2027, 1, 1)), "+02:00 EET");
}

TEST(TimeZoneTzifTest, SlimFileWithOnlyAFooter) {
  const TimeZone zone =
      parse_or_fail(tzif('2', single_type(7200, "EET"), "EET-2EEST,M3.5.0/3,M10.5.0/4"));
  EXPECT_EQ(offset_at(zone, utc(2026, 1, 15)), "+02:00 EET");
  EXPECT_EQ(offset_at(zone, utc(2026, 7, 15)), "+03:00 EEST dst");
  EXPECT_EQ(next_transition(zone, utc(2026, 1, 1)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 3, 29, 1)), "2026-10-25T01:00:00Z");
  EXPECT_EQ(from_local(zone, local(2026, 3, 29, 3, 30)), "nonexistent 2026-03-29T01:00:00Z");
  EXPECT_EQ(from_local(zone, local(2026, 10, 25, 3, 30)),
            "ambiguous 2026-10-25T00:30:00Z 2026-10-25T01:30:00Z");
  // With no transitions the footer decides in the past too.
  EXPECT_EQ(offset_at(zone, utc(1900, 7, 15)), "+03:00 EEST dst");
}

TEST(TimeZoneTzifTest, FootersWithoutDst) {
  const TimeZone india = parse_or_fail(tzif('2', single_type(19800, "+0530"), "<+0530>-5:30"));
  EXPECT_EQ(offset_at(india, utc(2026, 7, 1)), "+05:30 +0530");
  EXPECT_EQ(next_transition(india, utc(2026, 7, 1)), "none");

  const TimeZone utc_zone = parse_or_fail(tzif('2', single_type(0, "UTC"), "UTC0"));
  EXPECT_EQ(offset_at(utc_zone, utc(2026, 7, 1)), "+00:00 UTC");

  const TimeZone seconds = parse_or_fail(tzif('2', single_type(0, "UTC"), "<-013015>1:30:15"));
  EXPECT_EQ(offset_at(seconds, utc(2026, 7, 1)), "-01:30:15 -013015");

  // An empty footer: the last type stays in force.
  const TimeZone empty = parse_or_fail(tzif('2', helsinki_2026(), ""));
  EXPECT_EQ(offset_at(empty, utc(2030, 7, 1)), "+02:00 EET");
}

TEST(TimeZoneTzifTest, FooterDstDefaultsToOneHourAndUsRules) {
  const TimeZone zone = parse_or_fail(tzif('2', single_type(-18000, "EST"), "EST5EDT"));
  EXPECT_EQ(offset_at(zone, utc(2026, 1, 15)), "-05:00 EST");
  EXPECT_EQ(offset_at(zone, utc(2026, 7, 15)), "-04:00 EDT dst");
  EXPECT_EQ(next_transition(zone, utc(2026, 1, 1)), "2026-03-08T07:00:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 3, 8, 7)), "2026-11-01T06:00:00Z");
}

TEST(TimeZoneTzifTest, DstAllYear) {
  // RFC 8536's example: each year's DST ends exactly when the next year's begins.
  const TimeZone zone = parse_or_fail(tzif('3', single_type(-14400, "EDT"), "EST5EDT,0/0,J365/25"));
  for (const chrono::sys_seconds instant :
       {utc(2026, 1, 1), utc(2026, 1, 1, 5), utc(2026, 7, 1), utc(2026, 12, 31, 23, 59, 59),
        utc(2027, 1, 1, 5), utc(2024, 12, 31, 12), utc(2400, 1, 1, 5)}) {
    EXPECT_EQ(offset_at(zone, instant), "-04:00 EDT dst") << iso(instant);
  }
  EXPECT_EQ(next_transition(zone, utc(2026, 1, 1)), "none");
  EXPECT_EQ(from_local(zone, local(2026, 1, 1, 0, 30)), "unique 2026-01-01T04:30:00Z");
  EXPECT_EQ(from_local(zone, local(2026, 12, 31, 23, 30)), "unique 2027-01-01T03:30:00Z");
}

TEST(TimeZoneTzifTest, RuleTimesMayBeNegativeOrBeyondADay) {
  // America/Nuuk's rule: 22:00 the evening before in local standard time.
  const TimeZone nuuk =
      parse_or_fail(tzif('3', single_type(-7200, "-02"), "<-02>2<-01>,M3.5.0/-1,M10.5.0/0"));
  EXPECT_EQ(next_transition(nuuk, utc(2026, 1, 1)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_transition(nuuk, utc(2026, 3, 29, 1)), "2026-10-25T01:00:00Z");
  EXPECT_EQ(from_local(nuuk, local(2026, 3, 28, 23, 30)), "nonexistent 2026-03-29T01:00:00Z");

  // Asia/Jerusalem's: 26:00 on the fourth Thursday of March.
  const TimeZone jerusalem =
      parse_or_fail(tzif('3', single_type(7200, "IST"), "IST-2IDT,M3.4.4/26,M10.5.0"));
  EXPECT_EQ(next_transition(jerusalem, utc(2026, 1, 1)), "2026-03-27T00:00:00Z");
  EXPECT_EQ(next_transition(jerusalem, utc(2026, 3, 27)), "2026-10-24T23:00:00Z");

  // The limits of the extension, +-167 hours.
  const TimeZone extreme =
      parse_or_fail(tzif('3', single_type(3600, "AAA"), "AAA-1BBB,M3.1.0/167,M10.1.0/-167"));
  EXPECT_EQ(next_transition(extreme, utc(2026, 1, 1)), "2026-03-07T22:00:00Z");
  EXPECT_EQ(next_transition(extreme, utc(2026, 3, 7, 22)), "2026-09-26T23:00:00Z");
  EXPECT_EQ(offset_at(extreme, utc(2026, 3, 7, 21, 59, 59)), "+01:00 AAA");
  EXPECT_EQ(offset_at(extreme, utc(2026, 3, 7, 22)), "+02:00 BBB dst");
}

TEST(TimeZoneTzifTest, JulianDaysSkipFebruary29AndZeroBasedDaysCountIt) {
  const TimeZone julian = parse_or_fail(tzif('2', single_type(0, "AAA"), "AAA0BBB-1,J60/0,J300/0"));
  EXPECT_EQ(next_transition(julian, utc(2024, 1, 1)), "2024-03-01T00:00:00Z");
  EXPECT_EQ(next_transition(julian, utc(2024, 3, 1)), "2024-10-26T23:00:00Z");
  EXPECT_EQ(next_transition(julian, utc(2026, 1, 1)), "2026-03-01T00:00:00Z");
  EXPECT_EQ(next_transition(julian, utc(2026, 3, 1)), "2026-10-26T23:00:00Z");

  const TimeZone zero_based =
      parse_or_fail(tzif('2', single_type(0, "CCC"), "CCC0DDD-1,59/0,299/0"));
  EXPECT_EQ(next_transition(zero_based, utc(2024, 1, 1)), "2024-02-29T00:00:00Z");
  EXPECT_EQ(next_transition(zero_based, utc(2024, 2, 29)), "2024-10-25T23:00:00Z");
  EXPECT_EQ(next_transition(zero_based, utc(2026, 1, 1)), "2026-03-01T00:00:00Z");
  EXPECT_EQ(next_transition(zero_based, utc(2026, 3, 1)), "2026-10-26T23:00:00Z");
}

TEST(TimeZoneTzifTest, TransitionsHandOverToTheFooter) {
  // Transitions until October 2026, the rule after.
  const TimeZone zone = parse_or_fail(tzif('2', helsinki_2026(), "EET-2EEST,M3.5.0/3,M10.5.0/4"));
  EXPECT_EQ(next_transition(zone, utc(2026, 10, 25, 0, 59, 59)), "2026-10-25T01:00:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 10, 25, 1)), "2027-03-28T01:00:00Z");
  EXPECT_EQ(next_transition(zone, utc(2026, 7, 1)), "2026-10-25T01:00:00Z");
  EXPECT_EQ(from_local(zone, local(2027, 3, 28, 3, 30)), "nonexistent 2027-03-28T01:00:00Z");

  // A footer that disagrees with the last type takes over one second after it.
  const TimeZone odd = parse_or_fail(tzif('2', helsinki_2026(), "<+04>-4"));
  EXPECT_EQ(offset_at(odd, utc(2026, 10, 25, 1)), "+02:00 EET");
  EXPECT_EQ(offset_at(odd, utc(2026, 10, 25, 1, 0, 1)), "+04:00 +04");
  EXPECT_EQ(next_transition(odd, utc(2026, 7, 1)), "2026-10-25T01:00:00Z");
  EXPECT_EQ(next_transition(odd, utc(2026, 10, 25, 1)), "2026-10-25T01:00:01Z");
}

// A valid file that exercises every part: both blocks, leap seconds, indicators,
// a footer.
std::string complete_file() {
  TzifData data = helsinki_2026();
  data.leap_seconds = {{78796800, 1}, {94694401, 2}};
  data.indicators = true;
  return tzif('2', data, "EET-2EEST,M3.5.0/3,M10.5.0/4");
}

TEST(TimeZoneHostileTzifTest, EveryTruncationIsAnError) {
  for (const std::string& file :
       {complete_file(), tzif('\0', helsinki_2026()), tzif('3', single_type(0, "UTC"), "UTC0")}) {
    ASSERT_TRUE(TimeZone::from_tzif("Test/Complete", file).ok());
    for (std::size_t size = 0; size < file.size(); ++size) {
      // A copy of exactly `size` bytes, so a sanitizer sees any read past it.
      const std::vector<char> prefix(file.begin(),
                                     file.begin() + static_cast<std::ptrdiff_t>(size));
      const core::Result<TimeZone> zone =
          TimeZone::from_tzif("Test/Hostile", std::string_view(prefix.data(), prefix.size()));
      ASSERT_FALSE(zone.ok()) << "a prefix of " << size << " of " << file.size() << " bytes parsed";
      EXPECT_EQ(zone.error().code, ErrorCode::invalid_argument);
    }
  }
}

TEST(TimeZoneHostileTzifTest, WrongMagicOrVersion) {
  std::string file = complete_file();
  file[3] = 'F';
  EXPECT_THAT(parse_error(file), HasSubstr("not a TZif file"));
  EXPECT_THAT(parse_error("hello, world, this is certainly not a zone file at all"),
              HasSubstr("not a TZif file"));

  for (const char version : {'1', '5', 'x'}) {
    file = complete_file();
    file[4] = version;
    EXPECT_THAT(parse_error(file), HasSubstr("unsupported TZif version"));
  }
  // The second header must agree with the first.
  file = complete_file();
  file[file.find("TZif", 4) + 4] = '3';
  EXPECT_THAT(parse_error(file), HasSubstr("second header has version"));
  file = complete_file();
  file[file.find("TZif", 4)] = 'X';
  EXPECT_THAT(parse_error(file), HasSubstr("not a TZif file"));
}

TEST(TimeZoneHostileTzifTest, AbsurdCountsAreRefused) {
  const std::string valid = complete_file();
  const std::size_t second_header = valid.find("TZif", 4);
  for (const std::size_t header : {std::size_t{0}, second_header}) {
    for (std::size_t field = 0; field < 6; ++field) {
      for (const std::uint32_t count : {0xFFFFFFFFU, 0x80000000U, 0x10000U}) {
        std::string file = valid;
        std::string encoded;
        append_u32(encoded, count);
        file.replace(header + 20 + 4 * field, 4, encoded);
        SCOPED_TRACE("header at " + std::to_string(header) + ", field " + std::to_string(field) +
                     ", count " + std::to_string(count));
        EXPECT_NE(parse_error(file), "parsed");
      }
    }
  }
  TzifData no_types = helsinki_2026();
  no_types.transitions.clear();
  no_types.type_indexes.clear();
  no_types.types.clear();
  EXPECT_THAT(parse_error(tzif('2', no_types, "EET-2")), HasSubstr("typecnt is 0"));
}

TEST(TimeZoneHostileTzifTest, IndexesAndValuesOutOfRange) {
  TzifData data = helsinki_2026();
  data.type_indexes = {1, 2};
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")),
              HasSubstr("transition 1 has local time type 2, but there are only 2"));

  data = helsinki_2026();
  data.types[1].abbreviation_index = 9;
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")),
              HasSubstr("local time type 1 has its abbreviation at byte 9 of 9"));

  data = helsinki_2026();
  data.abbreviations = "EETEEST";
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")), HasSubstr("not NUL-terminated"));

  data = helsinki_2026();
  data.abbreviations.clear();
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")), HasSubstr("charcnt is 0"));

  for (const std::int32_t offset : {std::numeric_limits<std::int32_t>::min(), -90000, 93600,
                                    std::numeric_limits<std::int32_t>::max()}) {
    data = helsinki_2026();
    data.types[0].utc_offset = offset;
    EXPECT_THAT(parse_error(tzif('2', data, "EET-2")),
                HasSubstr("local time type 0 has UTC offset " + std::to_string(offset)));
  }

  data = helsinki_2026();
  data.types[1].is_dst = 2;
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")), HasSubstr("isdst 2"));

  data = helsinki_2026();
  data.transitions = {kAutumn2026, kSpring2026};
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")), HasSubstr("transitions must ascend"));
  data.transitions = {kSpring2026, kSpring2026};
  EXPECT_THAT(parse_error(tzif('2', data, "EET-2")), HasSubstr("transitions must ascend"));

  // Standard/wall and UT/local indicators come one per type, or not at all.
  std::string file = complete_file();
  std::string encoded;
  append_u32(encoded, 1);
  file.replace(file.find("TZif", 4) + 20, 4, encoded);
  EXPECT_THAT(parse_error(file), HasSubstr("indicators"));
}

TEST(TimeZoneHostileTzifTest, BadFootersAreRefused) {
  const TzifData data = helsinki_2026();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"EET-2EEST,M13.5.0", "the month of the start of daylight saving time \"13\""},
      {"EET-2EEST,M3.6.0", "the week of the start of daylight saving time \"6\""},
      {"EET-2EEST,M3.5.7,M10.5.0", "the weekday of the start of daylight saving time \"7\""},
      {"EET-2EEST,M3.5.0", "expected ',' and the rule for the end of daylight saving time"},
      {"EET-2EEST,M3.5.0/168,M10.5.0", "\"168\" at byte 17 is out of range (0-167)"},
      {"EET-2EEST,J0,J365", "the Julian day of the start of daylight saving time \"0\""},
      {"EET-2EEST,366,1", "the day of the start of daylight saving time \"366\""},
      {"EET-2EEST,M3.5.0,M10.5.0x", "unexpected \"x\" at byte 24"},
      {"EET-2EEST,X", "expected a rule (Mm.w.d, Jn or n)"},
      {"EET-25", "the hours of the standard time offset \"25\""},
      {"EET-2:60", "the minutes of the standard time offset \"60\""},
      {"EET", "expected the hours of the standard time offset at byte 3"},
      {"EE-2", "the standard time name \"EE\" at byte 0 is shorter than 3 characters"},
      {"<+05", "has no closing '>'"},
      {"<+0 5>-5", "has no closing '>'"},
      {":Europe/Helsinki", "the standard time name \"\" at byte 0"},
      {"EET-2EE", "the daylight saving time name \"EE\""},
  };
  for (const auto& [footer, problem] : cases) {
    SCOPED_TRACE(footer);
    const std::string message = parse_error(tzif('2', data, footer));
    EXPECT_THAT(message, HasSubstr("the footer \"" + footer.substr(0, 60)));
    EXPECT_THAT(message, HasSubstr(problem));
  }

  std::string missing_newline = tzif('2', data, "EET-2EEST,M3.5.0/3,M10.5.0/4");
  missing_newline.pop_back();
  EXPECT_THAT(parse_error(missing_newline), HasSubstr("does not end with a newline"));

  std::string no_footer = tzif('2', data, "");
  no_footer.resize(no_footer.size() - 2);
  EXPECT_THAT(parse_error(no_footer), HasSubstr("footer"));

  std::string no_leading_newline = tzif('2', data, "EET-2");
  no_leading_newline[no_leading_newline.size() - 7] = 'X';
  EXPECT_THAT(parse_error(no_leading_newline), HasSubstr("does not start with a newline"));

  EXPECT_THAT(parse_error(tzif('2', data, "EET-2") + "junk"),
              HasSubstr("4 unexpected bytes after the footer"));
  EXPECT_THAT(parse_error(tzif('\0', data) + "junk"),
              HasSubstr("4 unexpected bytes after the data of a version 1 file"));
}

// ---------------------------------------------------------------------------
// Properties over a whole year.

struct RoundTrip {
  std::vector<std::string> mismatches;  // the first ten
  int nonexistent_slots = 0;            // wall times on the half hour in a gap
  int ambiguous_slots = 0;              // wall times on the half hour shown twice
};

// Every half hour of `year`, as an instant and as a wall-clock time.
RoundTrip round_trip(const TimeZone& zone, int year) {
  RoundTrip result;
  const auto note = [&result](std::string what) {
    if (result.mismatches.size() < 10) {
      result.mismatches.push_back(std::move(what));
    }
  };
  const chrono::sys_seconds first_instant = utc(year, 1, 1);
  const chrono::sys_seconds end_instant = utc(year + 1, 1, 1);
  for (chrono::sys_seconds instant = first_instant; instant < end_instant;
       instant += chrono::minutes{30}) {
    const LocalTimeResolution back = zone.from_local(zone.to_local(instant));
    if (back.kind == Kind::nonexistent || (back.earliest != instant && back.latest != instant)) {
      note(iso(instant) + " -> " + iso(zone.to_local(instant)) + " -> " + text_of(back));
    }
  }
  const chrono::local_seconds first_wall = local(year, 1, 1);
  const chrono::local_seconds end_wall = local(year + 1, 1, 1);
  for (chrono::local_seconds wall = first_wall; wall < end_wall; wall += chrono::minutes{30}) {
    const LocalTimeResolution resolution = zone.from_local(wall);
    switch (resolution.kind) {
      case Kind::nonexistent:
        ++result.nonexistent_slots;
        if (!(zone.to_local(resolution.earliest) > wall &&
              zone.to_local(resolution.earliest - chrono::seconds{1}) < wall &&
              resolution.latest == resolution.earliest)) {
          note(iso(wall) + " -> " + text_of(resolution) + ": not the end of a gap around it");
        }
        break;
      case Kind::ambiguous:
        ++result.ambiguous_slots;
        [[fallthrough]];
      case Kind::unique:
        if (zone.to_local(resolution.earliest) != wall ||
            zone.to_local(resolution.latest) != wall ||
            (resolution.kind == Kind::unique) != (resolution.earliest == resolution.latest)) {
          note(iso(wall) + " -> " + text_of(resolution) + " -> " +
               iso(zone.to_local(resolution.earliest)) + ", " +
               iso(zone.to_local(resolution.latest)));
        }
        break;
    }
  }
  return result;
}

TEST(TimeZonePropertyTest, EveryInstantAndWallClockOf2026RoundTrips) {
  struct Expected {
    const char* name;
    int nonexistent_slots;
    int ambiguous_slots;
  };
  // An hour skipped in spring and repeated in autumn: two half-hour slots each;
  // Lord Howe moves by half an hour.
  for (const Expected& expected :
       {Expected{"Europe/Helsinki", 2, 2}, Expected{"America/Chicago", 2, 2},
        Expected{"Australia/Sydney", 2, 2}, Expected{"Australia/Lord_Howe", 1, 1}}) {
    SCOPED_TRACE(expected.name);
    const auto zone = system_zone(expected.name);
    ASSERT_NE(zone, nullptr);
    const RoundTrip result = round_trip(*zone, 2026);
    EXPECT_THAT(result.mismatches, IsEmpty());
    EXPECT_EQ(result.nonexistent_slots, expected.nonexistent_slots);
    EXPECT_EQ(result.ambiguous_slots, expected.ambiguous_slots);
  }
}

TEST(TimeZonePropertyTest, FarFutureYearsRoundTripThroughTheFooter) {
  const auto zone = system_zone("Europe/Helsinki");
  ASSERT_NE(zone, nullptr);
  for (const int year : {2100, 2400}) {
    SCOPED_TRACE(year);
    const RoundTrip result = round_trip(*zone, year);
    EXPECT_THAT(result.mismatches, IsEmpty());
    EXPECT_EQ(result.nonexistent_slots, 2);
    EXPECT_EQ(result.ambiguous_slots, 2);
  }
}

// glibc reads the same files: its answers must be ours, 1970 to 2037. setenv("TZ")
// is fine in a test, never in the daemon.
TEST(TimeZonePropertyTest, AgreesWithGlibcOnRandomInstants) {
  const char* saved = std::getenv("TZ");
  const std::optional<std::string> previous_tz =
      saved != nullptr ? std::optional<std::string>(saved) : std::nullopt;
  std::mt19937_64 random(20260329);
  std::uniform_int_distribution<std::int64_t> instants(
      0, utc(2037, 12, 31).time_since_epoch().count());
  for (const char* name :
       {"Europe/Helsinki", "America/Chicago", "Australia/Sydney", "Australia/Lord_Howe",
        "Europe/Dublin", "America/Sao_Paulo", "Pacific/Apia", "Asia/Kolkata"}) {
    SCOPED_TRACE(name);
    const auto zone = system_zone(name);
    ASSERT_NE(zone, nullptr);
    ASSERT_EQ(::setenv("TZ", (std::string(":") + name).c_str(), 1), 0);
    ::tzset();
    int mismatches = 0;
    for (int i = 0; i < 2000; ++i) {
      const std::int64_t seconds = instants(random);
      const std::time_t when = static_cast<std::time_t>(seconds);
      std::tm broken_down{};
      ASSERT_NE(::localtime_r(&when, &broken_down), nullptr);
      const ZoneOffset ours = zone->offset_at(chrono::sys_seconds{chrono::seconds{seconds}});
      const ZoneOffset glibc{chrono::seconds{broken_down.tm_gmtoff}, broken_down.tm_isdst > 0,
                             broken_down.tm_zone};
      if (ours != glibc && ++mismatches <= 5) {
        ADD_FAILURE() << iso(chrono::sys_seconds{chrono::seconds{seconds}}) << ": ours "
                      << text_of(ours) << ", glibc " << text_of(glibc);
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
  if (previous_tz) {
    ::setenv("TZ", previous_tz->c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

// ---------------------------------------------------------------------------
// The database.

class TimeZoneDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "haveri-time-zone-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    zoneinfo_ = pattern;
  }

  void TearDown() override {
    std::error_code error;
    fs::remove_all(zoneinfo_, error);
  }

  void write(const std::string& name, const std::string& contents) const {
    const fs::path path = zoneinfo_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << contents;
  }

  fs::path zoneinfo_;
};

TEST_F(TimeZoneDatabaseTest, UnknownZonesAreNotFound) {
  TimeZoneDatabase database;
  for (const char* name : {"Mars/Base", "europe/helsinki", "Europe", "Europe/Helsinki/x"}) {
    SCOPED_TRACE(name);
    const auto zone = database.get(name);
    ASSERT_FALSE(zone.ok());
    EXPECT_EQ(zone.error().code, ErrorCode::not_found);
    EXPECT_THAT(zone.error().message, HasSubstr(std::string("\"") + name + "\""));
  }
}

TEST_F(TimeZoneDatabaseTest, UnsafeOrMalformedNamesAreRefused) {
  TimeZoneDatabase database;
  const std::string too_long = "Europe/" + std::string(250, 'x');
  for (const std::string& name :
       {std::string("../etc/passwd"), std::string("/etc/localtime"),
        std::string("Europe//Helsinki"), std::string(""), std::string("Europe/Helsinki/"),
        std::string("Europe/./Helsinki"), std::string("Europe/../Europe/Helsinki"),
        std::string("Europe/Hel sinki"), std::string("Europe\\Helsinki"),
        std::string("Europe/Helsinki\0x", 17), std::string("Europe/Helsinki.tzif"), too_long}) {
    SCOPED_TRACE(name);
    const auto zone = database.get(name);
    ASSERT_FALSE(zone.ok());
    EXPECT_EQ(zone.error().code, ErrorCode::invalid_argument);
    EXPECT_THAT(zone.error().message, HasSubstr("Europe/Helsinki"));
  }
  EXPECT_TRUE(database.get("Etc/GMT+5").ok());
  EXPECT_TRUE(database.get("America/Port-au-Prince").ok());
}

TEST_F(TimeZoneDatabaseTest, EachZoneIsLoadedOnceAndShared) {
  TimeZoneDatabase database;
  const auto first = database.get("Europe/Helsinki");
  ASSERT_TRUE(first.ok());
  const auto second = database.get("Europe/Helsinki");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ((*first)->name(), "Europe/Helsinki");

  TimeZoneDatabase shared;
  std::vector<const TimeZone*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&shared, &seen, i] {
      const auto zone = shared.get("America/Chicago");
      seen[i] = zone.ok() ? zone->get() : nullptr;
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  ASSERT_NE(seen[0], nullptr);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), seen[0]), 4);
}

TEST_F(TimeZoneDatabaseTest, ReadsItsOwnDirectory) {
  write("Test/Helsinki", tzif('2', helsinki_2026(), "EET-2EEST,M3.5.0/3,M10.5.0/4"));
  TimeZoneDatabase database(zoneinfo_);
  EXPECT_EQ(database.zoneinfo(), zoneinfo_);
  const auto zone = database.get("Test/Helsinki");
  ASSERT_TRUE(zone.ok()) << zone.error().message;
  EXPECT_EQ((*zone)->name(), "Test/Helsinki");
  EXPECT_EQ(offset_at(**zone, utc(2026, 7, 1)), "+03:00 EEST dst");
  EXPECT_EQ(database.get("Europe/Helsinki").error().code, ErrorCode::not_found);
}

TEST_F(TimeZoneDatabaseTest, FilesThatAreNotZonesAreRefused) {
  write("Mars/Base", "#!/bin/sh\necho this is not a zone\n");
  write("Mars/Huge", "TZif2" + std::string((std::size_t{1} << 20U), '\0'));
  write("Mars/Truncated", complete_file().substr(0, 100));
  ASSERT_EQ(::mkfifo((zoneinfo_ / "Mars" / "Pipe").c_str(), 0600), 0);
  TimeZoneDatabase database(zoneinfo_);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Mars/Base", "not a TZif file"},
      {"Mars/Huge", "larger than 1 MiB"},
      {"Mars/Truncated", "truncated"},
      {"Mars/Pipe", "not a regular file"},
  };
  for (const auto& [name, problem] : cases) {
    SCOPED_TRACE(name);
    const auto zone = database.get(name);
    ASSERT_FALSE(zone.ok());
    EXPECT_EQ(zone.error().code, ErrorCode::invalid_argument);
    EXPECT_THAT(zone.error().message, HasSubstr((zoneinfo_ / name).string()));
    EXPECT_THAT(zone.error().message, HasSubstr(problem));
  }
  // Errors are not cached: a fixed file is read on the next request.
  write("Mars/Base", tzif('2', single_type(0, "MTC"), "MTC0"));
  const auto fixed = database.get("Mars/Base");
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_EQ(offset_at(**fixed, utc(2026, 7, 1)), "+00:00 MTC");
}

TEST_F(TimeZoneDatabaseTest, UtcWorksWithoutAFile) {
  TimeZoneDatabase database(zoneinfo_);
  for (const char* name : {"UTC", "Etc/UTC"}) {
    SCOPED_TRACE(name);
    const auto zone = database.get(name);
    ASSERT_TRUE(zone.ok()) << zone.error().message;
    EXPECT_EQ((*zone)->name(), name);
    EXPECT_EQ(offset_at(**zone, utc(2026, 7, 1)), "+00:00 UTC");
  }
  EXPECT_EQ(database.get("utc").error().code, ErrorCode::not_found);
  EXPECT_EQ(database.get("Etc/UTC").value().get(), database.get("Etc/UTC").value().get());

  // A UTC file, when there is one, is read like any other.
  write("UTC", tzif('2', single_type(0, "Zulu"), "Zulu0"));
  TimeZoneDatabase with_file(zoneinfo_);
  const auto zone = with_file.get("UTC");
  ASSERT_TRUE(zone.ok()) << zone.error().message;
  EXPECT_EQ(offset_at(**zone, utc(2026, 7, 1)), "+00:00 Zulu");
}

}  // namespace
}  // namespace haveri::policy
