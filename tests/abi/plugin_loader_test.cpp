// The plugin loader against one tiny plugin per failure mode, and the real
// local plugin through the real host.
#include <string>

#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/plugin.h>

#include "plugin_host.hpp"
#include "support/daemon_process.hpp"

namespace {

using haveri::daemon::InboundVerdict;
using haveri::daemon::PluginHost;
using haveri::daemon::PluginLibrary;
using haveri::daemon::PluginLoadError;
using ::testing::HasSubstr;

const std::filesystem::path test_plugins_dir = HAVERI_TEST_PLUGIN_DIR;

std::string load_error(const std::filesystem::path& file) {
  try {
    PluginLibrary::load(file);
  } catch (const PluginLoadError& e) {
    return e.what();
  }
  return "loaded without error";
}

TEST(PluginLoader, MissingLibraryNamesTheFileAndListsWhatIsThere) {
  const auto message = load_error(haveri::testing::build_dir() / "plugins" / "libhaveri_nope.so");
  EXPECT_THAT(message, HasSubstr("libhaveri_nope.so"));
  EXPECT_THAT(message, HasSubstr("no such plugin library"));
  EXPECT_THAT(message, HasSubstr("local"));
}

TEST(PluginLoader, LibraryWithoutEntrySymbolIsRefused) {
  const auto message = load_error(test_plugins_dir / "libhaveri_abi_no_entry.so");
  EXPECT_THAT(message, HasSubstr("libhaveri_abi_no_entry.so"));
  EXPECT_THAT(message, HasSubstr("does not export haveri_plugin_entry"));
}

TEST(PluginLoader, OtherAbiMajorIsRefusedWithBothVersions) {
  const auto message = load_error(test_plugins_dir / "libhaveri_abi_wrong_major.so");
  EXPECT_THAT(message, HasSubstr("libhaveri_abi_wrong_major.so"));
  EXPECT_THAT(message, HasSubstr("ABI 99."));
  EXPECT_THAT(message, HasSubstr("speaks ABI 1.x"));
}

TEST(PluginLoader, EntryReturningNoTableIsRefused) {
  const auto message = load_error(test_plugins_dir / "libhaveri_abi_null_table.so");
  EXPECT_THAT(message, HasSubstr("libhaveri_abi_null_table.so"));
  EXPECT_THAT(message, HasSubstr("refused this host's ABI"));
}

TEST(PluginLoader, FileThatIsNotASharedLibraryIsRefused) {
  haveri::testing::TempDir dir;
  const auto file = dir.path() / "libhaveri_text.so";
  haveri::testing::write_file(file, "this is not an ELF file\n");
  const auto message = load_error(file);
  EXPECT_THAT(message, HasSubstr("libhaveri_text.so"));
  EXPECT_THAT(message, HasSubstr("dlopen: "));
}

TEST(PluginLoader, RealLocalPluginLoads) {
  auto library =
      PluginLibrary::load(haveri::testing::build_dir() / "plugins" / "libhaveri_local.so");
  ASSERT_NE(library, nullptr);
  EXPECT_EQ(library->api().abi_major, HAVERI_ABI_VERSION_MAJOR);
}

TEST(PluginHostStart, InstanceCreateFailureCarriesThePluginsReason) {
  boost::asio::io_context io;
  PluginHost host(io, {test_plugins_dir, std::chrono::seconds(1), std::chrono::seconds(1)},
                  [](const std::string&, const nlohmann::json&, auto done) {
                    done(InboundVerdict::committed);
                  });
  std::string message;
  try {
    host.start({{"broken", "abi_create_fails", nlohmann::json::object()}});
  } catch (const PluginLoadError& e) {
    message = e.what();
  }
  EXPECT_THAT(message, HasSubstr("plugin instance \"broken\""));
  EXPECT_THAT(message, HasSubstr("failed to start"));
  EXPECT_THAT(message, HasSubstr("settings.token: required"));
  EXPECT_FALSE(host.has_instance("broken"));
}

TEST(PluginHostStart, WrongMajorThroughTheHostNamesTheInstance) {
  boost::asio::io_context io;
  PluginHost host(io, {test_plugins_dir, std::chrono::seconds(1), std::chrono::seconds(1)},
                  [](const std::string&, const nlohmann::json&, auto done) {
                    done(InboundVerdict::committed);
                  });
  try {
    host.start({{"chat", "abi_wrong_major", nlohmann::json::object()}});
    FAIL() << "a plugin of another ABI major was accepted";
  } catch (const PluginLoadError& e) {
    EXPECT_THAT(e.what(), HasSubstr("plugin instance \"chat\""));
    EXPECT_THAT(e.what(), HasSubstr("ABI 99."));
  }
}

// The real local plugin through the real host: a request is answered only after
// the event it carried is reported durable, and a failed commit becomes 503.
class LocalThroughHost : public ::testing::Test {
 protected:
  void start_host(InboundVerdict verdict) {
    host_ = std::make_unique<PluginHost>(
        io_,
        haveri::daemon::PluginHostOptions{haveri::testing::build_dir() / "plugins",
                                          std::chrono::seconds(5), std::chrono::seconds(5)},
        [this, verdict](const std::string& instance, nlohmann::json event, auto done) {
          received_.emplace_back(instance, std::move(event));
          done(verdict);
        });
    host_->start({{"local", "local", nlohmann::json::object()}});
  }

