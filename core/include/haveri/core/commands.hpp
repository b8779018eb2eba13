#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// /incident declare <title> [sev1|sev2|sev3]
struct DeclareCommand {
  std::string title;
  std::optional<Severity> severity;  // nullopt: not given
  bool operator==(const DeclareCommand&) const = default;
};

// /incident status <state>
struct StatusCommand {
  Status status = Status::declared;
  bool operator==(const StatusCommand&) const = default;
};

// /incident sev <sev1|sev2|sev3>
struct SeverityCommand {
  Severity severity = Severity::sev3;
  bool operator==(const SeverityCommand&) const = default;
};

// /incident lead <@user|user id|me>
struct LeadCommand {
  std::optional<Actor> person;  // nullopt: "me", the caller
  bool operator==(const LeadCommand&) const = default;
};

// /incident comms <@user|user id|me>
struct CommsCommand {
  std::optional<Actor> person;  // nullopt: "me", the caller
  bool operator==(const CommsCommand&) const = default;
};

// /incident ack
struct AckCommand {
  bool operator==(const AckCommand&) const = default;
};

// /incident note <text>
struct NoteCommand {
  std::string text;  // valid UTF-8, 1..kMaxNoteCodePoints characters, line breaks kept
  bool operator==(const NoteCommand&) const = default;
};

// /incident action <text>
struct ActionCommand {
  std::string text;  // as NoteCommand::text
  bool operator==(const ActionCommand&) const = default;
};

// The longest note or action text, in characters (code points).
inline constexpr std::size_t kMaxNoteCodePoints = 4000;

// /incident help [command]
struct HelpCommand {
  std::string topic;  // empty: overview
  bool operator==(const HelpCommand&) const = default;
};

using Command = std::variant<DeclareCommand, StatusCommand, HelpCommand, SeverityCommand,
                             LeadCommand, CommsCommand, AckCommand, NoteCommand, ActionCommand>;

// A command that could not be parsed: what was wrong and the right usage.
struct CommandError {
  std::string problem;  // "unknown severity \"sev9\""
  std::string usage;    // "/incident declare <title> [sev1|sev2|sev3]"
};

// Parses the text of a chat command. Accepts it with or without the leading
// "/incident" and tolerates extra whitespace. Never throws.
std::variant<Command, CommandError> parse_command(std::string_view text);

// Usage line of one command ("declare", "status", "sev", "lead", "comms", "ack", "note",
// "action", "help"), case-insensitively; empty if unknown.
std::string_view command_usage(std::string_view command) noexcept;

// The help text for `topic` (empty: all commands), as markdown-subset lines.
std::string command_help(std::string_view topic);

}  // namespace haveri::core
