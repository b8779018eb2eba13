// Tests core/src/policy/policy_test_file.cpp: reading policy test files (every
// problem as file:line:col) and comparing what a test expects with what the
// simulation pages.
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <support/daemon_process.hpp>

#include <haveri/policy/policy_test_file.hpp>

#include "policy_fixture.hpp"

namespace haveri::policy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using core::Severity;
using haveri::testing::TempDir;
using haveri::testing::write_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::members;
using testing::policy;
using testing::policy_set;
using testing::step;
using testing::team_channel;
using testing::team_on_shift;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

constexpr const char* kTestFile =
    "directory: ../../directory.yaml\n"                                    // 1
    "policies: ..\n"                                                       // 2
    "tests:\n"                                                             // 3
    "  - name: SEV2 on the night shift, nobody acknowledges\n"             // 4
    "    incident:\n"                                                      // 5
    "      severity: SEV2\n"                                               // 6
    "      area: assembly\n"                                               // 7
    "      assets: [conveyor-4]\n"                                         // 8
    "      declared_at: \"2026-11-24 23:50\"\n"                            // 9
    "    until_minute: 120\n"                                              // 10
    "    expect:\n"                                                        // 11
    "      policy: night\n"                                                // 12
    "      pages:\n"                                                       // 13
    "        - {minute: 0, members: [dave]}\n"                             // 14
    "        - {minute: 15, members: [dave, sam]}\n"                       // 15
    "        - {minute: 30, channel: maintenance}\n"                       // 16
    "  - name: acknowledged at 20\n"                                       // 17
    "    organization: acme\n"                                             // 18
    "    incident: {severity: sev2, declared_at: 2026-11-24T21:50:00Z}\n"  // 19
    "    events:\n"                                                        // 20
    "      - {minute: 20, acknowledge: true}\n"                            // 21
    "      - {minute: 5, severity: SEV1}\n"                                // 22
    "      - {minute: 6, area: packaging}\n"                               // 23
    "      - {minute: 40, resolve: true}\n"                                // 24
    "    expect:\n"                                                        // 25
    "      policies: [night, none]\n"                                      // 26
    "      pages:\n"                                                       // 27
    "        - {minute: 0, members: [dave], unreachable: []}\n";           // 28

class PolicyTestFileTest : public ::testing::Test {
 protected:
  PolicyTestFileTest() {
    write_file(dir_.path() / "directory.yaml", testing::kDirectoryYaml);
    fs::create_directories(dir_.path() / "policies" / "tests");
  }

  std::string file() const { return (dir_.path() / "policies" / "tests" / "night.yaml").string(); }

  core::Result<PolicyTestSuite> parse(const std::string& text) {
    return parse_policy_test_file(text, file());
  }

  // "<file>:<line>:<column>: " for an expected message.
  std::string at(int line, int column) const {
    return file() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  }

  // The problems of a file that must be invalid.
  std::vector<std::string> problems(const std::string& text) {
    auto suite = parse(text);
    EXPECT_FALSE(suite.ok());
    return suite.ok() ? std::vector<std::string>{} : split_lines(suite.error().message);
  }

  // A valid file of one test with the given incident/events/expect lines.
  static std::string one_test(const std::string& body) {
    return "directory: ../../directory.yaml\n"
           "policies: ..\n"
           "tests:\n"
           "  - name: t\n" +
           body;
  }

  TempDir dir_;
  TimeZoneDatabase zones_{testing::kZoneinfo};
};

