#include "tests/client/fake_inference_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "gtest/gtest.h"

namespace tessera {

::grpc::Status FakeInferenceService::Authorize(const ::grpc::ServerContext& context) {
  std::optional<std::string> authorization = AuthorizationOf(context);
  {
    absl::MutexLock lock(&mu_);
    last_authorization_ = authorization;
  }
  return CheckBearer(authorization, required_api_key);
}

::grpc::Status FakeInferenceService::Generate(::grpc::ServerContext* context,
                                              const v1::GenerateRequest* request,
                                              ::grpc::ServerWriter<v1::GenerateResponse>* writer) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    last_generate_request_ = *request;
  }
  if (request->request_id() == "error") {
    return {::grpc::StatusCode::INVALID_ARGUMENT, kGenerateErrorMessage};
  }
  if (request->request_id() == "hold") {
    v1::GenerateResponse first;
    first.set_request_id("hold");
    first.add_samples()->set_text("first");
    writer->Write(first);
    // The sync API has no cancellation callback; a bounded poll keeps a broken client from
    // hanging the test binary.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (context->IsCancelled()) hold_cancelled.Notify();
    return ::grpc::Status::CANCELLED;
  }
  for (const v1::GenerateResponse& response : script) {
    if (!writer->Write(response)) return ::grpc::Status::CANCELLED;
  }
  if (script.empty()) {
    v1::GenerateResponse final_message;
    final_message.mutable_usage();
    if (!writer->Write(final_message)) return ::grpc::Status::CANCELLED;
  }
  return ::grpc::Status::OK;
}

::grpc::Status FakeInferenceService::Tokenize(::grpc::ServerContext* context,
                                              const v1::TokenizeRequest* request,
                                              v1::TokenizeResponse* response) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  // One token per byte, after a BOS of id 1 when asked.
  if (!request->has_add_special_tokens() || request->add_special_tokens()) {
    response->add_token_ids(1);
    response->add_tokens("<s>");
  }
  for (char c : request->text()) {
    response->add_token_ids(static_cast<unsigned char>(c));
    response->add_tokens(std::string(1, c));
  }
  return ::grpc::Status::OK;
}

::grpc::Status FakeInferenceService::ModelInfo(::grpc::ServerContext* context,
                                               const v1::ModelInfoRequest* request,
                                               v1::ModelInfoResponse* response) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  response->set_model_id("fake-llama");
  response->set_backend("cpu");
  response->set_kv_block_size(16);
  response->set_num_kv_blocks(128);
  response->mutable_model()->set_architecture("LlamaForCausalLM");
  response->mutable_model()->set_vocab_size(32000);
  response->mutable_model()->add_eos_token_ids(2);
  return ::grpc::Status::OK;
}

std::optional<std::string> FakeInferenceService::last_authorization() const {
  absl::MutexLock lock(&mu_);
  return last_authorization_;
}

v1::GenerateRequest FakeInferenceService::last_generate_request() const {
  absl::MutexLock lock(&mu_);
  return last_generate_request_;
}

FakeInferenceServer::FakeInferenceServer(std::shared_ptr<::grpc::ServerCredentials> credentials) {
  ::grpc::EnableDefaultHealthCheckService(true);
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
  builder.RegisterService(&service_);
  builder.RegisterService(&admin_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ <= 0) {
    ADD_FAILURE() << "the fake server did not start";
    std::abort();
  }
}

FakeInferenceServer::~FakeInferenceServer() {
  // A deadline so that calls still held are cancelled rather than waited for.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

std::string UnusedLoopbackAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

}  // namespace tessera
