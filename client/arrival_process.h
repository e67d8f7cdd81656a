// Random processes that drive `tessera bench-serve`: when requests arrive and which adapter each
// one names.
//
// ArrivalProcess draws the gaps between arrivals of a renewal process with a given mean rate:
// exponential gaps (a Poisson process, coefficient of variation 1) or gamma gaps with a chosen
// coefficient of variation (CV > 1: bursts and lulls; CV < 1: more regular than Poisson). A
// gamma with shape k has CV 1/sqrt(k), so k = 1/CV^2 and the scale is 1/(rate k).
//
// ZipfSampler draws rank i (0-based) of n with probability proportional to 1/(i+1)^s: a few
// adapters take most of the traffic and a long tail takes the rest, as adapter popularity does in
// multi-LoRA serving traces; s = 0 is uniform.
//
// Both are small value types; the random engine is the caller's, so they are as thread-safe as
// the engine passed in (not at all: one engine per thread).
#ifndef TESSERA_CLIENT_ARRIVAL_PROCESS_H_
#define TESSERA_CLIENT_ARRIVAL_PROCESS_H_

#include <cstddef>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

enum class ArrivalKind { kPoisson, kGamma };

// "poisson" | "gamma"; INVALID_ARGUMENT otherwise.
absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view name);
absl::string_view ArrivalKindName(ArrivalKind kind);

class ArrivalProcess {
 public:
  // `rate`: mean arrivals per second, > 0 (infinity: every gap is 0, all requests at once).
  // `cv`: the gaps' coefficient of variation for kGamma, > 0; kPoisson requires cv == 1.
  static absl::StatusOr<ArrivalProcess> Create(ArrivalKind kind, double rate, double cv);

  // Seconds until the next arrival.
  double NextGap(std::mt19937_64& rng);

  double rate() const { return rate_; }

 private:
  ArrivalProcess(double rate, std::gamma_distribution<double> gaps) : rate_(rate), gaps_(gaps) {}

  double rate_;
  // Exponential gaps are gamma gaps of shape 1, so one distribution serves both kinds.
  std::gamma_distribution<double> gaps_;
};

class ZipfSampler {
 public:
  // `n` >= 1 ranks, exponent `s` >= 0.
  static absl::StatusOr<ZipfSampler> Create(size_t n, double s);

  size_t Sample(std::mt19937_64& rng) { return ranks_(rng); }
  // The probability of rank i, for reports and tests.
  double Probability(size_t i) const { return probabilities_[i]; }

 private:
  explicit ZipfSampler(std::vector<double> weights);

  std::vector<double> probabilities_;
  std::discrete_distribution<size_t> ranks_;
};

}  // namespace tessera

#endif  // TESSERA_CLIENT_ARRIVAL_PROCESS_H_
