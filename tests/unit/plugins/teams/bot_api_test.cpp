// The Teams adapter's client for Microsoft's APIs, driven through a recording host: each
// test answers the recorded HTTP calls as the token endpoint, the Bot Connector or Graph
// would, fires the recorded timers itself and moves injected clocks (no sleeps).
#include "bot_api.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "recording_host.hpp"

namespace haveri::teams {
namespace {

using json = nlohmann::json;
using RecordingHost = testing::RecordingHost;

// Fake values only. The secret has characters a form must encode.
constexpr char kAppId[] = "00000000-0000-4000-8000-00000000a99a";
constexpr char kSecret[] = "fake~Secret=1&2+3";
constexpr char kServiceUrl[] = "https://smba.example.test/amer/";
constexpr char kConnectorTokenUrl[] =
    "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";
constexpr char kActivitiesPath[] = "/v3/conversations/19%3Aabc%40thread.tacv2/activities";
constexpr char kActivitiesUrl[] =
    "https://smba.example.test/amer/v3/conversations/19%3Aabc%40thread.tacv2/activities";
// 2023-11-14T22:13:20Z
constexpr std::int64_t kUnixNow = 1700000000;

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> form_fields(const std::string& body) {
  std::map<std::string, std::string> fields;
  std::size_t start = 0;
  while (start <= body.size()) {
    const std::size_t end = std::min(body.find('&', start), body.size());
    const std::string pair = body.substr(start, end - start);
    const std::size_t equals = pair.find('=');
    if (equals != std::string::npos) {
      fields[percent_decoded(pair.substr(0, equals))] = percent_decoded(pair.substr(equals + 1));
    }
    start = end + 1;
  }
  return fields;
}

std::string token_answer(const std::string& token, const json& expires_in = 3599) {
  return json{{"token_type", "Bearer"},
              {"expires_in", expires_in},
              {"ext_expires_in", expires_in},
              {"access_token", token}}
      .dump();
}

ApiOutcome interpret(int status, std::string_view body, const json& headers = json::object(),
                     std::string_view transport_error = {}) {
  return interpret_answer(status, headers, body, transport_error, kUnixNow);
}

// --- interpret_answer ----------------------------------------------------------------

TEST(InterpretAnswer, SuccessStatusesAreOkWithOrWithoutABody) {
  const ApiOutcome created = interpret(201, R"({"id":"1:activity"})");
  EXPECT_TRUE(created.ok());
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.response.value("id", ""), "1:activity");
  EXPECT_TRUE(created.error.empty());
  for (const int status : {200, 201, 202, 204}) {
    const ApiOutcome empty = interpret(status, "");
    EXPECT_TRUE(empty.ok()) << status;
    EXPECT_EQ(empty.response, json::object()) << status;
  }
  const ApiOutcome text = interpret(200, "OK");
  EXPECT_TRUE(text.ok());
  EXPECT_EQ(text.response, json::object());
}

TEST(InterpretAnswer, TooManyRequestsHonoursRetryAfterInSeconds) {
  const ApiOutcome outcome = interpret(
      429, R"({"error":{"code":"TooManyRequests","message":"slow down"}})", {{"retry-after", "7"}});
  EXPECT_EQ(outcome.kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcome.status, 429);
  EXPECT_EQ(outcome.retry_after_ms, 7000u);
  EXPECT_EQ(outcome.error_code, "TooManyRequests");
  EXPECT_NE(outcome.error.find("429"), std::string::npos);
  // A proxy may not lower-case the name.
  EXPECT_EQ(interpret(429, "", {{"Retry-After", "3"}}).retry_after_ms, 3000u);
  EXPECT_EQ(interpret(429, "", {{"retry-after", " 0 "}}).retry_after_ms, 0u);
}

TEST(InterpretAnswer, TooManyRequestsHonoursRetryAfterAsAnHttpDate) {
  EXPECT_EQ(interpret(429, "", {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}}).retry_after_ms,
            30000u);
  EXPECT_EQ(interpret(503, "", {{"retry-after", "Tuesday, 14-Nov-23 22:14:20 GMT"}}).retry_after_ms,
            60000u);
  EXPECT_EQ(interpret(429, "", {{"retry-after", "Tue, 14 Nov 2023 22:13:00 GMT"}}).retry_after_ms,
            0u);  // already past
  EXPECT_EQ(interpret(429, "", {{"retry-after", "Tue, 31 Feb 2023 22:13:50 GMT"}}).retry_after_ms,
            0u);
  EXPECT_EQ(interpret(429, "", {{"retry-after", "soon"}}).retry_after_ms, 0u);
  EXPECT_EQ(interpret(429, "", {{"retry-after", "Tue, 14 Nov 2023 22:13:50"}}).retry_after_ms, 0u);
}

