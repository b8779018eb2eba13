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
  const auto decision = decide(nullptr, DeclareCommand{"Line 3 down", Severity::sev1}, kGeneral);
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0], (EventPayload{Declared{"Line 3 down", Severity::sev1, kGeneral}}));
  EXPECT_EQ(decision->reply, std::nullopt);
}

TEST(DecideDeclare, DefaultsToSev3AndWorksInsideAnIncidentChannelToo) {
  const Incident current = incident_in(Status::investigating);
  const auto decision =
      decide(&current, DeclareCommand{"Second problem", std::nullopt}, kIncidentChannel);
  ASSERT_TRUE(decision.ok());
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0],
            (EventPayload{Declared{"Second problem", Severity::sev3, kIncidentChannel}}));
}

TEST(DecideStatus, RefusedOutsideAnIncidentChannel) {
  const auto decision = decide(nullptr, StatusCommand{Status::resolved}, kGeneral);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "`/incident status` works only in an incident channel; #general is not one.");
}

TEST(DecideStatus, EveryPairOfStatuses) {
  for (const Status from : kAllStatuses) {
    const Incident current = incident_in(from);
    for (const Status to : kAllStatuses) {
      const auto decision = decide(&current, StatusCommand{to}, kIncidentChannel);
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
  const auto decision = decide(&current, StatusCommand{Status::mitigated}, kIncidentChannel);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().message, "INC-7 is already MITIGATED.");
}

TEST(DecideStatus, DisallowedTransitionListsTheAllowedOnes) {
  const Incident declared = incident_in(Status::declared);
  EXPECT_EQ(decide(&declared, StatusCommand{Status::closed}, kIncidentChannel).error().message,
            "INC-7 is DECLARED; it can move to INVESTIGATING, MITIGATED or RESOLVED.");
  const Incident investigating = incident_in(Status::investigating);
  EXPECT_EQ(
      decide(&investigating, StatusCommand{Status::declared}, kIncidentChannel).error().message,
      "INC-7 is INVESTIGATING; it can move to MITIGATED or RESOLVED.");
  const Incident resolved = incident_in(Status::resolved);
  EXPECT_EQ(decide(&resolved, StatusCommand{Status::mitigated}, kIncidentChannel).error().message,
            "INC-7 is RESOLVED; it can move to CLOSED or INVESTIGATING.");
}

TEST(DecideStatus, ClosedIsFinal) {
  const Incident closed = incident_in(Status::closed);
  for (const Status to :
       {Status::declared, Status::investigating, Status::mitigated, Status::resolved}) {
    const auto decision = decide(&closed, StatusCommand{to}, kIncidentChannel);
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().message, "INC-7 is CLOSED; a closed incident cannot change status.");
  }
}

TEST(DecideHelp, RepliesWithoutEvents) {
  const auto overview = decide(nullptr, HelpCommand{}, kGeneral);
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->events.empty());
  ASSERT_TRUE(overview->reply.has_value());
  EXPECT_EQ(overview->reply->title, "Haveri commands");
  EXPECT_EQ(overview->reply->text, command_help(""));

  const Incident current = incident_in(Status::declared);
  const auto topic = decide(&current, HelpCommand{"status"}, kIncidentChannel);
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
      {"Declared by", "Ana"},
      {"Declared at", format_time(minute(0))},
      {"Channel", "#inc-7-line-3-down"},
  };
  EXPECT_EQ(card.fields, fields);
  const std::vector<MessageAction> actions = {
      {"Investigating", "status investigating"},
      {"Mitigated", "status mitigated"},
      {"Resolved", "status resolved"},
  };
  EXPECT_EQ(card.actions, actions);
  EXPECT_EQ(card.context, "Haveri · updated " + format_time(minute(10)));
}

TEST(IncidentCard, NoChannelFieldUntilLinkedAndNoButtonsWhenClosed) {
  const Message unlinked = incident_card(incident_in(Status::resolved, false));
  EXPECT_EQ(unlinked.fields.size(), 4U);
  const std::vector<MessageAction> reopen = {{"Closed", "status closed"},
                                             {"Investigating", "status investigating"}};
  EXPECT_EQ(unlinked.actions, reopen);
  EXPECT_TRUE(incident_card(incident_in(Status::closed)).actions.empty());
}

TEST(IncidentCard, EveryButtonParsesToAnAllowedStatusCommand) {
  for (const Status status : kAllStatuses) {
    for (const MessageAction& action : incident_card(incident_in(status)).actions) {
      const auto parsed = parse_command(action.command);
      ASSERT_TRUE(std::holds_alternative<Command>(parsed)) << action.command;
      const auto& command = std::get<StatusCommand>(std::get<Command>(parsed));
      EXPECT_TRUE(allowed(status, command.status)) << action.command;
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

}  // namespace
}  // namespace haveri::core
