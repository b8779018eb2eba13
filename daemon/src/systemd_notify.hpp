#pragma once
// The service manager's notification protocol (sd_notify(3), systemd.service(5)),
// spoken directly: haverid needs no libsystemd and runs the same without systemd.
//
// systemd passes $NOTIFY_SOCKET (an AF_UNIX datagram socket: an absolute path, or
// "@name" in the abstract namespace) and, with WatchdogSec=, $WATCHDOG_USEC and
// $WATCHDOG_PID. Each notification is one datagram of newline-separated
// assignments ("READY=1\nSTATUS=…"). systemd learns the sender's pid from the
// socket (SO_PASSCRED), so NotifyAccess=main accepts only what haverid itself sends.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace boost::asio {
class io_context;
}

namespace haveri::daemon {

// Reads $WATCHDOG_USEC / $WATCHDOG_PID as sd_watchdog_enabled(3) does: the watchdog
// timeout when `usec` is a positive decimal number of microseconds and `pid` is
// absent or names `self`. nullopt otherwise; `problem` then says why when the values
// are malformed, and stays empty when they are fine but meant for another process
// (or absent).
std::optional<std::chrono::microseconds> parse_watchdog_timeout(
    std::optional<std::string_view> usec, std::optional<std::string_view> pid, pid_t self,
    std::string& problem);

// Sends notifications to the service manager. Without a notification socket every
// call is a cheap no-op; a socket that cannot be reached is logged (once per run of
// failures) and never fatal: haverid keeps serving.
//
// Runs on: any thread; every member function is thread-safe. A notification waits at
// most 1 s for room in the service manager's queue, then is dropped (and logged): a
// service manager that stops reading never stalls the caller (usually the event loop)
// for long.
class SystemdNotifier {
 public:
  // Sends nothing.
  SystemdNotifier();
  // `notify_socket` as in $NOTIFY_SOCKET (empty: none; anything but an absolute path
  // or "@name" is ignored with one warning); the watchdog values as in
  // parse_watchdog_timeout() for this process (malformed ones: one warning, no
  // watchdog). The watchdog needs a socket to be of any use.
  SystemdNotifier(std::string_view notify_socket, std::optional<std::string_view> watchdog_usec,
                  std::optional<std::string_view> watchdog_pid);
  // From $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID, which it then unsets so that
  // nothing haverid starts inherits them. Call before other threads exist (setenv and
  // getenv are not thread-safe).
  static SystemdNotifier from_environment();

  ~SystemdNotifier();
  SystemdNotifier(SystemdNotifier&&) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&&) noexcept;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Whether there is a socket to notify.
  bool enabled() const noexcept;
  // The watchdog timeout systemd asked for (WatchdogSec=); nullopt: no watchdog. Ping
  // at least twice within it.
  std::optional<std::chrono::microseconds> watchdog_timeout() const noexcept;

  // READY=1 with STATUS=`status`: start-up (or a reload) is complete.
  void ready(std::string_view status);
  // STATUS=`text`: shown by `systemctl status`.
  void status(std::string_view text);
  // RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now, µs> (required by
  // Type=notify-reload on systemd 253 and later, ignored before) and STATUS. Send
  // ready() when the reload is over, whatever its outcome.
  void reloading(std::string_view status);
  // STOPPING=1 with STATUS: shutdown has begun. Watchdog pings stop after it.
  void stopping(std::string_view status);
  // WATCHDOG=1: the service is alive. Call only when it is (EventLoopWatchdog).
  void watchdog();

  // Whether stopping() was called.
  bool stopping_sent() const noexcept;

  // Sends `assignments` as one datagram, as is. Returns whether the datagram was
  // sent; false also when there is no socket.
  bool notify(std::string_view assignments);

 private:
  struct Channel;
  std::unique_ptr<Channel> channel_;
  std::optional<std::chrono::microseconds> watchdog_timeout_;
};

// The watchdog's decision, one round per ping period: WATCHDOG=1 is sent only when
// the liveness probe sent in the previous round has answered, and answered healthy.
// A round that comes at all proves the event loop ran its timer. Pure and not
// thread-safe: EventLoopWatchdog keeps it behind its lock.
class WatchdogRounds {
 public:
  // `period`: the time between rounds, for the messages.
  explicit WatchdogRounds(std::chrono::milliseconds period);

  struct Round {
    bool ping = false;
    std::string withheld_because;  // when !ping
    std::uint64_t probe = 0;       // the probe to send now, answered through answered()
  };
  // Judges the probe of the previous round, then starts a new one. The first round
  // has nothing to judge and pings (start-up just completed).
  Round next();
  // The answer to probe `probe`; an answer to an older probe than the latest is
  // ignored (it came too late).
  void answered(std::uint64_t probe, bool healthy, std::string problem);

 private:
  std::chrono::milliseconds period_;
  std::uint64_t latest_probe_ = 0;
  struct Answer {
    bool healthy = false;
    std::string problem;
  };
  std::optional<Answer> answer_;  // to latest_probe_
};

// Asks whether the service's own threads are making progress: calls `answer` once,
// from any thread, with whether they are and why not; never calling it counts as
// "stuck". IncidentService::probe_liveness.
using LivenessProbe =
    std::function<void(std::function<void(bool healthy, std::string problem)> answer)>;

// Pings systemd's watchdog from the event loop itself: a steady timer on `io` runs
// a WatchdogRounds round every timeout / 2 and sends a liveness probe. So a loop that
// stops running timers, or service threads that stop answering or stop committing,
// stop the pings, and systemd restarts haverid (Restart=on-failure) after the timeout.
// A withheld ping is logged at warn with its reason.
//
// Runs on: the io threads (timer); probe answers on any thread. Construct, start()
// and stop() from the thread that owns it. `notifier` must outlive it.
class EventLoopWatchdog {
 public:
  EventLoopWatchdog(boost::asio::io_context& io, SystemdNotifier& notifier,
                    std::chrono::microseconds timeout, LivenessProbe probe);
  ~EventLoopWatchdog();  // stop()
  EventLoopWatchdog(const EventLoopWatchdog&) = delete;
  EventLoopWatchdog& operator=(const EventLoopWatchdog&) = delete;

  // Pings at once (start-up just completed), probes, and arms the timer.
  void start();
  // No round runs after it. Idempotent.
  void stop();

  // timeout / 2, at least 1 ms.
  std::chrono::milliseconds period() const noexcept;

 private:
  struct Loop;
  std::shared_ptr<Loop> loop_;
};

}  // namespace haveri::daemon
