#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/event_store.hpp>

struct sqlite3;

namespace haveri::store {

struct SqliteOptions {
  std::filesystem::path path;        // the database file; its directory must exist
  std::string synchronous = "full";  // off | normal | full | extra
  // A second connection to the file the writer store made, for reads only: the
  // daemon's API and search run on it, so they never wait for the writer and never
  // hold it up (WAL: a reader sees the last commit before its statement began). It
  // does not create or migrate the file: a missing file, one not in WAL mode, or one
  // whose schema is not latest_schema_version() is ErrorCode::storage telling to open
  // the writer first (or to upgrade haverid). It runs with PRAGMA query_only=ON;
  // every writing call (append, record_member, the outbox_* changes, batches,
  // rebuild_projections) is ErrorCode::refused. `synchronous` does not apply to it.
  bool reader = false;
  // How long one search may run before it is cut off and answered "matches too
  // much": chat searches run on the writer, ahead of everyone else's requests.
  std::chrono::milliseconds search_time_budget{1500};
};

// The embedded EventStore: one SQLite file in WAL mode, migrated on open. A migration
// that changes what the projections hold rebuilds them from the events, in the same
// transaction as the schema change.
// Runs on: one thread at a time (the daemon's store thread, or the thread that owns a
// reader); not thread-safe. Open one writer per file and as many readers as needed,
// each used by one thread at a time.
class SqliteEventStore final : public core::EventStore {
 public:
  // Opens or creates the file and applies pending migrations. Errors name the file
  // and the fix: unreadable file, not a database, schema newer than this binary.
  static core::Result<std::unique_ptr<SqliteEventStore>> open(const SqliteOptions& options);

  ~SqliteEventStore() override;
  SqliteEventStore(const SqliteEventStore&) = delete;
  SqliteEventStore& operator=(const SqliteEventStore&) = delete;

  // See core::EventStore for the contract of each call. Every error is a value: SQLite
  // failures are ErrorCode::storage with the file, what was being done and the fix.
  core::Result<core::AppendOutcome> append(const core::AppendRequest& request) override;
  core::Result<std::vector<core::Event>> events(core::IncidentId incident) override;
  core::Result<std::optional<core::Incident>> incident(core::IncidentId incident) override;
  core::Result<std::vector<core::Incident>> incidents(std::string_view organization) override;
  core::Result<std::vector<core::Incident>> incidents_with_timed_work() override;
  core::Result<bool> has_receipt(std::string_view idempotency_key) override;
  core::Result<std::optional<core::IncidentId>> incident_by_channel(
      std::string_view organization, std::string_view instance,
      std::string_view channel_id) override;

  core::Result<std::vector<core::FollowUpListing>> follow_ups(
      std::string_view organization, std::optional<std::string_view> assignee_member,
      bool include_done) override;

  core::Result<std::optional<core::Member>> member_by_identity(std::string_view organization,
                                                               std::string_view platform,
                                                               std::string_view user_id) override;
  // An identity already held by another member of the organization is
  // ErrorCode::conflict, and nothing is recorded.
  core::Result<bool> record_member(std::string_view organization, const core::Member& member,
                                   core::TimePoint first_seen) override;
  core::Result<std::vector<core::Member>> members(std::string_view organization) override;

  core::Result<std::vector<core::OutboxEntry>> pending_outbox() override;
  // outbox_done, outbox_retry and outbox_failed act on pending entries only: an id
  // that is not pending (never queued, done, removed or failed) is ErrorCode::not_found.
  core::VoidResult outbox_done(std::int64_t id) override;
  core::VoidResult outbox_retry(std::int64_t id, int attempts, core::TimePoint not_before,
                                std::string_view last_error) override;
  core::VoidResult outbox_failed(std::int64_t id, int attempts, std::string_view error,
                                 core::TimePoint at) override;
  // Ids that are not pending any more are skipped; the others go in one transaction.
  core::VoidResult outbox_remove(std::span<const std::int64_t> ids) override;
  core::Result<std::vector<core::OutboxFailure>> outbox_failures(std::size_t limit) override;

  // Full-text search (FTS5, unicode61 with diacritics removed: "kuhlhaus" finds
  // "Kühlhaus"). Indexed: titles (the first and every title change), chat messages and
  // the new text of their edits, notes, actions, and each summary's free text. A
  // message deleted on the platform is not found any more (its event stays on the
  // timeline). The query language (store/sqlite/src/search_query.hpp): words as typed
  // ("pump-3 down" works), "phrases", prefix*, AND/OR/NOT, (), NEAR(); anything
  // malformed, or longer than 500 bytes, is ErrorCode::invalid_argument with a message
  // for the person who typed it. Operators apply to single texts: `pump NOT motor` leaves out texts
  // that mention motor, not incidents. Scoped by organization in SQL (an empty one: all,
  // for the admin API); one hit per incident, from its best-ranked text (bm25), best
  // first, at most min(limit, 50).
  core::Result<std::vector<core::SearchHit>> search(std::string_view organization,
                                                    std::string_view query,
                                                    std::size_t limit) override;
  // Deletes and rewrites the incidents (and channel index), follow_ups and search
  // tables from the events, in one transaction (a savepoint inside a batch).
  core::VoidResult rebuild_projections() override;
  // One JSON array per row, table name first: incidents and follow_ups by their keys,
  // the search texts by (incident, sequence, field, text) without their row ids, and
  // every word the search index holds, by text and position. Reads one snapshot.
  // Meant for tests: it lists the whole database.
  core::Result<std::vector<std::string>> projection_rows() override;

  // Group commit: begin_batch is BEGIN IMMEDIATE, commit_batch COMMIT (the fsync, per
  // `synchronous`), rollback_batch ROLLBACK; a job is a SAVEPOINT. Inside a batch every
  // other call is a savepoint of its own, so a call that fails undoes only itself.
  // Calls out of order (commit without a batch, a second begin_batch, end_job without
  // a job) are ErrorCode::refused. When SQLite rolls the whole transaction back by
  // itself (a full disk, an I/O error), every later call and commit_batch fail with
  // ErrorCode::storage until rollback_batch: nothing of the batch is stored and
  // nothing runs outside it. A commit that fails is rolled back. Destroying the store
  // with a batch open rolls it back.
  core::VoidResult begin_batch() override;
  core::VoidResult commit_batch() override;
  void rollback_batch() noexcept override;
  core::VoidResult begin_job() override;
  core::VoidResult end_job(bool keep) override;

  // PRAGMA user_version after migrating.
  int schema_version() const;

  // The highest schema version this binary knows.
  static int latest_schema_version() noexcept;

 private:
  struct ConnectionState;  // defined in sqlite_event_store.cpp

  explicit SqliteEventStore(sqlite3* db, std::filesystem::path path);

  enum class Access { read, write };
  // Runs one public call (defined and used in sqlite_event_store.cpp only).
  template <class Body>
  auto run(std::string_view what, Access access, Body&& body);
  core::Error refused_on_reader(std::string_view what) const;

  sqlite3* db_;  // owned; closed in the destructor
  std::filesystem::path path_;
  // Prepared statements (lazily, finalized before close) and the batch in progress.
  std::unique_ptr<ConnectionState> state_;
};

}  // namespace haveri::store
