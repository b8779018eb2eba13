#include "plugin_host.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <haveri/plugin.h>

#include "logging.hpp"
#include "outbound_http.hpp"
#include "websocket_client.hpp"

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
    spdlog::warn("describe_instance returned a NULL pointer with a length; ignored{}",
                 LogFields().instance(instance));
    return std::nullopt;
  }
  const std::string_view text = view(description);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.size() > kMaxDescriptionBytes) {
    spdlog::warn("describe_instance returned {} bytes (at most {}); ignored{}", text.size(),
                 kMaxDescriptionBytes, LogFields().instance(instance));
    return std::nullopt;
  }
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    spdlog::warn(
        "describe_instance returned something that is not a JSON object "
        "(see describe_instance in haveri/plugin.h); ignored{}",
        LogFields().instance(instance));
    return std::nullopt;
  }
  if (const auto v = document.find("v");
      v != document.end() && !(v->is_number_unsigned() && v->get<std::uint64_t>() == 1)) {
    spdlog::warn(
        "describe_instance returned a document of version {} (this haverid reads v 1); "
        "ignored{}",
        v->dump(), LogFields().instance(instance));
    return std::nullopt;
  }
  const auto limits = document.find("limits");
  if (limits == document.end()) {
    return std::nullopt;
  }
  if (!limits->is_object()) {
    spdlog::warn("describe_instance: \"limits\" must be an object, got {}; ignored{}",
                 limits->dump(), LogFields().instance(instance));
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
      spdlog::warn("describe_instance: limits.{} must be {}, got {}; ignored{}", rule.name,
                   rule.range, value->dump(), LogFields().instance(instance));
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
    throw PluginLoadError(name + ": dlopen: " + (why != nullptr ? why : "unknown error"));
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

PluginLoadError::PluginLoadError(const std::string& problem)
    : std::runtime_error(problem), problems_{problem} {}

PluginLoadError::PluginLoadError(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string text;
        for (const auto& problem : problems) {
          text += (text.empty() ? "" : "\n") + problem;
        }
        return text;
      }()),
      problems_(std::move(problems)) {}

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

struct OpenSocket {
  std::shared_ptr<http::WebSocketClient> client;
  std::uint64_t generation = 0;  // tells this connection's events from an earlier one's
};

struct PendingTimer {
  std::unique_ptr<asio::steady_timer> timer;
  std::uint64_t generation = 0;  // a moved timer's old wait must not fire
};

// What one instance has in flight with the host services (ABI 1.2).
struct ServiceTables {
  bool stopped = false;  // once set, nothing is posted to the instance any more
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> http_calls;
  std::unordered_map<std::uint64_t, OpenSocket> sockets;
  std::unordered_map<std::uint64_t, PendingTimer> timers;
  std::uint64_t next_generation = 1;
};

}  // namespace

struct HostInstance;

// The services of one instance. Shared with the answers in flight (cpprestsdk
// threads, WebSocket strands), which find `stopped` set after shutdown and drop
// themselves; `instance` is only used while it is not.
struct InstanceServices {
  explicit InstanceServices(HostInstance* owner) : instance(owner) {}
  HostInstance* const instance;
  Guarded<ServiceTables> tables;
};

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
  std::shared_ptr<InstanceServices> services = std::make_shared<InstanceServices>(this);
};

struct PluginHost::Impl : std::enable_shared_from_this<PluginHost::Impl> {
  Impl(asio::io_context& io_context, PluginHostOptions opts, InboundHandler handler)
      : io(io_context),
        options(std::move(opts)),
        inbound(std::move(handler)),
        outbound(
            http::OutboundHttpOptions{.max_response_bytes = options.max_outbound_response_bytes,
                                      .ca_file = options.ca_file}) {}

  asio::io_context& io;
  PluginHostOptions options;
  InboundHandler inbound;
  http::OutboundHttp outbound;
  haveri_host_api host_api{};
  std::map<std::string, std::shared_ptr<PluginLibrary>> libraries;  // by plugin name
  std::map<std::string, std::unique_ptr<HostInstance>, std::less<>> instances;
  // Names of the instances started and not shut down: `instances` itself is only
  // safe to read once start() returned; this answers /readyz at any time.
  Guarded<std::set<std::string, std::less<>>> started;
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

