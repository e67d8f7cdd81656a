// The model shapes and weight types that `tessera init-model` and `tessera make-model` write.
//
//   preset       hidden  layers  heads/kv  head_dim  intermediate  context  params (vocab 32000)
//   tiny-llama       64       2     4/2        64           192      4096   the tiny-llama fixture
//   llama-mini      256       4     4/2        64           768      2048   ~20M (~4M at
//   make-model's
//                                                                          vocabulary of 2048)
//   llama-small     512       8     8/4        64          1408      8192   ~57M
//   llama-3-8b     4096      32     32/8      128         14336      8192   8.0B (vocab 128256)
//   llama-3.2-1b   2048      16     32/8       64          8192    131072   1.2B (vocab 128256,
//                                                                          tied, llama3 RoPE)
//
// Every preset is a LlamaForCausalLM; the small ones have untied embeddings and vocab_size 32000,
// BOS 1 and EOS 2 as placeholders that make-model replaces with its tokenizer's. The llama-3
// shapes are Meta's (for `tessera plan`; init-model would write gigabytes of random weights).
#ifndef TESSERA_CLIENT_MODEL_PRESETS_H_
#define TESSERA_CLIENT_MODEL_PRESETS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/dtype.h"
#include "engine/model_config.h"

namespace tessera {

// InvalidArgument naming the known presets for any other name.
absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& preset);

// "bf16", "f16" or "f32", as the commands' --dtype spells it.
absl::StatusOr<DType> ParseWeightDType(std::string_view flag);

}  // namespace tessera

#endif  // TESSERA_CLIENT_MODEL_PRESETS_H_
