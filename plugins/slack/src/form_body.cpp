#include "form_body.hpp"

#include <cstddef>

#include <haveri/utf8.hpp>

namespace haveri::slack {
namespace {

using sdk::is_valid_utf8;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Decodes one key or value; nullopt for a bad escape or bytes that are not UTF-8.
std::optional<std::string> decode_component(std::string_view encoded) {
  std::string decoded;
  decoded.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '+') {
      decoded.push_back(' ');
    } else if (c == '%') {
      if (encoded.size() - i < 3) {
        return std::nullopt;
      }
      const int high = hex_value(encoded[i + 1]);
      const int low = hex_value(encoded[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      decoded.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      decoded.push_back(c);
    }
  }
  if (!is_valid_utf8(decoded)) {
    return std::nullopt;
  }
  return decoded;
}

}  // namespace

std::optional<FormFields> parse_form(std::string_view body) {
  FormFields fields;
  if (body.empty()) {
    return fields;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t end = body.find('&', start);
    const std::string_view pair =
        body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    const std::size_t equals = pair.find('=');
    // An empty pair ("a=1&&b=2", a trailing '&') has no '=' either: Slack never sends one.
    if (equals == std::string_view::npos || equals == 0) {
      return std::nullopt;
    }
    auto key = decode_component(pair.substr(0, equals));
    auto value = decode_component(pair.substr(equals + 1));
    if (!key || !value || key->empty()) {
      return std::nullopt;
    }
    // A repeated key is refused rather than resolved: which copy a proxy or Slack's
    // signature covered first would be a guess.
    if (!fields.emplace(std::move(*key), std::move(*value)).second) {
      return std::nullopt;
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return fields;
}

std::string form_encode(std::string_view value) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_unreserved(byte)) {
      encoded.push_back(c);
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[byte >> 4]);
      encoded.push_back(kHex[byte & 0x0F]);
    }
  }
  return encoded;
}

}  // namespace haveri::slack
