// The words of a pre-tokenized text, stored back to back in one buffer so that splitting a text
// into many words allocates nothing per word.
#ifndef TESSERA_TEXT_TOKENIZER_WORD_LIST_H_
#define TESSERA_TEXT_TOKENIZER_WORD_LIST_H_

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::tokenizer {

class WordList {
 public:
  size_t size() const { return ends_.size(); }
  size_t byte_size() const { return used_; }
  std::string_view operator[](size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(bytes_.get() + begin, ends_[i] - begin);
  }

  void clear() {
    used_ = 0;
    ends_.clear();
  }
  void reserve(size_t bytes) {
    if (capacity_ < bytes) Reallocate(bytes);
  }

  void Add(std::string_view word) {
    char* p = Grow(word.size());
    word.copy(p, word.size());
    EndWord(p + word.size());
  }
  // For writing a word in place: write at most `max_bytes` bytes at Grow(max_bytes), then call
  // EndWord with the end of what was written. Cheaper per word than appending to a string.
  char* Grow(size_t max_bytes) {
    if (capacity_ - used_ < max_bytes) Reallocate(std::max(2 * capacity_, used_ + max_bytes));
    return bytes_.get() + used_;
  }
  void EndWord(const char* end) {
    used_ = static_cast<size_t>(end - bytes_.get());
    ends_.push_back(used_);
  }

 private:
  // Not a std::string: growing one zero-fills the room, which costs as much as the words.
  void Reallocate(size_t capacity) {
    auto bytes = std::make_unique_for_overwrite<char[]>(capacity);
    if (used_ > 0) std::memcpy(bytes.get(), bytes_.get(), used_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> bytes_;  // the words are bytes_[0, used_)
  size_t capacity_ = 0;
  size_t used_ = 0;
  std::vector<size_t> ends_;  // end offset of each word in bytes_
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_WORD_LIST_H_
