// The fake Microsoft side itself, over real HTTP on loopback: what the Teams adapter's
// end-to-end tests rely on it to do like Microsoft (token endpoint, OpenID metadata and
// keys, Bot Connector, Graph, faults) and what the driver sends.
#include "teams/fake_teams.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "blocking_client.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using haveri::fakes::FakeTeams;
using haveri::fakes::TeamsAuth;
using haveri::fakes::TeamsDriver;
using haveri::fakes::TeamsFault;
using haveri::fakes::TeamsService;
using haveri::fakes::TestSigningKey;

constexpr auto kWait = 5s;
constexpr const char* kFormType = "application/x-www-form-urlencoded";
constexpr const char* kJsonType = "application/json; charset=utf-8";

struct Result {
  int status = 0;
  json body;  // parsed, null when not JSON
  std::string text;
};

// Calls the fake with the repo's client. `target` is the path after the base URL.
Result call(const FakeTeams& fake, const std::string& method, const std::string& target,
            const std::string& body = {}, const std::string& content_type = {},
            const std::string& bearer = {}) {
  haveri::http::BlockingClient client(haveri::http::parse_base_url(fake.base_url()), kWait);
  std::map<std::string, std::string> headers;
  if (!bearer.empty()) {
    headers["Authorization"] = "Bearer " + bearer;
  }
  auto response = client.request(method, target, body, content_type, headers);
  Result result{response.status, nullptr, response.body};
  if (!response.body.empty()) {
    json parsed = json::parse(response.body, nullptr, false);
    if (!parsed.is_discarded()) {
      result.body = parsed;
    }
  }
  return result;
}

Result call_json(const FakeTeams& fake, const std::string& method, const std::string& target,
                 const json& body, const std::string& bearer) {
  return call(fake, method, target, body.is_null() ? std::string() : body.dump(), kJsonType,
              bearer);
}

std::string token_form(const std::string& secret, const std::string& scope,
                       const std::string& client_id = "00000000-0000-4000-8000-000000000b07") {
  return "grant_type=client_credentials&client_id=" + client_id +
         "&client_secret=" + haveri::fakes::encode_uri_component(secret) +
         "&scope=" + haveri::fakes::encode_uri_component(scope);
}

Result ask_token(const FakeTeams& fake, const std::string& tenant, const std::string& scope,
                 const std::string& secret = "fake-client-secret") {
  return call(fake, "POST", "/login/" + tenant + "/oauth2/v2.0/token", token_form(secret, scope),
              kFormType);
}

std::string connector_token(const FakeTeams& fake) {
  return ask_token(fake, "botframework.com", FakeTeams::kConnectorScope)
      .body.value("access_token", "");
}

std::string graph_token(const FakeTeams& fake) {
  return ask_token(fake, fake.config().tenant_id, FakeTeams::kGraphScope)
      .body.value("access_token", "");
}

std::string connector_path(const std::string& rest) {
  return "/connector/v3/conversations" + rest;
}

std::string graph_path(const FakeTeams& fake, const std::string& rest) {
  return "/graph/v1.0/teams/" + fake.config().team.group_id + rest;
}

json card_message(const std::string& text) {
  return json{
      {"type", "message"},
      {"attachments",
       json::array(
           {{{"contentType", "application/vnd.microsoft.card.adaptive"},
             {"content",
              {{"type", "AdaptiveCard"},
               {"version", "1.5"},
               {"body",
                json::array({{{"type", "TextBlock"}, {"text", text}, {"wrap", true}}})}}}}})}};
}

// One raw exchange, for the response headers (Retry-After) that BlockingClient hides.
struct RawResult {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

std::optional<RawResult> raw_call(std::uint16_t port, const std::string& method,
                                  const std::string& target, const std::string& body,
                                  const std::string& content_type, const std::string& bearer) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(kWait);
  beast::error_code ec;
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    return std::nullopt;
  }
  bhttp::request<bhttp::string_body> request{bhttp::string_to_verb(method), target, 11};
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::content_type, content_type);
  if (!bearer.empty()) {
    request.set(bhttp::field::authorization, "Bearer " + bearer);
  }
  request.body() = body;
  request.prepare_payload();
  // The stream's deadline bounds each asynchronous step; drive them one by one.
  bool done = false;
  bhttp::async_write(stream, request, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  ioc.run();
  if (!done || ec) {
    return std::nullopt;
  }
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  done = false;
  stream.expires_after(kWait);
  bhttp::async_read(stream, buffer, response, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  ioc.restart();
  ioc.run();
  if (!done || ec) {
    return std::nullopt;
  }
  RawResult result;
  result.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    result.headers[std::string(field.name_string())] = std::string(field.value());
  }
  result.body = response.body();
  return result;
}

// --- JWT verification with OpenSSL directly (not the plugin's code) ---------------------

