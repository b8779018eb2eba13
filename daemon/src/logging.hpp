#pragma once

#include <string>

namespace haveri::daemon {

// Logs to stderr. Under systemd (JOURNAL_STREAM set) lines carry no timestamp and
// a <N> priority prefix so journald records each level correctly.
// `level` is one of trace, debug, info, warn, error (validated by the config).
void setup_logging(const std::string& level);

}  // namespace haveri::daemon
