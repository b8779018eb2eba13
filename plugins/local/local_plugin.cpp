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
//   5. Right after instance_create the host asks describe_instance (ABI 1.1) how fast
//      it may send operations; LocalChat::describe() answers from the settings.
//
//   6. instance_destroy frees the instance (the helper deletes the LocalChat).
//
// Threading: the host never calls one instance concurrently (plugin.h, "Threading"),
// and this plugin starts no threads of its own, so LocalChat needs no locks.
// Different instances share nothing.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
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
// Attachments are references (a name, a size, a URL), never bytes.
constexpr std::size_t kMaxFiles = 10;
constexpr std::size_t kMaxFileNameBytes = 255;
constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxMimeTypeBytes = 255;
// Forms: what one form may hold, and the longest answer to one input.
constexpr std::size_t kMaxFormIdChars = 128;
constexpr std::size_t kMaxFormInputs = 50;
constexpr std::size_t kMaxInputNameChars = 64;
constexpr std::size_t kMaxSelectOptions = 100;
// One answer may be this long whatever the form says (max_length is in code points).
constexpr std::size_t kMaxAnswerBytes = std::size_t{64} * 1024;
// What a card shows of an input's default or placeholder.
constexpr std::size_t kHintChars = 40;
// People one invite or create_channel may add.
constexpr std::size_t kMaxInvitees = 1000;

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

// A form's or an input's id: the client id alphabet, 1..`max` characters.
bool valid_token(std::string_view id, std::size_t max) {
  return !id.empty() && id.size() <= max && std::all_of(id.begin(), id.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == ':';
  });
}

bool has_control_character(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20U || static_cast<unsigned char>(c) == 0x7FU;
  });
}

// Unicode code points in UTF-8 text (what max_length counts).
std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
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
// Forms (docs/plugin-abi.md, "Neutral messages"): what a form may hold, and which
// answers to its inputs are acceptable. The local platform checks answers as a real
// platform's form UI would; the daemon checks them again (it trusts no platform).

bool is_decimal_number(std::string_view s) {
  if (s.starts_with('-')) {
    s.remove_prefix(1);
  }
  const auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 30 &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::size_t dot = s.find('.');
  return dot == std::string_view::npos ? digits(s)
                                       : digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

std::string string_member(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool bool_member(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// A select's options; empty for anything else.
const json& options_of(const json& input) {
  static const json none = json::array();
  const auto it = input.find("options");
  return it != input.end() && it->is_array() ? *it : none;
}

// An input's kind; an unknown kind (from a newer daemon) is read as "text".
std::string input_kind(const json& input) {
  std::string kind = string_member(input, "kind");
  for (const std::string_view known : {"text", "multiline", "number", "select", "date", "user"}) {
    if (kind == known) {
      return kind;
    }
  }
  return "text";
}

// The input's max_length in code points; 0 for none.
std::size_t input_max_length(const json& input) {
  const auto it = input.find("max_length");
  return it != input.end() && it->is_number_unsigned() ? it->get<std::size_t>() : 0;
}

std::string input_label(const json& input) {
  const std::string label = string_member(input, "label");
  return label.empty() ? string_member(input, "name") : label;
}

// Checks a form an operation asks us to show; "" when it is fine, else what is wrong.
std::string form_problem(const json& form) {
  if (!form.is_object()) {
    return "message.form must be an object";
  }
  if (!valid_token(string_member(form, "id"), kMaxFormIdChars)) {
    return "message.form.id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'";
  }
  for (const char* key : {"title", "submit_label"}) {
    if (const auto it = form.find(key); it != form.end() && !it->is_string()) {
      return std::string("message.form.") + key + " must be a string";
    }
  }
  const auto inputs = form.find("inputs");
  if (inputs == form.end()) {
    return {};
  }
  if (!inputs->is_array() || inputs->size() > kMaxFormInputs) {
    return "message.form.inputs must be an array of at most 50 inputs";
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    const json& input = (*inputs)[i];
    const std::string where = "message.form.inputs[" + std::to_string(i) + "]";
    if (!input.is_object()) {
      return where + " must be an object";
    }
    const std::string name = string_member(input, "name");
    if (!valid_token(name, kMaxInputNameChars)) {
      return where + ".name must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'";
    }
    if (!names.insert(name).second) {
      return where + ".name \"" + name + "\" is used twice";
    }
    for (const char* key : {"label", "kind", "placeholder", "initial"}) {
      if (const auto it = input.find(key); it != input.end() && !it->is_string()) {
        return where + "." + key + " must be a string";
      }
    }
    if (const auto it = input.find("required"); it != input.end() && !it->is_boolean()) {
      return where + ".required must be true or false";
    }
    if (const auto it = input.find("max_length"); it != input.end() && !it->is_number_unsigned()) {
      return where + ".max_length must be a number of characters (an integer >= 0; 0: none)";
    }
    const auto options = input.find("options");
    if (input_kind(input) == "select" &&
        (options == input.end() || !options->is_array() || options->empty())) {
      return where + " is a select: it needs options [{\"value\",\"label\"}]";
    }
    if (options != input.end()) {
      if (!options->is_array() || options->size() > kMaxSelectOptions) {
        return where + ".options must be an array of at most 100 options";
      }
      for (const json& option : *options) {
        if (!option.is_object() || string_member(option, "value").empty() ||
            (option.contains("label") && !option["label"].is_string())) {
          return where + ".options: each needs a non-empty string \"value\" and may have a " +
                 "string \"label\"";
        }
      }
    }
  }
  return {};
}

// Checks one answer to one input of a form we showed; "" when acceptable. Never
// stricter than the daemon, which checks every answer again: `date` and `user`
// inputs take any line ("+3d", "@bob"), as the daemon reads more than one form.
std::string answer_problem(const json& input, std::string_view value) {
  const std::string label = input_label(input);
  const std::string kind = input_kind(input);
  if (value.empty()) {
    return bool_member(input, "required") ? label + " is required" : std::string{};
  }
  const bool multiline = kind == "multiline";
  if (std::any_of(value.begin(), value.end(), [multiline](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return (byte < 0x20U && !(multiline && (c == '\n' || c == '\t'))) || byte == 0x7FU;
      })) {
    return label + (multiline ? " holds control characters" : " must be one line of text");
  }
  if (const std::size_t max = input_max_length(input); max > 0 && code_points(value) > max) {
    return label + " must be at most " + std::to_string(max) + " characters";
  }
  if (kind == "number" && !is_decimal_number(value)) {
    return label + " must be a number such as 42 or -1.5";
  }
  if (kind == "select") {
    std::string allowed;
    for (const json& option : options_of(input)) {
      const std::string option_value = string_member(option, "value");
      if (option_value == value) {
        return {};
      }
      allowed += (allowed.empty() ? "" : ", ") + option_value;
    }
    return label + " must be one of " + allowed;
  }
  return {};
}

// ---------------------------------------------------------------------------------
// Plain-text rendering of a neutral message (core/include/haveri/core/messages.hpp):
// {"title","text","fields":[{"label","value"}],"actions":[{"label","command","style"}],
//  "form":{…},"context"}, every member optional. A Slack plugin would build Block Kit
// here. Layout, top to bottom: title, text, fields as aligned "Label: value" lines,
// numbered buttons, the form's title and inputs, context.

constexpr std::string_view kBar = "\xE2\x94\x83 ";  // "┃ ": marks a bot card in a terminal

std::string one_line(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return s;
}

std::string pad_to(std::string s, std::size_t columns) {
  const std::size_t have = code_points(s);
  if (have < columns) {
    s.append(columns - have, ' ');
  }
  return s;
}

// Buttons a person can press: actions with a command, numbered from 1 in order —
// the numbers `haverictl chat`'s /press uses.
std::vector<std::pair<std::string, std::string>> pressable_actions(const json& message) {
  std::vector<std::pair<std::string, std::string>> buttons;  // label, command
  const auto actions = message.find("actions");
  if (actions == message.end() || !actions->is_array()) {
    return buttons;
  }
  for (const json& action : *actions) {
    std::string command = string_member(action, "command");
    if (command.empty()) {
      continue;
    }
    std::string label = string_member(action, "label");
    buttons.emplace_back(label.empty() ? command : std::move(label), std::move(command));
  }
  return buttons;
}

// At most `max` code points of one line of `s`, marked "…" when cut.
std::string shorten(const std::string& s, std::size_t max) {
  std::string line = one_line(s);
  if (code_points(line) <= max) {
    return line;
  }
  std::size_t seen = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0U) != 0x80U && seen++ == max) {
      return line.substr(0, i) + "\xE2\x80\xA6";
    }
  }
  return line;
}

