// The whole incident loop as Microsoft Teams drives it: the real haverid loads the real
// libhaveri_teams.so; the Bot Framework service is played by a driver that posts signed
// activities to /hooks/teams/messages, and every call the plugin makes (tokens, signing
// keys, Bot Connector, Graph) goes to a fake Microsoft on loopback (tests/fakes/teams)
// that checks tokens, channel names and Adaptive Cards as Microsoft does.
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>

#include "daemon_test.hpp"
#include "teams/fake_teams.hpp"

namespace {

using namespace haveri::testing;
using haveri::fakes::FakeTeams;
using haveri::fakes::TeamsActivity;
using haveri::fakes::TeamsAuth;
using haveri::fakes::TeamsDriver;
using haveri::fakes::TeamsFault;
using haveri::fakes::TeamsService;
using haveri::fakes::TestSigningKey;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kWait = std::chrono::seconds(15);

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A button on a card the bot sent: the activity it is on and its Action.Execute.
struct CardButton {
  TeamsActivity activity;
  json action;
};

void collect_actions(const json& node, std::vector<json>& out) {
  if (node.is_object()) {
    if (node.value("type", "") == "Action.Execute") {
      out.push_back(node);
    }
    for (const auto& [key, value] : node.items()) {
      collect_actions(value, out);
    }
  } else if (node.is_array()) {
    for (const auto& value : node) {
      collect_actions(value, out);
    }
  }
}

class TeamsEndToEnd : public DaemonTest {
 protected:
  void SetUp() override {
    teams_ = std::make_unique<FakeTeams>();
    write_file(dir_.path() / "teams-client-secret", teams_->config().client_secret + "\n");
    const auto& config = teams_->config();
    general_ = config.team.thread_id;
    announcements_ = make_channel("Incidents");
    const std::string instances =
        "    - name: teams\n      plugin: teams\n      settings:\n"
        "        app_id: " +
        config.app_id + "\n" +
        "        client_secret_file: " + (dir_.path() / "teams-client-secret").string() + "\n" +
        "        tenants: [" + config.tenant_id + "]\n" +
        "        team_id: " + config.team.group_id + "\n" + "        announcements_channel: \"" +
        announcements_ + "\"\n" + "        service_url: " + teams_->service_url() + "\n" +
        "        service_url_allow_list: [\"" + teams_->service_url() + "\"]\n" +
        "        openid_metadata_url: " + teams_->openid_metadata_url() + "\n" +
        "        token_url: " + teams_->connector_token_url() + "\n" +
        "        graph_token_url: \"" + teams_->graph_token_url() + "\"\n" +
        "        graph_base_url: " + teams_->graph_base_url() + "\n" +
        "        api_timeout_ms: 3000\n";
    write_file(dir_.path() / "directory.yaml",
               "organizations:\n"
               "  - id: acme\n"
               "    name: Acme\n"
               "    installations:\n"
               "      - {platform: teams, id: " +
                   config.tenant_id + "}\n" +
                   "    announcements: {instance: teams, channel: announcements}\n"
                   "    facilities:\n"
                   "      - {id: plant-a, name: Plant A, time_zone: Europe/Helsinki}\n"
                   "    members:\n"
                   "      - {id: alice, name: Alice, identities: {teams: " +
                   teams_->user("alice").aad_object_id + "}}\n" +
                   "      - {id: bob, name: Bob, identities: {teams: " +
                   teams_->user("bob").aad_object_id + "}}\n" +
                   "      - {id: carol, name: Carol, identities: {teams: " +
                   teams_->user("carol").aad_object_id + "}}\n");
    config_ = dir_.path() / "haveri.yaml";
    write_file(config_, test_config(dir_.path(), (build_dir() / "plugins").string(), instances) +
                            "directory:\n  path: " + (dir_.path() / "directory.yaml").string() +
                            "\n");
    start();
    driver_ = std::make_unique<TeamsDriver>(*teams_, url() + "/hooks/teams/messages");
  }

