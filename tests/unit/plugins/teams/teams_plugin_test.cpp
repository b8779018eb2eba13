// Drives the real libhaveri_teams.so through its C ABI, as haverid does, with a host
// that records what the plugin asks of it (HTTP calls, inbound events, responses,
// results) and lets each test answer like Microsoft would. The whole daemon against a
// fake Microsoft on loopback is tests/e2e/teams_test.cpp.
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/plugin.h>

#include "recording_host.hpp"
#include "support/plugin_loader.hpp"
#include "teams/jwt_signer.hpp"

namespace {

using haveri::fakes::TestSigningKey;
using haveri::teams::testing::RecordingHost;
using nlohmann::json;

constexpr std::string_view kAppId = "00000000-0000-4000-8000-000000000b07";
constexpr std::string_view kTenant = "00000000-0000-4000-8000-00000000feed";
constexpr std::string_view kTeam = "00000000-0000-4000-8000-0000000007ea";
constexpr std::string_view kSecret = "fake-client-secret";
constexpr std::string_view kServiceUrl = "https://smba.trafficmanager.net/emea/";
constexpr std::string_view kMetadataUrl =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
constexpr std::string_view kJwksUrl = "https://login.botframework.com/v1/.well-known/keys";
constexpr std::string_view kChannel = "19:incident0channel@thread.tacv2";

haveri_str borrow(std::string_view s) {
  return haveri_str{s.data(), s.size()};
}

const haveri_plugin_api* load_plugin() {
  static const haveri_plugin_api* api = haveri::testing::load_built_plugin("teams");
  return api;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json base_settings() {
  return {
      {"app_id", kAppId}, {"client_secret", kSecret}, {"tenants", {kTenant}}, {"team_id", kTeam}};
}

const TestSigningKey& signing_key() {
  static const TestSigningKey key("plugin-test-key");
  return key;
}

class TeamsPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = load_plugin();
    ASSERT_NE(api_, nullptr);
  }
  void TearDown() override {
    if (instance_ != nullptr) {
      api_->instance_destroy(instance_);
    }
  }

  haveri_status create(const json& settings) {
    const std::string text = settings.dump();
    return api_->instance_create(host_.api(), host_.handle(), borrow("teams"), borrow(text),
                                 &instance_);
  }

  void start() { ASSERT_EQ(create(base_settings()), HAVERI_OK) << host_.all_logs(); }

  void handle(std::uint64_t id, const json& activity, const std::string& authorization,
              const std::string& path = "/messages") {
    json headers = {{"content-type", "application/json"}};
    if (!authorization.empty()) {
      headers["authorization"] = authorization;
    }
    const std::string request =
        json{{"v", 1}, {"method", "POST"}, {"path", path}, {"headers", headers}}.dump();
    const std::string body = activity.is_string() ? activity.get<std::string>() : activity.dump();
    api_->handle_request(instance_, id, borrow(request), borrow(body));
  }

  std::string token_for(const json& activity, json patch = json::object()) {
    json claims = haveri::fakes::bot_framework_claims(
        std::string(kAppId), activity.value("serviceUrl", ""), now_seconds());
    claims.merge_patch(patch);
    return "Bearer " + signing_key().sign(claims);
  }

  // Answers the oldest unanswered HTTP call (the test knows which one it is).
  void answer(std::size_t index, int status, const json& body, json headers = json::object()) {
    ASSERT_LT(index, host_.http.size());
    const std::string response = RecordingHost::response_json(status, headers);
    const std::string text = body.is_string() ? body.get<std::string>() : body.dump();
    api_->on_http_response(instance_, host_.http[index].id, borrow(response), borrow(text));
  }

