#pragma once
// A checker of Adaptive Cards against the published Adaptive Card schema, version 1.5
// (http://adaptivecards.io/schemas/1.5.0/adaptive-card.json), and against what Teams
// accepts: the fake Bot Connector refuses a card it flags (as Teams answers 400
// BadRequest), and the adapter's tests assert that none is ever flagged.
//
// The schema cannot be fetched at test time (no network), so its rules for the
// elements and actions a card may use are written down here, each checked against the
// schema's definitions: every element and action "type" known to 1.5, required
// properties present, property types and enum values right ("size", "weight", "color",
// "spacing", "style", "horizontalAlignment", …), no unknown properties on the types we
// know (the schema is additionalProperties: false for them, except "msteams" and
// "$schema"/"$data" where allowed), ids unique across the card, input ids present,
// Input.ChoiceSet choices with title and value strings, Action.Execute/Submit "data" an
// object or string, "version" "1.0"…"1.5" and no element newer than it.
//
// Pure functions: no I/O. Thread-safe.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace haveri::fakes {

// Every problem found, each with a JSON pointer: "/body/2/facts/0: required
// property \"value\" missing". Empty: valid.
std::vector<std::string> check_adaptive_card(const nlohmann::json& card);

// The checks on a message activity as the Bot Connector receives it: the activity's
// "type", the attachments (contentType application/vnd.microsoft.card.adaptive with a
// "content" card, each checked) and Teams' size limit on the whole serialized activity
// (`max_bytes`, 28 KiB by default).
std::vector<std::string> check_message_activity(const nlohmann::json& activity,
                                                std::size_t max_bytes = 28 * 1024);

}  // namespace haveri::fakes
