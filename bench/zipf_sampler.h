// Power-law (Zipf) popularity over n items: item k (0-based) is drawn with probability
// proportional to 1 / (k + 1)^alpha, so item 0 is the most popular. alpha = 1 is the classic Zipf
// law that adapter traffic in multi-tenant serving is usually modelled with (S-LoRA, Punica).
//
// Immutable after construction; Sample takes the caller's generator, so one sampler can be shared.
#ifndef TESSERA_BENCH_ZIPF_SAMPLER_H_
#define TESSERA_BENCH_ZIPF_SAMPLER_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace tessera {

class ZipfSampler {
 public:
  // n >= 1, alpha >= 0 (0: uniform).
  ZipfSampler(int32_t n, double alpha) : cdf_(std::max(n, 1)) {
    double sum = 0;
    for (size_t k = 0; k < cdf_.size(); ++k) cdf_[k] = sum += std::pow(double(k + 1), -alpha);
    for (double& c : cdf_) c /= sum;
    cdf_.back() = 1.0;  // no rounding gap above the last item
  }

  int32_t n() const { return static_cast<int32_t>(cdf_.size()); }
  // The probability of item k.
  double Probability(int32_t k) const { return k == 0 ? cdf_[0] : cdf_[k] - cdf_[k - 1]; }

  template <typename Rng>
  int32_t Sample(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<int32_t>(std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace tessera

#endif  // TESSERA_BENCH_ZIPF_SAMPLER_H_
