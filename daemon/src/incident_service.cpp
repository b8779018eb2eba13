#include "incident_service.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace haveri::daemon {

namespace asio = boost::asio;

namespace {

// Longest sleep of the outbox timer: a safety net should a wake-up be missed.
constexpr std::chrono::milliseconds kMaxOutboxSleep{30000};
// Bounds on what an inbound event may carry, beyond the HTTP body limit.
constexpr std::size_t kMaxFiles = 20;
constexpr std::size_t kMaxFormValues = 50;

// Runs `work`, logging instead of letting an exception end the store thread (and
// with it the process): one bad input fails alone.
template <class Work>
void contained(const char* what, Work&& work) noexcept {
  try {
    std::forward<Work>(work)();
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", what, e.what());
  } catch (...) {
    spdlog::error("{}: unknown exception", what);
  }
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
  event.idempotency_key = string_at(json, "idempotency_key").value_or("");
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

struct IncidentService::Impl : std::enable_shared_from_this<IncidentService::Impl> {
  Impl(std::unique_ptr<core::EventStore> event_store,
       std::shared_ptr<const core::Directory> directory, core::IncidentSettings settings,
       core::OutboxSettings outbox, const core::WallClock& wall_clock, OperationSender sender,
       IncidentServiceOptions service_options)
      : store(std::move(event_store)),
        clock(wall_clock),
        engine(*store, std::move(directory), settings, outbox, wall_clock),
        send(std::move(sender)),
        options(std::move(service_options)),
        work(asio::make_work_guard(context)),
        outbox_timer(context),
        tick_timer(context) {}

  std::unique_ptr<core::EventStore> store;
  const core::WallClock& clock;
  core::IncidentEngine engine;
  OperationSender send;
  IncidentServiceOptions options;
  std::atomic<std::size_t> queued{0};
  std::size_t in_flight = 0;
  bool started = false;
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer outbox_timer;
  asio::steady_timer tick_timer;
  std::thread thread;

  void on_inbound(const std::string& instance, const nlohmann::json& json,
                  const std::function<void(core::InboundOutcome)>& done) {
    auto platform = options.platforms.find(instance);
    std::string problem;
    auto event = parse_inbound_event(
        instance, platform == options.platforms.end() ? instance : platform->second, json, problem);
    if (!event) {
      if (problem.empty()) {
        spdlog::debug("plugin {}: ignoring inbound event of type {}", instance,
                      string_at(json, "type").value_or("?"));
      } else {
        // A plugin bug, not a passing failure: acknowledging stops the platform from
        // retrying an event that can never be stored.
        spdlog::error("plugin {}: malformed inbound event dropped: {}", instance, problem);
      }
      done(core::InboundOutcome::committed);
      return;
    }
    const core::InboundOutcome outcome = engine.handle(*event);
    switch (outcome) {
      case core::InboundOutcome::refused:
        spdlog::warn("plugin {}: refused an event from user {}: {}", instance, event->user.id,
                     engine.last_problem());
        break;
      case core::InboundOutcome::retry_later:
        spdlog::error("plugin {}: not stored, the platform will retry: {}", instance,
                      engine.last_problem());
        break;
      case core::InboundOutcome::committed:
        break;
    }
    done(outcome);
    pump();
  }

  // Hands due outbox operations to the plugins, then sleeps until the next is due.
  void pump() {
    if (!started) {
      return;
    }
    const std::size_t room = options.max_operations_in_flight > in_flight
                                 ? options.max_operations_in_flight - in_flight
                                 : 0;
    for (core::DueOperation& due : engine.take_due(room)) {
      nlohmann::json operation = nlohmann::json::parse(due.operation, nullptr, false);
      ++in_flight;
      std::weak_ptr<Impl> weak = weak_from_this();
      const std::int64_t id = due.outbox_id;
      auto on_result = [weak, id](nlohmann::json result) {
        auto self = weak.lock();
        if (!self) {
          return;
        }
        // Handlers queued in `context` only run while the service is alive (stop()
        // joins the thread first), so they may hold a plain pointer.
        asio::post(self->context, [impl = self.get(), id, result = std::move(result)] {
          contained("handling an operation result", [&] {
            --impl->in_flight;
            const std::string status = string_at(result, "status").value_or("?");
            if (status != "ok") {
              spdlog::warn("outbox #{}: {}: {}", id, status,
                           string_at(result, "error").value_or("no reason given"));
            }
            impl->engine.complete(id, result.dump());
            impl->pump();
          });
        });
      };
      try {
        send(due.instance, std::move(operation), on_result);
      } catch (const std::exception& e) {
        // The operation stays owed: it is tried again like any retryable failure.
        spdlog::error("outbox #{}: could not hand it to plugin {}: {}", id, due.instance, e.what());
        --in_flight;
        engine.complete(id, nlohmann::json{{"v", 1},
                                           {"status", "retryable"},
                                           {"error", "could not be handed to the plugin"}}
                                .dump());
      }
    }
    // At the in-flight limit every completion pumps again; a timer would only spin.
    if (room > 0) {
      arm_outbox_timer();
    }
  }

  void arm_outbox_timer() {
    auto next = engine.next_due();
    if (!next) {
      return;
    }
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock.now());
    delay = std::clamp(delay, std::chrono::milliseconds(1), kMaxOutboxSleep);
    outbox_timer.expires_after(delay);
    outbox_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        contained("sending the outbox", [this] { pump(); });
      }
    });
  }

  void tick() {
    auto appended = engine.tick();
    if (!appended) {
      spdlog::error("store: looking for due nudges and reminders: {}", appended.error().message);
    } else if (appended.value() > 0) {
      spdlog::info("{} time-driven event(s) recorded (nudges, SLA breaches, reminders)",
                   appended.value());
    }
    pump();
  }

  void arm_tick_timer() {
    tick_timer.expires_after(options.tick_interval);
    tick_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        contained("tick", [this] { tick(); });
        arm_tick_timer();
      }
    });
  }
};

