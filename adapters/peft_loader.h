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
// above max_lora_rank, non-finite values. A missing directory or adapter_config.json is NotFound.
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

inline constexpr char kPeftConfigName[] = "adapter_config.json";
inline constexpr char kPeftWeightsName[] = "adapter_model.safetensors";

absl::StatusOr<PeftAdapter> LoadPeftAdapter(const std::string& dir, const ModelConfig& model,
                                            const PeftLoadOptions& options = {});

// PEFT's module path of a projection, e.g. "model.layers.3.self_attn.q_proj".
std::string PeftModulePath(int64_t layer, LoraModule m);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_PEFT_LOADER_H_
