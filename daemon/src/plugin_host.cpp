#include "plugin_host.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <haveri/plugin.h>

namespace haveri::daemon {

namespace asio = boost::asio;

namespace {

std::string_view view(haveri_str s) noexcept {
  return s.len == 0 || s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
}

// Shared data and the lock that guards it, reachable only through with().
template <class T>
class Guarded {
 public:
  template <class F>
  auto with(F&& f) {
    std::lock_guard lock(mutex_);
    return std::forward<F>(f)(value_);
  }

 private:
  std::mutex mutex_;
  T value_;
};

// The smallest table this host can use: ABI 1.0 ends with perform_operation.
constexpr std::size_t kMinimumPluginTableSize =
    offsetof(haveri_plugin_api, perform_operation) + sizeof(void*);

std::string list_plugins_in(const std::filesystem::path& directory) {
  std::string names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    const std::string file = entry.path().filename().string();
    const std::string prefix = "libhaveri_";
    if (file.starts_with(prefix) && file.ends_with(".so")) {
      names += (names.empty() ? "" : ", ") + file.substr(prefix.size(), file.size() - 13);
    }
  }
  return names.empty() ? "none" : names;
}

nlohmann::json operation_failure(const char* status, const std::string& error) {
  return {{"v", 1}, {"status", status}, {"error", error}};
}

// A description longer than this is not a few limits: ignored.
constexpr std::size_t kMaxDescriptionBytes = std::size_t{64} * 1024;

// One member of "limits": its name and whether a value is in range.
struct LimitRule {
  const char* name;
  const char* range;  // for the log: what would have been accepted
  bool (*accepts)(const nlohmann::json& value);
};

constexpr LimitRule kLimitRules[] = {
    {"channel_interval_ms", "an integer from 0 to 600000",
     [](const nlohmann::json& v) {
       return v.is_number_unsigned() && v.get<std::uint64_t>() <= 600000;
     }},
    {"per_second", "a number above 0 and at most 10000",
     [](const nlohmann::json& v) {
       return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0 &&
              v.get<double>() <= 10000;
     }},
    {"burst", "an integer from 1 to 10000",
     [](const nlohmann::json& v) {
       return v.is_number_unsigned() && v.get<std::uint64_t>() >= 1 &&
              v.get<std::uint64_t>() <= 10000;
     }},
};

// Reads what describe_instance returned into the limits the host will use. A
// plugin's mistake here is logged and costs it its limits, never its start.
std::optional<nlohmann::json> read_limits(const std::string& instance, haveri_str description) {
  if (description.ptr == nullptr && description.len > 0) {
    spdlog::warn("plugin {}: describe_instance returned a NULL pointer with a length; ignored",
                 instance);
    return std::nullopt;
  }
  const std::string_view text = view(description);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.size() > kMaxDescriptionBytes) {
    spdlog::warn("plugin {}: describe_instance returned {} bytes (at most {}); ignored", instance,
                 text.size(), kMaxDescriptionBytes);
    return std::nullopt;
  }
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    spdlog::warn(
        "plugin {}: describe_instance returned something that is not a JSON object "
        "(see describe_instance in haveri/plugin.h); ignored",
        instance);
    return std::nullopt;
  }
  if (const auto v = document.find("v");
      v != document.end() && !(v->is_number_unsigned() && v->get<std::uint64_t>() == 1)) {
    spdlog::warn(
        "plugin {}: describe_instance returned a document of version {} (this haverid "
        "reads v 1); ignored",
        instance, v->dump());
    return std::nullopt;
  }
  const auto limits = document.find("limits");
  if (limits == document.end()) {
    return std::nullopt;
  }
  if (!limits->is_object()) {
    spdlog::warn("plugin {}: describe_instance: \"limits\" must be an object, got {}; ignored",
                 instance, limits->dump());
    return std::nullopt;
  }
  nlohmann::json accepted = nlohmann::json::object();
  for (const LimitRule& rule : kLimitRules) {
    const auto value = limits->find(rule.name);
    if (value == limits->end()) {
      continue;
    }
    if (rule.accepts(*value)) {
      accepted[rule.name] = *value;
    } else {
      spdlog::warn("plugin {}: describe_instance: limits.{} must be {}, got {}; ignored", instance,
                   rule.name, rule.range, value->dump());
    }
  }
  if (accepted.empty()) {
    return std::nullopt;
  }
  return accepted;
}

}  // namespace

