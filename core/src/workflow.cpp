#include <type_traits>

#include <haveri/core/workflow.hpp>

#include "wording.hpp"

namespace haveri::core {

namespace {

constexpr std::size_t kMaxChannelName = 80;
constexpr const char* kNobody = "\xE2\x80\x94";  // "—": not assigned

std::string incident_label(IncidentId id) {
  return "INC-" + std::to_string(id);
}

std::string name_of(const Actor& actor) {
  return actor.display_name.empty() ? actor.id : actor.display_name;
}

// "INVESTIGATING" -> "Investigating", for button labels.
std::string title_case(std::string_view upper) {
  std::string out(upper);
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i] >= 'A' && out[i] <= 'Z') {
      out[i] = static_cast<char>(out[i] + ('a' - 'A'));
    }
  }
  return out;
}

Error not_an_incident_channel(std::string_view verb, const ChannelRef& channel) {
  const std::string where = channel.name.empty() ? "this channel" : "#" + channel.name;
  return Error{ErrorCode::refused, "`/incident " + std::string(verb) +
                                       "` works only in an incident channel; " + where +
                                       " is not one."};
}

// Refuses a change to an incident that is not there or is CLOSED; nullopt: go ahead.
std::optional<Error> refuse_change(const Incident* incident, std::string_view verb,
                                   const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    return not_an_incident_channel(verb, channel);
  }
  if (incident->status == Status::closed) {
    return Error{ErrorCode::refused,
                 incident_label(incident->id) + " is CLOSED; a closed incident cannot be changed."};
  }
  return std::nullopt;
}

Result<Decision> decide_severity(const Incident* incident, const SeverityCommand& command,
                                 const ChannelRef& channel) {
  if (auto refusal = refuse_change(incident, "sev", channel)) {
    return std::move(*refusal);
  }
  if (command.severity == incident->severity) {
    return Error{ErrorCode::refused, incident_label(incident->id) + " is already " +
                                         std::string(to_string(incident->severity)) + "."};
  }
  return Decision{{SeverityChanged{incident->severity, command.severity}}, std::nullopt};
}

// "lead" or "comms": the same rules, a different role.
Result<Decision> decide_role(const Incident* incident, bool lead,
                             const std::optional<Actor>& person, const ChannelRef& channel,
                             const Actor& caller) {
  if (auto refusal = refuse_change(incident, lead ? "lead" : "comms", channel)) {
    return std::move(*refusal);
  }
  const Actor& who = person ? *person : caller;
  const std::optional<Actor>& current = lead ? incident->lead : incident->comms_lead;
  if (current && current->id == who.id) {
    return Error{ErrorCode::refused, name_of(*current) + " is already the " +
                                         (lead ? "incident lead" : "comms lead") + " of " +
                                         incident_label(incident->id) + "."};
  }
  if (lead) {
    return Decision{{LeadAssigned{who}}, std::nullopt};
  }
  return Decision{{CommsLeadAssigned{who}}, std::nullopt};
}

Result<Decision> decide_ack(const Incident* incident, const ChannelRef& channel) {
  if (auto refusal = refuse_change(incident, "ack", channel)) {
    return std::move(*refusal);
  }
  if (incident->acknowledged_at) {
    const std::string by = incident->acknowledged_by ? name_of(*incident->acknowledged_by) : "?";
    return Error{ErrorCode::refused, incident_label(incident->id) + " is already acknowledged by " +
                                         by + " at " + format_time(*incident->acknowledged_at) +
                                         "."};
  }
  return Decision{{Acknowledged{}}, std::nullopt};
}

