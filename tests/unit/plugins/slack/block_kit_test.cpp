// Block Kit rendering of neutral messages and forms (plugins/slack/src/block_kit.cpp):
// what a person sees in Slack, and that Slack would accept every message and view we
// build, however long or odd the neutral input.
#include "block_kit.hpp"

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace haveri::slack {
namespace {

using json = nlohmann::json;
using Limits = BlockKitLimits;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kEllipsis = "\xE2\x80\xA6";
const std::string kReplacement = "\xEF\xBF\xBD";

// ---------------------------------------------------------------------------------
// What Slack accepts, checked independently of the renderer.

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      n = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  }
  return n;
}

// Walks a message ({"text","blocks"}), a blocks array or a modal view and records every
// way Slack would refuse it: counts, lengths in code points, required members, text
// types, ids unique where Slack needs them, UTF-8, escaping of mrkdwn.
class SlackLimits {
 public:
  std::vector<std::string> problems;

  void check_message(const json& message) {
    if (!message.is_object()) {
      problem("message", "is not an object");
      return;
    }
    const auto text = message.find("text");
    if (text == message.end() || !text->is_string() || text->get<std::string>().empty()) {
      problem("text", "missing or empty");
    } else {
      check_string("text", *text, Limits::kFallbackText);
      check_escaped("text", text->get<std::string>());
    }
    check_blocks("blocks", message.contains("blocks") ? message["blocks"] : json(),
                 Limits::kMessageBlocks, false);
    if (text_total_ > Limits::kMessageTextTotal) {
      problem("blocks", "hold " + std::to_string(text_total_) + " characters of text");
    }
  }

  void check_view(const json& view) {
    if (!view.is_object() || view.value("type", "") != "modal") {
      problem("view", "is not a modal");
      return;
    }
    check_text("view.title", member(view, "title"), Limits::kModalTitle, true);
    if (view.contains("submit")) {
      check_text("view.submit", view["submit"], Limits::kModalButton, true);
    }
    if (view.contains("close")) {
      check_text("view.close", view["close"], Limits::kModalButton, true);
    }
    if (view.contains("private_metadata")) {
      check_string("view.private_metadata", view["private_metadata"], Limits::kPrivateMetadata);
    }
    check_string("view.callback_id", member(view, "callback_id"), 255);
    check_blocks("view.blocks", member(view, "blocks"), Limits::kModalBlocks, true);
    if (has_input_ && !view.contains("submit")) {
      problem("view.submit", "required when the view has input blocks");
    }
  }

 private:
  std::set<std::string> block_ids_;
  std::set<std::string> action_ids_;  // in the message; in a view, per block
  std::size_t text_total_ = 0;
  bool has_input_ = false;

  static const json& member(const json& object, const char* key) {
    static const json absent;
    if (!object.is_object()) {
      return absent;
    }
    const auto it = object.find(key);
    return it == object.end() ? absent : *it;
  }

  void problem(const std::string& where, const std::string& what) {
    problems.push_back(where + ": " + what);
  }

  void check_string(const std::string& where, const json& value, std::size_t max,
                    bool may_be_empty = false) {
    if (!value.is_string()) {
      problem(where, "is not a string");
      return;
    }
    const std::string& s = value.get_ref<const std::string&>();
    if (!valid_utf8(s)) {
      problem(where, "is not UTF-8");
      return;
    }
    if (s.empty() && !may_be_empty) {
      problem(where, "is empty");
    }
    if (code_points(s) > max) {
      problem(where, std::to_string(code_points(s)) + " > " + std::to_string(max));
    }
  }

