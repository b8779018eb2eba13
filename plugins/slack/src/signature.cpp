#include "signature.hpp"

#include <array>
#include <charconv>
#include <cstddef>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace haveri::slack {
namespace {

constexpr std::string_view kVersionPrefix = "v0=";
constexpr std::size_t kDigestBytes = 32;
constexpr std::size_t kSignatureChars = kVersionPrefix.size() + 2 * kDigestBytes;

using Digest = std::array<unsigned char, kDigestBytes>;

struct MacDeleter {
  void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

bool update(EVP_MAC_CTX* ctx, std::string_view part) noexcept {
  return EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
}

// Streams "v0:" timestamp ":" body through the MAC rather than concatenating them, so a
// large body is not copied once more. false only when OpenSSL itself fails.
bool hmac_sha256(std::string_view key, std::string_view timestamp, std::string_view body,
                 Digest& out) noexcept {
  const std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) {
    return false;
  }
  const std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) {
    return false;
  }
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  // A zero-length key still needs a valid pointer for OpenSSL to accept it.
  static constexpr unsigned char kNoKey[1] = {0};
  const auto* key_bytes = key.empty() ? kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1) {
    return false;
  }
  if (!update(ctx.get(), "v0:") || !update(ctx.get(), timestamp) || !update(ctx.get(), ":") ||
      !update(ctx.get(), body)) {
    return false;
  }
  std::size_t written = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &written, out.size()) != 1 || written != out.size()) {
    return false;
  }
  return true;
}

// Writes "v0=" and the lower-case hex digest: kSignatureChars bytes at `out`.
void write_signature(const Digest& digest, char* out) noexcept {
  constexpr std::string_view kHex = "0123456789abcdef";
  for (const char c : kVersionPrefix) {
    *out++ = c;
  }
  for (const unsigned char byte : digest) {
    *out++ = kHex[byte >> 4];
    *out++ = kHex[byte & 0x0F];
  }
}

bool is_lower_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// Slack sends a plain decimal Unix time; a sign, spaces or a fraction are not Slack's.
bool parse_timestamp(std::string_view text, std::int64_t& out) noexcept {
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return false;
  }
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

bool is_well_formed_signature(std::string_view signature) noexcept {
  if (signature.size() != kSignatureChars || !signature.starts_with(kVersionPrefix)) {
    return false;
  }
  for (const char c : signature.substr(kVersionPrefix.size())) {
    if (!is_lower_hex(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

SignatureVerdict verify_signature(std::string_view signing_secret, std::string_view timestamp,
                                  std::string_view signature, std::string_view body,
                                  std::int64_t now_seconds) noexcept {
  if (timestamp.empty() || signature.empty()) {
    return SignatureVerdict::missing;
  }
  std::int64_t sent_at = 0;
  if (!parse_timestamp(timestamp, sent_at) || !is_well_formed_signature(signature)) {
    return SignatureVerdict::malformed;
  }
  // Unsigned subtraction of the smaller from the larger is exact for any two int64 values,
  // where a signed one could overflow.
  const auto sent = static_cast<std::uint64_t>(sent_at);
  const auto now = static_cast<std::uint64_t>(now_seconds);
  const std::uint64_t skew = sent_at >= now_seconds ? sent - now : now - sent;
  if (skew > static_cast<std::uint64_t>(kMaxSignatureSkewSeconds)) {
    return SignatureVerdict::stale;
  }
  // HMAC accepts an empty key, so an unconfigured secret would let anyone sign.
  if (signing_secret.empty()) {
    return SignatureVerdict::mismatch;
  }
  Digest digest{};
  if (!hmac_sha256(signing_secret, timestamp, body, digest)) {
    return SignatureVerdict::mismatch;
  }
  std::array<char, kSignatureChars> expected{};
  write_signature(digest, expected.data());
  const bool equal = CRYPTO_memcmp(expected.data(), signature.data(), kSignatureChars) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  OPENSSL_cleanse(digest.data(), digest.size());
  return equal ? SignatureVerdict::valid : SignatureVerdict::mismatch;
}

std::string_view describe(SignatureVerdict verdict) noexcept {
  switch (verdict) {
    case SignatureVerdict::valid:
      return "signature is valid";
    case SignatureVerdict::missing:
      return "signature is missing (X-Slack-Signature and X-Slack-Request-Timestamp are "
             "required)";
    case SignatureVerdict::malformed:
      return "signature is malformed (expected a decimal timestamp and v0= with 64 lower-case "
             "hex digits)";
    case SignatureVerdict::stale:
      return "request is stale (timestamp more than 300 s from our clock; check NTP or a "
             "replay)";
    case SignatureVerdict::mismatch:
      return "signature does not match (check the app's signing secret)";
  }
  return "signature verdict is unknown";
}

std::string sign_request(std::string_view signing_secret, std::string_view timestamp,
                         std::string_view body) {
  Digest digest{};
  if (!hmac_sha256(signing_secret, timestamp, body, digest)) {
    return {};
  }
  std::string signature(kSignatureChars, '\0');
  write_signature(digest, signature.data());
  return signature;
}

}  // namespace haveri::slack
