#include "systemd_notify.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace haveri::daemon {

namespace {

// systemd shows STATUS= in one line of `systemctl status`; a longer text is cut.
constexpr std::size_t kMaxStatusBytes = 1024;
// How long a notification may wait for room in the service manager's queue.
constexpr std::chrono::seconds kSendTimeout{1};

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// A STATUS= value: one line (a newline would start another assignment, which a
// status taken from a config file or an error message must never do), cut at a
// UTF-8 character boundary (systemd ignores a STATUS= that is not valid UTF-8).
std::string status_value(std::string_view text) {
  std::string line(text.substr(0, kMaxStatusBytes));
  if (text.size() > kMaxStatusBytes) {
    // Back to the lead byte of the last character; drop that character if the cut
    // left it short of the length its lead byte announces.
    std::size_t lead = line.size();
    while (lead > 0 && (static_cast<unsigned char>(line[lead - 1]) & 0xC0U) == 0x80U) {
      --lead;
    }
    if (lead > 0) {
      const auto byte = static_cast<unsigned char>(line[lead - 1]);
      const std::size_t length = byte < 0x80U              ? 1
                                 : (byte & 0xE0U) == 0xC0U ? 2
                                 : (byte & 0xF0U) == 0xE0U ? 3
                                                           : 4;
      if (lead - 1 + length > line.size()) {
        line.resize(lead - 1);
      }
    }
  }
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r' || c == '\0'; }, ' ');
  return line;
}

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

std::optional<std::string_view> environment_value(const char* name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): called before other threads exist
  const char* value = std::getenv(name);
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string_view(value);
}

}  // namespace

std::optional<std::chrono::microseconds> parse_watchdog_timeout(
    std::optional<std::string_view> usec, std::optional<std::string_view> pid, pid_t self,
    std::string& problem) {
  problem.clear();
  if (!usec) {
    return std::nullopt;
  }
  const auto microseconds = parse_decimal(*usec);
  // 0 and UINT64_MAX (systemd's "infinity") do not ask for pings.
  if (!microseconds || *microseconds == 0 ||
      *microseconds > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    problem = "WATCHDOG_USEC=\"" + std::string(usec->substr(0, 40)) +
              "\" is not a positive number of microseconds";
    return std::nullopt;
  }
  if (pid) {
    const auto owner = parse_decimal(*pid);
    if (!owner || *owner == 0 ||
        *owner > static_cast<std::uint64_t>(std::numeric_limits<pid_t>::max())) {
      problem = "WATCHDOG_PID=\"" + std::string(pid->substr(0, 40)) + "\" is not a process id";
      return std::nullopt;
    }
    if (static_cast<pid_t>(*owner) != self) {
      return std::nullopt;  // the watchdog is another process's (we were started by it)
    }
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(*microseconds));
}

struct SystemdNotifier::Channel {
  int fd = -1;
  sockaddr_un address{};
  socklen_t address_length = 0;
  std::string shown;                  // the socket as $NOTIFY_SOCKET named it, for the log
  std::atomic<bool> failing{false};   // the last send failed (and was logged)
  std::atomic<bool> stopping{false};  // STOPPING=1 was sent

  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

SystemdNotifier::SystemdNotifier() : channel_(std::make_unique<Channel>()) {}

SystemdNotifier::SystemdNotifier(std::string_view notify_socket,
                                 std::optional<std::string_view> watchdog_usec,
                                 std::optional<std::string_view> watchdog_pid)
    : SystemdNotifier() {
  if (notify_socket.empty()) {
    return;
  }
  Channel& channel = *channel_;
  channel.shown = std::string(notify_socket);
  const bool abstract = notify_socket.front() == '@';
  // sun_path holds a path with its terminating NUL, or an abstract name after its
  // leading NUL; systemd's own paths are far shorter.
  if ((notify_socket.front() != '/' && !abstract) || notify_socket.size() < 2 ||
      notify_socket.size() >= sizeof(channel.address.sun_path)) {
    spdlog::warn(
        "NOTIFY_SOCKET=\"{}\" is neither an absolute path nor an abstract socket name "
        "(\"@name\") that fits a socket address: not notifying the service manager",
        notify_socket.substr(0, 120));
    return;
  }
  channel.address.sun_family = AF_UNIX;
  std::copy(notify_socket.begin(), notify_socket.end(), channel.address.sun_path);
  if (abstract) {
    // The abstract name is every byte given, with no terminating NUL.
    channel.address.sun_path[0] = '\0';
    channel.address_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + notify_socket.size());
  } else {
    channel.address_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + notify_socket.size() + 1);
  }
  channel.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (channel.fd < 0) {
    spdlog::warn("NOTIFY_SOCKET: cannot create a socket ({}): not notifying the service manager",
                 std::error_code(errno, std::generic_category()).message());
    return;
  }
  // A full queue at the service manager holds a sender for at most this long (and
  // loses that notification), never the event loop for good.
  const timeval send_timeout{static_cast<time_t>(kSendTimeout.count()), 0};
  (void)::setsockopt(channel.fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  std::string problem;
  watchdog_timeout_ = parse_watchdog_timeout(watchdog_usec, watchdog_pid, ::getpid(), problem);
  if (!problem.empty()) {
    spdlog::warn("{}: not sending watchdog pings", problem);
  }
}

