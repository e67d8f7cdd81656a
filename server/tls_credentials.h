// The gRPC port's TLS credentials from --tls-cert and --tls-key, checked before gRPC sees them.
//
// gRPC reports a bad key or certificate only as a port it cannot open ("cannot listen on ..."),
// which sends operators looking for a port conflict. So the files are read and parsed here with
// OpenSSL first, and each problem is named with its flag and file: unreadable, no PEM certificate
// or private key in it (or a passphrase-protected key, which tesserad cannot unlock), or a key
// that is not the certificate's. Stateless functions; thread-safe.
#ifndef TESSERA_SERVER_TLS_CREDENTIALS_H_
#define TESSERA_SERVER_TLS_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tessera {

// A PEM certificate chain (leaf first) and the leaf's private key, as read from their files.
struct TlsKeyPair {
  std::string cert_chain_pem;
  std::string private_key_pem;
};

// Reads both files and checks them: InvalidArgument naming the flag, the file and the problem.
absl::StatusOr<TlsKeyPair> LoadTlsKeyPair(const std::string& cert_file,
                                          const std::string& key_file);

// Insecure credentials when both files are empty; TLS with the checked pair when both are given;
// InvalidArgument for one without the other, or a pair LoadTlsKeyPair refuses.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const std::string& cert_file, const std::string& key_file);

}  // namespace tessera

#endif  // TESSERA_SERVER_TLS_CREDENTIALS_H_
