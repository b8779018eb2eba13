#pragma once
// Raw SQLite with exactly the store's schema and settings, for the ceilings the
// store is compared with (haveri_sqlite_bench, haveri_baseline_server).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include <haveri/store/sqlite_event_store.hpp>

namespace haveri::bench {

struct CloseConnection {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, CloseConnection>;

struct FinalizeStatement {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

inline std::runtime_error sqlite_failure(sqlite3* db, std::string_view what) {
  return std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

inline void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = std::string(sql) + ": " + (message != nullptr ? message : "?");
    sqlite3_free(message);
    throw std::runtime_error(text);
  }
}

// Creates `path` with the store's schema (by opening a SqliteEventStore on it, which
// migrates), then opens it again raw with the settings SqliteEventStore::open uses:
// WAL, synchronous=FULL, foreign keys, a 5 s busy timeout.
inline Connection open_with_store_schema(const std::filesystem::path& path) {
  {
    auto store = store::SqliteEventStore::open({path, "full"});
    if (!store) {
      throw std::runtime_error(store.error().message);
    }
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db{raw};
  if (rc != SQLITE_OK) {
    throw sqlite_failure(db.get(), "open " + path.string());
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), 5000);
  exec(db.get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
  return db;
}

inline Statement prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    throw sqlite_failure(db, std::string("prepare ") + sql);
  }
  return Statement{stmt};
}

// The two rows an append of one chat message writes at the least: the event and
// the inbound receipt of its idempotency key. The statements are the store's.
class EventRowWriter {
 public:
  explicit EventRowWriter(sqlite3* db)
      : db_(db),
        insert_event_(
            prepare(db,
                    "INSERT INTO events (incident_id, sequence, type, at_ms, actor_id, "
                    "actor_name, actor_member, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")),
        insert_receipt_(prepare(db,
                                "INSERT INTO inbound_receipts (idempotency_key, incident_id, "
                                "received_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")) {}

  struct Row {
    std::int64_t incident = 0;
    std::int64_t sequence = 0;
    std::int64_t at_ms = 0;
    std::string_view actor_id;
    std::string_view actor_member;
    std::string_view payload;          // the event payload as JSON text
    std::string_view idempotency_key;  // the inbound request's
  };

  // Writes both rows inside the caller's transaction. Returns false, writing
  // nothing, when the key was seen before (a retried request).
  bool write(const Row& row) {
    auto* receipt = insert_receipt_.get();
    sqlite3_bind_text(receipt, 1, row.idempotency_key.data(),
                      static_cast<int>(row.idempotency_key.size()), SQLITE_STATIC);
    sqlite3_bind_int64(receipt, 2, row.incident);
    sqlite3_bind_int64(receipt, 3, row.at_ms);
    step(receipt, "insert receipt");
    if (sqlite3_changes(db_) == 0) {
      return false;
    }
    auto* event = insert_event_.get();
    sqlite3_bind_int64(event, 1, row.incident);
    sqlite3_bind_int64(event, 2, row.sequence);
    sqlite3_bind_text(event, 3, "message", -1, SQLITE_STATIC);
    sqlite3_bind_int64(event, 4, row.at_ms);
    sqlite3_bind_text(event, 5, row.actor_id.data(), static_cast<int>(row.actor_id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(event, 6, row.actor_id.data(), static_cast<int>(row.actor_id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(event, 7, row.actor_member.data(), static_cast<int>(row.actor_member.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(event, 8, row.payload.data(), static_cast<int>(row.payload.size()),
                      SQLITE_STATIC);
    step(event, "insert event");
    return true;
  }

 private:
  void step(sqlite3_stmt* stmt, const char* what) {
    const int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
      throw sqlite_failure(db_, what);
    }
  }

  sqlite3* db_;
  Statement insert_event_;
  Statement insert_receipt_;
};

}  // namespace haveri::bench
