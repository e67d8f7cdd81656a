// Packing adapter rows into KV block chunks (no GPU needed): every row whole inside one chunk,
// 16-byte aligned, no two rows overlapping, as many blocks as the fullest layer needs, and the
// refusals (rank over the maximum, rows longer than a chunk).
#include "engine/lora_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace tessera {
namespace {

using ::testing::HasSubstr;

ModelConfig SmallConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 96;
  c.hidden_size = 64;
  c.intermediate_size = 100;  // not a multiple of 8: rows get padded to alignment
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 256;
  c.layer_sliding_window.assign(3, 0);
  return c;
}

// Shapes only (values do not matter to the layout); `ranks[m]` per module, layer `skip` empty.
LoraWeights Shapes(const ModelConfig& c, const std::vector<int32_t>& ranks, int skip = -1) {
  LoraWeights w;
  w.layers.resize(c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (l == skip) continue;
    for (int m = 0; m < kNumLoraModules; ++m) {
      if (ranks[m] == 0) continue;
      LoraPair& p = w.layers[l][m];
      p.rank = ranks[m];
      p.scale = 2;
      p.in_features = LoraModuleInFeatures(c, static_cast<LoraModule>(m));
      p.out_features = LoraModuleOutFeatures(c, static_cast<LoraModule>(m));
      p.a.assign(p.rank * p.in_features, 0.5f);
      p.b.assign(p.out_features * p.rank, 0.5f);
    }
  }
  return w;
}

// Checks the layout's promises against the weights: returns the rows' (layer, block, begin, end).
void ExpectSound(const LoraWeights& w, const LoraLayout& layout) {
  struct Span {
    int64_t layer, block, begin, end;
  };
  std::vector<Span> spans;
  size_t next = 0;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    for (int m = 0; m < kNumLoraModules; ++m) {
      const LoraPair& p = w.layers[l][m];
      for (int half = 0; half < 2 && p.rank > 0; ++half) {
        for (int32_t r = 0; r < p.rank; ++r) {
          ASSERT_LT(next, layout.rows.size());
          const LoraRowPlace& place = layout.rows[next++];
          const int64_t len = half == 0 ? p.in_features : p.out_features;
          ASSERT_GE(place.block, 0);
          ASSERT_LT(place.block, layout.num_blocks);
          EXPECT_EQ(place.offset % kLoraRowAlign, 0);
          EXPECT_LE(place.offset + len, layout.chunk_elems);
          EXPECT_LE(place.offset + len,
                    layout.used[l * layout.num_blocks + place.block]);  // inside what is copied
          spans.push_back({static_cast<int64_t>(l), place.block, place.offset, place.offset + len});
        }
      }
    }
  }
  EXPECT_EQ(next, layout.rows.size());
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.layer, a.block, a.begin) < std::tie(b.layer, b.block, b.begin);
  });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].layer == spans[i - 1].layer && spans[i].block == spans[i - 1].block) {
      EXPECT_GE(spans[i].begin, spans[i - 1].end) << "rows overlap";
    }
  }
  int64_t total = 0;
  for (int64_t u : layout.used) {
    EXPECT_EQ(u % kLoraRowAlign, 0);
    EXPECT_LE(u, layout.chunk_elems);
    total += u;
  }
  EXPECT_EQ(total, layout.total_used);
}

TEST(LoraLayoutTest, PacksEveryRowWholeAlignedAndApart) {
  const ModelConfig c = SmallConfig();
  // q_size 256, kv_size 128: q rows of 64 and 256 values, gate/up/down rows of 100 (padded to 104).
  const LoraWeights w = Shapes(c, {8, 4, 4, 8, 5, 5, 3});
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(w, /*chunk_elems=*/1024, /*max_rank=*/8);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ExpectSound(w, *layout);
  // Per layer: q 8*(64+256) + k 4*(64+128) + v 4*(64+128) + o 8*(256+64) + gate 5*(64+104)
  // + up 5*(64+104) + down 3*(104+64) = 8288 aligned values at least, so at least 9 chunks.
  EXPECT_GE(layout->num_blocks, 9);
  EXPECT_LE(layout->num_blocks, 11);  // a row never wastes more than its own length
  EXPECT_EQ(layout->used.size(), 3u * layout->num_blocks);
}

TEST(LoraLayoutTest, BlocksFollowTheFullestLayer) {
  const ModelConfig c = SmallConfig();
  const LoraWeights w = Shapes(c, {16, 0, 16, 0, 0, 0, 0}, /*skip=*/1);
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(w, 4096, 16);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ExpectSound(w, *layout);
  // q: 16 * (64 + 256) + v: 16 * (64 + 128) = 8192 values: exactly two chunks of 4096.
  EXPECT_EQ(layout->num_blocks, 2);
  EXPECT_EQ(layout->used[0], 4096);
  EXPECT_EQ(layout->used[1 * 2 + 0], 0);  // layer 1 has no adapter
  EXPECT_EQ(layout->used[1 * 2 + 1], 0);
  EXPECT_EQ(layout->total_used, 2 * 8192);
}

TEST(LoraLayoutTest, RefusesRanksOverTheMaximumAndRowsLongerThanAChunk) {
  const ModelConfig c = SmallConfig();
  const LoraWeights w = Shapes(c, {0, 0, 0, 0, 0, 0, 32});
  absl::StatusOr<LoraLayout> high = PlanLoraLayout(w, 4096, 16);
  EXPECT_EQ(high.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(high.status().message(), HasSubstr("layer 0 down_proj: rank 32 exceeds"));
  const LoraWeights q = Shapes(c, {4, 0, 0, 0, 0, 0, 0});
  absl::StatusOr<LoraLayout> small = PlanLoraLayout(q, 128, 16);  // q rows of 256 values
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(small.status().message(), HasSubstr("larger KV block size"));
  EXPECT_EQ(PlanLoraLayout(q, 100, 16).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoraLayoutTest, AnAdapterWithoutModulesNeedsNoBlocks) {
  const ModelConfig c = SmallConfig();
  const LoraWeights w = Shapes(c, {0, 0, 0, 0, 0, 0, 0});
  absl::StatusOr<LoraLayout> layout = PlanLoraLayout(w, 4096, 16);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->num_blocks, 0);
  EXPECT_EQ(layout->total_used, 0);
}

}  // namespace
}  // namespace tessera
