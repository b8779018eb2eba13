#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/directory.hpp>
#include <haveri/policy/policy.hpp>

namespace haveri::policy {
namespace {

namespace fs = std::filesystem;
using core::Severity;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr const char* kFile = "policies/a.yaml";

// "policies/a.yaml:<line>:<column>: " for an expected message.
std::string at(int line, int column, const std::string& file = kFile) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

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

// One organization with two plants. plant-a is in Helsinki; its maintenance team works
// early, late and night shifts; plant-b is in Chicago.
constexpr const char* kDirectory =
    "organizations:\n"
    "  - id: acme\n"
    "    facilities:\n"
    "      - {id: plant-a, time_zone: Europe/Helsinki}\n"
    "      - {id: plant-b, time_zone: America/Chicago}\n"
    "      - {id: plant-c, time_zone: UTC}\n"
    "    areas:\n"
    "      - {id: assembly, facility: plant-a}\n"
    "      - {id: packaging, facility: plant-a}\n"
    "      - {id: stamping, facility: plant-b}\n"
    "    assets:\n"
    "      - {id: conveyor-4, asset_type: conveyor, area: assembly}\n"
    "      - {id: press-2, asset_type: press, area: assembly}\n"
    "      - {id: wrapper-1, asset_type: wrapper, area: packaging}\n"
    "      - {id: label-1, area: packaging}\n"
    "      - {id: press-9, asset_type: press, area: stamping}\n"
    "      - {id: robot-1, asset_type: robot, area: stamping}\n"
    "    teams:\n"
    "      - id: maintenance\n"
    "        facility: plant-a\n"
    "        members: [alice, bob, dave]\n"
    "        shifts:\n"
    "          - {name: early, days: mon-fri, hours: 06:00-14:00}\n"
    "          - {name: late, days: mon-fri, hours: 14:00-22:00}\n"
    "          - {name: night, days: daily, hours: 22:00-06:00, members: [dave]}\n"
    "          - {name: weekend, days: [sat, sun], hours: 06:00-22:00}\n"
    "        channel: {instance: local, channel: maintenance}\n"
    "      - id: operations\n"
    "        facility: plant-a\n"
    "        members: [carol]\n"
    "      - id: remote\n"
    "        facility: plant-a\n"
    "        members: [sam]\n"
    "        shifts:\n"
    "          - {name: night, days: daily, hours: 20:00-04:00, time_zone: UTC}\n"
    "          - {days: daily, hours: 04:00-20:00}\n"
    "      - id: chicago\n"
    "        facility: plant-b\n"
    "        members: [sam]\n"
    "        shifts: [{name: day, days: daily, hours: 07:00-19:00}]\n"
    "    members:\n"
    "      - {id: alice}\n"
    "      - {id: bob}\n"
    "      - {id: carol}\n"
    "      - {id: dave}\n"
    "      - {id: sam}\n";

// Two organizations: a policy must say which one it is for.
constexpr const char* kTwoOrganizations =
    "organizations:\n"
    "  - id: acme\n"
    "    facilities: [{id: plant-a, time_zone: UTC}]\n"
    "    teams: [{id: maintenance, members: [alice]}]\n"
    "    members: [{id: alice}]\n"
    "  - id: beta\n"
    "    facilities: [{id: mill, time_zone: UTC}]\n"
    "    teams: [{id: millwrights, members: [bob]}]\n"
    "    members: [{id: bob}]\n";

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "haveri-policy-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    zoneinfo_ = dir_ / "zoneinfo";
    for (const char* zone : {"Europe/Helsinki", "America/Chicago", "UTC"}) {
      write(zoneinfo_ / zone, "TZif");
    }
    directory_ = load(kDirectory);
    two_organizations_ = load(kTwoOrganizations);
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  core::Directory load(const char* yaml) const {
    auto parsed = core::parse_directory(yaml, "directory.yaml", zoneinfo_);
    if (!parsed.ok()) {
      ADD_FAILURE() << parsed.error().message;
      return {};
    }
    return std::move(parsed).value();
  }

  static void write(const fs::path& path, const std::string& contents) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << contents;
  }

  // The policies of one file, and its problems as text.
  std::vector<Policy> parse(const std::string& yaml, std::vector<std::string>* texts = nullptr,
                            const core::Directory* directory = nullptr) const {
    std::vector<PolicyProblem> problems;
    auto policies =
        parse_policy_file(yaml, kFile, directory != nullptr ? *directory : directory_, problems);
    if (texts != nullptr) {
      for (const auto& problem : problems) {
        texts->push_back(problem.text());
      }
    } else {
      for (const auto& problem : problems) {
        ADD_FAILURE() << "unexpected problem: " << problem.text();
      }
    }
    return policies;
  }

  // The problems of one file as text (errors and warnings), in file order.
  std::vector<std::string> problems(const std::string& yaml,
                                    const core::Directory* directory = nullptr) const {
    std::vector<std::string> texts;
    parse(yaml, &texts, directory);
    return texts;
  }

  // The problems of a set made of these files (name -> text), checked as a whole.
  std::vector<std::string> set_problems(
      const std::vector<std::pair<std::string, std::string>>& files) const {
    PolicySet set;
    std::vector<PolicyProblem> found;
    for (const auto& [name, text] : files) {
      auto policies = parse_policy_file(text, name, directory_, found);
      set.policies.insert(set.policies.end(), policies.begin(), policies.end());
    }
    check_policy_set(set, directory_, found);
    std::vector<std::string> texts;
    texts.reserve(found.size());
    for (const auto& problem : found) {
      texts.push_back(problem.text());
    }
    return texts;
  }

  fs::path dir_;
  fs::path zoneinfo_;
  core::Directory directory_;
  core::Directory two_organizations_;
};

// ---------------------------------------------------------------------------------------
// Durations

TEST(PolicyDuration, Table) {
  struct Case {
    const char* text;
    std::optional<seconds> expected;
  };
  const std::vector<Case> cases = {
      {"0", seconds(0)},
      {"0s", seconds(0)},
      {"0m", seconds(0)},
      {"90s", seconds(90)},
      {"15m", minutes(15)},
      {"2h", hours(2)},
      {"1h30m", minutes(90)},
      {"1h30m15s", seconds(5415)},
      {"1h15s", seconds(3615)},
      {"90m", minutes(90)},
      {"015m", minutes(15)},
      {"168h", hours(168)},
      {"167h59m60s", hours(168)},
      {"10080m", hours(168)},
      {"169h", std::nullopt},
      {"604801s", std::nullopt},
      {"15", std::nullopt},
      {"00", std::nullopt},
      {"", std::nullopt},
      {"-5m", std::nullopt},
      {"+5m", std::nullopt},
      {"1.5h", std::nullopt},
      {"15 m", std::nullopt},
      {" 15m", std::nullopt},
      {"15m ", std::nullopt},
      {"15M", std::nullopt},
      {"15min", std::nullopt},
      {"1d", std::nullopt},
      {"30m1h", std::nullopt},
      {"1h1h", std::nullopt},
      {"1s30m", std::nullopt},
      {"h", std::nullopt},
      {"m15", std::nullopt},
      {"1h30", std::nullopt},
      {"9999999999s", std::nullopt},
      {"PT15M", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_policy_duration(c.text), c.expected) << '"' << c.text << '"';
  }
}

// ---------------------------------------------------------------------------------------
// Reading valid files

