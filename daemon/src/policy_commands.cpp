#include "policy_commands.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <yaml-cpp/yaml.h>

#include <haveri/core/directory.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/policy/escalation.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/policy_test_file.hpp>
#include <haveri/policy/simulation.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::ctl {

namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr std::string_view kDefaultZoneinfo = "/usr/share/zoneinfo";

constexpr std::string_view kUsage =
    R"(Usage: haverictl policy <command> ...

Escalation policies, offline: these commands read files only. They never talk to
haverid, touch a store or page anyone.

Commands:
  lint [<dir>] (--directory FILE | --config FILE) [--zoneinfo DIR]
        Load the policies in <dir> and check them against the directory; print every
        error and warning, one per line, as file:line:col. With --config, <dir>
        defaults to its policies.path.
        Exit 0 valid (warnings allowed), 1 invalid, 2 usage or an unusable directory.
  test <file|dir>...
        Run policy test files (a directory: every *.yaml and *.yml file in it), print
        PASS or FAIL per test, with what differs.
        Exit 0 every test passed, 1 a test failed, 2 a test file, its directory or its
        policies are invalid (the worst of all files).
  simulate (--directory FILE | --config FILE) [--policies DIR] [--zoneinfo DIR]
           [--organization ID] --severity SEV --at TIME [--area ID] [--asset ID]...
           [--ack-at MIN] [--resolve-at MIN] [--for MIN]
        Show the policy an incident gets and whom its chain pages, minute by minute.
        TIME is the facility's wall-clock time "YYYY-MM-DD HH:MM" or RFC 3339 with Z
        or an offset; MIN are whole minutes after the declaration; --for is how long
        to follow it (default 240, at most 10080).
        Exit 0, 1 when no policy matches, 2 usage or invalid files.

Options:
  --directory FILE   the directory file (docs/directory.md)
  --config FILE      haverid's configuration file: its directory.path,
                     directory.zoneinfo and policies.path are used (relative to it)
  --zoneinfo DIR     the tz database, with --directory (default /usr/share/zoneinfo)
  --policies DIR     the policies directory (default: the configuration's policies.path)

The test file format: docs/policy-testing.md.
)";

// Exit code 2, printed as "haverictl: policy <command>: <message>".
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit code 2 after the lines already printed (an invalid directory or policies).
class InvalidInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "--name value" / "--name=value" options and positional arguments of one command.
class PolicyArgs {
 public:
  explicit PolicyArgs(std::vector<std::string> args) : args_(std::move(args)) {}

  std::vector<std::string> values(std::string_view name) {
    std::vector<std::string> found;
    for (std::size_t i = 0; i < args_.size();) {
      if (args_[i] == name) {
        if (i + 1 >= args_.size()) {
          throw UsageError(std::string(name) + " needs a value");
        }
        found.push_back(args_[i + 1]);
        args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i),
                    args_.begin() + static_cast<std::ptrdiff_t>(i + 2));
      } else if (args_[i].starts_with(std::string(name) + "=")) {
        found.push_back(args_[i].substr(name.size() + 1));
        args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    return found;
  }

  std::optional<std::string> value(std::string_view name) {
    auto found = values(name);
    if (found.size() > 1) {
      throw UsageError(std::string(name) + " is given " + std::to_string(found.size()) +
                       " times; give it once");
    }
    return found.empty() ? std::nullopt : std::optional(found.front());
  }

  bool flag(std::string_view name) {
    const auto it = std::find(args_.begin(), args_.end(), name);
    if (it == args_.end()) {
      return false;
    }
    args_.erase(it);
    return true;
  }

  // What is left: positional arguments; an option left is unknown.
  std::vector<std::string> positionals() const {
    for (const std::string& arg : args_) {
      if (arg.starts_with("--")) {
        throw UsageError("unknown option " + arg);
      }
    }
    return args_;
  }

 private:
  std::vector<std::string> args_;
};

// ---------------------------------------------------------------------------------
// Inputs: the directory, the zoneinfo and the policies directory.