  // Slack's control characters appear only as the three entities.
  void check_escaped(const std::string& where, const std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '<' || s[i] == '>') {
        problem(where, "has a raw '" + std::string(1, s[i]) + "'");
        return;
      }
      if (s[i] == '&' && s.compare(i, 5, "&amp;") != 0 && s.compare(i, 4, "&lt;") != 0 &&
          s.compare(i, 4, "&gt;") != 0) {
        problem(where, "has an '&' that starts no entity");
        return;
      }
    }
  }

  void check_text(const std::string& where, const json& text, std::size_t max, bool plain_only) {
    if (!text.is_object()) {
      problem(where, "is not a text object");
      return;
    }
    const std::string type = text.value("type", "");
    if (type != "plain_text" && (plain_only || type != "mrkdwn")) {
      problem(where, "has type \"" + type + "\"");
    }
    check_string(where + ".text", member(text, "text"), max);
    if (text.contains("text") && text["text"].is_string()) {
      text_total_ += code_points(text["text"].get_ref<const std::string&>());
      if (type == "mrkdwn") {
        check_escaped(where + ".text", text["text"].get<std::string>());
      }
    }
  }

  void check_id(const std::string& where, const json& id, std::set<std::string>& seen) {
    check_string(where, id, 255);
    if (id.is_string() && !seen.insert(id.get<std::string>()).second) {
      problem(where, "\"" + id.get<std::string>() + "\" is not unique");
    }
  }

  void check_blocks(const std::string& where, const json& blocks, std::size_t max, bool modal) {
    if (!blocks.is_array() || blocks.empty()) {
      problem(where, "is not a non-empty array");
      return;
    }
    if (blocks.size() > max) {
      problem(where, std::to_string(blocks.size()) + " blocks > " + std::to_string(max));
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      check_block(where + "[" + std::to_string(i) + "]", blocks[i], modal);
    }
  }

  void check_block(const std::string& where, const json& block, bool modal) {
    if (block.contains("block_id")) {
      check_id(where + ".block_id", block["block_id"], block_ids_);
    }
    if (modal) {
      action_ids_.clear();  // Slack wants action_id unique within its block
    }
    const std::string type = block.value("type", "");
    if (type == "header") {
      check_text(where + ".text", member(block, "text"), Limits::kHeaderText, true);
    } else if (type == "section") {
      if (!block.contains("text") && !block.contains("fields")) {
        problem(where, "has neither text nor fields");
      }
      if (block.contains("text")) {
        check_text(where + ".text", block["text"], Limits::kSectionText, false);
      }
      if (block.contains("fields")) {
        const json& fields = block["fields"];
        if (!fields.is_array() || fields.empty() || fields.size() > Limits::kSectionFields) {
          problem(where + ".fields", "must hold 1.." + std::to_string(Limits::kSectionFields));
        } else {
          for (std::size_t i = 0; i < fields.size(); ++i) {
            check_text(where + ".fields[" + std::to_string(i) + "]", fields[i], Limits::kFieldText,
                       false);
          }
        }
      }
    } else if (type == "actions") {
      const json& elements = member(block, "elements");
      if (!elements.is_array() || elements.empty() || elements.size() > Limits::kActionsElements) {
        problem(where + ".elements", "must hold 1.." + std::to_string(Limits::kActionsElements));
        return;
      }
      for (std::size_t i = 0; i < elements.size(); ++i) {
        check_element(where + ".elements[" + std::to_string(i) + "]", elements[i]);
      }
    } else if (type == "context") {
      const json& elements = member(block, "elements");
      if (!elements.is_array() || elements.empty() || elements.size() > Limits::kContextElements) {
        problem(where + ".elements", "must hold 1.." + std::to_string(Limits::kContextElements));
        return;
      }
      for (std::size_t i = 0; i < elements.size(); ++i) {
        check_text(where + ".elements[" + std::to_string(i) + "]", elements[i],
                   Limits::kSectionText, false);
      }
    } else if (type == "input" && modal) {
      has_input_ = true;
      check_text(where + ".label", member(block, "label"), Limits::kInputLabel, true);
      if (block.contains("hint")) {
        check_text(where + ".hint", block["hint"], Limits::kInputLabel, true);
      }
      if (block.contains("optional") && !block["optional"].is_boolean()) {
        problem(where + ".optional", "is not a boolean");
      }
      check_element(where + ".element", member(block, "element"));
    } else {
      problem(where, "has type \"" + type + "\"");
    }
  }

  void check_placeholder(const std::string& where, const json& element) {
    if (element.contains("placeholder")) {
      check_text(where + ".placeholder", element["placeholder"], Limits::kPlaceholder, true);
    }
  }

  void check_element(const std::string& where, const json& element) {
    if (!element.is_object()) {
      problem(where, "is not an object");
      return;
    }
    if (element.contains("action_id")) {
      check_id(where + ".action_id", element["action_id"], action_ids_);
    }
    const std::string type = element.value("type", "");
    check_placeholder(where, element);
    if (type == "button") {
      check_text(where + ".text", member(element, "text"), Limits::kButtonText, true);
      if (element.contains("value")) {
        check_string(where + ".value", element["value"], Limits::kButtonValue);
        text_total_ += code_points(element["value"].get<std::string>());
      }
      if (element.contains("style") && element["style"] != "primary" &&
          element["style"] != "danger") {
        problem(where + ".style", element["style"].dump());
      }
    } else if (type == "plain_text_input") {
      std::size_t max = Limits::kInputMaxLength;
      if (element.contains("max_length")) {
        const json& m = element["max_length"];
        if (!m.is_number_unsigned() || m.get<std::size_t>() < 1 ||
            m.get<std::size_t>() > Limits::kInputMaxLength) {
          problem(where + ".max_length", m.dump());
        } else {
          max = m.get<std::size_t>();
        }
      }
      if (element.contains("initial_value")) {
        check_string(where + ".initial_value", element["initial_value"], max);
      }
    } else if (type == "number_input") {
      if (!member(element, "is_decimal_allowed").is_boolean()) {
        problem(where + ".is_decimal_allowed", "is required");
      }
    } else if (type == "static_select") {
      const json& options = member(element, "options");
      if (!options.is_array() || options.empty() || options.size() > Limits::kSelectOptions) {
        problem(where + ".options", "must hold 1.." + std::to_string(Limits::kSelectOptions));
        return;
      }
      std::set<std::string> values;
      for (std::size_t i = 0; i < options.size(); ++i) {
        const std::string at = where + ".options[" + std::to_string(i) + "]";
        check_text(at + ".text", member(options[i], "text"), Limits::kOptionText, true);
        check_string(at + ".value", member(options[i], "value"), Limits::kOptionValue);
        if (options[i].contains("value") && !values.insert(options[i]["value"].dump()).second) {
          problem(at + ".value", "is repeated");
        }
      }
      if (element.contains("initial_option") &&
          std::find(options.begin(), options.end(), element["initial_option"]) == options.end()) {
        problem(where + ".initial_option", "is none of the options");
      }
    } else if (type == "datepicker") {
      if (element.contains("initial_date")) {
        const std::string date = element["initial_date"].get<std::string>();
        if (date.size() != 10 || date[4] != '-' || date[7] != '-') {
          problem(where + ".initial_date", date);
        }
      }
    } else if (type == "users_select") {
      if (element.contains("initial_user")) {
        check_string(where + ".initial_user", element["initial_user"], 255);
      }
    } else {
      problem(where, "has type \"" + type + "\"");
    }
  }
};

// The test helper the brief asks for: a message ({"text","blocks"}), a bare blocks array
// or a modal view.
void expect_within_slack_limits(const json& blocks_or_view) {
  SlackLimits limits;
  if (blocks_or_view.is_array()) {
    limits.check_message({{"text", "fallback"}, {"blocks", blocks_or_view}});
  } else if (blocks_or_view.is_object() && blocks_or_view.contains("type")) {
    limits.check_view(blocks_or_view);
  } else {
    limits.check_message(blocks_or_view);
  }
  EXPECT_NO_THROW((void)blocks_or_view.dump()) << "not serializable (invalid UTF-8?)";
  EXPECT_TRUE(limits.problems.empty()) << ::testing::PrintToString(limits.problems);
}

