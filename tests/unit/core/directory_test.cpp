#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/core/directory.hpp>

namespace haveri::core {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr const char* kSource = "directory.yaml";

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return lines;
}

// "directory.yaml:<line>:<column>: " for an expected message.
std::string at(int line, int column) {
  return std::string(kSource) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

// A directory using every key, with its expected parse below.
constexpr const char* kFullDirectory =
    "organizations:\n"                                                                      // 1
    "  - id: acme\n"                                                                        // 2
    "    name: Acme Manufacturing\n"                                                        // 3
    "    installations:\n"                                                                  // 4
    "      - {platform: local, id: local}\n"                                                // 5
    "      - {platform: slack, id: T0123ABC}\n"                                             // 6
    "    announcements: {instance: local, channel: general}\n"                              // 7
    "    facilities:\n"                                                                     // 8
    "      - {id: plant-a, name: Plant A, time_zone: Europe/Helsinki}\n"                    // 9
    "    areas:\n"                                                                          // 10
    "      - {id: assembly, name: Assembly, facility: plant-a}\n"                           // 11
    "      - {id: packaging, facility: plant-a}\n"                                          // 12
    "    assets:\n"                                                                         // 13
    "      - {id: conveyor-4, name: Conveyor 4, asset_type: conveyor, area: assembly}\n"    // 14
    "      - {id: press-2, area: packaging}\n"                                              // 15
    "    teams:\n"                                                                          // 16
    "      - id: maintenance\n"                                                             // 17
    "        name: Maintenance\n"                                                           // 18
    "        facility: plant-a\n"                                                           // 19
    "        members: [alice, bob]\n"                                                       // 20
    "        shifts:\n"                                                                     // 21
    "          - {name: early, days: mon-fri, hours: \"06:00-14:00\"}\n"                    // 22
    "          - {days: [sun, sat], hours: 22:00-06:00, members: [bob], time_zone: UTC}\n"  // 23
    "        overrides:\n"                                                                  // 24
    "          - {from: 2026-12-24T22:00, to: 2026-12-26 06:00, members: [carol, bob],\n"   // 25
    "             reason: Christmas}\n"                                                     // 26
    "          - {from: \"2026-12-31T18:00\", to: 2027-01-01T06:00, members: []}\n"         // 27
    "        channel: {instance: local, channel: maintenance}\n"                            // 28
    "      - id: operations\n"                                                              // 29
    "        members: [carol]\n"                                                            // 30
    "        channel: {instance: slack-main, channel: C0OPS, name: ops-room}\n"             // 31
    "    members:\n"                                                                        // 32
    "      - id: alice\n"                                                                   // 33
    "        name: Alice Aalto\n"                                                           // 34
    "        role: maintenance\n"                                                           // 35
    "        identities: {local: alice, slack: U0123, teams: \"29:abc\"}\n"                 // 36
    "      - {id: bob, identities: {local: bob}}\n"                                         // 37
    "      - id: carol\n"                                                                   // 38
    "        role: operator\n"                                                              // 39
    "  - id: beta-2\n"                                                                      // 40
    "    installations: [{platform: teams, id: tenant-1}]\n";                               // 41

// 2026-12-24 22:00 and the like, as the directory reads them.
LocalMinutes local(int year, unsigned month, unsigned day, int hour, int minute) {
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  return std::chrono::local_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute);
}

Directory expected_full_directory() {
  Organization acme;
  acme.id = "acme";
  acme.name = "Acme Manufacturing";
  acme.installations = {{"local", "local"}, {"slack", "T0123ABC"}};
  acme.announcements = AnnouncementsChannel{"local", "general", "general"};
  acme.facilities = {{"plant-a", "Plant A", "Europe/Helsinki"}};
  acme.areas = {{"assembly", "Assembly", "plant-a"}, {"packaging", "packaging", "plant-a"}};
  acme.assets = {{"conveyor-4", "Conveyor 4", "conveyor", "assembly"},
                 {"press-2", "press-2", "", "packaging"}};
  const Shift early{"early", {0, 1, 2, 3, 4}, std::chrono::hours(6), std::chrono::hours(14)};
  const Shift weekend_night{"",      {5, 6}, std::chrono::hours(22), std::chrono::hours(6),
                            {"bob"}, "UTC"};
  const std::vector<ShiftOverride> overrides = {
      {local(2026, 12, 24, 22, 0), local(2026, 12, 26, 6, 0), {"carol", "bob"}, "Christmas"},
      {local(2026, 12, 31, 18, 0), local(2027, 1, 1, 6, 0), {}, ""}};
  acme.teams = {{"maintenance",
                 "Maintenance",
                 "plant-a",
                 {"alice", "bob"},
                 {early, weekend_night},
                 overrides,
                 TeamChannel{"local", "maintenance", "maintenance"}},
                {"operations",
                 "operations",
                 "",
                 {"carol"},
                 {},
                 {},
                 TeamChannel{"slack-main", "C0OPS", "ops-room"}}};
  acme.members = {{"alice",
                   "Alice Aalto",
                   "maintenance",
                   {{"local", "alice"}, {"slack", "U0123"}, {"teams", "29:abc"}}},
                  {"bob", "bob", "responder", {{"local", "bob"}}},
                  {"carol", "carol", "operator", {}}};
  Organization beta;
  beta.id = "beta-2";
  beta.name = "beta-2";
  beta.installations = {{"teams", "tenant-1"}};
  Directory directory;
  directory.organizations = {acme, beta};
  return directory;
}

