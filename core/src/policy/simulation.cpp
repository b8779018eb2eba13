#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

#include <haveri/core/commands.hpp>
#include <haveri/core/workflow.hpp>
#include <haveri/policy/escalation.hpp>
#include <haveri/policy/simulation.hpp>

namespace haveri::policy {

using core::Event;
using core::EventPayload;
using core::Incident;
using core::Organization;
using core::TimePoint;

namespace {

constexpr core::IncidentId kIncident = 1;
constexpr std::string_view kInstance = "simulation";

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::invalid_argument, std::move(message));
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

template <class T>
std::vector<std::string> ids_of(const std::vector<T>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const auto& item : items) {
    ids.push_back(item.id);
  }
  return ids;
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) {
    list.push_back(item);
  }
}

std::chrono::minutes minutes_between(TimePoint from, TimePoint to) {
  return std::chrono::floor<std::chrono::minutes>(to - from);
}

// Which member or team each of a page's unreachable reasons is about. fire_step()
// records them in this order: the teams on shift (missing, nobody on duty), the team
// channels (missing team, no channel), then the people (missing, no account); this
// retraces it with the same functions. When the count does not match (fire_step
// changed), the reasons are kept without ids rather than paired wrongly.
std::vector<Unreachable> unreachable_of(const core::EscalationStep& step,
                                        const core::Escalated& page,
                                        const Organization& organization, TimePoint at,
                                        TimeZoneDatabase& zones) {
  std::vector<std::string> ids;
  std::vector<std::string> people;
  for (const std::string& team_id : step.teams) {
    const core::Team* team = organization.team(team_id);
    if (team == nullptr) {
      ids.push_back(team_id);
      continue;
    }
    const auto on_duty = members_on_duty(*team, organization, at, zones);
    if (on_duty.empty()) {
      ids.push_back(team_id);
    }
    for (const std::string& member : on_duty) {
      add_unique(people, member);
    }
  }
  for (const std::string& member : step.members) {
    add_unique(people, member);
  }
  for (const std::string& team_id : step.team_channels) {
    const core::Team* team = organization.team(team_id);
    if (team == nullptr || !team->channel) {
      ids.push_back(team_id);
    }
  }
  for (const std::string& member_id : people) {
    if (organization.member(member_id) == nullptr) {
      ids.push_back(member_id);
      continue;
    }
    const auto notified = std::find_if(page.notified.begin(), page.notified.end(),
                                       [&](const core::Actor& a) { return a.member == member_id; });
    if (notified != page.notified.end() && notified->id.empty()) {
      ids.push_back(member_id);
    }
  }
  std::vector<Unreachable> out;
  const bool paired = ids.size() == page.unreachable.size();
  for (std::size_t i = 0; i < page.unreachable.size(); ++i) {
    out.push_back(Unreachable{paired ? ids[i] : std::string(), page.unreachable[i]});
  }
  return out;
}

template <class Payload>
bool has(const std::vector<EventPayload>& payloads) {
  return std::any_of(payloads.begin(), payloads.end(), [](const EventPayload& payload) {
    return std::holds_alternative<Payload>(payload);
  });
}

// One incident, its events and the escalation they cause, like the engine keeps them.
class Simulator {
 public:
  Simulator(const PolicySet& policies, const Organization& organization, TimePoint declared_at,
            TimeZoneDatabase& zones)
      : policies_(policies), organization_(organization), declared_at_(declared_at), zones_(zones) {
    const std::string platform =
        organization.installations.empty() ? "local" : organization.installations.front().platform;
    platform_of_ = [platform](std::string_view) -> const std::string& { return platform; };
  }

  // What the engine does for one command (IncidentEngine::handle_command): decide()
  // it against the incident; a refusal or a decision without events changes nothing;
  // otherwise the decided events and the escalation events escalation_events() adds
  // for them are appended together at `now`, all by the caller. The error is a
  // refusal's.
  std::optional<core::Error> command(TimePoint now, const core::Command& command) {
    const core::DecisionContext context{
        core::ChannelRef{std::string(kInstance), "simulation", "simulation"}, scenario_actor(), now,
        &organization_};
    const Incident* incident = result_.incident.exists() ? &result_.incident : nullptr;
    auto decision = core::decide(incident, command, context);
    if (!decision) {
      return decision.error();
    }
    if (!decision->events.empty()) {
      commit(now, context.caller, decision->events);
    }
    return std::nullopt;
  }

