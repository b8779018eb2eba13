// A well-formed plugin built against ABI major 99 (set by CMake): the host must
// refuse it and name the file.
#include <memory>

#include <haveri/plugin.hpp>

namespace {

class WrongMajor {
 public:
  static std::unique_ptr<WrongMajor> create(haveri::sdk::Host, std::string_view, std::string_view) {
    return std::make_unique<WrongMajor>();
  }
  void handle_request(std::uint64_t, std::string_view, std::string_view) {}
  void perform_operation(std::uint64_t, std::string_view) {}
};

}  // namespace

HAVERI_DEFINE_PLUGIN(WrongMajor, "wrong_major", "0.0.1")
