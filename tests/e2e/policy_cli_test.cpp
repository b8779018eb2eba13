// `haverictl policy lint|test|simulate` (daemon/src/policy_commands.cpp), run as the
// built binary on files in a temporary directory: what is printed on stdout and on
// stderr, and the exit codes scripts and CI rely on.
#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"

namespace {

namespace fs = std::filesystem;
using namespace haveri::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Plant A in Europe/Helsinki: Alice works days, Dave nights; Sam supervises.
constexpr const char* kDirectory = R"(organizations:
  - id: acme
    name: Acme
    installations:
      - {platform: local, id: local}
    facilities:
      - {id: plant-a, name: Plant A, time_zone: Europe/Helsinki}
    areas:
      - {id: assembly, name: Assembly, facility: plant-a}
    teams:
      - id: maintenance
        facility: plant-a
        members: [alice, dave]
        shifts:
          - {name: day, days: daily, hours: "06:00-22:00", members: [alice]}
          - {name: night, days: daily, hours: "22:00-06:00", members: [dave]}
        channel: {instance: local, channel: maintenance}
    members:
      - {id: alice, name: Alice, identities: {local: alice}}
      - {id: dave, name: Dave, identities: {local: dave}}
      - {id: sam, name: Sam, identities: {local: sam}}
)";

// SEV2 on weekdays 06:00-22:00 only: valid, with a warning about the gap.
constexpr const char* kPolicies = R"(policies:
  - name: sev2-weekdays
    facility: plant-a
    match:
      severity: SEV2
      during: [{days: mon-fri, hours: "06:00-22:00"}]
    steps:
      - notify: {team: maintenance}
      - after: 15m
        notify: [{members: sam}, {team_channel: maintenance}]
)";

constexpr const char* kInvalidPolicies = R"(policies:
  - name: broken
    facility: plant-a
    match: {severity: SEV9}
    steps:
      - after: 15
        notify: {team: nobody}
)";

constexpr const char* kPassingTests = R"(directory: ../../directory.yaml
policies: ..
tests:
  - name: a weekday morning pages the day shift, then Sam and the channel
    incident: {severity: SEV2, declared_at: "2026-11-24 10:00"}
    expect:
      policy: sev2-weekdays
      pages:
        - {minute: 0, members: [alice]}
        - {minute: 15, members: [sam], channel: maintenance}
  - name: acknowledged at minute 10, Sam is spared
    incident: {severity: SEV2, declared_at: "2026-11-24 10:00"}
    events: [{minute: 10, acknowledge: true}]
    expect:
      pages: [{minute: 0, members: [alice]}]
  - name: a weekday night matches no policy
    incident: {severity: SEV2, declared_at: "2026-11-24 23:50"}
    expect: {policy: none, pages: []}
)";

constexpr const char* kFailingTests = R"(directory: ../../directory.yaml
policies: ..
tests:
  - name: passes
    incident: {severity: SEV2, declared_at: "2026-11-24 10:00"}
    expect:
      pages:
        - {minute: 0, members: [alice]}
        - {minute: 15, members: [sam], channel: maintenance}
  - name: expects Dave by day and Sam after an acknowledgement
    incident: {severity: SEV2, declared_at: "2026-11-24 10:00"}
    events: [{minute: 10, acknowledge: true}]
    expect:
      policy: sev2-weekdays
      pages:
        - {minute: 0, members: [dave]}
        - {minute: 15, members: [sam]}
)";

constexpr const char* kConfig = R"(directory:
  path: directory.yaml
policies:
  path: policies
)";

struct CtlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

class PolicyCliTest : public ::testing::Test {
 protected:
  PolicyCliTest() {
    write_file(root() / "directory.yaml", kDirectory);
    write_file(root() / "policies" / "plant-a.yaml", kPolicies);
    write_file(root() / "policies" / "tests" / "plant-a.test.yaml", kPassingTests);
    write_file(root() / "broken" / "plant-a.yaml", kInvalidPolicies);
    write_file(root() / "config.yaml", kConfig);
  }

  const fs::path& root() const { return files_.path(); }

