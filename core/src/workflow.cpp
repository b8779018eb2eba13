#include <algorithm>
#include <type_traits>

#include <haveri/core/workflow.hpp>

#include "wording.hpp"

namespace haveri::core {

namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr std::size_t kMaxChannelName = 80;
constexpr const char* kNobody = "\xE2\x80\x94";  // "—": not assigned

std::string incident_label(IncidentId id) {
  return "INC-" + std::to_string(id);
}

std::string name_of(const Actor& actor) {
  return actor.display_name.empty() ? actor.id : actor.display_name;
}

std::string mention_of(const Actor& actor) {
  return "@" + name_of(actor);
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

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) {
      out += separator;
    }
    out += part;
  }
  return out;
}

Error refused(std::string message) {
  return Error{ErrorCode::refused, std::move(message)};
}

Error not_an_incident_channel(std::string_view verb, const ChannelRef& channel) {
  const std::string where = channel.name.empty() ? "this channel" : "#" + channel.name;
  return refused("`/incident " + std::string(verb) + "` works only in an incident channel; " +
                 where + " is not one.");
}

// Refuses a change to an incident that is not there or is CLOSED; nullopt: go ahead.
std::optional<Error> refuse_change(const Incident* incident, std::string_view verb,
                                   const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    return not_an_incident_channel(verb, channel);
  }
  if (incident->status == Status::closed) {
    return refused(incident_label(incident->id) +
                   " is CLOSED; a closed incident cannot be changed (its follow-ups can).");
  }
  return std::nullopt;
}

Decision private_reply(Message message) {
  Decision decision;
  decision.reply = std::move(message);
  decision.reply_privately = true;
  return decision;
}

// Checks area and assets against the organization's directory; nullopt when fine
// or when the organization lists none of them (a directory without a plant map).
std::optional<Error> check_places(const Organization* organization, const std::string& area,
                                  const std::vector<std::string>& assets) {
  if (organization == nullptr) {
    return std::nullopt;
  }
  if (!area.empty() && !organization->areas.empty() && organization->area(area) == nullptr) {
    std::vector<std::string> known;
    for (const Area& each : organization->areas) {
      known.push_back(each.id);
    }
    return refused("There is no area \"" + area + "\" in " + organization->name +
                   ". Areas: " + join(known, ", ") + ".");
  }
  for (const std::string& asset : assets) {
    if (!organization->assets.empty() && organization->asset(asset) == nullptr) {
      std::vector<std::string> known;
      for (const Asset& each : organization->assets) {
        known.push_back(each.id);
      }
      return refused("There is no asset \"" + asset + "\" in " + organization->name +
                     ". Assets: " + join(known, ", ") + ".");
    }
  }
  return std::nullopt;
}

Result<Decision> decide_declare(const DeclareCommand& command, const DecisionContext& context) {
  if (command.title.empty() || !command.severity) {
    return private_reply(declare_form(command, context.organization));
  }
  if (auto problem = check_places(context.organization, command.area, command.assets)) {
    return std::move(*problem);
  }
  Declared declared;
  declared.title = command.title;
  declared.severity = *command.severity;
  declared.declared_in = context.channel;
  declared.area = command.area;
  declared.assets = command.assets;
  if (context.organization != nullptr) {
    declared.organization = context.organization->id;
    if (const auto& announcements = context.organization->announcements) {
      declared.announcements =
          ChannelRef{announcements->instance, announcements->channel,
                     announcements->name.empty() ? announcements->channel : announcements->name};
    }
  }
  return Decision{{std::move(declared)}, std::nullopt};
}

Result<Decision> decide_severity(const Incident* incident, const SeverityCommand& command,
                                 const ChannelRef& channel) {
  if (auto refusal = refuse_change(incident, "sev", channel)) {
    return std::move(*refusal);
  }
  if (command.severity == incident->severity) {
    return refused(incident_label(incident->id) + " is already " +
                   std::string(to_string(incident->severity)) + ".");
  }
  return Decision{{SeverityChanged{incident->severity, command.severity}}, std::nullopt};
}

// "lead" or "comms": the same rules, a different role.
Result<Decision> decide_role(const Incident* incident, bool lead,
                             const std::optional<Actor>& person, const DecisionContext& context) {
  if (auto refusal = refuse_change(incident, lead ? "lead" : "comms", context.channel)) {
    return std::move(*refusal);
  }
  const Actor& who = person ? *person : context.caller;
  const std::optional<Actor>& current = lead ? incident->lead : incident->comms_lead;
  if (current && current->id == who.id) {
    return refused(name_of(*current) + " is already the " +
                   (lead ? "incident lead" : "comms lead") + " of " + incident_label(incident->id) +
                   ".");
  }
  if (lead) {
    return Decision{{LeadAssigned{who}}, std::nullopt};
  }
  return Decision{{CommsLeadAssigned{who}}, std::nullopt};
}

