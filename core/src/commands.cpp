#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <haveri/core/commands.hpp>

#include "wording.hpp"

namespace haveri::core {

namespace {

constexpr std::string_view kDeclareUsage =
    "/incident declare <title> [sev1|sev2|sev3] [area:<area>] [assets:<asset>,<asset>]";
constexpr std::string_view kStatusUsage =
    "/incident status <declared|investigating|mitigated|resolved|closed>";
constexpr std::string_view kSevUsage = "/incident sev <sev1|sev2|sev3>";
constexpr std::string_view kLeadUsage = "/incident lead <@user|user id|me>";
constexpr std::string_view kCommsUsage = "/incident comms <@user|user id|me>";
constexpr std::string_view kAckUsage = "/incident ack [INC-<n>]";
constexpr std::string_view kNoteUsage = "/incident note <text>";
constexpr std::string_view kActionUsage = "/incident action <text>";
constexpr std::string_view kHelpUsage = "/incident help [command]";
constexpr std::string_view kTitleUsage = "/incident title <new title>";
constexpr std::string_view kResolveUsage = "/incident resolve";
constexpr std::string_view kCloseUsage = "/incident close";
constexpr std::string_view kTimelineUsage = "/incident timeline [count]";
constexpr std::string_view kListUsage = "/incident list [open|all]";
constexpr std::string_view kSearchUsage = "/incident search <words>";
constexpr std::string_view kFollowUpUsage =
    "/incident followup <description> [@owner] [due:<when>] | followup assign <n> <@user|me> | "
    "followup due <n> <when> | followup start|done|reopen <n> | followup list [mine|all|@user]";
constexpr std::string_view kAllUsage =
    "/incident declare <title> [sev1|sev2|sev3] | status <state> | sev <severity> | "
    "lead <@user|me> | comms <@user|me> | ack | note <text> | action <text> | title <text> | "
    "followup … | resolve | close | timeline | list | search <words> | help [command]";
constexpr std::string_view kWhenHelp =
    "<when> is +3d, +4h, +2w, tomorrow, 2026-12-01 (09:00 UTC) or 2026-12-01T14:30 (UTC)";
constexpr std::string_view kValidStates = "declared, investigating, mitigated, resolved or closed";

// Longest user id accepted by lead/comms, in bytes (Slack ids are ~11, Teams ids ~100).
constexpr std::size_t kMaxUserIdBytes = 200;
// How much of an unrecognised word is echoed back in a reply.
constexpr std::size_t kMaxEchoCodePoints = 40;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) {
      ++i;
    }
    if (i > start) {
      words.push_back(text.substr(start, i - start));
    }
  }
  return words;
}

// Non-blank lines, without their line breaks.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && is_space(line.back())) {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      lines.push_back(line);
    }
    start = end + 1;
  }
  return lines;
}

// Length in bytes of the valid UTF-8 sequence starting at `pos`, or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  std::size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead < 0x80) {
    return 1;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) {
      min_second = 0xA0;  // no overlong forms
    } else if (lead == 0xED) {
      max_second = 0x9F;  // no surrogates
    }
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) {
      min_second = 0x90;
    } else if (lead == 0xF4) {
      max_second = 0x8F;  // nothing above U+10FFFF
    }
  } else {
    return 0;
  }
  if (pos + length > text.size()) {
    return 0;
  }
  if (byte(pos + 1) < min_second || byte(pos + 1) > max_second) {
    return 0;
  }
  for (std::size_t i = pos + 2; i < pos + length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t length = utf8_sequence_length(text, pos);
    if (length == 0) {
      return false;
    }
    pos += length;
  }
  return true;
}

// Valid UTF-8 only.
std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
      ++count;
    }
  }
  return count;
}

// Untrusted text made safe to echo in a reply: valid UTF-8 (bad bytes become U+FFFD)
// and at most kMaxEchoCodePoints long.
std::string echo(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  std::size_t shown = 0;
  while (pos < text.size()) {
    if (shown == kMaxEchoCodePoints) {
      out += "…";
      break;
    }
    const std::size_t length = utf8_sequence_length(text, pos);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++pos;
    } else {
      out.append(text.substr(pos, length));
      pos += length;
    }
    ++shown;
  }
  return out;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// A title wholly wrapped in "…" (or “…” as phones type them) loses the quotes.
std::string_view strip_quotes(std::string_view title) {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kQuotes = {
      {{"\"", "\""}, {"\xE2\x80\x9C", "\xE2\x80\x9D"}}};
  for (const auto& [open, close] : kQuotes) {
    if (title.size() >= open.size() + close.size() && starts_with(title, open) &&
        ends_with(title, close)) {
      title = title.substr(open.size(), title.size() - open.size() - close.size());
      while (!title.empty() && is_space(title.front())) {
        title.remove_prefix(1);
      }
      while (!title.empty() && is_space(title.back())) {
        title.remove_suffix(1);
      }
      return title;
    }
  }
  return title;
}

