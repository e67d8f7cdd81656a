#include "scheduler/cost_models.h"

namespace tessera {
namespace {

StepSample Decode(int64_t batch, int64_t attended_per_sequence, double ms, bool adapter = false) {
  StepSample s;
  s.shape.decode_sequences = batch;
  s.shape.attended_tokens = batch * attended_per_sequence;
  s.shape.adapter_rows = adapter ? batch : 0;
  s.seconds = ms * 1e-3;
  return s;
}

// `sequences` prompts of `prompt` tokens each, prefilled in one step.
StepSample Prefill(int64_t sequences, int64_t prompt, double ms, bool adapter = false) {
  StepSample s;
  s.shape.prefill_tokens = sequences * prompt;
  s.shape.attended_tokens = sequences * StepShape::AttendedByChunk(0, prompt);
  s.shape.adapter_rows = adapter ? sequences * prompt : 0;
  s.seconds = ms * 1e-3;
  return s;
}

}  // namespace

std::vector<StepSample> H100Llama3_8bSamples() {
  return {
      // bench/engine_bench decode: 512-token prompts, then 128 steps at positions 512..639,
      // each token attending 513..640 positions: 577 on average.
      Decode(1, 577, 6.83),
      Decode(16, 577, 7.40),
      Decode(64, 577, 9.37),
      Decode(256, 577, 17.0),
      // Prefill 16 x 512 tokens per step at 41102 tokens/s, and 1 x 8192 at 25798 tokens/s
      // (the second is what gives attention its cost: same tokens, 16x the positions).
      Prefill(16, 512, 8192 / 41102.0 * 1e3),
      Prefill(1, 8192, 8192 / 25798.0 * 1e3),
  };
}

std::vector<StepSample> CpuLlamaSmallSamples() {
  // bench/cpu_engine_bench --threads 1 --cpu-time --repeats 5 (medians), 2026-12-05 on the 2-core
  // build machine, its synthetic 512x8 Llama (the llama-small preset's shape: the same engine
  // code and GEMM sizes; only the random weights differ, which does not change the time):
  //   --prompt 16 --context 64, --prompt 256 --context 512, --prompt 1024 --context 2048,
  //   each with --batches 1,4,16,32; and --prompt 64 --context 512 --batches 1,16 --lora-ranks 16.
  // A decode at context c attends c + 1 positions. Process CPU time of one thread, because wall
  // time on the shared machine swung 10x with the other builds running (two threads: 193 ms for a
  // batch-1 decode that takes 19 ms on one).
  return {
      Prefill(1, 16, 48.8),
      Prefill(1, 64, 157.0),
      Prefill(1, 256, 611.0),
      Prefill(1, 1024, 3135.2),
      Prefill(1, 64, 168.0, /*adapter=*/true),
      Decode(1, 65, 18.78),
      Decode(4, 65, 29.19),
      Decode(16, 65, 72.08),
      Decode(32, 65, 127.57),
      Decode(1, 513, 19.66),
      Decode(4, 513, 31.22),
      Decode(16, 513, 85.04),
      Decode(32, 513, 146.22),
      Decode(1, 513, 19.01),
      Decode(16, 513, 78.67),
      Decode(1, 2049, 24.64),
      Decode(4, 2049, 42.17),
      Decode(16, 2049, 116.95),
      Decode(32, 2049, 208.30),
      Decode(1, 513, 19.80, /*adapter=*/true),
      Decode(16, 513, 84.06, /*adapter=*/true),
  };
}

// StepTimeModel::Seed(H100Llama3_8bSamples()) with default options (ridge 1e-6), printed with
// 17 digits; cost_models_test repeats the fit. About 6.8 ms per step (reading 16 GB of weights),
// 22.5 us per prefill token, 37.7 us per decoding sequence, 3.8 ns per attended position. No
// LoRA figures on a GPU yet: adapter rows cost 0 here.
StepTimeCoefficients H100Llama3_8bCostModel() {
  return {.constant = 0.0067872699622505738,
          .per_prefill_token = 2.25370814802314e-05,
          .per_decode_sequence = 3.7745976413342376e-05,
          .per_attended_token = 3.7585928630360009e-09,
          .per_adapter_row = 0};
}

// StepTimeModel::Seed(CpuLlamaSmallSamples()), as above. About 15 ms per step (one pass over
// the 230 MB of fp32 weights), 2.2 ms per prefill token, 3.1 ms per decoding sequence (a decode
// also computes its row of the 32000-wide output layer, which a prefill chunk does for its last
// token only), 1.7 us per attended position, 0.19 ms per rank-16 adapter row. Single-threaded
// work: the daemon on both cores of a quiet machine steps faster (the load test saw about
// 2 ms per step plus 1.5 ms per token); the online StepTimeModel refits to what it measures.
StepTimeCoefficients CpuLlamaSmallCostModel() {
  return {.constant = 0.015159715716861784,
          .per_prefill_token = 0.00215319735131502,
          .per_decode_sequence = 0.0030816134772570728,
          .per_attended_token = 1.737806151391065e-06,
          .per_adapter_row = 0.000187663758261828};
}

}  // namespace tessera
