#include "engine/weight_tally.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {

void WeightTally::Add(const std::string& label, int64_t bytes) {
  for (auto& [l, b] : entries_) {
    if (l == label) {
      b += bytes;
      return;
    }
  }
  entries_.emplace_back(label, bytes);
}

int64_t WeightTally::total() const {
  int64_t t = 0;
  for (const auto& e : entries_) t += e.second;
  return t;
}

std::string WeightTally::ToString() const {
  const int64_t t = total();
  if (t == 0) return "weights 0 B";
  double unit = 1024.0;
  const char* name = "KiB";
  if (t >= int64_t{1} << 30) {
    unit = 1024.0 * 1024.0 * 1024.0;
    name = "GiB";
  } else if (t >= int64_t{1} << 20) {
    unit = 1024.0 * 1024.0;
    name = "MiB";
  }
  std::vector<std::pair<std::string, int64_t>> sorted = entries_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out = absl::StrFormat("weights %.1f %s:", static_cast<double>(t) / unit, name);
  for (size_t i = 0; i < sorted.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? " " : ", ", sorted[i].first,
                    absl::StrFormat(" %.1f", static_cast<double>(sorted[i].second) / unit));
  }
  return out;
}

}  // namespace tessera
