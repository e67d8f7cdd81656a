#include "scheduler/prediction_error.h"

#include <algorithm>
#include <cmath>

namespace tessera {

void PredictionError::Observe(double predicted_seconds, double measured_seconds) {
  if (!(predicted_seconds > 0) || !std::isfinite(predicted_seconds) ||
      !std::isfinite(measured_seconds)) {
    return;
  }
  // A step far off (a page fault, another process on the cores) is not the usual error: it
  // counts as kClip, so that one stall does not shrink the steps for hundreds after it.
  const double r = std::clamp(measured_seconds / predicted_seconds - 1, -kClip, kClip);
  // Decayed weighted means: each new observation weighs 1 against the decayed sum before it.
  weight_ = decay_ * weight_ + 1;
  const double w = 1 / weight_;
  deviation_ += w * (std::abs(r - mean_) - deviation_);
  mean_ += w * (r - mean_);
}

double PredictionError::Margin() const {
  return std::clamp(mean_ + kDeviations * deviation_, 0.0, kMaxMargin);
}

}  // namespace tessera
