// How a backend turns a checkpoint's weights into the ones it computes with: vLLM's --dtype (the
// type of unquantized weights) and --quantization's on-load methods (engine/quant/).
//
// Value types and a parser; thread-compatible.
#ifndef TESSERA_ENGINE_WEIGHT_LOAD_OPTIONS_H_
#define TESSERA_ENGINE_WEIGHT_LOAD_OPTIONS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/quant/on_load_quantizer.h"

namespace tessera {

// --dtype: kAuto keeps each tensor's checkpoint type (the CUDA engine stores bf16); the others
// round every unquantized weight to that type at load. The CPU reference computes in fp32 either
// way, so with bfloat16 or float16 it computes with exactly the weights a 16-bit GPU holds.
enum class WeightDType : uint8_t { kAuto, kFloat32, kBFloat16, kFloat16 };

// vLLM's spellings: auto, float32 | float, bfloat16, float16 | half. InvalidArgument naming the
// flag and the valid values otherwise.
absl::StatusOr<WeightDType> ParseDTypeFlag(std::string_view flag);
// "auto", "float32", "bfloat16", "float16".
const char* WeightDTypeName(WeightDType t);

struct WeightLoadOptions {
  WeightDType dtype = WeightDType::kAuto;
  OnLoadQuantization quantization;  // of an unquantized checkpoint's decoder Linears
  // Threads that read and convert tensors (--num-weight-load-threads); 0: the hardware's count.
  // Any count loads the same bits.
  int32_t num_threads = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_WEIGHT_LOAD_OPTIONS_H_
