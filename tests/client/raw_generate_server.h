// An in-process tessera.v1.Inference server on 127.0.0.1 at a free port whose Generate sends
// scripted bytes as its response messages, then ends the call with a scripted status: the
// messages a broken or hostile server could send (garbage, a text field that is not valid UTF-8,
// a stream without its final message), which a protobuf-typed server cannot produce. Only
// Generate is served.
//
// Thread-safety: the script is fixed at construction; every call replays it.
#ifndef TESSERA_TESTS_CLIENT_RAW_GENERATE_SERVER_H_
#define TESSERA_TESTS_CLIENT_RAW_GENERATE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tessera/v1/inference.grpc.pb.h"

namespace tessera {

class RawGenerateServer {
 public:
  RawGenerateServer(std::vector<std::string> messages, ::grpc::Status status);
  ~RawGenerateServer();

  RawGenerateServer(const RawGenerateServer&) = delete;
  RawGenerateServer& operator=(const RawGenerateServer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  class Service final
      : public v1::Inference::WithRawCallbackMethod_Generate<v1::Inference::Service> {
   public:
    Service(std::vector<std::string> messages, ::grpc::Status status)
        : messages_(std::move(messages)), status_(std::move(status)) {}
    ::grpc::ServerWriteReactor<::grpc::ByteBuffer>* Generate(
        ::grpc::CallbackServerContext* context, const ::grpc::ByteBuffer* request) override;

   private:
    const std::vector<std::string> messages_;
    const ::grpc::Status status_;
  };

  Service service_;
  int port_ = 0;
  std::unique_ptr<::grpc::Server> server_;
};

// `response` serialized, with every occurrence of `marker` in the bytes replaced by `bytes` of
// the same length: a way to put bytes protobuf's serializer would refuse into a string field.
std::string SerializedWithBytes(const v1::GenerateResponse& response, const std::string& marker,
                                const std::string& bytes);

}  // namespace tessera

#endif  // TESSERA_TESTS_CLIENT_RAW_GENERATE_SERVER_H_