Result<Decision> decide_ack(const Incident* incident, const AckCommand& command,
                            const ChannelRef& channel) {
  if (auto refusal = refuse_change(incident, "ack", channel)) {
    return std::move(*refusal);
  }
  // A chain started after the first acknowledgement (the severity was raised) waits
  // for an acknowledgement of its own.
  // A chain that started after the first acknowledgement (the severity was raised)
  // waits for an acknowledgement of its own.
  const bool chain_waits = incident->escalation && !incident->escalation->ended &&
                           !incident->escalation->acknowledged &&
                           !incident->escalation->pending.empty();
  if (command.incident) {
    Message reply;
    if (incident->acknowledged_at && !chain_waits) {
      reply.text = incident_label(incident->id) + " is already acknowledged by " +
                   (incident->acknowledged_by ? name_of(*incident->acknowledged_by) : "?") +
                   "; nobody else will be paged.";
      return private_reply(std::move(reply));
    }
    reply.text = "You acknowledged " + incident_label(incident->id) + " · " + incident->title + ".";
    Decision decision{{Acknowledged{}}, std::move(reply)};
    decision.reply_privately = true;
    return decision;
  }
  if (incident->acknowledged_at && !chain_waits) {
    const std::string by = incident->acknowledged_by ? name_of(*incident->acknowledged_by) : "?";
    return refused(incident_label(incident->id) + " is already acknowledged by " + by + " at " +
                   format_time(*incident->acknowledged_at) + ".");
  }
  return Decision{{Acknowledged{}}, std::nullopt};
}

Result<Decision> decide_close(const Incident* incident, const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    return not_an_incident_channel("close", channel);
  }
  const std::string label = incident_label(incident->id);
  if (incident->status == Status::closed) {
    return refused(label + " is already CLOSED.");
  }
  if (incident->status != Status::resolved || !incident->summary) {
    return refused(label + " is " + std::string(to_string(incident->status)) +
                   "; only a RESOLVED incident with a summary can be closed. Run "
                   "`/incident resolve` first and fill in the summary.");
  }
  return Decision{{Closed{incident->status}}, std::nullopt};
}

Result<Decision> decide_status(const Incident* incident, const StatusCommand& command,
                               const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    return not_an_incident_channel("status", channel);
  }
  const std::string label = incident_label(incident->id);
  const std::string current(to_string(incident->status));
  if (command.status == incident->status) {
    return refused(label + " is already " + current + ".");
  }
  const auto allowed = allowed_transitions(incident->status);
  if (allowed.empty()) {
    return refused(label + " is " + current + "; a closed incident cannot change status.");
  }
  if (std::find(allowed.begin(), allowed.end(), command.status) == allowed.end()) {
    return refused(label + " is " + current + "; it can move to " +
                   wording::join_statuses(allowed) + ".");
  }
  // Resolving needs a summary and closing needs one too: both go their own way.
  if (command.status == Status::resolved) {
    return private_reply(resolve_form(*incident));
  }
  if (command.status == Status::closed) {
    return decide_close(incident, channel);
  }
  return Decision{{StatusChanged{incident->status, command.status}}, std::nullopt};
}

Result<Decision> decide_resolve(const Incident* incident, const ResolveCommand& command,
                                const ChannelRef& channel) {
  if (auto refusal = refuse_change(incident, "resolve", channel)) {
    return std::move(*refusal);
  }
  if (!command.summary) {
    return private_reply(resolve_form(*incident));
  }
  Decision decision;
  decision.events.emplace_back(SummaryRecorded{*command.summary});
  // Submitting the form again on a RESOLVED incident amends its summary only.
  if (incident->status != Status::resolved) {
    decision.events.emplace_back(StatusChanged{incident->status, Status::resolved});
  }
  return decision;
}

TimePoint resolve_due(const DueSpec& due, TimePoint now) {
  return due.at ? *due.at : now + std::chrono::duration_cast<milliseconds>(due.from_now);
}

Result<Decision> decide_follow_up(const Incident* incident, const FollowUpCommand& command,
                                  const DecisionContext& context) {
  using Action = FollowUpCommand::Action;
  if (incident == nullptr || !incident->exists()) {
    if (command.action == Action::list) {
      return Error{ErrorCode::invalid_argument, "follow-up lists outside an incident are queries"};
    }
    return not_an_incident_channel("followup", context.channel);
  }
  const std::string label = incident_label(incident->id);
  if (command.action == Action::list) {
    if (!command.list_scope.empty()) {
      return Error{ErrorCode::invalid_argument, "scoped follow-up lists are queries"};
    }
    std::vector<FollowUpListing> items;
    for (const FollowUp& item : incident->follow_ups) {
      items.push_back(FollowUpListing{incident->organization, incident->id, incident->title, item});
    }
    return private_reply(follow_up_list_reply("Follow-ups of " + label, items, context.now));
  }
  FollowUpChanged change;
  if (command.action == Action::add) {
    change.change = FollowUpChanged::Change::created;
    std::int64_t highest = 0;
    for (const FollowUp& item : incident->follow_ups) {
      highest = std::max(highest, item.number);
    }
    change.number = highest + 1;
    change.description = command.description;
    change.assignee =
        command.assign_to_caller ? std::optional<Actor>(context.caller) : command.assignee;
    if (command.due) {
      change.due = resolve_due(*command.due, context.now);
    }
    return Decision{{std::move(change)}, std::nullopt};
  }
  const FollowUp* item = incident->follow_up(command.number);
  if (item == nullptr) {
    return refused(label + " has no follow-up #" + std::to_string(command.number) + " (it has " +
                   std::to_string(incident->follow_ups.size()) +
                   "); `/incident followup list` shows them.");
  }
  change.number = item->number;
  const std::string which = "Follow-up #" + std::to_string(item->number) + " of " + label;
  switch (command.action) {
    case Action::assign: {
      change.change = FollowUpChanged::Change::assigned;
      change.assignee = command.assign_to_caller ? context.caller : command.assignee;
      if (item->assignee && change.assignee && item->assignee->id == change.assignee->id) {
        return refused(which + " is already assigned to " + name_of(*item->assignee) + ".");
      }
      break;
    }
    case Action::redate:
      change.change = FollowUpChanged::Change::redated;
      change.due = resolve_due(command.due.value_or(DueSpec{}), context.now);
      break;
    case Action::status:
      change.change = FollowUpChanged::Change::status;
      change.status = command.status;
      if (item->status == command.status) {
        return refused(which + " is already " + std::string(to_string(item->status)) + ".");
      }
      break;
    case Action::add:
    case Action::list:
      break;
  }
  return Decision{{std::move(change)}, std::nullopt};
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
        } else if constexpr (std::is_same_v<Payload, TitleChanged>) {
          return "Title changed from \"" + payload.from + "\"";
        } else if constexpr (std::is_same_v<Payload, TriageResponse>) {
          return "Triage answered";
        } else if constexpr (std::is_same_v<Payload, Closed>) {
          return "Closed";
        } else {
          return {};
        }
      },
      event.payload);
}

