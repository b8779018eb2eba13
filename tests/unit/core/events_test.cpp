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

std::vector<EventPayload> every_payload() {
  return {
      Declared{"Überhitzung Ofen 3 🔥 \"hot\"", Severity::sev1, kGeneral},
      Declared{"", Severity::sev3, ChannelRef{}},
      MessagePosted{"line one\nline two ✓", kIncidentChannel, "1700000000.000100"},
      MessagePosted{"", kIncidentChannel, ""},
      StatusChanged{Status::declared, Status::investigating},
      StatusChanged{Status::resolved, Status::closed},
      ChannelLinked{kIncidentChannel},
      SeverityChanged{Severity::sev3, Severity::sev1},
      SeverityChanged{Severity::sev1, Severity::sev2},
      LeadAssigned{Actor{"U024BE7LH", "Ana Müller"}},
      LeadAssigned{Actor{"alice", "alice"}},
      CommsLeadAssigned{Actor{"U2", "Bo"}},
      Acknowledged{},
      Annotation{"fuse replaced\nwatch temps 🔥", std::nullopt},
      Annotation{"see above", Sequence{3}},
      Annotation{"", Sequence{9'007'199'254'740'993}},
      ActionTaken{"restarted conveyor \"B\""},
      ActionTaken{""},
  };
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

TEST(EventType, NamesRoundTripAndAreStable) {
  EXPECT_EQ(to_string(EventType::declared), "declared");
  EXPECT_EQ(to_string(EventType::message), "message");
  EXPECT_EQ(to_string(EventType::status_change), "status_change");
  EXPECT_EQ(to_string(EventType::channel_linked), "channel_linked");
  EXPECT_EQ(to_string(EventType::severity_change), "severity_change");
  EXPECT_EQ(to_string(EventType::assignment), "assignment");
  EXPECT_EQ(to_string(EventType::comms_assignment), "comms_assignment");
  EXPECT_EQ(to_string(EventType::acknowledgement), "acknowledgement");
  EXPECT_EQ(to_string(EventType::annotation), "annotation");
  EXPECT_EQ(to_string(EventType::action_taken), "action_taken");
  for (const EventType type :
       {EventType::declared, EventType::message, EventType::status_change,
        EventType::channel_linked, EventType::severity_change, EventType::assignment,
        EventType::comms_assignment, EventType::acknowledgement, EventType::annotation,
        EventType::action_taken}) {
    EXPECT_EQ(parse_event_type(to_string(type)), type);
  }
  for (const std::string_view text : {"", "Declared", "MESSAGE", "status", "closed", "note",
                                      "Annotation", "ack", "action", "lead"}) {
    EXPECT_EQ(parse_event_type(text), std::nullopt) << text;
  }
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
                            "declared_in":{"instance":"local","id":"C001","name":"general"}})"));
  EXPECT_EQ(payload_to_json(MessagePosted{"hi", kGeneral, "m1"}),
            json::parse(R"({"text":"hi","platform_message_id":"m1",
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
  EXPECT_EQ(j.size(), 15U);
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
  for (const Incident& incident : {sample_incident(), unlinked, before_epoch, Incident{}}) {
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

}  // namespace
}  // namespace haveri::core
