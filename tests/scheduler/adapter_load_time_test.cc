// AdapterLoadTime: the prior rate before any load, then the measured rate, following a change
// with the decay; loads that measured nothing are ignored.
#include "scheduler/adapter_load_time.h"

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(AdapterLoadTimeTest, PriorThenMeasuredRateWithDecay) {
  AdapterLoadTime t(/*prior_bytes_per_second=*/1e9, /*decay=*/0.5);
  EXPECT_EQ(t.Predict(2'000'000), absl::Milliseconds(2));  // 1 GB/s
  t.Observe(1'000'000, absl::Milliseconds(10));            // 100 MB/s measured
  EXPECT_EQ(t.Predict(2'000'000), absl::Milliseconds(20));
  // A faster load: sums 0.5 * (1 MB, 10 ms) + (1 MB, 2 ms) = 1.5 MB in 7 ms.
  t.Observe(1'000'000, absl::Milliseconds(2));
  EXPECT_NEAR(absl::ToDoubleMilliseconds(t.Predict(1'500'000)), 7.0, 1e-9);
  // Nothing learnt from an empty or instant load.
  t.Observe(0, absl::Milliseconds(5));
  t.Observe(1'000'000, absl::ZeroDuration());
  EXPECT_NEAR(absl::ToDoubleMilliseconds(t.Predict(1'500'000)), 7.0, 1e-9);
}

}  // namespace
}  // namespace tessera
