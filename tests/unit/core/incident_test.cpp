#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
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
  const Incident state = apply(
      Incident{}, event(7, 1, minute(4), kAna, Declared{"Line 3 down", Severity::sev2, kGeneral}));
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

  EXPECT_EQ(applied(kBo, Annotation{"note", Sequence{2}}), expected);
  EXPECT_EQ(applied(kBo, ActionTaken{"did it"}), expected);
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

}  // namespace
}  // namespace haveri::core