Result<Decision> decide_status(const Incident* incident, const StatusCommand& command,
                               const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    return not_an_incident_channel("status", channel);
  }
  const std::string label = incident_label(incident->id);
  const std::string current(to_string(incident->status));
  if (command.status == incident->status) {
    return Error{ErrorCode::refused, label + " is already " + current + "."};
  }
  const auto allowed = allowed_transitions(incident->status);
  if (allowed.empty()) {
    return Error{ErrorCode::refused,
                 label + " is " + current + "; a closed incident cannot change status."};
  }
  for (const Status next : allowed) {
    if (next == command.status) {
      return Decision{{StatusChanged{incident->status, command.status}}, std::nullopt};
    }
  }
  return Error{ErrorCode::refused, label + " is " + current + "; it can move to " +
                                       wording::join_statuses(allowed) + "."};
}

// What a state-changing event changed, for the refreshed card ("Severity changed from
// SEV3 to SEV1"); empty for events that post no card.
std::string change_line(const Event& event) {
  return std::visit(
      [](const auto& payload) -> std::string {
        using Payload = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<Payload, StatusChanged>) {
          return "Status changed from " + std::string(to_string(payload.from)) + " to " +
                 std::string(to_string(payload.to));
        } else if constexpr (std::is_same_v<Payload, SeverityChanged>) {
          return "Severity changed from " + std::string(to_string(payload.from)) + " to " +
                 std::string(to_string(payload.to));
        } else if constexpr (std::is_same_v<Payload, LeadAssigned>) {
          return "Incident lead set to " + name_of(payload.lead);
        } else if constexpr (std::is_same_v<Payload, CommsLeadAssigned>) {
          return "Comms lead set to " + name_of(payload.comms_lead);
        } else if constexpr (std::is_same_v<Payload, Acknowledged>) {
          return "Acknowledged";
        } else {
          return {};
        }
      },
      event.payload);
}

}  // namespace

Result<Decision> decide(const Incident* incident, const Command& command, const ChannelRef& channel,
                        const Actor& caller) {
  return std::visit(
      [&](const auto& cmd) -> Result<Decision> {
        using Cmd = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<Cmd, DeclareCommand>) {
          return Decision{{Declared{cmd.title, cmd.severity.value_or(Severity::sev3), channel}},
                          std::nullopt};
        } else if constexpr (std::is_same_v<Cmd, StatusCommand>) {
          return decide_status(incident, cmd, channel);
        } else if constexpr (std::is_same_v<Cmd, SeverityCommand>) {
          return decide_severity(incident, cmd, channel);
        } else if constexpr (std::is_same_v<Cmd, LeadCommand>) {
          return decide_role(incident, true, cmd.person, channel, caller);
        } else if constexpr (std::is_same_v<Cmd, CommsCommand>) {
          return decide_role(incident, false, cmd.person, channel, caller);
        } else if constexpr (std::is_same_v<Cmd, AckCommand>) {
          return decide_ack(incident, channel);
        } else if constexpr (std::is_same_v<Cmd, NoteCommand>) {
          if (auto refusal = refuse_change(incident, "note", channel)) {
            return std::move(*refusal);
          }
          return Decision{{Annotation{cmd.text, std::nullopt}}, std::nullopt};
        } else if constexpr (std::is_same_v<Cmd, ActionCommand>) {
          if (auto refusal = refuse_change(incident, "action", channel)) {
            return std::move(*refusal);
          }
          return Decision{{ActionTaken{cmd.text}}, std::nullopt};
        } else {
          static_assert(std::is_same_v<Cmd, HelpCommand>);
          Message reply;
          reply.title = cmd.topic.empty() ? "Haveri commands" : "Help: " + cmd.topic;
          reply.text = command_help(cmd.topic);
          return Decision{{}, std::move(reply)};
        }
      },
      command);
}

