#include "tests/client/raw_generate_server.h"

#include <chrono>
#include <cstdlib>
#include <utility>

#include "gtest/gtest.h"

namespace tessera {
namespace {

// Writes the messages in order, then finishes with the status; a write the client does not
// take (it cancelled) ends the call.
class ScriptReactor final : public ::grpc::ServerWriteReactor<::grpc::ByteBuffer> {
 public:
  ScriptReactor(const std::vector<std::string>& messages, ::grpc::Status status)
      : status_(std::move(status)) {
    for (const std::string& m : messages) {
      ::grpc::Slice slice(m);
      buffers_.emplace_back(&slice, 1);
    }
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(::grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ < buffers_.size()) {
      StartWrite(&buffers_[next_++]);
    } else {
      Finish(status_);
    }
  }

  std::vector<::grpc::ByteBuffer> buffers_;
  size_t next_ = 0;
  const ::grpc::Status status_;
};

}  // namespace

::grpc::ServerWriteReactor<::grpc::ByteBuffer>* RawGenerateServer::Service::Generate(
    ::grpc::CallbackServerContext* /*context*/, const ::grpc::ByteBuffer* /*request*/) {
  return new ScriptReactor(messages_, status_);
}

RawGenerateServer::RawGenerateServer(std::vector<std::string> messages, ::grpc::Status status)
    : service_(std::move(messages), std::move(status)) {
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ <= 0) {
    ADD_FAILURE() << "the raw Generate server did not start";
    std::abort();
  }
}

RawGenerateServer::~RawGenerateServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

std::string SerializedWithBytes(const v1::GenerateResponse& response, const std::string& marker,
                                const std::string& bytes) {
  EXPECT_EQ(marker.size(), bytes.size());
  std::string wire = response.SerializeAsString();
  size_t found = 0;
  for (size_t at = wire.find(marker); at != std::string::npos; at = wire.find(marker, at)) {
    wire.replace(at, marker.size(), bytes);
    at += bytes.size();
    ++found;
  }
  EXPECT_GT(found, 0u) << "marker not in the serialized message";
  return wire;
}

}  // namespace tessera
