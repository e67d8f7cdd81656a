// One sample's output text while it is generated: incremental detokenization plus stop strings.
//
// Text is released only as complete characters (DecodeStream) and, when there are stop strings,
// only once it cannot be the start of one: the last (longest stop - 1) bytes are held back, so a
// stop string split across tokens is still caught and never half-streamed. On a match the text
// ends just before the stop string (or just after it, with include_stop_str_in_output).
//
// Not thread-safe; one per sample, on the scheduler thread. The tokenizer must outlive it.
#ifndef TESSERA_SCHEDULER_OUTPUT_TEXT_H_
#define TESSERA_SCHEDULER_OUTPUT_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "text/tokenizer/decode_stream.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

class OutputText {
 public:
  OutputText(const Tokenizer& tokenizer, bool skip_special_tokens, absl::Span<const int32_t> prompt,
             std::vector<std::string> stop, bool include_stop_str_in_output);

  struct Piece {
    std::string text;                     // to release now
    std::optional<std::string> stop_hit;  // the stop string found; the text has ended
  };
  // Adds a generated token. Stop strings are looked for only when `check_stop` (min_tokens
  // reached); text held back meanwhile is still released as it becomes safe.
  absl::StatusOr<Piece> Append(int32_t token, bool check_stop);
  // Releases everything held back (the sample ended without a stop string).
  absl::StatusOr<std::string> Finish();

 private:
  // How much of `pending_` may be released: all but the last (longest stop - 1) bytes, cut back
  // to a character boundary.
  size_t SafeLength() const;

  DecodeStream stream_;
  std::vector<std::string> stop_;
  bool include_stop_;
  size_t hold_ = 0;      // longest stop string - 1
  std::string pending_;  // decoded, not yet released
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_OUTPUT_TEXT_H_
