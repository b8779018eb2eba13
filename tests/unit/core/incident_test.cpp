#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

constexpr std::array kAllStatuses = {Status::declared, Status::investigating, Status::mitigated,
                                     Status::resolved, Status::closed};

const ChannelRef kGeneral{"local", "C001", "general"};
const ChannelRef kIncidentChannel{"local", "C042", "inc-7-line-3-down"};
const Actor kAna{"U1", "Ana"};
const Actor kBo{"U2", "Bo"};
const ChannelRef kAnnouncements{"local", "C900", "incidents"};

TimePoint minute(int n) {
  return TimePoint{std::chrono::minutes{n}};
}

Event event(IncidentId incident, Sequence sequence, TimePoint at, Actor actor,
            EventPayload payload) {
  return Event{incident, sequence, at, std::move(actor), std::move(payload)};
}

std::vector<Event> line_three_history() {
  return {
      event(7, 1, minute(0), kAna, Declared{"Line 3 down", Severity::sev1, kGeneral}),
      event(7, 2, minute(1), Actor::system(), ChannelLinked{kIncidentChannel}),
      event(7, 3, minute(2), kAna, MessagePosted{"conveyor stopped", kIncidentChannel, "m1"}),
      event(7, 4, minute(3), kBo, StatusChanged{Status::declared, Status::investigating}),
      event(7, 5, minute(5), kBo, MessagePosted{"motor fuse blown", kIncidentChannel, ""}),
      event(7, 6, minute(9), kBo, StatusChanged{Status::investigating, Status::mitigated}),
      event(7, 7, minute(12), kAna, MessagePosted{"running again", kIncidentChannel, "m3"}),
      event(7, 8, minute(30), kAna, StatusChanged{Status::mitigated, Status::resolved}),
  };
}

TEST(StatusNames, AreTheUpperCaseFormsAndParseCaseInsensitively) {
  const std::map<Status, std::string_view> names = {{Status::declared, "DECLARED"},
                                                    {Status::investigating, "INVESTIGATING"},
                                                    {Status::mitigated, "MITIGATED"},
                                                    {Status::resolved, "RESOLVED"},
                                                    {Status::closed, "CLOSED"}};
  for (const auto& [status, name] : names) {
    EXPECT_EQ(to_string(status), name);
    EXPECT_EQ(parse_status(name), status);
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_EQ(parse_status(lower), status);
  }
  EXPECT_EQ(parse_status("Investigating"), Status::investigating);
}

TEST(StatusNames, RejectAnythingElse) {
  for (const std::string_view text :
       {"", "open", "DECLARE", "declared ", " closed", "RESOLVED!", "investigatinG2", "SEV1"}) {
    EXPECT_EQ(parse_status(text), std::nullopt) << text;
  }
}

TEST(SeverityNames, ParseCaseInsensitivelyAndRejectOthers) {
  EXPECT_EQ(to_string(Severity::sev1), "SEV1");
  EXPECT_EQ(to_string(Severity::sev2), "SEV2");
  EXPECT_EQ(to_string(Severity::sev3), "SEV3");
  EXPECT_EQ(parse_severity("sev1"), Severity::sev1);
  EXPECT_EQ(parse_severity("Sev2"), Severity::sev2);
  EXPECT_EQ(parse_severity("SEV3"), Severity::sev3);
  for (const std::string_view text : {"", "sev", "sev0", "sev4", "sev9", "sev 1", "1", "SEV1 "}) {
    EXPECT_EQ(parse_severity(text), std::nullopt) << text;
  }
}

TEST(StatusMachine, AllowsExactlyTheDocumentedTransitionsInOrder) {
  using S = Status;
  const std::map<S, std::vector<S>> expected = {
      {S::declared, {S::investigating, S::mitigated, S::resolved}},
      {S::investigating, {S::mitigated, S::resolved}},
      {S::mitigated, {S::investigating, S::resolved}},
      {S::resolved, {S::closed, S::investigating}},
      {S::closed, {}},
  };
  for (const Status from : kAllStatuses) {
    const auto allowed = allowed_transitions(from);
    EXPECT_EQ(std::vector<Status>(allowed.begin(), allowed.end()), expected.at(from))
        << to_string(from);
  }
}

