// Step-time cost models of real engines, for the SLO simulator (an engine whose step takes the
// time a model says, on a virtual clock) and as priors of the online StepTimeModel. Each is a
// StepTimeCoefficients fitted by StepTimeModel::Seed to measured steps; the measurements are
// kept here too (the *Samples functions), so that the fit can be repeated and checked
// (tests/scheduler/cost_models_test.cc).
//
// Values: immutable, thread-safe.
#ifndef TESSERA_SCHEDULER_COST_MODELS_H_
#define TESSERA_SCHEDULER_COST_MODELS_H_

#include <vector>

#include "scheduler/step_time_model.h"

namespace tessera {

// Llama-3-8B (bf16) on one H100 80GB HBM3, tessera's CUDA engine, eager steps: the figures of
// bench/GPU-NOTES.md (2026-11-23).
StepTimeCoefficients H100Llama3_8bCostModel();
std::vector<StepSample> H100Llama3_8bSamples();

// The CPU engine (fp32) on `make-model --preset llama-small` (512 hidden, 8 layers, 32000
// vocabulary) on this project's 2-core build machine, one thread.
StepTimeCoefficients CpuLlamaSmallCostModel();
std::vector<StepSample> CpuLlamaSmallSamples();

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_COST_MODELS_H_
