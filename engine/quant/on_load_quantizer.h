// On-load quantization of an unquantized (bf16/f16/f32) checkpoint's decoder Linears, vLLM's
// `--quantization int8 | int4 | fp8 | nf4` (and `bitsandbytes`, vLLM's name for NF4).
//
// Each quantizer turns one fp32 weight W [N, K] into the shared QuantizedLinear, so the CPU
// reference dequantizes it like any pre-quantized checkpoint and the GPU kernels (issue 20) read
// the same values:
//   int8: symmetric, one fp32 scale per output channel (absmax / 127), codes in [-127, 127]
//         stored offset by 128 (zero point 128);
//   int4: groups of 128 inputs with a zero point (AWQ/GPTQ's asymmetric layout): the group's range
//         widened to include 0, scale = range / 15 rounded up to an f16 value (as AWQ and GPTQ
//         store scales), zero = round(-min / scale);
//   fp8:  E4M3, one fp32 scale per output channel (absmax / 448), round to nearest even;
//   nf4:  bitsandbytes' NormalFloat-4 (QLoRA): the fixed 16-value code book, flat blocks of 64
//         elements of the row-major tensor with an fp32 absmax each, optionally double-quantized
//         (the absmax minus their mean, 8-bit codes of bitsandbytes' dynamic map in blocks of 256).
// An int8/int4/fp8 group of zeros gets scale 1 (any non-zero scale reproduces zeros exactly); an
// NF4 block of zeros keeps absmax 0, as bitsandbytes stores it.
//
// Stateless functions; thread-safe.
#ifndef TESSERA_ENGINE_QUANT_ON_LOAD_QUANTIZER_H_
#define TESSERA_ENGINE_QUANT_ON_LOAD_QUANTIZER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {

enum class OnLoadMethod : uint8_t { kNone, kInt8, kInt4, kFp8, kNf4 };

struct OnLoadQuantization {
  OnLoadMethod method = OnLoadMethod::kNone;
  bool nf4_double_quant = false;  // --nf4-double-quant
};

inline constexpr int64_t kInt4GroupSize = 128;
inline constexpr int64_t kNf4BlockSize = 64;
inline constexpr int64_t kNf4DoubleQuantBlockSize = 256;

// int8, int4, fp8, nf4 (and bitsandbytes for nf4); nullopt for anything else, "none" included.
std::optional<OnLoadMethod> OnLoadMethodNamed(std::string_view flag);

// The 16 NormalFloat-4 values of QLoRA (Dettmers et al., 2023; the constants bitsandbytes ships),
// ascending from -1 to 1 with 0 at index 7.
const std::array<float, 16>& Nf4CodeBook();
// bitsandbytes' signed 8-bit "dynamic" map (256 ascending values in [-1, 1]: 7 decades of
// linearly spaced fractions, plus 0 and 1), the code book of the double quantization.
const std::array<float, 256>& DynamicMap8();

// W [n, k] (row-major fp32) of Linear `module` quantized by `method`; InvalidArgument naming the
// module when W holds NaN or infinity, or (int4) when 128 does not divide k.
absl::StatusOr<QuantizedLinear> QuantizeOnLoad(const OnLoadQuantization& method,
                                               const std::string& module,
                                               const std::vector<float>& w, int64_t n, int64_t k);

// The quantizers QuantizeOnLoad dispatches to; same contract.
absl::StatusOr<QuantizedLinear> QuantizeInt8PerChannel(const std::string& module,
                                                       const std::vector<float>& w, int64_t n,
                                                       int64_t k);
absl::StatusOr<QuantizedLinear> QuantizeInt4Grouped(const std::string& module,
                                                    const std::vector<float>& w, int64_t n,
                                                    int64_t k, int64_t group_size = kInt4GroupSize);
absl::StatusOr<QuantizedLinear> QuantizeFp8PerChannel(const std::string& module,
                                                      const std::vector<float>& w, int64_t n,
                                                      int64_t k);
absl::StatusOr<QuantizedLinear> QuantizeNf4(const std::string& module, const std::vector<float>& w,
                                            int64_t n, int64_t k, bool double_quant,
                                            int64_t block_size = kNf4BlockSize);

// Index of the entry of an ascending code book nearest to x (ties to the lower entry).
int NearestCode(const float* codebook, int size, float x);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_ON_LOAD_QUANTIZER_H_
