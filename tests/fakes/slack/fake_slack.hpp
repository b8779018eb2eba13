#pragma once
// A fake Slack on loopback for the Slack adapter's end-to-end tests: the Web API
// (https://api.slack.com/methods) and Socket Mode (…/apis/connections/socket) as far as
// an app can see them, plus a driver that plays Slack's side of slash commands, the
// Events API and interactivity against the adapter's HTTP endpoints.
//
// What the fake checks is what Slack checks: tokens (and their kind), channel
// membership, channel names, trigger_id lifetimes, and Block Kit limits. A test that
// passes against it should not fail against Slack for any of those reasons.
//
// Threads: FakeSlack runs one io thread of its own; every public member function may be
// called from any thread. Every wait takes a timeout. The destructor closes every
// connection abruptly and joins the io thread.
//
// Boost.Beast stays inside fake_slack.cpp.
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

namespace haveri::fakes {

// application/x-www-form-urlencoded fields (the same type as haveri::slack::FormFields).
using FormFields = std::map<std::string, std::string>;

// Who the app is and where it is installed. The defaults match the examples in
// plugins/slack/src/events_api.hpp.
struct SlackIdentity {
  std::string team_id = "T0FAKE";
  std::string team_domain = "fake";
  std::string team_name = "Fake Workspace";
  std::string app_id = "A0APP";
  std::string bot_user_id = "U0BOT";
  std::string bot_id = "B0BOT";
  std::string bot_name = "haveri";
};

struct FakeSlackConfig {
  SlackIdentity identity;
  std::string bot_token = "xoxb-fake-bot-token";  // every method but apps.connections.open
  std::string app_token = "xapp-fake-app-token";  // apps.connections.open only
  // users.info, conversations.invite/open check user IDs against this table. Each entry is
  // a Slack user object with at least "id" and "name"; the missing fields of a users.info
  // answer (team_id, real_name, profile, is_bot, …) are filled in. The bot user is always
  // present. Defaults: U0ALICE (alice), U0BOB (bob), U0CAROL (carol).
  std::vector<nlohmann::json> users = {
      {{"id", "U0ALICE"}, {"name", "alice"}, {"real_name", "Alice Example"}},
      {{"id", "U0BOB"}, {"name", "bob"}, {"real_name", "Bob Example"}},
      {{"id", "U0CAROL"}, {"name", "carol"}, {"real_name", "Carol Example"}},
  };
  // Slack lets a trigger_id be used once within 3 s of the interaction.
  std::chrono::milliseconds trigger_id_lifetime{3000};
  // Largest request body the Web API accepts; larger ones get HTTP 413.
  std::size_t body_limit_bytes = 4 * 1024 * 1024;
};

// One Web API call as received, in the order received.
struct ApiCall {
  std::string method;        // "chat.postMessage"; "" when the path was not /api/<method>
  std::string http_method;   // "POST" (Slack also accepts GET with a query string)
  std::string content_type;  // as sent, e.g. "application/json; charset=utf-8"
  nlohmann::json args;       // JSON body as is; form fields as strings, except "blocks",
                             // "view" and "attachments", which are parsed when they are JSON
  std::string token;         // from "Authorization: Bearer …" or the "token" form field
  std::chrono::system_clock::time_point received;
  int http_status = 0;      // what the fake answered; 0 when it dropped the connection
  nlohmann::json response;  // the answer's body (null when not JSON or dropped)
};

// A message as it stands in a channel. `previous_versions` holds what chat.update replaced,
// oldest first; `request` is the args of the call that produced the current version.
struct SlackMessage {
  struct Version {
    std::string text;
    nlohmann::json blocks;  // null when the version had none
    nlohmann::json request;
  };
  std::string channel;
  std::string ts;
  std::string thread_ts;  // "" for a top-level message
  std::string user;       // the bot user for messages the app posted
  std::string bot_id;     // "" for messages by people (add_user_message)
  std::string text;
  nlohmann::json blocks;  // null when none
  nlohmann::json request;
  std::vector<Version> previous_versions;
};

struct SlackChannel {
  std::string id;  // "C…" channel, "D…" direct message
  std::string name;
  bool is_im = false;
  bool is_private = false;
  std::string creator;
  std::vector<std::string> members;  // in the order they joined
  std::string topic;
  std::vector<SlackMessage> messages;  // in ts order
};

struct EphemeralMessage {
  std::string channel;
  std::string user;
  std::string message_ts;
  std::string thread_ts;
  std::string text;
  nlohmann::json blocks;
  nlohmann::json request;
};

struct OpenedView {
  std::string id;  // "V…"
  std::string trigger_id;
  nlohmann::json view;     // the view as the app sent it
  nlohmann::json request;  // the whole call's args
};

// A call rejected for its Block Kit (invalid_blocks for messages, invalid_arguments for
// views). Tests of the adapter assert that there are none.
struct BlockKitViolation {
  std::string method;
  std::vector<std::string>
      errors;  // "must be less than 151 characters [json-pointer:/blocks/0/text/text]"
  nlohmann::json request;
};

// A request the app made to a response_url the fake issued.
struct ResponseUrlPost {
  std::string path;
  std::string content_type;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  nlohmann::json json;  // the body parsed, null when not JSON
};

// What the next call to a method gets instead of (or besides) its normal answer.
struct Fault {
  enum class Kind {
    error,        // HTTP 200 {"ok":false,"error":code}; the call has no effect
    http_status,  // HTTP status (429 with Retry-After, 500, 503); the call has no effect
    delay,        // the call takes effect at once; only its answer comes `delay` late
    drop,         // the connection is reset without an answer; the call has no effect
  };
  Kind kind = Kind::error;
  std::string error;
  int status = 0;
  std::chrono::seconds retry_after{0};
  std::chrono::milliseconds delay{0};