  // Answers request `id` with 504 if it is still pending after request_timeout.
  void arm_request_timeout(std::uint64_t id, const std::string& instance_name) {
    auto timer = std::make_shared<asio::steady_timer>(io, options.request_timeout);
    std::weak_ptr<Impl> weak = weak_from_this();
    timer->async_wait([weak, id, timer, instance_name](const boost::system::error_code& ec) {
      auto impl = weak.lock();
      if (ec || !impl) {
        return;
      }
      bool still_pending = impl->requests.with([&](auto& table) { return table.count(id) > 0; });
      if (still_pending) {
        spdlog::warn("the plugin did not answer its request {} in time; replied 504{}", id,
                     LogFields().instance(instance_name));
        impl->abandon_request(id, http::Response::error(504, "the plugin did not answer in time"));
      }
    });
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
      spdlog::debug("{}: {}{}", instance->plugin, text, LogFields().instance(instance->name));
      break;
    case HAVERI_LOG_INFO:
      spdlog::info("{}: {}{}", instance->plugin, text, LogFields().instance(instance->name));
      break;
    case HAVERI_LOG_WARN:
      spdlog::warn("{}: {}{}", instance->plugin, text, LogFields().instance(instance->name));
      break;
    default:
      spdlog::error("{}: {}{}", instance->plugin, text, LogFields().instance(instance->name));
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
    spdlog::error("the plugin submitted an inbound event that is not a JSON object with a type{}",
                  LogFields().instance(instance->name));
    return HAVERI_ERR_INVALID;
  }
  // Refused here, so the plugin can fail the platform's request instead of the host
  // acknowledging an event it could not store without risking a double on a retry.
  if (const auto key = event.find("idempotency_key");
      key == event.end() || !key->is_string() || key->get_ref<const std::string&>().empty()) {
    spdlog::error("the plugin submitted a {} event without an idempotency_key; it is refused{}",
                  log_value(event["type"].get<std::string>()),
                  LogFields().instance(instance->name));
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
    spdlog::error("the plugin responded with HTTP status {}; only 200-599 are allowed{}", status,
                  LogFields().instance(instance->name));
    return HAVERI_ERR_INVALID;
  }
  const std::string_view type = view(content_type);
  if (std::any_of(type.begin(), type.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    spdlog::error("the plugin responded with a content type holding control characters{}",
                  LogFields().instance(instance->name));
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
    spdlog::error("the plugin completed operation {} with a result that has no status{}",
                  operation_id, LogFields().instance(instance->name));
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

// ---------------------------------------------------------------------------
// ABI 1.2: the host's network and timer services. Each answer is posted to the
// instance's strand and given to the plugin only while the instance is alive.

// Milliseconds a plugin may ask for: a request's whole exchange, a WebSocket's opening.
constexpr std::int64_t kMaxServiceTimeoutMs = 120000;
constexpr std::int64_t kDefaultServiceTimeoutMs = 10000;
constexpr std::uint64_t kMaxTimerDelayMs = 86400000;

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

bool has_line_break(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// What http_request and websocket_open read from their request_json.
struct ServiceRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{kDefaultServiceTimeoutMs};
  std::string proxy;
};

// Reads request_json; nullopt with `why` (for the log; never a header value).
std::optional<ServiceRequest> read_service_request(std::string_view text, bool with_method,
                                                   std::string& why) {
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    why = "request_json is not a JSON object";
    return std::nullopt;
  }
  ServiceRequest out;
  if (with_method) {
    const auto method = document.find("method");
    if (method == document.end() || !method->is_string() ||
        !is_token(method->get_ref<const std::string&>())) {
      why = "\"method\" must be an HTTP method such as \"POST\"";
      return std::nullopt;
    }
    out.method = method->get<std::string>();
  }
  const auto url = document.find("url");
  if (url == document.end() || !url->is_string()) {
    why = "\"url\" is required";
    return std::nullopt;
  }
  out.url = url->get<std::string>();
  if (const auto headers = document.find("headers"); headers != document.end()) {
    if (!headers->is_object()) {
      why = "\"headers\" must be an object of strings";
      return std::nullopt;
    }
    for (const auto& [name, value] : headers->items()) {
      if (!is_token(name) || !value.is_string() ||
          has_line_break(value.get_ref<const std::string&>())) {
        why = "header \"" + (is_token(name) ? name : std::string("?")) +
              "\" must be a token name with a one-line string value";
        return std::nullopt;
      }
      out.headers.emplace_back(name, value.get<std::string>());
    }
  }
  if (const auto timeout = document.find("timeout_ms"); timeout != document.end()) {
    if (!timeout->is_number_integer() || timeout->get<std::int64_t>() < 1 ||
        timeout->get<std::int64_t>() > kMaxServiceTimeoutMs) {
      why = "\"timeout_ms\" must be an integer from 1 to " + std::to_string(kMaxServiceTimeoutMs);
      return std::nullopt;
    }
    out.timeout = std::chrono::milliseconds(timeout->get<std::int64_t>());
  }
  if (const auto proxy = document.find("proxy"); proxy != document.end() && !proxy->is_null()) {
    if (!proxy->is_string()) {
      why = "\"proxy\" must be a URL such as \"http://proxy.example:3128\"";
      return std::nullopt;
    }
    out.proxy = proxy->get<std::string>();
  }
  return out;
}

// A path segment that may be a credential: long, with letters and digits mixed, as
// the token ending a Slack response_url or incoming-webhook URL. Ids of that shape
// (GUIDs, conversation ids) go too; the host and the short segments say enough.
bool token_like(std::string_view segment) {
  constexpr std::size_t kShortestToken = 20;
  const bool letters = std::any_of(segment.begin(), segment.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) != 0;
  });
  const bool digits = std::any_of(segment.begin(), segment.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  return segment.size() >= kShortestToken && letters && digits;
}

// The URL as it may be logged: no credentials in the authority, no query, no
// fragment, and no token-like path segment ("…" instead).
std::string url_for_log(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const std::size_t scheme_end = url.find("://");
  const std::size_t authority_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t authority_end = std::min(url.find('/', authority_start), url.size());
  const std::size_t at = url.substr(0, authority_end).rfind('@');
  const std::size_t host_start =
      at != std::string_view::npos && at >= authority_start ? at + 1 : authority_start;
  std::string logged(url.substr(0, authority_start));
  logged += url.substr(host_start, authority_end - host_start);
  std::string_view path = url.substr(authority_end);
  while (!path.empty()) {
    // Each round takes one "/segment".
    const std::size_t next = path.find('/', 1);
    const std::string_view piece = path.substr(0, next);
    logged += token_like(piece.substr(1)) ? std::string_view("/…") : piece;
    path = next == std::string_view::npos ? std::string_view{} : path.substr(next);
  }
  return logged;
}

// Whether the plugin's table has the callback `member` would answer through.
#define HAVERI_PLUGIN_RECEIVES(API, MEMBER) \
  (HAVERI_TABLE_HAS(haveri_plugin_api, &(API), MEMBER) && (API).MEMBER != nullptr)

// Runs `call(api, handle)` on the instance's strand, unless the services stopped or
// the instance is no longer alive by then. Call with `tables` locked (`stopped`
// checked): that is what keeps anything from being posted after shutdown.
template <class Call>
void post_to_plugin(HostInstance& instance, const std::shared_ptr<InstanceServices>& services,
                    Call&& call) {
  std::weak_ptr<PluginHost::Impl> weak = instance.host->weak_from_this();
  asio::post(instance.strand, [weak, services, call = std::forward<Call>(call)]() mutable {
    auto impl = weak.lock();
    const bool stopped = services->tables.with([](ServiceTables& t) { return t.stopped; });
    HostInstance* target = services->instance;
    if (!impl || stopped || !target->alive) {
      return;
    }
    call(target->library->api(), target->handle);
  });
}

haveri_status http_request_from_plugin(haveri_host_instance* handle, std::uint64_t call_id,
                                       haveri_str request_json, haveri_str body) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  if (!HAVERI_PLUGIN_RECEIVES(instance->library->api(), on_http_response)) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  std::string why;
  auto request = read_service_request(view(request_json), true, why);
  if (request) {
    why = http::OutboundHttp::check_url(request->url);
    if (why.empty() && !request->proxy.empty()) {
      if (std::string proxy_problem = http::OutboundHttp::check_url(request->proxy);
          !proxy_problem.empty()) {
        why = "proxy: " + proxy_problem;
      }
    }
  }
  if (!why.empty()) {
    spdlog::error("http_request {}: {}; refused{}", call_id, why,
                  LogFields().instance(instance->name));
    return HAVERI_ERR_INVALID;
  }
  auto services = instance->services;
  const std::size_t limit = instance->host->options.max_outbound_in_flight;
  const auto started = std::chrono::steady_clock::now();
  const haveri_status admitted = services->tables.with([&](ServiceTables& t) {
    if (t.stopped) {
      return HAVERI_ERR_GONE;
    }
    if (t.http_calls.count(call_id) > 0) {
      why = "call_id " + std::to_string(call_id) + " is in flight already";
      return HAVERI_ERR_INVALID;
    }
    if (t.http_calls.size() >= limit) {
      why = std::to_string(limit) +
            " calls are in flight already (plugins.max_outbound_in_flight); wait for an answer";
      return HAVERI_ERR_INVALID;
    }
    t.http_calls.emplace(call_id, started);
    return HAVERI_OK;
  });
  if (admitted != HAVERI_OK) {
    if (!why.empty()) {
      spdlog::error("http_request {}: {}; refused{}", call_id, why,
                    LogFields().instance(instance->name));
    }
    return admitted;
  }
  const std::string summary = request->method + " " + url_for_log(request->url);
  http::OutboundRequest outbound{
      std::move(request->method), std::move(request->url), std::move(request->headers),
      std::string(view(body)),    request->timeout,        std::move(request->proxy)};
  instance->host->outbound.send(
      std::move(outbound),
      [services, call_id, summary, name = instance->name](http::OutboundResponse response) mutable {
        services->tables.with([&](ServiceTables& t) {
          const auto call = t.http_calls.find(call_id);
          if (t.stopped || call == t.http_calls.end()) {
            return;
          }
          const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - call->second);
          t.http_calls.erase(call);
          nlohmann::json answer = {{"v", 1}, {"status", response.status}};
          if (response.status == 0) {
            spdlog::debug("outbound {} -> failed in {} ms: {}{}", summary, elapsed.count(),
                          response.error, LogFields().instance(name));
            answer["error"] = std::move(response.error);
            response.body.clear();
          } else {
            spdlog::debug("outbound {} -> {} in {} ms{}", summary, response.status, elapsed.count(),
                          LogFields().instance(name));
            nlohmann::json headers = nlohmann::json::object();
            for (auto& [header, value] : response.headers) {
              headers[header] = std::move(value);
            }
            answer["headers"] = std::move(headers);
          }
          auto text = std::make_shared<std::string>(
              answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          auto bytes = std::make_shared<std::string>(std::move(response.body));
          post_to_plugin(
              *services->instance, services,
              [call_id, text, bytes](const haveri_plugin_api& api, haveri_plugin_instance* plugin) {
                api.on_http_response(plugin, call_id, haveri_str{text->data(), text->size()},
                                     haveri_str{bytes->data(), bytes->size()});
              });
        });
      });
  return HAVERI_OK;
}

