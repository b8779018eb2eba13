#include "routes.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <haveri/core/commands.hpp>
#include <haveri/core/event_store.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>

#include "incident_service.hpp"
#include "metrics.hpp"
#include "plugin_host.hpp"

namespace haveri::daemon {

namespace {

// Compares without leaking, through timing, how much of the token matched.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    const char e = expected.empty() ? '\0' : expected[i % expected.size()];
    difference |= static_cast<unsigned char>(given[i] ^ e);
  }
  return difference == 0 && !expected.empty();
}

bool authorized(const http::Request& request, const std::string& token) {
  const std::string header = request.header("authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() <= kScheme.size() || header.compare(0, kScheme.size(), kScheme) != 0) {
    return false;
  }
  return same_secret(std::string_view(header).substr(kScheme.size()), token);
}

std::optional<core::IncidentId> parse_id(std::string_view text) {
  core::IncidentId id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

// Stored text is valid UTF-8, but a dump must never throw on a request path.
std::string dump(const nlohmann::json& document) {
  return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One query parameter, percent-decoded; empty when absent.
std::string query_value(const std::string& query, std::string_view name) {
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string::npos) {
      end = query.size();
    }
    const std::string_view pair(query.data() + start, end - start);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) == name && equals != std::string_view::npos) {
      std::string value;
      const std::string_view raw = pair.substr(equals + 1);
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '+') {
          value += ' ';
        } else if (raw[i] == '%' && i + 2 < raw.size() &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 1])) != 0 &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 2])) != 0) {
          int byte = 0;
          auto [ptr, ec] = std::from_chars(raw.data() + i + 1, raw.data() + i + 3, byte, 16);
          if (ec == std::errc{} && ptr == raw.data() + i + 3) {
            value += static_cast<char>(byte);
            i += 2;
          } else {
            value += raw[i];
          }
        } else {
          value += raw[i];
        }
      }
      return value;
    }
    start = end + 1;
  }
  return {};
}

nlohmann::json duration_json(const std::optional<std::chrono::milliseconds>& duration) {
  return duration ? nlohmann::json(duration->count()) : nlohmann::json(nullptr);
}

// The incident with what people are measured by, as of now.
nlohmann::json incident_with_metrics(const core::Incident& incident,
                                     const core::IncidentSettings& settings) {
  nlohmann::json body = core::incident_to_json(incident);
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(core::Clock::now());
  const core::IncidentMetrics metrics = core::metrics_of(incident, now);
  nlohmann::json in_status = nlohmann::json::object();
  for (const core::Status status :
       {core::Status::declared, core::Status::investigating, core::Status::mitigated,
        core::Status::resolved, core::Status::closed}) {
    in_status[std::string(core::to_string(status))] =
        metrics.time_in_status[static_cast<std::size_t>(status)].count();
  }
  const core::SlaTarget& target = settings.sla_for(incident.severity);
  body["metrics"] = {{"time_to_acknowledge_ms", duration_json(metrics.time_to_acknowledge)},
                     {"time_to_mitigate_ms", duration_json(metrics.time_to_mitigate)},
                     {"time_to_resolve_ms", duration_json(metrics.time_to_resolve)},
                     {"time_in_status_ms", std::move(in_status)},
                     {"sla",
                      {{"acknowledge_minutes", target.acknowledge.count()},
                       {"resolve_minutes", target.resolve.count()},
                       {"acknowledge_breached", incident.acknowledge_sla_breached},
                       {"resolve_breached", incident.resolve_sla_breached}}}};
  return body;
}

http::Response store_failure(const core::Error& error) {
  return error.code == core::ErrorCode::not_found ? http::Response::error(404, error.message)
                                                  : http::Response::error(500, "store error");
}