  // Serves the OpenID metadata and JWKS calls the first request triggers.
  void serve_keys() {
    const auto index_of = [&](std::string_view url) {
      for (std::size_t i = 0; i < host_.http.size(); ++i) {
        if (host_.http[i].url() == url) {
          return i;
        }
      }
      return host_.http.size();
    };
    const std::size_t metadata = index_of(kMetadataUrl);
    ASSERT_LT(metadata, host_.http.size()) << "no OpenID metadata request";
    answer(metadata, 200, json{{"issuer", "https://api.botframework.com"}, {"jwks_uri", kJwksUrl}});
    const std::size_t keys = index_of(kJwksUrl);
    ASSERT_LT(keys, host_.http.size()) << "no JWKS request";
    answer(keys, 200, haveri::fakes::jwks_of({&signing_key()}));
  }

  json channel_message(const std::string& text, const std::string& id = "1700000000001") {
    return {{"type", "message"},
            {"id", id},
            {"timestamp", "2026-11-24T10:00:00.000Z"},
            {"channelId", "msteams"},
            {"serviceUrl", kServiceUrl},
            {"from",
             {{"id", "29:alice"},
              {"name", "Alice"},
              {"aadObjectId", "00000000-0000-4000-8000-00000000a11c"}}},
            {"recipient", {{"id", "28:" + std::string(kAppId)}, {"name", "Haveri"}}},
            {"conversation",
             {{"conversationType", "channel"},
              {"id", std::string(kChannel) + ";messageid=" + id},
              {"tenantId", kTenant}}},
            {"channelData",
             {{"tenant", {{"id", kTenant}}},
              {"channel", {{"id", kChannel}}},
              {"team", {{"id", "19:team@thread.tacv2"}}}}},
            {"text", text}};
  }

  void perform(std::uint64_t id, const json& operation) {
    const std::string text = operation.dump();
    api_->perform_operation(instance_, id, borrow(text));
  }

  // The next HTTP call is a token request: answer it with a token.
  void answer_token(std::size_t index) {
    ASSERT_LT(index, host_.http.size());
    EXPECT_NE(host_.http[index].body.find("grant_type=client_credentials"), std::string::npos);
    answer(
        index, 200,
        json{
            {"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", "fake-access-token"}});
  }

  const haveri_plugin_api* api_ = nullptr;
  RecordingHost host_;
  haveri_plugin_instance* instance_ = nullptr;
};

TEST_F(TeamsPluginTest, SettingsErrorsNameTheKeyAndNeverTheSecret) {
  struct Case {
    std::function<void(json&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& s) { s.erase("app_id"); }, "settings.app_id"},
      {[](json& s) { s["app_id"] = "not-a-guid"; }, "settings.app_id"},
      {[](json& s) { s.erase("client_secret"); }, "settings.client_secret"},
      {[](json& s) { s["tenants"] = json::array(); }, "settings.tenants"},
      {[](json& s) { s["tenants"] = {"contoso.onmicrosoft.com"}; }, "settings.tenants"},
      {[](json& s) { s.erase("team_id"); }, "settings.team_id"},
      {[](json& s) { s["team_id"] = "19:abc@thread.tacv2"; }, "settings.team_id"},
      {[](json& s) { s["graph_token_url"] = "https://login.example/token"; }, "{tenant}"},
      {[](json& s) { s["token_url"] = "ftp://x"; }, "settings.token_url"},
      {[](json& s) { s["announcements_channel"] = "general"; }, "announcements_channel"},
      {[](json& s) { s["api_timeout_ms"] = 5; }, "api_timeout_ms"},
      {[](json& s) { s["tenant_requests_per_second"] = 500; }, "tenant_requests_per_second"},
      {[](json& s) { s["colour"] = "blue"; }, "settings.colour: unknown key"},
      {[](json& s) { s["https_proxy"] = "socks5://user:pw@proxy"; }, "https_proxy"},
      {[](json& s) { s["app_type"] = "both"; }, "settings.app_type"},
      {[](json& s) { s["service_url_allow_list"] = {"https://smba.trafficmanager.net"}; },
       "service_url_allow_list"},
      {[](json& s) { s["service_url_allow_list"] = {"https://"}; }, "service_url_allow_list"},
  };
  for (const auto& c : cases) {
    json settings = base_settings();
    c.change(settings);
    SCOPED_TRACE(settings.dump());
    host_.logs.clear();
    instance_ = nullptr;
    EXPECT_NE(create(settings), HAVERI_OK);
    EXPECT_NE(host_.all_logs().find(c.expected), std::string::npos) << host_.all_logs();
    EXPECT_EQ(host_.all_logs().find(kSecret), std::string::npos);
    EXPECT_EQ(host_.all_logs().find("pw@proxy"), std::string::npos);
  }
}