TEST(StatusMachine, NoStatusMayMoveToItselfOrBackToDeclared) {
  for (const Status from : kAllStatuses) {
    for (const Status to : allowed_transitions(from)) {
      EXPECT_NE(to, from);
      EXPECT_NE(to, Status::declared);
    }
  }
}

TEST(Apply, DeclaredSetsEveryField) {
  const Incident state = apply(Incident{}, event(7, 1, minute(4), kAna,
                                                 Declared{"Line 3 down",
                                                          Severity::sev2,
                                                          kGeneral,
                                                          "acme",
                                                          "packing",
                                                          {"press-1", "conveyor-4"},
                                                          kAnnouncements}));
  EXPECT_TRUE(state.exists());
  EXPECT_EQ(state.id, 7);
  EXPECT_EQ(state.last_sequence, 1);
  EXPECT_EQ(state.title, "Line 3 down");
  EXPECT_EQ(state.severity, Severity::sev2);
  EXPECT_EQ(state.status, Status::declared);
  EXPECT_EQ(state.declared_by, kAna);
  EXPECT_EQ(state.declared_at, minute(4));
  EXPECT_EQ(state.updated_at, minute(4));
  EXPECT_EQ(state.declared_in, kGeneral);
  EXPECT_EQ(state.channel, std::nullopt);
  EXPECT_EQ(state.message_count, 0);
  EXPECT_EQ(state.organization, "acme");
  EXPECT_EQ(state.area, "packing");
  EXPECT_EQ(state.assets, (std::vector<std::string>{"press-1", "conveyor-4"}));
  EXPECT_EQ(state.announcements, kAnnouncements);
  EXPECT_EQ(state.global_card, std::nullopt);
  EXPECT_EQ(state.status_since, minute(4));
  EXPECT_EQ(state.last_update_at, minute(4));
  EXPECT_TRUE(state.open());
}

TEST(Apply, EachEventMovesSequenceAndUpdatedAt) {
  Incident state =
      apply(Incident{}, event(7, 1, minute(0), kAna, Declared{"x", Severity::sev3, kGeneral}));
  state = apply(state, event(7, 2, minute(3), kAna, MessagePosted{"hi", kIncidentChannel, ""}));
  EXPECT_EQ(state.last_sequence, 2);
  EXPECT_EQ(state.updated_at, minute(3));
  EXPECT_EQ(state.declared_at, minute(0));
  EXPECT_EQ(state.message_count, 1);
  state = apply(state, event(7, 3, minute(4), kBo, ChannelLinked{kIncidentChannel}));
  EXPECT_EQ(state.channel, kIncidentChannel);
  EXPECT_EQ(state.last_sequence, 3);
  state =
      apply(state, event(7, 4, minute(6), kBo, StatusChanged{Status::declared, Status::resolved}));
  EXPECT_EQ(state.status, Status::resolved);
  EXPECT_EQ(state.updated_at, minute(6));
  EXPECT_EQ(state.declared_by, kAna);  // a later actor does not replace who declared it
}

TEST(Apply, IgnoresEventsOfAnotherIncident) {
  const Incident before = fold(line_three_history());
  for (const EventPayload& payload :
       {(EventPayload{Declared{"other", Severity::sev1, kGeneral}}),
        EventPayload{MessagePosted{"elsewhere", kGeneral, ""}},
        (EventPayload{StatusChanged{Status::resolved, Status::closed}}),
        EventPayload{ChannelLinked{kGeneral}}}) {
    const Incident after = apply(before, event(8, 9, minute(99), kBo, payload));
    EXPECT_EQ(after, before);
  }
}

TEST(Fold, EmptyHistoryIsAnIncidentThatDoesNotExist) {
  const Incident state = fold({});
  EXPECT_FALSE(state.exists());
  EXPECT_EQ(state, Incident{});
}

TEST(Fold, RealisticHistory) {
  const auto history = line_three_history();
  const Incident state = fold(history);
  EXPECT_EQ(state.id, 7);
  EXPECT_EQ(state.last_sequence, 8);
  EXPECT_EQ(state.title, "Line 3 down");
  EXPECT_EQ(state.status, Status::resolved);
  EXPECT_EQ(state.severity, Severity::sev1);
  EXPECT_EQ(state.declared_by, kAna);
  EXPECT_EQ(state.declared_at, minute(0));
  EXPECT_EQ(state.updated_at, minute(30));
  EXPECT_EQ(state.declared_in, kGeneral);
  EXPECT_EQ(state.channel, kIncidentChannel);
  EXPECT_EQ(state.message_count, 3);
}

