// Predicts how long loading a LoRA adapter into the engine takes, from its size and the loads
// measured so far, so that the slo policy can add it to the time-to-first-token of a request
// whose adapter is not resident (its ordering and reject_if_slo_unattainable).
//
// The prediction is bytes x seconds-per-byte, the rate being an exponentially decayed average over
// measured loads (total seconds over total bytes, each older load weighing `decay` less), so that
// it follows the engine (a busy PCIe bus, a host cache that went cold); before any load it is the
// prior rate.
//
// Not thread-safe: the scheduler thread owns it. A value (copyable).
#ifndef TESSERA_SCHEDULER_ADAPTER_LOAD_TIME_H_
#define TESSERA_SCHEDULER_ADAPTER_LOAD_TIME_H_

#include <cstdint>

#include "absl/time/time.h"

namespace tessera {

class AdapterLoadTime {
 public:
  // `prior_bytes_per_second` > 0; `decay` in (0, 1].
  explicit AdapterLoadTime(double prior_bytes_per_second = 4e9, double decay = 0.8);

  // A load of `bytes` took `took`. Ignored when either is not positive.
  void Observe(int64_t bytes, absl::Duration took);
  // The predicted time to load `bytes`.
  absl::Duration Predict(int64_t bytes) const;

 private:
  double prior_seconds_per_byte_;
  double decay_;
  double bytes_ = 0;  // decayed sums over measured loads
  double seconds_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_ADAPTER_LOAD_TIME_H_
