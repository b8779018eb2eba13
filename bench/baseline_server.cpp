// (c) The ingest ceiling of this machine: the least a server must do to take a chat
// message over HTTP and acknowledge it durably, written for the benchmark only.
//
//   haveri_baseline_server [--db FILE] [--path /hooks/local/messages]
//                          [--threads 2] [--max-batch 1024]
//
// Boost.Beast HTTP/1.1 with keep-alive on 127.0.0.1 (port 0; the first line on
// stdout is "listening on http://127.0.0.1:<port>"). Each POST to --path carries a
// JSON body like the local transport's ({"channel", "user", "text",
// "client_message_id"}), parsed with nlohmann. One writer thread owns a SQLite file
// with the store's schema and settings (WAL, synchronous=FULL) and commits group
// by group: every request that arrived while the previous transaction committed
// goes in the next one, one event row plus one receipt row each; a request is
// answered 200 only after its transaction committed. A retried client_message_id
// is answered 200 and stored once. SIGINT or SIGTERM stops it.
//
// Threads: --threads io threads run every socket (a strand per connection); the
// writer thread owns the database.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "bench_support.hpp"
#include "raw_sqlite.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kBodyLimit = 1 << 20;
constexpr std::size_t kMaxQueued = 100000;
constexpr auto kReadTimeout = std::chrono::seconds(15);

// One chat message to store, as the HTTP side hands it to the writer.
struct Message {
  std::string channel;
  std::string user;
  std::string payload;  // event payload JSON, shaped like the store's
  std::string idempotency_key;
  std::function<void(bool stored)> done;  // runs on the writer thread; must not block
};

// The one writer of the database: group commit over a queue.
// Runs on: submit() and stop() from any thread; the rest on its own thread.
class GroupCommitQueue {
 public:
  GroupCommitQueue(const std::filesystem::path& db_path, std::size_t max_batch)
      : db_(haveri::bench::open_with_store_schema(db_path)),
        rows_(db_.get()),
        max_batch_(max_batch),
        thread_([this] { run(); }) {}
  ~GroupCommitQueue() { stop(); }
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // False when too many wait already or the writer stopped; the message is dropped.
  bool submit(Message message) {
    {
      std::lock_guard lock(shared_.mutex);
      if (shared_.stopping || shared_.queue.size() >= kMaxQueued) {
        return false;
      }
      shared_.queue.push_back(std::move(message));
    }
    shared_.wake.notify_one();
    return true;
  }

  // Commits what is queued, then stops the thread. Idempotent.
  void stop() {
    {
      std::lock_guard lock(shared_.mutex);
      shared_.stopping = true;
    }
    shared_.wake.notify_one();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  std::uint64_t batches() const { return batches_; }
  std::uint64_t rows() const { return rows_written_; }

 private:
  void run() {
    std::vector<Message> batch;
    for (;;) {
      {
        std::unique_lock lock(shared_.mutex);
        shared_.wake.wait(lock, [this] { return shared_.stopping || !shared_.queue.empty(); });
        if (shared_.queue.empty()) {
          return;
        }
        const std::size_t take = std::min(shared_.queue.size(), max_batch_);
        for (std::size_t i = 0; i < take; ++i) {
          batch.push_back(std::move(shared_.queue.front()));
          shared_.queue.pop_front();
        }
      }
      const bool committed = commit(batch);
      for (auto& message : batch) {
        message.done(committed);
      }
      batch.clear();
    }
  }

  bool commit(const std::vector<Message>& batch) {
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    // Sequences handed out in this transaction are taken back if it fails.
    const auto incidents_before = incidents_;
    try {
      haveri::bench::exec(db_.get(), "BEGIN IMMEDIATE");
      for (const auto& message : batch) {
        auto [it, is_new] = incidents_.try_emplace(message.channel, Incident{});
        if (is_new) {
          it->second.id = static_cast<std::int64_t>(incidents_.size());
        }
        const std::string member = "local:" + message.user;
        if (rows_.write({it->second.id, it->second.last_sequence + 1, now_ms, message.user, member,
                         message.payload, message.idempotency_key})) {
          ++it->second.last_sequence;
          ++rows_written_;
        }
      }
      haveri::bench::exec(db_.get(), "COMMIT");
      ++batches_;
      return true;
    } catch (const std::exception& e) {
      std::cerr << "haveri_baseline_server: transaction failed: " << e.what() << '\n';
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      incidents_ = incidents_before;
      return false;
    }
  }

  struct Incident {
    std::int64_t id = 0;
    std::int64_t last_sequence = 0;
  };
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Message> queue;
    bool stopping = false;
  };

  haveri::bench::Connection db_;
  haveri::bench::EventRowWriter rows_;
  std::size_t max_batch_;
  std::map<std::string, Incident> incidents_;  // by channel; writer thread only
  std::uint64_t batches_ = 0;
  std::uint64_t rows_written_ = 0;
  Shared shared_;
  std::thread thread_;  // last: started once the rest is ready
};

