// No secret ever reaches the log. One real haverid at logging.level trace runs the local
// plugin, the Slack plugin twice (events mode against signed requests, Socket Mode over a
// WebSocket) against the fake Slack and the Teams plugin against the fake Microsoft, with
// every secret a distinct canary value. Incidents are declared and worked on each
// platform, the API is called with the right and with wrong tokens, requests with bad
// signatures and forged tokens are sent, the secrets are rotated on disk before a SIGHUP,
// and SIGTERM ends the run. Then the whole log is searched for every secret, every token
// Microsoft issued, and anything shaped like a bearer credential or a JWT.

#include <csignal>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "daemon_test.hpp"
#include "slack/fake_slack.hpp"
#include "teams/fake_teams.hpp"

namespace {

using namespace haveri::testing;
using haveri::fakes::FakeSlack;
using haveri::fakes::FakeSlackConfig;
using haveri::fakes::FakeTeams;
using haveri::fakes::FakeTeamsConfig;
using haveri::fakes::SigningOptions;
using haveri::fakes::SlackDriver;
using haveri::fakes::SlackPayloads;
using haveri::fakes::TeamsAuth;
using haveri::fakes::TeamsDriver;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(15);

// Every configured secret, each a value found nowhere else.
constexpr const char* kSlackSigningSecret = "slack-signing-canary-5b8e12d0";
constexpr const char* kSlackBotToken = "xoxb-canary-bot-0f3a9c77";
constexpr const char* kSlackAppToken = "xapp-canary-app-7d21e4aa";
constexpr const char* kTeamsClientSecret = "teams-client-canary-c4d9a1e3";
// What the SIGHUP finds on disk instead.
constexpr const char* kRotatedApiToken = "api-token-rotated-canary-3c5d08f1";
constexpr const char* kRotatedSlackBotToken = "xoxb-rotated-canary-bot-9e0b3d55";
// Tokens of callers who do not have the right one.
constexpr const char* kWrongApiToken = "api-token-wrong-canary-61f0ab2c";

FakeSlackConfig slack_config() {
  FakeSlackConfig config;
  config.bot_token = kSlackBotToken;
  config.app_token = kSlackAppToken;
  return config;
}

FakeTeamsConfig teams_config() {
  FakeTeamsConfig config;
  config.client_secret = kTeamsClientSecret;
  return config;
}

struct Secret {
  std::string name;
  std::string value;
};

// Every line of the log holding a secret, or a credential by its shape.
std::vector<std::string> leaks(const std::string& log, const std::vector<Secret>& secrets) {
  const std::regex bearer(R"(bearer[\s:=]+[A-Za-z0-9._~+/=-]{6,})", std::regex::icase);
  const std::regex jwt(R"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})");
  const std::regex slack_token(R"(xox[abpr]-|xapp-)");
  std::vector<std::string> found;
  std::istringstream in(log);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = "log line " + std::to_string(number) + ": ";
    for (const auto& secret : secrets) {
      if (!secret.value.empty() && line.find(secret.value) != std::string::npos) {
        found.push_back(where + secret.name + " in: " + line);
      }
    }
    if (std::regex_search(line, bearer)) {
      found.push_back(where + "a bearer credential in: " + line);
    }
    if (std::regex_search(line, jwt)) {
      found.push_back(where + "a JWT in: " + line);
    }
    if (std::regex_search(line, slack_token)) {
      found.push_back(where + "a Slack token in: " + line);
    }
  }
  return found;
}

