#include "bench/slo_sim_bound.h"

#include <algorithm>

#include "absl/time/time.h"

namespace tessera {

WorkBound MinimumWork(const std::vector<SimArrival>& arrivals, const StepTimeCoefficients& cost) {
  WorkBound b;
  if (arrivals.empty()) return b;
  struct Window {
    double begin, end;
    int64_t steps;
  };
  std::vector<Window> windows;
  windows.reserve(arrivals.size());
  b.begin = arrivals.front().at;
  b.end = b.begin;
  for (const SimArrival& a : arrivals) {
    const GenerateRequest& r = a.request;
    const auto prompt = static_cast<int64_t>(r.prompt_token_ids.size());
    const int64_t k = std::max<int32_t>(1, r.max_tokens);
    const bool adapter = r.adapter != nullptr;
    b.prefill_seconds +=
        cost.per_prefill_token * static_cast<double>(prompt) +
        cost.per_attended_token * static_cast<double>(StepShape::AttendedByChunk(0, prompt)) +
        (adapter ? cost.per_adapter_row * static_cast<double>(prompt) : 0.0);
    // Output j (j = 2..k) is sampled by feeding output j-1, which attends prompt + j - 1.
    const auto decodes = static_cast<double>(k - 1);
    const double attended = decodes * static_cast<double>(prompt) + decodes * (decodes + 1) / 2;
    b.decode_seconds += cost.per_decode_sequence * decodes + cost.per_attended_token * attended +
                        (adapter ? cost.per_adapter_row * decodes : 0.0);
    const double end =
        a.at + absl::ToDoubleSeconds(r.ttft_target.value_or(absl::ZeroDuration()) +
                                     (k - 1) * r.tpot_target.value_or(absl::ZeroDuration()));
    windows.push_back({a.at, end, k});
    b.end = std::max(b.end, end);
  }
  // The largest total of steps over pairwise disjoint windows: by end, best[i] = the best over
  // the first i windows.
  std::sort(windows.begin(), windows.end(),
            [](const Window& x, const Window& y) { return x.end < y.end; });
  std::vector<int64_t> best(windows.size() + 1, 0);
  for (size_t i = 0; i < windows.size(); ++i) {
    // Windows that end strictly before this one begins (a step ends in one window only).
    const auto before = static_cast<size_t>(
        std::lower_bound(windows.begin(), windows.begin() + static_cast<std::ptrdiff_t>(i),
                         windows[i].begin, [](const Window& w, double t) { return w.end < t; }) -
        windows.begin());
    best[i + 1] = std::max(best[i], best[before] + windows[i].steps);
  }
  b.min_steps = best.back();
  b.step_seconds = cost.constant * static_cast<double>(b.min_steps);
  return b;
}

}  // namespace tessera
