#include <algorithm>

#include <haveri/policy/escalation.hpp>

namespace haveri::policy {

using core::EscalationStep;
using core::EventPayload;
using core::Incident;
using core::Organization;
using core::TimePoint;

namespace {

// Day of week (0 = Monday) and minute of the day on the zone's wall clock.
struct WallClockMinute {
  int weekday = 0;
  int minute = 0;
};

WallClockMinute wall_clock_minute(const TimeZone& zone, TimePoint at) {
  const auto local = zone.to_local(std::chrono::floor<std::chrono::seconds>(at));
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::weekday weekday{day};
  const auto minute = std::chrono::floor<std::chrono::minutes>(local - day);
  return {static_cast<int>(weekday.iso_encoding()) - 1, static_cast<int>(minute.count())};
}

bool has_day(const std::vector<int>& days, int day) {
  return std::find(days.begin(), days.end(), day) != days.end();
}

// The directory's rules for weekly hours: `days` are the days a period starts on;
// an end before the start runs into the next day; start == end is 24 hours from the
// start (00:00-24:00: the calendar day).
bool weekly_hours_cover(const std::vector<int>& days, std::chrono::minutes start,
                        std::chrono::minutes end, WallClockMinute at) {
  const int from = static_cast<int>(start.count());
  const int to = static_cast<int>(end.count());
  const int previous_day = (at.weekday + 6) % 7;
  if (from == to) {  // 24 hours from the start
    return (has_day(days, at.weekday) && at.minute >= from) ||
           (has_day(days, previous_day) && at.minute < from);
  }
  if (from < to) {
    return has_day(days, at.weekday) && at.minute >= from && at.minute < to;
  }
  return (has_day(days, at.weekday) && at.minute >= from) ||
         (has_day(days, previous_day) && at.minute < to);
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) {
    list.push_back(item);
  }
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool matches(const Policy& policy, const IncidentFacts& facts, const Organization& organization,
             TimePoint at, TimeZoneDatabase& zones, const TimeZone& facility_zone) {
  const Match& match = policy.match;
  if (!match.severities.empty() && std::find(match.severities.begin(), match.severities.end(),
                                             facts.severity) == match.severities.end()) {
    return false;
  }
  if (!match.areas.empty() && (facts.area.empty() || !contains(match.areas, facts.area))) {
    return false;
  }
  if (!match.asset_types.empty() &&
      std::none_of(facts.asset_types.begin(), facts.asset_types.end(),
                   [&](const std::string& type) { return contains(match.asset_types, type); })) {
    return false;
  }
  if (match.windows.empty() && match.shifts.empty()) {
    return true;
  }
  for (const Window& window : match.windows) {
    if (window_covers(window, facility_zone, at)) {
      return true;
    }
  }
  for (const ShiftRef& ref : match.shifts) {
    const core::Team* team = organization.team(ref.team);
    if (team == nullptr) {
      continue;
    }
    for (const core::Shift& shift : team->shifts) {
      if (shift.name != ref.shift) {
        continue;
      }
      const core::Facility* facility = organization.facility(team->facility);
      const std::string zone_name =
          !shift.time_zone.empty() ? shift.time_zone : (facility ? facility->time_zone : "UTC");
      if (shift_covers(shift, *zone_of(zones, zone_name), at)) {
        return true;
      }
    }
  }
  return false;
}

// Pending steps; with `acknowledged_at`, those an acknowledgement then cancels.
std::size_t pending_count(const Incident& incident,
                          std::optional<TimePoint> acknowledged_at = std::nullopt) {
  if (!incident.escalation) {
    return 0;
  }
  return static_cast<std::size_t>(std::count_if(
      incident.escalation->pending.begin(), incident.escalation->pending.end(),
      [&](const EscalationStep& step) {
        return !acknowledged_at || step.if_unacknowledged || step.round_start > *acknowledged_at;
      }));
}

template <class Payload>
bool decided_any(const std::vector<EventPayload>& decided) {
  return std::any_of(decided.begin(), decided.end(), [](const EventPayload& payload) {
    return std::holds_alternative<Payload>(payload);
  });
}

}  // namespace

IncidentFacts facts_of(const Incident& incident, const Organization& organization) {
  IncidentFacts facts{incident.severity, incident.area, {}};
  for (const std::string& asset_id : incident.assets) {
    if (const core::Asset* asset = organization.asset(asset_id);
        asset != nullptr && !asset->asset_type.empty()) {
      add_unique(facts.asset_types, asset->asset_type);
    }
  }
  return facts;
}

const core::Facility* facility_of(const Organization& organization, std::string_view area) {
  if (!area.empty()) {
    const core::Area* found = organization.area(area);
    return found ? organization.facility(found->facility) : nullptr;
  }
  return organization.facilities.size() == 1 ? &organization.facilities.front() : nullptr;
}

std::shared_ptr<const TimeZone> zone_of(TimeZoneDatabase& zones, std::string_view name) {
  if (auto zone = zones.get(name)) {
    return zone.value();
  }
  static const auto utc = std::make_shared<const TimeZone>(TimeZone::utc());
  return utc;
}

bool window_covers(const Window& window, const TimeZone& zone, TimePoint at) {
  return weekly_hours_cover(window.days, window.start, window.end, wall_clock_minute(zone, at));
}

bool shift_covers(const core::Shift& shift, const TimeZone& zone, TimePoint at) {
  return weekly_hours_cover(shift.days, shift.start, shift.end, wall_clock_minute(zone, at));
}

std::vector<std::string> members_on_duty(const core::Team& team, const Organization& organization,
                                         TimePoint at, TimeZoneDatabase& zones) {
  const core::Facility* facility = organization.facility(team.facility);
  const std::string facility_zone = facility ? facility->time_zone : "UTC";
  if (!team.overrides.empty()) {
    const auto zone = zone_of(zones, facility_zone);
    const auto local = std::chrono::floor<std::chrono::minutes>(
        zone->to_local(std::chrono::floor<std::chrono::seconds>(at)));
    for (const core::ShiftOverride& change : team.overrides) {
      if (local >= change.from && local < change.to) {
        return change.members;
      }
    }
  }
  if (team.shifts.empty()) {
    return team.members;
  }
  std::vector<std::string> on_duty;
  for (const core::Shift& shift : team.shifts) {
    const auto zone = zone_of(zones, shift.time_zone.empty() ? facility_zone : shift.time_zone);
    if (shift_covers(shift, *zone, at)) {
      for (const std::string& member : shift.members.empty() ? team.members : shift.members) {
        add_unique(on_duty, member);
      }
    }
  }
  // The team's order of preference, whichever shift named them first.
  std::stable_sort(on_duty.begin(), on_duty.end(), [&](const std::string& a, const std::string& b) {
    const auto rank = [&](const std::string& id) {
      return std::find(team.members.begin(), team.members.end(), id) - team.members.begin();
    };
    return rank(a) < rank(b);
  });
  return on_duty;
}

const Policy* select_policy(const PolicySet& policies, const Organization& organization,
                            const IncidentFacts& facts, TimePoint at, TimeZoneDatabase& zones) {
  const core::Facility* facility = facility_of(organization, facts.area);
  if (facility == nullptr) {
    return nullptr;
  }
  const auto zone = zone_of(zones, facility->time_zone);
  for (const Policy& candidate : policies.policies) {
    if (candidate.organization == organization.id && candidate.facility == facility->id &&
        matches(candidate, facts, organization, at, zones, *zone)) {
      return &candidate;
    }
  }
  return nullptr;
}

std::vector<EscalationStep> plan_chain(const Policy& policy, TimePoint start) {
  std::vector<EscalationStep> steps;
  for (int round = 0; round <= policy.repeat; ++round) {
    const auto round_start =
        start + std::chrono::duration_cast<std::chrono::milliseconds>(policy.repeat_every * round);
    std::int64_t number = 0;
    for (const Step& step : policy.steps) {
      EscalationStep planned;
      planned.step = ++number;
      planned.round = round;
      planned.due = round_start + std::chrono::duration_cast<std::chrono::milliseconds>(step.after);
      planned.round_start = round_start;
      planned.if_unacknowledged = step.if_unacknowledged;
      for (const NotifyTarget& target : step.notify) {
        switch (target.kind) {
          case NotifyTarget::Kind::team_on_shift:
            add_unique(planned.teams, target.team);
            break;
          case NotifyTarget::Kind::members:
            for (const std::string& member : target.members) {
              add_unique(planned.members, member);
            }
            break;
          case NotifyTarget::Kind::team_channel:
            add_unique(planned.team_channels, target.team);
            break;
        }
      }
      steps.push_back(std::move(planned));
    }
  }
  std::stable_sort(steps.begin(), steps.end(),
                   [](const EscalationStep& a, const EscalationStep& b) { return a.due < b.due; });
  return steps;
}

std::vector<EventPayload> escalation_events(const Incident& before, const Incident& after,
                                            const std::vector<EventPayload>& decided,
                                            const PolicySet& policies,
                                            const Organization& organization, TimePoint now,
                                            TimeZoneDatabase& zones) {
  std::vector<EventPayload> events;
  const std::string running = after.escalation ? after.escalation->policy : std::string();
  if (!after.open()) {
    if (const std::size_t pending = pending_count(after); pending > 0) {
      events.emplace_back(
          core::EscalationStopped{running, "resolved", true, static_cast<std::int64_t>(pending)});
    }
    return events;
  }
  const bool declared = decided_any<core::Declared>(decided);
  const bool severity_changed = !declared && after.severity != before.severity;
  const bool area_changed = !declared && after.area != before.area;
  if (declared || severity_changed || area_changed) {
    const Policy* chosen =
        select_policy(policies, organization, facts_of(after, organization), now, zones);
    const std::size_t pending = pending_count(after);
    if (chosen == nullptr) {
      if (pending > 0) {
        events.emplace_back(core::EscalationStopped{running, "no_policy", true,
                                                    static_cast<std::int64_t>(pending)});
      }
      return events;
    }
    if (declared || !after.escalation || after.escalation->ended ||
        after.escalation->policy != chosen->name) {
      if (pending > 0) {
        events.emplace_back(
            core::EscalationStopped{running, "replaced", true, static_cast<std::int64_t>(pending)});
      }
      const char* reason =
          declared ? "declared" : (severity_changed ? "severity_change" : "area_change");
      events.emplace_back(core::EscalationStarted{chosen->name, reason, plan_chain(*chosen, now)});
      return events;
    }
  }
  if (decided_any<core::Acknowledged>(decided) && after.escalation && !after.escalation->ended &&
      !after.escalation->acknowledged && !after.escalation->pending.empty()) {
    // Recorded even when nothing is cancelled, so the chain counts as acknowledged.
    events.emplace_back(core::EscalationStopped{
        running, "acknowledged", false, static_cast<std::int64_t>(pending_count(after, now))});
  }
  return events;
}

std::optional<core::Escalated> fire_step(const Incident& incident, core::Sequence chain,
                                         std::int64_t step, std::int64_t round,
                                         const Organization& organization,
                                         const PlatformOf& platform_of, TimePoint now,
                                         TimeZoneDatabase& zones, TimePoint started_at) {
  if (!incident.escalation || incident.escalation->started_by != chain) {
    return std::nullopt;
  }
  const auto& pending = incident.escalation->pending;
  const auto found = std::find_if(pending.begin(), pending.end(), [&](const EscalationStep& s) {
    return s.step == step && s.round == round;
  });
  if (found == pending.end()) {
    return std::nullopt;
  }
  core::Escalated page;
  page.policy = incident.escalation->policy;
  page.step = step;
  page.round = round;
  page.chain = chain;
  page.due = found->due;
  page.late = found->due < started_at || now - found->due > kLateAfter;
  page.instance = incident.declared_in.instance;
  page.team = !found->teams.empty()           ? found->teams.front()
              : !found->team_channels.empty() ? found->team_channels.front()
                                              : std::string();
  const std::string platform = platform_of ? platform_of(page.instance) : page.instance;

  std::vector<std::string> people;
  const auto on_duty_of = [&](const std::string& team_id) {
    const core::Team* team = organization.team(team_id);
    if (team == nullptr) {
      page.unreachable.push_back("team " + team_id + " is no longer in the directory");
      return std::vector<std::string>{};
    }
    auto on_duty = members_on_duty(*team, organization, now, zones);
    if (on_duty.empty()) {
      page.unreachable.push_back("nobody of team " + team_id + " is on duty");
    }
    return on_duty;
  };
  for (const std::string& team_id : found->teams) {
    for (const std::string& member : on_duty_of(team_id)) {
      add_unique(people, member);
    }
  }
  for (const std::string& member : found->members) {
    add_unique(people, member);
  }
  for (const std::string& team_id : found->team_channels) {
    const core::Team* team = organization.team(team_id);
    if (team == nullptr || !team->channel) {
      page.unreachable.push_back("team " + team_id + " has no channel in the directory");
      continue;
    }
    page.channels.push_back(
        core::ChannelRef{team->channel->instance, team->channel->channel, team->channel->name});
  }
  for (const std::string& member_id : people) {
    const core::Member* member = organization.member(member_id);
    if (member == nullptr) {
      page.unreachable.push_back(member_id + " is no longer in the directory");
      continue;
    }
    const auto identity = member->identities.find(platform);
    if (identity == member->identities.end()) {
      page.notified.push_back(core::Actor{"", member->name, member->id});
      page.unreachable.push_back(member->name + " has no " + platform + " account");
      continue;
    }
    page.notified.push_back(core::Actor{identity->second, member->name, member->id});
  }
  return page;
}

}  // namespace haveri::policy
