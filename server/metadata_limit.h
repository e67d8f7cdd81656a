// The size limit on a call's metadata (headers), refused per call.
//
// gRPC 1.51 has one limit on received metadata, GRPC_ARG_MAX_METADATA_SIZE (8 KiB by default),
// enforced in the HTTP/2 transport: a call over it ends with RESOURCE_EXHAUSTED every call on the
// same connection, not only itself (later gRPC adds a soft limit that refuses the call alone). So
// tesserad sets the transport's limit to kTransportMetadataFactor x --max-metadata-bytes and
// checks --max-metadata-bytes itself in each service: a call between the two is refused alone,
// RESOURCE_EXHAUSTED naming the limit; only one beyond the transport limit still takes its
// connection down. Sizes are counted as HTTP/2 does: name + value + 32 per entry. Stateless
// functions; thread-safe.
#ifndef TESSERA_SERVER_METADATA_LIMIT_H_
#define TESSERA_SERVER_METADATA_LIMIT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

inline constexpr int64_t kTransportMetadataFactor = 4;

// The client metadata's size as HTTP/2 counts it (pseudo-headers aside).
int64_t MetadataBytes(const grpc::ServerContextBase& context);

// OK, or ResourceExhausted when the call's metadata is over `max_bytes`.
absl::Status CheckMetadataSize(const grpc::ServerContextBase& context, int64_t max_bytes);

}  // namespace tessera

#endif  // TESSERA_SERVER_METADATA_LIMIT_H_