TEST(InterpretAnswer, TransientStatusesAndTransportFailuresAreRetryable) {
  for (const int status : {412, 429, 502, 503, 504}) {
    const ApiOutcome outcome = interpret(status, "", {{"retry-after", "2"}});
    EXPECT_EQ(outcome.kind, ApiOutcome::Kind::retryable) << status;
    EXPECT_EQ(outcome.retry_after_ms, 2000u) << status;
    EXPECT_NE(outcome.error.find(std::to_string(status)), std::string::npos) << status;
  }
  const ApiOutcome transport =
      interpret(0, "", json::object(), "smba.example.test:443: timed out after 10000 ms");
  EXPECT_EQ(transport.kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(transport.status, 0);
  EXPECT_NE(transport.error.find("timed out after 10000 ms"), std::string::npos);
  EXPECT_FALSE(interpret(0, "").error.empty());
}

TEST(InterpretAnswer, ClientErrorsArePermanentWithGraphErrorCodes) {
  const std::string graph_error =
      R"({"error":{"code":"NameAlreadyExists","message":"Channel name already existed, please use other name.","innerError":{"request-id":"00000000-0000-0000-0000-000000000001"}}})";
  for (const int status : {400, 403, 404, 409}) {
    const ApiOutcome outcome = interpret(status, graph_error);
    EXPECT_EQ(outcome.kind, ApiOutcome::Kind::permanent) << status;
    EXPECT_EQ(outcome.status, status);
    EXPECT_EQ(outcome.error_code, "NameAlreadyExists") << status;
    EXPECT_NE(outcome.error.find("HTTP " + std::to_string(status)), std::string::npos);
    EXPECT_NE(outcome.error.find("Channel name already existed"), std::string::npos);
    EXPECT_EQ(outcome.response["error"]["code"], "NameAlreadyExists");
  }
  // Statuses nobody retries, whatever they carry.
  EXPECT_EQ(interpret(500, "", {{"retry-after", "1"}}).kind, ApiOutcome::Kind::permanent);
  EXPECT_EQ(interpret(302, "").kind, ApiOutcome::Kind::permanent);
}

TEST(InterpretAnswer, TokenEndpointErrorsGiveTheirOAuthCode) {
  const ApiOutcome outcome = interpret(
      400,
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0000","error_codes":[7000215]})");
  EXPECT_EQ(outcome.kind, ApiOutcome::Kind::permanent);
  EXPECT_EQ(outcome.error_code, "invalid_client");
  EXPECT_NE(outcome.error.find("AADSTS7000215: Invalid client secret provided."),
            std::string::npos);
  EXPECT_EQ(outcome.error.find('\r'), std::string::npos);
  EXPECT_EQ(outcome.error.find('\n'), std::string::npos);
  // The Connector's own refusal names no code.
  const ApiOutcome denied =
      interpret(401, R"({"message":"Authorization has been denied for this request."})");
  EXPECT_EQ(denied.kind, ApiOutcome::Kind::permanent);
  EXPECT_TRUE(denied.error_code.empty());
  EXPECT_NE(denied.error.find("Authorization has been denied"), std::string::npos);
}

TEST(InterpretAnswer, LongMessagesAreCutWithoutBreakingUtf8) {
  std::string message;
  for (int i = 0; i < 1000; ++i) {
    message += "\xC3\xA9";  // é
  }
  const ApiOutcome outcome = interpret(
      400, json{{"error", {{"code", std::string(500, 'C')}, {"message", message}}}}.dump());
  EXPECT_LE(outcome.error.size(), 300u);
  EXPECT_EQ(outcome.error.rfind("HTTP 400", 0), 0u);
  EXPECT_LE(outcome.error_code.size(), 100u);
  EXPECT_NO_THROW((void)json(outcome.error).dump());  // throws on a cut UTF-8 sequence
}

TEST(InterpretAnswer, NonJsonBodiesAreQuotedBriefly) {
  const ApiOutcome gateway = interpret(502, "<html><body>Bad Gateway</body></html>\n");
  EXPECT_EQ(gateway.kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(gateway.response, json::object());
  EXPECT_TRUE(gateway.error_code.empty());
  EXPECT_NE(gateway.error.find("Bad Gateway"), std::string::npos);
  EXPECT_EQ(gateway.error.find('\n'), std::string::npos);
  const ApiOutcome page = interpret(404, std::string(5000, 'x'));
  EXPECT_EQ(page.kind, ApiOutcome::Kind::permanent);
  EXPECT_LE(page.error.size(), 200u);
  EXPECT_EQ(interpret(400, "[1,").response, json::object());
}

// --- encode_path_segment ---------------------------------------------------------------

TEST(EncodePathSegment, EncodesLikeEncodeUriComponent) {
  EXPECT_EQ(encode_path_segment("19:abc@thread.tacv2;messageid=1700000000000"),
            "19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000000");
  EXPECT_EQ(encode_path_segment("a b/c?d#e&f+g%"), "a%20b%2Fc%3Fd%23e%26f%2Bg%25");
  EXPECT_EQ(encode_path_segment("AZaz09-_.~!*'()"), "AZaz09-_.~!*'()");
  EXPECT_EQ(encode_path_segment("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(encode_path_segment(""), "");
}

// --- BotApi ----------------------------------------------------------------------------

class BotApiTest : public ::testing::Test {
 protected:
  static BotApiSettings defaults() {
    BotApiSettings settings;
    settings.app_id = kAppId;
    settings.client_secret = kSecret;
    return settings;
  }

  void start(BotApiSettings settings = defaults()) {
    api_ = std::make_unique<BotApi>(
        host_.host(), std::move(settings), [this] { return now_ms_; }, [] { return kUnixNow; });
  }
  void SetUp() override { start(); }

  BotApi::Done record() {
    return [this](const ApiOutcome& outcome) { outcomes_.push_back(outcome); };
  }

  void post(const std::string& conversation = "19:abc@thread.tacv2",
            const std::string& tenant = "tenant-a") {
    api_->connector(tenant, conversation, "POST", kServiceUrl, kActivitiesPath,
                    {{"type", "message"}, {"text", "hello"}}, record());
  }

  void answer(std::size_t index, int status, const std::string& body = {},
              const json& headers = json::object()) {
    ASSERT_LT(index, host_.http.size());
    EXPECT_TRUE(api_->on_http_response(host_.http[index].id,
                                       RecordingHost::response_json(status, headers), body));
  }
  void answer_token(std::size_t index, const std::string& token, const json& expires_in = 3599) {
    answer(index, 200, token_answer(token, expires_in));
  }

  // The one pending timer (a test that expects several looks at host_.timers itself).
  std::pair<std::uint64_t, std::uint64_t> only_timer() {
    EXPECT_EQ(host_.timers.size(), 1u);
    if (host_.timers.empty()) {
      return {0, 0};
    }
    return {host_.timers.begin()->first, host_.timers.begin()->second};
  }
  void fire(std::uint64_t timer) {
    host_.timers.erase(timer);
    EXPECT_TRUE(api_->on_timer(timer));
  }
  void fire_only_timer() { fire(only_timer().first); }

  std::size_t calls_to(const std::string& url) const {
    return static_cast<std::size_t>(
        std::count_if(host_.http.begin(), host_.http.end(),
                      [&url](const RecordingHost::HttpCall& call) { return call.url() == url; }));
  }

  // The token is sent and answered; the API call waits for an answer (index 1).
  void post_with_token(const std::string& token = "fake-token-1") {
    post();
    ASSERT_EQ(host_.http.size(), 1u);
    answer_token(0, token);
    ASSERT_EQ(host_.http.size(), 2u);
  }

  RecordingHost host_;
  std::int64_t now_ms_ = 5'000'000;
  std::unique_ptr<BotApi> api_;
  std::vector<ApiOutcome> outcomes_;
};

TEST_F(BotApiTest, FirstCallFetchesATokenThenCallsWithTheBearer) {
  post();
  ASSERT_EQ(host_.http.size(), 1u);
  EXPECT_TRUE(outcomes_.empty());
  const RecordingHost::HttpCall& token_call = host_.http[0];
  EXPECT_EQ(token_call.method(), "POST");
  EXPECT_EQ(token_call.url(), kConnectorTokenUrl);
  EXPECT_EQ(token_call.header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(token_call.request.value("timeout_ms", 0), 10000);
  EXPECT_FALSE(token_call.request.contains("proxy"));
  const auto fields = form_fields(token_call.body);
  EXPECT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields.at("grant_type"), "client_credentials");
  EXPECT_EQ(fields.at("client_id"), kAppId);
  EXPECT_EQ(fields.at("client_secret"), kSecret);
  EXPECT_EQ(fields.at("scope"), "https://api.botframework.com/.default");
  EXPECT_NE(token_call.body.find("client_secret=fake~Secret%3D1%262%2B3"), std::string::npos);
  EXPECT_EQ(api_->calls_in_flight(), 1u);
  EXPECT_EQ(api_->calls_waiting(), 1u);

  answer_token(0, "fake-token-1");
  ASSERT_EQ(host_.http.size(), 2u);
  const RecordingHost::HttpCall& call = host_.http[1];
  EXPECT_EQ(call.method(), "POST");
  EXPECT_EQ(call.url(), kActivitiesUrl);
  EXPECT_EQ(call.header("authorization"), "Bearer fake-token-1");
  EXPECT_EQ(call.header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(call.header("accept"), "application/json");
  EXPECT_EQ(call.body_json(), (json{{"type", "message"}, {"text", "hello"}}));
  EXPECT_EQ(api_->calls_waiting(), 0u);
  EXPECT_EQ(api_->calls_in_flight(), 1u);

  answer(1, 201, R"({"id":"1:activity"})");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].ok());
  EXPECT_EQ(outcomes_[0].status, 201);
  EXPECT_EQ(outcomes_[0].response.value("id", ""), "1:activity");
  EXPECT_EQ(api_->calls_in_flight(), 0u);

  // The token is cached: the next call goes straight out, a GET without a body.
  api_->connector("tenant-a", "", "GET", "https://smba.example.test/amer",
                  "/v3/conversations/a/members", nullptr, record());
  ASSERT_EQ(host_.http.size(), 3u);
  EXPECT_EQ(host_.http[2].method(), "GET");
  EXPECT_EQ(host_.http[2].url(), "https://smba.example.test/amer/v3/conversations/a/members");
  EXPECT_EQ(host_.http[2].header("authorization"), "Bearer fake-token-1");
  EXPECT_EQ(host_.http[2].header("content-type"), "");
  EXPECT_TRUE(host_.http[2].body.empty());
  EXPECT_EQ(calls_to(kConnectorTokenUrl), 1u);
}

TEST_F(BotApiTest, ProxyAndTimeoutAreHandedToTheHost) {
  BotApiSettings settings = defaults();
  settings.proxy = "http://proxy.example.test:3128";
  settings.timeout_ms = 2500;
  start(settings);
  post_with_token();
  for (const RecordingHost::HttpCall& call : host_.http) {
    EXPECT_EQ(call.request.value("proxy", ""), "http://proxy.example.test:3128");
    EXPECT_EQ(call.request.value("timeout_ms", 0), 2500);
  }
}

TEST_F(BotApiTest, TokenIsRefetchedOnlyAfterExpiresInLessTheMargin) {
  post_with_token("fake-token-1");
  answer(1, 200, "{}");
  // 3599 s less the 5 minute margin: 3299 s.
  now_ms_ += 3'299'000 - 1;
  post("conv-2");
  ASSERT_EQ(host_.http.size(), 3u);
  EXPECT_EQ(host_.http[2].header("authorization"), "Bearer fake-token-1");
  now_ms_ += 1;
  post("conv-3");
  ASSERT_EQ(host_.http.size(), 4u);
  EXPECT_EQ(host_.http[3].url(), kConnectorTokenUrl);
  answer_token(3, "fake-token-2", "3599");  // older endpoints send a string
  ASSERT_EQ(host_.http.size(), 5u);
  EXPECT_EQ(host_.http[4].header("authorization"), "Bearer fake-token-2");
  now_ms_ += 3'298'000;
  post("conv-4");
  ASSERT_EQ(host_.http.size(), 6u);
  EXPECT_EQ(host_.http[5].header("authorization"), "Bearer fake-token-2");
}

TEST_F(BotApiTest, CallsWhileTheTokenIsPendingShareOneTokenRequest) {
  post("conv-1");
  post("conv-2");
  api_->connector("tenant-a", "conv-3", "PUT", kServiceUrl, "/v3/conversations/conv-3/activities/1",
                  {{"type", "message"}}, record());
  ASSERT_EQ(host_.http.size(), 1u);
  EXPECT_EQ(api_->calls_waiting(), 3u);
  answer_token(0, "fake-token-1");
  ASSERT_EQ(host_.http.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(host_.http[i].header("authorization"), "Bearer fake-token-1");
  }
  EXPECT_EQ(host_.http[3].method(), "PUT");
  EXPECT_EQ(calls_to(kConnectorTokenUrl), 1u);
}

TEST_F(BotApiTest, GraphUsesTheTenantsTokenUrlAndGraphScope) {
  api_->graph("tenant-b", "POST", "/teams/team-1/channels",
              {{"displayName", "inc-42"}, {"membershipType", "standard"}}, record());
  ASSERT_EQ(host_.http.size(), 1u);
  EXPECT_EQ(host_.http[0].url(), "https://login.microsoftonline.com/tenant-b/oauth2/v2.0/token");
  EXPECT_EQ(form_fields(host_.http[0].body).at("scope"), "https://graph.microsoft.com/.default");
  answer_token(0, "fake-graph-token-b");
  ASSERT_EQ(host_.http.size(), 2u);
  EXPECT_EQ(host_.http[1].url(), "https://graph.microsoft.com/v1.0/teams/team-1/channels");
  EXPECT_EQ(host_.http[1].header("authorization"), "Bearer fake-graph-token-b");
  answer(1, 201, R"({"id":"19:channel@thread.tacv2"})");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].ok());

  // Another tenant and the Connector each need their own token.
  api_->graph("tenant-c", "GET", "/teams/team-2", nullptr, record());
  ASSERT_EQ(host_.http.size(), 3u);
  EXPECT_EQ(host_.http[2].url(), "https://login.microsoftonline.com/tenant-c/oauth2/v2.0/token");
  post();
  ASSERT_EQ(host_.http.size(), 4u);
  EXPECT_EQ(host_.http[3].url(), kConnectorTokenUrl);
  api_->graph("tenant-b", "GET", "/teams/team-1", nullptr, record());
  ASSERT_EQ(host_.http.size(), 5u);
  EXPECT_EQ(host_.http[4].header("authorization"), "Bearer fake-graph-token-b");
}

TEST_F(BotApiTest, GraphWithoutATenantFailsPermanentlyLater) {
  api_->graph("", "GET", "/teams/team-1", nullptr, record());
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_TRUE(host_.http.empty());
  fire_only_timer();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::permanent);
  EXPECT_NE(outcomes_[0].error.find("tenant"), std::string::npos);
}

