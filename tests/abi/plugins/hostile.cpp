// A plugin that breaks the ABI's rules on purpose, one route or operation per
// rule, so tests can check that the host refuses each breach and survives it.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace {

class Hostile {
 public:
  explicit Hostile(haveri::sdk::Host host) : host_(host) {}

  static std::unique_ptr<Hostile> create(haveri::sdk::Host host, std::string_view,
                                         std::string_view) {
    return std::make_unique<Hostile>(host);
  }

  void handle_request(std::uint64_t id, std::string_view request_json, std::string_view) {
    const auto request = nlohmann::json::parse(request_json);
    const std::string path = request.value("path", "");
    if (path == "/bad-responses") {
      nlohmann::json report;
      report["status_99"] = host_.respond(id, 99, "text/plain", "x");
      report["status_600"] = host_.respond(id, 600, "text/plain", "x");
      report["header_injection"] = host_.respond(id, 200, "text/plain\r\nX-Evil: 1", "x");
      report["event_not_json"] = host_.submit_inbound(id, "{not json");
      report["event_without_type"] = host_.submit_inbound(id, R"({"v":1})");
      report["event_without_key"] = host_.submit_inbound(
          id, R"({"v":1,"type":"message","channel":{"id":"c"},"user":{"id":"u"},"text":"x"})");
      host_.respond(id, 200, "application/json", report.dump());
    } else if (path == "/empty-204") {
      host_.respond(id, 204, "text/plain", "a body a 204 must not carry");
    } else if (path == "/throw") {
      throw std::runtime_error("hostile plugin throws from handle_request");
    } else if (path == "/silent") {
      // Never answers: the host must time the request out.
    } else if (path == "/after-respond") {
      host_.respond(id, 200, "text/plain", "answered");
      last_report_["respond_again"] = host_.respond(id, 200, "text/plain", "twice");
      last_report_["submit_after_respond"] =
          host_.submit_inbound(id, R"({"v":1,"type":"message","idempotency_key":"k"})");
    } else if (path == "/report") {
      host_.respond(id, 200, "application/json", last_report_.dump());
    } else {
      host_.respond(id, 404, "text/plain", "no such route");
    }
  }

  void perform_operation(std::uint64_t id, std::string_view operation_json) {
    const auto operation = nlohmann::json::parse(operation_json);
    const std::string type = operation.value("type", "");
    if (type == "never_completes") {
      return;
    }
    if (type == "odd_result") {
      host_.complete_operation(id, R"({"v":1,"status":"permanent","error":{"code":7},)"
                                   R"("retry_after_ms":1e300})");
    } else if (type == "complete_someone_elses") {
      const auto victim = operation.value("victim", std::uint64_t{0});
      const haveri_status stolen = host_.complete_operation(victim, R"({"v":1,"status":"ok"})");
      host_.complete_operation(
          id, nlohmann::json{{"v", 1}, {"status", "ok"}, {"steal_status", static_cast<int>(stolen)}}
                  .dump());
    } else if (type == "throw") {
      throw std::runtime_error("hostile plugin throws from perform_operation");
    } else {
      host_.complete_operation(id, "this is not json");
    }
  }

 private:
  haveri::sdk::Host host_;
  nlohmann::json last_report_ = nlohmann::json::object();
};

}  // namespace

HAVERI_DEFINE_PLUGIN(Hostile, "hostile", "0.0.1")
