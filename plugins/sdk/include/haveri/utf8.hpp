// UTF-8 for plugins: what a platform sends must become text the host can store and print,
// and what a plugin sends must fit the platform's limits counted in characters. Header
// only, no dependencies; every adapter uses the same rules (Unicode 15, table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace haveri::sdk {

inline constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // "…"
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Bytes of the well-formed UTF-8 sequence at text[at], or 0 when none starts there.
// `at` must be below text.size(). Never throws.
inline std::size_t sequence_length(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80U) {
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80U;
  unsigned char high = 0xBFU;
  if (lead >= 0xC2U && lead <= 0xDFU) {
    length = 2;
  } else if (lead >= 0xE0U && lead <= 0xEFU) {
    length = 3;
    if (lead == 0xE0U) {
      low = 0xA0U;  // overlong below U+0800
    } else if (lead == 0xEDU) {
      high = 0x9FU;  // surrogates
    }
  } else if (lead >= 0xF0U && lead <= 0xF4U) {
    length = 4;
    if (lead == 0xF0U) {
      low = 0x90U;  // overlong below U+10000
    } else if (lead == 0xF4U) {
      high = 0x8FU;  // above U+10FFFF
    }
  } else {
    return 0;
  }
  if (text.size() - at < length || byte(at + 1) < low || byte(at + 1) > high) {
    return 0;
  }
  for (std::size_t k = 2; k < length; ++k) {
    if ((byte(at + k) & 0xC0U) != 0x80U) {
      return 0;
    }
  }
  return length;
}

// True when `text` is well-formed UTF-8. NUL is allowed. Never throws.
inline bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = sequence_length(text, at);
    if (length == 0) {
      return false;
    }
    at += length;
  }
  return true;
}

// `text` with every byte that starts no well-formed sequence replaced by U+FFFD.
inline std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = sequence_length(text, at);
    if (length == 0) {
      out += kReplacement;
      ++at;
    } else {
      out.append(text.substr(at, length));
      at += length;
    }
  }
  return out;
}

// Code points of valid UTF-8. Never throws.
inline std::size_t code_points(std::string_view valid) noexcept {
  std::size_t count = 0;
  for (const char c : valid) {
    count += (static_cast<unsigned char>(c) & 0xC0U) != 0x80U ? 1 : 0;
  }
  return count;
}

// The byte offset after the first `n` code points of valid UTF-8. Never throws.
inline std::size_t offset_after(std::string_view valid, std::size_t n) noexcept {
  std::size_t at = 0;
  for (std::size_t seen = 0; at < valid.size() && seen < n; ++seen) {
    const std::size_t length = sequence_length(valid, at);
    at += length == 0 ? 1 : length;
  }
  return at;
}

// Valid UTF-8 cut to at most `max` code points, the last of them "…" when anything was
// cut (so a cut is visible); "" when `max` is 0.
inline std::string cut_valid(std::string_view valid, std::size_t max) {
  if (code_points(valid) <= max) {
    return std::string(valid);
  }
  if (max == 0) {
    return {};
  }
  return std::string(valid.substr(0, offset_after(valid, max - 1))) + std::string(kEllipsis);
}

}  // namespace haveri::sdk
