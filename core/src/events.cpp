#include <cstdint>
#include <exception>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include <haveri/core/events.hpp>

namespace haveri::core {

using nlohmann::json;

namespace {

// Reads typed members out of untrusted JSON, remembering the first problem so a
// caller can check once at the end. Never throws on a shape mismatch.
// At most 40 bytes of untrusted text for an error message, cut on a UTF-8 boundary.
std::string excerpt(const std::string& text) {
  constexpr std::size_t kMax = 40;
  if (text.size() <= kMax) {
    return text;
  }
  std::size_t end = kMax;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;
  }
  return text.substr(0, end) + "…";
}

class JsonReader {
 public:
  explicit JsonReader(std::string context) : context_(std::move(context)) {}

  bool failed() const { return !problem_.empty(); }
  Error error() const { return Error{ErrorCode::invalid_argument, context_ + ": " + problem_}; }

  // `what` names the value in messages ("payload", "declared_in").
  bool expect_object(const json& value, std::string_view what) {
    if (failed()) {
      return false;
    }
    if (!value.is_object()) {
      fail(std::string(what) + " must be an object, not " + value.type_name());
      return false;
    }
    return true;
  }

  void read(const json& obj, std::string_view path, std::string& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_string()) {
      wrong_type(path, "a string", *value);
      return;
    }
    out = value->get<std::string>();
  }

  void read(const json& obj, std::string_view path, std::int64_t& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_number_integer()) {
      wrong_type(path, "an integer", *value);
      return;
    }
    if (value->is_number_unsigned() &&
        value->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(quoted(path) + " is out of range");
      return;
    }
    out = value->get<std::int64_t>();
  }

  void read(const json& obj, std::string_view path, TimePoint& out) {
    std::string text;
    read(obj, path, text);
    if (failed()) {
      return;
    }
    if (!parse_time(text, out)) {
      fail(quoted(path) + " must be an RFC 3339 UTC time like 2026-11-24T02:43:50.123Z, not \"" +
           excerpt(text) + "\"");
    }
  }

  void read(const json& obj, std::string_view path, Status& out) {
    std::string text;
    read(obj, path, text);
    if (failed()) {
      return;
    }
    if (auto status = parse_status(text)) {
      out = *status;
    } else {
      fail(quoted(path) +
           " must be DECLARED, INVESTIGATING, MITIGATED, RESOLVED or CLOSED, not \"" +
           excerpt(text) + "\"");
    }
  }

  void read(const json& obj, std::string_view path, Severity& out) {
    std::string text;
    read(obj, path, text);
    if (failed()) {
      return;
    }
    if (auto severity = parse_severity(text)) {
      out = *severity;
    } else {
      fail(quoted(path) + " must be SEV1, SEV2 or SEV3, not \"" + excerpt(text) + "\"");
    }
  }

  void read(const json& obj, std::string_view path, ChannelRef& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "instance", out.instance);
    read(*value, prefix + "id", out.id);
    read(*value, prefix + "name", out.name);
  }

  void read(const json& obj, std::string_view path, Actor& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "id", out.id);
    read(*value, prefix + "name", out.display_name);
  }

  // An optional member: missing or null reads as absent.
  void read(const json& obj, std::string_view path, std::optional<Actor>& out) {
    read_optional(obj, path, out);
  }
  void read(const json& obj, std::string_view path, std::optional<TimePoint>& out) {
    read_optional(obj, path, out);
  }

  // An optional sequence number (>= 1): missing or null reads as absent.
  void read(const json& obj, std::string_view path, std::optional<Sequence>& out) {
    std::optional<std::int64_t> value;
    read_optional(obj, path, value);
    if (failed()) {
      return;
    }
    if (value && *value < 1) {
      fail(quoted(path) + " must be a sequence number of 1 or more, not " + std::to_string(*value));
      return;
    }
    out = value;
  }

  // A channel that may be null.
  void read(const json& obj, std::string_view path, std::optional<ChannelRef>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (value->is_null()) {
      out.reset();
      return;
    }
    ChannelRef channel;
    read(obj, path, channel);
    if (!failed()) {
      out = std::move(channel);
    }
  }

 private:
  template <class T>
  void read_optional(const json& obj, std::string_view path, std::optional<T>& out) {
    if (failed()) {
      return;
    }
    const auto dot = path.rfind('.');
    const std::string key(dot == std::string_view::npos ? path : path.substr(dot + 1));
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      out.reset();
      return;
    }
    T value{};
    read(obj, path, value);
    if (!failed()) {
      out = std::move(value);
    }
  }

  static std::string quoted(std::string_view path) { return "\"" + std::string(path) + "\""; }

  // `path` is dotted ("declared_in.id"); the member looked up is its last part.
  const json* member(const json& obj, std::string_view path) {
    if (failed()) {
      return nullptr;
    }
    const auto dot = path.rfind('.');
    const std::string key(dot == std::string_view::npos ? path : path.substr(dot + 1));
    const auto it = obj.find(key);
    if (it == obj.end()) {
      fail(quoted(path) + " is missing");
      return nullptr;
    }
    return &*it;
  }

  void wrong_type(std::string_view path, std::string_view expected, const json& value) {
    fail(quoted(path) + " must be " + std::string(expected) + ", not " + value.type_name());
  }

  void fail(std::string problem) {
    if (problem_.empty()) {
      problem_ = std::move(problem);
    }
  }

  std::string context_;
  std::string problem_;
};