// What an input accepts, in a few words: "multiline, at most 10240 characters".
std::string input_hint(const json& input) {
  const std::string kind = input_kind(input);
  std::string hint = kind == "user" ? "user" : kind;
  if (kind == "select") {
    hint = "one of:";
    std::string separator = " ";
    for (const json& option : options_of(input)) {
      const std::string value = string_member(option, "value");
      const std::string label = string_member(option, "label");
      hint += separator + value + (label.empty() || label == value ? "" : " (" + label + ")");
      separator = ", ";
    }
  }
  if (const std::size_t max = input_max_length(input); max > 0) {
    hint += ", at most " + std::to_string(max) + " characters";
  }
  if (const std::string initial = string_member(input, "initial"); !initial.empty()) {
    hint += ", default: " + shorten(initial, kHintChars);
  } else if (const std::string placeholder = string_member(input, "placeholder");
             !placeholder.empty()) {
    hint += ", e.g. " + shorten(placeholder, kHintChars);
  }
  return hint;
}

std::string render_plain_text(const json& message) {
  std::vector<std::string> lines;
  const auto add_line = [&lines](std::string line) { lines.push_back(std::move(line)); };

  if (const std::string title = string_member(message, "title"); !title.empty()) {
    add_line(one_line(title));
  }

  // Text keeps its own line breaks; *bold*, _italic_ and `code` stay as typed, which
  // reads well in a terminal.
  if (const std::string text = string_member(message, "text"); !text.empty()) {
    std::string_view rest = text;
    while (true) {
      const std::size_t nl = rest.find('\n');
      add_line(std::string(rest.substr(0, nl)));
      if (nl == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(nl + 1);
    }
  }

  // One field a line, values aligned after the longest label.
  if (const auto fields = message.find("fields"); fields != message.end() && fields->is_array()) {
    std::size_t width = 0;
    for (const json& field : *fields) {
      width = std::max(width, code_points(string_member(field, "label")));
    }
    for (const json& field : *fields) {
      const std::string label = one_line(string_member(field, "label"));
      const std::string value = one_line(string_member(field, "value"));
      if (label.empty() && value.empty()) {
        continue;
      }
      add_line(label.empty() ? value : pad_to(label + ":", width + 1) + " " + value);
    }
  }

  // Numbered buttons; plain text has no colours, so "style" only lives in the JSON.
  std::string buttons;
  const auto pressable = pressable_actions(message);
  for (std::size_t i = 0; i < pressable.size(); ++i) {
    buttons += (buttons.empty() ? "[" : " [") + std::to_string(i + 1) + " " +
               one_line(pressable[i].first) + "]";
  }
  if (!buttons.empty()) {
    add_line(buttons);
  }

  if (const auto form = message.find("form"); form != message.end() && form->is_object()) {
    const std::string title = string_member(*form, "title");
    add_line("Form: " + one_line(title.empty() ? string_member(*form, "id") : title) +
             " (type /form to fill it in)");
    const auto inputs = form->find("inputs");
    bool any_required = false;
    if (inputs != form->end() && inputs->is_array()) {
      std::size_t width = 0;
      for (const json& input : *inputs) {
        width = std::max(width, code_points(input_label(input)) + 2);
      }
      for (const json& input : *inputs) {
        const bool required = bool_member(input, "required");
        any_required = any_required || required;
        add_line("  " + pad_to(one_line(input_label(input)) + (required ? " *" : ""), width) +
                 "  " + input_hint(input));
      }
    }
    const std::string submit = string_member(*form, "submit_label");
    std::string footer = any_required ? "  * required" : "";
    if (!submit.empty()) {
      footer += (footer.empty() ? "  submit: " : " \xC2\xB7 submit: ") + one_line(submit);
    }
    if (!footer.empty()) {
      add_line(footer);
    }
  }

  if (const std::string context = string_member(message, "context"); !context.empty()) {
    add_line(one_line(context));
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
  std::string installation;  // defaults to the instance name
  // Declared to the host through describe_instance; local chat is fast.
  std::uint64_t channel_interval_ms = 0;
  json per_second = 1000;
  std::uint64_t burst = 1000;
};

constexpr std::string_view kKnownSettings =
    "bot_name, history_limit, max_channels, installation, channel_interval_ms, per_second, burst";

// Reads the instance's `settings`. Strict: an unknown key is a typo the operator
// wants to hear about at start, not a silently ignored setting.
Settings parse_settings(std::string_view instance_name, std::string_view config_json) {
  const std::string where = "local plugin instance \"" + std::string(instance_name) + "\": ";
  Settings settings;
  settings.installation = std::string(instance_name);
  if (trim(config_json).empty()) {
    return settings;
  }
  const json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_null()) {
    return settings;  // `settings:` left empty
  }
  if (!config.is_object()) {
    throw std::invalid_argument(where + "settings must be a mapping (" +
                                std::string(kKnownSettings) + ")");
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
    } else if (key == "installation") {
      if (!value.is_string() ||
          !valid_token(value.get_ref<const std::string&>(), kMaxClientMessageIdChars)) {
        throw std::invalid_argument(where + "settings.installation must be 1-128 characters of " +
                                    "A-Z, a-z, 0-9, '.', '_', ':' and '-' (the id the " +
                                    "directory's installations name), got " + value.dump());
      }
      settings.installation = value.get<std::string>();
    } else if (key == "channel_interval_ms") {
      settings.channel_interval_ms = integer(key, value, 0, 600000);
    } else if (key == "per_second") {
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() <= 0 ||
          value.get<double>() > 10000) {
        throw std::invalid_argument(where + "settings.per_second must be a number above 0 and " +
                                    "at most 10000, got " + value.dump());
      }
      settings.per_second = value;
    } else if (key == "burst") {
      settings.burst = integer(key, value, 1, 10000);
    } else {
      throw std::invalid_argument(where + "unknown setting \"" + key +
                                  "\" (known: " + std::string(kKnownSettings) + ")");
    }
  }
  return settings;
}