// "sev9", "SEV12": meant as a severity, but not one we have.
bool looks_like_severity(std::string_view word) {
  const std::string lower = wording::lower_ascii(word);
  if (lower.size() < 4 || !starts_with(lower, "sev")) {
    return false;
  }
  for (std::size_t i = 3; i < lower.size(); ++i) {
    if (lower[i] < '0' || lower[i] > '9') {
      return false;
    }
  }
  return true;
}

// Why `title` cannot be an incident title; nullopt if it can.
std::optional<std::string> title_problem(std::string_view title) {
  if (title.empty()) {
    return "the title is empty";
  }
  if (!is_valid_utf8(title)) {
    return "the title is not valid UTF-8 text";
  }
  // One line: a title is shown in channel topics, lists and headers.
  if (std::any_of(title.begin(), title.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "the title must be one line without control characters";
  }
  const std::size_t length = count_code_points(title);
  if (length > kMaxTitleCodePoints) {
    return "the title is " + std::to_string(length) + " characters long; keep it to " +
           std::to_string(kMaxTitleCodePoints) + " or fewer";
  }
  return std::nullopt;
}

// An id as written in the directory: a-z, 0-9, '-' and '_', at most 64 bytes.
bool is_directory_id(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return false;
  }
  for (const char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

// "area:x" / "area=x" -> "x" when `word` starts with one of the keys; nullopt otherwise.
std::optional<std::string> option_value(std::string_view word,
                                        std::initializer_list<std::string_view> keys) {
  const std::string lower = wording::lower_ascii(word);
  for (const std::string_view key : keys) {
    if (lower.size() > key.size() && lower.compare(0, key.size(), key) == 0 &&
        (lower[key.size()] == ':' || lower[key.size()] == '=')) {
      return lower.substr(key.size() + 1);
    }
  }
  return std::nullopt;
}

std::variant<Command, CommandError> parse_declare(std::span<const std::string_view> all_args) {
  DeclareCommand command;
  std::vector<std::string_view> kept;
  for (const std::string_view word : all_args) {
    if (auto area = option_value(word, {"area"})) {
      if (!is_directory_id(*area)) {
        return CommandError{"\"" + echo(word) + "\" is not an area id (letters, digits, -)",
                            std::string(kDeclareUsage)};
      }
      command.area = *area;
    } else if (auto assets = option_value(word, {"assets", "asset"})) {
      for (std::string& asset : wording::split_list(*assets)) {
        if (!is_directory_id(asset)) {
          return CommandError{"\"" + echo(asset) + "\" is not an asset id (letters, digits, -)",
                              std::string(kDeclareUsage)};
        }
        command.assets.push_back(std::move(asset));
      }
    } else {
      kept.push_back(word);
    }
  }
  std::span<const std::string_view> args(kept);
  std::optional<Severity> severity;
  if (args.size() == 1 && parse_severity(args.front())) {
    severity = parse_severity(args.front());
    args = args.subspan(1);
  }
  if (args.size() >= 2) {
    if ((severity = parse_severity(args.back()))) {
      args = args.first(args.size() - 1);
    } else if (looks_like_severity(args.back())) {
      return CommandError{"unknown severity \"" + echo(args.back()) +
                              "\"; use sev1 (line down), sev2 (degraded) or sev3 (minor)",
                          std::string(kDeclareUsage)};
    }
  }
  std::string joined;
  for (const std::string_view word : args) {
    if (!joined.empty()) {
      joined += ' ';
    }
    joined.append(word);
  }
  const std::string_view title = strip_quotes(joined);
  if (title.empty()) {
    command.severity = severity;
    return Command{std::move(command)};  // the triage form asks for the title
  }
  if (auto problem = title_problem(title)) {
    return CommandError{*problem, std::string(kDeclareUsage)};
  }
  command.title = std::string(title);
  command.severity = severity;
  return Command{std::move(command)};
}

// The single word a command takes, or the error for none or several. `noun` names
// it ("state"), `valid` lists the choices.
std::variant<std::string_view, CommandError> one_word(std::span<const std::string_view> args,
                                                      std::string_view verb, std::string_view noun,
                                                      std::string_view valid,
                                                      std::string_view usage) {
  const std::string subject = std::string(verb) + " needs a " + std::string(noun);
  if (args.empty()) {
    return CommandError{subject + ": " + std::string(valid), std::string(usage)};
  }
  if (args.size() > 1) {
    return CommandError{std::string(verb) + " takes one " + std::string(noun) + ", not " +
                            std::to_string(args.size()) + " words; use " + std::string(valid),
                        std::string(usage)};
  }
  return args.front();
}

std::variant<Command, CommandError> parse_status_command(std::span<const std::string_view> args) {
  auto word = one_word(args, "status", "state", kValidStates, kStatusUsage);
  if (auto* error = std::get_if<CommandError>(&word)) {
    return std::move(*error);
  }
  const auto status = parse_status(std::get<std::string_view>(word));
  if (!status) {
    return CommandError{"unknown state \"" + echo(std::get<std::string_view>(word)) + "\"; use " +
                            std::string(kValidStates),
                        std::string(kStatusUsage)};
  }
  return Command{StatusCommand{*status}};
}

std::variant<Command, CommandError> parse_sev(std::span<const std::string_view> args) {
  constexpr std::string_view kValid = "sev1 (line down), sev2 (degraded) or sev3 (minor)";
  auto word = one_word(args, "sev", "severity", kValid, kSevUsage);
  if (auto* error = std::get_if<CommandError>(&word)) {
    return std::move(*error);
  }
  const auto severity = parse_severity(std::get<std::string_view>(word));
  if (!severity) {
    return CommandError{"unknown severity \"" + echo(std::get<std::string_view>(word)) +
                            "\"; use " + std::string(kValid),
                        std::string(kSevUsage)};
  }
  return Command{SeverityCommand{*severity}};
}

// "@alice", "<@U123>", "<@U123|alice>" (Slack) or "alice" -> the person; "me" -> nullopt.
// `verb` is "lead" or "comms", for messages.
std::variant<std::optional<Actor>, CommandError> parse_person(
    std::string_view verb, std::span<const std::string_view> args, std::string_view usage) {
  const std::string v(verb);
  if (args.empty()) {
    return CommandError{v + " needs a person: @name, a user id, or me", std::string(usage)};
  }
  if (args.size() > 1) {
    return CommandError{v + " takes one person, not " + std::to_string(args.size()) + " words",
                        std::string(usage)};
  }
  std::string_view word = args.front();
  if (wording::lower_ascii(word) == "me") {
    return std::optional<Actor>{};
  }
  std::string_view name;
  if (starts_with(word, "<@") && ends_with(word, ">")) {
    word = word.substr(2, word.size() - 3);
    if (const auto bar = word.find('|'); bar != std::string_view::npos) {
      name = word.substr(bar + 1);
      word = word.substr(0, bar);
    }
  } else if (starts_with(word, "@")) {
    word.remove_prefix(1);
  }
  const auto bad = [&](std::string_view why) {
    return CommandError{v + ": \"" + echo(args.front()) + "\" " + std::string(why) +
                            "; name one person as @name, a user id, or me",
                        std::string(usage)};
  };
  if (word.empty()) {
    return bad("names nobody");
  }
  if (word.find_first_of("<>@|") != std::string_view::npos ||
      name.find_first_of("<>@|") != std::string_view::npos) {
    return bad("is not a user");
  }
  if (word.size() > kMaxUserIdBytes || name.size() > kMaxUserIdBytes) {
    return bad("is too long for a user id");
  }
  if (!is_valid_utf8(word) || !is_valid_utf8(name)) {
    return bad("is not valid UTF-8 text");
  }
  return std::optional<Actor>{Actor{std::string(word), std::string(name.empty() ? word : name)}};
}

// The text after the verb as typed (line breaks kept), or an error.
std::variant<std::string, CommandError> parse_text(std::string_view verb,
                                                   std::span<const std::string_view> args,
                                                   std::string_view usage) {
  if (args.empty()) {
    return CommandError{std::string(verb) + " needs some text", std::string(usage)};
  }
  // The words are views into the command text, so this is the original span of it.
  const char* begin = args.front().data();
  const char* end = args.back().data() + args.back().size();
  const std::string_view text(begin, static_cast<std::size_t>(end - begin));
  if (!is_valid_utf8(text)) {
    return CommandError{"the " + std::string(verb) + " is not valid UTF-8 text",
                        std::string(usage)};
  }
  const std::size_t length = count_code_points(text);
  if (length > kMaxNoteCodePoints) {
    return CommandError{"the " + std::string(verb) + " is " + std::to_string(length) +
                            " characters long; keep it to " + std::to_string(kMaxNoteCodePoints) +
                            " or fewer",
                        std::string(usage)};
  }
  return std::string(text);
}

std::string joined_text(std::span<const std::string_view> args) {
  if (args.empty()) {
    return {};
  }
  const char* begin = args.front().data();
  const char* end = args.back().data() + args.back().size();
  return std::string(begin, static_cast<std::size_t>(end - begin));
}

// A positive whole number of at most 9 digits.
std::optional<std::int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 9) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value > 0 ? std::optional<std::int64_t>(value) : std::nullopt;
}

