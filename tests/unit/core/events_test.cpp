#include <array>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/events.hpp>

namespace haveri::core {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const ChannelRef kGeneral{"local", "C001", "general"};
const ChannelRef kIncidentChannel{"slack-acme", "C042", "inc-7-überhitzung"};

TimePoint at_ms(std::int64_t ms) {
  return TimePoint{std::chrono::milliseconds{ms}};
}

FollowUpChanged follow_up_change(FollowUpChanged::Change change, std::int64_t number) {
  FollowUpChanged payload;
  payload.change = change;
  payload.number = number;
  return payload;
}

Summary full_summary() {
  Summary summary;
  summary.what_happened = "Belt snapped 🔥\nline stopped";
  summary.root_cause = "Worn bearing \"B2\"";
  summary.resolution = "Replaced bearing";
  summary.impact.duration_minutes = 95;
  summary.impact.lines_affected = 0;
  summary.impact.units_lost = 1'200;
  summary.impact.other = {{"Scrap", "40 kg"}, {"Überstunden", "3 h"}};
  return summary;
}

// The payloads added with forms, follow-ups, cards, nudges and SLAs.
std::vector<EventPayload> every_new_payload() {
  Escalated escalated;
  escalated.policy = "line-down";
  escalated.step = 2;
  escalated.notified = {Actor{"U1", "Ana"}, Actor{"U2", "Bö", "bo"}};
  escalated.team = "shift-a";
  escalated.late = true;
  Escalated nobody;
  nobody.policy = "";
  nobody.team = "";

  AttachmentAdded attachment;
  attachment.file_id = "F123";
  attachment.name = "Foto Förderband.jpg";
  attachment.size = 3'500'000'000;
  attachment.url = "https://files.example/F123?x=1&y=2";
  attachment.mime_type = "image/jpeg";
  attachment.platform_message_id = "1700000000.000100";
  AttachmentAdded bare_attachment;
  bare_attachment.file_id = "";
  bare_attachment.name = "";
  bare_attachment.url = "";
  bare_attachment.mime_type = "";
  bare_attachment.platform_message_id = "";

  FollowUpChanged created = follow_up_change(FollowUpChanged::Change::created, 1);
  created.description = "Replace guard ✓";
  created.assignee = Actor{"U2", "Bo", "bo"};
  created.due = at_ms(1'795'086'400'000);
  FollowUpChanged status = follow_up_change(FollowUpChanged::Change::status, 3);
  status.status = FollowUpStatus::in_progress;
  FollowUpChanged reminded = follow_up_change(FollowUpChanged::Change::reminded, 2);
  reminded.reminder = "overdue";
  FollowUpChanged redated = follow_up_change(FollowUpChanged::Change::redated, 4);
  redated.due = at_ms(-1);
  FollowUpChanged unassigned = follow_up_change(FollowUpChanged::Change::assigned, 5);
  unassigned.status = FollowUpStatus::done;

  Summary minimal;
  minimal.what_happened = "a";
  minimal.root_cause = "b";
  minimal.resolution = "c";

  return {
      escalated,
      nobody,
      attachment,
      bare_attachment,
      BotGuidance{"triage", "1. Is anyone at risk?\n2. Stop the line"},
      BotGuidance{"", ""},
      TriageResponse{{{"line_stopped", "yes"}, {"area", "packing"}, {"impact", "Ünits lost"}}},
      TriageResponse{{}},
      SummaryRecorded{full_summary()},
      SummaryRecorded{minimal},
      created,
      status,
      reminded,
      redated,
      unassigned,
      Closed{Status::resolved},
      Closed{Status::investigating},
      TitleChanged{"Line 3 down", "Line 3 down — bearing 🔥"},
      TitleChanged{"", ""},
      GlobalCardPosted{kGeneral, "1700000000.000200"},
      Nudged{30},
      Nudged{0},
      SlaBreached{"acknowledge", 15},
      SlaBreached{"resolve", 10'080},
  };
}

std::vector<EventPayload> every_payload() {
  std::vector<EventPayload> payloads = {
      Declared{"Überhitzung Ofen 3 🔥 \"hot\"", Severity::sev1, kGeneral},
      Declared{"", Severity::sev3, ChannelRef{}},
      Declared{"Jam",
               Severity::sev2,
               kGeneral,
               "acme",
               "packing",
               {"press-1", "conveyor-4"},
               kIncidentChannel},
      MessagePosted{"line one\nline two ✓", kIncidentChannel, "1700000000.000100"},
      MessagePosted{"", kIncidentChannel, ""},
      MessagePosted{std::string(100, 'x'), kIncidentChannel, "m", true},
      StatusChanged{Status::declared, Status::investigating},
      StatusChanged{Status::resolved, Status::closed},
      ChannelLinked{kIncidentChannel},
      SeverityChanged{Severity::sev3, Severity::sev1},
      SeverityChanged{Severity::sev1, Severity::sev2},
      LeadAssigned{Actor{"U024BE7LH", "Ana Müller"}},
      LeadAssigned{Actor{"alice", "alice"}},
      LeadAssigned{Actor{"U9", "Dora", "dora"}},
      CommsLeadAssigned{Actor{"U2", "Bo"}},
      Acknowledged{},
      Annotation{"fuse replaced\nwatch temps 🔥", std::nullopt},
      Annotation{"see above", Sequence{3}},
      Annotation{"", Sequence{9'007'199'254'740'993}},
      ActionTaken{"restarted conveyor \"B\""},
      ActionTaken{""},
  };
  for (EventPayload& payload : every_new_payload()) {
    payloads.push_back(std::move(payload));
  }
  // Escalation as the engine writes it.
  Escalated full;
  full.policy = "plant-a-sev2";
  full.step = 2;
  full.round = 1;
  full.chain = 4;
  full.due = TimePoint{std::chrono::milliseconds(1'795'514'400'123)};
  full.notified = {Actor{"sam", "Sam", "sam"}, Actor{"", "Pat", "pat"}};
  full.instance = "local";
  full.channels = {kGeneral};
  full.unreachable = {"Pat has no local account"};
  payloads.emplace_back(full);
  EscalationStep step;
  step.step = 1;
  step.round = 0;
  step.due = TimePoint{std::chrono::milliseconds(1'795'514'400'000)};
  step.if_unacknowledged = false;
  step.teams = {"maintenance"};
  step.members = {"sam", "pat"};
  step.team_channels = {"maintenance"};
  payloads.emplace_back(EscalationStarted{"plant-a-sev2", "declared", {step, EscalationStep{}}});
  payloads.emplace_back(EscalationStarted{"", "", {}});
  payloads.emplace_back(EscalationStopped{"plant-a-sev2", "acknowledged", false, 1});
  payloads.emplace_back(EscalationStopped{"x", "replaced", true, 0});
  return payloads;
}

Incident sample_incident();

Incident fully_set_incident() {
  Incident incident = sample_incident();
  incident.lead = Actor{"U1", "Ana"};
  incident.comms_lead = Actor{"U2", "Bö"};
  incident.acknowledged_by = Actor{"U3", "Cy"};
  incident.acknowledged_at = at_ms(1'795'000'060'001);
  return incident;
}

Incident everything_set_incident();

Incident sample_incident() {
  Incident incident;
  incident.id = 7;
  incident.last_sequence = 12;
  incident.title = "Line 3 down — Überhitzung";
  incident.status = Status::mitigated;
  incident.severity = Severity::sev2;
  incident.declared_by = Actor{"U1", "Ana"};
  incident.declared_at = at_ms(1'795'000'000'123);
  incident.updated_at = at_ms(1'795'000'600'999);
  incident.declared_in = kGeneral;
  incident.channel = kIncidentChannel;
  incident.message_count = 5;
  return incident;
}

FollowUp sample_follow_up(std::int64_t number) {
  FollowUp item;
  item.number = number;
  item.description = "Replace guard #" + std::to_string(number);
  item.assignee = Actor{"U2", "Bo", "bo"};
  item.due = at_ms(1'795'086'400'000);
  item.status = FollowUpStatus::in_progress;
  item.created_by = Actor{"U1", "Ana"};
  item.created_at = at_ms(1'795'000'100'000);
  item.updated_at = at_ms(1'795'000'200'000);
  item.last_reminder = "before";
  item.last_reminder_at = at_ms(1'795'000'300'000);
  return item;
}

// Every member of the state set to something other than its default.
Incident everything_set_incident() {
  Incident incident = fully_set_incident();
  incident.organization = "acme";
  incident.area = "packing";
  incident.assets = {"press-1", "conveyor-4"};
  incident.announcements = ChannelRef{"slack-acme", "C900", "incidents"};
  incident.global_card = PostedMessage{ChannelRef{"slack-acme", "C900", "incidents"}, "17.5"};
  incident.triage = {{"line_stopped", "yes"}, {"impact", "Ünits"}};
  incident.attachment_count = 3;
  incident.summary = full_summary();
  FollowUp bare;
  bare.number = 2;
  bare.description = "";
  bare.created_by = Actor{"U3", "Cy"};
  incident.follow_ups = {sample_follow_up(1), bare};
  incident.status_since = at_ms(1'795'000'500'000);
  incident.ms_in_status = {60'000, 120'000, 0, 5, 9'000'000'000'000};
  incident.mitigated_at = at_ms(1'795'000'400'000);
  incident.resolved_at = at_ms(1'795'000'450'000);
  incident.closed_at = at_ms(1'795'000'460'000);
  incident.last_update_at = at_ms(1'795'000'470'000);
  incident.last_nudge_at = at_ms(1'795'000'480'000);
  incident.acknowledge_sla_breached = true;
  incident.resolve_sla_breached = true;
  return incident;
}

constexpr std::array kAllTypes = {EventType::declared,
                                  EventType::message,
                                  EventType::status_change,
                                  EventType::channel_linked,
                                  EventType::severity_change,
                                  EventType::assignment,
                                  EventType::comms_assignment,
                                  EventType::acknowledgement,
                                  EventType::annotation,
                                  EventType::action_taken,
                                  EventType::escalation,
                                  EventType::attachment,
                                  EventType::bot_guidance,
                                  EventType::triage_response,
                                  EventType::summary,
                                  EventType::follow_up,
                                  EventType::closed,
                                  EventType::title_change,
                                  EventType::global_card_posted,
                                  EventType::nudge,
                                  EventType::sla_breach,
                                  EventType::escalation_started,
                                  EventType::escalation_stopped};

TEST(EventType, NamesRoundTripAndAreStable) {
  const std::vector<std::string_view> names = {"declared",
                                               "message",
                                               "status_change",
                                               "channel_linked",
                                               "severity_change",
                                               "assignment",
                                               "comms_assignment",
                                               "acknowledgement",
                                               "annotation",
                                               "action_taken",
                                               "escalation",
                                               "attachment",
                                               "bot_guidance",
                                               "triage_response",
                                               "summary",
                                               "follow_up",
                                               "closed",
                                               "title_change",
                                               "global_card_posted",
                                               "nudge",
                                               "sla_breach",
                                               "escalation_started",
                                               "escalation_stopped"};
  ASSERT_EQ(names.size(), kAllTypes.size());
  for (std::size_t i = 0; i < kAllTypes.size(); ++i) {
    EXPECT_EQ(to_string(kAllTypes[i]), names[i]);
    EXPECT_EQ(parse_event_type(names[i]), kAllTypes[i]) << names[i];
  }
  for (const std::string_view text :
       {"", "Declared", "MESSAGE", "status", "close", "note", "Annotation", "ack", "action", "lead",
        "followup", "follow-up", "Closed", "sla", "nudge ", "title"}) {
    EXPECT_EQ(parse_event_type(text), std::nullopt) << text;
  }
}

TEST(EventType, EveryPayloadOfTheSampleSetIsCoveredAndTypedRight) {
  std::set<EventType> seen;
  for (const EventPayload& payload : every_payload()) {
    seen.insert(type_of(payload));
  }
  EXPECT_EQ(seen.size(), kAllTypes.size());
  EXPECT_EQ(type_of(Escalated{}), EventType::escalation);
  EXPECT_EQ(type_of(AttachmentAdded{}), EventType::attachment);
  EXPECT_EQ(type_of(BotGuidance{}), EventType::bot_guidance);
  EXPECT_EQ(type_of(TriageResponse{}), EventType::triage_response);
  EXPECT_EQ(type_of(SummaryRecorded{}), EventType::summary);
  EXPECT_EQ(type_of(FollowUpChanged{}), EventType::follow_up);
  EXPECT_EQ(type_of(Closed{}), EventType::closed);
  EXPECT_EQ(type_of(TitleChanged{}), EventType::title_change);
  EXPECT_EQ(type_of(GlobalCardPosted{}), EventType::global_card_posted);
  EXPECT_EQ(type_of(Nudged{}), EventType::nudge);
  EXPECT_EQ(type_of(SlaBreached{}), EventType::sla_breach);
}

TEST(FollowUpChangeNames, AreStable) {
  EXPECT_EQ(to_string(FollowUpChanged::Change::created), "created");
  EXPECT_EQ(to_string(FollowUpChanged::Change::assigned), "assigned");
  EXPECT_EQ(to_string(FollowUpChanged::Change::redated), "redated");
  EXPECT_EQ(to_string(FollowUpChanged::Change::status), "status");
  EXPECT_EQ(to_string(FollowUpChanged::Change::reminded), "reminded");
}

TEST(EventType, OfEachPayload) {
  EXPECT_EQ(type_of(Declared{}), EventType::declared);
  EXPECT_EQ(type_of(MessagePosted{}), EventType::message);
  EXPECT_EQ(type_of(StatusChanged{}), EventType::status_change);
  EXPECT_EQ(type_of(ChannelLinked{}), EventType::channel_linked);
  const Event e{1, 1, TimePoint{}, Actor::system(), ChannelLinked{}};
  EXPECT_EQ(e.type(), EventType::channel_linked);
}

TEST(PayloadJson, DocumentedForms) {
  EXPECT_EQ(payload_to_json(Declared{"Line 3 down", Severity::sev1, kGeneral}),
            json::parse(R"({"title":"Line 3 down","severity":"SEV1",
                            "declared_in":{"instance":"local","id":"C001","name":"general"},
                            "organization":"","area":"","assets":[],"announcements":null})"));
  EXPECT_EQ(payload_to_json(Declared{
                "Jam", Severity::sev2, kGeneral, "acme", "packing", {"press-1"}, kGeneral}),
            json::parse(R"({"title":"Jam","severity":"SEV2",
                            "declared_in":{"instance":"local","id":"C001","name":"general"},
                            "organization":"acme","area":"packing","assets":["press-1"],
                            "announcements":{"instance":"local","id":"C001","name":"general"}})"));
  EXPECT_EQ(payload_to_json(MessagePosted{"hi", kGeneral, "m1"}),
            json::parse(R"({"text":"hi","platform_message_id":"m1","truncated":false,
                            "channel":{"instance":"local","id":"C001","name":"general"}})"));
  EXPECT_EQ(payload_to_json(StatusChanged{Status::declared, Status::investigating}),
            json::parse(R"({"from":"DECLARED","to":"INVESTIGATING"})"));
  EXPECT_EQ(payload_to_json(ChannelLinked{kGeneral}),
            json::parse(R"({"channel":{"instance":"local","id":"C001","name":"general"}})"));
}

TEST(PayloadJson, EveryPayloadRoundTripsThroughText) {
  for (const EventPayload& payload : every_payload()) {
    const std::string text = payload_to_json(payload).dump();
    const auto back = payload_from_json(type_of(payload), json::parse(text));
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_EQ(back.value(), payload) << text;
  }
}

TEST(PayloadJson, IgnoresUnknownFields) {
  json j = payload_to_json(StatusChanged{Status::mitigated, Status::resolved});
  j["reason"] = "fixed";
  j["v"] = 2;
  const auto back = payload_from_json(EventType::status_change, j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), (EventPayload{StatusChanged{Status::mitigated, Status::resolved}}));
}

TEST(PayloadJson, AcceptsLowerCaseEnumValues) {
  const auto back =
      payload_from_json(EventType::status_change, json{{"from", "declared"}, {"to", "closed"}});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), (EventPayload{StatusChanged{Status::declared, Status::closed}}));
}

struct MalformedPayload {
  std::string name;
  EventType type;
  json payload;
  std::string mentions;  // the error message names this
};

void PrintTo(const MalformedPayload& c, std::ostream* os) {
  *os << c.name;
}

class PayloadFromJsonRejects : public ::testing::TestWithParam<MalformedPayload> {};

TEST_P(PayloadFromJsonRejects, WithAnErrorNeverAnException) {
  const MalformedPayload& c = GetParam();
  std::optional<Result<EventPayload>> result;
  EXPECT_NO_THROW(result.emplace(payload_from_json(c.type, c.payload)));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok()) << c.payload.dump();
  EXPECT_EQ(result->error().code, ErrorCode::invalid_argument);
  EXPECT_NE(result->error().message.find(c.mentions), std::string::npos) << result->error().message;
}

