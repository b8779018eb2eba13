// The sd_notify protocol against a fake NOTIFY_SOCKET (a real datagram socket), the
// WATCHDOG_* variables, and the event-loop watchdog's decisions on a real io_context.
#include "systemd_notify.hpp"

#include <cstdlib>
#include <ctime>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "support/daemon_process.hpp"
#include "support/notify_socket.hpp"

namespace {

using haveri::daemon::EventLoopWatchdog;
using haveri::daemon::SystemdNotifier;
using haveri::daemon::WatchdogRounds;
using haveri::testing::FakeNotifySocket;
using haveri::testing::monotonic_usec;
using haveri::testing::TempDir;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::chrono::milliseconds kWait{5000};

// Routes spdlog into memory for the test's lifetime, to check what was logged.
class CapturedLog {
 public:
  CapturedLog()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200)),
        previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink_));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::string text() const {
    std::string all;
    for (const auto& line : sink_->last_formatted()) {
      all += line;
    }
    return all;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

// --- the notifier ---

TEST(SystemdNotifier, WithoutASocketEveryCallIsANoOp) {
  SystemdNotifier notifier;
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog_timeout().has_value());
  notifier.ready("ready");
  notifier.status("status");
  notifier.reloading("reloading");
  notifier.watchdog();
  notifier.stopping("stopping");
  EXPECT_FALSE(notifier.notify("READY=1"));
  EXPECT_TRUE(notifier.stopping_sent());
  // A watchdog without a socket to ping is no watchdog.
  SystemdNotifier watchdog_only("", "1000000", std::nullopt);
  EXPECT_FALSE(watchdog_only.enabled());
  EXPECT_FALSE(watchdog_only.watchdog_timeout().has_value());
}

void expect_each_state_arrives(FakeNotifySocket& socket) {
  SystemdNotifier notifier(socket.address(), std::nullopt, std::nullopt);
  ASSERT_TRUE(notifier.enabled());
  notifier.status("opening store");
  notifier.ready("ready: listening on 127.0.0.1:8480, 1 plugin instance");
  notifier.watchdog();
  notifier.stopping("stopping: draining");
  std::vector<std::string> received;
  for (int i = 0; i < 4; ++i) {
    auto next = socket.receive(kWait);
    ASSERT_TRUE(next.has_value()) << "datagram " << i << " did not arrive";
    EXPECT_EQ(next->sender, ::getpid());
    received.push_back(next->text);
  }
  EXPECT_THAT(received,
              ::testing::ElementsAre("STATUS=opening store",
                                     "READY=1\nSTATUS=ready: listening on 127.0.0.1:8480, 1 "
                                     "plugin instance",
                                     "WATCHDOG=1", "STOPPING=1\nSTATUS=stopping: draining"));
  EXPECT_TRUE(notifier.stopping_sent());
  EXPECT_TRUE(socket.drain().empty());
}

TEST(SystemdNotifier, SendsEachStateAsOneDatagramToASocketPath) {
  TempDir dir;
  auto socket = FakeNotifySocket::at_path(dir.path() / "notify");
  expect_each_state_arrives(socket);
}

TEST(SystemdNotifier, SendsEachStateAsOneDatagramToAnAbstractSocket) {
  auto socket = FakeNotifySocket::abstract();
  ASSERT_EQ(socket.address().front(), '@');
  expect_each_state_arrives(socket);
}

TEST(SystemdNotifier, ReloadingCarriesTheMonotonicTimeOfItsSending) {
  auto socket = FakeNotifySocket::abstract();
  SystemdNotifier notifier(socket.address(), std::nullopt, std::nullopt);
  const std::uint64_t before = monotonic_usec();
  notifier.reloading("reloading the directory and escalation policies");
  const std::uint64_t after = monotonic_usec();
  auto reloading = socket.receive(kWait);
  ASSERT_TRUE(reloading.has_value());
  EXPECT_TRUE(reloading->has("RELOADING=1")) << reloading->text;
  EXPECT_EQ(reloading->value("STATUS"), "reloading the directory and escalation policies");
  const auto stamp = reloading->value("MONOTONIC_USEC");
  ASSERT_TRUE(stamp.has_value()) << reloading->text;
  const std::uint64_t usec = std::stoull(*stamp);
  EXPECT_GE(usec, before);
  EXPECT_LE(usec, after);
}