// ${NAME} and ${NAME:-default} in a configuration value, as haverid substitutes them
// (docs/configuration.md); `$` not followed by `{` is itself.
std::string expand_environment(const std::string& text, const std::string& key) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      throw UsageError(key + ": \"${\" without a closing \"}\"");
    }
    const std::string inside = text.substr(i + 2, close - i - 2);
    const std::size_t dash = inside.find(":-");
    const std::string name = inside.substr(0, dash);
    const char* value = std::getenv(name.c_str());
    if (dash != std::string::npos) {
      out += value != nullptr && *value != '\0' ? std::string(value) : inside.substr(dash + 2);
    } else if (value != nullptr) {
      out += value;
    } else {
      throw UsageError(key + ": the environment variable " + name + " is not set");
    }
    i = close + 1;
  }
  return out;
}

fs::path resolve_against(const fs::path& base, const std::string& written) {
  const fs::path path(written);
  fs::path out = (path.is_absolute() ? path : base / path).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) {
    out = out.parent_path();
  }
  return out;
}

struct Inputs {
  fs::path directory_file;
  fs::path zoneinfo{kDefaultZoneinfo};
  std::optional<fs::path> policies;  // the config's policies.path, or --policies / <dir>
};

// A string value at `section`.`key` of a configuration file, if written.
std::optional<std::string> config_value(const YAML::Node& root, const std::string& config,
                                        const std::string& section, const std::string& key) {
  const YAML::Node parent = root[section];
  if (!parent || parent.IsNull()) {
    return std::nullopt;
  }
  if (!parent.IsMap()) {
    throw UsageError(config + ": " + section + ": expected a mapping");
  }
  const YAML::Node value = parent[key];
  if (!value || value.IsNull()) {
    return std::nullopt;
  }
  if (!value.IsScalar() || value.Scalar().empty()) {
    throw UsageError(config + ":" + std::to_string(value.Mark().line + 1) + ": " + section + "." +
                     key + ": expected a path");
  }
  return expand_environment(value.Scalar(), section + "." + key);
}

// Only directory.path, directory.zoneinfo and policies.path of haverid's
// configuration, resolved against its directory like haverid does. The rest of the
// file is not checked here (haverid --check-config does that).
Inputs inputs_from_config(const fs::path& config) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(config.string());
  } catch (const YAML::BadFile&) {
    throw UsageError("cannot read the configuration file " + config.string());
  } catch (const YAML::Exception& e) {
    throw UsageError(config.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) {
    throw UsageError(config.string() + ": expected a mapping at the top level");
  }
  const fs::path base = config.parent_path();
  Inputs inputs;
  const auto directory = config_value(root, config.string(), "directory", "path");
  if (!directory) {
    throw UsageError(config.string() +
                     " has no directory.path; policies need a directory with facilities and "
                     "teams (docs/directory.md)");
  }
  inputs.directory_file = resolve_against(base, *directory);
  if (auto zoneinfo = config_value(root, config.string(), "directory", "zoneinfo")) {
    inputs.zoneinfo = resolve_against(base, *zoneinfo);
  }
  if (auto policies = config_value(root, config.string(), "policies", "path")) {
    inputs.policies = resolve_against(base, *policies);
  }
  return inputs;
}

Inputs inputs_of(PolicyArgs& args) {
  const auto directory = args.value("--directory");
  const auto config = args.value("--config");
  const auto zoneinfo = args.value("--zoneinfo");
  if (directory && config) {
    throw UsageError("give --directory or --config, not both");
  }
  if (!directory && !config) {
    throw UsageError(
        "--directory FILE or --config FILE is required (the directory the "
        "policies name teams and members of)");
  }
  if (config) {
    if (zoneinfo) {
      throw UsageError(
          "--zoneinfo goes with --directory; with --config, directory.zoneinfo "
          "of the configuration is used");
    }
    return inputs_from_config(*config);
  }
  Inputs inputs;
  inputs.directory_file = *directory;
  if (zoneinfo) {
    inputs.zoneinfo = *zoneinfo;
  }
  return inputs;
}

void print_lines(std::ostream& out, const std::string& text) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    out << line << '\n';
  }
}