TEST(Fold, EqualsApplyingOneEventAtATime) {
  const auto history = line_three_history();
  Incident state;
  for (const Event& e : history) {
    state = apply(state, e);
  }
  EXPECT_EQ(fold(history), state);
}

TEST(Fold, ForeignEventsInTheMiddleChangeNothing) {
  auto history = line_three_history();
  auto mixed = history;
  mixed.insert(mixed.begin() + 3,
               event(9, 1, minute(2), kBo, Declared{"Other", Severity::sev3, kGeneral}));
  mixed.push_back(event(9, 2, minute(40), kBo, StatusChanged{Status::declared, Status::closed}));
  EXPECT_EQ(fold(mixed), fold(history));
}

TEST(Fold, ReopenAndClose) {
  auto history = line_three_history();
  history.push_back(
      event(7, 9, minute(40), kBo, StatusChanged{Status::resolved, Status::investigating}));
  EXPECT_EQ(fold(history).status, Status::investigating);
  history.push_back(
      event(7, 10, minute(50), kBo, StatusChanged{Status::investigating, Status::resolved}));
  history.push_back(event(7, 11, minute(60), kBo, StatusChanged{Status::resolved, Status::closed}));
  const Incident state = fold(history);
  EXPECT_EQ(state.status, Status::closed);
  EXPECT_EQ(state.last_sequence, 11);
  EXPECT_EQ(state.updated_at, minute(60));
}

const Actor kCy{"U3", "Cy"};

// Every event type, in the order a real incident might produce them.
std::vector<Event> full_history() {
  return {
      event(7, 1, minute(0), kAna, Declared{"Line 3 down", Severity::sev3, kGeneral}),
      event(7, 2, minute(1), Actor::system(), ChannelLinked{kIncidentChannel}),
      event(7, 3, minute(2), kBo, Acknowledged{}),
      event(7, 4, minute(3), kBo, SeverityChanged{Severity::sev3, Severity::sev1}),
      event(7, 5, minute(4), kAna, LeadAssigned{kBo}),
      event(7, 6, minute(5), kBo, CommsLeadAssigned{kCy}),
      event(7, 7, minute(6), kBo, StatusChanged{Status::declared, Status::investigating}),
      event(7, 8, minute(7), kAna, MessagePosted{"fuse blown", kIncidentChannel, "m1"}),
      event(7, 9, minute(8), kBo, Annotation{"fuse blown again?", Sequence{8}}),
      event(7, 10, minute(9), kBo, ActionTaken{"replaced fuse"}),
      event(7, 11, minute(10), kCy, Acknowledged{}),  // a late second ack (replayed history)
      event(7, 12, minute(11), kAna, LeadAssigned{kCy}),
      event(7, 13, minute(12), kAna, SeverityChanged{Severity::sev1, Severity::sev2}),
  };
}

TEST(Fold, HistoryWithEveryEventType) {
  const Incident state = fold(full_history());
  EXPECT_EQ(state.last_sequence, 13);
  EXPECT_EQ(state.updated_at, minute(12));
  EXPECT_EQ(state.severity, Severity::sev2);
  EXPECT_EQ(state.status, Status::investigating);
  EXPECT_EQ(state.lead, kCy);  // the later assignment wins
  EXPECT_EQ(state.comms_lead, kCy);
  EXPECT_EQ(state.acknowledged_by, kBo);  // the first acknowledgement wins
  EXPECT_EQ(state.acknowledged_at, minute(2));
  EXPECT_EQ(state.message_count, 1);  // notes and actions are not messages
  EXPECT_EQ(state.declared_by, kAna);
  EXPECT_EQ(state.channel, kIncidentChannel);
}

TEST(Apply, NewIncidentHasNoLeadsAndIsUnacknowledged) {
  const Incident state = fold(line_three_history());
  EXPECT_EQ(state.lead, std::nullopt);
  EXPECT_EQ(state.comms_lead, std::nullopt);
  EXPECT_EQ(state.acknowledged_by, std::nullopt);
  EXPECT_EQ(state.acknowledged_at, std::nullopt);
}

