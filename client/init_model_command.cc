#include "client/init_model_command.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "authoring/checkpoint_writer.h"
#include "client/model_presets.h"

namespace tessera {

void AddInitModelCommand(CLI::App& app, int* exit_code) {
  struct Options {
    std::string out, preset = "tiny-llama", dtype = "bf16";
    int shards = 1;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("init-model", "Write a random-weight model directory");
  cmd->add_option("--out", o->out, "Directory to write")->required();
  cmd->add_option("--preset", o->preset, "tiny-llama | llama-mini | llama-small")
      ->capture_default_str();
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
    absl::StatusOr<DType> dtype = ParseWeightDType(o->dtype);
    absl::Status s = config.ok() ? dtype.status() : config.status();
    if (dtype.ok()) options.dtype = *dtype;
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