core::Directory load_directory_or_throw(const Inputs& inputs, std::ostream& err) {
  auto directory = core::load_directory(inputs.directory_file, inputs.zoneinfo);
  if (!directory) {
    print_lines(err, directory.error().message);
    throw InvalidInput("the directory " + inputs.directory_file.string() + " is invalid");
  }
  return std::move(directory.value());
}

void require_policies_directory(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    throw UsageError("the policies directory " + path.string() +
                     (fs::exists(path, ec) ? " is not a directory" : " does not exist"));
  }
}

// "1 step", "2 steps"; `plural` for the words that do not just take an "s".
std::string count_of(std::size_t n, std::string_view what, std::string_view plural = {}) {
  if (n == 1) {
    return "1 " + std::string(what);
  }
  return std::to_string(n) + " " + (plural.empty() ? std::string(what) + "s" : std::string(plural));
}

// ---------------------------------------------------------------------------------
// lint

int cmd_lint(PolicyArgs args, std::ostream& out, std::ostream& err) {
  Inputs inputs = inputs_of(args);
  const auto positionals = args.positionals();
  if (positionals.size() > 1) {
    throw UsageError("expected one policies directory, got " + std::to_string(positionals.size()) +
                     " arguments");
  }
  if (!positionals.empty()) {
    inputs.policies = positionals.front();
  }
  if (!inputs.policies) {
    throw UsageError("name the policies directory (or give --config with policies.path)");
  }
  require_policies_directory(*inputs.policies);
  const core::Directory directory = load_directory_or_throw(inputs, err);
  std::vector<policy::PolicyProblem> warnings;
  auto policies = policy::load_policies(*inputs.policies, directory, &warnings);
  if (!policies) {
    // Every problem, then the loader's own count: "policies: 3 problems".
    print_lines(out, policies.error().message);
    return kExitFailed;
  }
  for (const auto& warning : warnings) {
    out << warning.text() << '\n';
  }
  out << inputs.policies->string() << ": "
      << count_of(policies->policies.size(), "policy", "policies") << " in "
      << count_of(policies->files.size(), "file") << ", valid";
  if (!warnings.empty()) {
    out << " (" << count_of(warnings.size(), "warning") << ")";
  }
  out << '\n';
  return kExitOk;
}

// ---------------------------------------------------------------------------------
// test

bool is_test_file_name(const fs::path& path) {
  const std::string name = path.filename().string();
  if (name.empty() || name.front() == '.') {
    return false;
  }
  const std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml";
}

int cmd_test(const PolicyArgs& args, std::ostream& out) {
  const auto positionals = args.positionals();
  if (positionals.empty()) {
    throw UsageError("name at least one test file or directory of test files");
  }
  std::vector<fs::path> files;
  for (const std::string& arg : positionals) {
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        if (entry.is_regular_file(ec) && is_test_file_name(entry.path())) {
          found.push_back(entry.path());
        }
      }
      if (ec) {
        throw UsageError("cannot list " + arg + ": " + ec.message());
      }
      if (found.empty()) {
        throw UsageError("no *.yaml test files in " + arg);
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(arg, ec)) {
      files.emplace_back(arg);
    } else {
      throw UsageError("no test file " + arg);
    }
  }
  int worst = kExitOk;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (i > 0) {
      out << '\n';
    }
    worst = std::max(worst, policy::run_policy_test_file(files[i], out));
  }
  return worst;
}

// ---------------------------------------------------------------------------------
// simulate

std::int64_t minutes_value(const std::string& option, const std::string& text) {
  const bool digits =
      !text.empty() && text.size() <= 6 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const std::int64_t max = policy::kMaxScenarioHorizon.count();
  if (!digits || std::stoll(text) > max) {
    throw UsageError(option + " \"" + text + "\": expected whole minutes from 0 to " +
                     std::to_string(max));
  }
  return std::stoll(text);
}

template <class T>
std::string ids_of(const std::vector<T>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item.id;
  }
  return out.empty() ? "there are none" : out;
}

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) {
    text.append(width - text.size(), ' ');
  }
  return text;
}

// Prints a simulation as a timeline, one line per thing that happened.
class TimelinePrinter {
 public:
  TimelinePrinter(const core::Organization& organization, const policy::PolicySet& policies,
                  const policy::SimulationResult& result, const policy::TimeZone& zone,
                  policy::TimeZoneDatabase& zones, std::ostream& out)
      : organization_(organization),
        policies_(policies),
        result_(result),
        zone_(zone),
        zones_(zones),
        out_(out) {}