// A temporary tz database holding Europe/Helsinki and UTC, and a temporary dir for files.
class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "haveri-directory-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    zoneinfo_ = dir_ / "zoneinfo";
    write(zoneinfo_ / "Europe" / "Helsinki", "TZif");
    write(zoneinfo_ / "UTC", "TZif");
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static void write(const fs::path& path, const std::string& contents) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << contents;
  }

  Result<Directory> parse(const std::string& yaml) const {
    return parse_directory(yaml, kSource, zoneinfo_);
  }

  // The problems parse_directory reports, one per element; a test failure when it accepts.
  std::vector<std::string> errors(const std::string& yaml) const {
    const auto result = parse(yaml);
    if (result.ok()) {
      ADD_FAILURE() << "parse_directory accepted:\n" << yaml;
      return {};
    }
    EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
    return split_lines(result.error().message);
  }

  fs::path dir_;
  fs::path zoneinfo_;
};

TEST_F(DirectoryTest, FullDirectoryIsReadCompletely) {
  const auto result = parse(kFullDirectory);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(*result, expected_full_directory());
}

TEST_F(DirectoryTest, FullDirectoryAgainstTheSystemTimeZoneDatabase) {
  if (!fs::is_regular_file("/usr/share/zoneinfo/Europe/Helsinki")) {
    GTEST_SKIP() << "no tz database in /usr/share/zoneinfo (install tzdata)";
  }
  const auto result = parse_directory(kFullDirectory, kSource);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(*result, expected_full_directory());

  std::string misspelt = kFullDirectory;
  misspelt.replace(misspelt.find("Europe/Helsinki"), 15, "Europe/Helsinky");
  const auto failed = parse_directory(misspelt, kSource);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message,
            at(9, 49) +
                "facility \"plant-a\": unknown time zone \"Europe/Helsinky\" (not found in "
                "\"/usr/share/zoneinfo\"; use an IANA name such as Europe/Helsinki)");
}

TEST_F(DirectoryTest, OptionalKeysTakeTheirDefaults) {
  const auto result = parse(
      "organizations:\n"
      "  - id: solo\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_THAT(result->organizations, SizeIs(1));
  const Organization& org = result->organizations[0];
  EXPECT_EQ(org.id, "solo");
  EXPECT_EQ(org.name, "solo");
  EXPECT_THAT(org.installations, SizeIs(0));
  EXPECT_FALSE(org.announcements.has_value());
  EXPECT_THAT(org.facilities, SizeIs(0));
  EXPECT_THAT(org.members, SizeIs(0));

  const auto named = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    announcements: {instance: slack-main, channel: C0123, name: plant-news}\n"
      "    teams:\n"
      "    members:\n");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->organizations[0].announcements,
            (AnnouncementsChannel{"slack-main", "C0123", "plant-news"}));
  EXPECT_THAT(named->organizations[0].teams, SizeIs(0));
}

TEST_F(DirectoryTest, ShiftHoursAndDays) {
  const auto result = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    facilities: [{id: plant-a, time_zone: UTC}]\n"
      "    teams:\n"
      "      - id: t\n"
      "        facility: plant-a\n"
      "        shifts:\n"
      "          - {name: night, days: fri-mon, hours: 22:00-06:00}\n"
      "          - {name: all-day, days: daily, hours: 00:00-24:00}\n"
      "          - {name: evening, days: [wed, mon-tue], hours: 18:30 - 24:00}\n"
      "          - {name: short, days: sat, hours: 7:05-7:06}\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& shifts = result->organizations[0].teams[0].shifts;
  ASSERT_THAT(shifts, SizeIs(4));
  // A night shift runs past midnight: its end is earlier than its start.
  EXPECT_EQ(
      shifts[0],
      (Shift{"night", {0, 4, 5, 6}, std::chrono::minutes(22 * 60), std::chrono::minutes(6 * 60)}));
  EXPECT_EQ(
      shifts[1],
      (Shift{"all-day", {0, 1, 2, 3, 4, 5, 6}, std::chrono::minutes(0), std::chrono::minutes(0)}));
  EXPECT_EQ(
      shifts[2],
      (Shift{"evening", {0, 1, 2}, std::chrono::minutes(18 * 60 + 30), std::chrono::minutes(0)}));
  EXPECT_EQ(
      shifts[3],
      (Shift{"short", {5}, std::chrono::minutes(7 * 60 + 5), std::chrono::minutes(7 * 60 + 6)}));
}

