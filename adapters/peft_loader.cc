#include "adapters/peft_loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "adapters/adapter_error.h"
#include "adapters/adapter_file.h"
#include "adapters/sha256.h"
#include "engine/json_fields.h"
#include "engine/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr uintmax_t kMaxConfigBytes = 1 << 20;
constexpr char kPickleName[] = "adapter_model.bin";
constexpr char kTensorPrefix[] = "base_model.model.";

bool IsAttention(LoraModule m) {
  return m == LoraModule::kQ || m == LoraModule::kK || m == LoraModule::kV || m == LoraModule::kO;
}

// What a PEFT tensor name says, whether or not the model has it.
struct TensorName {
  int64_t layer = 0;
  LoraModule module = LoraModule::kQ;
  bool is_a = true;
};

// Strict parse of `base_model.model.model.layers.<L>.<self_attn|mlp>.<proj>.lora_<A|B>.weight`.
std::optional<TensorName> ParseTensorName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kTensorPrefix) || !absl::ConsumePrefix(&name, "model.layers.")) {
    return std::nullopt;
  }
  TensorName t;
  if (absl::ConsumeSuffix(&name, ".lora_A.weight")) {
    t.is_a = true;
  } else if (absl::ConsumeSuffix(&name, ".lora_B.weight")) {
    t.is_a = false;
  } else {
    return std::nullopt;
  }
  const size_t dot = name.find('.');
  if (dot == absl::string_view::npos || dot == 0 || dot > 9) return std::nullopt;
  const absl::string_view digits = name.substr(0, dot);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(digits, &t.layer)) {
    return std::nullopt;
  }
  name.remove_prefix(dot + 1);
  const bool attention = absl::ConsumePrefix(&name, "self_attn.");
  if (!attention && !absl::ConsumePrefix(&name, "mlp.")) return std::nullopt;
  const std::optional<LoraModule> m = LoraModuleFromName(name);
  if (!m.has_value() || IsAttention(*m) != attention) return std::nullopt;
  t.module = *m;
  return t;
}

std::string TensorNameOf(int64_t layer, LoraModule m, bool is_a) {
  return absl::StrCat(kTensorPrefix, PeftModulePath(layer, m), is_a ? ".lora_A" : ".lora_B",
                      ".weight");
}

