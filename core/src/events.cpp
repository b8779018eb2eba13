#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <type_traits>
#include <vector>

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
    read_if_present(*value, prefix + "member", out.member);
  }

  // An optional member: missing or null reads as absent.
  void read(const json& obj, std::string_view path, std::optional<Actor>& out) {
    read_optional(obj, path, out);
  }
  void read(const json& obj, std::string_view path, std::optional<TimePoint>& out) {
    read_optional(obj, path, out);
  }

  // An optional sequence number (>= 1): missing or null reads as absent.
  void read_sequence(const json& obj, std::string_view path, std::optional<Sequence>& out) {
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

  void read(const json& obj, std::string_view path, bool& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_boolean()) {
      wrong_type(path, "true or false", *value);
      return;
    }
    out = value->get<bool>();
  }

  void read(const json& obj, std::string_view path, std::vector<std::string>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array()) {
      wrong_type(path, "an array of strings", *value);
      return;
    }
    out.clear();
    for (const json& item : *value) {
      if (!item.is_string()) {
        wrong_type(path, "an array of strings", *value);
        return;
      }
      out.push_back(item.get<std::string>());
    }
  }

  void read(const json& obj, std::string_view path, std::map<std::string, std::string>& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    out.clear();
    for (const auto& [key, item] : value->items()) {
      if (!item.is_string()) {
        fail(quoted(std::string(path) + "." + excerpt(key)) + " must be a string, not " +
             item.type_name());
        return;
      }
      out.emplace(key, item.get<std::string>());
    }
  }

  void read(const json& obj, std::string_view path, std::vector<Actor>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array()) {
      wrong_type(path, "an array of people", *value);
      return;
    }
    out.clear();
    for (const json& item : *value) {
      Actor actor;
      read(json{{"person", item}}, std::string(path) + ".person", actor);
      out.push_back(std::move(actor));
    }
  }

  void read(const json& obj, std::string_view path, std::vector<ChannelRef>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array()) {
      wrong_type(path, "an array of channels", *value);
      return;
    }
    out.clear();
    for (const json& item : *value) {
      ChannelRef channel;
      read(json{{"channel", item}}, std::string(path) + ".channel", channel);
      out.push_back(std::move(channel));
    }
  }

  void read(const json& obj, std::string_view path, EscalationStep& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "step", out.step);
    read(*value, prefix + "round", out.round);
    read(*value, prefix + "due", out.due);
    read_if_present(*value, prefix + "round_start", out.round_start);
    read(*value, prefix + "if_unacknowledged", out.if_unacknowledged);
    read(*value, prefix + "teams", out.teams);
    read(*value, prefix + "members", out.members);
    read(*value, prefix + "team_channels", out.team_channels);
  }

  void read(const json& obj, std::string_view path, std::vector<EscalationStep>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array()) {
      wrong_type(path, "an array of escalation steps", *value);
      return;
    }
    out.clear();
    for (const json& item : *value) {
      EscalationStep step;
      read(json{{"step", item}}, std::string(path) + ".step", step);
      out.push_back(std::move(step));
    }
  }

  void read(const json& obj, std::string_view path, EscalationChain& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "policy", out.policy);
    read(*value, prefix + "started_by", out.started_by);
    read(*value, prefix + "started_at", out.started_at);
    read(*value, prefix + "pending", out.pending);
    read_if_present(*value, prefix + "ended", out.ended);
    read_if_present(*value, prefix + "acknowledged", out.acknowledged);
  }
  void read(const json& obj, std::string_view path, std::optional<EscalationChain>& out) {
    read_optional(obj, path, out);
  }

  void read(const json& obj, std::string_view path, FollowUpStatus& out) {
    std::string text;
    read(obj, path, text);
    if (failed()) {
      return;
    }
    if (auto status = parse_follow_up_status(text)) {
      out = *status;
    } else {
      fail(quoted(path) + " must be OPEN, IN_PROGRESS or DONE, not \"" + excerpt(text) + "\"");
    }
  }

  void read(const json& obj, std::string_view path, FollowUpChanged::Change& out) {
    std::string text;
    read(obj, path, text);
    if (failed()) {
      return;
    }
    for (const auto change : {FollowUpChanged::Change::created, FollowUpChanged::Change::assigned,
                              FollowUpChanged::Change::redated, FollowUpChanged::Change::status,
                              FollowUpChanged::Change::reminded}) {
      if (text == to_string(change)) {
        out = change;
        return;
      }
    }
    fail(quoted(path) + " must be created, assigned, redated, status or reminded, not \"" +
         excerpt(text) + "\"");
  }

  void read(const json& obj, std::string_view path, Impact& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "duration_minutes", out.duration_minutes);
    read(*value, prefix + "lines_affected", out.lines_affected);
    read(*value, prefix + "units_lost", out.units_lost);
    read_if_present(*value, prefix + "other", out.other);
  }

  void read(const json& obj, std::string_view path, Summary& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "what_happened", out.what_happened);
    read(*value, prefix + "root_cause", out.root_cause);
    read(*value, prefix + "resolution", out.resolution);
    read(*value, prefix + "impact", out.impact);
  }

  void read(const json& obj, std::string_view path, PostedMessage& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "channel", out.channel);
    read(*value, prefix + "message_id", out.message_id);
  }

  void read(const json& obj, std::string_view path, FollowUp& out) {
    const json* value = member(obj, path);
    if (value == nullptr || !expect_object(*value, quoted(path))) {
      return;
    }
    const std::string prefix = std::string(path) + ".";
    read(*value, prefix + "number", out.number);
    read(*value, prefix + "description", out.description);
    read(*value, prefix + "assignee", out.assignee);
    read(*value, prefix + "due", out.due);
    read(*value, prefix + "status", out.status);
    read(*value, prefix + "created_by", out.created_by);
    read(*value, prefix + "created_at", out.created_at);
    read(*value, prefix + "updated_at", out.updated_at);
    read(*value, prefix + "last_reminder", out.last_reminder);
    read(*value, prefix + "last_reminder_at", out.last_reminder_at);
  }

  void read(const json& obj, std::string_view path, std::vector<FollowUp>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array()) {
      wrong_type(path, "an array of follow-ups", *value);
      return;
    }
    out.clear();
    for (const json& item : *value) {
      FollowUp follow_up;
      read(json{{"follow_up", item}}, std::string(path) + ".follow_up", follow_up);
      out.push_back(std::move(follow_up));
    }
  }

  void read(const json& obj, std::string_view path, std::array<std::int64_t, 5>& out) {
    const json* value = member(obj, path);
    if (value == nullptr) {
      return;
    }
    if (!value->is_array() || value->size() != out.size()) {
      wrong_type(path, "an array of 5 integers", *value);
      return;
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      read(json{{"ms", (*value)[i]}}, std::string(path) + ".ms", out[i]);
    }
  }

  void read(const json& obj, std::string_view path, std::optional<std::int64_t>& out) {
    read_optional(obj, path, out);
  }
  void read(const json& obj, std::string_view path, std::optional<Summary>& out) {
    read_optional(obj, path, out);
  }
  void read(const json& obj, std::string_view path, std::optional<PostedMessage>& out) {
    read_optional(obj, path, out);
  }

  // A member added after the first release: missing reads as the default.
  template <class T>
  void read_if_present(const json& obj, std::string_view path, T& out) {
    if (failed()) {
      return;
    }
    const auto dot = path.rfind('.');
    const std::string key(dot == std::string_view::npos ? path : path.substr(dot + 1));
    if (obj.find(key) != obj.end()) {
      read(obj, path, out);
    }
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
    reader.read_if_present(json_value, "organization", payload.organization);
    reader.read_if_present(json_value, "area", payload.area);
    reader.read_if_present(json_value, "assets", payload.assets);
    reader.read_if_present(json_value, "announcements", payload.announcements);
  } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
    reader.read(json_value, "text", payload.text);
    reader.read(json_value, "channel", payload.channel);
    reader.read(json_value, "platform_message_id", payload.platform_message_id);
    reader.read_if_present(json_value, "truncated", payload.truncated);
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
    reader.read_sequence(json_value, "refers_to_sequence", payload.refers_to_sequence);
  } else if constexpr (std::is_same_v<Payload, ActionTaken>) {
    reader.read(json_value, "text", payload.text);
  } else if constexpr (std::is_same_v<Payload, Escalated>) {
    reader.read(json_value, "policy", payload.policy);
    reader.read(json_value, "step", payload.step);
    reader.read(json_value, "notified", payload.notified);
    reader.read(json_value, "team", payload.team);
    reader.read(json_value, "late", payload.late);
    reader.read_if_present(json_value, "round", payload.round);
    reader.read_if_present(json_value, "chain", payload.chain);
    reader.read_if_present(json_value, "due", payload.due);
    reader.read_if_present(json_value, "instance", payload.instance);
    reader.read_if_present(json_value, "channels", payload.channels);
    reader.read_if_present(json_value, "unreachable", payload.unreachable);
  } else if constexpr (std::is_same_v<Payload, EscalationStarted>) {
    reader.read(json_value, "policy", payload.policy);
    reader.read(json_value, "reason", payload.reason);
    reader.read(json_value, "steps", payload.steps);
  } else if constexpr (std::is_same_v<Payload, EscalationStopped>) {
    reader.read(json_value, "policy", payload.policy);
    reader.read(json_value, "reason", payload.reason);
    reader.read(json_value, "all", payload.all);
    reader.read(json_value, "cancelled", payload.cancelled);
  } else if constexpr (std::is_same_v<Payload, AttachmentAdded>) {
    reader.read(json_value, "file_id", payload.file_id);
    reader.read(json_value, "name", payload.name);
    reader.read(json_value, "size", payload.size);
    reader.read(json_value, "url", payload.url);
    reader.read(json_value, "mime_type", payload.mime_type);
    reader.read(json_value, "platform_message_id", payload.platform_message_id);
  } else if constexpr (std::is_same_v<Payload, BotGuidance>) {
    reader.read(json_value, "topic", payload.topic);
    reader.read(json_value, "text", payload.text);
  } else if constexpr (std::is_same_v<Payload, TriageResponse>) {
    reader.read(json_value, "answers", payload.answers);
  } else if constexpr (std::is_same_v<Payload, SummaryRecorded>) {
    reader.read(json{{"summary", json_value}}, "summary", payload.summary);
  } else if constexpr (std::is_same_v<Payload, FollowUpChanged>) {
    reader.read(json_value, "change", payload.change);
    reader.read(json_value, "number", payload.number);
    reader.read(json_value, "description", payload.description);
    reader.read(json_value, "assignee", payload.assignee);
    reader.read(json_value, "due", payload.due);
    reader.read(json_value, "status", payload.status);
    reader.read(json_value, "reminder", payload.reminder);
  } else if constexpr (std::is_same_v<Payload, Closed>) {
    reader.read(json_value, "from", payload.from);
  } else if constexpr (std::is_same_v<Payload, TitleChanged>) {
    reader.read(json_value, "from", payload.from);
    reader.read(json_value, "to", payload.to);
  } else if constexpr (std::is_same_v<Payload, GlobalCardPosted>) {
    reader.read(json_value, "channel", payload.channel);
    reader.read(json_value, "message_id", payload.message_id);
  } else if constexpr (std::is_same_v<Payload, Nudged>) {
    reader.read(json_value, "quiet_minutes", payload.quiet_minutes);
  } else {
    static_assert(std::is_same_v<Payload, SlaBreached>);
    reader.read(json_value, "target", payload.target);
    reader.read(json_value, "target_minutes", payload.target_minutes);
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
    case EventType::escalation:
      return "escalation";
    case EventType::attachment:
      return "attachment";
    case EventType::bot_guidance:
      return "bot_guidance";
    case EventType::triage_response:
      return "triage_response";
    case EventType::summary:
      return "summary";
    case EventType::follow_up:
      return "follow_up";
    case EventType::closed:
      return "closed";
    case EventType::title_change:
      return "title_change";
    case EventType::global_card_posted:
      return "global_card_posted";
    case EventType::nudge:
      return "nudge";
    case EventType::sla_breach:
      return "sla_breach";
    case EventType::escalation_started:
      return "escalation_started";
    case EventType::escalation_stopped:
      return "escalation_stopped";
  }
  return "unknown";
}

