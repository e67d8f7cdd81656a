// --max-model-len on a model config: caps the context, refuses values outside [1, the model's].
#include "engine/context_limit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(ContextLimitTest, CapsAndRefuses) {
  ModelConfig c;
  c.max_position_embeddings = 8192;
  ASSERT_TRUE(ApplyMaxModelLen(0, &c).ok());
  EXPECT_EQ(c.max_position_embeddings, 8192);
  ASSERT_TRUE(ApplyMaxModelLen(8192, &c).ok());
  EXPECT_EQ(c.max_position_embeddings, 8192);
  ASSERT_TRUE(ApplyMaxModelLen(1000, &c).ok());
  EXPECT_EQ(c.max_position_embeddings, 1000);
  for (int64_t bad : {int64_t{1001}, int64_t{-1}}) {
    const absl::Status s = ApplyMaxModelLen(bad, &c);
    EXPECT_TRUE(absl::IsInvalidArgument(s));
    EXPECT_THAT(s.message(), ::testing::HasSubstr("--max-model-len must be in [1, 1000]"));
    EXPECT_EQ(c.max_position_embeddings, 1000);
  }
}

}  // namespace
}  // namespace tessera
