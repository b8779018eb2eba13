// ABI 1.1 describe_instance through the real host: limits a plugin declares are
// validated and served by PluginHost::limits(); a 1.0 plugin (no such member) and a
// plugin describing itself badly still run, without limits.
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/plugin.h>

#include "plugin_host.hpp"
#include "support/daemon_process.hpp"

namespace {

using haveri::daemon::InboundVerdict;
using haveri::daemon::PluginHost;
using nlohmann::json;

class DescribeInstance : public ::testing::Test {
 protected:
  void start(const std::filesystem::path& directory,
             const std::vector<haveri::daemon::PluginInstanceConfig>& instances) {
    host_ = std::make_unique<PluginHost>(
        io_,
        haveri::daemon::PluginHostOptions{directory, std::chrono::seconds(2),
                                          std::chrono::seconds(2)},
        [](const std::string&, const json&, auto done) { done(InboundVerdict::committed); });
    host_->start(instances);
  }

  void start_described(const json& settings) {
    start(HAVERI_TEST_PLUGIN_DIR, {{"described", "abi_describe", settings}});
  }

  // The body of a request to `instance`: shows that the instance still serves.
  std::string request(const std::string& instance) {
    std::optional<haveri::http::Response> answer;
    haveri::http::Request r;
    r.method = "GET";
    r.path = "/hooks/" + instance + "/x";
    host_->handle_request(instance, "/x", std::move(r), [&answer](haveri::http::Response response) {
      answer = std::move(response);
    });
    for (int i = 0; i < 300 && !answer; ++i) {
      io_.run_for(std::chrono::milliseconds(10));
    }
    io_.restart();
    return answer ? std::to_string(answer->status) + " " + answer->body : "no answer";
  }

  void TearDown() override {
    if (host_) {
      host_->shutdown();
    }
  }

  boost::asio::io_context io_;
  std::unique_ptr<PluginHost> host_;
};

TEST_F(DescribeInstance, DeclaredLimitsAreServedAfterStart) {
  start_described({{"description", R"({"v":1,"limits":{"channel_interval_ms":1000,"per_second":20,)"
                                   R"("burst":20,"coming_in_2_0":true},"also_unknown":[1]})"}});
  EXPECT_EQ(host_->limits("described"),
            (json{{"channel_interval_ms", 1000}, {"per_second", 20}, {"burst", 20}}));
  EXPECT_EQ(host_->platform("described"), "abi_describe");
  EXPECT_EQ(request("described"), "200 alive");
}

TEST_F(DescribeInstance, EachValueOutOfRangeIsDroppedAndTheRestKept) {
  start_described({{"description", R"({"v":1,"limits":{"channel_interval_ms":600001,)"
                                   R"("per_second":0.5,"burst":0}})"}});
  EXPECT_EQ(host_->limits("described"), (json{{"per_second", 0.5}}));

  host_->shutdown();
  start_described({{"description", R"({"limits":{"channel_interval_ms":0,"per_second":10000,)"
                                   R"("burst":10000}})"}});
  EXPECT_EQ(host_->limits("described"),
            (json{{"channel_interval_ms", 0}, {"per_second", 10000}, {"burst", 10000}}))
      << "the bounds themselves are allowed, and \"v\" may be left out";
}

TEST_F(DescribeInstance, GarbageDescriptionsMeanNoLimitsAndTheInstanceStillServes) {
  const std::vector<json> settings = {
      {{"description", "not json at all"}},
      {{"description", "[1,2,3]"}},
      {{"description", R"("a string")"}},
      {{"description", R"({"v":1,"limits":{"burst":5})"}},  // truncated
      {{"description", R"({"v":2,"limits":{"burst":5}})"}},
      {{"description", R"({"v":"1","limits":{"burst":5}})"}},
      {{"description", R"({"v":1,"limits":[5]})"}},
      {{"description", R"({"v":1,"limits":"fast"})"}},
      {{"description", R"({"v":1,"limits":{"burst":"20","per_second":"20"}})"}},
      {{"description", R"({"v":1,"limits":{"burst":20.5,"channel_interval_ms":-1}})"}},
      {{"description", R"({"v":1,"limits":{"per_second":0,"burst":10001}})"}},
      {{"description", R"({"v":1,"limits":{"per_second":1e400}})"}},
      {{"description", R"({"v":1,"limits":{"per_second":-3,"burst":null}})"}},
      {{"description", R"({"v":1,"limits":{}})"}},
      {{"description", R"({"v":1})"}},
      {{"description", ""}},
      {{"mode", "invalid_utf8"}},
      {{"mode", "huge"}},
      {{"mode", "throw"}},
  };
  for (const json& s : settings) {
    start_described(s);
    EXPECT_EQ(host_->limits("described"), std::nullopt) << s.dump();
    EXPECT_TRUE(host_->has_instance("described")) << s.dump();
    EXPECT_EQ(request("described"), "200 alive") << s.dump();
    host_->shutdown();
  }
}

TEST_F(DescribeInstance, APluginWithoutDescribeHasANullMemberAndNoLimits) {
  auto library = haveri::daemon::PluginLibrary::load(std::filesystem::path(HAVERI_TEST_PLUGIN_DIR) /
                                                     "libhaveri_abi_hostile.so");
  EXPECT_EQ(library->api().struct_size, sizeof(haveri_plugin_api));
  EXPECT_EQ(library->api().describe_instance, nullptr);

  start(HAVERI_TEST_PLUGIN_DIR, {{"mallory", "abi_hostile", json::object()}});
  EXPECT_EQ(host_->limits("mallory"), std::nullopt);
  EXPECT_EQ(host_->platform("mallory"), "abi_hostile");
}

TEST_F(DescribeInstance, A1_0PluginLoadsAndItsTableIsNotReadPastItsSize) {
  auto library = haveri::daemon::PluginLibrary::load(std::filesystem::path(HAVERI_TEST_PLUGIN_DIR) /
                                                     "libhaveri_abi_1_0.so");
  EXPECT_EQ(library->api().abi_minor, 0);
  EXPECT_EQ(library->api().struct_size, offsetof(haveri_plugin_api, describe_instance));

  start(HAVERI_TEST_PLUGIN_DIR, {{"old", "abi_1_0", json::object()}});
  EXPECT_TRUE(host_->has_instance("old"));
  EXPECT_EQ(host_->limits("old"), std::nullopt);
  EXPECT_EQ(request("old"), "200 a 1.0 plugin, never described");
}

TEST_F(DescribeInstance, TheLocalPluginDeclaresItsSettings) {
  start(haveri::testing::build_dir() / "plugins",
        {{"local", "local", json::object()},
         {"paced", "local", {{"channel_interval_ms", 1000}, {"per_second", 1.5}, {"burst", 3}}}});
  EXPECT_EQ(host_->limits("local"),
            (json{{"channel_interval_ms", 0}, {"per_second", 1000}, {"burst", 1000}}));
  EXPECT_EQ(host_->limits("paced"),
            (json{{"channel_interval_ms", 1000}, {"per_second", 1.5}, {"burst", 3}}));
  EXPECT_EQ(host_->platform("paced"), "local");
}

TEST_F(DescribeInstance, UnknownInstanceHasNoLimitsAndNoPlatform) {
  start(HAVERI_TEST_PLUGIN_DIR, {});
  EXPECT_EQ(host_->limits("nobody"), std::nullopt);
  EXPECT_EQ(host_->platform("nobody"), "");
}

}  // namespace
