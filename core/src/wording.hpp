#pragma once
// Small text helpers shared by the core's sources (private to core).

#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// At most `limit` bytes of `text`, cut on a UTF-8 character boundary.
inline std::string cut_utf8(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) {
    return std::string(text);
  }
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;
  }
  return std::string(text.substr(0, end));
}

// "conveyor-4, press-2" -> {"conveyor-4", "press-2"}; blanks dropped.
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::string current;
  const auto flush = [&] {
    while (!current.empty() && current.back() == ' ') {
      current.pop_back();
    }
    if (!current.empty()) {
      items.push_back(std::move(current));
    }
    current.clear();
  };
  for (const char c : text) {
    if (c == ',') {
      flush();
    } else if (c != ' ' || !current.empty()) {
      current += c;
    }
  }
  flush();
  return items;
}

}  // namespace haveri::core::wording