// Whether the global card shows what this event changed.
bool changes_global_card(const Event& event) {
  switch (event.type()) {
    case EventType::status_change:
    case EventType::severity_change:
    case EventType::assignment:
    case EventType::comms_assignment:
    case EventType::acknowledgement:
    case EventType::title_change:
    case EventType::triage_response:
    case EventType::closed:
    case EventType::channel_linked:
      return true;
    default:
      return false;
  }
}

std::string due_text(const std::optional<TimePoint>& due, TimePoint now) {
  if (!due) {
    return "no due date";
  }
  std::string text = "due " + format_time(*due).substr(0, 16) + "Z";
  if (*due < now) {
    text += " (overdue by " + format_duration(now - *due) + ")";
  }
  return text;
}

std::string follow_up_line(const FollowUp& item, TimePoint now) {
  return "#" + std::to_string(item.number) + " [" + std::string(to_string(item.status)) + "] " +
         item.description + " · " + (item.assignee ? name_of(*item.assignee) : "unassigned") +
         " · " + due_text(item.due, now);
}

Message follow_up_message(const Incident& incident, const FollowUpChanged& change,
                          const Actor& actor, TimePoint now) {
  Message message;
  const FollowUp* item = incident.follow_up(change.number);
  const std::string which = "Follow-up #" + std::to_string(change.number);
  using Change = FollowUpChanged::Change;
  switch (change.change) {
    case Change::created:
      message.title = which + " added by " + name_of(actor);
      break;
    case Change::assigned:
      message.title = which + " assigned to " +
                      (change.assignee ? mention_of(*change.assignee) : std::string("nobody"));
      break;
    case Change::redated:
      message.title = which + " re-dated";
      break;
    case Change::status:
      message.title = which + " is now " + std::string(to_string(change.status));
      break;
    case Change::reminded: {
      const std::string owner =
          item != nullptr && item->assignee ? mention_of(*item->assignee) + ": " : "";
      message.title = owner + (change.reminder == "before" ? "reminder, " + which + " is due soon"
                               : change.reminder == "due"  ? which + " is due now"
                                                           : which + " is overdue");
      break;
    }
  }
  if (item != nullptr) {
    message.text = follow_up_line(*item, now);
  }
  return message;
}

void add_metric_fields(Message& card, const Incident& incident, const IncidentSettings& settings,
                       TimePoint now) {
  const IncidentMetrics metrics = metrics_of(incident, now);
  const SlaTarget& target = settings.sla_for(incident.severity);
  const auto versus = [](const std::optional<milliseconds>& took, minutes goal,
                         milliseconds so_far) {
    if (took) {
      return format_duration(*took) + (*took > goal ? " (SLA " : " (within ") +
             format_duration(goal) + ")";
    }
    return "open " + format_duration(so_far) + " of " + format_duration(goal);
  };
  const milliseconds open_for =
      now > incident.declared_at ? now - incident.declared_at : milliseconds(0);
  card.fields.push_back(
      {"Time to acknowledge", versus(metrics.time_to_acknowledge, target.acknowledge, open_for)});
  if (metrics.time_to_mitigate) {
    card.fields.push_back({"Time to mitigate", format_duration(*metrics.time_to_mitigate)});
  }
  card.fields.push_back(
      {"Time to resolve", versus(metrics.time_to_resolve, target.resolve, open_for)});
}

std::string places_of(const Incident& incident) {
  std::string text = incident.area.empty() ? "" : incident.area;
  if (!incident.assets.empty()) {
    text += (text.empty() ? "" : " · ") + join(incident.assets, ", ");
  }
  return text;
}

}  // namespace

