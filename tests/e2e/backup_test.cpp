// The backup and restore procedure of docs/operations.md, run for real: an online
// `sqlite3 .backup` taken while haverid writes, checked, and restored into a stopped
// haverid that then carries on from it.
#include <atomic>
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>

#include "daemon_test.hpp"

namespace {

using namespace haveri::testing;
using ::testing::HasSubstr;

class BackupEndToEnd : public DaemonTest {
 protected:
  std::filesystem::path database() const { return dir_.path() / "data" / "haveri.db"; }

  RunResult sqlite(const std::filesystem::path& file, const std::string& command) {
    return run_program("/usr/bin/sqlite3", {file.string(), command}, dir_.path());
  }

  std::size_t incident_count() { return api("/api/v1/incidents")["incidents"].size(); }

  void declare(int number) {
    const auto response = say("general", "alice",
                              "/incident declare Pump " + std::to_string(number) + " leaking sev3",
                              "declare-" + std::to_string(number));
    ASSERT_EQ(response.status, 200) << response.body;
  }
};

TEST_F(BackupEndToEnd, OnlineBackupTakenUnderWritesRestoresIntoAWorkingDaemon) {
  constexpr int kBefore = 8;
  constexpr int kDuring = 16;
  for (int i = 1; i <= kBefore; ++i) {
    declare(i);
  }
  await("/api/v1/incidents",
        [](const nlohmann::json& doc) { return doc["incidents"].size() == kBefore; });

  // Declarations keep arriving, on their own connection, while the backup runs.
  std::atomic<int> answered{0};
  std::thread writer([&] {
    BlockingClient client(haveri::http::BaseUrl{"127.0.0.1", daemon_->port(), ""});
    for (int i = kBefore + 1; i <= kBefore + kDuring; ++i) {
      nlohmann::json body = {{"channel", "general"},
                             {"user", "bob"},
                             {"text", "/incident declare Valve " + std::to_string(i) + " stuck"},
                             {"client_message_id", "during-" + std::to_string(i)}};
      if (client.request("POST", "/hooks/local/messages", body.dump(), "application/json").status ==
          200) {
        ++answered;
      }
    }
  });
  const auto backup_file = dir_.path() / "backup" / "haveri-backup.db";
  std::filesystem::create_directories(backup_file.parent_path());
  const auto backup = sqlite(database(), ".backup " + backup_file.string());
  writer.join();
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_EQ(answered.load(), kDuring);

  const auto integrity = sqlite(backup_file, "PRAGMA integrity_check");
  EXPECT_EQ(integrity.output, "ok\n");
  const auto counted = sqlite(backup_file, "SELECT count(*) FROM incidents");
  ASSERT_EQ(counted.exit_code, 0) << counted.output;
  const int in_backup = std::stoi(counted.output);
  EXPECT_GE(in_backup, kBefore);
  EXPECT_LE(in_backup, kBefore + kDuring);

  // Restore: stop, replace the file and drop the old write-ahead log beside it, start.
  ASSERT_EQ(daemon_->terminate(), 0) << daemon_->log();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(database().string() + suffix);
  }
  std::filesystem::copy_file(backup_file, database());
  start();
  EXPECT_EQ(incident_count(), static_cast<std::size_t>(in_backup));
  const auto ctl =
      run_program(build_dir() / "bin" / "haverictl", {"--url", url(), "rebuild", "--check"},
                  dir_.path(), std::nullopt, {std::string("HAVERI_API_TOKEN=") + kTestToken});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.output;
  EXPECT_THAT(ctl.output, HasSubstr("0 differed"));

  // It carries on from the backup: the next declaration takes the next number.
  declare(100);
  const auto after = await("/api/v1/incidents", [in_backup](const nlohmann::json& doc) {
    return doc["incidents"].size() == static_cast<std::size_t>(in_backup) + 1;
  });
  int highest = 0;
  for (const auto& incident : after["incidents"]) {
    highest = std::max(highest, incident.value("id", 0));
  }
  EXPECT_EQ(highest, in_backup + 1);
}

}  // namespace
