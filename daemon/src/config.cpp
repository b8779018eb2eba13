#include "config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include <yaml-cpp/yaml.h>

#include <haveri/core/yaml_text.hpp>

namespace haveri::daemon {

namespace {

namespace fs = std::filesystem;

// A secret file is a token or a key, not a data set; anything bigger is a wrong path.
constexpr std::size_t kMaxSecretBytes = std::size_t{1024} * 1024;
// Aliases let a few lines of YAML expand into an exponential tree; settings are small.
constexpr std::size_t kMaxSettingsNodes = 100'000;
constexpr std::string_view kFileSuffix = "_file";

// A directory lists people and places of a few plants, not a data set.
constexpr std::size_t kMaxDirectoryBytes = std::size_t{16} * 1024 * 1024;

constexpr std::array<std::string_view, 9> kTopKeys = {"server",    "storage", "api",
                                                      "plugins",   "logging", "directory",
                                                      "incidents", "outbox",  "policies"};
constexpr std::array<std::string_view, 2> kPoliciesKeys = {"path", "tick_ms"};
constexpr std::array<std::string_view, 10> kServerKeys = {"address",
                                                          "port",
                                                          "body_limit_bytes",
                                                          "header_timeout_seconds",
                                                          "body_timeout_seconds",
                                                          "idle_timeout_seconds",
                                                          "write_timeout_seconds",
                                                          "max_connections",
                                                          "drain_timeout_seconds",
                                                          "read_timeout_seconds"};
constexpr std::array<std::string_view, 2> kStorageKeys = {"sqlite", "max_batch"};
constexpr std::array<std::string_view, 2> kSqliteKeys = {"path", "synchronous"};
constexpr std::array<std::string_view, 2> kApiKeys = {"token", "token_file"};
constexpr std::array<std::string_view, 11> kPluginsKeys = {"directory",
                                                           "request_timeout_seconds",
                                                           "operation_timeout_seconds",
                                                           "max_queued_events",
                                                           "max_outbound_in_flight",
                                                           "max_outbound_response_bytes",
                                                           "max_websockets",
                                                           "max_websocket_message_bytes",
                                                           "max_timers",
                                                           "ca_file",
                                                           "instances"};
constexpr std::array<std::string_view, 3> kInstanceKeys = {"name", "plugin", "settings"};
constexpr std::array<std::string_view, 1> kLoggingKeys = {"level"};
constexpr std::array<std::string_view, 2> kDirectoryKeys = {"path", "zoneinfo"};
constexpr std::array<std::string_view, 3> kIncidentsKeys = {"sla", "nudge_after",
                                                            "follow_up_reminders"};
constexpr std::array<std::string_view, 3> kSeverityKeys = {"sev1", "sev2", "sev3"};
constexpr std::array<std::string_view, 2> kSlaTargetKeys = {"acknowledge", "resolve"};
constexpr std::array<std::string_view, 2> kFollowUpKeys = {"before", "overdue_every"};
constexpr std::array<std::string_view, 5> kOutboxKeys = {"first_retry_delay", "max_retry_delay",
                                                         "max_attempts", "default_channel_interval",
                                                         "default_instance_per_second"};
constexpr std::array<std::string_view, 4> kSynchronousModes = {"off", "normal", "full", "extra"};
constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

using std::chrono::milliseconds;
constexpr milliseconds kMinute = std::chrono::minutes(1);
constexpr milliseconds kHour = std::chrono::hours(1);
constexpr milliseconds kDay = std::chrono::hours(24);
constexpr milliseconds kYear = 365 * kDay;
constexpr double kMaxInstancePerSecond = 10'000;

struct DurationUnit {
  std::string_view suffix;
  milliseconds length;
};
// "ms" before "m" and "s": the longest suffix that matches wins.
constexpr std::array<DurationUnit, 5> kDurationUnits = {{{"ms", milliseconds(1)},
                                                         {"s", std::chrono::seconds(1)},
                                                         {"m", kMinute},
                                                         {"h", kHour},
                                                         {"d", kDay}}};

// A duration as it is written in the file: the largest unit that divides it.
std::string format_duration(milliseconds value) {
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    if (value.count() % it->length.count() == 0) {
      return std::to_string(value.count() / it->length.count()) + std::string(it->suffix);
    }
  }
  return std::to_string(value.count()) + "ms";
}

// "<integer><unit>", the integer possibly negative (so the message can say why it is
// out of range); nullopt for anything else. At most 9 digits: 10^9 days fit in 64 bits.
std::optional<milliseconds> parse_duration(std::string_view text) {
  for (const auto& unit : kDurationUnits) {
    if (!text.ends_with(unit.suffix)) {
      continue;
    }
    const std::string_view number = text.substr(0, text.size() - unit.suffix.size());
    const std::string_view digits = number.starts_with('-') ? number.substr(1) : number;
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;  // "1.5h", "15 m", "m"
    }
    std::int64_t value = 0;
    std::from_chars(number.data(), number.data() + number.size(), value);
    return value * unit.length;
  }
  return std::nullopt;
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (const auto word : words) {
    if (!out.empty()) {
      out += ", ";
    }
    out += word;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) {
      out += '\n';
    }
    out += line;
  }
  return out;
}

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::string quote(std::string_view text) {
  return core::quote_for_message(text);
}

std::string describe(const YAML::Node& node) {
  return core::describe_yaml(node);
}

