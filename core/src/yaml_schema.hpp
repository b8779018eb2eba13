#pragma once
// Reading YAML documents of a fixed schema while collecting every problem instead of
// stopping at the first: shared by the directory and policy loaders so their messages
// read alike. Internal to core; included only by .cpp files that use yaml-cpp.

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <haveri/core/yaml_text.hpp>

namespace haveri::core::yaml_schema {

struct Field {
  YAML::Node key;
  YAML::Node value;
};

// A mapping of the fixed schema. Key problems (unknown, repeated, not plain) are kept
// until the mapping's id is known, so the message can name the thing.
struct Mapping {
  std::map<std::string, Field, std::less<>> fields;
  std::vector<std::pair<YAML::Mark, std::string>> key_problems;
  YAML::Mark mark;

  const Field* find(std::string_view name) const {
    const auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
};

// "a, b, c".
inline std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (const auto word : words) {
    out += out.empty() ? "" : ", ";
    out += word;
  }
  return out;
}

// How many known ids an "unknown …" message lists at most.
inline constexpr std::size_t kMaxIdsShown = 12;

// "a, b, c", at most kMaxIdsShown of them, then "…"; empty ids are skipped.
inline std::string list_ids(const std::vector<std::string>& ids) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& id : ids) {
    if (id.empty()) {
      continue;
    }
    if (shown == kMaxIdsShown) {
      out += ", …";
      break;
    }
    out += shown == 0 ? "" : ", ";
    out += id;
    ++shown;
  }
  return out;
}

// The 1-based line of a mark, for "(first at line 12)".
inline std::string line_of(const YAML::Mark& mark) {
  return std::to_string(mark.line + 1);
}

// The schema readers' common steps. `Reader` derives from it and offers
// `void report(const YAML::Mark&, const std::string& message)`.
template <class Reader>
class SchemaReading {
 protected:
  static std::string prefix(std::string_view what) {
    return what.empty() ? std::string() : std::string(what) + ": ";
  }

  // Where a value is, or its key when the value is empty (`time_zone:` with nothing).
  static YAML::Mark mark_of(const Field& field) {
    const YAML::Mark mark = field.value.Mark();
    return field.value.IsNull() || mark.is_null() ? field.key.Mark() : mark;
  }

  Mapping mapping(const YAML::Node& node, std::span<const std::string_view> allowed) {
    Mapping out;
    out.mark = node.Mark();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        out.key_problems.emplace_back(it->first.Mark(),
                                      "expected a plain key, got " + describe_yaml(it->first));
        continue;
      }
      const std::string& name = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        out.key_problems.emplace_back(it->first.Mark(), "unknown key " + quote_for_message(name) +
                                                            " (allowed: " + join(allowed) + ")");
        continue;
      }
      const auto [previous, inserted] = out.fields.emplace(name, Field{it->first, it->second});
      if (!inserted) {
        out.key_problems.emplace_back(
            it->first.Mark(), "key " + quote_for_message(name) + " is given twice (first at line " +
                                  line_of(previous->second.key.Mark()) + "); keep one of them");
      }
    }
    return out;
  }

  void finish(const Mapping& m, std::string_view what) {
    for (const auto& [mark, message] : m.key_problems) {
      reader().report(mark, prefix(what) + message);
    }
  }

  // A non-empty string, or nullopt (reported).
  std::optional<std::string> text(const Field& field, std::string_view what, std::string_view key) {
    if (!field.value.IsScalar()) {
      reader().report(mark_of(field), prefix(what) + std::string(key) +
                                          ": expected a string, got " + describe_yaml(field.value));
      return std::nullopt;
    }
    if (field.value.Scalar().empty()) {
      reader().report(mark_of(field), prefix(what) + std::string(key) + ": must not be empty");
      return std::nullopt;
    }
    return field.value.Scalar();
  }

  std::optional<std::string> optional_text(const Mapping& m, std::string_view what,
                                           std::string_view key) {
    const Field* field = m.find(key);
    return field == nullptr ? std::nullopt : text(*field, what, key);
  }

  std::optional<std::string> required_text(const Mapping& m, std::string_view what,
                                           std::string_view key, std::string_view hint = {}) {
    const Field* field = m.find(key);
    if (field == nullptr) {
      reader().report(m.mark, prefix(what) + "required key " + quote_for_message(key) +
                                  " is missing" + std::string(hint));
      return std::nullopt;
    }
    return text(*field, what, key);
  }

  // The items of a list; nothing written (`teams:`) is an empty list.
  std::optional<std::vector<YAML::Node>> list(const Field& field, std::string_view what,
                                              std::string_view key) {
    if (field.value.IsNull()) {
      return std::vector<YAML::Node>{};
    }
    if (!field.value.IsSequence()) {
      reader().report(mark_of(field), prefix(what) + std::string(key) + ": expected a list, got " +
                                          describe_yaml(field.value));
      return std::nullopt;
    }
    std::vector<YAML::Node> items;
    for (auto it = field.value.begin(); it != field.value.end(); ++it) {
      items.push_back(*it);
    }
    return items;
  }

 private:
  Reader& reader() { return static_cast<Reader&>(*this); }
};

}  // namespace haveri::core::yaml_schema
