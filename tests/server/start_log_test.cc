#include "server/start_log.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(StartLogTest, OneLinePerPhaseThenASummaryWithTheTotal) {
  const std::vector<std::string> lines =
      StartLogLines({{"process", 0.01}, {"weights", 0.25}, {"ready", 0.00012}});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "tesserad: start phase=process seconds=0.0100");
  EXPECT_EQ(lines[1], "tesserad: start phase=weights seconds=0.2500");
  EXPECT_EQ(lines[2], "tesserad: start phase=ready seconds=0.0001");
  EXPECT_EQ(lines[3],
            "tesserad: start summary total_seconds=0.2601 process=0.0100 weights=0.2500 "
            "ready=0.0001");
}

TEST(StartLogTest, NoPhasesStillSummarizes) {
  EXPECT_EQ(StartLogLines({}),
            std::vector<std::string>{"tesserad: start summary total_seconds=0.0000"});
}

}  // namespace
}  // namespace tessera
