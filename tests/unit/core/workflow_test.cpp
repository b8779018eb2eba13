// decide(): what each command turns into. Effects, due events, cards, forms and
// replies are in workflow_effects_test.cpp.

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/workflow.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

const ChannelRef kGeneral{"local", "C001", "general"};
const ChannelRef kIncidentChannel{"local", "C042", "inc-7-line-3-down"};
const ChannelRef kAnnouncements{"local", "C900", "incidents"};
const Actor kAna{"U1", "Ana"};
const Actor kBo{"U2", "Bo"};
const Actor kCy{"U3", "Cy"};

constexpr std::array kAllStatuses = {Status::declared, Status::investigating, Status::mitigated,
                                     Status::resolved, Status::closed};

TimePoint minute(int n) {
  return TimePoint{std::chrono::minutes{n}};
}

const TimePoint kNow = minute(100);

Summary summary_of(std::string what) {
  Summary summary;
  summary.what_happened = std::move(what);
  summary.root_cause = "worn bearing";
  summary.resolution = "replaced it";
  summary.impact.duration_minutes = 30;
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
  return incident;
}

// A resolved or closed incident as the workflow leaves it: with its summary.
Incident summarised_in(Status status) {
  Incident incident = incident_in(status);
  incident.summary = summary_of("belt snapped");
  return incident;
}

FollowUp follow_up_item(std::int64_t number, std::optional<Actor> assignee = {},
                        FollowUpStatus status = FollowUpStatus::open) {
  FollowUp item;
  item.number = number;
  item.description = "Task " + std::to_string(number);
  item.assignee = std::move(assignee);
  item.status = status;
  item.created_by = kAna;
  return item;
}

Organization acme(bool with_places = true) {
  Organization organization;
  organization.id = "acme";
  organization.name = "Acme Plant";
  organization.announcements = AnnouncementsChannel{"local", "C900", "incidents"};
  if (with_places) {
    organization.areas = {Area{"packing", "Packing", "plant-a"},
                          Area{"press-shop", "Press shop", "plant-a"}};
    organization.assets = {Asset{"press-1", "Press 1", "press", "press-shop"},
                           Asset{"conveyor-4", "Conveyor 4", "conveyor", "packing"}};
  }
  return organization;
}

DecisionContext context_in(const ChannelRef& channel, const Actor& caller = kAna,
                           const Organization* organization = nullptr) {
  return DecisionContext{channel, caller, kNow, organization};
}

// Decides in the incident channel, as Ana unless told.
Result<Decision> decided(const Incident* incident, const Command& command,
                         const Actor& caller = kAna, const Organization* organization = nullptr) {
  return decide(incident, command, context_in(kIncidentChannel, caller, organization));
}

bool allowed(Status from, Status to) {
  const auto next = allowed_transitions(from);
  return std::find(next.begin(), next.end(), to) != next.end();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

FollowUpCommand follow_up_command(FollowUpCommand::Action action, std::int64_t number = 0) {
  FollowUpCommand command;
  command.action = action;
  command.number = number;
  return command;
}

FollowUpCommand add_follow_up(std::string description, std::optional<Actor> assignee = {},
                              std::optional<DueSpec> due = {}) {
  FollowUpCommand command = follow_up_command(FollowUpCommand::Action::add);
  command.description = std::move(description);
  command.assignee = std::move(assignee);
  command.due = due;
  return command;
}

FollowUpChanged change_of(FollowUpChanged::Change change, std::int64_t number) {
  FollowUpChanged payload;
  payload.change = change;
  payload.number = number;
  return payload;
}

// ---------------------------------------------------------------- declare

TEST(DecideDeclare, OutsideAnIncidentChannelWithoutADirectory) {
  const auto decision =
      decide(nullptr, DeclareCommand{"Line 3 down", Severity::sev1}, context_in(kGeneral));
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0], (EventPayload{Declared{"Line 3 down", Severity::sev1, kGeneral}}));
  EXPECT_EQ(decision->reply, std::nullopt);
}

TEST(DecideDeclare, CarriesTheOrganizationPlacesAndAnnouncementsChannel) {
  const Organization organization = acme();
  const auto decision =
      decide(nullptr, DeclareCommand{"Jam", Severity::sev2, "packing", {"conveyor-4", "press-1"}},
             context_in(kGeneral, kAna, &organization));
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0], (EventPayload{Declared{"Jam",
                                                        Severity::sev2,
                                                        kGeneral,
                                                        "acme",
                                                        "packing",
                                                        {"conveyor-4", "press-1"},
                                                        kAnnouncements}}));
}

TEST(DecideDeclare, AnAnnouncementsChannelWithoutANameIsShownByItsId) {
  Organization organization = acme();
  organization.announcements = AnnouncementsChannel{"slack-acme", "C77", ""};
  const auto decision = decide(nullptr, DeclareCommand{"Jam", Severity::sev2},
                               context_in(kGeneral, kAna, &organization));
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_EQ(std::get<Declared>(decision->events.at(0)).announcements,
            (ChannelRef{"slack-acme", "C77", "C77"}));
  organization.announcements.reset();
  const auto without = decide(nullptr, DeclareCommand{"Jam", Severity::sev2},
                              context_in(kGeneral, kAna, &organization));
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(std::get<Declared>(without->events.at(0)).announcements, std::nullopt);
}

TEST(DecideDeclare, WorksInsideAnIncidentChannelToo) {
  const Incident current = incident_in(Status::investigating);
  const auto decision = decided(&current, DeclareCommand{"Second problem", Severity::sev3});
  ASSERT_TRUE(decision.ok());
  ASSERT_EQ(decision->events.size(), 1U);
  EXPECT_EQ(decision->events[0],
            (EventPayload{Declared{"Second problem", Severity::sev3, kIncidentChannel}}));
}

