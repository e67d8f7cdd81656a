#include "client/plan_command.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/model_presets.h"
#include "engine/engine_loader.h"
#include "scheduler/scheduler_core.h"

namespace tessera {
namespace {

absl::StatusOr<ModelConfig> PlanModelConfig(const PlanFlags& f) {
  const int sources = !f.model_dir.empty() + !f.config_file.empty() + !f.preset.empty();
  if (sources != 1) {
    return absl::InvalidArgumentError("give exactly one of --model, --config and --preset");
  }
  if (!f.model_dir.empty()) return LoadModelConfig(f.model_dir);
  if (!f.preset.empty()) return PresetModelConfig(f.preset);
  std::ifstream in(f.config_file, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", f.config_file));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), f.config_file);
}

absl::StatusOr<int64_t> PlanGpuBytes(const PlanFlags& f) {
  if (f.gpu_memory.empty() == f.gpu.empty()) {
    return absl::InvalidArgumentError("give exactly one of --gpu-memory and --gpu");
  }
  return f.gpu.empty() ? ParseMemorySize(f.gpu_memory) : GpuMemoryBytes(f.gpu);
}

}  // namespace

int RunPlan(const PlanFlags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ModelConfig> config = PlanModelConfig(flags);
  absl::StatusOr<int64_t> gpu = PlanGpuBytes(flags);
  absl::Status s = config.ok() ? gpu.status() : config.status();
  if (s.ok() && flags.dtype != "bfloat16" && flags.dtype != "float16") {
    s = absl::InvalidArgumentError(
        absl::StrCat("--dtype: unknown \"", flags.dtype, "\" (known: bfloat16, float16)"));
  }
  VramPlanRequest request = flags.request;
  if (s.ok()) {
    request.gpu_bytes = *gpu;
    request.quantization = flags.quantization;
    request.dtype = flags.dtype;
  }
  absl::StatusOr<VramPlan> plan = s.ok() ? PlanVram(*config, request) : s;
  if (!plan.ok()) {
    err << "tessera plan: " << plan.status().message() << "\n";
    return 2;
  }
  if (flags.json) {
    out << VramPlanJson(request, *plan).dump(2) << "\n";
  } else {
    out << FormatVramPlan(*config, request, *plan);
  }
  out.flush();
  return plan->fits ? 0 : 1;
}

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<PlanFlags>();
  // tesserad's defaults.
  const EngineLoadOptions engine;
  const SchedulerOptions scheduler;
  CudaMemoryOptions& e = f->request.engine;
  e.block_size = engine.block_size;
  e.gpu_memory_utilization = engine.gpu_memory_utilization;
  e.max_num_tokens = scheduler.max_num_batched_tokens;
  e.max_num_seqs = scheduler.max_num_seqs;
  e.max_loras = engine.max_loras;
  e.max_lora_rank = engine.max_lora_rank;
  CLI::App* cmd = app.add_subcommand(
      "plan", "Will a model fit a GPU: weights, workspace, KV cache and adapters (CUDA engine)");
  cmd->add_option("--model", f->model_dir, "Model directory (its config.json)");
  cmd->add_option("--config", f->config_file, "A config.json");
  cmd->add_option("--preset", f->preset,
                  "tiny-llama | llama-mini | llama-small | llama-3-8b | llama-3.2-1b");
  cmd->add_option("--gpu-memory", f->gpu_memory, "Device memory, e.g. 24GiB or 80GB");
  cmd->add_option("--gpu", f->gpu,
                  "rtx-3090 | rtx-4090 | l4 | a10 | a100-40gb | a100-80gb | h100 | h200");
  cmd->add_option("--quantization", f->quantization,
                  "none | int8 | int4 | fp8 | nf4 | awq | gptq | compressed-tensors")
      ->capture_default_str();
  cmd->add_option("--dtype", f->dtype, "bfloat16 | float16 (unquantized weights, activations)")
      ->capture_default_str();
  cmd->add_option("--max-model-len", e.max_model_len,
                  "Longest request (prompt + output); default: the model's context")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-num-seqs", e.max_num_seqs, "Sequences per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--max-num-batched-tokens", e.max_num_tokens, "Tokens per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-loras", e.max_loras, "Adapters resident at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-lora-rank", e.max_lora_rank, "Largest adapter rank (the size reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--gpu-memory-utilization", e.gpu_memory_utilization,
                  "Share of device memory the engine may use")
      ->capture_default_str();
  cmd->add_option("--block-size", e.block_size, "Tokens per KV block")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--json", f->json, "Print the plan as JSON");
  cmd->callback([f, exit_code] { *exit_code = RunPlan(*f, std::cout, std::cerr); });
}

}  // namespace tessera
