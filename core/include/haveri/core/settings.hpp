#pragma once

#include <array>
#include <chrono>

#include <haveri/core/incident.hpp>

namespace haveri::core {

// Targets for one severity. Time to acknowledge is measured from declaration to
// the first acknowledgement, time to resolve from declaration to RESOLVED.
struct SlaTarget {
  std::chrono::minutes acknowledge{0};
  std::chrono::minutes resolve{0};
  bool operator==(const SlaTarget&) const = default;
};

// How incidents are worked, from the `incidents:` config section
// (docs/configuration.md). Defaults are the documented ones.
struct IncidentSettings {
  // Indexed by Severity (sev1, sev2, sev3).
  std::array<SlaTarget, 3> sla = {
      SlaTarget{std::chrono::minutes(15), std::chrono::minutes(60)},
      SlaTarget{std::chrono::minutes(30), std::chrono::minutes(240)},
      SlaTarget{std::chrono::minutes(24 * 60), std::chrono::minutes(7 * 24 * 60)}};
  // "No update" nudge: an open incident without a status change or note for this
  // long is nudged (channel and lead); again after the same time without one.
  std::array<std::chrono::minutes, 3> nudge_after = {
      std::chrono::minutes(15), std::chrono::minutes(30), std::chrono::minutes(120)};
  // Follow-up reminders: once this long before the due time, then when it is due,
  // then every `overdue_reminder_every` while it is overdue and not DONE.
  std::chrono::minutes follow_up_reminder_before{24 * 60};
  std::chrono::minutes overdue_reminder_every{24 * 60};

  const SlaTarget& sla_for(Severity severity) const noexcept {
    return sla[static_cast<std::size_t>(severity)];
  }
  std::chrono::minutes nudge_for(Severity severity) const noexcept {
    return nudge_after[static_cast<std::size_t>(severity)];
  }
  bool operator==(const IncidentSettings&) const = default;
};

// Outbox pacing and retry bounds, from the `outbox:` config section.
struct OutboxSettings {
  std::chrono::milliseconds first_retry_delay{500};
  std::chrono::milliseconds max_retry_delay{5 * 60 * 1000};
  int max_attempts = 12;  // then the entry is marked failed and logged
  // Used when a plugin instance declares no limits of its own.
  std::chrono::milliseconds default_channel_interval{1000};
  double default_instance_per_second = 20.0;
  bool operator==(const OutboxSettings&) const = default;
};

}  // namespace haveri::core
