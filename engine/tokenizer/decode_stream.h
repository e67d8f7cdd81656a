// Incremental detokenization for streaming: text appears token by token, and only as complete
// UTF-8 characters, so a client never receives half of a character that byte-level or
// byte-fallback tokens spell across several tokens.
//
// Each Add decodes a short window of recent ids twice, with and without the newest ones, and
// returns the difference once it no longer ends in an incomplete character (U+FFFD from the
// decoder). Decoding a window rather than a single id keeps what depends on neighbours right:
// sentencepiece's leading space ("▁Paris" after "The capital is" reads " Paris"), byte-fallback
// sequences spanning tokens, and skipped special tokens.
//
// Invariant (tested): with no context, the concatenation of every Add and the final Flush equals
// Tokenizer::Decode of all the ids. With a prompt as context, the text is what the output adds
// after the prompt, as vLLM and TGI stream it.
//
// Not thread-safe; one per sequence. The tokenizer must outlive the stream.
#ifndef TESSERA_ENGINE_TOKENIZER_DECODE_STREAM_H_
#define TESSERA_ENGINE_TOKENIZER_DECODE_STREAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace tessera {

class DecodeStream {
 public:
  // `context`: the ids before the stream (the prompt). Only its last few ids are kept, enough
  // for the first streamed token to decode as it reads after them.
  DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens,
               absl::Span<const int32_t> context = {});

  // Appends `id` and returns the text that became complete (often empty while a character is
  // still partial). InvalidArgument for an id outside the vocabulary; the stream is unchanged.
  absl::StatusOr<std::string> Add(int32_t id);

  // The text held back at the end of the stream (an incomplete character renders as U+FFFD, as
  // Decode does). The stream is then empty of pending text; Add may continue.
  absl::StatusOr<std::string> Flush();

  // True when Add has returned less than the ids decode to (a partial character is pending).
  bool has_pending() const { return read_ < ids_.size(); }

 private:
  // Drops ids before the window once enough have accumulated, so memory stays bounded.
  void Compact();

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0;  // window start: ids_[prefix_, read_) has been emitted already
  size_t read_ = 0;    // ids_[read_, end) are not yet emitted
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_TOKENIZER_DECODE_STREAM_H_
