#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <haveri/core/clock.hpp>
#include <haveri/core/directory.hpp>
#include <haveri/core/event_store.hpp>
#include <haveri/core/outbox.hpp>
#include <haveri/core/settings.hpp>
#include <haveri/core/workflow.hpp>

namespace haveri::policy {
struct PolicySet;
class TimeZoneDatabase;
}  // namespace haveri::policy

namespace haveri::core {

// A pending escalation step, as the daemon's timer wheel holds it.
struct EscalationTimer {
  IncidentId incident = 0;
  Sequence chain = 0;  // Incident::escalation->started_by
  std::int64_t step = 0;
  std::int64_t round = 0;
  TimePoint due{};
  bool operator==(const EscalationTimer&) const = default;
};

// How the pending escalation steps changed with committed work: either every
// pending step (`replace_all`: the wheel is rebuilt from `timers`), or the complete
// pending steps of each incident in `incidents` (their old timers are dropped).
struct EscalationTimerUpdate {
  bool replace_all = false;
  std::vector<IncidentId> incidents;
  std::vector<EscalationTimer> timers;
  bool empty() const noexcept { return !replace_all && incidents.empty(); }
};

// An incident's first acknowledgement, as committed (for the acknowledgement
// latency metric).
struct FirstAcknowledgement {
  IncidentId incident = 0;
  Severity severity = Severity::sev3;
  std::chrono::milliseconds after_declaration{0};  // acknowledged_at - declared_at
  bool operator==(const FirstAcknowledgement&) const = default;
};

// A file shared in chat, as the platform described it (never the bytes).
struct FileReference {
  std::string id;
  std::string name;
  std::int64_t size = 0;
  std::string url;
  std::string mime_type;
};

// A neutral inbound event from a plugin (docs/plugin-abi.md, "Inbound events"),
// already checked for shape by the daemon.
struct InboundEvent {
  enum class Type { command, message, message_changed, message_deleted, form_submission };
  Type type = Type::message;
  std::string platform;      // the plugin's name: "local", "slack", "teams"
  std::string installation;  // workspace / tenant / local instance id
  ChannelRef channel;        // instance filled in by the daemon
  Actor user;                // platform user id and display name
  std::string text;          // command (without /incident), message, or edit
  std::string idempotency_key;
  std::string message_id;  // the platform's message id (edits and deletions name it)
  std::string form_id;     // form_submission
  std::map<std::string, std::string> values;  // form_submission
  std::vector<FileReference> files;
};

// What became of an inbound event; the daemon answers the platform accordingly.
enum class InboundOutcome {
  committed,    // durable (or deliberately not stored: chatter outside incidents)
  retry_later,  // the store failed; the platform should retry
  refused,      // no organization claims the installation; nothing stored
};

// An outbox entry ready to be sent to its plugin instance.
struct DueOperation {
  std::int64_t outbox_id = 0;
  std::string instance;
  std::string operation;  // JSON text (docs/plugin-abi.md, "Operations")
};

// The whole incident loop over an EventStore: turns inbound chat events into
// decided, committed events; queues what must be said in chat in the persisted
// outbox (same transaction); hands due operations out paced and ordered, and
// records their results (a created channel, the global card's message id); lets
// time do its work (nudges, SLA breaches, follow-up reminders) on tick().
//
// Runs on: one thread at a time (the daemon's store thread, or a test); not
// thread-safe. Errors from the store are returned or reported as retry_later;
// nothing throws.
class IncidentEngine {
 public:
  IncidentEngine(EventStore& store, std::shared_ptr<const Directory> directory,
                 IncidentSettings settings, OutboxSettings outbox_settings, const WallClock& clock);

  // Loads the pending outbox (after a restart) into the scheduler.
  VoidResult start();

  // Replaces the directory (SIGHUP); incidents keep their organization.
  void set_directory(std::shared_ptr<const Directory> directory);
  // Escalation (docs/policies.md). Without policies no chain ever starts; running
  // chains keep the steps planned when they started, whatever a reload brings.
  void set_policies(std::shared_ptr<const policy::PolicySet> policies);
  void set_time_zones(std::shared_ptr<policy::TimeZoneDatabase> zones);
  // Plugin instance -> plugin name ("local"), to find members' accounts for pages;
  // an instance not listed is taken to be named after its plugin.
  void set_instance_platforms(std::map<std::string, std::string> platforms);

  // Every pending escalation step of the store's open incidents (at start, and
  // when an update says replace_all).
  Result<std::vector<EscalationTimer>> pending_escalations();
  // Pending steps changed by work that is durable (settled) since the last call.
  EscalationTimerUpdate take_escalation_updates();
  // A timer fell due: pages whoever the step names now and records the
  // `escalation` event. Does nothing when the step is no longer pending (fired,
  // cancelled, another chain), so a timer firing twice pages once.
  InboundOutcome fire_escalation(const EscalationTimer& timer);
  // Pacing a plugin instance declared (describe_instance).
  void set_limits(const std::string& instance, InstanceLimits limits);

  InboundOutcome handle(const InboundEvent& event);

  // Appends the events the passing of time calls for (due_events) on every
  // incident that still needs attention. Returns how many events were appended.
  Result<std::size_t> tick();

