#include "engine/quant/packed_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"

namespace tessera {
namespace {

bool Is4Bit(PackedKind kind) { return kind == PackedKind::kInt4 || kind == PackedKind::kNf4; }

// Columns per 16-byte vector: 32 nibbles or 16 bytes.
int64_t PaddedIn(PackedKind kind, int64_t k) {
  const int64_t cols = Is4Bit(kind) ? 2 * kPackedRowAlignBytes : kPackedRowAlignBytes;
  return (k + cols - 1) / cols * cols;
}

bool SameFloat(float a, float b) { return a == b && std::signbit(a) == std::signbit(b); }

// The narrowest type that holds every value exactly: a format's f16 scales keep their 2 bytes, and
// an fp32 scale (on-load int8's absmax / 127) keeps all its bits.
PackedParamType NarrowestExact(const std::vector<float>& values) {
  bool f16 = true, bf16 = true;
  for (float v : values) {
    f16 = f16 && SameFloat(F16ToFloat(FloatToF16(v)), v);
    bf16 = bf16 && SameFloat(Bf16ToFloat(FloatToBf16(v)), v);
    if (!f16 && !bf16) break;
  }
  return f16 ? PackedParamType::kF16 : bf16 ? PackedParamType::kBf16 : PackedParamType::kF32;
}

void AppendParam(PackedParamType type, float v, std::vector<uint8_t>* out) {
  uint8_t bytes[4];
  switch (type) {
    case PackedParamType::kF16: {
      const uint16_t h = FloatToF16(v);
      std::memcpy(bytes, &h, 2);
      break;
    }
    case PackedParamType::kBf16: {
      const uint16_t b = FloatToBf16(v);
      std::memcpy(bytes, &b, 2);
      break;
    }
    case PackedParamType::kF32:
      std::memcpy(bytes, &v, 4);
      break;
  }
  out->insert(out->end(), bytes, bytes + PackedParamBytes(type));
}

float ReadParam(PackedParamType type, const std::vector<uint8_t>& data, int64_t index) {
  const uint8_t* p = data.data() + index * PackedParamBytes(type);
  uint16_t h;
  float f;
  switch (type) {
    case PackedParamType::kF16:
      std::memcpy(&h, p, 2);
      return F16ToFloat(h);
    case PackedParamType::kBf16:
      std::memcpy(&h, p, 2);
      return Bf16ToFloat(h);
    case PackedParamType::kF32:
      std::memcpy(&f, p, 4);
      return f;
  }
  return 0;
}

absl::StatusOr<PackedKind> KindOf(const QuantizedLinear& q) {
  if (q.flat_blocks()) {
    if (q.bits != 4 || q.codebook.size() != 16) {
      return absl::UnimplementedError(
          absl::StrCat(q.module, ": ", q.Label(),
                       " is not supported by the CUDA kernels (only 4-bit code books)"));
    }
    return PackedKind::kNf4;
  }
  if (q.is_float) return PackedKind::kFp8;
  return q.bits == 4 ? PackedKind::kInt4 : PackedKind::kInt8;
}

// Inputs in packed order: a stable sort by group, so group g holds packed columns
// [g * group_size, (g + 1) * group_size) (Validate checked every group has exactly that many).
std::vector<int32_t> ActOrderPerm(const QuantizedLinear& q) {
  std::vector<int32_t> order(static_cast<size_t>(q.in_features));
  std::iota(order.begin(), order.end(), 0);
  if (q.g_idx.empty()) return {};
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return q.g_idx[a] < q.g_idx[b]; });
  for (size_t j = 0; j < order.size(); ++j) {
    if (order[j] != static_cast<int32_t>(j)) return order;
  }
  return {};  // g_idx was k / group_size: nothing to permute
}

void PackCodes(const QuantizedLinear& q, PackedLinear* p) {
  const int64_t n = q.out_features, k = q.in_features, row = p->row_bytes();
  p->codes.assign(static_cast<size_t>(n * row), 0);
  for (int64_t r = 0; r < n; ++r) {
    uint8_t* dst = p->codes.data() + r * row;
    const uint8_t* src = q.values.data() + r * k;
    for (int64_t j = 0; j < k; ++j) {
      const uint8_t v = src[p->perm.empty() ? j : p->perm[j]];
      if (Is4Bit(p->kind)) {
        const int nibble = kInt4Nibble[j % 8];
        dst[(j / 8) * 4 + nibble / 2] |= static_cast<uint8_t>(v << (4 * (nibble % 2)));
      } else {
        dst[j] = v;
      }
    }
  }
}

}  // namespace

