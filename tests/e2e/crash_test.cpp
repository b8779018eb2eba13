// The durability contract under crashes (DESIGN.md, "Durability contract"): eight
// chat clients declare incidents and talk in their channels through the real local
// plugin of a real haverid, which is killed with SIGKILL at random moments while
// the traffic flows and restarted on the same SQLite file. The clients retry what
// was cut off with the same client_message_id, as a platform retries, and deliver
// their last acknowledged request once more (a platform that lost the answer: the
// retry of a request that is certainly stored). In the end every acknowledged
// request is stored exactly once and the database is intact.
//
// The kill moments come from a seeded RNG; the seed is printed and a failing run is
// repeated with HAVERI_CRASH_SEED=<seed> (thread interleavings still differ).
//
// What was stored is read back through the HTTP API, not with SQL: the test holds
// the daemon to what a user sees, whatever the store's schema becomes. Only
// PRAGMA integrity_check opens the file itself, after a clean stop.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sqlite3.h>

#include "daemon_test.hpp"

namespace {

using namespace haveri::testing;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kClients = 8;
constexpr int kKills = 6;
constexpr std::size_t kBootstrapIncidents = 4;
// One request in this many is a declare; the rest are messages in incident channels.
constexpr std::uint64_t kDeclareOneIn = 20;
// Before each kill: acknowledged requests of this daemon (at least, at most), then
// a pause of up to kMaxKillDelay. Together they pick the random moment.
constexpr int kMinAcksBeforeKill = 1;
constexpr int kMaxAcksBeforeKill = 120;
constexpr milliseconds kMaxKillDelay{1000};
// Acknowledged requests after the last restart before the clients stop.
constexpr int kAcksAfterLastRestart = 40;
// Bounds on every wait of the test.
constexpr seconds kTrafficWait{20};
constexpr seconds kRestartWait{45};
constexpr int kMaxAttempts = 30;
constexpr int kMaxRequestsPerClient = 5000;

std::uint64_t seed_from_environment() {
  const char* text = std::getenv("HAVERI_CRASH_SEED");
  if (text != nullptr && *text != '\0') {
    return std::stoull(text);
  }
  std::random_device random;
  return (static_cast<std::uint64_t>(random()) << 32) | random();
}

// "2026-11-24T05:43:17.518Z" (the API's event time) in milliseconds since the epoch.
std::optional<std::int64_t> epoch_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + ms;
}

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One person's post through the local transport, as a platform would deliver it.
struct ChatRequest {
  bool declare = false;
  std::string channel;
  std::string user;
  std::string text;       // a message's text, or the declared incident's title
  std::string client_id;  // the same on every retry
  int attempts = 0;
  bool retried = false;               // an earlier attempt got no answer
  bool cut_off_mid_exchange = false;  // ... after it had been sent (it may be stored)
  int cut_off_generation = -1;        // the daemon that was killed under it
  // Sent again after it was acknowledged: a platform that lost our answer.
  bool replay = false;

  std::string body() const {
    const nlohmann::json json = {{"channel", channel},
                                 {"user", user},
                                 {"text", declare ? "/incident declare " + text + " sev2" : text},
                                 {"client_message_id", client_id}};
    return json.dump();
  }
};

// What happened to the requests sent to one daemon (one generation).
struct GenerationStats {
  int acknowledged = 0;
  int refused_connections = 0;  // the daemon was gone before the request was sent
  int cut_off = 0;              // sent (at least partly), then the connection broke
  int unavailable = 0;          // 503: not stored, retry later
  int replayed = 0;             // acknowledged requests sent again and acknowledged again
};

// Everything the client threads and the test share, behind one lock.
// Runs on: the test thread and the client threads.
class Traffic {
 public:
  struct Endpoint {
    int generation = 0;
    std::uint16_t port = 0;
  };

