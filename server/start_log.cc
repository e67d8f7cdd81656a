#include "server/start_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {

std::vector<std::string> StartLogLines(const std::vector<PhaseTimer::Phase>& phases) {
  std::vector<std::string> lines;
  double total = 0;
  std::string summary;
  for (const PhaseTimer::Phase& p : phases) {
    lines.push_back(absl::StrFormat("tesserad: start phase=%s seconds=%.4f", p.name, p.seconds));
    absl::StrAppend(&summary, absl::StrFormat(" %s=%.4f", p.name, p.seconds));
    total += p.seconds;
  }
  lines.push_back(absl::StrFormat("tesserad: start summary total_seconds=%.4f%s", total, summary));
  return lines;
}

}  // namespace tessera
