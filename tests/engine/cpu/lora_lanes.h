// Driving an engine with golden reference cases as "lanes" of one batch, each with its own
// adapter slot, and comparing the outputs with the references: shared by the CPU and CUDA LoRA
// golden tests. Plans are built directly (prefill and decode steps), without the scheduler.
#ifndef TESSERA_TESTS_ENGINE_CPU_LORA_LANES_H_
#define TESSERA_TESTS_ENGINE_CPU_LORA_LANES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tests/engine/cpu/golden_reference.h"

namespace tessera {

// One sequence of a batch: a reference case and the adapter slot it runs with.
struct Lane {
  const GoldenCase* ref;
  int32_t slot;  // -1: base model
  std::string name;
};

// Consecutive blocks for each lane from block `first` on, enough for its prompt, its greedy tokens
// and one more.
std::vector<std::vector<int32_t>> AssignBlocks(const std::vector<Lane>& lanes, int32_t bs,
                                               int32_t first = 0);

// Every lane's prompt + greedy fed in one step, with the top-5 log-probabilities of each next
// token. KV blocks from `first_block` on (AssignBlocks).
std::vector<SequenceOutput> TeacherForce(Engine& engine, const std::vector<Lane>& lanes,
                                         int32_t first_block = 0);

// Greedy decoding of every lane together: a prefill step, then one decode step per token.
std::vector<std::vector<int32_t>> Greedy(Engine& engine, const std::vector<Lane>& lanes,
                                         int32_t first_block = 0);

// Teacher-forced log-probabilities (chosen and top 5) within `tolerance` of the reference; top-5
// ids equal except at the reference's own near-ties.
void ExpectMatchesTeacherForced(const SequenceOutput& got, const Lane& lane, double tolerance);

// Tokens agree up to the first step whose reference margin is below `tolerance`.
void ExpectMatchesGreedy(const std::vector<int32_t>& got, const Lane& lane, double tolerance);

}  // namespace tessera

#endif  // TESSERA_TESTS_ENGINE_CPU_LORA_LANES_H_
