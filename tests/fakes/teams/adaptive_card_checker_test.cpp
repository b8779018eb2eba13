// The Adaptive Card 1.5 checker (adaptive_card_checker.cpp) that the fake Bot Connector
// refuses cards with and the adapter's tests assert on: a valid card of every kind of
// element passes, and each rule of the schema is flagged at the right JSON pointer.
#include "teams/adaptive_card_checker.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace haveri::fakes {
namespace {

using json = nlohmann::json;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

json card_with(json body, json actions = json::array(), const std::string& version = "1.5") {
  json card = {{"type", "AdaptiveCard"},
               {"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
               {"version", version},
               {"body", std::move(body)}};
  if (!actions.empty()) {
    card["actions"] = std::move(actions);
  }
  return card;
}

json text_block(const std::string& text) {
  return {{"type", "TextBlock"}, {"text", text}};
}

// Something of everything the schema has, in the spellings Microsoft's samples use
// (enums in any case, TextRuns as strings and objects, widths as numbers and strings).
json every_kind_of_card() {
  return json::parse(R"({
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "msteams": {"width": "Full"},
    "lang": "en",
    "fallbackText": "An incident card",
    "verticalContentAlignment": "Top",
    "refresh": {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": ["29:1a"]},
    "body": [
      {"type": "TextBlock", "text": "INC-1", "size": "Large", "weight": "Bolder", "wrap": true,
       "color": "attention", "style": "heading", "isSubtle": null, "maxLines": 2,
       "horizontalAlignment": "CENTER", "spacing": "extraLarge", "separator": true,
       "id": "title", "isVisible": true, "fontType": "Monospace", "height": "auto"},
      {"type": "RichTextBlock", "inlines": [
        "plain run",
        {"type": "TextRun", "text": "bold", "weight": "bolder", "italic": true,
         "highlight": true, "strikethrough": false, "underline": true, "size": "small",
         "selectAction": {"type": "Action.OpenUrl", "url": "https://example.com"}}]},
      {"type": "FactSet", "facts": [{"title": "Status", "value": "DECLARED"},
                                    {"type": "Fact", "title": "Severity", "value": "SEV1"}]},
      {"type": "Container", "style": "emphasis", "bleed": true, "minHeight": "50px",
       "rtl": false, "selectAction": {"type": "Action.Submit", "data": "x"},
       "backgroundImage": {"url": "https://example.com/bg.png", "fillMode": "repeat"},
       "items": [{"type": "Image", "url": "https://example.com/a.png", "size": "Small",
                  "style": "Person", "altText": "a", "height": "50px", "width": "50px",
                  "backgroundColor": "#DDDDDD", "horizontalAlignment": null}]},
      {"type": "ColumnSet", "horizontalAlignment": "left", "columns": [
        {"type": "Column", "width": 1, "id": "first",
         "items": [{"type": "TextBlock", "text": "left"}]},
        {"width": "stretch", "verticalContentAlignment": "Center", "style": null,
         "backgroundImage": "https://example.com/bg.png",
         "items": [{"type": "ImageSet", "imageSize": "medium",
                    "images": [{"type": "Image", "url": "https://example.com/b.png"},
                               {"url": "https://example.com/c.png"}]}]}]},
      {"type": "ActionSet", "actions": [
        {"type": "Action.ToggleVisibility", "title": "More",
         "targetElements": ["more", {"type": "TargetElement", "elementId": "title",
                                     "isVisible": false}]}]},
      {"type": "Container", "id": "more", "isVisible": false, "items": [
        {"type": "Media", "sources": [{"mimeType": "video/mp4",
                                       "url": "https://example.com/v.mp4"}],
         "poster": "https://example.com/p.png"}]},
      {"type": "Table", "gridStyle": "accent", "firstRowAsHeader": true,
       "columns": [{"width": 1}, {"width": "50px"}],
       "rows": [{"type": "TableRow", "cells": [
         {"type": "TableCell", "items": [{"type": "TextBlock", "text": "a"}]},
         {"type": "TableCell", "items": []}]}]},
      {"type": "Input.Text", "id": "what", "label": "What happened", "isMultiline": true,
       "maxLength": 500, "placeholder": "…", "isRequired": true, "errorMessage": "Needed",
       "style": "text", "regex": ".*", "value": ""},
      {"type": "Input.Number", "id": "n", "min": 0, "max": 10.5, "value": 3},
      {"type": "Input.Date", "id": "d", "value": "2026-11-24", "min": "2026-01-01"},
      {"type": "Input.Time", "id": "t", "value": "02:43"},
      {"type": "Input.Toggle", "id": "ok", "title": "Confirmed", "valueOn": "yes",
       "valueOff": "no", "value": "no", "wrap": true},
      {"type": "Input.ChoiceSet", "id": "sev", "style": "compact", "isMultiSelect": false,
       "value": "sev1", "choices": [{"title": "SEV1", "value": "sev1"},
                                    {"type": "Input.Choice", "title": "SEV2", "value": "sev2"}]},
      {"type": "TextBlock", "text": "fallback", "fallback": "drop",
       "requires": {"adaptiveCards": "1.5"}},
      {"type": "TextBlock", "text": "new", "id": "new",
       "fallback": {"type": "TextBlock", "text": "old", "id": "new"}}
    ],
    "actions": [
      {"type": "Action.Execute", "title": "Ack", "verb": "haveri.command",
       "data": {"command": "ack"}, "style": "positive", "associatedInputs": "none",
       "tooltip": "Acknowledge", "isEnabled": true, "mode": "primary"},
      {"type": "Action.Submit", "title": "Submit", "data": {"x": 1}, "associatedInputs": "Auto"},
      {"type": "Action.OpenUrl", "title": "Open", "url": "https://example.com",
       "iconUrl": "https://example.com/i.png", "style": "Destructive"},
      {"type": "Action.ShowCard", "title": "Details", "card": {
        "type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "inside"}],
        "actions": [{"type": "Action.Submit", "title": "Go", "id": "go",
                     "fallback": "drop"}]}}
    ]
  })");
}

// The one problem `card` has, or a failure listing them all.
std::string only_problem(const json& card) {
  const std::vector<std::string> problems = check_adaptive_card(card);
  EXPECT_THAT(problems, SizeIs(1)) << card.dump(2);
  return problems.empty() ? std::string{} : problems.front();
}

TEST(AdaptiveCardChecker, AValidCardOfEveryKindOfElementPasses) {
  EXPECT_THAT(check_adaptive_card(every_kind_of_card()), IsEmpty());
}

TEST(AdaptiveCardChecker, AMinimalCardPasses) {
  EXPECT_THAT(check_adaptive_card(card_with({text_block("hello")})), IsEmpty());
  EXPECT_THAT(check_adaptive_card(card_with(json::array())), IsEmpty());
}

TEST(AdaptiveCardChecker, TheTopLevelCardNeedsItsTypeAndVersion) {
  json card = card_with({text_block("x")});
  card.erase("version");
  EXPECT_THAT(only_problem(card), AllOf(StartsWith("/: "), HasSubstr("\"version\" missing")));

  card = card_with({text_block("x")});
  card.erase("type");
  EXPECT_THAT(only_problem(card), AllOf(StartsWith("/: "), HasSubstr("\"type\" missing")));

  card = card_with({text_block("x")});
  card["type"] = "HeroCard";
  EXPECT_THAT(only_problem(card), AllOf(StartsWith("/type: "), HasSubstr("AdaptiveCard")));

  EXPECT_THAT(check_adaptive_card(json::array()), ElementsAre(HasSubstr("must be an object")));
}

TEST(AdaptiveCardChecker, VersionsFrom1_0To1_5Only) {
  for (const char* version : {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}) {
    EXPECT_THAT(check_adaptive_card(card_with({text_block("x")}, json::array(), version)),
                IsEmpty())
        << version;
  }
  EXPECT_THAT(only_problem(card_with({text_block("x")}, json::array(), "1.6")),
              StartsWith("/version: must be one of \"1.0\" to \"1.5\""));
  EXPECT_THAT(only_problem(card_with({text_block("x")}, json::array(), "v1")),
              StartsWith("/version: "));
  json card = card_with({text_block("x")});
  card["version"] = 1.5;
  EXPECT_EQ(only_problem(card), "/version: must be a string (got number)");
}

TEST(AdaptiveCardChecker, ARequiredPropertyMissingIsFlaggedWhereItIsMissing) {
  json card = card_with({text_block("x"), {{"type", "FactSet"}, {"facts", {{{"title", "A"}}}}}});
  EXPECT_EQ(only_problem(card), "/body/1/facts/0: required property \"value\" missing on Fact");

  EXPECT_EQ(only_problem(card_with({{{"type", "TextBlock"}, {"wrap", true}}})),
            "/body/0: required property \"text\" missing on TextBlock");
  EXPECT_EQ(only_problem(card_with({{{"type", "Container"}}})),
            "/body/0: required property \"items\" missing on Container");
  EXPECT_EQ(only_problem(card_with({{{"type", "Image"}}})),
            "/body/0: required property \"url\" missing on Image");
  EXPECT_EQ(only_problem(card_with(json::array(), {{{"type", "Action.OpenUrl"}, {"title", "x"}}})),
            "/actions/0: required property \"url\" missing on Action.OpenUrl");
  EXPECT_EQ(only_problem(card_with({{{"type", "Input.Toggle"}, {"id", "t"}}})),
            "/body/0: required property \"title\" missing on Input.Toggle");
  EXPECT_EQ(
      only_problem(card_with({{{"type", "RichTextBlock"}, {"inlines", {{{"type", "TextRun"}}}}}})),
      "/body/0/inlines/0: required property \"text\" missing on TextRun");
}

TEST(AdaptiveCardChecker, EveryInputNeedsAnIdThatIsNotEmpty) {
  for (const char* type :
       {"Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.ChoiceSet"}) {
    EXPECT_EQ(only_problem(card_with({{{"type", type}}})),
              std::string("/body/0: required property \"id\" missing on ") + type);
  }
  EXPECT_EQ(only_problem(card_with({{{"type", "Input.Text"}, {"id", ""}}})),
            "/body/0/id: an input's id must not be empty");
}

TEST(AdaptiveCardChecker, AChoiceWithoutValueOrTitleIsFlagged) {
  json choice_set = {{"type", "Input.ChoiceSet"},
                     {"id", "sev"},
                     {"choices", {{{"title", "SEV1"}}, {{"value", "sev2"}}}}};
  EXPECT_THAT(
      check_adaptive_card(card_with({choice_set})),
      ElementsAre("/body/0/choices/0: required property \"value\" missing on Input.Choice",
                  "/body/0/choices/1: required property \"title\" missing on Input.Choice"));
  choice_set["choices"] = {{{"title", "SEV1"}, {"value", 1}}};
  EXPECT_EQ(only_problem(card_with({choice_set})),
            "/body/0/choices/0/value: must be a string (got number)");
}

TEST(AdaptiveCardChecker, EnumsAreMatchedInAnyCaseAndOthersAreFlagged) {
  json block = text_block("x");
  block["size"] = "EXTRALARGE";
  block["weight"] = "Bolder";
  EXPECT_THAT(check_adaptive_card(card_with({block})), IsEmpty());

  block["size"] = "huge";
  EXPECT_EQ(only_problem(card_with({block})),
            "/body/0/size: must be one of default, small, medium, large, extraLarge (in any "
            "case; got \"huge\")");

  json action = {{"type", "Action.Execute"}, {"title", "x"}, {"style", "primary"}};
  EXPECT_THAT(only_problem(card_with(json::array(), {action})),
              AllOf(StartsWith("/actions/0/style: must be one of default, positive, destructive"),
                    HasSubstr("\"primary\"")));

  json input = {{"type", "Input.ChoiceSet"}, {"id", "c"}, {"style", "dropdown"}};
  EXPECT_THAT(only_problem(card_with({input})), StartsWith("/body/0/style: must be one of"));
  EXPECT_THAT(only_problem(card_with(
                  {{{"type", "Container"}, {"items", json::array()}, {"spacing", "huge"}}})),
              StartsWith("/body/0/spacing: "));
  // Null is allowed where the schema says so (TextBlock color), not elsewhere (Image size).
  block = text_block("x");
  block["color"] = nullptr;
  EXPECT_THAT(check_adaptive_card(card_with({block})), IsEmpty());
  EXPECT_EQ(only_problem(card_with({{{"type", "Image"}, {"url", "u"}, {"size", nullptr}}})),
            "/body/0/size: must be a string (got null)");
}

TEST(AdaptiveCardChecker, UnknownPropertiesAreRefused) {
  json block = text_block("x");
  block["colour"] = "good";
  EXPECT_EQ(only_problem(card_with({block})),
            "/body/0/colour: unknown property \"colour\" on TextBlock (the schema allows no "
            "others)");
  json card = card_with({text_block("x")});
  card["theme"] = "dark";
  EXPECT_THAT(only_problem(card), StartsWith("/theme: unknown property \"theme\" on AdaptiveCard"));
  // Keys are escaped in the pointer (RFC 6901).
  block = text_block("x");
  block["a/b~c"] = 1;
  EXPECT_THAT(only_problem(card_with({block})), StartsWith("/body/0/a~1b~0c: unknown property"));
  // A property of one element is not allowed on another.
  EXPECT_THAT(
      only_problem(card_with({{{"type", "FactSet"}, {"facts", json::array()}, {"wrap", true}}})),
      StartsWith("/body/0/wrap: unknown property"));
  EXPECT_THAT(only_problem(card_with(json::array(),
                                     {{{"type", "Action.Submit"}, {"title", "x"}, {"verb", "v"}}})),
              StartsWith("/actions/0/verb: unknown property"));
}

TEST(AdaptiveCardChecker, WrongTypesAreFlagged) {
  json block = text_block("x");
  block["wrap"] = "yes";
  EXPECT_EQ(only_problem(card_with({block})), "/body/0/wrap: must be a boolean (got string)");
  EXPECT_EQ(only_problem(card_with({{{"type", "TextBlock"}, {"text", 42}}})),
            "/body/0/text: must be a string (got number)");
  EXPECT_EQ(only_problem(card_with({{{"type", "Input.Number"}, {"id", "n"}, {"value", "3"}}})),
            "/body/0/value: must be a number (got string)");
  EXPECT_EQ(only_problem(card_with(json::array(), {{{"type", "Action.Execute"}, {"data", 3}}})),
            "/actions/0/data: must be a string or an object (got number)");
  json card = card_with({text_block("x")});
  card["body"] = json::object();
  EXPECT_EQ(only_problem(card), "/body: must be an array (got object)");
  EXPECT_EQ(only_problem(card_with({"just text"})),
            "/body/0: must be an element object (got string)");
  EXPECT_EQ(
      only_problem(card_with(
          {{{"type", "Container"}, {"items", json::array()}, {"requires", {{"feature", 1}}}}})),
      "/body/0/requires/feature: must be a string (got number)");
}

TEST(AdaptiveCardChecker, IdsAreUniqueAcrossTheCard) {
  json card =
      card_with({{{"type", "Input.Text"}, {"id", "what"}},
                 {{"type", "Container"}, {"items", {{{"type", "Input.Text"}, {"id", "what"}}}}}},
                {{{"type", "Action.Submit"}, {"title", "x"}, {"id", "what"}}});
  EXPECT_THAT(check_adaptive_card(card),
              ElementsAre("/body/1/items/0/id: duplicate id \"what\" (also at /body/0/id)",
                          "/actions/0/id: duplicate id \"what\" (also at /body/0/id)"));
}

TEST(AdaptiveCardChecker, UnknownElementAndActionTypesAreRefused) {
  EXPECT_EQ(only_problem(card_with({{{"type", "Carousel"}, {"pages", json::array()}}})),
            "/body/0/type: unknown element type \"Carousel\" (not an element of Adaptive Cards "
            "1.5)");
  EXPECT_EQ(only_problem(card_with({{{"type", "Action.Submit"}, {"title", "x"}}})),
            "/body/0/type: \"Action.Submit\" is an action, not an element (actions go in an "
            "ActionSet)");
  EXPECT_EQ(only_problem(card_with({{{"type", "Column"}, {"items", json::array()}}})),
            "/body/0/type: unknown element type \"Column\" (not an element of Adaptive Cards "
            "1.5)");
  EXPECT_EQ(only_problem(card_with(json::array(), {{{"type", "Action.Http"}, {"title", "x"}}})),
            "/actions/0/type: unknown action type \"Action.Http\" (not an action of Adaptive "
            "Cards 1.5)");
  EXPECT_EQ(only_problem(card_with({{{"text", "no type"}}})),
            "/body/0: required property \"type\" missing");
  // Case matters for types, unlike enums.
  EXPECT_THAT(only_problem(card_with({{{"type", "textblock"}, {"text", "x"}}})),
              HasSubstr("unknown element type \"textblock\""));
  // A typed sub-object must carry its own type.
  EXPECT_EQ(only_problem(card_with(
                {{{"type", "FactSet"},
                  {"facts", {{{"type", "TextBlock"}, {"title", "a"}, {"value", "b"}}}}}})),
            "/body/0/facts/0/type: must be \"Fact\"");
}

TEST(AdaptiveCardChecker, ElementsAndPropertiesNewerThanTheDeclaredVersionAreFlagged) {
  EXPECT_EQ(
      only_problem(card_with(json::array(), {{{"type", "Action.Execute"}, {"title", "x"}}}, "1.3")),
      "/actions/0: Action.Execute needs version 1.4; the card declares 1.3");
  EXPECT_EQ(only_problem(card_with({{{"type", "ActionSet"}, {"actions", json::array()}}},
                                   json::array(), "1.1")),
            "/body/0: ActionSet needs version 1.2; the card declares 1.1");
  EXPECT_EQ(only_problem(card_with({{{"type", "Table"}}}, json::array(), "1.4")),
            "/body/0: Table needs version 1.5; the card declares 1.4");
  EXPECT_EQ(only_problem(card_with({{{"type", "Input.Text"}, {"id", "a"}, {"label", "A"}}},
                                   json::array(), "1.2")),
            "/body/0/label: \"label\" on Input.Text needs version 1.3; the card declares 1.2");
  json block = text_block("x");
  block["style"] = "heading";
  EXPECT_THAT(only_problem(card_with({block}, json::array(), "1.4")),
              StartsWith("/body/0/style: \"style\" on TextBlock needs version 1.5"));
  // The same card declared 1.5 is fine.
  EXPECT_THAT(check_adaptive_card(card_with({block}, {{{"type", "Action.Execute"}}})), IsEmpty());
}

TEST(AdaptiveCardChecker, NestedCardsActionsAndFallbacksAreChecked) {
  json show = {{"type", "Action.ShowCard"},
               {"title", "More"},
               {"card", {{"type", "AdaptiveCard"}, {"body", {{{"type", "TextBlock"}}}}}}};
  EXPECT_EQ(only_problem(card_with(json::array(), {show})),
            "/actions/0/card/body/0: required property \"text\" missing on TextBlock");
  // selectAction takes no Action.ShowCard.
  json container = {{"type", "Container"},
                    {"items", json::array()},
                    {"selectAction", {{"type", "Action.ShowCard"}, {"title", "x"}}}};
  EXPECT_EQ(only_problem(card_with({container})),
            "/body/0/selectAction/type: Action.ShowCard cannot be a selectAction");
  json block = text_block("x");
  block["fallback"] = "ignore";
  EXPECT_EQ(only_problem(card_with({block})),
            "/body/0/fallback: must be \"drop\" or an object (got \"ignore\")");
  block["fallback"] = {{"type", "Nope"}};
  EXPECT_EQ(only_problem(card_with({block})),
            "/body/0/fallback/type: unknown element type \"Nope\" (not an element of Adaptive "
            "Cards 1.5)");
  json toggle = {{"type", "Action.ToggleVisibility"}, {"targetElements", {{{"isVisible", true}}}}};
  EXPECT_EQ(only_problem(card_with(json::array(), {toggle})),
            "/actions/0/targetElements/0: required property \"elementId\" missing on "
            "TargetElement");
}

TEST(AdaptiveCardChecker, AHostilelyDeepCardIsRefusedWithoutRecursingForever) {
  json inner = text_block("deep");
  for (int i = 0; i < 500; ++i) {
    inner = {{"type", "Container"}, {"items", {inner}}};
  }
  const std::vector<std::string> problems = check_adaptive_card(card_with({inner}));
  EXPECT_THAT(problems, Contains(HasSubstr("nested more than 64 deep")));
}

TEST(AdaptiveCardChecker, ManyProblemsAreListedUpToABound) {
  json body = json::array();
  for (int i = 0; i < 1000; ++i) {
    body.push_back({{"type", "TextBlock"}});
  }
  const std::vector<std::string> problems = check_adaptive_card(card_with(body));
  EXPECT_THAT(problems, SizeIs(201));
  EXPECT_EQ(problems.back(), "(more problems not listed)");
}

// ---------------------------------------------------------------------------------
// Message activities, as the Bot Connector receives them.

json card_activity(json card) {
  return {{"type", "message"},
          {"summary", "INC-1"},
          {"attachments",
           {{{"contentType", "application/vnd.microsoft.card.adaptive"},
             {"content", std::move(card)}}}}};
}

TEST(MessageActivityChecker, AValidCardMessageAndATextMessagePass) {
  EXPECT_THAT(check_message_activity(card_activity(every_kind_of_card())), IsEmpty());
  EXPECT_THAT(
      check_message_activity({{"type", "message"}, {"text", "hi"}, {"textFormat", "markdown"}}),
      IsEmpty());
}

TEST(MessageActivityChecker, TheCardIsCheckedWhereItIs) {
  EXPECT_THAT(
      check_message_activity(card_activity(card_with({{{"type", "TextBlock"}}}))),
      ElementsAre(
          "/attachments/0/content/body/0: required property \"text\" missing on TextBlock"));
  json activity = card_activity(card_with({text_block("x")}));
  activity["attachments"][0].erase("content");
  EXPECT_THAT(check_message_activity(activity),
              ElementsAre("/attachments/0: required property \"content\" missing (the card)"));
  // Ids are unique per card: two cards may use the same.
  activity = card_activity(card_with({{{"type", "Input.Text"}, {"id", "a"}}}));
  activity["attachments"].push_back(activity["attachments"][0]);
  EXPECT_THAT(check_message_activity(activity), IsEmpty());
}

TEST(MessageActivityChecker, AWrongContentTypeIsRefused) {
  json activity = card_activity(card_with({text_block("x")}));
  activity["attachments"][0]["contentType"] = "application/vnd.microsoft.card.hero";
  EXPECT_THAT(check_message_activity(activity),
              ElementsAre("/attachments/0/contentType: must be "
                          "\"application/vnd.microsoft.card.adaptive\" (got "
                          "\"application/vnd.microsoft.card.hero\")"));
}

TEST(MessageActivityChecker, AnActivityOverTheSizeLimitIsRefused) {
  const json activity = {{"type", "message"}, {"text", std::string(30 * 1024, 'x')}};
  EXPECT_THAT(check_message_activity(activity),
              ElementsAre(AllOf(StartsWith("/: the activity is 30"),
                                HasSubstr("Teams takes at most 28672 (MessageSizeTooBig)"))));
  EXPECT_THAT(check_message_activity(activity, 64 * 1024), IsEmpty());
  const json card = card_activity(card_with({text_block(std::string(29 * 1024, 'y'))}));
  EXPECT_THAT(check_message_activity(card), ElementsAre(HasSubstr("MessageSizeTooBig")));
}

TEST(MessageActivityChecker, TheActivityItselfIsChecked) {
  EXPECT_THAT(check_message_activity({{"type", "typing"}, {"text", "x"}}),
              ElementsAre("/type: must be \"message\" (got \"typing\")"));
  EXPECT_THAT(check_message_activity({{"type", "message"}}),
              ElementsAre("/: a message needs a text or an attachment"));
  EXPECT_THAT(check_message_activity({{"type", "message"}, {"text", "x"}, {"textFormat", "html"}}),
              ElementsAre("/textFormat: must be one of markdown, plain, xml"));
  EXPECT_THAT(check_message_activity({{"type", "message"}, {"text", 3}}),
              Contains("/text: must be a string (got number)"));
  EXPECT_THAT(check_message_activity({{"type", "message"}, {"attachments", {"x"}}}),
              Contains("/attachments/0: must be an object (got string)"));
  EXPECT_THAT(check_message_activity("message"), ElementsAre(HasSubstr("must be an object")));
}

}  // namespace
}  // namespace haveri::fakes