// "7", "#7", "INC-7" (any case): an incident number.
std::optional<IncidentId> parse_incident_number(std::string_view text) {
  if (!text.empty() && text.front() == '#') {
    text.remove_prefix(1);
  } else if (text.size() > 4 && wording::lower_ascii(text.substr(0, 4)) == "inc-") {
    text.remove_prefix(4);
  }
  auto number = parse_count(text);
  if (!number || *number < 1) {
    return std::nullopt;
  }
  return static_cast<IncidentId>(*number);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "+3d", "+4h", "+2w", "+90m", "tomorrow", "2026-12-01", "2026-12-01T14:30".
std::optional<DueSpec> parse_when(std::string_view text) {
  const std::string lower = wording::lower_ascii(text);
  if (lower == "tomorrow") {
    return DueSpec{std::nullopt, std::chrono::minutes(24 * 60)};
  }
  if (lower.size() >= 3 && lower.front() == '+') {
    const auto count = parse_count(std::string_view(lower).substr(1, lower.size() - 2));
    if (!count || *count > 5000) {
      return std::nullopt;
    }
    const char unit = lower.back();
    const std::int64_t per = unit == 'm'   ? 1
                             : unit == 'h' ? 60
                             : unit == 'd' ? 1440
                             : unit == 'w' ? 10080
                                           : 0;
    if (per == 0) {
      return std::nullopt;
    }
    return DueSpec{std::nullopt, std::chrono::minutes(*count * per)};
  }
  const auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<unsigned> {
    unsigned value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (i >= lower.size() || lower[i] < '0' || lower[i] > '9') {
        return std::nullopt;
      }
      value = value * 10 + static_cast<unsigned>(lower[i] - '0');
    }
    return value;
  };
  if (lower.size() != 10 && lower.size() != 16) {
    return std::nullopt;
  }
  const auto year = digits(0, 4);
  const auto month = digits(5, 2);
  const auto day = digits(8, 2);
  if (!year || !month || !day || lower[4] != '-' || lower[7] != '-' || *year < 2000 ||
      *year > 2200 || *month < 1 || *month > 12 || *day < 1 || *day > 31) {
    return std::nullopt;
  }
  unsigned hour = 9;
  unsigned minute = 0;
  if (lower.size() == 16) {
    const auto h = digits(11, 2);
    const auto mi = digits(14, 2);
    if (lower[10] != 't' || lower[13] != ':' || !h || !mi || *h > 23 || *mi > 59) {
      return std::nullopt;
    }
    hour = *h;
    minute = *mi;
  }
  const std::int64_t days = days_from_civil(*year, *month, *day);
  // Reject 2026-02-31 and friends: the date must survive a round trip.
  if (days_from_civil(*year, *month, 1) + *day - 1 != days ||
      (*month < 12 ? days_from_civil(*year, *month + 1, 1) : days_from_civil(*year + 1, 1, 1)) <=
          days) {
    return std::nullopt;
  }
  const auto minutes = std::chrono::minutes(days * 1440 + std::int64_t{hour} * 60 + minute);
  return DueSpec{TimePoint(std::chrono::duration_cast<std::chrono::milliseconds>(minutes)),
                 std::chrono::minutes(0)};
}

