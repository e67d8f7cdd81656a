#include "engine/weight_load_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tessera {

absl::StatusOr<WeightDType> ParseDTypeFlag(std::string_view flag) {
  if (flag == "auto") return WeightDType::kAuto;
  if (flag == "float32" || flag == "float") return WeightDType::kFloat32;
  if (flag == "bfloat16") return WeightDType::kBFloat16;
  if (flag == "float16" || flag == "half") return WeightDType::kFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype \"", absl::string_view(flag.data(), std::min<size_t>(flag.size(), 64)),
                   "\" is not one of auto, bfloat16, float16 (half), float32 (float)"));
}

const char* WeightDTypeName(WeightDType t) {
  switch (t) {
    case WeightDType::kAuto:
      return "auto";
    case WeightDType::kFloat32:
      return "float32";
    case WeightDType::kBFloat16:
      return "bfloat16";
    case WeightDType::kFloat16:
      return "float16";
  }
  return "auto";
}

}  // namespace tessera