// The checker itself must see what Slack refuses, or every test using it proves nothing.
TEST(SlackLimitsChecker, FindsWhatSlackWouldRefuse) {
  const auto problems_in = [](const json& message) {
    SlackLimits limits;
    limits.check_message(message);
    return limits.problems.size();
  };
  const json header = {{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", "T"}}}};
  EXPECT_EQ(problems_in({{"text", "t"}, {"blocks", {header}}}), 0U);
  json long_header = header;
  long_header["text"]["text"] = std::string(151, 'h');
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", {long_header}}}), 0U);
  json mrkdwn_header = header;
  mrkdwn_header["text"]["type"] = "mrkdwn";
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", {mrkdwn_header}}}), 0U);
  EXPECT_GT(problems_in({{"text", ""}, {"blocks", {header}}}), 0U);
  EXPECT_GT(problems_in({{"text", "<!channel>"}, {"blocks", {header}}}), 0U);
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", json::array()}}), 0U);
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", json::array({header, header}).dump()}}), 0U);
  const json raw_mention = {{"type", "section"},
                            {"text", {{"type", "mrkdwn"}, {"text", "<!here>"}}}};
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", {raw_mention}}}), 0U);
  const json button = {{"type", "button"},
                       {"action_id", "a"},
                       {"text", {{"type", "plain_text"}, {"text", "B"}}},
                       {"value", "v"}};
  EXPECT_EQ(
      problems_in({{"text", "t"}, {"blocks", {{{"type", "actions"}, {"elements", {button}}}}}}),
      0U);
  EXPECT_GT(problems_in({{"text", "t"},
                         {"blocks", {{{"type", "actions"}, {"elements", {button, button}}}}}}),
            0U);  // action_id twice
  json blocks = json::array();
  for (int i = 0; i < 51; ++i) {
    blocks.push_back(header);
  }
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", blocks}}), 0U);
  json bad_utf8 = header;
  bad_utf8["text"]["text"] = "\xFF";
  EXPECT_GT(problems_in({{"text", "t"}, {"blocks", {bad_utf8}}}), 0U);

  SlackLimits view;
  view.check_view({{"type", "modal"},
                   {"callback_id", "c"},
                   {"title", {{"type", "plain_text"}, {"text", std::string(25, 't')}}},
                   {"blocks", {header}}});
  EXPECT_EQ(view.problems.size(), 1U) << ::testing::PrintToString(view.problems);
}

// ---------------------------------------------------------------------------------
// Helpers to read what we rendered.

std::vector<json> blocks_of_type(const json& rendered, std::string_view type) {
  std::vector<json> found;
  for (const json& block : rendered["blocks"]) {
    if (block["type"] == type) {
      found.push_back(block);
    }
  }
  return found;
}

std::vector<json> buttons_of(const json& rendered) {
  std::vector<json> buttons;
  for (const json& block : blocks_of_type(rendered, "actions")) {
    for (const json& element : block["elements"]) {
      buttons.push_back(element);
    }
  }
  return buttons;
}

std::vector<std::string> field_texts(const json& rendered) {
  std::vector<std::string> texts;
  for (const json& block : blocks_of_type(rendered, "section")) {
    if (block.contains("fields")) {
      for (const json& field : block["fields"]) {
        texts.push_back(field["text"]);
      }
    }
  }
  return texts;
}

// Everything the context block says, elements joined by " | ".
std::string context_of(const json& rendered) {
  std::string said;
  for (const json& block : blocks_of_type(rendered, "context")) {
    for (const json& element : block["elements"]) {
      said += (said.empty() ? "" : " | ") + element["text"].get<std::string>();
    }
  }
  return said;
}

const json kExampleMessage = json::parse(R"({
  "title": "INC-1 · Database down",
  "text": "Primary is not answering.\n*Bold*, _italic_ and `code` may appear.",
  "fields": [{"label": "Status", "value": "DECLARED"}, {"label": "Severity", "value": "SEV1"}],
  "actions": [{"label": "Investigating", "command": "status investigating", "style": "primary"},
              {"label": "Close", "command": "status closed", "style": "danger"}],
  "form": {"id": "resolve:7", "title": "Resolve INC-1", "submit_label": "Resolve",
           "inputs": [{"name": "what_happened", "label": "What happened", "kind": "multiline",
                       "required": true, "max_length": 10240, "placeholder": "…"}]},
  "context": "Haveri · updated 2026-11-24T02:43:50.123Z"})");

// ---------------------------------------------------------------------------------
// cut_to

TEST(CutTo, LeavesTextWithinTheLimitAlone) {
  EXPECT_EQ(cut_to("Database down", 13), "Database down");
  EXPECT_EQ(cut_to("", 5), "");
}

TEST(CutTo, CountsCodePointsAndEndsWithAnEllipsis) {
  EXPECT_EQ(cut_to("Database down", 5), "Data" + kEllipsis);
  // 日本語のテキスト: 8 code points, 24 bytes.
  const std::string japanese =
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86"
      "\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88";
  EXPECT_EQ(cut_to(japanese, 8), japanese);
  EXPECT_EQ(cut_to(japanese, 3), japanese.substr(0, 6) + kEllipsis);
  const std::string fire = "\xF0\x9F\x94\xA5";  // 🔥, 4 bytes
  EXPECT_EQ(cut_to(fire + fire + fire, 2), fire + kEllipsis);
  EXPECT_EQ(cut_to("abc", 1), kEllipsis);
  EXPECT_EQ(cut_to("abc", 0), "");
}

TEST(CutTo, NeverLeavesInvalidUtf8) {
  EXPECT_EQ(cut_to("ok\xFF!", 10), "ok" + kReplacement + "!");
  EXPECT_EQ(cut_to("\xC3", 10), kReplacement);                     // truncated sequence
  EXPECT_EQ(cut_to("\xC0\xAF", 10), kReplacement + kReplacement);  // overlong "/"
  EXPECT_EQ(cut_to("\xED\xA0\x80", 10), kReplacement + kReplacement + kReplacement);  // surrogate
  for (std::size_t max = 0; max < 12; ++max) {
    const std::string cut = cut_to("a\xE2\x82\xAC\xF0\x9F\x94\xA5\xFF\xE2\x82z\xC3\xA9", max);
    EXPECT_TRUE(valid_utf8(cut)) << max;
    EXPECT_LE(code_points(cut), max);
  }
}

// ---------------------------------------------------------------------------------
// render_message

TEST(RenderMessage, ShowsTheExampleCardNatively) {
  const json rendered = render_message(kExampleMessage, "form-handle-1");
  expect_within_slack_limits(rendered);

  const json& blocks = rendered["blocks"];
  ASSERT_EQ(blocks.size(), 5U) << blocks.dump(2);
  EXPECT_EQ(blocks[0]["type"], "header");
  EXPECT_EQ(blocks[0]["text"]["type"], "plain_text");
  EXPECT_EQ(blocks[0]["text"]["text"], "INC-1 · Database down");
  EXPECT_EQ(blocks[1]["type"], "section");
  EXPECT_EQ(blocks[1]["text"]["type"], "mrkdwn");
  EXPECT_EQ(blocks[1]["text"]["text"],
            "Primary is not answering.\n*Bold*, _italic_ and `code` may appear.");
  EXPECT_EQ(field_texts(rendered),
            (std::vector<std::string>{"*Status*\nDECLARED", "*Severity*\nSEV1"}));
  const std::vector<json> buttons = buttons_of(rendered);
  ASSERT_EQ(buttons.size(), 3U);
  EXPECT_EQ(buttons[0]["text"]["text"], "Investigating");
  EXPECT_EQ(buttons[0]["value"], "status investigating");
  EXPECT_EQ(buttons[0]["action_id"], std::string(kCommandActionPrefix) + "0");
  EXPECT_EQ(buttons[0]["style"], "primary");
  EXPECT_EQ(buttons[1]["value"], "status closed");
  EXPECT_EQ(buttons[1]["action_id"], std::string(kCommandActionPrefix) + "1");
  EXPECT_EQ(buttons[1]["style"], "danger");
  EXPECT_EQ(buttons[2]["action_id"], kOpenFormActionId);
  EXPECT_EQ(buttons[2]["value"], "form-handle-1");
  EXPECT_EQ(buttons[2]["text"]["text"], "Resolve");
  EXPECT_EQ(buttons[2]["style"], "primary");
  EXPECT_EQ(context_of(rendered), "Haveri · updated 2026-11-24T02:43:50.123Z");
}

TEST(RenderMessage, FallbackTextIsTitleThenTextForNotifications) {
  const json rendered = render_message(kExampleMessage);
  EXPECT_EQ(rendered["text"],
            "INC-1 · Database down\nPrimary is not answering.\n*Bold*, _italic_ and `code` may "
            "appear.");

  EXPECT_EQ(render_message({{"title", "Only a title"}})["text"], "Only a title");
  EXPECT_EQ(render_message({{"text", "Only text"}})["text"], "Only text");
  EXPECT_EQ(render_message({{"title", "Pump <!channel> & co"}})["text"],
            "Pump &lt;!channel&gt; &amp; co");

  const json long_text = render_message({{"text", std::string(100000, 'x')}});
  EXPECT_EQ(code_points(long_text["text"].get<std::string>()), Limits::kFallbackText);
  EXPECT_TRUE(long_text["text"].get<std::string>().ends_with(kEllipsis));
}

TEST(RenderMessage, NobodyCanInjectMentionsOrLinks) {
  const json rendered =
      render_message({{"text",
                       "Ping <!channel> and <@U024BE7LH>, see <https://evil.example|the runbook> & "
                       "*this*"},
                      {"fields", {{{"label", "<!here>"}, {"value", "<#C024BE7LR> & <https://x>"}}}},
                      {"context", "by <@U1> <!everyone>"}});
  expect_within_slack_limits(rendered);
  EXPECT_EQ(blocks_of_type(rendered, "section")[0]["text"]["text"],
            "Ping &lt;!channel&gt; and &lt;@U024BE7LH&gt;, see &lt;https://evil.example|the "
            "runbook&gt; &amp; *this*");
  EXPECT_EQ(field_texts(rendered)[0],
            "*&lt;!here&gt;*\n&lt;#C024BE7LR&gt; &amp; &lt;https://x&gt;");
  EXPECT_EQ(context_of(rendered), "by &lt;@U1&gt; &lt;!everyone&gt;");
  // Typed "@here" is only text too: Slack must not parse mrkdwn into mentions.
  for (const json& block : rendered["blocks"]) {
    if (block["type"] == "section" && block.contains("text")) {
      EXPECT_EQ(block["text"]["verbatim"], true);
    }
  }
}

TEST(RenderMessage, CutsTextWithoutBreakingAnEntity) {
  // 2999 "x" then "&": escaped "&amp;" would straddle the 3000th character.
  const json rendered = render_message({{"text", std::string(2997, 'x') + "&&&"}});
  expect_within_slack_limits(rendered);
  const std::string text = blocks_of_type(rendered, "section")[0]["text"]["text"];
  EXPECT_EQ(text, std::string(2997, 'x') + kEllipsis);
}

TEST(RenderMessage, FieldsShowLabelAndValueTenPerSection) {
  json fields = json::array();
  for (int i = 0; i < 23; ++i) {
    fields.push_back({{"label", "Label " + std::to_string(i)}, {"value", "v" + std::to_string(i)}});
  }
  fields.push_back({{"label", "Owner"}, {"value", ""}});
  fields.push_back({{"label", ""}, {"value", "just a value"}});
  fields.push_back({{"label", ""}, {"value", ""}});  // nothing to show
  fields.push_back({{"label", "Count"}, {"value", 42}});
  const json rendered = render_message({{"fields", fields}});
  expect_within_slack_limits(rendered);

  const std::vector<json> sections = blocks_of_type(rendered, "section");
  ASSERT_EQ(sections.size(), 3U);
  EXPECT_EQ(sections[0]["fields"].size(), 10U);
  EXPECT_EQ(sections[1]["fields"].size(), 10U);
  EXPECT_EQ(sections[2]["fields"].size(), 6U);
  const std::vector<std::string> texts = field_texts(rendered);
  EXPECT_EQ(texts[0], "*Label 0*\nv0");
  EXPECT_EQ(texts[23], "*Owner*\n\xE2\x80\x94");  // "—": Slack refuses empty text
  EXPECT_EQ(texts[24], "just a value");
  EXPECT_EQ(texts[25], "*Count*\n42");
}

TEST(RenderMessage, ButtonsNeedACommandAndKeepOnlySlackStyles) {
  const json rendered =
      render_message({{"actions",
                       {{{"label", "Ack"}, {"command", "ack"}, {"style", "danger"}},
                        {{"label", "No command"}},
                        {{"command", "status closed"}, {"style", "warning"}},
                        {{"label", std::string(1000, 'L')}, {"command", "long label"}}}}});
  expect_within_slack_limits(rendered);
  const std::vector<json> buttons = buttons_of(rendered);
  ASSERT_EQ(buttons.size(), 3U);
  EXPECT_EQ(buttons[0]["style"], "danger");
  EXPECT_EQ(buttons[1]["text"]["text"], "status closed");  // the command when no label
  EXPECT_FALSE(buttons[1].contains("style"));
  EXPECT_EQ(buttons[1]["action_id"], std::string(kCommandActionPrefix) + "2");
  EXPECT_EQ(buttons[2]["text"]["text"], std::string(74, 'L') + kEllipsis);
  EXPECT_EQ(buttons[2]["value"], "long label");
  EXPECT_EQ(context_of(rendered), "");
}

TEST(RenderMessage, AButtonWhoseCommandDoesNotFitIsLeftOutAndSaidSo) {
  const std::string long_command = "note " + std::string(5000, 'n');
  const json rendered =
      render_message({{"title", "INC-2"},
                      {"actions",
                       {{{"label", "Add note"}, {"command", long_command}},
                        {{"label", "Exactly"}, {"command", std::string(Limits::kButtonValue, 'c')}},
                        {{"label", "Broken"}, {"command", "status \xFF"}}}}});
  expect_within_slack_limits(rendered);
  const std::vector<json> buttons = buttons_of(rendered);
  ASSERT_EQ(buttons.size(), 1U);
  EXPECT_EQ(buttons[0]["text"]["text"], "Exactly");
  for (const json& button : buttons) {
    EXPECT_NE(button["value"], long_command.substr(0, Limits::kButtonValue));
  }
  EXPECT_EQ(context_of(rendered), "(2 actions not shown)");
}

TEST(RenderMessage, FormButtonOnlyWithAHandle) {
  EXPECT_TRUE(buttons_of(render_message({{"form", {{"id", "f"}}}})).empty());
  const std::vector<json> titled =
      buttons_of(render_message({{"form", {{"id", "f"}, {"title", "Resolve it"}}}}, "h"));
  ASSERT_EQ(titled.size(), 1U);
  EXPECT_EQ(titled[0]["text"]["text"], "Resolve it");
  const std::vector<json> bare = buttons_of(render_message({{"form", {{"id", "f"}}}}, "h"));
  ASSERT_EQ(bare.size(), 1U);
  EXPECT_EQ(bare[0]["text"]["text"], "Open form");
  EXPECT_TRUE(buttons_of(render_message({{"form", "not a form"}}, "h")).empty());
}

TEST(RenderMessage, HugeMessagesStayWithinEveryLimitAndSayWhatIsMissing) {
  json message = {{"title", std::string(1000, 'T')},
                  {"text", std::string(100 * 1024, 'x')},
                  {"context", std::string(5000, 'c')},
                  {"form", {{"id", "f"}, {"title", "Form"}}}};
  for (int i = 0; i < 500; ++i) {
    message["actions"].push_back(
        {{"label", std::string(1024, 'b')},
         {"command", i % 2 == 0 ? "status " + std::to_string(i) : std::string(5000, 'v')}});
  }
  for (int i = 0; i < 200; ++i) {
    message["fields"].push_back(
        {{"label", "F" + std::to_string(i)}, {"value", std::string(3000, 'f')}});
  }
  const json rendered = render_message(message, "handle");
  expect_within_slack_limits(rendered);
  EXPECT_EQ(rendered["blocks"][0]["text"]["text"], std::string(149, 'T') + kEllipsis);
  const std::string context = context_of(rendered);
  EXPECT_THAT(context, HasSubstr("fields"));
  EXPECT_THAT(context, HasSubstr("actions not shown)"));
  // Every button shown runs exactly the command it was given.
  for (const json& button : buttons_of(rendered)) {
    if (button["action_id"] != kOpenFormActionId) {
      EXPECT_THAT(button["value"].get<std::string>(), testing::StartsWith("status "));
    }
  }
  EXPECT_FALSE(buttons_of(rendered).empty());
}

TEST(RenderMessage, TooManyBlocksLeavesSomeOutAndTheLastBlockCountsThem) {
  json message = {{"title", "INC-3"}};
  for (int i = 0; i < 1500; ++i) {
    message["actions"].push_back({{"label", "B"}, {"command", "c" + std::to_string(i)}});
  }
  const json rendered = render_message(message);
  expect_within_slack_limits(rendered);
  EXPECT_EQ(rendered["blocks"].size(), Limits::kMessageBlocks);
  const std::size_t shown = buttons_of(rendered).size();
  EXPECT_EQ(rendered["blocks"].back()["type"], "context");
  EXPECT_EQ(context_of(rendered), "(" + std::to_string(1500 - shown) + " actions not shown)");
}

TEST(RenderMessage, ShortMessagesHaveNoOverflowLine) {
  json message = {{"title", "INC-4"}};
  for (int i = 0; i < 100; ++i) {
    message["actions"].push_back({{"label", "B" + std::to_string(i)}, {"command", "c"}});
    message["fields"].push_back({{"label", "L"}, {"value", "v"}});
  }
  const json rendered = render_message(message);
  expect_within_slack_limits(rendered);
  EXPECT_EQ(buttons_of(rendered).size(), 100U);
  EXPECT_EQ(field_texts(rendered).size(), 100U);
  EXPECT_EQ(context_of(rendered), "");
}

TEST(RenderMessage, HostileMessagesRenderWhatMakesSenseWithoutThrowing) {
  const std::vector<json> hostile = {
      json(),
      json(42),
      json("a string"),
      json::array({1, 2, 3}),
      json::object(),
      {{"title", 7}, {"text", true}, {"context", {{"x", 1}}}},
      {{"title", nullptr}, {"fields", "not an array"}, {"actions", {{"label", "x"}}}},
      {{"fields", {nullptr, 1, "s", json::array(), {{"label", json::array()}, {"value", 1.5}}}}},
      {{"actions", {nullptr, 3, {{"command", 5}}, {{"command", json::object()}}}}},
      {{"title", "\xFF\xFE bad"}, {"text", "\xC3"}, {"context", "\x01\x02"}},
      {{"title", "   "}, {"text", " \n\t "}, {"fields", {{{"label", " "}, {"value", "\n"}}}}},
      {{"form", nullptr}, {"actions", {{{"command", "   "}}}}},
  };
  for (const json& message : hostile) {
    json rendered;
    EXPECT_NO_THROW(rendered = render_message(message, "h")) << message.dump();
    expect_within_slack_limits(rendered);
  }
  EXPECT_EQ(render_message({{"title", 7}})["blocks"][0]["text"]["text"], "7");
  EXPECT_EQ(render_message({{"title", "\xFF ok"}})["text"], kReplacement + " ok");
  EXPECT_EQ(field_texts(render_message({{"fields", {{{"label", "Ratio"}, {"value", 1.5}}}}})),
            (std::vector<std::string>{"*Ratio*\n1.5"}));
}

// ---------------------------------------------------------------------------------
// render_modal

const json kExampleForm = json::parse(R"({
  "id": "resolve:7", "title": "Resolve INC-1", "submit_label": "Resolve",
  "inputs": [
    {"name": "what_happened", "label": "What happened", "kind": "multiline", "required": true,
     "max_length": 10240, "placeholder": "Describe it"},
    {"name": "summary", "label": "Summary", "max_length": 80, "initial": "Pump down"},
    {"name": "impact", "label": "Units lost", "kind": "number", "initial": "-1.5"},
    {"name": "severity", "label": "Severity", "kind": "select", "required": true,
     "initial": "sev2",
     "options": [{"value": "sev1", "label": "SEV1 — line down"}, {"value": "sev2"}]},
    {"name": "due", "label": "Due", "kind": "date", "initial": "2026-12-01"},
    {"name": "owner", "kind": "user", "initial": "@bob"},
    {"name": "mystery", "kind": "hologram"}]})");

