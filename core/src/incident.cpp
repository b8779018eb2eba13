#include <array>
#include <type_traits>

#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>

namespace haveri::core {

namespace {

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

constexpr std::array kStatuses = {Status::declared, Status::investigating, Status::mitigated,
                                  Status::resolved, Status::closed};
constexpr std::array kSeverities = {Severity::sev1, Severity::sev2, Severity::sev3};

constexpr std::array kFromDeclared = {Status::investigating, Status::mitigated, Status::resolved};
constexpr std::array kFromInvestigating = {Status::mitigated, Status::resolved};
constexpr std::array kFromMitigated = {Status::investigating, Status::resolved};
constexpr std::array kFromResolved = {Status::closed, Status::investigating};

}  // namespace

std::string_view to_string(Status status) noexcept {
  switch (status) {
    case Status::declared:
      return "DECLARED";
    case Status::investigating:
      return "INVESTIGATING";
    case Status::mitigated:
      return "MITIGATED";
    case Status::resolved:
      return "RESOLVED";
    case Status::closed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

std::string_view to_string(Severity severity) noexcept {
  switch (severity) {
    case Severity::sev1:
      return "SEV1";
    case Severity::sev2:
      return "SEV2";
    case Severity::sev3:
      return "SEV3";
  }
  return "UNKNOWN";
}

std::optional<Status> parse_status(std::string_view text) noexcept {
  for (const Status status : kStatuses) {
    if (equals_ignore_case(text, to_string(status))) {
      return status;
    }
  }
  return std::nullopt;
}

std::optional<Severity> parse_severity(std::string_view text) noexcept {
  for (const Severity severity : kSeverities) {
    if (equals_ignore_case(text, to_string(severity))) {
      return severity;
    }
  }
  return std::nullopt;
}

std::span<const Status> allowed_transitions(Status from) noexcept {
  switch (from) {
    case Status::declared:
      return kFromDeclared;
    case Status::investigating:
      return kFromInvestigating;
    case Status::mitigated:
      return kFromMitigated;
    case Status::resolved:
      return kFromResolved;
    case Status::closed:
      return {};
  }
  return {};
}

Incident apply(Incident state, const Event& event) noexcept {
  if (state.id != 0 && event.incident != state.id) {
    return state;
  }
  std::visit(
      [&](const auto& payload) {
        using Payload = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<Payload, Declared>) {
          state.id = event.incident;
          state.title = payload.title;
          state.severity = payload.severity;
          state.declared_by = event.actor;
          state.declared_at = event.at;
          state.declared_in = payload.declared_in;
          state.status = Status::declared;
        } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
          ++state.message_count;
        } else if constexpr (std::is_same_v<Payload, StatusChanged>) {
          state.status = payload.to;
        } else if constexpr (std::is_same_v<Payload, ChannelLinked>) {
          state.channel = payload.channel;
        } else if constexpr (std::is_same_v<Payload, SeverityChanged>) {
          state.severity = payload.to;
        } else if constexpr (std::is_same_v<Payload, LeadAssigned>) {
          state.lead = payload.lead;
        } else if constexpr (std::is_same_v<Payload, CommsLeadAssigned>) {
          state.comms_lead = payload.comms_lead;
        } else if constexpr (std::is_same_v<Payload, Acknowledged>) {
          // Time to acknowledge is measured to the first acknowledgement; later ones
          // (possible in a replayed history) leave it as it was.
          if (!state.acknowledged_at) {
            state.acknowledged_by = event.actor;
            state.acknowledged_at = event.at;
          }
        }
        // Annotation, ActionTaken: timeline entries only; the state has no field for them.
      },
      event.payload);
  state.last_sequence = event.sequence;
  state.updated_at = event.at;
  return state;
}

Incident fold(std::span<const Event> events) noexcept {
  Incident state;
  for (const Event& event : events) {
    state = apply(std::move(state), event);
  }
  return state;
}

}  // namespace haveri::core