Result<Decision> decide(const Incident* incident, const Command& command,
                        const DecisionContext& context) {
  const ChannelRef& channel = context.channel;
  return std::visit(
      [&](const auto& cmd) -> Result<Decision> {
        using Cmd = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<Cmd, DeclareCommand>) {
          return decide_declare(cmd, context);
        } else if constexpr (std::is_same_v<Cmd, StatusCommand>) {
          return decide_status(incident, cmd, channel);
        } else if constexpr (std::is_same_v<Cmd, SeverityCommand>) {
          return decide_severity(incident, cmd, channel);
        } else if constexpr (std::is_same_v<Cmd, LeadCommand>) {
          return decide_role(incident, true, cmd.person, context);
        } else if constexpr (std::is_same_v<Cmd, CommsCommand>) {
          return decide_role(incident, false, cmd.person, context);
        } else if constexpr (std::is_same_v<Cmd, AckCommand>) {
          return decide_ack(incident, cmd, channel);
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
        } else if constexpr (std::is_same_v<Cmd, TitleCommand>) {
          if (auto refusal = refuse_change(incident, "title", channel)) {
            return std::move(*refusal);
          }
          if (cmd.title == incident->title) {
            return refused(incident_label(incident->id) + " is already called \"" + cmd.title +
                           "\".");
          }
          return Decision{{TitleChanged{incident->title, cmd.title}}, std::nullopt};
        } else if constexpr (std::is_same_v<Cmd, ResolveCommand>) {
          return decide_resolve(incident, cmd, channel);
        } else if constexpr (std::is_same_v<Cmd, CloseCommand>) {
          return decide_close(incident, channel);
        } else if constexpr (std::is_same_v<Cmd, TriageCommand>) {
          if (auto refusal = refuse_change(incident, "triage", channel)) {
            return std::move(*refusal);
          }
          const auto area = cmd.answers.find("area");
          const auto assets = cmd.answers.find("assets");
          if (auto problem =
                  check_places(context.organization, area == cmd.answers.end() ? "" : area->second,
                               assets == cmd.answers.end() ? std::vector<std::string>{}
                                                           : wording::split_list(assets->second))) {
            return std::move(*problem);
          }
          return Decision{{TriageResponse{cmd.answers}}, std::nullopt};
        } else if constexpr (std::is_same_v<Cmd, FollowUpCommand>) {
          return decide_follow_up(incident, cmd, context);
        } else if constexpr (std::is_same_v<Cmd, TimelineCommand> ||
                             std::is_same_v<Cmd, ListCommand> ||
                             std::is_same_v<Cmd, SearchCommand>) {
          return Error{ErrorCode::invalid_argument, "timeline, list and search are queries"};
        } else {
          static_assert(std::is_same_v<Cmd, HelpCommand>);
          Message reply;
          reply.title = cmd.topic.empty() ? "Haveri commands" : "Help: " + cmd.topic;
          reply.text = command_help(cmd.topic);
          return private_reply(std::move(reply));
        }
      },
      command);
}

namespace {

std::string names_of(const std::vector<Actor>& people) {
  std::string names;
  for (std::size_t i = 0; i < people.size(); ++i) {
    names += (i == 0 ? "" : (i + 1 == people.size() ? " and " : ", ")) + name_of(people[i]);
  }
  return names;
}

// The page itself (a personal message and team channel posts, each with an
// Acknowledge button naming the incident, so it works outside the incident's
// channel) and a line in the incident's channel saying who was paged.
void escalation_effects(const Incident& after, const Escalated& page,
                        std::vector<Effect>& effects) {
  const std::string label = incident_label(after.id);
  std::string late;
  if (page.late && page.due) {
    // Late after a restart, or after the store or the clock held it up.
    late = "Late: this page was due at " + format_time(*page.due) + ".";
  }
  Message message;
  message.title = "Page: " + label + " · " + after.title;
  message.text = "*" + std::string(to_string(after.severity)) + "* · " +
                 std::string(to_string(after.status)) + " · declared by " +
                 name_of(after.declared_by) + ". You are paged by escalation policy " +
                 page.policy + ", step " + std::to_string(page.step) + ".";
  if (after.channel) {
    message.fields.push_back({"Channel", "#" + after.channel->name});
  }
  if (!after.area.empty()) {
    message.fields.push_back({"Area", after.area});
  }
  message.actions.push_back({"Acknowledge", "ack " + label, "primary"});
  message.context = late;
  for (const Actor& person : page.notified) {
    if (!person.id.empty()) {
      effects.emplace_back(PagePerson{after.id, page.instance, person.id, message});
    }
  }
  for (const ChannelRef& channel : page.channels) {
    Message post = message;
    post.text = "*" + std::string(to_string(after.severity)) + "* · " + label +
                " needs someone from this team. Escalation policy " + page.policy + ", step " +
                std::to_string(page.step) + ".";
    effects.emplace_back(PostMessage{channel, std::move(post), {}});
  }
  Message line;
  std::vector<Actor> reached;
  std::copy_if(page.notified.begin(), page.notified.end(), std::back_inserter(reached),
               [](const Actor& person) { return !person.id.empty(); });
  std::string paged = names_of(reached);
  for (const ChannelRef& channel : page.channels) {
    paged += (paged.empty() ? "#" : ", #") + channel.name;
  }
  line.context = "Escalation " + page.policy + " step " + std::to_string(page.step) +
                 (page.round > 0 ? " (repeat " + std::to_string(page.round) + ")" : "") + ": " +
                 (paged.empty() ? "nobody could be paged" : "paged " + paged) + ".";
  for (const std::string& why : page.unreachable) {
    line.context += " " + why + ".";
  }
  if (!late.empty()) {
    line.context += " " + late;
  }
  effects.emplace_back(PostToIncident{after.id, std::move(line)});
}

}  // namespace

