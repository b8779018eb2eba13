#include "shift_text.hpp"

#include <array>

#include <yaml-cpp/yaml.h>

#include <haveri/core/yaml_text.hpp>

namespace haveri::core {

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

// "mon" -> 0 … "sun" -> 6.
std::optional<int> day_index(std::string_view name) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == name) {
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

// "HH:MM" (or "H:MM") on a 24-hour clock, as minutes from midnight. "24:00" only
// where `allow_midnight_end`, meaning the end of the day.
std::optional<int> clock_minutes(std::string_view text, bool allow_midnight_end) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) {
    return std::nullopt;
  }
  const auto digits = [](std::string_view part) {
    int value = 0;
    for (const char c : part) {
      if (c < '0' || c > '9') {
        return -1;
      }
      value = value * 10 + (c - '0');
    }
    return value;
  };
  const int hours = digits(text.substr(0, colon));
  const int minutes = digits(text.substr(colon + 1));
  if (hours < 0 || minutes < 0 || minutes > 59) {
    return std::nullopt;
  }
  if (hours == 24 && minutes == 0 && allow_midnight_end) {
    return 0;
  }
  if (hours > 23) {
    return std::nullopt;
  }
  return hours * 60 + minutes;
}

std::string day_list() {
  std::string out;
  for (const auto name : kDayNames) {
    out += out.empty() ? "" : ", ";
    out += name;
  }
  return out;
}

}  // namespace

std::string_view day_name(int day) {
  return day >= 0 && day < 7 ? kDayNames.at(static_cast<std::size_t>(day)) : std::string_view("?");
}

std::optional<std::vector<int>> parse_days(std::string_view text) {
  if (text == "daily") {
    return std::vector<int>{0, 1, 2, 3, 4, 5, 6};
  }
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    if (auto day = day_index(text)) {
      return std::vector<int>{*day};
    }
    return std::nullopt;
  }
  const auto first = day_index(text.substr(0, dash));
  const auto last = day_index(text.substr(dash + 1));
  if (!first || !last) {
    return std::nullopt;
  }
  std::vector<int> days;
  for (int day = *first;; day = (day + 1) % 7) {
    days.push_back(day);
    if (day == *last) {
      break;
    }
  }
  return days;
}

std::optional<ShiftHours> parse_hours(std::string_view text) {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  const auto trim = [](std::string_view part) {
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    while (!part.empty() && part.back() == ' ') {
      part.remove_suffix(1);
    }
    return part;
  };
  const auto start = clock_minutes(trim(text.substr(0, dash)), false);
  const auto end = clock_minutes(trim(text.substr(dash + 1)), true);
  if (!start || !end) {
    return std::nullopt;
  }
  return ShiftHours{std::chrono::minutes(*start), std::chrono::minutes(*end)};
}

std::optional<std::vector<int>> read_days(const YAML::Node& value, const YAML::Mark& where,
                                          std::string_view what, const ShiftTextReport& report) {
  const std::string prefix(what);
  const std::string expected =
      prefix + ": days: expected day names (" + day_list() + "), a range such as mon-fri, or daily";
  std::array<int, 7> first_line{};  // 0: not listed yet
  bool ok = true;
  const auto add = [&](const YAML::Node& item) {
    if (!item.IsScalar()) {
      report(item.Mark(), expected + ", got " + describe_yaml(item));
      ok = false;
      return;
    }
    const auto days = parse_days(item.Scalar());
    if (!days) {
      report(item.Mark(), expected + ", got " + quote_for_message(item.Scalar()));
      ok = false;
      return;
    }
    for (const int day : *days) {
      const auto slot = static_cast<std::size_t>(day);
      if (first_line.at(slot) != 0) {
        report(item.Mark(), prefix + ": days: " + std::string(kDayNames.at(slot)) +
                                " is listed twice (first at line " +
                                std::to_string(first_line.at(slot)) + ")");
        ok = false;
        continue;
      }
      first_line.at(slot) = item.Mark().line + 1;
    }
  };
  const YAML::Mark mark = value.IsNull() || value.Mark().is_null() ? where : value.Mark();
  if (value.IsSequence()) {
    if (value.size() == 0) {
      report(mark, prefix + ": days: the list is empty; name at least one day");
      return std::nullopt;
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      add(*it);
    }
  } else if (value.IsScalar()) {
    add(value);
  } else {
    report(mark, expected + ", got " + describe_yaml(value));
    return std::nullopt;
  }
  if (!ok) {
    return std::nullopt;
  }
  std::vector<int> days;
  for (std::size_t day = 0; day < first_line.size(); ++day) {
    if (first_line.at(day) != 0) {
      days.push_back(static_cast<int>(day));
    }
  }
  return days;
}

std::optional<ShiftHours> read_hours(const YAML::Node& value, const YAML::Mark& where,
                                     std::string_view what, const ShiftTextReport& report) {
  const std::string prefix(what);
  const YAML::Mark mark = value.IsNull() || value.Mark().is_null() ? where : value.Mark();
  if (!value.IsScalar()) {
    report(mark, prefix + ": hours: expected a string, got " + describe_yaml(value));
    return std::nullopt;
  }
  if (value.Scalar().empty()) {
    report(mark, prefix + ": hours: must not be empty");
    return std::nullopt;
  }
  if (auto hours = parse_hours(value.Scalar())) {
    return hours;
  }
  report(mark, prefix +
                   ": hours: expected \"HH:MM-HH:MM\" on a 24-hour clock (such as 06:00-14:00, or "
                   "22:00-06:00 for a night shift), got " +
                   quote_for_message(value.Scalar()));
  return std::nullopt;
}

}  // namespace haveri::core
