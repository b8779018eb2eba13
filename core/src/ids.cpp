#include <array>
#include <cstdio>
#include <ctime>

#include <haveri/core/ids.hpp>

namespace haveri::core {

namespace {

constexpr std::size_t kTimeLength = 24;  // 2026-11-24T02:43:50.123Z

bool is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap(year)) {
    return 29;
  }
  return kDays[static_cast<std::size_t>(month - 1)];
}

// Reads `count` ASCII digits at `pos`; false if any is not a digit.
bool read_digits(const std::string& text, std::size_t pos, std::size_t count, int& out) {
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::string format_time(TimePoint t) {
  const std::int64_t total_ms = t.time_since_epoch().count();
  // Floor division so instants before 1970 still get a millisecond part in [0, 999].
  std::int64_t seconds = total_ms / 1000;
  std::int64_t millis = total_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const auto as_time_t = static_cast<std::time_t>(seconds);
  std::tm parts{};
  if (gmtime_r(&as_time_t, &parts) == nullptr) {
    return "0000-00-00T00:00:00.000Z";
  }
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
                parts.tm_sec, static_cast<int>(millis));
  return std::string(buffer.data());
}

bool parse_time(const std::string& text, TimePoint& out) {
  if (text.size() != kTimeLength || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return false;
  }
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millis = 0;
  if (!read_digits(text, 0, 4, year) || !read_digits(text, 5, 2, month) ||
      !read_digits(text, 8, 2, day) || !read_digits(text, 11, 2, hour) ||
      !read_digits(text, 14, 2, minute) || !read_digits(text, 17, 2, second) ||
      !read_digits(text, 20, 3, millis)) {
    return false;
  }
  // timegm normalises out-of-range fields (Feb 30 → Mar 2); reject them instead.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::time_t seconds = timegm(&parts);
  out = TimePoint{std::chrono::milliseconds{static_cast<std::int64_t>(seconds) * 1000 + millis}};
  return true;
}

}  // namespace haveri::core
