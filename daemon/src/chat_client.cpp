// `haverictl chat`: a terminal client of the local chat plugin (plugins/local).
//
// Threads: the main thread reads stdin and posts lines; one poller thread reads new
// messages every 300 ms. They share the current channel, the read cursor and the
// output stream, all inside one Guarded<Screen>, so lines never interleave and a
// /join cannot race with a poll of the old channel (see `generation`).
#include "chat_client.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <iomanip>
#include <istream>
#include <mutex>
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

// What the terminal shows and where reading continues.
struct Screen {
  std::ostream* out = nullptr;
  std::string channel;
  std::uint64_t cursor = 0;      // highest seq already accounted for in `channel`
  std::string epoch;             // the plugin instance's epoch the cursor belongs to
  std::uint64_t generation = 0;  // bumped by /join; a poll of an older one is dropped
  bool poll_failing = false;     // print "unreachable" once, not every 300 ms
};

struct ChatLine {
  std::uint64_t seq = 0;
  std::string from;
  bool bot = false;
  std::string text;
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

// Names and text come from other people and the bot: both go through printable().
void print_line(std::ostream& out, const ChatLine& line) {
  const std::string from = printable(line.from);
  const std::string text = printable(line.text);
  if (line.bot) {
    // The plugin already rendered the card as text lines; indent them under the name.
    out << from << ":\n";
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
    out << from << ": " << text << '\n';
  }
}

// Runs on: the main thread (run, join, send) and the poller thread (poll_loop); what
// both touch is in screen_.
class ChatSession {
 public:
  ChatSession(const ChatOptions& options, std::ostream& out)
      : options_(options),
        base_(http::parse_base_url(options.url)),
        hook_prefix_("/hooks/" + options.instance),
        screen_(Screen{&out, options.channel, 0, {}, 0, false}) {}

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
             << options_.member << ". Type a message, or /incident help. Ctrl-D to quit.\n";
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
      } else if (text == "/join" || text.starts_with("/join ")) {
        join(std::string(trim(text.substr(5))));
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
      const auto response =
          client.get(hook_prefix_ + "/messages?channel=" + channel +
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
      const std::string epoch = page.contains("epoch") && page["epoch"].is_string()
                                    ? page["epoch"].get<std::string>()
                                    : std::string{};
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
        ChatLine line;
        line.seq = m["seq"].get<std::uint64_t>();
        line.from = m.contains("from") && m["from"].is_string() ? m["from"].get<std::string>()
                                                                : std::string("?");
        line.bot = m.contains("bot") && m["bot"].is_boolean() && m["bot"].get<bool>();
        line.text = m.contains("text") && m["text"].is_string() ? m["text"].get<std::string>()
                                                                : std::string{};
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

  void poll_once() {
    // Plain copies rather than structured bindings: the lambda below captures them.
    std::string channel;
    std::string epoch;
    std::uint64_t cursor = 0;
    std::uint64_t generation = 0;
    screen_.with([&](Screen& s) {
      channel = s.channel;
      epoch = s.epoch;
      cursor = s.cursor;
      generation = s.generation;
    });
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
        }
        for (const ChatLine& line : lines) {
          // Our own lines are already on the terminal as we typed them.
          if (line.bot || line.from != options_.member) {
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
      *s.out << "Joined #" << channel << (history.empty() ? " (no messages yet)." : ".") << '\n';
      show_history(s, history);
      s.out->flush();
    });
  }

  // Posts one line. A connection error is retried with the same client_message_id,
  // so the plugin shows (and haverid records) the line once even if only our view
  // of the first attempt was lost.
  void send(const std::string& text) {
    const std::string channel = screen_.with([](Screen& s) { return s.channel; });
    const std::string body = json{{"channel", channel},
                                  {"user", options_.member},
                                  {"text", text},
                                  {"client_message_id", random_hex16()}}
                                 // A terminal in another encoding must not crash us.
                                 .dump(-1, ' ', false, json::error_handler_t::replace);
    const http::BlockingClient client(base_, kPostTimeout);
    for (int attempt = 0;; ++attempt) {
      try {
        const auto response =
            client.request("POST", hook_prefix_ + "/messages", body, "application/json");
        if (response.status != 200) {
          say("! not delivered (" + std::to_string(response.status) + "): " + error_text(response));
        }
        return;
      } catch (const http::ClientError& e) {
        if (attempt == kPostRetries) {
          say(std::string("! not delivered: ") + e.what());
          return;
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
};

}  // namespace

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