const json& block_named(const json& view, std::string_view name) {
  for (const json& block : view["blocks"]) {
    if (block.value("block_id", "") == name) {
      return block;
    }
  }
  static const json none;
  ADD_FAILURE() << "no block " << name << " in " << view.dump(2);
  return none;
}

TEST(RenderModal, EveryInputKindBecomesItsSlackElement) {
  const json view = render_modal(kExampleForm, "meta-1");
  expect_within_slack_limits(view);
  EXPECT_EQ(view["type"], "modal");
  EXPECT_EQ(view["callback_id"], kFormCallbackId);
  EXPECT_EQ(view["title"]["text"], "Resolve INC-1");
  EXPECT_EQ(view["submit"]["text"], "Resolve");
  EXPECT_EQ(view["private_metadata"], "meta-1");
  ASSERT_EQ(view["blocks"].size(), 7U);

  const json& what = block_named(view, "what_happened");
  EXPECT_EQ(what["type"], "input");
  EXPECT_EQ(what["label"]["text"], "What happened");
  EXPECT_EQ(what["optional"], false);
  EXPECT_EQ(what["element"]["type"], "plain_text_input");
  EXPECT_EQ(what["element"]["action_id"], "value");
  EXPECT_EQ(what["element"]["multiline"], true);
  EXPECT_EQ(what["element"]["max_length"], Limits::kInputMaxLength);  // 10240, capped
  EXPECT_EQ(what["element"]["placeholder"]["text"], "Describe it");

  const json& summary = block_named(view, "summary");
  EXPECT_EQ(summary["optional"], true);
  EXPECT_FALSE(summary["element"].contains("multiline"));
  EXPECT_EQ(summary["element"]["max_length"], 80);
  EXPECT_EQ(summary["element"]["initial_value"], "Pump down");

  const json& impact = block_named(view, "impact");
  EXPECT_EQ(impact["element"]["type"], "number_input");
  EXPECT_EQ(impact["element"]["is_decimal_allowed"], true);
  EXPECT_EQ(impact["element"]["initial_value"], "-1.5");

  const json& severity = block_named(view, "severity");
  EXPECT_EQ(severity["element"]["type"], "static_select");
  ASSERT_EQ(severity["element"]["options"].size(), 2U);
  EXPECT_EQ(severity["element"]["options"][0]["text"]["text"], "SEV1 — line down");
  EXPECT_EQ(severity["element"]["options"][0]["value"], "sev1");
  EXPECT_EQ(severity["element"]["options"][1]["text"]["text"], "sev2");
  EXPECT_EQ(severity["element"]["initial_option"]["value"], "sev2");

  const json& due = block_named(view, "due");
  EXPECT_EQ(due["element"]["type"], "datepicker");
  EXPECT_EQ(due["element"]["initial_date"], "2026-12-01");

  const json& owner = block_named(view, "owner");
  EXPECT_EQ(owner["element"]["type"], "users_select");
  EXPECT_EQ(owner["label"]["text"], "owner");               // the name when no label
  EXPECT_FALSE(owner["element"].contains("initial_user"));  // "@bob" is no Slack user id

  EXPECT_EQ(block_named(view, "mystery")["element"]["type"], "plain_text_input");
}

