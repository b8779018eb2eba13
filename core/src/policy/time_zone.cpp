#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <system_error>
#include <tuple>
#include <utility>

#include <haveri/core/yaml_text.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {

namespace {

namespace chrono = std::chrono;
namespace fs = std::filesystem;
using core::ErrorCode;
using core::quote_for_message;

constexpr std::size_t kHeaderSize = 44;
constexpr std::string_view kMagic = "TZif";
constexpr std::size_t kCountsOffset = 20;  // magic, version and 15 reserved bytes come first
constexpr std::size_t kTypeRecordSize = 6;
constexpr std::uint64_t kV1TimeSize = 4;
constexpr std::uint64_t kV2TimeSize = 8;
constexpr std::uint64_t kLeapCorrectionSize = 4;
// RFC 8536 section 3.2 asks for offsets in this range. Refusing the rest (-2^31 among
// them, which the RFC forbids) keeps every instant within 26 hours of its wall
// clock, which bounds the search in from_local.
constexpr std::int32_t kMinUtcOffset = -89999;
constexpr std::int32_t kMaxUtcOffset = 93599;
// POSIX offsets have hours 0-24 (so they stay inside the range above, the default
// DST offset included); TZif version 3 lets rule times reach +-167 hours.
constexpr int kMaxOffsetHours = 24;
constexpr int kMaxRuleHours = 167;
constexpr std::int32_t kSecondsPerHour = 3600;
constexpr std::int32_t kDefaultDstShift = kSecondsPerHour;
// The Gregorian calendar repeats every 400 years, weekdays included (146097 days
// are a whole number of weeks), and so does every POSIX TZ rule: the footer is
// evaluated in the cycle from 1970 to 2370, so every instant maps to a year that
// chrono can name.
constexpr std::int64_t kCycleSeconds = 146097LL * 86400;
constexpr int kFooterSearchYears = 400;
// The largest zone in tzdata is under 4 KiB; anything near this is not a zone.
constexpr std::size_t kMaxZoneFileBytes = std::size_t{1} << 20U;
constexpr std::size_t kMaxZoneNameBytes = 255;
constexpr std::size_t kReadChunkBytes = 16384;

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return sum;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t difference = 0;
  if (__builtin_sub_overflow(a, b, &difference)) {
    return b < 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return difference;
}

struct CycleSplit {
  std::int64_t in_cycle = 0;  // [0, kCycleSeconds): 1970-01-01 up to 2370-01-01
  std::int64_t cycles = 0;
};

CycleSplit split_cycles(std::int64_t instant) {
  CycleSplit split{instant % kCycleSeconds, instant / kCycleSeconds};
  if (split.in_cycle < 0) {
    split.in_cycle += kCycleSeconds;
    --split.cycles;
  }
  return split;
}

std::optional<std::int64_t> join_cycles(std::int64_t in_cycle, std::int64_t cycles) {
  std::int64_t shift = 0;
  std::int64_t joined = 0;
  if (__builtin_mul_overflow(cycles, kCycleSeconds, &shift) ||
      __builtin_add_overflow(in_cycle, shift, &joined)) {
    return std::nullopt;
  }
  return joined;
}

int utc_year(std::int64_t instant) {
  const auto day = chrono::floor<chrono::days>(chrono::sys_seconds{chrono::seconds{instant}});
  return static_cast<int>(chrono::year_month_day{day}.year());
}

std::int64_t utc_year_start(int year) {
  const chrono::sys_days day{chrono::year{year} / chrono::January / 1};
  return chrono::sys_seconds{day}.time_since_epoch().count();
}

// One change of a footer rule, in UTC.
struct RuleChange {
  std::int64_t instant = 0;
  int rule_year = 0;
  bool to_dst = false;
};

// Changes at the same instant apply in rule-year order, so "EST5EDT,0/0,J365/25"
// (each year's end of DST is the next year's start) stays in DST all year.
bool applies_before(const RuleChange& a, const RuleChange& b) {
  return std::tuple(a.instant, a.rule_year, !a.to_dst) <
         std::tuple(b.instant, b.rule_year, !b.to_dst);
}

std::uint32_t read_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8U) | static_cast<unsigned char>(bytes[at + i]);
  }
  return value;
}

std::int64_t read_i64(std::string_view bytes, std::size_t at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value = (value << 8U) | static_cast<unsigned char>(bytes[at + i]);
  }
  return static_cast<std::int64_t>(value);
}

bool is_ascii_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_zone_name_char(char c) {
  return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '+' || c == '-' || c == '/';
}

