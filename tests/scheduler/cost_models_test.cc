#include "scheduler/cost_models.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tessera {
namespace {

// The figures bench/GPU-NOTES.md measured (and the issue quotes), independent of the samples
// that cost_models.cc writes down.
TEST(CostModelsTest, H100ModelReproducesTheMeasuredFigures) {
  const StepTimeCoefficients m = H100Llama3_8bCostModel();
  // Decode steps of 512-token prompts plus up to 128 generated: ~577 positions each.
  for (const auto& [batch, ms] :
       std::vector<std::pair<int64_t, double>>{{1, 6.83}, {16, 7.40}, {64, 9.37}, {256, 17.0}}) {
    const StepShape s{.decode_sequences = batch, .attended_tokens = batch * 577};
    EXPECT_NEAR(m.Predict(s) * 1e3, ms, 0.10 * ms) << "decode batch " << batch;
  }
  // Prefill about 41,000 tokens/s (16 prompts of 512 tokens per 8192-token step).
  const StepShape prefill{.prefill_tokens = 8192, .attended_tokens = 16 * (512 * 513 / 2)};
  EXPECT_NEAR(8192 / m.Predict(prefill), 41000, 0.10 * 41000);
}

// The CPU model against every step it was fitted to: a linear model of a cache-bound engine is
// not exact, but it must stay within 15% everywhere on the measured range.
TEST(CostModelsTest, CpuModelReproducesItsMeasurements) {
  const StepTimeCoefficients m = CpuLlamaSmallCostModel();
  for (const StepSample& s : CpuLlamaSmallSamples()) {
    EXPECT_NEAR(m.Predict(s.shape), s.seconds, 0.15 * s.seconds)
        << "prefill " << s.shape.prefill_tokens << " decodes " << s.shape.decode_sequences
        << " attended " << s.shape.attended_tokens << " adapter " << s.shape.adapter_rows;
  }
}

// The shipped numbers are the fit of the shipped samples (guards against editing one and not
// the other).
TEST(CostModelsTest, ShippedCoefficientsAreTheFitOfTheShippedSamples) {
  for (const auto& [samples, shipped] :
       {std::pair{H100Llama3_8bSamples(), H100Llama3_8bCostModel()},
        std::pair{CpuLlamaSmallSamples(), CpuLlamaSmallCostModel()}}) {
    StepTimeModel model;
    ASSERT_TRUE(model.Seed(samples).ok());
    const StepTimeCoefficients& fit = model.Coefficients();
    const double got[] = {fit.constant, fit.per_prefill_token, fit.per_decode_sequence,
                          fit.per_attended_token, fit.per_adapter_row};
    const double want[] = {shipped.constant, shipped.per_prefill_token, shipped.per_decode_sequence,
                           shipped.per_attended_token, shipped.per_adapter_row};
    for (int i = 0; i < 5; ++i) {
      EXPECT_GE(want[i], 0);
      EXPECT_NEAR(got[i], want[i], 1e-9 * std::abs(want[i]) + 1e-15) << "coefficient " << i;
    }
  }
}

}  // namespace
}  // namespace tessera
