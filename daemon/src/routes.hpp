#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http_server.hpp"

namespace haveri::daemon {

class PluginHost;
class IncidentService;
class DaemonMetrics;

struct RouterDependencies {
  PluginHost& plugins;         // outlives the server
  IncidentService& incidents;  // outlives the server
  std::string api_token;       // bearer token for /api/v1; never logged
  // The configured plugin instances: /readyz waits for each, and only these names
  // become plugin_instance labels.
  std::vector<std::string> plugin_instances{};
  // Counts every answered request and is what /metrics renders; outlives the
  // server and every answer still on its way. Null: nothing is counted, /metrics is 404.
  DaemonMetrics* metrics = nullptr;
};

// Routes of haverid:
//   GET  /healthz                          liveness, no auth
//   GET  /readyz                           200 {"status":"ready"} once the store is open and
//                                          every plugin instance started, else 503 naming
//                                          what it waits for; no auth
//   GET  /metrics                          Prometheus text format (docs/metrics.md), no auth
//   GET  /api/v1/incidents[?organization=]  bearer token
//   GET  /api/v1/incidents/{id}            bearer token (with metrics)
//   GET  /api/v1/incidents/{id}/events     bearer token
//   GET  /api/v1/follow-ups?organization=[&assignee=]  bearer token
//   GET  /api/v1/outbox                    bearer token (depth, failures)
//   POST /api/v1/rebuild[?check=1]         bearer token (rebuild projections from events)
//   GET  /api/v1/search?q=[&organization=][&limit=]  bearer token (400 for bad syntax)
//   *    /hooks/{instance}/...             to that plugin instance (it authenticates)
http::Handler make_router(RouterDependencies dependencies);

// What a request is counted under in haveri_http_requests_total: the pattern of its
// route ("/api/v1/incidents/{id}", "/hooks/{instance}" with the instance for a
// configured one), or "other" for a path no route serves, so that hostile paths
// cannot create series.
struct RouteLabel {
  std::string route;
  std::string plugin_instance;  // empty but for /hooks/{instance}
  bool operator==(const RouteLabel&) const = default;
};
RouteLabel route_label(std::string_view path, const std::vector<std::string>& plugin_instances);

}  // namespace haveri::daemon
