// What follows from committed events (effects_of), from the passing of time
// (due_events), and the messages the workflow builds: cards, forms, replies.

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/workflow.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const ChannelRef kGeneral{"local", "C001", "general"};
const ChannelRef kIncidentChannel{"local", "C042", "inc-7-line-3-down"};
const ChannelRef kAnnouncements{"local", "C900", "incidents"};
const Actor kAna{"U1", "Ana"};
const Actor kBo{"U2", "Bo"};
const Actor kCy{"U3", "Cy"};
const IncidentSettings kSettings{};

constexpr std::array kAllStatuses = {Status::declared, Status::investigating, Status::mitigated,
                                     Status::resolved, Status::closed};

TimePoint minute(int n) {
  return TimePoint{std::chrono::minutes{n}};
}

const TimePoint kNow = minute(10);

Summary summary_of(std::string what) {
  Summary summary;
  summary.what_happened = std::move(what);
  summary.root_cause = "worn bearing";
  summary.resolution = "replaced it";
  summary.impact.duration_minutes = 30;
  summary.impact.lines_affected = 2;
  summary.impact.units_lost = 0;
  summary.impact.other = {{"Scrap", "40 kg"}};
  return summary;
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
  incident.organization = "acme";
  if (linked) {
    incident.channel = kIncidentChannel;
  }
  if (status == Status::resolved || status == Status::closed) {
    incident.summary = summary_of("belt snapped");
    incident.resolved_at = minute(9);
  }
  return incident;
}

Incident announced_in(Status status) {
  Incident incident = incident_in(status);
  incident.announcements = kAnnouncements;
  incident.global_card = PostedMessage{kAnnouncements, "1700.1"};
  return incident;
}

FollowUp follow_up_item(std::int64_t number, std::optional<Actor> assignee = {},
                        std::optional<TimePoint> due = {}) {
  FollowUp item;
  item.number = number;
  item.description = "Task " + std::to_string(number);
  item.assignee = std::move(assignee);
  item.due = due;
  item.created_by = kAna;
  return item;
}

FollowUpChanged change_of(FollowUpChanged::Change change, std::int64_t number) {
  FollowUpChanged payload;
  payload.change = change;
  payload.number = number;
  return payload;
}

FollowUpChanged reminder(std::int64_t number, std::string which) {
  FollowUpChanged payload = change_of(FollowUpChanged::Change::reminded, number);
  payload.reminder = std::move(which);
  return payload;
}

Event event(Sequence sequence, TimePoint at, Actor actor, EventPayload payload) {
  return Event{7, sequence, at, std::move(actor), std::move(payload)};
}

std::vector<Effect> effects(const Incident& after, const std::vector<Event>& committed) {
  return effects_of(after, committed, kSettings, kNow);
}

const MessageField* field(const Message& message, std::string_view label) {
  for (const MessageField& each : message.fields) {
    if (each.label == label) {
      return &each;
    }
  }
  return nullptr;
}

std::string field_value(const Message& message, std::string_view label) {
  const MessageField* found = field(message, label);
  return found == nullptr ? "<no field " + std::string(label) + ">" : found->value;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

template <class T>
std::vector<T> all_of_type(const std::vector<EventPayload>& payloads) {
  std::vector<T> out;
  for (const EventPayload& payload : payloads) {
    if (const auto* one = std::get_if<T>(&payload)) {
      out.push_back(*one);
    }
  }
  return out;
}

// ---------------------------------------------------------------- effects of a declaration

TEST(EffectsOf, DeclaredCreatesTheChannelAnnouncesItAndPostsTheGlobalCard) {
  Incident after = incident_in(Status::declared, false);
  after.last_sequence = 1;
  after.announcements = kAnnouncements;
  const std::vector<Event> committed = {
      event(1, minute(0), kAna,
            Declared{"Line 3 down", Severity::sev1, kGeneral, "acme", "", {}, kAnnouncements})};
  const auto result = effects(after, committed);
  ASSERT_EQ(result.size(), 3U);
  const auto& create = std::get<CreateIncidentChannel>(result[0]);
  EXPECT_EQ(create.incident, 7);
  EXPECT_EQ(create.instance, "local");
  EXPECT_EQ(create.name, "inc-7-line-3-down");
  EXPECT_EQ(create.topic, "SEV1 · Line 3 down");
  const auto& post = std::get<PostMessage>(result[1]);
  EXPECT_EQ(post.channel, kGeneral);
  EXPECT_EQ(post.visible_to, "");
  EXPECT_EQ(post.message.title, "INC-7 declared: Line 3 down");
  EXPECT_EQ(post.message.text,
            "SEV1 · declared by Ana. Opening the incident channel #inc-7-line-3-down…");
  const auto& card = std::get<PublishGlobalCard>(result[2]);
  EXPECT_EQ(card.incident, 7);
  EXPECT_EQ(card.channel, kAnnouncements);
  EXPECT_TRUE(card.first);
  EXPECT_EQ(card.card, global_card(after, kSettings, kNow));
}

TEST(EffectsOf, DeclaredWithoutAnAnnouncementsChannelPostsNoGlobalCard) {
  Incident after = incident_in(Status::declared, false);
  after.last_sequence = 1;
  const auto result = effects(
      after, {event(1, minute(0), kAna, Declared{"Line 3 down", Severity::sev1, kGeneral})});
  ASSERT_EQ(result.size(), 2U);
  EXPECT_TRUE(std::holds_alternative<CreateIncidentChannel>(result[0]));
  EXPECT_TRUE(std::holds_alternative<PostMessage>(result[1]));
}

// ---------------------------------------------------------------- the incident channel

TEST(EffectsOf, ChannelLinkedInvitesThePeoplePostsTheCardWithTriageAndEditsTheGlobalCard) {
  Incident after = announced_in(Status::declared);
  after.lead = kBo;
  after.comms_lead = kAna;  // the declarer again: invited once
  const auto result =
      effects(after, {event(2, minute(1), Actor::system(), ChannelLinked{kIncidentChannel})});
  ASSERT_EQ(result.size(), 3U);
  const auto& invite = std::get<InviteToIncident>(result[0]);
  EXPECT_EQ(invite.incident, 7);
  EXPECT_EQ(invite.users, (std::vector<std::string>{"U1", "U2"}));
  const auto& post = std::get<PostToIncident>(result[1]);
  EXPECT_EQ(post.incident, 7);
  Message expected = incident_card(after, kSettings, kNow);
  expected.form = triage_form(after, nullptr).form;
  EXPECT_EQ(post.message, expected);
  ASSERT_TRUE(post.message.form.has_value());
  EXPECT_EQ(post.message.form->id, "triage:7");
  const auto& edit = std::get<PublishGlobalCard>(result[2]);
  EXPECT_FALSE(edit.first);
  EXPECT_EQ(edit.channel, kAnnouncements);
  EXPECT_EQ(edit.card, global_card(after, kSettings, kNow));
}

TEST(EffectsOf, ChannelLinkedInvitesEveryRoleOnce) {
  Incident after = incident_in(Status::declared);
  after.lead = kBo;
  after.comms_lead = kCy;
  const auto all_three =
      effects(after, {event(2, minute(1), Actor::system(), ChannelLinked{kIncidentChannel})});
  ASSERT_EQ(all_three.size(), 2U);  // no announcements channel: no global card
  EXPECT_EQ(std::get<InviteToIncident>(all_three[0]).users,
            (std::vector<std::string>{"U1", "U2", "U3"}));
  after.lead = kAna;
  after.comms_lead = kAna;
  EXPECT_EQ(std::get<InviteToIncident>(effects(after, {event(2, minute(1), Actor::system(),
                                                             ChannelLinked{kIncidentChannel})})[0])
                .users,
            (std::vector<std::string>{"U1"}));
}

// ---------------------------------------------------------------- state changes

TEST(EffectsOf, StatusChangePostsACardWithWhoChangedItAndEditsTheGlobalCard) {
  const Incident after = announced_in(Status::investigating);
  const auto result = effects(
      after, {event(5, minute(10), kBo, StatusChanged{Status::declared, Status::investigating})});
  ASSERT_EQ(result.size(), 2U);
  const auto& post = std::get<PostToIncident>(result[0]);
  EXPECT_EQ(post.incident, 7);
  EXPECT_EQ(post.message.title, "INC-7 · Line 3 down");
  EXPECT_EQ(post.message.context, "Status changed from DECLARED to INVESTIGATING by Bo");
  EXPECT_EQ(post.message.fields, incident_card(after, kSettings, kNow).fields);
  EXPECT_EQ(post.message.actions, incident_card(after, kSettings, kNow).actions);
  const auto& edit = std::get<PublishGlobalCard>(result[1]);
  EXPECT_FALSE(edit.first);
  EXPECT_EQ(edit.card, global_card(after, kSettings, kNow));
}

TEST(EffectsOf, EachStateChangePostsTheRefreshedCardSayingWhatChanged) {
  Incident after = announced_in(Status::investigating);
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
      {TitleChanged{"Line three", "Line 3 down"}, "Title changed from \"Line three\" by Ana"},
      {TriageResponse{{{"line_stopped", "yes"}}}, "Triage answered by Ana"},
  };
  for (const auto& [payload, context] : cases) {
    auto result = effects(after, {event(5, minute(10), kAna, payload)});
    // A new lead or comms lead is invited first (tested below).
    if (!result.empty() && std::holds_alternative<InviteToIncident>(result[0])) {
      result.erase(result.begin());
    }
    ASSERT_EQ(result.size(), 2U) << context;
    const auto& post = std::get<PostToIncident>(result[0]);
    Message expected = incident_card(after, kSettings, kNow);
    expected.context = context;
    EXPECT_EQ(post.message, expected) << context;
    EXPECT_FALSE(std::get<PublishGlobalCard>(result[1]).first) << context;
  }
}