TEST_F(BotApiTest, ServiceUrlThatIsNotHttpFailsPermanentlyLater) {
  api_->connector("tenant-a", "c", "POST", "file:///etc/passwd", "/v3/x", nullptr, record());
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_TRUE(host_.http.empty());
  fire_only_timer();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::permanent);
  EXPECT_NE(outcomes_[0].error.find("serviceUrl"), std::string::npos);
}

TEST_F(BotApiTest, InvalidClientFailsEveryWaitingCallPermanentlyWithoutTheSecret) {
  post("conv-1");
  api_->graph("botframework.com", "GET", "/x", nullptr, record());  // another token
  post("conv-2");
  ASSERT_EQ(host_.http.size(), 2u);
  answer(0, 401,
         json{{"error", "invalid_client"},
              {"error_description",
               std::string("AADSTS7000215: Invalid client secret provided: ") + kSecret},
              {"error_codes", {7000215}}}
             .dump());
  ASSERT_EQ(outcomes_.size(), 2u);
  for (const ApiOutcome& outcome : outcomes_) {
    EXPECT_EQ(outcome.kind, ApiOutcome::Kind::permanent);
    EXPECT_EQ(outcome.error_code, "invalid_client");
    EXPECT_NE(outcome.error.find(kConnectorTokenUrl), std::string::npos) << outcome.error;
    EXPECT_NE(outcome.error.find("AADSTS7000215"), std::string::npos);
    EXPECT_EQ(outcome.error.find(kSecret), std::string::npos) << outcome.error;
    EXPECT_EQ(outcome.error.find("fake~Secret"), std::string::npos) << outcome.error;
  }
  EXPECT_EQ(host_.all_logs().find(kSecret), std::string::npos);
  EXPECT_NE(host_.all_logs().find("invalid_client"), std::string::npos);
  EXPECT_EQ(host_.http.size(), 2u);      // no API call went out
  EXPECT_EQ(api_->calls_waiting(), 1u);  // the Graph call still waits for its own token
}