  // A channel of the team made by people (through Graph, as an admin would).
  std::string make_channel(const std::string& name) {
    const BlockingClient microsoft(haveri::http::BaseUrl{"127.0.0.1", teams_->port(), ""});
    std::string token_url = teams_->graph_token_url();
    token_url.replace(token_url.find("{tenant}"), 8, teams_->config().tenant_id);
    token_url = token_url.substr(token_url.find("/login/"));
    const auto token =
        microsoft.request("POST", token_url,
                          "grant_type=client_credentials&client_id=" + teams_->config().app_id +
                              "&client_secret=" + teams_->config().client_secret +
                              "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
                          "application/x-www-form-urlencoded");
    const std::string access = json::parse(token.body).value("access_token", "");
    const auto made = microsoft.request(
        "POST", "/graph/v1.0/teams/" + teams_->config().team.group_id + "/channels",
        json{{"displayName", name}, {"membershipType", "standard"}}.dump(), "application/json",
        {{"authorization", "Bearer " + access}});
    return json::parse(made.body).value("id", "");
  }

  // The incident's channel once the plugin made it through Graph.
  // Bounded by kWait, not DaemonTest::await's 5 s: with Microsoft failing, retries that
  // honour Retry-After and call timeouts take several seconds.
  std::string await_incident_channel(int number) {
    const std::string target = "/api/v1/incidents/" + std::to_string(number);
    json incident;
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto response = client_->get(target, kAuth);
      incident = response.status == 200 ? json::parse(response.body, nullptr, false) : json();
      if (incident.is_object() && incident["channel"].is_object()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (!incident.is_object() || !incident["channel"].is_object()) {
      ADD_FAILURE() << "incident " << number << " has no channel; last: " << incident.dump(2)
                    << "\n"
                    << daemon_->log();
      return {};
    }
    return incident["channel"].value("id", "");
  }

  json timeline(int number) {
    return api("/api/v1/incidents/" + std::to_string(number) + "/events");
  }

  static int count(const json& events, const std::string& type) {
    int n = 0;
    for (const auto& event : events["events"]) {
      n += event.value("type", "") == type ? 1 : 0;
    }
    return n;
  }

  // The first Action.Execute in the bot's activities in `conversation` ("" any) whose
  // data satisfies `wanted`.
  std::optional<CardButton> button(const std::string& conversation,
                                   const std::function<bool(const json&)>& wanted) {
    const auto activities =
        conversation.empty() ? teams_->bot_activities() : teams_->activities_in(conversation);
    for (const auto& activity : activities) {
      if (!activity.from_bot) {
        continue;
      }
      std::vector<json> actions;
      collect_actions(activity.activity, actions);
      for (const auto& action : actions) {
        if (wanted(action.value("data", json::object()))) {
          return CardButton{activity, action};
        }
      }
    }
    return std::nullopt;
  }

  std::optional<CardButton> await_button(const std::string& conversation,
                                         const std::function<bool(const json&)>& wanted) {
    std::optional<CardButton> found;
    teams_->wait_for([&] { return (found = button(conversation, wanted)).has_value(); }, kWait);
    return found;
  }

  // The conversation id a card's button is pressed in, as Teams sends it.
  static std::string conversation_of(const TeamsActivity& activity) {
    return activity.thread_root_id.empty()
               ? activity.conversation_id
               : activity.conversation_id + ";messageid=" + activity.thread_root_id;
  }

  void expect_no_card_violations() {
    for (const auto& violation : teams_->card_violations()) {
      ADD_FAILURE() << violation.method << " " << violation.path << ": "
                    << json(violation.errors).dump() << "\n"
                    << violation.activity.dump();
    }
  }

  // What the bot sent, for failure messages.
  std::string bot_activity_summary() {
    std::string out = "announcements: " + announcements_ + "\n";
    for (const auto& activity : teams_->bot_activities()) {
      out += activity.conversation_id + " #" + activity.id + ": " +
             activity.activity.dump().substr(0, 300) + "\n";
    }
    return out;
  }

  std::size_t incident_count() { return api("/api/v1/incidents")["incidents"].size(); }

  std::unique_ptr<FakeTeams> teams_;
  std::unique_ptr<TeamsDriver> driver_;
  std::string general_;
  std::string announcements_;
};

TEST_F(TeamsEndToEnd, TheWholeIncidentLoopAsTeamsDrivesIt) {
  const auto& alice = teams_->user("alice");
  const auto& bob = teams_->user("bob");
  // The app is installed in the team.
  EXPECT_EQ(driver_->post(driver_->bot_installed(alice)).status, 200);

  // @Haveri declare … in General: an incident, its channel made through Graph.
  const auto declared = driver_->post(driver_->channel_mention(alice, "declare Pump 3 down sev2"));
  ASSERT_EQ(declared.status, 200) << declared.body << "\n" << daemon_->log();
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty()) << daemon_->log();
  const auto created = teams_->channel(channel);
  ASSERT_TRUE(created) << "no such channel in the team: " << channel;
  EXPECT_EQ(created->display_name, "inc-1-pump-3-down");
  EXPECT_EQ(created->membership_type, "standard");
  EXPECT_THAT(created->description, HasSubstr("Pump 3 down"));
  // The summary card arrives in the announcements channel.
  ASSERT_TRUE(teams_->wait_for(
      [&] {
        for (const auto& activity : teams_->activities_in(announcements_)) {
          if (activity.from_bot &&
              activity.activity.dump().find("Pump 3 down") != std::string::npos &&
              activity.activity.dump().find("application/vnd.microsoft.card.adaptive") !=
                  std::string::npos) {
            return true;
          }
        }
        return false;
      },
      kWait))
      << "no summary card in the announcements channel\n"
      << bot_activity_summary();

