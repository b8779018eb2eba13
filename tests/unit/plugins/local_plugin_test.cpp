// Drives the real libhaveri_local.so through its C ABI, the way haverid does: dlopen,
// haveri_plugin_entry, instance_create with a host table — here a fake host that
// records every submit_inbound / respond / complete_operation call.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/plugin.h>

#include "support/plugin_loader.hpp"

namespace {

using nlohmann::json;

std::string to_string(haveri_str s) {
  return s.len == 0 ? std::string{} : std::string{s.ptr, s.len};
}
haveri_str borrow(std::string_view s) {
  return haveri_str{s.data(), s.size()};
}

// Everything the plugin told the host, in order.
struct FakeHost {
  struct Log {
    int level;
    std::string message;
  };
  struct Inbound {
    std::uint64_t request_id;
    json event;
  };
  struct Response {
    std::uint64_t request_id;
    std::uint16_t status;
    std::string content_type;
    json body;
  };
  struct Completion {
    std::uint64_t operation_id;
    json result;
  };
  std::vector<Log> logs;
  std::vector<Inbound> inbound;
  std::vector<Response> responses;
  std::vector<Completion> completions;
  std::vector<std::string> calls;  // "submit" / "respond" / "complete", in call order

  bool logged_error_containing(std::string_view text) const {
    for (const Log& log : logs) {
      if (log.level == HAVERI_LOG_ERROR && log.message.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

FakeHost& fake(haveri_host_instance* host) {
  return *reinterpret_cast<FakeHost*>(host);
}

void host_log(haveri_host_instance* host, int level, haveri_str message) {
  fake(host).logs.push_back({level, to_string(message)});
}

haveri_status host_submit_inbound(haveri_host_instance* host, std::uint64_t request_id,
                                  haveri_str event_json) {
  const json event = json::parse(to_string(event_json), nullptr, false);
  if (!event.is_object() || !event.contains("type")) {
    return HAVERI_ERR_INVALID;
  }
  fake(host).inbound.push_back({request_id, event});
  fake(host).calls.emplace_back("submit");
  return HAVERI_OK;
}

haveri_status host_respond(haveri_host_instance* host, std::uint64_t request_id,
                           std::uint16_t status, haveri_str content_type, haveri_str body) {
  fake(host).responses.push_back(
      {request_id, status, to_string(content_type), json::parse(to_string(body), nullptr, false)});
  fake(host).calls.emplace_back("respond");
  return HAVERI_OK;
}

haveri_status host_complete_operation(haveri_host_instance* host, std::uint64_t operation_id,
                                      haveri_str result_json) {
  fake(host).completions.push_back(
      {operation_id, json::parse(to_string(result_json), nullptr, false)});
  fake(host).calls.emplace_back("complete");
  return HAVERI_OK;
}

// A host of ABI 1.1: the local plugin needs none of the 1.2 services.
constexpr haveri_host_api kHostApi = {
    static_cast<std::uint32_t>(offsetof(haveri_host_api, http_request)),
    &host_log,
    &host_submit_inbound,
    &host_respond,
    &host_complete_operation,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

// The plugin library, loaded once for the whole suite (as the host does).
const haveri_plugin_api* load_plugin() {
  static const haveri_plugin_api* api = haveri::testing::load_built_plugin("local");
  return api;
}

class LocalPluginTest : public ::testing::Test {
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

  haveri_status create(std::string_view settings) {
    return api_->instance_create(&kHostApi, host_handle(), borrow("test"), borrow(settings),
                                 &instance_);
  }

  void create_ok(std::string_view settings = "{}") {
    ASSERT_EQ(create(settings), HAVERI_OK);
    ASSERT_NE(instance_, nullptr);
  }

  // Sends one HTTP request and returns the one response the plugin gave.
  FakeHost::Response request(std::string_view method, std::string_view path,
                             std::string_view query = {}, std::string_view body = {}) {
    const std::uint64_t id = ++next_id_;
    const json request_json = {{"v", 1},
                               {"method", method},
                               {"path", path},
                               {"query", query},
                               {"headers", {{"content-type", "application/json"}}}};
    const std::size_t before = host_.responses.size();
    EXPECT_EQ(api_->handle_request(instance_, id, borrow(request_json.dump()), borrow(body)),
              HAVERI_OK);
    EXPECT_EQ(host_.responses.size(), before + 1) << "exactly one respond per request";
    if (host_.responses.size() != before + 1) {
      return {};
    }
    EXPECT_EQ(host_.responses.back().request_id, id);
    return host_.responses.back();
  }

  FakeHost::Response post(const json& message) {
    return request("POST", "/messages", "", message.dump());
  }

  json get_messages(std::string_view query) {
    const FakeHost::Response response = request("GET", "/messages", query);
    EXPECT_EQ(response.status, 200) << response.body.dump();
    return response.body;
  }

  static std::vector<std::uint64_t> seqs(const json& page) {
    std::vector<std::uint64_t> out;
    for (const json& m : page.at("messages")) {
      out.push_back(m.at("seq").get<std::uint64_t>());
    }
    return out;
  }

  // Runs one operation and returns the result it completed with.
  json operate(const json& operation) { return operate_raw(operation.dump()); }

  json operate_raw(std::string_view operation_json) {
    const std::uint64_t id = ++next_id_;
    const std::size_t before = host_.completions.size();
    EXPECT_EQ(api_->perform_operation(instance_, id, borrow(operation_json)), HAVERI_OK);
    EXPECT_EQ(host_.completions.size(), before + 1) << "exactly one completion per operation";
    if (host_.completions.size() != before + 1) {
      return {};
    }
    EXPECT_EQ(host_.completions.back().operation_id, id);
    return host_.completions.back().result;
  }

  haveri_host_instance* host_handle() { return reinterpret_cast<haveri_host_instance*>(&host_); }

  const haveri_plugin_api* api_ = nullptr;
  haveri_plugin_instance* instance_ = nullptr;
  FakeHost host_;
  std::uint64_t next_id_ = 0;
};

TEST_F(LocalPluginTest, OffersTheHostsAbiMajorAndItsTableSize) {
  EXPECT_EQ(api_->abi_major, HAVERI_ABI_VERSION_MAJOR);
  EXPECT_EQ(api_->abi_minor, HAVERI_ABI_VERSION_MINOR);
  EXPECT_EQ(api_->struct_size, sizeof(haveri_plugin_api));
  EXPECT_STREQ(api_->name, "local");
  EXPECT_NE(api_->version, nullptr);
  EXPECT_NE(api_->instance_create, nullptr);
  EXPECT_NE(api_->instance_destroy, nullptr);
  EXPECT_NE(api_->handle_request, nullptr);
  EXPECT_NE(api_->perform_operation, nullptr);
  EXPECT_NE(api_->describe_instance, nullptr);
}

TEST_F(LocalPluginTest, DescribeInstanceDeclaresTheLimitsInTheSettings) {
  create_ok();
  const haveri_str fast = api_->describe_instance(instance_);
  EXPECT_EQ(
      json::parse(to_string(fast)),
      (json{{"v", 1},
            {"limits", {{"channel_interval_ms", 0}, {"per_second", 1000}, {"burst", 1000}}}}));
  api_->instance_destroy(instance_);
  instance_ = nullptr;

  create_ok(R"({"channel_interval_ms":1000,"per_second":0.5,"burst":3})");
  EXPECT_EQ(json::parse(to_string(api_->describe_instance(instance_))),
            (json{{"v", 1},
                  {"limits", {{"channel_interval_ms", 1000}, {"per_second", 0.5}, {"burst", 3}}}}));
}

TEST_F(LocalPluginTest, CreateAcceptsMissingOrEmptySettings) {
  for (const std::string_view settings : {"", "{}", "null"}) {
    haveri_plugin_instance* instance = nullptr;
    EXPECT_EQ(api_->instance_create(&kHostApi, host_handle(), borrow("test"), borrow(settings),
                                    &instance),
              HAVERI_OK)
        << settings;
    ASSERT_NE(instance, nullptr);
    api_->instance_destroy(instance);
  }
}

TEST_F(LocalPluginTest, CreateRejectsBadSettingsAndLogsTheKey) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {R"({"colour":"blue"})", "colour"},
      {R"({"history_limit":"ten"})", "history_limit"},
      {R"({"history_limit":0})", "history_limit"},
      {R"({"history_limit":100001})", "history_limit"},
      {R"({"max_channels":1.5})", "max_channels"},
      {R"({"bot_name":7})", "bot_name"},
      {R"([1,2])", "mapping"},
      {R"({"installation":""})", "installation"},
      {R"({"installation":"acme corp"})", "installation"},
      {R"({"installation":5})", "installation"},
      {R"({"channel_interval_ms":-1})", "channel_interval_ms"},
      {R"({"channel_interval_ms":600001})", "channel_interval_ms"},
      {R"({"per_second":0})", "per_second"},
      {R"({"per_second":10001})", "per_second"},
      {R"({"per_second":"fast"})", "per_second"},
      {R"({"burst":0})", "burst"},
      {R"({"burst":10001})", "burst"},
  };
  for (const auto& [settings, key] : cases) {
    host_.logs.clear();
    haveri_plugin_instance* instance = nullptr;
    EXPECT_NE(api_->instance_create(&kHostApi, host_handle(), borrow("test"), borrow(settings),
                                    &instance),
              HAVERI_OK)
        << settings;
    EXPECT_EQ(instance, nullptr);
    EXPECT_TRUE(host_.logged_error_containing(key)) << settings;
  }
}

TEST_F(LocalPluginTest, PostedMessageIsSubmittedAsOneMessageEventBeforeThe200) {
  create_ok();
  const auto response = post({{"channel", "general"}, {"user", "alice"}, {"text", "hello all"}});

  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, (json{{"ok", true}, {"seq", 1}, {"message_id", "1"}}));
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.calls, (std::vector<std::string>{"submit", "respond"}));
  // Keys without a client_message_id carry the instance's epoch (seqs restart with it).
  const std::string epoch = get_messages("")["epoch"];
  EXPECT_EQ(host_.inbound[0].request_id, response.request_id);
  EXPECT_EQ(host_.inbound[0].event, (json{{"v", 1},
                                          {"type", "message"},
                                          {"idempotency_key", "local:test:" + epoch + ":seq-1"},
                                          {"installation", "test"},
                                          {"channel", {{"id", "general"}, {"name", "general"}}},
                                          {"user", {{"id", "alice"}, {"name", "alice"}}},
                                          {"text", "hello all"},
                                          {"message_id", "1"}}));
}

TEST_F(LocalPluginTest, IncidentLineIsSubmittedAsACommand) {
  create_ok();
  const auto response = post({{"channel", "general"},
                              {"user", "alice"},
                              {"text", "  /incident declare x sev1  "},
                              {"client_message_id", "0123abcd"}});

  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(host_.inbound.size(), 1U);
  const json& event = host_.inbound[0].event;
  EXPECT_EQ(event["type"], "command");
  EXPECT_EQ(event["text"], "declare x sev1");
  EXPECT_EQ(event["idempotency_key"], "local:test:alice:0123abcd");
  EXPECT_EQ(event["message_id"], "1");
}

TEST_F(LocalPluginTest, OnlyTheWordIncidentMakesACommand) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "/incident"}});
  post({{"channel", "general"}, {"user", "alice"}, {"text", "/incidents are fun"}});

  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[0].event["type"], "command");
  EXPECT_EQ(host_.inbound[0].event["text"], "");
  EXPECT_EQ(host_.inbound[1].event["type"], "message");
  EXPECT_EQ(host_.inbound[1].event["text"], "/incidents are fun");
}

