#include "adapters/peft_config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/json_fields.h"
#include "engine/lora_weights.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using Json = nlohmann::json;
// rank_pattern and alpha_pattern are tried in file order, which nlohmann::json (sorted keys) loses.
using OrderedJson = nlohmann::ordered_json;

constexpr int64_t kMaxRankValue = 1 << 20;  // far above any real rank; --max-lora-rank cuts lower

// Compiles a config regex; InvalidArgument naming `what` when it does not compile.
absl::StatusOr<std::shared_ptr<const std::regex>> CompileRegex(const std::string& pattern,
                                                               const JsonFields& fields,
                                                               std::string_view what) {
  if (pattern.size() > kMaxPeftRegexLength) {
    return fields.Error(
        absl::StrCat(Sv(what), " is longer than ", kMaxPeftRegexLength, " characters"));
  }
  auto flags = std::regex::ECMAScript;
#ifdef __GLIBCXX__
  // Thompson-NFA executor: polynomial time whatever the pattern (no back-references).
  flags |= std::regex_constants::__polynomial;
#endif
  try {
    return std::make_shared<const std::regex>(pattern, flags);
  } catch (const std::regex_error& e) {
    return fields.Error(
        absl::StrCat(Sv(what), " ", QuoteForError(pattern), " is not a valid regex: ", e.what()));
  }
}

bool FullMatch(const std::regex& re, std::string_view s) {
  return std::regex_match(s.begin(), s.end(), re);
}

// target_modules or exclude_modules: a list of names or one regex string.
absl::StatusOr<PeftModuleSelector> ParseSelector(const JsonFields& fields, std::string_view key) {
  PeftModuleSelector selector;
  const Json* v = fields.FindNonNull(key);
  if (v == nullptr) return selector;
  if (v->is_string()) {
    selector.pattern = v->get<std::string>();
    absl::StatusOr<std::shared_ptr<const std::regex>> re =
        CompileRegex(*selector.pattern, fields, fields.Name(key));
    if (!re.ok()) return re.status();
    selector.regex = *std::move(re);
    return selector;
  }
  if (!v->is_array()) return fields.TypeError(key, "a list of module names or a regex string", *v);
  for (const Json& name : *v) {
    if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
      return fields.Error(absl::StrCat(fields.Name(key), " entries must be non-empty strings, got ",
                                       DescribeJson(name)));
    }
    selector.names.push_back(name.get<std::string>());
  }
  return selector;
}

// rank_pattern or alpha_pattern: {regex: value} in file order.
template <typename T, typename ParseValue>
absl::StatusOr<std::vector<PeftPattern<T>>> ParsePatterns(const OrderedJson& root,
                                                          const JsonFields& fields,
                                                          std::string_view key,
                                                          ParseValue parse_value) {
  std::vector<PeftPattern<T>> patterns;
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return patterns;
  if (!it->is_object()) {
    return fields.Error(absl::StrCat(fields.Name(key), " must be an object of regex: value"));
  }
  for (const auto& [pattern, value] : it->items()) {
    const std::string what = absl::StrCat(fields.Name(key), " key");
    // PEFT: re.match(rf"(.*\.)?({key})$", module_path), i.e. the key matches the whole path or
    // a dot-separated suffix of it.
    absl::StatusOr<std::shared_ptr<const std::regex>> re =
        CompileRegex(absl::StrCat("(.*\\.)?(", pattern, ")"), fields, what);
    if (!re.ok()) return re.status();
    absl::StatusOr<T> v = parse_value(pattern, value);
    if (!v.ok()) return v.status();
    patterns.push_back({pattern, *std::move(re), *v});
  }
  return patterns;
}

// A field that changes the forward pass beyond y += scale * B A x: refused when set.
absl::Status RefuseIfSet(const JsonFields& fields, std::string_view key, std::string_view why) {
  const Json* v = fields.FindNonNull(key);
  if (v == nullptr) return absl::OkStatus();
  const bool set = v->is_boolean()                   ? v->get<bool>()
                   : v->is_array() || v->is_object() ? !v->empty()
                   : v->is_string()                  ? !v->get_ref<const std::string&>().empty()
                                                     : true;
  if (!set) return absl::OkStatus();
  return fields.Error(
      absl::StrCat(fields.Name(key), " is set (", DescribeJson(*v), "): not supported, ", Sv(why)));
}