TEST_F(TeamsPluginTest, ARequestWithoutAValidTokenIsRefusedBeforeAnythingElse) {
  start();
  handle(1, channel_message("hello"), "");
  handle(2, channel_message("hello"), "Basic YWxpY2U6c2VjcmV0");
  handle(3, channel_message("hello"), "Bearer x.y");
  ASSERT_EQ(host_.responses.size(), 3U);
  for (const auto& response : host_.responses) {
    EXPECT_EQ(response.status, 401);
  }
  EXPECT_TRUE(host_.inbound.empty());
  EXPECT_TRUE(host_.http.empty()) << "no key fetch for a request that has no token";
  handle(4, channel_message("hello"), token_for(channel_message("hello")), "/other");
  ASSERT_EQ(host_.responses.size(), 4U);
  EXPECT_EQ(host_.responses.back().status, 404);
}

TEST_F(TeamsPluginTest, KeysAreFetchedOnceAndTheActivityIsSubmittedAfterTheCheck) {
  start();
  const json first = channel_message("pump 3 tripped", "1700000000001");
  handle(1, first, token_for(first));
  EXPECT_TRUE(host_.responses.empty()) << "waits for the signing keys";
  const json second = channel_message("resetting", "1700000000002");
  handle(2, second, token_for(second));
  ASSERT_EQ(host_.http.size(), 1U) << "one fetch for both requests";
  serve_keys();
  ASSERT_EQ(host_.responses.size(), 2U);
  EXPECT_EQ(host_.responses[0].status, 200);
  EXPECT_EQ(host_.responses[1].status, 200);
  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[0].second["type"], "message");
  EXPECT_EQ(host_.inbound[0].second["installation"], kTenant);
  EXPECT_EQ(host_.inbound[0].second["channel"]["id"], kChannel);
  // Later requests use the cached keys.
  const json third = channel_message("ok", "1700000000003");
  handle(3, third, token_for(third));
  EXPECT_EQ(host_.http.size(), 2U);
  EXPECT_EQ(host_.responses.size(), 3U);
  // Wrong audience: 401 and the reason in the log, never the token.
  const json forged = channel_message("forged", "1700000000004");
  const std::string token = token_for(forged, {{"aud", "00000000-0000-4000-8000-0000000e0e0e"}});
  handle(4, forged, token);
  ASSERT_EQ(host_.responses.size(), 4U);
  EXPECT_EQ(host_.responses.back().status, 401);
  EXPECT_EQ(host_.inbound.size(), 3U);
  EXPECT_NE(host_.all_logs().find("wrong_audience"), std::string::npos);
  EXPECT_EQ(host_.all_logs().find(token.substr(7)), std::string::npos);
}

TEST_F(TeamsPluginTest, KeysThatCannotBeFetchedMakeTeamsRetry) {
  start();
  const json activity = channel_message("hello");
  handle(1, activity, token_for(activity));
  answer(0, 503, "unavailable");
  ASSERT_EQ(host_.responses.size(), 1U);
  EXPECT_EQ(host_.responses[0].status, 503);
  EXPECT_TRUE(host_.inbound.empty());
}