// ---------------------------------------------------------------------------
// PluginLibrary

std::shared_ptr<PluginLibrary> PluginLibrary::load(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw PluginLoadError(name + ": no such plugin library (plugins in " +
                          file.parent_path().string() + ": " + list_plugins_in(file.parent_path()) +
                          ")");
  }
  dlerror();
  void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw PluginLoadError(name + ": cannot load: " + (why != nullptr ? why : "unknown error"));
  }
  auto close_and_throw = [&](const std::string& message) {
    dlclose(handle);
    throw PluginLoadError(name + ": " + message);
  };
  void* symbol = dlsym(handle, HAVERI_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    close_and_throw("not a Haveri plugin: it does not export " HAVERI_PLUGIN_ENTRY_SYMBOL);
  }
  auto entry = reinterpret_cast<haveri_plugin_entry_fn>(symbol);
  const haveri_plugin_api* api = entry(HAVERI_ABI_VERSION_MAJOR, HAVERI_ABI_VERSION_MINOR);
  if (api == nullptr) {
    close_and_throw("the plugin refused this host's ABI " +
                    std::to_string(HAVERI_ABI_VERSION_MAJOR) + "." +
                    std::to_string(HAVERI_ABI_VERSION_MINOR) + " (its entry returned no table)");
  }
  if (api->abi_major != HAVERI_ABI_VERSION_MAJOR) {
    close_and_throw("built for plugin ABI " + std::to_string(api->abi_major) + "." +
                    std::to_string(api->abi_minor) + " but this haverid speaks ABI " +
                    std::to_string(HAVERI_ABI_VERSION_MAJOR) + ".x: rebuild the plugin against " +
                    "this haverid's plugins/sdk");
  }
  if (api->struct_size < kMinimumPluginTableSize) {
    close_and_throw("its API table is " + std::to_string(api->struct_size) +
                    " bytes, smaller than ABI " + std::to_string(HAVERI_ABI_VERSION_MAJOR) +
                    " requires (" + std::to_string(kMinimumPluginTableSize) + ")");
  }
  if (api->instance_create == nullptr || api->instance_destroy == nullptr ||
      api->handle_request == nullptr || api->perform_operation == nullptr) {
    close_and_throw("its API table has an empty function pointer");
  }
  return std::shared_ptr<PluginLibrary>(new PluginLibrary(handle, api, file));
}

PluginLibrary::~PluginLibrary() {
  dlclose(handle_);
}

// ---------------------------------------------------------------------------
// PluginHost::Impl

namespace {

struct PendingRequest {
  std::string instance;
  http::Responder responder;
  int outstanding_events = 0;
  bool commit_failed = false;
  bool refused = false;
  std::optional<http::Response> plugin_response;
};

struct PendingOperation {
  std::string instance;
  OperationCallback done;
};

}  // namespace

// What a haveri_host_instance* points to.
struct HostInstance {
  HostInstance(PluginHost::Impl* owner, std::string instance_name,
               std::shared_ptr<PluginLibrary> plugin_library,
               asio::strand<asio::io_context::executor_type> instance_strand)
      : host(owner),
        name(std::move(instance_name)),
        library(std::move(plugin_library)),
        strand(std::move(instance_strand)) {}

  PluginHost::Impl* host = nullptr;
  std::string name;
  std::string plugin;                    // the plugin's name in the config ("local")
  std::optional<nlohmann::json> limits;  // from describe_instance; set before publishing
  std::shared_ptr<PluginLibrary> library;
  haveri_plugin_instance* handle = nullptr;
  asio::strand<asio::io_context::executor_type> strand;
  std::atomic<bool> alive{false};
  Guarded<std::string> last_error;  // the last error the plugin logged, for start-up failures
};

struct PluginHost::Impl : std::enable_shared_from_this<PluginHost::Impl> {
  Impl(asio::io_context& io_context, PluginHostOptions opts, InboundHandler handler)
      : io(io_context), options(std::move(opts)), inbound(std::move(handler)) {}

