// The conformance suite for the embedded SQLite store. Old schema versions come from
// tests/fixtures/sqlite/v<N>.sql: each is the SQL of a database as version N left it.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <haveri/store/sqlite_event_store.hpp>

#include "conformance/store_conformance.hpp"

namespace haveri::store::conformance {
namespace {

namespace fs = std::filesystem;

// tests/fixtures/sqlite: under HAVERI_SOURCE_DIR when set, else the source tree this
// test was built from.
fs::path fixtures_dir() {
  const char* dir = std::getenv("HAVERI_SOURCE_DIR");
  const fs::path root =
      dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(HAVERI_TEST_SOURCE_DIR);
  return root / "tests" / "fixtures" / "sqlite";
}

fs::path database_in(const fs::path& dir) {
  return dir / "haveri.db";
}

StoreUnderTest::Opened open_sqlite(const fs::path& dir, bool reader) {
  SqliteOptions options{database_in(dir), "full"};
  options.reader = reader;
  auto opened = SqliteEventStore::open(options);
  if (!opened) {
    return opened.error();
  }
  return std::unique_ptr<core::EventStore>(std::move(opened).value());
}

StoreUnderTest::Opened open_writer(const fs::path& dir) {
  return open_sqlite(dir, false);
}

// The daemon's read-only connection (API and search), as it opens it.
StoreUnderTest::Opened open_reader(const fs::path& dir) {
  return open_sqlite(dir, true);
}

// The versions of every v<N>.sql fixture older than the latest schema, in order.
std::vector<int> fixture_versions() {
  static const std::regex kName(R"(v([0-9]+)\.sql)");
  std::vector<int> versions;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(fixtures_dir(), error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, kName)) {
      const int version = std::stoi(match[1].str());
      if (version < SqliteEventStore::latest_schema_version()) {
        versions.push_back(version);
      }
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

// A plain connection to a database file, for building and reading it as an old
// haverid would have, without the store under test.
class RawDatabase {
 public:
  explicit RawDatabase(const fs::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string() + ": " + sqlite3_errmsg(db_));
    }
  }
  ~RawDatabase() { sqlite3_close_v2(db_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("fixture SQL failed: ") + sqlite3_errmsg(db_));
    }
  }

  // The first column of every row, as text.
  std::vector<std::string> column(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::vector<std::string> out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    return out;
  }

  std::size_t count(const std::string& sql) { return std::stoul(column(sql).at(0)); }

 private:
  sqlite3* db_ = nullptr;
};

// `text` as an SQL string literal.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') {
      out += '\'';
    }
  }
  return out + "'";
}

core::Result<MigratedStore> open_sqlite_from_version(const fs::path& dir, int version) {
  const fs::path fixture = fixtures_dir() / ("v" + std::to_string(version) + ".sql");
  std::ifstream in(fixture, std::ios::binary);
  if (!in) {
    return core::make_error(core::ErrorCode::not_found, "no fixture " + fixture.string());
  }
  const std::string sql(std::istreambuf_iterator<char>(in), {});
  MigratedStore migrated;
  {
    RawDatabase raw(database_in(dir));
    raw.exec(sql);
    if (raw.count("PRAGMA user_version") != static_cast<std::size_t>(version)) {
      return core::make_error(
          core::ErrorCode::invalid_argument,
          fixture.string() + " does not set PRAGMA user_version = " + std::to_string(version));
    }
    migrated.before.incidents = raw.count("SELECT COUNT(DISTINCT incident_id) FROM events");
    migrated.before.events = raw.count("SELECT COUNT(*) FROM events");
    migrated.before.idempotency_keys =
        raw.column("SELECT idempotency_key FROM inbound_receipts ORDER BY idempotency_key");
    if (raw.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox'") > 0) {
      for (const auto& id :
           raw.column("SELECT id FROM outbox WHERE state = 'pending' ORDER BY id")) {
        migrated.before.pending_outbox.push_back(std::stoll(id));
      }
      migrated.before.failed_outbox =
          raw.count("SELECT COUNT(*) FROM outbox WHERE state = 'failed'");
    }
    if (raw.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'members'") > 0) {
      for (const auto& organization : raw.column("SELECT DISTINCT organization FROM members")) {
        migrated.before.members[organization] =
            raw.count("SELECT COUNT(*) FROM members WHERE organization = " + quoted(organization));
      }
    }
  }
  auto opened = open_writer(dir);
  if (!opened) {
    return opened.error();
  }
  migrated.store = std::move(opened).value();
  return migrated;
}

StoreUnderTest sqlite_store_under_test() {
  StoreUnderTest store;
  store.name = "Sqlite";
  store.open = open_writer;
  store.reopen = open_writer;
  store.open_reader = open_reader;
  store.latest_version = SqliteEventStore::latest_schema_version();
  store.old_versions = fixture_versions;
  store.open_from_version = open_sqlite_from_version;
  return store;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(sqlite_store_under_test()),
                         conformance_test_name);

}  // namespace haveri::store::conformance
