#include "slack/fake_slack.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "blocking_client.hpp"

namespace haveri::fakes {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kJsonType = "application/json; charset=utf-8";
// Slack's own limits outside Block Kit.
constexpr std::size_t kMaxMessageText = 40000;
constexpr std::size_t kMaxTopic = 250;
constexpr std::size_t kMaxChannelName = 80;
// Bounds of the fake itself, so that a misbehaving adapter cannot make it grow forever.
constexpr std::size_t kMaxWebSocketMessage = 1024 * 1024;
constexpr auto kIoCallTimeout = std::chrono::seconds(5);

// ---------------------------------------------------------------------------------------
// Small text helpers

// Counts Unicode code points, as Slack's limits do ("characters").
std::size_t code_points(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
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

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<FormFields> parse_form(std::string_view body) {
  FormFields fields;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!key || !value) {
      return std::nullopt;
    }
    fields[*key] = *value;
  }
  return fields;
}

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) {
      out.push_back(item);
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

std::string query_param(std::string_view query, std::string_view name) {
  auto fields = parse_form(query);
  if (!fields) {
    return {};
  }
  auto it = fields->find(std::string(name));
  return it == fields->end() ? std::string{} : it->second;
}

// An ID in Slack's style: prefix letter, then upper-case base-36 digits.
std::string slack_id(char prefix, std::uint64_t n) {
  static constexpr char kDigits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string digits;
  for (int i = 0; i < 8; ++i) {
    digits.insert(digits.begin(), kDigits[n % 36]);
    n /= 36;
  }
  return std::string(1, prefix) + "0" + digits;
}

// "1700000000.000100", "1700000000.000200", …: unique, increasing, and shaped like Slack's.
std::string format_ts(std::uint64_t base_seconds, std::uint64_t n) {
  const std::uint64_t micros = n * 100;
  char text[32];
  std::snprintf(text, sizeof text, "%llu.%06llu",
                static_cast<unsigned long long>(base_seconds + micros / 1000000),
                static_cast<unsigned long long>(micros % 1000000));
  return text;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_uuid() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  {
    std::lock_guard lock(mutex);
    a = random();
    b = random();
  }
  char text[40];
  std::snprintf(text, sizeof text, "%08llx-%04llx-4%03llx-%04llx-%012llx",
                static_cast<unsigned long long>(a >> 32),
                static_cast<unsigned long long>((a >> 16) & 0xFFFF),
                static_cast<unsigned long long>(a & 0xFFF),
                static_cast<unsigned long long>(((b >> 48) & 0x3FFF) | 0x8000),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return text;
}

// A request argument as Slack reads it: strings as they are, numbers and booleans as
// their text, anything else as absent.
std::string arg_string(const json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) {
    return {};
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_boolean()) {
    return it->get<bool>() ? "true" : "false";
  }
  if (it->is_number()) {
    return it->dump();
  }
  return {};
}

bool arg_bool(const json& args, const char* key) {
  const std::string value = arg_string(args, key);
  return value == "true" || value == "1";
}

json slack_error(const std::string& code) {
  return json{{"ok", false}, {"error", code}};
}

// ---------------------------------------------------------------------------------------
// Block Kit validation: the limits of https://api.slack.com/reference/block-kit, reported
// the way Slack reports them ("<what> [json-pointer:/blocks/0/text/text]").

class BlockKitCheck {
 public:
  std::vector<std::string> errors;

  void message_blocks(const json& blocks) { check_blocks(blocks, 50, "/blocks"); }

  void view(const json& view) {
    if (!view.is_object()) {
      fail("must provide an object", "/view");
      return;
    }
    const std::string type = view.value("type", "");
    if (type != "modal" && type != "home") {
      fail("must be one of: modal, home", "/view/type");
    }
    if (type == "modal") {
      text_object(view, "title", "/view/title", 24, true, true);
    }
    text_object(view, "submit", "/view/submit", 24, true, false);
    text_object(view, "close", "/view/close", 24, true, false);
    bounded_string(view, "private_metadata", "/view/private_metadata", 3000, false);
    bounded_string(view, "callback_id", "/view/callback_id", 255, false);
    bounded_string(view, "external_id", "/view/external_id", 255, false);
    if (!view.contains("blocks")) {
      fail("missing required field: blocks", "/view/blocks");
      return;
    }
    check_blocks(view["blocks"], 100, "/view/blocks");
    bool has_input = false;
    if (view["blocks"].is_array()) {
      for (const auto& block : view["blocks"]) {
        has_input = has_input || (block.is_object() && block.value("type", "") == "input");
      }
    }
    if (type == "modal" && has_input && !view.contains("submit")) {
      fail("must provide submit when the view has input blocks", "/view/submit");
    }
  }

 private:
  void fail(const std::string& what, const std::string& pointer) {
    errors.push_back(what + " [json-pointer:" + pointer + "]");
  }

  void check_blocks(const json& blocks, std::size_t max, const std::string& pointer) {
    if (!blocks.is_array()) {
      fail("must provide an array", pointer);
      return;
    }
    if (blocks.size() > max) {
      fail("no more than " + std::to_string(max) + " items allowed", pointer);
    }
    std::set<std::string> block_ids;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      block(blocks[i], pointer + "/" + std::to_string(i), block_ids);
    }
  }

  // A string field; `max` in characters. Returns whether it is present.
  bool bounded_string(const json& parent, const char* key, const std::string& pointer,
                      std::size_t max, bool required) {
    auto it = parent.find(key);
    if (it == parent.end()) {
      if (required) {
        fail("missing required field: " + std::string(key), pointer);
      }
      return false;
    }
    if (!it->is_string()) {
      fail("must provide a string", pointer);
      return true;
    }
    if (code_points(it->get<std::string>()) > max) {
      fail("must be less than " + std::to_string(max + 1) + " characters", pointer);
    }
    return true;
  }

  // A text composition object under `key`: plain_text (or mrkdwn when allowed), with a
  // non-empty text of at most `max` characters.
  void text_object(const json& parent, const char* key, const std::string& pointer, std::size_t max,
                   bool plain_only, bool required) {
    auto it = parent.find(key);
    if (it == parent.end()) {
      if (required) {
        fail("missing required field: " + std::string(key), pointer);
      }
      return;
    }
    text_value(*it, pointer, max, plain_only);
  }

  void text_value(const json& text, const std::string& pointer, std::size_t max, bool plain_only) {
    if (!text.is_object()) {
      fail("must provide an object", pointer);
      return;
    }
    const std::string type = text.value("type", "");
    if (type != "plain_text" && (plain_only || type != "mrkdwn")) {
      fail(plain_only ? "must be plain_text" : "must be one of: plain_text, mrkdwn",
           pointer + "/type");
    }
    if (type == "mrkdwn" && text.contains("emoji")) {
      fail("emoji is only allowed on plain_text", pointer + "/emoji");
    }
    auto it = text.find("text");
    if (it == text.end() || !it->is_string()) {
      fail("must provide a string", pointer + "/text");
      return;
    }
    const std::size_t n = code_points(it->get<std::string>());
    if (n == 0) {
      fail("must be more than 0 characters", pointer + "/text");
    } else if (n > max) {
      fail("must be less than " + std::to_string(max + 1) + " characters", pointer + "/text");
    }
  }

  void elements(const json& block, const std::string& pointer, std::size_t max,
                const std::set<std::string>& allowed) {
    auto it = block.find("elements");
    if (it == block.end() || !it->is_array()) {
      fail("missing required field: elements", pointer + "/elements");
      return;
    }
    if (it->empty()) {
      fail("must provide at least 1 item", pointer + "/elements");
    }
    if (it->size() > max) {
      fail("no more than " + std::to_string(max) + " items allowed", pointer + "/elements");
    }
    std::set<std::string> action_ids;
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string at = pointer + "/elements/" + std::to_string(i);
      const json& e = (*it)[i];
      const std::string type = e.is_object() ? e.value("type", "") : "";
      if (allowed.count(type) == 0) {
        fail("element type \"" + type + "\" is not allowed here", at + "/type");
        continue;
      }
      if (type == "plain_text" || type == "mrkdwn") {
        text_value(e, at, 3000, false);
      } else {
        element(e, at, action_ids);
      }
    }
  }

  void options(const json& element_json, const std::string& pointer, std::size_t max,
               bool plain_only) {
    auto it = element_json.find("options");
    if (it == element_json.end()) {
      if (!element_json.contains("option_groups")) {
        fail("missing required field: options", pointer + "/options");
      }
      return;
    }
    if (!it->is_array()) {
      fail("must provide an array", pointer + "/options");
      return;
    }
    if (it->size() > max) {
      fail("no more than " + std::to_string(max) + " items allowed", pointer + "/options");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string at = pointer + "/options/" + std::to_string(i);
      text_object((*it)[i], "text", at + "/text", 75, plain_only, true);
      bounded_string((*it)[i], "value", at + "/value", 150, false);
    }
  }

  void element(const json& e, const std::string& pointer, std::set<std::string>& action_ids) {
    const std::string type = e.value("type", "");
    if (bounded_string(e, "action_id", pointer + "/action_id", 255, false) &&
        e["action_id"].is_string() &&
        !action_ids.insert(e["action_id"].get<std::string>()).second) {
      // Slack requires action_id to be unique within its block (not the message: every
      // input block of a modal may use the same action_id).
      fail("action_id must be unique in the block", pointer + "/action_id");
    }
    text_object(e, "placeholder", pointer + "/placeholder", 150, true, false);
    if (type == "button") {
      text_object(e, "text", pointer + "/text", 75, true, true);
      bounded_string(e, "value", pointer + "/value", 2000, false);
      bounded_string(e, "url", pointer + "/url", 3000, false);
      if (e.contains("style") && e["style"] != "primary" && e["style"] != "danger") {
        fail("must be one of: primary, danger", pointer + "/style");
      }
    } else if (type == "static_select" || type == "multi_static_select") {
      options(e, pointer, 100, true);
    } else if (type == "overflow") {
      options(e, pointer, 5, true);
    } else if (type == "checkboxes" || type == "radio_buttons") {
      options(e, pointer, 10, false);
    } else if (type == "plain_text_input") {
      if (e.contains("max_length") &&
          (!e["max_length"].is_number_integer() || e["max_length"].get<long>() < 1 ||
           e["max_length"].get<long>() > 3000)) {
        fail("must be between 1 and 3000", pointer + "/max_length");
      }
      bounded_string(e, "initial_value", pointer + "/initial_value", 3000, false);
    } else if (type == "number_input") {
      if (!e.contains("is_decimal_allowed") || !e["is_decimal_allowed"].is_boolean()) {
        fail("missing required field: is_decimal_allowed", pointer + "/is_decimal_allowed");
      }
    } else if (type == "datepicker") {
      if (e.contains("initial_date")) {
        const std::string date =
            e["initial_date"].is_string() ? e["initial_date"].get<std::string>() : "";
        if (date.size() != 10 || date[4] != '-' || date[7] != '-') {
          fail("must be a date YYYY-MM-DD", pointer + "/initial_date");
        }
      }
    } else if (type == "image") {
      bounded_string(e, "image_url", pointer + "/image_url", 3000, !e.contains("slack_file"));
      bounded_string(e, "alt_text", pointer + "/alt_text", 2000, true);
    }
  }

  void block(const json& b, const std::string& pointer, std::set<std::string>& block_ids) {
    static const std::set<std::string> kInteractive = {"button",
                                                       "static_select",
                                                       "multi_static_select",
                                                       "external_select",
                                                       "multi_external_select",
                                                       "users_select",
                                                       "multi_users_select",
                                                       "conversations_select",
                                                       "multi_conversations_select",
                                                       "channels_select",
                                                       "multi_channels_select",
                                                       "overflow",
                                                       "datepicker",
                                                       "timepicker",
                                                       "datetimepicker",
                                                       "checkboxes",
                                                       "radio_buttons",
                                                       "workflow_button"};
    static const std::set<std::string> kInputs = {
        "plain_text_input",   "number_input",          "email_text_input",
        "url_text_input",     "static_select",         "multi_static_select",
        "external_select",    "multi_external_select", "users_select",
        "multi_users_select", "conversations_select",  "multi_conversations_select",
        "channels_select",    "multi_channels_select", "datepicker",
        "timepicker",         "datetimepicker",        "checkboxes",
        "radio_buttons",      "rich_text_input",       "file_input"};
    static const std::set<std::string> kContext = {"plain_text", "mrkdwn", "image"};

    if (!b.is_object()) {
      fail("must provide an object", pointer);
      return;
    }
    if (bounded_string(b, "block_id", pointer + "/block_id", 255, false) &&
        b["block_id"].is_string() && !block_ids.insert(b["block_id"].get<std::string>()).second) {
      fail("block_id must be unique", pointer + "/block_id");
    }
    const std::string type = b.value("type", "");
    std::set<std::string> action_ids;
    if (type == "header") {
      text_object(b, "text", pointer + "/text", 150, true, true);
    } else if (type == "section") {
      if (!b.contains("text") && !b.contains("fields")) {
        fail("must provide either text or fields", pointer);
      }
      text_object(b, "text", pointer + "/text", 3000, false, false);
      if (auto it = b.find("fields"); it != b.end()) {
        if (!it->is_array() || it->empty()) {
          fail("must provide a non-empty array", pointer + "/fields");
        } else {
          if (it->size() > 10) {
            fail("no more than 10 items allowed", pointer + "/fields");
          }
          for (std::size_t i = 0; i < it->size(); ++i) {
            text_value((*it)[i], pointer + "/fields/" + std::to_string(i), 2000, false);
          }
        }
      }
      if (auto it = b.find("accessory"); it != b.end()) {
        const std::string accessory = it->is_object() ? it->value("type", "") : "";
        if (kInteractive.count(accessory) == 0 && accessory != "image") {
          fail("element type \"" + accessory + "\" is not allowed here", pointer + "/accessory");
        } else {
          element(*it, pointer + "/accessory", action_ids);
        }
      }
    } else if (type == "actions") {
      elements(b, pointer, 25, kInteractive);
    } else if (type == "context") {
      elements(b, pointer, 10, kContext);
    } else if (type == "input") {
      text_object(b, "label", pointer + "/label", 2000, true, true);
      text_object(b, "hint", pointer + "/hint", 2000, true, false);
      auto it = b.find("element");
      const std::string element_type =
          it != b.end() && it->is_object() ? it->value("type", "") : "";
      if (it == b.end()) {
        fail("missing required field: element", pointer + "/element");
      } else if (kInputs.count(element_type) == 0) {
        fail("element type \"" + element_type + "\" is not allowed here", pointer + "/element");
      } else {
        element(*it, pointer + "/element", action_ids);
      }
    } else if (type == "image") {
      bounded_string(b, "image_url", pointer + "/image_url", 3000, !b.contains("slack_file"));
      bounded_string(b, "alt_text", pointer + "/alt_text", 2000, true);
      text_object(b, "title", pointer + "/title", 2000, true, false);
    } else if (type == "divider" || type == "rich_text" || type == "file" || type == "video") {
      // Nothing of these is limited in ways an adapter could get wrong without noticing.
    } else {
      fail("unknown block type \"" + type + "\"", pointer + "/type");
    }
  }
};