  // The earliest pending step, if any (the first of those due at the same time, in
  // the order the chain planned them).
  const core::EscalationStep* next_step() const {
    const auto& chain = result_.incident.escalation;
    if (!chain || chain->pending.empty()) {
      return nullptr;
    }
    return &*std::min_element(
        chain->pending.begin(), chain->pending.end(),
        [](const core::EscalationStep& a, const core::EscalationStep& b) { return a.due < b.due; });
  }

  // Fires a pending step at its due time, as the daemon's wheel delivers it to
  // IncidentEngine::fire_escalation. False if fire_step() refused it (it then stays
  // pending: the caller must stop).
  bool fire(const core::EscalationStep& pending) {
    const core::EscalationStep step = pending;  // the state changes below
    const Incident& incident = result_.incident;
    const TimePoint now = step.due;
    auto page = fire_step(incident, incident.escalation->started_by, step.step, step.round,
                          organization_, platform_of_, now, zones_);
    if (!page) {
      return false;
    }
    SimulatedPage simulated;
    simulated.at = now;
    simulated.minute = minutes_between(declared_at_, now);
    simulated.policy = page->policy;
    simulated.step = page->step;
    simulated.round = page->round;
    simulated.if_unacknowledged = step.if_unacknowledged;
    simulated.teams = step.teams;
    for (const core::Actor& person : page->notified) {
      simulated.members.push_back(person.member);
    }
    for (const std::string& team_id : step.team_channels) {
      const core::Team* team = organization_.team(team_id);
      if (team != nullptr && team->channel) {
        simulated.channels.push_back(team_id);
      }
    }
    simulated.unreachable = unreachable_of(step, *page, organization_, now, zones_);
    simulated.event = *page;
    result_.incident =
        append(std::move(result_.incident), now, core::Actor::system(), std::move(*page));
    result_.pages.push_back(std::move(simulated));
    return true;
  }

  const Incident& incident() const { return result_.incident; }
  SimulationResult take() { return std::move(result_); }
  SimulationResult& result() { return result_; }

 private:
  static core::Actor scenario_actor() { return core::Actor{"simulation", "Simulation"}; }

  void commit(TimePoint now, const core::Actor& actor, const std::vector<EventPayload>& decided) {
    const Incident before = result_.incident;
    Incident after = before;
    for (const EventPayload& payload : decided) {
      after = append(std::move(after), now, actor, payload);
    }
    const std::vector<EventPayload> escalation =
        escalation_events(before, after, decided, policies_, organization_, now, zones_);
    note_choice(before, after, decided, escalation, now);
    for (const EventPayload& payload : escalation) {
      after = append(std::move(after), now, actor, payload);
    }
    result_.incident = std::move(after);
  }

  Incident append(Incident state, TimePoint now, const core::Actor& actor, EventPayload payload) {
    Event event{kIncident, state.last_sequence + 1, now, actor, std::move(payload)};
    state = core::apply(std::move(state), event);
    result_.events.push_back(std::move(event));
    return state;
  }

  // Records the policy escalation_events() chose, when it chose: on declaration and on
  // a change of severity or area (the same select_policy() call, for the report only).
  void note_choice(const Incident& before, const Incident& after,
                   const std::vector<EventPayload>& decided,
                   const std::vector<EventPayload>& escalation, TimePoint now) {
    const bool declared = has<core::Declared>(decided);
    const bool severity_changed = !declared && after.severity != before.severity;
    const bool area_changed = !declared && after.area != before.area;
    if (!after.open() || !(declared || severity_changed || area_changed)) {
      return;
    }
    const Policy* chosen =
        select_policy(policies_, organization_, facts_of(after, organization_), now, zones_);
    PolicyChoice choice;
    choice.at = now;
    choice.minute = minutes_between(declared_at_, now);
    choice.policy = chosen != nullptr ? chosen->name : std::string();
    choice.reason = declared ? "declared" : (severity_changed ? "severity_change" : "area_change");
    choice.started = has<core::EscalationStarted>(escalation);
    if (!declared && !choice.started && !result_.choices.empty() &&
        result_.choices.back().policy == choice.policy) {
      return;  // the same policy goes on
    }
    result_.choices.push_back(std::move(choice));
  }

