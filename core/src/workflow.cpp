#include <type_traits>

#include <haveri/core/workflow.hpp>

#include "wording.hpp"

namespace haveri::core {

namespace {

constexpr std::size_t kMaxChannelName = 80;

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

Result<Decision> decide_status(const Incident* incident, const StatusCommand& command,
                               const ChannelRef& channel) {
  if (incident == nullptr || !incident->exists()) {
    const std::string where = channel.name.empty() ? "this channel" : "#" + channel.name;
    return Error{ErrorCode::refused,
                 "`/incident status` works only in an incident channel; " + where + " is not one."};
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

}  // namespace

Result<Decision> decide(const Incident* incident, const Command& command,
                        const ChannelRef& channel) {
  return std::visit(
      [&](const auto& cmd) -> Result<Decision> {
        using Cmd = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<Cmd, DeclareCommand>) {
          return Decision{{Declared{cmd.title, cmd.severity.value_or(Severity::sev3), channel}},
                          std::nullopt};
        } else if constexpr (std::is_same_v<Cmd, StatusCommand>) {
          return decide_status(incident, cmd, channel);
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
    } else if (const auto* changed = std::get_if<StatusChanged>(&event.payload)) {
      Message card = incident_card(after);
      card.context = "Status changed from " + std::string(to_string(changed->from)) + " to " +
                     std::string(to_string(changed->to)) + " by " + name_of(event.actor);
      effects.emplace_back(PostMessage{after.channel.value_or(after.declared_in), std::move(card)});
    }
    // MessagePosted: people already see what they wrote; nothing to do.
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
  card.fields.push_back({"Declared by", name_of(incident.declared_by)});
  card.fields.push_back({"Declared at", format_time(incident.declared_at)});
  if (incident.channel) {
    card.fields.push_back({"Channel", "#" + incident.channel->name});
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