TEST_F(PolicyTestFileTest, ReadsEveryKey) {
  auto suite = parse(kTestFile);
  ASSERT_TRUE(suite.ok()) << suite.error().message;
  EXPECT_EQ(suite->directory_file, (dir_.path() / "directory.yaml").lexically_normal());
  EXPECT_EQ(suite->policies_path, (dir_.path() / "policies").lexically_normal());
  EXPECT_EQ(suite->zoneinfo, "/usr/share/zoneinfo");
  EXPECT_EQ(suite->directory.organizations.size(), 1U);
  ASSERT_EQ(suite->tests.size(), 2U);

  const PolicyTest& night = suite->tests[0];
  EXPECT_EQ(night.name, "SEV2 on the night shift, nobody acknowledges");
  EXPECT_EQ(night.where, (SourceLocation{file(), 4, 11}));
  EXPECT_EQ(night.scenario.organization, "acme");
  EXPECT_EQ(night.scenario.severity, Severity::sev2);
  EXPECT_EQ(night.scenario.area, "assembly");
  EXPECT_EQ(night.scenario.assets, std::vector<std::string>{"conveyor-4"});
  EXPECT_EQ(core::format_time(night.scenario.declared_at), "2026-11-24T21:50:00.000Z");
  EXPECT_EQ(night.scenario.horizon, 120min);
  EXPECT_EQ(night.expected_policy, "night");
  EXPECT_EQ(night.expected_policy_where, (SourceLocation{file(), 12, 15}));
  EXPECT_FALSE(night.checks_unreachable);
  using Kind = ExpectedPage::Kind;
  EXPECT_THAT(night.expected_pages, ElementsAre(ExpectedPage{0, Kind::member, "dave"},
                                                ExpectedPage{15, Kind::member, "dave"},
                                                ExpectedPage{15, Kind::member, "sam"},
                                                ExpectedPage{30, Kind::channel, "maintenance"}));

  const PolicyTest& acknowledged = suite->tests[1];
  EXPECT_EQ(core::format_time(acknowledged.scenario.declared_at), "2026-11-24T21:50:00.000Z");
  EXPECT_EQ(acknowledged.scenario.horizon, 240min);
  ASSERT_EQ(acknowledged.scenario.events.size(), 4U);
  EXPECT_EQ(acknowledged.scenario.events[0].kind, ScenarioEvent::Kind::acknowledge);
  EXPECT_EQ(acknowledged.scenario.events[0].at, 20min);
  EXPECT_EQ(acknowledged.scenario.events[1].kind, ScenarioEvent::Kind::severity);
  EXPECT_EQ(acknowledged.scenario.events[1].severity, Severity::sev1);
  EXPECT_EQ(acknowledged.scenario.events[2].kind, ScenarioEvent::Kind::area);
  EXPECT_EQ(acknowledged.scenario.events[2].area, "packaging");
  EXPECT_EQ(acknowledged.scenario.events[3].kind, ScenarioEvent::Kind::resolve);
  EXPECT_FALSE(acknowledged.expected_policy);
  EXPECT_EQ(acknowledged.expected_policies, (std::vector<std::string>{"night", ""}));
  EXPECT_TRUE(acknowledged.checks_unreachable);
}

