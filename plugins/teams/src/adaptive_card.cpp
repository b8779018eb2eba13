#include "adaptive_card.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <haveri/utf8.hpp>

namespace haveri::teams {
namespace {

using json = nlohmann::json;
using Limits = CardLimits;

constexpr std::string_view kNoValue = "\xE2\x80\x94";  // "—"
constexpr std::string_view kSchemaUrl = "http://adaptivecards.io/schemas/adaptive-card.json";
constexpr std::string_view kCardContentType = "application/vnd.microsoft.card.adaptive";

// Limits of our own, for what CardLimits leaves open.
constexpr std::size_t kLabelChars = 200;        // input labels
constexpr std::size_t kPlaceholderChars = 200;  // input placeholders
constexpr std::size_t kChoiceTitleChars = 200;
// A choice value or a command comes back as the answer or the command to run: it is
// used whole or not at all, and one of these must not eat the card's budget.
constexpr std::size_t kChoiceValueChars = 150;
constexpr std::size_t kCommandBytes = 2000;
constexpr std::size_t kContextChars = 1000;
constexpr std::size_t kNameChars = 64;     // docs/plugin-abi.md, "Forms"
constexpr std::size_t kFormIdChars = 128;  // docs/plugin-abi.md, "Forms"
// Text is cut down to this before any field, button or input is left out for size.
constexpr std::size_t kKeptTextChars = 1000;
// The whole activity around a card (summary, attachment envelope) stays under Teams'
// limit on a message too.
constexpr std::size_t kActivityBytes = std::size_t{28} * 1024;
constexpr int kFitRounds = 1000;

// ---------------------------------------------------------------------------------
// UTF-8

using sdk::code_points;
using sdk::cut_valid;
using sdk::is_valid_utf8;
using sdk::kEllipsis;
using sdk::offset_after;
using sdk::valid_utf8;

// The largest code point boundary at or before byte `max` of valid UTF-8.
std::size_t boundary_before(std::string_view valid, std::size_t max) {
  if (max >= valid.size()) {
    return valid.size();
  }
  while (max > 0 && (static_cast<unsigned char>(valid[max]) & 0xC0U) == 0x80U) {
    --max;
  }
  return max;
}

// At most `max_bytes` bytes of valid UTF-8, "…" included when cut; not less than
// `min_code_points` code points, "…" included (then it may be longer than max_bytes).
std::string cut_valid_bytes(std::string_view valid, std::size_t max_bytes,
                            std::size_t min_code_points) {
  if (valid.size() <= max_bytes || code_points(valid) <= min_code_points) {
    return std::string(valid);
  }
  const std::size_t floor = min_code_points > 0 ? offset_after(valid, min_code_points - 1) : 0;
  std::size_t end =
      max_bytes > kEllipsis.size() ? boundary_before(valid, max_bytes - kEllipsis.size()) : 0;
  end = std::max(end, floor);
  if (end == 0) {
    return {};
  }
  return std::string(valid.substr(0, end)) + std::string(kEllipsis);
}

// ---------------------------------------------------------------------------------
// Text

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20U || byte == 0x7FU;
}

// Letters, digits and everything outside ASCII count as part of a word, for the
// emphasis rules below.
bool is_word(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= 0x80U || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

bool is_ascii_punctuation(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte > 0x20U && byte < 0x7FU && !is_word(c);
}

std::string trimmed(std::string_view s) {
  const auto first = std::find_if_not(s.begin(), s.end(), is_space);
  const auto last = std::find_if_not(s.rbegin(), s.rend(), is_space).base();
  return first < last ? std::string(first, last) : std::string{};
}

// Valid UTF-8 on one line: what a title, label or button can show.
std::string one_line(std::string_view text) {
  std::string out = valid_utf8(text);
  std::replace_if(out.begin(), out.end(), is_control, ' ');
  return trimmed(out);
}

// The lines of valid UTF-8 text, each trimmed and without control characters; blank
// lines are dropped.
std::vector<std::string> text_lines(std::string_view valid) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= valid.size()) {
    std::size_t end = valid.find_first_of("\r\n", start);
    if (end == std::string_view::npos) {
      end = valid.size();
    }
    std::string line(valid.substr(start, end - start));
    std::replace_if(line.begin(), line.end(), is_control, ' ');
    if (std::string line_trimmed = trimmed(line); !line_trimmed.empty()) {
      lines.push_back(std::move(line_trimmed));
    }
    start = end + 1;
  }
  return lines;
}