// Tensor names run past QuoteForError's 64 characters; still bounded (the header is hostile).
std::string QuoteName(absl::string_view name) {
  constexpr size_t kMax = 256;
  return absl::StrCat("\"", name.substr(0, kMax), name.size() > kMax ? "...\"" : "\"");
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// kMaxLoraGain's measure of a pair (in double: it must not overflow where the model would).
double LoraGain(const LoraPair& p) {
  std::vector<double> a_row_sums(static_cast<size_t>(p.rank), 0.0);
  for (int32_t j = 0; j < p.rank; ++j) {
    for (int64_t k = 0; k < p.in_features; ++k)
      a_row_sums[j] += std::abs(p.a[j * p.in_features + k]);
  }
  double worst = 0;
  for (int64_t i = 0; i < p.out_features; ++i) {
    double row = 0;
    for (int32_t j = 0; j < p.rank; ++j) row += std::abs(p.b[i * p.rank + j]) * a_row_sums[j];
    worst = std::max(worst, row);
  }
  return std::abs(double{p.scale}) * worst;
}

// One projection the config adapts: where its tensors are and the rank it must have.
struct Expected {
  int64_t layer;
  LoraModule module;
  std::string path;
  int32_t rank;
};

class AdapterReader {
 public:
  AdapterReader(const SafetensorsFile& file, const ModelConfig& model)
      : file_(file), model_(model) {}

  absl::Status Error(absl::string_view tensor, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(kPeftWeightsName, ": tensor ", QuoteName(tensor), ": ", message));
  }

  // Every tensor of the file must be an A or B the config calls for.
  absl::Status CheckNoUnexpected(const PeftLoraConfig& config) const {
    for (const auto& [name, view] : file_.tensors()) {
      const std::optional<TensorName> t = ParseTensorName(name);
      if (!t.has_value()) {
        return Error(name,
                     "unexpected: not the lora_A or lora_B weight of a projection the base model "
                     "has (q/k/v/o_proj, gate/up/down_proj of model.layers.<L>)");
      }
      if (t->layer >= model_.num_hidden_layers) {
        return Error(name, absl::StrCat("layer index ", t->layer, " is outside the base model's ",
                                        model_.num_hidden_layers, " layers"));
      }
      if (!config.Targets(PeftModulePath(t->layer, t->module))) {
        return Error(name, "unexpected: adapter_config.json does not target this module");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<LoraPair> ReadPair(const Expected& e, float scale, std::set<DType>& dtypes) const {
    const std::string a_name = TensorNameOf(e.layer, e.module, true);
    const std::string b_name = TensorNameOf(e.layer, e.module, false);
    const TensorView* a = file_.Find(a_name);
    const TensorView* b = file_.Find(b_name);
    for (const auto& [view, name] : {std::pair{a, &a_name}, std::pair{b, &b_name}}) {
      if (view == nullptr) {
        return Error(*name, absl::StrCat("missing: adapter_config.json targets ", e.path));
      }
      if (!IsFloatWeightDType(view->dtype)) {
        return Error(*name, absl::StrCat("dtype ", DTypeName(view->dtype),
                                         ": adapter weights must be BF16, F16 or F32"));
      }
    }
    const int64_t in = LoraModuleInFeatures(model_, e.module);
    const int64_t out = LoraModuleOutFeatures(model_, e.module);
    if (a->shape.size() != 2 || a->shape[1] != in) {
      return Error(a_name, absl::StrCat("shape ", ShapeString(a->shape), ", expected [rank, ", in,
                                        "] for ", e.path));
    }
    if (b->shape.size() != 2 || b->shape[0] != out) {
      return Error(b_name, absl::StrCat("shape ", ShapeString(b->shape), ", expected [", out,
                                        ", rank] for ", e.path));
    }
    if (a->shape[0] != b->shape[1]) {
      return Error(b_name,
                   absl::StrCat("rank ", b->shape[1], " differs from lora_A's rank ", a->shape[0]));
    }
    if (a->shape[0] != e.rank) {
      return Error(a_name, absl::StrCat("rank ", a->shape[0], ", but adapter_config.json gives ",
                                        e.path, " rank ", e.rank));
    }
    LoraPair p;
    p.rank = e.rank;
    p.scale = scale;
    p.in_features = in;
    p.out_features = out;
    for (const auto& [view, dst] : {std::pair{a, &p.a}, std::pair{b, &p.b}}) {
      dst->resize(static_cast<size_t>(view->NumElements()));
      ConvertToFloat(view->dtype, view->data.data(), dst->size(), dst->data());
      if (!std::all_of(dst->begin(), dst->end(), [](float x) { return std::isfinite(x); })) {
        return Error(view->name, "holds NaN or infinite values");
      }
      const auto big = std::find_if(dst->begin(), dst->end(),
                                    [](float x) { return std::abs(x) > kMaxLoraWeight; });
      if (big != dst->end()) {
        return Error(view->name, absl::StrCat("holds ", *big, " at index ", big - dst->begin(),
                                              ": entries must be within +-", kMaxLoraWeight,
                                              " (the adapted model would overflow)"));
      }
      dtypes.insert(view->dtype);
    }
    if (const double gain = LoraGain(p); gain > kMaxLoraGain) {
      return Error(b_name, absl::StrCat("with lora_A and the scale ", p.scale, ", ", e.path,
                                        " has the gain ", gain,
                                        " (|scale| * max_i sum_j |B[i][j]| * sum_k |A[j][k]|), "
                                        "above the bound ",
                                        kMaxLoraGain, ": the adapted model would overflow"));
    }
    return p;
  }

 private:
  const SafetensorsFile& file_;
  const ModelConfig& model_;
};

absl::StatusOr<std::vector<Expected>> ExpectedModules(const PeftLoraConfig& config,
                                                      const ModelConfig& model,
                                                      const PeftLoadOptions& options,
                                                      const std::string& config_path) {
  std::vector<Expected> expected;
  for (int64_t l = 0; l < model.num_hidden_layers; ++l) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      const auto m = static_cast<LoraModule>(i);
      std::string path = PeftModulePath(l, m);
      if (!config.Targets(path)) continue;
      const int32_t rank = config.RankFor(path);
      if (rank > options.max_lora_rank) {
        return absl::InvalidArgumentError(absl::StrCat(config_path, ": rank ", rank, " of ", path,
                                                       " (\"r\" or \"rank_pattern\") exceeds "
                                                       "--max-lora-rank ",
                                                       options.max_lora_rank));
      }
      if (const double scale = config.ScaleFor(path); std::abs(scale) > kMaxLoraScale) {
        return absl::InvalidArgumentError(absl::StrCat(
            config_path, ": scale ", scale, " of ", path,
            " (\"lora_alpha\" or \"alpha_pattern\" over \"r\" or \"rank_pattern\") is above the "
            "bound ",
            kMaxLoraScale, ": the adapted model would overflow"));
      }
      expected.push_back({l, m, std::move(path), rank});
    }
  }
  if (expected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path,
                     ": \"target_modules\" (with exclude_modules and layers_to_transform) selects "
                     "no projection of the base model"));
  }
  return expected;
}

}  // namespace

