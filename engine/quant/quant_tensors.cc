#include "engine/quant/quant_tensors.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/dtype.h"

namespace tessera {
namespace {

std::string Shape(const std::vector<int64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

bool KindMatches(QuantTensorKind kind, DType t) {
  switch (kind) {
    case QuantTensorKind::kI32:
      return t == DType::kI32;
    case QuantTensorKind::kI64:
      return t == DType::kI64;
    case QuantTensorKind::kFloat:
      return IsFloatWeightDType(t);
    case QuantTensorKind::kFp8:
      return t == DType::kF8E4M3;
  }
  return false;
}

const char* KindName(QuantTensorKind kind) {
  switch (kind) {
    case QuantTensorKind::kI32:
      return "I32";
    case QuantTensorKind::kI64:
      return "I64";
    case QuantTensorKind::kFloat:
      return "BF16, F16 or F32";
    case QuantTensorKind::kFp8:
      return "F8_E4M3";
  }
  return "?";
}

}  // namespace

absl::Status TensorError(const Checkpoint& checkpoint, const std::string& name,
                         absl::string_view message) {
  const std::string file = checkpoint.FileOf(name);
  return absl::InvalidArgumentError(
      absl::StrCat(file.empty() ? "checkpoint" : file, ": tensor \"", name, "\" ", message));
}

absl::StatusOr<const TensorView*> GetQuantTensor(const Checkpoint& checkpoint,
                                                 const std::string& name, QuantTensorKind kind,
                                                 const std::vector<int64_t>& shape,
                                                 absl::string_view what) {
  const TensorView* t = checkpoint.Find(name);
  if (t == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("quantized checkpoint: tensor \"", name, "\" (", what, ") is missing"));
  }
  if (!KindMatches(kind, t->dtype)) {
    return TensorError(checkpoint, name,
                       absl::StrCat("(", what, ") has dtype ", DTypeName(t->dtype), ", expected ",
                                    KindName(kind)));
  }
  if (t->shape != shape) {
    return TensorError(
        checkpoint, name,
        absl::StrCat("(", what, ") has shape ", Shape(t->shape), ", expected ", Shape(shape)));
  }
  return t;
}

absl::StatusOr<int64_t> ResolveGroupSize(const Checkpoint& checkpoint, const std::string& tensor,
                                         int64_t scheme_group_size, int64_t in_features) {
  const int64_t g = scheme_group_size == -1 ? in_features : scheme_group_size;
  if (g <= 0 || in_features % g != 0) {
    return TensorError(checkpoint, tensor,
                       absl::StrCat(": group size ", scheme_group_size,
                                    " does not divide the input size ", in_features));
  }
  return g;
}

std::vector<uint32_t> ReadWords(const TensorView& t) {
  std::vector<uint32_t> out(t.data.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), out.size() * 4);
  return out;
}

std::vector<int64_t> ReadInt64(const TensorView& t) {
  std::vector<int64_t> out(t.data.size() / 8);
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), out.size() * 8);
  return out;
}

std::vector<float> ReadFloats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.NumElements()));
  ConvertToFloat(t.dtype, t.data.data(), out.size(), out.data());
  return out;
}

}  // namespace tessera
