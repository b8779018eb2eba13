// A plugin that breaks the ABI's rules is refused call by call and does not take
// the host down.
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <haveri/plugin.h>

#include "plugin_host.hpp"

namespace {

using haveri::daemon::PluginHost;

class HostilePlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    host_ = std::make_unique<PluginHost>(
        io_,
        haveri::daemon::PluginHostOptions{HAVERI_TEST_PLUGIN_DIR, std::chrono::milliseconds(300),
                                          std::chrono::milliseconds(300)},
        [this](const std::string&, nlohmann::json, auto done) {
          ++submitted_;
          done(haveri::daemon::InboundVerdict::committed);
        });
    host_->start({{"mallory", "abi_hostile", nlohmann::json::object()},
                  {"trudy", "abi_hostile", nlohmann::json::object()}});
  }
  void TearDown() override { host_->shutdown(); }

  template <class T>
  T run_until(std::optional<T>& slot) {
    for (int i = 0; i < 300 && !slot; ++i) {
      io_.run_for(std::chrono::milliseconds(10));
    }
    io_.restart();
    EXPECT_TRUE(slot.has_value()) << "no answer within 3 s";
    return slot.value_or(T{});
  }

  haveri::http::Response request(const std::string& instance, const std::string& path) {
    std::optional<haveri::http::Response> answer;
    haveri::http::Request r;
    r.method = "POST";
    r.path = "/hooks/" + instance + path;
    host_->handle_request(instance, path, std::move(r),
                          [&answer](haveri::http::Response response) { answer = response; });
    return run_until(answer);
  }

  nlohmann::json perform(const std::string& instance, nlohmann::json operation) {
    std::optional<nlohmann::json> result;
    host_->perform(instance, std::move(operation),
                   [&result](nlohmann::json r) { result = std::move(r); });
    return run_until(result);
  }

  boost::asio::io_context io_;
  std::unique_ptr<PluginHost> host_;
  int submitted_ = 0;
};

TEST_F(HostilePlugin, InvalidResponsesAndEventsAreRefusedCallByCall) {
  auto response = request("mallory", "/bad-responses");
  ASSERT_EQ(response.status, 200u);
  auto report = nlohmann::json::parse(response.body);
  EXPECT_EQ(report["status_99"], HAVERI_ERR_INVALID);
  EXPECT_EQ(report["status_600"], HAVERI_ERR_INVALID);
  EXPECT_EQ(report["header_injection"], HAVERI_ERR_INVALID);
  EXPECT_EQ(report["event_not_json"], HAVERI_ERR_INVALID);
  EXPECT_EQ(report["event_without_type"], HAVERI_ERR_INVALID);
  EXPECT_EQ(report["event_without_key"], HAVERI_ERR_INVALID);
  EXPECT_EQ(submitted_, 0);
}

TEST_F(HostilePlugin, BodyOnA204IsDropped) {
  auto response = request("mallory", "/empty-204");
  EXPECT_EQ(response.status, 204u);
  EXPECT_TRUE(response.body.empty());
}

TEST_F(HostilePlugin, ExceptionInAPluginBecomes500) {
  EXPECT_EQ(request("mallory", "/throw").status, 500u);
  EXPECT_EQ(request("mallory", "/empty-204").status, 204u);  // and it still serves
}

TEST_F(HostilePlugin, SilentPluginIsTimedOutWith504) {
  EXPECT_EQ(request("mallory", "/silent").status, 504u);
}

TEST_F(HostilePlugin, SecondRespondAndLateSubmitAreGone) {
  EXPECT_EQ(request("mallory", "/after-respond").status, 200u);
  auto report = nlohmann::json::parse(request("mallory", "/report").body);
  EXPECT_EQ(report["respond_again"], HAVERI_ERR_GONE);
  EXPECT_EQ(report["submit_after_respond"], HAVERI_ERR_GONE);
  EXPECT_EQ(submitted_, 0);
}

TEST_F(HostilePlugin, OperationThatNeverCompletesTimesOutAsRetryable) {
  auto result = perform("mallory", {{"v", 1}, {"type", "never_completes"}});
  EXPECT_EQ(result.value("status", ""), "retryable");
}

TEST_F(HostilePlugin, UnparseableResultAndThrowingOperationBecomeFailures) {
  // The plugin's complete_operation("this is not json") is refused; the host then
  // gives up on it at the timeout.
  EXPECT_EQ(perform("mallory", {{"v", 1}, {"type", "garbage"}}).value("status", ""), "retryable");
  EXPECT_EQ(perform("mallory", {{"v", 1}, {"type", "throw"}}).value("status", ""), "permanent");
}

TEST_F(HostilePlugin, OddlyTypedResultIsPassedOnForTheCallerToReadDefensively) {
  auto result = perform("mallory", {{"v", 1}, {"type", "odd_result"}});
  EXPECT_EQ(result.value("status", ""), "permanent");
  EXPECT_TRUE(result["error"].is_object());
}

TEST_F(HostilePlugin, AnInstanceCannotCompleteAnotherInstancesOperation) {
  std::optional<nlohmann::json> victim_result;
  host_->perform("mallory", {{"v", 1}, {"type", "never_completes"}},
                 [&victim_result](nlohmann::json r) { victim_result = std::move(r); });
  // Operation ids are sequential: the victim's is the thief's minus one.
  std::optional<nlohmann::json> thief_result;
  host_->perform("trudy", {{"v", 1}, {"type", "complete_someone_elses"}, {"victim", 0}},
                 [&thief_result](nlohmann::json r) { thief_result = std::move(r); });
  run_until(thief_result);
  // Now steal with the right id, read from the first operation's neighbour.
  for (std::uint64_t guess = 1; guess < 64; ++guess) {
    auto attempt =
        perform("trudy", {{"v", 1}, {"type", "complete_someone_elses"}, {"victim", guess}});
    EXPECT_NE(attempt.value("steal_status", -1), HAVERI_OK) << "stole operation " << guess;
  }
  EXPECT_EQ(run_until(victim_result).value("status", ""), "retryable");  // timed out, not stolen
}

}  // namespace
