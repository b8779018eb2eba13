#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <haveri/store/sqlite_event_store.hpp>

#include "migrations.hpp"
#include "search_query.hpp"

namespace haveri::store {
namespace {

using core::AppendOutcome;
using core::AppendRequest;
using core::Error;
using core::ErrorCode;
using core::Event;
using core::FollowUp;
using core::FollowUpListing;
using core::Incident;
using core::IncidentId;
using core::make_error;
using core::Member;
using core::OutboxEntry;
using core::OutboxFailure;
using core::Result;
using core::Sequence;
using core::VoidResult;

std::string incident_name(IncidentId id) {
  return "INC-" + std::to_string(id);
}

std::string in_quotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

// What an operator should do about an error SQLite reports while opening or using the
// file. Keyed on the primary result code.
std::string_view fix_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return "it is not a SQLite database, or it is encrypted: move it away or point "
             "storage.sqlite.path elsewhere";
    case SQLITE_CORRUPT:
      return "the file is damaged: restore it from a backup, or move it away and point "
             "storage.sqlite.path elsewhere to start empty";
    case SQLITE_CANTOPEN:
      return "check that the directory exists and haverid may create files in it, or point "
             "storage.sqlite.path elsewhere";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "haverid needs read and write access to the file, its -wal and -shm files and "
             "their directory";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another process holds the database: is a second haverid running on this file?";
    case SQLITE_FULL:
      return "the disk is full: free some space";
    case SQLITE_IOERR:
      return "the disk or filesystem reported an error: check the system log";
    default:
      return {};
  }
}

// "<path>: <sqlite message> (<fix>)" for the connection's last error.
std::string describe(std::string_view path, sqlite3* db, int rc) {
  std::string message{path};
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (auto fix = fix_for(rc); !fix.empty()) {
    message += " (";
    message += fix;
    message += ')';
  }
  return message;
}

// A call made in a batch whose transaction SQLite rolled back by itself after a
// statement failed (SQLITE_FULL, SQLITE_IOERR…).
core::Error lost_batch(std::string_view path, std::string_view what) {
  return core::make_error(
      core::ErrorCode::storage,
      std::string(path) + ": " + std::string(what) +
          ": SQLite rolled back the batch's transaction after an earlier error in it (a full "
          "disk or an I/O error, reported to the call that met it); nothing of this batch is "
          "stored: roll the batch back and submit its work again");
}

int exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

