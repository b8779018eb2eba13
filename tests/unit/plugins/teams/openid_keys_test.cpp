// plugins/teams/src/openid_keys.cpp: fetching and caching the Bot Framework's signing keys
// through a recording host, answered the way login.botframework.com would answer, on a
// fake steady clock.
#include "openid_keys.hpp"

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "recording_host.hpp"
#include "teams/jwt_signer.hpp"

namespace haveri::teams {
namespace {

using fakes::TestSigningKey;
using nlohmann::json;
using testing::RecordingHost;

constexpr const char* kMetadataUrl =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
constexpr const char* kJwksUrl = "https://login.botframework.com/v1/.well-known/keys";
constexpr const char* kProxy = "http://proxy.example:3128";
constexpr std::int64_t kMinute = std::int64_t{60} * 1000;

struct Keys {
  TestSigningKey first{"kid-1"};
  TestSigningKey second{"kid-2"};
};
const Keys& keys() {
  static const Keys instance;
  return instance;
}

std::string metadata(const std::string& jwks_uri = kJwksUrl) {
  return json{{"issuer", "https://api.botframework.com"},
              {"authorization_endpoint", "https://invalid.botframework.com"},
              {"jwks_uri", jwks_uri},
              {"id_token_signing_alg_values_supported", json::array({"RS256"})},
              {"token_endpoint_auth_methods_supported", json::array({"private_key_jwt"})}}
      .dump();
}

std::string jwks(const std::vector<const TestSigningKey*>& set) {
  return fakes::jwks_of(set).dump();
}

// What each waiter was told.
struct Answer {
  bool had_keys = false;
  std::size_t key_count = 0;
  bool found = false;  // the kid asked for is in the set
  std::string error;
};

class OpenIdKeysTest : public ::testing::Test {
 protected:
  OpenIdKeysTest() {
    settings_.metadata_url = kMetadataUrl;
    settings_.proxy = kProxy;
    settings_.timeout_ms = 7000;
  }

  OpenIdKeys& keys_under_test() {
    if (!openid_) {
      openid_ = std::make_unique<OpenIdKeys>(host_.host(), settings_, [this] { return now_ms_; });
    }
    return *openid_;
  }

  void ask(const std::string& kid) {
    keys_under_test().with_key(kid, [this, kid](const KeySet* set, const std::string& error) {
      Answer answer;
      answer.had_keys = set != nullptr;
      answer.key_count = set != nullptr ? set->size() : 0;
      answer.found = set != nullptr && set->find(kid) != nullptr;
      answer.error = error;
      answers_.push_back(answer);
    });
  }

  // Answers the last HTTP call the code made.
  void answer_last(int status, const std::string& body, std::string_view error = {}) {
    ASSERT_FALSE(host_.http.empty());
    EXPECT_TRUE(keys_under_test().on_http_response(
        host_.http.back().id, RecordingHost::response_json(status, json::object(), error), body));
  }

  // A complete successful fetch of `set`, asked for by `kid`.
  void fetch(const std::vector<const TestSigningKey*>& set, const std::string& kid = "kid-1") {
    const std::size_t calls = host_.http.size();
    ask(kid);
    ASSERT_EQ(host_.http.size(), calls + 1);
    answer_last(200, metadata());
    ASSERT_EQ(host_.http.size(), calls + 2);
    answer_last(200, jwks(set));
  }