// How a line of neutral text becomes a line of Adaptive Card markdown (CommonMark as
// Teams renders it).
enum class Markup {
  kNeutral,  // *bold*, _italic_ and `code` kept as markup; anything else shown as typed
  kLiteral,  // everything shown as typed (titles and labels, which are plain text)
  kPlain,    // no markdown at all: the neutral markers removed, nothing escaped
};

// A neutral emphasis marker ("*" or "_") at line[i] that opens: not inside a word, not
// doubled, followed by something.
bool opens_emphasis(std::string_view line, std::size_t i, std::size_t end) {
  const char marker = line[i];
  if (i + 1 >= end || is_space(line[i + 1]) || line[i + 1] == marker) {
    return false;
  }
  return i == 0 || (!is_word(line[i - 1]) && line[i - 1] != marker);
}

// Where the emphasis opened at line[open] closes, or npos.
std::size_t emphasis_close(std::string_view line, std::size_t open, std::size_t end) {
  const char marker = line[open];
  for (std::size_t j = open + 2; j < end; ++j) {
    if (line[j] == marker && !is_space(line[j - 1]) &&
        (j + 1 >= end || (!is_word(line[j + 1]) && line[j + 1] != marker))) {
      return j;
    }
  }
  return std::string_view::npos;
}

void append_inline(std::string_view line, std::size_t from, std::size_t to, Markup markup,
                   bool in_emphasis, std::string& out) {
  const bool markdown = markup != Markup::kPlain;
  const bool neutral = markup != Markup::kLiteral;
  for (std::size_t i = from; i < to; ++i) {
    const char c = line[i];
    if (c == '`' && neutral) {
      const std::size_t close = line.substr(0, to).find('`', i + 1);
      if (close != std::string_view::npos && close > i + 1) {
        // Inside a code span CommonMark shows every character as it is.
        out.append(markdown ? line.substr(i, close - i + 1) : line.substr(i + 1, close - i - 1));
        i = close;
        continue;
      }
    }
    if ((c == '*' || c == '_') && neutral && !in_emphasis && opens_emphasis(line, i, to)) {
      if (const std::size_t close = emphasis_close(line, i, to); close != std::string_view::npos) {
        const std::string_view marker = !markdown ? "" : c == '*' ? "**" : "_";
        out += marker;
        append_inline(line, i + 1, close, markup, true, out);
        out += marker;
        i = close;
        continue;
      }
    }
    if (!markdown) {
      out += c;
      continue;
    }
    switch (c) {
      case '\\':
        // Only a backslash before punctuation escapes; that one must show as typed.
        out += i + 1 < line.size() && is_ascii_punctuation(line[i + 1]) ? "\\\\" : "\\";
        break;
      case '*':
      case '_':
      case '`':
      case '[':
      case ']':
      case '<':
      case '~':
        out += '\\';
        out += c;
        break;
      case '(':
        // "](" is what makes a link, also for renderers that ignore the escape of "]".
        out += i > 0 && line[i - 1] == ']' ? "\\(" : "(";
        break;
      default:
        out += c;
    }
  }
}

// One trimmed line. Markers that would start a block at the beginning of a line
// (heading, quote, list, rule) are escaped.
std::string markup_line(std::string_view line, Markup markup) {
  std::string out;
  out.reserve(line.size() + 8);
  std::size_t start = 0;
  if (markup != Markup::kPlain && !line.empty()) {
    if (line[0] == '#' || line[0] == '>' || line[0] == '+' || line[0] == '-' || line[0] == '=') {
      out += '\\';
      out += line[0];
      start = 1;
    } else {
      std::size_t digits = 0;
      while (digits < line.size() && digits < 10 && line[digits] >= '0' && line[digits] <= '9') {
        ++digits;
      }
      if (digits > 0 && digits < line.size() && (line[digits] == '.' || line[digits] == ')')) {
        out.append(line.substr(0, digits));
        out += '\\';
        out += line[digits];
        start = digits + 1;
      }
    }
  }
  append_inline(line, start, line.size(), markup, false, out);
  return out;
}

