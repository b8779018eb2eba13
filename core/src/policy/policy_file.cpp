// parse_policy_file: one policy file, read the way the directory is read (every problem
// reported at once, at the node that is wrong, naming what is allowed).

#include <algorithm>
#include <array>
#include <map>
#include <span>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <haveri/core/yaml_text.hpp>
#include <haveri/policy/policy.hpp>

#include "../shift_text.hpp"
#include "../yaml_input.hpp"
#include "../yaml_schema.hpp"
#include "policy_text.hpp"

namespace haveri::policy {

namespace {

constexpr std::size_t kMaxSteps = 50;
constexpr std::size_t kMaxTargets = 20;
constexpr int kMaxRepeat = 10;
constexpr int kMaxPriority = 1000;
constexpr std::size_t kMaxNameBytes = 100;
// Ids listed in an "unknown …" message at most.

// The keys each level accepts; docs/policies.md and policies/policy.schema.json list
// the same (a test compares the schema with what this reader reports as allowed).
constexpr std::array<std::string_view, 1> kFileKeys = {"policies"};
constexpr std::array<std::string_view, 8> kPolicyKeys = {
    "name", "organization", "facility", "description", "priority", "match", "steps", "repeat"};
constexpr std::array<std::string_view, 5> kMatchKeys = {"severity", "area", "asset_type", "during",
                                                        "shift"};
constexpr std::array<std::string_view, 2> kWindowKeys = {"days", "hours"};
constexpr std::array<std::string_view, 3> kStepKeys = {"after", "if_unacknowledged", "notify"};
constexpr std::array<std::string_view, 3> kTargetKeys = {"team", "members", "team_channel"};
constexpr std::array<std::string_view, 2> kRepeatKeys = {"times", "every"};

std::string quote(std::string_view text) {
  return core::quote_for_message(text);
}

std::string describe(const YAML::Node& node) {
  return core::describe_yaml(node);
}

// [a-z0-9-]+: a policy name is stored in events and typed in commands.
bool is_policy_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

using core::yaml_schema::Field;
using core::yaml_schema::line_of;
using core::yaml_schema::list_ids;
using core::yaml_schema::Mapping;

// A scalar of a list (or the single scalar written instead of a list), with its place.
struct Item {
  std::string text;
  YAML::Mark mark;
};

// Reads a parsed policy file, collecting every problem instead of stopping at the first.
class PolicyReader : public core::yaml_schema::SchemaReading<PolicyReader> {
 public:
  PolicyReader(std::string_view file, const core::Directory& directory,
               std::vector<PolicyProblem>& problems)
      : file_(file), directory_(directory), problems_(problems) {}

  std::vector<Policy> read(const YAML::Node& root) {
    std::vector<Policy> policies;
    if (!root.IsMap()) {
      report(root.Mark(),
             "expected a mapping with the key policies at the top level, got " + describe(root));
      return policies;
    }
    const Mapping top = mapping(root, kFileKeys);
    finish(top, "");
    const Field* list_field = top.find("policies");
    if (list_field == nullptr) {
      report(top.mark,
             "required key \"policies\" is missing (a list of policies, each with a name, a "
             "facility and steps)");
      return policies;
    }
    const auto items = list(*list_field, "", "policies");
    if (items && items->empty()) {
      report(mark_of(*list_field), "policies: the list is empty; this file defines no policy",
             true);
    }
    for (const auto& item : items.value_or(std::vector<YAML::Node>{})) {
      if (auto policy = read_policy(item)) {
        policies.push_back(std::move(*policy));
      }
    }
    return policies;
  }

  void report(const YAML::Mark& mark, const std::string& message, bool warning = false) {
    const bool located = !mark.is_null() && mark.line >= 0 && mark.column >= 0;
    problems_.push_back(
        {SourceLocation{file_, located ? mark.line + 1 : 0, located ? mark.column + 1 : 0}, message,
         warning});
    if (!warning) {
      ++errors_;
    }
  }

 private:
  SourceLocation location(const YAML::Mark& mark) const {
    return SourceLocation{file_, mark.line + 1, mark.column + 1};
  }