TEST_F(BotApiTest, TokenEndpointOutageIsRetryable) {
  post("conv-1");
  answer(0, 503, "", {{"retry-after", "3"}});
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcomes_[0].status, 503);
  EXPECT_EQ(outcomes_[0].retry_after_ms, 3000u);
  EXPECT_NE(outcomes_[0].error.find(kConnectorTokenUrl), std::string::npos);

  post("conv-2");  // a failure is not cached: the next call asks again
  ASSERT_EQ(host_.http.size(), 2u);
  EXPECT_EQ(host_.http[1].url(), kConnectorTokenUrl);
  api_->on_http_response(host_.http[1].id, RecordingHost::response_json(0, {}, "login: refused"),
                         "");
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[1].kind, ApiOutcome::Kind::retryable);
  EXPECT_NE(outcomes_[1].error.find("login: refused"), std::string::npos);
}

TEST_F(BotApiTest, TokenAnswerWithoutAnAccessTokenFailsPermanently) {
  post();
  answer(0, 200, "<html>sign in</html>");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::permanent);
  EXPECT_NE(outcomes_[0].error.find("access_token"), std::string::npos);
}

TEST_F(BotApiTest, RetryAfterIsHonouredThenTheCallSucceeds) {
  post_with_token();
  answer(1, 429, R"({"error":{"code":"TooManyRequests"}})", {{"retry-after", "2"}});
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(host_.http.size(), 2u);
  const auto [timer, delay] = only_timer();
  EXPECT_GE(delay, 2000u);
  EXPECT_LE(delay, 2200u);  // at most 10 % jitter
  EXPECT_EQ(api_->calls_waiting(), 1u);
  now_ms_ += static_cast<std::int64_t>(delay);
  fire(timer);
  ASSERT_EQ(host_.http.size(), 3u);
  EXPECT_EQ(host_.http[2].url(), kActivitiesUrl);
  EXPECT_EQ(host_.http[2].body, host_.http[1].body);
  EXPECT_EQ(host_.http[2].header("authorization"), "Bearer fake-token-1");
  answer(2, 201, R"({"id":"1:a"})");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].ok());
  EXPECT_NE(host_.all_logs().find("429"), std::string::npos);
}

