#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <haveri/core/result.hpp>

namespace haveri::store::sqlite {

// The longest search a person may type, in bytes.
inline constexpr std::size_t kMaxSearchQueryBytes = 500;

// Turns what a person typed into the search box into an FTS5 MATCH expression that
// cannot fail to parse and searches only the indexed text.
//
// The language is FTS5's, made forgiving for ordinary text:
//   - words are searched as typed: each bare word becomes a quoted FTS5 string, so
//     `pump-3 down` finds "pump 3" next to each other and "down" (FTS5 would read `-`
//     and `.` as syntax); punctuation on its own (`-`, `&`, `...`) is left out;
//   - "phrases" in double quotes, prefix* and "phrase"*;
//   - AND, OR, NOT (upper case; in lower case they are words), parentheses,
//     NEAR(word word) and NEAR(word word, N); adjacent terms are ANDed.
// Refused with ErrorCode::invalid_argument and a message for the person who typed it
// (naming the query and the fix): an unclosed double quote, unbalanced parentheses,
// an operator without words on both sides (`AND`, `pump OR`, `NOT motor`), `*` other
// than right after a word, a colon outside double quotes (FTS5 reads `word:` as a
// column filter, and search has no columns to filter on, so `organization:other` is
// refused rather than silently searched for), a malformed NEAR(, nothing to search
// for (empty, spaces or punctuation only) and more than kMaxSearchQueryBytes bytes.
// Organization scoping is never part of the expression: the caller does it in SQL.
core::Result<std::string> fts5_expression(std::string_view query);

// The invalid_argument error for a search SQLite refused although fts5_expression()
// accepted it: `can't search for "<query>": <problem>; put words in double quotes…`.
core::Error refused_search(std::string_view query, std::string_view problem);

}  // namespace haveri::store::sqlite
