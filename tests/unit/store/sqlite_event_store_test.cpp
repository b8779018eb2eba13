#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
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
               int minute = 0) {
  return Event{0, 0, at_minute(minute), alice, core::Declared{title, severity, general_channel}};
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

// A second, independent connection to the file, to see what is really on disk.
class RawDatabase {
 public:
  explicit RawDatabase(const fs::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
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

  fs::path dir_;
};

TEST_F(SqliteEventStoreTest, FreshFileIsMigratedToTheLatestSchemaInWalMode) {
  auto store = open_store();

  EXPECT_EQ(SqliteEventStore::latest_schema_version(), 1);
  EXPECT_EQ(store->schema_version(), 1);
  RawDatabase raw(db_path());
  EXPECT_EQ(raw.integer("PRAGMA user_version"), 1);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('events', 'incidents', 'inbound_receipts')"),
            3);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                        "name = 'incidents_by_channel'"),
            1);
}

TEST_F(SqliteEventStoreTest, ReopeningAMigratedFileKeepsItsVersion) {
  open_store().reset();
  auto store = open_store();

  EXPECT_EQ(store->schema_version(), 1);
  EXPECT_TRUE(must(store->incidents()).empty());
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
  EXPECT_TRUE(must(store->incidents()).empty());
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
  EXPECT_EQ(must(store->incidents()).size(), 1U);
  EXPECT_EQ(must(store->events(1)).size(), 2U);

  store.reset();
  store = open_store();
  const auto after_restart = must(store->append(declare_request("Line 3 down", "slack:T1:evt-1")));
  EXPECT_TRUE(after_restart.duplicate);
  EXPECT_EQ(after_restart.incident, 1);
  EXPECT_EQ(after_restart.state.last_sequence, 2);
  EXPECT_EQ(must(store->incidents()).size(), 1U);
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
  EXPECT_EQ(must(store->incidents()), std::vector<Incident>{folded});

  RawDatabase raw(db_path());
  EXPECT_EQ(raw.text("SELECT status FROM incidents WHERE id = 1"), "MITIGATED");
  EXPECT_EQ(raw.text("SELECT severity FROM incidents WHERE id = 1"), "SEV1");
  EXPECT_EQ(raw.integer("SELECT last_sequence FROM incidents WHERE id = 1"), 7);
}

TEST_F(SqliteEventStoreTest, IncidentIsFoundByItsLinkedChannel) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));

  EXPECT_FALSE(must(store->incident_by_channel("local", "C-INC-2")).has_value());
  must(store->append(append_request(2, 1, {channel_linked("local", "C-INC-2")})));

  EXPECT_EQ(must(store->incident_by_channel("local", "C-INC-2")), std::optional<IncidentId>{2});
  EXPECT_FALSE(must(store->incident_by_channel("slack-main", "C-INC-2")).has_value());
  EXPECT_FALSE(must(store->incident_by_channel("local", "C-OTHER")).has_value());
}

TEST_F(SqliteEventStoreTest, FailedAppendRollsBackEveryEvent) {
  auto store = open_store();
  must(store->append(declare_request("Line 3 down")));
  must(store->append(declare_request("Oven too hot")));
  must(store->append(append_request(2, 1, {channel_linked("local", "C-SHARED")})));

  // The channel index is unique, so the projection update fails after the events
  // were inserted: all of it must be undone.
  auto clash =
      store->append(append_request(1, 1, {message("before"), channel_linked("local", "C-SHARED")}));

  ASSERT_FALSE(clash.ok());
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

  const auto all = must(store->incidents());

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
  EXPECT_TRUE(must(store->incidents()).empty());
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

}  // namespace
}  // namespace haveri::store
