// One timed throughput run of a LoraWorkload: every request queued at once in a fresh
// SchedulerCore over the engine (real admission, adapter slots and adapter loads, no gRPC), then
// steps until all have finished. Each request generates exactly `new_tokens` tokens (EOS
// ignored), so every run of a workload does the same token work whatever its adapters.
//
// A run that passes `timeout_s`, or whose scheduler stops making progress, is aborted and
// reported as DeadlineExceeded, so a broken engine cannot hang the benchmark. A request that fails
// (an adapter the engine refuses, an engine error) fails the run with its status.
//
// Runs on the calling thread; the engine must not be used by anything else meanwhile.
#ifndef TESSERA_BENCH_LORA_THROUGHPUT_RUN_H_
#define TESSERA_BENCH_LORA_THROUGHPUT_RUN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/lora_workload.h"
#include "engine/engine.h"

namespace tessera {

struct ThroughputRunOptions {
  int32_t num_requests = 0;  // the first num_requests of the workload and of the prompts
  int32_t new_tokens = 64;
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 2048;
  double timeout_s = 60;
};

struct ThroughputRunFigures {
  double seconds = 0;       // first step to the last request's end (prefill included)
  int64_t tokens = 0;       // generated
  int64_t loads = 0;        // adapters the scheduler brought onto the engine (SetAdapter)
  int64_t preemptions = 0;  // sequences preempted for KV room (recomputed later)
  int64_t steps = 0;
  double TokensPerSecond() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0; }
};

absl::StatusOr<ThroughputRunFigures> RunThroughput(Engine& engine, const LoraWorkload& workload,
                                                   const std::vector<std::vector<int32_t>>& prompts,
                                                   const ThroughputRunOptions& options);

}  // namespace tessera

#endif  // TESSERA_BENCH_LORA_THROUGHPUT_RUN_H_