  void publish(std::uint16_t port, std::vector<std::string> channels) {
    {
      std::lock_guard lock(mutex_);
      ++endpoint_.generation;
      endpoint_.port = port;
      channels_ = std::move(channels);
      stats_.resize(static_cast<std::size_t>(endpoint_.generation) + 1);
    }
    changed_.notify_all();
  }

  Endpoint endpoint() const {
    std::lock_guard lock(mutex_);
    return endpoint_;
  }

  // Waits (bounded) until a daemon newer than `generation` listens; false on abort
  // or when none came.
  bool await_newer_than(int generation) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kRestartWait, [&] {
      return abort_ || endpoint_.generation > generation;
    }) && !abort_;
  }

  void set_channels(std::vector<std::string> channels) {
    std::lock_guard lock(mutex_);
    channels_ = std::move(channels);
  }

  std::vector<std::string> channels() const {
    std::lock_guard lock(mutex_);
    return channels_;
  }

  // Marks `generation` as being killed: broken connections to it are expected.
  void killing(int generation) {
    std::lock_guard lock(mutex_);
    killed_.insert(generation);
  }

  bool was_killed(int generation) const {
    std::lock_guard lock(mutex_);
    return killed_.contains(generation);
  }

  void stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }

  void abort() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      abort_ = true;
    }
    changed_.notify_all();
  }

  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stop_;
  }

  template <class Update>
  void count(int generation, Update update) {
    std::lock_guard lock(mutex_);
    update(stats_.at(static_cast<std::size_t>(generation)));
  }

  GenerationStats stats(int generation) const {
    std::lock_guard lock(mutex_);
    return stats_.at(static_cast<std::size_t>(generation));
  }

  void acknowledged(const ChatRequest& request, int generation) {
    std::lock_guard lock(mutex_);
    if (request.replay) {
      ++stats_.at(static_cast<std::size_t>(generation)).replayed;
    } else {
      ++stats_.at(static_cast<std::size_t>(generation)).acknowledged;
      acknowledged_.push_back(request);
    }
  }

  void problem(std::string what) {
    std::lock_guard lock(mutex_);
    problems_.push_back(std::move(what));
  }

  std::vector<ChatRequest> acknowledged_requests() const {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }

  std::vector<std::string> problems() const {
    std::lock_guard lock(mutex_);
    return problems_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Endpoint endpoint_;
  std::vector<std::string> channels_;
  std::vector<GenerationStats> stats_{1};
  std::set<int> killed_;
  bool stop_ = false;
  bool abort_ = false;
  std::vector<ChatRequest> acknowledged_;
  std::vector<std::string> problems_;
};

// One chat client: posts until told to stop, each request until it is answered.
// Runs on: its own thread.
class ChatClient {
 public:
  ChatClient(Traffic& traffic, int index, std::uint64_t seed)
      : traffic_(traffic), index_(index), random_(seed) {}

  void run() {
    const std::string user = "crash-u" + std::to_string(index_);
    int sent = 0;
    while (!traffic_.stopping() && sent < kMaxRequestsPerClient) {
      // After a restart, deliver the last acknowledged request once more, as a
      // platform does that lost the answer in the crash: stored by the killed
      // daemon for sure, remembered only by its idempotency key.
      if (replay_) {
        ChatRequest again = std::move(*replay_);
        replay_.reset();
        again.attempts = 0;
        again.replay = true;
        if (!deliver(again)) {
          return;
        }
        continue;
      }
      ChatRequest request;
      request.user = user;
      request.client_id = "c" + std::to_string(index_) + "-" + std::to_string(++sent);
      const auto channels = traffic_.channels();
      if (channels.empty() || random_() % kDeclareOneIn == 0) {
        request.declare = true;
        request.channel = "general";
        request.text = "Crash drill c" + std::to_string(index_) + " d" + std::to_string(sent);
      } else {
        request.channel = channels[random_() % channels.size()];
        request.text = "client " + std::to_string(index_) + " says " + std::to_string(sent) +
                       " in " + request.channel;
      }
      if (!deliver(request)) {
        return;
      }
    }
  }

