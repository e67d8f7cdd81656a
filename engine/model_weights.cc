#include "engine/model_weights.h"

#include "absl/strings/str_cat.h"

namespace tessera {

std::vector<WeightSpec> ExpectedWeights(const ModelConfig& c) {
  const int64_t h = c.hidden_size, v = c.vocab_size, i = c.intermediate_size;
  const int64_t q = c.q_size(), kv = c.kv_size();
  std::vector<WeightSpec> w;
  w.push_back({WeightKind::kEmbedding, -1, "model.embed_tokens.weight", {v, h}});
  if (!c.tie_word_embeddings) w.push_back({WeightKind::kLmHead, -1, "lm_head.weight", {v, h}});
  w.push_back({WeightKind::kFinalNorm, -1, "model.norm.weight", {h}});
  for (int32_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    auto add = [&](WeightKind k, const std::string& suffix, std::vector<int64_t> shape) {
      w.push_back({k, l, p + suffix, std::move(shape)});
    };
    add(WeightKind::kInputNorm, "input_layernorm.weight", {h});
    add(WeightKind::kQ, "self_attn.q_proj.weight", {q, h});
    add(WeightKind::kK, "self_attn.k_proj.weight", {kv, h});
    add(WeightKind::kV, "self_attn.v_proj.weight", {kv, h});
    add(WeightKind::kO, "self_attn.o_proj.weight", {h, q});
    if (c.qkv_bias) {
      add(WeightKind::kQBias, "self_attn.q_proj.bias", {q});
      add(WeightKind::kKBias, "self_attn.k_proj.bias", {kv});
      add(WeightKind::kVBias, "self_attn.v_proj.bias", {kv});
    }
    if (c.o_bias) add(WeightKind::kOBias, "self_attn.o_proj.bias", {h});
    add(WeightKind::kPostAttentionNorm, "post_attention_layernorm.weight", {h});
    add(WeightKind::kGate, "mlp.gate_proj.weight", {i, h});
    add(WeightKind::kUp, "mlp.up_proj.weight", {i, h});
    add(WeightKind::kDown, "mlp.down_proj.weight", {h, i});
    if (c.mlp_bias) {
      add(WeightKind::kGateBias, "mlp.gate_proj.bias", {i});
      add(WeightKind::kUpBias, "mlp.up_proj.bias", {i});
      add(WeightKind::kDownBias, "mlp.down_proj.bias", {h});
    }
  }
  return w;
}

absl::Status ValidateCheckpoint(const ModelConfig& config, const Checkpoint& checkpoint) {
  for (const WeightSpec& spec : ExpectedWeights(config)) {
    auto t = checkpoint.Get(spec.name, spec.shape);
    if (!t.ok()) return t.status();
  }
  return absl::OkStatus();
}

}  // namespace tessera
