#include "jwt.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <utility>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

namespace haveri::teams {

namespace {

constexpr std::size_t kMaxTokenBytes = std::size_t{16} * 1024;
constexpr int kMinModulusBits = 2048;
constexpr int kMaxModulusBits = 8192;
// Attacker-chosen strings (alg, kid, iss…) go into details cut to this length.
constexpr std::size_t kMaxQuoted = 80;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<signed char, 256> make_decode_table() {
  std::array<signed char, 256> table{};
  for (auto& entry : table) {
    entry = -1;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
  }
  return table;
}
constexpr std::array<signed char, 256> kDecode = make_decode_table();

// A JSON rendering (quoted when a string), ASCII and length-bounded, of a value taken
// from a token or a document: safe for a log line.
std::string quoted_json(const nlohmann::json& value) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.size() > kMaxQuoted) {
      return nlohmann::json(text.substr(0, kMaxQuoted)).dump(-1, ' ', true, kReplace) + "...";
    }
    return value.dump(-1, ' ', true, kReplace);
  }
  std::string out = value.dump(-1, ' ', true, kReplace);
  if (out.size() > kMaxQuoted) {
    out.resize(kMaxQuoted);
    out += "...";
  }
  return out;
}

std::string quoted_text(std::string_view text) {
  return quoted_json(nlohmann::json(text));
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

std::string_view trim(std::string_view text) noexcept {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && blank(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && blank(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string_view without_trailing_slash(std::string_view url) noexcept {
  if (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  return url;
}

// A JSON number as seconds; nullopt for anything else (a string "123" is not a time).
std::optional<double> seconds_of(const nlohmann::json& value) {
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_number_float()) {
    return value.get<double>();
  }
  return std::nullopt;
}

struct PkeyFree {
  void operator()(EVP_PKEY* pkey) const noexcept { EVP_PKEY_free(pkey); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const noexcept { BN_free(bn); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const noexcept { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const noexcept { OSSL_PARAM_free(params); }
};

std::unique_ptr<BIGNUM, BnFree> bignum_of(const std::string& bytes) {
  return std::unique_ptr<BIGNUM, BnFree>(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                static_cast<int>(bytes.size()), nullptr));
}

}  // namespace

struct RsaPublicKey {
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;
};

namespace {

// The key from the big-endian modulus and exponent, or null with `why` set. OpenSSL's
// error queue is left empty either way: it is per thread and the host's other users of
// OpenSSL must not find our leftovers.
std::shared_ptr<const RsaPublicKey> rsa_key_of(const std::string& n_bytes,
                                               const std::string& e_bytes, std::string& why) {
  const auto n = bignum_of(n_bytes);
  const auto e = bignum_of(e_bytes);
  if (!n || !e) {
    ERR_clear_error();
    why = "out of memory reading n or e";
    return nullptr;
  }
  const int bits = BN_num_bits(n.get());
  if (bits < kMinModulusBits || bits > kMaxModulusBits) {
    why = "modulus of " + std::to_string(bits) + " bits is outside 2048 to 8192";
    return nullptr;
  }
  if (!BN_is_odd(e.get()) || BN_is_one(e.get())) {
    why = "exponent e is not an odd number above 1";
    return nullptr;
  }
  const std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    ERR_clear_error();
    why = "OpenSSL could not take n and e";
    return nullptr;
  }
  const std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder.get()));
  const std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    why = "OpenSSL refused the RSA public key";
    return nullptr;
  }
  auto key = std::make_shared<RsaPublicKey>();
  key->pkey.reset(raw);
  return key;
}

bool rs256_verifies(const RsaPublicKey& key, std::string_view signing_input,
                    std::string_view signature) {
  const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  // An RSA EVP_PKEY verifies with PKCS#1 v1.5 padding unless told otherwise.
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) == 1 &&
      EVP_DigestVerify(
          ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace

bool base64url_decode(std::string_view text, std::string& bytes) {
  bytes.clear();
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 2) {
    text.remove_suffix(1);
    ++padding;
  }
  if (text.size() % 4 == 1) {
    return false;
  }
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int held_bits = 0;
  for (const char c : text) {
    const signed char value = kDecode[static_cast<unsigned char>(c)];
    if (value < 0) {
      bytes.clear();
      return false;
    }
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    held_bits += 6;
    if (held_bits >= 8) {
      held_bits -= 8;
      bytes += static_cast<char>((accumulator >> held_bits) & 0xff);
    }
  }
  return true;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t accumulator = 0;
  int held_bits = 0;
  for (const char c : bytes) {
    accumulator = (accumulator << 8) | static_cast<unsigned char>(c);
    held_bits += 8;
    while (held_bits >= 6) {
      held_bits -= 6;
      out += kAlphabet[(accumulator >> held_bits) & 0x3f];
    }
  }
  if (held_bits > 0) {
    out += kAlphabet[(accumulator << (6 - held_bits)) & 0x3f];
  }
  return out;
}

KeySet KeySet::parse(std::string_view jwks_json, std::vector<std::string>* skipped) {
  KeySet set;
  const auto skip = [&](std::string reason) {
    if (skipped != nullptr) {
      skipped->push_back(std::move(reason));
    }
  };
  const nlohmann::json document = nlohmann::json::parse(jwks_json, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    skip("the JWKS is not a JSON object");
    return set;
  }
  const auto keys = document.find("keys");
  if (keys == document.end() || !keys->is_array()) {
    skip("the JWKS has no \"keys\" array");
    return set;
  }
  std::size_t index = 0;
  for (const nlohmann::json& entry : *keys) {
    const std::string where = "key " + std::to_string(index++);
    if (!entry.is_object()) {
      skip(where + ": not a JSON object");
      continue;
    }
    const auto string_member = [&](const char* name) -> std::string {
      const auto it = entry.find(name);
      return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string{};
    };
    const std::string kid = string_member("kid");
    const std::string named = kid.empty() ? where : where + " (kid " + quoted_text(kid) + ")";
    const auto kty = entry.find("kty");
    if (kty == entry.end() || !kty->is_string() || kty->get_ref<const std::string&>() != "RSA") {
      skip(named + ": kty " + (kty == entry.end() ? std::string("missing") : quoted_json(*kty)) +
           " is not RSA");
      continue;
    }
    const auto use = entry.find("use");
    if (use != entry.end() && (!use->is_string() || use->get_ref<const std::string&>() != "sig")) {
      skip(named + ": use " + quoted_json(*use) + " is not \"sig\"");
      continue;
    }
    if (kid.empty()) {
      skip(named + ": no kid");
      continue;
    }
    const std::string n_text = string_member("n");
    const std::string e_text = string_member("e");
    if (n_text.empty() || e_text.empty()) {
      skip(named + ": n or e missing");
      continue;
    }
    std::string n_bytes;
    std::string e_bytes;
    if (!base64url_decode(n_text, n_bytes) || !base64url_decode(e_text, e_bytes)) {
      skip(named + ": n or e is not base64url");
      continue;
    }
    if (set.find(kid) != nullptr) {
      skip(named + ": kid repeated (the first key with it is kept)");
      continue;
    }
    std::string why;
    auto key = rsa_key_of(n_bytes, e_bytes, why);
    if (!key) {
      skip(named + ": " + why);
      continue;
    }
    JsonWebKey jwk;
    jwk.kid = kid;
    jwk.key = std::move(key);
    const auto endorsements = entry.find("endorsements");
    if (endorsements != entry.end() && endorsements->is_array()) {
      for (const auto& channel : *endorsements) {
        if (channel.is_string()) {
          jwk.endorsements.push_back(channel.get<std::string>());
        }
      }
    }
    set.keys_.push_back(std::move(jwk));
  }
  return set;
}

const JsonWebKey* KeySet::find(std::string_view kid) const noexcept {
  for (const JsonWebKey& key : keys_) {
    if (key.kid == kid) {
      return &key;
    }
  }
  return nullptr;
}

std::string_view to_string(JwtError error) noexcept {
  switch (error) {
    case JwtError::none:
      return "none";
    case JwtError::missing_authorization:
      return "missing_authorization";
    case JwtError::malformed_authorization:
      return "malformed_authorization";
    case JwtError::malformed_token:
      return "malformed_token";
    case JwtError::unsupported_algorithm:
      return "unsupported_algorithm";
    case JwtError::unknown_key:
      return "unknown_key";
    case JwtError::bad_signature:
      return "bad_signature";
    case JwtError::not_endorsed:
      return "not_endorsed";
    case JwtError::wrong_issuer:
      return "wrong_issuer";
    case JwtError::wrong_audience:
      return "wrong_audience";
    case JwtError::expired:
      return "expired";
    case JwtError::not_yet_valid:
      return "not_yet_valid";
    case JwtError::service_url_mismatch:
      return "service_url_mismatch";
  }
  return "unknown";
}

ParsedJwt parse_bearer(std::string_view authorization) {
  ParsedJwt parsed;
  const auto refuse = [&](JwtError error, std::string detail) {
    parsed.error = error;
    parsed.detail = std::move(detail);
    parsed.kid.clear();
    parsed.alg.clear();
    parsed.header = nlohmann::json::object();
    parsed.claims = nlohmann::json::object();
    parsed.signing_input.clear();
    parsed.signature.clear();
    return parsed;
  };

  authorization = trim(authorization);
  if (authorization.empty()) {
    return refuse(JwtError::missing_authorization, "no Authorization header");
  }
  const std::size_t space = authorization.find_first_of(" \t");
  constexpr std::string_view kScheme = "Bearer";
  if (!equals_ignoring_case(authorization.substr(0, space), kScheme)) {
    return refuse(JwtError::malformed_authorization, "the Authorization scheme is not Bearer");
  }
  if (space == std::string_view::npos) {
    return refuse(JwtError::malformed_authorization, "Authorization: Bearer without a token");
  }
  const std::string_view token = trim(authorization.substr(space));
  if (token.size() > kMaxTokenBytes) {
    return refuse(JwtError::malformed_token,
                  "the token has " + std::to_string(token.size()) + " bytes, more than 16 KiB");
  }

  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    const auto parts = std::count(token.begin(), token.end(), '.') + 1;
    return refuse(JwtError::malformed_token,
                  "the token has " + std::to_string(parts) + " parts, not 3");
  }
  const std::string_view header_part = token.substr(0, first_dot);
  const std::string_view claims_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_part = token.substr(second_dot + 1);

  std::string header_bytes;
  std::string claims_bytes;
  if (header_part.empty() || !base64url_decode(header_part, header_bytes)) {
    return refuse(JwtError::malformed_token, "the token's header is not base64url");
  }
  if (claims_part.empty() || !base64url_decode(claims_part, claims_bytes)) {
    return refuse(JwtError::malformed_token, "the token's claims are not base64url");
  }
  if (!base64url_decode(signature_part, parsed.signature)) {
    return refuse(JwtError::malformed_token, "the token's signature is not base64url");
  }
  parsed.header = nlohmann::json::parse(header_bytes, nullptr, false);
  if (parsed.header.is_discarded() || !parsed.header.is_object()) {
    return refuse(JwtError::malformed_token, "the token's header is not a JSON object");
  }
  parsed.claims = nlohmann::json::parse(claims_bytes, nullptr, false);
  if (parsed.claims.is_discarded() || !parsed.claims.is_object()) {
    return refuse(JwtError::malformed_token, "the token's claims are not a JSON object");
  }

  const auto alg = parsed.header.find("alg");
  if (alg == parsed.header.end()) {
    return refuse(JwtError::unsupported_algorithm, "the token's header has no alg");
  }
  if (!alg->is_string() || alg->get_ref<const std::string&>() != "RS256") {
    return refuse(JwtError::unsupported_algorithm, "alg " + quoted_json(*alg) + " is not RS256");
  }
  // RFC 7515 §4.1.11: extensions listed in "crit" must be understood; we know none.
  if (parsed.header.contains("crit")) {
    return refuse(JwtError::unsupported_algorithm, "the token's header has crit extensions");
  }
  parsed.alg = alg->get<std::string>();
  const auto kid = parsed.header.find("kid");
  if (kid != parsed.header.end() && kid->is_string()) {
    parsed.kid = kid->get<std::string>();
  }
  parsed.signing_input = std::string(token.substr(0, second_dot));
  return parsed;
}

JwtVerdict verify(const ParsedJwt& token, const KeySet& keys, const ExpectedClaims& expected) {
  const auto refuse = [](JwtError error, std::string detail) {
    return JwtVerdict{error, std::move(detail)};
  };
  if (!token.ok()) {
    return refuse(token.error, token.detail);
  }
  // parse_bearer refused these already; a ParsedJwt made some other way must not pass.
  if (token.alg != "RS256" || token.header.contains("crit")) {
    return refuse(JwtError::unsupported_algorithm,
                  "alg " + quoted_text(token.alg) + " is not RS256");
  }

  if (token.kid.empty()) {
    return refuse(JwtError::unknown_key, "the token's header has no kid");
  }
  const JsonWebKey* key = keys.find(token.kid);
  if (key == nullptr || !key->key) {
    return refuse(JwtError::unknown_key, "kid " + quoted_text(token.kid) + " is not among the " +
                                             std::to_string(keys.size()) + " signing keys");
  }
  if (!rs256_verifies(*key->key, token.signing_input, token.signature)) {
    return refuse(JwtError::bad_signature,
                  "the RS256 signature does not verify with key " + quoted_text(token.kid));
  }
  if (!expected.channel_id.empty() && std::find(key->endorsements.begin(), key->endorsements.end(),
                                                expected.channel_id) == key->endorsements.end()) {
    return refuse(JwtError::not_endorsed, "key " + quoted_text(token.kid) +
                                              " is not endorsed for " +
                                              quoted_text(expected.channel_id));
  }

  const nlohmann::json& claims = token.claims;
  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() ||
      iss->get_ref<const std::string&>() != expected.issuer) {
    return refuse(JwtError::wrong_issuer,
                  "iss " + (iss == claims.end() ? std::string("missing") : quoted_json(*iss)) +
                      " is not " + expected.issuer);
  }

  const auto aud = claims.find("aud");
  bool audience_ok = false;
  if (aud != claims.end() && !expected.audience.empty()) {
    if (aud->is_string()) {
      audience_ok = aud->get_ref<const std::string&>() == expected.audience;
    } else if (aud->is_array()) {
      audience_ok = std::any_of(aud->begin(), aud->end(), [&](const nlohmann::json& one) {
        return one.is_string() && one.get_ref<const std::string&>() == expected.audience;
      });
    }
  }
  if (!audience_ok) {
    return refuse(JwtError::wrong_audience,
                  "aud " + (aud == claims.end() ? std::string("missing") : quoted_json(*aud)) +
                      " does not name the app id " + quoted_text(expected.audience));
  }

  // Compared as doubles: a JSON number may be a float or beyond int64, and seconds since
  // 1970 are exact in a double for the next hundred million years.
  const auto now = static_cast<double>(expected.now_unix_seconds);
  const auto skew = static_cast<double>(expected.skew_seconds);
  const auto exp_claim = claims.find("exp");
  const std::optional<double> exp =
      exp_claim == claims.end() ? std::nullopt : seconds_of(*exp_claim);
  if (!exp) {
    return refuse(JwtError::expired, "exp is missing or not a number");
  }
  if (*exp + skew <= now) {
    return refuse(JwtError::expired, "expired at " + exp_claim->dump() + ", now is " +
                                         std::to_string(expected.now_unix_seconds));
  }
  const auto nbf_claim = claims.find("nbf");
  if (nbf_claim != claims.end()) {
    const std::optional<double> nbf = seconds_of(*nbf_claim);
    if (!nbf) {
      return refuse(JwtError::not_yet_valid, "nbf is not a number");
    }
    if (*nbf - skew > now) {
      return refuse(JwtError::not_yet_valid, "not valid before " + nbf_claim->dump() + ", now is " +
                                                 std::to_string(expected.now_unix_seconds));
    }
  }

  auto service_url = claims.find("serviceurl");
  if (service_url == claims.end()) {
    service_url = claims.find("serviceUrl");
  }
  if (service_url == claims.end() || !service_url->is_string()) {
    return refuse(JwtError::service_url_mismatch, "the token has no serviceurl claim");
  }
  const std::string_view claimed = service_url->get_ref<const std::string&>();
  if (expected.service_url.empty() ||
      without_trailing_slash(claimed) != without_trailing_slash(expected.service_url)) {
    return refuse(JwtError::service_url_mismatch, "serviceurl " + quoted_text(claimed) +
                                                      " is not the activity's serviceUrl " +
                                                      quoted_text(expected.service_url));
  }
  return {};
}

}  // namespace haveri::teams
