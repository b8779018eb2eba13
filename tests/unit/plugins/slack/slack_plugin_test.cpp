// Drives the real libhaveri_slack.so through its C ABI, as haverid does, with a fake
// host that records what the plugin asks of it (HTTP calls, WebSockets, timers,
// inbound events, responses) and lets each test answer like Slack would. The whole
// daemon with a fake Slack on loopback is in tests/e2e/slack_test.cpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/plugin.h>

#include "block_kit.hpp"
#include "form_body.hpp"
#include "signature.hpp"
#include "support/plugin_loader.hpp"

namespace {

using nlohmann::json;

constexpr std::string_view kSecret = "fake-signing-secret";
constexpr std::string_view kBotToken = "xoxb-fake-bot-token";
constexpr std::string_view kAppToken = "xapp-fake-app-token";

std::string to_string(haveri_str s) {
  return s.len == 0 ? std::string{} : std::string{s.ptr, s.len};
}
haveri_str borrow(std::string_view s) {
  return haveri_str{s.data(), s.size()};
}

struct FakeHost {
  struct HttpCall {
    std::uint64_t id;
    json request;
    std::string body;
    json body_json() const { return json::parse(body, nullptr, false); }
    std::string method() const {
      const std::string url = request.value("url", "");
      return url.substr(url.rfind('/') + 1);
    }
  };
  struct Response {
    std::uint64_t request_id;
    std::uint16_t status;
    std::string content_type;
    std::string body;
  };
  std::vector<std::pair<int, std::string>> logs;
  std::vector<std::pair<std::uint64_t, json>> inbound;
  std::vector<Response> responses;
  std::vector<std::pair<std::uint64_t, json>> completions;
  std::vector<HttpCall> http;
  std::vector<std::pair<std::uint64_t, json>> sockets_opened;
  std::vector<std::pair<std::uint64_t, json>> socket_sends;
  std::vector<std::uint64_t> sockets_closed;
  std::map<std::uint64_t, std::uint64_t> timers;  // id -> delay
  std::uint64_t next_inbound = 1000;
};

FakeHost& fake(haveri_host_instance* host) {
  return *reinterpret_cast<FakeHost*>(host);
}

void host_log(haveri_host_instance* host, int level, haveri_str message) {
  fake(host).logs.emplace_back(level, to_string(message));
}
haveri_status host_submit(haveri_host_instance* host, std::uint64_t id, haveri_str event) {
  fake(host).inbound.emplace_back(id, json::parse(to_string(event)));
  return HAVERI_OK;
}
haveri_status host_respond(haveri_host_instance* host, std::uint64_t id, std::uint16_t status,
                           haveri_str type, haveri_str body) {
  fake(host).responses.push_back({id, status, to_string(type), to_string(body)});
  return HAVERI_OK;
}
haveri_status host_complete(haveri_host_instance* host, std::uint64_t id, haveri_str result) {
  fake(host).completions.emplace_back(id, json::parse(to_string(result)));
  return HAVERI_OK;
}
haveri_status host_http(haveri_host_instance* host, std::uint64_t id, haveri_str request,
                        haveri_str body) {
  fake(host).http.push_back({id, json::parse(to_string(request)), to_string(body)});
  return HAVERI_OK;
}
haveri_status host_ws_open(haveri_host_instance* host, std::uint64_t id, haveri_str request) {
  fake(host).sockets_opened.emplace_back(id, json::parse(to_string(request)));
  return HAVERI_OK;
}
haveri_status host_ws_send(haveri_host_instance* host, std::uint64_t id, haveri_str text) {
  fake(host).socket_sends.emplace_back(id, json::parse(to_string(text)));
  return HAVERI_OK;
}
haveri_status host_ws_close(haveri_host_instance* host, std::uint64_t id) {
  fake(host).sockets_closed.push_back(id);
  return HAVERI_OK;
}
haveri_status host_set_timer(haveri_host_instance* host, std::uint64_t id, std::uint64_t delay) {
  fake(host).timers[id] = delay;
  return HAVERI_OK;
}
haveri_status host_cancel_timer(haveri_host_instance* host, std::uint64_t id) {
  return fake(host).timers.erase(id) > 0 ? HAVERI_OK : HAVERI_ERR_GONE;
}
haveri_status host_begin_inbound(haveri_host_instance* host, std::uint64_t* id) {
  *id = ++fake(host).next_inbound;
  return HAVERI_OK;
}

constexpr haveri_host_api kHostApi = {
    sizeof(haveri_host_api), &host_log,       &host_submit,       &host_respond,
    &host_complete,          &host_http,      &host_ws_open,      &host_ws_send,
    &host_ws_close,          &host_set_timer, &host_cancel_timer, &host_begin_inbound,
};

const haveri_plugin_api* load_plugin() {
  static const haveri_plugin_api* api = haveri::testing::load_built_plugin("slack");
  return api;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json events_settings() {
  return {{"signing_secret", kSecret},
          {"bot_token", kBotToken},
          {"api_base_url", "http://127.0.0.1:9/api"}};
}

class SlackPluginTest : public ::testing::Test {
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
    return api_->instance_create(&kHostApi, reinterpret_cast<haveri_host_instance*>(&host_),
                                 borrow("slack"), borrow(text), &instance_);
  }
  void create_ok(const json& settings = events_settings()) {
    ASSERT_EQ(create(settings), HAVERI_OK);
    // auth.test goes out at start; Slack says who we are.
    ASSERT_FALSE(host_.http.empty());
    answer(host_.http.front(), 200,
           json{{"ok", true},
                {"user_id", "UBOT"},
                {"bot_id", "BBOT"},
                {"team_id", "T1"},
                {"team", "Acme"}});
  }

  // Answers one HTTP call the plugin made.
  void answer(const FakeHost::HttpCall& call, int status, const json& body,
              json headers = json::object()) {
    const json response = {{"v", 1}, {"status", status}, {"headers", headers}};
    const std::string text = body.dump();
    api_->on_http_response(instance_, call.id, borrow(response.dump()), borrow(text));
  }
  // The newest HTTP call to `method` not answered before (by index).
  std::optional<FakeHost::HttpCall> last_call(std::string_view method) {
    for (auto it = host_.http.rbegin(); it != host_.http.rend(); ++it) {
      if (it->method() == method) {
        return *it;
      }
    }
    return std::nullopt;
  }

  FakeHost::Response request(std::string_view path, std::string_view body,
                             std::map<std::string, std::string> headers,
                             std::string_view method = "POST") {
    const std::uint64_t id = ++next_request_;
    json described = {
        {"v", 1}, {"method", method}, {"path", path}, {"query", ""}, {"headers", headers}};
    const std::size_t before = host_.responses.size();
    EXPECT_EQ(api_->handle_request(instance_, id, borrow(described.dump()), borrow(body)),
              HAVERI_OK);
    EXPECT_EQ(host_.responses.size(), before + 1) << "exactly one respond per request";
    return host_.responses.empty() ? FakeHost::Response{} : host_.responses.back();
  }
  FakeHost::Response signed_request(std::string_view path, std::string_view body,
                                    std::int64_t timestamp = now_seconds()) {
    const std::string ts = std::to_string(timestamp);
    return request(path, body,
                   {{"x-slack-request-timestamp", ts},
                    {"x-slack-signature", haveri::slack::sign_request(kSecret, ts, body)},
                    {"content-type", "application/x-www-form-urlencoded"}});
  }

  static std::string slash_command(std::string_view text, std::string_view trigger = "T-1",
                                   std::string_view command = "/incident") {
    std::string body;
    const std::map<std::string, std::string> fields = {
        {"token", "legacy"},
        {"team_id", "T1"},
        {"team_domain", "acme"},
        {"channel_id", "C1"},
        {"channel_name", "general"},
        {"user_id", "U1"},
        {"user_name", "alice"},
        {"command", std::string(command)},
        {"text", std::string(text)},
        {"api_app_id", "A1"},
        {"response_url", "https://hooks.slack.com/commands/T1/1/x"},
        {"trigger_id", std::string(trigger)}};
    for (const auto& [key, value] : fields) {
      body += (body.empty() ? "" : "&") + key + "=" + haveri::slack::form_encode(value);
    }
    return body;
  }
  static std::string interaction(const json& payload) {
    return "payload=" + haveri::slack::form_encode(payload.dump());
  }

  const haveri_plugin_api* api_ = nullptr;
  haveri_plugin_instance* instance_ = nullptr;
  FakeHost host_;
  std::uint64_t next_request_ = 0;
};

TEST_F(SlackPluginTest, SettingsWithoutWhatSlackNeedsAreRefusedWithTheKeyNamed) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"signing_secret", kSecret}}, "settings.bot_token"},
      {json{{"signing_secret", kSecret}, {"bot_token", "xoxp-user-token"}}, "xoxb-"},
      {json{{"bot_token", kBotToken}}, "settings.signing_secret"},
      {json{{"mode", "socket"}, {"bot_token", kBotToken}}, "settings.app_token"},
      {json{{"mode", "socket"}, {"bot_token", kBotToken}, {"app_token", "xoxb-x"}}, "xapp-"},
      {json{{"mode", "webhook"}, {"bot_token", kBotToken}}, "settings.mode"},
      {json{{"signing_secret", kSecret}, {"bot_token", kBotToken}, {"colour", "red"}},
       "settings.colour"},
      {json{{"signing_secret", kSecret}, {"bot_token", kBotToken}, {"api_base_url", "ftp://x"}},
       "settings.api_base_url"},
  };
  for (const auto& [settings, expected] : cases) {
    host_.logs.clear();
    haveri_plugin_instance* instance = nullptr;
    const std::string text = settings.dump();
    EXPECT_NE(api_->instance_create(&kHostApi, reinterpret_cast<haveri_host_instance*>(&host_),
                                    borrow("slack"), borrow(text), &instance),
              HAVERI_OK)
        << text;
    ASSERT_FALSE(host_.logs.empty()) << text;
    EXPECT_NE(host_.logs.back().second.find(expected), std::string::npos)
        << host_.logs.back().second;
    EXPECT_EQ(host_.logs.back().second.find(kBotToken), std::string::npos) << "no secrets logged";
  }
}