  asio::io_context& io;
  PluginHostOptions options;
  InboundHandler inbound;
  haveri_host_api host_api{};
  std::map<std::string, std::shared_ptr<PluginLibrary>> libraries;  // by plugin name
  std::map<std::string, std::unique_ptr<HostInstance>, std::less<>> instances;
  std::atomic<std::uint64_t> next_id{1};
  Guarded<std::unordered_map<std::uint64_t, PendingRequest>> requests;
  Guarded<std::unordered_map<std::uint64_t, PendingOperation>> operations;

  HostInstance* find(std::string_view name) {
    auto it = instances.find(name);
    return it == instances.end() ? nullptr : it->second.get();
  }

  // Sends the response of a request once the plugin answered and every submitted
  // event is durable.
  void finish_if_ready(std::uint64_t request_id) {
    std::optional<std::pair<http::Responder, http::Response>> ready;
    requests.with([&](auto& table) {
      auto it = table.find(request_id);
      if (it == table.end() || !it->second.plugin_response || it->second.outstanding_events > 0) {
        return;
      }
      // A refusal wins: retrying a request from an unclaimed installation is pointless.
      http::Response response =
          it->second.refused
              ? http::Response::error(403, "this installation belongs to no organization")
          : it->second.commit_failed ? http::Response::error(503, "not stored; retry later")
                                     : std::move(*it->second.plugin_response);
      if (!it->second.refused && it->second.commit_failed) {
        response.headers.emplace_back("Retry-After", "1");
      }
      ready.emplace(std::move(it->second.responder), std::move(response));
      table.erase(it);
    });
    if (ready) {
      ready->first(std::move(ready->second));
    }
  }

  // Answers a request now, whatever its state (timeout, plugin failure).
  void abandon_request(std::uint64_t request_id, http::Response response) {
    std::optional<http::Responder> responder;
    requests.with([&](auto& table) {
      auto it = table.find(request_id);
      if (it != table.end()) {
        responder = std::move(it->second.responder);
        table.erase(it);
      }
    });
    if (responder) {
      (*responder)(std::move(response));
    }
  }

