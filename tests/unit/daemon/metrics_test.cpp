// The metrics registry and its text exposition (checked by a strict parser of the
// format), route labelling, /readyz and /metrics through the real router, and the
// incident service's counting with a real SQLite store and a fake clock.
#include "metrics.hpp"

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <haveri/store/sqlite_event_store.hpp>

#include "incident_service.hpp"
#include "plugin_host.hpp"
#include "routes.hpp"
#include "support/daemon_process.hpp"
#include "support/exposition_parser.hpp"
#include "support/failing_commit_store.hpp"

namespace {

using haveri::daemon::DaemonMetrics;
using haveri::daemon::RouteLabel;
using haveri::daemon::metrics::Registry;
using haveri::testing::parse_exposition;
using ::testing::HasSubstr;

// Parses `text` strictly; a failure names the line and shows the text.
haveri::testing::Exposition parsed(const std::string& text) {
  auto exposition = parse_exposition(text);
  EXPECT_EQ(exposition.error, "") << text;
  return exposition;
}

TEST(MetricsRegistry, RendersCountersAndGaugesSortedWithHelpAndTypeFirst) {
  Registry registry;
  // Registered and created out of order: the text is sorted all the same.
  registry.gauge("temperature_celsius", "Now.").with({}).set(21.5);
  auto& jobs = registry.counter("jobs_total", "Jobs done.", {"kind", "queue"});
  jobs.with({"b", "q1"}).increment(2);
  jobs.with({"a", "q2"}).increment();
  jobs.with({"a", "q1"}).increment(0);
  EXPECT_EQ(registry.render(),
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total{kind=\"a\",queue=\"q1\"} 0\n"
            "jobs_total{kind=\"a\",queue=\"q2\"} 1\n"
            "jobs_total{kind=\"b\",queue=\"q1\"} 2\n"
            "# HELP temperature_celsius Now.\n"
            "# TYPE temperature_celsius gauge\n"
            "temperature_celsius 21.5\n");
  parsed(registry.render());
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelpSoTheyReadBackUnchanged) {
  Registry registry;
  const std::string hostile = "C:\\DIR\\\"FILE\"\nnext line } , le=\"1\"";
  registry.counter("paths_total", "Help with a \\ backslash\nand a line feed.", {"path"})
      .with({hostile})
      .increment();
  const std::string text = registry.render();
  EXPECT_THAT(text,
              HasSubstr(R"(paths_total{path="C:\\DIR\\\"FILE\"\nnext line } , le=\"1\""} 1)"));
  EXPECT_THAT(text,
              HasSubstr("# HELP paths_total Help with a \\\\ backslash\\nand a line feed.\n"));
  const auto exposition = parsed(text);
  EXPECT_EQ(exposition.value("paths_total", {{"path", hostile}}), 1.0);
  EXPECT_EQ(exposition.families.at("paths_total").help,
            "Help with a \\ backslash\nand a line feed.");
}

TEST(MetricsRegistry, AnEmptyLabelValueIsLeftOutAsPrometheusReadsIt) {
  Registry registry;
  auto& requests = registry.counter("requests_total", "Requests.", {"route", "instance"});
  requests.with({"/a", ""}).increment();
  requests.with({"/b", "x"}).increment();
  requests.with({"", ""}).increment(3);
  const std::string text = registry.render();
  EXPECT_THAT(text, HasSubstr("requests_total 3\n"));
  EXPECT_THAT(text, HasSubstr("requests_total{route=\"/a\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("requests_total{route=\"/b\",instance=\"x\"} 1\n"));
  parsed(text);
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeInclusiveAndEndAtInf) {
  Registry registry;
  auto& latency = registry.histogram("wait_seconds", "Waits.", {1, 5}, {"queue"});
  for (const double value : {0.5, 1.0, 3.0, 7.0, -2.0}) {
    latency.with({"q"}).observe(value);
  }
  latency.with({"q"}).observe(std::nan(""));  // belongs to no bucket: ignored
  EXPECT_EQ(registry.render(),
            "# HELP wait_seconds Waits.\n"
            "# TYPE wait_seconds histogram\n"
            "wait_seconds_bucket{queue=\"q\",le=\"1\"} 3\n"
            "wait_seconds_bucket{queue=\"q\",le=\"5\"} 4\n"
            "wait_seconds_bucket{queue=\"q\",le=\"+Inf\"} 5\n"
            "wait_seconds_sum{queue=\"q\"} 9.5\n"
            "wait_seconds_count{queue=\"q\"} 5\n");
  parsed(registry.render());
}

TEST(MetricsRegistry, AHistogramWithoutLabelsExistsAtZeroFromTheStart) {
  Registry registry;
  registry.histogram("batch_size", "Jobs.", {0.25, 2.5});
  EXPECT_EQ(registry.render(),
            "# HELP batch_size Jobs.\n"
            "# TYPE batch_size histogram\n"
            "batch_size_bucket{le=\"0.25\"} 0\n"
            "batch_size_bucket{le=\"2.5\"} 0\n"
            "batch_size_bucket{le=\"+Inf\"} 0\n"
            "batch_size_sum 0\n"
            "batch_size_count 0\n");
  parsed(registry.render());
}

TEST(MetricsRegistry, ValuesAreWrittenAsTheFormatReadsThem) {
  using haveri::daemon::metrics::format_value;
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(1.5e9), "1500000000");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(0.00001), "1e-05");
  EXPECT_EQ(format_value(1234567.5), "1.2345675e+06");  // as Go writes it, too
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  for (const double value : {0.1, 1.0 / 3.0, 123456.789, 2.5e-7}) {
    EXPECT_EQ(std::stod(format_value(value)), value) << format_value(value);
  }
}

TEST(MetricsRegistry, RefusesWhatPrometheusWouldNotRead) {
  Registry registry;
  registry.histogram("taken_seconds", "x", {1});
  const auto refused = [](auto&& registration) {
    try {
      registration();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(refused([&] { registry.gauge("9lives", "x"); }), HasSubstr("not a metric name"));
  EXPECT_THAT(refused([&] { registry.gauge("with-dash", "x"); }), HasSubstr("not a metric name"));
  EXPECT_THAT(refused([&] { registry.counter("requests", "x"); }), HasSubstr("*_total"));
  EXPECT_THAT(refused([&] { registry.gauge("g", "x", {"__reserved"}); }),
              HasSubstr("not a label name"));
  EXPECT_THAT(refused([&] { registry.gauge("g", "x", {"a:b"}); }), HasSubstr("not a label name"));
  EXPECT_THAT(refused([&] { registry.gauge("g", "x", {"a", "a"}); }), HasSubstr("twice"));
  EXPECT_THAT(refused([&] { registry.histogram("h", "x", {1}, {"le"}); }), HasSubstr("le"));
  EXPECT_THAT(refused([&] { registry.histogram("h", "x", {2, 1}); }), HasSubstr("increasing"));
  EXPECT_THAT(refused([&] { registry.histogram("h", "x", {1, 1}); }), HasSubstr("increasing"));
  EXPECT_THAT(refused([&] { registry.histogram("h", "x", {}); }), HasSubstr("increasing"));
  EXPECT_THAT(refused([&] {
                registry.histogram("h", "x", {1, std::numeric_limits<double>::infinity()});
              }),
              HasSubstr("finite"));
  EXPECT_THAT(refused([&] { registry.gauge("taken_seconds", "x"); }), HasSubstr("taken"));
  EXPECT_THAT(refused([&] { registry.gauge("taken_seconds_count", "x"); }), HasSubstr("taken"));
  EXPECT_THAT(refused([&] { registry.counter("jobs_total", "x", {"kind"}).with({}); }),
              HasSubstr("1 label(s), given 0"));
  parsed(registry.render());
}

TEST(MetricsRegistry, AnInvisibleFamilyIsLeftOutOfTheScrape) {
  Registry registry;
  auto& open = registry.gauge("open_things", "x", {"kind"});
  open.with({"a"}).set(1);
  registry.gauge("other_thing", "y").with({}).set(2);
  open.set_visible(false);
  EXPECT_EQ(registry.render(), "# HELP other_thing y\n# TYPE other_thing gauge\nother_thing 2\n");
  open.set_visible(true);
  EXPECT_THAT(registry.render(), HasSubstr("open_things{kind=\"a\"} 1\n"));
}

TEST(MetricsRegistry, ConcurrentCountingIsExactAndEveryScrapeMeanwhileParses) {
  Registry registry;
  auto& counted = registry.counter("hits_total", "x", {"worker"});
  auto& shared = registry.counter("shared_total", "x").with({});
  auto& waits = registry.histogram("wait_seconds", "x", {0.5, 1.5}, {"worker"});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::vector<std::string> problems;
  std::thread scraper([&] {
    while (!done) {
      auto exposition = parse_exposition(registry.render());
      if (!exposition.error.empty()) {
        problems.push_back(exposition.error);
        return;
      }
    }
  });
  std::vector<std::thread> workers;
  workers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t % 4);  // series shared by two threads
      for (int i = 0; i < kPerThread; ++i) {
        counted.with({worker}).increment();
        shared.increment();
        waits.with({worker}).observe(i % 3);  // 0, 1, 2: one in each bucket
      }
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  done = true;
  scraper.join();
  EXPECT_THAT(problems, ::testing::IsEmpty());
  const auto exposition = parsed(registry.render());
  EXPECT_EQ(exposition.value("shared_total"), double{kThreads} * kPerThread);
  for (int w = 0; w < 4; ++w) {
    const std::string worker = "w" + std::to_string(w);
    EXPECT_EQ(exposition.value("hits_total", {{"worker", worker}}), 2.0 * kPerThread);
    EXPECT_EQ(exposition.value("wait_seconds_count", {{"worker", worker}}), 2.0 * kPerThread);
    const double per_value = 2.0 * kPerThread / 3;  // 20000 % 3 != 0: the zeros lead by 2
    EXPECT_NEAR(*exposition.value("wait_seconds_bucket", {{"worker", worker}, {"le", "0.5"}}),
                per_value, 2);
  }
}

TEST(MetricsRegistry, CounterAdvancedToATotalNeverGoesBack) {
  Registry registry;
  auto& delivered = registry.counter("delivered_total", "x").with({});
  delivered.advance_to(5);
  delivered.advance_to(3);
  EXPECT_EQ(delivered.value(), 5U);
  delivered.increment();
  delivered.advance_to(9);
  EXPECT_EQ(delivered.value(), 9U);
}

TEST(ExpositionParser, RefusesBrokenTexts) {
  // The parser the tests rely on must itself catch what it claims to.
  constexpr const char* kNotCumulative =
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
  for (const char* broken : {
           "x 1",                                                             // no final line feed
           "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx 2\n",                 // x not one group
           "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",                    // duplicate series
           "x 1\n",                                                           // no TYPE
           "# TYPE x gauge\nx{a=\"\\t\"} 1\n",                                // unknown escape
           "# TYPE x counter\nx -1\n",                                        // negative counter
           "# TYPE x gauge\nx one\n",                                         // bad value
           "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",                          // label twice
           "# TYPE x gauge\nx 1\n# HELP x late\n",                            // HELP after samples
           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
           kNotCumulative,
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // count differs
       }) {
    EXPECT_NE(parse_exposition(broken).error, "") << broken;
  }
  EXPECT_EQ(parse_exposition("# HELP x y\n# TYPE x gauge\nx{a=\"b\"} 1.5e3\n").error, "");
}

TEST(DaemonMetricsTest, RendersEveryMetricValidlyWithBoundedSeriesFromTheStart) {
  DaemonMetrics metrics({"local", "slack-main"});
  const auto exposition = parsed(metrics.registry.render());
  EXPECT_EQ(exposition.families.at("haveri_http_requests_total").type, "counter");
  EXPECT_EQ(exposition.families.at("haveri_acknowledge_latency_seconds").type, "histogram");
  const auto build = exposition.matching("haveri_build_info", {});
  ASSERT_EQ(build.size(), 1U);
  EXPECT_EQ(build[0].value, 1);
  EXPECT_EQ(build[0].labels.at("version"), "0.1.0");
  EXPECT_EQ(build[0].labels.at("abi"), "1.2");
  EXPECT_GT(*exposition.value("process_start_time_seconds"), 1.7e9);
  // Every severity and open status, so alerts need no absent().
  EXPECT_EQ(exposition.matching("haveri_incidents_open", {}).size(), 12U);
  EXPECT_EQ(
      exposition.value("haveri_incidents_open", {{"severity", "SEV1"}, {"status", "RESOLVED"}}),
      0.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", {{"severity", "SEV3"}}),
            0.0);
  EXPECT_EQ(exposition.value("haveri_outbox_depth", {{"plugin_instance", "slack-main"}}), 0.0);
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "malformed"}}),
            0.0);
  EXPECT_EQ(exposition.value("haveri_store_commit_batch_size_count"), 0.0);
}