TEST_F(LocalPluginTest, RetryWithTheSameClientMessageIdIsShownOnceAndSubmittedAgain) {
  create_ok();
  const json message = {
      {"channel", "general"}, {"user", "bob"}, {"text", "hi"}, {"client_message_id", "feed"}};
  const auto first = post(message);
  const auto second = post(message);

  EXPECT_EQ(first.body["seq"], 1);
  EXPECT_EQ(second.body["seq"], 1);
  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[0].event, host_.inbound[1].event);
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{1}));
}

// The host remembers idempotency keys across restarts, while seqs start again from 1:
// the first line after a restart must not look like a repeat of the old first line.
TEST_F(LocalPluginTest, LinesWithoutClientIdGetNewKeysAfterARestart) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "before"}});
  api_->instance_destroy(instance_);
  instance_ = nullptr;
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "after"}});

  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[0].event["message_id"], "1");
  EXPECT_EQ(host_.inbound[1].event["message_id"], "1");
  EXPECT_NE(host_.inbound[0].event["idempotency_key"], host_.inbound[1].event["idempotency_key"]);
  EXPECT_EQ(host_.inbound[1].event["idempotency_key"],
            "local:test:" + get_messages("")["epoch"].get<std::string>() + ":seq-1");
}

TEST_F(LocalPluginTest, TheSameClientIdFromTwoUsersIsTwoLines) {
  create_ok();
  const auto alice = post(
      {{"channel", "general"}, {"user", "alice"}, {"text", "a"}, {"client_message_id", "m-1"}});
  const auto bob =
      post({{"channel", "general"}, {"user", "bob"}, {"text", "b"}, {"client_message_id", "m-1"}});

  EXPECT_EQ(alice.body["seq"], 1);
  EXPECT_EQ(bob.body["seq"], 2);
  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[0].event["idempotency_key"], "local:test:alice:m-1");
  EXPECT_EQ(host_.inbound[1].event["idempotency_key"], "local:test:bob:m-1");
  json page = get_messages("channel=general");
  EXPECT_EQ(seqs(page), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(page["messages"][0]["from"], "alice");
  EXPECT_EQ(page["messages"][1]["from"], "bob");
}

TEST_F(LocalPluginTest, InvalidPostsGet400AndSubmitNothing) {
  create_ok();
  const std::vector<std::string> bodies = {
      "not json",
      "[1,2]",
      json{{"channel", "General"}, {"user", "alice"}, {"text", "x"}}.dump(),
      json{{"channel", "-general"}, {"user", "alice"}, {"text", "x"}}.dump(),
      json{{"channel", std::string(81, 'a')}, {"user", "alice"}, {"text", "x"}}.dump(),
      json{{"user", "alice"}, {"text", "x"}}.dump(),
      json{{"channel", "general"}, {"user", "alice smith"}, {"text", "x"}}.dump(),
      json{{"channel", "general"}, {"user", std::string(65, 'a')}, {"text", "x"}}.dump(),
      json{{"channel", "general"}, {"user", "alice"}, {"text", ""}}.dump(),
      json{{"channel", "general"}, {"user", "alice"}, {"text", 5}}.dump(),
      json{{"channel", "general"}, {"user", "alice"}, {"text", std::string(4001, 'x')}}.dump(),
      json{{"channel", "general"}, {"user", "alice"}, {"text", "x"}, {"client_message_id", 3}}
          .dump(),
  };
  for (const std::string& body : bodies) {
    const auto response = request("POST", "/messages", "", body);
    EXPECT_EQ(response.status, 400) << body;
    EXPECT_TRUE(response.body.contains("error")) << body;
  }
  EXPECT_TRUE(host_.inbound.empty());
  EXPECT_EQ(get_messages("")["last_seq"], 0);

  // The limit itself is fine.
  EXPECT_EQ(
      post({{"channel", "general"}, {"user", "alice"}, {"text", std::string(4000, 'x')}}).status,
      200);
}

