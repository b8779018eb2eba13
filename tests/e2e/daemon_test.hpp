#pragma once
// A running haverid with the real local plugin on port 0, and the helpers the
// end-to-end tests talk to it with (chat through the local transport, the API).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "blocking_client.hpp"
#include "support/daemon_process.hpp"

namespace haveri::testing {

using haveri::http::BlockingClient;

inline const std::map<std::string, std::string> kAuth = {
    {"authorization", std::string("Bearer ") + kTestToken}};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() / "haveri.yaml";
    write_file(config_, test_config(dir_.path()));
    start();
  }

  void start() {
    daemon_.reset();
    daemon_ = std::make_unique<Haverid>(
        config_, dir_.path() / ("haverid-" + std::to_string(++starts_) + ".log"));
    client_ =
        std::make_unique<BlockingClient>(haveri::http::BaseUrl{"127.0.0.1", daemon_->port(), ""});
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(daemon_->port()); }

  haveri::http::ClientResponse say(const std::string& channel, const std::string& user,
                                   const std::string& text, const std::string& id = "") {
    nlohmann::json body = {{"channel", channel}, {"user", user}, {"text", text}};
    if (!id.empty()) {
      body["client_message_id"] = id;
    }
    return client_->request("POST", "/hooks/local/messages", body.dump(), "application/json");
  }

  nlohmann::json api(const std::string& target) {
    auto response = client_->get(target, kAuth);
    EXPECT_EQ(response.status, 200) << target << ": " << response.body;
    return nlohmann::json::parse(response.body);
  }

  // Polls (bounded) until `ready` holds for the API document at `target`.
  nlohmann::json await(const std::string& target,
                       const std::function<bool(const nlohmann::json&)>& ready) {
    nlohmann::json last;
    for (int i = 0; i < 200; ++i) {
      last = api(target);
      if (ready(last)) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "timed out waiting on " << target << "; last: " << last.dump(2) << "\nlog:\n"
                  << daemon_->log();
    return last;
  }

  // What a chat client of `channel` would show: every text in the channel.
  std::string channel_text(const std::string& channel) {
    auto response = client_->get("/hooks/local/messages?channel=" + channel + "&after=0");
    EXPECT_EQ(response.status, 200) << response.body;
    std::string all;
    const auto document = nlohmann::json::parse(response.body);
    for (const auto& message : document["messages"]) {
      all += message.value("text", "") + "\n";
    }
    return all;
  }

  std::string await_channel_text(const std::string& channel, const std::string& needle) {
    std::string text;
    for (int i = 0; i < 200; ++i) {
      text = channel_text(channel);
      if (text.find(needle) != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return text;
  }

  // The events people caused, without the system's bookkeeping (the global card's
  // message id, the first-steps guidance), whose order depends on the platform.
  static nlohmann::json people_events(const nlohmann::json& timeline) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& event : timeline["events"]) {
      const std::string type = event.value("type", "");
      if (type != "global_card_posted" && type != "bot_guidance") {
        events.push_back(event);
      }
    }
    return events;
  }

  static std::vector<std::string> event_types(const nlohmann::json& timeline) {
    std::vector<std::string> types;
    for (const auto& event : people_events(timeline)) {
      types.push_back(event.value("type", ""));
    }
    return types;
  }

  static std::function<bool(const nlohmann::json&)> has_events(std::size_t count) {
    return [count](const nlohmann::json& doc) { return people_events(doc).size() >= count; };
  }

  TempDir dir_;
  std::filesystem::path config_;
  std::unique_ptr<Haverid> daemon_;
  std::unique_ptr<BlockingClient> client_;
  int starts_ = 0;
};

}  // namespace haveri::testing