json channel_json() {
  return json{{"instance", "local"}, {"id", "C1"}, {"name", "general"}};
}

json declared_json() {
  return json{{"title", "t"}, {"severity", "SEV1"}, {"declared_in", channel_json()}};
}

json without(json j, const std::string& key) {
  j.erase(key);
  return j;
}

json with(json j, const std::string& key, json value) {
  j[key] = std::move(value);
  return j;
}

json message_json() {
  return json{{"text", "hi"}, {"channel", channel_json()}, {"platform_message_id", "m"}};
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, PayloadFromJsonRejects,
    ::testing::Values(
        MalformedPayload{"null", EventType::declared, json(nullptr), "object"},
        MalformedPayload{"array", EventType::message, json::array({1, 2}), "object"},
        MalformedPayload{"string", EventType::status_change, json("DECLARED"), "object"},
        MalformedPayload{"number", EventType::channel_linked, json(3), "object"},
        MalformedPayload{"declared_no_title", EventType::declared,
                         without(declared_json(), "title"), "\"title\" is missing"},
        MalformedPayload{"declared_title_number", EventType::declared,
                         with(declared_json(), "title", 5), "\"title\" must be a string"},
        MalformedPayload{"declared_no_severity", EventType::declared,
                         without(declared_json(), "severity"), "severity"},
        MalformedPayload{"declared_sev9", EventType::declared,
                         with(declared_json(), "severity", "SEV9"), "SEV9"},
        MalformedPayload{"declared_severity_int", EventType::declared,
                         with(declared_json(), "severity", 1), "severity"},
        MalformedPayload{"declared_no_channel", EventType::declared,
                         without(declared_json(), "declared_in"), "declared_in"},
        MalformedPayload{"declared_channel_string", EventType::declared,
                         with(declared_json(), "declared_in", "general"), "declared_in"},
        MalformedPayload{"declared_channel_no_id", EventType::declared,
                         with(declared_json(), "declared_in", without(channel_json(), "id")),
                         "declared_in.id"},
        MalformedPayload{
            "declared_channel_name_null", EventType::declared,
            with(declared_json(), "declared_in", with(channel_json(), "name", nullptr)),
            "declared_in.name"},
        MalformedPayload{"message_no_text", EventType::message, without(message_json(), "text"),
                         "text"},
        MalformedPayload{"message_text_array", EventType::message,
                         with(message_json(), "text", json::array()), "text"},
        MalformedPayload{"message_no_platform_id", EventType::message,
                         without(message_json(), "platform_message_id"), "platform_message_id"},
        MalformedPayload{"message_platform_id_number", EventType::message,
                         with(message_json(), "platform_message_id", 17), "platform_message_id"},
        MalformedPayload{"message_channel_instance_bool", EventType::message,
                         with(message_json(), "channel", with(channel_json(), "instance", true)),
                         "channel.instance"},
        MalformedPayload{"status_no_to", EventType::status_change, json{{"from", "DECLARED"}},
                         "\"to\" is missing"},
        MalformedPayload{"status_unknown_from", EventType::status_change,
                         json{{"from", "OPEN"}, {"to", "CLOSED"}}, "OPEN"},
        MalformedPayload{"status_to_number", EventType::status_change,
                         json{{"from", "DECLARED"}, {"to", 2}}, "to"},
        MalformedPayload{"linked_empty", EventType::channel_linked, json::object(), "channel"},
        MalformedPayload{"linked_channel_array", EventType::channel_linked,
                         json{{"channel", json::array()}}, "channel"}),
    [](const ::testing::TestParamInfo<MalformedPayload>& param_info) {
      return param_info.param.name;
    });

