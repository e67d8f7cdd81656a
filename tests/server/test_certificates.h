// Self-signed certificates made in-process with libcrypto, for the TLS tests of the gRPC and HTTP
// ports. Not thread-safe to share a result across tests only in the sense that it is a value.
#ifndef TESSERA_TESTS_SERVER_TEST_CERTIFICATES_H_
#define TESSERA_TESTS_SERVER_TEST_CERTIFICATES_H_

#include <string>

namespace tessera::testing {

struct Pem {
  std::string cert, key;
};

// A self-signed P-256 certificate for CN=localhost and its key; `passphrase` encrypts the key.
Pem MakeSelfSignedPair(const std::string& passphrase = "");

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_SERVER_TEST_CERTIFICATES_H_
