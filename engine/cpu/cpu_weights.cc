#include "engine/cpu/cpu_weights.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/dtype.h"
#include "engine/model_weights.h"
#include "engine/parallel_tasks.h"
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

// Weights of `c`'s shapes with every tensor still empty.
CpuWeights Shaped(const ModelConfig& c) {
  CpuWeights w;
  w.layers.resize(c.num_hidden_layers);
  SetShapes(c, w);
  return w;
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Fills every expected tensor from `fill`, then ties lm_head to the embedding when asked.
absl::StatusOr<CpuWeights> Build(
    const ModelConfig& c,
    const std::function<absl::Status(const WeightSpec&, std::vector<float>*)>& fill) {
  CpuWeights w = Shaped(c);
  for (const WeightSpec& spec : ExpectedWeights(c)) {
    std::vector<float>* dst = Slot(w, spec);
    dst->resize(NumElements(spec.shape));
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

// Rounds the `n` values at `w` (elements `first`.. of `tensor`) to --dtype (nothing for auto and
// float32); InvalidArgument naming the tensor and element when a value overflows float16.
absl::Status RoundToDType(WeightDType dtype, const std::string& tensor, float* w, int64_t n,
                          int64_t first) {
  if (dtype == WeightDType::kBFloat16) {
    for (int64_t i = 0; i < n; ++i) w[i] = Bf16ToFloat(FloatToBf16(w[i]));
  } else if (dtype == WeightDType::kFloat16) {
    for (int64_t i = 0; i < n; ++i) {
      const float r = F16ToFloat(FloatToF16(w[i]));
      if (std::isinf(r) && !std::isinf(w[i])) {
        return absl::InvalidArgumentError(absl::StrCat("--dtype float16: tensor \"", tensor,
                                                       "\" holds ", w[i], " (element ", first + i,
                                                       "), beyond float16's range; use --dtype "
                                                       "bfloat16"));
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

// Tensors convert in ranges of this many elements, so one large tensor (the embedding) spreads
// over every thread; a quantized Linear loads whole.
constexpr int64_t kChunkElements = int64_t{1} << 20;

// One expected tensor and what loading it produced.
struct TensorJob {
  const WeightSpec* spec = nullptr;
  std::vector<float>* dst = nullptr;
  int64_t elements = 0;
  const QuantScheme* scheme = nullptr;  // pre-quantized in the checkpoint
  const TensorView* view = nullptr;     // otherwise: the checkpoint's tensor
  bool quantize_on_load = false;
  absl::Status status;  // the first failure
  // How the tensor is stored (WeightTally), set before the tasks run or by its one whole task.
  std::string label;
  int64_t stored_bytes = 0;
};

// Elements [begin, end) of job `job`; a whole-tensor task covers all of it.
struct LoadTask {
  size_t job = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

// Dequantizes a pre-quantized Linear, or converts, rounds and quantizes on load a whole tensor.
absl::Status LoadWholeTensor(const ModelConfig& config, const Checkpoint& checkpoint,
                             const WeightLoadOptions& options, TensorJob& j) {
  const WeightSpec& spec = *j.spec;
  absl::StatusOr<QuantizedLinear> q;
  if (j.scheme != nullptr) {
    // Dequantized once, here: the engine then runs its fp32 path on exactly these weights.
    q = LoadQuantizedLinear(checkpoint, config.quantization, *j.scheme, ModuleOf(spec),
                            spec.shape[0], spec.shape[1]);
  } else {
    j.dst->resize(j.elements);
    ConvertToFloat(j.view->dtype, j.view->data.data(), j.dst->size(), j.dst->data());
    if (absl::Status s = RoundToDType(options.dtype, spec.name, j.dst->data(), j.elements, 0);
        !s.ok()) {
      return s;
    }
    q = QuantizeOnLoad(options.quantization, ModuleOf(spec), *j.dst, spec.shape[0], spec.shape[1]);
  }
  if (!q.ok()) return q.status();
  absl::StatusOr<std::vector<float>> d = q->Dequantize();
  if (!d.ok()) return d.status();
  *j.dst = *std::move(d);
  j.label = q->Label();
  j.stored_bytes = q->stored_bytes;
  return absl::OkStatus();
}

absl::Status RunLoadTask(const ModelConfig& config, const Checkpoint& checkpoint,
                         const WeightLoadOptions& options, const LoadTask& t, TensorJob& j) {
  if (!j.status.ok()) return absl::OkStatus();  // the lookup failed; that error stands
  if (j.scheme != nullptr || j.quantize_on_load) {
    return LoadWholeTensor(config, checkpoint, options, j);
  }
  const size_t width = DTypeSize(j.view->dtype);
  float* dst = j.dst->data() + t.begin;
  ConvertToFloat(j.view->dtype, j.view->data.data() + t.begin * width, t.end - t.begin, dst);
  return RoundToDType(options.dtype, j.spec->name, dst, t.end - t.begin, t.begin);
}

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
  const std::vector<WeightSpec> specs = ExpectedWeights(config);
  CpuWeights w = Shaped(config);
  std::vector<TensorJob> jobs(specs.size());
  std::vector<LoadTask> tasks;
  for (size_t i = 0; i < specs.size(); ++i) {
    TensorJob& j = jobs[i];
    j.spec = &specs[i];
    j.dst = Slot(w, specs[i]);
    j.elements = NumElements(specs[i].shape);
    j.scheme = QuantizedScheme(config, specs[i]);
    if (j.scheme == nullptr) {
      absl::StatusOr<const TensorView*> t = checkpoint.Get(specs[i].name, specs[i].shape);
      if (!t.ok()) {
        j.status = t.status();
        continue;
      }
      j.view = *t;
      j.quantize_on_load =
          options.quantization.method != OnLoadMethod::kNone && IsDecoderLinearWeight(specs[i]);
      j.label = StoredLabel(options.dtype, j.view->dtype);
      j.stored_bytes = j.elements * LabelBytes(j.label);
    }
    if (j.scheme != nullptr || j.quantize_on_load) {
      tasks.push_back({i, 0, j.elements});
      continue;
    }
    for (int64_t b = 0; b < j.elements; b += kChunkElements) {
      tasks.push_back({i, b, std::min(b + kChunkElements, j.elements)});
    }
  }
  const int32_t threads = options.num_threads;
  // Sized first (the zero fill and page faults are half the work), then filled chunk by chunk.
  // The buffers are allocated here, on the calling thread: allocated by the workers they would
  // come from glibc's per-thread arenas, which malloc_trim does not fully give back, so a sleeping
  // engine's RSS would keep half its weights (cpu_engine_sleep_test). The workers only touch them.
  for (TensorJob& j : jobs) {
    if (j.status.ok() && j.view != nullptr) j.dst->reserve(j.elements);
  }
  RunParallel(static_cast<int64_t>(jobs.size()), threads, [&](int64_t i) {
    TensorJob& j = jobs[i];
    if (j.status.ok() && j.view != nullptr) j.dst->resize(j.elements);
  });
  std::vector<absl::Status> results(tasks.size());
  RunParallel(static_cast<int64_t>(tasks.size()), threads, [&](int64_t k) {
    results[k] = RunLoadTask(config, checkpoint, options, tasks[k], jobs[tasks[k].job]);
  });
  // The first failure in tensor order, as a one-by-one load would report it.
  for (size_t k = 0; k < tasks.size(); ++k) {
    TensorJob& j = jobs[tasks[k].job];
    if (!results[k].ok() && j.status.ok()) j.status = results[k];
  }
  WeightTally tally;
  for (const TensorJob& j : jobs) {
    if (!j.status.ok()) return j.status;
    tally.Add(j.label, j.stored_bytes);
  }
  if (config.tie_word_embeddings) w.lm_head.weight = w.embedding;
  w.stored = std::move(tally);
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
