#include "incident_service.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iterator>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <haveri/policy/policy.hpp>
#include <haveri/policy/time_zone.hpp>
#include <haveri/policy/timer_wheel.hpp>

#include "logging.hpp"
#include "metrics.hpp"

namespace haveri::daemon {

namespace asio = boost::asio;

namespace {

// Longest sleep of the outbox timer: a safety net should a wake-up be missed.
constexpr std::chrono::milliseconds kMaxOutboxSleep{30000};
// How long work the store could not run waits before it is tried again.
constexpr std::chrono::milliseconds kStoreRetryDelay{2000};
// Bounds on what an inbound event may carry, beyond the HTTP body limit.
constexpr std::size_t kMaxFiles = 20;
constexpr std::size_t kMaxFormValues = 50;
constexpr std::size_t kMaxIdempotencyKeyBytes = 512;

// Runs `work`, logging instead of letting an exception end the store thread (and
// with it the process): one bad input fails alone.
// Returns whether `work` ran to its end.
template <class Work>
bool contained(const char* what, Work&& work) noexcept {
  try {
    std::forward<Work>(work)();
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", what, e.what());
  } catch (...) {
    spdlog::error("{}: unknown exception", what);
  }
  return false;
}

std::optional<std::string> string_at(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

}  // namespace

std::optional<core::InboundEvent> parse_inbound_event(const std::string& instance,
                                                      const std::string& platform,
                                                      const nlohmann::json& json,
                                                      std::string& problem) {
  problem.clear();
  using Type = core::InboundEvent::Type;
  const std::string type = string_at(json, "type").value_or("");
  core::InboundEvent event;
  if (type == "command") {
    event.type = Type::command;
  } else if (type == "message") {
    event.type = Type::message;
  } else if (type == "message_changed") {
    event.type = Type::message_changed;
  } else if (type == "message_deleted") {
    event.type = Type::message_deleted;
  } else if (type == "form_submission") {
    event.type = Type::form_submission;
  } else {
    return std::nullopt;  // unknown: ignored
  }
  const auto channel = json.find("channel");
  const auto user = json.find("user");
  if (channel == json.end() || !string_at(*channel, "id")) {
    problem = "\"channel\" must be an object with an \"id\" string";
    return std::nullopt;
  }
  if (user == json.end() || !string_at(*user, "id")) {
    problem = "\"user\" must be an object with an \"id\" string";
    return std::nullopt;
  }
  const bool needs_text = event.type == Type::command || event.type == Type::message_changed ||
                          (event.type == Type::message && !json.contains("files"));
  auto text = string_at(json, "text");
  if (needs_text && !text) {
    problem = "\"text\" must be a string";
    return std::nullopt;
  }
  event.text = text.value_or("");
  event.platform = platform;
  event.installation = string_at(json, "installation").value_or(instance);
  // Without a key a platform retry would be recorded twice (the durability
  // contract), so an event without one is a plugin bug, not something to guess at.
  event.idempotency_key = string_at(json, "idempotency_key").value_or("");
  if (event.idempotency_key.empty() || event.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    problem = "\"idempotency_key\" must be a string of 1 to " +
              std::to_string(kMaxIdempotencyKeyBytes) +
              " bytes, the same on every delivery of this platform event";
    return std::nullopt;
  }
  event.message_id = string_at(json, "message_id").value_or("");
  if ((event.type == Type::message_changed || event.type == Type::message_deleted) &&
      event.message_id.empty()) {
    problem = "\"message_id\" must name the message edited or deleted";
    return std::nullopt;
  }
  event.channel.instance = instance;
  event.channel.id = *string_at(*channel, "id");
  event.channel.name = string_at(*channel, "name").value_or(event.channel.id);
  event.user.id = *string_at(*user, "id");
  event.user.display_name = string_at(*user, "name").value_or(event.user.id);
  if (event.type == Type::form_submission) {
    auto form_id = string_at(json, "form_id");
    const auto values = json.find("values");
    if (!form_id || values == json.end() || !values->is_object() ||
        values->size() > kMaxFormValues) {
      problem = "a form_submission needs \"form_id\" and a \"values\" object of at most " +
                std::to_string(kMaxFormValues) + " strings";
      return std::nullopt;
    }
    event.form_id = std::move(*form_id);
    for (const auto& [name, value] : values->items()) {
      if (!value.is_string()) {
        problem = "form value \"" + name.substr(0, 40) + "\" must be a string";
        return std::nullopt;
      }
      event.values[name] = value.get<std::string>();
    }
  }
  if (auto files = json.find("files"); files != json.end()) {
    if (!files->is_array() || files->size() > kMaxFiles) {
      problem = "\"files\" must be an array of at most " + std::to_string(kMaxFiles) + " objects";
      return std::nullopt;
    }
    for (const auto& file : *files) {
      if (!file.is_object() || !string_at(file, "name")) {
        problem = "each file needs a \"name\"";
        return std::nullopt;
      }
      core::FileReference reference;
      reference.id = string_at(file, "id").value_or("");
      reference.name = *string_at(file, "name");
      reference.url = string_at(file, "url").value_or("");
      reference.mime_type = string_at(file, "mimetype").value_or("");
      if (auto size = file.find("size"); size != file.end() && size->is_number_integer()) {
        reference.size = std::max<std::int64_t>(0, size->get<std::int64_t>());
      }
      event.files.push_back(std::move(reference));
    }
  }
  return event;
}

// The open-incident counts /metrics shows, kept for a moment: counting reads
// every incident that is not closed, and /metrics needs no token, so scrapes in a
// loop must not keep the reader (and the service thread it shares) busy. Concurrent
// callers wait for the one count being made and share it.
class OpenIncidentCountsCache {
 public:
  template <class Count>
  core::Result<OpenIncidentCounts> get(std::chrono::steady_clock::duration max_age, Count&& count) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (taken_ && now - *taken_ < max_age) {
      return counts_;
    }
    core::Result<OpenIncidentCounts> counted = count();
    if (counted) {
      counts_ = counted.value();
      taken_ = now;
    }
    return counted;
  }

