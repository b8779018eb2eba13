#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

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
};

// Payloads, one struct per event type, each naming its type in kType.
// docs/events.md documents each JSON form.

// The incident was declared.
struct Declared {
  static constexpr EventType kType = EventType::declared;
  std::string title;
  Severity severity = Severity::sev3;
  ChannelRef declared_in;
  bool operator==(const Declared&) const = default;
};

// Someone wrote in the incident channel.
struct MessagePosted {
  static constexpr EventType kType = EventType::message;
  std::string text;
  ChannelRef channel;
  std::string platform_message_id;  // may be empty
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

using EventPayload =
    std::variant<Declared, MessagePosted, StatusChanged, ChannelLinked, SeverityChanged,
                 LeadAssigned, CommsLeadAssigned, Acknowledged, Annotation, ActionTaken>;

// "declared", "message", "status_change", "channel_linked", "severity_change",
// "assignment", "comms_assignment", "acknowledgement", "annotation", "action_taken":
// the stored type names.
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

// The incident state as JSON (API form and projection snapshot), and back. Absent
// optionals are written as null; when reading, a missing optional member (a snapshot
// written before the member existed) reads as absent too.
nlohmann::json incident_to_json(const Incident& incident);
Result<Incident> incident_from_json(const nlohmann::json& json);

}  // namespace haveri::core
