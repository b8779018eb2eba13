// daemon/src/config_changes.cpp: what a SIGHUP names as needing a restart.
#include "config_changes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using haveri::daemon::changes_needing_restart;
using haveri::daemon::Config;
using haveri::daemon::PluginInstanceConfig;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

Config running_config() {
  Config config;
  config.server.port = 8480;
  config.api.token = "fake-api-token-one";
  config.plugins.directory = "/usr/lib/haveri/plugins";
  PluginInstanceConfig slack;
  slack.name = "slack-main";
  slack.plugin = "slack";
  slack.settings = {{"bot_token", "xoxb-fake-one"}};
  config.plugins.instances.push_back(slack);
  return config;
}

TEST(ChangesNeedingRestart, NothingWhenOnlyReloadableSectionsDiffer) {
  const Config running = running_config();
  Config fresh = running_config();
  fresh.logging.level = "debug";
  fresh.policies_path = "/etc/haveri/policies";
  fresh.directory_file = "/etc/haveri/directory.yaml";
  fresh.directory.organizations.emplace_back();
  EXPECT_THAT(changes_needing_restart(running, fresh), IsEmpty());
}

TEST(ChangesNeedingRestart, EachChangedSettingIsNamedOnceWithItsValues) {
  const Config running = running_config();
  Config fresh = running_config();
  fresh.server.port = 8481;
  fresh.storage.synchronous = "normal";
  fresh.plugins.request_timeout = std::chrono::seconds(20);
  fresh.outbox.first_retry_delay = std::chrono::seconds(2);
  fresh.outbox.default_instance_per_second = 0.5;
  fresh.incidents.sla.at(0).acknowledge = std::chrono::minutes(90);
  fresh.escalation_tick = std::chrono::milliseconds(250);
  fresh.zoneinfo = "/opt/zoneinfo";
  EXPECT_THAT(
      changes_needing_restart(running, fresh),
      ElementsAre("server.port changed from 8480 to 8481: takes effect after a restart",
                  "storage.sqlite.synchronous changed from full to normal: takes effect after a "
                  "restart",
                  "plugins.request_timeout_seconds changed from 10 to 20: takes effect after a "
                  "restart",
                  "directory.zoneinfo changed from /usr/share/zoneinfo to /opt/zoneinfo: takes "
                  "effect after a restart",
                  "incidents.sla.sev1.acknowledge changed from 15m to 90m: takes effect after a "
                  "restart",
                  "outbox.first_retry_delay changed from 500ms to 2s: takes effect after a restart",
                  "outbox.default_instance_per_second changed from 20 to 0.5: takes effect after a "
                  "restart",
                  "policies.tick_ms changed from 100 to 250: takes effect after a restart"));
}

TEST(ChangesNeedingRestart, SecretsAreNamedButNeverShown) {
  const Config running = running_config();
  Config fresh = running_config();
  fresh.api.token = "fake-api-token-two";
  fresh.plugins.instances[0].settings["bot_token"] = "xoxb-fake-two";
  const auto changes = changes_needing_restart(running, fresh);
  EXPECT_THAT(changes,
              ElementsAre("api.token changed: takes effect after a restart",
                          "plugins.instances[0] (slack-main).settings changed: takes effect after "
                          "a restart"));
  for (const auto& change : changes) {
    EXPECT_THAT(change, Not(HasSubstr("fake-api-token")));
    EXPECT_THAT(change, Not(HasSubstr("xoxb")));
  }
}

TEST(ChangesNeedingRestart, InstancesAddedRemovedAndRepluggedAreNamed) {
  const Config running = running_config();
  Config fresh = running_config();
  fresh.plugins.instances[0].plugin = "teams";
  PluginInstanceConfig local;
  local.name = "local";
  local.plugin = "local";
  fresh.plugins.instances.push_back(local);
  EXPECT_THAT(changes_needing_restart(running, fresh),
              ElementsAre("plugins.instances[0] (slack-main).plugin changed from slack to teams: "
                          "takes effect after a restart",
                          "plugins.instances[1] (local) was added: takes effect after a restart"));
  EXPECT_THAT(changes_needing_restart(fresh, running),
              ElementsAre("plugins.instances[0] (slack-main).plugin changed from teams to slack: "
                          "takes effect after a restart",
                          "plugins.instances: instance local was removed: takes effect after a "
                          "restart"));
}

}  // namespace