  // Said in the incident channel: recorded once, also when Teams delivers it again.
  const json said = driver_->channel_message(bob, "breaker on pump 3 tripped, resetting", channel);
  EXPECT_EQ(driver_->post(said).status, 200);
  EXPECT_EQ(driver_->post(said).status, 200);  // a redelivery: the same activity id
  const std::string said_id = said.value("id", "");
  const std::string said_conversation = said["conversation"].value("id", "");
  // A reply in its thread, an edit, a file.
  EXPECT_EQ(
      driver_->post(driver_->thread_reply(alice, "isolating pump 3", channel, said_id)).status,
      200);
  EXPECT_EQ(driver_
                ->post(driver_->message_edit(bob, said_conversation, said_id,
                                             "breaker on pump 3 tripped twice"))
                .status,
            200);
  json file = driver_->channel_message(bob, "trend attached", channel);
  file["attachments"] = json::array(
      {{{"contentType", "application/vnd.microsoft.teams.file.download.info"},
        {"name", "pump3-trend.png"},
        {"contentUrl", "https://fake-tenant.example.invalid/sites/ops/pump3-trend.png"},
        {"content",
         {{"downloadUrl", "https://fake-tenant.example.invalid/download/pump3-trend.png"},
          {"uniqueId", "00000000-0000-4000-8000-00000000f11e"},
          {"fileType", "png"}}}}});
  EXPECT_EQ(driver_->post(file).status, 200);
  auto events = await("/api/v1/incidents/1/events", [](const json& doc) {
    int attachments = 0;
    for (const auto& event : doc["events"]) {
      attachments += event.value("type", "") == "attachment" ? 1 : 0;
    }
    return attachments == 1;
  });
  EXPECT_EQ(count(events, "message"), 3) << events.dump(2);
  EXPECT_GE(count(events, "annotation"), 1) << events.dump(2);

  // The ack button on the incident card, pressed by Bob (Action.Execute → invoke).
  const auto ack = await_button(
      channel, [](const json& data) { return data.value("command", "").starts_with("ack"); });
  ASSERT_TRUE(ack) << "no ack button on the incident card";
  const auto pressed =
      driver_->post(driver_->card_execute(bob, conversation_of(ack->activity), ack->activity.id,
                                          ack->action.value("verb", ""), ack->action["data"]));
  ASSERT_EQ(pressed.status, 200) << pressed.body;
  EXPECT_EQ(pressed.json.value("statusCode", 0), 200) << pressed.body;
  EXPECT_EQ(pressed.json.value("type", ""), "application/vnd.microsoft.activity.message")
      << pressed.body;
  await("/api/v1/incidents/1", [](const json& doc) { return doc["acknowledged_by"].is_object(); });

