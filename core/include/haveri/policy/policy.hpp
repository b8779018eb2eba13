#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/directory.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::policy {

// Escalation policies: who is paged, when, for which incidents. Admins keep them as
// YAML files in a policies directory under version control (docs/policies.md, the
// JSON Schema policies/policy.schema.json). Loaded at start and on SIGHUP; immutable
// once loaded, shared as std::shared_ptr<const PolicySet>.

// Where something was written, for messages: "policies/sev2.yaml:14:9".
struct SourceLocation {
  std::string file;  // as given to the loader (relative paths stay relative)
  int line = 0;      // 1-based
  int column = 0;    // 1-based
  bool operator==(const SourceLocation&) const = default;
};

// Weekly hours in the facility's time zone, with the directory's shift rules:
// `days` are the days a window starts on; an end earlier than the start runs past
// midnight into the next day (Sunday's into Monday); start == end is the whole day,
// 24 hours from `start`.
struct Window {
  std::vector<int> days;  // 0 = Monday … 6 = Sunday, ascending, no repeats
  std::chrono::minutes start{0};
  std::chrono::minutes end{0};
  bool operator==(const Window&) const = default;
};

// A named shift of a team in the directory ("maintenance/night").
struct ShiftRef {
  std::string team;
  std::string shift;
  bool operator==(const ShiftRef&) const = default;
};

// Which incidents a policy is for. Every list that is empty matches anything; the
// lists that are not must each match (AND), any entry of one list will do (OR).
struct Match {
  std::vector<core::Severity> severities;
  std::vector<std::string> areas;        // Area::id; an incident without area never matches
  std::vector<std::string> asset_types;  // matches when any asset of the incident has one
  // When the incident's chain starts (declared, or its severity or area changed):
  // inside any window or any named shift. Both empty: at any time.
  std::vector<Window> windows;
  std::vector<ShiftRef> shifts;
  bool operator==(const Match&) const = default;
};

// Whom one step notifies.
struct NotifyTarget {
  enum class Kind {
    team_on_shift,  // the team's members on duty when the step fires (shifts, overrides)
    members,        // these members, whatever the shifts
    team_channel,   // a post in the team's channel (Team::channel) mentioning those on duty
  };
  Kind kind = Kind::members;
  std::string team;                  // team_on_shift, team_channel
  std::vector<std::string> members;  // members
  bool operator==(const NotifyTarget&) const = default;
};

struct Step {
  // After the start of the chain (not after the previous step); steps are in
  // ascending order of `after`.
  std::chrono::seconds after{0};
  std::vector<NotifyTarget> notify;  // at least one
  // true (the default): an acknowledgement after the chain started cancels the step.
  // false: it still fires (keeping someone informed) unless the incident is resolved.
  bool if_unacknowledged = true;
  SourceLocation where;
  bool operator==(const Step&) const = default;
};

struct Policy {
  std::string name;          // unique within its organization; stored in events
  std::string organization;  // Organization::id
  std::string facility;      // Facility::id; windows and shifts are in its time zone
  std::string description;
  // Among the policies of a facility that match an incident, the one with the
  // highest priority is chosen (docs/policies.md, "Choosing a policy").
  int priority = 0;
  Match match;
  std::vector<Step> steps;  // at least one
  // The whole chain runs again `repeat` more times (0..10), each round starting
  // `repeat_every` after the previous one (longer than the last step's `after`).
  // An acknowledgement cancels the rounds not started yet; in the running round it
  // cancels the steps with if_unacknowledged, like in the first.
  int repeat = 0;
  std::chrono::seconds repeat_every{0};
  SourceLocation where;  // the policy's `name`
  bool operator==(const Policy&) const = default;
};

struct PolicySet {
  // Ordered by organization, facility (ids compared as strings), priority (highest
  // first), then file and line: the order selection tries them in.
  std::vector<Policy> policies;
  std::vector<std::string> files;  // the files read, sorted

  const Policy* find(std::string_view organization, std::string_view name) const noexcept;
  bool operator==(const PolicySet&) const = default;
};

// One problem found in a policy file, as "<file>:<line>:<column>: <message>".
struct PolicyProblem {
  SourceLocation where;
  std::string message;       // what is wrong and how to fix it
  bool warning = false;      // reported, but does not make the set invalid
  std::string text() const;  // "file:line:col: message" ("warning: " before warnings)
};

// Parses one policy file's text (a mapping with the key `policies`: a list of
// policies). Problems are appended to `problems`, in file order; the policies that
// are valid are returned, in file order (a set with any error is refused as a
// whole by load_policies). Names are not checked for uniqueness here
// (check_policy_set does). Text over 16 MiB is refused.
std::vector<Policy> parse_policy_file(std::string_view yaml_text, std::string_view file,
                                      const core::Directory& directory,
                                      std::vector<PolicyProblem>& problems);

// Checks a whole set against itself: duplicate names in an organization; two
// policies of a facility with the same priority that can match one incident
// (overlapping); a policy that can never be chosen because policies of higher
// priority match everything it matches (unreachable); and, as warnings, for each
// severity some policy of a facility is for, the first incident no policy of the
// facility matches (gaps). Policies whose organization or facility the directory
// does not have are only checked for duplicate names. Appends to `problems`, in
// no particular order.
void check_policy_set(const PolicySet& set, const core::Directory& directory,
                      std::vector<PolicyProblem>& problems);

// Reads every *.yaml / *.yml file directly in `directory_path` (not in
// subdirectories: policies/tests/ holds test files; not hidden files), in name
// order, and checks the set. Files are named in problems as `directory_path /
// name`. Returns ErrorCode::invalid_argument whose message lists every error (and
// warning), one per line in file order, then "<directory_path>: N problems[, M
// warnings]", if any error was found; gaps are not reported while a file has
// errors. A missing or unreadable directory is an error naming it; a directory
// without policy files is an empty set with a warning. `warnings` (optional) has
// the warnings of a valid set appended.
core::Result<PolicySet> load_policies(const std::filesystem::path& directory_path,
                                      const core::Directory& directory,
                                      std::vector<PolicyProblem>* warnings = nullptr);

// "15m", "1h30m", "90s", "2h", "0": a duration for `after` and `repeat_every`
// (units h, m, s; whole numbers; at most 7 days). nullopt for anything else.
std::optional<std::chrono::seconds> parse_policy_duration(std::string_view text);

}  // namespace haveri::policy