  const PolicySet& policies_;
  const Organization& organization_;
  TimePoint declared_at_;
  TimeZoneDatabase& zones_;
  PlatformOf platform_of_;
  SimulationResult result_;
};

// The command a scenario event is: what a person types or submits in the incident's
// channel.
core::Command command_of(const ScenarioEvent& event) {
  switch (event.kind) {
    case ScenarioEvent::Kind::acknowledge:
      return core::AckCommand{};
    case ScenarioEvent::Kind::resolve: {
      core::Summary summary;
      summary.what_happened = "Resolved in a simulation";
      return core::ResolveCommand{summary};
    }
    case ScenarioEvent::Kind::severity:
      return core::SeverityCommand{event.severity};
    case ScenarioEvent::Kind::area:
      // The triage form is how the area of a declared incident changes.
      return core::TriageCommand{{{"area", event.area}}};
  }
  return core::AckCommand{};
}

// A check of the scenario against the organization, before anything runs.
std::optional<core::Error> check_scenario(const Scenario& scenario,
                                          const Organization& organization) {
  const auto check_area = [&](const std::string& area) -> std::optional<core::Error> {
    if (!area.empty() && organization.area(area) == nullptr) {
      return invalid("unknown area \"" + area + "\" (areas of " + organization.id + ": " +
                     join(ids_of(organization.areas)) + ")");
    }
    return std::nullopt;
  };
  if (auto problem = check_area(scenario.area)) {
    return problem;
  }
  for (const std::string& asset : scenario.assets) {
    if (organization.asset(asset) == nullptr) {
      return invalid("unknown asset \"" + asset + "\" (assets of " + organization.id + ": " +
                     join(ids_of(organization.assets)) + ")");
    }
  }
  if (scenario.horizon < std::chrono::minutes(0) || scenario.horizon > kMaxScenarioHorizon) {
    return invalid("the horizon must be 0 to " + std::to_string(kMaxScenarioHorizon.count()) +
                   " minutes, got " + std::to_string(scenario.horizon.count()));
  }
  for (const ScenarioEvent& event : scenario.events) {
    if (event.at < std::chrono::minutes(0)) {
      return invalid("an event at minute " + std::to_string(event.at.count()) +
                     " is before the declaration");
    }
    if (event.kind == ScenarioEvent::Kind::area) {
      if (event.area.empty()) {
        return invalid("an area change needs an area");
      }
      if (auto problem = check_area(event.area)) {
        return problem;
      }
    }
  }
  return std::nullopt;
}

std::string two_digits(long long value) {
  std::string out = std::to_string(value);
  return out.size() < 2 ? "0" + out : out;
}

// "+03:00".
std::string format_offset(std::chrono::seconds offset) {
  const long long total = offset.count() / 60;
  const long long magnitude = total < 0 ? -total : total;
  return std::string(total < 0 ? "-" : "+") + two_digits(magnitude / 60) + ":" +
         two_digits(magnitude % 60);
}

// "2026-10-25T03:30" / "03:30" of a local time.
std::string format_local(std::chrono::local_seconds local, bool with_date) {
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day date{day};
  const auto minutes = std::chrono::floor<std::chrono::minutes>(local - day).count();
  std::array<char, 32> buffer{};
  if (with_date) {
    std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(minutes / 60),
                  static_cast<int>(minutes % 60));
  } else {
    std::snprintf(buffer.data(), buffer.size(), "%02d:%02d", static_cast<int>(minutes / 60),
                  static_cast<int>(minutes % 60));
  }
  return buffer.data();
}

struct WrittenTime {
  std::chrono::local_seconds local{};
  std::optional<std::chrono::seconds> offset;  // Z is +00:00
};