// Lock-carrying wrapper for the fake's state. Every write bumps a version and wakes the
// waiters, so waits can re-check their condition after each change.
template <typename T>
class Guarded {
 public:
  template <typename F>
  decltype(auto) write(F&& f) {
    std::lock_guard lock(mutex_);
    ++version_;
    changed_.notify_all();  // the waiters run once this lock is released
    return f(value_);
  }
  template <typename F>
  decltype(auto) read(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(std::as_const(value_));
  }
  std::uint64_t version() const {
    std::lock_guard lock(mutex_);
    return version_;
  }
  void wait_for_change(std::uint64_t seen, SteadyClock::time_point deadline) const {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return version_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::uint64_t version_ = 0;
  T value_;
};

// What an HTTP request gets.
struct Answer {
  unsigned status = 200;
  std::string content_type = kJsonType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  bool drop = false;
};

class WsSession;

}  // namespace

// ---------------------------------------------------------------------------------------
// The fake's state and its handlers.
//
// Runs on: one io thread owned by the fake (every socket operation and every handler),
// and on callers' threads for the public API, which touches sockets only by posting to
// the io thread. With one io thread no strands are needed.

namespace {

struct State {
  std::map<std::string, json> users;
  std::vector<SlackChannel> channels;
  std::map<std::string, std::string> im_by_user;
  std::vector<std::pair<std::string, std::string>> message_order;  // (channel, ts)
  struct Trigger {
    SteadyClock::time_point issued;
    bool used = false;
  };
  std::map<std::string, Trigger> triggers;
  std::set<std::string> response_paths;
  std::uint64_t next_id = 1;
  std::uint64_t next_ts = 1;

  std::vector<ApiCall> calls;
  std::vector<EphemeralMessage> ephemerals;
  std::vector<OpenedView> views;
  std::vector<BlockKitViolation> violations;
  std::vector<ResponseUrlPost> response_posts;

  std::map<std::string, std::deque<Fault>> faults;
  std::map<std::string, std::chrono::milliseconds> latency;

  // Socket Mode.
  std::set<std::string> unused_tickets;
  std::uint64_t next_connection = 1;
  std::map<std::uint64_t, std::weak_ptr<WsSession>> open_ws;  // greeted, by connection number
  std::size_t connections_opened = 0;
  std::map<std::string, json> envelopes;  // last version sent, by envelope_id
  std::deque<std::string> pending_envelopes;
  std::vector<json> acks;
  std::vector<json> unexpected_frames;

  SlackChannel* find_channel(const std::string& ref) {
    for (auto& c : channels) {
      if (c.id == ref) {
        return &c;
      }
    }
    const std::string name = !ref.empty() && ref[0] == '#' ? ref.substr(1) : ref;
    for (auto& c : channels) {
      if (!c.is_im && c.name == name) {
        return &c;
      }
    }
    return nullptr;
  }
  SlackMessage* find_message(SlackChannel& channel, const std::string& ts) {
    for (auto& m : channel.messages) {
      if (m.ts == ts) {
        return &m;
      }
    }
    return nullptr;
  }
  std::string new_ts() { return format_ts(1700000000, next_ts++); }
};

}  // namespace

struct FakeSlack::Impl {
  explicit Impl(FakeSlackConfig c) : config(std::move(c)) {}
  ~Impl();

  FakeSlackConfig config;
  Guarded<State> state;
  std::optional<asio::io_context> io{std::in_place};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  std::uint16_t port = 0;

  void start();
  void stop();
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  // Runs `f` on the io thread and waits (bounded) until it ran.
  void run_on_io(std::function<void()> f);

  // Called by the sessions, on the io thread.
  Answer handle_http(const bhttp::request<bhttp::string_body>& request);
  std::uint64_t take_ticket(const std::string& target);
  std::vector<std::string> on_ws_open(std::uint64_t number, const std::shared_ptr<WsSession>& ws);
  void on_ws_frame(std::uint64_t number, const std::string& text);
  void on_ws_closed(std::uint64_t number);
  void send_on_newest(const std::string& text);

  // Web API.
  json dispatch(State& s, const std::string& method, const json& args, const std::string& token);
  json user_json(const json& user) const;
  json channel_json(const SlackChannel& channel) const;
  json message_json(const SlackMessage& m) const;
  std::optional<json> check_blocks(State& s, const std::string& method, const json& args);
  SlackChannel& open_im(State& s, const std::string& user, bool& already_open);

  json auth_test(State& s, const json& args);
  json connections_open(State& s, const json& args);
  json conversations_create(State& s, const json& args);
  json conversations_invite(State& s, const json& args);
  json conversations_set_topic(State& s, const json& args);
  json conversations_open(State& s, const json& args);
  json chat_post_message(State& s, const json& args);
  json chat_update(State& s, const json& args);
  json chat_post_ephemeral(State& s, const json& args);
  json views_open(State& s, const json& args);
  json users_info(State& s, const json& args);
};

