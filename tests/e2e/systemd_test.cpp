// haverid under a fake systemd: the real daemon, started with NOTIFY_SOCKET pointing at
// a datagram socket the test owns and WATCHDOG_USEC set, tells it what systemd would
// hear: progress, READY=1 once it serves, watchdog pings from its event loop (and none
// while that loop is blocked), RELOADING=1 on SIGHUP and STOPPING=1 on SIGTERM.
#include <atomic>
#include <ctime>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "blocking_client.hpp"
#include "support/daemon_process.hpp"
#include "support/notify_socket.hpp"

namespace {

using namespace haveri::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::chrono::milliseconds kStartLimit{30000};
constexpr std::chrono::milliseconds kWait{10000};

// haverid started as systemd starts it: the notify variables in its environment.
class NotifiedHaverid {
 public:
  NotifiedHaverid(const TempDir& dir, const std::string& config_text,
                  const std::vector<std::string>& environment)
      : config_(dir.path() / "haveri.yaml"), log_(dir.path() / "haverid.log") {
    write_file(config_, config_text);
    pid_ = spawn(build_dir() / "bin" / "haverid", {"--config", config_.string()}, log_,
                 std::nullopt, environment);
  }
  ~NotifiedHaverid() {
    if (pid_ != 0) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, 5s);
    }
  }
  NotifiedHaverid(const NotifiedHaverid&) = delete;
  NotifiedHaverid& operator=(const NotifiedHaverid&) = delete;

  pid_t pid() const { return pid_; }
  const std::filesystem::path& config() const { return config_; }
  std::string log() const { return read_file(log_); }

  // Waits (bounded) for the exit code.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    auto code = wait_exit(pid_, limit);
    if (code) {
      pid_ = 0;
    }
    return code;
  }
  std::optional<int> stop(int signal_number, std::chrono::milliseconds limit) {
    ::kill(pid_, signal_number);
    return wait(limit);
  }

 private:
  std::filesystem::path config_;
  std::filesystem::path log_;
  pid_t pid_ = 0;
};