  RecordingHost host_;
  OpenIdSettings settings_;
  std::int64_t now_ms_ = 5'000'000;
  std::unique_ptr<OpenIdKeys> openid_;
  std::vector<Answer> answers_;
};

TEST_F(OpenIdKeysTest, FirstNeedFetchesTheMetadataThenTheJwks) {
  ask("kid-1");
  ASSERT_EQ(host_.http.size(), 1U);
  const RecordingHost::HttpCall first = host_.http[0];
  EXPECT_EQ(first.method(), "GET");
  EXPECT_EQ(first.url(), kMetadataUrl);
  EXPECT_EQ(first.request.value("v", 0), 1);
  EXPECT_EQ(first.request.value("timeout_ms", 0), 7000);
  EXPECT_EQ(first.request.value("proxy", ""), kProxy);
  EXPECT_EQ(first.request.at("headers"), json::object());
  EXPECT_TRUE(first.body.empty());
  EXPECT_GE(first.id, OpenIdKeys::kCallBase);
  EXPECT_TRUE(answers_.empty());

  answer_last(200, metadata());
  ASSERT_EQ(host_.http.size(), 2U);
  const RecordingHost::HttpCall second = host_.http[1];
  EXPECT_EQ(second.method(), "GET");
  EXPECT_EQ(second.url(), kJwksUrl);
  EXPECT_EQ(second.request.value("timeout_ms", 0), 7000);
  EXPECT_EQ(second.request.value("proxy", ""), kProxy);
  EXPECT_NE(second.id, first.id);
  EXPECT_GE(second.id, OpenIdKeys::kCallBase);
  EXPECT_TRUE(answers_.empty());

  answer_last(200, jwks({&keys().first, &keys().second}));
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_TRUE(answers_[0].had_keys);
  EXPECT_TRUE(answers_[0].found);
  EXPECT_EQ(answers_[0].key_count, 2U);
  EXPECT_EQ(answers_[0].error, "");
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);
  EXPECT_EQ(keys_under_test().keys_cached(), 2U);
}

TEST_F(OpenIdKeysTest, WithoutKeysAFailedFetchIsNotRepeatedForEveryRequest) {
  ask("kid-1");
  ASSERT_EQ(host_.http.size(), 1U);
  answer_last(503, "unavailable");
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_FALSE(answers_[0].had_keys);
  // Requests right after it are answered at once with the same failure, no new fetch.
  now_ms_ += settings_.failed_fetch_retry_ms - 1;
  ask("kid-1");
  ask("kid-2");
  EXPECT_EQ(host_.http.size(), 1U);
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_FALSE(answers_[2].had_keys);
  EXPECT_EQ(answers_[2].error, answers_[0].error);
  // Then the next request tries again, and succeeds.
  now_ms_ += 1;
  const std::size_t before = answers_.size();
  ask("kid-1");
  ASSERT_EQ(host_.http.size(), 2U);
  answer_last(200, metadata());
  ASSERT_EQ(host_.http.size(), 3U);
  answer_last(200, jwks({&keys().first}));
  ASSERT_EQ(answers_.size(), before + 1);
  EXPECT_TRUE(answers_.back().had_keys);
}

TEST_F(OpenIdKeysTest, NoProxyMemberWithoutAProxy) {
  settings_.proxy.clear();
  ask("kid-1");
  ASSERT_EQ(host_.http.size(), 1U);
  EXPECT_FALSE(host_.http[0].request.contains("proxy"));
}

TEST_F(OpenIdKeysTest, WaitersQueuedDuringAFetchAreAnsweredOnceEach) {
  ask("kid-1");
  ask("kid-2");
  ask("kid-1");
  ASSERT_EQ(host_.http.size(), 1U);  // one fetch for all three
  answer_last(200, metadata());
  ask("kid-2");  // arrives while the JWKS is on its way
  ASSERT_EQ(host_.http.size(), 2U);
  EXPECT_TRUE(answers_.empty());

  const std::uint64_t jwks_call = host_.http.back().id;
  answer_last(200, jwks({&keys().first, &keys().second}));
  ASSERT_EQ(answers_.size(), 4U);
  for (const Answer& answer : answers_) {
    EXPECT_TRUE(answer.found);
  }
  // A repeated answer is no longer ours and calls nobody again.
  EXPECT_FALSE(keys_under_test().on_http_response(jwks_call, RecordingHost::response_json(200),
                                                  jwks({&keys().first})));
  EXPECT_EQ(answers_.size(), 4U);
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);
}

