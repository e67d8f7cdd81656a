// Incremental detokenization for streaming: text appears token by token, and only as text that
// no later token can change, so every piece is whole UTF-8 characters and the pieces add up to
// the decode of all the ids.
//
// Each Add decodes a short window of recent ids twice, up to the last released id ("prefix
// text") and up to the newest, and releases what the newest add, as Hugging Face's
// DecodeStream and vLLM do with their prefix and read offsets. Decoding a window rather than a
// single id keeps what depends on neighbours right: sentencepiece's leading space ("▁Paris"
// after "The capital is" reads " Paris"), characters spanning tokens, skipped special tokens.
//
// Text is held back while a later id may still rewrite it:
//  - a character whose bytes are not all there yet (the window's decode ends in U+FFFD);
//  - a run of byte-fallback tokens ("<0xE6>"): one invalid byte turns the whole run into one
//    U+FFFD per byte, so "<0x7E>" reads "~" but "<0x7E><0xCC>" reads two U+FFFD; the run's
//    text is released once a token that is not a byte ends it (skipped special tokens do not).
// Releasing the difference only past such points keeps the window's old decode a prefix of its
// new one, so a piece never starts inside a character (cutting by byte count did).
//
// Invariant (tested): with no context, the concatenation of every Add and the final Flush equals
// Tokenizer::Decode of all the ids, and every piece is valid UTF-8. With a prompt as context, the
// text is what the output adds after the prompt, as vLLM and TGI stream it: Decode(prompt +
// output) minus Decode(prompt). A byte run or character that the prompt leaves unfinished stays
// the prompt's: the output's ids start after it (they neither complete nor rewrite it).
//
// Not thread-safe; one per sequence. The tokenizer must outlive the stream.
#ifndef TESSERA_TEXT_TOKENIZER_DECODE_STREAM_H_
#define TESSERA_TEXT_TOKENIZER_DECODE_STREAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

class DecodeStream {
 public:
  // `context`: the ids before the stream (the prompt). Only its last few ids are kept, enough
  // for the first streamed token to decode as it reads after them.
  DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens,
               absl::Span<const int32_t> context = {});

  // Appends `id` and returns the text that became final (often empty while a character or a
  // byte run is unfinished). InvalidArgument for an id outside the vocabulary; the stream is
  // unchanged.
  absl::StatusOr<std::string> Add(int32_t id);

  // Ends the stream: returns the text held back (an unfinished character renders as U+FFFD, as
  // Decode does). Ids added after it read as if the stream went on, but what Flush released of
  // an unfinished byte run or character is not taken back.
  absl::StatusOr<std::string> Flush();

  // True when Add has returned less than the ids decode to (text is held back).
  bool has_pending() const { return read_ < ids_.size(); }

 private:
  // Decodes the window and returns what it adds past the released ids, then marks every id
  // released. Unless `flush`, returns "" and releases nothing while the window's decode ends in
  // an unfinished character.
  absl::StatusOr<std::string> Release(bool flush);
  // Drops ids before the window once enough have accumulated, so memory stays bounded.
  void Compact();

  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0;  // window start: ids_[prefix_, read_) has been released already
  size_t read_ = 0;    // ids_[read_, end) are not yet released
};

}  // namespace tessera

#endif  // TESSERA_TEXT_TOKENIZER_DECODE_STREAM_H_