void serve_api(RouterDependencies& deps, const http::Request& request,
               const http::Responder& respond) {
  if (!authorized(request, deps.api_token)) {
    auto response = http::Response::error(401, "missing or wrong bearer token");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"haveri\"");
    respond(std::move(response));
    return;
  }
  const std::string_view path = request.path;
  if (path == "/api/v1/rebuild") {
    if (request.method != "POST") {
      respond(http::Response::error(405, "POST rebuilds the projections (?check=1 only compares)"));
      return;
    }
    const bool check_only = query_value(request.query, "check") == "1";
    deps.incidents.rebuild(check_only, [respond](auto result) {
      if (!result) {
        respond(store_failure(result.error()));
        return;
      }
      const RebuildReport& report = result.value();
      respond(http::Response::json(200, dump({{"rows", report.rows},
                                              {"differed", report.differed},
                                              {"kept", report.kept},
                                              {"took_ms", report.took.count()}})));
    });
    return;
  }
  if (request.method != "GET") {
    respond(http::Response::error(405, "only GET is supported here"));
    return;
  }
  constexpr std::string_view kIncidents = "/api/v1/incidents";
  if (path == "/api/v1/outbox") {
    deps.incidents.outbox_report([respond](auto result) {
      if (!result) {
        respond(store_failure(result.error()));
        return;
      }
      const auto& stats = result.value().stats;
      nlohmann::json failures = nlohmann::json::array();
      for (const auto& failure : result.value().failures) {
        failures.push_back({{"id", failure.entry.id},
                            {"instance", failure.entry.instance},
                            {"lane", failure.entry.lane},
                            {"operation_key", failure.entry.operation_key},
                            {"attempts", failure.entry.attempts},
                            {"error", failure.entry.last_error},
                            {"failed_at", core::format_time(failure.failed_at)}});
      }
      respond(http::Response::json(200, dump({{"queued", stats.queued},
                                              {"in_flight", stats.in_flight},
                                              {"done", stats.done},
                                              {"retried", stats.retried},
                                              {"failed", stats.failed},
                                              {"coalesced", stats.coalesced},
                                              {"recent_failures", std::move(failures)}})));
    });
    return;
  }
  if (path == "/api/v1/follow-ups") {
    const std::string organization = query_value(request.query, "organization");
    if (organization.empty()) {
      respond(http::Response::error(400, "name the organization: ?organization=<id>"));
      return;
    }
    const std::string assignee = query_value(request.query, "assignee");
    deps.incidents.follow_ups(
        organization, assignee.empty() ? std::nullopt : std::optional<std::string>(assignee),
        [respond](auto result) {
          if (!result) {
            respond(store_failure(result.error()));
            return;
          }
          nlohmann::json list = nlohmann::json::array();
          for (const auto& item : result.value()) {
            nlohmann::json entry = core::follow_up_json(item.follow_up);
            entry["organization"] = item.organization;
            entry["incident"] = item.incident;
            entry["incident_title"] = item.incident_title;
            list.push_back(std::move(entry));
          }
          respond(http::Response::json(200, dump(nlohmann::json{{"follow_ups", std::move(list)}})));
        });
    return;
  }
  if (path == "/api/v1/search") {
    std::string query = query_value(request.query, "q");
    if (query.empty()) {
      respond(http::Response::error(400, "say what to search for: ?q=<words>"));
      return;
    }
    if (query.size() > core::kMaxSearchBytes) {
      respond(http::Response::error(
          400, "q is limited to " + std::to_string(core::kMaxSearchBytes) + " bytes"));
      return;
    }
    std::size_t limit = 20;
    if (const std::string text = query_value(request.query, "limit"); !text.empty()) {
      auto parsed = parse_id(text);
      if (!parsed || *parsed > 50) {
        respond(http::Response::error(400, "limit must be a whole number from 1 to 50"));
        return;
      }
      limit = static_cast<std::size_t>(*parsed);
    }
    deps.incidents.search(
        query_value(request.query, "organization"), query, limit, [respond, query](auto result) {
          if (!result) {
            // A query the search syntax does not allow is the caller's to fix.
            respond(result.error().code == core::ErrorCode::invalid_argument
                        ? http::Response::error(400, result.error().message)
                        : store_failure(result.error()));
            return;
          }
          nlohmann::json hits = nlohmann::json::array();
          for (const core::SearchHit& hit : result.value()) {
            nlohmann::json entry{{"incident", hit.incident},
                                 {"organization", hit.organization},
                                 {"title", hit.title},
                                 {"status", core::to_string(hit.status)},
                                 {"severity", core::to_string(hit.severity)},
                                 {"field", hit.field},
                                 {"snippet", hit.snippet},
                                 {"channel", nullptr}};
            if (hit.channel) {
              entry["channel"] = {{"instance", hit.channel->instance},
                                  {"id", hit.channel->id},
                                  {"name", hit.channel->name}};
            }
            hits.push_back(std::move(entry));
          }
          respond(http::Response::json(
              200, dump(nlohmann::json{{"query", query}, {"results", std::move(hits)}})));
        });
    return;
  }
  if (path == kIncidents) {
    const std::string organization = query_value(request.query, "organization");
    deps.incidents.list_incidents(organization, [respond](auto result) {
      if (!result) {
        respond(store_failure(result.error()));
        return;
      }
      nlohmann::json list = nlohmann::json::array();
      for (const auto& incident : result.value()) {
        list.push_back(core::incident_to_json(incident));
      }
      respond(http::Response::json(200, dump(nlohmann::json{{"incidents", std::move(list)}})));
    });
    return;
  }
  if (path.starts_with(std::string(kIncidents) + "/")) {
    std::string_view rest = path.substr(kIncidents.size() + 1);
    const bool wants_events = rest.ends_with("/events");
    if (wants_events) {
      rest.remove_suffix(std::string_view("/events").size());
    }
    auto id = parse_id(rest);
    if (!id) {
      respond(http::Response::error(404, "no such incident"));
      return;
    }
    deps.incidents.incident_timeline(
        *id, [respond, wants_events, settings = deps.incidents.settings()](auto result) {
          if (!result) {
            respond(store_failure(result.error()));
            return;
          }
          nlohmann::json body = incident_with_metrics(result.value().first, settings);
          if (wants_events) {
            nlohmann::json events = nlohmann::json::array();
            for (const auto& event : result.value().second) {
              events.push_back(core::event_to_json(event));
            }
            body = nlohmann::json{{"incident", std::move(body)}, {"events", std::move(events)}};
          }
          respond(http::Response::json(200, dump(body)));
        });
    return;
  }
  respond(http::Response::error(404, "no such API route"));
}

