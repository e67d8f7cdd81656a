#include "engine/cuda/cuda_packed_linear.h"

#include <cstring>
#include <vector>

namespace tessera {
namespace {

constexpr int64_t kAlign = 256;
int64_t Align(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Offsets of the parts in the allocation.
struct Parts {
  int64_t codes = 0, scales = 0, zeros = 0, perm = 0, codebook = 0, total = 0;
};

Parts PartsOf(const PackedLinear& p) {
  Parts o;
  o.scales = Align(static_cast<int64_t>(p.codes.size()));
  o.zeros = o.scales + Align(static_cast<int64_t>(p.scales.size()));
  o.perm = o.zeros + Align(static_cast<int64_t>(p.zeros.size()));
  o.codebook = o.perm + Align(static_cast<int64_t>(p.perm.size() * sizeof(int32_t)));
  o.total = o.codebook + (p.kind == PackedKind::kNf4 ? Align(sizeof p.codebook) : 0);
  return o;
}

}  // namespace

int64_t CudaPackedLinear::DeviceBytes(const PackedLinear& p) { return PartsOf(p).total; }

absl::StatusOr<CudaPackedLinear> CudaPackedLinear::Upload(const PackedLinear& p,
                                                          cudaStream_t stream) {
  const Parts o = PartsOf(p);
  std::vector<uint8_t> host(static_cast<size_t>(o.total), 0);
  std::memcpy(host.data() + o.codes, p.codes.data(), p.codes.size());
  std::memcpy(host.data() + o.scales, p.scales.data(), p.scales.size());
  if (!p.zeros.empty()) std::memcpy(host.data() + o.zeros, p.zeros.data(), p.zeros.size());
  if (!p.perm.empty()) {
    std::memcpy(host.data() + o.perm, p.perm.data(), p.perm.size() * sizeof(int32_t));
  }
  if (p.kind == PackedKind::kNf4) {
    std::memcpy(host.data() + o.codebook, p.codebook.data(), sizeof p.codebook);
  }
  CudaPackedLinear d;
  if (absl::Status s = d.buffer_.Allocate(o.total); !s.ok()) return s;
  if (absl::Status s = d.buffer_.CopyFromHost(host.data(), o.total, stream); !s.ok()) return s;
  const uint8_t* base = d.buffer_.data();
  QuantWeightView& v = d.view_;
  v.kind = p.kind;
  v.out_features = p.out_features;
  v.in_features = p.in_features;
  v.row_bytes = p.row_bytes();
  v.group_size = p.group_size;
  v.block_size = p.block_size;
  v.scale_type = p.scale_type;
  v.zero_type = p.zero_type;
  v.codes = base + o.codes;
  v.scales = base + o.scales;
  v.zeros = p.zeros.empty() ? nullptr : base + o.zeros;
  v.perm = p.perm.empty() ? nullptr : reinterpret_cast<const int32_t*>(base + o.perm);
  v.codebook =
      p.kind == PackedKind::kNf4 ? reinterpret_cast<const float*>(base + o.codebook) : nullptr;
  return d;
}

}  // namespace tessera
