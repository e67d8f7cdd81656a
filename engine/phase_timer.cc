#include "engine/phase_timer.h"

#include <algorithm>

namespace tessera {

void PhaseTimer::Mark(std::string_view name) {
  const auto now = std::chrono::steady_clock::now();
  Add(name, std::chrono::duration<double>(now - last_).count());
  last_ = now;
}

void PhaseTimer::Add(std::string_view name, double seconds) {
  seconds = std::max(seconds, 0.0);
  for (Phase& p : phases_) {
    if (p.name == name) {
      p.seconds += seconds;
      return;
    }
  }
  phases_.push_back({std::string(name), seconds});
}

void PhaseTimer::MarkNested(std::string_view rest, const std::vector<Phase>& inner) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  double covered = 0;
  for (const Phase& p : inner) {
    Add(p.name, p.seconds);
    covered += std::max(p.seconds, 0.0);
  }
  Add(rest, elapsed - covered);
  last_ = now;
}

double PhaseTimer::Seconds(std::string_view name) const {
  for (const Phase& p : phases_) {
    if (p.name == name) return p.seconds;
  }
  return 0;
}

double PhaseTimer::TotalSeconds() const {
  double total = 0;
  for (const Phase& p : phases_) total += p.seconds;
  return total;
}

}  // namespace tessera