  // "@Haveri lead @Bob Example": Teams splits the name into one mention per word; the
  // lead is the directory's bob.
  json lead = driver_->channel_mention(alice, "lead", channel);
  lead["text"] = lead.value("text", "") + " <at>Bob</at> <at>Example</at>";
  for (const std::string word : {"Bob", "Example"}) {
    lead["entities"].push_back({{"type", "mention"},
                                {"text", "<at>" + word + "</at>"},
                                {"mentioned", {{"id", bob.id}, {"name", bob.name}}}});
  }
  ASSERT_EQ(driver_->post(lead).status, 200);
  await("/api/v1/incidents/1", [](const json& doc) {
    return doc["lead"].is_object() && doc["lead"].value("member", "") == "bob";
  });

  // Resolve: the form is a card with inputs (for Alice alone: in her personal chat).
  ASSERT_EQ(driver_->post(driver_->channel_mention(alice, "resolve", channel)).status, 200);
  const auto form = await_button("", [](const json& data) {
    return data.value("haveri_action", "") == "form" &&
           data.value("form_id", "").starts_with("resolve");
  });
  ASSERT_TRUE(form) << "no resolve form\n" << daemon_->log();
  json answers = form->action["data"];
  answers["what_happened"] = "Pump 3 tripped on overcurrent";
  answers["root_cause"] = "A worn bearing";
  answers["resolution"] = "Bearing replaced";
  const auto submitted =
      driver_->post(driver_->card_execute(alice, conversation_of(form->activity), form->activity.id,
                                          form->action.value("verb", ""), answers));
  ASSERT_EQ(submitted.status, 200) << submitted.body;
  EXPECT_EQ(submitted.json.value("type", ""), "application/vnd.microsoft.card.adaptive");
  EXPECT_THAT(submitted.body, Not(HasSubstr("Input.Text")))
      << "the submitted form is replaced by its answers";
  await("/api/v1/incidents/1",
        [](const json& doc) { return doc.value("status", "") == "RESOLVED"; });

