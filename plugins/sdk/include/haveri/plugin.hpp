// Header-only C++ helper over the C ABI in <haveri/plugin.h>.
//
// A plugin written in C++ implements a class with
//
//   static std::unique_ptr<T> create(haveri::sdk::Host host, std::string_view instance_name,
//                                    std::string_view config_json);   // throws on bad config
//   void handle_request(std::uint64_t request_id, std::string_view request_json,
//                       std::string_view body);
//   void perform_operation(std::uint64_t operation_id, std::string_view operation_json);
//
// and, optionally (ABI 1.1),
//
//   std::string describe();   // {"v":1,"limits":{...}} — see describe_instance in plugin.h
//
// and, optionally (ABI 1.2: answers to the host's network and timer services),
//
//   void on_http_response(std::uint64_t call_id, std::string_view response_json,
//                         std::string_view body);
//   void on_websocket_event(std::uint64_t socket_id, int event, std::string_view data);
//   void on_timer(std::uint64_t timer_id);
//   void on_inbound_settled(std::uint64_t inbound_id, std::uint16_t status);
//
// Each member the class lacks is a NULL entry in the table. An exception from one is
// logged and swallowed (these return nothing to the host).
//
// and exports the table with HAVERI_DEFINE_PLUGIN(T, "name", "version"). Every call
// into the class is wrapped so that no exception ever crosses the ABI: an exception
// is logged through the host and turned into HAVERI_ERR_INTERNAL (for describe: an
// empty description, which the host reads as "nothing to declare"). A class without
// describe() gets a NULL describe_instance.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <haveri/plugin.h>

namespace haveri::sdk {

inline std::string_view view(haveri_str s) noexcept {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}

inline haveri_str borrow(std::string_view s) noexcept {
  return haveri_str{s.data(), s.size()};
}

// The host side of one instance: a thin, copyable view over the host table.
// Thread-safe because every host function is.
class Host {
 public:
  Host(const haveri_host_api* api, haveri_host_instance* instance) noexcept
      : api_(api), instance_(instance) {}

  void log(haveri_log_level level, std::string_view message) const noexcept {
    api_->log(instance_, level, borrow(message));
  }
  haveri_status submit_inbound(std::uint64_t request_id, std::string_view event_json) const {
    return api_->submit_inbound(instance_, request_id, borrow(event_json));
  }
  haveri_status respond(std::uint64_t request_id, std::uint16_t status,
                        std::string_view content_type, std::string_view body) const {
    return api_->respond(instance_, request_id, status, borrow(content_type), borrow(body));
  }
  haveri_status complete_operation(std::uint64_t operation_id, std::string_view result_json) const {
    return api_->complete_operation(instance_, operation_id, borrow(result_json));
  }

  // ABI 1.2. Whether the host offers its network and timer services at all (a 1.1
  // host does not); the functions below return HAVERI_ERR_UNSUPPORTED otherwise.
  bool offers_services() const noexcept {
    return HAVERI_TABLE_HAS(haveri_host_api, api_, begin_inbound);
  }
  haveri_status http_request(std::uint64_t call_id, std::string_view request_json,
                             std::string_view body) const {
    return offers_services()
               ? api_->http_request(instance_, call_id, borrow(request_json), borrow(body))
               : HAVERI_ERR_UNSUPPORTED;
  }
  haveri_status websocket_open(std::uint64_t socket_id, std::string_view request_json) const {
    return offers_services() ? api_->websocket_open(instance_, socket_id, borrow(request_json))
                             : HAVERI_ERR_UNSUPPORTED;
  }
  haveri_status websocket_send(std::uint64_t socket_id, std::string_view text) const {
    return offers_services() ? api_->websocket_send(instance_, socket_id, borrow(text))
                             : HAVERI_ERR_UNSUPPORTED;
  }
  haveri_status websocket_close(std::uint64_t socket_id) const {
    return offers_services() ? api_->websocket_close(instance_, socket_id) : HAVERI_ERR_UNSUPPORTED;
  }
  haveri_status set_timer(std::uint64_t timer_id, std::uint64_t delay_ms) const {
    return offers_services() ? api_->set_timer(instance_, timer_id, delay_ms)
                             : HAVERI_ERR_UNSUPPORTED;
  }
  haveri_status cancel_timer(std::uint64_t timer_id) const {
    return offers_services() ? api_->cancel_timer(instance_, timer_id) : HAVERI_ERR_UNSUPPORTED;
  }
  // On HAVERI_OK, `inbound_id` holds the new delivery's id.
  haveri_status begin_inbound(std::uint64_t& inbound_id) const {
    return offers_services() ? api_->begin_inbound(instance_, &inbound_id) : HAVERI_ERR_UNSUPPORTED;
  }

