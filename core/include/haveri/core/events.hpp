#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <haveri/core/ids.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

enum class EventType {
  declared,
  message,
  status_change,
  channel_linked,
  severity_change,
  assignment,
  comms_assignment,
  acknowledgement,
  annotation,
  action_taken,
  escalation,
  attachment,
  bot_guidance,
  triage_response,
  summary,
  follow_up,
  closed,
  title_change,
  global_card_posted,
  nudge,
  sla_breach,
  escalation_started,
  escalation_stopped,
};

// Payloads, one struct per event type, each naming its type in kType.
// docs/events.md documents each JSON form.

// The incident was declared.
struct Declared {
  static constexpr EventType kType = EventType::declared;
  std::string title;
  Severity severity = Severity::sev3;
  ChannelRef declared_in;
  std::string organization = {};         // Organization::id; empty in histories written before it
  std::string area = {};                 // Area::id, may be empty
  std::vector<std::string> assets = {};  // Asset::id
  std::optional<ChannelRef> announcements = {};  // where the global summary card goes
  bool operator==(const Declared&) const = default;
};

// Someone wrote in the incident channel.
struct MessagePosted {
  static constexpr EventType kType = EventType::message;
  std::string text;
  ChannelRef channel;
  std::string platform_message_id;  // may be empty
  bool truncated = false;           // text was cut at kMaxMessageBytes
  bool operator==(const MessagePosted&) const = default;
};

// The status moved along the status machine.
struct StatusChanged {
  static constexpr EventType kType = EventType::status_change;
  Status from = Status::declared;
  Status to = Status::declared;
  bool operator==(const StatusChanged&) const = default;
};

// The platform created the incident's channel.
struct ChannelLinked {
  static constexpr EventType kType = EventType::channel_linked;
  ChannelRef channel;
  bool operator==(const ChannelLinked&) const = default;
};

// The severity was changed (`/incident sev …`).
struct SeverityChanged {
  static constexpr EventType kType = EventType::severity_change;
  Severity from = Severity::sev3;
  Severity to = Severity::sev3;
  bool operator==(const SeverityChanged&) const = default;
};

// Someone became the incident lead (`/incident lead …`); stored as "assignment".
struct LeadAssigned {
  static constexpr EventType kType = EventType::assignment;
  Actor lead;
  bool operator==(const LeadAssigned&) const = default;
};

// Someone became the comms lead (`/incident comms …`); stored as "comms_assignment".
struct CommsLeadAssigned {
  static constexpr EventType kType = EventType::comms_assignment;
  Actor comms_lead;
  bool operator==(const CommsLeadAssigned&) const = default;
};

// The event's actor acknowledged the incident (`/incident ack`, the Acknowledge button).
struct Acknowledged {
  static constexpr EventType kType = EventType::acknowledgement;
  bool operator==(const Acknowledged&) const = default;
};

// The text of the annotation that records an edit of a captured chat message
// (followed by the new text) or its deletion. Stored data: never change them.
inline constexpr std::string_view kMessageEditedPrefix = "message edited: ";
inline constexpr std::string_view kMessageDeletedText = "message deleted";

// A note on the timeline (`/incident note …`); stored as "annotation".
struct Annotation {
  static constexpr EventType kType = EventType::annotation;
  std::string text;
  std::optional<Sequence> refers_to_sequence;  // the event it comments on, if any (>= 1)
  bool operator==(const Annotation&) const = default;
};

// Something done to fix or contain the problem (`/incident action …`).
struct ActionTaken {
  static constexpr EventType kType = EventType::action_taken;
  std::string text;
  bool operator==(const ActionTaken&) const = default;
};

// Someone was paged by an escalation policy step (written by the escalation engine).
struct Escalated {
  static constexpr EventType kType = EventType::escalation;
  std::string policy;           // the policy's name
  std::int64_t step = 0;        // 1-based step of the chain
  std::vector<Actor> notified;  // who was paged (id: their user id on `instance`; may be empty)
  std::string team;             // the first team the step named, if any
  bool late = false;            // fired after a restart, later than due
  std::int64_t round = 0;       // 0: the chain's first run; 1… its repeats
  Sequence chain = 0;           // the escalation_started event of the chain
  std::optional<TimePoint> due = {};      // when the step was due
  std::string instance = {};              // the plugin instance the pages went through
  std::vector<ChannelRef> channels = {};  // team channels posted to
  // Why someone named could not be paged ("bob has no local account", "nobody of
  // team maintenance is on duty"); may be empty.
  std::vector<std::string> unreachable = {};
  bool operator==(const Escalated&) const = default;
};

// An escalation policy was chosen for the incident and its chain started: every
// step with its due time (the pending steps are persisted by this event).
struct EscalationStarted {
  static constexpr EventType kType = EventType::escalation_started;
  std::string policy;
  std::string reason;                 // "declared", "severity_change", "area_change"
  std::vector<EscalationStep> steps;  // in due order
  bool operator==(const EscalationStarted&) const = default;
};

// The running chain's pending steps were cancelled: all of them, or (`all` false)
// those only for an unacknowledged incident.
struct EscalationStopped {
  static constexpr EventType kType = EventType::escalation_stopped;
  std::string policy;
  std::string reason;  // "acknowledged", "resolved", "replaced", "no_policy"
  bool all = true;
  std::int64_t cancelled = 0;  // steps cancelled
  bool operator==(const EscalationStopped&) const = default;
};