TEST(EffectsOf, ANewLeadOrCommsLeadIsInvitedIntoTheChannel) {
  Incident after = incident_in(Status::investigating);
  after.lead = kBo;
  after.comms_lead = kCy;
  const auto lead = effects(after, {event(5, minute(10), kAna, LeadAssigned{kBo})});
  ASSERT_EQ(lead.size(), 2U);
  const auto& invite = std::get<InviteToIncident>(lead[0]);
  EXPECT_EQ(invite.incident, 7);
  EXPECT_EQ(invite.users, (std::vector<std::string>{"U2"}));
  EXPECT_TRUE(std::holds_alternative<PostToIncident>(lead[1]));
  const auto comms = effects(after, {event(5, minute(10), kAna, CommsLeadAssigned{kCy})});
  ASSERT_EQ(comms.size(), 2U);
  EXPECT_EQ(std::get<InviteToIncident>(comms[0]).users, (std::vector<std::string>{"U3"}));
  // Before the channel exists there is nothing to invite into: ChannelLinked invites them.
  const Incident unlinked = incident_in(Status::declared, false);
  const auto early = effects(unlinked, {event(5, minute(10), kAna, LeadAssigned{kBo})});
  ASSERT_EQ(early.size(), 1U);
  EXPECT_TRUE(std::holds_alternative<PostToIncident>(early[0]));
  // Other changes invite nobody.
  for (const Effect& effect :
       effects(after, {event(5, minute(10), kAna, SeverityChanged{Severity::sev2, Severity::sev1}),
                       event(6, minute(10), kAna, Acknowledged{})})) {
    EXPECT_FALSE(std::holds_alternative<InviteToIncident>(effect));
  }
}

TEST(EffectsOf, SeveralChangesInOneCommitEditTheGlobalCardOnceAtTheEnd) {
  const Incident after = announced_in(Status::mitigated);
  const std::vector<Event> committed = {
      event(5, minute(10), kBo, MessagePosted{"fuse replaced", kIncidentChannel, ""}),
      event(6, minute(11), kBo, StatusChanged{Status::investigating, Status::mitigated}),
      event(7, minute(11), kBo, SeverityChanged{Severity::sev1, Severity::sev2}),
  };
  const auto result = effects(after, committed);
  ASSERT_EQ(result.size(), 3U);
  EXPECT_EQ(std::get<PostToIncident>(result[0]).message.context,
            "Status changed from INVESTIGATING to MITIGATED by Bo");
  EXPECT_EQ(std::get<PostToIncident>(result[1]).message.context,
            "Severity changed from SEV1 to SEV2 by Bo");
  EXPECT_TRUE(std::holds_alternative<PublishGlobalCard>(result[2]));
}

TEST(EffectsOf, WithoutAnnouncementsOnlyTheIncidentChannelHearsOfChanges) {
  const Incident after = incident_in(Status::investigating, false);
  const auto result =
      effects(after, {event(5, minute(10), kBo, SeverityChanged{Severity::sev3, Severity::sev1})});
  ASSERT_EQ(result.size(), 1U);
  EXPECT_EQ(std::get<PostToIncident>(result[0]).incident, 7);
}

TEST(EffectsOf, ClosingPostsTheCloseMessageWithTheFollowUpForm) {
  const Incident after = announced_in(Status::closed);
  const auto result = effects(after, {event(9, minute(10), kBo, Closed{Status::resolved})});
  ASSERT_EQ(result.size(), 2U);
  const Message& message = std::get<PostToIncident>(result[0]).message;
  EXPECT_EQ(message.title, "INC-7 is CLOSED");
  EXPECT_TRUE(contains(message.text, "Closed by Bo.")) << message.text;
  ASSERT_TRUE(message.form.has_value());
  EXPECT_EQ(message.form, follow_up_form(after).form);
  EXPECT_EQ(message.form->id, "followup:7");
  ASSERT_EQ(message.actions.size(), 1U);
  EXPECT_EQ(message.actions[0], (MessageAction{"List follow-ups", "followup list", ""}));
  EXPECT_FALSE(std::get<PublishGlobalCard>(result[1]).first);

  // The button works on the closed incident.
  const auto parsed = parse_command(message.actions[0].command);
  ASSERT_TRUE(std::holds_alternative<Command>(parsed));
  const auto decision = decide(&after, std::get<Command>(parsed),
                               DecisionContext{kIncidentChannel, kBo, kNow, nullptr});
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_TRUE(decision->reply_privately);
}

