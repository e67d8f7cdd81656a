#include "engine/sleep_level.h"

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<SleepLevel> SleepLevelFromInt(int64_t level) {
  switch (level) {
    case 1:
      return SleepLevel::kOffloadWeights;
    case 2:
      return SleepLevel::kDiscardWeights;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "sleep level must be 1 (offload weights, free the KV cache) or 2 (discard weights and "
          "KV cache), got ",
          level));
  }
}

absl::string_view SleepStateLabel(SleepLevel level) {
  switch (level) {
    case SleepLevel::kAwake:
      return "awake";
    case SleepLevel::kOffloadWeights:
      return "weights_offloaded";
    case SleepLevel::kDiscardWeights:
      return "discard_all";
  }
  return "awake";
}

}  // namespace tessera
