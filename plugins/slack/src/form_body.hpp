#pragma once
// application/x-www-form-urlencoded, as Slack sends slash commands and interactivity.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace haveri::slack {

using FormFields = std::map<std::string, std::string>;

// Decodes "a=1&b=x%20y+z" ('+' is a space). nullopt for a malformed body: a bad
// percent escape, a key without '=', a repeated key, or bytes that are not valid
// UTF-8 after decoding. An empty body is an empty map.
std::optional<FormFields> parse_form(std::string_view body);

// Percent-encodes every byte outside A-Z a-z 0-9 - . _ ~ (for building bodies in tests
// and for `response_url` calls that need form encoding).
std::string form_encode(std::string_view value);

}  // namespace haveri::slack
