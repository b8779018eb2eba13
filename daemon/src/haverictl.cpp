// haverictl — the admin CLI of haverid. The API commands talk to a running haverid
// over HTTP only (haveri_http_client) and cannot touch the store. The policy commands
// (policy_commands.cpp) link core's pure policy code to lint, test and simulate
// escalation policies from files; they touch no store, never talk to haverid and never
// page anyone.
//
// Exit codes: 0 ok, 1 the server or the API failed us, 2 usage error (the policy
// commands: policy_commands.hpp).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "blocking_client.hpp"
#include "chat_client.hpp"
#include "policy_commands.hpp"

namespace {

using nlohmann::ordered_json;  // keeps the server's key order for --json

constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8480";
constexpr std::string_view kDefaultTokenFile = "data/api-token";

constexpr std::string_view kUsage =
    R"(Usage: haverictl [--url URL] [--token-file PATH] <command> ...

Commands:
  chat --as <member> [--channel <name>] [--instance <name>] [--linger <seconds>]
        Chat on the local plugin like a person would. Each line you type is posted;
        /incident ... talks to the bot; /press <n> presses a button, /form fills in
        a form, /edit, /delete and /attach act on messages, /join <channel> switches
        channel, /quit or Ctrl-D leaves ('haverictl chat --help' lists them all).
        Defaults: --channel general, --instance local, --linger 1.5 (how long to
        keep printing replies after the input ends).
  incidents [--json]
        List incidents.
  timeline <id> [--json]
        Show one incident's timeline (id: 7 or INC-7).
  search <words...> [--organization <id>] [--json]
        Full-text search over titles, messages, notes, actions and summaries, best
        match first: words, "a phrase", pump* (prefix), OR, NOT.
  rebuild [--check] [--json]
        Rebuild every projection (incident list, follow-ups, search index) from the
        events, and say how many rows differed. --check only compares (exit 1 if any
        differ). Inbound events wait while it runs.
  policy lint [<dir>] (--directory FILE | --config FILE)
        Check escalation policies against the directory: every error and warning
        as file:line:col (exit 1 when invalid).
  policy test <file|dir>...
        Run policy test files: these people are paged at these minutes (exit 1 when
        a test fails, 2 when a file is invalid).
  policy simulate (--directory FILE | --config FILE) --severity SEV --at TIME ...
        Show the policy an incident gets and whom its chain pages, minute by minute.
        Offline, like lint and test: 'haverictl policy --help' has every option.
  help  Show this help.

Options:
  --url URL          haverid's address (default: $HAVERI_URL, else http://127.0.0.1:8480)
  --token-file PATH  API token file for the API commands (default: $HAVERI_API_TOKEN_FILE,
                     else data/api-token); $HAVERI_API_TOKEN takes precedence over any file

Exit codes: 0 ok, 1 server or API error (policy: invalid, failed or no match), 2 usage error.
)";

// Exit code 2: the command line (or the local setup it names) is wrong.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit code 1: haverid refused or failed; the message is the whole story.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GlobalOptions {
  std::optional<std::string> url;
  std::optional<std::string> token_file;
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string{} : std::string(value);
}

std::string base_url(const GlobalOptions& global) {
  if (global.url) {
    return *global.url;
  }
  const std::string from_env = env("HAVERI_URL");
  return from_env.empty() ? std::string(kDefaultUrl) : from_env;
}

