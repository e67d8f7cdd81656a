// A fixed-bucket histogram as plain data (counts, sum), the shape Prometheus exports, so the
// scheduler can record latencies without knowing about metrics libraries.
#ifndef TESSERA_SCHEDULER_HISTOGRAM_H_
#define TESSERA_SCHEDULER_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace tessera {

struct Histogram {
  std::vector<double> bounds;   // ascending upper bounds; an implicit +Inf bucket follows
  std::vector<int64_t> counts;  // bounds.size() + 1, not cumulative
  double sum = 0;
  int64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds = {});
  void Observe(double value);
};

// vLLM's bucket bounds, so dashboards built for it read tessera's histograms the same way.
std::vector<double> TimeToFirstTokenBuckets();
std::vector<double> InterTokenLatencyBuckets();
std::vector<double> RequestLatencyBuckets();  // e2e and queue time
std::vector<double> TokensPerStepBuckets();
// tessera's own: an engine step's seconds, and measured / predicted step time.
std::vector<double> StepSecondsBuckets();
std::vector<double> PredictionRatioBuckets();

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_HISTOGRAM_H_
