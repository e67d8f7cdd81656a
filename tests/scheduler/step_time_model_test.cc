#include "scheduler/step_time_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace tessera {
namespace {

// Ground truth of the synthetic engines below (seconds).
constexpr StepTimeCoefficients kTruth{.constant = 2e-3,
                                      .per_prefill_token = 1.5e-4,
                                      .per_decode_sequence = 3e-4,
                                      .per_attended_token = 2e-8,
                                      .per_adapter_row = 4e-5};

double TruthSeconds(const StepTimeCoefficients& c, const StepShape& s) {
  return c.constant + c.per_prefill_token * s.prefill_tokens +
         c.per_decode_sequence * s.decode_sequences + c.per_attended_token * s.attended_tokens +
         c.per_adapter_row * s.adapter_rows;
}

// A mixed step as a continuous-batching scheduler forms them: some decodes at various context
// lengths, sometimes a prefill chunk, sometimes through an adapter.
StepShape RandomShape(std::mt19937& rng) {
  StepShape s;
  const int decodes = std::uniform_int_distribution<int>(0, 64)(rng);
  for (int i = 0; i < decodes; ++i) {
    s.attended_tokens += std::uniform_int_distribution<int>(16, 4096)(rng);
  }
  s.decode_sequences = decodes;
  if (decodes == 0 || rng() % 2) {
    const int chunk = std::uniform_int_distribution<int>(1, 1024)(rng);
    const int cached = std::uniform_int_distribution<int>(0, 2048)(rng);
    s.prefill_tokens = chunk;
    s.attended_tokens += StepShape::AttendedByChunk(cached, chunk);
  }
  if (rng() % 3 == 0) {
    s.adapter_rows =
        std::uniform_int_distribution<int64_t>(0, s.prefill_tokens + s.decode_sequences)(rng);
  }
  return s;
}

void ExpectRelNear(double actual, double expected, double tolerance, const char* what) {
  EXPECT_NEAR(actual, expected, tolerance * expected) << what;
}

TEST(StepTimeModelTest, RecoversKnownCoefficientsFromNoisySamples) {
  StepTimeModel::Options options;
  options.decay = 0.999;
  StepTimeModel model = *StepTimeModel::Create(options);
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0.0, 0.03);  // 3% measurement noise
  for (int i = 0; i < 3000; ++i) {
    const StepShape s = RandomShape(rng);
    ASSERT_TRUE(model.Observe(s, TruthSeconds(kTruth, s) * (1 + noise(rng))).ok());
  }
  const StepTimeCoefficients& c = model.Coefficients();
  ExpectRelNear(c.constant, kTruth.constant, 0.10, "constant");
  ExpectRelNear(c.per_prefill_token, kTruth.per_prefill_token, 0.05, "prefill");
  ExpectRelNear(c.per_decode_sequence, kTruth.per_decode_sequence, 0.05, "decode");
  ExpectRelNear(c.per_attended_token, kTruth.per_attended_token, 0.05, "attended");
  ExpectRelNear(c.per_adapter_row, kTruth.per_adapter_row, 0.10, "adapter");
  EXPECT_NEAR(model.effective_samples(), (1 - std::pow(0.999, 3000)) / (1 - 0.999), 1e-6);
}

TEST(StepTimeModelTest, NoiseFreeSeedIsExact) {
  std::mt19937 rng(2);
  std::vector<StepSample> samples;
  for (int i = 0; i < 50; ++i) {
    const StepShape s = RandomShape(rng);
    samples.push_back({s, TruthSeconds(kTruth, s)});
  }
  StepTimeModel model;
  ASSERT_TRUE(model.Seed(samples).ok());
  for (int i = 0; i < 20; ++i) {
    const StepShape s = RandomShape(rng);
    EXPECT_NEAR(model.Predict(s), TruthSeconds(kTruth, s), 1e-3 * TruthSeconds(kTruth, s));
  }
  EXPECT_EQ(model.effective_samples(), 50);
}

TEST(StepTimeModelTest, AdaptsAfterRegimeChangeOnlyWithDecay) {
  StepTimeCoefficients slower = kTruth;  // e.g. another process took half the cores
  slower.constant *= 2;
  slower.per_prefill_token *= 2;
  slower.per_decode_sequence *= 2;
  slower.per_attended_token *= 2;
  slower.per_adapter_row *= 2;
  StepTimeModel::Options decaying;
  decaying.decay = 0.97;
  StepTimeModel::Options forever;
  forever.decay = 1.0;
  StepTimeModel adapting = *StepTimeModel::Create(decaying);
  StepTimeModel stuck = *StepTimeModel::Create(forever);
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) {
    const StepShape s = RandomShape(rng);
    ASSERT_TRUE(adapting.Observe(s, TruthSeconds(kTruth, s)).ok());
    ASSERT_TRUE(stuck.Observe(s, TruthSeconds(kTruth, s)).ok());
  }
  for (int i = 0; i < 300; ++i) {
    const StepShape s = RandomShape(rng);
    ASSERT_TRUE(adapting.Observe(s, TruthSeconds(slower, s)).ok());
    ASSERT_TRUE(stuck.Observe(s, TruthSeconds(slower, s)).ok());
  }
  for (int i = 0; i < 20; ++i) {
    const StepShape s = RandomShape(rng);
    const double want = TruthSeconds(slower, s);
    EXPECT_NEAR(adapting.Predict(s), want, 0.02 * want);
    // Without decay the old regime still holds most of the weight: a clear miss.
    EXPECT_LT(stuck.Predict(s), 0.85 * want);
  }
}

