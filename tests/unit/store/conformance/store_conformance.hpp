#pragma once

// The conformance suite every core::EventStore implementation must pass.
//
// An implementation proves itself with one small file that describes how to open it
// (a StoreUnderTest) and instantiates the suite:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(sqlite_store_under_test()),
//                            conformance_test_name);
//
// The tests themselves live in store_conformance.cpp, compiled into each conformance
// test binary (tests/unit/store/CMakeLists.txt); they know nothing of the
// implementation beyond what StoreUnderTest offers.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/event_store.hpp>
#include <haveri/core/result.hpp>

namespace haveri::store::conformance {

// What an old database held before it was migrated, read from it by the factory
// with the old schema's own tables, so the suite can check nothing was lost.
struct OldDatabaseContents {
  std::size_t incidents = 0;                   // distinct incidents with events
  std::size_t events = 0;                      // events of every incident
  std::vector<std::string> idempotency_keys;   // every receipt it remembered
  std::vector<std::int64_t> pending_outbox;    // ids of the entries still to perform
  std::size_t failed_outbox = 0;               // entries given up
  std::map<std::string, std::size_t> members;  // organization -> members first seen in chat
};

// A store opened on a database that an older schema version left behind,
// migrated on open.
struct MigratedStore {
  std::unique_ptr<core::EventStore> store;
  OldDatabaseContents before;
};

// How to open one EventStore implementation. Every function gets a directory of its
// own, empty at the start of each test and removed after it; the implementation
// keeps its data there (SQLite: a file in it; PostgreSQL: a database whose name is
// derived from it, dropped by the factory when the directory is new).
struct StoreUnderTest {
  using Opened = core::Result<std::unique_ptr<core::EventStore>>;

  // Names the instantiation ("Sqlite"): letters and digits only (a test name part).
  std::string name;

  // A fresh writer store on an empty directory, migrated to the latest schema.
  std::function<Opened(const std::filesystem::path& dir)> open;

  // The store again on what an earlier store in `dir` left behind, after that one
  // was destroyed: durability and idempotency across restarts.
  std::function<Opened(const std::filesystem::path& dir)> reopen;

  // A second, independent store on the same data while the first one is open, as
  // the daemon's readers use it; empty if the implementation has no such mode (the
  // isolation tests are then skipped).
  std::function<Opened(const std::filesystem::path& dir)> open_reader;

  // The highest schema version the implementation knows.
  int latest_version = 1;

  // Every schema version (older than latest_version) for which a database as that
  // version left it is available to open_from_version, in increasing order.
  std::function<std::vector<int>()> old_versions;

  // Creates in `dir` a database as schema version `version` left it, reads what it
  // holds, then opens it with the store under test (which migrates it).
  std::function<core::Result<MigratedStore>(const std::filesystem::path& dir, int version)>
      open_from_version;
};

inline void PrintTo(const StoreUnderTest& store, std::ostream* out) {
  *out << store.name;
}

// The test name suffix of an instantiation: its store's name.
inline std::string conformance_test_name(const ::testing::TestParamInfo<StoreUnderTest>& info) {
  return info.param.name;
}

// The fixture of the suite: a temporary directory for the test and the helpers that
// open the store under test in it. Tests are TEST_P(StoreConformance, …).
class StoreConformance : public ::testing::TestWithParam<StoreUnderTest> {
 protected:
  void SetUp() override;
  void TearDown() override;

  const std::filesystem::path& dir() const { return dir_; }

  // The store under test, opened or reopened in dir(); a failure to open fails the
  // test (through an exception GoogleTest reports).
  std::unique_ptr<core::EventStore> open_store();
  std::unique_ptr<core::EventStore> reopen_store();
  // A second instance on the same data; tests that need one skip themselves when
  // GetParam().open_reader is empty.
  std::unique_ptr<core::EventStore> open_reader();

 private:
  std::filesystem::path dir_;
};

}  // namespace haveri::store::conformance
