#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <ostream>
#include <set>
#include <span>
#include <system_error>
#include <tuple>
#include <utility>

#include <yaml-cpp/yaml.h>

#include <haveri/core/yaml_text.hpp>
#include <haveri/policy/escalation.hpp>
#include <haveri/policy/policy_test_file.hpp>

#include "../yaml_input.hpp"

namespace haveri::policy {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 4> kTopKeys = {"directory", "policies", "zoneinfo", "tests"};
constexpr std::array<std::string_view, 6> kTestKeys = {"name",   "organization", "incident",
                                                       "events", "until_minute", "expect"};
constexpr std::array<std::string_view, 4> kIncidentKeys = {"severity", "area", "assets",
                                                           "declared_at"};
constexpr std::array<std::string_view, 5> kEventKeys = {"minute", "acknowledge", "resolve",
                                                        "severity", "area"};
constexpr std::array<std::string_view, 3> kExpectKeys = {"policy", "policies", "pages"};
constexpr std::array<std::string_view, 4> kPageKeys = {"minute", "members", "channel",
                                                       "unreachable"};
constexpr std::string_view kNone = "none";
constexpr std::int64_t kDefaultUntilMinute = 240;

std::string quote(std::string_view text) {
  return core::quote_for_message(text);
}

std::string describe(const YAML::Node& node) {
  return core::describe_yaml(node);
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (const auto word : words) {
    out += (out.empty() ? "" : ", ") + std::string(word);
  }
  return out;
}

std::string join(const std::vector<std::string>& words, std::string_view separator = ", ") {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    out += (i == 0 ? "" : std::string(separator)) + words[i];
  }
  return out;
}

template <class T>
std::vector<std::string> ids_of(const std::vector<T>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const auto& item : items) {
    ids.push_back(item.id);
  }
  return ids;
}

std::string ids_or_none(const std::vector<std::string>& ids) {
  return ids.empty() ? std::string("there are none") : join(ids);
}

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::invalid_argument, std::move(message));
}

// `text` as written in the file, resolved against the file's directory, normalised.
fs::path resolve(const fs::path& base, const std::string& text) {
  const fs::path written(text);
  fs::path out = (written.is_absolute() ? written : base / written).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) {
    out = out.parent_path();  // "policies/" names the same directory as "policies"
  }
  return out;
}

struct Field {
  YAML::Node key;
  YAML::Node value;
};

struct Mapping {
  std::map<std::string, Field, std::less<>> fields;
  YAML::Mark mark;

  const Field* find(std::string_view name) const {
    const auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
};

// Where a value is, or its key when the value is empty (`area:` with nothing).
YAML::Mark mark_of(const Field& field) {
  const YAML::Mark mark = field.value.Mark();
  return field.value.IsNull() || mark.is_null() ? field.key.Mark() : mark;
}

SourceLocation location(const std::string& file, const YAML::Mark& mark) {
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

// Walks a test file, collecting every problem instead of stopping at the first.
class TestFileReader {
 public:
  explicit TestFileReader(std::string file) : file_(std::move(file)) {}

  void report(const YAML::Mark& mark, const std::string& message) {
    std::string line = file_;
    const bool located = !mark.is_null() && mark.line >= 0 && mark.column >= 0;
    if (located) {
      line += ':' + std::to_string(mark.line + 1) + ':' + std::to_string(mark.column + 1);
    }
    line += ": " + message;
    problems_.push_back({located ? mark.line : -1, located ? mark.column : -1, std::move(line)});
  }

  // Problems that come from elsewhere (the directory's), listed first.
  void add_foreign(const std::string& text) {
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      foreign_.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }

  bool has_problems() const { return !problems_.empty() || !foreign_.empty(); }

  std::string take_problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<std::string> lines = foreign_;
    for (const auto& problem : problems_) {
      lines.push_back(problem.text);
    }
    return join(lines, "\n");
  }

  void read(const YAML::Node& root, PolicyTestSuite& suite) {
    if (!root.IsMap()) {
      report(root.Mark(), "expected a mapping with the keys directory, policies and tests, got " +
                              describe(root));
      return;
    }
    const Mapping top = mapping(root, kTopKeys, "");
    const fs::path base = fs::path(file_).parent_path();
    if (const Field* f = top.find("zoneinfo")) {
      if (auto text = path_text(*f, "", "zoneinfo")) {
        suite.zoneinfo = resolve(base, *text);
      }
    }
    bool directory_ok = false;
    if (const Field* f =
            required(top, "", "directory", " (the directory file, relative to this file)")) {
      if (auto text = path_text(*f, "", "directory")) {
        suite.directory_file = resolve(base, *text);
        auto loaded = core::load_directory(suite.directory_file, suite.zoneinfo);
        if (loaded) {
          suite.directory = std::move(loaded.value());
          directory_ok = true;
        } else {
          add_foreign(loaded.error().message);
          report(mark_of(*f), "directory: " + quote(suite.directory_file.string()) +
                                  " cannot be used (its problems are listed above); the tests "
                                  "are not checked against it");
        }
      }
    }
    if (const Field* f =
            required(top, "", "policies", " (the policies directory, relative to this file)")) {
      if (auto text = path_text(*f, "", "policies")) {
        suite.policies_path = resolve(base, *text);
      }
    }
    zones_.emplace(suite.zoneinfo);
    directory_ = directory_ok ? &suite.directory : nullptr;
    const Field* tests = required(top, "", "tests", " (a list of tests)");
    if (tests == nullptr) {
      return;
    }
    const auto items = list(*tests, "", "tests");
    if (items && items->empty()) {
      report(mark_of(*tests), "tests: the list is empty; add at least one test");
    }
    std::map<std::string, int, std::less<>> names;  // name -> line
    for (std::size_t i = 0; i < items.value_or(std::vector<YAML::Node>{}).size(); ++i) {
      if (auto test = read_test((*items)[i], i, names)) {
        suite.tests.push_back(std::move(*test));
      }
    }
  }

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };

  static std::string prefix(std::string_view what) {
    return what.empty() ? std::string() : std::string(what) + ": ";
  }

  Mapping mapping(const YAML::Node& node, std::span<const std::string_view> allowed,
                  std::string_view what) {
    Mapping out;
    out.mark = node.Mark();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        report(it->first.Mark(), prefix(what) + "expected a plain key, got " + describe(it->first));
        continue;
      }
      const std::string& name = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        report(it->first.Mark(),
               prefix(what) + "unknown key " + quote(name) + " (allowed: " + join(allowed) + ")");
        continue;
      }
      const auto [previous, inserted] = out.fields.emplace(name, Field{it->first, it->second});
      if (!inserted) {
        report(it->first.Mark(),
               prefix(what) + "key " + quote(name) + " is given twice (first at line " +
                   std::to_string(previous->second.key.Mark().line + 1) + "); keep one of them");
      }
    }
    return out;
  }

  // A mapping value, or nullopt (reported).
  std::optional<Mapping> sub_mapping(const Field& field, std::span<const std::string_view> allowed,
                                     std::string_view what, std::string_view key) {
    if (!field.value.IsMap()) {
      report(mark_of(field), prefix(what) + std::string(key) + ": expected a mapping, got " +
                                 describe(field.value));
      return std::nullopt;
    }
    // Unknown keys inside are named with the key: "test \"t\": incident: unknown key".
    return mapping(field.value, allowed, prefix(what) + std::string(key));
  }

  const Field* required(const Mapping& m, std::string_view what, std::string_view key,
                        std::string_view hint = {}) {
    const Field* field = m.find(key);
    if (field == nullptr) {
      report(m.mark,
             prefix(what) + "required key " + quote(key) + " is missing" + std::string(hint));
    }
    return field;
  }

  std::optional<std::vector<YAML::Node>> list(const Field& field, std::string_view what,
                                              std::string_view key) {
    if (field.value.IsNull()) {
      return std::vector<YAML::Node>{};
    }
    if (!field.value.IsSequence()) {
      report(mark_of(field),
             prefix(what) + std::string(key) + ": expected a list, got " + describe(field.value));
      return std::nullopt;
    }
    std::vector<YAML::Node> items;
    for (const auto& item : field.value) {
      items.push_back(item);
    }
    return items;
  }

  std::optional<std::string> text(const Field& field, std::string_view what, std::string_view key) {
    if (!field.value.IsScalar()) {
      report(mark_of(field),
             prefix(what) + std::string(key) + ": expected a string, got " + describe(field.value));
      return std::nullopt;
    }
    if (field.value.Scalar().empty()) {
      report(mark_of(field), prefix(what) + std::string(key) + ": must not be empty");
      return std::nullopt;
    }
    return field.value.Scalar();
  }

  std::optional<std::string> path_text(const Field& field, std::string_view what,
                                       std::string_view key) {
    return text(field, what, key);
  }

  // A whole number from `min` to `max`, or nullopt (reported).
  std::optional<std::int64_t> integer(const Field& field, std::string_view what,
                                      std::string_view key, std::int64_t min, std::int64_t max) {
    const std::string range =
        "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    if (!field.value.IsScalar() || field.value.Scalar().empty()) {
      report(mark_of(field), prefix(what) + std::string(key) + ": expected " + range + ", got " +
                                 describe(field.value));
      return std::nullopt;
    }
    const std::string& written = field.value.Scalar();
    std::int64_t value = 0;
    bool ok = written.size() <= 9;
    for (const char c : written) {
      ok = ok && c >= '0' && c <= '9';
      value = value * 10 + (c - '0');
    }
    if (!ok || value < min || value > max) {
      report(mark_of(field),
             prefix(what) + std::string(key) + ": expected " + range + ", got " + quote(written));
      return std::nullopt;
    }
    return value;
  }

  std::optional<core::Severity> severity(const Field& field, std::string_view what,
                                         std::string_view key) {
    if (field.value.IsScalar()) {
      if (auto parsed = core::parse_severity(field.value.Scalar())) {
        return parsed;
      }
    }
    report(mark_of(field), prefix(what) + std::string(key) + ": expected SEV1, SEV2 or SEV3, got " +
                               describe(field.value));
    return std::nullopt;
  }

  // `true`, the only value of acknowledge and resolve.
  bool flag(const Field& field, std::string_view what, std::string_view key) {
    if (field.value.IsScalar()) {
      const std::string& written = field.value.Scalar();
      if (written == "true" || written == "True" || written == "TRUE") {
        return true;
      }
    }
    report(mark_of(field), prefix(what) + std::string(key) + ": expected true, got " +
                               describe(field.value) + " (leave the event out instead)");
    return false;
  }

  // A list of ids (a single id is accepted as a list of one).
  std::optional<std::vector<std::pair<std::string, YAML::Mark>>> id_list(const Field& field,
                                                                         std::string_view what,
                                                                         std::string_view key) {
    std::vector<std::pair<std::string, YAML::Mark>> out;
    if (field.value.IsNull()) {
      return out;
    }
    if (field.value.IsScalar()) {
      if (auto one = text(field, what, key)) {
        out.emplace_back(*one, mark_of(field));
        return out;
      }
      return std::nullopt;
    }
    if (!field.value.IsSequence()) {
      report(mark_of(field), prefix(what) + std::string(key) + ": expected a list of ids, got " +
                                 describe(field.value));
      return std::nullopt;
    }
    bool ok = true;
    for (const auto& item : field.value) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        report(item.Mark(),
               prefix(what) + std::string(key) + ": expected an id, got " + describe(item));
        ok = false;
        continue;
      }
      out.emplace_back(item.Scalar(), item.Mark());
    }
    return ok ? std::optional(out) : std::nullopt;
  }

  std::optional<PolicyTest> read_test(const YAML::Node& node, std::size_t index,
                                      std::map<std::string, int, std::less<>>& names) {
    std::string what = "test " + std::to_string(index + 1);
    if (!node.IsMap()) {
      report(node.Mark(),
             what + ": expected a mapping with name, incident and expect, got " + describe(node));
      return std::nullopt;
    }
    const std::size_t problems_before = problems_.size();
    // The name first, so every other message can name the test.
    PolicyTest test;
    if (node["name"].IsScalar() && !node["name"].Scalar().empty()) {
      what = "test " + quote(node["name"].Scalar());
    }
    const Mapping m = mapping(node, kTestKeys, what);
    if (const Field* f = required(m, what, "name")) {
      if (auto name = text(*f, what, "name")) {
        test.name = *name;
        test.where = location(file_, mark_of(*f));
        const auto [previous, inserted] = names.emplace(*name, mark_of(*f).line + 1);
        if (!inserted) {
          report(mark_of(*f), what + ": the name is used by another test (line " +
                                  std::to_string(previous->second) +
                                  "); each test needs its own name");
        }
      }
    }

    const core::Organization* organization = read_organization(m, what, test);

    std::int64_t until = kDefaultUntilMinute;
    if (const Field* f = m.find("until_minute")) {
      if (auto value = integer(*f, what, "until_minute", 0, kMaxScenarioHorizon.count())) {
        until = *value;
      }
    }
    test.scenario.horizon = std::chrono::minutes(until);

    if (const Field* f = required(m, what, "incident",
                                  " (its severity and declared_at, optionally area and assets)")) {
      read_incident(*f, what, organization, test.scenario);
    }
    if (const Field* f = m.find("events")) {
      read_events(*f, what, organization, until, test.scenario);
    }
    if (const Field* f = required(m, what, "expect", " (at least pages: the pages expected)")) {
      read_expect(*f, what, organization, until, test);
    }
    if (problems_.size() != problems_before) {
      return std::nullopt;
    }
    return test;
  }

  const core::Organization* read_organization(const Mapping& m, const std::string& what,
                                              PolicyTest& test) {
    const Field* f = m.find("organization");
    if (directory_ == nullptr) {
      if (f != nullptr) {
        if (auto id = text(*f, what, "organization")) {
          test.scenario.organization = *id;
        }
      }
      return nullptr;
    }
    const auto organizations = ids_of(directory_->organizations);
    if (f == nullptr) {
      if (directory_->organizations.size() == 1) {
        test.scenario.organization = directory_->organizations.front().id;
        return &directory_->organizations.front();
      }
      report(m.mark, what + ": required key \"organization\" is missing: the directory has " +
                         std::to_string(organizations.size()) + " organizations (" +
                         join(organizations) + ")");
      return nullptr;
    }
    const auto id = text(*f, what, "organization");
    if (!id) {
      return nullptr;
    }
    const core::Organization* found = directory_->organization(*id);
    if (found == nullptr) {
      report(mark_of(*f), what + ": organization: unknown organization " + quote(*id) +
                              " (organizations in the directory: " + join(organizations) + ")");
      return nullptr;
    }
    test.scenario.organization = *id;
    return found;
  }

  // An area id of the organization; false (reported) if it has no such area.
  bool known_area(const core::Organization* organization, const std::string& area,
                  const YAML::Mark& mark, const std::string& what, std::string_view key) {
    if (organization == nullptr || organization->area(area) != nullptr) {
      return true;
    }
    report(mark, prefix(what) + std::string(key) + ": unknown area " + quote(area) + " (areas of " +
                     organization->id + ": " + ids_or_none(ids_of(organization->areas)) + ")");
    return false;
  }

  void read_incident(const Field& field, const std::string& what,
                     const core::Organization* organization, Scenario& scenario) {
    const auto m = sub_mapping(field, kIncidentKeys, what, "incident");
    if (!m) {
      return;
    }
    const std::string where = what + ": incident";
    if (const Field* f = required(*m, where, "severity", " (SEV1, SEV2 or SEV3)")) {
      if (auto value = severity(*f, where, "severity")) {
        scenario.severity = *value;
      }
    }
    bool area_ok = true;
    if (const Field* f = m->find("area")) {
      if (auto area = text(*f, where, "area")) {
        area_ok = known_area(organization, *area, mark_of(*f), where, "area");
        scenario.area = *area;
      } else {
        area_ok = false;
      }
    }
    if (const Field* f = m->find("assets")) {
      for (const auto& [asset, mark] :
           id_list(*f, where, "assets")
               .value_or(std::vector<std::pair<std::string, YAML::Mark>>{})) {
        if (organization != nullptr && organization->asset(asset) == nullptr) {
          report(mark, where + ": assets: unknown asset " + quote(asset) + " (assets of " +
                           organization->id + ": " + ids_or_none(ids_of(organization->assets)) +
                           ")");
          continue;
        }
        scenario.assets.push_back(asset);
      }
    }
    const Field* f = required(*m, where, "declared_at",
                              " (the facility's local time, such as \"2026-11-24 23:50\")");
    if (f == nullptr) {
      return;
    }
    const auto written = text(*f, where, "declared_at");
    if (!written || organization == nullptr || !area_ok) {
      return;
    }
    std::shared_ptr<const TimeZone> zone;
    if (const core::Facility* facility = facility_of(*organization, scenario.area)) {
      auto loaded = zones_->get(facility->time_zone);
      if (!loaded) {
        report(mark_of(*f), where + ": declared_at: facility " + quote(facility->id) +
                                ": time zone " + quote(facility->time_zone) + ": " +
                                loaded.error().message);
        return;
      }
      zone = loaded.value();
    }
    auto parsed = parse_scenario_time(*written, zone.get());
    if (!parsed) {
      report(mark_of(*f), where + ": declared_at: " + parsed.error().message);
      return;
    }
    scenario.declared_at = parsed.value();
  }

  void read_events(const Field& field, const std::string& what,
                   const core::Organization* organization, std::int64_t until, Scenario& scenario) {
    const auto items = list(field, what, "events");
    if (!items) {
      return;
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
      const YAML::Node& node = (*items)[i];
      const std::string where = what + ": event " + std::to_string(i + 1);
      if (!node.IsMap()) {
        report(node.Mark(), where +
                                ": expected a mapping such as {minute: 20, acknowledge: true}, "
                                "got " +
                                describe(node));
        continue;
      }
      const Mapping m = mapping(node, kEventKeys, where);
      ScenarioEvent event;
      if (const Field* f = required(m, where, "minute", " (minutes after the declaration)")) {
        if (auto minute = integer(*f, where, "minute", 0, kMaxScenarioHorizon.count())) {
          if (*minute > until) {
            report(mark_of(*f), where + ": minute " + std::to_string(*minute) +
                                    " is after until_minute " + std::to_string(until) +
                                    ", so it would never happen; raise until_minute");
          }
          event.at = std::chrono::minutes(*minute);
        }
      }
      std::vector<const Field*> actions;
      for (const std::string_view key : {"acknowledge", "resolve", "severity", "area"}) {
        if (const Field* f = m.find(key)) {
          actions.push_back(f);
        }
      }
      if (actions.size() != 1) {
        report(actions.empty() ? m.mark : actions[1]->key.Mark(),
               where + ": give exactly one of acknowledge, resolve, severity and area" +
                   (actions.empty() ? std::string(" (such as {minute: 20, acknowledge: true})")
                                    : std::string("; split them into several events")));
        continue;
      }
      const Field& action = *actions.front();
      const std::string key = action.key.Scalar();
      if (key == "acknowledge" || key == "resolve") {
        if (!flag(action, where, key)) {
          continue;
        }
        event.kind =
            key == "acknowledge" ? ScenarioEvent::Kind::acknowledge : ScenarioEvent::Kind::resolve;
      } else if (key == "severity") {
        const auto value = severity(action, where, key);
        if (!value) {
          continue;
        }
        event.kind = ScenarioEvent::Kind::severity;
        event.severity = *value;
      } else {
        const auto area = text(action, where, key);
        if (!area || !known_area(organization, *area, mark_of(action), where, key)) {
          continue;
        }
        event.kind = ScenarioEvent::Kind::area;
        event.area = *area;
      }
      scenario.events.push_back(std::move(event));
    }
  }

  void read_expect(const Field& field, const std::string& what,
                   const core::Organization* organization, std::int64_t until, PolicyTest& test) {
    const auto m = sub_mapping(field, kExpectKeys, what, "expect");
    if (!m) {
      return;
    }
    const std::string where = what + ": expect";
    if (const Field* f = m->find("policy")) {
      if (auto name = text(*f, where, "policy")) {
        test.expected_policy = *name == kNone ? std::string() : *name;
        test.expected_policy_where = location(file_, mark_of(*f));
      }
    }
    if (const Field* f = m->find("policies")) {
      if (auto names = id_list(*f, where, "policies")) {
        test.expected_policies.emplace();
        for (const auto& [name, mark] : *names) {
          test.expected_policies->push_back(name == kNone ? std::string() : name);
        }
        test.expected_policies_where = location(file_, mark_of(*f));
      }
    }
    const Field* pages = required(*m, where, "pages",
                                  " (every page expected, such as [{minute: 0, members: [dave]}], "
                                  "or [] for none)");
    if (pages == nullptr) {
      return;
    }
    const auto items = list(*pages, where, "pages");
    if (!items) {
      return;
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
      read_page((*items)[i], where + ": page " + std::to_string(i + 1), organization, until, test);
    }
  }

  void read_page(const YAML::Node& node, const std::string& where,
                 const core::Organization* organization, std::int64_t until, PolicyTest& test) {
    if (!node.IsMap()) {
      report(node.Mark(), where +
                              ": expected a mapping such as {minute: 0, members: [dave]}, got " +
                              describe(node));
      return;
    }
    const Mapping m = mapping(node, kPageKeys, where);
    std::int64_t minute = 0;
    if (const Field* f = required(m, where, "minute", " (minutes after the declaration)")) {
      if (auto value = integer(*f, where, "minute", 0, kMaxScenarioHorizon.count())) {
        if (*value > until) {
          report(mark_of(*f), where + ": minute " + std::to_string(*value) +
                                  " is after until_minute " + std::to_string(until) +
                                  ", which the test does not simulate; raise until_minute");
        }
        minute = *value;
      }
    }
    const Field* members = m.find("members");
    const Field* channel = m.find("channel");
    const Field* unreachable = m.find("unreachable");
    if (members == nullptr && channel == nullptr && unreachable == nullptr) {
      report(m.mark, where +
                         ": give members, channel or unreachable (such as {minute: 0, "
                         "members: [dave]})");
      return;
    }
    if (members != nullptr) {
      for (const auto& [id, mark] :
           id_list(*members, where, "members")
               .value_or(std::vector<std::pair<std::string, YAML::Mark>>{})) {
        if (organization != nullptr && organization->member(id) == nullptr) {
          report(mark, where + ": members: unknown member " + quote(id) + " (members of " +
                           organization->id + ": " + ids_or_none(ids_of(organization->members)) +
                           ")");
          continue;
        }
        test.expected_pages.push_back({minute, ExpectedPage::Kind::member, id});
      }
    }
    if (channel != nullptr) {
      if (auto team_id = text(*channel, where, "channel")) {
        const core::Team* team = organization ? organization->team(*team_id) : nullptr;
        if (organization != nullptr && team == nullptr) {
          report(mark_of(*channel), where + ": channel: unknown team " + quote(*team_id) +
                                        " (teams of " + organization->id + ": " +
                                        ids_or_none(ids_of(organization->teams)) + ")");
        } else if (team != nullptr && !team->channel) {
          report(mark_of(*channel),
                 where + ": channel: team " + quote(*team_id) +
                     " has no channel in the directory, so nothing is ever posted there");
        } else {
          test.expected_pages.push_back({minute, ExpectedPage::Kind::channel, *team_id});
        }
      }
    }
    if (unreachable != nullptr) {
      test.checks_unreachable = true;
      for (const auto& [id, mark] :
           id_list(*unreachable, where, "unreachable")
               .value_or(std::vector<std::pair<std::string, YAML::Mark>>{})) {
        if (organization != nullptr && organization->member(id) == nullptr &&
            organization->team(id) == nullptr) {
          report(mark, where + ": unreachable: " + quote(id) +
                           " is neither a member nor a team of " + organization->id);
          continue;
        }
        test.expected_pages.push_back({minute, ExpectedPage::Kind::unreachable, id});
      }
    }
  }

  std::string file_;
  std::vector<Problem> problems_;
  std::vector<std::string> foreign_;
  const core::Directory* directory_ = nullptr;
  std::optional<TimeZoneDatabase> zones_;
};

// --- Running -----------------------------------------------------------------------

using PageKey = std::tuple<std::int64_t, ExpectedPage::Kind, std::string>;

std::string describe_item(const ExpectedPage::Kind kind, const std::string& id,
                          const core::Organization* organization) {
  switch (kind) {
    case ExpectedPage::Kind::member: {
      const core::Member* member = organization ? organization->member(id) : nullptr;
      return member != nullptr && !member->name.empty() && member->name != id
                 ? member->name + " (" + id + ")"
                 : id;
    }
    case ExpectedPage::Kind::channel:
      return "channel " + id;
    case ExpectedPage::Kind::unreachable:
      return "unreachable " + (id.empty() ? std::string("?") : id);
  }
  return id;
}

std::string describe_minute(const std::vector<PageKey>& items,
                            const core::Organization* organization) {
  if (items.empty()) {
    return "nothing";
  }
  std::vector<std::string> words;
  words.reserve(items.size());
  for (const auto& [minute, kind, id] : items) {
    words.push_back(describe_item(kind, id, organization));
  }
  return join(words);
}

std::string policy_or_none(const std::string& name) {
  return name.empty() ? std::string(kNone) : name;
}

std::string where_of(const PolicySet& policies, const std::string& organization,
                     const std::string& name) {
  const Policy* policy = policies.find(organization, name);
  if (policy == nullptr || policy->where.file.empty()) {
    return {};
  }
  return " (" + policy->where.file + ":" + std::to_string(policy->where.line) + ")";
}

std::string reason_words(const std::string& reason) {
  std::string out = reason;
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

PolicyTestOutcome run_one(const PolicyTest& test, const core::Directory& directory,
                          const PolicySet& policies, TimeZoneDatabase& zones) {
  PolicyTestOutcome outcome;
  outcome.name = test.name;
  auto simulated = simulate(policies, directory, test.scenario, zones);
  if (!simulated) {
    outcome.differences.push_back("cannot simulate: " + simulated.error().message);
    return outcome;
  }
  outcome.result = std::move(simulated.value());
  const SimulationResult& result = outcome.result;
  const core::Organization* organization = directory.organization(result.organization);

  std::vector<std::string> chosen;
  for (const PolicyChoice& choice : result.choices) {
    chosen.push_back(choice.policy);
  }
  if (test.expected_policy) {
    const std::string got = chosen.empty() ? std::string() : chosen.front();
    if (got != *test.expected_policy) {
      outcome.differences.push_back("policy: expected " + policy_or_none(*test.expected_policy) +
                                    ", got " + policy_or_none(got));
    }
  }
  if (test.expected_policies && *test.expected_policies != chosen) {
    std::vector<std::string> expected;
    std::vector<std::string> got;
    std::transform(test.expected_policies->begin(), test.expected_policies->end(),
                   std::back_inserter(expected), policy_or_none);
    std::transform(chosen.begin(), chosen.end(), std::back_inserter(got), policy_or_none);
    outcome.differences.push_back("policies: expected [" + join(expected) + "], got [" + join(got) +
                                  "]");
  }

  std::vector<PageKey> expected;
  for (const ExpectedPage& page : test.expected_pages) {
    expected.emplace_back(page.minute, page.kind, page.id);
  }
  std::vector<PageKey> actual;
  for (const SimulatedPage& page : result.pages) {
    for (const std::string& member : page.members) {
      actual.emplace_back(page.minute.count(), ExpectedPage::Kind::member, member);
    }
    for (const std::string& team : page.channels) {
      actual.emplace_back(page.minute.count(), ExpectedPage::Kind::channel, team);
    }
    if (test.checks_unreachable) {
      for (const Unreachable& unreachable : page.unreachable) {
        actual.emplace_back(page.minute.count(), ExpectedPage::Kind::unreachable, unreachable.id);
      }
    }
  }
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  if (expected != actual) {
    std::set<std::int64_t> minutes;
    for (const auto& item : expected) {
      minutes.insert(std::get<0>(item));
    }
    for (const auto& item : actual) {
      minutes.insert(std::get<0>(item));
    }
    const auto at_minute = [](const std::vector<PageKey>& items, std::int64_t minute) {
      std::vector<PageKey> out;
      std::copy_if(items.begin(), items.end(), std::back_inserter(out),
                   [&](const PageKey& item) { return std::get<0>(item) == minute; });
      return out;
    };
    for (const std::int64_t minute : minutes) {
      const auto want = at_minute(expected, minute);
      const auto got = at_minute(actual, minute);
      if (want != got) {
        outcome.differences.push_back("minute " + std::to_string(minute) + ": expected " +
                                      describe_minute(want, organization) + "; got " +
                                      describe_minute(got, organization));
      }
    }
  }
  if (outcome.differences.empty()) {
    outcome.passed = true;
    return outcome;
  }
  std::vector<std::string> choices;
  for (const PolicyChoice& choice : result.choices) {
    choices.push_back(
        (choice.policy.empty()
             ? std::string("no policy")
             : choice.policy + where_of(policies, result.organization, choice.policy)) +
        " at minute " + std::to_string(choice.minute.count()) + " (" + reason_words(choice.reason) +
        ")");
  }
  outcome.differences.push_back("chosen: " +
                                (choices.empty() ? std::string("nothing") : join(choices, "; ")));
  for (const SimulatedPage& page : result.pages) {
    for (const Unreachable& unreachable : page.unreachable) {
      outcome.differences.push_back("minute " + std::to_string(page.minute.count()) + ": step " +
                                    std::to_string(page.step) +
                                    " could not reach: " + unreachable.reason);
    }
  }
  return outcome;
}

// Prints a multi-line message one problem per line.
void print_lines(std::ostream& out, const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    out << text.substr(start, end - start) << '\n';
    start = end + 1;
  }
}

std::string count_of(std::size_t n, std::string_view what) {
  return std::to_string(n) + " " + std::string(what) + (n == 1 ? "" : "s");
}

}  // namespace

core::Result<PolicyTestSuite> parse_policy_test_file(std::string_view yaml_text,
                                                     const std::string& file) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    return invalid(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return invalid(file + ": " + e.what());
  }
  if (documents.empty() || documents.front().IsNull()) {
    return invalid(file +
                   ": the file is empty; expected a mapping with the keys directory, "
                   "policies and tests");
  }
  if (documents.size() > 1) {
    const YAML::Mark mark = documents[1].Mark();
    return invalid(file + ":" + std::to_string(mark.line + 1) + ":" +
                   std::to_string(mark.column + 1) +
                   ": a second YAML document; a test file is a single document");
  }
  const YAML::Node& root = documents.front();
  if (core::count_yaml_nodes(root, core::kMaxYamlNodes) > core::kMaxYamlNodes) {
    return invalid(file + ": the document expands to more than " +
                   std::to_string(core::kMaxYamlNodes) + " values (aliases?)");
  }
  PolicyTestSuite suite;
  suite.file = file;
  TestFileReader reader(file);
  try {
    reader.read(root, suite);
  } catch (const YAML::Exception& e) {
    reader.report(e.mark, e.msg);
  }
  if (reader.has_problems()) {
    return invalid(reader.take_problems());
  }
  return suite;
}

core::Result<PolicyTestSuite> load_policy_test_file(const std::filesystem::path& path) {
  auto [text, error] = core::read_bounded_file(path, core::kMaxYamlFileBytes);
  if (error == EFBIG) {
    return invalid(path.string() + ": larger than 16 MiB; is it the right file?");
  }
  if (error != 0) {
    return invalid(path.string() + ": cannot read: " + std::generic_category().message(error));
  }
  return parse_policy_test_file(text, path.string());
}

std::vector<PolicyTestOutcome> run_policy_tests(const PolicyTestSuite& suite,
                                                const PolicySet& policies,
                                                TimeZoneDatabase& zones) {
  std::vector<PolicyTestOutcome> outcomes;
  outcomes.reserve(suite.tests.size());
  for (const PolicyTest& test : suite.tests) {
    outcomes.push_back(run_one(test, suite.directory, policies, zones));
  }
  return outcomes;
}

std::vector<std::string> check_policy_names(const PolicyTestSuite& suite,
                                            const PolicySet& policies) {
  std::vector<std::string> problems;
  const auto check = [&](const PolicyTest& test, const std::string& name,
                         const SourceLocation& where, std::string_view key) {
    if (name.empty() || policies.find(test.scenario.organization, name) != nullptr) {
      return;
    }
    std::vector<std::string> names;
    for (const Policy& policy : policies.policies) {
      if (policy.organization == test.scenario.organization) {
        names.push_back(policy.name);
      }
    }
    problems.push_back(where.file + ":" + std::to_string(where.line) + ":" +
                       std::to_string(where.column) + ": test " + quote(test.name) +
                       ": expect: " + std::string(key) + ": no policy " + quote(name) +
                       " in organization " + test.scenario.organization +
                       " (policies: " + ids_or_none(names) + "; write none for no policy)");
  };
  for (const PolicyTest& test : suite.tests) {
    if (test.expected_policy) {
      check(test, *test.expected_policy, test.expected_policy_where, "policy");
    }
    if (test.expected_policies) {
      for (const std::string& name : *test.expected_policies) {
        check(test, name, test.expected_policies_where, "policies");
      }
    }
  }
  return problems;
}

int run_policy_test_file(const std::filesystem::path& path, std::ostream& out) {
  auto suite = load_policy_test_file(path);
  if (!suite) {
    print_lines(out, suite.error().message);
    out << path.string() << ": invalid test file\n";
    return kPolicyTestFileInvalid;
  }
  std::vector<PolicyProblem> warnings;
  auto policies = load_policies(suite->policies_path, suite->directory, &warnings);
  if (!policies) {
    print_lines(out, policies.error().message);
    out << path.string() << ": the policies in " << suite->policies_path.string()
        << " are invalid\n";
    return kPolicyTestFileInvalid;
  }
  if (const auto problems = check_policy_names(*suite, *policies); !problems.empty()) {
    for (const std::string& problem : problems) {
      out << problem << '\n';
    }
    out << path.string() << ": invalid test file\n";
    return kPolicyTestFileInvalid;
  }
  TimeZoneDatabase zones(suite->zoneinfo);
  const auto outcomes = run_policy_tests(*suite, *policies, zones);
  std::size_t failed = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const PolicyTestOutcome& outcome = outcomes[i];
    if (outcome.passed) {
      out << "PASS  " << outcome.name << '\n';
      continue;
    }
    ++failed;
    const SourceLocation& where = suite->tests[i].where;
    out << "FAIL  " << outcome.name << " (" << where.file << ':' << where.line << ")\n";
    for (const std::string& difference : outcome.differences) {
      out << "      " << difference << '\n';
    }
  }
  out << path.string() << ": " << count_of(outcomes.size(), "test") << ", "
      << outcomes.size() - failed << " passed, " << failed << " failed\n";
  return failed == 0 ? kPolicyTestsPassed : kPolicyTestFailed;
}

}  // namespace haveri::policy
