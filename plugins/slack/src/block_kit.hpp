#pragma once
// Rendering of Haveri's neutral message model (docs/plugin-abi.md, "Neutral
// messages" and "Forms") into Slack Block Kit, always within Slack's published
// limits: what is over a limit is cut visibly ("…"), never sent to be rejected.
// Pure functions: no I/O.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace haveri::slack {

// Slack's limits (https://api.slack.com/reference/block-kit/blocks,
// …/block-elements, …/composition-objects, …/surfaces/views; chat.postMessage).
struct BlockKitLimits {
  static constexpr std::size_t kMessageBlocks = 50;
  static constexpr std::size_t kModalBlocks = 100;
  static constexpr std::size_t kHeaderText = 150;
  static constexpr std::size_t kSectionText = 3000;
  static constexpr std::size_t kSectionFields = 10;
  static constexpr std::size_t kFieldText = 2000;
  static constexpr std::size_t kActionsElements = 25;
  static constexpr std::size_t kContextElements = 10;
  static constexpr std::size_t kButtonText = 75;
  static constexpr std::size_t kButtonValue = 2000;
  static constexpr std::size_t kActionId = 255;
  static constexpr std::size_t kBlockId = 255;
  static constexpr std::size_t kFallbackText = 4000;  // the top-level "text" we send
  static constexpr std::size_t kModalTitle = 24;
  static constexpr std::size_t kModalButton = 24;
  static constexpr std::size_t kPrivateMetadata = 3000;
  static constexpr std::size_t kInputLabel = 2000;
  static constexpr std::size_t kPlaceholder = 150;
  static constexpr std::size_t kInputMaxLength = 3000;  // plain_text_input max_length
  static constexpr std::size_t kSelectOptions = 100;
  static constexpr std::size_t kOptionText = 75;
  static constexpr std::size_t kOptionValue = 150;
};

// Every limit above counts characters (Unicode code points); cutting never splits a
// UTF-8 sequence and ends with "…" when anything was cut.
std::string cut_to(std::string_view text, std::size_t max_code_points);

// action_id of buttons that run a Haveri command (their value is the command text)
// and of the button that opens a form (its value is the form handle).
inline constexpr std::string_view kCommandActionPrefix = "haveri_command_";  // + index
inline constexpr std::string_view kOpenFormActionId = "haveri_open_form";
// callback_id of every modal Haveri opens.
inline constexpr std::string_view kFormCallbackId = "haveri_form";

// A neutral message as chat.postMessage / chat.update / chat.postEphemeral fields:
// {"text": <plain fallback for notifications>, "blocks": [...]}. title -> header
// block; text -> section (mrkdwn; the neutral *bold* / _italic_ / `code` subset
// passes through, "<", ">" and "&" are escaped so nobody can inject mentions or
// links); fields -> section fields ("*Label*\nvalue", 10 per section, further
// sections as needed); actions -> actions blocks of buttons (action_id
// kCommandActionPrefix + n, value = command, style primary/danger kept); context ->
// context block. When the message carries a form and `form_handle` is not empty, a
// primary button (action_id kOpenFormActionId, value form_handle, text the form's
// submit label or title) opens it. At most kMessageBlocks blocks: when more would be
// needed, the last one says "… (n more)" instead.
nlohmann::json render_message(const nlohmann::json& message, std::string_view form_handle = {});

// A neutral form as a modal view for views.open: {"type":"modal","callback_id":
// kFormCallbackId, "title", "submit", "close", "private_metadata", "blocks"}. Each
// input becomes an input block with block_id = the input's name and one element with
// action_id "value": text -> plain_text_input, multiline -> plain_text_input
// multiline, number -> number_input (is_decimal_allowed), select -> static_select
// (options; an initial option when `initial` names one), date -> datepicker, user ->
// users_select; label, placeholder, initial value, optional = !required, max_length
// (capped at kInputMaxLength) carried over. `private_metadata` is passed through
// (the caller keeps it within kPrivateMetadata).
nlohmann::json render_modal(const nlohmann::json& form, std::string_view private_metadata);

// The answers of a submitted modal (the `view` of a view_submission payload):
// values by block_id (= input name), every answer a string (plain_text_input.value,
// number_input.value, static_select.selected_option.value, datepicker.selected_date,
// users_select.selected_user); empty answers left out. `errors` holds, by block_id,
// what Slack should show under a field (response_action "errors"): a required input
// left empty, an answer longer than the element's max_length, a number_input that is
// not a decimal. The rules come from the view's own blocks as submitted.
struct ViewAnswers {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> errors;
};
ViewAnswers read_view_submission(const nlohmann::json& view);

}  // namespace haveri::slack
