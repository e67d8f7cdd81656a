// `tessera generate`: offline generation of a batch of requests on a model.
#ifndef TESSERA_CLIENT_GENERATE_COMMAND_H_
#define TESSERA_CLIENT_GENERATE_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace tessera {

struct GenerateCommandOptions {
  std::string model_dir;
  std::string backend = "cpu";
  std::string quantization;  // vLLM's --quantization (engine_loader.h)
  bool nf4_double_quant = false;
  std::string dtype = "auto";  // vLLM's --dtype
  std::string requests_file;   // JSON Lines; "-" = stdin
  // tokenizer.json or its directory; empty: the model directory's, when it has one.
  std::string tokenizer;
  // One request from flags instead of a file: token ids, or text (needs a tokenizer).
  std::string token_ids;
  std::optional<std::string> text;
  // Unset: the model's generation_config.json default (see generation_config), else 16 and 0.
  std::optional<int32_t> max_tokens;
  std::optional<double> temperature;
  // vLLM's --generation-config: "auto" (the model's generation_config.json supplies defaults for
  // unset sampling fields), "vllm" (ignore it), or a folder holding a generation_config.json.
  std::string generation_config = "auto";
  int32_t logprobs = 0;
  int32_t prompt_logprobs = 0;
  // Engine and batching.
  int64_t kv_cache_bytes = int64_t{1} << 30;
  int32_t num_kv_blocks = 0;
  int32_t block_size = 16;
  int32_t max_num_batched_tokens = 2048;
  int32_t max_num_seqs = 256;
  int64_t max_model_len = 0;  // the longest request (prompt + max_tokens); 0: the model's context
  bool enable_prefix_caching = true;
  int32_t threads = 0;
  double gpu_memory_utilization = 0.9;  // cuda: share of the card for weights + workspace + KV
  // LoRA adapters: requests name them with "adapter".
  std::string adapter_dir;            // adapters loaded by name (DIR/<name>) on first use
  std::vector<std::string> adapters;  // NAME=DIR, loaded before running
  int32_t max_loras = 8;              // engine adapter slots
  int32_t max_lora_rank = 64;
};

// Registers the subcommand on `app`; `*exit_code` receives its result when it runs.
void AddGenerateCommand(CLI::App& app, int* exit_code);

// Runs the command: results to stdout as JSON Lines, a summary and errors to stderr.
// Returns the process exit code: 0 success, 1 runtime failure, 2 bad input.
int RunGenerate(const GenerateCommandOptions& options);

}  // namespace tessera

#endif  // TESSERA_CLIENT_GENERATE_COMMAND_H_
