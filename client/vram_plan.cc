#include "client/vram_plan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "engine/lora_layout.h"
#include "engine/lora_weights.h"

namespace tessera {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// Each format as the CUDA engine packs it: AWQ, GPTQ and compressed-tensors keep their f16 scales
// and small integer zeros (f16) per group of 128 (4.25 bits per weight), on-load int4 rounds its
// scales to f16 on purpose, on-load int8 and FP8 keep fp32 per-channel scales (int8 also its zero
// point 128), NF4 an fp32 absmax per 64 values.
const std::array<WeightQuantization, 8>& KnownQuantizations() {
  using K = PackedKind;
  using T = PackedParamType;
  static const auto* const known = new std::array<WeightQuantization, 8>{{
      {"none", "bf16", K::kInt4, 0, T::kF16, T::kF16},
      {"int8", "int8 per-channel", K::kInt8, 0, T::kF32, T::kF16},
      {"fp8", "fp8 e4m3 per-channel", K::kFp8, 0, T::kF32, T::kF32},
      {"int4", "int4 g128", K::kInt4, 128, T::kF16, T::kF16},
      {"awq", "int4 g128 AWQ", K::kInt4, 128, T::kF16, T::kF16},
      {"gptq", "int4 g128 GPTQ", K::kInt4, 128, T::kF16, T::kF16},
      {"compressed-tensors", "int4 g128 compressed-tensors", K::kInt4, 128, T::kF16, T::kF16},
      {"nf4", "nf4 b64", K::kNf4, 64, T::kF32, T::kF32},
  }};
  return *known;
}

std::string GiBText(int64_t bytes) {
  if (bytes < kGiB) return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / kGiB);
}

// Bytes of one [out, in] linear layer in `q`, as PackLinear lays it out.
int64_t LinearBytes(int64_t out, int64_t in, const WeightQuantization& q) {
  return PackedLinearBytes(q.kind, out, in, q.group > 0 ? q.group : in, q.scale_type, q.zero_type,
                           /*act_order=*/false);
}

// One adapter of `rank` on every projection of every layer, as shapes only (PlanLoraLayout reads
// ranks and features, never the values).
LoraWeights AdapterShape(const ModelConfig& c, int32_t rank) {
  LoraWeights w;
  w.layers.resize(c.num_hidden_layers);
  for (auto& layer : w.layers) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      layer[m].rank = rank;
      layer[m].in_features = LoraModuleInFeatures(c, static_cast<LoraModule>(m));
      layer[m].out_features = LoraModuleOutFeatures(c, static_cast<LoraModule>(m));
    }
  }
  return w;
}

}  // namespace

