// Answers a request that does not parse with INVALID_ARGUMENT and a message, not UNIMPLEMENTED.
//
// gRPC 1.51's callback API parses a unary or server-streaming request before the service sees it,
// and when parsing fails (garbage bytes, a proto3 string field holding invalid UTF-8) it finishes
// the call itself with UNIMPLEMENTED and no message, which reads as "wrong method" to the client.
// No service code runs for such a call, but server interceptors do: this one notes that the
// request message came out null after POST_RECV_MESSAGE (what gRPC reports for a failed parse of
// the single request of these call types) and rewrites that UNIMPLEMENTED on its way out.
// Streaming requests (client or bidi) are left alone: there a null message is the end of the
// stream. One interceptor per call, used by that call's hooks only; the factory is stateless.
#ifndef TESSERA_SERVER_MALFORMED_REQUEST_INTERCEPTOR_H_
#define TESSERA_SERVER_MALFORMED_REQUEST_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

namespace tessera {

class MalformedRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_MALFORMED_REQUEST_INTERCEPTOR_H_