TEST_F(LocalPluginTest, GetMessagesPagesForwardByAfterAndLimit) {
  create_ok();
  for (int i = 1; i <= 5; ++i) {
    post({{"channel", "general"}, {"user", "alice"}, {"text", "line " + std::to_string(i)}});
  }
  post({{"channel", "ops"}, {"user", "bob"}, {"text", "elsewhere"}});

  json first = get_messages("channel=general&after=0&limit=2");
  EXPECT_EQ(seqs(first), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(first["last_seq"], 6);
  EXPECT_EQ(first["messages"][0], (json{{"seq", 1},
                                        {"id", "1"},
                                        {"channel", "general"},
                                        {"from", "alice"},
                                        {"bot", false},
                                        {"text", "line 1"},
                                        {"at_ms", first["messages"][0]["at_ms"]}}));
  EXPECT_GT(first["messages"][0]["at_ms"].get<std::int64_t>(), 1700000000000);
  EXPECT_EQ(seqs(get_messages("channel=general&after=2&limit=2")),
            (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(seqs(get_messages("channel=general&after=4")), (std::vector<std::uint64_t>{5}));
  EXPECT_TRUE(get_messages("channel=general&after=5")["messages"].empty());
  EXPECT_EQ(seqs(get_messages("channel=general&limit=100000")),
            (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(seqs(get_messages("after=3")), (std::vector<std::uint64_t>{4, 5, 6}));

  json unknown = get_messages("channel=nobody-here");
  EXPECT_TRUE(unknown["messages"].empty());
  EXPECT_EQ(unknown["last_seq"], 6);

  for (const std::string_view query :
       {"channel=general&after=x", "channel=general&after=-1", "channel=general&limit=0",
        "channel=general&limit=ten", "channel=Not%20Valid"}) {
    EXPECT_EQ(request("GET", "/messages", query).status, 400) << query;
  }
}

TEST_F(LocalPluginTest, EpochTellsReadersThatSeqsStartedOver) {
  create_ok();
  json epoch = get_messages("")["epoch"];
  ASSERT_TRUE(epoch.is_string());
  EXPECT_EQ(get_messages("channel=general")["epoch"], epoch);

  // A new instance (what a haverid restart gives) numbers from 1 again, in a new epoch.
  api_->instance_destroy(instance_);
  instance_ = nullptr;
  create_ok();
  EXPECT_NE(get_messages("")["epoch"], epoch);
}

TEST_F(LocalPluginTest, HistoryLimitDropsTheOldestMessages) {
  create_ok(R"({"history_limit":3})");
  for (int i = 1; i <= 5; ++i) {
    post({{"channel", "general"}, {"user", "alice"}, {"text", "line " + std::to_string(i)}});
  }
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_EQ(
      request("GET", "/channels").body,
      (json{
          {"channels",
           {{{"name", "general"}, {"topic", ""}, {"messages", 3}, {"members", json::array()}}}}}));
}

TEST_F(LocalPluginTest, MaxChannelsRefusesANewChannel) {
  create_ok(R"({"max_channels":1})");
  EXPECT_EQ(post({{"channel", "general"}, {"user", "alice"}, {"text", "a"}}).status, 200);
  const auto refused = post({{"channel", "other"}, {"user", "alice"}, {"text", "b"}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body["error"].get<std::string>().find("max_channels"), std::string::npos);
  EXPECT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(operate({{"v", 1}, {"type", "create_channel"}, {"name", "inc-1"}})["status"],
            "permanent");
}

TEST_F(LocalPluginTest, CreateChannelAgainWithTheSameKeyReturnsTheSameChannel) {
  create_ok();
  const json create_op = {{"v", 1},
                          {"type", "create_channel"},
                          {"operation_key", "INC-1:1-1:0"},
                          {"name", "inc-1-db-down"},
                          {"topic", "DB down"}};
  const json expected = {{"v", 1},
                         {"status", "ok"},
                         {"channel", {{"id", "inc-1-db-down"}, {"name", "inc-1-db-down"}}}};
  EXPECT_EQ(operate(create_op), expected);
  EXPECT_EQ(operate(create_op), expected);
  EXPECT_EQ(request("GET", "/channels").body, (json{{"channels",
                                                     {{{"name", "inc-1-db-down"},
                                                       {"topic", "DB down"},
                                                       {"messages", 0},
                                                       {"members", json::array()}}}}}));

  json bad = operate({{"v", 1}, {"type", "create_channel"}, {"name", "Bad Name"}});
  EXPECT_EQ(bad["status"], "permanent");
  EXPECT_TRUE(bad["error"].is_string());
}

TEST_F(LocalPluginTest, ANameTakenByAnythingElseIsRefusedWithNameTaken) {
  create_ok();
  const auto create_op = [](const std::string& name, const std::string& key) {
    json operation = {{"v", 1}, {"type", "create_channel"}, {"name", name}};
    if (!key.empty()) {
      operation["operation_key"] = key;
    }
    return operation;
  };
  ASSERT_EQ(operate(create_op("inc-1-fire", "INC-1:1-1:0"))["status"], "ok");

  // Another incident (another key) asking for the same name, or no key at all.
  for (const std::string key : {"INC-2:1-1:0", ""}) {
    json taken = operate(create_op("inc-1-fire", key));
    EXPECT_EQ(taken["status"], "permanent") << key;
    EXPECT_EQ(taken["error_code"], "name_taken") << key;
    EXPECT_NE(taken["error"].get<std::string>().find("#inc-1-fire"), std::string::npos);
  }
  // The host then tries the next name.
  EXPECT_EQ(operate(create_op("inc-1-fire-2", "INC-2:1-1:0"))["channel"]["id"], "inc-1-fire-2");

  // A channel people made by talking in it belongs to no operation.
  post({{"channel", "inc-3-flood"}, {"user", "alice"}, {"text", "water!"}});
  EXPECT_EQ(operate(create_op("inc-3-flood", "INC-3:1-1:0"))["error_code"], "name_taken");

  // Without an operation_key even a repeat cannot be told from a clash.
  ASSERT_EQ(operate(create_op("inc-4-smoke", ""))["status"], "ok");
  EXPECT_EQ(operate(create_op("inc-4-smoke", ""))["error_code"], "name_taken");
}

TEST_F(LocalPluginTest, TheSameKeyFindsItsChannelEvenAfterTheKeyCacheForgotIt) {
  create_ok(R"({"history_limit":5})");
  const json create_op = {
      {"v", 1}, {"type", "create_channel"}, {"operation_key", "INC-1:1-1:0"}, {"name", "inc-1-x"}};
  ASSERT_EQ(operate(create_op)["status"], "ok");
  for (int key = 0; key <= 1000; ++key) {  // pushes INC-1:1-1:0 out of the remembered keys
    ASSERT_EQ(operate({{"v", 1},
                       {"type", "post_message"},
                       {"operation_key", "filler-" + std::to_string(key)},
                       {"channel", {{"id", "general"}}},
                       {"message", {{"text", "x"}}}})["status"],
              "ok");
  }
  json again = operate(create_op);
  EXPECT_EQ(again["status"], "ok") << again.dump();
  EXPECT_EQ(again["channel"]["id"], "inc-1-x");
}

TEST_F(LocalPluginTest, CreateChannelWithMembersInvitesThem) {
  create_ok();
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "create_channel"},
                     {"operation_key", "k"},
                     {"name", "inc-5-leak"},
                     {"members", {"alice", "bob"}}})["status"],
            "ok");
  json channels = request("GET", "/channels").body;
  EXPECT_EQ(channels["channels"][0]["members"], (json{"alice", "bob"}));
  json page = get_messages("channel=inc-5-leak");
  ASSERT_EQ(page["messages"].size(), 1U);
  EXPECT_EQ(page["messages"][0]["text"], "alice and bob were added to #inc-5-leak");
  EXPECT_EQ(page["messages"][0]["system"], true);

  EXPECT_EQ(operate({{"v", 1},
                     {"type", "create_channel"},
                     {"name", "inc-6-x"},
                     {"members", {"alice", "not a user"}}})["status"],
            "permanent");
  EXPECT_EQ(operate({{"v", 1},
                     {"type", "create_channel"},
                     {"name", "inc-7-x"},
                     {"members", "bob"}})["status"],
            "permanent");
}

TEST_F(LocalPluginTest, PostMessageRendersTheCardAsPlainText) {
  create_ok(R"({"bot_name":"Pager"})");
  const json result =
      operate({{"v", 1},
               {"type", "post_message"},
               {"channel", {{"id", "inc-1-db-down"}}},
               {"message",
                {{"title", "INC-1 · Database down"},
                 {"text", "Declared by *alice*.\nJoin #inc-1-db-down"},
                 {"fields",
                  {{{"label", "Status"}, {"value", "DECLARED"}},
                   {{"label", "Severity"}, {"value", "SEV1"}}}},
                 {"actions",
                  {{{"label", "Investigating"}, {"command", "status investigating"}},
                   {{"label", "Resolved"}, {"command", "status resolved"}}}},
                 {"context", "Type /incident help for commands"}}}});
  EXPECT_EQ(result, (json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}}));
  EXPECT_TRUE(host_.inbound.empty());

  json page = get_messages("channel=inc-1-db-down");
  ASSERT_EQ(page["messages"].size(), 1U);
  const json& message = page["messages"][0];
  EXPECT_EQ(message["bot"], true);
  EXPECT_EQ(message["from"], "Pager");
  EXPECT_EQ(message["id"], "1");
  // Title, text, aligned fields, numbered buttons, context: in that order.
  EXPECT_EQ(message["text"],
            "\xE2\x94\x83 INC-1 \xC2\xB7 Database down\n"
            "\xE2\x94\x83 Declared by *alice*.\n"
            "\xE2\x94\x83 Join #inc-1-db-down\n"
            "\xE2\x94\x83 Status:   DECLARED\n"
            "\xE2\x94\x83 Severity: SEV1\n"
            "\xE2\x94\x83 [1 Investigating] [2 Resolved]\n"
            "\xE2\x94\x83 Type /incident help for commands");
  // The neutral message comes along, so a client can press a button by its number.
  EXPECT_EQ(message["message"]["actions"][1]["command"], "status resolved");
}

