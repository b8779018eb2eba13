#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include <haveri/core/commands.hpp>

namespace haveri::core {
namespace {

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

TEST(ParseDeclare, ALoneSeverityWordIsTheTitle) {
  EXPECT_EQ(parsed("declare sev1"), (Command{DeclareCommand{"sev1", std::nullopt}}));
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

TEST(ParseDeclare, NeedsATitle) {
  for (const std::string_view text :
       {"declare", "/incident declare", "declare   ", "declare \"\"", "declare \"   \" sev1"}) {
    const CommandError error = failed(text);
    EXPECT_EQ(error.problem, "declare needs a title") << text;
    EXPECT_EQ(error.usage, "/incident declare <title> [sev1|sev2|sev3]") << text;
  }
}

TEST(ParseDeclare, UnknownSeverityIsAnError) {
  const CommandError error = failed("declare Line 3 down sev9");
  EXPECT_TRUE(contains(error.problem, "unknown severity \"sev9\"")) << error.problem;
  EXPECT_TRUE(contains(error.problem, "sev1")) << error.problem;
  EXPECT_EQ(error.usage, command_usage("declare"));
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
}

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
}

TEST(ParseHelp, AHugeTopicIsShortenedBeforeItIsEchoed) {
  const auto command = parsed("help " + std::string(10'000, 'x'));
  EXPECT_LT(std::get<HelpCommand>(command).topic.size(), 100U);
}

TEST(ParseCommand, UnknownVerbNamesItAndListsTheCommands) {
  const CommandError error = failed("/incident resolve now");
  EXPECT_EQ(error.problem, "unknown command \"resolve\"");
  EXPECT_TRUE(contains(error.usage, "declare")) << error.usage;
  EXPECT_TRUE(contains(error.usage, "status")) << error.usage;
  EXPECT_TRUE(contains(error.usage, "help")) << error.usage;
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

TEST(ParseCommand, NulBytesDoNotConfuseTheParser) {
  const std::string text("declare a\0b", 11);
  EXPECT_EQ(std::get<DeclareCommand>(parsed(text)).title, std::string("a\0b", 3));
}

TEST(CommandUsage, EachCommand) {
  EXPECT_EQ(command_usage("declare"), "/incident declare <title> [sev1|sev2|sev3]");
  EXPECT_EQ(command_usage("status"),
            "/incident status <declared|investigating|mitigated|resolved|closed>");
  EXPECT_EQ(command_usage("help"), "/incident help [command]");
  EXPECT_EQ(command_usage("HELP"), "/incident help [command]");
  EXPECT_EQ(command_usage("resolve"), "");
  EXPECT_EQ(command_usage(""), "");
}

TEST(CommandHelp, OverviewHasOneLinePerCommand) {
  const std::string help = command_help("");
  EXPECT_TRUE(contains(help, command_usage("declare")));
  EXPECT_TRUE(contains(help, command_usage("status")));
  EXPECT_TRUE(contains(help, command_usage("help")));
  for (const char* name : {"sev", "lead", "comms", "ack", "note", "action"}) {
    EXPECT_TRUE(contains(help, command_usage(name))) << name;
  }
  EXPECT_EQ(std::count(help.begin(), help.end(), '\n'), 8);
}

TEST(CommandHelp, StatusListsTheTransitionRules) {
  const std::string help = command_help("status");
  EXPECT_TRUE(contains(help, command_usage("status")));
  EXPECT_TRUE(contains(help, "DECLARED → INVESTIGATING, MITIGATED or RESOLVED")) << help;
  EXPECT_TRUE(contains(help, "RESOLVED → CLOSED or INVESTIGATING")) << help;
  EXPECT_TRUE(contains(help, "CLOSED is final")) << help;
}

TEST(CommandHelp, DeclareAndHelpTopics) {
  EXPECT_TRUE(contains(command_help("declare"), command_usage("declare")));
  EXPECT_TRUE(contains(command_help("declare"), "SEV3"));
  EXPECT_TRUE(contains(command_help("Help"), command_usage("help")));
  EXPECT_NE(command_help("declare"), command_help(""));
}

TEST(CommandHelp, UnknownTopicSaysSoAndListsCommands) {
  const std::string help = command_help("escalate");
  EXPECT_TRUE(contains(help, "\"escalate\"")) << help;
  EXPECT_TRUE(contains(help, "declare, status, sev, lead, comms, ack, note, action, help")) << help;
}

TEST(ParseSev, EverySeverityCaseInsensitively) {
  EXPECT_EQ(parsed("/incident sev sev1"), (Command{SeverityCommand{Severity::sev1}}));
  EXPECT_EQ(parsed("sev SEV2"), (Command{SeverityCommand{Severity::sev2}}));
  EXPECT_EQ(parsed("  /INCIDENT   Sev   sEv3  "), (Command{SeverityCommand{Severity::sev3}}));
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

TEST(ParseAck, TakesNoArguments) {
  EXPECT_EQ(parsed("/incident ack"), (Command{AckCommand{}}));
  EXPECT_EQ(parsed("ACK"), (Command{AckCommand{}}));
  const CommandError error = failed("ack now please");
  EXPECT_EQ(error.usage, "/incident ack");
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

TEST(CommandUsage, EachNewCommand) {
  EXPECT_EQ(command_usage("sev"), "/incident sev <sev1|sev2|sev3>");
  EXPECT_EQ(command_usage("LEAD"), "/incident lead <@user|user id|me>");
  EXPECT_EQ(command_usage("comms"), "/incident comms <@user|user id|me>");
  EXPECT_EQ(command_usage("ack"), "/incident ack");
  EXPECT_EQ(command_usage("note"), "/incident note <text>");
  EXPECT_EQ(command_usage("Action"), "/incident action <text>");
}

TEST(CommandHelp, EachNewTopicShowsItsUsage) {
  for (const char* name : {"sev", "lead", "comms", "ack", "note", "action"}) {
    const std::string help = command_help(name);
    EXPECT_TRUE(contains(help, command_usage(name))) << name << ": " << help;
    EXPECT_FALSE(contains(help, "There is no command")) << name;
  }
  EXPECT_TRUE(contains(command_help("note"), "4000"));
  EXPECT_TRUE(contains(command_help("lead"), "`me`"));
}

TEST(ParseCommand, UnknownVerbUsageListsTheNewCommands) {
  const CommandError error = failed("escalate now");
  for (const char* part : {"sev <severity>", "lead <@user|me>", "comms <@user|me>", "ack",
                           "note <text>", "action <text>"}) {
    EXPECT_TRUE(contains(error.usage, part)) << part << ": " << error.usage;
  }
}

}  // namespace
}  // namespace haveri::core