TEST_F(OpenIdKeysTest, AKnownKidWithFreshKeysIsAnsweredInsideTheCall) {
  fetch({&keys().first});
  ASSERT_EQ(answers_.size(), 1U);
  now_ms_ += kMinute * 60 * 23;  // still under a day

  ask("kid-1");
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_TRUE(answers_[1].found);
  EXPECT_EQ(host_.http.size(), 2U);
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);
}

TEST_F(OpenIdKeysTest, AnUnknownKidRefetchesAtMostOncePerFiveMinutes) {
  fetch({&keys().first});
  now_ms_ += 5 * kMinute - 1;

  ask("kid-2");  // Microsoft rolled its keys, or a forgery: no fetch yet
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_TRUE(answers_[1].had_keys);
  EXPECT_FALSE(answers_[1].found);
  EXPECT_EQ(host_.http.size(), 2U);

  now_ms_ += 1;  // five minutes since the last fetch
  ask("kid-2");
  ASSERT_EQ(host_.http.size(), 3U);
  EXPECT_EQ(host_.http.back().url(), kMetadataUrl);
  EXPECT_EQ(answers_.size(), 2U);
  answer_last(200, metadata());
  answer_last(200, jwks({&keys().first, &keys().second}));
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_TRUE(answers_[2].found);
  EXPECT_EQ(keys_under_test().fetches_started(), 2U);

  // Another unknown kid right after: answered with what we have, no fetch.
  ask("kid-3");
  ASSERT_EQ(answers_.size(), 4U);
  EXPECT_FALSE(answers_[3].found);
  EXPECT_EQ(keys_under_test().fetches_started(), 2U);
}

TEST_F(OpenIdKeysTest, KeysOlderThanMaxAgeAreRefetched) {
  settings_.max_age_ms = 60 * kMinute;
  fetch({&keys().first});
  now_ms_ += 60 * kMinute - 1;
  ask("kid-1");
  EXPECT_EQ(answers_.size(), 2U);
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);

  now_ms_ += 1;
  ask("kid-1");
  EXPECT_EQ(answers_.size(), 2U);  // waits for the new keys
  ASSERT_EQ(keys_under_test().fetches_started(), 2U);
  answer_last(200, metadata());
  answer_last(200, jwks({&keys().second}));
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_FALSE(answers_[2].found);  // the new set replaced the old one
  EXPECT_EQ(answers_[2].key_count, 1U);
}

struct FailureCase {
  std::string name;
  bool at_jwks;  // the metadata succeeds and the JWKS fails
  int status;
  std::string transport_error;
  std::string body;
  std::string url;       // the error must name it
  std::string fragment;  // and say this
};

std::vector<FailureCase> failure_cases() {
  const std::string big(5000, ' ');
  return {
      {"MetadataHttp500", false, 500, "", "oops", kMetadataUrl, "HTTP 500"},
      {"MetadataTransportError", false, 0, "login.botframework.com:443: timed out after 7000 ms",
       "", kMetadataUrl, "timed out after 7000 ms"},
      {"MetadataNotJson", false, 200, "", "<html>maintenance</html>", kMetadataUrl,
       "not a JSON object"},
      {"MetadataWithoutJwksUri", false, 200, "", R"({"issuer":"https://api.botframework.com"})",
       kMetadataUrl, "no jwks_uri"},
      {"MetadataJwksUriNotAString", false, 200, "", R"({"jwks_uri":42})", kMetadataUrl,
       "no jwks_uri"},
      {"MetadataJwksUriNotHttp", false, 200, "", metadata("ftp://login.botframework.com/keys"),
       kMetadataUrl, "not an http(s) URL"},
      {"MetadataOversize", false, 200, "", metadata() + big, kMetadataUrl, "over the limit"},
      {"JwksHttp503", true, 503, "", "", kJwksUrl, "HTTP 503"},
      {"JwksTransportError", true, 0, "login.botframework.com:443: connection refused", "",
       kJwksUrl, "connection refused"},
      {"JwksNotJson", true, 200, "", "garbage", kJwksUrl, "no usable RSA signing key"},
      {"JwksWithoutUsableKeys", true, 200, "", R"({"keys":[{"kty":"EC","kid":"x"}]})", kJwksUrl,
       "is not RSA"},
      {"JwksOversize", true, 200, "", R"({"keys":[]})" + big, kJwksUrl, "over the limit"},
  };
}