TEST_F(LocalPluginTest, AFormIsRenderedAsItsTitleAndItsInputs) {
  create_ok();
  const json form = {
      {"id", "resolve:7"},
      {"title", "Resolve INC-7"},
      {"submit_label", "Resolve"},
      {"inputs",
       {{{"name", "what_happened"},
         {"label", "What happened"},
         {"kind", "multiline"},
         {"required", true},
         {"max_length", 10240}},
        {{"name", "severity"},
         {"label", "Severity"},
         {"kind", "select"},
         {"required", true},
         {"options",
          {{{"value", "sev1"}, {"label", "SEV1 \xE2\x80\x94 line down"}},
           {{"value", "sev2"}, {"label", "SEV2"}}}}},
        {{"name", "lost_units"}, {"label", "Units lost"}, {"kind", "number"}},
        {{"name", "since"}, {"label", "Since"}, {"kind", "date"}, {"placeholder", "2026-11-24"}},
        {{"name", "owner"}, {"kind", "user"}, {"initial", "alice"}},
        {{"name", "note"}, {"label", "Note"}, {"kind", "hologram"}}}}};
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "post_message"},
                     {"channel", {{"id", "inc-7-x"}}},
                     {"message",
                      {{"title", "INC-7 resolved?"},
                       {"actions",
                        {{{"label", "Acknowledge"}, {"command", "ack"}, {"style", "primary"}},
                         {{"label", "no command: not a button"}},
                         {{"label", "Close"}, {"command", "status closed"}, {"style", "danger"}}}},
                       {"form", form},
                       {"context", "Haveri"}}}})["status"],
            "ok");
  json page = get_messages("channel=inc-7-x");
  ASSERT_EQ(page["messages"].size(), 1U);
  EXPECT_EQ(
      page["messages"][0]["text"],
      "\xE2\x94\x83 INC-7 resolved?\n"
      "\xE2\x94\x83 [1 Acknowledge] [2 Close]\n"
      "\xE2\x94\x83 Form: Resolve INC-7 (type /form to fill it in)\n"
      "\xE2\x94\x83   What happened *  multiline, at most 10240 characters\n"
      "\xE2\x94\x83   Severity *       one of: sev1 (SEV1 \xE2\x80\x94 line down), sev2 (SEV2)\n"
      "\xE2\x94\x83   Units lost       number\n"
      "\xE2\x94\x83   Since            date, e.g. 2026-11-24\n"
      "\xE2\x94\x83   owner            user, default: alice\n"
      "\xE2\x94\x83   Note             text\n"
      "\xE2\x94\x83   * required \xC2\xB7 submit: Resolve\n"
      "\xE2\x94\x83 Haveri");
  EXPECT_EQ(page["messages"][0]["message"]["form"], form);
}

TEST_F(LocalPluginTest, LongLimitsAndLongDefaultsAreTakenAndShownShort) {
  create_ok();
  const json form = {
      {"id", "followup:7"},
      {"inputs",
       {{{"name", "description"},
         {"label", "What must be done"},
         {"kind", "multiline"},
         {"max_length", 16000},
         {"initial", "Replace the seal of pump 2\nthen check valves 3 and 4 too"}}}}};
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "post_message"},
                     {"channel", {{"id", "inc-7-x"}}},
                     {"message", {{"form", form}}}})["status"],
            "ok");
  EXPECT_EQ(get_messages("channel=inc-7-x")["messages"][0]["text"],
            "\xE2\x94\x83 Form: followup:7 (type /form to fill it in)\n"
            "\xE2\x94\x83   What must be done    multiline, at most 16000 characters, default: "
            "Replace the seal of pump 2 then check va\xE2\x80\xA6");
  EXPECT_EQ(post({{"channel", "inc-7-x"},
                  {"user", "alice"},
                  {"form_id", "followup:7"},
                  {"values", {{"description", std::string(12000, 'x')}}}})
                .status,
            200);
}

TEST_F(LocalPluginTest, MalformedFormsAreRefusedPermanently) {
  create_ok();
  const std::vector<json> forms = {
      "a form",
      json::object(),  // no id
      {{"id", "has space"}},
      {{"id", "f"}, {"inputs", "none"}},
      {{"id", "f"}, {"inputs", {{{"label", "no name"}}}}},
      {{"id", "f"}, {"inputs", {{{"name", "a"}}, {{"name", "a"}}}}},     // a name twice
      {{"id", "f"}, {"inputs", {{{"name", "a"}, {"kind", "select"}}}}},  // no options
      {{"id", "f"}, {"inputs", {{{"name", "a"}, {"required", "yes"}}}}},
      {{"id", "f"}, {"inputs", {{{"name", "a"}, {"max_length", -1}}}}},
      {{"id", "f"}, {"inputs", {{{"name", "a"}, {"max_length", "10"}}}}},
      {{"id", "f"}, {"title", 7}},
      {{"id", "f"},
       {"inputs", {{{"name", "a"}, {"kind", "select"}, {"options", {{{"label", "no value"}}}}}}}},
  };
  for (const json& form : forms) {
    json result = operate({{"v", 1},
                           {"type", "post_message"},
                           {"channel", {{"id", "general"}}},
                           {"message", {{"text", "x"}, {"form", form}}}});
    EXPECT_EQ(result["status"], "permanent") << form.dump();
    EXPECT_EQ(result["error_code"], "invalid") << form.dump();
  }
  EXPECT_TRUE(get_messages("")["messages"].empty());
}