haveri::http::BaseUrl parse_url(const std::string& url) {
  try {
    return haveri::http::parse_base_url(url);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

// The API token, never printed: $HAVERI_API_TOKEN, else the token file.
std::string api_token(const GlobalOptions& global) {
  if (std::string token = env("HAVERI_API_TOKEN"); !token.empty()) {
    return token;
  }
  std::string path = global.token_file.value_or(env("HAVERI_API_TOKEN_FILE"));
  if (path.empty()) {
    path = kDefaultTokenFile;
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw UsageError("cannot read the API token file " + path +
                     "; set HAVERI_API_TOKEN or pass --token-file with the file named by "
                     "api.token_file in haverid's config");
  }
  std::ostringstream content;
  content << file.rdbuf();
  std::string token = content.str();
  // Exactly haverid's rule for `*_file` secrets: trailing line ends go, nothing else
  // does, so the token we send is the token the daemon read from the same file.
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token.pop_back();
  }
  if (token.empty()) {
    throw UsageError("the API token file " + path +
                     " is empty; set HAVERI_API_TOKEN or pass --token-file");
  }
  return token;
}

// Pulls "--name value" / "--name=value" pairs and plain flags out of a command's args.
class CommandArgs {
 public:
  CommandArgs(std::string command, std::vector<std::string> args)
      : command_(std::move(command)), args_(std::move(args)) {}

  std::optional<std::string> value(std::string_view name) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] == name) {
        if (i + 1 >= args_.size()) {
          throw UsageError(command_ + ": " + std::string(name) + " needs a value");
        }
        std::string result = args_[i + 1];
        args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i),
                    args_.begin() + static_cast<std::ptrdiff_t>(i + 2));
        return result;
      }
      if (args_[i].starts_with(std::string(name) + "=")) {
        std::string result = args_[i].substr(name.size() + 1);
        args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i));
        return result;
      }
    }
    return std::nullopt;
  }

  bool flag(std::string_view name) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] == name) {
        args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  }

  // What is left are positional arguments; anything that looks like an option is not.
  std::vector<std::string> positionals(std::size_t expected) const {
    const std::vector<std::string> left = remaining();
    if (left.size() != expected) {
      throw UsageError(command_ + ": expected " + std::to_string(expected) + " argument" +
                       (expected == 1 ? "" : "s") + ", got " + std::to_string(args_.size()));
    }
    return args_;
  }

  // Every positional argument left, however many.
  std::vector<std::string> remaining() const {
    for (const std::string& arg : args_) {
      if (arg.starts_with("--")) {
        throw UsageError(command_ + ": unknown option " + arg);
      }
    }
    return args_;
  }

 private:
  std::string command_;
  std::vector<std::string> args_;
};

// ---------------------------------------------------------------------------------
// Talking to the admin API.

std::string server_error(const haveri::http::ClientResponse& response) {
  const ordered_json body = ordered_json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    return body["error"].get<std::string>();
  }
  return response.body.empty() ? std::string("no details") : response.body.substr(0, 300);
}

ordered_json api_request(const GlobalOptions& global, const std::string& method,
                         const std::string& target, const std::string& not_found,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const haveri::http::BlockingClient client(parse_url(base_url(global)), timeout);
  const std::string token = api_token(global);
  haveri::http::ClientResponse response;
  try {
    response = client.request(method, target, {}, {}, {{"authorization", "Bearer " + token}});
  } catch (const haveri::http::ClientError& e) {
    throw Failure(std::string("cannot reach haverid (is it running? --url/HAVERI_URL): ") +
                  e.what());
  }
  if (response.status == 401) {
    throw Failure(
        "haverid refused the API token (401): set HAVERI_API_TOKEN or --token-file to the token "
        "in haverid's config");
  }
  if (response.status == 404 && !not_found.empty()) {
    throw Failure(not_found);
  }
  if (response.status != 200) {
    throw Failure("haverid answered " + std::to_string(response.status) + " to " + method + " " +
                  target + ": " + server_error(response));
  }
  ordered_json body = ordered_json::parse(response.body, nullptr, false);
  if (body.is_discarded()) {
    throw Failure("haverid sent something that is not JSON for " + method + " " + target);
  }
  return body;
}

ordered_json api_get(const GlobalOptions& global, const std::string& target,
                     const std::string& not_found) {
  return api_request(global, "GET", target, not_found);
}

// For a query string: everything but unreserved characters percent-encoded.
std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((std::isalnum(byte) != 0) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHex[byte >> 4U];
      encoded += kHex[byte & 0x0FU];
    }
  }
  return encoded;
}

// object[key], or null when `object` is no object or lacks it: server JSON is read
// leniently, a missing field shows as "-".
ordered_json member(const ordered_json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() ? ordered_json() : *it;
}

// A member as text: strings as they are, numbers as digits, anything else "-".
std::string text(const ordered_json& object, std::string_view key) {
  if (!object.is_object()) {
    return "-";
  }
  const auto it = object.find(std::string(key));  // nlohmann 3.10 wants std::string keys
  if (it == object.end() || it->is_null()) {
    return "-";
  }
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string incident_label(const ordered_json& incident) {
  return "INC-" + text(incident, "id");
}

std::string channel_label(const ordered_json& channel) {
  if (!channel.is_object()) {
    return "-";
  }
  const std::string name = text(channel, "name");
  return name == "-" ? name : "#" + name;
}

// Terminal columns of UTF-8 text, counting each code point as one.
std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
      ++n;
    }
  }
  return n;
}