// Hands one WebSocket event to the plugin. A CLOSED frees the socket_id as it is
// delivered, so the plugin cannot reuse the id before it heard the end.
void post_websocket_event(const std::weak_ptr<InstanceServices>& weak_services,
                          std::uint64_t socket_id, std::uint64_t generation, int event,
                          std::string data) {
  auto services = weak_services.lock();
  if (!services) {
    return;
  }
  services->tables.with([&](ServiceTables& t) {
    const auto socket = t.sockets.find(socket_id);
    if (t.stopped || socket == t.sockets.end() || socket->second.generation != generation) {
      return;
    }
    auto payload = std::make_shared<std::string>(std::move(data));
    post_to_plugin(*services->instance, services,
                   [services, socket_id, generation, event, payload](
                       const haveri_plugin_api& api, haveri_plugin_instance* plugin) {
                     if (event == HAVERI_WS_CLOSED) {
                       services->tables.with([&](ServiceTables& tables) {
                         const auto it = tables.sockets.find(socket_id);
                         if (it != tables.sockets.end() && it->second.generation == generation) {
                           tables.sockets.erase(it);
                         }
                       });
                     }
                     api.on_websocket_event(plugin, socket_id, event,
                                            haveri_str{payload->data(), payload->size()});
                   });
  });
}