  // A list of strings, or one string written alone (`severity: SEV1`). Nothing written
  // is nullopt (the key is as good as absent); an empty list is reported with `empty`.
  // Items that are not strings, or are empty, are reported and left out.
  std::optional<std::vector<Item>> strings(const Field& field, std::string_view what,
                                           std::string_view key, std::string_view empty) {
    const std::string label = prefix(what) + std::string(key) + ": ";
    if (field.value.IsNull()) {
      return std::nullopt;
    }
    std::vector<YAML::Node> nodes;
    if (field.value.IsScalar()) {
      nodes.push_back(field.value);
    } else if (field.value.IsSequence()) {
      if (field.value.size() == 0) {
        report(mark_of(field), label + "the list is empty; " + std::string(empty));
        return std::vector<Item>{};
      }
      for (auto it = field.value.begin(); it != field.value.end(); ++it) {
        nodes.push_back(*it);
      }
    } else {
      report(mark_of(field),
             label + "expected a value or a list of values, got " + describe(field.value));
      return std::vector<Item>{};
    }
    std::vector<Item> items;
    for (const auto& node : nodes) {
      if (!node.IsScalar()) {
        report(node.Mark(), label + "expected a string, got " + describe(node));
      } else if (node.Scalar().empty()) {
        report(node.Mark(), label + "must not be empty");
      } else {
        items.push_back(Item{node.Scalar(), node.Mark()});
      }
    }
    return items;
  }

  // Reports an item whose (normalised) value came before; remembers it otherwise.
  bool listed_twice(std::map<std::string, int, std::less<>>& first_line, const std::string& key,
                    const Item& item, const std::string& label, std::string_view shown) {
    if (const auto it = first_line.find(key); it != first_line.end()) {
      report(item.mark, label + std::string(shown) + " is listed twice (first at line " +
                            std::to_string(it->second) + ")");
      return true;
    }
    first_line.emplace(key, item.mark.line + 1);
    return false;
  }

  // A list item that must be a mapping; reports it otherwise.
  bool is_mapping_item(const YAML::Node& item, std::string_view what, std::string_view key,
                       std::string_view shape) {
    if (item.IsMap()) {
      return true;
    }
    report(item.Mark(), prefix(what) + std::string(key) + ": expected a mapping with " +
                            std::string(shape) + ", got " + describe(item));
    return false;
  }

  // A whole number in [low, high], or nullopt (reported).
  std::optional<int> whole_number(const Field& field, std::string_view what, std::string_view key,
                                  int low, int high) {
    const std::string expected = prefix(what) + std::string(key) +
                                 ": expected a whole number from " + std::to_string(low) + " to " +
                                 std::to_string(high) + ", got ";
    if (!field.value.IsScalar()) {
      report(mark_of(field), expected + describe(field.value));
      return std::nullopt;
    }
    const std::string& written = field.value.Scalar();
    std::string_view digits = written;
    const bool negative = !digits.empty() && digits.front() == '-';
    if (negative || (!digits.empty() && digits.front() == '+')) {
      digits.remove_prefix(1);
    }
    long value = 0;
    bool ok = !digits.empty() && digits.size() <= 9;
    for (const char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      value = value * 10 + (c - '0');
    }
    value = negative ? -value : value;
    if (!ok || value < low || value > high) {
      report(mark_of(field), expected + quote(written));
      return std::nullopt;
    }
    return static_cast<int>(value);
  }

  // A duration (parse_policy_duration), or nullopt (reported).
  std::optional<std::chrono::seconds> duration(const Field& field, std::string_view what,
                                               std::string_view key) {
    const std::string label = prefix(what) + std::string(key) + ": ";
    if (!field.value.IsScalar()) {
      report(mark_of(field),
             label + "expected a duration such as 15m, 1h30m or 90s, got " + describe(field.value));
      return std::nullopt;
    }
    const std::string& written = field.value.Scalar();
    const auto parsed = parse_duration_syntax(written);
    if (!parsed) {
      report(mark_of(field),
             label + "expected a duration such as 15m, 1h30m or 90s, got " + quote(written));
      return std::nullopt;
    }
    if (*parsed > kMaxPolicyDuration) {
      report(mark_of(field),
             label + quote(written) + " is longer than 7 days, the most a policy waits");
      return std::nullopt;
    }
    return parsed;
  }

