// Drives the host services of ABI 1.2 from operations, so tests can use them
// through the real plugin host (host_services_test.cpp).
//
// Each operation calls one host function and completes at once with
// {"v":1,"status":"ok","result":<haveri_status>} (and "inbound_id" for "inbound").
// What the host later reports (on_http_response, on_websocket_event, on_timer,
// on_inbound_settled) is recorded under a key — "http:<call_id>", "ws:<socket_id>",
// "timer:<timer_id>", "inbound:<inbound_id>" — and the operation
// {"type":"wait","key":k,"count":n} completes once n records are there, with
// {"v":1,"status":"ok","records":[…]}.
//
// Built twice: with SERVICES_WITHOUT_CALLBACKS the class has no on_* member, so
// its table has none and the host must refuse every service.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace {

using nlohmann::json;

class Services {
 public:
  explicit Services(haveri::sdk::Host host) : host_(host) {}

  static std::unique_ptr<Services> create(haveri::sdk::Host host, std::string_view,
                                          std::string_view) {
    return std::make_unique<Services>(host);
  }

  void handle_request(std::uint64_t id, std::string_view, std::string_view) {
    host_.respond(id, 404, "text/plain", "operations only");
  }

  void perform_operation(std::uint64_t id, std::string_view operation_json) {
    const json operation = json::parse(operation_json);
    const std::string type = operation.value("type", "");
    json result = {{"v", 1}, {"status", "ok"}};
    haveri_status status = HAVERI_ERR_UNSUPPORTED;
    if (type == "http") {
      status = host_.http_request(operation.at("call_id").get<std::uint64_t>(),
                                  text_of(operation.at("request")), operation.value("body", ""));
    } else if (type == "ws_open") {
      status = host_.websocket_open(operation.at("socket_id").get<std::uint64_t>(),
                                    text_of(operation.at("request")));
    } else if (type == "ws_send") {
      status = host_.websocket_send(operation.at("socket_id").get<std::uint64_t>(),
                                    operation.at("text").get<std::string>());
    } else if (type == "ws_close") {
      status = host_.websocket_close(operation.at("socket_id").get<std::uint64_t>());
    } else if (type == "set_timer") {
      status = host_.set_timer(operation.at("timer_id").get<std::uint64_t>(),
                               operation.at("delay_ms").get<std::uint64_t>());
    } else if (type == "cancel_timer") {
      status = host_.cancel_timer(operation.at("timer_id").get<std::uint64_t>());
    } else if (type == "inbound") {
      std::uint64_t inbound_id = 0;
      status = host_.begin_inbound(inbound_id);
      if (status == HAVERI_OK) {
        result["inbound_id"] = inbound_id;
        for (const json& event : operation.value("events", json::array())) {
          host_.submit_inbound(inbound_id, event.dump());
        }
        if (operation.value("respond", true)) {
          host_.respond(inbound_id, operation.value("respond_status", std::uint16_t{200}),
                        "text/plain", "ignored");
        }
      }
    } else if (type == "wait") {
      waiters_.push_back(
          {id, operation.at("key").get<std::string>(), operation.value("count", std::size_t{1})});
      settle_waiters();
      return;
    }
    result["result"] = static_cast<int>(status);
    host_.complete_operation(id, result.dump());
  }

#ifndef SERVICES_WITHOUT_CALLBACKS
  void on_http_response(std::uint64_t call_id, std::string_view response_json,
                        std::string_view body) {
    record("http:" + std::to_string(call_id),
           {{"response", json::parse(response_json)}, {"body", std::string(body)}});
  }

  void on_websocket_event(std::uint64_t socket_id, int event, std::string_view data) {
    json entry = {{"event", event}};
    if (event == HAVERI_WS_CLOSED) {
      entry["closed"] = json::parse(data);
    } else {
      entry["data"] = std::string(data);
    }
    record("ws:" + std::to_string(socket_id), std::move(entry));
  }

  void on_timer(std::uint64_t timer_id) {
    record("timer:" + std::to_string(timer_id), {{"fired", true}});
  }

  void on_inbound_settled(std::uint64_t inbound_id, std::uint16_t status) {
    record("inbound:" + std::to_string(inbound_id), {{"settled", status}});
  }
#endif

 private:
  struct Waiter {
    std::uint64_t operation_id;
    std::string key;
    std::size_t count;
  };

  // A request given as a string is passed as it is (to send malformed JSON).
  static std::string text_of(const json& request) {
    return request.is_string() ? request.get<std::string>() : request.dump();
  }

  void record(const std::string& key, json entry) {
    // Shows in the log, so a test can tell that no callback came after shutdown.
    host_.log(HAVERI_LOG_INFO, "services plugin callback " + key);
    records_[key].push_back(std::move(entry));
    settle_waiters();
  }

  void settle_waiters() {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      const auto& records = records_[it->key];
      if (records.size() >= it->count) {
        host_.complete_operation(it->operation_id,
                                 json{{"v", 1}, {"status", "ok"}, {"records", records}}.dump());
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }

  haveri::sdk::Host host_;
  std::map<std::string, json> records_ = {};
  std::vector<Waiter> waiters_;
};

}  // namespace

#ifdef SERVICES_WITHOUT_CALLBACKS
HAVERI_DEFINE_PLUGIN(Services, "services_bare", "0.0.1")
#else
HAVERI_DEFINE_PLUGIN(Services, "services", "0.0.1")
#endif
