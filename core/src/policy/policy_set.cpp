// check_policy_set: what can only be seen across policies — duplicate names, policies of
// a facility that overlap, that can never be chosen, and incidents no policy matches.
//
// Decided exactly on "cells" and week minutes. A cell is one kind of incident of a
// facility: a severity × an area (or no area) × an asset type (or none of the types the
// policies name). Areas no policy of the facility names behave alike, as do asset types
// no policy names, so each such class is one cell, shown by its first member. Time is
// the set of the week's 10080 local minutes in which a chain may start.

#include <algorithm>
#include <bitset>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <haveri/core/yaml_text.hpp>
#include <haveri/policy/policy.hpp>

#include "policy_text.hpp"

namespace haveri::policy {

namespace {

using WeekMinutes = std::bitset<kWeekMinutes>;

constexpr std::array<core::Severity, 3> kSeverities = {core::Severity::sev1, core::Severity::sev2,
                                                       core::Severity::sev3};
// Policies named in an "unreachable" message at most.
constexpr std::size_t kMaxNamesShown = 5;

std::string quote(std::string_view text) {
  return core::quote_for_message(text);
}

void add_window(WeekMinutes& minutes, const std::vector<int>& days, std::chrono::minutes start,
                std::chrono::minutes end) {
  constexpr int kDay = 24 * 60;
  const int from = static_cast<int>(start.count());
  const int to = static_cast<int>(end.count());
  // An end before the start runs into the next day; start == end is a whole day.
  const int length = to > from ? to - from : to + kDay - from;
  for (const int day : days) {
    for (int i = 0; i < length; ++i) {
      minutes.set(static_cast<std::size_t>((day * kDay + from + i) % kWeekMinutes));
    }
  }
}

// When a policy's chain may start: its windows and shifts, or the whole week.
WeekMinutes week_minutes(const Policy& policy, const core::Organization& org) {
  WeekMinutes minutes;
  for (const auto& window : policy.match.windows) {
    add_window(minutes, window.days, window.start, window.end);
  }
  for (const auto& ref : policy.match.shifts) {
    if (const core::Team* team = org.team(ref.team)) {
      for (const auto& shift : team->shifts) {
        if (shift.name == ref.shift) {
          add_window(minutes, shift.days, shift.start, shift.end);
        }
      }
    }
  }
  if (policy.match.windows.empty() && policy.match.shifts.empty()) {
    minutes.set();
  }
  return minutes;
}

std::optional<int> first_minute(const WeekMinutes& minutes) {
  for (std::size_t i = 0; i < minutes.size(); ++i) {
    if (minutes.test(i)) {
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

template <class T>
bool contains(const std::vector<T>& items, const T& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// The cells of one facility and which of them each policy matches.
class FacilityCells {
 public:
  FacilityCells(const core::Organization& org, const core::Facility& facility,
                const std::vector<const Policy*>& policies) {
    std::set<std::string, std::less<>> named_areas;
    std::set<std::string, std::less<>> named_types;
    for (const Policy* policy : policies) {
      named_areas.insert(policy->match.areas.begin(), policy->match.areas.end());
      named_types.insert(policy->match.asset_types.begin(), policy->match.asset_types.end());
    }
    bool unnamed_area_shown = false;
    for (const auto& area : org.areas) {
      if (area.facility != facility.id) {
        continue;
      }
      if (named_areas.contains(area.id)) {
        areas_.push_back(area.id);
      } else if (!unnamed_area_shown) {
        areas_.push_back(area.id);
        unnamed_area_shown = true;
      }
    }
    areas_.emplace_back();  // no area
    types_.emplace_back();  // none of the named types
    for (const auto& asset : org.assets) {
      const core::Area* area = org.area(asset.area);
      if (area != nullptr && area->facility == facility.id &&
          named_types.contains(asset.asset_type) && !contains(types_, asset.asset_type)) {
        types_.push_back(asset.asset_type);
      }
    }
  }

  std::size_t size() const { return kSeverities.size() * areas_.size() * types_.size(); }
  std::size_t per_severity() const { return areas_.size() * types_.size(); }

  bool matches(const Policy& policy, std::size_t cell) const {
    const auto [severity, area, type] = split(cell);
    const Match& match = policy.match;
    if (!match.severities.empty() && !contains(match.severities, severity)) {
      return false;
    }
    if (!match.areas.empty() && !contains(match.areas, area)) {
      return false;
    }
    // The "none of the named types" cell stands for types no policy names.
    return match.asset_types.empty() || (!type.empty() && contains(match.asset_types, type));
  }

  bool matches_severity(const Policy& policy, core::Severity severity) const {
    return policy.match.severities.empty() || contains(policy.match.severities, severity);
  }

  // "SEV2 incidents in area \"assembly\" with a \"conveyor\" asset". `holds` says
  // whether what is said of `cell` is also true of another cell: asset types for which
  // it is true of every one are left unsaid.
  std::string describe(std::size_t cell, const std::function<bool(std::size_t)>& holds) const {
    const auto [severity, area, type] = split(cell);
    std::string out = std::string(core::to_string(severity)) + " incidents";
    out += area.empty() ? " without an area" : " in area " + quote(area);
    if (!type.empty()) {
      return out + " with a " + quote(type) + " asset";
    }
    std::vector<std::string> excluded;  // types of which it is not true
    const std::size_t first_of_area = cell - cell % types_.size();
    for (std::size_t t = 1; t < types_.size(); ++t) {
      if (!holds(first_of_area + t)) {
        excluded.push_back(quote(types_[t]));
      }
    }
    for (std::size_t i = 0; i < excluded.size(); ++i) {
      out += i == 0 ? " with no asset of type " : (i + 1 == excluded.size() ? " or " : ", ");
      out += excluded[i];
    }
    return out;
  }

 private:
  std::tuple<core::Severity, const std::string&, const std::string&> split(std::size_t cell) const {
    const std::size_t type = cell % types_.size();
    const std::size_t area = cell / types_.size() % areas_.size();
    const std::size_t severity = cell / per_severity();
    return {kSeverities.at(severity), areas_[area], types_[type]};
  }

  // Named areas and the first area no policy names (standing for them all), in the
  // directory's order, then "" (no area).
  std::vector<std::string> areas_;
  std::vector<std::string> types_;  // "" (none of the named), then named types
};

struct Candidate {
  const Policy* policy;
  WeekMinutes minutes;
  std::vector<std::size_t> cells;  // ascending
};

std::string names_of(const std::vector<const Policy*>& policies) {
  std::string out;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    if (i == kMaxNamesShown) {
      out += ", …";
      break;
    }
    out += i == 0 ? "" : ", ";
    out += quote(policies[i]->name);
  }
  return out;
}

void check_facility(const core::Organization& org, const core::Facility& facility,
                    std::vector<const Policy*> policies, std::vector<PolicyProblem>& problems) {
  std::stable_sort(policies.begin(), policies.end(), [](const Policy* a, const Policy* b) {
    return written_before(a->where, b->where);
  });
  const FacilityCells cells(org, facility, policies);
  std::vector<Candidate> candidates;
  for (const Policy* policy : policies) {
    Candidate candidate{policy, week_minutes(*policy, org), {}};
    for (std::size_t cell = 0; cell < cells.size(); ++cell) {
      if (cells.matches(*policy, cell)) {
        candidate.cells.push_back(cell);
      }
    }
    candidates.push_back(std::move(candidate));
  }

  // Overlaps: same priority, a common cell and a common minute.
  for (std::size_t j = 0; j < candidates.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const Candidate& a = candidates[i];
      const Candidate& b = candidates[j];
      if (a.policy->priority != b.policy->priority) {
        continue;
      }
      const auto minute = first_minute(a.minutes & b.minutes);
      if (!minute) {
        continue;
      }
      std::vector<std::size_t> common;
      std::set_intersection(a.cells.begin(), a.cells.end(), b.cells.begin(), b.cells.end(),
                            std::back_inserter(common));
      if (common.empty()) {
        continue;
      }
      problems.push_back(
          {b.policy->where,
           "policy " + quote(b.policy->name) + " overlaps policy " + quote(a.policy->name) + " (" +
               format_location(a.policy->where) + "): both match " +
               cells.describe(common.front(),
                              [&](std::size_t cell) {
                                return std::binary_search(a.cells.begin(), a.cells.end(), cell) &&
                                       std::binary_search(b.cells.begin(), b.cells.end(), cell);
                              }) +
               " on " + format_week_minute(*minute) +
               "; give one a higher priority or narrow its match"});
    }
  }

  // Unreachable: every minute of every cell taken by policies of higher priority.
  std::vector<std::size_t> by_priority(candidates.size());
  for (std::size_t i = 0; i < by_priority.size(); ++i) {
    by_priority[i] = i;
  }
  std::stable_sort(by_priority.begin(), by_priority.end(), [&](std::size_t a, std::size_t b) {
    return candidates[a].policy->priority > candidates[b].policy->priority;
  });
  std::map<std::size_t, WeekMinutes> taken;  // cell -> minutes of higher priority
  std::size_t level_start = 0;
  while (level_start < by_priority.size()) {
    const int priority = candidates[by_priority[level_start]].policy->priority;
    std::size_t level_end = level_start;
    while (level_end < by_priority.size() &&
           candidates[by_priority[level_end]].policy->priority == priority) {
      ++level_end;
    }
    for (std::size_t k = level_start; k < level_end; ++k) {
      const Candidate& candidate = candidates[by_priority[k]];
      if (candidate.cells.empty()) {
        continue;  // matches no incident of the directory (reported as a warning)
      }
      const bool covered =
          std::all_of(candidate.cells.begin(), candidate.cells.end(), [&](std::size_t cell) {
            const auto it = taken.find(cell);
            return it != taken.end() && (candidate.minutes & ~it->second).none();
          });
      if (!covered) {
        continue;
      }
      std::vector<const Policy*> higher;
      for (std::size_t h = 0; h < level_start; ++h) {
        const Candidate& other = candidates[by_priority[h]];
        std::vector<std::size_t> common;
        std::set_intersection(other.cells.begin(), other.cells.end(), candidate.cells.begin(),
                              candidate.cells.end(), std::back_inserter(common));
        if (!common.empty() && (other.minutes & candidate.minutes).any()) {
          higher.push_back(other.policy);
        }
      }
      problems.push_back(
          {candidate.policy->where, "policy " + quote(candidate.policy->name) +
                                        " is unreachable: policies of higher priority (" +
                                        names_of(higher) + ") match every incident it matches"});
    }
    for (std::size_t k = level_start; k < level_end; ++k) {
      const Candidate& candidate = candidates[by_priority[k]];
      for (const std::size_t cell : candidate.cells) {
        taken[cell] |= candidate.minutes;
      }
    }
    level_start = level_end;
  }

  // Gaps: for each severity some policy is for, the first incident none matches.
  for (std::size_t s = 0; s < kSeverities.size(); ++s) {
    const Policy* first = nullptr;
    for (const auto& candidate : candidates) {
      if (cells.matches_severity(*candidate.policy, kSeverities.at(s))) {
        first = candidate.policy;
        break;
      }
    }
    if (first == nullptr) {
      continue;
    }
    const auto covered_in = [&](std::size_t cell) {
      WeekMinutes covered;
      for (const auto& candidate : candidates) {
        if (std::binary_search(candidate.cells.begin(), candidate.cells.end(), cell)) {
          covered |= candidate.minutes;
        }
      }
      return covered;
    };
    for (std::size_t cell = s * cells.per_severity(); cell < (s + 1) * cells.per_severity();
         ++cell) {
      if (const auto minute = first_minute(~covered_in(cell))) {
        const auto uncovered = [&](std::size_t other) {
          return !covered_in(other).test(static_cast<std::size_t>(*minute));
        };
        problems.push_back({first->where,
                            "no policy of facility " + quote(facility.id) + " matches " +
                                cells.describe(cell, uncovered) + " on " +
                                format_week_minute(*minute),
                            true});
        break;
      }
    }
  }
}

}  // namespace

void check_policy_set(const PolicySet& set, const core::Directory& directory,
                      std::vector<PolicyProblem>& problems) {
  // Duplicate names, reported at every policy after the first of its name.
  std::vector<const Policy*> written;
  for (const auto& policy : set.policies) {
    written.push_back(&policy);
  }
  std::stable_sort(written.begin(), written.end(), [](const Policy* a, const Policy* b) {
    return written_before(a->where, b->where);
  });
  std::map<std::pair<std::string, std::string>, const Policy*> first_named;
  std::map<std::pair<std::string, std::string>, std::vector<const Policy*>> by_facility;
  for (const Policy* policy : written) {
    const auto [first, inserted] =
        first_named.emplace(std::pair(policy->organization, policy->name), policy);
    if (!inserted) {
      problems.push_back({policy->where, "duplicate policy name " + quote(policy->name) +
                                             " (first at " + format_location(first->second->where) +
                                             "); names are unique within organization " +
                                             quote(policy->organization)});
      continue;
    }
    by_facility[std::pair(policy->organization, policy->facility)].push_back(policy);
  }
  for (const auto& [key, policies] : by_facility) {
    const core::Organization* org = directory.organization(key.first);
    const core::Facility* facility = org != nullptr ? org->facility(key.second) : nullptr;
    if (facility != nullptr) {
      check_facility(*org, *facility, policies, problems);
    }
  }
}

}  // namespace haveri::policy