// A prepared statement borrowed for one use: parameters are bound in order, and on
// scope exit it is reset (releasing its read snapshot) and its bindings cleared.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(std::int64_t value) {
    note(sqlite3_bind_int64(stmt_, ++index_, value));
    return *this;
  }
  Query& bind(std::string_view value) {
    // A null data pointer would bind SQL NULL; an empty string must stay a string.
    const char* data = value.empty() ? "" : value.data();
    note(sqlite3_bind_text64(stmt_, ++index_, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  Query& bind(std::optional<std::string_view> value) {
    if (value) {
      return bind(*value);
    }
    note(sqlite3_bind_null(stmt_, ++index_));
    return *this;
  }
  Query& bind(std::optional<std::int64_t> value) {
    if (value) {
      return bind(*value);
    }
    note(sqlite3_bind_null(stmt_, ++index_));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE, or the error (a failed bind included).
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    if (data == nullptr) {
      return {};
    }
    return std::string(reinterpret_cast<const char*>(data),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  void note(int rc) {
    if (bind_rc_ == SQLITE_OK) {
      bind_rc_ = rc;
    }
  }

  sqlite3_stmt* stmt_;
  int index_ = 0;
  int bind_rc_ = SQLITE_OK;
};

// One call's writes, all or nothing. On its own it is BEGIN IMMEDIATE … COMMIT; when
// a transaction is open already (a group commit batch, a job in it, a migration) it
// is a savepoint in it instead, so a failed call undoes its own writes only. Undone
// on scope exit unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) {
      undo();
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  int begin() {
    nested_ = sqlite3_get_autocommit(db_) == 0;
    const int rc = exec(db_, nested_ ? "SAVEPOINT haveri_call" : "BEGIN IMMEDIATE");
    open_ = rc == SQLITE_OK;
    return rc;
  }
  int commit() {
    if (lost()) {
      open_ = false;
      return SQLITE_ABORT_ROLLBACK;
    }
    const int rc = exec(db_, nested_ ? "RELEASE haveri_call" : "COMMIT");
    if (rc == SQLITE_OK) {
      open_ = false;
    }
    return rc;
  }
  // SQLite rolled back the enclosing transaction by itself (SQLITE_FULL,
  // SQLITE_IOERR…): nothing of it, this call included, is left to commit.
  bool lost() const { return open_ && sqlite3_get_autocommit(db_) != 0; }
  bool nested() const { return nested_; }

 private:
  void undo() {
    open_ = false;
    if (sqlite3_get_autocommit(db_) != 0) {
      return;  // rolled back by SQLite already
    }
    if (nested_) {
      // ROLLBACK TO keeps the savepoint open; RELEASE ends it. Should undoing fail,
      // the whole batch goes: its writes must not be committed half-undone (the
      // next call and commit_batch see it lost).
      if (exec(db_, "ROLLBACK TO haveri_call") != SQLITE_OK) {
        exec(db_, "ROLLBACK");
        return;
      }
      exec(db_, "RELEASE haveri_call");
    } else {
      exec(db_, "ROLLBACK");
    }
  }

  sqlite3* db_;
  bool open_ = false;
  bool nested_ = false;
};

// Every statement the store runs after opening, prepared once and kept.
enum class Sql : std::size_t {
  find_receipt,
  load_state,
  next_incident_id,
  insert_event,
  upsert_incident,
  insert_receipt,
  select_events,
  select_all_states,
  select_organization_states,
  select_timed_states,
  find_by_channel,
  select_incident_ids,
  delete_follow_ups,
  insert_follow_up,
  select_follow_ups,
  insert_member,
  insert_member_identity,
  find_member_by_identity,
  select_members,
  insert_outbox,
  select_pending_outbox,
  delete_pending_outbox,
  retry_outbox,
  fail_outbox,
  select_outbox_failures,
  insert_search_document,
  insert_search_index,
  select_message_documents,
  delete_search_index_row,
  delete_search_document,
  search_best_rows,
  search_snippet,
  count,
};

// The columns of an outbox row, in the order read_outbox_entry() expects them.
#define HAVERI_OUTBOX_COLUMNS                                                               \
  "id, organization, instance, lane, coalesce_key, operation_key, operation, incident_id, " \
  "attempts, not_before_ms, created_at_ms, last_error"

constexpr std::array<const char*, static_cast<std::size_t>(Sql::count)> kSqlText{
    // find_receipt
    "SELECT incident_id FROM inbound_receipts WHERE idempotency_key = ?",
    // load_state
    "SELECT state FROM incidents WHERE id = ?",
    // next_incident_id
    "SELECT COALESCE(MAX(id), 0) + 1 FROM incidents",
    // insert_event
    "INSERT INTO events (incident_id, sequence, type, at_ms, actor_id, actor_name, actor_member, "
    "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    // upsert_incident
    "INSERT INTO incidents (id, title, status, severity, declared_at_ms, updated_at_ms, "
    "last_sequence, channel_instance, channel_id, organization, state) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET title = excluded.title, status = excluded.status, "
    "severity = excluded.severity, declared_at_ms = excluded.declared_at_ms, "
    "updated_at_ms = excluded.updated_at_ms, last_sequence = excluded.last_sequence, "
    "channel_instance = excluded.channel_instance, channel_id = excluded.channel_id, "
    "organization = excluded.organization, state = excluded.state",
    // insert_receipt
    "INSERT INTO inbound_receipts (idempotency_key, incident_id, received_at_ms) "
    "VALUES (?, ?, ?)",
    // select_events
    "SELECT sequence, type, at_ms, actor_id, actor_name, actor_member, payload FROM events "
    "WHERE incident_id = ? ORDER BY sequence",
    // select_all_states
    "SELECT id, state FROM incidents ORDER BY id DESC",
    // select_organization_states
    "SELECT id, state FROM incidents WHERE organization = ? ORDER BY id DESC",
    // select_timed_states: not closed, or with a follow-up not done (the CLOSED and
    // DONE texts)
    "SELECT id, state FROM incidents AS i WHERE i.status <> ? OR EXISTS "
    "(SELECT 1 FROM follow_ups AS f WHERE f.incident_id = i.id AND f.status <> ?) "
    "ORDER BY id DESC",
    // find_by_channel
    "SELECT id FROM incidents WHERE channel_instance = ? AND channel_id = ? AND organization = ?",
    // select_incident_ids: every incident with events, projected or not
    "SELECT DISTINCT incident_id FROM events ORDER BY incident_id",
    // delete_follow_ups
    "DELETE FROM follow_ups WHERE incident_id = ?",
    // insert_follow_up
    "INSERT INTO follow_ups (organization, incident_id, number, description, assignee_member, "
    "assignee, due_ms, status, updated_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    // select_follow_ups: organization, assignee member (twice: NULL for any), include
    // done (0/1), the DONE status text.
    "SELECT f.incident_id, i.title, f.state FROM follow_ups AS f "
    "JOIN incidents AS i ON i.id = f.incident_id "
    "WHERE f.organization = ? AND (? IS NULL OR f.assignee_member = ?) AND (? OR f.status <> ?) "
    "ORDER BY f.incident_id, f.number",
    // insert_member
    "INSERT INTO members (organization, id, name, role, identities, first_seen_ms) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (organization, id) DO NOTHING",
    // insert_member_identity
    "INSERT INTO member_identities (organization, platform, user_id, member_id) "
    "VALUES (?, ?, ?, ?)",
    // find_member_by_identity
    "SELECT m.id, m.name, m.role, m.identities FROM member_identities AS i "
    "JOIN members AS m ON m.organization = i.organization AND m.id = i.member_id "
    "WHERE i.organization = ? AND i.platform = ? AND i.user_id = ?",
    // select_members
    "SELECT id, name, role, identities FROM members WHERE organization = ? ORDER BY id",
    // insert_outbox
    "INSERT INTO outbox (organization, instance, lane, coalesce_key, operation_key, operation, "
    "incident_id, attempts, not_before_ms, created_at_ms, last_error, state) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
    // select_pending_outbox
    "SELECT " HAVERI_OUTBOX_COLUMNS " FROM outbox WHERE state = 'pending' ORDER BY id",
    // delete_pending_outbox
    "DELETE FROM outbox WHERE id = ? AND state = 'pending'",
    // retry_outbox
    "UPDATE outbox SET attempts = ?, not_before_ms = ?, last_error = ? "
    "WHERE id = ? AND state = 'pending'",
    // fail_outbox
    "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ?, failed_at_ms = ? "
    "WHERE id = ? AND state = 'pending'",
    // select_outbox_failures
    "SELECT " HAVERI_OUTBOX_COLUMNS
    ", failed_at_ms FROM outbox WHERE state = 'failed' "
    "ORDER BY failed_at_ms DESC, id DESC LIMIT ?",
    // insert_search_document
    "INSERT INTO search_documents (organization, incident_id, sequence, field, text) "
    "VALUES (?, ?, ?, ?, ?)",
    // insert_search_index: external content, so the index is told the text itself
    "INSERT INTO search_index (rowid, text) VALUES (?, ?)",
    // select_message_documents: a message's texts (the message, its edits)
    "SELECT id, text FROM search_documents "
    "WHERE incident_id = ? AND sequence = ? AND field = 'message'",
    // delete_search_index_row: FTS5 needs the text that was indexed to unindex it
    "INSERT INTO search_index (search_index, rowid, text) VALUES ('delete', ?, ?)",
    // delete_search_document
    "DELETE FROM search_documents WHERE id = ?",
    // search_best_rows: the FTS5 expression, the organization (twice: '' for all),
    // the limit. The best row of each incident, best incident first. bm25() cannot be
    // used in a window function, hence the materialized CTE; the organization is
    // scoped here, never in the MATCH expression a person typed.
    "WITH matches AS MATERIALIZED ("
    "  SELECT d.incident_id, d.field, d.id, bm25(search_index) AS score "
    "  FROM search_index CROSS JOIN search_documents AS d ON d.id = search_index.rowid "
    "  WHERE search_index MATCH ? AND (? = '' OR d.organization = ?)) "
    "SELECT incident_id, field, id FROM ("
    "  SELECT *, row_number() OVER (PARTITION BY incident_id ORDER BY score, id) AS place "
    "  FROM matches) "
    "WHERE place = 1 ORDER BY score, incident_id DESC LIMIT ?",
    // search_snippet: the FTS5 expression, the row. About a dozen words around the
    // matches, matched terms in the message model's bold.
    "SELECT snippet(search_index, 0, '**', '**', '…', 12) FROM search_index "
    "WHERE search_index MATCH ? AND rowid = ?",
};

#undef HAVERI_OUTBOX_COLUMNS

using StatementSlots = std::array<sqlite3_stmt*, kSqlText.size()>;

// Owns prepared statements; finalizes them before the connection is closed.
struct StatementCache {
  StatementSlots slots{};

  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() {
    for (auto* stmt : slots) {
      sqlite3_finalize(stmt);  // a no-op for nullptr
    }
  }
};

std::int64_t to_ms(core::TimePoint at) {
  return at.time_since_epoch().count();
}

core::TimePoint from_ms(std::int64_t ms) {
  return core::TimePoint{std::chrono::milliseconds{ms}};
}

// JSON as stored: chat text is not guaranteed to be valid UTF-8, so invalid bytes
// become a replacement character rather than failing the append.
std::string stored_json(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The store's work for one call, over the open connection and its statement cache.
class Session {
 public:
  Session(sqlite3* db, std::string path, StatementSlots& statements)
      : db_(db), path_(std::move(path)), statements_(statements) {}

  Result<AppendOutcome> append(const AppendRequest& request);
  Result<std::vector<Event>> events(IncidentId id);
  Result<std::optional<Incident>> incident(IncidentId id);
  Result<std::vector<Incident>> incidents(std::string_view organization);
  Result<std::vector<Incident>> incidents_with_timed_work();
  Result<std::optional<IncidentId>> incident_by_channel(std::string_view organization,
                                                        std::string_view instance,
                                                        std::string_view channel_id);
  Result<std::vector<FollowUpListing>> follow_ups(std::string_view organization,
                                                  std::optional<std::string_view> assignee_member,
                                                  bool include_done);

  Result<std::optional<Member>> member_by_identity(std::string_view organization,
                                                   std::string_view platform,
                                                   std::string_view user_id);
  Result<bool> record_member(std::string_view organization, const Member& member,
                             core::TimePoint first_seen);
  Result<std::vector<Member>> members(std::string_view organization);

  Result<std::vector<OutboxEntry>> pending_outbox();
  VoidResult outbox_done(std::int64_t id);
  VoidResult outbox_retry(std::int64_t id, int attempts, core::TimePoint not_before,
                          std::string_view last_error);
  VoidResult outbox_failed(std::int64_t id, int attempts, std::string_view error,
                           core::TimePoint at);
  VoidResult outbox_remove(std::span<const std::int64_t> ids);
  Result<std::vector<OutboxFailure>> outbox_failures(std::size_t limit);

  // Cut off with ErrorCode::invalid_argument ("matches too much") after `budget`.
  Result<std::vector<core::SearchHit>> search(std::string_view organization, std::string_view query,
                                              std::size_t limit, std::chrono::milliseconds budget);

  // Rewrites every projection (incident list and channel index, follow-ups, search
  // index) from the events. refold_projections() runs inside the caller's
  // transaction (a migration); rebuild_projections() in one of its own.
  VoidResult refold_projections();
  VoidResult rebuild_projections();
  Result<std::vector<std::string>> projection_rows();

  struct Receipt {
    IncidentId incident = 0;  // 0: the key was recorded without an incident
  };
  Result<std::optional<Receipt>> find_receipt(const std::string& key);

 private:
  Error failure(std::string_view what, int rc) const {
    std::string message = describe(path_, db_, rc);
    // describe() starts with the path; put what we were doing right after it.
    message.insert(path_.size() + 2, std::string(what) + ": ");
    return make_error(ErrorCode::storage, std::move(message));
  }
  // A failed Transaction::commit() of the call doing `what`.
  Error commit_failure(std::string_view what, int rc) const {
    if (rc == SQLITE_ABORT_ROLLBACK) {
      return lost_batch(path_, what);
    }
    return failure(std::string(what) + ": commit", rc);
  }
  Error corrupt(std::string_view what, std::string_view detail) const {
    return make_error(ErrorCode::storage,
                      path_ + ": " + std::string(what) + ": " + std::string(detail));
  }

  // The statement for `which`, prepared on first use and kept; nullptr with `rc_out`
  // set on failure.
  sqlite3_stmt* statement(Sql which, int& rc_out) {
    const auto index = static_cast<std::size_t>(which);
    auto*& slot = statements_[index];
    rc_out = SQLITE_OK;
    if (slot == nullptr) {
      rc_out =
          sqlite3_prepare_v3(db_, kSqlText[index], -1, SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
      if (rc_out != SQLITE_OK) {
        sqlite3_finalize(slot);
        slot = nullptr;
      }
    }
    return slot;
  }

  // Runs a statement that returns no rows: `bind_all(query)` binds its parameters.
  // Returns how many rows it changed.
  template <class Bind>
  Result<int> change(Sql which, std::string_view what, Bind&& bind_all) {
    int rc = SQLITE_OK;
    auto* stmt = statement(which, rc);
    if (stmt == nullptr) {
      return failure(what, rc);
    }
    Query query(stmt);
    bind_all(query);
    rc = query.step();
    if (rc != SQLITE_DONE) {
      return failure(what, rc);
    }
    return sqlite3_changes(db_);
  }

  Result<Incident> decode_state(IncidentId id, const std::string& text) const;
  Result<Member> read_member(const Query& query, std::string_view organization) const;
  Result<std::optional<Incident>> load_state(IncidentId id);
  Result<IncidentId> next_incident_id();
  // Incident states a `which` statement selects as (id, state) rows.
  template <class Bind>
  Result<std::vector<Incident>> states(Sql which, const std::string& what, Bind&& bind);
  VoidResult insert_event(const Event& event);
  VoidResult upsert_projection(IncidentId id, const Incident& state);
  VoidResult replace_follow_ups(IncidentId id, const Incident& state);
  VoidResult insert_receipt(const std::string& key, std::optional<IncidentId> id,
                            std::int64_t received_at_ms);
  Result<std::int64_t> insert_outbox(const OutboxEntry& entry);
  // Adds the texts of `events` (of incident `id`, in `organization`) to the search
  // index, and takes deleted messages out of it.
  VoidResult index_events(std::string_view organization, IncidentId id,
                          std::span<const Event> events);
  VoidResult index_text(std::string_view organization, IncidentId id, Sequence sequence,
                        std::string_view field, std::string_view text);
  VoidResult unindex_message(IncidentId id, Sequence sequence);
  // outbox_done / outbox_retry / outbox_failed: `changed` rows of pending entry `id`.
  VoidResult pending_changed(Result<int> changed, std::int64_t id, std::string_view what) const;

  sqlite3* db_;
  std::string path_;
  StatementSlots& statements_;
};

Result<Incident> Session::decode_state(IncidentId id, const std::string& text) const {
  const std::string what = "stored state of " + incident_name(id);
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return corrupt(what, "not valid JSON (the projection can be rebuilt from the events)");
  }
  auto state = core::incident_from_json(json);
  if (!state) {
    return corrupt(what, state.error().message);
  }
  return std::move(state).value();
}

// Core reads follow-ups only as part of an incident snapshot: read the stored one as
// the only follow-up of an otherwise empty snapshot.
Result<FollowUp> decode_follow_up(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return make_error(ErrorCode::invalid_argument, "not valid JSON");
  }
  nlohmann::json snapshot = core::incident_to_json(Incident{});
  snapshot["follow_ups"] = nlohmann::json::array({std::move(json)});
  auto state = core::incident_from_json(snapshot);
  if (!state) {
    return state.error();
  }
  if (state->follow_ups.size() != 1) {
    return make_error(ErrorCode::invalid_argument, "not one follow-up");
  }
  return std::move(state->follow_ups.front());
}

Result<std::optional<Session::Receipt>> Session::find_receipt(const std::string& key) {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::find_receipt, rc);
  if (stmt == nullptr) {
    return failure("looking up idempotency key", rc);
  }
  Query query(stmt);
  query.bind(std::string_view{key});
  rc = query.step();
  if (rc == SQLITE_DONE) {
    return std::optional<Receipt>{};
  }
  if (rc != SQLITE_ROW) {
    return failure("looking up idempotency key", rc);
  }
  return std::optional<Receipt>{Receipt{query.is_null(0) ? 0 : query.int64(0)}};
}

Result<std::optional<Incident>> Session::load_state(IncidentId id) {
  int rc = SQLITE_OK;
  const std::string what = "reading " + incident_name(id);
  auto* stmt = statement(Sql::load_state, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  query.bind(std::int64_t{id});
  rc = query.step();
  if (rc == SQLITE_DONE) {
    return std::optional<Incident>{};
  }
  if (rc != SQLITE_ROW) {
    return failure(what, rc);
  }
  auto state = decode_state(id, query.text(0));
  if (!state) {
    return state.error();
  }
  return std::optional<Incident>{std::move(state).value()};
}

Result<IncidentId> Session::next_incident_id() {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::next_incident_id, rc);
  if (stmt == nullptr) {
    return failure("choosing the next incident id", rc);
  }
  Query query(stmt);
  rc = query.step();
  if (rc != SQLITE_ROW) {
    return failure("choosing the next incident id", rc);
  }
  return IncidentId{query.int64(0)};
}

VoidResult Session::insert_event(const Event& event) {
  const std::string what =
      "appending event " + std::to_string(event.sequence) + " to " + incident_name(event.incident);
  const std::string payload = stored_json(core::payload_to_json(event.payload));
  auto inserted = change(Sql::insert_event, what, [&](Query& query) {
    query.bind(std::int64_t{event.incident})
        .bind(std::int64_t{event.sequence})
        .bind(core::to_string(event.type()))
        .bind(to_ms(event.at))
        .bind(std::string_view{event.actor.id})
        .bind(std::string_view{event.actor.display_name})
        .bind(std::string_view{event.actor.member})
        .bind(std::string_view{payload});
  });
  if (!inserted) {
    return inserted.error();
  }
  return core::Done{};
}

VoidResult Session::upsert_projection(IncidentId id, const Incident& state) {
  int rc = SQLITE_OK;
  const std::string what = "updating the incident list for " + incident_name(id);
  auto* stmt = statement(Sql::upsert_incident, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  const std::string snapshot = stored_json(core::incident_to_json(state));
  std::optional<std::string_view> channel_instance;
  std::optional<std::string_view> channel_id;
  if (state.channel) {
    channel_instance = state.channel->instance;
    channel_id = state.channel->id;
  }
  Query query(stmt);
  query.bind(std::int64_t{id})
      .bind(std::string_view{state.title})
      .bind(core::to_string(state.status))
      .bind(core::to_string(state.severity))
      .bind(to_ms(state.declared_at))
      .bind(to_ms(state.updated_at))
      .bind(std::int64_t{state.last_sequence})
      .bind(channel_instance)
      .bind(channel_id)
      .bind(std::string_view{state.organization})
      .bind(std::string_view{snapshot});
  rc = query.step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE && state.channel) {
    Error error = failure(what, rc);
    error.message += " (channel " + state.channel->instance + "/" + state.channel->id +
                     " already belongs to another incident; nothing was recorded)";
    return error;
  }
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  return core::Done{};
}

VoidResult Session::replace_follow_ups(IncidentId id, const Incident& state) {
  const std::string what = "updating the follow-ups of " + incident_name(id);
  auto deleted =
      change(Sql::delete_follow_ups, what, [&](Query& query) { query.bind(std::int64_t{id}); });
  if (!deleted) {
    return deleted.error();
  }
  for (const FollowUp& follow_up : state.follow_ups) {
    std::optional<std::string_view> assignee_member;
    std::optional<std::string> assignee;
    if (follow_up.assignee) {
      assignee = stored_json(core::actor_to_json(*follow_up.assignee));
      if (!follow_up.assignee->member.empty()) {
        assignee_member = follow_up.assignee->member;
      }
    }
    const std::string snapshot = stored_json(core::follow_up_json(follow_up));
    auto inserted = change(Sql::insert_follow_up, what, [&](Query& query) {
      query.bind(std::string_view{state.organization})
          .bind(std::int64_t{id})
          .bind(std::int64_t{follow_up.number})
          .bind(std::string_view{follow_up.description})
          .bind(assignee_member)
          .bind(assignee ? std::optional<std::string_view>{*assignee} : std::nullopt)
          .bind(follow_up.due ? std::optional<std::int64_t>{to_ms(*follow_up.due)} : std::nullopt)
          .bind(core::to_string(follow_up.status))
          .bind(to_ms(follow_up.updated_at))
          .bind(std::string_view{snapshot});
    });
    if (!inserted) {
      return inserted.error();
    }
  }
  return core::Done{};
}

VoidResult Session::insert_receipt(const std::string& key, std::optional<IncidentId> id,
                                   std::int64_t received_at_ms) {
  auto inserted = change(Sql::insert_receipt, "recording idempotency key", [&](Query& query) {
    query.bind(std::string_view{key}).bind(id).bind(received_at_ms);
  });
  if (!inserted) {
    return inserted.error();
  }
  return core::Done{};
}

Result<std::int64_t> Session::insert_outbox(const OutboxEntry& entry) {
  const std::string what = "queueing outbound operation " + in_quotes(entry.operation_key) +
                           " for " + in_quotes(entry.instance);
  auto inserted = change(Sql::insert_outbox, what, [&](Query& query) {
    query.bind(std::string_view{entry.organization})
        .bind(std::string_view{entry.instance})
        .bind(std::string_view{entry.lane})
        .bind(std::string_view{entry.coalesce_key})
        .bind(std::string_view{entry.operation_key})
        .bind(std::string_view{entry.operation})
        .bind(entry.incident)
        .bind(std::int64_t{entry.attempts})
        .bind(to_ms(entry.not_before))
        .bind(to_ms(entry.created_at))
        .bind(std::string_view{entry.last_error});
  });
  if (!inserted) {
    return inserted.error();
  }
  return std::int64_t{sqlite3_last_insert_rowid(db_)};
}

Result<AppendOutcome> Session::append(const AppendRequest& request) {
  const bool queues_outbox = !request.outbox.empty() || static_cast<bool>(request.outbox_of);
  const std::string action = request.incident ? "append to " + incident_name(*request.incident)
                             : request.events.empty() ? std::string{"append without an incident"}
                                                      : std::string{"append to a new incident"};
  if (request.events.empty() && request.idempotency_key.empty() && !queues_outbox) {
    return make_error(ErrorCode::invalid_argument,
                      action +
                          ": no events, no outbox entries and no idempotency key, so nothing "
                          "to record");
  }
  if (!request.incident) {
    if (!request.events.empty() && request.events.front().type() != core::EventType::declared) {
      return make_error(ErrorCode::invalid_argument,
                        "a new incident must start with a declared event, not " +
                            in_quotes(core::to_string(request.events.front().type())));
    }
    if (request.expected_last_sequence != 0) {
      return make_error(ErrorCode::invalid_argument,
                        action + " expects last sequence 0, not " +
                            std::to_string(request.expected_last_sequence));
    }
  }

  Transaction transaction(db_);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failure(action + ": starting the transaction", rc);
  }

  if (!request.idempotency_key.empty()) {
    auto receipt = find_receipt(request.idempotency_key);
    if (!receipt) {
      return receipt.error();
    }
    if (*receipt) {
      AppendOutcome outcome;
      outcome.duplicate = true;
      outcome.incident = (*receipt)->incident;
      if (outcome.incident != 0) {
        auto state = load_state(outcome.incident);
        if (!state) {
          return state.error();
        }
        if (*state) {
          outcome.state = std::move(**state);
        }
      }
      return outcome;  // the transaction rolls back: nothing was written
    }
  }

  IncidentId id = 0;
  Incident state;
  if (request.incident) {
    id = *request.incident;
    auto loaded = load_state(id);
    if (!loaded) {
      return loaded.error();
    }
    if (!*loaded) {
      return make_error(ErrorCode::not_found, incident_name(id) + " does not exist");
    }
    state = std::move(**loaded);
    if (state.last_sequence != request.expected_last_sequence) {
      return make_error(ErrorCode::conflict, incident_name(id) + " is at sequence " +
                                                 std::to_string(state.last_sequence) + ", not " +
                                                 std::to_string(request.expected_last_sequence) +
                                                 ": reload it and decide again");
    }
  } else if (!request.events.empty()) {
    auto next = next_incident_id();
    if (!next) {
      return next.error();
    }
    id = *next;
  }
  // What the follow-up rows were made from, to skip rewriting them when no event
  // changed them (most events are chat messages).
  const std::vector<FollowUp> follow_ups_before = state.follow_ups;
  const std::string organization_before = state.organization;

  AppendOutcome outcome;
  outcome.incident = id;
  outcome.committed.reserve(request.events.size());
  Sequence sequence = state.last_sequence;
  for (const Event& requested : request.events) {
    Event event = requested;
    event.incident = id;
    event.sequence = ++sequence;
    if (auto inserted = insert_event(event); !inserted) {
      return inserted.error();
    }
    state = core::apply(std::move(state), event);
    outcome.committed.push_back(std::move(event));
  }
  // The next append's conflict check and sequence numbers come from the projection,
  // so it must account for every stored event.
  if (state.last_sequence != sequence) {
    return make_error(ErrorCode::storage,
                      path_ + ": append to " + incident_name(id) + ": the folded state stops at " +
                          "sequence " + std::to_string(state.last_sequence) +
                          " but the events go to " + std::to_string(sequence) +
                          " (a bug in haverid: please report it); nothing was recorded");
  }

  if (!request.events.empty()) {
    if (auto upserted = upsert_projection(id, state); !upserted) {
      return upserted.error();
    }
    if (auto indexed = index_events(state.organization, id, outcome.committed); !indexed) {
      return indexed.error();
    }
    if (state.follow_ups != follow_ups_before || state.organization != organization_before) {
      if (auto replaced = replace_follow_ups(id, state); !replaced) {
        return replaced.error();
      }
    }
  }

  std::vector<OutboxEntry> queued = request.outbox;
  if (request.outbox_of) {
    std::vector<OutboxEntry> derived;
    try {
      derived = request.outbox_of(state, outcome.committed);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::storage, path_ + ": " + action +
                                                ": deriving its outbound operations failed: " +
                                                e.what() + "; nothing was recorded");
    }
    queued.insert(queued.end(), std::make_move_iterator(derived.begin()),
                  std::make_move_iterator(derived.end()));
  }
  for (OutboxEntry& entry : queued) {
    auto inserted = insert_outbox(entry);
    if (!inserted) {
      return inserted.error();
    }
    entry.id = *inserted;
  }

  if (!request.idempotency_key.empty()) {
    // The events carry the time the request arrived (from the daemon's clock); a
    // key-only append has none, so fall back to the wall clock.
    const std::int64_t received_at_ms = request.events.empty()
                                            ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  core::Clock::now().time_since_epoch())
                                                  .count()
                                            : to_ms(request.events.back().at);
    const std::optional<IncidentId> receipt_incident =
        id != 0 ? std::optional<IncidentId>{id} : std::nullopt;
    if (auto recorded = insert_receipt(request.idempotency_key, receipt_incident, received_at_ms);
        !recorded) {
      return recorded.error();
    }
  }

  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return commit_failure(action, rc);
  }
  outcome.state = std::move(state);
  outcome.outbox = std::move(queued);
  return outcome;
}

