#include "config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace haveri::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Sets (or unsets, with nullopt) an environment variable and restores it on scope exit.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) {
      old_ = old;
    }
    set(value);
  }
  ~ScopedEnv() { set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void set(const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

  std::string name_;
  std::optional<std::string> old_;
};

// The repository root: HAVERI_SOURCE_DIR when set, else the one CMake configured (not
// __FILE__, which ccache's base_dir can make relative).
fs::path source_dir() {
  if (const char* dir = std::getenv("HAVERI_SOURCE_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return HAVERI_TEST_SOURCE_DIR;
}

constexpr const char* kMinimal =
    "api:\n"
    "  token: t0ken\n"
    "plugins:\n"
    "  directory: plugins\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "haveri-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    file_ = dir_ / "config.yaml";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const fs::path& relative, const std::string& contents) {
    fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << contents;
    return path;
  }

  Config load(const std::string& yaml) {
    write("config.yaml", yaml);
    return load_config(file_);
  }

  // The problems load_config reports; a test failure when it accepts the file.
  std::vector<std::string> problems(const std::string& yaml) {
    write("config.yaml", yaml);
    return problems_of(file_);
  }

  static std::vector<std::string> problems_of(const fs::path& file) {
    try {
      load_config(file);
    } catch (const ConfigError& e) {
      return e.problems();
    }
    ADD_FAILURE() << "load_config accepted " << file;
    return {};
  }

  // "<file>:<line>:<column>: " for an expected message.
  std::string at(int line, int column) const {
    return file_.string() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  }

  // The repository's example configuration and the directory it names, side by side.
  void copy_examples() {
    fs::copy_file(source_dir() / "config.example.yaml", file_);
    fs::copy_file(source_dir() / "directory.example.yaml", dir_ / "directory.example.yaml");
    fs::copy(source_dir() / "policies", dir_ / "policies", fs::copy_options::recursive);
  }

  fs::path dir_;
  fs::path file_;
};

TEST_F(ConfigTest, RepositoryExampleLoads) {
  const fs::path example = source_dir() / "config.example.yaml";
  ASSERT_TRUE(fs::exists(example)) << example;
  copy_examples();
  write("data/api-token", "example-token\n");
  const ScopedEnv plugin_dir("HAVERI_PLUGIN_DIR", std::nullopt);

  const Config config = load_config(file_);

  EXPECT_EQ(config.source, file_);
  EXPECT_EQ(config.server.address, "127.0.0.1");
  EXPECT_EQ(config.server.port, 8480);
  EXPECT_EQ(config.server.body_limit_bytes, 1048576U);
  EXPECT_EQ(config.server.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.server.body_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.server.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(config.server.write_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.server.drain_timeout, std::chrono::seconds(10));
  EXPECT_TRUE(config.server.warnings.empty());
  EXPECT_EQ(config.server.max_connections, 256U);
  EXPECT_EQ(config.storage.sqlite_path, dir_ / "data" / "haveri.db");
  EXPECT_EQ(config.storage.synchronous, "full");
  EXPECT_EQ(config.api.token, "example-token");
  EXPECT_EQ(config.plugins.directory, dir_ / "build" / "plugins");
  EXPECT_EQ(config.plugins.request_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.plugins.operation_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.plugins.max_queued_events, 10000U);
  EXPECT_EQ(config.plugins.max_outbound_in_flight, 64U);
  EXPECT_EQ(config.plugins.max_outbound_response_bytes, 8U * 1024 * 1024);
  EXPECT_EQ(config.plugins.max_websockets, 4U);
  EXPECT_EQ(config.plugins.max_websocket_message_bytes, 4U * 1024 * 1024);
  EXPECT_EQ(config.plugins.max_timers, 1024U);
  EXPECT_TRUE(config.plugins.ca_file.empty());
  ASSERT_THAT(config.plugins.instances, SizeIs(1));
  EXPECT_EQ(config.plugins.instances[0].name, "local");
  EXPECT_EQ(config.plugins.instances[0].plugin, "local");
  EXPECT_EQ(config.plugins.instances[0].settings,
            nlohmann::json({{"bot_name", "Haveri"}, {"history_limit", 1000}}));
  EXPECT_EQ(config.logging.level, "info");
  EXPECT_EQ(config.directory_file, dir_ / "directory.example.yaml");
  EXPECT_EQ(config.zoneinfo, fs::path("/usr/share/zoneinfo"));
  const core::Organization* acme = config.directory.organization_for("local", "local");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->id, "acme");
  EXPECT_EQ(acme->name, "Acme Manufacturing");
  EXPECT_EQ(acme->announcements, (core::AnnouncementsChannel{"local", "general", "general"}));
  ASSERT_NE(acme->facility("plant-a"), nullptr);
  EXPECT_EQ(acme->facility("plant-a")->time_zone, "Europe/Helsinki");
  ASSERT_NE(acme->team("maintenance"), nullptr);
  EXPECT_THAT(acme->team("maintenance")->members, ElementsAre("alice", "bob", "dave", "erin"));
  EXPECT_THAT(acme->team("maintenance")->shifts, SizeIs(4));
  // The example policies, checked against that directory.
  EXPECT_EQ(config.policies_path, dir_ / "policies");
  ASSERT_EQ(config.policies.policies.size(), 3U);
  EXPECT_NE(config.policies.find("acme", "plant-a-sev2"), nullptr);
  EXPECT_TRUE(config.policy_warnings.empty());
  ASSERT_NE(acme->member_by_identity("local", "carol"), nullptr);
  EXPECT_EQ(acme->member_by_identity("local", "carol")->role, "operator");
  EXPECT_EQ(acme->asset("press-2")->asset_type, "press");
  // The incidents and outbox sections are commented out: the documented defaults.
  EXPECT_EQ(config.incidents, core::IncidentSettings{});
  EXPECT_EQ(config.outbox, core::OutboxSettings{});
}

TEST_F(ConfigTest, RepositoryExampleHonoursPluginDirVariable) {
  copy_examples();
  write("data/api-token", "example-token\n");
  const ScopedEnv plugin_dir("HAVERI_PLUGIN_DIR", "/opt/haveri/plugins");

  EXPECT_EQ(load_config(file_).plugins.directory, fs::path("/opt/haveri/plugins"));
}

TEST_F(ConfigTest, OptionalKeysTakeTheirDefaults) {
  const Config config = load(kMinimal);

  EXPECT_EQ(config.server.address, "127.0.0.1");
  EXPECT_EQ(config.server.port, 8480);
  EXPECT_EQ(config.server.body_limit_bytes, 1024U * 1024U);
  EXPECT_EQ(config.server.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.server.body_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.server.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(config.server.write_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.server.drain_timeout, std::chrono::seconds(10));
  EXPECT_TRUE(config.server.warnings.empty());
  EXPECT_EQ(config.server.max_connections, 256U);
  EXPECT_EQ(config.storage.sqlite_path, dir_ / "data" / "haveri.db");
  EXPECT_EQ(config.storage.synchronous, "full");
  EXPECT_EQ(config.api.token, "t0ken");
  EXPECT_EQ(config.plugins.directory, dir_ / "plugins");
  EXPECT_EQ(config.plugins.request_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.plugins.operation_timeout, std::chrono::seconds(30));
  EXPECT_THAT(config.plugins.instances, SizeIs(0));
  EXPECT_EQ(config.logging.level, "info");
  EXPECT_EQ(config.directory_file, std::nullopt);
  EXPECT_EQ(config.zoneinfo, fs::path("/usr/share/zoneinfo"));
  EXPECT_EQ(config.directory, core::default_directory({"local"}));
  EXPECT_EQ(config.incidents, core::IncidentSettings{});
  EXPECT_EQ(config.outbox, core::OutboxSettings{});
}

TEST_F(ConfigTest, EverySchemaKeyIsRead) {
  const Config config = load(
      "server:\n"
      "  address: 0.0.0.0\n"
      "  port: 0\n"
      "  body_limit_bytes: 2048\n"
      "  header_timeout_seconds: 3600\n"
      "  body_timeout_seconds: 1\n"
      "  idle_timeout_seconds: 2\n"
      "  write_timeout_seconds: 3\n"
      "  max_connections: 100000\n"
      "  drain_timeout_seconds: 300\n"
      "storage:\n"
      "  sqlite:\n"
      "    path: /var/lib/haveri/haveri.db\n"
      "    synchronous: normal\n"
      "  max_batch: 64\n"
      "api:\n"
      "  token: \"abc def\"\n"
      "plugins:\n"
      "  directory: /usr/lib/haveri\n"
      "  request_timeout_seconds: 300\n"
      "  operation_timeout_seconds: 1\n"
      "  max_queued_events: 7\n"
      "  max_outbound_in_flight: 2\n"
      "  max_outbound_response_bytes: 1024\n"
      "  max_websockets: 1\n"
      "  max_websocket_message_bytes: 2048\n"
      "  max_timers: 3\n"
      "  instances:\n"
      "    - name: slack-main_1\n"
      "      plugin: slack\n"
      "logging:\n"
      "  level: trace\n");

  EXPECT_EQ(config.server.address, "0.0.0.0");
  EXPECT_EQ(config.server.port, 0);
  EXPECT_EQ(config.server.body_limit_bytes, 2048U);
  EXPECT_EQ(config.server.header_timeout, std::chrono::seconds(3600));
  EXPECT_EQ(config.server.body_timeout, std::chrono::seconds(1));
  EXPECT_EQ(config.server.idle_timeout, std::chrono::seconds(2));
  EXPECT_EQ(config.server.write_timeout, std::chrono::seconds(3));
  EXPECT_EQ(config.server.drain_timeout, std::chrono::seconds(300));
  EXPECT_EQ(config.server.max_connections, 100000U);
  EXPECT_EQ(config.storage.sqlite_path, fs::path("/var/lib/haveri/haveri.db"));
  EXPECT_EQ(config.storage.synchronous, "normal");
  EXPECT_EQ(config.storage.max_batch, 64U);
  EXPECT_EQ(config.api.token, "abc def");
  EXPECT_EQ(config.plugins.directory, fs::path("/usr/lib/haveri"));
  EXPECT_EQ(config.plugins.request_timeout, std::chrono::seconds(300));
  EXPECT_EQ(config.plugins.operation_timeout, std::chrono::seconds(1));
  EXPECT_EQ(config.plugins.max_queued_events, 7U);
  EXPECT_EQ(config.plugins.max_outbound_in_flight, 2U);
  EXPECT_EQ(config.plugins.max_outbound_response_bytes, 1024U);
  EXPECT_EQ(config.plugins.max_websockets, 1U);
  EXPECT_EQ(config.plugins.max_websocket_message_bytes, 2048U);
  EXPECT_EQ(config.plugins.max_timers, 3U);
  ASSERT_THAT(config.plugins.instances, SizeIs(1));
  EXPECT_EQ(config.plugins.instances[0].name, "slack-main_1");
  EXPECT_EQ(config.plugins.instances[0].plugin, "slack");
  EXPECT_EQ(config.plugins.instances[0].settings, nlohmann::json::object());
  EXPECT_EQ(config.logging.level, "trace");
}

TEST_F(ConfigTest, PluginCaFileIsResolvedAndMustExist) {
  write("certs/extra-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(load(std::string(kMinimal) + "  ca_file: certs/extra-ca.pem\n").plugins.ca_file,
            dir_ / "certs" / "extra-ca.pem");
  EXPECT_THAT(problems(std::string(kMinimal) + "  ca_file: certs/missing.pem\n"),
              ElementsAre(at(5, 12) + "plugins.ca_file: no such file \"" +
                          (dir_ / "certs" / "missing.pem").string() +
                          "\" (a PEM file of CA certificates to trust besides the system's)"));
  EXPECT_THAT(problems(std::string(kMinimal) + "  max_websockets: 0\n"),
              ElementsAre(at(5, 19) + "plugins.max_websockets: expected an integer between 1 and "
                                      "1000, got \"0\""));
}

TEST_F(ConfigTest, EmptySectionsMeanDefaults) {
  const Config config = load(std::string(kMinimal) + "server:\nlogging:\n");
  EXPECT_EQ(config.server.port, 8480);
  EXPECT_EQ(config.logging.level, "info");
}

TEST_F(ConfigTest, UnknownTopLevelKeyNamesKeyFileAndLine) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "sever:\n  port: 1\n"),
      ElementsAre(at(5, 1) + "sever: unknown key (allowed: server, storage, api, plugins, logging, "
                             "directory, incidents, outbox, policies)"));
}

