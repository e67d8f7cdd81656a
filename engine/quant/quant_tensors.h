// Helpers the format loaders share: fetching a checkpoint tensor with an expected dtype and shape
// (errors name file and tensor) and reading its words and scales. Internal to engine/quant/.
//
// Stateless functions; thread-safe.
#ifndef TESSERA_ENGINE_QUANT_QUANT_TENSORS_H_
#define TESSERA_ENGINE_QUANT_QUANT_TENSORS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/checkpoint.h"

namespace tessera {

enum class QuantTensorKind : uint8_t { kI32, kI64, kFloat, kFp8 };

// `name` from the checkpoint: NotFound when missing, InvalidArgument when its dtype is not `kind`
// (kFloat: BF16, F16 or F32) or its shape is not `shape`; `what` says what the tensor is for.
absl::StatusOr<const TensorView*> GetQuantTensor(const Checkpoint& checkpoint,
                                                 const std::string& name, QuantTensorKind kind,
                                                 const std::vector<int64_t>& shape,
                                                 absl::string_view what);

// An I32 tensor's elements as unsigned words (packed fields are read unsigned).
std::vector<uint32_t> ReadWords(const TensorView& t);
// An I64 tensor's elements.
std::vector<int64_t> ReadInt64(const TensorView& t);
// A float tensor's elements as fp32 (exact).
std::vector<float> ReadFloats(const TensorView& t);

// Field `i` (bits [i*bits, (i+1)*bits), field 0 lowest) of `word`.
inline uint32_t Field(uint32_t word, int64_t i, int32_t bits) {
  return (word >> (i * bits)) & ((1u << bits) - 1u);
}

// The inputs per group for `in_features` inputs: the scheme's group size, or all of them for -1;
// an error naming `tensor` when it does not divide the input size.
absl::StatusOr<int64_t> ResolveGroupSize(const Checkpoint& checkpoint, const std::string& tensor,
                                         int64_t scheme_group_size, int64_t in_features);

// "InvalidArgument: FILE: tensor "NAME" MESSAGE" for checks the loaders make beyond shapes.
absl::Status TensorError(const Checkpoint& checkpoint, const std::string& name,
                         absl::string_view message);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_QUANT_TENSORS_H_
