// `haverictl chat`: a terminal client of the local chat plugin (plugins/local).
//
// Threads: the main thread reads stdin, posts lines and runs the commands (/press,
// /form, …); one poller thread reads new messages every 300 ms. They share the
// current channel, the read cursor, what can be pressed or filled in, and the output
// stream, all inside one Guarded<Screen>, so lines never interleave and a /join
// cannot race with a poll of the old channel (see `generation`). While /form asks
// its questions the poller holds back (see `paused`) so answers and chatter do not
// mix; what arrived meanwhile is shown afterwards.
#include "chat_client.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <iomanip>
#include <istream>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "blocking_client.hpp"

namespace haveri::ctl {

namespace {

using nlohmann::json;

constexpr std::uint64_t kPageSize = 500;  // the plugin's maximum page
constexpr std::size_t kHistoryLines = 20;
constexpr std::chrono::milliseconds kPollInterval{300};
constexpr std::chrono::milliseconds kPollTimeout{5000};
constexpr std::chrono::milliseconds kPostTimeout{10000};
constexpr int kPostRetries = 3;
constexpr std::chrono::milliseconds kPostRetryPause{500};
// How long /form waits for a form to arrive: the bot's reply to the line just sent
// (say, a declare form) may still be on its way when a script sends /form.
constexpr std::chrono::milliseconds kAwaitForm{2000};
constexpr std::chrono::milliseconds kAwaitStep{100};
// Messages with buttons or a form remembered per channel, newest kept.
constexpr std::size_t kRememberedActionable = 1000;
// What a prompt shows of an input's default or placeholder.
constexpr std::size_t kHintChars = 60;

constexpr std::string_view kCommandsHelp =
    R"(In the chat, a line is posted as a message; "/incident <command>" talks to the bot.
Lines the client handles itself:
  /press <n>                    press button n ([n Label]) of the newest message with buttons
  /form                         fill in the newest form shown to you, one input at a time
                                (a multiline answer ends with a line holding a single ".";
                                /cancel stops without submitting)
  /edit <id> <text>             change one of your messages; <id> is the number shown as
                                [id] before each message, or "last" for your latest
  /delete <id>                  delete one of your messages (or "last")
  /attach <name> <bytes> [url]  post a reference to a file: its name, size and URL, never
                                its bytes
  /join <channel>               switch to another channel
  /help                         show this list
  /quit                         leave (so does Ctrl-D)
)";

// A value that is only ever touched under its own lock.
template <class T>
class Guarded {
 public:
  explicit Guarded(T value) : value_(std::move(value)) {}
  template <class F>
  decltype(auto) with(F&& f) {
    std::lock_guard lock(mutex_);
    return std::forward<F>(f)(value_);
  }

