#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include <haveri/core/ids.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// Payloads, one struct per event type. docs/events.md documents each JSON form.

// The incident was declared.
struct Declared {
  std::string title;
  Severity severity = Severity::sev3;
  ChannelRef declared_in;
  bool operator==(const Declared&) const = default;
};

// Someone wrote in the incident channel.
struct MessagePosted {
  std::string text;
  ChannelRef channel;
  std::string platform_message_id;  // may be empty
  bool operator==(const MessagePosted&) const = default;
};

// The status moved along the status machine.
struct StatusChanged {
  Status from = Status::declared;
  Status to = Status::declared;
  bool operator==(const StatusChanged&) const = default;
};

// The platform created the incident's channel.
struct ChannelLinked {
  ChannelRef channel;
  bool operator==(const ChannelLinked&) const = default;
};

using EventPayload = std::variant<Declared, MessagePosted, StatusChanged, ChannelLinked>;

enum class EventType { declared, message, status_change, channel_linked };

// "declared", "message", "status_change", "channel_linked": the stored type names.
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

// The incident state as JSON (API form and projection snapshot), and back.
nlohmann::json incident_to_json(const Incident& incident);
Result<Incident> incident_from_json(const nlohmann::json& json);

}  // namespace haveri::core
