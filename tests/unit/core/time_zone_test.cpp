#include <gtest/gtest.h>

// TODO(issue 7): tests in progress.
TEST(Placeholdertimezone, Builds) {
  EXPECT_TRUE(true);
}