 private:
  std::mutex mutex_;
  T value_;
};

// A button: what it says and the command pressing it runs.
struct Button {
  std::string label;
  std::string command;
};

// A bot message in the current channel that can be acted on.
struct Actionable {
  std::uint64_t seq = 0;
  std::vector<Button> buttons;
  json form;  // the neutral message's "form"; null for none
};

// What the terminal shows and where reading continues.
struct Screen {
  std::ostream* out = nullptr;
  std::string channel;
  std::uint64_t cursor = 0;      // highest seq already accounted for in `channel`
  std::string epoch;             // the plugin instance's epoch the cursor belongs to
  std::uint64_t generation = 0;  // bumped by /join; a poll of an older one is dropped
  bool poll_failing = false;     // print "unreachable" once, not every 300 ms
  bool paused = false;           // /form is asking questions: polls wait
  std::map<std::string, Actionable> actionable;  // by message id, in `channel`
  std::string last_own_id;                       // my newest message in `channel`
};

// One message as GET /messages gives it (plugins/local, docs/plugin-abi.md).
struct ChatLine {
  std::uint64_t seq = 0;
  std::string id;
  std::string from;
  bool bot = false;
  bool system = false;
  bool edited = false;
  bool deleted = false;
  bool only_for_me = false;  // posted with visible_to
  std::string text;          // as typed, or the bot's card rendered by the plugin
  std::string thread_id;
  json files;    // [{"id","name","size","url","mimetype"}] or null
  json message;  // the bot's neutral message, or null
};

// A non-200 answer, with the server's {"error"} text when it gave one.
class HttpStatusError : public std::runtime_error {
 public:
  HttpStatusError(int status, const std::string& error)
      : std::runtime_error(error), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

// Text from other people, the bot or the server made safe to print: C0 controls
// (except '\n'), DEL, C1 controls and malformed UTF-8 become U+FFFD, so nobody can
// send escape sequences to our terminal; a tab becomes a space. Valid UTF-8, such as
// the box-drawing bar of a card, passes unchanged.
std::string printable(std::string_view text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80U) {
      if (byte == '\n' || (byte >= 0x20U && byte != 0x7FU)) {
        out += static_cast<char>(byte);
      } else if (byte == '\t') {
        out += ' ';
      } else {
        out += kReplacement;
      }
      ++i;
      continue;
    }
    // The length of a well-formed UTF-8 sequence starting here, or 0 (RFC 3629:
    // no overlong forms, no surrogates, nothing above U+10FFFF).
    const auto at = [&](std::size_t k) {
      return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0U;
    };
    const auto continuation = [](unsigned c, unsigned low = 0x80U, unsigned high = 0xBFU) {
      return c >= low && c <= high;
    };
    std::size_t length = 0;
    if (byte >= 0xC2U && byte <= 0xDFU && continuation(at(1))) {
      length = 2;
    } else if (byte == 0xE0U && continuation(at(1), 0xA0U) && continuation(at(2))) {
      length = 3;
    } else if (((byte >= 0xE1U && byte <= 0xECU) || byte == 0xEEU || byte == 0xEFU) &&
               continuation(at(1)) && continuation(at(2))) {
      length = 3;
    } else if (byte == 0xEDU && continuation(at(1), 0x80U, 0x9FU) && continuation(at(2))) {
      length = 3;
    } else if (byte == 0xF0U && continuation(at(1), 0x90U) && continuation(at(2)) &&
               continuation(at(3))) {
      length = 4;
    } else if (byte >= 0xF1U && byte <= 0xF3U && continuation(at(1)) && continuation(at(2)) &&
               continuation(at(3))) {
      length = 4;
    } else if (byte == 0xF4U && continuation(at(1), 0x80U, 0x8FU) && continuation(at(2)) &&
               continuation(at(3))) {
      length = 4;
    }
    const bool c1_control = length == 2 && byte == 0xC2U && at(1) <= 0x9FU;  // U+0080..U+009F
    if (length == 0 || c1_control) {
      out += kReplacement;
      i += length == 0 ? 1 : length;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string error_text(const http::ClientResponse& response) {
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    return printable(body["error"].get<std::string>());
  }
  return response.body.empty() ? "no details" : printable(response.body.substr(0, 200));
}

std::string random_hex16() {
  std::random_device device;
  std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
  std::ostringstream hex;
  hex << std::hex << std::setw(16) << std::setfill('0') << generator();
  return hex.str();
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool bool_at(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

ChatLine line_of(const json& m) {
  ChatLine line;
  line.seq = m["seq"].get<std::uint64_t>();
  line.id = string_at(m, "id");
  if (line.id.empty()) {
    line.id = std::to_string(line.seq);  // a plugin from before message ids
  }
  line.from = m.contains("from") && m["from"].is_string() ? m["from"].get<std::string>() : "?";
  line.bot = bool_at(m, "bot");
  line.system = bool_at(m, "system");
  line.edited = bool_at(m, "edited");
  line.deleted = bool_at(m, "deleted");
  line.only_for_me = !string_at(m, "visible_to").empty();
  line.text = string_at(m, "text");
  line.thread_id = string_at(m, "thread_id");
  if (const auto files = m.find("files"); files != m.end() && files->is_array()) {
    line.files = *files;
  }
  if (const auto message = m.find("message"); message != m.end() && message->is_object()) {
    line.message = *message;
  }
  return line;
}

// The buttons of a neutral message as the plugin numbers them: actions that have a
// command, from 1, in order.
std::vector<Button> buttons_of(const json& message) {
  std::vector<Button> buttons;
  const auto actions = message.is_object() ? message.find("actions") : message.end();
  if (!message.is_object() || actions == message.end() || !actions->is_array()) {
    return buttons;
  }
  for (const json& action : *actions) {
    const std::string command = string_at(action, "command");
    if (!command.empty()) {
      const std::string label = string_at(action, "label");
      buttons.push_back(Button{label.empty() ? command : label, command});
    }
  }
  return buttons;
}

json form_of(const json& message) {
  if (!message.is_object()) {
    return nullptr;
  }
  const auto form = message.find("form");
  return form != message.end() && form->is_object() && !string_at(*form, "id").empty() ? *form
                                                                                       : json();
}

// Under the screen lock: remembers what a message lets a person do.
void track(Screen& s, const ChatLine& line) {
  if (!line.bot) {
    return;
  }
  Actionable actionable{line.seq, buttons_of(line.message), form_of(line.message)};
  if (line.deleted || (actionable.buttons.empty() && actionable.form.is_null())) {
    s.actionable.erase(line.id);
    return;
  }
  s.actionable[line.id] = std::move(actionable);
  while (s.actionable.size() > kRememberedActionable) {
    s.actionable.erase(
        std::min_element(s.actionable.begin(), s.actionable.end(),
                         [](const auto& a, const auto& b) { return a.second.seq < b.second.seq; }));
  }
}

// Under the screen lock: the newest remembered message that `has` something.
template <class Has>
const Actionable* newest(const Screen& s, Has has) {
  const Actionable* found = nullptr;
  for (const auto& [id, actionable] : s.actionable) {
    if (has(actionable) && (found == nullptr || actionable.seq > found->seq)) {
      found = &actionable;
    }
  }
  return found;
}

std::string size_text(const json& size) {
  return size.is_number_unsigned() ? std::to_string(size.get<std::uint64_t>()) + " bytes"
                                   : std::string("? bytes");
}

// Names and text come from other people and the bot: all goes through printable().
void print_line(std::ostream& out, const ChatLine& line) {
  if (line.system) {
    out << "* " << printable(line.text) << '\n';
    return;
  }
  const std::string head = "[" + printable(line.id) + "] " + printable(line.from);
  if (line.deleted) {
    out << head << " deleted this message\n";
    return;
  }
  std::string tags;
  if (line.edited) {
    tags += " (edited)";
  }
  if (line.only_for_me) {
    tags += " (only you can see this)";
  }
  if (!line.thread_id.empty()) {
    tags += " (in the thread of [" + printable(line.thread_id) + "])";
  }
  const std::string text = printable(line.text);
  if (line.bot) {
    // The plugin already rendered the card as text lines; indent them under the name.
    out << head << tags << ":\n";
    std::string_view rest = text;
    while (true) {
      const std::size_t nl = rest.find('\n');
      out << "  " << rest.substr(0, nl) << '\n';
      if (nl == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(nl + 1);
    }
  } else {
    out << head << tags << ":" << (text.empty() ? "" : " " + text) << '\n';
  }
  if (line.files.is_array()) {
    for (const json& file : line.files) {
      out << "  [file] " << printable(string_at(file, "name")) << ", "
          << size_text(file.is_object() && file.contains("size") ? file["size"] : json()) << ", "
          << printable(string_at(file, "url")) << '\n';
    }
  }
}

// ---------------------------------------------------------------------------------
// Checking answers to a form's inputs, as the plugin will (plugins/local).

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 30 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_decimal_number(std::string_view s) {
  if (s.starts_with('-')) {
    s.remove_prefix(1);
  }
  const std::size_t dot = s.find('.');
  return dot == std::string_view::npos
             ? all_digits(s)
             : all_digits(s.substr(0, dot)) && all_digits(s.substr(dot + 1));
}

std::string input_kind(const json& input) {
  std::string kind = string_at(input, "kind");
  for (const std::string_view known : {"text", "multiline", "number", "select", "date", "user"}) {
    if (kind == known) {
      return kind;
    }
  }
  return "text";  // an unknown kind reads as text, as in the plugin
}

std::string input_label(const json& input) {
  const std::string label = string_at(input, "label");
  return label.empty() ? string_at(input, "name") : label;
}

// The input's max_length in code points; 0 for none.
std::size_t max_length(const json& input) {
  const auto it = input.find("max_length");
  return it != input.end() && it->is_number_unsigned() ? it->get<std::size_t>() : 0;
}

// At most `max` code points of the first line of `s`, marked "…" when cut.
std::string shorten(const std::string& s, std::size_t max) {
  std::string line = s.substr(0, s.find('\n'));
  std::size_t seen = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0U) != 0x80U && seen++ == max) {
      return line.substr(0, i) + "\xE2\x80\xA6";  // …
    }
  }
  return line.size() < s.size() ? line + "\xE2\x80\xA6" : line;
}

std::vector<std::pair<std::string, std::string>> options_of(const json& input) {
  std::vector<std::pair<std::string, std::string>> options;  // value, label
  const auto it = input.find("options");
  if (it != input.end() && it->is_array()) {
    for (const json& option : *it) {
      if (const std::string value = string_at(option, "value"); !value.empty()) {
        options.emplace_back(value, string_at(option, "label"));
      }
    }
  }
  return options;
}

// What is wrong with `answer`, or "" when the plugin will take it: the rules the
// plugin checks (required, max_length in code points, numbers, one line unless
// multiline, select options); the daemon may still refuse an answer it cannot use.
std::string answer_problem(const json& input, const std::string& answer) {
  const std::string kind = input_kind(input);
  if (answer.empty()) {
    return bool_at(input, "required") ? "an answer is required" : std::string{};
  }
  if (kind != "multiline" && std::any_of(answer.begin(), answer.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20U || static_cast<unsigned char>(c) == 0x7FU;
      })) {
    return "one line of text, please";
  }
  if (const std::size_t max = max_length(input); max > 0 && code_points(answer) > max) {
    return "at most " + std::to_string(max) + " characters, please (that was " +
           std::to_string(code_points(answer)) + ")";
  }
  if (kind == "number" && !is_decimal_number(answer)) {
    return "a number, please, such as 42 or -1.5";
  }
  if (kind == "select") {
    const auto options = options_of(input);
    if (std::none_of(options.begin(), options.end(),
                     [&answer](const auto& option) { return option.first == answer; })) {
      return "one of the options, please (its value or its number)";
    }
  }
  return {};
}

// "/press 2" -> "2" for command "/press"; nullopt when `line` is not that command.
std::optional<std::string_view> command_argument(std::string_view line, std::string_view command) {
  if (line == command) {
    return std::string_view{};
  }
  if (line.starts_with(command) && line.size() > command.size() && line[command.size()] == ' ') {
    return trim(line.substr(command.size()));
  }
  return std::nullopt;
}

// Runs on: the main thread (run and the commands) and the poller thread (poll_loop);
// what both touch is in screen_.
class ChatSession {
 public:
  ChatSession(const ChatOptions& options, std::ostream& out)
      : options_(options),
        base_(http::parse_base_url(options.url)),
        hook_prefix_("/hooks/" + options.instance),
        screen_(Screen{&out, options.channel, 0, {}, 0, false, false, {}, {}}) {}