template <class Payload>
Result<EventPayload> read_payload(JsonReader& reader, const json& json_value, Payload payload) {
  if (!reader.expect_object(json_value, "the payload")) {
    return reader.error();
  }
  if constexpr (std::is_same_v<Payload, Declared>) {
    reader.read(json_value, "title", payload.title);
    reader.read(json_value, "severity", payload.severity);
    reader.read(json_value, "declared_in", payload.declared_in);
  } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
    reader.read(json_value, "text", payload.text);
    reader.read(json_value, "channel", payload.channel);
    reader.read(json_value, "platform_message_id", payload.platform_message_id);
  } else if constexpr (std::is_same_v<Payload, StatusChanged>) {
    reader.read(json_value, "from", payload.from);
    reader.read(json_value, "to", payload.to);
  } else if constexpr (std::is_same_v<Payload, ChannelLinked>) {
    reader.read(json_value, "channel", payload.channel);
  } else if constexpr (std::is_same_v<Payload, SeverityChanged>) {
    reader.read(json_value, "from", payload.from);
    reader.read(json_value, "to", payload.to);
  } else if constexpr (std::is_same_v<Payload, LeadAssigned>) {
    reader.read(json_value, "lead", payload.lead);
  } else if constexpr (std::is_same_v<Payload, CommsLeadAssigned>) {
    reader.read(json_value, "comms_lead", payload.comms_lead);
  } else if constexpr (std::is_same_v<Payload, Acknowledged>) {
    // No members: {} (unknown members are ignored, like everywhere else).
  } else if constexpr (std::is_same_v<Payload, Annotation>) {
    reader.read(json_value, "text", payload.text);
    reader.read(json_value, "refers_to_sequence", payload.refers_to_sequence);
  } else {
    static_assert(std::is_same_v<Payload, ActionTaken>);
    reader.read(json_value, "text", payload.text);
  }
  if (reader.failed()) {
    return reader.error();
  }
  return EventPayload{std::move(payload)};
}

}  // namespace

std::string_view to_string(EventType type) noexcept {
  switch (type) {
    case EventType::declared:
      return "declared";
    case EventType::message:
      return "message";
    case EventType::status_change:
      return "status_change";
    case EventType::channel_linked:
      return "channel_linked";
    case EventType::severity_change:
      return "severity_change";
    case EventType::assignment:
      return "assignment";
    case EventType::comms_assignment:
      return "comms_assignment";
    case EventType::acknowledgement:
      return "acknowledgement";
    case EventType::annotation:
      return "annotation";
    case EventType::action_taken:
      return "action_taken";
  }
  return "unknown";
}

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  for (const EventType type :
       {EventType::declared, EventType::message, EventType::status_change,
        EventType::channel_linked, EventType::severity_change, EventType::assignment,
        EventType::comms_assignment, EventType::acknowledgement, EventType::annotation,
        EventType::action_taken}) {
    if (text == to_string(type)) {
      return type;
    }
  }
  return std::nullopt;
}

EventType type_of(const EventPayload& payload) noexcept {
  return std::visit([](const auto& value) { return std::decay_t<decltype(value)>::kType; },
                    payload);
}

json channel_to_json(const ChannelRef& channel) {
  return json{{"instance", channel.instance}, {"id", channel.id}, {"name", channel.name}};
}

json actor_to_json(const Actor& actor) {
  return json{{"id", actor.id}, {"name", actor.display_name}};
}

json payload_to_json(const EventPayload& payload) {
  return std::visit(
      [](const auto& value) -> json {
        using Payload = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Payload, Declared>) {
          return json{{"title", value.title},
                      {"severity", to_string(value.severity)},
                      {"declared_in", channel_to_json(value.declared_in)}};
        } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
          return json{{"text", value.text},
                      {"channel", channel_to_json(value.channel)},
                      {"platform_message_id", value.platform_message_id}};
        } else if constexpr (std::is_same_v<Payload, StatusChanged>) {
          return json{{"from", to_string(value.from)}, {"to", to_string(value.to)}};
        } else if constexpr (std::is_same_v<Payload, ChannelLinked>) {
          return json{{"channel", channel_to_json(value.channel)}};
        } else if constexpr (std::is_same_v<Payload, SeverityChanged>) {
          return json{{"from", to_string(value.from)}, {"to", to_string(value.to)}};
        } else if constexpr (std::is_same_v<Payload, LeadAssigned>) {
          return json{{"lead", actor_to_json(value.lead)}};
        } else if constexpr (std::is_same_v<Payload, CommsLeadAssigned>) {
          return json{{"comms_lead", actor_to_json(value.comms_lead)}};
        } else if constexpr (std::is_same_v<Payload, Acknowledged>) {
          return json::object();
        } else if constexpr (std::is_same_v<Payload, Annotation>) {
          return json{{"text", value.text},
                      {"refers_to_sequence",
                       value.refers_to_sequence ? json(*value.refers_to_sequence) : json(nullptr)}};
        } else {
          static_assert(std::is_same_v<Payload, ActionTaken>);
          return json{{"text", value.text}};
        }
      },
      payload);
}

