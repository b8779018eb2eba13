#include "routes.hpp"

#include <charconv>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include <haveri/core/events.hpp>

#include "incident_service.hpp"
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
  if (request.method != "GET") {
    respond(http::Response::error(405, "only GET is supported here"));
    return;
  }
  const std::string_view path = request.path;
  constexpr std::string_view kIncidents = "/api/v1/incidents";
  if (path == kIncidents) {
    deps.incidents.list_incidents([respond](auto result) {
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
    deps.incidents.incident_timeline(*id, [respond, wants_events](auto result) {
      if (!result) {
        respond(store_failure(result.error()));
        return;
      }
      nlohmann::json body = core::incident_to_json(result.value().first);
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

}  // namespace

http::Handler make_router(RouterDependencies dependencies) {
  auto deps = std::make_shared<RouterDependencies>(std::move(dependencies));
  return [deps](http::Request&& request, http::Responder respond) {
    const std::string& path = request.path;
    if (path == "/healthz") {
      respond(http::Response::json(200, R"({"status":"ok"})"));
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
