// SIGTERM drains (docs/configuration.md, server.drain_timeout_seconds): chat clients
// declare incidents through the real local plugin of a real haverid over keep-alive
// connections, one more connection sits idle, and SIGTERM arrives mid-traffic. The
// daemon exits 0 within the drain limit, every response is either complete or never
// started, and after a restart on the same SQLite file every acknowledged
// declaration is stored exactly once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "daemon_test.hpp"
#include "support/raw_http.hpp"

namespace {

using namespace haveri::testing;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr int kClients = 4;
constexpr int kAcksBeforeSigterm = 20;
constexpr seconds kDrainTimeout{5};
// How much longer than the drain limit the exit may take (store stop, plugins,
// sanitizers on a loaded machine).
constexpr seconds kExitMargin{10};
constexpr seconds kTrafficWait{30};
constexpr int kMaxRequestsPerClient = 2000;

// What the clients saw, behind one lock. Runs on: the test and client threads.
class Outcomes {
 public:
  void acknowledged(const std::string& title) {
    std::lock_guard lock(mutex_);
    acknowledged_.push_back(title);
  }
  void truncated(const std::string& what) {
    std::lock_guard lock(mutex_);
    truncated_.push_back(what);
  }
  void other_status(const std::string& what) {
    std::lock_guard lock(mutex_);
    other_.push_back(what);
  }
  void no_status() {
    std::lock_guard lock(mutex_);
    ++no_status_;
  }
  void connection_closed_after_answer() {
    std::lock_guard lock(mutex_);
    ++closed_after_answer_;
  }

  std::size_t acknowledged_count() const {
    std::lock_guard lock(mutex_);
    return acknowledged_.size();
  }
  std::vector<std::string> acknowledged_titles() const {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  std::vector<std::string> truncated_responses() const {
    std::lock_guard lock(mutex_);
    return truncated_;
  }
  std::vector<std::string> other_statuses() const {
    std::lock_guard lock(mutex_);
    return other_;
  }
  int no_status_count() const {
    std::lock_guard lock(mutex_);
    return no_status_;
  }
  int closed_after_answer_count() const {
    std::lock_guard lock(mutex_);
    return closed_after_answer_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  std::vector<std::string> truncated_;
  std::vector<std::string> other_;
  int no_status_ = 0;
  int closed_after_answer_ = 0;
};

std::string declaration(int client, int n) {
  const std::string title = "Drain drill c" + std::to_string(client) + " n" + std::to_string(n);
  const nlohmann::json body = {
      {"channel", "general"},
      {"user", "drain-u" + std::to_string(client)},
      {"text", "/incident declare " + title + " sev3"},
      {"client_message_id", "drain-c" + std::to_string(client) + "-" + std::to_string(n)}};
  const std::string text = body.dump();
  return "POST /hooks/local/messages HTTP/1.1\r\nHost: haverid\r\nContent-Type: "
         "application/json\r\nContent-Length: " +
         std::to_string(text.size()) + "\r\n\r\n" + text;
}

std::string title_of(int client, int n) {
  return "Drain drill c" + std::to_string(client) + " n" + std::to_string(n);
}

// Posts declarations over one keep-alive connection after another until the daemon
// refuses connections (it stopped accepting) or `stop` is set.
void post_declarations(std::uint16_t port, int client, const std::atomic<bool>& stop,
                       Outcomes& outcomes) {
  int n = 0;
  while (!stop.load() && n < kMaxRequestsPerClient) {
    RawClient connection(port);
    if (!connection.connected()) {
      return;  // the daemon stopped accepting
    }
    while (!stop.load() && n < kMaxRequestsPerClient) {
      ++n;
      if (!connection.send(declaration(client, n))) {
        outcomes.no_status();
        break;
      }
      const auto response = connection.read_response(milliseconds(20000));
      if (!response) {
        if (connection.received().empty()) {
          outcomes.no_status();
        } else {
          outcomes.truncated(title_of(client, n) + ": " + connection.received());
        }
        break;
      }
      if (response->status == 200) {
        outcomes.acknowledged(title_of(client, n));
      } else {
        outcomes.other_status(title_of(client, n) + ": " + response->status_line + " " +
                              response->body);
      }
      if (response->header("connection") == "close") {
        outcomes.connection_closed_after_answer();
        break;
      }
    }
  }
}

class DrainEndToEnd : public DaemonTest {
 protected:
  void SetUp() override {
    config_ = dir_.path() / "haveri.yaml";
    write_config(kDrainTimeout, "");
    start();
  }

  // The test configuration with the drain limit and `server_keys` in its server section.
  void write_config(seconds drain_timeout, const std::string& server_keys) {
    std::string config = test_config(dir_.path());
    const std::string port_line = "  port: 0\n";
    config.insert(
        config.find(port_line) + port_line.size(),
        "  drain_timeout_seconds: " + std::to_string(drain_timeout.count()) + "\n" + server_keys);
    write_file(config_, config);
  }

  bool await_log(const std::string& needle, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (daemon_->log().find(needle) == std::string::npos) {
      if (Clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  }
};

TEST_F(DrainEndToEnd, SigtermMidTrafficAnswersWhatWasReadAndLosesNoAcknowledgedDeclaration) {
  const std::uint16_t port = daemon_->port();
  RawClient idle(port);
  ASSERT_TRUE(idle.send("GET /healthz HTTP/1.1\r\nHost: haverid\r\n\r\n"));
  const auto healthy = idle.read_response();
  ASSERT_TRUE(healthy.has_value());
  ASSERT_EQ(healthy->status, 200);

  Outcomes outcomes;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(
        [port, i, &stop, &outcomes] { post_declarations(port, i, stop, outcomes); });
  }
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& thread : threads) {
        if (thread.joinable()) {
          thread.join();
        }
      }
    }
  } joiner{stop, clients};