haveri_status websocket_open_from_plugin(haveri_host_instance* handle, std::uint64_t socket_id,
                                         haveri_str request_json) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  if (!HAVERI_PLUGIN_RECEIVES(instance->library->api(), on_websocket_event)) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  std::string why;
  auto request = read_service_request(view(request_json), false, why);
  if (request) {
    why = http::WebSocketClient::check_url(request->url);
  }
  if (!why.empty()) {
    spdlog::error("websocket_open {}: {}; refused{}", socket_id, why,
                  LogFields().instance(instance->name));
    return HAVERI_ERR_INVALID;
  }
  PluginHost::Impl& host = *instance->host;
  auto services = instance->services;
  const haveri_status opened = services->tables.with([&](ServiceTables& t) {
    if (t.stopped) {
      return HAVERI_ERR_GONE;
    }
    if (t.sockets.count(socket_id) > 0) {
      why = "socket_id " + std::to_string(socket_id) + " is open already";
      return HAVERI_ERR_INVALID;
    }
    if (t.sockets.size() >= host.options.max_websockets) {
      why = std::to_string(host.options.max_websockets) +
            " WebSockets are open already (plugins.max_websockets)";
      return HAVERI_ERR_INVALID;
    }
    const std::uint64_t generation = t.next_generation++;
    std::weak_ptr<InstanceServices> weak = services;
    http::WebSocketEvents events;
    events.opened = [weak, socket_id, generation] {
      post_websocket_event(weak, socket_id, generation, HAVERI_WS_OPENED, {});
    };
    events.message = [weak, socket_id, generation](std::string text) {
      post_websocket_event(weak, socket_id, generation, HAVERI_WS_MESSAGE, std::move(text));
    };
    events.closed = [weak, socket_id, generation, name = instance->name](
                        unsigned code, std::string reason, std::string error) {
      nlohmann::json closed = {{"code", code}};
      if (error.empty()) {
        closed["reason"] = std::move(reason);
      } else {
        spdlog::debug("WebSocket {} closed: {}{}", socket_id, error, LogFields().instance(name));
        closed["error"] = std::move(error);
      }
      post_websocket_event(weak, socket_id, generation, HAVERI_WS_CLOSED,
                           closed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    };
    http::WebSocketOptions options;
    options.url = std::move(request->url);
    options.headers = std::move(request->headers);
    options.timeout = request->timeout;
    options.proxy = std::move(request->proxy);
    options.max_message_bytes = host.options.max_websocket_message_bytes;
    options.ca_file = host.options.ca_file;
    // Opened with the table locked: its events wait for the entry they look up.
    t.sockets.emplace(socket_id, OpenSocket{http::WebSocketClient::open(host.io, std::move(options),
                                                                        std::move(events)),
                                            generation});
    return HAVERI_OK;
  });
  if (opened == HAVERI_ERR_INVALID) {
    spdlog::error("websocket_open {}: {}; refused{}", socket_id, why,
                  LogFields().instance(instance->name));
  }
  return opened;
}