TEST(RenderModal, InitialValuesSlackWouldRefuseAreDropped) {
  const json view = render_modal({{"inputs",
                                   {{{"name", "n"}, {"kind", "number"}, {"initial", "forty-two"}},
                                    {{"name", "d"}, {"kind", "date"}, {"initial", "+3d"}},
                                    {{"name", "u"}, {"kind", "user"}, {"initial", "U024BE7LH"}},
                                    {{"name", "s"},
                                     {"kind", "select"},
                                     {"initial", "sev9"},
                                     {"options", {{{"value", "sev1"}}}}},
                                    {{"name", "t"}, {"max_length", 3}, {"initial", "four"}}}}},
                                 "");
  expect_within_slack_limits(view);
  EXPECT_FALSE(block_named(view, "n")["element"].contains("initial_value"));
  EXPECT_FALSE(block_named(view, "d")["element"].contains("initial_date"));
  EXPECT_EQ(block_named(view, "u")["element"]["initial_user"], "U024BE7LH");
  EXPECT_FALSE(block_named(view, "s")["element"].contains("initial_option"));
  EXPECT_FALSE(block_named(view, "t")["element"].contains("initial_value"));
  EXPECT_FALSE(view.contains("private_metadata"));
}

TEST(RenderModal, TitlesAreCutToWhatSlackShows) {
  const json view = render_modal({{"title", "Resolve INC-1234567890 — the pump that failed"},
                                  {"submit_label", "Resolve and close the incident now"},
                                  {"inputs", {{{"name", "x"}}}}},
                                 std::string(Limits::kPrivateMetadata, 'm'));
  expect_within_slack_limits(view);
  EXPECT_EQ(view["title"]["text"], "Resolve INC-1234567890 " + kEllipsis);
  EXPECT_EQ(code_points(view["submit"]["text"].get<std::string>()), Limits::kModalButton);
  EXPECT_EQ(view["private_metadata"].get<std::string>().size(), Limits::kPrivateMetadata);

  const json untitled =
      render_modal({{"inputs", {{{"name", "x"}}}}}, std::string(Limits::kPrivateMetadata + 1, 'm'));
  expect_within_slack_limits(untitled);
  EXPECT_EQ(untitled["title"]["text"], "Form");
  EXPECT_EQ(untitled["submit"]["text"], "Submit");
  EXPECT_FALSE(untitled.contains("private_metadata"));  // cut, it would route nowhere
}