TEST(SystemdNotifier, AStatusCannotInjectAssignmentsAndStaysValidUtf8) {
  auto socket = FakeNotifySocket::abstract();
  SystemdNotifier notifier(socket.address(), std::nullopt, std::nullopt);
  notifier.status("policy \"x\nREADY=1\r\nSTOPPING=1\" refused");
  auto injected = socket.receive(kWait);
  ASSERT_TRUE(injected.has_value());
  EXPECT_EQ(injected->lines().size(), 1u) << injected->text;
  EXPECT_FALSE(injected->has("READY=1"));
  EXPECT_FALSE(injected->has("STOPPING=1"));

  std::string long_text;
  for (int i = 0; i < 2000; ++i) {
    long_text += "\xC3\xA9";  // é: two bytes each, so a cut can fall inside one
  }
  notifier.status("x" + long_text);  // an odd length: the cut falls inside a character
  auto cut = socket.receive(kWait);
  ASSERT_TRUE(cut.has_value());
  const std::string value = cut->value("STATUS").value_or("");
  EXPECT_LE(value.size(), 1024u);
  EXPECT_GE(value.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(value[value.size() - 2]), 0xC3u);
  EXPECT_EQ(static_cast<unsigned char>(value.back()), 0xA9u);
}

TEST(SystemdNotifier, AnAddressThatIsNoUnixSocketIsIgnored) {
  for (const char* address :
       {"run/systemd/notify", "vsock:2:1234", "@", "/", " /run/systemd/notify"}) {
    SystemdNotifier notifier(address, "1000000", std::nullopt);
    EXPECT_FALSE(notifier.enabled()) << address;
    EXPECT_FALSE(notifier.watchdog_timeout().has_value()) << address;
    EXPECT_FALSE(notifier.notify("READY=1")) << address;
  }
  const std::string too_long = "/" + std::string(200, 'x');
  EXPECT_FALSE(SystemdNotifier(too_long, std::nullopt, std::nullopt).enabled());
}

TEST(SystemdNotifier, ASocketThatWentAwayIsLoggedOnceAndRecoveredFrom) {
  CapturedLog log;
  TempDir dir;
  const auto path = dir.path() / "notify";
  std::optional<FakeNotifySocket> socket(FakeNotifySocket::at_path(path));
  SystemdNotifier notifier(socket->address(), std::nullopt, std::nullopt);
  EXPECT_TRUE(notifier.notify("STATUS=first"));
  socket->close();
  EXPECT_NO_THROW(notifier.ready("ready"));
  EXPECT_NO_THROW(notifier.watchdog());
  EXPECT_FALSE(notifier.notify("WATCHDOG=1"));
  const std::string after_failures = log.text();
  EXPECT_THAT(after_failures, HasSubstr("cannot notify the service manager through"));
  EXPECT_EQ(after_failures.find("cannot notify"), after_failures.rfind("cannot notify"))
      << "logged more than once:\n"
      << after_failures;
  // The service manager binds its socket again (a re-exec): notifications get through.
  socket.reset();
  socket.emplace(FakeNotifySocket::at_path(path));
  EXPECT_TRUE(notifier.notify("STATUS=again"));
  auto again = socket->receive(kWait);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->text, "STATUS=again");
  EXPECT_THAT(log.text(), HasSubstr("reach the service manager through"));
}