// Markdown needs a blank line for a line break ("\n\n"): every line of the text is a
// paragraph of its own, so that nothing typed can continue a list or a heading either.
std::string markup_text(std::string_view text, Markup markup) {
  std::string out;
  for (const std::string& line : text_lines(valid_utf8(text))) {
    if (!out.empty()) {
      out += markup == Markup::kPlain ? "\n" : "\n\n";
    }
    out += markup_line(line, markup);
  }
  return out;
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
    return it->dump(-1, ' ', false, json::error_handler_t::replace);
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

bool is_true(const json& value) {
  return value.is_boolean() && value.get<bool>();
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::size_t serialized_size(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

json text_block(std::string text) {
  return {{"type", "TextBlock"}, {"text", std::move(text)}, {"wrap", true}};
}

// ---------------------------------------------------------------------------------
// Forms

bool is_name_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

bool is_identifier(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), is_name_char);
}

// Teams merges the answers into the button's data, so an input with one of the data's
// own names would overwrite it (a typed "form_id" would send the answers to another
// form); and "haveri_*" answers are dropped when read.
bool is_reserved_name(std::string_view name) {
  return name == "command" || name == "form_id" || name.starts_with("haveri_");
}

struct FormInput {
  std::string name;
  const json* input;
};

// The inputs of a form that can be answered, in order, at most kInputs; `left_out`
// counts the others.
std::vector<FormInput> usable_inputs(const json& form, std::size_t& left_out) {
  std::vector<FormInput> usable;
  left_out = 0;
  const json& inputs = member(form, "inputs");
  if (!inputs.is_array()) {
    return usable;
  }
  std::set<std::string> names;
  for (const json& input : inputs) {
    std::string name = string_member(input, "name");
    if (!is_identifier(name, kNameChars) || is_reserved_name(name) || names.contains(name) ||
        usable.size() == Limits::kInputs) {
      ++left_out;
      continue;
    }
    names.insert(name);
    usable.push_back({std::move(name), &input});
  }
  return usable;
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

struct Option {
  std::string value;
  std::string title;
};

// The options of a select that can be chosen, at most kChoices; `left_out` counts
// the others. A cut value would come back as an answer that is none of the options.
std::vector<Option> usable_options(const json& input, std::size_t& left_out) {
  std::vector<Option> options;
  left_out = 0;
  const json& neutral_options = member(input, "options");
  if (!neutral_options.is_array()) {
    return options;
  }
  std::set<std::string> values;
  for (const json& option : neutral_options) {
    std::string value = string_member(option, "value");
    if (value.empty() || !is_valid_utf8(value) || code_points(value) > kChoiceValueChars ||
        values.contains(value) || options.size() == Limits::kChoices) {
      ++left_out;
      continue;
    }
    std::string title = one_line(text_member(option, "label"));
    if (title.empty()) {
      title = one_line(value);
    }
    values.insert(value);
    options.push_back({std::move(value), cut_valid(title, kChoiceTitleChars)});
  }
  return options;
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

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal as the neutral model has it: 42, -1.5.
bool is_decimal(std::string_view s) {
  if (s.starts_with('-')) {
    s.remove_prefix(1);
  }
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    return is_digits(s);
  }
  return is_digits(s.substr(0, dot)) && is_digits(s.substr(dot + 1));
}

// YYYY-MM-DD, a day that exists.
bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s.substr(0, 4)) ||
      !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) {
    return false;
  }
  const int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  if (month < 1 || month > 12 || day < 1) {
    return false;
  }
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

// Input.Number takes its initial value as a JSON number; null when `s` is not one.
json number_value(std::string_view s) {
  if (!is_decimal(s)) {
    return nullptr;
  }
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (s.find('.') == std::string_view::npos) {
    std::int64_t integer = 0;
    if (const auto [end, error] = std::from_chars(first, last, integer);
        error == std::errc{} && end == last) {
      return integer;
    }
  }
  double real = 0;
  if (const auto [end, error] = std::from_chars(first, last, real);
      error == std::errc{} && end == last && std::isfinite(real)) {
    return real;
  }
  return nullptr;
}

