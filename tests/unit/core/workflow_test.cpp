#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/workflow.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

const ChannelRef kGeneral{"local", "C001", "general"};
const ChannelRef kIncidentChannel{"local", "C042", "inc-7-line-3-down"};
const Actor kAna{"U1", "Ana"};
const Actor kBo{"U2", "Bo"};

constexpr std::array kAllStatuses = {Status::declared, Status::investigating, Status::mitigated,
                                     Status::resolved, Status::closed};

TimePoint minute(int n) {
  return TimePoint{std::chrono::minutes{n}};
}

Incident incident_in(Status status, bool linked = true) {
  Incident incident;
  incident.id = 7;
  incident.last_sequence = 4;
  incident.title = "Line 3 down";
  incident.status = status;
  incident.severity = Severity::sev1;
  incident.declared_by = kAna;
  incident.declared_at = minute(0);
  incident.updated_at = minute(10);
  incident.declared_in = kGeneral;
  if (linked) {
    incident.channel = kIncidentChannel;
  }
  return incident;
}

bool allowed(Status from, Status to) {
  for (const Status next : allowed_transitions(from)) {
    if (next == to) {
      return true;
    }
  }
  return false;
}

TEST(DecideDeclare, OutsideAnIncidentChannel) {
  const auto decision =
      decide(nullptr, DeclareCommand{"Line 3 down", Severity::sev1}, kGeneral, kAna);
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0], (EventPayload{Declared{"Line 3 down", Severity::sev1, kGeneral}}));
  EXPECT_EQ(decision->reply, std::nullopt);
}

TEST(DecideDeclare, DefaultsToSev3AndWorksInsideAnIncidentChannelToo) {
  const Incident current = incident_in(Status::investigating);
  const auto decision =
      decide(&current, DeclareCommand{"Second problem", std::nullopt}, kIncidentChannel, kAna);
  ASSERT_TRUE(decision.ok());
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0],
            (EventPayload{Declared{"Second problem", Severity::sev3, kIncidentChannel}}));
}

TEST(DecideStatus, RefusedOutsideAnIncidentChannel) {
  const auto decision = decide(nullptr, StatusCommand{Status::resolved}, kGeneral, kAna);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "`/incident status` works only in an incident channel; #general is not one.");
}

TEST(DecideStatus, EveryPairOfStatuses) {
  for (const Status from : kAllStatuses) {
    const Incident current = incident_in(from);
    for (const Status to : kAllStatuses) {
      const auto decision = decide(&current, StatusCommand{to}, kIncidentChannel, kAna);
      const std::string pair = std::string(to_string(from)) + "→" + std::string(to_string(to));
      if (allowed(from, to)) {
        ASSERT_TRUE(decision.ok()) << pair << ": " << decision.error().message;
        ASSERT_EQ(decision->events.size(), 1U) << pair;
        EXPECT_EQ(decision->events[0], (EventPayload{StatusChanged{from, to}})) << pair;
      } else {
        ASSERT_FALSE(decision.ok()) << pair;
        EXPECT_EQ(decision.error().code, ErrorCode::refused) << pair;
        EXPECT_FALSE(decision.error().message.empty()) << pair;
      }
    }
  }
}

TEST(DecideStatus, SameStatusIsRefusedPlainly) {
  const Incident current = incident_in(Status::mitigated);
  const auto decision = decide(&current, StatusCommand{Status::mitigated}, kIncidentChannel, kAna);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().message, "INC-7 is already MITIGATED.");
}

TEST(DecideStatus, DisallowedTransitionListsTheAllowedOnes) {
  const Incident declared = incident_in(Status::declared);
  EXPECT_EQ(
      decide(&declared, StatusCommand{Status::closed}, kIncidentChannel, kAna).error().message,
      "INC-7 is DECLARED; it can move to INVESTIGATING, MITIGATED or RESOLVED.");
  const Incident investigating = incident_in(Status::investigating);
  EXPECT_EQ(decide(&investigating, StatusCommand{Status::declared}, kIncidentChannel, kAna)
                .error()
                .message,
            "INC-7 is INVESTIGATING; it can move to MITIGATED or RESOLVED.");
  const Incident resolved = incident_in(Status::resolved);
  EXPECT_EQ(
      decide(&resolved, StatusCommand{Status::mitigated}, kIncidentChannel, kAna).error().message,
      "INC-7 is RESOLVED; it can move to CLOSED or INVESTIGATING.");
}

