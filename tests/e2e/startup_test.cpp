// haverid refuses to start on a bad configuration or plugin, and says why.
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"

namespace {

using namespace haveri::testing;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

RunResult start_haverid(const TempDir& dir, const std::string& config_text,
                        const std::vector<std::string>& extra_args = {}) {
  const auto config = dir.path() / "haveri.yaml";
  write_file(config, config_text);
  std::vector<std::string> args{"--config", config.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // A misconfigured daemon must exit on its own; it never gets to listen.
  return run_program(build_dir() / "bin" / "haverid", args, dir.path(), std::nullopt, {},
                     std::chrono::seconds(20));
}

TEST(Startup, UnknownConfigKeyStopsStartAndNamesKeyFileAndLine) {
  TempDir dir;
  std::string config = test_config(dir.path());
  config.replace(config.find("server:\n"), 8, "server:\n  prot: 9999\n");
  auto result = start_haverid(dir, config);
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_THAT(result.output, HasSubstr("haveri.yaml:2:"));
  EXPECT_THAT(result.output, HasSubstr("server.prot"));
  EXPECT_THAT(result.output, HasSubstr("unknown key"));
}

TEST(Startup, MissingSecretFileStopsStartAndNamesKeyAndPath) {
  TempDir dir;
  std::string config = test_config(dir.path());
  std::filesystem::remove(dir.path() / "api-token");
  auto result = start_haverid(dir, config);
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_THAT(result.output, HasSubstr("api.token_file"));
  EXPECT_THAT(result.output, HasSubstr((dir.path() / "api-token").string()));
}

TEST(Startup, UnsetEnvironmentVariableIsNamed) {
  TempDir dir;
  std::string config = test_config(dir.path());
  config.replace(config.find("level: debug"), 12, "level: ${HAVERI_TEST_SURELY_UNSET_VAR}");
  auto result = start_haverid(dir, config);
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_THAT(result.output, HasSubstr("HAVERI_TEST_SURELY_UNSET_VAR"));
  EXPECT_THAT(result.output, HasSubstr("logging.level"));
}

TEST(Startup, PluginBuiltForAnotherAbiMajorStopsStartAndNamesTheFile) {
  TempDir dir;
  auto result =
      start_haverid(dir, test_config(dir.path(), HAVERI_TEST_PLUGIN_DIR,
                                     "    - name: chat\n      plugin: abi_wrong_major\n"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("libhaveri_abi_wrong_major.so"));
  EXPECT_THAT(result.output, HasSubstr("ABI 99."));
}

TEST(Startup, MissingPluginLibraryStopsStartAndNamesTheFile) {
  TempDir dir;
  auto result = start_haverid(dir, test_config(dir.path(), (build_dir() / "plugins").string(),
                                               "    - name: chat\n      plugin: nosuchplatform\n"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("libhaveri_nosuchplatform.so"));
  EXPECT_THAT(result.output, HasSubstr("no such plugin library"));
}

TEST(Startup, CheckConfigAcceptsAValidConfigurationWithoutListening) {
  TempDir dir;
  auto result = start_haverid(dir, test_config(dir.path()), {"--check-config"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("configuration OK (1 plugin instance, 0 escalation "
                                       "policies)"));
  EXPECT_THAT(result.output, Not(HasSubstr("invalid")));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "haveri.db"));
}

// Lines of `output` that begin with `prefix`.
std::vector<std::string> lines_starting_with(const std::string& output, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) {
      lines.push_back(line);
    }
  }
  return lines;
}

// Three instances, the second and third broken, with `extra` added to `server:`: without
// it instances[1] is on line 14 and instances[2] on line 16, both at column 7.
std::string config_with_broken_plugins(const TempDir& dir, const std::string& extra = {}) {
  std::string config = test_config(dir.path(), (build_dir() / "plugins").string(),
                                   "    - name: chat\n      plugin: local\n"
                                   "    - name: slack-main\n      plugin: slack\n"
                                   "    - name: other\n      plugin: nosuchplatform\n");
  config.replace(config.find("server:\n"), 8, "server:\n" + extra);
  return config;
}

TEST(Startup, CheckConfigListsEveryProblemWithItsLocationConfigAndPluginsTogether) {
  TempDir dir;
  const std::string file = (dir.path() / "haveri.yaml").string();
  auto result =
      start_haverid(dir, config_with_broken_plugins(dir, "  prot: 9999\n"), {"--check-config"});
  EXPECT_EQ(result.exit_code, 3) << result.output;
  const auto problems = lines_starting_with(result.output, file + ":");
  ASSERT_EQ(problems.size(), 3U) << result.output;
  EXPECT_THAT(problems[0], StartsWith(file + ":2:3: server.prot: unknown key"));
  // Not loadable, and loadable but refusing its settings: each at its own place.
  EXPECT_THAT(problems[1],
              StartsWith(file + ":15:7: plugins.instances[1] (slack-main): failed to start ("));
  EXPECT_THAT(problems[1], HasSubstr("libhaveri_slack.so"));
  EXPECT_THAT(problems[1], HasSubstr("settings.bot_token: required"));
  EXPECT_THAT(problems[2], StartsWith(file + ":17:7: plugins.instances[2] (other): cannot load "));
  EXPECT_THAT(problems[2], HasSubstr("libhaveri_nosuchplatform.so: no such plugin library"));
  EXPECT_THAT(result.output,
              HasSubstr("haverid: configuration " + file + " is invalid (3 problems)"));
  EXPECT_THAT(result.output, Not(HasSubstr("configuration OK")));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "haveri.db"));
}