TEST(Apply, EachNewTypeChangesOnlyItsField) {
  const Incident before = fold(line_three_history());
  const auto applied = [&](Actor actor, EventPayload payload) {
    return apply(before, event(7, 9, minute(40), std::move(actor), std::move(payload)));
  };
  Incident expected = before;
  expected.last_sequence = 9;
  expected.updated_at = minute(40);

  Incident sev = expected;
  sev.severity = Severity::sev3;
  EXPECT_EQ(applied(kBo, SeverityChanged{Severity::sev1, Severity::sev3}), sev);

  Incident lead = expected;
  lead.lead = kCy;
  EXPECT_EQ(applied(kBo, LeadAssigned{kCy}), lead);

  Incident comms = expected;
  comms.comms_lead = kCy;
  EXPECT_EQ(applied(kBo, CommsLeadAssigned{kCy}), comms);

  Incident ack = expected;
  ack.acknowledged_by = kBo;
  ack.acknowledged_at = minute(40);
  EXPECT_EQ(applied(kBo, Acknowledged{}), ack);

  // Notes and actions are updates: they hold off the "no update" nudge; a recorded
  // edit or deletion of a chat message (an annotation that refers to it) is not.
  Incident updated = expected;
  updated.last_update_at = minute(40);
  EXPECT_EQ(applied(kBo, Annotation{"note", std::nullopt}), updated);
  EXPECT_EQ(applied(kBo, ActionTaken{"did it"}), updated);
  EXPECT_EQ(applied(kBo, Annotation{"message edited: x", Sequence{2}}), expected);
}

TEST(Apply, ForeignNewTypesChangeNothing) {
  const Incident before = fold(full_history());
  for (const EventPayload& payload :
       {EventPayload{SeverityChanged{Severity::sev2, Severity::sev3}},
        EventPayload{LeadAssigned{kAna}}, EventPayload{CommsLeadAssigned{kAna}},
        EventPayload{Acknowledged{}}, EventPayload{Annotation{"x", std::nullopt}},
        EventPayload{ActionTaken{"y"}}}) {
    EXPECT_EQ(apply(before, event(8, 14, minute(99), kAna, payload)), before);
  }
}

// ---------------------------------------------------------------- follow-up statuses

TEST(FollowUpStatusNames, AreUpperCaseAndParseLeniently) {
  EXPECT_EQ(to_string(FollowUpStatus::open), "OPEN");
  EXPECT_EQ(to_string(FollowUpStatus::in_progress), "IN_PROGRESS");
  EXPECT_EQ(to_string(FollowUpStatus::done), "DONE");
  EXPECT_EQ(parse_follow_up_status("open"), FollowUpStatus::open);
  EXPECT_EQ(parse_follow_up_status("In_Progress"), FollowUpStatus::in_progress);
  EXPECT_EQ(parse_follow_up_status("in-progress"), FollowUpStatus::in_progress);
  EXPECT_EQ(parse_follow_up_status("STARTED"), FollowUpStatus::in_progress);
  EXPECT_EQ(parse_follow_up_status("done"), FollowUpStatus::done);
  for (const std::string_view text : {"", "closed", "DONE ", "in progress", "finished", "0"}) {
    EXPECT_EQ(parse_follow_up_status(text), std::nullopt) << text;
  }
}

// ---------------------------------------------------------------- the members added with forms

Event declared_at_zero() {
  return event(7, 1, minute(0), kAna,
               Declared{"Line 3 down", Severity::sev1, kGeneral, "acme", "", {}, kAnnouncements});
}

FollowUpChanged change_of(FollowUpChanged::Change change, std::int64_t number) {
  FollowUpChanged payload;
  payload.change = change;
  payload.number = number;
  return payload;
}

FollowUpChanged created(std::int64_t number, std::string description,
                        std::optional<Actor> assignee = {}, std::optional<TimePoint> due = {}) {
  FollowUpChanged payload = change_of(FollowUpChanged::Change::created, number);
  payload.description = std::move(description);
  payload.assignee = std::move(assignee);
  payload.due = due;
  return payload;
}