  static Fault slack_error(std::string code) {
    Fault f;
    f.error = std::move(code);
    return f;
  }
  // HTTP 429 {"ok":false,"error":"ratelimited"} with "Retry-After: <seconds>".
  static Fault rate_limited(std::chrono::seconds retry_after) {
    Fault f;
    f.kind = Kind::http_status;
    f.status = 429;
    f.retry_after = retry_after;
    return f;
  }
  // HTTP 500 or 503 with an HTML body, as Slack's edge answers when it is unwell.
  static Fault server_error(int status = 500) {
    Fault f;
    f.kind = Kind::http_status;
    f.status = status;
    return f;
  }
  static Fault slow(std::chrono::milliseconds delay) {
    Fault f;
    f.kind = Kind::delay;
    f.delay = delay;
    return f;
  }
  static Fault drop_connection() {
    Fault f;
    f.kind = Kind::drop;
    return f;
  }
};

class FakeSlack {
 public:
  // Listens on 127.0.0.1, port 0, and starts the io thread. Throws std::runtime_error
  // when it cannot listen.
  explicit FakeSlack(FakeSlackConfig config = {});
  ~FakeSlack();
  FakeSlack(const FakeSlack&) = delete;
  FakeSlack& operator=(const FakeSlack&) = delete;

  std::uint16_t port() const;
  std::string api_base_url() const;  // "http://127.0.0.1:<port>/api" (no trailing slash)
  const FakeSlackConfig& config() const;

  // --- Workspace set-up -----------------------------------------------------------
  // Adds (or replaces, by "id") a user in the users table.
  void add_user(nlohmann::json user);
  // A channel that exists before the test (created by a person, not the bot); returns its
  // ID. Pass the bot user in `members` when the bot should be in it.
  std::string add_channel(const std::string& name, const std::vector<std::string>& members,
                          bool is_private = false);
  // A message posted by a person (chat.update on it answers cant_update_message); returns
  // its ts.
  std::string add_user_message(const std::string& channel_id, const std::string& user,
                               const std::string& text, const std::string& thread_ts = {});
  // A trigger_id as Slack puts in slash commands and interaction payloads; views.open
  // accepts it once, within trigger_id_lifetime. `already_elapsed` ages it at once, so a
  // test can get an expired one without sleeping.
  std::string issue_trigger_id(std::chrono::milliseconds already_elapsed = {});
  // A URL on this fake to use as a payload's response_url; what the app posts there is
  // recorded (response_url_posts) and answered {"ok":true}.
  std::string issue_response_url();

  // --- Fault injection ------------------------------------------------------------
  // Queues `fault` for `method` ("*" matches any method, used after the method's own
  // queue); each call consumes one. Faults come before the token check, and a faulted call
  // is still recorded in calls() (http_status 0 when dropped).
  void inject(const std::string& method, Fault fault);
  // Every call to `method` answers `latency` late (zero clears). Combined with a queued
  // delay, the two add up.
  void set_latency(const std::string& method, std::chrono::milliseconds latency);
  void clear_faults();

  // --- Inspection (snapshots) -----------------------------------------------------
  std::vector<ApiCall> calls() const;
  std::vector<ApiCall> calls(const std::string& method) const;
  std::size_t call_count(const std::string& method) const;
  std::optional<SlackChannel> channel(const std::string& id) const;
  std::optional<SlackChannel> channel_by_name(const std::string& name) const;
  std::vector<SlackChannel> channels() const;
  // Every message in every channel, in posting order.
  std::vector<SlackMessage> messages() const;
  std::optional<SlackMessage> message(const std::string& channel_id, const std::string& ts) const;
  std::vector<EphemeralMessage> ephemerals() const;
  std::vector<OpenedView> views() const;
  std::vector<BlockKitViolation> violations() const;
  std::vector<ResponseUrlPost> response_url_posts() const;

  // --- Waiting (each bounded; true when the condition held in time) ----------------
  // `condition` runs on the calling thread without the fake's lock held, so it may call
  // the accessors above; it is evaluated again after every change the fake records.
  bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) const;
  bool wait_for_calls(const std::string& method, std::size_t count,
                      std::chrono::milliseconds timeout) const;
  bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const;

  // --- Socket Mode ----------------------------------------------------------------
  // apps.connections.open answers ws://127.0.0.1:<port>/link/?ticket=<t>&app_id=<app>;
  // a ticket opens one connection, once. On connect the fake sends "hello".

  // Sends {"envelope_id","type","payload","accepts_response_payload"} (events_api
  // envelopes also carry "retry_attempt":0,"retry_reason":"") on the newest open
  // connection, or when none is open, as soon as the next one has said hello. `type` is
  // "events_api", "slash_commands" or "interactive". Returns the envelope_id.
  std::string push_envelope(const std::string& type, nlohmann::json payload,
                            bool accepts_response_payload);
  // The client's acknowledgement {"envelope_id":…[, "payload":…]} of that envelope (the
  // first one, if it acknowledged twice), or nullopt if none came in time.
  std::optional<nlohmann::json> wait_for_ack(const std::string& envelope_id,
                                             std::chrono::milliseconds timeout) const;
  // Every acknowledgement received, in order (repeats included).
  std::vector<nlohmann::json> acks() const;
  // Every text frame received that was not an acknowledgement (parsed, or as a string).
  std::vector<nlohmann::json> unexpected_frames() const;
  // Sends the envelope again, as Slack does when no ack came: the same envelope_id and
  // payload with retry_attempt + 1 and retry_reason "timeout". False for an unknown id.
  bool redeliver(const std::string& envelope_id);
  // Sends {"type":"disconnect","reason":reason,"debug_info":{"host":"fake"}} on the
  // newest open connection ("refresh_requested", "warning", "link_disabled"). With
  // `close_after`, the fake then closes that connection with a close frame after that
  // long, as Slack does some seconds after a refresh. False when no connection is open.
  bool send_disconnect(const std::string& reason,
                       std::optional<std::chrono::milliseconds> close_after = std::nullopt);
  // Resets every open Socket Mode connection (TCP RST, no close frame).
  void drop_connections();
  std::size_t open_connections() const;
  std::size_t connections_opened() const;  // ever, since construction
  // Waits until at least `count` connections have been opened (and greeted) in total.
  bool wait_for_connections_opened(std::size_t count, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Slack's request signature: "v0=" + lower-case hex HMAC-SHA256(secret, "v0:<ts>:<body>").
std::string slack_signature(const std::string& signing_secret, const std::string& timestamp,
                            const std::string& body);

// How SlackDriver signs one request.
struct SigningOptions {
  std::optional<std::int64_t> timestamp{};  // default: now (Unix seconds)
  bool corrupt_signature = false;           // flips one hex digit of a valid signature
  bool omit_signature = false;
  bool omit_timestamp = false;
  std::optional<int> retry_num{};  // X-Slack-Retry-Num
  std::string retry_reason{};      // X-Slack-Retry-Reason ("http_timeout", …)
};

struct DriverResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Plays Slack towards the adapter's HTTP endpoints: signed POSTs to a full
// http://127.0.0.1:<port>/hooks/<instance>/… URL. Blocking; thread-safe (no state).
// Throws haveri::http::ClientError when the adapter cannot be reached in `timeout`.
class SlackDriver {
 public:
  explicit SlackDriver(std::string signing_secret = "fake-signing-secret",
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // Form-encoded, as Slack posts slash commands.
  DriverResponse post_slash_command(const std::string& url, const FormFields& fields,
                                    const SigningOptions& options = {}) const;
  // JSON, as the Events API posts event_callback and url_verification bodies.
  DriverResponse post_event(const std::string& url, const nlohmann::json& body,
                            const SigningOptions& options = {}) const;
  // Form-encoded with the JSON in one "payload" field, as Slack posts interactivity.
  DriverResponse post_interaction(const std::string& url, const nlohmann::json& payload,
                                  const SigningOptions& options = {}) const;
  // Any body, signed as given (for malformed-body tests).
  DriverResponse post_raw(const std::string& url, const std::string& body,
                          const std::string& content_type,
                          const SigningOptions& options = {}) const;

 private:
  std::string signing_secret_;
  std::chrono::milliseconds timeout_;
};

// Builders of the payloads Slack sends, with every field Slack sends (team, api_app_id,
// authorizations, event_context, trigger_id, response_url, container, …). Each builder
// makes fresh IDs (event_id, ts) that increase across calls. Thread-safe.
class SlackPayloads {
 public:
  explicit SlackPayloads(SlackIdentity identity = {});

  // A fresh ts, "1710000000.000100", increasing.
  std::string next_ts();

  struct SlashCommand {
    std::string command = "/incident";
    std::string text{};
    std::string user_id = "U0ALICE";
    std::string user_name = "alice";
    std::string channel_id = "C0GENERAL";
    std::string channel_name = "general";
    std::string trigger_id{};  // e.g. FakeSlack::issue_trigger_id(); generated when empty
    std::string
        response_url{};  // e.g. FakeSlack::issue_response_url(); a hooks.slack.com one when empty
  };
  FormFields slash_command(const SlashCommand& command);

  // {"type":"url_verification","token","challenge"}.
  nlohmann::json url_verification(const std::string& challenge) const;

  // The "event" objects Slack sends. `ts` empty means next_ts().
  nlohmann::json message(const std::string& channel, const std::string& user,
                         const std::string& text, std::string ts = {},
                         const std::string& thread_ts = {});
  nlohmann::json message_changed(const std::string& channel, const std::string& user,
                                 const std::string& ts, const std::string& new_text,
                                 const std::string& old_text);
  nlohmann::json message_deleted(const std::string& channel, const std::string& deleted_ts,
                                 const std::string& user, const std::string& old_text);
  // `files`: Slack file objects; each at least {"id","name"} (the rest is filled in).
  nlohmann::json file_share(const std::string& channel, const std::string& user,
                            const std::string& text, const std::vector<nlohmann::json>& files);
  nlohmann::json app_mention(const std::string& channel, const std::string& user,
                             const std::string& text);
  nlohmann::json member_joined_channel(const std::string& channel, const std::string& user,
                                       const std::string& inviter = {});

  // The whole Events API body: {"type":"event_callback","event":event,"event_id":"Ev…",
  // "event_time","team_id","api_app_id","authorizations":[…],"event_context",…}.
  nlohmann::json event_callback(nlohmann::json event);

  // An interactivity payload for a button click in a message the app posted.
  struct ButtonClick {
    std::string action_id{};
    std::string value{};
    std::string block_id = "actions";
    std::string button_text = "Button";
    std::string user_id = "U0ALICE";
    std::string user_name = "alice";
    std::string channel_id = "C0GENERAL";
    std::string channel_name = "general";
    std::string message_ts{};    // the message the button is in; next_ts() when empty
    nlohmann::json message{};    // that message ({"text","blocks",…}); a stub when null
    std::string trigger_id{};    // generated when empty
    std::string response_url{};  // generated when empty
  };
  nlohmann::json block_actions(const ButtonClick& click);

  // A view_submission of `view` (as the app opened it: callback_id, private_metadata,
  // blocks, title, …) with `state_values` as state.values. `view_id` is the opened view's
  // id (FakeSlack::views()) or generated.
  nlohmann::json view_submission(const nlohmann::json& view, const nlohmann::json& state_values,
                                 const std::string& user_id = "U0ALICE",
                                 const std::string& view_id = {}, std::string trigger_id = {});

  // state.values for `view` answered with `answers` (by block_id). The shape of each
  // answer follows the element type of the view's input block: plain_text_input and
  // number_input -> "value", static_select -> "selected_option" (the option whose value
  // matches, or a made-up one), datepicker -> "selected_date", users_select ->
  // "selected_user", checkboxes/multi_static_select -> selected_options (comma list).
  // Input blocks without an answer get the element's empty value, as Slack sends them.
  static nlohmann::json state_values(const nlohmann::json& view,
                                     const std::map<std::string, std::string>& answers);

  const SlackIdentity& identity() const { return identity_; }

 private:
  struct Counters;
  SlackIdentity identity_;
  std::shared_ptr<Counters> counters_;
};

// Form fields as a JSON object of strings (a slash command as Socket Mode delivers it).
nlohmann::json to_json(const FormFields& fields);
// "a=1&b=x%20y": every byte outside A-Z a-z 0-9 - . _ ~ percent-encoded.
std::string form_encode(const FormFields& fields);

}  // namespace haveri::fakes
