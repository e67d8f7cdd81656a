// The host parts of lora_bench: synthetic adapters (shapes, determinism, the PEFT directory read
// back by LoadPeftAdapter), the power-law sampler, workloads, and the scheduler-driven throughput
// run over the CPU engine (exact token count, adapter loads, timeout and refusal paths).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "adapters/peft_loader.h"
#include "bench/lora_throughput_run.h"
#include "bench/lora_workload.h"
#include "bench/synthetic_lora.h"
#include "bench/zipf_sampler.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/dtype.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

ModelConfig TinyLlama() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.max_position_embeddings = 512;
  c.eos_token_ids = {1};
  c.layer_sliding_window.assign(c.num_hidden_layers, 0);
  return c;
}

SyntheticLoraSpec Spec(int32_t rank, const std::string& targets, uint64_t seed) {
  SyntheticLoraSpec s;
  s.rank = rank;
  s.targets = *ParseLoraTargets(targets);
  s.seed = seed;
  return s;
}

TEST(ParseLoraTargetsTest, ShortAndPeftNamesInEnumOrder) {
  EXPECT_THAT(
      *ParseLoraTargets("v,q, o ,k"),
      ::testing::ElementsAre(LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO));
  EXPECT_THAT(*ParseLoraTargets("down_proj,gate,down"),
              ::testing::ElementsAre(LoraModule::kGate, LoraModule::kDown));
  EXPECT_EQ(ParseLoraTargets("all")->size(), 7u);
  EXPECT_EQ(ParseLoraTargets("q,bogus").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLoraTargets(" , ").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RandomLoraWeightsTest, ShapesSizesAndRange) {
  const ModelConfig c = TinyLlama();
  const SyntheticLoraSpec spec = Spec(4, "q,v,down", 7);
  const auto w = RandomLoraWeights(c, spec);
  ASSERT_TRUE(w->Validate(c).ok()) << w->Validate(c);
  EXPECT_EQ(w->num_bytes(), SyntheticLoraBytes(c, spec));
  EXPECT_EQ(w->max_rank(), 4);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    EXPECT_EQ(w->Find(l, LoraModule::kK), nullptr);
    const LoraPair* down = w->Find(l, LoraModule::kDown);
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->a.size(), size_t{4} * 48);
    EXPECT_EQ(down->b.size(), size_t{32} * 4);
    EXPECT_FLOAT_EQ(down->scale, 2.0f);
    float most = 0;
    for (float x : down->a) most = std::max(most, std::fabs(x));
    EXPECT_LE(most, 0.01f);
    EXPECT_GT(most, 0.005f);  // not all zeros or tiny
  }
}

TEST(RandomLoraWeightsTest, SeedDecidesTheValues) {
  const ModelConfig c = TinyLlama();
  const auto a = RandomLoraWeights(c, Spec(2, "q", 1));
  const auto b = RandomLoraWeights(c, Spec(2, "q", 1));
  const auto d = RandomLoraWeights(c, Spec(2, "q", 2));
  EXPECT_EQ(a->layers[1][0].a, b->layers[1][0].a);
  EXPECT_NE(a->layers[1][0].a, d->layers[1][0].a);
  EXPECT_NE(a->layers[0][0].a, a->layers[1][0].a);  // layers differ too
  EXPECT_NE(a->layers[0][0].a[0], a->layers[0][0].b[0]);
}

TEST(RandomLoraWeightsTest, ParallelMatchesOneByOne) {
  const ModelConfig c = TinyLlama();
  std::vector<SyntheticLoraSpec> specs;
  for (uint64_t i = 0; i < 9; ++i) specs.push_back(Spec(1 + static_cast<int32_t>(i % 3), "all", i));
  const auto many = RandomLoraWeightsParallel(c, specs, 4);
  ASSERT_EQ(many.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto one = RandomLoraWeights(c, specs[i]);
    EXPECT_EQ(many[i]->layers[1][6].b, one->layers[1][6].b) << i;
  }
}