 private:
  std::mutex mutex_;
  std::optional<std::chrono::steady_clock::time_point> taken_;
  OpenIncidentCounts counts_;
};

struct IncidentService::Impl : std::enable_shared_from_this<IncidentService::Impl> {
  Impl(std::unique_ptr<core::EventStore> event_store, std::unique_ptr<core::EventStore> read_store,
       std::shared_ptr<const core::Directory> directory, core::IncidentSettings settings,
       core::OutboxSettings outbox, const core::WallClock& wall_clock, OperationSender sender,
       IncidentServiceOptions service_options)
      : store(std::move(event_store)),
        reader(std::move(read_store)),
        clock(wall_clock),
        engine(*store, std::move(directory), settings, outbox, wall_clock),
        send(std::move(sender)),
        options(std::move(service_options)),
        work(asio::make_work_guard(context)),
        outbox_timer(context),
        tick_timer(context),
        escalation_timer(context),
        wheel_origin(std::chrono::steady_clock::now()),
        writer(*store, core::GroupCommitOptions{
                           options.max_batch, options.max_queued_inbound,
                           [this](const core::GroupCommitBatch& batch) { observe_batch(batch); }}) {
    engine.hold_outbox(true);
    engine.set_policies(options.policies);
    engine.set_time_zones(options.time_zones ? options.time_zones
                                             : std::make_shared<policy::TimeZoneDatabase>());
    engine.set_instance_platforms(options.platforms);
  }

  // Touched by the writer thread only (through `writer`'s jobs).
  std::unique_ptr<core::EventStore> store;
  // API reads, on the service thread only; null: reads run as writer jobs.
  std::unique_ptr<core::EventStore> reader;
  const core::WallClock& clock;
  core::IncidentEngine engine;  // writer thread only
  OperationSender send;
  IncidentServiceOptions options;
  std::size_t in_flight = 0;  // writer thread only
  bool started = false;       // writer thread only
  std::atomic<bool> ready{false};
  // A pump job is queued and has not run yet: completions need not queue another.
  std::atomic<bool> pump_queued{false};
  // The service thread: timers, and reads on `reader`.
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer outbox_timer;
  asio::steady_timer tick_timer;
  // Escalation: every pending step is a timer in one wheel (service thread),
  // advanced by one steady timer; a due step becomes a writer job.
  struct WheelEntry {
    core::IncidentId incident = 0;
    std::uint32_t chain = 0;
    std::uint16_t step = 0;
    std::uint16_t round = 0;
  };
  asio::steady_timer escalation_timer;
  std::chrono::steady_clock::time_point wheel_origin;  // tick 0 of the wheel, in ms
  policy::TimerWheel<WheelEntry> wheel;
  struct ScheduledStep {
    WheelEntry entry;
    std::uint64_t tick = 0;
    policy::TimerWheel<WheelEntry>::Handle handle;
  };
  // By incident: what was put in the wheel (fired ones until the next update).
  std::map<core::IncidentId, std::vector<ScheduledStep>> wheel_handles;
  std::atomic<std::size_t> wheel_size{0};
  std::uint64_t jobs_at_last_probe = 0;  // service thread only (probe_liveness)
  OpenIncidentCountsCache open_counts;
  std::thread thread;
  // Last: constructed once the engine is ready, stopped (joined) before the rest goes.
  core::GroupCommitWriter writer;

