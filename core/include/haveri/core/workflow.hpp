#pragma once

#include <string>
#include <variant>
#include <vector>

#include <haveri/core/commands.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/messages.hpp>

namespace haveri::core {

// What a command turns into: events to append (may be empty) and a reply to
// show where the command was typed.
struct Decision {
  std::vector<EventPayload> events;
  std::optional<Message> reply;
};

// Decides a command against the incident it concerns. Pure: no I/O, time passed in.
//   incident - the incident of the channel the command came from, or nullptr when
//              the channel is not an incident channel.
//   channel  - where the command was typed.
//   caller   - who typed it ("lead me" names them).
// Returns a refusal (ErrorCode::refused) with a reply text when the command does
// not apply, e.g. a status change outside an incident channel, a transition the
// status machine does not allow, a value the incident already has, a second
// acknowledgement, or any change to a CLOSED incident.
Result<Decision> decide(const Incident* incident, const Command& command, const ChannelRef& channel,
                        const Actor& caller);

// Outbound work that follows from committed events, done through a plugin.
struct CreateIncidentChannel {
  IncidentId incident = 0;
  std::string instance;
  std::string name;  // inc-<n>-<slug>
  std::string topic;
};
struct PostMessage {
  ChannelRef channel;
  Message message;
};
using Effect = std::variant<CreateIncidentChannel, PostMessage>;

// The effects of events just committed, given the state after them.
std::vector<Effect> effects_of(const Incident& after, const std::vector<Event>& committed);

// inc-<n>-<slug of title>: lower-case ASCII letters, digits and single dashes,
// at most 80 characters (Slack's limit, the strictest platform).
std::string incident_channel_name(IncidentId id, std::string_view title);

// The card that shows an incident's current state: status, severity, lead, comms
// lead, acknowledgement; buttons for the allowed status moves and, while nobody has
// acknowledged an open incident, "Acknowledge".
Message incident_card(const Incident& incident);

// A reply for a command that failed to parse or was refused.
Message error_reply(const CommandError& error);
Message refusal_reply(const Error& error);

}  // namespace haveri::core