TEST(WritePeftAdapterDirTest, LoadPeftAdapterReadsItBackAsBf16) {
  const ModelConfig c = TinyLlama();
  const auto w = RandomLoraWeights(c, Spec(3, "k,o,up", 5));
  const std::string dir = tessera::testing::TestDir("lora_bench_parts", "peft_dir");
  ASSERT_TRUE(WritePeftAdapterDir(dir, *w).ok());
  absl::StatusOr<PeftAdapter> loaded = LoadPeftAdapter(dir, c);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->max_rank, 3);
  EXPECT_THAT(loaded->target_modules,
              ::testing::ElementsAre(LoraModule::kK, LoraModule::kO, LoraModule::kUp));
  EXPECT_THAT(loaded->file_dtypes, ::testing::ElementsAre(DType::kBF16));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (LoraModule m : {LoraModule::kK, LoraModule::kO, LoraModule::kUp}) {
      const LoraPair* want = w->Find(l, m);
      const LoraPair* got = loaded->weights->Find(l, m);
      ASSERT_NE(got, nullptr);
      EXPECT_FLOAT_EQ(got->scale, want->scale);
      ASSERT_EQ(got->a.size(), want->a.size());
      ASSERT_EQ(got->b.size(), want->b.size());
      for (size_t i = 0; i < want->a.size(); ++i) {
        ASSERT_EQ(got->a[i], Bf16ToFloat(FloatToBf16(want->a[i]))) << l << " " << i;
      }
      for (size_t i = 0; i < want->b.size(); ++i) {
        ASSERT_EQ(got->b[i], Bf16ToFloat(FloatToBf16(want->b[i]))) << l << " " << i;
      }
    }
    EXPECT_EQ(loaded->weights->Find(l, LoraModule::kQ), nullptr);
  }
}

TEST(WritePeftAdapterDirTest, RefusesRanksThatDifferBetweenLayers) {
  const ModelConfig c = TinyLlama();
  auto w = std::make_shared<LoraWeights>(*RandomLoraWeights(c, Spec(2, "q", 1)));
  const auto r4 = RandomLoraWeights(c, Spec(4, "q", 1));
  w->layers[1] = r4->layers[1];
  const std::string dir = tessera::testing::TestDir("lora_bench_parts", "mixed");
  EXPECT_EQ(WritePeftAdapterDir(dir, *w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ZipfSamplerTest, PowerLawProbabilitiesAndDraws) {
  const ZipfSampler zipf(100, 1.0);
  double sum = 0;
  for (int32_t k = 0; k < zipf.n(); ++k) sum += zipf.Probability(k);
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_NEAR(zipf.Probability(0) / zipf.Probability(1), 2.0, 1e-9);
  EXPECT_NEAR(zipf.Probability(0) / zipf.Probability(9), 10.0, 1e-9);
  std::mt19937_64 rng(3);
  std::vector<int> count(100);
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) {
    const int32_t k = zipf.Sample(rng);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 100);
    ++count[k];
  }
  for (int k : {0, 1, 9, 99}) {
    const double expected = zipf.Probability(k) * draws;
    EXPECT_NEAR(count[k], expected, 5 * std::sqrt(expected)) << k;
  }
  const ZipfSampler uniform(4, 0.0);
  EXPECT_NEAR(uniform.Probability(3), 0.25, 1e-12);
}

LoraWorkloadOptions Options(int32_t adapters, int32_t requests) {
  LoraWorkloadOptions o;
  o.num_adapters = adapters;
  o.num_requests = requests;
  o.ranks = {2, 4};
  o.targets = *ParseLoraTargets("q,k,v,o");
  o.threads = 2;
  return o;
}

TEST(LoraWorkloadTest, BaseOnlyHasNoAdapters) {
  absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(TinyLlama(), Options(0, 10));
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->per_request.size(), 10u);
  for (const auto& a : w->per_request) EXPECT_EQ(a, nullptr);
  EXPECT_EQ(w->distinct, 0);
}

TEST(LoraWorkloadTest, DrawsFromNAdaptersMadeOnce) {
  const ModelConfig c = TinyLlama();
  absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(c, Options(1000, 300));
  ASSERT_TRUE(w.ok()) << w.status();
  std::set<std::string> names;
  std::set<const LoraWeights*> weights;
  int64_t bytes = 0;
  for (const auto& a : w->per_request) {
    ASSERT_NE(a, nullptr);
    if (names.insert(a->name).second) bytes += a->weights->num_bytes();
    weights.insert(a->weights.get());
    EXPECT_TRUE(a->weights->Validate(c).ok());
    EXPECT_THAT(a->weights->max_rank(), ::testing::AnyOf(2, 4));
  }
  EXPECT_EQ(static_cast<int32_t>(names.size()), w->distinct);
  EXPECT_EQ(weights.size(), names.size());  // one weights object per adapter
  EXPECT_EQ(bytes, w->host_bytes);
  EXPECT_GT(w->distinct, 50);   // a power law over 1000 still spreads 300 draws widely
  EXPECT_LT(w->distinct, 300);  // ... and repeats the popular ones
  EXPECT_EQ(w->ranks.at(2) + w->ranks.at(4), w->distinct);
  // Same options, same draws.
  absl::StatusOr<LoraWorkload> again = MakeLoraWorkload(c, Options(1000, 300));
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < w->per_request.size(); ++i) {
    EXPECT_EQ(w->per_request[i]->name, again->per_request[i]->name);
  }
}

