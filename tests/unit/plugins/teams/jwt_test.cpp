// plugins/teams/src/jwt.cpp: base64url, JWKS parsing and the Bot Framework bearer-token
// check, against tokens minted by the independent test signer (tests/fakes/teams).
#include "jwt.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "teams/jwt_signer.hpp"

namespace haveri::teams {
namespace {

using fakes::base64url;
using fakes::bot_framework_claims;
using fakes::TestSigningKey;
using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr const char* kAppId = "00000000-0000-4000-8000-00000000a11d";  // fake
constexpr const char* kServiceUrl = "https://smba.trafficmanager.net/amer/";
constexpr const char* kKid = "teams-kid-1";

// Keys are slow to make: one set for the whole file.
struct Keys {
  TestSigningKey teams{kKid};
  // Another key pair that claims the same kid: its signatures must not verify.
  TestSigningKey impostor{kKid};
  TestSigningKey skype_only{"skype-kid", {"skype"}};
  TestSigningKey stranger{"stranger-kid"};  // not in the JWKS
  KeySet set = KeySet::parse(fakes::jwks_of({&teams, &skype_only}).dump());
};
const Keys& keys() {
  static const Keys instance;
  return instance;
}

ExpectedClaims expected_claims() {
  ExpectedClaims expected;
  expected.audience = kAppId;
  expected.service_url = kServiceUrl;
  expected.now_unix_seconds = kNow;
  return expected;
}

json claims() {
  return bot_framework_claims(kAppId, kServiceUrl, kNow);
}

json claims_with(const std::string& name, json value) {
  json c = claims();
  c[name] = std::move(value);
  return c;
}

json claims_without(const std::string& name) {
  json c = claims();
  c.erase(name);
  return c;
}

std::string bearer(const std::string& token) {
  return "Bearer " + token;
}

std::string signed_by_teams(const json& c) {
  return bearer(keys().teams.sign(c));
}

// "<header>.<claims>.<signature>" from raw parts, each base64url-encoded by the signer.
std::string raw_token(const std::string& header, const std::string& claims_text,
                      const std::string& signature = "signature") {
  return base64url(header) + "." + base64url(claims_text) + "." + base64url(signature);
}

JwtVerdict check(const std::string& authorization, const ExpectedClaims& expected) {
  return verify(parse_bearer(authorization), keys().set, expected);
}

struct NegativeCase {
  std::string name;
  std::function<std::string()> authorization;
  JwtError error;
  std::function<void(ExpectedClaims&)> adjust = [](ExpectedClaims&) {};
};

std::vector<NegativeCase> negative_cases() {
  return {
      {"WrongIssuer",
       [] { return signed_by_teams(claims_with("iss", "https://sts.windows.net/evil/")); },
       JwtError::wrong_issuer},
      {"MissingIssuer", [] { return signed_by_teams(claims_without("iss")); },
       JwtError::wrong_issuer},
      {"WrongAudienceString", [] { return signed_by_teams(claims_with("aud", "another-app")); },
       JwtError::wrong_audience},
      {"WrongAudienceArray",
       [] {
         return signed_by_teams(claims_with("aud", json::array({"another-app", "third"})));
       },
       JwtError::wrong_audience},
      {"AudienceNumber", [] { return signed_by_teams(claims_with("aud", 42)); },
       JwtError::wrong_audience},
      {"ExpiredBeyondSkew", [] { return signed_by_teams(claims_with("exp", kNow - 301)); },
       JwtError::expired},
      {"ExpiredExactlyAtSkew", [] { return signed_by_teams(claims_with("exp", kNow - 300)); },
       JwtError::expired},
      {"ExpMissing", [] { return signed_by_teams(claims_without("exp")); }, JwtError::expired},
      {"ExpNotANumber",
       [] { return signed_by_teams(claims_with("exp", std::to_string(kNow + 3600))); },
       JwtError::expired},
      {"NotYetValidBeyondSkew", [] { return signed_by_teams(claims_with("nbf", kNow + 301)); },
       JwtError::not_yet_valid},
      {"NbfNotANumber", [] { return signed_by_teams(claims_with("nbf", "soon")); },
       JwtError::not_yet_valid},
      {"ClaimsTamperedAfterSigning",
       [] {
         const std::string token = keys().teams.sign(claims_with("aud", "another-app"));
         const auto first = token.find('.');
         const auto second = token.find('.', first + 1);
         return bearer(token.substr(0, first + 1) + base64url(claims().dump()) +
                       token.substr(second));
       },
       JwtError::bad_signature},
      {"SignedByAnotherKeyWithTheSameKid", [] { return bearer(keys().impostor.sign(claims())); },
       JwtError::bad_signature},
      {"EmptySignature",
       [] {
         const std::string token = keys().teams.sign(claims());
         return bearer(token.substr(0, token.rfind('.') + 1));
       },
       JwtError::bad_signature},
      {"UnknownKeyId", [] { return bearer(keys().stranger.sign(claims())); },
       JwtError::unknown_key},
      {"NoKid", [] { return bearer(raw_token(R"({"alg":"RS256","typ":"JWT"})", claims().dump())); },
       JwtError::unknown_key},
      {"KidNotAString",
       [] {
         return bearer(keys().teams.sign(claims(), {{"kid", 7}}));
       },
       JwtError::unknown_key},
      {"AlgNone", [] { return bearer(fakes::unsigned_token(claims(), kKid)); },
       JwtError::unsupported_algorithm},
      {"Hs256WithThePublicKeyAsSecret",
       [] { return bearer(fakes::hs256_token(claims(), kKid, keys().teams.public_pem())); },
       JwtError::unsupported_algorithm},
      {"Rs384",
       [] {
         return bearer(keys().teams.sign(claims(), {{"alg", "RS384"}}));
       },
       JwtError::unsupported_algorithm},
      {"NoAlg", [] { return bearer(raw_token(R"({"kid":"teams-kid-1"})", claims().dump())); },
       JwtError::unsupported_algorithm},
      {"CritHeader",
       [] {
         return bearer(keys().teams.sign(claims(), {{"crit", json::array({"exp"})}, {"exp", 1}}));
       },
       JwtError::unsupported_algorithm},
      {"ServiceUrlMismatch",
       [] { return signed_by_teams(claims_with("serviceurl", "https://evil.example/amer/")); },
       JwtError::service_url_mismatch},
      {"ServiceUrlOtherPath",
       [] {
         return signed_by_teams(claims_with("serviceurl", "https://smba.trafficmanager.net/emea/"));
       },
       JwtError::service_url_mismatch},
      {"ServiceUrlClaimMissing", [] { return signed_by_teams(claims_without("serviceurl")); },
       JwtError::service_url_mismatch},
      {"ActivityWithoutServiceUrl", [] { return signed_by_teams(claims()); },
       JwtError::service_url_mismatch, [](ExpectedClaims& e) { e.service_url.clear(); }},
      {"KeyNotEndorsedForTeams", [] { return bearer(keys().skype_only.sign(claims())); },
       JwtError::not_endorsed},
      {"MissingAuthorization", [] { return std::string(); }, JwtError::missing_authorization},
      {"BlankAuthorization", [] { return std::string("   "); }, JwtError::missing_authorization},
      {"BasicScheme", [] { return std::string("Basic abc"); }, JwtError::malformed_authorization},
      {"BearerWithoutToken", [] { return std::string("Bearer"); },
       JwtError::malformed_authorization},
      {"BearerWithBlankToken", [] { return std::string("Bearer   "); },
       JwtError::malformed_authorization},
      {"TokenWithoutScheme", [] { return keys().teams.sign(claims()); },
       JwtError::malformed_authorization},
      {"TwoParts", [] { return std::string("Bearer a.b"); }, JwtError::malformed_token},
      {"FourParts", [] { return std::string("Bearer a.b.c.d"); }, JwtError::malformed_token},
      {"NonBase64urlCharacters",
       [] {
         const std::string token = keys().teams.sign(claims());
         return bearer(token.substr(0, 10) + "+/" + token.substr(12));
       },
       JwtError::malformed_token},
      {"SpaceInsideToken",
       [] {
         std::string token = keys().teams.sign(claims());
         return bearer(token.insert(token.rfind('.') + 5, " "));
       },
       JwtError::malformed_token},
      {"HeaderNotJson", [] { return bearer(raw_token("not json", claims().dump())); },
       JwtError::malformed_token},
      {"HeaderNotAnObject", [] { return bearer(raw_token(R"(["RS256"])", claims().dump())); },
       JwtError::malformed_token},
      {"ClaimsNotJson",
       [] { return bearer(raw_token(R"({"alg":"RS256","kid":"teams-kid-1"})", "{iss:")); },
       JwtError::malformed_token},
      {"ClaimsNotAnObject",
       [] { return bearer(raw_token(R"({"alg":"RS256","kid":"teams-kid-1"})", "1700000000")); },
       JwtError::malformed_token},
      {"EmptyHeaderPart", [] { return std::string("Bearer .e30.c2ln"); },
       JwtError::malformed_token},
      // Validly signed, but too big to be looked at.
      {"TwentyKibToken",
       [] {
         return signed_by_teams(claims_with("padding", std::string(std::size_t{20} * 1024, 'x')));
       },
       JwtError::malformed_token},
  };
}

class JwtNegativeTest : public ::testing::TestWithParam<NegativeCase> {};

TEST_P(JwtNegativeTest, IsRefusedWithTheExactError) {
  const NegativeCase& c = GetParam();
  const std::string authorization = c.authorization();
  ExpectedClaims expected = expected_claims();
  c.adjust(expected);

  const JwtVerdict verdict = check(authorization, expected);

  EXPECT_EQ(to_string(verdict.error), to_string(c.error));
  EXPECT_FALSE(verdict.ok());
  EXPECT_FALSE(verdict.detail.empty());
  // The detail goes to the log: no part of the token may be in it.
  const std::string token = authorization.substr(authorization.rfind(' ') + 1);
  std::size_t start = 0;
  while (start <= token.size()) {
    const std::size_t dot = std::min(token.find('.', start), token.size());
    const std::string part = token.substr(start, dot - start);
    if (part.size() >= 16) {
      EXPECT_EQ(verdict.detail.find(part), std::string::npos) << verdict.detail;
    }
    start = dot + 1;
  }
}

std::ostream& operator<<(std::ostream& out, const NegativeCase& c) {
  return out << c.name;
}

INSTANTIATE_TEST_SUITE_P(Jwt, JwtNegativeTest, ::testing::ValuesIn(negative_cases()),
                         [](const ::testing::TestParamInfo<NegativeCase>& param) {
                           return param.param.name;
                         });

// Refused before any key is looked at: an empty key set does not turn these into
// unknown_key, and parse_bearer alone already says so.
TEST(JwtParseTest, RefusesForeignAlgorithmsBeforeAnyKeyLookup) {
  const KeySet empty;
  const std::string none = bearer(fakes::unsigned_token(claims(), kKid));
  const std::string hs256 = bearer(fakes::hs256_token(claims(), kKid, keys().teams.public_pem()));
  for (const std::string& authorization : {none, hs256}) {
    SCOPED_TRACE(authorization.substr(0, 40));
    const ParsedJwt parsed = parse_bearer(authorization);
    EXPECT_EQ(parsed.error, JwtError::unsupported_algorithm);
    EXPECT_EQ(verify(parsed, empty, expected_claims()).error, JwtError::unsupported_algorithm);
  }
}

TEST(JwtParseTest, SplitsAGoodTokenIntoItsParts) {
  const std::string token = keys().teams.sign(claims());
  const ParsedJwt parsed = parse_bearer("Bearer " + token);
  ASSERT_TRUE(parsed.ok()) << parsed.detail;
  EXPECT_EQ(parsed.kid, kKid);
  EXPECT_EQ(parsed.alg, "RS256");
  EXPECT_EQ(parsed.claims.value("aud", ""), kAppId);
  EXPECT_EQ(parsed.header.value("typ", ""), "JWT");
  EXPECT_EQ(parsed.signing_input, token.substr(0, token.rfind('.')));
  EXPECT_EQ(parsed.signature.size(), 256U);  // RSA 2048
}

// A verifier that only checked the claims and not the key would accept a forged
// ParsedJwt: verify refuses one that claims an algorithm parse_bearer would refuse.
TEST(JwtParseTest, VerifyRefusesAHandMadeParsedJwtWithAnotherAlgorithm) {
  ParsedJwt parsed = parse_bearer(bearer(keys().teams.sign(claims())));
  ASSERT_TRUE(parsed.ok());
  parsed.alg = "HS256";
  EXPECT_EQ(verify(parsed, keys().set, expected_claims()).error, JwtError::unsupported_algorithm);
}

struct PositiveCase {
  std::string name;
  std::function<std::string()> authorization;
  std::function<void(ExpectedClaims&)> adjust = [](ExpectedClaims&) {};
};

std::vector<PositiveCase> positive_cases() {
  return {
      {"BotFrameworkClaims", [] { return signed_by_teams(claims()); }},
      {"LowerCaseBearer", [] { return "bearer " + keys().teams.sign(claims()); }},
      {"UpperCaseBearerAndExtraSpaces", [] { return "BEARER   " + keys().teams.sign(claims()); }},
      {"ExpiredWithinSkew", [] { return signed_by_teams(claims_with("exp", kNow - 299)); }},
      {"NotYetValidWithinSkew", [] { return signed_by_teams(claims_with("nbf", kNow + 300)); }},
      {"NoNbf", [] { return signed_by_teams(claims_without("nbf")); }},
      {"FloatingPointExp", [] { return signed_by_teams(claims_with("exp", kNow + 0.5)); }},
      {"AudienceArrayNamingUs",
       [] {
         return signed_by_teams(claims_with("aud", json::array({"other", kAppId})));
       }},
      {"ClaimWithoutTrailingSlash",
       [] {
         return signed_by_teams(claims_with("serviceurl", "https://smba.trafficmanager.net/amer"));
       }},
      {"ActivityWithoutTrailingSlash", [] { return signed_by_teams(claims()); },
       [](ExpectedClaims& e) { e.service_url = "https://smba.trafficmanager.net/amer"; }},
      {"CamelCaseServiceUrlClaim",
       [] {
         json c = claims_without("serviceurl");
         c["serviceUrl"] = kServiceUrl;
         return signed_by_teams(c);
       }},
      {"PaddedBase64urlParts",
       [] {
         // Some encoders pad; the contract tolerates it.
         std::string token = keys().teams.sign(claims());
         const std::size_t signature_chars = token.size() - token.rfind('.') - 1;
         return bearer(token.append((4 - signature_chars % 4) % 4, '='));
       }},
      {"ChannelCheckSkipped", [] { return bearer(keys().skype_only.sign(claims())); },
       [](ExpectedClaims& e) { e.channel_id.clear(); }},
  };
}

std::ostream& operator<<(std::ostream& out, const PositiveCase& c) {
  return out << c.name;
}

class JwtPositiveTest : public ::testing::TestWithParam<PositiveCase> {};

TEST_P(JwtPositiveTest, IsAccepted) {
  const PositiveCase& c = GetParam();
  ExpectedClaims expected = expected_claims();
  c.adjust(expected);
  const JwtVerdict verdict = check(c.authorization(), expected);
  EXPECT_TRUE(verdict.ok()) << to_string(verdict.error) << ": " << verdict.detail;
}

INSTANTIATE_TEST_SUITE_P(Jwt, JwtPositiveTest, ::testing::ValuesIn(positive_cases()),
                         [](const ::testing::TestParamInfo<PositiveCase>& param) {
                           return param.param.name;
                         });

TEST(JwtVerifyTest, ChecksInTheDocumentedOrder) {
  // Wrong issuer, wrong audience and expired at once: the issuer is reported.
  json c = claims_with("iss", "https://evil.example");
  c["aud"] = "other";
  c["exp"] = kNow - 1000;
  EXPECT_EQ(check(signed_by_teams(c), expected_claims()).error, JwtError::wrong_issuer);
  // A bad signature is reported before any claim is believed.
  EXPECT_EQ(check(bearer(keys().impostor.sign(c)), expected_claims()).error,
            JwtError::bad_signature);
}

TEST(JwtVerifyTest, DetailNamesWhatDiffered) {
  const JwtVerdict verdict =
      check(signed_by_teams(claims_with("iss", "https://evil.example")), expected_claims());
  EXPECT_EQ(verdict.detail, "iss \"https://evil.example\" is not https://api.botframework.com");
}

TEST(JwtVerifyTest, EveryErrorHasAName) {
  EXPECT_EQ(to_string(JwtError::none), "none");
  EXPECT_EQ(to_string(JwtError::unsupported_algorithm), "unsupported_algorithm");
  EXPECT_EQ(to_string(JwtError::service_url_mismatch), "service_url_mismatch");
  EXPECT_EQ(to_string(JwtError::not_endorsed), "not_endorsed");
}

// ---- KeySet::parse ----

TEST(KeySetTest, KeepsTheUsableKeysWithTheirEndorsements) {
  const KeySet& set = keys().set;
  ASSERT_EQ(set.size(), 2U);
  const JsonWebKey* teams = set.find(kKid);
  ASSERT_NE(teams, nullptr);
  EXPECT_EQ(teams->endorsements, std::vector<std::string>{"msteams"});
  ASSERT_NE(set.find("skype-kid"), nullptr);
  EXPECT_EQ(set.find("skype-kid")->endorsements, std::vector<std::string>{"skype"});
  EXPECT_EQ(set.find("stranger-kid"), nullptr);
}

TEST(KeySetTest, SkipsUnusableKeysAndSaysWhy) {
  static const TestSigningKey small("small-kid", {"msteams"}, 1024);
  json jwk = keys().teams.jwk();
  const auto variant = [&](const std::string& kid, const std::function<void(json&)>& change) {
    json key = jwk;
    key["kid"] = kid;
    change(key);
    return key;
  };
  json no_use = variant("no-use", [](json& k) { k.erase("use"); });
  json document = {
      {"keys",
       json::array({
           jwk,
           variant(
               "ec-kid",
               [](json& k) {
                 k = {{"kty", "EC"}, {"kid", "ec-kid"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}};
               }),
           variant("no-n", [](json& k) { k.erase("n"); }),
           variant("no-e", [](json& k) { k.erase("e"); }),
           variant("bad-n", [](json& k) { k["n"] = "abc+def/ghi="; }),
           variant("enc-kid", [](json& k) { k["use"] = "enc"; }),
           small.jwk(),
           keys().impostor.jwk(),  // same kid as the first: the first is kept
           variant("", [](json& k) { k.erase("kid"); }),
           "not an object",
           no_use,
       })},
  };
  std::vector<std::string> skipped;
  const KeySet set = KeySet::parse(document.dump(), &skipped);

  ASSERT_EQ(set.size(), 2U);
  EXPECT_NE(set.find(kKid), nullptr);
  EXPECT_NE(set.find("no-use"), nullptr);
  for (const char* kid : {"ec-kid", "no-n", "no-e", "bad-n", "enc-kid", "small-kid"}) {
    EXPECT_EQ(set.find(kid), nullptr) << kid;
  }
  // The kept teams-kid-1 is the first key: the impostor's signature does not verify.
  EXPECT_EQ(
      verify(parse_bearer(bearer(keys().impostor.sign(claims()))), set, expected_claims()).error,
      JwtError::bad_signature);
  EXPECT_TRUE(
      verify(parse_bearer(bearer(keys().teams.sign(claims()))), set, expected_claims()).ok());

  ASSERT_EQ(skipped.size(), 9U);
  const std::vector<std::pair<std::string, std::string>> reasons = {
      {"ec-kid", "is not RSA"}, {"no-n", "n or e missing"}, {"no-e", "n or e missing"},
      {"bad-n", "base64url"},   {"enc-kid", "\"sig\""},     {"small-kid", "1024 bits"},
      {kKid, "repeated"},       {"key 8", "no kid"},        {"key 9", "not a JSON object"},
  };
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    SCOPED_TRACE(skipped[i]);
    EXPECT_NE(skipped[i].find(reasons[i].first), std::string::npos);
    EXPECT_NE(skipped[i].find(reasons[i].second), std::string::npos);
  }
}

TEST(KeySetTest, GarbageDocumentGivesAnEmptySetAndOneReason) {
  for (const std::string& document : std::vector<std::string>{
           "", "not json", "[]", "{\"keys\":5}", "{\"no_keys\":[]}", "{\"keys\":[", "\"keys\""}) {
    SCOPED_TRACE(document);
    std::vector<std::string> skipped;
    const KeySet set = KeySet::parse(document, &skipped);
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(skipped.size(), 1U);
  }
  EXPECT_TRUE(KeySet::parse("{\"keys\":[]}").empty());
}

TEST(KeySetTest, AKeyWithoutEndorsementsIsNotEndorsed) {
  json jwk = keys().teams.jwk();
  jwk.erase("endorsements");
  const KeySet set = KeySet::parse(json{{"keys", json::array({jwk})}}.dump());
  ASSERT_EQ(set.size(), 1U);
  EXPECT_TRUE(set.find(kKid)->endorsements.empty());
  EXPECT_EQ(verify(parse_bearer(bearer(keys().teams.sign(claims()))), set, expected_claims()).error,
            JwtError::not_endorsed);
}

// ---- base64url ----

TEST(Base64urlTest, RoundTripsEveryByteAndEveryLength) {
  for (std::size_t length = 0; length <= 70; ++length) {
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i) {
      bytes += static_cast<char>((i * 97 + length * 31) & 0xff);
    }
    SCOPED_TRACE(length);
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded, base64url(bytes));  // the signer's own encoder agrees
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    std::string decoded;
    ASSERT_TRUE(base64url_decode(encoded, decoded));
    EXPECT_EQ(decoded, bytes);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  std::string decoded;
  ASSERT_TRUE(base64url_decode(base64url_encode(all), decoded));
  EXPECT_EQ(decoded, all);
}

TEST(Base64urlTest, MatchesTheRfcVectorsAndTheUrlSafeAlphabet) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  std::string decoded;
  ASSERT_TRUE(base64url_decode("-_8", decoded));
  EXPECT_EQ(decoded, "\xfb\xff");
}

TEST(Base64urlTest, ToleratesPadding) {
  std::string decoded;
  ASSERT_TRUE(base64url_decode("Zg==", decoded));
  EXPECT_EQ(decoded, "f");
  ASSERT_TRUE(base64url_decode("Zm8=", decoded));
  EXPECT_EQ(decoded, "fo");
}

TEST(Base64urlTest, RejectsCharactersOutsideTheAlphabetAndImpossibleLengths) {
  for (const std::string& text :
       std::vector<std::string>{"Zm9v+A", "Zm9v/A", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zg=a",
                                "Zg===", "=Zg", std::string("Zm\0v", 4), "Zm9v\xc3\xa9"}) {
    SCOPED_TRACE(text);
    std::string decoded = "previous";
    EXPECT_FALSE(base64url_decode(text, decoded));
  }
}

}  // namespace
}  // namespace haveri::teams