// "YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±HH:MM]"; nullopt for anything else.
std::optional<WrittenTime> parse_written_time(std::string_view text) {
  std::size_t at = 0;
  const auto digits = [&](std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) {
      return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = text[at + i];
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      value = value * 10 + (c - '0');
    }
    at += count;
    return value;
  };
  const auto literal = [&](std::string_view choices) {
    if (at < text.size() && choices.find(text[at]) != std::string_view::npos) {
      ++at;
      return true;
    }
    return false;
  };
  const auto year = digits(4);
  if (!year || !literal("-")) {
    return std::nullopt;
  }
  const auto month = digits(2);
  if (!month || !literal("-")) {
    return std::nullopt;
  }
  const auto day = digits(2);
  if (!day || !literal("Tt ")) {
    return std::nullopt;
  }
  const auto hour = digits(2);
  if (!hour || !literal(":")) {
    return std::nullopt;
  }
  const auto minute = digits(2);
  if (!minute) {
    return std::nullopt;
  }
  int second = 0;
  if (literal(":")) {
    const auto written = digits(2);
    if (!written) {
      return std::nullopt;
    }
    second = *written;
    if (literal(".")) {
      const std::size_t start = at;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
        ++at;
      }
      if (at == start) {
        return std::nullopt;
      }
    }
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || second > 59) {
    return std::nullopt;
  }
  WrittenTime out;
  out.local = std::chrono::local_days(date) + std::chrono::hours(*hour) +
              std::chrono::minutes(*minute) + std::chrono::seconds(second);
  if (literal("Zz")) {
    out.offset = std::chrono::seconds(0);
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const bool negative = text[at] == '-';
    ++at;
    const auto hours = digits(2);
    if (!hours || !literal(":")) {
      return std::nullopt;
    }
    const auto minutes = digits(2);
    if (!minutes || *hours > 23 || *minutes > 59) {
      return std::nullopt;
    }
    const std::chrono::seconds offset = std::chrono::hours(*hours) + std::chrono::minutes(*minutes);
    out.offset = negative ? -offset : offset;
  }
  if (at != text.size()) {
    return std::nullopt;
  }
  return out;
}

// "SEV1", "SEV1 or SEV2", "a, b or c".
std::string either(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    out += (i == 0 ? "" : (i + 1 == words.size() ? " or " : ", ")) + words[i];
  }
  return out;
}

// "mon-fri", "daily", "mon, wed-fri": days as a window or shift is written.
std::string days_text(const std::vector<int>& days) {
  constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu",
                                                     "fri", "sat", "sun"};
  if (days.size() == kDays.size()) {
    return "daily";
  }
  std::string out;
  for (std::size_t i = 0; i < days.size();) {
    std::size_t last = i;
    while (last + 1 < days.size() && days[last + 1] == days[last] + 1) {
      ++last;
    }
    out += (out.empty() ? "" : ", ") + std::string(kDays.at(static_cast<std::size_t>(days[i])));
    if (last > i) {
      out += "-" + std::string(kDays.at(static_cast<std::size_t>(days[last])));
    }
    i = last + 1;
  }
  return out;
}

// "06:00-22:00" ("24:00" may end it).
std::string hours_text(std::chrono::minutes start, std::chrono::minutes end) {
  const auto clock = [](std::chrono::minutes at) {
    return two_digits(at.count() / 60) + ":" + two_digits(at.count() % 60);
  };
  return clock(start) + "-" + clock(end);
}

// "Tue 23:50 EET": the wall clock of `zone` at `at`, without the date.
std::string weekday_and_time(core::TimePoint at, const TimeZone& zone) {
  const std::string full = format_wall_clock(at, zone);  // "Tue 2026-11-24 23:50 EET"
  const std::size_t date = full.find(' ');
  const std::size_t time = full.find(' ', date + 1);
  return full.substr(0, date) + full.substr(time);
}

}  // namespace