  std::optional<bool> boolean(const Field& field, std::string_view what, std::string_view key) {
    if (field.value.IsScalar()) {
      const std::string& written = field.value.Scalar();
      if (written == "true" || written == "True" || written == "TRUE") {
        return true;
      }
      if (written == "false" || written == "False" || written == "FALSE") {
        return false;
      }
    }
    report(mark_of(field), prefix(what) + std::string(key) + ": expected true or false, got " +
                               describe(field.value));
    return std::nullopt;
  }

  std::optional<Policy> read_policy(const YAML::Node& node) {
    if (!is_mapping_item(node, "", "policies", "name, facility and steps")) {
      return std::nullopt;
    }
    const int errors_before = errors_;
    const Mapping m = mapping(node, kPolicyKeys);
    Policy policy;
    std::string what = "policy";
    if (auto name = required_text(m, what, "name", " (such as plant-a-sev2)")) {
      const YAML::Mark mark = mark_of(*m.find("name"));
      if (!is_policy_name(*name)) {
        report(mark, "policy name " + quote(*name) +
                         ": use lowercase letters, digits and '-' (such as \"plant-a-sev2\")");
      } else if (name->size() > kMaxNameBytes) {
        report(mark, "policy name " + quote(*name) + ": longer than " +
                         std::to_string(kMaxNameBytes) + " characters; shorten it");
      }
      policy.where = location(mark);
      what = "policy " + quote(*name);
      policy.name = std::move(*name);
    }
    finish(m, what);
    const core::Organization* org = read_organization(m, what, policy);
    const core::Facility* facility = read_facility(m, what, org, policy);
    policy.description = optional_text(m, what, "description").value_or("");
    if (const Field* field = m.find("priority")) {
      policy.priority = whole_number(*field, what, "priority", -kMaxPriority, kMaxPriority)
                            .value_or(policy.priority);
    }
    if (const Field* field = m.find("match")) {
      read_match(*field, what, org, facility, policy.match);
    }
    std::optional<std::pair<std::chrono::seconds, YAML::Mark>> last_after;
    if (const Field* field = m.find("steps")) {
      last_after = read_steps(*field, what, org, policy.steps);
    } else {
      report(m.mark, what +
                         ": required key \"steps\" is missing (a list of steps, such as "
                         "- notify: {team: maintenance})");
    }
    if (const Field* field = m.find("repeat")) {
      read_repeat(*field, what, last_after, policy);
    }
    if (errors_ != errors_before) {
      return std::nullopt;
    }
    return policy;
  }

  std::vector<std::string> organization_ids() const {
    std::vector<std::string> ids;
    for (const auto& org : directory_.organizations) {
      ids.push_back(org.id);
    }
    return ids;
  }

  const core::Organization* read_organization(const Mapping& m, const std::string& what,
                                              Policy& policy) {
    if (const Field* field = m.find("organization")) {
      const auto id = text(*field, what, "organization");
      if (!id) {
        return nullptr;
      }
      policy.organization = *id;
      if (const core::Organization* org = directory_.organization(*id)) {
        return org;
      }
      const std::string known = list_ids(organization_ids());
      report(mark_of(*field),
             what + ": unknown organization " + quote(*id) +
                 (known.empty() ? " (the directory has no organizations)"
                                : " (organizations in the directory: " + known + ")"));
      return nullptr;
    }
    if (directory_.organizations.size() == 1) {
      policy.organization = directory_.organizations.front().id;
      return &directory_.organizations.front();
    }
    report(m.mark, what + ": required key \"organization\" is missing" +
                       (directory_.organizations.empty()
                            ? std::string(" (the directory has no organizations)")
                            : " (the directory has several organizations: " +
                                  list_ids(organization_ids()) + ")"));
    return nullptr;
  }

  const core::Facility* read_facility(const Mapping& m, const std::string& what,
                                      const core::Organization* org, Policy& policy) {
    std::vector<std::string> ids;
    if (org != nullptr) {
      for (const auto& facility : org->facilities) {
        ids.push_back(facility.id);
      }
    }
    const std::string known = list_ids(ids);
    const auto id =
        required_text(m, what, "facility",
                      known.empty() ? std::string(" (the facility whose incidents it is for)")
                                    : " (the facility whose incidents it is for: " + known + ")");
    if (!id) {
      return nullptr;
    }
    policy.facility = *id;
    if (org == nullptr) {
      return nullptr;
    }
    if (const core::Facility* facility = org->facility(*id)) {
      return facility;
    }
    report(mark_of(*m.find("facility")),
           what + ": unknown facility " + quote(*id) +
               (known.empty() ? " (organization " + quote(org->id) +
                                    " has no facilities; add it to the directory under facilities)"
                              : " (facilities: " + known + ")"));
    return nullptr;
  }

