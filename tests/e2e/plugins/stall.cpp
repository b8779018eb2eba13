// A misbehaving plugin for the watchdog test: it answers a request only after
// blocking the host thread that called it for `?ms=N` milliseconds (at most 10 s),
// as a plugin doing blocking I/O on the host's event loop would. Never installed.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace {

class Stall {
 public:
  explicit Stall(haveri::sdk::Host host) : host_(host) {}

  static std::unique_ptr<Stall> create(haveri::sdk::Host host, std::string_view, std::string_view) {
    return std::make_unique<Stall>(host);
  }

  void handle_request(std::uint64_t id, std::string_view request_json, std::string_view) {
    const auto request = nlohmann::json::parse(request_json);
    const std::string query = request.value("query", "");
    long long milliseconds = 0;
    if (query.starts_with("ms=")) {
      milliseconds = std::clamp(std::stoll(query.substr(3)), 0LL, 10000LL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
    host_.respond(id, 200, "text/plain", "stalled " + std::to_string(milliseconds) + " ms");
  }

  void perform_operation(std::uint64_t id, std::string_view) {
    host_.complete_operation(id, R"({"v":1,"status":"ok"})");
  }

 private:
  haveri::sdk::Host host_;
};

}  // namespace

HAVERI_DEFINE_PLUGIN(Stall, "test_stall", "0.0.1")
