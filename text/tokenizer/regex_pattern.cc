#include "text/tokenizer/regex_pattern.h"

#include <oniguruma.h>

#include <cctype>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

const OnigUChar* Bytes(std::string_view s) { return reinterpret_cast<const OnigUChar*>(s.data()); }

// `pattern` as tokenizer.json spells it (a JSON string), so that the error can be searched for
// in the file; cut after 256 bytes, at a character boundary, so that a hostile one stays short.
std::string QuotePattern(std::string_view pattern) {
  constexpr size_t kMaxBytes = 256;
  std::string_view shown = pattern;
  if (shown.size() > kMaxBytes) {
    size_t cut = kMaxBytes;
    while (cut > 0 && (static_cast<unsigned char>(pattern[cut]) & 0xC0) == 0x80) --cut;
    shown = pattern.substr(0, cut);
  }
  std::string quoted = nlohmann::json(std::string(shown))
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (shown.size() < pattern.size()) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

std::string OnigMessage(int code, OnigErrorInfo* info) {
  OnigUChar buf[ONIG_MAX_ERROR_MESSAGE_LEN];
  const int n =
      info != nullptr ? onig_error_code_to_str(buf, code, info) : onig_error_code_to_str(buf, code);
  return std::string(reinterpret_cast<const char*>(buf), n > 0 ? static_cast<size_t>(n) : 0);
}

// Oniguruma's FAQ asks that threads not create or free regex objects at the same time (the
// compiler shares process-wide tables); searching one object from many threads is fine. Loads are
// rare, so one lock around onig_new and onig_free costs nothing.
std::mutex& CompileMutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

// Oniguruma wants its encodings registered once per process before the first onig_new.
void InitializeOniguruma() {
  static const bool initialized = [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
    return true;
  }();
  (void)initialized;
}

// One search's state, freed on every path out.
class MatchState {
 public:
  MatchState() : region_(onig_region_new()), param_(onig_new_match_param()) {
    onig_initialize_match_param(param_);
    onig_set_retry_limit_in_match_of_match_param(param_, RegexPattern::kRetryLimitInMatch);
    onig_set_retry_limit_in_search_of_match_param(param_, RegexPattern::kRetryLimitInSearch);
  }
  ~MatchState() {
    onig_region_free(region_, 1);
    onig_free_match_param(param_);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;

  OnigRegion* region() { return region_; }
  OnigMatchParam* param() { return param_; }

 private:
  OnigRegion* region_;
  OnigMatchParam* param_;
};

}  // namespace

struct RegexPattern::Compiled {
  ~Compiled() {
    if (regex == nullptr) return;
    std::lock_guard<std::mutex> lock(CompileMutex());
    onig_free(regex);
  }
  OnigRegex regex = nullptr;
};

RegexPattern::RegexPattern(std::string source, std::unique_ptr<Compiled> compiled)
    : source_(std::move(source)), compiled_(std::move(compiled)) {}

RegexPattern::~RegexPattern() = default;

absl::StatusOr<std::unique_ptr<RegexPattern>> RegexPattern::Compile(std::string_view pattern) {
  InitializeOniguruma();
  if (FirstInvalidUtf8(pattern) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("regex ", QuotePattern(pattern), " is not valid UTF-8"));
  }
  auto compiled = std::make_unique<Compiled>();
  OnigErrorInfo info;
  std::unique_lock<std::mutex> lock(CompileMutex());
  const int r = onig_new(&compiled->regex, Bytes(pattern), Bytes(pattern) + pattern.size(),
                         ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
  lock.unlock();
  if (r != ONIG_NORMAL) {
    compiled->regex = nullptr;
    return absl::InvalidArgumentError(absl::StrCat("regex ", QuotePattern(pattern),
                                                   " does not compile: ", OnigMessage(r, &info)));
  }
  return std::unique_ptr<RegexPattern>(new RegexPattern(std::string(pattern), std::move(compiled)));
}

std::string RegexPattern::Escape(std::string_view literal) {
  std::string out;
  out.reserve(2 * literal.size());
  for (char c : literal) {
    const unsigned char b = static_cast<unsigned char>(c);
    // A backslash before ASCII punctuation always means the character itself; letters, digits,
    // spaces and non-ASCII bytes are literal as they are (and escaping a letter would not be).
    if (b < 0x80 && std::ispunct(b)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

absl::Status RegexPattern::FindAll(std::string_view text, std::vector<RegexMatch>* out) const {
  if (text.empty()) return absl::OkStatus();
  // Oniguruma assumes valid text; on invalid UTF-8 it could read past the end.
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "regex ", QuotePattern(source_), ": text is not valid UTF-8 (byte offset ", bad, ")"));
  }
  MatchState state;
  const OnigUChar* begin = Bytes(text);
  const OnigUChar* end = begin + text.size();
  size_t from = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (from <= text.size()) {
    onig_region_clear(state.region());
    const int r = onig_search_with_param(compiled_->regex, begin, end, begin + from, end,
                                         state.region(), ONIG_OPTION_NONE, state.param());
    if (r == ONIG_MISMATCH) break;
    if (r < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("regex ", QuotePattern(source_), " gave up matching a text of ", text.size(),
                       " bytes at byte ", from, ": ", OnigMessage(r, nullptr)));
    }
    const size_t match_begin = static_cast<size_t>(state.region()->beg[0]);
    const size_t match_end = static_cast<size_t>(state.region()->end[0]);
    if (match_begin == match_end && have_last && last_end == match_end) {
      // Step over one whole character, as Rust's str iteration does.
      from += from < text.size() ? SequenceLength(static_cast<unsigned char>(text[from])) : 1;
      continue;
    }
    out->push_back({match_begin, match_end});
    from = match_end;
    have_last = true;
    last_end = match_end;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RegexPattern::ReplaceAll(std::string_view text,
                                                     std::string_view content) const {
  std::vector<RegexMatch> matches;
  if (absl::Status s = FindAll(text, &matches); !s.ok()) return s;
  std::string out;
  out.reserve(text.size());
  size_t prev = 0;
  for (const RegexMatch& m : matches) {
    out.append(text.substr(prev, m.begin - prev)).append(content);
    prev = m.end;
  }
  out.append(text.substr(prev));
  return out;
}

}  // namespace tessera::tokenizer