TEST_F(PolicyTest, AValidFileIsReadIntoTheExactModel) {
  const auto policies = parse(
      "policies:\n"                                                               // 1
      "  - name: plant-a-sev2\n"                                                  // 2
      "    organization: acme\n"                                                  // 3
      "    facility: plant-a\n"                                                   // 4
      "    description: Degraded line\n"                                          // 5
      "    priority: -7\n"                                                        // 6
      "    match:\n"                                                              // 7
      "      severity: [SEV2, sev1]\n"                                            // 8
      "      area: [assembly]\n"                                                  // 9
      "      asset_type: [conveyor, press]\n"                                     // 10
      "      during:\n"                                                           // 11
      "        - {days: mon-fri, hours: \"06:00-22:00\"}\n"                       // 12
      "        - {days: [sun, sat], hours: 22:00-06:00}\n"                        // 13
      "      shift: [maintenance/night, maintenance/early]\n"                     // 14
      "    steps:\n"                                                              // 15
      "      - notify: {team: maintenance}\n"                                     // 16
      "      - after: 15m\n"                                                      // 17
      "        if_unacknowledged: false\n"                                        // 18
      "        notify:\n"                                                         // 19
      "          - {members: [sam, alice]}\n"                                     // 20
      "          - {team_channel: maintenance}\n"                                 // 21
      "      - after: 1h30m\n"                                                    // 22
      "        notify: {members: carol}\n"                                        // 23
      "    repeat: {times: 2, every: 2h}\n"                                       // 24
      "  - name: plant-b-all\n"                                                   // 25
      "    facility: plant-b\n"                                                   // 26
      "    match: {severity: SEV3, area: stamping, shift: chicago/day}\n"         // 27
      "    steps:\n"                                                              // 28
      "      - {after: 0, if_unacknowledged: True, notify: {team: chicago}}\n");  // 29
  ASSERT_THAT(policies, SizeIs(2));

  Policy first;
  first.name = "plant-a-sev2";
  first.organization = "acme";
  first.facility = "plant-a";
  first.description = "Degraded line";
  first.priority = -7;
  first.match.severities = {Severity::sev2, Severity::sev1};
  first.match.areas = {"assembly"};
  first.match.asset_types = {"conveyor", "press"};
  first.match.windows = {Window{{0, 1, 2, 3, 4}, hours(6), hours(22)},
                         Window{{5, 6}, hours(22), hours(6)}};
  first.match.shifts = {ShiftRef{"maintenance", "night"}, ShiftRef{"maintenance", "early"}};
  first.steps = {
      Step{seconds(0),
           {NotifyTarget{NotifyTarget::Kind::team_on_shift, "maintenance", {}}},
           true,
           SourceLocation{kFile, 16, 9}},
      Step{minutes(15),
           {NotifyTarget{NotifyTarget::Kind::members, "", {"sam", "alice"}},
            NotifyTarget{NotifyTarget::Kind::team_channel, "maintenance", {}}},
           false,
           SourceLocation{kFile, 17, 9}},
      Step{minutes(90),
           {NotifyTarget{NotifyTarget::Kind::members, "", {"carol"}}},
           true,
           SourceLocation{kFile, 22, 9}},
  };
  first.repeat = 2;
  first.repeat_every = hours(2);
  first.where = SourceLocation{kFile, 2, 11};
  EXPECT_EQ(policies[0], first);

  Policy second;
  second.name = "plant-b-all";
  second.organization = "acme";  // the directory's only organization
  second.facility = "plant-b";
  second.match.severities = {Severity::sev3};
  second.match.areas = {"stamping"};
  second.match.shifts = {ShiftRef{"chicago", "day"}};
  second.steps = {Step{seconds(0),
                       {NotifyTarget{NotifyTarget::Kind::team_on_shift, "chicago", {}}},
                       true,
                       SourceLocation{kFile, 29, 9}}};
  second.where = SourceLocation{kFile, 25, 11};
  EXPECT_EQ(policies[1], second);
}

TEST_F(PolicyTest, OptionalKeysTakeTheirDefaults) {
  const auto policies = parse(
      "policies:\n"
      "  - name: minimal\n"
      "    facility: plant-a\n"
      "    match:\n"
      "    steps:\n"
      "      - notify: {team: operations}\n"
      "    repeat:\n"
      "  - name: no-rounds\n"
      "    facility: plant-c\n"
      "    steps: [{notify: {team: operations}}]\n"
      "    repeat: {times: 0}\n");
  ASSERT_THAT(policies, SizeIs(2));
  const Policy& policy = policies[0];
  EXPECT_EQ(policy.organization, "acme");
  EXPECT_EQ(policy.description, "");
  EXPECT_EQ(policy.priority, 0);
  EXPECT_EQ(policy.match, Match{});
  ASSERT_THAT(policy.steps, SizeIs(1));
  EXPECT_EQ(policy.steps[0].after, seconds(0));
  EXPECT_TRUE(policy.steps[0].if_unacknowledged);
  EXPECT_EQ(policy.repeat, 0);
  EXPECT_EQ(policy.repeat_every, seconds(0));
  EXPECT_EQ(policies[1].repeat, 0);
  EXPECT_EQ(policies[1].repeat_every, seconds(0));
}

TEST_F(PolicyTest, AnEmptyListOfPoliciesIsAWarning) {
  std::vector<std::string> texts;
  EXPECT_THAT(parse("policies: []\n", &texts), IsEmpty());
  EXPECT_THAT(texts,
              ElementsAre(at(1, 11) + "warning: policies: the list is empty; this file defines no "
                                      "policy"));
}

// ---------------------------------------------------------------------------------------
// Problems in one file

TEST_F(PolicyTest, EmptyOrMisshapenFile) {
  EXPECT_THAT(problems(""),
              ElementsAre("policies/a.yaml: the file is empty; expected a mapping with the key "
                          "policies"));
  EXPECT_THAT(problems("# only a comment\n"),
              ElementsAre(HasSubstr("policies/a.yaml: the file is empty")));
  EXPECT_THAT(problems("- name: x\n"),
              ElementsAre(at(1, 1) + "expected a mapping with the key policies at the top level, "
                                     "got a list"));
  EXPECT_THAT(problems("policy: []\n"),
              ElementsAre(at(1, 1) + "unknown key \"policy\" (allowed: policies)",
                          at(1, 1) + "required key \"policies\" is missing (a list of policies, "
                                     "each with a name, a facility and steps)"));
  EXPECT_THAT(problems("policies: {name: x}\n"),
              ElementsAre(at(1, 11) + "policies: expected a list, got a mapping"));
  EXPECT_THAT(problems("policies:\n  - sev2\n"),
              ElementsAre(at(2, 5) + "policies: expected a mapping with name, facility and "
                                     "steps, got \"sev2\""));
  EXPECT_THAT(problems("policies: []\n---\npolicies: []\n"),
              ElementsAre(at(3, 1) + "a second YAML document; a policy file is a single "
                                     "document"));
}

TEST_F(PolicyTest, UnknownKeysAtEveryLevelListTheAllowedOnes) {
  EXPECT_THAT(
      problems("policies:\n"                                             // 1
               "  - name: p\n"                                           // 2
               "    facility: plant-a\n"                                 // 3
               "    owner: bob\n"                                        // 4
               "    match:\n"                                            // 5
               "      severities: [SEV1]\n"                              // 6
               "      during:\n"                                         // 7
               "        - {days: daily, hours: 00:00-24:00, tz: UTC}\n"  // 8
               "    steps:\n"                                            // 9
               "      - notify: {team: maintenance, via: sms}\n"         // 10
               "        delay: 5m\n"                                     // 11
               "    repeat: {times: 1, every: 1h, until: ack}\n"         // 12
               "escalation: {}\n"),                                      // 13
      ElementsAre(
          at(4, 5) + "policy \"p\": unknown key \"owner\" (allowed: name, organization, facility, "
                     "description, priority, match, steps, repeat)",
          at(6, 7) + "policy \"p\": match: unknown key \"severities\" (allowed: severity, area, "
                     "asset_type, during, shift)",
          at(8, 45) + "policy \"p\", window 1: unknown key \"tz\" (allowed: days, hours)",
          at(10, 37) + "policy \"p\", step 1: notify: unknown key \"via\" (allowed: team, "
                       "members, team_channel)",
          at(11, 9) + "policy \"p\", step 1: unknown key \"delay\" (allowed: after, "
                      "if_unacknowledged, notify)",
          at(12, 35) + "policy \"p\": repeat: unknown key \"until\" (allowed: times, every)",
          at(13, 1) + "unknown key \"escalation\" (allowed: policies)"));
}

TEST_F(PolicyTest, KeysGivenTwice) {
  EXPECT_THAT(problems("policies:\n"
                       "  - name: p\n"
                       "    facility: plant-a\n"
                       "    steps: [{notify: {team: operations}}]\n"
                       "    facility: plant-b\n"),
              ElementsAre(at(5, 5) + "policy \"p\": key \"facility\" is given twice (first at "
                                     "line 3); keep one of them"));
}