 private:
  // Sends until the daemon acknowledges; false when the test gives up.
  bool deliver(ChatRequest& request) {
    const std::string body = request.body();
    while (true) {
      if (++request.attempts > kMaxAttempts) {
        traffic_.problem(request.client_id + ": no answer after " + std::to_string(kMaxAttempts) +
                         " attempts");
        return false;
      }
      const Traffic::Endpoint endpoint = traffic_.endpoint();
      const BlockingClient client(haveri::http::BaseUrl{"127.0.0.1", endpoint.port, ""});
      haveri::http::ClientResponse response;
      try {
        response = client.request("POST", "/hooks/local/messages", body, "application/json");
      } catch (const haveri::http::ClientError& e) {
        const bool before_sending =
            std::string_view(e.what()).find(": connect: ") != std::string_view::npos;
        traffic_.count(endpoint.generation, [&](GenerationStats& stats) {
          ++(before_sending ? stats.refused_connections : stats.cut_off);
        });
        if (!traffic_.was_killed(endpoint.generation)) {
          traffic_.problem(request.client_id +
                           ": connection failed while haverid ran: " + e.what());
          std::this_thread::sleep_for(milliseconds(50));
          continue;
        }
        request.retried = true;
        if (last_acknowledged_ && last_acknowledged_generation_ == endpoint.generation) {
          replay_ = std::move(last_acknowledged_);
          last_acknowledged_.reset();
        }
        if (!before_sending && !request.cut_off_mid_exchange) {
          request.cut_off_mid_exchange = true;
          request.cut_off_generation = endpoint.generation;
        }
        if (!traffic_.await_newer_than(endpoint.generation)) {
          return false;
        }
        continue;
      }
      if (response.status == 200) {
        traffic_.acknowledged(request, endpoint.generation);
        if (!request.replay) {
          last_acknowledged_ = request;
          last_acknowledged_generation_ = endpoint.generation;
        }
        return true;
      }
      if (response.status == 503) {
        traffic_.count(endpoint.generation, [](GenerationStats& stats) { ++stats.unavailable; });
        request.retried = true;
        std::this_thread::sleep_for(milliseconds(100));
        continue;
      }
      traffic_.problem(request.client_id + ": HTTP " + std::to_string(response.status) + " " +
                       response.body);
      return true;  // refused for good: nothing to retry, never acknowledged
    }
  }

  Traffic& traffic_;
  int index_;
  std::mt19937_64 random_;
  std::optional<ChatRequest> last_acknowledged_;
  int last_acknowledged_generation_ = 0;
  std::optional<ChatRequest> replay_;  // to deliver again once this request is done
};

// An incident as the API lists it.
struct ListedIncident {
  std::int64_t id = 0;
  std::string title;
  std::string channel;  // empty until the channel exists
};

class CrashEndToEnd : public DaemonTest {
 protected:
  std::vector<ListedIncident> incidents() {
    std::vector<ListedIncident> listed;
    const auto document = api("/api/v1/incidents");
    for (const auto& incident : document["incidents"]) {
      ListedIncident entry{incident.value("id", std::int64_t{0}), incident.value("title", ""), ""};
      if (incident.contains("channel") && incident["channel"].is_object()) {
        entry.channel = incident["channel"].value("name", "");
      }
      listed.push_back(std::move(entry));
    }
    return listed;
  }

  std::vector<std::string> incident_channels() {
    std::vector<std::string> channels;
    for (const auto& incident : incidents()) {
      if (!incident.channel.empty()) {
        channels.push_back(incident.channel);
      }
    }
    return channels;
  }