TEST(DecideStatus, ClosedIsFinal) {
  const Incident closed = incident_in(Status::closed);
  for (const Status to :
       {Status::declared, Status::investigating, Status::mitigated, Status::resolved}) {
    const auto decision = decide(&closed, StatusCommand{to}, kIncidentChannel, kAna);
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().message, "INC-7 is CLOSED; a closed incident cannot change status.");
  }
}

TEST(DecideHelp, RepliesWithoutEvents) {
  const auto overview = decide(nullptr, HelpCommand{}, kGeneral, kAna);
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->events.empty());
  ASSERT_TRUE(overview->reply.has_value());
  EXPECT_EQ(overview->reply->title, "Haveri commands");
  EXPECT_EQ(overview->reply->text, command_help(""));

  const Incident current = incident_in(Status::declared);
  const auto topic = decide(&current, HelpCommand{"status"}, kIncidentChannel, kAna);
  ASSERT_TRUE(topic.ok());
  EXPECT_TRUE(topic->events.empty());
  ASSERT_TRUE(topic->reply.has_value());
  EXPECT_EQ(topic->reply->title, "Help: status");
  EXPECT_EQ(topic->reply->text, command_help("status"));
}

TEST(EffectsOf, DeclaredCreatesTheChannelAndAnnouncesIt) {
  Incident after = incident_in(Status::declared, false);
  after.last_sequence = 1;
  const std::vector<Event> committed = {
      Event{7, 1, minute(0), kAna, Declared{"Line 3 down", Severity::sev1, kGeneral}}};
  const auto effects = effects_of(after, committed);
  ASSERT_EQ(effects.size(), 2U);
  const auto& create = std::get<CreateIncidentChannel>(effects[0]);
  EXPECT_EQ(create.incident, 7);
  EXPECT_EQ(create.instance, "local");
  EXPECT_EQ(create.name, "inc-7-line-3-down");
  EXPECT_EQ(create.topic, "SEV1 · Line 3 down");
  const auto& post = std::get<PostMessage>(effects[1]);
  EXPECT_EQ(post.channel, kGeneral);
  EXPECT_EQ(post.message.title, "INC-7 declared: Line 3 down");
  EXPECT_EQ(post.message.text,
            "SEV1 · declared by Ana. Opening the incident channel #inc-7-line-3-down…");
}

TEST(EffectsOf, ChannelLinkedPostsTheCardInTheNewChannel) {
  const Incident after = incident_in(Status::declared);
  const auto effects =
      effects_of(after, {Event{7, 2, minute(1), Actor::system(), ChannelLinked{kIncidentChannel}}});
  ASSERT_EQ(effects.size(), 1U);
  const auto& post = std::get<PostMessage>(effects[0]);
  EXPECT_EQ(post.channel, kIncidentChannel);
  EXPECT_EQ(post.message, incident_card(after));
}

TEST(EffectsOf, StatusChangePostsACardWithWhoChangedIt) {
  const Incident after = incident_in(Status::investigating);
  const auto effects = effects_of(
      after,
      {Event{7, 5, minute(10), kBo, StatusChanged{Status::declared, Status::investigating}}});
  ASSERT_EQ(effects.size(), 1U);
  const auto& post = std::get<PostMessage>(effects[0]);
  EXPECT_EQ(post.channel, kIncidentChannel);
  EXPECT_EQ(post.message.title, "INC-7 · Line 3 down");
  EXPECT_EQ(post.message.context, "Status changed from DECLARED to INVESTIGATING by Bo");
  EXPECT_EQ(post.message.fields, incident_card(after).fields);
}

TEST(EffectsOf, StatusChangeWithoutAChannelGoesWhereItWasDeclared) {
  const Incident after = incident_in(Status::resolved, false);
  const auto effects = effects_of(
      after, {Event{7, 5, minute(10), kBo, StatusChanged{Status::declared, Status::resolved}}});
  ASSERT_EQ(effects.size(), 1U);
  EXPECT_EQ(std::get<PostMessage>(effects[0]).channel, kGeneral);
}

