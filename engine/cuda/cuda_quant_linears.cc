#include "engine/cuda/cuda_quant_linears.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/dtype.h"
#include "engine/model_weights.h"
#include "engine/quant/packed_linear.h"
#include "engine/quant/quantized_linear.h"
#include "engine/quant/random_packed_linear.h"

namespace tessera {
namespace {

constexpr std::string_view kWeightSuffix = ".weight";

// Index of a decoder Linear among q, k, v, o, gate, up, down; -1 for other tensors.
int LinearIndex(WeightKind kind) {
  switch (kind) {
    case WeightKind::kQ:
      return 0;
    case WeightKind::kK:
      return 1;
    case WeightKind::kV:
      return 2;
    case WeightKind::kO:
      return 3;
    case WeightKind::kGate:
      return 4;
    case WeightKind::kUp:
      return 5;
    case WeightKind::kDown:
      return 6;
    default:
      return -1;
  }
}

absl::StatusOr<QuantizedLinear> ReadLinear(const ModelConfig& config, const Checkpoint& checkpoint,
                                           const OnLoadQuantization& on_load,
                                           const WeightSpec& spec) {
  const std::string module = spec.name.substr(0, spec.name.size() - kWeightSuffix.size());
  const int64_t n = spec.shape[0], k = spec.shape[1];
  if (config.quantization.quantized()) {
    const QuantScheme* scheme = config.quantization.SchemeFor(module);
    if (scheme == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat(module,
                       " is stored unquantized while the checkpoint's other Linears are "
                       "quantized; the CUDA engine runs every Linear one way"));
    }
    return LoadQuantizedLinear(checkpoint, config.quantization, *scheme, module, n, k);
  }
  absl::StatusOr<const TensorView*> t = checkpoint.Get(spec.name, spec.shape);
  if (!t.ok()) return t.status();
  std::vector<float> w(static_cast<size_t>(n * k));
  ConvertToFloat((*t)->dtype, (*t)->data.data(), w.size(), w.data());
  return QuantizeOnLoad(on_load, module, w, n, k);
}

absl::StatusOr<CudaPackedLinear> Fuse(std::vector<const PackedLinear*> parts, cudaStream_t stream,
                                      int64_t* bytes) {
  absl::StatusOr<PackedLinear> fused = ConcatRows(parts);
  if (!fused.ok()) return fused.status();
  absl::StatusOr<CudaPackedLinear> d = CudaPackedLinear::Upload(*fused, stream);
  if (!d.ok()) return d.status();
  *bytes += d->bytes();
  return d;
}

}  // namespace

std::optional<PackedKind> PackedKindOf(OnLoadMethod method) {
  switch (method) {
    case OnLoadMethod::kInt8:
      return PackedKind::kInt8;
    case OnLoadMethod::kInt4:
      return PackedKind::kInt4;
    case OnLoadMethod::kFp8:
      return PackedKind::kFp8;
    case OnLoadMethod::kNf4:
      return PackedKind::kNf4;
    case OnLoadMethod::kNone:
      break;
  }
  return std::nullopt;
}

absl::StatusOr<CudaQuantLinears> CudaQuantLinears::Random(const ModelConfig& c, PackedKind kind,
                                                          float scale, uint64_t seed,
                                                          cudaStream_t stream) {
  CudaQuantLinears out;
  const int64_t h = c.hidden_size, im = c.intermediate_size;
  const int64_t shapes[4][2] = {
      {c.q_size() + 2 * c.kv_size(), h}, {h, c.q_size()}, {2 * im, h}, {h, im}};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    CudaPackedLinear parts[4];
    for (int i = 0; i < 4; ++i) {
      const PackedLinear p = RandomPackedLinear(kind, shapes[i][0], shapes[i][1], scale,
                                                seed * 1000003 + static_cast<uint64_t>(l * 4 + i));
      absl::StatusOr<CudaPackedLinear> d = CudaPackedLinear::Upload(p, stream);
      if (!d.ok()) return d.status();
      out.bytes_ += d->bytes();
      parts[i] = *std::move(d);
    }
    CudaQuantLayer layer;
    layer.qkv = std::move(parts[0]);
    layer.o = std::move(parts[1]);
    layer.gate_up = std::move(parts[2]);
    layer.down = std::move(parts[3]);
    out.layers_.push_back(std::move(layer));
  }
  return out;
}

bool CudaQuantLinears::Wanted(const ModelConfig& config, const OnLoadQuantization& on_load) {
  return config.quantization.quantized() || on_load.method != OnLoadMethod::kNone;
}

absl::StatusOr<CudaQuantLinears> CudaQuantLinears::Load(const ModelConfig& config,
                                                        const Checkpoint& checkpoint,
                                                        const OnLoadQuantization& on_load,
                                                        cudaStream_t stream, WeightTally* tally) {
  CudaQuantLinears out;
  std::vector<std::array<PackedLinear, 7>> packed(config.num_hidden_layers);
  for (const WeightSpec& spec : ExpectedWeights(config)) {
    const int i = LinearIndex(spec.kind);
    if (i < 0) continue;
    absl::StatusOr<QuantizedLinear> q = ReadLinear(config, checkpoint, on_load, spec);
    if (!q.ok()) return q.status();
    absl::StatusOr<PackedLinear> p = PackLinear(*q);
    if (!p.ok()) return p.status();
    if (tally != nullptr) tally->Add(q->Label(), p->bytes());
    packed[spec.layer][i] = *std::move(p);
  }
  for (const auto& l : packed) {
    CudaQuantLayer layer;
    absl::StatusOr<CudaPackedLinear> qkv = Fuse({&l[0], &l[1], &l[2]}, stream, &out.bytes_);
    if (!qkv.ok()) return qkv.status();
    absl::StatusOr<CudaPackedLinear> o = Fuse({&l[3]}, stream, &out.bytes_);
    if (!o.ok()) return o.status();
    absl::StatusOr<CudaPackedLinear> gate_up = Fuse({&l[4], &l[5]}, stream, &out.bytes_);
    if (!gate_up.ok()) return gate_up.status();
    absl::StatusOr<CudaPackedLinear> down = Fuse({&l[6]}, stream, &out.bytes_);
    if (!down.ok()) return down.status();
    layer.qkv = *std::move(qkv);
    layer.o = *std::move(o);
    layer.gate_up = *std::move(gate_up);
    layer.down = *std::move(down);
    out.layers_.push_back(std::move(layer));
  }
  return out;
}

}  // namespace tessera
