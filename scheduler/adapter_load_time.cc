#include "scheduler/adapter_load_time.h"

namespace tessera {

AdapterLoadTime::AdapterLoadTime(double prior_bytes_per_second, double decay)
    : prior_seconds_per_byte_(1.0 / prior_bytes_per_second), decay_(decay) {}

void AdapterLoadTime::Observe(int64_t bytes, absl::Duration took) {
  if (bytes <= 0 || took <= absl::ZeroDuration()) return;
  bytes_ = decay_ * bytes_ + static_cast<double>(bytes);
  seconds_ = decay_ * seconds_ + absl::ToDoubleSeconds(took);
}

absl::Duration AdapterLoadTime::Predict(int64_t bytes) const {
  const double per_byte = bytes_ > 0 ? seconds_ / bytes_ : prior_seconds_per_byte_;
  return absl::Seconds(per_byte * static_cast<double>(bytes));
}

}  // namespace tessera