Result<std::vector<Event>> Session::events(IncidentId id) {
  int rc = SQLITE_OK;
  const std::string what = "reading the events of " + incident_name(id);
  auto* stmt = statement(Sql::select_events, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  query.bind(std::int64_t{id});
  std::vector<Event> events;
  while ((rc = query.step()) == SQLITE_ROW) {
    const Sequence sequence = query.int64(0);
    const std::string where = incident_name(id) + " event " + std::to_string(sequence);
    const std::string type_text = query.text(1);
    const auto type = core::parse_event_type(type_text);
    if (!type) {
      return corrupt(where, "unknown event type " + in_quotes(type_text) +
                                " (written by a newer haverid? upgrade haverid)");
    }
    const auto json = nlohmann::json::parse(query.text(6), nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      return corrupt(where, "payload is not valid JSON");
    }
    auto payload = core::payload_from_json(*type, json);
    if (!payload) {
      return corrupt(where, payload.error().message);
    }
    Event event;
    event.incident = id;
    event.sequence = sequence;
    event.at = from_ms(query.int64(2));
    event.actor = core::Actor{query.text(3), query.text(4), query.text(5)};
    event.payload = std::move(payload).value();
    events.push_back(std::move(event));
  }
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  if (events.empty()) {
    return make_error(ErrorCode::not_found, incident_name(id) + " does not exist");
  }
  return events;
}

Result<std::optional<Incident>> Session::incident(IncidentId id) {
  return load_state(id);
}

Result<std::vector<Incident>> Session::incidents(std::string_view organization) {
  const std::string what = organization.empty()
                               ? std::string{"reading the incident list"}
                               : "reading the incident list of " + in_quotes(organization);
  return states(organization.empty() ? Sql::select_all_states : Sql::select_organization_states,
                what, [&](Query& query) {
                  if (!organization.empty()) {
                    query.bind(organization);
                  }
                });
}

Result<std::vector<Incident>> Session::incidents_with_timed_work() {
  const std::string_view closed = core::to_string(core::Status::closed);
  const std::string_view done = core::to_string(core::FollowUpStatus::done);
  return states(Sql::select_timed_states, "reading the incidents time can act on",
                [&](Query& query) { query.bind(closed).bind(done); });
}

template <class Bind>
Result<std::vector<Incident>> Session::states(Sql which, const std::string& what, Bind&& bind) {
  int rc = SQLITE_OK;
  auto* stmt = statement(which, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  bind(query);
  std::vector<Incident> incidents;
  while ((rc = query.step()) == SQLITE_ROW) {
    auto state = decode_state(query.int64(0), query.text(1));
    if (!state) {
      return state.error();
    }
    incidents.push_back(std::move(state).value());
  }
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  return incidents;
}

Result<std::optional<IncidentId>> Session::incident_by_channel(std::string_view organization,
                                                               std::string_view instance,
                                                               std::string_view channel_id) {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::find_by_channel, rc);
  if (stmt == nullptr) {
    return failure("looking up a channel", rc);
  }
  Query query(stmt);
  query.bind(instance).bind(channel_id).bind(organization);
  rc = query.step();
  if (rc == SQLITE_DONE) {
    return std::optional<IncidentId>{};
  }
  if (rc != SQLITE_ROW) {
    return failure("looking up a channel", rc);
  }
  return std::optional<IncidentId>{query.int64(0)};
}

Result<std::vector<FollowUpListing>> Session::follow_ups(
    std::string_view organization, std::optional<std::string_view> assignee_member,
    bool include_done) {
  int rc = SQLITE_OK;
  const std::string what = "reading the follow-ups of " + in_quotes(organization);
  auto* stmt = statement(Sql::select_follow_ups, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  query.bind(organization)
      .bind(assignee_member)
      .bind(assignee_member)
      .bind(std::int64_t{include_done ? 1 : 0})
      .bind(core::to_string(core::FollowUpStatus::done));
  std::vector<FollowUpListing> listings;
  while ((rc = query.step()) == SQLITE_ROW) {
    FollowUpListing listing;
    listing.organization = std::string(organization);
    listing.incident = query.int64(0);
    listing.incident_title = query.text(1);
    auto follow_up = decode_follow_up(query.text(2));
    if (!follow_up) {
      return corrupt(
          "stored follow-up of " + incident_name(listing.incident),
          follow_up.error().message + " (the projection can be rebuilt from the events)");
    }
    listing.follow_up = std::move(follow_up).value();
    listings.push_back(std::move(listing));
  }
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  return listings;
}

// Columns: id, name, role, identities.
Result<Member> Session::read_member(const Query& query, std::string_view organization) const {
  Member member;
  member.id = query.text(0);
  member.name = query.text(1);
  member.role = query.text(2);
  const std::string what =
      "stored member " + in_quotes(member.id) + " of " + in_quotes(organization);
  const auto identities = nlohmann::json::parse(query.text(3), nullptr, /*allow_exceptions=*/false);
  if (!identities.is_object()) {
    return corrupt(what, "identities are not a JSON object");
  }
  for (const auto& [platform, user_id] : identities.items()) {
    if (!user_id.is_string()) {
      return corrupt(what, "the identity on " + in_quotes(platform) + " is not a string");
    }
    member.identities.emplace(platform, user_id.get<std::string>());
  }
  return member;
}

Result<std::optional<Member>> Session::member_by_identity(std::string_view organization,
                                                          std::string_view platform,
                                                          std::string_view user_id) {
  int rc = SQLITE_OK;
  const std::string what = "looking up the member " + std::string(platform) + "/" +
                           std::string(user_id) + " of " + in_quotes(organization);
  auto* stmt = statement(Sql::find_member_by_identity, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  query.bind(organization).bind(platform).bind(user_id);
  rc = query.step();
  if (rc == SQLITE_DONE) {
    return std::optional<Member>{};
  }
  if (rc != SQLITE_ROW) {
    return failure(what, rc);
  }
  auto member = read_member(query, organization);
  if (!member) {
    return member.error();
  }
  return std::optional<Member>{std::move(member).value()};
}

Result<bool> Session::record_member(std::string_view organization, const Member& member,
                                    core::TimePoint first_seen) {
  const std::string what =
      "recording member " + in_quotes(member.id) + " of " + in_quotes(organization);
  if (member.id.empty()) {
    return make_error(ErrorCode::invalid_argument, what + ": the member id is empty");
  }
  Transaction transaction(db_);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failure(what + ": starting the transaction", rc);
  }
  const std::string identities = stored_json(nlohmann::json(member.identities));
  auto inserted = change(Sql::insert_member, what, [&](Query& query) {
    query.bind(organization)
        .bind(std::string_view{member.id})
        .bind(std::string_view{member.name})
        .bind(std::string_view{member.role})
        .bind(std::string_view{identities})
        .bind(to_ms(first_seen));
  });
  if (!inserted) {
    return inserted.error();
  }
  if (*inserted == 0) {
    return false;  // known already; the transaction rolls back having written nothing
  }
  for (const auto& [platform, user_id] : member.identities) {
    int rc = SQLITE_OK;
    auto* stmt = statement(Sql::insert_member_identity, rc);
    if (stmt == nullptr) {
      return failure(what, rc);
    }
    Query query(stmt);
    query.bind(organization)
        .bind(std::string_view{platform})
        .bind(std::string_view{user_id})
        .bind(std::string_view{member.id});
    rc = query.step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
      return make_error(ErrorCode::conflict,
                        path_ + ": " + what + ": the identity " + platform + "/" + user_id +
                            " already belongs to another member; nothing was recorded");
    }
    if (rc != SQLITE_DONE) {
      return failure(what, rc);
    }
  }
  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return commit_failure(what, rc);
  }
  return true;
}

