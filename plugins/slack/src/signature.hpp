#pragma once
// Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
// X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing_secret, "v0:" + timestamp + ":" + body)),
// X-Slack-Request-Timestamp = the Unix time Slack sent it.
#include <cstdint>
#include <string>
#include <string_view>

namespace haveri::slack {

// How far a request's timestamp may be from our clock, either way.
inline constexpr std::int64_t kMaxSignatureSkewSeconds = 300;

enum class SignatureVerdict {
  valid,
  missing,    // no timestamp or no signature header
  malformed,  // the timestamp is not a decimal integer (no sign, no spaces, fits int64), or
              // the signature is not "v0=" + 64 lower-case hex digits (what Slack sends)
  stale,      // the timestamp is more than kMaxSignatureSkewSeconds from `now_seconds`
  mismatch,   // the HMAC differs, or `signing_secret` is empty (an unset secret would let
              // anyone sign with the empty key)
};

// Checks one request, in the order of the verdicts above (a stale request is `stale` even
// if its HMAC is wrong). The comparison of the HMAC is constant-time. `body` is the raw
// body exactly as received. Never throws.
SignatureVerdict verify_signature(std::string_view signing_secret, std::string_view timestamp,
                                  std::string_view signature, std::string_view body,
                                  std::int64_t now_seconds) noexcept;

// For logs and 401 bodies: "signature is missing", "request is stale", … (never the
// secret or the expected signature).
std::string_view describe(SignatureVerdict verdict) noexcept;

// "v0=" + lower-case hex HMAC-SHA256; what Slack would send (tests sign with it). Empty
// only if OpenSSL itself fails.
std::string sign_request(std::string_view signing_secret, std::string_view timestamp,
                         std::string_view body);

}  // namespace haveri::slack
