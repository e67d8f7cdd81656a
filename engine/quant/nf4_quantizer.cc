// NormalFloat-4 on-load quantizer (QLoRA, as bitsandbytes lays it out); see on_load_quantizer.h.
//
// Codes are chosen from x * (1 / absmax) as bitsandbytes computes them, with the fp32 absmax; the
// double quantization then compresses only the absmax, so the weights dequantize with the
// compressed absmax while their codes came from the exact one, as in bitsandbytes.
#include <algorithm>
#include <cmath>

#include "engine/quant/on_load_quantizer.h"

namespace tessera {
namespace {

// torch.linspace(start, end, steps) in fp32: from the start for the first half, from the end for
// the second (so both ends are exact), as PyTorch evaluates it.
std::vector<float> Linspace(float start, float end, int steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int half = steps / 2;
  for (int i = 0; i < steps; ++i) {
    v[static_cast<size_t>(i)] = i < half ? start + step * static_cast<float>(i)
                                         : end - step * static_cast<float>(steps - 1 - i);
  }
  return v;
}

std::array<float, 256> BuildDynamicMap() {
  // Signed, 7 exponent bits, 8 bits in all: decade 10^(i-6) holds 2^i means of consecutive points
  // of linspace(0.1, 1, 2^i + 1), positive and negative; then 0 and 1.
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> b = Linspace(0.1f, 1.0f, (1 << i) + 1);
    const auto decade = static_cast<float>(std::pow(10.0, i - 6));
    for (size_t j = 0; j + 1 < b.size(); ++j) {
      const float mean = (b[j] + b[j + 1]) / 2.0f;
      data.push_back(decade * mean);
      data.push_back(-(decade * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> map{};
  std::copy(data.begin(), data.end(), map.begin());
  return map;
}

// bitsandbytes' double quantization of the absmax: their mean is subtracted, and what is left is
// coded in the dynamic map with one fp32 absmax per block of 256. Returns the dequantized values.
std::vector<float> DoubleQuantize(const std::vector<float>& absmax) {
  double sum = 0;
  for (float a : absmax) sum += a;
  const auto offset = static_cast<float>(sum / static_cast<double>(absmax.size()));
  const std::array<float, 256>& map = DynamicMap8();
  std::vector<float> out(absmax.size());
  for (size_t start = 0; start < absmax.size(); start += kNf4DoubleQuantBlockSize) {
    const size_t end = std::min(absmax.size(), start + kNf4DoubleQuantBlockSize);
    float amax = 0;
    for (size_t i = start; i < end; ++i) amax = std::max(amax, std::fabs(absmax[i] - offset));
    const float inv = amax == 0.0f ? 0.0f : 1.0f / amax;
    for (size_t i = start; i < end; ++i) {
      const int c = NearestCode(map.data(), 256, (absmax[i] - offset) * inv);
      out[i] = map[static_cast<size_t>(c)] * amax + offset;
    }
  }
  return out;
}

}  // namespace

const std::array<float, 16>& Nf4CodeBook() {
  static constexpr std::array<float, 16> kCodes = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f,
  };
  return kCodes;
}

const std::array<float, 256>& DynamicMap8() {
  static const std::array<float, 256> kMap = BuildDynamicMap();
  return kMap;
}

absl::StatusOr<QuantizedLinear> QuantizeNf4(const std::string& module, const std::vector<float>& w,
                                            int64_t n, int64_t k, bool double_quant,
                                            int64_t block_size) {
  QuantizedLinear q;
  q.module = module;
  q.format = double_quant ? "double-quant on-load" : "on-load";
  q.values_tensor = module + ".weight";
  q.scales_tensor = module + ".weight (on-load absmax)";
  q.bits = 4;
  q.out_features = n;
  q.in_features = k;
  q.group_size = k;
  q.block_size = block_size;
  const std::array<float, 16>& codes = Nf4CodeBook();
  q.codebook.assign(codes.begin(), codes.end());
  // The nearest code is the number of midpoints below x (ties go to the lower code): 15
  // comparisons the compiler vectorizes, where a binary search per weight was 5x slower.
  std::array<float, 15> mid;
  for (int i = 0; i < 15; ++i) mid[i] = (codes[i] + codes[i + 1]) / 2.0f;
  const int64_t total = n * k;
  q.values.resize(static_cast<size_t>(total));
  q.scales.resize(static_cast<size_t>(q.num_scales()));
  for (int64_t b = 0; b < q.num_scales(); ++b) {
    const int64_t start = b * block_size, end = std::min(total, start + block_size);
    float absmax = 0;
    for (int64_t i = start; i < end; ++i) absmax = std::max(absmax, std::fabs(w[i]));
    const float inv = absmax == 0.0f ? 0.0f : 1.0f / absmax;  // a zero block codes as 0.0
    for (int64_t i = start; i < end; ++i) {
      const float x = w[i] * inv;
      uint8_t c = 0;
      for (float m : mid) c += static_cast<uint8_t>(m < x);
      q.values[static_cast<size_t>(i)] = c;
    }
    q.scales[static_cast<size_t>(b)] = absmax;
  }
  const int64_t blocks = q.num_scales();
  if (double_quant) {
    q.scales = DoubleQuantize(q.scales);
    // 8-bit codes, an fp32 absmax per 256 of them and the fp32 offset.
    q.stored_bytes = (total + 1) / 2 + blocks +
                     4 * ((blocks + kNf4DoubleQuantBlockSize - 1) / kNf4DoubleQuantBlockSize) + 4;
  } else {
    q.stored_bytes = (total + 1) / 2 + 4 * blocks;
  }
  return q;
}

}  // namespace tessera
