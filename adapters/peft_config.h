// A PEFT LoRA adapter_config.json, parsed and checked, and PEFT's rules for which module of the
// base model it adapts with which rank and alpha.
//
// Accepted: peft_type "LORA", r, lora_alpha, use_rslora, target_modules (a list of names or a regex
// string, or "all-linear"), exclude_modules, rank_pattern, alpha_pattern, layers_to_transform
// (an int or a list) with layers_pattern, fan_in_fan_out (PEFT resets it to false for nn.Linear
// layers, so the weights keep nn.Linear's layout either way), bias "none". Refused, with a reason
// naming the field: any other peft_type or bias, use_dora, modules_to_save, lora_bias, use_qalora,
// layer_replication, target_parameters, trainable_token_indices, alora_invocation_tokens and
// arrow_config when set (each changes the forward pass beyond y += scale * B A x). Other fields
// (task_type, inference_mode, lora_dropout, base_model_name_or_path, init_lora_weights, revision,
// ...) do not change inference and are ignored.
//
// Regexes (target_modules as a string, exclude_modules as a string, rank_pattern and alpha_pattern
// keys, layers_pattern) are Python `re` patterns in PEFT; here they are compiled as std::regex
// ECMAScript, which agrees on the syntax adapter configs use (., *, +, ?, |, groups, classes, \d,
// \w, \.). Python-only syntax such as (?P<name>...) fails to compile and is refused. With
// libstdc++ they run on its polynomial-time executor, so a hostile pattern cannot make loading take
// exponential time; back-references are then refused.
//
// Immutable after parsing; thread-safe.
#ifndef TESSERA_ADAPTERS_PEFT_CONFIG_H_
#define TESSERA_ADAPTERS_PEFT_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

// Longest regex accepted from a config (bounds compile time and the compiler's recursion).
inline constexpr size_t kMaxPeftRegexLength = 1024;

// Largest scale (lora_alpha / r, or / sqrt(r) with use_rslora) accepted for any module. Real
// adapters use 0.25 to about 32 (PEFT's default alpha = r gives 1; alpha = 2r gives 2; rsLoRA with
// alpha = 2r and r = 256 gives 32), so the bound leaves them a factor of 300 or more; a scale like
// 1e37 (lora_alpha 1e38) overflows fp32 and bf16 (both top out near 3.4e38) on the first token.
// The weights' own bounds are in peft_loader.h.
inline constexpr double kMaxLoraScale = 1e4;

// A list of module names or a regex, as PEFT's target_modules and exclude_modules are.
struct PeftModuleSelector {
  std::vector<std::string> names;           // list form: a path matches an entry equal to it or its
                                            // "." + entry suffix
  std::optional<std::string> pattern;       // string form: the whole path must match (re.fullmatch)
  std::shared_ptr<const std::regex> regex;  // compiled `pattern`

  bool empty() const { return names.empty() && !pattern.has_value(); }
  // Whether the full module path (e.g. "model.layers.3.self_attn.q_proj") is selected.
  bool Matches(std::string_view module_path) const;
  // Whether the list form names `module_path` itself (not only a suffix of it).
  bool NamesExactly(std::string_view module_path) const;
};

// A rank_pattern or alpha_pattern entry: PEFT tries the keys in file order and takes the first
// whose regex matches the module path or one of its dot-separated suffixes.
template <typename T>
struct PeftPattern {
  std::string key;
  std::shared_ptr<const std::regex> regex;  // "(.*\.)?(KEY)", matched against the whole path
  T value;
};

struct PeftLoraConfig {
  int32_t r = 8;
  double lora_alpha = 8;
  bool use_rslora = false;
  bool fan_in_fan_out = false;  // accepted; no effect on nn.Linear weights (see above)
  PeftModuleSelector target_modules;
  bool all_linear = false;  // target_modules "all-linear": every projection of every layer
  PeftModuleSelector exclude_modules;
  std::vector<PeftPattern<int32_t>> rank_pattern;
  std::vector<PeftPattern<double>> alpha_pattern;
  std::vector<int64_t> layers_to_transform;  // empty: every layer
  std::vector<std::string> layers_pattern;   // empty: any "<name>.<index>." segment
  std::vector<std::shared_ptr<const std::regex>> layers_pattern_regex;

  // PEFT's check_target_module_exists for the module at `module_path`.
  bool Targets(std::string_view module_path) const;
  // Rank and alpha of that module (patterns applied), and the scale the forward pass uses:
  // alpha / r, or alpha / sqrt(r) with use_rslora.
  int32_t RankFor(std::string_view module_path) const;
  double AlphaFor(std::string_view module_path) const;
  double ScaleFor(std::string_view module_path) const;
  // Largest rank any module can get (r and every rank_pattern value).
  int32_t MaxConfiguredRank() const;
};

// Parses adapter_config.json text; `source` names the file in errors. Every refusal is
// InvalidArgument naming the field and why.
absl::StatusOr<PeftLoraConfig> ParsePeftLoraConfig(std::string_view json_text,
                                                   std::string_view source);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_PEFT_CONFIG_H_