std::vector<Effect> effects_of(const Incident& after, const std::vector<Event>& committed,
                               const IncidentSettings& settings, TimePoint now,
                               const Organization* organization) {
  std::vector<Effect> effects;
  bool refresh_global_card = false;
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
      effects.emplace_back(PostMessage{after.declared_in, std::move(announcement), {}});
      if (after.announcements) {
        effects.emplace_back(PublishGlobalCard{after.id, *after.announcements,
                                               global_card(after, settings, now), true});
      }
    } else if (std::holds_alternative<ChannelLinked>(event.payload)) {
      std::vector<std::string> users{after.declared_by.id};
      for (const auto& role : {after.lead, after.comms_lead}) {
        if (role && std::find(users.begin(), users.end(), role->id) == users.end()) {
          users.push_back(role->id);
        }
      }
      effects.emplace_back(InviteToIncident{after.id, std::move(users)});
      Message card = incident_card(after, settings, now);
      card.form = triage_form(after, organization).form;
      effects.emplace_back(PostToIncident{after.id, std::move(card)});
      refresh_global_card = true;
    } else if (const auto* guidance = std::get_if<BotGuidance>(&event.payload)) {
      Message message;
      message.title = guidance->topic == "triage" ? "First steps" : "Guidance";
      message.text = guidance->text;
      effects.emplace_back(PostToIncident{after.id, std::move(message)});
    } else if (const auto* summary = std::get_if<SummaryRecorded>(&event.payload)) {
      Message message;
      message.title = "Summary of " + incident_label(after.id) + " by " + name_of(event.actor);
      message.fields.push_back({"What happened", summary->summary.what_happened});
      message.fields.push_back({"Root cause", summary->summary.root_cause});
      message.fields.push_back({"Resolution", summary->summary.resolution});
      const Impact& impact = summary->summary.impact;
      if (impact.duration_minutes) {
        message.fields.push_back({"Duration", std::to_string(*impact.duration_minutes) + " min"});
      }
      if (impact.lines_affected) {
        message.fields.push_back({"Lines affected", std::to_string(*impact.lines_affected)});
      }
      if (impact.units_lost) {
        message.fields.push_back({"Units lost", std::to_string(*impact.units_lost)});
      }
      for (const auto& [label, value] : impact.other) {
        message.fields.push_back({label, value});
      }
      effects.emplace_back(PostToIncident{after.id, std::move(message)});
    } else if (const auto* follow_up = std::get_if<FollowUpChanged>(&event.payload)) {
      effects.emplace_back(
          PostToIncident{after.id, follow_up_message(after, *follow_up, event.actor, now)});
    } else if (const auto* page = std::get_if<Escalated>(&event.payload)) {
      escalation_effects(after, *page, effects);
    } else if (const auto* started = std::get_if<EscalationStarted>(&event.payload)) {
      Message message;
      message.context =
          "Escalation policy " + started->policy + ": " + std::to_string(started->steps.size()) +
          (started->steps.size() == 1 ? " step" : " steps") + " planned; acknowledge to stop it.";
      effects.emplace_back(PostToIncident{after.id, std::move(message)});
    } else if (const auto* stopped = std::get_if<EscalationStopped>(&event.payload)) {
      if (stopped->cancelled > 0) {
        Message message;
        message.context = "Escalation " + stopped->policy + " stopped (" + stopped->reason +
                          "): " + std::to_string(stopped->cancelled) +
                          (stopped->cancelled == 1 ? " step" : " steps") + " cancelled.";
        effects.emplace_back(PostToIncident{after.id, std::move(message)});
      }
    } else if (const auto* nudge = std::get_if<Nudged>(&event.payload)) {
      Message message;
      message.title = (after.lead ? mention_of(*after.lead) + ": no" : "No") + " update on " +
                      incident_label(after.id) + " for " +
                      format_duration(minutes(nudge->quiet_minutes));
      message.text =
          "Post a status or a note so everyone knows where things stand: `/incident note …` or "
          "`/incident status …`.";
      if (!after.lead) {
        message.text += " Nobody leads this incident yet: `/incident lead me`.";
      }
      effects.emplace_back(PostToIncident{after.id, std::move(message)});
    } else if (const auto* breach = std::get_if<SlaBreached>(&event.payload)) {
      Message message;
      message.title = (after.lead ? mention_of(*after.lead) + ": " : std::string()) +
                      incident_label(after.id) + " missed its " +
                      std::string(to_string(after.severity)) + " target to " + breach->target +
                      " within " + format_duration(minutes(breach->target_minutes));
      effects.emplace_back(PostToIncident{after.id, std::move(message)});
    } else if (const std::string change = change_line(event); !change.empty()) {
      // A new lead or comms lead joins the channel (inviting a member is a no-op).
      const auto* lead = std::get_if<LeadAssigned>(&event.payload);
      const auto* comms = std::get_if<CommsLeadAssigned>(&event.payload);
      if ((lead != nullptr || comms != nullptr) && after.channel) {
        effects.emplace_back(
            InviteToIncident{after.id, {lead != nullptr ? lead->lead.id : comms->comms_lead.id}});
      }
      Message card = incident_card(after, settings, now);
      card.context = change + " by " + name_of(event.actor);
      if (std::holds_alternative<Closed>(event.payload)) {
        card = Message{};
        card.title = incident_label(after.id) + " is CLOSED";
        card.text = "Closed by " + name_of(event.actor) +
                    ". Add follow-ups for the work that remains; owners are reminded until "
                    "they are done.";
        card.form = follow_up_form(after).form;
        card.actions.push_back({"List follow-ups", "followup list", ""});
      }
      effects.emplace_back(PostToIncident{after.id, std::move(card)});
    }
    // MessagePosted, Annotation, ActionTaken, AttachmentAdded: people already see them.
    if (changes_global_card(event)) {
      refresh_global_card = true;
    }
  }
  if (refresh_global_card && after.announcements) {
    effects.emplace_back(PublishGlobalCard{after.id, *after.announcements,
                                           global_card(after, settings, now), false});
  }
  return effects;
}

