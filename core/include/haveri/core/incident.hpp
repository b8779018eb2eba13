#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/ids.hpp>

namespace haveri::core {

enum class Status { declared, investigating, mitigated, resolved, closed };
enum class Severity { sev1, sev2, sev3 };

// "DECLARED", "SEV1": the forms people see and the API returns.
std::string_view to_string(Status status) noexcept;
std::string_view to_string(Severity severity) noexcept;
// Case-insensitive; nullopt for anything else.
std::optional<Status> parse_status(std::string_view text) noexcept;
std::optional<Severity> parse_severity(std::string_view text) noexcept;

// The statuses an incident in `from` may move to, in the order people expect them.
std::span<const Status> allowed_transitions(Status from) noexcept;

struct Event;

// Current state of one incident: a fold over its events (see apply()).
struct Incident {
  IncidentId id = 0;
  Sequence last_sequence = 0;  // 0: nothing declared yet
  std::string title;
  Status status = Status::declared;
  Severity severity = Severity::sev3;
  Actor declared_by;
  TimePoint declared_at{};
  TimePoint updated_at{};
  ChannelRef declared_in;             // where /incident declare was typed
  std::optional<ChannelRef> channel;  // the incident's own channel, once created
  std::int64_t message_count = 0;
  std::optional<Actor> lead;             // incident lead, once assigned
  std::optional<Actor> comms_lead;       // comms lead, once assigned
  std::optional<Actor> acknowledged_by;  // who acknowledged first
  std::optional<TimePoint> acknowledged_at;

  bool exists() const noexcept { return last_sequence > 0; }
  bool operator==(const Incident&) const = default;
};

// Folds one event into the state. Total: never throws, never fails, ignores events
// for other incidents, so replaying any stored history can never crash.
Incident apply(Incident state, const Event& event) noexcept;

// Folds a whole history, starting from an empty incident.
Incident fold(std::span<const Event> events) noexcept;

}  // namespace haveri::core
