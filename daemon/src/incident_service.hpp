#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include <haveri/core/clock.hpp>
#include <haveri/core/event_store.hpp>
#include <haveri/core/workflow.hpp>

namespace haveri::daemon {

class PluginHost;

// Sends one operation to a plugin instance; `done` receives the plugin's result.
using OperationSender = std::function<void(const std::string& instance, nlohmann::json operation,
                                           std::function<void(nlohmann::json result)> done)>;

// The imperative shell around core: turns neutral inbound events into commands,
// decides them with core, commits the events and carries out their effects
// through the plugins.
//
// Runs on: its own store thread. Every public function posts there, so the
// EventStore is only ever touched by that one thread and commands for all
// incidents are strictly sequential (a simple form of the per-incident actor).
// Callbacks run on the store thread; they must not block.
class IncidentService {
 public:
  // `max_queued_inbound` bounds the inbound events waiting for the store thread;
  // beyond it an event is answered done(false) at once, so the platform retries.
  IncidentService(std::unique_ptr<core::EventStore> store, const core::WallClock& clock,
                  OperationSender send, std::size_t max_queued_inbound = 10000);
  ~IncidentService();  // stop()

  // Runs the work already queued, then stops the store thread. Operations waiting
  // for a retry are abandoned (the durable outbox of the incident-core issue will
  // keep them). Idempotent; call from the thread that owns the service.
  void stop();
  IncidentService(const IncidentService&) = delete;
  IncidentService& operator=(const IncidentService&) = delete;

  // A neutral inbound event from plugin instance `instance`
  // ({"v":1,"type":"command"|"message",…}, docs/plugin-abi.md). `done(true)` once
  // what it carries is committed or deliberately not stored; `done(false)` when it
  // could not be committed (the platform should retry).
  void handle_inbound(const std::string& instance, nlohmann::json event,
                      std::function<void(bool durable)> done);

  // Read side for the API.
  void list_incidents(std::function<void(core::Result<std::vector<core::Incident>>)> done);
  void incident_timeline(
      core::IncidentId id,
      std::function<void(core::Result<std::pair<core::Incident, std::vector<core::Event>>>)> done);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::daemon