std::optional<core::Error> refuse_zone_name(std::string_view name) {
  const auto refuse = [name](const std::string& why) {
    return core::make_error(ErrorCode::invalid_argument,
                            "time zone name " + quote_for_message(name) + " " + why +
                                " (use an IANA name such as Europe/Helsinki)");
  };
  if (name.empty()) {
    return core::make_error(ErrorCode::invalid_argument,
                            "time zone name is empty (use an IANA name such as Europe/Helsinki)");
  }
  if (name.size() > kMaxZoneNameBytes) {
    return refuse("is " + std::to_string(name.size()) + " bytes long, more than " +
                  std::to_string(kMaxZoneNameBytes));
  }
  if (name.front() == '/') {
    return refuse("is absolute; names are relative to the zoneinfo directory");
  }
  std::size_t segment_begin = 0;
  while (segment_begin <= name.size()) {
    const std::size_t slash = std::min(name.find('/', segment_begin), name.size());
    const std::string_view segment = name.substr(segment_begin, slash - segment_begin);
    if (segment.empty() || segment == "." || segment == "..") {
      return refuse("has an empty, \".\" or \"..\" segment");
    }
    segment_begin = slash + 1;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_zone_name_char(name[i])) {
      return refuse("has the character " + quote_for_message(name.substr(i, 1)) + " at byte " +
                    std::to_string(i) + "; names use letters, digits, '_', '+', '-' and '/'");
    }
  }
  return std::nullopt;
}

// The bytes of the file for zone `name`, bounded: nothing in a zoneinfo directory
// is trusted to be a zone.
core::Result<std::string> read_zone_file(const fs::path& path, std::string_view name) {
  const std::string what = "time zone " + quote_for_message(name) + ": " + path.string();
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) {
    return core::make_error(ErrorCode::not_found,
                            what +
                                " does not exist (names are case-sensitive IANA names such "
                                "as Europe/Helsinki; is tzdata installed?)");
  }
  if (error) {
    return core::make_error(ErrorCode::storage, what + ": " + error.message());
  }
  if (fs::is_directory(status)) {
    return core::make_error(ErrorCode::not_found,
                            what +
                                " is a directory of zones, not a zone (name a zone inside "
                                "it, such as Europe/Helsinki)");
  }
  if (!fs::is_regular_file(status)) {
    return core::make_error(ErrorCode::invalid_argument,
                            what + " is not a regular file, so not a TZif file");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return core::make_error(ErrorCode::storage, what + " cannot be opened for reading");
  }
  std::string bytes;
  std::array<char, kReadChunkBytes> chunk{};
  while (file.read(chunk.data(), chunk.size()) || file.gcount() > 0) {
    bytes.append(chunk.data(), static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > kMaxZoneFileBytes) {
      return core::make_error(ErrorCode::invalid_argument,
                              what + " is larger than 1 MiB, so not a TZif file");
    }
  }
  if (file.bad()) {
    return core::make_error(ErrorCode::storage, what + " could not be read");
  }
  return bytes;
}

}  // namespace

// Reads TZif bytes into a TimeZone (RFC 8536), checking every count, index and
// offset against the bytes before using it.
class TimeZoneParser {
 public:
  TimeZoneParser(std::string name, std::string_view bytes) : bytes_(bytes) {
    zone_.name_ = std::move(name);
  }

  core::Result<TimeZone> parse() && {
    const core::Result<Header> first = read_header(0, "header");
    if (!first) {
      return first.error();
    }
    if (first->version == '\0') {
      const core::Result<std::size_t> end = read_data_block(*first, kHeaderSize, kV1TimeSize);
      if (!end) {
        return end.error();
      }
      if (*end != bytes_.size()) {
        return invalid(std::to_string(bytes_.size() - *end) +
                       " unexpected bytes after the data of a version 1 file");
      }
      return std::move(zone_);
    }
    // Version 2 and later repeat the data with 64-bit times after the version 1
    // block, which readers skip without judging it (slim files leave it empty).
    const std::uint64_t v1_size = data_block_size(*first, kV1TimeSize);
    if (v1_size > bytes_.size() - kHeaderSize) {
      return invalid("truncated: the version 1 data block declares " + describe_counts(*first) +
                     " (" + std::to_string(v1_size) + " bytes), but only " +
                     std::to_string(bytes_.size() - kHeaderSize) + " bytes follow its header");
    }
    const std::size_t second_at = kHeaderSize + static_cast<std::size_t>(v1_size);
    const core::Result<Header> second = read_header(second_at, "second header");
    if (!second) {
      return second.error();
    }
    if (second->version != first->version) {
      return invalid("the second header has version " + describe_version(second->version) +
                     ", the first " + describe_version(first->version));
    }
    const core::Result<std::size_t> end =
        read_data_block(*second, second_at + kHeaderSize, kV2TimeSize);
    if (!end) {
      return end.error();
    }
    if (const core::VoidResult footer = read_footer(*end); !footer) {
      return footer.error();
    }
    return std::move(zone_);
  }

