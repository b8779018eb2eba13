// /metrics and /readyz end to end: the real haverid with the real local plugin, the
// shipped directory and escalation policies from the repository, scraped over
// loopback and read by a strict parser of the Prometheus text format.

#include <random>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon_test.hpp"
#include "support/exposition_parser.hpp"

namespace haveri::testing {
namespace {

using namespace std::chrono_literals;

using Labels = std::map<std::string, std::string>;

class MetricsEndToEnd : public DaemonTest {
 protected:
  void SetUp() override {
    config_ = dir_.path() / "haveri.yaml";
    write_file(config_, test_config(dir_.path()) + "directory:\n  path: " +
                            (source_dir() / "directory.example.yaml").string() +
                            "\npolicies:\n  path: " + (source_dir() / "policies").string() +
                            "\n  tick_ms: 20\n");
    start();
  }

  Exposition scrape() {
    const auto response = client_->get("/metrics");
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
    Exposition exposition = parse_exposition(response.body);
    EXPECT_EQ(exposition.error, "") << response.body;
    return exposition;
  }

  // The sample's value, 0 when it is not there (a series not created yet).
  double value(const std::string& name, const Labels& labels = {}) {
    return scrape().value(name, labels).value_or(0);
  }

  // Polls (bounded) until `holds` is true of a scrape; returns the last one.
  Exposition await_scrape(const std::function<bool(const Exposition&)>& holds,
                          const std::string& what) {
    Exposition last;
    for (int i = 0; i < 400; ++i) {
      last = scrape();
      if (holds(last)) {
        return last;
      }
      std::this_thread::sleep_for(25ms);
    }
    ADD_FAILURE() << "timed out waiting for " << what << "\nlog:\n" << daemon_->log();
    return last;
  }

  // Every haveri_incidents_open sample is 0 but the one of `severity` and `status`, 1.
  static void expect_one_open(const Exposition& exposition, const std::string& severity,
                              const std::string& status) {
    const auto samples = exposition.matching("haveri_incidents_open", {});
    EXPECT_EQ(samples.size(), 12U);  // 3 severities x 4 statuses not CLOSED
    for (const auto& sample : samples) {
      const bool the_one =
          sample.labels.at("severity") == severity && sample.labels.at("status") == status;
      EXPECT_EQ(sample.value, the_one ? 1.0 : 0.0)
          << sample.labels.at("severity") << " " << sample.labels.at("status");
    }
  }

  const Labels hooks_ok_{
      {"route", "/hooks/{instance}"}, {"plugin_instance", "local"}, {"status", "200"}};
  const Labels sev2_{{"severity", "SEV2"}};
};

TEST_F(MetricsEndToEnd, ADeclaredAndAcknowledgedSev2ShowsInEveryMetricItTouches) {
  const auto ready = client_->get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"status":"ready"})");

  auto exposition = scrape();
  const auto build = exposition.matching("haveri_build_info", {});
  ASSERT_EQ(build.size(), 1U);
  EXPECT_EQ(build[0].value, 1);
  EXPECT_FALSE(build[0].labels.at("version").empty());
  EXPECT_EQ(build[0].labels.at("abi"), "1.2");
  EXPECT_EQ(exposition.value("haveri_ready"), 1.0);
  // The scrape's own connection is open while it is answered.
  EXPECT_GE(exposition.value("haveri_http_connections_open").value_or(0), 1.0);
  EXPECT_TRUE(exposition.value("haveri_http_connections_refused_total").has_value());
  EXPECT_TRUE(exposition.value("haveri_http_timeouts_total").has_value());
  EXPECT_GT(exposition.value("process_start_time_seconds").value_or(0), 1.7e9);
  expect_one_open(exposition, "none", "none");
  const double hooks_ok_before =
      exposition.value("haveri_http_requests_total", hooks_ok_).value_or(0);