  void complete(std::uint64_t operation_id, nlohmann::json result) {
    std::optional<OperationCallback> done;
    operations.with([&](auto& table) {
      auto it = table.find(operation_id);
      if (it != table.end()) {
        done = std::move(it->second.done);
        table.erase(it);
      }
    });
    if (done) {
      // Never run the caller's continuation on the plugin's stack.
      asio::post(io, [done = std::move(*done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    }
  }
};

// ---------------------------------------------------------------------------
// The host API table handed to plugins. Each function is thread-safe.

namespace {

HostInstance* instance_of(haveri_host_instance* handle) {
  return reinterpret_cast<HostInstance*>(handle);
}

void log_from_plugin(haveri_host_instance* handle, int level, haveri_str message) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr) {
    return;
  }
  const std::string_view text = view(message);
  switch (level) {
    case HAVERI_LOG_DEBUG:
      spdlog::debug("plugin {}: {}", instance->name, text);
      break;
    case HAVERI_LOG_INFO:
      spdlog::info("plugin {}: {}", instance->name, text);
      break;
    case HAVERI_LOG_WARN:
      spdlog::warn("plugin {}: {}", instance->name, text);
      break;
    default:
      spdlog::error("plugin {}: {}", instance->name, text);
      instance->last_error.with([&](std::string& last) { last.assign(text); });
      break;
  }
}

haveri_status submit_inbound_from_plugin(haveri_host_instance* handle, std::uint64_t request_id,
                                         haveri_str event_json) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  nlohmann::json event = nlohmann::json::parse(view(event_json), nullptr, false);
  if (event.is_discarded() || !event.is_object() || !event.contains("type") ||
      !event["type"].is_string()) {
    spdlog::error("plugin {}: submitted an inbound event that is not a JSON object with a type",
                  instance->name);
    return HAVERI_ERR_INVALID;
  }
  // Refused here, so the plugin can fail the platform's request instead of the host
  // acknowledging an event it could not store without risking a double on a retry.
  if (const auto key = event.find("idempotency_key");
      key == event.end() || !key->is_string() || key->get_ref<const std::string&>().empty()) {
    spdlog::error("plugin {}: submitted a {} event without an idempotency_key; it is refused",
                  instance->name, event["type"].get<std::string>());
    return HAVERI_ERR_INVALID;
  }
  auto impl = instance->host->shared_from_this();
  const bool accepted = impl->requests.with([&](auto& table) {
    auto it = table.find(request_id);
    if (it == table.end() || it->second.instance != instance->name ||
        it->second.plugin_response.has_value()) {
      return false;
    }
    ++it->second.outstanding_events;
    return true;
  });
  if (!accepted) {
    return HAVERI_ERR_GONE;
  }
  std::weak_ptr<PluginHost::Impl> weak = impl;
  impl->inbound(instance->name, std::move(event), [weak, request_id](InboundVerdict verdict) {
    auto host = weak.lock();
    if (!host) {
      return;
    }
    host->requests.with([&](auto& table) {
      auto it = table.find(request_id);
      if (it != table.end()) {
        --it->second.outstanding_events;
        it->second.commit_failed =
            it->second.commit_failed || verdict == InboundVerdict::retry_later;
        it->second.refused = it->second.refused || verdict == InboundVerdict::refused;
      }
    });
    host->finish_if_ready(request_id);
  });
  return HAVERI_OK;
}

haveri_status respond_from_plugin(haveri_host_instance* handle, std::uint64_t request_id,
                                  std::uint16_t status, haveri_str content_type, haveri_str body) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  if (status < 200 || status > 599) {
    spdlog::error("plugin {}: responded with HTTP status {}; only 200-599 are allowed",
                  instance->name, status);
    return HAVERI_ERR_INVALID;
  }
  const std::string_view type = view(content_type);
  if (std::any_of(type.begin(), type.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    spdlog::error("plugin {}: responded with a content type holding control characters",
                  instance->name);
    return HAVERI_ERR_INVALID;
  }
  auto* impl = instance->host;
  const bool accepted = impl->requests.with([&](auto& table) {
    auto it = table.find(request_id);
    if (it == table.end() || it->second.instance != instance->name ||
        it->second.plugin_response.has_value()) {
      return false;
    }
    http::Response response;
    response.status = status;
    response.content_type = std::string(view(content_type));
    // These statuses carry no body in HTTP; Beast refuses to send one.
    if (status != 204 && status != 304) {
      response.body = std::string(view(body));
    }
    it->second.plugin_response = std::move(response);
    return true;
  });
  if (!accepted) {
    return HAVERI_ERR_GONE;
  }
  impl->finish_if_ready(request_id);
  return HAVERI_OK;
}

haveri_status complete_from_plugin(haveri_host_instance* handle, std::uint64_t operation_id,
                                   haveri_str result_json) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  nlohmann::json result = nlohmann::json::parse(view(result_json), nullptr, false);
  if (result.is_discarded() || !result.is_object() || !result.contains("status") ||
      !result["status"].is_string()) {
    spdlog::error("plugin {}: completed operation {} with a result that has no status",
                  instance->name, operation_id);
    return HAVERI_ERR_INVALID;
  }
  // Only the instance that was asked may complete an operation.
  const bool known = instance->host->operations.with([&](auto& table) {
    auto it = table.find(operation_id);
    return it != table.end() && it->second.instance == instance->name;
  });
  if (!known) {
    return HAVERI_ERR_GONE;
  }
  instance->host->complete(operation_id, std::move(result));
  return HAVERI_OK;
}

// The functions in the host table: nothing may unwind into a plugin's C frames.
template <class Body>
haveri_status no_exception(const char* what, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::exception& e) {
    spdlog::error("host API {}: {}", what, e.what());
  } catch (...) {
    spdlog::error("host API {}: unknown exception", what);
  }
  return HAVERI_ERR_INTERNAL;
}

void host_log(haveri_host_instance* handle, int level, haveri_str message) noexcept {
  no_exception("log", [&] {
    log_from_plugin(handle, level, message);
    return HAVERI_OK;
  });
}

haveri_status host_submit_inbound(haveri_host_instance* handle, std::uint64_t request_id,
                                  haveri_str event_json) noexcept {
  return no_exception("submit_inbound",
                      [&] { return submit_inbound_from_plugin(handle, request_id, event_json); });
}

