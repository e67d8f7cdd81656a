// Predicts how long an engine step takes from its shape, so that the scheduler can size a step's
// token budget from latency targets. The engine stays unaware of it: the scheduler describes
// each step it forms as a StepShape and reports the measured time back.
//
// The model is linear in five features with non-negative coefficients:
//   seconds = constant + per_prefill_token * prefill_tokens + per_decode_sequence * decodes
//           + per_attended_token * attended_tokens + per_adapter_row * adapter_rows
// It is fitted online by exponentially decayed least squares: every observation multiplies the
// weight of all earlier ones by `decay`, so the fit follows the engine when its speed changes
// (another process takes the cores, a clock throttles) and forgets old regimes with a half-life
// of ln(2) / -ln(decay) steps. A profiling pass at start seeds it (Seed).
//
// Why the coefficients are kept non-negative: each feature counts work, and more work never
// takes less time. Unconstrained least squares on collinear data (a decode-only window, where
// attended tokens grow with the number of decodes) happily trades a negative coefficient for a
// larger positive one; that fits the window but predicts too little, or a negative time, for
// shapes outside it, and a negative per-token slope would make MaxPrefillTokens unbounded. The
// fit therefore solves the non-negative least-squares problem exactly (the features are few, so
// every support set is tried), and a prediction is monotone in every feature.
//
// Degenerate data: a small ridge term, relative to each feature's own weight in the data, pulls
// coefficients that the data cannot tell apart toward the prior (Options::prior), and a feature
// that no observation exercised keeps its prior coefficient. With no observations at all the
// model predicts with the prior.
//
// Not thread-safe: the scheduler thread owns it. Copyable (a value: coefficients and sums).
#ifndef TESSERA_SCHEDULER_STEP_TIME_MODEL_H_
#define TESSERA_SCHEDULER_STEP_TIME_MODEL_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/prediction_error.h"

namespace tessera {

// What a step does, in the model's features.
struct StepShape {
  // Tokens fed by sequences that are prefilling (prompt chunks, recomputation after preemption).
  int64_t prefill_tokens = 0;
  // Sequences that feed one token to produce the next (decoding).
  int64_t decode_sequences = 0;
  // Attention work: over every token fed, the number of positions it attends to (its own
  // included). A decode at context length c adds c; a prefill chunk of t tokens after c cached
  // ones adds AttendedByChunk(c, t). Prefill attention is quadratic in the chunk; this keeps it
  // one linear feature.
  int64_t attended_tokens = 0;
  // Tokens (rows) that go through a LoRA adapter.
  int64_t adapter_rows = 0;

  // Positions attended by a chunk of `fed` tokens that follows `cached` tokens of its sequence.
  static int64_t AttendedByChunk(int64_t cached, int64_t fed) {
    return fed * cached + fed * (fed + 1) / 2;
  }
};

// Seconds per unit of each feature (and per step); all non-negative.
struct StepTimeCoefficients {
  double constant = 0;
  double per_prefill_token = 0;
  double per_decode_sequence = 0;
  double per_attended_token = 0;
  double per_adapter_row = 0;

  // The predicted seconds of a step of this shape.
  double Predict(const StepShape& shape) const;
  // "constant=2.1ms prefill_token=1.49ms ..." for logs.
  std::string DebugString() const;
};

// One measured step.
struct StepSample {
  StepShape shape;
  double seconds = 0;
};

class StepTimeModel {
 public:
  static constexpr int kNumFeatures = 5;

  struct Options {
    // Weight that every observation leaves to the ones before it, in (0, 1]; 1 never forgets.
    // 0.99: a half-life of about 69 steps.
    double decay = 0.99;
    // Ridge strength relative to each feature's weight in the data: small enough not to bias a
    // well-posed fit, large enough to make a degenerate one well-posed.
    double ridge = 1e-6;
    // Coefficients before any observation, and the ones degenerate data is pulled toward.
    StepTimeCoefficients prior;
  };

  // Default options.
  StepTimeModel();
  // InvalidArgument (naming the field) for a decay outside (0, 1], a negative or non-finite
  // ridge or prior coefficient.
  static absl::Status Validate(const Options& options);
  static absl::StatusOr<StepTimeModel> Create(const Options& options);

  // Forgets everything observed and fits `samples` (a profiling pass), each with weight 1.
  // InvalidArgument for a sample with a negative feature or a negative or non-finite time; the
  // model is unchanged then.
  absl::Status Seed(absl::Span<const StepSample> samples);
  // Adds one measured step (older observations decay) and refits. InvalidArgument as for Seed;
  // nothing changes then.
  absl::Status Observe(const StepShape& shape, double seconds);

  double Predict(const StepShape& shape) const { return coefficients_.Predict(shape); }
  const StepTimeCoefficients& Coefficients() const { return coefficients_; }
  // The decayed number of observations behind the fit (0 before any).
  double effective_samples() const { return weight_sum_; }
  // How far its predictions ran from the steps observed since the last Seed (each predicted
  // before the fit learned that step), with the fit's decay.
  const PredictionError& error() const { return error_; }

  // The largest t in [0, cap] with Predict(shape_of(t)) <= limit_seconds, or -1 when even
  // shape_of(0) is predicted over the limit. `shape_of` must be non-decreasing in every feature
  // as t grows (then so is the prediction, and the answer is an exact boundary: t == cap or
  // Predict(shape_of(t + 1)) > limit_seconds).
  int64_t MaxTokens(absl::FunctionRef<StepShape(int64_t)> shape_of, double limit_seconds,
                    int64_t cap) const;
  // MaxTokens for `base` plus one prefill chunk of t tokens that follows `cached` tokens of its
  // sequence (adds t prefill tokens and the chunk's attended positions; with `adapter`, t adapter
  // rows too). One chunk is the most attention t tokens can cost, so the bound is safe when the
  // budget is later split among several sequences.
  int64_t MaxPrefillTokens(const StepShape& base, double limit_seconds, int64_t cap,
                           int64_t cached = 0, bool adapter = false) const;

 private:
  explicit StepTimeModel(const Options& options);

  using Vector = std::array<double, kNumFeatures>;
  using Matrix = std::array<Vector, kNumFeatures>;

  static Vector Features(const StepShape& shape);
  static absl::Status CheckSample(const StepShape& shape, double seconds);
  void Accumulate(const StepShape& shape, double seconds, double decay);
  // Solves the non-negative ridge-regularized least squares on the sums into coefficients_.
  void Refit();

  Options options_;
  // Decayed sums: gram_ = sum w x x^T, moment_ = sum w x y, weight_sum_ = sum w.
  Matrix gram_{};
  Vector moment_{};
  double weight_sum_ = 0;
  StepTimeCoefficients coefficients_;
  PredictionError error_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_STEP_TIME_MODEL_H_
