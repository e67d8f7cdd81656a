#include "engine/cuda/quant_weight_view.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace tessera {

absl::Status CheckQuantWeightView(const QuantWeightView& w, const char* who) {
  const int cols = QuantColumnsPerVector(w.kind);
  if (w.out_features <= 0 || w.in_features <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": weight shape [", w.out_features, ", ",
                                                   w.in_features, "] must be positive"));
  }
  if (w.codes == nullptr || w.scales == nullptr ||
      ((w.kind == PackedKind::kInt4 || w.kind == PackedKind::kInt8) && w.zeros == nullptr) ||
      (w.kind == PackedKind::kNf4 && w.codebook == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": ", PackedKindName(w.kind), " weight has a null pointer"));
  }
  if (w.row_bytes % 16 != 0 || w.row_bytes / 16 * cols < w.in_features ||
      reinterpret_cast<uintptr_t>(w.codes) % 16 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": packed rows of ", w.row_bytes, " bytes (", w.in_features,
                     " inputs) must be whole, 16-byte aligned vectors covering the inputs"));
  }
  if (w.kind == PackedKind::kNf4) {
    if (w.block_size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": NF4 block size must be > 0"));
    }
    return absl::OkStatus();
  }
  if (w.group_size <= 0 || w.in_features % w.group_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": group size ", w.group_size, " does not divide ", w.in_features));
  }
  if (w.group_size % cols != 0 && w.num_groups() != 1) {
    return absl::UnimplementedError(absl::StrCat(who, ": group size ", w.group_size, " of ",
                                                 PackedKindName(w.kind), " is not supported (a ",
                                                 "multiple of ", cols, ", or one group per row)"));
  }
  return absl::OkStatus();
}

}  // namespace tessera