TEST(EffectsOf, MessagesCauseNothing) {
  const Incident after = incident_in(Status::investigating);
  EXPECT_TRUE(
      effects_of(after, {Event{7, 6, minute(11), kAna, MessagePosted{"hi", kIncidentChannel, ""}}})
          .empty());
  EXPECT_TRUE(effects_of(after, {}).empty());
}

TEST(EffectsOf, SeveralEventsInCommitOrder) {
  const Incident after = incident_in(Status::mitigated);
  const std::vector<Event> committed = {
      Event{7, 5, minute(10), kBo, MessagePosted{"fuse replaced", kIncidentChannel, ""}},
      Event{7, 6, minute(11), kBo, StatusChanged{Status::investigating, Status::mitigated}},
      Event{7, 7, minute(12), Actor::system(), ChannelLinked{kIncidentChannel}},
  };
  const auto effects = effects_of(after, committed);
  ASSERT_EQ(effects.size(), 2U);
  EXPECT_EQ(std::get<PostMessage>(effects[0]).message.context,
            "Status changed from INVESTIGATING to MITIGATED by Bo");
  EXPECT_EQ(std::get<PostMessage>(effects[1]).message, incident_card(after));
}

TEST(ChannelName, SlugsTheTitle) {
  EXPECT_EQ(incident_channel_name(7, "Line 3 down"), "inc-7-line-3-down");
  EXPECT_EQ(incident_channel_name(12, "  PLC: fault!! on   Line-B (north) "),
            "inc-12-plc-fault-on-line-b-north");
  EXPECT_EQ(incident_channel_name(3, "a--b__c..d"), "inc-3-a-b-c-d");
}

TEST(ChannelName, NonAsciiBecomesDashes) {
  EXPECT_EQ(incident_channel_name(5, "Überhitzung Ofen 3"), "inc-5-berhitzung-ofen-3");
  EXPECT_EQ(incident_channel_name(5, "Ofen 🔥 heiß"), "inc-5-ofen-hei");
}

TEST(ChannelName, NothingSluggableLeavesTheNumber) {
  EXPECT_EQ(incident_channel_name(9, ""), "inc-9");
  EXPECT_EQ(incident_channel_name(9, "!!! ???"), "inc-9");
  EXPECT_EQ(incident_channel_name(9, "炉子坏了"), "inc-9");
}

TEST(ChannelName, AtMost80CharactersWithoutATrailingDash) {
  const std::string long_title(300, 'a');
  const std::string name = incident_channel_name(123, long_title);
  EXPECT_EQ(name.size(), 80U);
  EXPECT_EQ(name, "inc-123-" + std::string(72, 'a'));

  // The cut lands right after a separator: the dash must go.
  const std::string title = std::string(71, 'b') + " cdef";
  const std::string cut = incident_channel_name(123, title);
  EXPECT_EQ(cut, "inc-123-" + std::string(71, 'b'));
  EXPECT_LE(cut.size(), 80U);
}

TEST(ChannelName, AlwaysValidForAnyTitle) {
  const std::regex valid("^inc-[0-9]+(-[a-z0-9]+)*$");
  for (const std::string& title :
       {std::string("x"), std::string("-leading and trailing-"), std::string(500, '-'),
        std::string("\xFF\xFE\x00 weird", 9), std::string("Ä") + std::string(200, 'z'),
        std::string("ok ") + std::string(100, '\xE2')}) {
    const std::string name = incident_channel_name(99999, title);
    EXPECT_TRUE(std::regex_match(name, valid)) << name;
    EXPECT_LE(name.size(), 80U) << name;
  }
}

TEST(IncidentCard, ShowsStateAndOffersTheAllowedMoves) {
  const Incident incident = incident_in(Status::declared);
  const Message card = incident_card(incident);
  EXPECT_EQ(card.title, "INC-7 · Line 3 down");
  const std::vector<MessageField> fields = {
      {"Status", "DECLARED"},
      {"Severity", "SEV1"},
      {"Lead", "—"},
      {"Comms", "—"},
      {"Acknowledged", "not yet"},
      {"Declared by", "Ana"},
      {"Declared at", format_time(minute(0))},
      {"Channel", "#inc-7-line-3-down"},
  };
  EXPECT_EQ(card.fields, fields);
  const std::vector<MessageAction> actions = {
      {"Acknowledge", "ack"},
      {"Investigating", "status investigating"},
      {"Mitigated", "status mitigated"},
      {"Resolved", "status resolved"},
  };
  EXPECT_EQ(card.actions, actions);
  EXPECT_EQ(card.context, "Haveri · updated " + format_time(minute(10)));
}

