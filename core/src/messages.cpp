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
      nlohmann::json button = {{"label", action.label}, {"command", action.command}};
      if (!action.style.empty()) {
        button["style"] = action.style;
      }
      actions.push_back(std::move(button));
    }
    out["actions"] = std::move(actions);
  }
  if (!message.context.empty()) {
    out["context"] = message.context;
  }
  if (message.form) {
    nlohmann::json inputs = nlohmann::json::array();
    for (const FormInput& input : message.form->inputs) {
      nlohmann::json item = {{"name", input.name},
                             {"label", input.label},
                             {"kind", to_string(input.kind)},
                             {"required", input.required}};
      if (input.max_length > 0) {
        item["max_length"] = input.max_length;
      }
      if (!input.placeholder.empty()) {
        item["placeholder"] = input.placeholder;
      }
      if (!input.initial.empty()) {
        item["initial"] = input.initial;
      }
      if (!input.options.empty()) {
        nlohmann::json options = nlohmann::json::array();
        for (const FormOption& option : input.options) {
          options.push_back({{"value", option.value}, {"label", option.label}});
        }
        item["options"] = std::move(options);
      }
      inputs.push_back(std::move(item));
    }
    out["form"] = {{"id", message.form->id},
                   {"title", message.form->title},
                   {"submit_label", message.form->submit_label},
                   {"inputs", std::move(inputs)}};
  }
  return out;
}

std::string_view to_string(FormInput::Kind kind) noexcept {
  switch (kind) {
    case FormInput::Kind::text:
      return "text";
    case FormInput::Kind::multiline:
      return "multiline";
    case FormInput::Kind::number:
      return "number";
    case FormInput::Kind::select:
      return "select";
    case FormInput::Kind::date:
      return "date";
    case FormInput::Kind::user:
      return "user";
  }
  return "text";
}

}  // namespace haveri::core
