#pragma once
// Pieces of the policy loader shared by its sources (policy.cpp, policy_file.cpp,
// policy_set.cpp): how durations, places and week minutes are read and written.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <haveri/policy/policy.hpp>

namespace haveri::policy {

// The longest `after` or `repeat.every`: a week.
inline constexpr std::chrono::seconds kMaxPolicyDuration = std::chrono::hours(24 * 7);
// Minutes in a week: Monday 00:00 local is minute 0.
inline constexpr int kWeekMinutes = 7 * 24 * 60;

// A duration's syntax ("1h30m"), however long; nullopt when it is not one.
std::optional<std::chrono::seconds> parse_duration_syntax(std::string_view text);

// "1h30m", "90s" becomes "1m30s", "0" for zero: how a duration is shown in messages.
std::string format_duration(std::chrono::seconds duration);

// "policies/a.yaml:3:11" ("policies/a.yaml" without a line).
std::string format_location(const SourceLocation& where);

// "Mon 06:00" for a minute of the week.
std::string format_week_minute(int minute);

// The order policies are written in: file, then line, then column.
bool written_before(const SourceLocation& a, const SourceLocation& b);

}  // namespace haveri::policy