TEST(RouteLabels, AreRoutePatternsAndOtherForEverythingElse) {
  const std::vector<std::string> instances{"local", "slack-main"};
  EXPECT_EQ(haveri::daemon::route_label("/metrics", instances), (RouteLabel{"/metrics", ""}));
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents", instances).route, "/api/v1/incidents");
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents/17", instances).route,
            "/api/v1/incidents/{id}");
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents/17/events", instances).route,
            "/api/v1/incidents/{id}/events");
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents/nonsense", instances).route,
            "/api/v1/incidents/{id}");
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents/1/2/3", instances).route, "other");
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/incidents/", instances).route, "other");
  EXPECT_EQ(haveri::daemon::route_label("/hooks/slack-main/events", instances),
            (RouteLabel{"/hooks/{instance}", "slack-main"}));
  EXPECT_EQ(haveri::daemon::route_label("/hooks/local", instances),
            (RouteLabel{"/hooks/{instance}", "local"}));
  // Only configured instances become label values.
  EXPECT_EQ(haveri::daemon::route_label("/hooks/attacker-chosen/x", instances),
            (RouteLabel{"other", ""}));
  EXPECT_EQ(haveri::daemon::route_label("/hooks/", instances), (RouteLabel{"other", ""}));
  EXPECT_EQ(haveri::daemon::route_label("/api/v1/nope", instances).route, "other");
  EXPECT_EQ(haveri::daemon::route_label("/healthz/", instances).route, "other");
  EXPECT_EQ(haveri::daemon::route_label("", instances).route, "other");
}

