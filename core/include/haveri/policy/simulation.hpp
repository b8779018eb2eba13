#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/directory.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>
#include <haveri/policy/escalation.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {

// Runs an incident through the escalation policies without a daemon, a store or a
// clock: what `haverictl policy test` and `haverictl policy simulate` show. It takes
// the engine's own path (core/src/engine.cpp): the declaration and every event are
// commands decided by core::decide(), the incident is the fold of its events
// (core::apply), every change goes through escalation_events(), and every due step is
// fired by fire_step() at exactly its due time. So a policy test proves what haverid
// does.
//
// Pure: reads nothing but the time zones (through `zones`).

// Something that happens to the incident, a whole number of minutes after it was
// declared: a command decided by core::decide() as the engine decides it. A command
// the engine refuses (acknowledging an acknowledged incident whose chain waits for
// nothing, a severity it already has) changes nothing; resolving a resolved incident
// again only amends its summary.
struct ScenarioEvent {
  enum class Kind {
    acknowledge,  // core::AckCommand
    resolve,      // core::ResolveCommand with a summary
    severity,     // core::SeverityCommand{severity}
    area,         // the triage form: core::TriageCommand{{"area", area}}
  };
  std::chrono::minutes at{0};
  Kind kind = Kind::acknowledge;
  core::Severity severity = core::Severity::sev3;  // kind severity
  std::string area;                                // kind area
};

struct Scenario {
  std::string organization;  // Organization::id; empty: the directory's only organization
  core::Severity severity = core::Severity::sev3;
  std::string area;                 // Area::id; may be empty
  std::vector<std::string> assets;  // Asset::id
  core::TimePoint declared_at{};
  std::vector<ScenarioEvent> events;  // any order; sorted by `at` (stable) when run
  // How long to follow the incident: steps due and events up to declared_at +
  // horizon (included) happen; nothing after it.
  std::chrono::minutes horizon{240};
};

// The longest horizon a scenario may have: a week.
inline constexpr std::chrono::minutes kMaxScenarioHorizon{7 * 24 * 60};

// Someone or something a page could not reach.
struct Unreachable {
  std::string id;      // the member or team concerned; empty if it could not be told
  std::string reason;  // as recorded in core::Escalated::unreachable
  bool operator==(const Unreachable&) const = default;
};

// One fired step.
struct SimulatedPage {
  core::TimePoint at{};            // when it fired: its due time
  std::chrono::minutes minute{0};  // floor((at - declared_at) / 1 min)
  std::string policy;
  std::int64_t step = 0;   // 1-based
  std::int64_t round = 0;  // 0: the first run; 1…: repeats
  bool if_unacknowledged = true;
  std::vector<std::string> teams;        // the step's team_on_shift targets
  std::vector<std::string> members;      // Escalated::notified[].member, in order
  std::vector<std::string> channels;     // team ids whose channel was posted in
  std::vector<Unreachable> unreachable;  // in the order of Escalated::unreachable
  core::Escalated event;                 // the event itself
};

// A policy being chosen (or none) when the chain is (re)considered: on declaration,
// and when a change of severity or area chooses differently from before.
struct PolicyChoice {
  core::TimePoint at{};
  std::chrono::minutes minute{0};
  std::string policy;    // empty: no policy matched
  std::string reason;    // "declared", "severity_change", "area_change"
  bool started = false;  // a chain started (EscalationStarted)
};

struct SimulationResult {
  std::string organization;           // Organization::id
  std::string facility;               // the incident's facility when declared; empty if undecided
  std::string time_zone;              // that facility's IANA zone; empty without a facility
  std::vector<PolicyChoice> choices;  // in time order; the first is the declaration's
  std::vector<SimulatedPage> pages;   // in time order
  // Every event, as the engine would have stored them (sequence from 1, incident 1):
  // the declaration, the scenario's changes and the escalation events.
  std::vector<core::Event> events;
  core::Incident incident;  // the state at the end (pending steps beyond the horizon)
};

// Runs a scenario. Pages report member ids whatever their chat accounts: the pages go
// through a made-up plugin instance "simulation" whose platform is the first platform
// among the organization's installations ("local" when it has none), so a member
// without an identity on that platform is paged and also listed as unreachable
// ("Dave has no slack account"), as haverid would record it.
//
// Errors (ErrorCode::invalid_argument, the message saying what to fix): the
// organization, an area or an asset is not in the directory; the directory has
// several organizations and none is named; an event is before the declaration;
// the horizon is negative or longer than kMaxScenarioHorizon.
core::Result<SimulationResult> simulate(const PolicySet& policies, const core::Directory& directory,
                                        const Scenario& scenario, TimeZoneDatabase& zones);

// The time an incident is declared at, as people write it: a wall-clock time in
// `zone` ("2026-11-24 23:50", 'T' instead of the space allowed, seconds optional), or
// RFC 3339 with "Z" or an offset ("2026-11-24T21:50:00Z", "2026-11-24T23:50+02:00").
// `zone` may be nullptr, and then only the RFC 3339 forms are accepted. A wall-clock
// time the clocks jumped over is an error; one they passed twice is an error too,
// saying which offsets name each. Messages do not repeat `text`'s location.
core::Result<core::TimePoint> parse_scenario_time(std::string_view text, const TimeZone* zone);

// Why `policy` does not match an incident with `facts` whose chain starts at `at`,
// for people: the first key of its `match` that fails, as "severity SEV2 is not SEV1",
// "area packaging is not assembly", "no asset of type conveyor" or "Tue 23:50 EET is
// outside its hours (mon-fri 06:00-22:00; shift maintenance/night)" (the wall clock of
// the policy's facility). Empty when the policy matches (by the same rules as
// select_policy()). The policy's organization and facility are not checked: the
// caller asks about the incident's facility's policies.
std::string mismatch_reason(const Policy& policy, const core::Organization& organization,
                            const IncidentFacts& facts, core::TimePoint at,
                            TimeZoneDatabase& zones);

// "Tue 2026-11-24 23:50 EET": the wall clock of `zone` at `at`, with the zone's
// abbreviation (or "UTC+05:30" when the zone has none).
std::string format_wall_clock(core::TimePoint at, const TimeZone& zone);

}  // namespace haveri::policy