  static TimeZone utc_named(std::string name) {
    TimeZone zone;
    zone.name_ = std::move(name);
    return zone;
  }

 private:
  struct Header {
    char version = '\0';
    std::uint32_t isut_count = 0;
    std::uint32_t isstd_count = 0;
    std::uint32_t leap_count = 0;
    std::uint32_t transition_count = 0;
    std::uint32_t type_count = 0;
    std::uint32_t char_count = 0;
  };

  // Reads a POSIX TZ string ("EET-2EEST,M3.5.0/3,M10.5.0/4") with the TZif
  // version 3 extension of rule times from -167 to 167 hours.
  class PosixTzReader {
   public:
    explicit PosixTzReader(std::string_view text) : text_(text) {}

    core::Result<TimeZone::PosixZone> read() {
      TimeZone::PosixZone zone;
      core::Result<std::string> standard_name = read_name("standard time");
      if (!standard_name) {
        return standard_name.error();
      }
      zone.standard.abbreviation = std::move(*standard_name);
      const core::Result<std::int32_t> standard_offset =
          read_duration(kMaxOffsetHours, "the standard time offset");
      if (!standard_offset) {
        return standard_offset.error();
      }
      // POSIX counts hours west of Greenwich: "EET-2" is UTC+2.
      zone.standard.utc_offset = -*standard_offset;
      if (at_end()) {
        return zone;
      }
      zone.has_dst = true;
      zone.daylight.is_dst = true;
      core::Result<std::string> daylight_name = read_name("daylight saving time");
      if (!daylight_name) {
        return daylight_name.error();
      }
      zone.daylight.abbreviation = std::move(*daylight_name);
      zone.daylight.utc_offset = zone.standard.utc_offset + kDefaultDstShift;
      if (!at_end() && text_[pos_] != ',') {
        const core::Result<std::int32_t> daylight_offset =
            read_duration(kMaxOffsetHours, "the daylight saving time offset");
        if (!daylight_offset) {
          return daylight_offset.error();
        }
        zone.daylight.utc_offset = -*daylight_offset;
      }
      if (at_end()) {
        // POSIX leaves the rules to the implementation; tzcode uses the US rules.
        zone.start = TimeZone::PosixRule{.month = 3, .week = 2, .weekday = 0};
        zone.end = TimeZone::PosixRule{.month = 11, .week = 1, .weekday = 0};
        return zone;
      }
      core::Result<TimeZone::PosixRule> start = read_rule("the start of daylight saving time");
      if (!start) {
        return start.error();
      }
      zone.start = *start;
      core::Result<TimeZone::PosixRule> end = read_rule("the end of daylight saving time");
      if (!end) {
        return end.error();
      }
      zone.end = *end;
      if (!at_end()) {
        return fail("unexpected " + quote_for_message(text_.substr(pos_)) + " at byte " +
                    std::to_string(pos_));
      }
      return zone;
    }

   private:
    bool at_end() const { return pos_ >= text_.size(); }

    bool skip(char expected) {
      if (!at_end() && text_[pos_] == expected) {
        ++pos_;
        return true;
      }
      return false;
    }

    core::Error fail(std::string why) const {
      return core::make_error(ErrorCode::invalid_argument, std::move(why));
    }

    // "EET" or, quoted, "<+0530>"; at least 3 characters as POSIX requires.
    core::Result<std::string> read_name(const std::string& role) {
      const std::size_t name_at = pos_;
      std::string_view name;
      if (skip('<')) {
        const std::size_t begin = pos_;
        while (!at_end() && (is_ascii_alpha(text_[pos_]) || is_ascii_digit(text_[pos_]) ||
                             text_[pos_] == '+' || text_[pos_] == '-')) {
          ++pos_;
        }
        name = text_.substr(begin, pos_ - begin);
        if (!skip('>')) {
          return fail("the " + role + " name at byte " + std::to_string(name_at) +
                      " has no closing '>' (quoted names hold letters, digits, '+' and '-')");
        }
      } else {
        const std::size_t begin = pos_;
        while (!at_end() && is_ascii_alpha(text_[pos_])) {
          ++pos_;
        }
        name = text_.substr(begin, pos_ - begin);
      }
      if (name.size() < 3) {
        return fail("the " + role + " name " + quote_for_message(name) + " at byte " +
                    std::to_string(name_at) + " is shorter than 3 characters");
      }
      return std::string(name);
    }