TEST_F(BotApiTest, ServiceUnavailableTwiceThenOkMakesExactlyThreeCalls) {
  post_with_token();
  answer(1, 503);
  auto [first, first_delay] = only_timer();
  EXPECT_GE(first_delay, 500u);
  EXPECT_LE(first_delay, 550u);
  now_ms_ += static_cast<std::int64_t>(first_delay);
  fire(first);
  answer(2, 503);
  auto [second, second_delay] = only_timer();
  EXPECT_GE(second_delay, 1000u);  // doubled
  EXPECT_LE(second_delay, 1100u);
  now_ms_ += static_cast<std::int64_t>(second_delay);
  fire(second);
  answer(3, 200, "{}");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].ok());
  EXPECT_EQ(calls_to(kActivitiesUrl), 3u);
  EXPECT_TRUE(host_.timers.empty());
}

TEST_F(BotApiTest, EveryTransientStatusIsRetried) {
  BotApiSettings settings = defaults();
  settings.max_retry_wait_ms = 7000;
  start(settings);
  post_with_token();
  std::size_t index = 1;
  for (const int status : {412, 502, 0}) {
    answer(index++, status);
    EXPECT_TRUE(outcomes_.empty()) << status;
    now_ms_ += 5000;
    fire_only_timer();
    ASSERT_EQ(host_.http.size(), index + 1) << status;
  }
  // 500 + 1000 + 2000 ms waited (and jitter): 4000 more would pass 7000.
  answer(index, 504);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcomes_[0].retry_after_ms, 4000u);
  EXPECT_EQ(calls_to(kActivitiesUrl), 4u);
}