std::string base64url_decode(const std::string& text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      continue;
    }
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// True when `token` is an RS256 JWT whose signature verifies with the JWK in `jwks`
// named by its header's kid.
bool verifies_against(const std::string& token, const json& jwks) {
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot1 == std::string::npos || dot2 == std::string::npos) {
    return false;
  }
  const json header = json::parse(base64url_decode(token.substr(0, dot1)), nullptr, false);
  if (header.is_discarded() || header.value("alg", "") != "RS256") {
    return false;
  }
  json jwk;
  for (const auto& key : jwks.value("keys", json::array())) {
    if (key.value("kid", "") == header.value("kid", "")) {
      jwk = key;
    }
  }
  if (jwk.is_null()) {
    return false;
  }
  const std::string n = base64url_decode(jwk.value("n", ""));
  const std::string e = base64url_decode(jwk.value("e", ""));
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* from = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = from != nullptr && EVP_PKEY_fromdata_init(from) == 1 &&
            EVP_PKEY_fromdata(from, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  if (ok) {
    const std::string input = token.substr(0, dot2);
    const std::string signature = base64url_decode(token.substr(dot2 + 1));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
         EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
    EVP_MD_CTX_free(ctx);
  }
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(from);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(build);
  BN_free(bn_n);
  BN_free(bn_e);
  return ok;
}

json jwt_part(const std::string& token, int part) {
  std::size_t start = 0;
  for (int i = 0; i < part; ++i) {
    start = token.find('.', start) + 1;
  }
  return json::parse(base64url_decode(token.substr(start, token.find('.', start) - start)), nullptr,
                     false);
}

// ---------------------------------------------------------------------------------------
// Token endpoint

TEST(FakeTeamsTokens, GrantsEachScopeOnlyFromItsAuthority) {
  FakeTeams fake;
  const auto connector = ask_token(fake, "botframework.com", FakeTeams::kConnectorScope);
  ASSERT_EQ(connector.status, 200) << connector.text;
  EXPECT_EQ(connector.body["token_type"], "Bearer");
  EXPECT_EQ(connector.body["expires_in"], 3599);
  EXPECT_EQ(connector.body["ext_expires_in"], 3599);
  EXPECT_FALSE(connector.body.value("access_token", "").empty());

  const auto graph = ask_token(fake, fake.config().tenant_id, FakeTeams::kGraphScope);
  ASSERT_EQ(graph.status, 200) << graph.text;
  EXPECT_NE(graph.body["access_token"], connector.body["access_token"]);

  // The Graph scope from the Bot Framework authority, and the Connector's from the tenant.
  const auto crossed = ask_token(fake, "botframework.com", FakeTeams::kGraphScope);
  EXPECT_EQ(crossed.status, 400);
  EXPECT_EQ(crossed.body["error"], "invalid_scope");
  EXPECT_EQ(ask_token(fake, fake.config().tenant_id, FakeTeams::kConnectorScope).status, 400);
  // A tenant nobody knows.
  const auto stranger =
      ask_token(fake, "11111111-2222-4333-8444-555555555555", FakeTeams::kGraphScope);
  EXPECT_EQ(stranger.status, 400);
  EXPECT_EQ(stranger.body["error_codes"][0], 90002);

  EXPECT_EQ(fake.tokens_issued(FakeTeams::kConnectorScope), 1U);
  EXPECT_EQ(fake.tokens_issued(FakeTeams::kGraphScope), 1U);
  ASSERT_EQ(fake.issued_tokens().size(), 2U);
  EXPECT_EQ(fake.issued_tokens()[0].tenant, "botframework.com");
}

TEST(FakeTeamsTokens, RefusesAWrongSecretUnknownClientAndOtherGrants) {
  FakeTeams fake;
  const auto wrong = ask_token(fake, "botframework.com", FakeTeams::kConnectorScope, "guess");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body["error"], "invalid_client");
  EXPECT_TRUE(wrong.body.value("error_description", "")
                  .starts_with("AADSTS7000215: Invalid client "
                               "secret provided."))
      << wrong.text;

  const auto unknown =
      call(fake, "POST", "/login/botframework.com/oauth2/v2.0/token",
           token_form("fake-client-secret", FakeTeams::kConnectorScope, "someone-else"), kFormType);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["error"], "unauthorized_client");

  const auto password =
      call(fake, "POST", "/login/botframework.com/oauth2/v2.0/token",
           "grant_type=password&client_id=00000000-0000-4000-8000-000000000b07", kFormType);
  EXPECT_EQ(password.status, 400);
  EXPECT_EQ(password.body["error"], "unsupported_grant_type");

  const auto json_body = call(fake, "POST", "/login/botframework.com/oauth2/v2.0/token",
                              R"({"grant_type":"client_credentials"})", kJsonType);
  EXPECT_EQ(json_body.status, 400);
  EXPECT_EQ(fake.issued_tokens().size(), 0U);
}

TEST(FakeTeamsTokens, LifetimeRevocationAndExpiry) {
  FakeTeams fake;
  fake.set_token_lifetime(120s);
  const auto short_lived = ask_token(fake, "botframework.com", FakeTeams::kConnectorScope);
  EXPECT_EQ(short_lived.body["expires_in"], 120);
  const std::string token = short_lived.body["access_token"];
  const std::string general = fake.config().team.thread_id;
  EXPECT_EQ(call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, token).status,
            200);

  fake.expire_tokens();
  EXPECT_EQ(call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, token).status,
            401);
  const std::string graph = graph_token(fake);
  fake.revoke_tokens();
  const auto revoked = call(fake, "GET", graph_path(fake, "/channels"), {}, {}, graph);
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(revoked.body["error"]["code"], "InvalidAuthenticationToken");

  // New tokens work again.
  EXPECT_EQ(
      call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, connector_token(fake))
          .status,
      200);
}

// ---------------------------------------------------------------------------------------
// OpenID metadata and keys