Result<std::vector<Member>> Session::members(std::string_view organization) {
  int rc = SQLITE_OK;
  const std::string what = "reading the members of " + in_quotes(organization);
  auto* stmt = statement(Sql::select_members, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  Query query(stmt);
  query.bind(organization);
  std::vector<Member> members;
  while ((rc = query.step()) == SQLITE_ROW) {
    auto member = read_member(query, organization);
    if (!member) {
      return member.error();
    }
    members.push_back(std::move(member).value());
  }
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  return members;
}

// Columns: those HAVERI_OUTBOX_COLUMNS lists, in its order.
OutboxEntry read_outbox_entry(const Query& query) {
  OutboxEntry entry;
  entry.id = query.int64(0);
  entry.organization = query.text(1);
  entry.instance = query.text(2);
  entry.lane = query.text(3);
  entry.coalesce_key = query.text(4);
  entry.operation_key = query.text(5);
  entry.operation = query.text(6);
  if (!query.is_null(7)) {
    entry.incident = query.int64(7);
  }
  entry.attempts = static_cast<int>(query.int64(8));
  entry.not_before = from_ms(query.int64(9));
  entry.created_at = from_ms(query.int64(10));
  entry.last_error = query.text(11);
  return entry;
}

Result<std::vector<OutboxEntry>> Session::pending_outbox() {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::select_pending_outbox, rc);
  if (stmt == nullptr) {
    return failure("reading the outbox", rc);
  }
  Query query(stmt);
  std::vector<OutboxEntry> entries;
  while ((rc = query.step()) == SQLITE_ROW) {
    entries.push_back(read_outbox_entry(query));
  }
  if (rc != SQLITE_DONE) {
    return failure("reading the outbox", rc);
  }
  return entries;
}