 private:
  const haveri_host_api* api_;
  haveri_host_instance* instance_;
};

// Runs `body`, turning any exception into a logged HAVERI_ERR_INTERNAL.
template <class Body>
haveri_status guarded(const Host& host, std::string_view what, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
    return HAVERI_OK;
  } catch (const std::exception& e) {
    try {
      host.log(HAVERI_LOG_ERROR, std::string(what) + ": " + e.what());
    } catch (...) {  // NOLINT(bugprone-empty-catch): logging itself ran out of memory
    }
    return HAVERI_ERR_INTERNAL;
  } catch (...) {
    host.log(HAVERI_LOG_ERROR, std::string_view("unknown exception"));
    return HAVERI_ERR_INTERNAL;
  }
}

// Whether plugin class T describes its instances (ABI 1.1, describe_instance): it
// has a describe() whose result makes a std::string. (A trait, not a concept, so
// the helper still builds as C++17.)
template <class T, class = void>
struct DescribesInstance : std::false_type {};
template <class T>
struct DescribesInstance<T, std::void_t<decltype(std::string(std::declval<T&>().describe()))>>
    : std::true_type {};

// ABI 1.2 callbacks a plugin class may have (see the top of this file).
template <class T, class = void>
struct ReceivesHttpResponses : std::false_type {};
template <class T>
struct ReceivesHttpResponses<T, std::void_t<decltype(std::declval<T&>().on_http_response(
                                    std::uint64_t{}, std::string_view{}, std::string_view{}))>>
    : std::true_type {};
template <class T, class = void>
struct ReceivesWebSocketEvents : std::false_type {};
template <class T>
struct ReceivesWebSocketEvents<T, std::void_t<decltype(std::declval<T&>().on_websocket_event(
                                      std::uint64_t{}, int{}, std::string_view{}))>>
    : std::true_type {};
template <class T, class = void>
struct ReceivesTimers : std::false_type {};
template <class T>
struct ReceivesTimers<T, std::void_t<decltype(std::declval<T&>().on_timer(std::uint64_t{}))>>
    : std::true_type {};
template <class T, class = void>
struct ReceivesInboundSettlements : std::false_type {};
template <class T>
struct ReceivesInboundSettlements<T, std::void_t<decltype(std::declval<T&>().on_inbound_settled(
                                         std::uint64_t{}, std::uint16_t{}))>> : std::true_type {};

// Generates the C function table for plugin class T.
template <class T>
struct PluginTable {
  // The opaque instance handle is a heap object holding the host view and T.
  struct Box {
    Box(Host h, std::unique_ptr<T> p) noexcept : host(h), plugin(std::move(p)) {}
    Host host;
    std::unique_ptr<T> plugin;
    std::string description;  // what describe_instance returned; lives as long as the box
  };

  using DescribeFn = haveri_str (*)(haveri_plugin_instance*);

  static haveri_status instance_create(const haveri_host_api* api,
                                       haveri_host_instance* host_instance,
                                       haveri_str instance_name, haveri_str config_json,
                                       haveri_plugin_instance** out_instance) noexcept {
    if (api == nullptr || out_instance == nullptr) {
      return HAVERI_ERR_INVALID;
    }
    Host host{api, host_instance};
    Box* box = nullptr;
    const haveri_status status = guarded(host, "instance_create", [&] {
      auto plugin = T::create(host, view(instance_name), view(config_json));
      if (!plugin) {
        throw std::runtime_error("create() returned no instance");
      }
      box = std::make_unique<Box>(host, std::move(plugin)).release();
    });
    if (status == HAVERI_OK) {
      *out_instance = reinterpret_cast<haveri_plugin_instance*>(box);
    }
    return status;
  }

  static void instance_destroy(haveri_plugin_instance* instance) noexcept {
    Box* box = reinterpret_cast<Box*>(instance);
    if (box != nullptr) {
      guarded(box->host, "instance_destroy", [&] { box->plugin.reset(); });
      delete box;
    }
  }

  static haveri_status handle_request(haveri_plugin_instance* instance, std::uint64_t request_id,
                                      haveri_str request_json, haveri_str body) noexcept {
    Box* box = reinterpret_cast<Box*>(instance);
    if (box == nullptr) {
      return HAVERI_ERR_INVALID;
    }
    return guarded(box->host, "handle_request", [&] {
      box->plugin->handle_request(request_id, view(request_json), view(body));
    });
  }

  static haveri_status perform_operation(haveri_plugin_instance* instance,
                                         std::uint64_t operation_id,
                                         haveri_str operation_json) noexcept {
    Box* box = reinterpret_cast<Box*>(instance);
    if (box == nullptr) {
      return HAVERI_ERR_INVALID;
    }
    return guarded(box->host, "perform_operation",
                   [&] { box->plugin->perform_operation(operation_id, view(operation_json)); });
  }

