// (d) The load tool: N keep-alive HTTP/1.1 connections POSTing chat messages as
// JSON, closed loop (each connection sends its next request when the previous one
// is answered: the maximum rate) or open loop at a fixed rate.
//
//   haveri_load --port P [--host 127.0.0.1] [--path /hooks/local/messages]
//               [--connections 64] [--duration 10] [--warmup 2] [--rate R]
//               [--channels a,b,c] [--id-prefix run-1] [--timeout 10]
//
// Every request is {"channel", "user", "text", "client_message_id"} (the local
// transport's body): connection c posts as user "load-c" into channel number
// c mod (number of channels), each with a unique client_message_id.
//
// Open loop: request k is due at start + k/rate whatever the server does; a due
// request waits for an idle connection if none is free, and its latency counts
// from when it was due (no coordinated omission). Closed loop: latency counts from
// the send.
//
// Prints one line of JSON on stdout:
//   {"mode":"closed","connections":64,"seconds":10.0,"events_per_s":…,
//    "ok":…,"errors":…,"p50_ms":…,"p99_ms":…,"max_ms":…,"statuses":{"200":…},…}
// Requests due (open loop) or sent (closed loop) in the warm-up are not counted;
// events_per_s is 2xx answers completed in the measured window over its length.
// Errors are answers other than 2xx, connection failures and timeouts.
// Exit status: 0 if it ran (whatever the errors), 2 for bad arguments, 1 if it
// could not connect at all.
//
// Runs on: one thread (one io_context); every handler touches the state alone.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "bench_support.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string path = "/hooks/local/messages";
  std::size_t connections = 64;
  double duration_s = 10;
  double warmup_s = 2;
  double rate = 0;  // requests per second; 0: closed loop
  std::vector<std::string> channels{"general"};
  std::string id_prefix = "load";
  double timeout_s = 10;
};

constexpr const char* kUsage =
    "usage: haveri_load --port P [--host 127.0.0.1] [--path /hooks/local/messages]\n"
    "                   [--connections 64] [--duration 10] [--warmup 2] [--rate R]\n"
    "                   [--channels a,b,c] [--id-prefix run-1] [--timeout 10]\n";

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw std::invalid_argument(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--host") {
      options.host = value();
    } else if (arg == "--port") {
      options.port = static_cast<unsigned short>(std::stoi(value()));
    } else if (arg == "--path") {
      options.path = value();
    } else if (arg == "--connections") {
      options.connections = static_cast<std::size_t>(std::max(1, std::stoi(value())));
    } else if (arg == "--duration") {
      options.duration_s = std::stod(value());
    } else if (arg == "--warmup") {
      options.warmup_s = std::stod(value());
    } else if (arg == "--rate") {
      options.rate = std::stod(value());
    } else if (arg == "--channels") {
      options.channels = split(value());
    } else if (arg == "--id-prefix") {
      options.id_prefix = value();
    } else if (arg == "--timeout") {
      options.timeout_s = std::stod(value());
    } else {
      throw std::invalid_argument("unknown argument \"" + arg + "\"");
    }
  }
  if (options.port == 0) {
    throw std::invalid_argument("--port is required");
  }
  if (options.channels.empty() || options.duration_s <= 0 || options.warmup_s < 0 ||
      options.rate < 0 || options.timeout_s <= 0) {
    throw std::invalid_argument(
        "--channels must name one channel at least; --duration and --timeout must be > 0, "
        "--warmup and --rate >= 0");
  }
  return options;
}

std::chrono::nanoseconds seconds(double value) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(value));
}

class Connection;

// The run: its clock, the schedule and what was measured.
class LoadRun {
 public:
  LoadRun(asio::io_context& io, Options options, tcp::resolver::results_type endpoints)
      : io_(io), options_(std::move(options)), endpoints_(std::move(endpoints)), ticker_(io) {}

  void start();
  nlohmann::json report() const;

  // Called by a connection that is connected and has nothing in flight.
  void on_idle(Connection& connection);
  // Called when a request due at `due` ended at `ended`: `status` 0 for a failure.
  void on_done(SteadyClock::time_point due, SteadyClock::time_point ended, unsigned status);

  const Options& options() const { return options_; }
  const tcp::resolver::results_type& endpoints() const { return endpoints_; }
  asio::io_context& io() { return io_; }
  bool connected_once = false;