std::ostream& operator<<(std::ostream& out, const FailureCase& c) {
  return out << c.name;
}

class OpenIdKeysFailureTest : public OpenIdKeysTest,
                              public ::testing::WithParamInterface<FailureCase> {
 protected:
  void fail_fetch() {
    const FailureCase& c = GetParam();
    if (c.at_jwks) {
      answer_last(200, metadata());
    }
    answer_last(c.status, c.body, c.transport_error);
  }
};

TEST_P(OpenIdKeysFailureTest, WithoutKeysWaitersGetNullAndAnErrorNamingTheUrl) {
  const FailureCase& c = GetParam();
  settings_.max_document_bytes = 4096;
  ask("kid-1");
  ask("kid-2");
  fail_fetch();
  ASSERT_EQ(answers_.size(), 2U);
  for (const Answer& answer : answers_) {
    EXPECT_FALSE(answer.had_keys);
    EXPECT_NE(answer.error.find(c.url), std::string::npos) << answer.error;
    EXPECT_NE(answer.error.find(c.fragment), std::string::npos) << answer.error;
  }
  EXPECT_EQ(keys_under_test().keys_cached(), 0U);
  EXPECT_NE(host_.all_logs().find(c.url), std::string::npos);
  // No keys at all: a request right after gets the failure; one after
  // failed_fetch_retry_ms tries again.
  ask("kid-1");
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);
  now_ms_ += settings_.failed_fetch_retry_ms;
  ask("kid-1");
  EXPECT_EQ(keys_under_test().fetches_started(), 2U);
}

TEST_P(OpenIdKeysFailureTest, WithKeysTheOldKeysAreKept) {
  const FailureCase& c = GetParam();
  settings_.max_document_bytes = 4096;
  fetch({&keys().first});
  now_ms_ += 5 * kMinute;
  ask("kid-2");  // unknown: refetch
  ASSERT_EQ(keys_under_test().fetches_started(), 2U);
  fail_fetch();
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_TRUE(answers_[1].had_keys);
  EXPECT_FALSE(answers_[1].found);
  EXPECT_EQ(answers_[1].key_count, 1U);
  EXPECT_EQ(keys_under_test().keys_cached(), 1U);
  EXPECT_NE(host_.all_logs().find(c.fragment), std::string::npos) << host_.all_logs();

  ask("kid-1");  // the old key still checks tokens
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_TRUE(answers_[2].found);
  EXPECT_EQ(keys_under_test().fetches_started(), 2U);
}

INSTANTIATE_TEST_SUITE_P(OpenId, OpenIdKeysFailureTest, ::testing::ValuesIn(failure_cases()),
                         [](const ::testing::TestParamInfo<FailureCase>& param) {
                           return param.param.name;
                         });

TEST_F(OpenIdKeysTest, StaleKeysWhoseRefreshFailedAreUsedUntilTheNextAttemptIsDue) {
  settings_.max_age_ms = 60 * kMinute;
  fetch({&keys().first});
  now_ms_ += 61 * kMinute;
  ask("kid-1");
  answer_last(502, "");
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_TRUE(answers_[1].found);

  now_ms_ += 4 * kMinute;
  ask("kid-1");  // stale, but Microsoft was asked 4 minutes ago
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_TRUE(answers_[2].found);
  EXPECT_EQ(keys_under_test().fetches_started(), 2U);

  now_ms_ += kMinute;
  ask("kid-1");
  EXPECT_EQ(answers_.size(), 3U);
  EXPECT_EQ(keys_under_test().fetches_started(), 3U);
}

