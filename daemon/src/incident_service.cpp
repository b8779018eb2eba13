#include "incident_service.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
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

// Retry budget for outbound operations until the durable outbox replaces it.
// TODO(incident-core issue): persist pending operations in the outbox.
constexpr int kMaxOperationAttempts = 5;
constexpr std::chrono::milliseconds kFirstRetryDelay{500};
constexpr std::chrono::milliseconds kMaxRetryDelay{60000};

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

// A neutral inbound event after validation (docs/plugin-abi.md, "Inbound events").
struct InboundEvent {
  std::string type;
  std::string text;
  std::string idempotency_key;
  std::string message_id;
  core::ChannelRef channel;
  core::Actor actor;
};

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

// Returns the event, or nullopt with `problem` naming the missing field.
std::optional<InboundEvent> parse_inbound(const std::string& instance, const nlohmann::json& json,
                                          std::string& problem) {
  InboundEvent event;
  event.type = string_at(json, "type").value_or("");
  auto text = string_at(json, "text");
  const auto channel = json.find("channel");
  const auto user = json.find("user");
  if (!text) {
    problem = "\"text\" must be a string";
    return std::nullopt;
  }
  if (channel == json.end() || !string_at(*channel, "id")) {
    problem = "\"channel\" must be an object with an \"id\" string";
    return std::nullopt;
  }
  if (user == json.end() || !string_at(*user, "id")) {
    problem = "\"user\" must be an object with an \"id\" string";
    return std::nullopt;
  }
  event.text = std::move(*text);
  event.idempotency_key = string_at(json, "idempotency_key").value_or("");
  event.message_id = string_at(json, "message_id").value_or("");
  event.channel.instance = instance;
  event.channel.id = *string_at(*channel, "id");
  event.channel.name = string_at(*channel, "name").value_or(event.channel.id);
  event.actor.id = *string_at(*user, "id");
  event.actor.display_name = string_at(*user, "name").value_or(event.actor.id);
  return event;
}

// Operation keys stay the same when an operation is retried, so a plugin can
// recognise a repeat (docs/plugin-abi.md, "Operations").
std::string reply_key(const InboundEvent& event, int index) {
  static std::atomic<std::uint64_t> unkeyed{0};
  const std::string base = event.idempotency_key.empty()
                               ? "unkeyed-" + std::to_string(unkeyed.fetch_add(1))
                               : event.idempotency_key;
  return "reply:" + base + ":" + std::to_string(index);
}

}  // namespace

struct IncidentService::Impl : std::enable_shared_from_this<IncidentService::Impl> {
  Impl(std::unique_ptr<core::EventStore> event_store, const core::WallClock& wall_clock,
       OperationSender sender, std::size_t queue_limit)
      : store(std::move(event_store)),
        clock(wall_clock),
        send(std::move(sender)),
        max_queued(queue_limit),
        work(asio::make_work_guard(context)) {}

  std::unique_ptr<core::EventStore> store;
  const core::WallClock& clock;
  OperationSender send;
  const std::size_t max_queued;
  std::atomic<std::size_t> queued{0};
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;

  void on_inbound(const std::string& instance, const nlohmann::json& json,
                  const std::function<void(bool)>& done) {
    std::string problem;
    auto event = parse_inbound(instance, json, problem);
    if (!event) {
      // A plugin bug, not a passing failure: acknowledging stops the platform from
      // retrying an event that can never be stored.
      spdlog::error("plugin {}: malformed inbound event dropped: {}", instance, problem);
      done(true);
      return;
    }
    if (event->type == "command") {
      on_command(*event, done);
    } else if (event->type == "message") {
      on_message(*event, done);
    } else {
      // Readers ignore what they do not know; a newer plugin may send more types.
      spdlog::debug("plugin {}: ignoring inbound event of type {}", instance, event->type);
      done(true);
    }
  }