TEST(SystemdNotifier, ConcurrentSendersEachDeliverWholeDatagrams) {
  auto socket = FakeNotifySocket::abstract();
  SystemdNotifier notifier(socket.address(), std::nullopt, std::nullopt);
  constexpr std::size_t kThreads = 4;
  constexpr std::size_t kEach = 100;
  std::mutex mutex;
  std::set<std::string> delivered;
  std::vector<std::thread> senders;
  senders.reserve(kThreads);
  for (std::size_t t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (std::size_t i = 0; i < kEach; ++i) {
        const std::string status = "STATUS=sender " + std::to_string(t) + " message " +
                                   std::to_string(i) + " " + std::string(200, 'x');
        if (notifier.notify(status)) {
          std::lock_guard lock(mutex);
          delivered.insert(status);
        }
      }
    });
  }
  // Read while they send: a full queue would hold them (and, after 1 s, drop).
  std::set<std::string> received;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (received.size() < kThreads * kEach && std::chrono::steady_clock::now() < deadline) {
    if (auto next = socket.receive(100ms)) {
      received.insert(next->text);
    }
  }
  for (auto& sender : senders) {
    sender.join();
  }
  for (auto& rest : socket.drain()) {
    received.insert(rest.text);
  }
  EXPECT_EQ(received, delivered);
  EXPECT_EQ(delivered.size(), kThreads * kEach);
}

// --- WATCHDOG_USEC and WATCHDOG_PID ---

TEST(WatchdogTimeout, IsReadFromWatchdogUsecForThisProcess) {
  std::string problem;
  const pid_t self = 4242;
  EXPECT_EQ(haveri::daemon::parse_watchdog_timeout("1000000", std::nullopt, self, problem),
            std::chrono::microseconds(1'000'000));
  EXPECT_TRUE(problem.empty());
  EXPECT_EQ(haveri::daemon::parse_watchdog_timeout("30000000", "4242", self, problem),
            std::chrono::seconds(30));
  EXPECT_TRUE(problem.empty());
  // Meant for the process that started us (or a sibling): not ours, and not an error.
  EXPECT_FALSE(haveri::daemon::parse_watchdog_timeout("30000000", "4243", self, problem));
  EXPECT_TRUE(problem.empty());
  EXPECT_FALSE(haveri::daemon::parse_watchdog_timeout(std::nullopt, "4242", self, problem));
  EXPECT_TRUE(problem.empty());
}

TEST(WatchdogTimeout, GarbageIsIgnoredAndNamed) {
  const pid_t self = 4242;
  for (const char* usec :
       {"", "abc", "-5", "+5", "0", " 5", "5 ", "1e6", "1.5", "18446744073709551615",
        "99999999999999999999999", "9223372036854775808"}) {
    std::string problem;
    EXPECT_FALSE(haveri::daemon::parse_watchdog_timeout(usec, std::nullopt, self, problem)) << usec;
    EXPECT_THAT(problem, HasSubstr("WATCHDOG_USEC")) << usec;
  }
  for (const char* pid : {"", "x", "0", "-1", "4242x", "99999999999999"}) {
    std::string problem;
    EXPECT_FALSE(haveri::daemon::parse_watchdog_timeout("1000000", pid, self, problem)) << pid;
    EXPECT_THAT(problem, HasSubstr("WATCHDOG_PID")) << pid;
  }
}

TEST(SystemdNotifier, FromEnvironmentTakesTheVariablesAndUnsetsThem) {
  auto socket = FakeNotifySocket::abstract();
  const std::string pid = std::to_string(::getpid());
  ::setenv("NOTIFY_SOCKET", socket.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", pid.c_str(), 1);
  auto notifier = SystemdNotifier::from_environment();
  // Nothing haverid starts can inherit them.
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);
  EXPECT_TRUE(notifier.enabled());
  EXPECT_EQ(notifier.watchdog_timeout(), std::chrono::seconds(2));
  notifier.ready("ready");
  auto ready = socket.receive(kWait);
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(ready->has("READY=1"));

  ::setenv("NOTIFY_SOCKET", socket.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);  // systemd's, not ours
  auto not_ours = SystemdNotifier::from_environment();
  EXPECT_TRUE(not_ours.enabled());
  EXPECT_FALSE(not_ours.watchdog_timeout().has_value());
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);

  auto nothing = SystemdNotifier::from_environment();
  EXPECT_FALSE(nothing.enabled());
}

