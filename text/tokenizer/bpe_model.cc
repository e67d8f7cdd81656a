#include "text/tokenizer/bpe_model.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "text/tokenizer/tokenizer_json.h"
#include "text/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxVocabId = (int64_t{1} << 31) - 2;

// U+2581, which sentencepiece-style normalizers put in place of spaces.
constexpr std::string_view kMarker = "\xE2\x96\x81";

// Whether `token` has a marker after some other character, i.e. is not of the form ▁*[^▁]*.
bool HasInnerMarker(std::string_view token) {
  size_t i = 0;
  while (token.substr(i, kMarker.size()) == kMarker) i += kMarker.size();
  return token.find(kMarker, i) != std::string_view::npos;
}

absl::Status Unsupported(const JsonFields& f, std::string_view what) {
  return f.Error(absl::StrCat("model: ", Sv(what), " is not supported"));
}

std::string MergeKey(size_t index) { return absl::StrCat("model.merges[", index, "]"); }

// "a b" -> (a, b), views into `s`.
absl::StatusOr<std::pair<std::string_view, std::string_view>> SplitMerge(const JsonFields& f,
                                                                         std::string_view s,
                                                                         size_t index) {
  const size_t space = s.find(' ');
  if (space == std::string_view::npos || s.find(' ', space + 1) != std::string_view::npos) {
    return f.Error(absl::StrCat("\"", MergeKey(index),
                                "\" must be two tokens separated by one space, got ",
                                QuoteForError(s)));
  }
  return std::make_pair(s.substr(0, space), s.substr(space + 1));
}

// A merge is "a b" (older files) or ["a", "b"] (newer files, which allow spaces in tokens). The
// views point into `m`. The field name is only built for an error: there are ~10^5 merges.
absl::StatusOr<std::pair<std::string_view, std::string_view>> ParseMerge(const JsonFields& f,
                                                                         const Json& m,
                                                                         size_t index) {
  if (m.is_string()) return SplitMerge(f, m.get_ref<const std::string&>(), index);
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return std::make_pair(std::string_view(m[0].get_ref<const std::string&>()),
                          std::string_view(m[1].get_ref<const std::string&>()));
  }
  return f.TypeError(MergeKey(index), "a string or a pair of strings", m);
}