SystemdNotifier SystemdNotifier::from_environment() {
  const auto socket = environment_value("NOTIFY_SOCKET");
  const auto usec = environment_value("WATCHDOG_USEC");
  const auto pid = environment_value("WATCHDOG_PID");
  SystemdNotifier notifier(socket.value_or(""), usec, pid);
  // After use: the values point into the environment.
  for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) {
    ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe): before other threads exist
  }
  return notifier;
}

SystemdNotifier::~SystemdNotifier() = default;
SystemdNotifier::SystemdNotifier(SystemdNotifier&&) noexcept = default;
SystemdNotifier& SystemdNotifier::operator=(SystemdNotifier&&) noexcept = default;

bool SystemdNotifier::enabled() const noexcept {
  return channel_ && channel_->fd >= 0;
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_timeout() const noexcept {
  return watchdog_timeout_;
}

void SystemdNotifier::ready(std::string_view status) {
  if (enabled()) {
    notify("READY=1\nSTATUS=" + status_value(status));
  }
}

void SystemdNotifier::status(std::string_view text) {
  if (enabled()) {
    notify("STATUS=" + status_value(text));
  }
}

void SystemdNotifier::reloading(std::string_view status) {
  if (enabled()) {
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) +
           "\nSTATUS=" + status_value(status));
  }
}

void SystemdNotifier::stopping(std::string_view status) {
  if (!channel_) {
    return;
  }
  channel_->stopping = true;
  if (enabled()) {
    notify("STOPPING=1\nSTATUS=" + status_value(status));
  }
}

void SystemdNotifier::watchdog() {
  if (enabled()) {
    notify("WATCHDOG=1");
  }
}

bool SystemdNotifier::stopping_sent() const noexcept {
  return channel_ && channel_->stopping;
}

bool SystemdNotifier::notify(std::string_view assignments) {
  if (!enabled()) {
    return false;
  }
  Channel& channel = *channel_;
  // Not connect()ed: a service manager that re-executes itself binds the same path
  // again, and the next datagram reaches it.
  const ssize_t sent =
      ::sendto(channel.fd, assignments.data(), assignments.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&channel.address), channel.address_length);
  if (sent < 0) {
    const std::error_code error(errno, std::generic_category());
    if (!channel.failing.exchange(true)) {
      spdlog::warn(
          "cannot notify the service manager through {}: {}; going on without (further "
          "failures are not logged until a notification gets through)",
          channel.shown, error.message());
    }
    return false;
  }
  if (channel.failing.exchange(false)) {
    spdlog::info("notifications reach the service manager through {} again", channel.shown);
  }
  return true;
}

WatchdogRounds::WatchdogRounds(std::chrono::milliseconds period) : period_(period) {}

WatchdogRounds::Round WatchdogRounds::next() {
  Round round;
  if (latest_probe_ == 0) {
    round.ping = true;
  } else if (!answer_) {
    round.withheld_because = "the incident service did not answer the liveness probe sent " +
                             std::to_string(period_.count()) +
                             " ms ago (its service thread is stuck or stopped)";
  } else if (!answer_->healthy) {
    round.withheld_because =
        answer_->problem.empty() ? "the incident service is not healthy" : answer_->problem;
  } else {
    round.ping = true;
  }
  answer_.reset();
  round.probe = ++latest_probe_;
  return round;
}