TEST_F(PolicyTest, MissingRequiredKeys) {
  EXPECT_THAT(
      problems("policies:\n"                                          // 1
               "  - facility: plant-a\n"                              // 2
               "    steps: [{notify: {team: operations}}]\n"          // 3
               "  - name: p\n"                                        // 4
               "    match:\n"                                         // 5
               "      during: [{days: mon}, {hours: 08:00-09:00}]\n"  // 6
               "    repeat: {every: 1h}\n"                            // 7
               "  - name: q\n"                                        // 8
               "    facility: plant-a\n"                              // 9
               "    steps:\n"                                         // 10
               "      - after: 5m\n"                                  // 11
               "    repeat: {times: 3}\n"),                           // 12
      ElementsAre(
          at(2, 5) + "policy: required key \"name\" is missing (such as plant-a-sev2)",
          at(4, 5) + "policy \"p\": required key \"facility\" is missing (the facility whose "
                     "incidents it is for: plant-a, plant-b, plant-c)",
          at(4, 5) + "policy \"p\": required key \"steps\" is missing (a list of steps, such as - "
                     "notify: {team: maintenance})",
          at(6, 16) + "policy \"p\", window 1: required key \"hours\" is missing (such as "
                      "06:00-14:00)",
          at(6, 29) + "policy \"p\", window 2: required key \"days\" is missing (mon-fri, daily or "
                      "a list such as [sat, sun])",
          at(7, 13) + "policy \"p\": repeat: required key \"times\" is missing (how many more "
                      "rounds, 0 to 10)",
          at(11, 9) + "policy \"q\", step 1: required key \"notify\" is missing (whom to notify, "
                      "such as {team: maintenance})",
          at(12, 13) + "policy \"q\": repeat: required key \"every\" is missing (the time from the "
                       "start of one round to the start of the next, such as 30m)"));
}

TEST_F(PolicyTest, WrongTypesNameTheExpectedType) {
  EXPECT_THAT(
      problems("policies:\n"                                      // 1
               "  - name: [p]\n"                                  // 2
               "    facility: plant-a\n"                          // 3
               "    steps: [{notify: {team: operations}}]\n"      // 4
               "  - name: q\n"                                    // 5
               "    facility: {id: plant-a}\n"                    // 6
               "    description:\n"                               // 7
               "    priority: high\n"                             // 8
               "    match: SEV1\n"                                // 9
               "    steps: {notify: {team: operations}}\n"        // 10
               "    repeat: 2\n"                                  // 11
               "  - name: r\n"                                    // 12
               "    facility: plant-a\n"                          // 13
               "    priority: 1001\n"                             // 14
               "    match:\n"                                     // 15
               "      severity: {level: 1}\n"                     // 16
               "      area: [[assembly]]\n"                       // 17
               "      during: {days: mon, hours: 08:00-09:00}\n"  // 18
               "      shift: [\"\"]\n"                            // 19
               "    steps:\n"                                     // 20
               "      - notify\n"                                 // 21
               "      - after: [5m]\n"                            // 22
               "        if_unacknowledged: yes\n"                 // 23
               "        notify: maintenance\n"                    // 24
               "      - notify: [operations]\n"                   // 25
               "      - notify: {members: {alice: 1}}\n"          // 26
               "      - notify: {team: [maintenance]}\n"          // 27
               "    repeat: {times: eleven, every: 1h}\n"),       // 28
      ElementsAre(
          at(2, 11) + "policy: name: expected a string, got a list",
          at(6, 15) + "policy \"q\": facility: expected a string, got a mapping",
          at(7, 5) + "policy \"q\": description: expected a string, got nothing",
          at(8, 15) + "policy \"q\": priority: expected a whole number from -1000 to 1000, got "
                      "\"high\"",
          at(9, 12) + "policy \"q\": match: expected a mapping with severity, area, asset_type, "
                      "during and shift, got \"SEV1\"",
          at(10, 12) + "policy \"q\": steps: expected a list, got a mapping",
          at(11, 13) + "policy \"q\": repeat: expected a mapping with times and every, got \"2\"",
          at(14, 15) + "policy \"r\": priority: expected a whole number from -1000 to 1000, got "
                       "\"1001\"",
          at(16, 17) + "policy \"r\": match.severity: expected a value or a list of values, got "
                       "a mapping",
          at(17, 14) + "policy \"r\": match.area: expected a string, got a list",
          at(18, 15) + "policy \"r\": match.during: expected a list of windows such as [{days: "
                       "mon-fri, hours: \"06:00-22:00\"}], got a mapping",
          at(19, 15) + "policy \"r\": match.shift: must not be empty",
          at(21, 9) + "policy \"r\": steps: expected a mapping with after, if_unacknowledged and "
                      "notify, got \"notify\"",
          at(22, 16) + "policy \"r\", step 2: after: expected a duration such as 15m, 1h30m or "
                       "90s, got a list",
          at(23, 28) + "policy \"r\", step 2: if_unacknowledged: expected true or false, got "
                       "\"yes\"",
          at(24, 17) + "policy \"r\", step 2: notify: expected a target such as {team: "
                       "maintenance} or a list of them, got \"maintenance\"",
          at(25, 18) + "policy \"r\", step 3: notify: expected a mapping with one of team, "
                       "members or team_channel, got \"operations\"",
          at(26, 27) + "policy \"r\", step 4: notify.members: expected a value or a list of "
                       "values, got a mapping",
          at(27, 24) + "policy \"r\", step 5: notify: team: expected a string, got a list",
          at(28, 21) + "policy \"r\": repeat.times: expected a whole number from 0 to 10, got "
                       "\"eleven\""));
}

TEST_F(PolicyTest, PolicyNames) {
  EXPECT_THAT(
      problems("policies:\n"
               "  - name: Plant A\n"
               "    facility: plant-a\n"
               "    steps: [{notify: {team: operations}}]\n"
               "  - name: plant_a\n"
               "    facility: plant-a\n"
               "    steps: [{notify: {team: operations}}]\n"
               "  - name: " +
               std::string(101, 'x') +
               "\n"
               "    facility: plant-a\n"
               "    steps: [{notify: {team: operations}}]\n"),
      ElementsAre(at(2, 11) + "policy name \"Plant A\": use lowercase letters, digits and '-' "
                              "(such as \"plant-a-sev2\")",
                  at(5, 11) + "policy name \"plant_a\": use lowercase letters, digits and '-' "
                              "(such as \"plant-a-sev2\")",
                  HasSubstr(at(8, 11) + "policy name \"xxxx")));
  EXPECT_THAT(problems("policies:\n"
                       "  - name: " +
                       std::string(101, 'x') +
                       "\n"
                       "    facility: plant-a\n"
                       "    steps: [{notify: {team: operations}}]\n")
                  .at(0),
              HasSubstr("...\": longer than 100 characters; shorten it"));
}

TEST_F(PolicyTest, BadDurations) {
  const std::vector<std::string> bad = {"15",  "-5m",  "1.5h",  "15 m", "1d",
                                        "15M", "\"\"", "30m1h", "1h30"};
  for (const auto& text : bad) {
    const auto found = problems(
        "policies:\n"
        "  - name: p\n"
        "    facility: plant-a\n"
        "    steps:\n"
        "      - after: " +
        text + "\n        notify: {team: operations}\n");
    const std::string shown = text == "\"\"" ? "" : text;
    EXPECT_THAT(found, ElementsAre(at(5, 16) +
                                   "policy \"p\", step 1: after: expected a duration "
                                   "such as 15m, 1h30m or 90s, got \"" +
                                   shown + "\""))
        << text;
  }
  EXPECT_THAT(problems("policies:\n"
                       "  - name: p\n"
                       "    facility: plant-a\n"
                       "    steps:\n"
                       "      - {after: 169h, notify: {team: operations}}\n"
                       "    repeat: {times: 1, every: 8d}\n"),
              ElementsAre(at(5, 17) + "policy \"p\", step 1: after: \"169h\" is longer than 7 "
                                      "days, the most a policy waits",
                          at(6, 31) + "policy \"p\": repeat.every: expected a duration such as "
                                      "15m, 1h30m or 90s, got \"8d\""));
}

