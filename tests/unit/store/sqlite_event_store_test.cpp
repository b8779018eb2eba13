#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <haveri/core/event_store.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/store/sqlite_event_store.hpp>

namespace haveri::store {
namespace {

namespace fs = std::filesystem;
using core::AppendOutcome;
using core::AppendRequest;
using core::ErrorCode;
using core::Event;
using core::Incident;
using core::IncidentId;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Unwraps a Result, failing the test (through the exception gtest catches) on error.
template <class T>
T must(core::Result<T> result) {
  if (!result) {
    throw std::runtime_error("unexpected error: " + result.error().message);
  }
  return std::move(result).value();
}

core::TimePoint at_minute(int minute) {
  return core::TimePoint{std::chrono::milliseconds{1'790'000'000'000} +
                         std::chrono::minutes{minute}};
}

const core::Actor alice{"U01ALICE", "Alice Example"};
const core::ChannelRef general_channel{"local", "general", "general"};

Event declared(const std::string& title, core::Severity severity = core::Severity::sev2,
               int minute = 0, const std::string& organization = "acme") {
  core::Declared payload{title, severity, general_channel};
  payload.organization = organization;
  return Event{0, 0, at_minute(minute), alice, std::move(payload)};
}

Event message(const std::string& text, int minute = 1) {
  return Event{0, 0, at_minute(minute), alice,
               core::MessagePosted{text, general_channel, "m-" + text}};
}

Event status(core::Status from, core::Status to, int minute = 2) {
  return Event{0, 0, at_minute(minute), alice, core::StatusChanged{from, to}};
}

Event channel_linked(const std::string& instance, const std::string& id, int minute = 1) {
  return Event{0, 0, at_minute(minute), core::Actor::system(),
               core::ChannelLinked{core::ChannelRef{instance, id, "inc-" + id}}};
}

AppendRequest declare_request(const std::string& title, std::string key = {}) {
  AppendRequest request;
  request.events = {declared(title)};
  request.idempotency_key = std::move(key);
  return request;
}

AppendRequest append_request(IncidentId id, core::Sequence expected, std::vector<Event> events,
                             std::string key = {}) {
  AppendRequest request;
  request.incident = id;
  request.expected_last_sequence = expected;
  request.events = std::move(events);
  request.idempotency_key = std::move(key);
  return request;
}

std::vector<core::Sequence> sequences(const std::vector<Event>& events) {
  std::vector<core::Sequence> out;
  out.reserve(events.size());
  for (const auto& event : events) {
    out.push_back(event.sequence);
  }
  return out;
}

// A post_message operation for the incident's own channel (or `general` without one).
core::OutboxEntry outbox_entry(const std::string& operation_key,
                               std::optional<IncidentId> incident = std::nullopt,
                               const std::string& organization = "acme") {
  core::OutboxEntry entry;
  entry.organization = organization;
  entry.instance = "local";
  entry.lane = incident ? "incident:" + std::to_string(*incident) : "local/general";
  entry.coalesce_key = incident ? "card:" + std::to_string(*incident) : "";
  entry.operation_key = operation_key;
  entry.operation = R"({"type":"post_message","channel":{"id":"general","name":"general"},)"
                    R"("message":{"title":")" +
                    operation_key + R"("}})";
  entry.incident = incident;
  entry.attempts = 0;
  entry.not_before = at_minute(0);
  entry.created_at = at_minute(0);
  return entry;
}

// The entry as the store hands it back: with the id it assigned.
core::OutboxEntry with_id(core::OutboxEntry entry, std::int64_t id) {
  entry.id = id;
  return entry;
}

std::vector<std::int64_t> ids_of(const std::vector<core::OutboxEntry>& entries) {
  std::vector<std::int64_t> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    out.push_back(entry.id);
  }
  return out;
}

Event follow_up(core::FollowUpChanged change, int minute, const core::Actor& actor = alice) {
  return Event{0, 0, at_minute(minute), actor, std::move(change)};
}

core::FollowUpChanged created(std::int64_t number, const std::string& description,
                              std::optional<core::Actor> assignee,
                              std::optional<core::TimePoint> due = std::nullopt) {
  core::FollowUpChanged change;
  change.change = core::FollowUpChanged::Change::created;
  change.number = number;
  change.description = description;
  change.assignee = std::move(assignee);
  change.due = due;
  return change;
}

core::FollowUpChanged assigned(std::int64_t number, std::optional<core::Actor> assignee) {
  core::FollowUpChanged change;
  change.change = core::FollowUpChanged::Change::assigned;
  change.number = number;
  change.assignee = std::move(assignee);
  return change;
}

core::FollowUpChanged redated(std::int64_t number, std::optional<core::TimePoint> due) {
  core::FollowUpChanged change;
  change.change = core::FollowUpChanged::Change::redated;
  change.number = number;
  change.due = due;
  return change;
}

core::FollowUpChanged status_of(std::int64_t number, core::FollowUpStatus status) {
  core::FollowUpChanged change;
  change.change = core::FollowUpChanged::Change::status;
  change.number = number;
  change.status = status;
  return change;
}

std::vector<std::pair<IncidentId, std::int64_t>> follow_up_keys(
    const std::vector<core::FollowUpListing>& listings) {
  std::vector<std::pair<IncidentId, std::int64_t>> out;
  out.reserve(listings.size());
  for (const auto& listing : listings) {
    out.emplace_back(listing.incident, listing.follow_up.number);
  }
  return out;
}

// The repository's tests/fixtures directory: HAVERI_SOURCE_DIR when set, else the
// source tree this test was built from.
fs::path fixtures_dir() {
  const char* dir = std::getenv("HAVERI_SOURCE_DIR");
  const fs::path root =
      dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(HAVERI_TEST_SOURCE_DIR);
  return root / "tests" / "fixtures";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A second, independent connection to the file, to see what is really on disk.
class RawDatabase {
 public:
  explicit RawDatabase(const fs::path& path, int flags = SQLITE_OPEN_READWRITE) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string() + ": " + sqlite3_errmsg(db_));
    }
  }
  ~RawDatabase() { sqlite3_close_v2(db_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
  }

  // The first column of the first row, as text.
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteEventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("haveri-store-" + std::string(info->name()) + "-" + std::to_string(random()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path db_path() const { return dir_ / "haveri.db"; }

  std::unique_ptr<SqliteEventStore> open_store() {
    return must(SqliteEventStore::open(SqliteOptions{db_path(), "full"}));
  }
  core::Result<std::unique_ptr<SqliteEventStore>> try_open_reader() {
    SqliteOptions options{db_path(), "full"};
    options.reader = true;
    return SqliteEventStore::open(options);
  }
  std::unique_ptr<SqliteEventStore> open_reader() { return must(try_open_reader()); }

  fs::path dir_;
};

TEST_F(SqliteEventStoreTest, FreshFileIsMigratedToTheLatestSchemaInWalMode) {
  auto store = open_store();

  EXPECT_EQ(SqliteEventStore::latest_schema_version(), 3);
  EXPECT_EQ(store->schema_version(), 3);
  RawDatabase raw(db_path());
  EXPECT_EQ(raw.integer("PRAGMA user_version"), 3);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(
      raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('events', 'incidents', 'inbound_receipts', 'members', 'member_identities', "
                  "'follow_ups', 'outbox', 'search_documents', 'search_index')"),
      9);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                        "name = 'incidents_by_channel'"),
            1);
}

TEST_F(SqliteEventStoreTest, ReopeningAMigratedFileKeepsItsVersion) {
  open_store().reset();
  auto store = open_store();

  EXPECT_EQ(store->schema_version(), 3);
  EXPECT_TRUE(must(store->incidents("")).empty());
}

TEST_F(SqliteEventStoreTest, DeclareAndAppendAssignIdsAndGaplessSequences) {
  auto store = open_store();

  AppendRequest first;
  first.events = {declared("Line 3 down"), message("looking")};
  const AppendOutcome one = must(store->append(first));
  const AppendOutcome two = must(store->append(declare_request("Oven too hot")));
  const AppendOutcome more =
      must(store->append(append_request(1, 2, {message("found it"), message("fixed")})));

  EXPECT_EQ(one.incident, 1);
  EXPECT_FALSE(one.duplicate);
  EXPECT_THAT(sequences(one.committed), ElementsAre(1, 2));
  EXPECT_EQ(one.committed[0].incident, 1);
  EXPECT_EQ(two.incident, 2);
  EXPECT_THAT(sequences(two.committed), ElementsAre(1));
  EXPECT_EQ(more.incident, 1);
  EXPECT_THAT(sequences(more.committed), ElementsAre(3, 4));
  EXPECT_EQ(more.state.last_sequence, 4);
  EXPECT_EQ(more.state.title, "Line 3 down");

  std::vector<Event> expected = one.committed;
  expected.insert(expected.end(), more.committed.begin(), more.committed.end());
  EXPECT_EQ(must(store->events(1)), expected);
  EXPECT_EQ(must(store->events(2)), two.committed);
}

TEST_F(SqliteEventStoreTest, StaleExpectedSequenceConflictsAndAppendsNothing) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(append_request(1, 1, {message("first")})));

  auto stale = store->append(append_request(1, 1, {message("late")}, "key-late"));

  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::conflict);
  EXPECT_EQ(must(store->events(1)).size(), 2U);
  EXPECT_EQ(must(store->incident(1))->last_sequence, 2);
  // The refused append did not remember its key: the retry with the right sequence lands.
  const auto retried = must(store->append(append_request(1, 2, {message("late")}, "key-late")));
  EXPECT_FALSE(retried.duplicate);
  EXPECT_THAT(sequences(retried.committed), ElementsAre(3));
}

TEST_F(SqliteEventStoreTest, UnknownIncidentIsNotFoundAndCreatesNothing) {
  auto store = open_store();

  auto appended = store->append(append_request(42, 0, {message("hello?")}));
  auto events = store->events(42);

  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code, ErrorCode::not_found);
  EXPECT_THAT(appended.error().message, HasSubstr("INC-42"));
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::not_found);
  EXPECT_FALSE(must(store->incident(42)).has_value());
  EXPECT_TRUE(must(store->incidents("")).empty());
}

TEST_F(SqliteEventStoreTest, RepeatedIdempotencyKeyIsRecordedOnceAcrossRestarts) {
  auto store = open_store();
  const auto first = must(store->append(declare_request("Line 3 down", "slack:T1:evt-1")));
  const auto appended =
      must(store->append(append_request(1, 1, {message("hi")}, "slack:T1:evt-2")));

  const auto again = must(store->append(declare_request("Line 3 down", "slack:T1:evt-1")));
  // A platform retry carries the sequence it was decided on, now stale: still a duplicate.
  const auto again_append =
      must(store->append(append_request(1, 1, {message("hi")}, "slack:T1:evt-2")));

  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.incident, 1);
  EXPECT_TRUE(again.committed.empty());
  EXPECT_EQ(again.state, appended.state);
  EXPECT_TRUE(again_append.duplicate);
  EXPECT_EQ(again_append.incident, 1);
  EXPECT_EQ(must(store->incidents("")).size(), 1U);
  EXPECT_EQ(must(store->events(1)).size(), 2U);

  store.reset();
  store = open_store();
  const auto after_restart = must(store->append(declare_request("Line 3 down", "slack:T1:evt-1")));
  EXPECT_TRUE(after_restart.duplicate);
  EXPECT_EQ(after_restart.incident, 1);
  EXPECT_EQ(after_restart.state.last_sequence, 2);
  EXPECT_EQ(must(store->incidents("")).size(), 1U);
  EXPECT_EQ(must(store->events(1)).size(), 2U);
}

TEST_F(SqliteEventStoreTest, HasReceiptKnowsCommittedKeysAcrossRestarts) {
  auto store = open_store();
  EXPECT_FALSE(must(store->has_receipt("local:local:alice:m-1")));
  must(store->append(declare_request("Oven 2 cold", "local:local:alice:m-1")));
  EXPECT_TRUE(must(store->has_receipt("local:local:alice:m-1")));
  EXPECT_FALSE(must(store->has_receipt("local:local:bob:m-1")));
  store.reset();
  store = open_store();
  EXPECT_TRUE(must(store->has_receipt("local:local:alice:m-1")));
}

TEST_F(SqliteEventStoreTest, KeyOnlyAppendRemembersTheKey) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));

  const auto recorded = must(store->append(append_request(1, 1, {}, "teams:act-7")));
  const auto repeated = must(store->append(append_request(1, 1, {}, "teams:act-7")));

  EXPECT_FALSE(recorded.duplicate);
  EXPECT_TRUE(recorded.committed.empty());
  EXPECT_EQ(recorded.state.last_sequence, 1);
  EXPECT_TRUE(repeated.duplicate);
  EXPECT_EQ(must(store->events(1)).size(), 1U);
}

