#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>

namespace haveri::ctl {

// What `haverictl chat` was asked to do. The caller validates names (usage errors).
struct ChatOptions {
  std::string url;                         // haverid base URL, e.g. http://127.0.0.1:8480
  std::string member;                      // who we post as ([A-Za-z0-9._-]{1,64})
  std::string channel = "general";         // where we start
  std::string instance = "local";          // the local plugin instance: /hooks/<instance>/
  std::chrono::milliseconds linger{1500};  // how long to keep reading after EOF on `in`
};

// Whether `name` is a local-chat channel name: [a-z0-9][a-z0-9_-]{0,79}.
bool valid_chat_channel(const std::string& name);

// The commands run_chat understands, one per line, for `haverictl chat --help`
// and the in-chat /help.
std::string_view chat_commands_help();

// Runs the terminal chat client of the local plugin: prints the channel's recent
// history, then sends each line read from `in` as a message while a poller thread
// prints what others (and the bot) say. Lines starting with one of the commands in
// chat_commands_help() (/join, /press, /form, /edit, /delete, /attach, /help,
// /quit) are handled by the client; /form reads its answers from `in` too.
// Returns at EOF (after lingering) or /quit.
//
// Return value: the process exit code — 0, or 1 when haverid could not be reached
// (or has no such instance) at start; the message is already printed to `err`.
// Throws std::invalid_argument for a malformed URL.
int run_chat(const ChatOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace haveri::ctl