TEST(RenderModal, SelectsOfferWhatFitsAndSayHowManyAreMissing) {
  json options = json::array();
  for (int i = 0; i < 500; ++i) {
    options.push_back({{"value", "v" + std::to_string(i)}, {"label", std::string(200, 'o')}});
  }
  options.push_back({{"value", std::string(Limits::kOptionValue + 1, 'x')}});
  options.push_back({{"value", "v0"}});  // repeated
  const json view = render_modal(
      {{"inputs",
        {{{"name", "pick"}, {"kind", "select"}, {"initial", "v99"}, {"options", options}},
         {{"name", "none"}, {"kind", "select"}, {"options", json::array()}}}}},
      "");
  expect_within_slack_limits(view);
  const json& pick = block_named(view, "pick");
  EXPECT_EQ(pick["element"]["options"].size(), Limits::kSelectOptions);
  EXPECT_EQ(pick["element"]["options"][0]["text"]["text"], std::string(74, 'o') + kEllipsis);
  EXPECT_EQ(pick["element"]["initial_option"]["value"], "v99");
  EXPECT_EQ(pick["hint"]["text"], "402 options are not listed here.");
  // Nothing to choose from: a text answer, checked by the daemon.
  EXPECT_EQ(block_named(view, "none")["element"]["type"], "plain_text_input");
}

TEST(RenderModal, InputsThatCannotBeAnsweredAreLeftOutAndCounted) {
  const json view = render_modal({{"inputs",
                                   {{{"name", "ok"}},
                                    {{"name", "ok"}},
                                    {{"name", ""}},
                                    {{"label", "no name"}},
                                    {{"name", 12}},
                                    {{"name", std::string(Limits::kBlockId + 1, 'n')}},
                                    {{"name", "bad\xFF"}},
                                    nullptr}}},
                                 "");
  expect_within_slack_limits(view);
  ASSERT_EQ(view["blocks"].size(), 2U);
  EXPECT_EQ(view["blocks"][0]["block_id"], "ok");
  EXPECT_EQ(view["blocks"][1]["elements"][0]["text"], "(7 inputs not shown)");
}

TEST(RenderModal, AHundredAndFiftyInputsFitAHundredBlocks) {
  json inputs = json::array();
  for (int i = 0; i < 150; ++i) {
    inputs.push_back({{"name", "in" + std::to_string(i)},
                      {"label", std::string(3000, 'l')},
                      {"placeholder", std::string(500, 'p')},
                      {"max_length", 1 << 20}});
  }
  const json view = render_modal({{"title", "Big"}, {"inputs", inputs}}, "m");
  expect_within_slack_limits(view);
  ASSERT_EQ(view["blocks"].size(), Limits::kModalBlocks);
  EXPECT_EQ(view["blocks"][98]["block_id"], "in98");
  EXPECT_EQ(view["blocks"][99]["elements"][0]["text"], "(51 inputs not shown)");
}

TEST(RenderModal, HostileFormsStillOpenAView) {
  for (const json& form : {json(), json(1), json::array(), json::object(),
                           json{{"inputs", "x"}, {"title", json::array()}},
                           json{{"inputs",
                                 {{{"name", "a"},
                                   {"kind", 3},
                                   {"required", "yes"},
                                   {"max_length", -4},
                                   {"options", 5}}}}}}) {
    json view;
    EXPECT_NO_THROW(view = render_modal(form, "\xFF")) << form.dump();
    expect_within_slack_limits(view);
  }
  const json view = render_modal({{"inputs", {{{"name", "a"}, {"required", "yes"}}}}}, "");
  EXPECT_EQ(view["blocks"][0]["optional"], true);  // only true means required
}

// ---------------------------------------------------------------------------------
// read_view_submission

// The view Slack sends back in view_submission: our blocks, plus the state of each.
json submitted(json view, const json& state_values) {
  view["id"] = "V0123";
  view["state"] = {{"values", state_values}};
  return view;
}

json text_state(const std::string& value) {
  return {{"value", {{"type", "plain_text_input"}, {"value", value}}}};
}

