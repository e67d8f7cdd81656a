#include "server/metadata_limit.h"

#include "absl/strings/str_cat.h"

namespace tessera {

int64_t MetadataBytes(const grpc::ServerContextBase& context) {
  int64_t bytes = 0;
  for (const auto& [key, value] : context.client_metadata()) {
    bytes += static_cast<int64_t>(key.size() + value.size()) + 32;  // RFC 7540 6.5.2
  }
  return bytes;
}

absl::Status CheckMetadataSize(const grpc::ServerContextBase& context, int64_t max_bytes) {
  const int64_t bytes = MetadataBytes(context);
  if (bytes <= max_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("the call's metadata is ", bytes,
                                                   " bytes, over the limit of ", max_bytes,
                                                   " (--max-metadata-bytes)"));
}

}  // namespace tessera