json card_input(const FormInput& form_input, std::size_t& options_left_out) {
  const json& input = *form_input.input;
  const std::string kind = input_kind(input);
  const std::string initial = string_member(input, "initial");
  const std::size_t max_length = positive_integer(member(input, "max_length"));
  std::string label = one_line(text_member(input, "label"));
  if (label.empty()) {
    label = form_input.name;
  }
  json element = {{"id", form_input.name}, {"label", cut_valid(label, kLabelChars)}};

  std::vector<Option> options;
  if (kind == "select") {
    options = usable_options(input, options_left_out);
  }
  if (kind == "number") {
    element["type"] = "Input.Number";
    if (json value = number_value(initial); !value.is_null()) {
      element["value"] = std::move(value);
    }
  } else if (kind == "date") {
    element["type"] = "Input.Date";
    if (is_date(initial)) {
      element["value"] = initial;
    }
  } else if (!options.empty()) {
    element["type"] = "Input.ChoiceSet";
    element["style"] = "compact";
    json choices = json::array();
    for (const Option& option : options) {
      choices.push_back({{"title", option.title}, {"value", option.value}});
      if (option.value == initial) {
        element["value"] = initial;
      }
    }
    element["choices"] = std::move(choices);
  } else {
    // text, multiline, user (typed: Teams' people picker is not in the 1.5 schema), a
    // select without any option, and kinds we do not know.
    element["type"] = "Input.Text";
    if (kind == "multiline") {
      element["isMultiline"] = true;
    }
    if (max_length > 0) {
      element["maxLength"] = max_length;
    }
    // A pre-filled answer that does not fit would have to be cut, and then be sent back
    // as an answer nobody typed.
    const std::size_t longest = max_length > 0 ? max_length : Limits::kTextChars;
    if (!initial.empty() && is_valid_utf8(initial) && code_points(initial) <= longest) {
      element["value"] = initial;
    }
  }
  if (const std::string placeholder = one_line(text_member(input, "placeholder"));
      !placeholder.empty()) {
    element["placeholder"] = cut_valid(placeholder, kPlaceholderChars);
  }
  if (is_true(member(input, "required"))) {
    element["isRequired"] = true;
    element["errorMessage"] = "Please fill this in.";
  }
  return element;
}

// ---------------------------------------------------------------------------------
// Cards

// A card in the making: what render_card shows, and what it left out so far.
struct CardParts {
  std::string title;  // markdown
  std::string text;   // neutral, valid UTF-8, cut
  std::vector<json> facts;
  std::string form_title;  // markdown
  std::vector<json> inputs;
  std::vector<std::size_t> input_options_left_out;  // by input, as `inputs`
  json submit;                                      // the form's Action.Execute, or null
  bool form_has_inputs = false;
  std::vector<json> commands;
  std::string context;  // markdown
  std::size_t fields_left_out = 0;
  std::size_t actions_left_out = 0;
  std::size_t inputs_left_out = 0;
};

std::string left_out_note(const CardParts& parts) {
  std::vector<std::string> what;
  if (parts.fields_left_out > 0) {
    what.push_back(plural(parts.fields_left_out, "field", "fields"));
  }
  if (parts.actions_left_out > 0) {
    what.push_back(plural(parts.actions_left_out, "button", "buttons"));
  }
  if (parts.inputs_left_out > 0) {
    what.push_back(plural(parts.inputs_left_out, "input", "inputs"));
  }
  // Options of inputs that are not shown go without saying.
  std::size_t options_left_out = 0;
  for (std::size_t i = 0; i < parts.inputs.size() && i < parts.input_options_left_out.size(); ++i) {
    options_left_out += parts.input_options_left_out[i];
  }
  if (options_left_out > 0) {
    what.push_back(plural(options_left_out, "option", "options"));
  }
  if (what.empty()) {
    return {};
  }
  std::string note = "(";
  for (std::size_t i = 0; i < what.size(); ++i) {
    if (i > 0) {
      note += i + 1 == what.size() ? " and " : ", ";
    }
    note += what[i];
  }
  return note + " not shown)";
}

json subtle_block(std::string text) {
  json block = text_block(std::move(text));
  block["isSubtle"] = true;
  block["size"] = "Small";
  return block;
}

json empty_card() {
  return {{"type", "AdaptiveCard"},
          {"$schema", std::string(kSchemaUrl)},
          {"version", "1.5"},
          {"msteams", {{"width", "Full"}}},
          {"body", json::array()}};
}