TEST_F(PolicyTestFileTest, ReportsEveryProblemWithItsPlace) {
  const std::string text =
      "directory: ../../directory.yaml\n"                                    // 1
      "policies: ..\n"                                                       // 2
      "zonefile: x\n"                                                        // 3
      "tests:\n"                                                             // 4
      "  - name: first\n"                                                    // 5
      "    incident: {severity: SEV4, declared_at: \"2026-11-24 25:00\"}\n"  // 6
      "    until_minute: lots\n"                                             // 7
      "    expect:\n"                                                        // 8
      "      pages:\n"                                                       // 9
      "        - {minute: 0, members: [zed], channel: managers}\n"           // 10
      "        - {minute: 0, unreachable: [nobody]}\n"                       // 11
      "        - {minute: 0}\n"                                              // 12
      "  - name: first\n"                                                    // 13
      "    organization: globex\n"                                           // 14
      "    incident: {severity: SEV2, declared_at: \"2026-11-24 10:00\"}\n"  // 15
      "    expect: {pages: []}\n"                                            // 16
      "  - name: third\n"                                                    // 17
      "    incident: {severity: SEV2, area: paint, declared_at: \"2026-11-24 10:00\", extra: "
      "1}\n"                                                                  // 18
      "    events:\n"                                                         // 19
      "      - {minute: 300, acknowledge: true}\n"                            // 20
      "      - {minute: 5, acknowledge: false}\n"                             // 21
      "      - {minute: 5, acknowledge: true, resolve: true}\n"               // 22
      "      - {minute: 5, area: paint}\n"                                    // 23
      "    expect: {policy: [a], pages: [{minute: 250, members: [dave]}]}\n"  // 24
      "  - name: fourth\n"                                                    // 25
      "    incident: {severity: SEV2}\n";                                     // 26
  EXPECT_THAT(
      problems(text),
      ElementsAre(
          at(3, 1) + "unknown key \"zonefile\" (allowed: directory, policies, zoneinfo, tests)",
          at(6, 26) +
              "test \"first\": incident: severity: expected SEV1, SEV2 or SEV3, got \"SEV4\"",
          at(6, 45) + "test \"first\": incident: declared_at: expected a local time \"YYYY-MM-DD "
                      "HH:MM\" (such as 2026-11-24 23:50) or RFC 3339 with Z or an offset (such as "
                      "2026-11-24T21:50:00Z), got \"2026-11-24 25:00\"",
          at(7, 19) + "test \"first\": until_minute: expected a whole number from 0 to 10080, got "
                      "\"lots\"",
          at(10, 33) +
              "test \"first\": expect: page 1: members: unknown member \"zed\" (members of "
              "acme: alice, bob, dave, sam, carol, erin)",
          at(10, 48) +
              "test \"first\": expect: page 1: channel: team \"managers\" has no channel in "
              "the directory, so nothing is ever posted there",
          at(11, 37) +
              "test \"first\": expect: page 2: unreachable: \"nobody\" is neither a member "
              "nor a team of acme",
          at(12, 11) +
              "test \"first\": expect: page 3: give members, channel or unreachable (such as "
              "{minute: 0, members: [dave]})",
          at(13, 11) + "test \"first\": the name is used by another test (line 5); each test needs "
                       "its own name",
          at(14, 19) +
              "test \"first\": organization: unknown organization \"globex\" (organizations "
              "in the directory: acme)",
          at(18, 38) + "test \"third\": incident: area: unknown area \"paint\" (areas of acme: "
                       "assembly, packaging)",
          at(18, 78) + "test \"third\": incident: unknown key \"extra\" (allowed: severity, area, "
                       "assets, declared_at)",
          at(20, 18) + "test \"third\": event 1: minute 300 is after until_minute 240, so it would "
                       "never happen; raise until_minute",
          at(21, 34) +
              "test \"third\": event 2: acknowledge: expected true, got \"false\" (leave the "
              "event out instead)",
          at(22, 40) +
              "test \"third\": event 3: give exactly one of acknowledge, resolve, severity "
              "and area; split them into several events",
          at(23, 27) + "test \"third\": event 4: area: unknown area \"paint\" (areas of acme: "
                       "assembly, packaging)",
          at(24, 22) + "test \"third\": expect: policy: expected a string, got a list",
          at(24, 44) +
              "test \"third\": expect: page 1: minute 250 is after until_minute 240, which "
              "the test does not simulate; raise until_minute",
          // A missing key is reported at the mapping that lacks it: the test's at its
          // first key, the incident's at its "{".
          at(25, 5) + "test \"fourth\": required key \"expect\" is missing (at least pages: the "
                      "pages expected)",
          at(26, 15) + "test \"fourth\": incident: required key \"declared_at\" is missing (the "
                       "facility's local time, such as \"2026-11-24 23:50\")"));
}

