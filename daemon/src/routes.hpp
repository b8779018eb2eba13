#pragma once

#include <string>

#include "http_server.hpp"

namespace haveri::daemon {

class PluginHost;
class IncidentService;

struct RouterDependencies {
  PluginHost& plugins;         // outlives the server
  IncidentService& incidents;  // outlives the server
  std::string api_token;       // bearer token for /api/v1; never logged
};

// Routes of haverid:
//   GET  /healthz                          liveness, no auth
//   GET  /readyz                           200 once the store is open and loaded, no auth
//   GET  /api/v1/incidents[?organization=]  bearer token
//   GET  /api/v1/incidents/{id}            bearer token (with metrics)
//   GET  /api/v1/incidents/{id}/events     bearer token
//   GET  /api/v1/follow-ups?organization=[&assignee=]  bearer token
//   GET  /api/v1/outbox                    bearer token (depth, failures)
//   POST /api/v1/rebuild[?check=1]         bearer token (rebuild projections from events)
//   GET  /api/v1/search?q=[&organization=][&limit=]  bearer token (400 for bad syntax)
//   *    /hooks/{instance}/...             to that plugin instance (it authenticates)
http::Handler make_router(RouterDependencies dependencies);

}  // namespace haveri::daemon