TEST(PayloadFromJson, AnUnknownTypeIsAnErrorNotACrash) {
  const auto result = payload_from_json(static_cast<EventType>(999), json::object());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(to_string(static_cast<EventType>(999)), "unknown");
}

TEST(PayloadFromJson, NamesTheEventTypeInTheError) {
  const auto result = payload_from_json(EventType::message, json::object());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("message"), std::string::npos);
}

TEST(EventJson, Envelope) {
  const Event e{7, 2, at_ms(1'795'000'000'123), Actor{"U1", "Ana"},
                MessagePosted{"hi", kGeneral, "m1"}};
  const json expected = {
      {"incident", 7},
      {"sequence", 2},
      {"type", "message"},
      {"at", format_time(at_ms(1'795'000'000'123))},
      {"actor", {{"id", "U1"}, {"name", "Ana"}}},
      {"payload", payload_to_json(e.payload)},
  };
  EXPECT_EQ(event_to_json(e), expected);
  EXPECT_EQ(event_to_json(e).at("at").get<std::string>().back(), 'Z');
}

TEST(EventJson, EnvelopeTypeMatchesPayloadForEveryType) {
  for (const EventPayload& payload : every_payload()) {
    const Event e{1, 1, TimePoint{}, Actor::system(), payload};
    const json j = event_to_json(e);
    EXPECT_EQ(parse_event_type(j.at("type").get<std::string>()), type_of(payload));
    const auto back = payload_from_json(type_of(payload), j.at("payload"));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value(), payload);
  }
}