TEST_F(SqliteEventStoreTest, ProjectionEqualsTheFoldOfTheStoredEvents) {
  auto store = open_store();
  AppendRequest declare;
  declare.events = {declared("Line 3 down", core::Severity::sev1), message("on it", 1)};
  must(store->append(declare));
  must(store->append(
      append_request(1, 2,
                     {channel_linked("local", "C-INC-1", 2),
                      status(core::Status::declared, core::Status::investigating, 3)})));
  must(store->append(append_request(1, 4, {message("root cause: belt", 5)})));
  const auto last = must(store->append(append_request(
      1, 5, {status(core::Status::investigating, core::Status::mitigated, 9), message("ok", 10)})));

  const auto events = must(store->events(1));
  const Incident folded = core::fold(events);
  const auto projected = must(store->incident(1));

  ASSERT_TRUE(projected.has_value());
  EXPECT_EQ(*projected, folded);
  EXPECT_EQ(last.state, folded);
  EXPECT_EQ(projected->status, core::Status::mitigated);
  EXPECT_EQ(projected->last_sequence, 7);
  ASSERT_TRUE(projected->channel.has_value());
  EXPECT_EQ(projected->channel->id, "C-INC-1");
  EXPECT_EQ(must(store->incidents("")), std::vector<Incident>{folded});

  RawDatabase raw(db_path());
  EXPECT_EQ(raw.text("SELECT status FROM incidents WHERE id = 1"), "MITIGATED");
  EXPECT_EQ(raw.text("SELECT severity FROM incidents WHERE id = 1"), "SEV1");
  EXPECT_EQ(raw.integer("SELECT last_sequence FROM incidents WHERE id = 1"), 7);
}

TEST_F(SqliteEventStoreTest, IncidentIsFoundByItsLinkedChannel) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));

  EXPECT_FALSE(must(store->incident_by_channel("acme", "local", "C-INC-2")).has_value());
  must(store->append(append_request(2, 1, {channel_linked("local", "C-INC-2")})));

  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-INC-2")),
            std::optional<IncidentId>{2});
  EXPECT_FALSE(must(store->incident_by_channel("acme", "slack-main", "C-INC-2")).has_value());
  EXPECT_FALSE(must(store->incident_by_channel("acme", "local", "C-OTHER")).has_value());
}

TEST_F(SqliteEventStoreTest, FailedAppendRollsBackEveryEvent) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));
  must(store->append(append_request(2, 1, {channel_linked("local", "C-SHARED")})));

  // The channel index is unique, so the projection update fails after the events
  // were inserted: all of it must be undone, the outbox entries and receipt too.
  AppendRequest clashing =
      append_request(1, 1, {message("before"), channel_linked("local", "C-SHARED")}, "key-clash");
  clashing.outbox = {outbox_entry("clash-reply", 1)};
  clashing.outbox_of = [](const Incident&, const std::vector<Event>&) {
    return std::vector<core::OutboxEntry>{outbox_entry("clash-card", 1)};
  };
  auto clash = store->append(clashing);

  ASSERT_FALSE(clash.ok());
  EXPECT_TRUE(must(store->pending_outbox()).empty());
  EXPECT_FALSE(must(store->has_receipt("key-clash")));
  EXPECT_EQ(clash.error().code, ErrorCode::storage);
  EXPECT_THAT(clash.error().message, HasSubstr(db_path().string()));
  EXPECT_EQ(must(store->events(1)).size(), 1U);
  EXPECT_EQ(must(store->incident(1))->last_sequence, 1);
  // And the store still works afterwards.
  EXPECT_THAT(sequences(must(store->append(append_request(1, 1, {message("after")}))).committed),
              ElementsAre(2));
}

TEST_F(SqliteEventStoreTest, DataSurvivesReopen) {
  std::vector<Event> before;
  {
    auto store = open_store();
    must(store->append(declare_request("Line 3 down")));
    must(store->append(append_request(1, 1, {message("one"), message("two")})));
    before = must(store->events(1));
  }

  auto store = open_store();

  EXPECT_EQ(must(store->events(1)), before);
  EXPECT_EQ(must(store->incident(1)), std::optional<Incident>{core::fold(before)});
  EXPECT_EQ(must(store->append(declare_request("Oven too hot"))).incident, 2);
  EXPECT_THAT(sequences(must(store->append(append_request(1, 3, {message("three")}))).committed),
              ElementsAre(4));
}

TEST_F(SqliteEventStoreTest, IncidentsAreListedNewestFirst) {
  auto store = open_store();
  must(store->append(declare_request("first")));
  must(store->append(declare_request("second")));
  must(store->append(declare_request("third")));
  must(store->append(append_request(1, 1, {message("old incident, new activity")})));

  const auto all = must(store->incidents(""));

  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].id, 3);
  EXPECT_EQ(all[0].title, "third");
  EXPECT_EQ(all[1].id, 2);
  EXPECT_EQ(all[2].id, 1);
  EXPECT_EQ(all[2].last_sequence, 2);
}

TEST_F(SqliteEventStoreTest, MalformedAppendsAreRefused) {
  auto store = open_store();

  auto empty = store->append(AppendRequest{});
  AppendRequest no_declaration;
  no_declaration.events = {message("hello")};
  auto undeclared = store->append(no_declaration);
  AppendRequest nonzero = declare_request("x");
  nonzero.expected_last_sequence = 3;
  auto new_with_sequence = store->append(nonzero);

  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::invalid_argument);
  ASSERT_FALSE(undeclared.ok());
  EXPECT_EQ(undeclared.error().code, ErrorCode::invalid_argument);
  ASSERT_FALSE(new_with_sequence.ok());
  EXPECT_EQ(new_with_sequence.error().code, ErrorCode::invalid_argument);
  EXPECT_TRUE(must(store->incidents("")).empty());
}

TEST_F(SqliteEventStoreTest, UndecodableStoredEventIsAStorageErrorNotACrash) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(append_request(1, 1, {message("one"), message("two")})));
  {
    RawDatabase raw(db_path());
    raw.exec("UPDATE events SET type = 'teleported' WHERE incident_id = 1 AND sequence = 2");
    raw.exec("UPDATE events SET payload = '{not json' WHERE incident_id = 1 AND sequence = 3");
  }

  auto events = store->events(1);

  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::storage);
  EXPECT_THAT(events.error().message, HasSubstr("INC-1 event 2"));
  EXPECT_THAT(events.error().message, HasSubstr("teleported"));

  RawDatabase(db_path()).exec("UPDATE events SET type = 'message' WHERE sequence = 2");
  auto bad_json = store->events(1);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_THAT(bad_json.error().message, HasSubstr("INC-1 event 3"));
}

TEST_F(SqliteEventStoreTest, NewerSchemaIsRefused) {
  open_store().reset();
  RawDatabase(db_path()).exec("PRAGMA user_version = 99");

  auto opened = SqliteEventStore::open(SqliteOptions{db_path(), "full"});

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::storage);
  EXPECT_THAT(opened.error().message, HasSubstr(db_path().string()));
  EXPECT_THAT(opened.error().message, HasSubstr("schema version 99"));
  EXPECT_THAT(opened.error().message, HasSubstr("upgrade haverid"));
  EXPECT_EQ(RawDatabase(db_path()).integer("PRAGMA user_version"), 99);
}

TEST_F(SqliteEventStoreTest, FileThatIsNotADatabaseIsRefusedAndLeftAlone) {
  std::string garbage;
  for (int i = 0; i < 200; ++i) {
    garbage += "this is a shopping list, not a database\n";
  }
  std::ofstream(db_path(), std::ios::binary) << garbage;

  auto opened = SqliteEventStore::open(SqliteOptions{db_path(), "full"});

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::storage);
  EXPECT_THAT(opened.error().message, HasSubstr(db_path().string()));
  EXPECT_THAT(opened.error().message, HasSubstr("file is not a database"));
  EXPECT_THAT(opened.error().message, HasSubstr("storage.sqlite.path"));
  std::ifstream in(db_path(), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), garbage);
}

TEST_F(SqliteEventStoreTest, InvalidSynchronousIsRefusedBeforeTouchingTheDisk) {
  auto opened = SqliteEventStore::open(SqliteOptions{db_path(), "fast"});

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(opened.error().message, HasSubstr("\"fast\""));
  EXPECT_THAT(opened.error().message, HasSubstr("off, normal, full, extra"));
  EXPECT_FALSE(fs::exists(db_path()));
}

TEST_F(SqliteEventStoreTest, EverySynchronousModeIsAccepted) {
  for (const char* mode : {"off", "NORMAL", "full", "extra"}) {
    auto opened = SqliteEventStore::open(SqliteOptions{db_path(), mode});
    EXPECT_TRUE(opened.ok()) << mode << ": " << (opened.ok() ? "" : opened.error().message);
  }
}

TEST_F(SqliteEventStoreTest, MissingDirectoryIsAClearError) {
  const fs::path path = dir_ / "no-such-dir" / "haveri.db";

  auto opened = SqliteEventStore::open(SqliteOptions{path, "full"});

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::storage);
  EXPECT_THAT(opened.error().message, HasSubstr(path.string()));
  EXPECT_THAT(opened.error().message, HasSubstr("does not exist"));
  EXPECT_FALSE(fs::exists(dir_ / "no-such-dir"));
}

TEST_F(SqliteEventStoreTest, ActorMemberIsStoredWithTheEvent) {
  auto store = open_store();
  const core::Actor bob{"U02BOB", "Bob Builder", "bob"};
  must(store->append(declare_request("Line 3 down")));
  must(store->append(append_request(1, 1, {Event{0, 0, at_minute(1), bob, core::Acknowledged{}}})));

  const auto events = must(store->events(1));

  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[1].actor, bob);
  EXPECT_EQ(must(store->incident(1))->acknowledged_by, std::optional<core::Actor>{bob});
  EXPECT_EQ(must(store->incident(1)), std::optional<Incident>{core::fold(events)});
}

TEST_F(SqliteEventStoreTest, OutboxEntriesAreCommittedWithTheEvents) {
  auto store = open_store();
  AppendRequest declare = declare_request("Line 3 down", "local:m-1");
  declare.outbox = {outbox_entry("create-channel-1", 1), outbox_entry("announce-1")};

  const auto outcome = must(store->append(declare));

  ASSERT_EQ(outcome.outbox.size(), 2U);
  EXPECT_GT(outcome.outbox[0].id, 0);
  EXPECT_GT(outcome.outbox[1].id, outcome.outbox[0].id);
  EXPECT_EQ(outcome.outbox[0], with_id(outbox_entry("create-channel-1", 1), outcome.outbox[0].id));
  EXPECT_EQ(outcome.outbox[1], with_id(outbox_entry("announce-1"), outcome.outbox[1].id));
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);

  // A platform retry of the same request queues nothing more.
  const auto again = must(store->append(declare));
  EXPECT_TRUE(again.duplicate);
  EXPECT_TRUE(again.outbox.empty());
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);

  store.reset();
  EXPECT_EQ(must(open_store()->pending_outbox()), outcome.outbox);
}

TEST_F(SqliteEventStoreTest, ConflictingAppendQueuesNothing) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(append_request(1, 1, {message("first")})));
  bool derived = false;

  AppendRequest stale = append_request(1, 1, {message("late")}, "key-late");
  stale.outbox = {outbox_entry("reply-late", 1)};
  stale.outbox_of = [&](const Incident&, const std::vector<Event>&) {
    derived = true;
    return std::vector<core::OutboxEntry>{outbox_entry("card-late", 1)};
  };
  auto appended = store->append(stale);

  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code, ErrorCode::conflict);
  EXPECT_FALSE(derived);
  EXPECT_TRUE(must(store->pending_outbox()).empty());
  EXPECT_EQ(RawDatabase(db_path()).integer("SELECT COUNT(*) FROM outbox"), 0);
}

TEST_F(SqliteEventStoreTest, OutboxOfSeesTheStateAndTheCommittedSequences) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));
  Incident seen_state;
  std::vector<core::Sequence> seen_sequences;

  AppendRequest request = append_request(
      2, 1, {message("on it"), status(core::Status::declared, core::Status::investigating)});
  request.outbox = {outbox_entry("reply", 2)};
  request.outbox_of = [&](const Incident& after, const std::vector<Event>& committed) {
    seen_state = after;
    seen_sequences = sequences(committed);
    return std::vector<core::OutboxEntry>{
        outbox_entry(
            "card:" + std::to_string(after.id) + "@" + std::to_string(committed.back().sequence),
            after.id),
        outbox_entry("announce:" + std::string(core::to_string(after.status)))};
  };
  const auto outcome = must(store->append(request));

  EXPECT_EQ(seen_state, outcome.state);
  EXPECT_EQ(seen_state.status, core::Status::investigating);
  EXPECT_THAT(seen_sequences, ElementsAre(2, 3));
  ASSERT_EQ(outcome.outbox.size(), 3U);
  // request.outbox first, then what outbox_of derived, in id order.
  EXPECT_EQ(outcome.outbox[0].operation_key, "reply");
  EXPECT_EQ(outcome.outbox[1].operation_key, "card:2@3");
  EXPECT_EQ(outcome.outbox[1].incident, std::optional<IncidentId>{2});
  EXPECT_EQ(outcome.outbox[2].operation_key, "announce:INVESTIGATING");
  EXPECT_LT(outcome.outbox[0].id, outcome.outbox[1].id);
  EXPECT_LT(outcome.outbox[1].id, outcome.outbox[2].id);
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);
}