    core::Result<int> read_number(int min, int max, std::size_t max_digits,
                                  const std::string& what) {
      const std::size_t begin = pos_;
      while (!at_end() && is_ascii_digit(text_[pos_])) {
        ++pos_;
      }
      const std::string_view digits = text_.substr(begin, pos_ - begin);
      if (digits.empty()) {
        return fail("expected " + what + " at byte " + std::to_string(begin));
      }
      int value = 0;
      if (digits.size() <= max_digits) {
        for (const char digit : digits) {
          value = value * 10 + (digit - '0');
        }
      }
      if (digits.size() > max_digits || value < min || value > max) {
        return fail(what + " " + quote_for_message(digits) + " at byte " + std::to_string(begin) +
                    " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
      }
      return value;
    }

    // [+-]hh[:mm[:ss]] in seconds.
    core::Result<std::int32_t> read_duration(int max_hours, const std::string& what) {
      std::int32_t sign = 1;
      if (skip('-')) {
        sign = -1;
      } else {
        skip('+');
      }
      const core::Result<int> hours =
          read_number(0, max_hours, max_hours > 99 ? 3 : 2, "the hours of " + what);
      if (!hours) {
        return hours.error();
      }
      std::int32_t seconds = *hours * kSecondsPerHour;
      if (skip(':')) {
        const core::Result<int> minutes = read_number(0, 59, 2, "the minutes of " + what);
        if (!minutes) {
          return minutes.error();
        }
        seconds += *minutes * 60;
        if (skip(':')) {
          const core::Result<int> secs = read_number(0, 59, 2, "the seconds of " + what);
          if (!secs) {
            return secs.error();
          }
          seconds += *secs;
        }
      }
      return sign * seconds;
    }

    // ",Mm.w.d[/time]", ",Jn[/time]" or ",n[/time]".
    core::Result<TimeZone::PosixRule> read_rule(const std::string& what) {
      using Form = TimeZone::PosixRule::Form;
      if (!skip(',')) {
        return fail("expected ',' and the rule for " + what + " at byte " + std::to_string(pos_));
      }
      TimeZone::PosixRule rule;
      if (skip('M')) {
        rule.form = Form::month_week_day;
        const core::Result<int> month = read_number(1, 12, 2, "the month of " + what);
        if (!month) {
          return month.error();
        }
        if (!skip('.')) {
          return fail("expected '.' and a week after the month of " + what + " at byte " +
                      std::to_string(pos_));
        }
        const core::Result<int> week = read_number(1, 5, 1, "the week of " + what);
        if (!week) {
          return week.error();
        }
        if (!skip('.')) {
          return fail("expected '.' and a weekday after the week of " + what + " at byte " +
                      std::to_string(pos_));
        }
        const core::Result<int> weekday = read_number(0, 6, 1, "the weekday of " + what);
        if (!weekday) {
          return weekday.error();
        }
        rule.month = *month;
        rule.week = *week;
        rule.weekday = *weekday;
      } else if (skip('J')) {
        rule.form = Form::julian_no_leap;
        const core::Result<int> day = read_number(1, 365, 3, "the Julian day of " + what);
        if (!day) {
          return day.error();
        }
        rule.day = *day;
      } else if (!at_end() && is_ascii_digit(text_[pos_])) {
        rule.form = Form::zero_based_day;
        const core::Result<int> day = read_number(0, 365, 3, "the day of " + what);
        if (!day) {
          return day.error();
        }
        rule.day = *day;
      } else {
        return fail("expected a rule (Mm.w.d, Jn or n) for " + what + " at byte " +
                    std::to_string(pos_));
      }
      if (skip('/')) {
        const core::Result<std::int32_t> time = read_duration(kMaxRuleHours, "the time of " + what);
        if (!time) {
          return time.error();
        }
        rule.time = *time;
      }
      return rule;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
  };

  static std::uint64_t data_block_size(const Header& header, std::uint64_t time_size) {
    return header.transition_count * (time_size + 1) + header.type_count * kTypeRecordSize +
           header.char_count + header.leap_count * (time_size + kLeapCorrectionSize) +
           header.isstd_count + header.isut_count;
  }

  static std::string describe_counts(const Header& header) {
    return std::to_string(header.transition_count) + " transitions, " +
           std::to_string(header.type_count) + " local time types, " +
           std::to_string(header.char_count) + " abbreviation bytes, " +
           std::to_string(header.leap_count) + " leap seconds and " +
           std::to_string(header.isstd_count) + " + " + std::to_string(header.isut_count) +
           " indicators";
  }

  static std::string describe_version(char version) {
    if (version == '\0') {
      return "1";
    }
    return quote_for_message(std::string_view(&version, 1));
  }

  core::Error invalid(const std::string& what) const {
    return core::make_error(ErrorCode::invalid_argument,
                            "time zone " + quote_for_message(zone_.name_) + ": " + what);
  }

  core::Result<Header> read_header(std::size_t at, const std::string& which) const {
    const std::string_view rest = bytes_.substr(at);
    if (rest.substr(0, kMagic.size()) != kMagic.substr(0, std::min(kMagic.size(), rest.size()))) {
      return invalid("not a TZif file: the " + which + " at byte " + std::to_string(at) +
                     " does not start with \"TZif\"");
    }
    if (rest.size() < kHeaderSize) {
      return invalid("truncated: the TZif " + which + " at byte " + std::to_string(at) + " needs " +
                     std::to_string(kHeaderSize) + " bytes, " + std::to_string(rest.size()) +
                     " remain");
    }
    Header header;
    header.version = bytes_[at + kMagic.size()];
    if (header.version != '\0' && (header.version < '2' || header.version > '4')) {
      return invalid("unsupported TZif version " + describe_version(header.version) +
                     " (known: 1, 2, 3 and 4)");
    }
    const std::size_t counts = at + kCountsOffset;
    header.isut_count = read_u32(bytes_, counts);
    header.isstd_count = read_u32(bytes_, counts + 4);
    header.leap_count = read_u32(bytes_, counts + 8);
    header.transition_count = read_u32(bytes_, counts + 12);
    header.type_count = read_u32(bytes_, counts + 16);
    header.char_count = read_u32(bytes_, counts + 20);
    return header;
  }

  // Reads the transitions, their types and the local time types of the data block
  // at `at`; leap seconds and the standard/UT indicators are skipped. Returns where
  // the block ends.
  core::Result<std::size_t> read_data_block(const Header& header, std::size_t at,
                                            std::uint64_t time_size) {
    const std::string block_name = time_size == kV2TimeSize ? "64-bit data block" : "data block";
    if (header.type_count == 0) {
      return invalid("the " + block_name + " has no local time types (typecnt is 0)");
    }
    if (header.char_count == 0) {
      return invalid("the " + block_name + " has no abbreviation bytes (charcnt is 0)");
    }
    if (header.isstd_count != 0 && header.isstd_count != header.type_count) {
      return invalid("the " + block_name + " has " + std::to_string(header.isstd_count) +
                     " standard/wall indicators for " + std::to_string(header.type_count) +
                     " local time types (must be 0 or equal)");
    }
    if (header.isut_count != 0 && header.isut_count != header.type_count) {
      return invalid("the " + block_name + " has " + std::to_string(header.isut_count) +
                     " UT/local indicators for " + std::to_string(header.type_count) +
                     " local time types (must be 0 or equal)");
    }
    const std::uint64_t size = data_block_size(header, time_size);
    if (size > bytes_.size() - at) {
      return invalid("truncated: the " + block_name + " declares " + describe_counts(header) +
                     " (" + std::to_string(size) + " bytes), but only " +
                     std::to_string(bytes_.size() - at) + " bytes follow its header");
    }
    const std::string_view block = bytes_.substr(at, static_cast<std::size_t>(size));
    std::size_t pos = 0;

    std::vector<std::int64_t>& transitions = zone_.transitions_;
    transitions.reserve(header.transition_count);
    for (std::uint32_t i = 0; i < header.transition_count; ++i) {
      const std::int64_t transition = time_size == kV2TimeSize
                                          ? read_i64(block, pos)
                                          : static_cast<std::int32_t>(read_u32(block, pos));
      pos += time_size;
      if (!transitions.empty() && transition <= transitions.back()) {
        return invalid("transition " + std::to_string(i) + " (" + std::to_string(transition) +
                       ") is not after transition " + std::to_string(i - 1) + " (" +
                       std::to_string(transitions.back()) + "); transitions must ascend");
      }
      transitions.push_back(transition);
    }

    std::vector<std::uint8_t>& type_indexes = zone_.type_indexes_;
    type_indexes.reserve(header.transition_count);
    for (std::uint32_t i = 0; i < header.transition_count; ++i) {
      const auto type_index = static_cast<std::uint8_t>(block[pos++]);
      if (type_index >= header.type_count) {
        return invalid("transition " + std::to_string(i) + " has local time type " +
                       std::to_string(type_index) + ", but there are only " +
                       std::to_string(header.type_count));
      }
      type_indexes.push_back(type_index);
    }

    std::vector<std::uint8_t> abbreviation_indexes;
    abbreviation_indexes.reserve(header.type_count);
    std::vector<TimeZone::LocalTimeType>& types = zone_.types_;
    types.clear();
    types.reserve(header.type_count);
    for (std::uint32_t i = 0; i < header.type_count; ++i) {
      TimeZone::LocalTimeType type;
      type.utc_offset = static_cast<std::int32_t>(read_u32(block, pos));
      const auto is_dst = static_cast<std::uint8_t>(block[pos + 4]);
      abbreviation_indexes.push_back(static_cast<std::uint8_t>(block[pos + 5]));
      pos += kTypeRecordSize;
      if (type.utc_offset < kMinUtcOffset || type.utc_offset > kMaxUtcOffset) {
        return invalid("local time type " + std::to_string(i) + " has UTC offset " +
                       std::to_string(type.utc_offset) + " s, outside " +
                       std::to_string(kMinUtcOffset) + ".." + std::to_string(kMaxUtcOffset) +
                       " (RFC 8536 section 3.2)");
      }
      if (is_dst > 1) {
        return invalid("local time type " + std::to_string(i) + " has isdst " +
                       std::to_string(is_dst) + " (must be 0 or 1)");
      }
      type.is_dst = is_dst == 1;
      types.push_back(std::move(type));
    }

    const std::string_view abbreviations = block.substr(pos, header.char_count);
    pos += header.char_count;
    for (std::size_t i = 0; i < types.size(); ++i) {
      const std::size_t begin = abbreviation_indexes[i];
      if (begin >= abbreviations.size()) {
        return invalid("local time type " + std::to_string(i) + " has its abbreviation at byte " +
                       std::to_string(begin) + " of " + std::to_string(abbreviations.size()) +
                       " abbreviation bytes");
      }
      const std::size_t end = abbreviations.find('\0', begin);
      if (end == std::string_view::npos) {
        return invalid("the abbreviation of local time type " + std::to_string(i) +
                       " is not NUL-terminated");
      }
      types[i].abbreviation = std::string(abbreviations.substr(begin, end - begin));
    }
    return at + static_cast<std::size_t>(size);
  }

  // "\n<POSIX TZ string>\n" closes a version 2+ file; an empty string means the last
  // local time type stays in force.
  core::VoidResult read_footer(std::size_t at) {
    const std::string_view rest = bytes_.substr(at);
    if (rest.empty()) {
      return invalid(
          "truncated: the footer (a POSIX TZ string between newlines) is missing after the "
          "64-bit data block");
    }
    if (rest.front() != '\n') {
      return invalid("the footer after the 64-bit data block does not start with a newline");
    }
    const std::size_t close = rest.find('\n', 1);
    if (close == std::string_view::npos) {
      return invalid("truncated: the footer " + quote_for_message(rest.substr(1)) +
                     " does not end with a newline");
    }
    if (close + 1 != rest.size()) {
      return invalid(std::to_string(rest.size() - close - 1) +
                     " unexpected bytes after the footer");
    }
    const std::string_view tz = rest.substr(1, close - 1);
    if (tz.empty()) {
      return core::Done{};
    }
    core::Result<TimeZone::PosixZone> footer = PosixTzReader(tz).read();
    if (!footer) {
      return invalid("the footer " + quote_for_message(tz) +
                     " is not a POSIX TZ string: " + footer.error().message);
    }
    zone_.footer_ = std::move(*footer);
    return core::Done{};
  }

  std::string_view bytes_;
  TimeZone zone_;
};

core::Result<TimeZone> TimeZone::from_tzif(std::string name, std::string_view bytes) {
  return TimeZoneParser(std::move(name), bytes).parse();
}

TimeZone TimeZone::utc() {
  return TimeZoneParser::utc_named("UTC");
}

std::int64_t TimeZone::PosixRule::local_seconds_in(int year) const {
  const chrono::year rule_year{year};
  const chrono::local_days january_first{rule_year / chrono::January / 1};
  chrono::local_days date = january_first;
  switch (form) {
    case Form::month_week_day: {
      const chrono::month rule_month{static_cast<unsigned>(month)};
      const chrono::weekday rule_weekday{static_cast<unsigned>(weekday)};
      // Week 5 is "the last", whether the month has four or five of that weekday.
      date = week == 5
                 ? chrono::local_days{rule_year / rule_month / chrono::weekday_last{rule_weekday}}
                 : chrono::local_days{rule_year / rule_month /
                                      rule_weekday[static_cast<unsigned>(week)]};
      break;
    }
    case Form::julian_no_leap:
      // Jn never counts February 29: J60 is March 1 in every year.
      date = january_first + chrono::days{day - 1 + (rule_year.is_leap() && day >= 60 ? 1 : 0)};
      break;
    case Form::zero_based_day:
      date = january_first + chrono::days{day};
      break;
  }
  return (date + chrono::seconds{time}).time_since_epoch().count();
}

// Each rule's time is in the local time in force before its change.
std::int64_t TimeZone::PosixZone::dst_start_in(int rule_year) const {
  return start.local_seconds_in(rule_year) - standard.utc_offset;
}

std::int64_t TimeZone::PosixZone::dst_end_in(int rule_year) const {
  return end.local_seconds_in(rule_year) - daylight.utc_offset;
}

const TimeZone::LocalTimeType& TimeZone::type_at(std::int64_t instant) const {
  if (transitions_.empty()) {
    return footer_ ? footer_type_at(instant) : types_.front();
  }
  if (instant < transitions_.front()) {
    return types_.front();
  }
  if (footer_ && instant > transitions_.back()) {
    return footer_type_at(instant);
  }
  const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), instant);
  return types_[type_indexes_[static_cast<std::size_t>(after - transitions_.begin()) - 1]];
}