TEST(DecideDeclare, WithoutATitleOrSeverityOpensThePrefilledFormPrivately) {
  const Organization organization = acme();
  const std::vector<DeclareCommand> incomplete = {
      DeclareCommand{"", std::nullopt},
      DeclareCommand{"Line 3 down", std::nullopt, "packing", {"press-1", "conveyor-4"}},
      DeclareCommand{"", Severity::sev2, "press-shop", {}},
  };
  for (const DeclareCommand& command : incomplete) {
    const auto decision = decide(nullptr, command, context_in(kGeneral, kAna, &organization));
    ASSERT_TRUE(decision.ok()) << decision.error().message;
    EXPECT_TRUE(decision->events.empty());
    ASSERT_TRUE(decision->reply.has_value());
    EXPECT_TRUE(decision->reply_privately);
    EXPECT_EQ(*decision->reply, declare_form(command, &organization));
    ASSERT_TRUE(decision->reply->form.has_value());
    EXPECT_EQ(decision->reply->form->id, "declare");
  }
  const Form form = *declare_form(incomplete[1], &organization).form;
  ASSERT_GE(form.inputs.size(), 4U);
  EXPECT_EQ(form.inputs[0].initial, "Line 3 down");
  EXPECT_EQ(form.inputs[1].initial, "");
  EXPECT_EQ(form.inputs[2].initial, "packing");
  EXPECT_EQ(form.inputs[3].initial, "press-1,conveyor-4");
  EXPECT_EQ(declare_form(incomplete[2], &organization).form->inputs[1].initial, "sev2");
}

TEST(DecideDeclare, AnIncompleteDeclareWithUnknownPlacesStillGetsTheForm) {
  const Organization organization = acme();
  const auto decision = decide(nullptr, DeclareCommand{"", std::nullopt, "paint-shop", {}},
                               context_in(kGeneral, kAna, &organization));
  ASSERT_TRUE(decision.ok());
  EXPECT_TRUE(decision->reply->form.has_value());
}

TEST(DecideDeclare, AnUnknownAreaIsRefusedNamingTheKnownOnes) {
  const Organization organization = acme();
  const auto decision = decide(nullptr, DeclareCommand{"Jam", Severity::sev1, "paint-shop", {}},
                               context_in(kGeneral, kAna, &organization));
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "There is no area \"paint-shop\" in Acme Plant. Areas: packing, press-shop.");
}

TEST(DecideDeclare, AnUnknownAssetIsRefusedNamingTheKnownOnes) {
  const Organization organization = acme();
  const auto decision =
      decide(nullptr, DeclareCommand{"Jam", Severity::sev1, "packing", {"press-1", "robot-9"}},
             context_in(kGeneral, kAna, &organization));
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "There is no asset \"robot-9\" in Acme Plant. Assets: press-1, conveyor-4.");
}

TEST(DecideDeclare, PlacesAreNotCheckedWhenTheOrganizationListsNone) {
  const Organization organization = acme(false);
  const DeclareCommand command{"Jam", Severity::sev1, "anywhere", {"anything"}};
  const auto with_bare_directory =
      decide(nullptr, command, context_in(kGeneral, kAna, &organization));
  ASSERT_TRUE(with_bare_directory.ok()) << with_bare_directory.error().message;
  EXPECT_EQ(std::get<Declared>(with_bare_directory->events.at(0)).area, "anywhere");
  EXPECT_TRUE(decide(nullptr, command, context_in(kGeneral)).ok());
}

// ---------------------------------------------------------------- status

TEST(DecideStatus, RefusedOutsideAnIncidentChannel) {
  const auto decision = decide(nullptr, StatusCommand{Status::mitigated}, context_in(kGeneral));
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "`/incident status` works only in an incident channel; #general is not one.");
  const ChannelRef unnamed{"local", "D9", ""};
  EXPECT_EQ(decide(nullptr, StatusCommand{Status::mitigated}, context_in(unnamed)).error().message,
            "`/incident status` works only in an incident channel; this channel is not one.");
}

TEST(DecideStatus, EveryPairOfStatuses) {
  for (const Status from : kAllStatuses) {
    const Incident current = summarised_in(from);
    for (const Status to : kAllStatuses) {
      const auto decision = decided(&current, StatusCommand{to});
      const std::string pair = std::string(to_string(from)) + "→" + std::string(to_string(to));
      if (!allowed(from, to)) {
        ASSERT_FALSE(decision.ok()) << pair;
        EXPECT_EQ(decision.error().code, ErrorCode::refused) << pair;
        EXPECT_FALSE(decision.error().message.empty()) << pair;
        continue;
      }
      ASSERT_TRUE(decision.ok()) << pair << ": " << decision.error().message;
      if (to == Status::resolved) {
        // Resolving asks for the summary first.
        EXPECT_TRUE(decision->events.empty()) << pair;
        ASSERT_TRUE(decision->reply.has_value()) << pair;
        EXPECT_TRUE(decision->reply_privately) << pair;
        EXPECT_EQ(decision->reply->form->id, "resolve:7") << pair;
      } else if (to == Status::closed) {
        ASSERT_EQ(decision->events.size(), 1U) << pair;
        EXPECT_EQ(decision->events[0], (EventPayload{Closed{from}})) << pair;
      } else {
        ASSERT_EQ(decision->events.size(), 1U) << pair;
        EXPECT_EQ(decision->events[0], (EventPayload{StatusChanged{from, to}})) << pair;
        EXPECT_EQ(decision->reply, std::nullopt) << pair;
      }
    }
  }
}

