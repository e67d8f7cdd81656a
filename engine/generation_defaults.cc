#include "engine/generation_defaults.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/json_fields.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr uintmax_t kMaxFileBytes = 1 << 20;

// A finite number in [lo, hi] (open at `lo` when `lo_open`); nullopt when absent or null.
absl::StatusOr<std::optional<float>> Number(const JsonFields& f, std::string_view key, double lo,
                                            bool lo_open, double hi, std::string_view range) {
  const Json* v = f.FindNonNull(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return f.TypeError(key, "a number", *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) {
    return f.Error(absl::StrCat(f.Name(key), " must be ", Sv(range), ", got ", x));
  }
  return static_cast<float>(x);
}

}  // namespace

SamplingParams GenerationDefaults::Sampling() const {
  SamplingParams s;
  s.temperature = temperature;
  s.top_p = top_p;
  s.top_k = top_k;
  s.min_p = min_p;
  s.repetition_penalty = repetition_penalty;
  return s;
}

std::string GenerationDefaults::Describe() const {
  const GenerationDefaults builtin;
  std::vector<std::string> parts;
  if (temperature != builtin.temperature)
    parts.push_back(absl::StrCat("temperature=", temperature));
  if (top_p != builtin.top_p) parts.push_back(absl::StrCat("top_p=", top_p));
  if (top_k != builtin.top_k) parts.push_back(absl::StrCat("top_k=", top_k));
  if (min_p != builtin.min_p) parts.push_back(absl::StrCat("min_p=", min_p));
  if (repetition_penalty != builtin.repetition_penalty) {
    parts.push_back(absl::StrCat("repetition_penalty=", repetition_penalty));
  }
  if (max_tokens != builtin.max_tokens) parts.push_back(absl::StrCat("max_tokens=", max_tokens));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<GenerationDefaults> ParseGenerationDefaults(const std::string& text,
                                                           const std::string& where) {
  absl::StatusOr<Json> json = ParseJsonObject(text, where);
  if (!json.ok()) return json.status();
  const JsonFields f(*json, where);
  GenerationDefaults d;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  absl::StatusOr<std::optional<float>> x;
  if (x = Number(f, "temperature", 0, false, kInf, ">= 0"); !x.ok()) return x.status();
  if (*x) d.temperature = **x;
  if (x = Number(f, "top_p", 0, true, 1, "in (0, 1]"); !x.ok()) return x.status();
  if (*x) d.top_p = **x;
  if (x = Number(f, "min_p", 0, false, 1, "in [0, 1]"); !x.ok()) return x.status();
  if (*x) d.min_p = **x;
  if (x = Number(f, "repetition_penalty", 0, true, kInf, "> 0"); !x.ok()) return x.status();
  if (*x) d.repetition_penalty = **x;
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  // -1 is "off" in vLLM and some configs; 0 is off here.
  absl::StatusOr<std::optional<int64_t>> k = f.OptionalInt("top_k", -1, kMaxInt);
  if (!k.ok()) return k.status();
  if (*k) d.top_k = **k < 0 ? 0 : static_cast<int32_t>(**k);
  absl::StatusOr<std::optional<int64_t>> n = f.OptionalInt("max_new_tokens", 1, kMaxInt);
  if (!n.ok()) return n.status();
  if (*n) d.max_tokens = static_cast<int32_t>(**n);
  return d;
}

absl::StatusOr<GenerationDefaults> LoadGenerationDefaults(const std::string& source,
                                                          const std::string& model_dir) {
  if (source == "vllm" || source == "none") return GenerationDefaults();
  const bool from_model = source == "auto";
  const fs::path path = fs::path(from_model ? model_dir : source) / "generation_config.json";
  absl::StatusOr<std::string> text = ReadSmallFile(path, kMaxFileBytes);
  if (from_model && absl::IsNotFound(text.status())) return GenerationDefaults();
  if (!text.ok()) return text.status();
  return ParseGenerationDefaults(*text, path.string());
}

}  // namespace tessera