TEST_F(SqliteEventStoreTest, OutboxOfSeesTheIdOfANewIncident) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  AppendRequest declare = declare_request("Oven too hot");
  declare.outbox_of = [](const Incident& after, const std::vector<Event>& committed) {
    return std::vector<core::OutboxEntry>{
        outbox_entry("create-channel:" + std::to_string(committed.front().incident), after.id)};
  };

  const auto outcome = must(store->append(declare));

  ASSERT_EQ(outcome.outbox.size(), 1U);
  EXPECT_EQ(outcome.outbox[0].operation_key, "create-channel:2");
  EXPECT_EQ(outcome.outbox[0].incident, std::optional<IncidentId>{2});
  EXPECT_EQ(outcome.outbox[0].lane, "incident:2");
}

TEST_F(SqliteEventStoreTest, ThrowingOutboxOfRollsBackTheWholeAppend) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  AppendRequest request = append_request(1, 1, {message("hello")}, "key-throw");
  request.outbox = {outbox_entry("reply", 1)};
  request.outbox_of = [](const Incident&,
                         const std::vector<Event>&) -> std::vector<core::OutboxEntry> {
    throw std::runtime_error("card template \"incident\" is missing");
  };

  auto appended = store->append(request);

  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code, ErrorCode::storage);
  EXPECT_THAT(appended.error().message, HasSubstr("card template \"incident\" is missing"));
  EXPECT_THAT(appended.error().message, HasSubstr("INC-1"));
  EXPECT_EQ(must(store->events(1)).size(), 1U);
  EXPECT_EQ(must(store->incident(1))->last_sequence, 1);
  EXPECT_TRUE(must(store->pending_outbox()).empty());
  EXPECT_FALSE(must(store->has_receipt("key-throw")));
}

TEST_F(SqliteEventStoreTest, ReceiptOnlyAppendStoresTheReplyAndTheKeyOnce) {
  auto store = open_store();
  AppendRequest refused;
  refused.outbox = {outbox_entry("reply:unknown-command")};
  refused.idempotency_key = "local:local:alice:m-9";

  const auto first = must(store->append(refused));
  const auto again = must(store->append(refused));

  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.incident, 0);
  EXPECT_EQ(first.state, Incident{});
  EXPECT_TRUE(first.committed.empty());
  ASSERT_EQ(first.outbox.size(), 1U);
  EXPECT_EQ(first.outbox[0], with_id(outbox_entry("reply:unknown-command"), first.outbox[0].id));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.incident, 0);
  EXPECT_TRUE(again.outbox.empty());
  EXPECT_EQ(must(store->pending_outbox()), first.outbox);
  EXPECT_TRUE(must(store->has_receipt("local:local:alice:m-9")));
  EXPECT_TRUE(must(store->incidents("")).empty());
  RawDatabase raw(db_path());
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM inbound_receipts"), 1);
  EXPECT_EQ(raw.text("SELECT COALESCE(incident_id, 'null') FROM inbound_receipts"), "null");
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM events"), 0);

  store.reset();
  store = open_store();
  EXPECT_TRUE(must(store->append(refused)).duplicate);
  EXPECT_EQ(must(store->pending_outbox()).size(), 1U);
}

TEST_F(SqliteEventStoreTest, OutboxOnlyAppendWithoutKeyIsStoredAndAnEmptyOneRefused) {
  auto store = open_store();
  AppendRequest reply;
  reply.outbox = {outbox_entry("reply:help")};
  AppendRequest with_sequence = reply;
  with_sequence.expected_last_sequence = 4;

  const auto stored = must(store->append(reply));
  auto nothing = store->append(AppendRequest{});
  auto bad_sequence = store->append(with_sequence);

  ASSERT_EQ(stored.outbox.size(), 1U);
  EXPECT_EQ(must(store->pending_outbox()), stored.outbox);
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(nothing.error().message, HasSubstr("nothing to record"));
  ASSERT_FALSE(bad_sequence.ok());
  EXPECT_EQ(bad_sequence.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(must(store->pending_outbox()).size(), 1U);
}

TEST_F(SqliteEventStoreTest, OutboxRetryFailAndRemoveSurviveReopen) {
  auto store = open_store();
  AppendRequest declare = declare_request("Line 3 down");
  declare.outbox = {outbox_entry("create-channel", 1), outbox_entry("card-v1", 1),
                    outbox_entry("card-v2", 1), outbox_entry("announce"),
                    outbox_entry("card-v3", 1)};
  const auto queued = must(store->append(declare)).outbox;
  ASSERT_EQ(queued.size(), 5U);

  ASSERT_TRUE(store->outbox_retry(queued[0].id, 2, at_minute(7), "rate limited (429)").ok());
  ASSERT_TRUE(store->outbox_failed(queued[3].id, 12, "channel_not_found", at_minute(9)).ok());
  const std::vector<std::int64_t> superseded{queued[1].id, queued[2].id};
  ASSERT_TRUE(store->outbox_remove(superseded).ok());

  store.reset();
  store = open_store();

  core::OutboxEntry retried = queued[0];
  retried.attempts = 2;
  retried.not_before = at_minute(7);
  retried.last_error = "rate limited (429)";
  EXPECT_EQ(must(store->pending_outbox()), (std::vector<core::OutboxEntry>{retried, queued[4]}));
  core::OutboxEntry failed = queued[3];
  failed.attempts = 12;
  failed.last_error = "channel_not_found";
  EXPECT_EQ(must(store->outbox_failures(10)),
            (std::vector<core::OutboxFailure>{core::OutboxFailure{failed, at_minute(9)}}));

  ASSERT_TRUE(store->outbox_done(queued[0].id).ok());
  EXPECT_THAT(ids_of(must(store->pending_outbox())), ElementsAre(queued[4].id));
  store.reset();
  store = open_store();
  EXPECT_THAT(ids_of(must(store->pending_outbox())), ElementsAre(queued[4].id));
  EXPECT_EQ(must(store->outbox_failures(10)).size(), 1U);
}

TEST_F(SqliteEventStoreTest, OutboxCallsOnEntriesThatAreNotPendingAreNotFound) {
  auto store = open_store();
  AppendRequest declare = declare_request("Line 3 down");
  declare.outbox = {outbox_entry("done-one", 1), outbox_entry("failed-one", 1),
                    outbox_entry("kept", 1)};
  const auto queued = must(store->append(declare)).outbox;
  ASSERT_TRUE(store->outbox_done(queued[0].id).ok());
  ASSERT_TRUE(store->outbox_failed(queued[1].id, 3, "permanent", at_minute(2)).ok());

  auto done_again = store->outbox_done(queued[0].id);
  auto retry_failed = store->outbox_retry(queued[1].id, 4, at_minute(3), "again");
  auto fail_again = store->outbox_failed(queued[1].id, 4, "again", at_minute(3));
  auto done_failed = store->outbox_done(queued[1].id);
  auto unknown = store->outbox_retry(9999, 1, at_minute(3), "x");
  // Removing ids that are gone or failed skips them and removes the pending one.
  const std::vector<std::int64_t> mixed{queued[0].id, queued[1].id, queued[2].id, 9999};
  const auto removed = store->outbox_remove(mixed);

  for (const auto* result : {&done_again, &retry_failed, &fail_again, &done_failed, &unknown}) {
    ASSERT_FALSE(result->ok());
    EXPECT_EQ(result->error().code, ErrorCode::not_found);
  }
  EXPECT_THAT(unknown.error().message, HasSubstr("9999"));
  EXPECT_TRUE(removed.ok());
  EXPECT_TRUE(must(store->pending_outbox()).empty());
  const auto failures = must(store->outbox_failures(10));
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0].entry.attempts, 3);
  EXPECT_EQ(failures[0].entry.last_error, "permanent");
  EXPECT_EQ(failures[0].failed_at, at_minute(2));
}

TEST_F(SqliteEventStoreTest, OutboxFailuresAreNewestFirstAndLimited) {
  auto store = open_store();
  AppendRequest declare = declare_request("Line 3 down");
  declare.outbox = {outbox_entry("a", 1), outbox_entry("b", 1), outbox_entry("c", 1),
                    outbox_entry("d", 1)};
  const auto queued = must(store->append(declare)).outbox;
  ASSERT_TRUE(store->outbox_failed(queued[0].id, 1, "e0", at_minute(30)).ok());
  ASSERT_TRUE(store->outbox_failed(queued[1].id, 1, "e1", at_minute(10)).ok());
  ASSERT_TRUE(store->outbox_failed(queued[2].id, 1, "e2", at_minute(20)).ok());
  ASSERT_TRUE(store->outbox_failed(queued[3].id, 1, "e3", at_minute(20)).ok());

  const auto two = must(store->outbox_failures(2));
  const auto all = must(store->outbox_failures(100));

  ASSERT_EQ(two.size(), 2U);
  EXPECT_EQ(two[0].entry.last_error, "e0");
  EXPECT_EQ(two[1].entry.last_error, "e3");  // same time: the newer entry first
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[2].entry.last_error, "e2");
  EXPECT_EQ(all[3].entry.last_error, "e1");
  EXPECT_TRUE(must(store->outbox_failures(0)).empty());
  EXPECT_TRUE(must(store->pending_outbox()).empty());
}

TEST_F(SqliteEventStoreTest, OutboxIdsAreNeverReusedAfterTheNewestIsDone) {
  std::int64_t last_id = 0;
  {
    auto store = open_store();
    AppendRequest declare = declare_request("Line 3 down");
    declare.outbox = {outbox_entry("first", 1), outbox_entry("second", 1)};
    const auto queued = must(store->append(declare)).outbox;
    last_id = queued[1].id;
    ASSERT_TRUE(store->outbox_done(queued[1].id).ok());
    ASSERT_TRUE(store->outbox_done(queued[0].id).ok());
  }
  auto store = open_store();
  AppendRequest more = append_request(1, 1, {message("hi")});
  more.outbox = {outbox_entry("third", 1)};

  const auto queued = must(store->append(more)).outbox;

  ASSERT_EQ(queued.size(), 1U);
  // Plugins deduplicate on operation keys, but a reused id could still confuse an
  // in-flight completion with a new entry.
  EXPECT_GT(queued[0].id, last_id);
}

TEST_F(SqliteEventStoreTest, IncidentsAndChannelsAreScopedByOrganization) {
  auto store = open_store();
  AppendRequest acme;
  acme.events = {declared("Line 3 down", core::Severity::sev2, 0, "acme")};
  AppendRequest globex;
  globex.events = {declared("Press 4 jammed", core::Severity::sev1, 0, "globex")};
  must(store->append(acme));
  must(store->append(globex));
  must(store->append(declare_request("Oven too hot")));  // acme
  must(store->append(append_request(2, 1, {channel_linked("slack", "C-GLOBEX")})));

  const auto acme_incidents = must(store->incidents("acme"));
  const auto globex_incidents = must(store->incidents("globex"));

  ASSERT_EQ(acme_incidents.size(), 2U);
  EXPECT_EQ(acme_incidents[0].id, 3);
  EXPECT_EQ(acme_incidents[1].id, 1);
  EXPECT_EQ(acme_incidents[0].organization, "acme");
  ASSERT_EQ(globex_incidents.size(), 1U);
  EXPECT_EQ(globex_incidents[0].title, "Press 4 jammed");
  EXPECT_EQ(globex_incidents[0].organization, "globex");
  EXPECT_TRUE(must(store->incidents("initech")).empty());
  EXPECT_EQ(must(store->incidents("")).size(), 3U);
  EXPECT_EQ(must(store->incident_by_channel("globex", "slack", "C-GLOBEX")),
            std::optional<IncidentId>{2});
  EXPECT_FALSE(must(store->incident_by_channel("acme", "slack", "C-GLOBEX")).has_value());
  EXPECT_FALSE(must(store->incident_by_channel("", "slack", "C-GLOBEX")).has_value());
  EXPECT_EQ(RawDatabase(db_path()).text("SELECT organization FROM incidents WHERE id = 2"),
            "globex");
}

