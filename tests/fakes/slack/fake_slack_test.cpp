// The fake Slack itself, over real HTTP and WebSocket on loopback: what the Slack
// adapter's end-to-end tests rely on it to do like Slack.
#include "slack/fake_slack.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using haveri::fakes::FakeSlack;
using haveri::fakes::Fault;

constexpr auto kWait = 5s;
constexpr const char* kBot = "xoxb-fake-bot-token";
constexpr const char* kApp = "xapp-fake-app-token";

// Runs `ioc` until `done` or the deadline; false on timeout. Every wait here is bounded.
template <typename Done>
bool run_until(asio::io_context& ioc, Done done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  ioc.restart();
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return false;
    }
    ioc.run_one_for(deadline - now);
  }
  return true;
}

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  json body_json() const { return json::parse(body, nullptr, false); }
};

// One Web API call, with the response headers (Retry-After) that BlockingClient hides.
std::optional<HttpResult> call_api(std::uint16_t port, const std::string& method,
                                   const std::string& body, const std::string& content_type,
                                   const std::string& token) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(kWait);
  beast::error_code ec;
  bool done = false;
  stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                       [&](beast::error_code e) {
                         ec = e;
                         done = true;
                       });
  if (!run_until(
          ioc, [&] { return done; }, kWait) ||
      ec) {
    return std::nullopt;
  }
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, "/api/" + method, 11};
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::content_type, content_type);
  if (!token.empty()) {
    request.set(bhttp::field::authorization, "Bearer " + token);
  }
  request.body() = body;
  request.prepare_payload();
  done = false;
  bhttp::async_write(stream, request, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(
          ioc, [&] { return done; }, kWait) ||
      ec) {
    return std::nullopt;
  }
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  done = false;
  bhttp::async_read(stream, buffer, response, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(
          ioc, [&] { return done; }, kWait) ||
      ec) {
    return std::nullopt;
  }
  HttpResult result;
  result.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    result.headers[std::string(field.name_string())] = std::string(field.value());
  }
  result.body = response.body();
  return result;
}

json post_json(FakeSlack& slack, const std::string& method, const json& args,
               const std::string& token = kBot) {
  auto result =
      call_api(slack.port(), method, args.dump(), "application/json; charset=utf-8", token);
  return result ? result->body_json() : json();
}

json post_form(FakeSlack& slack, const std::string& method, const haveri::fakes::FormFields& args,
               const std::string& token = kBot) {
  auto result = call_api(slack.port(), method, haveri::fakes::form_encode(args),
                         "application/x-www-form-urlencoded", token);
  return result ? result->body_json() : json();
}

// A Socket Mode client: Beast's WebSocket client, reading into a queue so that a read can
// give up at a deadline without cancelling (and so breaking) the stream.
class SocketModeClient {
 public:
  // `url` as apps.connections.open returned it. connected() tells whether the upgrade worked.
  explicit SocketModeClient(const std::string& url) {
    const std::string rest = url.substr(std::string("ws://").size());
    const std::string host_port = rest.substr(0, rest.find('/'));
    const std::string target = rest.substr(rest.find('/'));
    const auto port =
        static_cast<std::uint16_t>(std::stoi(host_port.substr(host_port.find(':') + 1)));
    bool done = false;
    beast::get_lowest_layer(ws_).expires_after(kWait);
    beast::get_lowest_layer(ws_).async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code e) {
          error_ = e;
          done = true;
        });
    if (!run_until(
            ioc_, [&] { return done; }, kWait) ||
        error_) {
      return;
    }
    done = false;
    ws_.async_handshake(host_port, target, [&](beast::error_code e) {
      error_ = e;
      done = true;
    });
    if (!run_until(
            ioc_, [&] { return done; }, kWait) ||
        error_) {
      return;
    }
    beast::get_lowest_layer(ws_).expires_never();
    connected_ = true;
    do_read();
  }

  bool connected() const { return connected_; }
  // The error that ended the connection (or the handshake).
  beast::error_code error() const { return error_; }
  bool ended() const { return ended_; }

  // The next text frame, parsed; nullopt when none came in time or the connection ended.
  std::optional<json> next(std::chrono::milliseconds limit = kWait) {
    run_until(
        ioc_, [&] { return !frames_.empty() || ended_; }, limit);
    if (frames_.empty()) {
      return std::nullopt;
    }
    json frame = json::parse(frames_.front(), nullptr, false);
    frames_.pop_front();
    return frame;
  }

  // Waits for the connection to end; true when it did in time.
  bool wait_end(std::chrono::milliseconds limit = kWait) {
    return run_until(
        ioc_, [&] { return ended_; }, limit);
  }

  void send(const json& frame) {
    bool done = false;
    ws_.async_write(asio::buffer(frame.dump()),
                    [&](beast::error_code, std::size_t) { done = true; });
    run_until(
        ioc_, [&] { return done; }, kWait);
  }

 private:
  void do_read() {
    ws_.async_read(buffer_, [this](beast::error_code e, std::size_t) {
      if (e) {
        error_ = e;
        ended_ = true;
        return;
      }
      frames_.push_back(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      do_read();
    });
  }

  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buffer_;
  std::deque<std::string> frames_;
  beast::error_code error_;
  bool connected_ = false;
  bool ended_ = false;
};

