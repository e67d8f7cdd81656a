#include "bench/tokenizer_corpus.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/str_format.h"
#include "text/tokenizer/utf8.h"

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Cuts `s` to at most `bytes` without splitting a UTF-8 sequence.
void CutAtCharBoundary(std::string* s, size_t bytes) {
  if (s->size() <= bytes) return;
  size_t n = bytes;
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
}

using tokenizer::AppendUtf8;

// The characters of a UTF-8 string, each as its own string.
std::vector<std::string> SplitChars(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Frequent characters of everyday Chinese (and Japanese kanji), and Hangul syllables of common
// Korean words. Frequency lists, not Unicode ranges: most of the Han and Hangul blocks is rare.
constexpr std::string_view kHan =
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学"
    "对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头"
    "面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向"
    "情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信"
    "北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难"
    "神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物";
constexpr std::string_view kHangul =
    "가나다라마바사아자차카타파하이그는을를에의고서도요니까한국어람시간일년때문생각말지않우리것수"
    "있없보되면대해안녕세감합학교친구오늘내제정좋먹집회전화컴퓨터프로램사랑음식물바다하늘";
constexpr std::string_view kCjkPunctuation = "，、：；（）「」『』《》";
constexpr std::string_view kCjkSentenceEnd = "。！？";

// Emoji that take skin tones, and sequences joined by U+200D (ZWJ), some with a skin tone or a
// variation selector inside.
constexpr std::array<std::string_view, 12> kToneBases = {"👍", "👋", "👏", "🙌",    "✋", "👌",
                                                         "🙏", "💪", "👶", "🧑", "👩", "👨"};
constexpr std::array<std::string_view, 12> kZwjSequences = {"👨‍👩‍👧‍👦",
                                                            "👩‍💻",
                                                            "🧑‍🚀",
                                                            "🏳️‍🌈",
                                                            "❤️‍🔥",
                                                            "👨‍🍳",
                                                            "👩‍🔬",
                                                            "🧑🏽‍💻",
                                                            "🐻‍❄️",
                                                            "👁️‍🗨️",
                                                            "👩🏾‍🤝‍👨🏻",
                                                            "🧑‍🤝‍🧑"};
constexpr std::array<std::string_view, 6> kFlags = {"🇯🇵", "🇰🇷", "🇨🇳", "🇺🇸", "🇫🇷", "🇧🇷"};

class MixedBuilder {
 public:
  explicit MixedBuilder(uint32_t seed)
      : rng_(seed),
        han_(SplitChars(kHan)),
        hangul_(SplitChars(kHangul)),
        punct_(SplitChars(kCjkPunctuation)),
        end_(SplitChars(kCjkSentenceEnd)) {}

  size_t Uniform(size_t lo, size_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<size_t>(lo, hi)(rng_);
  }
  template <typename T>
  const auto& Pick(const T& v) {
    return v[Uniform(0, v.size() - 1)];
  }

  void Chinese(std::string* out) {
    const size_t n = Uniform(6, 30);
    for (size_t i = 0; i < n; ++i) {
      out->append(Pick(han_));
      if (i + 1 < n && Uniform(0, 9) == 0) out->append(Pick(punct_));
    }
    out->append(Pick(end_));
  }

  // Kanji, hiragana and katakana runs, as Japanese alternates them.
  void Japanese(std::string* out) {
    const size_t runs = Uniform(3, 8);
    for (size_t r = 0; r < runs; ++r) {
      const size_t script = Uniform(0, 2), len = Uniform(1, 5);
      for (size_t i = 0; i < len; ++i) {
        if (script == 0) out->append(Pick(han_));
        if (script == 1) AppendUtf8(static_cast<char32_t>(Uniform(0x3041, 0x3093)), out);
        if (script == 2) {
          AppendUtf8(static_cast<char32_t>(Uniform(0x30A1, 0x30F3)), out);
          if (Uniform(0, 5) == 0) AppendUtf8(0x30FC, out);  // long vowel mark
        }
      }
      if (r + 1 < runs && Uniform(0, 4) == 0) out->append("、");
    }
    out->append(Pick(end_));
  }

  void Korean(std::string* out) {
    const size_t words = Uniform(2, 8);
    for (size_t w = 0; w < words; ++w) {
      if (w > 0) out->push_back(' ');
      const size_t len = Uniform(1, 4);
      for (size_t i = 0; i < len; ++i) out->append(Pick(hangul_));
    }
    out->append(Uniform(0, 1) ? "." : Pick(end_));
  }

  void Emoji(std::string* out) {
    switch (Uniform(0, 4)) {
      case 0:
        AppendUtf8(static_cast<char32_t>(Uniform(0x1F600, 0x1F64F)), out);  // faces
        break;
      case 1:
        AppendUtf8(static_cast<char32_t>(Uniform(0x1F300, 0x1F5FF)), out);  // pictographs
        break;
      case 2:
        out->append(Pick(kToneBases));
        AppendUtf8(static_cast<char32_t>(Uniform(0x1F3FB, 0x1F3FF)), out);
        break;
      case 3:
        out->append(Pick(kZwjSequences));
        break;
      default:
        out->append(Pick(kFlags));
        break;
    }
  }

  void CjkParagraph(std::string* out) {
    const size_t sentences = Uniform(2, 6);
    const size_t language = Uniform(0, 2);
    for (size_t s = 0; s < sentences; ++s) {
      if (language == 0) Chinese(out);
      if (language == 1) Japanese(out);
      if (language == 2) {
        if (s > 0) out->push_back(' ');
        Korean(out);
      }
      if (Uniform(0, 3) == 0) Emoji(out);
    }
    out->append("\n\n");
  }

  void EmojiLine(std::string* out) {
    const size_t n = Uniform(1, 8);
    for (size_t i = 0; i < n; ++i) {
      Emoji(out);
      if (Uniform(0, 2) == 0) out->push_back(' ');
    }
    out->append("\n");
  }

  // A few consecutive lines of one source file.
  void Code(const std::vector<std::vector<std::string>>& files, std::string* out) {
    const auto& lines = Pick(files);
    const size_t len = std::min(lines.size(), Uniform(3, 25));
    const size_t first = Uniform(0, lines.size() - len);
    for (size_t i = first; i < first + len; ++i) out->append(lines[i]).push_back('\n');
    out->push_back('\n');
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> han_, hangul_, punct_, end_;
};

std::vector<std::vector<std::string>> SourceLines(const fs::path& source_dir, size_t* file_count) {
  std::vector<fs::path> paths;
  for (const char* sub : {"engine", "scheduler"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(source_dir / sub, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".cc" || ext == ".h")) paths.push_back(e.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<std::string>> files;
  for (const fs::path& p : paths) {
    auto text = ReadFile(p);
    if (!text.has_value()) continue;
    std::vector<std::string> lines;
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (!lines.empty()) files.push_back(std::move(lines));
  }
  *file_count = files.size();
  return files;
}

}  // namespace

std::optional<Corpus> EnglishProse(const fs::path& dir, size_t bytes) {
  // Several names are symlinks to one text (GPL -> GPL-3): each text is taken once.
  std::set<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.insert(fs::canonical(e.path(), ec));
  }
  std::string once;
  for (const fs::path& f : files) {
    if (auto text = ReadFile(f)) once += *text;
  }
  if (once.empty()) return std::nullopt;
  Corpus c;
  while (c.text.size() < bytes) c.text += once;
  CutAtCharBoundary(&c.text, bytes);
  c.description = absl::StrFormat("English prose: the %d texts of %s (%d bytes) repeated",
                                  files.size(), dir.string(), once.size());
  return c;
}

Corpus MixedCorpus(const fs::path& source_dir, size_t bytes, uint32_t seed) {
  size_t file_count = 0;
  const auto files = SourceLines(source_dir, &file_count);
  MixedBuilder b(seed);
  Corpus c;
  // Paragraph kinds differ a lot in length, so the next kind is the one furthest below its
  // target share of the bytes: CJK 40%, emoji 20%, code 40%.
  constexpr std::array<double, 3> kTarget = {0.4, 0.2, 0.4};
  std::array<size_t, 3> share{};  // bytes of CJK, emoji, code
  while (c.text.size() < bytes) {
    const size_t before = c.text.size();
    size_t k = 0;
    for (size_t i = 1; i < share.size(); ++i) {
      if (share[i] / kTarget[i] < share[k] / kTarget[k]) k = i;
    }
    if (k == 2 && files.empty()) k = 0;
    if (k == 0) b.CjkParagraph(&c.text);
    if (k == 1) b.EmojiLine(&c.text);
    if (k == 2) b.Code(files, &c.text);
    share[k] += c.text.size() - before;
  }
  CutAtCharBoundary(&c.text, bytes);
  const double total = static_cast<double>(share[0] + share[1] + share[2]);
  c.description = absl::StrFormat(
      "mixed, seed %d: CJK paragraphs (with some emoji) %.0f%%, emoji lines %.0f%%, code %.0f%% "
      "from %d sources in %s/{engine,scheduler}",
      seed, 100 * share[0] / total, 100 * share[1] / total, 100 * share[2] / total, file_count,
      source_dir.string());
  return c;
}

std::optional<Corpus> CorpusFromFile(const fs::path& path, size_t bytes) {
  auto text = ReadFile(path);
  if (!text.has_value()) return std::nullopt;
  Corpus c{*std::move(text), absl::StrFormat("file %s", path.string())};
  CutAtCharBoundary(&c.text, bytes);
  return c;
}

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace tessera::bench