TEST_F(LocalPluginTest, ARetriedOperationKeyIsAnsweredWithoutPostingAgain) {
  create_ok();
  const json card = {{"text", "INC-1 declared"}};
  json operation = {{"v", 1},
                    {"type", "post_message"},
                    {"operation_key", "op-1"},
                    {"channel", {{"id", "general"}}},
                    {"message", card}};
  json first = operate(operation);
  EXPECT_EQ(first, (json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}}));
  EXPECT_EQ(operate(operation), first);
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{1}));

  // Another key, or none, is another operation.
  operation["operation_key"] = "op-2";
  EXPECT_EQ(operate(operation)["message_id"], "2");
  operation.erase("operation_key");
  EXPECT_EQ(operate(operation)["message_id"], "3");
  EXPECT_EQ(operate(operation)["message_id"], "4");
  operation["operation_key"] = nullptr;
  EXPECT_EQ(operate(operation)["message_id"], "5");
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));

  // create_channel too: the remembered result comes back.
  const json create_op = {
      {"v", 1}, {"type", "create_channel"}, {"operation_key", "op-3"}, {"name", "inc-1"}};
  json created = operate(create_op);
  EXPECT_EQ(created["status"], "ok");
  EXPECT_EQ(operate(create_op), created);

  // A non-string key is a malformed operation.
  operation["operation_key"] = 7;
  json bad = operate(operation);
  EXPECT_EQ(bad["status"], "permanent");
  EXPECT_TRUE(bad["error"].is_string());
}

TEST_F(LocalPluginTest, AFailedOperationIsNotRemembered) {
  create_ok(R"({"max_channels":1})");
  ASSERT_EQ(operate({{"v", 1}, {"type", "create_channel"}, {"name", "general"}})["status"], "ok");
  const json post_op = {{"v", 1},
                        {"type", "post_message"},
                        {"operation_key", "op-1"},
                        {"channel", {{"id", "other"}}},
                        {"message", {{"text", "x"}}}};
  EXPECT_EQ(operate(post_op)["status"], "permanent");
  EXPECT_EQ(operate(post_op)["status"], "permanent");
  EXPECT_TRUE(get_messages("")["messages"].empty());
}

TEST_F(LocalPluginTest, OnlyTheNewestThousandOperationKeysAreRemembered) {
  create_ok(R"({"history_limit":10})");
  const auto post_op = [](int key) {
    return json{{"v", 1},
                {"type", "post_message"},
                {"operation_key", "op-" + std::to_string(key)},
                {"channel", {{"id", "general"}}},
                {"message", {{"text", "x"}}}};
  };
  for (int key = 0; key <= 1000; ++key) {
    ASSERT_EQ(operate(post_op(key))["status"], "ok");
  }
  // op-0 was forgotten (1001 keys since); op-1 is still remembered.
  EXPECT_EQ(operate(post_op(1))["message_id"], "2");
  EXPECT_EQ(operate(post_op(0))["message_id"], "1002");
}

TEST_F(LocalPluginTest, MalformedOrUnknownOperationsFailPermanently) {
  create_ok();
  for (const std::string_view operation :
       {R"({"v":1,"type":"launch_rocket"})", R"(not json)", R"({"v":1})",
        R"({"v":2,"type":"create_channel","name":"x"})",
        R"({"v":1,"type":"post_message","message":{"text":"x"}})",
        R"({"v":1,"type":"post_message","channel":{"id":"general"}})",
        R"({"v":1,"type":"post_message","channel":{"id":"general"},"message":{}})",
        R"({"v":1,"type":"invite","channel":{"id":"general"}})",
        R"({"v":1,"type":"invite","channel":{"id":"general"},"users":[]})",
        R"({"v":1,"type":"invite","channel":{"id":"general"},"users":"alice"})",
        R"({"v":1,"type":"invite","users":["alice"]})",
        R"({"v":1,"type":"update_message","channel":{"id":"general"},"message":{"text":"x"}})",
        R"({"v":1,"type":"update_message","channel":{"id":"general"},"message_id":"1"})"}) {
    json result = operate_raw(operation);
    EXPECT_EQ(result["v"], 1) << operation;
    EXPECT_EQ(result["status"], "permanent") << operation;
    EXPECT_TRUE(result["error"].is_string()) << operation;
    EXPECT_TRUE(result["error_code"].is_string()) << operation;
  }
  EXPECT_EQ(operate_raw(R"({"v":1,"type":"launch_rocket"})")["error_code"],
            "unsupported_operation");
  for (const json& visible_to : {json("not a user"), json(7), json::array()}) {
    json result = operate({{"v", 1},
                           {"type", "post_message"},
                           {"channel", {{"id", "general"}}},
                           {"message", {{"text", "x"}}},
                           {"visible_to", visible_to}});
    EXPECT_EQ(result["error_code"], "invalid") << visible_to;
  }
  EXPECT_TRUE(get_messages("")["messages"].empty());
}

TEST_F(LocalPluginTest, UnknownPathIs404AndWrongMethodIs405) {
  create_ok();
  const auto missing = request("GET", "/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.body["error"].is_string());
  EXPECT_EQ(request("DELETE", "/messages").status, 405);
  EXPECT_EQ(request("POST", "/channels", "", "{}").status, 405);
  EXPECT_TRUE(host_.inbound.empty());
}

// ---------------------------------------------------------------------------------
// Inbound events beyond message and command.

TEST_F(LocalPluginTest, EveryEventNamesTheInstallationItCameFrom) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "hi"}});
  post({{"channel", "general"}, {"user", "alice"}, {"text", "/incident help"}});
  post({{"channel", "general"}, {"user", "alice"}, {"edit_of", "1"}, {"text", "hello"}});
  post({{"channel", "general"}, {"user", "alice"}, {"delete", "1"}});
  ASSERT_EQ(host_.inbound.size(), 4U);
  for (const auto& inbound : host_.inbound) {
    EXPECT_EQ(inbound.event["installation"], "test") << inbound.event.dump();  // the instance
  }
  api_->instance_destroy(instance_);
  instance_ = nullptr;

  create_ok(R"({"installation":"T0PLANTA"})");
  post({{"channel", "general"}, {"user", "alice"}, {"text", "hi"}});
  ASSERT_EQ(host_.inbound.size(), 5U);
  EXPECT_EQ(host_.inbound.back().event["installation"], "T0PLANTA");
}

TEST_F(LocalPluginTest, AttachmentsAreSubmittedAsReferencesNeverBytes) {
  create_ok();
  const auto response = post({{"channel", "general"},
                              {"user", "alice"},
                              {"text", "the log and a photo"},
                              {"thread_id", "41"},
                              {"files",
                               {{{"name", "pump.log"}, {"size", 12345}},
                                {{"id", "photo-1"},
                                 {"name", "valve.jpg"},
                                 {"size", 0},
                                 {"url", "https://files.example/valve.jpg"},
                                 {"mimetype", "image/jpeg"}}}}});
  ASSERT_EQ(response.status, 200) << response.body.dump();
  ASSERT_EQ(host_.inbound.size(), 1U);
  const json& event = host_.inbound[0].event;
  EXPECT_EQ(event["type"], "message");
  EXPECT_EQ(event["thread_id"], "41");
  const json expected_files = {{{"id", "F1-1"},
                                {"name", "pump.log"},
                                {"size", 12345},
                                {"url", "local://test/files/F1-1"},
                                {"mimetype", "application/octet-stream"}},
                               {{"id", "photo-1"},
                                {"name", "valve.jpg"},
                                {"size", 0},
                                {"url", "https://files.example/valve.jpg"},
                                {"mimetype", "image/jpeg"}}};
  EXPECT_EQ(event["files"], expected_files);
  json page = get_messages("channel=general");
  EXPECT_EQ(page["messages"][0]["files"], expected_files);
  EXPECT_EQ(page["messages"][0]["thread_id"], "41");

  // A file alone is a message too.
  ASSERT_EQ(post({{"channel", "general"},
                  {"user", "bob"},
                  {"files", {{{"name", "trend.csv"}, {"size", 99}}}}})
                .status,
            200);
  EXPECT_EQ(host_.inbound.back().event["text"], "");
  EXPECT_EQ(host_.inbound.back().event["files"][0]["id"], "F2-1");
}