std::string open_socket_url(FakeSlack& slack) {
  return post_json(slack, "apps.connections.open", json::object(), kApp).value("url", "");
}

// ---------------------------------------------------------------------------------------

TEST(FakeSlackWebApi, AuthTestAnswersWhoTheBotIsAndRefusesBadTokens) {
  FakeSlack slack;
  const json who = post_json(slack, "auth.test", json::object());
  EXPECT_EQ(who["ok"], true);
  EXPECT_EQ(who["user_id"], "U0BOT");
  EXPECT_EQ(who["bot_id"], "B0BOT");
  EXPECT_EQ(who["team_id"], "T0FAKE");
  EXPECT_EQ(who["team"], "Fake Workspace");
  EXPECT_EQ(who["url"], "https://fake.slack.com/");

  EXPECT_EQ(post_json(slack, "auth.test", json::object(), "")["error"], "not_authed");
  EXPECT_EQ(post_json(slack, "auth.test", json::object(), "xoxb-wrong")["error"], "invalid_auth");
  // The right tokens for the wrong methods, as Slack tells them apart.
  EXPECT_EQ(post_json(slack, "chat.postMessage", {{"channel", "C1"}, {"text", "x"}}, kApp)["error"],
            "not_allowed_token_type");
  EXPECT_EQ(post_json(slack, "apps.connections.open", json::object(), kBot)["error"],
            "not_allowed_token_type");
  EXPECT_EQ(post_json(slack, "chat.nosuch", json::object())["error"], "unknown_method");

  const auto calls = slack.calls("auth.test");
  ASSERT_EQ(calls.size(), 3U);
  EXPECT_EQ(calls[0].token, kBot);
  EXPECT_EQ(calls[0].content_type, "application/json; charset=utf-8");
  EXPECT_EQ(calls[2].response["error"], "invalid_auth");
}

TEST(FakeSlackWebApi, ConversationsCreateFollowsSlackNameRules) {
  FakeSlack slack;
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", ""}})["error"],
            "invalid_name_required");
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", "inc 42"}})["error"],
            "invalid_name_specials");
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", "inc.42"}})["error"],
            "invalid_name_specials");
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", "Inc-42"}})["error"],
            "invalid_name_specials");
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", std::string(81, 'a')}})["error"],
            "invalid_name_maxlength");

  const json created = post_json(slack, "conversations.create", {{"name", "inc-42_db"}});
  ASSERT_EQ(created["ok"], true) << created;
  const std::string id = created["channel"]["id"];
  EXPECT_EQ(id.front(), 'C');
  EXPECT_EQ(created["channel"]["name"], "inc-42_db");
  EXPECT_EQ(created["channel"]["creator"], "U0BOT");
  EXPECT_EQ(created["channel"]["is_member"], true);
  EXPECT_EQ(post_json(slack, "conversations.create", {{"name", "inc-42_db"}})["error"],
            "name_taken");

  EXPECT_EQ(post_json(slack, "conversations.invite", {{"channel", id}, {"users", "U0ALICE"}})["ok"],
            true);
  EXPECT_EQ(
      post_json(slack, "conversations.invite", {{"channel", id}, {"users", "U0ALICE"}})["error"],
      "already_in_channel");
  EXPECT_EQ(
      post_json(slack, "conversations.invite", {{"channel", id}, {"users", "U0ALICE,U0BOB"}})["ok"],
      true);
  EXPECT_EQ(
      post_json(slack, "conversations.invite", {{"channel", id}, {"users", "U0NOBODY"}})["error"],
      "user_not_found");
  EXPECT_EQ(post_json(slack, "conversations.invite",
                      {{"channel", "C0NONE"}, {"users", "U0BOB"}})["error"],
            "channel_not_found");
  EXPECT_EQ(post_json(slack, "conversations.setTopic", {{"channel", id}, {"topic", "SEV1"}})["ok"],
            true);

  const auto channel = slack.channel(id);
  ASSERT_TRUE(channel);
  EXPECT_EQ(channel->members, (std::vector<std::string>{"U0BOT", "U0ALICE", "U0BOB"}));
  EXPECT_EQ(channel->topic, "SEV1");
}