  std::optional<core::Incident> incident_of_channel(const core::ChannelRef& channel, bool& failed) {
    failed = false;
    auto id = store->incident_by_channel(channel.instance, channel.id);
    if (!id) {
      spdlog::error("store: looking up the incident of #{}: {}", channel.name, id.error().message);
      failed = true;
      return std::nullopt;
    }
    if (!id.value()) {
      return std::nullopt;
    }
    auto incident = store->incident(*id.value());
    if (!incident) {
      spdlog::error("store: loading INC-{}: {}", *id.value(), incident.error().message);
      failed = true;
      return std::nullopt;
    }
    return incident.value();
  }

  // True when the event was committed before (a platform retry); false with
  // `failed` set when the store could not tell.
  bool already_recorded(const InboundEvent& event, bool& failed) {
    failed = false;
    if (event.idempotency_key.empty()) {
      return false;
    }
    auto seen = store->has_receipt(event.idempotency_key);
    if (!seen) {
      spdlog::error("store: looking up {}: {}", event.idempotency_key, seen.error().message);
      failed = true;
      return false;
    }
    if (seen.value()) {
      spdlog::info("inbound {} already recorded; not applied again", event.idempotency_key);
    }
    return seen.value();
  }

  void on_command(const InboundEvent& event, const std::function<void(bool)>& done) {
    // A retried command must not be decided again: against the state it produced it
    // would be refused ("already INVESTIGATING") and answered a second time.
    bool failed = false;
    if (already_recorded(event, failed) || failed) {
      done(!failed);
      return;
    }
    auto parsed = core::parse_command(event.text);
    if (auto* error = std::get_if<core::CommandError>(&parsed)) {
      done(true);
      post_message(event.channel, core::error_reply(*error), reply_key(event, 0));
      return;
    }
    const core::Command& command = std::get<core::Command>(parsed);
    std::optional<core::Incident> incident = incident_of_channel(event.channel, failed);
    if (failed) {
      done(false);
      return;
    }
    auto decision =
        core::decide(incident ? &*incident : nullptr, command, event.channel, event.actor);
    if (!decision) {
      done(true);
      post_message(event.channel, core::refusal_reply(decision.error()), reply_key(event, 0));
      return;
    }
    if (!decision->events.empty()) {
      const bool declares = std::holds_alternative<core::Declared>(decision->events.front());
      core::AppendRequest request;
      if (!declares && incident) {
        request.incident = incident->id;
        request.expected_last_sequence = incident->last_sequence;
      }
      request.idempotency_key = event.idempotency_key;
      for (auto& payload : decision->events) {
        request.events.push_back(core::Event{0, 0, clock.now(), event.actor, std::move(payload)});
      }
      if (!commit(request, done)) {
        return;
      }
    } else {
      done(true);
    }
    if (decision->reply) {
      post_message(event.channel, *decision->reply, reply_key(event, 1));
    }
  }

  void on_message(const InboundEvent& event, const std::function<void(bool)>& done) {
    bool failed = false;
    std::optional<core::Incident> incident = incident_of_channel(event.channel, failed);
    if (failed) {
      done(false);
      return;
    }
    if (!incident) {
      done(true);  // chatter outside incident channels is not recorded
      return;
    }
    core::AppendRequest request;
    request.incident = incident->id;
    request.expected_last_sequence = incident->last_sequence;
    request.idempotency_key = event.idempotency_key;
    request.events.push_back(
        core::Event{0, 0, clock.now(), event.actor,
                    core::MessagePosted{event.text, event.channel, event.message_id}});
    commit(request, done);
  }

  // Appends, acknowledges, then carries out the effects. False if nothing was stored.
  bool commit(const core::AppendRequest& request, const std::function<void(bool)>& done) {
    auto outcome = store->append(request);
    if (!outcome) {
      spdlog::error("store: append failed: {}", outcome.error().message);
      done(false);
      return false;
    }
    done(true);
    if (outcome->duplicate) {
      spdlog::info("inbound {} already recorded; not applied again", request.idempotency_key);
      return true;
    }
    for (const auto& event : outcome->committed) {
      spdlog::info("INC-{} #{} {} by {}", event.incident, event.sequence,
                   core::to_string(event.type()), event.actor.display_name);
    }
    run_effects(outcome->state, outcome->committed);
    return true;
  }