  // Outbox operations to send now (each in flight until complete() is called).
  std::vector<DueOperation> take_due(std::size_t max);
  // When take_due may next return something; nullopt when nothing is queued.
  std::optional<TimePoint> next_due() const;
  // The plugin's result for an operation ({"v":1,"status":"ok"|"retryable"|…}).
  void complete(std::int64_t outbox_id, const std::string& result_json);

  // Group commit (GroupCommitWriter): the engine's calls then run inside batches
  // whose commit comes later, so the outbox entries they queue are held back until
  // settle() says whether the batch became durable. Without hold_outbox(true)
  // (tests, tools) every append is durable when it returns and entries are
  // scheduled at once.
  void hold_outbox(bool hold);
  // Entries held so far; drop_held(mark) forgets those held after `mark` (their job
  // was undone). settle(true) schedules every held entry, settle(false) forgets
  // them; returns whether anything new was scheduled. Entries an outbox update
  // supersedes are deleted from the store by the next call that runs in a batch.
  // After settle(false) the outbox in memory is reloaded from the store (once no
  // operation is in flight): results recorded in the lost batch are owed again,
  // and their operations are sent again with the same operation key.
  std::size_t held_mark() const noexcept;
  void drop_held(std::size_t mark);
  bool settle(bool committed);

  OutboxStats outbox_stats() const;
  // The outbox per plugin instance (OutboxScheduler::instance_stats).
  std::map<std::string, InstanceOutboxStats> outbox_instance_stats() const;
  const IncidentSettings& settings() const noexcept { return settings_; }

  // First acknowledgements appended since the last call, in order, whether or not
  // their batch becomes durable (the caller keeps those of kept jobs in durable
  // batches). A later acknowledgement (a chain that waits for one of its own) and a
  // retried request the store knew already are not first ones.
  std::vector<FirstAcknowledgement> take_first_acknowledgements();

  // Why the last inbound event was refused or failed, for the daemon's log.
  const std::string& last_problem() const noexcept { return last_problem_; }

 private:
  Result<std::optional<IncidentId>> channel_incident(const Organization& organization,
                                                     const ChannelRef& channel);
  InboundOutcome handle_command(const InboundEvent& event, const Organization& organization);
  InboundOutcome handle_message(const InboundEvent& event, const Organization& organization);
  InboundOutcome handle_edit(const InboundEvent& event, const Organization& organization);
  std::optional<Actor> member_actor(const Organization& organization, const std::string& platform,
                                    const Actor& user);
  bool resolve_mentions(Command& command, const Organization& organization,
                        const std::string& platform, std::string& problem);
  InboundOutcome reply_only(const InboundEvent& event, const Message& reply, bool privately);
  // `first_acknowledgement`: the request acknowledges an incident nobody had
  // acknowledged before (noted once it is appended).
  InboundOutcome commit(AppendRequest request, bool first_acknowledgement = false);
  std::vector<OutboxEntry> outbox_of(const Incident& after, const std::vector<Event>& committed,
                                     const std::string& key_prefix);
  void queue(std::vector<OutboxEntry> entries);
  void resync_outbox();
  void schedule(std::vector<OutboxEntry> entries);
  void remove_superseded();
  // The operation as the plugin gets it; nullopt with `drop` (target gone) or
  // `defer` (the store failed for now).
  std::optional<std::string> prepare(const OutboxEntry& entry, bool& drop, bool& defer);
  // Records what a performed operation created; false if that could not be stored.
  bool on_done(const OutboxEntry& entry, const std::string& result_json);
  void requeue(OutboxEntry entry, int attempts, TimePoint not_before, const std::string& why);
  void channel_failed(const OutboxEntry& entry, const nlohmann::json& operation,
                      const nlohmann::json& result, const std::string& error);
  std::string reply_key(const InboundEvent& event);
  void note_escalation_change(const Incident& after, const std::vector<Event>& committed);
  std::vector<EventPayload> escalation_events_for(const Incident& before,
                                                  const std::vector<EventPayload>& decided,
                                                  const Organization& organization, TimePoint now);

  EventStore& store_;
  std::shared_ptr<const Directory> directory_;
  IncidentSettings settings_;
  const WallClock& clock_;
  OutboxSettings outbox_settings_;
  std::map<std::string, InstanceLimits> limits_;
  OutboxScheduler scheduler_;
  bool resync_outbox_ = false;
  std::map<std::int64_t, OutboxEntry> in_flight_;
  bool hold_outbox_ = false;
  std::vector<OutboxEntry> held_;         // committed in a batch not yet durable
  std::vector<std::int64_t> superseded_;  // to delete from the store
  std::string last_problem_;
  std::uint64_t unkeyed_replies_ = 0;
  std::shared_ptr<const policy::PolicySet> policies_;
  std::shared_ptr<policy::TimeZoneDatabase> zones_;
  std::map<std::string, std::string> platforms_;
  // Incidents whose pending steps changed: held with the outbox until settled.
  std::map<IncidentId, std::vector<EscalationTimer>> held_timers_;
  std::map<IncidentId, std::vector<EscalationTimer>> settled_timers_;
  bool resync_timers_ = false;
  TimePoint started_at_{};  // steps due before it fell due while we were not running
  std::vector<FirstAcknowledgement> first_acknowledgements_;
};

}  // namespace haveri::core
