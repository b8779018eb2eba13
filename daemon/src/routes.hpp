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
//   GET  /api/v1/incidents[?organization=]  bearer token
//   GET  /api/v1/incidents/{id}            bearer token (with metrics)
//   GET  /api/v1/incidents/{id}/events     bearer token
//   GET  /api/v1/follow-ups?organization=[&assignee=]  bearer token
//   GET  /api/v1/outbox                    bearer token (depth, failures)
//   *    /hooks/{instance}/...             to that plugin instance (it authenticates)
http::Handler make_router(RouterDependencies dependencies);

}  // namespace haveri::daemon
