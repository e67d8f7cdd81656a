#include "engine/cpu/cpu_weights.h"

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/dtype.h"
#include "engine/model_weights.h"
#include "engine/quant/on_load_quantizer.h"
#include "engine/quant/quantized_linear.h"

namespace tessera {
namespace {

// Where each WeightKind lands in CpuWeights.
std::vector<float>* Slot(CpuWeights& w, const WeightSpec& s) {
  if (s.kind == WeightKind::kEmbedding) return &w.embedding;
  if (s.kind == WeightKind::kLmHead) return &w.lm_head.weight;
  if (s.kind == WeightKind::kFinalNorm) return &w.final_norm;
  CpuLayerWeights& l = w.layers[s.layer];
  switch (s.kind) {
    case WeightKind::kInputNorm:
      return &l.input_norm;
    case WeightKind::kPostAttentionNorm:
      return &l.post_attention_norm;
    case WeightKind::kQ:
      return &l.q.weight;
    case WeightKind::kK:
      return &l.k.weight;
    case WeightKind::kV:
      return &l.v.weight;
    case WeightKind::kO:
      return &l.o.weight;
    case WeightKind::kQBias:
      return &l.q.bias;
    case WeightKind::kKBias:
      return &l.k.bias;
    case WeightKind::kVBias:
      return &l.v.bias;
    case WeightKind::kOBias:
      return &l.o.bias;
    case WeightKind::kGate:
      return &l.gate.weight;
    case WeightKind::kUp:
      return &l.up.weight;
    case WeightKind::kDown:
      return &l.down.weight;
    case WeightKind::kGateBias:
      return &l.gate.bias;
    case WeightKind::kUpBias:
      return &l.up.bias;
    case WeightKind::kDownBias:
      return &l.down.bias;
    default:
      return nullptr;
  }
}

void SetShapes(const ModelConfig& c, CpuWeights& w) {
  const int64_t h = c.hidden_size, i = c.intermediate_size;
  w.lm_head.rows = c.vocab_size;
  w.lm_head.cols = h;
  for (CpuLayerWeights& l : w.layers) {
    l.q.rows = c.q_size();
    l.k.rows = l.v.rows = c.kv_size();
    l.q.cols = l.k.cols = l.v.cols = h;
    l.o.rows = h;
    l.o.cols = c.q_size();
    l.gate.rows = l.up.rows = i;
    l.gate.cols = l.up.cols = h;
    l.down.rows = h;
    l.down.cols = i;
  }
}

// Fills every expected tensor from `fill`, then ties lm_head to the embedding when asked.
absl::StatusOr<CpuWeights> Build(
    const ModelConfig& c,
    const std::function<absl::Status(const WeightSpec&, std::vector<float>*)>& fill) {
  CpuWeights w;
  w.layers.resize(c.num_hidden_layers);
  SetShapes(c, w);
  for (const WeightSpec& spec : ExpectedWeights(c)) {
    std::vector<float>* dst = Slot(w, spec);
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    dst->resize(n);
    if (absl::Status s = fill(spec, dst); !s.ok()) return s;
  }
  if (c.tie_word_embeddings) w.lm_head.weight = w.embedding;
  return w;
}

constexpr std::string_view kWeightSuffix = ".weight";

// The Linears quantization applies to: q, k, v, o, gate, up, down (not embeddings, norms, biases
// or lm_head, as in vLLM).
bool IsDecoderLinearWeight(const WeightSpec& spec) {
  switch (spec.kind) {
    case WeightKind::kQ:
    case WeightKind::kK:
    case WeightKind::kV:
    case WeightKind::kO:
    case WeightKind::kGate:
    case WeightKind::kUp:
    case WeightKind::kDown:
      break;
    default:
      return false;
  }
  return spec.name.size() >= kWeightSuffix.size() &&
         spec.name.compare(spec.name.size() - kWeightSuffix.size(), kWeightSuffix.size(),
                           kWeightSuffix) == 0;
}

std::string ModuleOf(const WeightSpec& spec) {
  return spec.name.substr(0, spec.name.size() - kWeightSuffix.size());
}

// The quantization scheme of `spec` when it is a decoder Linear stored pre-quantized; nullptr for
// everything else (embeddings, norms, biases, lm_head and modules the config leaves unquantized).
const QuantScheme* QuantizedScheme(const ModelConfig& c, const WeightSpec& spec) {
  if (!c.quantization.quantized() || !IsDecoderLinearWeight(spec)) return nullptr;
  return c.quantization.SchemeFor(ModuleOf(spec));
}

// Rounds `w` to --dtype (nothing for auto and float32); InvalidArgument naming the tensor when a
// value overflows float16.
absl::Status RoundToDType(WeightDType dtype, const std::string& tensor, std::vector<float>& w) {
  if (dtype == WeightDType::kBFloat16) {
    for (float& x : w) x = Bf16ToFloat(FloatToBf16(x));
  } else if (dtype == WeightDType::kFloat16) {
    for (size_t i = 0; i < w.size(); ++i) {
      const float r = F16ToFloat(FloatToF16(w[i]));
      if (std::isinf(r) && !std::isinf(w[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("--dtype float16: tensor \"", tensor, "\" holds ", w[i], " (element ", i,
                         "), beyond float16's range; use --dtype bfloat16"));
      }
      w[i] = r;
    }
  }
  return absl::OkStatus();
}

// How an unquantized tensor is stored: its checkpoint dtype under auto, else --dtype's.
std::string StoredLabel(WeightDType dtype, DType checkpoint_dtype) {
  switch (dtype) {
    case WeightDType::kFloat32:
      return "f32";
    case WeightDType::kBFloat16:
      return "bf16";
    case WeightDType::kFloat16:
      return "f16";
    case WeightDType::kAuto:
      break;
  }
  return absl::AsciiStrToLower(DTypeName(checkpoint_dtype));
}

int64_t LabelBytes(const std::string& label) { return label == "f32" ? 4 : 2; }

}  // namespace

size_t CpuWeights::NumParameters() const {
  size_t n = embedding.size() + final_norm.size() + lm_head.weight.size();
  for (const CpuLayerWeights& l : layers) {
    n += l.input_norm.size() + l.post_attention_norm.size();
    for (const CpuLinear* m : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      n += m->weight.size() + m->bias.size();
    }
  }
  return n;
}

absl::StatusOr<CpuWeights> CpuWeights::FromCheckpoint(const ModelConfig& config,
                                                      const Checkpoint& checkpoint,
                                                      const WeightLoadOptions& options) {
  WeightTally tally;
  absl::StatusOr<CpuWeights> w =
      Build(config, [&](const WeightSpec& spec, std::vector<float>* dst) -> absl::Status {
        // A pre-quantized Linear is dequantized here, once: the engine then runs its fp32 path on
        // exactly the dequantized weights.
        if (const QuantScheme* scheme = QuantizedScheme(config, spec); scheme != nullptr) {
          absl::StatusOr<QuantizedLinear> q =
              LoadQuantizedLinear(checkpoint, config.quantization, *scheme, ModuleOf(spec),
                                  spec.shape[0], spec.shape[1]);
          if (!q.ok()) return q.status();
          absl::StatusOr<std::vector<float>> d = q->Dequantize();
          if (!d.ok()) return d.status();
          *dst = *std::move(d);
          tally.Add(q->Label(), q->stored_bytes);
          return absl::OkStatus();
        }
        absl::StatusOr<const TensorView*> t = checkpoint.Get(spec.name, spec.shape);
        if (!t.ok()) return t.status();
        ConvertToFloat((*t)->dtype, (*t)->data.data(), dst->size(), dst->data());
        if (absl::Status s = RoundToDType(options.dtype, spec.name, *dst); !s.ok()) return s;
        if (options.quantization.method != OnLoadMethod::kNone && IsDecoderLinearWeight(spec)) {
          absl::StatusOr<QuantizedLinear> q = QuantizeOnLoad(options.quantization, ModuleOf(spec),
                                                             *dst, spec.shape[0], spec.shape[1]);
          if (!q.ok()) return q.status();
          absl::StatusOr<std::vector<float>> d = q->Dequantize();
          if (!d.ok()) return d.status();
          *dst = *std::move(d);
          tally.Add(q->Label(), q->stored_bytes);
          return absl::OkStatus();
        }
        const std::string label = StoredLabel(options.dtype, (*t)->dtype);
        tally.Add(label, static_cast<int64_t>(dst->size()) * LabelBytes(label));
        return absl::OkStatus();
      });
  if (!w.ok()) return w.status();
  w->stored = std::move(tally);
  return w;
}

CpuWeights CpuWeights::Random(const ModelConfig& config, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::uniform_real_distribution<float> norm(0.8f, 1.2f);
  auto w = Build(config, [&](const WeightSpec& spec, std::vector<float>* dst) {
    const bool is_norm = spec.shape.size() == 1 && (spec.kind == WeightKind::kFinalNorm ||
                                                    spec.kind == WeightKind::kInputNorm ||
                                                    spec.kind == WeightKind::kPostAttentionNorm);
    for (float& x : *dst) x = is_norm ? norm(rng) : u(rng);
    return absl::OkStatus();
  });
  return *std::move(w);  // the fill above cannot fail
}

}  // namespace tessera
