#include "block_kit.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <haveri/utf8.hpp>

namespace haveri::slack {
namespace {

using json = nlohmann::json;
using Limits = BlockKitLimits;

constexpr std::string_view kNoValue = "\xE2\x80\x94";  // "—"

// A field's label takes at most this much of kFieldText, so its value always shows.
constexpr std::size_t kFieldLabel = 300;
// A field cut shorter than this says too little to be worth a place.
constexpr std::size_t kShortestField = 40;
// Kept out of kMessageTextTotal for the "(… not shown)" line.
constexpr std::size_t kNoteReserve = 200;

// ---------------------------------------------------------------------------------
// UTF-8

using sdk::code_points;
using sdk::cut_valid;
using sdk::is_valid_utf8;
using sdk::kEllipsis;
using sdk::offset_after;
using sdk::valid_utf8;

// ---------------------------------------------------------------------------------
// Text

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string trimmed(std::string s) {
  const auto first = std::find_if_not(s.begin(), s.end(), is_space);
  const auto last = std::find_if_not(s.rbegin(), s.rend(), is_space).base();
  return first < last ? std::string(first, last) : std::string{};
}

bool is_control(unsigned char byte) {
  return byte < 0x20U || byte == 0x7FU;
}

// Valid UTF-8 on one line: what a plain_text label, title or option can show.
std::string one_line(std::string_view text) {
  std::string out = valid_utf8(text);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); },
      ' ');
  return trimmed(std::move(out));
}

// Valid UTF-8 for mrkdwn, with Slack's three control characters as entities, so text can
// neither mention (<!channel>, <@U…>) nor link (<url|label>). Other markup is kept.
std::string escape_mrkdwn(std::string_view text, bool multiline) {
  std::string out;
  out.reserve(text.size());
  for (const char c : valid_utf8(text)) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '\r') {
      continue;
    } else if (multiline && (c == '\n' || c == '\t')) {
      out += c;
    } else if (is_control(static_cast<unsigned char>(c))) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return trimmed(std::move(out));
}

// Slack counts the text as sent, entities included; a cut never keeps half an entity,
// which would show as "&am".
std::string cut_escaped(std::string_view escaped, std::size_t max) {
  if (code_points(escaped) <= max) {
    return std::string(escaped);
  }
  if (max == 0) {
    return {};
  }
  std::size_t end = offset_after(escaped, max - 1);
  // Every "&" in escaped text starts an entity of at most 5 bytes.
  const std::size_t amp = escaped.find('&', end >= 4 ? end - 4 : 0);
  if (amp < end && escaped.find(';', amp) >= end) {
    end = amp;
  }
  return std::string(escaped.substr(0, end)) + std::string(kEllipsis);
}

// A member as text: strings as they are, numbers and booleans as JSON writes them (a
// field whose value is 42 shows "42"), anything else as nothing.
std::string text_member(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  if (it == object.end()) {
    return {};
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_number() || it->is_boolean()) {
    return it->dump();
  }
  return {};
}