TEST(FakeSlackWebApi, PostMessageWith51BlocksIsInvalidBlocks) {
  FakeSlack slack;
  const std::string channel = slack.add_channel("ops", {"U0BOT", "U0ALICE"});
  json blocks = json::array();
  for (int i = 0; i < 51; ++i) {
    blocks.push_back({{"type", "divider"}});
  }
  const json rejected = post_json(slack, "chat.postMessage",
                                  {{"channel", channel}, {"text", "x"}, {"blocks", blocks}});
  EXPECT_EQ(rejected["ok"], false);
  EXPECT_EQ(rejected["error"], "invalid_blocks");
  ASSERT_TRUE(rejected["errors"].is_array());
  EXPECT_NE(rejected["errors"][0].get<std::string>().find("/blocks"), std::string::npos);
  ASSERT_EQ(slack.violations().size(), 1U);
  EXPECT_EQ(slack.violations()[0].method, "chat.postMessage");
  EXPECT_TRUE(slack.messages().empty());

  blocks.erase(blocks.begin());
  EXPECT_EQ(post_json(slack, "chat.postMessage",
                      {{"channel", channel}, {"text", "x"}, {"blocks", blocks}})["ok"],
            true);

  // A header of 151 characters, an empty section text, a button text of 76 characters.
  const json header{{"type", "header"},
                    {"text", {{"type", "plain_text"}, {"text", std::string(151, 'h')}}}};
  const json empty{{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", ""}}}};
  const json button{
      {"type", "actions"},
      {"elements",
       {{{"type", "button"}, {"text", {{"type", "plain_text"}, {"text", std::string(76, 'b')}}}}}}};
  const json bad = post_json(slack, "chat.postMessage",
                             {{"channel", channel}, {"blocks", {header, empty, button}}});
  EXPECT_EQ(bad["error"], "invalid_blocks");
  EXPECT_EQ(bad["errors"].size(), 3U) << bad;
  EXPECT_EQ(slack.violations().size(), 2U);
}

TEST(FakeSlackWebApi, FormEncodedMessagesThreadsAndEdits) {
  FakeSlack slack;
  const std::string channel = slack.add_channel("ops", {"U0BOT", "U0ALICE"});
  const std::string outside = slack.add_channel("random", {"U0ALICE"});
  const json blocks =
      json::array({{{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "*SEV1*"}}}}});

  const json posted =
      post_form(slack, "chat.postMessage",
                {{"channel", channel}, {"text", "SEV1"}, {"blocks", blocks.dump()}});
  ASSERT_EQ(posted["ok"], true) << posted;
  const std::string ts = posted["ts"];
  const json reply = post_form(slack, "chat.postMessage",
                               {{"channel", channel}, {"text", "update"}, {"thread_ts", ts}});
  ASSERT_EQ(reply["ok"], true);
  EXPECT_GT(reply["ts"].get<std::string>(), ts);

  EXPECT_EQ(post_form(slack, "chat.postMessage", {{"channel", channel}})["error"], "no_text");
  EXPECT_EQ(post_form(slack, "chat.postMessage", {{"channel", "C0NONE"}, {"text", "x"}})["error"],
            "channel_not_found");
  EXPECT_EQ(post_form(slack, "chat.postMessage", {{"channel", outside}, {"text", "x"}})["error"],
            "not_in_channel");

  EXPECT_EQ(
      post_json(slack, "chat.update", {{"channel", channel}, {"ts", ts}, {"text", "SEV2"}})["ok"],
      true);
  EXPECT_EQ(post_json(slack, "chat.update",
                      {{"channel", channel}, {"ts", "1.2"}, {"text", "x"}})["error"],
            "message_not_found");
  const std::string human = slack.add_user_message(channel, "U0ALICE", "hello");
  EXPECT_EQ(post_json(slack, "chat.update",
                      {{"channel", channel}, {"ts", human}, {"text", "x"}})["error"],
            "cant_update_message");

  const auto message = slack.message(channel, ts);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text, "SEV2");
  EXPECT_EQ(message->blocks, blocks);  // an update with text only keeps the blocks
  ASSERT_EQ(message->previous_versions.size(), 1U);
  EXPECT_EQ(message->previous_versions[0].text, "SEV1");
  const auto all = slack.messages();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[1].thread_ts, ts);
  EXPECT_EQ(slack.calls("chat.postMessage")[0].content_type, "application/x-www-form-urlencoded");
  EXPECT_TRUE(slack.calls("chat.postMessage")[0].args["blocks"].is_array());

  const json ephemeral =
      post_json(slack, "chat.postEphemeral",
                {{"channel", channel}, {"user", "U0ALICE"}, {"text", "only you"}});
  EXPECT_EQ(ephemeral["ok"], true);
  EXPECT_FALSE(ephemeral["message_ts"].get<std::string>().empty());
  const json dm = post_json(slack, "conversations.open", {{"users", "U0BOB"}});
  EXPECT_EQ(dm["channel"]["id"].get<std::string>().front(), 'D');
  EXPECT_EQ(post_json(slack, "users.info", {{"user", "U0CAROL"}})["user"]["name"], "carol");
  EXPECT_EQ(post_json(slack, "users.info", {{"user", "U0NONE"}})["error"], "user_not_found");
  EXPECT_TRUE(slack.violations().empty());
}

