#include "slack/fake_slack.hpp"

#include <gtest/gtest.h>

TEST(FakeSlack, Starts) {
  haveri::fakes::FakeSlack slack;
  EXPECT_NE(slack.port(), 0);
}
