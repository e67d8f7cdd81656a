// The CUDA engine with quantized Linears against the CPU reference engine on the same weights:
// pre-quantized fixtures (AWQ, GPTQ, FP8) and on-load int8 / fp8 / nf4 of tiny-llama (its hidden
// size, 64, is below int4's group of 128). Last-position logits of a short prompt (the
// weight-streaming GEMV path) and of a 40-token prompt (dequantize + cuBLAS), for the base model
// and with a LoRA adapter applied to the quantized GEMM's output; and greedy decoding replayed
// from CUDA graphs equals eager decoding.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_engine.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/lora_weights.h"
#include "engine/quant/on_load_quantizer.h"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/random_lora.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::tessera::testing::RandomLora;

struct QuantCase {
  std::string model;
  std::string on_load;  // "" for a pre-quantized checkpoint
};

void PrintTo(const QuantCase& c, std::ostream* os) {
  *os << c.model << (c.on_load.empty() ? "" : " --quantization " + c.on_load);
}

std::string Name(const ::testing::TestParamInfo<QuantCase>& info) {
  std::string n = info.param.model + (info.param.on_load.empty() ? "" : "_" + info.param.on_load);
  for (char& ch : n) {
    if (ch == '-') ch = '_';
  }
  return n;
}

std::vector<float> LastLogits(Engine& e, const std::vector<int32_t>& prompt, int32_t slot) {
  StepPlan plan;
  StepSequence s;
  s.return_last_logits = true;
  s.adapter_slot = slot;
  std::vector<int32_t> blocks;
  for (int32_t b = 0; b * kDefaultBlockSize < static_cast<int32_t>(prompt.size()); ++b) {
    blocks.push_back(b);
  }
  plan.AddSequence(prompt, blocks, kDefaultBlockSize, s);
  absl::StatusOr<StepResult> r = e.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->seqs[0].last_logits : std::vector<float>{};
}

class CudaQuantEngineTest : public ::testing::TestWithParam<QuantCase> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_GPU();
    dir_ = ::tessera::testing::FixturesDir() + "/models/" + GetParam().model;
    if (!std::filesystem::exists(dir_)) GTEST_SKIP() << dir_ << " not found";
    dir_ = ::tessera::testing::FixtureModelDir(dir_);
    if (!GetParam().on_load.empty()) {
      method_ = {*OnLoadMethodNamed(GetParam().on_load), false};
    }
  }

  std::unique_ptr<CudaEngine> Cuda(bool graphs) {
    CudaEngineOptions o;
    o.num_kv_blocks = 512;
    o.max_num_tokens = 256;
    o.max_loras = 2;
    o.max_lora_rank = 8;
    o.cuda_graphs = graphs;
    o.quantization = method_;
    absl::StatusOr<std::unique_ptr<CudaEngine>> e = CudaEngine::Load(dir_, o);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *std::move(e) : nullptr;
  }

  std::string dir_;
  OnLoadQuantization method_;
};

TEST_P(CudaQuantEngineTest, LastLogitsMatchTheCpuEngineWithAndWithoutLora) {
  std::unique_ptr<CudaEngine> cuda = Cuda(false);
  ASSERT_NE(cuda, nullptr);
  EXPECT_GT(cuda->quantized_weights().total(), 0);
  CpuEngineOptions co;
  co.num_kv_blocks = 64;
  co.max_loras = 2;
  co.weights.quantization = method_;
  absl::StatusOr<std::unique_ptr<CpuEngine>> cpu = CpuEngine::Load(dir_, co);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  std::shared_ptr<LoraWeights> lora = RandomLora(cuda->config());
  absl::StatusOr<int32_t> need = cuda->AdapterKvBlocks(*lora);
  ASSERT_TRUE(need.ok()) << need.status();
  std::vector<int32_t> blocks(*need);
  for (int32_t i = 0; i < *need; ++i) blocks[i] = 511 - i;
  ASSERT_TRUE(cuda->SetAdapter(0, lora, blocks).ok());
  ASSERT_TRUE((*cpu)->SetAdapter(0, lora, {}).ok());
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> tok(1,
                                             static_cast<int32_t>(cuda->config().vocab_size) - 1);
  for (int32_t len : {8, 40}) {  // 8 rows: GEMV; 40 rows: dequantize + cuBLAS
    std::vector<int32_t> prompt(len);
    for (int32_t& t : prompt) t = tok(rng);
    for (int32_t slot : {-1, 0}) {
      const std::vector<float> want = LastLogits(**cpu, prompt, slot);
      const std::vector<float> got = LastLogits(*cuda, prompt, slot);
      ASSERT_EQ(got.size(), want.size());
      const double err = ::tessera::testing::NormalizedError(got, want);
      EXPECT_LT(err, 2e-2) << "prompt " << len << " slot " << slot;
      std::printf("[ case ] %s prompt %d slot %d: normalized error vs CPU %.2e\n", dir_.c_str(),
                  len, slot, err);
    }
  }
}

TEST_P(CudaQuantEngineTest, GraphDecodingMatchesEager) {
  std::unique_ptr<CudaEngine> eager = Cuda(false), graphs = Cuda(true);
  ASSERT_NE(eager, nullptr);
  ASSERT_NE(graphs, nullptr);
  // Three sequences decode 12 tokens greedily, one token each per step (graph-eligible steps).
  auto decode = [](Engine& e) {
    std::vector<std::vector<int32_t>> out(3);
    std::vector<int32_t> next = {17, 4242, 999};
    for (int32_t step = 0; step < 12; ++step) {
      StepPlan plan;
      for (int32_t s = 0; s < 3; ++s) {
        StepSequence seq;
        seq.num_cached_tokens = step;
        seq.sample = true;
        plan.AddSequence({next[s]}, {s * 4, s * 4 + 1}, kDefaultBlockSize, seq);
      }
      absl::StatusOr<StepResult> r = e.Step(plan);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return out;
      for (int32_t s = 0; s < 3; ++s) {
        next[s] = r->seqs[s].sampled_token;
        out[s].push_back(next[s]);
      }
    }
    return out;
  };
  EXPECT_EQ(decode(*graphs), decode(*eager));
}

INSTANTIATE_TEST_SUITE_P(
    Models, CudaQuantEngineTest,
    ::testing::Values(QuantCase{"quant-llama-awq", ""}, QuantCase{"quant-llama-gptq", ""},
                      QuantCase{"quant-llama-fp8", ""}, QuantCase{"tiny-llama", "int8"},
                      QuantCase{"tiny-llama", "fp8"}, QuantCase{"tiny-llama", "nf4"}),
    Name);

}  // namespace
}  // namespace tessera