TEST_F(ConfigTest, UnknownNestedKeyListsAllowedKeys) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "server:\n"
                                       "  address: 127.0.0.1\n"
                                       "  prot: 8080\n"),
      ElementsAre(at(7, 3) + "server.prot: unknown key (allowed: address, port, body_limit_bytes, "
                             "header_timeout_seconds, body_timeout_seconds, idle_timeout_seconds, "
                             "write_timeout_seconds, max_connections, drain_timeout_seconds, "
                             "read_timeout_seconds)"));
}

TEST_F(ConfigTest, ServerTimeoutBounds) {
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n"
                                               "  header_timeout_seconds: 0\n"
                                               "  body_timeout_seconds: 3601\n"
                                               "  idle_timeout_seconds: soon\n"
                                               "  write_timeout_seconds: -1\n"
                                               "  drain_timeout_seconds: 301\n"),
              ElementsAre(at(6, 27) + "server.header_timeout_seconds: expected an integer "
                                      "between 1 and 3600, got \"0\"",
                          at(7, 25) + "server.body_timeout_seconds: expected an integer "
                                      "between 1 and 3600, got \"3601\"",
                          at(8, 25) + "server.idle_timeout_seconds: expected an integer "
                                      "between 1 and 3600, got \"soon\"",
                          at(9, 26) + "server.write_timeout_seconds: expected an integer "
                                      "between 1 and 3600, got \"-1\"",
                          at(10, 26) + "server.drain_timeout_seconds: expected an integer "
                                       "between 1 and 300, got \"301\""));
}

