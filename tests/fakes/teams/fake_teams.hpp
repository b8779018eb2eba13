#pragma once
// A fake Microsoft side on loopback for the Teams adapter's end-to-end tests: the
// Microsoft identity platform's token endpoint (client-credentials grant), the Bot
// Framework's OpenID metadata and signing keys (JWKS), the Bot Connector REST API
// (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference)
// and the part of Microsoft Graph v1.0 an incident bot uses (channels and members of a
// team); plus a driver that plays the Bot Framework service towards the adapter.
//
// What the fake checks is what Microsoft checks: client id and secret, the scope asked
// of each authority, a bearer token of the right audience on every Connector and Graph
// call (revocable, expiring), conversation and activity ids, that the bot only edits its
// own activities, Adaptive Cards (adaptive_card_checker.hpp) and Teams' size limit on
// every message, channel names (length, characters, uniqueness) and team membership. A
// test that passes against it should not fail against Microsoft for any of those reasons.
//
// One server, one base URL "http://127.0.0.1:<port>":
//   POST /login/{tenant}/oauth2/v2.0/token                 token endpoint (any tenant in
//                                                          the path; see FakeTeams::token…)
//   GET  /botframework/v1/.well-known/openidconfiguration  OpenID metadata
//   GET  /botframework/v1/.well-known/keys                 JWKS
//   …    /connector/v3/conversations…                      Bot Connector (service_url())
//   …    /graph/v1.0/teams/{team-id}/…                     Graph (graph_base_url())
// Path segments are percent-decoded one by one ("19%3Aabc%40thread.tacv2%3Bmessageid%3D1"
// is the conversation "19:abc@thread.tacv2;messageid=1"), as Microsoft's servers do.
//
// Errors look like Microsoft's: token endpoint {"error":"invalid_client",
// "error_description":"AADSTS7000215: …"}; Connector {"error":{"code":"BadSyntax",
// "message":…}} (401 without a valid token: {"message":"Authorization has been denied for
// this request."}); Graph {"error":{"code":…,"message":…,"innerError":{"date",
// "request-id","client-request-id"}}}.
//
// Threads: FakeTeams runs one io thread of its own; every public member function may be
// called from any thread. Every wait takes a timeout. The destructor closes every
// connection abruptly and joins the io thread.
//
// Boost.Beast stays inside fake_teams.cpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "teams/jwt_signer.hpp"

