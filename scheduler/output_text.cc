#include "scheduler/output_text.h"

#include <algorithm>
#include <utility>

namespace tessera {

OutputText::OutputText(const Tokenizer& tokenizer, bool skip_special_tokens,
                       absl::Span<const int32_t> prompt, std::vector<std::string> stop,
                       bool include_stop_str_in_output)
    : stream_(tokenizer, skip_special_tokens, prompt),
      stop_(std::move(stop)),
      include_stop_(include_stop_str_in_output) {
  for (const std::string& s : stop_) hold_ = std::max(hold_, s.empty() ? 0 : s.size() - 1);
}

size_t OutputText::SafeLength() const {
  if (pending_.size() <= hold_) return 0;
  size_t cut = pending_.size() - hold_;
  // Never split a character: back up over UTF-8 continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

absl::StatusOr<OutputText::Piece> OutputText::Append(int32_t token, bool check_stop) {
  absl::StatusOr<std::string> text = stream_.Add(token);
  if (!text.ok()) return text.status();
  pending_ += *text;
  Piece piece;
  if (check_stop && !text->empty()) {
    // Earliest match wins, as the text reads; a match lies within pending_ because everything
    // released was followed by at least `hold_` bytes that are still pending.
    size_t best = std::string::npos;
    const std::string* hit = nullptr;
    for (const std::string& s : stop_) {
      const size_t at = pending_.find(s);
      if (at != std::string::npos && (best == std::string::npos || at < best)) {
        best = at;
        hit = &s;
      }
    }
    if (hit != nullptr) {
      piece.text = pending_.substr(0, include_stop_ ? best + hit->size() : best);
      piece.stop_hit = *hit;
      pending_.clear();
      return piece;
    }
  }
  const size_t safe = SafeLength();
  piece.text = pending_.substr(0, safe);
  pending_.erase(0, safe);
  return piece;
}

absl::StatusOr<std::string> OutputText::Finish() {
  absl::StatusOr<std::string> rest = stream_.Flush();
  if (!rest.ok()) return rest.status();
  std::string text = std::move(pending_) + *rest;
  pending_.clear();
  return text;
}

}  // namespace tessera
