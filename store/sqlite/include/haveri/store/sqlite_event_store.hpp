#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <haveri/core/event_store.hpp>

struct sqlite3;

namespace haveri::store {

struct SqliteOptions {
  std::filesystem::path path;        // the database file; its directory must exist
  std::string synchronous = "full";  // off | normal | full | extra
};

// The embedded EventStore: one SQLite file in WAL mode, migrated on open.
// Runs on: one thread at a time (the daemon's store thread); not thread-safe.
class SqliteEventStore final : public core::EventStore {
 public:
  // Opens or creates the file and applies pending migrations. Errors name the file
  // and the fix: unreadable file, not a database, schema newer than this binary.
  static core::Result<std::unique_ptr<SqliteEventStore>> open(const SqliteOptions& options);

  ~SqliteEventStore() override;
  SqliteEventStore(const SqliteEventStore&) = delete;
  SqliteEventStore& operator=(const SqliteEventStore&) = delete;

  core::Result<core::AppendOutcome> append(const core::AppendRequest& request) override;
  core::Result<std::vector<core::Event>> events(core::IncidentId incident) override;
  core::Result<std::optional<core::Incident>> incident(core::IncidentId incident) override;
  core::Result<std::vector<core::Incident>> incidents() override;
  core::Result<bool> has_receipt(std::string_view idempotency_key) override;
  core::Result<std::optional<core::IncidentId>> incident_by_channel(
      std::string_view instance, std::string_view channel_id) override;

  // PRAGMA user_version after migrating.
  int schema_version() const;

  // The highest schema version this binary knows.
  static int latest_schema_version() noexcept;

 private:
  struct PreparedStatements;  // defined in sqlite_event_store.cpp

  explicit SqliteEventStore(sqlite3* db, std::filesystem::path path);
  sqlite3* db_;  // owned; closed in the destructor
  std::filesystem::path path_;
  std::unique_ptr<PreparedStatements> statements_;  // prepared lazily, finalized before close
};

}  // namespace haveri::store