std::string shorten(const std::string& s, std::size_t max_columns) {
  if (columns(s) <= max_columns) {
    return s;
  }
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0U) != 0x80U && ++seen == max_columns) {
      return s.substr(0, i) + "\xE2\x80\xA6";  // …
    }
  }
  return s;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], columns(row[i]));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - columns(row[i]) + 2, ' ');
      }
    }
    std::cout << line << '\n';
  }
}

int cmd_incidents(const GlobalOptions& global, CommandArgs args) {
  const bool as_json = args.flag("--json");
  args.positionals(0);
  const ordered_json body = api_get(global, "/api/v1/incidents", "");
  if (as_json) {
    std::cout << body.dump(2) << '\n';
    return 0;
  }
  const ordered_json incidents = member(body, "incidents");
  if (!incidents.is_array() || incidents.empty()) {
    std::cout << "No incidents.\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATUS", "SEV", "TITLE", "CHANNEL", "DECLARED"}};
  for (const ordered_json& incident : incidents) {
    if (!incident.is_object()) {
      continue;
    }
    rows.push_back({incident_label(incident), text(incident, "status"), text(incident, "severity"),
                    shorten(text(incident, "title"), 50),
                    channel_label(member(incident, "channel")), text(incident, "declared_at")});
  }
  print_table(rows);
  return 0;
}

// "7" or "INC-7" (as the incident list shows it) -> "7".
std::string incident_number(const std::string& arg) {
  std::string_view digits = arg;
  if (digits.size() > 4 && (digits.starts_with("INC-") || digits.starts_with("inc-"))) {
    digits.remove_prefix(4);
  }
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || number == 0) {
    throw UsageError("timeline: \"" + arg + "\" is not an incident id (use a number like 7)");
  }
  return std::to_string(number);
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return s;
}

std::string event_summary(const ordered_json& event) {
  const std::string type = text(event, "type");
  const ordered_json payload = member(event, "payload");
  if (type == "declared") {
    const ordered_json declared_in = member(payload, "declared_in");
    std::string summary =
        "declared \"" + text(payload, "title") + "\" (" + text(payload, "severity") + ")";
    if (const std::string where = channel_label(declared_in); where != "-") {
      summary += " in " + where;
    }
    return summary;
  }
  if (type == "message") {
    return "said: " + one_line(text(payload, "text"));
  }
  if (type == "status_change") {
    return text(payload, "from") + " \xE2\x86\x92 " + text(payload, "to");  // →
  }
  if (type == "channel_linked") {
    return "channel " + channel_label(member(payload, "channel")) + " created";
  }
  if (type == "severity_change") {
    return "severity " + text(payload, "from") + " \xE2\x86\x92 " + text(payload, "to");  // →
  }
  if (type == "assignment" || type == "comms_assignment") {
    const bool lead = type == "assignment";
    const ordered_json person = member(payload, lead ? "lead" : "comms_lead");
    const std::string name = text(person, "name");
    return std::string(lead ? "lead: " : "comms lead: ") +
           (name == "-" ? text(person, "id") : name);
  }
  if (type == "acknowledgement") {
    return "acknowledged";
  }
  if (type == "annotation") {
    return "note: " + one_line(text(payload, "text"));
  }
  if (type == "action_taken") {
    return "action: " + one_line(text(payload, "text"));
  }
  const auto person_name = [](const ordered_json& person) {
    const std::string name = text(person, "name");
    return name == "-" ? text(person, "id") : name;
  };
  if (type == "title_change") {
    return "title \"" + text(payload, "from") + "\" \xE2\x86\x92 \"" + text(payload, "to") + "\"";
  }
  if (type == "summary") {
    return "summary: " + one_line(text(payload, "what_happened")) +
           " | root cause: " + one_line(text(payload, "root_cause")) +
           " | resolution: " + one_line(text(payload, "resolution"));
  }
  if (type == "closed") {
    return "closed";
  }
  if (type == "follow_up") {
    const std::string change = text(payload, "change");
    std::string line = "follow-up #" + text(payload, "number") + " " + change;
    if (change == "created") {
      line += ": " + one_line(text(payload, "description"));
    }
    if ((change == "created" || change == "assigned") && member(payload, "assignee").is_object()) {
      line += " \xE2\x86\x92 " + person_name(member(payload, "assignee"));  // →
    }
    if ((change == "created" || change == "redated") && text(payload, "due") != "-") {
      line += " (due " + text(payload, "due") + ")";
    }
    if (change == "status") {
      line += ": " + text(payload, "status");
    }
    if (change == "reminded") {
      line += " (" + text(payload, "reminder") + ")";
    }
    return line;
  }
  if (type == "attachment") {
    return "attached " + text(payload, "name") + " (" + text(payload, "size") + " bytes)";
  }
  if (type == "triage_response") {
    std::string line = "triage:";
    const ordered_json answers = member(payload, "answers");
    for (const auto& [question, answer] : answers.items()) {
      line += " " + question + "=" + one_line(answer.is_string() ? answer.get<std::string>() : "?");
    }
    return line;
  }
  if (type == "bot_guidance") {
    return "guidance (" + text(payload, "topic") + ") posted";
  }
  if (type == "global_card_posted") {
    return "summary card posted in " + channel_label(member(payload, "channel"));
  }
  if (type == "nudge") {
    return "nudged: no update for " + text(payload, "quiet_minutes") + " min";
  }
  if (type == "sla_breach") {
    return "SLA missed: " + text(payload, "target") + " within " + text(payload, "target_minutes") +
           " min";
  }
  if (type == "escalation") {
    std::string line =
        "paged by " + text(payload, "policy") + " step " + text(payload, "step") + ":";
    const ordered_json notified = member(payload, "notified");
    for (const auto& person : notified) {
      line += " " + person_name(person);
    }
    return line;
  }
  return type + " " + payload.dump();
}

