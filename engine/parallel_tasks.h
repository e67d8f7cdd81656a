// Runs independent tasks on a few std::threads: the model loaders read and convert tensors with
// it, so a load goes at the storage's speed rather than one core's.
//
// Stateless functions; `task` must be safe to call for distinct indices at once.
#ifndef TESSERA_ENGINE_PARALLEL_TASKS_H_
#define TESSERA_ENGINE_PARALLEL_TASKS_H_

#include <cstdint>
#include <functional>

namespace tessera {

// `requested` when > 0, else the hardware's thread count (at least 1).
int32_t ResolveThreadCount(int32_t requested);

// Calls task(i) for every i in [0, n), each once, on min(threads, n) threads (the caller's among
// them; threads <= 0: the hardware's count). Each thread takes the next index not yet taken, so
// large and small tasks balance. Returns when all have run.
void RunParallel(int64_t n, int32_t threads, const std::function<void(int64_t)>& task);

}  // namespace tessera

#endif  // TESSERA_ENGINE_PARALLEL_TASKS_H_
