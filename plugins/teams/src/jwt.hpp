#pragma once
// Bot Framework request authentication (the "Connector to bot" half of
// https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
// a bearer JWT signed RS256 by one of the keys the Bot Framework publishes in its OpenID
// metadata's JWKS, issued by https://api.botframework.com for our app id, valid now
// (5 minutes of skew), carrying the activity's serviceUrl, and signed with a key that
// is endorsed for the activity's channel ("msteams").
//
// Pure functions over OpenSSL (EVP_DigestVerify): no I/O, no clock (`now` is passed in).
// Fetching and caching the keys is openid_keys.hpp's job.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace haveri::teams {

// Base64url without padding (RFC 7515 §2) into bytes. Padding "=" is tolerated;
// any other character outside the url-safe alphabet, or an impossible length, is an
// error: false. Never throws but std::bad_alloc.
bool base64url_decode(std::string_view text, std::string& bytes);
std::string base64url_encode(std::string_view bytes);

// An RSA public key from a JWK, ready to verify signatures. Opaque: the OpenSSL key
// lives in jwt.cpp.
struct RsaPublicKey;

// One usable key of a JWKS.
struct JsonWebKey {
  std::string kid;
  std::vector<std::string> endorsements;  // channel ids this key may sign for ("msteams")
  std::shared_ptr<const RsaPublicKey> key;
};

// A parsed JSON Web Key Set ({"keys":[...]}): the RSA keys usable for signatures.
class KeySet {
 public:
  // Parses a JWKS document. A key is kept when kty is "RSA", kid, n and e are
  // non-empty base64url strings, the modulus is 2048 to 8192 bits, and "use" (when
  // present) is "sig". Other keys are skipped and each reason appended to `skipped`
  // when given ("key 3 (kid \"abc\"): kty \"EC\" is not RSA"). A document that is not
  // such JSON gives an empty set and one reason. A kid repeated keeps the first.
  // Never throws but std::bad_alloc.
  static KeySet parse(std::string_view jwks_json, std::vector<std::string>* skipped = nullptr);

  const JsonWebKey* find(std::string_view kid) const noexcept;
  std::size_t size() const noexcept { return keys_.size(); }
  bool empty() const noexcept { return keys_.empty(); }

 private:
  std::vector<JsonWebKey> keys_;
};

// Why a token was refused. Every value but `none` means 401 and nothing stored.
enum class JwtError {
  none,
  missing_authorization,    // no Authorization header
  malformed_authorization,  // not "Bearer <token>" (scheme compared case-insensitively)
  malformed_token,          // not three base64url parts, header or claims not JSON objects
  unsupported_algorithm,    // alg other than RS256 ("none", "HS256", …), or a "crit" header
  unknown_key,              // no key with the header's kid in the set (or no kid)
  bad_signature,            // the RS256 signature does not verify with that key
  not_endorsed,             // the key's endorsements do not include the expected channel
  wrong_issuer,             // iss differs from the expected issuer
  wrong_audience,           // aud (a string, or an array) does not name our app id
  expired,                  // exp missing, not a number, or exp + skew <= now
  not_yet_valid,            // nbf (when present) - skew > now
  service_url_mismatch,     // the serviceurl/serviceUrl claim is missing or differs
};
// "wrong_issuer" etc., for logs and tests.
std::string_view to_string(JwtError error) noexcept;

// A bearer token split into its parts, before any key is looked at: the plugin reads
// `kid` to fetch keys it does not have yet.
struct ParsedJwt {
  JwtError error = JwtError::none;  // malformed_* / unsupported_algorithm / missing_*
  std::string detail;               // for the log: never the token itself
  std::string kid;
  std::string alg;
  nlohmann::json header = nlohmann::json::object();
  nlohmann::json claims = nlohmann::json::object();
  std::string signing_input;  // "<header b64>.<claims b64>", what the signature covers
  std::string signature;      // decoded bytes

  bool ok() const noexcept { return error == JwtError::none; }
};

// Parses the value of an Authorization header ("Bearer eyJ…"); an empty view means the
// header is missing. Tokens over 16 KiB are malformed. Never throws but std::bad_alloc.
ParsedJwt parse_bearer(std::string_view authorization);

struct ExpectedClaims {
  std::string issuer = "https://api.botframework.com";
  std::string audience;                // the Microsoft app id
  std::string service_url;             // the activity's serviceUrl, compared exactly (trailing "/"
                                       // ignored on both sides)
  std::string channel_id = "msteams";  // the key must be endorsed for it; "" skips the check
  std::int64_t now_unix_seconds = 0;
  std::int64_t skew_seconds = 300;
};

struct JwtVerdict {
  JwtError error = JwtError::none;
  std::string detail;  // what differed: "iss \"https://evil\" is not https://api.botframework.com"
  bool ok() const noexcept { return error == JwtError::none; }
};

// The whole check of a parsed token against `keys` and `expected`, in this order:
// parse errors, algorithm, key, signature, endorsement, issuer, audience, expiry,
// not-before, serviceUrl. The service-url claim is read as "serviceurl" (what the Bot
// Framework SDKs read) or "serviceUrl". Never throws but std::bad_alloc.
JwtVerdict verify(const ParsedJwt& token, const KeySet& keys, const ExpectedClaims& expected);

}  // namespace haveri::teams