  // Runs `work` (returns whether its writes are kept) on the writer thread in the
  // next batch, then `after(durable)` once the batch is durable or lost. Both run on
  // the writer thread; outbox entries the work queued are scheduled only once
  // durable.
  template <class Work, class After>
  core::VoidResult engine_job(
      const char* what, Work&& work_in_batch, After&& after,
      core::GroupCommitWriter::Admission admission = core::GroupCommitWriter::Admission::always) {
    core::GroupCommitWriter::Job job;
    // Both run on the writer thread, so a plain shared flag will do.
    auto ran = std::make_shared<bool>(false);
    // Counted only once their job is kept and its batch durable.
    auto acknowledged = std::make_shared<std::vector<core::FirstAcknowledgement>>();
    job.run = [this, what, ran, acknowledged,
               run = std::forward<Work>(work_in_batch)](core::EventStore&) mutable {
      *ran = true;
      const std::size_t mark = engine.held_mark();
      bool keep = false;
      contained(what, [&] { keep = run(); });
      auto firsts = engine.take_first_acknowledgements();
      if (!keep) {
        engine.drop_held(mark);
      } else {
        *acknowledged = std::move(firsts);
      }
      return keep;
    };
    job.settled = [this, what, ran, acknowledged,
                   then = std::forward<After>(after)](const core::VoidResult& durable) mutable {
      // A job that never ran (its batch could not begin, or its savepoint failed)
      // held nothing, and its batch may well have committed the others' work.
      const bool scheduled = *ran && engine.settle(durable.ok());
      if (*ran) {
        publish_escalation_updates();
      }
      if (durable && options.metrics != nullptr) {
        for (const core::FirstAcknowledgement& first : *acknowledged) {
          // A clock set back between declaration and acknowledgement is not a negative wait.
          const double seconds =
              std::max(0.0, std::chrono::duration<double>(first.after_declaration).count());
          options.metrics->acknowledge_latency.with({std::string(core::to_string(first.severity))})
              .observe(seconds);
        }
      }
      if (!durable) {
        spdlog::error("store: {}: not stored: {}", what, durable.error().message);
      }
      contained(what, [&] { then(durable, *ran); });
      if (scheduled) {
        pump_soon();
      }
    };
    return writer.submit(std::move(job), admission);
  }

  // Writer thread, after each batch: what it cost, and the outbox as it left it.
  void observe_batch(const core::GroupCommitBatch& batch) {
    if (options.metrics == nullptr) {
      return;
    }
    DaemonMetrics& metrics = *options.metrics;
    metrics.store_commit_batch_size.observe(static_cast<double>(batch.jobs));
    if (batch.committed) {
      metrics.store_commit_duration.observe(
          std::chrono::duration<double>(batch.commit_time).count());
    } else {
      metrics.store_commit_failures.increment();
    }
    for (const auto& [instance, stats] : engine.outbox_instance_stats()) {
      metrics.outbox_depth.with({instance}).set(static_cast<double>(stats.depth));
      metrics.outbox_retries.with({instance}).advance_to(stats.retried);
      metrics.outbox_failures.with({instance}).advance_to(stats.failed);
      metrics.outbox_delivered.with({instance}).advance_to(stats.done);
    }
  }

  // Any thread.
  void count_inbound(const std::string& instance, std::string_view outcome) {
    if (options.metrics != nullptr) {
      options.metrics->inbound_events.with({instance, std::string(outcome)}).increment();
    }
  }

  static std::string_view outcome_label(core::InboundOutcome outcome) {
    switch (outcome) {
      case core::InboundOutcome::committed:
        return "committed";
      case core::InboundOutcome::retry_later:
        return "retry_later";
      case core::InboundOutcome::refused:
        return "refused";
    }
    return "retry_later";
  }

  // Writer thread: hands the settled changes of pending steps to the wheel.
  void publish_escalation_updates() {
    core::EscalationTimerUpdate update = engine.take_escalation_updates();
    if (update.empty()) {
      return;
    }
    asio::post(context, [this, update = std::move(update)] { apply_to_wheel(update); });
  }

