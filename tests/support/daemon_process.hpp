#pragma once
// Test support: runs the real haverid binary on a loopback port, reads its log,
// and stops it by its own PID. Every wait is bounded.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace haveri::testing {

inline std::filesystem::path build_dir() {
  const char* dir = std::getenv("HAVERI_BUILD_DIR");
  return dir != nullptr && *dir != '\0' ? dir : HAVERI_TEST_BUILD_DIR;
}

inline std::filesystem::path source_dir() {
  const char* dir = std::getenv("HAVERI_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : HAVERI_TEST_SOURCE_DIR;
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("haveri-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs a program with arguments, stdout+stderr to `log`, optional stdin file.
inline pid_t spawn(const std::filesystem::path& program, const std::vector<std::string>& args,
                   const std::filesystem::path& log,
                   const std::optional<std::filesystem::path>& stdin_file = std::nullopt,
                   const std::vector<std::string>& extra_env = {}) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO,
                                   stdin_file ? stdin_file->c_str() : "/dev/null", O_RDONLY, 0);
  std::vector<std::string> argv_storage{program.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    env_storage.emplace_back(*e);
  }
  env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& entry : env_storage) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + program.string());
  }
  return pid;
}

// Waits up to `limit` for the process to exit; returns its exit code, or -1 for
// a signal, or nullopt if it is still running.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Runs a program to completion (bounded), returning exit code and output.
struct RunResult {
  int exit_code = -1;
  std::string output;
};

inline RunResult run_program(const std::filesystem::path& program,
                             const std::vector<std::string>& args,
                             const std::filesystem::path& scratch,
                             const std::optional<std::string>& input = std::nullopt,
                             const std::vector<std::string>& extra_env = {},
                             std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  static int counter = 0;
  const auto log = scratch / ("run-" + std::to_string(++counter) + ".log");
  std::optional<std::filesystem::path> stdin_file;
  if (input) {
    stdin_file = scratch / ("stdin-" + std::to_string(counter));
    write_file(*stdin_file, *input);
  }
  const pid_t pid = spawn(program, args, log, stdin_file, extra_env);
  auto code = wait_exit(pid, limit);
  if (!code) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5));
    throw std::runtime_error(program.filename().string() + " did not finish in time; output:\n" +
                             read_file(log));
  }
  return RunResult{*code, read_file(log)};
}

// The real daemon, started with a config file; stopped with SIGTERM.
class Haverid {
 public:
  Haverid(const std::filesystem::path& config, const std::filesystem::path& log) : log_(log) {
    pid_ = spawn(build_dir() / "bin" / "haverid", {"--config", config.string()}, log);
    const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string text = read_file(log_);
      if (std::regex_search(text, match, listening)) {
        port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
        return;
      }
      if (auto code = wait_exit(pid_, std::chrono::milliseconds(0))) {
        pid_ = 0;
        throw std::runtime_error("haverid exited with " + std::to_string(*code) +
                                 " before listening:\n" + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop_hard();
    throw std::runtime_error("haverid did not start listening within 20 s:\n" + read_file(log_));
  }
  ~Haverid() { stop_hard(); }
  Haverid(const Haverid&) = delete;
  Haverid& operator=(const Haverid&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_); }

  // Sends `signal_number` (SIGTERM by default), then returns the exit code (nullopt
  // if it did not exit within the limit).
  std::optional<int> terminate(std::chrono::milliseconds limit = std::chrono::seconds(10),
                               int signal_number = SIGTERM) {
    if (pid_ == 0) {
      return std::nullopt;
    }
    ::kill(pid_, signal_number);
    auto code = wait_exit(pid_, limit);
    if (code) {
      pid_ = 0;
    }
    return code;
  }

 private:
  void stop_hard() {
    if (pid_ != 0) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, std::chrono::seconds(5));
      pid_ = 0;
    }
  }

  std::filesystem::path log_;
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

// A configuration for tests: port 0, everything under `dir`, the real plugins.
inline std::string test_config(
    const std::filesystem::path& dir,
    const std::string& plugin_dir = (build_dir() / "plugins").string(),
    const std::string& instances = "    - name: local\n      plugin: local\n") {
  write_file(dir / "api-token", "test-token-not-a-secret\n");
  return "server:\n  address: 127.0.0.1\n  port: 0\n"
         "storage:\n  sqlite:\n    path: " +
         (dir / "data" / "haveri.db").string() +
         "\n"
         "api:\n  token_file: " +
         (dir / "api-token").string() +
         "\n"
         "plugins:\n  directory: " +
         plugin_dir + "\n  instances:\n" + instances + "logging:\n  level: debug\n";
}

inline constexpr const char* kTestToken = "test-token-not-a-secret";

}  // namespace haveri::testing
