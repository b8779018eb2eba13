#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <haveri/core/commands.hpp>
#include <haveri/core/directory.hpp>
#include <haveri/core/event_store.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/messages.hpp>
#include <haveri/core/settings.hpp>

namespace haveri::core {

// Everything decide() needs besides the incident and the command.
struct DecisionContext {
  ChannelRef channel;  // where the command was typed
  Actor caller;        // who typed it ("lead me" names them)
  TimePoint now{};
  const Organization* organization = nullptr;  // the caller's; nullptr: checks skipped
};

// What a command turns into: events to append (may be empty) and a reply to
// show where the command was typed.
struct Decision {
  std::vector<EventPayload> events;
  std::optional<Message> reply;
  bool reply_privately = false;  // only the caller should see the reply (forms, errors)
};

// Decides a command against the incident it concerns. Pure: no I/O, time passed in.
//   incident - the incident of the channel the command came from (or the one a form
//              names), or nullptr when there is none.
// Mentions in the command must already be resolved to members by the caller.
// Returns a refusal (ErrorCode::refused) whose message says why and what is
// allowed: a change outside an incident channel, a transition the status machine
// does not allow, a value the incident already has, a second acknowledgement, a
// change to a CLOSED incident (follow-ups excepted), closing without a summary, an
// area or asset the organization does not have. `timeline`, `list` and follow-up
// lists outside an incident are queries the caller answers from the store
// (ErrorCode::invalid_argument here).
Result<Decision> decide(const Incident* incident, const Command& command,
                        const DecisionContext& context);

// Outbound work that follows from committed events, carried out through a plugin.
struct CreateIncidentChannel {
  IncidentId incident = 0;
  std::string instance;
  std::string name;  // inc-<n>-<slug>
  std::string topic;
};
// Posts into the incident's own channel (its declaring channel until it has one).
struct PostToIncident {
  IncidentId incident = 0;
  Message message;
};
// Posts into a known channel.
struct PostMessage {
  ChannelRef channel;
  Message message;
  std::string visible_to;  // a user id: only they see it; empty: everyone
};
// Invites people (platform user ids) into the incident's channel.
struct InviteToIncident {
  IncidentId incident = 0;
  std::vector<std::string> users;
};
// Posts the global summary card, or edits it in place once it was posted.
struct PublishGlobalCard {
  IncidentId incident = 0;
  ChannelRef channel;  // the announcements channel
  Message card;
  bool first = false;  // true: post it; false: edit the posted one
};
// Pages a person: a personal message with an Acknowledge button (notify_person).
struct PagePerson {
  IncidentId incident = 0;
  std::string instance;
  std::string user;  // the platform's user id
  Message message;
};
using Effect = std::variant<CreateIncidentChannel, PostToIncident, PostMessage, InviteToIncident,
                            PublishGlobalCard, PagePerson>;

// The effects of events just committed, given the state after them. `organization`
// (may be null) offers its areas in the triage form.
std::vector<Effect> effects_of(const Incident& after, const std::vector<Event>& committed,
                               const IncidentSettings& settings, TimePoint now,
                               const Organization* organization = nullptr);

// Events the passing of time calls for at `now`: a "no update" nudge, SLA breaches
// (once per target), follow-up reminders (before, at and after the due date).
// Pure; an empty result when nothing is due.
std::vector<EventPayload> due_events(const Incident& incident, const IncidentSettings& settings,
                                     TimePoint now);

// inc-<n>-<slug of title>: lower-case ASCII letters, digits and single dashes,
// at most 80 characters (Slack's limit, the strictest platform). `attempt` > 1
// appends "-<attempt>" (the platform said the name was taken).
std::string incident_channel_name(IncidentId id, std::string_view title, int attempt = 1);

// The card that shows an incident's current state in its channel: status,
// severity, roles, acknowledgement, area and assets, time to acknowledge /
// mitigate / resolve against the SLA, follow-ups; buttons for the allowed moves.
Message incident_card(const Incident& incident, const IncidentSettings& settings, TimePoint now);
// The compact card in the announcements channel, edited in place.
Message global_card(const Incident& incident, const IncidentSettings& settings, TimePoint now);

// Forms. `prefill` carries what the user already typed.
Message declare_form(const DeclareCommand& prefill, const Organization* organization);
Message resolve_form(const Incident& incident);
Message triage_form(const Incident& incident, const Organization* organization);
Message follow_up_form(const Incident& incident);

// Replies to queries.
Message timeline_reply(const Incident& incident, const std::vector<Event>& events,
                       std::size_t count);
Message incident_list_reply(const std::vector<Incident>& incidents, bool include_closed,
                            TimePoint now);
Message follow_up_list_reply(std::string_view heading, const std::vector<FollowUpListing>& items,
                             TimePoint now);
// Best matches first: label, severity, status, title, channel, and the passage.
Message search_reply(std::string_view query, const std::vector<SearchHit>& hits);

// A reply for a command that failed to parse or was refused.
Message error_reply(const CommandError& error);
Message refusal_reply(const Error& error);

// "12 min", "3 h 05 min", "2 d 4 h".
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace haveri::core
