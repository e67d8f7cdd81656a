// The words of a pre-tokenized text, stored back to back in one buffer so that splitting a text
// into many words allocates nothing per word.
#ifndef TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_
#define TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_

#include <algorithm>
#include <cstddef>
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
    return std::string_view(bytes_.data() + begin, ends_[i] - begin);
  }

  void clear() {
    used_ = 0;
    ends_.clear();
  }
  void reserve(size_t bytes) {
    if (bytes_.size() < bytes) bytes_.resize(bytes);
  }

  void Add(std::string_view word) {
    char* p = Grow(word.size());
    word.copy(p, word.size());
    EndWord(p + word.size());
  }
  // For writing a word in place: write at most `max_bytes` bytes at Grow(max_bytes), then call
  // EndWord with the end of what was written. Cheaper per word than appending to a string.
  char* Grow(size_t max_bytes) {
    if (bytes_.size() - used_ < max_bytes)
      bytes_.resize(std::max(2 * bytes_.size(), used_ + max_bytes));
    return bytes_.data() + used_;
  }
  void EndWord(const char* end) {
    used_ = static_cast<size_t>(end - bytes_.data());
    ends_.push_back(used_);
  }

 private:
  std::string bytes_;  // the words are bytes_[0, used_); the rest is room to grow
  size_t used_ = 0;
  std::vector<size_t> ends_;  // end offset of each word in bytes_
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_