TEST_F(SqliteEventStoreTest, FollowUpProjectionEqualsTheFold) {
  auto store = open_store();
  const core::Actor bob{"U02BOB", "Bob Builder", "bob"};
  const core::Actor carol{"U03CAROL", "Carol", "carol"};
  const core::Actor typed{"@dave", "@dave"};  // a mention typed as text: no member
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));
  must(store->append(append_request(
      1, 1,
      {follow_up(created(1, "replace the M3 thermal cut-out", bob, at_minute(60 * 24)), 10),
       follow_up(created(2, "review the belt inspection interval", std::nullopt), 11),
       follow_up(created(3, "order a spare motor", typed), 12)})));
  must(store->append(append_request(
      2, 1, {follow_up(created(1, "calibrate the oven 2 thermocouple", carol), 13)})));
  must(store->append(append_request(
      1, 4,
      {follow_up(assigned(2, carol), 20), follow_up(redated(1, at_minute(60 * 48)), 21),
       follow_up(status_of(1, core::FollowUpStatus::in_progress), 22),
       follow_up(status_of(3, core::FollowUpStatus::done), 23)})));

  const Incident one = core::fold(must(store->events(1)));
  const Incident two = core::fold(must(store->events(2)));
  const auto open = must(store->follow_ups("acme", std::nullopt, false));
  const auto all = must(store->follow_ups("acme", std::nullopt, true));

  EXPECT_THAT(follow_up_keys(all), ElementsAre(std::pair<IncidentId, std::int64_t>{1, 1},
                                               std::pair<IncidentId, std::int64_t>{1, 2},
                                               std::pair<IncidentId, std::int64_t>{1, 3},
                                               std::pair<IncidentId, std::int64_t>{2, 1}));
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[0].follow_up, one.follow_ups[0]);
  EXPECT_EQ(all[1].follow_up, one.follow_ups[1]);
  EXPECT_EQ(all[2].follow_up, one.follow_ups[2]);
  EXPECT_EQ(all[3].follow_up, two.follow_ups[0]);
  EXPECT_EQ(all[0].organization, "acme");
  EXPECT_EQ(all[0].incident_title, "Line 3 down");
  EXPECT_EQ(all[3].incident_title, "Oven too hot");
  EXPECT_EQ(all[0].follow_up.status, core::FollowUpStatus::in_progress);
  EXPECT_EQ(all[0].follow_up.due, std::optional<core::TimePoint>{at_minute(60 * 48)});
  EXPECT_EQ(all[1].follow_up.assignee, std::optional<core::Actor>{carol});
  EXPECT_EQ(all[1].follow_up.updated_at, at_minute(20));
  EXPECT_THAT(follow_up_keys(open), ElementsAre(std::pair<IncidentId, std::int64_t>{1, 1},
                                                std::pair<IncidentId, std::int64_t>{1, 2},
                                                std::pair<IncidentId, std::int64_t>{2, 1}));
  EXPECT_THAT(follow_up_keys(must(store->follow_ups("acme", "carol", true))),
              ElementsAre(std::pair<IncidentId, std::int64_t>{1, 2},
                          std::pair<IncidentId, std::int64_t>{2, 1}));
  EXPECT_THAT(follow_up_keys(must(store->follow_ups("acme", "bob", false))),
              ElementsAre(std::pair<IncidentId, std::int64_t>{1, 1}));
  EXPECT_TRUE(must(store->follow_ups("acme", "dave", true)).empty());
  EXPECT_TRUE(must(store->follow_ups("acme", "", true)).empty());

  RawDatabase raw(db_path());
  EXPECT_EQ(raw.text("SELECT status FROM follow_ups WHERE incident_id = 1 AND number = 3"), "DONE");
  EXPECT_EQ(raw.text("SELECT COALESCE(assignee_member, 'null') FROM follow_ups "
                     "WHERE incident_id = 1 AND number = 3"),
            "null");
  EXPECT_EQ(raw.integer("SELECT due_ms FROM follow_ups WHERE incident_id = 1 AND number = 1"),
            at_minute(60 * 48).time_since_epoch().count());
}

TEST_F(SqliteEventStoreTest, FollowUpsAreScopedByOrganization) {
  auto store = open_store();
  const core::Actor bob{"U02BOB", "Bob Builder", "bob"};
  AppendRequest globex;
  globex.events = {declared("Press 4 jammed", core::Severity::sev1, 0, "globex"),
                   follow_up(created(1, "grease the press", bob), 1)};
  must(store->append(declare_request("Line 3 down")));
  must(store->append(globex));
  must(store->append(append_request(1, 1, {follow_up(created(1, "replace the belt", bob), 2)})));

  const auto acme = must(store->follow_ups("acme", "bob", true));
  const auto other = must(store->follow_ups("globex", "bob", true));

  ASSERT_EQ(acme.size(), 1U);
  EXPECT_EQ(acme[0].incident, 1);
  EXPECT_EQ(acme[0].follow_up.description, "replace the belt");
  ASSERT_EQ(other.size(), 1U);
  EXPECT_EQ(other[0].incident, 2);
  EXPECT_EQ(other[0].organization, "globex");
  EXPECT_EQ(other[0].follow_up.description, "grease the press");
  EXPECT_TRUE(must(store->follow_ups("", std::nullopt, true)).empty());
}

TEST_F(SqliteEventStoreTest, MembersAreRecordedOnceAndFoundByIdentityInTheirOrganization) {
  auto store = open_store();
  const core::Member ana{
      "slack:U024BE7LH", "Ana", "responder", {{"slack", "U024BE7LH"}, {"teams", "29:ana"}}};
  const core::Member zed{"local:zed", "Zed", "operator", {{"local", "zed"}}};
  core::Member renamed = ana;
  renamed.name = "Ana Renamed";

  EXPECT_TRUE(must(store->record_member("acme", ana, at_minute(1))));
  EXPECT_TRUE(must(store->record_member("acme", zed, at_minute(2))));
  EXPECT_FALSE(must(store->record_member("acme", renamed, at_minute(3))));
  EXPECT_TRUE(must(store->record_member("globex", renamed, at_minute(4))));

  EXPECT_EQ(must(store->member_by_identity("acme", "slack", "U024BE7LH")),
            std::optional<core::Member>{ana});
  EXPECT_EQ(must(store->member_by_identity("acme", "teams", "29:ana")),
            std::optional<core::Member>{ana});
  EXPECT_EQ(must(store->member_by_identity("globex", "slack", "U024BE7LH")),
            std::optional<core::Member>{renamed});
  EXPECT_FALSE(must(store->member_by_identity("initech", "slack", "U024BE7LH")).has_value());
  EXPECT_FALSE(must(store->member_by_identity("acme", "teams", "U024BE7LH")).has_value());
  EXPECT_EQ(must(store->members("acme")), (std::vector<core::Member>{zed, ana}));
  EXPECT_EQ(must(store->members("globex")), std::vector<core::Member>{renamed});
  EXPECT_TRUE(must(store->members("initech")).empty());
  EXPECT_EQ(RawDatabase(db_path()).integer("SELECT first_seen_ms FROM members WHERE "
                                           "organization = 'acme' AND id = 'slack:U024BE7LH'"),
            at_minute(1).time_since_epoch().count());

  store.reset();
  store = open_store();
  EXPECT_EQ(must(store->members("acme")), (std::vector<core::Member>{zed, ana}));
}

TEST_F(SqliteEventStoreTest, MemberWhoseIdentityIsTakenIsAConflictAndNotRecorded) {
  auto store = open_store();
  must(store->record_member("acme", core::Member{"ana", "Ana", "responder", {{"slack", "U1"}}},
                            at_minute(1)));
  const core::Member impostor{"ana2", "Ana Two", "responder", {{"local", "ana2"}, {"slack", "U1"}}};

  auto recorded = store->record_member("acme", impostor, at_minute(2));
  auto nameless = store->record_member("acme", core::Member{}, at_minute(2));

  ASSERT_FALSE(recorded.ok());
  EXPECT_EQ(recorded.error().code, ErrorCode::conflict);
  EXPECT_THAT(recorded.error().message, HasSubstr("slack/U1"));
  ASSERT_EQ(must(store->members("acme")).size(), 1U);
  EXPECT_FALSE(must(store->member_by_identity("acme", "local", "ana2")).has_value());
  EXPECT_EQ(must(store->member_by_identity("acme", "slack", "U1"))->id, "ana");
  ASSERT_FALSE(nameless.ok());
  EXPECT_EQ(nameless.error().code, ErrorCode::invalid_argument);
}

// Group commit: a batch is one transaction, a job a savepoint in it.

std::vector<IncidentId> incident_ids(const std::vector<Incident>& incidents) {
  std::vector<IncidentId> out;
  out.reserve(incidents.size());
  for (const auto& incident : incidents) {
    out.push_back(incident.id);
  }
  return out;
}

TEST_F(SqliteEventStoreTest, BatchWritesAreReadInsideItAndInvisibleElsewhereUntilCommitted) {
  auto store = open_store();
  auto other = open_store();

  must(store->begin_batch());
  must(store->begin_job());
  const auto declared_in_batch = must(store->append(declare_request("Line 3 down", "key-1")));
  must(store->end_job(true));
  must(store->begin_job());
  must(store->append(append_request(1, 1, {message("belt stopped")})));
  must(store->record_member("acme", core::Member{"ana", "Ana", "responder", {{"slack", "U1"}}},
                            at_minute(1)));
  must(store->end_job(true));

  EXPECT_EQ(declared_in_batch.incident, 1);
  EXPECT_EQ(must(store->incident(1))->last_sequence, 2);
  EXPECT_EQ(must(store->events(1)).size(), 2U);
  EXPECT_TRUE(must(store->has_receipt("key-1")));
  EXPECT_EQ(must(store->members("acme")).size(), 1U);
  EXPECT_FALSE(must(other->incident(1)).has_value());
  EXPECT_TRUE(must(other->incidents("")).empty());
  EXPECT_FALSE(must(other->has_receipt("key-1")));
  EXPECT_TRUE(must(other->members("acme")).empty());

  must(store->commit_batch());

  EXPECT_EQ(must(other->incident(1))->last_sequence, 2);
  EXPECT_TRUE(must(other->has_receipt("key-1")));
  EXPECT_EQ(must(other->members("acme")).size(), 1U);
  // Calls outside a batch run in transactions of their own again.
  must(store->append(append_request(1, 2, {message("after the batch")})));
  EXPECT_EQ(must(other->incident(1))->last_sequence, 3);
}

TEST_F(SqliteEventStoreTest, DroppedJobUndoesItsOwnWritesOnly) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  auto entry = must(store->append(AppendRequest{
                        std::nullopt, 0, {}, {outbox_entry("reply")}, {}, "key-reply"}))
                   .outbox.at(0);

  must(store->begin_batch());
  must(store->begin_job());
  must(store->append(append_request(1, 1, {message("kept")})));
  must(store->end_job(true));
  must(store->begin_job());
  must(store->append(declare_request("Oven too hot", "key-dropped")));
  must(store->append(append_request(1, 2, {message("dropped")})));
  must(store->record_member("acme", core::Member{"ana", "Ana", "responder", {{"slack", "U1"}}},
                            at_minute(1)));
  must(store->outbox_done(entry.id));
  must(store->end_job(false));
  // The dropped job's writes are gone inside the batch already.
  EXPECT_FALSE(must(store->incident(2)).has_value());
  EXPECT_EQ(must(store->incident(1))->last_sequence, 2);
  must(store->begin_job());
  must(store->append(append_request(1, 2, {message("kept too")})));
  must(store->end_job(true));
  must(store->commit_batch());

  store.reset();
  store = open_store();
  const auto events = must(store->events(1));
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(std::get<core::MessagePosted>(events[1].payload).text, "kept");
  EXPECT_EQ(std::get<core::MessagePosted>(events[2].payload).text, "kept too");
  EXPECT_THAT(incident_ids(must(store->incidents(""))), ElementsAre(1));
  EXPECT_FALSE(must(store->has_receipt("key-dropped")));
  EXPECT_TRUE(must(store->members("acme")).empty());
  EXPECT_THAT(ids_of(must(store->pending_outbox())), ElementsAre(entry.id));
  // The next incident takes the id the dropped job had used.
  EXPECT_EQ(must(store->append(declare_request("Oven too hot"))).incident, 2);
}