bool is_mention(std::string_view word) {
  return starts_with(word, "@") || (starts_with(word, "<@") && ends_with(word, ">"));
}

std::variant<Command, CommandError> parse_follow_up(std::span<const std::string_view> args) {
  const std::string usage(kFollowUpUsage);
  if (args.empty()) {
    return CommandError{
        "followup needs a description or one of assign, due, start, done, "
        "reopen, list",
        usage};
  }
  FollowUpCommand command;
  const std::string sub = wording::lower_ascii(args.front());
  const auto rest = args.subspan(1);
  const auto number_at = [&](std::size_t i) -> std::variant<std::int64_t, CommandError> {
    if (rest.size() <= i) {
      return CommandError{"followup " + sub + " needs the follow-up's number (see followup list)",
                          usage};
    }
    auto number = parse_count(starts_with(rest[i], "#") ? rest[i].substr(1) : rest[i]);
    if (!number) {
      return CommandError{"\"" + echo(rest[i]) + "\" is not a follow-up number", usage};
    }
    return *number;
  };
  if (sub == "list") {
    command.action = FollowUpCommand::Action::list;
    if (rest.size() > 1) {
      return CommandError{"followup list takes at most one word: mine, all or @user", usage};
    }
    if (!rest.empty()) {
      const std::string scope = wording::lower_ascii(rest.front());
      if (scope == "mine" || scope == "all") {
        command.list_scope = scope;
      } else {
        auto person = parse_person("followup list", rest, usage);
        if (auto* error = std::get_if<CommandError>(&person)) {
          return std::move(*error);
        }
        command.list_person = std::get<std::optional<Actor>>(person);
        command.list_scope = command.list_person ? "person" : "mine";
      }
    }
    return Command{std::move(command)};
  }
  if (sub == "assign" || sub == "due" || sub == "start" || sub == "done" || sub == "reopen") {
    auto number = number_at(0);
    if (auto* error = std::get_if<CommandError>(&number)) {
      return std::move(*error);
    }
    command.number = std::get<std::int64_t>(number);
    if (sub == "assign") {
      command.action = FollowUpCommand::Action::assign;
      auto person = parse_person("followup assign", rest.subspan(1), usage);
      if (auto* error = std::get_if<CommandError>(&person)) {
        return std::move(*error);
      }
      command.assignee = std::get<std::optional<Actor>>(person);
      command.assign_to_caller = !command.assignee;
    } else if (sub == "due") {
      command.action = FollowUpCommand::Action::redate;
      if (rest.size() != 2) {
        return CommandError{"followup due needs a number and one date; " + std::string(kWhenHelp),
                            usage};
      }
      command.due = parse_when(rest[1]);
      if (!command.due) {
        return CommandError{"\"" + echo(rest[1]) + "\" is not a date; " + std::string(kWhenHelp),
                            usage};
      }
    } else {
      command.action = FollowUpCommand::Action::status;
      command.status = sub == "start"  ? FollowUpStatus::in_progress
                       : sub == "done" ? FollowUpStatus::done
                                       : FollowUpStatus::open;
      if (rest.size() != 1) {
        return CommandError{"followup " + sub + " takes only the follow-up's number", usage};
      }
    }
    return Command{std::move(command)};
  }
  // followup [add] <description> [@owner] [due:<when>]
  std::span<const std::string_view> words = sub == "add" ? rest : args;
  std::vector<std::string_view> description;
  for (const std::string_view word : words) {
    if (auto when = option_value(word, {"due"})) {
      command.due = parse_when(*when);
      if (!command.due) {
        return CommandError{"\"" + echo(word) + "\" is not a due date; " + std::string(kWhenHelp),
                            usage};
      }
    } else if (is_mention(word)) {
      const std::string_view one[] = {word};
      auto person = parse_person("followup", one, usage);
      if (auto* error = std::get_if<CommandError>(&person)) {
        return std::move(*error);
      }
      command.assignee = std::get<std::optional<Actor>>(person);
    } else {
      description.push_back(word);
    }
  }
  // Options typed in the middle are taken out, so the rest is joined word by word;
  // without any, the text is kept as typed (line breaks included).
  command.description = description.size() == words.size() ? joined_text(description) : "";
  if (command.description.empty()) {
    for (const std::string_view word : description) {
      command.description += (command.description.empty() ? "" : " ") + std::string(word);
    }
  }
  if (command.description.empty()) {
    return CommandError{"followup needs a description of the work", usage};
  }
  if (!is_valid_utf8(command.description) ||
      count_code_points(command.description) > kMaxNoteCodePoints) {
    return CommandError{"the description must be UTF-8 text of at most " +
                            std::to_string(kMaxNoteCodePoints) + " characters",
                        usage};
  }
  return Command{std::move(command)};
}

