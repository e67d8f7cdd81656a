#include "engine/parallel_tasks.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace tessera {

int32_t ResolveThreadCount(int32_t requested) {
  if (requested > 0) return requested;
  return std::max<int32_t>(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
}

void RunParallel(int64_t n, int32_t threads, const std::function<void(int64_t)>& task) {
  if (n <= 0) return;
  const int64_t workers = std::min<int64_t>(ResolveThreadCount(threads), n);
  std::atomic<int64_t> next{0};
  auto drain = [&] {
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) task(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int64_t t = 1; t < workers; ++t) pool.emplace_back(drain);
  drain();
  for (std::thread& t : pool) t.join();
}

}  // namespace tessera