std::shared_ptr<http::WebSocketClient> socket_of(HostInstance& instance, std::uint64_t socket_id) {
  return instance.services->tables.with([&](ServiceTables& t) {
    const auto it = t.sockets.find(socket_id);
    return t.stopped || it == t.sockets.end() ? nullptr : it->second.client;
  });
}

haveri_status websocket_send_from_plugin(haveri_host_instance* handle, std::uint64_t socket_id,
                                         haveri_str text) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  auto client = socket_of(*instance, socket_id);
  if (!client) {
    return HAVERI_ERR_GONE;
  }
  switch (client->send(std::string(view(text)))) {
    case http::WebSocketClient::SendResult::queued:
      return HAVERI_OK;
    case http::WebSocketClient::SendResult::closed:
      return HAVERI_ERR_GONE;
    case http::WebSocketClient::SendResult::too_large:
      spdlog::error(
          "websocket_send {}: {} bytes is over plugins.max_websocket_message_bytes ({}); "
          "refused{}",
          socket_id, text.len, instance->host->options.max_websocket_message_bytes,
          LogFields().instance(instance->name));
      return HAVERI_ERR_INVALID;
    case http::WebSocketClient::SendResult::queue_full:
      spdlog::error("websocket_send {}: too many messages wait to be sent; refused{}", socket_id,
                    LogFields().instance(instance->name));
      return HAVERI_ERR_INVALID;
  }
  return HAVERI_ERR_INTERNAL;
}

haveri_status websocket_close_from_plugin(haveri_host_instance* handle, std::uint64_t socket_id) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  auto client = socket_of(*instance, socket_id);
  return client && client->close() ? HAVERI_OK : HAVERI_ERR_GONE;
}

haveri_status set_timer_from_plugin(haveri_host_instance* handle, std::uint64_t timer_id,
                                    std::uint64_t delay_ms) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  if (!HAVERI_PLUGIN_RECEIVES(instance->library->api(), on_timer)) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  if (delay_ms > kMaxTimerDelayMs) {
    spdlog::error("set_timer {}: a delay of {} ms is over a day ({} ms); refused{}", timer_id,
                  delay_ms, kMaxTimerDelayMs, LogFields().instance(instance->name));
    return HAVERI_ERR_INVALID;
  }
  const std::size_t limit = instance->host->options.max_timers;
  auto services = instance->services;
  const haveri_status set = services->tables.with([&](ServiceTables& t) {
    if (t.stopped) {
      return HAVERI_ERR_GONE;
    }
    auto existing = t.timers.find(timer_id);
    if (existing != t.timers.end()) {
      existing->second.timer->cancel();
    } else if (t.timers.size() >= limit) {
      return HAVERI_ERR_INVALID;
    }
    const std::uint64_t generation = t.next_generation++;
    auto timer =
        std::make_unique<asio::steady_timer>(instance->strand, std::chrono::milliseconds(delay_ms));
    std::weak_ptr<PluginHost::Impl> weak_host = instance->host->weak_from_this();
    std::weak_ptr<InstanceServices> weak_services = services;
    // Completes on the instance's strand: the plugin is called from here directly.
    timer->async_wait([weak_host, weak_services, timer_id,
                       generation](const boost::system::error_code& ec) {
      auto host = weak_host.lock();
      auto owner = weak_services.lock();
      if (ec || !host || !owner) {
        return;
      }
      const bool due = owner->tables.with([&](ServiceTables& tables) {
        const auto it = tables.timers.find(timer_id);
        if (tables.stopped || it == tables.timers.end() || it->second.generation != generation) {
          return false;
        }
        tables.timers.erase(it);
        return true;
      });
      HostInstance* target = owner->instance;
      if (due && target->alive) {
        target->library->api().on_timer(target->handle, timer_id);
      }
    });
    t.timers[timer_id] = PendingTimer{std::move(timer), generation};
    return HAVERI_OK;
  });
  if (set == HAVERI_ERR_INVALID) {
    spdlog::error("set_timer {}: {} timers are pending already (plugins.max_timers){}", timer_id,
                  limit, LogFields().instance(instance->name));
  }
  return set;
}

haveri_status cancel_timer_from_plugin(haveri_host_instance* handle, std::uint64_t timer_id) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  return instance->services->tables.with([&](ServiceTables& t) {
    const auto it = t.timers.find(timer_id);
    if (t.stopped || it == t.timers.end()) {
      return HAVERI_ERR_GONE;
    }
    it->second.timer->cancel();
    t.timers.erase(it);
    return HAVERI_OK;
  });
}