haveri_status host_respond(haveri_host_instance* handle, std::uint64_t request_id,
                           std::uint16_t status, haveri_str content_type,
                           haveri_str body) noexcept {
  return no_exception("respond", [&] {
    return respond_from_plugin(handle, request_id, status, content_type, body);
  });
}

haveri_status host_complete_operation(haveri_host_instance* handle, std::uint64_t operation_id,
                                      haveri_str result_json) noexcept {
  return no_exception("complete_operation",
                      [&] { return complete_from_plugin(handle, operation_id, result_json); });
}

}  // namespace

// ---------------------------------------------------------------------------
// PluginHost

PluginHost::PluginHost(asio::io_context& io, PluginHostOptions options, InboundHandler inbound)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(inbound))) {
  impl_->host_api.struct_size = sizeof(haveri_host_api);
  impl_->host_api.log = &host_log;
  impl_->host_api.submit_inbound = &host_submit_inbound;
  impl_->host_api.respond = &host_respond;
  impl_->host_api.complete_operation = &host_complete_operation;
}

PluginHost::~PluginHost() {
  shutdown();
}

void PluginHost::start(const std::vector<PluginInstanceConfig>& instances) {
  for (const auto& config : instances) {
    const std::filesystem::path file =
        impl_->options.directory / ("libhaveri_" + config.plugin + ".so");
    auto& library = impl_->libraries[config.plugin];
    if (!library) {
      try {
        library = PluginLibrary::load(file);
      } catch (const PluginLoadError& e) {
        impl_->libraries.erase(config.plugin);
        throw PluginLoadError("plugin instance \"" + config.name + "\": " + e.what());
      }
    }
    auto instance = std::make_unique<HostInstance>(impl_.get(), config.name, library,
                                                   asio::make_strand(impl_->io));
    const std::string settings = config.settings.dump();
    haveri_plugin_instance* handle = nullptr;
    const haveri_status status = library->api().instance_create(
        &impl_->host_api, reinterpret_cast<haveri_host_instance*>(instance.get()),
        haveri_str{config.name.data(), config.name.size()},
        haveri_str{settings.data(), settings.size()}, &handle);
    if (status != HAVERI_OK || handle == nullptr) {
      std::string why = instance->last_error.with([](std::string& s) { return s; });
      throw PluginLoadError("plugin instance \"" + config.name + "\" (" + file.string() +
                            ") failed to start" + (why.empty() ? "" : ": " + why));
    }
    instance->handle = handle;
    instance->plugin = config.plugin;
    // Before the instance is published nothing else can call it, so this call is
    // serialised with every later one, as the ABI promises.
    const haveri_plugin_api& api = library->api();
    if (HAVERI_TABLE_HAS(haveri_plugin_api, &api, describe_instance) &&
        api.describe_instance != nullptr) {
      instance->limits = read_limits(config.name, api.describe_instance(handle));
    }
    instance->alive = true;
    spdlog::info("plugin instance {} started ({} {}, ABI {}.{}, limits: {})", config.name,
                 api.name != nullptr ? api.name : "?", api.version != nullptr ? api.version : "?",
                 api.abi_major, api.abi_minor,
                 instance->limits ? instance->limits->dump() : std::string("none declared"));
    impl_->instances.emplace(config.name, std::move(instance));
  }
}

bool PluginHost::has_instance(std::string_view name) const {
  return impl_->find(name) != nullptr;
}

std::optional<nlohmann::json> PluginHost::limits(std::string_view name) const {
  const HostInstance* instance = impl_->find(name);
  return instance == nullptr ? std::nullopt : instance->limits;
}

std::string PluginHost::platform(std::string_view name) const {
  const HostInstance* instance = impl_->find(name);
  return instance == nullptr ? std::string{} : instance->plugin;
}

