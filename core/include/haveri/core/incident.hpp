#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/ids.hpp>

namespace haveri::core {

enum class Status { declared, investigating, mitigated, resolved, closed };
enum class Severity { sev1, sev2, sev3 };

// "DECLARED", "SEV1": the forms people see and the API returns.
std::string_view to_string(Status status) noexcept;
std::string_view to_string(Severity severity) noexcept;
// Case-insensitive; nullopt for anything else.
std::optional<Status> parse_status(std::string_view text) noexcept;
std::optional<Severity> parse_severity(std::string_view text) noexcept;

// The statuses an incident in `from` may move to, in the order people expect them.
std::span<const Status> allowed_transitions(Status from) noexcept;

struct Event;

// Input limits, with clear replies when a command exceeds them.
inline constexpr std::size_t kMaxTitleCodePoints = 200;
inline constexpr std::size_t kMaxMessageBytes =
    std::size_t{40} * 1024;  // longer is stored truncated
inline constexpr std::size_t kMaxSummaryFieldBytes = std::size_t{10} * 1024;

enum class FollowUpStatus { open, in_progress, done };

// The structured impact part of a summary.
struct Impact {
  std::optional<std::int64_t> duration_minutes;
  std::optional<std::int64_t> lines_affected;
  std::optional<std::int64_t> units_lost;
  std::map<std::string, std::string> other;  // free fields: label -> value
  bool operator==(const Impact&) const = default;
};

// What was learnt, written at resolve. Each text is at most kMaxSummaryFieldBytes.
struct Summary {
  std::string what_happened;
  std::string root_cause;
  std::string resolution;
  Impact impact;
  bool operator==(const Summary&) const = default;
};

// Work that follows an incident, tracked until DONE.
struct FollowUp {
  std::int64_t number = 0;  // 1-based within the incident
  std::string description;
  std::optional<Actor> assignee;
  std::optional<TimePoint> due;
  FollowUpStatus status = FollowUpStatus::open;
  Actor created_by;
  TimePoint created_at{};
  TimePoint updated_at{};
  std::string last_reminder;  // "", "before", "due" or "overdue"
  std::optional<TimePoint> last_reminder_at;
  bool operator==(const FollowUp&) const = default;
};

// A message the daemon posted and edits in place (the global summary card).
struct PostedMessage {
  ChannelRef channel;
  std::string message_id;
  bool operator==(const PostedMessage&) const = default;
};

// One step of a running escalation chain, as it was planned when the chain started.
struct EscalationStep {
  std::int64_t step = 0;   // 1-based position in the policy's chain
  std::int64_t round = 0;  // 0: first run; 1… repeats
  TimePoint due{};
  // When the step's round starts; an acknowledgement cancels the rounds that have
  // not started, whatever their steps' if_unacknowledged.
  TimePoint round_start{};
  bool if_unacknowledged = true;
  std::vector<std::string> teams;          // notify the team's members on duty
  std::vector<std::string> members;        // notify these members
  std::vector<std::string> team_channels;  // post in the team's channel
  bool operator==(const EscalationStep&) const = default;
};

// A chain of escalation steps being worked through (events escalation_started,
// escalation, escalation_stopped).
struct EscalationChain {
  std::string policy;
  Sequence started_by = 0;  // the escalation_started event: the chain's identity
  TimePoint started_at{};
  std::vector<EscalationStep> pending;  // not yet fired nor cancelled, in due order
  // Every step was cancelled (resolved, replaced, no policy): a later change that
  // chooses this policy again starts a new chain.
  bool ended = false;
  // An acknowledgement after the chain started stopped what waited for one.
  bool acknowledged = false;
  bool operator==(const EscalationChain&) const = default;
};

// Current state of one incident: a fold over its events (see apply()).
struct Incident {
  IncidentId id = 0;
  Sequence last_sequence = 0;  // 0: nothing declared yet
  std::string title;
  Status status = Status::declared;
  Severity severity = Severity::sev3;
  Actor declared_by;
  TimePoint declared_at{};
  TimePoint updated_at{};
  ChannelRef declared_in;             // where /incident declare was typed
  std::optional<ChannelRef> channel;  // the incident's own channel, once created
  std::int64_t message_count = 0;
  std::optional<Actor> lead;             // incident lead, once assigned
  std::optional<Actor> comms_lead;       // comms lead, once assigned
  std::optional<Actor> acknowledged_by;  // who acknowledged first
  std::optional<TimePoint> acknowledged_at;

  std::string organization;                   // Organization::id
  std::string area;                           // Area::id, may be empty
  std::vector<std::string> assets;            // Asset::id
  std::optional<ChannelRef> announcements;    // where the global card goes
  std::optional<PostedMessage> global_card;   // once posted
  std::map<std::string, std::string> triage;  // latest answer per triage question
  std::int64_t attachment_count = 0;
  std::optional<Summary> summary;
  std::vector<FollowUp> follow_ups;  // by number

  // For metrics, nudges and SLAs, all derived from events.
  TimePoint status_since{};                    // when the current status began
  std::array<std::int64_t, 5> ms_in_status{};  // time spent in each earlier status period
  std::optional<TimePoint> mitigated_at;       // first time MITIGATED
  std::optional<TimePoint> resolved_at;        // latest RESOLVED (cleared on reopen)
  std::optional<TimePoint> closed_at;
  TimePoint last_update_at{};  // declared, status change, note, action, summary
  std::optional<TimePoint> last_nudge_at;
  bool acknowledge_sla_breached = false;
  bool resolve_sla_breached = false;
  std::optional<EscalationChain> escalation;  // the latest chain, while it or its record lasts

  // Open: not yet RESOLVED or CLOSED.
  bool open() const noexcept { return status != Status::resolved && status != Status::closed; }
  const FollowUp* follow_up(std::int64_t number) const noexcept;

  bool exists() const noexcept { return last_sequence > 0; }
  bool operator==(const Incident&) const = default;
};

std::string_view to_string(FollowUpStatus status) noexcept;  // "OPEN", "IN_PROGRESS", "DONE"
std::optional<FollowUpStatus> parse_follow_up_status(std::string_view text) noexcept;

// Durations people are measured by, computed from the state at `now`. Absent while
// the moment has not come yet.
struct IncidentMetrics {
  std::optional<std::chrono::milliseconds> time_to_acknowledge;
  std::optional<std::chrono::milliseconds> time_to_mitigate;
  std::optional<std::chrono::milliseconds> time_to_resolve;
  std::array<std::chrono::milliseconds, 5> time_in_status{};  // by Status, including now
};
IncidentMetrics metrics_of(const Incident& incident, TimePoint now) noexcept;

// Folds one event into the state. Total: never throws, never fails, ignores events
// for other incidents, so replaying any stored history can never crash.
Incident apply(Incident state, const Event& event) noexcept;

// Folds a whole history, starting from an empty incident.
Incident fold(std::span<const Event> events) noexcept;

}  // namespace haveri::core