const char* PackedKindName(PackedKind kind) {
  switch (kind) {
    case PackedKind::kInt4:
      return "int4";
    case PackedKind::kInt8:
      return "int8";
    case PackedKind::kFp8:
      return "fp8";
    case PackedKind::kNf4:
      return "nf4";
  }
  return "?";
}

int64_t PackedParamBytes(PackedParamType type) { return type == PackedParamType::kF32 ? 4 : 2; }

int64_t PackedLinear::bytes() const {
  return static_cast<int64_t>(codes.size() + scales.size() + zeros.size() +
                              perm.size() * sizeof(int32_t)) +
         (kind == PackedKind::kNf4 ? static_cast<int64_t>(sizeof codebook) : 0);
}

float PackedLinear::Scale(int64_t n, int64_t g) const {
  return ReadParam(scale_type, scales, kind == PackedKind::kNf4 ? g : n * num_groups() + g);
}

float PackedLinear::Zero(int64_t n, int64_t g) const {
  return ReadParam(zero_type, zeros, n * num_groups() + g);
}

uint32_t PackedLinear::Code(int64_t n, int64_t j) const {
  const uint8_t* row = codes.data() + n * row_bytes();
  if (!Is4Bit(kind)) return row[j];
  uint32_t word;
  std::memcpy(&word, row + (j / 8) * 4, 4);
  return (word >> (4 * kInt4Nibble[j % 8])) & 0xfu;
}

absl::StatusOr<PackedLinear> PackLinear(const QuantizedLinear& q) {
  if (absl::Status s = q.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(q.module, ": ", s.message()));
  }
  absl::StatusOr<PackedKind> kind = KindOf(q);
  if (!kind.ok()) return kind.status();
  PackedLinear p;
  p.module = q.module;
  p.label = q.Label();
  p.kind = *kind;
  p.out_features = q.out_features;
  p.in_features = q.in_features;
  p.padded_in = PaddedIn(p.kind, q.in_features);
  if (p.kind == PackedKind::kNf4) {
    p.block_size = q.block_size;
    std::copy(q.codebook.begin(), q.codebook.end(), p.codebook.begin());
  } else {
    p.group_size = q.group_size;
    p.perm = ActOrderPerm(q);
  }
  PackCodes(q, &p);

  p.scale_type = NarrowestExact(q.scales);
  if (p.kind == PackedKind::kNf4) {
    for (float s : q.scales) AppendParam(p.scale_type, s, &p.scales);
    return p;
  }
  // [groups, N] -> [N, groups]: a row's parameters together. Packed group g is source group g
  // (the perm sorts inputs by group), so only the axes swap.
  const int64_t n = q.out_features, g = q.num_groups();
  p.scales.reserve(static_cast<size_t>(n * g * PackedParamBytes(p.scale_type)));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < g; ++j) AppendParam(p.scale_type, q.scales[j * n + r], &p.scales);
  }
  if (p.kind == PackedKind::kFp8) return p;
  p.zero_type = NarrowestExact(q.zeros);
  p.zeros.reserve(static_cast<size_t>(n * g * PackedParamBytes(p.zero_type)));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < g; ++j) AppendParam(p.zero_type, q.zeros[j * n + r], &p.zeros);
  }
  return p;
}

namespace {

PackedParamType Widest(PackedParamType a, PackedParamType b) {
  if (a == PackedParamType::kF32 || b == PackedParamType::kF32) return PackedParamType::kF32;
  // f16 and bf16 each hold values the other does not: fp32 holds both.
  return a == b ? a : PackedParamType::kF32;
}

// `p`'s params (scales or zeros) re-encoded as `type`, appended to `out`.
void AppendParams(const PackedLinear& p, bool zeros, PackedParamType type,
                  std::vector<uint8_t>* out) {
  const PackedParamType from = zeros ? p.zero_type : p.scale_type;
  const std::vector<uint8_t>& data = zeros ? p.zeros : p.scales;
  if (from == type) {
    out->insert(out->end(), data.begin(), data.end());
    return;
  }
  const int64_t count = static_cast<int64_t>(data.size()) / PackedParamBytes(from);
  for (int64_t i = 0; i < count; ++i) AppendParam(type, ReadParam(from, data, i), out);
}

}  // namespace

