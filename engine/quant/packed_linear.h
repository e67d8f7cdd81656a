// One quantized Linear weight repacked, once at load, into the layout the CUDA kernels read.
//
// Every format (AWQ, GPTQ with or without act-order, compressed-tensors, on-load int8/int4/fp8/
// nf4) arrives as a QuantizedLinear (one byte per value, [out, in]); PackLinear turns it into one
// of four layouts, so the kernels know four layouts and no checkpoint format. Plain C++: the host
// side is tested on the CPU (DequantizePacked equals QuantizedLinear::Dequantize bit for bit) and
// `tessera plan` counts the same bytes (PackedLinearBytes) that the engine allocates.
//
// The layout (N = out_features, K = in_features, all little-endian):
//   codes   [N, row_bytes]: row n holds inputs in packed order (see perm), zero-padded to
//           padded_in columns so that every row is a whole number of 16-byte vectors (one 128-bit
//           load); kernels mask columns >= K (padding codes are 0, not neutral).
//           kInt8, kFp8: one byte per column, byte j = column j (an unsigned code, or E4M3 bits).
//           kInt4, kNf4: 8 columns per 32-bit word; column 8w + c sits in nibble kInt4Nibble[c] of
//           word w, i.e. columns 0,2,4,6 in nibbles 0..3 and 1,3,5,7 in nibbles 4..7, so that
//           (word >> 4i) & 0x000f000f holds columns 2i and 2i+1 in its two 16-bit halves: the
//           shape the bf16 "magic number" conversion (OR 0x4300 and subtract 128) wants, two
//           values per integer op, both for a weight-streaming GEMV and for dequantizing a tile.
//   scales  [N, num_groups] (kInt4/kInt8/kFp8): a row's scales are contiguous, so a GEMV thread
//           streaming row n reads them in order; in scale_type, the narrowest of f16, bf16, f32
//           that holds every scale exactly (AWQ/GPTQ's f16 scales stay 2 bytes).
//           kNf4: the flat block scales [ceil(N*K / block_size)] of QuantizedLinear, where
//           element (n, k) uses scale (n*K + k) / block_size (blocks span rows; original k).
//   zeros   [N, num_groups] in zero_type (kInt4, kInt8 only; the narrowest exact type again).
//   perm    [K] or empty: packed column j holds input perm[j]. Act-order GPTQ's g_idx becomes a
//           stable sort of the inputs by group, so packed column j belongs to group
//           j / group_size and a kernel reads scales in order; it gathers x[perm[j]] (the
//           activations, K values per token) instead of looking up g_idx per weight.
//   codebook[16] (kNf4): the values codes index.
// W[n][perm[j]] = (code - zero[n][j / G]) * scale[n][j / G] in fp32 (kFp8: e4m3(code) * scale;
// kNf4: codebook[code] * scale[(n*K + perm[j]) / block_size]), the same operations in the same
// order as QuantizedLinear::Dequantize, hence bit-identical.
//
// A value type; thread-compatible.
#ifndef TESSERA_ENGINE_QUANT_PACKED_LINEAR_H_
#define TESSERA_ENGINE_QUANT_PACKED_LINEAR_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {

enum class PackedKind : uint8_t { kInt4, kInt8, kFp8, kNf4 };
enum class PackedParamType : uint8_t { kF16, kBf16, kF32 };

// Nibble of a 32-bit word that holds column c (0..7) of its 8 (kInt4, kNf4).
inline constexpr std::array<int, 8> kInt4Nibble = {0, 4, 1, 5, 2, 6, 3, 7};
// Bytes of one vectorised load; every packed row is a multiple of it.
inline constexpr int64_t kPackedRowAlignBytes = 16;

const char* PackedKindName(PackedKind kind);  // "int4", "int8", "fp8", "nf4"
int64_t PackedParamBytes(PackedParamType type);

struct PackedLinear {
  std::string module;
  std::string label;  // QuantizedLinear::Label() of the source, e.g. "int4 g128 act-order GPTQ"
  PackedKind kind = PackedKind::kInt4;
  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  int64_t padded_in = 0;     // K rounded up to a whole 16-byte vector per row
  int64_t group_size = 0;    // inputs per scale (K for one per channel); 0 for kNf4
  int64_t block_size = 0;    // kNf4 only
  PackedParamType scale_type = PackedParamType::kF32;
  PackedParamType zero_type = PackedParamType::kF32;
  std::vector<uint8_t> codes;   // [N, row_bytes()]
  std::vector<uint8_t> scales;  // raw scale_type values, see the file comment
  std::vector<uint8_t> zeros;   // raw zero_type values; empty for kFp8, kNf4
  std::vector<int32_t> perm;    // [K] or empty (identity)
  std::array<float, 16> codebook{};

  int64_t num_groups() const { return group_size > 0 ? in_features / group_size : 0; }
  int64_t row_bytes() const {
    return kind == PackedKind::kInt4 || kind == PackedKind::kNf4 ? padded_in / 2 : padded_in;
  }
  // Device bytes of the weight: codes, scales, zeros, perm (and the code book).
  int64_t bytes() const;
  // The scale / zero point of row n, packed group g (or NF4 flat block g) as fp32 (exact).
  float Scale(int64_t n, int64_t g) const;
  float Zero(int64_t n, int64_t g) const;
  // The code of row n, packed column j.
  uint32_t Code(int64_t n, int64_t j) const;
};

// Repacks `q` (Validate()'s errors first). 4-bit integer codes -> kInt4, 8-bit -> kInt8, FP8 ->
// kFp8, a 16-entry code book over flat blocks -> kNf4.
absl::StatusOr<PackedLinear> PackLinear(const QuantizedLinear& q);

// The rows of `parts` stacked in order as one weight (q|k|v and gate|up run as one GEMM each, as
// the bf16 engine fuses them). The parts must agree on kind, inputs, group size, perm (act-order
// q, k and v share their g_idx in practice; different ones are InvalidArgument) and code book;
// scales and zeros take the widest of the parts' types (exact). NF4 needs every part but the last
// to end on a block boundary, so block b of a part stays block b of its rows. Errors name the
// modules.
absl::StatusOr<PackedLinear> ConcatRows(const std::vector<const PackedLinear*>& parts);

// W as fp32 [N, K] row-major in the original input order (perm undone): the host's statement of
// what the kernels compute, and the test that the repack lost nothing.
std::vector<float> DequantizePacked(const PackedLinear& p);

// Device bytes of an [n, k] weight packed as `kind` with `group_size` inputs per scale (k for one
// per output channel; NF4: the flat block size) and the given scale/zero types, with a [k] perm
// when `act_order`: what PackedLinear::bytes() will be, for `tessera plan` and the memory plan.
int64_t PackedLinearBytes(PackedKind kind, int64_t n, int64_t k, int64_t group_size,
                          PackedParamType scale_type, PackedParamType zero_type, bool act_order);

}  // namespace tessera

#endif  // TESSERA_ENGINE_QUANT_PACKED_LINEAR_H_
