// Tests plugins/slack/src/signature.cpp: Slack's request signing, including its published
// example, the replay window and every way a request can fail to be Slack's.
#include "signature.hpp"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace haveri::slack {
namespace {

// The worked example of "Verifying requests from Slack"
// (https://api.slack.com/authentication/verifying-requests-from-slack): a documentation
// secret, not a real one.
constexpr std::string_view kDocSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::string_view kDocTimestamp = "1531420618";
constexpr std::int64_t kDocTime = 1531420618;
constexpr std::string_view kDocBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
    "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
    "803a0bc887a14d10d2c447fce8b6703c";
constexpr std::string_view kDocSignature =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

SignatureVerdict verify_doc(std::string_view signature, std::int64_t now = kDocTime) {
  return verify_signature(kDocSecret, kDocTimestamp, signature, kDocBody, now);
}

TEST(SlackSignature, SignsSlacksPublishedExample) {
  EXPECT_EQ(sign_request(kDocSecret, kDocTimestamp, kDocBody), kDocSignature);
}

TEST(SlackSignature, AcceptsSlacksPublishedExample) {
  EXPECT_EQ(verify_doc(kDocSignature), SignatureVerdict::valid);
}

TEST(SlackSignature, AcceptsARequestSignedBySignRequest) {
  const std::string body = R"({"type":"event_callback","event_id":"Ev0PV52K21"})";
  const std::string signature = sign_request("test-only-secret", "1712345678", body);
  EXPECT_EQ(verify_signature("test-only-secret", "1712345678", signature, body, 1712345678),
            SignatureVerdict::valid);
}

TEST(SlackSignature, MissingHeadersAreMissing) {
  EXPECT_EQ(verify_signature(kDocSecret, "", kDocSignature, kDocBody, kDocTime),
            SignatureVerdict::missing);
  EXPECT_EQ(verify_signature(kDocSecret, kDocTimestamp, "", kDocBody, kDocTime),
            SignatureVerdict::missing);
  EXPECT_EQ(verify_signature(kDocSecret, "", "", kDocBody, kDocTime), SignatureVerdict::missing);
}

TEST(SlackSignature, TimestampsThatAreNotDecimalIntegersAreMalformed) {
  for (const std::string_view timestamp :
       {"abc", "1531420618.5", " 1531420618", "1531420618 ", "+1531420618", "-1531420618",
        "0x5b47d2ca", "99999999999999999999", "9223372036854775808"}) {
    EXPECT_EQ(verify_signature(kDocSecret, timestamp, kDocSignature, kDocBody, kDocTime),
              SignatureVerdict::malformed)
        << timestamp;
  }
}

TEST(SlackSignature, SignaturesNotV0AndSixtyFourLowerHexDigitsAreMalformed) {
  const std::string good(kDocSignature);
  const std::string hex = good.substr(3);
  std::string upper = good;
  for (std::size_t i = 3; i < upper.size(); ++i) {
    if (upper[i] >= 'a' && upper[i] <= 'f') {
      upper[i] = static_cast<char>(upper[i] - 32);
    }
  }
  for (const std::string& signature :
       {hex, "v1=" + hex, "V0=" + hex, good.substr(0, good.size() - 1), good + "0", upper,
        "v0=" + hex.substr(0, 63) + "g", std::string("v0="), "v0=" + hex + hex}) {
    EXPECT_EQ(verify_doc(signature), SignatureVerdict::malformed) << signature;
  }
}

TEST(SlackSignature, ExactlyFiveMinutesEitherWayIsAccepted) {
  EXPECT_EQ(verify_doc(kDocSignature, kDocTime + kMaxSignatureSkewSeconds),
            SignatureVerdict::valid);
  EXPECT_EQ(verify_doc(kDocSignature, kDocTime - kMaxSignatureSkewSeconds),
            SignatureVerdict::valid);
}

TEST(SlackSignature, OneSecondMoreEitherWayIsStale) {
  // 301 s old: a replay; 301 s in the future: a forged or badly skewed clock.
  EXPECT_EQ(verify_doc(kDocSignature, kDocTime + kMaxSignatureSkewSeconds + 1),
            SignatureVerdict::stale);
  EXPECT_EQ(verify_doc(kDocSignature, kDocTime - kMaxSignatureSkewSeconds - 1),
            SignatureVerdict::stale);
}

TEST(SlackSignature, ExtremeClocksAndTimestampsDoNotOverflow) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(verify_doc(kDocSignature, kMin), SignatureVerdict::stale);
  EXPECT_EQ(verify_doc(kDocSignature, kMax), SignatureVerdict::stale);
  EXPECT_EQ(verify_signature(kDocSecret, "9223372036854775807", kDocSignature, kDocBody, kMin),
            SignatureVerdict::stale);
  EXPECT_EQ(verify_signature(kDocSecret, "0", kDocSignature, kDocBody, kMax),
            SignatureVerdict::stale);
}