  // Waits (bounded) until this daemon has acknowledged `count` requests.
  bool await_acknowledged(const Traffic& traffic, int generation, int count) {
    const auto deadline = Clock::now() + kTrafficWait;
    while (traffic.stats(generation).acknowledged < count) {
      if (Clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

  // Every line of every log this test's daemons wrote at warn level or above.
  std::vector<std::string> complaints() const {
    std::vector<std::string> lines;
    for (int start = 1; start <= starts_; ++start) {
      std::istringstream log(
          read_file(dir_.path() / ("haverid-" + std::to_string(start) + ".log")));
      for (std::string line; std::getline(log, line);) {
        // spdlog's level names: "warning", "error", "critical".
        if (line.find(" warning ") != std::string::npos ||
            line.find(" error ") != std::string::npos ||
            line.find(" critical ") != std::string::npos ||
            line.find("Sanitizer") != std::string::npos ||
            line.find("runtime error") != std::string::npos) {
          lines.push_back("haverid-" + std::to_string(start) + ".log: " + line);
        }
      }
    }
    return lines;
  }

  std::string integrity_check() const {
    const auto file = dir_.path() / "data" / "haveri.db";
    sqlite3* db = nullptr;
    std::string result;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      result = std::string("cannot open ") + file.string() + ": " + sqlite3_errmsg(db);
    } else {
      sqlite3_stmt* statement = nullptr;
      if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr) == SQLITE_OK) {
        while (sqlite3_step(statement) == SQLITE_ROW) {
          const auto* text = sqlite3_column_text(statement, 0);
          result += (result.empty() ? "" : "\n") +
                    std::string(text != nullptr ? reinterpret_cast<const char*>(text) : "");
        }
      } else {
        result = std::string("PRAGMA integrity_check: ") + sqlite3_errmsg(db);
      }
      sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return result;
  }
};

TEST_F(CrashEndToEnd, KilledUnderTrafficLosesNothingAcknowledgedAndStoresRetriesOnce) {
  const auto started = Clock::now();
  const std::uint64_t seed = seed_from_environment();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with HAVERI_CRASH_SEED=" + std::to_string(seed) + ")");
  std::cout << "[ crash    ] seed " << seed << "\n";
  std::mt19937_64 random(seed);