const TimeZone::LocalTimeType& TimeZone::footer_type_at(std::int64_t instant) const {
  const PosixZone& zone = *footer_;
  if (!zone.has_dst) {
    return zone.standard;
  }
  const std::int64_t in_cycle = split_cycles(instant).in_cycle;
  const int year = utc_year(in_cycle);
  // A change lies within 9 days of its rule year (rule times reach 167 h, offsets
  // 26 h), so the last change at or before `in_cycle` is one of rule years year-2
  // to year+1, and year-2 always has one before it.
  std::array<RuleChange, 8> changes{};
  auto next = changes.begin();
  for (int rule_year = year - 2; rule_year <= year + 1; ++rule_year) {
    *next++ = RuleChange{zone.dst_start_in(rule_year), rule_year, true};
    *next++ = RuleChange{zone.dst_end_in(rule_year), rule_year, false};
  }
  std::sort(changes.begin(), changes.end(), applies_before);
  bool in_dst = false;
  for (const RuleChange& change : changes) {
    if (change.instant > in_cycle) {
      break;
    }
    in_dst = change.to_dst;
  }
  return in_dst ? zone.daylight : zone.standard;
}

std::optional<std::int64_t> TimeZone::next_change(std::int64_t after, std::int64_t until) const {
  const LocalTimeType* in_force = &type_at(after);
  if (!transitions_.empty()) {
    for (auto transition = std::upper_bound(transitions_.begin(), transitions_.end(), after);
         transition != transitions_.end(); ++transition) {
      if (*transition > until) {
        return std::nullopt;
      }
      const LocalTimeType& type =
          types_[type_indexes_[static_cast<std::size_t>(transition - transitions_.begin())]];
      if (!(type == *in_force)) {
        return *transition;
      }
      in_force = &type;
    }
    if (!footer_) {
      return std::nullopt;
    }
    const std::int64_t last = transitions_.back();
    if (after <= last) {
      // The footer takes over just after the last transition; a file whose footer
      // disagrees with its last type changes there.
      if (last == std::numeric_limits<std::int64_t>::max() || last + 1 > until) {
        return std::nullopt;
      }
      const LocalTimeType& footer_type = footer_type_at(last + 1);
      if (!(footer_type == *in_force)) {
        return last + 1;
      }
      return next_footer_change(last + 1, footer_type, until);
    }
  }
  if (!footer_) {
    return std::nullopt;
  }
  return next_footer_change(after, *in_force, until);
}

