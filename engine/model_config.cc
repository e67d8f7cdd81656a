#include "engine/model_config.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/json_fields.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Bounds far beyond any real model; they keep later size arithmetic (products of two fields) far
// from int64 overflow and turn corrupted files into errors rather than huge allocations.
constexpr int64_t kMaxSize = int64_t{1} << 24;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxPositions = int64_t{1} << 30;
constexpr int64_t kMaxTokenId = (int64_t{1} << 31) - 1;
constexpr size_t kMaxTokenList = 1024;
constexpr uintmax_t kMaxFileBytes = uintmax_t{16} << 20;

enum class Arch { kLlama, kMistral, kQwen2 };

// Appends the token id(s) of `v` (null, an integer or a list of integers) to `ids`, skipping ids
// already there so that config.json's order is kept.
absl::Status AddTokenIds(const JsonFields& f, std::string_view key, const Json& v,
                         std::vector<int64_t>& ids) {
  auto add = [&ids](int64_t id) {
    for (int64_t x : ids) {
      if (x == id) return;
    }
    ids.push_back(id);
  };
  if (v.is_null()) return absl::OkStatus();
  if (v.is_array()) {
    if (v.size() > kMaxTokenList) {
      return f.Error(
          absl::StrCat(f.Name(key), " has ", v.size(), " entries (at most ", kMaxTokenList, ")"));
    }
    for (size_t i = 0; i < v.size(); ++i) {
      TESSERA_ASSIGN_OR_RETURN(int64_t id,
                               f.Int(absl::StrCat(Sv(key), "[", i, "]"), v[i], 0, kMaxTokenId));
      add(id);
    }
    return absl::OkStatus();
  }
  if (!v.is_number_integer()) return f.TypeError(key, "an integer or a list of integers", v);
  TESSERA_ASSIGN_OR_RETURN(int64_t id, f.Int(key, v, 0, kMaxTokenId));
  add(id);
  return absl::OkStatus();
}

absl::Status ParseArchitecture(const JsonFields& f, ModelConfig& c, Arch& arch) {
  constexpr std::string_view kSupported = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";
  const Json* list = f.Find("architectures");
  if (list == nullptr) return f.Error("\"architectures\" is required");
  if (!list->is_array()) return f.TypeError("architectures", "a list of strings", *list);
  std::string names;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& v = (*list)[i];
    if (!v.is_string()) {
      return f.TypeError(absl::StrCat("architectures[", i, "]"), "a string", v);
    }
    const std::string& name = v.get_ref<const std::string&>();
    if (name == "LlamaForCausalLM" || name == "MistralForCausalLM" || name == "Qwen2ForCausalLM") {
      c.architecture = name;
      break;
    }
    if (i < 4) absl::StrAppend(&names, names.empty() ? "" : ", ", QuoteForError(name));
  }
  if (c.architecture.empty()) {
    return f.Error(absl::StrCat("\"architectures\" [", names, "] names no supported architecture",
                                " (supported: ", Sv(kSupported), ")"));
  }
  arch = c.architecture[0] == 'L'   ? Arch::kLlama
         : c.architecture[0] == 'M' ? Arch::kMistral
                                    : Arch::kQwen2;
  // transformers' Auto classes pick the implementation by model_type, not by architectures; a
  // disagreement would make the two readings of this file differ.
  const std::string_view expected = arch == Arch::kLlama     ? "llama"
                                    : arch == Arch::kMistral ? "mistral"
                                                             : "qwen2";
  TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> model_type, f.OptionalString("model_type"));
  if (model_type && *model_type != expected) {
    return f.Error(absl::StrCat("\"model_type\" ", QuoteForError(*model_type), " does not match ",
                                c.architecture, " (expected \"", Sv(expected), "\")"));
  }
  c.model_type = model_type.value_or(std::string(expected));
  return absl::OkStatus();
}