// --- the watchdog's decision ---

TEST(WatchdogRounds, PingsOnlyWhenThePreviousProbeAnsweredHealthy) {
  WatchdogRounds rounds(15000ms);
  auto first = rounds.next();
  EXPECT_TRUE(first.ping);  // start-up just completed
  rounds.answered(first.probe, true, "");
  auto second = rounds.next();
  EXPECT_TRUE(second.ping);
  EXPECT_NE(second.probe, first.probe);

  auto silent = rounds.next();  // `second` was never answered
  EXPECT_FALSE(silent.ping);
  EXPECT_THAT(silent.withheld_because, HasSubstr("did not answer"));
  EXPECT_THAT(silent.withheld_because, HasSubstr("15000 ms"));

  rounds.answered(silent.probe, false, "the store writer has 3 job(s) waiting");
  auto unhealthy = rounds.next();
  EXPECT_FALSE(unhealthy.ping);
  EXPECT_EQ(unhealthy.withheld_because, "the store writer has 3 job(s) waiting");

  // An answer to an older probe comes too late to count for the latest one.
  rounds.answered(silent.probe, true, "");
  EXPECT_FALSE(rounds.next().ping);
}

// A watchdog on an io_context run by the test; the probe is scripted per call.
class EventLoopWatchdogTest : public ::testing::Test {
 protected:
  using Answer = std::function<void(bool, std::string)>;
  using Script = std::function<void(int call, const Answer& answer)>;

  std::unique_ptr<EventLoopWatchdog> make_watchdog(std::chrono::microseconds timeout,
                                                   Script script) {
    return std::make_unique<EventLoopWatchdog>(
        io_, notifier_, timeout,
        [this, script = std::move(script)](const Answer& answer) { script(++calls_, answer); });
  }

  // Runs the io_context on this thread until it stops (bounded).
  void run() {
    io_.run_for(10s);
    ASSERT_TRUE(io_.stopped()) << "the io_context did not stop within 10 s";
  }

  int pings() {
    int count = 0;
    for (const auto& notification : socket_.drain()) {
      count += notification.has("WATCHDOG=1") ? 1 : 0;
    }
    return count;
  }

  FakeNotifySocket socket_ = FakeNotifySocket::abstract();
  SystemdNotifier notifier_{socket_.address(), "40000", std::nullopt};
  boost::asio::io_context io_;
  std::atomic<int> calls_{0};
};

TEST_F(EventLoopWatchdogTest, PingsEveryHalfTimeoutWhileTheProbeAnswers) {
  ASSERT_EQ(notifier_.watchdog_timeout(), std::chrono::microseconds(40000));
  auto watchdog =
      make_watchdog(*notifier_.watchdog_timeout(), [this](int call, const Answer& answer) {
        answer(true, "");
        if (call == 4) {
          io_.stop();
        }
      });
  EXPECT_EQ(watchdog->period(), 20ms);
  const auto started = std::chrono::steady_clock::now();
  watchdog->start();
  run();
  EXPECT_EQ(pings(), 4);
  // Three periods passed between the first round and the fourth.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 3 * watchdog->period());
}

TEST_F(EventLoopWatchdogTest, ASilentProbeStopsThePingsAndSaysWhy) {
  CapturedLog log;
  auto watchdog = make_watchdog(40ms, [this](int call, const Answer& answer) {
    if (call <= 2) {
      answer(true, "");  // then the service goes silent
    }
    if (call == 5) {
      io_.stop();
    }
  });
  watchdog->start();
  run();
  // Rounds 1-3 ping (round 3 judges probe 2); rounds 4 and 5 find no answer.
  EXPECT_EQ(pings(), 3);
  EXPECT_THAT(log.text(), HasSubstr("WATCHDOG=1 withheld"));
  EXPECT_THAT(log.text(), HasSubstr("did not answer the liveness probe"));
}