std::optional<std::int64_t> TimeZone::next_footer_change(std::int64_t after,
                                                         const LocalTimeType& current,
                                                         std::int64_t until) const {
  const PosixZone& zone = *footer_;
  if (!zone.has_dst) {
    return std::nullopt;
  }
  const CycleSplit split = split_cycles(after);
  const std::int64_t until_in_cycle = saturating_add(split.in_cycle, saturating_sub(until, after));
  const LocalTimeType* in_force = &current;
  const int first_year = utc_year(split.in_cycle);
  for (int year = first_year; year <= first_year + kFooterSearchYears; ++year) {
    const std::int64_t year_begin = utc_year_start(year);
    const std::int64_t year_end = utc_year_start(year + 1);
    if (year_begin > until_in_cycle) {
      return std::nullopt;
    }
    // The changes inside UTC year `year` all come from rule years year-1 to year+1.
    std::array<RuleChange, 6> changes{};
    auto next = changes.begin();
    for (int rule_year = year - 1; rule_year <= year + 1; ++rule_year) {
      *next++ = RuleChange{zone.dst_start_in(rule_year), rule_year, true};
      *next++ = RuleChange{zone.dst_end_in(rule_year), rule_year, false};
    }
    std::sort(changes.begin(), changes.end(), applies_before);
    for (std::size_t i = 0; i < changes.size(); ++i) {
      const RuleChange& change = changes[i];
      // Changes at one instant count together: only where they leave the clocks matters.
      if (i + 1 < changes.size() && changes[i + 1].instant == change.instant) {
        continue;
      }
      if (change.instant <= split.in_cycle || change.instant < year_begin ||
          change.instant >= year_end) {
        continue;
      }
      if (change.instant > until_in_cycle) {
        return std::nullopt;
      }
      const LocalTimeType& type = change.to_dst ? zone.daylight : zone.standard;
      if (!(type == *in_force)) {
        return join_cycles(change.instant, split.cycles);
      }
      in_force = &type;
    }
  }
  return std::nullopt;
}