TEST_F(OpenIdKeysTest, PlainHttpJwksUriFromHttpsMetadataIsRefused) {
  ask("kid-1");
  answer_last(200, metadata("http://login.botframework.com/v1/.well-known/keys"));
  EXPECT_EQ(host_.http.size(), 1U);  // the JWKS is not fetched
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_FALSE(answers_[0].had_keys);
  EXPECT_NE(answers_[0].error.find("http://login.botframework.com/v1/.well-known/keys"),
            std::string::npos);
  EXPECT_NE(answers_[0].error.find("plain http"), std::string::npos) << answers_[0].error;
}

// The fakes serve plain HTTP on loopback: http metadata may name an http JWKS.
TEST_F(OpenIdKeysTest, PlainHttpJwksUriFromHttpMetadataIsFetched) {
  settings_.metadata_url = "http://127.0.0.1:4000/v1/.well-known/openidconfiguration";
  ask("kid-1");
  answer_last(200, metadata("http://127.0.0.1:4000/v1/.well-known/keys"));
  ASSERT_EQ(host_.http.size(), 2U);
  EXPECT_EQ(host_.http[1].url(), "http://127.0.0.1:4000/v1/.well-known/keys");
  answer_last(200, jwks({&keys().first}));
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_TRUE(answers_[0].found);
}

TEST_F(OpenIdKeysTest, TooManyWaitersAreRefusedAtOnce) {
  settings_.max_waiting = 2;
  ask("kid-1");
  ask("kid-1");
  ask("kid-1");
  ASSERT_EQ(answers_.size(), 1U);  // the third, at once
  EXPECT_FALSE(answers_[0].had_keys);
  EXPECT_NE(answers_[0].error.find("max_waiting"), std::string::npos) << answers_[0].error;
  EXPECT_EQ(host_.http.size(), 1U);

  answer_last(200, metadata());
  answer_last(200, jwks({&keys().first}));
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_TRUE(answers_[1].found);
  EXPECT_TRUE(answers_[2].found);
}

TEST_F(OpenIdKeysTest, AbandonAllDropsTheWaiters) {
  ask("kid-1");
  ask("kid-2");
  keys_under_test().abandon_all();
  answer_last(200, metadata());
  answer_last(200, jwks({&keys().first}));
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(keys_under_test().keys_cached(), 1U);
}

TEST_F(OpenIdKeysTest, ForeignCallIdsAreNotOurs) {
  ask("kid-1");
  const std::uint64_t ours = host_.http.back().id;
  EXPECT_FALSE(keys_under_test().on_http_response(7, RecordingHost::response_json(200), ""));
  EXPECT_FALSE(keys_under_test().on_http_response(ours + 1, RecordingHost::response_json(200), ""));
  EXPECT_FALSE(keys_under_test().on_http_response(OpenIdKeys::kCallBase - 1,
                                                  RecordingHost::response_json(200), ""));
  EXPECT_EQ(host_.http.size(), 1U);
  EXPECT_TRUE(answers_.empty());
  // Ours still is.
  EXPECT_TRUE(
      keys_under_test().on_http_response(ours, RecordingHost::response_json(200), metadata()));
}

TEST_F(OpenIdKeysTest, AnUnreadableHostAnswerIsATransportError) {
  ask("kid-1");
  EXPECT_TRUE(keys_under_test().on_http_response(host_.http.back().id, "not json", metadata()));
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_FALSE(answers_[0].had_keys);
  EXPECT_NE(answers_[0].error.find(kMetadataUrl), std::string::npos);
}

// A waiter that asks again from inside its callback: the next request is served (the
// set it got is still there), and nothing is called twice.
TEST_F(OpenIdKeysTest, AWaiterMayAskAgainFromItsCallback) {
  int inner = 0;
  keys_under_test().with_key("kid-1", [&](const KeySet* set, const std::string&) {
    ASSERT_NE(set, nullptr);
    keys_under_test().with_key("kid-1", [&](const KeySet* again, const std::string&) {
      EXPECT_NE(again, nullptr);
      ++inner;
    });
  });
  answer_last(200, metadata());
  answer_last(200, jwks({&keys().first}));
  EXPECT_EQ(inner, 1);
  EXPECT_EQ(keys_under_test().fetches_started(), 1U);
}

}  // namespace
}  // namespace haveri::teams
