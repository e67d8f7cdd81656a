#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "engine/counter_rng.h"

namespace tessera {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A token's place in the ranking as one integer, larger = ranked first: the logit (NaN as -inf,
// -0 as +0) mapped to an order-preserving unsigned, then the id reversed so that ties go to the
// lower id. Distinct per token, so selections over these words are exact and need no indirection.
uint64_t RankWord(float logit, int64_t id) {
  const float key = logit > kNegInf ? logit + 0.0f : kNegInf;  // x + 0.0f turns -0 into +0
  uint32_t bits;
  std::memcpy(&bits, &key, sizeof(bits));
  // Negative: flip every bit; positive: flip the sign bit. Branch-free, as signs are random.
  bits ^= static_cast<uint32_t>(static_cast<int32_t>(bits) >> 31) | 0x80000000u;
  return (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(id));
}

int32_t IdOf(uint64_t word) { return static_cast<int32_t>(0xFFFFFFFFu - (word & 0xFFFFFFFFu)); }

// Arg-max, lowest id on ties, skipping NaN and -inf; -1 when nothing is above -inf.
int32_t ArgMax(absl::Span<const float> l) {
  int32_t best = -1;
  float max = kNegInf;
  for (size_t i = 0; i < l.size(); ++i) {
    if (l[i] > max) {
      max = l[i];
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

// The documented answer when processing left nothing to choose from.
int32_t FallbackToken(absl::Span<const float> raw, absl::Span<const int32_t> suppressed) {
  std::vector<bool> banned(raw.size());
  for (int32_t t : suppressed) {
    if (t >= 0 && t < static_cast<int64_t>(raw.size())) banned[t] = true;
  }
  auto arg_max = [&raw](auto&& allowed) {
    int32_t best = -1;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (!allowed(i) || std::isnan(raw[i])) continue;
      if (best < 0 || raw[i] > raw[best]) best = static_cast<int32_t>(i);
    }
    return best;
  };
  if (const int32_t t = arg_max([&banned](size_t i) { return !banned[i]; }); t >= 0) return t;
  const int32_t t = arg_max([](size_t) { return true; });
  return t >= 0 ? t : 0;
}

// The rank word of the last token of the top-p nucleus among words[0, n), which hold candidates
// in any order (and are partly reordered) ranked after tokens of total weight `acc`. Tokens are
// taken best first in chunks (nth_element, then a sort of the chunk only), so a peaked
// distribution never pays for sorting all candidates.
uint64_t NucleusLast(std::vector<uint64_t>& words, int64_t n, const std::vector<double>& w,
                     double acc, double mass) {
  const auto first = words.begin();
  const std::greater<uint64_t> better;
  int64_t done = 0;
  for (int64_t chunk = 128; done < n; chunk *= 2) {
    const int64_t end = std::min(n, done + chunk);
    if (end < n) std::nth_element(first + done, first + end - 1, first + n, better);
    std::sort(first + done, first + end, better);
    for (int64_t j = done; j < end; ++j) {
      acc += w[IdOf(words[j])];
      if (acc >= mass) return words[j];
    }
    done = end;
  }
  return words[n - 1];  // rounding kept the running sum just below the mass: keep them all
}

// One row of processed logits being sampled at a temperature > 0.
struct TemperedRow {
  absl::Span<const float> logits;
  int32_t best;  // the arg-max; its logit is finite
  double inv_t;
  // exp((logit - max) / T): the arg-max's is exactly 1, the largest.
  double Weight(int64_t i) const {
    return logits[i] > kNegInf ? std::exp((static_cast<double>(logits[i]) - logits[best]) * inv_t)
                               : 0.0;
  }
};

// Rank words of the k first tokens of the ranking, in any order, into words[0, k). A small k
// keeps a min-heap of the best so far: most tokens cost one float comparison with the worst kept
// logit. A large k selects with nth_element.
void SelectTopK(absl::Span<const float> logits, int64_t k, std::vector<uint64_t>& words) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  const std::greater<uint64_t> better;  // as a heap order: the worst kept word on top
  if (k > 1024) {
    words.resize(vocab);
    for (int64_t i = 0; i < vocab; ++i) words[i] = RankWord(logits[i], i);
    std::nth_element(words.begin(), words.begin() + (k - 1), words.end(), better);
    return;
  }
  words.clear();
  float worst = kNegInf;  // logit of the worst kept token once k are kept
  for (int64_t i = 0; i < vocab; ++i) {
    if (static_cast<int64_t>(words.size()) == k && logits[i] < worst) continue;
    const uint64_t word = RankWord(logits[i], i);
    if (static_cast<int64_t>(words.size()) < k) {
      words.push_back(word);
      std::push_heap(words.begin(), words.end(), better);
    } else if (word > words.front()) {
      std::pop_heap(words.begin(), words.end(), better);
      words.back() = word;
      std::push_heap(words.begin(), words.end(), better);
    } else {
      continue;
    }
    if (static_cast<int64_t>(words.size()) == k) worst = logits[IdOf(words.front())];
  }
}

// Top-k: w[i] = the weight of the k first tokens of the ranking, 0 for the others. Leaves their
// rank words in words[0, k).
void KeepTopK(const TemperedRow& row, int64_t k, std::vector<uint64_t>& words,
              std::vector<double>& w) {
  SelectTopK(row.logits, k, words);
  std::fill(w.begin(), w.begin() + static_cast<int64_t>(row.logits.size()), 0.0);
  for (int64_t j = 0; j < k; ++j) w[IdOf(words[j])] = row.Weight(IdOf(words[j]));
}

// Top-p among the top-k tokens words[0, k): zeroes the weights of those after the nucleus.
void CutTopKToNucleus(int64_t k, double top_p, std::vector<uint64_t>& words,
                      std::vector<double>& w) {
  double total = 0;
  for (int64_t j = 0; j < k; ++j) total += w[IdOf(words[j])];
  const uint64_t cut = NucleusLast(words, k, w, 0.0, top_p * total);
  for (int64_t j = 0; j < k; ++j) {
    if (words[j] < cut) w[IdOf(words[j])] = 0.0;
  }
}

// Binary exponent buckets of weights in (0, 1]: bucket b holds [2^-(b+1), 2^-b), bucket 0 also 1.
constexpr int kWeightBuckets = 1024;
int WeightBucket(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return std::min(kWeightBuckets - 1, 1023 - static_cast<int>((bits >> 52) & 0x7FF));
}

// Top-p over the whole vocabulary, w holding every weight: zeroes the weights after the nucleus.
// One pass sums the mass per power-of-two bucket of weight; only the bucket where the running
// mass crosses top_p needs ranking, so the cost stays O(vocabulary) however large the nucleus.
void CutVocabularyToNucleus(const TemperedRow& row, double top_p, std::vector<uint64_t>& words,
                            std::vector<double>& w) {
  const int64_t vocab = static_cast<int64_t>(row.logits.size());
  double mass[kWeightBuckets] = {};
  double total = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    total += w[i];
    if (w[i] > 0) mass[WeightBucket(w[i])] += w[i];
  }
  const double target = top_p * total;
  double above = 0;
  int crossing = 0;
  while (crossing < kWeightBuckets - 1 && above + mass[crossing] < target) {
    above += mass[crossing++];
  }
  words.clear();
  for (int64_t i = 0; i < vocab; ++i) {
    if (w[i] > 0 && WeightBucket(w[i]) == crossing) words.push_back(RankWord(row.logits[i], i));
  }
  if (words.empty()) return;  // rounding: the mass never reached the target; keep everything
  const uint64_t cut = NucleusLast(words, static_cast<int64_t>(words.size()), w, above, target);
  // Weights fall with rank: only a tie with the last kept weight needs the rank word.
  const double w_cut = w[IdOf(cut)];
  for (int64_t i = 0; i < vocab; ++i) {
    if (w[i] < w_cut || (w[i] == w_cut && RankWord(row.logits[i], i) < cut)) w[i] = 0.0;
  }
}

}  // namespace