Result<EventPayload> payload_from_json(EventType type, const json& json_value) {
  try {
    JsonReader reader("invalid \"" + std::string(to_string(type)) + "\" event payload");
    switch (type) {
      case EventType::declared:
        return read_payload(reader, json_value, Declared{});
      case EventType::message:
        return read_payload(reader, json_value, MessagePosted{});
      case EventType::status_change:
        return read_payload(reader, json_value, StatusChanged{});
      case EventType::channel_linked:
        return read_payload(reader, json_value, ChannelLinked{});
      case EventType::severity_change:
        return read_payload(reader, json_value, SeverityChanged{});
      case EventType::assignment:
        return read_payload(reader, json_value, LeadAssigned{});
      case EventType::comms_assignment:
        return read_payload(reader, json_value, CommsLeadAssigned{});
      case EventType::acknowledgement:
        return read_payload(reader, json_value, Acknowledged{});
      case EventType::annotation:
        return read_payload(reader, json_value, Annotation{});
      case EventType::action_taken:
        return read_payload(reader, json_value, ActionTaken{});
    }
    return Error{ErrorCode::invalid_argument, "unknown event type"};
  } catch (const std::exception& e) {
    return Error{ErrorCode::invalid_argument,
                 "invalid \"" + std::string(to_string(type)) + "\" event payload: " + e.what()};
  }
}

json event_to_json(const Event& event) {
  return json{{"incident", event.incident},          {"sequence", event.sequence},
              {"type", to_string(event.type())},     {"at", format_time(event.at)},
              {"actor", actor_to_json(event.actor)}, {"payload", payload_to_json(event.payload)}};
}

namespace {
json optional_actor_json(const std::optional<Actor>& actor) {
  return actor ? actor_to_json(*actor) : json(nullptr);
}
}  // namespace

json incident_to_json(const Incident& incident) {
  return json{
      {"id", incident.id},
      {"last_sequence", incident.last_sequence},
      {"title", incident.title},
      {"status", to_string(incident.status)},
      {"severity", to_string(incident.severity)},
      {"declared_by", actor_to_json(incident.declared_by)},
      {"declared_at", format_time(incident.declared_at)},
      {"updated_at", format_time(incident.updated_at)},
      {"declared_in", channel_to_json(incident.declared_in)},
      {"channel", incident.channel ? channel_to_json(*incident.channel) : json(nullptr)},
      {"message_count", incident.message_count},
      {"lead", optional_actor_json(incident.lead)},
      {"comms_lead", optional_actor_json(incident.comms_lead)},
      {"acknowledged_by", optional_actor_json(incident.acknowledged_by)},
      {"acknowledged_at",
       incident.acknowledged_at ? json(format_time(*incident.acknowledged_at)) : json(nullptr)}};
}

Result<Incident> incident_from_json(const json& json_value) {
  try {
    JsonReader reader("invalid incident snapshot");
    Incident incident;
    if (reader.expect_object(json_value, "the incident")) {
      reader.read(json_value, "id", incident.id);
      reader.read(json_value, "last_sequence", incident.last_sequence);
      reader.read(json_value, "title", incident.title);
      reader.read(json_value, "status", incident.status);
      reader.read(json_value, "severity", incident.severity);
      reader.read(json_value, "declared_by", incident.declared_by);
      reader.read(json_value, "declared_at", incident.declared_at);
      reader.read(json_value, "updated_at", incident.updated_at);
      reader.read(json_value, "declared_in", incident.declared_in);
      reader.read(json_value, "channel", incident.channel);
      reader.read(json_value, "message_count", incident.message_count);
      reader.read(json_value, "lead", incident.lead);
      reader.read(json_value, "comms_lead", incident.comms_lead);
      reader.read(json_value, "acknowledged_by", incident.acknowledged_by);
      reader.read(json_value, "acknowledged_at", incident.acknowledged_at);
    }
    if (reader.failed()) {
      return reader.error();
    }
    return incident;
  } catch (const std::exception& e) {
    return Error{ErrorCode::invalid_argument,
                 std::string("invalid incident snapshot: ") + e.what()};
  }
}

}  // namespace haveri::core