std::vector<EventPayload> due_events(const Incident& incident, const IncidentSettings& settings,
                                     TimePoint now) {
  std::vector<EventPayload> due;
  if (!incident.exists()) {
    return due;
  }
  if (incident.open()) {
    const minutes quiet_limit = settings.nudge_for(incident.severity);
    TimePoint quiet_since = incident.last_update_at;
    if (incident.last_nudge_at && *incident.last_nudge_at > quiet_since) {
      quiet_since = *incident.last_nudge_at;
    }
    if (now - quiet_since >= quiet_limit) {
      due.emplace_back(
          Nudged{std::chrono::duration_cast<minutes>(now - incident.last_update_at).count()});
    }
    const SlaTarget& target = settings.sla_for(incident.severity);
    if (!incident.acknowledged_at && !incident.acknowledge_sla_breached &&
        now - incident.declared_at >= target.acknowledge) {
      due.emplace_back(SlaBreached{"acknowledge", target.acknowledge.count()});
    }
  }
  const SlaTarget& target = settings.sla_for(incident.severity);
  if (incident.status != Status::closed && !incident.resolved_at &&
      !incident.resolve_sla_breached && now - incident.declared_at >= target.resolve) {
    due.emplace_back(SlaBreached{"resolve", target.resolve.count()});
  }
  for (const FollowUp& item : incident.follow_ups) {
    if (item.status == FollowUpStatus::done || !item.due) {
      continue;
    }
    std::string reminder;
    if (now >= *item.due) {
      if (item.last_reminder != "due" && item.last_reminder != "overdue") {
        reminder = "due";
      } else if (item.last_reminder_at &&
                 now - *item.last_reminder_at >= settings.overdue_reminder_every) {
        reminder = "overdue";
      }
    } else if (now >= *item.due - settings.follow_up_reminder_before &&
               item.last_reminder.empty()) {
      reminder = "before";
    }
    if (!reminder.empty()) {
      FollowUpChanged change;
      change.change = FollowUpChanged::Change::reminded;
      change.number = item.number;
      change.reminder = reminder;
      due.emplace_back(std::move(change));
    }
  }
  return due;
}

std::string incident_channel_name(IncidentId id, std::string_view title, int attempt) {
  const std::string prefix = "inc-" + std::to_string(id);
  const std::string suffix = attempt > 1 ? "-" + std::to_string(attempt) : "";
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
  if (slug.empty() || prefix.size() + suffix.size() + 1 >= kMaxChannelName) {
    return prefix + suffix;
  }
  const std::size_t room = kMaxChannelName - prefix.size() - suffix.size() - 1;
  if (slug.size() > room) {
    slug.resize(room);
    while (!slug.empty() && slug.back() == '-') {
      slug.pop_back();
    }
  }
  return (slug.empty() ? prefix : prefix + "-" + slug) + suffix;
}

Message incident_card(const Incident& incident, const IncidentSettings& settings, TimePoint now) {
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
  if (const std::string places = places_of(incident); !places.empty()) {
    card.fields.push_back({"Where", places});
  }
  card.fields.push_back({"Declared by", name_of(incident.declared_by)});
  card.fields.push_back({"Declared at", format_time(incident.declared_at)});
  if (incident.channel) {
    card.fields.push_back({"Channel", "#" + incident.channel->name});
  }
  add_metric_fields(card, incident, settings, now);
  if (incident.status != Status::closed) {
    card.fields.push_back({"In " + title_case(to_string(incident.status)) + " for",
                           format_duration(now > incident.status_since ? now - incident.status_since
                                                                       : milliseconds(0))});
  }
  if (!incident.follow_ups.empty()) {
    const auto open =
        std::count_if(incident.follow_ups.begin(), incident.follow_ups.end(),
                      [](const FollowUp& f) { return f.status != FollowUpStatus::done; });
    card.fields.push_back({"Follow-ups", std::to_string(open) + " open of " +
                                             std::to_string(incident.follow_ups.size())});
  }
  // A closed incident refuses acknowledgement, so it offers no button for it.
  if (!incident.acknowledged_at && incident.status != Status::closed) {
    card.actions.push_back({"Acknowledge", "ack", "primary"});
  }
  for (const Status next : allowed_transitions(incident.status)) {
    if (next == Status::resolved) {
      card.actions.push_back({"Resolve…", "resolve", ""});
    } else if (next == Status::closed) {
      card.actions.push_back({"Close", "close", "danger"});
    } else {
      card.actions.push_back(
          {title_case(to_string(next)), "status " + wording::lower_ascii(to_string(next)), ""});
    }
  }
  card.context = "Haveri · updated " + format_time(incident.updated_at);
  return card;
}

Message global_card(const Incident& incident, const IncidentSettings& settings, TimePoint now) {
  Message card;
  card.title = incident_label(incident.id) + " · " + std::string(to_string(incident.severity)) +
               " · " + incident.title;
  card.fields.push_back({"Status", std::string(to_string(incident.status))});
  card.fields.push_back({"Lead", incident.lead ? name_of(*incident.lead) : kNobody});
  card.fields.push_back({"Comms", incident.comms_lead ? name_of(*incident.comms_lead) : kNobody});
  if (const std::string places = places_of(incident); !places.empty()) {
    card.fields.push_back({"Where", places});
  }
  card.fields.push_back(
      {"Channel", incident.channel ? "#" + incident.channel->name : std::string("being created")});
  add_metric_fields(card, incident, settings, now);
  card.context = "Declared by " + name_of(incident.declared_by) + " at " +
                 format_time(incident.declared_at) + " · updated " +
                 format_time(incident.updated_at);
  return card;
}

namespace {

FormInput text_input(std::string name, std::string label, bool required, std::size_t max_length,
                     FormInput::Kind kind = FormInput::Kind::text) {
  FormInput input;
  input.name = std::move(name);
  input.label = std::move(label);
  input.kind = kind;
  input.required = required;
  input.max_length = max_length;
  return input;
}

FormInput area_input(const Organization* organization, std::string initial) {
  FormInput input = text_input("area", "Area", false, 64);
  input.initial = std::move(initial);
  if (organization != nullptr && !organization->areas.empty()) {
    input.kind = FormInput::Kind::select;
    for (const Area& area : organization->areas) {
      input.options.push_back({area.id, area.name.empty() ? area.id : area.name});
    }
  }
  return input;
}

}  // namespace