  void read_match(const Field& field, const std::string& what, const core::Organization* org,
                  const core::Facility* facility, Match& match) {
    if (field.value.IsNull()) {
      return;
    }
    if (!field.value.IsMap()) {
      report(mark_of(field), what +
                                 ": match: expected a mapping with severity, area, asset_type, "
                                 "during and shift, got " +
                                 describe(field.value));
      return;
    }
    const Mapping m = mapping(field.value, kMatchKeys);
    finish(m, what + ": match");
    if (const Field* f = m.find("severity")) {
      read_severities(*f, what, match);
    }
    if (const Field* f = m.find("area")) {
      read_areas(*f, what, org, facility, match);
    }
    if (const Field* f = m.find("asset_type")) {
      read_asset_types(*f, what, org, facility, match);
    }
    if (const Field* f = m.find("during")) {
      read_windows(*f, what, match);
    }
    if (const Field* f = m.find("shift")) {
      read_shifts(*f, what, org, facility, match);
    }
  }

  void read_severities(const Field& field, const std::string& what, Match& match) {
    const std::string label = what + ": match.severity: ";
    const auto items =
        strings(field, what, "match.severity", "leave the key out to match every severity");
    std::map<std::string, int, std::less<>> first_line;
    for (const auto& item : items.value_or(std::vector<Item>{})) {
      const auto severity = core::parse_severity(item.text);
      if (!severity) {
        report(item.mark, label + "expected SEV1, SEV2 or SEV3, got " + quote(item.text));
        continue;
      }
      const std::string shown(core::to_string(*severity));
      if (!listed_twice(first_line, shown, item, label, shown)) {
        match.severities.push_back(*severity);
      }
    }
  }

  void read_areas(const Field& field, const std::string& what, const core::Organization* org,
                  const core::Facility* facility, Match& match) {
    const std::string label = what + ": match.area: ";
    const auto items = strings(field, what, "match.area", "leave the key out to match every area");
    std::map<std::string, int, std::less<>> first_line;
    for (const auto& item : items.value_or(std::vector<Item>{})) {
      if (listed_twice(first_line, item.text, item, label, quote(item.text))) {
        continue;
      }
      match.areas.push_back(item.text);
      if (org == nullptr) {
        continue;
      }
      const core::Area* area = org->area(item.text);
      if (area != nullptr && facility != nullptr && area->facility != facility->id) {
        report(item.mark, label + "area " + quote(item.text) + " is in facility " +
                              quote(area->facility) + ", not " + quote(facility->id));
      } else if (area == nullptr) {
        std::vector<std::string> ids;
        for (const auto& candidate : org->areas) {
          if (facility == nullptr || candidate.facility == facility->id) {
            ids.push_back(candidate.id);
          }
        }
        const std::string known = list_ids(ids);
        const std::string owner = facility != nullptr ? "facility " + quote(facility->id)
                                                      : "organization " + quote(org->id);
        report(item.mark, label + "unknown area " + quote(item.text) +
                              (known.empty() ? " (" + owner + " has no areas)"
                                             : " (areas of " + owner + ": " + known + ")"));
      }
    }
  }

  void read_asset_types(const Field& field, const std::string& what, const core::Organization* org,
                        const core::Facility* facility, Match& match) {
    const std::string label = what + ": match.asset_type: ";
    const auto items =
        strings(field, what, "match.asset_type", "leave the key out to match every asset type");
    std::vector<std::string> types;  // of the facility's assets, in directory order
    if (org != nullptr && facility != nullptr) {
      for (const auto& asset : org->assets) {
        const core::Area* area = org->area(asset.area);
        if (area != nullptr && area->facility == facility->id && !asset.asset_type.empty() &&
            std::find(types.begin(), types.end(), asset.asset_type) == types.end()) {
          types.push_back(asset.asset_type);
        }
      }
    }
    std::map<std::string, int, std::less<>> first_line;
    for (const auto& item : items.value_or(std::vector<Item>{})) {
      if (listed_twice(first_line, item.text, item, label, quote(item.text))) {
        continue;
      }
      match.asset_types.push_back(item.text);
      if (facility != nullptr && std::find(types.begin(), types.end(), item.text) == types.end()) {
        const std::string known = list_ids(types);
        report(item.mark,
               label + "no asset of facility " + quote(facility->id) + " has type " +
                   quote(item.text) +
                   (known.empty() ? " (its assets have no asset_type)"
                                  : " (types there: " + known + ")") +
                   "; the policy matches no incident through it until one does",
               true);
      }
    }
  }