TEST_F(SlackPluginTest, StartsByAskingSlackWhoItIsWithTheBotToken) {
  ASSERT_EQ(create(events_settings()), HAVERI_OK);
  ASSERT_EQ(host_.http.size(), 1U);
  const auto& call = host_.http.front();
  EXPECT_EQ(call.request["url"], "http://127.0.0.1:9/api/auth.test");
  EXPECT_EQ(call.request["method"], "POST");
  EXPECT_EQ(call.request["headers"]["authorization"], "Bearer " + std::string(kBotToken));
  EXPECT_EQ(call.request["headers"]["content-type"], "application/json; charset=utf-8");
}

TEST_F(SlackPluginTest, UrlVerificationIsAnsweredWithTheChallengeOnlyWhenSigned) {
  create_ok();
  const std::string body =
      R"({"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"})";
  const auto response = signed_request("/events", body);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "3eZbrw1aBm2rZgRNFdxV");
  EXPECT_EQ(request("/events", body, {}).status, 401);
}

TEST_F(SlackPluginTest, RequestsThatAreNotSignedRightAreRefusedAndNothingIsSubmitted) {
  create_ok();
  const std::string body = slash_command("declare Pump down sev2");
  const std::string ts = std::to_string(now_seconds());
  const std::string good = haveri::slack::sign_request(kSecret, ts, body);
  std::string flipped = good;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  const std::string stale_ts = std::to_string(now_seconds() - 301);
  const std::vector<std::map<std::string, std::string>> cases = {
      {},
      {{"x-slack-request-timestamp", ts}},
      {{"x-slack-signature", good}},
      {{"x-slack-request-timestamp", ts}, {"x-slack-signature", flipped}},
      {{"x-slack-request-timestamp", ts}, {"x-slack-signature", "v1=" + good.substr(3)}},
      {{"x-slack-request-timestamp", "yesterday"}, {"x-slack-signature", good}},
      {{"x-slack-request-timestamp", stale_ts},
       {"x-slack-signature", haveri::slack::sign_request(kSecret, stale_ts, body)}},
      {{"x-slack-request-timestamp", ts},
       {"x-slack-signature", haveri::slack::sign_request("another-secret", ts, body)}},
  };
  for (const auto& headers : cases) {
    EXPECT_EQ(request("/commands", body, headers).status, 401);
  }
  // The body changed after signing.
  EXPECT_EQ(request("/commands", body + "x",
                    {{"x-slack-request-timestamp", ts}, {"x-slack-signature", good}})
                .status,
            401);
  EXPECT_TRUE(host_.inbound.empty());
  EXPECT_EQ(
      request("/commands", body, {{"x-slack-request-timestamp", ts}, {"x-slack-signature", good}})
          .status,
      200);
  EXPECT_EQ(host_.inbound.size(), 1U);
}