namespace haveri::fakes {

// A person in the fake tenant. Every id is obviously fake.
struct TeamsUser {
  std::string aad_object_id;  // Entra object id (GUID): what Graph and the adapter use
  std::string id;             // the Bot Framework's "29:…" id of the user
  std::string name;           // display name
  std::string email;          // also the userPrincipalName
};

// The one team the fake knows (the one that receives incident channels).
struct TeamsTeam {
  std::string group_id = "00000000-0000-4000-8000-0000000007ea";  // Graph's {team-id}
  // The team's thread id (channelData.team.id); in Teams it is also the id of the team's
  // General channel.
  std::string thread_id = "19:fake0team0general0thread00000@thread.tacv2";
  std::string name = "Operations";
  // Members by aad_object_id. Default: alice and bob (carol is not in the team, so a
  // test can add her).
  std::vector<std::string> members = {"00000000-0000-4000-8000-00000000a11c",
                                      "00000000-0000-4000-8000-000000000b0b"};
};

struct FakeTeamsConfig {
  std::string app_id = "00000000-0000-4000-8000-000000000b07";  // Microsoft app id
  std::string client_secret = "fake-client-secret";
  std::string tenant_id = "00000000-0000-4000-8000-00000000feed";
  std::string bot_name = "Haveri";
  std::vector<TeamsUser> users = {
      {"00000000-0000-4000-8000-00000000a11c", "29:1fakeAliceUserId0000000000000000000",
       "Alice Example", "alice@fake-tenant.example.invalid"},
      {"00000000-0000-4000-8000-000000000b0b", "29:1fakeBobUserId00000000000000000000",
       "Bob Example", "bob@fake-tenant.example.invalid"},
      {"00000000-0000-4000-8000-00000000ca01", "29:1fakeCarolUserId0000000000000000000",
       "Carol Example", "carol@fake-tenant.example.invalid"},
  };
  TeamsTeam team;
  // "expires_in" of the tokens the fake issues; a token is refused once it is older.
  std::chrono::seconds token_lifetime{3599};
  // Largest serialized message activity the Connector accepts (Teams: about 28 KiB);
  // passed to check_message_activity.
  std::size_t max_activity_bytes = 28 * 1024;
  // Largest request body read at all; larger ones get HTTP 413.
  std::size_t body_limit_bytes = 4 * 1024 * 1024;
};

// Which Microsoft service a request went to.
enum class TeamsService {
  token,      // /login/…
  openid,     // /botframework/… (metadata and JWKS)
  connector,  // /connector/…
  graph,      // /graph/…
  other,      // anything else (answered 404)
  any,        // for inject(): matches every service
};
const char* to_string(TeamsService service);

// One HTTP request as received, in the order received.
struct TeamsRequest {
  TeamsService service = TeamsService::other;
  std::string method;                          // "POST"
  std::string target;                          // as sent, percent-encoded, with the query
  std::string path;                            // decoded segment by segment, without the query
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // as sent
  // The body parsed: JSON as is; form fields (token endpoint) as an object of strings;
  // null when empty or unparsable.
  nlohmann::json json;
  std::string bearer_token;  // from "Authorization: Bearer …", "" when none
  // The token was one this fake issued for this service's audience, unrevoked and
  // unexpired (always false for the token endpoint, OpenID and other).
  bool token_valid = false;
  int status = 0;           // what the fake answered; 0 when it dropped the connection
  nlohmann::json response;  // the answer's body parsed (null when none or not JSON)
  std::chrono::system_clock::time_point received;
};

// A token the fake issued.
struct IssuedToken {
  std::string access_token;
  std::string scope;   // "https://api.botframework.com/.default" or the Graph one
  std::string tenant;  // the {tenant} path segment it was asked of
  std::chrono::steady_clock::time_point expires;
  bool revoked = false;
};

// An activity in a conversation: sent by the bot through the Connector, or by a person
// (recorded by TeamsDriver::post, so that the bot can reply to it but not edit it).
struct TeamsActivity {
  std::string id;               // "1700000000123"-style millisecond id
  std::string conversation_id;  // the channel id "19:…@thread.tacv2" or personal "a:1…"
  // In a channel, the id of the thread's root message (its own id for a root message);
  // "" in a personal chat.
  std::string thread_root_id;
  std::string reply_to_id;  // the activity it replies to ("" for none)
  bool from_bot = false;
  nlohmann::json activity;  // the current version as received
  // What updates replaced, oldest first (the adapter's update of the global card).
  std::vector<nlohmann::json> previous_versions;
};

struct TeamsConversation {
  enum class Kind { channel, personal };
  std::string id;  // channel id, or "a:1…" for a personal chat
  Kind kind = Kind::channel;
  std::string user_aad_object_id;  // personal chats: the person
};

// A channel of the team: General (id = team thread id) and those created through Graph.
struct TeamsChannel {
  std::string id;  // "19:…@thread.tacv2"
  std::string display_name;
  std::string description;
  std::string membership_type;  // "standard", "private", "shared"
  std::string web_url;
  bool created_through_graph = false;
  nlohmann::json request;  // the Graph request body that created it (null for General)
};

// A message activity the Connector refused for its card or size (400 BadSyntax). Tests
// of the adapter assert that there are none.
struct CardViolation {
  std::string method;  // "POST" or "PUT"
  std::string path;    // decoded
  std::vector<std::string> errors;
  nlohmann::json activity;
};

// What the next matching call gets instead of (or besides) its normal answer.
struct TeamsFault {
  enum class Kind {
    http_status,  // the status with a Microsoft-style error body; the call has no effect
    delay,        // the call takes effect at once; only its answer comes `delay` late
    drop,         // the connection is reset without an answer; the call has no effect
  };
  Kind kind = Kind::http_status;
  int status = 0;
  std::chrono::seconds retry_after{0};  // > 0: a "Retry-After: <seconds>" header
  std::chrono::milliseconds delay{0};
  std::string code;     // the error code in the body; "" picks one from the status
  std::string message;  // "" picks one from the status