TEST_F(SqliteEventStoreTest, RolledBackBatchLeavesNothing) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));

  must(store->begin_batch());
  must(store->begin_job());
  must(store->append(append_request(1, 1, {message("one")})));
  must(store->end_job(true));
  must(store->begin_job());
  must(store->append(declare_request("Oven too hot", "key-2")));
  must(store->record_member("acme", core::Member{"ana", "Ana", "responder", {}}, at_minute(1)));
  // A job left open is rolled back with the batch.
  store->rollback_batch();
  store->rollback_batch();  // harmless when nothing is open

  EXPECT_EQ(must(store->incident(1))->last_sequence, 1);
  EXPECT_FALSE(must(store->incident(2)).has_value());
  EXPECT_FALSE(must(store->has_receipt("key-2")));
  EXPECT_TRUE(must(store->members("acme")).empty());
  // The store works as before, in and out of batches.
  must(store->append(append_request(1, 1, {message("after")})));
  must(store->begin_batch());
  must(store->append(append_request(1, 2, {message("in a new batch")})));
  must(store->commit_batch());
  store.reset();
  EXPECT_EQ(must(open_store()->events(1)).size(), 3U);
}

TEST_F(SqliteEventStoreTest, FailingCallsInABatchUndoOnlyThemselves) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));
  must(store->append(append_request(2, 1, {channel_linked("local", "C-SHARED")})));

  must(store->begin_batch());
  must(store->begin_job());
  must(store->append(append_request(1, 1, {message("first")})));
  // A stale expected sequence: someone appended first.
  auto conflicting = store->append(append_request(1, 1, {message("stale")}, "key-stale"));
  // Events inserted, then the projection update fails (the channel is taken).
  auto clashing =
      store->append(append_request(1, 2, {message("before"), channel_linked("local", "C-SHARED")}));
  auto taken = store->record_member(
      "acme", core::Member{"ana", "Ana", "responder", {{"slack", "U1"}}}, at_minute(1));
  auto impostor = store->record_member(
      "acme", core::Member{"ana2", "Ana Two", "responder", {{"local", "a2"}, {"slack", "U1"}}},
      at_minute(2));
  must(store->append(append_request(1, 2, {message("second")})));
  must(store->end_job(true));
  must(store->commit_batch());

  ASSERT_FALSE(conflicting.ok());
  EXPECT_EQ(conflicting.error().code, ErrorCode::conflict);
  ASSERT_FALSE(clashing.ok());
  EXPECT_EQ(clashing.error().code, ErrorCode::storage);
  EXPECT_TRUE(taken.ok());
  ASSERT_FALSE(impostor.ok());
  EXPECT_EQ(impostor.error().code, ErrorCode::conflict);
  store.reset();
  store = open_store();
  const auto events = must(store->events(1));
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(std::get<core::MessagePosted>(events[1].payload).text, "first");
  EXPECT_EQ(std::get<core::MessagePosted>(events[2].payload).text, "second");
  EXPECT_EQ(must(store->incident(1)), std::optional<Incident>{core::fold(events)});
  EXPECT_FALSE(must(store->has_receipt("key-stale")));
  EXPECT_EQ(must(store->members("acme")).size(), 1U);
  EXPECT_FALSE(must(store->member_by_identity("acme", "local", "a2")).has_value());
}

TEST_F(SqliteEventStoreTest, BatchCallsOutOfOrderAreRefusedAndChangeNothing) {
  auto store = open_store();

  auto commit_none = store->commit_batch();
  auto job_none = store->begin_job();
  auto end_none = store->end_job(true);
  must(store->begin_batch());
  auto twice = store->begin_batch();
  auto end_unbegun = store->end_job(false);
  must(store->append(declare_request("Line 3 down")));
  must(store->commit_batch());

  for (const auto* refused : {&commit_none, &job_none, &end_none, &twice, &end_unbegun}) {
    ASSERT_FALSE(refused->ok());
    EXPECT_EQ(refused->error().code, ErrorCode::refused);
    EXPECT_THAT(refused->error().message, HasSubstr(db_path().string()));
  }
  EXPECT_EQ(must(open_store()->incidents("")).size(), 1U);
}

// The reader connection: reads only, never in the writer's way.

TEST_F(SqliteEventStoreTest, ReaderSeesWhatIsCommittedAndNothingOfAnOpenBatch) {
  auto writer = open_store();
  must(writer->append(declare_request("Line 3 down")));
  auto reader = open_reader();

  EXPECT_THAT(incident_ids(must(reader->incidents("acme"))), ElementsAre(1));
  must(writer->begin_batch());
  must(writer->append(append_request(1, 1, {message("belt stopped")})));
  must(writer->append(declare_request("Oven too hot", "key-2")));
  EXPECT_EQ(must(reader->incident(1))->last_sequence, 1);
  EXPECT_EQ(must(reader->events(1)).size(), 1U);
  EXPECT_FALSE(must(reader->incident(2)).has_value());
  EXPECT_FALSE(must(reader->has_receipt("key-2")));
  must(writer->commit_batch());

  EXPECT_EQ(must(reader->incident(1))->last_sequence, 2);
  EXPECT_THAT(incident_ids(must(reader->incidents(""))), ElementsAre(2, 1));
  EXPECT_TRUE(must(reader->has_receipt("key-2")));
  EXPECT_EQ(reader->schema_version(), SqliteEventStore::latest_schema_version());
}

TEST_F(SqliteEventStoreTest, ReaderRefusesEveryWrite) {
  auto writer = open_store();
  auto entry =
      must(writer->append(AppendRequest{std::nullopt, 0, {}, {outbox_entry("reply")}, {}, "k"}))
          .outbox.at(0);
  auto reader = open_reader();

  std::vector<core::Error> refusals;
  auto note = [&](const auto& result) {
    if (result.ok()) {
      ADD_FAILURE() << "a reader wrote";
    } else {
      refusals.push_back(result.error());
    }
  };
  note(reader->append(declare_request("Line 3 down")));
  note(reader->record_member("acme", core::Member{"ana", "Ana", "responder", {}}, at_minute(1)));
  note(reader->outbox_done(entry.id));
  note(reader->outbox_retry(entry.id, 1, at_minute(1), "later"));
  note(reader->outbox_failed(entry.id, 1, "no", at_minute(1)));
  const std::int64_t ids[] = {entry.id};
  note(reader->outbox_remove(ids));
  note(reader->begin_batch());

  ASSERT_EQ(refusals.size(), 7U);
  for (const auto& refusal : refusals) {
    EXPECT_EQ(refusal.code, ErrorCode::refused);
    EXPECT_THAT(refusal.message, HasSubstr("reader"));
    EXPECT_THAT(refusal.message, HasSubstr(db_path().string()));
  }
  EXPECT_TRUE(must(writer->incidents("")).empty());
  EXPECT_TRUE(must(writer->members("acme")).empty());
  EXPECT_EQ(must(writer->pending_outbox()), std::vector<core::OutboxEntry>{entry});
  EXPECT_EQ(must(reader->pending_outbox()), std::vector<core::OutboxEntry>{entry});
}

TEST_F(SqliteEventStoreTest, ReaderNeitherCreatesNorMigratesTheFile) {
  auto missing = try_open_reader();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::storage);
  EXPECT_THAT(missing.error().message, HasSubstr("open the writer store first"));
  EXPECT_FALSE(fs::exists(db_path()));

  const std::string v1 = read_file(fixtures_dir() / "sqlite" / "v1.sql");
  RawDatabase(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec(v1);
  RawDatabase(db_path()).exec("PRAGMA journal_mode=WAL");
  auto old = try_open_reader();
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, ErrorCode::storage);
  EXPECT_THAT(old.error().message, HasSubstr("schema version 1"));
  EXPECT_THAT(old.error().message, HasSubstr("open the writer store first"));
  EXPECT_EQ(RawDatabase(db_path()).integer("PRAGMA user_version"), 1);

  open_store().reset();  // the writer migrates
  RawDatabase(db_path()).exec("PRAGMA user_version = " +
                              std::to_string(SqliteEventStore::latest_schema_version() + 1));
  auto newer = try_open_reader();
  ASSERT_FALSE(newer.ok());
  EXPECT_THAT(newer.error().message, HasSubstr("upgrade haverid"));
}

TEST_F(SqliteEventStoreTest, ReaderOfAFileNotInWalModeIsRefused) {
  const std::string v1 = read_file(fixtures_dir() / "sqlite" / "v1.sql");
  RawDatabase(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec(v1);

  auto opened = try_open_reader();

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::storage);
  EXPECT_THAT(opened.error().message, HasSubstr("not WAL"));
  EXPECT_EQ(RawDatabase(db_path()).text("PRAGMA journal_mode"), "delete");
}

// A long read (a search stepping through its rows) holds a WAL snapshot; the writer
// commits past it at once, and the read goes on seeing its snapshot.
TEST_F(SqliteEventStoreTest, ReaderInTheMiddleOfAStatementDoesNotBlockTheWriter) {
  auto writer = open_store();
  must(writer->append(declare_request("first")));
  must(writer->append(declare_request("second")));
  auto reader = open_reader();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> connection(raw, &sqlite3_close_v2);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(raw, "SELECT id FROM incidents ORDER BY id", -1, &statement, nullptr),
      SQLITE_OK);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> reading(statement, &sqlite3_finalize);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);  // mid-statement: the snapshot is held
  EXPECT_EQ(sqlite3_column_int64(statement, 0), 1);

  // Would wait for the 5 s busy timeout and fail with SQLITE_BUSY without WAL.
  must(writer->append(append_request(1, 1, {message("while reading")})));
  must(writer->begin_batch());
  must(writer->append(declare_request("third")));
  must(writer->commit_batch());

  // The statement goes on in its snapshot: the third incident is not in it.
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(statement, 0), 2);
  EXPECT_EQ(sqlite3_step(statement), SQLITE_DONE);
  EXPECT_THAT(incident_ids(must(reader->incidents(""))), ElementsAre(3, 2, 1));
  EXPECT_EQ(must(reader->events(1)).size(), 2U);
}

// Hands the test the connection of the next store opened, to make its disk "full".
sqlite3* g_opened_connection = nullptr;
int capture_connection(sqlite3* db, const char** /*error*/, const void* /*api*/) {
  g_opened_connection = db;
  return SQLITE_OK;
}

class CapturedConnection {
 public:
  CapturedConnection() {
    g_opened_connection = nullptr;
    sqlite3_auto_extension(entry());
  }
  ~CapturedConnection() { sqlite3_cancel_auto_extension(entry()); }
  CapturedConnection(const CapturedConnection&) = delete;
  CapturedConnection& operator=(const CapturedConnection&) = delete;
  sqlite3* get() const { return g_opened_connection; }

 private:
  static void (*entry())() {
    // sqlite3_auto_extension takes the entry point as a void(*)(void) and calls it with
    // the extension arguments, the same cast sqlite3ext.h users make.
    return reinterpret_cast<void (*)()>(&capture_connection);  // NOLINT
  }
};

