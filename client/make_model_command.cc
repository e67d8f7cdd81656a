#include "client/make_model_command.h"

#include <iostream>
#include <memory>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "authoring/bpe_merge_learner.h"
#include "authoring/checkpoint_writer.h"
#include "authoring/safetensors_writer.h"
#include "client/merge_training_text.h"
#include "client/model_presets.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

namespace fs = std::filesystem;

// 256 byte tokens + merged tokens + kNumSpecialTokens special tokens.
constexpr int kVocabSize = 2048;
constexpr int kNumSpecialTokens = 64;
constexpr int kIdMultiple = 64;
constexpr const char* kBos = "<|begin_of_text|>";
constexpr const char* kEos = "<|end_of_text|>";

const std::vector<std::string>& ModelFiles() {
  static const auto* files =
      new std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors",
                                   "tokenizer.json", "tokenizer_config.json"};
  return *files;
}

std::string GenerationConfigJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_ids.size() == 1 ? nlohmann::ordered_json(c.eos_token_ids[0])
                                                  : nlohmann::ordered_json(c.eos_token_ids);
  j["do_sample"] = false;  // the weights are random: greedy is as good as anything
  return j.dump(2) + "\n";
}

int64_t NumParameters(const ModelConfig& c) {
  const int64_t layer = c.hidden_size * (c.q_size() + 2 * c.kv_size()) +
                        c.q_size() * c.hidden_size + 3 * c.hidden_size * c.intermediate_size +
                        2 * c.hidden_size;
  return 2 * c.vocab_size * c.hidden_size + c.num_hidden_layers * layer + c.hidden_size;
}

}  // namespace

absl::StatusOr<tokenizer::ByteLevelTokenizerFiles> MakeModelTokenizer(int64_t model_max_length) {
  tokenizer::ByteLevelTokenizerSpec spec;
  auto merges =
      tokenizer::LearnByteLevelMerges(MergeTrainingText(), kVocabSize - 256 - kNumSpecialTokens);
  if (!merges.ok()) return merges.status();
  spec.merges = *std::move(merges);
  spec.special_tokens = {kBos, kEos, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
  spec.bos_token = kBos;
  spec.eos_token = kEos;
  spec.model_max_length = model_max_length;
  // Reserved tokens fill the ids up to a multiple of 64 (2048 with the full set of merges), so
  // that every id the model can sample decodes. How many depends on the tokens the merges made.
  auto files = tokenizer::MakeByteLevelTokenizerFiles(spec);
  if (!files.ok()) return files.status();
  const int end = (files->num_ids + kIdMultiple - 1) / kIdMultiple * kIdMultiple;
  for (int i = 0; files->num_ids + i < end; ++i) {
    spec.special_tokens.push_back(absl::StrCat("<|reserved_special_token_", i, "|>"));
  }
  return tokenizer::MakeByteLevelTokenizerFiles(spec);
}

absl::StatusOr<MadeModel> MakeModel(const MakeModelOptions& o) {
  absl::StatusOr<ModelConfig> config = PresetModelConfig(o.preset);
  if (!config.ok()) return config.status();
  absl::StatusOr<DType> dtype = ParseWeightDType(o.dtype);
  if (!dtype.ok()) return dtype.status();
  if (o.dir.empty()) return absl::InvalidArgumentError("DIR is empty");
  auto tok = MakeModelTokenizer(config->max_position_embeddings);
  if (!tok.ok()) return tok.status();
  config->vocab_size = tok->num_ids;
  config->bos_token_id = tok->bos_id;
  config->eos_token_ids = {tok->eos_id};

  absl::StatusOr<fs::path> staging = MakeStagingDirectory(o.dir);
  if (!staging.ok()) return staging.status();
  absl::Cleanup remove_staging = [&] {
    std::error_code ec;
    fs::remove_all(*staging, ec);
  };
  RandomCheckpointOptions weights;
  weights.dtype = *dtype;
  weights.seed = o.seed;
  if (absl::Status s = WriteRandomCheckpoint(staging->string(), *config, weights); !s.ok()) {
    return s;
  }
  for (const auto& [name, text] :
       {std::pair{"generation_config.json", GenerationConfigJson(*config)},
        std::pair{"tokenizer.json", tok->tokenizer_json},
        std::pair{"tokenizer_config.json", tok->tokenizer_config_json}}) {
    if (absl::Status s = WriteFileAtomically((*staging / name).string(), text); !s.ok()) return s;
  }
  InstallRequest install;
  install.staging = *staging;
  install.dir = o.dir;
  install.files = ModelFiles();
  install.shadowing_files = {"model.safetensors.index.json"};
  install.force = o.force;
  absl::StatusOr<InstallOutcome> outcome = InstallModelDirectory(install);
  if (!outcome.ok()) return outcome.status();
  return MadeModel{*outcome, *std::move(config)};
}

int RunMakeModel(const MakeModelOptions& o) {
  absl::StatusOr<MadeModel> made = MakeModel(o);
  if (!made.ok()) {
    std::cerr << "tessera make-model: " << made.status().message() << "\n";
    return absl::IsInvalidArgument(made.status()) || absl::IsAlreadyExists(made.status()) ? 2 : 1;
  }
  std::cerr << "tessera make-model: ";
  switch (made->outcome) {
    case InstallOutcome::kCreated:
      std::cerr << "wrote ";
      break;
    case InstallOutcome::kReplaced:
      std::cerr << "overwrote with ";
      break;
    case InstallOutcome::kUnchanged:
      std::cerr << "already holds ";
      break;
  }
  std::cerr << o.preset << " (" << NumParameters(made->config) << " parameters, " << o.dtype
            << ", seed " << o.seed << ") in " << o.dir << "\n";
  return 0;
}

void AddMakeModelCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<MakeModelOptions>();
  CLI::App* cmd = app.add_subcommand(
      "make-model", "Write a random-weight model with its own tokenizer (no downloads)");
  cmd->add_option("dir", o->dir, "Directory to write")->required();
  cmd->add_option("--preset", o->preset, "tiny-llama | llama-mini | llama-small")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "bf16 | f16 | f32")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed of the weights")->capture_default_str();
  cmd->add_flag("--force", o->force, "Overwrite the model files of a DIR that holds others");
  cmd->callback([o, exit_code] { *exit_code = RunMakeModel(*o); });
}

}  // namespace tessera