void WatchdogRounds::answered(std::uint64_t probe, bool healthy, std::string problem) {
  if (probe == latest_probe_) {
    answer_ = Answer{healthy, std::move(problem)};
  }
}

// What the timer's handlers share. Probe answers reach only `rounds` (through
// `verdicts`), never the timer, so an answer arriving late on a service thread never
// holds the last reference to an asio object.
struct EventLoopWatchdog::Loop {
  struct Verdicts {
    std::mutex mutex;
    WatchdogRounds rounds;
    explicit Verdicts(std::chrono::milliseconds period) : rounds(period) {}
  };

  Loop(boost::asio::io_context& io, SystemdNotifier& notifier_in,
       std::chrono::microseconds timeout_in, LivenessProbe probe_in)
      : strand(boost::asio::make_strand(io)),
        timer(strand),
        notifier(notifier_in),
        timeout(timeout_in),
        period(std::max(std::chrono::milliseconds(1),
                        std::chrono::duration_cast<std::chrono::milliseconds>(timeout_in / 2))),
        probe(std::move(probe_in)),
        verdicts(std::make_shared<Verdicts>(period)) {}

  // The timer's handler and stop()'s cancel run one at a time on the pool.
  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  boost::asio::steady_timer timer;
  SystemdNotifier& notifier;
  std::chrono::microseconds timeout;
  std::chrono::milliseconds period;
  LivenessProbe probe;
  std::shared_ptr<Verdicts> verdicts;
  std::atomic<bool> stopped{false};
  std::chrono::steady_clock::time_point due;  // on `strand` (or in start())

  // On `strand` (or in start()): one round.
  void round() {
    WatchdogRounds::Round next;
    {
      std::lock_guard lock(verdicts->mutex);
      next = verdicts->rounds.next();
    }
    if (next.ping) {
      notifier.watchdog();
    } else {
      spdlog::warn(
          "systemd watchdog: WATCHDOG=1 withheld: {}; systemd restarts haverid if no ping "
          "comes within {} ms of the last one",
          next.withheld_because,
          std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    }
    std::weak_ptr<Verdicts> weak = verdicts;
    const std::uint64_t id = next.probe;
    try {
      probe([weak, id](bool healthy, std::string problem) {
        if (auto alive = weak.lock()) {
          std::lock_guard lock(alive->mutex);
          alive->rounds.answered(id, healthy, std::move(problem));
        }
      });
    } catch (const std::exception& e) {
      // Unanswered, so the next round withholds its ping and says so.
      spdlog::error("systemd watchdog: the liveness probe failed: {}", e.what());
    }
  }

  void arm(const std::shared_ptr<Loop>& self) {
    due = std::chrono::steady_clock::now() + period;
    timer.expires_at(due);
    timer.async_wait([self](const boost::system::error_code& error) {
      if (error || self->stopped || self->notifier.stopping_sent()) {
        return;
      }
      const auto late = std::chrono::steady_clock::now() - self->due;
      if (late > self->period / 2) {
        spdlog::warn(
            "systemd watchdog: the event loop ran the watchdog timer {} ms late: something "
            "blocked the io threads",
            std::chrono::duration_cast<std::chrono::milliseconds>(late).count());
      }
      self->round();
      self->arm(self);
    });
  }
};

EventLoopWatchdog::EventLoopWatchdog(boost::asio::io_context& io, SystemdNotifier& notifier,
                                     std::chrono::microseconds timeout, LivenessProbe probe)
    : loop_(std::make_shared<Loop>(io, notifier, timeout, std::move(probe))) {}

EventLoopWatchdog::~EventLoopWatchdog() {
  stop();
}

void EventLoopWatchdog::start() {
  spdlog::info(
      "systemd watchdog: {} ms; WATCHDOG=1 every {} ms while the event loop runs and the "
      "incident service answers",
      std::chrono::duration_cast<std::chrono::milliseconds>(loop_->timeout).count(),
      loop_->period.count());
  loop_->round();
  loop_->arm(loop_);
}

void EventLoopWatchdog::stop() {
  if (!loop_->stopped.exchange(true)) {
    // A round already running sees `stopped` and does not arm again; this only
    // spares the wait (and does nothing once the io_context stopped).
    boost::asio::post(loop_->strand, [loop = loop_] { loop->timer.cancel(); });
  }
}

std::chrono::milliseconds EventLoopWatchdog::period() const noexcept {
  return loop_->period;
}

}  // namespace haveri::daemon