namespace {

// One Socket Mode connection: hello, then envelopes out and acknowledgements in.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(beast::tcp_stream&& stream, FakeSlack::Impl& fake, std::uint64_t number)
      : ws_(std::move(stream)), fake_(fake), number_(number), close_timer_(ws_.get_executor()) {}

  void start(bhttp::request<bhttp::string_body>&& request) {
    request_ = std::move(request);
    // The WebSocket stream keeps its own timeouts; the HTTP read's must not apply.
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(kMaxWebSocketMessage);
    ws_.text(true);
    ws_.async_accept(request_,
                     beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
  }

  void send(std::string text) {
    outbox_.push_back(Out{std::move(text), false});
    do_write();
  }

  void close_after(std::chrono::milliseconds delay) {
    close_timer_.expires_after(delay);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->outbox_.push_back(Out{{}, true});
        self->do_write();
      }
    });
  }

  // An abrupt end: RST, no close frame.
  void reset() {
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
    close_timer_.cancel();
    fake_.on_ws_closed(number_);
  }

 private:
  struct Out {
    std::string text;
    bool close = false;
  };

  void on_accept(beast::error_code ec) {
    if (ec) {
      return;
    }
    for (auto& text : fake_.on_ws_open(number_, shared_from_this())) {
      send(std::move(text));
    }
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      fake_.on_ws_closed(number_);
      return;
    }
    fake_.on_ws_frame(number_, beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    do_read();
  }

  void do_write() {
    if (writing_ || outbox_.empty() || closed_) {
      return;
    }
    writing_ = true;
    if (outbox_.front().close) {
      closed_ = true;
      ws_.async_close(websocket::close_code::going_away,
                      [self = shared_from_this()](beast::error_code) {
                        self->writing_ = false;
                        self->fake_.on_ws_closed(self->number_);
                      });
      return;
    }
    ws_.async_write(asio::buffer(outbox_.front().text),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      fake_.on_ws_closed(number_);
      return;
    }
    outbox_.pop_front();
    do_write();
  }

  websocket::stream<beast::tcp_stream> ws_;
  FakeSlack::Impl& fake_;
  std::uint64_t number_;
  asio::steady_timer close_timer_;
  bhttp::request<bhttp::string_body> request_;
  beast::flat_buffer buffer_;
  std::deque<Out> outbox_;
  bool writing_ = false;
  bool closed_ = false;
};

// One HTTP connection: Web API calls (keep-alive), response_url posts, or the upgrade to
// a Socket Mode connection.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, FakeSlack::Impl& fake)
      : stream_(std::move(socket)), fake_(fake), delay_timer_(stream_.get_executor()) {}

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(fake_.config.body_limit_bytes);
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      Answer answer;
      answer.status = 413;
      answer.body = R"({"ok":false,"error":"request_too_large"})";
      keep_alive_ = false;
      write(std::move(answer));
      return;
    }
    if (ec) {
      close();
      return;
    }
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    const std::string target(request.target());
    if (websocket::is_upgrade(request)) {
      const std::uint64_t number = fake_.take_ticket(target);
      if (number != 0) {
        std::make_shared<WsSession>(std::move(stream_), fake_, number)->start(std::move(request));
        return;
      }
      Answer refused;
      refused.status = 404;
      refused.content_type = "text/plain";
      refused.body = "unknown or used ticket";
      keep_alive_ = false;
      write(std::move(refused));
      return;
    }
    Answer answer = fake_.handle_http(request);
    if (answer.drop) {
      reset();
      return;
    }
    if (answer.delay.count() > 0) {
      delay_timer_.expires_after(answer.delay);
      delay_timer_.async_wait([self = shared_from_this(),
                               answer = std::move(answer)](beast::error_code timer_ec) mutable {
        if (!timer_ec) {
          self->write(std::move(answer));
        }
      });
      return;
    }
    write(std::move(answer));
  }

  void write(Answer answer) {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(answer.status), 11);
    response->set(bhttp::field::server, "fake-slack");
    response->set(bhttp::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) {
      response->set(name, value);
    }
    response->body() = std::move(answer.body);
    response->keep_alive(keep_alive_);
    response->prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_write(stream_, *response,
                       [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                         if (ec || !response->keep_alive()) {
                           self->close();
                           return;
                         }
                         self->do_read();
                       });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  void reset() {
    beast::error_code ignored;
    stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  FakeSlack::Impl& fake_;
  asio::steady_timer delay_timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Start and stop

FakeSlack::Impl::~Impl() {
  stop();
  // The pending handlers hold sessions that refer to this object: destroy them (with the
  // io_context) while the rest of it is still alive.
  acceptor.reset();
  io.reset();
}

void FakeSlack::Impl::start() {
  acceptor.emplace(*io);
  const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), 0};
  beast::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error("fake Slack: cannot listen on 127.0.0.1: " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  work.emplace(io->get_executor());
  do_accept();
  thread = std::thread([this] { io->run(); });
}

void FakeSlack::Impl::stop() {
  if (!thread.joinable()) {
    return;
  }
  asio::post(*io, [this] {
    beast::error_code ignored;
    acceptor->close(ignored);
    std::vector<std::shared_ptr<WsSession>> sessions;
    state.read([&](const State& s) {
      for (const auto& [number, weak] : s.open_ws) {
        if (auto ws = weak.lock()) {
          sessions.push_back(ws);
        }
      }
    });
    for (auto& ws : sessions) {
      ws->reset();
    }
    io->stop();
  });
  work.reset();
  thread.join();
}

void FakeSlack::Impl::do_accept() {
  acceptor->async_accept(
      *io, [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void FakeSlack::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) {
    return;
  }
  if (!ec) {
    std::make_shared<HttpSession>(std::move(socket), *this)->run();
  }
  do_accept();
}

void FakeSlack::Impl::run_on_io(std::function<void()> f) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  asio::post(*io, [f = std::move(f), done] {
    f();
    done->set_value();
  });
  future.wait_for(kIoCallTimeout);
}

// ---------------------------------------------------------------------------------------
// HTTP dispatch

Answer FakeSlack::Impl::handle_http(const bhttp::request<bhttp::string_body>& request) {
  const std::string target(request.target());
  const std::size_t question = target.find('?');
  const std::string path = target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
  const std::string content_type(request[bhttp::field::content_type]);
  Answer answer;

  if (path.starts_with("/response/")) {
    const bool known = state.write([&](State& s) {
      if (s.response_paths.count(path) == 0) {
        return false;
      }
      ResponseUrlPost post{path, content_type, {}, request.body(), nullptr};
      for (const auto& field : request) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        post.headers[name] = std::string(field.value());
      }
      post.json = json::parse(request.body(), nullptr, false);
      if (post.json.is_discarded()) {
        post.json = nullptr;
      }
      s.response_posts.push_back(std::move(post));
      return true;
    });
    answer.status = known ? 200 : 404;
    answer.body = known ? R"({"ok":true})" : R"({"ok":false,"error":"expired_url"})";
    return answer;
  }

  ApiCall call;
  call.received = std::chrono::system_clock::now();
  call.http_method = std::string(request.method_string());
  call.content_type = content_type;
  if (!path.starts_with("/api/")) {
    answer.status = 404;
    answer.content_type = "text/plain";
    answer.body = "not found";
    return answer;
  }
  call.method = path.substr(5);

  // Arguments: a JSON object, or form fields (body, then query string), as Slack reads them.
  json args = json::object();
  std::optional<std::string> body_error;
  const bool is_json = content_type.starts_with("application/json");
  if (is_json && !request.body().empty()) {
    args = json::parse(request.body(), nullptr, false);
    if (args.is_discarded()) {
      body_error = "invalid_json";
      args = json::object();
    } else if (!args.is_object()) {
      body_error = "json_not_object";
      args = json::object();
    }
  } else {
    auto fields = parse_form(request.body());
    auto query_fields = parse_form(query);
    if (!fields || !query_fields) {
      body_error = "invalid_form_data";
    } else {
      for (const auto& [key, value] : *query_fields) {
        args[key] = value;
      }
      for (const auto& [key, value] : *fields) {
        args[key] = value;
      }
    }
  }
  // Form bodies carry blocks and views as JSON text; Slack parses them, so do we.
  for (const char* key : {"blocks", "view", "attachments"}) {
    if (args.contains(key) && args[key].is_string()) {
      json parsed = json::parse(args[key].get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) {
        args[key] = std::move(parsed);
      }
    }
  }

  std::string authorization(request[bhttp::field::authorization]);
  if (authorization.starts_with("Bearer ")) {
    call.token = authorization.substr(7);
  } else if (!is_json) {
    call.token = arg_string(args, "token");
  }
  call.args = args;

  state.write([&](State& s) {
    std::optional<Fault> fault;
    for (const std::string& key : {call.method, std::string("*")}) {
      auto& queue = s.faults[key];
      if (!fault && !queue.empty()) {
        fault = queue.front();
        queue.pop_front();
      }
    }
    if (auto it = s.latency.find(call.method); it != s.latency.end()) {
      answer.delay = it->second;
    }
    json response;
    if (fault && fault->kind == Fault::Kind::drop) {
      answer.drop = true;
    } else if (fault && fault->kind == Fault::Kind::http_status) {
      answer.status = static_cast<unsigned>(fault->status);
      if (fault->status == 429) {
        answer.headers.emplace_back("Retry-After", std::to_string(fault->retry_after.count()));
        response = slack_error("ratelimited");
      } else {
        answer.content_type = "text/html";
        answer.body = "<html><body>Service Unavailable</body></html>";
      }
    } else if (fault && fault->kind == Fault::Kind::error) {
      response = slack_error(fault->error);
    } else {
      if (fault) {
        answer.delay += fault->delay;
      }
      response = body_error ? slack_error(*body_error) : dispatch(s, call.method, args, call.token);
      if (is_json && content_type.find("charset") == std::string::npos) {
        // Slack accepts JSON without a charset but says so.
        response["warning"] = "missing_charset";
        response["response_metadata"]["warnings"] = json::array({"missing_charset"});
      }
    }
    if (!response.is_null()) {
      answer.body = response.dump();
    }
    call.http_status = answer.drop ? 0 : static_cast<int>(answer.status);
    call.response = response;
    s.calls.push_back(std::move(call));
  });
  return answer;
}

