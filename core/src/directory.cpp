#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <system_error>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <haveri/core/directory.hpp>
#include <haveri/core/yaml_text.hpp>

#include "shift_text.hpp"
#include "yaml_input.hpp"
#include "yaml_schema.hpp"

namespace haveri::core {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxDirectoryBytes = kMaxYamlFileBytes;
constexpr std::size_t kMaxNodes = kMaxYamlNodes;
// Ids listed in an "unknown …" message at most.

constexpr std::array<std::string_view, 1> kTopKeys = {"organizations"};
constexpr std::array<std::string_view, 9> kOrganizationKeys = {
    "id",    "name",   "installations", "announcements", "facilities",
    "areas", "assets", "teams",         "members"};
constexpr std::array<std::string_view, 2> kInstallationKeys = {"platform", "id"};
constexpr std::array<std::string_view, 3> kAnnouncementsKeys = {"instance", "channel", "name"};
constexpr std::array<std::string_view, 3> kFacilityKeys = {"id", "name", "time_zone"};
constexpr std::array<std::string_view, 3> kAreaKeys = {"id", "name", "facility"};
constexpr std::array<std::string_view, 4> kAssetKeys = {"id", "name", "asset_type", "area"};
constexpr std::array<std::string_view, 7> kTeamKeys = {"id",     "name",      "facility", "members",
                                                       "shifts", "overrides", "channel"};
constexpr std::array<std::string_view, 5> kShiftKeys = {"name", "days", "hours", "members",
                                                        "time_zone"};
constexpr std::array<std::string_view, 4> kOverrideKeys = {"from", "to", "members", "reason"};
constexpr std::array<std::string_view, 3> kTeamChannelKeys = {"instance", "channel", "name"};
constexpr std::array<std::string_view, 4> kMemberKeys = {"id", "name", "role", "identities"};

constexpr std::string_view kDefaultRole = "responder";

template <class T>
const T* find_by_id(const std::vector<T>& items, std::string_view id) noexcept {
  for (const auto& item : items) {
    if (item.id == id) {
      return &item;
    }
  }
  return nullptr;
}

std::string quote(std::string_view text) {
  return quote_for_message(text);
}

std::string describe(const YAML::Node& node) {
  return describe_yaml(node);
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9-]+: an organization id appears in URLs and metrics labels.
bool is_organization_id(std::string_view id) {
  return !id.empty() &&
         std::all_of(id.begin(), id.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// [a-z0-9_]+: a plugin name, as in the daemon configuration.
bool is_platform_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](char c) { return is_lower_alnum(c) || c == '_'; });
}

// The length of the valid UTF-8 sequence at `pos`, or 0 when the byte there starts none
// (stray continuation bytes, overlong forms, surrogates, beyond U+10FFFF, cut short).
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  std::size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    min_second = lead == 0xE0 ? 0xA0 : min_second;
    max_second = lead == 0xED ? 0x9F : max_second;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    min_second = lead == 0xF0 ? 0x90 : min_second;
    max_second = lead == 0xF4 ? 0x8F : max_second;
  } else {
    return 0;
  }
  if (pos + length > text.size() || byte(pos + 1) < min_second || byte(pos + 1) > max_second) {
    return 0;
  }
  for (std::size_t i = pos + 2; i < pos + length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

// "YYYY-MM-DDTHH:MM" (or a space for the T): a wall-clock date and time.
std::optional<LocalMinutes> parse_local_minutes(std::string_view text) {
  constexpr std::string_view kShape = "dddd-dd-ddXdd:dd";
  if (text.size() != kShape.size()) {
    return std::nullopt;
  }
  std::array<int, 5> fields{};  // year, month, day, hour, minute
  std::size_t field = 0;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char c = text[i];
    if (kShape[i] == 'd') {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      fields.at(field) = fields.at(field) * 10 + (c - '0');
    } else {
      const bool separator_ok = kShape[i] == 'X' ? (c == 'T' || c == ' ') : c == kShape[i];
      if (!separator_ok) {
        return std::nullopt;
      }
      ++field;
    }
  }
  const auto [year, month, day, hour, minute] = fields;
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59) {
    return std::nullopt;
  }
  return std::chrono::local_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute);
}

// "2026-12-24T22:00".
std::string format_local_minutes(LocalMinutes time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date{day};
  const auto minutes = (time - day).count();
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(minutes / 60),
                static_cast<int>(minutes % 60));
  return buffer.data();
}

// A name that stays inside the tz database directory.
bool is_safe_zone_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return false;
  }
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == '\\';
  });
}

using yaml_schema::Field;
using yaml_schema::list_ids;
using yaml_schema::Mapping;

// An id mentioned by one thing and defined by another, checked once the whole
// organization is read.
struct Reference {
  YAML::Mark mark;
  std::string owner;  // `area "assembly"`
  std::string kind;   // "facility"
  std::string id;
};

// Who first claimed something (an installation, a chat identity), and where.
struct Claim {
  std::string owner;  // organization id, member id
  int line;
};

// Walks a parsed document, collecting every problem instead of stopping at the first.
class DirectoryReader : public yaml_schema::SchemaReading<DirectoryReader> {
 public:
  DirectoryReader(std::string_view source, fs::path zoneinfo)
      : source_(source), zoneinfo_(std::move(zoneinfo)) {}

  Directory read(const YAML::Node& root) {
    Directory directory;
    if (!root.IsMap()) {
      report(root.Mark(), "expected a mapping with the key organizations at the top level, got " +
                              describe(root));
      return directory;
    }
    const Mapping top = mapping(root, kTopKeys);
    finish(top, "");
    const Field* organizations = top.find("organizations");
    if (organizations == nullptr) {
      report(top.mark,
             "required key \"organizations\" is missing (a list of organizations, each with an "
             "id and its installations)");
      return directory;
    }
    const auto items = list(*organizations, "", "organizations");
    if (items && items->empty()) {
      report(mark_of(*organizations),
             "organizations: the list is empty; add at least one organization (without one, "
             "all chat traffic is refused)");
    }
    for (const auto& item : items.value_or(std::vector<YAML::Node>{})) {
      read_organization(item, directory);
    }
    return directory;
  }

  void report(const YAML::Mark& mark, const std::string& message) {
    std::string line = source_;
    const bool located = !mark.is_null() && mark.line >= 0 && mark.column >= 0;
    if (located) {
      line += ':' + std::to_string(mark.line + 1) + ':' + std::to_string(mark.column + 1);
    }
    line += ": ";
    line += message;
    problems_.push_back({located ? mark.line : -1, located ? mark.column : -1, std::move(line)});
  }

