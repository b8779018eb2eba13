#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <haveri/store/sqlite_event_store.hpp>

#include "migrations.hpp"

namespace haveri::store {
namespace {

using core::AppendOutcome;
using core::AppendRequest;
using core::Error;
using core::ErrorCode;
using core::Event;
using core::Incident;
using core::IncidentId;
using core::make_error;
using core::Result;
using core::Sequence;

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

// BEGIN IMMEDIATE … COMMIT; rolled back on scope exit unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    // SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR…).
    if (open_ && sqlite3_get_autocommit(db_) == 0) {
      exec(db_, "ROLLBACK");
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  int begin() {
    const int rc = exec(db_, "BEGIN IMMEDIATE");
    open_ = rc == SQLITE_OK;
    return rc;
  }
  int commit() {
    const int rc = exec(db_, "COMMIT");
    if (rc == SQLITE_OK) {
      open_ = false;
    }
    return rc;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
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
  find_by_channel,
};

constexpr std::array<const char*, 9> kSqlText{
    // find_receipt
    "SELECT incident_id FROM inbound_receipts WHERE idempotency_key = ?",
    // load_state
    "SELECT state FROM incidents WHERE id = ?",
    // next_incident_id
    "SELECT COALESCE(MAX(id), 0) + 1 FROM incidents",
    // insert_event
    "INSERT INTO events (incident_id, sequence, type, at_ms, actor_id, actor_name, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    // upsert_incident
    "INSERT INTO incidents (id, title, status, severity, declared_at_ms, updated_at_ms, "
    "last_sequence, channel_instance, channel_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET title = excluded.title, status = excluded.status, "
    "severity = excluded.severity, declared_at_ms = excluded.declared_at_ms, "
    "updated_at_ms = excluded.updated_at_ms, last_sequence = excluded.last_sequence, "
    "channel_instance = excluded.channel_instance, channel_id = excluded.channel_id, "
    "state = excluded.state",
    // insert_receipt
    "INSERT INTO inbound_receipts (idempotency_key, incident_id, received_at_ms) "
    "VALUES (?, ?, ?)",
    // select_events
    "SELECT sequence, type, at_ms, actor_id, actor_name, payload FROM events "
    "WHERE incident_id = ? ORDER BY sequence",
    // select_all_states
    "SELECT id, state FROM incidents ORDER BY id DESC",
    // find_by_channel
    "SELECT id FROM incidents WHERE channel_instance = ? AND channel_id = ?",
};

using StatementSlots = std::array<sqlite3_stmt*, kSqlText.size()>;

// The store's work for one call, over the open connection and its statement cache.
class Session {
 public:
  Session(sqlite3* db, std::string path, StatementSlots& statements)
      : db_(db), path_(std::move(path)), statements_(statements) {}

  Result<AppendOutcome> append(const AppendRequest& request);
  Result<std::vector<Event>> events(IncidentId id);
  Result<std::optional<Incident>> incident(IncidentId id);
  Result<std::vector<Incident>> incidents();
  Result<std::optional<IncidentId>> incident_by_channel(std::string_view instance,
                                                        std::string_view channel_id);

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

  Result<Incident> decode_state(IncidentId id, const std::string& text) const;
  Result<std::optional<Incident>> load_state(IncidentId id);
  Result<IncidentId> next_incident_id();
  Result<core::Done> insert_event(const Event& event);
  Result<core::Done> upsert_projection(IncidentId id, const Incident& state);
  Result<core::Done> insert_receipt(const std::string& key, std::optional<IncidentId> id,
                                    std::int64_t received_at_ms);

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

Result<core::Done> Session::insert_event(const Event& event) {
  int rc = SQLITE_OK;
  const std::string what =
      "appending event " + std::to_string(event.sequence) + " to " + incident_name(event.incident);
  auto* stmt = statement(Sql::insert_event, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  // Chat text is not guaranteed to be valid UTF-8; store a replacement character
  // rather than failing the append.
  const std::string payload = core::payload_to_json(event.payload)
                                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Query query(stmt);
  query.bind(std::int64_t{event.incident})
      .bind(std::int64_t{event.sequence})
      .bind(core::to_string(event.type()))
      .bind(std::int64_t{event.at.time_since_epoch().count()})
      .bind(std::string_view{event.actor.id})
      .bind(std::string_view{event.actor.display_name})
      .bind(std::string_view{payload});
  rc = query.step();
  if (rc != SQLITE_DONE) {
    return failure(what, rc);
  }
  return core::Done{};
}

Result<core::Done> Session::upsert_projection(IncidentId id, const Incident& state) {
  int rc = SQLITE_OK;
  const std::string what = "updating the incident list for " + incident_name(id);
  auto* stmt = statement(Sql::upsert_incident, rc);
  if (stmt == nullptr) {
    return failure(what, rc);
  }
  const std::string snapshot =
      core::incident_to_json(state).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
      .bind(std::int64_t{state.declared_at.time_since_epoch().count()})
      .bind(std::int64_t{state.updated_at.time_since_epoch().count()})
      .bind(std::int64_t{state.last_sequence})
      .bind(channel_instance)
      .bind(channel_id)
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

Result<core::Done> Session::insert_receipt(const std::string& key, std::optional<IncidentId> id,
                                           std::int64_t received_at_ms) {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::insert_receipt, rc);
  if (stmt == nullptr) {
    return failure("recording idempotency key", rc);
  }
  Query query(stmt);
  query.bind(std::string_view{key});
  if (id) {
    query.bind(std::int64_t{*id});
  } else {
    query.bind(std::optional<std::string_view>{});
  }
  query.bind(received_at_ms);
  rc = query.step();
  if (rc != SQLITE_DONE) {
    return failure("recording idempotency key", rc);
  }
  return core::Done{};
}

Result<AppendOutcome> Session::append(const AppendRequest& request) {
  const std::string target =
      request.incident ? incident_name(*request.incident) : std::string{"a new incident"};
  if (request.events.empty() && request.idempotency_key.empty()) {
    return make_error(ErrorCode::invalid_argument, "append to " + target +
                                                       ": no events and no idempotency key, so "
                                                       "nothing to record");
  }
  if (!request.incident) {
    if (request.events.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        "declaring a new incident needs at least its declared event");
    }
    if (request.events.front().type() != core::EventType::declared) {
      return make_error(ErrorCode::invalid_argument,
                        "a new incident must start with a declared event, not " +
                            in_quotes(core::to_string(request.events.front().type())));
    }
    if (request.expected_last_sequence != 0) {
      return make_error(ErrorCode::invalid_argument,
                        "declaring a new incident expects last sequence 0, not " +
                            std::to_string(request.expected_last_sequence));
    }
  }

  Transaction transaction(db_);
  if (const int rc = transaction.begin(); rc != SQLITE_OK) {
    return failure("append to " + target + ": starting the transaction", rc);
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
  } else {
    auto next = next_incident_id();
    if (!next) {
      return next.error();
    }
    id = *next;
  }

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
  }
  if (!request.idempotency_key.empty()) {
    // The events carry the time the request arrived (from the daemon's clock); a
    // key-only append has none, so fall back to the wall clock.
    const std::int64_t received_at_ms = request.events.empty()
                                            ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  core::Clock::now().time_since_epoch())
                                                  .count()
                                            : request.events.back().at.time_since_epoch().count();
    if (auto recorded = insert_receipt(request.idempotency_key, id, received_at_ms); !recorded) {
      return recorded.error();
    }
  }

  if (const int rc = transaction.commit(); rc != SQLITE_OK) {
    return failure("append to " + incident_name(id) + ": commit", rc);
  }
  outcome.state = std::move(state);
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
    const auto json = nlohmann::json::parse(query.text(5), nullptr, /*allow_exceptions=*/false);
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
    event.at = core::TimePoint{std::chrono::milliseconds{query.int64(2)}};
    event.actor = core::Actor{query.text(3), query.text(4)};
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

Result<std::vector<Incident>> Session::incidents() {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::select_all_states, rc);
  if (stmt == nullptr) {
    return failure("reading the incident list", rc);
  }
  Query query(stmt);
  std::vector<Incident> incidents;
  while ((rc = query.step()) == SQLITE_ROW) {
    auto state = decode_state(query.int64(0), query.text(1));
    if (!state) {
      return state.error();
    }
    incidents.push_back(std::move(state).value());
  }
  if (rc != SQLITE_DONE) {
    return failure("reading the incident list", rc);
  }
  return incidents;
}

Result<std::optional<IncidentId>> Session::incident_by_channel(std::string_view instance,
                                                               std::string_view channel_id) {
  int rc = SQLITE_OK;
  auto* stmt = statement(Sql::find_by_channel, rc);
  if (stmt == nullptr) {
    return failure("looking up a channel", rc);
  }
  Query query(stmt);
  query.bind(instance).bind(channel_id);
  rc = query.step();
  if (rc == SQLITE_DONE) {
    return std::optional<IncidentId>{};
  }
  if (rc != SQLITE_ROW) {
    return failure("looking up a channel", rc);
  }
  return std::optional<IncidentId>{query.int64(0)};
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

Result<core::Done> migrate(sqlite3* db, const std::string& path) {
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
  for (const auto& migration : sqlite::migrations()) {
    if (migration.version <= current) {
      continue;
    }
    const std::string what = "migration " + std::to_string(migration.version) + " (" +
                             std::string(migration.description) + ")";
    auto failed = [&](int rc) {
      std::string message = describe(path, db, rc);
      message.insert(path.size() + 2, what + " failed: ");
      message += "; the database stays at schema version " + std::to_string(current);
      return make_error(ErrorCode::storage, std::move(message));
    };
    Transaction transaction(db);
    if (const int rc = transaction.begin(); rc != SQLITE_OK) {
      return failed(rc);
    }
    // Another process may have migrated between our read and our write lock.
    if (const int rc = read_user_version(db, current); rc != SQLITE_OK) {
      return failed(rc);
    }
    if (migration.version <= current) {
      continue;
    }
    const std::string sql = std::string(migration.sql) +
                            ";\nPRAGMA user_version = " + std::to_string(migration.version) + ";";
    if (const int rc = exec(db, sql.c_str()); rc != SQLITE_OK) {
      return failed(rc);
    }
    if (const int rc = transaction.commit(); rc != SQLITE_OK) {
      return failed(rc);
    }
    current = migration.version;
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

  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db{raw};
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // Before anything that locks: a second process briefly holding the file is waited for.
  sqlite3_busy_timeout(db.get(), 5000);

  // The first statement reads the header, so this is where a file that is not a
  // database, or a damaged one, shows up.
  std::string journal_mode;
  rc = query_one(db.get(), "PRAGMA journal_mode=WAL", [&](sqlite3_stmt* stmt) {
    const auto* text = sqlite3_column_text(stmt, 0);
    journal_mode = text != nullptr ? reinterpret_cast<const char*>(text) : "";
  });
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  if (journal_mode != "wal") {
    return make_error(ErrorCode::storage,
                      path + ": could not switch to WAL journal mode (SQLite kept " +
                          in_quotes(journal_mode) +
                          "); WAL needs a local filesystem with shared memory: put "
                          "storage.sqlite.path on a local disk");
  }

  const std::string pragmas =
      "PRAGMA synchronous=" + std::string(synchronous) + "; PRAGMA foreign_keys=ON;";
  if (rc = exec(db.get(), pragmas.c_str()); rc != SQLITE_OK) {
    return make_error(ErrorCode::storage, describe(path, db.get(), rc));
  }
  return db;
}

}  // namespace

struct SqliteEventStore::PreparedStatements {
  StatementSlots slots{};

  PreparedStatements() = default;
  PreparedStatements(const PreparedStatements&) = delete;
  PreparedStatements& operator=(const PreparedStatements&) = delete;
  ~PreparedStatements() {
    for (auto* stmt : slots) {
      sqlite3_finalize(stmt);  // a no-op for nullptr
    }
  }
};

SqliteEventStore::SqliteEventStore(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)), statements_(std::make_unique<PreparedStatements>()) {}

SqliteEventStore::~SqliteEventStore() {
  statements_.reset();  // finalize every statement before closing the connection
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
        if (auto migrated = migrate(db->get(), options.path.string()); !migrated) {
          return migrated.error();
        }
        return std::unique_ptr<SqliteEventStore>(new SqliteEventStore(db->release(), options.path));
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

core::Result<core::AppendOutcome> SqliteEventStore::append(const core::AppendRequest& request) {
  return guarded(path_, "append",
                 [&] { return Session(db_, path_.string(), statements_->slots).append(request); });
}

core::Result<std::vector<core::Event>> SqliteEventStore::events(core::IncidentId incident) {
  return guarded(path_, "reading events",
                 [&] { return Session(db_, path_.string(), statements_->slots).events(incident); });
}

core::Result<std::optional<core::Incident>> SqliteEventStore::incident(core::IncidentId incident) {
  return guarded(path_, "reading an incident", [&] {
    return Session(db_, path_.string(), statements_->slots).incident(incident);
  });
}

core::Result<std::vector<core::Incident>> SqliteEventStore::incidents() {
  return guarded(path_, "reading the incident list",
                 [&] { return Session(db_, path_.string(), statements_->slots).incidents(); });
}

core::Result<std::optional<core::IncidentId>> SqliteEventStore::incident_by_channel(
    std::string_view instance, std::string_view channel_id) {
  return guarded(path_, "looking up a channel", [&] {
    return Session(db_, path_.string(), statements_->slots)
        .incident_by_channel(instance, channel_id);
  });
}

}  // namespace haveri::store

namespace haveri::store {

core::Result<bool> SqliteEventStore::has_receipt(std::string_view idempotency_key) {
  return guarded(path_, "looking up an idempotency key", [&]() -> core::Result<bool> {
    auto receipt =
        Session(db_, path_.string(), statements_->slots).find_receipt(std::string(idempotency_key));
    if (!receipt) {
      return receipt.error();
    }
    return receipt->has_value();
  });
}

}  // namespace haveri::store