ZoneOffset TimeZone::offset_at(std::chrono::sys_seconds instant) const {
  const LocalTimeType& type = type_at(instant.time_since_epoch().count());
  return ZoneOffset{std::chrono::seconds{type.utc_offset}, type.is_dst, type.abbreviation};
}

std::chrono::local_seconds TimeZone::to_local(std::chrono::sys_seconds instant) const {
  const std::int64_t utc = instant.time_since_epoch().count();
  return std::chrono::local_seconds{
      std::chrono::seconds{saturating_add(utc, type_at(utc).utc_offset)}};
}

LocalTimeResolution TimeZone::from_local(std::chrono::local_seconds local) const {
  using Kind = LocalTimeResolution::Kind;
  const std::int64_t wall = local.time_since_epoch().count();
  // Every instant that shows `wall` lies in [first_candidate, last_candidate]
  // because offsets are bounded; walk the stretches of one offset in there.
  const std::int64_t first_candidate = saturating_sub(wall, kMaxUtcOffset);
  const std::int64_t last_candidate = saturating_sub(wall, kMinUtcOffset);
  std::optional<std::int64_t> earliest;
  std::optional<std::int64_t> latest;
  std::optional<std::int64_t> jump;
  std::int64_t stretch_begin = first_candidate;
  const LocalTimeType* type = &type_at(stretch_begin);
  while (true) {
    const std::optional<std::int64_t> change = next_change(stretch_begin, last_candidate);
    const std::int64_t stretch_end = change ? *change : saturating_add(last_candidate, 1);
    const std::int64_t instant = saturating_sub(wall, type->utc_offset);
    if (instant >= stretch_begin && instant < stretch_end) {
      if (!earliest) {
        earliest = instant;
      }
      latest = instant;
    }
    if (!change) {
      break;
    }
    const LocalTimeType& next = type_at(*change);
    if (saturating_add(*change, type->utc_offset) <= wall &&
        wall < saturating_add(*change, next.utc_offset)) {
      jump = *change;
    }
    stretch_begin = *change;
    type = &next;
  }
  const auto at = [](std::int64_t seconds) {
    return std::chrono::sys_seconds{std::chrono::seconds{seconds}};
  };
  if (earliest) {
    return LocalTimeResolution{*earliest == *latest ? Kind::unique : Kind::ambiguous, at(*earliest),
                               at(*latest)};
  }
  if (jump) {
    return LocalTimeResolution{Kind::nonexistent, at(*jump), at(*jump)};
  }
  // Only at the ends of sys_seconds, where the walk saturates: the nearest answer.
  const std::int64_t nearest = saturating_sub(wall, type_at(wall).utc_offset);
  return LocalTimeResolution{Kind::nonexistent, at(nearest), at(nearest)};
}