class SecretsNeverLogged : public DaemonTest {
 protected:
  void SetUp() override {
    general_ = slack_.add_channel("general", {"U0ALICE", "U0BOB", "U0BOT"});
    slack_announcements_ = slack_.add_channel("incidents", {"U0BOT"});
    write_file(dir_.path() / "slack-signing-secret", std::string(kSlackSigningSecret) + "\n");
    write_file(dir_.path() / "slack-bot-token", std::string(kSlackBotToken) + "\n");
    write_file(dir_.path() / "slack-app-token", std::string(kSlackAppToken) + "\n");
    write_file(dir_.path() / "teams-client-secret", std::string(kTeamsClientSecret) + "\n");
    teams_announcements_ = make_teams_channel("Incidents");

    const auto& teams = teams_.config();
    const std::string slack_base = "http://127.0.0.1:" + std::to_string(slack_.port()) + "/";
    const std::string instances =
        "    - name: local\n      plugin: local\n"
        "    - name: slack\n      plugin: slack\n      settings:\n"
        "        mode: events\n"
        "        signing_secret_file: " +
        (dir_.path() / "slack-signing-secret").string() +
        "\n"
        "        bot_token_file: " +
        (dir_.path() / "slack-bot-token").string() +
        "\n"
        "        api_base_url: " +
        slack_.api_base_url() + "\n        response_url_prefix: " + slack_base +
        "\n"
        "    - name: slack-socket\n      plugin: slack\n      settings:\n"
        "        mode: socket\n"
        "        bot_token_file: " +
        (dir_.path() / "slack-bot-token").string() +
        "\n"
        "        app_token_file: " +
        (dir_.path() / "slack-app-token").string() +
        "\n"
        "        api_base_url: " +
        slack_.api_base_url() + "\n        response_url_prefix: " + slack_base +
        "\n"
        "    - name: teams\n      plugin: teams\n      settings:\n"
        "        app_id: " +
        teams.app_id +
        "\n        client_secret_file: " + (dir_.path() / "teams-client-secret").string() +
        "\n        tenants: [" + teams.tenant_id + "]\n        team_id: " + teams.team.group_id +
        "\n        announcements_channel: \"" + teams_announcements_ +
        "\"\n        service_url: " + teams_.service_url() +
        "\n        service_url_allow_list: [\"" + teams_.service_url() +
        "\"]\n        openid_metadata_url: " + teams_.openid_metadata_url() +
        "\n        token_url: " + teams_.connector_token_url() + "\n        graph_token_url: \"" +
        teams_.graph_token_url() + "\"\n        graph_base_url: " + teams_.graph_base_url() +
        "\n        api_timeout_ms: 3000\n";
    write_file(dir_.path() / "directory.yaml",
               "organizations:\n"
               "  - id: plant-slack\n    name: Slack plant\n"
               "    installations: [{platform: slack, id: T0FAKE}]\n"
               "    announcements: {instance: slack, channel: " +
                   slack_announcements_ +
                   "}\n"
                   "    facilities: [{id: plant-a, name: Plant A, time_zone: Europe/Helsinki}]\n"
                   "    members:\n"
                   "      - {id: alice, name: Alice, identities: {slack: U0ALICE}}\n"
                   "      - {id: bob, name: Bob, identities: {slack: U0BOB}}\n"
                   "  - id: plant-teams\n    name: Teams plant\n"
                   "    installations: [{platform: teams, id: " +
                   teams.tenant_id +
                   "}]\n"
                   "    announcements: {instance: teams, channel: announcements}\n"
                   "    facilities: [{id: plant-b, name: Plant B, time_zone: Europe/Helsinki}]\n"
                   "    members:\n"
                   "      - {id: alice, name: Alice, identities: {teams: " +
                   teams_.user("alice").aad_object_id +
                   "}}\n"
                   "      - {id: bob, name: Bob, identities: {teams: " +
                   teams_.user("bob").aad_object_id +
                   "}}\n"
                   "  - id: plant-local\n    name: Local plant\n"
                   "    installations: [{platform: local, id: local}]\n"
                   "    announcements: {instance: local, channel: general}\n"
                   "    facilities: [{id: plant-c, name: Plant C, time_zone: UTC}]\n"
                   "    members:\n"
                   "      - {id: carol, name: Carol, identities: {local: carol}}\n");
    config_ = dir_.path() / "haveri.yaml";
    std::string config = test_config(dir_.path(), (build_dir() / "plugins").string(), instances) +
                         "directory:\n  path: " + (dir_.path() / "directory.yaml").string() + "\n";
    config.replace(config.find("level: debug"), 12, "level: trace");
    write_file(config_, config);
    start();
    hooks_ = url() + "/hooks/slack";
    teams_driver_ = std::make_unique<TeamsDriver>(teams_, url() + "/hooks/teams/messages");
  }

