// daemon/src/logging.cpp: journald detection from JOURNAL_STREAM, the line layouts, and
// the key=value context that can neither be misread nor forge a line.
#include "logging.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/daemon_process.hpp"

namespace {

using haveri::daemon::is_journal_stream;
using haveri::daemon::LogFields;
using haveri::daemon::LogStyle;
using haveri::daemon::make_log_formatter;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

// An open file and the JOURNAL_STREAM value systemd would give for it.
class OpenFile {
 public:
  explicit OpenFile(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) {}
  ~OpenFile() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  int fd() const { return fd_; }
  std::string journal_stream() const {
    struct stat status {};
    EXPECT_EQ(::fstat(fd_, &status), 0);
    return std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
  }

 private:
  int fd_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

// Logs one message at each level through a formatter of `style`; returns the lines.
std::vector<std::string> log_each_level(LogStyle style, const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(make_log_formatter(style));
  logger.set_level(spdlog::level::trace);
  logger.trace("{}", message);
  logger.debug("{}", message);
  logger.info("{}", message);
  logger.warn("{}", message);
  logger.error("{}", message);
  logger.critical("{}", message);
  return lines_of(out.str());
}

TEST(JournalStream, MatchesOnlyTheDeviceAndInodeOfTheDescriptor) {
  haveri::testing::TempDir dir;
  const OpenFile ours(dir.path() / "stderr");
  const OpenFile other(dir.path() / "elsewhere");
  EXPECT_TRUE(is_journal_stream(ours.journal_stream().c_str(), ours.fd()));
  // The JOURNAL_STREAM of a parent whose stderr was the journal, inherited by a
  // program whose stderr is another file: not ours.
  EXPECT_FALSE(is_journal_stream(other.journal_stream().c_str(), ours.fd()));
  EXPECT_FALSE(is_journal_stream(nullptr, ours.fd()));
}

TEST(JournalStream, AnInheritedValueDoesNotMatchAPipe) {
  haveri::testing::TempDir dir;
  const OpenFile journal(dir.path() / "journal");
  int pipe_fds[2] = {-1, -1};
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_FALSE(is_journal_stream(journal.journal_stream().c_str(), pipe_fds[1]));
  // The pipe's own device and inode do match it, as they would if systemd had made it.
  struct stat status {};
  ASSERT_EQ(::fstat(pipe_fds[1], &status), 0);
  const std::string pipe_stream =
      std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
  EXPECT_TRUE(is_journal_stream(pipe_stream.c_str(), pipe_fds[1]));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(JournalStream, MalformedValuesAndClosedDescriptorsAreNotTheJournal) {
  haveri::testing::TempDir dir;
  const OpenFile file(dir.path() / "stderr");
  const std::string good = file.journal_stream();
  const std::string device = good.substr(0, good.find(':'));
  const std::string inode = good.substr(good.find(':') + 1);
  for (const std::string& value :
       {std::string(), std::string(":"), device, device + ":", ":" + inode, good + ":1", good + "x",
        " " + good, device + ":-" + inode, "-" + good, device + ":0x1", device + ":" + inode + "0",
        std::string("99999999999999999999999:1")}) {
    EXPECT_FALSE(is_journal_stream(value.c_str(), file.fd())) << "\"" << value << "\"";
  }
  EXPECT_FALSE(is_journal_stream(good.c_str(), -1));
}

TEST(LogFormat, JournalLinesCarryTheSdDaemonPriorityAndNoTimestamp) {
  const auto lines = log_each_level(LogStyle::journal, "pump 3 down");
  ASSERT_EQ(lines.size(), 6U);
  const std::vector<std::string> expected = {"<7>pump 3 down", "<7>pump 3 down", "<6>pump 3 down",
                                             "<4>pump 3 down", "<3>pump 3 down", "<2>pump 3 down"};
  EXPECT_EQ(lines, expected);
}

TEST(LogFormat, PlainLinesCarryATimestampAndTheLevelAndNoPriority) {
  const auto lines = log_each_level(LogStyle::plain, "pump 3 down");
  ASSERT_EQ(lines.size(), 6U);
  const std::vector<std::string> levels = {"trace",   "debug", "info",
                                           "warning", "error", "critical"};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                                       "[0-9]{3} " +
                                       levels[i] + " +pump 3 down"));
    EXPECT_THAT(lines[i], Not(StartsWith("<")));
  }
}

TEST(LogFormat, AMessageWithLineBreaksStaysOneLineInEitherStyle) {
  for (const LogStyle style : {LogStyle::plain, LogStyle::journal}) {
    const auto lines =
        log_each_level(style, "refused\n<3>2026-01-01T00:00:00.000 error forged\r\x01 end\ttab");
    ASSERT_EQ(lines.size(), 6U);
    for (const auto& line : lines) {
      EXPECT_THAT(line, HasSubstr("refused\\n<3>2026-01-01T00:00:00.000 error forged\\r\\x01 "
                                  "end\ttab"));
    }
  }
}