 private:
  void tick();
  void finish_if_drained();

  asio::io_context& io_;
  Options options_;
  tcp::resolver::results_type endpoints_;
  asio::steady_timer ticker_;
  std::vector<std::shared_ptr<Connection>> connections_;

  SteadyClock::time_point started_{};
  SteadyClock::time_point measure_from_{};
  SteadyClock::time_point measure_until_{};
  SteadyClock::time_point give_up_at_{};
  bool sending_ = true;

  // Open loop: the next request's due time, and due requests waiting for a connection.
  SteadyClock::time_point next_due_{};
  std::deque<SteadyClock::time_point> waiting_;
  std::vector<Connection*> idle_;
  std::size_t in_flight_ = 0;

  std::vector<std::uint32_t> latencies_us_;
  std::uint64_t completed_in_window_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t unfinished_ = 0;
  std::map<unsigned, std::uint64_t> statuses_;
};

// One keep-alive connection; reconnects after a failure.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(LoadRun& run, std::size_t index) : run_(run), index_(index) {
    stream_.emplace(run.io());
  }

  void connect() {
    stream_->expires_after(seconds(run_.options().timeout_s));
    stream_->async_connect(run_.endpoints(),
                           beast::bind_front_handler(&Connection::on_connect, shared_from_this()));
  }

  // Sends the next message; `due` is when it was due (open loop) or now.
  void send(SteadyClock::time_point due) {
    due_ = due;
    const auto& options = run_.options();
    const nlohmann::json body = {
        {"channel", options.channels[index_ % options.channels.size()]},
        {"user", "load-" + std::to_string(index_)},
        {"text", haveri::bench::message_text(sent_)},
        {"client_message_id",
         options.id_prefix + "-" + std::to_string(index_) + "-" + std::to_string(sent_)}};
    ++sent_;
    request_ = {};
    request_.method(http::verb::post);
    request_.target(options.path);
    request_.version(11);
    request_.set(http::field::host, options.host);
    request_.set(http::field::content_type, "application/json");
    request_.keep_alive(true);
    request_.body() = body.dump();
    request_.prepare_payload();
    stream_->expires_after(seconds(options.timeout_s));
    http::async_write(*stream_, request_,
                      beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void close() {
    beast::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->close();
  }

 private:
  // A fresh socket for the next request (beast streams cannot be reassigned).
  void reconnect() {
    close();
    stream_.emplace(run_.io());
    buffer_.clear();
    connect();
  }

  void on_connect(beast::error_code ec, const tcp::endpoint& /*endpoint*/) {
    if (ec) {
      std::cerr << "haveri_load: connection " << index_ << ": connect: " << ec.message() << '\n';
      return;  // this connection stays out of the run
    }
    run_.connected_once = true;
    stream_->socket().set_option(tcp::no_delay(true));
    run_.on_idle(*this);
  }

  void on_write(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      fail(ec, "write");
      return;
    }
    response_ = {};
    http::async_read(*stream_, buffer_, response_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      fail(ec, "read");
      return;
    }
    const auto status = response_.result_int();
    if ((status < 200 || status >= 300) && reported_ < 3) {
      ++reported_;
      std::cerr << "haveri_load: HTTP " << status << ": " << response_.body().substr(0, 200)
                << '\n';
    }
    run_.on_done(due_, SteadyClock::now(), status);
    if (!response_.keep_alive()) {
      reconnect();
      return;
    }
    run_.on_idle(*this);
  }

  void fail(beast::error_code ec, const char* what) {
    if (reported_ < 3) {
      ++reported_;
      std::cerr << "haveri_load: connection " << index_ << ": " << what << ": " << ec.message()
                << '\n';
    }
    run_.on_done(due_, SteadyClock::now(), 0);
    reconnect();
  }

  LoadRun& run_;
  std::size_t index_;
  std::optional<beast::tcp_stream> stream_;  // replaced on reconnect
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  SteadyClock::time_point due_{};
  std::uint64_t sent_ = 0;
  int reported_ = 0;
};

void LoadRun::start() {
  started_ = SteadyClock::now();
  measure_from_ = started_ + seconds(options_.warmup_s);
  measure_until_ = measure_from_ + seconds(options_.duration_s);
  give_up_at_ = measure_until_ + seconds(options_.timeout_s);
  next_due_ = started_;
  for (std::size_t i = 0; i < options_.connections; ++i) {
    connections_.push_back(std::make_shared<Connection>(*this, i));
    connections_.back()->connect();
  }
  tick();
}

