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
  message.actions = {{"Investigating", "status investigating"}};
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

}  // namespace
}  // namespace haveri::core
