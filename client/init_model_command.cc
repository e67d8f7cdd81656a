#include "client/init_model_command.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint_writer.h"

namespace tessera {

absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& preset) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.max_position_embeddings = 4096;
  if (preset == "tiny-llama") {
    c.hidden_size = 64;
    c.intermediate_size = 192;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.rope_theta = 10000;
  } else if (preset == "llama-small") {
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    c.rope_theta = 500000;
    c.max_position_embeddings = 8192;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--preset: unknown \"", preset, "\" (known: tiny-llama, llama-small)"));
  }
  c.layer_sliding_window.assign(c.num_hidden_layers, 0);
  return c;
}

void AddInitModelCommand(CLI::App& app, int* exit_code) {
  struct Options {
    std::string out, preset = "tiny-llama", dtype = "bf16";
    int shards = 1;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("init-model", "Write a random-weight model directory");
  cmd->add_option("--out", o->out, "Directory to write")->required();
  cmd->add_option("--preset", o->preset, "tiny-llama | llama-small")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "bf16 | f16 | f32")->capture_default_str();
  cmd->add_option("--shards", o->shards, "Number of safetensors shards")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([o, exit_code] {
    absl::StatusOr<ModelConfig> config = PresetModelConfig(o->preset);
    RandomCheckpointOptions options;
    options.num_shards = o->shards;
    options.seed = o->seed;
    absl::Status s = config.status();
    if (o->dtype == "bf16") {
      options.dtype = DType::kBF16;
    } else if (o->dtype == "f16") {
      options.dtype = DType::kF16;
    } else if (o->dtype == "f32") {
      options.dtype = DType::kF32;
    } else {
      s = absl::InvalidArgumentError(absl::StrCat("--dtype: unknown \"", o->dtype, "\""));
    }
    if (s.ok()) s = WriteRandomCheckpoint(o->out, *config, options);
    if (!s.ok()) {
      std::cerr << "tessera init-model: " << s.message() << "\n";
      *exit_code = absl::IsInvalidArgument(s) ? 2 : 1;
      return;
    }
    std::cerr << "tessera init-model: wrote " << o->preset << " to " << o->out << "\n";
  });
}

}  // namespace tessera
