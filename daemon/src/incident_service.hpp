#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/core/clock.hpp>
#include <haveri/core/directory.hpp>
#include <haveri/core/engine.hpp>
#include <haveri/core/event_store.hpp>
#include <haveri/core/settings.hpp>

namespace haveri::daemon {

// Sends one operation to a plugin instance; `done` receives the plugin's result.
using OperationSender = std::function<void(const std::string& instance, nlohmann::json operation,
                                           std::function<void(nlohmann::json result)> done)>;

struct IncidentServiceOptions {
  // Inbound events waiting for the store thread; beyond it an event is answered
  // retry_later at once, so the platform retries.
  std::size_t max_queued_inbound = 10000;
  // How often time-driven work (nudges, SLA breaches, reminders) is looked for.
  std::chrono::milliseconds tick_interval{15000};
  // Outbox operations handed to plugins and not answered yet, across instances.
  std::size_t max_operations_in_flight = 64;
  // Plugin instance name -> plugin name ("local"), to map installations.
  std::map<std::string, std::string> platforms;
};

// Outbox numbers and the latest failures, for the API.
struct OutboxReport {
  core::OutboxStats stats;
  std::vector<core::OutboxFailure> failures;
};

// The imperative shell around core's IncidentEngine: owns the store thread that
// runs it, feeds it inbound events, pumps its outbox into the plugins and ticks
// it on a timer.
//
// Runs on: its own store thread. Every public function posts there, so the
// EventStore and the engine are only ever touched by that one thread and commands
// for all incidents are strictly sequential. Callbacks run on the store thread;
// they must not block.
class IncidentService {
 public:
  IncidentService(std::unique_ptr<core::EventStore> store,
                  std::shared_ptr<const core::Directory> directory, core::IncidentSettings settings,
                  core::OutboxSettings outbox, const core::WallClock& clock, OperationSender send,
                  IncidentServiceOptions options = {});
  ~IncidentService();  // stop()
  IncidentService(const IncidentService&) = delete;
  IncidentService& operator=(const IncidentService&) = delete;

  // Loads the persisted outbox and starts sending it and ticking. Blocks until
  // loaded; an error means the store cannot be read.
  core::VoidResult start();

  // Runs the work already queued, then stops the store thread. Operations in
  // flight stay in the persisted outbox and are sent again (same operation key)
  // after a restart. Idempotent; call from the thread that owns the service.
  void stop();

  void set_limits(const std::string& instance, core::InstanceLimits limits);
  void set_directory(std::shared_ptr<const core::Directory> directory);

  // A neutral inbound event from plugin instance `instance` (docs/plugin-abi.md).
  void handle_inbound(const std::string& instance, nlohmann::json event,
                      std::function<void(core::InboundOutcome)> done);

  // Read side for the API; an empty organization means all.
  void list_incidents(std::string organization,
                      std::function<void(core::Result<std::vector<core::Incident>>)> done);
  void incident_timeline(
      core::IncidentId id,
      std::function<void(core::Result<std::pair<core::Incident, std::vector<core::Event>>>)> done);
  void follow_ups(std::string organization, std::optional<std::string> assignee,
                  std::function<void(core::Result<std::vector<core::FollowUpListing>>)> done);
  void outbox_report(std::function<void(core::Result<OutboxReport>)> done);

  // Runs time-driven work now (tests, and the tick timer).
  void tick_now();

  const core::IncidentSettings& settings() const noexcept { return settings_; }

  struct Impl;

 private:
  core::IncidentSettings settings_;
  std::shared_ptr<Impl> impl_;
};

// Parses a plugin's inbound event JSON into core's form; nullopt with `problem`
// naming the first bad or missing field, or with `problem` empty for a type this
// host does not know (ignored, so newer plugins keep working).
std::optional<core::InboundEvent> parse_inbound_event(const std::string& instance,
                                                      const std::string& platform,
                                                      const nlohmann::json& json,
                                                      std::string& problem);

}  // namespace haveri::daemon