TEST(DecideStatus, SameStatusIsRefusedPlainly) {
  const Incident current = incident_in(Status::mitigated);
  const auto decision = decided(&current, StatusCommand{Status::mitigated});
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().message, "INC-7 is already MITIGATED.");
}

TEST(DecideStatus, DisallowedTransitionListsTheAllowedOnes) {
  const Incident declared = incident_in(Status::declared);
  EXPECT_EQ(decided(&declared, StatusCommand{Status::closed}).error().message,
            "INC-7 is DECLARED; it can move to INVESTIGATING, MITIGATED or RESOLVED.");
  const Incident investigating = incident_in(Status::investigating);
  EXPECT_EQ(decided(&investigating, StatusCommand{Status::declared}).error().message,
            "INC-7 is INVESTIGATING; it can move to MITIGATED or RESOLVED.");
  const Incident resolved = incident_in(Status::resolved);
  EXPECT_EQ(decided(&resolved, StatusCommand{Status::mitigated}).error().message,
            "INC-7 is RESOLVED; it can move to CLOSED or INVESTIGATING.");
}

TEST(DecideStatus, ClosedIsFinal) {
  const Incident closed = summarised_in(Status::closed);
  for (const Status to :
       {Status::declared, Status::investigating, Status::mitigated, Status::resolved}) {
    const auto decision = decided(&closed, StatusCommand{to});
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().message, "INC-7 is CLOSED; a closed incident cannot change status.");
  }
  EXPECT_EQ(decided(&closed, StatusCommand{Status::closed}).error().message,
            "INC-7 is already CLOSED.");
}

TEST(DecideStatus, StatusResolvedOpensTheSameFormAsResolve) {
  Incident current = incident_in(Status::mitigated);
  current.summary = summary_of("earlier draft");  // reopened once: the form shows it
  const auto by_status = decided(&current, StatusCommand{Status::resolved});
  const auto by_resolve = decided(&current, ResolveCommand{});
  ASSERT_TRUE(by_status.ok());
  ASSERT_TRUE(by_resolve.ok());
  EXPECT_EQ(by_status->reply, by_resolve->reply);
  EXPECT_EQ(*by_status->reply, resolve_form(current));
  EXPECT_EQ(by_status->reply->form->inputs.at(0).initial, "earlier draft");
}

TEST(DecideStatus, StatusClosedBehavesLikeClose) {
  for (const Incident& current : {summarised_in(Status::resolved), incident_in(Status::resolved)}) {
    const auto by_status = decided(&current, StatusCommand{Status::closed});
    const auto by_close = decided(&current, CloseCommand{});
    ASSERT_EQ(by_status.ok(), by_close.ok());
    if (by_status.ok()) {
      EXPECT_EQ(by_status->events, by_close->events);
    } else {
      EXPECT_EQ(by_status.error().message, by_close.error().message);
    }
  }
}

TEST(DecideStatus, AResolvedIncidentCanBeReopened) {
  const Incident resolved = summarised_in(Status::resolved);
  const auto decision = decided(&resolved, StatusCommand{Status::investigating});
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_EQ(decision->events,
            (std::vector<EventPayload>{StatusChanged{Status::resolved, Status::investigating}}));
}

// ---------------------------------------------------------------- resolve

TEST(DecideResolve, WithoutASummaryOpensTheFormPrivately) {
  const Incident current = incident_in(Status::investigating);
  const auto decision = decided(&current, ResolveCommand{});
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_TRUE(decision->events.empty());
  EXPECT_TRUE(decision->reply_privately);
  ASSERT_TRUE(decision->reply.has_value());
  EXPECT_EQ(*decision->reply, resolve_form(current));
  EXPECT_EQ(decision->reply->form->id, "resolve:7");
}

TEST(DecideResolve, TheSubmittedSummaryIsRecordedAndResolves) {
  for (const Status from : {Status::declared, Status::investigating, Status::mitigated}) {
    const Incident current = incident_in(from);
    const auto decision = decided(&current, ResolveCommand{summary_of("belt snapped")});
    ASSERT_TRUE(decision.ok()) << to_string(from) << ": " << decision.error().message;
    const std::vector<EventPayload> expected = {SummaryRecorded{summary_of("belt snapped")},
                                                StatusChanged{from, Status::resolved}};
    EXPECT_EQ(decision->events, expected) << to_string(from);
    EXPECT_EQ(decision->reply, std::nullopt);
  }
}

TEST(DecideResolve, SubmittingAgainOnAResolvedIncidentAmendsTheSummaryOnly) {
  const Incident resolved = summarised_in(Status::resolved);
  const auto decision = decided(&resolved, ResolveCommand{summary_of("amended")});
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_EQ(decision->events, (std::vector<EventPayload>{SummaryRecorded{summary_of("amended")}}));
}

TEST(DecideResolve, RefusedOutsideAnIncidentAndOnAClosedOne) {
  const auto outside = decide(nullptr, ResolveCommand{summary_of("x")}, context_in(kGeneral));
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().message,
            "`/incident resolve` works only in an incident channel; #general is not one.");
  const Incident closed = summarised_in(Status::closed);
  for (const ResolveCommand& command : {ResolveCommand{}, ResolveCommand{summary_of("x")}}) {
    const auto decision = decided(&closed, command);
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_TRUE(contains(decision.error().message, "CLOSED")) << decision.error().message;
  }
}

// ---------------------------------------------------------------- close

