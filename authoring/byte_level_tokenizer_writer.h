// Writes a byte-level BPE tokenizer in Hugging Face's file formats (tokenizer.json and
// tokenizer_config.json), laid out as Llama 3's: the Llama 3 split regex and ByteLevel
// pre-tokenizer, a BPE model over the 256 byte tokens plus merges, special tokens added after the
// vocabulary, a post-processor that puts BOS first, and a ByteLevel decoder. Every UTF-8 text
// round-trips through it, since every byte is a token. Used by `tessera make-model`.
#ifndef TESSERA_AUTHORING_BYTE_LEVEL_TOKENIZER_WRITER_H_
#define TESSERA_AUTHORING_BYTE_LEVEL_TOKENIZER_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "authoring/bpe_merge_learner.h"

namespace tessera::tokenizer {

struct ByteLevelTokenizerSpec {
  // In rank order. Each side must be a byte token or a token an earlier merge made.
  std::vector<BpeMerge> merges;
  // Added tokens (special, matched verbatim in text), given ids after the vocabulary in this order.
  std::vector<std::string> special_tokens;
  // Two of special_tokens.
  std::string bos_token;
  std::string eos_token;
  int64_t model_max_length = 0;  // tokenizer_config.json's, usually the model's context
};

struct ByteLevelTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  // Ids 0..num_ids-1 all name a token: 0..255 are the bytes (id = byte value), then the tokens
  // that merges made, then the special tokens.
  int32_t num_ids = 0;
  int32_t bos_id = 0;
  int32_t eos_id = 0;
};

// InvalidArgument for a merge of unknown tokens, a special token that is empty, repeated or
// already a vocabulary token, or a BOS/EOS token that is not among the special tokens.
absl::StatusOr<ByteLevelTokenizerFiles> MakeByteLevelTokenizerFiles(
    const ByteLevelTokenizerSpec& spec);

}  // namespace tessera::tokenizer

#endif  // TESSERA_AUTHORING_BYTE_LEVEL_TOKENIZER_WRITER_H_
