#include "adapters/adapter_info.h"

namespace tessera {

absl::string_view AdapterStateName(AdapterState s) {
  switch (s) {
    case AdapterState::kOnDisk:
      return "on_disk";
    case AdapterState::kLoading:
      return "loading";
    case AdapterState::kHost:
      return "host";
    case AdapterState::kDevice:
      return "device";
    case AdapterState::kFailed:
      return "failed";
  }
  return "unknown";
}

absl::string_view AdapterTierName(AdapterTier t) {
  switch (t) {
    case AdapterTier::kDisk:
      return "disk";
    case AdapterTier::kHost:
      return "host";
    case AdapterTier::kDevice:
      return "device";
  }
  return "unknown";
}

AdapterTier AdapterTierOf(AdapterState s) {
  switch (s) {
    case AdapterState::kHost:
      return AdapterTier::kHost;
    case AdapterState::kDevice:
      return AdapterTier::kDevice;
    default:
      return AdapterTier::kDisk;
  }
}

}  // namespace tessera
