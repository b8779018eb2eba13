// The HTTP server's limits, keep-alive, request ids and drain, over real sockets on
// 127.0.0.1 with short timeouts. Clients are raw sockets so that a test can send
// exactly the bytes (and the pauses) a slow or hostile client would.
#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/raw_http.hpp"

namespace haveri::http {
namespace {

using haveri::testing::RawClient;
using haveri::testing::RawResponse;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using ::testing::MatchesRegex;

// Timers fire no earlier than asked; a loaded machine (sanitizers, parallel builds)
// may fire them later. Elapsed times are checked within [limit - kEarly, limit + kLate].
constexpr milliseconds kEarly{20};
constexpr milliseconds kLate{2000};
// Bound on any single wait for the server.
constexpr milliseconds kWait{5000};

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

std::string get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

class HttpServerTest : public ::testing::Test {
 protected:
  void TearDown() override { shut_down(); }

  // Stops the io threads and destroys the server; idempotent.
  void shut_down() {
    if (server_) {
      server_->stop();
    }
    {
      std::lock_guard lock(mutex_);
      never_answered_.clear();
    }
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) {
      thread.join();
    }
    threads_.clear();
    server_.reset();
  }

  // Starts a server with `options` (address and port are the test's) on two threads.
  void start(ServerOptions options) {
    options.address = "127.0.0.1";
    options.port = 0;
    server_ =
        std::make_unique<HttpServer>(io_, options, [this](Request&& request, Responder respond) {
          handle(std::move(request), std::move(respond));
        });
    server_->start();
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }

  // /hello: 200 at once; /echo: the body back; /slow: 200 after 800 ms (long enough
  // for a drain to begin first on a loaded machine); /never:
  // no answer (the responder is kept); /big: a 16 MiB body.
  void handle(Request&& request, Responder respond) {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    if (request.path == "/slow") {
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, milliseconds(800));
      timer->async_wait([timer, respond](const boost::system::error_code&) {
        respond(Response::json(200, R"({"slow":true})"));
      });
      return;
    }
    if (request.path == "/never") {
      std::lock_guard lock(mutex_);
      never_answered_.push_back(std::move(respond));
      return;
    }
    Response response = Response::json(200, R"({"hello":true})");
    if (request.path == "/echo") {
      response.body = request.body;
    } else if (request.path == "/big") {
      response.body.assign(std::size_t{16} * 1024 * 1024, 'x');
    }
    respond(std::move(response));
  }

  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  // Polls (bounded) until `condition` holds.
  template <class Condition>
  bool eventually(Condition condition, milliseconds limit = kWait) {
    const auto deadline = Clock::now() + limit;
    while (!condition()) {
      if (Clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

  static ServerOptions short_timeouts() {
    ServerOptions options;
    options.header_timeout = milliseconds(500);
    options.body_timeout = milliseconds(500);
    options.idle_timeout = milliseconds(3000);
    options.write_timeout = milliseconds(500);
    return options;
  }

  std::uint16_t port() const { return server_->port(); }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::vector<Request> requests_;
  std::vector<Responder> never_answered_;
};

TEST_F(HttpServerTest, ContentLengthOverTheLimitGets413AndTheConnectionCloses) {
  ServerOptions options = short_timeouts();
  options.body_limit_bytes = 1024;
  start(options);
  RawClient client(port());
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5000\r\n\r\n" +
                          std::string(100, 'a')));
  const auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_THAT(response->body, ::testing::HasSubstr("1024 bytes"));
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.await_close());
  EXPECT_TRUE(requests().empty()) << "the handler saw an oversized request";
}