// The disk filling up in the middle of a batch: SQLite rolls back the whole transaction
// by itself. Everything after must fail cleanly, and nothing run outside the batch.
TEST_F(SqliteEventStoreTest, BatchRolledBackBySqliteFailsEveryLaterCallAndTheCommit) {
  CapturedConnection captured;
  auto store = open_store();
  sqlite3* connection = captured.get();
  ASSERT_NE(connection, nullptr);
  must(store->append(declare_request("Line 3 down")));
  RawDatabase(db_path(), SQLITE_OPEN_READWRITE)
      .exec("PRAGMA wal_checkpoint(TRUNCATE)");  // every page in the main file
  const std::string full = "PRAGMA max_page_count = " +
                           std::to_string(RawDatabase(db_path()).integer("PRAGMA page_count"));
  ASSERT_EQ(sqlite3_exec(connection, full.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);

  must(store->begin_batch());
  must(store->begin_job());
  must(store->append(append_request(1, 1, {message("small")})));
  must(store->end_job(true));
  must(store->begin_job());
  auto too_big = store->append(append_request(1, 2, {message(std::string(200'000, 'x'))}));
  auto after_job = store->end_job(false);
  auto later_append = store->append(append_request(1, 2, {message("later")}));
  auto later_read = store->events(1);
  auto later_job = store->begin_job();
  auto committed = store->commit_batch();
  store->rollback_batch();

  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::storage);
  EXPECT_THAT(too_big.error().message, HasSubstr("disk is full"));
  for (const auto* failed : {&after_job, &later_job, &committed}) {
    ASSERT_FALSE(failed->ok());
    EXPECT_EQ(failed->error().code, ErrorCode::storage);
    EXPECT_THAT(failed->error().message, HasSubstr("rolled back the batch"));
    EXPECT_THAT(failed->error().message, HasSubstr(db_path().string()));
  }
  ASSERT_FALSE(later_append.ok());
  EXPECT_THAT(later_append.error().message, HasSubstr("rolled back the batch"));
  ASSERT_FALSE(later_read.ok());
  EXPECT_EQ(later_read.error().code, ErrorCode::storage);
  // Nothing of the batch, and nothing after it, was stored.
  EXPECT_EQ(RawDatabase(db_path()).integer("SELECT COUNT(*) FROM events"), 1);
  // With room again the store carries on.
  ASSERT_EQ(
      sqlite3_exec(connection, "PRAGMA max_page_count = 1073741823", nullptr, nullptr, nullptr),
      SQLITE_OK);
  must(store->begin_batch());
  must(store->append(append_request(1, 1, {message("again")})));
  must(store->commit_batch());
  EXPECT_EQ(must(store->events(1)).size(), 2U);
}

// Full-text search.

Event on_minute(int minute, core::EventPayload payload, const core::Actor& actor = alice) {
  return Event{0, 0, at_minute(minute), actor, std::move(payload)};
}

core::Summary pump_summary() {
  core::Summary summary;
  summary.what_happened = "The pump stopped twice during the night shift.";
  summary.root_cause = "A worn coupling insert slipped under load.";
  summary.resolution = "Fitted a new insert and realigned the shafts.";
  summary.impact.duration_minutes = 95;
  summary.impact.other = {{"customer orders delayed", "12"}};
  return summary;
}

class SearchTest : public SqliteEventStoreTest {
 protected:
  // acme INC-1: every kind of text; acme INC-2: a printer; globex INC-3: a cold store.
  // Appends interleave, so search rows are not stored incident by incident.
  void SetUp() override {
    SqliteEventStoreTest::SetUp();
    store_ = open_store();
    must(store_->append(declare_request("Pump 3 failure at the café")));
    must(store_->append(declare_request("Label printer jam")));
    Event cold = declared("Kühlhaus pump alarm", core::Severity::sev1, 0, "globex");
    must(store_->append(AppendRequest{std::nullopt, 0, {cold}, {}, {}, {}}));
    must(store_->append(append_request(
        1, 1,
        {channel_linked("local", "C-INC-1"),
         on_minute(3,
                   core::MessagePosted{"pump-3 down, motor overheating", general_channel, "m-1"}),
         on_minute(4,
                   core::Annotation{"bearing noise reported by the night shift", std::nullopt})})));
    must(store_->append(append_request(
        2, 1,
        {on_minute(5, core::MessagePosted{"the printer in hall B shows a paper error again and "
                                          "again, we tried the usual reset and the spare "
                                          "roll but the label stock keeps tearing; the jam "
                                          "is somewhere behind the cutter",
                                          general_channel, "m-2"})})));
    must(store_->append(
        append_request(3, 1,
                       {on_minute(6, core::MessagePosted{"Kühlhaus 2 zeigt 9 °C, secretglobexword",
                                                         general_channel, "m-3"})})));
    must(store_->append(append_request(
        1, 4,
        {on_minute(7, core::Annotation{"message edited: pump-3 down, motor smoking", 3}),
         on_minute(8, core::ActionTaken{"tightened the flange with a torque wrench"}),
         on_minute(9, core::TitleChanged{"Pump 3 failure at the café", "Pump 3 coupling failure"}),
         on_minute(10, core::SummaryRecorded{pump_summary()}),
         status(core::Status::declared, core::Status::resolved, 10)})));
  }

  std::vector<core::SearchHit> search(std::string_view organization, std::string_view query,
                                      std::size_t limit = 20) {
    return must(store_->search(organization, query, limit));
  }
  std::vector<IncidentId> found(std::string_view organization, std::string_view query) {
    std::vector<IncidentId> out;
    for (const auto& hit : search(organization, query)) {
      out.push_back(hit.incident);
    }
    return out;
  }

  std::unique_ptr<SqliteEventStore> store_;
};

TEST_F(SearchTest, FindsEveryKindOfText) {
  struct Case {
    const char* query;
    const char* field;
  };
  const Case cases[] = {
      {"cafe", "title"},  // the first title, accent folded
      {"COUPLING failure", "title"},
      {"overheating", "message"},
      {"smoking", "message"},  // the new text of an edited message
      {"bearing", "note"},
      {"wrench", "action"},
      {"insert", "summary"},     // root cause
      {"realigned", "summary"},  // resolution
      {"night shift pump stopped", "summary"},
      {"customer", "summary"},  // a free impact field
  };
  for (const auto& [query, field] : cases) {
    const auto hits = search("acme", query);
    ASSERT_EQ(hits.size(), 1U) << query;
    EXPECT_EQ(hits[0].incident, 1) << query;
    EXPECT_EQ(hits[0].field, field) << query;
    EXPECT_EQ(hits[0].organization, "acme");
    EXPECT_EQ(hits[0].title, "Pump 3 coupling failure");
    EXPECT_EQ(hits[0].status, core::Status::resolved);
    EXPECT_EQ(hits[0].severity, core::Severity::sev2);
    ASSERT_TRUE(hits[0].channel.has_value());
    EXPECT_EQ(hits[0].channel->id, "C-INC-1");
  }
  const auto cold = search("globex", "kuhlhaus");
  ASSERT_EQ(cold.size(), 1U);
  EXPECT_EQ(cold[0].incident, 3);
  EXPECT_EQ(cold[0].field, "title");
  EXPECT_EQ(cold[0].severity, core::Severity::sev1);
  EXPECT_FALSE(cold[0].channel.has_value());
}

TEST_F(SearchTest, OneHitPerIncidentBestMatchFirst) {
  // "pump" is in INC-1's titles, messages and summary, and in INC-3's title.
  const auto acme = search("acme", "pump");
  ASSERT_EQ(acme.size(), 1U);
  EXPECT_EQ(acme[0].incident, 1);
  EXPECT_THAT(found("", "pump"), ::testing::UnorderedElementsAre(1, 3));
  // A short title full of the word beats a long message that mentions it once.
  EXPECT_THAT(found("acme", "jam OR pump"), ::testing::UnorderedElementsAre(1, 2));
  const auto jam = search("acme", "jam");
  ASSERT_EQ(jam.size(), 1U);
  EXPECT_EQ(jam[0].field, "title");  // INC-2's best row: its title, not the long message
}

TEST_F(SearchTest, BetterMatchesComeFirst) {
  must(store_->append(declare_request("Conveyor belt")));  // INC-4
  must(store_->append(append_request(
      4, 1,
      {message("we looked at the line for a while and then someone mentioned a conveyor "
               "issue near the wrapping station, but it was probably nothing serious at all")})));
  must(store_->append(declare_request("Conveyor conveyor conveyor stopped")));  // INC-5

  EXPECT_THAT(found("acme", "conveyor"), ElementsAre(5, 4));
}

TEST_F(SearchTest, SnippetMarksTheMatchesAndCutsLongText) {
  const auto smoking = search("acme", "smoking");
  ASSERT_EQ(smoking.size(), 1U);
  EXPECT_EQ(smoking[0].snippet, "pump-3 down, motor **smoking**");

  const auto cutter = search("acme", "cutter");
  ASSERT_EQ(cutter.size(), 1U);
  EXPECT_EQ(cutter[0].field, "message");
  EXPECT_THAT(cutter[0].snippet, HasSubstr("**cutter**"));
  EXPECT_THAT(cutter[0].snippet, ::testing::StartsWith("…"));
  EXPECT_LT(cutter[0].snippet.size(), 120U);

  const auto prefix = search("acme", "overheat*");
  ASSERT_EQ(prefix.size(), 1U);
  EXPECT_THAT(prefix[0].snippet, HasSubstr("**overheating**"));
}

TEST_F(SearchTest, OrdinaryTextAndOperatorsWorkAsPeopleExpect) {
  EXPECT_THAT(found("acme", "pump-3 down"), ElementsAre(1));
  EXPECT_THAT(found("acme", "pump-3"), ElementsAre(1));
  EXPECT_THAT(found("acme", "motor, overheating!"), ElementsAre(1));
  EXPECT_THAT(found("acme", "paper error. again?"), ElementsAre(2));
  EXPECT_THAT(found("acme", "café"), ElementsAre(1));
  EXPECT_THAT(found("acme", "hall-b printer"), ElementsAre(2));
  EXPECT_THAT(found("acme", "\"motor overheating\""), ElementsAre(1));
  EXPECT_TRUE(found("acme", "\"overheating motor\"").empty());
  EXPECT_THAT(found("acme", "\"over\"*"), ElementsAre(1));
  EXPECT_THAT(found("acme", "bearing OR printer"), ::testing::UnorderedElementsAre(1, 2));
  EXPECT_THAT(found("acme", "bearing AND printer"), ElementsAre());
  EXPECT_THAT(found("acme", "pump NOT printer"), ElementsAre(1));
  // NOT leaves out texts, not incidents: INC-1's other texts do not mention "night".
  EXPECT_THAT(found("acme", "(jam OR bearing) NOT (night)"), ElementsAre(2));
  EXPECT_THAT(found("acme", "label (printer OR scanner)"), ElementsAre(2));
  EXPECT_THAT(found("acme", "NEAR(motor overheating, 2)"), ElementsAre(1));
  EXPECT_THAT(found("acme", "NEAR(pump smoking)"), ElementsAre(1));
  EXPECT_THAT(found("acme", "and or not near"), ElementsAre());  // lower case: words
  EXPECT_THAT(found("acme", "pump - motor"), ElementsAre(1));    // a lone dash is left out
  EXPECT_THAT(found("acme", std::string(10, '(') + "jam" + std::string(10, ')')), ElementsAre(2));
  // NOT binds before AND, AND before OR.
  EXPECT_THAT(found("acme", "bearing OR jam AND printer"), ::testing::UnorderedElementsAre(1, 2));
  EXPECT_THAT(found("acme", "(bearing OR jam) AND printer"), ElementsAre(2));
  EXPECT_THAT(found("acme", "jam OR bearing NOT night"), ElementsAre(2));
}

TEST_F(SearchTest, DeletedMessagesAreNoLongerFound) {
  must(store_->append(
      append_request(2, 2, {message("the admin password is hunter2", 11)})));  // INC-2 event 3
  EXPECT_THAT(found("acme", "hunter2"), ElementsAre(2));
  must(store_->append(append_request(2, 3,
                                     {on_minute(12, core::Annotation{"message edited: the admin "
                                                                     "password is hunter3",
                                                                     3})})));
  EXPECT_THAT(found("acme", "hunter3"), ElementsAre(2));

  must(store_->append(
      append_request(2, 4, {on_minute(13, core::Annotation{"message deleted", 3})})));

  EXPECT_TRUE(found("acme", "hunter2").empty());
  EXPECT_TRUE(found("acme", "hunter3").empty());
  EXPECT_THAT(found("acme", "printer"), ElementsAre(2));  // the rest stays
  // A note that only mentions deleting is a note.
  must(store_->append(
      append_request(2, 5, {on_minute(14, core::Annotation{"message deleted", std::nullopt})})));
  EXPECT_EQ(search("acme", "deleted").at(0).field, "note");
}

TEST_F(SearchTest, ResultsAreScopedByOrganizationWhateverIsTyped) {
  EXPECT_THAT(found("globex", "secretglobexword"), ElementsAre(3));
  EXPECT_TRUE(found("acme", "secretglobexword").empty());
  EXPECT_TRUE(found("acme", "kuhlhaus").empty());
  EXPECT_TRUE(found("initech", "pump").empty());
  EXPECT_THAT(found("", "secretglobexword"), ElementsAre(3));  // the admin API: every one

  // Organizations are not searchable text, and no query reaches another's rows.
  const char* hostile[] = {
      "globex",
      "\"globex\"",
      "organization:globex",
      "organization : globex",
      "{organization}: secretglobexword",
      "secretglobexword OR organization:globex",
      "-organization:acme secretglobexword",
      "\"secretglobexword\" OR organization:*",
      "secretglobexword) OR (organization:globex",
      "secretglobexword' OR '1'='1",
      "secretglobexword\" OR organization = 'globex' --",
      "NEAR(secretglobexword organization, 100)",
      "kuhlhaus*",
      "s*",
      "^secretglobexword",
      "secretglobexword + pump",
  };
  for (const char* query : hostile) {
    auto hits = store_->search("acme", query, 50);
    if (!hits.ok()) {
      EXPECT_EQ(hits.error().code, ErrorCode::invalid_argument) << query;
      continue;
    }
    for (const auto& hit : *hits) {
      EXPECT_EQ(hit.organization, "acme") << query;
      EXPECT_NE(hit.incident, 3) << query;
    }
  }
}

TEST_F(SearchTest, MalformedQueriesAreExplainedToThePersonWhoTypedThem) {
  struct Case {
    std::string query;
    const char* problem;
  };
  const Case cases[] = {
      {"\"unbalanced", "double quote is not closed"},
      {"pump \"motor overheating", "double quote is not closed"},
      {"AND", "AND needs words on both sides"},
      {"OR", "OR needs words on both sides"},
      {"NOT", "NOT needs words on both sides"},
      {"pump AND", "AND needs words on both sides"},
      {"OR pump", "OR needs words on both sides"},
      {"NOT pump", "NOT needs words on both sides"},
      {"pump NOT", "NOT needs words on both sides"},
      {"pump AND AND motor", "AND needs words on both sides"},
      {"pump AND OR motor", "AND needs words on both sides"},
      {"(pump OR) motor", "OR needs words on both sides"},
      {"foo(", "unbalanced parenthesis"},
      {"(pump", "unbalanced parenthesis"},
      {"pump)", "unbalanced parenthesis"},
      {")pump(", "unbalanced parenthesis"},
      {"((pump)", "unbalanced parenthesis"},
      {"()", "nothing between ( and )"},
      {std::string(11, '(') + "pump" + std::string(11, ')'), "parentheses inside each other"},
      {"*", "a * goes right after a word"},
      {"pump *", "a * goes right after a word"},
      {"*pump", "a * goes right after a word"},
      {"pu*mp", "a * goes right after a word"},
      {"pump**", "a * goes right after a word"},
      {"-*", "a * goes right after a word"},
      {"\"...\"*", "a * goes right after a word"},
      {"NEAR(", "NEAR( is not closed"},
      {"NEAR(pump motor", "NEAR( is not closed"},
      {"NEAR(pump motor, x)", "NEAR( takes a number of words after its comma"},
      {"NEAR(pump motor, 3", "NEAR( takes a number of words after its comma"},
      {"NEAR()", "NEAR( needs words"},
      {"NEAR((pump) motor)", "not parentheses"},
      {"NEAR(pump OR motor)", "not OR"},
      {":", "a colon names a field"},
      {"pump :", "a colon names a field"},
      {"pump:", "\"pump:\" looks like a field"},
      {"foo:bar", "\"foo:\" looks like a field"},
      {"text:pump", "\"text:\" looks like a field"},
      {"title:pump", "\"title:\" looks like a field"},
      {"organization:acme", "\"organization:\" looks like a field"},
      {"{text}:pump", "looks like a field"},
      {"", "nothing to search for"},
      {"   \t\n ", "nothing to search for"},
      {"!!! ... ?", "nothing to search for"},
      {"\"\"", "nothing to search for"},
      {"- + ^", "nothing to search for"},
      {std::string("\0\x01", 2), "nothing to search for"},
  };
  for (const auto& [query, problem] : cases) {
    auto hits = store_->search("acme", query, 10);
    ASSERT_FALSE(hits.ok()) << query;
    EXPECT_EQ(hits.error().code, ErrorCode::invalid_argument) << query;
    EXPECT_THAT(hits.error().message, ::testing::StartsWith("can't search for \"")) << query;
    EXPECT_THAT(hits.error().message, HasSubstr(problem)) << query;
  }
  const auto unbalanced = store_->search("acme", "foo(", 10);
  EXPECT_EQ(unbalanced.error().message,
            "can't search for \"foo(\": unbalanced parenthesis: a ( is not closed; put words in "
            "double quotes to search for them as typed");
  EXPECT_THAT(store_->search("acme", "organization:other", 10).error().message,
              HasSubstr("as in \"organization:other\""));
  // Quoted, the same text is searched as typed.
  EXPECT_TRUE(must(store_->search("acme", "\"foo(\" \"organization:other\" \"*\"", 10)).empty());
  // Invalid UTF-8 is shown as a replacement character, never copied into the message.
  auto invalid = store_->search("acme", "pump \xff(", 10);
  ASSERT_FALSE(invalid.ok());
  EXPECT_THAT(invalid.error().message, HasSubstr("pump \xEF\xBF\xBD("));
}

// FTS5 reads its expression as a C string; a NUL inside a phrase once ended it
// early and came back as a storage error (HTTP 500).
TEST_F(SearchTest, ControlCharactersSeparateWordsAndNeverFailTheStore) {
  for (const std::string& query :
       {std::string("\"pump\0\"", 7), std::string("\"a\0b\"", 5), std::string("pump\0", 5),
        std::string("pu\x01mp"), std::string("\x7f")}) {
    auto result = store_->search("acme", query, 10);
    EXPECT_TRUE(result.ok() || result.error().code == ErrorCode::invalid_argument)
        << result.error().message;
  }
}

// Whatever is typed, the answer is hits or an explanation: never a storage error.
TEST_F(SearchTest, AnyQueryIsAnsweredOrExplained) {
  const std::vector<std::string> pieces = {"pump",
                                           "jam",
                                           "AND",
                                           "OR",
                                           "NOT",
                                           "NEAR",
                                           "NEAR(",
                                           "(",
                                           ")",
                                           "\"",
                                           "*",
                                           ":",
                                           "-",
                                           "+",
                                           "^",
                                           "{",
                                           "}",
                                           ",",
                                           "5",
                                           "'",
                                           ";",
                                           "--",
                                           "\\",
                                           "é",
                                           "\xff",
                                           "\t",
                                           " ",
                                           "pump*",
                                           "\"jam\"",
                                           "text:",
                                           "rank",
                                           "bm25(",
                                           "MATCH",
                                           "''",
                                           "%",
                                           "_",
                                           "NEAR(pump jam, 2)",
                                           std::string(1, '\0'),
                                           "\x01",
                                           "\x7f"};
  std::mt19937 random(20261124);
  std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(1, 12);
  for (int round = 0; round < 1500; ++round) {
    std::string query;
    for (int n = length(random); n > 0; --n) {
      query += pieces[piece(random)];
      if (random() % 2 == 0) {
        query += ' ';
      }
    }
    auto hits = store_->search("acme", query, 5);
    if (!hits.ok()) {
      EXPECT_EQ(hits.error().code, ErrorCode::invalid_argument)
          << query << ": " << hits.error().message;
      EXPECT_THAT(hits.error().message, ::testing::StartsWith("can't search for")) << query;
      continue;
    }
    for (const auto& hit : *hits) {
      EXPECT_EQ(hit.organization, "acme") << query;
    }
  }
}

TEST_F(SearchTest, LongQueriesAreRefused) {
  const std::string ten_kb(10 * 1024, 'a');
  auto refused = store_->search("acme", ten_kb, 10);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(refused.error().message, HasSubstr("at most 500 bytes"));
  EXPECT_EQ(refused.error().message.find(ten_kb.substr(0, 600)), std::string::npos);

  std::string words;
  while (words.size() + 5 <= 500) {
    words += "pump ";
  }
  EXPECT_THAT(found("acme", words), ElementsAre(1));
  EXPECT_FALSE(store_->search("acme", std::string(501, 'a'), 10).ok());
}

TEST_F(SearchTest, AtMostLimitHitsAndNeverMoreThanFifty) {
  for (int i = 0; i < 60; ++i) {
    must(store_->append(declare_request("Conveyor stop " + std::to_string(i))));
  }

  EXPECT_EQ(search("acme", "conveyor", 1).size(), 1U);
  EXPECT_EQ(search("acme", "conveyor", 7).size(), 7U);
  EXPECT_TRUE(search("acme", "conveyor", 0).empty());
  EXPECT_EQ(search("acme", "conveyor", 1000).size(), 50U);
  EXPECT_EQ(search("", "conveyor", static_cast<std::size_t>(-1)).size(), 50U);
}

TEST_F(SearchTest, ReaderSearchesWhatIsCommitted) {
  auto reader = open_reader();
  must(store_->begin_batch());
  must(store_->append(declare_request("Forklift battery fire")));
  EXPECT_THAT(found("acme", "forklift"), ElementsAre(4));  // the batch sees itself
  EXPECT_TRUE(must(reader->search("acme", "forklift", 10)).empty());
  must(store_->commit_batch());

  const auto hits = must(reader->search("acme", "forklift", 10));
  ASSERT_EQ(hits.size(), 1U);
  EXPECT_EQ(hits[0].snippet, "**Forklift** battery fire");
  EXPECT_EQ(must(reader->projection_rows()), must(store_->projection_rows()));
}

// A search that runs past its time budget is cut off and explained, and the
// connection goes on working (chat searches run on the writer, ahead of others).
TEST_F(SearchTest, ASearchPastItsTimeBudgetIsCutOffAndExplained) {
  SqliteOptions options{db_path(), "full"};
  options.reader = true;
  options.search_time_budget = std::chrono::milliseconds(0);
  auto hurried = must(SqliteEventStore::open(options));
  auto cut = hurried->search("acme", "pump OR printer OR jam OR motor*", 10);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(cut.error().message, HasSubstr("matches too much to answer quickly"));
  EXPECT_FALSE(must(hurried->incidents("acme")).empty());  // not interrupted any more
  EXPECT_THAT(found("acme", "printer"), ElementsAre(2));   // the default budget suffices
}

TEST_F(SearchTest, DroppedJobLeavesNothingInTheIndex) {
  must(store_->begin_batch());
  must(store_->begin_job());
  must(store_->append(append_request(2, 2, {message("forklift blocking the printer")})));
  must(store_->end_job(false));
  must(store_->commit_batch());

  EXPECT_TRUE(found("acme", "forklift").empty());
  const auto before = must(store_->projection_rows());
  must(store_->rebuild_projections());
  EXPECT_EQ(must(store_->projection_rows()), before);
}

// Rebuilding the projections from the events gives what the appends kept, row for row.

bool has_line_of(const std::vector<std::string>& rows, const std::string& table) {
  return std::any_of(rows.begin(), rows.end(), [&](const std::string& row) {
    return row.starts_with("[\"" + table + "\",");
  });
}

TEST_F(SearchTest, RebuiltProjectionsEqualTheLiveOnesRowForRow) {
  must(store_->append(append_request(
      1, 9,
      {follow_up(created(1, "Replace the coupling on pump 4", alice, at_minute(60)), 11),
       follow_up(created(2, "Order spare inserts", std::nullopt), 12),
       follow_up(status_of(2, core::FollowUpStatus::done), 13)})));
  must(store_->append(append_request(
      2, 2, {message("cleared it", 14), on_minute(15, core::Annotation{"message deleted", 3})})));
  const auto live = must(store_->projection_rows());

  must(store_->rebuild_projections());
  const auto rebuilt = must(store_->projection_rows());

  EXPECT_EQ(rebuilt, live);
  for (const char* table : {"incidents", "follow_ups", "search_documents", "search_index"}) {
    EXPECT_TRUE(has_line_of(live, table)) << table;
  }
  EXPECT_THAT(live, ::testing::Contains(HasSubstr("\"Order spare inserts\"")));
  EXPECT_THAT(live, ::testing::Contains(
                        ::testing::StartsWith(R"(["search_index",1,3,"message","smoking",)")));
  // Idempotent, and the index is consistent with its texts.
  must(store_->rebuild_projections());
  EXPECT_EQ(must(store_->projection_rows()), live);
  RawDatabase(db_path()).exec(
      "INSERT INTO search_index (search_index, rank) VALUES ('integrity-check', 1)");
}

TEST_F(SearchTest, RebuildMendsDamagedProjections) {
  const auto live = must(store_->projection_rows());
  {
    RawDatabase raw(db_path());
    raw.exec("UPDATE incidents SET title = 'wrong', state = '{}' WHERE id = 1");
    raw.exec("DELETE FROM incidents WHERE id = 2");
    raw.exec(
        "INSERT INTO incidents (id, title, status, severity, declared_at_ms, "
        "updated_at_ms, last_sequence, state) VALUES (99, 'ghost', 'DECLARED', 'SEV3', 0, "
        "0, 1, '{}')");
    raw.exec("INSERT INTO search_index (search_index) VALUES ('delete-all')");
    raw.exec("DELETE FROM search_documents");
  }
  EXPECT_TRUE(found("acme", "pump").empty());

  must(store_->rebuild_projections());

  EXPECT_EQ(must(store_->projection_rows()), live);
  EXPECT_THAT(found("acme", "pump"), ElementsAre(1));
  EXPECT_FALSE(must(store_->incident(99)).has_value());
}

TEST_F(SearchTest, RebuildInABatchIsUndoneWithIt) {
  const auto live = must(store_->projection_rows());
  RawDatabase(db_path()).exec("UPDATE incidents SET title = 'damaged' WHERE id = 2");
  const auto damaged = must(store_->projection_rows());

  must(store_->begin_batch());
  must(store_->rebuild_projections());
  EXPECT_EQ(must(store_->projection_rows()), live);
  store_->rollback_batch();

  EXPECT_EQ(must(store_->projection_rows()), damaged);
  auto reader = open_reader();
  auto refused = reader->rebuild_projections();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::refused);
}

// Builds a database file from tests/fixtures/sqlite/v1.sql, as a version 1 haverid left it.
class MigrationTest : public SqliteEventStoreTest {
 protected:
  void write_v1_database() {
    const std::string sql = read_file(fixtures_dir() / "sqlite" / "v1.sql");
    RawDatabase raw(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw.exec(sql);
  }
  // Builds one from tests/fixtures/sqlite/v2.sql, as a version 2 haverid left it.
  void write_v2_database() {
    const std::string sql = read_file(fixtures_dir() / "sqlite" / "v2.sql");
    RawDatabase raw(db_path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    raw.exec(sql);
  }
};

TEST_F(MigrationTest, FixtureIsAVersionOneDatabase) {
  write_v1_database();
  RawDatabase raw(db_path());

  EXPECT_EQ(raw.integer("PRAGMA user_version"), 1);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM events"), 12);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM pragma_table_info('incidents') "
                        "WHERE name = 'organization'"),
            0);
  EXPECT_EQ(raw.text("SELECT state FROM incidents WHERE id = 1").find("status_since"),
            std::string::npos);
}

TEST_F(MigrationTest, VersionOneDatabaseIsMigratedAndReadsBack) {
  write_v1_database();

  auto store = open_store();

  EXPECT_EQ(store->schema_version(), 3);
  const auto events = must(store->events(1));
  ASSERT_EQ(events.size(), 9U);
  EXPECT_EQ(events[0].type(), core::EventType::declared);
  EXPECT_EQ(std::get<core::Declared>(events[0].payload).organization, "");
  EXPECT_EQ(events[4].actor, (core::Actor{"U07MAINT", "Ben Maintenance"}));
  const auto incident = must(store->incident(1));
  ASSERT_TRUE(incident.has_value());
  EXPECT_EQ(incident->title, "Line 3 conveyor stopped");
  EXPECT_EQ(incident->organization, "");
  EXPECT_EQ(incident->status, core::Status::mitigated);
  EXPECT_EQ(incident->severity, core::Severity::sev2);
  EXPECT_EQ(incident->last_sequence, 9);
  EXPECT_EQ(incident->lead, (std::optional<core::Actor>{{"U07MAINT", "Ben Maintenance"}}));
  ASSERT_TRUE(incident->channel.has_value());
  EXPECT_EQ(incident->channel->id, "C-INC-1");
  // The snapshot was rebuilt from the events: it holds what version 1 did not keep.
  EXPECT_EQ(*incident, core::fold(events));
  EXPECT_EQ(incident->status_since, events[8].at);
  EXPECT_TRUE(incident->mitigated_at.has_value());
  EXPECT_EQ(must(store->incident(2)), std::optional<Incident>{core::fold(must(store->events(2)))});
  EXPECT_EQ(must(store->incident(2))->severity, core::Severity::sev1);

  const auto all = must(store->incidents(""));
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, 2);
  EXPECT_EQ(must(store->incidents("acme")).size(), 0U);
  EXPECT_EQ(must(store->incident_by_channel("", "local", "C-INC-1")), std::optional<IncidentId>{1});
  EXPECT_TRUE(must(store->has_receipt("local:local:U07MAINT:m-1008")));
  EXPECT_TRUE(must(store->follow_ups("", std::nullopt, true)).empty());
  EXPECT_TRUE(must(store->pending_outbox()).empty());
}

TEST_F(MigrationTest, MigratedDatabaseTakesNewAppends) {
  write_v1_database();
  auto store = open_store();

  const auto more = must(store->append(append_request(
      1, 9, {status(core::Status::mitigated, core::Status::resolved, 40)}, "local:m-2000")));
  const auto duplicate = must(
      store->append(append_request(1, 8, {message("late retry")}, "local:local:U07MAINT:m-1008")));
  const auto declared_now = must(store->append(declare_request("Line 5 sensor fault")));

  EXPECT_THAT(sequences(more.committed), ElementsAre(10));
  EXPECT_EQ(more.state.status, core::Status::resolved);
  EXPECT_TRUE(duplicate.duplicate);
  EXPECT_EQ(declared_now.incident, 3);
  EXPECT_EQ(must(store->incidents("acme")).size(), 1U);
  store.reset();
  store = open_store();
  EXPECT_EQ(store->schema_version(), 3);
  EXPECT_EQ(must(store->events(1)).size(), 10U);
}

TEST_F(MigrationTest, FailedMigrationLeavesTheVersionOneDatabaseUntouched) {
  write_v1_database();
  RawDatabase(db_path()).exec(
      "UPDATE events SET type = 'teleported' WHERE incident_id = 2 AND sequence = 2");

  auto opened = SqliteEventStore::open(SqliteOptions{db_path(), "full"});

  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::storage);
  EXPECT_THAT(opened.error().message, HasSubstr("INC-2 event 2"));
  EXPECT_THAT(opened.error().message, HasSubstr("stays at schema version 1"));
  RawDatabase raw(db_path());
  EXPECT_EQ(raw.integer("PRAGMA user_version"), 1);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('outbox', 'members')"),
            0);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM pragma_table_info('incidents') "
                        "WHERE name = 'organization'"),
            0);
}