// Form values: trimmed text of one input, "" if absent.
std::string form_value(const std::map<std::string, std::string>& values, const char* name) {
  auto it = values.find(name);
  if (it == values.end()) {
    return {};
  }
  std::string_view text = it->second;
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// A long text input of a form: required or not, at most kMaxSummaryFieldBytes.
std::string form_text(const std::map<std::string, std::string>& values, const char* name,
                      bool required, std::map<std::string, std::string>& errors) {
  std::string text = form_value(values, name);
  if (required && text.empty()) {
    errors[name] = "required";
  } else if (!is_valid_utf8(text)) {
    errors[name] = "not valid UTF-8 text";
  } else if (text.size() > kMaxSummaryFieldBytes) {
    errors[name] = "at most " + std::to_string(kMaxSummaryFieldBytes / 1024) + " KB (" +
                   std::to_string(text.size() / 1024 + 1) + " KB given)";
  }
  return text;
}

std::optional<std::int64_t> form_number(const std::map<std::string, std::string>& values,
                                        const char* name,
                                        std::map<std::string, std::string>& errors) {
  const std::string text = form_value(values, name);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.find_first_not_of('0') == std::string::npos) {
    return 0;  // "0", "00", …
  }
  auto number = parse_count(text);
  if (!number) {
    errors[name] = "a whole number from 0 to 999999999";
  }
  return number;
}

CommandError form_error(std::string_view what, std::map<std::string, std::string> errors,
                        std::string_view usage) {
  std::string problem = "the " + std::string(what) + " form has problems:";
  for (const auto& [field, why] : errors) {
    problem += " " + field + ": " + why + ";";
  }
  problem.pop_back();
  return CommandError{std::move(problem), std::string(usage), std::move(errors)};
}

}  // namespace