TEST_F(SlackPluginTest, ASlashCommandIsSubmittedAsACommandKeyedByItsTrigger) {
  create_ok();
  const auto response = signed_request("/commands", slash_command("declare Pump down sev2", "TR9"));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(host_.inbound.size(), 1U);
  const json& event = host_.inbound.front().second;
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "declare Pump down sev2");
  EXPECT_EQ(event["installation"], "T1");
  EXPECT_EQ(event["channel"]["id"], "C1");
  EXPECT_EQ(event["user"]["id"], "U1");
  EXPECT_EQ(event["idempotency_key"], "slack:command:TR9");
}

TEST_F(SlackPluginTest, AnotherSlashCommandGetsAHintAndNothingIsSubmitted) {
  create_ok();
  const auto response = signed_request("/commands", slash_command("x", "TR1", "/deploy"));
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.body.find("/incident"), std::string::npos) << response.body;
  EXPECT_EQ(json::parse(response.body)["response_type"], "ephemeral");
  EXPECT_TRUE(host_.inbound.empty());
}

TEST_F(SlackPluginTest, MalformedBodiesAndUnknownPathsAreClientErrors) {
  create_ok();
  EXPECT_EQ(signed_request("/events", "{not json").status, 400);
  EXPECT_EQ(signed_request("/events", "[1,2]").status, 400);
  EXPECT_EQ(signed_request("/commands", "a=%ZZ").status, 400);
  EXPECT_EQ(signed_request("/interactivity", "nopayload=1").status, 400);
  EXPECT_EQ(signed_request("/interactivity", "payload=%7Bbroken").status, 400);
  EXPECT_EQ(signed_request("/elsewhere", "{}").status, 404);
  EXPECT_EQ(request("/events", "{}", {}, "GET").status, 405);
  EXPECT_TRUE(host_.inbound.empty());
}