std::string_view to_string(FollowUpChanged::Change change) noexcept {
  switch (change) {
    case FollowUpChanged::Change::created:
      return "created";
    case FollowUpChanged::Change::assigned:
      return "assigned";
    case FollowUpChanged::Change::redated:
      return "redated";
    case FollowUpChanged::Change::status:
      return "status";
    case FollowUpChanged::Change::reminded:
      return "reminded";
  }
  return "unknown";
}

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  for (const EventType type : {EventType::declared,
                               EventType::message,
                               EventType::status_change,
                               EventType::channel_linked,
                               EventType::severity_change,
                               EventType::assignment,
                               EventType::comms_assignment,
                               EventType::acknowledgement,
                               EventType::annotation,
                               EventType::action_taken,
                               EventType::escalation,
                               EventType::attachment,
                               EventType::bot_guidance,
                               EventType::triage_response,
                               EventType::summary,
                               EventType::follow_up,
                               EventType::closed,
                               EventType::title_change,
                               EventType::global_card_posted,
                               EventType::nudge,
                               EventType::sla_breach,
                               EventType::escalation_started,
                               EventType::escalation_stopped}) {
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
  json out{{"id", actor.id}, {"name", actor.display_name}};
  if (!actor.member.empty()) {
    out["member"] = actor.member;
  }
  return out;
}