TEST(StepTimeModelTest, CoefficientsStayNonNegativeWhereLeastSquaresWouldGoNegative) {
  // Time falls with prefill tokens (nonsense a real engine never shows, but noise on a narrow
  // window can): y = 10 ms - 0.5 ms * p for p = 0..10. Unconstrained least squares gives a
  // slope of -0.5 ms; the non-negative optimum is slope 0 and the mean time, 7.5 ms.
  std::vector<StepSample> samples;
  for (int p = 0; p <= 10; ++p) {
    samples.push_back({StepShape{.prefill_tokens = p}, 10e-3 - 0.5e-3 * p});
  }
  StepTimeModel::Options options;
  options.ridge = 0;
  StepTimeModel model = *StepTimeModel::Create(options);
  ASSERT_TRUE(model.Seed(samples).ok());
  EXPECT_EQ(model.Coefficients().per_prefill_token, 0);
  EXPECT_NEAR(model.Coefficients().constant, 7.5e-3, 1e-12);
  EXPECT_NEAR(model.Predict(StepShape{.prefill_tokens = 1'000'000}), 7.5e-3, 1e-12);
}

TEST(StepTimeModelTest, CollinearDecodeWindowGivesNonNegativeSanePredictions) {
  // Every decode at context 512: attended tokens = 512 x decodes, so the two features cannot be
  // told apart. Whatever split the fit picks, it must reproduce the window and stay >= 0.
  std::vector<StepSample> samples;
  std::mt19937 rng(4);
  std::normal_distribution<double> noise(0.0, 0.05);
  for (int i = 0; i < 200; ++i) {
    const int b = std::uniform_int_distribution<int>(1, 64)(rng);
    const StepShape s{.decode_sequences = b, .attended_tokens = 512 * b};
    samples.push_back({s, TruthSeconds(kTruth, s) * (1 + noise(rng))});
  }
  StepTimeModel model;
  ASSERT_TRUE(model.Seed(samples).ok());
  const StepTimeCoefficients& c = model.Coefficients();
  for (double v : {c.constant, c.per_prefill_token, c.per_decode_sequence, c.per_attended_token,
                   c.per_adapter_row}) {
    EXPECT_GE(v, 0);
    EXPECT_TRUE(std::isfinite(v));
  }
  for (int b : {1, 16, 64}) {
    const StepShape s{.decode_sequences = b, .attended_tokens = 512 * b};
    EXPECT_NEAR(model.Predict(s), TruthSeconds(kTruth, s), 0.05 * TruthSeconds(kTruth, s));
  }
}

// The shape MaxPrefillTokens adds t tokens to, built independently of the code under test.
StepShape WithChunk(StepShape s, int64_t t, int64_t cached, bool adapter) {
  s.prefill_tokens += t;
  s.attended_tokens += t * cached + t * (t + 1) / 2;
  if (adapter) s.adapter_rows += t;
  return s;
}

TEST(StepTimeModelTest, MaxPrefillTokensIsTheExactBoundary) {
  std::mt19937 rng(5);
  std::vector<StepSample> samples;
  for (int i = 0; i < 100; ++i) {
    const StepShape s = RandomShape(rng);
    samples.push_back({s, TruthSeconds(kTruth, s)});
  }
  StepTimeModel model;
  ASSERT_TRUE(model.Seed(samples).ok());
  int interior = 0;
  for (int i = 0; i < 500; ++i) {
    const StepShape base = RandomShape(rng);
    const int64_t cached = std::uniform_int_distribution<int64_t>(0, 4096)(rng);
    const bool adapter = rng() % 2;
    const double limit = std::uniform_real_distribution<double>(0.001, 0.5)(rng);
    const int64_t cap = 8192;
    const int64_t t = model.MaxPrefillTokens(base, limit, cap, cached, adapter);
    if (t < 0) {
      EXPECT_EQ(t, -1);
      EXPECT_GT(model.Predict(base), limit);
      continue;
    }
    ASSERT_LE(t, cap);
    EXPECT_LE(model.Predict(WithChunk(base, t, cached, adapter)), limit);
    if (t < cap) {
      EXPECT_GT(model.Predict(WithChunk(base, t + 1, cached, adapter)), limit);
      ++interior;
    }
  }
  EXPECT_GT(interior, 100);  // the property was exercised away from the edges
}