absl::Status ParseShapes(const JsonFields& f, Arch arch, ModelConfig& c) {
  TESSERA_ASSIGN_OR_RETURN(c.vocab_size, f.RequiredInt("vocab_size", 1, kMaxSize));
  TESSERA_ASSIGN_OR_RETURN(c.hidden_size, f.RequiredInt("hidden_size", 1, kMaxSize));
  TESSERA_ASSIGN_OR_RETURN(c.intermediate_size, f.RequiredInt("intermediate_size", 1, kMaxSize));
  TESSERA_ASSIGN_OR_RETURN(c.num_hidden_layers, f.RequiredInt("num_hidden_layers", 1, kMaxLayers));
  TESSERA_ASSIGN_OR_RETURN(c.num_attention_heads,
                           f.RequiredInt("num_attention_heads", 1, kMaxSize));

  // Absent: each class's __init__ default (Mistral 8, Qwen2 32); null: num_attention_heads.
  const Json* kv = f.Find("num_key_value_heads");
  std::string kv_note;
  if (kv == nullptr && arch != Arch::kLlama) {
    c.num_key_value_heads = arch == Arch::kMistral ? 8 : 32;
    kv_note = ", transformers' default when absent";
  } else if (kv == nullptr || kv->is_null()) {
    c.num_key_value_heads = c.num_attention_heads;
  } else {
    TESSERA_ASSIGN_OR_RETURN(c.num_key_value_heads, f.Int("num_key_value_heads", *kv, 1, kMaxSize));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.Error(absl::StrCat("\"num_key_value_heads\" (", c.num_key_value_heads, kv_note,
                                ") must divide \"num_attention_heads\" (", c.num_attention_heads,
                                ")"));
  }

  TESSERA_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, f.OptionalInt("head_dim", 1, kMaxSize));
  if (head_dim) {
    c.head_dim = *head_dim;
  } else if (c.hidden_size % c.num_attention_heads != 0) {
    return f.Error(absl::StrCat("\"hidden_size\" (", c.hidden_size,
                                ") must be divisible by \"num_attention_heads\" (",
                                c.num_attention_heads, ") when \"head_dim\" is absent"));
  } else {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) {
    return f.Error(absl::StrCat("\"head_dim\" (", c.head_dim, head_dim ? "" : ", derived",
                                ") must be even: RoPE rotates pairs of dimensions"));
  }
  if (c.q_size() > kMaxSize) {
    return f.Error(absl::StrCat("\"num_attention_heads\" * \"head_dim\" (", c.q_size(),
                                ") must be at most ", kMaxSize));
  }

  // All three architectures compute the MLP with SiLU; "hidden_activation" is Gemma's spelling.
  for (std::string_view key : {"hidden_act", "hidden_activation"}) {
    const Json* v = key == "hidden_act" ? f.Find(key) : f.FindNonNull(key);
    if (v == nullptr) continue;
    if (!v->is_string()) return f.TypeError(key, "a string", *v);
    if (v->get_ref<const std::string&>() != "silu") {
      return f.Error(absl::StrCat(f.Name(key), " ", QuoteForError(v->get_ref<const std::string&>()),
                                  " is not supported (supported: silu)"));
    }
  }

  TESSERA_ASSIGN_OR_RETURN(std::optional<double> eps, f.OptionalPositive("rms_norm_eps"));
  c.rms_norm_eps = eps.value_or(1e-6);
  if (c.rms_norm_eps >= 1) {
    return f.Error(absl::StrCat("\"rms_norm_eps\" (", c.rms_norm_eps, ") must be less than 1"));
  }
  const int64_t default_positions = arch == Arch::kLlama     ? 2048
                                    : arch == Arch::kMistral ? 4096 * 32
                                                             : 32768;
  TESSERA_ASSIGN_OR_RETURN(c.max_position_embeddings,
                           f.IntOr("max_position_embeddings", default_positions, 1, kMaxPositions));
  TESSERA_ASSIGN_OR_RETURN(c.tie_word_embeddings, f.BoolOr("tie_word_embeddings", false));
  return absl::OkStatus();
}