namespace {

json optional_actor_json(const std::optional<Actor>& actor) {
  return actor ? actor_to_json(*actor) : json(nullptr);
}

json optional_time_json(const std::optional<TimePoint>& at) {
  return at ? json(format_time(*at)) : json(nullptr);
}

json optional_int_json(const std::optional<std::int64_t>& value) {
  return value ? json(*value) : json(nullptr);
}

json summary_to_json(const Summary& summary) {
  return json{{"what_happened", summary.what_happened},
              {"root_cause", summary.root_cause},
              {"resolution", summary.resolution},
              {"impact",
               {{"duration_minutes", optional_int_json(summary.impact.duration_minutes)},
                {"lines_affected", optional_int_json(summary.impact.lines_affected)},
                {"units_lost", optional_int_json(summary.impact.units_lost)},
                {"other", summary.impact.other}}}};
}

json follow_up_to_json(const FollowUp& follow_up) {
  return json{{"number", follow_up.number},
              {"description", follow_up.description},
              {"assignee", optional_actor_json(follow_up.assignee)},
              {"due", optional_time_json(follow_up.due)},
              {"status", to_string(follow_up.status)},
              {"created_by", actor_to_json(follow_up.created_by)},
              {"created_at", format_time(follow_up.created_at)},
              {"updated_at", format_time(follow_up.updated_at)},
              {"last_reminder", follow_up.last_reminder},
              {"last_reminder_at", optional_time_json(follow_up.last_reminder_at)}};
}

json escalation_steps_to_json(const std::vector<EscalationStep>& steps) {
  json out = json::array();
  for (const EscalationStep& step : steps) {
    out.push_back(json{{"step", step.step},
                       {"round", step.round},
                       {"due", format_time(step.due)},
                       {"round_start", format_time(step.round_start)},
                       {"if_unacknowledged", step.if_unacknowledged},
                       {"teams", step.teams},
                       {"members", step.members},
                       {"team_channels", step.team_channels}});
  }
  return out;
}

}  // namespace