std::variant<Command, CommandError> parse_command(std::string_view text) {
  std::vector<std::string_view> words = split_words(text);
  std::span<const std::string_view> rest(words);
  // "/incident" from Slack and the local transport; "incident" from a Teams mention.
  if (!rest.empty()) {
    const std::string first = wording::lower_ascii(rest.front());
    if (first == "/incident" || first == "incident") {
      rest = rest.subspan(1);
    }
  }
  if (rest.empty()) {
    return Command{HelpCommand{}};
  }
  const std::string verb = wording::lower_ascii(rest.front());
  const auto args = rest.subspan(1);
  if (verb == "declare") {
    return parse_declare(args);
  }
  if (verb == "status") {
    return parse_status_command(args);
  }
  if (verb == "sev" || verb == "severity") {
    return parse_sev(args);
  }
  if (verb == "lead" || verb == "comms") {
    const bool lead = verb == "lead";
    auto person = parse_person(verb, args, lead ? kLeadUsage : kCommsUsage);
    if (auto* error = std::get_if<CommandError>(&person)) {
      return std::move(*error);
    }
    auto& who = std::get<std::optional<Actor>>(person);
    return lead ? Command{LeadCommand{std::move(who)}} : Command{CommsCommand{std::move(who)}};
  }
  if (verb == "ack") {
    if (args.empty()) {
      return Command{AckCommand{}};
    }
    if (args.size() == 1) {
      if (auto number = parse_incident_number(args.front())) {
        return Command{AckCommand{*number}};
      }
    }
    return CommandError{"ack takes nothing after it, or an incident number such as INC-7",
                        std::string(kAckUsage)};
  }
  if (verb == "note" || verb == "action") {
    const bool note = verb == "note";
    auto parsed = parse_text(verb, args, note ? kNoteUsage : kActionUsage);
    if (auto* error = std::get_if<CommandError>(&parsed)) {
      return std::move(*error);
    }
    auto& body = std::get<std::string>(parsed);
    return note ? Command{NoteCommand{std::move(body)}} : Command{ActionCommand{std::move(body)}};
  }
  if (verb == "help") {
    return Command{
        HelpCommand{args.empty() ? std::string() : echo(wording::lower_ascii(args.front()))}};
  }
  if (verb == "title") {
    const std::string title(strip_quotes(joined_text(args)));
    if (auto problem = title_problem(title)) {
      return CommandError{args.empty() ? "title needs the new title" : *problem,
                          std::string(kTitleUsage)};
    }
    return Command{TitleCommand{title}};
  }
  if (verb == "resolve" || verb == "close") {
    if (!args.empty()) {
      return CommandError{verb + " takes nothing after it" +
                              (verb == "resolve" ? "; it opens the summary form" : ""),
                          std::string(verb == "resolve" ? kResolveUsage : kCloseUsage)};
    }
    return verb == "resolve" ? Command{ResolveCommand{}} : Command{CloseCommand{}};
  }
  if (verb == "timeline") {
    TimelineCommand command;
    if (args.size() > 1 || (args.size() == 1 && !parse_count(args.front()))) {
      return CommandError{"timeline takes at most a count of entries", std::string(kTimelineUsage)};
    }
    if (args.size() == 1) {
      command.count = std::min<std::int64_t>(*parse_count(args.front()), 200);
    }
    return Command{command};
  }
  if (verb == "list") {
    const std::string scope = args.empty() ? "open" : wording::lower_ascii(args.front());
    if (args.size() > 1 || (scope != "open" && scope != "all")) {
      return CommandError{"list takes open (the default) or all", std::string(kListUsage)};
    }
    return Command{ListCommand{scope == "all"}};
  }
  if (verb == "followup" || verb == "follow-up" || verb == "followups") {
    return parse_follow_up(args);
  }
  if (verb == "search" || verb == "find") {
    std::string query = joined_text(args);
    if (query.empty()) {
      return CommandError{"search needs something to look for", std::string(kSearchUsage)};
    }
    if (query.size() > kMaxSearchBytes) {
      return CommandError{"search text is limited to " + std::to_string(kMaxSearchBytes) +
                              " bytes; try a few distinctive words",
                          std::string(kSearchUsage)};
    }
    return Command{SearchCommand{std::move(query)}};
  }
  return CommandError{"unknown command \"" + echo(rest.front()) + "\"", std::string(kAllUsage)};
}

std::optional<IncidentId> form_incident(std::string_view form_id) noexcept {
  const auto colon = form_id.find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  auto number = parse_count(form_id.substr(colon + 1));
  if (!number) {
    return std::nullopt;
  }
  return *number;
}