json assemble(const CardParts& parts) {
  json card = empty_card();
  json& body = card["body"];
  if (!parts.title.empty()) {
    json title = text_block(parts.title);
    title["size"] = "Large";
    title["weight"] = "Bolder";
    body.push_back(std::move(title));
  }
  if (std::string text = markup_text(parts.text, Markup::kNeutral); !text.empty()) {
    body.push_back(text_block(std::move(text)));
  }
  if (!parts.facts.empty()) {
    body.push_back({{"type", "FactSet"}, {"facts", parts.facts}});
  }
  if (!parts.form_title.empty()) {
    json form_title = text_block(parts.form_title);
    form_title["weight"] = "Bolder";
    body.push_back(std::move(form_title));
  }
  for (const json& input : parts.inputs) {
    body.push_back(input);
  }

  json actions = json::array();
  if (!parts.submit.is_null()) {
    actions.push_back(parts.submit);
  }
  for (const json& command : parts.commands) {
    actions.push_back(command);
    if (!parts.inputs.empty()) {
      // A button gathers and validates every input of its card: a command must run
      // without the form's required answers.
      actions.back()["associatedInputs"] = "none";
    }
  }
  if (actions.size() > Limits::kTopLevelActions) {
    json overflow = json::array();
    for (std::size_t i = Limits::kTopLevelActions; i < actions.size(); ++i) {
      overflow.push_back(std::move(actions[i]));
    }
    actions.erase(actions.begin() + static_cast<std::ptrdiff_t>(Limits::kTopLevelActions),
                  actions.end());
    body.push_back({{"type", "ActionSet"}, {"actions", std::move(overflow)}});
  }

  if (!parts.context.empty()) {
    body.push_back(subtle_block(parts.context));
  }
  if (std::string note = left_out_note(parts); !note.empty()) {
    body.push_back(subtle_block(std::move(note)));
  }
  if (body.empty() && actions.empty()) {
    body.push_back(subtle_block("(empty message)"));
  }
  if (!actions.empty()) {
    card["actions"] = std::move(actions);
  }
  return card;
}

// Leaves out items from the end of `items` whose serialized size makes up `excess`
// bytes, keeping at least `keep`; returns how many.
std::size_t drop_from_end(std::vector<json>& items, std::size_t excess, std::size_t keep = 0) {
  std::size_t removed_bytes = 0;
  std::size_t removed = 0;
  while (items.size() > keep && removed_bytes < excess) {
    removed_bytes += serialized_size(items.back()) + 1;  // and its comma
    items.pop_back();
    ++removed;
  }
  return removed;
}

// Items past the point where they alone would fill a card can never be shown.
std::size_t keep_what_could_fit(std::vector<json>& items) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    total += serialized_size(items[i]) + 1;
    if (total > Limits::kCardBytes) {
      const std::size_t dropped = items.size() - i;
      items.resize(i);
      return dropped;
    }
  }
  return 0;
}

// Cuts neutral text by enough to take `excess` bytes off the card: markdown escapes and
// JSON make the text grow, so the raw cut is proportional to what it becomes.
void shorten_text(std::string& text, std::size_t excess, std::size_t min_code_points) {
  const std::size_t rendered =
      std::max<std::size_t>(serialized_size(json(markup_text(text, Markup::kNeutral))), 1);
  const std::size_t raw_cut = excess * text.size() / rendered + kEllipsis.size() + 8;
  text = raw_cut >= text.size() ? cut_valid_bytes(text, 0, min_code_points)
                                : cut_valid_bytes(text, text.size() - raw_cut, min_code_points);
}

// A form whose inputs were all left out would only send errors.
void drop_submit_without_inputs(CardParts& parts) {
  if (parts.inputs.empty() && parts.form_has_inputs && !parts.submit.is_null()) {
    parts.submit = nullptr;
    ++parts.actions_left_out;
  }
}