TEST_F(SlackPluginTest, AnotherWorkspaceIsRefusedWhenTheInstanceNamesItsTeam) {
  json settings = events_settings();
  settings["team_id"] = "T1";
  create_ok(settings);
  std::string body = slash_command("help");
  body.replace(body.find("team_id=T1"), 10, "team_id=T2");
  EXPECT_EQ(signed_request("/commands", body).status, 403);
  EXPECT_TRUE(host_.inbound.empty());
}

TEST_F(SlackPluginTest, ACardButtonRunsItsCommand) {
  create_ok();
  const json payload = {
      {"type", "block_actions"},
      {"team", {{"id", "T1"}, {"domain", "acme"}}},
      {"user", {{"id", "U2"}, {"username", "bob"}, {"team_id", "T1"}}},
      {"api_app_id", "A1"},
      {"trigger_id", "TR-button"},
      {"container", {{"type", "message"}, {"message_ts", "1700.0001"}, {"channel_id", "C7"}}},
      {"channel", {{"id", "C7"}, {"name", "inc-7-pump-down"}}},
      {"response_url", "https://hooks.slack.com/actions/T1/2/y"},
      {"actions",
       {{{"action_id", std::string(haveri::slack::kCommandActionPrefix) + "0"},
         {"block_id", "b"},
         {"type", "button"},
         {"value", "ack"},
         {"action_ts", "1700.2"}}}}};
  EXPECT_EQ(signed_request("/interactivity", interaction(payload)).status, 200);
  ASSERT_EQ(host_.inbound.size(), 1U);
  const json& event = host_.inbound.front().second;
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "ack");
  EXPECT_EQ(event["channel"]["id"], "C7");
  EXPECT_EQ(event["user"]["id"], "U2");
  EXPECT_EQ(event["user"]["name"], "bob");
  EXPECT_EQ(event["message_id"], "1700.0001");
  EXPECT_EQ(event["idempotency_key"], "slack:action:TR-button");
}

// A form as the host sends it with a private reply.
json resolve_form() {
  return {{"id", "resolve:7"},
          {"title", "Resolve INC-7"},
          {"submit_label", "Resolve"},
          {"inputs",
           {{{"name", "what_happened"},
             {"label", "What happened"},
             {"kind", "multiline"},
             {"required", true}},
            {{"name", "units_lost"}, {"label", "Units lost"}, {"kind", "number"}}}}};
}

TEST_F(SlackPluginTest, AFormAnsweringACommandOpensAsAModalWithItsTrigger) {
  create_ok();
  ASSERT_EQ(signed_request("/commands", slash_command("resolve", "TR-fresh")).status, 200);
  const json operation = {{"type", "post_message"},
                          {"operation_key", "k1"},
                          {"channel", {{"id", "C1"}}},
                          {"visible_to", "U1"},
                          {"message", {{"text", "Fill in the summary"}, {"form", resolve_form()}}}};
  ASSERT_EQ(api_->perform_operation(instance_, 41, borrow(operation.dump())), HAVERI_OK);
  const auto call = last_call("views.open");
  ASSERT_TRUE(call);
  const json body = call->body_json();
  EXPECT_EQ(body["trigger_id"], "TR-fresh");
  EXPECT_EQ(body["view"]["type"], "modal");
  EXPECT_EQ(body["view"]["callback_id"], haveri::slack::kFormCallbackId);
  const json metadata = json::parse(body["view"]["private_metadata"].get<std::string>());
  EXPECT_EQ(metadata["f"], "resolve:7");
  EXPECT_EQ(metadata["c"], "C1");
  answer(*call, 200, json{{"ok", true}, {"view", {{"id", "V1"}}}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions.back().first, 41U);
  EXPECT_EQ(host_.completions.back().second["status"], "ok");
}

TEST_F(SlackPluginTest, AFormWhoseTriggerExpiredArrivesAsAButtonThatOpensIt) {
  create_ok();
  ASSERT_EQ(signed_request("/commands", slash_command("resolve", "TR-old")).status, 200);
  const json operation = {{"type", "post_message"},
                          {"channel", {{"id", "C1"}}},
                          {"visible_to", "U1"},
                          {"message", {{"text", "Fill in the summary"}, {"form", resolve_form()}}}};
  ASSERT_EQ(api_->perform_operation(instance_, 42, borrow(operation.dump())), HAVERI_OK);
  answer(*last_call("views.open"), 200, json{{"ok", false}, {"error", "expired_trigger_id"}});
  const auto ephemeral = last_call("chat.postEphemeral");
  ASSERT_TRUE(ephemeral);
  const json body = ephemeral->body_json();
  EXPECT_EQ(body["user"], "U1");
  std::string handle;
  for (const json& block : body["blocks"]) {
    if (block["type"] == "actions") {
      for (const json& element : block["elements"]) {
        if (element["action_id"] == haveri::slack::kOpenFormActionId) {
          handle = element["value"];
        }
      }
    }
  }
  ASSERT_FALSE(handle.empty()) << body.dump();
  answer(*ephemeral, 200, json{{"ok", true}, {"message_ts", "1700.5"}});
  EXPECT_EQ(host_.completions.back().second["status"], "ok");

  // The click brings a fresh trigger, and the modal opens with it.
  const json click = {
      {"type", "block_actions"},
      {"team", {{"id", "T1"}}},
      {"user", {{"id", "U1"}, {"username", "alice"}}},
      {"trigger_id", "TR-click"},
      {"container", {{"type", "message"}, {"channel_id", "C1"}}},
      {"response_url", "https://hooks.slack.com/actions/T1/3/z"},
      {"actions", {{{"action_id", haveri::slack::kOpenFormActionId}, {"value", handle}}}}};
  EXPECT_EQ(signed_request("/interactivity", interaction(click)).status, 200);
  const auto opened = last_call("views.open");
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->body_json()["trigger_id"], "TR-click");
  EXPECT_TRUE(host_.inbound.size() == 1U) << "the click itself stores nothing";
}

