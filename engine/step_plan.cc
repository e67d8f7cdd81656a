#include "engine/step_plan.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

absl::Status ValidateBlockCopies(const std::vector<BlockCopy>& copies, int32_t num_blocks) {
  std::unordered_set<int32_t> sources, destinations;
  for (const BlockCopy& c : copies) sources.insert(c.src);
  for (size_t i = 0; i < copies.size(); ++i) {
    const BlockCopy& c = copies[i];
    if (c.src < 0 || c.src >= num_blocks || c.dst < 0 || c.dst >= num_blocks) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: block copy ", i, " (", c.src,
                                                     " -> ", c.dst, "): block id outside [0, ",
                                                     num_blocks, ")"));
    }
    if (c.src == c.dst) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: block copy ", i, " copies block ", c.src, " onto itself"));
    }
    if (!destinations.insert(c.dst).second) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: block copy ", i, ": block ", c.dst,
                                                     " is the destination of two copies"));
    }
    // Chains (a -> b, b -> c) would make the result depend on the order engines copy in.
    if (sources.contains(c.dst)) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: block copy ", i, ": destination ",
                                                     c.dst, " is the source of another copy"));
    }
    // A source may be written by this step (its last sharer writes in place): the copies are
    // made before any KV write.
  }
  return absl::OkStatus();
}

