// Sleep levels of an engine (vLLM's sleep mode), shared by the engine, the scheduler and the
// server's API and metrics:
//   kAwake            serving.
//   kOffloadWeights   level 1: weights leave the device (a GPU engine keeps a copy in pinned host
//                     memory), the KV cache is freed. Wake copies the weights back.
//   kDiscardWeights   level 2: weights and KV cache are dropped; wake reloads the weights from the
//                     checkpoint (the page cache, when it still holds the files).
// The CPU engine has no device to free: both levels drop its weights and KV storage and reload
// the weights from the checkpoint on wake.
#ifndef TESSERA_ENGINE_SLEEP_LEVEL_H_
#define TESSERA_ENGINE_SLEEP_LEVEL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

enum class SleepLevel : int32_t {
  kAwake = 0,
  kOffloadWeights = 1,
  kDiscardWeights = 2,
};

// Level 1 or 2 as the API names them; InvalidArgument for anything else.
absl::StatusOr<SleepLevel> SleepLevelFromInt(int64_t level);

// vLLM's sleep_state label of vllm:engine_sleep_state: "awake" | "weights_offloaded" |
// "discard_all".
absl::string_view SleepStateLabel(SleepLevel level);

}  // namespace tessera

#endif  // TESSERA_ENGINE_SLEEP_LEVEL_H_