VoidResult Session::pending_changed(Result<int> changed, std::int64_t id,
                                    std::string_view what) const {
  if (!changed) {
    return changed.error();
  }
  if (*changed == 0) {
    return make_error(ErrorCode::not_found, path_ + ": " + std::string(what) + ": outbox entry " +
                                                std::to_string(id) + " is not pending");
  }
  return core::Done{};
}

VoidResult Session::outbox_done(std::int64_t id) {
  const std::string what = "removing performed outbox entry " + std::to_string(id);
  return pending_changed(
      change(Sql::delete_pending_outbox, what, [&](Query& query) { query.bind(id); }), id, what);
}

VoidResult Session::outbox_retry(std::int64_t id, int attempts, core::TimePoint not_before,
                                 std::string_view last_error) {
  const std::string what = "scheduling a retry of outbox entry " + std::to_string(id);
  return pending_changed(
      change(Sql::retry_outbox, what,
             [&](Query& query) {
               query.bind(std::int64_t{attempts}).bind(to_ms(not_before)).bind(last_error).bind(id);
             }),
      id, what);
}

VoidResult Session::outbox_failed(std::int64_t id, int attempts, std::string_view error,
                                  core::TimePoint at) {
  const std::string what = "marking outbox entry " + std::to_string(id) + " failed";
  return pending_changed(
      change(Sql::fail_outbox, what,
             [&](Query& query) {
               query.bind(std::int64_t{attempts}).bind(error).bind(to_ms(at)).bind(id);
             }),
      id, what);
}

VoidResult Session::outbox_remove(std::span<const std::int64_t> ids) {
  if (ids.empty()) {
    return core::Done{};
  }
  const std::string what = "removing " + std::to_string(ids.size()) + " superseded outbox entr" +
                           (ids.size() == 1 ? "y" : "ies");
  Transaction transaction(db_);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failure(what + ": starting the transaction", rc);
  }
  for (const std::int64_t id : ids) {
    auto removed = change(Sql::delete_pending_outbox, what, [&](Query& query) { query.bind(id); });
    if (!removed) {
      return removed.error();
    }
  }
  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return commit_failure(what, rc);
  }
  return core::Done{};
}

Result<std::vector<OutboxFailure>> Session::outbox_failures(std::size_t limit) {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::select_outbox_failures, rc);
  if (stmt == nullptr) {
    return failure("reading the failed outbox entries", rc);
  }
  Query query(stmt);
  constexpr auto kMaxLimit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  query.bind(static_cast<std::int64_t>(std::min(limit, kMaxLimit)));
  std::vector<OutboxFailure> failures;
  while ((rc = query.step()) == SQLITE_ROW) {
    OutboxFailure failed;
    failed.entry = read_outbox_entry(query);
    failed.failed_at = from_ms(query.int64(12));
    failures.push_back(std::move(failed));
  }
  if (rc != SQLITE_DONE) {
    return failure("reading the failed outbox entries", rc);
  }
  return failures;
}

VoidResult Session::refold_projections() {
  // From scratch: a projection row no event accounts for must not survive either.
  // 'delete-all' empties an external-content index without reading the old texts.
  if (const int rc = exec(db_,
                          "DELETE FROM incidents; DELETE FROM follow_ups; "
                          "DELETE FROM search_documents; "
                          "INSERT INTO search_index (search_index) VALUES ('delete-all');");
      rc != SQLITE_OK) {
    return failure("clearing the projections to rebuild them", rc);
  }
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::select_incident_ids, rc);
  if (stmt == nullptr) {
    return failure("listing the incidents to rebuild", rc);
  }
  std::vector<IncidentId> ids;
  {
    Query query(stmt);
    while ((rc = query.step()) == SQLITE_ROW) {
      ids.push_back(query.int64(0));
    }
    if (rc != SQLITE_DONE) {
      return failure("listing the incidents to rebuild", rc);
    }
  }
  for (const IncidentId id : ids) {
    auto history = events(id);
    if (!history) {
      return history.error();
    }
    const Incident state = core::fold(*history);
    if (state.last_sequence != static_cast<Sequence>(history->size())) {
      return corrupt("rebuilding " + incident_name(id),
                     "its events are not numbered 1, 2, 3… without gaps");
    }
    if (auto upserted = upsert_projection(id, state); !upserted) {
      return upserted.error();
    }
    if (auto replaced = replace_follow_ups(id, state); !replaced) {
      return replaced.error();
    }
    if (auto indexed = index_events(state.organization, id, *history); !indexed) {
      return indexed.error();
    }
  }
  return core::Done{};
}

VoidResult Session::rebuild_projections() {
  const std::string what = "rebuilding the projections from the events";
  Transaction transaction(db_);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failure(what + ": starting the transaction", rc);
  }
  if (auto rebuilt = refold_projections(); !rebuilt) {
    return rebuilt.error();
  }
  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return commit_failure(what, rc);
  }
  return core::Done{};
}

// What an edit or a deletion of a captured chat message looks like on the timeline
// (docs/events.md, annotation; written by IncidentEngine::handle_edit).
constexpr std::string_view kMessageEdited = core::kMessageEditedPrefix;
constexpr std::string_view kMessageDeleted = core::kMessageDeletedText;

// Every free-text part of a summary, one per line.
std::string summary_text(const core::Summary& summary) {
  std::string text;
  const auto add = [&text](std::string_view part) {
    if (part.empty()) {
      return;
    }
    if (!text.empty()) {
      text += '\n';
    }
    text += part;
  };
  add(summary.what_happened);
  add(summary.root_cause);
  add(summary.resolution);
  for (const auto& [label, value] : summary.impact.other) {
    add(label + ": " + value);
  }
  return text;
}

VoidResult Session::index_text(std::string_view organization, IncidentId id, Sequence sequence,
                               std::string_view field, std::string_view text) {
  if (text.empty()) {
    return core::Done{};
  }
  const std::string what = "indexing the " + std::string(field) + " of " + incident_name(id) +
                           " event " + std::to_string(sequence) + " for search";
  auto inserted = change(Sql::insert_search_document, what, [&](Query& query) {
    query.bind(organization)
        .bind(std::int64_t{id})
        .bind(std::int64_t{sequence})
        .bind(field)
        .bind(text);
  });
  if (!inserted) {
    return inserted.error();
  }
  const std::int64_t row = sqlite3_last_insert_rowid(db_);
  auto indexed =
      change(Sql::insert_search_index, what, [&](Query& query) { query.bind(row).bind(text); });
  if (!indexed) {
    return indexed.error();
  }
  return core::Done{};
}

VoidResult Session::unindex_message(IncidentId id, Sequence sequence) {
  const std::string what = "taking deleted message " + std::to_string(sequence) + " of " +
                           incident_name(id) + " out of the search index";
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::select_message_documents, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  std::vector<std::pair<std::int64_t, std::string>> rows;
  {
    Query query(stmt);
    query.bind(std::int64_t{id}).bind(std::int64_t{sequence});
    while ((rc = query.step()) == SQLITE_ROW) {
      rows.emplace_back(query.int64(0), query.text(1));
    }
    if (rc != SQLITE_DONE) {
      return failure(what, rc);
    }
  }
  for (const auto& [id_of_row, text_of_row] : rows) {
    // Copies: clang before 16 (and so clang-tidy) cannot capture structured bindings.
    const std::int64_t row = id_of_row;
    const std::string_view text = text_of_row;
    auto unindexed = change(Sql::delete_search_index_row, what,
                            [&](Query& query) { query.bind(row).bind(text); });
    if (!unindexed) {
      return unindexed.error();
    }
    auto deleted =
        change(Sql::delete_search_document, what, [&](Query& query) { query.bind(row); });
    if (!deleted) {
      return deleted.error();
    }
  }
  return core::Done{};
}

