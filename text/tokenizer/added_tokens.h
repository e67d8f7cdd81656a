// Added tokens (tokenizer.json "added_tokens"): strings such as "<|im_start|>" that are cut out
// of the text before normalization and pre-tokenization and map straight to their ids.
#ifndef TESSERA_TEXT_TOKENIZER_ADDED_TOKENS_H_
#define TESSERA_TEXT_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tessera::tokenizer {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;      // skipped by Decode(skip_special_tokens=true)
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool single_word = false;  // matches only between non-word characters
  bool normalized = false;   // matched in normalized text rather than the raw input
};

// A piece of the input: either text still to be tokenized, or one added token.
struct Segment {
  std::string_view text;
  int32_t id = -1;  // >= 0 for an added token
};

// Finds added tokens leftmost first, longest first at one position, with a byte trie.
class AddedTokenMatcher {
 public:
  void Add(const AddedToken& token);  // `token` must outlive the matcher
  bool empty() const { return tokens_.empty(); }

  // Splits `text` (valid UTF-8) into segments; empty text segments are left out.
  void Split(std::string_view text, std::vector<Segment>* out) const;

 private:
  struct Match {
    size_t start, end;
    const AddedToken* token;
  };
  bool FindFrom(std::string_view text, size_t from, Match* match) const;
  // The first position >= from whose byte starts some token, or text.size().
  size_t NextCandidate(std::string_view text, size_t from) const;
  static uint64_t Edge(int32_t node, unsigned char byte) {
    return (static_cast<uint64_t>(node) << 8) | byte;
  }

  std::vector<const AddedToken*> tokens_;
  absl::flat_hash_map<uint64_t, int32_t> edges_;
  std::vector<const AddedToken*> terminal_{nullptr};  // per trie node; node 0 is the root
  std::array<bool, 256> first_bytes_{};               // bytes that start some token
  int first_byte_count_ = 0;
  unsigned char only_first_byte_ = 0;  // when first_byte_count_ == 1
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_ADDED_TOKENS_H_
