#pragma once
// Small text helpers shared by the core's sources (private to core).

#include <span>
#include <string>
#include <string_view>

#include <haveri/core/incident.hpp>

namespace haveri::core::wording {

// ASCII-only lower case; other bytes (UTF-8 included) are kept as they are.
inline std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + ('a' - 'A'));
    }
  }
  return out;
}

// "A", "A or B", "A, B or C".
inline std::string join_statuses(std::span<const Status> statuses) {
  std::string out;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == statuses.size()) ? " or " : ", ";
    }
    out.append(to_string(statuses[i]));
  }
  return out;
}

}  // namespace haveri::core::wording