void PluginHost::handle_request(const std::string& instance_name, const std::string& sub_path,
                                http::Request&& request, http::Responder responder) {
  HostInstance* instance = impl_->find(instance_name);
  if (instance == nullptr || !instance->alive) {
    responder(http::Response::error(404, "no plugin instance \"" + instance_name + "\""));
    return;
  }
  const std::uint64_t id = impl_->next_id.fetch_add(1);
  impl_->requests.with([&](auto& table) {
    table.emplace(id, PendingRequest{instance_name, std::move(responder), 0, false, false, {}});
  });

  auto timer = std::make_shared<asio::steady_timer>(impl_->io, impl_->options.request_timeout);
  std::weak_ptr<Impl> weak = impl_;
  timer->async_wait([weak, id, timer, instance_name](const boost::system::error_code& ec) {
    auto impl = weak.lock();
    if (ec || !impl) {
      return;
    }
    bool still_pending = impl->requests.with([&](auto& table) { return table.count(id) > 0; });
    if (still_pending) {
      spdlog::warn("plugin {}: request {} not answered in time; replied 504", instance_name, id);
      impl->abandon_request(id, http::Response::error(504, "the plugin did not answer in time"));
    }
  });

  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : request.headers) {
    headers[name] = value;
  }
  nlohmann::json described = {{"v", 1},
                              {"method", request.method},
                              {"path", sub_path.empty() ? "/" : sub_path},
                              {"query", request.query},
                              {"headers", std::move(headers)}};
  auto request_json = std::make_shared<std::string>(
      described.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto body = std::make_shared<std::string>(std::move(request.body));
  asio::post(instance->strand, [weak, instance, id, request_json, body] {
    auto impl = weak.lock();
    if (!impl) {
      return;
    }
    if (!instance->alive) {
      impl->abandon_request(id, http::Response::error(503, "shutting down"));
      return;
    }
    const haveri_status status = instance->library->api().handle_request(
        instance->handle, id, haveri_str{request_json->data(), request_json->size()},
        haveri_str{body->data(), body->size()});
    if (status != HAVERI_OK) {
      spdlog::error("plugin {}: handle_request failed with status {}", instance->name,
                    static_cast<int>(status));
      impl->abandon_request(id, http::Response::error(500, "the plugin failed"));
    }
  });
}

void PluginHost::perform(const std::string& instance_name, const nlohmann::json& operation,
                         OperationCallback done) {
  HostInstance* instance = impl_->find(instance_name);
  if (instance == nullptr || !instance->alive) {
    asio::post(impl_->io, [done = std::move(done), instance_name] {
      done(operation_failure("permanent", "no plugin instance \"" + instance_name + "\""));
    });
    return;
  }
  const std::uint64_t id = impl_->next_id.fetch_add(1);
  impl_->operations.with([&](auto& table) {
    table.emplace(id, PendingOperation{instance_name, std::move(done)});
  });

  auto timer = std::make_shared<asio::steady_timer>(impl_->io, impl_->options.operation_timeout);
  std::weak_ptr<Impl> weak = impl_;
  timer->async_wait([weak, id, timer](const boost::system::error_code& ec) {
    if (auto impl = weak.lock(); impl && !ec) {
      nlohmann::json timed_out =
          operation_failure("retryable", "the plugin did not complete in time");
      timed_out["retry_after_ms"] = 1000;
      impl->complete(id, std::move(timed_out));
    }
  });

  auto payload = std::make_shared<std::string>(
      operation.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  asio::post(instance->strand, [weak, instance, id, payload] {
    auto impl = weak.lock();
    if (!impl) {
      return;
    }
    if (!instance->alive) {
      impl->complete(id, operation_failure("retryable", "shutting down"));
      return;
    }
    const haveri_status status = instance->library->api().perform_operation(
        instance->handle, id, haveri_str{payload->data(), payload->size()});
    if (status != HAVERI_OK) {
      impl->complete(id, operation_failure("permanent", "the plugin refused the operation"));
    }
  });
}

void PluginHost::shutdown() {
  for (auto& [name, instance] : impl_->instances) {
    if (instance->alive.exchange(false) && instance->handle != nullptr) {
      instance->library->api().instance_destroy(instance->handle);
      instance->handle = nullptr;
      spdlog::info("plugin instance {} stopped", name);
    }
  }
  impl_->requests.with([](auto& table) { table.clear(); });
  impl_->operations.with([](auto& table) { table.clear(); });
}

}  // namespace haveri::daemon
