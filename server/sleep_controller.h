// Sleep mode for the daemon's front ends (the Admin RPCs and the HTTP routes): puts the
// scheduler, and through it the engine, to sleep and wakes it, keeps gRPC health and the
// readiness probes in step (live but not ready while asleep), and logs each transition with its
// time. Whether a caller may do this (an admin key) is the front end's business.
//
// Thread-safe; the scheduler must outlive it.
#ifndef TESSERA_SERVER_SLEEP_CONTROLLER_H_
#define TESSERA_SERVER_SLEEP_CONTROLLER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/sleep_level.h"
#include "scheduler/scheduler.h"

namespace tessera {

class SleepController {
 public:
  // `wait_for_requests`: --sleep-wait-timeout. `set_ready` is told false once asleep and true once
  // awake again (gRPC health); it may be empty.
  SleepController(Scheduler* scheduler, absl::Duration wait_for_requests,
                  std::function<void(bool ready)> set_ready);

  // Scheduler::Sleep and Scheduler::WakeUp, logged.
  absl::Status Sleep(SleepLevel level);
  absl::StatusOr<absl::Duration> WakeUp();

  SleepLevel level() const { return scheduler_->sleep_level(); }
  bool asleep() const { return level() != SleepLevel::kAwake; }

 private:
  Scheduler* const scheduler_;
  const absl::Duration wait_for_requests_;
  const std::function<void(bool)> set_ready_;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_SLEEP_CONTROLLER_H_