TEST(IncidentJson, DocumentedForm) {
  const json j = incident_to_json(sample_incident());
  EXPECT_EQ(j.at("id"), 7);
  EXPECT_EQ(j.at("last_sequence"), 12);
  EXPECT_EQ(j.at("status"), "MITIGATED");
  EXPECT_EQ(j.at("severity"), "SEV2");
  EXPECT_EQ(j.at("declared_by"), (json{{"id", "U1"}, {"name", "Ana"}}));
  EXPECT_EQ(j.at("declared_at"), format_time(at_ms(1'795'000'000'123)));
  EXPECT_EQ(j.at("declared_in"), channel_to_json(kGeneral));
  EXPECT_EQ(j.at("channel"), channel_to_json(kIncidentChannel));
  EXPECT_EQ(j.at("message_count"), 5);
  EXPECT_EQ(j.at("lead"), nullptr);
  EXPECT_EQ(j.at("comms_lead"), nullptr);
  EXPECT_EQ(j.at("acknowledged_by"), nullptr);
  EXPECT_EQ(j.at("acknowledged_at"), nullptr);
  // The members added with directories, forms, follow-ups, cards and metrics.
  EXPECT_EQ(j.at("organization"), "");
  EXPECT_EQ(j.at("area"), "");
  EXPECT_EQ(j.at("assets"), json::array());
  EXPECT_EQ(j.at("announcements"), nullptr);
  EXPECT_EQ(j.at("global_card"), nullptr);
  EXPECT_EQ(j.at("triage"), json::object());
  EXPECT_EQ(j.at("attachment_count"), 0);
  EXPECT_EQ(j.at("summary"), nullptr);
  EXPECT_EQ(j.at("follow_ups"), json::array());
  EXPECT_EQ(j.at("status_since"), format_time(TimePoint{}));
  EXPECT_EQ(j.at("ms_in_status"), (json{0, 0, 0, 0, 0}));
  EXPECT_EQ(j.at("mitigated_at"), nullptr);
  EXPECT_EQ(j.at("resolved_at"), nullptr);
  EXPECT_EQ(j.at("closed_at"), nullptr);
  EXPECT_EQ(j.at("last_update_at"), format_time(TimePoint{}));
  EXPECT_EQ(j.at("last_nudge_at"), nullptr);
  EXPECT_EQ(j.at("acknowledge_sla_breached"), false);
  EXPECT_EQ(j.at("resolve_sla_breached"), false);
  EXPECT_EQ(j.at("escalation"), nullptr);
  EXPECT_EQ(j.size(), 34U);
}

TEST(IncidentJson, UnlinkedChannelIsNull) {
  Incident incident = sample_incident();
  incident.channel.reset();
  const json j = incident_to_json(incident);
  ASSERT_TRUE(j.contains("channel"));
  EXPECT_TRUE(j.at("channel").is_null());
}

TEST(IncidentJson, RoundTripsExactly) {
  Incident unlinked = sample_incident();
  unlinked.channel.reset();
  Incident before_epoch = sample_incident();
  before_epoch.declared_at = at_ms(-1);
  for (const Incident& incident :
       {sample_incident(), unlinked, before_epoch, Incident{}, everything_set_incident()}) {
    const std::string text = incident_to_json(incident).dump();
    const auto back = incident_from_json(json::parse(text));
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_EQ(back.value(), incident) << text;
  }
}

struct MalformedIncident {
  std::string name;
  json input;
  std::string mentions;  // the error message names this
};

void PrintTo(const MalformedIncident& c, std::ostream* os) {
  *os << c.name;
}

class IncidentFromJsonRejects : public ::testing::TestWithParam<MalformedIncident> {};

TEST_P(IncidentFromJsonRejects, WithAnErrorNeverAnException) {
  const auto& [name, input, mentions] = GetParam();
  std::optional<Result<Incident>> result;
  EXPECT_NO_THROW(result.emplace(incident_from_json(input)));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok()) << input.dump();
  EXPECT_EQ(result->error().code, ErrorCode::invalid_argument);
  EXPECT_NE(result->error().message.find(mentions), std::string::npos) << result->error().message;
}

json incident_with(const std::string& key, json value) {
  json j = incident_to_json(sample_incident());
  j[key] = std::move(value);
  return j;
}

json incident_without(const std::string& key) {
  json j = incident_to_json(sample_incident());
  j.erase(key);
  return j;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, IncidentFromJsonRejects,
    ::testing::Values(
        MalformedIncident{"null", json(nullptr), "object"},
        MalformedIncident{"array", json::array(), "object"},
        MalformedIncident{"no_id", incident_without("id"), "\"id\" is missing"},
        MalformedIncident{"no_message_count", incident_without("message_count"), "message_count"},
        MalformedIncident{"no_channel", incident_without("channel"), "\"channel\" is missing"},
        MalformedIncident{"id_string", incident_with("id", "7"), "\"id\" must be an integer"},
        MalformedIncident{"id_float", incident_with("id", 7.5), "id"},
        MalformedIncident{"id_too_big",
                          incident_with("id", std::uint64_t{18'000'000'000'000'000'000ULL}),
                          "out of range"},
        MalformedIncident{"last_sequence_bool", incident_with("last_sequence", true),
                          "last_sequence"},
        MalformedIncident{"title_null", incident_with("title", nullptr), "title"},
        MalformedIncident{"status_unknown", incident_with("status", "OPEN"), "status"},
        MalformedIncident{"severity_unknown", incident_with("severity", "SEV0"), "severity"},
        MalformedIncident{"declared_by_string", incident_with("declared_by", "Ana"), "declared_by"},
        MalformedIncident{"declared_by_no_name", incident_with("declared_by", json{{"id", "U1"}}),
                          "declared_by.name"},
        MalformedIncident{"declared_at_garbage", incident_with("declared_at", "yesterday"),
                          "declared_at"},
        MalformedIncident{"updated_at_number", incident_with("updated_at", 1795000000123),
                          "updated_at"},
        MalformedIncident{"declared_in_empty", incident_with("declared_in", json::object()),
                          "declared_in."},
        MalformedIncident{"channel_string", incident_with("channel", "C042"), "channel"},
        MalformedIncident{"channel_no_name",
                          incident_with("channel", json{{"instance", "x"}, {"id", "y"}}),
                          "channel.name"}),
    [](const ::testing::TestParamInfo<MalformedIncident>& param_info) {
      return param_info.param.name;
    });

TEST(EventType, OfEachNewPayload) {
  EXPECT_EQ(type_of(SeverityChanged{}), EventType::severity_change);
  EXPECT_EQ(type_of(LeadAssigned{}), EventType::assignment);
  EXPECT_EQ(type_of(CommsLeadAssigned{}), EventType::comms_assignment);
  EXPECT_EQ(type_of(Acknowledged{}), EventType::acknowledgement);
  EXPECT_EQ(type_of(Annotation{}), EventType::annotation);
  EXPECT_EQ(type_of(ActionTaken{}), EventType::action_taken);
}

TEST(PayloadJson, DocumentedFormsOfTheNewTypes) {
  EXPECT_EQ(payload_to_json(SeverityChanged{Severity::sev3, Severity::sev1}),
            json::parse(R"({"from":"SEV3","to":"SEV1"})"));
  EXPECT_EQ(payload_to_json(LeadAssigned{Actor{"U1", "Ana"}}),
            json::parse(R"({"lead":{"id":"U1","name":"Ana"}})"));
  EXPECT_EQ(payload_to_json(CommsLeadAssigned{Actor{"U2", "Bo"}}),
            json::parse(R"({"comms_lead":{"id":"U2","name":"Bo"}})"));
  EXPECT_EQ(payload_to_json(Acknowledged{}), json::object());
  EXPECT_EQ(payload_to_json(Acknowledged{}).dump(), "{}");
  EXPECT_EQ(payload_to_json(Annotation{"fuse replaced", Sequence{4}}),
            json::parse(R"({"text":"fuse replaced","refers_to_sequence":4})"));
  EXPECT_EQ(payload_to_json(Annotation{"fuse replaced", std::nullopt}),
            json::parse(R"({"text":"fuse replaced","refers_to_sequence":null})"));
  EXPECT_EQ(payload_to_json(ActionTaken{"restarted"}), json::parse(R"({"text":"restarted"})"));
}