TEST_F(PolicyTest, OrganizationsAndFacilities) {
  // Several organizations: each policy names its own.
  EXPECT_THAT(problems("policies:\n"
                       "  - name: p\n"
                       "    facility: plant-a\n"
                       "    steps: [{notify: {team: maintenance}}]\n"
                       "  - name: q\n"
                       "    organization: acme-corp\n"
                       "    facility: plant-a\n"
                       "    steps: [{notify: {team: maintenance}}]\n"
                       "  - name: r\n"
                       "    organization: beta\n"
                       "    facility: plant-a\n"
                       "    steps: [{notify: {team: millwrights}}]\n",
                       &two_organizations_),
              ElementsAre(at(2, 5) + "policy \"p\": required key \"organization\" is missing (the "
                                     "directory has several organizations: acme, beta)",
                          at(6, 19) + "policy \"q\": unknown organization \"acme-corp\" "
                                      "(organizations in the directory: acme, beta)",
                          at(11, 15) + "policy \"r\": unknown facility \"plant-a\" (facilities: "
                                       "mill)"));
  const auto policies = parse(
      "policies:\n"
      "  - {name: p, organization: beta, facility: mill, steps: [{notify: {members: bob}}]}\n"
      "  - {name: p, organization: acme, facility: plant-a, steps: [{notify: {members: alice}}]}\n",
      nullptr, &two_organizations_);
  ASSERT_THAT(policies, SizeIs(2));
  EXPECT_EQ(policies[0].organization, "beta");
  EXPECT_EQ(policies[1].organization, "acme");

  EXPECT_THAT(problems("policies:\n"
                       "  - name: p\n"
                       "    facility: plant-z\n"
                       "    steps: [{notify: {team: maintenance}}]\n"),
              ElementsAre(at(3, 15) + "policy \"p\": unknown facility \"plant-z\" (facilities: "
                                      "plant-a, plant-b, plant-c)"));
}

TEST_F(PolicyTest, MatchReferences) {
  EXPECT_THAT(
      problems("policies:\n"                                          // 1
               "  - name: p\n"                                        // 2
               "    facility: plant-a\n"                              // 3
               "    match:\n"                                         // 4
               "      severity: [SEV2, SEV4, sev2]\n"                 // 5
               "      area: [assembly, paint, stamping, assembly]\n"  // 6
               "      asset_type: [conveyor, robot, conveyor]\n"      // 7
               "      shift:\n"                                       // 8
               "        - maintenance/night\n"                        // 9
               "        - night\n"                                    // 10
               "        - maint/night\n"                              // 11
               "        - maintenance/nite\n"                         // 12
               "        - operations/day\n"                           // 13
               "        - remote/night\n"                             // 14
               "        - chicago/day\n"                              // 15
               "        - maintenance/night\n"                        // 16
               "        - maintenance/night/x\n"                      // 17
               "    steps: [{notify: {team: maintenance}}]\n"),       // 18
      ElementsAre(
          at(5, 24) + "policy \"p\": match.severity: expected SEV1, SEV2 or SEV3, got \"SEV4\"",
          at(5, 30) + "policy \"p\": match.severity: SEV2 is listed twice (first at line 5)",
          at(6, 24) + "policy \"p\": match.area: unknown area \"paint\" (areas of facility "
                      "\"plant-a\": assembly, packaging)",
          at(6, 31) + "policy \"p\": match.area: area \"stamping\" is in facility \"plant-b\", not "
                      "\"plant-a\"",
          at(6, 41) + "policy \"p\": match.area: \"assembly\" is listed twice (first at line 6)",
          at(7, 30) + "warning: policy \"p\": match.asset_type: no asset of facility \"plant-a\" "
                      "has type \"robot\" (types there: conveyor, press, wrapper); the policy "
                      "matches no incident through it until one does",
          at(7, 37) + "policy \"p\": match.asset_type: \"conveyor\" is listed twice (first at "
                      "line 7)",
          at(10, 11) + "policy \"p\": match.shift: expected \"team/shift\" such as "
                       "maintenance/night, got \"night\"",
          at(11, 11) + "policy \"p\": match.shift: unknown team \"maint\" (teams: maintenance, "
                       "operations, remote, chicago)",
          at(12, 11) + "policy \"p\": match.shift: team \"maintenance\" has no shift \"nite\" "
                       "(shifts: early, late, night, weekend)",
          at(13, 11) + "policy \"p\": match.shift: team \"operations\" has no shift \"day\" (the "
                       "team has no shifts)",
          at(14, 11) + "policy \"p\": match.shift: shift \"remote/night\" is in time zone \"UTC\", "
                       "facility \"plant-a\" in \"Europe/Helsinki\"; a policy can only follow "
                       "shifts in its facility's time zone (write the hours under during "
                       "instead)",
          at(15, 11) + "policy \"p\": match.shift: shift \"chicago/day\" is in time zone "
                       "\"America/Chicago\", facility \"plant-a\" in \"Europe/Helsinki\"; a policy "
                       "can only follow shifts in its facility's time zone (write the hours under "
                       "during instead)",
          at(16, 11) + "policy \"p\": match.shift: \"maintenance/night\" is listed twice (first "
                       "at line 9)",
          at(17, 11) + "policy \"p\": match.shift: expected \"team/shift\" such as "
                       "maintenance/night, got \"maintenance/night/x\""));
}

TEST_F(PolicyTest, EmptyMatchListsAndWindows) {
  EXPECT_THAT(
      problems("policies:\n"                                                 // 1
               "  - name: p\n"                                               // 2
               "    facility: plant-a\n"                                     // 3
               "    match:\n"                                                // 4
               "      severity: []\n"                                        // 5
               "      area: []\n"                                            // 6
               "      asset_type: []\n"                                      // 7
               "      shift: []\n"                                           // 8
               "      during: []\n"                                          // 9
               "    steps: [{notify: {team: maintenance}}]\n"                // 10
               "  - name: q\n"                                               // 11
               "    facility: plant-a\n"                                     // 12
               "    match:\n"                                                // 13
               "      during:\n"                                             // 14
               "        - {days: [mon, funday], hours: 6-22}\n"              // 15
               "        - {days: [mon, mon-fri], hours: \"08:00-24:00\"}\n"  // 16
               "        - mon-fri\n"                                         // 17
               "    steps: [{notify: {team: maintenance}}]\n"),              // 18
      ElementsAre(
          at(5, 17) + "policy \"p\": match.severity: the list is empty; leave the key out to "
                      "match every severity",
          at(6, 13) + "policy \"p\": match.area: the list is empty; leave the key out to match "
                      "every area",
          at(7, 19) + "policy \"p\": match.asset_type: the list is empty; leave the key out to "
                      "match every asset type",
          at(8, 14) + "policy \"p\": match.shift: the list is empty; leave the key out to match "
                      "at any time, whoever is on duty",
          at(9, 15) + "policy \"p\": match.during: the list is empty; leave the key out to match "
                      "at any time",
          at(15, 24) + "policy \"q\", window 1: days: expected day names (mon, tue, wed, thu, "
                       "fri, sat, sun), a range such as mon-fri, or daily, got \"funday\"",
          at(15, 40) + "policy \"q\", window 1: hours: expected \"HH:MM-HH:MM\" on a 24-hour "
                       "clock (such as 06:00-14:00, or 22:00-06:00 for a night shift), got "
                       "\"6-22\"",
          at(16, 24) + "policy \"q\", window 2: days: mon is listed twice (first at line 16)",
          at(17, 11) + "policy \"q\": match.during: expected a mapping with days and hours, got "
                       "\"mon-fri\""));
}

