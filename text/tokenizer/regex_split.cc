#include "text/tokenizer/regex_split.h"

#include <algorithm>
#include <utility>

namespace tessera::tokenizer {

std::optional<SplitBehavior> ParseSplitBehavior(std::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return std::nullopt;
}

std::vector<SplitPiece> SplitPieces(size_t text_size, const std::vector<RegexMatch>& matches,
                                    SplitBehavior behavior, bool invert) {
  // The text as alternating stretches: the text before each match, then the match (an empty
  // match counts: it can separate two merges).
  std::vector<SplitPiece> laid_out;
  laid_out.reserve(2 * matches.size() + 1);
  size_t prev = 0;
  for (const RegexMatch& m : matches) {
    if (prev != m.begin) laid_out.push_back({prev, m.begin, invert});
    laid_out.push_back({m.begin, m.end, !invert});
    prev = m.end;
  }
  if (prev != text_size) laid_out.push_back({prev, text_size, invert});

  std::vector<SplitPiece> pieces;
  pieces.reserve(laid_out.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      pieces = std::move(laid_out);
      break;
    case SplitBehavior::kRemoved:
      for (const SplitPiece& p : laid_out) {
        if (!p.is_match) pieces.push_back(p);
      }
      break;
    case SplitBehavior::kContiguous:
      for (const SplitPiece& p : laid_out) {
        if (p.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = p.end;
        } else {
          pieces.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const SplitPiece& p : laid_out) {
        if (p.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = p.end;
        } else {
          pieces.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      // The mirror image: walk from the end, merging a match into the piece after it.
      for (auto it = laid_out.rbegin(); it != laid_out.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  std::erase_if(pieces, [](const SplitPiece& p) { return p.begin == p.end; });
  return pieces;
}

absl::Status RegexSplitter::Split(std::string_view text, std::vector<std::string_view>* out) const {
  std::vector<RegexMatch> matches;
  absl::Status status = pattern_->FindAll(text, &matches);
  if (!status.ok()) return status;
  for (const SplitPiece& p : SplitPieces(text.size(), matches, behavior_, invert_)) {
    out->push_back(text.substr(p.begin, p.end - p.begin));
  }
  return absl::OkStatus();
}

}  // namespace tessera::tokenizer