Message declare_form(const DeclareCommand& prefill, const Organization* organization) {
  Message message;
  message.title = "Declare an incident";
  message.text = "Tell us what is wrong; the incident channel opens as soon as you submit.";
  Form form;
  form.id = "declare";
  form.title = "Declare an incident";
  form.submit_label = "Declare";
  FormInput title = text_input("title", "Title", true, kMaxTitleCodePoints);
  title.initial = prefill.title;
  title.placeholder = "Conveyor 4 jammed";
  form.inputs.push_back(std::move(title));
  FormInput severity = text_input("severity", "Severity", true, 4, FormInput::Kind::select);
  severity.options = {
      {"sev1", "SEV1 — line down"}, {"sev2", "SEV2 — degraded"}, {"sev3", "SEV3 — minor"}};
  if (prefill.severity) {
    severity.initial = wording::lower_ascii(to_string(*prefill.severity));
  }
  form.inputs.push_back(std::move(severity));
  form.inputs.push_back(area_input(organization, prefill.area));
  FormInput assets = text_input("assets", "Assets (comma separated)", false, 512);
  assets.initial = join(prefill.assets, ",");
  form.inputs.push_back(std::move(assets));
  message.form = std::move(form);
  return message;
}

// A summary text input's limit in characters: even four-byte characters then stay
// within kMaxSummaryFieldBytes (platforms' text inputs stop near 3000 anyway).
constexpr std::size_t kSummaryFieldCharacters = kMaxSummaryFieldBytes / 4;

Message resolve_form(const Incident& incident) {
  Message message;
  message.title = "Resolve " + incident_label(incident.id);
  message.text = "Write the summary; submitting it resolves the incident.";
  Form form;
  form.id = "resolve:" + std::to_string(incident.id);
  form.title = "Resolve " + incident_label(incident.id);
  form.submit_label = "Resolve";
  const auto prefilled = [&](FormInput input, const std::string& initial) {
    input.initial = initial;
    return input;
  };
  const Summary empty;
  const Summary& current = incident.summary ? *incident.summary : empty;
  form.inputs.push_back(prefilled(text_input("what_happened", "What happened", true,
                                             kSummaryFieldCharacters, FormInput::Kind::multiline),
                                  current.what_happened));
  form.inputs.push_back(prefilled(text_input("root_cause", "Root cause", true,
                                             kSummaryFieldCharacters, FormInput::Kind::multiline),
                                  current.root_cause));
  form.inputs.push_back(prefilled(text_input("resolution", "Resolution", true,
                                             kSummaryFieldCharacters, FormInput::Kind::multiline),
                                  current.resolution));
  const auto number = [&](const char* name, const char* label, std::optional<std::int64_t> value) {
    return prefilled(text_input(name, label, false, 9, FormInput::Kind::number),
                     value ? std::to_string(*value) : "");
  };
  std::optional<std::int64_t> duration = current.impact.duration_minutes;
  if (!duration) {
    duration =
        std::chrono::duration_cast<minutes>(incident.updated_at - incident.declared_at).count();
  }
  form.inputs.push_back(number("duration_minutes", "Impact: duration (minutes)", duration));
  form.inputs.push_back(
      number("lines_affected", "Impact: lines affected", current.impact.lines_affected));
  form.inputs.push_back(number("units_lost", "Impact: units lost", current.impact.units_lost));
  FormInput other = text_input("other_impact", "Other impact (one \"label: value\" per line)",
                               false, kSummaryFieldCharacters, FormInput::Kind::multiline);
  std::string lines;
  for (const auto& [label, value] : current.impact.other) {
    lines += label + ": " + value + "\n";
  }
  other.initial = lines;
  form.inputs.push_back(std::move(other));
  message.form = std::move(form);
  return message;
}

Message triage_form(const Incident& incident, const Organization* organization) {
  Message message;
  Form form;
  form.id = "triage:" + std::to_string(incident.id);
  form.title = "Triage " + incident_label(incident.id);
  form.submit_label = "Record triage";
  FormInput stopped =
      text_input("line_stopped", "Is a line stopped?", false, 16, FormInput::Kind::select);
  stopped.options = {{"yes", "Yes"}, {"no", "No"}, {"unknown", "Not known yet"}};
  form.inputs.push_back(std::move(stopped));
  FormInput safety =
      text_input("safety_risk", "Is anyone at risk?", false, 16, FormInput::Kind::select);
  safety.options = {{"yes", "Yes"}, {"no", "No"}, {"unknown", "Not known yet"}};
  form.inputs.push_back(std::move(safety));
  form.inputs.push_back(area_input(organization, incident.area));
  FormInput assets = text_input("assets", "Assets (comma separated)", false, 512);
  assets.initial = join(incident.assets, ",");
  form.inputs.push_back(std::move(assets));
  form.inputs.push_back(
      text_input("impact", "What is the impact?", false, 4000, FormInput::Kind::multiline));
  message.title = "Triage " + incident_label(incident.id);
  message.form = std::move(form);
  return message;
}

Message follow_up_form(const Incident& incident) {
  Message message;
  message.title = "Add a follow-up to " + incident_label(incident.id);
  Form form;
  form.id = "followup:" + std::to_string(incident.id);
  form.title = "Add a follow-up";
  form.submit_label = "Add";
  form.inputs.push_back(text_input("description", "What must be done", true, kMaxNoteCodePoints,
                                   FormInput::Kind::multiline));
  form.inputs.push_back(text_input("assignee", "Owner (@name)", false, 200, FormInput::Kind::user));
  FormInput due = text_input("due", "Due (+3d, 2026-12-01, 2026-12-01T14:30)", false, 32,
                             FormInput::Kind::date);
  form.inputs.push_back(std::move(due));
  message.form = std::move(form);
  return message;
}