TEST(FakeSlackWebApi, ViewsOpenChecksTriggerIdsAndTheView) {
  FakeSlack slack;
  const json view{{"type", "modal"},
                  {"callback_id", "haveri_form"},
                  {"title", {{"type", "plain_text"}, {"text", "Declare incident"}}},
                  {"submit", {{"type", "plain_text"}, {"text", "Declare"}}},
                  {"blocks",
                   {{{"type", "input"},
                     {"block_id", "title"},
                     {"label", {{"type", "plain_text"}, {"text", "Title"}}},
                     {"element", {{"type", "plain_text_input"}, {"action_id", "value"}}}}}}};
  EXPECT_EQ(
      post_json(slack, "views.open", {{"trigger_id", "123.456.abc"}, {"view", view}})["error"],
      "invalid_trigger_id");
  EXPECT_EQ(post_json(slack, "views.open",
                      {{"trigger_id", slack.issue_trigger_id(4s)}, {"view", view}})["error"],
            "expired_trigger_id");

  json long_title = view;
  long_title["title"]["text"] = std::string(25, 't');
  const std::string trigger = slack.issue_trigger_id();
  const json bad = post_json(slack, "views.open", {{"trigger_id", trigger}, {"view", long_title}});
  EXPECT_EQ(bad["error"], "invalid_arguments");
  EXPECT_EQ(slack.violations().size(), 1U);

  const json opened =
      post_form(slack, "views.open", {{"trigger_id", trigger}, {"view", view.dump()}});
  ASSERT_EQ(opened["ok"], true) << opened;
  EXPECT_EQ(opened["view"]["id"].get<std::string>().front(), 'V');
  EXPECT_EQ(post_json(slack, "views.open", {{"trigger_id", trigger}, {"view", view}})["error"],
            "exchanged_trigger_id");
  ASSERT_EQ(slack.views().size(), 1U);
  EXPECT_EQ(slack.views()[0].view, view);
}

TEST(FakeSlackFaults, InjectedRateLimitWithRetryAfterThenSuccess) {
  FakeSlack slack;
  slack.inject("auth.test", Fault::rate_limited(7s));
  slack.inject("auth.test", Fault::server_error(503));
  auto limited = call_api(slack.port(), "auth.test", "{}", "application/json; charset=utf-8", kBot);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->headers["Retry-After"], "7");
  EXPECT_EQ(limited->body_json()["error"], "ratelimited");
  auto unavailable =
      call_api(slack.port(), "auth.test", "{}", "application/json; charset=utf-8", kBot);
  ASSERT_TRUE(unavailable);
  EXPECT_EQ(unavailable->status, 503);
  EXPECT_EQ(post_json(slack, "auth.test", json::object())["ok"], true);

  slack.inject("*", Fault::slack_error("internal_error"));
  EXPECT_EQ(post_json(slack, "users.info", {{"user", "U0BOB"}})["error"], "internal_error");
  slack.inject("users.info", Fault::drop_connection());
  EXPECT_FALSE(
      call_api(slack.port(), "users.info", R"({"user":"U0BOB"})", "application/json", kBot));

  slack.set_latency("users.info", 300ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(post_json(slack, "users.info", {{"user", "U0BOB"}})["ok"], true);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(slack.call_count("users.info"), 3U);
}