class FakeClock final : public haveri::core::WallClock {
 public:
  haveri::core::TimePoint now() const override {
    return haveri::core::TimePoint{} + std::chrono::milliseconds(now_ms_.load());
  }
  void advance(std::chrono::milliseconds by) { now_ms_ += by.count(); }

 private:
  std::atomic<std::int64_t> now_ms_{1'795'000'000'000};
};

// The incident service and the router with real parts: SQLite, the plugin host
// (with the real local plugin, started on demand), one DaemonMetrics.
class MetricsThroughTheService : public ::testing::Test {
 protected:
  void SetUp() override {
    plugins_ = std::make_unique<haveri::daemon::PluginHost>(
        io_,
        haveri::daemon::PluginHostOptions{haveri::testing::build_dir() / "plugins",
                                          std::chrono::seconds(5), std::chrono::seconds(5)},
        [](const std::string&, const nlohmann::json&, auto done) {
          done(haveri::daemon::InboundVerdict::committed);
        });
    create_service();
  }

  void TearDown() override {
    service_.reset();
    plugins_->shutdown();
  }

  void create_service() {
    router_ = nullptr;  // it refers to the service
    service_.reset();
    auto store = haveri::store::SqliteEventStore::open({dir_.path() / "haveri.db", "full"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto failing = std::make_unique<haveri::testing::FailingCommitStore>(std::move(store.value()));
    store_ = failing.get();
    haveri::core::OutboxSettings outbox;
    outbox.max_attempts = 2;
    outbox.first_retry_delay = std::chrono::milliseconds(0);
    haveri::daemon::IncidentServiceOptions options;
    options.open_incident_counts_max_age = std::chrono::milliseconds(0);
    options.tick_interval = std::chrono::hours(1);
    options.platforms = {{"local", "local"}};
    options.metrics = &metrics_;
    service_ = std::make_unique<haveri::daemon::IncidentService>(
        std::move(failing),
        std::make_shared<const haveri::core::Directory>(haveri::core::default_directory({"local"})),
        haveri::core::IncidentSettings{}, outbox, clock_,
        [this](const std::string&, const nlohmann::json& operation, auto done) {
          done(answer(operation));
        },
        options);
    service_->set_limits("local",
                         haveri::core::InstanceLimits{std::chrono::milliseconds(0), 1000.0, 1000});
  }

  void start_service() {
    auto started = service_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  // How the "plugin" answers an operation: whatever goes to #general keeps failing.
  nlohmann::json answer(const nlohmann::json& operation) {
    const std::string channel =
        operation.value("channel", nlohmann::json::object()).value("id", "");
    if (channel == "general") {
      ++retryable_answers_;
      return {{"v", 1}, {"status", "retryable"}, {"error", "rate limited (test)"}};
    }
    ++ok_answers_;
    if (operation.value("type", "") == "create_channel") {
      return {{"v", 1},
              {"status", "ok"},
              {"channel", {{"id", operation["name"]}, {"name", operation["name"]}}}};
    }
    return {{"v", 1}, {"status", "ok"}, {"message_id", "1"}};
  }

  haveri::core::InboundOutcome inbound(const nlohmann::json& event) {
    std::promise<haveri::core::InboundOutcome> answered;
    auto future = answered.get_future();
    service_->handle_inbound("local", event, [&answered](haveri::core::InboundOutcome outcome) {
      answered.set_value(outcome);
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  }

  static nlohmann::json command(const std::string& text, const std::string& key,
                                const std::string& user = "alice") {
    return {{"v", 1},
            {"type", "command"},
            {"idempotency_key", key},
            {"channel", {{"id", "general"}, {"name", "general"}}},
            {"user", {{"id", user}, {"name", user}}},
            {"text", text}};
  }

  haveri::http::Response get(const std::string& path) {
    if (!router_) {
      router_ = haveri::daemon::make_router(
          {*plugins_, *service_, "test-token-not-a-secret", {"local"}, &metrics_});
    }
    haveri::http::Request request;
    request.method = "GET";
    request.path = path;
    request.target = path;
    auto answered = std::make_shared<std::promise<haveri::http::Response>>();
    auto future = answered->get_future();
    router_(std::move(request), [answered](haveri::http::Response response) {
      answered->set_value(std::move(response));
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready) << path;
    return future.get();
  }

  haveri::testing::Exposition scrape() {
    auto response = get("/metrics");
    EXPECT_EQ(response.status, 200U);
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
    return parsed(response.body);
  }

  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto found = scrape().value(name, labels);
    EXPECT_TRUE(found.has_value()) << name;
    return found.value_or(-1);
  }

  haveri::testing::TempDir dir_;
  FakeClock clock_;
  DaemonMetrics metrics_{{"local"}};
  boost::asio::io_context io_;
  std::unique_ptr<haveri::daemon::PluginHost> plugins_;
  std::unique_ptr<haveri::daemon::IncidentService> service_;
  haveri::testing::FailingCommitStore* store_ = nullptr;  // owned by service_
  haveri::http::Handler router_;
  std::atomic<int> retryable_answers_{0};
  std::atomic<int> ok_answers_{0};
};

TEST_F(MetricsThroughTheService, ReadyzNamesWhatItWaitsForUntilStoreAndPluginsAreUp) {
  auto response = get("/readyz");
  EXPECT_EQ(response.status, 503U);
  EXPECT_EQ(nlohmann::json::parse(response.body),
            (nlohmann::json{{"status", "starting"}, {"waiting_for", {"store", "plugin local"}}}));
  EXPECT_EQ(value("haveri_ready"), 0);

  start_service();
  response = get("/readyz");
  EXPECT_EQ(response.status, 503U);
  EXPECT_EQ(nlohmann::json::parse(response.body)["waiting_for"], (nlohmann::json{"plugin local"}));

  plugins_->start({{"local", "local", nlohmann::json::object()}});
  EXPECT_TRUE(plugins_->started("local"));
  response = get("/readyz");
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(response.body, R"({"status":"ready"})");
  EXPECT_EQ(value("haveri_ready"), 1);

  // After shutdown an instance is no longer started; a stopped service is not ready.
  plugins_->shutdown();
  EXPECT_FALSE(plugins_->started("local"));
  EXPECT_EQ(nlohmann::json::parse(get("/readyz").body)["waiting_for"],
            (nlohmann::json{"plugin local"}));
  service_->stop();
  EXPECT_EQ(nlohmann::json::parse(get("/readyz").body)["waiting_for"],
            (nlohmann::json{"store", "plugin local"}));
}

TEST(PluginHostStarted, AnInstanceWhoseCreateFailedIsNotStarted) {
  boost::asio::io_context io;
  haveri::daemon::PluginHost host(
      io, {HAVERI_TEST_PLUGIN_DIR, std::chrono::seconds(1), std::chrono::seconds(1)},
      [](const std::string&, const nlohmann::json&, auto done) {
        done(haveri::daemon::InboundVerdict::committed);
      });
  EXPECT_THROW(host.start({{"broken", "abi_create_fails", nlohmann::json::object()}}),
               haveri::daemon::PluginLoadError);
  EXPECT_FALSE(host.started("broken"));
  EXPECT_FALSE(host.started("never-configured"));
}

TEST_F(MetricsThroughTheService, RequestsAreCountedByRoutePatternOnceAndHostilePathsShareOther) {
  start_service();
  EXPECT_EQ(get("/healthz").status, 200U);
  EXPECT_EQ(get("/api/v1/incidents/12345").status, 401U);  // no token
  std::mt19937 random(7);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(get("/x" + std::to_string(random()) + "/\"}\n").status, 404U);
    EXPECT_EQ(get("/hooks/i" + std::to_string(random())).status, 404U);
  }
  const auto exposition = scrape();
  EXPECT_EQ(
      exposition.value("haveri_http_requests_total", {{"route", "/healthz"}, {"status", "200"}}),
      1.0);
  EXPECT_EQ(exposition.value("haveri_http_requests_total",
                             {{"route", "/api/v1/incidents/{id}"}, {"status", "401"}}),
            1.0);
  EXPECT_EQ(exposition.value("haveri_http_requests_total", {{"route", "other"}, {"status", "404"}}),
            100.0);
  // healthz, incidents/{id}, other: three series, however many paths were tried.
  EXPECT_EQ(exposition.matching("haveri_http_requests_total", {}).size(), 3U);
  EXPECT_EQ(exposition.value("haveri_http_request_duration_seconds_count", {{"route", "other"}}),
            100.0);
  // The scrape counts itself once it is answered: it shows in the next one.
  EXPECT_EQ(value("haveri_http_requests_total", {{"route", "/metrics"}, {"status", "200"}}), 1.0);
}

TEST_F(MetricsThroughTheService, InboundOutcomesAckLatencyOutboxAndStoreAreCounted) {
  start_service();
  using haveri::core::InboundOutcome;
  EXPECT_EQ(inbound(command("declare Oven 3 overheating sev2", "k-1")), InboundOutcome::committed);
  EXPECT_EQ(inbound({{"v", 1}, {"type", "command"}, {"text", 42}}), InboundOutcome::committed);
  EXPECT_EQ(inbound({{"v", 1}, {"type", "reaction_added"}}), InboundOutcome::committed);
  const std::map<std::string, std::string> sev2_declared{{"severity", "SEV2"},
                                                         {"status", "DECLARED"}};
  auto exposition = scrape();
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "committed"}}),
            1.0);
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "malformed"}}),
            1.0);
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "ignored"}}),
            1.0);
  EXPECT_EQ(exposition.value("haveri_incidents_open", sev2_declared), 1.0);
  EXPECT_GT(*exposition.value("haveri_store_commit_batch_size_count"), 0.0);
  EXPECT_EQ(exposition.value("haveri_store_commit_batch_size_count"),
            exposition.value("haveri_store_commit_duration_seconds_count"));

  // Whatever goes to #general fails twice (max_attempts 2) and is given up; the rest
  // is delivered. The outbox empties, and its counters say what the plugin answered.
  const std::map<std::string, std::string> local{{"plugin_instance", "local"}};
  // Each answer is recorded in a later batch than it was given in: wait for the last.
  for (int i = 0; i < 200; ++i) {
    exposition = scrape();
    if (exposition.value("haveri_outbox_depth", local) == 0.0 && retryable_answers_ > 0 &&
        exposition.value("haveri_outbox_delivered_total", local) == ok_answers_.load() &&
        exposition.value("haveri_outbox_retries_total", local) == retryable_answers_.load()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(retryable_answers_.load(), 0);
  EXPECT_EQ(exposition.value("haveri_outbox_retries_total", local), retryable_answers_.load());
  EXPECT_EQ(exposition.value("haveri_outbox_failures_total", local), retryable_answers_.load() / 2);
  EXPECT_EQ(exposition.value("haveri_outbox_delivered_total", local), ok_answers_.load());
  EXPECT_GT(ok_answers_.load(), 0);

  // Acknowledged 90 s after the declaration: counted once, in the 120 s bucket.
  clock_.advance(std::chrono::seconds(90));
  EXPECT_EQ(inbound(command("ack INC-1", "k-2", "bob")), InboundOutcome::committed);
  // The platform retrying the same request, and a second acknowledgement: not first ones.
  EXPECT_EQ(inbound(command("ack INC-1", "k-2", "bob")), InboundOutcome::committed);
  EXPECT_EQ(inbound(command("ack INC-1", "k-3", "carol")), InboundOutcome::committed);
  exposition = scrape();
  const std::map<std::string, std::string> sev2{{"severity", "SEV2"}};
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", sev2), 1.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_sum", sev2), 90.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_bucket",
                             {{"severity", "SEV2"}, {"le", "60"}}),
            0.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_bucket",
                             {{"severity", "SEV2"}, {"le", "120"}}),
            1.0);

  // Restarted on the same store: nothing is replayed into the histogram.
  service_->stop();
  create_service();
  start_service();
  EXPECT_EQ(value("haveri_acknowledge_latency_seconds_count", sev2), 1.0);
  EXPECT_EQ(value("haveri_incidents_open", sev2_declared), 1.0);
}