TEST(DecideClose, AResolvedIncidentWithASummaryCloses) {
  const Incident resolved = summarised_in(Status::resolved);
  const auto decision = decided(&resolved, CloseCommand{});
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_EQ(decision->events, (std::vector<EventPayload>{Closed{Status::resolved}}));
}

TEST(DecideClose, WithoutASummaryOrBeforeResolvedItIsRefusedWithTheReason) {
  const Incident unsummarised = incident_in(Status::resolved);
  const auto without_summary = decided(&unsummarised, CloseCommand{});
  ASSERT_FALSE(without_summary.ok());
  EXPECT_EQ(without_summary.error().code, ErrorCode::refused);
  EXPECT_EQ(without_summary.error().message,
            "INC-7 is RESOLVED; only a RESOLVED incident with a summary can be closed. Run "
            "`/incident resolve` first and fill in the summary.");
  for (const Status status : {Status::declared, Status::investigating, Status::mitigated}) {
    const Incident current = summarised_in(status);
    const auto decision = decided(&current, CloseCommand{});
    ASSERT_FALSE(decision.ok()) << to_string(status);
    EXPECT_TRUE(contains(decision.error().message,
                         "INC-7 is " + std::string(to_string(status)) + "; only a RESOLVED"))
        << decision.error().message;
  }
}

TEST(DecideClose, AlreadyClosedAndOutsideAreRefused) {
  const Incident closed = summarised_in(Status::closed);
  EXPECT_EQ(decided(&closed, CloseCommand{}).error().message, "INC-7 is already CLOSED.");
  EXPECT_EQ(decide(nullptr, CloseCommand{}, context_in(kGeneral)).error().message,
            "`/incident close` works only in an incident channel; #general is not one.");
}

// ---------------------------------------------------------------- the other changes

// Every change command, each valid against incident_in(Status::investigating).
std::vector<Command> every_change_command() {
  return {SeverityCommand{Severity::sev2},   LeadCommand{kBo},
          CommsCommand{std::nullopt},        AckCommand{},
          NoteCommand{"fuse blown"},         ActionCommand{"replaced fuse"},
          TitleCommand{"Line 3 down: fuse"}, TriageCommand{{{"line_stopped", "yes"}}}};
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
        } else if constexpr (std::is_same_v<Cmd, TitleCommand>) {
          return "title";
        } else if constexpr (std::is_same_v<Cmd, TriageCommand>) {
          return "triage";
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
                                              ActionTaken{"replaced fuse"},
                                              TitleChanged{"Line 3 down", "Line 3 down: fuse"},
                                              TriageResponse{{{"line_stopped", "yes"}}}};
  const auto commands = every_change_command();
  ASSERT_EQ(commands.size(), expected.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const auto decision = decided(&current, commands[i]);
    ASSERT_TRUE(decision.ok()) << verb_of(commands[i]) << ": " << decision.error().message;
    ASSERT_EQ(decision->events.size(), 1U) << verb_of(commands[i]);
    EXPECT_EQ(decision->events[0], expected[i]) << verb_of(commands[i]);
    EXPECT_EQ(decision->reply, std::nullopt) << verb_of(commands[i]);
  }
}

TEST(DecideChanges, LeadMeIsTheCaller) {
  const Incident current = incident_in(Status::declared);
  const auto decision = decided(&current, LeadCommand{std::nullopt}, kCy);
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->events.at(0), (EventPayload{LeadAssigned{kCy}}));
}

TEST(DecideChanges, RefusedOutsideAnIncidentChannel) {
  for (const Command& command : every_change_command()) {
    const std::string verb = verb_of(command);
    const auto decision = decide(nullptr, command, context_in(kGeneral));
    ASSERT_FALSE(decision.ok()) << verb;
    EXPECT_EQ(decision.error().code, ErrorCode::refused) << verb;
    EXPECT_EQ(decision.error().message,
              "`/incident " + verb + "` works only in an incident channel; #general is not one.");
    // An incident that was never declared is no incident either.
    const Incident nothing;
    EXPECT_FALSE(decided(&nothing, command).ok()) << verb;
  }
}

TEST(DecideChanges, AClosedIncidentRefusesEveryChange) {
  const Incident closed = summarised_in(Status::closed);
  std::vector<Command> commands = every_change_command();
  commands.push_back(ResolveCommand{});
  commands.push_back(ResolveCommand{summary_of("late")});
  for (const Command& command : commands) {
    const auto decision = decided(&closed, command);
    ASSERT_FALSE(decision.ok()) << verb_of(command);
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_EQ(decision.error().message,
              "INC-7 is CLOSED; a closed incident cannot be changed (its follow-ups can).");
  }
}

TEST(DecideChanges, ResolvedIncidentsStillTakeChanges) {
  const Incident resolved = summarised_in(Status::resolved);
  for (const Command& command : every_change_command()) {
    EXPECT_TRUE(decided(&resolved, command).ok()) << verb_of(command);
  }
}

TEST(DecideChanges, SameSeverityIsRefused) {
  const Incident current = incident_in(Status::investigating);  // SEV1
  const auto decision = decided(&current, SeverityCommand{Severity::sev1});
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message, "INC-7 is already SEV1.");
}

TEST(DecideChanges, SameTitleIsRefused) {
  const Incident current = incident_in(Status::investigating);
  const auto decision = decided(&current, TitleCommand{"Line 3 down"});
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message, "INC-7 is already called \"Line 3 down\".");
  // A change of case is a change.
  EXPECT_TRUE(decided(&current, TitleCommand{"LINE 3 DOWN"}).ok());
}

