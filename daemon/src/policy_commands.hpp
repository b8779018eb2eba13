#pragma once
// `haverictl policy lint|test|simulate`: escalation policies checked, tested and
// simulated offline, with core's pure policy code (policy.hpp, simulation.hpp,
// policy_test_file.hpp). Nothing here talks to haverid, touches a store or pages anyone.

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace haveri::ctl {

// Runs `haverictl policy <args…>` (args start after "policy"): results on `out`, usage
// errors and unusable inputs on `err`. Returns the exit code:
//   lint      0 valid (warnings allowed), 1 invalid, 2 usage or unusable directory
//   test      0 every test passed, 1 a test failed, 2 usage or an invalid file (worst wins)
//   simulate  0 a policy was chosen, 1 none matches, 2 usage or invalid files
int run_policy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The text of `haverictl policy --help`.
std::string_view policy_usage();

}  // namespace haveri::ctl
