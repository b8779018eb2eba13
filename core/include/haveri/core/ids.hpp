#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace haveri::core {

// An incident's number, unique in a store and shown to people as INC-<n>.
using IncidentId = std::int64_t;
// Position of an event in its incident's timeline, from 1, without gaps.
using Sequence = std::int64_t;

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

// A conversation on one plugin instance ("local" / "general").
struct ChannelRef {
  std::string instance;
  std::string id;
  std::string name;
  bool operator==(const ChannelRef&) const = default;
};

// Who did something: a chat user (by their platform id on an instance) or the system.
struct Actor {
  std::string id;            // platform user id, or "system"
  std::string display_name;  // as the platform showed it
  std::string member = {};   // Member::id in the directory or store; empty if not known
  bool operator==(const Actor&) const = default;
  static Actor system() { return Actor{"system", "Haveri"}; }
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-24T02:43:50.123Z.
std::string format_time(TimePoint t);
// Parses what format_time writes; returns false on anything else.
bool parse_time(const std::string& text, TimePoint& out);

}  // namespace haveri::core