TEST(FakeTeamsOpenId, MetadataNamesTheKeysAndDriverTokensVerifyAgainstThem) {
  FakeTeams fake;
  const auto metadata = call(fake, "GET", "/botframework/v1/.well-known/openidconfiguration");
  ASSERT_EQ(metadata.status, 200);
  EXPECT_EQ(metadata.body["issuer"], "https://api.botframework.com");
  EXPECT_EQ(metadata.body["jwks_uri"], fake.jwks_url());
  EXPECT_EQ(metadata.body["id_token_signing_alg_values_supported"], json::array({"RS256"}));
  EXPECT_EQ(metadata.body["token_endpoint_auth_methods_supported"],
            json::array({"private_key_jwt"}));
  EXPECT_TRUE(metadata.body.contains("authorization_endpoint"));
  ASSERT_TRUE(fake.jwks_url().starts_with(fake.base_url()));

  const auto keys = call(fake, "GET", fake.jwks_url().substr(fake.base_url().size()));
  ASSERT_EQ(keys.status, 200);
  ASSERT_EQ(keys.body["keys"].size(), 1U);
  EXPECT_EQ(keys.body["keys"][0]["kid"], "fake-key-1");
  EXPECT_EQ(keys.body["keys"][0]["kty"], "RSA");
  EXPECT_EQ(keys.body["keys"][0]["endorsements"], json::array({"msteams"}));
  EXPECT_EQ(fake.metadata_fetches(), 1U);
  EXPECT_EQ(fake.jwks_fetches(), 1U);

  TeamsDriver driver(fake, fake.base_url() + "/hooks/teams/messages");
  const std::string token = driver.bearer_token(fake.service_url());
  EXPECT_TRUE(verifies_against(token, keys.body));
  const json claims = jwt_part(token, 1);
  EXPECT_EQ(claims["iss"], "https://api.botframework.com");
  EXPECT_EQ(claims["aud"], fake.config().app_id);
  EXPECT_EQ(claims["serviceurl"], fake.service_url());
  // A token signed by a key the fake does not publish does not verify.
  TestSigningKey stranger("fake-key-1");
  TeamsAuth other;
  other.key = &stranger;
  EXPECT_FALSE(verifies_against(driver.bearer_token(fake.service_url(), other), keys.body));
}

TEST(FakeTeamsOpenId, RotationPublishesTheNewKeyBesideTheOldAndSignsWithIt) {
  FakeTeams fake;
  TeamsDriver driver(fake, fake.base_url() + "/hooks/teams/messages");
  const TestSigningKey& first = fake.current_key();
  const std::string before = driver.bearer_token(fake.service_url());
  const TestSigningKey& second = fake.rotate_key();
  EXPECT_EQ(second.kid(), "fake-key-2");
  EXPECT_EQ(&fake.current_key(), &second);
  const std::string after = driver.bearer_token(fake.service_url());
  EXPECT_EQ(jwt_part(after, 0)["kid"], "fake-key-2");

  const auto keys = call(fake, "GET", "/botframework/v1/.well-known/keys");
  ASSERT_EQ(keys.body["keys"].size(), 2U);
  EXPECT_TRUE(verifies_against(before, keys.body));
  EXPECT_TRUE(verifies_against(after, keys.body));

  // A key published but not signed with (one endorsed for another channel), then back
  // to the first key.
  const TestSigningKey& skype = fake.add_key("skype-only", {"skype"});
  EXPECT_EQ(&fake.current_key(), &second);
  const auto three = call(fake, "GET", "/botframework/v1/.well-known/keys");
  ASSERT_EQ(three.body["keys"].size(), 3U);
  EXPECT_EQ(three.body["keys"][2]["kid"], "skype-only");
  EXPECT_EQ(three.body["keys"][2]["endorsements"], json::array({"skype"}));
  TeamsAuth with_skype;
  with_skype.key = &skype;
  EXPECT_EQ(jwt_part(driver.bearer_token(fake.service_url(), with_skype), 0)["kid"], "skype-only");
  fake.sign_with(first);
  EXPECT_EQ(jwt_part(driver.bearer_token(fake.service_url()), 0)["kid"], "fake-key-1");
  TestSigningKey stranger("fake-key-9");
  EXPECT_THROW(fake.sign_with(stranger), std::invalid_argument);

  // An arbitrary document, then back to the fake's keys.
  fake.publish_jwks(json{{"keys", json::array()}});
  EXPECT_EQ(call(fake, "GET", "/botframework/v1/.well-known/keys").body["keys"].size(), 0U);
  fake.publish_jwks(nullptr);
  EXPECT_EQ(call(fake, "GET", "/botframework/v1/.well-known/keys").body["keys"].size(), 3U);
  fake.publish_openid_metadata(json{{"issuer", "https://elsewhere.invalid"}});
  EXPECT_EQ(call(fake, "GET", "/botframework/v1/.well-known/openidconfiguration").body["issuer"],
            "https://elsewhere.invalid");
  EXPECT_EQ(fake.jwks_fetches(), 4U);
}

// ---------------------------------------------------------------------------------------
// Bot Connector