  void read_windows(const Field& field, const std::string& what, Match& match) {
    if (field.value.IsNull()) {
      return;
    }
    if (!field.value.IsSequence()) {
      report(mark_of(field), what +
                                 ": match.during: expected a list of windows such as [{days: "
                                 "mon-fri, hours: \"06:00-22:00\"}], got " +
                                 describe(field.value));
      return;
    }
    if (field.value.size() == 0) {
      report(mark_of(field),
             what + ": match.during: the list is empty; leave the key out to match at any time");
      return;
    }
    const core::ShiftTextReport to_report =
        [this](const YAML::Mark& mark, const std::string& message) { report(mark, message); };
    std::size_t index = 0;
    for (auto it = field.value.begin(); it != field.value.end(); ++it, ++index) {
      const YAML::Node node = *it;
      if (!is_mapping_item(node, what, "match.during", "days and hours")) {
        continue;
      }
      const Mapping m = mapping(node, kWindowKeys);
      const std::string window_what = what + ", window " + std::to_string(index + 1);
      finish(m, window_what);
      Window window;
      bool ok = true;
      if (const Field* days = m.find("days")) {
        const auto read = core::read_days(days->value, mark_of(*days), window_what, to_report);
        ok = read.has_value();
        window.days = read.value_or(std::vector<int>{});
      } else {
        report(m.mark,
               window_what + ": required key \"days\" is missing" + std::string(core::kDaysHint));
        ok = false;
      }
      if (const Field* hours = m.find("hours")) {
        const auto read = core::read_hours(hours->value, mark_of(*hours), window_what, to_report);
        ok = ok && read.has_value();
        if (read) {
          window.start = read->start;
          window.end = read->end;
        }
      } else {
        report(m.mark,
               window_what + ": required key \"hours\" is missing" + std::string(core::kHoursHint));
        ok = false;
      }
      if (ok) {
        match.windows.push_back(std::move(window));
      }
    }
  }

  void read_shifts(const Field& field, const std::string& what, const core::Organization* org,
                   const core::Facility* facility, Match& match) {
    const std::string label = what + ": match.shift: ";
    const auto items = strings(field, what, "match.shift",
                               "leave the key out to match at any time, whoever is on duty");
    std::map<std::string, int, std::less<>> first_line;
    for (const auto& item : items.value_or(std::vector<Item>{})) {
      const std::size_t slash = item.text.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == item.text.size() ||
          item.text.find('/', slash + 1) != std::string::npos) {
        report(item.mark, label + "expected \"team/shift\" such as maintenance/night, got " +
                              quote(item.text));
        continue;
      }
      if (listed_twice(first_line, item.text, item, label, quote(item.text))) {
        continue;
      }
      ShiftRef ref{item.text.substr(0, slash), item.text.substr(slash + 1)};
      if (org != nullptr) {
        check_shift(*org, facility, ref, item, label);
      }
      match.shifts.push_back(std::move(ref));
    }
  }