TEST(LogFields, AreWrittenInAFixedOrderWhateverTheOrderOfTheCalls) {
  const std::string text = LogFields()
                               .add("operation", "post_message")
                               .request("r-42")
                               .incident(7)
                               .instance("slack-main")
                               .add("attempts", 12)
                               .text();
  EXPECT_EQ(text,
            " instance=slack-main incident=INC-7 request=r-42 operation=post_message attempts=12");
  EXPECT_EQ(LogFields().incident(7).instance("slack-main").text(),
            LogFields().instance("slack-main").incident(7).text());
  EXPECT_EQ(LogFields().text(), "");
  EXPECT_TRUE(LogFields().empty());
  // Setting a known key again replaces it.
  EXPECT_EQ(LogFields().incident(1).incident(2).text(), " incident=INC-2");
}

TEST(LogFields, FormatAfterAMessageThroughFmt) {
  EXPECT_EQ(
      fmt::format("outbox: giving up after {} attempts{}", 12,
                  LogFields().incident(7).instance("slack-main").add("operation", "post_message")),
      "outbox: giving up after 12 attempts instance=slack-main incident=INC-7 "
      "operation=post_message");
  EXPECT_EQ(fmt::format("stopped{}", LogFields()), "stopped");
}

TEST(LogFields, ValuesThatCouldBeMisreadAreQuotedAndEscaped) {
  EXPECT_EQ(LogFields().add("user", "Alice Example").text(), " user=\"Alice Example\"");
  EXPECT_EQ(LogFields().add("title", "say \"hi\"").text(), " title=\"say \\\"hi\\\"\"");
  EXPECT_EQ(LogFields().add("title", "a=b").text(), " title=\"a=b\"");
  EXPECT_EQ(LogFields().add("path", "C:\\x").text(), " path=\"C:\\\\x\"");
  EXPECT_EQ(LogFields().add("empty", "").text(), " empty=\"\"");
  EXPECT_EQ(LogFields().add("tab", "a\tb").text(), " tab=\"a\\tb\"");
  EXPECT_EQ(LogFields().add("bell", std::string("a\x07z")).text(), " bell=\"a\\x07z\"");
  EXPECT_EQ(LogFields().add("unicode", "Pörssi").text(), " unicode=Pörssi");
  // Keys come from the code; anything but [a-z0-9_] is replaced all the same.
  EXPECT_EQ(LogFields().add("bad key=\n", "v").text(), " bad_key__=v");
}

TEST(LogFields, AValueCannotForgeANewLogLine) {
  const std::string forged =
      "x\n2026-11-24T18:00:00.000 error  reload refused instance=admin\r\n<2>root";
  const std::string text = LogFields().instance(forged).add("note", forged).text();
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_THAT(text, StartsWith(" instance=\"x\\n2026-11-24T18:00:00.000 error  reload refused "
                               "instance=admin\\r\\n<2>root\""));

  // And through a logger: exactly one line, the forged text inside the quotes.
  std::ostringstream out;
  spdlog::logger logger("test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  logger.set_formatter(make_log_formatter(LogStyle::journal));
  logger.info("a plugin said hello{}", LogFields().instance(forged));
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1U) << out.str();
  EXPECT_THAT(lines[0], StartsWith("<6>a plugin said hello instance=\"x\\n2026"));
}

TEST(LogLevel, OnlyTheConfiguredNamesAreAccepted) {
  for (const auto name : haveri::daemon::kLogLevelNames) {
    EXPECT_TRUE(haveri::daemon::is_log_level(name)) << name;
  }
  for (const char* name : {"", "warning", "err", "INFO", "loud", "info "}) {
    EXPECT_FALSE(haveri::daemon::is_log_level(name)) << name;
  }
}

TEST(LogLevel, SetAtRunTimeAndUnknownNamesChangeNothing) {
  auto previous = spdlog::default_logger();
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  ASSERT_TRUE(haveri::daemon::set_log_level("info"));
  spdlog::debug("hidden");
  ASSERT_TRUE(haveri::daemon::set_log_level("debug"));
  EXPECT_EQ(haveri::daemon::log_level(), "debug");
  spdlog::debug("shown");
  EXPECT_FALSE(haveri::daemon::set_log_level("verbose"));
  EXPECT_EQ(haveri::daemon::log_level(), "debug");
  ASSERT_TRUE(haveri::daemon::set_log_level("off"));
  spdlog::critical("silenced");
  EXPECT_EQ(haveri::daemon::log_level(), "off");
  spdlog::set_default_logger(previous);
  EXPECT_THAT(out.str(), Not(HasSubstr("hidden")));
  EXPECT_THAT(out.str(), HasSubstr("shown"));
  EXPECT_THAT(out.str(), Not(HasSubstr("silenced")));
}

}  // namespace