int cmd_timeline(const GlobalOptions& global, CommandArgs args) {
  const bool as_json = args.flag("--json");
  const std::string id = incident_number(args.positionals(1).front());
  const ordered_json body =
      api_get(global, "/api/v1/incidents/" + id + "/events", "no incident " + id);
  if (as_json) {
    std::cout << body.dump(2) << '\n';
    return 0;
  }
  const ordered_json incident = member(body, "incident");
  std::cout << incident_label(incident) << " \xC2\xB7 " << text(incident, "title") << " \xC2\xB7 "
            << text(incident, "status") << " \xC2\xB7 " << text(incident, "severity") << '\n';
  const ordered_json events = member(body, "events");
  if (!events.is_array() || events.empty()) {
    std::cout << "(no events)\n";
    return 0;
  }
  for (const ordered_json& event : events) {
    if (!event.is_object()) {
      continue;
    }
    const ordered_json actor = member(event, "actor");
    const std::string name = text(actor, "name");
    std::cout << text(event, "at") << "  #" << text(event, "sequence") << "  "
              << (name == "-" ? text(actor, "id") : name) << "  " << event_summary(event) << '\n';
  }
  return 0;
}

int cmd_search(const GlobalOptions& global, CommandArgs args) {
  const bool as_json = args.flag("--json");
  const std::optional<std::string> organization = args.value("--organization");
  std::string query;
  for (const std::string& word : args.remaining()) {
    query += (query.empty() ? "" : " ") + word;
  }
  if (query.empty()) {
    throw UsageError("search: say what to look for, e.g. haverictl search pump OR conveyor");
  }
  std::string target = "/api/v1/search?q=" + percent_encode(query);
  if (organization) {
    target += "&organization=" + percent_encode(*organization);
  }
  const ordered_json body = api_get(global, target, "");
  if (as_json) {
    std::cout << body.dump(2) << '\n';
    return 0;
  }
  const ordered_json results = member(body, "results");
  if (!results.is_array() || results.empty()) {
    std::cout << "Nothing matches.\n";
    return 0;
  }
  for (const ordered_json& hit : results) {
    std::cout << "INC-" << text(hit, "incident") << " \xC2\xB7 " << text(hit, "severity")
              << " \xC2\xB7 " << text(hit, "status") << " \xC2\xB7 " << text(hit, "title")
              << " \xC2\xB7 " << channel_label(member(hit, "channel")) << "\n    "
              << text(hit, "field") << ": " << text(hit, "snippet") << '\n';
  }
  return 0;
}

int cmd_rebuild(const GlobalOptions& global, CommandArgs args) {
  const bool check_only = args.flag("--check");
  const bool as_json = args.flag("--json");
  args.positionals(0);
  // A rebuild reads every event; on a big store that takes a while.
  const ordered_json body =
      api_request(global, "POST", check_only ? "/api/v1/rebuild?check=1" : "/api/v1/rebuild", "",
                  std::chrono::minutes(30));
  if (as_json) {
    std::cout << body.dump(2) << '\n';
    return 0;
  }
  const std::string differed = text(body, "differed");
  std::cout << (check_only ? "Checked" : "Rebuilt") << " every projection from the events in "
            << text(body, "took_ms") << " ms: " << text(body, "rows") << " rows, " << differed
            << " differed from the live ones"
            << (differed == "0" ? "."
                : check_only    ? " (left as they were)."
                                : " (rewritten).")
            << '\n';
  return check_only && differed != "0" ? 1 : 0;
}