std::variant<Command, CommandError> parse_form_submission(
    std::string_view form_id, const std::map<std::string, std::string>& values) {
  const std::string_view kind = form_id.substr(0, form_id.find(':'));
  std::map<std::string, std::string> errors;
  if (kind == "declare") {
    DeclareCommand command;
    command.title = form_value(values, "title");
    if (auto problem = title_problem(command.title)) {
      errors["title"] = command.title.empty() ? "required" : *problem;
    }
    const std::string severity = form_value(values, "severity");
    command.severity = parse_severity(severity);
    if (!command.severity) {
      errors["severity"] = severity.empty() ? "required" : "choose sev1, sev2 or sev3";
    }
    command.area = wording::lower_ascii(form_value(values, "area"));
    if (!command.area.empty() && !is_directory_id(command.area)) {
      errors["area"] = "not an area id";
    }
    for (std::string& asset :
         wording::split_list(wording::lower_ascii(form_value(values, "assets")))) {
      if (!is_directory_id(asset)) {
        errors["assets"] = "\"" + echo(asset) + "\" is not an asset id";
      }
      command.assets.push_back(std::move(asset));
    }
    if (!errors.empty()) {
      return form_error("declare", std::move(errors), kDeclareUsage);
    }
    return Command{std::move(command)};
  }
  if (!form_incident(form_id)) {
    return CommandError{"unknown form \"" + echo(form_id) + "\"", std::string(kAllUsage)};
  }
  if (kind == "resolve") {
    Summary summary;
    summary.what_happened = form_text(values, "what_happened", true, errors);
    summary.root_cause = form_text(values, "root_cause", true, errors);
    summary.resolution = form_text(values, "resolution", true, errors);
    summary.impact.duration_minutes = form_number(values, "duration_minutes", errors);
    summary.impact.lines_affected = form_number(values, "lines_affected", errors);
    summary.impact.units_lost = form_number(values, "units_lost", errors);
    // Free impact fields: "other" holds "label: value" lines.
    const std::string other = form_text(values, "other_impact", false, errors);
    for (const std::string_view line : split_lines(other)) {
      const auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        errors["other_impact"] = "write one \"label: value\" per line";
        break;
      }
      std::string label(line.substr(0, colon));
      std::string value(line.substr(colon + 1));
      while (!value.empty() && value.front() == ' ') {
        value.erase(0, 1);
      }
      summary.impact.other[std::move(label)] = std::move(value);
    }
    if (!errors.empty()) {
      return form_error("resolve", std::move(errors), kResolveUsage);
    }
    return Command{ResolveCommand{std::move(summary)}};
  }
  if (kind == "triage") {
    TriageCommand command;
    for (const char* name : {"line_stopped", "safety_risk"}) {
      const std::string answer = wording::lower_ascii(form_value(values, name));
      if (answer == "yes" || answer == "no" || answer == "unknown") {
        command.answers[name] = answer;
      } else if (!answer.empty()) {
        errors[name] = "choose yes, no or unknown";
      }
    }
    // Area and assets are directory ids, matched like the declare form's.
    const std::string area = wording::lower_ascii(form_value(values, "area"));
    if (!area.empty() && !is_directory_id(area)) {
      errors["area"] = "not an area id";
    } else if (!area.empty()) {
      command.answers["area"] = area;
    }
    const auto assets = wording::split_list(wording::lower_ascii(form_value(values, "assets")));
    for (const std::string& asset : assets) {
      if (!is_directory_id(asset)) {
        errors["assets"] = "\"" + echo(asset) + "\" is not an asset id";
      }
    }
    if (!assets.empty()) {
      std::string joined;
      for (const std::string& asset : assets) {
        joined += (joined.empty() ? "" : ",") + asset;
      }
      command.answers["assets"] = std::move(joined);
    }
    std::string impact = form_text(values, "impact", false, errors);
    if (!impact.empty()) {
      command.answers["impact"] = std::move(impact);
    }
    if (command.answers.empty() && errors.empty()) {
      errors["impact"] = "answer at least one question";
    }
    if (!errors.empty()) {
      return form_error("triage", std::move(errors), kAllUsage);
    }
    return Command{std::move(command)};
  }
  if (kind == "followup") {
    FollowUpCommand command;
    command.description = form_value(values, "description");
    if (command.description.empty()) {
      errors["description"] = "required";
    } else if (!is_valid_utf8(command.description) ||
               count_code_points(command.description) > kMaxNoteCodePoints) {
      errors["description"] =
          "UTF-8 text of at most " + std::to_string(kMaxNoteCodePoints) + " characters";
    }
    const std::string owner = form_value(values, "assignee");
    if (!owner.empty()) {
      const std::string_view one[] = {owner};
      auto person = parse_person("assignee", one, kFollowUpUsage);
      if (auto* error = std::get_if<CommandError>(&person)) {
        errors["assignee"] = error->problem;
      } else {
        command.assignee = std::get<std::optional<Actor>>(person);
        command.assign_to_caller = !command.assignee;  // "me"
      }
    }
    const std::string due = form_value(values, "due");
    if (!due.empty()) {
      command.due = parse_when(due);
      if (!command.due) {
        errors["due"] = std::string(kWhenHelp);
      }
    }
    if (!errors.empty()) {
      return form_error("follow-up", std::move(errors), kFollowUpUsage);
    }
    return Command{std::move(command)};
  }
  return CommandError{"unknown form \"" + echo(form_id) + "\"", std::string(kAllUsage)};
}

std::string_view command_usage(std::string_view command) noexcept {
  const auto is = [&](std::string_view name) {
    if (command.size() != name.size()) {
      return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = command[i];
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c + ('a' - 'A'));
      }
      if (c != name[i]) {
        return false;
      }
    }
    return true;
  };
  if (is("declare")) {
    return kDeclareUsage;
  }
  if (is("status")) {
    return kStatusUsage;
  }
  if (is("sev") || is("severity")) {
    return kSevUsage;
  }
  if (is("lead")) {
    return kLeadUsage;
  }
  if (is("comms")) {
    return kCommsUsage;
  }
  if (is("ack")) {
    return kAckUsage;
  }
  if (is("note")) {
    return kNoteUsage;
  }
  if (is("action")) {
    return kActionUsage;
  }
  if (is("help")) {
    return kHelpUsage;
  }
  if (is("title")) {
    return kTitleUsage;
  }
  if (is("resolve")) {
    return kResolveUsage;
  }
  if (is("close")) {
    return kCloseUsage;
  }
  if (is("timeline")) {
    return kTimelineUsage;
  }
  if (is("list")) {
    return kListUsage;
  }
  if (is("followup")) {
    return kFollowUpUsage;
  }
  if (is("search")) {
    return kSearchUsage;
  }
  return {};
}