TEST(Startup, CheckConfigSaysThatPluginsWereNotCheckedWhenTheFileCannotBeParsed) {
  TempDir dir;
  std::string config = config_with_broken_plugins(dir);
  config.replace(config.find("port: 0"), 7, "port: [0");
  auto result = start_haverid(dir, config, {"--check-config"});
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_THAT(result.output, HasSubstr((dir.path() / "haveri.yaml").string() + ":"));
  EXPECT_THAT(result.output, HasSubstr("the plugin instances were not checked"));
  EXPECT_THAT(result.output, Not(HasSubstr("nosuchplatform")));
}

TEST(Startup, AStartWithBrokenPluginsReportsEachLikeCheckConfig) {
  TempDir dir;
  const std::string file = (dir.path() / "haveri.yaml").string();
  auto result = start_haverid(dir, config_with_broken_plugins(dir));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr(file + ":14:7: plugins.instances[1] (slack-main): failed "
                                              "to start ("));
  EXPECT_THAT(result.output, HasSubstr(file + ":16:7: plugins.instances[2] (other): cannot load "));
  EXPECT_THAT(result.output, HasSubstr("2 plugin instances could not be loaded"));
  EXPECT_THAT(result.output, Not(HasSubstr("listening on")));
}

TEST(Startup, ExampleConfigurationPassesCheckConfig) {
  TempDir dir;
  // The example as shipped, beside the token file scripts/run would create.
  std::filesystem::copy_file(source_dir() / "config.example.yaml", dir.path() / "haveri.yaml");
  std::filesystem::copy_file(source_dir() / "directory.example.yaml",
                             dir.path() / "directory.example.yaml");
  std::filesystem::copy(source_dir() / "policies", dir.path() / "policies",
                        std::filesystem::copy_options::recursive);
  write_file(dir.path() / "data" / "api-token", "example-token-not-a-secret\n");
  auto result =
      run_program(build_dir() / "bin" / "haverid",
                  {"--config", (dir.path() / "haveri.yaml").string(), "--check-config"}, dir.path(),
                  std::nullopt, {"HAVERI_PLUGIN_DIR=" + (build_dir() / "plugins").string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("3 escalation policies"));
}

TEST(Startup, PortAlreadyInUseIsAClearError) {
  TempDir first_dir;
  write_file(first_dir.path() / "haveri.yaml", test_config(first_dir.path()));
  Haverid first(first_dir.path() / "haveri.yaml", first_dir.path() / "haverid.log");
  TempDir dir;
  std::string config = test_config(dir.path());
  config.replace(config.find("port: 0"), 7, "port: " + std::to_string(first.port()));
  auto result = start_haverid(dir, config);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("cannot bind"));
  EXPECT_THAT(result.output, HasSubstr(std::to_string(first.port())));
}

TEST(Startup, SigintAndSigtermStopCleanlyAndSighupDoesNot) {
  for (int stop_signal : {SIGINT, SIGTERM}) {
    TempDir dir;
    write_file(dir.path() / "haveri.yaml", test_config(dir.path()));
    Haverid daemon(dir.path() / "haveri.yaml", dir.path() / "haverid.log");
    ::kill(daemon.pid(), SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(wait_exit(daemon.pid(), std::chrono::milliseconds(0)).has_value())
        << "SIGHUP ended haverid:\n"
        << daemon.log();
    EXPECT_EQ(daemon.terminate(std::chrono::seconds(10), stop_signal), 0) << daemon.log();
    EXPECT_THAT(daemon.log(), HasSubstr("haverid stopped"));
  }
}

TEST(Startup, UnknownArgumentIsAUsageError) {
  TempDir dir;
  auto result = run_program(build_dir() / "bin" / "haverid", {"--frobnicate"}, dir.path());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, HasSubstr("--frobnicate"));
  EXPECT_THAT(result.output, HasSubstr("usage: haverid"));
}

}  // namespace