json follow_up_json(const FollowUp& follow_up) {
  return follow_up_to_json(follow_up);
}

json payload_to_json(const EventPayload& payload) {
  return std::visit(
      [](const auto& value) -> json {
        using Payload = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Payload, Declared>) {
          return json{{"title", value.title},
                      {"severity", to_string(value.severity)},
                      {"declared_in", channel_to_json(value.declared_in)},
                      {"organization", value.organization},
                      {"area", value.area},
                      {"assets", value.assets},
                      {"announcements", value.announcements ? channel_to_json(*value.announcements)
                                                            : json(nullptr)}};
        } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
          return json{{"text", value.text},
                      {"channel", channel_to_json(value.channel)},
                      {"platform_message_id", value.platform_message_id},
                      {"truncated", value.truncated}};
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
        } else if constexpr (std::is_same_v<Payload, ActionTaken>) {
          return json{{"text", value.text}};
        } else if constexpr (std::is_same_v<Payload, Escalated>) {
          json notified = json::array();
          for (const Actor& actor : value.notified) {
            notified.push_back(actor_to_json(actor));
          }
          json channels = json::array();
          for (const ChannelRef& channel : value.channels) {
            channels.push_back(channel_to_json(channel));
          }
          return json{{"policy", value.policy},
                      {"step", value.step},
                      {"notified", std::move(notified)},
                      {"team", value.team},
                      {"late", value.late},
                      {"round", value.round},
                      {"chain", value.chain},
                      {"due", optional_time_json(value.due)},
                      {"instance", value.instance},
                      {"channels", std::move(channels)},
                      {"unreachable", value.unreachable}};
        } else if constexpr (std::is_same_v<Payload, EscalationStarted>) {
          return json{{"policy", value.policy},
                      {"reason", value.reason},
                      {"steps", escalation_steps_to_json(value.steps)}};
        } else if constexpr (std::is_same_v<Payload, EscalationStopped>) {
          return json{{"policy", value.policy},
                      {"reason", value.reason},
                      {"all", value.all},
                      {"cancelled", value.cancelled}};
        } else if constexpr (std::is_same_v<Payload, AttachmentAdded>) {
          return json{
              {"file_id", value.file_id},     {"name", value.name},
              {"size", value.size},           {"url", value.url},
              {"mime_type", value.mime_type}, {"platform_message_id", value.platform_message_id}};
        } else if constexpr (std::is_same_v<Payload, BotGuidance>) {
          return json{{"topic", value.topic}, {"text", value.text}};
        } else if constexpr (std::is_same_v<Payload, TriageResponse>) {
          return json{{"answers", value.answers}};
        } else if constexpr (std::is_same_v<Payload, SummaryRecorded>) {
          return summary_to_json(value.summary);
        } else if constexpr (std::is_same_v<Payload, FollowUpChanged>) {
          return json{{"change", to_string(value.change)},
                      {"number", value.number},
                      {"description", value.description},
                      {"assignee", optional_actor_json(value.assignee)},
                      {"due", optional_time_json(value.due)},
                      {"status", to_string(value.status)},
                      {"reminder", value.reminder}};
        } else if constexpr (std::is_same_v<Payload, Closed>) {
          return json{{"from", to_string(value.from)}};
        } else if constexpr (std::is_same_v<Payload, TitleChanged>) {
          return json{{"from", value.from}, {"to", value.to}};
        } else if constexpr (std::is_same_v<Payload, GlobalCardPosted>) {
          return json{{"channel", channel_to_json(value.channel)},
                      {"message_id", value.message_id}};
        } else if constexpr (std::is_same_v<Payload, Nudged>) {
          return json{{"quiet_minutes", value.quiet_minutes}};
        } else {
          static_assert(std::is_same_v<Payload, SlaBreached>);
          return json{{"target", value.target}, {"target_minutes", value.target_minutes}};
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
      case EventType::escalation:
        return read_payload(reader, json_value, Escalated{});
      case EventType::attachment:
        return read_payload(reader, json_value, AttachmentAdded{});
      case EventType::bot_guidance:
        return read_payload(reader, json_value, BotGuidance{});
      case EventType::triage_response:
        return read_payload(reader, json_value, TriageResponse{});
      case EventType::summary:
        return read_payload(reader, json_value, SummaryRecorded{});
      case EventType::follow_up:
        return read_payload(reader, json_value, FollowUpChanged{});
      case EventType::closed:
        return read_payload(reader, json_value, Closed{});
      case EventType::title_change:
        return read_payload(reader, json_value, TitleChanged{});
      case EventType::global_card_posted:
        return read_payload(reader, json_value, GlobalCardPosted{});
      case EventType::nudge:
        return read_payload(reader, json_value, Nudged{});
      case EventType::sla_breach:
        return read_payload(reader, json_value, SlaBreached{});
      case EventType::escalation_started:
        return read_payload(reader, json_value, EscalationStarted{});
      case EventType::escalation_stopped:
        return read_payload(reader, json_value, EscalationStopped{});
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

json incident_to_json(const Incident& incident) {
  json follow_ups = json::array();
  for (const FollowUp& follow_up : incident.follow_ups) {
    follow_ups.push_back(follow_up_to_json(follow_up));
  }
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
      {"acknowledged_at", optional_time_json(incident.acknowledged_at)},
      {"organization", incident.organization},
      {"area", incident.area},
      {"assets", incident.assets},
      {"announcements",
       incident.announcements ? channel_to_json(*incident.announcements) : json(nullptr)},
      {"global_card", incident.global_card
                          ? json{{"channel", channel_to_json(incident.global_card->channel)},
                                 {"message_id", incident.global_card->message_id}}
                          : json(nullptr)},
      {"triage", incident.triage},
      {"attachment_count", incident.attachment_count},
      {"summary", incident.summary ? summary_to_json(*incident.summary) : json(nullptr)},
      {"follow_ups", follow_ups},
      {"status_since", format_time(incident.status_since)},
      {"ms_in_status", incident.ms_in_status},
      {"mitigated_at", optional_time_json(incident.mitigated_at)},
      {"resolved_at", optional_time_json(incident.resolved_at)},
      {"closed_at", optional_time_json(incident.closed_at)},
      {"last_update_at", format_time(incident.last_update_at)},
      {"last_nudge_at", optional_time_json(incident.last_nudge_at)},
      {"acknowledge_sla_breached", incident.acknowledge_sla_breached},
      {"resolve_sla_breached", incident.resolve_sla_breached},
      {"escalation", incident.escalation
                         ? json{{"policy", incident.escalation->policy},
                                {"started_by", incident.escalation->started_by},
                                {"started_at", format_time(incident.escalation->started_at)},
                                {"pending", escalation_steps_to_json(incident.escalation->pending)},
                                {"ended", incident.escalation->ended},
                                {"acknowledged", incident.escalation->acknowledged}}
                         : json(nullptr)}};
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
      reader.read_if_present(json_value, "organization", incident.organization);
      reader.read_if_present(json_value, "area", incident.area);
      reader.read_if_present(json_value, "assets", incident.assets);
      reader.read_if_present(json_value, "announcements", incident.announcements);
      reader.read_if_present(json_value, "global_card", incident.global_card);
      reader.read_if_present(json_value, "triage", incident.triage);
      reader.read_if_present(json_value, "attachment_count", incident.attachment_count);
      reader.read_if_present(json_value, "summary", incident.summary);
      reader.read_if_present(json_value, "follow_ups", incident.follow_ups);
      reader.read_if_present(json_value, "status_since", incident.status_since);
      reader.read_if_present(json_value, "ms_in_status", incident.ms_in_status);
      reader.read_if_present(json_value, "mitigated_at", incident.mitigated_at);
      reader.read_if_present(json_value, "resolved_at", incident.resolved_at);
      reader.read_if_present(json_value, "closed_at", incident.closed_at);
      reader.read_if_present(json_value, "last_update_at", incident.last_update_at);
      reader.read_if_present(json_value, "last_nudge_at", incident.last_nudge_at);
      reader.read_if_present(json_value, "acknowledge_sla_breached",
                             incident.acknowledge_sla_breached);
      reader.read_if_present(json_value, "resolve_sla_breached", incident.resolve_sla_breached);
      reader.read_if_present(json_value, "escalation", incident.escalation);
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