  void print(const std::vector<core::Event>& events, core::TimePoint end) {
    core::Incident state;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const core::Event& event = events[i];
      state = core::apply(std::move(state), event);
      if (const auto* declared = std::get_if<core::Declared>(&event.payload)) {
        std::string text = "declared " + std::string(core::to_string(declared->severity));
        if (!declared->area.empty()) {
          text += ", area " + declared->area;
        }
        if (!declared->assets.empty()) {
          std::string assets;
          for (const auto& asset : declared->assets) {
            assets += (assets.empty() ? "" : ", ") + asset;
          }
          text += ", assets " + assets;
        }
        line(event.at, "", text);
      } else if (const auto* page = std::get_if<core::Escalated>(&event.payload)) {
        print_page(*page, event.at, state);
      } else if (const auto* started = std::get_if<core::EscalationStarted>(&event.payload)) {
        if (event.sequence > 2) {  // not the declaration's own chain
          line(event.at, "",
               "policy " + started->policy + where_of(started->policy) + " takes over (" +
                   reason_words(started->reason) + "): " + count_of(started->steps.size(), "step"));
        }
      } else if (const auto* stopped = std::get_if<core::EscalationStopped>(&event.payload)) {
        print_stop(*stopped, event.at, state);
      } else if (std::holds_alternative<core::Acknowledged>(event.payload) &&
                 !stopped_next(events, i)) {
        line(event.at, "", "acknowledged: 0 steps cancelled, " + left(state));
      } else if (const auto* status = std::get_if<core::StatusChanged>(&event.payload);
                 status != nullptr && status->to == core::Status::resolved &&
                 !stopped_next(events, i)) {
        line(event.at, "", "resolved: nothing was pending");
      } else if (const auto* severity = std::get_if<core::SeverityChanged>(&event.payload)) {
        line(event.at, "", "severity changed to " + std::string(core::to_string(severity->to)));
      }
    }
    if (state.escalation && !state.escalation->pending.empty()) {
      const auto next =
          std::min_element(state.escalation->pending.begin(), state.escalation->pending.end(),
                           [](const core::EscalationStep& a, const core::EscalationStep& b) {
                             return a.due < b.due;
                           });
      out_ << "After +" << minutes_after(end)
           << " min: " << count_of(state.escalation->pending.size(), "step")
           << " still pending, the next at +" << minutes_after(next->due)
           << " min (use --for to follow longer)\n";
    }
  }

 private:
  static std::string reason_words(std::string reason) {
    std::replace(reason.begin(), reason.end(), '_', ' ');
    return reason;
  }

  std::string where_of(const std::string& name) const {
    const policy::Policy* policy = policies_.find(organization_.id, name);
    if (policy == nullptr || policy->where.file.empty()) {
      return {};
    }
    return " (" + policy->where.file + ":" + std::to_string(policy->where.line) + ")";
  }

  long long minutes_after(core::TimePoint at) const {
    return std::chrono::floor<std::chrono::minutes>(at - result_.incident.declared_at).count();
  }

  void line(core::TimePoint at, const std::string& step, const std::string& text) {
    out_ << pad("+" + std::to_string(minutes_after(at)) + " min", 9)
         << pad(policy::format_wall_clock(at, zone_), 27);
    if (!step.empty()) {
      out_ << pad(step, 9);
    }
    out_ << text << '\n';
  }

  static bool stopped_next(const std::vector<core::Event>& events, std::size_t i) {
    return i + 1 < events.size() &&
           std::holds_alternative<core::EscalationStopped>(events[i + 1].payload) &&
           events[i + 1].at == events[i].at;
  }

  static std::string left(const core::Incident& state) {
    return std::to_string(state.escalation ? state.escalation->pending.size() : 0) + " left";
  }

  void print_stop(const core::EscalationStopped& stopped, core::TimePoint at,
                  const core::Incident& state) {
    const std::string cancelled =
        count_of(static_cast<std::size_t>(stopped.cancelled), "step") + " cancelled";
    if (stopped.reason == "acknowledged") {
      line(at, "", "acknowledged: " + cancelled + ", " + left(state));
    } else if (stopped.reason == "resolved") {
      line(at, "", "resolved: " + cancelled);
    } else if (stopped.reason == "no_policy") {
      line(at, "", "no policy matches any more: " + cancelled);
    } else {
      line(at, "", "policy " + stopped.policy + " replaced: " + cancelled);
    }
  }

  // "(maintenance, night shift)" for someone paged as a team's member on duty.
  std::string how_on_duty(const std::string& member_id, const std::vector<std::string>& teams,
                          core::TimePoint at) {
    for (const std::string& team_id : teams) {
      const core::Team* team = organization_.team(team_id);
      if (team == nullptr) {
        continue;
      }
      const auto on_duty = policy::members_on_duty(*team, organization_, at, zones_);
      if (std::find(on_duty.begin(), on_duty.end(), member_id) == on_duty.end()) {
        continue;
      }
      const core::Facility* facility = organization_.facility(team->facility);
      const std::string facility_zone = facility != nullptr ? facility->time_zone : "UTC";
      const auto zone = policy::zone_of(zones_, facility_zone);
      const auto local = std::chrono::floor<std::chrono::minutes>(
          zone->to_local(std::chrono::floor<std::chrono::seconds>(at)));
      for (const core::ShiftOverride& change : team->overrides) {
        if (local >= change.from && local < change.to) {
          return " (" + team_id + ", override" +
                 (change.reason.empty() ? std::string() : ": " + change.reason) + ")";
        }
      }
      for (const core::Shift& shift : team->shifts) {
        const auto& members = shift.members.empty() ? team->members : shift.members;
        const auto shift_zone =
            policy::zone_of(zones_, shift.time_zone.empty() ? facility_zone : shift.time_zone);
        if (std::find(members.begin(), members.end(), member_id) != members.end() &&
            policy::shift_covers(shift, *shift_zone, at)) {
          return " (" + team_id + ", " + (shift.name.empty() ? "a" : shift.name) + " shift)";
        }
      }
      return " (" + team_id + ")";
    }
    return {};
  }

  void print_page(const core::Escalated& page, core::TimePoint at, const core::Incident& state) {
    const auto simulated = std::find_if(
        result_.pages.begin(), result_.pages.end(), [&](const policy::SimulatedPage& p) {
          return p.at == at && p.step == page.step && p.round == page.round &&
                 p.event.chain == page.chain;
        });
    std::vector<std::string> parts;
    std::string paged;
    for (const core::Actor& person : page.notified) {
      const core::Member* member = organization_.member(person.member);
      const std::string name =
          member != nullptr && !member->name.empty() ? member->name : person.member;
      const auto& teams =
          simulated != result_.pages.end() ? simulated->teams : std::vector<std::string>{};
      paged += (paged.empty() ? "" : ", ") + name + how_on_duty(person.member, teams, at);
    }
    if (!paged.empty()) {
      parts.push_back("paged " + paged);
    }
    if (simulated != result_.pages.end()) {
      for (std::size_t i = 0; i < simulated->channels.size() && i < page.channels.size(); ++i) {
        parts.push_back("posted in #" + page.channels[i].name + " (" + simulated->channels[i] +
                        ")");
      }
    }
    if (parts.empty()) {
      parts.emplace_back("paged nobody");
    }
    std::string text;
    for (const auto& part : parts) {
      text += (text.empty() ? "" : "; ") + part;
    }
    if (!page.unreachable.empty()) {
      std::string reasons;
      for (const auto& reason : page.unreachable) {
        reasons += (reasons.empty() ? "" : ", ") + reason;
      }
      text += "; unreachable: " + reasons;
    }
    if (page.round > 0) {
      text += " [repeat " + std::to_string(page.round) + "]";
    }
    const bool waits = simulated != result_.pages.end() && simulated->if_unacknowledged;
    if (waits && state.escalation && at > state.escalation->started_at) {
      text += "  (unless acknowledged)";
    }
    line(at, "step " + std::to_string(page.step), text);
  }

  const core::Organization& organization_;
  const policy::PolicySet& policies_;
  const policy::SimulationResult& result_;
  const policy::TimeZone& zone_;
  policy::TimeZoneDatabase& zones_;
  std::ostream& out_;
};

