#include "client/client.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"  // SerializationTraits for protobuf messages
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/sync_stream.h"

namespace tessera {
namespace {

absl::Status ToAbsl(const ::grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// tessera.v1.Inference's Generate, which Client::Generate calls without the generated stub.
constexpr char kGenerateMethod[] = "/tessera.v1.Inference/Generate";

}  // namespace

size_t RequestedSamples(const v1::GenerateRequest& request) {
  return request.has_n() && request.n() > 1 ? static_cast<size_t>(request.n()) : 1;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target is empty");
  if (!options.tls && (!options.tls_root_certs_pem.empty() || !options.tls_server_name.empty())) {
    return absl::InvalidArgumentError("TLS root certificates or server name given without tls");
  }
  if (options.default_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default_timeout must be positive");
  }
  std::shared_ptr<::grpc::ChannelCredentials> credentials;
  ::grpc::ChannelArguments args;
  if (options.tls) {
    ::grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs_pem;
    credentials = ::grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
  } else {
    credentials = ::grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<::grpc::Channel> channel =
      ::grpc::CreateCustomChannel(options.target, credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open a channel to ", options.target));
  }
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(channel)));
}

Client::Client(ClientOptions options, std::shared_ptr<::grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      inference_(v1::Inference::NewStub(channel_)),
      raw_generate_(kGenerateMethod, ::grpc::internal::RpcMethod::SERVER_STREAMING, channel_),
      admin_(v1::Admin::NewStub(channel_)),
      health_(::grpc::health::v1::Health::NewStub(channel_)) {}

std::unique_ptr<::grpc::ClientContext> Client::NewContext(const CallOptions& call) const {
  auto context = std::make_unique<::grpc::ClientContext>();
  const absl::Duration timeout = call.timeout.value_or(options_.default_timeout);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (call.wait_for_ready) context->set_wait_for_ready(true);
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
  }
  return context;
}

absl::Status Client::Generate(const v1::GenerateRequest& request,
                              const std::function<bool(const v1::GenerateResponse&)>& on_message,
                              const CallOptions& call) {
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  // The responses are read as bytes and parsed here. Had gRPC parsed them, a message it cannot
  // parse would end Read() without ending the call, and Finish() would then wait for ever for a
  // status queued behind the unread messages.
  std::unique_ptr<::grpc::ClientReader<::grpc::ByteBuffer>> reader(
      ::grpc::internal::ClientReaderFactory<::grpc::ByteBuffer>::Create(
          channel_.get(), raw_generate_, context.get(), request));
  ::grpc::ByteBuffer bytes;
  v1::GenerateResponse response;
  bool final_seen = false;
  absl::Status ended_here;  // why this side ended the call, if it did
  while (reader->Read(&bytes)) {
    if (!::grpc::SerializationTraits<v1::GenerateResponse>::Deserialize(&bytes, &response).ok()) {
      ended_here = absl::InternalError(
          "the server sent a Generate response that cannot be parsed (not a GenerateResponse, "
          "or a text field that is not valid UTF-8)");
      break;
    }
    final_seen = final_seen || response.has_usage();
    if (!on_message(response)) {
      ended_here = absl::CancelledError("Generate cancelled by the caller");
      break;
    }
  }
  if (!ended_here.ok()) context->TryCancel();  // Finish would wait for the unread messages
  const ::grpc::Status status = reader->Finish();
  // The stream may have ended on its own just before the cancellation reached it.
  if (!ended_here.ok()) return ended_here;
  if (!status.ok()) return ToAbsl(status);
  if (!final_seen) {
    return absl::InternalError(
        "the server ended the Generate stream without its final message (the one with usage)");
  }
  return absl::OkStatus();
}

absl::StatusOr<GenerateOutput> Client::GenerateAndCollect(const v1::GenerateRequest& request,
                                                          const CallOptions& call) {
  GenerateOutput out;
  const size_t n = RequestedSamples(request);
  absl::Status fold_error;
  absl::Status status = Generate(
      request,
      [&](const v1::GenerateResponse& response) {
        fold_error = FoldGenerateResponse(response, n, out);
        return fold_error.ok();
      },
      call);
  if (!fold_error.ok()) return fold_error;
  if (!status.ok()) return status;
  out.samples.resize(n);  // samples that produced nothing still have an entry
  return out;
}

absl::Status FoldGenerateResponse(const v1::GenerateResponse& response, size_t num_samples,
                                  GenerateOutput& out) {
  if (out.request_id.empty()) out.request_id = response.request_id();
  for (const v1::SampleDelta& d : response.samples()) {
    if (d.index() < 0 || static_cast<size_t>(d.index()) >= num_samples) {
      return absl::InternalError(absl::StrCat("the server sent sample index ", d.index(),
                                              " for a request of n=", num_samples));
    }
    // Grown as indices arrive rather than sized from n up front: n is the server's to validate.
    if (out.samples.size() <= static_cast<size_t>(d.index())) out.samples.resize(d.index() + 1);
    SampleOutput& s = out.samples[d.index()];
    s.text += d.text();
    s.token_ids.insert(s.token_ids.end(), d.token_ids().begin(), d.token_ids().end());
    s.logprobs.insert(s.logprobs.end(), d.logprobs().begin(), d.logprobs().end());
    if (d.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) s.finish_reason = d.finish_reason();
    if (!d.stop_string().empty()) s.stop_string = d.stop_string();
    if (d.has_stop_token_id()) s.stop_token_id = d.stop_token_id();
  }
  out.prompt_logprobs.insert(out.prompt_logprobs.end(), response.prompt_logprobs().begin(),
                             response.prompt_logprobs().end());
  if (response.has_usage()) out.usage = response.usage();
  return absl::OkStatus();
}

absl::StatusOr<v1::TokenizeResponse> Client::Tokenize(std::string_view text,
                                                      bool add_special_tokens,
                                                      const CallOptions& call) {
  v1::TokenizeRequest request;
  request.set_text(std::string(text));
  request.set_add_special_tokens(add_special_tokens);
  v1::TokenizeResponse response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  if (absl::Status s = ToAbsl(inference_->Tokenize(context.get(), request, &response)); !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<v1::ModelInfoResponse> Client::ModelInfo(const CallOptions& call) {
  v1::ModelInfoResponse response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  if (absl::Status s = ToAbsl(inference_->ModelInfo(context.get(), {}, &response)); !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<HealthStatus> Client::Health(std::string_view service, const CallOptions& call) {
  ::grpc::health::v1::HealthCheckRequest request;
  request.set_service(std::string(service));
  ::grpc::health::v1::HealthCheckResponse response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  if (absl::Status s = ToAbsl(health_->Check(context.get(), request, &response)); !s.ok()) {
    return s;
  }
  return response.status();
}

absl::StatusOr<v1::AdapterStatus> Client::LoadAdapter(std::string_view name, std::string_view path,
                                                      std::string_view owner,
                                                      const CallOptions& call) {
  v1::LoadAdapterRequest request;
  request.set_name(std::string(name));
  request.set_path(std::string(path));
  request.set_owner(std::string(owner));
  v1::AdapterStatus response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  if (absl::Status s = ToAbsl(admin_->LoadAdapter(context.get(), request, &response)); !s.ok()) {
    return s;
  }
  return response;
}

absl::Status Client::UnloadAdapter(std::string_view name, std::string_view owner, bool wait,
                                   absl::Duration wait_timeout, const CallOptions& call) {
  if (wait_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("UnloadAdapter: wait_timeout must not be negative");
  }
  v1::UnloadAdapterRequest request;
  request.set_name(std::string(name));
  request.set_owner(std::string(owner));
  request.set_wait(wait);
  // Whole milliseconds, rounded up so that a short timeout never becomes 0 (= no limit); past the
  // field's range, no limit is the nearest meaning.
  const absl::Duration ms = absl::Ceil(wait_timeout, absl::Milliseconds(1));
  const int64_t millis = absl::ToInt64Milliseconds(ms);
  request.set_wait_timeout_ms(
      millis > std::numeric_limits<uint32_t>::max() ? 0 : static_cast<uint32_t>(millis));
  v1::UnloadAdapterResponse response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  return ToAbsl(admin_->UnloadAdapter(context.get(), request, &response));
}

absl::StatusOr<v1::ListAdaptersResponse> Client::ListAdapters(const CallOptions& call) {
  v1::ListAdaptersResponse response;
  std::unique_ptr<::grpc::ClientContext> context = NewContext(call);
  if (absl::Status s = ToAbsl(admin_->ListAdapters(context.get(), {}, &response)); !s.ok()) {
    return s;
  }
  return response;
}

}  // namespace tessera