TEST_F(PolicyTest, StepTargets) {
  EXPECT_THAT(
      problems("policies:\n"                                              // 1
               "  - name: p\n"                                            // 2
               "    facility: plant-a\n"                                  // 3
               "    steps:\n"                                             // 4
               "      - notify: {team: shift-c}\n"                        // 5
               "      - notify: {members: [sam, zed, sam]}\n"             // 6
               "      - notify: {team_channel: operations}\n"             // 7
               "      - notify: {team_channel: nobody}\n"                 // 8
               "      - notify: {team: maintenance, members: [alice]}\n"  // 9
               "      - notify: {}\n"                                     // 10
               "      - notify: []\n"                                     // 11
               "      - notify: {members: []}\n"                          // 12
               "      - notify: {members: }\n"                            // 13
               "      - notify:\n"                                        // 14
               "    repeat: {times: 1, every: 1h}\n"),                    // 15
      ElementsAre(
          at(5, 24) + "policy \"p\", step 1: notify.team: unknown team \"shift-c\" (teams: "
                      "maintenance, operations, remote, chicago)",
          at(6, 33) + "policy \"p\", step 2: notify.members: unknown member \"zed\" (members: "
                      "alice, bob, carol, dave, sam)",
          at(6, 38) + "policy \"p\", step 2: notify.members: member \"sam\" is listed twice "
                      "(first at line 6)",
          at(7, 32) + "policy \"p\", step 3: notify.team_channel: team \"operations\" has no "
                      "channel; give it one in the directory (channel: {instance: …, channel: "
                      "…}) or notify the team instead",
          at(8, 32) + "policy \"p\", step 4: notify.team_channel: unknown team \"nobody\" (teams: "
                      "maintenance, operations, remote, chicago)",
          at(9, 37) + "policy \"p\", step 5: notify: a target has one of team, members or "
                      "team_channel, not both team and members (write a list of targets to "
                      "notify several)",
          at(10, 17) + "policy \"p\", step 6: notify: a target needs one of team, members or "
                       "team_channel",
          at(11, 17) + "policy \"p\", step 7: notify: the list is empty; name at least one "
                       "target",
          at(12, 27) + "policy \"p\", step 8: notify.members: the list is empty; name at least "
                       "one member",
          at(13, 18) + "policy \"p\", step 9: notify.members: expected a member id or a list of "
                       "them, got nothing",
          at(14, 9) + "policy \"p\", step 10: notify: expected a target such as {team: "
                      "maintenance} or a list of them, got nothing"));
}

TEST_F(PolicyTest, StepsFireInOrderAndRepeatAfterTheLast) {
  EXPECT_THAT(
      problems("policies:\n"                                          // 1
               "  - name: p\n"                                        // 2
               "    facility: plant-a\n"                              // 3
               "    steps:\n"                                         // 4
               "      - {after: 5m, notify: {team: maintenance}}\n"   // 5
               "      - {after: 15m, notify: {team: maintenance}}\n"  // 6
               "      - {after: 10m, notify: {team: operations}}\n"   // 7
               "      - {notify: {team: operations}}\n"               // 8
               "      - {after: 15m, notify: {team: operations}}\n"   // 9
               "    repeat: {times: 2, every: 15m}\n"                 // 10
               "  - name: q\n"                                        // 11
               "    facility: plant-a\n"                              // 12
               "    steps:\n"                                         // 13
               "      - {after: 1h, notify: {team: maintenance}}\n"   // 14
               "    repeat: {times: 10, every: 1h}\n"                 // 15
               "  - name: r\n"                                        // 16
               "    facility: plant-a\n"                              // 17
               "    steps:\n"                                         // 18
               "      - {after: 1h, notify: {team: maintenance}}\n"   // 19
               "    repeat: {times: 11, every: 1h1s}\n"),             // 20
      ElementsAre(
          at(7, 17) + "policy \"p\", step 3: after: 10m is earlier than step 2's 15m (line 6); "
                      "list the steps in the order they fire (after counts from the start of the "
                      "chain)",
          at(8, 9) + "policy \"p\", step 4: after: 0 is earlier than step 2's 15m (line 6); list "
                     "the steps in the order they fire (after counts from the start of the "
                     "chain)",
          at(10, 31) + "policy \"p\": repeat.every: 15m is not longer than the last step's after "
                       "(15m, line 9); a round must be over before the next one starts",
          at(15, 32) + "policy \"q\": repeat.every: 1h is not longer than the last step's after "
                       "(1h, line 14); a round must be over before the next one starts",
          at(20, 21) + "policy \"r\": repeat.times: expected a whole number from 0 to 10, got "
                       "\"11\""));
}

TEST_F(PolicyTest, AtMostFiftyStepsAndTwentyTargets) {
  const auto file_with = [](int steps, int targets) {
    std::string yaml =
        "policies:\n"
        "  - name: p\n"
        "    facility: plant-a\n"
        "    steps:\n";
    for (int i = 0; i < steps; ++i) {
      yaml += "      - notify: [";
      for (int t = 0; t < targets; ++t) {
        yaml += t == 0 ? "" : ", ";
        yaml += "{team: maintenance}";
      }
      yaml += "]\n";
    }
    return yaml;
  };
  EXPECT_THAT(parse(file_with(50, 20)), SizeIs(1));
  EXPECT_THAT(problems(file_with(51, 1)),
              ElementsAre(at(5, 7) + "policy \"p\": steps: 51 steps; a policy has at most 50"));
  EXPECT_THAT(problems(file_with(1, 21)),
              ElementsAre(at(5, 17) + "policy \"p\", step 1: notify: 21 targets; a step notifies "
                                      "at most 20"));
}

TEST_F(PolicyTest, OnlyValidPoliciesAreReturned) {
  std::vector<std::string> texts;
  const auto policies = parse(
      "policies:\n"
      "  - name: good\n"
      "    facility: plant-a\n"
      "    steps: [{notify: {team: maintenance}}]\n"
      "  - name: bad\n"
      "    facility: plant-a\n"
      "    steps: [{notify: {team: nobody}}]\n"
      "  - name: warned\n"
      "    facility: plant-a\n"
      "    match: {asset_type: robot}\n"
      "    steps: [{notify: {team: maintenance}}]\n",
      &texts);
  ASSERT_THAT(policies, SizeIs(2));
  EXPECT_EQ(policies[0].name, "good");
  EXPECT_EQ(policies[1].name, "warned");
  EXPECT_THAT(texts, ElementsAre(HasSubstr("unknown team \"nobody\""),
                                 HasSubstr("warning: policy \"warned\"")));
}

TEST_F(PolicyTest, EveryProblemIsReportedAtOnceInFileOrder) {
  const auto found = problems(
      "policies:\n"
      "  - name: a\n"
      "    facility: plant-a\n"
      "    steps: [{notify: {team: x}}]\n"  // 4
      "  - name: B\n"                       // 5
      "    facility: plant-a\n"
      "    match: {severity: SEV9}\n"                        // 7
      "    steps: [{after: 1, notify: {members: [y]}}]\n");  // 8
  EXPECT_THAT(found,
              ElementsAre(StartsWith(at(4, 29)), StartsWith(at(5, 11)), StartsWith(at(7, 23)),
                          StartsWith(at(8, 21)), StartsWith(at(8, 43))));
}

// ---------------------------------------------------------------------------------------
// The set as a whole

TEST_F(PolicyTest, DuplicateNamesAcrossFiles) {
  EXPECT_THAT(set_problems({{"policies/a.yaml",
                             "policies:\n"
                             "  - name: sev1\n"
                             "    facility: plant-a\n"
                             "    priority: 1\n"
                             "    match: {severity: SEV1}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"},
                            {"policies/b.yaml",
                             "policies:\n"
                             "  - name: other\n"
                             "    facility: plant-b\n"
                             "    steps: [{notify: {team: chicago}}]\n"
                             "  - name: sev1\n"
                             "    facility: plant-b\n"
                             "    priority: 1\n"
                             "    match: {severity: SEV1}\n"
                             "    steps: [{notify: {team: chicago}}]\n"}}),
              ElementsAre(at(5, 11, "policies/b.yaml") +
                          "duplicate policy name \"sev1\" (first at policies/a.yaml:2:11); names "
                          "are unique within organization \"acme\""));
}

TEST_F(PolicyTest, SameNamesInTwoOrganizationsAreFine) {
  PolicySet set;
  std::vector<PolicyProblem> found;
  set.policies = parse_policy_file(
      "policies:\n"
      "  - {name: p, organization: beta, facility: mill, steps: [{notify: {members: bob}}]}\n"
      "  - {name: p, organization: acme, facility: plant-a, steps: [{notify: {members: alice}}]}\n",
      kFile, two_organizations_, found);
  check_policy_set(set, two_organizations_, found);
  EXPECT_THAT(found, IsEmpty());
}

