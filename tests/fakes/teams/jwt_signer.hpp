#pragma once
// Test-side token minting for the Teams adapter's tests: RSA keys generated in the
// test (never a key from anywhere else), their JWKS and OpenID metadata as the Bot
// Framework publishes them, and JWTs signed the way the Bot Framework signs the
// bearer tokens it sends to bots — or wrongly, on purpose, for the negative cases.
//
// Deliberately independent of plugins/teams/src/jwt.cpp (its own base64url and
// OpenSSL calls): a test that signed and verified with the same code would prove
// nothing. Thread-safe after construction (const members only).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace haveri::fakes {

// One RSA key pair made in the test.
class TestSigningKey {
 public:
  // Generates a fresh RSA key of `bits` (2048 by default; generation takes ~50 ms).
  // Throws std::runtime_error when OpenSSL fails.
  explicit TestSigningKey(std::string kid, std::vector<std::string> endorsements = {"msteams"},
                          int bits = 2048);
  ~TestSigningKey();
  TestSigningKey(const TestSigningKey&) = delete;
  TestSigningKey& operator=(const TestSigningKey&) = delete;

  const std::string& kid() const noexcept { return kid_; }
  // {"kty":"RSA","use":"sig","kid":…,"n":…,"e":…,"x5t":…,"endorsements":[…]}
  nlohmann::json jwk() const;
  // The public key as PEM (SubjectPublicKeyInfo): what an attacker would use as an
  // HMAC secret in the HS256 confusion attack.
  std::string public_pem() const;

  // RS256 over "<b64url(header)>.<b64url(claims)>"; `header` gets "alg":"RS256",
  // "typ":"JWT" and "kid" unless it already has them.
  std::string sign(const nlohmann::json& claims,
                   nlohmann::json header = nlohmann::json::object()) const;

 private:
  struct Pkey;
  std::string kid_;
  std::vector<std::string> endorsements_;
  std::unique_ptr<Pkey> pkey_;
};

// {"keys":[jwk, …]}
nlohmann::json jwks_of(const std::vector<const TestSigningKey*>& keys);

// The claims the Bot Framework puts in a token it sends to a bot:
//   iss https://api.botframework.com, aud app_id, serviceurl, nbf now-60, exp now+3600,
//   iat now-60.
nlohmann::json bot_framework_claims(const std::string& app_id, const std::string& service_url,
                                    std::int64_t now_unix_seconds);

// Unsigned and wrongly signed tokens for the negative table:
//   alg "none" with an empty signature part;
//   HS256 with `secret` (the public key's PEM) as the HMAC key, with the header's kid.
std::string unsigned_token(const nlohmann::json& claims, const std::string& kid);
std::string hs256_token(const nlohmann::json& claims, const std::string& kid,
                        const std::string& secret);

// Base64url without padding, as JWTs use it.
std::string base64url(const std::string& bytes);

}  // namespace haveri::fakes