TEST(DecideChanges, SamePersonAlreadyInTheRoleIsRefusedByTheirId) {
  Incident current = incident_in(Status::investigating);
  current.lead = kBo;
  current.comms_lead = kAna;
  // Same id, whatever name the mention carried.
  const auto lead = decided(&current, LeadCommand{Actor{"U2", "U2"}});
  ASSERT_FALSE(lead.ok());
  EXPECT_EQ(lead.error().code, ErrorCode::refused);
  EXPECT_EQ(lead.error().message, "Bo is already the incident lead of INC-7.");
  const auto comms = decided(&current, CommsCommand{std::nullopt});
  ASSERT_FALSE(comms.ok());
  EXPECT_EQ(comms.error().message, "Ana is already the comms lead of INC-7.");
  // The comms lead may become the lead, and another person may replace the lead.
  EXPECT_TRUE(decided(&current, LeadCommand{std::nullopt}).ok());
  EXPECT_TRUE(decided(&current, LeadCommand{kCy}).ok());
}

TEST(DecideChanges, ASecondAckIsRefusedNamingWhoAndWhen) {
  Incident current = incident_in(Status::investigating);
  current.acknowledged_by = kBo;
  current.acknowledged_at = minute(3);
  for (const Actor& caller : {kAna, kBo}) {
    const auto decision = decided(&current, AckCommand{}, caller);
    ASSERT_FALSE(decision.ok()) << caller.id;
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_EQ(decision.error().message,
              "INC-7 is already acknowledged by Bo at " + format_time(minute(3)) + ".");
  }
}

// ---------------------------------------------------------------- triage

TEST(DecideTriage, AKnownAreaIsAcceptedAndAnUnknownOneRefused) {
  const Incident current = incident_in(Status::declared);
  const Organization organization = acme();
  const TriageCommand known{{{"area", "packing"}, {"line_stopped", "no"}}};
  const auto accepted = decided(&current, known, kAna, &organization);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(accepted->events, (std::vector<EventPayload>{TriageResponse{known.answers}}));

  const auto refused =
      decided(&current, TriageCommand{{{"area", "moon-base"}}}, kAna, &organization);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::refused);
  EXPECT_EQ(refused.error().message,
            "There is no area \"moon-base\" in Acme Plant. Areas: packing, press-shop.");
  // Without a plant map there is nothing to check against.
  const Organization bare = acme(false);
  EXPECT_TRUE(decided(&current, TriageCommand{{{"area", "moon-base"}}}, kAna, &bare).ok());
  EXPECT_TRUE(decided(&current, TriageCommand{{{"area", "moon-base"}}}).ok());
}

TEST(DecideTriage, AnUnknownAssetIsRefusedLikeAtDeclare) {
  const Incident current = incident_in(Status::declared);
  const Organization organization = acme();
  const auto decision =
      decided(&current, TriageCommand{{{"assets", "press-1,robot-9"}}}, kAna, &organization);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "There is no asset \"robot-9\" in Acme Plant. Assets: press-1, conveyor-4.");
  EXPECT_TRUE(
      decided(&current, TriageCommand{{{"assets", "press-1, conveyor-4"}}}, kAna, &organization)
          .ok());
}

TEST(DecideTriage, AnswersTypedInAnyCaseMatchTheDirectoryLikeAtDeclare) {
  const Incident current = incident_in(Status::declared);
  const Organization organization = acme();
  const auto parsed =
      parse_form_submission("triage:7", {{"area", "Packing"}, {"assets", "Press-1, Conveyor-4"}});
  ASSERT_TRUE(std::holds_alternative<Command>(parsed));
  const auto decision = decided(&current, std::get<Command>(parsed), kAna, &organization);
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  const Incident after = apply(current, Event{7, 5, kNow, kAna, decision->events.at(0)});
  EXPECT_EQ(after.area, "packing");
  EXPECT_EQ(after.assets, (std::vector<std::string>{"press-1", "conveyor-4"}));
}

// ---------------------------------------------------------------- follow-ups

TEST(DecideFollowUp, AddNumbersAfterTheHighestAndResolvesARelativeDue) {
  Incident current = incident_in(Status::resolved);
  const auto first =
      decided(&current, add_follow_up("Replace guard", kBo, DueSpec{std::nullopt, 3h}));
  ASSERT_TRUE(first.ok()) << first.error().message;
  FollowUpChanged expected = change_of(FollowUpChanged::Change::created, 1);
  expected.description = "Replace guard";
  expected.assignee = kBo;
  expected.due = kNow + 3h;
  EXPECT_EQ(first->events, (std::vector<EventPayload>{expected}));
  EXPECT_EQ(first->reply, std::nullopt);

  current.follow_ups = {follow_up_item(1), follow_up_item(5), follow_up_item(3)};
  const auto next =
      decided(&current, add_follow_up("Check sensors", std::nullopt, DueSpec{minute(5000), 0min}));
  ASSERT_TRUE(next.ok()) << next.error().message;
  const auto& created = std::get<FollowUpChanged>(next->events.at(0));
  EXPECT_EQ(created.number, 6);
  EXPECT_EQ(created.due, minute(5000));
  EXPECT_EQ(created.assignee, std::nullopt);
}

TEST(DecideFollowUp, AddWithoutADueDateHasNone) {
  const Incident current = incident_in(Status::investigating);
  const auto decision = decided(&current, add_follow_up("x"));
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(std::get<FollowUpChanged>(decision->events.at(0)).due, std::nullopt);
}