TEST_F(MetricsThroughTheService, AnAcknowledgementInALostBatchIsCountedOnlyWhenStored) {
  start_service();
  using haveri::core::InboundOutcome;
  EXPECT_EQ(inbound(command("declare Press 2 jammed sev1", "k-1")), InboundOutcome::committed);
  const double failures_before = value("haveri_store_commit_failures_total");
  clock_.advance(std::chrono::minutes(5));
  // Every commit fails until the acknowledgement was answered (outbox work from the
  // declaration may share or precede its batch).
  store_->failing_commits = 1000;
  EXPECT_EQ(inbound(command("ack INC-1", "k-2", "bob")), InboundOutcome::retry_later);
  store_->failing_commits = 0;
  auto exposition = scrape();
  EXPECT_GE(exposition.value("haveri_store_commit_failures_total"), failures_before + 1);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", {{"severity", "SEV1"}}),
            0.0);
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "retry_later"}}),
            1.0);
  // The platform retries; now it is stored, and counted once.
  EXPECT_EQ(inbound(command("ack INC-1", "k-2", "bob")), InboundOutcome::committed);
  exposition = scrape();
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", {{"severity", "SEV1"}}),
            1.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_sum", {{"severity", "SEV1"}}),
            300.0);
}

TEST_F(MetricsThroughTheService, OpenIncidentsAreAbsentRatherThanWrongWhenTheStoreCannotBeRead) {
  // Never started, then stopped: the read cannot run, so the family is left out.
  service_->stop();
  const auto exposition = scrape();
  EXPECT_TRUE(exposition.matching("haveri_incidents_open", {}).empty());
  EXPECT_FALSE(exposition.families.contains("haveri_incidents_open"));
  EXPECT_EQ(exposition.value("haveri_ready"), 0.0);
}

}  // namespace