std::vector<Effect> effects_of(const Incident& after, const std::vector<Event>& committed) {
  std::vector<Effect> effects;
  for (const Event& event : committed) {
    if (after.id != 0 && event.incident != after.id) {
      continue;
    }
    if (const auto* declared = std::get_if<Declared>(&event.payload)) {
      const std::string name = incident_channel_name(after.id, declared->title);
      const std::string severity(to_string(declared->severity));
      effects.emplace_back(CreateIncidentChannel{after.id, after.declared_in.instance, name,
                                                 severity + " · " + declared->title});
      Message announcement;
      announcement.title = incident_label(after.id) + " declared: " + declared->title;
      announcement.text = severity + " · declared by " + name_of(event.actor) +
                          ". Opening the incident channel #" + name + "…";
      effects.emplace_back(PostMessage{after.declared_in, std::move(announcement)});
    } else if (const auto* linked = std::get_if<ChannelLinked>(&event.payload)) {
      effects.emplace_back(PostMessage{linked->channel, incident_card(after)});
    } else if (const std::string change = change_line(event); !change.empty()) {
      Message card = incident_card(after);
      card.context = change + " by " + name_of(event.actor);
      effects.emplace_back(PostMessage{after.channel.value_or(after.declared_in), std::move(card)});
    }
    // MessagePosted, Annotation, ActionTaken: people already see what they wrote.
  }
  return effects;
}

std::string incident_channel_name(IncidentId id, std::string_view title) {
  std::string prefix = "inc-" + std::to_string(id);
  std::string slug;
  bool pending_dash = false;
  for (const char raw : title) {
    char c = raw;
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + ('a' - 'A'));
    }
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (pending_dash && !slug.empty()) {
        slug += '-';
      }
      pending_dash = false;
      slug += c;
      if (slug.size() > kMaxChannelName) {
        break;  // longer than any name can hold; the cut below decides the rest
      }
    } else {
      pending_dash = true;
    }
  }
  if (slug.empty() || prefix.size() + 1 >= kMaxChannelName) {
    return prefix;
  }
  const std::size_t room = kMaxChannelName - prefix.size() - 1;
  if (slug.size() > room) {
    slug.resize(room);
    while (!slug.empty() && slug.back() == '-') {
      slug.pop_back();
    }
  }
  return slug.empty() ? prefix : prefix + "-" + slug;
}

Message incident_card(const Incident& incident) {
  Message card;
  card.title = incident_label(incident.id) + " · " + incident.title;
  card.fields.push_back({"Status", std::string(to_string(incident.status))});
  card.fields.push_back({"Severity", std::string(to_string(incident.severity))});
  card.fields.push_back({"Lead", incident.lead ? name_of(*incident.lead) : kNobody});
  card.fields.push_back({"Comms", incident.comms_lead ? name_of(*incident.comms_lead) : kNobody});
  std::string acknowledged = "not yet";
  if (incident.acknowledged_at) {
    acknowledged = (incident.acknowledged_by ? name_of(*incident.acknowledged_by) : "?") + " at " +
                   format_time(*incident.acknowledged_at);
  }
  card.fields.push_back({"Acknowledged", std::move(acknowledged)});
  card.fields.push_back({"Declared by", name_of(incident.declared_by)});
  card.fields.push_back({"Declared at", format_time(incident.declared_at)});
  if (incident.channel) {
    card.fields.push_back({"Channel", "#" + incident.channel->name});
  }
  // A closed incident refuses acknowledgement, so it offers no button for it.
  if (!incident.acknowledged_at && incident.status != Status::closed) {
    card.actions.push_back({"Acknowledge", "ack"});
  }
  for (const Status next : allowed_transitions(incident.status)) {
    card.actions.push_back(
        {title_case(to_string(next)), "status " + wording::lower_ascii(to_string(next))});
  }
  card.context = "Haveri · updated " + format_time(incident.updated_at);
  return card;
}

Message error_reply(const CommandError& error) {
  Message reply;
  reply.title = "Couldn't run that command";
  reply.text = error.problem + "\nUsage: `" + error.usage + "`";
  return reply;
}

Message refusal_reply(const Error& error) {
  Message reply;
  reply.title = "Not done";
  reply.text = error.message;
  return reply;
}

}  // namespace haveri::core