TEST_F(SlackPluginTest, AViewSubmissionMissingARequiredAnswerGetsSlacksFieldErrors) {
  create_ok();
  json view = haveri::slack::render_modal(resolve_form(), R"({"f":"resolve:7","c":"C1"})");
  view["id"] = "V9";
  view["state"] = {{"values",
                    {{"what_happened", {{"value", {{"type", "plain_text_input"}, {"value", ""}}}}},
                     {"units_lost", {{"value", {{"type", "number_input"}, {"value", "12"}}}}}}}};
  const json payload = {{"type", "view_submission"},
                        {"team", {{"id", "T1"}}},
                        {"user", {{"id", "U1"}, {"username", "alice"}}},
                        {"view", view}};
  const auto refused = signed_request("/interactivity", interaction(payload));
  EXPECT_EQ(refused.status, 200);
  const json reply = json::parse(refused.body);
  EXPECT_EQ(reply["response_action"], "errors");
  EXPECT_TRUE(reply["errors"].contains("what_happened")) << reply.dump();
  EXPECT_TRUE(host_.inbound.empty());

  view["state"]["values"]["what_happened"]["value"]["value"] = "pump 2 tripped";
  json answered = payload;
  answered["view"] = view;
  const auto accepted = signed_request("/interactivity", interaction(answered));
  EXPECT_EQ(accepted.status, 200);
  EXPECT_TRUE(accepted.body.empty()) << "an empty 200 closes the modal";
  ASSERT_EQ(host_.inbound.size(), 1U);
  const json& event = host_.inbound.front().second;
  EXPECT_EQ(event["type"], "form_submission");
  EXPECT_EQ(event["form_id"], "resolve:7");
  EXPECT_EQ(event["channel"]["id"], "C1");
  EXPECT_EQ(event["values"]["what_happened"], "pump 2 tripped");
  EXPECT_EQ(event["values"]["units_lost"], "12");
  EXPECT_EQ(event["idempotency_key"], "slack:view:V9");
}

json create_channel_operation(std::string_view key) {
  return {{"type", "create_channel"},
          {"operation_key", key},
          {"name", "inc-7-pump-down"},
          {"topic", "SEV2 · Pump down"},
          {"members", {"U1", "U2"}}};
}