TEST(PayloadJson, AnnotationWithoutReferenceMayOmitIt) {
  const auto back = payload_from_json(EventType::annotation, json{{"text", "hi"}});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), (EventPayload{Annotation{"hi", std::nullopt}}));
}

TEST(PayloadJson, AcknowledgementIgnoresUnknownMembers) {
  const auto back = payload_from_json(EventType::acknowledgement, json{{"via", "button"}});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), (EventPayload{Acknowledged{}}));
}

json actor_json() {
  return json{{"id", "U1"}, {"name", "Ana"}};
}

INSTANTIATE_TEST_SUITE_P(
    MalformedNewTypes, PayloadFromJsonRejects,
    ::testing::Values(
        MalformedPayload{"severity_no_from", EventType::severity_change, json{{"to", "SEV1"}},
                         "\"from\" is missing"},
        MalformedPayload{"severity_unknown", EventType::severity_change,
                         json{{"from", "SEV3"}, {"to", "SEV9"}}, "SEV9"},
        MalformedPayload{"severity_number", EventType::severity_change,
                         json{{"from", 3}, {"to", "SEV1"}}, "\"from\" must be a string"},
        MalformedPayload{"severity_status", EventType::severity_change,
                         json{{"from", "SEV3"}, {"to", "CLOSED"}}, "to"},
        MalformedPayload{"assignment_no_lead", EventType::assignment, json::object(),
                         "\"lead\" is missing"},
        MalformedPayload{"assignment_lead_string", EventType::assignment, json{{"lead", "U1"}},
                         "\"lead\" must be an object"},
        MalformedPayload{"assignment_lead_no_name", EventType::assignment,
                         json{{"lead", json{{"id", "U1"}}}}, "lead.name"},
        MalformedPayload{"assignment_lead_id_number", EventType::assignment,
                         json{{"lead", json{{"id", 1}, {"name", "Ana"}}}}, "lead.id"},
        MalformedPayload{"assignment_uses_comms_key", EventType::assignment,
                         json{{"comms_lead", actor_json()}}, "\"lead\" is missing"},
        MalformedPayload{"comms_no_comms_lead", EventType::comms_assignment,
                         json{{"lead", actor_json()}}, "comms_lead"},
        MalformedPayload{"comms_null", EventType::comms_assignment, json{{"comms_lead", nullptr}},
                         "comms_lead"},
        MalformedPayload{"ack_array", EventType::acknowledgement, json::array(), "object"},
        MalformedPayload{"ack_null", EventType::acknowledgement, json(nullptr), "object"},
        MalformedPayload{"annotation_no_text", EventType::annotation,
                         json{{"refers_to_sequence", 2}}, "\"text\" is missing"},
        MalformedPayload{"annotation_text_number", EventType::annotation, json{{"text", 5}},
                         "\"text\" must be a string"},
        MalformedPayload{"annotation_ref_string", EventType::annotation,
                         json{{"text", "t"}, {"refers_to_sequence", "2"}}, "refers_to_sequence"},
        MalformedPayload{"annotation_ref_float", EventType::annotation,
                         json{{"text", "t"}, {"refers_to_sequence", 2.5}}, "refers_to_sequence"},
        MalformedPayload{"annotation_ref_zero", EventType::annotation,
                         json{{"text", "t"}, {"refers_to_sequence", 0}}, "1 or more"},
        MalformedPayload{"annotation_ref_negative", EventType::annotation,
                         json{{"text", "t"}, {"refers_to_sequence", -4}}, "refers_to_sequence"},
        MalformedPayload{"annotation_ref_too_big", EventType::annotation,
                         json{{"text", "t"},
                              {"refers_to_sequence", std::uint64_t{18'000'000'000'000'000'000ULL}}},
                         "out of range"},
        MalformedPayload{"action_no_text", EventType::action_taken, json::object(), "text"},
        MalformedPayload{"action_text_null", EventType::action_taken, json{{"text", nullptr}},
                         "text"},
        MalformedPayload{"action_string", EventType::action_taken, json("restarted"), "object"}),
    [](const ::testing::TestParamInfo<MalformedPayload>& param_info) {
      return param_info.param.name;
    });

TEST(PayloadFromJson, NamesTheNewEventTypeInTheError) {
  const auto result = payload_from_json(EventType::comms_assignment, json::object());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.rfind("invalid \"comms_assignment\" event payload", 0), 0U)
      << result.error().message;
}

TEST(IncidentJson, EveryOptionalSetHasItsDocumentedForm) {
  const json j = incident_to_json(fully_set_incident());
  EXPECT_EQ(j.at("lead"), (json{{"id", "U1"}, {"name", "Ana"}}));
  EXPECT_EQ(j.at("comms_lead"), (json{{"id", "U2"}, {"name", "Bö"}}));
  EXPECT_EQ(j.at("acknowledged_by"), (json{{"id", "U3"}, {"name", "Cy"}}));
  EXPECT_EQ(j.at("acknowledged_at"), format_time(at_ms(1'795'000'060'001)));
}

TEST(IncidentJson, RoundTripsExactlyWithEveryOptionalSetOrUnset) {
  std::vector<Incident> incidents = {fully_set_incident(), sample_incident()};
  // Each optional set alone, and each unset alone.
  for (int i = 0; i < 4; ++i) {
    Incident alone = sample_incident();
    Incident missing_one = fully_set_incident();
    const Incident full = fully_set_incident();
    switch (i) {
      case 0:
        alone.lead = full.lead;
        missing_one.lead.reset();
        break;
      case 1:
        alone.comms_lead = full.comms_lead;
        missing_one.comms_lead.reset();
        break;
      case 2:
        alone.acknowledged_by = full.acknowledged_by;
        missing_one.acknowledged_by.reset();
        break;
      default:
        alone.acknowledged_at = full.acknowledged_at;
        missing_one.acknowledged_at.reset();
        break;
    }
    incidents.push_back(alone);
    incidents.push_back(missing_one);
  }
  for (const Incident& incident : incidents) {
    const std::string text = incident_to_json(incident).dump();
    const auto back = incident_from_json(json::parse(text));
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_EQ(back.value(), incident) << text;
    EXPECT_EQ(incident_to_json(back.value()).dump(), text);
  }
}

TEST(IncidentJson, ASnapshotFromBeforeTheNewMembersReadsThemAsAbsent) {
  json j = incident_to_json(fully_set_incident());
  for (const char* key : {"lead", "comms_lead", "acknowledged_by", "acknowledged_at"}) {
    j.erase(key);
  }
  const auto back = incident_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), sample_incident());
}

