#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/messages.hpp>

namespace haveri::core {
namespace {

TEST(MessageToJson, OmitsEmptyMembers) {
  EXPECT_EQ(message_to_json(Message{}), nlohmann::json::object());
  Message only_text;
  only_text.text = "hello";
  EXPECT_EQ(message_to_json(only_text), (nlohmann::json{{"text", "hello"}}));
}

TEST(MessageToJson, WritesEveryMember) {
  Message message;
  message.title = "INC-1 · Line 3 down";
  message.text = "*bold* and `code`";
  message.fields = {{"Status", "DECLARED"}, {"Severity", "SEV1"}};
  message.actions = {{"Investigating", "status investigating", ""}};
  message.context = "Haveri";
  const auto expected = nlohmann::json::parse(R"({
    "title": "INC-1 · Line 3 down",
    "text": "*bold* and `code`",
    "fields": [{"label": "Status", "value": "DECLARED"}, {"label": "Severity", "value": "SEV1"}],
    "actions": [{"label": "Investigating", "command": "status investigating"}],
    "context": "Haveri"
  })");
  EXPECT_EQ(message_to_json(message), expected);
}

TEST(MessageToJson, KeepsFieldOrder) {
  Message message;
  message.fields = {{"B", "2"}, {"A", "1"}};
  const auto json = message_to_json(message);
  ASSERT_EQ(json.at("fields").size(), 2U);
  EXPECT_EQ(json.at("fields")[0].at("label"), "B");
  EXPECT_EQ(json.at("fields")[1].at("label"), "A");
}

TEST(MessageToJson, ActionStyleOnlyWhenSet) {
  Message message;
  message.actions = {{"Acknowledge", "ack", "primary"},
                     {"Close", "close", "danger"},
                     {"Investigating", "status investigating", ""}};
  const auto json = message_to_json(message);
  ASSERT_EQ(json.at("actions").size(), 3U);
  EXPECT_EQ(json.at("actions")[0],
            (nlohmann::json{{"label", "Acknowledge"}, {"command", "ack"}, {"style", "primary"}}));
  EXPECT_EQ(json.at("actions")[1].at("style"), "danger");
  EXPECT_FALSE(json.at("actions")[2].contains("style"));
}

TEST(FormInputKind, Names) {
  EXPECT_EQ(to_string(FormInput::Kind::text), "text");
  EXPECT_EQ(to_string(FormInput::Kind::multiline), "multiline");
  EXPECT_EQ(to_string(FormInput::Kind::number), "number");
  EXPECT_EQ(to_string(FormInput::Kind::select), "select");
  EXPECT_EQ(to_string(FormInput::Kind::date), "date");
  EXPECT_EQ(to_string(FormInput::Kind::user), "user");
}

FormInput input_named(std::string name, FormInput::Kind kind) {
  FormInput input;
  input.name = std::move(name);
  input.label = "Label of " + input.name;
  input.kind = kind;
  return input;
}

TEST(MessageToJson, WritesTheFormWithEveryInput) {
  Form form;
  form.id = "resolve:7";
  form.title = "Resolve INC-7";
  form.submit_label = "Resolve";
  FormInput what = input_named("what_happened", FormInput::Kind::multiline);
  what.required = true;
  what.max_length = 10240;
  what.placeholder = "The belt snapped";
  what.initial = "Belt snapped 🔥";
  FormInput severity = input_named("severity", FormInput::Kind::select);
  severity.options = {{"sev1", "SEV1 — line down"}, {"sev2", "SEV2"}};
  severity.initial = "sev2";
  form.inputs = {what, severity, input_named("due", FormInput::Kind::date)};
  Message message;
  message.title = "Resolve INC-7";
  message.form = form;
  const auto expected = nlohmann::json::parse(R"({
    "title": "Resolve INC-7",
    "form": {
      "id": "resolve:7", "title": "Resolve INC-7", "submit_label": "Resolve",
      "inputs": [
        {"name": "what_happened", "label": "Label of what_happened", "kind": "multiline",
         "required": true, "max_length": 10240, "placeholder": "The belt snapped",
         "initial": "Belt snapped 🔥"},
        {"name": "severity", "label": "Label of severity", "kind": "select", "required": false,
         "initial": "sev2",
         "options": [{"value": "sev1", "label": "SEV1 — line down"},
                     {"value": "sev2", "label": "SEV2"}]},
        {"name": "due", "label": "Label of due", "kind": "date", "required": false}
      ]
    }
  })");
  EXPECT_EQ(message_to_json(message), expected);
}

TEST(MessageToJson, AFormWithoutInputsStillHasAnInputsArray) {
  Message message;
  message.form = Form{"declare", "Declare", "Go", {}};
  const auto json = message_to_json(message);
  EXPECT_EQ(json.at("form").at("inputs"), nlohmann::json::array());
  EXPECT_EQ(json.at("form").at("id"), "declare");
  EXPECT_EQ(json.size(), 1U);
}

TEST(MessageToJson, NoFormMemberWithoutAForm) {
  Message message;
  message.text = "hi";
  EXPECT_FALSE(message_to_json(message).contains("form"));
}

TEST(MessageToJson, ArbitraryTextSurvivesSerialisation) {
  Message message;
  message.title = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0');
  message.text = std::string(100'000, 'x');
  message.fields = {{"", ""}};
  const auto json = message_to_json(message);
  EXPECT_EQ(nlohmann::json::parse(json.dump()), json);
  EXPECT_EQ(json.at("title").get<std::string>(), message.title);
  EXPECT_EQ(json.at("fields")[0], (nlohmann::json{{"label", ""}, {"value", ""}}));
}

}  // namespace
}  // namespace haveri::core