TEST(IncidentCard, NoChannelFieldUntilLinkedAndNoButtonsWhenClosed) {
  const Message unlinked = incident_card(incident_in(Status::resolved, false));
  EXPECT_EQ(unlinked.fields.size(), 7U);
  const std::vector<MessageAction> reopen = {{"Acknowledge", "ack"},
                                             {"Closed", "status closed"},
                                             {"Investigating", "status investigating"}};
  EXPECT_EQ(unlinked.actions, reopen);
  EXPECT_TRUE(incident_card(incident_in(Status::closed)).actions.empty());
}

TEST(IncidentCard, EveryButtonParsesToACommandThatIsNotRefused) {
  for (const Status status : kAllStatuses) {
    const Incident incident = incident_in(status);
    for (const MessageAction& action : incident_card(incident).actions) {
      const auto parsed = parse_command(action.command);
      ASSERT_TRUE(std::holds_alternative<Command>(parsed)) << action.command;
      const Command& command = std::get<Command>(parsed);
      if (const auto* change = std::get_if<StatusCommand>(&command)) {
        EXPECT_TRUE(allowed(status, change->status)) << action.command;
      } else {
        EXPECT_TRUE(std::holds_alternative<AckCommand>(command)) << action.command;
      }
      EXPECT_TRUE(decide(&incident, command, kIncidentChannel, kBo).ok()) << action.command;
    }
  }
}

TEST(Replies, ErrorAndRefusal) {
  const Message error =
      error_reply(CommandError{"declare needs a title", "/incident declare <title>"});
  EXPECT_EQ(error.title, "Couldn't run that command");
  EXPECT_EQ(error.text, "declare needs a title\nUsage: `/incident declare <title>`");
  const Message refusal = refusal_reply(Error{ErrorCode::refused, "INC-7 is already CLOSED."});
  EXPECT_EQ(refusal.title, "Not done");
  EXPECT_EQ(refusal.text, "INC-7 is already CLOSED.");
}

const Actor kCy{"U3", "Cy"};

// Every new command, each valid against incident_in(Status::investigating).
std::vector<Command> every_change_command() {
  return {SeverityCommand{Severity::sev2}, LeadCommand{kBo},
          CommsCommand{std::nullopt},      AckCommand{},
          NoteCommand{"fuse blown"},       ActionCommand{"replaced fuse"}};
}

std::string verb_of(const Command& command) {
  return std::visit(
      [](const auto& cmd) -> std::string {
        using Cmd = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<Cmd, SeverityCommand>) {
          return "sev";
        } else if constexpr (std::is_same_v<Cmd, LeadCommand>) {
          return "lead";
        } else if constexpr (std::is_same_v<Cmd, CommsCommand>) {
          return "comms";
        } else if constexpr (std::is_same_v<Cmd, AckCommand>) {
          return "ack";
        } else if constexpr (std::is_same_v<Cmd, NoteCommand>) {
          return "note";
        } else if constexpr (std::is_same_v<Cmd, ActionCommand>) {
          return "action";
        } else {
          return "other";
        }
      },
      command);
}

TEST(DecideChanges, EachCommandMakesItsEvent) {
  const Incident current = incident_in(Status::investigating);
  const std::vector<EventPayload> expected = {SeverityChanged{Severity::sev1, Severity::sev2},
                                              LeadAssigned{kBo},
                                              CommsLeadAssigned{kAna},  // "comms me", typed by Ana
                                              Acknowledged{},
                                              Annotation{"fuse blown", std::nullopt},
                                              ActionTaken{"replaced fuse"}};
  const auto commands = every_change_command();
  ASSERT_EQ(commands.size(), expected.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const auto decision = decide(&current, commands[i], kIncidentChannel, kAna);
    ASSERT_TRUE(decision.ok()) << verb_of(commands[i]) << ": " << decision.error().message;
    ASSERT_EQ(decision->events.size(), 1U) << verb_of(commands[i]);
    EXPECT_EQ(decision->events[0], expected[i]) << verb_of(commands[i]);
    EXPECT_EQ(decision->reply, std::nullopt) << verb_of(commands[i]);
  }
}