absl::StatusOr<PackedLinear> ConcatRows(const std::vector<const PackedLinear*>& parts) {
  if (parts.empty()) return absl::InvalidArgumentError("ConcatRows: no parts");
  const PackedLinear& first = *parts[0];
  PackedLinear out;
  out.module = first.module;
  out.label = first.label;
  out.kind = first.kind;
  out.in_features = first.in_features;
  out.padded_in = first.padded_in;
  out.group_size = first.group_size;
  out.block_size = first.block_size;
  out.perm = first.perm;
  out.codebook = first.codebook;
  out.scale_type = first.scale_type;
  out.zero_type = first.zero_type;
  for (size_t i = 0; i < parts.size(); ++i) {
    const PackedLinear& p = *parts[i];
    if (p.kind != first.kind || p.in_features != first.in_features ||
        p.group_size != first.group_size || p.block_size != first.block_size ||
        p.codebook != first.codebook) {
      return absl::InvalidArgumentError(absl::StrCat(
          p.module, " (", p.label, ") cannot share one GEMM with ", first.module, " (", first.label,
          "): the fused projections need one format, group size and input size"));
    }
    if (p.perm != first.perm) {
      return absl::InvalidArgumentError(
          absl::StrCat(p.module, " and ", first.module,
                       " have different act-order g_idx; the fused projections need one"));
    }
    if (p.kind == PackedKind::kNf4 && i + 1 < parts.size() &&
        (p.out_features * p.in_features) % p.block_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          p.module, ": ", p.out_features * p.in_features, " NF4 values end inside a block of ",
          p.block_size, "; the fused projections cannot share one block table"));
    }
    if (i > 0) {
      out.module = absl::StrCat(out.module, "|", p.module);
      out.scale_type = Widest(out.scale_type, p.scale_type);
      out.zero_type = Widest(out.zero_type, p.zero_type);
    }
  }
  for (const PackedLinear* p : parts) {
    out.out_features += p->out_features;
    out.codes.insert(out.codes.end(), p->codes.begin(), p->codes.end());
    AppendParams(*p, /*zeros=*/false, out.scale_type, &out.scales);
    if (!p->zeros.empty()) AppendParams(*p, /*zeros=*/true, out.zero_type, &out.zeros);
  }
  return out;
}

std::vector<float> DequantizePacked(const PackedLinear& p) {
  const int64_t n = p.out_features, k = p.in_features;
  std::vector<float> w(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t col = p.perm.empty() ? j : p.perm[j];
      const uint32_t code = p.Code(r, j);
      float v = 0;
      switch (p.kind) {
        case PackedKind::kInt4:
        case PackedKind::kInt8: {
          const int64_t g = j / p.group_size;
          v = (static_cast<float>(code) - p.Zero(r, g)) * p.Scale(r, g);
          break;
        }
        case PackedKind::kFp8:
          v = Fp8E4M3ToFloat(static_cast<uint8_t>(code)) * p.Scale(r, j / p.group_size);
          break;
        case PackedKind::kNf4:
          v = p.codebook[code] * p.Scale(r, (r * k + col) / p.block_size);
          break;
      }
      w[static_cast<size_t>(r * k + col)] = v;
    }
  }
  return w;
}

int64_t PackedLinearBytes(PackedKind kind, int64_t n, int64_t k, int64_t group_size,
                          PackedParamType scale_type, PackedParamType zero_type, bool act_order) {
  PackedLinear shape;
  shape.kind = kind;
  shape.padded_in = PaddedIn(kind, k);
  int64_t bytes = n * shape.row_bytes();
  if (kind == PackedKind::kNf4) {
    return bytes + (n * k + group_size - 1) / group_size * PackedParamBytes(scale_type) +
           static_cast<int64_t>(sizeof shape.codebook);
  }
  const int64_t params = n * (k / group_size);
  bytes += params * PackedParamBytes(scale_type);
  if (kind != PackedKind::kFp8) bytes += params * PackedParamBytes(zero_type);
  if (act_order) bytes += k * static_cast<int64_t>(sizeof(int32_t));
  return bytes;
}

}  // namespace tessera