Summary summary_of(std::string what) {
  Summary summary;
  summary.what_happened = std::move(what);
  summary.root_cause = "worn bearing";
  summary.resolution = "replaced it";
  summary.impact.units_lost = 40;
  return summary;
}

TEST(Apply, FollowUpsFoldFromTheirChanges) {
  std::vector<Event> history = {declared_at_zero()};
  history.push_back(event(7, 2, minute(10), kAna, created(1, "Replace guard", kBo, minute(500))));
  history.push_back(event(7, 3, minute(11), kBo, created(2, "Check sensors")));
  Incident state = fold(history);
  ASSERT_EQ(state.follow_ups.size(), 2U);
  FollowUp first;
  first.number = 1;
  first.description = "Replace guard";
  first.assignee = kBo;
  first.due = minute(500);
  first.created_by = kAna;
  first.created_at = minute(10);
  first.updated_at = minute(10);
  EXPECT_EQ(state.follow_ups[0], first);
  EXPECT_EQ(state.follow_ups[1].created_by, kBo);
  EXPECT_EQ(state.follow_ups[1].assignee, std::nullopt);
  EXPECT_EQ(state.follow_ups[1].due, std::nullopt);
  EXPECT_EQ(state.follow_up(1), &state.follow_ups[0]);
  EXPECT_EQ(state.follow_up(2), &state.follow_ups[1]);
  EXPECT_EQ(state.follow_up(3), nullptr);
  EXPECT_EQ(state.follow_up(0), nullptr);

  FollowUpChanged assigned = change_of(FollowUpChanged::Change::assigned, 2);
  assigned.assignee = kAna;
  state = apply(state, event(7, 4, minute(20), kBo, assigned));
  EXPECT_EQ(state.follow_up(2)->assignee, kAna);
  EXPECT_EQ(state.follow_up(2)->updated_at, minute(20));

  FollowUpChanged started = change_of(FollowUpChanged::Change::status, 2);
  started.status = FollowUpStatus::in_progress;
  state = apply(state, event(7, 5, minute(21), kAna, started));
  EXPECT_EQ(state.follow_up(2)->status, FollowUpStatus::in_progress);
  EXPECT_EQ(state.follow_up(1)->status, FollowUpStatus::open);  // only the one named

  FollowUpChanged unassigned = change_of(FollowUpChanged::Change::assigned, 1);
  state = apply(state, event(7, 6, minute(22), kAna, unassigned));
  EXPECT_EQ(state.follow_up(1)->assignee, std::nullopt);
}

TEST(Apply, AReminderIsRememberedButIsNotAnUpdateOfTheFollowUp) {
  Incident state = fold(std::vector<Event>{
      declared_at_zero(), event(7, 2, minute(10), kAna, created(1, "x", kBo, minute(500)))});
  FollowUpChanged reminded = change_of(FollowUpChanged::Change::reminded, 1);
  reminded.reminder = "before";
  state = apply(state, event(7, 3, minute(400), Actor::system(), reminded));
  EXPECT_EQ(state.follow_up(1)->last_reminder, "before");
  EXPECT_EQ(state.follow_up(1)->last_reminder_at, minute(400));
  EXPECT_EQ(state.follow_up(1)->updated_at, minute(10));
  EXPECT_EQ(state.last_sequence, 3);
}

TEST(Apply, RedatingAFollowUpClearsItsReminders) {
  Incident state = fold(std::vector<Event>{
      declared_at_zero(), event(7, 2, minute(10), kAna, created(1, "x", kBo, minute(500)))});
  FollowUpChanged reminded = change_of(FollowUpChanged::Change::reminded, 1);
  reminded.reminder = "overdue";
  state = apply(state, event(7, 3, minute(600), Actor::system(), reminded));
  FollowUpChanged redated = change_of(FollowUpChanged::Change::redated, 1);
  redated.due = minute(5000);
  state = apply(state, event(7, 4, minute(601), kBo, redated));
  EXPECT_EQ(state.follow_up(1)->due, minute(5000));
  EXPECT_EQ(state.follow_up(1)->last_reminder, "");
  EXPECT_EQ(state.follow_up(1)->last_reminder_at, std::nullopt);
  EXPECT_EQ(state.follow_up(1)->updated_at, minute(601));
}

