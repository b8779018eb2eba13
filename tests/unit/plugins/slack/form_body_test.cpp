// Tests plugins/slack/src/form_body.cpp: decoding the form bodies of slash commands and
// interactivity, and encoding values for them.
#include "form_body.hpp"

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace haveri::slack {
namespace {

TEST(SlackFormBody, DecodesASlashCommandAsSlackPostsIt) {
  const auto fields = parse_form(
      "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=E0001&"
      "enterprise_name=Globular%20Construct%20Inc&channel_id=C2147483705&channel_name=test&"
      "user_id=U2147483697&user_name=Steve&command=%2Fincident&text=declare+Pump+down+sev2&"
      "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678&trigger_id="
      "13345224609.738474920.8088930838d88f008e0&api_app_id=A123456");
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->size(), 14U);
  EXPECT_EQ(fields->at("command"), "/incident");
  EXPECT_EQ(fields->at("text"), "declare Pump down sev2");
  EXPECT_EQ(fields->at("enterprise_name"), "Globular Construct Inc");
  EXPECT_EQ(fields->at("response_url"), "https://hooks.slack.com/commands/1234/5678");
}

TEST(SlackFormBody, AnEmptyBodyIsAnEmptyMap) {
  const auto fields = parse_form("");
  ASSERT_TRUE(fields);
  EXPECT_TRUE(fields->empty());
}

TEST(SlackFormBody, PlusIsASpaceAndAnEscapedPlusIsAPlus) {
  const auto fields = parse_form("text=a+b%2Bc&key+with+spaces=x");
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->at("text"), "a b+c");
  EXPECT_EQ(fields->at("key with spaces"), "x");
}

TEST(SlackFormBody, EscapesDecodeInUpperOrLowerCaseHex) {
  const auto fields = parse_form("a=%2f%2F&b=%c3%a9%C3%A9&c=%e2%9c%93");
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->at("a"), "//");
  EXPECT_EQ(fields->at("b"), "\xC3\xA9\xC3\xA9");
  EXPECT_EQ(fields->at("c"), "\xE2\x9C\x93");
}

TEST(SlackFormBody, EmptyValuesAndAnEqualsSignInAValueAreKept) {
  const auto fields = parse_form("text=&channel_name=general&expr=a=b");
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->at("text"), "");
  EXPECT_EQ(fields->at("expr"), "a=b");
}

TEST(SlackFormBody, MalformedEscapesAreRefused) {
  for (const std::string_view body :
       {"a=%G1", "a=%1G", "a=%", "a=%4", "a=x%", "a=%%41", "%zz=1", "a=%-1", "a=% 1"}) {
    EXPECT_FALSE(parse_form(body)) << body;
  }
}

TEST(SlackFormBody, KeysWithoutEqualsSignsAndEmptyPairsAreRefused) {
  for (const std::string_view body :
       {"a", "a=1&b", "a=1&&b=2", "a=1&", "&a=1", "&", "=1", "a=1&=2"}) {
    EXPECT_FALSE(parse_form(body)) << body;
  }
}

TEST(SlackFormBody, ARepeatedKeyIsRefused) {
  EXPECT_FALSE(parse_form("text=declare&text=status"));
  // Also when the repeat is only visible after decoding.
  EXPECT_FALSE(parse_form("user_id=U1&user%5Fid=U2"));
}

TEST(SlackFormBody, BytesThatAreNotUtf8AfterDecodingAreRefused) {
  for (const std::string_view body :
       {"text=%FF", "text=%C3", "text=%C3%28", "text=%C0%AF", "text=%ED%A0%80", "text=%F4%90%80%80",
        "%FE=x", "text=caf\xE9"}) {
    EXPECT_FALSE(parse_form(body)) << body;
  }
  // Raw UTF-8 (a client that did not escape it) and NUL are still text.
  const auto fields = parse_form("text=caf\xC3\xA9&nul=%00");
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->at("text"), "caf\xC3\xA9");
  EXPECT_EQ(fields->at("nul"), std::string(1, '\0'));
}

TEST(SlackFormBody, OneMegabyteParsesInLinearTime) {
  std::string many_pairs;
  for (int i = 0; many_pairs.size() < 1'000'000; ++i) {
    many_pairs += "k" + std::to_string(i) + "=v%20" + std::to_string(i) + "&";
  }
  many_pairs += "last=1";
  std::string one_value = "payload=";
  while (one_value.size() < 1'000'000) {
    one_value += "%7B%22a%22%3A1%7D+";
  }
  const auto started = std::chrono::steady_clock::now();
  const auto pairs = parse_form(many_pairs);
  const auto value = parse_form(one_value);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(pairs);
  ASSERT_TRUE(value);
  EXPECT_EQ(pairs->at("k7"), "v 7");
  EXPECT_TRUE(value->at("payload").starts_with("{\"a\":1} {\"a\":1} "));
  // Linear work is milliseconds; a quadratic decoder takes minutes on this body. The bound
  // is loose because the test machine is shared.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(SlackFormBody, EncodeKeepsOnlyUnreservedBytes) {
  EXPECT_EQ(form_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(form_encode("a b+c&d=e/f%"), "a%20b%2Bc%26d%3De%2Ff%25");
  EXPECT_EQ(form_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(form_encode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(form_encode(""), "");
}

// Random UTF-8 from every range of code points (1 to 4 bytes, no surrogates).
std::string random_utf8(std::mt19937& random, std::size_t max_chars) {
  std::uniform_int_distribution<std::size_t> length(0, max_chars);
  std::uniform_int_distribution<int> range(0, 4);
  std::string text;
  for (std::size_t n = length(random); n > 0; --n) {
    std::uint32_t cp = 0;
    switch (range(random)) {
      case 0:
        cp = std::uniform_int_distribution<std::uint32_t>(0x00, 0x7F)(random);
        break;
      case 1:
        cp = std::uniform_int_distribution<std::uint32_t>(0x80, 0x7FF)(random);
        break;
      case 2:
        cp = std::uniform_int_distribution<std::uint32_t>(0x800, 0xD7FF)(random);
        break;
      case 3:
        cp = std::uniform_int_distribution<std::uint32_t>(0xE000, 0xFFFF)(random);
        break;
      default:
        cp = std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10FFFF)(random);
        break;
    }
    if (cp < 0x80) {
      text += static_cast<char>(cp);
    } else if (cp < 0x800) {
      text += static_cast<char>(0xC0 | (cp >> 6));
      text += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      text += static_cast<char>(0xE0 | (cp >> 12));
      text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      text += static_cast<char>(0xF0 | (cp >> 18));
      text += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return text;
}

TEST(SlackFormBody, EncodedFieldsRoundTripThroughParse) {
  std::mt19937 random(20240521);  // fixed: a failure must reproduce
  for (int round = 0; round < 500; ++round) {
    FormFields sent;
    const int count = std::uniform_int_distribution<int>(0, 6)(random);
    for (int i = 0; i < count; ++i) {
      std::string key = random_utf8(random, 8);
      if (key.empty()) {
        key = "k";
      }
      sent[key] = random_utf8(random, 40);
    }
    std::string body;
    for (const auto& [key, value] : sent) {
      if (!body.empty()) {
        body += '&';
      }
      body += form_encode(key) + "=" + form_encode(value);
    }
    const auto received = parse_form(body);
    ASSERT_TRUE(received) << body;
    EXPECT_EQ(*received, sent) << body;
  }
}

}  // namespace
}  // namespace haveri::slack