std::string mismatch_reason(const Policy& policy, const core::Organization& organization,
                            const IncidentFacts& facts, core::TimePoint at,
                            TimeZoneDatabase& zones) {
  // The same keys in the same order as select_policy() (escalation.cpp, matches()).
  const Match& match = policy.match;
  if (!match.severities.empty() && std::find(match.severities.begin(), match.severities.end(),
                                             facts.severity) == match.severities.end()) {
    std::vector<std::string> names;
    for (const core::Severity severity : match.severities) {
      names.emplace_back(core::to_string(severity));
    }
    return "severity " + std::string(core::to_string(facts.severity)) + " is not " + either(names);
  }
  if (!match.areas.empty() && facts.area.empty()) {
    return "the incident has no area (the policy is for area " + either(match.areas) + ")";
  }
  if (!match.areas.empty() &&
      std::find(match.areas.begin(), match.areas.end(), facts.area) == match.areas.end()) {
    return "area " + facts.area + " is not " + either(match.areas);
  }
  if (!match.asset_types.empty() &&
      std::none_of(facts.asset_types.begin(), facts.asset_types.end(), [&](const std::string& t) {
        return std::find(match.asset_types.begin(), match.asset_types.end(), t) !=
               match.asset_types.end();
      })) {
    return "no asset of type " + either(match.asset_types);
  }
  if (match.windows.empty() && match.shifts.empty()) {
    return {};
  }
  const core::Facility* facility = organization.facility(policy.facility);
  const auto zone = zone_of(zones, facility != nullptr ? facility->time_zone : "UTC");
  std::vector<std::string> hours;
  for (const Window& window : match.windows) {
    if (window_covers(window, *zone, at)) {
      return {};
    }
    hours.push_back(days_text(window.days) + " " + hours_text(window.start, window.end));
  }
  for (const ShiftRef& ref : match.shifts) {
    hours.push_back("shift " + ref.team + "/" + ref.shift);
    const core::Team* team = organization.team(ref.team);
    if (team == nullptr) {
      continue;
    }
    for (const core::Shift& shift : team->shifts) {
      if (shift.name != ref.shift) {
        continue;
      }
      const core::Facility* team_facility = organization.facility(team->facility);
      const std::string zone_name = !shift.time_zone.empty()   ? shift.time_zone
                                    : team_facility != nullptr ? team_facility->time_zone
                                                               : "UTC";
      if (shift_covers(shift, *zone_of(zones, zone_name), at)) {
        return {};
      }
    }
  }
  std::string listed;
  for (const std::string& entry : hours) {
    listed += (listed.empty() ? "" : "; ") + entry;
  }
  return weekday_and_time(at, *zone) + " is outside its hours (" + listed + ")";
}

core::Result<core::TimePoint> parse_scenario_time(std::string_view text, const TimeZone* zone) {
  const auto written = parse_written_time(text);
  if (!written) {
    return invalid(
        "expected a local time \"YYYY-MM-DD HH:MM\" (such as 2026-11-24 23:50) or "
        "RFC 3339 with Z or an offset (such as 2026-11-24T21:50:00Z), got \"" +
        std::string(text) + "\"");
  }
  if (written->offset) {
    const std::chrono::sys_seconds instant{written->local.time_since_epoch() - *written->offset};
    return std::chrono::time_point_cast<std::chrono::milliseconds>(instant);
  }
  if (zone == nullptr) {
    return invalid("\"" + std::string(text) +
                   "\" is a local time, but the incident has no facility to say which time zone "
                   "it is in; give an area, or write the time in RFC 3339 with Z or an offset");
  }
  const LocalTimeResolution resolved = zone->from_local(written->local);
  const auto date = format_local(written->local, true);
  switch (resolved.kind) {
    case LocalTimeResolution::Kind::unique:
      return std::chrono::time_point_cast<std::chrono::milliseconds>(resolved.earliest);
    case LocalTimeResolution::Kind::nonexistent: {
      const std::chrono::sys_seconds change = resolved.earliest;
      const auto before = zone->offset_at(change - std::chrono::seconds(1));
      const auto after = zone->offset_at(change);
      const std::chrono::local_seconds from{change.time_since_epoch() + before.utc_offset};
      const std::chrono::local_seconds to{change.time_since_epoch() + after.utc_offset};
      return invalid("\"" + std::string(text) + "\" does not exist in " + zone->name() +
                     ": the clocks jump from " + format_local(from, false) + " to " +
                     format_local(to, false) +
                     " that night; use a time after the change, or RFC 3339 with an offset");
    }
    case LocalTimeResolution::Kind::ambiguous: {
      const auto first = zone->offset_at(resolved.earliest);
      const auto second = zone->offset_at(resolved.latest);
      const auto name = [](const ZoneOffset& offset) {
        return offset.abbreviation.empty() ? std::string() : offset.abbreviation + ", ";
      };
      return invalid("\"" + std::string(text) + "\" happens twice in " + zone->name() +
                     ": the clocks go back that night; write it with its offset: " + date +
                     format_offset(first.utc_offset) + " (" + name(first) + "the first) or " +
                     date + format_offset(second.utc_offset) + " (" + name(second) + "the second)");
    }
  }
  return invalid("unreachable");
}

