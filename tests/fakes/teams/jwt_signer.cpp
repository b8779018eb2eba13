#include "teams/jwt_signer.hpp"

#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

namespace haveri::fakes {

namespace {

[[noreturn]] void fail(const char* what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = {};
  ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  throw std::runtime_error(std::string("jwt_signer: ") + what + ": " + reason);
}

struct BnFree {
  void operator()(BIGNUM* bn) const noexcept { BN_free(bn); }
};
struct BioFree {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

std::string bytes_of(const BIGNUM* bn) {
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string bignum_param(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    fail(name);
  }
  const std::unique_ptr<BIGNUM, BnFree> bn(raw);
  return bytes_of(bn.get());
}

std::string json_part(const nlohmann::json& value) {
  return base64url(value.dump());
}

}  // namespace

struct TestSigningKey::Pkey {
  EVP_PKEY* pkey = nullptr;
  ~Pkey() { EVP_PKEY_free(pkey); }
};

TestSigningKey::TestSigningKey(std::string kid, std::vector<std::string> endorsements, int bits)
    : kid_(std::move(kid)),
      endorsements_(std::move(endorsements)),
      pkey_(std::make_unique<Pkey>()) {
  pkey_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits));
  if (pkey_->pkey == nullptr) {
    fail("RSA key generation");
  }
}

TestSigningKey::~TestSigningKey() = default;

nlohmann::json TestSigningKey::jwk() const {
  // x5t is a certificate thumbprint in the real JWKS; a SHA-1 of the DER public key is
  // as plausible for a test and nobody verifies it.
  unsigned char* der = nullptr;
  const int der_len = i2d_PUBKEY(pkey_->pkey, &der);
  if (der_len <= 0) {
    fail("i2d_PUBKEY");
  }
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(der, static_cast<std::size_t>(der_len), digest);
  OPENSSL_free(der);

  return {
      {"kty", "RSA"},
      {"use", "sig"},
      {"kid", kid_},
      {"n", base64url(bignum_param(pkey_->pkey, OSSL_PKEY_PARAM_RSA_N))},
      {"e", base64url(bignum_param(pkey_->pkey, OSSL_PKEY_PARAM_RSA_E))},
      {"x5t", base64url(std::string(reinterpret_cast<const char*>(digest), sizeof digest))},
      {"endorsements", endorsements_},
  };
}

std::string TestSigningKey::public_pem() const {
  const std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_->pkey) != 1) {
    fail("PEM_write_bio_PUBKEY");
  }
  char* text = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &text);
  return std::string(text, static_cast<std::size_t>(len));
}

std::string TestSigningKey::sign(const nlohmann::json& claims, nlohmann::json header) const {
  if (!header.is_object()) {
    header = nlohmann::json::object();
  }
  if (!header.contains("alg")) {
    header["alg"] = "RS256";
  }
  if (!header.contains("typ")) {
    header["typ"] = "JWT";
  }
  if (!header.contains("kid")) {
    header["kid"] = kid_;
  }
  const std::string input = json_part(header) + "." + json_part(claims);

  const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey_->pkey) != 1) {
    fail("EVP_DigestSignInit");
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t sig_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, data, input.size()) != 1) {
    fail("EVP_DigestSign (size)");
  }
  std::string signature(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &sig_len, data,
                     input.size()) != 1) {
    fail("EVP_DigestSign");
  }
  signature.resize(sig_len);
  return input + "." + base64url(signature);
}

nlohmann::json jwks_of(const std::vector<const TestSigningKey*>& keys) {
  nlohmann::json list = nlohmann::json::array();
  for (const TestSigningKey* key : keys) {
    list.push_back(key->jwk());
  }
  return {{"keys", std::move(list)}};
}

nlohmann::json bot_framework_claims(const std::string& app_id, const std::string& service_url,
                                    std::int64_t now_unix_seconds) {
  return {
      {"serviceurl", service_url},
      {"nbf", now_unix_seconds - 60},
      {"exp", now_unix_seconds + 3600},
      {"iss", "https://api.botframework.com"},
      {"aud", app_id},
      {"iat", now_unix_seconds - 60},
  };
}

std::string unsigned_token(const nlohmann::json& claims, const std::string& kid) {
  const nlohmann::json header = {{"alg", "none"}, {"typ", "JWT"}, {"kid", kid}};
  return json_part(header) + "." + json_part(claims) + ".";
}

std::string hs256_token(const nlohmann::json& claims, const std::string& kid,
                        const std::string& secret) {
  const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", kid}};
  const std::string input = json_part(header) + "." + json_part(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &mac_len) == nullptr) {
    fail("HMAC");
  }
  return input + "." + base64url(std::string(reinterpret_cast<const char*>(mac), mac_len));
}

std::string base64url(const std::string& bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    const auto b2 = static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    out += kAlphabet[((b1 & 0x0f) << 2) | (b2 >> 6)];
    out += kAlphabet[b2 & 0x3f];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[(b0 & 0x03) << 4];
  } else if (rest == 2) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    out += kAlphabet[(b1 & 0x0f) << 2];
  }
  return out;
}

}  // namespace haveri::fakes