// Takes out what does not fit kCardBytes, in this order: text beyond kKeptTextChars,
// fields, buttons that would not be on the card's action bar, inputs, the rest of the
// text, the context line, the other buttons. Every round takes out something.
json fit(CardParts parts) {
  parts.fields_left_out += keep_what_could_fit(parts.facts);
  parts.inputs_left_out += keep_what_could_fit(parts.inputs);
  parts.actions_left_out += keep_what_could_fit(parts.commands);
  drop_submit_without_inputs(parts);
  // Each round takes out at least one item or a dozen bytes of text, most take out all
  // the excess at once; the bound is only there so that the loop ends whatever happens.
  for (int round = 0; round < kFitRounds; ++round) {
    json card = assemble(parts);
    const std::size_t size = serialized_size(card);
    if (size <= Limits::kCardBytes) {
      return card;
    }
    const std::size_t excess = size - Limits::kCardBytes;
    const std::size_t top_level_commands =
        Limits::kTopLevelActions - (parts.submit.is_null() ? 0 : 1);
    if (code_points(parts.text) > kKeptTextChars) {
      shorten_text(parts.text, excess, kKeptTextChars);
    } else if (!parts.facts.empty()) {
      parts.fields_left_out += drop_from_end(parts.facts, excess);
    } else if (parts.commands.size() > top_level_commands) {
      parts.actions_left_out += drop_from_end(parts.commands, excess, top_level_commands);
    } else if (!parts.inputs.empty()) {
      parts.inputs_left_out += drop_from_end(parts.inputs, excess);
      drop_submit_without_inputs(parts);
    } else if (!parts.text.empty()) {
      shorten_text(parts.text, excess, 0);
    } else if (!parts.context.empty()) {
      parts.context.clear();
    } else if (!parts.commands.empty()) {
      parts.actions_left_out += drop_from_end(parts.commands, excess);
    } else if (!parts.submit.is_null()) {
      parts.submit = nullptr;
      ++parts.actions_left_out;
    } else {
      break;  // only the titles are left, and they are bounded far below kCardBytes
    }
  }
  json card_left = empty_card();
  card_left["body"].push_back(subtle_block("(this message is too large to show)"));
  return card_left;
}

json command_action(const json& action, bool& shown) {
  shown = false;
  const std::string command = text_member(action, "command");
  if (!is_valid_utf8(command) || command.size() > kCommandBytes) {
    return {};
  }
  std::string title = one_line(text_member(action, "label"));
  if (title.empty()) {
    title = one_line(command);
  }
  json button = {{"type", "Action.Execute"},
                 {"title", cut_valid(title, Limits::kActionTitleChars)},
                 {"verb", std::string(kCommandVerb)},
                 {"data", {{"haveri_action", "command"}, {"command", command}}}};
  if (const std::string style = string_member(action, "style"); style == "primary") {
    button["style"] = "positive";
  } else if (style == "danger") {
    button["style"] = "destructive";
  }
  shown = true;
  return button;
}

void add_form(const json& form, CardParts& parts) {
  std::size_t inputs_left_out = 0;
  const std::vector<FormInput> inputs = usable_inputs(form, inputs_left_out);
  const std::string id = string_member(form, "id");
  if (!is_identifier(id, kFormIdChars)) {
    // Answers without the form's id could not be matched to anything.
    parts.inputs_left_out += inputs.size() + inputs_left_out;
    ++parts.actions_left_out;
    return;
  }
  parts.inputs_left_out += inputs_left_out;
  parts.form_has_inputs = !inputs.empty();
  if (const std::string title = one_line(text_member(form, "title")); !title.empty()) {
    parts.form_title = markup_line(cut_valid(title, Limits::kTitleChars), Markup::kLiteral);
  }
  for (const FormInput& input : inputs) {
    std::size_t options_left_out = 0;
    parts.inputs.push_back(card_input(input, options_left_out));
    parts.input_options_left_out.push_back(options_left_out);
  }
  std::string label = one_line(text_member(form, "submit_label"));
  parts.submit = {{"type", "Action.Execute"},
                  {"title", cut_valid(label.empty() ? "Submit" : label, Limits::kActionTitleChars)},
                  {"verb", std::string(kFormVerb)},
                  {"data", {{"haveri_action", "form"}, {"form_id", id}}},
                  {"style", "positive"}};
}

// The notification text: title, then text, without markup.
std::string summary_text(const json& message) {
  std::string summary = one_line(text_member(message, "title"));
  if (const std::string text = markup_text(text_member(message, "text"), Markup::kPlain);
      !text.empty()) {
    summary += summary.empty() ? text : "\n" + text;
  }
  if (summary.empty()) {
    summary = one_line(text_member(member(message, "form"), "title"));
  }
  if (summary.empty()) {
    summary = markup_text(text_member(message, "context"), Markup::kPlain);
  }
  return summary.empty() ? std::string("Haveri") : cut_valid(summary, Limits::kFallbackTextChars);
}