// Configurations from before header_timeout_seconds and body_timeout_seconds keep
// starting, with a warning that names the keys to write instead.
TEST_F(ConfigTest, DeprecatedReadTimeoutSetsHeaderAndBodyTimeouts) {
  const Config config = load(std::string(kMinimal) +
                             "server:\n"
                             "  port: 8480\n"
                             "  read_timeout_seconds: 15\n");
  EXPECT_EQ(config.server.header_timeout, std::chrono::seconds(15));
  EXPECT_EQ(config.server.body_timeout, std::chrono::seconds(15));
  EXPECT_EQ(config.server.idle_timeout, std::chrono::seconds(60));
  EXPECT_THAT(config.server.warnings,
              ElementsAre(at(7, 3) + "server.read_timeout_seconds: deprecated; it sets both "
                                     "server.header_timeout_seconds and "
                                     "server.body_timeout_seconds (to 15), write those instead"));
}

TEST_F(ConfigTest, DeprecatedReadTimeoutWithANewKeyIsAnErrorNamingBoth) {
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n"
                                               "  read_timeout_seconds: 15\n"
                                               "  header_timeout_seconds: 5\n"),
              ElementsAre(at(6, 3) + "server.read_timeout_seconds: cannot be combined with "
                                     "server.header_timeout_seconds (read_timeout_seconds is a "
                                     "deprecated alias that sets header_timeout_seconds and "
                                     "body_timeout_seconds; remove it)"));
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n"
                                               "  body_timeout_seconds: 5\n"
                                               "  header_timeout_seconds: 5\n"
                                               "  read_timeout_seconds: 15\n"),
              ElementsAre(HasSubstr(at(8, 3) + "server.read_timeout_seconds: cannot be combined "
                                               "with server.header_timeout_seconds and "
                                               "server.body_timeout_seconds")));
}

TEST_F(ConfigTest, UnknownKeyInsidePluginInstance) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "  instances:\n"
                                       "    - name: a\n"
                                       "      plugin: local\n"
                                       "      setings: {}\n"),
      ElementsAre(at(8, 7) + "plugins.instances[0].setings: unknown key (allowed: name, plugin, "
                             "settings)"));
}

TEST_F(ConfigTest, WrongTypeNamesExpectedType) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "server:\n"
                                       "  port: abc\n"),
      ElementsAre(at(6, 9) + "server.port: expected an integer between 0 and 65535, got \"abc\""));
}

TEST_F(ConfigTest, WrongContainerTypes) {
  EXPECT_THAT(problems("api:\n"
                       "  token: [a, b]\n"
                       "plugins: just-a-string\n"),
              ElementsAre(at(2, 10) + "api.token: expected a string, got a list",
                          at(3, 10) + "plugins: expected a mapping, got \"just-a-string\""));
}

TEST_F(ConfigTest, PortOutOfRange) {
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n  port: 65536\n"),
              ElementsAre(at(6, 9) +
                          "server.port: expected an integer between 0 and 65535, got \"65536\""));
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n  port: -1\n"),
              ElementsAre(HasSubstr("server.port: expected an integer between 0 and 65535")));
  EXPECT_EQ(load(std::string(kMinimal) + "server:\n  port: 65535\n").server.port, 65535);
}

TEST_F(ConfigTest, OtherIntegerBounds) {
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n"
                                               "  body_limit_bytes: 1023\n"
                                               "  read_timeout_seconds: 0\n"
                                               "  max_connections: 100001\n"
                                               "  request_timeout_seconds: 5\n"),
              ElementsAre(at(6, 21) + "server.body_limit_bytes: expected an integer of at least "
                                      "1024, got \"1023\"",
                          at(7, 25) + "server.read_timeout_seconds: expected an integer between "
                                      "1 and 3600, got \"0\"",
                          at(8, 20) + "server.max_connections: expected an integer between 1 "
                                      "and 100000, got \"100001\"",
                          HasSubstr(at(9, 3) + "server.request_timeout_seconds: unknown key")));
  EXPECT_THAT(problems("api: {token: t}\n"
                       "plugins:\n"
                       "  directory: p\n"
                       "  request_timeout_seconds: 301\n"
                       "  operation_timeout_seconds: 1.5\n"),
              ElementsAre(HasSubstr("plugins.request_timeout_seconds: expected an integer "
                                    "between 1 and 300, got \"301\""),
                          HasSubstr("plugins.operation_timeout_seconds: expected an integer "
                                    "between 1 and 3600, got \"1.5\"")));
}

TEST_F(ConfigTest, GroupCommitBatchMustBePositive) {
  EXPECT_THAT(problems(std::string(kMinimal) + "storage:\n"
                                               "  max_batch: 0\n"),
              ElementsAre(HasSubstr("storage.max_batch: expected an integer between 1 and 100000, "
                                    "got \"0\"")));
}

TEST_F(ConfigTest, EnumeratedValues) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "storage:\n"
                                       "  sqlite:\n"
                                       "    synchronous: fast\n"
                                       "logging:\n"
                                       "  level: verbose\n"),
      ElementsAre(at(7, 18) + "storage.sqlite.synchronous: expected one of off, normal, full, "
                              "extra, got \"fast\"",
                  at(9, 10) + "logging.level: expected one of trace, debug, info, warn, error, "
                              "critical, off, got \"verbose\""));
}

TEST_F(ConfigTest, DuplicateKeyIsAnError) {
  EXPECT_THAT(problems(std::string(kMinimal) + "server:\n"
                                               "  port: 1\n"
                                               "  port: 2\n"),
              ElementsAre(at(7, 3) + "server.port: duplicate key (first at line 6)"));
}

TEST_F(ConfigTest, EnvironmentVariableIsSubstituted) {
  const ScopedEnv token("HAVERI_TEST_TOKEN", "from-env");
  const ScopedEnv port("HAVERI_TEST_PORT", "9000");
  const Config config = load(
      "api:\n"
      "  token: pre-${HAVERI_TEST_TOKEN}-post\n"
      "plugins:\n"
      "  directory: plugins\n"
      "server:\n"
      "  port: \"${HAVERI_TEST_PORT}\"\n");
  EXPECT_EQ(config.api.token, "pre-from-env-post");
  EXPECT_EQ(config.server.port, 9000);
}

TEST_F(ConfigTest, UnsetEnvironmentVariableIsReported) {
  const ScopedEnv token("HAVERI_TEST_UNSET", std::nullopt);
  EXPECT_THAT(
      problems("api:\n"
               "  token: ${HAVERI_TEST_UNSET}\n"
               "plugins:\n"
               "  directory: plugins\n"),
      ElementsAre(at(2, 10) + "api.token: environment variable HAVERI_TEST_UNSET is not set"));
}

