#include "teams/adaptive_card_checker.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace haveri::fakes {
namespace {

using json = nlohmann::json;

// The rules below are those of http://adaptivecards.io/schemas/1.5.0/adaptive-card.json
// (microsoft/AdaptiveCards, schemas/1.5.0/adaptive-card.json), definition by
// definition. Where the schema is plainly wrong it is noted at the rule.

// Versions as major * 10 + minor: "1.5" is 15.
constexpr int kNewestVersion = 15;
constexpr std::string_view kCardContentType = "application/vnd.microsoft.card.adaptive";
// A hostile card cannot make the checker recurse without bound or answer without end.
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxProblems = 200;

enum class Kind {
  kString,
  kBoolean,
  kNumber,
  kBooleanOrNull,
  kStringOrNumber,
  kStringOrObject,  // Action.Execute / Action.Submit "data"
  kObject,          // any object ("msteams")
  kRequires,        // an object of strings
  kStringArray,
  kEnum,             // `detail` names the enum; matched in any case, as the schema's patterns do
  kEnumOrNull,       //
  kElements,         // an array of elements
  kActions,          // an array of actions
  kSelectAction,     // one action, not Action.ShowCard
  kElementFallback,  // an element or "drop"
  kActionFallback,   // an action or "drop"
  kColumnFallback,   // a Column or "drop"
  kTargetElements,   // an array of element ids or TargetElement objects
  kInlines,          // an array of strings or TextRun objects
  kBackgroundImage,  // a URL or a BackgroundImage object
  kArrayOf,          // an array of `detail` objects
  kObjectOf,         // one `detail` object
  kCard,             // an AdaptiveCard (Action.ShowCard)
};

struct Property {
  std::string_view name;
  Kind kind;
  std::string_view detail{};
  int since = 10;
};

struct Definition {
  std::string_view name;
  int since = 10;
  std::vector<Property> properties;
  std::vector<std::string_view> required;
  // "type" must be the definition's name (when present, or always where `type` is
  // required); false for AuthCardButton, whose "type" is a free string.
  bool typed = true;
  // "id" is an identifier of the card, unique across it.
  bool card_id = false;
};

const std::map<std::string_view, std::vector<std::string_view>>& enums() {
  static const std::map<std::string_view, std::vector<std::string_view>> table = {
      {"ActionMode", {"primary", "secondary"}},
      {"ActionStyle", {"default", "positive", "destructive"}},
      {"AssociatedInputs", {"Auto", "None"}},
      {"BlockElementHeight", {"auto", "stretch"}},
      {"ChoiceInputStyle", {"compact", "expanded", "filtered"}},
      {"Colors", {"default", "dark", "light", "accent", "good", "warning", "attention"}},
      {"ContainerStyle", {"default", "emphasis", "good", "attention", "warning", "accent"}},
      {"FallbackOption", {"drop"}},
      {"FontSize", {"default", "small", "medium", "large", "extraLarge"}},
      {"FontType", {"default", "monospace"}},
      {"FontWeight", {"default", "lighter", "bolder"}},
      {"HorizontalAlignment", {"left", "center", "right"}},
      {"ImageFillMode", {"cover", "repeatHorizontally", "repeatVertically", "repeat"}},
      {"ImageSize", {"auto", "stretch", "small", "medium", "large"}},
      {"ImageStyle", {"default", "person"}},
      {"Spacing", {"default", "none", "small", "medium", "large", "extraLarge", "padding"}},
      {"TextBlockStyle", {"default", "heading"}},
      {"TextInputStyle", {"text", "tel", "url", "email", "password"}},
      {"VerticalAlignment", {"top", "center", "bottom"}},
      {"VerticalContentAlignment", {"top", "center", "bottom"}},
  };
  return table;
}

std::vector<Property> joined(std::vector<Property> own, const std::vector<Property>& common) {
  own.insert(own.end(), common.begin(), common.end());
  return own;
}

// Extendable.Element with Extendable.ToggleableItem and Extendable.Item.
const std::vector<Property>& element_properties() {
  static const std::vector<Property> properties = {
      {"fallback", Kind::kElementFallback, {}, 12},
      {"height", Kind::kEnum, "BlockElementHeight", 11},
      {"separator", Kind::kBoolean},
      {"spacing", Kind::kEnum, "Spacing"},
      {"id", Kind::kString},
      {"isVisible", Kind::kBoolean, {}, 12},
      {"requires", Kind::kRequires, {}, 12},
  };
  return properties;
}

// Extendable.Input ("id" required).
const std::vector<Property>& input_properties() {
  static const std::vector<Property> properties = joined(
      {
          {"errorMessage", Kind::kString, {}, 13},
          {"isRequired", Kind::kBoolean, {}, 13},
          {"label", Kind::kString, {}, 13},
      },
      element_properties());
  return properties;
}

// Extendable.Action.
const std::vector<Property>& action_properties() {
  static const std::vector<Property> properties = {
      {"title", Kind::kString},
      {"iconUrl", Kind::kString, {}, 11},
      {"id", Kind::kString},
      {"style", Kind::kEnum, "ActionStyle", 12},
      {"fallback", Kind::kActionFallback, {}, 12},
      {"tooltip", Kind::kString, {}, 15},
      {"isEnabled", Kind::kBoolean, {}, 15},
      {"mode", Kind::kEnum, "ActionMode", 15},
      {"requires", Kind::kRequires, {}, 12},
  };
  return properties;
}

std::map<std::string_view, Definition> make_definitions() {
  std::vector<Definition> all;
  const auto element = [&all](std::string_view name, int since, std::vector<Property> own,
                              std::vector<std::string_view> required = {}) {
    all.push_back({name, since, joined(std::move(own), element_properties()), std::move(required),
                   true, true});
  };
  const auto input = [&all](std::string_view name, std::vector<Property> own,
                            std::vector<std::string_view> required = {}) {
    required.push_back("id");
    all.push_back(
        {name, 10, joined(std::move(own), input_properties()), std::move(required), true, true});
  };
  const auto action = [&all](std::string_view name, int since, std::vector<Property> own,
                             std::vector<std::string_view> required = {}) {
    all.push_back({name, since, joined(std::move(own), action_properties()), std::move(required),
                   true, true});
  };
  const auto plain = [&all](std::string_view name, int since, std::vector<Property> own,
                            std::vector<std::string_view> required = {}) {
    all.push_back({name, since, std::move(own), std::move(required), true, false});
  };

  plain("AdaptiveCard", 10,
        {
            {"version", Kind::kString},
            {"refresh", Kind::kObjectOf, "Refresh", 14},
            {"authentication", Kind::kObjectOf, "Authentication", 14},
            {"body", Kind::kElements},
            {"actions", Kind::kActions},
            {"selectAction", Kind::kSelectAction, {}, 11},
            {"fallbackText", Kind::kString},
            // The schema says 1.2 for the property but 1.0 for its URL form.
            {"backgroundImage", Kind::kBackgroundImage},
            {"minHeight", Kind::kString, {}, 12},
            {"rtl", Kind::kBooleanOrNull, {}, 15},
            {"speak", Kind::kString},
            {"lang", Kind::kString},
            {"verticalContentAlignment", Kind::kEnum, "VerticalContentAlignment", 11},
            {"$schema", Kind::kString},
            // Teams' extension (learn.microsoft.com/microsoftteams/platform, "Format
            // cards in Teams": width, mentions); not in the schema.
            {"msteams", Kind::kObject},
        });
  element("ActionSet", 12, {{"actions", Kind::kActions}}, {"actions"});
  all.push_back(
      {"Column",
       10,
       {
           {"items", Kind::kElements},
           {"backgroundImage", Kind::kBackgroundImage, {}, 12},
           {"bleed", Kind::kBoolean, {}, 12},
           {"fallback", Kind::kColumnFallback, {}, 12},
           {"minHeight", Kind::kString, {}, 12},
           {"rtl", Kind::kBooleanOrNull, {}, 15},
           {"separator", Kind::kBoolean},
           {"spacing", Kind::kEnum, "Spacing"},
           {"selectAction", Kind::kSelectAction, {}, 11},
           {"style", Kind::kEnumOrNull, "ContainerStyle"},
           {"verticalContentAlignment", Kind::kEnumOrNull, "VerticalContentAlignment", 11},
           {"width", Kind::kStringOrNumber},
           {"id", Kind::kString},
           {"isVisible", Kind::kBoolean, {}, 12},
           {"requires", Kind::kRequires, {}, 12},
       },
       {},
       true,
       true});
  element("ColumnSet", 10,
          {
              {"columns", Kind::kArrayOf, "Column"},
              {"selectAction", Kind::kSelectAction, {}, 11},
              {"style", Kind::kEnumOrNull, "ContainerStyle", 12},
              {"bleed", Kind::kBoolean, {}, 12},
              {"minHeight", Kind::kString, {}, 12},
              {"horizontalAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
          });
  element("Container", 10,
          {
              {"items", Kind::kElements},
              {"selectAction", Kind::kSelectAction, {}, 11},
              {"style", Kind::kEnumOrNull, "ContainerStyle"},
              {"verticalContentAlignment", Kind::kEnumOrNull, "VerticalContentAlignment", 11},
              {"bleed", Kind::kBoolean, {}, 12},
              {"backgroundImage", Kind::kBackgroundImage, {}, 12},
              {"minHeight", Kind::kString, {}, 12},
              // The schema spells it "rtl?", a typo: renderers read "rtl".
              {"rtl", Kind::kBooleanOrNull, {}, 15},
          },
          {"items"});
  plain("Fact", 10, {{"title", Kind::kString}, {"value", Kind::kString}}, {"title", "value"});
  element("FactSet", 10, {{"facts", Kind::kArrayOf, "Fact"}}, {"facts"});
  // Image lists its own properties rather than Extendable.Element's: "height" is any
  // string there ("50px" or a BlockElementHeight).
  all.push_back({"Image",
                 10,
                 {
                     {"url", Kind::kString},
                     {"altText", Kind::kString},
                     {"backgroundColor", Kind::kString, {}, 11},
                     {"height", Kind::kString, {}, 11},
                     {"horizontalAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
                     {"selectAction", Kind::kSelectAction, {}, 11},
                     {"size", Kind::kEnum, "ImageSize"},
                     {"style", Kind::kEnum, "ImageStyle"},
                     {"width", Kind::kString, {}, 11},
                     {"fallback", Kind::kElementFallback, {}, 12},
                     {"separator", Kind::kBoolean},
                     {"spacing", Kind::kEnum, "Spacing"},
                     {"id", Kind::kString},
                     {"isVisible", Kind::kBoolean, {}, 12},
                     {"requires", Kind::kRequires, {}, 12},
                 },
                 {"url"},
                 true,
                 true});
  element("ImageSet", 10,
          {{"images", Kind::kArrayOf, "Image"}, {"imageSize", Kind::kEnum, "ImageSize"}},
          {"images"});
  plain("TextRun", 12,
        {
            {"text", Kind::kString},
            {"color", Kind::kEnumOrNull, "Colors"},
            {"fontType", Kind::kEnumOrNull, "FontType"},
            {"highlight", Kind::kBoolean},
            {"isSubtle", Kind::kBooleanOrNull},
            {"italic", Kind::kBoolean},
            {"selectAction", Kind::kSelectAction},
            {"size", Kind::kEnumOrNull, "FontSize"},
            {"strikethrough", Kind::kBoolean},
            {"underline", Kind::kBoolean, {}, 13},
            {"weight", Kind::kEnumOrNull, "FontWeight"},
        },
        {"text"});
  plain("Input.Choice", 10, {{"title", Kind::kString}, {"value", Kind::kString}},
        {"title", "value"});
  input("Input.ChoiceSet", {
                               {"choices", Kind::kArrayOf, "Input.Choice"},
                               {"isMultiSelect", Kind::kBoolean},
                               {"style", Kind::kEnum, "ChoiceInputStyle"},
                               {"value", Kind::kString},
                               {"placeholder", Kind::kString},
                               {"wrap", Kind::kBoolean, {}, 12},
                           });
  input("Input.Date", {
                          {"max", Kind::kString},
                          {"min", Kind::kString},
                          {"placeholder", Kind::kString},
                          {"value", Kind::kString},
                      });
  input("Input.Number", {
                            {"max", Kind::kNumber},
                            {"min", Kind::kNumber},
                            {"placeholder", Kind::kString},
                            {"value", Kind::kNumber},
                        });
  input("Input.Text", {
                          {"isMultiline", Kind::kBoolean},
                          {"maxLength", Kind::kNumber},
                          {"placeholder", Kind::kString},
                          {"regex", Kind::kString, {}, 13},
                          {"style", Kind::kEnum, "TextInputStyle"},
                          {"inlineAction", Kind::kSelectAction, {}, 12},
                          {"value", Kind::kString},
                      });
  input("Input.Time", {
                          {"max", Kind::kString},
                          {"min", Kind::kString},
                          {"placeholder", Kind::kString},
                          {"value", Kind::kString},
                      });
  input("Input.Toggle",
        {
            {"title", Kind::kString},
            {"value", Kind::kString},
            {"valueOff", Kind::kString},
            {"valueOn", Kind::kString},
            {"wrap", Kind::kBoolean, {}, 12},
        },
        {"title"});
  element("Media", 11,
          {
              {"sources", Kind::kArrayOf, "MediaSource"},
              {"poster", Kind::kString},
              {"altText", Kind::kString},
          },
          {"sources"});
  plain("MediaSource", 11, {{"mimeType", Kind::kString}, {"url", Kind::kString}},
        {"mimeType", "url"});
  element("RichTextBlock", 12,
          {
              {"inlines", Kind::kInlines},
              {"horizontalAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
          },
          {"inlines"});
  element("Table", 15,
          {
              {"columns", Kind::kArrayOf, "TableColumnDefinition"},
              {"rows", Kind::kArrayOf, "TableRow"},
              {"firstRowAsHeader", Kind::kBoolean},
              {"showGridLines", Kind::kBoolean},
              {"gridStyle", Kind::kEnumOrNull, "ContainerStyle"},
              {"horizontalCellContentAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
              {"verticalCellContentAlignment", Kind::kEnumOrNull, "VerticalAlignment"},
          });
  plain("TableCell", 15,
        {
            {"items", Kind::kElements},
            {"selectAction", Kind::kSelectAction, {}, 11},
            {"style", Kind::kEnumOrNull, "ContainerStyle"},
            {"verticalContentAlignment", Kind::kEnumOrNull, "VerticalContentAlignment", 11},
            {"bleed", Kind::kBoolean, {}, 12},
            {"backgroundImage", Kind::kBackgroundImage, {}, 12},
            {"minHeight", Kind::kString, {}, 12},
            {"rtl", Kind::kBooleanOrNull, {}, 15},  // "rtl?" in the schema, as on Container
        },
        {"items"});
  plain("TableColumnDefinition", 15,
        {
            {"width", Kind::kStringOrNumber},
            {"horizontalCellContentAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
            {"verticalCellContentAlignment", Kind::kEnumOrNull, "VerticalAlignment"},
        });
  plain("TableRow", 15,
        {
            {"cells", Kind::kArrayOf, "TableCell"},
            {"style", Kind::kEnumOrNull, "ContainerStyle"},
            {"horizontalCellContentAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
            {"verticalCellContentAlignment", Kind::kEnumOrNull, "VerticalAlignment"},
        });
  element("TextBlock", 10,
          {
              {"text", Kind::kString},
              {"color", Kind::kEnumOrNull, "Colors"},
              {"fontType", Kind::kEnumOrNull, "FontType", 12},
              {"horizontalAlignment", Kind::kEnumOrNull, "HorizontalAlignment"},
              {"isSubtle", Kind::kBooleanOrNull},
              {"maxLines", Kind::kNumber},
              {"size", Kind::kEnumOrNull, "FontSize"},
              {"weight", Kind::kEnumOrNull, "FontWeight"},
              {"wrap", Kind::kBoolean},
              {"style", Kind::kEnumOrNull, "TextBlockStyle", 15},
          },
          {"text"});
  action("Action.Execute", 14,
         {
             {"verb", Kind::kString},
             {"data", Kind::kStringOrObject},
             {"associatedInputs", Kind::kEnum, "AssociatedInputs"},
         });
  action("Action.OpenUrl", 10, {{"url", Kind::kString}}, {"url"});
  action("Action.ShowCard", 10, {{"card", Kind::kCard}});
  action("Action.Submit", 10,
         {
             {"data", Kind::kStringOrObject},
             {"associatedInputs", Kind::kEnum, "AssociatedInputs", 13},
         });
  action("Action.ToggleVisibility", 12, {{"targetElements", Kind::kTargetElements}},
         {"targetElements"});
  plain("TargetElement", 10, {{"elementId", Kind::kString}, {"isVisible", Kind::kBooleanOrNull}},
        {"elementId"});
  plain("BackgroundImage", 12,
        {
            {"url", Kind::kString},
            {"fillMode", Kind::kEnum, "ImageFillMode"},
            {"horizontalAlignment", Kind::kEnum, "HorizontalAlignment"},
            {"verticalAlignment", Kind::kEnum, "VerticalAlignment"},
        },
        {"url"});
  plain("Refresh", 14,
        {{"action", Kind::kObjectOf, "Action.Execute"}, {"userIds", Kind::kStringArray}});
  plain("Authentication", 14,
        {
            {"text", Kind::kString},
            {"connectionName", Kind::kString},
            {"tokenExchangeResource", Kind::kObjectOf, "TokenExchangeResource"},
            {"buttons", Kind::kArrayOf, "AuthCardButton"},
        });
  all.push_back({"AuthCardButton",
                 14,
                 {
                     {"type", Kind::kString},
                     {"title", Kind::kString},
                     {"image", Kind::kString},
                     {"value", Kind::kString},
                 },
                 {"type", "value"},
                 false,
                 false});
  plain("TokenExchangeResource", 14,
        {{"id", Kind::kString}, {"uri", Kind::kString}, {"providerId", Kind::kString}},
        {"id", "uri", "providerId"});

  std::map<std::string_view, Definition> by_name;
  for (Definition& definition : all) {
    const std::string_view name = definition.name;
    by_name.emplace(name, std::move(definition));
  }
  return by_name;
}

const Definition& definition(std::string_view name) {
  static const std::map<std::string_view, Definition> definitions = make_definitions();
  return definitions.at(name);  // only names from the tables above
}

// ImplementationsOf.Element and ImplementationsOf.Action in 1.5.
constexpr std::string_view kElementTypes[] = {
    "ActionSet",       "ColumnSet",     "Container",    "FactSet",    "Image",      "ImageSet",
    "Input.ChoiceSet", "Input.Date",    "Input.Number", "Input.Text", "Input.Time", "Input.Toggle",
    "Media",           "RichTextBlock", "Table",        "TextBlock"};
constexpr std::string_view kActionTypes[] = {"Action.Execute", "Action.OpenUrl", "Action.ShowCard",
                                             "Action.Submit", "Action.ToggleVisibility"};

template <std::size_t N>
bool is_one_of(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool equals_any_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

std::string version_text(int version) {
  return std::to_string(version / 10) + "." + std::to_string(version % 10);
}

// "1.0" to "1.5", else 0.
int parse_version(const std::string& text) {
  if (text.size() == 3 && text[0] == '1' && text[1] == '.' && text[2] >= '0' && text[2] <= '5') {
    return 10 + (text[2] - '0');
  }
  return 0;
}

std::string in_quotes(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string pointer_to(const std::string& pointer, std::string_view key) {
  std::string out = pointer + "/";
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string pointer_to(const std::string& pointer, std::size_t index) {
  return pointer + "/" + std::to_string(index);
}

class CardChecker {
 public:
  explicit CardChecker(std::vector<std::string>& problems) : problems_(problems) {}

  void check_card(const json& card, const std::string& pointer, bool top_level) {
    if (!card.is_object()) {
      flag(pointer,
           "an AdaptiveCard must be an object (got " + std::string(card.type_name()) + ")");
      return;
    }
    const auto version = card.find("version");
    if (version == card.end()) {
      if (top_level) {
        flag(pointer, "required property \"version\" missing (a card sent to Teams needs it)");
      }
    } else if (version->is_string()) {
      const int parsed = parse_version(version->get<std::string>());
      if (parsed == 0) {
        flag(pointer_to(pointer, "version"), "must be one of \"1.0\" to \"1.5\" (got " +
                                                 in_quotes(version->get<std::string>()) +
                                                 "; this checker knows the 1.5 schema)");
      } else if (top_level) {
        version_ = parsed;
      }
    }
    check_object(definition("AdaptiveCard"), card, pointer, top_level);
  }

 private:
  void flag(const std::string& pointer, std::string message) {
    if (problems_.size() < kMaxProblems) {
      problems_.push_back((pointer.empty() ? std::string("/") : pointer) + ": " + message);
    } else if (problems_.size() == kMaxProblems) {
      problems_.push_back("(more problems not listed)");
    }
  }

  void wrong_type(const std::string& pointer, std::string_view wanted, const json& value) {
    flag(pointer,
         "must be " + std::string(wanted) + " (got " + std::string(value.type_name()) + ")");
  }

  void check_object(const Definition& def, const json& value, const std::string& pointer,
                    bool type_required) {
    if (!value.is_object()) {
      wrong_type(pointer, "a " + std::string(def.name) + " object", value);
      return;
    }
    if (depth_ >= kMaxDepth) {
      flag(pointer, "nested more than " + std::to_string(kMaxDepth) + " deep");
      return;
    }
    ++depth_;
    if (def.since > version_) {
      flag(pointer, std::string(def.name) + " needs version " + version_text(def.since) +
                        "; the card declares " + version_text(version_));
    }
    if (def.typed) {
      const auto type = value.find("type");
      if (type == value.end()) {
        if (type_required) {
          flag(pointer, "required property \"type\" missing");
        }
      } else if (!type->is_string() || type->get_ref<const std::string&>() != def.name) {
        flag(pointer_to(pointer, "type"), "must be " + in_quotes(def.name));
      }
    }
    for (const auto& [key, member] : value.items()) {
      const bool known = std::any_of(def.properties.begin(), def.properties.end(),
                                     [&key](const Property& p) { return p.name == key; });
      if (!known && !(def.typed && key == "type")) {
        flag(pointer_to(pointer, key), "unknown property " + in_quotes(key) + " on " +
                                           std::string(def.name) +
                                           " (the schema allows no others)");
      }
    }
    if (const auto id = value.find("id"); def.card_id && id != value.end() && id->is_string()) {
      const std::string& text = id->get_ref<const std::string&>();
      if (text.empty() && def.name.starts_with("Input.")) {
        flag(pointer_to(pointer, "id"), "an input's id must not be empty");
      } else if (!text.empty() && in_fallback_ == 0) {
        // A fallback stands in for its element and may carry its id.
        if (const auto [first, inserted] = ids_.emplace(text, pointer_to(pointer, "id"));
            !inserted) {
          flag(pointer_to(pointer, "id"),
               "duplicate id " + in_quotes(text) + " (also at " + first->second + ")");
        }
      }
    }
    // In the schema's order of properties, which puts a card's body before its actions.
    for (const Property& property : def.properties) {
      const auto member = value.find(property.name);
      if (member == value.end()) {
        continue;
      }
      const std::string at = pointer_to(pointer, property.name);
      if (property.since > version_) {
        flag(at, in_quotes(property.name) + " on " + std::string(def.name) + " needs version " +
                     version_text(property.since) + "; the card declares " +
                     version_text(version_));
      }
      check_value(property, *member, at);
    }
    for (const std::string_view name : def.required) {
      if (!value.contains(name)) {
        flag(pointer,
             "required property " + in_quotes(name) + " missing on " + std::string(def.name));
      }
    }
    --depth_;
  }

  void check_element(const json& value, const std::string& pointer) {
    if (!value.is_object()) {
      wrong_type(pointer, "an element object", value);
      return;
    }
    const auto type = value.find("type");
    if (type == value.end()) {
      flag(pointer, "required property \"type\" missing");
      return;
    }
    if (!type->is_string()) {
      wrong_type(pointer_to(pointer, "type"), "a string", *type);
      return;
    }
    const std::string& name = type->get_ref<const std::string&>();
    if (is_one_of(kElementTypes, name)) {
      check_object(definition(name), value, pointer, true);
    } else if (is_one_of(kActionTypes, name)) {
      flag(pointer_to(pointer, "type"),
           in_quotes(name) + " is an action, not an element (actions go in an ActionSet)");
    } else {
      flag(pointer_to(pointer, "type"),
           "unknown element type " + in_quotes(name) + " (not an element of Adaptive Cards 1.5)");
    }
  }

  void check_action(const json& value, const std::string& pointer, bool show_card_allowed) {
    if (!value.is_object()) {
      wrong_type(pointer, "an action object", value);
      return;
    }
    const auto type = value.find("type");
    if (type == value.end()) {
      flag(pointer, "required property \"type\" missing");
      return;
    }
    if (!type->is_string()) {
      wrong_type(pointer_to(pointer, "type"), "a string", *type);
      return;
    }
    const std::string& name = type->get_ref<const std::string&>();
    if (!is_one_of(kActionTypes, name)) {
      flag(pointer_to(pointer, "type"),
           "unknown action type " + in_quotes(name) + " (not an action of Adaptive Cards 1.5)");
    } else if (name == "Action.ShowCard" && !show_card_allowed) {
      flag(pointer_to(pointer, "type"), "Action.ShowCard cannot be a selectAction");
    } else {
      check_object(definition(name), value, pointer, true);
    }
  }

  // An element (or action, or Column) or "drop".
  template <typename CheckObject>
  void check_fallback(const json& value, const std::string& pointer, CheckObject check) {
    if (value.is_string()) {
      if (!equals_any_case(value.get_ref<const std::string&>(), "drop")) {
        flag(pointer, "must be \"drop\" or an object (got " +
                          in_quotes(value.get_ref<const std::string&>()) + ")");
      }
      return;
    }
    ++in_fallback_;
    check();
    --in_fallback_;
  }

  void check_enum(const Property& property, const json& value, const std::string& pointer) {
    if (!value.is_string()) {
      wrong_type(pointer, "a string", value);
      return;
    }
    const std::string& text = value.get_ref<const std::string&>();
    const std::vector<std::string_view>& allowed = enums().at(property.detail);
    if (std::none_of(allowed.begin(), allowed.end(),
                     [&text](std::string_view a) { return equals_any_case(a, text); })) {
      std::string list;
      for (const std::string_view a : allowed) {
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      flag(pointer, "must be one of " + list + " (in any case; got " + in_quotes(text) + ")");
    }
  }

  template <typename CheckItem>
  void check_array(const json& value, const std::string& pointer, CheckItem check_item) {
    if (!value.is_array()) {
      wrong_type(pointer, "an array", value);
      return;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      check_item(value[i], pointer_to(pointer, i));
    }
  }

  void check_value(const Property& property, const json& value, const std::string& pointer) {
    switch (property.kind) {
      case Kind::kString:
        if (!value.is_string()) {
          wrong_type(pointer, "a string", value);
        }
        break;
      case Kind::kBoolean:
        if (!value.is_boolean()) {
          wrong_type(pointer, "a boolean", value);
        }
        break;
      case Kind::kNumber:
        if (!value.is_number()) {
          wrong_type(pointer, "a number", value);
        }
        break;
      case Kind::kBooleanOrNull:
        if (!value.is_boolean() && !value.is_null()) {
          wrong_type(pointer, "a boolean or null", value);
        }
        break;
      case Kind::kStringOrNumber:
        if (!value.is_string() && !value.is_number()) {
          wrong_type(pointer, "a string or a number", value);
        }
        break;
      case Kind::kStringOrObject:
        if (!value.is_string() && !value.is_object()) {
          wrong_type(pointer, "a string or an object", value);
        }
        break;
      case Kind::kObject:
        if (!value.is_object()) {
          wrong_type(pointer, "an object", value);
        }
        break;
      case Kind::kRequires:
        if (!value.is_object()) {
          wrong_type(pointer, "an object", value);
          break;
        }
        for (const auto& [key, version] : value.items()) {
          if (!version.is_string()) {
            wrong_type(pointer_to(pointer, key), "a string", version);
          }
        }
        break;
      case Kind::kStringArray:
        check_array(value, pointer, [this](const json& item, const std::string& at) {
          if (!item.is_string()) {
            wrong_type(at, "a string", item);
          }
        });
        break;
      case Kind::kEnum:
        check_enum(property, value, pointer);
        break;
      case Kind::kEnumOrNull:
        if (!value.is_null()) {
          check_enum(property, value, pointer);
        }
        break;
      case Kind::kElements:
        check_array(value, pointer,
                    [this](const json& item, const std::string& at) { check_element(item, at); });
        break;
      case Kind::kActions:
        check_array(value, pointer, [this](const json& item, const std::string& at) {
          check_action(item, at, true);
        });
        break;
      case Kind::kSelectAction:
        check_action(value, pointer, false);
        break;
      case Kind::kElementFallback:
        check_fallback(value, pointer, [&] { check_element(value, pointer); });
        break;
      case Kind::kActionFallback:
        check_fallback(value, pointer, [&] { check_action(value, pointer, true); });
        break;
      case Kind::kColumnFallback:
        check_fallback(value, pointer,
                       [&] { check_object(definition("Column"), value, pointer, false); });
        break;
      case Kind::kTargetElements:
        check_array(value, pointer, [this](const json& item, const std::string& at) {
          if (!item.is_string()) {
            check_object(definition("TargetElement"), item, at, false);
          }
        });
        break;
      case Kind::kInlines:
        check_array(value, pointer, [this](const json& item, const std::string& at) {
          if (!item.is_string()) {
            // ImplementationsOf.Inline: an object needs its "type".
            check_object(definition("TextRun"), item, at, true);
          }
        });
        break;
      case Kind::kBackgroundImage:
        if (!value.is_string()) {
          check_object(definition("BackgroundImage"), value, pointer, false);
        }
        break;
      case Kind::kArrayOf:
        check_array(value, pointer, [this, &property](const json& item, const std::string& at) {
          check_object(definition(property.detail), item, at, false);
        });
        break;
      case Kind::kObjectOf:
        check_object(definition(property.detail), value, pointer, false);
        break;
      case Kind::kCard:
        check_card(value, pointer, false);
        break;
    }
  }

  std::vector<std::string>& problems_;
  int version_ = kNewestVersion;
  std::map<std::string, std::string> ids_;  // id -> where it was first seen
  int depth_ = 0;
  int in_fallback_ = 0;
};

}  // namespace

std::vector<std::string> check_adaptive_card(const json& card) {
  std::vector<std::string> problems;
  CardChecker(problems).check_card(card, "", true);
  return problems;
}

std::vector<std::string> check_message_activity(const json& activity, std::size_t max_bytes) {
  std::vector<std::string> problems;
  if (!activity.is_object()) {
    problems.push_back("/: an activity must be an object (got " +
                       std::string(activity.type_name()) + ")");
    return problems;
  }
  const auto string_or_absent = [&](const char* key) {
    const auto it = activity.find(key);
    if (it != activity.end() && !it->is_string()) {
      problems.push_back(std::string("/") + key + ": must be a string (got " +
                         std::string(it->type_name()) + ")");
    }
    return it != activity.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  if (const auto type = activity.find("type"); type == activity.end()) {
    problems.emplace_back("/: required property \"type\" missing");
  } else if (!type->is_string() || type->get_ref<const std::string&>() != "message") {
    problems.push_back("/type: must be \"message\" (got " +
                       type->dump(-1, ' ', false, json::error_handler_t::replace) + ")");
  }
  const std::string text = string_or_absent("text");
  string_or_absent("summary");
  if (const auto format = activity.find("textFormat"); format != activity.end()) {
    if (!format->is_string() || (*format != "markdown" && *format != "plain" && *format != "xml")) {
      problems.emplace_back("/textFormat: must be one of markdown, plain, xml");
    }
  }
  bool has_attachment = false;
  if (const auto attachments = activity.find("attachments"); attachments != activity.end()) {
    if (!attachments->is_array()) {
      problems.push_back("/attachments: must be an array (got " +
                         std::string(attachments->type_name()) + ")");
    } else {
      has_attachment = !attachments->empty();
      for (std::size_t i = 0; i < attachments->size(); ++i) {
        const json& attachment = (*attachments)[i];
        const std::string at = "/attachments/" + std::to_string(i);
        if (!attachment.is_object()) {
          problems.push_back(at + ": must be an object (got " +
                             std::string(attachment.type_name()) + ")");
          continue;
        }
        const auto content_type = attachment.find("contentType");
        if (content_type == attachment.end() || !content_type->is_string()) {
          problems.push_back(at + ": required property \"contentType\" missing or not a string");
          continue;
        }
        if (*content_type != kCardContentType) {
          problems.push_back(at + "/contentType: must be " + in_quotes(kCardContentType) +
                             " (got " + in_quotes(content_type->get<std::string>()) + ")");
          continue;
        }
        const auto content = attachment.find("content");
        if (content == attachment.end()) {
          problems.push_back(at + ": required property \"content\" missing (the card)");
          continue;
        }
        CardChecker(problems).check_card(*content, at + "/content", true);
      }
    }
  }
  if (text.empty() && !has_attachment) {
    problems.emplace_back("/: a message needs a text or an attachment");
  }
  if (const std::size_t size = activity.dump(-1, ' ', false, json::error_handler_t::replace).size();
      size > max_bytes) {
    problems.push_back("/: the activity is " + std::to_string(size) +
                       " bytes; Teams takes at most " + std::to_string(max_bytes) +
                       " (MessageSizeTooBig)");
  }
  return problems;
}

}  // namespace haveri::fakes