  std::uint64_t wheel_tick_now() const {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - wheel_origin)
                                          .count());
  }

  // Service thread. A step already in the wheel keeps the tick it was given: its
  // wait is measured against the wall clock once, so setting the system clock later
  // does not move it.
  void apply_to_wheel(const core::EscalationTimerUpdate& update) {
    std::map<core::IncidentId, std::vector<ScheduledStep>> previous;
    const auto take = [&](core::IncidentId incident) {
      if (auto found = wheel_handles.find(incident); found != wheel_handles.end()) {
        for (const ScheduledStep& scheduled : found->second) {
          wheel.cancel(scheduled.handle);
        }
        previous[incident] = std::move(found->second);
        wheel_handles.erase(found);
      }
    };
    if (update.replace_all) {
      while (!wheel_handles.empty()) {
        take(wheel_handles.begin()->first);
      }
    }
    for (const core::IncidentId incident : update.incidents) {
      take(incident);
    }
    const core::TimePoint wall_now = clock.now();
    const std::uint64_t now_tick = std::max(wheel_tick_now(), wheel.now());
    for (const core::EscalationTimer& timer : update.timers) {
      const WheelEntry entry{timer.incident, static_cast<std::uint32_t>(timer.chain),
                             static_cast<std::uint16_t>(timer.step),
                             static_cast<std::uint16_t>(timer.round)};
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timer.due - wall_now);
      std::uint64_t tick =
          now_tick + static_cast<std::uint64_t>(std::max<std::int64_t>(0, wait.count()));
      for (const ScheduledStep& known : previous[timer.incident]) {
        if (known.entry.chain == entry.chain && known.entry.step == entry.step &&
            known.entry.round == entry.round) {
          tick = known.tick;
          break;
        }
      }
      schedule_step(entry, tick);
    }
    wheel_size = wheel.size();
  }

  void schedule_step(const WheelEntry& entry, std::uint64_t tick) {
    wheel_handles[entry.incident].push_back(
        ScheduledStep{entry, tick, wheel.schedule(tick, entry)});
  }

  // Service thread: the single steady tick that drives the wheel.
  void arm_escalation_timer() {
    escalation_timer.expires_after(options.escalation_tick);
    escalation_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      std::vector<WheelEntry> due;
      wheel.advance(wheel_tick_now(),
                    [&due](std::uint64_t /*tick*/, WheelEntry&& entry) { due.push_back(entry); });
      wheel_size = wheel.size();
      for (const WheelEntry& entry : due) {
        fire(entry);
      }
      arm_escalation_timer();
    });
  }

  // A due step goes to the writer; if the store cannot take it now, it is tried
  // again shortly (the step stays pending in the store until its page is recorded).
  void fire(const WheelEntry& entry) {
    const core::EscalationTimer timer{entry.incident, entry.chain, entry.step, entry.round, {}};
    auto outcome = std::make_shared<core::InboundOutcome>(core::InboundOutcome::retry_later);
    auto queued = engine_job(
        "firing an escalation step",
        [this, timer, outcome] {
          *outcome = engine.fire_escalation(timer);
          if (*outcome == core::InboundOutcome::retry_later) {
            spdlog::error("escalation step {} not recorded, trying again: {}{}", timer.step,
                          engine.last_problem(), LogFields().incident(timer.incident));
          }
          return *outcome != core::InboundOutcome::retry_later;
        },
        [this, entry, outcome](const core::VoidResult& durable, bool ran) {
          if (!ran || !durable || *outcome == core::InboundOutcome::retry_later) {
            refire_later(entry);
          }
        });
    if (!queued) {
      spdlog::warn("escalation step {} not queued: {}; trying again{}", entry.step,
                   queued.error().message, LogFields().incident(entry.incident));
      refire_later(entry);
    }
  }

  // Any thread.
  void refire_later(const WheelEntry& entry) {
    asio::post(context, [this, entry] {
      schedule_step(entry, wheel_tick_now() + static_cast<std::uint64_t>(kStoreRetryDelay.count()));
      wheel_size = wheel.size();
    });
  }

  // Completions for callers go to their executor when one was given.
  void answer_on_executor(std::function<void()> answer) {
    if (options.completions) {
      options.completions(std::move(answer));
    } else {
      answer();
    }
  }

  void on_inbound(const std::string& instance, const nlohmann::json& json,
                  std::function<void(core::InboundOutcome)> done) {
    auto platform = options.platforms.find(instance);
    std::string problem;
    auto event = parse_inbound_event(
        instance, platform == options.platforms.end() ? instance : platform->second, json, problem);
    if (!event) {
      count_inbound(instance, problem.empty() ? "ignored" : "malformed");
      if (problem.empty()) {
        spdlog::debug("ignoring an inbound event of type {}{}",
                      log_value(string_at(json, "type").value_or("?")),
                      LogFields().instance(instance));
      } else {
        // A plugin bug, not a passing failure: acknowledging stops the platform from
        // retrying an event that can never be stored.
        spdlog::error("malformed inbound event dropped: {}{}", problem,
                      LogFields().instance(instance));
      }
      done(core::InboundOutcome::committed);
      return;
    }
    auto outcome = std::make_shared<core::InboundOutcome>(core::InboundOutcome::retry_later);
    auto answer = std::make_shared<std::function<void(core::InboundOutcome)>>(std::move(done));
    auto queued = engine_job(
        "handling an inbound event",
        [this, instance, outcome, event = std::move(*event)] {
          *outcome = engine.handle(event);
          switch (*outcome) {
            case core::InboundOutcome::refused:
              spdlog::warn("refused an inbound event: {}{}", engine.last_problem(),
                           LogFields().instance(instance).add("user", event.user.id));
              break;
            case core::InboundOutcome::retry_later:
              spdlog::error("inbound event not stored, the platform will retry: {}{}",
                            engine.last_problem(), LogFields().instance(instance));
              break;
            case core::InboundOutcome::committed:
              break;
          }
          return *outcome != core::InboundOutcome::retry_later;
        },
        [this, instance, outcome, answer](const core::VoidResult& durable, bool /*ran*/) {
          const core::InboundOutcome verdict =
              durable ? *outcome : core::InboundOutcome::retry_later;
          count_inbound(instance, outcome_label(verdict));
          answer_on_executor([answer, verdict] { (*answer)(verdict); });
        },
        core::GroupCommitWriter::Admission::bounded);
    if (!queued) {
      spdlog::warn("inbound event not queued: {}; answering retry-later{}", queued.error().message,
                   LogFields().instance(instance));
      count_inbound(instance, "retry_later");
      (*answer)(core::InboundOutcome::retry_later);
    }
  }

  // Queues one job that hands due outbox operations to the plugins, unless one is
  // queued already. Any thread.
  void pump_soon() {
    if (pump_queued.exchange(true)) {
      return;
    }
    auto due = std::make_shared<std::vector<core::DueOperation>>();
    auto next = std::make_shared<std::optional<core::TimePoint>>();
    auto queued = engine_job(
        "sending the outbox",
        [this, due, next] {
          pump_queued = false;
          if (!started) {
            return true;
          }
          const std::size_t room = options.max_operations_in_flight > in_flight
                                       ? options.max_operations_in_flight - in_flight
                                       : 0;
          *due = engine.take_due(room);
          in_flight += due->size();
          // At the in-flight limit every completion pumps again; a timer would only spin.
          if (room > due->size()) {
            *next = engine.next_due();
          }
          return true;
        },
        // Sent whether or not the batch committed: the entries were durable before.
        [this, due, next](const core::VoidResult&, bool ran) {
          pump_queued = false;
          for (core::DueOperation& operation : *due) {
            send_operation(operation);
          }
          if (!ran) {
            // The store could not run it; try again shortly rather than never.
            asio::post(context, [this] { arm_outbox_timer(clock.now() + kStoreRetryDelay); });
          } else if (*next) {
            asio::post(context, [this, at = **next] { arm_outbox_timer(at); });
          }
        });
    if (!queued) {
      pump_queued = false;  // the writer is full or stopped; the timer tries again
    }
  }

  // Writer thread.
  void send_operation(const core::DueOperation& due) {
    nlohmann::json operation = nlohmann::json::parse(due.operation, nullptr, false);
    std::weak_ptr<Impl> weak = weak_from_this();
    const std::int64_t id = due.outbox_id;
    const LogFields log_context = LogFields()
                                      .instance(due.instance)
                                      .add("operation", string_at(operation, "type").value_or("?"))
                                      .add("outbox", id);
    auto on_result = [weak, id, log_context](const nlohmann::json& result) {
      if (const auto status = string_at(result, "status").value_or("?"); status != "ok") {
        spdlog::warn("outbox: the operation failed ({}): {}{}", status,
                     string_at(result, "error").value_or("no reason given"), log_context);
      } else {
        spdlog::debug("outbox: the operation succeeded{}", log_context);
      }
      if (auto self = weak.lock()) {
        self->complete(id, result);
      }
    };
    try {
      send(due.instance, std::move(operation), on_result);
    } catch (const std::exception& e) {
      // The operation stays owed: it is tried again like any retryable failure.
      spdlog::error("outbox: could not hand the operation to the plugin: {}{}", e.what(),
                    log_context);
      complete(id, nlohmann::json{{"v", 1},
                                  {"status", "retryable"},
                                  {"error", "could not be handed to the plugin"}});
    }
  }

  // A plugin's result for an operation. Any thread.
  void complete(std::int64_t id, const nlohmann::json& result) {
    auto queued = engine_job(
        "recording an operation result",
        [this, id, result] {
          --in_flight;
          engine.complete(id, result.dump());
          return true;
        },
        [this, id, result](const core::VoidResult&, bool ran) {
          if (!ran) {
            // The result is not recorded yet; record it once the store can again.
            retry_later(kStoreRetryDelay, [this, id, result] { complete(id, result); });
            return;
          }
          pump_soon();
        });
    if (!queued) {
      // Stopping: the entry stays in the persisted outbox and is sent again (same
      // operation key) after the restart.
      spdlog::warn("outbox: result not recorded: {}{}", queued.error().message,
                   LogFields().add("outbox", id));
    }
  }

  // Runs `work` on the service thread after `delay`. Any thread.
  void retry_later(std::chrono::milliseconds delay, std::function<void()> again) {
    asio::post(context, [this, delay, again = std::move(again)]() mutable {
      auto timer = std::make_shared<asio::steady_timer>(context, delay);
      timer->async_wait([timer, again = std::move(again)](const boost::system::error_code& ec) {
        if (!ec) {
          contained("retrying store work", again);
        }
      });
    });
  }

  // Service thread.
  void arm_outbox_timer(core::TimePoint at) {
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(at - clock.now());
    delay = std::clamp(delay, std::chrono::milliseconds(1), kMaxOutboxSleep);
    outbox_timer.expires_after(delay);
    outbox_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        pump_soon();
      }
    });
  }

  void tick() {
    auto appended = std::make_shared<core::Result<std::size_t>>(std::size_t{0});
    auto queued = engine_job(
        "tick",
        [this, appended] {
          *appended = engine.tick();
          return true;
        },
        [appended](const core::VoidResult& durable, bool /*ran*/) {
          if (!*appended) {
            spdlog::error("store: looking for due nudges and reminders: {}",
                          appended->error().message);
          } else if (durable && appended->value() > 0) {
            spdlog::info("{} time-driven event(s) recorded (nudges, SLA breaches, reminders)",
                         appended->value());
          }
        });
    if (!queued) {
      spdlog::warn("tick skipped: {}", queued.error().message);
    }
  }

  // Service thread.
  void arm_tick_timer() {
    tick_timer.expires_after(options.tick_interval);
    tick_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        tick();
        arm_tick_timer();
      }
    });
  }

  // Runs a read on the reader connection (service thread), or as a writer job when
  // there is no reader. `read(store)` returns the Result handed to `done`.
  template <class T, class Read>
  void read(const char* what, Read&& read_from, std::function<void(core::Result<T>)> done) {
    if (reader) {
      asio::post(context, [this, what, read_from = std::forward<Read>(read_from),
                           done = std::move(done)]() mutable {
        auto result = std::make_shared<core::Result<T>>(
            core::make_error(core::ErrorCode::storage, std::string(what) + " failed unexpectedly"));
        contained(what, [&] { *result = read_from(*reader); });
        answer_on_executor(
            [done = std::move(done), result]() mutable { done(std::move(*result)); });
      });
      return;
    }
    auto result = std::make_shared<std::optional<core::Result<T>>>();
    auto answer = std::make_shared<std::function<void(core::Result<T>)>>(std::move(done));
    auto queued = engine_job(
        what,
        [this, result, read_from = std::forward<Read>(read_from)]() mutable {
          *result = read_from(*store);
          return true;
        },
        [this, result, answer](const core::VoidResult& durable, bool /*ran*/) {
          answer_on_executor([result, answer, durable] {
            if (*result) {
              (*answer)(std::move(**result));
            } else {
              (*answer)(durable ? core::make_error(core::ErrorCode::storage, "the read did not run")
                                : durable.error());
            }
          });
        },
        core::GroupCommitWriter::Admission::bounded);
    if (!queued) {
      (*answer)(queued.error());
    }
  }
};