VoidResult Session::index_events(std::string_view organization, IncidentId id,
                                 std::span<const Event> events) {
  for (const Event& event : events) {
    VoidResult indexed = core::Done{};
    if (const auto* declared = std::get_if<core::Declared>(&event.payload)) {
      indexed = index_text(organization, id, event.sequence, "title", declared->title);
    } else if (const auto* retitled = std::get_if<core::TitleChanged>(&event.payload)) {
      indexed = index_text(organization, id, event.sequence, "title", retitled->to);
    } else if (const auto* posted = std::get_if<core::MessagePosted>(&event.payload)) {
      indexed = index_text(organization, id, event.sequence, "message", posted->text);
    } else if (const auto* note = std::get_if<core::Annotation>(&event.payload)) {
      const std::string_view text = note->text;
      if (note->refers_to_sequence && text.starts_with(kMessageEdited)) {
        // The new text is found as the message it replaces; the old one stays findable
        // too, as the timeline keeps it.
        indexed = index_text(organization, id, *note->refers_to_sequence, "message",
                             text.substr(kMessageEdited.size()));
      } else if (note->refers_to_sequence && text == kMessageDeleted) {
        // Deleted on the platform: no longer found by search (the timeline keeps it).
        indexed = unindex_message(id, *note->refers_to_sequence);
      } else {
        indexed = index_text(organization, id, event.sequence, "note", text);
      }
    } else if (const auto* action = std::get_if<core::ActionTaken>(&event.payload)) {
      indexed = index_text(organization, id, event.sequence, "action", action->text);
    } else if (const auto* summary = std::get_if<core::SummaryRecorded>(&event.payload)) {
      indexed =
          index_text(organization, id, event.sequence, "summary", summary_text(summary->summary));
    }
    if (!indexed) {
      return indexed.error();
    }
  }
  return core::Done{};
}

// Interrupts the connection's statements once `budget` has passed, while it lives.
class SearchDeadline {
 public:
  SearchDeadline(sqlite3* db, std::chrono::milliseconds budget)
      : db_(db), until_(std::chrono::steady_clock::now() + budget) {
    // Every 100 virtual machine instructions: well under a microsecond apart.
    sqlite3_progress_handler(db_, 100, &SearchDeadline::check, this);
  }
  ~SearchDeadline() { sqlite3_progress_handler(db_, 0, nullptr, nullptr); }
  SearchDeadline(const SearchDeadline&) = delete;
  SearchDeadline& operator=(const SearchDeadline&) = delete;

  bool passed() const { return passed_; }

 private:
  static int check(void* self) {
    auto* deadline = static_cast<SearchDeadline*>(self);
    deadline->passed_ = std::chrono::steady_clock::now() > deadline->until_;
    return deadline->passed_ ? 1 : 0;
  }

  sqlite3* db_;
  std::chrono::steady_clock::time_point until_;
  bool passed_ = false;
};

Result<std::vector<core::SearchHit>> Session::search(std::string_view organization,
                                                     std::string_view query, std::size_t limit,
                                                     std::chrono::milliseconds budget) {
  auto expression = sqlite::fts5_expression(query);
  if (!expression) {
    return expression.error();
  }
  constexpr std::size_t kMaxHits = 50;
  const std::size_t wanted = std::min(limit, kMaxHits);
  std::vector<core::SearchHit> hits;
  if (wanted == 0) {
    return hits;
  }
  const std::string what = organization.empty()
                               ? std::string{"searching every organization"}
                               : "searching the incidents of " + in_quotes(organization);
  // A search runs where chat commands run (the writer, ahead of other requests),
  // so one that matches too much is cut off rather than allowed to hold it up.
  SearchDeadline deadline(db_, budget);
  // SQLite refusing an expression fts5_expression() let through is still the
  // searcher's problem to rephrase, not a storage failure.
  const auto searched_failure = [&](int rc) -> Error {
    if ((rc & 0xff) == SQLITE_INTERRUPT && deadline.passed()) {
      return sqlite::refused_search(
          query, "it matches too much to answer quickly; use longer or rarer words");
    }
    const std::string_view message = sqlite3_errmsg(db_);
    // FTS5 names most syntax errors "fts5: …" but not all ("unterminated string"):
    // any plain SQLITE_ERROR of a search over tables that exist is the query's fault.
    if ((rc & 0xff) == SQLITE_ERROR && !message.starts_with("no such")) {
      return sqlite::refused_search(query, message);
    }
    return failure(what, rc);
  };
  struct Best {
    IncidentId incident = 0;
    std::string field;
    std::int64_t row = 0;
  };
  std::vector<Best> best;
  {
    int rc = SQLITE_OK;
    auto* stmt = statement(Sql::search_best_rows, rc);
    if (stmt == nullptr) {
      return failure(what, rc);
    }
    Query rows(stmt);
    rows.bind(std::string_view{*expression})
        .bind(organization)
        .bind(organization)
        .bind(static_cast<std::int64_t>(wanted));
    while ((rc = rows.step()) == SQLITE_ROW) {
      best.push_back(Best{rows.int64(0), rows.text(1), rows.int64(2)});
    }
    if (rc != SQLITE_DONE) {
      return searched_failure(rc);
    }
  }
  hits.reserve(best.size());
  for (const Best& found : best) {
    int rc = SQLITE_OK;
    auto* stmt = statement(Sql::search_snippet, rc);
    if (stmt == nullptr) {
      return failure(what, rc);
    }
    core::SearchHit hit;
    {
      Query snippet(stmt);
      snippet.bind(std::string_view{*expression}).bind(found.row);
      rc = snippet.step();
      if (rc == SQLITE_ROW) {
        hit.snippet = snippet.text(0);
      } else if (rc != SQLITE_DONE) {
        return searched_failure(rc);
      }
    }
    auto state = load_state(found.incident);
    if (!state) {
      return state.error();
    }
    if (!*state) {
      continue;  // indexed but not projected: rebuild_projections() mends it
    }
    hit.incident = found.incident;
    hit.organization = (*state)->organization;
    hit.title = (*state)->title;
    hit.status = (*state)->status;
    hit.severity = (*state)->severity;
    hit.channel = (*state)->channel;
    hit.field = found.field;
    hits.push_back(std::move(hit));
  }
  return hits;
}

Result<std::vector<std::string>> Session::projection_rows() {
  // Ordered by each table's key. Search rows leave out their ids, which follow the
  // order texts were indexed in, not what they say; the index is listed word by word.
  static constexpr std::array<std::pair<std::string_view, const char*>, 4> kTables{{
      {"incidents", "SELECT * FROM incidents ORDER BY id"},
      {"follow_ups", "SELECT * FROM follow_ups ORDER BY incident_id, number"},
      {"search_documents",
       "SELECT incident_id, sequence, field, organization, text FROM search_documents "
       "ORDER BY incident_id, sequence, field, text"},
      {"search_index",
       "SELECT d.incident_id, d.sequence, d.field, t.term, t.offset FROM search_terms AS t "
       "JOIN search_documents AS d ON d.id = t.doc "
       "ORDER BY d.incident_id, d.sequence, d.field, t.term, t.offset"},
  }};
  // One snapshot for every table, unless a transaction (a batch) is open already.
  const bool own_snapshot = sqlite3_get_autocommit(db_) != 0;
  if (own_snapshot) {
    if (const int rc = exec(db_, "BEGIN"); rc != SQLITE_OK) {
      return failure("reading the projections", rc);
    }
  }
  std::vector<std::string> lines;
  int rc = SQLITE_OK;
  for (const auto& [table, sql] : kTables) {
    const std::string what = "reading the projection table " + std::string(table);
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
    if (rc != SQLITE_OK) {
      break;
    }
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      // A JSON array: the table, then each column; unambiguous whatever the texts hold.
      nlohmann::json row = nlohmann::json::array({table});
      for (int column = 0; column < sqlite3_column_count(raw); ++column) {
        switch (sqlite3_column_type(raw, column)) {
          case SQLITE_NULL:
            row.push_back(nullptr);
            break;
          case SQLITE_INTEGER:
            row.push_back(sqlite3_column_int64(raw, column));
            break;
          case SQLITE_FLOAT:
            row.push_back(sqlite3_column_double(raw, column));
            break;
          default: {
            const auto* text = sqlite3_column_text(raw, column);
            row.push_back(std::string(text == nullptr ? "" : reinterpret_cast<const char*>(text),
                                      static_cast<std::size_t>(sqlite3_column_bytes(raw, column))));
            break;
          }
        }
      }
      lines.push_back(stored_json(row));
    }
    if (rc != SQLITE_DONE) {
      break;
    }
    rc = SQLITE_OK;
  }
  std::optional<Error> error;
  if (rc != SQLITE_OK) {
    error = failure("reading the projections", rc);  // before COMMIT resets the message
  }
  if (own_snapshot) {
    exec(db_, "COMMIT");  // a read transaction: nothing to keep or lose
  }
  if (error) {
    return *error;
  }
  return lines;
}

// Runs `body`, turning anything thrown (allocation failure, a JSON encoder surprise)
// into a storage error: nothing escapes the store. An open transaction is rolled back
// by its guard while the exception unwinds.
template <class Body>
auto guarded(const std::filesystem::path& path, std::string_view what, Body&& body)
    -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::storage,
                      path.string() + ": " + std::string(what) + ": " + e.what());
  } catch (...) {
    return make_error(ErrorCode::storage,
                      path.string() + ": " + std::string(what) + ": unknown exception");
  }
}

// Runs one statement that returns one value in one row, e.g. a PRAGMA.
template <class Read>
int query_one(sqlite3* db, const char* sql, Read&& read) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      read(stmt);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_ERROR;  // every statement we ask this of returns a row
    }
  }
  sqlite3_finalize(stmt);
  return rc;
}

