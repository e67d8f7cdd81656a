// How far the step-time model's predictions run from the measured step times, as a margin that
// the slo policy keeps in reserve when it sizes a step against a time limit.
//
// Why a margin: the policy sizes a step so that its predicted end is exactly what the tightest
// TPOT target allows, and a decode's allowance is cumulative (time banked by fast steps goes
// into later ones, an overrun shrinks the next step). A request's mean TPOT therefore lands on
// its target up to the error of its last step: half of the requests missed by a hair on the
// CPU daemon (measured TPOT p50 30.0 ms against a 30 ms target, prediction error about 5%).
// Keeping the usual error of one step in reserve puts the mean just under the target.
//
// Tracks the relative error r = measured / predicted - 1 with exponential decay (the step-time
// model's own, so that both follow the engine's current regime): its mean (the model's bias)
// and mean absolute deviation (its spread; a deviation rather than a variance, and each error
// clipped to kClip, so that one stalled step does not shrink the steps for long). Margin() =
// mean + 2 deviations, within
// [0, kMaxMargin]: 0 when predictions are exact (the simulator), so nothing changes there.
//
// Not thread-safe: the scheduler thread owns it, with the model.
#ifndef TESSERA_SCHEDULER_PREDICTION_ERROR_H_
#define TESSERA_SCHEDULER_PREDICTION_ERROR_H_

namespace tessera {

class PredictionError {
 public:
  // The most of a time limit kept in reserve: a model far off is refitted within a few dozen
  // steps; shrinking every step by more meanwhile would cost more throughput than it saves.
  static constexpr double kMaxMargin = 0.25;
  // The largest relative error one step counts as (either way).
  static constexpr double kClip = 0.5;
  // Deviations kept in reserve beyond the bias.
  static constexpr double kDeviations = 2.0;

  // `decay` in (0, 1]: the weight every observation leaves to the ones before it.
  explicit PredictionError(double decay = 0.99) : decay_(decay) {}

  // One step: what the model predicted before it ran, and what it took. Ignored unless both are
  // finite and the prediction is positive.
  void Observe(double predicted_seconds, double measured_seconds);
  // Forgets every observation (a new profiling pass).
  void Reset() { *this = PredictionError(decay_); }

  // The fraction of a time limit to keep in reserve, in [0, kMaxMargin]; 0 before any step.
  double Margin() const;
  double mean() const { return mean_; }
  double deviation() const { return deviation_; }

 private:
  double decay_;
  double weight_ = 0;  // decayed number of observations
  double mean_ = 0;
  double deviation_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_PREDICTION_ERROR_H_