TEST(Apply, DamagedFollowUpHistoriesAreToleratedNotFatal) {
  Incident state = fold(std::vector<Event>{
      declared_at_zero(), event(7, 2, minute(10), kAna, created(1, "original", kBo))});
  const Incident before = state;
  // A second "created" for the same number keeps the first.
  state = apply(state, event(7, 3, minute(11), kBo, created(1, "duplicate")));
  EXPECT_EQ(state.follow_ups, before.follow_ups);
  // Changes to a number that was never created are ignored.
  for (const auto change : {FollowUpChanged::Change::assigned, FollowUpChanged::Change::redated,
                            FollowUpChanged::Change::status, FollowUpChanged::Change::reminded}) {
    state = apply(state, event(7, 4, minute(12), kBo, change_of(change, 99)));
    EXPECT_EQ(state.follow_ups, before.follow_ups);
  }
  EXPECT_EQ(state.last_sequence, 4);
}

TEST(Apply, TriageAnswersMergeAndTheAreaBecomesTheIncidents) {
  Incident state = fold(std::vector<Event>{declared_at_zero()});
  state = apply(state, event(7, 2, minute(5), kBo,
                             TriageResponse{{{"line_stopped", "unknown"}, {"impact", "slow"}}}));
  state = apply(state, event(7, 3, minute(6), kAna,
                             TriageResponse{{{"line_stopped", "yes"}, {"area", "packing"}}}));
  const std::map<std::string, std::string> expected = {
      {"line_stopped", "yes"}, {"impact", "slow"}, {"area", "packing"}};
  EXPECT_EQ(state.triage, expected);
  EXPECT_EQ(state.area, "packing");
  EXPECT_EQ(state.last_update_at, minute(0));  // answering triage is not a status update
}

TEST(Apply, TriagedAssetsBecomeTheIncidents) {
  Incident state = fold(std::vector<Event>{declared_at_zero()});
  state = apply(state,
                event(7, 2, minute(5), kBo, TriageResponse{{{"assets", "press-1, conveyor-4"}}}));
  EXPECT_EQ(state.assets, (std::vector<std::string>{"press-1", "conveyor-4"}));
}

TEST(Apply, SummaryTitleCardAttachmentsAndGuidance) {
  Incident state = fold(std::vector<Event>{declared_at_zero()});
  state = apply(state, event(7, 2, minute(3), kAna, SummaryRecorded{summary_of("first")}));
  EXPECT_EQ(state.summary, summary_of("first"));
  EXPECT_EQ(state.last_update_at, minute(3));
  state = apply(state, event(7, 3, minute(4), kAna, SummaryRecorded{summary_of("amended")}));
  EXPECT_EQ(state.summary, summary_of("amended"));

  state = apply(state, event(7, 4, minute(5), kBo, TitleChanged{"Line 3 down", "Bearing failed"}));
  EXPECT_EQ(state.title, "Bearing failed");

  state = apply(
      state, event(7, 5, minute(6), Actor::system(), GlobalCardPosted{kAnnouncements, "1700.1"}));
  EXPECT_EQ(state.global_card, (PostedMessage{kAnnouncements, "1700.1"}));

  AttachmentAdded attachment;
  attachment.file_id = "F1";
  attachment.name = "photo.jpg";
  attachment.url = "https://files/F1";
  attachment.mime_type = "image/jpeg";
  attachment.platform_message_id = "m9";
  state = apply(state, event(7, 6, minute(7), kBo, attachment));
  state = apply(state, event(7, 7, minute(8), kBo, attachment));
  EXPECT_EQ(state.attachment_count, 2);
  EXPECT_EQ(state.message_count, 0);

  const Incident before_guidance = state;
  state = apply(state, event(7, 8, minute(9), Actor::system(), BotGuidance{"triage", "do x"}));
  Escalated escalated;
  escalated.policy = "p";
  escalated.team = "t";
  state = apply(state, event(7, 9, minute(10), Actor::system(), escalated));
  Incident expected = before_guidance;
  expected.last_sequence = 9;
  expected.updated_at = minute(10);
  EXPECT_EQ(state, expected);  // timeline entries only
}