TEST_F(BotApiTest, WaitsBeyondTheRetryBudgetEndRetryableWithTheWaitStillNeeded) {
  post_with_token();
  answer(1, 429, "", {{"retry-after", "30"}});
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(host_.timers.empty());
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcomes_[0].status, 429);
  EXPECT_EQ(outcomes_[0].retry_after_ms, 30000u);

  // 3 s, 3 s, then a third 3 s would pass max_retry_wait_ms (8 s).
  outcomes_.clear();
  post("conv-2");
  answer(2, 503, "", {{"retry-after", "3"}});
  now_ms_ += 4000;
  fire_only_timer();
  answer(3, 503, "", {{"retry-after", "3"}});
  now_ms_ += 4000;
  fire_only_timer();
  answer(4, 503, "", {{"retry-after", "3"}});
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcomes_[0].retry_after_ms, 3000u);
  EXPECT_EQ(host_.http.size(), 5u);
  EXPECT_TRUE(host_.timers.empty());
}

TEST_F(BotApiTest, UnauthorizedDropsTheTokenAndRetriesOnceWithANewOne) {
  post_with_token("fake-token-1");
  answer(1, 401, R"({"message":"Authorization has been denied for this request."})");
  EXPECT_TRUE(outcomes_.empty());
  ASSERT_EQ(host_.http.size(), 3u);
  EXPECT_EQ(host_.http[2].url(), kConnectorTokenUrl);
  answer_token(2, "fake-token-2");
  ASSERT_EQ(host_.http.size(), 4u);
  EXPECT_EQ(host_.http[3].url(), kActivitiesUrl);
  EXPECT_EQ(host_.http[3].header("authorization"), "Bearer fake-token-2");
  answer(3, 201, "{}");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].ok());
  post("conv-2");  // the new token is the cached one now
  EXPECT_EQ(host_.http.back().header("authorization"), "Bearer fake-token-2");
}

TEST_F(BotApiTest, UnauthorizedTwiceIsPermanent) {
  post_with_token("fake-token-1");
  answer(1, 401);
  answer_token(2, "fake-token-2");
  answer(3, 401, R"({"message":"Authorization has been denied for this request."})");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::permanent);
  EXPECT_EQ(outcomes_[0].status, 401);
  EXPECT_EQ(calls_to(kConnectorTokenUrl), 2u);
  EXPECT_EQ(calls_to(kActivitiesUrl), 2u);
  EXPECT_TRUE(host_.timers.empty());
}

TEST_F(BotApiTest, BadRequestIsPermanentAndNotRetried) {
  post_with_token();
  answer(1, 400, R"({"error":{"code":"BadArgument","message":"Unknown activity type"}})");
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::permanent);
  EXPECT_EQ(outcomes_[0].error_code, "BadArgument");
  EXPECT_NE(outcomes_[0].error.find("Unknown activity type"), std::string::npos);
  EXPECT_NE(outcomes_[0].error.find(kActivitiesUrl), std::string::npos);
  EXPECT_EQ(host_.http.size(), 2u);
  EXPECT_TRUE(host_.timers.empty());
}

