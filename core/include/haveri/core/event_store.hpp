#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// Events to append to one incident's timeline in one transaction.
struct AppendRequest {
  // nullopt: declare a new incident; the store assigns the next id.
  std::optional<IncidentId> incident;
  // Optimistic concurrency: the caller's last_sequence for the incident (0 for new).
  // A mismatch fails with ErrorCode::conflict and appends nothing.
  Sequence expected_last_sequence = 0;
  // Each event's incident and sequence are assigned by the store.
  std::vector<Event> events;
  // The inbound request's idempotency key; empty for none. A key seen before
  // makes the append a no-op that reports `duplicate`.
  std::string idempotency_key;
};

struct AppendOutcome {
  IncidentId incident = 0;
  std::vector<Event> committed;  // as stored, with ids and sequences; empty if duplicate
  Incident state;                // the incident after the append
  bool duplicate = false;
};

// The durable, append-only record of every incident.
//
// Contract for every implementation (tests/unit/store runs it):
//   - append is atomic: all events and their projection updates, or nothing;
//   - sequences are 1, 2, 3… per incident without gaps;
//   - projections (incident list, channel index) are updated in the append's
//     transaction and equal a fold of the events;
//   - an idempotency key is remembered durably, across restarts.
// Runs on: one caller at a time (the daemon's store thread); not thread-safe.
class EventStore {
 public:
  virtual ~EventStore() = default;

  virtual Result<AppendOutcome> append(const AppendRequest& request) = 0;

  // Timeline of one incident in sequence order; not_found if it does not exist.
  virtual Result<std::vector<Event>> events(IncidentId incident) = 0;

  // Current state from the projection; nullopt if it does not exist.
  virtual Result<std::optional<Incident>> incident(IncidentId incident) = 0;

  // Every incident, newest first.
  virtual Result<std::vector<Incident>> incidents() = 0;

  // Whether an append with this idempotency key was already committed.
  virtual Result<bool> has_receipt(std::string_view idempotency_key) = 0;

  // The incident whose channel this is, if any.
  virtual Result<std::optional<IncidentId>> incident_by_channel(std::string_view instance,
                                                                std::string_view channel_id) = 0;
};

}  // namespace haveri::core