// Identifiers and values are used exactly as they are, or not at all.
std::string string_member(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

const json& member(const json& object, const char* key) {
  static const json absent;
  if (!object.is_object()) {
    return absent;
  }
  const auto it = object.find(key);
  return it == object.end() ? absent : *it;
}

// Slack refuses empty text objects, so an empty text shows `instead`.
json plain_text(std::string_view line, std::size_t max, std::string_view instead = kNoValue) {
  return {{"type", "plain_text"},
          {"text", line.empty() ? std::string(instead) : cut_valid(line, max)},
          {"emoji", true}};
}

// verbatim: Slack would otherwise turn a typed "@here" or "#channel" into a mention or a
// link, which escaping cannot prevent.
json mrkdwn_text(std::string escaped_and_cut) {
  return {{"type", "mrkdwn"}, {"text", std::move(escaped_and_cut)}, {"verbatim", true}};
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// ---------------------------------------------------------------------------------
// Messages

// What is left of kMessageTextTotal.
class TextBudget {
 public:
  explicit TextBudget(std::size_t total) : left_(total) {}
  std::size_t left() const { return left_; }
  bool take(std::size_t n) {
    if (n > left_) {
      return false;
    }
    left_ -= n;
    return true;
  }

 private:
  std::size_t left_;
};

json command_button(const json& action, std::size_t index, TextBudget& budget, bool& shown) {
  shown = false;
  const std::string command = text_member(action, "command");
  std::string label = one_line(text_member(action, "label"));
  if (label.empty()) {
    label = one_line(command);
  }
  label = cut_valid(label, Limits::kButtonText);
  if (!is_valid_utf8(command) || code_points(command) > Limits::kButtonValue ||
      !budget.take(code_points(label) + code_points(command))) {
    return {};
  }
  json button = {{"type", "button"},
                 {"action_id", std::string(kCommandActionPrefix) + std::to_string(index)},
                 {"text", plain_text(label, Limits::kButtonText)},
                 {"value", command}};
  if (const std::string style = string_member(action, "style");
      style == "primary" || style == "danger") {
    button["style"] = style;
  }
  shown = true;
  return button;
}

json form_button(const json& form, std::string_view handle, TextBudget& budget, bool& shown) {
  shown = false;
  std::string label = one_line(text_member(form, "submit_label"));
  if (label.empty()) {
    label = one_line(text_member(form, "title"));
  }
  label = cut_valid(label.empty() ? std::string("Open form") : label, Limits::kButtonText);
  if (!is_valid_utf8(handle) || code_points(handle) > Limits::kButtonValue ||
      !budget.take(code_points(label) + code_points(handle))) {
    return {};
  }
  shown = true;
  return {{"type", "button"},
          {"action_id", std::string(kOpenFormActionId)},
          {"text", plain_text(label, Limits::kButtonText)},
          {"value", std::string(handle)},
          {"style", "primary"}};
}

// "*Label*\nvalue" within kFieldText and what is left of the budget; "" when it is
// empty or there is no room for it.
std::string field_text(const json& field, TextBudget& budget) {
  const std::string label =
      cut_escaped(escape_mrkdwn(text_member(field, "label"), false), kFieldLabel);
  std::string value = escape_mrkdwn(text_member(field, "value"), true);
  if (label.empty() && value.empty()) {
    return {};
  }
  if (value.empty()) {
    value = kNoValue;
  }
  const std::size_t room = std::min(Limits::kFieldText, budget.left());
  const std::size_t label_size = label.empty() ? 0 : code_points(label) + 3;  // "*", "*\n"
  if (room < label_size + kShortestField) {
    return {};
  }
  std::string text = label.empty() ? std::string{} : "*" + label + "*\n";
  text += cut_escaped(value, room - label_size);
  budget.take(code_points(text));
  return text;
}

// A run of blocks of one kind (field sections, actions) and how many items each holds,
// so that blocks left out can be counted as fields or actions not shown.
struct BlockRun {
  std::vector<json> blocks;
  std::vector<std::size_t> items;
};

BlockRun chunked(std::vector<json> items, std::size_t per_block, const char* block_type,
                 const char* member_name) {
  BlockRun run;
  for (std::size_t i = 0; i < items.size(); i += per_block) {
    json block = {{"type", block_type}, {member_name, json::array()}};
    const std::size_t end = std::min(items.size(), i + per_block);
    for (std::size_t k = i; k < end; ++k) {
      block[member_name].push_back(std::move(items[k]));
    }
    run.blocks.push_back(std::move(block));
    run.items.push_back(end - i);
  }
  return run;
}

// Keeps the first `keep` blocks of `run`; returns how many items the others held.
std::size_t keep_first(BlockRun& run, std::size_t keep) {
  std::size_t dropped = 0;
  for (std::size_t i = keep; i < run.blocks.size(); ++i) {
    dropped += run.items[i];
  }
  if (keep < run.blocks.size()) {
    run.blocks.resize(keep);
    run.items.resize(keep);
  }
  return dropped;
}

// The notification text: title, then text, as plain as Slack allows.
std::string fallback_text(const json& message, const std::string& context) {
  const std::string title = one_line(text_member(message, "title"));
  const std::string text = text_member(message, "text");
  std::string plain = title;
  if (!title.empty() && !trimmed(text).empty()) {
    plain += '\n';
  }
  plain += text;
  // chat.postMessage reads the top-level text as mrkdwn: "<!channel>" there would notify.
  std::string fallback = cut_escaped(escape_mrkdwn(plain, true), Limits::kFallbackText);
  if (fallback.empty()) {
    fallback = cut_escaped(context, Limits::kFallbackText);
  }
  return fallback.empty() ? std::string("Haveri") : fallback;
}

// ---------------------------------------------------------------------------------
// Forms

bool is_decimal(std::string_view s, bool fraction_allowed) {
  if (s.starts_with('-')) {
    s.remove_prefix(1);
  }
  const auto digits = [](std::string_view d) {
    return !d.empty() &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    return digits(s);
  }
  return fraction_allowed && digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

bool is_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YYYY-MM-DD, what datepicker's initial_date takes.
bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s.substr(0, 4)) ||
      !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) {
    return false;
  }
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// A Slack user id (U…, or W… on Enterprise Grid), what users_select's initial_user takes;
// a neutral initial such as "@bob" is not one.
bool is_user_id(std::string_view s) {
  return s.size() >= 3 && s.size() <= 32 && (s[0] == 'U' || s[0] == 'W') &&
         std::all_of(s.begin() + 1, s.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

std::string input_kind(const json& input) {
  std::string kind = string_member(input, "kind");
  for (const std::string_view known : {"multiline", "number", "select", "date", "user"}) {
    if (kind == known) {
      return kind;
    }
  }
  return "text";
}

// A positive integer, or 0: JSON built in C++ holds 80 as a signed number, parsed JSON
// as an unsigned one.
std::size_t positive_integer(const json& number) {
  if (number.is_number_unsigned()) {
    return number.get<std::size_t>();
  }
  if (number.is_number_integer() && number.get<std::int64_t>() > 0) {
    return static_cast<std::size_t>(number.get<std::int64_t>());
  }
  return 0;
}

// The neutral max_length in code points; 0 for none.
std::size_t neutral_max_length(const json& input) {
  return positive_integer(member(input, "max_length"));
}

void add_placeholder(json& element, const json& input) {
  if (const std::string placeholder = one_line(text_member(input, "placeholder"));
      !placeholder.empty()) {
    element["placeholder"] = plain_text(placeholder, Limits::kPlaceholder);
  }
}

json text_input(const json& input, bool multiline) {
  json element = {{"type", "plain_text_input"}, {"action_id", "value"}};
  if (multiline) {
    element["multiline"] = true;
  }
  std::size_t max = neutral_max_length(input);
  if (max > 0) {
    max = std::min(max, Limits::kInputMaxLength);
    element["max_length"] = max;
  } else {
    max = Limits::kInputMaxLength;
  }
  // A pre-filled answer that does not fit would have to be cut, and then be sent back
  // as an answer nobody typed.
  if (const std::string initial = string_member(input, "initial");
      !initial.empty() && is_valid_utf8(initial) && code_points(initial) <= max) {
    element["initial_value"] = initial;
  }
  add_placeholder(element, input);
  return element;
}

// A static_select, or a text input when no option can be offered. `hint` says what was
// left out.
json select_input(const json& input, std::string& hint) {
  const json& neutral_options = member(input, "options");
  json options = json::array();
  std::set<std::string> values;
  std::size_t left_out = 0;
  if (neutral_options.is_array()) {
    for (const json& option : neutral_options) {
      const std::string value = string_member(option, "value");
      // A cut value would come back as an answer that is none of the options.
      if (value.empty() || !is_valid_utf8(value) || code_points(value) > Limits::kOptionValue ||
          values.contains(value)) {
        ++left_out;
        continue;
      }
      if (options.size() == Limits::kSelectOptions) {
        ++left_out;
        continue;
      }
      std::string label = one_line(text_member(option, "label"));
      if (label.empty()) {
        label = one_line(value);
      }
      values.insert(value);
      options.push_back({{"text", plain_text(label, Limits::kOptionText)}, {"value", value}});
    }
  }
  if (options.empty()) {
    return text_input(input, false);
  }
  if (left_out > 0) {
    hint = plural(left_out, "option is", "options are") + " not listed here.";
  }
  json element = {{"type", "static_select"}, {"action_id", "value"}, {"options", options}};
  const std::string initial = string_member(input, "initial");
  for (const json& option : options) {
    if (option["value"] == initial) {
      element["initial_option"] = option;
      break;
    }
  }
  add_placeholder(element, input);
  return element;
}

json input_element(const json& input, std::string& hint) {
  const std::string kind = input_kind(input);
  const std::string initial = string_member(input, "initial");
  json element;
  if (kind == "number") {
    element = {{"type", "number_input"}, {"action_id", "value"}, {"is_decimal_allowed", true}};
    if (is_decimal(initial, true)) {
      element["initial_value"] = initial;
    }
  } else if (kind == "select") {
    return select_input(input, hint);
  } else if (kind == "date") {
    element = {{"type", "datepicker"}, {"action_id", "value"}};
    if (is_date(initial)) {
      element["initial_date"] = initial;
    }
  } else if (kind == "user") {
    element = {{"type", "users_select"}, {"action_id", "value"}};
    if (is_user_id(initial)) {
      element["initial_user"] = initial;
    }
  } else {
    return text_input(input, kind == "multiline");
  }
  add_placeholder(element, input);
  return element;
}

json input_block(const json& input, const std::string& name) {
  std::string label = one_line(text_member(input, "label"));
  std::string hint;
  json block = {
      {"type", "input"},
      {"block_id", name},
      {"label", plain_text(label.empty() ? one_line(name) : label, Limits::kInputLabel, "Answer")},
      {"element", input_element(input, hint)},
      {"optional",
       !member(input, "required").is_boolean() || !member(input, "required").get<bool>()}};
  if (!hint.empty()) {
    block["hint"] = plain_text(hint, Limits::kInputLabel);
  }
  return block;
}

// ---------------------------------------------------------------------------------
// Submissions

// `type`: the element type the state names, else the view's element's.
std::string answer_of(const json& state, const std::string& type) {
  if (type == "static_select") {
    return string_member(member(state, "selected_option"), "value");
  }
  if (type == "datepicker") {
    return string_member(state, "selected_date");
  }
  if (type == "users_select") {
    return string_member(state, "selected_user");
  }
  return string_member(state, "value");
}

// The state Slack sent for one input block: values[block_id][action_id].
const json& state_of(const json& values, const std::string& block_id,
                     const std::string& action_id) {
  const json& block = member(values, block_id.c_str());
  const json& state = member(block, action_id.c_str());
  if (state.is_object() || !block.is_object() || block.size() != 1) {
    return state;
  }
  return block.begin().value();  // an element without action_id: Slack names it itself
}

bool is_option_of(const json& element, const std::string& answer) {
  const json& options = member(element, "options");
  if (!options.is_array()) {
    return true;  // nothing to check against
  }
  return std::any_of(options.begin(), options.end(), [&answer](const json& option) {
    return string_member(option, "value") == answer;
  });
}

std::string answer_problem(const json& element, const std::string& type,
                           const std::string& answer) {
  if (type == "plain_text_input") {
    if (const std::size_t max = positive_integer(member(element, "max_length"));
        max > 0 && code_points(answer) > max) {
      return "Please use at most " + std::to_string(max) + " characters (this has " +
             std::to_string(code_points(answer)) + ").";
    }
  } else if (type == "number_input") {
    const json& fraction = member(element, "is_decimal_allowed");
    const bool fraction_allowed = !fraction.is_boolean() || fraction.get<bool>();
    if (!is_decimal(answer, fraction_allowed)) {
      return fraction_allowed ? "Please enter a number, such as 42 or -1.5."
                              : "Please enter a whole number, such as 42.";
    }
  } else if (type == "static_select" && !is_option_of(element, answer)) {
    return "Please choose one of the options.";
  }
  return {};
}

}  // namespace

std::string cut_to(std::string_view text, std::size_t max_code_points) {
  return cut_valid(valid_utf8(text), max_code_points);
}

json render_message(const json& message, std::string_view form_handle) {
  TextBudget budget(Limits::kMessageTextTotal - kNoteReserve);

  json header;
  if (const std::string title = one_line(text_member(message, "title")); !title.empty()) {
    header = {{"type", "header"}, {"text", plain_text(title, Limits::kHeaderText)}};
    budget.take(code_points(header["text"]["text"].get_ref<const std::string&>()));
  }
  json section;
  if (std::string text =
          cut_escaped(escape_mrkdwn(text_member(message, "text"), true), Limits::kSectionText);
      !text.empty()) {
    budget.take(code_points(text));
    section = {{"type", "section"}, {"text", mrkdwn_text(std::move(text))}};
  }
  const std::string context =
      cut_escaped(escape_mrkdwn(text_member(message, "context"), true), Limits::kSectionText);
  budget.take(code_points(context));

  // Buttons before fields: when the budget runs short, being able to act matters more.
  std::size_t actions_not_shown = 0;
  std::vector<json> buttons;
  if (const json& actions = member(message, "actions"); actions.is_array()) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
      if (one_line(text_member(actions[i], "command")).empty()) {
        continue;  // nothing to run: not a button
      }
      bool shown = false;
      json button = command_button(actions[i], i, budget, shown);
      if (shown) {
        buttons.push_back(std::move(button));
      } else {
        ++actions_not_shown;
      }
    }
  }
  if (const json& form = member(message, "form"); form.is_object() && !form_handle.empty()) {
    bool shown = false;
    json button = form_button(form, form_handle, budget, shown);
    if (shown) {
      buttons.push_back(std::move(button));
    } else {
      ++actions_not_shown;
    }
  }

  std::size_t fields_not_shown = 0;
  std::vector<json> fields;
  if (const json& neutral_fields = member(message, "fields"); neutral_fields.is_array()) {
    for (const json& field : neutral_fields) {
      if (one_line(text_member(field, "label")).empty() &&
          one_line(text_member(field, "value")).empty()) {
        continue;
      }
      if (std::string text = field_text(field, budget); !text.empty()) {
        fields.push_back(mrkdwn_text(std::move(text)));
      } else {
        ++fields_not_shown;
      }
    }
  }

  BlockRun field_run = chunked(std::move(fields), Limits::kSectionFields, "section", "fields");
  BlockRun action_run =
      chunked(std::move(buttons), Limits::kActionsElements, "actions", "elements");
  const std::size_t fixed = (header.is_null() ? 0 : 1) + (section.is_null() ? 0 : 1);
  const bool context_block = !context.empty() || fields_not_shown > 0 || actions_not_shown > 0;
  if (fixed + field_run.blocks.size() + action_run.blocks.size() + (context_block ? 1 : 0) >
      Limits::kMessageBlocks) {
    // Fields and actions share what is left, one block kept for saying what is not shown.
    const std::size_t room = Limits::kMessageBlocks - fixed - 1;
    const std::size_t actions_want = std::min(action_run.blocks.size(), room);
    const std::size_t field_blocks =
        std::min(field_run.blocks.size(), std::max(room - actions_want, room / 2));
    fields_not_shown += keep_first(field_run, field_blocks);
    actions_not_shown += keep_first(action_run, room - field_blocks);
  }

  json blocks = json::array();
  if (!header.is_null()) {
    blocks.push_back(std::move(header));
  }
  if (!section.is_null()) {
    blocks.push_back(std::move(section));
  }
  for (json& block : field_run.blocks) {
    blocks.push_back(std::move(block));
  }
  for (json& block : action_run.blocks) {
    blocks.push_back(std::move(block));
  }
  json context_elements = json::array();
  if (!context.empty()) {
    context_elements.push_back(mrkdwn_text(context));
  }
  if (fields_not_shown > 0 || actions_not_shown > 0) {
    std::string note = "(";
    if (fields_not_shown > 0) {
      note += plural(fields_not_shown, "field", "fields");
    }
    if (actions_not_shown > 0) {
      note +=
          (fields_not_shown > 0 ? " and " : "") + plural(actions_not_shown, "action", "actions");
    }
    context_elements.push_back(mrkdwn_text(note + " not shown)"));
  }
  if (!context_elements.empty()) {
    blocks.push_back({{"type", "context"}, {"elements", std::move(context_elements)}});
  }

  std::string fallback = fallback_text(message, context);
  if (blocks.empty()) {
    blocks.push_back(
        {{"type", "section"}, {"text", mrkdwn_text(cut_escaped(fallback, Limits::kSectionText))}});
  }
  return {{"text", std::move(fallback)}, {"blocks", std::move(blocks)}};
}