json FakeSlack::Impl::dispatch(State& s, const std::string& method, const json& args,
                               const std::string& token) {
  using Handler = json (Impl::*)(State&, const json&);
  static const std::map<std::string, Handler> kMethods = {
      {"auth.test", &Impl::auth_test},
      {"apps.connections.open", &Impl::connections_open},
      {"conversations.create", &Impl::conversations_create},
      {"conversations.invite", &Impl::conversations_invite},
      {"conversations.setTopic", &Impl::conversations_set_topic},
      {"conversations.open", &Impl::conversations_open},
      {"chat.postMessage", &Impl::chat_post_message},
      {"chat.update", &Impl::chat_update},
      {"chat.postEphemeral", &Impl::chat_post_ephemeral},
      {"views.open", &Impl::views_open},
      {"users.info", &Impl::users_info},
  };
  auto it = kMethods.find(method);
  if (it == kMethods.end()) {
    json response = slack_error("unknown_method");
    response["req_method"] = method;
    return response;
  }
  if (token.empty()) {
    return slack_error("not_authed");
  }
  const bool wants_app_token = method == "apps.connections.open";
  const std::string& expected = wants_app_token ? config.app_token : config.bot_token;
  const std::string& other = wants_app_token ? config.bot_token : config.app_token;
  if (token != expected) {
    // Slack tells a valid token of the wrong kind apart from a token it does not know.
    return slack_error(token == other ? "not_allowed_token_type" : "invalid_auth");
  }
  return (this->*(it->second))(s, args);
}

// ---------------------------------------------------------------------------------------
// JSON shapes

json FakeSlack::Impl::user_json(const json& user) const {
  json out = user;
  const std::string id = user.value("id", "");
  const std::string name = user.value("name", "");
  const std::string real_name = user.value("real_name", name);
  const auto fill = [&](const char* key, json value) {
    if (!out.contains(key)) {
      out[key] = std::move(value);
    }
  };
  fill("team_id", config.identity.team_id);
  fill("deleted", false);
  fill("color", "9f69e7");
  fill("real_name", real_name);
  fill("tz", "Europe/Helsinki");
  fill("tz_label", "Eastern European Time");
  fill("tz_offset", 7200);
  fill("is_admin", false);
  fill("is_owner", false);
  fill("is_bot", id == config.identity.bot_user_id);
  fill("is_app_user", false);
  fill("updated", 1700000000);
  fill("profile", json{{"real_name", real_name},
                       {"display_name", name},
                       {"email", name + "@example.invalid"},
                       {"image_48", "https://avatars.example.invalid/" + id + "_48.png"},
                       {"team", config.identity.team_id}});
  return out;
}

json FakeSlack::Impl::channel_json(const SlackChannel& channel) const {
  const std::int64_t created = 1700000000;
  if (channel.is_im) {
    return json{{"id", channel.id},
                {"created", created},
                {"is_im", true},
                {"is_org_shared", false},
                {"user", channel.members.size() > 1 ? channel.members[1] : ""},
                {"is_user_deleted", false},
                {"priority", 0}};
  }
  return json{{"id", channel.id},
              {"name", channel.name},
              {"is_channel", !channel.is_private},
              {"is_group", channel.is_private},
              {"is_im", false},
              {"is_mpim", false},
              {"is_private", channel.is_private},
              {"created", created},
              {"is_archived", false},
              {"is_general", false},
              {"unlinked", 0},
              {"name_normalized", channel.name},
              {"is_shared", false},
              {"is_org_shared", false},
              {"is_ext_shared", false},
              {"is_pending_ext_shared", false},
              {"pending_shared", json::array()},
              {"context_team_id", config.identity.team_id},
              {"shared_team_ids", json::array({config.identity.team_id})},
              {"creator", channel.creator},
              {"is_member", std::find(channel.members.begin(), channel.members.end(),
                                      config.identity.bot_user_id) != channel.members.end()},
              {"last_read", "0000000000.000000"},
              {"topic", {{"value", channel.topic}, {"creator", ""}, {"last_set", 0}}},
              {"purpose", {{"value", ""}, {"creator", ""}, {"last_set", 0}}},
              {"previous_names", json::array()},
              {"priority", 0}};
}

json FakeSlack::Impl::message_json(const SlackMessage& m) const {
  json out{{"type", "message"},
           {"text", m.text},
           {"user", m.user},
           {"ts", m.ts},
           {"team", config.identity.team_id}};
  if (!m.bot_id.empty()) {
    out["bot_id"] = m.bot_id;
    out["app_id"] = config.identity.app_id;
    out["bot_profile"] = {{"id", m.bot_id},
                          {"app_id", config.identity.app_id},
                          {"name", config.identity.bot_name},
                          {"team_id", config.identity.team_id},
                          {"deleted", false}};
  }
  if (!m.blocks.is_null()) {
    out["blocks"] = m.blocks;
  }
  if (!m.thread_ts.empty()) {
    out["thread_ts"] = m.thread_ts;
    out["parent_user_id"] = config.identity.bot_user_id;
  }
  if (!m.previous_versions.empty()) {
    out["edited"] = {{"user", m.user}, {"ts", m.ts}};
  }
  return out;
}

// Validates a message's "blocks" when present; an answer means the call is rejected.
std::optional<json> FakeSlack::Impl::check_blocks(State& s, const std::string& method,
                                                  const json& args) {
  auto it = args.find("blocks");
  if (it == args.end() || it->is_null()) {
    return std::nullopt;
  }
  BlockKitCheck check;
  if (it->is_string()) {
    check.errors.push_back("blocks is not valid JSON [json-pointer:/blocks]");
  } else {
    check.message_blocks(*it);
  }
  if (check.errors.empty()) {
    return std::nullopt;
  }
  s.violations.push_back({method, check.errors, args});
  if (it->is_string() || !it->is_array()) {
    return slack_error("invalid_blocks_format");
  }
  json response = slack_error("invalid_blocks");
  response["errors"] = check.errors;
  json messages = json::array();
  for (const auto& e : check.errors) {
    messages.push_back("[ERROR] " + e);
  }
  response["response_metadata"] = {{"messages", messages}};
  return response;
}

SlackChannel& FakeSlack::Impl::open_im(State& s, const std::string& user, bool& already_open) {
  auto it = s.im_by_user.find(user);
  already_open = it != s.im_by_user.end();
  if (already_open) {
    return *s.find_channel(it->second);
  }
  SlackChannel im;
  im.id = slack_id('D', s.next_id++);
  im.is_im = true;
  im.creator = config.identity.bot_user_id;
  im.members = {config.identity.bot_user_id, user};
  s.im_by_user[user] = im.id;
  s.channels.push_back(std::move(im));
  return s.channels.back();
}

// ---------------------------------------------------------------------------------------
// Web API methods (https://api.slack.com/methods/<name>)

json FakeSlack::Impl::auth_test(State&, const json&) {
  const auto& id = config.identity;
  return json{{"ok", true},
              {"url", "https://" + id.team_domain + ".slack.com/"},
              {"team", id.team_name},
              {"user", id.bot_name},
              {"team_id", id.team_id},
              {"user_id", id.bot_user_id},
              {"bot_id", id.bot_id},
              {"is_enterprise_install", false}};
}

json FakeSlack::Impl::connections_open(State& s, const json&) {
  const std::string ticket = random_uuid();
  s.unused_tickets.insert(ticket);
  return json{{"ok", true},
              {"url", "ws://127.0.0.1:" + std::to_string(port) + "/link/?ticket=" + ticket +
                          "&app_id=" + config.identity.app_id}};
}

json FakeSlack::Impl::conversations_create(State& s, const json& args) {
  const std::string name = arg_string(args, "name");
  if (name.empty()) {
    return slack_error("invalid_name_required");
  }
  if (code_points(name) > kMaxChannelName) {
    return slack_error("invalid_name_maxlength");
  }
  bool only_punctuation = true;
  for (char c : name) {
    const bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!letter_or_digit && c != '-' && c != '_') {
      return slack_error("invalid_name_specials");
    }
    only_punctuation = only_punctuation && !letter_or_digit;
  }
  if (only_punctuation) {
    return slack_error("invalid_name_punctuation");
  }
  for (const auto& c : s.channels) {
    if (!c.is_im && c.name == name) {
      return slack_error("name_taken");
    }
  }
  SlackChannel channel;
  channel.id = slack_id('C', s.next_id++);
  channel.name = name;
  channel.is_private = arg_bool(args, "is_private");
  channel.creator = config.identity.bot_user_id;
  channel.members = {config.identity.bot_user_id};
  s.channels.push_back(channel);
  return json{{"ok", true}, {"channel", channel_json(channel)}};
}