TEST_F(SlackPluginTest, CreatingAChannelCreatesSetsTheTopicAndInvites) {
  create_ok();
  ASSERT_EQ(
      api_->perform_operation(instance_, 7, borrow(create_channel_operation("create:7").dump())),
      HAVERI_OK);
  const auto create = last_call("conversations.create");
  ASSERT_TRUE(create);
  EXPECT_EQ(create->body_json()["name"], "inc-7-pump-down");
  answer(*create, 200,
         json{{"ok", true}, {"channel", {{"id", "C77"}, {"name", "inc-7-pump-down"}}}});
  const auto topic = last_call("conversations.setTopic");
  ASSERT_TRUE(topic);
  EXPECT_EQ(topic->body_json()["channel"], "C77");
  answer(*topic, 200, json{{"ok", true}});
  const auto invite = last_call("conversations.invite");
  ASSERT_TRUE(invite);
  EXPECT_EQ(invite->body_json()["users"], "U1,U2");
  answer(*invite, 200, json{{"ok", false}, {"error", "already_in_channel"}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "ok");
  EXPECT_EQ(host_.completions[0].second["channel"]["id"], "C77");

  // The host asks again with the same key (its first answer was lost): the same
  // channel, and nothing is sent to Slack.
  const std::size_t calls = host_.http.size();
  ASSERT_EQ(
      api_->perform_operation(instance_, 8, borrow(create_channel_operation("create:7").dump())),
      HAVERI_OK);
  EXPECT_EQ(host_.http.size(), calls);
  ASSERT_EQ(host_.completions.size(), 2U);
  EXPECT_EQ(host_.completions[1].first, 8U);
  EXPECT_EQ(host_.completions[1].second["channel"]["id"], "C77");
}

TEST_F(SlackPluginTest, ANameTakenBySomeoneElseIsReportedSoTheHostTriesAnother) {
  create_ok();
  ASSERT_EQ(
      api_->perform_operation(instance_, 9, borrow(create_channel_operation("create:9").dump())),
      HAVERI_OK);
  answer(*last_call("conversations.create"), 200, json{{"ok", false}, {"error", "name_taken"}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "permanent");
  EXPECT_EQ(host_.completions[0].second["error_code"], "name_taken");
}

TEST_F(SlackPluginTest, SlackErrorsAreClassifiedAndA429CarriesItsRetryAfter) {
  create_ok();
  const json post = {{"type", "post_message"},
                     {"channel", {{"id", "C1"}}},
                     {"message", {{"title", "INC-1"}, {"text", "Pump down"}}}};
  struct Case {
    int status;
    json body;
    json headers;
    std::string expected_status;
    std::string expected_code;
    std::uint64_t retry_after_ms;
  };
  const std::vector<Case> cases = {
      {200, json{{"ok", false}, {"error", "ratelimited"}}, json::object(), "retryable", "", 0},
      {503, json::object(), json::object(), "retryable", "", 0},
      {200, json{{"ok", false}, {"error", "channel_not_found"}}, json::object(), "permanent",
       "channel_not_found", 0},
      {200, json{{"ok", false}, {"error", "not_in_channel"}}, json::object(), "permanent",
       "channel_not_found", 0},
      {200, json{{"ok", false}, {"error", "invalid_blocks"}}, json::object(), "permanent",
       "invalid", 0},
      {429, json::object(), json{{"retry-after", "7"}}, "retryable", "", 7000},
  };
  std::uint64_t id = 100;
  for (const Case& c : cases) {
    const std::size_t sent = host_.http.size();
    ASSERT_EQ(api_->perform_operation(instance_, ++id, borrow(post.dump())), HAVERI_OK);
    // Posts to one channel are paced: release the waiting call.
    while (host_.http.size() == sent) {
      ASSERT_FALSE(host_.timers.empty()) << "the call is neither sent nor waiting";
      const auto timer = host_.timers.begin()->first;
      host_.timers.erase(host_.timers.begin());
      api_->on_timer(instance_, timer);
    }
    answer(host_.http.back(), c.status, c.body, c.headers);
    while (host_.completions.empty() || host_.completions.back().first != id) {
      ASSERT_FALSE(host_.timers.empty()) << "operation " << id << " never completed";
      const auto timer = host_.timers.begin()->first;
      host_.timers.erase(host_.timers.begin());
      api_->on_timer(instance_, timer);
    }
    const json& result = host_.completions.back().second;
    EXPECT_EQ(result["status"], c.expected_status) << result.dump();
    if (!c.expected_code.empty()) {
      EXPECT_EQ(result["error_code"], c.expected_code) << result.dump();
    }
    if (c.retry_after_ms > 0) {
      EXPECT_EQ(result["retry_after_ms"], c.retry_after_ms) << result.dump();
    }
  }
  // Slack is not asked again before the Retry-After has passed: the next post fails
  // at once as retryable, for the outbox to try later.
  const std::size_t calls = host_.http.size();
  ASSERT_EQ(api_->perform_operation(instance_, ++id, borrow(post.dump())), HAVERI_OK);
  while (host_.completions.back().first != id && !host_.timers.empty()) {
    const auto timer = host_.timers.begin()->first;
    host_.timers.erase(host_.timers.begin());
    api_->on_timer(instance_, timer);
  }
  EXPECT_EQ(host_.http.size(), calls);
  ASSERT_EQ(host_.completions.back().first, id);
  EXPECT_EQ(host_.completions.back().second["status"], "retryable");
  EXPECT_GE(host_.completions.back().second["retry_after_ms"].get<int>(), 6000);
}

TEST_F(SlackPluginTest, PostsToOneChannelArePacedAboutOneASecond) {
  create_ok();
  const json post = {
      {"type", "post_message"}, {"channel", {{"id", "C5"}}}, {"message", {{"text", "hello"}}}};
  for (std::uint64_t id = 1; id <= 6; ++id) {
    ASSERT_EQ(api_->perform_operation(instance_, id, borrow(post.dump())), HAVERI_OK);
  }
  std::size_t sent = 0;
  for (const auto& call : host_.http) {
    sent += call.method() == "chat.postMessage" ? 1 : 0;
  }
  EXPECT_LE(sent, 3U) << "a short burst at most";
  EXPECT_FALSE(host_.timers.empty()) << "the rest wait for their turn";
  std::uint64_t longest = 0;
  for (const auto& [timer, delay] : host_.timers) {
    longest = std::max(longest, delay);
  }
  EXPECT_GE(longest, 2000U) << "the sixth post waits about three seconds";
}

TEST_F(SlackPluginTest, APageIsADirectMessage) {
  create_ok();
  const json page = {{"type", "notify_person"},
                     {"operation_key", "page:7:1"},
                     {"user", {{"id", "U2"}}},
                     {"message", {{"title", "INC-7 needs you"}, {"text", "SEV1 · Line 3 down"}}}};
  ASSERT_EQ(api_->perform_operation(instance_, 70, borrow(page.dump())), HAVERI_OK);
  const auto open = last_call("conversations.open");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->body_json()["users"], "U2");
  answer(*open, 200, json{{"ok", true}, {"channel", {{"id", "D42"}}}});
  const auto post = last_call("chat.postMessage");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->body_json()["channel"], "D42");
  EXPECT_NE(post->body_json()["text"].get<std::string>().find("INC-7 needs you"),
            std::string::npos);
  answer(*post, 200, json{{"ok", true}, {"ts", "1700.9"}});
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "ok");
  EXPECT_EQ(host_.completions[0].second["message_id"], "1700.9");
}