  void check_shift(const core::Organization& org, const core::Facility* facility,
                   const ShiftRef& ref, const Item& item, const std::string& label) {
    const core::Team* team = org.team(ref.team);
    if (team == nullptr) {
      std::vector<std::string> ids;
      for (const auto& candidate : org.teams) {
        ids.push_back(candidate.id);
      }
      const std::string known = list_ids(ids);
      report(item.mark, label + "unknown team " + quote(ref.team) +
                            (known.empty() ? " (organization " + quote(org.id) + " has no teams)"
                                           : " (teams: " + known + ")"));
      return;
    }
    std::vector<std::string> names;
    const core::Shift* shift = nullptr;
    for (const auto& candidate : team->shifts) {
      names.push_back(candidate.name);
      if (shift == nullptr && candidate.name == ref.shift) {
        shift = &candidate;
      }
    }
    if (shift == nullptr) {
      const std::string known = list_ids(names);
      report(item.mark,
             label + "team " + quote(team->id) + " has no shift " + quote(ref.shift) +
                 (known.empty() ? (team->shifts.empty()
                                       ? std::string(" (the team has no shifts)")
                                       : std::string(" (its shifts have no names; name them in "
                                                     "the directory)"))
                                : " (shifts: " + known + ")"));
      return;
    }
    if (facility == nullptr) {
      return;
    }
    std::string zone = shift->time_zone;
    if (zone.empty()) {
      const core::Facility* team_facility = org.facility(team->facility);
      zone = team_facility != nullptr ? team_facility->time_zone : facility->time_zone;
    }
    if (zone != facility->time_zone) {
      report(item.mark, label + "shift " + quote(item.text) + " is in time zone " + quote(zone) +
                            ", facility " + quote(facility->id) + " in " +
                            quote(facility->time_zone) +
                            "; a policy can only follow shifts in its facility's time zone (write "
                            "the hours under during instead)");
    }
  }

  // Returns the `after` of the last valid step, and where it is, for `repeat`.
  std::optional<std::pair<std::chrono::seconds, YAML::Mark>> read_steps(
      const Field& field, const std::string& what, const core::Organization* org,
      std::vector<Step>& steps) {
    const auto items = list(field, what, "steps");
    if (!items) {
      return std::nullopt;
    }
    if (items->empty()) {
      report(mark_of(field), what + ": steps: the list is empty; a policy needs at least one step");
      return std::nullopt;
    }
    if (items->size() > kMaxSteps) {
      report(mark_of(field), what + ": steps: " + std::to_string(items->size()) +
                                 " steps; a policy has at most " + std::to_string(kMaxSteps));
    }
    struct Timing {
      std::size_t index;
      std::chrono::seconds after;
      YAML::Mark mark;
    };
    std::optional<Timing> latest;  // the step with the largest `after` so far
    bool all_timed = true;
    for (std::size_t index = 0; index < items->size(); ++index) {
      const YAML::Node& node = (*items)[index];
      if (!is_mapping_item(node, what, "steps", "after, if_unacknowledged and notify")) {
        all_timed = false;
        continue;
      }
      const int errors_before = errors_;
      const Mapping m = mapping(node, kStepKeys);
      const std::string step_what = what + ", step " + std::to_string(index + 1);
      finish(m, step_what);
      Step step;
      step.where = location(m.mark);
      std::optional<std::chrono::seconds> after = std::chrono::seconds(0);
      YAML::Mark after_mark = m.mark;
      if (const Field* f = m.find("after")) {
        after = duration(*f, step_what, "after");
        after_mark = mark_of(*f);
      }
      if (after) {
        step.after = *after;
        if (latest && *after < latest->after) {
          report(after_mark, step_what + ": after: " + format_duration(*after) +
                                 " is earlier than step " + std::to_string(latest->index + 1) +
                                 "'s " + format_duration(latest->after) + " (line " +
                                 line_of(latest->mark) +
                                 "); list the steps in the order they fire (after counts from the "
                                 "start of the chain)");
        } else {
          latest = Timing{index, *after, after_mark};
        }
      } else {
        all_timed = false;
      }
      if (const Field* f = m.find("if_unacknowledged")) {
        step.if_unacknowledged = boolean(*f, step_what, "if_unacknowledged").value_or(true);
      }
      if (const Field* f = m.find("notify")) {
        step.notify = read_targets(*f, step_what, org);
      } else {
        report(m.mark, step_what +
                           ": required key \"notify\" is missing (whom to notify, such as {team: "
                           "maintenance})");
      }
      if (errors_ == errors_before) {
        steps.push_back(std::move(step));
      }
    }
    if (!all_timed || !latest) {
      return std::nullopt;
    }
    return std::pair(latest->after, latest->mark);
  }