TEST(DecideChanges, LeadMeIsTheCaller) {
  const Incident current = incident_in(Status::declared);
  const auto decision = decide(&current, LeadCommand{std::nullopt}, kIncidentChannel, kCy);
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->events.at(0), (EventPayload{LeadAssigned{kCy}}));
}

TEST(DecideChanges, RefusedOutsideAnIncidentChannel) {
  for (const Command& command : every_change_command()) {
    const std::string verb = verb_of(command);
    const auto decision = decide(nullptr, command, kGeneral, kAna);
    ASSERT_FALSE(decision.ok()) << verb;
    EXPECT_EQ(decision.error().code, ErrorCode::refused) << verb;
    EXPECT_EQ(decision.error().message,
              "`/incident " + verb + "` works only in an incident channel; #general is not one.");
    // An incident that was never declared is no incident either.
    const Incident nothing;
    EXPECT_FALSE(decide(&nothing, command, kIncidentChannel, kAna).ok()) << verb;
  }
}

TEST(DecideChanges, AClosedIncidentRefusesEveryChange) {
  const Incident closed = incident_in(Status::closed);
  for (const Command& command : every_change_command()) {
    const auto decision = decide(&closed, command, kIncidentChannel, kAna);
    ASSERT_FALSE(decision.ok()) << verb_of(command);
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_EQ(decision.error().message, "INC-7 is CLOSED; a closed incident cannot be changed.");
  }
}

TEST(DecideChanges, ResolvedIncidentsStillTakeChanges) {
  const Incident resolved = incident_in(Status::resolved);
  for (const Command& command : every_change_command()) {
    EXPECT_TRUE(decide(&resolved, command, kIncidentChannel, kAna).ok()) << verb_of(command);
  }
}

TEST(DecideChanges, SameSeverityIsRefused) {
  const Incident current = incident_in(Status::investigating);  // SEV1
  const auto decision = decide(&current, SeverityCommand{Severity::sev1}, kIncidentChannel, kAna);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message, "INC-7 is already SEV1.");
}

TEST(DecideChanges, SamePersonAlreadyInTheRoleIsRefusedByTheirId) {
  Incident current = incident_in(Status::investigating);
  current.lead = kBo;
  current.comms_lead = kAna;
  // Same id, whatever name the mention carried.
  const auto lead = decide(&current, LeadCommand{Actor{"U2", "U2"}}, kIncidentChannel, kAna);
  ASSERT_FALSE(lead.ok());
  EXPECT_EQ(lead.error().code, ErrorCode::refused);
  EXPECT_EQ(lead.error().message, "Bo is already the incident lead of INC-7.");
  const auto comms = decide(&current, CommsCommand{std::nullopt}, kIncidentChannel, kAna);
  ASSERT_FALSE(comms.ok());
  EXPECT_EQ(comms.error().message, "Ana is already the comms lead of INC-7.");
  // The comms lead may become the lead, and another person may replace the lead.
  EXPECT_TRUE(decide(&current, LeadCommand{std::nullopt}, kIncidentChannel, kAna).ok());
  EXPECT_TRUE(decide(&current, LeadCommand{kCy}, kIncidentChannel, kAna).ok());
}

TEST(DecideChanges, ASecondAckIsRefusedNamingWhoAndWhen) {
  Incident current = incident_in(Status::investigating);
  current.acknowledged_by = kBo;
  current.acknowledged_at = minute(3);
  for (const Actor& caller : {kAna, kBo}) {
    const auto decision = decide(&current, AckCommand{}, kIncidentChannel, caller);
    ASSERT_FALSE(decision.ok()) << caller.id;
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_EQ(decision.error().message,
              "INC-7 is already acknowledged by Bo at " + format_time(minute(3)) + ".");
  }
}