IncidentService::IncidentService(std::unique_ptr<core::EventStore> store,
                                 std::shared_ptr<const core::Directory> directory,
                                 core::IncidentSettings settings, core::OutboxSettings outbox,
                                 const core::WallClock& clock, OperationSender send,
                                 IncidentServiceOptions options,
                                 std::unique_ptr<core::EventStore> reader)
    : settings_(settings),
      impl_(std::make_shared<Impl>(std::move(store), std::move(reader), std::move(directory),
                                   settings, outbox, clock, std::move(send), std::move(options))) {
  impl_->thread = std::thread(
      [impl = impl_.get()] { contained("service thread", [impl] { impl->context.run(); }); });
}

IncidentService::~IncidentService() {
  stop();
}

core::VoidResult IncidentService::start() {
  auto loaded = std::make_shared<std::promise<core::VoidResult>>();
  auto result = loaded->get_future();
  auto outcome = std::make_shared<core::VoidResult>(
      core::make_error(core::ErrorCode::storage, "the outbox could not be loaded"));
  Impl* impl = impl_.get();
  auto queued = impl->engine_job(
      "loading the outbox",
      [impl, outcome] {
        *outcome = impl->engine.start();
        return outcome->ok();
      },
      [impl, outcome, loaded](const core::VoidResult& durable, bool /*ran*/) {
        if (*outcome && durable) {
          impl->started = true;
          impl->ready = true;
          const auto stats = impl->engine.outbox_stats();
          if (stats.queued > 0) {
            spdlog::info("outbox: {} operation(s) left from the last run will be sent",
                         stats.queued);
          }
          impl->pump_soon();
          asio::post(impl->context, [impl] {
            impl->arm_tick_timer();
            impl->arm_escalation_timer();
          });
        }
        loaded->set_value(!durable ? durable : *outcome);
      });
  if (!queued) {
    return queued;
  }
  return result.get();
}

