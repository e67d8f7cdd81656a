// Learns byte-level BPE merges from a text, the way a BPE trainer does: the text is split into
// words by the Llama 3 pre-tokenizer pattern and spelled in byte-level characters, then the most
// frequent adjacent pair of symbols is merged, again and again. Used to give generated tokenizers
// (`tessera make-model`) a vocabulary that shortens English without downloading one.
//
// Deterministic: ties between equally frequent pairs go to the smaller pair (by its bytes), so a
// text always gives the same merges on every platform.
#ifndef TESSERA_AUTHORING_BPE_MERGE_LEARNER_H_
#define TESSERA_AUTHORING_BPE_MERGE_LEARNER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::tokenizer {

// A merge of two byte-level spelled tokens; the token it makes is left + right.
using BpeMerge = std::pair<std::string, std::string>;

// Merges, in rank order, that make `num_new_tokens` distinct tokens beyond the 256 byte tokens
// (two merges can make the same token, so there may be more merges than new tokens). Fewer when
// every word of `text` is already one token. InvalidArgument when `text` is not valid UTF-8.
absl::StatusOr<std::vector<BpeMerge>> LearnByteLevelMerges(std::string_view text,
                                                           int num_new_tokens);

}  // namespace tessera::tokenizer

#endif  // TESSERA_AUTHORING_BPE_MERGE_LEARNER_H_