bool is_text_only(const json& message) {
  const auto empty = [&message](const char* key) {
    const json& value = member(message, key);
    return value.is_null() || (value.is_array() && value.empty());
  };
  return empty("fields") && empty("actions") && !member(message, "form").is_object() &&
         one_line(text_member(message, "title")).empty() &&
         one_line(text_member(message, "context")).empty() &&
         !one_line(text_member(message, "text")).empty();
}

// ---------------------------------------------------------------------------------
// Answers

// An answer as a string: Teams sends strings, some clients numbers or booleans; arrays
// and objects answer nothing.
std::string answer_text(const json& value) {
  if (value.is_string()) {
    return valid_utf8(value.get_ref<const std::string&>());
  }
  if (value.is_number_unsigned()) {
    return std::to_string(value.get<std::uint64_t>());
  }
  if (value.is_number_integer()) {
    return std::to_string(value.get<std::int64_t>());
  }
  if (value.is_number() || value.is_boolean()) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return {};
}

std::string answer_problem(const json& input, const std::string& answer) {
  const std::string kind = input_kind(input);
  if (const std::size_t max = positive_integer(member(input, "max_length"));
      max > 0 && code_points(answer) > max) {
    return "Please use at most " + std::to_string(max) + " characters (this has " +
           std::to_string(code_points(answer)) + ").";
  }
  if (kind == "number" && !is_decimal(answer)) {
    return "Please enter a number, such as 42 or -1.5.";
  }
  if (kind == "date" && !is_date(answer)) {
    return "Please enter a date as YYYY-MM-DD.";
  }
  if (kind == "select") {
    std::size_t left_out = 0;
    const std::vector<Option> options = usable_options(input, left_out);
    if (!options.empty() && std::none_of(options.begin(), options.end(),
                                         [&](const Option& o) { return o.value == answer; })) {
      return "Please choose one of the options.";
    }
  }
  return {};
}

}  // namespace

std::string cut_to(std::string_view text, std::size_t max_code_points) {
  return cut_valid(valid_utf8(text), max_code_points);
}

std::string card_markdown(std::string_view neutral_text) {
  return markup_text(neutral_text, Markup::kNeutral);
}

json render_card(const json& message) {
  CardParts parts;
  if (const std::string title = one_line(text_member(message, "title")); !title.empty()) {
    parts.title = markup_line(cut_valid(title, Limits::kTitleChars), Markup::kLiteral);
  }
  parts.text = cut_valid(valid_utf8(text_member(message, "text")), Limits::kTextChars);

  if (const json& fields = member(message, "fields"); fields.is_array()) {
    for (const json& field : fields) {
      const std::string label = one_line(text_member(field, "label"));
      const std::string value = valid_utf8(text_member(field, "value"));
      if (label.empty() && trimmed(value).empty()) {
        continue;
      }
      if (parts.facts.size() == Limits::kFacts) {
        ++parts.fields_left_out;
        continue;
      }
      std::string value_markdown =
          markup_text(cut_valid(value, Limits::kFactValueChars), Markup::kNeutral);
      parts.facts.push_back(
          {{"title", markup_line(cut_valid(label, Limits::kFactTitleChars), Markup::kLiteral)},
           {"value", value_markdown.empty() ? std::string(kNoValue) : value_markdown}});
    }
  }

  if (const json& form = member(message, "form"); form.is_object()) {
    add_form(form, parts);
  }

  if (const json& actions = member(message, "actions"); actions.is_array()) {
    for (const json& action : actions) {
      if (one_line(text_member(action, "command")).empty()) {
        continue;  // nothing to run: not a button
      }
      bool shown = false;
      json button = command_action(action, shown);
      if (!shown || parts.commands.size() == Limits::kActions) {
        ++parts.actions_left_out;
        continue;
      }
      parts.commands.push_back(std::move(button));
    }
  }

  if (const std::string context = valid_utf8(text_member(message, "context"));
      !trimmed(context).empty()) {
    parts.context = markup_text(cut_valid(context, kContextChars), Markup::kNeutral);
  }
  return fit(std::move(parts));
}