TEST_F(ConfigTest, DefaultIsUsedWhenVariableUnsetOrEmpty) {
  const ScopedEnv unset("HAVERI_TEST_UNSET", std::nullopt);
  const ScopedEnv empty("HAVERI_TEST_EMPTY", "");
  const ScopedEnv set("HAVERI_TEST_SET", "warn");
  const Config config = load(
      "api:\n"
      "  token: ${HAVERI_TEST_UNSET:-fallback}\n"
      "plugins:\n"
      "  directory: ${HAVERI_TEST_EMPTY:-/srv/plugins}\n"
      "logging:\n"
      "  level: ${HAVERI_TEST_SET:-error}\n");
  EXPECT_EQ(config.api.token, "fallback");
  EXPECT_EQ(config.plugins.directory, fs::path("/srv/plugins"));
  EXPECT_EQ(config.logging.level, "warn");
}

TEST_F(ConfigTest, LoneDollarStaysLiteral) {
  EXPECT_EQ(load("api:\n  token: a$b$\nplugins:\n  directory: p\n").api.token, "a$b$");
}

TEST_F(ConfigTest, MalformedVariableReferenceIsReported) {
  EXPECT_THAT(problems("api:\n  token: ${OOPS\nplugins:\n  directory: p\n"),
              ElementsAre(AllOf(HasSubstr(at(2, 10) + "api.token: unterminated"))));
  EXPECT_THAT(problems("api:\n  token: ${1x}\nplugins:\n  directory: p\n"),
              ElementsAre(HasSubstr("api.token: \"${\" must be followed by a variable name")));
}

TEST_F(ConfigTest, TokenFileIsReadWithoutTrailingNewline) {
  write("secrets/token", "file-token\n");
  EXPECT_EQ(load("api:\n  token_file: secrets/token\nplugins:\n  directory: p\n").api.token,
            "file-token");
  write("secrets/token", "crlf-token\r\n");
  EXPECT_EQ(load_config(file_).api.token, "crlf-token");
  write("secrets/token", "  spaced token  ");
  EXPECT_EQ(load_config(file_).api.token, "  spaced token  ");
}

TEST_F(ConfigTest, MissingTokenFileNamesKeyAndPath) {
  const auto found = problems("api:\n  token_file: secrets/nope\nplugins:\n  directory: p\n");
  const std::string path = (dir_ / "secrets" / "nope").string();
  EXPECT_THAT(found, ElementsAre(at(2, 15) + "api.token_file: cannot read secret file \"" + path +
                                 "\": No such file or directory"));
}

TEST_F(ConfigTest, EmptyTokenIsRejected) {
  write("secrets/token", "\n");
  EXPECT_THAT(problems("api:\n  token_file: secrets/token\nplugins:\n  directory: p\n"),
              ElementsAre(HasSubstr("api.token_file: secret file \"" +
                                    (dir_ / "secrets" / "token").string() + "\" is empty")));
  EXPECT_THAT(problems("api:\n  token: \"\"\nplugins:\n  directory: p\n"),
              ElementsAre(at(2, 10) + "api.token: must not be empty"));
}

TEST_F(ConfigTest, TokenAndTokenFileTogetherIsAnError) {
  write("token", "from-file\n");
  const auto found = problems(
      "api:\n"
      "  token: inline-s3cret\n"
      "  token_file: token\n"
      "plugins:\n"
      "  directory: p\n");
  ASSERT_THAT(found, ElementsAre(at(3, 3) + "api.token_file: api.token is also set; keep only "
                                            "one of token and token_file"));
  EXPECT_THAT(found[0], AllOf(Not(HasSubstr("inline-s3cret")), Not(HasSubstr("from-file"))));
}

TEST_F(ConfigTest, ErrorsNeverContainSecretValues) {
  write("secrets/password", "hunter2\n");
  const ScopedEnv token("HAVERI_TEST_TOKEN", "env-s3cret");
  const ConfigError error = [&] {
    try {
      load(
          "api:\n"
          "  token: ${HAVERI_TEST_TOKEN}\n"
          "plugins:\n"
          "  directory: p\n"
          "  instances:\n"
          "    - name: BAD\n"
          "      plugin: local\n"
          "      settings:\n"
          "        password_file: secrets/password\n"
          "        password: also-here\n");
    } catch (const ConfigError& e) {
      return e;
    }
    return ConfigError(std::vector<std::string>{});
  }();
  ASSERT_THAT(error.problems(), SizeIs(2));
  const std::string all = error.what();
  EXPECT_THAT(all, AllOf(Not(HasSubstr("env-s3cret")), Not(HasSubstr("hunter2")),
                         Not(HasSubstr("also-here"))));
}

TEST_F(ConfigTest, MissingTokenIsReportedAtParentMapping) {
  EXPECT_THAT(problems("plugins:\n  directory: p\n"),
              ElementsAre(at(1, 1) +
                          "api.token: required key is missing (set api.token or api.token_file)"));
  EXPECT_THAT(problems("plugins:\n  directory: p\napi:\n  # token: later\n"),
              ElementsAre(HasSubstr(at(3, 1) + "api.token: required key is missing")));
}

TEST_F(ConfigTest, MissingPluginDirectoryIsReportedAtPluginsMapping) {
  EXPECT_THAT(problems("api:\n  token: t\nplugins:\n  request_timeout_seconds: 5\n"),
              ElementsAre(HasSubstr(at(4, 3) + "plugins.directory: required key is missing")));
}

TEST_F(ConfigTest, RelativePathsAreRelativeToTheConfigDirectory) {
  fs::create_directories(dir_ / "etc");
  file_ = dir_ / "etc" / "haveri.yaml";
  write("etc/secrets/token", "relative-token\n");
  write("etc/haveri.yaml",
        "api:\n"
        "  token_file: ./secrets/token\n"
        "storage:\n"
        "  sqlite:\n"
        "    path: ../var/haveri.db\n"
        "plugins:\n"
        "  directory: lib/plugins/\n");
  const Config config = load_config(file_);
  EXPECT_EQ(config.api.token, "relative-token");
  EXPECT_EQ(config.storage.sqlite_path, dir_ / "var" / "haveri.db");
  EXPECT_TRUE(config.storage.sqlite_path.is_absolute());
  EXPECT_EQ(config.plugins.directory, dir_ / "etc" / "lib" / "plugins");
  EXPECT_TRUE(config.plugins.directory.is_absolute());
  EXPECT_EQ(config.source, file_);
}

// A directory file whose only time zone, UTC, is in the temporary tz database "zoneinfo".
constexpr const char* kDirectory =
    "organizations:\n"
    "  - id: plant\n"
    "    installations: [{platform: local, id: chat}]\n"
    "    announcements: {instance: chat, channel: general}\n"
    "    facilities: [{id: f, time_zone: UTC}]\n";