// transformers 5 keeps RoPE settings in "rope_parameters" (rope_theta included); older configs
// have a top-level "rope_theta" and an optional "rope_scaling".
absl::Status ParseRope(const JsonFields& f, ModelConfig& c) {
  // As transformers 5 does (`rope_scaling or rope_parameters`): a non-empty legacy field wins.
  std::string name = "rope_scaling";
  const Json* params = f.FindNonNull(name);
  if (params == nullptr || (params->is_object() && params->empty())) {
    name = "rope_parameters";
    params = f.FindNonNull(name);
  }
  if (params != nullptr && !params->is_object()) return f.TypeError(name, "an object", *params);
  const Json empty = Json::object();
  const JsonFields p(params != nullptr ? *params : empty, f.source(), name + ".");
  if (p.Find("full_attention") != nullptr || p.Find("sliding_attention") != nullptr) {
    return f.Error(absl::StrCat("\"", name, "\" per layer type is not supported"));
  }

  TESSERA_ASSIGN_OR_RETURN(std::optional<double> theta, p.OptionalPositive("rope_theta"));
  if (!theta) {
    TESSERA_ASSIGN_OR_RETURN(theta, f.OptionalPositive("rope_theta"));
  }
  c.rope_theta = theta.value_or(10000.0);

  for (const JsonFields* source : {&p, &f}) {
    TESSERA_ASSIGN_OR_RETURN(std::optional<double> partial,
                             source->OptionalPositive("partial_rotary_factor"));
    if (partial && *partial != 1.0) {
      return source->Error(absl::StrCat(source->Name("partial_rotary_factor"), " (", *partial,
                                        ") is not supported: RoPE must rotate the whole head"));
    }
  }

  const std::string_view type_key = p.FindNonNull("rope_type") != nullptr ? "rope_type" : "type";
  TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> type, p.OptionalString(type_key));
  RopeScaling& s = c.rope_scaling;
  s = RopeScaling();
  if (!type || *type == "default") return absl::OkStatus();
  if (*type == "linear") {
    s.type = RopeScalingType::kLinear;
    TESSERA_ASSIGN_OR_RETURN(s.factor, p.RequiredPositive("factor"));
    return absl::OkStatus();
  }
  if (*type == "llama3") {
    s.type = RopeScalingType::kLlama3;
    TESSERA_ASSIGN_OR_RETURN(s.factor, p.RequiredPositive("factor"));
    TESSERA_ASSIGN_OR_RETURN(s.low_freq_factor, p.RequiredPositive("low_freq_factor"));
    TESSERA_ASSIGN_OR_RETURN(s.high_freq_factor, p.RequiredPositive("high_freq_factor"));
    TESSERA_ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                             p.RequiredInt("original_max_position_embeddings", 1, kMaxPositions));
    // The smoothing between the two wavelength bounds divides by (high - low).
    if (s.low_freq_factor >= s.high_freq_factor) {
      return f.Error(absl::StrCat("\"", name, ".low_freq_factor\" (", s.low_freq_factor,
                                  ") must be less than \"", name, ".high_freq_factor\" (",
                                  s.high_freq_factor, ")"));
    }
    return absl::OkStatus();
  }
  return f.Error(absl::StrCat(name, " type ", QuoteForError(*type),
                              " is not supported (supported: default, linear, llama3)"));
}

absl::Status ParseSlidingWindows(const JsonFields& f, Arch arch, ModelConfig& c) {
  const int64_t layers = c.num_hidden_layers;
  c.layer_sliding_window.assign(static_cast<size_t>(layers), 0);

  // Mistral and Qwen2 default to 4096 when the field is absent; null means no window.
  auto window = [&f]() -> absl::StatusOr<int64_t> {
    const Json* v = f.Find("sliding_window");
    if (v == nullptr) return 4096;
    if (v->is_null()) return 0;
    return f.Int("sliding_window", *v, 1, kMaxPositions);
  };
  if (arch == Arch::kMistral) {
    // MistralModel slides every layer and ignores layer_types.
    TESSERA_ASSIGN_OR_RETURN(const int64_t w, window());
    c.layer_sliding_window.assign(static_cast<size_t>(layers), w);
    return absl::OkStatus();
  }

  std::vector<bool> sliding;
  if (const Json* types = f.FindNonNull("layer_types"); types != nullptr) {
    if (!types->is_array()) return f.TypeError("layer_types", "a list of strings", *types);
    if (static_cast<int64_t>(types->size()) != layers) {
      return f.Error(absl::StrCat("\"layer_types\" has ", types->size(),
                                  " entries, but \"num_hidden_layers\" is ", layers));
    }
    for (int64_t i = 0; i < layers; ++i) {
      const Json& t = (*types)[static_cast<size_t>(i)];
      const std::string key = absl::StrCat("layer_types[", i, "]");
      if (!t.is_string()) return f.TypeError(key, "a string", t);
      const std::string& s = t.get_ref<const std::string&>();
      if (s != "full_attention" && s != "sliding_attention") {
        return f.Error(absl::StrCat(f.Name(key), " ", QuoteForError(s),
                                    " is not supported (supported: full_attention, "
                                    "sliding_attention)"));
      }
      sliding.push_back(s == "sliding_attention");
    }
  }

  if (arch == Arch::kLlama) {
    for (int64_t i = 0; i < static_cast<int64_t>(sliding.size()); ++i) {
      if (sliding[i]) {
        return f.Error(absl::StrCat("\"layer_types[", i, "]\" is \"sliding_attention\", but ",
                                    c.architecture, " has no sliding-window attention"));
      }
    }
    return absl::OkStatus();
  }

  // Qwen2Config drops sliding_window unless use_sliding_window, then (without layer_types) slides
  // the layers from max_window_layers on.
  TESSERA_ASSIGN_OR_RETURN(const bool use, f.BoolOr("use_sliding_window", false));
  TESSERA_ASSIGN_OR_RETURN(const int64_t first_sliding,
                           f.IntOr("max_window_layers", 28, 0, kMaxPositions));
  int64_t w = 0;
  if (use) {
    TESSERA_ASSIGN_OR_RETURN(w, window());
  }
  for (int64_t i = 0; i < layers; ++i) {
    const bool slides = sliding.empty() ? w > 0 && i >= first_sliding : sliding[i];
    if (slides && w <= 0) {
      return f.Error(absl::StrCat(
          "\"layer_types[", i, "]\" is \"sliding_attention\", but there is no positive ",
          "\"sliding_window\"", use ? "" : " (\"use_sliding_window\" is false)"));
    }
    if (slides) c.layer_sliding_window[static_cast<size_t>(i)] = w;
  }
  return absl::OkStatus();
}