// What /readyz waits for: "store", "plugin <name>"; empty when ready.
std::vector<std::string> waiting_for(const RouterDependencies& deps) {
  std::vector<std::string> waiting;
  if (!deps.incidents.ready()) {
    waiting.emplace_back("store");
  }
  for (const std::string& instance : deps.plugin_instances) {
    if (!deps.plugins.started(instance)) {
      waiting.push_back("plugin " + instance);
    }
  }
  return waiting;
}

void serve_metrics(const std::shared_ptr<RouterDependencies>& deps,
                   const http::Responder& respond) {
  // The counts come from the reader store: the io thread does not wait for them.
  deps->incidents.open_incident_counts([deps, respond](core::Result<OpenIncidentCounts> counts) {
    DaemonMetrics& exported = *deps->metrics;
    if (counts) {
      for (const auto& [key, count] : counts.value()) {
        exported.incidents_open
            .with(
                {std::string(core::to_string(key.first)), std::string(core::to_string(key.second))})
            .set(static_cast<double>(count));
      }
      exported.incidents_open.set_visible(true);
    } else {
      // Absent rather than stale: an alert on it then says "no data", not "all fine".
      spdlog::warn("metrics: open incidents not counted: {}", counts.error().message);
      exported.incidents_open.set_visible(false);
    }
    if (exported.before_scrape) {
      exported.before_scrape();
    }
    exported.ready.set(waiting_for(*deps).empty() ? 1.0 : 0.0);
    exported.escalation_timers_pending.set(
        static_cast<double>(deps->incidents.pending_escalation_timers()));
    exported.store_queue_depth.set(static_cast<double>(deps->incidents.store_stats().queued));
    http::Response response;
    response.status = 200;
    response.content_type = std::string(metrics::kContentType);
    response.body = exported.registry.render();
    respond(std::move(response));
  });
}