TEST_F(SlackPluginTest, AnUnknownOperationIsAPermanentUnsupportedOne) {
  create_ok();
  ASSERT_EQ(api_->perform_operation(instance_, 71, borrow(R"({"type":"archive_channel"})")),
            HAVERI_OK);
  ASSERT_EQ(host_.completions.size(), 1U);
  EXPECT_EQ(host_.completions[0].second["status"], "permanent");
  EXPECT_EQ(host_.completions[0].second["error_code"], "unsupported_operation");
}

class SlackSocketModeTest : public SlackPluginTest {
 protected:
  void SetUp() override {
    SlackPluginTest::SetUp();
    json settings = {{"mode", "socket"},
                     {"bot_token", kBotToken},
                     {"app_token", kAppToken},
                     {"api_base_url", "http://127.0.0.1:9/api"}};
    create_ok(settings);
  }

  // Answers apps.connections.open and says hello on the socket it opens.
  std::uint64_t connect(std::string_view url) {
    const auto open = last_call("apps.connections.open");
    EXPECT_TRUE(open);
    if (!open) {
      return 0;
    }
    EXPECT_EQ(open->request["headers"]["authorization"], "Bearer " + std::string(kAppToken));
    answer(*open, 200, json{{"ok", true}, {"url", url}});
    EXPECT_FALSE(host_.sockets_opened.empty());
    const auto [socket, request] = host_.sockets_opened.back();
    EXPECT_EQ(request["url"], url);
    api_->on_websocket_event(instance_, socket, HAVERI_WS_OPENED, borrow(""));
    say(socket, json{{"type", "hello"}, {"num_connections", 1}});
    return socket;
  }
  void say(std::uint64_t socket, const json& message) {
    const std::string text = message.dump();
    api_->on_websocket_event(instance_, socket, HAVERI_WS_MESSAGE, borrow(text));
  }
  static json message_envelope(std::string_view envelope_id, std::string_view event_id) {
    return {{"envelope_id", envelope_id},
            {"type", "events_api"},
            {"accepts_response_payload", false},
            {"retry_attempt", 0},
            {"payload",
             {{"type", "event_callback"},
              {"team_id", "T1"},
              {"api_app_id", "A1"},
              {"event_id", event_id},
              {"event_time", 1700000000},
              {"event",
               {{"type", "message"},
                {"channel", "C7"},
                {"user", "U1"},
                {"text", "pump 2 restarted"},
                {"ts", "1700.0002"},
                {"channel_type", "channel"}}}}}};
  }
};