bool is_variable_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9][a-z0-9_-]{0,62}: safe as a URL path segment and a metrics label.
bool is_instance_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || !is_lower_alnum(name[0])) {
    return false;
  }
  for (const char c : name) {
    if (!is_lower_alnum(c) && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// [a-z0-9_]+: becomes part of a library file name.
bool is_plugin_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (const char c : name) {
    if (!is_lower_alnum(c) && c != '_') {
      return false;
    }
  }
  return true;
}

std::optional<std::int64_t> parse_decimal(std::string_view text) {
  if (!text.empty() && text[0] == '+') {
    text.remove_prefix(1);
  }
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return value;
}

bool all_of(std::string_view text, bool (*pred)(char)) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    if (!pred(c)) {
      return false;
    }
  }
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_octal_digit(char c) {
  return c >= '0' && c <= '7';
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? — the YAML 1.2 core schema float.
bool looks_like_float(std::string_view text) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      ++i;
    }
    return i - start;
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    ++i;
  }
  const std::size_t integral = digits();
  std::size_t fraction = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (integral == 0 && fraction == 0) {
    return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == text.size();
}

std::optional<nlohmann::json> parse_unsigned(std::string_view digits, int base) {
  std::uint64_t value = 0;
  const auto* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, value, base);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return nlohmann::json(value);
}

// A plain (unquoted) scalar read with the YAML 1.2 core schema: true/false, null,
// integers (decimal, 0x, 0o) and floats become JSON values; everything else, including
// .inf and .nan which JSON cannot hold, stays a string.
nlohmann::json plain_scalar_to_json(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  std::string_view view = text;
  if (view.size() > 2 && view.starts_with("0x") && all_of(view.substr(2), is_hex_digit)) {
    if (auto value = parse_unsigned(view.substr(2), 16)) {
      return *value;
    }
  }
  if (view.size() > 2 && view.starts_with("0o") && all_of(view.substr(2), is_octal_digit)) {
    if (auto value = parse_unsigned(view.substr(2), 8)) {
      return *value;
    }
  }
  const bool negative = !view.empty() && view[0] == '-';
  std::string_view unsigned_part = view;
  if (!view.empty() && (view[0] == '-' || view[0] == '+')) {
    unsigned_part.remove_prefix(1);
  }
  if (all_of(unsigned_part, is_digit)) {
    if (auto value = parse_decimal(view)) {
      return *value;
    }
    if (!negative) {
      if (auto value = parse_unsigned(unsigned_part, 10)) {
        return *value;
      }
    }
    // Too large for 64 bits: fall through and keep it as a (rounded) float.
  }
  if (looks_like_float(view)) {
    double value = 0;
    const auto* end = unsigned_part.data() + unsigned_part.size();
    const auto [ptr, ec] = std::from_chars(unsigned_part.data(), end, value);
    if (ec == std::errc{} && ptr == end) {
      return negative ? -value : value;
    }
  }
  return text;
}

struct Field {
  YAML::Node key;
  YAML::Node value;
};
using Fields = std::map<std::string, Field, std::less<>>;

// A mapping of the fixed schema, checked: `ok` is false when the node was not a
// mapping (already reported). `mark` is where a missing required key is reported.
struct Section {
  Fields fields;
  YAML::Mark mark;
  bool ok = true;

  const Field* find(std::string_view name) const {
    const auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
};

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

// Reads a whole file; on failure returns the errno.
std::pair<std::string, int> read_file(const fs::path& path, std::size_t limit) {
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return {{}, errno != 0 ? errno : EIO};
  }
  std::string contents;
  std::array<char, 8192> buffer{};
  while (true) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    contents.append(buffer.data(), n);
    if (contents.size() > limit) {
      return {{}, EFBIG};
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get()) != 0) {
        return {{}, errno != 0 ? errno : EIO};
      }
      break;
    }
  }
  return {std::move(contents), 0};
}

// Walks the parsed document, collecting every problem instead of stopping at the first.
class ConfigReader {
 public:
  ConfigReader(std::string display_name, fs::path base_dir)
      : display_name_(std::move(display_name)), base_dir_(std::move(base_dir)) {}

  void read(const YAML::Node& root, Config& config) {
    const Section top = mapping_node(root, YAML::Node(), "", kTopKeys);
    if (!top.ok) {
      return;
    }
    read_server(section(top, "", "server", kServerKeys), config.server);
    read_storage(section(top, "", "storage", kStorageKeys), config.storage);
    read_api(section(top, "", "api", kApiKeys), config.api);
    read_plugins(section(top, "", "plugins", kPluginsKeys), config.plugins);
    read_logging(section(top, "", "logging", kLoggingKeys), config.logging);
    read_directory(section(top, "", "directory", kDirectoryKeys), config);
    read_incidents(section(top, "", "incidents", kIncidentsKeys), config.incidents);
    read_outbox(section(top, "", "outbox", kOutboxKeys), config.outbox);
    read_policies(section(top, "", "policies", kPoliciesKeys), config);
  }

  void add_problem(std::string text) { problems_.push_back({-1, -1, std::move(text)}); }

