// haverid: the Haveri daemon.
//
// Threads: `io` (HTTP sessions, plugin strands, timers) runs on a small pool; the
// incident service owns one store thread. Shutdown order matters and is spelled
// out at the end of run().
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include <haveri/core/clock.hpp>
#include <haveri/policy/time_zone.hpp>
#include <haveri/store/sqlite_event_store.hpp>

#include "config.hpp"
#include "config_changes.hpp"
#include "http_server.hpp"
#include "incident_service.hpp"
#include "logging.hpp"
#include "metrics.hpp"
#include "plugin_host.hpp"
#include "routes.hpp"
#include "systemd_notify.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 3;
constexpr unsigned kIoThreads = 2;

constexpr const char* kUsage = R"(usage: haverid [--config FILE] [--check-config] [--version]

  --config FILE    configuration file (default: $HAVERI_CONFIG, else /etc/haveri/haveri.yaml)
  --check-config   validate the configuration and the plugins it names, then exit
  --version        print the version and exit

Exit codes: 0 stopped cleanly, 1 runtime error, 2 usage error, 3 invalid configuration.
)";

struct Options {
  std::string config_path;
  bool check_only = false;
};

std::string plural(std::size_t count, const char* one, const char* many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

haveri::daemon::PluginHostOptions plugin_host_options(
    const haveri::daemon::PluginsConfig& plugins) {
  haveri::daemon::PluginHostOptions out{plugins.directory, plugins.request_timeout,
                                        plugins.operation_timeout};
  out.max_outbound_in_flight = plugins.max_outbound_in_flight;
  out.max_outbound_response_bytes = plugins.max_outbound_response_bytes;
  out.max_websockets = plugins.max_websockets;
  out.max_websocket_message_bytes = plugins.max_websocket_message_bytes;
  out.max_timers = plugins.max_timers;
  out.ca_file = plugins.ca_file;
  return out;
}

// SIGHUP: the directory, the escalation policies and logging.level are read again
// and replace the running ones together, or not at all (an invalid file changes
// nothing). Settings read only at start that differ are named, not applied. Returns
// whether the new configuration was applied; `running` then holds it.
bool reload(const std::string& config_path, haveri::daemon::IncidentService& incidents,
            haveri::daemon::Config& running) {
  spdlog::info(
      "received SIGHUP: reloading the directory, escalation policies and log level from {}",
      config_path);
  haveri::daemon::Config fresh;
  try {
    fresh = haveri::daemon::load_config(config_path);
  } catch (const haveri::daemon::ConfigError& e) {
    for (const auto& problem : e.problems()) {
      spdlog::error("{}", problem);
    }
    spdlog::error(
        "reload refused: {} is invalid ({}); still running with the directory, policies and "
        "log level loaded before",
        config_path, plural(e.problems().size(), "problem", "problems"));
    return false;
  }
  for (const auto& warning : fresh.policy_warnings) {
    spdlog::warn("{}", warning);
  }
  for (const auto& change : haveri::daemon::changes_needing_restart(running, fresh)) {
    spdlog::warn("{}", change);
  }
  const std::size_t organizations = fresh.directory.organizations.size();
  const std::size_t policies = fresh.policies.policies.size();
  const std::string level_before = haveri::daemon::log_level();
  incidents.reload(std::make_shared<const haveri::core::Directory>(fresh.directory),
                   std::make_shared<const haveri::policy::PolicySet>(fresh.policies));
  haveri::daemon::set_log_level(fresh.logging.level);
  running.directory_file = fresh.directory_file;
  running.directory = std::move(fresh.directory);
  running.policies_path = fresh.policies_path;
  running.policies = std::move(fresh.policies);
  running.policy_warnings = std::move(fresh.policy_warnings);
  running.logging = fresh.logging;
  spdlog::info("reloaded: {} organization(s), {} escalation polic{}, log level {}{}", organizations,
               policies, policies == 1 ? "y" : "ies", running.logging.level,
               level_before == running.logging.level ? "" : " (was " + level_before + ")");
  return true;
}

// --check-config: every problem of the configuration, the directory, the policies and
// the plugin instances, on stderr, one per line, then a summary. The plugin instances
// are loaded and created (and destroyed) without the io_context ever running.
int check_config(const Options& options) {
  std::vector<std::string> problems;
  std::shared_ptr<const haveri::daemon::PluginsConfig> plugins;
  haveri::daemon::Config config;
  bool config_ok = false;
  try {
    config = haveri::daemon::load_config(options.config_path);
    config_ok = true;
    plugins = std::make_shared<const haveri::daemon::PluginsConfig>(config.plugins);
  } catch (const haveri::daemon::ConfigError& e) {
    problems = e.problems();
    plugins = e.plugins();
  }
  for (const auto& warning : config.policy_warnings) {
    std::cerr << warning << '\n';
  }
  if (plugins) {
    // What the plugins log while they are created is in the problems that matter.
    haveri::daemon::setup_logging("off");
    boost::asio::io_context io;
    haveri::daemon::PluginHost host(
        io, plugin_host_options(*plugins),
        // NOLINTNEXTLINE(performance-unnecessary-value-param): the host's callback type
        [](const std::string&, nlohmann::json, auto done) {
          done(haveri::daemon::InboundVerdict::retry_later);
        });
    try {
      host.start(plugins->instances);
    } catch (const haveri::daemon::PluginLoadError& e) {
      problems.insert(problems.end(), e.problems().begin(), e.problems().end());
    }
    host.shutdown();
  }
  if (config_ok && problems.empty()) {
    std::cout << options.config_path << ": configuration OK ("
              << plural(config.plugins.instances.size(), "plugin instance", "plugin instances")
              << ", "
              << plural(config.policies.policies.size(), "escalation policy", "escalation policies")
              << ")\n";
    return kExitOk;
  }
  for (const auto& problem : problems) {
    std::cerr << problem << '\n';
  }
  std::cerr << "haverid: configuration " << options.config_path << " is invalid ("
            << plural(problems.size(), "problem", "problems")
            << (plugins ? "" : "; the plugin instances were not checked: fix the above first")
            << ")\n";
  return kExitConfig;
}

haveri::http::ServerOptions server_options(const haveri::daemon::ServerConfig& server) {
  haveri::http::ServerOptions options;
  options.address = server.address;
  options.port = server.port;
  options.body_limit_bytes = server.body_limit_bytes;
  options.header_timeout = server.header_timeout;
  options.body_timeout = server.body_timeout;
  options.idle_timeout = server.idle_timeout;
  options.write_timeout = server.write_timeout;
  options.max_connections = server.max_connections;
  return options;
}

int run(const Options& options) {
  if (options.check_only) {
    return check_config(options);
  }
  haveri::daemon::Config config;
  try {
    config = haveri::daemon::load_config(options.config_path);
  } catch (const haveri::daemon::ConfigError& e) {
    for (const auto& problem : e.problems()) {
      std::cerr << problem << '\n';
    }
    std::cerr << "haverid: configuration " << options.config_path << " is invalid ("
              << e.problems().size() << " problem" << (e.problems().size() == 1 ? "" : "s")
              << ")\n";
    return kExitConfig;
  }
  haveri::daemon::setup_logging(config.logging.level);
  for (const auto& warning : config.server.warnings) {
    spdlog::warn("{}", warning);
  }
  for (const auto& warning : config.policy_warnings) {
    spdlog::warn("{}", warning);
  }
  // Before any thread starts (it unsets the variables). --check-config (check_config
  // above), also run as ExecStartPre=, tells systemd nothing.
  auto notifier = haveri::daemon::SystemdNotifier::from_environment();
  notifier.status("loading plugins");

  boost::asio::io_context io;
  // On a strand: the handler re-arms first, and two signals must not be handled at
  // once on the two io threads. SIGHUP is taken from here on (a reload during the
  // start-up waits for it instead of killing the process); SIGTERM and SIGINT keep
  // their default action until the daemon can drain.
  boost::asio::signal_set signals(boost::asio::make_strand(io), SIGHUP);
  haveri::core::SystemWallClock clock;
  std::vector<std::string> instance_names;
  for (const auto& instance : config.plugins.instances) {
    instance_names.push_back(instance.name);
  }
  // Before everything that counts into it, so it is destroyed after them.
  haveri::daemon::DaemonMetrics metrics(instance_names);
  std::unique_ptr<haveri::daemon::IncidentService> incidents;
  haveri::daemon::PluginHost plugins(
      io, plugin_host_options(config.plugins),
      // NOLINTNEXTLINE(performance-unnecessary-value-param): the host's callback type
      [&incidents](const std::string& instance, nlohmann::json event, auto done) {
        incidents->handle_inbound(instance, event, [done](haveri::core::InboundOutcome outcome) {
          switch (outcome) {
            case haveri::core::InboundOutcome::committed:
              done(haveri::daemon::InboundVerdict::committed);
              break;
            case haveri::core::InboundOutcome::retry_later:
              done(haveri::daemon::InboundVerdict::retry_later);
              break;
            case haveri::core::InboundOutcome::refused:
              done(haveri::daemon::InboundVerdict::refused);
              break;
          }
        });
      });
  try {
    plugins.start(config.plugins.instances);
  } catch (const haveri::daemon::PluginLoadError& e) {
    for (const auto& problem : e.problems()) {
      spdlog::critical("{}", problem);
    }
    spdlog::critical(
        "haverid cannot start: {} could not be loaded (haverid --check-config lists "
        "every problem)",
        plural(e.problems().size(), "plugin instance", "plugin instances"));
    plugins.shutdown();
    return kExitRuntimeError;
  }

  notifier.status("opening store");
  std::error_code ec;
  std::filesystem::create_directories(config.storage.sqlite_path.parent_path(), ec);
  auto store = haveri::store::SqliteEventStore::open(
      {config.storage.sqlite_path, config.storage.synchronous});
  if (!store) {
    spdlog::critical("{}", store.error().message);
    return kExitRuntimeError;
  }
  spdlog::info("store {} ready (schema version {})", config.storage.sqlite_path.string(),
               store.value()->schema_version());
  // A second connection for the API's reads, so they never wait for the writer.
  haveri::store::SqliteOptions reader_options{config.storage.sqlite_path,
                                              config.storage.synchronous};
  reader_options.reader = true;
  auto reader = haveri::store::SqliteEventStore::open(reader_options);
  if (!reader) {
    spdlog::critical("{}", reader.error().message);
    return kExitRuntimeError;
  }
  haveri::daemon::IncidentServiceOptions service_options;
  service_options.max_queued_inbound = config.plugins.max_queued_events;
  service_options.max_batch = config.storage.max_batch;
  // Answers go back to the io threads: the writer goes on with the next batch.
  service_options.completions = [&io](std::function<void()> answer) {
    boost::asio::post(io, std::move(answer));
  };
  for (const auto& instance : config.plugins.instances) {
    service_options.platforms[instance.name] = instance.plugin;
  }
  service_options.escalation_tick = config.escalation_tick;
  service_options.time_zones = std::make_shared<haveri::policy::TimeZoneDatabase>(config.zoneinfo);
  service_options.policies = std::make_shared<const haveri::policy::PolicySet>(config.policies);
  service_options.metrics = &metrics;
  if (!config.policies_path) {
    spdlog::warn("no policies.path in {}: nobody will be paged by escalation policies",
                 options.config_path);
  } else {
    spdlog::info("{} escalation polic{} loaded from {}", config.policies.policies.size(),
                 config.policies.policies.size() == 1 ? "y" : "ies",
                 config.policies_path->string());
  }
  incidents = std::make_unique<haveri::daemon::IncidentService>(
      std::move(store.value()), std::make_shared<const haveri::core::Directory>(config.directory),
      config.incidents, config.outbox, clock,
      [&plugins](const std::string& instance, const nlohmann::json& operation, auto done) {
        plugins.perform(instance, operation, std::move(done));
      },
      std::move(service_options), std::move(reader.value()));
  for (const auto& instance : config.plugins.instances) {
    if (auto limits = plugins.limits(instance.name)) {
      // What a plugin leaves out keeps the configured defaults.
      haveri::core::InstanceLimits declared;
      declared.channel_interval = std::chrono::milliseconds(
          limits->value("channel_interval_ms",
                        static_cast<std::int64_t>(config.outbox.default_channel_interval.count())));
      declared.per_second = limits->value("per_second", config.outbox.default_instance_per_second);
      declared.burst = limits->value("burst", declared.burst);
      incidents->set_limits(instance.name, declared);
    }
  }
  if (auto started = incidents->start(); !started) {
    spdlog::critical("store: cannot load the outbox: {}", started.error().message);
    incidents->stop();  // before the plugins its queued work may still call
    plugins.shutdown();
    return kExitRuntimeError;
  }

  haveri::http::HttpServer server(
      io, server_options(config.server),
      haveri::daemon::make_router(
          {plugins, *incidents, config.api.token, instance_names, &metrics}));
  metrics.before_scrape = [&server, &metrics] {
    const haveri::http::ServerStats stats = server.stats();
    metrics.http_connections_open.set(static_cast<double>(stats.open_connections));
    metrics.http_connections_refused.advance_to(stats.refused_busy_total);
    metrics.http_timeouts.advance_to(stats.timed_out_total);
  };
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", config.server.address, e.what());
    incidents->stop();  // before the plugins its queued work may still call
    plugins.shutdown();
    return kExitRuntimeError;
  }
  spdlog::info("haverid listening on http://{}:{}", config.server.address, server.port());
  const std::size_t instance_count = config.plugins.instances.size();
  const std::string ready_status =
      "ready: listening on " + config.server.address + ":" + std::to_string(server.port()) + ", " +
      std::to_string(instance_count) + " plugin instance" + (instance_count == 1 ? "" : "s");

  // SIGTERM/SIGINT: stop accepting, let the requests in flight be answered (bounded
  // by server.drain_timeout_seconds), then stop io; a second one ends the drain now.
  signals.add(SIGINT);
  signals.add(SIGTERM);
  bool draining = false;  // only touched by on_signal, which runs on the signals' strand
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& error, int signal_number) {
        if (error) {
          return;
        }
        signals.async_wait(on_signal);
        const char* name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
        if (signal_number == SIGHUP && draining) {
          spdlog::info("received SIGHUP while stopping: not reloading");
        } else if (signal_number == SIGHUP) {
          notifier.reloading("reloading the configuration");
          reload(options.config_path, *incidents, config);
          notifier.ready(ready_status);  // whatever came of it: the old config still runs
        } else if (draining) {
          spdlog::info("received {} again: ending the drain now", name);
          server.cut_drain();
        } else {
          draining = true;
          notifier.stopping("stopping: draining in-flight work");
          spdlog::info("received {}: draining (up to {}s)", name,
                       config.server.drain_timeout.count());
          server.drain(config.server.drain_timeout, [&io](haveri::http::DrainReport report) {
            spdlog::info("drained: {} request(s) finished, {} connection(s) cut", report.finished,
                         report.cut);
            io.stop();
          });
        }
      };
  signals.async_wait(on_signal);

  // The store is open, the outbox loaded, every plugin instance started and the port
  // listens: systemd may start what waits for us.
  notifier.ready(ready_status);
  std::optional<haveri::daemon::EventLoopWatchdog> watchdog;
  if (auto timeout = notifier.watchdog_timeout()) {
    watchdog.emplace(io, notifier, *timeout,
                     [&incidents](auto answer) { incidents->probe_liveness(std::move(answer)); });
    watchdog->start();
  }

  // An exception escaping a handler is a bug; log it and stop rather than
  // std::terminate from a pool thread.
  int exit_code = kExitOk;
  std::mutex exit_code_mutex;
  auto run_io = [&] {
    try {
      io.run();
    } catch (const std::exception& e) {
      spdlog::critical("unexpected exception on an io thread: {}", e.what());
      std::lock_guard lock(exit_code_mutex);
      exit_code = kExitRuntimeError;
      io.stop();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < kIoThreads; ++i) {
    pool.emplace_back(run_io);
  }
  run_io();
  for (auto& thread : pool) {
    thread.join();
  }

  // Nothing runs on `io` any more, and every request read was answered or cut by
  // the drain. The store writer commits every job it has queued (stop() refuses new
  // ones, so this is bounded; its calls into the plugin host only queue work on the
  // stopped io), then the plugin instances are destroyed, then (by scope) the server
  // and io.
  incidents->stop();
  plugins.shutdown();
  incidents.reset();
  spdlog::info("haverid stopped");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const char* env = std::getenv("HAVERI_CONFIG"); env != nullptr && *env != '\0') {
    options.config_path = env;
  } else {
    options.config_path = "/etc/haveri/haveri.yaml";
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      options.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      options.config_path = arg.substr(9);
    } else if (arg == "--check-config") {
      options.check_only = true;
    } else if (arg == "--version") {
      std::cout << "haverid " HAVERI_VERSION "\n";
      return kExitOk;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return kExitOk;
    } else {
      std::cerr << "haverid: unknown argument \"" << arg << "\"\n" << kUsage;
      return kExitUsage;
    }
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "haverid: fatal: " << e.what() << '\n';
    return kExitRuntimeError;
  }
}