std::string PeftModulePath(int64_t layer, LoraModule m) {
  return absl::StrCat("model.layers.", layer, IsAttention(m) ? ".self_attn." : ".mlp.",
                      LoraModuleName(m));
}

absl::StatusOr<PeftAdapter> LoadPeftAdapter(const std::string& dir, const ModelConfig& model,
                                            const PeftLoadOptions& options) {
  absl::StatusOr<fs::path> root = CanonicalAdapterFolder(dir);
  if (!root.ok()) return root.status();
  absl::StatusOr<std::string> config_text =
      ReadAdapterFile(*root, kPeftConfigName, kMaxConfigBytes);
  if (!config_text.ok()) return config_text.status();
  // Messages name the files as they are named in the folder: they may reach remote callers.
  absl::StatusOr<PeftLoraConfig> config = ParsePeftLoraConfig(*config_text, kPeftConfigName);
  if (!config.ok()) return config.status();

  if (!AdapterFileExists(*root, kPeftWeightsName) && AdapterFileExists(*root, kPickleName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("only ", kPickleName,
                     " is present: pickle .bin files are not loaded: convert to safetensors (",
                     kPeftWeightsName, ")"));
  }
  absl::StatusOr<std::string> bytes =
      ReadAdapterFile(*root, kPeftWeightsName,
                      static_cast<uintmax_t>(std::max<int64_t>(options.max_file_bytes, 0)));
  if (!bytes.ok()) return bytes.status();

  PeftAdapter adapter;
  adapter.file_bytes = static_cast<int64_t>(config_text->size() + bytes->size());
  // Hashing the bytes that are parsed: the digest always names what was loaded.
  Sha256 sha;
  sha.Update(*config_text);
  sha.Update(*bytes);
  adapter.digest = sha.HexDigest();
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::FromBytes(*std::move(bytes), (*root / kPeftWeightsName).string());
  if (!file.ok()) {
    // The parser's message quotes the file (a header length is its first 8 bytes): detail only.
    return WithAdapterErrorDetail(absl::InvalidArgumentError(absl::StrCat(
                                      kPeftWeightsName, " is not a valid safetensors file")),
                                  file.status().message());
  }

  absl::StatusOr<std::vector<Expected>> expected =
      ExpectedModules(*config, model, options, kPeftConfigName);
  if (!expected.ok()) return expected.status();
  const AdapterReader reader(**file, model);
  if (absl::Status s = reader.CheckNoUnexpected(*config); !s.ok()) return s;

  auto weights = std::make_shared<LoraWeights>();
  weights->layers.resize(static_cast<size_t>(model.num_hidden_layers));
  std::set<DType> dtypes;
  std::set<LoraModule> modules;
  for (const Expected& e : *expected) {
    const auto scale = static_cast<float>(config->ScaleFor(e.path));
    absl::StatusOr<LoraPair> pair = reader.ReadPair(e, scale, dtypes);
    if (!pair.ok()) return pair.status();
    weights->layers[e.layer][static_cast<int>(e.module)] = *std::move(pair);
    modules.insert(e.module);
  }
  if (absl::Status s = weights->Validate(model); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  adapter.max_rank = weights->max_rank();
  adapter.num_bytes = weights->num_bytes();
  adapter.target_modules.assign(modules.begin(), modules.end());
  adapter.file_dtypes.assign(dtypes.begin(), dtypes.end());
  adapter.config = *std::move(config);
  adapter.weights = std::move(weights);
  return adapter;
}

}  // namespace tessera