  // Every problem, in the order of the file, one per line.
  std::string take_problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::string out;
    for (const auto& problem : problems_) {
      if (!out.empty()) {
        out += '\n';
      }
      out += problem.text;
    }
    problems_.clear();
    return out;
  }

  bool has_problems() const { return !problems_.empty(); }

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };

  // What the organization being read defines, for its references.
  struct Scope {
    std::string what;                                                  // `organization "acme"`
    std::map<std::string, std::vector<std::string>, std::less<>> ids;  // kind -> ids in order
    std::vector<Reference> references;
  };

  std::vector<YAML::Node> optional_list(const Mapping& m, std::string_view what,
                                        std::string_view key) {
    const Field* field = m.find(key);
    if (field == nullptr) {
      return {};
    }
    return list(*field, what, key).value_or(std::vector<YAML::Node>{});
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

  // Reads the id of a list item and checks it is unique among `first_line`;
  // returns it, empty when there is none (reported).
  std::string read_id(const Mapping& m, std::string_view kind,
                      std::map<std::string, int, std::less<>>& first_line) {
    const auto id = required_text(m, kind, "id");
    if (!id) {
      return {};
    }
    const YAML::Mark mark = mark_of(*m.find("id"));
    if (const auto it = first_line.find(*id); it != first_line.end()) {
      report(mark, "duplicate " + std::string(kind) + " id " + quote(*id) + " (first at line " +
                       std::to_string(it->second) + "); ids must be unique");
    } else {
      first_line.emplace(*id, mark.line + 1);
    }
    return *id;
  }

  static std::string named(std::string_view kind, std::string_view id) {
    return id.empty() ? std::string(kind) : std::string(kind) + ' ' + quote(id);
  }

  void read_organization(const YAML::Node& node, Directory& directory) {
    if (!is_mapping_item(node, "", "organizations", "id, name and installations")) {
      return;
    }
    const Mapping m = mapping(node, kOrganizationKeys);
    Organization org;
    Scope scope;
    scope.what = "organization";
    if (const auto id = required_text(m, "organization", "id")) {
      const Field& field = *m.find("id");
      if (!is_organization_id(*id)) {
        report(mark_of(field), "organization id " + quote(*id) +
                                   ": use lowercase letters, digits and '-' (such as \"acme\")");
      } else if (const auto it = organization_lines_.find(*id); it != organization_lines_.end()) {
        report(mark_of(field), "duplicate organization id " + quote(*id) + " (first at line " +
                                   std::to_string(it->second) + "); ids must be unique");
      } else {
        organization_lines_.emplace(*id, mark_of(field).line + 1);
      }
      org.id = *id;
      scope.what = named("organization", *id);
    }
    finish(m, scope.what);
    org.name = optional_text(m, scope.what, "name").value_or(org.id);

    for (const auto& item : optional_list(m, scope.what, "installations")) {
      read_installation(item, scope, org);
    }
    if (const Field* field = m.find("announcements")) {
      read_announcements(*field, scope, org);
    }
    std::map<std::string, int, std::less<>> lines;
    for (const auto& item : optional_list(m, scope.what, "facilities")) {
      read_facility(item, scope, lines, org);
    }
    lines.clear();
    for (const auto& item : optional_list(m, scope.what, "areas")) {
      read_area(item, scope, lines, org);
    }
    lines.clear();
    for (const auto& item : optional_list(m, scope.what, "assets")) {
      read_asset(item, scope, lines, org);
    }
    lines.clear();
    for (const auto& item : optional_list(m, scope.what, "teams")) {
      read_team(item, scope, lines, org);
    }
    lines.clear();
    identities_.clear();
    for (const auto& item : optional_list(m, scope.what, "members")) {
      read_member(item, scope, lines, org);
    }
    check_references(scope);
    directory.organizations.push_back(std::move(org));
  }

  void read_installation(const YAML::Node& node, const Scope& scope, Organization& org) {
    if (!is_mapping_item(node, scope.what, "installations", "platform and id")) {
      return;
    }
    const Mapping m = mapping(node, kInstallationKeys);
    const std::string what = scope.what + ", installation";
    finish(m, what);
    const auto platform = required_text(m, what, "platform", " (local, slack, teams, …)");
    const auto id = required_text(m, what, "id");
    if (!platform || !id) {
      return;
    }
    if (!is_platform_name(*platform)) {
      report(mark_of(*m.find("platform")),
             what + ": platform " + quote(*platform) +
                 ": expected a plugin name of lowercase letters, digits and '_' (local, slack, "
                 "teams)");
      return;
    }
    const YAML::Mark mark = mark_of(*m.find("id"));
    const auto key = std::pair(*platform, *id);
    if (const auto it = claims_.find(key); it != claims_.end()) {
      if (it->second.owner == org.id) {
        report(mark, "installation " + *platform + ' ' + quote(*id) +
                         " is listed twice in organization " + quote(org.id) + " (first at line " +
                         std::to_string(it->second.line) + "); remove one");
      } else {
        report(mark, "installation " + *platform + ' ' + quote(*id) +
                         " is already claimed by organization " + quote(it->second.owner) +
                         " (line " + std::to_string(it->second.line) +
                         "); an installation belongs to one organization");
      }
      return;
    }
    claims_.emplace(key, Claim{org.id, mark.line + 1});
    org.installations.push_back(Installation{*platform, *id});
  }

  void read_announcements(const Field& field, const Scope& scope, Organization& org) {
    const std::string what = scope.what + ", announcements";
    if (field.value.IsNull()) {
      return;
    }
    if (!field.value.IsMap()) {
      report(mark_of(field), what + ": expected a mapping with instance, channel and name, got " +
                                 describe(field.value));
      return;
    }
    const Mapping m = mapping(field.value, kAnnouncementsKeys);
    finish(m, what);
    const auto instance =
        required_text(m, what, "instance", " (the plugin instance that posts the summaries)");
    const auto channel = required_text(m, what, "channel", " (the platform's channel id)");
    const auto name = optional_text(m, what, "name");
    if (instance && channel) {
      org.announcements = AnnouncementsChannel{*instance, *channel, name.value_or(*channel)};
    }
  }

  void read_facility(const YAML::Node& node, Scope& scope,
                     std::map<std::string, int, std::less<>>& lines, Organization& org) {
    if (!is_mapping_item(node, scope.what, "facilities", "id, name and time_zone")) {
      return;
    }
    const Mapping m = mapping(node, kFacilityKeys);
    Facility facility;
    facility.id = read_id(m, "facility", lines);
    const std::string what = named("facility", facility.id);
    finish(m, what);
    facility.name = optional_text(m, what, "name").value_or(facility.id);
    if (auto zone =
            required_text(m, what, "time_zone", " (an IANA name such as Europe/Helsinki)")) {
      check_time_zone(*zone, mark_of(*m.find("time_zone")), what);
      facility.time_zone = std::move(*zone);
    }
    scope.ids["facility"].push_back(facility.id);
    org.facilities.push_back(std::move(facility));
  }

  void check_time_zone(const std::string& zone, const YAML::Mark& mark, std::string_view what) {
    if (!is_safe_zone_name(zone)) {
      report(mark, prefix(what) + "time zone " + quote(zone) +
                       " is not a tz database name; use an IANA name such as Europe/Helsinki");
      return;
    }
    std::error_code ec;
    if (fs::is_regular_file(zoneinfo_ / zone, ec)) {
      return;
    }
    if (!fs::is_directory(zoneinfo_, ec)) {
      report(mark, prefix(what) + "cannot check time zone " + quote(zone) +
                       ": the time zone database " + quote(zoneinfo_.string()) +
                       " does not exist (install tzdata or point zoneinfo at it)");
      return;
    }
    report(mark, prefix(what) + "unknown time zone " + quote(zone) + " (not found in " +
                     quote(zoneinfo_.string()) + "; use an IANA name such as Europe/Helsinki)");
  }

  void read_area(const YAML::Node& node, Scope& scope,
                 std::map<std::string, int, std::less<>>& lines, Organization& org) {
    if (!is_mapping_item(node, scope.what, "areas", "id, name and facility")) {
      return;
    }
    const Mapping m = mapping(node, kAreaKeys);
    Area area;
    area.id = read_id(m, "area", lines);
    const std::string what = named("area", area.id);
    finish(m, what);
    area.name = optional_text(m, what, "name").value_or(area.id);
    if (auto facility = required_text(m, what, "facility")) {
      scope.references.push_back({mark_of(*m.find("facility")), what, "facility", *facility});
      area.facility = std::move(*facility);
    }
    scope.ids["area"].push_back(area.id);
    org.areas.push_back(std::move(area));
  }

  void read_asset(const YAML::Node& node, Scope& scope,
                  std::map<std::string, int, std::less<>>& lines, Organization& org) {
    if (!is_mapping_item(node, scope.what, "assets", "id, name, asset_type and area")) {
      return;
    }
    const Mapping m = mapping(node, kAssetKeys);
    Asset asset;
    asset.id = read_id(m, "asset", lines);
    const std::string what = named("asset", asset.id);
    finish(m, what);
    asset.name = optional_text(m, what, "name").value_or(asset.id);
    asset.asset_type = optional_text(m, what, "asset_type").value_or("");
    if (auto area = required_text(m, what, "area")) {
      scope.references.push_back({mark_of(*m.find("area")), what, "area", *area});
      asset.area = std::move(*area);
    }
    scope.ids["asset"].push_back(asset.id);
    org.assets.push_back(std::move(asset));
  }

  void read_team(const YAML::Node& node, Scope& scope,
                 std::map<std::string, int, std::less<>>& lines, Organization& org) {
    if (!is_mapping_item(node, scope.what, "teams",
                         "id, name, facility, members, shifts, overrides and channel")) {
      return;
    }
    const Mapping m = mapping(node, kTeamKeys);
    Team team;
    team.id = read_id(m, "team", lines);
    const std::string what = named("team", team.id);
    finish(m, what);
    team.name = optional_text(m, what, "name").value_or(team.id);
    if (auto facility = optional_text(m, what, "facility")) {
      scope.references.push_back({mark_of(*m.find("facility")), what, "facility", *facility});
      team.facility = std::move(*facility);
    }
    team.members = read_member_list(m, what, scope);
    const auto shifts = optional_list(m, what, "shifts");
    for (std::size_t i = 0; i < shifts.size(); ++i) {
      read_shift(shifts[i], what, i, team);
    }
    const auto overrides = optional_list(m, what, "overrides");
    std::vector<std::pair<std::size_t, YAML::Mark>> override_places;  // index, where
    for (std::size_t i = 0; i < overrides.size(); ++i) {
      if (auto shift_override = read_override(overrides[i], what, i, scope)) {
        team.overrides.push_back(std::move(*shift_override));
        override_places.emplace_back(i, overrides[i].Mark());
      }
    }
    check_overrides_apart(team.overrides, override_places, what);
    if (m.find("facility") == nullptr && (!shifts.empty() || !overrides.empty())) {
      report(m.mark, what + ": required key \"facility\" is missing (" +
                         (shifts.empty() ? "override times" : "shift hours") +
                         " are in the facility's time zone)");
    }
    if (const Field* field = m.find("channel")) {
      team.channel = read_team_channel(*field, what);
    }
    scope.ids["team"].push_back(team.id);
    org.teams.push_back(std::move(team));
  }

  // A list of member ids of the organization, each once (`members` of a team or an
  // override); unknown ids are checked with the organization's references.
  std::vector<std::string> read_member_list(const Mapping& m, const std::string& what,
                                            Scope& scope) {
    std::vector<std::string> members;
    std::map<std::string, int, std::less<>> member_lines;
    for (const auto& item : optional_list(m, what, "members")) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        report(item.Mark(), what + ": members: expected a member id, got " + describe(item));
        continue;
      }
      const std::string& id = item.Scalar();
      if (const auto it = member_lines.find(id); it != member_lines.end()) {
        report(item.Mark(), what + ": member " + quote(id) + " is listed twice (first at line " +
                                std::to_string(it->second) + ")");
        continue;
      }
      member_lines.emplace(id, item.Mark().line + 1);
      scope.references.push_back({item.Mark(), what, "member", id});
      members.push_back(id);
    }
    return members;
  }

  void read_shift(const YAML::Node& node, const std::string& team_what, std::size_t index,
                  Team& team) {
    if (!is_mapping_item(node, team_what, "shifts", "name, days, hours, members and time_zone")) {
      return;
    }
    const Mapping m = mapping(node, kShiftKeys);
    Shift shift;
    std::string what = team_what + ", shift " + std::to_string(index + 1);
    if (const Field* field = m.find("name")) {
      if (auto name = text(*field, what, "name")) {
        shift.name = std::move(*name);
        what = team_what + ", shift " + quote(shift.name);
      }
    }
    finish(m, what);
    const std::size_t problems_before = problems_.size();
    const ShiftTextReport to_report = [this](const YAML::Mark& mark, const std::string& message) {
      report(mark, message);
    };
    if (const Field* field = m.find("days")) {
      if (auto days = read_days(field->value, mark_of(*field), what, to_report)) {
        shift.days = std::move(*days);
      }
    } else {
      report(m.mark, what + ": required key \"days\" is missing" + std::string(kDaysHint));
    }
    if (const Field* field = m.find("hours")) {
      if (const auto hours = read_hours(field->value, mark_of(*field), what, to_report)) {
        shift.start = hours->start;
        shift.end = hours->end;
      }
    } else {
      report(m.mark, what + ": required key \"hours\" is missing" + std::string(kHoursHint));
    }
    std::map<std::string, int, std::less<>> member_lines;
    for (const auto& item : optional_list(m, what, "members")) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        report(item.Mark(), what + ": members: expected a member id, got " + describe(item));
        continue;
      }
      const std::string& id = item.Scalar();
      if (const auto it = member_lines.find(id); it != member_lines.end()) {
        report(item.Mark(), what + ": member " + quote(id) + " is listed twice (first at line " +
                                std::to_string(it->second) + ")");
        continue;
      }
      member_lines.emplace(id, item.Mark().line + 1);
      if (std::find(team.members.begin(), team.members.end(), id) == team.members.end()) {
        const std::string known = list_ids(team.members);
        report(item.Mark(), what + ": member " + quote(id) + " is not a member of the team (" +
                                (known.empty() ? "the team has no members; add it to the team's "
                                                 "members first"
                                               : "members: " + known) +
                                ")");
        continue;
      }
      shift.members.push_back(id);
    }
    if (auto zone = optional_text(m, what, "time_zone")) {
      check_time_zone(*zone, mark_of(*m.find("time_zone")), what);
      shift.time_zone = std::move(*zone);
    }
    if (problems_.size() == problems_before) {
      team.shifts.push_back(std::move(shift));
    }
  }

  std::optional<ShiftOverride> read_override(const YAML::Node& node, const std::string& team_what,
                                             std::size_t index, Scope& scope) {
    if (!is_mapping_item(node, team_what, "overrides", "from, to, members and reason")) {
      return std::nullopt;
    }
    const Mapping m = mapping(node, kOverrideKeys);
    const std::string what = team_what + ", override " + std::to_string(index + 1);
    finish(m, what);
    const std::size_t problems_before = problems_.size();
    ShiftOverride shift_override;
    const auto read_time = [&](std::string_view key) -> std::optional<LocalMinutes> {
      const auto written =
          required_text(m, what, key, " (a local date and time such as 2026-12-24T22:00)");
      if (!written) {
        return std::nullopt;
      }
      if (auto time = parse_local_minutes(*written)) {
        return time;
      }
      report(mark_of(*m.find(key)), what + ": " + std::string(key) +
                                        ": expected a date and time such as 2026-12-24T22:00 "
                                        "(YYYY-MM-DDTHH:MM, in the facility's time zone), got " +
                                        quote(*written));
      return std::nullopt;
    };
    const auto from = read_time("from");
    const auto to = read_time("to");
    if (from && to && *to <= *from) {
      report(mark_of(*m.find("to")), what + ": to: " + format_local_minutes(*to) +
                                         " is not later than from (" + format_local_minutes(*from) +
                                         ")");
    }
    if (m.find("members") == nullptr) {
      report(m.mark, what +
                         ": required key \"members\" is missing (who is on duty instead; [] for "
                         "nobody)");
    }
    shift_override.members = read_member_list(m, what, scope);
    shift_override.reason = optional_text(m, what, "reason").value_or("");
    if (problems_.size() != problems_before || !from || !to) {
      return std::nullopt;
    }
    shift_override.from = *from;
    shift_override.to = *to;
    return shift_override;
  }

  // Overrides of a team must not overlap: who is on duty would be ambiguous. Each
  // overlapping pair is reported at the override written later, naming the other.
  void check_overrides_apart(const std::vector<ShiftOverride>& overrides,
                             const std::vector<std::pair<std::size_t, YAML::Mark>>& places,
                             const std::string& team_what) {
    std::vector<std::size_t> order(overrides.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return overrides[a].from < overrides[b].from;
    });
    std::optional<std::size_t> latest_end;  // the override seen so far that ends last
    for (const std::size_t current : order) {
      if (latest_end && overrides[current].from < overrides[*latest_end].to) {
        const std::size_t earlier = std::min(current, *latest_end);
        const std::size_t later = std::max(current, *latest_end);
        const LocalMinutes from = std::max(overrides[earlier].from, overrides[later].from);
        const LocalMinutes to = std::min(overrides[earlier].to, overrides[later].to);
        report(places[later].second,
               team_what + ", override " + std::to_string(places[later].first + 1) +
                   ": overlaps override " + std::to_string(places[earlier].first + 1) + " (line " +
                   std::to_string(places[earlier].second.line + 1) + ") from " +
                   format_local_minutes(from) + " to " + format_local_minutes(to) +
                   "; overrides of a team must not overlap");
      }
      if (!latest_end || overrides[current].to > overrides[*latest_end].to) {
        latest_end = current;
      }
    }
  }

  std::optional<TeamChannel> read_team_channel(const Field& field, const std::string& team_what) {
    const std::string what = team_what + ", channel";
    if (field.value.IsNull()) {
      return std::nullopt;
    }
    if (!field.value.IsMap()) {
      report(mark_of(field), what + ": expected a mapping with instance, channel and name, got " +
                                 describe(field.value));
      return std::nullopt;
    }
    const Mapping m = mapping(field.value, kTeamChannelKeys);
    finish(m, what);
    const auto instance =
        required_text(m, what, "instance", " (the plugin instance that posts in the channel)");
    const auto channel = required_text(m, what, "channel", " (the platform's channel id)");
    const auto name = optional_text(m, what, "name");
    if (!instance || !channel) {
      return std::nullopt;
    }
    return TeamChannel{*instance, *channel, name.value_or(*channel)};
  }

  void read_member(const YAML::Node& node, Scope& scope,
                   std::map<std::string, int, std::less<>>& lines, Organization& org) {
    if (!is_mapping_item(node, scope.what, "members", "id, name, role and identities")) {
      return;
    }
    const Mapping m = mapping(node, kMemberKeys);
    Member member;
    member.id = read_id(m, "member", lines);
    const std::string what = named("member", member.id);
    finish(m, what);
    member.name = optional_text(m, what, "name").value_or(member.id);
    member.role = optional_text(m, what, "role").value_or(std::string(kDefaultRole));
    if (const Field* field = m.find("identities")) {
      read_identities(*field, what, member);
    }
    scope.ids["member"].push_back(member.id);
    org.members.push_back(std::move(member));
  }

  void read_identities(const Field& field, const std::string& what, Member& member) {
    if (field.value.IsNull()) {
      return;
    }
    if (!field.value.IsMap()) {
      report(mark_of(field), what +
                                 ": identities: expected a mapping of platform to user id (such "
                                 "as local: alice, slack: U0123ABC), got " +
                                 describe(field.value));
      return;
    }
    std::map<std::string, int, std::less<>> platform_lines;
    for (auto it = field.value.begin(); it != field.value.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: `it->` returns a temporary proxy
      if (!key.IsScalar() || !is_platform_name(key.Scalar())) {
        report(key.Mark(), what +
                               ": identities: expected a platform name of lowercase letters, "
                               "digits and '_' (local, slack, teams), got " +
                               describe(key));
        continue;
      }
      const std::string& platform = key.Scalar();
      if (const auto seen = platform_lines.find(platform); seen != platform_lines.end()) {
        report(key.Mark(), what + ": two identities on platform " + quote(platform) +
                               " (first at line " + std::to_string(seen->second) +
                               "); a member has one identity per platform");
        continue;
      }
      platform_lines.emplace(platform, key.Mark().line + 1);
      const Field identity{it->first, it->second};
      const auto user = text(identity, what, "identities." + platform);
      if (!user) {
        continue;
      }
      const YAML::Mark mark = mark_of(identity);
      const auto claim = std::pair(platform, *user);
      if (const auto owner = identities_.find(claim); owner != identities_.end()) {
        report(mark, what + ": identity " + platform + ' ' + quote(*user) +
                         " is already used by member " + quote(owner->second.owner) + " (line " +
                         std::to_string(owner->second.line) +
                         "); one chat account belongs to one member");
        continue;
      }
      identities_.emplace(claim, Claim{member.id, mark.line + 1});
      member.identities.emplace(platform, *user);
    }
  }

  static std::string plural(std::string_view kind) {
    return kind == "facility" ? "facilities" : std::string(kind) + 's';
  }

  void check_references(const Scope& scope) {
    static const std::vector<std::string> no_ids;
    for (const auto& reference : scope.references) {
      const auto it = scope.ids.find(reference.kind);
      const auto& ids = it == scope.ids.end() ? no_ids : it->second;
      if (std::find(ids.begin(), ids.end(), reference.id) != ids.end()) {
        continue;
      }
      const std::string known = list_ids(ids);
      report(reference.mark,
             reference.owner + ": unknown " + reference.kind + ' ' + quote(reference.id) +
                 (known.empty() ? " (" + scope.what + " has no " + plural(reference.kind) +
                                      "; add it under " + plural(reference.kind) + ")"
                                : " (" + plural(reference.kind) + ": " + known + ")"));
    }
  }

  std::string source_;
  fs::path zoneinfo_;
  std::vector<Problem> problems_;
  std::map<std::string, int, std::less<>> organization_lines_;
  std::map<std::pair<std::string, std::string>, Claim> claims_;  // installations, all orgs
  // (platform, user id) -> member, within the organization being read.
  std::map<std::pair<std::string, std::string>, Claim> identities_;
};

