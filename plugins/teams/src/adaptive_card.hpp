#pragma once
// Rendering of Haveri's neutral message model (docs/plugin-abi.md, "Neutral messages"
// and "Forms") as Adaptive Cards 1.5 (https://adaptivecards.io/explorer/) the way Teams
// shows them, always valid against the published schema and within Teams' message size
// limit: what does not fit is cut visibly ("…", "(3 fields not shown)"), never sent to
// be rejected. Buttons are Action.Execute (Universal Actions): Teams sends an invoke
// "adaptiveCard/action" that the bot answers with a refreshed card.
// Pure functions: no I/O.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace haveri::teams {

struct CardLimits {
  // Teams refuses a message over about 28 KB, all of it (activity JSON, card, text):
  // https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages
  // We keep the serialized card under this, which leaves room for the activity around it.
  static constexpr std::size_t kCardBytes = std::size_t{24} * 1024;
  static constexpr std::size_t kTitleChars = 200;
  static constexpr std::size_t kTextChars = 8000;
  static constexpr std::size_t kFacts = 30;
  static constexpr std::size_t kFactTitleChars = 100;
  static constexpr std::size_t kFactValueChars = 1000;
  // Teams shows at most 6 top-level actions on a card; more go into an ActionSet.
  static constexpr std::size_t kTopLevelActions = 6;
  static constexpr std::size_t kActions = 30;
  static constexpr std::size_t kActionTitleChars = 60;
  static constexpr std::size_t kInputs = 40;
  static constexpr std::size_t kChoices = 100;
  static constexpr std::size_t kFallbackTextChars = 1000;
};

// Verbs of our Action.Execute buttons and the "haveri_action" member of their data
// (Action.Submit cards from older clients carry the same data).
inline constexpr std::string_view kCommandVerb = "haveri.command";  // data.command = the command
inline constexpr std::string_view kFormVerb = "haveri.form";        // data.form_id = the form

// Cuts `text` to at most `max_code_points` Unicode code points, ending with "…" when
// anything was cut, never splitting a UTF-8 sequence; invalid UTF-8 becomes U+FFFD.
std::string cut_to(std::string_view text, std::size_t max_code_points);

// The neutral markdown subset (*bold*, _italic_, `code`) as Adaptive Card TextBlock
// markdown (**bold**, _italic_, `code` kept as is), with characters that would start
// markdown the neutral model does not have (links "[", lists at line start, "#")
// escaped so that nobody can inject a link.
std::string card_markdown(std::string_view neutral_text);

// A neutral message as an Adaptive Card 1.5 object:
//   {"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json",
//    "version":"1.5","msteams":{"width":"Full"},"body":[…],"actions":[…]}
// title -> TextBlock (size Large, weight Bolder, wrap); text -> TextBlock (wrap,
// card_markdown); fields -> one FactSet (title = label, value = value, "—" for empty);
// actions -> Action.Execute (title = label, verb kCommandVerb, data {"haveri_action":
// "command","command":…}, style "positive" for primary and "destructive" for danger),
// the first kTopLevelActions in "actions", the rest in an ActionSet in the body;
// form -> its inputs in the body (Input.Text with isMultiline for text/multiline/user,
// Input.Number, Input.ChoiceSet (style compact) for select, Input.Date for date; id =
// input name, label, placeholder, value = initial when valid for the kind, isRequired +
// errorMessage, maxLength) and an Action.Execute submit (title = submit_label or
// "Submit", verb kFormVerb, data {"haveri_action":"form","form_id":…}, style positive);
// context -> TextBlock (isSubtle, size Small, wrap). Anything left out for size is
// named in a last TextBlock. Inputs without a usable name (empty, repeated, not
// A-Za-z0-9._:-, over 64, or a name of the button's own data: "command", "form_id",
// "haveri_*", which Teams would overwrite with the answer) are left out; on a card with
// inputs, command buttons carry associatedInputs "none" so that they run without the
// form's required answers. Never throws but std::bad_alloc.
nlohmann::json render_card(const nlohmann::json& message);

// The message activity that carries a card, for the Bot Connector:
//   {"type":"message","summary":…,"text":…?,"attachments":[{"contentType":
//    "application/vnd.microsoft.card.adaptive","content":card}]}
// `summary` is the plain fallback (title, then text, no markup, kFallbackTextChars) that
// notifications show. A message with only text (no title, fields, actions, form) is
// sent as a plain "text" activity with textFormat "markdown" instead of a card.
nlohmann::json render_activity(const nlohmann::json& message);

// The answers of a submitted card (the data of an Action.Execute or Action.Submit,
// inputs merged in by Teams), checked against the form as we rendered it when the form
// is known: values by input name, every answer a string (numbers and booleans
// converted), empty answers and "haveri_*" members left out; errors by input name:
// required but empty, longer than max_length, a number that is not a decimal, a select
// answer that is none of its options, a date that is not YYYY-MM-DD. Without the form,
// every string member but "haveri_*" is a value and there are no errors.
struct CardAnswers {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> errors;
};
CardAnswers read_card_answers(const nlohmann::json& data, const nlohmann::json* form = nullptr);

// Invoke responses for "adaptiveCard/action" (the HTTP body answering the invoke):
//   with a card:    {"statusCode":200,"type":"application/vnd.microsoft.card.adaptive",
//                    "value":card}
//   with a message: {"statusCode":200,"type":"application/vnd.microsoft.activity.message",
//                    "value":text}
//   with an error:  {"statusCode":400,"type":"application/vnd.microsoft.error",
//                    "value":{"code":"BadRequest","message":text}}
nlohmann::json invoke_card_response(const nlohmann::json& card);
nlohmann::json invoke_message_response(std::string_view text);
nlohmann::json invoke_error_response(std::string_view message);

// The card that replaces a submitted form: the form's title, "Submitted by <name>",
// and the answers as a FactSet (no inputs, no buttons), so it cannot be submitted twice.
nlohmann::json render_submitted_form(const nlohmann::json& form, const CardAnswers& answers,
                                     std::string_view submitted_by);

}  // namespace haveri::teams