int cmd_simulate(PolicyArgs args, std::ostream& out, std::ostream& err) {
  Inputs inputs = inputs_of(args);
  if (auto policies = args.value("--policies")) {
    inputs.policies = *policies;
  }
  const auto organization_id = args.value("--organization");
  const auto severity_text = args.value("--severity");
  const auto at_text = args.value("--at");
  const auto area = args.value("--area");
  const auto assets = args.values("--asset");
  const auto ack_at = args.value("--ack-at");
  const auto resolve_at = args.value("--resolve-at");
  const auto horizon = args.value("--for");
  if (!args.positionals().empty()) {
    throw UsageError("unexpected argument " + args.positionals().front());
  }
  if (!severity_text) {
    throw UsageError("--severity SEV1|SEV2|SEV3 is required");
  }
  const auto severity = core::parse_severity(*severity_text);
  if (!severity) {
    throw UsageError("--severity \"" + *severity_text + "\": expected SEV1, SEV2 or SEV3");
  }
  if (!at_text) {
    throw UsageError(
        "--at TIME is required (the facility's local time, such as "
        "\"2026-11-24 23:50\")");
  }
  if (!inputs.policies) {
    throw UsageError("--policies DIR is required (or give --config with policies.path)");
  }
  policy::Scenario scenario;
  scenario.severity = *severity;
  scenario.area = area.value_or("");
  scenario.assets = assets;
  if (horizon) {
    scenario.horizon = std::chrono::minutes(minutes_value("--for", *horizon));
  }
  if (ack_at) {
    policy::ScenarioEvent event;
    event.at = std::chrono::minutes(minutes_value("--ack-at", *ack_at));
    event.kind = policy::ScenarioEvent::Kind::acknowledge;
    scenario.events.push_back(event);
  }
  if (resolve_at) {
    policy::ScenarioEvent event;
    event.at = std::chrono::minutes(minutes_value("--resolve-at", *resolve_at));
    event.kind = policy::ScenarioEvent::Kind::resolve;
    scenario.events.push_back(event);
  }

  require_policies_directory(*inputs.policies);
  const core::Directory directory = load_directory_or_throw(inputs, err);
  auto policies = policy::load_policies(*inputs.policies, directory);
  if (!policies) {
    print_lines(err, policies.error().message);
    throw InvalidInput("the policies in " + inputs.policies->string() + " are invalid");
  }

  const core::Organization* organization = nullptr;
  if (organization_id) {
    organization = directory.organization(*organization_id);
    if (organization == nullptr) {
      throw UsageError(
          "--organization \"" + *organization_id +
          "\": not in the directory (organizations: " + ids_of(directory.organizations) + ")");
    }
  } else if (directory.organizations.size() == 1) {
    organization = &directory.organizations.front();
  } else {
    throw UsageError("--organization is required: the directory has " +
                     std::to_string(directory.organizations.size()) + " organizations (" +
                     ids_of(directory.organizations) + ")");
  }
  scenario.organization = organization->id;
  if (area && organization->area(*area) == nullptr) {
    throw UsageError("--area \"" + *area + "\": not an area of " + organization->id +
                     " (areas: " + ids_of(organization->areas) + ")");
  }
  for (const std::string& asset : assets) {
    if (organization->asset(asset) == nullptr) {
      throw UsageError("--asset \"" + asset + "\": not an asset of " + organization->id +
                       " (assets: " + ids_of(organization->assets) + ")");
    }
  }
  if (scenario.horizon < std::chrono::minutes(0)) {
    throw UsageError("--for must not be negative");
  }
  for (const auto& event : scenario.events) {
    if (event.at > scenario.horizon) {
      throw UsageError("--ack-at and --resolve-at must be within --for (" +
                       std::to_string(scenario.horizon.count()) + " minutes)");
    }
  }

  policy::TimeZoneDatabase zones(inputs.zoneinfo);
  const core::Facility* facility = policy::facility_of(*organization, scenario.area);
  std::shared_ptr<const policy::TimeZone> zone;
  if (facility != nullptr) {
    auto loaded = zones.get(facility->time_zone);
    if (!loaded) {
      throw InvalidInput("facility " + facility->id + ": " + loaded.error().message);
    }
    zone = loaded.value();
  }
  auto declared_at = policy::parse_scenario_time(*at_text, zone.get());
  if (!declared_at) {
    throw UsageError("--at: " + declared_at.error().message);
  }
  scenario.declared_at = declared_at.value();

  auto simulated = policy::simulate(*policies, directory, scenario, zones);
  if (!simulated) {
    throw UsageError(simulated.error().message);
  }
  const policy::SimulationResult& result = simulated.value();
  const policy::TimeZone& shown_zone = zone ? *zone : *policy::zone_of(zones, "UTC");
  const std::string chosen = result.choices.empty() ? std::string() : result.choices.front().policy;
  if (facility == nullptr) {
    out << "No policy: the incident has no facility (organization " << organization->id << " has "
        << count_of(organization->facilities.size(), "facility", "facilities")
        << "; give --area to place it)\n";
    return kExitFailed;
  }
  if (chosen.empty()) {
    // Every policy of the facility, with the first key of its match that fails.
    std::string incident = std::string(core::to_string(scenario.severity)) + " incidents";
    if (!scenario.area.empty()) {
      incident += " in area " + scenario.area;
    }
    for (std::size_t i = 0; i < assets.size(); ++i) {
      incident += (i == 0 ? " with assets " : ", ") + assets[i];
    }
    out << "No policy of facility " << facility->id << " matches " << incident << " at "
        << policy::format_wall_clock(scenario.declared_at, shown_zone);
    const policy::IncidentFacts facts = policy::facts_of(result.incident, *organization);
    std::size_t candidates = 0;
    for (const policy::Policy& candidate : policies->policies) {
      if (candidate.organization != organization->id || candidate.facility != facility->id) {
        continue;
      }
      out << (candidates++ == 0 ? ":\n" : "") << "  " << candidate.name << " ("
          << candidate.where.file << ":" << candidate.where.line << "): "
          << policy::mismatch_reason(candidate, *organization, facts, scenario.declared_at, zones)
          << '\n';
    }
    if (candidates == 0) {
      out << ": the facility has no policies\n";
    }
    return kExitFailed;
  }
  const policy::Policy* policy = policies->find(organization->id, chosen);
  out << "Policy " << chosen;
  if (policy != nullptr && !policy->where.file.empty()) {
    out << " (" << policy->where.file << ":" << policy->where.line << ")";
  }
  out << ", facility " << facility->id << " (" << facility->time_zone << ")\n";
  TimelinePrinter printer(*organization, *policies, result, shown_zone, zones, out);
  printer.print(result.events, scenario.declared_at + scenario.horizon);
  return kExitOk;
}

}  // namespace

