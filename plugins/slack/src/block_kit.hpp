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

// Slack's limits, each checked against docs.slack.dev/reference: block-kit/blocks/*
// (header, section, actions, context, input), block-kit/block-elements/* (button,
// plain-text-input, number-input, select menus), block-kit/composition-objects/* (text:
// 1..3000 characters; option), views/modal-views, methods/chat.postMessage.
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
  // The top-level "text" we send. Slack truncates at 40,000 and splits messages over
  // 4,000 (changelog 2018-04-truncating-really-long-messages); a notification needs less.
  static constexpr std::size_t kFallbackText = 4000;
  // All text of one message's blocks together. Not in the reference: chat.postMessage
  // answers msg_blocks_too_long from about 12,000-13,000 characters of block text however
  // they are split (slackapi/bolt-js#2509, #2867), so we stay under the lower figure.
  static constexpr std::size_t kMessageTextTotal = 12000;
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
// UTF-8 sequence and ends with "…" when anything was cut. Invalid UTF-8 in `text` comes
// out as U+FFFD, so the result is always valid UTF-8. Never throws but std::bad_alloc.
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
// links); fields -> section fields ("*Label*\nvalue", an empty value shown as "—",
// 10 per section, further sections as needed); actions -> actions blocks of buttons
// (action_id kCommandActionPrefix + n, n the action's index in `actions`, value =
// command, style primary/danger kept); context -> context block. When the message
// carries a form and `form_handle` is not empty, a primary button (action_id
// kOpenFormActionId, value form_handle, text the form's submit label or title) opens it.
// A button whose value would not fit kButtonValue (or is not UTF-8) is left out, never
// sent with a cut value that would run another command. What does not fit —
// kMessageBlocks, kMessageTextTotal — is left out too, and the last block (context)
// says so: "(3 fields and 40 actions not shown)". The fallback "text" is title, then
// text, without markup but with "&", "<", ">" escaped (Slack parses that field too).
// A message that is not an object, or members of the wrong type, render as far as they
// make sense. Never throws but std::bad_alloc.
nlohmann::json render_message(const nlohmann::json& message, std::string_view form_handle = {});

// A neutral form as a modal view for views.open: {"type":"modal","callback_id":
// kFormCallbackId, "title", "submit", "close", "private_metadata", "blocks"}. Each
// input becomes an input block with block_id = the input's name and one element with
// action_id "value": text -> plain_text_input, multiline -> plain_text_input
// multiline, number -> number_input (is_decimal_allowed), select -> static_select
// (options; an initial option when `initial` names one), date -> datepicker, user ->
// users_select; label, placeholder, initial value, optional = !required, max_length
// (capped at kInputMaxLength) carried over. An input without a usable name (empty,
// repeated, longer than kBlockId) cannot be answered and is left out; so are select
// options whose value would not fit kOptionValue, and options past kSelectOptions (the
// input's hint says how many). A select left without options becomes a text input;
// an initial value Slack would refuse (not a listed option, not YYYY-MM-DD, not a user
// id, not a number, longer than max_length) is dropped. Inputs past kModalBlocks are
// left out and the last block says how many. `private_metadata` is passed through (the
// caller keeps it within kPrivateMetadata; longer or not UTF-8, it is left out).
// Never throws but std::bad_alloc.
nlohmann::json render_modal(const nlohmann::json& form, std::string_view private_metadata);

// The answers of a submitted modal (the `view` of a view_submission payload):
// values by block_id (= input name), every answer a string (plain_text_input.value,
// number_input.value, static_select.selected_option.value, datepicker.selected_date,
// users_select.selected_user); empty answers left out. `errors` holds, by block_id,
// what Slack should show under a field (response_action "errors"): a required input
// left empty, an answer longer than the element's max_length, a number_input that is
// not a decimal, a static_select answer that is none of its options. The rules come
// from the view's own blocks as submitted: state for a block_id that is not an input
// block of the view is ignored; an input block without state is an empty answer.
// Members of the wrong type count as absent. Never throws but std::bad_alloc.
struct ViewAnswers {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> errors;
};
ViewAnswers read_view_submission(const nlohmann::json& view);

}  // namespace haveri::slack
