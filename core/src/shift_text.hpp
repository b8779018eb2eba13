#pragma once
// The `days` and `hours` of a weekly window, as written in the directory (shifts) and in
// policies (`match.during`): one reading, one wording of errors, for both loaders.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
struct Mark;
}  // namespace YAML

namespace haveri::core {

// Receives one problem: where it is and the whole message ("<what>: days: …").
using ShiftTextReport = std::function<void(const YAML::Mark&, const std::string&)>;

// What a missing key is told to look like, after `required key "days" is missing`.
inline constexpr std::string_view kDaysHint = " (mon-fri, daily or a list such as [sat, sun])";
inline constexpr std::string_view kHoursHint = " (such as 06:00-14:00)";

// "mon" … "sun" for 0 … 6.
std::string_view day_name(int day);

// "daily", a day name ("sat") or a range of days ("mon-fri"; "fri-mon" wraps over the
// weekend) as days 0 = Monday … 6 = Sunday in the order they come; nullopt otherwise.
std::optional<std::vector<int>> parse_days(std::string_view text);

// Start and end of "HH:MM-HH:MM" (24-hour clock, spaces around '-' allowed, "24:00" only
// as the end, meaning midnight), as minutes from midnight; nullopt otherwise.
struct ShiftHours {
  std::chrono::minutes start{0};
  std::chrono::minutes end{0};
};
std::optional<ShiftHours> parse_hours(std::string_view text);

// Reads a `days` value: one of the forms of parse_days, or a list of them; a day may
// appear once. `where` is reported when the value itself has no position (nothing
// written). Returns the days ascending, or nullopt after reporting every problem, each
// prefixed by `what` ("team \"t\", shift \"night\"").
std::optional<std::vector<int>> read_days(const YAML::Node& value, const YAML::Mark& where,
                                          std::string_view what, const ShiftTextReport& report);

// Reads an `hours` value (a string for parse_hours); nullopt after reporting.
std::optional<ShiftHours> read_hours(const YAML::Node& value, const YAML::Mark& where,
                                     std::string_view what, const ShiftTextReport& report);

}  // namespace haveri::core