Error invalid(std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message));
}

std::string position(std::string_view source, const YAML::Mark& mark) {
  return std::string(source) + ':' + std::to_string(mark.line + 1) + ':' +
         std::to_string(mark.column + 1);
}

}  // namespace

const Facility* Organization::facility(std::string_view facility_id) const noexcept {
  return find_by_id(facilities, facility_id);
}

const Area* Organization::area(std::string_view area_id) const noexcept {
  return find_by_id(areas, area_id);
}

const Asset* Organization::asset(std::string_view asset_id) const noexcept {
  return find_by_id(assets, asset_id);
}

const Team* Organization::team(std::string_view team_id) const noexcept {
  return find_by_id(teams, team_id);
}

const Member* Organization::member(std::string_view member_id) const noexcept {
  return find_by_id(members, member_id);
}

const Member* Organization::member_by_identity(std::string_view platform,
                                               std::string_view user_id) const noexcept {
  for (const auto& candidate : members) {
    const auto it = candidate.identities.find(std::string(platform));
    if (it != candidate.identities.end() && it->second == user_id) {
      return &candidate;
    }
  }
  return nullptr;
}

const Organization* Directory::organization(std::string_view organization_id) const noexcept {
  return find_by_id(organizations, organization_id);
}

const Organization* Directory::organization_for(std::string_view platform,
                                                std::string_view installation_id) const noexcept {
  for (const auto& candidate : organizations) {
    for (const auto& installation : candidate.installations) {
      if (installation.platform == platform && installation.id == installation_id) {
        return &candidate;
      }
    }
  }
  return nullptr;
}

