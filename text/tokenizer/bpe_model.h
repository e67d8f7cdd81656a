// The BPE model of tokenizer.json: a vocabulary, ranked merges, and the rules for characters that
// are not in the vocabulary (byte fallback to <0xNN> tokens, then the unknown token).
#ifndef TESSERA_TEXT_TOKENIZER_BPE_MODEL_H_
#define TESSERA_TEXT_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/json_fields.h"
#include "text/tokenizer/word_cache.h"

namespace tessera::tokenizer {

struct StreamedModel;  // tokenizer_json.h

class BpeModel {
 public:
  // `model` is the "model" object of tokenizer.json; errors name `source`. When `model` lacks
  // "vocab" or "merges", they are taken (moved) from `streamed` if it has them.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model,
                                                            std::string_view source,
                                                            StreamedModel* streamed = nullptr);

  // Appends the ids of one pre-tokenized word (valid UTF-8). Thread-safe.
  void Encode(std::string_view word, std::vector<int32_t>* out) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr for ids that no vocabulary entry has.
  const std::string* IdToToken(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t id_end() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  // Loading: the tokens and their ids, then the merges (which name tokens). `unique_ids` is
  // cleared when two tokens share an id.
  absl::Status ReadVocab(const JsonFields& f, StreamedModel* streamed, bool* unique_ids);
  absl::Status AddToken(const JsonFields& f, std::string token, const nlohmann::json& id_json,
                        size_t vocab_size, bool* unique_ids);
  absl::Status ReadMerges(const JsonFields& f, StreamedModel* streamed);
  // `joined` is scratch space, reused between calls.
  absl::Status AddMerge(const JsonFields& f, std::string_view a, std::string_view b, size_t rank,
                        std::string* joined);

  // Encode for a word that is not split at markers.
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  void EncodeUncached(std::string_view word, std::vector<int32_t>* out) const;
  // Whether every word can be cut before each sentencepiece marker that follows another
  // character without changing its encoding (the argument is at its definition).
  bool MarkerSplitIsExact() const;
  // TokenToId for one character (UTF-8).
  std::optional<int32_t> CharToId(std::string_view ch) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_tokens_;  // id of "<0xNN>", or -1
  // Id of the token of each one- or two-byte character, or -1: all the characters of byte-level
  // vocabularies, looked up without hashing a string.
  std::array<int32_t, 0x800> small_char_ids_;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  bool split_at_markers_ = false;

  // Long words (e.g. a whole line when there is no pre-tokenizer) are not cached: they rarely
  // repeat.
  static constexpr size_t kMaxCachedWordBytes = 64;
  static constexpr size_t kMaxCacheEntries = 1 << 18;
  WordCache cache_{kMaxCacheEntries};
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_BPE_MODEL_H_