bool valid_member(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

constexpr std::string_view kChatUsage =
    R"(Usage: haverictl [--url URL] chat --as <member> [--channel <name>] [--instance <name>]
                                      [--linger <seconds>]

Chat on haverid's local chat plugin like a person would: the channel's recent history
is shown, then each line you type is posted while what others and the bot say is
printed as it comes. Messages show as "[id] name: text"; bot cards are indented.

Options:
  --as <member>       who you are in the chat (required)
  --channel <name>    where to start (default: general)
  --instance <name>   the local plugin instance, its URLs are /hooks/<name>/ (default: local)
  --linger <seconds>  how long to keep printing replies after the input ends (default: 1.5)

)";

int cmd_chat(const GlobalOptions& global, CommandArgs args) {
  if (args.flag("--help") || args.flag("-h")) {
    std::cout << kChatUsage << haveri::ctl::chat_commands_help();
    return 0;
  }
  haveri::ctl::ChatOptions options;
  options.url = base_url(global);
  parse_url(options.url);  // a bad URL is a usage error before anything else
  const std::optional<std::string> as = args.value("--as");
  if (!as) {
    throw UsageError("chat: --as <member> is required (who you are in the chat)");
  }
  if (!valid_member(*as)) {
    throw UsageError("chat: --as \"" + *as +
                     "\": use 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
  }
  options.member = *as;
  if (auto channel = args.value("--channel")) {
    if (channel->starts_with('#')) {
      channel->erase(0, 1);
    }
    if (!haveri::ctl::valid_chat_channel(*channel)) {
      throw UsageError("chat: --channel \"" + *channel +
                       "\": use 1-80 characters of a-z, 0-9, _ and -, starting with a letter "
                       "or digit");
    }
    options.channel = *channel;
  }
  if (auto instance = args.value("--instance")) {
    if (!valid_member(*instance)) {
      throw UsageError("chat: --instance \"" + *instance + "\" is not an instance name");
    }
    options.instance = *instance;
  }
  if (auto linger = args.value("--linger")) {
    double seconds = -1;
    const auto [end, ec] =
        std::from_chars(linger->data(), linger->data() + linger->size(), seconds);
    // from_chars accepts "nan" and "inf"; NaN would slip through both comparisons.
    if (ec != std::errc{} || end != linger->data() + linger->size() || !std::isfinite(seconds) ||
        seconds < 0 || seconds > 3600) {
      throw UsageError("chat: --linger \"" + *linger + "\": use seconds from 0 to 3600, e.g. 1.5");
    }
    options.linger = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  }
  args.positionals(0);
  return haveri::ctl::run_chat(options, std::cin, std::cout, std::cerr);
}

int run(std::vector<std::string> argv) {
  GlobalOptions global;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    const auto take = [&](std::string_view name, std::optional<std::string>& into) {
      if (arg == name) {
        if (i + 1 >= argv.size()) {
          throw UsageError(std::string(name) + " needs a value");
        }
        into = argv[++i];
        return true;
      }
      if (arg.starts_with(std::string(name) + "=")) {
        into = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    if (!take("--url", global.url) && !take("--token-file", global.token_file)) {
      rest.push_back(arg);
    }
  }
  if (rest.empty()) {
    throw UsageError("no command given");
  }
  const std::string command = rest.front();
  CommandArgs args(command, std::vector<std::string>(rest.begin() + 1, rest.end()));
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "incidents") {
    return cmd_incidents(global, std::move(args));
  }
  if (command == "timeline") {
    return cmd_timeline(global, std::move(args));
  }
  if (command == "chat") {
    return cmd_chat(global, std::move(args));
  }
  if (command == "search") {
    return cmd_search(global, std::move(args));
  }
  if (command == "rebuild") {
    return cmd_rebuild(global, std::move(args));
  }
  if (command == "policy") {
    return haveri::ctl::run_policy_command(std::vector<std::string>(rest.begin() + 1, rest.end()),
                                           std::cout, std::cerr);
  }
  throw UsageError("unknown command \"" + command + "\"");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "haverictl: " << e.what() << "\nTry 'haverictl help'.\n";
    return 2;
  } catch (const Failure& e) {
    std::cerr << "haverictl: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "haverictl: " << e.what() << '\n';
    return 1;
  }
}
