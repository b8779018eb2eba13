#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "http_server.hpp"

struct haveri_plugin_api;

namespace boost::asio {
class io_context;
}

namespace haveri::daemon {

// Plugin libraries or instances that cannot be used. Each problem names the
// instance (where the configuration has it), the file and the fix; what() is every
// problem, one per line.
class PluginLoadError : public std::runtime_error {
 public:
  explicit PluginLoadError(const std::string& problem);
  explicit PluginLoadError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// A dlopen()ed plugin library whose entry and ABI version were checked.
class PluginLibrary {
 public:
  // Throws PluginLoadError for a missing or unloadable file, a missing entry
  // symbol, a NULL table, a table too small, or another ABI major.
  static std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const haveri_plugin_api& api() const noexcept { return *api_; }
  const std::filesystem::path& file() const noexcept { return file_; }

 private:
  PluginLibrary(void* handle, const haveri_plugin_api* api, std::filesystem::path file)
      : handle_(handle), api_(api), file_(std::move(file)) {}
  void* handle_;                  // from dlopen; dlclose'd last
  const haveri_plugin_api* api_;  // static table inside the library
  std::filesystem::path file_;
};

// How the daemon dealt with one submitted inbound event.
enum class InboundVerdict {
  committed,    // durable, or deliberately not stored (chatter outside incidents)
  retry_later,  // could not be committed now: the platform should retry (503)
  refused,      // from an installation no organization claims: never stored (403)
};

// What the host does with a neutral inbound event a plugin submitted: `done` is
// called once with the verdict, from any thread.
using InboundHandler = std::function<void(const std::string& instance, nlohmann::json event,
                                          std::function<void(InboundVerdict)> done)>;

// The outcome of an outbound operation: {"v":1,"status":"ok"|"retryable"|"permanent",…}.
using OperationCallback = std::function<void(nlohmann::json result)>;

struct PluginHostOptions {
  std::filesystem::path directory;
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds operation_timeout{30000};
  // The host services of ABI 1.2, bounded per instance (the plugins.* config keys).
  std::size_t max_outbound_in_flight = 64;
  std::size_t max_outbound_response_bytes = std::size_t{8} * 1024 * 1024;
  std::size_t max_websockets = 4;
  std::size_t max_websocket_message_bytes = std::size_t{4} * 1024 * 1024;
  std::size_t max_timers = 1024;
  std::filesystem::path ca_file{};  // trusted besides the system's CAs; empty: none
};

// Loads plugin instances and is the host side of the C ABI for them, including
// the network and timer services of ABI 1.2 (outbound HTTP, WebSockets, timers,
// inbound deliveries outside HTTP).
//
// Threads: calls into one instance run on that instance's strand (never two at a
// time), the answers of its services too; the host API the plugins call is
// thread-safe; pending requests, operations and each instance's services live in
// lock-guarded tables.
class PluginHost {
 public:
  PluginHost(boost::asio::io_context& io, PluginHostOptions options, InboundHandler inbound);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads each instance's library (once per plugin) and creates the instance. Goes
  // on past an instance that cannot start, so that every problem is known, then
  // throws PluginLoadError with one problem per such instance:
  //   "<config file>:<line>:<column>: plugins.instances[1] (slack-main): cannot load …"
  // (`plugin instance "<name>": …` for an instance without a source). The instances
  // that did start stay until shutdown().
  void start(const std::vector<PluginInstanceConfig>& instances);

  bool has_instance(std::string_view name) const;

  // Whether instance `name` was created and started by start() and shutdown() has
  // not stopped it since: false for an unknown instance, one whose create failed
  // (start() threw before it), and every instance after shutdown(). Thread-safe,
  // also while start() or shutdown() runs (/readyz asks from the io threads).
  bool started(std::string_view name) const;

  // The limits instance `name` declared through describe_instance (ABI 1.1), as
  // validated at start: an object holding only the members that were in range —
  // "channel_interval_ms" (integer 0..600000), "per_second" (number, > 0 and
  // <= 10000), "burst" (integer 1..10000). nullopt for an unknown instance, a
  // plugin without describe_instance (ABI 1.0, or NULL), or a description that
  // declared no usable limit (each problem was logged at start).
  // Thread-safe once start() returned.
  std::optional<nlohmann::json> limits(std::string_view name) const;

  // The plugin instance `name` runs, as the config names it ("local", "slack"):
  // the platform half of an installation's identity. Empty for an unknown
  // instance. Thread-safe once start() returned.
  std::string platform(std::string_view name) const;

  // Hands an HTTP request under /hooks/<instance>/ to the instance. `sub_path` is
  // what follows /hooks/<instance>. The responder is called once: with the
  // plugin's response after its submitted events are durable, 503 if one failed,
  // 403 if one was refused (unclaimed installation), 504 if the plugin did not
  // answer in time, 404 for an unknown instance.
  void handle_request(const std::string& instance, const std::string& sub_path,
                      http::Request&& request, http::Responder responder);

  // Asks an instance to perform an operation. `done` is called once, from any
  // thread, with the plugin's result, or a synthesized "retryable" result on
  // timeout, or "permanent" if the instance is unknown or refused the call.
  void perform(const std::string& instance, const nlohmann::json& operation,
               OperationCallback done);

  // Stops every instance's services (closes its WebSockets, cancels its timers,
  // forgets its HTTP calls in flight so their late answers are dropped), then
  // destroys every instance and forgets pending requests (their connections close
  // unanswered; platforms retry) and operations. No plugin callback runs after it.
  // Call after the io_context stopped running (it may be stopped for good) and
  // nothing else calls perform(); destroy the PluginHost before the io_context.
  void shutdown();

  struct Impl;

 private:
  // Loads and creates one instance; throws PluginLoadError with its one problem.
  void start_instance(const PluginInstanceConfig& config);

  std::shared_ptr<Impl> impl_;
};

}  // namespace haveri::daemon
