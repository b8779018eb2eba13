#pragma once
// What the benchmark programs share: scratch directories and the chat text they
// write. No Haveri, SQLite or Boost in here, so every program can include it.

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

namespace haveri::bench {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the
// object dies. The benchmarks' databases live here, so they measure the
// filesystem the script reports as "the temp dir".
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view purpose) {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("haveri-bench-" + std::string(purpose) + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The text of the n-th chat message: deterministic, with lengths cycling through
// 24, 60, 120, 200 and 400 bytes (mean 161), which is what people type in an
// incident channel — a few words, a sentence, a pasted log line.
inline std::string message_text(std::uint64_t n) {
  static constexpr std::string_view kWords[] = {
      "primary",  "replica", "is",        "not",     "answering", "failing", "over",
      "checking", "the",     "pump",      "line",    "3",         "latency", "p99",
      "rising",   "since",   "deploy",    "rolled",  "back",      "errors",  "dropped",
      "to",       "zero",    "waiting",   "for",     "vendor",    "ticket",  "opened",
      "disk",     "full",    "on",        "db-2",    "cleaning",  "logs",    "alarm",
      "cleared",  "again",   "operators", "on-site", "restarted", "plc",     "ok"};
  static constexpr std::size_t kLengths[] = {24, 60, 120, 200, 400};
  const std::size_t length = kLengths[n % std::size(kLengths)];
  std::string text;
  text.reserve(length + 16);
  std::uint64_t state = n * 0x9E3779B97F4A7C15ULL + 1;
  while (text.size() < length) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    if (!text.empty()) {
      text += ' ';
    }
    text += kWords[state % std::size(kWords)];
  }
  text.resize(length);
  return text;
}

}  // namespace haveri::bench