INSTANTIATE_TEST_SUITE_P(
    MalformedNewMembers, IncidentFromJsonRejects,
    ::testing::Values(
        MalformedIncident{"lead_string", incident_with("lead", "Ana"),
                          "\"lead\" must be an object"},
        MalformedIncident{"lead_no_id", incident_with("lead", json{{"name", "Ana"}}), "lead.id"},
        MalformedIncident{"comms_lead_array", incident_with("comms_lead", json::array()),
                          "comms_lead"},
        MalformedIncident{"acknowledged_by_number", incident_with("acknowledged_by", 3),
                          "acknowledged_by"},
        MalformedIncident{"acknowledged_at_garbage", incident_with("acknowledged_at", "just now"),
                          "acknowledged_at"},
        MalformedIncident{"acknowledged_at_number", incident_with("acknowledged_at", 1795000000123),
                          "acknowledged_at"}),
    [](const ::testing::TestParamInfo<MalformedIncident>& param_info) {
      return param_info.param.name;
    });

TEST(ChannelAndActorJson, Forms) {
  EXPECT_EQ(channel_to_json(kGeneral),
            (json{{"instance", "local"}, {"id", "C001"}, {"name", "general"}}));
  EXPECT_EQ(actor_to_json(Actor{"U1", "Ana"}), (json{{"id", "U1"}, {"name", "Ana"}}));
}

TEST(ChannelAndActorJson, MemberIsWrittenOnlyWhenKnownAndReadBack) {
  EXPECT_EQ(actor_to_json(Actor{"U1", "Ana", "ana"}),
            (json{{"id", "U1"}, {"name", "Ana"}, {"member", "ana"}}));
  const auto with_member = payload_from_json(
      EventType::assignment, json{{"lead", {{"id", "U1"}, {"name", "Ana"}, {"member", "ana"}}}});
  ASSERT_TRUE(with_member.ok()) << with_member.error().message;
  EXPECT_EQ(std::get<LeadAssigned>(with_member.value()).lead, (Actor{"U1", "Ana", "ana"}));
  const auto bad_member = payload_from_json(
      EventType::assignment, json{{"lead", {{"id", "U1"}, {"name", "Ana"}, {"member", 7}}}});
  ASSERT_FALSE(bad_member.ok());
  EXPECT_NE(bad_member.error().message.find("lead.member"), std::string::npos)
      << bad_member.error().message;
}

// ---------------------------------------------------------------- payloads added with forms

TEST(PayloadJson, DocumentedFormsOfThePayloadsAddedWithForms) {
  const std::vector<EventPayload> payloads = every_new_payload();
  const std::vector<json> expected = {
      json::parse(R"({"policy":"line-down","step":2,"team":"shift-a","late":true,
                      "notified":[{"id":"U1","name":"Ana"},{"id":"U2","name":"Bö","member":"bo"}],
                      "round":0,"chain":0,"due":null,"instance":"","channels":[],
                      "unreachable":[]})"),
      json::parse(R"({"policy":"","step":0,"team":"","late":false,"notified":[],"round":0,
                      "chain":0,"due":null,"instance":"","channels":[],"unreachable":[]})"),
      json::parse(R"({"file_id":"F123","name":"Foto Förderband.jpg","size":3500000000,
                      "url":"https://files.example/F123?x=1&y=2","mime_type":"image/jpeg",
                      "platform_message_id":"1700000000.000100"})"),
      json::parse(R"({"file_id":"","name":"","size":0,"url":"","mime_type":"",
                      "platform_message_id":""})"),
      json::parse(R"({"topic":"triage","text":"1. Is anyone at risk?\n2. Stop the line"})"),
      json::parse(R"({"topic":"","text":""})"),
      json::parse(R"({"answers":{"area":"packing","impact":"Ünits lost","line_stopped":"yes"}})"),
      json::parse(R"({"answers":{}})"),
      json::parse(R"({"what_happened":"Belt snapped 🔥\nline stopped",
                      "root_cause":"Worn bearing \"B2\"","resolution":"Replaced bearing",
                      "impact":{"duration_minutes":95,"lines_affected":0,"units_lost":1200,
                                "other":{"Scrap":"40 kg","Überstunden":"3 h"}}})"),
      json::parse(R"({"what_happened":"a","root_cause":"b","resolution":"c",
                      "impact":{"duration_minutes":null,"lines_affected":null,
                                "units_lost":null,"other":{}}})"),
      json::parse(R"({"change":"created","number":1,"description":"Replace guard ✓",
                      "assignee":{"id":"U2","name":"Bo","member":"bo"},
                      "due":"2026-11-19T11:06:40.000Z","status":"OPEN","reminder":""})"),
      json::parse(R"({"change":"status","number":3,"description":"","assignee":null,"due":null,
                      "status":"IN_PROGRESS","reminder":""})"),
      json::parse(R"({"change":"reminded","number":2,"description":"","assignee":null,
                      "due":null,"status":"OPEN","reminder":"overdue"})"),
      json::parse(R"({"change":"redated","number":4,"description":"","assignee":null,
                      "due":"1969-12-31T23:59:59.999Z","status":"OPEN","reminder":""})"),
      json::parse(R"({"change":"assigned","number":5,"description":"","assignee":null,
                      "due":null,"status":"DONE","reminder":""})"),
      json::parse(R"({"from":"RESOLVED"})"),
      json::parse(R"({"from":"INVESTIGATING"})"),
      json::parse(R"({"from":"Line 3 down","to":"Line 3 down — bearing 🔥"})"),
      json::parse(R"({"from":"","to":""})"),
      json::parse(R"({"channel":{"instance":"local","id":"C001","name":"general"},
                      "message_id":"1700000000.000200"})"),
      json::parse(R"({"quiet_minutes":30})"),
      json::parse(R"({"quiet_minutes":0})"),
      json::parse(R"({"target":"acknowledge","target_minutes":15})"),
      json::parse(R"({"target":"resolve","target_minutes":10080})"),
  };
  ASSERT_EQ(payloads.size(), expected.size());
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(payload_to_json(payloads[i]), expected[i]) << to_string(type_of(payloads[i]));
  }
}

TEST(PayloadJson, ADeclaredPayloadWrittenBeforeDirectoriesStillReads) {
  const auto back = payload_from_json(EventType::declared,
                                      json::parse(R"({"title":"Line 3 down","severity":"SEV1",
                      "declared_in":{"instance":"local","id":"C001","name":"general"}})"));
  ASSERT_TRUE(back.ok()) << back.error().message;
  const Declared expected{"Line 3 down", Severity::sev1, kGeneral};
  EXPECT_EQ(back.value(), EventPayload{expected});
  const auto& declared = std::get<Declared>(back.value());
  EXPECT_EQ(declared.organization, "");
  EXPECT_EQ(declared.area, "");
  EXPECT_TRUE(declared.assets.empty());
  EXPECT_EQ(declared.announcements, std::nullopt);
}

TEST(PayloadJson, AMessageWrittenBeforeTruncationStillReads) {
  const auto back = payload_from_json(
      EventType::message,
      json{{"text", "hi"}, {"channel", channel_to_json(kGeneral)}, {"platform_message_id", "m1"}});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), (EventPayload{MessagePosted{"hi", kGeneral, "m1", false}}));
}

TEST(PayloadJson, AnImpactWithoutNumbersOrOtherReadsThemAsAbsent) {
  const auto back = payload_from_json(
      EventType::summary,
      json::parse(R"({"what_happened":"a","root_cause":"b","resolution":"c","impact":{}})"));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(std::get<SummaryRecorded>(back.value()).summary.impact, Impact{});
}

TEST(PayloadJson, AFollowUpPayloadWithNullAssigneeAndDueReadsThemAsAbsent) {
  const auto back = payload_from_json(
      EventType::follow_up,
      json::parse(R"({"change":"created","number":1,"description":"d","assignee":null,
                      "due":null,"status":"open","reminder":""})"));
  ASSERT_TRUE(back.ok()) << back.error().message;
  const auto& change = std::get<FollowUpChanged>(back.value());
  EXPECT_EQ(change.assignee, std::nullopt);
  EXPECT_EQ(change.due, std::nullopt);
  EXPECT_EQ(change.status, FollowUpStatus::open);  // statuses read case-insensitively
}

