// `tessera plan`: will a model fit a GPU, and with how much KV cache and how many adapters.
//
//   tessera plan (--model DIR | --config config.json | --preset NAME)
//                (--gpu-memory 24GiB | --gpu NAME) [--quantization none|int8|int4|fp8|nf4|awq|gptq|
//                compressed-tensors] [--dtype bfloat16|float16] [--max-model-len N]
//                [--max-num-seqs N] [--max-num-batched-tokens N] [--max-loras N --max-lora-rank R]
//                [--gpu-memory-utilization 0.9] [--block-size 16] [--json]
//
// Prints the CUDA engine's memory plan for that card (vram_plan.h). Exit codes: 0 it fits, 1 it
// does not (the report says what would), 2 bad flags or an unreadable config.
#ifndef TESSERA_CLIENT_PLAN_COMMAND_H_
#define TESSERA_CLIENT_PLAN_COMMAND_H_

#include <iosfwd>
#include <string>

#include "CLI/CLI.hpp"
#include "client/vram_plan.h"

namespace tessera {

struct PlanFlags {
  std::string model_dir, config_file, preset;
  std::string gpu_memory, gpu;
  std::string quantization = "none";
  std::string dtype = "bfloat16";
  VramPlanRequest request;  // engine limits; gpu_bytes and quantization filled from the above
  bool json = false;
};

// Runs the command: the report on `out`, errors on `err`; returns the exit code.
int RunPlan(const PlanFlags& flags, std::ostream& out, std::ostream& err);

void AddPlanCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_PLAN_COMMAND_H_