  haveri::http::Response post(const std::string& body) {
    haveri::http::Request request;
    request.method = "POST";
    request.path = "/hooks/local/messages";
    request.target = request.path;
    request.headers["content-type"] = "application/json";
    request.body = body;
    std::optional<haveri::http::Response> answer;
    host_->handle_request("local", "/messages", std::move(request),
                          [&answer](haveri::http::Response r) { answer = std::move(r); });
    for (int i = 0; i < 200 && !answer; ++i) {
      io_.run_for(std::chrono::milliseconds(10));
    }
    io_.restart();
    return answer.value_or(haveri::http::Response::error(599, "no answer"));
  }

  void TearDown() override {
    if (host_) {
      host_->shutdown();
    }
  }

  boost::asio::io_context io_;
  std::unique_ptr<PluginHost> host_;
  std::vector<std::pair<std::string, nlohmann::json>> received_;
};

TEST_F(LocalThroughHost, CommittedEventGetsThePluginsResponse) {
  start_host(InboundVerdict::committed);
  auto response =
      post(R"({"channel":"general","user":"alice","text":"/incident declare Fire sev1"})");
  EXPECT_EQ(response.status, 200u) << response.body;
  ASSERT_EQ(received_.size(), 1u);
  EXPECT_EQ(received_[0].first, "local");
  EXPECT_EQ(received_[0].second.value("type", ""), "command");
}

TEST_F(LocalThroughHost, FailedCommitBecomes503SoThePlatformRetries) {
  start_host(InboundVerdict::retry_later);
  auto response = post(R"({"channel":"general","user":"alice","text":"hello"})");
  EXPECT_EQ(response.status, 503u);
  EXPECT_EQ(received_.size(), 1u);
}

TEST_F(LocalThroughHost, RefusedEventBecomes403AndIsNotRetried) {
  start_host(InboundVerdict::refused);
  auto response = post(R"({"channel":"general","user":"alice","text":"hello"})");
  EXPECT_EQ(response.status, 403u);
  EXPECT_THAT(response.body, HasSubstr("no organization"));
  EXPECT_EQ(received_.size(), 1u);
  for (const auto& [name, value] : response.headers) {
    EXPECT_NE(name, "Retry-After");
  }
}

TEST_F(LocalThroughHost, UnknownInstanceIs404) {
  start_host(InboundVerdict::committed);
  std::optional<haveri::http::Response> answer;
  host_->handle_request("nobody", "/x", haveri::http::Request{},
                        [&answer](haveri::http::Response r) { answer = std::move(r); });
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 404u);
}

TEST_F(LocalThroughHost, OperationResultReachesTheCaller) {
  start_host(InboundVerdict::committed);
  std::optional<nlohmann::json> result;
  host_->perform("local", {{"v", 1}, {"type", "create_channel"}, {"name", "inc-7-fire"}},
                 [&result](nlohmann::json r) { result = std::move(r); });
  for (int i = 0; i < 200 && !result; ++i) {
    io_.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->value("status", ""), "ok");
  EXPECT_EQ((*result)["channel"].value("id", ""), "inc-7-fire");
}

}  // namespace