  // Every problem, in the order of the file, then those of the directory file.
  std::vector<std::string> take_problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<std::string> out;
    out.reserve(problems_.size() + directory_problems_.size());
    for (auto& problem : problems_) {
      out.push_back(std::move(problem.text));
    }
    for (auto& problem : directory_problems_) {
      out.push_back(std::move(problem));
    }
    problems_.clear();
    directory_problems_.clear();
    return out;
  }

  bool has_problems() const { return !problems_.empty() || !directory_problems_.empty(); }

  // What of `plugins` can be tried although the configuration has problems (see
  // ConfigError::plugins); nullptr when plugins.directory is unusable.
  std::shared_ptr<const PluginsConfig> checkable_plugins(const PluginsConfig& plugins) const {
    if (!plugins_directory_ok_) {
      return nullptr;
    }
    auto out = std::make_shared<PluginsConfig>(plugins);
    out->instances = checkable_instances_;
    return out;
  }

 private:
  // "<file>:<line>:<column>", or "<file>" for a mark that is not in it.
  std::string location(const YAML::Mark& mark) const {
    std::string out = display_name_;
    if (!mark.is_null() && mark.line >= 0 && mark.column >= 0) {
      out += ':' + std::to_string(mark.line + 1) + ':' + std::to_string(mark.column + 1);
    }
    return out;
  }

  void report(const YAML::Mark& mark, std::string_view key, std::string_view message) {
    std::string line = location(mark);
    const bool located = !mark.is_null() && mark.line >= 0 && mark.column >= 0;
    line += ": ";
    if (!key.empty()) {
      line += key;
      line += ": ";
    }
    line += message;
    problems_.push_back({located ? mark.line : -1, located ? mark.column : -1, std::move(line)});
  }

  static std::string child(std::string_view parent, std::string_view name) {
    return parent.empty() ? std::string(name) : std::string(parent) + '.' + std::string(name);
  }

  // Checks a mapping of the fixed schema: every key a known scalar, none repeated.
  // `key` is the node's own key (for a null section's position); may be undefined.
  Section mapping_node(const YAML::Node& node, const YAML::Node& key, const std::string& path,
                       std::span<const std::string_view> allowed) {
    Section out;
    out.mark = node.IsNull() && !key.Mark().is_null() ? key.Mark() : node.Mark();
    if (node.IsNull()) {
      return out;  // `server:` with every key commented out: all defaults
    }
    if (!node.IsMap()) {
      report(
          node.Mark(), path,
          std::string(path.empty() ? "expected a mapping at the top level" : "expected a mapping") +
              ", got " + describe(node));
      out.ok = false;
      return out;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        report(it->first.Mark(), path, "expected a plain key, got " + describe(it->first));
        continue;
      }
      const std::string& name = it->first.Scalar();
      bool known = false;
      for (const auto candidate : allowed) {
        known = known || candidate == name;
      }
      if (!known) {
        report(it->first.Mark(), child(path, name), "unknown key (allowed: " + join(allowed) + ")");
        continue;
      }
      const auto [previous, inserted] = out.fields.emplace(name, Field{it->first, it->second});
      if (!inserted) {
        report(it->first.Mark(), child(path, name),
               "duplicate key (first at line " +
                   std::to_string(previous->second.key.Mark().line + 1) + ")");
      }
    }
    return out;
  }

  Section section(const Section& parent, const std::string& parent_path, std::string_view name,
                  std::span<const std::string_view> allowed) {
    const Field* field = parent.find(name);
    if (field == nullptr) {
      Section out;
      out.mark = parent.mark;
      out.ok = parent.ok;
      return out;
    }
    return mapping_node(field->value, field->key, child(parent_path, name), allowed);
  }

  void missing(const Section& where, const std::string& path, std::string_view hint = {}) {
    if (where.ok) {
      std::string message = "required key is missing";
      message += hint;
      report(where.mark, path, message);
    }
  }

  // Replaces ${NAME} and ${NAME:-default}; reports every unset variable in the value.
  std::optional<std::string> substitute(const YAML::Node& node, const std::string& path) {
    const std::string& in = node.Scalar();
    std::string out;
    bool ok = true;
    std::size_t i = 0;
    while (i < in.size()) {
      if (in[i] != '$' || i + 1 >= in.size() || in[i + 1] != '{') {
        out += in[i++];
        continue;
      }
      const std::size_t close = in.find('}', i + 2);
      if (close == std::string::npos) {
        report(node.Mark(), path, "unterminated \"${\" (write ${NAME} or ${NAME:-default})");
        return std::nullopt;
      }
      const std::string_view body = std::string_view(in).substr(i + 2, close - i - 2);
      const std::size_t separator = body.find(":-");
      const std::string name(body.substr(0, separator));
      if (!is_variable_name(name)) {
        report(node.Mark(), path,
               "\"${\" must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*), then \"}\" "
               "or \":-default}\"");
        return std::nullopt;
      }
      const char* value = std::getenv(name.c_str());
      if (separator != std::string_view::npos) {
        out += value != nullptr && *value != '\0' ? std::string_view(value)
                                                  : body.substr(separator + 2);
      } else if (value == nullptr) {
        report(node.Mark(), path, "environment variable " + name + " is not set");
        ok = false;
      } else {
        out += value;
      }
      i = close + 1;
    }
    if (!ok) {
      return std::nullopt;
    }
    return out;
  }

  std::optional<std::string> string_value(const YAML::Node& node, const std::string& path,
                                          std::string_view expected = "a string") {
    if (!node.IsScalar()) {
      report(node.Mark(), path, "expected " + std::string(expected) + ", got " + describe(node));
      return std::nullopt;
    }
    return substitute(node, path);
  }

  std::optional<std::int64_t> integer(const YAML::Node& node, const std::string& path,
                                      std::int64_t min, std::int64_t max) {
    std::string expected = "expected an integer ";
    expected += max == std::numeric_limits<std::int64_t>::max()
                    ? "of at least " + std::to_string(min)
                    : "between " + std::to_string(min) + " and " + std::to_string(max);
    if (!node.IsScalar()) {
      report(node.Mark(), path, expected + ", got " + describe(node));
      return std::nullopt;
    }
    const auto text = substitute(node, path);
    if (!text) {
      return std::nullopt;
    }
    const auto value = parse_decimal(*text);
    if (!value || *value < min || *value > max) {
      report(node.Mark(), path, expected + ", got " + quote(*text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::string> one_of(const YAML::Node& node, const std::string& path,
                                    std::span<const std::string_view> choices) {
    const std::string expected = "expected one of " + join(choices);
    if (!node.IsScalar()) {
      report(node.Mark(), path, expected + ", got " + describe(node));
      return std::nullopt;
    }
    auto text = substitute(node, path);
    if (!text) {
      return std::nullopt;
    }
    for (const auto choice : choices) {
      if (choice == *text) {
        return text;
      }
    }
    report(node.Mark(), path, expected + ", got " + quote(*text));
    return std::nullopt;
  }

  fs::path resolve(const fs::path& path) const {
    fs::path out = (path.is_absolute() ? path : base_dir_ / path).lexically_normal();
    // "plugins/" names the same directory as "plugins"; keep the shorter spelling.
    if (!out.has_filename() && out.has_relative_path()) {
      out = out.parent_path();
    }
    return out;
  }

  std::optional<fs::path> path_value(const YAML::Node& node, const std::string& path) {
    auto text = string_value(node, path, "a path");
    if (!text) {
      return std::nullopt;
    }
    if (text->empty()) {
      report(node.Mark(), path, "expected a path, got an empty string");
      return std::nullopt;
    }
    return resolve(*text);
  }

  // The contents of the file named by `node` (the value of a `*_file` key), without
  // trailing line ends. Messages name the key and the path, never the contents.
  std::optional<std::string> secret_from_file(const YAML::Node& node, const std::string& path) {
    const auto file = path_value(node, path);
    if (!file) {
      return std::nullopt;
    }
    auto [contents, error] = read_file(*file, kMaxSecretBytes);
    if (error == EFBIG) {
      report(
          node.Mark(), path,
          "secret file " + quote(file->string()) + " is larger than 1 MiB; is it the right file?");
      return std::nullopt;
    }
    if (error != 0) {
      report(node.Mark(), path,
             "cannot read secret file " + quote(file->string()) + ": " + errno_text(error));
      return std::nullopt;
    }
    while (!contents.empty() && (contents.back() == '\n' || contents.back() == '\r')) {
      contents.pop_back();
    }
    if (contents.empty()) {
      report(node.Mark(), path, "secret file " + quote(file->string()) + " is empty");
      return std::nullopt;
    }
    return std::move(contents);
  }

  void read_server(const Section& s, ServerConfig& server) {
    constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
    if (const Field* f = s.find("address")) {
      if (auto value = string_value(f->value, "server.address")) {
        if (value->empty()) {
          report(f->value.Mark(), "server.address", "expected an address, got an empty string");
        } else {
          server.address = std::move(*value);
        }
      }
    }
    if (const Field* f = s.find("port")) {
      if (auto value = integer(f->value, "server.port", 0, 65535)) {
        server.port = static_cast<std::uint16_t>(*value);
      }
    }
    if (const Field* f = s.find("body_limit_bytes")) {
      if (auto value = integer(f->value, "server.body_limit_bytes", 1024, kMaxInt)) {
        server.body_limit_bytes = static_cast<std::size_t>(*value);
      }
    }
    const auto seconds = [&](std::string_view key, std::int64_t max, std::chrono::seconds& out) {
      if (const Field* f = s.find(key)) {
        if (auto value = integer(f->value, child("server", key), 1, max)) {
          out = std::chrono::seconds(*value);
        }
      }
    };
    seconds("header_timeout_seconds", 3600, server.header_timeout);
    seconds("body_timeout_seconds", 3600, server.body_timeout);
    seconds("idle_timeout_seconds", 3600, server.idle_timeout);
    seconds("write_timeout_seconds", 3600, server.write_timeout);
    seconds("drain_timeout_seconds", 300, server.drain_timeout);
    if (const Field* f = s.find("read_timeout_seconds")) {
      read_deprecated_read_timeout(s, *f, server);
    }
    if (const Field* f = s.find("max_connections")) {
      if (auto value = integer(f->value, "server.max_connections", 1, 100'000)) {
        server.max_connections = static_cast<std::size_t>(*value);
      }
    }
  }

  // Configurations written before header_timeout_seconds and body_timeout_seconds
  // existed keep working: the old key sets both.
  void read_deprecated_read_timeout(const Section& s, const Field& old_key, ServerConfig& server) {
    std::vector<std::string> conflicting;
    for (std::string_view key : {"header_timeout_seconds", "body_timeout_seconds"}) {
      if (s.find(key) != nullptr) {
        conflicting.push_back(child("server", key));
      }
    }
    if (!conflicting.empty()) {
      std::string both = conflicting[0];
      if (conflicting.size() > 1) {
        both += " and " + conflicting[1];
      }
      report(
          old_key.key.Mark(), "server.read_timeout_seconds",
          "cannot be combined with " + both +
              " (read_timeout_seconds is a deprecated alias that sets header_timeout_seconds and "
              "body_timeout_seconds; remove it)");
      return;
    }
    if (auto value = integer(old_key.value, "server.read_timeout_seconds", 1, 3600)) {
      server.header_timeout = std::chrono::seconds(*value);
      server.body_timeout = std::chrono::seconds(*value);
      std::string warning = display_name_;
      if (const YAML::Mark mark = old_key.key.Mark(); !mark.is_null() && mark.line >= 0) {
        warning += ':' + std::to_string(mark.line + 1) + ':' + std::to_string(mark.column + 1);
      }
      warning +=
          ": server.read_timeout_seconds: deprecated; it sets both "
          "server.header_timeout_seconds and server.body_timeout_seconds (to " +
          std::to_string(*value) + "), write those instead";
      server.warnings.push_back(std::move(warning));
    }
  }

  void read_storage(const Section& s, StorageConfig& storage) {
    const Section sqlite = section(s, "storage", "sqlite", kSqliteKeys);
    storage.sqlite_path = resolve("data/haveri.db");
    if (const Field* f = sqlite.find("path")) {
      if (auto value = path_value(f->value, "storage.sqlite.path")) {
        storage.sqlite_path = std::move(*value);
      }
    }
    if (const Field* f = sqlite.find("synchronous")) {
      if (auto value = one_of(f->value, "storage.sqlite.synchronous", kSynchronousModes)) {
        storage.synchronous = std::move(*value);
      }
    }
    if (const Field* f = s.find("max_batch")) {
      if (auto value = integer(f->value, "storage.max_batch", 1, 100'000)) {
        storage.max_batch = static_cast<std::size_t>(*value);
      }
    }
  }

  void read_api(const Section& s, ApiConfig& api) {
    const Field* token = s.find("token");
    const Field* token_file = s.find("token_file");
    if (token != nullptr && token_file != nullptr) {
      report(token_file->key.Mark(), "api.token_file",
             "api.token is also set; keep only one of token and token_file");
      return;
    }
    if (token != nullptr) {
      if (auto value = string_value(token->value, "api.token")) {
        if (value->empty()) {
          report(token->value.Mark(), "api.token", "must not be empty");
        } else {
          api.token = std::move(*value);
        }
      }
    } else if (token_file != nullptr) {
      if (auto value = secret_from_file(token_file->value, "api.token_file")) {
        api.token = std::move(*value);
      }
    } else {
      missing(s, "api.token", " (set api.token or api.token_file)");
    }
  }

  void read_plugins(const Section& s, PluginsConfig& plugins) {
    if (const Field* f = s.find("directory")) {
      if (auto value = path_value(f->value, "plugins.directory")) {
        plugins.directory = std::move(*value);
        plugins_directory_ok_ = true;
      }
    } else {
      missing(s, "plugins.directory", " (the directory holding libhaveri_<plugin>.so)");
    }
    if (const Field* f = s.find("request_timeout_seconds")) {
      if (auto value = integer(f->value, "plugins.request_timeout_seconds", 1, 300)) {
        plugins.request_timeout = std::chrono::seconds(*value);
      }
    }
    if (const Field* f = s.find("operation_timeout_seconds")) {
      if (auto value = integer(f->value, "plugins.operation_timeout_seconds", 1, 3600)) {
        plugins.operation_timeout = std::chrono::seconds(*value);
      }
    }
    if (const Field* f = s.find("max_queued_events")) {
      if (auto value = integer(f->value, "plugins.max_queued_events", 1, 1000000)) {
        plugins.max_queued_events = static_cast<std::size_t>(*value);
      }
    }
    read_plugin_services(s, plugins);
    if (const Field* f = s.find("instances")) {
      read_instances(f->value, plugins.instances);
    }
  }

  // The bounds of the network and timer services plugins get from the host (ABI 1.2).
  void read_plugin_services(const Section& s, PluginsConfig& plugins) {
    constexpr std::int64_t kGiB = std::int64_t{1024} * 1024 * 1024;
    const auto size_setting = [&](std::string_view key, std::int64_t min, std::int64_t max,
                                  std::size_t& out) {
      if (const Field* f = s.find(key)) {
        if (auto value = integer(f->value, child("plugins", key), min, max)) {
          out = static_cast<std::size_t>(*value);
        }
      }
    };
    size_setting("max_outbound_in_flight", 1, 100000, plugins.max_outbound_in_flight);
    size_setting("max_outbound_response_bytes", 1024, kGiB, plugins.max_outbound_response_bytes);
    size_setting("max_websockets", 1, 1000, plugins.max_websockets);
    size_setting("max_websocket_message_bytes", 1024, kGiB, plugins.max_websocket_message_bytes);
    size_setting("max_timers", 1, 1000000, plugins.max_timers);
    if (const Field* f = s.find("ca_file")) {
      if (auto value = path_value(f->value, "plugins.ca_file")) {
        std::error_code ec;
        if (!fs::is_regular_file(*value, ec)) {
          report(f->value.Mark(), "plugins.ca_file",
                 "no such file " + quote(value->string()) +
                     " (a PEM file of CA certificates to trust besides the system's)");
        } else {
          plugins.ca_file = std::move(*value);
        }
      }
    }
  }

  void read_instances(const YAML::Node& node, std::vector<PluginInstanceConfig>& instances) {
    if (node.IsNull()) {
      return;
    }
    if (!node.IsSequence()) {
      report(node.Mark(), "plugins.instances", "expected a list, got " + describe(node));
      return;
    }
    std::map<std::string, int, std::less<>> first_line;  // instance name -> 1-based line
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string path = "plugins.instances[" + std::to_string(i) + "]";
      const std::size_t problems_before = problems_.size();
      if (!item.IsMap()) {
        report(item.Mark(), path, "expected a mapping with name and plugin, got " + describe(item));
        continue;
      }
      const Section s = mapping_node(item, YAML::Node(), path, kInstanceKeys);
      PluginInstanceConfig instance;
      instance.source = location(item.Mark()) + ": " + path;
      if (const Field* f = s.find("name")) {
        if (auto value = string_value(f->value, path + ".name")) {
          if (!is_instance_name(*value)) {
            report(f->value.Mark(), path + ".name",
                   "expected a name of lowercase letters, digits, '_' and '-' starting with a "
                   "letter or digit, at most 63 characters, got " +
                       quote(*value));
          } else if (const auto it = first_line.find(*value); it != first_line.end()) {
            report(f->value.Mark(), path + ".name",
                   "duplicate instance name " + quote(*value) + " (first at line " +
                       std::to_string(it->second) + ")");
          } else {
            first_line.emplace(*value, f->value.Mark().line + 1);
            instance.name = std::move(*value);
          }
        }
      } else {
        missing(s, path + ".name");
      }
      if (const Field* f = s.find("plugin")) {
        if (auto value = string_value(f->value, path + ".plugin")) {
          if (is_plugin_name(*value)) {
            instance.plugin = std::move(*value);
          } else {
            report(f->value.Mark(), path + ".plugin",
                   "expected a plugin name of lowercase letters, digits and '_', got " +
                       quote(*value));
          }
        }
      } else {
        missing(s, path + ".plugin");
      }
      if (const Field* f = s.find("settings")) {
        settings_nodes_ = 0;
        if (f->value.IsNull()) {
          instance.settings = nlohmann::json::object();
        } else if (!f->value.IsMap()) {
          report(f->value.Mark(), path + ".settings",
                 "expected a mapping, got " + describe(f->value));
        } else if (auto value = settings_value(f->value, path + ".settings")) {
          instance.settings = std::move(*value);
        }
      }
      if (problems_.size() == problems_before) {
        checkable_instances_.push_back(instance);
      }
      instances.push_back(std::move(instance));
    }
  }

  // Free-form plugin settings as JSON; ${VAR} and `*_file` secrets apply here too.
  std::optional<nlohmann::json> settings_value(const YAML::Node& node, const std::string& path) {
    if (++settings_nodes_ > kMaxSettingsNodes) {
      if (settings_nodes_ == kMaxSettingsNodes + 1) {
        report(node.Mark(), path,
               "settings expand to more than " + std::to_string(kMaxSettingsNodes) +
                   " values (aliases?)");
      }
      return std::nullopt;
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nlohmann::json(nullptr);
      case YAML::NodeType::Scalar: {
        auto text = substitute(node, path);
        if (!text) {
          return std::nullopt;
        }
        // Quoted or explicitly tagged scalars stay strings; plain ones are typed.
        if (node.Tag() == "?") {
          return plain_scalar_to_json(*text);
        }
        return nlohmann::json(std::move(*text));
      }
      case YAML::NodeType::Sequence: {
        auto out = nlohmann::json::array();
        bool ok = true;
        for (std::size_t i = 0; i < node.size(); ++i) {
          auto value = settings_value(node[i], path + "[" + std::to_string(i) + "]");
          if (value) {
            out.push_back(std::move(*value));
          }
          ok = ok && value.has_value();
        }
        return ok ? std::optional(std::move(out)) : std::nullopt;
      }
      case YAML::NodeType::Map:
        return settings_mapping(node, path);
    }
    return std::nullopt;
  }

  std::optional<nlohmann::json> settings_mapping(const YAML::Node& node, const std::string& path) {
    std::map<std::string, YAML::Node, std::less<>> keys;
    bool ok = true;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        report(it->first.Mark(), path, "expected a plain key, got " + describe(it->first));
        ok = false;
        continue;
      }
      const auto [previous, inserted] = keys.emplace(it->first.Scalar(), it->first);
      if (!inserted) {
        report(it->first.Mark(), child(path, it->first.Scalar()),
               "duplicate key (first at line " + std::to_string(previous->second.Mark().line + 1) +
                   ")");
        ok = false;
      }
    }
    if (!ok) {
      return std::nullopt;
    }
    auto out = nlohmann::json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string& key = it->first.Scalar();
      const std::string key_path = child(path, key);
      const bool is_file_key = key.size() > kFileSuffix.size() && key.ends_with(kFileSuffix);
      if (!is_file_key) {
        auto value = settings_value(it->second, key_path);
        if (value) {
          out[key] = std::move(*value);
        }
        ok = ok && value.has_value();
        continue;
      }
      const std::string name = key.substr(0, key.size() - kFileSuffix.size());
      if (keys.contains(name)) {
        report(it->first.Mark(), key_path,
               child(path, name) + " is also set; keep only one of " + name + " and " + key);
        ok = false;
        continue;
      }
      auto secret = secret_from_file(it->second, key_path);
      if (secret) {
        out[name] = std::move(*secret);
      }
      ok = ok && secret.has_value();
    }
    return ok ? std::optional(std::move(out)) : std::nullopt;
  }

  void read_logging(const Section& s, LoggingConfig& logging) {
    if (const Field* f = s.find("level")) {
      if (auto value = one_of(f->value, "logging.level", kLogLevels)) {
        logging.level = std::move(*value);
      }
    }
  }

  void read_policies(const Section& s, Config& config) {
    if (const Field* f = s.find("tick_ms")) {
      if (auto value = integer(f->value, "policies.tick_ms", 1, 10'000)) {
        config.escalation_tick = std::chrono::milliseconds(*value);
      }
    }
    const Field* f = s.find("path");
    if (f == nullptr) {
      return;
    }
    auto written = path_value(f->value, "policies.path");
    if (!written) {
      return;
    }
    config.policies_path = *written;
    if (!directory_problems_.empty()) {
      return;  // policies are checked against the directory; fix that first
    }
    std::vector<policy::PolicyProblem> warnings;
    auto loaded = policy::load_policies(*written, config.directory, &warnings);
    if (!loaded) {
      const std::string& message = loaded.error().message;
      std::size_t start = 0;
      while (start < message.size()) {
        const std::size_t end = std::min(message.find('\n', start), message.size());
        directory_problems_.push_back(message.substr(start, end - start));
        start = end + 1;
      }
      return;
    }
    config.policies = std::move(loaded.value());
    for (const auto& warning : warnings) {
      config.policy_warnings.push_back(warning.text());
    }
  }

  void read_directory(const Section& s, Config& config) {
    bool zoneinfo_ok = true;
    if (const Field* f = s.find("zoneinfo")) {
      auto value = path_value(f->value, "directory.zoneinfo");
      zoneinfo_ok = value.has_value();
      if (value) {
        config.zoneinfo = std::move(*value);
      }
    }
    const Field* f = s.find("path");
    if (f == nullptr) {
      std::vector<std::string> local_instances;
      for (const auto& instance : config.plugins.instances) {
        if (instance.plugin == "local" && !instance.name.empty()) {
          local_instances.push_back(instance.name);
        }
      }
      if (local_instances.empty()) {
        local_instances.emplace_back("local");
      }
      config.directory = core::default_directory(local_instances);
      return;
    }
    auto written = string_value(f->value, "directory.path", "a path");
    if (!written) {
      return;
    }
    if (written->empty()) {
      report(f->value.Mark(), "directory.path", "expected a path, got an empty string");
      return;
    }
    config.directory_file = resolve(*written);
    // The directory's problems name it as this file names its own: relative to the
    // directory the configuration file was given in.
    const fs::path shown =
        fs::path(*written).is_absolute()
            ? fs::path(*written)
            : (fs::path(display_name_).parent_path() / *written).lexically_normal();
    if (zoneinfo_ok) {
      load_directory_file(f->value.Mark(), *config.directory_file, shown.string(), config);
    }
  }

  void load_directory_file(const YAML::Mark& mark, const fs::path& file, const std::string& shown,
                           Config& config) {
    auto [text, error] = read_file(file, kMaxDirectoryBytes);
    if (error == EFBIG) {
      report(mark, "directory.path",
             "directory file " + quote(file.string()) +
                 " is larger than 16 MiB; is it the right "
                 "file?");
      return;
    }
    if (error != 0) {
      report(mark, "directory.path",
             "cannot read directory file " + quote(file.string()) + ": " + errno_text(error));
      return;
    }
    auto directory = core::parse_directory(text, shown, config.zoneinfo);
    if (!directory) {
      const std::string& message = directory.error().message;
      std::size_t start = 0;
      while (start < message.size()) {
        const std::size_t end = std::min(message.find('\n', start), message.size());
        directory_problems_.push_back(message.substr(start, end - start));
        start = end + 1;
      }
      return;
    }
    // Announcements go out through a plugin instance of this configuration.
    std::vector<std::string_view> names;
    for (const auto& instance : config.plugins.instances) {
      names.push_back(instance.name);
    }
    const auto check_instance = [&](const std::string& instance, const std::string& who,
                                    std::string_view what) {
      if (std::find(names.begin(), names.end(), instance) == names.end()) {
        report(mark, "directory.path",
               who + " in " + shown + " " + std::string(what) + " through instance " +
                   quote(instance) + ", which is not in plugins.instances (" +
                   (names.empty() ? std::string("there are none") : "instances: " + join(names)) +
                   ")");
      }
    };
    for (const auto& organization : directory->organizations) {
      if (organization.announcements) {
        check_instance(organization.announcements->instance,
                       "organization " + quote(organization.id), "posts announcements");
      }
      for (const auto& team : organization.teams) {
        if (team.channel) {
          check_instance(team.channel->instance, "team " + quote(team.id),
                         "is reached in its channel");
        }
      }
    }
    config.directory = std::move(*directory);
  }

  // A duration written as "<integer><unit>" (ms, s, m, h, d) within [min, max];
  // `whole_minutes` for settings kept in minutes.
  std::optional<milliseconds> duration(const YAML::Node& node, const std::string& path,
                                       milliseconds min, milliseconds max, bool whole_minutes) {
    const std::string expected = "expected a duration such as " +
                                 std::string(whole_minutes ? "15m, 4h or 7d" : "500ms, 30s or 5m") +
                                 " (an integer and one of ms, s, m, h, d)";
    if (!node.IsScalar()) {
      report(node.Mark(), path, expected + ", got " + describe(node));
      return std::nullopt;
    }
    const auto text = substitute(node, path);
    if (!text) {
      return std::nullopt;
    }
    const auto value = parse_duration(*text);
    if (!value) {
      report(node.Mark(), path, expected + ", got " + quote(*text));
      return std::nullopt;
    }
    if (*value < min || *value > max) {
      report(node.Mark(), path,
             "expected a duration between " + format_duration(min) + " and " +
                 format_duration(max) + ", got " + quote(*text));
      return std::nullopt;
    }
    if (whole_minutes && value->count() % kMinute.count() != 0) {
      report(node.Mark(), path, "expected whole minutes (such as 90m or 2h), got " + quote(*text));
      return std::nullopt;
    }
    return value;
  }

  void minutes_setting(const Section& s, const std::string& parent, std::string_view key,
                       std::chrono::minutes& out) {
    if (const Field* f = s.find(key)) {
      if (auto value = duration(f->value, child(parent, key), kMinute, kYear, true)) {
        out = std::chrono::duration_cast<std::chrono::minutes>(*value);
      }
    }
  }

  void read_incidents(const Section& s, core::IncidentSettings& incidents) {
    const Section sla = section(s, "incidents", "sla", kSeverityKeys);
    const Section nudge = section(s, "incidents", "nudge_after", kSeverityKeys);
    for (std::size_t i = 0; i < kSeverityKeys.size(); ++i) {
      const std::string severity(kSeverityKeys.at(i));
      const Section target = section(sla, "incidents.sla", severity, kSlaTargetKeys);
      const std::string target_path = "incidents.sla." + severity;
      minutes_setting(target, target_path, "acknowledge", incidents.sla.at(i).acknowledge);
      minutes_setting(target, target_path, "resolve", incidents.sla.at(i).resolve);
      minutes_setting(nudge, "incidents.nudge_after", severity, incidents.nudge_after.at(i));
    }
    const Section follow_up = section(s, "incidents", "follow_up_reminders", kFollowUpKeys);
    minutes_setting(follow_up, "incidents.follow_up_reminders", "before",
                    incidents.follow_up_reminder_before);
    minutes_setting(follow_up, "incidents.follow_up_reminders", "overdue_every",
                    incidents.overdue_reminder_every);
  }

  void read_outbox(const Section& s, core::OutboxSettings& outbox) {
    const Field* first = s.find("first_retry_delay");
    const Field* max = s.find("max_retry_delay");
    bool delays_ok = true;
    if (first != nullptr) {
      auto value =
          duration(first->value, "outbox.first_retry_delay", milliseconds(1), kHour, false);
      delays_ok = value.has_value();
      outbox.first_retry_delay = value.value_or(outbox.first_retry_delay);
    }
    if (max != nullptr) {
      auto value = duration(max->value, "outbox.max_retry_delay", milliseconds(1), kDay, false);
      delays_ok = delays_ok && value.has_value();
      outbox.max_retry_delay = value.value_or(outbox.max_retry_delay);
    }
    if (delays_ok && outbox.first_retry_delay > outbox.max_retry_delay) {
      const Field* where = first != nullptr ? first : max;
      report(where->value.Mark(),
             first != nullptr ? "outbox.first_retry_delay" : "outbox.max_retry_delay",
             "the first retry delay (" + format_duration(outbox.first_retry_delay) +
                 ") is longer than max_retry_delay (" + format_duration(outbox.max_retry_delay) +
                 "); the delay doubles from the first up to the max");
    }
    if (const Field* f = s.find("max_attempts")) {
      if (auto value = integer(f->value, "outbox.max_attempts", 1, 1000)) {
        outbox.max_attempts = static_cast<int>(*value);
      }
    }
    if (const Field* f = s.find("default_channel_interval")) {
      if (auto value = duration(f->value, "outbox.default_channel_interval", milliseconds(1), kHour,
                                false)) {
        outbox.default_channel_interval = *value;
      }
    }
    if (const Field* f = s.find("default_instance_per_second")) {
      if (auto value = rate(f->value, "outbox.default_instance_per_second")) {
        outbox.default_instance_per_second = *value;
      }
    }
  }

  // A number of messages per second: greater than 0, at most kMaxInstancePerSecond.
  std::optional<double> rate(const YAML::Node& node, const std::string& path) {
    const std::string expected = "expected a number greater than 0 and at most " +
                                 std::to_string(static_cast<int>(kMaxInstancePerSecond)) +
                                 " (such as 20 or 0.5)";
    if (!node.IsScalar()) {
      report(node.Mark(), path, expected + ", got " + describe(node));
      return std::nullopt;
    }
    const auto text = substitute(node, path);
    if (!text) {
      return std::nullopt;
    }
    double value = 0;
    const char* end = text->data() + text->size();
    const auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (!looks_like_float(*text) || ec != std::errc{} || ptr != end || !(value > 0) ||
        value > kMaxInstancePerSecond) {
      report(node.Mark(), path, expected + ", got " + quote(*text));
      return std::nullopt;
    }
    return value;
  }

  struct Problem {
    int line;
    int column;
    std::string text;
  };

  std::string display_name_;
  fs::path base_dir_;
  std::vector<Problem> problems_;
  std::vector<std::string> directory_problems_;  // already "<file>:<line>:<col>: …", in order
  std::size_t settings_nodes_ = 0;
  bool plugins_directory_ok_ = false;
  std::vector<PluginInstanceConfig> checkable_instances_;  // read without a problem
};

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems,
                         std::shared_ptr<const PluginsConfig> plugins)
    : std::runtime_error(join_lines(problems)),
      problems_(std::move(problems)),
      plugins_(std::move(plugins)) {}

Config load_config(const std::filesystem::path& file) {
  const std::string display_name = file.string();
  auto [text, error] = read_file(file, std::numeric_limits<std::size_t>::max());
  if (error != 0) {
    throw ConfigError({display_name + ": cannot read: " + errno_text(error)});
  }

  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError({display_name + ':' + std::to_string(e.mark.line + 1) + ':' +
                       std::to_string(e.mark.column + 1) + ": " + e.msg});
  } catch (const YAML::Exception& e) {
    throw ConfigError({display_name + ": " + e.what()});
  }
  if (documents.empty() || documents.front().IsNull()) {
    throw ConfigError(
        {display_name + ": the file is empty; expected a mapping with at least api and plugins"});
  }
  if (documents.size() > 1) {
    const YAML::Mark mark = documents[1].Mark();
    throw ConfigError({display_name + ':' + std::to_string(mark.line + 1) + ':' +
                       std::to_string(mark.column + 1) +
                       ": a second YAML document; the configuration is a single document"});
  }

  Config config;
  std::error_code ec;
  config.source = fs::absolute(file, ec).lexically_normal();
  if (ec) {
    config.source = file;
  }
  ConfigReader reader(display_name, config.source.parent_path());
  try {
    reader.read(documents.front(), config);
  } catch (const YAML::Exception& e) {
    reader.add_problem(display_name + ": " + e.what());
  }
  if (reader.has_problems()) {
    auto plugins = reader.checkable_plugins(config.plugins);
    throw ConfigError(reader.take_problems(), std::move(plugins));
  }
  return config;
}

}  // namespace haveri::daemon
