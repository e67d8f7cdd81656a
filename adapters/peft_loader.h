// Loads a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) for a base
// model, checking it against that model, into the engine's LoraWeights (fp32).
//
// The safetensors file goes through the project's hardened parser; tensors may be F32, BF16 or F16.
// Tensor names are PEFT's saved names, `base_model.model.<module path>.lora_{A,B}.weight` with
// <module path> `model.layers.<L>.self_attn.{q,k,v,o}_proj` or `model.layers.<L>.mlp.
// {gate,up,down}_proj` (PEFT strips the adapter name, e.g. ".default", when it saves, so names
// carrying one are unexpected). Refused with InvalidArgument naming the file and tensor: a pickle
// adapter_model.bin alone, a tensor the config does not call for (a bias, lora_embedding_*, a
// module the model lacks such as c_attn, a layer index >= num_hidden_layers), a missing A or B,
// shapes other than A [r, in_features] and B [out_features, r] with r the configured rank, a rank
// above max_lora_rank, non-finite values, and values that make an overflow likely (the bounds
// below). A missing directory or adapter_config.json is NotFound.
// Both files are read through ReadAdapterFile: a file whose real path leaves the folder (a symlink
// to elsewhere) is refused. Messages name files as they are named in the folder and never quote a
// file that fails to parse; absolute paths and the parser's message are the error's detail
// (adapter_error.h), for the operator's log.
//
// Thread-safe (no shared state); the result is immutable.
#ifndef TESSERA_ADAPTERS_PEFT_LOADER_H_
#define TESSERA_ADAPTERS_PEFT_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/peft_config.h"
#include "engine/dtype.h"
#include "engine/lora_weights.h"
#include "engine/model_config.h"

namespace tessera {

struct PeftLoadOptions {
  int32_t max_lora_rank = 64;  // --max-lora-rank
  // Bound on adapter_model.safetensors (read whole into memory before parsing).
  int64_t max_file_bytes = int64_t{8} << 30;
};

struct PeftAdapter {
  PeftLoraConfig config;
  std::shared_ptr<const LoraWeights> weights;  // validated against the model (Validate)
  // Summary for listings: the largest rank actually loaded, the projections adapted in at least one
  // layer (enum order) and the element types found in the file (sorted, distinct).
  int32_t max_rank = 0;
  std::vector<LoraModule> target_modules;
  std::vector<DType> file_dtypes;
  int64_t num_bytes = 0;   // fp32 A and B in memory (weights->num_bytes())
  int64_t file_bytes = 0;  // adapter_config.json + adapter_model.safetensors
  // SHA-256 (lowercase hex) of adapter_config.json's bytes followed by adapter_model.safetensors':
  // `cat adapter_config.json adapter_model.safetensors | sha256sum` gives the same.
  std::string digest;
};

// Bounds on the weights, so that an adapter cannot silently turn the model's outputs into NaN
// (fp32 and bf16 both overflow near 3.4e38; RMSNorm squares its input, so activations past about
// 1e19 are already fatal). Trained A and B entries stay within about +-1 (the fixture adapters: at
// most 0.49; A starts at +-1/sqrt(in_features)), so both bounds leave real adapters three orders
// of magnitude or more. The scale's bound is kMaxLoraScale (peft_config.h).
//
// Largest |entry| of any lora_A or lora_B.
inline constexpr double kMaxLoraWeight = 1e3;
// Largest gain of one projection: |scale| * max_i sum_j |B[i][j]| * sum_k |A[j][k]|, the factor
// by which the adapter's addition to an output, |scale * (B A x)_i|, can exceed the largest input
// element max_k |x_k|. The fixture adapters have at most 26; a rank-64 adapter of an 8B model
// (in_features up to 14336) with scale 2, A near its +-1/sqrt(in_features) start and B entries
// of 0.1 comes to about 1e3. A projection's input in a healthy model is at most about 1e3, so an
// adapted projection then adds at most about 1e9, whose squares stay far inside fp32. The weight
// bound alone would still allow 1e3 * 1e3 * 1e4 * rank * in_features.
inline constexpr double kMaxLoraGain = 1e6;

inline constexpr char kPeftConfigName[] = "adapter_config.json";
inline constexpr char kPeftWeightsName[] = "adapter_model.safetensors";

absl::StatusOr<PeftAdapter> LoadPeftAdapter(const std::string& dir, const ModelConfig& model,
                                            const PeftLoadOptions& options = {});

// PEFT's module path of a projection, e.g. "model.layers.3.self_attn.q_proj".
std::string PeftModulePath(int64_t layer, LoraModule m);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_PEFT_LOADER_H_