TEST(EffectsOf, TheSummaryIsPostedFieldByField) {
  const Incident after = announced_in(Status::resolved);
  const auto result =
      effects(after, {event(8, minute(10), kAna, SummaryRecorded{summary_of("belt snapped")})});
  ASSERT_EQ(result.size(), 1U);  // the summary alone does not change the global card
  const Message& message = std::get<PostToIncident>(result[0]).message;
  EXPECT_EQ(message.title, "Summary of INC-7 by Ana");
  const std::vector<MessageField> fields = {{"What happened", "belt snapped"},
                                            {"Root cause", "worn bearing"},
                                            {"Resolution", "replaced it"},
                                            {"Duration", "30 min"},
                                            {"Lines affected", "2"},
                                            {"Units lost", "0"},
                                            {"Scrap", "40 kg"}};
  EXPECT_EQ(message.fields, fields);

  Summary bare = summary_of("x");
  bare.impact = Impact{};
  const auto without_impact = effects(after, {event(8, minute(10), kAna, SummaryRecorded{bare})});
  EXPECT_EQ(std::get<PostToIncident>(without_impact[0]).message.fields.size(), 3U);
}

TEST(EffectsOf, ResolvingPostsTheSummaryThenTheCardThenEditsTheGlobalCard) {
  const Incident after = announced_in(Status::resolved);
  const auto result = effects(
      after, {event(8, minute(10), kAna, SummaryRecorded{summary_of("belt snapped")}),
              event(9, minute(10), kAna, StatusChanged{Status::mitigated, Status::resolved})});
  ASSERT_EQ(result.size(), 3U);
  EXPECT_EQ(std::get<PostToIncident>(result[0]).message.title, "Summary of INC-7 by Ana");
  EXPECT_EQ(std::get<PostToIncident>(result[1]).message.context,
            "Status changed from MITIGATED to RESOLVED by Ana");
  EXPECT_TRUE(std::holds_alternative<PublishGlobalCard>(result[2]));
}

// ---------------------------------------------------------------- follow-ups, nudges, SLAs

TEST(EffectsOf, EachFollowUpChangeIsPostedInTheIncidentChannel) {
  Incident after = announced_in(Status::closed);
  after.follow_ups = {follow_up_item(1, kBo, minute(200))};
  FollowUpChanged created = change_of(FollowUpChanged::Change::created, 1);
  created.description = "Task 1";
  FollowUpChanged assigned = change_of(FollowUpChanged::Change::assigned, 1);
  assigned.assignee = kBo;
  FollowUpChanged done = change_of(FollowUpChanged::Change::status, 1);
  done.status = FollowUpStatus::done;
  const std::vector<std::pair<EventPayload, std::string>> cases = {
      {created, "Follow-up #1 added by Ana"},
      {assigned, "Follow-up #1 assigned to @Bo"},
      {change_of(FollowUpChanged::Change::assigned, 1), "Follow-up #1 assigned to nobody"},
      {change_of(FollowUpChanged::Change::redated, 1), "Follow-up #1 re-dated"},
      {done, "Follow-up #1 is now DONE"},
      {reminder(1, "before"), "@Bo: reminder, Follow-up #1 is due soon"},
      {reminder(1, "due"), "@Bo: Follow-up #1 is due now"},
      {reminder(1, "overdue"), "@Bo: Follow-up #1 is overdue"},
  };
  for (const auto& [payload, title] : cases) {
    const auto result = effects(after, {event(10, minute(10), kAna, payload)});
    ASSERT_EQ(result.size(), 1U) << title;  // follow-ups are not on the global card
    const Message& message = std::get<PostToIncident>(result[0]).message;
    EXPECT_EQ(message.title, title);
    EXPECT_EQ(message.text, "#1 [OPEN] Task 1 · Bo · due 1970-01-01T03:20Z") << title;
  }
}

TEST(EffectsOf, AReminderForAnUnownedOverdueFollowUpNamesNobodyAndSaysHowLate) {
  Incident after = incident_in(Status::closed);
  after.follow_ups = {follow_up_item(2, std::nullopt, minute(5))};
  const auto result = effects_of(
      after, {event(10, minute(70), Actor::system(), reminder(2, "due"))}, kSettings, minute(70));
  const Message& message = std::get<PostToIncident>(result.at(0)).message;
  EXPECT_EQ(message.title, "Follow-up #2 is due now");
  EXPECT_EQ(message.text,
            "#2 [OPEN] Task 2 · unassigned · due 1970-01-01T00:05Z (overdue by 1 h 05 min)");
}

TEST(EffectsOf, ANudgeCallsTheLeadOrAsksForOne) {
  Incident after = incident_in(Status::investigating);
  const auto unled = effects(after, {event(9, minute(30), Actor::system(), Nudged{30})});
  ASSERT_EQ(unled.size(), 1U);
  const Message& asking = std::get<PostToIncident>(unled[0]).message;
  EXPECT_EQ(asking.title, "No update on INC-7 for 30 min");
  EXPECT_TRUE(contains(asking.text, "/incident note")) << asking.text;
  EXPECT_TRUE(contains(asking.text, "`/incident lead me`")) << asking.text;

  after.lead = kBo;
  const auto led = effects(after, {event(9, minute(150), Actor::system(), Nudged{150})});
  const Message& calling = std::get<PostToIncident>(led.at(0)).message;
  EXPECT_EQ(calling.title, "@Bo: no update on INC-7 for 2 h 30 min");
  EXPECT_FALSE(contains(calling.text, "Nobody leads")) << calling.text;
}

TEST(EffectsOf, AnSlaBreachNamesTheTarget) {
  Incident after = announced_in(Status::investigating);
  const auto unled =
      effects(after, {event(9, minute(60), Actor::system(), SlaBreached{"resolve", 60})});
  ASSERT_EQ(unled.size(), 1U);
  EXPECT_EQ(std::get<PostToIncident>(unled[0]).message.title,
            "INC-7 missed its SEV1 target to resolve within 1 h");
  after.lead = kBo;
  const auto led =
      effects(after, {event(9, minute(15), Actor::system(), SlaBreached{"acknowledge", 15})});
  EXPECT_EQ(std::get<PostToIncident>(led.at(0)).message.title,
            "@Bo: INC-7 missed its SEV1 target to acknowledge within 15 min");
}

TEST(EffectsOf, GuidanceIsPosted) {
  const Incident after = incident_in(Status::declared);
  const auto triage = effects(
      after, {event(3, minute(1), Actor::system(), BotGuidance{"triage", "Stop the line"})});
  ASSERT_EQ(triage.size(), 1U);
  EXPECT_EQ(std::get<PostToIncident>(triage[0]).message.title, "First steps");
  EXPECT_EQ(std::get<PostToIncident>(triage[0]).message.text, "Stop the line");
  const auto other =
      effects(after, {event(3, minute(1), Actor::system(), BotGuidance{"resolve", "Write it"})});
  EXPECT_EQ(std::get<PostToIncident>(other.at(0)).message.title, "Guidance");
}

TEST(EffectsOf, WhatPeopleAlreadySeeCausesNothing) {
  const Incident after = announced_in(Status::investigating);
  AttachmentAdded attachment;
  attachment.file_id = "F1";
  attachment.name = "photo.jpg";
  attachment.url = "https://files/F1";
  attachment.mime_type = "";
  attachment.platform_message_id = "m1";
  const std::vector<Event> committed = {
      event(5, minute(10), kAna, MessagePosted{"hi", kIncidentChannel, ""}),
      event(6, minute(11), kAna, Annotation{"n", Sequence{2}}),
      event(7, minute(12), kAna, ActionTaken{"a"}),
      event(8, minute(13), kAna, attachment),
      event(10, minute(15), Actor::system(), GlobalCardPosted{kAnnouncements, "1700.1"}),
      // Nothing cancelled: nothing to say.
      event(11, minute(16), kAna, EscalationStopped{"line-down", "no_policy", true, 0}),
  };
  EXPECT_TRUE(effects(after, committed).empty());
  EXPECT_TRUE(effects(after, {}).empty());
}