  int run(std::istream& in, std::ostream& err) {
    std::vector<ChatLine> history;
    ReadResult read;
    try {
      read = read_after(options_.channel, 0, {}, history, kPollTimeout);
    } catch (const HttpStatusError& e) {
      if (e.status() == 404) {
        err << "haverictl: haverid at " << options_.url << " has no chat instance \""
            << options_.instance << "\" (404: " << printable(e.what())
            << "); pass --instance with the name of a local plugin instance\n";
      } else {
        err << "haverictl: haverid answered " << e.status() << ": " << printable(e.what()) << '\n';
      }
      return 1;
    } catch (const std::exception& e) {  // http::ClientError, or a broken answer
      err << "haverictl: cannot reach haverid (is it running?): " << printable(e.what()) << '\n';
      return 1;
    }
    screen_.with([&](Screen& s) {
      *s.out << "Connected to #" << options_.channel << " on " << options_.url << " as "
             << options_.member
             << ". Type a message, /incident help, or /help for the client's commands. Ctrl-D to "
                "quit.\n";
      show_history(s, history);
      s.cursor = read.cursor;
      s.epoch = read.epoch;
      s.out->flush();
    });

    std::jthread poller([this](const std::stop_token& stop) { poll_loop(stop); });

    std::string line;
    bool quit = false;
    while (!quit && std::getline(in, line)) {
      const std::string_view text = trim(line);
      if (text.empty()) {
        continue;
      }
      if (text == "/quit") {
        quit = true;
      } else if (auto channel = command_argument(text, "/join")) {
        join(std::string(*channel));
      } else if (auto number = command_argument(text, "/press")) {
        press(*number);
      } else if (command_argument(text, "/form")) {
        fill_form(in);
      } else if (auto change = command_argument(text, "/edit")) {
        edit(*change);
      } else if (auto id = command_argument(text, "/delete")) {
        remove(*id);
      } else if (auto file = command_argument(text, "/attach")) {
        attach(*file);
      } else if (text == "/help") {
        say(std::string(kCommandsHelp));
      } else {
        send(std::string(text));
      }
    }

    if (!quit) {
      // Replies to the last line arrive a moment after it was accepted.
      std::this_thread::sleep_for(options_.linger);
    }
    poller.request_stop();  // wakes the poller's wait at once
    poller.join();
    return 0;
  }