absl::Status ParseLayers(const JsonFields& fields, PeftLoraConfig& c) {
  if (const Json* v = fields.FindNonNull("layers_to_transform"); v != nullptr) {
    if (v->is_array()) {
      for (const Json& x : *v) {
        absl::StatusOr<int64_t> layer = fields.Int("layers_to_transform", x, 0, INT32_MAX);
        if (!layer.ok()) return layer.status();
        c.layers_to_transform.push_back(*layer);
      }
    } else {
      absl::StatusOr<int64_t> layer = fields.Int("layers_to_transform", *v, 0, INT32_MAX);
      if (!layer.ok()) return layer.status();
      c.layers_to_transform.push_back(*layer);
    }
  }
  if (const Json* v = fields.FindNonNull("layers_pattern"); v != nullptr) {
    if (v->is_string()) {
      if (!v->get_ref<const std::string&>().empty())
        c.layers_pattern.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const Json& x : *v) {
        if (!x.is_string()) return fields.TypeError("layers_pattern", "a list of strings", x);
        c.layers_pattern.push_back(x.get<std::string>());
      }
    } else {
      return fields.TypeError("layers_pattern", "a string or a list of strings", *v);
    }
  }
  // PEFT: re.match(rf".*\.{pattern}\.(\d+)\.", path), or ".*\.[^.]*\.(\d+)\." without a pattern;
  // anchored at the start only, hence the trailing ".*" for a whole-path match.
  std::vector<std::string> patterns = c.layers_pattern;
  if (patterns.empty()) patterns.push_back("[^.]*");
  for (const std::string& p : patterns) {
    absl::StatusOr<std::shared_ptr<const std::regex>> re = CompileRegex(
        absl::StrCat(".*\\.", p, "\\.(\\d+)\\..*"), fields, fields.Name("layers_pattern"));
    if (!re.ok()) return re.status();
    c.layers_pattern_regex.push_back(*std::move(re));
  }
  return absl::OkStatus();
}

// The layer index PEFT reads from a module path, nullopt when none of the patterns finds one.
std::optional<int64_t> LayerIndexOf(const PeftLoraConfig& c, std::string_view path) {
  for (const auto& re : c.layers_pattern_regex) {
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(path.begin(), path.end(), m, *re) || !m[1].matched) continue;
    const std::string digits = m[1].str();
    if (digits.size() > 9) return std::nullopt;
    return std::stoll(digits);
  }
  return std::nullopt;
}

}  // namespace

bool PeftModuleSelector::NamesExactly(std::string_view path) const {
  return std::find(names.begin(), names.end(), path) != names.end();
}

bool PeftModuleSelector::Matches(std::string_view path) const {
  if (regex != nullptr) return FullMatch(*regex, path);
  const absl::string_view p = Sv(path);
  for (const std::string& name : names) {
    if (p == name || absl::EndsWith(p, absl::StrCat(".", name))) return true;
  }
  return false;
}

bool PeftLoraConfig::Targets(std::string_view path) const {
  if (!exclude_modules.empty() && exclude_modules.Matches(path)) return false;
  if (target_modules.regex != nullptr) return FullMatch(*target_modules.regex, path);
  // A path listed whole is targeted whatever layers_to_transform says (PEFT checks it first).
  if (target_modules.NamesExactly(path)) return true;
  if (!target_modules.Matches(path)) return false;
  if (layers_to_transform.empty()) return true;
  const std::optional<int64_t> layer = LayerIndexOf(*this, path);
  return layer.has_value() && std::find(layers_to_transform.begin(), layers_to_transform.end(),
                                        *layer) != layers_to_transform.end();
}

int32_t PeftLoraConfig::RankFor(std::string_view path) const {
  for (const auto& p : rank_pattern) {
    if (FullMatch(*p.regex, path)) return p.value;
  }
  return r;
}

double PeftLoraConfig::AlphaFor(std::string_view path) const {
  for (const auto& p : alpha_pattern) {
    if (FullMatch(*p.regex, path)) return p.value;
  }
  return lora_alpha;
}

double PeftLoraConfig::ScaleFor(std::string_view path) const {
  const double rank = RankFor(path);
  return AlphaFor(path) / (use_rslora ? std::sqrt(rank) : rank);
}

int32_t PeftLoraConfig::MaxConfiguredRank() const {
  int32_t m = r;
  for (const auto& p : rank_pattern) m = std::max(m, p.value);
  return m;
}