TEST_F(EventLoopWatchdogTest, AnUnhealthyAnswerWithholdsOnePingWithItsReason) {
  CapturedLog log;
  auto watchdog = make_watchdog(40ms, [this](int call, const Answer& answer) {
    if (call == 2) {
      answer(false, "the store writer has 7 job(s) waiting");
    } else {
      answer(true, "");
    }
    if (call == 4) {
      io_.stop();
    }
  });
  watchdog->start();
  run();
  EXPECT_EQ(pings(), 3);  // rounds 1, 2 and 4
  EXPECT_THAT(log.text(), HasSubstr("the store writer has 7 job(s) waiting"));
}

TEST_F(EventLoopWatchdogTest, AProbeAnsweredFromAnotherThreadCounts) {
  std::vector<std::thread> answerers;
  std::mutex mutex;
  // A long period: each answer comes from a thread that must first be started, which
  // can take tens of milliseconds on a loaded machine.
  auto watchdog = make_watchdog(400ms, [&](int call, const Answer& answer) {
    std::lock_guard lock(mutex);
    answerers.emplace_back([answer] { answer(true, ""); });
    if (call == 4) {
      io_.stop();
    }
  });
  watchdog->start();
  run();
  for (auto& answerer : answerers) {
    answerer.join();
  }
  // Each answer had a whole period to arrive; at worst a slow one costs a ping.
  EXPECT_GE(pings(), 3);
}

TEST_F(EventLoopWatchdogTest, StoppingEndsTheRounds) {
  auto watchdog = make_watchdog(40ms, [this](int call, const Answer& answer) {
    answer(true, "");
    if (call == 3) {
      notifier_.stopping("stopping");
    }
  });
  watchdog->start();
  run();  // returns by itself: no round arms the timer again
  EXPECT_EQ(calls_, 3);
  std::vector<std::string> texts;
  for (const auto& notification : socket_.drain()) {
    texts.push_back(notification.text);
  }
  EXPECT_THAT(texts, ::testing::ElementsAre("WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1",
                                            "STOPPING=1\nSTATUS=stopping"));
}

TEST_F(EventLoopWatchdogTest, ABlockedEventLoopSendsNoPing) {
  // The probe answers at once, so only the loop itself can hold the pings back.
  auto watchdog = make_watchdog(40ms, [](int, const Answer& answer) { answer(true, ""); });
  watchdog->start();
  std::thread loop([this] { io_.run(); });
  ASSERT_TRUE(socket_.await("WATCHDOG=1", kWait).has_value());
  ASSERT_TRUE(socket_.await("WATCHDOG=1", kWait).has_value());  // the timer runs
  std::promise<void> blocked;
  std::promise<void> release;
  boost::asio::post(io_, [&] {
    blocked.set_value();
    release.get_future().wait_for(10s);  // a handler doing blocking work
  });
  blocked.get_future().wait();
  (void)socket_.drain();  // a round that ran just before the block
  // Many periods pass while the only io thread is held.
  std::this_thread::sleep_for(10 * watchdog->period());
  EXPECT_EQ(pings(), 0) << "pinged while the event loop was blocked";
  release.set_value();
  EXPECT_TRUE(socket_.await("WATCHDOG=1", kWait).has_value()) << "no ping once unblocked";
  watchdog->stop();
  io_.stop();
  loop.join();
}

TEST_F(EventLoopWatchdogTest, StopEndsTheRoundsFromAnotherThread) {
  auto watchdog = make_watchdog(40ms, [](int, const Answer& answer) { answer(true, ""); });
  watchdog->start();
  std::thread loop([this] { io_.run(); });
  ASSERT_TRUE(socket_.await("WATCHDOG=1", kWait).has_value());
  watchdog->stop();
  loop.join();  // io.run() returns: the timer is cancelled and not armed again
  EXPECT_TRUE(io_.stopped());
}

}  // namespace