// One entry in a channel's log, as GET /messages returns it.
struct ChatMessage {
  std::uint64_t seq = 0;  // position in the log; a new one with every edit or deletion
  std::string id;         // stable: "message_id" in events and operations
  std::string channel;
  std::string from;
  bool bot = false;     // posted by post_message
  bool system = false;  // said by the platform itself ("alice was added to #x")
  std::string text;     // as typed; for the bot, the rendered card
  json message;         // the bot's neutral message; null otherwise
  json files;           // attachment references; null for none
  std::string thread_id;
  std::string visible_to;  // empty: everyone
  bool edited = false;
  bool deleted = false;
  std::int64_t at_ms = 0;
  std::int64_t edited_at_ms = 0;

  bool visible_for(std::string_view reader) const {
    return visible_to.empty() || visible_to == reader;
  }
};

json to_json(const ChatMessage& m) {
  json out = {{"seq", m.seq}, {"id", m.id},     {"channel", m.channel}, {"from", m.from},
              {"bot", m.bot}, {"text", m.text}, {"at_ms", m.at_ms}};
  if (m.system) {
    out["system"] = true;
  }
  if (!m.message.is_null()) {
    out["message"] = m.message;
  }
  if (!m.files.is_null()) {
    out["files"] = m.files;
  }
  if (!m.thread_id.empty()) {
    out["thread_id"] = m.thread_id;
  }
  if (!m.visible_to.empty()) {
    out["visible_to"] = m.visible_to;
  }
  if (m.edited) {
    out["edited"] = true;
    out["edited_at_ms"] = m.edited_at_ms;
  }
  if (m.deleted) {
    out["deleted"] = true;
  }
  return out;
}

struct Channel {
  std::string topic;
  std::deque<ChatMessage> log;    // ordered by seq; at most history_limit entries
  std::set<std::string> members;  // invited people
  // The operation_key of the create_channel that made it; empty when a post made it
  // (or a create_channel without a key): then no create_channel may claim it.
  std::string created_by_operation;
};

// "alice", "alice and bob", "alice, bob and carol"
std::string people_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return out;
}

// What a POST /messages retried with the same client_message_id refers to.
struct SeenPost {
  std::uint64_t seq = 0;   // what the first attempt answered
  std::string message_id;  // the message it posted, changed or deleted; the form's message
};

// Thrown inside POST handling: answered as {"error": what} with `status`.
class BadPost : public std::runtime_error {
 public:
  BadPost(std::uint16_t status, const std::string& error)
      : std::runtime_error(error), status_(status) {}
  std::uint16_t status() const noexcept { return status_; }

 private:
  std::uint16_t status_;
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