TEST(EffectsOf, AnEscalationPagesEachReachablePersonAndTeamChannelAndTellsTheIncident) {
  const Incident after = incident_in(Status::investigating);
  Escalated page;
  page.policy = "line-down";
  page.step = 2;
  page.instance = "local";
  page.notified = {Actor{"alice", "Alice", "alice"}, Actor{"", "Pat", "pat"},
                   Actor{"sam", "Sam", "sam"}};
  page.channels = {ChannelRef{"local", "maint", "maintenance"}};
  page.unreachable = {"Pat has no local account"};
  page.late = true;
  page.due = minute(3);
  const auto out = effects(after, {event(5, minute(20), Actor::system(), page)});
  ASSERT_EQ(out.size(), 4U);
  const auto& alice = std::get<PagePerson>(out[0]);
  EXPECT_EQ(alice.instance, "local");
  EXPECT_EQ(alice.user, "alice");
  EXPECT_EQ(alice.message.title, "Page: INC-7 · Line 3 down");
  ASSERT_EQ(alice.message.actions.size(), 1U);
  EXPECT_EQ(alice.message.actions[0].command, "ack INC-7");
  EXPECT_THAT(alice.message.context, HasSubstr("Late: this page was due at"));
  EXPECT_EQ(std::get<PagePerson>(out[1]).user, "sam");
  const auto& team = std::get<PostMessage>(out[2]);
  EXPECT_EQ(team.channel.id, "maint");
  EXPECT_EQ(team.message.actions[0].command, "ack INC-7");
  const auto& line = std::get<PostToIncident>(out[3]);
  EXPECT_THAT(line.message.context,
              HasSubstr("Escalation line-down step 2: paged Alice and Sam, #maintenance."));
  EXPECT_THAT(line.message.context, HasSubstr("Pat has no local account."));
}

TEST(EffectsOf, EscalationStartsAndStopsAreOneLineInTheIncident) {
  const Incident after = incident_in(Status::investigating);
  EscalationStarted started{"line-down", "declared", {EscalationStep{}, EscalationStep{}}};
  const auto out = effects(
      after, {event(5, minute(1), kAna, started),
              event(6, minute(2), kAna, EscalationStopped{"line-down", "acknowledged", false, 1})});
  ASSERT_EQ(out.size(), 2U);
  EXPECT_THAT(std::get<PostToIncident>(out[0]).message.context,
              HasSubstr("Escalation policy line-down: 2 steps planned"));
  EXPECT_THAT(std::get<PostToIncident>(out[1]).message.context,
              HasSubstr("stopped (acknowledged): 1 step cancelled"));
}

TEST(EffectsOf, EventsOfAnotherIncidentAreSkipped) {
  const Incident after = announced_in(Status::investigating);
  Event foreign = event(5, minute(10), kBo, StatusChanged{Status::declared, Status::investigating});
  foreign.incident = 8;
  EXPECT_TRUE(effects(after, {foreign}).empty());
}

// ---------------------------------------------------------------- due events

// An open SEV1 declared at minute 0 and acknowledged, so only the clock matters.
Incident quiet_sev1() {
  Incident incident = incident_in(Status::investigating);
  incident.last_update_at = minute(0);
  incident.status_since = minute(0);
  incident.acknowledged_by = kBo;
  incident.acknowledged_at = minute(1);
  return incident;
}

TEST(DueEvents, NothingForAnIncidentThatDoesNotExist) {
  EXPECT_TRUE(due_events(Incident{}, kSettings, minute(1'000'000)).empty());
}

TEST(DueEvents, NudgeAfterTheQuietTimeOfTheSeverity) {
  const Incident incident = quiet_sev1();
  EXPECT_TRUE(due_events(incident, kSettings, minute(15) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(15)), (std::vector<EventPayload>{Nudged{15}}));
  Incident sev3 = incident;
  sev3.severity = Severity::sev3;
  EXPECT_TRUE(due_events(sev3, kSettings, minute(119)).empty());
  EXPECT_EQ(all_of_type<Nudged>(due_events(sev3, kSettings, minute(120))).size(), 1U);
  IncidentSettings eager;
  eager.nudge_after[static_cast<std::size_t>(Severity::sev3)] = 5min;
  EXPECT_EQ(all_of_type<Nudged>(due_events(sev3, eager, minute(5))).size(), 1U);
}

TEST(DueEvents, NudgeAgainOnlyAfterTheSameTimeSinceTheLastNudge) {
  Incident incident = quiet_sev1();
  incident.last_nudge_at = minute(15);
  EXPECT_TRUE(due_events(incident, kSettings, minute(29)).empty());
  // The quiet time it reports runs from the last update, not from the nudge.
  EXPECT_EQ(due_events(incident, kSettings, minute(30)), (std::vector<EventPayload>{Nudged{30}}));
}

TEST(DueEvents, AnUpdateRestartsTheQuietTime) {
  Incident incident = quiet_sev1();
  incident.last_nudge_at = minute(15);
  incident.last_update_at = minute(20);  // a note after the nudge
  EXPECT_TRUE(due_events(incident, kSettings, minute(34)).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(35)), (std::vector<EventPayload>{Nudged{15}}));
}