void LoadRun::tick() {
  const auto now = SteadyClock::now();
  if (sending_ && now >= measure_until_) {
    sending_ = false;  // the schedule ends; what is due or in flight drains
  }
  if (options_.rate > 0) {
    const auto interval = seconds(1.0 / options_.rate);
    while (next_due_ <= now && next_due_ < measure_until_) {
      if (!idle_.empty()) {
        Connection* connection = idle_.back();
        idle_.pop_back();
        ++in_flight_;
        connection->send(next_due_);
      } else {
        waiting_.push_back(next_due_);
      }
      next_due_ += interval;
    }
  }
  if (now >= give_up_at_) {
    // Whatever has not been answered by now counts as failed.
    unfinished_ = in_flight_ + waiting_.size();
    for (const auto& connection : connections_) {
      connection->close();
    }
    io_.stop();
    return;
  }
  if (!sending_ && in_flight_ == 0 && waiting_.empty()) {
    finish_if_drained();
    return;
  }
  ticker_.expires_after(std::chrono::microseconds(options_.rate > 0 ? 500 : 50'000));
  ticker_.async_wait([this](beast::error_code ec) {
    if (!ec) {
      tick();
    }
  });
}

void LoadRun::finish_if_drained() {
  if (!sending_ && in_flight_ == 0 && waiting_.empty()) {
    ticker_.cancel();
    for (const auto& connection : connections_) {
      connection->close();
    }
    io_.stop();
  }
}

void LoadRun::on_idle(Connection& connection) {
  const auto now = SteadyClock::now();
  if (options_.rate > 0) {
    if (!waiting_.empty()) {
      const auto due = waiting_.front();
      waiting_.pop_front();
      ++in_flight_;
      connection.send(due);
      return;
    }
    idle_.push_back(&connection);
    finish_if_drained();
    return;
  }
  if (now < measure_until_) {
    ++in_flight_;
    connection.send(now);
    return;
  }
  sending_ = false;
  finish_if_drained();
}

void LoadRun::on_done(SteadyClock::time_point due, SteadyClock::time_point ended, unsigned status) {
  --in_flight_;
  const bool ok = status >= 200 && status < 300;
  if (due < measure_from_ || due >= measure_until_) {
    return;  // warm-up, or the last requests of a closed loop
  }
  ++statuses_[status];
  if (!ok) {
    ++errors_;
    return;
  }
  ++ok_;
  if (ended <= measure_until_) {
    ++completed_in_window_;
  }
  latencies_us_.push_back(static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(ended - due).count()));
}

nlohmann::json LoadRun::report() const {
  auto sorted = latencies_us_;
  std::sort(sorted.begin(), sorted.end());
  const auto percentile = [&sorted](double p) -> double {
    if (sorted.empty()) {
      return 0.0;
    }
    const auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]) / 1000.0;
  };
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, count] : statuses_) {
    statuses[status == 0 ? "failed" : std::to_string(status)] = count;
  }
  const double window = options_.duration_s;
  return {{"mode", options_.rate > 0 ? "open" : "closed"},
          {"target_rate", options_.rate},
          {"connections", options_.connections},
          {"channels", options_.channels.size()},
          {"seconds", window},
          {"events_per_s", static_cast<double>(completed_in_window_) / window},
          {"ok", ok_},
          {"errors", errors_ + unfinished_},
          {"unfinished", unfinished_},
          {"p50_ms", percentile(0.50)},
          {"p90_ms", percentile(0.90)},
          {"p99_ms", percentile(0.99)},
          {"max_ms", sorted.empty() ? 0.0 : static_cast<double>(sorted.back()) / 1000.0},
          {"statuses", statuses}};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "haveri_load: " << e.what() << '\n' << kUsage;
    return 2;
  }
  try {
    asio::io_context io(1);
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port));
    LoadRun run(io, options, endpoints);
    run.start();
    io.run();
    if (!run.connected_once) {
      std::cerr << "haveri_load: could not connect to " << options.host << ":" << options.port
                << '\n';
      return 1;
    }
    std::cout << run.report().dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "haveri_load: " << e.what() << '\n';
    return 1;
  }
}