  // 429 with "Retry-After: <seconds>" (TooManyRequests / temporarily_unavailable).
  static TeamsFault throttled(std::chrono::seconds retry_after) {
    TeamsFault f;
    f.status = 429;
    f.retry_after = retry_after;
    return f;
  }
  // Any status: 412 PreconditionFailed, 500, 502, 503, 504, or a 4xx for a permanent
  // error; `retry_after` > 0 adds the header (Graph sends it with 503 too).
  static TeamsFault http_error(int status, std::chrono::seconds retry_after = {},
                               std::string code = {}, std::string message = {}) {
    TeamsFault f;
    f.status = status;
    f.retry_after = retry_after;
    f.code = std::move(code);
    f.message = std::move(message);
    return f;
  }
  static TeamsFault slow(std::chrono::milliseconds delay) {
    TeamsFault f;
    f.kind = Kind::delay;
    f.delay = delay;
    return f;
  }
  static TeamsFault drop_connection() {
    TeamsFault f;
    f.kind = Kind::drop;
    return f;
  }
};

class FakeTeams {
 public:
  static constexpr const char* kConnectorScope = "https://api.botframework.com/.default";
  static constexpr const char* kGraphScope = "https://graph.microsoft.com/.default";
  static constexpr const char* kBotFrameworkTenant = "botframework.com";

  // Listens on 127.0.0.1, port 0, makes the first signing key ("fake-key-1", endorsed
  // for "msteams") and starts the io thread. Throws std::runtime_error when it cannot.
  explicit FakeTeams(FakeTeamsConfig config = {});
  ~FakeTeams();
  FakeTeams(const FakeTeams&) = delete;
  FakeTeams& operator=(const FakeTeams&) = delete;

  std::uint16_t port() const;
  const FakeTeamsConfig& config() const;
  std::string base_url() const;             // "http://127.0.0.1:<port>"
  std::string connector_token_url() const;  // base + "/login/botframework.com/oauth2/v2.0/token"
  std::string graph_token_url() const;      // base + "/login/{tenant}/oauth2/v2.0/token" (literal)
  std::string openid_metadata_url()
      const;                           // base + "/botframework/v1/.well-known/openidconfiguration"
  std::string jwks_url() const;        // base + "/botframework/v1/.well-known/keys"
  std::string service_url() const;     // base + "/connector/" (the activities' serviceUrl)
  std::string graph_base_url() const;  // base + "/graph/v1.0" (no trailing slash)

  // The configured user with that aad object id, "29:" id, or name ("Alice Example") —
  // or, as a shorthand, the first word of the name in lower case ("alice"). Throws
  // std::invalid_argument naming the users when there is none.
  const TeamsUser& user(const std::string& key) const;

  // --- Tokens ---------------------------------------------------------------------
  // The endpoint checks grant_type=client_credentials, client_id = app id,
  // client_secret, and the scope against the authority: kConnectorScope only from
  // tenant "botframework.com", kGraphScope only from the configured tenant id. Answers
  // {"token_type":"Bearer","expires_in":<lifetime>,"ext_expires_in":<lifetime>,
  // "access_token":"<opaque>"}.
  std::vector<IssuedToken> issued_tokens() const;
  std::size_t tokens_issued(const std::string& scope) const;
  // Lifetime of tokens issued from now on (those already issued keep theirs).
  void set_token_lifetime(std::chrono::seconds lifetime);
  // Every token issued so far is refused from now on (401), as after a secret rotation.
  void revoke_tokens();
  // Every token issued so far is expired from now on (401 "the token is expired"),
  // without waiting for its lifetime.
  void expire_tokens();

  // --- Signing keys, OpenID metadata, JWKS -----------------------------------------
  // The key the driver signs with. References stay valid for the fake's lifetime.
  const TestSigningKey& current_key() const;
  // Makes a new key (kid "fake-key-<n>" unless given), publishes it beside the old ones
  // and signs with it from now on; returns it.
  const TestSigningKey& rotate_key(std::string kid = {},
                                   std::vector<std::string> endorsements = {"msteams"});
  // Makes a new key and publishes it beside the others, but keeps signing with the
  // current one (TeamsAuth::key can still sign with it): a key the JWKS lists that the
  // adapter must refuse, e.g. one endorsed for {"skype"} only. Returns it.
  const TestSigningKey& add_key(std::string kid = {},
                                std::vector<std::string> endorsements = {"msteams"});
  // Signs with `key` from now on (back to an older key, say). Throws std::invalid_argument
  // when `key` is not one of this fake's keys.
  void sign_with(const TestSigningKey& key);
  // Serves `jwks` as given from now on (instead of the keys the fake holds); null goes
  // back to the fake's keys. Same for the metadata document.
  void publish_jwks(nlohmann::json jwks);
  void publish_openid_metadata(nlohmann::json metadata);
  // What GET …/keys serves right now.
  nlohmann::json jwks() const;
  std::size_t metadata_fetches() const;
  std::size_t jwks_fetches() const;