 private:
  // Reads every message of `channel` after seq `after` into `lines`; returns the new
  // cursor and the instance's epoch. When the last page was short, nothing in the
  // channel lies between the last message and last_seq, so the cursor may jump there.
  //
  // The local plugin keeps its channels in memory: after a haverid restart its seq
  // numbers start again from 1. It says so with a new "epoch" (or, failing that, a
  // last_seq below `after`), and reading starts over from the beginning.
  struct ReadResult {
    std::uint64_t cursor = 0;
    std::string epoch;
    bool restarted = false;
  };
  ReadResult read_after(const std::string& channel, std::uint64_t after,
                        const std::string& known_epoch, std::vector<ChatLine>& lines,
                        std::chrono::milliseconds timeout) const {
    const http::BlockingClient client(base_, timeout);
    ReadResult result{after, known_epoch, false};
    std::uint64_t& cursor = result.cursor;
    while (true) {
      // `user` lets the plugin include what was posted for our eyes only.
      const auto response =
          client.get(hook_prefix_ + "/messages?channel=" + channel + "&user=" + options_.member +
                     "&after=" + std::to_string(cursor) + "&limit=" + std::to_string(kPageSize));
      if (response.status != 200) {
        throw HttpStatusError(response.status, error_text(response));
      }
      const json page = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
      if (!page.is_object() || !page.contains("messages") || !page["messages"].is_array() ||
          !page.contains("last_seq") || !page["last_seq"].is_number_unsigned()) {
        throw HttpStatusError(response.status,
                              "unexpected answer: " + printable(response.body.substr(0, 200)));
      }
      const auto last_seq = page["last_seq"].get<std::uint64_t>();
      const std::string epoch = string_at(page, "epoch");
      const bool epoch_changed = !result.epoch.empty() && epoch != result.epoch;
      result.epoch = epoch;
      if (cursor > 0 && (epoch_changed || last_seq < cursor)) {
        result.restarted = true;
        lines.clear();
        cursor = 0;
        continue;  // this page was read with a cursor from before the restart
      }
      for (const json& m : page["messages"]) {
        if (!m.is_object() || !m.contains("seq") || !m["seq"].is_number_unsigned()) {
          continue;
        }
        ChatLine line = line_of(m);
        cursor = std::max(cursor, line.seq);
        lines.push_back(std::move(line));
      }
      if (page["messages"].size() < kPageSize) {
        cursor = std::max(cursor, last_seq);
        return result;
      }
    }
  }

