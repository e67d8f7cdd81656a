#include "client/arrival_process.h"

#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view name) {
  if (name == "poisson") return ArrivalKind::kPoisson;
  if (name == "gamma") return ArrivalKind::kGamma;
  return absl::InvalidArgumentError(
      absl::StrCat("arrival process \"", name, "\": expected poisson or gamma"));
}

absl::string_view ArrivalKindName(ArrivalKind kind) {
  return kind == ArrivalKind::kPoisson ? "poisson" : "gamma";
}

absl::StatusOr<ArrivalProcess> ArrivalProcess::Create(ArrivalKind kind, double rate, double cv) {
  if (!(rate > 0)) {  // also rejects NaN
    return absl::InvalidArgumentError(absl::StrCat("request rate ", rate, " must be > 0"));
  }
  if (!(cv > 0) || !std::isfinite(cv)) {
    return absl::InvalidArgumentError(absl::StrCat("arrival CV ", cv, " must be > 0"));
  }
  if (kind == ArrivalKind::kPoisson && cv != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Poisson process has CV 1 (asked for ", cv, "): use the gamma process"));
  }
  if (std::isinf(rate)) return ArrivalProcess(rate, std::gamma_distribution<double>());  // unused
  const double shape = 1 / (cv * cv);
  return ArrivalProcess(rate, std::gamma_distribution<double>(shape, 1 / (rate * shape)));
}

double ArrivalProcess::NextGap(std::mt19937_64& rng) {
  if (std::isinf(rate_)) return 0;
  return gaps_(rng);
}

absl::StatusOr<ZipfSampler> ZipfSampler::Create(size_t n, double s) {
  if (n == 0) return absl::InvalidArgumentError("Zipf sampler over no items");
  if (!(s >= 0) || !std::isfinite(s)) {
    return absl::InvalidArgumentError(absl::StrCat("Zipf exponent ", s, " must be >= 0"));
  }
  std::vector<double> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = std::pow(static_cast<double>(i + 1), -s);
  return ZipfSampler(std::move(weights));
}

ZipfSampler::ZipfSampler(std::vector<double> weights)
    : probabilities_(weights), ranks_(weights.begin(), weights.end()) {
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (double& p : probabilities_) p /= total;
}

}  // namespace tessera