std::string format_wall_clock(core::TimePoint at, const TimeZone& zone) {
  const auto instant = std::chrono::floor<std::chrono::seconds>(at);
  const auto local = zone.to_local(instant);
  const auto day = std::chrono::floor<std::chrono::days>(local);
  constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                     "Fri", "Sat", "Sun"};
  const std::chrono::weekday weekday{day};
  const ZoneOffset offset = zone.offset_at(instant);
  const std::string abbreviation =
      offset.abbreviation.empty() ? "UTC" + format_offset(offset.utc_offset) : offset.abbreviation;
  auto text = format_local(local, true);
  std::replace(text.begin(), text.end(), 'T', ' ');
  return std::string(kDays.at(weekday.iso_encoding() - 1)) + " " + text + " " + abbreviation;
}

core::Result<SimulationResult> simulate(const PolicySet& policies, const core::Directory& directory,
                                        const Scenario& scenario, TimeZoneDatabase& zones) {
  const Organization* organization = nullptr;
  if (scenario.organization.empty()) {
    if (directory.organizations.size() != 1) {
      return invalid("the directory has " + std::to_string(directory.organizations.size()) +
                     " organizations; name one (" + join(ids_of(directory.organizations)) + ")");
    }
    organization = &directory.organizations.front();
  } else {
    organization = directory.organization(scenario.organization);
    if (organization == nullptr) {
      return invalid(
          "unknown organization \"" + scenario.organization +
          "\" (organizations in the directory: " + join(ids_of(directory.organizations)) + ")");
    }
  }
  if (auto problem = check_scenario(scenario, *organization)) {
    return std::move(*problem);
  }

  Simulator simulator(policies, *organization, scenario.declared_at, zones);
  SimulationResult& result = simulator.result();
  result.organization = organization->id;
  if (const core::Facility* facility = facility_of(*organization, scenario.area)) {
    result.facility = facility->id;
    result.time_zone = facility->time_zone;
  }

  core::DeclareCommand declare{"Simulated incident", scenario.severity, scenario.area,
                               scenario.assets};
  if (auto refused = simulator.command(scenario.declared_at, declare)) {
    return invalid("the incident cannot be declared: " + refused->message);
  }

  std::vector<ScenarioEvent> events = scenario.events;
  std::stable_sort(events.begin(), events.end(),
                   [](const ScenarioEvent& a, const ScenarioEvent& b) { return a.at < b.at; });
  const TimePoint end = scenario.declared_at + scenario.horizon;
  std::size_t next_event = 0;
  while (true) {
    const core::EscalationStep* step = simulator.next_step();
    const std::optional<TimePoint> event_at =
        next_event < events.size()
            ? std::optional<TimePoint>(scenario.declared_at + events[next_event].at)
            : std::nullopt;
    // A step due at the same time as an event fires first: the wheel delivers it at
    // its due time, and an event "at minute 15" happens during that minute.
    if (step != nullptr && (!event_at || step->due <= *event_at)) {
      if (step->due > end || !simulator.fire(*step)) {
        break;
      }
      continue;
    }
    if (!event_at || *event_at > end) {
      break;
    }
    // A refused command (acknowledging twice, a severity the incident has) changes
    // nothing, as in the daemon, which only replies with the refusal.
    (void)simulator.command(*event_at, command_of(events[next_event]));
    ++next_event;
  }
  return simulator.take();
}

}  // namespace haveri::policy
