// The words of a pre-tokenized text, stored back to back in one buffer so that splitting a text
// into many words allocates nothing per word.
#ifndef TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_
#define TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::tokenizer {

class WordList {
 public:
  size_t size() const { return ends_.size(); }
  size_t byte_size() const { return bytes_.size(); }
  std::string_view operator[](size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(bytes_).substr(begin, ends_[i] - begin);
  }

  void clear() {
    bytes_.clear();
    ends_.clear();
  }
  void reserve(size_t bytes) { bytes_.reserve(bytes); }

  void Add(std::string_view word) {
    bytes_.append(word);
    ends_.push_back(bytes_.size());
  }
  // For writing a word in place: append its bytes to buffer(), then call EndWord().
  std::string* buffer() { return &bytes_; }
  void EndWord() { ends_.push_back(bytes_.size()); }

 private:
  std::string bytes_;
  std::vector<size_t> ends_;  // end offset of each word in bytes_
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_ENGINE_TOKENIZER_WORD_LIST_H_