// The port from READY=1's "ready: listening on 127.0.0.1:<port>, …".
std::uint16_t port_of(const Notification& ready) {
  std::smatch match;
  const std::string status = ready.value("STATUS").value_or("");
  if (!std::regex_search(status, match, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"))) {
    ADD_FAILURE() << "READY=1 without the address: " << ready.text;
    return 0;
  }
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

std::vector<std::string> statuses(const std::vector<Notification>& notifications) {
  std::vector<std::string> all;
  for (const auto& notification : notifications) {
    if (auto status = notification.value("STATUS")) {
      all.push_back(*status);
    }
  }
  return all;
}

// WATCHDOG=1 datagrams arriving within `window`.
int pings_within(FakeNotifySocket& socket, std::chrono::milliseconds window) {
  int pings = 0;
  const auto deadline = std::chrono::steady_clock::now() + window;
  for (auto now = std::chrono::steady_clock::now(); now < deadline;
       now = std::chrono::steady_clock::now()) {
    auto next =
        socket.receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (next && next->has("WATCHDOG=1")) {
      ++pings;
    }
  }
  return pings;
}

TEST(Systemd, TellsSystemdItsProgressReadinessLivenessReloadsAndStop) {
  TempDir dir;
  auto socket = FakeNotifySocket::at_path(dir.path() / "notify");
  NotifiedHaverid daemon(dir, test_config(dir.path()),
                         {"NOTIFY_SOCKET=" + socket.address(), "WATCHDOG_USEC=1000000"});

  std::vector<Notification> startup;
  auto ready = socket.await("READY=1", kStartLimit, &startup);
  ASSERT_TRUE(ready.has_value()) << daemon.log();
  EXPECT_THAT(statuses(startup),
              ::testing::ElementsAre("loading plugins", "opening store",
                                     ::testing::StartsWith("ready: listening on 127.0.0.1:")));
  EXPECT_THAT(ready->value("STATUS").value_or(""), HasSubstr(", 1 plugin instance"));
  for (const auto& notification : startup) {
    // NotifyAccess=main: everything comes from the main process itself.
    EXPECT_EQ(notification.sender, daemon.pid()) << notification.text;
  }
  // READY=1 came only once haverid serves: it answers at once, and is ready.
  haveri::http::BlockingClient client({"127.0.0.1", port_of(*ready), ""});
  auto readyz = client.get("/readyz");
  EXPECT_EQ(readyz.status, 200) << readyz.body;

  // WATCHDOG_USEC=1 s: a ping every 0.5 s from the event loop.
  EXPECT_GE(pings_within(socket, 2500ms), 3) << daemon.log();

  const std::uint64_t before_reload = monotonic_usec();
  ::kill(daemon.pid(), SIGHUP);
  auto reloading = socket.await("RELOADING=1", kWait);
  ASSERT_TRUE(reloading.has_value()) << daemon.log();
  const std::uint64_t stamp = std::stoull(reloading->value("MONOTONIC_USEC").value_or("0"));
  EXPECT_GE(stamp, before_reload);
  EXPECT_LE(stamp, monotonic_usec());
  auto reloaded = socket.await("READY=1", kWait);
  ASSERT_TRUE(reloaded.has_value()) << daemon.log();
  EXPECT_THAT(reloaded->value("STATUS").value_or(""), HasSubstr("ready: listening on"));

  // A reload that fails still ends with READY=1: the running configuration stays.
  write_file(daemon.config(), "server: [this is not a mapping\n");
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(socket.await("RELOADING=1", kWait).has_value()) << daemon.log();
  ASSERT_TRUE(socket.await("READY=1", kWait).has_value()) << daemon.log();
  EXPECT_EQ(client.get("/readyz").status, 200);
  EXPECT_GE(pings_within(socket, 1200ms), 1) << daemon.log();

  ::kill(daemon.pid(), SIGTERM);
  auto stopping = socket.await("STOPPING=1", kWait);
  ASSERT_TRUE(stopping.has_value()) << daemon.log();
  EXPECT_THAT(stopping->value("STATUS").value_or(""), HasSubstr("stopping"));
  EXPECT_EQ(daemon.wait(15s), 0) << daemon.log();
}

TEST(Systemd, ABlockedEventLoopStopsTheWatchdogPingsUntilItRunsAgain) {
  TempDir dir;
  auto socket = FakeNotifySocket::abstract();
  // Two instances of a plugin that blocks the host thread calling it: two requests
  // at once hold both io threads of haverid's pool, as a plugin doing blocking I/O
  // would. (Instances are called on their own strands, so the two run in parallel.)
  NotifiedHaverid daemon(dir,
                         test_config(dir.path(), HAVERI_TEST_PLUGIN_DIR,
                                     "    - name: stall-a\n      plugin: test_stall\n"
                                     "    - name: stall-b\n      plugin: test_stall\n"),
                         {"NOTIFY_SOCKET=" + socket.address(), "WATCHDOG_USEC=1000000"});
  auto ready = socket.await("READY=1", kStartLimit);
  ASSERT_TRUE(ready.has_value()) << daemon.log();
  const std::uint16_t port = port_of(*ready);
  auto before = socket.await("WATCHDOG=1", kWait);
  ASSERT_TRUE(before.has_value()) << daemon.log();

  // Arrival times of the pings from just before the stall to just after it.
  std::vector<std::chrono::steady_clock::time_point> pings{before->received};
  std::atomic<int> answered{0};
  std::vector<int> answers(2, 0);
  std::vector<std::thread> clients;
  clients.reserve(2);
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&, i] {
      haveri::http::BlockingClient client({"127.0.0.1", port, ""}, 20s);
      try {
        answers[i] =
            client.get(std::string("/hooks/stall-") + (i == 0 ? "a" : "b") + "/stall?ms=3000")
                .status;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
      ++answered;
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (answered < 2 && std::chrono::steady_clock::now() < deadline) {
    if (auto next = socket.receive(100ms); next && next->has("WATCHDOG=1")) {
      pings.push_back(next->received);
    }
  }
  for (auto& client : clients) {
    client.join();
  }
  EXPECT_EQ(answers, (std::vector<int>{200, 200}));
  // Once the loop runs again, so do the pings.
  auto resumed = socket.await("WATCHDOG=1", kWait);
  ASSERT_TRUE(resumed.has_value()) << "no ping after the stall:\n" << daemon.log();
  pings.push_back(resumed->received);
  std::chrono::steady_clock::duration longest_gap{0};
  for (std::size_t i = 1; i < pings.size(); ++i) {
    longest_gap = std::max(longest_gap, pings[i] - pings[i - 1]);
  }
  // Pings come every 0.5 s; the 3 s stall left a gap of about its length.
  EXPECT_GE(longest_gap, 2s) << "the watchdog kept pinging while the event loop was blocked";
  EXPECT_THAT(daemon.log(), HasSubstr("ran the watchdog timer"));
  EXPECT_EQ(daemon.stop(SIGTERM, 15s), 0) << daemon.log();
}

TEST(Systemd, AWatchdogMeantForAnotherProcessIsNotPinged) {
  TempDir dir;
  auto socket = FakeNotifySocket::abstract();
  NotifiedHaverid daemon(
      dir, test_config(dir.path()),
      {"NOTIFY_SOCKET=" + socket.address(), "WATCHDOG_USEC=1000000", "WATCHDOG_PID=1"});
  ASSERT_TRUE(socket.await("READY=1", kStartLimit).has_value()) << daemon.log();
  // Four ping periods.
  EXPECT_EQ(pings_within(socket, 2000ms), 0);
  EXPECT_THAT(daemon.log(), ::testing::Not(HasSubstr("systemd watchdog")));
  EXPECT_EQ(daemon.stop(SIGTERM, 15s), 0) << daemon.log();
}

TEST(Systemd, CheckConfigTellsSystemdNothing) {
  TempDir dir;
  auto socket = FakeNotifySocket::abstract();
  write_file(dir.path() / "haveri.yaml", test_config(dir.path()));
  auto result =
      run_program(build_dir() / "bin" / "haverid",
                  {"--config", (dir.path() / "haveri.yaml").string(), "--check-config"}, dir.path(),
                  std::nullopt, {"NOTIFY_SOCKET=" + socket.address(), "WATCHDOG_USEC=1000000"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // Datagrams are queued when sent: after the exit, whatever was sent is here.
  EXPECT_TRUE(socket.drain().empty());
}

TEST(Systemd, AStartThatFailsNeverSaysReady) {
  // A port that is taken, so the listener cannot be opened.
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t length = sizeof address;
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&address), &length);
  const std::uint16_t port = ntohs(address.sin_port);

  TempDir dir;
  auto socket = FakeNotifySocket::abstract();
  std::string config = test_config(dir.path());
  config.replace(config.find("port: 0"), 7, "port: " + std::to_string(port));
  write_file(dir.path() / "haveri.yaml", config);
  auto result = run_program(build_dir() / "bin" / "haverid",
                            {"--config", (dir.path() / "haveri.yaml").string()}, dir.path(),
                            std::nullopt, {"NOTIFY_SOCKET=" + socket.address()});
  ::close(taken);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  const auto sent = socket.drain();
  EXPECT_THAT(statuses(sent), ::testing::ElementsAre("loading plugins", "opening store"));
  for (const auto& notification : sent) {
    EXPECT_FALSE(notification.has("READY=1")) << notification.text;
  }
}

}  // namespace