TEST_F(ConfigTest, DirectoryFileIsLoadedRelativeToTheConfigDirectory) {
  write("zoneinfo/UTC", "TZif");
  write("sub/directory.yaml", kDirectory);
  const Config config = load(std::string(kMinimal) +
                             "  instances:\n"
                             "    - {name: chat, plugin: local}\n"
                             "directory:\n"
                             "  path: sub/directory.yaml\n"
                             "  zoneinfo: zoneinfo\n");
  EXPECT_EQ(config.directory_file, dir_ / "sub" / "directory.yaml");
  EXPECT_EQ(config.zoneinfo, dir_ / "zoneinfo");
  ASSERT_THAT(config.directory.organizations, SizeIs(1));
  EXPECT_EQ(config.directory.organizations[0].id, "plant");
  EXPECT_EQ(config.directory.organization_for("local", "chat"), &config.directory.organizations[0]);
  EXPECT_EQ(config.directory.organization_for("local", "local"), nullptr);
}

TEST_F(ConfigTest, WithoutADirectoryFileTheDefaultClaimsEveryLocalInstance) {
  const Config config = load(std::string(kMinimal) +
                             "  instances:\n"
                             "    - {name: chat, plugin: local}\n"
                             "    - {name: slack-main, plugin: slack}\n"
                             "    - {name: plant-b, plugin: local}\n"
                             "directory:\n"
                             "  zoneinfo: /nowhere\n");
  EXPECT_EQ(config.directory_file, std::nullopt);
  EXPECT_EQ(config.zoneinfo, fs::path("/nowhere"));
  EXPECT_EQ(config.directory, core::default_directory({"chat", "plant-b"}));
  EXPECT_NE(config.directory.organization_for("local", "plant-b"), nullptr);
  EXPECT_EQ(config.directory.organization_for("local", "local"), nullptr);
  EXPECT_EQ(config.directory.organization_for("slack", "slack-main"), nullptr);

  EXPECT_EQ(
      load(std::string(kMinimal) + "  instances:\n    - {name: s, plugin: slack}\n").directory,
      core::default_directory({"local"}));
}

TEST_F(ConfigTest, DirectoryProblemsKeepTheirFileLineAndColumn) {
  write("zoneinfo/UTC", "TZif");
  write("sub/directory.yaml",
        "organizations:\n"
        "  - id: plant\n"
        "    facilities: [{id: f, time_zone: Mars/Base}]\n"
        "    colour: red\n");
  const std::string directory = (dir_ / "sub" / "directory.yaml").string();
  EXPECT_THAT(
      problems(std::string(kMinimal) + "server:\n"
                                       "  port: http\n"
                                       "directory:\n"
                                       "  path: sub/directory.yaml\n"
                                       "  zoneinfo: zoneinfo\n"
                                       "  zone: x\n"),
      ElementsAre(at(6, 9) + "server.port: expected an integer between 0 and 65535, got \"http\"",
                  at(10, 3) + "directory.zone: unknown key (allowed: path, zoneinfo)",
                  StartsWith(directory + ":3:37: facility \"f\": unknown time zone \"Mars/Base\""),
                  directory +
                      ":4:5: organization \"plant\": unknown key \"colour\" (allowed: id, name, "
                      "installations, announcements, facilities, areas, assets, teams, "
                      "members)"));
}

TEST_F(ConfigTest, UnreadableDirectoryFileIsReportedAtItsKey) {
  EXPECT_THAT(problems(std::string(kMinimal) + "directory: {path: nope.yaml}\n"),
              ElementsAre(at(5, 19) + "directory.path: cannot read directory file \"" +
                          (dir_ / "nope.yaml").string() + "\": No such file or directory"));
  EXPECT_THAT(problems(std::string(kMinimal) + "directory: {path: \"\"}\n"),
              ElementsAre(at(5, 19) + "directory.path: expected a path, got an empty string"));
  write("directory.yaml", "organizations: [\n");
  EXPECT_THAT(problems(std::string(kMinimal) + "directory: {path: directory.yaml}\n"),
              ElementsAre(AllOf(StartsWith((dir_ / "directory.yaml").string() + ":"),
                                MatchesRegex(".*\\.yaml:[0-9]+:[0-9]+: .+"))));
}

TEST_F(ConfigTest, AnnouncementsMustGoThroughAConfiguredInstance) {
  write("zoneinfo/UTC", "TZif");
  write("directory.yaml", kDirectory);
  const std::string directory = (dir_ / "directory.yaml").string();
  EXPECT_THAT(
      problems(std::string(kMinimal) + "directory: {path: directory.yaml, zoneinfo: zoneinfo}\n"),
      ElementsAre(at(5, 19) + "directory.path: organization \"plant\" in " + directory +
                  " posts announcements through instance \"chat\", which is not in "
                  "plugins.instances (there are none)"));
  EXPECT_THAT(
      problems(std::string(kMinimal) +
               "  instances: [{name: local, plugin: local}, {name: slack, plugin: slack}]\n"
               "directory: {path: directory.yaml, zoneinfo: zoneinfo}\n"),
      ElementsAre(HasSubstr("which is not in plugins.instances (instances: local, slack)")));
}

TEST_F(ConfigTest, PoliciesAreLoadedAndCheckedAgainstTheDirectory) {
  write("zoneinfo/UTC", "TZif");
  write("directory.yaml", std::string(kDirectory) +
                              "    teams: [{id: crew, facility: f, members: [ann], "
                              "channel: {instance: chat, channel: crew}}]\n"
                              "    members: [{id: ann, identities: {local: ann}}]\n");
  write("policies/f.yaml",
        "policies:\n"
        "  - name: everything\n"
        "    facility: f\n"
        "    steps:\n"
        "      - notify: {team: crew}\n");
  write("policies/tests/ignored.yaml", "not: a policy file\n");
  const std::string head = std::string(kMinimal) +
                           "  instances: [{name: chat, plugin: local}]\n"
                           "directory: {path: directory.yaml, zoneinfo: zoneinfo}\n";
  const Config config = load(head + "policies:\n  path: policies\n  tick_ms: 250\n");
  EXPECT_EQ(config.policies_path, dir_ / "policies");
  ASSERT_EQ(config.policies.policies.size(), 1U);
  EXPECT_EQ(config.policies.policies[0].name, "everything");
  EXPECT_EQ(config.escalation_tick, std::chrono::milliseconds(250));
  // Without policies.path: no policies, the default tick.
  const Config none = load(head);
  EXPECT_EQ(none.policies_path, std::nullopt);
  EXPECT_TRUE(none.policies.policies.empty());
  EXPECT_EQ(none.escalation_tick, std::chrono::milliseconds(100));

  write("policies/f.yaml",
        "policies:\n"
        "  - name: everything\n"
        "    facility: g\n"
        "    steps:\n"
        "      - after: soon\n"
        "        notify: {team: crew}\n");
  const std::string file = (dir_ / "policies" / "f.yaml").string();
  EXPECT_THAT(
      problems(head + "policies: {path: policies, tick_ms: 0}\n"),
      AllOf(Contains(HasSubstr("policies.tick_ms: expected an integer between 1 and 10000")),
            Contains(StartsWith(file + ":3:15: ")), Contains(StartsWith(file + ":5:16: "))));
  EXPECT_THAT(problems(head + "policies: {path: nowhere}\n"), Contains(HasSubstr("nowhere")));
}