TEST_F(LocalPluginTest, AnEditChangesTheLineForPollersAndIsSubmittedAsMessageChanged) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "pump 2 tripped"}});
  post({{"channel", "general"}, {"user", "bob"}, {"text", "on it"}});
  const std::uint64_t cursor = get_messages("channel=general")["last_seq"];

  const auto response = post({{"channel", "general"},
                              {"user", "alice"},
                              {"edit_of", "1"},
                              {"text", "pump 3 tripped"},
                              {"client_message_id", "e-1"}});
  ASSERT_EQ(response.status, 200) << response.body.dump();
  EXPECT_EQ(response.body, (json{{"ok", true}, {"seq", 3}, {"message_id", "1"}}));
  ASSERT_EQ(host_.inbound.size(), 3U);
  EXPECT_EQ(host_.inbound[2].event, (json{{"v", 1},
                                          {"type", "message_changed"},
                                          {"idempotency_key", "local:test:alice:e-1"},
                                          {"installation", "test"},
                                          {"channel", {{"id", "general"}, {"name", "general"}}},
                                          {"user", {{"id", "alice"}, {"name", "alice"}}},
                                          {"message_id", "1"},
                                          {"text", "pump 3 tripped"}}));

  // A poller that had read everything sees the new version, once, with its old id.
  json fresh = get_messages("channel=general&after=" + std::to_string(cursor));
  ASSERT_EQ(fresh["messages"].size(), 1U);
  EXPECT_EQ(fresh["messages"][0]["id"], "1");
  EXPECT_EQ(fresh["messages"][0]["seq"], 3);
  EXPECT_EQ(fresh["messages"][0]["text"], "pump 3 tripped");
  EXPECT_EQ(fresh["messages"][0]["edited"], true);
  // Read from the start, the channel holds each message once.
  json all = get_messages("channel=general");
  EXPECT_EQ(seqs(all), (std::vector<std::uint64_t>{2, 3}));

  // A retry shows nothing new and submits the same event again.
  EXPECT_EQ(post({{"channel", "general"},
                  {"user", "alice"},
                  {"edit_of", "1"},
                  {"text", "pump 3 tripped"},
                  {"client_message_id", "e-1"}})
                .body,
            response.body);
  ASSERT_EQ(host_.inbound.size(), 4U);
  EXPECT_EQ(host_.inbound[3].event, host_.inbound[2].event);
  EXPECT_EQ(get_messages("")["last_seq"], 3);
}

TEST_F(LocalPluginTest, OnlyTheAuthorMayEditOrDeleteAndOnlyWhatExists) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "mine"}});
  operate({{"v", 1},
           {"type", "post_message"},
           {"channel", {{"id", "general"}}},
           {"message", {{"text", "the bot's"}}}});
  const std::size_t before = host_.inbound.size();

  const auto not_hers =
      post({{"channel", "general"}, {"user", "bob"}, {"edit_of", "1"}, {"text", "x"}});
  EXPECT_EQ(not_hers.status, 403);
  EXPECT_NE(not_hers.body["error"].get<std::string>().find("alice's"), std::string::npos);
  EXPECT_EQ(post({{"channel", "general"}, {"user", "bob"}, {"delete", "1"}}).status, 403);
  EXPECT_EQ(post({{"channel", "general"}, {"user", "alice"}, {"delete", "2"}}).status, 403);
  EXPECT_EQ(post({{"channel", "general"}, {"user", "alice"}, {"delete", "99"}}).status, 404);
  EXPECT_EQ(post({{"channel", "elsewhere"}, {"user", "alice"}, {"delete", "1"}}).status, 404);
  EXPECT_EQ(host_.inbound.size(), before);
  EXPECT_EQ(get_messages("channel=general")["messages"][0]["text"], "mine");
  EXPECT_TRUE(request("GET", "/channels").body["channels"].size() == 1U)
      << "a failed edit creates no channel";
}

TEST_F(LocalPluginTest, ADeletionBlanksTheLineAndIsSubmittedAsMessageDeleted) {
  create_ok();
  post({{"channel", "general"},
        {"user", "alice"},
        {"text", "secret"},
        {"files", {{{"name", "a.txt"}, {"size", 1}}}}});
  const auto response = post({{"channel", "general"}, {"user", "alice"}, {"delete", "1"}});
  ASSERT_EQ(response.status, 200) << response.body.dump();
  const std::string epoch = get_messages("")["epoch"];
  ASSERT_EQ(host_.inbound.size(), 2U);
  EXPECT_EQ(host_.inbound[1].event, (json{{"v", 1},
                                          {"type", "message_deleted"},
                                          {"idempotency_key", "local:test:" + epoch + ":seq-2"},
                                          {"installation", "test"},
                                          {"channel", {{"id", "general"}, {"name", "general"}}},
                                          {"user", {{"id", "alice"}, {"name", "alice"}}},
                                          {"message_id", "1"}}));
  json page = get_messages("channel=general&after=1");
  ASSERT_EQ(page["messages"].size(), 1U);
  EXPECT_EQ(page["messages"][0]["id"], "1");
  EXPECT_EQ(page["messages"][0]["deleted"], true);
  EXPECT_EQ(page["messages"][0]["text"], "");
  EXPECT_FALSE(page["messages"][0].contains("files"));
  // Gone is gone.
  EXPECT_EQ(post({{"channel", "general"}, {"user", "alice"}, {"delete", "1"}}).status, 404);
  EXPECT_EQ(
      post({{"channel", "general"}, {"user", "alice"}, {"edit_of", "1"}, {"text", "x"}}).status,
      404);
}

class LocalPluginFormTest : public LocalPluginTest {
 protected:
  void SetUp() override {
    LocalPluginTest::SetUp();
    create_ok();
    // What the daemon would post to resolve INC-7.
    json posted = operate({{"v", 1},
                           {"type", "post_message"},
                           {"channel", {{"id", "inc-7-x"}}},
                           {"message",
                            {{"title", "Resolve INC-7"},
                             {"form",
                              {{"id", "resolve:7"},
                               {"title", "Resolve INC-7"},
                               {"inputs",
                                {{{"name", "what_happened"},
                                  {"label", "What happened"},
                                  {"kind", "multiline"},
                                  {"required", true},
                                  {"max_length", 40}},
                                 {{"name", "severity"},
                                  {"kind", "select"},
                                  {"options", {{{"value", "sev1"}}, {{"value", "sev2"}}}}},
                                 {{"name", "units"}, {"kind", "number"}},
                                 {{"name", "since"}, {"kind", "date"}},
                                 {{"name", "owner"}, {"kind", "user"}},
                                 {{"name", "summary"}, {"label", "Summary"}}}}}}}}});
    ASSERT_EQ(posted["message_id"], "1");
  }

  FakeHost::Response submit(const json& values, const std::string& user = "alice") {
    return post(
        {{"channel", "inc-7-x"}, {"user", user}, {"form_id", "resolve:7"}, {"values", values}});
  }
};

TEST_F(LocalPluginFormTest, ASubmissionIsAFormSubmissionEventWithTheValues) {
  const json values = {{"what_happened", "pump 2 tripped\nrestarted it"},
                       {"severity", "sev1"},
                       {"units", "-1.5"},
                       {"since", "2024-02-29"},
                       {"owner", "bob"},
                       {"summary", ""}};
  const auto response = post({{"channel", "inc-7-x"},
                              {"user", "alice"},
                              {"form_id", "resolve:7"},
                              {"values", values},
                              {"client_message_id", "f-1"}});
  ASSERT_EQ(response.status, 200) << response.body.dump();
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.inbound[0].event, (json{{"v", 1},
                                          {"type", "form_submission"},
                                          {"idempotency_key", "local:test:alice:f-1"},
                                          {"installation", "test"},
                                          {"channel", {{"id", "inc-7-x"}, {"name", "inc-7-x"}}},
                                          {"user", {{"id", "alice"}, {"name", "alice"}}},
                                          {"form_id", "resolve:7"},
                                          {"values", values},
                                          {"message_id", "1"}}));
  // Nothing is shown in the channel: the card is still the only line.
  EXPECT_EQ(get_messages("channel=inc-7-x")["messages"].size(), 1U);
  // Only the required input is needed.
  EXPECT_EQ(submit({{"what_happened", "x"}}).status, 200);
  EXPECT_EQ(host_.inbound.size(), 2U);
}

