// `haverictl chat` (daemon/src/chat_client.cpp) against the real local plugin,
// loaded by the real plugin host behind the real HTTP server on a loopback port:
// what a person types becomes the inbound events the daemon would receive, and what
// the bot posts is shown with its buttons and forms usable.
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat_client.hpp"
#include "http_server.hpp"
#include "plugin_host.hpp"
#include "support/daemon_process.hpp"

namespace {

using haveri::daemon::InboundVerdict;
using haveri::daemon::PluginHost;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class ChatClient : public ::testing::Test {
 protected:
  void SetUp() override {
    plugins_ = std::make_unique<PluginHost>(
        io_,
        haveri::daemon::PluginHostOptions{haveri::testing::build_dir() / "plugins",
                                          std::chrono::seconds(5), std::chrono::seconds(5)},
        [this](const std::string&, json event, auto done) {
          {
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(event));
          }
          done(InboundVerdict::committed);
        });
    plugins_->start({{"local", "local", json::object()}});
    server_ = std::make_unique<haveri::http::HttpServer>(
        io_, haveri::http::ServerOptions{},
        [this](haveri::http::Request&& request, haveri::http::Responder respond) {
          constexpr std::string_view kHooks = "/hooks/local";
          if (!request.path.starts_with(kHooks)) {
            respond(haveri::http::Response::error(404, "not found"));
            return;
          }
          const std::string sub_path = request.path.substr(kHooks.size());
          plugins_->handle_request("local", sub_path, std::move(request), std::move(respond));
        });
    server_->start();
    runner_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    server_->stop();
    work_.reset();
    io_.stop();
    runner_.join();
    plugins_->shutdown();
  }

  // Performs an operation as the daemon would and waits for its result.
  json perform(const json& operation) {
    std::promise<json> result;
    plugins_->perform("local", operation, [&result](json r) { result.set_value(std::move(r)); });
    return result.get_future().get();
  }

  json post_card(const std::string& channel, const json& message,
                 const std::string& visible_to = "") {
    json operation = {
        {"v", 1}, {"type", "post_message"}, {"channel", {{"id", channel}}}, {"message", message}};
    if (!visible_to.empty()) {
      operation["visible_to"] = visible_to;
    }
    return perform(operation);
  }

  // Runs `haverictl chat --as alice --channel <channel>` on `input`; returns stdout.
  std::string chat(const std::string& channel, const std::string& input) {
    haveri::ctl::ChatOptions options;
    options.url = "http://127.0.0.1:" + std::to_string(server_->port());
    options.member = "alice";
    options.channel = channel;
    options.linger = std::chrono::milliseconds(400);
    std::istringstream in(input);
    std::ostringstream out;
    std::ostringstream err;
    EXPECT_EQ(haveri::ctl::run_chat(options, in, out, err), 0) << err.str();
    return out.str();
  }

  std::vector<json> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<PluginHost> plugins_;
  std::unique_ptr<haveri::http::HttpServer> server_;
  std::thread runner_;
  std::mutex mutex_;
  std::vector<json> events_;
};

// A card with two buttons and a form of every kind of input the client asks for.
json resolve_card() {
  return {{"title", "INC-7 \xC2\xB7 Pump down"},
          {"actions",
           {{{"label", "Acknowledge"}, {"command", "ack"}},
            {{"label", "Resolve"}, {"command", "status resolved"}, {"style", "danger"}}}},
          {"form",
           {{"id", "resolve:7"},
            {"title", "Resolve INC-7"},
            {"submit_label", "Resolve"},
            {"inputs",
             {{{"name", "what_happened"},
               {"label", "What happened"},
               {"kind", "multiline"},
               {"required", true}},
              {{"name", "severity"},
               {"label", "Severity"},
               {"kind", "select"},
               {"required", true},
               {"options", {{{"value", "sev1"}, {"label", "SEV1"}}, {{"value", "sev2"}}}}},
              {{"name", "units"}, {"label", "Units lost"}, {"kind", "number"}},
              {{"name", "since"}, {"label", "Since"}, {"kind", "date"}},
              {{"name", "owner"}, {"label", "Owner"}, {"kind", "user"}}}}}}};
}

