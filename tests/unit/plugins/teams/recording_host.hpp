#pragma once
// A host for the Teams adapter's tests: a real haveri_host_api table whose functions
// record what the code under test asks of the host (HTTP calls, timers, inbound events,
// responses, operation results, log lines) so that each test can look at them and
// answer like Microsoft would (by calling the code's on_http_response / on_timer).
//
// Single-threaded: the tests drive everything from the test thread.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace haveri::teams::testing {

struct RecordingHost {
  struct HttpCall {
    std::uint64_t id = 0;
    nlohmann::json request;  // {"v","method","url","headers","timeout_ms","proxy"}
    std::string body;
    std::string url() const { return request.value("url", ""); }
    std::string method() const { return request.value("method", ""); }
    std::string header(const std::string& name) const {
      const auto headers = request.find("headers");
      if (headers == request.end() || !headers->is_object()) {
        return {};
      }
      for (const auto& [key, value] : headers->items()) {
        std::string lower = key;
        for (char& c : lower) {
          c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        if (lower == name && value.is_string()) {
          return value.get<std::string>();
        }
      }
      return {};
    }
    nlohmann::json body_json() const { return nlohmann::json::parse(body, nullptr, false); }
  };
  struct Response {
    std::uint64_t request_id = 0;
    std::uint16_t status = 0;
    std::string content_type;
    std::string body;
  };

  std::vector<std::pair<int, std::string>> logs;
  std::vector<std::pair<std::uint64_t, nlohmann::json>> inbound;  // request id, event
  std::vector<Response> responses;
  std::vector<std::pair<std::uint64_t, nlohmann::json>> completions;  // operation id, result
  std::vector<HttpCall> http;                     // every call made, in order (answered or not)
  std::map<std::uint64_t, std::uint64_t> timers;  // pending: id -> delay in ms
  std::uint64_t next_inbound = 1000;
  // What submit_inbound answers (HAVERI_OK unless a test makes it fail).
  haveri_status submit_status = HAVERI_OK;

  // The C table and the handle that lead here. The object must outlive every use.
  const haveri_host_api* api() const noexcept { return &kApi; }
  haveri_host_instance* handle() noexcept { return reinterpret_cast<haveri_host_instance*>(this); }
  sdk::Host host() noexcept { return sdk::Host(api(), handle()); }

  // The log lines joined, for "no secret in the log" checks.
  std::string all_logs() const {
    std::string out;
    for (const auto& [level, line] : logs) {
      out += line;
      out += '\n';
    }
    return out;
  }

  // {"v":1,"status":…,"headers":{…}} as the host hands an HTTP answer to a plugin.
  static std::string response_json(int status,
                                   const nlohmann::json& headers = nlohmann::json::object(),
                                   std::string_view error = {}) {
    nlohmann::json response = {{"v", 1}, {"status", status}, {"headers", headers}};
    if (!error.empty()) {
      response["error"] = std::string(error);
    }
    return response.dump();
  }

 private:
  static RecordingHost& self(haveri_host_instance* h) {
    return *reinterpret_cast<RecordingHost*>(h);
  }
  static std::string text(haveri_str s) {
    return s.len == 0 ? std::string{} : std::string{s.ptr, s.len};
  }
  static nlohmann::json parsed(haveri_str s) {
    return nlohmann::json::parse(text(s), nullptr, false);
  }

  static void log(haveri_host_instance* h, int level, haveri_str message) {
    self(h).logs.emplace_back(level, text(message));
  }
  static haveri_status submit(haveri_host_instance* h, std::uint64_t id, haveri_str event) {
    if (self(h).submit_status != HAVERI_OK) {
      return self(h).submit_status;
    }
    self(h).inbound.emplace_back(id, parsed(event));
    return HAVERI_OK;
  }
  static haveri_status respond(haveri_host_instance* h, std::uint64_t id, std::uint16_t status,
                               haveri_str type, haveri_str body) {
    self(h).responses.push_back({id, status, text(type), text(body)});
    return HAVERI_OK;
  }
  static haveri_status complete(haveri_host_instance* h, std::uint64_t id, haveri_str result) {
    self(h).completions.emplace_back(id, parsed(result));
    return HAVERI_OK;
  }
  static haveri_status http_request(haveri_host_instance* h, std::uint64_t id, haveri_str request,
                                    haveri_str body) {
    self(h).http.push_back({id, parsed(request), text(body)});
    return HAVERI_OK;
  }
  static haveri_status ws_open(haveri_host_instance*, std::uint64_t, haveri_str) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  static haveri_status ws_send(haveri_host_instance*, std::uint64_t, haveri_str) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  static haveri_status ws_close(haveri_host_instance*, std::uint64_t) {
    return HAVERI_ERR_UNSUPPORTED;
  }
  static haveri_status set_timer(haveri_host_instance* h, std::uint64_t id, std::uint64_t delay) {
    self(h).timers[id] = delay;
    return HAVERI_OK;
  }
  static haveri_status cancel_timer(haveri_host_instance* h, std::uint64_t id) {
    return self(h).timers.erase(id) > 0 ? HAVERI_OK : HAVERI_ERR_GONE;
  }
  static haveri_status begin_inbound(haveri_host_instance* h, std::uint64_t* id) {
    *id = ++self(h).next_inbound;
    return HAVERI_OK;
  }

  static constexpr haveri_host_api kApi = {
      sizeof(haveri_host_api), &log,           &submit,  &respond,  &complete,
      &http_request,           &ws_open,       &ws_send, &ws_close, &set_timer,
      &cancel_timer,           &begin_inbound,
  };
};

}  // namespace haveri::teams::testing