TEST_F(HttpServerTest, ChunkedBodyGrowingOverTheLimitGets413) {
  ServerOptions options = short_timeouts();
  options.body_limit_bytes = 1024;
  start(options);
  // Under the limit, a chunked body is served whole.
  {
    RawClient client(port());
    ASSERT_TRUE(
        client.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    const auto response = client.read_response();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello world");
  }
  // 1000 bytes, then 100 more: the second chunk crosses the limit.
  RawClient client(port());
  ASSERT_TRUE(
      client.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3e8\r\n" +
                  std::string(1000, 'a') + "\r\n64\r\n" + std::string(100, 'b') + "\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.await_close());
  EXPECT_EQ(requests().size(), 1U);
}

TEST_F(HttpServerTest, HeaderTrickleIsCutAtTheHeaderDeadlineNotKeptAlivePerByte) {
  ServerOptions options = short_timeouts();
  options.header_timeout = milliseconds(500);
  start(options);
  RawClient client(port());
  // A byte every 40 ms: each arrives well within any per-byte timeout.
  const std::string endless = "GET /hello HTTP/1.1\r\nX-Slow: " + std::string(1000, 'a');
  const auto first_byte = Clock::now();
  std::size_t sent = 0;
  while (sent < endless.size() && !client.readable_now() && since(first_byte) < kWait) {
    if (!client.send(endless.substr(sent++, 1))) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(40));
  }
  const auto response = client.read_response();
  const auto elapsed = since(first_byte);
  ASSERT_TRUE(response.has_value()) << "no answer after " << elapsed.count() << " ms";
  EXPECT_EQ(response->status, 408);
  EXPECT_THAT(response->body, ::testing::HasSubstr("headers not received within 500 ms"));
  EXPECT_GE(elapsed, options.header_timeout - kEarly);
  EXPECT_LE(elapsed, options.header_timeout + kLate);
  EXPECT_TRUE(client.await_close());
  EXPECT_TRUE(requests().empty());
  EXPECT_EQ(server_->stats().timed_out_total, 1U);
}

TEST_F(HttpServerTest, SlowBodyIsCutAtTheBodyDeadline) {
  ServerOptions options = short_timeouts();
  options.body_timeout = milliseconds(600);
  start(options);
  RawClient client(port());
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n"));
  const auto headers_sent = Clock::now();
  // A tenth of the body, then a byte every 50 ms: never all of it in time.
  ASSERT_TRUE(client.send(std::string(10, 'a')));
  while (!client.readable_now() && since(headers_sent) < kWait) {
    if (!client.send("b")) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  const auto response = client.read_response();
  const auto elapsed = since(headers_sent);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_THAT(response->body, ::testing::HasSubstr("body not received within 600 ms"));
  EXPECT_GE(elapsed, options.body_timeout - kEarly);
  EXPECT_LE(elapsed, options.body_timeout + kLate);
  EXPECT_TRUE(client.await_close());
  EXPECT_TRUE(requests().empty());
}

TEST_F(HttpServerTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  ServerOptions options = short_timeouts();
  options.idle_timeout = milliseconds(400);
  start(options);
  // Kept alive after a request. The times are taken before what starts the server's
  // idle timer (its write, its accept), so a descheduled client cannot undercut them.
  RawClient kept(port());
  const auto answered = Clock::now();
  ASSERT_TRUE(kept.send(get("/hello")));
  ASSERT_TRUE(kept.read_response().has_value());
  // A new connection that never sends a byte.
  const auto connected = Clock::now();
  RawClient silent(port());

  EXPECT_TRUE(kept.await_close());
  EXPECT_GE(since(answered), options.idle_timeout - kEarly);
  EXPECT_LE(since(answered), options.idle_timeout + kLate);
  EXPECT_TRUE(silent.await_close());
  EXPECT_GE(since(connected), options.idle_timeout - kEarly);
  EXPECT_TRUE(kept.received().empty()) << "an idle close is not answered: " << kept.received();
  EXPECT_TRUE(eventually([&] { return server_->stats().open_connections == 0; }));
  EXPECT_EQ(server_->stats().timed_out_total, 0U);
}

TEST_F(HttpServerTest, ClientThatDoesNotReadItsResponseIsCutByTheWriteTimeout) {
  ServerOptions options = short_timeouts();
  options.write_timeout = milliseconds(500);
  start(options);
  RawClient client(port(), 4096);
  ASSERT_TRUE(client.send(get("/big")));
  const auto asked = Clock::now();
  ASSERT_TRUE(eventually([&] { return server_->stats().timed_out_total == 1; }))
      << "the server is still writing after " << since(asked).count() << " ms";
  EXPECT_GE(since(asked), options.write_timeout - kEarly);
  EXPECT_TRUE(eventually([&] { return server_->stats().open_connections == 0; }));
  // The client finds a truncated response and the end of the connection.
  EXPECT_TRUE(client.await_close(milliseconds(20000)));
  EXPECT_LT(client.received_total(), std::size_t{16} * 1024 * 1024);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapGet503AndAreServedAgainOnceOneCloses) {
  ServerOptions options = short_timeouts();
  options.max_connections = 2;
  start(options);
  auto first = std::make_unique<RawClient>(port());
  RawClient second(port());
  for (RawClient* client : {first.get(), &second}) {
    ASSERT_TRUE(client->send(get("/hello")));
    const auto response = client->read_response();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  RawClient third(port());
  ASSERT_TRUE(third.send(get("/hello")));
  const auto refused = third.read_response();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("retry-after"), "1");
  EXPECT_FALSE(refused->header("x-request-id").empty());
  EXPECT_TRUE(third.await_close());
  EXPECT_EQ(server_->stats().refused_busy_total, 1U);
  EXPECT_EQ(server_->stats().open_connections, 2U);

  first.reset();  // one closes: a new connection is served (once the server sees it)
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    RawClient next(port());
    ASSERT_TRUE(next.send(get("/hello")));
    const auto response = next.read_response();
    ASSERT_TRUE(response.has_value());
    served = response->status == 200;
    if (!served) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  EXPECT_TRUE(served);
  EXPECT_EQ(requests().size(), 3U);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start(short_timeouts());
  RawClient client(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(get("/hello")));
    const auto response = client.read_response();
    ASSERT_TRUE(response.has_value()) << "request " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->header("connection"), "close");
  }
  EXPECT_EQ(requests().size(), 3U);
  EXPECT_EQ(server_->stats().requests_total, 3U);
  EXPECT_EQ(server_->stats().open_connections, 1U);
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveClosesAfterTheResponse) {
  start(short_timeouts());
  RawClient client(port());
  ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_THAT(response->status_line, ::testing::StartsWith("HTTP/1.0 200"));
  EXPECT_TRUE(client.await_close());

  // Asked for, HTTP/1.0 keep-alive is honoured.
  RawClient kept(port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto again = kept.read_response();
    ASSERT_TRUE(again.has_value()) << "request " << i;
    EXPECT_EQ(again->header("connection"), "keep-alive");
  }
}