TEST_F(PolicyTestFileTest, ALocalTimeTheClocksSkipOrRepeatIsAnError) {
  EXPECT_THAT(
      problems(one_test("    incident: {severity: SEV2, declared_at: \"2026-03-29 03:30\"}\n"
                        "    expect: {pages: []}\n")),
      ElementsAre(at(5, 45) + "test \"t\": incident: declared_at: \"2026-03-29 03:30\" does not "
                              "exist in Europe/Helsinki: the clocks jump from 03:00 to 04:00 that "
                              "night; use a time after the change, or RFC 3339 with an offset"));
  EXPECT_THAT(
      problems(one_test("    incident: {severity: SEV2, declared_at: \"2026-10-25 03:30\"}\n"
                        "    expect: {pages: []}\n")),
      ElementsAre(at(5, 45) + "test \"t\": incident: declared_at: \"2026-10-25 03:30\" happens "
                              "twice in Europe/Helsinki: the clocks go back that night; write it "
                              "with its offset: 2026-10-25T03:30+03:00 (EEST, the first) or "
                              "2026-10-25T03:30+02:00 (EET, the second)"));
  auto explicit_offset =
      parse(one_test("    incident: {severity: SEV2, declared_at: \"2026-10-25T03:30+02:00\"}\n"
                     "    expect: {pages: []}\n"));
  ASSERT_TRUE(explicit_offset.ok()) << explicit_offset.error().message;
  EXPECT_EQ(core::format_time(explicit_offset->tests[0].scenario.declared_at),
            "2026-10-25T01:30:00.000Z");
}

TEST_F(PolicyTestFileTest, TheFileItselfMustBeAMappingWithItsKeys) {
  EXPECT_THAT(problems(""), ElementsAre(file() + ": the file is empty; expected a mapping with the "
                                                 "keys directory, policies and tests"));
  EXPECT_THAT(problems("tests: [\n"), ElementsAre(HasSubstr(file() + ":2:1: ")));
  EXPECT_THAT(problems("- a\n"),
              ElementsAre(at(1, 1) + "expected a mapping with the keys "
                                     "directory, policies and tests, got a list"));
  EXPECT_THAT(problems("zoneinfo: /usr/share/zoneinfo\n"),
              ElementsAre(at(1, 1) + "required key \"directory\" is missing (the directory file, "
                                     "relative to this file)",
                          at(1, 1) + "required key \"policies\" is missing (the policies "
                                     "directory, relative to this file)",
                          at(1, 1) + "required key \"tests\" is missing (a list of tests)"));
  EXPECT_THAT(problems("directory: ../../directory.yaml\npolicies: ..\ntests: []\n"),
              ElementsAre(at(3, 8) + "tests: the list is empty; add at least one test"));
}

TEST_F(PolicyTestFileTest, AnInvalidDirectoryIsReportedAsItReportsItself) {
  write_file(dir_.path() / "directory.yaml", "organizations: []\n");
  const auto lines =
      problems(one_test("    incident: {severity: SEV2, declared_at: \"2026-11-24 "
                        "10:00\"}\n    expect: {pages: []}\n"));
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_THAT(lines[0], HasSubstr("directory.yaml:1:16: organizations: the list is empty"));
  EXPECT_EQ(lines[1], at(1, 12) + "directory: \"" +
                          (dir_.path() / "directory.yaml").lexically_normal().string() +
                          "\" cannot be used (its problems are listed above); the tests are not "
                          "checked against it");
}

// --- Running tests against policies -------------------------------------------------

class PolicyTestRunTest : public PolicyTestFileTest {
 protected:
  PolicySet policies_ = policy_set({
      policy("night", {Severity::sev2},
             {step(0s, {team_on_shift("maintenance")}),
              step(15min, {team_on_shift("maintenance"), members({"sam"})}),
              step(30min, {team_channel("maintenance")}, /*if_unacknowledged=*/false)}),
      policy("major", {Severity::sev1}, {step(0s, {team_on_shift("weekend")})}),
  });

  std::vector<PolicyTestOutcome> run(const std::string& text) {
    auto suite = parse(text);
    EXPECT_TRUE(suite.ok()) << suite.error().message;
    if (!suite.ok()) {
      return {};
    }
    return run_policy_tests(*suite, policies_, zones_);
  }
};

TEST_F(PolicyTestRunTest, PassingTests) {
  const auto outcomes = run(kTestFile);
  ASSERT_EQ(outcomes.size(), 2U);
  EXPECT_TRUE(outcomes[0].passed) << ::testing::PrintToString(outcomes[0].differences);
  // At minute 5 the severity goes to SEV1: policy major replaces night, and its first
  // step finds nobody of team weekend on duty on a Tuesday. The test expected otherwise.
  EXPECT_FALSE(outcomes[1].passed);
  EXPECT_THAT(outcomes[1].differences,
              ElementsAre("policies: expected [night, none], got [night, major]",
                          "minute 5: expected nothing; got unreachable weekend",
                          "chosen: night (policies/plant-a.yaml:1) at minute 0 (declared); major "
                          "(policies/plant-a.yaml:1) at minute 5 (severity change)",
                          "minute 5: step 1 could not reach: nobody of team weekend is on duty"));
}

