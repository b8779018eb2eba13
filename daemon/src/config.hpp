#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/core/directory.hpp>
#include <haveri/core/settings.hpp>
#include <haveri/policy/policy.hpp>

namespace haveri::daemon {

struct PluginsConfig;

// Every problem found in a configuration file, one per line, each naming the file,
// line, column and key: "config.yaml:12:3: server.prot: unknown key (allowed: …)".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems,
                       std::shared_ptr<const PluginsConfig> plugins = nullptr);
  const std::vector<std::string>& problems() const noexcept { return problems_; }
  // The plugins section as far as it is valid, so that `haverid --check-config` can
  // try to load the plugin instances although something else is wrong: its
  // plugins.directory and bounds, and only the instances read without a problem.
  // nullptr when the file could not be read or parsed, or plugins.directory is unusable.
  const std::shared_ptr<const PluginsConfig>& plugins() const noexcept { return plugins_; }

 private:
  std::vector<std::string> problems_;
  std::shared_ptr<const PluginsConfig> plugins_;
};

struct ServerConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8480;  // 0: any free port (logged at start)
  std::size_t body_limit_bytes = std::size_t{1024} * 1024;
  std::chrono::seconds header_timeout{10};  // request line and headers, from the first byte
  std::chrono::seconds body_timeout{30};    // the body, after the headers
  std::chrono::seconds idle_timeout{60};    // waiting for a request's first byte
  std::chrono::seconds write_timeout{30};   // a response the client does not read
  std::size_t max_connections = 256;
  std::chrono::seconds drain_timeout{10};  // SIGTERM: in-flight requests finish within it
  // "file:line:col: server.read_timeout_seconds: deprecated …", logged at start.
  std::vector<std::string> warnings;
};

struct StorageConfig {
  std::filesystem::path sqlite_path;  // absolute after loading
  std::string synchronous = "full";   // off | normal | full | extra
  std::size_t max_batch = 512;        // writer jobs committed in one transaction at most
};

struct ApiConfig {
  std::string token;  // bearer token for /api/v1; a secret, never logged
};

struct PluginInstanceConfig {
  std::string name;                                    // also the /hooks/<name>/ path segment
  std::string plugin;                                  // loads <directory>/libhaveri_<plugin>.so
  nlohmann::json settings = nlohmann::json::object();  // secrets resolved
  // Where it is written, as problems about it begin:
  // "<config file>:<line>:<column>: plugins.instances[<index>]". Empty when it was not
  // read from a file.
  std::string source{};
};

struct PluginsConfig {
  std::filesystem::path directory;  // absolute after loading
  std::chrono::seconds request_timeout{10};
  std::chrono::seconds operation_timeout{30};
  std::size_t max_queued_events = 10000;  // inbound events waiting to be stored
  // ABI 1.2 host services, bounds per instance.
  std::size_t max_outbound_in_flight = 64;                                 // HTTP calls at once
  std::size_t max_outbound_response_bytes = std::size_t{8} * 1024 * 1024;  // per response body
  std::size_t max_websockets = 4;                                          // open at once
  std::size_t max_websocket_message_bytes = std::size_t{4} * 1024 * 1024;  // either direction
  std::size_t max_timers = 1024;                                           // pending at once
  // Trusted in addition to the system's CAs for outbound HTTPS and wss; absolute
  // after loading; empty: system CAs only.
  std::filesystem::path ca_file;
  std::vector<PluginInstanceConfig> instances;
};

struct LoggingConfig {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
};

struct Config {
  std::filesystem::path source;  // the file it was read from
  ServerConfig server;
  StorageConfig storage;
  ApiConfig api;
  PluginsConfig plugins;
  LoggingConfig logging;
  // `directory.path`, absolute after loading; nullopt: no directory file, `directory`
  // is core::default_directory(<the instances of plugin "local">, else {"local"}).
  std::optional<std::filesystem::path> directory_file;
  // `directory.zoneinfo`: the tz database the directory's time zones are checked
  // against (again on reload); absolute after loading.
  std::filesystem::path zoneinfo = "/usr/share/zoneinfo";
  // Loaded and validated from `directory_file` by load_config (docs/directory.md).
  // A default-constructed Config has no organizations.
  core::Directory directory;
  core::IncidentSettings incidents;  // the `incidents:` section
  core::OutboxSettings outbox;       // the `outbox:` section
  // `policies.path`, absolute after loading; nullopt: no escalation policies (no
  // chain ever starts). Loaded and checked against `directory` (docs/policies.md).
  std::optional<std::filesystem::path> policies_path;
  policy::PolicySet policies;
  std::vector<std::string> policy_warnings;  // "file:line:col: warning: …"
  // `policies.tick_ms`: how often the escalation timer wheel is advanced.
  std::chrono::milliseconds escalation_tick{100};
};

// Reads and validates a configuration file.
//
// Every string value may contain ${VAR} or ${VAR:-default}, replaced from the
// environment; a key `<name>_file` is replaced by `<name>` holding the file's
// contents without the trailing newline (systemd credentials, Docker secrets).
// Relative paths are relative to the directory of the configuration file.
// The directory file named by `directory.path` is read and validated too; its
// problems are part of the ConfigError, each naming the directory file, line and
// column.
//
// Throws ConfigError listing every problem (unknown keys, wrong types, missing
// required keys, unset variables, unreadable secret files, an invalid directory);
// never returns a partly valid Config.
Config load_config(const std::filesystem::path& file);

}  // namespace haveri::daemon