  std::vector<NotifyTarget> read_targets(const Field& field, const std::string& what,
                                         const core::Organization* org) {
    std::vector<YAML::Node> nodes;
    if (field.value.IsMap()) {
      nodes.push_back(field.value);
    } else if (field.value.IsSequence()) {
      if (field.value.size() == 0) {
        report(mark_of(field), what + ": notify: the list is empty; name at least one target");
        return {};
      }
      if (field.value.size() > kMaxTargets) {
        report(mark_of(field), what + ": notify: " + std::to_string(field.value.size()) +
                                   " targets; a step notifies at most " +
                                   std::to_string(kMaxTargets));
      }
      for (auto it = field.value.begin(); it != field.value.end(); ++it) {
        nodes.push_back(*it);
      }
    } else {
      report(mark_of(field), what +
                                 ": notify: expected a target such as {team: maintenance} or a "
                                 "list of them, got " +
                                 describe(field.value));
      return {};
    }
    std::vector<NotifyTarget> targets;
    for (const auto& node : nodes) {
      if (!is_mapping_item(node, what, "notify", "one of team, members or team_channel")) {
        continue;
      }
      if (auto target = read_target(node, what, org)) {
        targets.push_back(std::move(*target));
      }
    }
    return targets;
  }

  std::optional<NotifyTarget> read_target(const YAML::Node& node, const std::string& what,
                                          const core::Organization* org) {
    const Mapping m = mapping(node, kTargetKeys);
    finish(m, what + ": notify");
    const Field* chosen = nullptr;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: `it->` returns a temporary proxy
      if (!key.IsScalar()) {
        continue;
      }
      const Field* field = m.find(key.Scalar());
      if (field == nullptr || field->key.Mark().pos != key.Mark().pos) {
        continue;  // unknown, or given twice: reported already
      }
      if (chosen == nullptr) {
        chosen = field;
      } else {
        report(key.Mark(), what +
                               ": notify: a target has one of team, members or team_channel, "
                               "not both " +
                               chosen->key.Scalar() + " and " + key.Scalar() +
                               " (write a list of targets to notify several)");
        return std::nullopt;
      }
    }
    if (chosen == nullptr) {
      if (m.key_problems.empty()) {
        report(m.mark, what + ": notify: a target needs one of team, members or team_channel");
      }
      return std::nullopt;
    }
    const std::string kind = chosen->key.Scalar();
    const int errors_before = errors_;
    NotifyTarget target;
    if (kind == "members") {
      target.kind = NotifyTarget::Kind::members;
      const std::string label = what + ": notify.members: ";
      const auto items = strings(*chosen, what, "notify.members", "name at least one member");
      if (!items) {
        report(mark_of(*chosen), label + "expected a member id or a list of them, got nothing");
        return std::nullopt;
      }
      std::map<std::string, int, std::less<>> first_line;
      for (const auto& item : *items) {
        if (listed_twice(first_line, item.text, item, label, "member " + quote(item.text))) {
          continue;
        }
        if (org != nullptr && org->member(item.text) == nullptr) {
          std::vector<std::string> ids;
          for (const auto& member : org->members) {
            ids.push_back(member.id);
          }
          const std::string known = list_ids(ids);
          report(item.mark,
                 label + "unknown member " + quote(item.text) +
                     (known.empty() ? " (organization " + quote(org->id) + " has no members)"
                                    : " (members: " + known + ")"));
          continue;
        }
        target.members.push_back(item.text);
      }
    } else {
      target.kind =
          kind == "team" ? NotifyTarget::Kind::team_on_shift : NotifyTarget::Kind::team_channel;
      const auto team_id = text(*chosen, what + ": notify", kind);
      if (!team_id) {
        return std::nullopt;
      }
      target.team = *team_id;
      if (org != nullptr) {
        check_target_team(*org, target, mark_of(*chosen), what + ": notify." + kind + ": ");
      }
    }
    if (errors_ != errors_before) {
      return std::nullopt;
    }
    return target;
  }

  void check_target_team(const core::Organization& org, const NotifyTarget& target,
                         const YAML::Mark& mark, const std::string& label) {
    const core::Team* team = org.team(target.team);
    if (team == nullptr) {
      std::vector<std::string> ids;
      for (const auto& candidate : org.teams) {
        ids.push_back(candidate.id);
      }
      const std::string known = list_ids(ids);
      report(mark, label + "unknown team " + quote(target.team) +
                       (known.empty() ? " (organization " + quote(org.id) + " has no teams)"
                                      : " (teams: " + known + ")"));
      return;
    }
    if (target.kind == NotifyTarget::Kind::team_channel && !team->channel) {
      report(mark, label + "team " + quote(team->id) +
                       " has no channel; give it one in the directory (channel: {instance: …, "
                       "channel: …}) or notify the team instead");
    }
  }

