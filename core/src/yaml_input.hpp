#pragma once
// Bounds shared by the YAML loaders (directory, policies): files are read up to a size,
// documents are refused when aliases expand them past a number of values.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

namespace YAML {
class Node;
}  // namespace YAML

namespace haveri::core {

// A directory or a policy file lists people and rules, not a data set.
inline constexpr std::size_t kMaxYamlFileBytes = std::size_t{16} * 1024 * 1024;
// Aliases let a few lines of YAML expand into an exponential tree.
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;

// What a document nested deeper than yaml-cpp's parser allows (2000 levels) is told.
inline constexpr std::string_view kTooDeep =
    "lists and mappings nested more than 2000 levels deep; is it the right file?";

// Reads a whole file of at most `limit` bytes. Returns its contents and 0, or nothing
// and the errno (EFBIG when the file is larger than `limit`).
std::pair<std::string, int> read_bounded_file(const std::filesystem::path& path, std::size_t limit);

// Counts the values of a document, stopping soon after `limit`: a result above `limit`
// means the document is too large.
std::size_t count_yaml_nodes(const YAML::Node& node, std::size_t limit);

}  // namespace haveri::core