int read_user_version(sqlite3* db, int& version) {
  return query_one(db, "PRAGMA user_version",
                   [&](sqlite3_stmt* stmt) { version = sqlite3_column_int(stmt, 0); });
}

// Applies every pending migration, and the projection rebuild any of them asks for,
// in one transaction: a crash or an error leaves the file at the version it had.
VoidResult migrate(sqlite3* db, const std::string& path) {
  const int latest = SqliteEventStore::latest_schema_version();
  int current = 0;
  if (const int rc = read_user_version(db, current); rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db, rc));
  }
  auto too_new = [&] {
    return make_error(ErrorCode::storage, path + " has schema version " + std::to_string(current) +
                                              " but this haverid knows only up to " +
                                              std::to_string(latest) + ": upgrade haverid");
  };
  if (current > latest) {
    return too_new();
  }
  if (current == latest) {
    return core::Done{};
  }
  auto failed = [&](const std::string& what, int rc) {
    std::string message = describe(path, db, rc);
    message.insert(path.size() + 2, what + " failed: ");
    message += "; the database stays at schema version " + std::to_string(current);
    return make_error(ErrorCode::storage, std::move(message));
  };
  // Statements the rebuild prepares are finalized after the transaction ends.
  StatementCache statements;
  Transaction transaction(db);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failed("migrating", rc);
  }
  // Another process may have migrated between our read and our write lock.
  if (const int rc = read_user_version(db, current); rc != SQLITE_OK) {
    return failed("migrating", rc);
  }
  if (current > latest) {
    return too_new();
  }
  bool refold = false;
  for (const auto& migration : sqlite::migrations()) {
    if (migration.version <= current) {
      continue;
    }
    const std::string what = "migration " + std::to_string(migration.version) + " (" +
                             std::string(migration.description) + ")";
    if (const int rc = exec(db, std::string(migration.sql).c_str()); rc != SQLITE_OK) {
      return failed(what, rc);
    }
    refold = refold || migration.refold;
  }
  if (refold) {
    auto rebuilt = Session(db, path, statements.slots).refold_projections();
    if (!rebuilt) {
      // The detail starts with the path already; say it once.
      std::string detail = rebuilt.error().message;
      if (detail.starts_with(path + ": ")) {
        detail.erase(0, path.size() + 2);
      }
      return make_error(ErrorCode::storage,
                        path +
                            ": rebuilding the projections from the events while migrating "
                            "failed: " +
                            detail + "; the database stays at schema version " +
                            std::to_string(current));
    }
  }
  const std::string version = "PRAGMA user_version = " + std::to_string(latest);
  if (const int rc = exec(db, version.c_str()); rc != SQLITE_OK) {
    return failed("migrating", rc);
  }
  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return failed("migrating", rc);
  }
  return core::Done{};
}

// A reader does not migrate: the file must be at the schema this binary writes.
VoidResult check_reader_schema(sqlite3* db, const std::string& path) {
  const int latest = SqliteEventStore::latest_schema_version();
  int current = 0;
  if (const int rc = read_user_version(db, current); rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db, rc));
  }
  if (current > latest) {
    return make_error(ErrorCode::storage, path + " has schema version " + std::to_string(current) +
                                              " but this haverid knows only up to " +
                                              std::to_string(latest) + ": upgrade haverid");
  }
  if (current < latest) {
    return make_error(ErrorCode::storage,
                      path + " has schema version " + std::to_string(current) +
                          " but this haverid reads version " + std::to_string(latest) +
                          " only, and a reader does not migrate: open the writer store first "
                          "(it migrates the file), then the reader");
  }
  return core::Done{};
}

std::optional<std::string_view> parse_synchronous(std::string_view text) {
  static constexpr std::array<std::string_view, 4> kModes{"off", "normal", "full", "extra"};
  for (auto mode : kModes) {
    if (std::equal(mode.begin(), mode.end(), text.begin(), text.end(), [](char a, char b) {
          return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
        })) {
      return mode;
    }
  }
  return std::nullopt;
}

struct ConnectionCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

Result<Connection> open_connection(const SqliteOptions& options, std::string_view synchronous) {
  const std::string path = options.path.string();
  std::error_code ec;
  const auto directory = options.path.parent_path();
  if (!directory.empty() && !std::filesystem::is_directory(directory, ec)) {
    const bool exists = std::filesystem::exists(directory, ec);
    return make_error(ErrorCode::storage,
                      path + ": directory " + directory.string() +
                          (exists ? " is not a directory" : " does not exist") +
                          " (create it, or point storage.sqlite.path elsewhere)");
  }
  if (std::filesystem::is_directory(options.path, ec)) {
    return make_error(ErrorCode::storage,
                      path +
                          " is a directory, not a database file (point storage.sqlite.path "
                          "at a file, e.g. " +
                          (options.path / "haveri.db").string() + ")");
  }

  if (options.reader && !std::filesystem::exists(options.path, ec)) {
    return make_error(ErrorCode::storage,
                      path +
                          " does not exist: the reader connection opens a database the writer "
                          "made (open the writer store first; it creates and migrates the file)");
  }

  sqlite3* raw = nullptr;
  // A reader opens read-write without create: WAL readers write the -shm index, and
  // query_only keeps it from changing the database.
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.reader ? 0 : SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db{raw};
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // Before anything that locks: a second process briefly holding the file is waited for.
  sqlite3_busy_timeout(db.get(), 5000);

  // The first statement reads the header, so this is where a file that is not a
  // database, or a damaged one, shows up. A reader only asks: switching to WAL is a
  // write, and the writer did it when it made the file.
  std::string journal_mode;
  rc = query_one(db.get(), options.reader ? "PRAGMA journal_mode" : "PRAGMA journal_mode=WAL",
                 [&](sqlite3_stmt* stmt) {
                   const auto* text = sqlite3_column_text(stmt, 0);
                   journal_mode = text != nullptr ? reinterpret_cast<const char*>(text) : "";
                 });
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  if (journal_mode != "wal" && options.reader) {
    return make_error(ErrorCode::storage,
                      path + " is in journal mode " + in_quotes(journal_mode) +
                          ", not WAL: a reader would block the writer (open the writer store "
                          "first; it switches the file to WAL)");
  }
  if (journal_mode != "wal") {
    return make_error(ErrorCode::storage,
                      path + ": could not switch to WAL journal mode (SQLite kept " +
                          in_quotes(journal_mode) +
                          "); WAL needs a local filesystem with shared memory: put "
                          "storage.sqlite.path on a local disk");
  }
  if (options.reader) {
    if (rc = exec(db.get(), "PRAGMA query_only=ON"); rc != SQLITE_OK) {
      return make_error(ErrorCode::storage, describe(path, db.get(), rc));
    }
    return db;
  }

  const std::string pragmas =
      "PRAGMA synchronous=" + std::string(synchronous) + "; PRAGMA foreign_keys=ON;";
  if (rc = exec(db.get(), pragmas.c_str()); rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  return db;
}

}  // namespace

// What the store keeps besides the connection: its prepared statements and where it
// stands in a group commit batch.
struct SqliteEventStore::ConnectionState {
  StatementCache cache;
  bool reader = false;  // SqliteOptions::reader: query_only, writes refused
  std::chrono::milliseconds search_budget{1500};  // SqliteOptions::search_time_budget
  bool batch_open = false;   // begin_batch() … commit_batch() / rollback_batch()
  int jobs_open = 0;         // begin_job() savepoints not ended yet
  std::string batch_broken;  // why the open batch must not commit; empty if it may
};

SqliteEventStore::SqliteEventStore(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)), state_(std::make_unique<ConnectionState>()) {}

SqliteEventStore::~SqliteEventStore() {
  // An open batch is undone, as if the process had stopped: nothing of it was durable.
  rollback_batch();
  state_.reset();  // finalize every statement before closing the connection
  sqlite3_close_v2(db_);
}

core::Result<std::unique_ptr<SqliteEventStore>> SqliteEventStore::open(
    const SqliteOptions& options) {
  return guarded(
      options.path, "opening the event store",
      [&]() -> core::Result<std::unique_ptr<SqliteEventStore>> {
        if (options.path.empty()) {
          return make_error(ErrorCode::invalid_argument,
                            "storage.sqlite.path is empty (set it to the database "
                            "file, e.g. /var/lib/haveri/haveri.db)");
        }
        const auto synchronous = parse_synchronous(options.synchronous);
        if (!synchronous) {
          return make_error(ErrorCode::invalid_argument,
                            "storage.sqlite.synchronous: " + in_quotes(options.synchronous) +
                                " is not one of off, normal, full, extra");
        }
        auto db = open_connection(options, *synchronous);
        if (!db) {
          return db.error();
        }
        auto ready = options.reader ? check_reader_schema(db->get(), options.path.string())
                                    : migrate(db->get(), options.path.string());
        if (!ready) {
          return ready.error();
        }
        std::unique_ptr<SqliteEventStore> store(new SqliteEventStore(db->release(), options.path));
        store->state_->reader = options.reader;
        store->state_->search_budget = options.search_time_budget;
        return store;
      });
}

int SqliteEventStore::latest_schema_version() noexcept {
  return sqlite::migrations().empty() ? 0 : sqlite::migrations().back().version;
}

int SqliteEventStore::schema_version() const {
  int version = -1;
  if (read_user_version(db_, version) != SQLITE_OK) {
    return -1;
  }
  return version;
}

core::Error SqliteEventStore::refused_on_reader(std::string_view what) const {
  return make_error(ErrorCode::refused,
                    path_.string() + ": " + std::string(what) +
                        ": this store is the reader connection (SqliteOptions::reader), which "
                        "never writes: write through the writer store");
}

