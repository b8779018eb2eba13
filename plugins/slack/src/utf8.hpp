#pragma once
// UTF-8 validation shared by the form decoder and the Events API translation: what Slack
// sends must become text the host can store and print, so both refuse ill-formed bytes.
#include <cstddef>
#include <string_view>

namespace haveri::slack {

// True when `bytes` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates,
// nothing above U+10FFFF, no truncated sequence. NUL is allowed. Never throws.
inline bool is_valid_utf8(std::string_view bytes) noexcept {
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    // The bounds on the second byte rule out overlong forms, surrogates and > U+10FFFF
    // (Unicode 15, table 3-7).
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) {
        lo = 0xA0;
      } else if (b0 == 0xED) {
        hi = 0x9F;
      }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) {
        lo = 0x90;
      } else if (b0 == 0xF4) {
        hi = 0x8F;
      }
    } else {
      return false;
    }
    if (n - i < length) {
      return false;
    }
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    if (b1 < lo || b1 > hi) {
      return false;
    }
    for (std::size_t k = 2; k < length; ++k) {
      const auto bk = static_cast<unsigned char>(bytes[i + k]);
      if (bk < 0x80 || bk > 0xBF) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

}  // namespace haveri::slack
