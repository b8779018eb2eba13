// The install layout and the Debian package, from the build directory the tests run in:
// `cmake --install` into a temporary root (DESTDIR) with the prefix /usr, then what an
// operator and systemd would do with it there: haverid --check-config on the installed
// configuration, `systemd-analyze verify` on the installed unit, sysusers.d and
// tmpfiles.d applied to the root; and `cpack -G DEB` with dpkg-deb looking inside.
// Nothing is rebuilt: the targets they install are dependencies of this test binary.
#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/daemon_process.hpp"

namespace {

namespace fs = std::filesystem;
using haveri::testing::build_dir;
using haveri::testing::read_file;
using haveri::testing::run_program;
using haveri::testing::TempDir;
using haveri::testing::write_file;
using ::testing::HasSubstr;
using ::testing::Not;

// A program from $PATH (the tests start programs by absolute path).
fs::path program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  ADD_FAILURE() << name << " is not installed (scripts/setup installs it)";
  return fs::path("/nonexistent") / name;
}

unsigned mode_of(const fs::path& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    return 0;
  }
  return status.st_mode & 07777U;
}

struct Owner {
  unsigned uid = 0;
  unsigned gid = 0;
};
Owner owner_of(const fs::path& path) {
  struct stat status {};
  ::stat(path.c_str(), &status);
  return Owner{status.st_uid, status.st_gid};
}