  void run_effects(const core::Incident& after, const std::vector<core::Event>& committed) {
    if (committed.empty()) {
      return;
    }
    // Derived from the commit, so the same effect always carries the same key.
    const std::string key_prefix = "INC-" + std::to_string(after.id) + ":" +
                                   std::to_string(committed.front().sequence) + "-" +
                                   std::to_string(committed.back().sequence) + ":";
    int index = 0;
    for (auto& effect : core::effects_of(after, committed)) {
      const std::string key = key_prefix + std::to_string(index++);
      if (auto* create = std::get_if<core::CreateIncidentChannel>(&effect)) {
        create_channel(*create, key);
      } else if (auto* post = std::get_if<core::PostMessage>(&effect)) {
        post_message(post->channel, post->message, key);
      }
    }
  }

  void create_channel(const core::CreateIncidentChannel& create, const std::string& key) {
    nlohmann::json operation = {{"v", 1},
                                {"type", "create_channel"},
                                {"operation_key", key},
                                {"name", create.name},
                                {"topic", create.topic}};
    const core::IncidentId incident_id = create.incident;
    const std::string instance = create.instance;
    perform(instance, std::move(operation), 1,
            [this, incident_id, instance](const nlohmann::json& result) {
              on_channel_created(incident_id, instance, result);
            });
  }

  void on_channel_created(core::IncidentId incident_id, const std::string& instance,
                          const nlohmann::json& result) {
    auto incident = store->incident(incident_id);
    if (!incident || !incident.value()) {
      spdlog::error("INC-{}: channel created but the incident cannot be loaded", incident_id);
      return;
    }
    const auto channel = result.find("channel");
    if (string_at(result, "status") != "ok" || channel == result.end() ||
        !string_at(*channel, "id")) {
      const std::string why = string_at(result, "error").value_or("no channel in the result");
      spdlog::error("INC-{}: the incident channel could not be created: {}", incident_id, why);
      post_message(incident.value()->declared_in,
                   core::Message{"INC-" + std::to_string(incident_id) +
                                     ": the incident channel could not be created",
                                 why,
                                 {},
                                 {},
                                 {}},
                   "INC-" + std::to_string(incident_id) + ":channel-failed");
      return;
    }
    core::ChannelRef ref{instance, *string_at(*channel, "id"),
                         string_at(*channel, "name").value_or(*string_at(*channel, "id"))};
    if (incident.value()->channel == ref) {
      return;  // a repeated completion of the same creation
    }
    core::AppendRequest request;
    request.incident = incident_id;
    request.expected_last_sequence = incident.value()->last_sequence;
    request.events.push_back(
        core::Event{0, 0, clock.now(), core::Actor::system(), core::ChannelLinked{ref}});
    commit(request, [](bool) {});
  }

  void post_message(const core::ChannelRef& channel, const core::Message& message,
                    const std::string& key) {
    nlohmann::json operation = {{"v", 1},
                                {"type", "post_message"},
                                {"operation_key", key},
                                {"channel", core::channel_to_json(channel)},
                                {"message", core::message_to_json(message)}};
    perform(channel.instance, std::move(operation), 1, [](const nlohmann::json&) {});
  }

  // Sends an operation, retrying "retryable" results with backoff (honouring the
  // plugin's retry_after_ms). `on_final` runs on the store thread with the last result.
  void perform(const std::string& instance, nlohmann::json operation, int attempt,
               std::function<void(const nlohmann::json&)> on_final) {
    // The plugin host may answer after this service is gone: hold it weakly.
    std::weak_ptr<Impl> weak = weak_from_this();
    send(instance, operation,
         [weak, instance, operation, attempt,
          on_final = std::move(on_final)](nlohmann::json result) mutable {
           auto self = weak.lock();
           if (!self) {
             return;
           }
           // Handlers queued in `context` only run while the service is alive (stop()
           // joins the thread first), so they may hold a plain pointer.
           asio::post(self->context,
                      [self = self.get(), instance, operation = std::move(operation), attempt,
                       on_final = std::move(on_final), result = std::move(result)]() mutable {
                        contained("handling an operation result", [&] {
                          self->on_performed(instance, std::move(operation), attempt,
                                             std::move(on_final), result);
                        });
                      });
         });
  }