  // --- Team, channels, conversations ------------------------------------------------
  std::vector<TeamsChannel> channels() const;  // General first, then in creation order
  std::optional<TeamsChannel> channel(const std::string& id) const;
  // By display name, case-insensitive.
  std::optional<TeamsChannel> channel_by_name(const std::string& display_name) const;
  std::vector<std::string> team_members() const;  // aad object ids, in joining order
  // The personal chat between the bot and that user ("a:1…"), made on first use;
  // the Connector's create answers the same id.
  std::string personal_conversation_id(const std::string& user_aad_object_id);
  std::vector<TeamsConversation> conversations() const;
  // A fresh "1700000000123"-style message id, unique and increasing (shared with the
  // Connector's ids, so driver-built and bot-sent activities never collide).
  std::string new_message_id();
  // Records an activity a person sent (TeamsDriver::post does it for every "message").
  // The conversation is taken from activity.conversation.id (a channel's
  // ";messageid=<root>" gives the thread). Idempotent by activity id.
  void record_user_activity(const nlohmann::json& activity);

  // --- Inspection (snapshots) -----------------------------------------------------
  std::vector<TeamsRequest> requests() const;
  std::vector<TeamsRequest> requests(TeamsService service) const;
  // Requests to `service` with that HTTP method ("" any) whose decoded path contains
  // `path_contains`.
  std::size_t request_count(TeamsService service, const std::string& method = {},
                            const std::string& path_contains = {}) const;
  // Every activity in every conversation (the bot's and recorded people's), in order.
  std::vector<TeamsActivity> activities() const;
  // Only the bot's, in order.
  std::vector<TeamsActivity> bot_activities() const;
  // In one conversation (a channel id, with or without ";messageid=…", or "a:1…").
  std::vector<TeamsActivity> activities_in(const std::string& conversation_id) const;
  std::optional<TeamsActivity> activity(const std::string& activity_id) const;
  std::vector<CardViolation> card_violations() const;

  // --- Waiting (each bounded; true when the condition held in time) ----------------
  // `condition` runs on the calling thread without the fake's lock held, so it may call
  // the accessors above; it is evaluated again after every change the fake records.
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) const;
  bool wait_for_requests(TeamsService service, std::size_t count,
                         std::chrono::milliseconds timeout) const;
  // Until the bot has sent `count` activities in total.
  bool wait_for_bot_activities(std::size_t count, std::chrono::milliseconds timeout) const;

