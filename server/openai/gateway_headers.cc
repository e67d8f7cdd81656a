#include "server/openai/gateway_headers.h"

#include <charconv>
#include <optional>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"

namespace tessera::openai {
namespace {

constexpr uint32_t kMaxTargetMs = 3'600'000;  // an hour: anything longer is a typo
constexpr size_t kMaxIdBytes = 256;

// Which field a header sets, and whether it is the llm-d name (which beats its alias).
struct HeaderName {
  std::string_view name;
  int field;  // 0 fairness, 1 ttft, 2 tpot, 3 request id
  bool primary;
};
constexpr HeaderName kHeaders[] = {
    {"x-llm-d-inference-fairness-id", 0, true},
    {"x-gateway-inference-fairness-id", 0, false},
    {"x-llm-d-slo-ttft-ms", 1, true},
    {"x-slo-ttft-ms", 1, false},
    {"x-llm-d-slo-tpot-ms", 2, true},
    {"x-slo-tpot-ms", 2, false},
    {"x-request-id", 3, true},
};

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

absl::StatusOr<uint32_t> ParseTarget(std::string_view header, std::string_view value) {
  const std::string_view v = TrimSpace(value);
  uint64_t ms = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || ms > kMaxTargetMs) {
    return InvalidParam(
        header,
        absl::StrCat("header ", std::string(header), ": \"", std::string(value),
                     "\" is not a whole number of milliseconds in [0, ", kMaxTargetMs, "]"));
  }
  return static_cast<uint32_t>(ms);
}

}  // namespace

absl::StatusOr<GatewayHeaders> ParseGatewayHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  GatewayHeaders out;
  bool from_primary[4] = {false, false, false, false};
  for (const auto& [raw_name, value] : headers) {
    const std::string name = absl::AsciiStrToLower(raw_name);
    for (const HeaderName& h : kHeaders) {
      if (name != h.name) continue;
      if (from_primary[h.field] && !h.primary) break;  // the llm-d name was sent: it wins
      from_primary[h.field] = h.primary;
      switch (h.field) {
        case 0:
        case 3: {
          const std::string_view v = TrimSpace(value);
          if (v.size() > kMaxIdBytes) {
            return InvalidParam(h.name, absl::StrCat("header ", std::string(h.name),
                                                     " is longer than ", kMaxIdBytes, " bytes"));
          }
          (h.field == 0 ? out.fairness_id : out.request_id) = std::string(v);
          break;
        }
        case 1:
        case 2: {
          absl::StatusOr<uint32_t> ms = ParseTarget(h.name, value);
          if (!ms.ok()) return ms.status();
          (h.field == 1 ? out.ttft_ms : out.tpot_ms) = *ms;
          break;
        }
      }
      break;
    }
  }
  return out;
}

}  // namespace tessera::openai