TEST_F(LocalPluginFormTest, AnswersTheFormWouldNotTakeAre400AndSubmitNothing) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::object(), "What happened is required"},
      {{{"what_happened", ""}}, "What happened is required"},
      {{{"what_happened", std::string(41, 'x')}}, "at most 40 characters"},
      {{{"what_happened", "ok"}, {"severity", "sev9"}}, "one of sev1, sev2"},
      {{{"what_happened", "ok"}, {"units", "12 pcs"}}, "number"},
      {{{"what_happened", "ok"}, {"units", "1e5"}}, "number"},
      {{{"what_happened", "ok"}, {"since", "2026-12-01\n"}}, "one line"},
      {{{"what_happened", "ok"}, {"summary", "two\nlines"}}, "one line"},
      {{{"what_happened", "ok"}, {"colour", "red"}}, "no input \"colour\""},
      {{{"what_happened", 5}}, "must be a string"},
  };
  for (const auto& [values, error] : cases) {
    const auto response = submit(values);
    EXPECT_EQ(response.status, 400) << values.dump();
    EXPECT_NE(response.body.value("error", "").find(error), std::string::npos)
        << values.dump() << " -> " << response.body.dump();
  }
  // Forty characters are forty code points, not bytes: 20 "x" and 20 "é" (60 bytes).
  std::string forty(20, 'x');
  for (int i = 0; i < 20; ++i) {
    forty += "\xC3\xA9";
  }
  EXPECT_EQ(submit({{"what_happened", forty}}).status, 200);
  EXPECT_EQ(submit({{"what_happened", forty + "x"}}).status, 400);
  // Dates and people are the daemon's to read ("+3d", "@bob"): the transport takes any line.
  EXPECT_EQ(submit({{"what_happened", "x"}, {"since", "+3d"}, {"owner", "@bob"}}).status, 200);
  EXPECT_EQ(host_.inbound.size(), 2U);
}

TEST_F(LocalPluginFormTest, OnlyAFormShownToThePersonCanBeSubmitted) {
  EXPECT_EQ(post({{"channel", "inc-7-x"},
                  {"user", "alice"},
                  {"form_id", "resolve:8"},
                  {"values", {{"what_happened", "x"}}}})
                .status,
            404);
  EXPECT_EQ(post({{"channel", "general"},
                  {"user", "alice"},
                  {"form_id", "resolve:7"},
                  {"values", {{"what_happened", "x"}}}})
                .status,
            404);
  // A form only alice can see.
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "post_message"},
                     {"channel", {{"id", "inc-7-x"}}},
                     {"visible_to", "alice"},
                     {"message", {{"form", {{"id", "note:7"}}}}}})["status"],
            "ok");
  EXPECT_EQ(post({{"channel", "inc-7-x"},
                  {"user", "bob"},
                  {"form_id", "note:7"},
                  {"values", json::object()}})
                .status,
            404);
  EXPECT_EQ(post({{"channel", "inc-7-x"},
                  {"user", "alice"},
                  {"form_id", "note:7"},
                  {"values", json::object()}})
                .status,
            200);
  EXPECT_EQ(host_.inbound.size(), 1U);
}

TEST_F(LocalPluginTest, HostileBodiesForTheNewKindsGet400AndSubmitNothing) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "first"}});
  const std::size_t before = host_.inbound.size();
  const json base = {{"channel", "general"}, {"user", "alice"}};
  const auto with = [&base](const json& extra) {
    json body = base;
    body.update(extra);
    return body.dump();
  };
  const std::vector<std::string> bodies = {
      // files
      with({{"text", "x"}, {"files", "pump.log"}}),
      with({{"text", "x"}, {"files", json::array()}}),
      with({{"text", "x"}, {"files", json::array({1})}}),
      with({{"text", "x"}, {"files", std::vector<json>(11, {{"name", "a"}, {"size", 1}})}}),
      with({{"files", {{{"size", 1}}}}}),
      with({{"files", {{{"name", ""}, {"size", 1}}}}}),
      with({{"files", {{{"name", std::string(256, 'a')}, {"size", 1}}}}}),
      with({{"files", {{{"name", "../etc/passwd"}, {"size", 1}}}}}),
      with({{"files", {{{"name", "a\nb"}, {"size", 1}}}}}),
      with({{"files", {{{"name", "a"}}}}}),
      with({{"files", {{{"name", "a"}, {"size", -1}}}}}),
      with({{"files", {{{"name", "a"}, {"size", "1"}}}}}),
      with({{"files", {{{"name", "a"}, {"size", 1}, {"url", "javascript:alert(1)"}}}}}),
      with({{"files",
             {{{"name", "a"}, {"size", 1}, {"url", "https://x/" + std::string(2048, 'a')}}}}}),
      with({{"files", {{{"name", "a"}, {"size", 1}, {"url", 7}}}}}),
      with({{"files", {{{"name", "a"}, {"size", 1}, {"id", "has space"}}}}}),
      with({{"files", {{{"name", "a"}, {"size", 1}, {"mimetype", "text"}}}}}),
      with({{"files", {{{"name", "a"}, {"size", 1}, {"mimetype", "text/pl ain"}}}}}),
      with({{"text", "/incident declare x"}, {"files", {{{"name", "a"}, {"size", 1}}}}}),
      with({{"text", "x"}, {"thread_id", "abc"}}),
      with({{"text", "x"}, {"thread_id", 4}}),
      // edits and deletions
      with({{"edit_of", "1"}}),
      with({{"edit_of", "1"}, {"text", ""}}),
      with({{"edit_of", "1"}, {"text", std::string(4001, 'x')}}),
      with({{"edit_of", 1}, {"text", "x"}}),
      with({{"edit_of", "one"}, {"text", "x"}}),
      with({{"edit_of", "1"}, {"text", "x"}, {"files", {{{"name", "a"}, {"size", 1}}}}}),
      with({{"delete", 1}}),
      with({{"delete", ""}}),
      with({{"delete", "1"}, {"text", "x"}}),
      with({{"delete", "1"}, {"edit_of", "1"}, {"text", "x"}}),
      // form submissions
      with({{"form_id", "resolve:7"}}),
      with({{"form_id", "resolve:7"}, {"values", "x"}}),
      with({{"form_id", "resolve:7"}, {"values", {{"a", "b"}}}, {"text", "x"}}),
      with({{"form_id", ""}, {"values", json::object()}}),
      with({{"form_id", 7}, {"values", json::object()}}),
      with({{"form_id", "has space"}, {"values", json::object()}}),
      with({{"form_id", "f"}, {"values", {{"a", std::string(65537, 'x')}}}}),
      with({{"form_id", "f"}, {"values", {{"a", nullptr}}}}),
      with({{"form_id", "f"}, {"delete", "1"}, {"values", json::object()}}),
  };
  for (const std::string& body : bodies) {
    const auto response = request("POST", "/messages", "", body);
    EXPECT_EQ(response.status, 400) << body.substr(0, 300);
    EXPECT_TRUE(response.body["error"].is_string()) << body.substr(0, 300);
  }
  EXPECT_EQ(host_.inbound.size(), before);
  json page = get_messages("channel=general");
  EXPECT_EQ(seqs(page), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(page["messages"][0]["text"], "first");
}

// ---------------------------------------------------------------------------------
// Operations beyond create_channel and post_message.