TEST(FakeSlackSocketMode, HelloThenEnvelopeThenAckIsRecorded) {
  FakeSlack slack;
  const std::string url = open_socket_url(slack);
  ASSERT_EQ(url.rfind("ws://127.0.0.1:", 0), 0U) << url;
  SocketModeClient client(url);
  ASSERT_TRUE(client.connected()) << client.error().message();
  const auto hello = client.next();
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["type"], "hello");
  EXPECT_EQ((*hello)["num_connections"], 1);
  EXPECT_EQ((*hello)["connection_info"]["app_id"], "A0APP");
  EXPECT_TRUE(slack.wait_for_connections_opened(1, kWait));
  EXPECT_EQ(slack.open_connections(), 1U);

  haveri::fakes::SlackPayloads payloads;
  const json event = payloads.event_callback(payloads.message("C0GENERAL", "U0ALICE", "hi"));
  const std::string id = slack.push_envelope("events_api", event, false);
  const auto envelope = client.next();
  ASSERT_TRUE(envelope);
  EXPECT_EQ((*envelope)["envelope_id"], id);
  EXPECT_EQ((*envelope)["type"], "events_api");
  EXPECT_EQ((*envelope)["payload"], event);
  EXPECT_EQ((*envelope)["retry_attempt"], 0);

  client.send({{"envelope_id", id}, {"payload", {{"text", "ok"}}}});
  const auto ack = slack.wait_for_ack(id, kWait);
  ASSERT_TRUE(ack);
  EXPECT_EQ((*ack)["payload"]["text"], "ok");
  EXPECT_FALSE(slack.wait_for_ack("not-an-envelope", 50ms));

  ASSERT_TRUE(slack.redeliver(id));
  const auto again = client.next();
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["envelope_id"], id);
  EXPECT_EQ((*again)["retry_attempt"], 1);
  EXPECT_EQ((*again)["retry_reason"], "timeout");
}

TEST(FakeSlackSocketMode, EnvelopesWaitForAConnection) {
  FakeSlack slack;
  const std::string id =
      slack.push_envelope("slash_commands", json{{"command", "/incident"}}, true);
  SocketModeClient client(open_socket_url(slack));
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.next().value_or(json())["type"], "hello");
  const auto envelope = client.next();
  ASSERT_TRUE(envelope);
  EXPECT_EQ((*envelope)["envelope_id"], id);
  EXPECT_EQ((*envelope)["accepts_response_payload"], true);
}

TEST(FakeSlackSocketMode, DisconnectMessageThenClose) {
  FakeSlack slack;
  EXPECT_FALSE(slack.send_disconnect("refresh_requested"));
  SocketModeClient client(open_socket_url(slack));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.next());  // hello
  ASSERT_TRUE(slack.wait_for_connections_opened(1, kWait));
  ASSERT_TRUE(slack.send_disconnect("refresh_requested", 100ms));
  const auto disconnect = client.next();
  ASSERT_TRUE(disconnect);
  EXPECT_EQ((*disconnect)["type"], "disconnect");
  EXPECT_EQ((*disconnect)["reason"], "refresh_requested");
  EXPECT_TRUE((*disconnect)["debug_info"].is_object());
  ASSERT_TRUE(client.wait_end());
  EXPECT_EQ(client.error(), websocket::error::closed);  // a close frame came
  EXPECT_TRUE(slack.wait_until([&] { return slack.open_connections() == 0; }, kWait));
}

TEST(FakeSlackSocketMode, DroppedConnectionEndsWithoutCloseFrame) {
  FakeSlack slack;
  SocketModeClient client(open_socket_url(slack));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.next());
  ASSERT_TRUE(slack.wait_for_connections_opened(1, kWait));
  slack.drop_connections();
  EXPECT_EQ(slack.open_connections(), 0U);
  ASSERT_TRUE(client.wait_end());
  EXPECT_NE(client.error(), websocket::error::closed);
}