TEST_F(MigrationTest, FixtureIsAVersionTwoDatabase) {
  write_v2_database();
  RawDatabase raw(db_path());

  EXPECT_EQ(raw.integer("PRAGMA user_version"), 2);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM events"), 27);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM incidents"), 3);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM follow_ups"), 3);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM members"), 3);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM outbox"), 4);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM inbound_receipts"), 6);
}

TEST_F(MigrationTest, VersionTwoDatabaseIsMigratedAndKeepsItsData) {
  write_v2_database();

  auto store = open_store();

  EXPECT_EQ(store->schema_version(), SqliteEventStore::latest_schema_version());
  // Events and the incident projection.
  const auto first = must(store->events(1));
  ASSERT_EQ(first.size(), 17U);
  EXPECT_EQ(must(store->events(2)).size(), 7U);
  EXPECT_EQ(must(store->events(3)).size(), 3U);
  EXPECT_EQ(first[7].actor, (core::Actor{"U024BE7LH", "Ana Operator", "slack:U024BE7LH"}));
  for (IncidentId id : {1, 2, 3}) {
    EXPECT_EQ(must(store->incident(id)),
              std::optional<Incident>{core::fold(must(store->events(id)))})
        << "INC-" << id;
  }
  const auto inc1 = must(store->incident(1));
  ASSERT_TRUE(inc1.has_value());
  EXPECT_EQ(inc1->title, "Line 3 conveyor jammed at transfer");
  EXPECT_EQ(inc1->organization, "acme");
  EXPECT_EQ(inc1->status, core::Status::resolved);
  ASSERT_TRUE(inc1->summary.has_value());
  EXPECT_EQ(inc1->summary->root_cause, "A worn guide rail let cartons skew; the motor overheated.");
  EXPECT_EQ(inc1->summary->impact.units_lost, std::optional<std::int64_t>{320});
  auto ids = [](const std::vector<Incident>& incidents) {
    std::vector<IncidentId> out;
    for (const auto& incident : incidents) {
      out.push_back(incident.id);
    }
    return out;
  };
  EXPECT_THAT(ids(must(store->incidents("acme"))), ElementsAre(3, 1));
  EXPECT_THAT(ids(must(store->incidents("globex"))), ElementsAre(2));
  EXPECT_EQ(must(store->incident_by_channel("globex", "teams-globex", "19:inc-2")),
            std::optional<IncidentId>{2});
  EXPECT_FALSE(must(store->incident_by_channel("acme", "teams-globex", "19:inc-2")).has_value());
  // Follow-ups.
  EXPECT_THAT(follow_up_keys(must(store->follow_ups("acme", std::nullopt, true))),
              ElementsAre(std::pair<IncidentId, std::int64_t>{1, 1},
                          std::pair<IncidentId, std::int64_t>{1, 2}));
  EXPECT_THAT(follow_up_keys(must(store->follow_ups("acme", std::nullopt, false))),
              ElementsAre(std::pair<IncidentId, std::int64_t>{1, 1}));
  const auto gus_follow_ups = must(store->follow_ups("globex", "teams:29:gus", false));
  ASSERT_EQ(gus_follow_ups.size(), 1U);
  EXPECT_EQ(gus_follow_ups[0].follow_up.description, "Türsensor tauschen");
  EXPECT_EQ(gus_follow_ups[0].incident_title, "Kühlhaus Temperatur zu hoch");
  // Members.
  const auto acme_members = must(store->members("acme"));
  ASSERT_EQ(acme_members.size(), 2U);
  EXPECT_EQ(acme_members[1].identities,
            (std::map<std::string, std::string>{{"slack", "U024BE7LH"}, {"teams", "29:ana"}}));
  EXPECT_EQ(must(store->member_by_identity("acme", "teams", "29:ana"))->id, "slack:U024BE7LH");
  EXPECT_EQ(must(store->member_by_identity("globex", "teams", "29:gus"))->name, "Gus Kälte");
  // Outbox and receipts.
  const auto pending = must(store->pending_outbox());
  EXPECT_THAT(ids_of(pending), ElementsAre(2, 4, 5));
  EXPECT_EQ(pending[0].attempts, 2);
  EXPECT_EQ(pending[0].last_error, "HTTP 429: rate limited");
  const auto failures = must(store->outbox_failures(10));
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0].entry.id, 3);
  EXPECT_EQ(failures[0].entry.last_error, "channel_not_found");
  for (const char* key : {"slack-acme:Ev0001", "slack-acme:Ev0005", "teams-globex:act-9"}) {
    EXPECT_TRUE(must(store->has_receipt(key))) << key;
  }
  // New writes continue the numbering: ids are never reused.
  AppendRequest more = declare_request("Line 5 sensor fault");
  more.outbox = {outbox_entry("declare-reply-4")};
  const auto declared_now = must(store->append(more));
  EXPECT_EQ(declared_now.incident, 4);
  EXPECT_THAT(ids_of(declared_now.outbox), ElementsAre(6));
}