json FakeSlack::Impl::conversations_invite(State& s, const json& args) {
  SlackChannel* channel = s.find_channel(arg_string(args, "channel"));
  if (channel == nullptr) {
    return slack_error("channel_not_found");
  }
  if (channel->is_im) {
    return slack_error("method_not_supported_for_channel_type");
  }
  const auto& members = channel->members;
  const auto is_member = [&](const std::string& user) {
    return std::find(members.begin(), members.end(), user) != members.end();
  };
  if (!is_member(config.identity.bot_user_id)) {
    return slack_error("not_in_channel");
  }
  const std::vector<std::string> users = split_commas(arg_string(args, "users"));
  if (users.empty()) {
    return slack_error("no_user");
  }
  json errors = json::array();
  std::string first_error;
  for (const auto& user : users) {
    std::string error;
    if (user == config.identity.bot_user_id) {
      error = "cant_invite_self";
    } else if (s.users.count(user) == 0) {
      error = "user_not_found";
    } else if (users.size() == 1 && is_member(user)) {
      // With several users Slack skips those already in; with one it says so.
      error = "already_in_channel";
    }
    if (!error.empty()) {
      errors.push_back({{"user", user}, {"ok", false}, {"error", error}});
      if (first_error.empty()) {
        first_error = error;
      }
    }
  }
  if (!errors.empty()) {
    // Nobody is invited when any invitation fails.
    json response = slack_error(first_error);
    response["errors"] = errors;
    return response;
  }
  for (const auto& user : users) {
    if (!is_member(user)) {
      channel->members.push_back(user);
    }
  }
  return json{{"ok", true}, {"channel", channel_json(*channel)}};
}

json FakeSlack::Impl::conversations_set_topic(State& s, const json& args) {
  SlackChannel* channel = s.find_channel(arg_string(args, "channel"));
  if (channel == nullptr) {
    return slack_error("channel_not_found");
  }
  if (std::find(channel->members.begin(), channel->members.end(), config.identity.bot_user_id) ==
      channel->members.end()) {
    return slack_error("not_in_channel");
  }
  const std::string topic = arg_string(args, "topic");
  if (code_points(topic) > kMaxTopic) {
    return slack_error("too_long");
  }
  channel->topic = topic;
  return json{{"ok", true}, {"channel", channel_json(*channel)}};
}

json FakeSlack::Impl::conversations_open(State& s, const json& args) {
  if (!arg_string(args, "channel").empty()) {
    SlackChannel* channel = s.find_channel(arg_string(args, "channel"));
    if (channel == nullptr) {
      return slack_error("channel_not_found");
    }
    return json{
        {"ok", true}, {"no_op", true}, {"already_open", true}, {"channel", {{"id", channel->id}}}};
  }
  const std::vector<std::string> users = split_commas(arg_string(args, "users"));
  if (users.empty()) {
    return slack_error("users_list_not_supplied");
  }
  if (users.size() > 1) {
    // Group DMs are not needed by the adapter; say so rather than pretend.
    return slack_error("not_implemented_in_fake");
  }
  if (s.users.count(users[0]) == 0) {
    return slack_error("user_not_found");
  }
  bool already_open = false;
  SlackChannel& im = open_im(s, users[0], already_open);
  json response{{"ok", true}, {"channel", {{"id", im.id}}}};
  if (already_open) {
    response["no_op"] = true;
    response["already_open"] = true;
  }
  if (arg_bool(args, "return_im")) {
    response["channel"] = channel_json(im);
  }
  return response;
}

json FakeSlack::Impl::chat_post_message(State& s, const json& args) {
  const std::string ref = arg_string(args, "channel");
  SlackChannel* channel = s.find_channel(ref);
  if (channel == nullptr && s.users.count(ref) != 0 && ref != config.identity.bot_user_id) {
    // Posting to a user ID posts in the app's direct message with them.
    bool already_open = false;
    channel = &open_im(s, ref, already_open);
  }
  if (channel == nullptr) {
    return slack_error("channel_not_found");
  }
  if (std::find(channel->members.begin(), channel->members.end(), config.identity.bot_user_id) ==
      channel->members.end()) {
    return slack_error("not_in_channel");
  }
  const std::string text = arg_string(args, "text");
  const bool has_blocks = args.contains("blocks") && !args["blocks"].is_null();
  const bool has_attachments = args.contains("attachments") && !args["attachments"].is_null();
  if (text.empty() && !has_blocks && !has_attachments) {
    return slack_error("no_text");
  }
  if (code_points(text) > kMaxMessageText) {
    return slack_error("msg_too_long");
  }
  if (auto rejected = check_blocks(s, "chat.postMessage", args)) {
    return *rejected;
  }
  SlackMessage m;
  m.channel = channel->id;
  m.ts = s.new_ts();
  m.thread_ts = arg_string(args, "thread_ts");
  m.user = config.identity.bot_user_id;
  m.bot_id = config.identity.bot_id;
  m.text = text;
  m.blocks = has_blocks ? args["blocks"] : json();
  m.request = args;
  channel->messages.push_back(m);
  s.message_order.emplace_back(m.channel, m.ts);
  return json{{"ok", true}, {"channel", m.channel}, {"ts", m.ts}, {"message", message_json(m)}};
}

json FakeSlack::Impl::chat_update(State& s, const json& args) {
  SlackChannel* channel = s.find_channel(arg_string(args, "channel"));
  if (channel == nullptr) {
    return slack_error("channel_not_found");
  }
  SlackMessage* m = s.find_message(*channel, arg_string(args, "ts"));
  if (m == nullptr) {
    return slack_error("message_not_found");
  }
  if (m->user != config.identity.bot_user_id) {
    return slack_error("cant_update_message");
  }
  const std::string text = arg_string(args, "text");
  const bool has_blocks = args.contains("blocks") && !args["blocks"].is_null();
  if (text.empty() && !has_blocks && !args.contains("attachments")) {
    return slack_error("no_text");
  }
  if (code_points(text) > kMaxMessageText) {
    return slack_error("msg_too_long");
  }
  if (auto rejected = check_blocks(s, "chat.update", args)) {
    return *rejected;
  }
  m->previous_versions.push_back({m->text, m->blocks, m->request});
  m->text = text;
  // Slack keeps the old blocks when an update sends only text.
  if (has_blocks) {
    m->blocks = args["blocks"];
  }
  m->request = args;
  return json{{"ok", true},
              {"channel", channel->id},
              {"ts", m->ts},
              {"text", m->text},
              {"message", message_json(*m)}};
}

json FakeSlack::Impl::chat_post_ephemeral(State& s, const json& args) {
  SlackChannel* channel = s.find_channel(arg_string(args, "channel"));
  if (channel == nullptr) {
    return slack_error("channel_not_found");
  }
  const auto& members = channel->members;
  if (std::find(members.begin(), members.end(), config.identity.bot_user_id) == members.end()) {
    return slack_error("not_in_channel");
  }
  const std::string user = arg_string(args, "user");
  if (s.users.count(user) == 0) {
    return slack_error("user_not_found");
  }
  if (std::find(members.begin(), members.end(), user) == members.end()) {
    return slack_error("user_not_in_channel");
  }
  const std::string text = arg_string(args, "text");
  const bool has_blocks = args.contains("blocks") && !args["blocks"].is_null();
  if (text.empty() && !has_blocks && !args.contains("attachments")) {
    return slack_error("no_text");
  }
  if (auto rejected = check_blocks(s, "chat.postEphemeral", args)) {
    return *rejected;
  }
  EphemeralMessage e{channel->id, user,
                     s.new_ts(),  arg_string(args, "thread_ts"),
                     text,        has_blocks ? args["blocks"] : json(),
                     args};
  s.ephemerals.push_back(e);
  return json{{"ok", true}, {"message_ts", e.message_ts}};
}

json FakeSlack::Impl::views_open(State& s, const json& args) {
  const auto invalid_arguments = [](const std::vector<std::string>& errors) {
    json response = slack_error("invalid_arguments");
    json messages = json::array();
    for (const auto& e : errors) {
      messages.push_back("[ERROR] " + e);
    }
    response["response_metadata"] = {{"messages", messages}};
    return response;
  };
  const std::string trigger_id = arg_string(args, "trigger_id");
  if (trigger_id.empty()) {
    return invalid_arguments({"missing required field: trigger_id"});
  }
  auto trigger = s.triggers.find(trigger_id);
  if (trigger == s.triggers.end()) {
    return slack_error("invalid_trigger_id");
  }
  if (trigger->second.used) {
    return slack_error("exchanged_trigger_id");
  }
  if (SteadyClock::now() - trigger->second.issued > config.trigger_id_lifetime) {
    return slack_error("expired_trigger_id");
  }
  if (!args.contains("view")) {
    return invalid_arguments({"missing required field: view"});
  }
  BlockKitCheck check;
  if (args["view"].is_string()) {
    check.errors.push_back("view is not valid JSON [json-pointer:/view]");
  } else {
    check.view(args["view"]);
  }
  if (!check.errors.empty()) {
    // Slack answers a bad view with invalid_arguments (not invalid_blocks), the details in
    // response_metadata.messages.
    s.violations.push_back({"views.open", check.errors, args});
    return invalid_arguments(check.errors);
  }
  trigger->second.used = true;
  const json& view = args["view"];
  OpenedView opened{slack_id('V', s.next_id++), trigger_id, view, args};
  s.views.push_back(opened);
  json out = view;
  out["id"] = opened.id;
  out["team_id"] = config.identity.team_id;
  out["state"] = {{"values", json::object()}};
  out["hash"] = "1700000000." + opened.id;
  out["previous_view_id"] = nullptr;
  out["root_view_id"] = opened.id;
  out["app_id"] = config.identity.app_id;
  out["app_installed_team_id"] = config.identity.team_id;
  out["bot_id"] = config.identity.bot_id;
  for (const char* key : {"private_metadata", "callback_id", "external_id"}) {
    if (!out.contains(key)) {
      out[key] = "";
    }
  }
  return json{{"ok", true}, {"view", out}};
}

json FakeSlack::Impl::users_info(State& s, const json& args) {
  auto it = s.users.find(arg_string(args, "user"));
  if (it == s.users.end()) {
    return slack_error("user_not_found");
  }
  return json{{"ok", true}, {"user", user_json(it->second)}};
}

// ---------------------------------------------------------------------------------------
// Socket Mode

std::uint64_t FakeSlack::Impl::take_ticket(const std::string& target) {
  const std::size_t question = target.find('?');
  const std::string path = target.substr(0, question);
  if (path != "/link/" && path != "/link") {
    return 0;
  }
  const std::string ticket =
      question == std::string::npos ? "" : query_param(target.substr(question + 1), "ticket");
  return state.write([&](State& s) -> std::uint64_t {
    if (s.unused_tickets.erase(ticket) == 0) {
      return 0;
    }
    return s.next_connection++;
  });
}