TEST(Apply, NudgesAndSlaBreachesAreRemembered) {
  Incident state = fold(std::vector<Event>{declared_at_zero()});
  state = apply(state, event(7, 2, minute(15), Actor::system(), Nudged{15}));
  EXPECT_EQ(state.last_nudge_at, minute(15));
  EXPECT_EQ(state.last_update_at, minute(0));  // a nudge is not an update
  state = apply(state, event(7, 3, minute(16), Actor::system(), SlaBreached{"acknowledge", 15}));
  EXPECT_TRUE(state.acknowledge_sla_breached);
  EXPECT_FALSE(state.resolve_sla_breached);
  state = apply(state, event(7, 4, minute(61), Actor::system(), SlaBreached{"resolve", 60}));
  EXPECT_TRUE(state.resolve_sla_breached);
  const Incident before = state;
  const Incident unknown =
      apply(state, event(7, 5, minute(62), Actor::system(), SlaBreached{"mitigate", 5}));
  EXPECT_EQ(unknown.acknowledge_sla_breached, before.acknowledge_sla_breached);
  EXPECT_EQ(unknown.resolve_sla_breached, before.resolve_sla_breached);
  EXPECT_EQ(unknown.last_sequence, 5);
}

TEST(Apply, MessagesAndAcknowledgementsAreNotUpdates) {
  Incident state = fold(std::vector<Event>{declared_at_zero()});
  state = apply(state, event(7, 2, minute(5), kBo, MessagePosted{"hi", kIncidentChannel, ""}));
  state = apply(state, event(7, 3, minute(6), kBo, Acknowledged{}));
  EXPECT_EQ(state.last_update_at, minute(0));
  state = apply(state, event(7, 4, minute(7), kBo, ActionTaken{"restarted"}));
  EXPECT_EQ(state.last_update_at, minute(7));
  state = apply(
      state, event(7, 5, minute(8), kBo, StatusChanged{Status::declared, Status::investigating}));
  EXPECT_EQ(state.last_update_at, minute(8));
}

TEST(Apply, ClosedEventClosesAndKeepsTheResolutionTime) {
  auto history = line_three_history();
  history.push_back(event(7, 9, minute(45), kBo, Closed{Status::resolved}));
  const Incident state = fold(history);
  EXPECT_EQ(state.status, Status::closed);
  EXPECT_FALSE(state.open());
  EXPECT_EQ(state.closed_at, minute(45));
  EXPECT_EQ(state.resolved_at, minute(30));
  EXPECT_EQ(state.status_since, minute(45));
}

TEST(Apply, ForeignEventsOfTheAddedTypesChangeNothing) {
  Incident before = fold(full_history());
  before = apply(before, event(7, 14, minute(13), kAna, created(1, "x")));
  Escalated escalated;
  escalated.policy = "p";
  escalated.team = "";
  AttachmentAdded attachment;
  attachment.file_id = "F";
  attachment.name = "n";
  attachment.url = "u";
  attachment.mime_type = "";
  attachment.platform_message_id = "";
  FollowUpChanged done = change_of(FollowUpChanged::Change::status, 1);
  done.status = FollowUpStatus::done;
  for (const EventPayload& payload :
       {EventPayload{escalated}, EventPayload{attachment}, EventPayload{BotGuidance{"t", "x"}},
        EventPayload{TriageResponse{{{"area", "x"}}}},
        EventPayload{SummaryRecorded{summary_of("x")}}, EventPayload{created(2, "y")},
        EventPayload{done}, EventPayload{Closed{Status::resolved}},
        EventPayload{TitleChanged{"a", "b"}}, EventPayload{GlobalCardPosted{kGeneral, "m"}},
        EventPayload{Nudged{5}}, EventPayload{SlaBreached{"resolve", 60}}}) {
    EXPECT_EQ(apply(before, event(8, 15, minute(99), kAna, payload)), before)
        << to_string(type_of(payload));
  }
}

// ---------------------------------------------------------------- metrics

TEST(Metrics, NothingBeforeTheIncidentExists) {
  const IncidentMetrics metrics = metrics_of(Incident{}, minute(100));
  EXPECT_EQ(metrics.time_to_acknowledge, std::nullopt);
  EXPECT_EQ(metrics.time_to_mitigate, std::nullopt);
  EXPECT_EQ(metrics.time_to_resolve, std::nullopt);
  for (const auto spent : metrics.time_in_status) {
    EXPECT_EQ(spent, 0ms);
  }
}