std::optional<std::chrono::sys_seconds> TimeZone::next_transition(
    std::chrono::sys_seconds instant) const {
  const std::optional<std::int64_t> change =
      next_change(instant.time_since_epoch().count(), std::numeric_limits<std::int64_t>::max());
  if (!change) {
    return std::nullopt;
  }
  return std::chrono::sys_seconds{std::chrono::seconds{*change}};
}

TimeZoneDatabase::TimeZoneDatabase(std::filesystem::path zoneinfo)
    : zoneinfo_(std::move(zoneinfo)) {}

core::Result<std::shared_ptr<const TimeZone>> TimeZoneDatabase::get(std::string_view name) {
  if (std::optional<core::Error> refused = refuse_zone_name(name)) {
    return std::move(*refused);
  }
  // Loading under the lock reads each file once, however many threads ask at once.
  const std::lock_guard lock(mutex_);
  if (const auto cached = zones_.find(name); cached != zones_.end()) {
    return cached->second;
  }
  std::shared_ptr<const TimeZone> zone;
  const fs::path path = zoneinfo_ / fs::path(name);
  core::Result<std::string> bytes = read_zone_file(path, name);
  if (bytes) {
    core::Result<TimeZone> parsed = TimeZone::from_tzif(std::string(name), *bytes);
    if (!parsed) {
      return core::make_error(parsed.error().code, path.string() + ": " + parsed.error().message);
    }
    zone = std::make_shared<const TimeZone>(std::move(parsed).value());
  } else if (bytes.error().code == ErrorCode::not_found && (name == "UTC" || name == "Etc/UTC")) {
    zone = std::make_shared<const TimeZone>(TimeZoneParser::utc_named(std::string(name)));
  } else {
    return bytes.error();
  }
  zones_.emplace(std::string(name), zone);
  return zone;
}

}  // namespace haveri::policy