  // A few incidents to talk in before the clients start.
  for (std::size_t i = 1; i <= kBootstrapIncidents; ++i) {
    ASSERT_EQ(say("general", "crash-boot",
                  "/incident declare Crash drill boot " + std::to_string(i) + " sev2",
                  "boot-" + std::to_string(i))
                  .status,
              200);
  }
  await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return doc["incidents"].size() == kBootstrapIncidents &&
           std::all_of(doc["incidents"].begin(), doc["incidents"].end(),
                       [](const auto& incident) { return incident["channel"].is_object(); });
  });

  Traffic traffic;
  traffic.publish(daemon_->port(), incident_channels());
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(
        [&traffic, i, client_seed = random()] { ChatClient(traffic, i, client_seed).run(); });
  }
  // Whatever happens below, the clients stop and are joined.
  struct Joiner {
    Traffic& traffic;
    std::vector<std::thread>& threads;
    ~Joiner() {
      traffic.abort();
      for (auto& thread : threads) {
        if (thread.joinable()) {
          thread.join();
        }
      }
    }
  } joiner{traffic, clients};

  std::map<int, std::int64_t> killed_at_ms;  // generation -> wall clock of its SIGKILL
  std::vector<double> restart_seconds;
  for (int kill = 1; kill <= kKills; ++kill) {
    const int generation = traffic.endpoint().generation;
    const int acks = std::uniform_int_distribution(kMinAcksBeforeKill, kMaxAcksBeforeKill)(random);
    const auto delay =
        milliseconds(std::uniform_int_distribution<std::int64_t>(0, kMaxKillDelay.count())(random));
    ASSERT_TRUE(await_acknowledged(traffic, generation, acks))
        << "no traffic: daemon " << generation << " acknowledged only "
        << traffic.stats(generation).acknowledged << " requests\n"
        << daemon_->log();
    // New incident channels become targets while the traffic flows.
    traffic.set_channels(incident_channels());
    std::this_thread::sleep_for(delay);

    traffic.killing(generation);
    killed_at_ms[generation] = now_epoch_ms();
    ASSERT_TRUE(daemon_->terminate(seconds(10), SIGKILL).has_value()) << "SIGKILL did not stop it";
    const auto restarting = Clock::now();
    start();
    restart_seconds.push_back(std::chrono::duration<double>(Clock::now() - restarting).count());
    traffic.publish(daemon_->port(), incident_channels());
  }
  ASSERT_TRUE(await_acknowledged(traffic, traffic.endpoint().generation, kAcksAfterLastRestart))
      << daemon_->log();
  traffic.stop();
  for (auto& thread : clients) {
    thread.join();
  }
  const auto traffic_done = Clock::now();

  // The clients are done: every request they started is acknowledged (or listed as
  // a problem). Stop cleanly and check the file.
  for (const auto& problem : traffic.problems()) {
    ADD_FAILURE() << problem;
  }
  ASSERT_EQ(daemon_->terminate(), 0) << daemon_->log();
  EXPECT_EQ(integrity_check(), "ok");

  // Each kill hit traffic in flight: requests acknowledged before it, requests cut
  // off by it. Otherwise this test would test nothing.
  int cut_off = 0;
  int replayed = 0;
  for (const auto& [generation, at] : killed_at_ms) {
    const GenerationStats stats = traffic.stats(generation);
    std::cout << "[ crash    ] daemon " << generation << ": " << stats.acknowledged
              << " acknowledged, " << stats.cut_off << " cut off mid-exchange, "
              << stats.refused_connections << " refused, " << stats.unavailable << " 503; "
              << "daemon " << generation + 1 << " got " << traffic.stats(generation + 1).replayed
              << " acknowledged requests again\n";
    EXPECT_GT(stats.acknowledged, 0) << "daemon " << generation;
    EXPECT_GT(stats.cut_off + stats.refused_connections, 0)
        << "the kill of daemon " << generation << " broke no request";
    cut_off += stats.cut_off;
    replayed += traffic.stats(generation + 1).replayed;
  }
  EXPECT_GT(cut_off, 0) << "no kill caught a request mid-exchange";
  EXPECT_GT(replayed, 0) << "no acknowledged request was delivered again after a restart";

  // Read everything back through the API of a fresh daemon on the same file. What
  // the outbox owed survived the kills too: every incident gets its channel.
  start();
  await("/api/v1/incidents", [](const nlohmann::json& doc) {
    return std::all_of(doc["incidents"].begin(), doc["incidents"].end(),
                       [](const auto& incident) { return incident["channel"].is_object(); });
  });
  std::map<std::string, std::vector<std::int64_t>> incidents_by_title;
  std::map<std::int64_t, std::string> channel_of;
  for (const auto& incident : incidents()) {
    incidents_by_title[incident.title].push_back(incident.id);
    channel_of[incident.id] = incident.channel;
  }
  // What is wrong, collected: a broken daemon would otherwise print a failure for
  // each of a thousand messages.
  std::vector<std::string> wrong;
  std::map<std::string, std::vector<std::pair<std::int64_t, std::string>>> stored_messages;
  for (const auto& [id, channel] : channel_of) {
    const auto timeline = api("/api/v1/incidents/" + std::to_string(id) + "/events");
    int declared = 0;
    std::int64_t expected_sequence = 1;
    for (const auto& event : timeline["events"]) {
      if (event.value("sequence", std::int64_t{0}) != expected_sequence++) {
        wrong.push_back("incident " + std::to_string(id) + ": event " + event.dump() + " is not #" +
                        std::to_string(expected_sequence - 1));
      }
      const std::string type = event.value("type", "");
      declared += type == "declared" ? 1 : 0;
      if (type == "message") {
        stored_messages[event["payload"].value("text", "")].emplace_back(id, event.value("at", ""));
      }
    }
    if (declared != 1) {
      wrong.push_back("incident " + std::to_string(id) + " has " + std::to_string(declared) +
                      " declared events");
    }
  }

  const auto acknowledged = traffic.acknowledged_requests();
  std::size_t declares = 0;
  std::size_t messages = 0;
  std::size_t retried = 0;
  std::size_t retried_declares = 0;
  std::size_t retried_cut_off = 0;
  std::size_t stored_by_first_attempt = 0;
  for (const auto& request : acknowledged) {
    retried += request.retried ? 1 : 0;
    if (request.declare) {
      ++declares;
      retried_declares += request.retried ? 1 : 0;
      const auto it = incidents_by_title.find(request.text);
      const std::size_t made = it == incidents_by_title.end() ? 0 : it->second.size();
      if (made != 1) {
        wrong.push_back("declare " + request.client_id + " \"" + request.text + "\" made " +
                        std::to_string(made) + " incidents" +
                        (request.retried ? " (retried)" : ""));
      }
      continue;
    }
    ++messages;
    const auto it = stored_messages.find(request.text);
    const std::size_t copies = it == stored_messages.end() ? 0 : it->second.size();
    if (copies != 1) {
      wrong.push_back("message " + request.client_id + " \"" + request.text + "\" stored " +
                      std::to_string(copies) + " times" + (request.retried ? " (retried)" : ""));
    } else {
      if (channel_of[it->second[0].first] != request.channel) {
        wrong.push_back("message " + request.client_id + " stored in incident " +
                        std::to_string(it->second[0].first));
      }
      // A retry of a request cut off mid-exchange, stored by the killed daemon:
      // the case the idempotency key exists for.
      if (request.cut_off_mid_exchange) {
        ++retried_cut_off;
        const auto at = epoch_ms(it->second[0].second);
        if (at && *at <= killed_at_ms[request.cut_off_generation]) {
          ++stored_by_first_attempt;
        }
      }
    }
  }
  // Nothing stored that nobody sent, and no incident nobody declared.
  std::size_t stored_message_count = 0;
  for (const auto& [text, copies] : stored_messages) {
    stored_message_count += copies.size();
  }
  EXPECT_EQ(stored_message_count, messages);
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " things wrong, the first: "
                             << ::testing::PrintToString(std::vector<std::string>(
                                    wrong.begin(), wrong.begin() + std::min<std::ptrdiff_t>(
                                                                       20, std::ssize(wrong))));
  EXPECT_EQ(channel_of.size(), declares + kBootstrapIncidents);
  EXPECT_GT(retried, 0u) << "no request was retried";

  std::ostringstream restarts;
  for (double s : restart_seconds) {
    restarts << " " << std::fixed << std::setprecision(2) << s << "s";
  }
  const auto complaints_logged = complaints();
  std::cout << "[ crash    ] " << kKills << " kills; " << messages << " messages and " << declares
            << " declares acknowledged; " << retried << " retried (" << retried_declares
            << " declares), " << retried_cut_off << " messages cut off mid-exchange, "
            << stored_by_first_attempt
            << " of them stored by the killed daemon; restarts:" << restarts.str() << "; traffic "
            << std::chrono::duration<double>(traffic_done - started).count() << "s, all "
            << std::chrono::duration<double>(Clock::now() - started).count() << "s; "
            << complaints_logged.size() << " warnings/errors logged\n";
  for (const auto& line : complaints_logged) {
    EXPECT_EQ(line.find("Sanitizer"), std::string::npos) << line;
    EXPECT_EQ(line.find("runtime error"), std::string::npos) << line;
    std::cout << "[ crash    ] " << line << "\n";
  }
  EXPECT_EQ(daemon_->terminate(), 0) << daemon_->log();
}

}  // namespace
