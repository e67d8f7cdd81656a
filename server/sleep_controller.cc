#include "server/sleep_controller.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace tessera {

SleepController::SleepController(Scheduler* scheduler, absl::Duration wait_for_requests,
                                 std::function<void(bool ready)> set_ready)
    : scheduler_(scheduler),
      wait_for_requests_(wait_for_requests),
      set_ready_(std::move(set_ready)) {}

absl::Status SleepController::Sleep(SleepLevel level) {
  const bool was_awake = !asleep();
  const absl::Time start = absl::Now();
  absl::Status s = scheduler_->Sleep(level, wait_for_requests_);
  if (!s.ok()) {
    spdlog::warn("tesserad: sleep (level {}) refused: {}", static_cast<int>(level),
                 std::string(s.message()));
    return s;
  }
  if (was_awake) {
    if (set_ready_) set_ready_(false);
    spdlog::info("{}", absl::StrFormat("tesserad: asleep (level %d, %s) after %.3f s",
                                       static_cast<int>(level), SleepStateLabel(level),
                                       absl::ToDoubleSeconds(absl::Now() - start)));
  }
  return s;
}

absl::StatusOr<absl::Duration> SleepController::WakeUp() {
  const SleepLevel from = level();
  absl::StatusOr<absl::Duration> took = scheduler_->WakeUp();
  if (!took.ok()) {
    spdlog::error("tesserad: wake-up failed, still asleep: {}",
                  std::string(took.status().message()));
    return took;
  }
  if (from != SleepLevel::kAwake) {
    if (set_ready_) set_ready_(true);
    spdlog::info("{}", absl::StrFormat("tesserad: awake: woke from level %d in %.3f s",
                                       static_cast<int>(from), absl::ToDoubleSeconds(*took)));
  }
  return took;
}

}  // namespace tessera