  // Under the screen lock: the last kHistoryLines lines of a channel just opened.
  void show_history(Screen& s, const std::vector<ChatLine>& history) const {
    for (const ChatLine& line : history) {
      track(s, line);
    }
    const std::size_t skip = history.size() > kHistoryLines ? history.size() - kHistoryLines : 0;
    if (skip > 0) {
      *s.out << "(" << skip << " earlier messages not shown)\n";
    }
    for (std::size_t i = skip; i < history.size(); ++i) {
      print_line(*s.out, history[i]);
    }
  }

  void poll_loop(const std::stop_token& stop) {
    std::mutex mutex;
    std::condition_variable_any wake;  // waiting with `stop` lets request_stop() wake it
    while (true) {
      poll_once();
      std::unique_lock lock(mutex);
      wake.wait_for(lock, stop, kPollInterval, [] { return false; });
      if (stop.stop_requested()) {
        poll_once();  // whatever arrived during the last interval
        return;
      }
    }
  }

  // Reads what is new and shows it. Runs on the poller, and on the main thread to
  // catch up before /press and /form; polls_ keeps two from showing a line twice.
  void poll_once() {
    const std::lock_guard one_at_a_time(polls_);
    // Plain copies rather than structured bindings: the lambda below captures them.
    std::string channel;
    std::string epoch;
    std::uint64_t cursor = 0;
    std::uint64_t generation = 0;
    bool paused = false;
    screen_.with([&](Screen& s) {
      channel = s.channel;
      epoch = s.epoch;
      cursor = s.cursor;
      generation = s.generation;
      paused = s.paused;
    });
    if (paused) {
      return;
    }
    std::vector<ChatLine> lines;
    ReadResult read;
    std::string failure;
    try {
      read = read_after(channel, cursor, epoch, lines, kPollTimeout);
    } catch (const HttpStatusError& e) {
      failure = "! cannot read #" + channel + " (" + std::to_string(e.status()) + "): " + e.what();
    } catch (const std::exception& e) {  // http::ClientError, or a broken answer
      failure = std::string("! haverid unreachable: ") + e.what();
    }
    screen_.with([&](Screen& s) {
      if (s.paused) {
        return;  // /form began meanwhile: these lines are read again after it
      }
      if (!failure.empty()) {
        if (!s.poll_failing) {
          *s.out << printable(failure) << '\n';
          s.poll_failing = true;
        }
      } else if (s.generation == generation) {
        if (s.poll_failing) {
          *s.out << "! haverid is reachable again\n";
          s.poll_failing = false;
        }
        if (read.restarted) {
          *s.out << "! haverid restarted: the local chat history starts afresh\n";
          s.actionable.clear();
          s.last_own_id.clear();
        }
        for (const ChatLine& line : lines) {
          track(s, line);
          // Our own lines are already on the terminal as we typed them; what became
          // of them (edited, deleted, a file attached) is worth showing.
          const bool own_plain_line = !line.bot && !line.system && line.from == options_.member &&
                                      !line.edited && !line.deleted && !line.files.is_array();
          if (!own_plain_line) {
            print_line(*s.out, line);
          }
        }
        s.cursor = read.cursor;
        s.epoch = read.epoch;
      }
      s.out->flush();
    });
  }

