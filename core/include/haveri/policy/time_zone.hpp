#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/result.hpp>

namespace haveri::policy {

// Wall-clock time in one IANA time zone, read from the tz database's compiled files
// (TZif, RFC 8536) because GCC 12's libstdc++ has no std::chrono::tzdb. Versions 1,
// 2, 3 and 4 are read; instants past the last transition follow the file's POSIX TZ
// footer ("EET-2EEST,M3.5.0/3,M10.5.0/4"), so "slim" files and dates after 2037
// are right too.
//
// Immutable once parsed; safe to share between threads.

// The offset in force at an instant.
struct ZoneOffset {
  std::chrono::seconds utc_offset{0};  // local = UTC + utc_offset
  bool is_dst = false;
  std::string abbreviation;  // "EET", "EEST", "CST", "+0530"; may be empty
  bool operator==(const ZoneOffset&) const = default;
};

// What a local (wall-clock) time names in a zone.
struct LocalTimeResolution {
  enum class Kind {
    unique,       // one instant (the usual case): `earliest` == `latest`
    ambiguous,    // the clocks went back and passed it twice: `earliest` < `latest`
    nonexistent,  // the clocks jumped over it: `earliest` == `latest` == the instant
                  // the jump happened (the first moment after the gap)
  };
  Kind kind = Kind::unique;
  std::chrono::sys_seconds earliest{};
  std::chrono::sys_seconds latest{};
  bool operator==(const LocalTimeResolution&) const = default;
};

class TimeZone {
 public:
  // Parses a TZif file's bytes. `name` ("Europe/Helsinki") is kept for messages.
  // Returns ErrorCode::invalid_argument naming `name` and what is wrong for
  // anything that is not a well-formed TZif file (bad magic, truncated, counts that
  // do not fit the size, indexes out of range, a footer that is not a POSIX TZ
  // string). Never reads past `bytes`.
  // Before the first transition the zone has local time type 0 (RFC 8536 section
  // 3.2); with no transitions at all, the footer (if any) decides everywhere.
  static core::Result<TimeZone> from_tzif(std::string name, std::string_view bytes);

  // The zone of UTC itself (no file needed). A default-constructed TimeZone is UTC
  // too, with an empty name.
  static TimeZone utc();

  const std::string& name() const noexcept { return name_; }

  ZoneOffset offset_at(std::chrono::sys_seconds instant) const;
  // Saturates at the ends of sys_seconds instead of overflowing.
  std::chrono::local_seconds to_local(std::chrono::sys_seconds instant) const;
  LocalTimeResolution from_local(std::chrono::local_seconds local) const;

  // The first instant after `instant` at which the offset changes, if any is known
  // (from the transitions or the footer rule, within 400 years). A change is any
  // change of the ZoneOffset: its UTC offset, its DST flag or its abbreviation
  // (Helsinki went from LMT to HMT in 1878 without moving its clocks).
  std::optional<std::chrono::sys_seconds> next_transition(std::chrono::sys_seconds instant) const;

 private:
  struct LocalTimeType {
    std::int32_t utc_offset = 0;  // seconds
    bool is_dst = false;
    std::string abbreviation;
    bool operator==(const LocalTimeType&) const = default;
  };
  // A POSIX TZ rule ("M3.5.0/3"): month/week/weekday, Julian day (Jn, 1-365 no
  // Feb 29) or zero-based day (n, 0-365), and the local time of the change.
  struct PosixRule {
    enum class Form { month_week_day, julian_no_leap, zero_based_day };
    Form form = Form::month_week_day;
    int month = 0, week = 0, weekday = 0, day = 0;
    std::int32_t time = 7200;  // seconds after local midnight; may be negative or > 24 h

    // When the change happens in `year`, in seconds since 1970-01-01 00:00 local time.
    std::int64_t local_seconds_in(int year) const;
  };
  struct PosixZone {
    LocalTimeType standard;
    bool has_dst = false;
    LocalTimeType daylight;
    PosixRule start, end;

    // When DST starts and ends in `rule_year`, as UTC seconds (either may fall in a
    // neighbouring year: rule times reach 167 h).
    std::int64_t dst_start_in(int rule_year) const;
    std::int64_t dst_end_in(int rule_year) const;
  };

  // The local time type in force at `instant` (seconds since the epoch, UTC).
  const LocalTimeType& type_at(std::int64_t instant) const;
  const LocalTimeType& footer_type_at(std::int64_t instant) const;
  // The first change in (after, until], if any; `until` bounds the work.
  std::optional<std::int64_t> next_change(std::int64_t after, std::int64_t until) const;
  std::optional<std::int64_t> next_footer_change(std::int64_t after, const LocalTimeType& current,
                                                 std::int64_t until) const;

  std::string name_;
  std::vector<std::int64_t> transitions_;                             // UTC seconds, ascending
  std::vector<std::uint8_t> type_indexes_;                            // one per transition
  std::vector<LocalTimeType> types_{LocalTimeType{0, false, "UTC"}};  // at least one
  std::optional<PosixZone> footer_;

  friend class TimeZoneParser;
};

// Loads zones by name from a tz database directory, each file once.
// Thread-safe (one lock around the cache).
class TimeZoneDatabase {
 public:
  explicit TimeZoneDatabase(std::filesystem::path zoneinfo = "/usr/share/zoneinfo");

  // The zone `name` ("Europe/Helsinki", "UTC"). ErrorCode::not_found for a name
  // with no file, or naming a directory (names are case-sensitive). invalid_argument
  // for a name that is empty, absolute, longer than 255 bytes, has an empty, "." or
  // ".." segment or a character outside [A-Za-z0-9_+-/]; and for a file that is
  // not TZif or is larger than 1 MiB. ErrorCode::storage when the file exists but
  // cannot be read. "UTC" and "Etc/UTC" are TimeZone::utc() (under that name) when
  // the directory has no such file. Zones are cached, errors are not: the cache
  // holds at most one zone per file in the directory (and the two UTC names).
  core::Result<std::shared_ptr<const TimeZone>> get(std::string_view name);

  const std::filesystem::path& zoneinfo() const noexcept { return zoneinfo_; }

 private:
  std::filesystem::path zoneinfo_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> zones_;
};

}  // namespace haveri::policy
