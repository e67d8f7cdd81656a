// A checkpoint's `quantization_config` (config.json): which pre-quantized format its Linear weights
// are stored in and with which scheme.
//
// Parsed from hostile input: every field is checked, and anything tessera cannot reproduce exactly
// is an error naming the field (activation quantization such as W8A8, KV-cache quantization,
// sparse or block formats, bit widths other than 4/8). The parsed config says, per module, whether
// it is quantized (SchemeFor); the format loaders in this folder read the tensors.
//
// Immutable value type; thread-compatible.
#ifndef TESSERA_ENGINE_QUANT_QUANT_CONFIG_H_
#define TESSERA_ENGINE_QUANT_QUANT_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

enum class QuantMethod : uint8_t { kNone, kAwq, kGptq, kCompressedTensors };

// How one set of Linear weights is quantized.
struct QuantScheme {
  int32_t bits = 4;
  int64_t group_size = -1;    // inputs per scale; -1 = one scale per output channel (or tensor)
  bool symmetric = true;      // false: zero points are stored
  bool act_order = false;     // input k's group comes from a g_idx tensor (GPTQ desc_act)
  bool is_float = false;      // FP8 E4M3 weights (compressed-tensors float-quantized)
  bool tensor_scale = false;  // FP8 with one scale for the whole tensor
  // compressed-tensors only: "Linear" (every Linear), a module name, or "re:" + a regex on it.
  std::vector<std::string> targets;
};

struct QuantConfig {
  QuantMethod method = QuantMethod::kNone;
  bool gptq_v2 = false;  // GPTQ checkpoint_format "gptq_v2": zeros stored without the -1
  std::vector<QuantScheme> schemes;  // AWQ and GPTQ: exactly one, for every decoder Linear
  // Modules left in the checkpoint's float dtype: AWQ modules_to_not_convert (substrings of the
  // module name), compressed-tensors ignore (names or "re:" regexes).
  std::vector<std::string> ignore;

  bool quantized() const { return method != QuantMethod::kNone; }
  // vLLM's --quantization name: "none", "awq", "gptq" or "compressed-tensors".
  const char* MethodName() const;
  // The scheme of Linear `module` (e.g. "model.layers.0.self_attn.q_proj"); nullptr when the module
  // is stored unquantized.
  const QuantScheme* SchemeFor(const std::string& module) const;
};

// Parses the JSON text of a `quantization_config` object; `source` names the file in errors.
absl::StatusOr<QuantConfig> ParseQuantizationConfig(std::string_view json, std::string_view source);

// Checks a --quantization value (vLLM's names) against the checkpoint's config. "" (flag not given)
// always passes; a pre-quantized checkpoint needs its own method name; an unquantized one takes
// "none" or an on-load method (int8, int4, fp8, nf4, bitsandbytes). Errors say what disagrees and
// what would work.
absl::Status CheckQuantizationFlag(std::string_view flag, const QuantConfig& config);

// Unimplemented for a quantized checkpoint on the CUDA backend, whose kernels come with issue 20;
// OK otherwise.
absl::Status RefuseQuantizedOnCuda(const QuantConfig& config);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_QUANT_CONFIG_H_