void IncidentService::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  // Queued jobs run (and are answered); new ones are refused. Timers are abandoned.
  impl_->ready = false;
  impl_->writer.stop();
  asio::post(impl_->context, [impl = impl_.get()] { impl->context.stop(); });
  impl_->work.reset();
  impl_->thread.join();
}

void IncidentService::set_limits(const std::string& instance, core::InstanceLimits limits) {
  Impl* impl = impl_.get();
  (void)impl->engine_job(
      "setting limits",
      [impl, instance, limits] {
        impl->engine.set_limits(instance, limits);
        return true;
      },
      [this, instance, limits](const core::VoidResult&, bool ran) {
        if (!ran) {
          impl_->retry_later(kStoreRetryDelay,
                             [this, instance, limits] { set_limits(instance, limits); });
        }
      });
}

void IncidentService::set_directory(std::shared_ptr<const core::Directory> directory) {
  Impl* impl = impl_.get();
  (void)impl->engine_job(
      "replacing the directory",
      [impl, replacement = directory] {
        impl->engine.set_directory(replacement);
        return true;
      },
      [this, directory = std::move(directory)](const core::VoidResult&, bool ran) {
        if (!ran) {
          impl_->retry_later(kStoreRetryDelay, [this, directory] { set_directory(directory); });
        }
      });
}