std::optional<std::string> string_at(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

// One HTTP connection: read a request, hand it to the writer, answer once it is
// durable, read the next.
// Runs on: its strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, GroupCommitQueue& queue, const std::string& path)
      : stream_(std::move(socket)), queue_(queue), path_(path) {}

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::end_of_stream) {
      do_close();
      return;
    }
    if (ec) {
      return;  // timeout, reset, a body over the limit: drop the connection
    }
    stream_.expires_never();
    handle(parser_->release());
  }

  void handle(http::request<http::string_body>&& request) {
    const bool keep_alive = request.keep_alive();
    const unsigned version = request.version();
    if (request.method() != http::verb::post || request.target() != path_) {
      respond(http::status::not_found, R"({"error":"not found"})", version, keep_alive);
      return;
    }
    const auto body = nlohmann::json::parse(request.body(), nullptr, false);
    if (!body.is_object()) {
      respond(http::status::bad_request, R"({"error":"the body must be a JSON object"})", version,
              keep_alive);
      return;
    }
    auto channel = string_at(body, "channel");
    auto user = string_at(body, "user");
    auto text = string_at(body, "text");
    if (!channel || !user || !text) {
      respond(http::status::bad_request, R"({"error":"channel, user and text are required"})",
              version, keep_alive);
      return;
    }
    const std::string message_id = string_at(body, "client_message_id").value_or("");
    Message message;
    message.payload = nlohmann::json{
        {"text", *text},
        {"channel", {{"instance", "local"}, {"id", *channel}, {"name", *channel}}},
        {"platform_message_id", message_id},
        {"truncated",
         false}}.dump();
    message.idempotency_key = "local:local:" + *user + ":" + message_id;
    message.channel = std::move(*channel);
    message.user = std::move(*user);
    message.done = [self = shared_from_this(), version, keep_alive](bool stored) {
      asio::post(self->stream_.get_executor(), [self, stored, version, keep_alive] {
        if (stored) {
          self->respond(http::status::ok, R"({"ok":true})", version, keep_alive);
        } else {
          self->respond(http::status::internal_server_error, R"({"error":"not stored"})", version,
                        keep_alive);
        }
      });
    };
    if (!queue_.submit(std::move(message))) {
      respond(http::status::service_unavailable, R"({"error":"the writer is busy"})", version,
              keep_alive);
    }
  }

  void respond(http::status status, std::string body, unsigned version, bool keep_alive) {
    response_ = {};
    response_.result(status);
    response_.version(version);
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(keep_alive);
    response_.body() = std::move(body);
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      return;
    }
    if (!response_.keep_alive()) {
      do_close();
      return;
    }
    do_read();
  }

  void do_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  GroupCommitQueue& queue_;
  const std::string& path_;
};

// Accepts connections on 127.0.0.1 and starts a Session for each.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, GroupCommitQueue& queue, std::string path)
      : io_(io),
        acceptor_(asio::make_strand(io), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        queue_(queue),
        path_(std::move(path)) {}

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  void do_accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), queue_, path_)->run();
    }
    do_accept();
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  GroupCommitQueue& queue_;
  std::string path_;
};

struct Options {
  std::optional<std::filesystem::path> db;
  std::string path = "/hooks/local/messages";
  unsigned threads = 2;
  std::size_t max_batch = 1024;
};

constexpr const char* kUsage =
    "usage: haveri_baseline_server [--db FILE] [--path /hooks/local/messages] [--threads 2] "
    "[--max-batch 1024]\n";

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
    if (arg == "--db") {
      options.db = value();
    } else if (arg == "--path") {
      options.path = value();
    } else if (arg == "--threads") {
      options.threads = static_cast<unsigned>(std::max(1, std::stoi(value())));
    } else if (arg == "--max-batch") {
      options.max_batch = static_cast<std::size_t>(std::max(1, std::stoi(value())));
    } else {
      throw std::invalid_argument("unknown argument \"" + arg + "\"");
    }
  }
  return options;
}

int run(const Options& options) {
  std::optional<haveri::bench::ScratchDir> scratch;
  std::filesystem::path db_path;
  if (options.db) {
    db_path = *options.db;
  } else {
    scratch.emplace("baseline");
    db_path = scratch->path() / "baseline.db";
  }
  GroupCommitQueue queue(db_path, options.max_batch);
  asio::io_context io(static_cast<int>(options.threads));
  auto listener = std::make_shared<Listener>(io, queue, options.path);
  listener->do_accept();
  std::cout << "listening on http://127.0.0.1:" << listener->port() << std::endl;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const beast::error_code&, int) { io.stop(); });
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < options.threads; ++i) {
    pool.emplace_back([&io] { io.run(); });
  }
  io.run();
  for (auto& thread : pool) {
    thread.join();
  }
  queue.stop();
  std::cout << "stopped: " << queue.rows() << " rows in " << queue.batches() << " transactions"
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "haveri_baseline_server: " << e.what() << '\n' << kUsage;
    return 1;
  }
}