TEST_F(PolicyTest, OverlappingPoliciesOfTheSamePriority) {
  EXPECT_THAT(
      set_problems({{"policies/a.yaml",
                     "policies:\n"
                     "  - name: a\n"
                     "    facility: plant-a\n"
                     "    match:\n"
                     "      severity: [SEV2, SEV3]\n"
                     "      during: [{days: mon-fri, hours: 06:00-22:00}]\n"
                     "    steps: [{notify: {team: maintenance}}]\n"},
                    {"policies/b.yaml",
                     "policies:\n"
                     "  - name: b\n"
                     "    facility: plant-a\n"
                     "    match: {severity: SEV2, area: [assembly]}\n"
                     "    steps: [{notify: {team: operations}}]\n"
                     "  - name: c\n"
                     "    facility: plant-a\n"
                     "    match: {severity: SEV1, area: packaging}\n"
                     "    steps: [{notify: {team: operations}}]\n"}}),
      ElementsAre(at(2, 11, "policies/b.yaml") +
                      "policy \"b\" overlaps policy \"a\" (policies/a.yaml:2:11): both match SEV2 "
                      "incidents in area \"assembly\" on Mon 06:00; give one a higher priority or "
                      "narrow its match",
                  // Gaps: SEV1 only in packaging, SEV2 and SEV3 only in working hours.
                  at(6, 11, "policies/b.yaml") +
                      "warning: no policy of facility \"plant-a\" matches SEV1 incidents in area "
                      "\"assembly\" on Mon 00:00",
                  at(2, 11, "policies/a.yaml") +
                      "warning: no policy of facility \"plant-a\" matches SEV2 incidents in area "
                      "\"packaging\" on Mon 00:00",
                  at(2, 11, "policies/a.yaml") +
                      "warning: no policy of facility \"plant-a\" matches SEV3 incidents in area "
                      "\"assembly\" on Mon 00:00"));
}

TEST_F(PolicyTest, PoliciesThatCannotMatchTheSameIncidentDoNotOverlap) {
  // Different times (a night shift and the day), different areas, different asset
  // types, different severities: never both chosen for one incident start.
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: nights\n"
                             "    facility: plant-a\n"
                             "    match: {shift: maintenance/night}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: days\n"
                             "    facility: plant-a\n"
                             "    match: {during: [{days: daily, hours: 06:00-22:00}]}\n"
                             "    steps: [{notify: {team: operations}}]\n"
                             "  - name: conveyors\n"
                             "    facility: plant-a\n"
                             "    priority: 5\n"
                             "    match: {asset_type: conveyor}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: presses\n"
                             "    facility: plant-a\n"
                             "    priority: 5\n"
                             "    match: {asset_type: press}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: plant-b\n"
                             "    facility: plant-b\n"
                             "    priority: 5\n"
                             "    steps: [{notify: {team: chicago}}]\n"}}),
              IsEmpty());
}

TEST_F(PolicyTest, OverlapNamesTheAssetTypeAndTime) {
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: conveyors\n"
                             "    facility: plant-a\n"
                             "    match: {asset_type: [conveyor], shift: maintenance/night}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: weekend-line\n"
                             "    facility: plant-a\n"
                             "    match:\n"
                             "      asset_type: [press, conveyor]\n"
                             "      during: [{days: sat, hours: 05:00-07:00}]\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: rest\n"
                             "    facility: plant-a\n"
                             "    priority: -1\n"
                             "    steps: [{notify: {team: maintenance}}]\n"}}),
              ElementsAre(at(6, 11) + "policy \"weekend-line\" overlaps policy \"conveyors\" "
                                      "(policies/a.yaml:2:11): both match SEV1 incidents in area "
                                      "\"assembly\" with a \"conveyor\" asset on Sat 05:00; give "
                                      "one a higher priority or narrow its match"));
}

TEST_F(PolicyTest, UnreachablePolicies) {
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: everything\n"  // 2
                             "    facility: plant-a\n"
                             "    priority: 10\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: assembly-sev1\n"  // 6
                             "    facility: plant-a\n"
                             "    match: {severity: SEV1, area: assembly}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"}}),
              ElementsAre(at(6, 11) + "policy \"assembly-sev1\" is unreachable: policies of higher "
                                      "priority (\"everything\") match every incident it matches"));
  // By the union of two: days and nights together cover the week.
  EXPECT_THAT(
      set_problems({{kFile,
                     "policies:\n"
                     "  - name: days\n"  // 2
                     "    facility: plant-a\n"
                     "    priority: 2\n"
                     "    match: {during: [{days: daily, hours: 06:00-22:00}]}\n"
                     "    steps: [{notify: {team: maintenance}}]\n"
                     "  - name: nights\n"  // 7
                     "    facility: plant-a\n"
                     "    priority: 1\n"
                     "    match: {shift: maintenance/night, severity: [SEV1, SEV2, SEV3]}\n"
                     "    steps: [{notify: {team: maintenance}}]\n"
                     "  - name: packaging\n"  // 12
                     "    facility: plant-a\n"
                     "    match: {area: packaging, asset_type: wrapper}\n"
                     "    steps: [{notify: {team: operations}}]\n"
                     "  - name: almost\n"  // 16
                     "    facility: plant-a\n"
                     "    priority: -5\n"
                     "    match: {during: [{days: sun, hours: 21:00-21:01}]}\n"
                     "    steps: [{notify: {team: operations}}]\n"}}),
      ElementsAre(at(12, 11) + "policy \"packaging\" is unreachable: policies of higher priority "
                               "(\"days\", \"nights\") match every incident it matches",
                  // "packaging" is unreachable itself, but would match before "almost".
                  at(16, 11) + "policy \"almost\" is unreachable: policies of higher priority "
                               "(\"days\", \"packaging\") match every incident it matches"));
}

TEST_F(PolicyTest, APolicyJustReachableIsNotReported) {
  // The whole week but Sunday 21:59 is taken by policies of higher priority.
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: days\n"
                             "    facility: plant-a\n"
                             "    priority: 2\n"
                             "    match:\n"
                             "      during:\n"
                             "        - {days: mon-sat, hours: 06:00-22:00}\n"
                             "        - {days: sun, hours: 06:00-21:59}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: nights\n"
                             "    facility: plant-a\n"
                             "    priority: 2\n"
                             "    match: {shift: maintenance/night}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: fallback\n"
                             "    facility: plant-a\n"
                             "    steps: [{notify: {team: operations}}]\n"}}),
              IsEmpty());
}

TEST_F(PolicyTest, GapsAreWarnings) {
  EXPECT_THAT(
      set_problems({{kFile,
                     "policies:\n"
                     "  - name: weekdays\n"  // 2
                     "    facility: plant-a\n"
                     "    match:\n"
                     "      severity: SEV2\n"
                     "      during: [{days: mon-fri, hours: 00:00-24:00}]\n"
                     "    steps: [{notify: {team: maintenance}}]\n"
                     "  - name: saturday\n"
                     "    facility: plant-a\n"
                     "    priority: 1\n"
                     "    match:\n"
                     "      severity: SEV2\n"
                     "      during: [{days: sat, hours: 00:00-22:00}]\n"
                     "      area: [assembly]\n"
                     "    steps: [{notify: {team: maintenance}}]\n"
                     "  - name: sunday\n"
                     "    facility: plant-a\n"
                     "    match: {severity: SEV2, shift: maintenance/weekend}\n"
                     "    steps: [{notify: {team: maintenance}}]\n"
                     "  - name: wrappers\n"  // 20
                     "    facility: plant-a\n"
                     "    match: {severity: SEV3, asset_type: wrapper}\n"
                     "    steps: [{notify: {team: operations}}]\n"}}),
      ElementsAre(at(2, 11) + "warning: no policy of facility \"plant-a\" matches SEV2 incidents "
                              "in area \"assembly\" on Sat 22:00",
                  at(20, 11) + "warning: no policy of facility \"plant-a\" matches SEV3 incidents "
                               "in area \"assembly\" with no asset of type \"wrapper\" on Mon "
                               "00:00"));
}

TEST_F(PolicyTest, IncidentsWithoutAnAreaAreACell) {
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: by-area\n"
                             "    facility: plant-a\n"
                             "    match: {area: [assembly, packaging]}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"}}),
              ElementsAre(at(2, 11) + "warning: no policy of facility \"plant-a\" matches SEV1 "
                                      "incidents without an area on Mon 00:00",
                          at(2, 11) + "warning: no policy of facility \"plant-a\" matches SEV2 "
                                      "incidents without an area on Mon 00:00",
                          at(2, 11) + "warning: no policy of facility \"plant-a\" matches SEV3 "
                                      "incidents without an area on Mon 00:00"));
}