  void on_performed(const std::string& instance, nlohmann::json operation, int attempt,
                    std::function<void(const nlohmann::json&)> on_final,
                    const nlohmann::json& result) {
    const std::string status = string_at(result, "status").value_or("");
    const std::string type = string_at(operation, "type").value_or("");
    const std::string error = string_at(result, "error").value_or("no reason given");
    if (status == "retryable" && attempt < kMaxOperationAttempts) {
      std::chrono::milliseconds delay = kFirstRetryDelay * (1 << (attempt - 1));
      if (auto hint = result.find("retry_after_ms");
          hint != result.end() && hint->is_number_integer()) {
        // Clamped before use: the hint comes from a platform, through a plugin.
        delay = std::chrono::milliseconds(
            std::clamp<std::int64_t>(hint->get<std::int64_t>(), 0, kMaxRetryDelay.count()));
      }
      delay = std::min(delay, kMaxRetryDelay);
      spdlog::warn("plugin {}: {} failed (attempt {}): {}; retrying in {} ms", instance, type,
                   attempt, error, delay.count());
      auto timer = std::make_shared<asio::steady_timer>(context, delay);
      timer->async_wait([this, timer, instance, operation = std::move(operation), attempt,
                         on_final = std::move(on_final)](const boost::system::error_code& ec) {
        if (!ec) {
          perform(instance, operation, attempt + 1, on_final);
        }
      });
      return;
    }
    if (status != "ok") {
      spdlog::error("plugin {}: {} failed{}: {}", instance, type,
                    status == "retryable" ? " after every attempt" : "", error);
    }
    on_final(result);
  }
};

IncidentService::IncidentService(std::unique_ptr<core::EventStore> store,
                                 const core::WallClock& clock, OperationSender send,
                                 std::size_t max_queued_inbound)
    : impl_(std::make_shared<Impl>(std::move(store), clock, std::move(send), max_queued_inbound)) {
  impl_->thread = std::thread(
      [impl = impl_.get()] { contained("store thread", [impl] { impl->context.run(); }); });
}

IncidentService::~IncidentService() {
  stop();
}

void IncidentService::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  // Posted last, so handlers already queued run first; retry timers are abandoned.
  asio::post(impl_->context, [impl = impl_.get()] { impl->context.stop(); });
  impl_->work.reset();
  impl_->thread.join();
}

void IncidentService::handle_inbound(const std::string& instance, nlohmann::json event,
                                     std::function<void(bool)> done) {
  if (impl_->queued.fetch_add(1) >= impl_->max_queued) {
    impl_->queued.fetch_sub(1);
    spdlog::warn("plugin {}: {} inbound events already waiting; answering retry-later", instance,
                 impl_->max_queued);
    done(false);
    return;
  }
  asio::post(impl_->context, [impl = impl_.get(), instance, event = std::move(event),
                              done = std::move(done)] {
    impl->queued.fetch_sub(1);
    // Exactly one answer, even when handling throws halfway.
    bool answered = false;
    auto answer_once = [&answered, &done](bool durable) {
      if (!answered) {
        answered = true;
        done(durable);
      }
    };
    contained("handling an inbound event", [&] { impl->on_inbound(instance, event, answer_once); });
    answer_once(false);
  });
}

void IncidentService::list_incidents(
    std::function<void(core::Result<std::vector<core::Incident>>)> done) {
  asio::post(impl_->context, [impl = impl_.get(), done = std::move(done)] {
    contained("listing incidents", [&] { done(impl->store->incidents()); });
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

}  // namespace haveri::daemon