absl::StatusOr<PeftLoraConfig> ParsePeftLoraConfig(std::string_view json_text,
                                                   std::string_view source) {
  absl::StatusOr<Json> root = ParseJsonObject(json_text, source);
  if (!root.ok()) return root.status();
  const OrderedJson ordered = OrderedJson::parse(json_text.begin(), json_text.end(), nullptr,
                                                 /*allow_exceptions=*/false);
  const JsonFields fields(*root, source);

  absl::StatusOr<std::optional<std::string>> peft_type = fields.OptionalString("peft_type");
  if (!peft_type.ok()) return peft_type.status();
  if (!peft_type->has_value()) return fields.Error("\"peft_type\" is required (\"LORA\")");
  if (**peft_type != "LORA") {
    return fields.Error(absl::StrCat("\"peft_type\" is ", QuoteForError(**peft_type),
                                     ": only LoRA adapters (\"LORA\") are served"));
  }
  absl::StatusOr<std::optional<std::string>> bias = fields.OptionalString("bias");
  if (!bias.ok()) return bias.status();
  if (bias->has_value() && **bias != "none") {
    return fields.Error(absl::StrCat("\"bias\" is ", QuoteForError(**bias),
                                     ": adapters that train biases are not supported, only "
                                     "\"none\""));
  }
  for (const auto& [key, why] :
       std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"use_dora", "DoRA rescales the adapted weight by a learned magnitude"},
           {"modules_to_save", "it replaces whole modules of the base model"},
           {"lora_bias", "it adds a bias to lora_B"},
           {"use_qalora", "QA-LoRA pools the input of lora_A"},
           {"layer_replication", "it changes the base model's layer stack"},
           {"target_parameters", "it adapts raw parameters rather than projections"},
           {"trainable_token_indices", "it changes embedding rows"},
           {"alora_invocation_tokens", "activated LoRA applies only after invocation tokens"},
           {"arrow_config", "Arrow routes between several adapters"}}) {
    if (absl::Status s = RefuseIfSet(fields, key, why); !s.ok()) return s;
  }

  PeftLoraConfig c;
  absl::StatusOr<int64_t> r = fields.IntOr("r", 8, 1, kMaxRankValue);
  if (!r.ok()) return r.status();
  c.r = static_cast<int32_t>(*r);
  absl::StatusOr<std::optional<double>> alpha = fields.OptionalPositive("lora_alpha");
  if (!alpha.ok()) return alpha.status();
  c.lora_alpha = alpha->value_or(8.0);
  absl::StatusOr<bool> rslora = fields.BoolOr("use_rslora", false);
  if (!rslora.ok()) return rslora.status();
  c.use_rslora = *rslora;
  // The scale of the modules no pattern covers; the loader checks each module's own scale
  // (alpha_pattern and rank_pattern applied) against the same bound.
  if (const double scale =
          c.lora_alpha / (c.use_rslora ? std::sqrt(static_cast<double>(c.r)) : c.r);
      scale > kMaxLoraScale) {
    return fields.Error(
        absl::StrCat("\"lora_alpha\" ", c.lora_alpha, " with \"r\" ", c.r, " gives the scale ",
                     scale, c.use_rslora ? " (lora_alpha / sqrt(r))" : " (lora_alpha / r)",
                     ", above the bound ", kMaxLoraScale, ": the adapted model would overflow"));
  }
  absl::StatusOr<bool> fan = fields.BoolOr("fan_in_fan_out", false);
  if (!fan.ok()) return fan.status();
  c.fan_in_fan_out = *fan;

  if (fields.FindNonNull("target_modules") == nullptr) {
    return fields.Error("\"target_modules\" is required (a list of module names or a regex)");
  }
  absl::StatusOr<PeftModuleSelector> targets = ParseSelector(fields, "target_modules");
  if (!targets.ok()) return targets.status();
  c.target_modules = *std::move(targets);
  if (c.target_modules.pattern.has_value() &&
      absl::AsciiStrToLower(*c.target_modules.pattern) == "all-linear") {
    // PEFT expands "all-linear" to every linear layer but the output head: the projections.
    c.all_linear = true;
    c.target_modules = PeftModuleSelector{};
    for (int m = 0; m < kNumLoraModules; ++m) {
      c.target_modules.names.emplace_back(LoraModuleName(static_cast<LoraModule>(m)));
    }
  }
  if (c.target_modules.empty()) return fields.Error("\"target_modules\" is empty");
  absl::StatusOr<PeftModuleSelector> excluded = ParseSelector(fields, "exclude_modules");
  if (!excluded.ok()) return excluded.status();
  c.exclude_modules = *std::move(excluded);

  auto rank_values = [&](const std::string& key, const OrderedJson& v) -> absl::StatusOr<int32_t> {
    const Json plain = v;
    absl::StatusOr<int64_t> x =
        fields.Int(absl::StrCat("rank_pattern.", key), plain, 1, kMaxRankValue);
    if (!x.ok()) return x.status();
    return static_cast<int32_t>(*x);
  };
  auto alpha_values = [&](const std::string& key, const OrderedJson& v) -> absl::StatusOr<double> {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) {
      return fields.TypeError(absl::StrCat("alpha_pattern.", key), "a positive number", Json(v));
    }
    return v.get<double>();
  };
  absl::StatusOr<std::vector<PeftPattern<int32_t>>> ranks =
      ParsePatterns<int32_t>(ordered, fields, "rank_pattern", rank_values);
  if (!ranks.ok()) return ranks.status();
  c.rank_pattern = *std::move(ranks);
  absl::StatusOr<std::vector<PeftPattern<double>>> alphas =
      ParsePatterns<double>(ordered, fields, "alpha_pattern", alpha_values);
  if (!alphas.ok()) return alphas.status();
  c.alpha_pattern = *std::move(alphas);

  if (absl::Status s = ParseLayers(fields, c); !s.ok()) return s;
  return c;
}

}  // namespace tessera