TEST(DecideFollowUp, AssignToSomeoneOrMeButNotTheSamePersonAgain) {
  Incident current = incident_in(Status::closed);  // follow-ups outlive the incident
  current.summary = summary_of("x");
  current.follow_ups = {follow_up_item(1, kBo), follow_up_item(2)};

  FollowUpCommand to_cy = follow_up_command(FollowUpCommand::Action::assign, 1);
  to_cy.assignee = kCy;
  const auto decision = decided(&current, to_cy);
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  FollowUpChanged expected = change_of(FollowUpChanged::Change::assigned, 1);
  expected.assignee = kCy;
  EXPECT_EQ(decision->events, (std::vector<EventPayload>{expected}));

  FollowUpCommand to_me = follow_up_command(FollowUpCommand::Action::assign, 2);
  to_me.assign_to_caller = true;
  const auto mine = decided(&current, to_me, kAna);
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_EQ(std::get<FollowUpChanged>(mine->events.at(0)).assignee, kAna);

  FollowUpCommand again = follow_up_command(FollowUpCommand::Action::assign, 1);
  again.assign_to_caller = true;
  const auto refused = decided(&current, again, Actor{"U2", "Bo again"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::refused);
  EXPECT_EQ(refused.error().message, "Follow-up #1 of INC-7 is already assigned to Bo.");
}

TEST(DecideFollowUp, RedateResolvesTheNewDueFromNow) {
  Incident current = incident_in(Status::resolved);
  current.follow_ups = {follow_up_item(1)};
  FollowUpCommand redate = follow_up_command(FollowUpCommand::Action::redate, 1);
  redate.due = DueSpec{std::nullopt, std::chrono::minutes{2 * 1440}};
  const auto decision = decided(&current, redate);
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  FollowUpChanged expected = change_of(FollowUpChanged::Change::redated, 1);
  expected.due = kNow + 48h;
  EXPECT_EQ(decision->events, (std::vector<EventPayload>{expected}));
}

TEST(DecideFollowUp, StatusMovesButNotToTheStatusItHas) {
  Incident current = incident_in(Status::resolved);
  current.follow_ups = {follow_up_item(1), follow_up_item(2, kBo, FollowUpStatus::done)};
  FollowUpCommand start = follow_up_command(FollowUpCommand::Action::status, 1);
  start.status = FollowUpStatus::in_progress;
  const auto started = decided(&current, start);
  ASSERT_TRUE(started.ok()) << started.error().message;
  FollowUpChanged expected = change_of(FollowUpChanged::Change::status, 1);
  expected.status = FollowUpStatus::in_progress;
  EXPECT_EQ(started->events, (std::vector<EventPayload>{expected}));

  FollowUpCommand reopen = follow_up_command(FollowUpCommand::Action::status, 2);
  reopen.status = FollowUpStatus::open;
  EXPECT_TRUE(decided(&current, reopen).ok());

  FollowUpCommand done_again = follow_up_command(FollowUpCommand::Action::status, 2);
  done_again.status = FollowUpStatus::done;
  const auto refused = decided(&current, done_again);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "Follow-up #2 of INC-7 is already DONE.");
}

TEST(DecideFollowUp, AnUnknownNumberIsRefusedSayingHowManyThereAre) {
  Incident current = incident_in(Status::resolved);
  current.follow_ups = {follow_up_item(1), follow_up_item(2)};
  for (const auto action : {FollowUpCommand::Action::assign, FollowUpCommand::Action::redate,
                            FollowUpCommand::Action::status}) {
    FollowUpCommand command = follow_up_command(action, 9);
    command.assign_to_caller = true;
    command.status = FollowUpStatus::done;
    command.due = DueSpec{std::nullopt, 60min};
    const auto decision = decided(&current, command);
    ASSERT_FALSE(decision.ok());
    EXPECT_EQ(decision.error().code, ErrorCode::refused);
    EXPECT_EQ(decision.error().message,
              "INC-7 has no follow-up #9 (it has 2); `/incident followup list` shows them.");
  }
}

TEST(DecideFollowUp, ListInAnIncidentChannelRepliesPrivately) {
  Incident current = incident_in(Status::closed);
  current.follow_ups = {follow_up_item(1, kBo), follow_up_item(2)};
  const auto decision = decided(&current, follow_up_command(FollowUpCommand::Action::list));
  ASSERT_TRUE(decision.ok()) << decision.error().message;
  EXPECT_TRUE(decision->events.empty());
  EXPECT_TRUE(decision->reply_privately);
  ASSERT_TRUE(decision->reply.has_value());
  EXPECT_EQ(decision->reply->title, "Follow-ups of INC-7");
  EXPECT_TRUE(contains(decision->reply->text, "INC-7 #1 [OPEN] Task 1 · Bo · no due date"))
      << decision->reply->text;
  EXPECT_TRUE(contains(decision->reply->text, "#2 [OPEN] Task 2 · unassigned"))
      << decision->reply->text;

  const Incident none = incident_in(Status::investigating);
  EXPECT_EQ(decided(&none, follow_up_command(FollowUpCommand::Action::list))->reply->text,
            "No follow-ups.");
}

TEST(DecideFollowUp, ScopedListsAndListsOutsideAnIncidentAreQueries) {
  const Incident current = incident_in(Status::investigating);
  for (const char* scope : {"mine", "all", "person"}) {
    FollowUpCommand list = follow_up_command(FollowUpCommand::Action::list);
    list.list_scope = scope;
    const auto inside = decided(&current, list);
    ASSERT_FALSE(inside.ok()) << scope;
    EXPECT_EQ(inside.error().code, ErrorCode::invalid_argument) << scope;
    const auto outside = decide(nullptr, list, context_in(kGeneral));
    ASSERT_FALSE(outside.ok()) << scope;
    EXPECT_EQ(outside.error().code, ErrorCode::invalid_argument) << scope;
  }
  const auto plain_outside =
      decide(nullptr, follow_up_command(FollowUpCommand::Action::list), context_in(kGeneral));
  ASSERT_FALSE(plain_outside.ok());
  EXPECT_EQ(plain_outside.error().code, ErrorCode::invalid_argument);
}

