// Adaptive Card rendering of neutral messages and forms (plugins/teams/src/adaptive_card.cpp):
// what a person sees in Teams, that every card we build passes the Adaptive Card 1.5
// checker the fake Bot Connector uses and stays within Teams' size limit however long or
// odd the neutral input, and how submitted answers are read back.
#include "adaptive_card.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "teams/adaptive_card_checker.hpp"

namespace haveri::teams {
namespace {

using json = nlohmann::json;
using Limits = CardLimits;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const std::string kEllipsis = "\xE2\x80\xA6";
const std::string kReplacement = "\xEF\xBF\xBD";
const std::string kDash = "\xE2\x80\x94";
const std::string kFire = "\xF0\x9F\x94\xA5";  // U+1F525, four bytes

// A card Teams would take: valid against the 1.5 schema, within our size bound, and
// serializable as strict UTF-8 (dump() throws on anything else).
void expect_sendable(const json& card) {
  EXPECT_THAT(haveri::fakes::check_adaptive_card(card), IsEmpty()) << card.dump(2);
  std::string serialized;
  ASSERT_NO_THROW(serialized = card.dump());
  EXPECT_LE(serialized.size(), Limits::kCardBytes);
}

json rendered(const json& message) {
  json card = render_card(message);
  expect_sendable(card);
  return card;
}

// Body elements of one type, in order.
std::vector<json> body_of_type(const json& card, std::string_view type) {
  std::vector<json> out;
  for (const json& element : card["body"]) {
    if (element.value("type", "") == type) {
      out.push_back(element);
    }
  }
  return out;
}

// Every Action.Execute of the card: its action bar, then ActionSets in the body.
std::vector<json> all_actions(const json& card) {
  std::vector<json> out;
  for (const json& action : card.value("actions", json::array())) {
    out.push_back(action);
  }
  for (const json& set : body_of_type(card, "ActionSet")) {
    for (const json& action : set["actions"]) {
      out.push_back(action);
    }
  }
  return out;
}

std::vector<json> inputs_of(const json& card) {
  std::vector<json> out;
  for (const json& element : card["body"]) {
    if (element.value("type", "").starts_with("Input.")) {
      out.push_back(element);
    }
  }
  return out;
}

// The text of the last TextBlock: where the card says what it left out.
std::string last_text(const json& card) {
  const std::vector<json> blocks = body_of_type(card, "TextBlock");
  return blocks.empty() ? std::string{} : blocks.back().value("text", "");
}

json doc_example() {
  return json::parse(R"({
    "title": "INC-1 · Database down",
    "text": "Primary is not answering.\n*Bold*, _italic_ and `code` may appear.",
    "fields": [{"label": "Status", "value": "DECLARED"}, {"label": "Severity", "value": "SEV1"}],
    "actions": [{"label": "Investigating", "command": "status investigating", "style": "primary"},
                {"label": "Close", "command": "status closed", "style": "danger"},
                {"label": "Ack", "command": "ack"}],
    "context": "Haveri · updated 2026-11-24T02:43:50.123Z"})");
}

json form_message(json inputs, const json& extra = json::object()) {
  json message = {{"form",
                   {{"id", "resolve:7"},
                    {"title", "Resolve INC-1"},
                    {"submit_label", "Resolve"},
                    {"inputs", std::move(inputs)}}}};
  message.update(extra);
  return message;
}

// ---------------------------------------------------------------------------------
// Messages

TEST(AdaptiveCard, AMessageIsAnAdaptiveCard15ForTeams) {
  const json card = rendered(doc_example());
  EXPECT_EQ(card["type"], "AdaptiveCard");
  EXPECT_EQ(card["version"], "1.5");
  EXPECT_EQ(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
  EXPECT_EQ(card["msteams"], json({{"width", "Full"}}));
}

TEST(AdaptiveCard, TitleTextFieldsAndContextMapAsDocumented) {
  const json card = rendered(doc_example());
  const json& body = card["body"];
  ASSERT_THAT(body, SizeIs(4));
  EXPECT_EQ(body[0], json({{"type", "TextBlock"},
                           {"text", "INC-1 · Database down"},
                           {"size", "Large"},
                           {"weight", "Bolder"},
                           {"wrap", true}}));
  EXPECT_EQ(body[1], json({{"type", "TextBlock"},
                           {"text",
                            "Primary is not answering.\n\n**Bold**, _italic_ and `code` may "
                            "appear."},
                           {"wrap", true}}));
  EXPECT_EQ(body[2], json({{"type", "FactSet"},
                           {"facts",
                            {{{"title", "Status"}, {"value", "DECLARED"}},
                             {{"title", "Severity"}, {"value", "SEV1"}}}}}));
  EXPECT_EQ(body[3], json({{"type", "TextBlock"},
                           {"text", "Haveri · updated 2026-11-24T02:43:50.123Z"},
                           {"isSubtle", true},
                           {"size", "Small"},
                           {"wrap", true}}));
}

TEST(AdaptiveCard, ActionsAreExecuteButtonsWithTheCommandAndStyle) {
  const json card = rendered(doc_example());
  ASSERT_THAT(card["actions"], SizeIs(3));
  EXPECT_EQ(card["actions"][0],
            json({{"type", "Action.Execute"},
                  {"title", "Investigating"},
                  {"verb", "haveri.command"},
                  {"data", {{"haveri_action", "command"}, {"command", "status investigating"}}},
                  {"style", "positive"}}));
  EXPECT_EQ(card["actions"][1]["style"], "destructive");
  EXPECT_EQ(card["actions"][1]["data"]["command"], "status closed");
  EXPECT_FALSE(card["actions"][2].contains("style"));
  // Without inputs on the card, buttons gather none anyway: no associatedInputs.
  EXPECT_FALSE(card["actions"][0].contains("associatedInputs"));
}

TEST(AdaptiveCard, AButtonWithoutLabelShowsItsCommandAndOneWithoutCommandIsNoButton) {
  const json card =
      rendered({{"actions",
                 {{{"command", "ack"}},
                  {{"label", "Nothing to run"}},
                  {{"label", "Blank"}, {"command", "  "}},
                  {{"label", "Weird style"}, {"command", "x"}, {"style", "purple"}}}}});
  ASSERT_THAT(card["actions"], SizeIs(2));
  EXPECT_EQ(card["actions"][0]["title"], "ack");
  EXPECT_FALSE(card["actions"][1].contains("style"));
  EXPECT_THAT(last_text(card), Not(HasSubstr("not shown")));
}

TEST(AdaptiveCard, MoreThanSixActionsGoIntoAnActionSet) {
  json actions = json::array();
  for (int i = 0; i < 8; ++i) {
    actions.push_back(
        {{"label", "Button " + std::to_string(i)}, {"command", "c" + std::to_string(i)}});
  }
  const json card = rendered({{"title", "Many"}, {"actions", actions}});
  ASSERT_THAT(card["actions"], SizeIs(Limits::kTopLevelActions));
  const std::vector<json> sets = body_of_type(card, "ActionSet");
  ASSERT_THAT(sets, SizeIs(1));
  ASSERT_THAT(sets[0]["actions"], SizeIs(2));
  EXPECT_EQ(sets[0]["actions"][0]["data"]["command"], "c6");
  EXPECT_EQ(sets[0]["actions"][1]["data"]["command"], "c7");
  EXPECT_EQ(card["actions"][5]["data"]["command"], "c5");
}

TEST(AdaptiveCard, ActionsPastTheLimitAreNamedAsNotShown) {
  json actions = json::array();
  for (int i = 0; i < 40; ++i) {
    actions.push_back({{"label", "B" + std::to_string(i)}, {"command", "c" + std::to_string(i)}});
  }
  const json card = rendered({{"actions", actions}});
  EXPECT_THAT(all_actions(card), SizeIs(Limits::kActions));
  EXPECT_EQ(last_text(card), "(10 buttons not shown)");
}

TEST(AdaptiveCard, AButtonWhoseCommandIsNotUtf8OrTooLongIsLeftOutAndSaidSo) {
  const json card = rendered({{"actions",
                               {{{"label", "Bad"}, {"command", "status \xff\xfe"}},
                                {{"label", "Long"}, {"command", std::string(5000, 'x')}},
                                {{"label", "Good"}, {"command", "ack"}}}}});
  ASSERT_THAT(card["actions"], SizeIs(1));
  EXPECT_EQ(card["actions"][0]["data"]["command"], "ack");
  EXPECT_EQ(last_text(card), "(2 buttons not shown)");
}

TEST(AdaptiveCard, FieldsShowADashForAnEmptyValueAndSkipEmptyOnes) {
  const json card = rendered({{"fields",
                               {{{"label", "Lead"}, {"value", ""}},
                                {{"label", ""}, {"value", "  "}},
                                {{"label", "Count"}, {"value", 42}},
                                "not a field",
                                {{"value", "no label"}}}}});
  const std::vector<json> sets = body_of_type(card, "FactSet");
  ASSERT_THAT(sets, SizeIs(1));
  EXPECT_EQ(sets[0]["facts"], json({{{"title", "Lead"}, {"value", kDash}},
                                    {{"title", "Count"}, {"value", "42"}},
                                    {{"title", ""}, {"value", "no label"}}}));
}

TEST(AdaptiveCard, FieldsPastThirtyAreNamedAsNotShown) {
  json fields = json::array();
  for (int i = 0; i < 35; ++i) {
    fields.push_back({{"label", "F" + std::to_string(i)}, {"value", "v"}});
  }
  const json card = rendered({{"fields", fields}});
  EXPECT_THAT(body_of_type(card, "FactSet")[0]["facts"], SizeIs(Limits::kFacts));
  EXPECT_EQ(last_text(card), "(5 fields not shown)");
}

TEST(AdaptiveCard, LongTitleTextAndFieldsAreCutVisibly) {
  const json card = rendered(
      {{"title", std::string(300, 't')},
       {"text", std::string(9000, 'x')},
       {"fields", {{{"label", std::string(150, 'l')}, {"value", std::string(1500, 'v')}}}}});
  EXPECT_EQ(card["body"][0]["text"], std::string(Limits::kTitleChars - 1, 't') + kEllipsis);
  const std::string text = card["body"][1]["text"];
  EXPECT_TRUE(text.ends_with(kEllipsis));
  const json fact = body_of_type(card, "FactSet")[0]["facts"][0];
  EXPECT_EQ(fact["title"], std::string(Limits::kFactTitleChars - 1, 'l') + kEllipsis);
  EXPECT_EQ(fact["value"], std::string(Limits::kFactValueChars - 1, 'v') + kEllipsis);
}

TEST(AdaptiveCard, MembersOfTheWrongTypeRenderAsFarAsTheyMakeSense) {
  for (const json& message : {json::array(), json("text"), json(), json(42), json::object()}) {
    const json card = rendered(message);
    EXPECT_EQ(last_text(card), "(empty message)") << message.dump();
  }
  const json card = rendered({{"title", 42},
                              {"text", {{"nested", true}}},
                              {"fields", "Status: DECLARED"},
                              {"actions", {{"label", "x"}}},
                              {"form", "resolve"},
                              {"context", json::array()}});
  ASSERT_THAT(card["body"], SizeIs(1));
  EXPECT_EQ(card["body"][0]["text"], "42");
  EXPECT_FALSE(card.contains("actions"));
  const json odd_form = rendered(form_message({{"inputs", "not an array"}}));
  EXPECT_THAT(inputs_of(odd_form), IsEmpty());
  EXPECT_TRUE(rendered(form_message("not an array")).contains("actions"));
}

// ---------------------------------------------------------------------------------
// Markdown

TEST(CardMarkdown, TheNeutralSubsetBecomesCardMarkdown) {
  EXPECT_EQ(card_markdown("*Bold*, _italic_ and `code`"), "**Bold**, _italic_ and `code`");
  EXPECT_EQ(card_markdown("a *bold move* here"), "a **bold move** here");
  EXPECT_EQ(card_markdown("(*x*)"), "(**x**)");
}

TEST(CardMarkdown, EveryLineIsAParagraphBecauseCardsIgnoreSingleNewlines) {
  EXPECT_EQ(card_markdown("one\ntwo\r\nthree\n\n\nfour"), "one\n\ntwo\n\nthree\n\nfour");
  EXPECT_EQ(card_markdown("  indented\t\n\n"), "indented");
}

TEST(CardMarkdown, LinksCannotBeInjected) {
  const std::string md = card_markdown("click [here](http://evil.example) or ![img](http://x)");
  EXPECT_EQ(md, "click \\[here\\]\\(http://evil.example) or !\\[img\\]\\(http://x)");
  EXPECT_THAT(md, Not(HasSubstr("](")));
  EXPECT_EQ(card_markdown("<http://evil.example>"), "\\<http://evil.example>");
  // A backslash typed before punctuation cannot undo the escape.
  EXPECT_EQ(card_markdown("\\[x](y)"), "\\\\\\[x\\]\\(y)");
  EXPECT_EQ(card_markdown("C:\\path"), "C:\\path");
}

TEST(CardMarkdown, LineStartsThatWouldMakeListsHeadingsOrQuotesAreEscaped) {
  EXPECT_EQ(card_markdown("- item"), "\\- item");
  EXPECT_EQ(card_markdown("# heading"), "\\# heading");
  EXPECT_EQ(card_markdown("1. first\n12) second"), "1\\. first\n\n12\\) second");
  EXPECT_EQ(card_markdown("> quote\n+ plus\n* star"), "\\> quote\n\n\\+ plus\n\n\\* star");
  EXPECT_EQ(card_markdown("---\n___\n==="), "\\---\n\n\\_\\_\\_\n\n\\===");
  EXPECT_EQ(card_markdown("   - indented item"), "\\- indented item");
  // Only at the start of a line.
  EXPECT_EQ(card_markdown("INC-1 # 2. ok"), "INC-1 # 2. ok");
}

TEST(CardMarkdown, MarkersThatPairWithNothingShowAsTyped) {
  EXPECT_EQ(card_markdown("5 * 3 = 15"), "5 \\* 3 = 15");
  EXPECT_EQ(card_markdown("snake_case_name"), "snake\\_case\\_name");
  EXPECT_EQ(card_markdown("**not neutral**"), "\\*\\*not neutral\\*\\*");
  EXPECT_EQ(card_markdown("a ` b"), "a \\` b");
  EXPECT_EQ(card_markdown("~~strike~~"), "\\~\\~strike\\~\\~");
}

TEST(CardMarkdown, CodeSpansAreKeptAsTheyAre) {
  EXPECT_EQ(card_markdown("run `status [x](y) *now*`"), "run `status [x](y) *now*`");
}

TEST(CardMarkdown, InvalidUtf8AndControlCharactersAreReplaced) {
  EXPECT_EQ(card_markdown("a\xff"
                          "b\x01"
                          "c"),
            "a" + kReplacement + "b c");
}

TEST(AdaptiveCard, TitlesLabelsAndFactTitlesArePlainText) {
  const json card = rendered({{"title", "*not bold* [x](http://evil)\nsecond line"},
                              {"fields", {{{"label", "# _Lead_"}, {"value", "*Alice*"}}}}});
  EXPECT_EQ(card["body"][0]["text"], "\\*not bold\\* \\[x\\]\\(http://evil) second line");
  const json fact = body_of_type(card, "FactSet")[0]["facts"][0];
  EXPECT_EQ(fact["title"], "\\# \\_Lead\\_");
  EXPECT_EQ(fact["value"], "**Alice**");  // values carry neutral markup
}

// ---------------------------------------------------------------------------------
// Forms

TEST(AdaptiveCardForm, EveryInputKind) {
  const json card = rendered(form_message(json::parse(R"([
    {"name": "what_happened", "label": "What happened", "kind": "multiline", "required": true,
     "max_length": 10240, "placeholder": "Tell us"},
    {"name": "summary", "initial": "Pump tripped", "max_length": 80},
    {"name": "count", "kind": "number", "initial": "-1.5"},
    {"name": "whole", "kind": "number", "initial": "42"},
    {"name": "bad_number", "kind": "number", "initial": "forty"},
    {"name": "severity", "label": "Severity", "kind": "select", "initial": "sev2",
     "options": [{"value": "sev1", "label": "SEV1 — line down"}, {"value": "sev2"}]},
    {"name": "due", "kind": "date", "initial": "2028-02-29"},
    {"name": "lead", "kind": "user", "initial": "@bob"},
    {"name": "odd", "kind": "hologram"}
  ])")));
  const std::vector<json> inputs = inputs_of(card);
  ASSERT_THAT(inputs, SizeIs(9));
  EXPECT_EQ(inputs[0], json({{"type", "Input.Text"},
                             {"id", "what_happened"},
                             {"label", "What happened"},
                             {"isMultiline", true},
                             {"maxLength", 10240},
                             {"placeholder", "Tell us"},
                             {"isRequired", true},
                             {"errorMessage", "Please fill this in."}}));
  EXPECT_EQ(inputs[1], json({{"type", "Input.Text"},
                             {"id", "summary"},
                             {"label", "summary"},
                             {"maxLength", 80},
                             {"value", "Pump tripped"}}));
  EXPECT_EQ(inputs[2],
            json({{"type", "Input.Number"}, {"id", "count"}, {"label", "count"}, {"value", -1.5}}));
  EXPECT_EQ(inputs[3]["value"], 42);
  EXPECT_TRUE(inputs[3]["value"].is_number_integer());
  EXPECT_FALSE(inputs[4].contains("value"));
  EXPECT_EQ(inputs[5], json({{"type", "Input.ChoiceSet"},
                             {"id", "severity"},
                             {"label", "Severity"},
                             {"style", "compact"},
                             {"choices",
                              {{{"title", "SEV1 — line down"}, {"value", "sev1"}},
                               {{"title", "sev2"}, {"value", "sev2"}}}},
                             {"value", "sev2"}}));
  EXPECT_EQ(
      inputs[6],
      json({{"type", "Input.Date"}, {"id", "due"}, {"label", "due"}, {"value", "2028-02-29"}}));
  EXPECT_EQ(inputs[7],
            json({{"type", "Input.Text"}, {"id", "lead"}, {"label", "lead"}, {"value", "@bob"}}));
  EXPECT_EQ(inputs[8]["type"], "Input.Text");
  EXPECT_FALSE(inputs[8].contains("isMultiline"));
}

TEST(AdaptiveCardForm, TheFormTitleAndSubmitButton) {
  const json card = rendered(form_message({{{"name", "a"}}}));
  EXPECT_EQ(card["body"][0], json({{"type", "TextBlock"},
                                   {"text", "Resolve INC-1"},
                                   {"weight", "Bolder"},
                                   {"wrap", true}}));
  ASSERT_THAT(card["actions"], SizeIs(1));
  EXPECT_EQ(card["actions"][0],
            json({{"type", "Action.Execute"},
                  {"title", "Resolve"},
                  {"verb", "haveri.form"},
                  {"data", {{"haveri_action", "form"}, {"form_id", "resolve:7"}}},
                  {"style", "positive"}}));
  json message = form_message({{{"name", "a"}}});
  message["form"].erase("submit_label");
  EXPECT_EQ(rendered(message)["actions"][0]["title"], "Submit");
}

TEST(AdaptiveCardForm, CommandButtonsOnAFormCardNeedNoAnswersAndTheSubmitComesFirst) {
  json actions = json::array();
  for (int i = 0; i < 6; ++i) {
    actions.push_back({{"label", "B" + std::to_string(i)}, {"command", "c" + std::to_string(i)}});
  }
  const json card =
      rendered(form_message({{{"name", "a"}, {"required", true}}}, {{"actions", actions}}));
  ASSERT_THAT(card["actions"], SizeIs(Limits::kTopLevelActions));
  EXPECT_EQ(card["actions"][0]["verb"], "haveri.form");
  EXPECT_FALSE(card["actions"][0].contains("associatedInputs"));
  for (const json& action : all_actions(card)) {
    if (action["verb"] == "haveri.command") {
      EXPECT_EQ(action["associatedInputs"], "none") << action.dump();
    }
  }
  EXPECT_THAT(body_of_type(card, "ActionSet")[0]["actions"], SizeIs(1));
}

TEST(AdaptiveCardForm, InitialValuesTeamsWouldRefuseOrThatWouldBeCutAreDropped) {
  const json card = rendered(form_message(json::parse(R"([
    {"name": "d1", "kind": "date", "initial": "2026-02-29"},
    {"name": "d2", "kind": "date", "initial": "2026-13-01"},
    {"name": "d3", "kind": "date", "initial": "+3d"},
    {"name": "d4", "kind": "date", "initial": "2026-04-31"},
    {"name": "d5", "kind": "date", "initial": "2000-02-29"},
    {"name": "s", "kind": "select", "initial": "sev9", "options": [{"value": "sev1"}]},
    {"name": "t", "initial": "far too long", "max_length": 5},
    {"name": "n", "kind": "number", "initial": "1e5"}
  ])")));
  const std::vector<json> inputs = inputs_of(card);
  ASSERT_THAT(inputs, SizeIs(8));
  for (const std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 7U}) {
    EXPECT_FALSE(inputs[i].contains("value")) << inputs[i].dump();
  }
  EXPECT_EQ(inputs[4]["value"], "2000-02-29");
}

TEST(AdaptiveCardForm, ASelectWithoutUsableOptionsIsATextInput) {
  const json card = rendered(form_message(json::parse(R"([
    {"name": "s", "kind": "select", "options": [{"value": ""}, {"label": "no value"}, "x"]},
    {"name": "t", "kind": "select", "options": [{"value": "a"}, {"value": "a"}, {"value": "b"}]}
  ])")));
  const std::vector<json> inputs = inputs_of(card);
  ASSERT_THAT(inputs, SizeIs(2));
  EXPECT_EQ(inputs[0]["type"], "Input.Text");
  EXPECT_THAT(inputs[1]["choices"], SizeIs(2));
  EXPECT_EQ(last_text(card), "(4 options not shown)");
}

TEST(AdaptiveCardForm, InputsWithoutAUsableNameAreLeftOutAndSaidSo) {
  const json card = rendered(form_message(json::parse(R"([
    {"name": "ok"},
    {"name": ""},
    {"label": "no name"},
    {"name": "has space"},
    {"name": "ok"},
    {"name": 42},
    {"name": "form_id"},
    {"name": "command"},
    {"name": "haveri_action"},
    {"name": "x\u00e9"},
    {"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"name": "A-z.0_9:-"}
  ])")));
  const std::vector<json> inputs = inputs_of(card);
  ASSERT_THAT(inputs, SizeIs(2));
  EXPECT_EQ(inputs[0]["id"], "ok");
  EXPECT_EQ(inputs[1]["id"], "A-z.0_9:-");
  EXPECT_EQ(last_text(card), "(10 inputs not shown)");
}

TEST(AdaptiveCardForm, AFormWithoutAUsableIdIsNotShown) {
  json message = form_message({{{"name", "a"}}});
  message["form"]["id"] = "has space";
  const json card = rendered(message);
  EXPECT_THAT(inputs_of(card), IsEmpty());
  EXPECT_FALSE(card.contains("actions"));
  EXPECT_EQ(last_text(card), "(1 button and 1 input not shown)");
}

TEST(AdaptiveCardForm, InputsPastFortyAreNamedAsNotShown) {
  json inputs = json::array();
  for (int i = 0; i < 45; ++i) {
    inputs.push_back({{"name", "i" + std::to_string(i)}});
  }
  const json card = rendered(form_message(inputs));
  EXPECT_THAT(inputs_of(card), SizeIs(Limits::kInputs));
  EXPECT_EQ(last_text(card), "(5 inputs not shown)");
}

// ---------------------------------------------------------------------------------
// Size

std::string emoji(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kFire;
  }
  return out;
}

TEST(AdaptiveCardSize, AMegabyteOfTextIsCutToFit) {
  const json card =
      rendered({{"title", "Huge"}, {"text", std::string(std::size_t{1024} * 1024, 'x')}});
  const std::string text = card["body"][1]["text"];
  EXPECT_TRUE(text.ends_with(kEllipsis));
  EXPECT_GT(text.size(), 7000U);  // cut to kTextChars, which fits
}

TEST(AdaptiveCardSize, EmojiTextIsCutToFitWithoutSplittingACharacter) {
  const json card =
      rendered({{"text", emoji(20000)}, {"fields", {{{"label", "A"}, {"value", "b"}}}}});
  const std::string text = card["body"][0]["text"];
  EXPECT_TRUE(text.ends_with(kEllipsis));
  EXPECT_EQ((text.size() - kEllipsis.size()) % kFire.size(), 0U);
  EXPECT_GT(text.size(), 1000 * kFire.size());  // kept the first 1000 characters at least
  EXPECT_THAT(body_of_type(card, "FactSet"), SizeIs(1)) << "the field fits once the text is cut";
}

TEST(AdaptiveCardSize, FiveHundredFieldsOfEmoji) {
  json fields = json::array();
  for (int i = 0; i < 500; ++i) {
    fields.push_back({{"label", emoji(100)}, {"value", emoji(1000)}});
  }
  const json card = rendered({{"title", "Fields"}, {"fields", fields}});
  const std::size_t shown = body_of_type(card, "FactSet")[0]["facts"].size();
  EXPECT_GT(shown, 0U);
  EXPECT_LT(shown, Limits::kFacts);
  EXPECT_EQ(last_text(card), "(" + std::to_string(500 - shown) + " fields not shown)");
}

TEST(AdaptiveCardSize, AHundredActionsWithLongCommands) {
  json actions = json::array();
  for (int i = 0; i < 100; ++i) {
    actions.push_back({{"label", emoji(100)}, {"command", "note " + std::string(1900, 'n')}});
  }
  const json card = rendered({{"actions", actions}});
  const std::size_t shown = all_actions(card).size();
  EXPECT_GT(shown, 0U);
  EXPECT_EQ(last_text(card), "(" + std::to_string(100 - shown) + " buttons not shown)");
  for (const json& action : all_actions(card)) {
    EXPECT_EQ(action["data"]["command"], "note " + std::string(1900, 'n'))
        << "a command is never cut";
  }
}

TEST(AdaptiveCardSize, TwoHundredInputsWithManyOptions) {
  json inputs = json::array();
  for (int i = 0; i < 200; ++i) {
    json options = json::array();
    for (int k = 0; k < 150; ++k) {
      options.push_back({{"value", "v" + std::to_string(k)}, {"label", emoji(20)}});
    }
    inputs.push_back({{"name", "i" + std::to_string(i)},
                      {"kind", i % 2 == 0 ? "select" : "multiline"},
                      {"label", emoji(300)},
                      {"placeholder", emoji(300)},
                      {"initial", emoji(5000)},
                      {"options", options}});
  }
  const json card = rendered(form_message(inputs));
  EXPECT_THAT(last_text(card),
              AllOf(HasSubstr("inputs"), HasSubstr("options"), HasSubstr("not shown")));
}

TEST(AdaptiveCardSize, EverythingHugeAtOnceStillFitsAndSaysWhatIsMissing) {
  json fields = json::array();
  json actions = json::array();
  json inputs = json::array();
  for (int i = 0; i < 500; ++i) {
    fields.push_back({{"label", "F\xff" + std::to_string(i)}, {"value", emoji(900)}});
  }
  for (int i = 0; i < 100; ++i) {
    actions.push_back({{"label", emoji(80)}, {"command", "c" + std::to_string(i)}});
  }
  for (int i = 0; i < 200; ++i) {
    inputs.push_back({{"name", "i" + std::to_string(i)}, {"label", emoji(200)}});
  }
  const json message =
      form_message(inputs, {{"title", emoji(500)},
                            {"text", std::string(std::size_t{1024} * 1024, 'x') + "\xfe"},
                            {"fields", fields},
                            {"actions", actions},
                            {"context", emoji(2000)}});
  const json card = rendered(message);
  EXPECT_THAT(last_text(card), AllOf(HasSubstr("fields"), HasSubstr("buttons"), HasSubstr("inputs"),
                                     HasSubstr("not shown")));
  // The title and the form's submit survive everything.
  EXPECT_TRUE(card["body"][0]["text"].get<std::string>().starts_with(kFire));
  EXPECT_EQ(card["actions"][0]["verb"], "haveri.form");
  EXPECT_THAT(haveri::fakes::check_message_activity(render_activity(message)), IsEmpty());
}

TEST(AdaptiveCardSize, InvalidUtf8EverywhereBecomesReplacementCharacters) {
  const json card =
      rendered(form_message({{{"name", "a"}, {"label", "L\xc3"}, {"placeholder", "\xed\xa0\x80"}}},
                            {{"title", "T\xff"},
                             {"text", "x\xc0\xaf"},
                             {"fields", {{{"label", "\xf5"}, {"value", "\xf4\x90\x80\x80"}}}},
                             {"actions", {{{"label", "B\xfe"}, {"command", "ack"}}}},
                             {"context", "c\x80"}}));
  EXPECT_EQ(card["body"][0]["text"], "T" + kReplacement);
  EXPECT_EQ(card["body"][1]["text"], "x" + kReplacement + kReplacement);
  EXPECT_EQ(inputs_of(card)[0]["label"], "L" + kReplacement);
  EXPECT_EQ(all_actions(card)[1]["title"], "B" + kReplacement);
}

// ---------------------------------------------------------------------------------
// Activities

TEST(AdaptiveCardActivity, OnlyTextIsAPlainMarkdownMessage) {
  const json activity = render_activity({{"text", "*Done*: [x](http://evil)"}});
  EXPECT_EQ(activity, json({{"type", "message"},
                            {"textFormat", "markdown"},
                            {"text", "**Done**: \\[x\\]\\(http://evil)"}}));
  EXPECT_THAT(haveri::fakes::check_message_activity(activity), IsEmpty());
  // Empty members do not make a card.
  EXPECT_FALSE(
      render_activity({{"text", "hi"}, {"fields", json::array()}}).contains("attachments"));
}

TEST(AdaptiveCardActivity, AMegabyteOfPlainTextFitsTeamsLimit) {
  const json activity = render_activity({{"text", std::string(std::size_t{1024} * 1024, '#')}});
  EXPECT_FALSE(activity.contains("attachments"));
  EXPECT_TRUE(activity["text"].get<std::string>().ends_with(kEllipsis));
  EXPECT_LE(activity.dump().size(), Limits::kCardBytes);
  EXPECT_THAT(haveri::fakes::check_message_activity(activity), IsEmpty());
}

TEST(AdaptiveCardActivity, AnythingElseIsACardWithAPlainSummary) {
  const json activity = render_activity(doc_example());
  EXPECT_EQ(activity["type"], "message");
  EXPECT_EQ(activity["summary"],
            "INC-1 · Database down\nPrimary is not answering.\nBold, italic and code may appear.");
  ASSERT_THAT(activity["attachments"], SizeIs(1));
  EXPECT_EQ(activity["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
  EXPECT_EQ(activity["attachments"][0]["content"], render_card(doc_example()));
  EXPECT_FALSE(activity.contains("text"));
  EXPECT_THAT(haveri::fakes::check_message_activity(activity), IsEmpty());
}

TEST(AdaptiveCardActivity, TheSummaryFallsBackToTheFormTitleThenContextThenHaveri) {
  EXPECT_EQ(render_activity(form_message({{{"name", "a"}}}))["summary"], "Resolve INC-1");
  EXPECT_EQ(
      render_activity({{"context", "_Haveri_ · now"}, {"fields", {{{"label", "A"}}}}})["summary"],
      "Haveri · now");
  EXPECT_EQ(render_activity({{"fields", {{{"label", "A"}, {"value", "b"}}}}})["summary"], "Haveri");
  EXPECT_EQ(render_activity(json::array())["summary"], "Haveri");
  const json long_title = render_activity({{"title", emoji(3000)}});
  EXPECT_EQ(long_title["summary"], emoji(Limits::kFallbackTextChars - 1) + kEllipsis);
  EXPECT_THAT(haveri::fakes::check_message_activity(long_title), IsEmpty());
}

// ---------------------------------------------------------------------------------
// Answers

json resolve_form() {
  return json::parse(R"({"id": "resolve:7", "title": "Resolve", "inputs": [
    {"name": "what", "label": "What happened", "kind": "multiline", "required": true,
     "max_length": 10},
    {"name": "count", "kind": "number"},
    {"name": "sev", "kind": "select", "options": [{"value": "sev1", "label": "SEV1"},
                                                   {"value": "sev2"}]},
    {"name": "due", "kind": "date"},
    {"name": "lead", "kind": "user"},
    {"name": "free", "kind": "select"}
  ]})");
}

TEST(CardAnswers, WithoutTheFormEveryMemberButHaveriOnesIsAnAnswer) {
  const CardAnswers answers = read_card_answers(json::parse(R"({
    "haveri_action": "form", "form_id": "resolve:7", "what": "Pump", "count": 42,
    "ratio": -1.5, "ok": true, "empty": "", "blank": "  ", "list": ["a"], "obj": {"a": 1},
    "nothing": null})"));
  EXPECT_THAT(answers.errors, IsEmpty());
  EXPECT_EQ(answers.values, (std::map<std::string, std::string>{{"count", "42"},
                                                                {"form_id", "resolve:7"},
                                                                {"ok", "true"},
                                                                {"ratio", "-1.5"},
                                                                {"what", "Pump"}}));
  EXPECT_THAT(read_card_answers(json::array({"a"})).values, IsEmpty());
  EXPECT_THAT(read_card_answers("what").values, IsEmpty());
}

TEST(CardAnswers, WithTheFormAnswersAreCheckedAndConverted) {
  const json form = resolve_form();
  const CardAnswers answers = read_card_answers(
      json::parse(R"({"haveri_action": "form", "form_id": "resolve:7", "what": "Pump",
                      "count": 3, "sev": "sev2", "due": "2026-11-24", "lead": "@bob",
                      "free": "anything", "extra": "not in the form", "haveri_x": "y"})"),
      &form);
  EXPECT_THAT(answers.errors, IsEmpty());
  EXPECT_EQ(answers.values, (std::map<std::string, std::string>{{"count", "3"},
                                                                {"due", "2026-11-24"},
                                                                {"free", "anything"},
                                                                {"lead", "@bob"},
                                                                {"sev", "sev2"},
                                                                {"what", "Pump"}}));
}

TEST(CardAnswers, EachProblemIsAnErrorByInputName) {
  const json form = resolve_form();
  const CardAnswers answers =
      read_card_answers(json::parse(R"({"what": "eleven char", "count": "12abc", "sev": "sev9",
                      "due": "24.11.2026"})"),
                        &form);
  EXPECT_EQ(answers.errors, (std::map<std::string, std::string>{
                                {"count", "Please enter a number, such as 42 or -1.5."},
                                {"due", "Please enter a date as YYYY-MM-DD."},
                                {"sev", "Please choose one of the options."},
                                {"what", "Please use at most 10 characters (this has 11)."}}));
  EXPECT_EQ(answers.values.at("what"), "eleven char");

  const CardAnswers empty = read_card_answers(json::parse(R"({"what": "   "})"), &form);
  EXPECT_EQ(empty.errors, (std::map<std::string, std::string>{{"what", "Please fill this in."}}));
  EXPECT_THAT(empty.values, IsEmpty());

  const CardAnswers bad_date =
      read_card_answers(json::parse(R"({"what": "x", "due": "2026-02-30"})"), &form);
  EXPECT_THAT(bad_date.errors, ElementsAre(std::pair<const std::string, std::string>(
                                   "due", "Please enter a date as YYYY-MM-DD.")));
  // Code points, not bytes: ten emoji fit max_length 10.
  const CardAnswers emoji_answer = read_card_answers({{"what", emoji(10)}}, &form);
  EXPECT_THAT(emoji_answer.errors, IsEmpty());
}

TEST(CardAnswers, HostileTypesAnswerNothing) {
  const json form = resolve_form();
  const CardAnswers answers =
      read_card_answers(json::parse(R"({"what": ["Pump"], "count": {"n": 3}, "sev": null, "due": [],
                      "lead": {"id": "29:1"}})"),
                        &form);
  EXPECT_THAT(answers.values, IsEmpty());
  EXPECT_EQ(answers.errors, (std::map<std::string, std::string>{{"what", "Please fill this in."}}));
  // A number or boolean where a string belongs is converted and checked.
  const CardAnswers converted =
      read_card_answers(json::parse(R"({"what": true, "count": 1.5, "sev": 1})"), &form);
  EXPECT_EQ(converted.values.at("what"), "true");
  EXPECT_EQ(converted.values.at("count"), "1.5");
  EXPECT_EQ(converted.errors.at("sev"), "Please choose one of the options.");
}

TEST(CardAnswers, InputsTheCardCouldNotShowAreNotAsked) {
  json form = resolve_form();
  form["inputs"].push_back({{"name", "form_id"}, {"required", true}});
  form["inputs"].push_back({{"name", "bad name"}, {"required", true}});
  const CardAnswers answers =
      read_card_answers(json::parse(R"({"what": "x", "form_id": "resolve:7"})"), &form);
  EXPECT_THAT(answers.errors, IsEmpty());
  EXPECT_FALSE(answers.values.contains("form_id"));
}

// ---------------------------------------------------------------------------------
// Invoke responses and submitted forms

TEST(InvokeResponse, ExactShapes) {
  const json card = render_card({{"title", "x"}});
  EXPECT_EQ(invoke_card_response(card), json({{"statusCode", 200},
                                              {"type", "application/vnd.microsoft.card.adaptive"},
                                              {"value", card}}));
  EXPECT_EQ(invoke_message_response("Submitted."),
            json({{"statusCode", 200},
                  {"type", "application/vnd.microsoft.activity.message"},
                  {"value", "Submitted."}}));
  EXPECT_EQ(invoke_error_response("what: Please fill this in."),
            json({{"statusCode", 400},
                  {"type", "application/vnd.microsoft.error"},
                  {"value", {{"code", "BadRequest"}, {"message", "what: Please fill this in."}}}}));
  EXPECT_EQ(invoke_message_response("a\xff")["value"], "a" + kReplacement);
}

TEST(SubmittedForm, ShowsTheAnswersWithoutInputsOrButtons) {
  const json form = resolve_form();
  CardAnswers answers;
  answers.values = {{"what", "Pump"}, {"sev", "sev1"}, {"count", "3"}};
  const json card = render_submitted_form(form, answers, "Alice Example");
  expect_sendable(card);
  EXPECT_THAT(inputs_of(card), IsEmpty());
  EXPECT_FALSE(card.contains("actions"));
  EXPECT_THAT(card.dump(), Not(HasSubstr("Input.")));
  EXPECT_EQ(card["body"][0]["text"], "Resolve");
  EXPECT_EQ(card["body"][1]["text"], "Submitted by Alice Example");
  EXPECT_EQ(body_of_type(card, "FactSet")[0]["facts"],
            json({{{"title", "What happened"}, {"value", "Pump"}},
                  {{"title", "count"}, {"value", "3"}},
                  {{"title", "sev"}, {"value", "SEV1"}},
                  {{"title", "due"}, {"value", kDash}},
                  {{"title", "lead"}, {"value", kDash}},
                  {{"title", "free"}, {"value", kDash}}}));
}

TEST(SubmittedForm, HugeAnswersAndAnOddFormStillMakeAValidCard) {
  json form = resolve_form();
  CardAnswers answers;
  for (int i = 0; i < 100; ++i) {
    form["inputs"].push_back({{"name", "x" + std::to_string(i)}});
    answers.values["x" + std::to_string(i)] = emoji(2000);
  }
  const json card = render_submitted_form(form, answers, "");
  expect_sendable(card);
  EXPECT_EQ(card["body"][1]["text"], "Submitted.");
  EXPECT_THAT(last_text(card), HasSubstr("fields not shown"));

  CardAnswers loose;
  loose.values = {{"a", "1"}};
  const json odd = render_submitted_form(json("not a form"), loose, "Bob");
  expect_sendable(odd);
  EXPECT_EQ(odd["body"][0]["text"], "Form");
  EXPECT_EQ(body_of_type(odd, "FactSet")[0]["facts"][0], json({{"title", "a"}, {"value", "1"}}));
}

// ---------------------------------------------------------------------------------
// cut_to

TEST(CutTo, CutsByCodePointsNeverSplittingOne) {
  EXPECT_EQ(cut_to("hello", 5), "hello");
  EXPECT_EQ(cut_to("hello!", 5), "hell" + kEllipsis);
  EXPECT_EQ(cut_to(emoji(3), 2), kFire + kEllipsis);
  EXPECT_EQ(cut_to("abc", 0), "");
  EXPECT_EQ(cut_to("a\xff"
                   "b",
                   10),
            "a" + kReplacement + "b");
  EXPECT_EQ(cut_to("\xe2\x82", 10), kReplacement + kReplacement);
}

}  // namespace
}  // namespace haveri::teams
