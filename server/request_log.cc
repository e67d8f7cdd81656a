#include "server/request_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {
namespace {

// Bare when it is a plain token; otherwise quoted with C escapes (newlines, quotes, bytes >= 0x80).
std::string Field(const std::string& value) {
  if (value.empty()) return "-";
  bool plain = true;
  for (unsigned char c : value) {
    plain &= absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == ':';
  }
  return plain ? value : absl::StrCat("\"", absl::CEscape(value), "\"");
}

std::string Millis(std::optional<absl::Duration> d) {
  return d ? absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(*d)) : "-";
}

}  // namespace

std::string FormatRequestLog(const RequestLogEntry& e) {
  const std::optional<RequestTimings>& t = e.timings;
  return absl::StrCat("tesserad: request id=", Field(e.id), " tenant=", Field(e.tenant),
                      " adapter=", Field(e.adapter),
                      " prompt_tokens=", t ? absl::StrCat(t->prompt_tokens) : "-",
                      " output_tokens=", t ? absl::StrCat(t->generated_tokens) : "-",
                      " queue_ms=", Millis(t ? std::optional(t->queue_time) : std::nullopt),
                      " ttft_ms=", Millis(t ? t->time_to_first_token : std::nullopt),
                      " e2e_ms=", Millis(t ? std::optional(t->e2e_latency) : std::nullopt),
                      " preemptions=", t ? absl::StrCat(t->preemptions) : "-",
                      " status=", absl::StatusCodeToString(e.status));
}

}  // namespace tessera