  const auto traffic_deadline = Clock::now() + kTrafficWait;
  while (outcomes.acknowledged_count() < static_cast<std::size_t>(kAcksBeforeSigterm) &&
         Clock::now() < traffic_deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_GE(outcomes.acknowledged_count(), static_cast<std::size_t>(kAcksBeforeSigterm))
      << daemon_->log();

  const auto sigterm = Clock::now();
  const auto exit_code = daemon_->terminate(kDrainTimeout + kExitMargin);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - sigterm);
  ASSERT_TRUE(exit_code.has_value())
      << "haverid still runs " << took.count() << " ms after SIGTERM\n"
      << daemon_->log();
  EXPECT_EQ(*exit_code, 0) << daemon_->log();
  EXPECT_LT(took, kDrainTimeout + kExitMargin);

  // The idle connection was closed, unanswered (that the drain closes it before the
  // daemon exits is shown by the next test, whose drain is held open).
  EXPECT_TRUE(idle.await_close(milliseconds(1000)));
  EXPECT_TRUE(idle.received().empty()) << idle.received();

  stop = true;
  for (auto& thread : clients) {
    thread.join();
  }
  EXPECT_THAT(outcomes.truncated_responses(), ::testing::IsEmpty());
  EXPECT_THAT(outcomes.other_statuses(), ::testing::IsEmpty());

  const std::string log = daemon_->log();
  EXPECT_THAT(log, HasSubstr("received SIGTERM: draining (up to 5s)"));
  const std::regex drained(R"(drained: (\d+) request\(s\) finished, (\d+) connection\(s\) cut)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(log, match, drained)) << log;
  EXPECT_EQ(match[2], "0") << "a request was read but not answered within the drain";
  EXPECT_THAT(log, HasSubstr("haverid stopped"));
  std::cout << "[ drain    ] " << outcomes.acknowledged_count() << " declarations acknowledged, "
            << match[1] << " answered during the drain (" << outcomes.closed_after_answer_count()
            << " with Connection: close), " << outcomes.no_status_count()
            << " requests unanswered without a status; exit after " << took.count() << " ms\n";

  // Everything acknowledged is in the store, once; nothing is there twice.
  start();
  std::map<std::string, int> stored;
  const nlohmann::json listed = api("/api/v1/incidents");
  for (const auto& incident : listed["incidents"]) {
    ++stored[incident.value("title", "")];
  }
  std::vector<std::string> wrong;
  for (const auto& title : outcomes.acknowledged_titles()) {
    if (stored[title] != 1) {
      wrong.push_back(title + " stored " + std::to_string(stored[title]) + " times");
    }
  }
  for (const auto& [title, count] : stored) {
    if (count != 1) {
      wrong.push_back(title + " stored " + std::to_string(count) + " times");
    }
  }
  EXPECT_THAT(wrong, ::testing::IsEmpty());
  EXPECT_GE(stored.size(), outcomes.acknowledged_count());
  EXPECT_EQ(daemon_->terminate(), 0) << daemon_->log();
}

TEST_F(DrainEndToEnd, IdleConnectionsCloseAtOnceAndASecondSigtermEndsTheDrain) {
  // A request whose body never completes holds the drain (body timeout and drain
  // limit 120 s): only the second SIGTERM can end it in time.
  ASSERT_EQ(daemon_->terminate(), 0);
  write_config(seconds(120), "  body_timeout_seconds: 120\n");
  start();

  RawClient idle(daemon_->port());
  ASSERT_TRUE(idle.send("GET /healthz HTTP/1.1\r\nHost: haverid\r\n\r\n"));
  ASSERT_TRUE(idle.read_response().has_value());
  RawClient arriving(daemon_->port());
  ASSERT_TRUE(arriving.send(
      "POST /hooks/local/messages HTTP/1.1\r\nHost: haverid\r\nContent-Length: 100\r\n\r\n{"));
  ASSERT_EQ(api("/api/v1/incidents")["incidents"].size(), 0U);  // up, and the bytes are in

  ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
  ASSERT_TRUE(await_log("received SIGTERM: draining (up to 120s)", milliseconds(10000)))
      << daemon_->log();
  // The idle connection is closed by the drain while the daemon still runs.
  EXPECT_TRUE(idle.await_close(milliseconds(5000)));
  EXPECT_TRUE(idle.received().empty()) << idle.received();
  EXPECT_FALSE(wait_exit(daemon_->pid(), milliseconds(0)).has_value())
      << "haverid exited with a request still arriving:\n"
      << daemon_->log();
  EXPECT_THAT(daemon_->log(), ::testing::Not(HasSubstr("drained:")));

  const auto second = Clock::now();
  const auto exit_code = daemon_->terminate(seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << daemon_->log();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(Clock::now() - second, seconds(20));
  const std::string log = daemon_->log();
  EXPECT_THAT(log, HasSubstr("received SIGTERM again: ending the drain now"));
  EXPECT_THAT(log, HasSubstr("drained: 0 request(s) finished, 1 connection(s) cut"));
  EXPECT_THAT(log, HasSubstr("haverid stopped"));
  EXPECT_TRUE(arriving.await_close(milliseconds(1000)));
  EXPECT_TRUE(arriving.received().empty()) << arriving.received();
}

}  // namespace