std::vector<std::string> FakeSlack::Impl::on_ws_open(std::uint64_t number,
                                                     const std::shared_ptr<WsSession>& ws) {
  return state.write([&](State& s) {
    s.open_ws[number] = ws;
    ++s.connections_opened;
    std::vector<std::string> out;
    out.push_back(
        json{{"type", "hello"},
             {"num_connections", s.open_ws.size()},
             {"debug_info",
              {{"host", "fake"}, {"build_number", 1}, {"approximate_connection_time", 18060}}},
             {"connection_info", {{"app_id", config.identity.app_id}}}}
            .dump());
    for (const auto& id : s.pending_envelopes) {
      out.push_back(s.envelopes[id].dump());
    }
    s.pending_envelopes.clear();
    return out;
  });
}

void FakeSlack::Impl::on_ws_frame(std::uint64_t number, const std::string& text) {
  state.write([&](State& s) {
    json frame = json::parse(text, nullptr, false);
    if (!frame.is_discarded() && frame.is_object() && frame.contains("envelope_id")) {
      frame["_connection"] = number;
      s.acks.push_back(std::move(frame));
    } else {
      s.unexpected_frames.push_back(frame.is_discarded() ? json(text) : frame);
    }
  });
}

void FakeSlack::Impl::on_ws_closed(std::uint64_t number) {
  state.write([&](State& s) { s.open_ws.erase(number); });
}

void FakeSlack::Impl::send_on_newest(const std::string& text) {
  std::weak_ptr<WsSession> target;
  state.read([&](const State& s) {
    if (!s.open_ws.empty()) {
      target = s.open_ws.rbegin()->second;
    }
  });
  asio::post(*io, [target, text] {
    if (auto ws = target.lock()) {
      ws->send(text);
    }
  });
}

// ---------------------------------------------------------------------------------------
// FakeSlack

FakeSlack::FakeSlack(FakeSlackConfig config) : impl_(std::make_shared<Impl>(std::move(config))) {
  impl_->state.write([&](State& s) {
    for (const auto& user : impl_->config.users) {
      s.users[user.value("id", "")] = user;
    }
    const auto& id = impl_->config.identity;
    s.users[id.bot_user_id] = json{{"id", id.bot_user_id},
                                   {"name", id.bot_name},
                                   {"is_bot", true},
                                   {"profile", {{"bot_id", id.bot_id}, {"api_app_id", id.app_id}}}};
  });
  impl_->start();
}

FakeSlack::~FakeSlack() = default;

std::uint16_t FakeSlack::port() const {
  return impl_->port;
}

std::string FakeSlack::api_base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/api";
}

const FakeSlackConfig& FakeSlack::config() const {
  return impl_->config;
}

void FakeSlack::add_user(nlohmann::json user) {
  impl_->state.write([&](State& s) { s.users[user.value("id", "")] = std::move(user); });
}

std::string FakeSlack::add_channel(const std::string& name, const std::vector<std::string>& members,
                                   bool is_private) {
  return impl_->state.write([&](State& s) {
    SlackChannel channel;
    channel.id = slack_id('C', s.next_id++);
    channel.name = name;
    channel.is_private = is_private;
    channel.creator = members.empty() ? "U0ALICE" : members.front();
    channel.members = members;
    s.channels.push_back(channel);
    return channel.id;
  });
}

std::string FakeSlack::add_user_message(const std::string& channel_id, const std::string& user,
                                        const std::string& text, const std::string& thread_ts) {
  return impl_->state.write([&](State& s) -> std::string {
    SlackChannel* channel = s.find_channel(channel_id);
    if (channel == nullptr) {
      throw std::invalid_argument("fake Slack: add_user_message: no channel " + channel_id);
    }
    SlackMessage m;
    m.channel = channel->id;
    m.ts = s.new_ts();
    m.thread_ts = thread_ts;
    m.user = user;
    m.text = text;
    channel->messages.push_back(m);
    s.message_order.emplace_back(m.channel, m.ts);
    return m.ts;
  });
}

std::string FakeSlack::issue_trigger_id(std::chrono::milliseconds already_elapsed) {
  return impl_->state.write([&](State& s) {
    const std::uint64_t n = s.next_id++;
    // Shaped like Slack's: "<digits>.<digits>.<hex>".
    const std::string id = std::to_string(1700000000000ULL + n) + "." +
                           std::to_string(4200000000ULL + n) + "." + random_uuid().substr(0, 8) +
                           random_uuid().substr(24);
    s.triggers[id] = State::Trigger{SteadyClock::now() - already_elapsed, false};
    return id;
  });
}

std::string FakeSlack::issue_response_url() {
  return impl_->state.write([&](State& s) {
    const std::string path =
        "/response/" + impl_->config.identity.team_id + "/" + std::to_string(s.next_id++);
    s.response_paths.insert(path);
    return "http://127.0.0.1:" + std::to_string(impl_->port) + path;
  });
}

void FakeSlack::inject(const std::string& method, Fault fault) {
  impl_->state.write([&](State& s) { s.faults[method].push_back(std::move(fault)); });
}

void FakeSlack::set_latency(const std::string& method, std::chrono::milliseconds latency) {
  impl_->state.write([&](State& s) {
    if (latency.count() <= 0) {
      s.latency.erase(method);
    } else {
      s.latency[method] = latency;
    }
  });
}

void FakeSlack::clear_faults() {
  impl_->state.write([&](State& s) {
    s.faults.clear();
    s.latency.clear();
  });
}

std::vector<ApiCall> FakeSlack::calls() const {
  return impl_->state.read([](const State& s) { return s.calls; });
}

std::vector<ApiCall> FakeSlack::calls(const std::string& method) const {
  return impl_->state.read([&](const State& s) {
    std::vector<ApiCall> out;
    std::copy_if(s.calls.begin(), s.calls.end(), std::back_inserter(out),
                 [&](const ApiCall& c) { return c.method == method; });
    return out;
  });
}

std::size_t FakeSlack::call_count(const std::string& method) const {
  return impl_->state.read([&](const State& s) {
    return static_cast<std::size_t>(std::count_if(
        s.calls.begin(), s.calls.end(), [&](const ApiCall& c) { return c.method == method; }));
  });
}

std::optional<SlackChannel> FakeSlack::channel(const std::string& id) const {
  return impl_->state.read([&](const State& s) -> std::optional<SlackChannel> {
    for (const auto& c : s.channels) {
      if (c.id == id) {
        return c;
      }
    }
    return std::nullopt;
  });
}

std::optional<SlackChannel> FakeSlack::channel_by_name(const std::string& name) const {
  return impl_->state.read([&](const State& s) -> std::optional<SlackChannel> {
    for (const auto& c : s.channels) {
      if (!c.is_im && c.name == name) {
        return c;
      }
    }
    return std::nullopt;
  });
}

std::vector<SlackChannel> FakeSlack::channels() const {
  return impl_->state.read([](const State& s) { return s.channels; });
}

std::vector<SlackMessage> FakeSlack::messages() const {
  return impl_->state.read([](const State& s) {
    std::vector<SlackMessage> out;
    for (const auto& [channel_id, ts] : s.message_order) {
      for (const auto& c : s.channels) {
        if (c.id != channel_id) {
          continue;
        }
        for (const auto& m : c.messages) {
          if (m.ts == ts) {
            out.push_back(m);
          }
        }
      }
    }
    return out;
  });
}

std::optional<SlackMessage> FakeSlack::message(const std::string& channel_id,
                                               const std::string& ts) const {
  auto c = channel(channel_id);
  if (!c) {
    return std::nullopt;
  }
  for (auto& m : c->messages) {
    if (m.ts == ts) {
      return m;
    }
  }
  return std::nullopt;
}

std::vector<EphemeralMessage> FakeSlack::ephemerals() const {
  return impl_->state.read([](const State& s) { return s.ephemerals; });
}

std::vector<OpenedView> FakeSlack::views() const {
  return impl_->state.read([](const State& s) { return s.views; });
}

std::vector<BlockKitViolation> FakeSlack::violations() const {
  return impl_->state.read([](const State& s) { return s.violations; });
}

std::vector<ResponseUrlPost> FakeSlack::response_url_posts() const {
  return impl_->state.read([](const State& s) { return s.response_posts; });
}

bool FakeSlack::wait_until(const std::function<bool()>& condition,
                           std::chrono::milliseconds timeout) const {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const std::uint64_t seen = impl_->state.version();
    if (condition()) {
      return true;
    }
    if (SteadyClock::now() >= deadline) {
      return false;
    }
    impl_->state.wait_for_change(seen, deadline);
  }
}

bool FakeSlack::wait_for_calls(const std::string& method, std::size_t count,
                               std::chrono::milliseconds timeout) const {
  return wait_until([&] { return call_count(method) >= count; }, timeout);
}

bool FakeSlack::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        return impl_->state.read([](const State& s) { return s.message_order.size(); }) >= count;
      },
      timeout);
}

std::string FakeSlack::push_envelope(const std::string& type, nlohmann::json payload,
                                     bool accepts_response_payload) {
  const std::string id = random_uuid();
  json envelope{{"envelope_id", id},
                {"payload", std::move(payload)},
                {"type", type},
                {"accepts_response_payload", accepts_response_payload}};
  if (type == "events_api") {
    envelope["retry_attempt"] = 0;
    envelope["retry_reason"] = "";
  }
  const bool connected = impl_->state.write([&](State& s) {
    s.envelopes[id] = envelope;
    if (s.open_ws.empty()) {
      s.pending_envelopes.push_back(id);
      return false;
    }
    return true;
  });
  if (connected) {
    impl_->send_on_newest(envelope.dump());
  }
  return id;
}