json escalation_json() {
  return json::parse(R"({"policy":"p","step":1,"notified":[{"id":"U1","name":"Ana"}],
                         "team":"t","late":false})");
}
json attachment_json() {
  return json::parse(R"({"file_id":"F","name":"n","size":1,"url":"u","mime_type":"",
                         "platform_message_id":"m"})");
}
json summary_json() {
  return json::parse(R"({"what_happened":"a","root_cause":"b","resolution":"c",
                         "impact":{"duration_minutes":1,"lines_affected":null,"other":{}}})");
}
json follow_up_change_json() {
  return json::parse(R"({"change":"created","number":1,"description":"d","assignee":null,
                         "due":null,"status":"OPEN","reminder":""})");
}

INSTANTIATE_TEST_SUITE_P(
    MalformedAddedTypes, PayloadFromJsonRejects,
    ::testing::Values(
        MalformedPayload{"escalation_notified_object", EventType::escalation,
                         with(escalation_json(), "notified", json::object()), "notified"},
        MalformedPayload{"escalation_notified_item_string", EventType::escalation,
                         with(escalation_json(), "notified", json::array({"U1"})),
                         "notified.person"},
        MalformedPayload{"escalation_notified_item_no_name", EventType::escalation,
                         with(escalation_json(), "notified", json::array({{{"id", "U1"}}})),
                         "notified.person.name"},
        MalformedPayload{"escalation_step_string", EventType::escalation,
                         with(escalation_json(), "step", "2"), "step"},
        MalformedPayload{"escalation_late_string", EventType::escalation,
                         with(escalation_json(), "late", "yes"), "\"late\" must be true or false"},
        MalformedPayload{"escalation_no_policy", EventType::escalation,
                         without(escalation_json(), "policy"), "\"policy\" is missing"},
        MalformedPayload{"attachment_size_float", EventType::attachment,
                         with(attachment_json(), "size", 1.5), "size"},
        MalformedPayload{
            "attachment_size_too_big", EventType::attachment,
            with(attachment_json(), "size", std::uint64_t{18'000'000'000'000'000'000ULL}),
            "out of range"},
        MalformedPayload{"attachment_no_url", EventType::attachment,
                         without(attachment_json(), "url"), "\"url\" is missing"},
        MalformedPayload{"guidance_text_number", EventType::bot_guidance,
                         json{{"topic", "triage"}, {"text", 3}}, "text"},
        MalformedPayload{"triage_answers_array", EventType::triage_response,
                         json{{"answers", json::array({"yes"})}}, "answers"},
        MalformedPayload{"triage_answer_number", EventType::triage_response,
                         json{{"answers", {{"line_stopped", 1}}}}, "answers.line_stopped"},
        MalformedPayload{"triage_no_answers", EventType::triage_response, json::object(),
                         "\"answers\" is missing"},
        MalformedPayload{"summary_no_root_cause", EventType::summary,
                         without(summary_json(), "root_cause"), "summary.root_cause"},
        MalformedPayload{"summary_no_impact", EventType::summary, without(summary_json(), "impact"),
                         "summary.impact"},
        MalformedPayload{"summary_impact_number_string", EventType::summary,
                         with(summary_json(), "impact", {{"units_lost", "12"}}),
                         "summary.impact.units_lost"},
        MalformedPayload{"summary_impact_other_number", EventType::summary,
                         with(summary_json(), "impact", {{"other", {{"scrap", 4}}}}),
                         "summary.impact.other.scrap"},
        MalformedPayload{"summary_array", EventType::summary, json::array(), "object"},
        MalformedPayload{"follow_up_unknown_change", EventType::follow_up,
                         with(follow_up_change_json(), "change", "deleted"), "deleted"},
        MalformedPayload{"follow_up_no_number", EventType::follow_up,
                         without(follow_up_change_json(), "number"), "\"number\" is missing"},
        MalformedPayload{"follow_up_status_unknown", EventType::follow_up,
                         with(follow_up_change_json(), "status", "BLOCKED"), "BLOCKED"},
        MalformedPayload{"follow_up_due_garbage", EventType::follow_up,
                         with(follow_up_change_json(), "due", "next week"), "due"},
        MalformedPayload{"follow_up_assignee_string", EventType::follow_up,
                         with(follow_up_change_json(), "assignee", "bob"), "assignee"},
        MalformedPayload{"closed_from_unknown", EventType::closed, json{{"from", "DONE"}}, "DONE"},
        MalformedPayload{"closed_empty", EventType::closed, json::object(), "\"from\" is missing"},
        MalformedPayload{"title_no_to", EventType::title_change, json{{"from", "a"}},
                         "\"to\" is missing"},
        MalformedPayload{"card_no_message_id", EventType::global_card_posted,
                         json{{"channel", channel_to_json(kGeneral)}}, "message_id"},
        MalformedPayload{"card_channel_null", EventType::global_card_posted,
                         json{{"channel", nullptr}, {"message_id", "m"}}, "channel"},
        MalformedPayload{"nudge_minutes_float", EventType::nudge, json{{"quiet_minutes", 1.5}},
                         "quiet_minutes"},
        MalformedPayload{"nudge_string", EventType::nudge, json("30"), "object"},
        MalformedPayload{"sla_no_target", EventType::sla_breach, json{{"target_minutes", 15}},
                         "\"target\" is missing"},
        MalformedPayload{"sla_minutes_string", EventType::sla_breach,
                         json{{"target", "resolve"}, {"target_minutes", "15"}}, "target_minutes"},
        MalformedPayload{"declared_assets_not_strings", EventType::declared,
                         with(declared_json(), "assets", json::array({1, 2})), "assets"},
        MalformedPayload{"declared_assets_string", EventType::declared,
                         with(declared_json(), "assets", "press-1"), "assets"},
        MalformedPayload{"declared_announcements_string", EventType::declared,
                         with(declared_json(), "announcements", "C9"), "announcements"},
        MalformedPayload{"declared_organization_number", EventType::declared,
                         with(declared_json(), "organization", 1), "organization"},
        MalformedPayload{"message_truncated_string", EventType::message,
                         with(message_json(), "truncated", "no"), "truncated"}),
    [](const ::testing::TestParamInfo<MalformedPayload>& param_info) {
      return param_info.param.name;
    });