TEST(Metrics, TimesToAcknowledgeMitigateAndResolveAndTimeInEachStatus) {
  auto history = line_three_history();  // declared 0, investigating 3, mitigated 9, resolved 30
  history.insert(history.begin() + 3, event(7, 99, minute(2), kBo, Acknowledged{}));
  const Incident state = fold(history);
  const IncidentMetrics metrics = metrics_of(state, minute(40));
  EXPECT_EQ(metrics.time_to_acknowledge, 2min);
  EXPECT_EQ(metrics.time_to_mitigate, 9min);
  EXPECT_EQ(metrics.time_to_resolve, 30min);
  const std::array<std::chrono::milliseconds, 5> expected = {3min, 6min, 21min, 10min, 0min};
  EXPECT_EQ(metrics.time_in_status, expected);
}

TEST(Metrics, WhileOpenOnlyTheMomentsThatCameAreSet) {
  const auto history = line_three_history();
  const Incident investigating = fold(std::span(history).first(4));
  const IncidentMetrics metrics = metrics_of(investigating, minute(10));
  EXPECT_EQ(metrics.time_to_acknowledge, std::nullopt);
  EXPECT_EQ(metrics.time_to_mitigate, std::nullopt);
  EXPECT_EQ(metrics.time_to_resolve, std::nullopt);
  EXPECT_EQ(metrics.time_in_status[0], 3min);
  EXPECT_EQ(metrics.time_in_status[1], 7min);  // the running status counts up to now
}

TEST(Metrics, ReopeningClearsTheResolutionAndResolvingAgainMeasuresTheLatest) {
  auto history = line_three_history();
  history.push_back(
      event(7, 9, minute(40), kBo, StatusChanged{Status::resolved, Status::investigating}));
  Incident state = fold(history);
  EXPECT_EQ(state.resolved_at, std::nullopt);
  EXPECT_EQ(metrics_of(state, minute(45)).time_to_resolve, std::nullopt);
  EXPECT_EQ(metrics_of(state, minute(45)).time_to_mitigate, 9min);  // the first mitigation
  EXPECT_TRUE(state.open());

  history.push_back(
      event(7, 10, minute(44), kBo, StatusChanged{Status::investigating, Status::mitigated}));
  history.push_back(
      event(7, 11, minute(50), kBo, StatusChanged{Status::mitigated, Status::resolved}));
  history.push_back(event(7, 12, minute(60), kBo, Closed{Status::resolved}));
  state = fold(history);
  EXPECT_EQ(state.mitigated_at, minute(9));
  const IncidentMetrics metrics = metrics_of(state, minute(500));
  EXPECT_EQ(metrics.time_to_resolve, 50min);
  EXPECT_EQ(metrics.time_to_mitigate, 9min);
  // declared 3; investigating 6 + 4; mitigated 21 + 6; resolved 10 + 10; closed stops the clock.
  const std::array<std::chrono::milliseconds, 5> expected = {3min, 10min, 27min, 20min, 0min};
  EXPECT_EQ(metrics.time_in_status, expected);
}

TEST(Metrics, ANowBeforeTheStatusBeganAddsNothingNegative) {
  const Incident state = fold(line_three_history());
  const IncidentMetrics metrics = metrics_of(state, minute(1));
  EXPECT_EQ(metrics.time_in_status[static_cast<std::size_t>(Status::resolved)], 0ms);
  for (const auto spent : metrics.time_in_status) {
    EXPECT_GE(spent, 0ms);
  }
}

TEST(Metrics, EventsOutOfOrderInTimeNeverMakeNegativeDurations) {
  // A replayed history whose clock went backwards (a restored backup, a skewed host).
  const std::vector<Event> history = {
      declared_at_zero(),
      event(7, 2, minute(10), kBo, StatusChanged{Status::declared, Status::investigating}),
      event(7, 3, minute(5), kBo, StatusChanged{Status::investigating, Status::mitigated}),
  };
  const Incident state = fold(history);
  for (const auto ms : state.ms_in_status) {
    EXPECT_GE(ms, 0);
  }
}

}  // namespace
}  // namespace haveri::core