TEST_F(PolicyTestRunTest, AFailureSaysWhatDiffersMinuteByMinute) {
  const auto outcomes =
      run(one_test("    incident: {severity: SEV2, declared_at: \"2026-11-24 23:50\"}\n"
                   "    events: [{minute: 20, acknowledge: true}]\n"
                   "    expect:\n"
                   "      policy: major\n"
                   "      pages:\n"
                   "        - {minute: 0, members: [alice]}\n"
                   "        - {minute: 15, members: [dave, sam]}\n"
                   "        - {minute: 30, channel: maintenance}\n"
                   "        - {minute: 45, members: [sam]}\n"));
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_FALSE(outcomes[0].passed);
  EXPECT_THAT(outcomes[0].differences,
              ElementsAre("policy: expected major, got night",
                          "minute 0: expected Alice (alice); got Dave (dave)",
                          "minute 45: expected Sam (sam); got nothing",
                          "chosen: night (policies/plant-a.yaml:1) at minute 0 (declared)"));
}

TEST_F(PolicyTestRunTest, PagesAreCountedExactly) {
  // Dave is paged twice at minute 15 only if the step named him twice; it does not.
  const auto outcomes =
      run(one_test("    incident: {severity: SEV2, declared_at: \"2026-11-24 23:50\"}\n"
                   "    until_minute: 20\n"
                   "    expect:\n"
                   "      pages:\n"
                   "        - {minute: 0, members: [dave]}\n"
                   "        - {minute: 15, members: [dave, sam, dave]}\n"));
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_THAT(outcomes[0].differences,
              ElementsAre("minute 15: expected Dave (dave), Dave (dave), Sam (sam); got Dave "
                          "(dave), Sam (sam)",
                          "chosen: night (policies/plant-a.yaml:1) at minute 0 (declared)"));
}

TEST_F(PolicyTestRunTest, UnreachableIsCheckedWhenTheTestAsksForIt) {
  const auto outcomes =
      run(one_test("    incident: {severity: SEV1, declared_at: \"2026-11-24 10:00\"}\n"
                   "    expect:\n"
                   "      policy: major\n"
                   "      pages: [{minute: 0, unreachable: [weekend]}]\n"));
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_TRUE(outcomes[0].passed) << ::testing::PrintToString(outcomes[0].differences);
}

TEST_F(PolicyTestRunTest, ExpectedPolicyNamesMustExist) {
  auto suite =
      parse(one_test("    incident: {severity: SEV1, declared_at: \"2026-11-24 10:00\"}\n"
                     "    expect: {policy: majr, pages: []}\n"));
  ASSERT_TRUE(suite.ok()) << suite.error().message;
  EXPECT_THAT(check_policy_names(*suite, policies_),
              ElementsAre(at(6, 22) + "test \"t\": expect: policy: no policy \"majr\" in "
                                      "organization acme (policies: night, major; write none "
                                      "for no policy)"));
}

TEST_F(PolicyTestRunTest, AnInvalidFileExitsWithTwo) {
  write_file(file(), "tests: 1\n");
  std::ostringstream out;
  EXPECT_EQ(run_policy_test_file(file(), out), kPolicyTestFileInvalid);
  EXPECT_EQ(out.str(), at(1, 1) +
                           "required key \"directory\" is missing (the directory file, "
                           "relative to this file)\n" +
                           at(1, 1) +
                           "required key \"policies\" is missing (the policies "
                           "directory, relative to this file)\n" +
                           at(1, 8) + "tests: expected a list, got \"1\"\n" + file() +
                           ": invalid test file\n");
}

}  // namespace
}  // namespace haveri::policy