std::optional<nlohmann::json> FakeSlack::wait_for_ack(const std::string& envelope_id,
                                                      std::chrono::milliseconds timeout) const {
  std::optional<json> found;
  wait_until(
      [&] {
        found = impl_->state.read([&](const State& s) -> std::optional<json> {
          for (const auto& ack : s.acks) {
            if (ack.value("envelope_id", "") == envelope_id) {
              json out = ack;
              out.erase("_connection");
              return out;
            }
          }
          return std::nullopt;
        });
        return found.has_value();
      },
      timeout);
  return found;
}

std::vector<nlohmann::json> FakeSlack::acks() const {
  return impl_->state.read([](const State& s) {
    std::vector<json> out = s.acks;
    for (auto& ack : out) {
      ack.erase("_connection");
    }
    return out;
  });
}

std::vector<nlohmann::json> FakeSlack::unexpected_frames() const {
  return impl_->state.read([](const State& s) { return s.unexpected_frames; });
}

bool FakeSlack::redeliver(const std::string& envelope_id) {
  std::optional<json> envelope = impl_->state.write([&](State& s) -> std::optional<json> {
    auto it = s.envelopes.find(envelope_id);
    if (it == s.envelopes.end()) {
      return std::nullopt;
    }
    it->second["retry_attempt"] = it->second.value("retry_attempt", 0) + 1;
    it->second["retry_reason"] = "timeout";
    if (s.open_ws.empty()) {
      s.pending_envelopes.push_back(envelope_id);
      return json();
    }
    return it->second;
  });
  if (!envelope) {
    return false;
  }
  if (!envelope->is_null()) {
    impl_->send_on_newest(envelope->dump());
  }
  return true;
}

bool FakeSlack::send_disconnect(const std::string& reason,
                                std::optional<std::chrono::milliseconds> close_after) {
  std::weak_ptr<WsSession> target;
  impl_->state.read([&](const State& s) {
    if (!s.open_ws.empty()) {
      target = s.open_ws.rbegin()->second;
    }
  });
  if (target.expired()) {
    return false;
  }
  const std::string text =
      json{{"type", "disconnect"}, {"reason", reason}, {"debug_info", {{"host", "fake"}}}}.dump();
  impl_->run_on_io([target, text, close_after] {
    if (auto ws = target.lock()) {
      ws->send(text);
      if (close_after) {
        ws->close_after(*close_after);
      }
    }
  });
  return true;
}

void FakeSlack::drop_connections() {
  impl_->run_on_io([this] {
    std::vector<std::shared_ptr<WsSession>> sessions;
    impl_->state.read([&](const State& s) {
      for (const auto& [number, weak] : s.open_ws) {
        if (auto ws = weak.lock()) {
          sessions.push_back(ws);
        }
      }
    });
    for (auto& ws : sessions) {
      ws->reset();
    }
  });
}

std::size_t FakeSlack::open_connections() const {
  return impl_->state.read([](const State& s) { return s.open_ws.size(); });
}

std::size_t FakeSlack::connections_opened() const {
  return impl_->state.read([](const State& s) { return s.connections_opened; });
}

bool FakeSlack::wait_for_connections_opened(std::size_t count,
                                            std::chrono::milliseconds timeout) const {
  return wait_until([&] { return connections_opened() >= count; }, timeout);
}

// ---------------------------------------------------------------------------------------
// Signing and the driver