IncidentService::IncidentService(std::unique_ptr<core::EventStore> store,
                                 std::shared_ptr<const core::Directory> directory,
                                 core::IncidentSettings settings, core::OutboxSettings outbox,
                                 const core::WallClock& clock, OperationSender send,
                                 IncidentServiceOptions options)
    : settings_(settings),
      impl_(std::make_shared<Impl>(std::move(store), std::move(directory), settings, outbox, clock,
                                   std::move(send), std::move(options))) {
  impl_->thread = std::thread(
      [impl = impl_.get()] { contained("store thread", [impl] { impl->context.run(); }); });
}

IncidentService::~IncidentService() {
  stop();
}

core::VoidResult IncidentService::start() {
  std::promise<core::VoidResult> loaded;
  auto result = loaded.get_future();
  asio::post(impl_->context, [impl = impl_.get(), &loaded] {
    core::VoidResult outcome = core::make_error(core::ErrorCode::storage, "not started");
    contained("loading the outbox", [&] { outcome = impl->engine.start(); });
    if (outcome) {
      impl->started = true;
      const auto stats = impl->engine.outbox_stats();
      if (stats.queued > 0) {
        spdlog::info("outbox: {} operation(s) left from the last run will be sent", stats.queued);
      }
      impl->pump();
      impl->arm_tick_timer();
    }
    loaded.set_value(std::move(outcome));
  });
  return result.get();
}

void IncidentService::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  // Posted last, so handlers already queued run first; timers are abandoned.
  asio::post(impl_->context, [impl = impl_.get()] { impl->context.stop(); });
  impl_->work.reset();
  impl_->thread.join();
}

void IncidentService::set_limits(const std::string& instance, core::InstanceLimits limits) {
  asio::post(impl_->context,
             [impl = impl_.get(), instance, limits] { impl->engine.set_limits(instance, limits); });
}

void IncidentService::set_directory(std::shared_ptr<const core::Directory> directory) {
  asio::post(impl_->context, [impl = impl_.get(), directory = std::move(directory)]() mutable {
    impl->engine.set_directory(std::move(directory));
  });
}

void IncidentService::tick_now() {
  asio::post(impl_->context, [impl = impl_.get()] { contained("tick", [impl] { impl->tick(); }); });
}

void IncidentService::handle_inbound(const std::string& instance, nlohmann::json event,
                                     std::function<void(core::InboundOutcome)> done) {
  if (impl_->queued.fetch_add(1) >= impl_->options.max_queued_inbound) {
    impl_->queued.fetch_sub(1);
    spdlog::warn("plugin {}: {} inbound events already waiting; answering retry-later", instance,
                 impl_->options.max_queued_inbound);
    done(core::InboundOutcome::retry_later);
    return;
  }
  asio::post(impl_->context, [impl = impl_.get(), instance, event = std::move(event),
                              done = std::move(done)] {
    impl->queued.fetch_sub(1);
    // Exactly one answer, even when handling throws halfway.
    bool answered = false;
    auto answer_once = [&answered, &done](core::InboundOutcome outcome) {
      if (!answered) {
        answered = true;
        done(outcome);
      }
    };
    contained("handling an inbound event", [&] { impl->on_inbound(instance, event, answer_once); });
    answer_once(core::InboundOutcome::retry_later);
  });
}

void IncidentService::list_incidents(
    std::string organization, std::function<void(core::Result<std::vector<core::Incident>>)> done) {
  asio::post(impl_->context,
             [impl = impl_.get(), organization = std::move(organization), done = std::move(done)] {
               contained("listing incidents", [&] { done(impl->store->incidents(organization)); });
             });
}

void IncidentService::incident_timeline(
    core::IncidentId id,
    std::function<void(core::Result<std::pair<core::Incident, std::vector<core::Event>>>)> done) {
  asio::post(impl_->context, [impl = impl_.get(), id, done = std::move(done)] {
    contained("reading a timeline", [&] {
      auto incident = impl->store->incident(id);
      if (!incident) {
        done(incident.error());
        return;
      }
      if (!incident.value()) {
        done(core::make_error(core::ErrorCode::not_found, "no incident " + std::to_string(id)));
        return;
      }
      auto events = impl->store->events(id);
      if (!events) {
        done(events.error());
        return;
      }
      done(std::make_pair(*incident.value(), std::move(events.value())));
    });
  });
}

void IncidentService::follow_ups(
    std::string organization, std::optional<std::string> assignee,
    std::function<void(core::Result<std::vector<core::FollowUpListing>>)> done) {
  asio::post(impl_->context, [impl = impl_.get(), organization = std::move(organization),
                              assignee = std::move(assignee), done = std::move(done)] {
    contained("listing follow-ups", [&] {
      done(impl->store->follow_ups(
          organization, assignee ? std::optional<std::string_view>(*assignee) : std::nullopt,
          true));
    });
  });
}

void IncidentService::outbox_report(std::function<void(core::Result<OutboxReport>)> done) {
  asio::post(impl_->context, [impl = impl_.get(), done = std::move(done)] {
    contained("reporting the outbox", [&] {
      auto failures = impl->store->outbox_failures(50);
      if (!failures) {
        done(failures.error());
        return;
      }
      done(OutboxReport{impl->engine.outbox_stats(), std::move(failures.value())});
    });
  });
}

}  // namespace haveri::daemon
