#include <array>
#include <type_traits>

#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>

#include "wording.hpp"

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

std::string_view to_string(FollowUpStatus status) noexcept {
  switch (status) {
    case FollowUpStatus::open:
      return "OPEN";
    case FollowUpStatus::in_progress:
      return "IN_PROGRESS";
    case FollowUpStatus::done:
      return "DONE";
  }
  return "UNKNOWN";
}

std::optional<FollowUpStatus> parse_follow_up_status(std::string_view text) noexcept {
  for (const FollowUpStatus status :
       {FollowUpStatus::open, FollowUpStatus::in_progress, FollowUpStatus::done}) {
    if (equals_ignore_case(text, to_string(status))) {
      return status;
    }
  }
  if (equals_ignore_case(text, "in-progress") || equals_ignore_case(text, "started")) {
    return FollowUpStatus::in_progress;
  }
  return std::nullopt;
}

const FollowUp* Incident::follow_up(std::int64_t number) const noexcept {
  for (const FollowUp& item : follow_ups) {
    if (item.number == number) {
      return &item;
    }
  }
  return nullptr;
}

IncidentMetrics metrics_of(const Incident& incident, TimePoint now) noexcept {
  using std::chrono::milliseconds;
  IncidentMetrics metrics;
  if (!incident.exists()) {
    return metrics;
  }
  if (incident.acknowledged_at) {
    metrics.time_to_acknowledge = *incident.acknowledged_at - incident.declared_at;
  }
  if (incident.mitigated_at) {
    metrics.time_to_mitigate = *incident.mitigated_at - incident.declared_at;
  }
  if (incident.resolved_at) {
    metrics.time_to_resolve = *incident.resolved_at - incident.declared_at;
  }
  for (std::size_t i = 0; i < metrics.time_in_status.size(); ++i) {
    metrics.time_in_status[i] = milliseconds(incident.ms_in_status[i]);
  }
  // A closed incident's clock has stopped; any other is still running.
  if (incident.status != Status::closed && now > incident.status_since) {
    metrics.time_in_status[static_cast<std::size_t>(incident.status)] +=
        now - incident.status_since;
  }
  return metrics;
}

namespace {

// Moves the state to `to` at `at`, keeping the time spent in the status it leaves.
void enter_status(Incident& state, Status to, TimePoint at) noexcept {
  if (at > state.status_since) {
    state.ms_in_status[static_cast<std::size_t>(state.status)] += (at - state.status_since).count();
  }
  state.status = to;
  state.status_since = at;
  state.last_update_at = at;
  if (to == Status::mitigated && !state.mitigated_at) {
    state.mitigated_at = at;
  }
  if (to == Status::resolved) {
    state.resolved_at = at;
  } else if (to != Status::closed) {
    state.resolved_at.reset();  // reopened: resolution time is measured again
  }
  if (to == Status::closed) {
    state.closed_at = at;
  }
}

FollowUp* find_follow_up(Incident& state, std::int64_t number) noexcept {
  for (FollowUp& item : state.follow_ups) {
    if (item.number == number) {
      return &item;
    }
  }
  return nullptr;
}

void apply_follow_up(Incident& state, const FollowUpChanged& change, const Event& event) {
  using Change = FollowUpChanged::Change;
  if (change.change == Change::created) {
    if (find_follow_up(state, change.number) != nullptr) {
      return;  // a number is created once; a repeat in a damaged history is ignored
    }
    FollowUp created;
    created.number = change.number;
    created.description = change.description;
    created.assignee = change.assignee;
    created.due = change.due;
    created.created_by = event.actor;
    created.created_at = event.at;
    created.updated_at = event.at;
    state.follow_ups.push_back(std::move(created));
    return;
  }
  FollowUp* item = find_follow_up(state, change.number);
  if (item == nullptr) {
    return;
  }
  switch (change.change) {
    case Change::assigned:
      item->assignee = change.assignee;
      break;
    case Change::redated:
      item->due = change.due;
      item->last_reminder.clear();  // a new date earns its reminders again
      item->last_reminder_at.reset();
      break;
    case Change::status:
      item->status = change.status;
      break;
    case Change::reminded:
      item->last_reminder = change.reminder;
      item->last_reminder_at = event.at;
      return;  // a reminder is not a change of the follow-up itself
    case Change::created:
      break;
  }
  item->updated_at = event.at;
}

}  // namespace

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
          state.status_since = event.at;
          state.last_update_at = event.at;
          state.organization = payload.organization;
          state.area = payload.area;
          state.assets = payload.assets;
          state.announcements = payload.announcements;
        } else if constexpr (std::is_same_v<Payload, MessagePosted>) {
          ++state.message_count;
        } else if constexpr (std::is_same_v<Payload, StatusChanged>) {
          enter_status(state, payload.to, event.at);
        } else if constexpr (std::is_same_v<Payload, Closed>) {
          enter_status(state, Status::closed, event.at);
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
        } else if constexpr (std::is_same_v<Payload, ActionTaken>) {
          state.last_update_at = event.at;
        } else if constexpr (std::is_same_v<Payload, Annotation>) {
          // A note is an update; a recorded edit or deletion of a chat message is not.
          if (!payload.refers_to_sequence) {
            state.last_update_at = event.at;
          }
        } else if constexpr (std::is_same_v<Payload, AttachmentAdded>) {
          ++state.attachment_count;
        } else if constexpr (std::is_same_v<Payload, TriageResponse>) {
          for (const auto& [question, answer] : payload.answers) {
            state.triage[question] = answer;
          }
          if (auto area = payload.answers.find("area"); area != payload.answers.end()) {
            state.area = area->second;
          }
          if (auto assets = payload.answers.find("assets"); assets != payload.answers.end()) {
            state.assets = wording::split_list(assets->second);
          }
        } else if constexpr (std::is_same_v<Payload, SummaryRecorded>) {
          state.summary = payload.summary;
          state.last_update_at = event.at;
        } else if constexpr (std::is_same_v<Payload, FollowUpChanged>) {
          apply_follow_up(state, payload, event);
        } else if constexpr (std::is_same_v<Payload, TitleChanged>) {
          state.title = payload.to;
        } else if constexpr (std::is_same_v<Payload, GlobalCardPosted>) {
          state.global_card = PostedMessage{payload.channel, payload.message_id};
        } else if constexpr (std::is_same_v<Payload, Nudged>) {
          state.last_nudge_at = event.at;
        } else if constexpr (std::is_same_v<Payload, SlaBreached>) {
          if (payload.target == "acknowledge") {
            state.acknowledge_sla_breached = true;
          } else if (payload.target == "resolve") {
            state.resolve_sla_breached = true;
          }
        } else if constexpr (std::is_same_v<Payload, EscalationStarted>) {
          state.escalation =
              EscalationChain{payload.policy, event.sequence, event.at, payload.steps};
        } else if constexpr (std::is_same_v<Payload, EscalationStopped>) {
          if (state.escalation) {
            std::erase_if(state.escalation->pending, [&](const EscalationStep& step) {
              return payload.all || step.if_unacknowledged || step.round_start > event.at;
            });
            state.escalation->ended = state.escalation->ended || payload.all;
            state.escalation->acknowledged =
                state.escalation->acknowledged || payload.reason == "acknowledged";
          }
        } else if constexpr (std::is_same_v<Payload, Escalated>) {
          if (state.escalation && state.escalation->started_by == payload.chain) {
            std::erase_if(state.escalation->pending, [&](const EscalationStep& step) {
              return step.step == payload.step && step.round == payload.round;
            });
          }
        }
        // BotGuidance: a timeline entry only; the state has no field for it.
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
