// A plugin whose describe_instance returns whatever its settings ask for, so the
// host's reading of descriptions can be tried on good and hostile documents:
//   {"description": "<returned verbatim>"}
//   {"mode": "throw"}          describe() throws
//   {"mode": "invalid_utf8"}   a document with a byte that is not UTF-8
//   {"mode": "huge"}           a valid document of 100 KiB
// Every request is answered 200 "alive", so a test can see the instance still works.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include <haveri/plugin.hpp>

namespace {

class Describe {
 public:
  Describe(haveri::sdk::Host host, std::string description, std::string mode)
      : host_(host), description_(std::move(description)), mode_(std::move(mode)) {}

  static std::unique_ptr<Describe> create(haveri::sdk::Host host, std::string_view,
                                          std::string_view config_json) {
    const auto config = nlohmann::json::parse(config_json);
    return std::make_unique<Describe>(host, config.value("description", ""),
                                      config.value("mode", ""));
  }

  std::string describe() const {
    if (mode_ == "throw") {
      throw std::runtime_error("describe plugin throws from describe()");
    }
    if (mode_ == "invalid_utf8") {
      return "{\"v\":1,\"limits\":{\"burst\":5},\"note\":\"\xff\"}";
    }
    if (mode_ == "huge") {
      return R"({"v":1,"limits":{"burst":5},"padding":")" +
             std::string(std::size_t{100} * 1024, 'x') + "\"}";
    }
    return description_;
  }

  void handle_request(std::uint64_t id, std::string_view, std::string_view) {
    host_.respond(id, 200, "text/plain", "alive");
  }

  void perform_operation(std::uint64_t id, std::string_view) {
    host_.complete_operation(id, R"({"v":1,"status":"ok"})");
  }

 private:
  haveri::sdk::Host host_;
  std::string description_;
  std::string mode_;
};

}  // namespace

HAVERI_DEFINE_PLUGIN(Describe, "describe", "0.0.1")