  // Called through describe_instance (ABI 1.1), once, right after create.
  std::string describe() const {
    return json{{"v", 1},
                {"limits",
                 {{"channel_interval_ms", settings_.channel_interval_ms},
                  {"per_second", settings_.per_second},
                  {"burst", settings_.burst}}}}
        .dump();
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
      result = permanent("invalid", "operation is not a JSON object");
    } else if (const auto v = operation.find("v");
               v != operation.end() && (!v->is_number_integer() || v->get<std::int64_t>() != 1)) {
      result = permanent("invalid",
                         "unsupported operation version " + v->dump() + " (this plugin reads v 1)");
    } else if (const auto key = operation.find("operation_key");
               key != operation.end() && !key->is_null() && !key->is_string()) {
      result = permanent("invalid", "operation_key must be a string, got " + key->dump());
    } else {
      if (key != operation.end() && key->is_string()) {
        operation_key = key->get<std::string>();
      }
      if (const auto done = done_operations_.find(operation_key);
          !operation_key.empty() && done != done_operations_.end()) {
        result = done->second;
      } else {
        result = perform(operation, operation_key);
        if (!operation_key.empty() && string_member(result, "status") == "ok") {
          remember_operation(operation_key, result);
        }
      }
    }
    host_.complete_operation(operation_id, result.dump());
  }

 private:
  LocalChat(haveri::sdk::Host host, std::string instance_name, Settings settings)
      : host_(host), instance_name_(std::move(instance_name)), settings_(std::move(settings)) {}

  json perform(const json& operation, const std::string& operation_key) {
    const std::string type = string_member(operation, "type");
    if (type == "create_channel") {
      return create_channel(operation, operation_key);
    }
    if (type == "post_message") {
      return post_bot_message(operation);
    }
    if (type == "invite") {
      return invite(operation);
    }
    if (type == "update_message") {
      return update_bot_message(operation);
    }
    if (type == "notify_person") {
      return notify_person(operation);
    }
    return permanent("unsupported_operation",
                     "unsupported operation type \"" + type +
                         "\" (local chat supports create_channel, post_message, invite, "
                         "update_message, notify_person)");
  }

  void remember_operation(const std::string& operation_key, const json& result) {
    done_operations_.emplace(operation_key, result);
    done_order_.push_back(operation_key);
    if (done_order_.size() > kRememberedOperations) {
      done_operations_.erase(done_order_.front());
      done_order_.pop_front();
    }
  }

  static json permanent(std::string_view error_code, std::string_view error) {
    return json{{"v", 1}, {"status", "permanent"}, {"error_code", error_code}, {"error", error}};
  }

  static json ok() { return json{{"v", 1}, {"status", "ok"}}; }

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

  Channel* existing_channel(const std::string& name) {
    const auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
  }

  std::string too_many_channels() const {
    return "too many channels: this instance holds at most " +
           std::to_string(settings_.max_channels) + " (settings.max_channels)";
  }

  // Appends `message` with the next seq (and, when it has none, that seq as its id).
  ChatMessage& append(Channel& channel, ChatMessage message) {
    message.seq = ++last_seq_;
    if (message.id.empty()) {
      message.id = std::to_string(message.seq);
    }
    message.at_ms = message.at_ms == 0 ? now_ms() : message.at_ms;
    channel.log.push_back(std::move(message));
    while (channel.log.size() > settings_.history_limit) {
      channel.log.pop_front();
    }
    return channel.log.back();
  }

  ChatMessage& append_system_line(Channel& channel, const std::string& channel_name,
                                  std::string text) {
    ChatMessage line;
    line.channel = channel_name;
    line.from = settings_.bot_name;
    line.system = true;
    line.text = std::move(text);
    return append(channel, std::move(line));
  }

  static std::deque<ChatMessage>::iterator find_message(Channel& channel, std::string_view id) {
    return std::find_if(channel.log.begin(), channel.log.end(),
                        [id](const ChatMessage& m) { return m.id == id; });
  }

  // An edited or deleted message takes a new seq and moves to the end of the log,
  // which stays ordered by seq: a reader polling with after=<its cursor> sees the
  // new version, and its stable id says which message it replaces.
  ChatMessage& renew(Channel& channel, const std::deque<ChatMessage>::iterator& it) {
    ChatMessage message = std::move(*it);
    channel.log.erase(it);
    message.seq = ++last_seq_;
    channel.log.push_back(std::move(message));
    return channel.log.back();
  }

  // ---- POST /messages: a person acts. This is the inbound half of the ABI. ----

  // The fields every POST carries, checked.
  struct Poster {
    std::string channel;
    std::string user;
    std::string scoped_client_id;  // "<user>:<client_message_id>"; empty for none
  };

  static bool has(const json& body, const char* key) {
    const auto it = body.find(key);
    return it != body.end() && !it->is_null();
  }

  void post_human_message(std::uint64_t request_id, std::string_view body_text) {
    try {
      const json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object()) {
        throw BadPost(400,
                      "body must be a JSON object: {\"channel\",\"user\",\"text\"}, or with "
                      "\"edit_of\", \"delete\" or \"form_id\" (docs/plugin-abi.md, local chat)");
      }
      const Poster poster = read_poster(body);
      const int kinds = (has(body, "edit_of") ? 1 : 0) + (has(body, "delete") ? 1 : 0) +
                        (has(body, "form_id") ? 1 : 0);
      if (kinds > 1) {
        throw BadPost(400, "use at most one of edit_of, delete and form_id in one request");
      }
      json event;
      SeenPost done;
      if (has(body, "edit_of")) {
        std::tie(event, done) = edit_line(body, poster);
      } else if (has(body, "delete")) {
        std::tie(event, done) = delete_line(body, poster);
      } else if (has(body, "form_id")) {
        std::tie(event, done) = submit_form(body, poster);
      } else {
        std::tie(event, done) = post_line(body, poster);
      }
      // Submit first, then respond: the host sends our 200 only once the event is
      // durable, and a 503 instead if committing it failed.
      if (const haveri_status status = host_.submit_inbound(request_id, event.dump());
          status != HAVERI_OK) {
        host_.log(HAVERI_LOG_WARN, "submit_inbound refused a " + string_member(event, "type") +
                                       " event (status " + std::to_string(status) + ")");
        throw BadPost(500, "the daemon refused the event");
      }
      json answer = {{"ok", true}, {"seq", done.seq}};
      if (!done.message_id.empty()) {
        answer["message_id"] = done.message_id;
      }
      respond_json(request_id, 200, answer.dump());
    } catch (const BadPost& e) {
      respond(request_id, e.status(), e.what());
    }
  }

  static Poster read_poster(const json& body) {
    const auto channel_it = body.find("channel");
    const auto user_it = body.find("user");
    const auto client_id_it = body.find("client_message_id");
    if (channel_it == body.end() || !channel_it->is_string() ||
        !valid_channel_name(channel_it->get_ref<const std::string&>())) {
      throw BadPost(400,
                    "channel must be 1-80 characters of a-z, 0-9, _ and -, "
                    "starting with a letter or digit");
    }
    if (user_it == body.end() || !user_it->is_string() ||
        !valid_user_name(user_it->get_ref<const std::string&>())) {
      throw BadPost(400, "user must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
    }
    Poster poster{channel_it->get<std::string>(), user_it->get<std::string>(), {}};
    if (client_id_it != body.end() && !client_id_it->is_null()) {
      if (!client_id_it->is_string() ||
          !valid_client_message_id(client_id_it->get_ref<const std::string&>())) {
        throw BadPost(400,
                      "client_message_id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', "
                      "':' and '-'");
      }
      // Client ids are only unique per user (another user may well pick "m-1" too),
      // so both the map and the key are scoped by user; a user name holds no ':', so
      // "<user>:<client id>" is unambiguous.
      poster.scoped_client_id = poster.user + ":" + client_id_it->get<std::string>();
    }
    return poster;
  }

  // A client that lost our response retries with the same client_message_id: act
  // once, but submit the event again — the host deduplicates it by its idempotency
  // key, and the first attempt may never have been committed.
  const SeenPost* seen(const Poster& poster) const {
    const auto it = seen_client_ids_.find(poster.scoped_client_id);
    return poster.scoped_client_id.empty() || it == seen_client_ids_.end() ? nullptr : &it->second;
  }

  // The host remembers idempotency keys durably, across restarts, while seqs start
  // again from 1 in every instance: a seq alone would make the first lines after a
  // restart look like repeats. The epoch is new with every instance.
  json event_of(std::string_view type, const Poster& poster, std::uint64_t seq) const {
    return json{{"v", 1},
                {"type", type},
                {"idempotency_key",
                 "local:" + instance_name_ + ":" +
                     (poster.scoped_client_id.empty() ? epoch_ + ":seq-" + std::to_string(seq)
                                                      : poster.scoped_client_id)},
                {"installation", settings_.installation},
                {"channel", {{"id", poster.channel}, {"name", poster.channel}}},
                {"user", {{"id", poster.user}, {"name", poster.user}}}};
  }

  // A message id in a request body: the digits GET /messages shows as "id".
  static std::string message_id_member(const json& body, const char* key) {
    const auto it = body.find(key);
    if (!it->is_string() || !parse_uint(it->get_ref<const std::string&>())) {
      throw BadPost(400, std::string(key) + " must be a message id: its digits as a string, as " +
                             "GET /messages shows it in \"id\", e.g. \"12\"");
    }
    return it->get<std::string>();
  }

  // {"name","size","url"?,"id"?,"mimetype"?} × at most 10; ids and URLs of files
  // without them are derived from the message's seq once it is known.
  static json read_files(const json& body) {
    const auto it = body.find("files");
    if (it == body.end() || it->is_null()) {
      return nullptr;
    }
    if (!it->is_array() || it->empty() || it->size() > kMaxFiles) {
      throw BadPost(400,
                    "files must be an array of 1 to 10 attachments {\"name\",\"size\",\"url\"}");
    }
    json files = json::array();
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& file = (*it)[i];
      const std::string where = "files[" + std::to_string(i) + "]";
      if (!file.is_object()) {
        throw BadPost(400, where + " must be an object {\"name\",\"size\",\"url\"}");
      }
      const std::string name = string_member(file, "name");
      if (name.empty() || name.size() > kMaxFileNameBytes || has_control_character(name) ||
          name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
        throw BadPost(400, where + ".name must be a file name of 1 to 255 bytes, without " +
                               "slashes or control characters");
      }
      const auto size = file.find("size");
      if (size == file.end() || !size->is_number_unsigned()) {
        throw BadPost(400, where + ".size must be the file's size in bytes (an integer >= 0)");
      }
      json out = {{"id", nullptr}, {"name", name}, {"size", *size}, {"url", nullptr}};
      if (has(file, "url")) {
        const std::string url = string_member(file, "url");
        if (url.size() > kMaxUrlBytes ||
            !(url.starts_with("https://") || url.starts_with("http://")) ||
            url.find(' ') != std::string::npos || has_control_character(url)) {
          throw BadPost(400, where + ".url must be an http:// or https:// URL of at most 2048 " +
                                 "bytes, without spaces");
        }
        out["url"] = url;
      }
      if (has(file, "id")) {
        const std::string id = string_member(file, "id");
        if (!valid_client_message_id(id)) {
          throw BadPost(400, where + ".id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', " +
                                 "':' and '-'");
        }
        out["id"] = id;
      }
      std::string mimetype = "application/octet-stream";
      if (has(file, "mimetype")) {
        mimetype = string_member(file, "mimetype");
        const std::size_t slash = mimetype.find('/');
        const auto token = [](std::string_view s) {
          return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return is_alnum(c) || std::string_view("!#$&^_.+-").find(c) != std::string_view::npos;
          });
        };
        if (mimetype.size() > kMaxMimeTypeBytes || slash == std::string::npos ||
            !token(std::string_view(mimetype).substr(0, slash)) ||
            !token(std::string_view(mimetype).substr(slash + 1))) {
          throw BadPost(400, where + ".mimetype must be a media type such as text/plain");
        }
      }
      out["mimetype"] = mimetype;
      files.push_back(std::move(out));
    }
    return files;
  }

  // Gives files without an id "F<seq>-<n>" and without a URL a local:// one.
  void complete_files(json& files, std::uint64_t seq) const {
    if (files.is_null()) {
      return;
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      json& file = files[i];
      if (file["id"].is_null()) {
        file["id"] = "F" + std::to_string(seq) + "-" + std::to_string(i + 1);
      }
      if (file["url"].is_null()) {
        file["url"] = "local://" + instance_name_ + "/files/" + file["id"].get<std::string>();
      }
    }
  }

  void remember_client_id(const Poster& poster, const SeenPost& done) {
    if (poster.scoped_client_id.empty()) {
      return;
    }
    seen_client_ids_.emplace(poster.scoped_client_id, done);
    seen_order_.push_back(poster.scoped_client_id);
    if (seen_order_.size() > kRememberedClientIds) {
      seen_client_ids_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
  }

  // {"channel","user","text","files"?,"thread_id"?} -> a message or command event.
  std::pair<json, SeenPost> post_line(const json& body, const Poster& poster) {
    json files = read_files(body);
    const auto text_it = body.find("text");
    std::string text;
    if (text_it != body.end() && !text_it->is_null()) {
      if (!text_it->is_string() || text_it->get_ref<const std::string&>().size() > kMaxTextBytes) {
        throw BadPost(400, "text must be a string of 1 to 4000 bytes");
      }
      text = text_it->get<std::string>();
    }
    if (text.empty() && files.is_null()) {
      throw BadPost(400,
                    "text must be a string of 1 to 4000 bytes (it may be left out only "
                    "when files are attached)");
    }
    std::string thread_id;
    if (has(body, "thread_id")) {
      thread_id = message_id_member(body, "thread_id");
    }
    const auto command = incident_command(text);
    if (command && !files.is_null()) {
      throw BadPost(400,
                    "files cannot be attached to a /incident command; send them as a "
                    "message of their own");
    }

    SeenPost done;
    if (const SeenPost* before = seen(poster); before != nullptr) {
      done = *before;
    } else {
      Channel* channel = open_channel(poster.channel);
      if (channel == nullptr) {
        throw BadPost(429, too_many_channels());
      }
      ChatMessage line;
      line.channel = poster.channel;
      line.from = poster.user;
      line.text = text;
      line.thread_id = thread_id;
      const ChatMessage& posted = append(*channel, std::move(line));
      done = SeenPost{posted.seq, posted.id};
      complete_files(files, done.seq);
      // The log keeps the completed references, ids and URLs included.
      channel->log.back().files = files;
      remember_client_id(poster, done);
    }
    complete_files(files, done.seq);

    json event = event_of(command ? "command" : "message", poster, done.seq);
    event["text"] = command ? std::string(*command) : text;
    event["message_id"] = done.message_id;
    if (!files.is_null()) {
      event["files"] = std::move(files);
    }
    if (!thread_id.empty()) {
      event["thread_id"] = thread_id;
    }
    return {std::move(event), done};
  }

  // Finds a person's own message for an edit or a deletion; throws 404 or 403.
  std::deque<ChatMessage>::iterator own_message(Channel*& channel, const Poster& poster,
                                                const std::string& id, std::string_view verb) {
    channel = existing_channel(poster.channel);
    auto it = channel == nullptr ? std::deque<ChatMessage>::iterator{} : find_message(*channel, id);
    if (channel == nullptr || it == channel->log.end() || it->deleted) {
      throw BadPost(404, "no message " + id + " in #" + poster.channel);
    }
    if (it->bot || it->system || it->from != poster.user) {
      throw BadPost(403, poster.user + " can only " + std::string(verb) +
                             " their own messages; message " + id + " is " + it->from + "'s");
    }
    return it;
  }

  // {"channel","user","edit_of":"<id>","text"} -> message_changed.
  std::pair<json, SeenPost> edit_line(const json& body, const Poster& poster) {
    const std::string id = message_id_member(body, "edit_of");
    if (has(body, "files") || has(body, "thread_id")) {
      throw BadPost(400, "an edit changes the text only (no files or thread_id)");
    }
    const auto text_it = body.find("text");
    if (text_it == body.end() || !text_it->is_string() ||
        text_it->get_ref<const std::string&>().empty() ||
        text_it->get_ref<const std::string&>().size() > kMaxTextBytes) {
      throw BadPost(400, "text must be a string of 1 to 4000 bytes: the message's new text");
    }
    const std::string& text = text_it->get_ref<const std::string&>();
    SeenPost done;
    if (const SeenPost* before = seen(poster); before != nullptr) {
      done = *before;
    } else {
      Channel* channel = nullptr;
      const auto it = own_message(channel, poster, id, "edit");
      it->text = text;
      it->edited = true;
      it->edited_at_ms = now_ms();
      done = SeenPost{renew(*channel, it).seq, id};
      remember_client_id(poster, done);
    }
    json event = event_of("message_changed", poster, done.seq);
    event["message_id"] = id;
    event["text"] = text;
    return {std::move(event), done};
  }

  // {"channel","user","delete":"<id>"} -> message_deleted.
  std::pair<json, SeenPost> delete_line(const json& body, const Poster& poster) {
    const std::string id = message_id_member(body, "delete");
    if (has(body, "text") || has(body, "files") || has(body, "thread_id")) {
      throw BadPost(400, "a deletion carries no text, files or thread_id");
    }
    SeenPost done;
    if (const SeenPost* before = seen(poster); before != nullptr) {
      done = *before;
    } else {
      Channel* channel = nullptr;
      const auto it = own_message(channel, poster, id, "delete");
      it->text.clear();
      it->files = nullptr;
      it->deleted = true;
      done = SeenPost{renew(*channel, it).seq, id};
      remember_client_id(poster, done);
    }
    json event = event_of("message_deleted", poster, done.seq);
    event["message_id"] = id;
    return {std::move(event), done};
  }

  // The newest form `form_id` in the channel that `user` can see; nullptr if none.
  const ChatMessage* find_form(const std::string& channel_name, const std::string& form_id,
                               const std::string& user) {
    const Channel* channel = existing_channel(channel_name);
    if (channel == nullptr) {
      return nullptr;
    }
    for (auto it = channel->log.rbegin(); it != channel->log.rend(); ++it) {
      if (it->bot && !it->deleted && it->visible_for(user) && it->message.is_object() &&
          it->message.contains("form") && string_member(it->message["form"], "id") == form_id) {
        return &*it;
      }
    }
    return nullptr;
  }

  // {"channel","user","form_id","values":{<input name>: "<answer>"}} -> form_submission.
  // A submission shows nothing in the channel, as a platform's dialog would not; it
  // still takes a seq, which makes its idempotency key.
  std::pair<json, SeenPost> submit_form(const json& body, const Poster& poster) {
    const std::string form_id = string_member(body, "form_id");
    if (!valid_token(form_id, kMaxFormIdChars)) {
      throw BadPost(400,
                    "form_id must be the id of a form shown in the channel (1-128 "
                    "characters of A-Z, a-z, 0-9, '.', '_', ':' and '-')");
    }
    if (has(body, "text") || has(body, "files") || has(body, "thread_id")) {
      throw BadPost(400, "a form submission carries values, not text, files or thread_id");
    }
    const auto values = body.find("values");
    if (values == body.end() || !values->is_object() || values->size() > kMaxFormInputs) {
      throw BadPost(400,
                    "values must be an object {<input name>: \"<answer>\"} of at most 50 "
                    "answers");
    }
    for (const auto& [name, value] : values->items()) {
      if (!value.is_string() || value.get_ref<const std::string&>().size() > kMaxAnswerBytes) {
        throw BadPost(400, "values." + name.substr(0, kMaxInputNameChars) +
                               " must be a string of at most 65536 bytes");
      }
    }
    SeenPost done;
    if (const SeenPost* before = seen(poster); before != nullptr) {
      done = *before;
    } else {
      const ChatMessage* shown = find_form(poster.channel, form_id, poster.user);
      if (shown == nullptr) {
        throw BadPost(404,
                      "no form \"" + form_id + "\" for " + poster.user + " in #" + poster.channel);
      }
      const json& form = shown->message["form"];
      const json inputs = form.contains("inputs") ? form["inputs"] : json::array();
      std::string names;
      for (const json& input : inputs) {
        names += (names.empty() ? "" : ", ") + string_member(input, "name");
      }
      for (const auto& answer : values->items()) {
        const std::string& name = answer.key();
        const bool known = std::any_of(inputs.begin(), inputs.end(), [&name](const json& input) {
          return string_member(input, "name") == name;
        });
        if (!known) {
          throw BadPost(400, "the form has no input \"" + name.substr(0, kMaxInputNameChars) +
                                 "\" (its inputs: " + (names.empty() ? "none" : names) + ")");
        }
      }
      for (const json& input : inputs) {
        const std::string answer = string_member(*values, string_member(input, "name").c_str());
        if (const std::string problem = answer_problem(input, answer); !problem.empty()) {
          throw BadPost(400, problem);
        }
      }
      done = SeenPost{++last_seq_, shown->id};
      remember_client_id(poster, done);
    }
    json event = event_of("form_submission", poster, done.seq);
    event["form_id"] = form_id;
    event["values"] = *values;
    event["message_id"] = done.message_id;
    return {std::move(event), SeenPost{done.seq, {}}};
  }

  // GET /messages?channel=c&after=N&limit=n&user=u — oldest first, so a reader pages
  // forward with after=<last seq it got>. Without `channel`, every channel is read.
  // A reader who names themselves with `user` does not get messages posted for
  // someone else (visible_to). Without `user` nothing is held back: local chat
  // authenticates nobody, so visible_to is a courtesy of clients, never a secret, and
  // tests and demos watching a channel see every reply.
  void list_messages(std::uint64_t request_id, const std::map<std::string, std::string>& params) {
    std::uint64_t after = 0;
    std::size_t limit = kDefaultPageSize;
    std::string reader;
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
    if (auto it = params.find("user"); it != params.end()) {
      if (!valid_user_name(it->second)) {
        respond(request_id, 400,
                "user must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-' (who reads)");
        return;
      }
      reader = it->second;
    }

    std::vector<const ChatMessage*> found;
    const auto collect = [&](const Channel& channel) {
      // The log is ordered by seq: skip straight to the first message after `after`.
      auto first =
          std::upper_bound(channel.log.begin(), channel.log.end(), after,
                           [](std::uint64_t seq, const ChatMessage& m) { return seq < m.seq; });
      for (auto it = first; it != channel.log.end(); ++it) {
        if (reader.empty() || it->visible_for(reader)) {
          found.push_back(&*it);
        }
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
      channels.push_back(json{{"name", name},
                              {"topic", channel.topic},
                              {"messages", channel.log.size()},
                              {"members", channel.members}});
    }
    respond_json(request_id, 200, json{{"channels", std::move(channels)}}.dump());
  }

  // ---- Operations: the outbound half of the ABI. ----

  // channel.id of an operation, checked; empty when missing or not a channel name.
  static std::string channel_of(const json& operation) {
    const auto channel_ref = operation.find("channel");
    const std::string name = channel_ref != operation.end() && channel_ref->is_object()
                                 ? string_member(*channel_ref, "id")
                                 : std::string{};
    return valid_channel_name(name) ? name : std::string{};
  }

  // A list of user ids in an operation; nullopt (with `error` set) when malformed.
  static std::optional<std::vector<std::string>> users_of(const json& list, std::string& error) {
    if (!list.is_array() || list.size() > kMaxInvitees) {
      error = "must be an array of at most 1000 user ids";
      return std::nullopt;
    }
    std::vector<std::string> users;
    for (const json& user : list) {
      if (!user.is_string() || !valid_user_name(user.get_ref<const std::string&>())) {
        error = "holds " + user.dump() + ", which is not a user id (1-64 characters of A-Z, " +
                "a-z, 0-9, '.', '_' and '-')";
        return std::nullopt;
      }
      if (std::find(users.begin(), users.end(), user.get<std::string>()) == users.end()) {
        users.push_back(user.get<std::string>());
      }
    }
    return users;
  }

  // Records new members and says so in the channel; returns who was new.
  std::vector<std::string> add_members(Channel& channel, const std::string& channel_name,
                                       const std::vector<std::string>& users) {
    std::vector<std::string> added;
    for (const std::string& user : users) {
      if (channel.members.insert(user).second) {
        added.push_back(user);
      }
    }
    if (!added.empty()) {
      append_system_line(channel, channel_name,
                         people_list(added) + (added.size() == 1 ? " was" : " were") +
                             " added to #" + channel_name);
    }
    return added;
  }

  // {"v":1,"type":"create_channel","name":"inc-1-db-down","topic":"…","members":[…]}.
  // A name that exists answers name_taken — unless this very operation (same
  // operation_key) created it, so a retry gets the same channel back.
  json create_channel(const json& operation, const std::string& operation_key) {
    const std::string name = string_member(operation, "name");
    if (!valid_channel_name(name)) {
      return permanent("invalid", "invalid channel name \"" + name +
                                      "\": use 1-80 characters of a-z, 0-9, _ and -");
    }
    std::vector<std::string> members;
    if (has(operation, "members")) {
      std::string error;
      auto users = users_of(operation["members"], error);
      if (!users) {
        return permanent("invalid", "create_channel: members " + error);
      }
      members = std::move(*users);
    }
    json created = json{{"v", 1}, {"status", "ok"}, {"channel", {{"id", name}, {"name", name}}}};
    if (const Channel* existing = existing_channel(name); existing != nullptr) {
      if (!operation_key.empty() && existing->created_by_operation == operation_key) {
        return created;
      }
      return permanent("name_taken", "channel #" + name +
                                         " already exists; create the channel under another name");
    }
    Channel* channel = open_channel(name);
    if (channel == nullptr) {
      return permanent("too_many_channels", too_many_channels());
    }
    channel->created_by_operation = operation_key;
    channel->topic = string_member(operation, "topic");
    add_members(*channel, name, members);
    return created;
  }

  // {"v":1,"type":"invite","channel":{"id":"…"},"users":["alice","bob"]}
  json invite(const json& operation) {
    const std::string name = channel_of(operation);
    if (name.empty()) {
      return permanent("invalid", "invite needs channel.id, a valid channel name");
    }
    const auto list = operation.find("users");
    std::string error;
    auto users = list == operation.end() ? std::nullopt : users_of(*list, error);
    if (!users || users->empty()) {
      return permanent(
          "invalid",
          "invite: users " + (error.empty() ? std::string("must name at least one user") : error));
    }
    Channel* channel = existing_channel(name);
    if (channel == nullptr) {
      return permanent("channel_not_found", "no channel #" + name);
    }
    json result = ok();
    result["added"] = add_members(*channel, name, *users);
    return result;
  }

  // Checks and renders an operation's neutral message; sets `error` when unusable.
  static std::string rendered(const json& operation, const char* verb, json& error) {
    const auto message = operation.find("message");
    if (message == operation.end() || !message->is_object()) {
      error = permanent("invalid", std::string(verb) + " needs a message object");
      return {};
    }
    if (message->contains("form")) {
      if (const std::string problem = form_problem((*message)["form"]); !problem.empty()) {
        error = permanent("invalid", std::string(verb) + ": " + problem);
        return {};
      }
    }
    std::string text = render_plain_text(*message);
    if (text.empty()) {
      error = permanent(
          "invalid", "the message has nothing to show (no title, text, fields, actions or form)");
    }
    return text;
  }

  // {"v":1,"type":"post_message","channel":{"id":"…"},"message":{…},"visible_to":"alice"?}
  json post_bot_message(const json& operation) {
    const std::string name = channel_of(operation);
    if (name.empty()) {
      return permanent("invalid", "post_message needs channel.id, a valid channel name; got " +
                                      (operation.contains("channel") ? operation["channel"].dump()
                                                                     : std::string("none")));
    }
    std::string visible_to;
    if (has(operation, "visible_to")) {
      visible_to = string_member(operation, "visible_to");
      if (!valid_user_name(visible_to)) {
        return permanent("invalid", "post_message: visible_to must be a user id, got " +
                                        operation["visible_to"].dump());
      }
    }
    json error;
    std::string text = rendered(operation, "post_message", error);
    if (!error.is_null()) {
      return error;
    }
    Channel* channel = open_channel(name);
    if (channel == nullptr) {
      return permanent("too_many_channels", too_many_channels());
    }
    ChatMessage card;
    card.channel = name;
    card.from = settings_.bot_name;
    card.bot = true;
    card.text = std::move(text);
    card.message = operation["message"];
    card.visible_to = std::move(visible_to);
    const ChatMessage& posted = append(*channel, std::move(card));
    json result = ok();
    result["message_id"] = posted.id;
    return result;
  }

  // {"v":1,"type":"notify_person","user":{"id":"alice"},"message":{…}}: a page. Local
  // chat has no direct messages, so it goes to the channel "dm-<user>" (lower-cased,
  // '.' as '-'), visible to that person only; buttons are pressed there as anywhere.
  json notify_person(const json& operation) {
    const json user = operation.value("user", json::object());
    const std::string id = user.is_object() ? string_member(user, "id") : std::string();
    if (!valid_user_name(id)) {
      return permanent("invalid", "notify_person needs user.id, a user name; got " +
                                      (operation.contains("user") ? operation["user"].dump()
                                                                  : std::string("none")));
    }
    std::string name = "dm-";
    for (const char c : id) {
      name += c == '.' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    name = name.substr(0, kMaxChannelChars);
    json error;
    std::string text = rendered(operation, "notify_person", error);
    if (!error.is_null()) {
      return error;
    }
    Channel* channel = open_channel(name);
    if (channel == nullptr) {
      return permanent("too_many_channels", too_many_channels());
    }
    ChatMessage page;
    page.channel = name;
    page.from = settings_.bot_name;
    page.bot = true;
    page.text = std::move(text);
    page.message = operation["message"];
    page.visible_to = id;
    const ChatMessage& posted = append(*channel, std::move(page));
    json result = ok();
    result["message_id"] = posted.id;
    result["channel"] = json{{"id", name}};
    return result;
  }

  // {"v":1,"type":"update_message","channel":{"id":"…"},"message_id":"7","message":{…}}
  json update_bot_message(const json& operation) {
    const std::string name = channel_of(operation);
    if (name.empty()) {
      return permanent("invalid", "update_message needs channel.id, a valid channel name");
    }
    const std::string id = string_member(operation, "message_id");
    if (id.empty()) {
      return permanent("invalid", "update_message needs message_id, the id post_message returned");
    }
    json error;
    std::string text = rendered(operation, "update_message", error);
    if (!error.is_null()) {
      return error;
    }
    Channel* channel = existing_channel(name);
    auto it = channel == nullptr ? std::deque<ChatMessage>::iterator{} : find_message(*channel, id);
    if (channel == nullptr || it == channel->log.end() || it->deleted) {
      return permanent("message_not_found", "no message " + id + " in #" + name);
    }
    if (!it->bot) {
      return permanent("cant_update_message",
                       "message " + id + " in #" + name + " is " + it->from + "'s, not the bot's");
    }
    it->text = std::move(text);
    it->message = operation["message"];
    it->edited = true;
    it->edited_at_ms = now_ms();
    renew(*channel, it);
    json result = ok();
    result["message_id"] = id;
    return result;
  }

  haveri::sdk::Host host_;
  std::string instance_name_;
  Settings settings_;
  std::map<std::string, Channel> channels_;  // by name; sorted for GET /channels
  std::uint64_t last_seq_ = 0;               // the newest seq given out in any channel
  // Seqs restart from 1 with every instance (a haverid restart); a reader that sees
  // another epoch knows its cursor is meaningless and reads from the start.
  std::string epoch_ = random_epoch();
  // "<user>:<client_message_id>" -> what the first request with it did
  std::unordered_map<std::string, SeenPost> seen_client_ids_;
  std::deque<std::string> seen_order_;  // the same ids, oldest first, to bound the map
  std::unordered_map<std::string, json> done_operations_;  // operation_key -> its result
  std::deque<std::string> done_order_;  // the same keys, oldest first, to bound the map
};

}  // namespace

HAVERI_DEFINE_PLUGIN(LocalChat, "local", "0.2.0")