std::string slack_signature(const std::string& signing_secret, const std::string& timestamp,
                            const std::string& body) {
  const std::string base = "v0:" + timestamp + ":" + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), signing_secret.data(), static_cast<int>(signing_secret.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "v0=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

SlackDriver::SlackDriver(std::string signing_secret, std::chrono::milliseconds timeout)
    : signing_secret_(std::move(signing_secret)), timeout_(timeout) {}

DriverResponse SlackDriver::post_raw(const std::string& url, const std::string& body,
                                     const std::string& content_type,
                                     const SigningOptions& options) const {
  constexpr std::string_view kScheme = "http://";
  const std::size_t slash = url.find('/', kScheme.size());
  const std::string base = url.substr(0, slash);
  const std::string target = slash == std::string::npos ? "/" : url.substr(slash);
  http::BlockingClient client(http::parse_base_url(base), timeout_);

  const std::string timestamp = std::to_string(options.timestamp.value_or(unix_now()));
  std::string signature = slack_signature(signing_secret_, timestamp, body);
  if (options.corrupt_signature) {
    signature.back() = signature.back() == '0' ? '1' : '0';
  }
  std::map<std::string, std::string> headers{
      {"User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"},
      {"Accept", "application/json,*/*"}};
  if (!options.omit_timestamp) {
    headers["X-Slack-Request-Timestamp"] = timestamp;
  }
  if (!options.omit_signature) {
    headers["X-Slack-Signature"] = signature;
  }
  if (options.retry_num) {
    headers["X-Slack-Retry-Num"] = std::to_string(*options.retry_num);
    headers["X-Slack-Retry-Reason"] = options.retry_reason;
  }
  auto response = client.request("POST", target, body, content_type, headers);
  return DriverResponse{response.status, response.content_type, response.body};
}

DriverResponse SlackDriver::post_slash_command(const std::string& url, const FormFields& fields,
                                               const SigningOptions& options) const {
  return post_raw(url, form_encode(fields), "application/x-www-form-urlencoded", options);
}

DriverResponse SlackDriver::post_event(const std::string& url, const nlohmann::json& body,
                                       const SigningOptions& options) const {
  return post_raw(url, body.dump(), "application/json", options);
}

DriverResponse SlackDriver::post_interaction(const std::string& url, const nlohmann::json& payload,
                                             const SigningOptions& options) const {
  return post_raw(url, form_encode({{"payload", payload.dump()}}),
                  "application/x-www-form-urlencoded", options);
}

// ---------------------------------------------------------------------------------------
// Payload builders

struct SlackPayloads::Counters {
  std::atomic<std::uint64_t> ts{1};
  std::atomic<std::uint64_t> id{1};
};

SlackPayloads::SlackPayloads(SlackIdentity identity)
    : identity_(std::move(identity)), counters_(std::make_shared<Counters>()) {}

std::string SlackPayloads::next_ts() {
  // A different second from the fake's own ts, so the two never collide.
  return format_ts(1710000000, counters_->ts.fetch_add(1));
}

namespace {

json rich_text(const std::string& text) {
  return json::array(
      {{{"type", "rich_text"},
        {"block_id", random_uuid().substr(0, 5)},
        {"elements",
         json::array({{{"type", "rich_text_section"},
                       {"elements", json::array({{{"type", "text"}, {"text", text}}})}}})}}});
}

std::string fake_trigger_id() {
  return "1710000000000.4200000000." + random_uuid().substr(0, 8);
}

}  // namespace

FormFields SlackPayloads::slash_command(const SlashCommand& command) {
  const std::uint64_t n = counters_->id.fetch_add(1);
  return FormFields{
      {"token", "fake-verification-token"},
      {"team_id", identity_.team_id},
      {"team_domain", identity_.team_domain},
      {"channel_id", command.channel_id},
      {"channel_name", command.channel_name},
      {"user_id", command.user_id},
      {"user_name", command.user_name},
      {"command", command.command},
      {"text", command.text},
      {"api_app_id", identity_.app_id},
      {"is_enterprise_install", "false"},
      {"response_url", command.response_url.empty()
                           ? "https://hooks.slack.com/commands/" + identity_.team_id + "/" +
                                 std::to_string(n) + "/fake"
                           : command.response_url},
      {"trigger_id", command.trigger_id.empty() ? fake_trigger_id() : command.trigger_id},
  };
}

nlohmann::json SlackPayloads::url_verification(const std::string& challenge) const {
  return json{
      {"token", "fake-verification-token"}, {"challenge", challenge}, {"type", "url_verification"}};
}

nlohmann::json SlackPayloads::message(const std::string& channel, const std::string& user,
                                      const std::string& text, std::string ts,
                                      const std::string& thread_ts) {
  if (ts.empty()) {
    ts = next_ts();
  }
  json event{{"type", "message"},
             {"channel", channel},
             {"user", user},
             {"text", text},
             {"ts", ts},
             {"event_ts", ts},
             {"channel_type", channel.starts_with("D") ? "im" : "channel"},
             {"client_msg_id", random_uuid()},
             {"team", identity_.team_id},
             {"blocks", rich_text(text)}};
  if (!thread_ts.empty()) {
    event["thread_ts"] = thread_ts;
    event["parent_user_id"] = identity_.bot_user_id;
  }
  return event;
}

nlohmann::json SlackPayloads::message_changed(const std::string& channel, const std::string& user,
                                              const std::string& ts, const std::string& new_text,
                                              const std::string& old_text) {
  const std::string event_ts = next_ts();
  return json{{"type", "message"},
              {"subtype", "message_changed"},
              {"channel", channel},
              {"hidden", true},
              {"ts", event_ts},
              {"event_ts", event_ts},
              {"channel_type", "channel"},
              {"message",
               {{"type", "message"},
                {"user", user},
                {"text", new_text},
                {"ts", ts},
                {"team", identity_.team_id},
                {"client_msg_id", random_uuid()},
                {"edited", {{"user", user}, {"ts", event_ts}}},
                {"blocks", rich_text(new_text)}}},
              {"previous_message",
               {{"type", "message"},
                {"user", user},
                {"text", old_text},
                {"ts", ts},
                {"team", identity_.team_id},
                {"blocks", rich_text(old_text)}}}};
}

nlohmann::json SlackPayloads::message_deleted(const std::string& channel,
                                              const std::string& deleted_ts,
                                              const std::string& user,
                                              const std::string& old_text) {
  const std::string event_ts = next_ts();
  return json{{"type", "message"},
              {"subtype", "message_deleted"},
              {"channel", channel},
              {"hidden", true},
              {"deleted_ts", deleted_ts},
              {"ts", event_ts},
              {"event_ts", event_ts},
              {"channel_type", "channel"},
              {"previous_message",
               {{"type", "message"},
                {"user", user},
                {"text", old_text},
                {"ts", deleted_ts},
                {"team", identity_.team_id}}}};
}

nlohmann::json SlackPayloads::file_share(const std::string& channel, const std::string& user,
                                         const std::string& text,
                                         const std::vector<nlohmann::json>& files) {
  const std::string ts = next_ts();
  json file_list = json::array();
  for (const auto& f : files) {
    json file = f;
    const std::string id = f.value("id", "F0FILE");
    const std::string name = f.value("name", "file.txt");
    const auto fill = [&](const char* key, json value) {
      if (!file.contains(key)) {
        file[key] = std::move(value);
      }
    };
    fill("created", 1710000000);
    fill("timestamp", 1710000000);
    fill("title", name);
    fill("mimetype", "text/plain");
    fill("filetype", "text");
    fill("pretty_type", "Plain Text");
    fill("user", user);
    fill("user_team", identity_.team_id);
    fill("editable", false);
    fill("size", 1024);
    fill("mode", "hosted");
    fill("is_external", false);
    fill("external_type", "");
    fill("is_public", true);
    fill("public_url_shared", false);
    fill("display_as_bot", false);
    fill("username", "");
    fill("url_private",
         "https://files.slack.com/files-pri/" + identity_.team_id + "-" + id + "/" + name);
    fill("url_private_download",
         "https://files.slack.com/files-pri/" + identity_.team_id + "-" + id + "/download/" + name);
    fill("permalink",
         "https://" + identity_.team_domain + ".slack.com/files/" + user + "/" + id + "/" + name);
    fill("has_rich_preview", false);
    fill("file_access", "visible");
    file_list.push_back(std::move(file));
  }
  return json{{"type", "message"},
              {"subtype", "file_share"},
              {"text", text},
              {"files", file_list},
              {"upload", false},
              {"user", user},
              {"display_as_bot", false},
              {"ts", ts},
              {"event_ts", ts},
              {"channel", channel},
              {"channel_type", "channel"},
              {"client_msg_id", random_uuid()},
              {"team", identity_.team_id}};
}

nlohmann::json SlackPayloads::app_mention(const std::string& channel, const std::string& user,
                                          const std::string& text) {
  const std::string ts = next_ts();
  return json{{"type", "app_mention"},
              {"user", user},
              {"text", text},
              {"ts", ts},
              {"event_ts", ts},
              {"channel", channel},
              {"client_msg_id", random_uuid()},
              {"team", identity_.team_id},
              {"blocks", rich_text(text)}};
}

nlohmann::json SlackPayloads::member_joined_channel(const std::string& channel,
                                                    const std::string& user,
                                                    const std::string& inviter) {
  json event{{"type", "member_joined_channel"},
             {"user", user},
             {"channel", channel},
             {"channel_type", "C"},
             {"team", identity_.team_id},
             {"event_ts", next_ts()}};
  if (!inviter.empty()) {
    event["inviter"] = inviter;
  }
  return event;
}

nlohmann::json SlackPayloads::event_callback(nlohmann::json event) {
  const std::uint64_t n = counters_->id.fetch_add(1);
  return json{{"token", "fake-verification-token"},
              {"team_id", identity_.team_id},
              {"context_team_id", identity_.team_id},
              {"context_enterprise_id", nullptr},
              {"api_app_id", identity_.app_id},
              {"event", std::move(event)},
              {"type", "event_callback"},
              {"event_id", slack_id('E', n).insert(1, "v")},
              {"event_time", unix_now()},
              {"authorizations", json::array({{{"enterprise_id", nullptr},
                                               {"team_id", identity_.team_id},
                                               {"user_id", identity_.bot_user_id},
                                               {"is_bot", true},
                                               {"is_enterprise_install", false}}})},
              {"is_ext_shared_channel", false},
              {"event_context", "4-fake-" + std::to_string(n)}};
}

nlohmann::json SlackPayloads::block_actions(const ButtonClick& click) {
  const std::string message_ts = click.message_ts.empty() ? next_ts() : click.message_ts;
  json message = click.message.is_null()
                     ? json{{"type", "message"}, {"text", "a message with a button"}}
                     : click.message;
  message["ts"] = message_ts;
  if (!message.contains("user")) {
    message["user"] = identity_.bot_user_id;
    message["bot_id"] = identity_.bot_id;
    message["app_id"] = identity_.app_id;
  }
  message["team"] = identity_.team_id;
  const std::uint64_t n = counters_->id.fetch_add(1);
  return json{
      {"type", "block_actions"},
      {"user",
       {{"id", click.user_id},
        {"username", click.user_name},
        {"name", click.user_name},
        {"team_id", identity_.team_id}}},
      {"api_app_id", identity_.app_id},
      {"token", "fake-verification-token"},
      {"container",
       {{"type", "message"},
        {"message_ts", message_ts},
        {"channel_id", click.channel_id},
        {"is_ephemeral", false}}},
      {"trigger_id", click.trigger_id.empty() ? fake_trigger_id() : click.trigger_id},
      {"team", {{"id", identity_.team_id}, {"domain", identity_.team_domain}}},
      {"enterprise", nullptr},
      {"is_enterprise_install", false},
      {"channel", {{"id", click.channel_id}, {"name", click.channel_name}}},
      {"message", message},
      {"state", {{"values", json::object()}}},
      {"response_url", click.response_url.empty()
                           ? "https://hooks.slack.com/actions/" + identity_.team_id + "/" +
                                 std::to_string(n) + "/fake"
                           : click.response_url},
      {"actions",
       json::array(
           {{{"action_id", click.action_id},
             {"block_id", click.block_id},
             {"text", {{"type", "plain_text"}, {"text", click.button_text}, {"emoji", true}}},
             {"value", click.value},
             {"type", "button"},
             {"action_ts", next_ts()}}})}};
}

nlohmann::json SlackPayloads::view_submission(const nlohmann::json& view,
                                              const nlohmann::json& state_values,
                                              const std::string& user_id,
                                              const std::string& view_id, std::string trigger_id) {
  const std::uint64_t n = counters_->id.fetch_add(1);
  const std::string id = view_id.empty() ? slack_id('V', n) : view_id;
  if (trigger_id.empty()) {
    trigger_id = fake_trigger_id();
  }
  json submitted = view;
  submitted["id"] = id;
  submitted["team_id"] = identity_.team_id;
  submitted["state"] = {{"values", state_values}};
  submitted["hash"] = "1710000000." + id;
  submitted["previous_view_id"] = nullptr;
  submitted["root_view_id"] = id;
  submitted["app_id"] = identity_.app_id;
  submitted["app_installed_team_id"] = identity_.team_id;
  submitted["bot_id"] = identity_.bot_id;
  for (const char* key : {"private_metadata", "callback_id", "external_id"}) {
    if (!submitted.contains(key)) {
      submitted[key] = "";
    }
  }
  submitted["clear_on_close"] = view.value("clear_on_close", false);
  submitted["notify_on_close"] = view.value("notify_on_close", false);
  return json{
      {"type", "view_submission"},
      {"team", {{"id", identity_.team_id}, {"domain", identity_.team_domain}}},
      {"user",
       {{"id", user_id}, {"username", user_id}, {"name", user_id}, {"team_id", identity_.team_id}}},
      {"api_app_id", identity_.app_id},
      {"token", "fake-verification-token"},
      {"trigger_id", trigger_id},
      {"view", submitted},
      {"response_urls", json::array()},
      {"is_enterprise_install", false},
      {"enterprise", nullptr}};
}

nlohmann::json SlackPayloads::state_values(const nlohmann::json& view,
                                           const std::map<std::string, std::string>& answers) {
  json values = json::object();
  if (!view.contains("blocks") || !view["blocks"].is_array()) {
    return values;
  }
  for (const auto& block : view["blocks"]) {
    if (!block.is_object() || block.value("type", "") != "input" || !block.contains("element")) {
      continue;
    }
    const std::string block_id = block.value("block_id", "");
    const json& element = block["element"];
    const std::string type = element.value("type", "");
    const std::string action_id = element.value("action_id", "value");
    auto answer_it = answers.find(block_id);
    const bool answered = answer_it != answers.end() && !answer_it->second.empty();
    const std::string answer = answered ? answer_it->second : "";
    const auto option_for = [&](const std::string& value) {
      if (element.contains("options") && element["options"].is_array()) {
        for (const auto& option : element["options"]) {
          if (option.value("value", "") == value) {
            return option;
          }
        }
      }
      return json{{"text", {{"type", "plain_text"}, {"text", value}, {"emoji", true}}},
                  {"value", value}};
    };
    json state{{"type", type}};
    if (type == "static_select" || type == "external_select" || type == "radio_buttons") {
      state["selected_option"] = answered ? option_for(answer) : json();
    } else if (type == "multi_static_select" || type == "checkboxes" ||
               type == "multi_external_select") {
      json selected = json::array();
      for (const auto& value : split_commas(answer)) {
        selected.push_back(option_for(value));
      }
      state["selected_options"] = selected;
    } else if (type == "datepicker") {
      state["selected_date"] = answered ? json(answer) : json();
    } else if (type == "timepicker") {
      state["selected_time"] = answered ? json(answer) : json();
    } else if (type == "users_select") {
      state["selected_user"] = answered ? json(answer) : json();
    } else if (type == "multi_users_select") {
      state["selected_users"] = split_commas(answer);
    } else if (type == "conversations_select") {
      state["selected_conversation"] = answered ? json(answer) : json();
    } else if (type == "channels_select") {
      state["selected_channel"] = answered ? json(answer) : json();
    } else {
      state["value"] = answered ? json(answer) : json();
    }
    values[block_id][action_id] = state;
  }
  return values;
}

nlohmann::json to_json(const FormFields& fields) {
  json out = json::object();
  for (const auto& [key, value] : fields) {
    out[key] = value;
  }
  return out;
}

std::string form_encode(const FormFields& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) {
      out += '&';
    }
    out += percent_encode(key) + "=" + percent_encode(value);
  }
  return out;
}

}  // namespace haveri::fakes
