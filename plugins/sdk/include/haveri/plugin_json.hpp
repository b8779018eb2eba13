// The JSON documents of the plugin ABI (docs/plugin-abi.md), read and written the same
// way by every adapter: members read leniently (a member of the wrong type counts as
// absent, so a hostile document never throws), operation results in the shape the host
// expects, settings errors that name the key, and bounded memories of recent things.
//
// Header only; a plugin that includes it links nlohmann_json.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

namespace haveri::sdk {

// object[key] when it is a string, else "".
inline std::string string_at(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// object[key] when it is an object, else an empty object (valid for the process).
inline const nlohmann::json& object_at(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json empty_object = nlohmann::json::object();
  if (!object.is_object()) {
    return empty_object;
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : empty_object;
}

// Serialised for the host; invalid UTF-8 becomes U+FFFD instead of an exception.
inline std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Operation results (docs/plugin-abi.md, "Operation results").
inline nlohmann::json result_ok(nlohmann::json fields = nlohmann::json::object()) {
  fields["v"] = 1;
  fields["status"] = "ok";
  return fields;
}

inline nlohmann::json result_permanent(std::string code, std::string error) {
  return {{"v", 1},
          {"status", "permanent"},
          {"error_code", std::move(code)},
          {"error", std::move(error)}};
}

// `after_ms` 0: the host's backoff; otherwise at most the 60 s the host honours.
inline nlohmann::json result_retryable(std::uint64_t after_ms, std::string error) {
  nlohmann::json result = {{"v", 1}, {"status", "retryable"}, {"error", std::move(error)}};
  if (after_ms > 0) {
    result["retry_after_ms"] = std::min<std::uint64_t>(after_ms, 60000);
  }
  return result;
}

// settings[key] as a non-empty string, else std::invalid_argument
// "settings.<key>: required (<hint>)" — for instance_create, never with the value.
inline std::string required_string(const nlohmann::json& settings, const char* key,
                                   std::string_view hint) {
  const auto it = settings.find(key);
  if (it == settings.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    throw std::invalid_argument(std::string("settings.") + key + ": required (" +
                                std::string(hint) + ")");
  }
  return it->get<std::string>();
}

// Inserts or replaces `key` in `map`, forgetting the oldest keys beyond `limit`
// (`order` holds the keys in insertion order).
template <class Map, class Order>
void remember_bounded(Map& map, Order& order, const std::string& key,
                      typename Map::mapped_type value, std::size_t limit) {
  if (map.insert_or_assign(key, std::move(value)).second) {
    order.push_back(key);
  }
  while (order.size() > limit) {
    map.erase(order.front());
    order.pop_front();
  }
}

}  // namespace haveri::sdk
