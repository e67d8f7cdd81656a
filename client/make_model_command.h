// `tessera make-model DIR`: writes a random-weight Llama-shaped model that needs nothing from
// outside, with its own byte-level BPE tokenizer: the model tesserad serves by default.
//
//   tessera make-model DIR [--preset llama-mini] [--seed 0] [--dtype bf16] [--force]
//
// DIR gets config.json, generation_config.json, model.safetensors (one file), tokenizer.json and
// tokenizer_config.json. The tokenizer is the same for every preset and seed: 256 byte tokens,
// 1728 tokens from merges learned from a built-in English text (client/merge_training_text.cc)
// and 64 special tokens (<|begin_of_text|> = BOS, <|end_of_text|> = EOS, the other Llama 3 chat
// tokens and reserved ones), 2048 ids in all; the preset's vocab_size, bos and eos are replaced by
// the tokenizer's. The weights depend on the preset, --seed and --dtype.
//
// Idempotent: the output is a function of the options, so when DIR already holds exactly those
// files the command succeeds without touching them. A DIR that holds anything else (another
// model, other files in place of these) is an error unless --force, which overwrites the five
// files (and removes a model.safetensors.index.json, which a loader would read instead) and
// leaves other files alone. A new DIR appears whole: the files are written beside it first.
//
// Exit codes: 0 done, 1 filesystem failure, 2 bad arguments or DIR holds something else.
#ifndef TESSERA_CLIENT_MAKE_MODEL_COMMAND_H_
#define TESSERA_CLIENT_MAKE_MODEL_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "authoring/byte_level_tokenizer_writer.h"
#include "client/model_dir_install.h"
#include "engine/model_config.h"

namespace tessera {

struct MakeModelOptions {
  std::string dir;
  std::string preset = "llama-mini";
  std::string dtype = "bf16";
  uint64_t seed = 0;
  bool force = false;
};

// The tokenizer make-model writes, for a model whose context is `model_max_length`.
absl::StatusOr<tokenizer::ByteLevelTokenizerFiles> MakeModelTokenizer(int64_t model_max_length);

struct MadeModel {
  InstallOutcome outcome;
  ModelConfig config;  // as written to config.json
};

// Writes the model (see above). InvalidArgument for bad options, AlreadyExists when DIR holds
// something else and not `force`.
absl::StatusOr<MadeModel> MakeModel(const MakeModelOptions& options);

// Runs the command, reporting to stderr; returns the exit code.
int RunMakeModel(const MakeModelOptions& options);

void AddMakeModelCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_MAKE_MODEL_COMMAND_H_