TEST(ReadViewSubmission, ReadsEveryElementAsAString) {
  const json view = submitted(
      render_modal(kExampleForm, "m"),
      {{"what_happened", text_state("Seal failed\nreplaced it")},
       {"summary", text_state("Pump")},
       {"impact", {{"value", {{"type", "number_input"}, {"value", "-1.5"}}}}},
       {"severity",
        {{"value",
          {{"type", "static_select"},
           {"selected_option",
            {{"text", {{"type", "plain_text"}, {"text", "SEV1"}}}, {"value", "sev1"}}}}}}},
       {"due", {{"value", {{"type", "datepicker"}, {"selected_date", "2026-12-01"}}}}},
       {"owner", {{"value", {{"type", "users_select"}, {"selected_user", "U024BE7LH"}}}}},
       {"mystery", text_state("")}});
  const ViewAnswers answers = read_view_submission(view);
  EXPECT_TRUE(answers.errors.empty()) << ::testing::PrintToString(answers.errors);
  EXPECT_EQ(answers.values,
            (std::map<std::string, std::string>{{"what_happened", "Seal failed\nreplaced it"},
                                                {"summary", "Pump"},
                                                {"impact", "-1.5"},
                                                {"severity", "sev1"},
                                                {"due", "2026-12-01"},
                                                {"owner", "U024BE7LH"}}));
}

TEST(ReadViewSubmission, ARequiredInputLeftEmptyIsAnError) {
  const json view = submitted(
      render_modal(kExampleForm, "m"),
      {{"what_happened", text_state("")},
       {"summary", text_state("")},
       {"severity", {{"value", {{"type", "static_select"}, {"selected_option", nullptr}}}}}});
  const ViewAnswers answers = read_view_submission(view);
  EXPECT_TRUE(answers.values.empty());
  EXPECT_EQ(answers.errors,
            (std::map<std::string, std::string>{{"what_happened", "Please fill this in."},
                                                {"severity", "Please fill this in."}}));
}

TEST(ReadViewSubmission, AnAnswerLongerThanMaxLengthIsAnError) {
  const json view = submitted(
      render_modal(kExampleForm, "m"),
      {{"what_happened", text_state("ok")},
       {"summary", text_state(std::string(81, 's'))},
       {"severity",
        {{"value", {{"type", "static_select"}, {"selected_option", {{"value", "sev2"}}}}}}}});
  const ViewAnswers answers = read_view_submission(view);
  EXPECT_EQ(answers.errors, (std::map<std::string, std::string>{
                                {"summary", "Please use at most 80 characters (this has 81)."}}));
  // 80 code points of "é" (160 bytes) are within 80 characters.
  std::string accents;
  for (int i = 0; i < 80; ++i) {
    accents += "\xC3\xA9";
  }
  const json within = submitted(
      render_modal(kExampleForm, "m"),
      {{"what_happened", text_state("ok")},
       {"summary", text_state(accents)},
       {"severity",
        {{"value", {{"type", "static_select"}, {"selected_option", {{"value", "sev2"}}}}}}}});
  EXPECT_TRUE(read_view_submission(within).errors.empty());
}

TEST(ReadViewSubmission, ANumberMustBeADecimal) {
  const json form = {{"inputs", {{{"name", "n"}, {"kind", "number"}}}}};
  const auto error_for = [&form](const std::string& value) {
    const ViewAnswers answers = read_view_submission(
        submitted(render_modal(form, ""),
                  {{"n", {{"value", {{"type", "number_input"}, {"value", value}}}}}}));
    return answers.errors.contains("n") ? answers.errors.at("n") : std::string{};
  };
  for (const std::string good : {"42", "-1.5", "0", "0.25", "12345678901234567890"}) {
    EXPECT_EQ(error_for(good), "") << good;
  }
  for (const std::string bad : {"1e5", "abc", "1.", ".5", "--1", "1,5", " 4", "0x10", "+1"}) {
    EXPECT_EQ(error_for(bad), "Please enter a number, such as 42 or -1.5.") << bad;
  }
  // A view whose number input takes whole numbers only.
  json whole = render_modal(form, "");
  whole["blocks"][0]["element"]["is_decimal_allowed"] = false;
  const ViewAnswers answers = read_view_submission(
      submitted(whole, {{"n", {{"value", {{"type", "number_input"}, {"value", "1.5"}}}}}}));
  EXPECT_EQ(answers.errors.at("n"), "Please enter a whole number, such as 42.");
}

TEST(ReadViewSubmission, AChoiceMustBeOneOfTheOptions) {
  const json view = submitted(
      render_modal(kExampleForm, "m"),
      {{"what_happened", text_state("x")},
       {"severity",
        {{"value", {{"type", "static_select"}, {"selected_option", {{"value", "sev9"}}}}}}}});
  EXPECT_EQ(read_view_submission(view).errors.at("severity"), "Please choose one of the options.");
}

TEST(ReadViewSubmission, UnknownStateIsIgnoredAndMissingStateIsEmpty) {
  const json form = {{"inputs", {{{"name", "a"}, {"required", true}}, {{"name", "b"}}}}};
  const ViewAnswers answers = read_view_submission(submitted(
      render_modal(form, ""), {{"intruder", text_state("x")}, {"b", text_state("fine")}}));
  EXPECT_EQ(answers.values, (std::map<std::string, std::string>{{"b", "fine"}}));
  EXPECT_EQ(answers.errors, (std::map<std::string, std::string>{{"a", "Please fill this in."}}));
}

TEST(ReadViewSubmission, HostileShapesNeverThrow) {
  const json good_view = render_modal(kExampleForm, "m");
  std::vector<json> hostile = {
      json(),
      json(3),
      json("view"),
      json::array(),
      json::object(),
      {{"blocks", "x"}},
      {{"blocks", {nullptr, 1, "s", json::array(), {{"type", "input"}}}}},
      {{"blocks", {{{"type", "input"}, {"block_id", 7}}}}},
      submitted(good_view, nullptr),
      submitted(good_view, json::array()),
      submitted(good_view, {{"summary", nullptr}, {"what_happened", json::array()}}),
      submitted(good_view, {{"summary", {{"value", nullptr}}},
                            {"what_happened", {{"value", {{"type", 5}, {"value", 9}}}}}}),
      submitted(
          good_view,
          {{"severity", {{"value", {{"type", "static_select"}, {"selected_option", "sev1"}}}}}}),
      submitted(good_view,
                {{"summary", {{"value", {{"type", "plain_text_input"}, {"value", "bad\xFF"}}}}}}),
  };
  json no_state = good_view;
  no_state["state"] = "nothing";
  hostile.push_back(no_state);
  json weird_blocks = submitted(good_view, {{"summary", text_state("x")}});
  weird_blocks["blocks"][1]["element"] = "not an element";
  weird_blocks["blocks"][2]["optional"] = "maybe";
  weird_blocks["blocks"][0]["element"]["max_length"] = "ten";
  hostile.push_back(weird_blocks);
  for (const json& view : hostile) {
    ViewAnswers answers;
    EXPECT_NO_THROW(answers = read_view_submission(view)) << view.dump();
    for (const auto& [block_id, value] : answers.values) {
      EXPECT_TRUE(valid_utf8(value)) << block_id;
    }
  }
  // A required input with a hostile state is simply unanswered.
  const ViewAnswers answers =
      read_view_submission(submitted(good_view, {{"what_happened", {{"value", {{"value", 9}}}}}}));
  EXPECT_EQ(answers.errors.at("what_happened"), "Please fill this in.");
}