Result<Directory> parse_directory(std::string_view yaml_text, std::string_view source,
                                  const std::filesystem::path& zoneinfo) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file".
    return invalid(position(source, e.mark) + ": " + std::string(kTooDeep));
  } catch (const YAML::ParserException& e) {
    return invalid(position(source, e.mark) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return invalid(std::string(source) + ": " + e.what());
  }
  if (documents.empty() || documents.front().IsNull()) {
    return invalid(std::string(source) +
                   ": the file is empty; expected a mapping with the key organizations");
  }
  if (documents.size() > 1) {
    return invalid(position(source, documents[1].Mark()) +
                   ": a second YAML document; the directory is a single document");
  }
  const YAML::Node& root = documents.front();
  if (count_yaml_nodes(root, kMaxNodes) > kMaxNodes) {
    return invalid(std::string(source) + ": the document expands to more than " +
                   std::to_string(kMaxNodes) + " values (aliases?)");
  }
  DirectoryReader reader(source, zoneinfo);
  Directory directory;
  try {
    directory = reader.read(root);
  } catch (const YAML::Exception& e) {
    reader.report(e.mark, e.msg);
  }
  if (reader.has_problems()) {
    return invalid(reader.take_problems());
  }
  return directory;
}

Result<Directory> load_directory(const std::filesystem::path& file,
                                 const std::filesystem::path& zoneinfo) {
  auto [text, error] = read_bounded_file(file, kMaxDirectoryBytes);
  if (error == EFBIG) {
    return invalid(file.string() + ": larger than 16 MiB; is it the right file?");
  }
  if (error != 0) {
    return invalid(file.string() + ": cannot read: " + std::generic_category().message(error));
  }
  return parse_directory(text, file.string(), zoneinfo);
}

Directory default_directory(const std::vector<std::string>& local_instances) {
  Organization org;
  org.id = "default";
  org.name = "Default organization";
  for (const auto& instance : local_instances) {
    org.installations.push_back(Installation{"local", instance});
  }
  if (!local_instances.empty()) {
    org.announcements = AnnouncementsChannel{local_instances.front(), "general", "general"};
  }
  Directory directory;
  directory.organizations.push_back(std::move(org));
  return directory;
}

// A scalar as it appears in an error message: quoted, escaped, shortened.
std::string quote_for_message(std::string_view text) {
  constexpr std::size_t kMaxShown = 60;
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out = "\"";
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (i + std::max<std::size_t>(length, 1) > kMaxShown) {
      break;  // never cut a character in two
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (length == 0 || c < 0x20 || c == 0x7f) {
      // Control characters and bytes that are not UTF-8 stay visible and harmless.
      out += "\\x";
      out += kHex[c >> 4U];
      out += kHex[c & 0xfU];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  if (i < text.size()) {
    out += "...";
  }
  out += '"';
  return out;
}

std::string describe_yaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote_for_message(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

}  // namespace haveri::core
