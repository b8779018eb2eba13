#pragma once
// A directory and policies for the escalation simulation tests: plant-a in
// Europe/Helsinki, a maintenance team with a day and a night shift, a Christmas
// override and a team channel.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <haveri/core/directory.hpp>
#include <haveri/policy/policy.hpp>

namespace haveri::policy::testing {

inline constexpr const char* kZoneinfo = "/usr/share/zoneinfo";

// Line numbers matter to the test file tests, which name this file's lines.
inline constexpr const char* kDirectoryYaml =
    "organizations:\n"
    "  - id: acme\n"
    "    name: Acme\n"
    "    installations:\n"
    "      - {platform: local, id: local}\n"
    "    facilities:\n"
    "      - {id: plant-a, name: Plant A, time_zone: Europe/Helsinki}\n"
    "    areas:\n"
    "      - {id: assembly, facility: plant-a}\n"
    "      - {id: packaging, facility: plant-a}\n"
    "    assets:\n"
    "      - {id: conveyor-4, asset_type: conveyor, area: assembly}\n"
    "    teams:\n"
    "      - id: maintenance\n"
    "        facility: plant-a\n"
    "        members: [alice, bob, dave]\n"
    "        shifts:\n"
    "          - {name: day, days: daily, hours: \"06:00-22:00\", members: [alice, bob]}\n"
    "          - {name: night, days: daily, hours: \"22:00-06:00\", members: [dave]}\n"
    "        overrides:\n"
    "          - {from: 2026-12-24T18:00, to: 2026-12-27T06:00, members: [carol],"
    " reason: Christmas holidays}\n"
    "        channel: {instance: local, channel: maint, name: maintenance}\n"
    "      - id: managers\n"
    "        members: [sam]\n"
    "      - id: weekend\n"
    "        facility: plant-a\n"
    "        members: [erin]\n"
    "        shifts:\n"
    "          - {name: weekend, days: [sat, sun], hours: \"00:00-24:00\"}\n"
    "    members:\n"
    "      - {id: alice, name: Alice, identities: {local: alice}}\n"
    "      - {id: bob, name: Bob, identities: {local: bob}}\n"
    "      - {id: dave, name: Dave, identities: {local: dave}}\n"
    "      - {id: sam, name: Sam, identities: {local: sam}}\n"
    "      - {id: carol, name: Carol, identities: {local: carol}}\n"
    "      - {id: erin, name: Erin}\n";

inline core::Directory test_directory() {
  auto directory = core::parse_directory(kDirectoryYaml, "directory.yaml", kZoneinfo);
  if (!directory) {
    ADD_FAILURE() << directory.error().message;
    return {};
  }
  return std::move(directory.value());
}

inline NotifyTarget team_on_shift(std::string team) {
  return NotifyTarget{NotifyTarget::Kind::team_on_shift, std::move(team), {}};
}
inline NotifyTarget members(std::vector<std::string> ids) {
  return NotifyTarget{NotifyTarget::Kind::members, {}, std::move(ids)};
}
inline NotifyTarget team_channel(std::string team) {
  return NotifyTarget{NotifyTarget::Kind::team_channel, std::move(team), {}};
}

inline Step step(std::chrono::seconds after, std::vector<NotifyTarget> notify,
                 bool if_unacknowledged = true) {
  Step out;
  out.after = after;
  out.notify = std::move(notify);
  out.if_unacknowledged = if_unacknowledged;
  return out;
}

inline Policy policy(std::string name, std::vector<core::Severity> severities,
                     std::vector<Step> steps, int priority = 0) {
  Policy out;
  out.name = std::move(name);
  out.organization = "acme";
  out.facility = "plant-a";
  out.priority = priority;
  out.match.severities = std::move(severities);
  out.steps = std::move(steps);
  out.where = SourceLocation{"policies/plant-a.yaml", 1, 5};
  return out;
}

// A set in selection order: highest priority first.
inline PolicySet policy_set(std::vector<Policy> policies) {
  PolicySet set;
  set.policies = std::move(policies);
  std::stable_sort(set.policies.begin(), set.policies.end(),
                   [](const Policy& a, const Policy& b) { return a.priority > b.priority; });
  set.files = {"policies/plant-a.yaml"};
  return set;
}

}  // namespace haveri::policy::testing