TEST(LoraWorkloadTest, RefusesMoreHostMemoryThanAllowed) {
  LoraWorkloadOptions o = Options(10, 50);
  o.max_host_bytes = 1000;
  EXPECT_EQ(MakeLoraWorkload(TinyLlama(), o).status().code(), absl::StatusCode::kResourceExhausted);
}

std::unique_ptr<CpuEngine> TinyEngine(int32_t max_loras) {
  const ModelConfig c = TinyLlama();
  CpuEngineOptions o;
  o.num_kv_blocks = 256;
  o.num_threads = 1;
  o.max_loras = max_loras;
  return *CpuEngine::Create(c, CpuWeights::Random(c, 1), o);
}

ThroughputRunOptions RunOptions(int32_t requests) {
  ThroughputRunOptions o;
  o.num_requests = requests;
  o.new_tokens = 5;
  o.max_num_seqs = 4;
  o.max_num_batched_tokens = 64;
  return o;
}

TEST(ThroughputRunTest, GeneratesEveryTokenAndLoadsEachAdapterItUses) {
  const ModelConfig c = TinyLlama();
  const auto engine = TinyEngine(8);
  const auto prompts = RandomPrompts(c, 16, 12, 1);
  absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(c, Options(3, 16));
  ASSERT_TRUE(w.ok());
  absl::StatusOr<ThroughputRunFigures> f = RunThroughput(*engine, *w, prompts, RunOptions(16));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tokens, 16 * 5);
  EXPECT_GT(f->seconds, 0);
  EXPECT_GT(f->steps, 5);
  EXPECT_EQ(f->loads, w->distinct);  // 8 slots hold all 3: each is loaded once

  absl::StatusOr<LoraWorkload> base = MakeLoraWorkload(c, Options(0, 16));
  f = RunThroughput(*engine, *base, prompts, RunOptions(16));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tokens, 16 * 5);
  EXPECT_EQ(f->loads, 0);
}

TEST(ThroughputRunTest, FewerSlotsThanAdaptersMeansReloads) {
  const ModelConfig c = TinyLlama();
  const auto engine = TinyEngine(2);
  const auto prompts = RandomPrompts(c, 24, 12, 2);
  LoraWorkloadOptions wo = Options(6, 24);
  wo.zipf_alpha = 0;  // uniform: several adapters in turn
  absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(c, wo);
  ASSERT_TRUE(w.ok());
  ASSERT_GT(w->distinct, 2);
  absl::StatusOr<ThroughputRunFigures> f = RunThroughput(*engine, *w, prompts, RunOptions(24));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tokens, 24 * 5);
  EXPECT_GE(f->loads, w->distinct);
}

TEST(ThroughputRunTest, TimeoutAbortsTheRun) {
  const ModelConfig c = TinyLlama();
  const auto engine = TinyEngine(0);
  const auto prompts = RandomPrompts(c, 8, 12, 1);
  absl::StatusOr<LoraWorkload> base = MakeLoraWorkload(c, Options(0, 8));
  ThroughputRunOptions o = RunOptions(8);
  o.timeout_s = 0;
  absl::StatusOr<ThroughputRunFigures> f = RunThroughput(*engine, *base, prompts, o);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(f.status().message(), ::testing::HasSubstr("timeout"));
}

TEST(ThroughputRunTest, AnEngineWithoutSlotsFailsTheAdapterRun) {
  const ModelConfig c = TinyLlama();
  const auto engine = TinyEngine(0);
  const auto prompts = RandomPrompts(c, 4, 12, 1);
  absl::StatusOr<LoraWorkload> w = MakeLoraWorkload(c, Options(2, 4));
  absl::StatusOr<ThroughputRunFigures> f = RunThroughput(*engine, *w, prompts, RunOptions(4));
  EXPECT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), ::testing::HasSubstr("no LoRA adapters"));
}

}  // namespace
}  // namespace tessera
