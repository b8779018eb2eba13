#pragma once

#include <string>
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
  bool operator==(const MessageAction&) const = default;
};

// The neutral message every plugin renders natively (Block Kit, Adaptive Cards,
// plain text). `text` is a markdown subset: *bold*, _italic_, `code`, lines.
struct Message {
  std::string title;
  std::string text;
  std::vector<MessageField> fields;
  std::vector<MessageAction> actions;
  std::string context;  // a small grey line at the bottom
  bool operator==(const Message&) const = default;
};

// {"title":…,"text":…,"fields":[{"label":…,"value":…}],"actions":[…],"context":…};
// empty members are omitted.
nlohmann::json message_to_json(const Message& message);

}  // namespace haveri::core