TEST_F(TeamsPluginTest, AnActivityFromAnotherTenantOrServiceIsRefused) {
  start();
  json activity = channel_message("hello");
  activity["channelData"]["tenant"]["id"] = "00000000-0000-4000-8000-00000000dead";
  activity["conversation"]["tenantId"] = "00000000-0000-4000-8000-00000000dead";
  handle(1, activity, token_for(activity));
  serve_keys();
  json elsewhere = channel_message("hello", "1700000000009");
  elsewhere["serviceUrl"] = "https://smba.evil.example/";
  handle(2, elsewhere, token_for(elsewhere));
  ASSERT_EQ(host_.responses.size(), 2U);
  EXPECT_EQ(host_.responses[0].status, 403);
  EXPECT_EQ(host_.responses[1].status, 401);
  EXPECT_TRUE(host_.inbound.empty());
}

TEST_F(TeamsPluginTest, CreateChannelThroughGraphAndTakenNames) {
  start();
  perform(1, json{{"v", 1},
                  {"type", "create_channel"},
                  {"operation_key", "op-1"},
                  {"name", "inc-7-pump-3-down"},
                  {"topic", "Pump 3 down"}});
  ASSERT_EQ(host_.http.size(), 1U);
  EXPECT_NE(host_.http[0].url().find(std::string(kTenant)), std::string::npos)
      << "a Graph token for the home tenant: " << host_.http[0].url();
  EXPECT_NE(host_.http[0].body.find("graph.microsoft.com"), std::string::npos);
  answer_token(0);
  ASSERT_EQ(host_.http.size(), 2U);
  EXPECT_EQ(host_.http[1].method(), "POST");
  EXPECT_EQ(host_.http[1].url(),
            "https://graph.microsoft.com/v1.0/teams/" + std::string(kTeam) + "/channels");
  EXPECT_EQ(host_.http[1].header("authorization"), "Bearer fake-access-token");
  const json body = host_.http[1].body_json();
  EXPECT_EQ(body["displayName"], "inc-7-pump-3-down");
  EXPECT_EQ(body["membershipType"], "standard");
  EXPECT_TRUE(body["description"].get<std::string>().starts_with("Pump 3 down\n\nhaveri:"))
      << body["description"];
  answer(1, 201, json{{"id", kChannel}, {"displayName", "inc-7-pump-3-down"}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "ok");
  EXPECT_EQ(host_.completions[0].second["channel"]["id"], kChannel);
  // The same operation again (the host timed out waiting): the first result, no call.
  perform(2, json{{"v", 1},
                  {"type", "create_channel"},
                  {"operation_key", "op-1"},
                  {"name", "inc-7-pump-3-down"}});
  EXPECT_EQ(host_.http.size(), 2U);
  ASSERT_EQ(host_.completions.size(), 2U);
  EXPECT_EQ(host_.completions[1].second["channel"]["id"], kChannel);
  // A name someone else took.
  perform(
      3,
      json{{"v", 1}, {"type", "create_channel"}, {"operation_key", "op-2"}, {"name", "inc-8-x"}});
  ASSERT_EQ(host_.http.size(), 3U);
  answer(2, 400,
         json{{"error",
               {{"code", "NameAlreadyExists"},
                {"message", "Channel name already existed, please use other name"}}}});
  ASSERT_EQ(host_.http.size(), 4U);
  answer(3, 200, json{{"value", json::array()}});
  ASSERT_EQ(host_.completions.size(), 3U);
  EXPECT_EQ(host_.completions[2].second["status"], "permanent");
  EXPECT_EQ(host_.completions[2].second["error_code"], "name_taken");
}

TEST_F(TeamsPluginTest, ALongNameKeepsItsEndingAndALostAnswerFindsItsOwnChannel) {
  start();
  const std::string long_name = "inc-12-" + std::string(70, 'a') + "-3";
  perform(
      1,
      json{{"v", 1}, {"type", "create_channel"}, {"operation_key", "op-9"}, {"name", long_name}});
  answer_token(0);
  ASSERT_EQ(host_.http.size(), 2U);
  const json body = host_.http[1].body_json();
  const std::string sent = body["displayName"];
  EXPECT_LE(sent.size(), 50U);
  EXPECT_TRUE(sent.ends_with("a-3")) << sent;
  EXPECT_TRUE(sent.starts_with("inc-12-aaa")) << sent;
  const std::string description = body.value("description", "");
  const std::string mark = description.substr(description.find("haveri:"));
  // An earlier attempt made the channel but its answer was lost: the name is taken.
  answer(1, 400,
         json{{"error",
               {{"code", "NameAlreadyExists"}, {"message", "Channel name already existed"}}}});
  ASSERT_EQ(host_.http.size(), 3U);
  EXPECT_EQ(host_.http[2].method(), "GET");
  EXPECT_EQ(host_.http[2].url(),
            "https://graph.microsoft.com/v1.0/teams/" + std::string(kTeam) + "/channels");
  answer(2, 200,
         json{{"value",
               {{{"id", "19:someone-elses@thread.tacv2"},
                 {"displayName", "General"},
                 {"description", "x"}},
                {{"id", kChannel}, {"displayName", sent}, {"description", "Pump\n\n" + mark}}}}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "ok") << host_.completions[0].second.dump();
  EXPECT_EQ(host_.completions[0].second["channel"]["id"], kChannel);
  // Someone else's channel of that name: taken.
  perform(
      2,
      json{{"v", 1}, {"type", "create_channel"}, {"operation_key", "op-10"}, {"name", "inc-13-x"}});
  ASSERT_EQ(host_.http.size(), 4U);
  answer(3, 400,
         json{{"error",
               {{"code", "NameAlreadyExists"}, {"message", "Channel name already existed"}}}});
  ASSERT_EQ(host_.http.size(), 5U);
  answer(4, 200,
         json{{"value",
               {{{"id", "19:other@thread.tacv2"},
                 {"displayName", "inc-13-x"},
                 {"description", "theirs"}}}}});
  ASSERT_EQ(host_.completions.size(), 2U);
  EXPECT_EQ(host_.completions[1].second["error_code"], "name_taken");
}

TEST_F(TeamsPluginTest, PostsUpdatesAndPagesGoThroughTheBotConnector) {
  start();
  const json card = {{"title", "INC-7 · Pump 3 down"},
                     {"fields", {{{"label", "Status"}, {"value", "DECLARED"}}}},
                     {"actions", {{{"label", "Acknowledge"}, {"command", "ack"}}}}};
  perform(
      1,
      json{{"v", 1}, {"type", "post_message"}, {"channel", {{"id", kChannel}}}, {"message", card}});
  answer_token(0);
  ASSERT_EQ(host_.http.size(), 2U);
  EXPECT_EQ(host_.http[1].url(), "https://smba.trafficmanager.net/teams/v3/conversations");
  const json started = host_.http[1].body_json();
  EXPECT_EQ(started["isGroup"], true);
  EXPECT_EQ(started["channelData"]["channel"]["id"], kChannel);
  EXPECT_EQ(started["activity"]["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive");
  answer(1, 201,
         json{{"id", std::string(kChannel) + ";messageid=1700000000100"},
              {"activityId", "1700000000100"}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["message_id"], "1700000000100");

  // The card updated in place: PUT on the thread's conversation, ids encoded.
  perform(2, json{{"v", 1},
                  {"type", "update_message"},
                  {"channel", {{"id", kChannel}}},
                  {"message_id", "1700000000100"},
                  {"message", card}});
  ASSERT_EQ(host_.http.size(), 3U) << "the token is cached";
  EXPECT_EQ(host_.http[2].method(), "PUT");
  EXPECT_EQ(host_.http[2].url(),
            "https://smba.trafficmanager.net/teams/v3/conversations/"
            "19%3Aincident0channel%40thread.tacv2%3Bmessageid%3D1700000000100/activities/"
            "1700000000100");
  answer(2, 200, json{{"id", "1700000000100"}});
  ASSERT_EQ(host_.completions.size(), 2U);
  EXPECT_EQ(host_.completions[1].second["status"], "ok");

  // A page: a personal chat is opened once, then reused.
  const std::string bob = "00000000-0000-4000-8000-000000000b0b";
  perform(3, json{{"v", 1}, {"type", "notify_person"}, {"user", {{"id", bob}}}, {"message", card}});
  ASSERT_EQ(host_.http.size(), 4U);
  const json opened = host_.http[3].body_json();
  EXPECT_EQ(opened["isGroup"], false);
  EXPECT_EQ(opened["members"][0]["id"], bob);
  EXPECT_EQ(opened["tenantId"], kTenant);
  EXPECT_EQ(opened["bot"]["id"], "28:" + std::string(kAppId));
  answer(3, 201, json{{"id", "a:1fakePersonalChat"}});
  ASSERT_EQ(host_.http.size(), 5U);
  EXPECT_EQ(
      host_.http[4].url(),
      "https://smba.trafficmanager.net/teams/v3/conversations/a%3A1fakePersonalChat/activities");
  answer(4, 201, json{{"id", "1700000000200"}});
  ASSERT_EQ(host_.completions.size(), 3U);
  EXPECT_EQ(host_.completions[2].second["channel"]["id"], "a:1fakePersonalChat");
  perform(4, json{{"v", 1}, {"type", "notify_person"}, {"user", {{"id", bob}}}, {"message", card}});
  ASSERT_EQ(host_.http.size(), 6U);
  EXPECT_NE(host_.http[5].url().find("a%3A1fakePersonalChat/activities"), std::string::npos);

  // An update of a message that is gone.
  perform(5, json{{"v", 1},
                  {"type", "update_message"},
                  {"channel", {{"id", kChannel}}},
                  {"message_id", "1700000000999"},
                  {"message", card}});
  answer(6, 404, json{{"error", {{"code", "ActivityNotFound"}, {"message", "not found"}}}});
  ASSERT_EQ(host_.completions.size(), 4U);
  EXPECT_EQ(host_.completions[3].second["status"], "permanent");
  EXPECT_EQ(host_.completions[3].second["error_code"], "message_not_found");
  EXPECT_EQ(host_.all_logs().find(kSecret), std::string::npos);
}

TEST_F(TeamsPluginTest, ACardButtonIsAnsweredWithTheCardAndAFormWithItsAnswers) {
  start();
  // A form posted into the channel.
  const json form_message = {{"title", "Resolve INC-7"},
                             {"form",
                              {{"id", "resolve:7"},
                               {"title", "Resolve INC-7"},
                               {"submit_label", "Resolve"},
                               {"inputs",
                                {{{"name", "what_happened"},
                                  {"label", "What happened"},
                                  {"kind", "multiline"},
                                  {"required", true},
                                  {"max_length", 20}}}}}}};
  perform(1, json{{"v", 1},
                  {"type", "post_message"},
                  {"channel", {{"id", kChannel}}},
                  {"message", form_message}});
  answer_token(0);
  answer(1, 201, json{{"activityId", "1700000000300"}});
  ASSERT_EQ(host_.completions.size(), 1U);

  auto invoke = [&](const json& data, const std::string& id) {
    json activity = channel_message("", id);
    activity["type"] = "invoke";
    activity["name"] = "adaptiveCard/action";
    activity.erase("text");
    activity["replyToId"] = "1700000000300";
    activity["conversation"]["id"] = std::string(kChannel) + ";messageid=1700000000300";
    activity["value"] = {
        {"action", {{"type", "Action.Execute"}, {"verb", "haveri.form"}, {"data", data}}},
        {"trigger", "manual"}};
    return activity;
  };
  // Too long an answer: refused with an error, nothing submitted.
  const json too_long = invoke({{"haveri_action", "form"},
                                {"form_id", "resolve:7"},
                                {"what_happened", std::string(50, 'x')}},
                               "1700000000301");
  handle(1, too_long, token_for(too_long));
  serve_keys();
  ASSERT_EQ(host_.responses.size(), 1U);
  EXPECT_EQ(host_.responses[0].status, 200);
  const json refused = json::parse(host_.responses[0].body);
  EXPECT_EQ(refused["statusCode"], 400) << refused.dump();
  EXPECT_TRUE(host_.inbound.empty());
  // A good answer: submitted, and the form replaced by its answers.
  const json good = invoke(
      {{"haveri_action", "form"}, {"form_id", "resolve:7"}, {"what_happened", "pump tripped"}},
      "1700000000302");
  handle(2, good, token_for(good));
  ASSERT_EQ(host_.responses.size(), 2U);
  const json accepted = json::parse(host_.responses[1].body);
  EXPECT_EQ(accepted["statusCode"], 200);
  EXPECT_EQ(accepted["type"], "application/vnd.microsoft.card.adaptive");
  EXPECT_EQ(accepted.dump().find("Input.Text"), std::string::npos);
  EXPECT_NE(accepted.dump().find("pump tripped"), std::string::npos);
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.inbound[0].second["type"], "form_submission");
  EXPECT_EQ(host_.inbound[0].second["values"]["what_happened"], "pump tripped");
}

}  // namespace

namespace {

TEST_F(TeamsPluginTest, PeopleMentionedInACommandAreNamedByTheirEntraObjectIds) {
  start();
  // Bob has written before: his ids are known from that.
  json said = channel_message("on my way", "1700000000401");
  said["from"] = {
      {"id", "29:bob"}, {"name", "Bob"}, {"aadObjectId", "00000000-0000-4000-8000-000000000b0b"}};
  handle(1, said, token_for(said));
  serve_keys();
  ASSERT_EQ(host_.responses.size(), 1U);
  // "@Haveri lead @Bob" and "@Haveri comms @Carol", Carol never seen: asked of the Connector.
  auto mention = [&](const std::string& verb, const std::string& id, const std::string& name,
                     const std::string& activity_id) {
    json activity =
        channel_message("<at>Haveri</at> " + verb + " <at>" + name + "</at>", activity_id);
    activity["entities"] = {
        {{"type", "mention"},
         {"text", "<at>Haveri</at>"},
         {"mentioned", {{"id", "28:" + std::string(kAppId)}, {"name", "Haveri"}}}},
        {{"type", "mention"},
         {"text", "<at>" + name + "</at>"},
         {"mentioned", {{"id", id}, {"name", name}}}}};
    return activity;
  };
  const json lead = mention("lead", "29:bob", "Bob", "1700000000402");
  handle(2, lead, token_for(lead));
  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[1].second["text"], "lead <@00000000-0000-4000-8000-000000000b0b|Bob>");

  const json comms = mention("comms", "29:carol", "Carol", "1700000000403");
  const std::size_t calls = host_.http.size();
  handle(3, comms, token_for(comms));
  EXPECT_EQ(host_.inbound.size(), 2U) << "waits for the lookup";
  answer_token(calls);
  ASSERT_EQ(host_.http.size(), calls + 2);
  EXPECT_EQ(host_.http[calls + 1].method(), "GET");
  EXPECT_NE(host_.http[calls + 1].url().find("/members/29%3Acarol"), std::string::npos)
      << host_.http[calls + 1].url();
  answer(calls + 1, 200,
         json{{"id", "29:carol"},
              {"name", "Carol"},
              {"aadObjectId", "00000000-0000-4000-8000-00000000ca01"}});
  ASSERT_EQ(host_.inbound.size(), 3U);
  EXPECT_EQ(host_.inbound[2].second["text"], "comms <@00000000-0000-4000-8000-00000000ca01|Carol>");
  ASSERT_EQ(host_.responses.size(), 3U);
  EXPECT_EQ(host_.responses[2].status, 200);
}

}  // namespace
