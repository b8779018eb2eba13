#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/core.h>

namespace spdlog {
class formatter;
}

namespace haveri::daemon {

// How log lines are written to stderr.
enum class LogStyle {
  plain,    // "2026-11-24T18:00:00.123 info  message key=value", for a terminal or a file
  journal,  // "<6>message key=value": journald adds the time and reads the sd-daemon(3) priority
};

// Whether `fd` is the stream systemd connected to the journal: `journal_stream` (the
// value of JOURNAL_STREAM, or nullptr when unset) is "<device>:<inode>" in decimal and
// names the device and inode of `fd` (systemd.exec(5)). A JOURNAL_STREAM inherited by a
// program whose stderr goes somewhere else (a pipe, a file) does not match. Never throws;
// a malformed value or a failed fstat is "no".
bool is_journal_stream(const char* journal_stream, int fd);

// The style for this process's stderr: journal when is_journal_stream(JOURNAL_STREAM, 2).
LogStyle detect_log_style();

// The line layout of `style`. Every control character in a message (a newline in a
// plugin's or a platform's text) is escaped (\n, \r, \xHH), so one call is one line and
// nobody can forge a line of their own.
std::unique_ptr<spdlog::formatter> make_log_formatter(LogStyle style);

// The levels logging.level accepts, least severe first.
inline constexpr std::string_view kLogLevelNames[] = {"trace", "debug",    "info", "warn",
                                                      "error", "critical", "off"};

// Whether `level` is one of kLogLevelNames.
bool is_log_level(std::string_view level);

// Makes the default logger write to stderr in detect_log_style()'s style at `level`
// (one of kLogLevelNames; anything else is "info"). Call once at start, before other
// threads log.
void setup_logging(const std::string& level);

// Changes the level of the default logger (SIGHUP). Thread-safe. Returns false and
// changes nothing when `level` is not one of kLogLevelNames.
bool set_log_level(std::string_view level);

// The default logger's level, as logging.level spells it.
std::string log_level();

// The context of one log line, written after its message as key=value pairs, in a
// fixed order whatever the order of the calls: instance, incident, request, then the
// others in the order they were added:
//
//   spdlog::warn("outbox: {}{}", why, LogFields().incident(7).instance("slack-main"));
//   -> "outbox: … instance=slack-main incident=INC-7"
//
// Formats (fmt) as " key=value …" with a leading space, or as nothing when empty. A
// value is quoted when it is empty or holds a space, '"', '=', '\' or a control
// character; inside the quotes \" \\ \n \r \t and \xHH stand for them, so no value can
// end the line. Keys are code constants of [a-z0-9_]; any other character becomes '_'.
// Never put a secret in one.
class LogFields {
 public:
  LogFields& instance(std::string_view name) { return set(kInstance, std::string(name)); }
  LogFields& incident(std::int64_t number) {
    return set(kIncident, "INC-" + std::to_string(number));
  }
  LogFields& request(std::string_view id) { return set(kRequest, std::string(id)); }
  LogFields& add(std::string_view key, std::string_view value);
  template <std::integral Number>
  requires(!std::same_as<Number, bool> &&
           !std::same_as<Number, char>) LogFields& add(std::string_view key, Number value) {
    return add(key, std::string_view(std::to_string(value)));
  }

  bool empty() const noexcept { return fields_.empty(); }
  // " key=value …", or "" when empty.
  std::string text() const;

 private:
  // Ranks of the keys that always come first, in this order.
  static constexpr int kInstance = 0;
  static constexpr int kIncident = 1;
  static constexpr int kRequest = 2;
  static constexpr int kOther = 3;

  LogFields& set(int rank, std::string value);

  struct Field {
    int rank;
    std::string key;
    std::string value;
  };
  std::vector<Field> fields_;
};

// One value as LogFields writes it: bare, or quoted and escaped.
std::string log_value(std::string_view value);

}  // namespace haveri::daemon

template <>
struct fmt::formatter<haveri::daemon::LogFields> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const haveri::daemon::LogFields& fields, FormatContext& context) const {
    const std::string text = fields.text();
    return fmt::formatter<std::string_view>::format(std::string_view(text), context);
  }
};