  ASSERT_EQ(say("general", "carol", "/incident declare Pump 3 down sev2").status, 200);
  // The shipped SEV2 policy pages the shift now and the supervisor in 15 minutes
  // unless acknowledged: that step waits in the timer wheel.
  exposition = await_scrape(
      [](const Exposition& e) {
        // Open incidents are counted at most once a second.
        return e.value("haveri_escalation_timers_pending") > 0.0 &&
               e.value("haveri_incidents_open", {{"severity", "SEV2"}, {"status", "DECLARED"}}) ==
                   1.0;
      },
      "a pending escalation step and the incident counted");
  expect_one_open(exposition, "SEV2", "DECLARED");
  EXPECT_GT(exposition.value("haveri_http_requests_total", hooks_ok_).value_or(0), hooks_ok_before);
  EXPECT_GE(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "committed"}}),
            1.0);
  EXPECT_GT(exposition.value("haveri_store_commit_batch_size_count").value_or(0), 0.0);
  EXPECT_GT(exposition.value("haveri_store_commit_duration_seconds_count").value_or(0), 0.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", sev2_), 0.0);

  ASSERT_EQ(say("general", "bob", "/incident ack INC-1").status, 200);
  const std::string status = api("/api/v1/incidents/1").value("status", "");
  exposition = await_scrape(
      [this, &status](const Exposition& e) {
        return e.value("haveri_acknowledge_latency_seconds_count", sev2_) == 1.0 &&
               e.value("haveri_escalation_timers_pending") == 0.0 &&
               e.value("haveri_incidents_open", {{"severity", "SEV2"}, {"status", status}}) == 1.0;
      },
      "the acknowledgement counted, the supervisor's step cancelled, the status counted");
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", sev2_), 1.0);
  // Acknowledged within seconds: in the first bucket, well below 10 s.
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_bucket",
                             {{"severity", "SEV2"}, {"le", "10"}}),
            1.0);
  EXPECT_LT(exposition.value("haveri_acknowledge_latency_seconds_sum", sev2_).value_or(99), 10.0);
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", {{"severity", "SEV1"}}),
            0.0);
  expect_one_open(exposition, "SEV2", status);
  // Acknowledging again is not a first acknowledgement. (A hook is answered only
  // once its batch is durable, and the count is taken before the answer.)
  ASSERT_EQ(say("general", "alice", "/incident ack INC-1").status, 200);
  EXPECT_EQ(value("haveri_acknowledge_latency_seconds_count", sev2_), 1.0);

  // A new process counts from 0, and nothing it loads from the store (the stored
  // acknowledgement, the stopped chain) is observed again. The open incidents come
  // from the store, so they are the same.
  ASSERT_EQ(daemon_->terminate(), 0);
  start();
  exposition = scrape();
  EXPECT_EQ(exposition.value("haveri_acknowledge_latency_seconds_count", sev2_), 0.0);
  EXPECT_EQ(exposition.value("haveri_escalation_timers_pending"), 0.0);
  expect_one_open(exposition, "SEV2", status);
  EXPECT_EQ(client_->get("/readyz").status, 200);
  ASSERT_EQ(say("general", "dave", "/incident ack INC-1").status, 200);
  EXPECT_EQ(value("haveri_acknowledge_latency_seconds_count", sev2_), 0.0);
}

TEST_F(MetricsEndToEnd, HostilePathsAllLandInOneOtherSeries) {
  const auto before = scrape();
  std::mt19937 random(20240611);
  for (int i = 0; i < 20; ++i) {
    const std::string noise = std::to_string(random());
    EXPECT_EQ(client_->get("/" + noise + "%22%7D%0A").status, 404);
    EXPECT_EQ(client_->get("/hooks/" + noise + "/events").status, 404);
    EXPECT_EQ(client_->get("/api/v1/" + noise).status, 401);  // no token: refused first
  }
  const auto after = scrape();
  const std::set<std::string> routes{"/healthz",
                                     "/readyz",
                                     "/metrics",
                                     "/api/v1/incidents",
                                     "/api/v1/incidents/{id}",
                                     "/api/v1/incidents/{id}/events",
                                     "/api/v1/follow-ups",
                                     "/api/v1/outbox",
                                     "/api/v1/rebuild",
                                     "/api/v1/search",
                                     "/hooks/{instance}",
                                     "other"};
  const auto series = after.matching("haveri_http_requests_total", {});
  for (const auto& sample : series) {
    EXPECT_TRUE(routes.contains(sample.labels.at("route"))) << sample.labels.at("route");
    if (sample.labels.contains("plugin_instance")) {
      EXPECT_EQ(sample.labels.at("plugin_instance"), "local");
    }
  }
  // other/404, other/401 and the first scrape's own /metrics/200: at most three new series.
  EXPECT_LE(series.size(), before.matching("haveri_http_requests_total", {}).size() + 3);
  EXPECT_EQ(after.value("haveri_http_requests_total", {{"route", "other"}, {"status", "404"}}),
            40.0);
  EXPECT_EQ(after.value("haveri_http_requests_total", {{"route", "other"}, {"status", "401"}}),
            20.0);
  EXPECT_EQ(after.matching("haveri_http_request_duration_seconds_count", {}).size(),
            after.matching("haveri_http_request_duration_seconds_sum", {}).size());
}

TEST_F(MetricsEndToEnd, ConcurrentScrapesAndTrafficAllParse) {
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread scraper([&] {
    BlockingClient client(haveri::http::BaseUrl{"127.0.0.1", daemon_->port(), ""});
    while (!done) {
      const auto response = client.get("/metrics");
      if (response.status != 200 || !parse_exposition(response.body).error.empty()) {
        ++bad;
      }
    }
  });
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(say("general", "carol", "/incident declare Line " + std::to_string(i) + " slow sev3")
                  .status,
              200);
  }
  done = true;
  scraper.join();
  EXPECT_EQ(bad.load(), 0);
  const auto exposition = await_scrape(
      [](const Exposition& e) {
        return e.value("haveri_incidents_open", {{"severity", "SEV3"}, {"status", "DECLARED"}}) ==
               5.0;
      },
      "five SEV3 incidents open");
  EXPECT_EQ(exposition.value("haveri_inbound_events_total",
                             {{"plugin_instance", "local"}, {"outcome", "committed"}}),
            5.0);
}

}  // namespace
}  // namespace haveri::testing
