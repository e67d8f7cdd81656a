#include "engine/parallel_tasks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace tessera {
namespace {

TEST(ParallelTasksTest, RunsEveryIndexOnce) {
  for (int32_t threads : {1, 3, 8, 0}) {
    std::vector<std::atomic<int>> runs(1000);
    RunParallel(1000, threads, [&](int64_t i) { runs[i].fetch_add(1); });
    for (size_t i = 0; i < runs.size(); ++i) {
      ASSERT_EQ(runs[i].load(), 1) << "index " << i << ", threads " << threads;
    }
  }
}

TEST(ParallelTasksTest, UsesSeveralThreadsButNoMoreThanTasks) {
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> waiting{0};
  // Each of 4 tasks waits until all 4 have started: only 4 threads at once can finish.
  RunParallel(4, 4, [&](int64_t) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    }
    waiting.fetch_add(1);
    while (waiting.load() < 4) std::this_thread::yield();
  });
  EXPECT_EQ(ids.size(), 4u);
  ids.clear();
  RunParallel(2, 16, [&](int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_LE(ids.size(), 2u);
  RunParallel(0, 4, [](int64_t) { FAIL() << "no task to run"; });
}

TEST(ParallelTasksTest, ResolveThreadCount) {
  EXPECT_EQ(ResolveThreadCount(3), 3);
  EXPECT_GE(ResolveThreadCount(0), 1);
  EXPECT_GE(ResolveThreadCount(-2), 1);
}

}  // namespace
}  // namespace tessera