TEST_F(ChatClient, ButtonsFormsEditsDeletionsAndFilesBecomeTheRightEvents) {
  ASSERT_EQ(post_card("inc-7-pump", resolve_card())["message_id"], "1");
  ASSERT_EQ(post_card("inc-7-pump", {{"text", "Only alice sees this."}}, "alice")["status"], "ok");
  ASSERT_EQ(post_card("inc-7-pump", {{"text", "Only bob sees this."}}, "bob")["status"], "ok");

  const std::string out = chat("inc-7-pump",
                               "hello there\n"                // message 4
                               "/edit last hello everyone\n"  // message 4 again
                               "/press 9\n"                   // no such button
                               "/press 2\n"                   // message 6: the command
                               "/form\n"
                               ".\n"  // What happened: required
                               "pump 2 tripped\nrestarted it\n.\n"
                               "9\n"        // Severity: no option 9
                               "2\n"        // Severity: the 2nd, sev2
                               "a dozen\n"  // Units lost: not a number
                               "12\n"
                               "\n"                        // Since: skipped
                               "@bob\n"                    // Owner
                               "/attach pump.log 12345\n"  // message 8 (7: the form)
                               "/delete 8\n"
                               "/edit 1 not mine\n");

  const std::vector<json> received = events();
  ASSERT_EQ(received.size(), 6U) << out;
  EXPECT_EQ(received[0]["type"], "message");
  EXPECT_EQ(received[0]["text"], "hello there");
  EXPECT_EQ(received[1]["type"], "message_changed");
  EXPECT_EQ(received[1]["message_id"], "4");
  EXPECT_EQ(received[1]["text"], "hello everyone");
  EXPECT_EQ(received[2]["type"], "command");
  EXPECT_EQ(received[2]["text"], "status resolved");
  EXPECT_EQ(received[3]["type"], "form_submission");
  EXPECT_EQ(received[3]["form_id"], "resolve:7");
  EXPECT_EQ(received[3]["values"], (json{{"what_happened", "pump 2 tripped\nrestarted it"},
                                         {"severity", "sev2"},
                                         {"units", "12"},
                                         {"owner", "@bob"}}));
  EXPECT_EQ(received[4]["type"], "message");
  EXPECT_EQ(received[4]["files"][0]["name"], "pump.log");
  EXPECT_EQ(received[4]["files"][0]["size"], 12345);
  EXPECT_EQ(received[5]["type"], "message_deleted");
  EXPECT_EQ(received[5]["message_id"], "8");
  for (const json& event : received) {
    EXPECT_EQ(event["user"]["id"], "alice");
    EXPECT_EQ(event["installation"], "local");
  }

  // The card, numbered buttons and the form as the plugin rendered them.
  EXPECT_THAT(out, HasSubstr("[1] Haveri:\n  \xE2\x94\x83 INC-7 \xC2\xB7 Pump down\n"));
  EXPECT_THAT(out, HasSubstr("[1 Acknowledge] [2 Resolve]"));
  EXPECT_THAT(out, HasSubstr("Form: Resolve INC-7"));
  // Messages for someone else are not shown; those for me say so.
  EXPECT_THAT(out, HasSubstr("Haveri (only you can see this):\n  \xE2\x94\x83 Only alice sees"));
  EXPECT_THAT(out, Not(HasSubstr("Only bob sees this")));
  // /press explains its numbers and echoes what it sent.
  EXPECT_THAT(out, HasSubstr("! /press takes a button number from 1 to 2: [1 Acknowledge] "
                             "[2 Resolve]"));
  EXPECT_THAT(out, HasSubstr("> /incident status resolved"));
  // /form asks input by input and asks again when an answer would be refused.
  EXPECT_THAT(out, HasSubstr("What happened (required, multiline); end with a line holding a "
                             "single \".\":"));
  EXPECT_THAT(out, HasSubstr("! What happened: an answer is required"));
  EXPECT_THAT(out, HasSubstr("  1) sev1 \xE2\x80\x94 SEV1\n  2) sev2\n"));
  EXPECT_THAT(out, HasSubstr("! Severity: one of the options"));
  EXPECT_THAT(out, HasSubstr("! Units lost: a number, please"));
  EXPECT_THAT(out, HasSubstr("> Resolve: \"Resolve INC-7\" submitted"));
  // Edits, files and deletions of my own lines are shown as what became of them.
  EXPECT_THAT(out, HasSubstr("[4] alice (edited): hello everyone"));
  EXPECT_THAT(out, HasSubstr("[8] alice deleted this message"));
  EXPECT_THAT(out, HasSubstr("! not edited (403): alice can only edit their own messages"));
}