// The numeric id of `name` in a passwd or group file.
std::optional<unsigned> id_in(const fs::path& file, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(name + ":")) {
      std::vector<std::string> fields;
      std::size_t start = 0;
      while (start <= line.size()) {
        const std::size_t end = std::min(line.find(':', start), line.size());
        fields.push_back(line.substr(start, end - start));
        start = end + 1;
      }
      if (fields.size() > 2) {
        return static_cast<unsigned>(std::stoul(fields[2]));
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A temporary root with the build installed into it as `cmake --install` would for a
// system install.
class InstalledTree : public ::testing::Test {
 protected:
  void SetUp() override { install("/usr"); }

  void install(const std::string& prefix) {
    root_ = scratch_.path() / "root";
    auto installed = run_program(
        HAVERI_TEST_CMAKE, {"--install", build_dir().string(), "--prefix", prefix}, scratch_.path(),
        std::nullopt, {"DESTDIR=" + root_.string()}, std::chrono::seconds(120));
    ASSERT_EQ(installed.exit_code, 0) << installed.output;
  }

  // The installed unit with its binary paths pointing into the root, where they exist:
  // systemd-analyze checks that every command it names is executable.
  fs::path unit_for_verify() {
    std::string unit = read_file(root_ / "usr/lib/systemd/system/haverid.service");
    unit = std::regex_replace(unit, std::regex("/usr/bin/haverid"),
                              (root_ / "usr/bin/haverid").string());
    fs::path copy = scratch_.path() / "verify" / "haverid.service";
    write_file(copy, unit);
    return copy;
  }

  TempDir scratch_;
  fs::path root_;
};

TEST_F(InstalledTree, PutsEachFileInItsPlaceWithItsMode) {
  const std::vector<std::pair<std::string, unsigned>> expected = {
      {"usr/bin/haverid", 0755},
      {"usr/bin/haverictl", 0755},
      // Debian installs shared objects without the execute bit; dlopen() needs none.
      {"usr/lib/haveri/plugins/libhaveri_local.so", 0644},
      {"usr/lib/haveri/plugins/libhaveri_slack.so", 0644},
      {"usr/lib/haveri/plugins/libhaveri_teams.so", 0644},
      {"usr/lib/systemd/system/haverid.service", 0644},
      {"usr/lib/sysusers.d/haveri.conf", 0644},
      {"usr/lib/tmpfiles.d/haveri.conf", 0644},
      {"etc/haveri", 0750},
      {"etc/haveri/haveri.yaml", 0644},
      {"etc/haveri/directory.yaml", 0644},
      {"etc/haveri/policies/plant-a.yaml", 0644},
      {"etc/haveri/policies/tests/plant-a.test.yaml", 0644},
      {"usr/share/doc/haveri/README.md", 0644},
      {"usr/share/doc/haveri/configuration.md", 0644},
      {"usr/share/doc/haveri/examples/config.example.yaml", 0644},
  };
  for (const auto& [path, mode] : expected) {
    EXPECT_TRUE(fs::exists(root_ / path)) << path << " is not installed";
    EXPECT_EQ(mode_of(root_ / path), mode)
        << path << ": mode " << std::oct << mode_of(root_ / path);
  }
  // Only the real plugins: the test plugins stay in the build tree.
  EXPECT_THAT(
      files_under(root_ / "usr/lib/haveri/plugins"),
      ::testing::ElementsAre("libhaveri_local.so", "libhaveri_slack.so", "libhaveri_teams.so"));
  // /etc stays /etc with the prefix /usr.
  EXPECT_FALSE(fs::exists(root_ / "usr/etc"));
  EXPECT_FALSE(fs::exists(root_ / "usr/local"));
  // The shipped policies are the repository's, and they are what the config names.
  EXPECT_EQ(read_file(root_ / "etc/haveri/policies/plant-a.yaml"),
            read_file(haveri::testing::source_dir() / "policies/plant-a.yaml"));
  const std::string config = read_file(root_ / "etc/haveri/haveri.yaml");
  EXPECT_THAT(config, HasSubstr("path: /var/lib/haveri/haveri.db"));
  EXPECT_THAT(config, HasSubstr("token_file: ${CREDENTIALS_DIRECTORY}/api-token"));
  EXPECT_THAT(config, HasSubstr("${HAVERI_PLUGIN_DIR:-/usr/lib/haveri/plugins}"));
}

TEST_F(InstalledTree, InstalledConfigurationPassesCheckConfig) {
  // What systemd would hand it: the API token credential.
  write_file(scratch_.path() / "credentials" / "api-token", "fake-api-token-not-a-secret\n");
  auto checked =
      run_program(root_ / "usr/bin/haverid",
                  {"--check-config", "--config", (root_ / "etc/haveri/haveri.yaml").string()},
                  scratch_.path(), std::nullopt,
                  {"HAVERI_PLUGIN_DIR=" + (root_ / "usr/lib/haveri/plugins").string(),
                   "CREDENTIALS_DIRECTORY=" + (scratch_.path() / "credentials").string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  EXPECT_THAT(checked.output, HasSubstr("configuration OK (1 plugin instance"));
  EXPECT_THAT(checked.output, Not(HasSubstr("fake-api-token-not-a-secret")));
  // Nothing is written by a check: the store path is left alone.
  EXPECT_FALSE(fs::exists(root_ / "var/lib/haveri"));

  // Without the credential it refuses, naming the key and the file.
  auto missing =
      run_program(root_ / "usr/bin/haverid",
                  {"--check-config", "--config", (root_ / "etc/haveri/haveri.yaml").string()},
                  scratch_.path(), std::nullopt,
                  {"HAVERI_PLUGIN_DIR=" + (root_ / "usr/lib/haveri/plugins").string(),
                   "CREDENTIALS_DIRECTORY=" + (scratch_.path() / "no-credentials").string()});
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("api.token_file"));
}

TEST_F(InstalledTree, UnitPassesSystemdAnalyzeVerifyWithoutAWarning) {
  const fs::path unit = unit_for_verify();
  auto verified =
      run_program(program("systemd-analyze"), {"verify", unit.string()}, scratch_.path());
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  // systemd-analyze exits 0 on an unknown key or a bad value too, and only says so.
  EXPECT_EQ(verified.output, "") << "systemd-analyze verify warned about the unit";

  // The hardening stays: `systemd-analyze security` rates the unit at 1.5 of 10;
  // dropping a protection pushes it over 2.0.
  auto rated =
      run_program(program("systemd-analyze"),
                  {"security", "--offline=yes", "--threshold=20", unit.string()}, scratch_.path());
  EXPECT_EQ(rated.exit_code, 0) << rated.output;
}

TEST_F(InstalledTree, AWarningFromSystemdAnalyzeWouldFailTheCheck) {
  // The check above would notice: a misspelt key is only a warning to systemd.
  const fs::path unit = unit_for_verify();
  write_file(unit, read_file(unit) + "[Service]\nProtectSytem=strict\n");
  auto verified =
      run_program(program("systemd-analyze"), {"verify", unit.string()}, scratch_.path());
  EXPECT_EQ(verified.exit_code, 0);
  EXPECT_THAT(verified.output, HasSubstr("ProtectSytem"));
}

TEST_F(InstalledTree, SysusersAndTmpfilesCreateTheAccountAndItsDirectories) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "systemd-sysusers and systemd-tmpfiles --root need root to set owners";
  }
  auto users = run_program(program("systemd-sysusers"), {"--root=" + root_.string(), "haveri.conf"},
                           scratch_.path());
  ASSERT_EQ(users.exit_code, 0) << users.output;
  const auto uid = id_in(root_ / "etc/passwd", "haveri");
  const auto gid = id_in(root_ / "etc/group", "haveri");
  ASSERT_TRUE(uid.has_value()) << read_file(root_ / "etc/passwd");
  ASSERT_TRUE(gid.has_value());
  EXPECT_THAT(read_file(root_ / "etc/passwd"), HasSubstr(":/var/lib/haveri:"));

  auto created =
      run_program(program("systemd-tmpfiles"),
                  {"--root=" + root_.string(), "--create", "haveri.conf"}, scratch_.path());
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_EQ(mode_of(root_ / "var/lib/haveri"), 0750U);
  EXPECT_EQ(owner_of(root_ / "var/lib/haveri").uid, *uid);
  EXPECT_EQ(owner_of(root_ / "var/lib/haveri").gid, *gid);
  // The service reads its configuration through the group; nobody else lists it.
  EXPECT_EQ(mode_of(root_ / "etc/haveri"), 0750U);
  EXPECT_EQ(owner_of(root_ / "etc/haveri").uid, 0U);
  EXPECT_EQ(owner_of(root_ / "etc/haveri").gid, *gid);
}

TEST_F(InstalledTree, NoInstalledCodeNeedsWritableExecutableMemory) {
  // MemoryDenyWriteExecute=yes in the unit holds for dlopen()ed plugins only if none
  // has text relocations or asks for an executable stack.
  for (const std::string binary :
       {"usr/bin/haverid", "usr/lib/haveri/plugins/libhaveri_local.so",
        "usr/lib/haveri/plugins/libhaveri_slack.so", "usr/lib/haveri/plugins/libhaveri_teams.so"}) {
    auto dynamic =
        run_program(program("readelf"), {"--dynamic", (root_ / binary).string()}, scratch_.path());
    ASSERT_EQ(dynamic.exit_code, 0) << dynamic.output;
    EXPECT_THAT(dynamic.output, Not(HasSubstr("TEXTREL"))) << binary;
    auto segments =
        run_program(program("readelf"), {"--program-headers", "--wide", (root_ / binary).string()},
                    scratch_.path());
    ASSERT_EQ(segments.exit_code, 0) << segments.output;
    std::smatch stack;
    ASSERT_TRUE(std::regex_search(segments.output, stack, std::regex(R"(GNU_STACK.*\s(RWE?)\s)")))
        << binary << ":\n"
        << segments.output;
    EXPECT_EQ(stack[1], "RW") << binary << " asks for an executable stack";
  }
}

TEST_F(InstalledTree, AnotherPrefixGetsItsOwnPaths) {
  install("/opt/haveri");
  const fs::path etc = root_ / "opt/haveri/etc/haveri";
  EXPECT_TRUE(fs::exists(root_ / "opt/haveri/bin/haverid"));
  EXPECT_TRUE(fs::exists(etc / "haveri.yaml"));
  EXPECT_TRUE(fs::exists(root_ / "opt/haveri/lib/systemd/system/haverid.service"));
  const std::string unit = read_file(root_ / "opt/haveri/lib/systemd/system/haverid.service");
  EXPECT_THAT(unit, HasSubstr("ExecStart=/opt/haveri/bin/haverid --config "
                              "/opt/haveri/etc/haveri/haveri.yaml"));
  EXPECT_THAT(unit, Not(HasSubstr("/usr/bin/haverid")));
  EXPECT_THAT(read_file(etc / "haveri.yaml"),
              HasSubstr("${HAVERI_PLUGIN_DIR:-/opt/haveri/lib/haveri/plugins}"));
}

// --- the Debian package ---

std::string control_field(const std::string& control, const std::string& name) {
  std::smatch match;
  if (std::regex_search(control, match, std::regex("(^|\n) ?" + name + ": ([^\n]*)"))) {
    return match[2];
  }
  return "";
}

TEST(DebianPackage, HoldsTheLayoutTheConffilesAndTheMaintainerScripts) {
  TempDir scratch;
  auto packed = run_program(HAVERI_TEST_CPACK,
                            {"-G", "DEB", "-B", (scratch.path() / "out").string(), "--config",
                             (build_dir() / "CPackConfig.cmake").string()},
                            scratch.path(), std::nullopt, {}, std::chrono::seconds(280));
  ASSERT_EQ(packed.exit_code, 0) << packed.output;
  // haveri_<version>_<dpkg architecture>.deb, alone in the output directory.
  std::vector<fs::path> debs;
  for (const auto& entry : fs::directory_iterator(scratch.path() / "out")) {
    if (entry.path().extension() == ".deb") {
      debs.push_back(entry.path());
    }
  }
  ASSERT_EQ(debs.size(), 1U) << packed.output;
  const fs::path deb = debs.front();
  EXPECT_TRUE(std::regex_match(deb.filename().string(),
                               std::regex("haveri_" HAVERI_TEST_VERSION "_[a-z0-9]+\\.deb")))
      << deb;
  ASSERT_TRUE(fs::exists(deb)) << packed.output;

  auto info = run_program(program("dpkg-deb"), {"--info", deb.string()}, scratch.path());
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_EQ(control_field(info.output, "Package"), "haveri");
  EXPECT_EQ(control_field(info.output, "Version"), HAVERI_TEST_VERSION);
  const std::string depends = control_field(info.output, "Depends");
  EXPECT_THAT(depends, HasSubstr("systemd (>= 250)"));
  // dpkg-shlibdeps found the libraries the binaries link.
  EXPECT_THAT(depends, HasSubstr("libc6"));
  EXPECT_THAT(depends, HasSubstr("libsqlite3"));
  EXPECT_THAT(depends, HasSubstr("libyaml-cpp"));

  auto contents = run_program(program("dpkg-deb"), {"--contents", deb.string()}, scratch.path());
  ASSERT_EQ(contents.exit_code, 0) << contents.output;
  for (const char* path :
       {"./usr/bin/haverid", "./usr/bin/haverictl", "./usr/lib/haveri/plugins/libhaveri_local.so",
        "./usr/lib/haveri/plugins/libhaveri_slack.so",
        "./usr/lib/haveri/plugins/libhaveri_teams.so", "./usr/lib/systemd/system/haverid.service",
        "./usr/lib/sysusers.d/haveri.conf", "./usr/lib/tmpfiles.d/haveri.conf",
        "./etc/haveri/haveri.yaml", "./etc/haveri/directory.yaml",
        "./etc/haveri/policies/plant-a.yaml", "./usr/share/doc/haveri/README.md"}) {
    EXPECT_THAT(contents.output, HasSubstr(std::string(" ") + path + "\n")) << path;
  }
  EXPECT_THAT(contents.output, HasSubstr("root/root"));
  EXPECT_THAT(contents.output, Not(HasSubstr("./usr/local")));
  EXPECT_THAT(contents.output, Not(HasSubstr("abi_")));  // no test plugin
  EXPECT_THAT(contents.output, Not(HasSubstr("test_stall")));

  const fs::path control = scratch.path() / "control";
  auto extracted = run_program(program("dpkg-deb"), {"--control", deb.string(), control.string()},
                               scratch.path());
  ASSERT_EQ(extracted.exit_code, 0) << extracted.output;
  // Every file under /etc is a conffile: dpkg keeps the operator's edits on upgrade.
  std::set<std::string> etc_files;
  std::istringstream listing(contents.output);
  for (std::string line; std::getline(listing, line);) {
    const auto at = line.find(" ./etc/");
    if (at != std::string::npos && line.front() == '-') {
      etc_files.insert(line.substr(at + 2));
    }
  }
  std::set<std::string> conffiles;
  std::istringstream listed(read_file(control / "conffiles"));
  for (std::string line; std::getline(listed, line);) {
    conffiles.insert(line);
  }
  EXPECT_FALSE(etc_files.empty());
  EXPECT_EQ(conffiles, etc_files);
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    EXPECT_EQ(mode_of(control / script), 0755U) << script;
    auto syntax = run_program("/bin/sh", {"-n", (control / script).string()}, scratch.path());
    EXPECT_EQ(syntax.exit_code, 0) << script << ": " << syntax.output;
  }
  // The package never starts or enables the service by itself (comments may say so).
  std::string postinst_commands;
  std::istringstream postinst(read_file(control / "postinst"));
  for (std::string line; std::getline(postinst, line);) {
    const auto first = line.find_first_not_of(' ');
    if (first != std::string::npos && line[first] != '#') {
      postinst_commands += line + "\n";
    }
  }
  EXPECT_THAT(postinst_commands, HasSubstr("systemd-sysusers"));
  EXPECT_THAT(postinst_commands, Not(HasSubstr("enable")));
  EXPECT_THAT(postinst_commands, Not(::testing::ContainsRegex("systemctl.* (re)?start")));

  if (::geteuid() != 0) {
    GTEST_SKIP() << "running the maintainer scripts on a root needs root (owners)";
  }
  // The maintainer scripts on the unpacked package, as dpkg runs them for DPKG_ROOT.
  const fs::path root = scratch.path() / "root";
  auto unpacked =
      run_program(program("dpkg-deb"), {"--extract", deb.string(), root.string()}, scratch.path());
  ASSERT_EQ(unpacked.exit_code, 0) << unpacked.output;
  const std::vector<std::string> in_root = {"DPKG_ROOT=" + root.string()};
  auto configured = run_program("/bin/sh", {(control / "postinst").string(), "configure"},
                                scratch.path(), std::nullopt, in_root);
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  ASSERT_TRUE(id_in(root / "etc/passwd", "haveri").has_value());
  EXPECT_EQ(mode_of(root / "var/lib/haveri"), 0750U);
  EXPECT_EQ(owner_of(root / "var/lib/haveri").uid, *id_in(root / "etc/passwd", "haveri"));
  EXPECT_EQ(owner_of(root / "etc/haveri").gid, *id_in(root / "etc/group", "haveri"));
  // Configuring again (an upgrade) changes nothing and does not fail.
  auto again = run_program("/bin/sh", {(control / "postinst").string(), "configure", "0.0.9"},
                           scratch.path(), std::nullopt, in_root);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  auto removed = run_program("/bin/sh", {(control / "prerm").string(), "remove"}, scratch.path(),
                             std::nullopt, in_root);
  EXPECT_EQ(removed.exit_code, 0) << removed.output;
  auto purged = run_program("/bin/sh", {(control / "postrm").string(), "purge"}, scratch.path(),
                            std::nullopt, in_root);
  EXPECT_EQ(purged.exit_code, 0) << purged.output;
  // The incident store survives a purge.
  EXPECT_TRUE(fs::exists(root / "var/lib/haveri"));
}

}  // namespace
