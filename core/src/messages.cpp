#include <nlohmann/json.hpp>

#include <haveri/core/messages.hpp>

namespace haveri::core {

nlohmann::json message_to_json(const Message& message) {
  nlohmann::json out = nlohmann::json::object();
  if (!message.title.empty()) {
    out["title"] = message.title;
  }
  if (!message.text.empty()) {
    out["text"] = message.text;
  }
  if (!message.fields.empty()) {
    nlohmann::json fields = nlohmann::json::array();
    for (const MessageField& field : message.fields) {
      fields.push_back({{"label", field.label}, {"value", field.value}});
    }
    out["fields"] = std::move(fields);
  }
  if (!message.actions.empty()) {
    nlohmann::json actions = nlohmann::json::array();
    for (const MessageAction& action : message.actions) {
      actions.push_back({{"label", action.label}, {"command", action.command}});
    }
    out["actions"] = std::move(actions);
  }
  if (!message.context.empty()) {
    out["context"] = message.context;
  }
  return out;
}

}  // namespace haveri::core