void IncidentService::reload(const std::shared_ptr<const core::Directory>& directory,
                             const std::shared_ptr<const policy::PolicySet>& policies) {
  Impl* impl = impl_.get();
  (void)impl->engine_job(
      "reloading the directory and policies",
      [impl, directory, policies] {
        impl->engine.set_directory(directory);
        impl->engine.set_policies(policies);
        return true;
      },
      [this, directory, policies](const core::VoidResult&, bool ran) {
        if (!ran) {
          impl_->retry_later(kStoreRetryDelay,
                             [this, directory, policies] { reload(directory, policies); });
        }
      });
}

std::size_t IncidentService::pending_escalation_timers() const noexcept {
  return impl_->wheel_size;
}

void IncidentService::tick_now() {
  impl_->tick();
}

void IncidentService::handle_inbound(const std::string& instance, const nlohmann::json& event,
                                     std::function<void(core::InboundOutcome)> done) {
  // Exactly one answer, even when handling throws halfway.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer_once = [answered, done = std::move(done)](core::InboundOutcome outcome) {
    if (!answered->exchange(true)) {
      done(outcome);
    }
  };
  if (!contained("handling an inbound event",
                 [&] { impl_->on_inbound(instance, event, answer_once); })) {
    if (!answered->load()) {
      impl_->count_inbound(instance, "retry_later");
    }
    answer_once(core::InboundOutcome::retry_later);
  }
}

void IncidentService::list_incidents(
    std::string organization, std::function<void(core::Result<std::vector<core::Incident>>)> done) {
  impl_->read<std::vector<core::Incident>>(
      "listing incidents",
      [organization = std::move(organization)](core::EventStore& store) {
        return store.incidents(organization);
      },
      std::move(done));
}

void IncidentService::incident_timeline(
    core::IncidentId id,
    std::function<void(core::Result<std::pair<core::Incident, std::vector<core::Event>>>)> done) {
  using Timeline = std::pair<core::Incident, std::vector<core::Event>>;
  impl_->read<Timeline>(
      "reading a timeline",
      [id](core::EventStore& store) -> core::Result<Timeline> {
        auto incident = store.incident(id);
        if (!incident) {
          return incident.error();
        }
        if (!incident.value()) {
          return core::make_error(core::ErrorCode::not_found, "no incident " + std::to_string(id));
        }
        auto events = store.events(id);
        if (!events) {
          return events.error();
        }
        return std::make_pair(*incident.value(), std::move(events.value()));
      },
      std::move(done));
}

void IncidentService::follow_ups(
    std::string organization, std::optional<std::string> assignee,
    std::function<void(core::Result<std::vector<core::FollowUpListing>>)> done) {
  impl_->read<std::vector<core::FollowUpListing>>(
      "listing follow-ups",
      [organization = std::move(organization),
       assignee = std::move(assignee)](core::EventStore& store) {
        return store.follow_ups(
            organization, assignee ? std::optional<std::string_view>(*assignee) : std::nullopt,
            true);
      },
      std::move(done));
}

void IncidentService::search(std::string organization, std::string query, std::size_t limit,
                             std::function<void(core::Result<std::vector<core::SearchHit>>)> done) {
  impl_->read<std::vector<core::SearchHit>>(
      "searching",
      [organization = std::move(organization), query = std::move(query),
       limit](core::EventStore& store) { return store.search(organization, query, limit); },
      std::move(done));
}

namespace {

core::Result<OpenIncidentCounts> count_open(core::EventStore& store) {
  // Every incident not CLOSED is among those time can still act on.
  auto incidents = store.incidents_with_timed_work();
  if (!incidents) {
    return incidents.error();
  }
  OpenIncidentCounts counts;
  for (const core::Severity severity :
       {core::Severity::sev1, core::Severity::sev2, core::Severity::sev3}) {
    for (const core::Status status : {core::Status::declared, core::Status::investigating,
                                      core::Status::mitigated, core::Status::resolved}) {
      counts[{severity, status}] = 0;
    }
  }
  for (const core::Incident& incident : incidents.value()) {
    if (incident.status != core::Status::closed) {
      ++counts[{incident.severity, incident.status}];
    }
  }
  return counts;
}

}  // namespace

