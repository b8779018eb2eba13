#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/directory.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {

// Escalation, evaluated purely: which policy an incident gets, the chain it starts,
// who is on duty, and what a due step turns into. The engine (core/src/engine.cpp)
// and `haverictl policy test|simulate` share these functions, so a policy test
// proves what the daemon does.

// What a policy is chosen by.
struct IncidentFacts {
  core::Severity severity = core::Severity::sev3;
  std::string area;                      // may be empty
  std::vector<std::string> asset_types;  // of the incident's assets, without repeats
};
IncidentFacts facts_of(const core::Incident& incident, const core::Organization& organization);

// The facility an incident belongs to: its area's; without an area, the
// organization's only facility; nullptr when that does not decide it.
const core::Facility* facility_of(const core::Organization& organization, std::string_view area);

// The zone a facility's hours are in; UTC when the zone cannot be loaded (the
// directory loader has checked every zone, so that means zoneinfo changed under us).
std::shared_ptr<const TimeZone> zone_of(TimeZoneDatabase& zones, std::string_view name);

// Whether a window or a directory shift covers the instant, on the wall clock of `zone`.
bool window_covers(const Window& window, const TimeZone& zone, core::TimePoint at);
bool shift_covers(const core::Shift& shift, const TimeZone& zone, core::TimePoint at);

// The team's members on duty at `at`: an override in force decides alone;
// otherwise the members of every shift covering the instant (in the team's order of
// preference), or every member for a team without shifts.
std::vector<std::string> members_on_duty(const core::Team& team,
                                         const core::Organization& organization, core::TimePoint at,
                                         TimeZoneDatabase& zones);

// The policy chosen for an incident whose chain starts at `at`: among the
// organization's policies of the incident's facility that match, the first in
// PolicySet order (highest priority first). nullptr when none matches.
const Policy* select_policy(const PolicySet& policies, const core::Organization& organization,
                            const IncidentFacts& facts, core::TimePoint at,
                            TimeZoneDatabase& zones);

// Every step of a chain that starts at `start`, repeats included, in due order.
std::vector<core::EscalationStep> plan_chain(const Policy& policy, core::TimePoint start);

// The escalation events that must be appended with a change to an incident, given
// the state before it (empty for a declaration), the state after it and the
// payloads decided: a chain starts on declaration, and again when a severity or
// area change selects another policy (the old one stops as "replaced", or as
// "no_policy" when none matches); an acknowledgement stops the steps that need an
// unacknowledged incident; RESOLVED or CLOSED stops every step.
std::vector<core::EventPayload> escalation_events(const core::Incident& before,
                                                  const core::Incident& after,
                                                  const std::vector<core::EventPayload>& decided,
                                                  const PolicySet& policies,
                                                  const core::Organization& organization,
                                                  core::TimePoint now, TimeZoneDatabase& zones);

// A step is late when it fell due before the daemon (re)started, or fires this long
// after its due time.
inline constexpr std::chrono::seconds kLateAfter{60};

// Maps a plugin instance to its platform ("local" -> "local", "acme-slack" ->
// "slack"), for member identities.
using PlatformOf = std::function<std::string(std::string_view instance)>;

// The page a pending step becomes at `now`: who is on duty now, their accounts on
// the platform of the incident's instance, the team channels; nullopt when the step
// is no longer pending in `chain` (fired, cancelled, or another chain started).
// `started_at`: when the daemon started; a step due before it is marked late.
std::optional<core::Escalated> fire_step(const core::Incident& incident, core::Sequence chain,
                                         std::int64_t step, std::int64_t round,
                                         const core::Organization& organization,
                                         const PlatformOf& platform_of, core::TimePoint now,
                                         TimeZoneDatabase& zones,
                                         core::TimePoint started_at = core::TimePoint{});

}  // namespace haveri::policy
