// PredictionError: no margin when predictions are exact, the bias plus two mean absolute
// deviations otherwise, capped, decayed so that it follows the engine, reset on demand; and the
// step-time model feeds it each step's error as predicted before the fit learned that step.
#include "scheduler/prediction_error.h"

#include <limits>

#include "gtest/gtest.h"
#include "scheduler/step_time_model.h"

namespace tessera {
namespace {

TEST(PredictionErrorTest, ExactPredictionsKeepNothingInReserve) {
  PredictionError e;
  EXPECT_EQ(e.Margin(), 0);
  for (int i = 0; i < 100; ++i) e.Observe(0.02 + 0.001 * i, 0.02 + 0.001 * i);
  EXPECT_EQ(e.Margin(), 0);
}

TEST(PredictionErrorTest, SymmetricNoiseKeepsTwoDeviations) {
  PredictionError e;
  // Steps 10% over and 10% under, alternately: no bias, a deviation of 0.1.
  for (int i = 0; i < 2000; ++i) e.Observe(0.03, i % 2 == 0 ? 0.033 : 0.027);
  EXPECT_NEAR(e.mean(), 0, 0.01);
  EXPECT_NEAR(e.deviation(), 0.1, 0.01);
  EXPECT_NEAR(e.Margin(), 0.2, 0.02);
}

TEST(PredictionErrorTest, ABiasIsKeptAsWellAndAnOverpredictionKeepsNothing) {
  PredictionError slow, fast;
  for (int i = 0; i < 2000; ++i) {
    slow.Observe(0.02, 0.021);  // 5% longer than predicted, always
    fast.Observe(0.02, 0.019);
  }
  EXPECT_NEAR(slow.Margin(), 0.05, 1e-6);
  EXPECT_EQ(fast.Margin(), 0);  // -5% bias, no spread: below 0, clamped
}

TEST(PredictionErrorTest, AStalledStepMovesTheMarginALittleASlowerEngineToTheCap) {
  PredictionError e;
  for (int i = 0; i < 200; ++i) e.Observe(0.02, 0.02);
  e.Observe(0.02, 2.0);  // 100x: a page fault, another process on the cores
  EXPECT_GT(e.Margin(), 0);
  EXPECT_LT(e.Margin(), 0.02);  // counted as 50% over, one step in about a hundred
  for (int i = 0; i < 500; ++i) e.Observe(0.02, 0.02);
  EXPECT_LT(e.Margin(), 0.001);
  // An engine that runs 2x slower than the model thinks, step after step (until it refits).
  for (int i = 0; i < 500; ++i) e.Observe(0.02, 0.04);
  EXPECT_EQ(e.Margin(), PredictionError::kMaxMargin);
}

TEST(PredictionErrorTest, IgnoresWhatCannotBeARatioAndResets) {
  PredictionError e;
  e.Observe(0, 0.01);
  e.Observe(-1, 0.01);
  e.Observe(0.01, std::numeric_limits<double>::infinity());
  EXPECT_EQ(e.Margin(), 0);
  e.Observe(0.01, 0.012);
  EXPECT_GT(e.Margin(), 0);
  e.Reset();
  EXPECT_EQ(e.Margin(), 0);
}

TEST(PredictionErrorTest, TheStepTimeModelRecordsItsErrorBeforeLearningAndSeedResetsIt) {
  StepTimeModel::Options o;
  o.prior.constant = 0.01;
  StepTimeModel model = *StepTimeModel::Create(o);
  StepShape shape;
  shape.decode_sequences = 4;
  // Predicted 10 ms (the prior), measured 12 ms: +20% recorded, whatever the refit learns.
  ASSERT_TRUE(model.Observe(shape, 0.012).ok());
  EXPECT_NEAR(model.error().mean(), 0.2, 1e-9);
  ASSERT_TRUE(model.Seed({{shape, 0.012}}).ok());
  EXPECT_EQ(model.error().Margin(), 0);
}

}  // namespace
}  // namespace tessera
