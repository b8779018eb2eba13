// SIGHUP end to end, and the log's layout: the real haverid with the real local plugin,
// a directory and policies on disk. A reload applies logging.level together with the
// directory and the policies, or nothing at all; settings read only at start are named
// and left alone. Under systemd (JOURNAL_STREAM naming our stderr) lines carry sd-daemon
// priorities instead of timestamps.

#include <csignal>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "daemon_test.hpp"

namespace haveri::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kDirectory = R"(organizations:
  - id: acme
    installations: [{platform: local, id: local}]
    announcements: {instance: local, channel: general}
    facilities: [{id: plant-a, time_zone: UTC}]
    teams:
      - {id: maintenance, facility: plant-a, members: [alice, bob]}
    members:
      - {id: alice, name: Alice, identities: {local: alice}}
      - {id: bob, name: Bob, identities: {local: bob}}
      - {id: sam, name: Sam, identities: {local: sam}}
)";

// SEV2 pages `who` at once.
std::string policy(const std::string& who) {
  return "policies:\n"
         "  - name: sev2\n"
         "    facility: plant-a\n"
         "    match: {severity: SEV2}\n"
         "    steps:\n"
         "      - notify: {" +
         who + "}\n";
}

// Lines of the plain layout at `level` ("debug", "info", …).
std::size_t lines_at_level(const std::string& log, const std::string& level) {
  const std::regex at_level("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ " + level + " ");
  std::size_t count = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    count += std::regex_search(line, at_level) ? 1 : 0;
  }
  return count;
}

// A loopback port nobody listens on (bound, then released).
std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

class Reload : public DaemonTest {
 protected:
  void SetUp() override {
    config_ = dir_.path() / "haveri.yaml";
    write_file(dir_.path() / "directory.yaml", kDirectory);
    write_file(dir_.path() / "policies" / "plant-a.yaml", policy("team: maintenance"));
    write_config("info");
    start();
  }

  void write_config(const std::string& level, const std::string& port = "0") {
    std::string text = test_config(dir_.path()) +
                       "directory:\n  path: " + (dir_.path() / "directory.yaml").string() +
                       "\npolicies:\n  path: " + (dir_.path() / "policies").string() +
                       "\n  tick_ms: 20\n";
    text.replace(text.find("level: debug"), 12, "level: " + level);
    text.replace(text.find("port: 0"), 7, "port: " + port);
    write_file(config_, text);
  }