TEST_F(DirectoryTest, Lookups) {
  const auto result = parse(kFullDirectory);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Directory& directory = *result;

  const Organization* acme = directory.organization("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->name, "Acme Manufacturing");
  EXPECT_EQ(directory.organization("beta-2"), &directory.organizations[1]);
  EXPECT_EQ(directory.organization("acme2"), nullptr);
  EXPECT_EQ(directory.organization(""), nullptr);

  EXPECT_EQ(directory.organization_for("slack", "T0123ABC"), acme);
  EXPECT_EQ(directory.organization_for("local", "local"), acme);
  EXPECT_EQ(directory.organization_for("teams", "tenant-1"), &directory.organizations[1]);
  EXPECT_EQ(directory.organization_for("teams", "T0123ABC"), nullptr);
  EXPECT_EQ(directory.organization_for("slack", "T9999"), nullptr);

  ASSERT_NE(acme->facility("plant-a"), nullptr);
  EXPECT_EQ(acme->facility("plant-a")->time_zone, "Europe/Helsinki");
  EXPECT_EQ(acme->facility("plant-b"), nullptr);
  ASSERT_NE(acme->area("packaging"), nullptr);
  EXPECT_EQ(acme->area("packaging")->facility, "plant-a");
  EXPECT_EQ(acme->area("plant-a"), nullptr);
  ASSERT_NE(acme->asset("conveyor-4"), nullptr);
  EXPECT_EQ(acme->asset("conveyor-4")->asset_type, "conveyor");
  EXPECT_EQ(acme->asset("conveyor"), nullptr);
  ASSERT_NE(acme->team("maintenance"), nullptr);
  EXPECT_THAT(acme->team("maintenance")->members, ElementsAre("alice", "bob"));
  EXPECT_EQ(acme->team("alice"), nullptr);
  ASSERT_NE(acme->member("carol"), nullptr);
  EXPECT_EQ(acme->member("carol")->role, "operator");
  EXPECT_EQ(acme->member("maintenance"), nullptr);

  EXPECT_EQ(acme->member_by_identity("teams", "29:abc"), acme->member("alice"));
  EXPECT_EQ(acme->member_by_identity("local", "bob"), acme->member("bob"));
  EXPECT_EQ(acme->member_by_identity("slack", "alice"), nullptr);
  EXPECT_EQ(acme->member_by_identity("local", "carol"), nullptr);
  EXPECT_EQ(directory.organizations[1].member_by_identity("local", "alice"), nullptr);
}

TEST_F(DirectoryTest, DefaultDirectoryClaimsEveryLocalInstance) {
  const Directory directory = default_directory({"local", "plant-b"});
  ASSERT_THAT(directory.organizations, SizeIs(1));
  const Organization& org = directory.organizations[0];
  EXPECT_EQ(org.id, "default");
  EXPECT_EQ(org.name, "Default organization");
  EXPECT_THAT(org.installations,
              ElementsAre(Installation{"local", "local"}, Installation{"local", "plant-b"}));
  EXPECT_EQ(org.announcements, (AnnouncementsChannel{"local", "general", "general"}));
  EXPECT_THAT(org.facilities, SizeIs(0));
  EXPECT_THAT(org.teams, SizeIs(0));
  EXPECT_THAT(org.members, SizeIs(0));
  EXPECT_EQ(directory.organization_for("local", "plant-b"), &org);
  EXPECT_EQ(directory.organization_for("slack", "local"), nullptr);

  const Directory other = default_directory({"chat"});
  EXPECT_EQ(other.organizations[0].announcements,
            (AnnouncementsChannel{"chat", "general", "general"}));
  EXPECT_EQ(other.organization_for("local", "local"), nullptr);

  const Directory empty = default_directory({});
  ASSERT_THAT(empty.organizations, SizeIs(1));
  EXPECT_THAT(empty.organizations[0].installations, SizeIs(0));
  EXPECT_FALSE(empty.organizations[0].announcements.has_value());
}

TEST_F(DirectoryTest, LoadDirectoryReadsAFile) {
  const fs::path file = dir_ / "directory.yaml";
  write(file, kFullDirectory);
  const auto result = load_directory(file, zoneinfo_);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(*result, expected_full_directory());

  // Problems name the file as given.
  write(file, "organizations:\n  - id: Acme\n");
  const auto failed = load_directory(file, zoneinfo_);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message, StartsWith(file.string() + ":2:9: organization id \"Acme\""));
}

TEST_F(DirectoryTest, LoadDirectoryOnAMissingFileNamesThePath) {
  const fs::path missing = dir_ / "nope.yaml";
  const auto result = load_directory(missing, zoneinfo_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(result.error().message, missing.string() + ": cannot read: No such file or directory");

  const auto directory = load_directory(dir_, zoneinfo_);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().message, dir_.string() + ": cannot read: Is a directory");
}

TEST_F(DirectoryTest, MalformedYamlIsOneErrorWithItsPosition) {
  const auto found = errors("organizations:\n  - id: [acme\n    name: x\n");
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_THAT(found[0], MatchesRegex("directory\\.yaml:[0-9]+:[0-9]+: .+"));
  EXPECT_THAT(errors("organizations:\n\t- id: acme\n"),
              ElementsAre(StartsWith(std::string(kSource) + ":2:")));
}

TEST_F(DirectoryTest, EmptyOrMisshapenDocument) {
  EXPECT_THAT(errors(""),
              ElementsAre("directory.yaml: the file is empty; expected a mapping with the key "
                          "organizations"));
  EXPECT_THAT(errors("- acme\n"),
              ElementsAre(at(1, 1) + "expected a mapping with the key organizations at the top "
                                     "level, got a list"));
  EXPECT_THAT(errors("organisations: []\n"),
              ElementsAre(at(1, 1) + "unknown key \"organisations\" (allowed: organizations)",
                          HasSubstr(at(1, 1) + "required key \"organizations\" is missing")));
  EXPECT_THAT(errors("organizations: acme\n"),
              ElementsAre(at(1, 16) + "organizations: expected a list, got \"acme\""));
  EXPECT_THAT(errors("organizations: []\n"),
              ElementsAre(HasSubstr(at(1, 16) + "organizations: the list is empty")));
  EXPECT_THAT(errors("organizations:\n  - acme\n"),
              ElementsAre(at(2, 5) + "organizations: expected a mapping with id, name and "
                                     "installations, got \"acme\""));
  EXPECT_THAT(errors("organizations:\n  - id: a\n---\norganizations: []\n"),
              ElementsAre(HasSubstr(at(4, 1) + "a second YAML document")));
}