TEST_F(PolicyTest, WindowsWrapFromSundayIntoMonday) {
  // Sunday 22:00-06:00 covers Monday 00:00-06:00: with Monday from 06:00 and the rest of
  // the week, nothing is left.
  EXPECT_THAT(set_problems({{kFile,
                             "policies:\n"
                             "  - name: week\n"
                             "    facility: plant-a\n"
                             "    match:\n"
                             "      during:\n"
                             "        - {days: sun, hours: 22:00-06:00}\n"
                             "        - {days: mon, hours: 06:00-24:00}\n"
                             "        - {days: tue-sun, hours: 00:00-22:00}\n"
                             "        - {days: tue-sat, hours: 22:00-24:00}\n"
                             "    steps: [{notify: {team: maintenance}}]\n"
                             "  - name: never\n"
                             "    facility: plant-a\n"
                             "    priority: -1\n"
                             "    steps: [{notify: {team: maintenance}}]\n"}}),
              ElementsAre(at(11, 11) + "policy \"never\" is unreachable: policies of higher "
                                       "priority (\"week\") match every incident it matches"));
}

// ---------------------------------------------------------------------------------------
// load_policies

class LoadPoliciesTest : public PolicyTest {
 protected:
  static constexpr const char* kSev1 =
      "policies:\n"
      "  - name: sev1\n"
      "    facility: plant-a\n"
      "    priority: 10\n"
      "    match: {severity: SEV1}\n"
      "    steps: [{notify: {team: maintenance}}]\n";
  static constexpr const char* kRest =
      "policies:\n"
      "  - name: rest\n"
      "    facility: plant-a\n"
      "    steps: [{notify: {team: operations}}]\n"
      "  - name: plant-b\n"
      "    facility: plant-b\n"
      "    priority: 3\n"
      "    steps: [{notify: {team: chicago}}]\n";
};

TEST_F(LoadPoliciesTest, ReadsEveryPolicyFileInNameOrder) {
  const fs::path policies = dir_ / "policies";
  write(policies / "b-rest.yml", kRest);
  write(policies / "a-sev1.yaml", kSev1);
  write(policies / "notes.txt", "not a policy");
  write(policies / ".#a-sev1.yaml", "not: a policy");
  write(policies / "tests" / "sev1-test.yaml", "not: a policy file");
  write(policies / "old.yaml.bak", "policies: nonsense");
  std::vector<PolicyProblem> warnings;
  const auto loaded = load_policies(policies, directory_, &warnings);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_THAT(loaded->files,
              ElementsAre((policies / "a-sev1.yaml").string(), (policies / "b-rest.yml").string()));
  // By organization, facility, priority (highest first), then where written.
  ASSERT_THAT(loaded->policies, SizeIs(3));
  EXPECT_EQ(loaded->policies[0].name, "sev1");
  EXPECT_EQ(loaded->policies[1].name, "rest");
  EXPECT_EQ(loaded->policies[2].name, "plant-b");
  EXPECT_EQ(loaded->policies[0].where,
            (SourceLocation{(policies / "a-sev1.yaml").string(), 2, 11}));
  EXPECT_THAT(warnings, IsEmpty());

  EXPECT_EQ(loaded->find("acme", "rest"), &loaded->policies[1]);
  EXPECT_EQ(loaded->find("acme", "nope"), nullptr);
  EXPECT_EQ(loaded->find("beta", "rest"), nullptr);
}

TEST_F(LoadPoliciesTest, PoliciesAreOrderedByOrganizationThenFacility) {
  const fs::path policies = dir_ / "policies";
  write(policies / "a.yaml",
        "policies:\n"
        "  - {name: mill, organization: beta, facility: mill, steps: [{notify: {members: bob}}]}\n"
        "  - {name: low, organization: acme, facility: plant-a, priority: -3,\n"
        "     steps: [{notify: {members: alice}}]}\n");
  write(policies / "b.yaml",
        "policies:\n"
        "  - {name: high, organization: acme, facility: plant-a, priority: 3,\n"
        "     match: {severity: SEV1}, steps: [{notify: {members: alice}}]}\n");
  const auto loaded = load_policies(policies, two_organizations_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_THAT(loaded->policies, SizeIs(3));
  EXPECT_EQ(loaded->policies[0].name, "high");
  EXPECT_EQ(loaded->policies[1].name, "low");
  EXPECT_EQ(loaded->policies[2].name, "mill");
  EXPECT_EQ(loaded->find("beta", "mill"), &loaded->policies[2]);
  EXPECT_EQ(loaded->find("acme", "mill"), nullptr);
}

TEST_F(LoadPoliciesTest, PathsAreShownAsGiven) {
  const fs::path policies = dir_ / "policies";
  write(policies / "a.yaml", "policies:\n  - name: x\n    facility: plant-q\n");
  const fs::path previous = fs::current_path();
  fs::current_path(dir_);
  const auto loaded = load_policies("policies/", directory_);
  fs::current_path(previous);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::ErrorCode::invalid_argument);
  EXPECT_EQ(loaded.error().message,
            "policies/a.yaml:2:5: policy \"x\": required key \"steps\" is missing (a list of "
            "steps, such as - notify: {team: maintenance})\n"
            "policies/a.yaml:3:15: policy \"x\": unknown facility \"plant-q\" (facilities: "
            "plant-a, plant-b, plant-c)\n"
            "policies/: 2 problems");
}

TEST_F(LoadPoliciesTest, ErrorsOfEveryFileThenACount) {
  const fs::path policies = dir_ / "policies";
  write(policies / "a.yaml", kSev1);
  write(policies / "b.yaml", "policies:\n  - name: [x\n");
  write(policies / "c.yaml",
        "policies:\n"
        "  - name: sev1\n"
        "    facility: plant-a\n"
        "    priority: 10\n"
        "    match: {severity: SEV1, asset_type: robot}\n"
        "    steps: [{notify: {team: maintenance}}]\n");
  const auto loaded = load_policies(policies, directory_);
  ASSERT_FALSE(loaded.ok());
  const auto lines = split_lines(loaded.error().message);
  const std::string a = (policies / "a.yaml").string();
  const std::string b = (policies / "b.yaml").string();
  const std::string c = (policies / "c.yaml").string();
  // A syntax error alone at the parser's position; the gaps of a set refused anyway are
  // left out; warnings are listed but not counted.
  EXPECT_THAT(lines,
              ElementsAre(MatchesRegex(b + ":[23]:[0-9]+: .+"),
                          c + ":2:11: duplicate policy name \"sev1\" (first at " + a +
                              ":2:11); names are unique within organization \"acme\"",
                          StartsWith(c + ":5:41: warning: policy \"sev1\": match.asset_type: no "
                                         "asset of facility \"plant-a\" has type \"robot\""),
                          policies.string() + ": 2 problems, 1 warning"));
}

TEST_F(LoadPoliciesTest, WarningsOfAValidSet) {
  const fs::path policies = dir_ / "policies";
  write(policies / "a.yaml",
        "policies:\n"
        "  - name: sev1\n"
        "    facility: plant-a\n"
        "    match: {severity: SEV1, area: assembly}\n"
        "    steps: [{notify: {team: maintenance}}]\n");
  std::vector<PolicyProblem> warnings;
  const auto loaded = load_policies(policies, directory_, &warnings);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_TRUE(warnings[0].warning);
  EXPECT_EQ(warnings[0].text(), (policies / "a.yaml").string() +
                                    ":2:11: warning: no policy of facility \"plant-a\" matches "
                                    "SEV1 incidents in area \"packaging\" on Mon 00:00");
}

TEST_F(LoadPoliciesTest, AnEmptyDirectoryIsAnEmptySetWithAWarning) {
  const fs::path policies = dir_ / "empty";
  fs::create_directories(policies / "tests");
  std::vector<PolicyProblem> warnings;
  const auto loaded = load_policies(policies, directory_, &warnings);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_THAT(loaded->policies, IsEmpty());
  EXPECT_THAT(loaded->files, IsEmpty());
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_EQ(warnings[0].text(), policies.string() +
                                    ": warning: no policy files in this directory (*.yaml or "
                                    "*.yml); no incident will be escalated");
}