// A file shared in the incident channel: a reference, never the bytes.
struct AttachmentAdded {
  static constexpr EventType kType = EventType::attachment;
  std::string file_id;  // the platform's file id
  std::string name;
  std::int64_t size = 0;  // bytes, as the platform reported
  std::string url;        // where the platform serves it
  std::string mime_type;  // may be empty
  std::string platform_message_id;
  bool operator==(const AttachmentAdded&) const = default;
};

// Guidance the bot gave the responders (the triage checklist, a nudge's advice).
struct BotGuidance {
  static constexpr EventType kType = EventType::bot_guidance;
  std::string topic;  // "triage", "resolve", …
  std::string text;
  bool operator==(const BotGuidance&) const = default;
};

// Answers to the triage card's questions; area and assets, when answered, also
// become the incident's.
struct TriageResponse {
  static constexpr EventType kType = EventType::triage_response;
  std::map<std::string, std::string> answers;  // question key -> answer text
  bool operator==(const TriageResponse&) const = default;
};

// The summary written at resolve (`/incident resolve` form).
struct SummaryRecorded {
  static constexpr EventType kType = EventType::summary;
  Summary summary;
  bool operator==(const SummaryRecorded&) const = default;
};

// A follow-up was created, changed or reminded about. `change` says which; the
// other members carry the new values where the change sets them.
struct FollowUpChanged {
  static constexpr EventType kType = EventType::follow_up;
  enum class Change { created, assigned, redated, status, reminded };
  Change change = Change::created;
  std::int64_t number = 0;                       // 1-based within the incident
  std::string description;                       // created
  std::optional<Actor> assignee;                 // created, assigned
  std::optional<TimePoint> due;                  // created, redated
  FollowUpStatus status = FollowUpStatus::open;  // status
  std::string reminder;                          // reminded: "before", "due" or "overdue"
  bool operator==(const FollowUpChanged&) const = default;
};

// The incident was closed (`/incident close`), after its summary.
struct Closed {
  static constexpr EventType kType = EventType::closed;
  Status from = Status::resolved;
  bool operator==(const Closed&) const = default;
};

// The title was changed (`/incident title …`).
struct TitleChanged {
  static constexpr EventType kType = EventType::title_change;
  std::string from;
  std::string to;
  bool operator==(const TitleChanged&) const = default;
};

// The global summary card was posted; later changes edit this message in place.
struct GlobalCardPosted {
  static constexpr EventType kType = EventType::global_card_posted;
  ChannelRef channel;
  std::string message_id;
  bool operator==(const GlobalCardPosted&) const = default;
};

// Nobody gave an update for a while: the channel and the lead were nudged.
struct Nudged {
  static constexpr EventType kType = EventType::nudge;
  std::int64_t quiet_minutes = 0;  // since the last status change or note
  bool operator==(const Nudged&) const = default;
};

// An SLA target of the incident's severity was missed; posted once per target.
struct SlaBreached {
  static constexpr EventType kType = EventType::sla_breach;
  std::string target;  // "acknowledge" or "resolve"
  std::int64_t target_minutes = 0;
  bool operator==(const SlaBreached&) const = default;
};

using EventPayload =
    std::variant<Declared, MessagePosted, StatusChanged, ChannelLinked, SeverityChanged,
                 LeadAssigned, CommsLeadAssigned, Acknowledged, Annotation, ActionTaken, Escalated,
                 AttachmentAdded, BotGuidance, TriageResponse, SummaryRecorded, FollowUpChanged,
                 Closed, TitleChanged, GlobalCardPosted, Nudged, SlaBreached, EscalationStarted,
                 EscalationStopped>;

std::string_view to_string(FollowUpChanged::Change change) noexcept;  // "created", …

// The stored type names: "declared", "message", "status_change", … (docs/events.md).
std::string_view to_string(EventType type) noexcept;
std::optional<EventType> parse_event_type(std::string_view text) noexcept;
EventType type_of(const EventPayload& payload) noexcept;

// One immutable entry of an incident's timeline.
struct Event {
  IncidentId incident = 0;
  Sequence sequence = 0;
  TimePoint at{};
  Actor actor;
  EventPayload payload;

  EventType type() const noexcept { return type_of(payload); }
  bool operator==(const Event&) const = default;
};

// JSON forms of payloads and whole events, as stored and as served by the API.
nlohmann::json payload_to_json(const EventPayload& payload);
Result<EventPayload> payload_from_json(EventType type, const nlohmann::json& json);

// {"incident":1,"sequence":2,"type":"message","at":"…Z","actor":{…},"payload":{…}}
nlohmann::json event_to_json(const Event& event);

nlohmann::json channel_to_json(const ChannelRef& channel);
nlohmann::json actor_to_json(const Actor& actor);
nlohmann::json follow_up_json(const FollowUp& follow_up);

// The incident state as JSON (API form and projection snapshot), and back. Absent
// optionals are written as null; when reading, a missing optional member (a snapshot
// written before the member existed) reads as absent too.
nlohmann::json incident_to_json(const Incident& incident);
Result<Incident> incident_from_json(const nlohmann::json& json);

}  // namespace haveri::core
