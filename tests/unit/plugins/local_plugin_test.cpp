// Drives the real libhaveri_local.so through its C ABI, the way haverid does: dlopen,
// haveri_plugin_entry, instance_create with a host table — here a fake host that
// records every submit_inbound / respond / complete_operation call.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/plugin.h>

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

constexpr haveri_host_api kHostApi = {
    sizeof(haveri_host_api),  &host_log, &host_submit_inbound, &host_respond,
    &host_complete_operation,
};

// The plugin library, loaded once for the whole suite (as the host does).
const haveri_plugin_api* load_plugin() {
  static const haveri_plugin_api* api = []() -> const haveri_plugin_api* {
    // CTest sets HAVERI_BUILD_DIR; a direct run falls back to the configured build dir.
    const char* build_dir = std::getenv("HAVERI_BUILD_DIR");
#ifdef HAVERI_TEST_BUILD_DIR
    if (build_dir == nullptr) {
      build_dir = HAVERI_TEST_BUILD_DIR;
    }
#endif
    if (build_dir == nullptr) {
      ADD_FAILURE() << "HAVERI_BUILD_DIR is not set (run the test through ctest)";
      return nullptr;
    }
    const std::string path = std::string(build_dir) + "/plugins/libhaveri_local.so";
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      ADD_FAILURE() << "dlopen " << path << ": " << dlerror();
      return nullptr;
    }
    void* symbol = dlsym(library, HAVERI_PLUGIN_ENTRY_SYMBOL);
    if (symbol == nullptr) {
      ADD_FAILURE() << path << " does not export " << HAVERI_PLUGIN_ENTRY_SYMBOL;
      return nullptr;
    }
    const auto entry = reinterpret_cast<haveri_plugin_entry_fn>(symbol);
    return entry(HAVERI_ABI_VERSION_MAJOR, HAVERI_ABI_VERSION_MINOR);
  }();
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
  EXPECT_EQ(response.body, (json{{"ok", true}, {"seq", 1}}));
  ASSERT_EQ(host_.inbound.size(), 1U);
  EXPECT_EQ(host_.calls, (std::vector<std::string>{"submit", "respond"}));
  // Keys without a client_message_id carry the instance's epoch (seqs restart with it).
  const std::string epoch = get_messages("")["epoch"];
  EXPECT_EQ(host_.inbound[0].request_id, response.request_id);
  EXPECT_EQ(host_.inbound[0].event, (json{{"v", 1},
                                          {"type", "message"},
                                          {"idempotency_key", "local:test:" + epoch + ":seq-1"},
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
  const json page = get_messages("channel=general");
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

  const json first = get_messages("channel=general&after=0&limit=2");
  EXPECT_EQ(seqs(first), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(first["last_seq"], 6);
  EXPECT_EQ(first["messages"][0], (json{{"seq", 1},
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

  const json unknown = get_messages("channel=nobody-here");
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
  const json epoch = get_messages("")["epoch"];
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
  EXPECT_EQ(request("GET", "/channels").body,
            (json{{"channels", {{{"name", "general"}, {"topic", ""}, {"messages", 3}}}}}));
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

TEST_F(LocalPluginTest, CreateChannelIsIdempotent) {
  create_ok();
  const json create_op = {
      {"v", 1}, {"type", "create_channel"}, {"name", "inc-1-db-down"}, {"topic", "DB down"}};
  const json expected = {{"v", 1},
                         {"status", "ok"},
                         {"channel", {{"id", "inc-1-db-down"}, {"name", "inc-1-db-down"}}}};
  EXPECT_EQ(operate(create_op), expected);
  EXPECT_EQ(operate(create_op), expected);
  EXPECT_EQ(
      request("GET", "/channels").body,
      (json{{"channels", {{{"name", "inc-1-db-down"}, {"topic", "DB down"}, {"messages", 0}}}}}));

  const json bad = operate({{"v", 1}, {"type", "create_channel"}, {"name", "Bad Name"}});
  EXPECT_EQ(bad["status"], "permanent");
  EXPECT_TRUE(bad["error"].is_string());
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

  const json page = get_messages("channel=inc-1-db-down");
  ASSERT_EQ(page["messages"].size(), 1U);
  const json& message = page["messages"][0];
  EXPECT_EQ(message["bot"], true);
  EXPECT_EQ(message["from"], "Pager");
  const std::string text = message["text"];
  for (const std::string_view expected :
       {"INC-1 · Database down", "Status: DECLARED   Severity: SEV1", "Declared by *alice*.",
        "\n\xE2\x94\x83 Join #inc-1-db-down",
        "[Investigating: /incident status investigating]  [Resolved: /incident status resolved]",
        "Type /incident help for commands"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nin:\n" << text;
  }
  EXPECT_LT(text.find("INC-1"), text.find("Status:"));
  EXPECT_LT(text.find("Status:"), text.find("Declared by"));
  EXPECT_LT(text.find("Declared by"), text.find("[Investigating"));
}

TEST_F(LocalPluginTest, ARetriedOperationKeyIsAnsweredWithoutPostingAgain) {
  create_ok();
  const json card = {{"text", "INC-1 declared"}};
  json operation = {{"v", 1},
                    {"type", "post_message"},
                    {"operation_key", "op-1"},
                    {"channel", {{"id", "general"}}},
                    {"message", card}};
  const json first = operate(operation);
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
  const json created = operate(create_op);
  EXPECT_EQ(created["status"], "ok");
  EXPECT_EQ(operate(create_op), created);

  // A non-string key is a malformed operation.
  operation["operation_key"] = 7;
  const json bad = operate(operation);
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
        R"({"v":1,"type":"post_message","channel":{"id":"general"},"message":{}})"}) {
    const json result = operate_raw(operation);
    EXPECT_EQ(result["v"], 1) << operation;
    EXPECT_EQ(result["status"], "permanent") << operation;
    EXPECT_TRUE(result["error"].is_string()) << operation;
  }
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

}  // namespace
