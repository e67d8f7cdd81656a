#include "engine/phase_timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace tessera {
namespace {

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(PhaseTimerTest, MarksAreContiguousAndKeepFirstOrder) {
  PhaseTimer t;
  SleepMs(20);
  t.Mark("a");
  SleepMs(10);
  t.Mark("b");
  SleepMs(10);
  t.Mark("a");  // adds to the first "a"
  ASSERT_EQ(t.phases().size(), 2u);
  EXPECT_EQ(t.phases()[0].name, "a");
  EXPECT_EQ(t.phases()[1].name, "b");
  EXPECT_GE(t.Seconds("a"), 0.030);
  EXPECT_GE(t.Seconds("b"), 0.010);
  EXPECT_LT(t.Seconds("b"), t.Seconds("a"));
  EXPECT_DOUBLE_EQ(t.TotalSeconds(), t.Seconds("a") + t.Seconds("b"));
  EXPECT_EQ(t.Seconds("never"), 0);
}

TEST(PhaseTimerTest, AddBooksWithoutMovingTheMarkAndNeverNegative) {
  PhaseTimer t;
  t.Add("process", 1.5);
  t.Add("clock skew", -0.25);
  SleepMs(10);
  t.Mark("next");
  EXPECT_EQ(t.Seconds("process"), 1.5);
  EXPECT_EQ(t.Seconds("clock skew"), 0);
  EXPECT_GE(t.Seconds("next"), 0.010);
  EXPECT_LT(t.Seconds("next"), 1.0);
}

TEST(PhaseTimerTest, MarkNestedBooksInnerPhasesAndTheRest) {
  PhaseTimer t;
  SleepMs(30);
  t.MarkNested("rest", {{"inner1", 0.010}, {"inner2", 0.005}});
  ASSERT_EQ(t.phases().size(), 3u);
  EXPECT_EQ(t.phases()[0].name, "inner1");
  EXPECT_EQ(t.phases()[1].name, "inner2");
  EXPECT_EQ(t.phases()[2].name, "rest");
  EXPECT_GE(t.Seconds("rest"), 0.030 - 0.015);
  // The total is the elapsed time: inner phases are not counted twice.
  EXPECT_GE(t.TotalSeconds(), 0.030);
  EXPECT_LT(t.TotalSeconds(), 0.030 + 0.5);
  // Inner phases longer than the elapsed time leave nothing (not a negative) for the rest.
  PhaseTimer u;
  u.MarkNested("rest", {{"long", 10.0}});
  EXPECT_EQ(u.Seconds("rest"), 0);
  EXPECT_EQ(u.Seconds("long"), 10.0);
}

}  // namespace
}  // namespace tessera
