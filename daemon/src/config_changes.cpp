#include "config_changes.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>

namespace haveri::daemon {

namespace {

constexpr std::string_view kAfterRestart = ": takes effect after a restart";
constexpr std::array<std::string_view, 3> kSeverities = {"sev1", "sev2", "sev3"};

// A value as the configuration file would spell it.
std::string spelled(const std::string& value) {
  return value.empty() ? "\"\"" : value;
}
std::string spelled(const std::filesystem::path& value) {
  return spelled(value.string());
}
template <class Number>
requires std::is_arithmetic_v<Number> std::string spelled(Number value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
std::string spelled(std::chrono::seconds value) {
  return std::to_string(value.count());
}
// Durations are written as "<integer><unit>": the largest unit that divides them.
std::string spelled(std::chrono::milliseconds value) {
  using std::chrono::milliseconds;
  constexpr std::array<std::pair<std::string_view, std::int64_t>, 4> kUnits = {
      {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}}};
  for (const auto& [suffix, length] : kUnits) {
    if (value.count() != 0 && value.count() % length == 0) {
      return std::to_string(value.count() / length) + std::string(suffix);
    }
  }
  return std::to_string(value.count()) + "ms";
}
std::string spelled(std::chrono::minutes value) {
  return spelled(std::chrono::milliseconds(value));
}

class ChangeList {
 public:
  template <class Value>
  void compare(const std::string& key, const Value& before, const Value& after) {
    if (!(before == after)) {
      out_.push_back(key + " changed from " + spelled(before) + " to " + spelled(after) +
                     std::string(kAfterRestart));
    }
  }
  // For settings that may hold a secret: named, never shown.
  template <class Value>
  void compare_hidden(const std::string& key, const Value& before, const Value& after) {
    if (!(before == after)) {
      out_.push_back(key + " changed" + std::string(kAfterRestart));
    }
  }
  void note(const std::string& text) { out_.push_back(text + std::string(kAfterRestart)); }
  std::vector<std::string> take() { return std::move(out_); }

 private:
  std::vector<std::string> out_;
};

void compare_instances(const std::vector<PluginInstanceConfig>& running,
                       const std::vector<PluginInstanceConfig>& fresh, ChangeList& changes) {
  std::map<std::string, const PluginInstanceConfig*> before;
  for (const auto& instance : running) {
    before.emplace(instance.name, &instance);
  }
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    const PluginInstanceConfig& instance = fresh[i];
    const std::string key = "plugins.instances[" + std::to_string(i) + "] (" + instance.name + ")";
    const auto found = before.find(instance.name);
    if (found == before.end()) {
      changes.note(key + " was added");
      continue;
    }
    changes.compare(key + ".plugin", found->second->plugin, instance.plugin);
    changes.compare_hidden(key + ".settings", found->second->settings, instance.settings);
    before.erase(found);
  }
  for (const auto& [name, instance] : before) {
    changes.note("plugins.instances: instance " + name + " was removed");
  }
}

}  // namespace