TEST_F(ConfigTest, ATeamChannelMustGoThroughAConfiguredInstance) {
  write("zoneinfo/UTC", "TZif");
  write("directory.yaml", std::string(kDirectory) +
                              "    teams: [{id: crew, channel: {instance: elsewhere, "
                              "channel: crew}}]\n");
  EXPECT_THAT(problems(std::string(kMinimal) + "  instances: [{name: chat, plugin: local}]\n" +
                       "directory: {path: directory.yaml, zoneinfo: zoneinfo}\n"),
              ElementsAre(HasSubstr("team \"crew\" in " + (dir_ / "directory.yaml").string() +
                                    " is reached in its channel through instance \"elsewhere\", "
                                    "which is not in plugins.instances (instances: chat)")));
}

TEST_F(ConfigTest, IncidentSettingsAreRead) {
  const Config config = load(std::string(kMinimal) +
                             "incidents:\n"
                             "  sla:\n"
                             "    sev1: {acknowledge: 5m, resolve: 2h}\n"
                             "    sev3: {resolve: 14d}\n"
                             "  nudge_after: {sev2: 45m}\n"
                             "  follow_up_reminders: {before: 2d, overdue_every: 43200s}\n");
  using std::chrono::minutes;
  EXPECT_EQ(config.incidents.sla[0], (core::SlaTarget{minutes(5), minutes(120)}));
  EXPECT_EQ(config.incidents.sla[1], (core::SlaTarget{minutes(30), minutes(240)}));
  EXPECT_EQ(config.incidents.sla[2], (core::SlaTarget{minutes(24 * 60), minutes(14 * 24 * 60)}));
  EXPECT_EQ(config.incidents.nudge_after[0], minutes(15));
  EXPECT_EQ(config.incidents.nudge_after[1], minutes(45));
  EXPECT_EQ(config.incidents.nudge_after[2], minutes(120));
  EXPECT_EQ(config.incidents.follow_up_reminder_before, minutes(2 * 24 * 60));
  EXPECT_EQ(config.incidents.overdue_reminder_every, minutes(12 * 60));

  // Empty sections keep the defaults.
  EXPECT_EQ(load(std::string(kMinimal) + "incidents:\n  sla:\n    sev1:\n").incidents,
            core::IncidentSettings{});
}

TEST_F(ConfigTest, BadDurationsArePositioned) {
  EXPECT_THAT(
      problems(std::string(kMinimal) +
               "incidents:\n"                                           // 5
               "  sla:\n"                                               // 6
               "    sev1: {acknowledge: 15, resolve: 0m}\n"             // 7
               "    sev2: {acknowledge: -5m, resolve: 90s}\n"           // 8
               "    sev4: {resolve: 1h}\n"                              // 9
               "  nudge_after: {sev1: 1.5h, sev2: [1h], sev3: 366d}\n"  // 10
               "  follow_up_reminders: {before: 1h, overdue: 1d}\n"),   // 11
      ElementsAre(
          at(7, 25) + "incidents.sla.sev1.acknowledge: expected a duration such as 15m, 4h or 7d "
                      "(an integer and one of ms, s, m, h, d), got \"15\"",
          at(7, 38) + "incidents.sla.sev1.resolve: expected a duration between 1m and 365d, got "
                      "\"0m\"",
          at(8, 25) + "incidents.sla.sev2.acknowledge: expected a duration between 1m and 365d, "
                      "got \"-5m\"",
          at(8, 39) + "incidents.sla.sev2.resolve: expected whole minutes (such as 90m or 2h), got "
                      "\"90s\"",
          at(9, 5) + "incidents.sla.sev4: unknown key (allowed: sev1, sev2, sev3)",
          at(10, 23) + "incidents.nudge_after.sev1: expected a duration such as 15m, 4h or 7d (an "
                       "integer and one of ms, s, m, h, d), got \"1.5h\"",
          at(10, 35) + "incidents.nudge_after.sev2: expected a duration such as 15m, 4h or 7d (an "
                       "integer and one of ms, s, m, h, d), got a list",
          at(10, 47) + "incidents.nudge_after.sev3: expected a duration between 1m and 365d, got "
                       "\"366d\"",
          at(11, 37) + "incidents.follow_up_reminders.overdue: unknown key (allowed: before, "
                       "overdue_every)"));
  EXPECT_THAT(problems(std::string(kMinimal) + "incidents:\n  sla: 15m\n"),
              ElementsAre(at(6, 8) + "incidents.sla: expected a mapping, got \"15m\""));
}

TEST_F(ConfigTest, OutboxSettingsAreRead) {
  const Config config = load(std::string(kMinimal) +
                             "outbox:\n"
                             "  first_retry_delay: 2s\n"
                             "  max_retry_delay: 10m\n"
                             "  max_attempts: 3\n"
                             "  default_channel_interval: 1500ms\n"
                             "  default_instance_per_second: 0.5\n");
  EXPECT_EQ(config.outbox.first_retry_delay, std::chrono::seconds(2));
  EXPECT_EQ(config.outbox.max_retry_delay, std::chrono::minutes(10));
  EXPECT_EQ(config.outbox.max_attempts, 3);
  EXPECT_EQ(config.outbox.default_channel_interval, std::chrono::milliseconds(1500));
  EXPECT_EQ(config.outbox.default_instance_per_second, 0.5);
  EXPECT_EQ(load(std::string(kMinimal) + "outbox:\n  default_instance_per_second: 20\n")
                .outbox.default_instance_per_second,
            20.0);
}

TEST_F(ConfigTest, BadOutboxSettingsArePositioned) {
  EXPECT_THAT(
      problems(std::string(kMinimal) + "outbox:\n"                           // 5
                                       "  first_retry_delay: 0ms\n"          // 6
                                       "  max_retry_delay: 2d\n"             // 7
                                       "  max_attempts: 0\n"                 // 8
                                       "  default_channel_interval: soon\n"  // 9
                                       "  default_instance_per_second: 0\n"  // 10
                                       "  retries: 3\n"),                    // 11
      ElementsAre(
          at(6, 22) + "outbox.first_retry_delay: expected a duration between 1ms and 1h, got "
                      "\"0ms\"",
          at(7, 20) + "outbox.max_retry_delay: expected a duration between 1ms and 1d, got \"2d\"",
          at(8, 17) + "outbox.max_attempts: expected an integer between 1 and 1000, got \"0\"",
          at(9, 29) + "outbox.default_channel_interval: expected a duration such as 500ms, 30s or "
                      "5m (an integer and one of ms, s, m, h, d), got \"soon\"",
          at(10, 32) + "outbox.default_instance_per_second: expected a number greater than 0 and "
                       "at most 10000 (such as 20 or 0.5), got \"0\"",
          at(11, 3) + "outbox.retries: unknown key (allowed: first_retry_delay, max_retry_delay, "
                      "max_attempts, default_channel_interval, default_instance_per_second)"));
  for (const char* rate : {"-1", ".nan", "fast", "1e5", "[20]"}) {
    EXPECT_THAT(
        problems(std::string(kMinimal) + "outbox: {default_instance_per_second: " + rate + "}\n"),
        ElementsAre(HasSubstr("outbox.default_instance_per_second: expected a number")))
        << rate;
  }
  EXPECT_THAT(
      problems(std::string(kMinimal) + "outbox: {max_attempts: 1001}\n"),
      ElementsAre(HasSubstr("outbox.max_attempts: expected an integer between 1 and 1000")));
}

