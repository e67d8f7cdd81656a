#include "engine/quant/random_packed_linear.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"
#include "engine/quant/on_load_quantizer.h"

namespace tessera {
namespace {

// SplitMix64: fast enough to fill an 8B model's codes (gigabytes) in seconds.
uint64_t Next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void AppendF16(float v, std::vector<uint8_t>* out) {
  const uint16_t h = FloatToF16(v);
  out->push_back(static_cast<uint8_t>(h));
  out->push_back(static_cast<uint8_t>(h >> 8));
}

}  // namespace

PackedLinear RandomPackedLinear(PackedKind kind, int64_t n, int64_t k, float scale, uint64_t seed) {
  PackedLinear p;
  p.module = "random";
  p.kind = kind;
  p.out_features = n;
  p.in_features = k;
  const int64_t cols = kind == PackedKind::kInt4 || kind == PackedKind::kNf4 ? 32 : 16;
  p.padded_in = (k + cols - 1) / cols * cols;
  p.codes.resize(static_cast<size_t>(n * p.row_bytes()));
  uint64_t state = seed;
  for (size_t i = 0; i < p.codes.size(); i += 8) {
    const uint64_t r = Next(state);
    std::memcpy(p.codes.data() + i, &r, std::min<size_t>(8, p.codes.size() - i));
  }
  if (kind == PackedKind::kFp8) {
    for (uint8_t& c : p.codes) c = (c & 0x7f) == 0x7f ? c ^ 1 : c;  // no NaN codes
  }
  p.scale_type = p.zero_type = PackedParamType::kF16;
  auto uniform = [&state]() { return static_cast<float>(Next(state) >> 40) * 0x1.0p-24f; };
  if (kind == PackedKind::kNf4) {
    p.block_size = kNf4BlockSize;
    std::copy(Nf4CodeBook().begin(), Nf4CodeBook().end(), p.codebook.begin());
    for (int64_t b = 0; b < (n * k + p.block_size - 1) / p.block_size; ++b) {
      AppendF16(scale * (0.5f + 0.5f * uniform()), &p.scales);
    }
    p.label = "nf4 b64 random";
    return p;
  }
  p.group_size = kind == PackedKind::kInt4 && k % kInt4GroupSize == 0 ? kInt4GroupSize : k;
  // Largest |code - zero|: 8 (int4), 128 (int8), 448 (FP8).
  const float range = kind == PackedKind::kInt4   ? 8.0f
                      : kind == PackedKind::kInt8 ? 128.0f
                                                  : 448.0f;
  const float zero = kind == PackedKind::kInt4 ? 8.0f : 128.0f;
  for (int64_t i = 0; i < n * p.num_groups(); ++i) {
    AppendF16(scale / range * (0.5f + 0.5f * uniform()), &p.scales);
    if (kind != PackedKind::kFp8) AppendF16(zero, &p.zeros);
  }
  p.label = absl::StrCat(PackedKindName(kind), " random");
  return p;
}

}  // namespace tessera