TEST_F(LocalPluginTest, AMessageVisibleToOnePersonIsReadOnlyByThem) {
  create_ok();
  post({{"channel", "general"}, {"user", "alice"}, {"text", "/incident status resolved"}});
  json posted = operate({{"v", 1},
                         {"type", "post_message"},
                         {"channel", {{"id", "general"}}},
                         {"visible_to", "alice"},
                         {"message", {{"text", "Only in an incident channel."}}}});
  ASSERT_EQ(posted["status"], "ok");
  EXPECT_EQ(posted["message_id"], "2");
  operate({{"v", 1},
           {"type", "post_message"},
           {"channel", {{"id", "general"}}},
           {"message", {{"text", "for everyone"}}}});

  json alice = get_messages("channel=general&user=alice");
  EXPECT_EQ(seqs(alice), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(alice["messages"][1]["visible_to"], "alice");
  for (const std::string_view query : {"channel=general&user=bob", "user=bob"}) {
    json other = get_messages(query);
    EXPECT_EQ(seqs(other), (std::vector<std::uint64_t>{1, 3})) << query;
    EXPECT_EQ(other.dump().find("Only in an incident channel"), std::string::npos) << query;
  }
  // A reader who names nobody (a test, a demo watching the channel) sees everything:
  // local chat authenticates no one, so visible_to is for clients to honour.
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(request("GET", "/messages", "user=not%20a%20user").status, 400);
}

TEST_F(LocalPluginTest, APageGoesToThePersonsOwnChannelWithItsButtons) {
  create_ok();
  const json page = {{"title", "Page: INC-1 \xC2\xB7 Fire"},
                     {"actions", {{{"label", "Acknowledge"}, {"command", "ack INC-1"}}}}};
  json result = operate({{"v", 1},
                         {"type", "notify_person"},
                         {"operation_key", "page-1"},
                         {"user", {{"id", "Dave.K"}}},
                         {"message", page}});
  ASSERT_EQ(result["status"], "ok") << result.dump();
  EXPECT_EQ(result["channel"]["id"], "dm-dave-k");
  const json dave = get_messages("channel=dm-dave-k&user=Dave.K");
  ASSERT_EQ(dave["messages"].size(), 1U);
  EXPECT_EQ(dave["messages"][0]["visible_to"], "Dave.K");
  EXPECT_NE(dave["messages"][0]["text"].get<std::string>().find("[1 Acknowledge]"),
            std::string::npos);
  EXPECT_TRUE(get_messages("channel=dm-dave-k&user=alice")["messages"].empty());
  // Retried with the same key: not posted twice.
  EXPECT_EQ(operate({{"v", 1},
                     {"type", "notify_person"},
                     {"operation_key", "page-1"},
                     {"user", {{"id", "Dave.K"}}},
                     {"message", page}})["message_id"],
            result["message_id"]);
  EXPECT_EQ(get_messages("channel=dm-dave-k")["messages"].size(), 1U);
  for (const json& user : {json(nullptr), json::object(), json{{"id", ""}},
                           json{{"id", "no spaces"}}, json{{"id", 7}}}) {
    const json refused =
        operate({{"v", 1}, {"type", "notify_person"}, {"user", user}, {"message", page}});
    EXPECT_EQ(refused["status"], "permanent") << user.dump();
    EXPECT_EQ(refused["error_code"], "invalid") << user.dump();
  }
}

TEST_F(LocalPluginTest, UpdateMessageReplacesTheCardAndPollersSeeTheNewVersion) {
  create_ok();
  const json card = {{"title", "INC-1 \xC2\xB7 Fire"},
                     {"fields", {{{"label", "Status"}, {"value", "DECLARED"}}}}};
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "post_message"},
                     {"channel", {{"id", "inc-1-fire"}}},
                     {"message", card}})["message_id"],
            "1");
  post({{"channel", "inc-1-fire"}, {"user", "alice"}, {"text", "smoke in hall B"}});
  const std::uint64_t cursor = get_messages("channel=inc-1-fire")["last_seq"];  // read all

  json updated_card = card;
  updated_card["fields"][0]["value"] = "INVESTIGATING";
  const json update = {{"v", 1},
                       {"type", "update_message"},
                       {"operation_key", "INC-1:3-3:0"},
                       {"channel", {{"id", "inc-1-fire"}, {"name", "inc-1-fire"}}},
                       {"message_id", "1"},
                       {"message", updated_card}};
  EXPECT_EQ(operate(update), (json{{"v", 1}, {"status", "ok"}, {"message_id", "1"}}));

  json fresh = get_messages("channel=inc-1-fire&after=" + std::to_string(cursor));
  ASSERT_EQ(fresh["messages"].size(), 1U);
  const json& shown = fresh["messages"][0];
  EXPECT_EQ(shown["id"], "1");
  EXPECT_EQ(shown["edited"], true);
  EXPECT_EQ(shown["message"], updated_card);
  EXPECT_NE(shown["text"].get<std::string>().find("Status: INVESTIGATING"), std::string::npos);
  EXPECT_EQ(seqs(get_messages("channel=inc-1-fire")), (std::vector<std::uint64_t>{2, 3}));

  // The same operation again is not applied again.
  EXPECT_EQ(operate(update)["status"], "ok");
  EXPECT_EQ(get_messages("")["last_seq"], 3);
  EXPECT_TRUE(host_.inbound.size() == 1U) << "an update is no inbound event";
}

TEST_F(LocalPluginTest, UpdatingAMessageThatIsNotThereOrNotTheBotsFails) {
  create_ok();
  operate({{"v", 1},
           {"type", "post_message"},
           {"channel", {{"id", "general"}}},
           {"message", {{"text", "card"}}}});
  post({{"channel", "general"}, {"user", "alice"}, {"text", "mine"}});
  const auto update = [this](const std::string& channel, const std::string& id) {
    return operate({{"v", 1},
                    {"type", "update_message"},
                    {"channel", {{"id", channel}}},
                    {"message_id", id},
                    {"message", {{"text", "new"}}}});
  };
  for (const auto& [channel, id] : std::vector<std::pair<std::string, std::string>>{
           {"general", "99"}, {"nowhere", "1"}, {"general", "x"}}) {
    const json result = update(channel, id);
    EXPECT_EQ(result["status"], "permanent") << channel << " " << id;
    EXPECT_EQ(result["error_code"], "message_not_found") << channel << " " << id;
  }
  EXPECT_EQ(update("general", "2")["error_code"], "cant_update_message");
  EXPECT_EQ(seqs(get_messages("channel=general")), (std::vector<std::uint64_t>{1, 2}));
}

TEST_F(LocalPluginTest, InviteRecordsMembersAndSaysSoInTheChannel) {
  create_ok();
  ASSERT_EQ(operate({{"v", 1},
                     {"type", "create_channel"},
                     {"operation_key", "c"},
                     {"name", "inc-1-x"}})["status"],
            "ok");
  const json invite = {{"v", 1},
                       {"type", "invite"},
                       {"operation_key", "INC-1:2-2:0"},
                       {"channel", {{"id", "inc-1-x"}, {"name", "inc-1-x"}}},
                       {"users", {"alice", "bob"}}};
  json result = operate(invite);
  EXPECT_EQ(result["status"], "ok");
  EXPECT_EQ(result["added"], (json{"alice", "bob"}));
  EXPECT_EQ(operate(invite), result);  // the same key: not again

  // Inviting people already there adds only the newcomers, and only they are named.
  json more = operate({{"v", 1},
                       {"type", "invite"},
                       {"channel", {{"id", "inc-1-x"}}},
                       {"users", {"bob", "carol", "dave", "carol"}}});
  EXPECT_EQ(more["added"], (json{"carol", "dave"}));
  EXPECT_EQ(operate({{"v", 1},
                     {"type", "invite"},
                     {"channel", {{"id", "inc-1-x"}}},
                     {"users", {"bob"}}})["added"],
            json::array());

  json page = get_messages("channel=inc-1-x");
  ASSERT_EQ(page["messages"].size(), 2U);
  EXPECT_EQ(page["messages"][0]["text"], "alice and bob were added to #inc-1-x");
  EXPECT_EQ(page["messages"][1]["text"], "carol and dave were added to #inc-1-x");
  EXPECT_EQ(request("GET", "/channels").body["channels"][0]["members"],
            (json{"alice", "bob", "carol", "dave"}));

  json missing = operate(
      {{"v", 1}, {"type", "invite"}, {"channel", {{"id", "inc-9-none"}}}, {"users", {"alice"}}});
  EXPECT_EQ(missing["status"], "permanent");
  EXPECT_EQ(missing["error_code"], "channel_not_found");
}

}  // namespace
