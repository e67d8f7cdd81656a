// absl::Status -> grpc::Status at the edge (ARCHITECTURE.md rule 6). Both use the canonical
// codes, so the code carries over unchanged with the message.
#ifndef TESSERA_SERVER_GRPC_STATUS_H_
#define TESSERA_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tessera {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tessera

#endif  // TESSERA_SERVER_GRPC_STATUS_H_