// ---------------------------------------------------------------------------------
// Generated messages and forms: whatever the daemon sends, Slack accepts what we build.

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : random_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : random_() % n; }
  bool one_in(std::size_t n) { return below(n) == 0; }

  // Text with what tends to break renderers: markup, Slack control characters, entities,
  // multibyte and invalid UTF-8, control characters, whitespace only.
  std::string text(std::size_t max_pieces) {
    static const std::vector<std::string> pieces = {"a",
                                                    "Pump",
                                                    " ",
                                                    "\n",
                                                    "\t",
                                                    "\r",
                                                    "&",
                                                    "<",
                                                    ">",
                                                    "<!channel>",
                                                    "<@U024BE7LH>",
                                                    "&amp;",
                                                    "*bold*",
                                                    "_it_",
                                                    "`code`",
                                                    "\xC3\xA9",
                                                    "\xE6\x97\xA5",
                                                    "\xF0\x9F\x94\xA5",
                                                    "\xE2\x80\xA6",
                                                    "\xFF",
                                                    "\xC3",
                                                    "\xED\xA0\x80",
                                                    "\x01",
                                                    "\x7F",
                                                    "@here",
                                                    "x"};
    std::string out;
    const std::size_t count = below(max_pieces + 1);
    for (std::size_t i = 0; i < count; ++i) {
      out += pieces[below(pieces.size())];
    }
    if (one_in(20)) {
      out += std::string(below(6000), 'y');
    }
    return out;
  }

  // Mostly text, sometimes something else: hostile member types.
  json value(std::size_t max_pieces) {
    switch (below(12)) {
      case 0:
        return nullptr;
      case 1:
        return static_cast<int>(below(1000)) - 500;
      case 2:
        return json::array({text(3)});
      default:
        return text(max_pieces);
    }
  }

  json message() {
    json message = json::object();
    if (!one_in(4)) {
      message["title"] = value(60);
    }
    if (!one_in(4)) {
      message["text"] = value(one_in(5) ? 4000 : 40);
    }
    if (!one_in(3)) {
      message["context"] = value(30);
    }
    if (!one_in(3)) {
      const std::size_t fields = one_in(5) ? below(250) : below(15);
      for (std::size_t i = 0; i < fields; ++i) {
        message["fields"].push_back(one_in(30) ? json(text(2))
                                               : json{{"label", value(8)}, {"value", value(300)}});
      }
    }
    if (!one_in(3)) {
      const std::size_t actions = one_in(5) ? below(700) : below(30);
      for (std::size_t i = 0; i < actions; ++i) {
        json action = {
            {"label", value(one_in(10) ? 400 : 6)},
            {"command", one_in(15) ? json(std::string(1990 + below(20), 'c')) : value(10)}};
        if (one_in(2)) {
          action["style"] = std::vector<std::string>{"primary", "danger", "x", ""}[below(4)];
        }
        message["actions"].push_back(action);
      }
    }
    if (one_in(3)) {
      message["form"] = form();
    }
    return one_in(40) ? json(text(5)) : message;
  }

  json form() {
    static const std::vector<std::string> kinds = {"text", "multiline", "number", "select",
                                                   "date", "user",      "other",  ""};
    json form = {{"id", "f"}, {"title", value(20)}, {"submit_label", value(20)}};
    const std::size_t inputs = one_in(5) ? below(160) : below(12);
    for (std::size_t i = 0; i < inputs; ++i) {
      json input = {{"name", one_in(20) ? value(3) : json("in" + std::to_string(below(200)))},
                    {"label", value(one_in(10) ? 3000 : 8)},
                    {"kind", kinds[below(kinds.size())]},
                    {"placeholder", value(one_in(10) ? 500 : 5)},
                    {"initial", value(one_in(10) ? 4000 : 5)}};
      if (one_in(2)) {
        input["required"] = one_in(5) ? json("yes") : json(one_in(2));
      }
      if (one_in(2)) {
        input["max_length"] = one_in(5) ? json(-3) : json(below(6000));
      }
      const std::size_t options = one_in(4) ? below(600) : below(8);
      for (std::size_t k = 0; k < options; ++k) {
        input["options"].push_back({{"value", one_in(10) ? json(std::string(140 + below(20), 'v'))
                                                         : json("o" + std::to_string(below(300)))},
                                    {"label", value(one_in(10) ? 100 : 4)}});
      }
      form["inputs"].push_back(input);
    }
    return one_in(30) ? json(text(3)) : form;
  }

 private:
  std::mt19937 random_;
};

TEST(BlockKitProperty, GeneratedMessagesStayWithinSlackLimits) {
  Generator generate(20261124);
  for (int i = 0; i < 300; ++i) {
    const json message = generate.message();
    const std::string handle = generate.one_in(3) ? std::string{} : generate.text(4);
    json rendered;
    ASSERT_NO_THROW(rendered = render_message(message, handle)) << i;
    SCOPED_TRACE("message " + std::to_string(i));
    expect_within_slack_limits(rendered);
    if (::testing::Test::HasFailure()) {
      break;  // one counterexample is enough to read
    }
  }
}

TEST(BlockKitProperty, GeneratedFormsStayWithinSlackLimitsAndAnswerBack) {
  Generator generate(7);
  for (int i = 0; i < 300; ++i) {
    const json form = generate.form();
    const std::string metadata = generate.one_in(4) ? std::string(3100, 'm') : "resolve:7";
    json view;
    ASSERT_NO_THROW(view = render_modal(form, metadata)) << i;
    SCOPED_TRACE("form " + std::to_string(i));
    expect_within_slack_limits(view);

    // Whatever a person enters into the view comes back keyed by block_id.
    json values = json::object();
    std::map<std::string, std::string> typed;
    for (const json& block : view["blocks"]) {
      if (block["type"] != "input") {
        continue;
      }
      const std::string id = block["block_id"];
      const json& element = block["element"];
      json state = {{"type", element["type"]}};
      std::string answer = "x";
      if (element["type"] == "static_select") {
        state["selected_option"] = element["options"][0];
        answer = element["options"][0]["value"];
      } else if (element["type"] == "datepicker") {
        state["selected_date"] = answer = "2026-01-31";
      } else if (element["type"] == "users_select") {
        state["selected_user"] = answer = "U1234";
      } else if (element["type"] == "number_input") {
        state["value"] = answer = "7";
      } else {
        state["value"] = answer;
      }
      values[id] = {{"value", state}};
      typed[id] = answer;
    }
    const ViewAnswers answers = read_view_submission(submitted(view, values));
    EXPECT_EQ(answers.values, typed);
    EXPECT_TRUE(answers.errors.empty()) << ::testing::PrintToString(answers.errors);
    if (::testing::Test::HasFailure()) {
      break;
    }
  }
}

}  // namespace
}  // namespace haveri::slack
