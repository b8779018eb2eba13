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

constexpr std::string_view kDeclareUsage = "/incident declare <title> [sev1|sev2|sev3]";
constexpr std::string_view kStatusUsage =
    "/incident status <declared|investigating|mitigated|resolved|closed>";
constexpr std::string_view kSevUsage = "/incident sev <sev1|sev2|sev3>";
constexpr std::string_view kLeadUsage = "/incident lead <@user|user id|me>";
constexpr std::string_view kCommsUsage = "/incident comms <@user|user id|me>";
constexpr std::string_view kAckUsage = "/incident ack";
constexpr std::string_view kNoteUsage = "/incident note <text>";
constexpr std::string_view kActionUsage = "/incident action <text>";
constexpr std::string_view kHelpUsage = "/incident help [command]";
constexpr std::string_view kAllUsage =
    "/incident declare <title> [sev1|sev2|sev3] | status <state> | sev <severity> | "
    "lead <@user|me> | comms <@user|me> | ack | note <text> | action <text> | help [command]";
constexpr std::string_view kValidStates = "declared, investigating, mitigated, resolved or closed";

constexpr std::size_t kMaxTitleCodePoints = 200;
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

std::variant<Command, CommandError> parse_declare(std::span<const std::string_view> args) {
  std::optional<Severity> severity;
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
    return CommandError{"declare needs a title", std::string(kDeclareUsage)};
  }
  if (!is_valid_utf8(title)) {
    return CommandError{"the title is not valid UTF-8 text", std::string(kDeclareUsage)};
  }
  const std::size_t length = count_code_points(title);
  if (length > kMaxTitleCodePoints) {
    return CommandError{"the title is " + std::to_string(length) + " characters long; keep it to " +
                            std::to_string(kMaxTitleCodePoints) + " or fewer",
                        std::string(kDeclareUsage)};
  }
  return Command{DeclareCommand{std::string(title), severity}};
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
    if (!args.empty()) {
      return CommandError{"ack takes nothing after it", std::string(kAckUsage)};
    }
    return Command{AckCommand{}};
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
  return CommandError{"unknown command \"" + echo(rest.front()) + "\"", std::string(kAllUsage)};
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
           " records an action taken.\n" + usage_line(kHelpUsage) + " explains one command.";
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
  return "There is no command \"" + echo(topic) +
         "\". Commands: declare, status, sev, lead, comms, ack, note, action, help.";
}

}  // namespace haveri::core