TEST_F(ConfigTest, FirstRetryDelayMustNotExceedTheMaximum) {
  EXPECT_THAT(problems(std::string(kMinimal) + "outbox:\n"
                                               "  first_retry_delay: 10m\n"
                                               "  max_retry_delay: 1m\n"),
              ElementsAre(at(6, 22) + "outbox.first_retry_delay: the first retry delay (10m) is "
                                      "longer than max_retry_delay (1m); the delay doubles from "
                                      "the first up to the max"));
  EXPECT_THAT(problems(std::string(kMinimal) + "outbox:\n  max_retry_delay: 100ms\n"),
              ElementsAre(at(6, 20) + "outbox.max_retry_delay: the first retry delay (500ms) is "
                                      "longer than max_retry_delay (100ms); the delay doubles "
                                      "from the first up to the max"));
}

TEST_F(ConfigTest, SettingsBecomeJsonWithTypesPreserved) {
  write("secrets/signing", "sig-secret\n");
  write("secrets/nested", "nested-secret\n");
  const ScopedEnv env("HAVERI_TEST_LIMIT", "250");
  const Config config = load(std::string(kMinimal) +
                             "  instances:\n"
                             "    - name: local\n"
                             "      plugin: local\n"
                             "      settings:\n"
                             "        count: 42\n"
                             "        negative: -7\n"
                             "        hex: 0x1f\n"
                             "        ratio: 0.5\n"
                             "        exp: 1e3\n"
                             "        enabled: true\n"
                             "        disabled: False\n"
                             "        nothing: ~\n"
                             "        empty:\n"
                             "        quoted_number: \"42\"\n"
                             "        quoted_bool: 'true'\n"
                             "        yes_is_text: yes\n"
                             "        version: 1.2.3\n"
                             "        limit: ${HAVERI_TEST_LIMIT}\n"
                             "        quoted_limit: \"${HAVERI_TEST_LIMIT}\"\n"
                             "        channels: [general, 7, {id: C1}]\n"
                             "        signing_secret_file: secrets/signing\n"
                             "        oauth:\n"
                             "          client_secret_file: secrets/nested\n"
                             "          scopes:\n"
                             "            - chat:write\n");
  ASSERT_THAT(config.plugins.instances, SizeIs(1));
  const nlohmann::json expected = {
      {"count", 42},
      {"negative", -7},
      {"hex", 31},
      {"ratio", 0.5},
      {"exp", 1000.0},
      {"enabled", true},
      {"disabled", false},
      {"nothing", nullptr},
      {"empty", nullptr},
      {"quoted_number", "42"},
      {"quoted_bool", "true"},
      {"yes_is_text", "yes"},
      {"version", "1.2.3"},
      {"limit", 250},
      {"quoted_limit", "250"},
      {"channels", nlohmann::json::array({"general", 7, {{"id", "C1"}}})},
      {"signing_secret", "sig-secret"},
      {"oauth", {{"client_secret", "nested-secret"}, {"scopes", {"chat:write"}}}},
  };
  const nlohmann::json& settings = config.plugins.instances[0].settings;
  EXPECT_EQ(settings, expected) << settings.dump(2);
  EXPECT_TRUE(settings["count"].is_number_integer());
  EXPECT_TRUE(settings["ratio"].is_number_float());
  EXPECT_TRUE(settings["quoted_number"].is_string());
  EXPECT_FALSE(settings.contains("signing_secret_file"));
}

TEST_F(ConfigTest, SettingsSecretProblems) {
  const auto found = problems(std::string(kMinimal) +
                              "  instances:\n"
                              "    - name: local\n"
                              "      plugin: local\n"
                              "      settings:\n"
                              "        key_file: missing.pem\n"
                              "        token: x\n"
                              "        token_file: t\n"
                              "        url: ${HAVERI_TEST_UNSET}\n");
  EXPECT_THAT(
      found,
      ElementsAre(at(9, 19) + "plugins.instances[0].settings.key_file: cannot read secret file \"" +
                      (dir_ / "missing.pem").string() + "\": No such file or directory",
                  at(11, 9) +
                      "plugins.instances[0].settings.token_file: plugins.instances[0].settings."
                      "token is also set; keep only one of token and token_file",
                  at(12, 14) + "plugins.instances[0].settings.url: environment variable "
                               "HAVERI_TEST_UNSET is not set"));
}

TEST_F(ConfigTest, SettingsMustBeAMapping) {
  EXPECT_THAT(problems(std::string(kMinimal) + "  instances:\n"
                                               "    - name: local\n"
                                               "      plugin: local\n"
                                               "      settings: [1, 2]\n"),
              ElementsAre(at(8, 17) + "plugins.instances[0].settings: expected a mapping, got a "
                                      "list"));
}

TEST_F(ConfigTest, DuplicateInstanceNames) {
  EXPECT_THAT(problems(std::string(kMinimal) + "  instances:\n"
                                               "    - name: chat\n"
                                               "      plugin: local\n"
                                               "    - name: other\n"
                                               "      plugin: local\n"
                                               "    - name: chat\n"
                                               "      plugin: slack\n"),
              ElementsAre(at(10, 13) + "plugins.instances[2].name: duplicate instance name "
                                       "\"chat\" (first at line 6)"));
}

TEST_F(ConfigTest, BadInstanceAndPluginNames) {
  const std::string too_long(64, 'a');
  const auto found = problems(std::string(kMinimal) +
                              "  instances:\n"
                              "    - name: Slack\n"
                              "      plugin: local\n"
                              "    - name: -leading-dash\n"
                              "      plugin: local\n"
                              "    - name: " +
                              too_long +
                              "\n"
                              "      plugin: local\n"
                              "    - name: " +
                              too_long.substr(1) +
                              "\n"
                              "      plugin: ../evil\n"
                              "    - plugin: local\n"
                              "    - name: nameless\n");
  EXPECT_THAT(
      found,
      ElementsAre(
          HasSubstr(at(6, 13) + "plugins.instances[0].name: expected a name of lowercase"),
          HasSubstr(at(8, 13) + "plugins.instances[1].name: expected a name"),
          HasSubstr(at(10, 13) + "plugins.instances[2].name: expected a name"),
          HasSubstr(at(13, 15) + "plugins.instances[3].plugin: expected a plugin name of lowercase "
                                 "letters, digits and '_', got \"../evil\""),
          at(14, 7) + "plugins.instances[4].name: required key is missing",
          at(15, 7) + "plugins.instances[5].plugin: required key is missing"));
}