TEST_F(HttpServerTest, ConnectionCloseClosesAfterTheResponse) {
  start(short_timeouts());
  RawClient client(port());
  ASSERT_TRUE(client.send(get("/hello", "Connection: close\r\n")));
  const auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.await_close());
  EXPECT_TRUE(client.received().empty());
}

TEST_F(HttpServerTest, MalformedAndOversizedHeadersAreRefusedAndClosed) {
  start(short_timeouts());
  RawClient garbage(port());
  ASSERT_TRUE(garbage.send("NOT HTTP AT ALL\r\n\r\n"));
  const auto bad = garbage.read_response();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(garbage.await_close());

  RawClient huge(port());
  ASSERT_TRUE(huge.send(get("/hello", "X-Huge: " + std::string(20000, 'h') + "\r\n")));
  const auto too_large = huge.read_response();
  ASSERT_TRUE(too_large.has_value());
  EXPECT_EQ(too_large->status, 431);
  EXPECT_TRUE(huge.await_close());
  EXPECT_TRUE(requests().empty());
}

TEST_F(HttpServerTest, RequestIdIsEchoedWhenValidAndReplacedWhenHostile) {
  start(short_timeouts());
  RawClient client(port());
  const auto exchange = [&client](const std::string& headers) {
    EXPECT_TRUE(client.send(get("/hello", headers)));
    auto response = client.read_response();
    return response ? *response : RawResponse{};
  };
  const std::string valid = "Ab9._-" + std::string(58, 'z');  // 64 characters
  EXPECT_EQ(exchange("X-Request-Id: " + valid + "\r\n").header("x-request-id"), valid);
  ASSERT_FALSE(requests().empty());
  EXPECT_EQ(requests().back().request_id, valid);

  const std::string generated = "[0-9a-f]{16}";
  const std::vector<std::string> hostile = {
      "X-Request-Id: " + valid + "z\r\n",         // 65 characters
      "X-Request-Id: has space\r\n",              // a character outside the set
      "X-Request-Id: id;rm -rf\r\n",              // another
      "X-Request-Id: abc\r\n Injected: yes\r\n",  // a folded line smuggling a header
      "X-Request-Id:\r\n",                        // empty
      "",                                         // absent
  };
  std::vector<std::string> ids;
  for (const auto& headers : hostile) {
    const RawResponse response = exchange(headers);
    EXPECT_EQ(response.status, 200) << headers;
    EXPECT_THAT(response.header("x-request-id"), MatchesRegex(generated)) << headers;
    EXPECT_TRUE(response.header("injected").empty()) << headers;
    EXPECT_EQ(requests().back().request_id, response.header("x-request-id")) << headers;
    ids.push_back(response.header("x-request-id"));
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << "generated ids repeat";
}

// The drain as haverid runs it on SIGTERM.
TEST_F(HttpServerTest, DrainAnswersInFlightClosesIdleRefusesNewAndCutsAtTheLimit) {
  start(short_timeouts());
  const std::uint16_t server_port = port();  // port() is 0 once the drain closed the acceptor
  RawClient idle(server_port);
  ASSERT_TRUE(idle.send(get("/hello")));
  ASSERT_TRUE(idle.read_response().has_value());
  RawClient slow(port());
  ASSERT_TRUE(slow.send(get("/slow")));
  RawClient never(port());
  ASSERT_TRUE(never.send(get("/never")));
  // All three requests reached the handler and only two are in flight: the first
  // one's exchange is counted until its write completes, so the count alone can be 2
  // before /never has even been read.
  ASSERT_TRUE(eventually(
      [&] { return requests().size() == 3 && server_->stats().requests_in_flight == 2; }));

  const milliseconds limit{1500};
  std::atomic<int> calls{0};
  std::mutex report_mutex;
  DrainReport report;
  milliseconds reported_after{0};
  const auto drain_started = Clock::now();
  server_->drain(limit, [&](DrainReport drained) {
    std::lock_guard lock(report_mutex);
    report = drained;
    reported_after = since(drain_started);
    ++calls;
  });

  // The idle keep-alive connection is closed at once, unanswered.
  EXPECT_TRUE(idle.await_close(milliseconds(1000)));
  EXPECT_TRUE(idle.received().empty());
  // No new connection is accepted.
  EXPECT_TRUE(eventually([&] { return !RawClient(server_port).connected(); }, milliseconds(2000)));
  // The slow request is answered, with Connection: close, and its connection closed.
  const auto answered = slow.read_response();
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 200);
  EXPECT_EQ(answered->header("connection"), "close");
  EXPECT_TRUE(slow.await_close());
  // The handler that never answers is cut at the limit.
  EXPECT_TRUE(never.await_close(limit + kLate));
  EXPECT_TRUE(never.received().empty());
  ASSERT_TRUE(eventually([&] { return calls.load() > 0; }, limit + kLate));
  {
    std::lock_guard lock(report_mutex);
    EXPECT_EQ(report.finished, 1U);
    EXPECT_EQ(report.cut, 1U);
    EXPECT_GE(reported_after, limit - kEarly);
    EXPECT_LE(reported_after, limit + kLate);
  }
  // A late answer to a cut connection goes nowhere, harmlessly.
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(never_answered_.size(), 1U);
    never_answered_[0](Response::json(200, "{}"));
  }
  server_->cut_drain();  // after the report: nothing more happens
  shut_down();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(report.finished, 1U);
}