TEST(FakeTeamsConnector, RefusesCallsWithoutAConnectorToken) {
  FakeTeams fake;
  const std::string general = fake.config().team.thread_id;
  const std::string target = connector_path("/" + general + "/activities");
  const json message{{"type", "message"}, {"text", "hello"}};
  const auto none = call_json(fake, "POST", target, message, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["message"], "Authorization has been denied for this request.");
  EXPECT_EQ(call_json(fake, "POST", target, message, "made-up").status, 401);
  EXPECT_EQ(call_json(fake, "POST", target, message, graph_token(fake)).status, 401)
      << "a Graph token is not for the Connector";
  EXPECT_TRUE(fake.bot_activities().empty());
  const auto recorded = fake.requests(TeamsService::connector);
  ASSERT_EQ(recorded.size(), 3U);
  EXPECT_FALSE(recorded[2].token_valid);
  EXPECT_EQ(recorded[2].status, 401);

  EXPECT_EQ(call_json(fake, "POST", target, message, connector_token(fake)).status, 201);
  EXPECT_TRUE(fake.requests(TeamsService::connector).back().token_valid);
}

TEST(FakeTeamsConnector, CreatePostReplyAndUpdateInAChannel) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;

  const json create{
      {"isGroup", true},
      {"channelData",
       {{"channel", {{"id", general}}}, {"tenant", {{"id", fake.config().tenant_id}}}}},
      {"activity", card_message("Incident 1: Pump 3 down")}};
  const auto created = call_json(fake, "POST", connector_path(""), create, token);
  ASSERT_EQ(created.status, 201) << created.text;
  const std::string root = created.body["activityId"];
  EXPECT_EQ(created.body["id"], general + ";messageid=" + root);
  EXPECT_EQ(root.size(), 13U);  // a millisecond id, like Teams'

  // A post into the thread's conversation is a reply in that thread.
  const auto in_thread = call_json(
      fake, "POST",
      connector_path("/" + haveri::fakes::encode_uri_component(created.body["id"]) + "/activities"),
      json{{"type", "message"}, {"text", "status: investigating"}}, token);
  ASSERT_EQ(in_thread.status, 201) << in_thread.text;
  // A reply to an activity.
  const auto reply = call_json(fake, "POST", connector_path("/" + general + "/activities/" + root),
                               json{{"type", "message"}, {"text", "ack by bob"}}, token);
  ASSERT_EQ(reply.status, 201) << reply.text;
  // A new root post in the channel.
  const auto top = call_json(fake, "POST", connector_path("/" + general + "/activities"),
                             json{{"type", "message"}, {"text", "another"}}, token);
  ASSERT_EQ(top.status, 201);

  const auto activities = fake.activities_in(general);
  ASSERT_EQ(activities.size(), 4U);
  EXPECT_EQ(activities[0].thread_root_id, root);
  EXPECT_EQ(activities[1].thread_root_id, root);
  EXPECT_EQ(activities[2].thread_root_id, root);
  EXPECT_EQ(activities[2].reply_to_id, root);
  EXPECT_EQ(activities[3].thread_root_id, activities[3].id);
  EXPECT_TRUE(activities[0].from_bot);
  EXPECT_LT(activities[0].id, activities[1].id);

  // Update the card: versions kept.
  const auto updated = call_json(fake, "PUT", connector_path("/" + general + "/activities/" + root),
                                 card_message("Incident 1: Pump 3 down (MITIGATED)"), token);
  ASSERT_EQ(updated.status, 200) << updated.text;
  EXPECT_EQ(updated.body["id"], root);
  const auto card = fake.activity(root);
  ASSERT_TRUE(card);
  ASSERT_EQ(card->previous_versions.size(), 1U);
  EXPECT_NE(card->activity.dump().find("MITIGATED"), std::string::npos);
  EXPECT_EQ(card->previous_versions[0].dump().find("MITIGATED"), std::string::npos);

  // "<channel>;messageid=<a reply>", as the adapter names a message it updates or threads
  // on: the update applies, a post lands in that reply's thread.
  const std::string reply_id = reply.body["id"];
  const std::string via_reply =
      haveri::fakes::encode_uri_component(general + ";messageid=" + reply_id);
  EXPECT_EQ(call_json(fake, "PUT", connector_path("/" + via_reply + "/activities/" + reply_id),
                      json{{"type", "message"}, {"text", "ack by bob (edited)"}}, token)
                .status,
            200);
  const auto threaded = call_json(fake, "POST", connector_path("/" + via_reply + "/activities"),
                                  json{{"type", "message"}, {"text", "more"}}, token);
  ASSERT_EQ(threaded.status, 201) << threaded.text;
  EXPECT_EQ(fake.activity(threaded.body["id"])->thread_root_id, root);

  // Unknown activity, unknown conversation, unknown thread.
  const auto missing = call_json(fake, "PUT", connector_path("/" + general + "/activities/1"),
                                 card_message("x"), token);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error"]["code"], "ActivityNotFound");
  EXPECT_EQ(call_json(fake, "POST", connector_path("/19:nowhere@thread.tacv2/activities"),
                      json{{"type", "message"}, {"text", "x"}}, token)
                .status,
            404);
  EXPECT_EQ(
      call_json(fake, "POST", connector_path("/" + general + ";messageid=1699999999999/activities"),
                json{{"type", "message"}, {"text", "x"}}, token)
          .status,
      404);
  EXPECT_EQ(fake.bot_activities().size(), 5U);
}

