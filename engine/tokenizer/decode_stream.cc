#include "engine/tokenizer/decode_stream.h"

#include <algorithm>
#include <utility>

namespace tessera {
namespace {

// How many context ids are kept: enough for every decoder rule that looks at a neighbour (a
// leading space, a byte-fallback run of up to 4 bytes), as vLLM's incremental detokenizer does.
constexpr size_t kContextIds = 5;
// Ids before the window are dropped once this many accumulate.
constexpr size_t kCompactAfter = 256;

bool EndsIncomplete(const std::string& text) {
  // The decoders render an incomplete UTF-8 sequence as U+FFFD (EF BF BD).
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

DecodeStream::DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens,
                           absl::Span<const int32_t> context)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {
  const size_t keep = std::min(context.size(), kContextIds);
  ids_.assign(context.end() - keep, context.end());
  read_ = ids_.size();
}

absl::StatusOr<std::string> DecodeStream::Add(int32_t id) {
  ids_.push_back(id);
  const absl::Span<const int32_t> all(ids_);
  absl::StatusOr<std::string> before =
      tokenizer_.Decode(all.subspan(prefix_, read_ - prefix_), skip_special_tokens_);
  absl::StatusOr<std::string> after = tokenizer_.Decode(all.subspan(prefix_), skip_special_tokens_);
  if (!after.ok() || !before.ok()) {
    ids_.pop_back();
    return after.ok() ? before.status() : after.status();
  }
  if (after->size() <= before->size() || EndsIncomplete(*after)) return std::string();
  // `after` extends `before` for every supported decoder; should one ever rewrite the window's
  // earlier text, the bytes past the old length are still what is new.
  std::string text = after->substr(before->size());
  prefix_ = read_;
  read_ = ids_.size();
  Compact();
  return text;
}

absl::StatusOr<std::string> DecodeStream::Flush() {
  if (!has_pending()) return std::string();
  const absl::Span<const int32_t> all(ids_);
  absl::StatusOr<std::string> before =
      tokenizer_.Decode(all.subspan(prefix_, read_ - prefix_), skip_special_tokens_);
  if (!before.ok()) return before.status();
  absl::StatusOr<std::string> after = tokenizer_.Decode(all.subspan(prefix_), skip_special_tokens_);
  if (!after.ok()) return after.status();
  prefix_ = read_;
  read_ = ids_.size();
  Compact();
  return after->size() > before->size() ? after->substr(before->size()) : std::string();
}

void DecodeStream::Compact() {
  if (prefix_ < kCompactAfter) return;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_));
  read_ -= prefix_;
  prefix_ = 0;
}

}  // namespace tessera