  // --- Fault injection ------------------------------------------------------------
  // Queues `fault` `times` times for requests to `service` (TeamsService::any: every
  // service) whose decoded path contains `path_contains` ("" any). Each matching request
  // consumes one, first queued first. Faults come before the token check; a faulted
  // request is still recorded (status 0 when dropped).
  void inject(TeamsService service, TeamsFault fault, const std::string& path_contains = {},
              std::size_t times = 1);
  // Every request to `service` answers `latency` late (zero clears).
  void set_latency(TeamsService service, std::chrono::milliseconds latency);
  void clear_faults();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// How TeamsDriver authenticates one POST. Default: "Authorization: Bearer <JWT>" signed
// by fake.current_key() over bot_framework_claims(app id, activity.serviceUrl, now).
struct TeamsAuth {
  bool omit_authorization = false;
  std::optional<std::string> authorization;  // the raw header value, sent as is
  std::optional<nlohmann::json> claims;      // replaces the claims entirely
  // Merged into the claims (RFC 7386 merge patch: null removes a claim), e.g.
  // {"aud":"other"}, {"exp":…}, {"serviceurl":"https://elsewhere/"}.
  nlohmann::json claims_patch = nlohmann::json::object();
  nlohmann::json header = nlohmann::json::object();  // extra JWT header fields
  const TestSigningKey* key = nullptr;               // null: fake.current_key()
  std::optional<std::int64_t> now_unix_seconds;      // for the default claims
};

struct TeamsDriverResponse {
  int status = 0;
  std::string content_type;  // BlockingClient hides the other response headers
  std::string body;
  nlohmann::json json;  // the body parsed when it is JSON, else null
};

// Plays the Bot Framework service towards the adapter: builds activities as Teams sends
// them (serviceUrl = fake.service_url(), channelId "msteams", channelData.tenant.id, from
// {id, name, aadObjectId}, recipient {id:"28:<app id>", name}, fresh ids, timestamps)
// and POSTs them to the adapter's URL (http://127.0.0.1:<port>/hooks/<instance>/messages)
// with a bearer JWT. Blocking; thread-safe. The fake must outlive the driver. Throws
// haveri::http::ClientError when the adapter cannot be reached within `timeout`.
class TeamsDriver {
 public:
  TeamsDriver(FakeTeams& fake, std::string adapter_url,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // --- Activities (build only; post() sends) ---------------------------------------
  // Channel ids default to the team's General channel (team thread id). Texts are the
  // HTML Teams sends (plain text is fine).
  //
  // A new root post in a channel: conversation.id "<channel>;messageid=<its id>".
  nlohmann::json channel_message(const TeamsUser& from, const std::string& text,
                                 const std::string& channel_id = {}) const;
  // A root post mentioning the bot: text "<at>Haveri</at> <command>" and a mention entity.
  nlohmann::json channel_mention(const TeamsUser& from, const std::string& command,
                                 const std::string& channel_id = {}) const;
  // A reply in the thread of `root_id` (conversation.id "<channel>;messageid=<root>",
  // replyToId root); `mention_bot` prefixes the mention as above.
  nlohmann::json thread_reply(const TeamsUser& from, const std::string& text,
                              const std::string& channel_id, const std::string& root_id,
                              bool mention_bot = false) const;
  // A message in the user's personal chat with the bot (no mention).
  nlohmann::json personal_message(const TeamsUser& from, const std::string& text) const;
  // Action.Submit on a card: a message with `value` and no text, replyToId the card's
  // activity. `conversation_id` as the card's conversation ("<channel>;messageid=<root>"
  // or a bare channel id, or "a:1…").
  nlohmann::json card_submit(const TeamsUser& from, const std::string& conversation_id,
                             const std::string& card_activity_id,
                             const nlohmann::json& value) const;
  // Action.Execute: invoke "adaptiveCard/action" with value {"action":{"type":
  // "Action.Execute","verb","data"},"trigger":"manual"}.
  nlohmann::json card_execute(const TeamsUser& from, const std::string& conversation_id,
                              const std::string& card_activity_id, const std::string& verb,
                              const nlohmann::json& data) const;
  // messageUpdate (channelData.eventType "editMessage") of the message `message_id`.
  nlohmann::json message_edit(const TeamsUser& from, const std::string& conversation_id,
                              const std::string& message_id, const std::string& new_text) const;
  // messageDelete (channelData.eventType "softDeleteMessage").
  nlohmann::json message_delete(const TeamsUser& from, const std::string& conversation_id,
                                const std::string& message_id) const;
  // conversationUpdate "teamMemberAdded" with the bot in membersAdded: the app was
  // installed in the team (by `installer`).
  nlohmann::json bot_installed(const TeamsUser& installer) const;
  // conversationUpdate "teamMemberAdded" with these people in membersAdded.
  nlohmann::json members_added(const std::vector<TeamsUser>& added, const TeamsUser& by) const;

  // --- Sending --------------------------------------------------------------------
  // POSTs the activity as JSON. A "message" is first recorded in the fake as the
  // person's (record_user_activity).
  TeamsDriverResponse post(const nlohmann::json& activity, const TeamsAuth& auth = {}) const;
  // Any body and content type; the claims' serviceurl is fake.service_url().
  TeamsDriverResponse post_raw(const std::string& body, const std::string& content_type,
                               const TeamsAuth& auth = {}) const;
  // The bearer token post() would send for an activity with this serviceUrl.
  std::string bearer_token(const std::string& service_url, const TeamsAuth& auth = {}) const;

  const std::string& adapter_url() const { return adapter_url_; }
  std::string bot_id() const;  // "28:<app id>"

 private:
  nlohmann::json base_activity(const std::string& type, const TeamsUser& from,
                               const std::string& conversation_id,
                               const std::string& activity_id) const;
  TeamsDriverResponse send(const std::string& body, const std::string& content_type,
                           const std::string& service_url, const TeamsAuth& auth) const;

  FakeTeams& fake_;
  std::string adapter_url_;
  std::chrono::milliseconds timeout_;
};

// "a%3Ab": every byte outside A-Z a-z 0-9 - _ . ! ~ * ' ( ) percent-encoded, as
// JavaScript's encodeURIComponent does.
std::string encode_uri_component(const std::string& text);

}  // namespace haveri::fakes
