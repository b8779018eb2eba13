#include "logging.hpp"

#include <cstdlib>
#include <iterator>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace haveri::daemon {

namespace {

// sd-daemon(3) priority prefixes, indexed by spdlog level.
class JournalPrefixFormatter final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& destination) override {
    static constexpr const char* kPrefixes[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const auto index = static_cast<std::size_t>(message.level);
    const char* prefix = index < std::size(kPrefixes) ? kPrefixes[index] : "<6>";
    destination.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPrefixFormatter>();
  }
};

}  // namespace

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("haverid");
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JournalPrefixFormatter>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace haveri::daemon
