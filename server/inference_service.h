// tessera.v1.Inference on the gRPC callback API: the call's metadata (size, authorization,
// deadline) goes to the shared InferenceEdge (inference_edge.h: auth, admission, conversion,
// bookkeeping), and Generate calls stream back through a GenerateCall. Calls whose metadata is
// over --max-metadata-bytes are refused first (metadata_limit.h); the edge's refusals follow, in
// its order.
//
// Thread-safe; the edge must outlive the gRPC server.
#ifndef TESSERA_SERVER_INFERENCE_SERVICE_H_
#define TESSERA_SERVER_INFERENCE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "server/inference_edge.h"
#include "tessera/v1/inference.grpc.pb.h"

namespace tessera {

class InferenceService final : public v1::Inference::CallbackService {
 public:
  explicit InferenceService(InferenceEdge* edge) : edge_(edge) {}

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfo(grpc::CallbackServerContext* context,
                                      const v1::ModelInfoRequest* request,
                                      v1::ModelInfoResponse* response) override;

 private:
  // The caller, or why the call may not proceed (metadata too large, then the edge's Admit).
  absl::StatusOr<Principal> Admit(const grpc::CallbackServerContext* context) const;
  // The call's authorization and deadline, as the edge reads them.
  static EdgeCaller CallerOf(const grpc::CallbackServerContext* context);

  InferenceEdge* const edge_;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_INFERENCE_SERVICE_H_
