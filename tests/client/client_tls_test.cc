// The SDK over TLS against a self-signed certificate made at test time with the openssl tool
// (the tests skip when it is missing).
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_inference_server.h"

namespace tessera {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("openssl version > /dev/null 2>&1") != 0) return;
    std::string dir_template = (std::filesystem::temp_directory_path() / "tessera-tls-XXXXXX");
    if (mkdtemp(dir_template.data()) == nullptr) return;
    const std::filesystem::path dir = dir_template;
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=tessera.test -addext subjectAltName=DNS:tessera.test -keyout " +
        (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " > /dev/null 2>&1";
    if (std::system(command.c_str()) == 0) {
      *key_ = ReadFile(dir / "key.pem");
      *cert_ = ReadFile(dir / "cert.pem");
    }
    std::filesystem::remove_all(dir);
  }

  void SetUp() override {
    if (cert_->empty() || key_->empty()) GTEST_SKIP() << "no openssl tool to make a certificate";
    ::grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key_, *cert_});
    server_ = std::make_unique<FakeInferenceServer>(::grpc::SslServerCredentials(ssl));
  }

  ClientOptions TrustingOptions() const {
    ClientOptions options;
    options.target = server_->address();
    options.tls = true;
    options.tls_root_certs_pem = *cert_;
    options.tls_server_name = "tessera.test";
    return options;
  }

  static std::string* const key_;
  static std::string* const cert_;
  std::unique_ptr<FakeInferenceServer> server_;
};

std::string* const ClientTlsTest::key_ = new std::string;
std::string* const ClientTlsTest::cert_ = new std::string;

absl::StatusCode ModelInfoCode(ClientOptions options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(options));
  if (!client.ok()) return client.status().code();
  CallOptions call;
  call.timeout = absl::Seconds(60);
  return (*client)->ModelInfo(call).status().code();
}

TEST_F(ClientTlsTest, TrustedCertificateConnectsAndCarriesTheApiKey) {
  ClientOptions options = TrustingOptions();
  options.api_key = "sekrit";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::ModelInfoResponse> info = (*client)->ModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_id(), "fake-llama");
  EXPECT_THAT(server_->service().last_authorization(),
              ::testing::Optional(std::string("Bearer sekrit")));
}

TEST_F(ClientTlsTest, AdminCallsGoOverTheSameChannel) {
  ClientOptions options = TrustingOptions();
  options.api_key = "sekrit";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->LoadAdapter("sql").ok());
  absl::StatusOr<v1::ListAdaptersResponse> list = (*client)->ListAdapters();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->adapters_size(), 1);
  EXPECT_EQ(list->adapters(0).name(), "sql");
  EXPECT_THAT(server_->admin().last_authorization(),
              ::testing::Optional(std::string("Bearer sekrit")));
}

TEST_F(ClientTlsTest, ServerNameThatTheCertificateDoesNotNameFails) {
  ClientOptions options = TrustingOptions();
  options.tls_server_name = "other.test";
  EXPECT_EQ(ModelInfoCode(options), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTlsTest, UntrustedCertificateFails) {
  ClientOptions options = TrustingOptions();
  options.tls_root_certs_pem.clear();  // the system's roots know nothing of it
  EXPECT_EQ(ModelInfoCode(options), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTlsTest, PlaintextClientFails) {
  ClientOptions options;
  options.target = server_->address();
  EXPECT_EQ(ModelInfoCode(options), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera
