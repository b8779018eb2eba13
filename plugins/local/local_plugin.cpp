// libhaveri_local.so — the loopback chat transport, and the reference plugin.
//
// "Local chat" is a tiny chat platform that lives inside this plugin: channels are
// in-memory logs, people post with HTTP (haverictl chat does it for you) and read
// back what the bot said. It exists for demos and end-to-end tests, and to show a
// plugin author the whole ABI flow in one short file. A Slack or Teams plugin has
// exactly the same shape; only the translation in the middle is bigger.
//
// How the host drives a plugin (see <haveri/plugin.h> for the contract):
//
//   1. haverid dlopen()s libhaveri_local.so and calls haveri_plugin_entry, which
//      HAVERI_DEFINE_PLUGIN (bottom of this file) generates. It returns a static
//      table of C function pointers; the C++ helper in <haveri/plugin.hpp> fills it
//      with wrappers that call the static/member functions of LocalChat below and
//      turn any exception into a logged error code, so no exception crosses the ABI.
//
//   2. For each configured instance ("local" in config.example.yaml) the host calls
//      instance_create -> LocalChat::create(host, name, settings_json). Validate the
//      settings strictly and throw on anything wrong: the helper logs the message
//      through the host and the daemon refuses to start with that error.
//
//   3. Inbound: an HTTP request to /hooks/<instance>/... arrives as handle_request
//      (request metadata as JSON plus the raw body). The plugin checks it (a real
//      platform plugin verifies a signature here), turns it into neutral inbound
//      events and hands each to host.submit_inbound(request_id, event_json), then
//      calls host.respond(request_id, ...) exactly once. The host holds that response
//      back until the submitted events are committed, so "200 OK" always means
//      "recorded"; if the commit fails the platform gets a 503 and retries, and the
//      idempotency_key lets the host recognise the retry.
//
//   4. Outbound: when the daemon wants something done on the platform (create a
//      channel, post a card) it calls perform_operation with a neutral operation
//      JSON. The plugin does it (here: appends to an in-memory log; in Slack: an API
//      call) and reports {"status":"ok"|"retryable"|"permanent"} through
//      host.complete_operation — right away, as here, or later from another thread.
//
//   5. instance_destroy frees the instance (the helper deletes the LocalChat).
//
// Threading: the host never calls one instance concurrently (plugin.h, "Threading"),
// and this plugin starts no threads of its own, so LocalChat needs no locks.
// Different instances share nothing.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------
// Small validation and text helpers.

constexpr std::size_t kMaxTextBytes = 4000;
constexpr std::size_t kMaxUserChars = 64;
constexpr std::size_t kMaxChannelChars = 80;
constexpr std::size_t kMaxClientMessageIdChars = 128;
constexpr std::size_t kDefaultPageSize = 100;
constexpr std::size_t kMaxPageSize = 500;
// How many client_message_ids we remember to make POST /messages retries idempotent.
constexpr std::size_t kRememberedClientIds = 10000;
// How many operation_keys we remember to make retried operations idempotent.
constexpr std::size_t kRememberedOperations = 1000;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// [a-z0-9][a-z0-9_-]{0,79} — the same names Slack allows, so demos carry over.
bool valid_channel_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxChannelChars || !is_lower_alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_lower_alnum(c) || c == '_' || c == '-'; });
}

// 1..64 of [A-Za-z0-9._-]
bool valid_user_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxUserChars &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

// 1..128 of [A-Za-z0-9._:-]: it becomes part of an idempotency key.
bool valid_client_message_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxClientMessageIdChars &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == ':';
         });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// "/incident declare x" -> "declare x"; nullopt when the text is not a command.
std::optional<std::string_view> incident_command(std::string_view text) {
  constexpr std::string_view kPrefix = "/incident";
  const std::string_view t = trim(text);
  if (!t.starts_with(kPrefix)) {
    return std::nullopt;
  }
  const std::string_view rest = t.substr(kPrefix.size());
  if (!rest.empty() && !is_space(rest.front())) {
    return std::nullopt;  // "/incidents" is an ordinary message
  }
  return trim(rest);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// application/x-www-form-urlencoded decoding of one query component.
std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "a=1&b=2" -> {a:1, b:2}; the last of repeated keys wins.
std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> params;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    params[url_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
  }
  return params;
}

// A decimal unsigned number, or nullopt for anything else (sign, spaces, overflow).
std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_epoch() {
  std::random_device device;
  const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device();
  std::string hex(16, '0');
  for (std::size_t i = 0; i < hex.size(); ++i) {
    hex[i] = "0123456789abcdef"[(value >> (60 - 4 * i)) & 0xFU];
  }
  return hex;
}

std::string error_body(std::string_view message) {
  return json{{"error", message}}.dump();
}

// ---------------------------------------------------------------------------------
// Plain-text rendering of a neutral message (core/include/haveri/core/messages.hpp):
// {"title","text","fields":[{"label","value"}],"actions":[{"label","command"}],
//  "context"}, every member optional. A Slack plugin would build Block Kit here.

constexpr std::string_view kBar = "\xE2\x94\x83 ";  // "┃ ": marks a bot card in a terminal
constexpr std::size_t kFieldLineWidth = 90;

std::string string_member(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string render_plain_text(const json& message) {
  std::vector<std::string> lines;
  const auto add_line = [&lines](std::string_view line) { lines.emplace_back(line); };

  if (const std::string title = string_member(message, "title"); !title.empty()) {
    add_line(title);
  }

  // Fields side by side, wrapped so a card with many fields stays readable.
  if (const auto fields = message.find("fields"); fields != message.end() && fields->is_array()) {
    std::string line;
    for (const json& field : *fields) {
      if (!field.is_object()) {
        continue;
      }
      const std::string label = string_member(field, "label");
      const std::string value = string_member(field, "value");
      if (label.empty() && value.empty()) {
        continue;
      }
      const std::string cell = label.empty() ? value : label + ": " + value;
      if (!line.empty() && line.size() + 3 + cell.size() > kFieldLineWidth) {
        add_line(line);
        line.clear();
      }
      line += line.empty() ? cell : "   " + cell;
    }
    if (!line.empty()) {
      add_line(line);
    }
  }

  // Text keeps its own line breaks; markdown markers (*bold*, `code`) stay as typed.
  if (const std::string text = string_member(message, "text"); !text.empty()) {
    std::string_view rest = text;
    while (true) {
      const std::size_t nl = rest.find('\n');
      add_line(rest.substr(0, nl));
      if (nl == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(nl + 1);
    }
  }

  // Buttons become the command a person would type to get the same effect.
  if (const auto actions = message.find("actions");
      actions != message.end() && actions->is_array()) {
    std::string line;
    for (const json& action : *actions) {
      if (!action.is_object()) {
        continue;
      }
      std::string command = string_member(action, "command");
      if (command.empty()) {
        continue;
      }
      if (!incident_command(command)) {
        command = "/incident " + command;
      }
      const std::string label = string_member(action, "label");
      const std::string button = "[" + (label.empty() ? command : label + ": " + command) + "]";
      line += line.empty() ? button : "  " + button;
    }
    if (!line.empty()) {
      add_line(line);
    }
  }

  if (const std::string context = string_member(message, "context"); !context.empty()) {
    add_line(context);
  }

  std::string out;
  for (const std::string& line : lines) {
    if (!out.empty()) {
      out += '\n';
    }
    out += kBar;
    out += line;
  }
  return out;
}

// ---------------------------------------------------------------------------------
// The plugin instance.

struct Settings {
  std::string bot_name = "Haveri";
  std::size_t history_limit = 1000;
  std::size_t max_channels = 1000;
};

// Reads the instance's `settings`. Strict: an unknown key is a typo the operator
// wants to hear about at start, not a silently ignored setting.
Settings parse_settings(std::string_view instance_name, std::string_view config_json) {
  const std::string where = "local plugin instance \"" + std::string(instance_name) + "\": ";
  Settings settings;
  if (trim(config_json).empty()) {
    return settings;
  }
  const json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_null()) {
    return settings;  // `settings:` left empty
  }
  if (!config.is_object()) {
    throw std::invalid_argument(where + "settings must be a mapping (bot_name, history_limit, " +
                                "max_channels)");
  }
  const auto integer = [&](const std::string& key, const json& value, std::int64_t min,
                           std::int64_t max) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < min ||
        value.get<std::int64_t>() > max) {
      throw std::invalid_argument(where + "settings." + key + " must be an integer from " +
                                  std::to_string(min) + " to " + std::to_string(max) + ", got " +
                                  value.dump());
    }
    return static_cast<std::size_t>(value.get<std::int64_t>());
  };
  for (const auto& [key, value] : config.items()) {
    if (key == "bot_name") {
      if (!value.is_string() || value.get<std::string>().empty() ||
          value.get<std::string>().size() > kMaxUserChars) {
        throw std::invalid_argument(where + "settings.bot_name must be a name of 1 to 64 " +
                                    "characters, got " + value.dump());
      }
      settings.bot_name = value.get<std::string>();
    } else if (key == "history_limit") {
      settings.history_limit = integer(key, value, 1, 100000);
    } else if (key == "max_channels") {
      settings.max_channels = integer(key, value, 1, 100000);
    } else {
      throw std::invalid_argument(where + "unknown setting \"" + key +
                                  "\" (known: bot_name, history_limit, max_channels)");
    }
  }
  return settings;
}

// One line in a channel, as GET /messages returns it.
struct ChatMessage {
  std::uint64_t seq = 0;
  std::string channel;
  std::string from;
  bool bot = false;
  std::string text;
  std::int64_t at_ms = 0;
};

json to_json(const ChatMessage& m) {
  return json{{"seq", m.seq}, {"channel", m.channel}, {"from", m.from},
              {"bot", m.bot}, {"text", m.text},       {"at_ms", m.at_ms}};
}

struct Channel {
  std::string topic;
  std::deque<ChatMessage> log;  // oldest first; at most history_limit entries
};

// Runs on: whichever host thread calls the instance, one call at a time.
class LocalChat {
 public:
  // Called through instance_create. Throws on bad settings (see parse_settings).
  static std::unique_ptr<LocalChat> create(haveri::sdk::Host host, std::string_view instance_name,
                                           std::string_view config_json) {
    Settings settings = parse_settings(instance_name, config_json);
    return std::unique_ptr<LocalChat>(
        new LocalChat(host, std::string(instance_name), std::move(settings)));
  }

  // Called through handle_request. Every path ends in exactly one respond().
  void handle_request(std::uint64_t request_id, std::string_view request_json,
                      std::string_view body) {
    const json request = json::parse(request_json, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object()) {
      respond(request_id, 500, "the host sent malformed request metadata");
      return;
    }
    const std::string method = string_member(request, "method");
    std::string path = string_member(request, "path");
    if (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    const auto params = parse_query(string_member(request, "query"));

    if (path == "/messages") {
      if (method == "POST") {
        post_human_message(request_id, body);
      } else if (method == "GET") {
        list_messages(request_id, params);
      } else {
        respond(request_id, 405, "use GET or POST on /messages");
      }
    } else if (path == "/channels") {
      if (method == "GET") {
        list_channels(request_id);
      } else {
        respond(request_id, 405, "use GET on /channels");
      }
    } else {
      respond(request_id, 404,
              "no such path \"" + path + "\" (local chat serves /messages and /channels)");
    }
  }

  // Called through perform_operation. Completes the operation before returning.
  //
  // The host may deliver the same operation again (say, after a timeout although the
  // first attempt went through); it then carries the same "operation_key". A repeated
  // key is answered with the remembered result and not performed again, so a card is
  // not posted twice. Only successes are remembered: a failed operation changed
  // nothing, so performing it again is harmless.
  void perform_operation(std::uint64_t operation_id, std::string_view operation_json) {
    const json operation = json::parse(operation_json, nullptr, /*allow_exceptions=*/false);
    std::string operation_key;
    json result;
    if (!operation.is_object()) {
      result = permanent("operation is not a JSON object");
    } else if (const auto v = operation.find("v");
               v != operation.end() && (!v->is_number_integer() || v->get<std::int64_t>() != 1)) {
      result = permanent("unsupported operation version " + v->dump() + " (this plugin reads v 1)");
    } else if (const auto key = operation.find("operation_key");
               key != operation.end() && !key->is_null() && !key->is_string()) {
      result = permanent("operation_key must be a string, got " + key->dump());
    } else {
      if (key != operation.end() && key->is_string()) {
        operation_key = key->get<std::string>();
      }
      if (const auto done = done_operations_.find(operation_key);
          !operation_key.empty() && done != done_operations_.end()) {
        result = done->second;
      } else {
        result = perform(operation);
        if (!operation_key.empty() && result.value("status", "") == "ok") {
          remember_operation(operation_key, result);
        }
      }
    }
    host_.complete_operation(operation_id, result.dump());
  }

 private:
  LocalChat(haveri::sdk::Host host, std::string instance_name, Settings settings)
      : host_(host), instance_name_(std::move(instance_name)), settings_(std::move(settings)) {}

  json perform(const json& operation) {
    const std::string type = string_member(operation, "type");
    if (type == "create_channel") {
      return create_channel(operation);
    }
    if (type == "post_message") {
      return post_bot_message(operation);
    }
    return permanent("unsupported operation type \"" + type +
                     "\" (local chat supports create_channel, post_message)");
  }

  void remember_operation(const std::string& operation_key, const json& result) {
    done_operations_.emplace(operation_key, result);
    done_order_.push_back(operation_key);
    if (done_order_.size() > kRememberedOperations) {
      done_operations_.erase(done_order_.front());
      done_order_.pop_front();
    }
  }

  static json permanent(std::string_view error) {
    return json{{"v", 1}, {"status", "permanent"}, {"error", error}};
  }

  void respond(std::uint64_t request_id, std::uint16_t status, std::string_view error) {
    respond_json(request_id, status, error_body(error));
  }

  void respond_json(std::uint64_t request_id, std::uint16_t status, const std::string& body) {
    host_.respond(request_id, status, "application/json", body);
  }

  // Finds or creates a channel; nullptr when max_channels is reached.
  Channel* open_channel(const std::string& name) {
    if (auto it = channels_.find(name); it != channels_.end()) {
      return &it->second;
    }
    if (channels_.size() >= settings_.max_channels) {
      return nullptr;
    }
    return &channels_[name];
  }

  std::string too_many_channels() const {
    return "too many channels: this instance holds at most " +
           std::to_string(settings_.max_channels) + " (settings.max_channels)";
  }

  const ChatMessage& append(Channel& channel, const std::string& channel_name, std::string from,
                            bool bot, std::string text) {
    channel.log.push_back(
        ChatMessage{++last_seq_, channel_name, std::move(from), bot, std::move(text), now_ms()});
    while (channel.log.size() > settings_.history_limit) {
      channel.log.pop_front();
    }
    return channel.log.back();
  }

  // POST /messages — a person said something. This is the inbound half of the ABI.
  void post_human_message(std::uint64_t request_id, std::string_view body) {
    const json message = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object()) {
      respond(request_id, 400, "body must be a JSON object {\"channel\",\"user\",\"text\"}");
      return;
    }
    const auto channel_it = message.find("channel");
    const auto user_it = message.find("user");
    const auto text_it = message.find("text");
    const auto client_id_it = message.find("client_message_id");
    if (channel_it == message.end() || !channel_it->is_string() ||
        !valid_channel_name(channel_it->get_ref<const std::string&>())) {
      respond(request_id, 400,
              "channel must be 1-80 characters of a-z, 0-9, _ and -, "
              "starting with a letter or digit");
      return;
    }
    if (user_it == message.end() || !user_it->is_string() ||
        !valid_user_name(user_it->get_ref<const std::string&>())) {
      respond(request_id, 400, "user must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
      return;
    }
    if (text_it == message.end() || !text_it->is_string() ||
        text_it->get_ref<const std::string&>().empty() ||
        text_it->get_ref<const std::string&>().size() > kMaxTextBytes) {
      respond(request_id, 400, "text must be a string of 1 to 4000 bytes");
      return;
    }
    std::string client_id;
    if (client_id_it != message.end() && !client_id_it->is_null()) {
      if (!client_id_it->is_string() ||
          !valid_client_message_id(client_id_it->get_ref<const std::string&>())) {
        respond(request_id, 400,
                "client_message_id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' "
                "and '-'");
        return;
      }
      client_id = client_id_it->get<std::string>();
    }
    const std::string& channel_name = channel_it->get_ref<const std::string&>();
    const std::string& user = user_it->get_ref<const std::string&>();
    const std::string& text = text_it->get_ref<const std::string&>();

    // A client that lost our response retries with the same client_message_id: show
    // the line once, but submit the event again — the host deduplicates it by its
    // idempotency key, and the first attempt may never have been committed. Client
    // ids are only unique per user (another user may well pick "m-1" too), so both
    // the map and the key are scoped by user; a user name holds no ':', so
    // "<user>:<client id>" is unambiguous.
    const std::string scoped_client_id = client_id.empty() ? std::string{} : user + ":" + client_id;
    std::uint64_t seq = 0;
    if (auto seen = seen_client_ids_.find(scoped_client_id);
        !scoped_client_id.empty() && seen != seen_client_ids_.end()) {
      seq = seen->second;
    } else {
      Channel* channel = open_channel(channel_name);
      if (channel == nullptr) {
        respond(request_id, 429, too_many_channels());
        return;
      }
      seq = append(*channel, channel_name, user, /*bot=*/false, text).seq;
      remember_client_id(scoped_client_id, seq);
    }

    // The host remembers idempotency keys durably, across restarts, while seqs start
    // again from 1 in every instance: a seq alone would make the first lines after a
    // restart look like repeats. The epoch is new with every instance.
    const auto command = incident_command(text);
    const json event = {
        {"v", 1},
        {"type", command ? "command" : "message"},
        {"idempotency_key", "local:" + instance_name_ + ":" +
                                (scoped_client_id.empty() ? epoch_ + ":seq-" + std::to_string(seq)
                                                          : scoped_client_id)},
        {"channel", {{"id", channel_name}, {"name", channel_name}}},
        {"user", {{"id", user}, {"name", user}}},
        {"text", command ? std::string(*command) : text},
        {"message_id", std::to_string(seq)},
    };
    // Submit first, then respond: the host sends our 200 only once the event is
    // durable, and a 503 instead if committing it failed.
    if (const haveri_status status = host_.submit_inbound(request_id, event.dump());
        status != HAVERI_OK) {
      host_.log(HAVERI_LOG_WARN, "submit_inbound refused message " + std::to_string(seq) +
                                     " (status " + std::to_string(status) + ")");
      respond(request_id, 500, "the daemon refused the event");
      return;
    }
    respond_json(request_id, 200, json{{"ok", true}, {"seq", seq}}.dump());
  }

  // `scoped_client_id` is "<user>:<client_message_id>"; empty for none.
  void remember_client_id(const std::string& scoped_client_id, std::uint64_t seq) {
    if (scoped_client_id.empty()) {
      return;
    }
    seen_client_ids_.emplace(scoped_client_id, seq);
    seen_order_.push_back(scoped_client_id);
    if (seen_order_.size() > kRememberedClientIds) {
      seen_client_ids_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
  }

  // GET /messages?channel=c&after=N&limit=n — oldest first, so a reader pages forward
  // with after=<last seq it got>. Without `channel`, every channel is read.
  void list_messages(std::uint64_t request_id, const std::map<std::string, std::string>& params) {
    std::uint64_t after = 0;
    std::size_t limit = kDefaultPageSize;
    if (auto it = params.find("after"); it != params.end()) {
      const auto value = parse_uint(it->second);
      if (!value) {
        respond(request_id, 400, "after must be a message seq (a non-negative integer)");
        return;
      }
      after = *value;
    }
    if (auto it = params.find("limit"); it != params.end()) {
      const auto value = parse_uint(it->second);
      if (!value || *value == 0) {
        respond(request_id, 400, "limit must be a positive integer (at most 500 are returned)");
        return;
      }
      limit = static_cast<std::size_t>(std::min<std::uint64_t>(*value, kMaxPageSize));
    }

    std::vector<const ChatMessage*> found;
    const auto collect = [&](const Channel& channel) {
      // The log is ordered by seq: skip straight to the first message after `after`.
      auto first =
          std::upper_bound(channel.log.begin(), channel.log.end(), after,
                           [](std::uint64_t seq, const ChatMessage& m) { return seq < m.seq; });
      for (auto it = first; it != channel.log.end(); ++it) {
        found.push_back(&*it);
      }
    };
    if (auto it = params.find("channel"); it != params.end()) {
      if (!valid_channel_name(it->second)) {
        respond(request_id, 400, "channel must be 1-80 characters of a-z, 0-9, _ and -");
        return;
      }
      if (auto channel = channels_.find(it->second); channel != channels_.end()) {
        collect(channel->second);
      }
    } else {
      for (const auto& [name, channel] : channels_) {
        collect(channel);
      }
      std::sort(found.begin(), found.end(),
                [](const ChatMessage* a, const ChatMessage* b) { return a->seq < b->seq; });
    }

    json messages = json::array();
    for (std::size_t i = 0; i < found.size() && i < limit; ++i) {
      messages.push_back(to_json(*found[i]));
    }
    respond_json(
        request_id, 200,
        json{{"messages", std::move(messages)}, {"last_seq", last_seq_}, {"epoch", epoch_}}.dump());
  }

  // GET /channels
  void list_channels(std::uint64_t request_id) {
    json channels = json::array();
    for (const auto& [name, channel] : channels_) {
      channels.push_back(
          json{{"name", name}, {"topic", channel.topic}, {"messages", channel.log.size()}});
    }
    respond_json(request_id, 200, json{{"channels", std::move(channels)}}.dump());
  }

  // {"v":1,"type":"create_channel","name":"inc-1-db-down","topic":"…"}. Idempotent, as
  // every operation should be: the outbox may deliver it again after a crash.
  json create_channel(const json& operation) {
    const std::string name = string_member(operation, "name");
    if (!valid_channel_name(name)) {
      return permanent("invalid channel name \"" + name +
                       "\": use 1-80 characters of a-z, 0-9, _ and -");
    }
    Channel* channel = open_channel(name);
    if (channel == nullptr) {
      return permanent(too_many_channels());
    }
    if (const std::string topic = string_member(operation, "topic"); !topic.empty()) {
      channel->topic = topic;
    }
    return json{{"v", 1}, {"status", "ok"}, {"channel", {{"id", name}, {"name", name}}}};
  }

  // {"v":1,"type":"post_message","channel":{"id":"…"},"message":{neutral message}}
  json post_bot_message(const json& operation) {
    const auto channel_ref = operation.find("channel");
    const std::string name = channel_ref != operation.end() && channel_ref->is_object()
                                 ? string_member(*channel_ref, "id")
                                 : std::string{};
    if (!valid_channel_name(name)) {
      return permanent("post_message needs channel.id, a valid channel name; got \"" + name + "\"");
    }
    const auto message = operation.find("message");
    if (message == operation.end() || !message->is_object()) {
      return permanent("post_message needs a message object");
    }
    std::string text = render_plain_text(*message);
    if (text.empty()) {
      return permanent("the message has nothing to show (no title, text, fields or actions)");
    }
    Channel* channel = open_channel(name);
    if (channel == nullptr) {
      return permanent(too_many_channels());
    }
    const ChatMessage& posted =
        append(*channel, name, settings_.bot_name, /*bot=*/true, std::move(text));
    return json{{"v", 1}, {"status", "ok"}, {"message_id", std::to_string(posted.seq)}};
  }

  haveri::sdk::Host host_;
  std::string instance_name_;
  Settings settings_;
  std::map<std::string, Channel> channels_;  // by name; sorted for GET /channels
  std::uint64_t last_seq_ = 0;               // seq of the newest message in any channel
  // Seqs restart from 1 with every instance (a haverid restart); a reader that sees
  // another epoch knows its cursor is meaningless and reads from the start.
  std::string epoch_ = random_epoch();
  // "<user>:<client_message_id>" -> seq
  std::unordered_map<std::string, std::uint64_t> seen_client_ids_;
  std::deque<std::string> seen_order_;  // the same ids, oldest first, to bound the map
  std::unordered_map<std::string, json> done_operations_;  // operation_key -> its result
  std::deque<std::string> done_order_;  // the same keys, oldest first, to bound the map
};

}  // namespace

HAVERI_DEFINE_PLUGIN(LocalChat, "local", "0.1.0")