// The responder, counting the answer (once) under the request's route.
http::Responder counting(DaemonMetrics& exported, RouteLabel label, http::Responder respond) {
  auto counted = std::make_shared<std::atomic<bool>>(false);
  return [&exported, label = std::move(label), counted, respond = std::move(respond),
          started = std::chrono::steady_clock::now()](http::Response response) {
    if (!counted->exchange(true)) {
      exported.count_request(label.route, label.plugin_instance, response.status,
                             std::chrono::steady_clock::now() - started);
    }
    respond(std::move(response));
  };
}

}  // namespace

RouteLabel route_label(std::string_view path, const std::vector<std::string>& plugin_instances) {
  for (const std::string_view fixed :
       {"/healthz", "/readyz", "/metrics", "/api/v1/incidents", "/api/v1/follow-ups",
        "/api/v1/outbox", "/api/v1/rebuild", "/api/v1/search"}) {
    if (path == fixed) {
      return {std::string(fixed), {}};
    }
  }
  constexpr std::string_view kIncident = "/api/v1/incidents/";
  if (path.starts_with(kIncident)) {
    std::string_view rest = path.substr(kIncident.size());
    const bool events = rest.ends_with("/events");
    if (events) {
      rest.remove_suffix(std::string_view("/events").size());
    }
    if (!rest.empty() && rest.find('/') == std::string_view::npos) {
      return {events ? "/api/v1/incidents/{id}/events" : "/api/v1/incidents/{id}", {}};
    }
    return {"other", {}};
  }
  constexpr std::string_view kHooks = "/hooks/";
  if (path.starts_with(kHooks)) {
    const std::string_view rest = path.substr(kHooks.size());
    const std::string_view name = rest.substr(0, rest.find('/'));
    if (std::find(plugin_instances.begin(), plugin_instances.end(), name) !=
        plugin_instances.end()) {
      return {"/hooks/{instance}", std::string(name)};
    }
  }
  return {"other", {}};
}

http::Handler make_router(RouterDependencies dependencies) {
  auto deps = std::make_shared<RouterDependencies>(std::move(dependencies));
  return [deps](http::Request&& request, http::Responder respond) {
    if (deps->metrics != nullptr) {
      respond = counting(*deps->metrics, route_label(request.path, deps->plugin_instances),
                         std::move(respond));
    }
    const std::string& path = request.path;
    if (path == "/healthz") {
      respond(http::Response::json(200, R"({"status":"ok"})"));
      return;
    }
    if (path == "/readyz") {
      const std::vector<std::string> waiting = waiting_for(*deps);
      respond(waiting.empty() ? http::Response::json(200, R"({"status":"ready"})")
                              : http::Response::json(
                                    503, dump({{"status", "starting"}, {"waiting_for", waiting}})));
      return;
    }
    if (path == "/metrics" && deps->metrics != nullptr) {
      serve_metrics(deps, respond);
      return;
    }
    if (path == "/api/v1" || path.starts_with("/api/v1/")) {
      serve_api(*deps, request, respond);
      return;
    }
    constexpr std::string_view kHooks = "/hooks/";
    if (path.starts_with(kHooks)) {
      const std::size_t name_end = path.find('/', kHooks.size());
      std::string instance = path.substr(kHooks.size(), name_end - kHooks.size());
      std::string sub_path = name_end == std::string::npos ? "/" : path.substr(name_end);
      deps->plugins.handle_request(instance, sub_path, std::move(request), std::move(respond));
      return;
    }
    respond(http::Response::error(404, "not found"));
  };
}

}  // namespace haveri::daemon