TEST(PayloadFromJson, HostileValuesAreEchoedShortInTheError) {
  const std::string huge(100'000, 'S');
  const auto severity =
      payload_from_json(EventType::severity_change, json{{"from", huge}, {"to", "SEV1"}});
  ASSERT_FALSE(severity.ok());
  EXPECT_LT(severity.error().message.size(), 300U);
  const auto due =
      payload_from_json(EventType::follow_up, with(follow_up_change_json(), "due", huge + "ü"));
  ASSERT_FALSE(due.ok());
  EXPECT_LT(due.error().message.size(), 300U);
}

TEST(PayloadFromJson, HostileKeysAreEchoedShortInTheError) {
  const std::string huge_key(100'000, 'k');
  const auto result =
      payload_from_json(EventType::triage_response, json{{"answers", {{huge_key, 1}}}});
  ASSERT_FALSE(result.ok());
  EXPECT_LT(result.error().message.size(), 300U);
}

TEST(PayloadFromJson, DeeplyNestedOrHugeInputIsAnErrorNotACrash) {
  json deep = json::object();
  for (int i = 0; i < 1000; ++i) {
    deep = json{{"lead", deep}};
  }
  const auto nested = payload_from_json(EventType::assignment, deep);
  ASSERT_FALSE(nested.ok());
  const auto huge_text =
      payload_from_json(EventType::annotation, json{{"text", std::string(5'000'000, 'n')}});
  ASSERT_TRUE(huge_text.ok());  // the store limits sizes; the reader just reads
  EXPECT_EQ(std::get<Annotation>(huge_text.value()).text.size(), 5'000'000U);
}

// ---------------------------------------------------------------- snapshots with the new members

TEST(IncidentJson, EveryNewMemberHasItsDocumentedForm) {
  const json j = incident_to_json(everything_set_incident());
  EXPECT_EQ(j.at("organization"), "acme");
  EXPECT_EQ(j.at("area"), "packing");
  EXPECT_EQ(j.at("assets"), (json{"press-1", "conveyor-4"}));
  EXPECT_EQ(j.at("announcements"),
            (json{{"instance", "slack-acme"}, {"id", "C900"}, {"name", "incidents"}}));
  EXPECT_EQ(j.at("global_card"),
            (json{{"channel", {{"instance", "slack-acme"}, {"id", "C900"}, {"name", "incidents"}}},
                  {"message_id", "17.5"}}));
  EXPECT_EQ(j.at("triage"), (json{{"impact", "Ünits"}, {"line_stopped", "yes"}}));
  EXPECT_EQ(j.at("attachment_count"), 3);
  EXPECT_EQ(j.at("summary"), payload_to_json(SummaryRecorded{full_summary()}));
  ASSERT_EQ(j.at("follow_ups").size(), 2U);
  EXPECT_EQ(j.at("follow_ups")[0], follow_up_json(sample_follow_up(1)));
  EXPECT_EQ(j.at("ms_in_status"), (json{60'000, 120'000, 0, 5, 9'000'000'000'000}));
  EXPECT_EQ(j.at("resolved_at"), format_time(at_ms(1'795'000'450'000)));
  EXPECT_EQ(j.at("acknowledge_sla_breached"), true);
}

TEST(IncidentJson, FollowUpForm) {
  EXPECT_EQ(follow_up_json(sample_follow_up(3)),
            json::parse(R"({"number":3,"description":"Replace guard #3",
                            "assignee":{"id":"U2","name":"Bo","member":"bo"},
                            "due":"2026-11-19T11:06:40.000Z","status":"IN_PROGRESS",
                            "created_by":{"id":"U1","name":"Ana"},
                            "created_at":"2026-11-18T11:08:20.000Z",
                            "updated_at":"2026-11-18T11:10:00.000Z","last_reminder":"before",
                            "last_reminder_at":"2026-11-18T11:11:40.000Z"})"));
  FollowUp bare;
  const json j = follow_up_json(bare);
  EXPECT_EQ(j.at("assignee"), nullptr);
  EXPECT_EQ(j.at("due"), nullptr);
  EXPECT_EQ(j.at("status"), "OPEN");
  EXPECT_EQ(j.at("last_reminder_at"), nullptr);
}

TEST(IncidentJson, ASnapshotFromBeforeDirectoriesAndFormsReadsTheDefaults) {
  json j = incident_to_json(everything_set_incident());
  for (const char* key :
       {"organization", "area", "assets", "announcements", "global_card", "triage",
        "attachment_count", "summary", "follow_ups", "status_since", "ms_in_status", "mitigated_at",
        "resolved_at", "closed_at", "last_update_at", "last_nudge_at", "acknowledge_sla_breached",
        "resolve_sla_breached"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    j.erase(key);
  }
  const auto back = incident_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), fully_set_incident());
}

TEST(IncidentJson, NullOptionalNewMembersReadAsAbsent) {
  json j = incident_to_json(everything_set_incident());
  for (const char* key : {"announcements", "global_card", "summary", "mitigated_at", "resolved_at",
                          "closed_at", "last_nudge_at"}) {
    j[key] = nullptr;
  }
  const auto back = incident_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->announcements, std::nullopt);
  EXPECT_EQ(back->global_card, std::nullopt);
  EXPECT_EQ(back->summary, std::nullopt);
  EXPECT_EQ(back->resolved_at, std::nullopt);
  EXPECT_EQ(back->last_nudge_at, std::nullopt);
  EXPECT_EQ(back->follow_ups, everything_set_incident().follow_ups);
}

json follow_ups_with(const std::string& key, json value) {
  json item = follow_up_json(sample_follow_up(1));
  item[key] = std::move(value);
  return json::array({item});
}

INSTANTIATE_TEST_SUITE_P(
    MalformedAddedMembers, IncidentFromJsonRejects,
    ::testing::Values(
        MalformedIncident{"assets_string", incident_with("assets", "press-1"), "assets"},
        MalformedIncident{"assets_mixed", incident_with("assets", json{"a", 1}), "assets"},
        MalformedIncident{"announcements_number", incident_with("announcements", 4),
                          "announcements"},
        MalformedIncident{"global_card_no_message_id",
                          incident_with("global_card", {{"channel", channel_to_json(kGeneral)}}),
                          "global_card.message_id"},
        MalformedIncident{"triage_array", incident_with("triage", json::array()), "triage"},
        MalformedIncident{"triage_number_answer", incident_with("triage", {{"area", 3}}),
                          "triage.area"},
        MalformedIncident{"attachment_count_string", incident_with("attachment_count", "3"),
                          "attachment_count"},
        MalformedIncident{"summary_string", incident_with("summary", "fixed"), "summary"},
        MalformedIncident{"follow_ups_object", incident_with("follow_ups", json::object()),
                          "follow_ups"},
        MalformedIncident{"follow_up_item_string", incident_with("follow_ups", json::array({"x"})),
                          "follow_ups.follow_up"},
        MalformedIncident{"follow_up_status_unknown",
                          incident_with("follow_ups", follow_ups_with("status", "LATER")), "LATER"},
        MalformedIncident{"follow_up_no_created_by",
                          incident_with("follow_ups",
                                        [] {
                                          json item = follow_up_json(sample_follow_up(1));
                                          item.erase("created_by");
                                          return json::array({item});
                                        }()),
                          "follow_ups.follow_up.created_by"},
        MalformedIncident{"follow_up_reminder_at_garbage",
                          incident_with("follow_ups", follow_ups_with("last_reminder_at", "soon")),
                          "last_reminder_at"},
        MalformedIncident{"status_since_number", incident_with("status_since", 0), "status_since"},
        MalformedIncident{"ms_in_status_four", incident_with("ms_in_status", json{1, 2, 3, 4}),
                          "ms_in_status"},
        MalformedIncident{"ms_in_status_string_item",
                          incident_with("ms_in_status", json{1, 2, "3", 4, 5}), "ms_in_status"},
        MalformedIncident{"ms_in_status_object", incident_with("ms_in_status", json::object()),
                          "ms_in_status"},
        MalformedIncident{"mitigated_at_garbage", incident_with("mitigated_at", "2026-02-30"),
                          "mitigated_at"},
        MalformedIncident{"last_update_at_null", incident_with("last_update_at", nullptr),
                          "last_update_at"},
        MalformedIncident{"sla_flag_string", incident_with("resolve_sla_breached", "true"),
                          "resolve_sla_breached"}),
    [](const ::testing::TestParamInfo<MalformedIncident>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace haveri::core