  // Runs `haverictl policy <args…>` in root(), so the files are named relative to it
  // in what it prints, as when an admin runs it in the repository of the policies.
  CtlRun policy(std::vector<std::string> args) {
    args.insert(args.begin(), "policy");
    const std::string run = std::to_string(++runs_);
    const fs::path out = scratch_.path() / ("out-" + run);
    const fs::path err = scratch_.path() / ("err-" + run);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addchdir_np(&actions, root().c_str());
    const fs::path program = build_dir() / "bin" / "haverictl";
    std::vector<std::string> storage{program.string()};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(storage.size() + 1);
    for (std::string& arg : storage) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int started = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (started != 0) {
      ADD_FAILURE() << "cannot start " << program;
      return {};
    }
    const auto code = wait_exit(pid, std::chrono::seconds(30));
    if (!code) {
      ::kill(pid, SIGKILL);
      wait_exit(pid, std::chrono::seconds(5));
      ADD_FAILURE() << "haverictl did not finish in 30 s";
      return {};
    }
    return CtlRun{*code, read_file(out), read_file(err)};
  }

  TempDir files_;
  TempDir scratch_;
  int runs_ = 0;
};

// --- lint ------------------------------------------------------------------------

TEST_F(PolicyCliTest, LintValidPoliciesWithAWarningExitsZero) {
  const auto run = policy({"lint", "policies", "--directory", "directory.yaml"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(lines(run.out),
              ElementsAre("policies/plant-a.yaml:2:11: warning: no policy of facility "
                          "\"plant-a\" matches SEV2 incidents in area \"assembly\" on Mon 00:00",
                          "policies: 1 policy in 1 file, valid (1 warning)"));
  EXPECT_EQ(run.err, "");
}

TEST_F(PolicyCliTest, LintTakesTheDirectoryAndPoliciesFromTheConfiguration) {
  const auto run = policy({"lint", "--config", "config.yaml"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(lines(run.out).back(), "policies: 1 policy in 1 file, valid (1 warning)");
}

TEST_F(PolicyCliTest, LintInvalidPoliciesExitsOneWithEveryProblemAtItsPlace) {
  const auto run = policy({"lint", "broken", "--directory", "directory.yaml"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(
      lines(run.out),
      ElementsAre(
          "broken/plant-a.yaml:4:23: policy \"broken\": match.severity: expected SEV1, SEV2 or "
          "SEV3, got \"SEV9\"",
          "broken/plant-a.yaml:6:16: policy \"broken\", step 1: after: expected a duration such "
          "as 15m, 1h30m or 90s, got \"15\"",
          "broken/plant-a.yaml:7:24: policy \"broken\", step 1: notify.team: unknown team "
          "\"nobody\" (teams: maintenance)",
          "broken: 3 problems"));
  EXPECT_EQ(run.err, "");
}

TEST_F(PolicyCliTest, LintUsageErrorsExitTwoOnStderr) {
  const auto without_directory = policy({"lint", "policies"});
  EXPECT_EQ(without_directory.exit_code, 2);
  EXPECT_EQ(without_directory.out, "");
  EXPECT_THAT(lines(without_directory.err),
              ElementsAre("haverictl: policy lint: --directory FILE or --config FILE is required "
                          "(the directory the policies name teams and members of)",
                          "Try 'haverictl policy --help'."));

  const auto unknown_option =
      policy({"lint", "policies", "--directory", "directory.yaml", "--strict"});
  EXPECT_EQ(unknown_option.exit_code, 2);
  EXPECT_THAT(unknown_option.err, StartsWith("haverictl: policy lint: unknown option --strict\n"));

  const auto missing = policy({"lint", "nowhere", "--directory", "directory.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(
      missing.err,
      StartsWith("haverictl: policy lint: the policies directory nowhere does not exist\n"));

  const auto both = policy({"lint", "--directory", "directory.yaml", "--config", "config.yaml"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("give --directory or --config, not both"));
}

TEST_F(PolicyCliTest, LintWithAnInvalidDirectoryExitsTwoWithItsProblems) {
  write_file(root() / "directory.yaml", "organizations: []\n");
  const auto run = policy({"lint", "policies", "--directory", "directory.yaml"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  const auto problems = lines(run.err);
  ASSERT_EQ(problems.size(), 2U) << run.err;
  EXPECT_THAT(problems[0], StartsWith("directory.yaml:1:16: organizations: the list is empty"));
  EXPECT_EQ(problems[1], "haverictl: policy lint: the directory directory.yaml is invalid");
}

// --- test ------------------------------------------------------------------------

TEST_F(PolicyCliTest, TestPassingFilesExitZero) {
  const auto run = policy({"test", "policies/tests"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(lines(run.out),
              ElementsAre("PASS  a weekday morning pages the day shift, then Sam and the channel",
                          "PASS  acknowledged at minute 10, Sam is spared",
                          "PASS  a weekday night matches no policy",
                          "policies/tests/plant-a.test.yaml: 3 tests, 3 passed, 0 failed"));
  EXPECT_EQ(run.err, "");
}

TEST_F(PolicyCliTest, TestAFailingExpectationExitsOneAndShowsWhatDiffers) {
  write_file(root() / "policies" / "tests" / "plant-a.test.yaml", kFailingTests);
  const auto run = policy({"test", "policies/tests/plant-a.test.yaml"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(
      lines(run.out),
      ElementsAre("PASS  passes",
                  "FAIL  expects Dave by day and Sam after an acknowledgement "
                  "(policies/tests/plant-a.test.yaml:10)",
                  "      minute 0: expected Dave (dave); got Alice (alice)",
                  "      minute 15: expected Sam (sam); got nothing",
                  "      chosen: sev2-weekdays (policies/plant-a.yaml:2) at minute 0 (declared)",
                  "policies/tests/plant-a.test.yaml: 2 tests, 1 passed, 1 failed"));
}

TEST_F(PolicyCliTest, TestAnInvalidFileExitsTwoAndTheOtherFilesStillRun) {
  write_file(root() / "invalid.test.yaml",
             "directory: directory.yaml\npolicies: policies\ntests:\n  - name: t\n"
             "    incident: {severity: SEV2, declared_at: \"2026-11-24 10:00\"}\n"
             "    expect: {policy: sev2-weekdys, pages: []}\n");
  const auto run = policy({"test", "invalid.test.yaml", "policies/tests"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  const auto printed = lines(run.out);
  ASSERT_EQ(printed.size(), 7U) << run.out;
  EXPECT_EQ(printed[0],
            "invalid.test.yaml:6:22: test \"t\": expect: policy: no policy \"sev2-weekdys\" in "
            "organization acme (policies: sev2-weekdays; write none for no policy)");
  EXPECT_EQ(printed[1], "invalid.test.yaml: invalid test file");
  EXPECT_EQ(printed[2], "");
  EXPECT_EQ(printed[6], "policies/tests/plant-a.test.yaml: 3 tests, 3 passed, 0 failed");
}

TEST_F(PolicyCliTest, TestUsageErrorsExitTwo) {
  const auto nothing = policy({"test"});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_THAT(nothing.err, StartsWith("haverictl: policy test: name at least one test file or "
                                      "directory of test files\n"));
  const auto missing = policy({"test", "nothere.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, StartsWith("haverictl: policy test: no test file nothere.yaml\n"));
  fs::create_directories(root() / "empty");
  const auto empty = policy({"test", "empty"});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, StartsWith("haverictl: policy test: no *.yaml test files in empty\n"));
}

// --- simulate --------------------------------------------------------------------

TEST_F(PolicyCliTest, SimulateShowsWhoIsPagedMinuteByMinute) {
  const auto run = policy({"simulate", "--directory", "directory.yaml", "--policies", "policies",
                           "--severity", "SEV2", "--at", "2026-11-24 21:50"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  // The chain started at 21:50 in the window; at 22:05 Sam is paged whoever is on duty.
  EXPECT_THAT(
      lines(run.out),
      ElementsAre(
          "Policy sev2-weekdays (policies/plant-a.yaml:2), facility plant-a (Europe/Helsinki)",
          "+0 min   Tue 2026-11-24 21:50 EET   declared SEV2",
          "+0 min   Tue 2026-11-24 21:50 EET   step 1   paged Alice (maintenance, day shift)",
          "+15 min  Tue 2026-11-24 22:05 EET   step 2   paged Sam; posted in #maintenance "
          "(maintenance)  (unless acknowledged)"));
  EXPECT_EQ(run.err, "");
}

TEST_F(PolicyCliTest, SimulateAnAcknowledgementAndAResolution) {
  const auto run = policy({"simulate", "--config", "config.yaml", "--severity", "sev2", "--at",
                           "2026-11-24T08:00:00Z", "--ack-at", "5", "--resolve-at", "30"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(
      lines(run.out),
      ElementsAre(
          "Policy sev2-weekdays (policies/plant-a.yaml:2), facility plant-a (Europe/Helsinki)",
          "+0 min   Tue 2026-11-24 10:00 EET   declared SEV2",
          "+0 min   Tue 2026-11-24 10:00 EET   step 1   paged Alice (maintenance, day shift)",
          "+5 min   Tue 2026-11-24 10:05 EET   acknowledged: 1 step cancelled, 0 left",
          "+30 min  Tue 2026-11-24 10:30 EET   resolved: nothing was pending"));
}

TEST_F(PolicyCliTest, SimulateSaysWhenStepsAreStillPendingAfterTheTimeFollowed) {
  const auto run = policy({"simulate", "--config", "config.yaml", "--severity", "SEV2", "--at",
                           "2026-11-24 10:00", "--for", "10"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(lines(run.out).back(),
            "After +10 min: 1 step still pending, the next at +15 min (use --for to follow "
            "longer)");
}

TEST_F(PolicyCliTest, SimulateExitsOneWhenNoPolicyMatchesAndSaysWhy) {
  const auto run = policy({"simulate", "--config", "config.yaml", "--severity", "SEV2", "--at",
                           "2026-11-28 10:00", "--area", "assembly"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(lines(run.out),
              ElementsAre("No policy of facility plant-a matches SEV2 incidents in area assembly "
                          "at Sat 2026-11-28 10:00 EET:",
                          "  sev2-weekdays (policies/plant-a.yaml:2): Sat 10:00 EET is outside "
                          "its hours (mon-fri 06:00-22:00)"));
  EXPECT_EQ(run.err, "");

  const auto severity = policy(
      {"simulate", "--config", "config.yaml", "--severity", "SEV1", "--at", "2026-11-24 10:00"});
  EXPECT_EQ(severity.exit_code, 1);
  EXPECT_THAT(lines(severity.out),
              ElementsAre("No policy of facility plant-a matches SEV1 incidents at Tue "
                          "2026-11-24 10:00 EET:",
                          "  sev2-weekdays (policies/plant-a.yaml:2): severity SEV1 is not SEV2"));
}

TEST_F(PolicyCliTest, SimulateUsageErrorsExitTwo) {
  const auto common = std::vector<std::string>{"simulate", "--config", "config.yaml"};
  const auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = common;
    args.insert(args.end(), more.begin(), more.end());
    return policy(args);
  };
  const auto no_severity = with({"--at", "2026-11-24 10:00"});
  EXPECT_EQ(no_severity.exit_code, 2);
  EXPECT_THAT(no_severity.err,
              StartsWith("haverictl: policy simulate: --severity SEV1|SEV2|SEV3 is required\n"));

  const auto skipped = with({"--severity", "SEV2", "--at", "2026-03-29 03:30"});
  EXPECT_EQ(skipped.exit_code, 2);
  EXPECT_THAT(skipped.err,
              StartsWith("haverictl: policy simulate: --at: \"2026-03-29 03:30\" does not exist "
                         "in Europe/Helsinki: the clocks jump from 03:00 to 04:00 that night"));

  const auto late_ack = with({"--severity", "SEV2", "--at", "2026-11-24 10:00", "--ack-at", "300"});
  EXPECT_EQ(late_ack.exit_code, 2);
  EXPECT_THAT(late_ack.err, HasSubstr("--ack-at and --resolve-at must be within --for (240 "
                                      "minutes)"));

  const auto unknown_area = with({"--severity", "SEV2", "--at", "2026-11-24 10:00", "--area", "x"});
  EXPECT_EQ(unknown_area.exit_code, 2);
  EXPECT_THAT(unknown_area.err, HasSubstr("--area \"x\": not an area of acme (areas: assembly)"));

  const auto too_long = with({"--severity", "SEV2", "--at", "2026-11-24 10:00", "--for", "10081"});
  EXPECT_EQ(too_long.exit_code, 2);
  EXPECT_THAT(too_long.err, HasSubstr("expected whole minutes from 0 to 10080"));
  for (const auto& run : {no_severity, skipped, late_ack, unknown_area, too_long}) {
    EXPECT_EQ(run.out, "");
  }
}

// --- the command itself ------------------------------------------------------------

TEST_F(PolicyCliTest, HelpAndUnknownCommands) {
  const auto help = policy({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, StartsWith("Usage: haverictl policy <command> ...\n"));
  EXPECT_THAT(help.out, HasSubstr("docs/policy-testing.md"));

  const auto nothing = policy({});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_THAT(nothing.err, StartsWith("haverictl: policy: name a command: lint, test or simulate"));

  const auto unknown = policy({"check"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"check\" (lint, test or simulate)"));
}

}  // namespace
