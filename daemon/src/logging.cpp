#include "logging.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <system_error>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace haveri::daemon {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// Appends `c` escaped as \n, \r, \t or \xHH.
void append_escaped_control(std::string& out, char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      const auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xf];
    }
  }
}

// sd-daemon(3) priorities by spdlog level: trace and debug are SD_DEBUG, critical is
// SD_CRIT.
constexpr std::string_view kJournalPrefixes[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};

class JournalPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& destination) override {
    const auto index = static_cast<std::size_t>(message.level);
    const std::string_view prefix =
        index < std::size(kJournalPrefixes) ? kJournalPrefixes[index] : "<6>";
    destination.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

// The message with its control characters escaped: one log call, one line. Tabs stay.
class OneLineMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& destination) override {
    const std::string_view text(message.payload.data(), message.payload.size());
    std::size_t start = 0;
    std::string escaped;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (!is_control(text[i]) || text[i] == '\t') {
        continue;
      }
      destination.append(text.data() + start, text.data() + i);
      escaped.clear();
      append_escaped_control(escaped, text[i]);
      destination.append(escaped.data(), escaped.data() + escaped.size());
      start = i + 1;
    }
    destination.append(text.data() + start, text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<OneLineMessage>();
  }
};

// trace … critical and off; spdlog's own from_str turns anything unknown into "off".
std::optional<spdlog::level::level_enum> level_from_name(std::string_view name) {
  constexpr spdlog::level::level_enum kLevels[] = {
      spdlog::level::trace, spdlog::level::debug,    spdlog::level::info, spdlog::level::warn,
      spdlog::level::err,   spdlog::level::critical, spdlog::level::off};
  static_assert(std::size(kLevels) == std::size(kLogLevelNames));
  for (std::size_t i = 0; i < std::size(kLevels); ++i) {
    if (kLogLevelNames[i] == name) {
      return kLevels[i];
    }
  }
  return std::nullopt;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool needs_quotes(std::string_view value) {
  return value.empty() || std::any_of(value.begin(), value.end(), [](char c) {
           return c == ' ' || c == '"' || c == '=' || c == '\\' || is_control(c);
         });
}

}  // namespace

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) {
    return false;
  }
  const std::string_view text(journal_stream);
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  const auto parse = [](std::string_view digits, std::uint64_t& out) {
    const char* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, out);
    return !digits.empty() && ec == std::errc{} && ptr == end;
  };
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  if (!parse(text.substr(0, colon), device) || !parse(text.substr(colon + 1), inode)) {
    return false;
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    return false;
  }
  return static_cast<std::uint64_t>(status.st_dev) == device &&
         static_cast<std::uint64_t>(status.st_ino) == inode;
}

LogStyle detect_log_style() {
  return is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO) ? LogStyle::journal
                                                                         : LogStyle::plain;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(LogStyle style) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<OneLineMessage>('&');
  if (style == LogStyle::journal) {
    formatter->add_flag<JournalPriority>('*').set_pattern("%*%&");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %&");
  }
  return formatter;
}

bool is_log_level(std::string_view level) {
  return level_from_name(level).has_value();
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("haverid");
  logger->set_formatter(make_log_formatter(detect_log_style()));
  logger->set_level(level_from_name(level).value_or(spdlog::level::info));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

bool set_log_level(std::string_view level) {
  const auto parsed = level_from_name(level);
  if (!parsed) {
    return false;
  }
  spdlog::default_logger_raw()->set_level(*parsed);
  return true;
}

std::string log_level() {
  const auto index = static_cast<std::size_t>(spdlog::default_logger_raw()->level());
  return index < std::size(kLogLevelNames) ? std::string(kLogLevelNames[index]) : "info";
}

std::string log_value(std::string_view value) {
  if (!needs_quotes(value)) {
    return std::string(value);
  }
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (is_control(c)) {
      append_escaped_control(out, c);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

LogFields& LogFields::add(std::string_view key, std::string_view value) {
  // Built by appending: GCC 12 at -O2 warns (-Wrestrict) on assigning a literal to a
  // string that was just copied from a view.
  std::string clean;
  clean.reserve(std::max<std::size_t>(key.size(), 1));
  for (const char c : key) {
    clean += is_key_char(c) ? c : '_';
  }
  if (clean.empty()) {
    clean += '_';
  }
  fields_.push_back({kOther, std::move(clean), std::string(value)});
  return *this;
}

LogFields& LogFields::set(int rank, std::string value) {
  static constexpr std::string_view kKeys[] = {"instance", "incident", "request"};
  const auto known = std::find_if(fields_.begin(), fields_.end(),
                                  [rank](const Field& field) { return field.rank == rank; });
  if (known != fields_.end()) {
    known->value = std::move(value);
  } else {
    fields_.push_back({rank, std::string(kKeys[rank]), std::move(value)});
  }
  return *this;
}

std::string LogFields::text() const {
  std::vector<const Field*> ordered;
  ordered.reserve(fields_.size());
  for (const Field& field : fields_) {
    ordered.push_back(&field);
  }
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Field* a, const Field* b) { return a->rank < b->rank; });
  std::string out;
  for (const Field* field : ordered) {
    out += ' ';
    out += field->key;
    out += '=';
    out += log_value(field->value);
  }
  return out;
}

}  // namespace haveri::daemon
