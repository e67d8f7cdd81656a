#include "text/tokenizer/tokenizer_json.h"

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/json_fields.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

// SAX events to a JSON tree, as nlohmann's own DOM parser builds it (a repeated key keeps its
// last value), except for model.vocab when it is an object and model.merges when it is an
// array: their elements go to a StreamedModel.
class Reader {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit Reader(TokenizerJson* out) : out_(out) { stack_.reserve(16); }

  bool null() { return Scalar(Json(nullptr)); }
  bool boolean(bool v) { return Scalar(Json(v)); }
  bool number_integer(number_integer_t v) { return Scalar(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return Scalar(Json(v)); }
  bool number_float(number_float_t v, const string_t& /*text*/) { return Scalar(Json(v)); }
  bool binary(binary_t& v) { return Scalar(Json(std::move(v))); }

  bool string(string_t& s) {
    if (skip_depth_ > 0) return true;
    if (mode_ == kMergeList) {
      Merges().AddString(s);
      return true;
    }
    if (mode_ == kMergePair) {
      // Copied, not moved: `s` is the parser's buffer, which keeps its capacity this way.
      if (pair_size_ == 0) pair_.first = s;
      if (pair_size_ == 1) pair_.second = s;
      ++pair_size_;
      return true;
    }
    return Scalar(Json(std::move(s)));
  }

  bool key(string_t& k) {
    if (skip_depth_ > 0) return true;
    if (mode_ == kVocab) {
      key_ = std::move(k);
      return true;
    }
    // stack_ is [root] for the keys of the root object, [root, model] for those of "model".
    if (stack_.size() == 1) {
      root_key_ = k;
      model_key_.clear();
      // A repeated "model" replaces the earlier one, streamed members included.
      if (root_key_ == "model") out_->model = {};
    }
    if (stack_.size() == 2) model_key_ = k;
    element_ = &(*stack_.back())[k];
    return true;
  }

  bool start_object(std::size_t /*len*/) {
    if (StartNested(Json::value_t::object)) return true;
    if (InModel() && model_key_ == "vocab") {
      stack_.back()->erase("vocab");
      out_->model.vocab.emplace();
      mode_ = kVocab;
      return true;
    }
    stack_.push_back(Value(Json(Json::value_t::object)));
    return true;
  }

  bool end_object() {
    if (EndNested()) return true;
    if (mode_ == kVocab) {
      mode_ = kNone;
      return true;
    }
    stack_.pop_back();
    return true;
  }

  bool start_array(std::size_t /*len*/) {
    if (skip_depth_ == 0 && mode_ == kMergeList) {
      mode_ = kMergePair;
      pair_size_ = 0;
      pair_valid_ = true;
      return true;
    }
    if (StartNested(Json::value_t::array)) return true;
    if (InModel() && model_key_ == "merges") {
      stack_.back()->erase("merges");
      out_->model.merges.emplace();
      mode_ = kMergeList;
      return true;
    }
    stack_.push_back(Value(Json(Json::value_t::array)));
    return true;
  }

  bool end_array() {
    if (EndNested()) return true;
    if (mode_ == kMergePair) {
      mode_ = kMergeList;
      if (pair_valid_ && pair_size_ == 2) {
        Merges().AddPair(pair_.first, pair_.second);
      } else {
        Merges().AddInvalid(Json(Json::value_t::array));
      }
      return true;
    }
    if (mode_ == kMergeList) {
      mode_ = kNone;
      return true;
    }
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }

 private:
  enum Mode {
    kNone,
    kVocab,      // in model.vocab
    kMergeList,  // in model.merges
    kMergePair,  // in an array inside model.merges
  };

  // Whether the next value is a member of the root's "model" object.
  bool InModel() const {
    return mode_ == kNone && stack_.size() == 2 && root_key_ == "model" && stack_[1]->is_object();
  }
  MergeList& Merges() { return *out_->model.merges; }

  // A scalar value wherever it is.
  bool Scalar(Json v) {
    if (skip_depth_ > 0) return true;
    switch (mode_) {
      case kVocab:
        out_->model.vocab->emplace_back(std::move(key_), std::move(v));
        break;
      case kMergeList:
        Merges().AddInvalid(std::move(v));
        break;
      case kMergePair:
        pair_valid_ = false;
        ++pair_size_;
        break;
      case kNone:
        Value(std::move(v));
        break;
    }
    return true;
  }

  // A container inside a streamed element (a vocab value, or a merge or an element of one) is
  // invalid there: it is recorded as an empty container of its type, its contents skipped.
  bool StartNested(Json::value_t type) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    switch (mode_) {
      case kVocab:
        out_->model.vocab->emplace_back(std::move(key_), Json(type));
        break;
      case kMergeList:
        Merges().AddInvalid(Json(type));
        break;
      case kMergePair:
        pair_valid_ = false;
        ++pair_size_;
        break;
      case kNone:
        return false;
    }
    skip_depth_ = 1;
    return true;
  }
  bool EndNested() {
    if (skip_depth_ == 0) return false;
    --skip_depth_;
    return true;
  }

  // Puts `v` in the tree: the root, the next element of the open array, or the member of the
  // open object whose key came last. Returns where it went.
  Json* Value(Json v) {
    if (stack_.empty()) {
      out_->root = std::move(v);
      return &out_->root;
    }
    Json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(v));
      return &top->back();
    }
    *element_ = std::move(v);
    return element_;
  }

  TokenizerJson* out_;
  std::vector<Json*> stack_;  // open containers of the tree, outermost first
  Json* element_ = nullptr;   // the member of the open object that the next value fills
  std::string root_key_, model_key_;
  Mode mode_ = kNone;
  std::string key_;  // kVocab: the token whose id comes next
  std::pair<std::string, std::string> pair_;
  int pair_size_ = 0;
  bool pair_valid_ = true;
  int skip_depth_ = 0;
};

}  // namespace

RawMerge MergeList::operator[](size_t i) const {
  const Entry& e = entries_[i];
  const std::string_view bytes(bytes_);
  return {e.form, bytes.substr(e.begin, e.first_size),
          bytes.substr(e.begin + e.first_size, e.second_size),
          e.form == RawMerge::kInvalid ? &invalid_[e.invalid] : nullptr};
}

void MergeList::Add(RawMerge::Form form, std::string_view a, std::string_view b) {
  entries_.push_back(
      {bytes_.size(), static_cast<uint32_t>(a.size()), static_cast<uint32_t>(b.size()), form, 0});
  bytes_.append(a).append(b);
}

void MergeList::AddInvalid(Json v) {
  entries_.push_back(
      {bytes_.size(), 0, 0, RawMerge::kInvalid, static_cast<uint32_t>(invalid_.size())});
  invalid_.push_back(std::move(v));
}

absl::StatusOr<TokenizerJson> ParseTokenizerJson(std::string_view text, std::string_view source) {
  TokenizerJson out;
  Reader reader(&out);
  if (!Json::sax_parse(text.data(), text.data() + text.size(), &reader)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(source), ": not valid JSON"));
  }
  if (!out.root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(source), ": must be a JSON object, got ", DescribeJson(out.root)));
  }
  return out;
}

}  // namespace tessera::tokenizer