  void join(std::string channel) {
    if (channel.starts_with('#')) {
      channel.erase(0, 1);
    }
    if (!valid_chat_channel(channel)) {
      say("! /join needs a channel name such as general or inc-1-db-down");
      return;
    }
    std::vector<ChatLine> history;
    ReadResult read;
    try {
      read = read_after(channel, 0, {}, history, kPollTimeout);
    } catch (const HttpStatusError& e) {
      say("! cannot join #" + channel + " (" + std::to_string(e.status()) + "): " + e.what());
      return;
    } catch (const std::exception& e) {  // http::ClientError, or a broken answer
      say(std::string("! cannot join #") + channel + ": " + e.what());
      return;
    }
    screen_.with([&](Screen& s) {
      s.channel = channel;
      s.cursor = read.cursor;
      s.epoch = read.epoch;
      ++s.generation;
      s.actionable.clear();
      s.last_own_id.clear();
      *s.out << "Joined #" << channel << (history.empty() ? " (no messages yet)." : ".") << '\n';
      show_history(s, history);
      s.out->flush();
    });
  }

  // /press <n>: button n of the newest message with buttons, sent as the command
  // it stands for — exactly what typing it would do.
  void press(std::string_view argument) {
    poll_once();  // the card just updated may carry other buttons
    std::optional<Button> button;
    std::string problem;
    screen_.with([&](Screen& s) {
      const Actionable* card = newest(s, [](const Actionable& a) { return !a.buttons.empty(); });
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(argument.data(), argument.data() + argument.size(), n);
      const bool is_number =
          !argument.empty() && ec == std::errc{} && end == argument.data() + argument.size();
      if (card == nullptr) {
        problem = "! no message with buttons in #" + s.channel + " yet";
      } else if (!is_number || n < 1 || n > card->buttons.size()) {
        std::string labels;
        for (std::size_t i = 0; i < card->buttons.size(); ++i) {
          labels += " [" + std::to_string(i + 1) + " " + card->buttons[i].label + "]";
        }
        problem = "! /press takes a button number from 1 to " +
                  std::to_string(card->buttons.size()) + ":" + labels;
      } else {
        button = card->buttons[n - 1];
      }
    });
    if (!button) {
      say(problem);
      return;
    }
    const std::string command =
        button->command.starts_with("/incident") ? button->command : "/incident " + button->command;
    say("> " + command);
    send(command);
  }

  // /edit <id|last> <text>
  void edit(std::string_view argument) {
    const std::size_t space = argument.find(' ');
    const std::string text =
        space == std::string_view::npos ? std::string{} : std::string(trim(argument.substr(space)));
    const auto id = message_id(argument.substr(0, space), "/edit");
    if (!id) {
      return;
    }
    if (text.empty()) {
      say("! /edit needs the new text: /edit " + *id + " <text>");
      return;
    }
    const std::string channel = screen_.with([](Screen& s) { return s.channel; });
    post(json{{"channel", channel}, {"user", options_.member}, {"edit_of", *id}, {"text", text}},
         "not edited");
  }

  // /delete <id|last>
  void remove(std::string_view argument) {
    const auto id = message_id(argument, "/delete");
    if (!id) {
      return;
    }
    const std::string channel = screen_.with([](Screen& s) { return s.channel; });
    if (post(json{{"channel", channel}, {"user", options_.member}, {"delete", *id}},
             "not deleted")) {
      screen_.with([&](Screen& s) {
        if (s.last_own_id == *id) {
          s.last_own_id.clear();
        }
      });
    }
  }