Message timeline_reply(const Incident& incident, const std::vector<Event>& events,
                       std::size_t count) {
  Message message;
  message.title = "Timeline of " + incident_label(incident.id) + " · " + incident.title;
  const std::size_t first = events.size() > count ? events.size() - count : 0;
  std::string text;
  for (std::size_t i = first; i < events.size(); ++i) {
    const Event& event = events[i];
    std::string line = format_time(event.at).substr(11, 5) + " " + name_of(event.actor) + " · " +
                       std::string(to_string(event.type()));
    std::visit(
        [&line](const auto& payload) {
          using Payload = std::decay_t<decltype(payload)>;
          if constexpr (std::is_same_v<Payload, MessagePosted> ||
                        std::is_same_v<Payload, Annotation> ||
                        std::is_same_v<Payload, ActionTaken>) {
            line += ": " + wording::cut_utf8(payload.text, 200);
          } else if constexpr (std::is_same_v<Payload, StatusChanged> ||
                               std::is_same_v<Payload, SeverityChanged>) {
            line += ": " + std::string(to_string(payload.from)) + " → " +
                    std::string(to_string(payload.to));
          } else if constexpr (std::is_same_v<Payload, Declared>) {
            line += ": " + payload.title + " (" + std::string(to_string(payload.severity)) + ")";
          } else if constexpr (std::is_same_v<Payload, LeadAssigned>) {
            line += ": " + name_of(payload.lead);
          } else if constexpr (std::is_same_v<Payload, CommsLeadAssigned>) {
            line += ": " + name_of(payload.comms_lead);
          } else if constexpr (std::is_same_v<Payload, AttachmentAdded>) {
            line += ": " + payload.name;
          } else if constexpr (std::is_same_v<Payload, FollowUpChanged>) {
            line += ": #" + std::to_string(payload.number) + " " +
                    std::string(to_string(payload.change));
          }
        },
        event.payload);
    text += line + "\n";
  }
  if (first > 0) {
    message.context = "The latest " + std::to_string(events.size() - first) + " of " +
                      std::to_string(events.size()) + " entries.";
  }
  if (!text.empty()) {
    text.pop_back();
  }
  message.text = std::move(text);
  return message;
}

Message incident_list_reply(const std::vector<Incident>& incidents, bool include_closed,
                            TimePoint now) {
  Message message;
  message.title = include_closed ? "All incidents" : "Open incidents";
  std::string text;
  std::size_t shown = 0;
  for (const Incident& incident : incidents) {
    if (!include_closed && !incident.open()) {
      continue;
    }
    if (++shown > 50) {
      message.context = "Showing the newest 50.";
      break;
    }
    text += incident_label(incident.id) + " · " + std::string(to_string(incident.severity)) +
            " · " + std::string(to_string(incident.status)) + " · " + incident.title;
    if (incident.channel) {
      text += " · #" + incident.channel->name;
    }
    if (incident.open()) {
      text += " · open " + format_duration(now - incident.declared_at);
      if (incident.acknowledge_sla_breached || incident.resolve_sla_breached) {
        text += " · SLA missed";
      }
    }
    text += "\n";
  }
  if (text.empty()) {
    text = include_closed ? "No incidents yet." : "No open incidents.";
  } else {
    text.pop_back();
  }
  message.text = std::move(text);
  return message;
}

Message search_reply(std::string_view query, const std::vector<SearchHit>& hits) {
  Message message;
  message.title = "Search: " + wording::cut_utf8(std::string(query), 80);
  std::string text;
  for (const SearchHit& hit : hits) {
    text += incident_label(hit.incident) + " · " + std::string(to_string(hit.severity)) + " · " +
            std::string(to_string(hit.status)) + " · " + hit.title;
    if (hit.channel) {
      text += " · #" + hit.channel->name;
    }
    text += "\n> " + (hit.field.empty() ? std::string() : hit.field + ": ") + hit.snippet + "\n";
  }
  if (text.empty()) {
    text =
        "Nothing matches. Fewer or shorter words (or pump* for words starting with pump) "
        "find more.";
  } else {
    text.pop_back();
  }
  message.text = std::move(text);
  return message;
}

Message follow_up_list_reply(std::string_view heading, const std::vector<FollowUpListing>& items,
                             TimePoint now) {
  Message message;
  message.title = std::string(heading);
  std::string text;
  for (const FollowUpListing& item : items) {
    text += incident_label(item.incident) + " " + follow_up_line(item.follow_up, now) + "\n";
  }
  if (text.empty()) {
    text = "No follow-ups.";
  } else {
    text.pop_back();
  }
  message.text = std::move(text);
  return message;
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

std::string format_duration(milliseconds duration) {
  if (duration < milliseconds(0)) {
    duration = milliseconds(0);
  }
  const auto total_minutes = std::chrono::duration_cast<minutes>(duration).count();
  if (total_minutes < 60) {
    return std::to_string(total_minutes) + " min";
  }
  const auto hours = total_minutes / 60;
  const auto rest = total_minutes % 60;
  if (hours < 24) {
    return std::to_string(hours) + " h" +
           (rest ? " " + std::string(rest < 10 ? "0" : "") + std::to_string(rest) + " min" : "");
  }
  const auto days = hours / 24;
  const auto rest_hours = hours % 24;
  return std::to_string(days) + " d" + (rest_hours ? " " + std::to_string(rest_hours) + " h" : "");
}

}  // namespace haveri::core
