#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <haveri/core/commands.hpp>

namespace haveri::core {
namespace {

using namespace std::chrono_literals;

Command parsed(std::string_view text) {
  auto result = parse_command(text);
  if (const auto* error = std::get_if<CommandError>(&result)) {
    ADD_FAILURE() << "\"" << text << "\" failed: " << error->problem;
    return HelpCommand{"<failed>"};
  }
  return std::get<Command>(std::move(result));
}

CommandError failed(std::string_view text) {
  auto result = parse_command(text);
  if (const auto* error = std::get_if<CommandError>(&result)) {
    return *error;
  }
  ADD_FAILURE() << "\"" << text << "\" parsed but should have failed";
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// 2026-12-01T14:30Z and friends, as the parser computes them.
TimePoint utc(int year, unsigned month, unsigned day, int hour = 0, int minute = 0) {
  const std::chrono::sys_days date{std::chrono::year{year} / std::chrono::month{month} /
                                   std::chrono::day{day}};
  return std::chrono::time_point_cast<std::chrono::milliseconds>(date + std::chrono::hours{hour} +
                                                                 std::chrono::minutes{minute});
}

DueSpec due_in(std::chrono::minutes from_now) {
  return DueSpec{std::nullopt, from_now};
}

DueSpec due_at(TimePoint at) {
  return DueSpec{at, std::chrono::minutes{0}};
}

FollowUpCommand follow_up_add(std::string description, std::optional<Actor> assignee = {},
                              std::optional<DueSpec> due = {}) {
  FollowUpCommand command;
  command.action = FollowUpCommand::Action::add;
  command.description = std::move(description);
  command.assignee = std::move(assignee);
  command.due = due;
  return command;
}

const FollowUpCommand& follow_up_of(const Command& command) {
  static const FollowUpCommand kNone;
  if (const auto* follow_up = std::get_if<FollowUpCommand>(&command)) {
    return *follow_up;
  }
  ADD_FAILURE() << "not a followup command";
  return kNone;
}

// ---------------------------------------------------------------- declare

TEST(ParseDeclare, TitleAndSeverity) {
  EXPECT_EQ(parsed("/incident declare Line 3 down sev1"),
            (Command{DeclareCommand{"Line 3 down", Severity::sev1}}));
}

TEST(ParseDeclare, WithoutSeverityLeavesItUnset) {
  EXPECT_EQ(parsed("/incident declare Line 3 down"),
            (Command{DeclareCommand{"Line 3 down", std::nullopt}}));
}

TEST(ParseDeclare, WithoutTheSlashCommandPrefix) {
  EXPECT_EQ(parsed("declare Oven 2 cold SEV2"),
            (Command{DeclareCommand{"Oven 2 cold", Severity::sev2}}));
  EXPECT_EQ(parsed("incident declare Oven 2 cold SEV2"),
            (Command{DeclareCommand{"Oven 2 cold", Severity::sev2}}));
}

TEST(ParseDeclare, MixedCaseVerbPrefixAndSeverity) {
  EXPECT_EQ(parsed("/INCIDENT DeClArE Line 3 down Sev3"),
            (Command{DeclareCommand{"Line 3 down", Severity::sev3}}));
}

TEST(ParseDeclare, TitleKeepsItsCase) {
  EXPECT_EQ(std::get<DeclareCommand>(parsed("declare PLC on Line B")).title, "PLC on Line B");
}

TEST(ParseDeclare, CollapsesWhitespace) {
  EXPECT_EQ(parsed("  /incident \t declare   Line   3\n down \r\n sev1  "),
            (Command{DeclareCommand{"Line 3 down", Severity::sev1}}));
}

TEST(ParseDeclare, ALoneSeverityWordIsTheSeverityAndTheFormAsksForTheTitle) {
  EXPECT_EQ(parsed("declare sev1"), (Command{DeclareCommand{"", Severity::sev1}}));
  EXPECT_EQ(parsed("declare SEV2"), (Command{DeclareCommand{"", Severity::sev2}}));
}

TEST(ParseDeclare, OnlyTheLastWordCanBeTheSeverity) {
  EXPECT_EQ(parsed("declare sev1 conveyor jam"),
            (Command{DeclareCommand{"sev1 conveyor jam", std::nullopt}}));
}

TEST(ParseDeclare, QuotedTitleLosesItsQuotes) {
  EXPECT_EQ(parsed("declare \"Line 3 down\" sev2"),
            (Command{DeclareCommand{"Line 3 down", Severity::sev2}}));
  EXPECT_EQ(parsed("declare \"Line 3 down\""),
            (Command{DeclareCommand{"Line 3 down", std::nullopt}}));
}

TEST(ParseDeclare, QuotesProtectATitleEndingInASeverityWord) {
  EXPECT_EQ(parsed("declare \"Review of sev1\""),
            (Command{DeclareCommand{"Review of sev1", std::nullopt}}));
}

TEST(ParseDeclare, TypographicQuotesAreStrippedToo) {
  EXPECT_EQ(parsed("declare \xE2\x80\x9CLine 3 down\xE2\x80\x9D"),
            (Command{DeclareCommand{"Line 3 down", std::nullopt}}));
}

TEST(ParseDeclare, InnerQuotesStay) {
  EXPECT_EQ(parsed("declare Sensor \"T4\" reads 900C"),
            (Command{DeclareCommand{"Sensor \"T4\" reads 900C", std::nullopt}}));
  EXPECT_EQ(parsed("declare \"half quoted"),
            (Command{DeclareCommand{"\"half quoted", std::nullopt}}));
}

TEST(ParseDeclare, UnicodeTitle) {
  EXPECT_EQ(parsed("declare Überhitzung Ofen 3 🔥 — 炉子 sev1"),
            (Command{DeclareCommand{"Überhitzung Ofen 3 🔥 — 炉子", Severity::sev1}}));
}

TEST(ParseDeclare, WithoutATitleItStillParsesSoTheFormCanAskForIt) {
  for (const std::string_view text :
       {"declare", "/incident declare", "declare   ", "declare \"\""}) {
    EXPECT_EQ(parsed(text), (Command{DeclareCommand{"", std::nullopt}})) << text;
  }
  EXPECT_EQ(parsed("declare \"   \" sev1"), (Command{DeclareCommand{"", Severity::sev1}}));
}

TEST(ParseDeclare, AreaAndAssetsAnywhereInTheCommand) {
  EXPECT_EQ(parsed("declare Line 3 down sev1 area:packing assets:conveyor-4,press_2"),
            (Command{DeclareCommand{
                "Line 3 down", Severity::sev1, "packing", {"conveyor-4", "press_2"}}}));
  EXPECT_EQ(parsed("declare area:packing Line 3 down asset:press-1 sev2"),
            (Command{DeclareCommand{"Line 3 down", Severity::sev2, "packing", {"press-1"}}}));
  // "=" works as well as ":", and keys and ids are case-insensitive.
  EXPECT_EQ(parsed("declare Jam AREA=Packing ASSETS=Press-1"),
            (Command{DeclareCommand{"Jam", std::nullopt, "packing", {"press-1"}}}));
}

TEST(ParseDeclare, EmptyAssetItemsAreSkipped) {
  EXPECT_EQ(std::get<DeclareCommand>(parsed("declare Jam assets:a,,b,")).assets,
            (std::vector<std::string>{"a", "b"}));
}

TEST(ParseDeclare, OnlyOptionsStillOpenTheFormPrefilled) {
  EXPECT_EQ(parsed("declare area:packing sev2"),
            (Command{DeclareCommand{"", Severity::sev2, "packing", {}}}));
}

TEST(ParseDeclare, BadAreaOrAssetIdsAreRefusedWithTheDeclareUsage) {
  for (const char* text : {"declare Jam area:", "declare Jam area:pack/ing", "declare Jam area:ü",
                           "declare Jam assets:ok,bad!id", "declare Jam asset:a;b"}) {
    const CommandError error = failed(text);
    EXPECT_EQ(error.usage, command_usage("declare")) << text;
    EXPECT_TRUE(contains(error.problem, "id")) << text << ": " << error.problem;
  }
  const CommandError long_area = failed("declare Jam area:" + std::string(65, 'a'));
  EXPECT_TRUE(contains(long_area.problem, "not an area id")) << long_area.problem;
  EXPECT_LT(long_area.problem.size(), 150U);
}

TEST(ParseDeclare, UnknownSeverityIsAnError) {
  const CommandError error = failed("declare Line 3 down sev9");
  EXPECT_TRUE(contains(error.problem, "unknown severity \"sev9\"")) << error.problem;
  EXPECT_TRUE(contains(error.problem, "sev1")) << error.problem;
  EXPECT_EQ(error.usage, command_usage("declare"));
  EXPECT_TRUE(contains(error.usage, "[area:<area>]")) << error.usage;
}

TEST(ParseDeclare, TitleLengthLimitCountsCharactersNotBytes) {
  const std::string ascii_200(200, 'a');
  EXPECT_EQ(std::get<DeclareCommand>(parsed("declare " + ascii_200)).title, ascii_200);
  std::string umlauts_200;
  for (int i = 0; i < 200; ++i) {
    umlauts_200 += "ü";  // 2 bytes each: 400 bytes, 200 characters
  }
  EXPECT_EQ(std::get<DeclareCommand>(parsed("declare " + umlauts_200)).title, umlauts_200);
  const CommandError error = failed("declare " + std::string(201, 'a'));
  EXPECT_TRUE(contains(error.problem, "201")) << error.problem;
  EXPECT_TRUE(contains(error.problem, "200")) << error.problem;
}

// A megabyte of words after a command: speed is measured in bench/, not here.
std::string huge_command(const std::string& prefix) {
  std::string huge = prefix;
  for (int i = 0; i < 200'000; ++i) {
    huge += "word ";
  }
  return huge;
}

TEST(ParseDeclare, HugeInputIsRefusedWithAShortReply) {
  const CommandError error = failed(huge_command("/incident declare "));
  EXPECT_LT(error.problem.size(), 200U);
}

TEST(ParseDeclare, InvalidUtf8IsRefused) {
  const CommandError error = failed("declare Line \xFF\xFE down");
  EXPECT_TRUE(contains(error.problem, "UTF-8")) << error.problem;
  EXPECT_FALSE(std::holds_alternative<CommandError>(parse_command("declare caf\xC3\xA9")));
  EXPECT_TRUE(std::holds_alternative<CommandError>(parse_command("declare caf\xC3")));
  EXPECT_TRUE(std::holds_alternative<CommandError>(parse_command("declare \xC0\xAF overlong")));
  EXPECT_TRUE(
      std::holds_alternative<CommandError>(parse_command("declare \xED\xA0\x80 surrogate")));
}

// ---------------------------------------------------------------- status

TEST(ParseStatus, EveryStateCaseInsensitively) {
  EXPECT_EQ(parsed("/incident status investigating"),
            Command{StatusCommand{Status::investigating}});
  EXPECT_EQ(parsed("status MITIGATED"), Command{StatusCommand{Status::mitigated}});
  EXPECT_EQ(parsed("Status Resolved"), Command{StatusCommand{Status::resolved}});
  EXPECT_EQ(parsed("STATUS closed"), Command{StatusCommand{Status::closed}});
  EXPECT_EQ(parsed("  status   declared  "), Command{StatusCommand{Status::declared}});
}

TEST(ParseStatus, MissingStateListsTheValidOnes) {
  for (const std::string_view text : {"status", "/incident status", "status    "}) {
    const CommandError error = failed(text);
    for (const std::string_view state :
         {"declared", "investigating", "mitigated", "resolved", "closed"}) {
      EXPECT_TRUE(contains(error.problem, state)) << text << ": " << error.problem;
    }
    EXPECT_EQ(error.usage, "/incident status <declared|investigating|mitigated|resolved|closed>");
  }
}

TEST(ParseStatus, UnknownStateNamesItAndListsTheValidOnes) {
  const CommandError error = failed("status fixed");
  EXPECT_TRUE(contains(error.problem, "\"fixed\"")) << error.problem;
  EXPECT_TRUE(contains(error.problem, "investigating")) << error.problem;
  EXPECT_EQ(error.usage, command_usage("status"));
}

TEST(ParseStatus, MoreThanOneStateIsAnError) {
  const CommandError error = failed("status resolved closed");
  EXPECT_TRUE(contains(error.problem, "one")) << error.problem;
  EXPECT_EQ(error.usage, command_usage("status"));
}

// ---------------------------------------------------------------- help and unknown verbs

TEST(ParseHelp, EmptyInputIsHelp) {
  EXPECT_EQ(parsed(""), Command{HelpCommand{}});
  EXPECT_EQ(parsed("    \t\n "), Command{HelpCommand{}});
  EXPECT_EQ(parsed("/incident"), Command{HelpCommand{}});
  EXPECT_EQ(parsed("  /Incident  "), Command{HelpCommand{}});
}

TEST(ParseHelp, WithAndWithoutTopic) {
  EXPECT_EQ(parsed("help"), Command{HelpCommand{}});
  EXPECT_EQ(parsed("/incident HELP Status"), Command{HelpCommand{"status"}});
  EXPECT_EQ(parsed("help declare"), Command{HelpCommand{"declare"}});
  EXPECT_EQ(parsed("help FollowUp"), Command{HelpCommand{"followup"}});
}

TEST(ParseHelp, AHugeTopicIsShortenedBeforeItIsEchoed) {
  const auto command = parsed("help " + std::string(10'000, 'x'));
  EXPECT_LT(std::get<HelpCommand>(command).topic.size(), 100U);
}

TEST(ParseHelp, AnInvalidTopicIsMadeValidUtf8) {
  const auto command = parsed("help \xFF\xFE");
  EXPECT_FALSE(contains(std::get<HelpCommand>(command).topic, "\xFF"));
  EXPECT_TRUE(contains(std::get<HelpCommand>(command).topic, "\xEF\xBF\xBD"));
}

TEST(ParseCommand, UnknownVerbNamesItAndListsTheCommands) {
  const CommandError error = failed("/incident escalate now");
  EXPECT_EQ(error.problem, "unknown command \"escalate\"");
  for (const char* part : {"declare", "status", "title <text>", "followup", "resolve", "close",
                           "timeline", "list", "help"}) {
    EXPECT_TRUE(contains(error.usage, part)) << part << ": " << error.usage;
  }
}

TEST(ParseCommand, UnknownVerbKeepsItsCaseInTheMessage) {
  EXPECT_EQ(failed("Foo").problem, "unknown command \"Foo\"");
}

TEST(ParseCommand, HostileUnknownVerbIsEchoedShortAndValid) {
  const CommandError long_verb = failed(std::string(100'000, 'z'));
  EXPECT_LT(long_verb.problem.size(), 100U);
  const CommandError bad_bytes = failed("\xFF\xFE\xFD");
  EXPECT_FALSE(contains(bad_bytes.problem, "\xFF")) << bad_bytes.problem;
  EXPECT_TRUE(contains(bad_bytes.problem, "\xEF\xBF\xBD")) << bad_bytes.problem;
}

TEST(ParseCommand, PrefixMustBeAWholeWord) {
  EXPECT_EQ(failed("/incidentdeclare x").problem, "unknown command \"/incidentdeclare\"");
}

TEST(ParseCommand, NulBytesInATitleAreRefusedNotCut) {
  const std::string text("declare a\0b sev1", 16);
  const auto result = parse_command(text);
  ASSERT_TRUE(std::holds_alternative<CommandError>(result));
  EXPECT_NE(std::get<CommandError>(result).problem.find("control characters"), std::string::npos);
}

// ---------------------------------------------------------------- usage and help text

// Every command the parser knows, by the name help and usage use.
constexpr std::array kCommandNames = {
    "declare", "status",   "sev",     "lead",  "comms",    "ack",  "note",   "action",
    "title",   "followup", "resolve", "close", "timeline", "list", "search", "help"};

TEST(CommandUsage, EachCommand) {
  EXPECT_EQ(command_usage("declare"),
            "/incident declare <title> [sev1|sev2|sev3] [area:<area>] [assets:<asset>,<asset>]");
  EXPECT_EQ(command_usage("status"),
            "/incident status <declared|investigating|mitigated|resolved|closed>");
  EXPECT_EQ(command_usage("help"), "/incident help [command]");
  EXPECT_EQ(command_usage("HELP"), "/incident help [command]");
  EXPECT_EQ(command_usage("sev"), "/incident sev <sev1|sev2|sev3>");
  EXPECT_EQ(command_usage("severity"), "/incident sev <sev1|sev2|sev3>");
  EXPECT_EQ(command_usage("LEAD"), "/incident lead <@user|user id|me>");
  EXPECT_EQ(command_usage("comms"), "/incident comms <@user|user id|me>");
  EXPECT_EQ(command_usage("ack"), "/incident ack [INC-<n>]");
  EXPECT_EQ(command_usage("note"), "/incident note <text>");
  EXPECT_EQ(command_usage("Action"), "/incident action <text>");
  EXPECT_EQ(command_usage("title"), "/incident title <new title>");
  EXPECT_EQ(command_usage("resolve"), "/incident resolve");
  EXPECT_EQ(command_usage("close"), "/incident close");
  EXPECT_EQ(command_usage("timeline"), "/incident timeline [count]");
  EXPECT_EQ(command_usage("list"), "/incident list [open|all]");
  EXPECT_TRUE(contains(std::string(command_usage("followup")), "followup assign <n> <@user|me>"));
  EXPECT_TRUE(contains(std::string(command_usage("followup")), "followup list [mine|all|@user]"));
  EXPECT_EQ(command_usage(""), "");
  EXPECT_EQ(command_usage("escalate"), "");
  EXPECT_EQ(command_usage("declar"), "");
  EXPECT_EQ(command_usage("declaree"), "");
}

TEST(CommandUsage, EveryCommandHasOneStartingWithIncident) {
  for (const char* name : kCommandNames) {
    const std::string usage(command_usage(name));
    EXPECT_EQ(usage.rfind("/incident ", 0), 0U) << name << ": " << usage;
  }
}

TEST(CommandHelp, OverviewHasOneLinePerCommand) {
  const std::string help = command_help("");
  for (const char* name : kCommandNames) {
    if (std::string_view(name) == "followup") {
      EXPECT_TRUE(contains(help, "/incident followup <description>")) << help;
    } else {
      EXPECT_TRUE(contains(help, command_usage(name))) << name;
    }
  }
  EXPECT_EQ(std::count(help.begin(), help.end(), '\n'),
            static_cast<std::ptrdiff_t>(kCommandNames.size()) - 1);
}

TEST(CommandHelp, EveryCommandHasItsOwnTopicShowingItsUsage) {
  for (const char* name : kCommandNames) {
    const std::string help = command_help(name);
    EXPECT_TRUE(contains(help, command_usage(name))) << name << ": " << help;
    EXPECT_FALSE(contains(help, "There is no command")) << name;
    EXPECT_NE(help, command_help("")) << name;
    // And `help <name>` typed in chat asks for exactly that topic.
    EXPECT_EQ(parsed(std::string("help ") + name), Command{HelpCommand{name}});
  }
  EXPECT_EQ(command_help("SEVERITY"), command_help("sev"));
  EXPECT_EQ(command_help("follow-up"), command_help("followup"));
}

TEST(CommandHelp, StatusListsTheTransitionRules) {
  const std::string help = command_help("status");
  EXPECT_TRUE(contains(help, command_usage("status")));
  EXPECT_TRUE(contains(help, "DECLARED → INVESTIGATING, MITIGATED or RESOLVED")) << help;
  EXPECT_TRUE(contains(help, "RESOLVED → CLOSED or INVESTIGATING")) << help;
  EXPECT_TRUE(contains(help, "CLOSED is final")) << help;
}

TEST(CommandHelp, TopicsCarryTheirLimitsAndRules) {
  EXPECT_TRUE(contains(command_help("declare"), "SEV3"));
  EXPECT_TRUE(contains(command_help("note"), "4000"));
  EXPECT_TRUE(contains(command_help("lead"), "`me`"));
  EXPECT_TRUE(contains(command_help("title"), "200"));
  EXPECT_TRUE(contains(command_help("resolve"), "10 KB"));
  EXPECT_TRUE(contains(command_help("close"), "RESOLVED"));
  EXPECT_TRUE(contains(command_help("timeline"), "200"));
  EXPECT_TRUE(contains(command_help("followup"), "+3d"));
  EXPECT_TRUE(contains(command_help("Help"), command_usage("help")));
}

TEST(CommandHelp, UnknownTopicSaysSoAndListsCommands) {
  const std::string help = command_help("escalate");
  EXPECT_TRUE(contains(help, "\"escalate\"")) << help;
  EXPECT_TRUE(contains(help,
                       "declare, status, sev, lead, comms, ack, note, action, title, "
                       "followup, resolve, close, timeline, list, search, help"))
      << help;
}

TEST(CommandHelp, AHostileTopicIsEchoedShortAndValid) {
  const std::string help = command_help(std::string(5000, 'q') + "\xFF");
  EXPECT_LT(help.size(), 400U);
  EXPECT_FALSE(contains(help, "\xFF"));
}

// ---------------------------------------------------------------- sev, lead, comms, ack, note

TEST(ParseSev, EverySeverityCaseInsensitively) {
  EXPECT_EQ(parsed("/incident sev sev1"), (Command{SeverityCommand{Severity::sev1}}));
  EXPECT_EQ(parsed("sev SEV2"), (Command{SeverityCommand{Severity::sev2}}));
  EXPECT_EQ(parsed("  /INCIDENT   Sev   sEv3  "), (Command{SeverityCommand{Severity::sev3}}));
  EXPECT_EQ(parsed("severity sev1"), (Command{SeverityCommand{Severity::sev1}}));
}

TEST(ParseSev, MissingUnknownOrExtraSeverityShowsTheSevUsage) {
  for (const char* text : {"sev", "sev sev9", "sev 1", "sev critical", "sev sev1 sev2"}) {
    const CommandError error = failed(text);
    EXPECT_EQ(error.usage, "/incident sev <sev1|sev2|sev3>") << text;
    EXPECT_TRUE(contains(error.problem, "sev1 (line down)")) << text << ": " << error.problem;
  }
  EXPECT_TRUE(contains(failed("sev sev9").problem, "\"sev9\"")) << failed("sev sev9").problem;
}

TEST(ParseLead, MentionIdOrPlainName) {
  EXPECT_EQ(parsed("/incident lead @alice"), (Command{LeadCommand{Actor{"alice", "alice"}}}));
  EXPECT_EQ(parsed("lead <@U123>"), (Command{LeadCommand{Actor{"U123", "U123"}}}));
  EXPECT_EQ(parsed("lead <@U123|alice>"), (Command{LeadCommand{Actor{"U123", "alice"}}}));
  EXPECT_EQ(parsed("lead alice"), (Command{LeadCommand{Actor{"alice", "alice"}}}));
  EXPECT_EQ(parsed("LEAD Alice"), (Command{LeadCommand{Actor{"Alice", "Alice"}}}));
}

TEST(ParseLead, MeMeansTheCallerInAnyCase) {
  EXPECT_EQ(parsed("lead me"), (Command{LeadCommand{std::nullopt}}));
  EXPECT_EQ(parsed("Lead ME"), (Command{LeadCommand{std::nullopt}}));
  EXPECT_EQ(parsed("comms Me"), (Command{CommsCommand{std::nullopt}}));
}

TEST(ParseComms, SameFormsAsLead) {
  EXPECT_EQ(parsed("/incident comms @bob"), (Command{CommsCommand{Actor{"bob", "bob"}}}));
  EXPECT_EQ(parsed("comms <@W42>"), (Command{CommsCommand{Actor{"W42", "W42"}}}));
  EXPECT_EQ(parsed("COMMS bob"), (Command{CommsCommand{Actor{"bob", "bob"}}}));
}

TEST(ParseLead, HostileOrMissingPersonShowsTheRightUsage) {
  for (const char* text : {"lead", "lead <@>", "lead @", "lead <@|x>", "lead <@U1><@U2>",
                           "lead @al@ice", "lead alice bob", "lead <@U1|a|b>"}) {
    const CommandError error = failed(text);
    EXPECT_EQ(error.usage, "/incident lead <@user|user id|me>") << text;
    EXPECT_FALSE(error.problem.empty()) << text;
  }
  for (const char* text : {"comms", "comms <@>", "comms a b"}) {
    EXPECT_EQ(failed(text).usage, "/incident comms <@user|user id|me>") << text;
  }
  EXPECT_TRUE(contains(failed("lead").problem, "needs a person")) << failed("lead").problem;
  EXPECT_TRUE(contains(failed("lead <@>").problem, "names nobody")) << failed("lead <@>").problem;
}

TEST(ParseLead, HugeOrInvalidIdIsRefusedAndEchoedShort) {
  const CommandError huge = failed("lead @" + std::string(100'000, 'x'));
  EXPECT_TRUE(contains(huge.problem, "too long")) << huge.problem;
  EXPECT_LT(huge.problem.size(), 300U);
  const CommandError bad = failed("lead @al\xFFice");
  EXPECT_TRUE(contains(bad.problem, "UTF-8")) << bad.problem;
}

TEST(ParseAck, TakesNothingOrAnIncidentNumber) {
  EXPECT_EQ(parsed("/incident ack"), (Command{AckCommand{}}));
  EXPECT_EQ(parsed("ACK"), (Command{AckCommand{}}));
  EXPECT_EQ(parsed("ack INC-7"), (Command{AckCommand{7}}));
  EXPECT_EQ(parsed("ack inc-12"), (Command{AckCommand{12}}));
  EXPECT_EQ(parsed("ack #3"), (Command{AckCommand{3}}));
  EXPECT_EQ(parsed("ack 4"), (Command{AckCommand{4}}));
  for (const char* bad : {"ack now please", "ack INC-", "ack INC-0", "ack #-1", "ack INC-x",
                          "ack 1 2", "ack INC-99999999999"}) {
    const CommandError error = failed(bad);
    EXPECT_EQ(error.usage, "/incident ack [INC-<n>]") << bad;
  }
}

TEST(ParseNote, KeepsTheTextAsTypedIncludingLineBreaks) {
  EXPECT_EQ(parsed("/incident note fuse   replaced\n  watch temps "),
            (Command{NoteCommand{"fuse   replaced\n  watch temps"}}));
  EXPECT_EQ(parsed("NOTE Überhitzung 🔥"), (Command{NoteCommand{"Überhitzung 🔥"}}));
  EXPECT_EQ(parsed("action restarted conveyor B"),
            (Command{ActionCommand{"restarted conveyor B"}}));
  EXPECT_EQ(parsed("Action sev1"), (Command{ActionCommand{"sev1"}}));
}

TEST(ParseNote, TextIsRequired) {
  EXPECT_EQ(failed("note").usage, "/incident note <text>");
  EXPECT_EQ(failed("note   \n ").usage, "/incident note <text>");
  EXPECT_EQ(failed("action").usage, "/incident action <text>");
  EXPECT_TRUE(contains(failed("note").problem, "needs some text")) << failed("note").problem;
}

TEST(ParseNote, AtMost4000CharactersNotBytes) {
  const std::string ok(4000, 'a');
  EXPECT_EQ(parsed("note " + ok), (Command{NoteCommand{ok}}));
  std::string umlauts;
  for (int i = 0; i < 4000; ++i) {
    umlauts += "ü";  // 2 bytes each: 8000 bytes, 4000 characters
  }
  EXPECT_EQ(parsed("note " + umlauts), (Command{NoteCommand{umlauts}}));
  const CommandError error = failed("action " + std::string(4001, 'a'));
  EXPECT_EQ(error.usage, "/incident action <text>");
  EXPECT_TRUE(contains(error.problem, "4001")) << error.problem;
  EXPECT_TRUE(contains(error.problem, "4000")) << error.problem;
}

TEST(ParseNote, HugeOrInvalidTextIsRefusedWithAShortReply) {
  const CommandError error = failed(huge_command("note "));
  EXPECT_LT(error.problem.size(), 200U);
  EXPECT_TRUE(contains(failed("note bad \xC3\x28 bytes").problem, "UTF-8"));
}

// ---------------------------------------------------------------- title

TEST(ParseTitle, TakesTheRestAsTheNewTitle) {
  EXPECT_EQ(parsed("/incident title Conveyor 4 jammed"),
            (Command{TitleCommand{"Conveyor 4 jammed"}}));
  EXPECT_EQ(parsed("TITLE \"Press 2: hydraulic leak\""),
            (Command{TitleCommand{"Press 2: hydraulic leak"}}));
  EXPECT_EQ(parsed("title Überhitzung 🔥 sev1"), (Command{TitleCommand{"Überhitzung 🔥 sev1"}}));
}

TEST(ParseTitle, EmptyTooLongOrInvalidIsRefusedWithTheTitleUsage) {
  const CommandError none = failed("title");
  EXPECT_EQ(none.problem, "title needs the new title");
  EXPECT_EQ(none.usage, "/incident title <new title>");
  EXPECT_EQ(failed("title \"\"").usage, "/incident title <new title>");
  EXPECT_TRUE(contains(failed("title \"  \"").problem, "empty")) << failed("title \"  \"").problem;

  std::string umlauts_200;
  for (int i = 0; i < 200; ++i) {
    umlauts_200 += "ü";
  }
  EXPECT_EQ(parsed("title " + umlauts_200), (Command{TitleCommand{umlauts_200}}));
  const CommandError long_title = failed("title " + std::string(201, 'x'));
  EXPECT_TRUE(contains(long_title.problem, "201")) << long_title.problem;
  EXPECT_TRUE(contains(long_title.problem, "200")) << long_title.problem;
  EXPECT_TRUE(contains(failed("title bad \xFF").problem, "UTF-8"));
  EXPECT_LT(failed(huge_command("title ")).problem.size(), 200U);
}

TEST(ParseTitle, ATitleIsOneLineWhereverItIsTyped) {
  const auto no_line_break = [](const std::variant<Command, CommandError>& result) {
    if (const auto* command = std::get_if<Command>(&result)) {
      if (const auto* title = std::get_if<TitleCommand>(command)) {
        return title->title.find_first_of("\n\r\t") == std::string::npos;
      }
      if (const auto* declare = std::get_if<DeclareCommand>(command)) {
        return declare->title.find_first_of("\n\r\t") == std::string::npos;
      }
    }
    return true;  // refused: fine too
  };
  EXPECT_TRUE(no_line_break(parse_command("title Line 3\ndown")));
  EXPECT_TRUE(no_line_break(
      parse_form_submission("declare", {{"title", "Line 3\r\ndown"}, {"severity", "sev1"}})));
}

// ---------------------------------------------------------------- resolve, close

TEST(ParseResolveAndClose, TakeNoArguments) {
  EXPECT_EQ(parsed("/incident resolve"), (Command{ResolveCommand{}}));
  EXPECT_EQ(parsed("RESOLVE"), (Command{ResolveCommand{}}));
  EXPECT_EQ(std::get<ResolveCommand>(parsed("resolve")).summary, std::nullopt);
  EXPECT_EQ(parsed("/incident close"), (Command{CloseCommand{}}));
  EXPECT_EQ(parsed("Close"), (Command{CloseCommand{}}));

  const CommandError resolve = failed("resolve fuse replaced");
  EXPECT_EQ(resolve.usage, "/incident resolve");
  EXPECT_TRUE(contains(resolve.problem, "summary form")) << resolve.problem;
  const CommandError close = failed("close now");
  EXPECT_EQ(close.usage, "/incident close");
  EXPECT_TRUE(contains(close.problem, "takes nothing")) << close.problem;
}

// ---------------------------------------------------------------- timeline, list

TEST(ParseTimeline, DefaultCountAndACapOf200) {
  EXPECT_EQ(parsed("timeline"), (Command{TimelineCommand{20}}));
  EXPECT_EQ(parsed("/incident timeline 5"), (Command{TimelineCommand{5}}));
  EXPECT_EQ(parsed("timeline 200"), (Command{TimelineCommand{200}}));
  EXPECT_EQ(parsed("timeline 201"), (Command{TimelineCommand{200}}));
  EXPECT_EQ(parsed("timeline 999999999"), (Command{TimelineCommand{200}}));
}

TEST(ParseTimeline, AnythingButOnePositiveCountIsRefused) {
  for (const char* text : {"timeline 0", "timeline -3", "timeline five", "timeline 3 4",
                           "timeline 1.5", "timeline 9999999999", "timeline 0x10"}) {
    const CommandError error = failed(text);
    EXPECT_EQ(error.usage, "/incident timeline [count]") << text;
  }
}

TEST(ParseList, OpenByDefaultOrAll) {
  EXPECT_EQ(parsed("list"), (Command{ListCommand{false}}));
  EXPECT_EQ(parsed("list open"), (Command{ListCommand{false}}));
  EXPECT_EQ(parsed("/incident LIST All"), (Command{ListCommand{true}}));
  for (const char* text : {"list closed", "list all open", "list 5"}) {
    EXPECT_EQ(failed(text).usage, "/incident list [open|all]") << text;
  }
}

// ---------------------------------------------------------------- followup

TEST(ParseFollowUp, DescriptionOnly) {
  EXPECT_EQ(parsed("/incident followup Replace the belt guard"),
            (Command{follow_up_add("Replace the belt guard")}));
  EXPECT_EQ(parsed("followup add Replace the belt guard"),
            (Command{follow_up_add("Replace the belt guard")}));
  EXPECT_EQ(parsed("follow-up Replace guard"), (Command{follow_up_add("Replace guard")}));
}

TEST(ParseFollowUp, TrailingOwnerAndDue) {
  EXPECT_EQ(parsed("followup Replace the belt guard @bob due:+3d"),
            (Command{follow_up_add("Replace the belt guard", Actor{"bob", "bob"},
                                   due_in(std::chrono::minutes{3 * 24 * 60}))}));
  EXPECT_EQ(
      parsed("followup add Check sensor <@U42|cy> DUE=2026-12-01"),
      (Command{follow_up_add("Check sensor", Actor{"U42", "cy"}, due_at(utc(2026, 12, 1, 9)))}));
}

TEST(ParseFollowUp, OptionsInTheMiddleDoNotStayInTheDescription) {
  EXPECT_EQ(follow_up_of(parsed("followup Replace @bob the guard")).description,
            "Replace the guard");
  EXPECT_EQ(follow_up_of(parsed("followup Replace due:+1d the guard")).description,
            "Replace the guard");
}

TEST(ParseFollowUp, EveryWhenForm) {
  const std::map<std::string, DueSpec> cases = {
      {"+90m", due_in(90min)},
      {"+4h", due_in(4h)},
      {"+3d", due_in(std::chrono::minutes{3 * 1440})},
      {"+2w", due_in(std::chrono::minutes{2 * 10080})},
      {"+2W", due_in(std::chrono::minutes{2 * 10080})},
      {"tomorrow", due_in(std::chrono::minutes{1440})},
      {"Tomorrow", due_in(std::chrono::minutes{1440})},
      {"2026-12-01", due_at(utc(2026, 12, 1, 9))},
      {"2026-12-01T14:30", due_at(utc(2026, 12, 1, 14, 30))},
      {"2026-12-01t14:30", due_at(utc(2026, 12, 1, 14, 30))},
      {"2024-02-29", due_at(utc(2024, 2, 29, 9))},
      {"2026-12-31T23:59", due_at(utc(2026, 12, 31, 23, 59))},
      {"2026-01-01T00:00", due_at(utc(2026, 1, 1, 0, 0))},
  };
  for (const auto& [when, expected] : cases) {
    EXPECT_EQ(follow_up_of(parsed("followup x due:" + when)).due, expected) << when;
    EXPECT_EQ(follow_up_of(parsed("followup due 3 " + when)).due, expected) << when;
  }
}

TEST(ParseFollowUp, ImpossibleOrMalformedDatesAreRefused) {
  for (const char* when : {"2026-02-30",
                           "2026-02-29",
                           "2025-02-29",
                           "2026-04-31",
                           "2026-13-01",
                           "2026-00-10",
                           "2026-12-00",
                           "2026-12-32",
                           "2026-12-01T24:00",
                           "2026-12-01T12:60",
                           "2026-12-1",
                           "26-12-01",
                           "1999-12-31",
                           "2201-01-01",
                           "+0d",
                           "+3",
                           "+d",
                           "+3x",
                           "+-3d",
                           "+5001d",
                           "+3.5d",
                           "yesterday",
                           "2026/12/01",
                           "2026-12-01T14:30Z",
                           "2026-12-01T1430"}) {
    const CommandError error = failed(std::string("followup due 2 ") + when);
    EXPECT_TRUE(contains(error.problem, "is not a date")) << when << ": " << error.problem;
    EXPECT_TRUE(contains(error.problem, "+3d")) << when;  // says what would work
    EXPECT_EQ(error.usage, command_usage("followup")) << when;
  }
  const CommandError inline_due = failed("followup Fix it due:2026-02-30");
  EXPECT_TRUE(contains(inline_due.problem, "not a due date")) << inline_due.problem;
}

TEST(ParseFollowUp, Assign) {
  const FollowUpCommand to_bob = follow_up_of(parsed("followup assign 2 @bob"));
  EXPECT_EQ(to_bob.action, FollowUpCommand::Action::assign);
  EXPECT_EQ(to_bob.number, 2);
  EXPECT_EQ(to_bob.assignee, (Actor{"bob", "bob"}));
  EXPECT_FALSE(to_bob.assign_to_caller);

  const FollowUpCommand to_me = follow_up_of(parsed("FOLLOWUP ASSIGN #12 me"));
  EXPECT_EQ(to_me.number, 12);
  EXPECT_EQ(to_me.assignee, std::nullopt);
  EXPECT_TRUE(to_me.assign_to_caller);
}

TEST(ParseFollowUp, RedateAndStatus) {
  const FollowUpCommand redate = follow_up_of(parsed("followup due 4 +1w"));
  EXPECT_EQ(redate.action, FollowUpCommand::Action::redate);
  EXPECT_EQ(redate.number, 4);
  EXPECT_EQ(redate.due, due_in(std::chrono::minutes{10080}));

  const std::map<std::string, FollowUpStatus> statuses = {{"start", FollowUpStatus::in_progress},
                                                          {"done", FollowUpStatus::done},
                                                          {"reopen", FollowUpStatus::open}};
  for (const auto& [verb, status] : statuses) {
    const FollowUpCommand command = follow_up_of(parsed("followup " + verb + " 3"));
    EXPECT_EQ(command.action, FollowUpCommand::Action::status) << verb;
    EXPECT_EQ(command.status, status) << verb;
    EXPECT_EQ(command.number, 3) << verb;
  }
}

TEST(ParseFollowUp, List) {
  const FollowUpCommand plain = follow_up_of(parsed("followup list"));
  EXPECT_EQ(plain.action, FollowUpCommand::Action::list);
  EXPECT_EQ(plain.list_scope, "");
  EXPECT_EQ(follow_up_of(parsed("followup list MINE")).list_scope, "mine");
  EXPECT_EQ(follow_up_of(parsed("followup list all")).list_scope, "all");
  EXPECT_EQ(follow_up_of(parsed("followup list me")).list_scope, "mine");
  const FollowUpCommand person = follow_up_of(parsed("followups list <@U7|dora>"));
  EXPECT_EQ(person.list_scope, "person");
  EXPECT_EQ(person.list_person, (Actor{"U7", "dora"}));
}

TEST(ParseFollowUp, MistakesAreRefusedWithTheFollowUpUsage) {
  const std::map<std::string, std::string> cases = {
      {"followup", "needs a description"},
      {"followup add", "needs a description"},
      {"followup @bob due:+1d", "needs a description"},
      {"followup assign", "needs the follow-up's number"},
      {"followup assign x @bob", "\"x\" is not a follow-up number"},
      {"followup assign 0 @bob", "not a follow-up number"},
      {"followup assign -1 @bob", "not a follow-up number"},
      {"followup assign 2", "needs a person"},
      {"followup assign 2 @a @b", "one person"},
      {"followup due 2", "needs a number and one date"},
      {"followup due 2 +1d +2d", "needs a number and one date"},
      {"followup done", "needs the follow-up's number"},
      {"followup done 2 now", "takes only the follow-up's number"},
      {"followup start 1234567890", "not a follow-up number"},
      {"followup list a b", "at most one word"},
      {"followup list <@>", "names nobody"},
      {"followup Fix @", "names nobody"},
  };
  for (const auto& [text, problem] : cases) {
    const CommandError error = failed(text);
    EXPECT_TRUE(contains(error.problem, problem)) << text << ": " << error.problem;
    EXPECT_EQ(error.usage, command_usage("followup")) << text;
  }
}

TEST(ParseFollowUp, DescriptionLimitsAndHostileInput) {
  EXPECT_EQ(follow_up_of(parsed("followup " + std::string(4000, 'd'))).description,
            std::string(4000, 'd'));
  EXPECT_TRUE(contains(failed("followup " + std::string(4001, 'd')).problem, "4000"));
  EXPECT_TRUE(contains(failed("followup bad \xFF bytes").problem, "UTF-8"));
  const CommandError huge = failed(huge_command("followup "));
  EXPECT_LT(huge.problem.size(), 200U);
  const CommandError long_number = failed("followup done " + std::string(10'000, '7'));
  EXPECT_LT(long_number.problem.size(), 150U);
}

// ---------------------------------------------------------------- forms

std::variant<Command, CommandError> submit(std::string_view form,
                                           const std::map<std::string, std::string>& values) {
  return parse_form_submission(form, values);
}

Command submitted(std::string_view form, const std::map<std::string, std::string>& values) {
  auto result = submit(form, values);
  if (const auto* error = std::get_if<CommandError>(&result)) {
    ADD_FAILURE() << form << " failed: " << error->problem;
    return HelpCommand{"<failed>"};
  }
  return std::get<Command>(std::move(result));
}

CommandError rejected(std::string_view form, const std::map<std::string, std::string>& values) {
  auto result = submit(form, values);
  if (const auto* error = std::get_if<CommandError>(&result)) {
    return *error;
  }
  ADD_FAILURE() << form << " was accepted but should have been rejected";
  return {};
}

std::map<std::string, std::string> summary_values() {
  return {{"what_happened", "Belt snapped"},
          {"root_cause", "Worn bearing"},
          {"resolution", "Replaced bearing and belt"},
          {"duration_minutes", "95"},
          {"lines_affected", "2"},
          {"units_lost", "0"},
          {"other_impact", "Scrap: 40 kg\nOvertime: 3 h\n"}};
}

TEST(FormIncident, ReadsTheNumberAfterTheColon) {
  EXPECT_EQ(form_incident("resolve:7"), 7);
  EXPECT_EQ(form_incident("triage:123456"), 123456);
  EXPECT_EQ(form_incident("followup:1"), 1);
  for (const char* junk : {"declare", "", "resolve", "resolve:", "resolve:0", "resolve:-1",
                           "resolve:x", "resolve:7:8", "resolve: 7", "resolve:1234567890"}) {
    EXPECT_EQ(form_incident(junk), std::nullopt) << junk;
  }
}

TEST(DeclareForm, ValidSubmission) {
  EXPECT_EQ(submitted("declare", {{"title", "  Line 3 down "},
                                  {"severity", "SEV1"},
                                  {"area", "Packing"},
                                  {"assets", " conveyor-4 , press_2 "},
                                  {"unknown", "ignored"}}),
            (Command{DeclareCommand{
                "Line 3 down", Severity::sev1, "packing", {"conveyor-4", "press_2"}}}));
  EXPECT_EQ(submitted("declare", {{"title", "Jam"}, {"severity", "sev3"}}),
            (Command{DeclareCommand{"Jam", Severity::sev3}}));
}

TEST(DeclareForm, ReportsEveryProblemAtOnce) {
  const CommandError error =
      rejected("declare",
               {{"title", "   "}, {"severity", "sev9"}, {"area", "no such!"}, {"assets", "a,b c"}});
  EXPECT_EQ(error.field_errors.size(), 4U);
  EXPECT_EQ(error.field_errors.at("title"), "required");
  EXPECT_EQ(error.field_errors.at("severity"), "choose sev1, sev2 or sev3");
  EXPECT_EQ(error.field_errors.at("area"), "not an area id");
  EXPECT_TRUE(contains(error.field_errors.at("assets"), "\"b c\""))
      << error.field_errors.at("assets");
  for (const char* field : {"title", "severity", "area", "assets"}) {
    EXPECT_TRUE(contains(error.problem, field)) << error.problem;
  }
  EXPECT_EQ(error.usage, command_usage("declare"));

  const CommandError empty = rejected("declare", {});
  EXPECT_EQ(empty.field_errors.at("title"), "required");
  EXPECT_EQ(empty.field_errors.at("severity"), "required");
}

TEST(DeclareForm, TitleLimitsAsTyped) {
  const CommandError long_title =
      rejected("declare", {{"title", std::string(201, 't')}, {"severity", "sev2"}});
  EXPECT_TRUE(contains(long_title.field_errors.at("title"), "201"));
  const CommandError bad = rejected("declare", {{"title", "bad \xFF"}, {"severity", "sev2"}});
  EXPECT_TRUE(contains(bad.field_errors.at("title"), "UTF-8"));
  EXPECT_EQ(bad.field_errors.size(), 1U);
}

TEST(ResolveForm, ValidSubmissionCarriesTheWholeSummary) {
  const Command command = submitted("resolve:7", summary_values());
  const auto& resolve = std::get<ResolveCommand>(command);
  ASSERT_TRUE(resolve.summary.has_value());
  Summary expected;
  expected.what_happened = "Belt snapped";
  expected.root_cause = "Worn bearing";
  expected.resolution = "Replaced bearing and belt";
  expected.impact.duration_minutes = 95;
  expected.impact.lines_affected = 2;
  expected.impact.units_lost = 0;
  expected.impact.other = {{"Scrap", "40 kg"}, {"Overtime", "3 h"}};
  EXPECT_EQ(*resolve.summary, expected);
}

TEST(ResolveForm, ImpactNumbersAreOptional) {
  auto values = summary_values();
  values.erase("duration_minutes");
  values["lines_affected"] = "";
  values["units_lost"] = "  ";
  values.erase("other_impact");
  const Summary summary = *std::get<ResolveCommand>(submitted("resolve:7", values)).summary;
  EXPECT_EQ(summary.impact, Impact{});
}

TEST(ResolveForm, ReportsEveryProblemAtOnce) {
  const CommandError error = rejected("resolve:7", {{"what_happened", ""},
                                                    {"root_cause", " \n "},
                                                    {"duration_minutes", "-5"},
                                                    {"lines_affected", "1.5"},
                                                    {"units_lost", "lots"},
                                                    {"other_impact", "no colon here"}});
  const std::map<std::string, std::string> expected = {
      {"what_happened", "required"},
      {"root_cause", "required"},
      {"resolution", "required"},
      {"duration_minutes", "a whole number from 0 to 999999999"},
      {"lines_affected", "a whole number from 0 to 999999999"},
      {"units_lost", "a whole number from 0 to 999999999"},
      {"other_impact", "write one \"label: value\" per line"}};
  EXPECT_EQ(error.field_errors, expected);
  EXPECT_EQ(error.usage, command_usage("resolve"));
  EXPECT_TRUE(contains(error.problem, "resolve form")) << error.problem;
}

TEST(ResolveForm, EachTextIsAtMost10KB) {
  auto values = summary_values();
  values["what_happened"] = std::string(kMaxSummaryFieldBytes, 'w');
  EXPECT_TRUE(std::holds_alternative<Command>(submit("resolve:7", values)));
  values["root_cause"] = std::string(kMaxSummaryFieldBytes + 1, 'r');
  values["resolution"] = std::string(1'000'000, 'r');
  values["other_impact"] = "a: " + std::string(kMaxSummaryFieldBytes, 'o');
  const CommandError error = rejected("resolve:7", values);
  EXPECT_EQ(error.field_errors.size(), 3U);
  EXPECT_TRUE(contains(error.field_errors.at("root_cause"), "at most 10 KB"));
  EXPECT_TRUE(contains(error.field_errors.at("resolution"), "977 KB given"))
      << error.field_errors.at("resolution");
  EXPECT_TRUE(error.field_errors.contains("other_impact"));
  EXPECT_LT(error.problem.size(), 500U);
}

TEST(ResolveForm, InvalidUtf8AndOversizedNumbersAreRefused) {
  auto values = summary_values();
  values["resolution"] = "fixed \xC3\x28";
  values["units_lost"] = "1234567890";
  const CommandError error = rejected("resolve:7", values);
  EXPECT_EQ(error.field_errors.at("resolution"), "not valid UTF-8 text");
  EXPECT_TRUE(error.field_errors.contains("units_lost"));
}

TEST(ResolveForm, ZeroAndWholeNumbersAreAccepted) {
  auto values = summary_values();
  values["duration_minutes"] = " 0 ";
  values["lines_affected"] = "999999999";
  const Summary summary = *std::get<ResolveCommand>(submitted("resolve:7", values)).summary;
  EXPECT_EQ(summary.impact.duration_minutes, 0);
  EXPECT_EQ(summary.impact.lines_affected, 999'999'999);
}

TEST(ResolveForm, ZeroWrittenWithLeadingZerosIsAWholeNumberToo) {
  auto values = summary_values();
  values["units_lost"] = "00";
  const auto result = submit("resolve:7", values);
  ASSERT_TRUE(std::holds_alternative<Command>(result)) << std::get<CommandError>(result).problem;
  EXPECT_EQ(std::get<ResolveCommand>(std::get<Command>(result)).summary->impact.units_lost, 0);
}

TEST(ResolveForm, OtherImpactLinesBecomeLabelledValues) {
  auto values = summary_values();
  values["other_impact"] = "\n  \nCustomer: ACME waited: 2 h\r\nScrap:40 kg\n";
  const Summary summary = *std::get<ResolveCommand>(submitted("resolve:7", values)).summary;
  const std::map<std::string, std::string> expected = {{"Customer", "ACME waited: 2 h"},
                                                       {"Scrap", "40 kg"}};
  EXPECT_EQ(summary.impact.other, expected);
  values["other_impact"] = ": no label";
  EXPECT_TRUE(rejected("resolve:7", values).field_errors.contains("other_impact"));
}

TEST(TriageForm, KeepsTheAnsweredQuestionsOnly) {
  const TriageCommand triage = std::get<TriageCommand>(submitted(
      "triage:7", {{"line_stopped", "yes"}, {"area", " packing "}, {"impact", ""}, {"x", "y"}}));
  const std::map<std::string, std::string> expected = {{"line_stopped", "yes"},
                                                       {"area", "packing"}};
  EXPECT_EQ(triage.answers, expected);
}

TEST(TriageForm, NeedsAtLeastOneAnswerAndBoundedText) {
  EXPECT_EQ(rejected("triage:7", {{"impact", "  "}}).field_errors.at("impact"),
            "answer at least one question");
  const CommandError huge = rejected(
      "triage:7", {{"impact", std::string(kMaxSummaryFieldBytes + 1, 'i')}, {"area", "bad \xFF"}});
  EXPECT_TRUE(huge.field_errors.contains("impact"));
  EXPECT_TRUE(huge.field_errors.contains("area"));
}

TEST(TriageForm, SelectAnswersMustBeOneOfTheOfferedChoices) {
  const CommandError error =
      rejected("triage:7", {{"line_stopped", "perhaps"}, {"safety_risk", "<script>"}});
  EXPECT_TRUE(error.field_errors.contains("line_stopped"));
  EXPECT_TRUE(error.field_errors.contains("safety_risk"));
}

TEST(FollowUpForm, ValidSubmission) {
  const FollowUpCommand command =
      follow_up_of(submitted("followup:7", {{"description", " Replace guard \n"},
                                            {"assignee", "<@U42|cy>"},
                                            {"due", "2026-12-01T14:30"}}));
  EXPECT_EQ(command.action, FollowUpCommand::Action::add);
  EXPECT_EQ(command.description, "Replace guard");
  EXPECT_EQ(command.assignee, (Actor{"U42", "cy"}));
  EXPECT_EQ(command.due, due_at(utc(2026, 12, 1, 14, 30)));
  const FollowUpCommand bare = follow_up_of(submitted("followup:7", {{"description", "x"}}));
  EXPECT_EQ(bare.assignee, std::nullopt);
  EXPECT_EQ(bare.due, std::nullopt);
}

TEST(FollowUpForm, ReportsEveryProblemAtOnce) {
  const CommandError error =
      rejected("followup:7", {{"description", ""}, {"assignee", "<@>"}, {"due", "2026-02-30"}});
  EXPECT_EQ(error.field_errors.size(), 3U);
  EXPECT_EQ(error.field_errors.at("description"), "required");
  EXPECT_TRUE(contains(error.field_errors.at("assignee"), "names nobody"));
  EXPECT_TRUE(contains(error.field_errors.at("due"), "+3d"));
  const CommandError long_text = rejected("followup:7", {{"description", std::string(4001, 'd')}});
  EXPECT_TRUE(contains(long_text.field_errors.at("description"), "4000"));
}

TEST(FollowUpForm, MeAsTheOwnerIsTheCaller) {
  const FollowUpCommand command =
      follow_up_of(submitted("followup:7", {{"description", "x"}, {"assignee", "me"}}));
  EXPECT_TRUE(command.assignee.has_value() || command.assign_to_caller);
}

TEST(Forms, UnknownOrMalformedFormIdsAreRefused) {
  for (const std::string& form :
       {std::string("escalate:7"), std::string("resolve"), std::string("resolve:abc"),
        std::string("triage:0"), std::string(""), std::string("followup:-2"),
        std::string(10'000, 'f') + ":1"}) {
    auto result = submit(form, summary_values());
    ASSERT_TRUE(std::holds_alternative<CommandError>(result)) << form.substr(0, 40);
    const auto& error = std::get<CommandError>(result);
    EXPECT_TRUE(contains(error.problem, "unknown form")) << error.problem.substr(0, 200);
    EXPECT_LT(error.problem.size(), 120U);
  }
}

}  // namespace
}  // namespace haveri::core

namespace haveri::core {
namespace {

TEST(ParseSearch, KeepsTheTextAsTypedForTheStore) {
  EXPECT_EQ(parsed("/incident search pump"), Command{SearchCommand{"pump"}});
  EXPECT_EQ(parsed("search \"conveyor belt\" OR motor*"),
            Command{SearchCommand{"\"conveyor belt\" OR motor*"}});
  EXPECT_EQ(parsed("find  line   2"), Command{SearchCommand{"line   2"}});
}

TEST(ParseSearch, NothingToLookForOrTooMuchIsRefusedWithUsage) {
  const CommandError empty = failed("/incident search");
  EXPECT_NE(empty.problem.find("something to look for"), std::string::npos);
  EXPECT_EQ(empty.usage, "/incident search <words>");
  const CommandError huge = failed("search " + std::string(kMaxSearchBytes + 1, 'x'));
  EXPECT_NE(huge.problem.find("limited to 500 bytes"), std::string::npos);
  EXPECT_EQ(command_usage("search"), "/incident search <words>");
  EXPECT_NE(command_help("search").find("best match first"), std::string::npos);
  EXPECT_NE(command_help("").find("/incident search <words>"), std::string::npos);
}

}  // namespace
}  // namespace haveri::core
