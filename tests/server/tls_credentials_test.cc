// LoadTlsKeyPair and ServerCredentialsFromFiles on key pairs made here with libcrypto: a matching
// pair loads; a key of another pair, unreadable files, files that are not PEM, an encrypted key
// and one flag without the other are each refused with a message naming the flag, file and fault.
#include "server/tls_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/engine/test_files.h"
#include "tests/server/test_certificates.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

using ::tessera::testing::Pem;

Pem MakePair(const std::string& passphrase = "") {
  return ::tessera::testing::MakeSelfSignedPair(passphrase);
}

class TlsCredentialsTest : public ::testing::Test {
 protected:
  std::string Put(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    tessera::testing::WriteFile(path, text);
    return path;
  }
  void ExpectRefused(const std::string& cert, const std::string& key,
                     const std::vector<std::string>& parts) {
    absl::StatusOr<TlsKeyPair> pair = LoadTlsKeyPair(cert, key);
    ASSERT_FALSE(pair.ok());
    EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& p : parts) EXPECT_THAT(pair.status().message(), HasSubstr(p));
  }

  std::string dir_ = tessera::testing::TestDir(
      "tls_credentials_test", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  Pem a_ = MakePair(), b_ = MakePair();
};

TEST_F(TlsCredentialsTest, AMatchingPairLoads) {
  const std::string cert = Put("cert.pem", a_.cert), key = Put("key.pem", a_.key);
  absl::StatusOr<TlsKeyPair> pair = LoadTlsKeyPair(cert, key);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->cert_chain_pem, a_.cert);
  EXPECT_EQ(pair->private_key_pem, a_.key);
  // A chain of two certificates (leaf first) loads too.
  EXPECT_TRUE(LoadTlsKeyPair(Put("chain.pem", a_.cert + b_.cert), key).ok());
  EXPECT_TRUE(ServerCredentialsFromFiles(cert, key).ok());
  EXPECT_TRUE(ServerCredentialsFromFiles("", "").ok());
}

TEST_F(TlsCredentialsTest, AKeyOfAnotherCertificateIsNamed) {
  const std::string cert = Put("cert.pem", a_.cert), key = Put("other-key.pem", b_.key);
  ExpectRefused(cert, key, {"--tls-key " + key, "does not match the certificate", cert});
}

TEST_F(TlsCredentialsTest, UnreadableAndNonPemFilesAreNamed) {
  const std::string cert = Put("cert.pem", a_.cert), key = Put("key.pem", a_.key);
  ExpectRefused(dir_ + "/missing.pem", key, {"--tls-cert", "missing.pem", "cannot read it"});
  ExpectRefused(cert, dir_ + "/missing.pem", {"--tls-key", "missing.pem", "cannot read it"});
  ExpectRefused(Put("garbage.pem", "not a certificate"), key,
                {"--tls-cert", "garbage.pem", "no PEM certificate"});
  // The files swapped: the certificate holds no key, the key no certificate.
  ExpectRefused(key, cert, {"--tls-cert", "no PEM certificate"});
  ExpectRefused(cert, cert, {"--tls-key", "no unencrypted PEM private key"});
  // A damaged second certificate in the chain.
  std::string broken = b_.cert;
  broken[broken.size() / 2] = '!';
  ExpectRefused(Put("chain.pem", a_.cert + broken), key,
                {"--tls-cert", "a certificate after the first is not valid PEM"});
}

TEST_F(TlsCredentialsTest, AnEncryptedKeyIsRefusedWithoutAPrompt) {
  const Pem locked = MakePair("secret");
  ExpectRefused(Put("cert.pem", locked.cert), Put("key.pem", locked.key),
                {"--tls-key", "passphrase-protected"});
}

TEST_F(TlsCredentialsTest, OneFlagWithoutTheOther) {
  const std::string cert = Put("cert.pem", a_.cert);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c = ServerCredentialsFromFiles(cert, "");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("go together"));
}

}  // namespace
}  // namespace tessera