TEST(EffectsOf, EachStateChangePostsTheRefreshedCardSayingWhatChanged) {
  Incident after = incident_in(Status::investigating);
  after.lead = kBo;
  after.comms_lead = kCy;
  after.acknowledged_by = kAna;
  after.acknowledged_at = minute(5);
  const std::vector<std::pair<EventPayload, std::string>> cases = {
      {SeverityChanged{Severity::sev3, Severity::sev1},
       "Severity changed from SEV3 to SEV1 by Ana"},
      {LeadAssigned{kBo}, "Incident lead set to Bo by Ana"},
      {CommsLeadAssigned{kCy}, "Comms lead set to Cy by Ana"},
      {Acknowledged{}, "Acknowledged by Ana"},
  };
  for (const auto& [payload, context] : cases) {
    const auto effects = effects_of(after, {Event{7, 5, minute(10), kAna, payload}});
    ASSERT_EQ(effects.size(), 1U) << context;
    const auto& post = std::get<PostMessage>(effects[0]);
    EXPECT_EQ(post.channel, kIncidentChannel) << context;
    Message expected = incident_card(after);
    expected.context = context;
    EXPECT_EQ(post.message, expected);
  }
}

TEST(EffectsOf, NotesAndActionsPostNothing) {
  const Incident after = incident_in(Status::investigating);
  EXPECT_TRUE(effects_of(after, {Event{7, 6, minute(11), kAna, Annotation{"n", Sequence{2}}},
                                 Event{7, 7, minute(12), kAna, ActionTaken{"a"}}})
                  .empty());
}

TEST(EffectsOf, SeverityChangeWithoutAChannelGoesWhereItWasDeclared) {
  const Incident after = incident_in(Status::declared, false);
  const auto effects = effects_of(
      after, {Event{7, 2, minute(1), kBo, SeverityChanged{Severity::sev3, Severity::sev1}}});
  ASSERT_EQ(effects.size(), 1U);
  EXPECT_EQ(std::get<PostMessage>(effects[0]).channel, kGeneral);
}

TEST(IncidentCard, ShowsLeadCommsAndAcknowledgement) {
  Incident incident = incident_in(Status::investigating);
  incident.lead = kBo;
  incident.comms_lead = Actor{"W9", ""};  // no display name: the id is shown
  incident.acknowledged_by = kCy;
  incident.acknowledged_at = minute(2);
  const Message card = incident_card(incident);
  const std::vector<MessageField> fields = {
      {"Status", "INVESTIGATING"},
      {"Severity", "SEV1"},
      {"Lead", "Bo"},
      {"Comms", "W9"},
      {"Acknowledged", "Cy at " + format_time(minute(2))},
      {"Declared by", "Ana"},
      {"Declared at", format_time(minute(0))},
      {"Channel", "#inc-7-line-3-down"},
  };
  EXPECT_EQ(card.fields, fields);
}

TEST(IncidentCard, AcknowledgeButtonOnlyWhileUnacknowledgedAndOpen) {
  const auto has_ack = [](const Message& card) {
    for (const MessageAction& action : card.actions) {
      if (action.command == "ack") {
        EXPECT_EQ(action.label, "Acknowledge");
        return true;
      }
    }
    return false;
  };
  Incident incident = incident_in(Status::investigating);
  EXPECT_TRUE(has_ack(incident_card(incident)));
  incident.acknowledged_by = kBo;
  incident.acknowledged_at = minute(1);
  EXPECT_FALSE(has_ack(incident_card(incident)));
  EXPECT_EQ(incident_card(incident).actions.size(), 2U);  // Mitigated, Resolved
  EXPECT_FALSE(has_ack(incident_card(incident_in(Status::closed))));
}

TEST(IncidentCard, FoldedAckThenRefreshedCardDropsTheButton) {
  Incident incident = incident_in(Status::declared);
  const Event ack{7, 5, minute(11), kBo, Acknowledged{}};
  incident = apply(incident, ack);
  const auto effects = effects_of(incident, {ack});
  ASSERT_EQ(effects.size(), 1U);
  const Message& card = std::get<PostMessage>(effects[0]).message;
  EXPECT_EQ(card.fields.at(4), (MessageField{"Acknowledged", "Bo at " + format_time(minute(11))}));
  for (const MessageAction& action : card.actions) {
    EXPECT_NE(action.command, "ack");
  }
}

}  // namespace
}  // namespace haveri::core