  // Instantiated only for a T with describe() (see describe_entry).
  static haveri_str describe_instance(haveri_plugin_instance* instance) noexcept {
    Box* box = reinterpret_cast<Box*>(instance);
    if (box == nullptr) {
      return haveri_str{nullptr, 0};
    }
    const haveri_status status = guarded(box->host, "describe_instance", [&] {
      box->description = std::string(box->plugin->describe());
    });
    if (status != HAVERI_OK) {
      box->description.clear();
    }
    return borrow(box->description);
  }

  using HttpResponseFn = void (*)(haveri_plugin_instance*, std::uint64_t, haveri_str, haveri_str);
  using WebSocketEventFn = void (*)(haveri_plugin_instance*, std::uint64_t, int, haveri_str);
  using TimerFn = void (*)(haveri_plugin_instance*, std::uint64_t);
  using InboundSettledFn = void (*)(haveri_plugin_instance*, std::uint64_t, std::uint16_t);

  static void on_http_response(haveri_plugin_instance* instance, std::uint64_t call_id,
                               haveri_str response_json, haveri_str body) noexcept {
    if (Box* box = reinterpret_cast<Box*>(instance); box != nullptr) {
      guarded(box->host, "on_http_response",
              [&] { box->plugin->on_http_response(call_id, view(response_json), view(body)); });
    }
  }
  static void on_websocket_event(haveri_plugin_instance* instance, std::uint64_t socket_id,
                                 int event, haveri_str data) noexcept {
    if (Box* box = reinterpret_cast<Box*>(instance); box != nullptr) {
      guarded(box->host, "on_websocket_event",
              [&] { box->plugin->on_websocket_event(socket_id, event, view(data)); });
    }
  }
  static void on_timer(haveri_plugin_instance* instance, std::uint64_t timer_id) noexcept {
    if (Box* box = reinterpret_cast<Box*>(instance); box != nullptr) {
      guarded(box->host, "on_timer", [&] { box->plugin->on_timer(timer_id); });
    }
  }
  static void on_inbound_settled(haveri_plugin_instance* instance, std::uint64_t inbound_id,
                                 std::uint16_t status) noexcept {
    if (Box* box = reinterpret_cast<Box*>(instance); box != nullptr) {
      guarded(box->host, "on_inbound_settled",
              [&] { box->plugin->on_inbound_settled(inbound_id, status); });
    }
  }
  static constexpr HttpResponseFn http_response_entry() noexcept {
    if constexpr (ReceivesHttpResponses<T>::value) {
      return &on_http_response;
    } else {
      return nullptr;
    }
  }
  static constexpr WebSocketEventFn websocket_event_entry() noexcept {
    if constexpr (ReceivesWebSocketEvents<T>::value) {
      return &on_websocket_event;
    } else {
      return nullptr;
    }
  }
  static constexpr TimerFn timer_entry() noexcept {
    if constexpr (ReceivesTimers<T>::value) {
      return &on_timer;
    } else {
      return nullptr;
    }
  }
  static constexpr InboundSettledFn inbound_settled_entry() noexcept {
    if constexpr (ReceivesInboundSettlements<T>::value) {
      return &on_inbound_settled;
    } else {
      return nullptr;
    }
  }

  // The table's describe_instance member: NULL for a class without describe().
  static constexpr DescribeFn describe_entry() noexcept {
    if constexpr (DescribesInstance<T>::value) {
      return &describe_instance;
    } else {
      return nullptr;
    }
  }
};

}  // namespace haveri::sdk

// Defines the exported entry symbol returning T's table. Use once per plugin.
#define HAVERI_DEFINE_PLUGIN(T, NAME, VERSION)                                  \
  extern "C" HAVERI_PLUGIN_EXPORT const haveri_plugin_api* haveri_plugin_entry( \
      uint32_t /*host_abi_major*/, uint32_t /*host_abi_minor*/) {               \
    static const haveri_plugin_api api = {                                      \
        sizeof(haveri_plugin_api),                                              \
        HAVERI_ABI_VERSION_MAJOR,                                               \
        HAVERI_ABI_VERSION_MINOR,                                               \
        NAME,                                                                   \
        VERSION,                                                                \
        &::haveri::sdk::PluginTable<T>::instance_create,                        \
        &::haveri::sdk::PluginTable<T>::instance_destroy,                       \
        &::haveri::sdk::PluginTable<T>::handle_request,                         \
        &::haveri::sdk::PluginTable<T>::perform_operation,                      \
        ::haveri::sdk::PluginTable<T>::describe_entry(),                        \
        ::haveri::sdk::PluginTable<T>::http_response_entry(),                   \
        ::haveri::sdk::PluginTable<T>::websocket_event_entry(),                 \
        ::haveri::sdk::PluginTable<T>::timer_entry(),                           \
        ::haveri::sdk::PluginTable<T>::inbound_settled_entry(),                 \
    };                                                                          \
    return &api;                                                                \
  }