  // A message id typed after /edit or /delete: digits, or "last" for my newest line.
  std::optional<std::string> message_id(std::string_view typed, std::string_view command) {
    if (typed == "last") {
      std::string last = screen_.with([](Screen& s) { return s.last_own_id; });
      if (last.empty()) {
        say("! nothing of yours to " + std::string(command.substr(1)) +
            " here yet; use the [id] shown before a message");
        return std::nullopt;
      }
      return last;
    }
    if (!all_digits(typed)) {
      say("! " + std::string(command) + " needs a message id: the number shown as [id] before " +
          "a message, or \"last\"");
      return std::nullopt;
    }
    return std::string(typed);
  }

  // /attach <name> <bytes> [url]
  void attach(std::string_view argument) {
    std::vector<std::string> words;
    std::istringstream split{std::string(argument)};
    for (std::string word; split >> word;) {
      words.push_back(word);
    }
    std::uint64_t size = 0;
    const bool size_ok =
        words.size() >= 2 &&
        std::from_chars(words[1].data(), words[1].data() + words[1].size(), size).ptr ==
            words[1].data() + words[1].size() &&
        all_digits(words[1]);
    if (words.size() < 2 || words.size() > 3 || !size_ok) {
      say("! /attach <name> <size in bytes> [url], e.g. /attach pump.log 12345 "
          "https://files.example/pump.log");
      return;
    }
    json file = {{"name", words[0]}, {"size", size}};
    if (words.size() == 3) {
      file["url"] = words[2];
    }
    const std::string channel = screen_.with([](Screen& s) { return s.channel; });
    post(json{{"channel", channel}, {"user", options_.member}, {"files", json::array({file})}},
         "not attached");
  }

  // /form: asks for each input of the newest form shown to me, then submits it.
  void fill_form(std::istream& in) {
    const auto has_form = [](const Screen& s) {
      return newest(s, [](const Actionable& a) { return !a.form.is_null(); }) != nullptr;
    };
    poll_once();
    for (auto waited = std::chrono::milliseconds(0);
         waited < kAwaitForm && !screen_.with([&](Screen& s) { return has_form(s); });
         waited += kAwaitStep) {
      std::this_thread::sleep_for(kAwaitStep);
      poll_once();
    }
    json form;
    std::string channel;
    screen_.with([&](Screen& s) {
      channel = s.channel;
      if (const Actionable* shown =
              newest(s, [](const Actionable& a) { return !a.form.is_null(); })) {
        form = shown->form;
        s.paused = true;
      }
    });
    if (form.is_null()) {
      say("! no form for you in #" + channel + " (a form shows as \"Form: ...\")");
      return;
    }
    // However this ends, the poller shows what arrived meanwhile.
    struct Resume {
      ChatSession* session;
      ~Resume() {
        session->screen_.with([](Screen& s) { s.paused = false; });
      }
    } resume{this};

    const std::string title =
        string_at(form, "title").empty() ? string_at(form, "id") : string_at(form, "title");
    const json inputs =
        form.contains("inputs") && form["inputs"].is_array() ? form["inputs"] : json::array();
    say("Filling in \"" + title + "\" (" + std::to_string(inputs.size()) +
        (inputs.size() == 1 ? " input" : " inputs") +
        "). An empty answer keeps the default or skips an optional input; /cancel stops.");
    json values = json::object();
    for (const json& input : inputs) {
      if (!input.is_object() || string_at(input, "name").empty()) {
        continue;
      }
      const std::optional<std::string> answer = ask(in, input);
      if (!answer) {
        say("! form not submitted");
        return;
      }
      if (!answer->empty()) {
        values[string_at(input, "name")] = *answer;
      }
    }
    const std::string submit =
        string_at(form, "submit_label").empty() ? "Submit" : string_at(form, "submit_label");
    if (post(json{{"channel", channel},
                  {"user", options_.member},
                  {"form_id", string_at(form, "id")},
                  {"values", values}},
             "not submitted")) {
      say("> " + submit + ": \"" + title + "\" submitted");
    }
  }