TEST(StepTimeModelTest, MaxTokensWithAFreeFeatureIsTheCap) {
  StepTimeModel::Options options;
  options.prior = {.constant = 0.01};  // tokens cost nothing in this model
  StepTimeModel model = *StepTimeModel::Create(options);
  EXPECT_EQ(model.MaxPrefillTokens(StepShape{}, 0.02, 4096), 4096);
  EXPECT_EQ(model.MaxPrefillTokens(StepShape{}, 0.005, 4096), -1);
  EXPECT_EQ(model.MaxPrefillTokens(StepShape{}, 0.02, 0), 0);
}

TEST(StepTimeModelTest, ZeroSamplesPredictThePrior) {
  StepTimeModel blank;
  const StepShape big{.prefill_tokens = 4096, .decode_sequences = 256, .attended_tokens = 1 << 20};
  EXPECT_EQ(blank.Predict(big), 0);
  EXPECT_EQ(blank.MaxPrefillTokens(StepShape{}, 0.05, 2048), 2048);
  ASSERT_TRUE(blank.Seed({}).ok());
  EXPECT_EQ(blank.Predict(big), 0);

  StepTimeModel::Options options;
  options.prior = kTruth;
  StepTimeModel seeded = *StepTimeModel::Create(options);
  EXPECT_DOUBLE_EQ(seeded.Predict(big), TruthSeconds(kTruth, big));
}

TEST(StepTimeModelTest, AllSameShapesGiveFiniteSanePredictions) {
  const StepShape same{.prefill_tokens = 256, .decode_sequences = 8, .attended_tokens = 40000};
  StepTimeModel model;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(model.Observe(same, 0.05).ok());
  EXPECT_NEAR(model.Predict(same), 0.05, 1e-4);
  // Shapes the data never varied: finite, non-negative, and no more than proportional growth.
  for (const StepShape& s : {StepShape{}, StepShape{.prefill_tokens = 4096},
                             StepShape{.decode_sequences = 256, .attended_tokens = 1 << 20},
                             StepShape{.adapter_rows = 512}}) {
    const double p = model.Predict(s);
    EXPECT_TRUE(std::isfinite(p));
    EXPECT_GE(p, 0);
    EXPECT_LT(p, 0.05 * 40);
  }
  // Adapter rows were never seen: that coefficient keeps its prior (0).
  EXPECT_EQ(model.Coefficients().per_adapter_row, 0);
  // Only empty steps: the constant alone explains them.
  StepTimeModel empty_steps;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(empty_steps.Observe(StepShape{}, 0.002).ok());
  EXPECT_NEAR(empty_steps.Coefficients().constant, 0.002, 0.002 * 1e-5);  // the ridge bias
  EXPECT_EQ(empty_steps.Coefficients().per_prefill_token, 0);
}

TEST(StepTimeModelTest, BadSamplesAreRefusedAndChangeNothing) {
  StepTimeModel model;
  ASSERT_TRUE(model.Observe(StepShape{.prefill_tokens = 10}, 0.01).ok());
  const StepTimeCoefficients before = model.Coefficients();
  absl::Status s = model.Observe(StepShape{.decode_sequences = -1}, 0.01);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("decode_sequences=-1"), std::string::npos) << s;
  s = model.Observe(StepShape{}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("step time"), std::string::npos) << s;
  s = model.Seed({StepSample{StepShape{}, 0.01}, StepSample{StepShape{}, -1}});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(model.Coefficients().per_prefill_token, before.per_prefill_token);
  EXPECT_EQ(model.Coefficients().constant, before.constant);
  EXPECT_EQ(model.effective_samples(), 1);
}

TEST(StepTimeModelTest, OptionsAreValidated) {
  StepTimeModel::Options o;
  EXPECT_TRUE(StepTimeModel::Validate(o).ok());
  o.decay = 0;
  EXPECT_NE(StepTimeModel::Validate(o).message().find("decay"), std::string::npos);
  o.decay = 1.5;
  EXPECT_FALSE(StepTimeModel::Validate(o).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(StepTimeModel::Create(o).status()));
  o = {};
  o.ridge = -1;
  EXPECT_NE(StepTimeModel::Validate(o).message().find("ridge"), std::string::npos);
  o = {};
  o.prior.per_attended_token = -1e-9;
  EXPECT_NE(StepTimeModel::Validate(o).message().find("attended_token"), std::string::npos);
}

}  // namespace
}  // namespace tessera