TEST(FakeTeamsConnector, ThePeoplesMessagesCanBeRepliedToButNotEdited) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  TeamsDriver driver(fake, fake.base_url() + "/adapter");
  const json said = driver.channel_message(fake.user("bob"), "breaker tripped");
  fake.record_user_activity(said);
  const std::string id = said["id"];
  const std::string general = fake.config().team.thread_id;

  const auto edit = call_json(fake, "PUT", connector_path("/" + general + "/activities/" + id),
                              json{{"type", "message"}, {"text", "mine now"}}, token);
  EXPECT_EQ(edit.status, 403);
  const auto reply =
      call_json(fake, "POST", connector_path("/" + general + ";messageid=" + id + "/activities"),
                json{{"type", "message"}, {"text", "noted"}}, token);
  EXPECT_EQ(reply.status, 201) << reply.text;
  const auto in_channel = fake.activities_in(general);
  ASSERT_EQ(in_channel.size(), 2U);
  EXPECT_FALSE(in_channel[0].from_bot);
  EXPECT_EQ(in_channel[1].thread_root_id, id);
}

TEST(FakeTeamsConnector, PersonalConversationsAreOnePerPerson) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const auto& carol = fake.user("carol");
  const auto body = [&](const std::string& member) {
    return json{{"bot", {{"id", "28:" + fake.config().app_id}}},
                {"isGroup", false},
                {"members", json::array({{{"id", member}}})},
                {"tenantId", fake.config().tenant_id},
                {"channelData", {{"tenant", {{"id", fake.config().tenant_id}}}}}};
  };
  const auto first = call_json(fake, "POST", connector_path(""), body(carol.aad_object_id), token);
  ASSERT_EQ(first.status, 201) << first.text;
  const std::string id = first.body["id"];
  EXPECT_TRUE(id.starts_with("a:1"));
  EXPECT_EQ(call_json(fake, "POST", connector_path(""), body(carol.id), token).body["id"], id);
  EXPECT_EQ(fake.personal_conversation_id(carol.aad_object_id), id);
  EXPECT_NE(
      call_json(fake, "POST", connector_path(""), body(fake.user("bob").id), token).body["id"], id);
  EXPECT_EQ(call_json(fake, "POST", connector_path(""), body("29:nobody"), token).status, 400);

  // A page into it; its members are the person.
  const auto page = call_json(
      fake, "POST", connector_path("/" + haveri::fakes::encode_uri_component(id) + "/activities"),
      card_message("You are paged"), token);
  ASSERT_EQ(page.status, 201) << page.text;
  ASSERT_EQ(fake.activities_in(id).size(), 1U);
  EXPECT_TRUE(fake.activities_in(id)[0].thread_root_id.empty());
  const auto members = call(fake, "GET", connector_path("/" + id + "/members"), {}, {}, token);
  ASSERT_EQ(members.status, 200);
  ASSERT_EQ(members.body.size(), 1U);
  EXPECT_EQ(members.body[0]["aadObjectId"], carol.aad_object_id);
  EXPECT_EQ(members.body[0]["id"], carol.id);

  // The channel roster is the team's.
  const auto roster = call(
      fake, "GET", connector_path("/" + fake.config().team.thread_id + "/members"), {}, {}, token);
  EXPECT_EQ(roster.body.size(), fake.config().team.members.size());
}

TEST(FakeTeamsConnector, InvalidCardsAreRefusedAndRecorded) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;
  json bad = card_message("x");
  bad["attachments"][0]["content"]["type"] = "NotACard";
  const auto refused =
      call_json(fake, "POST", connector_path("/" + general + "/activities"), bad, token);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["code"], "BadSyntax");
  EXPECT_TRUE(fake.bot_activities().empty());
  const auto violations = fake.card_violations();
  ASSERT_EQ(violations.size(), 1U);
  EXPECT_EQ(violations[0].method, "POST");
  EXPECT_EQ(violations[0].path, "/connector/v3/conversations/" + general + "/activities");
  EXPECT_FALSE(violations[0].errors.empty());
  EXPECT_EQ(violations[0].activity, bad);

  // Too large for Teams.
  const auto huge = call_json(fake, "POST", connector_path("/" + general + "/activities"),
                              card_message(std::string(std::size_t{40} * 1024, 'x')), token);
  EXPECT_EQ(huge.status, 400);
  EXPECT_EQ(fake.card_violations().size(), 2U);
}

TEST(FakeTeamsConnector, ConversationIdsArePercentDecodedSegmentBySegment) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;
  const auto root = call_json(fake, "POST", connector_path("/" + general + "/activities"),
                              json{{"type", "message"}, {"text", "root"}}, token);
  const std::string thread = general + ";messageid=" + root.body.value("id", "");
  const std::string encoded = haveri::fakes::encode_uri_component(thread);
  EXPECT_EQ(encoded.find(':'), std::string::npos);
  EXPECT_EQ(encoded.find(';'), std::string::npos);
  const auto reply = call_json(fake, "POST", connector_path("/" + encoded + "/activities"),
                               json{{"type", "message"}, {"text", "in thread"}}, token);
  ASSERT_EQ(reply.status, 201) << reply.text;
  const auto last = fake.requests(TeamsService::connector).back();
  EXPECT_EQ(last.path, "/connector/v3/conversations/" + thread + "/activities");
  EXPECT_NE(last.target.find(encoded), std::string::npos);
  EXPECT_EQ(last.json["text"], "in thread");
  EXPECT_EQ(fake.activities_in(thread).size(), 2U);
  EXPECT_EQ(fake.activities_in(general).back().thread_root_id, root.body["id"]);
}

// ---------------------------------------------------------------------------------------
// Graph