TEST_F(HttpServerTest, DrainEndsAsSoonAsTheLastRequestIsAnswered) {
  start(short_timeouts());
  RawClient slow(port());
  ASSERT_TRUE(slow.send(get("/slow")));
  ASSERT_TRUE(eventually([&] { return server_->stats().requests_in_flight == 1; }));
  std::promise<DrainReport> drained;
  const auto drain_started = Clock::now();
  server_->drain(milliseconds(20000),
                 [&drained](DrainReport report) { drained.set_value(report); });
  auto future = drained.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_LT(since(drain_started), milliseconds(20000) / 2);
  const DrainReport report = future.get();
  EXPECT_EQ(report.finished, 1U);
  EXPECT_EQ(report.cut, 0U);
  const auto response = slow.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, DrainWithNothingOpenReportsAtOnce) {
  start(short_timeouts());
  std::promise<DrainReport> drained;
  server_->drain(milliseconds(20000),
                 [&drained](DrainReport report) { drained.set_value(report); });
  auto future = drained.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  const DrainReport report = future.get();
  EXPECT_EQ(report.finished, 0U);
  EXPECT_EQ(report.cut, 0U);
}

TEST_F(HttpServerTest, CutDrainEndsTheDrainNow) {
  start(short_timeouts());
  RawClient never(port());
  ASSERT_TRUE(never.send(get("/never")));
  ASSERT_TRUE(eventually([&] { return server_->stats().requests_in_flight == 1; }));
  std::promise<DrainReport> drained;
  const auto drain_started = Clock::now();
  server_->drain(milliseconds(20000),
                 [&drained](DrainReport report) { drained.set_value(report); });
  server_->cut_drain();
  auto future = drained.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_LT(since(drain_started), kWait);
  const DrainReport report = future.get();
  EXPECT_EQ(report.finished, 0U);
  EXPECT_EQ(report.cut, 1U);
  EXPECT_TRUE(never.await_close());
  EXPECT_EQ(server_->stats().requests_in_flight, 0U);
  EXPECT_EQ(server_->stats().open_connections, 0U);
}

}  // namespace
}  // namespace haveri::http