TEST_F(MigrationTest, VersionOneDatabaseIsIndexedForSearchWhenMigrated) {
  write_v1_database();

  auto store = open_store();

  // Histories from before organizations exist: the admin search (every
  // organization) finds them.
  const auto conveyor = must(store->search("", "conveyor", 10));
  ASSERT_EQ(conveyor.size(), 1U);
  EXPECT_EQ(conveyor[0].incident, 1);
  EXPECT_EQ(conveyor[0].field, "title");
  EXPECT_EQ(must(store->search("", "thermal", 10)).at(0).field, "note");
  EXPECT_EQ(must(store->search("", "\"half speed\"", 10)).at(0).field, "action");
  EXPECT_EQ(must(store->search("", "transfer", 10)).at(0).field, "message");
  EXPECT_EQ(must(store->search("", "oven", 10)).at(0).incident, 2);
  EXPECT_TRUE(must(store->search("acme", "conveyor", 10)).empty());
  const auto migrated = must(store->projection_rows());
  must(store->rebuild_projections());
  EXPECT_EQ(must(store->projection_rows()), migrated);
}

TEST_F(MigrationTest, VersionTwoDatabaseIsIndexedForSearchWhenMigrated) {
  write_v2_database();

  auto store = open_store();

  struct Case {
    const char* organization;
    const char* query;
    IncidentId incident;
    const char* field;
  };
  const Case cases[] = {
      {"acme", "jammed", 1, "title"},  // the title after title_change
      {"acme", "flooded", 1, "message"},
      {"acme", "wet", 1, "message"},  // the edit of a message
      {"acme", "tripped", 1, "note"},
      {"acme", "thermal cleared", 1, "action"},
      {"acme", "\"guide rail\"", 1, "summary"},
      {"acme", "customer", 1, "summary"},
      {"acme", "printer", 3, "title"},
      {"globex", "kuhlhaus", 2, "title"},
      {"globex", "tursens*", 2, "note"},  // Türsensor: a prefix, the umlaut folded
      {"globex", "kaltemaschine", 2, "action"},
      {"", "KÜHLHAUS", 2, "title"},
  };
  for (const auto& [organization, query, incident, field] : cases) {
    const auto hits = must(store->search(organization, query, 10));
    ASSERT_EQ(hits.size(), 1U) << query;
    EXPECT_EQ(hits[0].incident, incident) << query;
    EXPECT_EQ(hits[0].field, field) << query;
    EXPECT_EQ(hits[0].organization, organization[0] == '\0' ? "globex" : organization) << query;
  }
  EXPECT_TRUE(must(store->search("acme", "kuhlhaus", 10)).empty());
  EXPECT_TRUE(must(store->search("", "hunter2", 10)).empty());  // deleted on the platform
  const auto migrated = must(store->projection_rows());
  must(store->rebuild_projections());
  EXPECT_EQ(must(store->projection_rows()), migrated);
}

}  // namespace
}  // namespace haveri::store