absl::StatusOr<WeightQuantization> WeightQuantizationNamed(const std::string& name) {
  std::vector<std::string> names;
  for (const WeightQuantization& q : KnownQuantizations()) {
    if (q.name == name) return q;
    names.push_back(q.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("--quantization: unknown \"", name,
                                                 "\" (known: ", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<int64_t> GpuMemoryBytes(const std::string& gpu) {
  // Published memory sizes (NVIDIA's "GB" on these cards are GiB: an 80GB H100 has 81920 MiB).
  // The driver reports a little less than the published size; --gpu-memory takes exact figures.
  static constexpr std::pair<absl::string_view, int64_t> kGpus[] = {
      {"rtx-3090", 24},  {"rtx-4090", 24},  {"l4", 24},   {"a10", 24},
      {"a100-40gb", 40}, {"a100-80gb", 80}, {"h100", 80}, {"h200", 141},
  };
  const std::string want = absl::AsciiStrToLower(gpu);
  std::vector<std::string> names;
  for (const auto& [name, gib] : kGpus) {
    if (want == name) return gib * kGiB;
    names.emplace_back(std::string(name));
  }
  return absl::InvalidArgumentError(absl::StrCat("--gpu: unknown \"", gpu,
                                                 "\" (known: ", absl::StrJoin(names, ", "),
                                                 "; or give --gpu-memory, e.g. 24GiB)"));
}

absl::StatusOr<int64_t> ParseMemorySize(const std::string& text) {
  const absl::string_view s = absl::StripAsciiWhitespace(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  const absl::string_view number = s.substr(0, i);
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(i)));
  static constexpr std::pair<absl::string_view, double> kUnits[] = {
      {"", 1},          {"b", 1},         {"kib", 1024.0},
      {"kb", 1e3},      {"mib", 1 << 20}, {"mb", 1e6},
      {"gib", 1 << 30}, {"gb", 1e9},      {"tib", 1099511627776.0},
      {"tb", 1e12}};
  double value = 0;
  if (!number.empty() && absl::SimpleAtod(number, &value) && value > 0) {
    for (const auto& [name, scale] : kUnits) {
      if (unit == name && value * scale < 1e15) return static_cast<int64_t>(value * scale);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--gpu-memory: \"", text, "\" is not a memory size (e.g. 24GiB, 80GB, 16384MiB)"));
}

WeightBytes EstimateWeightBytes(const ModelConfig& c, const WeightQuantization& q) {
  WeightBytes w;
  if (q.name == "none") {
    w.unquantized = CudaBf16WeightBytes(c);  // the engine's own arena size
    return w;
  }
  const int64_t h = c.hidden_size, im = c.intermediate_size, qs = c.q_size(), kv = c.kv_size();
  const int64_t layers = c.num_hidden_layers;
  w.quantized =
      layers * (LinearBytes(qs, h, q) + 2 * LinearBytes(kv, h, q) + LinearBytes(h, qs, q) +
                2 * LinearBytes(im, h, q) + LinearBytes(h, im, q));
  int64_t values = c.vocab_size * h * (c.tie_word_embeddings ? 1 : 2) + h;  // + the final norm
  int64_t per_layer = 2 * h;                                                // the two norms
  if (c.qkv_bias) per_layer += qs + 2 * kv;
  if (c.o_bias) per_layer += h;
  if (c.mlp_bias) per_layer += 2 * im + h;
  values += layers * per_layer;
  w.unquantized = values * 2;
  return w;
}

absl::StatusOr<VramPlan> PlanVram(const ModelConfig& config, const VramPlanRequest& r) {
  if (r.gpu_bytes <= 0) return absl::InvalidArgumentError("GPU memory must be > 0");
  if (r.engine.block_size < 1 || r.engine.max_num_tokens < 1 || r.engine.max_num_seqs < 1 ||
      r.engine.max_loras < 0 || r.engine.max_lora_rank < 1) {
    return absl::InvalidArgumentError(
        "block size, max-num-batched-tokens, max-num-seqs and max-lora-rank must be >= 1, "
        "max-loras >= 0");
  }
  if (r.engine.max_model_len < 0 || r.engine.max_model_len > config.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-model-len must be in [1, ", config.max_position_embeddings,
                     "] (the model's max_position_embeddings), got ", r.engine.max_model_len));
  }
  VramPlan p;
  absl::StatusOr<WeightQuantization> q = WeightQuantizationNamed(r.quantization);
  if (!q.ok()) return q.status();
  p.quantization = *q;
  p.weights = EstimateWeightBytes(config, p.quantization);
  p.max_model_len =
      r.engine.max_model_len > 0 ? r.engine.max_model_len : config.max_position_embeddings;

  // The engine's inputs, on an otherwise empty card (quantized Linears add the dequantize
  // workspace of large steps).
  CudaMemoryOptions engine = r.engine;
  engine.quantized = p.quantization.name != "none";
  p.inputs = CudaMemoryPlanInputs(config, engine);
  p.inputs.device_total_bytes = r.gpu_bytes;
  p.inputs.device_free_bytes = r.gpu_bytes;
  p.inputs.weight_bytes = p.weights.total();
  absl::StatusOr<MemoryPlan> verdict = PlanDeviceMemory(p.inputs);
  if (absl::IsInvalidArgument(verdict.status())) return verdict.status();
  p.fits = verdict.ok();
  if (!p.fits) p.verdict = std::string(verdict.status().message());
  // The figures, fitting or not: the same plan asking for no minimum.
  MemoryPlanInputs figures = p.inputs;
  figures.min_kv_blocks = 0;
  figures.num_kv_blocks = 0;
  absl::StatusOr<MemoryPlan> plan = PlanDeviceMemory(figures);
  if (!plan.ok()) return plan.status();
  p.plan = *plan;

  const int64_t block = r.engine.block_size;
  p.kv_bytes_per_token = p.inputs.kv_bytes_per_block / block;
  p.kv_tokens = int64_t{p.plan.num_kv_blocks} * block;
  const int64_t blocks_per_seq = (p.max_model_len + block - 1) / block;
  p.full_context_seqs = p.plan.num_kv_blocks / blocks_per_seq;

  p.adapter_rank = r.adapter_rank > 0 ? r.adapter_rank : r.engine.max_lora_rank;
  // The engine's chunk: one block of K and V per layer (CudaEngine's KvPoolView).
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(AdapterShape(config, p.adapter_rank),
                                                     2 * block * config.kv_size(), p.adapter_rank);
  if (!layout.ok()) return layout.status();
  p.adapter_blocks = layout->num_blocks;
  if (p.adapter_blocks > 0) p.adapters_in_pool = p.plan.num_kv_blocks / p.adapter_blocks;
  const int64_t resident = int64_t{r.engine.max_loras} * p.adapter_blocks;
  p.kv_tokens_with_resident_adapters =
      std::max<int64_t>(0, p.plan.num_kv_blocks - resident) * block;

  if (!p.fits) {
    // A smaller format, at the same context.
    for (const char* smaller : {"int8", "int4", "nf4"}) {
      absl::StatusOr<WeightQuantization> s = WeightQuantizationNamed(smaller);
      const WeightBytes wb = EstimateWeightBytes(config, *s);
      if (wb.total() >= p.weights.total()) continue;
      CudaMemoryOptions quantized = r.engine;
      quantized.quantized = true;
      MemoryPlanInputs in = p.inputs;
      in.workspace_bytes = CudaMemoryPlanInputs(config, quantized).workspace_bytes;
      in.weight_bytes = wb.total();
      if (absl::StatusOr<MemoryPlan> ok = PlanDeviceMemory(in); ok.ok()) {
        p.advice.push_back(absl::StrCat("--quantization ", smaller, " fits: weights ",
                                        GiBText(wb.total()), ", ",
                                        int64_t{ok->num_kv_blocks} * block, " KV tokens"));
        break;
      }
    }
    // A shorter context, in this format.
    const int64_t len = p.kv_tokens / 256 * 256;
    if (len >= 256) {
      p.advice.push_back(absl::StrCat("--max-model-len ", len, " fits (", p.kv_tokens,
                                      " KV tokens are left for one sequence)"));
    }
    if (p.advice.empty()) {
      p.advice.push_back(absl::StrCat("weights ", GiBText(p.weights.total()), " + workspace ",
                                      GiBText(p.inputs.workspace_bytes),
                                      " leave no room for KV within ", GiBText(p.plan.budget_bytes),
                                      ": a larger GPU, a higher --gpu-memory-utilization, or a "
                                      "smaller --max-num-batched-tokens"));
    }
  }
  return p;
}

std::string FormatVramPlan(const ModelConfig& c, const VramPlanRequest& r, const VramPlan& p) {
  std::string out = absl::StrFormat(
      "model: %d layers, hidden %d, %d/%d heads x %d, intermediate %d, vocab %d, context %d\n"
      "gpu: %s x %.2f = budget %s\n",
      c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
      c.intermediate_size, c.vocab_size, c.max_position_embeddings, GiBText(r.gpu_bytes),
      r.engine.gpu_memory_utilization, GiBText(p.plan.budget_bytes));
  std::string by_dtype =
      absl::StrCat(r.dtype == "float16" ? "f16 " : "bf16 ", GiBText(p.weights.unquantized));
  if (p.weights.quantized > 0) {
    by_dtype =
        absl::StrCat(p.quantization.label, " ", GiBText(p.weights.quantized), ", ", by_dtype);
  }
  absl::StrAppendFormat(&out, "  %-22s %12s  (%s)\n", "weights", GiBText(p.weights.total()),
                        by_dtype);
  absl::StrAppendFormat(&out, "  %-22s %12s  (%d tokens / %d sequences per step%s)\n", "workspace",
                        GiBText(p.inputs.workspace_bytes), r.engine.max_num_tokens,
                        r.engine.max_num_seqs, r.engine.max_loras > 0 ? ", LoRA tables" : "");
  absl::StrAppendFormat(&out, "  %-22s %12s  (%d blocks of %d tokens)\n", "KV pool",
                        GiBText(p.plan.kv_bytes), p.plan.num_kv_blocks, r.engine.block_size);
  absl::StrAppendFormat(&out, "  %-22s %12d  bytes (bf16 K and V, every layer)\n", "KV per token",
                        p.kv_bytes_per_token);
  absl::StrAppendFormat(&out, "  %-22s %12d\n", "KV tokens", p.kv_tokens);
  absl::StrAppendFormat(&out, "  %-22s %12d  of %d tokens (max-model-len)\n", "full-context seqs",
                        p.full_context_seqs, p.max_model_len);
  absl::StrAppendFormat(&out,
                        "  %-22s %12d  (%d KV blocks = %s each; %d resident leave %d KV "
                        "tokens)\n",
                        absl::StrCat("adapters at rank ", p.adapter_rank), p.adapters_in_pool,
                        p.adapter_blocks,
                        GiBText(int64_t{p.adapter_blocks} * p.inputs.kv_bytes_per_block),
                        r.engine.max_loras, p.kv_tokens_with_resident_adapters);
  if (p.fits) {
    absl::StrAppend(&out, "fits\n");
  } else {
    absl::StrAppend(&out, "DOES NOT FIT: ", p.verdict, "\n");
    for (const std::string& a : p.advice) absl::StrAppend(&out, "  would fit: ", a, "\n");
  }
  return out;
}

nlohmann::json VramPlanJson(const VramPlanRequest& r, const VramPlan& p) {
  nlohmann::json j;
  j["gpu_memory_bytes"] = r.gpu_bytes;
  j["gpu_memory_utilization"] = r.engine.gpu_memory_utilization;
  j["budget_bytes"] = p.plan.budget_bytes;
  j["quantization"] = p.quantization.name;
  j["dtype"] = r.dtype;
  j["weights"] = {{"total_bytes", p.weights.total()},
                  {"quantized_bytes", p.weights.quantized},
                  {"quantized_format", p.weights.quantized > 0 ? p.quantization.label : ""},
                  {"unquantized_bytes", p.weights.unquantized}};
  j["workspace_bytes"] = p.inputs.workspace_bytes;
  j["kv_bytes_per_token"] = p.kv_bytes_per_token;
  j["kv_block_size"] = r.engine.block_size;
  j["kv_blocks"] = p.plan.num_kv_blocks;
  j["kv_pool_bytes"] = p.plan.kv_bytes;
  j["kv_tokens"] = p.kv_tokens;
  j["max_model_len"] = p.max_model_len;
  j["full_context_seqs"] = p.full_context_seqs;
  j["adapters"] = {{"rank", p.adapter_rank},
                   {"kv_blocks_each", p.adapter_blocks},
                   {"bytes_each", int64_t{p.adapter_blocks} * p.inputs.kv_bytes_per_block},
                   {"fit_in_pool", p.adapters_in_pool},
                   {"max_loras", r.engine.max_loras},
                   {"kv_tokens_with_max_loras_resident", p.kv_tokens_with_resident_adapters}};
  j["fits"] = p.fits;
  j["verdict"] = p.verdict;
  j["advice"] = p.advice;
  return j;
}

}  // namespace tessera