TEST_F(ConfigTest, InstancesMustBeAListOfMappings) {
  EXPECT_THAT(problems(std::string(kMinimal) + "  instances:\n    local: {}\n"),
              ElementsAre(at(6, 5) + "plugins.instances: expected a list, got a mapping"));
  EXPECT_THAT(problems(std::string(kMinimal) + "  instances:\n    - local\n"),
              ElementsAre(HasSubstr(at(6, 7) + "plugins.instances[0]: expected a mapping")));
}

TEST_F(ConfigTest, YamlSyntaxErrorHasFileLineAndColumn) {
  const auto found = problems("api:\n  token: [unclosed\nplugins:\n  directory: p\n");
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_THAT(found[0], AllOf(::testing::StartsWith(file_.string() + ":"),
                              ::testing::MatchesRegex(".*:[0-9]+:[0-9]+: .+")));
  EXPECT_THAT(problems("api:\n\ttoken: t\n"), ElementsAre(HasSubstr(file_.string() + ":2:")));
}

TEST_F(ConfigTest, UnreadableFileIsReported) {
  const fs::path missing = dir_ / "absent.yaml";
  EXPECT_THAT(problems_of(missing),
              ElementsAre(missing.string() + ": cannot read: No such file or directory"));
  EXPECT_THAT(problems_of(dir_), ElementsAre(dir_.string() + ": cannot read: Is a directory"));
}

TEST_F(ConfigTest, EmptyOrNonMappingFileIsRejected) {
  EXPECT_THAT(problems(""), ElementsAre(HasSubstr(file_.string() + ": the file is empty")));
  EXPECT_THAT(problems("# only a comment\n"), ElementsAre(HasSubstr("the file is empty")));
  EXPECT_THAT(problems("- a\n- b\n"),
              ElementsAre(at(1, 1) + "expected a mapping at the top level, got a list"));
  EXPECT_THAT(problems("just text\n"),
              ElementsAre(at(1, 1) + "expected a mapping at the top level, got \"just text\""));
  EXPECT_THAT(problems(std::string(kMinimal) + "---\nother: doc\n"),
              ElementsAre(HasSubstr(at(6, 1) + "a second YAML document")));
}

TEST_F(ConfigTest, EveryProblemIsReportedAtOnce) {
  const ScopedEnv unset("HAVERI_TEST_UNSET", std::nullopt);
  const ConfigError error = [&] {
    try {
      load(
          "server:\n"
          "  port: http\n"    // 1 wrong type
          "  colour: blue\n"  // 2 unknown key
          "storage:\n"
          "  sqlite:\n"
          "    synchronous: sometimes\n"  // 3 bad enum
          "plugins:\n"
          "  directory: ${HAVERI_TEST_UNSET}\n"  // 4 unset variable
          "  instances:\n"
          "    - name: a\n"
          "      plugin: local\n"
          "    - name: a\n"  // 5 duplicate name
          "      plugin: local\n"
          "logging:\n"
          "  level: loud\n"  // 6 bad enum
          "extra: 1\n");     // 7 unknown key; 8 api.token missing
    } catch (const ConfigError& e) {
      return e;
    }
    return ConfigError(std::vector<std::string>{});
  }();
  EXPECT_THAT(error.problems(), SizeIs(8));
  // what() is every problem, one per line.
  std::string joined;
  for (const auto& problem : error.problems()) {
    joined += (joined.empty() ? "" : "\n") + problem;
  }
  EXPECT_EQ(error.what(), joined);
  EXPECT_THAT(error.what(), AllOf(HasSubstr("server.port"), HasSubstr("server.colour"),
                                  HasSubstr("storage.sqlite.synchronous"),
                                  HasSubstr("HAVERI_TEST_UNSET"), HasSubstr("instances[1].name"),
                                  HasSubstr("logging.level"), HasSubstr("extra: unknown key"),
                                  HasSubstr("api.token: required key is missing")));
}

TEST(ConfigErrorTest, WhatJoinsProblemsWithNewlines) {
  const ConfigError error({"a.yaml:1:1: x: one", "a.yaml:2:1: y: two"});
  EXPECT_STREQ(error.what(), "a.yaml:1:1: x: one\na.yaml:2:1: y: two");
  EXPECT_THAT(error.problems(), SizeIs(2));
}

TEST_F(ConfigTest, PluginInstancesKnowWhereTheyAreWritten) {
  const Config config = load(std::string(kMinimal) +
                             "  instances:\n"
                             "    - name: chat\n"
                             "      plugin: local\n"
                             "    -   name: slack-main\n"
                             "        plugin: slack\n");
  ASSERT_THAT(config.plugins.instances, SizeIs(2));
  EXPECT_EQ(config.plugins.instances[0].source, at(6, 7) + "plugins.instances[0]");
  EXPECT_EQ(config.plugins.instances[1].source, at(8, 9) + "plugins.instances[1]");
}

TEST_F(ConfigTest, AnInvalidConfigurationStillOffersItsValidPluginInstancesForChecking) {
  write("secret", "s3cret\n");
  write("config.yaml", std::string(kMinimal) +
                           "  instances:\n"
                           "    - name: chat\n"
                           "      plugin: local\n"
                           "    - name: Bad Name\n"
                           "      plugin: local\n"
                           "    - name: slack\n"
                           "      plugin: slack\n"
                           "      settings:\n"
                           "        token_file: secret\n"
                           "server:\n"
                           "  prot: 1\n");
  try {
    load_config(file_);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.problems(), SizeIs(2));
    ASSERT_NE(e.plugins(), nullptr);
    EXPECT_EQ(e.plugins()->directory, dir_ / "plugins");
    ASSERT_THAT(e.plugins()->instances, SizeIs(2));  // not the one with a bad name
    EXPECT_EQ(e.plugins()->instances[0].name, "chat");
    EXPECT_EQ(e.plugins()->instances[1].name, "slack");
    EXPECT_EQ(e.plugins()->instances[1].settings.value("token", ""), "s3cret");
  }
  // Unparsable, or without a usable plugins.directory: nothing to check.
  for (const std::string& yaml :
       {std::string("api: [\n"), std::string("api:\n  token: t\nplugins:\n  directory: [a]\n"),
        std::string("api:\n  token: t\nplugins:\n  instances: []\n")}) {
    write("config.yaml", yaml);
    try {
      load_config(file_);
      ADD_FAILURE() << "accepted " << yaml;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.plugins(), nullptr) << yaml;
    }
  }
}

}  // namespace
}  // namespace haveri::daemon
