#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/directory.hpp>
#include <haveri/core/result.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/simulation.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {

// Policy test files, in the spirit of `promtool test rules`: given a directory, a
// policies directory, an incident and what happens to it, these people are paged at
// these minutes. The format is in docs/policy-testing.md. Each test runs through
// simulate() (simulation.hpp), the engine's own escalation code.

// One thing a test expects at a minute after the declaration.
struct ExpectedPage {
  enum class Kind {
    member,       // the member was paged (core::Escalated::notified)
    channel,      // the team's channel was posted in
    unreachable,  // the member or team could not be reached (a reason was recorded)
  };
  std::int64_t minute = 0;
  Kind kind = Kind::member;
  std::string id;  // Member::id or Team::id
  bool operator==(const ExpectedPage&) const = default;
};

struct PolicyTest {
  std::string name;
  SourceLocation where;  // the test's `name`
  Scenario scenario;     // organization resolved; declared_at read in the facility's zone
  // `expect.policy`: the policy chosen on declaration; "" for `none`.
  std::optional<std::string> expected_policy;
  SourceLocation expected_policy_where;
  // `expect.policies`: every choice in order ("" for none), see PolicyChoice.
  std::optional<std::vector<std::string>> expected_policies;
  SourceLocation expected_policies_where;
  std::vector<ExpectedPage> expected_pages;  // members and channels, and unreachable
  bool checks_unreachable = false;           // some entry of `pages` has `unreachable`
};

struct PolicyTestSuite {
  std::string file;                      // as given (messages name it so)
  std::filesystem::path directory_file;  // `directory`, resolved against the file's directory
  std::filesystem::path policies_path;   // `policies`, resolved likewise
  std::filesystem::path zoneinfo = "/usr/share/zoneinfo";  // `zoneinfo`, resolved likewise
  core::Directory directory;                               // loaded from directory_file
  std::vector<PolicyTest> tests;                           // in file order
};

// Reads a test file's text. `file` names it in messages; relative paths in it are
// resolved against its parent directory. Loads the directory the file names (with the
// zoneinfo it names), because tests are checked against it (organizations, areas,
// assets, members and teams in expectations) and local times are read in the
// facility's time zone. Policies are not loaded.
//
// Errors: ErrorCode::invalid_argument whose message lists every problem, one per
// line, as "<file>:<line>:<column>: <message>" (the directory's own problems as it
// reports them).
core::Result<PolicyTestSuite> parse_policy_test_file(std::string_view yaml_text,
                                                     const std::string& file);

// Reads a test file from disk (at most 16 MiB) and parses it.
core::Result<PolicyTestSuite> load_policy_test_file(const std::filesystem::path& path);

// What one test gave.
struct PolicyTestOutcome {
  std::string name;
  bool passed = false;
  // For a failure, the readable difference, one line each, without indentation:
  // "policy: expected …, got …", "minute 15: expected Sam (sam); got Dave (dave)", and
  // the policies chosen.
  std::vector<std::string> differences;
  SimulationResult result;
};

// Runs the tests of a suite against `policies`. A test whose scenario simulate()
// refuses fails with that message as its difference. Expected policy names that are
// not in `policies` are not checked here (see check_policy_names).
std::vector<PolicyTestOutcome> run_policy_tests(const PolicyTestSuite& suite,
                                                const PolicySet& policies, TimeZoneDatabase& zones);

// Problems "<file>:<line>:<column>: …" for expected policy names that no policy of the
// test's organization has.
std::vector<std::string> check_policy_names(const PolicyTestSuite& suite,
                                            const PolicySet& policies);

// Exit codes of run_policy_test_file.
inline constexpr int kPolicyTestsPassed = 0;
inline constexpr int kPolicyTestFailed = 1;
inline constexpr int kPolicyTestFileInvalid = 2;

// Loads the test file at `path`, the directory and the policies it names, runs every
// test and prints "PASS  <name>" or "FAIL  <name> (<file>:<line>)" with the
// differences indented below, then "<file>: <n> tests, <p> passed, <f> failed".
// Problems with the file, the directory or the policies are printed one per line,
// then "<file>: invalid test file" (or the directory or policies that are invalid).
// Returns kPolicyTestsPassed, kPolicyTestFailed or kPolicyTestFileInvalid.
int run_policy_test_file(const std::filesystem::path& path, std::ostream& out);

}  // namespace haveri::policy
