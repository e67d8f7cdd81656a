// Text corpora for tokenizer_bench, built without the network: English prose from the license
// texts every Debian machine has, and a deterministic mix of CJK, emoji and source code.
#ifndef TESSERA_BENCH_TOKENIZER_CORPUS_H_
#define TESSERA_BENCH_TOKENIZER_CORPUS_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::bench {

struct Corpus {
  std::string text;         // valid UTF-8
  std::string description;  // what the text is made of, for the bench output
};

// The files of `dir` (symlinks to files in it counted once, sorted by name) concatenated and
// repeated up to `bytes`. nullopt when `dir` holds no readable files.
std::optional<Corpus> EnglishProse(const std::filesystem::path& dir, size_t bytes);

// `bytes` of paragraphs drawn by a generator seeded with `seed`: CJK sentences (Han, Hiragana,
// Katakana, Hangul, CJK punctuation), emoji runs (skin tones, ZWJ sequences, flags), and slices
// of lines from the C++ sources under `source_dir`'s engine/ and scheduler/ (not recursive).
Corpus MixedCorpus(const std::filesystem::path& source_dir, size_t bytes, uint32_t seed);

// A corpus read from a file, cut to at most `bytes` (at a character boundary).
std::optional<Corpus> CorpusFromFile(const std::filesystem::path& path, size_t bytes);

// FNV-1a, to tell in the output whether two runs saw the same text and produced the same ids.
uint64_t Fnv1a(std::string_view bytes);

}  // namespace tessera::bench

#endif  // TESSERA_BENCH_TOKENIZER_CORPUS_H_
