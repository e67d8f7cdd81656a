#include "adapters/adapter_error.h"

#include "absl/strings/cord.h"
#include "absl/types/optional.h"

namespace tessera {
namespace {

constexpr char kDetailUrl[] = "type.tessera.dev/adapter-error-detail";

}  // namespace

absl::Status WithAdapterErrorDetail(absl::Status status, absl::string_view detail) {
  status.SetPayload(kDetailUrl, absl::Cord(detail));
  return status;
}

std::string AdapterErrorDetail(const absl::Status& status) {
  const absl::optional<absl::Cord> detail = status.GetPayload(kDetailUrl);
  return detail.has_value() ? std::string(*detail) : std::string(status.message());
}

absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace tessera
