#include "text/tokenizer/added_tokens.h"

#include <cstring>

#include "text/tokenizer/unicode_class.h"
#include "text/tokenizer/utf8.h"
#include "utf8proc.h"

namespace tessera::tokenizer {
namespace {

// Rust regex's \w, which Hugging Face tokenizers uses for single_word: letters, Nl, marks,
// decimal digits, connector punctuation and the joiners ZWNJ/ZWJ. (Other_Alphabetic symbols
// such as circled letters are left out.)
bool IsWordChar(char32_t cp) {
  if (cp == 0x200C || cp == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// The code point that ends just before byte `pos` (valid UTF-8, pos > 0), and its start.
char32_t PreviousCodePoint(std::string_view s, size_t pos, size_t* start) {
  size_t i = pos - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  *start = i;
  size_t p = i;
  return NextCodePoint(s, &p);
}

}  // namespace

void AddedTokenMatcher::Add(const AddedToken& token) {
  if (token.content.empty()) return;
  tokens_.push_back(&token);
  int32_t node = 0;
  for (char c : token.content) {
    const auto b = static_cast<unsigned char>(c);
    auto [it, inserted] = edges_.try_emplace(Edge(node, b), static_cast<int32_t>(terminal_.size()));
    if (inserted) terminal_.push_back(nullptr);
    node = it->second;
  }
  // The first token added with a given content wins, as in the file's order.
  if (terminal_[node] == nullptr) terminal_[node] = &token;
  const auto first = static_cast<unsigned char>(token.content[0]);
  if (!first_bytes_[first]) {
    first_bytes_[first] = true;
    ++first_byte_count_;
    only_first_byte_ = first;
  }
}

size_t AddedTokenMatcher::NextCandidate(std::string_view text, size_t from) const {
  // Added tokens usually all start with '<' ("<|eot_id|>", "<s>"): memchr is much faster than
  // a loop over the bytes.
  if (from >= text.size()) return text.size();  // memchr must not see a null pointer
  if (first_byte_count_ == 1) {
    const void* p = std::memchr(text.data() + from, only_first_byte_, text.size() - from);
    return p == nullptr ? text.size()
                        : static_cast<size_t>(static_cast<const char*>(p) - text.data());
  }
  while (from < text.size() && !first_bytes_[static_cast<unsigned char>(text[from])]) ++from;
  return from;
}

bool AddedTokenMatcher::FindFrom(std::string_view text, size_t from, Match* match) const {
  for (size_t start = NextCandidate(text, from); start < text.size();
       start = NextCandidate(text, start + 1)) {
    int32_t node = 0;
    const AddedToken* best = nullptr;
    size_t best_end = 0;
    for (size_t i = start; i < text.size(); ++i) {
      auto it = edges_.find(Edge(node, static_cast<unsigned char>(text[i])));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node] != nullptr) {
        best = terminal_[node];
        best_end = i + 1;
      }
    }
    if (best == nullptr) continue;
    // Matches are whole UTF-8 sequences because the contents are valid UTF-8.
    if (best->single_word) {
      size_t unused, p = best_end;
      if ((start > 0 && IsWordChar(PreviousCodePoint(text, start, &unused))) ||
          (best_end < text.size() && IsWordChar(NextCodePoint(text, &p)))) {
        // Matches do not overlap, as in Hugging Face tokenizers' Aho-Corasick search: the
        // rejected match still hides the tokens inside it.
        start = best_end - 1;
        continue;
      }
    }
    size_t s = start, e = best_end;
    if (best->lstrip) {
      size_t prev;
      while (s > from && ClassOf(PreviousCodePoint(text, s, &prev)) == kWhitespace) s = prev;
    }
    if (best->rstrip) {
      while (e < text.size()) {
        size_t p = e;
        if (ClassOf(NextCodePoint(text, &p)) != kWhitespace) break;
        e = p;
      }
    }
    *match = {s, e, best};
    return true;
  }
  return false;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* out) const {
  size_t pos = 0;
  Match m;
  while (!tokens_.empty() && FindFrom(text, pos, &m)) {
    if (m.start > pos) out->push_back({text.substr(pos, m.start - pos), -1});
    out->push_back({text.substr(m.start, m.end - m.start), m.token->id});
    pos = m.end;
  }
  if (pos < text.size()) out->push_back({text.substr(pos), -1});
}

}  // namespace tessera::tokenizer