TEST(FakeTeamsGraph, CreatesStandardChannelsWithTeamsNameRules) {
  FakeTeams fake;
  const std::string token = graph_token(fake);
  const std::string target = graph_path(fake, "/channels");
  const auto created = call_json(fake, "POST", target,
                                 json{{"displayName", "inc-1 Pump 3 down"},
                                      {"description", "Incident 1"},
                                      {"membershipType", "standard"}},
                                 token);
  ASSERT_EQ(created.status, 201) << created.text;
  const std::string id = created.body["id"];
  EXPECT_TRUE(id.starts_with("19:") && id.ends_with("@thread.tacv2")) << id;
  EXPECT_EQ(created.body["displayName"], "inc-1 Pump 3 down");
  EXPECT_EQ(created.body["description"], "Incident 1");
  EXPECT_EQ(created.body["membershipType"], "standard");
  EXPECT_TRUE(
      created.body.value("webUrl", "").starts_with("https://teams.microsoft.com/l/channel/"));
  ASSERT_TRUE(fake.channel(id));
  EXPECT_TRUE(fake.channel(id)->created_through_graph);
  EXPECT_TRUE(fake.channel_by_name("INC-1 PUMP 3 DOWN"));

  const auto duplicate =
      call_json(fake, "POST", target, json{{"displayName", "INC-1 pump 3 DOWN"}}, token);
  EXPECT_EQ(duplicate.status, 400);
  EXPECT_EQ(duplicate.body["error"]["code"], "NameAlreadyExists");
  EXPECT_EQ(duplicate.body["error"]["message"],
            "Channel name already existed, please use other name");
  EXPECT_TRUE(duplicate.body["error"].contains("innerError"));
  EXPECT_EQ(call_json(fake, "POST", target, json{{"displayName", "general"}}, token).status, 400);

  for (const std::string& bad :
       {std::string(51, 'a'), std::string("a/b"), std::string("50% done"), std::string("a..b"),
        std::string("what?"), std::string("_hidden"), std::string("quote\"d"), std::string("")}) {
    const auto refused = call_json(fake, "POST", target, json{{"displayName", bad}}, token);
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_EQ(refused.body["error"]["code"], "BadRequest") << bad;
  }
  EXPECT_EQ(
      call_json(fake, "POST", target, json{{"displayName", std::string(50, 'a')}}, token).status,
      201);

  const auto unknown_team =
      call_json(fake, "POST", "/graph/v1.0/teams/00000000-0000-4000-8000-000000000000/channels",
                json{{"displayName", "x"}}, token);
  EXPECT_EQ(unknown_team.status, 404);

  const auto listed = call(fake, "GET", target, {}, {}, token);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body["value"].size(), 3U);  // General and the two made here
  EXPECT_EQ(listed.body["value"][0]["displayName"], "General");

  // No token, or the Connector's.
  EXPECT_EQ(call_json(fake, "POST", target, json{{"displayName", "x"}}, "").status, 401);
  EXPECT_EQ(
      call_json(fake, "POST", target, json{{"displayName", "x"}}, connector_token(fake)).status,
      401);
  EXPECT_EQ(fake.channels().size(), 3U);
}

TEST(FakeTeamsGraph, AddsMembersToTheTeam) {
  FakeTeams fake;
  const std::string token = graph_token(fake);
  const auto member = [](const std::string& id) {
    return json{{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
                {"roles", json::array()},
                {"user@odata.bind", "https://graph.microsoft.com/v1.0/users('" + id + "')"}};
  };
  const auto& carol = fake.user("carol");
  const std::string target = graph_path(fake, "/members");
  const auto added = call_json(fake, "POST", target, member(carol.aad_object_id), token);
  ASSERT_EQ(added.status, 201) << added.text;
  EXPECT_EQ(added.body["userId"], carol.aad_object_id);
  EXPECT_EQ(added.body["@odata.type"], "#microsoft.graph.aadUserConversationMember");
  EXPECT_EQ(added.body["displayName"], carol.name);
  EXPECT_EQ(fake.team_members().back(), carol.aad_object_id);

  const auto again = call_json(fake, "POST", target, member(carol.aad_object_id), token);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["error"]["code"], "Conflict");
  const auto nobody =
      call_json(fake, "POST", target, member("00000000-0000-4000-8000-0000000000ff"), token);
  EXPECT_EQ(nobody.status, 404);
  json untyped = member(carol.aad_object_id);
  untyped.erase("@odata.type");
  EXPECT_EQ(call_json(fake, "POST", target, untyped, token).status, 400);
  EXPECT_EQ(fake.team_members().size(), 3U);
  EXPECT_EQ(call(fake, "GET", target, {}, {}, token).body["value"].size(), 3U);
}

// ---------------------------------------------------------------------------------------
// Faults

TEST(FakeTeamsFaults, ThrottlingAnswersRetryAfterAndTakesNoEffect) {
  FakeTeams fake;
  const std::string token = graph_token(fake);
  fake.inject(TeamsService::graph, TeamsFault::throttled(7s), "/channels");
  const std::string body = json{{"displayName", "inc-2"}}.dump();
  const auto limited =
      raw_call(fake.port(), "POST", graph_path(fake, "/channels"), body, kJsonType, token);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->headers.at("Retry-After"), "7");
  EXPECT_EQ(json::parse(limited->body)["error"]["code"], "TooManyRequests");
  EXPECT_EQ(fake.channels().size(), 1U) << "a throttled call has no effect";

  const auto then =
      raw_call(fake.port(), "POST", graph_path(fake, "/channels"), body, kJsonType, token);
  ASSERT_TRUE(then);
  EXPECT_EQ(then->status, 201);
  EXPECT_EQ(fake.channels().size(), 2U);
  EXPECT_EQ(fake.request_count(TeamsService::graph, "POST", "/channels"), 2U);
}