absl::Status CheckIds(absl::Span<const int32_t> ids, int64_t vocab_size, absl::string_view what) {
  for (size_t j = 0; j < ids.size(); ++j) {
    if (ids[j] < 0 || ids[j] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, "[", j, "] = ", ids[j], " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

// What the sampler of a sampled sequence reads: its parameters and the ids it indexes by.
absl::Status ValidateSampling(const StepSequence& seq, int64_t vocab_size) {
  if (absl::Status s = ValidateSamplingParams(seq.sampling, vocab_size); !s.ok()) return s;
  const std::vector<int32_t>& banned = seq.suppressed_token_ids;
  if (absl::Status s = CheckIds(banned, vocab_size, "suppressed_token_ids"); !s.ok()) return s;
  // Only a list at least as long as the vocabulary can ban all of it (ids may repeat).
  if (static_cast<int64_t>(banned.size()) >= vocab_size) {
    std::vector<bool> hit(vocab_size);
    for (int32_t t : banned) hit[t] = true;
    if (std::all_of(hit.begin(), hit.end(), [](bool b) { return b; })) {
      return absl::InvalidArgumentError(
          "suppressed_token_ids bans every token of the vocabulary: nothing is left to sample");
    }
  }
  // History is checked only when a penalty reads it: a long prompt costs nothing otherwise.
  if (UsesTokenHistory(seq.sampling)) {
    if (absl::Status s = CheckIds(seq.prompt_token_ids, vocab_size, "prompt_token_ids"); !s.ok()) {
      return s;
    }
    return CheckIds(seq.output_token_ids, vocab_size, "output_token_ids");
  }
  return absl::OkStatus();
}

}  // namespace

void StepPlan::Clear() {
  token_ids.clear();
  qo_indptr.assign(1, 0);
  seqs.clear();
  page_table.indptr.assign(1, 0);
  page_table.indices.clear();
  page_table.last_block_len.clear();
  block_copies.clear();
}

void StepPlan::AddSequence(const std::vector<int32_t>& tokens, const std::vector<int32_t>& blocks,
                           int32_t block_size, StepSequence seq) {
  token_ids.insert(token_ids.end(), tokens.begin(), tokens.end());
  qo_indptr.push_back(static_cast<int32_t>(token_ids.size()));
  const int64_t kv_len = seq.num_cached_tokens + static_cast<int64_t>(tokens.size());
  // Only the blocks the KV length reaches belong to the step's table.
  const int64_t used = (kv_len + block_size - 1) / block_size;
  const int64_t n = std::min<int64_t>(used, static_cast<int64_t>(blocks.size()));
  page_table.indices.insert(page_table.indices.end(), blocks.begin(), blocks.begin() + n);
  page_table.indptr.push_back(static_cast<int32_t>(page_table.indices.size()));
  page_table.last_block_len.push_back(
      kv_len == 0 ? 0 : static_cast<int32_t>(kv_len - (used - 1) * block_size));
  seqs.push_back(std::move(seq));
}

absl::Status StepPlan::Validate(int64_t vocab_size, int32_t num_blocks, int32_t block_size,
                                int64_t max_positions) const {
  const size_t n = seqs.size();
  if (qo_indptr.size() != n + 1 || page_table.indptr.size() != n + 1 ||
      page_table.last_block_len.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("step plan: ", n, " sequences but qo_indptr has ", qo_indptr.size(),
                     " entries, page_table.indptr ", page_table.indptr.size(), ", last_block_len ",
                     page_table.last_block_len.size()));
  }
  if (qo_indptr[0] != 0 || qo_indptr[n] != num_tokens() || page_table.indptr[0] != 0 ||
      page_table.indptr[n] != static_cast<int32_t>(page_table.indices.size())) {
    return absl::InvalidArgumentError("step plan: indptr arrays do not span their data");
  }
  for (int32_t t : token_ids) {
    if (t < 0 || t >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: token id ", t, " outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  // Which sequence writes each block this step: two writers would corrupt each other's KV.
  std::unordered_map<int32_t, size_t> writer;
  for (size_t i = 0; i < n; ++i) {
    const auto s = static_cast<int32_t>(i);
    const int32_t fed = qo_indptr[i + 1] - qo_indptr[i];
    if (fed < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, ": qo_indptr decreases"));
    if (fed == 0 && seqs[i].sample) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, " asks for a sample but feeds no token"));
    }
    const StepSequence& seq = seqs[i];
    if (seq.adapter_slot < -1) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", i, ": adapter slot ",
                                                     seq.adapter_slot, " (-1 is the base model)"));
    }
    if (seq.num_cached_tokens < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, ": negative num_cached_tokens"));
    }
    const int64_t kv_len = seq.num_cached_tokens + fed;
    if (kv_len > max_positions) {
      return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", i,
                                                     " reaches position ", kv_len,
                                                     ", beyond the model's ", max_positions));
    }
    const int32_t nb = page_table.num_blocks(s);
    const int32_t last = page_table.last_block_len[i];
    if (nb < 0 || (nb > 0 && (last < 1 || last > block_size)) ||
        page_table.kv_len(s, block_size) != kv_len) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, " has ", nb, " blocks (last holding ", last,
                       " tokens) for a KV length of ", kv_len, " with blocks of ", block_size));
    }
    for (int32_t b = page_table.indptr[i]; b < page_table.indptr[i + 1]; ++b) {
      const int32_t id = page_table.indices[b];
      if (id < 0 || id >= num_blocks) {
        return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", i, ": block id ", id,
                                                       " outside [0, ", num_blocks, ")"));
      }
    }
    if (fed > 0) {
      const int64_t first = seq.num_cached_tokens / block_size;
      const int64_t end = (kv_len - 1) / block_size;
      for (int64_t b = first; b <= end; ++b) {
        const int32_t id = page_table.indices[page_table.indptr[i] + b];
        auto [it, inserted] = writer.emplace(id, i);
        if (!inserted && it->second != i) {
          return absl::InvalidArgumentError(absl::StrCat(
              "step plan: block ", id, " is written by sequences ", it->second, " and ", i));
        }
      }
    }
    if (!seq.prompt_targets.empty()) {
      if (static_cast<int32_t>(seq.prompt_targets.size()) != fed) {
        return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", i, " has ",
                                                       seq.prompt_targets.size(),
                                                       " prompt targets for ", fed, " fed tokens"));
      }
      for (int32_t t : seq.prompt_targets) {
        if (t >= vocab_size) {
          return absl::InvalidArgumentError(absl::StrCat(
              "step plan: sequence ", i, ": prompt target ", t, " outside the vocabulary"));
        }
      }
    }
    if (seq.prompt_top_k < 0 || seq.prompt_top_k > vocab_size || seq.sampling.num_logprobs < 0 ||
        seq.sampling.num_logprobs > vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, ": top-k out of range"));
    }
    if (!(seq.sampling.temperature >= 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", i, ": temperature must be >= 0"));
    }
    if (seq.sample) {
      if (absl::Status s = ValidateSampling(seq, vocab_size); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("step plan: sequence ", i, ": ", s.message()));
      }
    }
  }
  return ValidateBlockCopies(block_copies, num_blocks);
}

}  // namespace tessera
