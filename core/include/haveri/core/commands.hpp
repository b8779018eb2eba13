#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// /incident declare <title> [sev1|sev2|sev3] [area:<id>] [assets:<id>,<id>]
// A missing title or severity opens the triage form, prefilled with what was given.
struct DeclareCommand {
  std::string title;                     // empty: not given
  std::optional<Severity> severity;      // nullopt: not given
  std::string area = {};                 // Area::id; empty: not given
  std::vector<std::string> assets = {};  // Asset::id
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

// /incident ack [INC-<n>]: the number lets a page's button acknowledge from a
// personal chat, outside the incident's channel.
struct AckCommand {
  std::optional<IncidentId> incident = {};
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

// /incident title <new title>
struct TitleCommand {
  std::string title;
  bool operator==(const TitleCommand&) const = default;
};

// /incident resolve: opens the summary form; submitting it carries the summary.
struct ResolveCommand {
  std::optional<Summary> summary;  // nullopt: open the form
  bool operator==(const ResolveCommand&) const = default;
};

// /incident close
struct CloseCommand {
  bool operator==(const CloseCommand&) const = default;
};

// Answers to the triage card (a form submission only).
struct TriageCommand {
  std::map<std::string, std::string> answers;
  bool operator==(const TriageCommand&) const = default;
};

// A due date as typed: absolute, or relative to when the command is decided.
struct DueSpec {
  std::optional<TimePoint> at;
  std::chrono::minutes from_now{0};
  bool operator==(const DueSpec&) const = default;
};

// /incident followup …
struct FollowUpCommand {
  enum class Action { add, assign, redate, status, list };
  Action action = Action::add;
  std::int64_t number = 0;                       // assign, redate, status
  std::string description;                       // add
  std::optional<Actor> assignee;                 // add (optional), assign (nullopt there: "me")
  bool assign_to_caller = false;                 // assign … me, or "me" as the owner in the form
  std::optional<DueSpec> due;                    // add (optional), redate
  FollowUpStatus status = FollowUpStatus::open;  // status
  // list: "" (this incident, or mine outside one), "mine", "all", or a person.
  std::string list_scope;
  std::optional<Actor> list_person;
  bool operator==(const FollowUpCommand&) const = default;
};

// /incident timeline [count]
struct TimelineCommand {
  std::int64_t count = 20;
  bool operator==(const TimelineCommand&) const = default;
};

// /incident list [open|all]
struct ListCommand {
  bool include_closed = false;
  bool operator==(const ListCommand&) const = default;
};

// /incident search <text>: full-text search over the organization's incidents.
struct SearchCommand {
  // As typed: words, "phrases", prefix*, AND/OR/NOT (the store checks the syntax).
  std::string query;
  bool operator==(const SearchCommand&) const = default;
};

// Longest search text accepted, in bytes.
constexpr std::size_t kMaxSearchBytes = 500;

// /incident help [command]
struct HelpCommand {
  std::string topic;  // empty: overview
  bool operator==(const HelpCommand&) const = default;
};

using Command = std::variant<DeclareCommand, StatusCommand, HelpCommand, SeverityCommand,
                             LeadCommand, CommsCommand, AckCommand, NoteCommand, ActionCommand,
                             TitleCommand, ResolveCommand, CloseCommand, TriageCommand,
                             FollowUpCommand, TimelineCommand, ListCommand, SearchCommand>;

// A command that could not be parsed: what was wrong and the right usage.
struct CommandError {
  std::string problem;  // "unknown severity \"sev9\""
  std::string usage;    // "/incident declare <title> [sev1|sev2|sev3]"
  // For a form: input name -> what is wrong with it (platforms show them inline).
  std::map<std::string, std::string> field_errors = {};
};

// Parses a submitted form (docs/plugin-abi.md, "form_submission"): `form_id` is the
// id the form was posted with ("declare", "resolve:7", "triage:7", "followup:7"),
// `values` the inputs by name. Checks every input (required, limits, numbers,
// known choices) and reports all problems at once in field_errors.
std::variant<Command, CommandError> parse_form_submission(
    std::string_view form_id, const std::map<std::string, std::string>& values);

// The incident a form id names ("resolve:7" -> 7); nullopt for "declare" or junk.
std::optional<IncidentId> form_incident(std::string_view form_id) noexcept;

// Parses the text of a chat command. Accepts it with or without the leading
// "/incident" and tolerates extra whitespace. Never throws.
std::variant<Command, CommandError> parse_command(std::string_view text);

// Usage line of one command ("declare", "status", "sev", …), case-insensitively;
// empty if unknown.
std::string_view command_usage(std::string_view command) noexcept;

// The help text for `topic` (empty: all commands), as markdown-subset lines.
std::string command_help(std::string_view topic);

}  // namespace haveri::core
