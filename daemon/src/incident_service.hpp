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
#include <haveri/core/group_commit.hpp>
#include <haveri/core/settings.hpp>

namespace haveri::daemon {

class DaemonMetrics;

// Sends one operation to a plugin instance; `done` receives the plugin's result.
using OperationSender = std::function<void(const std::string& instance, nlohmann::json operation,
                                           std::function<void(nlohmann::json result)> done)>;

struct IncidentServiceOptions {
  // Jobs (inbound events, results, reads without a reader) waiting for the store
  // writer; beyond it an inbound event is answered retry_later at once, so the
  // platform retries.
  std::size_t max_queued_inbound = 10000;
  // Jobs committed in one transaction at most (group commit).
  std::size_t max_batch = 512;
  // How often time-driven work (nudges, SLA breaches, reminders) is looked for.
  std::chrono::milliseconds tick_interval{15000};
  // Outbox operations handed to plugins and not answered yet, across instances.
  std::size_t max_operations_in_flight = 64;
  // Where answers to callers (inbound outcomes, reads) run; empty: on the writer
  // or service thread that produced them. The daemon passes its io_context.
  core::Executor completions;
  // Plugin instance name -> plugin name ("local"), to map installations.
  std::map<std::string, std::string> platforms;
  // How often the escalation timer wheel is advanced: a step fires at most this
  // late (plus the store's commit).
  std::chrono::milliseconds escalation_tick{100};
  // Escalation policies and the tz database their hours are read with; null
  // policies: no chain ever starts.
  std::shared_ptr<const policy::PolicySet> policies;
  std::shared_ptr<policy::TimeZoneDatabase> time_zones;
  // Where inbound events, first acknowledgements, store batches and the outbox
  // are counted (metrics.hpp); null: nowhere. Must outlive the service.
  DaemonMetrics* metrics = nullptr;
  // probe_liveness calls one store transaction stuck only past this: a projection
  // rebuild of a large store is one long transaction, not a hang.
  std::chrono::milliseconds longest_store_transaction{std::chrono::minutes(2)};
  // open_incident_counts answers from a count at most this old: /metrics needs no
  // token, and a count reads every incident that is not closed.
  std::chrono::milliseconds open_incident_counts_max_age{1000};
};

// Incidents not CLOSED, by severity and status: every combination, 0 included.
using OpenIncidentCounts = std::map<std::pair<core::Severity, core::Status>, std::size_t>;

// What a projection rebuild found.
struct RebuildReport {
  std::size_t rows = 0;      // projection rows after the rebuild
  std::size_t differed = 0;  // rows live had that the rebuild does not, and the reverse
  bool kept = false;         // false for a check: the rebuild was undone
  std::chrono::milliseconds took{0};
};

// Outbox numbers and the latest failures, for the API.
struct OutboxReport {
  core::OutboxStats stats;
  std::vector<core::OutboxFailure> failures;
};

// The imperative shell around core's IncidentEngine: runs it on the store's one
// writer (a GroupCommitWriter: every inbound event, operation result and tick is a
// job, and the jobs queued while the last transaction committed share the next
// one), feeds it inbound events, pumps its outbox into the plugins and ticks it on
// a timer. An inbound event is answered only once its batch is durable.
//
// Runs on: public functions from any thread. The writer store and the engine are
// touched by the writer thread only, so commands for all incidents are strictly
// sequential; timers and reads on the reader store run on the service thread.
// Answers to callers run on options.completions when given (else on one of those
// two threads, or at once on the caller's thread when refused); they must not block.
class IncidentService {
 public:
  IncidentService(std::unique_ptr<core::EventStore> store,
                  std::shared_ptr<const core::Directory> directory, core::IncidentSettings settings,
                  core::OutboxSettings outbox, const core::WallClock& clock, OperationSender send,
                  IncidentServiceOptions options = {},
                  std::unique_ptr<core::EventStore> reader = nullptr);
  ~IncidentService();  // stop()
  IncidentService(const IncidentService&) = delete;
  IncidentService& operator=(const IncidentService&) = delete;

  // Loads the persisted outbox and starts sending it and ticking. Blocks until
  // loaded; an error means the store cannot be read.
  core::VoidResult start();

  // Runs the work already queued, then stops the writer and service threads. Operations in
  // flight stay in the persisted outbox and are sent again (same operation key)
  // after a restart. Idempotent; call from the thread that owns the service.
  void stop();

  void set_limits(const std::string& instance, core::InstanceLimits limits);
  void set_directory(std::shared_ptr<const core::Directory> directory);
  // Replaces directory and policies together (SIGHUP), so that no decision sees a
  // policy naming a team the directory no longer has.
  void reload(const std::shared_ptr<const core::Directory>& directory,
              const std::shared_ptr<const policy::PolicySet>& policies);

  // Escalation steps waiting in the timer wheel (service thread's count).
  std::size_t pending_escalation_timers() const noexcept;

  // A neutral inbound event from plugin instance `instance` (docs/plugin-abi.md).
  void handle_inbound(const std::string& instance, const nlohmann::json& event,
                      std::function<void(core::InboundOutcome)> done);

  // Read side for the API, on the reader store when there is one (it never waits
  // for the writer); an empty organization means all.
  void list_incidents(std::string organization,
                      std::function<void(core::Result<std::vector<core::Incident>>)> done);
  void incident_timeline(
      core::IncidentId id,
      std::function<void(core::Result<std::pair<core::Incident, std::vector<core::Event>>>)> done);
  void follow_ups(std::string organization, std::optional<std::string> assignee,
                  std::function<void(core::Result<std::vector<core::FollowUpListing>>)> done);
  void outbox_report(std::function<void(core::Result<OutboxReport>)> done);
  // Full-text search over an organization's incidents (all with an empty one).
  void search(std::string organization, std::string query, std::size_t limit,
              std::function<void(core::Result<std::vector<core::SearchHit>>)> done);

  // Counts the incidents not CLOSED (the metrics scrape). On the reader store when
  // there is one: one read transaction, so the counts are one consistent moment,
  // and the writer never waits for it.
  void open_incident_counts(std::function<void(core::Result<OpenIncidentCounts>)> done);

  // Rewrites every projection from the events, as one writer job (inbound events
  // wait meanwhile), and counts the rows that differed from the live ones. With
  // `check_only` the rebuild is undone: it only reports.
  void rebuild(bool check_only, std::function<void(core::Result<RebuildReport>)> done);

  // Whether start() succeeded and stop() has not been called.
  bool ready() const noexcept;

  // Batches, commit times and queue depth of the store writer.
  core::GroupCommitStats store_stats() const;

  // For the systemd watchdog: on the service thread, whether the store writer makes
  // progress (nothing queued, or jobs finished since the previous probe). `done` runs
  // on the service thread itself, not on options.completions, so a busy io loop does
  // not make the service look stuck. It is never called once stop() ran, nor while
  // the service thread is stuck: the caller counts silence as stuck. Must not block.
  void probe_liveness(std::function<void(bool healthy, std::string problem)> done);

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