TEST_F(BotApiTest, BurstBeyondTheConversationBudgetWaitsForATimer) {
  // 4 a second, a burst of 4: the fifth call at once waits 250 ms.
  for (int i = 0; i < 5; ++i) {
    post("conv-1");
  }
  post("conv-2");                    // another conversation of the same tenant is not held back
  ASSERT_EQ(host_.http.size(), 1u);  // the token
  const auto [timer, delay] = only_timer();
  EXPECT_EQ(delay, 250u);
  EXPECT_EQ(api_->calls_waiting(), 6u);
  answer_token(0, "fake-token-1");
  EXPECT_EQ(calls_to(kActivitiesUrl), 5u);  // four of conv-1, one of conv-2
  now_ms_ += 250;
  fire(timer);
  EXPECT_EQ(calls_to(kActivitiesUrl), 6u);
  EXPECT_EQ(api_->calls_waiting(), 0u);
}

TEST_F(BotApiTest, TenantsHaveTheirOwnBudgets) {
  BotApiSettings settings = defaults();
  settings.tenant_per_second = 2;
  settings.tenant_burst = 2;
  start(settings);
  for (int i = 0; i < 3; ++i) {
    api_->graph("tenant-a", "GET", "/teams/t", nullptr, record());
  }
  EXPECT_EQ(only_timer().second, 500u);
  for (int i = 0; i < 2; ++i) {
    api_->graph("tenant-b", "GET", "/teams/t", nullptr, record());
  }
  EXPECT_EQ(host_.timers.size(), 1u);
  api_->graph("tenant-b", "GET", "/teams/t", nullptr, record());
  EXPECT_EQ(host_.timers.size(), 2u);
  // After a second both are free again.
  now_ms_ += 1000;
  host_.timers.clear();
  api_->graph("tenant-a", "GET", "/teams/t", nullptr, record());
  EXPECT_TRUE(host_.timers.empty());
}

TEST_F(BotApiTest, AWaitOverTheLimitFailsRetryableAtOnceButNeverInsideTheCall) {
  BotApiSettings settings = defaults();
  settings.conversation_per_second = 1;
  settings.conversation_burst = 1;
  settings.max_pacing_wait_ms = 2500;
  start(settings);
  for (int i = 0; i < 3; ++i) {
    post("conv-1");  // at once, in 1 s, in 2 s
  }
  EXPECT_EQ(host_.timers.size(), 2u);
  post("conv-1");  // would wait 3 s
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(host_.timers.size(), 3u);
  std::uint64_t refused_timer = 0;
  for (const auto& [id, delay] : host_.timers) {
    if (delay == 0) {
      refused_timer = id;
    }
  }
  ASSERT_NE(refused_timer, 0u);
  fire(refused_timer);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_EQ(outcomes_[0].retry_after_ms, 3000u);
  // The refused call took no slot: the next one is refused with the same wait.
  post("conv-1");
  EXPECT_EQ(outcomes_.size(), 1u);
  fire(std::prev(host_.timers.end())->first);
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[1].retry_after_ms, 3000u);
}

TEST_F(BotApiTest, TooManyWaitingCallsAreRefusedRetryable) {
  BotApiSettings settings = defaults();
  settings.conversation_per_second = 1;
  settings.conversation_burst = 1;
  settings.max_waiting_calls = 2;
  start(settings);
  post_with_token();  // conv 19:abc… is in flight
  post("conv-1");     // sent
  post("conv-1");     // waits 1 s
  post("conv-1");     // waits 2 s
  EXPECT_EQ(api_->calls_waiting(), 2u);
  EXPECT_EQ(api_->calls_in_flight(), 2u);
  EXPECT_EQ(host_.timers.size(), 2u);
  post("conv-1");
  EXPECT_TRUE(outcomes_.empty());
  ASSERT_EQ(host_.timers.size(), 3u);
  fire(std::prev(host_.timers.end())->first);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].kind, ApiOutcome::Kind::retryable);
  EXPECT_NE(outcomes_[0].error.find("max_waiting_calls"), std::string::npos);
  EXPECT_EQ(api_->calls_waiting(), 2u);
}