// Every public call but open() and the batch calls: exceptions become errors, and a
// call in a batch SQLite has rolled back by itself fails instead of running outside it.
template <class Body>
auto SqliteEventStore::run(std::string_view what, Access access, Body&& body) {
  using Answer = decltype(body(std::declval<Session&>()));
  return guarded(path_, what, [&]() -> Answer {
    if (access == Access::write && state_->reader) {
      return refused_on_reader(what);
    }
    if (state_->batch_open && sqlite3_get_autocommit(db_) != 0) {
      return lost_batch(path_.string(), what);
    }
    Session session(db_, path_.string(), state_->cache.slots);
    return body(session);
  });
}

core::Result<core::AppendOutcome> SqliteEventStore::append(const core::AppendRequest& request) {
  return run("append", Access::write, [&](Session& session) { return session.append(request); });
}

core::Result<std::vector<core::Event>> SqliteEventStore::events(core::IncidentId incident) {
  return run("reading events", Access::read,
             [&](Session& session) { return session.events(incident); });
}

core::Result<std::optional<core::Incident>> SqliteEventStore::incident(core::IncidentId incident) {
  return run("reading an incident", Access::read,
             [&](Session& session) { return session.incident(incident); });
}

core::Result<std::vector<core::Incident>> SqliteEventStore::incidents(
    std::string_view organization) {
  return run("reading the incident list", Access::read,
             [&](Session& session) { return session.incidents(organization); });
}

core::Result<std::vector<core::Incident>> SqliteEventStore::incidents_with_timed_work() {
  return run("reading the incidents time can act on", Access::read,
             [&](Session& session) { return session.incidents_with_timed_work(); });
}

core::Result<bool> SqliteEventStore::has_receipt(std::string_view idempotency_key) {
  return run("looking up an idempotency key", Access::read,
             [&](Session& session) -> core::Result<bool> {
               auto receipt = session.find_receipt(std::string(idempotency_key));
               if (!receipt) {
                 return receipt.error();
               }
               return receipt->has_value();
             });
}

core::Result<std::optional<core::IncidentId>> SqliteEventStore::incident_by_channel(
    std::string_view organization, std::string_view instance, std::string_view channel_id) {
  return run("looking up a channel", Access::read, [&](Session& session) {
    return session.incident_by_channel(organization, instance, channel_id);
  });
}

core::Result<std::vector<core::FollowUpListing>> SqliteEventStore::follow_ups(
    std::string_view organization, std::optional<std::string_view> assignee_member,
    bool include_done) {
  return run("reading follow-ups", Access::read, [&](Session& session) {
    return session.follow_ups(organization, assignee_member, include_done);
  });
}

core::Result<std::optional<core::Member>> SqliteEventStore::member_by_identity(
    std::string_view organization, std::string_view platform, std::string_view user_id) {
  return run("looking up a member", Access::read, [&](Session& session) {
    return session.member_by_identity(organization, platform, user_id);
  });
}

core::Result<bool> SqliteEventStore::record_member(std::string_view organization,
                                                   const core::Member& member,
                                                   core::TimePoint first_seen) {
  return run("recording a member", Access::write, [&](Session& session) {
    return session.record_member(organization, member, first_seen);
  });
}

core::Result<std::vector<core::Member>> SqliteEventStore::members(std::string_view organization) {
  return run("reading members", Access::read,
             [&](Session& session) { return session.members(organization); });
}

core::Result<std::vector<core::OutboxEntry>> SqliteEventStore::pending_outbox() {
  return run("reading the outbox", Access::read,
             [&](Session& session) { return session.pending_outbox(); });
}

core::VoidResult SqliteEventStore::outbox_done(std::int64_t id) {
  return run("removing an outbox entry", Access::write,
             [&](Session& session) { return session.outbox_done(id); });
}

core::VoidResult SqliteEventStore::outbox_retry(std::int64_t id, int attempts,
                                                core::TimePoint not_before,
                                                std::string_view last_error) {
  return run("scheduling an outbox retry", Access::write, [&](Session& session) {
    return session.outbox_retry(id, attempts, not_before, last_error);
  });
}

core::VoidResult SqliteEventStore::outbox_failed(std::int64_t id, int attempts,
                                                 std::string_view error, core::TimePoint at) {
  return run("marking an outbox entry failed", Access::write,
             [&](Session& session) { return session.outbox_failed(id, attempts, error, at); });
}

core::VoidResult SqliteEventStore::outbox_remove(std::span<const std::int64_t> ids) {
  return run("removing outbox entries", Access::write,
             [&](Session& session) { return session.outbox_remove(ids); });
}

core::Result<std::vector<core::OutboxFailure>> SqliteEventStore::outbox_failures(
    std::size_t limit) {
  return run("reading failed outbox entries", Access::read,
             [&](Session& session) { return session.outbox_failures(limit); });
}

core::Result<std::vector<core::SearchHit>> SqliteEventStore::search(std::string_view organization,
                                                                    std::string_view query,
                                                                    std::size_t limit) {
  return run("searching", Access::read, [&](Session& session) {
    return session.search(organization, query, limit, state_->search_budget);
  });
}

core::VoidResult SqliteEventStore::rebuild_projections() {
  return run("rebuilding the projections", Access::write,
             [&](Session& session) { return session.rebuild_projections(); });
}

core::Result<std::vector<std::string>> SqliteEventStore::projection_rows() {
  return run("reading the projections", Access::read,
             [&](Session& session) { return session.projection_rows(); });
}

// Group commit. The batch is one BEGIN IMMEDIATE transaction; a job is a savepoint in
// it, and every call in it a savepoint of its own (Transaction), so a call that fails
// undoes only itself and a job that is dropped only itself.

core::VoidResult SqliteEventStore::begin_batch() {
  const std::string path = path_.string();
  if (state_->reader) {
    return refused_on_reader("beginning a batch");
  }
  if (state_->batch_open) {
    return make_error(ErrorCode::refused,
                      path +
                          ": beginning a batch: one is open already (a bug in the caller: "
                          "end it with commit_batch or rollback_batch first)");
  }
  if (sqlite3_get_autocommit(db_) == 0) {
    return make_error(ErrorCode::refused,
                      path +
                          ": beginning a batch: a transaction is open on this connection "
                          "already (a bug in haverid: please report it)");
  }
  if (const int rc = exec(db_, "BEGIN IMMEDIATE"); rc != SQLITE_OK) {
    std::string message = describe(path, db_, rc);
    message.insert(path.size() + 2, "beginning a batch: ");
    return make_error(ErrorCode::storage, std::move(message));
  }
  state_->batch_open = true;
  state_->jobs_open = 0;
  state_->batch_broken.clear();
  return core::Done{};
}

core::VoidResult SqliteEventStore::commit_batch() {
  const std::string path = path_.string();
  if (!state_->batch_open) {
    return make_error(ErrorCode::refused,
                      path +
                          ": committing a batch: none is open (a bug in the caller: "
                          "begin_batch first)");
  }
  if (sqlite3_get_autocommit(db_) != 0) {
    rollback_batch();
    return lost_batch(path, "committing a batch");
  }
  if (!state_->batch_broken.empty()) {
    std::string reason = std::move(state_->batch_broken);
    rollback_batch();
    return make_error(ErrorCode::storage, path + ": committing a batch: " + reason +
                                              "; the batch was rolled back, nothing of it is "
                                              "stored: submit its work again");
  }
  // COMMIT ends the open savepoints too: a job not ended is kept.
  const int rc = exec(db_, "COMMIT");
  if (rc != SQLITE_OK) {
    std::string message = describe(path, db_, rc);
    message.insert(path.size() + 2, "committing a batch: ");
    message += "; nothing of the batch was committed";
    rollback_batch();
    return make_error(ErrorCode::storage, std::move(message));
  }
  state_->batch_open = false;
  state_->jobs_open = 0;
  return core::Done{};
}

void SqliteEventStore::rollback_batch() noexcept {
  if (sqlite3_get_autocommit(db_) == 0) {
    exec(db_, "ROLLBACK");
  }
  state_->batch_open = false;
  state_->jobs_open = 0;
  state_->batch_broken.clear();
}

core::VoidResult SqliteEventStore::begin_job() {
  const std::string path = path_.string();
  if (!state_->batch_open) {
    return make_error(ErrorCode::refused, path +
                                              ": beginning a job: no batch is open (a bug in "
                                              "the caller: begin_batch first)");
  }
  if (sqlite3_get_autocommit(db_) != 0) {
    return lost_batch(path, "beginning a job");
  }
  if (const int rc = exec(db_, "SAVEPOINT haveri_job"); rc != SQLITE_OK) {
    std::string message = describe(path, db_, rc);
    message.insert(path.size() + 2, "beginning a job: ");
    return make_error(ErrorCode::storage, std::move(message));
  }
  ++state_->jobs_open;
  return core::Done{};
}

core::VoidResult SqliteEventStore::end_job(bool keep) {
  const std::string path = path_.string();
  const std::string what = keep ? "keeping a job's writes" : "undoing a job's writes";
  if (!state_->batch_open || state_->jobs_open == 0) {
    return make_error(ErrorCode::refused, path + ": " + what +
                                              ": no job is open (a bug in the caller: "
                                              "begin_job first)");
  }
  --state_->jobs_open;
  if (sqlite3_get_autocommit(db_) != 0) {
    return lost_batch(path, what);
  }
  int rc = keep ? SQLITE_OK : exec(db_, "ROLLBACK TO haveri_job");
  if (rc == SQLITE_OK) {
    rc = exec(db_, "RELEASE haveri_job");
  }
  if (rc != SQLITE_OK) {
    std::string message = describe(path, db_, rc);
    message.insert(path.size() + 2, what + ": ");
    // Writes that should have been undone must not be committed with the others.
    if (!keep && state_->batch_broken.empty()) {
      state_->batch_broken = "a job's writes could not be undone (" + message + ")";
    }
    return make_error(ErrorCode::storage, std::move(message));
  }
  return core::Done{};
}

}  // namespace haveri::store