void LogSoftmax(absl::Span<const float> logits, std::vector<float>* out) {
  out->resize(logits.size());
  float max = -std::numeric_limits<float>::infinity();
  for (float v : logits) max = std::max(max, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double lse = max + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) {
    (*out)[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
  }
}

std::vector<TokenLogprob> TopK(absl::Span<const float> logprobs, int32_t k) {
  k = std::clamp<int32_t>(k, 0, static_cast<int32_t>(logprobs.size()));
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto better = [&](int32_t a, int32_t b) {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  std::vector<TokenLogprob> top(k);
  for (int32_t i = 0; i < k; ++i) top[i] = {ids[i], logprobs[ids[i]]};
  return top;
}

LogprobEntry MakeLogprobEntry(absl::Span<const float> logprobs, int32_t chosen, int32_t k) {
  LogprobEntry e;
  e.chosen = {chosen, logprobs[chosen]};
  e.top = TopK(logprobs, k);
  return e;
}

double CounterUniform(uint64_t seed, uint64_t index) { return CounterRngUniform(seed, index); }

SamplingHistory HistoryOf(const StepSequence& seq) {
  return {seq.prompt_token_ids, seq.output_token_ids, seq.suppressed_token_ids};
}

bool IsPlainSampling(const StepSequence& seq, int64_t vocab_size) {
  const SamplingParams& p = seq.sampling;
  if (HasLogitProcessors(p, HistoryOf(seq))) return false;
  if (p.temperature <= 0.0f) return true;  // greedy ignores the cuts
  return (p.top_k <= 0 || p.top_k >= vocab_size) && p.top_p >= 1.0f && p.min_p <= 0.0f;
}

int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    const SamplingHistory& history, int64_t sample_index, SamplerScratch* scratch) {
  absl::Span<const float> l = logits;
  if (HasLogitProcessors(params, history)) {
    scratch->processed.assign(logits.begin(), logits.end());
    ApplyLogitProcessors(params, history, absl::MakeSpan(scratch->processed), &scratch->processors);
    l = scratch->processed;
  }
  const int32_t best = ArgMax(l);
  if (best < 0) return FallbackToken(logits, history.suppressed_token_ids);
  // An infinite logit is a point mass; exp(inf - inf) would poison the weights.
  if (params.temperature <= 0.0f || std::isinf(l[best])) return best;

  const int64_t vocab = static_cast<int64_t>(l.size());
  const TemperedRow row{l, best, 1.0 / params.temperature};
  // Weights by token id, 0 for tokens the cuts drop.
  std::vector<double>& w = scratch->weights;
  if (static_cast<int64_t>(w.size()) < vocab) w.resize(vocab);
  if (params.top_k > 0 && params.top_k < vocab) {
    KeepTopK(row, params.top_k, scratch->rank_words, w);
    if (params.top_p < 1.0f) CutTopKToNucleus(params.top_k, params.top_p, scratch->rank_words, w);
  } else {
    for (int64_t i = 0; i < vocab; ++i) w[i] = row.Weight(i);
    if (params.top_p < 1.0f) CutVocabularyToNucleus(row, params.top_p, scratch->rank_words, w);
  }
  // Min-p compares with the largest weight, which is 1.
  const double min_w = params.min_p;
  double total = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (w[i] < min_w) w[i] = 0.0;
    total += w[i];
  }
  // The inverse CDF walks the kept tokens by id.
  const double target = CounterUniform(params.seed, static_cast<uint64_t>(sample_index)) * total;
  double acc = 0;
  int32_t last_possible = best;
  for (int64_t i = 0; i < vocab; ++i) {
    if (w[i] <= 0) continue;
    acc += w[i];
    last_possible = static_cast<int32_t>(i);
    if (target < acc) return last_possible;
  }
  return last_possible;  // rounding left the target at the very end of the CDF
}

int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    int64_t sample_index) {
  SamplerScratch scratch;
  return SampleToken(logits, params, SamplingHistory{}, sample_index, &scratch);
}

}  // namespace tessera
