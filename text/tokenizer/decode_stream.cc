#include "text/tokenizer/decode_stream.h"

#include <algorithm>
#include <utility>

namespace tessera {
namespace {

// How many context ids are kept: enough for every decoder rule that looks at a neighbour (a
// leading space, a character of up to 4 bytes), as vLLM's incremental detokenizer does.
constexpr size_t kContextIds = 5;
// Ids before the window are dropped once this many accumulate.
constexpr size_t kCompactAfter = 256;

bool EndsIncomplete(const std::string& text) {
  // The decoders render an incomplete UTF-8 sequence as U+FFFD (EF BF BD).
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

DecodeStream::DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens,
                           absl::Span<const int32_t> context)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {
  // The context ends at its last id that decodes to plain text: a byte run after it is still
  // open (the output's first bytes would join it and could rewrite the prompt's text), and
  // skipped ids add nothing. Ids the tokenizer does not know add no text either.
  size_t end = context.size();
  while (end > 0) {
    absl::StatusOr<Tokenizer::DecodePart> part =
        tokenizer_.DecodePartOf(context[end - 1], skip_special_tokens_);
    if (part.ok() && *part == Tokenizer::DecodePart::kText) break;
    --end;
  }
  for (size_t i = end; i > 0 && ids_.size() < kContextIds; --i) {
    if (tokenizer_.DecodePartOf(context[i - 1], skip_special_tokens_).ok()) {
      ids_.push_back(context[i - 1]);
    }
  }
  std::reverse(ids_.begin(), ids_.end());
  // A prompt given as ids may end inside a character; the output does not complete it. Context
  // only matters to a byte-level decoder for such a character, so it is dropped.
  if (absl::StatusOr<std::string> text = tokenizer_.Decode(ids_, skip_special_tokens_);
      !text.ok() || EndsIncomplete(*text)) {
    ids_.clear();
  }
  read_ = ids_.size();
}

absl::StatusOr<std::string> DecodeStream::Add(int32_t id) {
  absl::StatusOr<Tokenizer::DecodePart> part = tokenizer_.DecodePartOf(id, skip_special_tokens_);
  if (!part.ok()) return part.status();
  ids_.push_back(id);
  switch (*part) {
    case Tokenizer::DecodePart::kNothing:
      return std::string();
    case Tokenizer::DecodePart::kByte:
      return std::string();  // held, without decoding, until a kText id ends the run
    case Tokenizer::DecodePart::kText:
      break;
  }
  absl::StatusOr<std::string> text = Release(/*flush=*/false);
  if (!text.ok()) ids_.pop_back();  // unreachable for known ids; keeps the stream unchanged
  return text;
}

absl::StatusOr<std::string> DecodeStream::Flush() {
  if (!has_pending()) return std::string();
  return Release(/*flush=*/true);
}

absl::StatusOr<std::string> DecodeStream::Release(bool flush) {
  const absl::Span<const int32_t> all(ids_);
  absl::StatusOr<std::string> before =
      tokenizer_.Decode(all.subspan(prefix_, read_ - prefix_), skip_special_tokens_);
  if (!before.ok()) return before.status();
  absl::StatusOr<std::string> after = tokenizer_.Decode(all.subspan(prefix_), skip_special_tokens_);
  if (!after.ok()) return after.status();
  if (!flush && (EndsIncomplete(*after) || after->size() <= before->size())) {
    return std::string();  // unfinished, or nothing new ("▁" stripped at the start)
  }
  size_t start = std::min(before->size(), after->size());
  if (after->compare(0, start, *before) != 0) {
    // A decoder rule rewrote released text. Holding back byte runs and unfinished characters
    // rules this out for every supported decoder chain; should a chain do it anyway (a Replace
    // after Fuse whose pattern spans tokens), the piece still starts on a character boundary.
    while (start < after->size() && IsContinuationByte((*after)[start])) ++start;
  }
  std::string text = after->substr(start);
  prefix_ = read_;
  read_ = ids_.size();
  Compact();
  return text;
}

void DecodeStream::Compact() {
  if (prefix_ < kCompactAfter) return;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_));
  read_ -= prefix_;
  prefix_ = 0;
}

}  // namespace tessera