TEST(DueEvents, NoNudgeOnceResolvedOrClosed) {
  for (const Status status : {Status::resolved, Status::closed}) {
    Incident incident = quiet_sev1();
    incident.status = status;
    incident.resolved_at = minute(5);
    EXPECT_TRUE(due_events(incident, kSettings, minute(10'000)).empty()) << to_string(status);
  }
}

TEST(DueEvents, AcknowledgeSlaBreachedOnceWhileUnacknowledgedAndOpen) {
  Incident incident = quiet_sev1();
  incident.acknowledged_by.reset();
  incident.acknowledged_at.reset();
  incident.last_update_at = minute(14);  // keep the nudge out of the way
  EXPECT_TRUE(due_events(incident, kSettings, minute(15) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(15)),
            (std::vector<EventPayload>{SlaBreached{"acknowledge", 15}}));
  incident.acknowledge_sla_breached = true;
  EXPECT_TRUE(due_events(incident, kSettings, minute(16)).empty());
  incident.acknowledge_sla_breached = false;
  incident.status = Status::resolved;
  incident.resolved_at = minute(10);
  EXPECT_TRUE(due_events(incident, kSettings, minute(16)).empty());
}

TEST(DueEvents, ResolveSlaBreachedOnceUntilResolved) {
  Incident incident = quiet_sev1();
  incident.last_update_at = minute(59);
  EXPECT_TRUE(all_of_type<SlaBreached>(due_events(incident, kSettings, minute(59))).empty());
  EXPECT_EQ(all_of_type<SlaBreached>(due_events(incident, kSettings, minute(60))),
            (std::vector<SlaBreached>{{"resolve", 60}}));
  incident.resolve_sla_breached = true;
  EXPECT_TRUE(all_of_type<SlaBreached>(due_events(incident, kSettings, minute(500))).empty());

  Incident resolved = quiet_sev1();
  resolved.status = Status::resolved;
  resolved.resolved_at = minute(50);
  EXPECT_TRUE(due_events(resolved, kSettings, minute(500)).empty());
  // Reopened: the resolution time is measured again, and it is late now.
  resolved.status = Status::investigating;
  resolved.resolved_at.reset();
  resolved.last_update_at = minute(499);
  EXPECT_EQ(all_of_type<SlaBreached>(due_events(resolved, kSettings, minute(500))),
            (std::vector<SlaBreached>{{"resolve", 60}}));
}

// Runs the clock minute by minute for `minutes`, folding in whatever falls due.
std::vector<EventPayload> run_clock(Incident incident, const IncidentSettings& settings,
                                    int minutes) {
  std::vector<EventPayload> all;
  Sequence sequence = incident.last_sequence;
  for (int m = 1; m <= minutes; ++m) {
    for (EventPayload& payload : due_events(incident, settings, minute(m))) {
      incident = apply(incident, Event{7, ++sequence, minute(m), Actor::system(), payload});
      all.push_back(std::move(payload));
    }
  }
  return all;
}

TEST(DueEvents, AnUnattendedSev1OverTwoHoursGetsEightNudgesAndEachSlaBreachOnce) {
  Incident incident = quiet_sev1();
  incident.acknowledged_by.reset();
  incident.acknowledged_at.reset();
  const auto all = run_clock(incident, kSettings, 120);
  EXPECT_EQ(all_of_type<Nudged>(all).size(), 8U);  // at 15, 30, … 120
  EXPECT_EQ(all_of_type<SlaBreached>(all),
            (std::vector<SlaBreached>{{"acknowledge", 15}, {"resolve", 60}}));
  EXPECT_EQ(all_of_type<Nudged>(all).back().quiet_minutes, 120);
}

// A resolved incident whose follow-up #1 is due at minute 10 000.
Incident with_follow_up_due(TimePoint due) {
  Incident incident = incident_in(Status::resolved);
  incident.follow_ups = {follow_up_item(1, kBo, due)};
  return incident;
}

TEST(DueEvents, FollowUpRemindersBeforeAtAndAfterTheDueDate) {
  constexpr int kDue = 10'000;
  constexpr int kBefore = kDue - 24 * 60;
  Incident incident = with_follow_up_due(minute(kDue));
  EXPECT_TRUE(due_events(incident, kSettings, minute(kBefore) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(kBefore)),
            (std::vector<EventPayload>{reminder(1, "before")}));
  incident.follow_ups[0].last_reminder = "before";
  incident.follow_ups[0].last_reminder_at = minute(kBefore);
  EXPECT_TRUE(due_events(incident, kSettings, minute(kDue) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(kDue)),
            (std::vector<EventPayload>{reminder(1, "due")}));
  incident.follow_ups[0].last_reminder = "due";
  incident.follow_ups[0].last_reminder_at = minute(kDue);
  EXPECT_TRUE(due_events(incident, kSettings, minute(kDue + 24 * 60) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(kDue + 24 * 60)),
            (std::vector<EventPayload>{reminder(1, "overdue")}));
  incident.follow_ups[0].last_reminder = "overdue";
  incident.follow_ups[0].last_reminder_at = minute(kDue + 24 * 60);
  EXPECT_TRUE(due_events(incident, kSettings, minute(kDue + 48 * 60) - 1ms).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(kDue + 48 * 60)),
            (std::vector<EventPayload>{reminder(1, "overdue")}));
}

TEST(DueEvents, NoRemindersForDoneOrUndatedFollowUps) {
  Incident incident = with_follow_up_due(minute(100));
  incident.follow_ups[0].status = FollowUpStatus::done;
  incident.follow_ups.push_back(follow_up_item(2, kBo));
  EXPECT_TRUE(due_events(incident, kSettings, minute(1'000'000)).empty());
  // Started is not done: it is still reminded.
  incident.follow_ups[0].status = FollowUpStatus::in_progress;
  EXPECT_EQ(due_events(incident, kSettings, minute(200)),
            (std::vector<EventPayload>{reminder(1, "due")}));
}

TEST(DueEvents, AFollowUpCreatedOverdueIsRemindedAsDueNotAsSoon) {
  const Incident incident = with_follow_up_due(minute(5));
  EXPECT_EQ(due_events(incident, kSettings, minute(50)),
            (std::vector<EventPayload>{reminder(1, "due")}));
}

TEST(DueEvents, RedatingEarnsTheRemindersAgain) {
  Incident incident = with_follow_up_due(minute(100));
  incident = apply(incident, event(5, minute(100), Actor::system(), reminder(1, "due")));
  FollowUpChanged redated = change_of(FollowUpChanged::Change::redated, 1);
  redated.due = minute(100 + 3 * 24 * 60);
  incident = apply(incident, event(6, minute(101), kBo, redated));
  EXPECT_TRUE(due_events(incident, kSettings, minute(102)).empty());
  EXPECT_EQ(due_events(incident, kSettings, minute(100 + 2 * 24 * 60)),
            (std::vector<EventPayload>{reminder(1, "before")}));
}

TEST(DueEvents, FollowUpsOfAClosedIncidentAreStillRemindedEachInTurn) {
  Incident incident = incident_in(Status::closed);
  incident.follow_ups = {follow_up_item(1, kBo, minute(50)), follow_up_item(2, kCy, minute(60)),
                         follow_up_item(3, kAna, minute(100'000))};
  EXPECT_EQ(due_events(incident, kSettings, minute(70)),
            (std::vector<EventPayload>{reminder(1, "due"), reminder(2, "due")}));
}

TEST(DueEvents, ReminderScheduleOverAWeekFollowsTheSettings) {
  IncidentSettings settings;
  settings.follow_up_reminder_before = 60min;
  settings.overdue_reminder_every = 12h;
  Incident incident = with_follow_up_due(minute(3 * 60));
  const auto all = run_clock(incident, settings, 3 * 60 + 48 * 60);
  std::vector<std::string> reminders;
  for (const auto& change : all_of_type<FollowUpChanged>(all)) {
    reminders.push_back(change.reminder);
  }
  EXPECT_EQ(reminders, (std::vector<std::string>{"before", "due", "overdue", "overdue", "overdue",
                                                 "overdue"}));
}

// ---------------------------------------------------------------- the incident card

TEST(IncidentCard, ShowsStateAndOffersTheAllowedMoves) {
  const Incident incident = incident_in(Status::declared);
  const Message card = incident_card(incident, kSettings, kNow);
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
      {"Time to acknowledge", "open 10 min of 15 min"},
      {"Time to resolve", "open 10 min of 1 h"},
      {"In Declared for", "10 min"},
  };
  EXPECT_EQ(card.fields, fields);
  const std::vector<MessageAction> actions = {
      {"Acknowledge", "ack", "primary"},
      {"Investigating", "status investigating", ""},
      {"Mitigated", "status mitigated", ""},
      {"Resolve…", "resolve", ""},
  };
  EXPECT_EQ(card.actions, actions);
  EXPECT_EQ(card.context, "Haveri · updated " + format_time(minute(10)));
  EXPECT_EQ(card.form, std::nullopt);
}

TEST(IncidentCard, ResolvedOffersCloseAndReopenClosedOffersNothing) {
  Incident resolved = incident_in(Status::resolved, false);
  resolved.acknowledged_by = kBo;
  resolved.acknowledged_at = minute(2);
  const Message card = incident_card(resolved, kSettings, kNow);
  EXPECT_EQ(field(card, "Channel"), nullptr);
  const std::vector<MessageAction> moves = {{"Close", "close", "danger"},
                                            {"Investigating", "status investigating", ""}};
  EXPECT_EQ(card.actions, moves);
  EXPECT_TRUE(incident_card(incident_in(Status::closed), kSettings, kNow).actions.empty());
}

TEST(IncidentCard, EveryButtonParsesToACommandThatIsNotRefused) {
  for (const Status status : kAllStatuses) {
    const Incident incident = incident_in(status);
    for (const MessageAction& action : incident_card(incident, kSettings, kNow).actions) {
      const auto parsed = parse_command(action.command);
      ASSERT_TRUE(std::holds_alternative<Command>(parsed)) << action.command;
      const Command& command = std::get<Command>(parsed);
      const auto decision =
          decide(&incident, command, DecisionContext{kIncidentChannel, kBo, kNow, nullptr});
      EXPECT_TRUE(decision.ok()) << to_string(status) << " " << action.command << ": "
                                 << decision.error().message;
    }
  }
}

TEST(IncidentCard, MetricsAgainstTheSlaOfTheSeverity) {
  Incident incident = incident_in(Status::resolved);
  incident.acknowledged_by = kBo;
  incident.acknowledged_at = minute(20);
  incident.mitigated_at = minute(25);
  incident.resolved_at = minute(50);
  const Message card = incident_card(incident, kSettings, minute(60));
  EXPECT_EQ(field_value(card, "Time to acknowledge"), "20 min (SLA 15 min)");
  EXPECT_EQ(field_value(card, "Time to mitigate"), "25 min");
  EXPECT_EQ(field_value(card, "Time to resolve"), "50 min (within 1 h)");
  incident.severity = Severity::sev3;
  const Message relaxed = incident_card(incident, kSettings, minute(60));
  EXPECT_EQ(field_value(relaxed, "Time to acknowledge"), "20 min (within 1 d)");
  EXPECT_EQ(field_value(relaxed, "Time to resolve"), "50 min (within 7 d)");
}

TEST(IncidentCard, WhereAndFollowUps) {
  Incident incident = incident_in(Status::resolved);
  EXPECT_EQ(field(incident_card(incident, kSettings, kNow), "Where"), nullptr);
  EXPECT_EQ(field(incident_card(incident, kSettings, kNow), "Follow-ups"), nullptr);
  incident.assets = {"press-1", "conveyor-4"};
  EXPECT_EQ(field_value(incident_card(incident, kSettings, kNow), "Where"), "press-1, conveyor-4");
  incident.area = "packing";
  EXPECT_EQ(field_value(incident_card(incident, kSettings, kNow), "Where"),
            "packing · press-1, conveyor-4");
  incident.follow_ups = {follow_up_item(1), follow_up_item(2), follow_up_item(3)};
  incident.follow_ups[1].status = FollowUpStatus::done;
  EXPECT_EQ(field_value(incident_card(incident, kSettings, kNow), "Follow-ups"), "2 open of 3");
}

TEST(IncidentCard, ShowsLeadCommsAndAcknowledgement) {
  Incident incident = incident_in(Status::investigating);
  incident.lead = kBo;
  incident.comms_lead = Actor{"W9", ""};  // no display name: the id is shown
  incident.acknowledged_by = kCy;
  incident.acknowledged_at = minute(2);
  const Message card = incident_card(incident, kSettings, kNow);
  EXPECT_EQ(field_value(card, "Lead"), "Bo");
  EXPECT_EQ(field_value(card, "Comms"), "W9");
  EXPECT_EQ(field_value(card, "Acknowledged"), "Cy at " + format_time(minute(2)));
}

TEST(IncidentCard, AcknowledgeButtonOnlyWhileUnacknowledgedAndOpen) {
  const auto has_ack = [](const Message& card) {
    return std::any_of(card.actions.begin(), card.actions.end(),
                       [](const MessageAction& action) { return action.command == "ack"; });
  };
  Incident incident = incident_in(Status::investigating);
  EXPECT_TRUE(has_ack(incident_card(incident, kSettings, kNow)));
  incident.acknowledged_by = kBo;
  incident.acknowledged_at = minute(1);
  EXPECT_FALSE(has_ack(incident_card(incident, kSettings, kNow)));
  EXPECT_EQ(incident_card(incident, kSettings, kNow).actions.size(), 2U);  // Mitigated, Resolve
  EXPECT_FALSE(has_ack(incident_card(incident_in(Status::closed), kSettings, kNow)));
}

TEST(IncidentCard, FoldedAckThenRefreshedCardDropsTheButton) {
  Incident incident = incident_in(Status::declared);
  const Event ack = event(5, minute(11), kBo, Acknowledged{});
  incident = apply(incident, ack);
  const auto result = effects(incident, {ack});
  ASSERT_EQ(result.size(), 1U);
  const Message& card = std::get<PostToIncident>(result[0]).message;
  EXPECT_EQ(field_value(card, "Acknowledged"), "Bo at " + format_time(minute(11)));
  for (const MessageAction& action : card.actions) {
    EXPECT_NE(action.command, "ack");
  }
}

// ---------------------------------------------------------------- the global card

TEST(GlobalCard, CompactStateForTheAnnouncementsChannel) {
  Incident incident = announced_in(Status::investigating);
  incident.lead = kBo;
  incident.area = "packing";
  const Message card = global_card(incident, kSettings, kNow);
  EXPECT_EQ(card.title, "INC-7 · SEV1 · Line 3 down");
  EXPECT_EQ(field_value(card, "Status"), "INVESTIGATING");
  EXPECT_EQ(field_value(card, "Lead"), "Bo");
  EXPECT_EQ(field_value(card, "Comms"), "—");
  EXPECT_EQ(field_value(card, "Where"), "packing");
  EXPECT_EQ(field_value(card, "Channel"), "#inc-7-line-3-down");
  EXPECT_EQ(field_value(card, "Time to acknowledge"), "open 10 min of 15 min");
  EXPECT_TRUE(card.actions.empty());
  EXPECT_EQ(card.context, "Declared by Ana at " + format_time(minute(0)) + " · updated " +
                              format_time(minute(10)));
  EXPECT_EQ(
      field_value(global_card(incident_in(Status::declared, false), kSettings, kNow), "Channel"),
      "being created");
}

// ---------------------------------------------------------------- forms

std::vector<std::string> names_of(const Form& form) {
  std::vector<std::string> names;
  for (const FormInput& input : form.inputs) {
    names.push_back(input.name);
  }
  return names;
}

// What a user submits when they accept every prefilled value.
std::map<std::string, std::string> initial_values(const Form& form) {
  std::map<std::string, std::string> values;
  for (const FormInput& input : form.inputs) {
    values[input.name] = input.initial;
  }
  return values;
}

TEST(Forms, DeclareFormAsksForTitleAndSeverity) {
  const Message message = declare_form(DeclareCommand{"", std::nullopt}, nullptr);
  ASSERT_TRUE(message.form.has_value());
  const Form& form = *message.form;
  EXPECT_EQ(form.id, "declare");
  EXPECT_EQ(form.submit_label, "Declare");
  EXPECT_EQ(names_of(form), (std::vector<std::string>{"title", "severity", "area", "assets"}));
  EXPECT_TRUE(form.inputs[0].required);
  EXPECT_EQ(form.inputs[0].max_length, kMaxTitleCodePoints);
  EXPECT_TRUE(form.inputs[1].required);
  EXPECT_EQ(form.inputs[1].kind, FormInput::Kind::select);
  std::vector<std::string> severities;
  for (const FormOption& option : form.inputs[1].options) {
    severities.push_back(option.value);
  }
  EXPECT_EQ(severities, (std::vector<std::string>{"sev1", "sev2", "sev3"}));
  EXPECT_EQ(form.inputs[2].kind, FormInput::Kind::text);  // no directory: free text
  EXPECT_FALSE(form.inputs[2].required);
}

TEST(Forms, DeclareFormOffersTheOrganizationsAreas) {
  Organization organization;
  organization.id = "acme";
  organization.name = "Acme";
  organization.areas = {Area{"packing", "Packing", "plant-a"}, Area{"press-shop", "", "plant-a"}};
  const Form form = *declare_form(DeclareCommand{"", std::nullopt}, &organization).form;
  EXPECT_EQ(form.inputs[2].kind, FormInput::Kind::select);
  const std::vector<FormOption> options = {{"packing", "Packing"}, {"press-shop", "press-shop"}};
  EXPECT_EQ(form.inputs[2].options, options);
}

TEST(Forms, ASubmittedPrefilledDeclareFormGivesBackTheCommand) {
  const DeclareCommand typed{"Line 3 down", Severity::sev2, "packing", {"press-1", "conveyor-4"}};
  const Form form = *declare_form(typed, nullptr).form;
  const auto submitted = parse_form_submission(form.id, initial_values(form));
  ASSERT_TRUE(std::holds_alternative<Command>(submitted));
  EXPECT_EQ(std::get<Command>(submitted), Command{typed});
}

TEST(Forms, ResolveFormPrefillsTheSummaryAndTheDuration) {
  Incident incident = incident_in(Status::mitigated);
  const Form fresh = *resolve_form(incident).form;
  EXPECT_EQ(fresh.id, "resolve:7");
  EXPECT_EQ(names_of(fresh), (std::vector<std::string>{"what_happened", "root_cause", "resolution",
                                                       "duration_minutes", "lines_affected",
                                                       "units_lost", "other_impact"}));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(fresh.inputs[i].required) << fresh.inputs[i].name;
    EXPECT_EQ(fresh.inputs[i].kind, FormInput::Kind::multiline);
    // In characters, so that even four-byte characters stay within the byte limit.
    EXPECT_EQ(fresh.inputs[i].max_length, kMaxSummaryFieldBytes / 4);
    EXPECT_EQ(fresh.inputs[i].initial, "");
  }
  EXPECT_EQ(fresh.inputs[3].kind, FormInput::Kind::number);
  EXPECT_EQ(fresh.inputs[3].initial, "10");  // declared 0, last change at 10
  EXPECT_EQ(fresh.inputs[4].initial, "");

  incident.summary = summary_of("belt snapped");
  const Form amended = *resolve_form(incident).form;
  EXPECT_EQ(amended.inputs[0].initial, "belt snapped");
  EXPECT_EQ(amended.inputs[3].initial, "30");
  EXPECT_EQ(amended.inputs[5].initial, "0");
  EXPECT_EQ(amended.inputs[6].initial, "Scrap: 40 kg\n");
}

TEST(Forms, ASubmittedPrefilledResolveFormGivesBackTheSummary) {
  Incident incident = incident_in(Status::resolved);
  incident.summary->impact.other = {{"Scrap", "40 kg"}, {"Overtime", "3 h: paid"}};
  const Form form = *resolve_form(incident).form;
  const auto submitted = parse_form_submission(form.id, initial_values(form));
  ASSERT_TRUE(std::holds_alternative<Command>(submitted))
      << std::get<CommandError>(submitted).problem;
  EXPECT_EQ(std::get<ResolveCommand>(std::get<Command>(submitted)).summary, incident.summary);
}

TEST(Forms, TriageFormAsksTheQuestionsTheParserReads) {
  Incident incident = incident_in(Status::declared);
  incident.area = "packing";
  incident.assets = {"press-1", "conveyor-4"};
  const Form form = *triage_form(incident, nullptr).form;
  EXPECT_EQ(form.id, "triage:7");
  EXPECT_EQ(names_of(form),
            (std::vector<std::string>{"line_stopped", "safety_risk", "area", "assets", "impact"}));
  EXPECT_EQ(form.inputs[2].initial, "packing");
  EXPECT_EQ(form.inputs[3].initial, "press-1,conveyor-4");
  auto values = initial_values(form);
  values["line_stopped"] = form.inputs[0].options.at(0).value;
  values["safety_risk"] = form.inputs[1].options.at(1).value;
  const auto submitted = parse_form_submission(form.id, values);
  ASSERT_TRUE(std::holds_alternative<Command>(submitted));
  const auto& answers = std::get<TriageCommand>(std::get<Command>(submitted)).answers;
  const std::map<std::string, std::string> expected = {{"line_stopped", "yes"},
                                                       {"safety_risk", "no"},
                                                       {"area", "packing"},
                                                       {"assets", "press-1,conveyor-4"}};
  EXPECT_EQ(answers, expected);
}

TEST(Forms, FollowUpFormAsksTheFieldsTheParserReads) {
  const Form form = *follow_up_form(incident_in(Status::closed)).form;
  EXPECT_EQ(form.id, "followup:7");
  EXPECT_EQ(names_of(form), (std::vector<std::string>{"description", "assignee", "due"}));
  EXPECT_TRUE(form.inputs[0].required);
  EXPECT_EQ(form.inputs[1].kind, FormInput::Kind::user);
  EXPECT_EQ(form.inputs[2].kind, FormInput::Kind::date);
  const auto submitted = parse_form_submission(
      form.id, {{"description", "Replace guard"}, {"assignee", "@bo"}, {"due", "+3d"}});
  ASSERT_TRUE(std::holds_alternative<Command>(submitted));
  EXPECT_EQ(form_incident(form.id), 7);
}

TEST(Forms, AnAnswerAsLongAsTheFormAllowsIsAccepted) {
  Incident incident = incident_in(Status::mitigated);
  incident.summary = summary_of("x");
  for (const Message& message : {declare_form(DeclareCommand{"t", Severity::sev1}, nullptr),
                                 resolve_form(incident), follow_up_form(incident)}) {
    const Form& form = *message.form;
    for (const FormInput& input : form.inputs) {
      if (input.max_length == 0 || input.kind == FormInput::Kind::select ||
          input.kind == FormInput::Kind::number || input.kind == FormInput::Kind::date ||
          input.kind == FormInput::Kind::user || input.name == "assets" ||
          input.name == "area") {  // ids: ASCII only
        continue;
      }
      auto values = initial_values(form);
      values["description"] = "x";
      std::string longest;
      for (std::size_t i = 0; i < input.max_length; ++i) {
        longest += "\xC3\xBC";  // ü: one code point, two bytes
      }
      if (input.name == "other_impact") {
        longest = "a:" + longest.substr(0, longest.size() - 4);
      }
      values[input.name] = longest;
      const auto submitted = parse_form_submission(form.id, values);
      EXPECT_TRUE(std::holds_alternative<Command>(submitted))
          << form.id << " " << input.name << " (max_length " << input.max_length << ")";
    }
  }
}

TEST(Forms, EveryRequiredInputIsReportedWhenLeftEmpty) {
  Incident incident = incident_in(Status::mitigated);
  for (const Message& message : {declare_form(DeclareCommand{"", std::nullopt}, nullptr),
                                 resolve_form(incident), follow_up_form(incident)}) {
    const Form& form = *message.form;
    std::map<std::string, std::string> empty;
    for (const FormInput& input : form.inputs) {
      empty[input.name] = "";
    }
    const auto submitted = parse_form_submission(form.id, empty);
    ASSERT_TRUE(std::holds_alternative<CommandError>(submitted)) << form.id;
    const auto& errors = std::get<CommandError>(submitted).field_errors;
    for (const FormInput& input : form.inputs) {
      EXPECT_EQ(errors.contains(input.name), input.required) << form.id << " " << input.name;
    }
  }
}

// ---------------------------------------------------------------- replies

TEST(Replies, TimelineShowsTheLatestEntries) {
  const Incident incident = incident_in(Status::investigating);
  const std::vector<Event> events = {
      event(1, minute(0), kAna, Declared{"Line 3 down", Severity::sev1, kGeneral}),
      event(2, minute(5), kBo, StatusChanged{Status::declared, Status::investigating}),
      event(3, minute(61), kBo, Annotation{"fuse blown", std::nullopt}),
  };
  const Message all = timeline_reply(incident, events, 20);
  EXPECT_EQ(all.title, "Timeline of INC-7 · Line 3 down");
  EXPECT_EQ(all.text,
            "00:00 Ana · declared: Line 3 down (SEV1)\n"
            "00:05 Bo · status_change: DECLARED → INVESTIGATING\n"
            "01:01 Bo · annotation: fuse blown");
  EXPECT_EQ(all.context, "");
  const Message latest = timeline_reply(incident, events, 2);
  EXPECT_EQ(std::count(latest.text.begin(), latest.text.end(), '\n'), 1);
  EXPECT_TRUE(contains(latest.text, "fuse blown"));
  EXPECT_FALSE(contains(latest.text, "declared:"));
  EXPECT_EQ(latest.context, "The latest 2 of 3 entries.");
  EXPECT_EQ(timeline_reply(incident, {}, 20).text, "");
}

TEST(Replies, TimelineShortensLongTextWithoutBreakingCharacters) {
  const Incident incident = incident_in(Status::investigating);
  std::string text(199, 'a');
  text += "ü and more";
  const Message reply =
      timeline_reply(incident, {event(2, minute(1), kBo, Annotation{text, std::nullopt})}, 20);
  EXPECT_NO_THROW(static_cast<void>(message_to_json(reply).dump()));
}

TEST(Replies, IncidentListShowsOpenOnesUnlessAllAreAsked) {
  Incident open = incident_in(Status::investigating);
  open.acknowledge_sla_breached = true;
  Incident closed = incident_in(Status::closed);
  closed.id = 6;
  closed.title = "Oven cold";
  const Message open_only = incident_list_reply({open, closed}, false, minute(90));
  EXPECT_EQ(open_only.title, "Open incidents");
  EXPECT_EQ(open_only.text,
            "INC-7 · SEV1 · INVESTIGATING · Line 3 down · #inc-7-line-3-down · open 1 h 30 min · "
            "SLA missed");
  const Message all = incident_list_reply({open, closed}, true, minute(90));
  EXPECT_EQ(all.title, "All incidents");
  EXPECT_TRUE(contains(all.text, "\nINC-6 · SEV1 · CLOSED · Oven cold · #inc-7-line-3-down"))
      << all.text;
  EXPECT_EQ(incident_list_reply({closed}, false, kNow).text, "No open incidents.");
  EXPECT_EQ(incident_list_reply({}, true, kNow).text, "No incidents yet.");
}

TEST(Replies, IncidentListShowsAtMostFifty) {
  std::vector<Incident> many(120, incident_in(Status::declared));
  const Message reply = incident_list_reply(many, false, kNow);
  EXPECT_EQ(std::count(reply.text.begin(), reply.text.end(), '\n'), 49);
  EXPECT_EQ(reply.context, "Showing the newest 50.");
}

TEST(Replies, FollowUpList) {
  std::vector<FollowUpListing> items = {
      FollowUpListing{"acme", 7, "Line 3 down", follow_up_item(1, kBo, minute(5))},
      FollowUpListing{"acme", 9, "Oven cold", follow_up_item(2)},
  };
  const Message reply = follow_up_list_reply("Your follow-ups", items, minute(70));
  EXPECT_EQ(reply.title, "Your follow-ups");
  EXPECT_EQ(reply.text,
            "INC-7 #1 [OPEN] Task 1 · Bo · due 1970-01-01T00:05Z (overdue by 1 h 05 min)\n"
            "INC-9 #2 [OPEN] Task 2 · unassigned · no due date");
  EXPECT_EQ(follow_up_list_reply("Nothing", {}, kNow).text, "No follow-ups.");
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

TEST(FormatDuration, MinutesHoursAndDays) {
  EXPECT_EQ(format_duration(0ms), "0 min");
  EXPECT_EQ(format_duration(59s), "0 min");
  EXPECT_EQ(format_duration(12min), "12 min");
  EXPECT_EQ(format_duration(59min + 59s), "59 min");
  EXPECT_EQ(format_duration(60min), "1 h");
  EXPECT_EQ(format_duration(3h + 5min), "3 h 05 min");
  EXPECT_EQ(format_duration(3h + 45min), "3 h 45 min");
  EXPECT_EQ(format_duration(24h), "1 d");
  EXPECT_EQ(format_duration(52h + 30min), "2 d 4 h");
  EXPECT_EQ(format_duration(-5min), "0 min");
  EXPECT_EQ(format_duration(std::chrono::minutes{7 * 24 * 60}), "7 d");
}

// ---------------------------------------------------------------- channel names

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

TEST(ChannelName, LaterAttemptsGetASuffixWithinTheLimit) {
  EXPECT_EQ(incident_channel_name(7, "Line 3 down", 1), "inc-7-line-3-down");
  EXPECT_EQ(incident_channel_name(7, "Line 3 down", 2), "inc-7-line-3-down-2");
  EXPECT_EQ(incident_channel_name(7, "", 3), "inc-7-3");
  const std::string name = incident_channel_name(123, std::string(300, 'a'), 12);
  EXPECT_EQ(name.size(), 80U);
  EXPECT_EQ(name.substr(name.size() - 3), "-12");
  EXPECT_EQ(incident_channel_name(7, "x", 0), "inc-7-x");
  EXPECT_EQ(incident_channel_name(7, "x", -4), "inc-7-x");
}

TEST(ChannelName, AlwaysValidForAnyTitle) {
  const std::regex valid("^inc-[0-9]+(-[a-z0-9]+)*$");
  for (const std::string& title :
       {std::string("x"), std::string("-leading and trailing-"), std::string(500, '-'),
        std::string("\xFF\xFE\x00 weird", 9), std::string("Ä") + std::string(200, 'z'),
        std::string("ok ") + std::string(100, '\xE2')}) {
    for (const int attempt : {1, 2, 99}) {
      const std::string name = incident_channel_name(99999, title, attempt);
      EXPECT_TRUE(std::regex_match(name, valid)) << name;
      EXPECT_LE(name.size(), 80U) << name;
    }
  }
  const std::string huge_id = incident_channel_name(std::numeric_limits<IncidentId>::max(),
                                                    std::string(100, 'q'), 1'000'000);
  EXPECT_TRUE(std::regex_match(huge_id, valid)) << huge_id;
  EXPECT_LE(huge_id.size(), 80U);
}

}  // namespace
}  // namespace haveri::core
