#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace haveri::core {

// A label/value pair shown side by side ("Status" / "INVESTIGATING").
struct MessageField {
  std::string label;
  std::string value;
  bool operator==(const MessageField&) const = default;
};

// A button; pressing it runs `command` as if typed after /incident.
struct MessageAction {
  std::string label;
  std::string command;
  std::string style;  // "", "primary" or "danger"
  bool operator==(const MessageAction&) const = default;
};

struct FormOption {
  std::string value;
  std::string label;
  bool operator==(const FormOption&) const = default;
};

// One input of a form. Submitting the form sends every input's value as a string.
struct FormInput {
  enum class Kind { text, multiline, number, select, date, user };
  std::string name;  // key of the value in the submission
  std::string label;
  Kind kind = Kind::text;
  bool required = false;
  std::size_t max_length = 0;  // characters; 0: no limit beyond the platform's
  std::string placeholder;
  std::string initial;
  std::vector<FormOption> options;  // for select
  bool operator==(const FormInput&) const = default;
};

// A form (a Slack modal, an Adaptive Card with inputs, prompts in the local chat).
// Its submission arrives as a form_submission inbound event carrying `id`.
struct Form {
  std::string id;  // "declare", "resolve:7", "triage:7", "followup:7"
  std::string title;
  std::string submit_label;
  std::vector<FormInput> inputs;
  bool operator==(const Form&) const = default;
};

std::string_view to_string(FormInput::Kind kind) noexcept;  // "text", "multiline", …

// The neutral message every plugin renders natively (Block Kit, Adaptive Cards,
// plain text). `text` is a markdown subset: *bold*, _italic_, `code`, lines.
struct Message {
  std::string title;
  std::string text;
  std::vector<MessageField> fields;
  std::vector<MessageAction> actions;
  std::string context;  // a small grey line at the bottom
  std::optional<Form> form;
  bool operator==(const Message&) const = default;
};

// {"title":…,"text":…,"fields":[{"label":…,"value":…}],"actions":[…],"context":…,
//  "form":{…}}; empty members are omitted (docs/plugin-abi.md, "Neutral messages").
nlohmann::json message_to_json(const Message& message);

}  // namespace haveri::core