TEST_F(DirectoryTest, UnknownKeysListTheAllowedOnes) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    facilities:\n"
                     "      - id: plant-a\n"
                     "        tz: Europe/Helsinki\n"
                     "    colour: red\n"),
              ElementsAre(at(4, 9) + "facility \"plant-a\": required key \"time_zone\" is missing "
                                     "(an IANA name such as Europe/Helsinki)",
                          at(5, 9) + "facility \"plant-a\": unknown key \"tz\" (allowed: id, "
                                     "name, time_zone)",
                          at(6, 5) + "organization \"acme\": unknown key \"colour\" (allowed: id, "
                                     "name, installations, announcements, facilities, areas, "
                                     "assets, teams, members)"));
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    teams:\n"
                     "      - id: t\n"
                     "        facility: f\n"
                     "        shifts: [{days: mon, hours: 08:00-09:00, start: 8}]\n"
                     "    facilities: [{id: f, time_zone: UTC}]\n"),
              ElementsAre(at(6, 50) + "team \"t\", shift 1: unknown key \"start\" (allowed: name, "
                                      "days, hours, members, time_zone)"));
}

TEST_F(DirectoryTest, WrongTypesNameTheExpectedType) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: [acme]\n"
             "    name: {x: 1}\n"
             "    facilities: plant-a\n"
             "    members:\n"
             "      - id: alice\n"
             "        identities: [local, alice]\n"
             "      - id: bob\n"
             "        name:\n"
             "        identities: {local: [bob]}\n"
             "    announcements: general\n"),
      ElementsAre(
          at(2, 9) + "organization: id: expected a string, got a list",
          at(3, 11) + "organization: name: expected a string, got a mapping",
          at(4, 17) + "organization: facilities: expected a list, got \"plant-a\"",
          at(7, 21) + "member \"alice\": identities: expected a mapping of platform to user id "
                      "(such as local: alice, slack: U0123ABC), got a list",
          at(9, 9) + "member \"bob\": name: expected a string, got nothing",
          at(10, 29) + "member \"bob\": identities.local: expected a string, got a list",
          at(11, 20) + "organization, announcements: expected a mapping with instance, channel "
                       "and name, got \"general\""));
}

TEST_F(DirectoryTest, MissingRequiredKeys) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - name: No Id\n"
                     "    installations:\n"
                     "      - platform: slack\n"
                     "    areas:\n"
                     "      - name: Nameless\n"
                     "    announcements: {channel: general}\n"),
              ElementsAre(at(2, 5) + "organization: required key \"id\" is missing",
                          at(4, 9) + "organization, installation: required key \"id\" is missing",
                          at(6, 9) + "area: required key \"id\" is missing",
                          at(6, 9) + "area: required key \"facility\" is missing",
                          at(7, 20) + "organization, announcements: required key \"instance\" is "
                                      "missing (the plugin instance that posts the summaries)"));
}

TEST_F(DirectoryTest, EmptyStringsAndBadIds) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: Acme Corp\n"
                     "    members:\n"
                     "      - id: \"\"\n"),
              ElementsAre(at(2, 9) + "organization id \"Acme Corp\": use lowercase letters, "
                                     "digits and '-' (such as \"acme\")",
                          at(4, 13) + "member: id: must not be empty"));
}

TEST_F(DirectoryTest, DuplicateIdsAndKeys) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    name: Acme\n"
             "    facilities:\n"
             "      - {id: plant-a, time_zone: UTC}\n"
             "      - {id: plant-a, time_zone: UTC}\n"
             "    members:\n"
             "      - id: alice\n"
             "      - id: alice\n"
             "    name: Acme Corp\n"
             "  - id: acme\n"),
      ElementsAre(at(6, 14) + "duplicate facility id \"plant-a\" (first at line 5); ids must be "
                              "unique",
                  at(9, 13) + "duplicate member id \"alice\" (first at line 8); ids must be unique",
                  at(10, 5) + "organization \"acme\": key \"name\" is given twice (first at line "
                              "3); keep one of them",
                  at(11, 9) + "duplicate organization id \"acme\" (first at line 2); ids must be "
                              "unique"));
}