TEST_F(BotApiTest, AbandonAllAnswersNothingAfterwards) {
  BotApiSettings settings = defaults();
  settings.conversation_per_second = 1;
  settings.conversation_burst = 1;
  start(settings);
  post_with_token();
  answer(1, 503);                                           // waits to retry
  post("conv-1");                                           // in flight
  post("conv-1");                                           // waits for its budget
  api_->graph("tenant-z", "GET", "/x", nullptr, record());  // waits for a token
  api_->graph("", "GET", "/x", nullptr, record());          // fails later
  const std::map<std::uint64_t, std::uint64_t> timers = host_.timers;
  const std::vector<RecordingHost::HttpCall> calls = host_.http;
  ASSERT_EQ(timers.size(), 3u);
  EXPECT_GT(api_->calls_waiting(), 0u);

  api_->abandon_all();
  EXPECT_TRUE(host_.timers.empty());  // cancelled
  EXPECT_EQ(api_->calls_waiting(), 0u);
  EXPECT_EQ(api_->calls_in_flight(), 0u);
  for (const auto& [id, delay] : timers) {
    EXPECT_TRUE(api_->on_timer(id));  // ours, though nothing waits on it
  }
  for (const RecordingHost::HttpCall& call : calls) {
    EXPECT_TRUE(api_->on_http_response(call.id, RecordingHost::response_json(200), "{}"));
  }
  EXPECT_TRUE(outcomes_.empty());

  // Still usable: the forgotten Graph token is asked for again.
  api_->graph("tenant-z", "GET", "/x", nullptr, record());
  EXPECT_EQ(host_.http.back().url(),
            "https://login.microsoftonline.com/tenant-z/oauth2/v2.0/token");
}

TEST_F(BotApiTest, IdsThatAreNotOursAreRefused) {
  EXPECT_FALSE(api_->on_http_response(7, RecordingHost::response_json(200), "{}"));
  EXPECT_FALSE(
      api_->on_http_response(BotApi::kCallBase << 1, RecordingHost::response_json(200), ""));
  EXPECT_FALSE(
      api_->on_http_response(BotApi::kCallBase + 5, RecordingHost::response_json(200), ""));
  EXPECT_FALSE(api_->on_timer(7));
  EXPECT_FALSE(api_->on_timer(BotApi::kTimerBase + 1000));
  post();
  EXPECT_GE(host_.http[0].id, BotApi::kCallBase);
  EXPECT_LT(host_.http[0].id, BotApi::kCallBase << 1);
  EXPECT_TRUE(outcomes_.empty());
}

TEST_F(BotApiTest, NoSecretOrTokenInAnyLogLineOrError) {
  // The token endpoint quotes the secret back; the API quotes the token back.
  post("conv-1");
  answer(0, 400,
         json{{"error", "invalid_request"},
              {"error_description", std::string("client_secret ") + kSecret + " is malformed"}}
             .dump());
  post("conv-2");
  answer_token(1, "fake-token-SECRETLY-1");
  answer(2, 429, "Bearer fake-token-SECRETLY-1 is throttled", {{"retry-after", "1"}});
  fire_only_timer();
  answer(3, 401, R"({"message":"token fake-token-SECRETLY-1 expired"})");
  answer_token(4, "fake-token-SECRETLY-2");
  answer(5, 403,
         R"({"error":{"code":"Forbidden","message":"fake-token-SECRETLY-2 may not post here"}})");
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[1].error_code, "Forbidden");
  std::string everything = host_.all_logs();
  EXPECT_NE(everything.find("429"), std::string::npos);  // there are log lines to check
  EXPECT_NE(everything.find("401"), std::string::npos);
  for (const ApiOutcome& outcome : outcomes_) {
    everything += outcome.error + "\n" + outcome.response.dump() + "\n";
  }
  EXPECT_EQ(everything.find(kSecret), std::string::npos) << everything;
  EXPECT_EQ(everything.find("SECRETLY"), std::string::npos) << everything;
  EXPECT_NE(everything.find("[redacted]"), std::string::npos);
}

TEST_F(BotApiTest, ACallbackMayDestroyTheApi) {
  auto destroy = [this](const ApiOutcome& outcome) {
    outcomes_.push_back(outcome);
    api_.reset();
  };
  api_->connector("tenant-a", "conv-3", "POST", kServiceUrl, kActivitiesPath, nullptr, destroy);
  post("conv-1");
  post("conv-2");
  ASSERT_EQ(host_.http.size(), 1u);
  answer(0, 503);  // fails all three waiters; the first callback destroys the api
  EXPECT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(api_, nullptr);
}

TEST_F(BotApiTest, ACallbackMayStartAnotherCall) {
  post_with_token();
  bool started = false;
  outcomes_.clear();
  const std::size_t before = host_.http.size();
  api_->connector("tenant-a", "conv-9", "POST", kServiceUrl, kActivitiesPath, nullptr,
                  [this, &started](const ApiOutcome&) {
                    started = true;
                    post("conv-10");
                    EXPECT_TRUE(outcomes_.empty());  // not answered inside the call
                  });
  answer(before, 200, "{}");
  EXPECT_TRUE(started);
  EXPECT_EQ(host_.http.size(), before + 2);
  EXPECT_EQ(host_.http.back().header("authorization"), "Bearer fake-token-1");
}

}  // namespace
}  // namespace haveri::teams