haveri_status begin_inbound_from_plugin(haveri_host_instance* handle,
                                        std::uint64_t* out_inbound_id) {
  HostInstance* instance = instance_of(handle);
  if (instance == nullptr || instance->host == nullptr || out_inbound_id == nullptr) {
    return HAVERI_ERR_INVALID;
  }
  if (!HAVERI_PLUGIN_RECEIVES(instance->library->api(), on_inbound_settled)) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  auto services = instance->services;
  if (services->tables.with([](ServiceTables& t) { return t.stopped; })) {
    return HAVERI_ERR_GONE;
  }
  PluginHost::Impl& host = *instance->host;
  const std::uint64_t id = host.next_id.fetch_add(1);
  // Settles like an HTTP request is answered: the status of the response the
  // request machinery would send goes to the plugin instead.
  http::Responder settle = [services, id](const http::Response& response) {
    const auto status = static_cast<std::uint16_t>(response.status);
    services->tables.with([&](ServiceTables& t) {
      if (t.stopped) {
        return;
      }
      post_to_plugin(*services->instance, services,
                     [id, status](const haveri_plugin_api& api, haveri_plugin_instance* plugin) {
                       api.on_inbound_settled(plugin, id, status);
                     });
    });
  };
  host.requests.with([&](auto& table) {
    table.emplace(id, PendingRequest{instance->name, std::move(settle), 0, false, false, {}});
  });
  host.arm_request_timeout(id, instance->name);
  *out_inbound_id = id;
  return HAVERI_OK;
}