TEST(DecideFollowUp, ChangesOutsideAnIncidentAreRefused) {
  const auto decision = decide(nullptr, add_follow_up("x"), context_in(kGeneral));
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(decision.error().code, ErrorCode::refused);
  EXPECT_EQ(decision.error().message,
            "`/incident followup` works only in an incident channel; #general is not one.");
}

TEST(DecideFollowUp, EveryFollowUpChangeWorksOnAClosedIncident) {
  Incident closed = summarised_in(Status::closed);
  closed.follow_ups = {follow_up_item(1)};
  FollowUpCommand assign = follow_up_command(FollowUpCommand::Action::assign, 1);
  assign.assignee = kBo;
  FollowUpCommand redate = follow_up_command(FollowUpCommand::Action::redate, 1);
  redate.due = DueSpec{std::nullopt, 60min};
  FollowUpCommand done = follow_up_command(FollowUpCommand::Action::status, 1);
  done.status = FollowUpStatus::done;
  for (const FollowUpCommand& command : {add_follow_up("more"), assign, redate, done,
                                         follow_up_command(FollowUpCommand::Action::list)}) {
    const auto decision = decided(&closed, command);
    EXPECT_TRUE(decision.ok()) << static_cast<int>(command.action) << ": "
                               << decision.error().message;
  }
}

// ---------------------------------------------------------------- queries and help

TEST(DecideQueries, TimelineAndListAreAnsweredFromTheStore) {
  const Incident current = incident_in(Status::investigating);
  for (const Command& command :
       {Command{TimelineCommand{20}}, Command{ListCommand{true}}, Command{SearchCommand{"pump"}}}) {
    const auto inside = decided(&current, command);
    ASSERT_FALSE(inside.ok());
    EXPECT_EQ(inside.error().code, ErrorCode::invalid_argument);
    const auto outside = decide(nullptr, command, context_in(kGeneral));
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().code, ErrorCode::invalid_argument);
  }
}

TEST(DecideHelp, RepliesPrivatelyWithoutEvents) {
  const auto overview = decide(nullptr, HelpCommand{}, context_in(kGeneral));
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->events.empty());
  EXPECT_TRUE(overview->reply_privately);
  ASSERT_TRUE(overview->reply.has_value());
  EXPECT_EQ(overview->reply->title, "Haveri commands");
  EXPECT_EQ(overview->reply->text, command_help(""));

  const Incident closed = summarised_in(Status::closed);
  const auto topic = decided(&closed, HelpCommand{"status"});
  ASSERT_TRUE(topic.ok());
  EXPECT_TRUE(topic->events.empty());
  ASSERT_TRUE(topic->reply.has_value());
  EXPECT_EQ(topic->reply->title, "Help: status");
  EXPECT_EQ(topic->reply->text, command_help("status"));
}

// Parsing and deciding together: what a user typing in an incident channel gets.
TEST(DecideParsed, TypedCommandsEndToEnd) {
  Incident current = incident_in(Status::investigating);
  current.follow_ups = {follow_up_item(1)};
  const std::vector<std::pair<std::string, EventType>> typed = {
      {"/incident sev sev2", EventType::severity_change},
      {"/incident lead me", EventType::assignment},
      {"/incident title Bearing seized", EventType::title_change},
      {"/incident status mitigated", EventType::status_change},
      {"/incident followup Replace bearing @bob due:+2d", EventType::follow_up},
      {"/incident followup done 1", EventType::follow_up},
  };
  for (const auto& [text, type] : typed) {
    const auto parsed = parse_command(text);
    ASSERT_TRUE(std::holds_alternative<Command>(parsed)) << text;
    const auto decision = decided(&current, std::get<Command>(parsed));
    ASSERT_TRUE(decision.ok()) << text << ": " << decision.error().message;
    ASSERT_EQ(decision->events.size(), 1U) << text;
    EXPECT_EQ(type_of(decision->events[0]), type) << text;
  }
}

// A whole incident, each command decided against the state the previous events left.
class Lifecycle {
 public:
  explicit Lifecycle(const Organization* organization) : organization_(organization) {}

  // Decides `text` typed by `who` at `at` and applies what it decides; returns the reply.
  std::optional<Message> type(const std::string& text, const Actor& who, TimePoint at) {
    const auto parsed = parse_command(text);
    if (!std::holds_alternative<Command>(parsed)) {
      ADD_FAILURE() << text << ": " << std::get<CommandError>(parsed).problem;
      return std::nullopt;
    }
    return run(std::get<Command>(parsed), who, at, text);
  }

  std::optional<Message> submit(const std::string& form,
                                const std::map<std::string, std::string>& values, const Actor& who,
                                TimePoint at) {
    const auto parsed = parse_form_submission(form, values);
    if (!std::holds_alternative<Command>(parsed)) {
      ADD_FAILURE() << form << ": " << std::get<CommandError>(parsed).problem;
      return std::nullopt;
    }
    return run(std::get<Command>(parsed), who, at, form);
  }

  void record(EventPayload payload, TimePoint at) {
    state_ = apply(state_, Event{7, ++sequence_, at, Actor::system(), std::move(payload)});
  }

  const Incident& state() const { return state_; }