json render_activity(const json& message) {
  if (is_text_only(message)) {
    std::string text = cut_valid(valid_utf8(text_member(message, "text")), Limits::kTextChars);
    json activity = {
        {"type", "message"}, {"textFormat", "markdown"}, {"text", card_markdown(text)}};
    while (serialized_size(activity) > Limits::kCardBytes && !text.empty()) {
      shorten_text(text, serialized_size(activity) - Limits::kCardBytes, 0);
      activity["text"] = card_markdown(text);
    }
    return activity;
  }
  std::string summary = summary_text(message);
  json activity = {{"type", "message"},
                   {"summary", summary},
                   {"attachments", json::array({{{"contentType", std::string(kCardContentType)},
                                                 {"content", render_card(message)}}})}};
  // The card is within kCardBytes; the summary gives way if both are at their largest.
  if (const std::size_t size = serialized_size(activity); size > kActivityBytes) {
    summary = cut_valid_bytes(
        summary, summary.size() - std::min(summary.size(), size - kActivityBytes + 16), 0);
    activity["summary"] = summary.empty() ? std::string("Haveri") : summary;
  }
  return activity;
}

CardAnswers read_card_answers(const json& data, const json* form) {
  CardAnswers answers;
  if (!data.is_object()) {
    return answers;
  }
  if (form == nullptr || !form->is_object()) {
    for (const auto& [key, value] : data.items()) {
      if (key.starts_with("haveri_") || !is_valid_utf8(key)) {
        continue;
      }
      if (std::string answer = answer_text(value); !trimmed(answer).empty()) {
        answers.values[key] = std::move(answer);
      }
    }
    return answers;
  }
  std::size_t left_out = 0;
  for (const FormInput& form_input : usable_inputs(*form, left_out)) {
    const std::string answer = answer_text(member(data, form_input.name.c_str()));
    if (trimmed(answer).empty()) {
      if (is_true(member(*form_input.input, "required"))) {
        answers.errors[form_input.name] = "Please fill this in.";
      }
      continue;
    }
    if (std::string problem = answer_problem(*form_input.input, answer); !problem.empty()) {
      answers.errors[form_input.name] = std::move(problem);
    }
    answers.values[form_input.name] = answer;
  }
  return answers;
}

json invoke_card_response(const json& card) {
  return {{"statusCode", 200}, {"type", std::string(kCardContentType)}, {"value", card}};
}

json invoke_message_response(std::string_view text) {
  return {{"statusCode", 200},
          {"type", "application/vnd.microsoft.activity.message"},
          {"value", valid_utf8(text)}};
}

json invoke_error_response(std::string_view message) {
  return {{"statusCode", 400},
          {"type", "application/vnd.microsoft.error"},
          {"value", {{"code", "BadRequest"}, {"message", valid_utf8(message)}}}};
}

json render_submitted_form(const json& form, const CardAnswers& answers,
                           std::string_view submitted_by) {
  std::string title = one_line(text_member(form, "title"));
  if (title.empty()) {
    title = one_line(text_member(form, "submit_label"));
  }
  const std::string by = one_line(submitted_by);
  json fields = json::array();
  std::size_t left_out = 0;
  const std::vector<FormInput> inputs = usable_inputs(form, left_out);
  for (const FormInput& form_input : inputs) {
    const auto answer = answers.values.find(form_input.name);
    std::string value = answer == answers.values.end() ? std::string{} : answer->second;
    if (input_kind(*form_input.input) == "select") {
      std::size_t options_left_out = 0;
      for (const Option& option : usable_options(*form_input.input, options_left_out)) {
        if (option.value == value) {
          value = option.title;  // what the person chose, as they saw it
        }
      }
    }
    std::string label = one_line(text_member(*form_input.input, "label"));
    fields.push_back({{"label", label.empty() ? form_input.name : label}, {"value", value}});
  }
  if (inputs.empty()) {
    for (const auto& [name, value] : answers.values) {
      fields.push_back({{"label", name}, {"value", value}});
    }
  }
  return render_card({{"title", title.empty() ? std::string("Form") : title},
                      {"text", by.empty() ? std::string("Submitted.") : "Submitted by " + by},
                      {"fields", std::move(fields)}});
}

}  // namespace haveri::teams