TEST_F(LoadPoliciesTest, AMissingDirectoryOrFileIsAnError) {
  const auto missing = load_policies(dir_ / "nope", directory_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::invalid_argument);
  EXPECT_EQ(missing.error().message, (dir_ / "nope").string() +
                                         ": cannot read the policies directory: No such file or "
                                         "directory");

  write(dir_ / "file.yaml", kSev1);
  const auto not_directory = load_policies(dir_ / "file.yaml", directory_);
  ASSERT_FALSE(not_directory.ok());
  EXPECT_EQ(not_directory.error().message,
            (dir_ / "file.yaml").string() +
                ": not a directory; policies.path names the directory of policy files");

  // A policy file that cannot be read (here a dangling link) is named.
  const fs::path policies = dir_ / "policies";
  write(policies / "a.yaml", kSev1);
  fs::create_symlink(dir_ / "gone.yaml", policies / "b.yaml");
  const auto unreadable = load_policies(policies, directory_);
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.error().message, (policies / "b.yaml").string() +
                                            ": cannot read: No such file or directory\n" +
                                            policies.string() + ": 1 problem");
}

// ---------------------------------------------------------------------------------------
// Hostile input

TEST_F(LoadPoliciesTest, AHugeFileIsRefused) {
  const fs::path policies = dir_ / "policies";
  std::string huge = "policies: []\n";
  huge += "# " + std::string(std::size_t{16} * 1024 * 1024, 'x') + "\n";
  write(policies / "huge.yaml", huge);
  const auto loaded = load_policies(policies, directory_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, (policies / "huge.yaml").string() +
                                        ": larger than 16 MiB; is it the right file?\n" +
                                        policies.string() + ": 1 problem");
  EXPECT_THAT(problems(huge),
              ElementsAre("policies/a.yaml: larger than 16 MiB; is it the right file?"));
}

TEST_F(PolicyTest, AliasExpansionIsBounded) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'h'; ++level) {
    const char previous = static_cast<char>(level - 1);
    yaml += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 10; ++i) {
      yaml += std::string(i == 0 ? "" : ", ") + "*" + previous;
    }
    yaml += "]\n";
  }
  EXPECT_THAT(problems(yaml), ElementsAre("policies/a.yaml: the document expands to more than "
                                          "1000000 values (aliases?)"));
}

TEST_F(PolicyTest, DeeplyNestedYamlIsRefused) {
  const std::string deep = "policies: " + std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_THAT(problems(deep), ElementsAre(MatchesRegex("policies/a\\.yaml:1:[0-9]+: lists and "
                                                       "mappings nested more than 2000 levels "
                                                       "deep; is it the right file\\?")));
}

TEST_F(PolicyTest, MalformedYamlIsOneErrorWithItsPosition) {
  EXPECT_THAT(problems("policies:\n  - name: [p\n    facility: x\n"),
              ElementsAre(MatchesRegex("policies/a\\.yaml:[23]:[0-9]+: .+")));
  EXPECT_THAT(problems("policies:\n\t- name: p\n"),
              ElementsAre(StartsWith(std::string(kFile) + ":2:")));
}

TEST_F(PolicyTest, BytesThatAreNotUtf8InNames) {
  // yaml-cpp passes such bytes through; messages show them escaped, and stay UTF-8.
  EXPECT_THAT(
      problems("policies:\n"
               "  - name: caf\xe9\xff\n"
               "    facility: plant-a\n"
               "    steps: [{notify: {team: t\x80\xc3\xa9}}]\n"),
      ElementsAre(at(2, 11) + "policy name \"caf\\xe9\\xff\": use lowercase letters, digits "
                              "and '-' (such as \"plant-a-sev2\")",
                  at(4, 29) + "policy \"caf\\xe9\\xff\", step 1: notify.team: unknown team "
                              "\"t\\x80\xc3\xa9\" (teams: maintenance, operations, remote, "
                              "chicago)"));
}

TEST_F(PolicyTest, ControlCharactersAreEscapedInMessages) {
  const auto found = problems(
      "policies:\n  - name: \"a\\x1b[31mb\"\n    facility: plant-a\n"
      "    steps: [{notify: {team: maintenance}}]\n");
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_EQ(found[0], at(2, 11) +
                          "policy name \"a\\x1b[31mb\": use lowercase letters, digits and "
                          "'-' (such as \"plant-a-sev2\")");
}

// ---------------------------------------------------------------------------------------
// Problems as text

TEST(PolicyProblemText, LocationAndWarning) {
  EXPECT_EQ((PolicyProblem{{"policies/a.yaml", 14, 9}, "unknown team \"x\"", false}.text()),
            "policies/a.yaml:14:9: unknown team \"x\"");
  EXPECT_EQ((PolicyProblem{{"policies/a.yaml", 14, 9}, "no policy", true}.text()),
            "policies/a.yaml:14:9: warning: no policy");
  EXPECT_EQ((PolicyProblem{{"policies/a.yaml", 0, 0}, "larger than 16 MiB", false}.text()),
            "policies/a.yaml: larger than 16 MiB");
  EXPECT_EQ((PolicyProblem{{"", 0, 0}, "no files", true}.text()), "warning: no files");
}

// ---------------------------------------------------------------------------------------
// The JSON Schema and the loader accept the same keys

fs::path source_dir() {
  const char* dir = std::getenv("HAVERI_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(HAVERI_TEST_SOURCE_DIR);
}

// The keys the loader allows at one level, read from its "unknown key" message.
std::set<std::string> allowed_keys(const std::vector<std::string>& found) {
  std::set<std::string> keys;
  for (const auto& text : found) {
    const auto start = text.find("(allowed: ");
    if (start == std::string::npos) {
      continue;
    }
    const auto end = text.find(')', start);
    std::string list = text.substr(start + 10, end - start - 10);
    std::size_t from = 0;
    while (from <= list.size()) {
      const auto comma = list.find(", ", from);
      keys.insert(list.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
      if (comma == std::string::npos) {
        break;
      }
      from = comma + 2;
    }
    return keys;
  }
  ADD_FAILURE() << "no \"allowed\" list in the problems";
  return keys;
}

std::set<std::string> schema_keys(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.at("properties").items()) {
    keys.insert(key);
  }
  EXPECT_EQ(object.value("additionalProperties", true), false);
  return keys;
}

TEST_F(PolicyTest, TheSchemaAcceptsTheKeysTheLoaderAccepts) {
  std::ifstream in(source_dir() / "policies" / "policy.schema.json");
  ASSERT_TRUE(in.good()) << "policies/policy.schema.json not found";
  const nlohmann::json schema = nlohmann::json::parse(in);
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
  const nlohmann::json& defs = schema.at("$defs");

  const std::string policy_start =
      "policies:\n"
      "  - name: p\n"
      "    facility: plant-a\n";
  const std::string step = "    steps: [{notify: {team: maintenance}}]\n";
  EXPECT_EQ(schema_keys(schema), allowed_keys(problems("zzz: 1\npolicies: []\n")));
  EXPECT_EQ(schema_keys(defs.at("policy")),
            allowed_keys(problems(policy_start + step + "    zzz: 1\n")));
  EXPECT_EQ(schema_keys(defs.at("match")),
            allowed_keys(problems(policy_start + step + "    match: {zzz: 1}\n")));
  EXPECT_EQ(schema_keys(defs.at("window")),
            allowed_keys(problems(policy_start + step +
                                  "    match: {during: [{days: mon, hours: 08:00-09:00, zzz: "
                                  "1}]}\n")));
  EXPECT_EQ(schema_keys(defs.at("step")),
            allowed_keys(
                problems(policy_start + "    steps: [{notify: {team: maintenance}, zzz: 1}]\n")));
  EXPECT_EQ(schema_keys(defs.at("target")),
            allowed_keys(problems(policy_start + "    steps: [{notify: {team: maintenance, "
                                                 "zzz: 1}}]\n")));
  EXPECT_EQ(schema_keys(defs.at("repeat")),
            allowed_keys(problems(policy_start + step + "    repeat: {times: 0, zzz: 1}\n")));
}

}  // namespace
}  // namespace haveri::policy