 private:
  std::optional<Message> run(const Command& command, const Actor& who, TimePoint at,
                             const std::string& what) {
    const ChannelRef where = state_.channel ? *state_.channel : kGeneral;
    const auto decision = decide(state_.exists() ? &state_ : nullptr, command,
                                 DecisionContext{where, who, at, organization_});
    if (!decision.ok()) {
      ADD_FAILURE() << what << ": " << decision.error().message;
      return std::nullopt;
    }
    for (const EventPayload& payload : decision->events) {
      state_ = apply(state_, Event{7, ++sequence_, at, who, payload});
    }
    return decision->reply;
  }

  const Organization* organization_;
  Incident state_;
  Sequence sequence_ = 0;
};

TEST(Lifecycle, FromDeclarationToClosedWithFollowUps) {
  const Organization organization = acme();
  Lifecycle incident(&organization);
  // An incomplete declaration opens the form; submitting it declares.
  const auto form = incident.type("/incident declare Conveyor 4 jammed", kAna, minute(0));
  ASSERT_TRUE(form.has_value());
  ASSERT_TRUE(form->form.has_value());
  EXPECT_FALSE(incident.state().exists());
  incident.submit("declare",
                  {{"title", "Conveyor 4 jammed"}, {"severity", "sev2"}, {"area", "packing"}}, kAna,
                  minute(1));
  ASSERT_TRUE(incident.state().exists());
  EXPECT_EQ(incident.state().announcements, kAnnouncements);
  incident.record(ChannelLinked{kIncidentChannel}, minute(2));

  incident.type("/incident ack", kBo, minute(5));
  incident.type("/incident lead me", kBo, minute(5));
  incident.type("/incident status investigating", kBo, minute(6));
  incident.submit("triage:7", {{"line_stopped", "yes"}, {"assets", "conveyor-4"}}, kBo, minute(7));
  incident.type("/incident status mitigated", kBo, minute(20));
  const auto resolve = incident.type("/incident status resolved", kBo, minute(30));
  ASSERT_TRUE(resolve.has_value());
  ASSERT_TRUE(resolve->form.has_value());
  EXPECT_EQ(incident.state().status, Status::mitigated);  // not before the summary
  incident.submit(resolve->form->id,
                  {{"what_happened", "Belt jammed"},
                   {"root_cause", "Worn roller"},
                   {"resolution", "Roller replaced"},
                   {"units_lost", "120"}},
                  kBo, minute(35));
  incident.type("/incident close", kBo, minute(40));
  incident.type("/incident followup Replace all rollers @cy due:+1w", kBo, minute(41));
  incident.type("/incident followup start 1", kCy, minute(50));

  const Incident& state = incident.state();
  EXPECT_EQ(state.title, "Conveyor 4 jammed");
  EXPECT_EQ(state.severity, Severity::sev2);
  EXPECT_EQ(state.organization, "acme");
  EXPECT_EQ(state.area, "packing");
  EXPECT_EQ(state.status, Status::closed);
  EXPECT_EQ(state.lead, kBo);
  EXPECT_EQ(state.acknowledged_by, kBo);
  EXPECT_EQ(state.triage.at("line_stopped"), "yes");
  ASSERT_TRUE(state.summary.has_value());
  EXPECT_EQ(state.summary->impact.units_lost, 120);
  ASSERT_EQ(state.follow_ups.size(), 1U);
  EXPECT_EQ(state.follow_ups[0].assignee, (Actor{"cy", "cy"}));
  EXPECT_EQ(state.follow_ups[0].due, minute(41) + std::chrono::minutes{7 * 24 * 60});
  EXPECT_EQ(state.follow_ups[0].status, FollowUpStatus::in_progress);

  const IncidentMetrics metrics = metrics_of(state, minute(1000));
  EXPECT_EQ(metrics.time_to_acknowledge, 4min);  // declared at 1
  EXPECT_EQ(metrics.time_to_mitigate, 19min);
  EXPECT_EQ(metrics.time_to_resolve, 34min);
  const std::array<std::chrono::milliseconds, 5> in_status = {5min, 14min, 15min, 5min, 0min};
  EXPECT_EQ(metrics.time_in_status, in_status);

  // After closing, nothing but follow-ups can change.
  EXPECT_FALSE(decide(&state, NoteCommand{"late"},
                      DecisionContext{kIncidentChannel, kAna, minute(60), &organization})
                   .ok());
}

TEST(SearchReply, ShowsEachHitWithItsPassageBestFirst) {
  SearchHit pump;
  pump.incident = 7;
  pump.title = "Pump 3 down";
  pump.status = Status::resolved;
  pump.severity = Severity::sev2;
  pump.channel = ChannelRef{"local", "inc-7-pump-3-down", "inc-7-pump-3-down"};
  pump.field = "summary";
  pump.snippet = "the **pump** seal failed…";
  SearchHit belt;
  belt.incident = 3;
  belt.title = "Belt slipping";
  belt.field = "message";
  belt.snippet = "…near the **pump** house";
  const Message reply = search_reply("pump", {pump, belt});
  EXPECT_EQ(reply.title, "Search: pump");
  EXPECT_EQ(reply.text,
            "INC-7 · SEV2 · RESOLVED · Pump 3 down · #inc-7-pump-3-down\n"
            "> summary: the **pump** seal failed…\n"
            "INC-3 · SEV3 · DECLARED · Belt slipping\n"
            "> message: …near the **pump** house");
}

TEST(SearchReply, SaysHowToFindMoreWhenNothingMatches) {
  const Message reply = search_reply("\"exact phrase nobody wrote\"", {});
  EXPECT_NE(reply.text.find("Nothing matches"), std::string::npos);
  EXPECT_EQ(search_reply(std::string(300, 'x'), {}).title.size(),
            std::string("Search: ").size() + 80);
}

}  // namespace
}  // namespace haveri::core
