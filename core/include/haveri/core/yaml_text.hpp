#pragma once
// How YAML values are shown in error messages, shared by every YAML loader
// (configuration, directory) so their messages read alike.

#include <string>
#include <string_view>

namespace YAML {
class Node;
}

namespace haveri::core {

// A scalar as it appears in an error message: in double quotes, with quotes and
// backslashes escaped, control characters and bytes that are not UTF-8 as \xNN, cut
// after at most 60 bytes ("...", never inside a UTF-8 character). The result is valid
// UTF-8.
std::string quote_for_message(std::string_view text);

// What a node is, for "expected …, got <this>": "a mapping", "a list", the quoted
// scalar, or "nothing".
std::string describe_yaml(const YAML::Node& node);

}  // namespace haveri::core
