#pragma once

#include <span>
#include <string_view>

namespace haveri::store::sqlite {

// One forward-only schema step. `sql` may hold several statements. Every pending
// migration runs in one transaction together with `PRAGMA user_version = <latest>`.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
  // The projections (incident snapshots, follow-ups, search index) are rebuilt from
  // the events once every pending migration ran, in the same transaction: the
  // migration gave them columns, members or tables that only the events can fill in.
  bool refold = false;
};

// Every migration, ordered by version: 1, 2, 3… without gaps. Append only: a
// released migration is never edited, a change is a new migration.
std::span<const Migration> migrations() noexcept;

}  // namespace haveri::store::sqlite
