#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/result.hpp>

namespace haveri::core {

// Who works where: the static part of the domain, kept by admins as YAML under
// version control (docs/directory.md). Loaded at start and on SIGHUP; immutable once
// loaded (shared as std::shared_ptr<const Directory>).

// A platform installation that belongs to an organization: a Slack workspace
// ("slack", "T0123ABC"), a Teams tenant ("teams", "<tenant guid>") or a local
// transport instance ("local", "plant-a"). `platform` is the plugin's name.
struct Installation {
  std::string platform;
  std::string id;
  bool operator==(const Installation&) const = default;
};

// Where an organization's global summary cards are posted.
struct AnnouncementsChannel {
  std::string instance;  // plugin instance name from the daemon config
  std::string channel;   // the platform's channel id
  std::string name;      // shown to people; defaults to `channel`
  bool operator==(const AnnouncementsChannel&) const = default;
};

struct Facility {
  std::string id;
  std::string name;
  std::string time_zone;  // IANA name, checked against the tz database at load
  bool operator==(const Facility&) const = default;
};

struct Area {
  std::string id;
  std::string name;
  std::string facility;  // Facility::id
  bool operator==(const Area&) const = default;
};

struct Asset {
  std::string id;
  std::string name;
  std::string asset_type;  // free text used by policies: "conveyor", "press", …
  std::string area;        // Area::id
  bool operator==(const Asset&) const = default;
};

// Weekly hours a team is on duty, in its facility's time zone. `end` may be
// earlier than `start` (a night shift running past midnight into the next day).
struct Shift {
  std::string name;               // "early", "night"; may be empty
  std::vector<int> days;          // 0 = Monday … 6 = Sunday, ascending, no repeats
  std::chrono::minutes start{0};  // from midnight, 0..1439
  std::chrono::minutes end{0};    // from midnight, 0..1439; == start: all day
  // Who works this shift (Member::id, a subset of the team's members, in order of
  // preference); empty: every member of the team.
  std::vector<std::string> members = {};
  // IANA name the hours are in; empty: the facility's time zone.
  std::string time_zone = {};
  bool operator==(const Shift&) const = default;
};

// A wall-clock date and time with no zone ("2026-12-24T22:00"), in minutes.
using LocalMinutes = std::chrono::local_time<std::chrono::minutes>;

// A change of who is on duty for a while (holidays, sickness, swaps): from `from`
// until `to` (local times in the team's facility time zone, `to` excluded) the
// team's members on duty are exactly `members`, whatever its shifts say.
struct ShiftOverride {
  LocalMinutes from{};
  LocalMinutes to{};                 // later than `from`
  std::vector<std::string> members;  // Member::id (need not be in the team); may be empty
  std::string reason;                // shown to people; may be empty
  bool operator==(const ShiftOverride&) const = default;
};

// Where a team is reached as a group (a policy step `team_channel`).
struct TeamChannel {
  std::string instance;  // plugin instance name from the daemon config
  std::string channel;   // the platform's channel id
  std::string name;      // shown to people; defaults to `channel`
  bool operator==(const TeamChannel&) const = default;
};

struct Team {
  std::string id;
  std::string name;
  std::string facility;                       // Facility::id; empty only for a team without shifts
  std::vector<std::string> members;           // Member::id, in the order written
  std::vector<Shift> shifts;                  // empty: always on duty
  std::vector<ShiftOverride> overrides = {};  // in the order written; they do not overlap
  std::optional<TeamChannel> channel = {};
  bool operator==(const Team&) const = default;
};

struct Member {
  std::string id;    // stable key ("alice"); chat users first seen are "<platform>:<user id>"
  std::string name;  // display name
  std::string role;  // "operator", "maintenance", "manager", … (free text); default "responder"
  // One identity per platform: platform name ("local", "slack", "teams") -> user id.
  std::map<std::string, std::string> identities;
  bool operator==(const Member&) const = default;
};

struct Organization {
  std::string id;  // stable key, a-z0-9- ("acme")
  std::string name;
  std::vector<Installation> installations;
  std::optional<AnnouncementsChannel> announcements;
  std::vector<Facility> facilities;
  std::vector<Area> areas;
  std::vector<Asset> assets;
  std::vector<Team> teams;
  std::vector<Member> members;

  const Facility* facility(std::string_view facility_id) const noexcept;
  const Area* area(std::string_view area_id) const noexcept;
  const Asset* asset(std::string_view asset_id) const noexcept;
  const Team* team(std::string_view team_id) const noexcept;
  const Member* member(std::string_view member_id) const noexcept;
  // The member whose identity on `platform` is `user_id`; nullptr if none.
  const Member* member_by_identity(std::string_view platform,
                                   std::string_view user_id) const noexcept;
  bool operator==(const Organization&) const = default;
};

struct Directory {
  std::vector<Organization> organizations;

  const Organization* organization(std::string_view organization_id) const noexcept;
  // The organization that claims this installation; nullptr when none does (its
  // traffic is refused and never stored).
  const Organization* organization_for(std::string_view platform,
                                       std::string_view installation_id) const noexcept;
  bool operator==(const Directory&) const = default;
};

// Parses a directory document. `source` names it in errors ("directory.yaml").
// `zoneinfo` is the tz database directory used to check time zone names.
// Returns ErrorCode::invalid_argument whose message lists every problem, one per
// line, each as "<source>:<line>:<column>: <what is wrong and how to fix it>":
// unknown keys, wrong types, missing required keys, duplicate ids, references to
// unknown facilities/areas/teams/members, unknown time zones, bad shift hours, an
// installation claimed twice (by one or two organizations), a member with two
// identities on one platform or an identity used by two members.
Result<Directory> parse_directory(std::string_view yaml_text, std::string_view source,
                                  const std::filesystem::path& zoneinfo = "/usr/share/zoneinfo");

// Reads and parses a directory file; an unreadable file is an invalid_argument
// error naming the path.
Result<Directory> load_directory(const std::filesystem::path& file,
                                 const std::filesystem::path& zoneinfo = "/usr/share/zoneinfo");

// What the daemon runs with when the config names no directory file: one
// organization "default" ("Default organization") claiming the installation
// {"local", <instance>} for every name in `local_instances` (the local transport
// instances of the config), with announcements in the first instance's channel
// "general" (named "general"); no facilities, teams or members. An empty list gives
// an organization that claims nothing and has no announcements channel.
Directory default_directory(const std::vector<std::string>& local_instances);

}  // namespace haveri::core
