#include <gtest/gtest.h>

// TODO(issue 7): tests in progress.
TEST(Placeholderpolicy, Builds) {
  EXPECT_TRUE(true);
}
