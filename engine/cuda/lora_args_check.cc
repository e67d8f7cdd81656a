#include "engine/cuda/lora_args_check.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/lora_weights.h"

namespace tessera {

absl::Status ValidateLoraGroupArgs(const LoraGroupArgs& args, const char* caller) {
  auto invalid = [caller](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(caller, ": ", parts...));
  };
  if (args.num_projections < 1 || args.num_projections > kMaxLoraGroup) {
    return invalid("num_projections must be in 1..", kMaxLoraGroup, ", got ", args.num_projections);
  }
  if (args.num_rows < 0) return invalid("num_rows must be >= 0, got ", args.num_rows);
  if (args.in_features < 1) return invalid("in_features must be >= 1, got ", args.in_features);
  if (args.x_stride < args.in_features) {
    return invalid("x_stride ", args.x_stride, " is less than in_features ", args.in_features);
  }
  if (args.max_rank < 1 || args.max_rank > kMaxLoraKernelRank) {
    return invalid("max_rank must be in 1..", kMaxLoraKernelRank, ", got ", args.max_rank);
  }
  if (args.num_layers < 1 || args.layer < 0 || args.layer >= args.num_layers) {
    return invalid("layer ", args.layer, " outside 0..num_layers (", args.num_layers, ")");
  }
  for (int p = 0; p < args.num_projections; ++p) {
    const LoraProjection& proj = args.proj[p];
    if (proj.module < 0 || proj.module >= kNumLoraModules) {
      return invalid("projection ", p, ": module ", proj.module, " is not a LoraModule");
    }
    if (proj.out_features < 1) {
      return invalid("projection ", p, ": out_features must be >= 1, got ", proj.out_features);
    }
    if (proj.out_offset < 0 || proj.out_offset + proj.out_features > args.y_stride) {
      return invalid("projection ", p, ": columns [", proj.out_offset, ", ",
                     proj.out_offset + proj.out_features, ") outside y_stride ", args.y_stride);
    }
    for (int q = 0; q < p; ++q) {
      const LoraProjection& other = args.proj[q];
      const int64_t begin = std::max(proj.out_offset, other.out_offset);
      const int64_t end =
          std::min(proj.out_offset + proj.out_features, other.out_offset + other.out_features);
      if (begin < end) return invalid("projections ", q, " and ", p, " overlap in y");
    }
  }
  if (args.num_rows > 0 &&
      (args.table == nullptr || args.x == nullptr || args.y == nullptr || args.shrink == nullptr)) {
    return invalid("table, x, y and shrink must be non-null when num_rows > 0");
  }
  return absl::OkStatus();
}

}  // namespace tessera
