#include "authoring/bpe_merge_learner.h"

#include <cstdint>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "text/tokenizer/byte_level.h"
#include "text/tokenizer/utf8.h"
#include "text/tokenizer/word_splitter.h"

namespace tessera::tokenizer {
namespace {

struct Word {
  std::vector<int32_t> symbols;  // token ids, the word's bytes at first
  int64_t count = 0;             // occurrences in the text
};

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
}

// Replaces each occurrence of (left, right) in `symbols`, left to right, with `merged`.
void ApplyMerge(int32_t left, int32_t right, int32_t merged, std::vector<int32_t>* symbols) {
  size_t out = 0;
  for (size_t i = 0; i < symbols->size(); ++i) {
    if (i + 1 < symbols->size() && (*symbols)[i] == left && (*symbols)[i + 1] == right) {
      (*symbols)[out++] = merged;
      ++i;
    } else {
      (*symbols)[out++] = (*symbols)[i];
    }
  }
  symbols->resize(out);
}

}  // namespace

absl::StatusOr<std::vector<BpeMerge>> LearnByteLevelMerges(std::string_view text,
                                                           int num_new_tokens) {
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("text to learn merges from is not valid UTF-8 (byte offset ", bad, ")"));
  }
  // Each distinct word once, with its count: merges are chosen by how often a pair occurs in the
  // text, and merging a distinct word once stands for all its occurrences.
  std::vector<std::string_view> pieces;
  SplitWords(text, SplitPattern::kLlama3, &pieces);
  std::map<std::string_view, int64_t> counts;
  for (std::string_view p : pieces) ++counts[p];

  std::vector<std::string> tokens;  // id -> byte-level spelling; ids 0..255 are the bytes
  absl::flat_hash_map<std::string, int32_t> token_ids;
  for (int b = 0; b < 256; ++b) {
    std::string spelled;
    AppendByteLevelChars(std::string(1, static_cast<char>(b)), &spelled);
    token_ids.emplace(spelled, b);
    tokens.push_back(std::move(spelled));
  }
  std::vector<Word> words;
  words.reserve(counts.size());
  for (const auto& [word, count] : counts) {
    Word& w = words.emplace_back();
    w.count = count;
    for (char c : word) w.symbols.push_back(static_cast<unsigned char>(c));
  }

  std::vector<BpeMerge> merges;
  absl::flat_hash_map<uint64_t, int64_t> pair_counts;
  for (int made = 0; made < num_new_tokens;) {
    pair_counts.clear();
    for (const Word& w : words) {
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        pair_counts[PairKey(w.symbols[i], w.symbols[i + 1])] += w.count;
      }
    }
    // The most frequent pair; among equals the smallest by spelling, whatever the hash order.
    int32_t left = -1, right = -1;
    int64_t best = 0;
    for (const auto& [key, count] : pair_counts) {
      const auto l = static_cast<int32_t>(key >> 32), r = static_cast<int32_t>(key & 0xFFFFFFFFu);
      if (count > best || (count == best && std::tie(tokens[l], tokens[r]) <
                                                std::tie(tokens[left], tokens[right]))) {
        best = count;
        left = l;
        right = r;
      }
    }
    if (best == 0) break;  // every word is one token
    merges.emplace_back(tokens[left], tokens[right]);
    std::string joined = tokens[left] + tokens[right];
    const auto [it, inserted] = token_ids.try_emplace(joined, static_cast<int32_t>(tokens.size()));
    if (inserted) {
      tokens.push_back(std::move(joined));
      ++made;
    }
    for (Word& w : words) ApplyMerge(left, right, it->second, &w.symbols);
  }
  return merges;
}

}  // namespace tessera::tokenizer