TEST(FakeTeamsFaults, StatusesByServiceAndPathTimesAndTheirShapes) {
  FakeTeams fake;
  fake.inject(TeamsService::token, TeamsFault::http_error(503));
  const auto token_down = ask_token(fake, "botframework.com", FakeTeams::kConnectorScope);
  EXPECT_EQ(token_down.status, 503);
  EXPECT_EQ(token_down.body["error"], "temporarily_unavailable");
  EXPECT_EQ(fake.tokens_issued(FakeTeams::kConnectorScope), 0U);
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;

  // Only paths with "/activities", twice; the members call is not affected.
  fake.inject(TeamsService::connector, TeamsFault::http_error(412), "/activities", 2);
  const json message{{"type", "message"}, {"text", "x"}};
  EXPECT_EQ(call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, token).status,
            200);
  const auto first =
      call_json(fake, "POST", connector_path("/" + general + "/activities"), message, token);
  EXPECT_EQ(first.status, 412);
  EXPECT_EQ(first.body["error"]["code"], "PreconditionFailed");
  EXPECT_EQ(
      call_json(fake, "POST", connector_path("/" + general + "/activities"), message, token).status,
      412);
  EXPECT_EQ(
      call_json(fake, "POST", connector_path("/" + general + "/activities"), message, token).status,
      201);
  EXPECT_EQ(fake.bot_activities().size(), 1U);

  for (int status : {500, 502, 504}) {
    fake.inject(TeamsService::any, TeamsFault::http_error(status));
    EXPECT_EQ(call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, token).status,
              status);
  }
  fake.inject(TeamsService::connector, TeamsFault::http_error(500));
  fake.clear_faults();
  EXPECT_EQ(call(fake, "GET", connector_path("/" + general + "/members"), {}, {}, token).status,
            200);
}

TEST(FakeTeamsFaults, ADroppedConnectionHasNoEffectAndIsRecorded) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;
  fake.inject(TeamsService::connector, TeamsFault::drop_connection());
  EXPECT_THROW(call_json(fake, "POST", connector_path("/" + general + "/activities"),
                         json{{"type", "message"}, {"text", "x"}}, token),
               haveri::http::ClientError);
  EXPECT_TRUE(fake.bot_activities().empty());
  ASSERT_EQ(fake.requests(TeamsService::connector).size(), 1U);
  EXPECT_EQ(fake.requests(TeamsService::connector)[0].status, 0);
}

TEST(FakeTeamsFaults, ADelayedCallTakesEffectAndAnswersLate) {
  FakeTeams fake;
  const std::string token = connector_token(fake);
  const std::string general = fake.config().team.thread_id;
  fake.inject(TeamsService::connector, TeamsFault::slow(300ms));
  const auto start = std::chrono::steady_clock::now();
  const auto posted = call_json(fake, "POST", connector_path("/" + general + "/activities"),
                                json{{"type", "message"}, {"text", "late"}}, token);
  EXPECT_EQ(posted.status, 201);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(fake.bot_activities().size(), 1U);

  fake.set_latency(TeamsService::graph, 200ms);
  const auto graph_start = std::chrono::steady_clock::now();
  EXPECT_EQ(call(fake, "GET", graph_path(fake, "/channels"), {}, {}, graph_token(fake)).status,
            200);
  EXPECT_GE(std::chrono::steady_clock::now() - graph_start, 200ms);
}

// ---------------------------------------------------------------------------------------
// Driver and waits

TEST(TeamsDriver, PostsSignedActivitiesShapedLikeTeams) {
  FakeTeams fake;
  // The driver posts to a path of the fake itself, which records what it gets (404).
  TeamsDriver driver(fake, fake.base_url() + "/hooks/teams/messages");
  const auto& alice = fake.user("alice");
  const json mention = driver.channel_mention(alice, "declare Pump 3 down sev2");
  EXPECT_EQ(mention["type"], "message");
  EXPECT_EQ(mention["channelId"], "msteams");
  EXPECT_EQ(mention["serviceUrl"], fake.service_url());
  EXPECT_EQ(mention["text"], "<at>Haveri</at> declare Pump 3 down sev2");
  EXPECT_EQ(mention["from"]["aadObjectId"], alice.aad_object_id);
  EXPECT_EQ(mention["from"]["id"], alice.id);
  EXPECT_EQ(mention["recipient"]["id"], "28:" + fake.config().app_id);
  EXPECT_EQ(mention["conversation"]["id"],
            fake.config().team.thread_id + ";messageid=" + mention["id"].get<std::string>());
  EXPECT_EQ(mention["channelData"]["tenant"]["id"], fake.config().tenant_id);
  EXPECT_EQ(mention["channelData"]["team"]["id"], fake.config().team.thread_id);
  bool has_mention = false;
  for (const auto& entity : mention["entities"]) {
    has_mention = has_mention || (entity["type"] == "mention" &&
                                  entity["mentioned"]["id"] == "28:" + fake.config().app_id);
  }
  EXPECT_TRUE(has_mention);

  const auto response = driver.post(mention);
  EXPECT_EQ(response.status, 404);
  const auto received = fake.requests(TeamsService::other);
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].path, "/hooks/teams/messages");
  EXPECT_EQ(received[0].json, mention);
  const std::string authorization = received[0].headers.at("authorization");
  ASSERT_TRUE(authorization.starts_with("Bearer "));
  EXPECT_TRUE(verifies_against(authorization.substr(7), fake.jwks()));
  // The person's message is now in the channel (so that the bot may reply to it).
  ASSERT_TRUE(fake.activity(mention["id"]));
  EXPECT_FALSE(fake.activity(mention["id"])->from_bot);

  // Negative cases: no header, a raw one, a patched claim.
  TeamsAuth none;
  none.omit_authorization = true;
  driver.post(mention, none);
  EXPECT_EQ(fake.requests(TeamsService::other).back().headers.count("authorization"), 0U);
  TeamsAuth raw;
  raw.authorization = "Basic Zm9vOmJhcg==";
  driver.post(mention, raw);
  EXPECT_EQ(fake.requests(TeamsService::other).back().headers.at("authorization"),
            "Basic Zm9vOmJhcg==");
  TeamsAuth patched;
  patched.claims_patch = {{"aud", "someone-else"}, {"nbf", nullptr}};
  const std::string token = driver.bearer_token(fake.service_url(), patched);
  EXPECT_EQ(jwt_part(token, 1)["aud"], "someone-else");
  EXPECT_FALSE(jwt_part(token, 1).contains("nbf"));
  EXPECT_EQ(fake.activities().size(), 1U) << "a redelivered message is recorded once";
}