void IncidentService::open_incident_counts(
    std::function<void(core::Result<OpenIncidentCounts>)> done) {
  Impl* impl = impl_.get();
  impl_->read<OpenIncidentCounts>(
      "counting open incidents",
      [impl](core::EventStore& store) -> core::Result<OpenIncidentCounts> {
        return impl->open_counts.get(impl->options.open_incident_counts_max_age,
                                     [&store] { return count_open(store); });
      },
      std::move(done));
}

void IncidentService::outbox_report(std::function<void(core::Result<OutboxReport>)> done) {
  // The scheduler's numbers live on the writer thread, so this is a (read-only) job.
  Impl* impl = impl_.get();
  auto report = std::make_shared<std::optional<core::Result<OutboxReport>>>();
  auto answer = std::make_shared<std::function<void(core::Result<OutboxReport>)>>(std::move(done));
  auto queued = impl->engine_job(
      "reporting the outbox",
      [impl, report] {
        auto failures = impl->store->outbox_failures(50);
        if (!failures) {
          *report = failures.error();
        } else {
          *report = OutboxReport{impl->engine.outbox_stats(), std::move(failures.value())};
        }
        return true;
      },
      [impl, report, answer](const core::VoidResult& durable, bool /*ran*/) {
        impl->answer_on_executor([report, answer, durable] {
          if (*report) {
            (*answer)(std::move(**report));
          } else {
            (*answer)(durable ? core::make_error(core::ErrorCode::storage, "the report did not run")
                              : durable.error());
          }
        });
      },
      core::GroupCommitWriter::Admission::bounded);
  if (!queued) {
    (*answer)(queued.error());
  }
}

void IncidentService::rebuild(bool check_only,
                              std::function<void(core::Result<RebuildReport>)> done) {
  Impl* impl = impl_.get();
  auto report = std::make_shared<std::optional<core::Result<RebuildReport>>>();
  auto answer = std::make_shared<std::function<void(core::Result<RebuildReport>)>>(std::move(done));
  auto queued = impl->engine_job(
      "rebuilding the projections",
      [impl, report, check_only] {
        const auto started = std::chrono::steady_clock::now();
        auto before = impl->store->projection_rows();
        if (!before) {
          *report = before.error();
          return false;
        }
        auto rebuilt = impl->store->rebuild_projections();
        auto after = rebuilt ? impl->store->projection_rows()
                             : core::Result<std::vector<std::string>>(rebuilt.error());
        if (!after) {
          *report = after.error();
          return false;
        }
        std::sort(before->begin(), before->end());
        std::sort(after->begin(), after->end());
        std::vector<std::string> differing;
        std::set_symmetric_difference(before->begin(), before->end(), after->begin(), after->end(),
                                      std::back_inserter(differing));
        RebuildReport result;
        result.rows = after->size();
        result.differed = differing.size();
        result.kept = !check_only;
        result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        if (result.differed > 0) {
          spdlog::warn("projection rebuild: {} row(s) differed from the events{}", result.differed,
                       check_only ? " (check only: left as they were)" : "; rewritten");
        }
        *report = result;
        return !check_only;
      },
      [impl, report, answer](const core::VoidResult& durable, bool /*ran*/) {
        impl->answer_on_executor([report, answer, durable] {
          if (!durable) {
            (*answer)(durable.error());
          } else if (*report) {
            (*answer)(std::move(**report));
          } else {
            (*answer)(core::make_error(core::ErrorCode::storage, "the rebuild did not run"));
          }
        });
      },
      core::GroupCommitWriter::Admission::bounded);
  if (!queued) {
    (*answer)(queued.error());
  }
}

bool IncidentService::ready() const noexcept {
  return impl_->ready;
}

core::GroupCommitStats IncidentService::store_stats() const {
  return impl_->writer.stats();
}

void IncidentService::probe_liveness(std::function<void(bool healthy, std::string problem)> done) {
  Impl* impl = impl_.get();
  asio::post(impl->context, [impl, done = std::move(done)] {
    const core::GroupCommitStats stats = impl->writer.stats();
    const bool progressed = stats.jobs != impl->jobs_at_last_probe;
    impl->jobs_at_last_probe = stats.jobs;
    // One long transaction (a projection rebuild of a large store) is work, not a
    // hang, up to a limit far beyond any batch of chat traffic.
    const bool long_but_alive =
        stats.batch_began && std::chrono::steady_clock::now() - *stats.batch_began <
                                 impl->options.longest_store_transaction;
    if (stats.queued == 0 || progressed || long_but_alive) {
      contained("answering a liveness probe", [&] { done(true, {}); });
      return;
    }
    contained("answering a liveness probe", [&] {
      done(false, "the store writer has " + std::to_string(stats.queued) +
                      " job(s) waiting and finished none since the previous probe (a "
                      "transaction has run too long, or the writer is stuck)");
    });
  });
}

}  // namespace haveri::daemon