TEST_F(ChatClient, CommandsWithNothingToActOnSayWhy) {
  const std::string out = chat("general",
                               "/press 1\n"
                               "/form\n"
                               "/edit last x\n"
                               "/delete soon\n"
                               "/attach pump.log many\n"
                               "/help\n"
                               "/join #inc-9-quiet\n"
                               "/join Not-A-Channel\n");
  EXPECT_THAT(out, HasSubstr("! no message with buttons in #general yet"));
  EXPECT_THAT(out, HasSubstr("! no form for you in #general"));
  EXPECT_THAT(out, HasSubstr("! nothing of yours to edit here yet"));
  EXPECT_THAT(out, HasSubstr("! /delete needs a message id"));
  EXPECT_THAT(out, HasSubstr("! /attach <name> <size in bytes> [url]"));
  EXPECT_THAT(out, HasSubstr("/press <n>"));  // the help
  EXPECT_THAT(out, HasSubstr("Joined #inc-9-quiet (no messages yet)."));
  EXPECT_THAT(out, HasSubstr("! /join needs a channel name"));
  EXPECT_TRUE(events().empty());
}

TEST_F(ChatClient, AnUpdatedCardIsShownMarkedEditedAndOnlyItsNewButtonsCount) {
  ASSERT_EQ(
      post_card("inc-8-x", {{"title", "INC-8"},
                            {"actions", {{{"label", "Ack"}, {"command", "ack"}}}}})["message_id"],
      "1");
  ASSERT_EQ(
      perform({{"v", 1},
               {"type", "update_message"},
               {"channel", {{"id", "inc-8-x"}}},
               {"message_id", "1"},
               {"message",
                {{"title", "INC-8 acknowledged"},
                 {"actions", {{{"label", "Close"}, {"command", "status closed"}}}}}}})["status"],
      "ok");
  const std::string out = chat("inc-8-x", "/press 1\n");
  EXPECT_THAT(out, HasSubstr("[1] Haveri (edited):\n  \xE2\x94\x83 INC-8 acknowledged"));
  EXPECT_THAT(out, Not(HasSubstr("[1 Ack]")));
  const std::vector<json> received = events();
  ASSERT_EQ(received.size(), 1U) << out;
  EXPECT_EQ(received[0]["text"], "status closed");
}

// A script sends /form right after the line that makes the bot post the form: the
// client waits (briefly) for the form instead of giving up at once.
TEST_F(ChatClient, FormWaitsForAFormThatIsStillOnItsWay) {
  std::thread bot([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    post_card("general",
              {{"form",
                {{"id", "declare"},
                 {"title", "Declare an incident"},
                 {"inputs", {{{"name", "title"}, {"label", "Title"}, {"required", true}}}}}}},
              "alice");
  });
  const std::string out = chat("general", "/form\nPump 2 down\n");
  bot.join();
  const std::vector<json> received = events();
  ASSERT_EQ(received.size(), 1U) << out;
  EXPECT_EQ(received[0]["form_id"], "declare");
  EXPECT_EQ(received[0]["values"], (json{{"title", "Pump 2 down"}}));
}

}  // namespace