  void sighup() { ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0); }

  bool log_shows(const std::string& needle, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (daemon_->log().find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  bool channel_shows(const std::string& channel, const std::string& needle) {
    return await_channel_text(channel, needle).find(needle) != std::string::npos;
  }

  // Declares incident `number` (SEV2) and waits until its pages and posts are out.
  void declare_and_settle(int number, const std::string& title) {
    ASSERT_EQ(say("general", "carol", "/incident declare " + title + " sev2").status, 200);
    ASSERT_TRUE(channel_shows("dm-alice", "Page: INC-" + std::to_string(number))) << daemon_->log();
    await("/api/v1/outbox", [](const nlohmann::json& doc) {
      return doc.value("queued", 1) == 0 && doc.value("in_flight", 1) == 0;
    });
  }
};

TEST_F(Reload, RaisingTheLogLevelToDebugMakesDebugLinesAppear) {
  declare_and_settle(1, "Pump 3 down");
  EXPECT_EQ(lines_at_level(daemon_->log(), "debug"), 0U) << daemon_->log();

  write_config("debug");
  sighup();
  ASSERT_TRUE(log_shows("log level debug (was info)")) << daemon_->log();
  declare_and_settle(2, "Press 2 slow");
  ASSERT_TRUE(log_shows("outbox: the operation succeeded instance=local operation="))
      << daemon_->log();
  EXPECT_GT(lines_at_level(daemon_->log(), "debug"), 0U);
  EXPECT_EQ(daemon_->terminate(), 0);
}

TEST_F(Reload, ABrokenPolicyFileRefusesTheWholeReloadLogLevelIncluded) {
  write_config("debug");
  write_file(dir_.path() / "policies" / "plant-a.yaml",
             policy("members: [sam]") + "    colour: red\n");
  sighup();
  ASSERT_TRUE(log_shows("reload refused")) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_THAT(log, HasSubstr("plant-a.yaml:7:5"));  // colour: the unknown key
  EXPECT_THAT(log, Not(HasSubstr("reloaded:")));

  // Still the old policies (the team, not Sam) and still the old level (no debug lines).
  declare_and_settle(1, "Pump 3 down");
  EXPECT_TRUE(channel_shows("dm-bob", "Page: INC-1"));
  EXPECT_THAT(channel_text("dm-sam"), Not(HasSubstr("INC-1")));
  EXPECT_EQ(lines_at_level(daemon_->log(), "debug"), 0U) << daemon_->log();

  // Fixed, the same file reloads: both the level and the policies change.
  write_file(dir_.path() / "policies" / "plant-a.yaml", policy("members: [sam]"));
  sighup();
  ASSERT_TRUE(log_shows("log level debug (was info)")) << daemon_->log();
  ASSERT_EQ(say("general", "carol", "/incident declare Press 2 slow sev2").status, 200);
  EXPECT_TRUE(channel_shows("dm-sam", "Page: INC-2")) << daemon_->log();
}

TEST_F(Reload, AChangedServerPortIsNamedAndNotApplied) {
  const std::uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  write_config("info", std::to_string(port));
  sighup();
  ASSERT_TRUE(log_shows("server.port changed from 0 to " + std::to_string(port) +
                        ": takes effect after a restart"))
      << daemon_->log();
  // The rest of the reload went ahead.
  ASSERT_TRUE(log_shows("reloaded: 1 organization(s), 1 escalation policy, log level info"));
  EXPECT_THAT(daemon_->log(), HasSubstr(" warning server.port changed"));

  // The old port still answers; nothing listens on the new one.
  EXPECT_EQ(client_->get("/api/v1/incidents", kAuth).status, 200);
  const BlockingClient moved(haveri::http::BaseUrl{"127.0.0.1", port, ""});
  EXPECT_THROW(moved.get("/api/v1/incidents", kAuth), haveri::http::ClientError);
  EXPECT_EQ(daemon_->terminate(), 0);
}

// What JOURNAL_STREAM does to the log of a start that fails on a missing plugin.
class LogOutput : public ::testing::Test {
 protected:
  // Runs haverid to its (failing) end with its stderr appended to `log`, JOURNAL_STREAM
  // naming `journal`'s device and inode; returns the log.
  std::string run_with_journal_stream(const std::filesystem::path& log,
                                      const std::filesystem::path& journal) {
    write_file(dir_.path() / "haveri.yaml",
               test_config(dir_.path(), (build_dir() / "plugins").string(),
                           "    - name: chat\n      plugin: local\n"
                           "    - name: other\n      plugin: nosuchplatform\n"));
    write_file(log, "");
    if (!std::filesystem::exists(journal)) {
      write_file(journal, "");
    }
    struct stat status {};
    EXPECT_EQ(::stat(journal.c_str(), &status), 0);
    const std::string stream =
        "JOURNAL_STREAM=" + std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
    const pid_t pid =
        spawn(build_dir() / "bin" / "haverid", {"--config", (dir_.path() / "haveri.yaml").string()},
              log, std::nullopt, {stream});
    EXPECT_EQ(wait_exit(pid, 20s), 1);
    return read_file(log);
  }

  static std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
    }
    return lines;
  }

  TempDir dir_;
};

TEST_F(LogOutput, StderrThatIsTheJournalGetsPrioritiesAndNoTimestamps) {
  const auto log = dir_.path() / "journal.log";
  const std::string text = run_with_journal_stream(log, log);
  const auto lines = lines_of(text);
  ASSERT_FALSE(lines.empty());
  const std::regex priority("^<[0-7]>");
  const std::regex timestamp("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:");
  for (const auto& line : lines) {
    EXPECT_TRUE(std::regex_search(line, priority)) << line;
    EXPECT_FALSE(std::regex_search(line, timestamp)) << line;
  }
  EXPECT_THAT(text, HasSubstr("<6>plugin instance started ("));
  EXPECT_THAT(text, HasSubstr(" instance=chat\n"));
  EXPECT_THAT(text, HasSubstr("<2>" + (dir_.path() / "haveri.yaml").string() +
                              ":14:7: plugins.instances[1] (other): cannot load "));
}

TEST_F(LogOutput, AJournalStreamInheritedFromElsewhereKeepsPlainLines) {
  // As when haverid's stderr is piped into another program by a shell that systemd
  // started: JOURNAL_STREAM is set, but names the shell's stderr, not ours.
  const std::string text =
      run_with_journal_stream(dir_.path() / "haverid.log", dir_.path() / "somebody-else");
  const auto lines = lines_of(text);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_THAT(line, Not(::testing::StartsWith("<"))) << line;
  }
  EXPECT_EQ(lines_at_level(text, "critical"), 2U) << text;  // the problem, the summary
  EXPECT_EQ(lines_at_level(text, "info "), 2U) << text;     // started, stopped
}

}  // namespace
}  // namespace haveri::testing
