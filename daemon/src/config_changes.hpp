#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace haveri::daemon {

// What a reload (SIGHUP) cannot apply: the settings of `fresh` that differ from
// `running` and are read only at start — server, storage, api, plugins, outbox,
// incidents, directory.zoneinfo and policies.tick_ms — one message per setting, in
// the order of the file's sections:
//   "server.port changed from 8480 to 8481: takes effect after a restart"
// A setting that may hold a secret (api.token, a plugin instance's settings) is
// named without its values. The directory, the policies and logging.level are what
// a reload applies; they are not compared here.
std::vector<std::string> changes_needing_restart(const Config& running, const Config& fresh);

}  // namespace haveri::daemon