std::string_view policy_usage() {
  return kUsage;
}

int run_policy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << "haverictl: policy: name a command: lint, test or simulate\n"
           "Try 'haverictl policy --help'.\n";
    return kExitUsage;
  }
  const std::string& command = args.front();
  if (command == "--help" || command == "-h" || command == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (command != "lint" && command != "test" && command != "simulate") {
    err << "haverictl: policy: unknown command \"" << command
        << "\" (lint, test or simulate)\nTry 'haverictl policy --help'.\n";
    return kExitUsage;
  }
  PolicyArgs rest(std::vector<std::string>(args.begin() + 1, args.end()));
  if (rest.flag("--help") || rest.flag("-h")) {
    out << kUsage;
    return kExitOk;
  }
  try {
    if (command == "lint") {
      return cmd_lint(std::move(rest), out, err);
    }
    if (command == "test") {
      return cmd_test(rest, out);
    }
    return cmd_simulate(std::move(rest), out, err);
  } catch (const UsageError& e) {
    err << "haverictl: policy " << command << ": " << e.what()
        << "\nTry 'haverictl policy --help'.\n";
  } catch (const InvalidInput& e) {
    err << "haverictl: policy " << command << ": " << e.what() << '\n';
  }
  return kExitUsage;
}

}  // namespace haveri::ctl
