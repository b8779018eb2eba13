#include <gtest/gtest.h>

// TODO(issue 7): tests in progress.
TEST(Placeholdertimerwheel, Builds) {
  EXPECT_TRUE(true);
}