TEST(TeamsDriver, BuildsEveryKindOfActivity) {
  FakeTeams fake;
  TeamsDriver driver(fake, fake.base_url() + "/adapter");
  const auto& bob = fake.user("bob");
  const std::string general = fake.config().team.thread_id;

  const json personal = driver.personal_message(bob, "help");
  EXPECT_EQ(personal["conversation"]["conversationType"], "personal");
  EXPECT_EQ(personal["conversation"]["id"], fake.personal_conversation_id(bob.aad_object_id));

  const json root = driver.channel_message(bob, "root");
  const json reply = driver.thread_reply(bob, "status", general, root["id"], true);
  EXPECT_EQ(reply["conversation"]["id"], general + ";messageid=" + root["id"].get<std::string>());
  EXPECT_EQ(reply["replyToId"], root["id"]);
  EXPECT_EQ(reply["text"], "<at>Haveri</at> status");
  EXPECT_NE(reply["id"], root["id"]);

  const json submit = driver.card_submit(bob, general, "1700000000999", {{"haveri_action", "x"}});
  EXPECT_EQ(submit["value"]["haveri_action"], "x");
  EXPECT_FALSE(submit.contains("text"));
  EXPECT_EQ(submit["conversation"]["id"], general + ";messageid=1700000000999");

  const json execute = driver.card_execute(bob, general, "1700000000999", "ack", {{"n", 1}});
  EXPECT_EQ(execute["type"], "invoke");
  EXPECT_EQ(execute["name"], "adaptiveCard/action");
  EXPECT_EQ(execute["value"]["action"]["type"], "Action.Execute");
  EXPECT_EQ(execute["value"]["action"]["verb"], "ack");
  EXPECT_EQ(execute["value"]["action"]["data"]["n"], 1);
  EXPECT_EQ(execute["value"]["trigger"], "manual");

  const json edit = driver.message_edit(bob, root["conversation"]["id"], root["id"], "new");
  EXPECT_EQ(edit["type"], "messageUpdate");
  EXPECT_EQ(edit["channelData"]["eventType"], "editMessage");
  EXPECT_EQ(edit["id"], root["id"]);
  const json deletion = driver.message_delete(bob, root["conversation"]["id"], root["id"]);
  EXPECT_EQ(deletion["type"], "messageDelete");
  EXPECT_EQ(deletion["channelData"]["eventType"], "softDeleteMessage");

  const json installed = driver.bot_installed(bob);
  EXPECT_EQ(installed["type"], "conversationUpdate");
  EXPECT_EQ(installed["membersAdded"][0]["id"], "28:" + fake.config().app_id);
  EXPECT_EQ(installed["channelData"]["team"]["aadGroupId"], fake.config().team.group_id);
  const json added = driver.members_added({fake.user("carol")}, bob);
  EXPECT_EQ(added["membersAdded"][0]["aadObjectId"], fake.user("carol").aad_object_id);
  EXPECT_EQ(added["channelData"]["eventType"], "teamMemberAdded");
}

TEST(FakeTeamsWaits, WaitsAreBoundedAndWakeOnChanges) {
  FakeTeams fake;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(fake.wait_for_bot_activities(1, 100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
  std::thread poster([&] {
    const std::string token = connector_token(fake);
    call_json(fake, "POST", connector_path("/" + fake.config().team.thread_id + "/activities"),
              json{{"type", "message"}, {"text", "x"}}, token);
  });
  EXPECT_TRUE(fake.wait_for_bot_activities(1, kWait));
  EXPECT_TRUE(fake.wait_for_requests(TeamsService::token, 1, kWait));
  poster.join();
  EXPECT_THROW(fake.user("dave"), std::invalid_argument);
  EXPECT_EQ(fake.user("Bob Example").aad_object_id, fake.user("bob").aad_object_id);
}

}  // namespace