  // The global card was updated in place, not posted again.
  ASSERT_TRUE(teams_->wait_for(
      [&] {
        for (const auto& activity : teams_->activities_in(announcements_)) {
          if (activity.from_bot && !activity.previous_versions.empty() &&
              activity.activity.dump().find("RESOLVED") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      kWait))
      << "the summary card was not updated to RESOLVED\n"
      << daemon_->log();
  int summary_cards = 0;
  for (const auto& activity : teams_->activities_in(announcements_)) {
    summary_cards +=
        activity.from_bot && activity.activity.dump().find("Pump 3 down") != std::string::npos ? 1
                                                                                               : 0;
  }
  EXPECT_EQ(summary_cards, 1);

  const json final_events = timeline(1);
  EXPECT_EQ(count(final_events, "acknowledgement"), 1);
  EXPECT_EQ(count(final_events, "message"), 3) << "the redelivery was not recorded twice";
  EXPECT_EQ(incident_count(), 1U);
  expect_no_card_violations();
  // Tokens were cached, not fetched per call.
  EXPECT_LE(teams_->tokens_issued(FakeTeams::kConnectorScope), 2U);
  EXPECT_THAT(daemon_->log(), Not(HasSubstr(teams_->config().client_secret)));
  for (const auto& token : teams_->issued_tokens()) {
    EXPECT_THAT(daemon_->log(), Not(HasSubstr(token.access_token)));
  }
}

TEST_F(TeamsEndToEnd, EveryTokenTeamsWouldNeverSendIsRefusedAndNothingIsStored) {
  const auto& alice = teams_->user("alice");
  const json activity = driver_->channel_mention(alice, "declare Boiler down sev1");
  const std::string service_url = activity.value("serviceUrl", "");
  const std::string app_id = teams_->config().app_id;
  const TestSigningKey stranger("stranger-key");
  // Published by the Bot Framework, but endorsed for another channel only.
  const TestSigningKey unendorsed("skype-only", {"skype"});
  teams_->publish_jwks(haveri::fakes::jwks_of({&teams_->current_key(), &unendorsed}));
  const std::int64_t now = now_seconds();

  struct Case {
    std::string name;
    TeamsAuth auth;
  };
  std::vector<Case> cases;
  auto patched = [](json patch) {
    TeamsAuth auth;
    auth.claims_patch = std::move(patch);
    return auth;
  };
  cases.push_back({"wrong issuer", patched({{"iss", "https://sts.windows.net/evil/"}})});
  cases.push_back({"wrong audience", patched({{"aud", "00000000-0000-4000-8000-0000000e0e0e"}})});
  cases.push_back({"expired", patched({{"exp", now - 600}, {"nbf", now - 4000}})});
  cases.push_back({"not yet valid", patched({{"nbf", now + 900}, {"exp", now + 4000}})});
  cases.push_back({"serviceUrl mismatch", patched({{"serviceurl", "https://smba.evil.example/"}})});
  {
    TeamsAuth auth;
    auth.key = &stranger;  // a key the Bot Framework never published
    cases.push_back({"unknown key id", auth});
  }
  {
    TeamsAuth auth;
    auth.key = &stranger;
    auth.header = {{"kid", teams_->current_key().kid()}};  // signed by another key, same kid
    cases.push_back({"bad signature", auth});
  }
  {
    TeamsAuth auth;
    auth.authorization =
        "Bearer " +
        haveri::fakes::unsigned_token(haveri::fakes::bot_framework_claims(app_id, service_url, now),
                                      teams_->current_key().kid());
    cases.push_back({"alg none", auth});
  }
  {
    TeamsAuth auth;
    auth.authorization =
        "Bearer " +
        haveri::fakes::hs256_token(haveri::fakes::bot_framework_claims(app_id, service_url, now),
                                   teams_->current_key().kid(), teams_->current_key().public_pem());
    cases.push_back({"HS256 with the public key as secret", auth});
  }
  {
    TeamsAuth auth;
    auth.key = &unendorsed;
    cases.push_back({"a key not endorsed for msteams", auth});
  }
  {
    TeamsAuth auth;
    auth.omit_authorization = true;
    cases.push_back({"no Authorization header", auth});
  }
  for (const std::string header : {"Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer not.a.jwt.at-all",
                                   "Bearer e30.e30.", "Bearer %%%.%%%.%%%"}) {
    TeamsAuth auth;
    auth.authorization = header;
    cases.push_back({"malformed: " + header, auth});
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto response = driver_->post(activity, c.auth);
    EXPECT_EQ(response.status, 401) << response.body;
  }
  // Genuine tokens, but an activity we must not act on.
  json elsewhere = activity;
  elsewhere["serviceUrl"] = "http://127.0.0.1:9/not-the-connector/";
  EXPECT_EQ(driver_->post(elsewhere).status, 401) << "a serviceUrl outside the allow-list";
  json other_tenant = activity;
  other_tenant["channelData"]["tenant"]["id"] = "00000000-0000-4000-8000-00000000dead";
  other_tenant["conversation"]["tenantId"] = "00000000-0000-4000-8000-00000000dead";
  EXPECT_EQ(driver_->post(other_tenant).status, 403);
  EXPECT_EQ(driver_->post_raw("{\"type\":", "application/json").status, 400);
  TeamsAuth anonymous;
  anonymous.omit_authorization = true;
  EXPECT_EQ(driver_->post_raw("{\"type\":", "application/json", anonymous).status, 401)
      << "only a genuine sender learns that its body was bad";
  json no_id = activity;
  no_id.erase("id");
  EXPECT_EQ(driver_->post(no_id).status, 400);

  // Nothing stored, nothing posted; the forged kids did not make us fetch keys each time.
  EXPECT_EQ(incident_count(), 0U);
  EXPECT_TRUE(teams_->bot_activities().empty());
  EXPECT_LE(teams_->jwks_fetches(), 3U) << "unknown key ids refetch at most once per 5 minutes";
  EXPECT_THAT(daemon_->log(), HasSubstr("wrong_issuer"));
  EXPECT_THAT(daemon_->log(), HasSubstr("unsupported_algorithm"));
  EXPECT_THAT(daemon_->log(), HasSubstr("not_endorsed"));

  // And the genuine request still works.
  EXPECT_EQ(driver_->post(activity).status, 200);
  await("/api/v1/incidents", [](const json& doc) { return doc["incidents"].size() == 1; });
}

TEST_F(TeamsEndToEnd, MicrosoftErrorsAreRetriedWithoutDuplicates) {
  const auto& alice = teams_->user("alice");
  // Graph is unwell when the channel is made; the Connector throttles the first post
  // and drops a connection; the token endpoint fails once.
  teams_->inject(TeamsService::token, TeamsFault::http_error(503));
  teams_->inject(TeamsService::graph, TeamsFault::http_error(503, std::chrono::seconds(1)),
                 "/channels");
  teams_->inject(TeamsService::graph, TeamsFault::drop_connection(), "/channels");
  // Made, but its answer comes after the plugin stopped waiting: the retry finds it.
  teams_->inject(TeamsService::graph, TeamsFault::slow(std::chrono::milliseconds(4500)),
                 "/channels");
  teams_->inject(TeamsService::connector, TeamsFault::throttled(std::chrono::seconds(1)),
                 "/v3/conversations");
  teams_->inject(TeamsService::connector, TeamsFault::http_error(502), "/v3/conversations");

  ASSERT_EQ(driver_->post(driver_->channel_mention(alice, "declare Conveyor 4 jammed sev3")).status,
            200);
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty()) << daemon_->log();
  // One channel for the incident, whatever was retried.
  int incident_channels = 0;
  for (const auto& made : teams_->channels()) {
    incident_channels += made.display_name.starts_with("inc-") ? 1 : 0;
  }
  EXPECT_EQ(incident_channels, 1);
  EXPECT_GE(teams_->request_count(TeamsService::graph, "GET", "/channels"), 1U)
      << "the name was taken by the channel whose answer was late: it was looked up";
  // One summary card.
  ASSERT_TRUE(teams_->wait_for(
      [&] {
        for (const auto& activity : teams_->activities_in(announcements_)) {
          if (activity.from_bot &&
              activity.activity.dump().find("Conveyor 4 jammed") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      kWait))
      << daemon_->log();
  // Give a duplicate the time to show up, then count.
  await("/api/v1/outbox", [](const json& doc) {
    return doc.value("queued", 1) == 0 && doc.value("in_flight", 1) == 0;
  });
  int cards = 0;
  for (const auto& activity : teams_->activities_in(announcements_)) {
    cards +=
        activity.from_bot && activity.activity.dump().find("Conveyor 4 jammed") != std::string::npos
            ? 1
            : 0;
  }
  EXPECT_EQ(cards, 1);
  // A 429's Retry-After was honoured: the throttled call was not repeated within it.
  const auto connector = teams_->requests(TeamsService::connector);
  int throttled = 0;
  for (std::size_t i = 0; i < connector.size(); ++i) {
    if (connector[i].status != 429) {
      continue;
    }
    ++throttled;
    for (std::size_t j = i + 1; j < connector.size(); ++j) {
      if (connector[j].method == connector[i].method && connector[j].path == connector[i].path &&
          connector[j].body == connector[i].body) {
        EXPECT_GE(connector[j].received - connector[i].received, std::chrono::milliseconds(990));
        break;
      }
    }
  }
  EXPECT_EQ(throttled, 1);
  expect_no_card_violations();
}

TEST_F(TeamsEndToEnd, CommandsInPersonalChatAndPeopleOutsideTheTeam) {
  const auto& carol = teams_->user("carol");  // not a member of the team
  const auto reply =
      driver_->post(driver_->personal_message(carol, "declare Press 2 leaking sev3"));
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::string channel = await_incident_channel(1);
  ASSERT_FALSE(channel.empty()) << daemon_->log();
  // Carol was added to the team so that she sees the incident channel.
  EXPECT_TRUE(teams_->wait_for(
      [&] {
        const auto members = teams_->team_members();
        return std::find(members.begin(), members.end(), carol.aad_object_id) != members.end();
      },
      kWait))
      << daemon_->log();
  // `help` in her personal chat is answered there.
  ASSERT_EQ(driver_->post(driver_->personal_message(carol, "help")).status, 200);
  const std::string personal = teams_->personal_conversation_id(carol.aad_object_id);
  EXPECT_TRUE(teams_->wait_for(
      [&] {
        for (const auto& activity : teams_->activities_in(personal)) {
          if (activity.from_bot && activity.activity.dump().find("declare") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      kWait))
      << daemon_->log();
  expect_no_card_violations();
}

}  // namespace