TEST_F(DirectoryTest, IdsOfDifferentKindsOrOrganizationsMayBeEqual) {
  const auto result = parse(
      "organizations:\n"
      "  - id: a\n"
      "    facilities: [{id: x, time_zone: UTC}]\n"
      "    areas: [{id: x, facility: x}]\n"
      "    teams: [{id: x, facility: x, members: [x]}]\n"
      "    members: [{id: x}]\n"
      "  - id: b\n"
      "    members: [{id: x}]\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->organizations[1].members[0].id, "x");
}

TEST_F(DirectoryTest, UnknownReferencesListTheKnownIds) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    facilities:\n"
             "      - {id: plant-a, time_zone: UTC}\n"
             "    areas:\n"
             "      - {id: assembly, facility: plant-b}\n"
             "    assets:\n"
             "      - {id: press-2, area: stamping}\n"
             "    teams:\n"
             "      - id: maintenance\n"
             "        facility: plant-c\n"
             "        members: [alice, dave, alice]\n"
             "    members:\n"
             "      - id: alice\n"),
      ElementsAre(
          at(6, 34) + "area \"assembly\": unknown facility \"plant-b\" (facilities: plant-a)",
          at(8, 29) + "asset \"press-2\": unknown area \"stamping\" (areas: assembly)",
          at(11, 19) + "team \"maintenance\": unknown facility \"plant-c\" (facilities: plant-a)",
          at(12, 26) + "team \"maintenance\": unknown member \"dave\" (members: alice)",
          at(12, 32) + "team \"maintenance\": member \"alice\" is listed twice (first at line "
                       "12)"));
  // References are checked within the organization, and say when there is nothing to refer to.
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: a\n"
                     "    members: [{id: alice}]\n"
                     "  - id: b\n"
                     "    teams: [{id: t, members: [alice]}]\n"),
              ElementsAre(at(5, 31) + "team \"t\": unknown member \"alice\" (organization \"b\" "
                                      "has no members; add it under members)"));
}

TEST_F(DirectoryTest, TimeZonesAreCheckedAgainstTheDatabase) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    facilities:\n"
                     "      - {id: a, time_zone: Europe/Helsinki}\n"
                     "      - {id: b, time_zone: Europe/Helsinky}\n"
                     "      - {id: c, time_zone: Europe}\n"
                     "      - {id: d, time_zone: ../../etc/passwd}\n"
                     "      - {id: e, time_zone: /etc/localtime}\n"
                     "      - {id: f, time_zone: \"UTC\\0x\"}\n"),
              ElementsAre(at(5, 28) +
                              "facility \"b\": unknown time zone \"Europe/Helsinky\" (not found "
                              "in \"" +
                              zoneinfo_.string() + "\"; use an IANA name such as Europe/Helsinki)",
                          HasSubstr(at(6, 28) + "facility \"c\": unknown time zone \"Europe\""),
                          at(7, 28) + "facility \"d\": time zone \"../../etc/passwd\" is not a tz "
                                      "database name; use an IANA name such as Europe/Helsinki",
                          at(8, 28) + "facility \"e\": time zone \"/etc/localtime\" is not a tz "
                                      "database name; use an IANA name such as Europe/Helsinki",
                          HasSubstr(at(9, 28) + "facility \"f\": time zone \"UTC\\x00x\" is not")));

  const auto missing_db =
      parse_directory("organizations:\n  - id: a\n    facilities: [{id: f, time_zone: UTC}]\n",
                      kSource, dir_ / "no-zoneinfo");
  ASSERT_FALSE(missing_db.ok());
  EXPECT_EQ(missing_db.error().message,
            at(3, 37) +
                "facility \"f\": cannot check time zone \"UTC\": the time zone database \"" +
                (dir_ / "no-zoneinfo").string() +
                "\" does not exist (install tzdata or point zoneinfo at it)");
}

TEST_F(DirectoryTest, BadShifts) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    facilities: [{id: plant-a, time_zone: UTC}]\n"
             "    teams:\n"
             "      - id: t\n"
             "        facility: plant-a\n"
             "        shifts:\n"
             "          - {name: early, days: mon-fri, hours: \"6am-2pm\"}\n"
             "          - {days: [mon, funday], hours: \"25:00-26:00\"}\n"
             "          - {name: x, days: [mon, mon-wed], hours: \"08:00-16:00\"}\n"
             "          - {name: y, hours: \"08:00-16:00\"}\n"
             "          - {name: z, days: [], hours: \"08:00-16:60\"}\n"
             "          - {name: w, days: Mon, hours: \"24:00-08:00\"}\n"),
      ElementsAre(at(8, 49) + "team \"t\", shift \"early\": hours: expected \"HH:MM-HH:MM\" on a "
                              "24-hour clock (such as 06:00-14:00, or 22:00-06:00 for a night "
                              "shift), got \"6am-2pm\"",
                  at(9, 26) + "team \"t\", shift 2: days: expected day names (mon, tue, wed, thu, "
                              "fri, sat, sun), a range such as mon-fri, or daily, got \"funday\"",
                  HasSubstr(at(9, 42) + "team \"t\", shift 2: hours: expected \"HH:MM-HH:MM\""),
                  at(10, 35) + "team \"t\", shift \"x\": days: mon is listed twice (first at "
                               "line 10)",
                  at(11, 13) + "team \"t\", shift \"y\": required key \"days\" is missing "
                               "(mon-fri, daily or a list such as [sat, sun])",
                  at(12, 29) + "team \"t\", shift \"z\": days: the list is empty; name at least "
                               "one day",
                  HasSubstr(at(12, 40) + "team \"t\", shift \"z\": hours: expected"),
                  HasSubstr(at(13, 29) + "team \"t\", shift \"w\": days: expected day names"),
                  HasSubstr(at(13, 41) + "team \"t\", shift \"w\": hours: expected")));
}

TEST_F(DirectoryTest, ATeamWithShiftsNeedsAFacility) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    teams:\n"
                     "      - id: t\n"
                     "        shifts: [{days: daily, hours: 08:00-16:00}]\n"),
              ElementsAre(at(4, 9) + "team \"t\": required key \"facility\" is missing (shift "
                                     "hours are in the facility's time zone)"));
}

