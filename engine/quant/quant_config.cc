#include "engine/quant/quant_config.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/json_fields.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace tessera {
namespace {

using Json = nlohmann::json;

// Real ignore and target patterns are a few dozen characters; RE2 runs in linear time, the cap
// only keeps error messages and compile memory small.
constexpr size_t kMaxPatternChars = 200;

// RE2 options for the patterns: Python's re semantics as far as RE2 has them, quiet on errors.
RE2::Options PatternOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(1 << 20);
  return o;
}
constexpr size_t kMaxListEntries = 4096;

absl::Status Unsupported(const JsonFields& f, std::string_view key, std::string_view what) {
  return f.Error(absl::StrCat("\"", f.Name(key), "\": ", Sv(what)));
}

// A list of strings (absent or null = empty). "re:" entries must compile.
absl::StatusOr<std::vector<std::string>> StringList(const JsonFields& f, std::string_view key) {
  std::vector<std::string> out;
  const Json* v = f.FindNonNull(key);
  if (v == nullptr) return out;
  if (!v->is_array()) return f.TypeError(key, "a list of strings", *v);
  if (v->size() > kMaxListEntries) return Unsupported(f, key, "too many entries");
  for (const Json& e : *v) {
    if (!e.is_string()) return f.TypeError(key, "a list of strings", e);
    std::string s = e.get<std::string>();
    if (absl::StartsWith(s, "re:")) {
      if (s.size() > kMaxPatternChars + 3) {
        return Unsupported(f, key,
                           absl::StrCat("regex ", QuoteForError(s), " is longer than ",
                                        kMaxPatternChars, " characters"));
      }
      const RE2 compiled(s.substr(3), PatternOptions());
      if (!compiled.ok()) {
        return Unsupported(f, key, absl::StrCat(QuoteForError(s), " is not a valid regex"));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// compressed-tensors matches "re:" patterns with Python's re.match: anchored at the start only.
bool Matches(const std::string& pattern, const std::string& module) {
  if (absl::StartsWith(pattern, "re:")) {
    const RE2 re(pattern.substr(3), PatternOptions());
    return re.ok() && re.Match(module, 0, module.size(), RE2::ANCHOR_START, nullptr, 0);
  }
  return pattern == module;
}

absl::StatusOr<int32_t> Bits(const JsonFields& f, std::string_view key) {
  const Json* v = f.FindNonNull(key);
  if (v == nullptr) return f.Error(absl::StrCat("\"", f.Name(key), "\" is missing"));
  absl::StatusOr<int64_t> bits = f.Int(key, *v, 1, 64);
  if (!bits.ok()) return bits.status();
  if (*bits != 4 && *bits != 8) {
    return Unsupported(f, key, absl::StrCat(*bits, " bits; tessera loads 4- and 8-bit weights"));
  }
  return static_cast<int32_t>(*bits);
}

// group_size: -1 (per channel) or a positive size.
absl::StatusOr<int64_t> GroupSize(const JsonFields& f, std::string_view key, int64_t fallback) {
  absl::StatusOr<int64_t> g = f.IntOr(key, fallback, -1, int64_t{1} << 24);
  if (!g.ok()) return g.status();
  if (*g == 0) return Unsupported(f, key, "0; expected -1 (per channel) or a positive size");
  return *g;
}

absl::StatusOr<QuantConfig> ParseAwq(const JsonFields& f) {
  QuantConfig c;
  c.method = QuantMethod::kAwq;
  QuantScheme s;
  absl::StatusOr<std::optional<std::string>> version = f.OptionalString("version");
  if (!version.ok()) return version.status();
  if (version->has_value() && absl::AsciiStrToLower(**version) != "gemm") {
    return Unsupported(f, "version",
                       absl::StrCat(QuoteForError(**version), "; tessera loads AWQ \"gemm\""));
  }
  // AutoAWQ's own keys (w_bit, q_group_size) as vLLM also accepts them.
  absl::StatusOr<int32_t> bits = Bits(f, f.FindNonNull("bits") != nullptr ? "bits" : "w_bit");
  if (!bits.ok()) return bits.status();
  if (*bits != 4) return Unsupported(f, "bits", "AWQ gemm checkpoints are 4-bit");
  s.bits = *bits;
  absl::StatusOr<int64_t> g =
      GroupSize(f, f.FindNonNull("group_size") != nullptr ? "group_size" : "q_group_size", 128);
  if (!g.ok()) return g.status();
  s.group_size = *g;
  absl::StatusOr<bool> zero_point = f.BoolOr("zero_point", true);
  if (!zero_point.ok()) return zero_point.status();
  if (!*zero_point) return Unsupported(f, "zero_point", "false; AWQ gemm stores zero points");
  s.symmetric = false;
  s.targets = {"Linear"};
  c.schemes.push_back(std::move(s));
  absl::StatusOr<std::vector<std::string>> skip = StringList(f, "modules_to_not_convert");
  if (!skip.ok()) return skip.status();
  c.ignore = *std::move(skip);
  return c;
}

absl::StatusOr<QuantConfig> ParseGptq(const JsonFields& f) {
  QuantConfig c;
  c.method = QuantMethod::kGptq;
  QuantScheme s;
  absl::StatusOr<int32_t> bits = Bits(f, "bits");
  if (!bits.ok()) return bits.status();
  s.bits = *bits;
  absl::StatusOr<int64_t> g = GroupSize(f, "group_size", 128);
  if (!g.ok()) return g.status();
  s.group_size = *g;
  absl::StatusOr<bool> desc_act = f.BoolOr("desc_act", false);
  if (!desc_act.ok()) return desc_act.status();
  s.act_order = *desc_act;
  absl::StatusOr<bool> sym = f.BoolOr("sym", true);
  if (!sym.ok()) return sym.status();
  s.symmetric = *sym;
  absl::StatusOr<std::optional<std::string>> format = f.OptionalString("checkpoint_format");
  if (!format.ok()) return format.status();
  if (format->has_value() && **format != "gptq") {
    if (**format != "gptq_v2") {
      return Unsupported(
          f, "checkpoint_format",
          absl::StrCat(QuoteForError(**format), "; tessera loads \"gptq\" (v1) and \"gptq_v2\""));
    }
    c.gptq_v2 = true;
  }
  if (const Json* lm = f.FindNonNull("lm_head");
      lm != nullptr && lm->is_boolean() && lm->get<bool>()) {
    return Unsupported(f, "lm_head", "true; a quantized lm_head is not supported");
  }
  s.targets = {"Linear"};
  c.schemes.push_back(std::move(s));
  return c;
}

// One compressed-tensors config group; `format` is the group's own or the top-level one.
absl::StatusOr<QuantScheme> ParseCtGroup(const JsonFields& g, const std::string& top_format) {
  QuantScheme s;
  absl::StatusOr<std::optional<std::string>> own = g.OptionalString("format");
  if (!own.ok()) return own.status();
  const std::string format = own->has_value() ? **own : top_format;
  if (const Json* in = g.FindNonNull("input_activations"); in != nullptr) {
    return Unsupported(g, "input_activations",
                       "activation quantization (W8A8 and similar) is not supported yet; only "
                       "weight-only schemes (input_activations: null) load");
  }
  if (const Json* out = g.FindNonNull("output_activations"); out != nullptr) {
    return Unsupported(g, "output_activations", "output activation quantization is not supported");
  }
  absl::StatusOr<std::vector<std::string>> targets = StringList(g, "targets");
  if (!targets.ok()) return targets.status();
  if (targets->empty()) return g.Error(absl::StrCat("\"", g.Name("targets"), "\" is empty"));
  s.targets = *std::move(targets);

  const Json* wj = g.FindNonNull("weights");
  if (wj == nullptr) return g.Error(absl::StrCat("\"", g.Name("weights"), "\" is missing"));
  if (!wj->is_object()) return g.TypeError("weights", "an object", *wj);
  const JsonFields w(*wj, g.source(), g.Name("weights") + ".");
  absl::StatusOr<int32_t> bits = Bits(w, "num_bits");
  if (!bits.ok()) return bits.status();
  s.bits = *bits;
  absl::StatusOr<std::optional<std::string>> type = w.OptionalString("type");
  if (!type.ok()) return type.status();
  const std::string t = type->value_or("int");
  absl::StatusOr<std::optional<std::string>> strategy = w.OptionalString("strategy");
  if (!strategy.ok()) return strategy.status();
  const std::string st = strategy->value_or("tensor");
  absl::StatusOr<bool> symmetric = w.BoolOr("symmetric", true);
  if (!symmetric.ok()) return symmetric.status();
  s.symmetric = *symmetric;
  absl::StatusOr<bool> dynamic = w.BoolOr("dynamic", false);
  if (!dynamic.ok()) return dynamic.status();
  if (*dynamic) return Unsupported(w, "dynamic", "true; weights must be quantized statically");
  if (w.FindNonNull("block_structure") != nullptr) {
    return Unsupported(w, "block_structure", "block-wise weight scales are not supported");
  }
  absl::StatusOr<std::optional<std::string>> actorder = w.OptionalString("actorder");
  if (!actorder.ok()) return actorder.status();
  if (actorder->has_value()) {
    if (**actorder == "group") {
      s.act_order = true;
    } else if (**actorder != "weight") {  // "weight" reorders at quantization time only
      return Unsupported(
          w, "actorder",
          absl::StrCat(QuoteForError(**actorder), "; expected \"group\", \"weight\" or null"));
    }
  }

  if (t == "float") {
    if (format != "float-quantized") {
      return Unsupported(
          g, "format",
          absl::StrCat(QuoteForError(format), " with float weights; expected float-quantized"));
    }
    if (s.bits != 8) return Unsupported(w, "num_bits", "float weights must be 8-bit (FP8 E4M3)");
    if (!s.symmetric) return Unsupported(w, "symmetric", "false; FP8 weights are symmetric");
    if (st != "channel" && st != "tensor") {
      return Unsupported(
          w, "strategy",
          absl::StrCat(QuoteForError(st), "; FP8 weights take \"channel\" or \"tensor\""));
    }
    s.is_float = true;
    s.tensor_scale = st == "tensor";
    s.group_size = -1;
    return s;
  }
  if (t != "int") {
    return Unsupported(w, "type",
                       absl::StrCat(QuoteForError(t), "; expected \"int\" or \"float\""));
  }
  if (format != "pack-quantized") {
    return Unsupported(
        g, "format",
        absl::StrCat(QuoteForError(format), " with int weights; tessera loads pack-quantized"));
  }
  if (st == "channel") {
    s.group_size = -1;
  } else if (st == "group") {
    absl::StatusOr<std::optional<int64_t>> gs = w.OptionalInt("group_size", 1, int64_t{1} << 24);
    if (!gs.ok()) return gs.status();
    if (!gs->has_value()) {
      return w.Error(absl::StrCat("\"", w.Name("group_size"), "\" is missing (strategy group)"));
    }
    s.group_size = **gs;
  } else {
    return Unsupported(
        w, "strategy",
        absl::StrCat(QuoteForError(st), "; int weights take \"group\" or \"channel\""));
  }
  if (s.act_order && st != "group") {
    return Unsupported(w, "actorder", "\"group\" needs strategy group");
  }
  return s;
}

absl::StatusOr<QuantConfig> ParseCompressedTensors(const JsonFields& f) {
  QuantConfig c;
  c.method = QuantMethod::kCompressedTensors;
  absl::StatusOr<std::optional<std::string>> format = f.OptionalString("format");
  if (!format.ok()) return format.status();
  if (const Json* kv = f.FindNonNull("kv_cache_scheme"); kv != nullptr) {
    return Unsupported(f, "kv_cache_scheme", "KV-cache quantization is not supported");
  }
  if (const Json* sp = f.FindNonNull("sparsity_config"); sp != nullptr) {
    if (!sp->is_object()) return f.TypeError("sparsity_config", "an object", *sp);
    if (!sp->empty())
      return Unsupported(f, "sparsity_config", "sparse checkpoints are not supported");
  }
  absl::StatusOr<std::optional<std::string>> status = f.OptionalString("quantization_status");
  if (!status.ok()) return status.status();
  if (status->has_value() && **status != "compressed") {
    return Unsupported(f, "quantization_status",
                       absl::StrCat(QuoteForError(**status), "; expected \"compressed\""));
  }
  const Json* groups = f.FindNonNull("config_groups");
  if (groups == nullptr)
    return f.Error(absl::StrCat("\"", f.Name("config_groups"), "\" is missing"));
  if (!groups->is_object()) return f.TypeError("config_groups", "an object", *groups);
  if (groups->empty()) return f.Error(absl::StrCat("\"", f.Name("config_groups"), "\" is empty"));
  if (groups->size() > kMaxListEntries) return Unsupported(f, "config_groups", "too many groups");
  for (const auto& [name, group] : groups->items()) {
    const std::string prefix = absl::StrCat(f.Name("config_groups"), ".", name);
    if (!group.is_object()) {
      return f.Error(absl::StrCat("\"", prefix, "\" must be an object, got ", DescribeJson(group)));
    }
    absl::StatusOr<QuantScheme> s =
        ParseCtGroup(JsonFields(group, f.source(), prefix + "."), format->value_or(""));
    if (!s.ok()) return s.status();
    c.schemes.push_back(*std::move(s));
  }
  absl::StatusOr<std::vector<std::string>> ignore = StringList(f, "ignore");
  if (!ignore.ok()) return ignore.status();
  c.ignore = *std::move(ignore);
  return c;
}

}  // namespace

const char* QuantConfig::MethodName() const {
  switch (method) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kAwq:
      return "awq";
    case QuantMethod::kGptq:
      return "gptq";
    case QuantMethod::kCompressedTensors:
      return "compressed-tensors";
  }
  return "?";
}

const QuantScheme* QuantConfig::SchemeFor(const std::string& module) const {
  if (method == QuantMethod::kNone) return nullptr;
  for (const std::string& skip : ignore) {
    // AWQ's modules_to_not_convert are substrings of the name (AutoAWQ's rule).
    if (method == QuantMethod::kAwq ? absl::StrContains(module, skip) : Matches(skip, module)) {
      return nullptr;
    }
  }
  for (const QuantScheme& s : schemes) {
    for (const std::string& target : s.targets) {
      if (target == "Linear" || Matches(target, module)) return &s;
    }
  }
  return nullptr;
}

absl::StatusOr<QuantConfig> ParseQuantizationConfig(std::string_view json,
                                                    std::string_view source) {
  absl::StatusOr<Json> root = ParseJsonObject(json, source);
  if (!root.ok()) return root.status();
  const JsonFields f(*root, source, "quantization_config.");
  absl::StatusOr<std::optional<std::string>> method = f.OptionalString("quant_method");
  if (!method.ok()) return method.status();
  if (!method->has_value()) return f.Error("\"quantization_config.quant_method\" is missing");
  const std::string m = absl::AsciiStrToLower(**method);
  if (m == "awq") return ParseAwq(f);
  if (m == "gptq") return ParseGptq(f);
  if (m == "compressed-tensors") return ParseCompressedTensors(f);
  if (m == "fp8") {
    return Unsupported(
        f, "quant_method",
        "\"fp8\" checkpoints quantize activations too (W8A8), which is not supported "
        "yet; weight-only FP8 loads from compressed-tensors float-quantized");
  }
  return Unsupported(f, "quant_method",
                     absl::StrCat(QuoteForError(**method),
                                  "; tessera loads awq, gptq and compressed-tensors checkpoints"));
}

absl::Status RefuseQuantizedOnCuda(const QuantConfig& config) {
  if (!config.quantized()) return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat(
      "the checkpoint is quantized (", config.MethodName(),
      "): quantized weights on CUDA are not supported yet (issue 20); use --backend cpu, which "
      "dequantizes them at load"));
}

absl::Status CheckQuantizationFlag(std::string_view flag, const QuantConfig& config) {
  if (flag.empty()) return absl::OkStatus();
  static constexpr std::string_view kOnLoad[] = {"int8", "int4", "fp8", "nf4", "bitsandbytes"};
  static constexpr std::string_view kPre[] = {"awq", "gptq", "compressed-tensors"};
  const bool on_load = std::find(std::begin(kOnLoad), std::end(kOnLoad), flag) != std::end(kOnLoad);
  const bool pre = std::find(std::begin(kPre), std::end(kPre), flag) != std::end(kPre);
  if (!on_load && !pre && flag != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("--quantization ", QuoteForError(flag),
                     " is not a known method (awq, gptq, compressed-tensors, int8, int4, fp8, nf4, "
                     "bitsandbytes, none)"));
  }
  if (config.quantized()) {
    if (flag == config.MethodName()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("--quantization ", Sv(flag),
                     " disagrees with the checkpoint, whose config.json has "
                     "quantization_config.quant_method \"",
                     config.MethodName(), "\"; pass --quantization ", config.MethodName(),
                     " or leave the flag out"));
  }
  if (flag == "none" || on_load) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--quantization ", Sv(flag),
                   ": the checkpoint is not quantized (config.json has no "
                   "quantization_config); leave the flag out or use a pre-quantized ",
                   Sv(flag), " checkpoint"));
}

}  // namespace tessera
