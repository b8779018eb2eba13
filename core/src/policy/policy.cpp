#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>
#include <tuple>
#include <utility>

#include <haveri/policy/policy.hpp>

#include "../yaml_input.hpp"
#include "policy_text.hpp"

namespace haveri::policy {

namespace {

namespace fs = std::filesystem;

bool is_policy_file_name(const std::string& name) {
  // Hidden files are editors' and tools' (".#a.yaml" is an Emacs lock link).
  if (name.empty() || name.front() == '.') {
    return false;
  }
  const auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".yaml") || ends_with(".yml");
}

std::string count_of(std::size_t n, std::string_view what) {
  return std::to_string(n) + ' ' + std::string(what) + (n == 1 ? "" : "s");
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration_syntax(std::string_view text) {
  if (text == "0") {
    return std::chrono::seconds(0);
  }
  constexpr std::array<std::pair<char, std::int64_t>, 3> kUnits = {
      {{'h', 3600}, {'m', 60}, {'s', 1}}};
  constexpr std::size_t kMaxDigits = 9;  // keeps the sum far from overflowing
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units come in the order h, m, s, each at most once
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      ++i;
      if (++digits > kMaxDigits) {
        return std::nullopt;
      }
    }
    if (digits == 0 || i == text.size()) {
      return std::nullopt;
    }
    const char unit = text[i++];
    while (next_unit < kUnits.size() && kUnits.at(next_unit).first != unit) {
      ++next_unit;
    }
    if (next_unit == kUnits.size()) {
      return std::nullopt;
    }
    total += number * kUnits.at(next_unit).second;
    ++next_unit;
  }
  if (text.empty()) {
    return std::nullopt;
  }
  return std::chrono::seconds(total);
}

std::optional<std::chrono::seconds> parse_policy_duration(std::string_view text) {
  const auto duration = parse_duration_syntax(text);
  if (!duration || *duration > kMaxPolicyDuration) {
    return std::nullopt;
  }
  return duration;
}

std::string format_duration(std::chrono::seconds duration) {
  if (duration.count() <= 0) {
    return "0";
  }
  const auto total = duration.count();
  std::string out;
  if (total / 3600 != 0) {
    out += std::to_string(total / 3600) + 'h';
  }
  if (total % 3600 / 60 != 0) {
    out += std::to_string(total % 3600 / 60) + 'm';
  }
  if (total % 60 != 0) {
    out += std::to_string(total % 60) + 's';
  }
  return out;
}

std::string format_location(const SourceLocation& where) {
  std::string out = where.file;
  if (where.line > 0) {
    out += ':' + std::to_string(where.line) + ':' + std::to_string(where.column);
  }
  return out;
}

std::string format_week_minute(int minute) {
  constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                     "Fri", "Sat", "Sun"};
  const int in_week = ((minute % kWeekMinutes) + kWeekMinutes) % kWeekMinutes;
  const int day = in_week / (24 * 60);
  const int hour = in_week % (24 * 60) / 60;
  const int min = in_week % 60;
  std::array<char, 16> clock{};
  std::snprintf(clock.data(), clock.size(), "%02d:%02d", hour, min);
  return std::string(kDays.at(static_cast<std::size_t>(day))) + ' ' + clock.data();
}

bool written_before(const SourceLocation& a, const SourceLocation& b) {
  return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
}

const Policy* PolicySet::find(std::string_view organization, std::string_view name) const noexcept {
  for (const auto& policy : policies) {
    if (policy.organization == organization && policy.name == name) {
      return &policy;
    }
  }
  return nullptr;
}

std::string PolicyProblem::text() const {
  std::string out;
  if (!where.file.empty()) {
    out = format_location(where) + ": ";
  }
  if (warning) {
    out += "warning: ";
  }
  out += message;
  return out;
}

core::Result<PolicySet> load_policies(const std::filesystem::path& directory_path,
                                      const core::Directory& directory,
                                      std::vector<PolicyProblem>* warnings) {
  const std::string shown = directory_path.string();
  const auto refuse = [&](const std::string& message) {
    return core::make_error(core::ErrorCode::invalid_argument, message);
  };
  std::error_code ec;
  const auto status = fs::status(directory_path, ec);
  if (ec) {
    return refuse(shown + ": cannot read the policies directory: " + ec.message());
  }
  if (!fs::is_directory(status)) {
    return refuse(shown + ": not a directory; policies.path names the directory of policy files");
  }
  PolicySet set;
  fs::directory_iterator entries(directory_path, ec);
  for (; !ec && entries != fs::directory_iterator(); entries.increment(ec)) {
    const fs::directory_entry& entry = *entries;
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (is_policy_file_name(name) && !entry.is_directory(type_ec)) {
      set.files.push_back((directory_path / name).string());
    }
  }
  if (ec) {
    return refuse(shown + ": cannot read the policies directory: " + ec.message());
  }
  std::sort(set.files.begin(), set.files.end());

  std::vector<PolicyProblem> problems;
  if (set.files.empty()) {
    problems.push_back(
        {SourceLocation{shown, 0, 0},
         "no policy files in this directory (*.yaml or *.yml); no incident will be escalated",
         true});
  }
  for (const auto& file : set.files) {
    auto [text, error] = core::read_bounded_file(file, core::kMaxYamlFileBytes);
    if (error == EFBIG) {
      problems.push_back({SourceLocation{file, 0, 0}, "larger than 16 MiB; is it the right file?"});
      continue;
    }
    if (error != 0) {
      problems.push_back(
          {SourceLocation{file, 0, 0}, "cannot read: " + std::generic_category().message(error)});
      continue;
    }
    auto policies = parse_policy_file(text, file, directory, problems);
    std::move(policies.begin(), policies.end(), std::back_inserter(set.policies));
  }
  const auto is_error = [](const PolicyProblem& p) { return !p.warning; };
  const bool file_errors = std::any_of(problems.begin(), problems.end(), is_error);
  std::stable_sort(set.policies.begin(), set.policies.end(), [](const Policy& a, const Policy& b) {
    if (a.organization != b.organization) {
      return a.organization < b.organization;
    }
    if (a.facility != b.facility) {
      return a.facility < b.facility;
    }
    if (a.priority != b.priority) {
      return a.priority > b.priority;
    }
    return written_before(a.where, b.where);
  });
  const std::size_t before_set_check = problems.size();
  check_policy_set(set, directory, problems);
  if (file_errors) {
    // Gaps in a set missing its invalid policies would mostly be noise.
    problems.erase(std::remove_if(problems.begin() + static_cast<std::ptrdiff_t>(before_set_check),
                                  problems.end(), [](const PolicyProblem& p) { return p.warning; }),
                   problems.end());
  }
  std::stable_sort(problems.begin(), problems.end(),
                   [](const PolicyProblem& a, const PolicyProblem& b) {
                     return written_before(a.where, b.where);
                   });
  const auto errors =
      static_cast<std::size_t>(std::count_if(problems.begin(), problems.end(), is_error));
  if (errors == 0) {
    if (warnings != nullptr) {
      std::move(problems.begin(), problems.end(), std::back_inserter(*warnings));
    }
    return set;
  }
  std::string message;
  for (const auto& problem : problems) {
    message += problem.text();
    message += '\n';
  }
  message += shown + ": " + count_of(errors, "problem");
  if (problems.size() > errors) {
    message += ", " + count_of(problems.size() - errors, "warning");
  }
  return refuse(message);
}

}  // namespace haveri::policy
