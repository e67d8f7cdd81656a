#include "engine/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cpu/linear.h"

namespace tessera {

void PagedAttention(const float* q, const std::vector<int32_t>& qo_indptr,
                    const std::vector<int64_t>& num_cached, const PageTable& pages,
                    const CpuKvCache& cache, int64_t layer, const AttentionShape& shape,
                    float* out) {
  const int64_t d = shape.head_dim, heads = shape.num_heads;
  const int64_t group = heads / shape.num_kv_heads;
  const int32_t bs = cache.block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t num_seqs = static_cast<int64_t>(num_cached.size());
  const int64_t num_tokens = qo_indptr.back();

  // Which sequence each token belongs to, so (token, head) pairs can be spread over threads.
  std::vector<int32_t> seq_of(num_tokens);
  for (int64_t s = 0; s < num_seqs; ++s) {
    std::fill(seq_of.begin() + qo_indptr[s], seq_of.begin() + qo_indptr[s + 1],
              static_cast<int32_t>(s));
  }

#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 4) collapse(2)
    for (int64_t t = 0; t < num_tokens; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        const int32_t s = seq_of[t];
        const int64_t pos = num_cached[s] + (t - qo_indptr[s]);
        const int64_t lo =
            shape.sliding_window > 0 ? std::max<int64_t>(0, pos - shape.sliding_window + 1) : 0;
        const int64_t kvh = h / group;
        const float* qh = q + (t * heads + h) * d;
        scores.resize(pos - lo + 1);
        float max = -std::numeric_limits<float>::infinity();
        for (int64_t j = lo; j <= pos; ++j) {
          const float* k = cache.Slot(layer, pages.block_of(s, j, bs), 0, j % bs) + kvh * d;
          scores[j - lo] = Dot(qh, k, d) * scale;
          max = std::max(max, scores[j - lo]);
        }
        float sum = 0;
        for (float& x : scores) {
          x = std::exp(x - max);
          sum += x;
        }
        float* o = out + (t * heads + h) * d;
        std::fill(o, o + d, 0.0f);
        for (int64_t j = lo; j <= pos; ++j) {
          const float* v = cache.Slot(layer, pages.block_of(s, j, bs), 1, j % bs) + kvh * d;
          const float w = scores[j - lo] / sum;
          for (int64_t i = 0; i < d; ++i) o[i] += w * v[i];
        }
      }
    }
  }
}

}  // namespace tessera