TEST_F(DirectoryTest, ShiftMembersAndTimeZone) {
  const auto result = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    facilities: [{id: plant-a, time_zone: Europe/Helsinki}]\n"
      "    teams:\n"
      "      - id: maintenance\n"
      "        facility: plant-a\n"
      "        members: [alice, bob, carol]\n"
      "        shifts:\n"
      "          - {name: early, days: mon-fri, hours: 06:00-14:00}\n"
      "          - {name: late, days: mon-fri, hours: 14:00-22:00, members: []}\n"
      "          - name: night\n"
      "            days: daily\n"
      "            hours: 22:00-06:00\n"
      "            members: [carol, alice]\n"
      "            time_zone: UTC\n"
      "    members: [{id: alice}, {id: bob}, {id: carol}]\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& shifts = result->organizations[0].teams[0].shifts;
  ASSERT_THAT(shifts, SizeIs(3));
  // Without members, every member of the team works the shift; without a zone, the
  // facility's hours apply.
  EXPECT_THAT(shifts[0].members, SizeIs(0));
  EXPECT_EQ(shifts[0].time_zone, "");
  EXPECT_THAT(shifts[1].members, SizeIs(0));
  // In the order written: the order of preference.
  EXPECT_THAT(shifts[2].members, ElementsAre("carol", "alice"));
  EXPECT_EQ(shifts[2].time_zone, "UTC");
}

TEST_F(DirectoryTest, BadShiftMembersAndTimeZones) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    facilities: [{id: plant-a, time_zone: UTC}]\n"
             "    teams:\n"
             "      - id: maintenance\n"
             "        facility: plant-a\n"
             "        members: [alice, bob]\n"
             "        shifts:\n"
             "          - name: night\n"
             "            days: daily\n"
             "            hours: 22:00-06:00\n"
             "            members: [alice, dave, alice, [bob]]\n"
             "          - {name: early, days: daily, hours: 06:00-14:00, members: bob}\n"
             "          - {name: late, days: daily, hours: 14:00-22:00, time_zone: Mars/Base}\n"
             "          - {name: x, days: sat, hours: 08:00-09:00, time_zone: ../zoneinfo}\n"
             "          - {name: y, days: sun, hours: 08:00-09:00, time_zone: [UTC]}\n"
             "      - id: solo\n"
             "        facility: plant-a\n"
             "        shifts: [{days: daily, hours: 08:00-16:00, members: [alice]}]\n"
             "    members: [{id: alice}, {id: bob}, {id: dave}]\n"),
      ElementsAre(
          at(12, 30) + "team \"maintenance\", shift \"night\": member \"dave\" is not a member "
                       "of the team (members: alice, bob)",
          at(12, 36) + "team \"maintenance\", shift \"night\": member \"alice\" is listed twice "
                       "(first at line 12)",
          at(12, 43) + "team \"maintenance\", shift \"night\": members: expected a member id, got "
                       "a list",
          at(13, 69) + "team \"maintenance\", shift \"early\": members: expected a list, got "
                       "\"bob\"",
          at(14, 70) +
              "team \"maintenance\", shift \"late\": unknown time zone \"Mars/Base\" "
              "(not found in \"" +
              zoneinfo_.string() + "\"; use an IANA name such as Europe/Helsinki)",
          at(15, 65) + "team \"maintenance\", shift \"x\": time zone \"../zoneinfo\" is not a tz "
                       "database name; use an IANA name such as Europe/Helsinki",
          at(16, 65) + "team \"maintenance\", shift \"y\": time_zone: expected a string, got a "
                       "list",
          at(19, 62) + "team \"solo\", shift 1: member \"alice\" is not a member of the team (the "
                       "team has no members; add it to the team's members first)"));
}

TEST_F(DirectoryTest, OverridesReplaceWhoIsOnDuty) {
  const auto result = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    facilities: [{id: plant-a, time_zone: UTC}]\n"
      "    teams:\n"
      "      - id: maintenance\n"
      "        facility: plant-a\n"
      "        members: [alice]\n"
      "        overrides:\n"
      "          - from: 2026-12-24T22:00\n"
      "            to: 2026-12-25T22:00\n"
      "            members: [carol]\n"
      "            reason: Alice is on holiday\n"
      "          - {from: 2024-02-29 00:00, to: 2024-03-01 00:00, members: []}\n"
      "          - {from: 2026-12-25T22:00, to: 2026-12-25T22:01, members: [alice, carol]}\n"
      "    members: [{id: alice}, {id: carol}]\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Team& team = result->organizations[0].teams[0];
  // One ending when the next starts is not an overlap: `to` is excluded.
  EXPECT_THAT(
      team.overrides,
      ElementsAre(
          ShiftOverride{local(2026, 12, 24, 22, 0),
                        local(2026, 12, 25, 22, 0),
                        {"carol"},
                        "Alice is on holiday"},
          ShiftOverride{local(2024, 2, 29, 0, 0), local(2024, 3, 1, 0, 0), {}, ""},
          ShiftOverride{
              local(2026, 12, 25, 22, 0), local(2026, 12, 25, 22, 1), {"alice", "carol"}, ""}));
  EXPECT_THAT(team.shifts, SizeIs(0));
}