absl::Status ParseSpecialTokens(const JsonFields& f, Arch arch, ModelConfig& c) {
  // LlamaConfig and MistralConfig default to bos 1 / eos 2 when absent; Qwen2Config to none.
  const bool ids_default = arch != Arch::kQwen2;
  const Json* bos = f.Find("bos_token_id");
  if (bos == nullptr) {
    c.bos_token_id = ids_default ? 1 : -1;
  } else if (bos->is_null()) {
    c.bos_token_id = -1;
  } else {
    TESSERA_ASSIGN_OR_RETURN(c.bos_token_id, f.Int("bos_token_id", *bos, 0, kMaxTokenId));
  }
  c.eos_token_ids.clear();
  const Json* eos = f.Find("eos_token_id");
  if (eos == nullptr) {
    if (ids_default) c.eos_token_ids.push_back(2);
    return absl::OkStatus();
  }
  return AddTokenIds(f, "eos_token_id", *eos, c.eos_token_ids);
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view config_json,
                                             std::string_view source) {
  TESSERA_ASSIGN_OR_RETURN(const Json root, ParseJsonObject(config_json, source));
  const JsonFields f(root, source);
  ModelConfig c;
  Arch arch = Arch::kLlama;
  TESSERA_RETURN_IF_ERROR(ParseArchitecture(f, c, arch));
  TESSERA_RETURN_IF_ERROR(ParseShapes(f, arch, c));
  TESSERA_RETURN_IF_ERROR(ParseRope(f, c));
  switch (arch) {
    case Arch::kLlama: {  // attention_bias covers q, k, v and o.
      TESSERA_ASSIGN_OR_RETURN(c.qkv_bias, f.BoolOr("attention_bias", false));
      c.o_bias = c.qkv_bias;
      TESSERA_ASSIGN_OR_RETURN(c.mlp_bias, f.BoolOr("mlp_bias", false));
      break;
    }
    case Arch::kQwen2:  // Qwen2Attention hard-codes q/k/v bias and ignores attention_bias.
      c.qkv_bias = true;
      break;
    case Arch::kMistral:
      break;
  }
  TESSERA_RETURN_IF_ERROR(ParseSlidingWindows(f, arch, c));
  TESSERA_RETURN_IF_ERROR(ParseSpecialTokens(f, arch, c));
  if (const Json* q = f.FindNonNull("quantization_config"); q != nullptr) {
    if (!q->is_object()) return f.TypeError("quantization_config", "an object", *q);
    TESSERA_ASSIGN_OR_RETURN(c.quantization, ParseQuantizationConfig(q->dump(), source));
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const fs::path dir(model_dir);
  const fs::path config_path = dir / "config.json";
  TESSERA_ASSIGN_OR_RETURN(const std::string text, ReadSmallFile(config_path, kMaxFileBytes));
  TESSERA_ASSIGN_OR_RETURN(ModelConfig config, ParseModelConfig(text, config_path.string()));

  // The generation defaults may list more stop tokens (e.g. Llama 3 Instruct's <|eot_id|>).
  const fs::path gen_path = dir / "generation_config.json";
  absl::StatusOr<std::string> gen_text = ReadSmallFile(gen_path, kMaxFileBytes);
  if (absl::IsNotFound(gen_text.status())) return config;
  if (!gen_text.ok()) return gen_text.status();
  TESSERA_ASSIGN_OR_RETURN(const Json gen, ParseJsonObject(*gen_text, gen_path.string()));
  const JsonFields g(gen, gen_path.string());
  if (const Json* eos = g.Find("eos_token_id"); eos != nullptr) {
    TESSERA_RETURN_IF_ERROR(AddTokenIds(g, "eos_token_id", *eos, config.eos_token_ids));
  }
  return config;
}

}  // namespace tessera