  // Asks for one input until the answer is acceptable; nullopt on /cancel or EOF.
  std::optional<std::string> ask(std::istream& in, const json& input) {
    const std::string kind = input_kind(input);
    const bool multiline = kind == "multiline";
    const auto options = options_of(input);
    const std::string initial = string_at(input, "initial");
    std::string prompt =
        input_label(input) + (bool_at(input, "required") ? " (required, " : " (optional, ") + kind;
    if (max_length(input) > 0) {
      prompt += ", at most " + std::to_string(max_length(input)) + " characters";
    }
    if (!initial.empty()) {
      prompt += ", default: " + shorten(initial, kHintChars);
    } else if (const std::string placeholder = string_at(input, "placeholder");
               !placeholder.empty()) {
      prompt += ", e.g. " + shorten(placeholder, kHintChars);
    }
    prompt += ")";
    if (multiline) {
      prompt += "; end with a line holding a single \".\"";
    }
    for (std::size_t i = 0; i < options.size(); ++i) {
      prompt += "\n  " + std::to_string(i + 1) + ") " + options[i].first +
                (options[i].second.empty() ? "" : " \xE2\x80\x94 " + options[i].second);  // —
    }
    prompt += kind == "select" ? "\nanswer with a value or its number:" : ":";

    while (true) {
      say(prompt);
      std::string answer;
      std::string line;
      if (multiline) {
        bool first = true;
        while (true) {
          if (!std::getline(in, line)) {
            return std::nullopt;
          }
          if (!line.empty() && line.back() == '\r') {
            line.pop_back();
          }
          if (line == ".") {
            break;
          }
          if (first && trim(line) == "/cancel") {
            return std::nullopt;
          }
          answer += (first ? "" : "\n") + line;
          first = false;
        }
      } else {
        if (!std::getline(in, line)) {
          return std::nullopt;
        }
        answer = std::string(trim(line));
        if (answer == "/cancel") {
          return std::nullopt;
        }
      }
      if (trim(answer).empty()) {
        answer = initial;
      }
      if (kind == "select") {
        std::size_t n = 0;
        const auto [end, ec] = std::from_chars(answer.data(), answer.data() + answer.size(), n);
        const bool is_value = std::any_of(options.begin(), options.end(),
                                          [&answer](const auto& o) { return o.first == answer; });
        if (!is_value && ec == std::errc{} && end == answer.data() + answer.size() && n >= 1 &&
            n <= options.size()) {
          answer = options[n - 1].first;
        }
      }
      if (const std::string problem = answer_problem(input, answer); !problem.empty()) {
        say("! " + input_label(input) + ": " + problem);
        continue;
      }
      return answer;
    }
  }

  // Posts one line. The plugin answers with its message id, which "/edit last" uses.
  void send(const std::string& text) {
    const std::string channel = screen_.with([](Screen& s) { return s.channel; });
    const auto answer = post(json{{"channel", channel}, {"user", options_.member}, {"text", text}},
                             "not delivered");
    if (answer && answer->contains("message_id") && (*answer)["message_id"].is_string()) {
      screen_.with([&](Screen& s) {
        if (s.channel == channel) {
          s.last_own_id = (*answer)["message_id"].get<std::string>();
        }
      });
    }
  }

  // POSTs one request body to /messages. A connection error is retried with the same
  // client_message_id, so the plugin acts (and haverid records) once even if only our
  // view of the first attempt was lost. Returns the plugin's answer on 200; otherwise
  // says "! <failure> (<status>): <why>" and returns nullopt.
  std::optional<json> post(json body, const std::string& failure) {
    body["client_message_id"] = random_hex16();
    // A terminal in another encoding must not crash us.
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    const http::BlockingClient client(base_, kPostTimeout);
    for (int attempt = 0;; ++attempt) {
      try {
        const auto response =
            client.request("POST", hook_prefix_ + "/messages", text, "application/json");
        if (response.status != 200) {
          say("! " + failure + " (" + std::to_string(response.status) +
              "): " + error_text(response));
          return std::nullopt;
        }
        json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
        return answer.is_object() ? answer : json::object();
      } catch (const http::ClientError& e) {
        if (attempt == kPostRetries) {
          say("! " + failure + ": " + e.what());
          return std::nullopt;
        }
      }
      std::this_thread::sleep_for(kPostRetryPause);
    }
  }

  void say(const std::string& line) {
    screen_.with([&](Screen& s) { *s.out << printable(line) << std::endl; });
  }

  const ChatOptions& options_;
  const http::BaseUrl base_;
  const std::string hook_prefix_;
  Guarded<Screen> screen_;
  std::mutex polls_;  // held for a whole poll_once
};

}  // namespace

std::string_view chat_commands_help() {
  return kCommandsHelp;
}

bool valid_chat_channel(const std::string& name) {
  const auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !name.empty() && name.size() <= 80 && lower_alnum(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_alnum(c) || c == '_' || c == '-'; });
}

int run_chat(const ChatOptions& options, std::istream& in, std::ostream& out, std::ostream& err) {
  ChatSession session(options, out);
  return session.run(in, err);
}

}  // namespace haveri::ctl