TEST_F(DirectoryTest, BadOverrides) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    facilities: [{id: plant-a, time_zone: UTC}]\n"
             "    teams:\n"
             "      - id: t\n"
             "        facility: plant-a\n"
             "        overrides:\n"
             "          - {to: 2026-12-25T08:00, members: []}\n"
             "          - {from: 24.12.2026 08:00, to: 2026-12-24, members: []}\n"
             "          - {from: 2026-02-29T08:00, to: 2026-12-24T24:00, members: []}\n"
             "          - {from: 2026-12-24T08:00, to: 2026-12-24T08:00, members: [alice]}\n"
             "          - {from: 2026-12-24T08:00, to: 2026-12-25T08:00}\n"
             "          - {from: 2026-12-01T08:00, to: 2026-12-02T08:00, members: [bob, bob]}\n"
             "          - {from: 2026-11-01T08:00, to: 2026-11-02T08:00, members: [dave],\n"
             "             who: dave}\n"
             "          - 2026-12-24\n"
             "    members: [{id: alice}, {id: bob}]\n"),
      ElementsAre(
          at(8, 13) + "team \"t\", override 1: required key \"from\" is missing (a local date "
                      "and time such as 2026-12-24T22:00)",
          at(9, 20) + "team \"t\", override 2: from: expected a date and time such as "
                      "2026-12-24T22:00 (YYYY-MM-DDTHH:MM, in the facility's time zone), got "
                      "\"24.12.2026 08:00\"",
          at(9, 42) + "team \"t\", override 2: to: expected a date and time such as "
                      "2026-12-24T22:00 (YYYY-MM-DDTHH:MM, in the facility's time zone), got "
                      "\"2026-12-24\"",
          HasSubstr(at(10, 20) + "team \"t\", override 3: from: expected a date and time"),
          HasSubstr(at(10, 42) + "team \"t\", override 3: to: expected a date and time"),
          at(11, 42) + "team \"t\", override 4: to: 2026-12-24T08:00 is not later than from "
                       "(2026-12-24T08:00)",
          at(12, 13) + "team \"t\", override 5: required key \"members\" is missing (who is on "
                       "duty instead; [] for nobody)",
          at(13, 75) + "team \"t\", override 6: member \"bob\" is listed twice (first at line "
                       "13)",
          at(14, 70) + "team \"t\", override 7: unknown member \"dave\" (members: alice, bob)",
          at(15, 14) + "team \"t\", override 7: unknown key \"who\" (allowed: from, to, members, "
                       "reason)",
          at(16, 13) + "team \"t\": overrides: expected a mapping with from, to, members and "
                       "reason, got \"2026-12-24\""));
}

TEST_F(DirectoryTest, OverridesOfATeamMustNotOverlap) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    facilities: [{id: plant-a, time_zone: UTC}]\n"
             "    teams:\n"
             "      - id: t\n"
             "        facility: plant-a\n"
             "        overrides:\n"
             "          - {from: 2026-12-24T22:00, to: 2026-12-26T06:00, members: []}\n"
             "          - {from: 2026-12-31T00:00, to: 2027-01-02T00:00, members: []}\n"
             "          - {from: 2026-12-25T06:00, to: 2026-12-25T14:00, members: []}\n"
             "          - {from: 2026-12-20T00:00, to: 2026-12-24T22:01, members: []}\n"
             "      - id: u\n"
             "        facility: plant-a\n"
             "        overrides:\n"
             "          - {from: 2026-12-24T22:00, to: 2026-12-26T06:00, members: []}\n"),
      ElementsAre(at(10, 13) + "team \"t\", override 3: overlaps override 1 (line 8) from "
                               "2026-12-25T06:00 to 2026-12-25T14:00; overrides of a team must "
                               "not overlap",
                  at(11, 13) + "team \"t\", override 4: overlaps override 1 (line 8) from "
                               "2026-12-24T22:00 to 2026-12-24T22:01; overrides of a team must "
                               "not overlap"));
}

TEST_F(DirectoryTest, ATeamWithOverridesNeedsAFacility) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    teams:\n"
                     "      - id: t\n"
                     "        overrides: [{from: 2026-12-24T22:00, to: 2026-12-25T22:00, "
                     "members: []}]\n"),
              ElementsAre(at(4, 9) + "team \"t\": required key \"facility\" is missing (override "
                                     "times are in the facility's time zone)"));
}

TEST_F(DirectoryTest, TeamChannels) {
  const auto result = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    teams:\n"
      "      - {id: a, channel: {instance: local, channel: maint}}\n"
      "      - {id: b, channel: {instance: slack-main, channel: C0123, name: ops}}\n"
      "      - {id: c, channel: }\n"
      "      - {id: d}\n");
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& teams = result->organizations[0].teams;
  EXPECT_EQ(teams[0].channel, (TeamChannel{"local", "maint", "maint"}));
  EXPECT_EQ(teams[1].channel, (TeamChannel{"slack-main", "C0123", "ops"}));
  EXPECT_FALSE(teams[2].channel.has_value());
  EXPECT_FALSE(teams[3].channel.has_value());

  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    teams:\n"
             "      - {id: a, channel: maint}\n"
             "      - {id: b, channel: {channel: C0123, topic: x}}\n"
             "      - {id: c, channel: {instance: local, channel: \"\"}}\n"),
      ElementsAre(at(4, 26) + "team \"a\", channel: expected a mapping with instance, channel and "
                              "name, got \"maint\"",
                  at(5, 26) + "team \"b\", channel: required key \"instance\" is missing (the "
                              "plugin instance that posts in the channel)",
                  at(5, 43) + "team \"b\", channel: unknown key \"topic\" (allowed: instance, "
                              "channel, name)",
                  at(6, 53) + "team \"c\", channel: channel: must not be empty"));
}