  // A channel of the Teams team, made through Graph as an admin would.
  std::string make_teams_channel(const std::string& name) {
    const BlockingClient microsoft(haveri::http::BaseUrl{"127.0.0.1", teams_.port(), ""});
    std::string token_url = teams_.graph_token_url();
    token_url.replace(token_url.find("{tenant}"), 8, teams_.config().tenant_id);
    token_url = token_url.substr(token_url.find("/login/"));
    const auto token =
        microsoft.request("POST", token_url,
                          "grant_type=client_credentials&client_id=" + teams_.config().app_id +
                              "&client_secret=" + teams_.config().client_secret +
                              "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
                          "application/x-www-form-urlencoded");
    const std::string access = json::parse(token.body).value("access_token", "");
    const auto made = microsoft.request(
        "POST", "/graph/v1.0/teams/" + teams_.config().team.group_id + "/channels",
        json{{"displayName", name}, {"membershipType", "standard"}}.dump(), "application/json",
        {{"authorization", "Bearer " + access}});
    return json::parse(made.body).value("id", "");
  }

  // The channel of incident `number` once its plugin made it (bounded by kWait).
  std::string await_incident_channel(int number) {
    const std::string target = "/api/v1/incidents/" + std::to_string(number);
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    json incident;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto response = client_->get(target, kAuth);
      incident = response.status == 200 ? json::parse(response.body, nullptr, false) : json();
      if (incident.is_object() && incident["channel"].is_object()) {
        return incident["channel"].value("id", "");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "incident " << number << " has no channel; last: " << incident.dump() << "\n"
                  << daemon_->log();
    return {};
  }

  void await_outbox_drained() {
    await("/api/v1/outbox", [](const json& doc) {
      return doc.value("queued", 1) == 0 && doc.value("in_flight", 1) == 0;
    });
  }

  bool log_shows(const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (daemon_->log().find(needle) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  haveri::fakes::DriverResponse slash(const std::string& text, const std::string& channel,
                                      const SigningOptions& signing = {}) {
    SlackPayloads::SlashCommand command;
    command.text = text;
    command.channel_id = channel;
    command.channel_name = channel == general_ ? "general" : "incident";
    command.trigger_id = slack_.issue_trigger_id();
    command.response_url = slack_.issue_response_url();
    return slack_driver_.post_slash_command(hooks_ + "/commands", payloads_.slash_command(command),
                                            signing);
  }

  void work_an_incident_over_slack_events() {
    ASSERT_EQ(slack_driver_.post_event(hooks_ + "/events", payloads_.url_verification("c-1")).body,
              "c-1");
    ASSERT_EQ(slash("declare Pump 2 down sev2", general_).status, 200);
    const std::string channel = await_incident_channel(1);
    ASSERT_FALSE(channel.empty());
    EXPECT_EQ(slack_driver_
                  .post_event(hooks_ + "/events", payloads_.event_callback(payloads_.message(
                                                      channel, "U0BOB", "breaker tripped")))
                  .status,
              200);
    // Slack's retry of it, and a request whose signature is wrong.
    SigningOptions retry;
    retry.retry_num = 1;
    retry.retry_reason = "http_timeout";
    EXPECT_EQ(slash("note resetting breaker", channel, retry).status, 200);
    SigningOptions forged;
    forged.corrupt_signature = true;
    EXPECT_EQ(slash("declare Forged sev1", general_, forged).status, 401);
    ASSERT_EQ(slash("resolve", channel).status, 200);
    ASSERT_TRUE(slack_.wait_until([&] { return !slack_.views().empty(); }, kWait))
        << daemon_->log();
    const auto view = slack_.views().front();
    const json answers =
        SlackPayloads::state_values(view.view, {{"what_happened", "Pump 2 tripped"},
                                                {"root_cause", "A worn bearing"},
                                                {"resolution", "Bearing replaced"}});
    EXPECT_EQ(
        slack_driver_
            .post_interaction(hooks_ + "/interactivity",
                              payloads_.view_submission(view.view, answers, "U0ALICE", view.id))
            .status,
        200);
    await("/api/v1/incidents/1",
          [](const json& doc) { return doc.value("status", "") == "RESOLVED"; });
  }

  void work_an_incident_over_slack_socket_mode() {
    ASSERT_TRUE(slack_.wait_for_connections_opened(1, kWait)) << daemon_->log();
    SlackPayloads::SlashCommand command;
    command.text = "declare Kiln 1 overheating sev3";
    command.channel_id = general_;
    command.trigger_id = slack_.issue_trigger_id();
    command.response_url = slack_.issue_response_url();
    const std::string declared = slack_.push_envelope(
        "slash_commands", haveri::fakes::to_json(payloads_.slash_command(command)), true);
    ASSERT_TRUE(slack_.wait_for_ack(declared, kWait)) << daemon_->log();
    const std::string channel = await_incident_channel(2);
    ASSERT_FALSE(channel.empty());
    const std::string said = slack_.push_envelope(
        "events_api",
        payloads_.event_callback(payloads_.message(channel, "U0ALICE", "kiln 1 at 1350 C")), false);
    ASSERT_TRUE(slack_.wait_for_ack(said, kWait)) << daemon_->log();
  }

  void work_an_incident_over_teams() {
    const auto& alice = teams_.user("alice");
    const auto& bob = teams_.user("bob");
    EXPECT_EQ(teams_driver_->post(teams_driver_->bot_installed(alice)).status, 200);
    const auto declared =
        teams_driver_->post(teams_driver_->channel_mention(alice, "declare Pump 3 down sev2"));
    ASSERT_EQ(declared.status, 200) << declared.body;
    const std::string channel = await_incident_channel(3);
    ASSERT_FALSE(channel.empty());
    EXPECT_EQ(
        teams_driver_->post(teams_driver_->channel_message(bob, "pump 3 isolated", channel)).status,
        200);
    EXPECT_EQ(teams_driver_->post(teams_driver_->channel_mention(bob, "ack", channel)).status, 200);
    await("/api/v1/incidents/3",
          [](const json& doc) { return doc["acknowledged_by"].is_object(); });
    // Tokens Teams would never send.
    TeamsAuth wrong_issuer;
    wrong_issuer.claims_patch = json{{"iss", "https://sts.windows.net/evil/"}};
    EXPECT_EQ(
        teams_driver_->post(teams_driver_->channel_mention(alice, "declare No sev1"), wrong_issuer)
            .status,
        401);
    TeamsAuth malformed;
    malformed.authorization = "Bearer not.a.jwt-canary-" + std::string(kWrongApiToken);
    EXPECT_EQ(
        teams_driver_->post(teams_driver_->channel_mention(alice, "declare No sev1"), malformed)
            .status,
        401);
  }

  void call_the_api_with_right_and_wrong_tokens() {
    EXPECT_EQ(client_->get("/api/v1/incidents", kAuth).status, 200);
    EXPECT_EQ(
        client_
            ->get("/api/v1/incidents", {{"authorization", std::string("Bearer ") + kWrongApiToken}})
            .status,
        401);
    EXPECT_EQ(client_->get("/api/v1/incidents", {{"authorization", kWrongApiToken}}).status, 401);
    EXPECT_EQ(client_->get("/api/v1/incidents").status, 401);
    EXPECT_EQ(client_
                  ->request("POST", "/api/v1/incidents", R"({"title":"x"})", "application/json",
                            {{"authorization", std::string("Bearer ") + kWrongApiToken}})
                  .status,
              401);
  }

  FakeSlack slack_{slack_config()};
  SlackDriver slack_driver_{kSlackSigningSecret};
  SlackPayloads payloads_;
  FakeTeams teams_{teams_config()};
  std::unique_ptr<TeamsDriver> teams_driver_;
  std::string general_;
  std::string slack_announcements_;
  std::string teams_announcements_;
  std::string hooks_;
};

TEST_F(SecretsNeverLogged, AFullRunAtTraceLevelLogsNoSecret) {
  work_an_incident_over_slack_events();
  work_an_incident_over_slack_socket_mode();
  work_an_incident_over_teams();
  ASSERT_EQ(say("general", "carol", "/incident declare Press 4 leaking sev3").status, 200);
  await_incident_channel(4);
  call_the_api_with_right_and_wrong_tokens();
  await_outbox_drained();

  // Secrets rotated on disk: a reload names what changed, never the values.
  write_file(dir_.path() / "api-token", std::string(kRotatedApiToken) + "\n");
  write_file(dir_.path() / "slack-bot-token", std::string(kRotatedSlackBotToken) + "\n");
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(log_shows("reloaded: 3 organization(s)")) << daemon_->log();
  EXPECT_THAT(daemon_->log(), HasSubstr("api.token changed: takes effect after a restart"));
  EXPECT_THAT(daemon_->log(),
              HasSubstr("plugins.instances[1] (slack).settings changed: takes effect after a "
                        "restart"));
  // Until a restart the running token is still the one that works.
  EXPECT_EQ(client_->get("/api/v1/incidents", kAuth).status, 200);
  ASSERT_EQ(daemon_->terminate(), 0) << daemon_->log();

  const std::string log = daemon_->log();
  // The run did log at every level down to debug, plugin lines included: the search
  // below looked at a log that had the chance to leak.
  EXPECT_THAT(log, HasSubstr(" debug "));
  EXPECT_THAT(log, HasSubstr("instance=slack-socket"));
  EXPECT_THAT(log, HasSubstr("instance=teams"));
  EXPECT_THAT(log, HasSubstr("haverid stopped"));

  std::vector<Secret> secrets = {
      {"the API token", kTestToken},
      {"the rotated API token", kRotatedApiToken},
      {"a wrong API token", kWrongApiToken},
      {"the Slack signing secret", kSlackSigningSecret},
      {"the Slack bot token", kSlackBotToken},
      {"the rotated Slack bot token", kRotatedSlackBotToken},
      {"the Slack app-level token", kSlackAppToken},
      {"the Teams client secret", kTeamsClientSecret},
  };
  for (const auto& token : teams_.issued_tokens()) {
    secrets.push_back(
        {"an access token Microsoft issued (" + token.scope + ")", token.access_token});
  }
  EXPECT_GE(teams_.issued_tokens().size(), 2U) << "the Teams plugin never called Microsoft";
  for (const auto& leak : leaks(log, secrets)) {
    ADD_FAILURE() << leak;
  }
}

TEST(SecretSearch, FindsASecretOrACredentialWhereverItIsInALine) {
  // The search itself, on lines a careless change could produce.
  const std::vector<Secret> secrets = {{"the Slack bot token", kSlackBotToken}};
  const std::string log =
      "2026-11-24T18:00:00.000 info  plain line\n"
      "2026-11-24T18:00:00.000 debug calling chat.postMessage with xoxb-canary-bot-0f3a9c77\n"
      "<7>outbound POST https://x/ authorization=\"Bearer abcdefgh\" instance=teams\n"
      "<7>jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwcyJ9.c2ln\n";
  const auto found = leaks(log, secrets);
  ASSERT_EQ(found.size(), 4U) << ::testing::PrintToString(found);
  EXPECT_THAT(found[0], HasSubstr("log line 2: the Slack bot token"));
  EXPECT_THAT(found[1], HasSubstr("log line 2: a Slack token"));
  EXPECT_THAT(found[2], HasSubstr("log line 3: a bearer credential"));
  EXPECT_THAT(found[3], HasSubstr("log line 4: a JWT"));
}

}  // namespace