// The same for a merge that the reader streamed.
absl::StatusOr<std::pair<std::string_view, std::string_view>> ParseMerge(const JsonFields& f,
                                                                         const RawMerge& m,
                                                                         size_t index) {
  switch (m.form) {
    case RawMerge::kString:
      return SplitMerge(f, m.first, index);
    case RawMerge::kPair:
      return std::make_pair(m.first, m.second);
    case RawMerge::kInvalid:
    default:
      return f.TypeError(MergeKey(index), "a string or a pair of strings", *m.invalid);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model,
                                                             std::string_view source,
                                                             StreamedModel* streamed) {
  JsonFields f(model, source, "model.");
  if (!model.is_object()) return f.TypeError("", "an object", model);
  auto type = f.OptionalString("type");
  if (!type.ok()) return type.status();
  if (type->has_value() && **type != "BPE") {
    return f.Error(absl::StrCat("model type ", QuoteForError(**type), " is not supported"));
  }
  // Options that change the algorithm beyond what is implemented are refused, not ignored.
  if (const Json* d = f.FindNonNull("dropout"); d != nullptr && !(d->is_number() && *d == 0)) {
    return Unsupported(f, "dropout");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto s = f.OptionalString(key);
    if (!s.ok()) return s.status();
    if (s->has_value() && !(*s)->empty()) return Unsupported(f, key);
  }

  auto m = std::unique_ptr<BpeModel>(new BpeModel);
  for (auto [key, out] :
       {std::pair{"byte_fallback", &m->byte_fallback_}, std::pair{"fuse_unk", &m->fuse_unk_},
        std::pair{"ignore_merges", &m->ignore_merges_}}) {
    auto v = f.BoolOr(key, false);
    if (!v.ok()) return v.status();
    *out = *v;
  }

  bool unique_ids = true;
  if (absl::Status s = m->ReadVocab(f, streamed, &unique_ids); !s.ok()) return s;
  if (absl::Status s = m->ReadMerges(f, streamed); !s.ok()) return s;

  auto unk = f.OptionalString("unk_token");
  if (!unk.ok()) return unk.status();
  if (unk->has_value()) {
    auto it = m->vocab_.find(**unk);
    if (it == m->vocab_.end()) {
      return f.Error(
          absl::StrCat("model.unk_token ", QuoteForError(**unk), " is not in the vocab"));
    }
    m->unk_id_ = it->second;
  }
  std::string ch;
  for (char32_t cp = 0; cp < m->small_char_ids_.size(); ++cp) {
    ch.clear();
    AppendUtf8(cp, &ch);
    m->small_char_ids_[cp] = m->TokenToId(ch).value_or(-1);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = m->vocab_.find(absl::StrFormat("<0x%02X>", b));
    m->byte_tokens_[b] = it == m->vocab_.end() ? -1 : it->second;
  }
  m->split_at_markers_ = unique_ids && m->MarkerSplitIsExact();
  return m;
}

absl::Status BpeModel::ReadVocab(const JsonFields& f, StreamedModel* streamed, bool* unique_ids) {
  const Json* vocab = f.Find("vocab");
  if (vocab == nullptr && streamed != nullptr && streamed->vocab.has_value()) {
    // A repeated token keeps its last id, as in a JSON tree: the entries are taken last first,
    // and those already seen are skipped.
    auto& entries = *streamed->vocab;
    vocab_.reserve(entries.size());
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      if (vocab_.contains(Sv(it->first))) continue;
      if (absl::Status s =
              AddToken(f, std::move(it->first), it->second, entries.size(), unique_ids);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (vocab == nullptr || !vocab->is_object()) {
    return f.TypeError("vocab", "an object", vocab ? *vocab : Json());
  }
  vocab_.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    if (absl::Status s = AddToken(f, token, id, vocab->size(), unique_ids); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status BpeModel::AddToken(const JsonFields& f, std::string token, const Json& id_json,
                                size_t vocab_size, bool* unique_ids) {
  // The common case is checked without building the field name, which only an error needs.
  int32_t i;
  if (id_json.is_number_unsigned() && id_json.get<uint64_t>() <= kMaxVocabId) {
    i = static_cast<int32_t>(id_json.get<uint64_t>());
  } else {
    auto id = f.Int(absl::StrCat("vocab[", token, "]"), id_json, 0, kMaxVocabId);
    if (!id.ok()) return id.status();
    i = static_cast<int32_t>(*id);
  }
  if (i >= static_cast<int32_t>(id_to_token_.size())) {
    if (i > static_cast<int64_t>(vocab_size) * 4 + 1024) {
      return f.Error(absl::StrCat("model.vocab id ", i, " is far beyond the vocabulary size"));
    }
    id_to_token_.resize(i + 1);
  }
  // Two tokens with one id would make Decode depend on the order of the JSON keys.
  std::string& name = id_to_token_[i];
  if (!name.empty()) {
    return f.Error(absl::StrCat("model.vocab id ", i, " is given to both ", QuoteForError(name),
                                " and ", QuoteForError(token)));
  }
  *unique_ids &= name.empty();
  vocab_.insert_or_assign(token, i);
  name = std::move(token);
  return absl::OkStatus();
}

absl::Status BpeModel::ReadMerges(const JsonFields& f, StreamedModel* streamed) {
  std::string joined;  // reused by AddMerge
  const Json* merges = f.Find("merges");
  if (merges == nullptr && streamed != nullptr && streamed->merges.has_value()) {
    const MergeList& list = *streamed->merges;
    merges_.reserve(list.size());
    for (size_t r = 0; r < list.size(); ++r) {
      auto pair = ParseMerge(f, list[r], r);
      if (!pair.ok()) return pair.status();
      if (absl::Status s = AddMerge(f, pair->first, pair->second, r, &joined); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (merges == nullptr || !merges->is_array()) {
    return f.TypeError("merges", "an array", merges ? *merges : Json());
  }
  merges_.reserve(merges->size());
  for (size_t r = 0; r < merges->size(); ++r) {
    auto pair = ParseMerge(f, (*merges)[r], r);
    if (!pair.ok()) return pair.status();
    if (absl::Status s = AddMerge(f, pair->first, pair->second, r, &joined); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status BpeModel::AddMerge(const JsonFields& f, std::string_view a, std::string_view b,
                                size_t rank, std::string* joined) {
  joined->assign(a).append(b);
  auto ia = vocab_.find(Sv(a));
  auto ib = vocab_.find(Sv(b));
  auto iab = vocab_.find(Sv(*joined));
  if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end()) {
    return f.Error(absl::StrCat("model.merges[", rank, "] uses a token that is not in the vocab"));
  }
  // A repeated merge takes the rank of its last occurrence, as in Hugging Face tokenizers,
  // which collects the merges into a map in file order.
  merges_.insert_or_assign(PairKey(ia->second, ib->second),
                           Merge{static_cast<int32_t>(rank), iab->second});
  return absl::OkStatus();
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(Sv(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= id_end()) return nullptr;
  // An empty entry is a gap in the ids, unless "" itself is in the vocabulary with this id (it
  // can be the unknown token, which Encode then produces).
  if (id_to_token_[id].empty() && TokenToId("") != id) return nullptr;
  return &id_to_token_[id];
}

// Without a pre-tokenizer (Llama 2), the whole text is one word: merging it is slow, and too long
// to cache. When no merge can join a character to a marker after it, cutting the word before such
// markers leaves every merge where it was, and the pieces are short words that repeat.
//
// A merge joining symbols a and b makes the token a+b, so it can cross a cut between a
// character c and a marker only if some token has a marker right after c (a token with a marker
// after any other character). Merges are matched by id, so ids must name one token each; the
// marker must be a token itself (not bytes or unknown); the unknown token must not contain it
// (it stands for a character, but is spelled with its own); no character may be dropped (that
// would bring a marker next to the one before the dropped character); and ignore_merges is off
// (it would take a piece that is a token whole, where the uncut word would be merged).
bool BpeModel::MarkerSplitIsExact() const {
  if (ignore_merges_ || !TokenToId(kMarker).has_value()) return false;
  if (unk_id_.has_value() && id_to_token_[*unk_id_].find(kMarker) != std::string::npos) {
    return false;
  }
  const bool all_bytes =
      std::all_of(byte_tokens_.begin(), byte_tokens_.end(), [](int32_t id) { return id >= 0; });
  if (!unk_id_.has_value() && !(byte_fallback_ && all_bytes)) return false;
  for (const std::string& token : id_to_token_) {
    if (HasInnerMarker(token)) return false;
  }
  return true;
}

void BpeModel::Encode(std::string_view word, std::vector<int32_t>* out) const {
  if (!split_at_markers_) {
    EncodeWord(word, out);
    return;
  }
  size_t start = 0;
  for (size_t p = word.find(kMarker, 1); p != std::string_view::npos;
       p = word.find(kMarker, p + kMarker.size())) {
    // UTF-8 is self-synchronizing: the three bytes before p are a marker only if the character
    // before p is one.
    if (p >= kMarker.size() && word.substr(p - kMarker.size(), kMarker.size()) == kMarker) continue;
    EncodeWord(word.substr(start, p - start), out);
    start = p;
  }
  EncodeWord(word.substr(start), out);
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() > kMaxCachedWordBytes) {
    EncodeUncached(word, out);
    return;
  }
  if (cache_.Lookup(word, out)) return;
  const size_t start = out->size();
  EncodeUncached(word, out);
  cache_.Insert(word, absl::MakeConstSpan(out->data() + start, out->size() - start));
}

std::optional<int32_t> BpeModel::CharToId(std::string_view ch) const {
  if (ch.size() > 2) return TokenToId(ch);
  const auto b0 = static_cast<unsigned char>(ch[0]);
  const char32_t cp =
      ch.size() == 1 ? b0 : ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(ch[1]) & 0x3Fu);
  const int32_t id = small_char_ids_[cp];
  if (id < 0) return std::nullopt;
  return id;
}

void BpeModel::EncodeUncached(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = TokenToId(word)) {
      out->push_back(*id);
      return;
    }
  }

  // The word as a doubly linked list of symbols, one per character to start with.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  // Inline storage: most uncached words are short, and then need no heap block.
  absl::InlinedVector<Symbol, 32> syms;
  syms.reserve(word.size());
  bool last_was_unk = false;
  auto push = [&](int32_t id) {
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, n + 1});
  };
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t len = SequenceLength(static_cast<unsigned char>(word[pos]));
    const std::string_view ch = word.substr(pos, len);
    pos += len;
    if (auto id = CharToId(ch)) {
      push(*id);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_ && std::all_of(ch.begin(), ch.end(), [&](char c) {
          return byte_tokens_[static_cast<unsigned char>(c)] >= 0;
        })) {
      for (char c : ch) push(byte_tokens_[static_cast<unsigned char>(c)]);
      last_was_unk = false;
      continue;
    }
    // Without an unknown token the character is dropped, as Hugging Face tokenizers does.
    if (unk_id_.has_value() && !(fuse_unk_ && last_was_unk)) push(*unk_id_);
    last_was_unk = unk_id_.has_value();
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  Symbol* const sym = syms.data();  // fixed from here on; plain indexing is cheaper
  const auto count = static_cast<int32_t>(syms.size());

  // Lowest rank first, leftmost first among equal ranks; entries are checked when popped
  // because merges around them may have changed the pair since it was queued.
  using Entry = std::pair<int32_t, int32_t>;  // (rank, left symbol index)
  absl::InlinedVector<Entry, 32> heap;
  auto queue_pair = [&](int32_t left) {
    const int32_t right = sym[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(sym[left].id, sym[right].id));
    if (it == merges_.end()) return;
    heap.emplace_back(it->second.rank, left);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t i = 0; i + 1 < count; ++i) queue_pair(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const auto [rank, left] = heap.back();
    heap.pop_back();
    if (sym[left].id < 0) continue;  // merged into its left neighbour
    const int32_t right = sym[left].next;
    if (right < 0) continue;
    auto it = merges_.find(PairKey(sym[left].id, sym[right].id));
    if (it == merges_.end() || it->second.rank != rank) continue;
    sym[left].id = it->second.result;
    sym[left].next = sym[right].next;
    if (sym[right].next >= 0) sym[sym[right].next].prev = left;
    sym[right].id = -1;
    if (sym[left].prev >= 0) queue_pair(sym[left].prev);
    queue_pair(left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out->push_back(sym[i].id);
}

}  // namespace tessera::tokenizer