TEST_F(DirectoryTest, LongValuesAreCutBetweenCharacters) {
  std::string id = "a";
  for (int i = 0; i < 40; ++i) {
    id += "\xc3\xa9";  // é: two bytes
  }
  std::string shown = "a";
  for (int i = 0; i < 29; ++i) {
    shown += "\xc3\xa9";
  }
  EXPECT_THAT(errors("organizations:\n  - id: " + id + "\n"),
              ElementsAre(at(2, 9) + "organization id \"" + shown +
                          "...\": use lowercase letters, digits and '-' (such as \"acme\")"));
}

TEST_F(DirectoryTest, AnInstallationBelongsToOneOrganization) {
  EXPECT_THAT(
      errors("organizations:\n"
             "  - id: acme\n"
             "    installations:\n"
             "      - {platform: slack, id: T1}\n"
             "      - {platform: slack, id: T1}\n"
             "  - id: beta\n"
             "    installations:\n"
             "      - {platform: slack, id: T1}\n"
             "      - {platform: teams, id: T1}\n"
             "      - {platform: Slack!, id: T2}\n"),
      ElementsAre(at(5, 31) + "installation slack \"T1\" is listed twice in organization \"acme\" "
                              "(first at line 4); remove one",
                  at(8, 31) + "installation slack \"T1\" is already claimed by organization "
                              "\"acme\" (line 4); an installation belongs to one organization",
                  at(10, 20) + "organization \"beta\", installation: platform \"Slack!\": "
                               "expected a plugin name of lowercase letters, digits and '_' "
                               "(local, slack, teams)"));
}

TEST_F(DirectoryTest, OneIdentityPerPlatformAndPerMember) {
  EXPECT_THAT(errors("organizations:\n"
                     "  - id: acme\n"
                     "    members:\n"
                     "      - id: alice\n"
                     "        identities:\n"
                     "          local: alice\n"
                     "          local: alice2\n"
                     "      - id: bob\n"
                     "        identities: {local: alice, slack: U1}\n"
                     "  - id: beta\n"
                     "    members:\n"
                     "      - id: carol\n"
                     "        identities: {local: alice}\n"),
              ElementsAre(at(7, 11) + "member \"alice\": two identities on platform \"local\" "
                                      "(first at line 6); a member has one identity per platform",
                          at(9, 29) + "member \"bob\": identity local \"alice\" is already used "
                                      "by member \"alice\" (line 6); one chat account belongs to "
                                      "one member"));
}

TEST_F(DirectoryTest, EveryProblemIsReportedAtOnceInFileOrder) {
  const auto result = parse(
      "organizations:\n"
      "  - id: acme\n"
      "    members:\n"
      "      - {id: alice, identities: {local: alice}}\n"
      "      - {id: bob, identities: {local: alice}}\n"  // identity used twice
      "    teams:\n"
      "      - {id: t, members: [alice, zed]}\n"  // unknown member
      "    facilities:\n"
      "      - {id: f, time_zone: Mars/Olympus}\n"    // unknown time zone
      "      - {id: f, time_zone: UTC, size: big}\n"  // duplicate id, unknown key
      "  - id: acme\n");                              // duplicate organization
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  const auto found = split_lines(result.error().message);
  EXPECT_THAT(found,
              ElementsAre(StartsWith(at(5, 39)), StartsWith(at(7, 34)), StartsWith(at(9, 28)),
                          StartsWith(at(10, 14)), StartsWith(at(10, 33)), StartsWith(at(11, 9))));
  EXPECT_THAT(result.error().message, HasSubstr("unknown member \"zed\""));
  EXPECT_THAT(result.error().message, HasSubstr("unknown key \"size\""));
}

TEST_F(DirectoryTest, DeepNestingIsRefused) {
  const std::string deep = "organizations: " + std::string(5000, '[') + std::string(5000, ']');
  EXPECT_THAT(errors(deep), ElementsAre(MatchesRegex("directory\\.yaml:1:[0-9]+: lists and "
                                                     "mappings nested more than 2000 levels deep; "
                                                     "is it the right file\\?")));
}

TEST_F(DirectoryTest, BytesThatAreNotUtf8AreEscapedInMessages) {
  EXPECT_THAT(errors("organizations:\n  - id: caf\xe9\xff\xc3\xa9\n"),
              ElementsAre(at(2, 9) + "organization id \"caf\\xe9\\xff\xc3\xa9\": use lowercase "
                                     "letters, digits and '-' (such as \"acme\")"));
}

TEST_F(DirectoryTest, AliasExpansionIsBounded) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'h'; ++level) {
    const char previous = static_cast<char>(level - 1);
    yaml += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 10; ++i) {
      yaml += std::string(i == 0 ? "" : ", ") + "*" + previous;
    }
    yaml += "]\n";
  }
  EXPECT_THAT(errors(yaml), ElementsAre("directory.yaml: the document expands to more than "
                                        "1000000 values (aliases?)"));
}

}  // namespace
}  // namespace haveri::core
