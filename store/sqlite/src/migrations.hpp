#pragma once

#include <span>
#include <string_view>

namespace haveri::store::sqlite {

// One forward-only schema step. `sql` may hold several statements; it runs in one
// transaction together with `PRAGMA user_version = version`.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

// Every migration, ordered by version: 1, 2, 3… without gaps. Append only: a
// released migration is never edited, a change is a new migration.
std::span<const Migration> migrations() noexcept;

}  // namespace haveri::store::sqlite