  void read_repeat(const Field& field, const std::string& what,
                   const std::optional<std::pair<std::chrono::seconds, YAML::Mark>>& last_after,
                   Policy& policy) {
    if (field.value.IsNull()) {
      return;
    }
    if (!field.value.IsMap()) {
      report(mark_of(field), what + ": repeat: expected a mapping with times and every, got " +
                                 describe(field.value));
      return;
    }
    const Mapping m = mapping(field.value, kRepeatKeys);
    finish(m, what + ": repeat");
    const Field* times = m.find("times");
    if (times == nullptr) {
      report(m.mark,
             what + ": repeat: required key \"times\" is missing (how many more rounds, 0 to 10)");
      return;
    }
    const auto count = whole_number(*times, what, "repeat.times", 0, kMaxRepeat);
    std::optional<std::chrono::seconds> every;
    YAML::Mark every_mark = m.mark;
    if (const Field* f = m.find("every")) {
      every = duration(*f, what, "repeat.every");
      every_mark = mark_of(*f);
    } else if (count && *count > 0) {
      report(m.mark, what +
                         ": repeat: required key \"every\" is missing (the time from the start of "
                         "one round to the start of the next, such as 30m)");
    }
    if (count && *count > 0 && every && last_after && *every <= last_after->first) {
      report(every_mark, what + ": repeat.every: " + format_duration(*every) +
                             " is not longer than the last step's after (" +
                             format_duration(last_after->first) + ", line " +
                             line_of(last_after->second) +
                             "); a round must be over before the next one starts");
    }
    policy.repeat = count.value_or(0);
    policy.repeat_every = every.value_or(std::chrono::seconds(0));
  }

  std::string file_;
  const core::Directory& directory_;
  std::vector<PolicyProblem>& problems_;
  int errors_ = 0;
};

}  // namespace

std::vector<Policy> parse_policy_file(std::string_view yaml_text, std::string_view file,
                                      const core::Directory& directory,
                                      std::vector<PolicyProblem>& problems) {
  const std::string name(file);
  const auto at = [&](const YAML::Mark& mark) {
    return SourceLocation{name, mark.line + 1, mark.column + 1};
  };
  if (yaml_text.size() > core::kMaxYamlFileBytes) {
    problems.push_back({SourceLocation{name, 0, 0}, "larger than 16 MiB; is it the right file?"});
    return {};
  }
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file".
    problems.push_back({at(e.mark), std::string(core::kTooDeep)});
    return {};
  } catch (const YAML::ParserException& e) {
    problems.push_back({at(e.mark), e.msg});
    return {};
  } catch (const YAML::Exception& e) {
    problems.push_back({SourceLocation{name, 0, 0}, e.what()});
    return {};
  }
  if (documents.empty() || documents.front().IsNull()) {
    problems.push_back({SourceLocation{name, 0, 0},
                        "the file is empty; expected a mapping with the key policies"});
    return {};
  }
  if (documents.size() > 1) {
    problems.push_back(
        {at(documents[1].Mark()), "a second YAML document; a policy file is a single document"});
    return {};
  }
  const YAML::Node& root = documents.front();
  if (core::count_yaml_nodes(root, core::kMaxYamlNodes) > core::kMaxYamlNodes) {
    problems.push_back({SourceLocation{name, 0, 0}, "the document expands to more than " +
                                                        std::to_string(core::kMaxYamlNodes) +
                                                        " values (aliases?)"});
    return {};
  }
  const std::size_t first_new = problems.size();
  PolicyReader reader(file, directory, problems);
  std::vector<Policy> policies;
  try {
    policies = reader.read(root);
  } catch (const YAML::Exception& e) {
    reader.report(e.mark, e.msg);
    policies.clear();
  }
  std::stable_sort(problems.begin() + static_cast<std::ptrdiff_t>(first_new), problems.end(),
                   [](const PolicyProblem& a, const PolicyProblem& b) {
                     return std::pair(a.where.line, a.where.column) <
                            std::pair(b.where.line, b.where.column);
                   });
  return policies;
}

}  // namespace haveri::policy