std::string command_help(std::string_view topic) {
  const std::string name = wording::lower_ascii(topic);
  const auto usage_line = [](std::string_view usage) { return "`" + std::string(usage) + "`"; };
  if (name.empty()) {
    return usage_line(kDeclareUsage) + " declares an incident and opens its channel.\n" +
           usage_line(kStatusUsage) + " moves this channel's incident to a new status.\n" +
           usage_line(kSevUsage) + " changes its severity.\n" + usage_line(kLeadUsage) +
           " makes someone the incident lead.\n" + usage_line(kCommsUsage) +
           " makes someone the comms lead.\n" + usage_line(kAckUsage) +
           " acknowledges the incident.\n" + usage_line(kNoteUsage) +
           " adds a note to the timeline.\n" + usage_line(kActionUsage) +
           " records an action taken.\n" + usage_line(kTitleUsage) + " renames the incident.\n" +
           usage_line("/incident followup <description> [@owner] [due:<when>]") +
           " tracks work that must follow (see `help followup`).\n" + usage_line(kResolveUsage) +
           " opens the summary form; submitting it resolves the incident.\n" +
           usage_line(kCloseUsage) + " closes a resolved incident.\n" + usage_line(kTimelineUsage) +
           " shows the latest timeline entries.\n" + usage_line(kListUsage) +
           " lists incidents.\n" + usage_line(kSearchUsage) +
           " finds incidents by what was written in them.\n" + usage_line(kHelpUsage) +
           " explains one command.";
  }
  if (name == "declare") {
    return usage_line(kDeclareUsage) +
           "\nDeclares a new incident and opens a channel for it. The severity is SEV1 (line "
           "down), SEV2 (degraded) or SEV3 (minor, the default).\nWrap the title in double "
           "quotes if its last word would otherwise be read as a severity.";
  }
  if (name == "status") {
    std::string text = usage_line(kStatusUsage) +
                       "\nMoves the incident of this channel to a new status. Allowed moves:";
    for (const Status from : {Status::declared, Status::investigating, Status::mitigated,
                              Status::resolved, Status::closed}) {
      const auto to = allowed_transitions(from);
      text += "\n• ";
      text.append(to_string(from));
      text += to.empty() ? " is final" : " → " + wording::join_statuses(to);
    }
    return text;
  }
  if (name == "sev" || name == "severity") {
    return usage_line(kSevUsage) +
           "\nChanges the severity of this channel's incident: SEV1 (line down), SEV2 "
           "(degraded) or SEV3 (minor).";
  }
  if (name == "lead" || name == "comms") {
    const bool lead = name == "lead";
    return usage_line(lead ? kLeadUsage : kCommsUsage) + "\nMakes someone the " +
           (lead ? "incident lead" : "comms lead") +
           " of this channel's incident: mention them (@name), give their user id, or say "
           "`me` for yourself.";
  }
  if (name == "ack") {
    return usage_line(kAckUsage) +
           "\nAcknowledges this channel's incident: someone is on it. Only the first "
           "acknowledgement counts.";
  }
  if (name == "note") {
    return usage_line(kNoteUsage) + "\nAdds a note to the incident's timeline (at most " +
           std::to_string(kMaxNoteCodePoints) + " characters).";
  }
  if (name == "action") {
    return usage_line(kActionUsage) +
           "\nRecords an action taken to fix or contain the problem (at most " +
           std::to_string(kMaxNoteCodePoints) + " characters).";
  }
  if (name == "help") {
    return usage_line(kHelpUsage) + "\nShows every command, or the details of one.";
  }
  if (name == "title") {
    return usage_line(kTitleUsage) + "\nRenames this channel's incident (at most " +
           std::to_string(kMaxTitleCodePoints) + " characters); the cards follow.";
  }
  if (name == "resolve") {
    return usage_line(kResolveUsage) +
           "\nOpens the summary form: what happened, root cause, resolution (all required, at "
           "most 10 KB each) and the impact (duration in minutes, lines affected, units lost, "
           "free \"label: value\" lines). Submitting it records the summary and resolves the "
           "incident. A resolved incident can be reopened with `/incident status investigating`.";
  }
  if (name == "close") {
    return usage_line(kCloseUsage) +
           "\nCloses a RESOLVED incident that has a summary, and offers to add follow-ups. A "
           "closed incident cannot change any more; its follow-ups can.";
  }
  if (name == "timeline") {
    return usage_line(kTimelineUsage) +
           "\nShows the latest entries of this channel's incident (20 unless a count up to 200 "
           "is given).";
  }
  if (name == "list") {
    return usage_line(kListUsage) +
           "\nLists your organization's open incidents, or all of them, newest first.";
  }
  if (name == "search" || name == "find") {
    return usage_line(kSearchUsage) +
           "\nFinds your organization's incidents by their titles, messages, notes, actions and "
           "summaries, best match first. Words must all match; \"a phrase\" matches as "
           "written, pump* matches words starting with pump, and OR / NOT combine words.";
  }
  if (name == "followup" || name == "follow-up") {
    return usage_line(kFollowUpUsage) +
           "\nFollow-ups are work that must happen after the incident. Each has a number in its "
           "incident, an owner, a due date and a status OPEN → IN_PROGRESS → DONE. Owners are "
           "reminded before the due date, when it is due and while it is overdue.\n" +
           std::string(kWhenHelp) + ".";
  }
  return "There is no command \"" + echo(topic) +
         "\". Commands: declare, status, sev, lead, comms, ack, note, action, title, followup, "
         "resolve, close, timeline, list, search, help.";
}

}  // namespace haveri::core
