// A few pages of plain English, written for this project, that `tessera make-model` learns its
// tokenizer's BPE merges from: common words, numbers, punctuation and a little code, so that the
// generated tokenizer shortens ordinary text the way a real one does, without downloading one.
// Changing the text changes every tokenizer make-model writes.
#ifndef TESSERA_CLIENT_MERGE_TRAINING_TEXT_H_
#define TESSERA_CLIENT_MERGE_TRAINING_TEXT_H_

#include <string_view>

namespace tessera {

std::string_view MergeTrainingText();

}  // namespace tessera

#endif  // TESSERA_CLIENT_MERGE_TRAINING_TEXT_H_