TEST_F(SlackSocketModeTest, AnEnvelopeIsAcknowledgedOnlyOnceWhatItCarriesIsDurable) {
  const std::uint64_t socket = connect("ws://127.0.0.1:9/link/?ticket=1");
  say(socket, message_envelope("E1", "Ev1"));
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.inbound[0].second["type"], "message");
  EXPECT_EQ(host_.inbound[0].second["idempotency_key"], "slack:Ev1");
  EXPECT_TRUE(host_.socket_sends.empty()) << "no acknowledgement before the commit";
  api_->on_inbound_settled(instance_, host_.inbound[0].first, 200);
  ASSERT_EQ(host_.socket_sends.size(), 1U);
  EXPECT_EQ(host_.socket_sends[0].first, socket);
  EXPECT_EQ(host_.socket_sends[0].second, json({{"envelope_id", "E1"}}));
}

TEST_F(SlackSocketModeTest, AnEnvelopeThatCouldNotBeStoredIsNotAcknowledged) {
  const std::uint64_t socket = connect("ws://127.0.0.1:9/link/?ticket=1");
  say(socket, message_envelope("E2", "Ev2"));
  ASSERT_EQ(host_.inbound.size(), 1U);
  api_->on_inbound_settled(instance_, host_.inbound[0].first, 503);
  EXPECT_TRUE(host_.socket_sends.empty()) << "Slack must deliver it again";
}

TEST_F(SlackSocketModeTest, ADisconnectWarningOpensANewConnectionBeforeTheOldCloses) {
  const std::uint64_t first = connect("ws://127.0.0.1:9/link/?ticket=1");
  say(first, json{{"type", "disconnect"}, {"reason", "warning"}});
  EXPECT_TRUE(host_.sockets_closed.empty()) << "the old connection stays until the new is live";
  const std::uint64_t second = connect("ws://127.0.0.1:9/link/?ticket=2");
  EXPECT_NE(first, second);
  ASSERT_EQ(host_.sockets_closed.size(), 1U);
  EXPECT_EQ(host_.sockets_closed[0], first);
  // An envelope still arriving on the old connection is handled, and acknowledged.
  say(first, message_envelope("E3", "Ev3"));
  ASSERT_EQ(host_.inbound.size(), 1U);
  api_->on_inbound_settled(instance_, host_.inbound[0].first, 200);
  ASSERT_EQ(host_.socket_sends.size(), 1U);
  EXPECT_EQ(host_.socket_sends[0].second["envelope_id"], "E3");
}

TEST_F(SlackSocketModeTest, ALostConnectionIsReopenedWithBackoff) {
  const std::uint64_t socket = connect("ws://127.0.0.1:9/link/?ticket=1");
  const std::size_t opens = host_.http.size();
  api_->on_websocket_event(instance_, socket, HAVERI_WS_CLOSED,
                           borrow(R"({"code":0,"error":"connection reset"})"));
  EXPECT_EQ(host_.http.size(), opens) << "not at once: after a backoff";
  ASSERT_EQ(host_.timers.size(), 1U);
  const auto [timer, delay] = *host_.timers.begin();
  EXPECT_GE(delay, 500U);
  EXPECT_LE(delay, 1000U);
  host_.timers.clear();
  api_->on_timer(instance_, timer);
  const auto reopened = connect("ws://127.0.0.1:9/link/?ticket=2");
  EXPECT_NE(reopened, socket);
}

TEST_F(SlackSocketModeTest, ADisabledLinkIsNotReopened) {
  const std::uint64_t socket = connect("ws://127.0.0.1:9/link/?ticket=1");
  say(socket, json{{"type", "disconnect"}, {"reason", "link_disabled"}});
  api_->on_websocket_event(instance_, socket, HAVERI_WS_CLOSED, borrow(R"({"code":1000})"));
  EXPECT_TRUE(host_.timers.empty());
  bool logged = false;
  for (const auto& [level, text] : host_.logs) {
    logged = logged || (level == HAVERI_LOG_ERROR && text.find("disabled") != std::string::npos);
  }
  EXPECT_TRUE(logged);
}

TEST_F(SlackSocketModeTest, ASlashCommandOverTheSocketIsAcknowledgedAfterItIsStored) {
  const std::uint64_t socket = connect("ws://127.0.0.1:9/link/?ticket=1");
  say(socket, json{{"envelope_id", "E5"},
                   {"type", "slash_commands"},
                   {"accepts_response_payload", true},
                   {"payload",
                    {{"team_id", "T1"},
                     {"channel_id", "C1"},
                     {"channel_name", "general"},
                     {"user_id", "U1"},
                     {"user_name", "alice"},
                     {"command", "/incident"},
                     {"text", "declare Pump down sev2"},
                     {"trigger_id", "TR-sock"},
                     {"response_url", "https://hooks.slack.com/commands/1"}}}});
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.inbound[0].second["idempotency_key"], "slack:command:TR-sock");
  api_->on_inbound_settled(instance_, host_.inbound[0].first, 200);
  ASSERT_EQ(host_.socket_sends.size(), 1U);
  EXPECT_EQ(host_.socket_sends[0].second["envelope_id"], "E5");
}

}  // namespace