TEST(SlackSignature, ABodyChangedByOneByteIsAMismatch) {
  std::string body(kDocBody);
  body.back() = body.back() == 'c' ? 'd' : 'c';
  EXPECT_EQ(verify_signature(kDocSecret, kDocTimestamp, kDocSignature, body, kDocTime),
            SignatureVerdict::mismatch);
  EXPECT_EQ(verify_signature(kDocSecret, kDocTimestamp, kDocSignature, std::string(kDocBody) + "\n",
                             kDocTime),
            SignatureVerdict::mismatch);
}

TEST(SlackSignature, ADifferentSecretOrTimestampIsAMismatch) {
  EXPECT_EQ(verify_signature("8f742231b10e8888abcd99yyyzzz85a6", kDocTimestamp, kDocSignature,
                             kDocBody, kDocTime),
            SignatureVerdict::mismatch);
  // The timestamp is signed too: moving it inside the window does not keep the signature.
  EXPECT_EQ(verify_signature(kDocSecret, "1531420619", kDocSignature, kDocBody, kDocTime),
            SignatureVerdict::mismatch);
}

TEST(SlackSignature, AnEmptySecretNeverVerifies) {
  // Whoever knows the secret is unset could sign with the empty key.
  const std::string forged = sign_request("", kDocTimestamp, kDocBody);
  ASSERT_EQ(forged.size(), kDocSignature.size());
  EXPECT_EQ(verify_signature("", kDocTimestamp, forged, kDocBody, kDocTime),
            SignatureVerdict::mismatch);
  EXPECT_EQ(verify_signature("", kDocTimestamp, kDocSignature, kDocBody, kDocTime),
            SignatureVerdict::mismatch);
}

TEST(SlackSignature, AnEmptyBodyIsSignedLikeAnyOther) {
  const std::string signature = sign_request("test-only-secret", "1712345678", "");
  EXPECT_EQ(verify_signature("test-only-secret", "1712345678", signature, "", 1712345678),
            SignatureVerdict::valid);
  EXPECT_EQ(verify_signature("test-only-secret", "1712345678", signature, " ", 1712345678),
            SignatureVerdict::mismatch);
}

TEST(SlackSignature, DescriptionsNameTheProblemAndNeverTheSecretOrExpectedSignature) {
  const std::string expected_hex(kDocSignature.substr(3));
  for (const auto verdict :
       {SignatureVerdict::valid, SignatureVerdict::missing, SignatureVerdict::malformed,
        SignatureVerdict::stale, SignatureVerdict::mismatch}) {
    const std::string_view text = describe(verdict);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find(kDocSecret), std::string_view::npos);
    EXPECT_EQ(text.find(expected_hex.substr(0, 8)), std::string_view::npos);
  }
  EXPECT_NE(describe(SignatureVerdict::missing).find("missing"), std::string_view::npos);
  EXPECT_NE(describe(SignatureVerdict::stale).find("stale"), std::string_view::npos);
  EXPECT_NE(describe(SignatureVerdict::mismatch).find("does not match"), std::string_view::npos);
  EXPECT_NE(describe(SignatureVerdict::malformed).find("malformed"), std::string_view::npos);
}

TEST(SlackSignature, SignRequestIsLowerCaseHexWithTheVersionPrefix) {
  const std::string signature = sign_request("test-only-secret", "1", "x");
  ASSERT_EQ(signature.size(), 67U);
  EXPECT_EQ(signature.substr(0, 3), "v0=");
  for (const char c : signature.substr(3)) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << signature;
  }
}

}  // namespace
}  // namespace haveri::slack