TEST(FakeSlackSocketMode, ReusedTicketIsRefused) {
  FakeSlack slack;
  const std::string url = open_socket_url(slack);
  SocketModeClient first(url);
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(slack.wait_for_connections_opened(1, kWait));
  SocketModeClient second(url);
  EXPECT_FALSE(second.connected());
  EXPECT_EQ(second.error(), websocket::error::upgrade_declined);
  SocketModeClient made_up("ws://127.0.0.1:" + std::to_string(slack.port()) + "/link/?ticket=x");
  EXPECT_FALSE(made_up.connected());
  EXPECT_EQ(slack.connections_opened(), 1U);
}

TEST(SlackDriver, SignsRequestsLikeSlack) {
  // A vector computed with `openssl dgst -sha256 -hmac`.
  EXPECT_EQ(
      haveri::fakes::slack_signature("fake-signing-secret", "1531420618", "token=x&team_id=T0FAKE"),
      "v0=e7a4f3ae849d346fa03bb4f06bb928a2c2e87132a8a1a617397b48303307c691");

  FakeSlack slack;  // its response_url endpoint records what it receives
  haveri::fakes::SlackDriver driver;
  haveri::fakes::SlackPayloads payloads;
  haveri::fakes::SlackPayloads::SlashCommand command;
  command.text = "declare db down";
  command.trigger_id = slack.issue_trigger_id();
  const auto fields = payloads.slash_command(command);
  EXPECT_EQ(fields.at("team_id"), "T0FAKE");
  EXPECT_EQ(fields.at("trigger_id"), command.trigger_id);

  const auto response = driver.post_slash_command(
      slack.issue_response_url(), fields,
      {.timestamp = 1531420618, .retry_num = 1, .retry_reason = "http_timeout"});
  EXPECT_EQ(response.status, 200);
  const auto click = payloads.block_actions({.action_id = "haveri_command_0", .value = "ack"});
  driver.post_interaction(slack.issue_response_url(), click, {.corrupt_signature = true});

  const auto posts = slack.response_url_posts();
  ASSERT_EQ(posts.size(), 2U);
  EXPECT_EQ(posts[0].content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(posts[0].headers.at("x-slack-request-timestamp"), "1531420618");
  EXPECT_EQ(posts[0].headers.at("x-slack-signature"),
            haveri::fakes::slack_signature("fake-signing-secret", "1531420618", posts[0].body));
  EXPECT_EQ(posts[0].headers.at("x-slack-retry-num"), "1");
  EXPECT_EQ(posts[0].headers.at("x-slack-retry-reason"), "http_timeout");
  EXPECT_EQ(posts[1].body.rfind("payload=", 0), 0U);
  EXPECT_NE(
      posts[1].headers.at("x-slack-signature"),
      haveri::fakes::slack_signature(
          "fake-signing-secret", posts[1].headers.at("x-slack-request-timestamp"), posts[1].body));
}

TEST(SlackPayloads, ViewSubmissionStateFollowsTheElementTypes) {
  const json view{
      {"type", "modal"},
      {"callback_id", "haveri_form"},
      {"private_metadata", "form-1"},
      {"blocks",
       {{{"type", "input"},
         {"block_id", "title"},
         {"element", {{"type", "plain_text_input"}, {"action_id", "value"}}}},
        {{"type", "input"},
         {"block_id", "severity"},
         {"element",
          {{"type", "static_select"},
           {"action_id", "value"},
           {"options",
            {{{"text", {{"type", "plain_text"}, {"text", "SEV1"}}}, {"value", "sev1"}}}}}}},
        {{"type", "input"},
         {"block_id", "when"},
         {"element", {{"type", "datepicker"}, {"action_id", "value"}}}}}}};
  const json values = haveri::fakes::SlackPayloads::state_values(
      view, {{"title", "DB down"}, {"severity", "sev1"}});
  EXPECT_EQ(values["title"]["value"]["value"], "DB down");
  EXPECT_EQ(values["severity"]["value"]["selected_option"]["value"], "sev1");
  EXPECT_TRUE(values["when"]["value"]["selected_date"].is_null());

  haveri::fakes::SlackPayloads payloads;
  const json submission = payloads.view_submission(view, values);
  EXPECT_EQ(submission["type"], "view_submission");
  EXPECT_EQ(submission["view"]["private_metadata"], "form-1");
  EXPECT_EQ(submission["view"]["state"]["values"], values);
  EXPECT_EQ(submission["team"]["id"], "T0FAKE");
}

}  // namespace