// Closes an instance's sockets, cancels its timers and forgets its HTTP calls;
// whatever answer is still on its way finds `stopped` and is dropped.
void stop_services(InstanceServices& services) {
  std::vector<std::shared_ptr<http::WebSocketClient>> sockets;
  std::unordered_map<std::uint64_t, PendingTimer> timers;
  services.tables.with([&](ServiceTables& t) {
    t.stopped = true;
    t.http_calls.clear();
    for (auto& [id, socket] : t.sockets) {
      sockets.push_back(std::move(socket.client));
    }
    t.sockets.clear();
    timers.swap(t.timers);
  });
  // Outside the lock: a socket's events take it, and abort() waits for them.
  for (auto& socket : sockets) {
    socket->abort();
  }
  for (auto& [id, pending] : timers) {
    pending.timer->cancel();
  }
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

haveri_status host_http_request(haveri_host_instance* handle, std::uint64_t call_id,
                                haveri_str request_json, haveri_str body) noexcept {
  return no_exception("http_request", [&] {
    return http_request_from_plugin(handle, call_id, request_json, body);
  });
}

haveri_status host_websocket_open(haveri_host_instance* handle, std::uint64_t socket_id,
                                  haveri_str request_json) noexcept {
  return no_exception("websocket_open",
                      [&] { return websocket_open_from_plugin(handle, socket_id, request_json); });
}

haveri_status host_websocket_send(haveri_host_instance* handle, std::uint64_t socket_id,
                                  haveri_str text) noexcept {
  return no_exception("websocket_send",
                      [&] { return websocket_send_from_plugin(handle, socket_id, text); });
}

haveri_status host_websocket_close(haveri_host_instance* handle, std::uint64_t socket_id) noexcept {
  return no_exception("websocket_close",
                      [&] { return websocket_close_from_plugin(handle, socket_id); });
}

haveri_status host_set_timer(haveri_host_instance* handle, std::uint64_t timer_id,
                             std::uint64_t delay_ms) noexcept {
  return no_exception("set_timer",
                      [&] { return set_timer_from_plugin(handle, timer_id, delay_ms); });
}

haveri_status host_cancel_timer(haveri_host_instance* handle, std::uint64_t timer_id) noexcept {
  return no_exception("cancel_timer", [&] { return cancel_timer_from_plugin(handle, timer_id); });
}

haveri_status host_begin_inbound(haveri_host_instance* handle,
                                 std::uint64_t* out_inbound_id) noexcept {
  return no_exception("begin_inbound",
                      [&] { return begin_inbound_from_plugin(handle, out_inbound_id); });
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
  impl_->host_api.http_request = &host_http_request;
  impl_->host_api.websocket_open = &host_websocket_open;
  impl_->host_api.websocket_send = &host_websocket_send;
  impl_->host_api.websocket_close = &host_websocket_close;
  impl_->host_api.set_timer = &host_set_timer;
  impl_->host_api.cancel_timer = &host_cancel_timer;
  impl_->host_api.begin_inbound = &host_begin_inbound;
}

PluginHost::~PluginHost() {
  shutdown();
}

void PluginHost::start(const std::vector<PluginInstanceConfig>& instances) {
  std::vector<std::string> problems;
  for (const auto& config : instances) {
    try {
      start_instance(config);
    } catch (const PluginLoadError& e) {
      const std::string where = config.source.empty() ? "plugin instance \"" + config.name + "\""
                                                      : config.source + " (" + config.name + ")";
      for (const auto& problem : e.problems()) {
        problems.push_back(where + ": " + problem);
      }
    }
  }
  if (!problems.empty()) {
    throw PluginLoadError(std::move(problems));
  }
}

void PluginHost::start_instance(const PluginInstanceConfig& config) {
  if (impl_->instances.count(config.name) > 0) {
    throw PluginLoadError("an instance of this name is running already");
  }
  const std::filesystem::path file =
      impl_->options.directory / ("libhaveri_" + config.plugin + ".so");
  auto& library = impl_->libraries[config.plugin];
  if (!library) {
    try {
      library = PluginLibrary::load(file);
    } catch (const PluginLoadError& e) {
      impl_->libraries.erase(config.plugin);
      throw PluginLoadError(std::string("cannot load ") + e.what());
    }
  }
  {
    auto instance = std::make_unique<HostInstance>(impl_.get(), config.name, library,
                                                   asio::make_strand(impl_->io));
    // Named before instance_create: what the plugin logs from it says which plugin.
    instance->plugin = config.plugin;
    const std::string settings = config.settings.dump();
    haveri_plugin_instance* handle = nullptr;
    const haveri_status status = library->api().instance_create(
        &impl_->host_api, reinterpret_cast<haveri_host_instance*>(instance.get()),
        haveri_str{config.name.data(), config.name.size()},
        haveri_str{settings.data(), settings.size()}, &handle);
    if (status != HAVERI_OK || handle == nullptr) {
      std::string why = instance->last_error.with([](std::string& s) { return s; });
      throw PluginLoadError("failed to start (" + file.string() + ")" +
                            (why.empty() ? ": the plugin logged no error" : ": " + why));
    }
    instance->handle = handle;
    // Before the instance is published nothing else can call it, so this call is
    // serialised with every later one, as the ABI promises.
    const haveri_plugin_api& api = library->api();
    if (HAVERI_TABLE_HAS(haveri_plugin_api, &api, describe_instance) &&
        api.describe_instance != nullptr) {
      instance->limits = read_limits(config.name, api.describe_instance(handle));
    }
    instance->alive = true;
    spdlog::info("plugin instance started ({} {}, ABI {}.{}, limits: {}){}",
                 api.name != nullptr ? api.name : "?", api.version != nullptr ? api.version : "?",
                 api.abi_major, api.abi_minor,
                 instance->limits ? instance->limits->dump() : std::string("none declared"),
                 LogFields().instance(config.name));
    impl_->instances.emplace(config.name, std::move(instance));
    impl_->started.with([&](auto& names) { names.insert(config.name); });
  }
}

bool PluginHost::has_instance(std::string_view name) const {
  return impl_->find(name) != nullptr;
}

bool PluginHost::started(std::string_view name) const {
  return impl_->started.with([name](const auto& names) { return names.contains(name); });
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
  impl_->arm_request_timeout(id, instance_name);
  std::weak_ptr<Impl> weak = impl_;

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
      spdlog::error("the plugin's handle_request failed with status {}{}", static_cast<int>(status),
                    LogFields().instance(instance->name));
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
  impl_->started.with([](auto& names) { names.clear(); });
  // Services first: no answer may reach an instance that is being destroyed.
  for (auto& [name, instance] : impl_->instances) {
    stop_services(*instance->services);
  }
  for (auto& [name, instance] : impl_->instances) {
    if (instance->alive.exchange(false) && instance->handle != nullptr) {
      instance->library->api().instance_destroy(instance->handle);
      instance->handle = nullptr;
      spdlog::info("plugin instance stopped{}", LogFields().instance(name));
    }
  }
  impl_->requests.with([](auto& table) { table.clear(); });
  impl_->operations.with([](auto& table) { table.clear(); });
}

}  // namespace haveri::daemon