std::vector<std::string> changes_needing_restart(const Config& running, const Config& fresh) {
  ChangeList changes;
  const ServerConfig& server = running.server;
  changes.compare("server.address", server.address, fresh.server.address);
  changes.compare("server.port", server.port, fresh.server.port);
  changes.compare("server.body_limit_bytes", server.body_limit_bytes,
                  fresh.server.body_limit_bytes);
  changes.compare("server.header_timeout_seconds", server.header_timeout,
                  fresh.server.header_timeout);
  changes.compare("server.body_timeout_seconds", server.body_timeout, fresh.server.body_timeout);
  changes.compare("server.idle_timeout_seconds", server.idle_timeout, fresh.server.idle_timeout);
  changes.compare("server.write_timeout_seconds", server.write_timeout, fresh.server.write_timeout);
  changes.compare("server.drain_timeout_seconds", server.drain_timeout, fresh.server.drain_timeout);
  changes.compare("server.max_connections", server.max_connections, fresh.server.max_connections);

  changes.compare("storage.sqlite.path", running.storage.sqlite_path, fresh.storage.sqlite_path);
  changes.compare("storage.sqlite.synchronous", running.storage.synchronous,
                  fresh.storage.synchronous);
  changes.compare("storage.max_batch", running.storage.max_batch, fresh.storage.max_batch);

  changes.compare_hidden("api.token", running.api.token, fresh.api.token);

  const PluginsConfig& plugins = running.plugins;
  changes.compare("plugins.directory", plugins.directory, fresh.plugins.directory);
  changes.compare("plugins.request_timeout_seconds", plugins.request_timeout,
                  fresh.plugins.request_timeout);
  changes.compare("plugins.operation_timeout_seconds", plugins.operation_timeout,
                  fresh.plugins.operation_timeout);
  changes.compare("plugins.max_queued_events", plugins.max_queued_events,
                  fresh.plugins.max_queued_events);
  changes.compare("plugins.max_outbound_in_flight", plugins.max_outbound_in_flight,
                  fresh.plugins.max_outbound_in_flight);
  changes.compare("plugins.max_outbound_response_bytes", plugins.max_outbound_response_bytes,
                  fresh.plugins.max_outbound_response_bytes);
  changes.compare("plugins.max_websockets", plugins.max_websockets, fresh.plugins.max_websockets);
  changes.compare("plugins.max_websocket_message_bytes", plugins.max_websocket_message_bytes,
                  fresh.plugins.max_websocket_message_bytes);
  changes.compare("plugins.max_timers", plugins.max_timers, fresh.plugins.max_timers);
  changes.compare("plugins.ca_file", plugins.ca_file, fresh.plugins.ca_file);
  compare_instances(plugins.instances, fresh.plugins.instances, changes);

  changes.compare("directory.zoneinfo", running.zoneinfo, fresh.zoneinfo);

  const core::IncidentSettings& incidents = running.incidents;
  for (std::size_t i = 0; i < kSeverities.size(); ++i) {
    const std::string severity(kSeverities.at(i));
    changes.compare("incidents.sla." + severity + ".acknowledge", incidents.sla.at(i).acknowledge,
                    fresh.incidents.sla.at(i).acknowledge);
    changes.compare("incidents.sla." + severity + ".resolve", incidents.sla.at(i).resolve,
                    fresh.incidents.sla.at(i).resolve);
  }
  for (std::size_t i = 0; i < kSeverities.size(); ++i) {
    changes.compare("incidents.nudge_after." + std::string(kSeverities.at(i)),
                    incidents.nudge_after.at(i), fresh.incidents.nudge_after.at(i));
  }
  changes.compare("incidents.follow_up_reminders.before", incidents.follow_up_reminder_before,
                  fresh.incidents.follow_up_reminder_before);
  changes.compare("incidents.follow_up_reminders.overdue_every", incidents.overdue_reminder_every,
                  fresh.incidents.overdue_reminder_every);

  const core::OutboxSettings& outbox = running.outbox;
  changes.compare("outbox.first_retry_delay", outbox.first_retry_delay,
                  fresh.outbox.first_retry_delay);
  changes.compare("outbox.max_retry_delay", outbox.max_retry_delay, fresh.outbox.max_retry_delay);
  changes.compare("outbox.max_attempts", outbox.max_attempts, fresh.outbox.max_attempts);
  changes.compare("outbox.default_channel_interval", outbox.default_channel_interval,
                  fresh.outbox.default_channel_interval);
  changes.compare("outbox.default_instance_per_second", outbox.default_instance_per_second,
                  fresh.outbox.default_instance_per_second);

  changes.compare("policies.tick_ms", running.escalation_tick.count(),
                  fresh.escalation_tick.count());
  return changes.take();
}

}  // namespace haveri::daemon