json render_modal(const json& form, std::string_view private_metadata) {
  const std::string submit_label = one_line(text_member(form, "submit_label"));
  std::string title = one_line(text_member(form, "title"));
  if (title.empty()) {
    title = submit_label.empty() ? std::string("Form") : submit_label;
  }
  json view = {{"type", "modal"},
               {"callback_id", std::string(kFormCallbackId)},
               {"title", plain_text(title, Limits::kModalTitle)},
               {"submit", plain_text(submit_label, Limits::kModalButton, "Submit")},
               {"close", plain_text("Cancel", Limits::kModalButton)}};
  if (!private_metadata.empty() && is_valid_utf8(private_metadata) &&
      code_points(private_metadata) <= Limits::kPrivateMetadata) {
    view["private_metadata"] = std::string(private_metadata);
  }

  json blocks = json::array();
  std::size_t not_shown = 0;
  std::set<std::string> names;
  if (const json& inputs = member(form, "inputs"); inputs.is_array()) {
    for (const json& input : inputs) {
      // The name is the answer's key and the block_id: changed, it would answer nothing.
      const std::string name = string_member(input, "name");
      if (name.empty() || !is_valid_utf8(name) || code_points(name) > Limits::kBlockId ||
          !names.insert(name).second) {
        ++not_shown;
        continue;
      }
      blocks.push_back(input_block(input, name));
    }
  }
  if (blocks.size() + (not_shown > 0 ? 1 : 0) > Limits::kModalBlocks) {
    not_shown += blocks.size() - (Limits::kModalBlocks - 1);
    blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(Limits::kModalBlocks - 1),
                 blocks.end());
  }
  if (not_shown > 0) {
    blocks.push_back(
        {{"type", "context"},
         {"elements", {mrkdwn_text("(" + plural(not_shown, "input", "inputs") + " not shown)")}}});
  }
  if (blocks.empty()) {
    blocks.push_back({{"type", "section"}, {"text", mrkdwn_text("Nothing to fill in.")}});
  }
  view["blocks"] = std::move(blocks);
  return view;
}

ViewAnswers read_view_submission(const json& view) {
  ViewAnswers answers;
  const json& values = member(member(view, "state"), "values");
  const json& blocks = member(view, "blocks");
  if (!blocks.is_array()) {
    return answers;
  }
  std::set<std::string> seen;
  for (const json& block : blocks) {
    const std::string block_id = string_member(block, "block_id");
    if (string_member(block, "type") != "input" || block_id.empty() ||
        !seen.insert(block_id).second) {
      continue;
    }
    const json& element = member(block, "element");
    const json& state = state_of(values, block_id, string_member(element, "action_id"));
    std::string type = string_member(state, "type");
    if (type.empty()) {
      type = string_member(element, "type");
    }
    const std::string answer = valid_utf8(answer_of(state, type));
    const json& optional = member(block, "optional");
    if (answer.empty()) {
      if (!optional.is_boolean() || !optional.get<bool>()) {
        answers.errors[block_id] = "Please fill this in.";
      }
      continue;
    }
    if (std::string problem = answer_problem(element, type, answer); !problem.empty()) {
      answers.errors[block_id] = std::move(problem);
    }
    answers.values[block_id] = answer;
  }
  return answers;
}

}  // namespace haveri::slack
