#pragma once
// application/x-www-form-urlencoded, as Slack sends slash commands and interactivity.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace haveri::slack {

using FormFields = std::map<std::string, std::string>;

// Decodes "a=1&b=x%20y+z" ('+' is a space; hex digits in either case). nullopt for a
// malformed body: a bad percent escape ("%G1", "%4", a trailing '%'), a key without '='
// (also an empty pair: "a=1&&b=2", a trailing '&'), an empty key, a repeated key (also
// one repeated only after decoding), or bytes that are not valid UTF-8 after decoding.
// An empty body is an empty map. Linear in the size of the body.
std::optional<FormFields> parse_form(std::string_view body);

// Percent-encodes every byte outside A-Z a-z 0-9 - . _ ~ as upper-case %XX (a space is
// "%20", never '+'), for building bodies in tests and for `response_url` calls that need
// form encoding. parse_form decodes what it encodes.
std::string form_encode(std::string_view value);

}  // namespace haveri::slack
