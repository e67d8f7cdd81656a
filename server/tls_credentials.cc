#include "server/tls_credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tessera {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Bad(absl::string_view flag, const std::string& file, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", file, ": ", problem));
}

absl::StatusOr<std::string> ReadWhole(absl::string_view flag, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Bad(flag, file, absl::StrCat("cannot read it: ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Bad(flag, file, "cannot read it");
  return text.str();
}

// OpenSSL's reason for the last failure, or "" (and the queue cleared either way).
std::string TakeOpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? absl::StrCat(" (", reason, ")") : "";
}

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Never prompts on the terminal for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

}  // namespace

absl::StatusOr<TlsKeyPair> LoadTlsKeyPair(const std::string& cert_file,
                                          const std::string& key_file) {
  TlsKeyPair pair;
  absl::StatusOr<std::string> cert_pem = ReadWhole("--tls-cert", cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadWhole("--tls-key", key_file);
  if (!key_pem.ok()) return key_pem.status();
  ERR_clear_error();

  BioPtr cert_bio = MemoryBio(*cert_pem);
  const X509Ptr leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (leaf == nullptr) {
    return Bad("--tls-cert", cert_file,
               absl::StrCat("no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
                            TakeOpenSslError()));
  }
  // The rest of the chain must parse too, or gRPC would refuse the port later.
  for (;;) {
    const X509Ptr next(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
    if (next != nullptr) continue;
    const unsigned long err = ERR_peek_last_error();
    // The end of the file reads as "no start line"; anything else is a broken certificate.
    if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
      return Bad(
          "--tls-cert", cert_file,
          absl::StrCat("a certificate after the first is not valid PEM", TakeOpenSslError()));
    }
    ERR_clear_error();
    break;
  }

  BioPtr key_bio = MemoryBio(*key_pem);
  const PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return Bad("--tls-key", key_file,
               absl::StrCat("no unencrypted PEM private key in it (expected -----BEGIN PRIVATE "
                            "KEY-----; a passphrase-protected key cannot be used)",
                            TakeOpenSslError()));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return Bad("--tls-key", key_file,
               absl::StrCat("the key does not match the certificate in --tls-cert ", cert_file));
  }
  pair.cert_chain_pem = *std::move(cert_pem);
  pair.private_key_pem = *std::move(key_pem);
  return pair;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together: give both or neither");
  }
  if (cert_file.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<TlsKeyPair> pair = LoadTlsKeyPair(cert_file, key_file);
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(
      {std::move(pair->private_key_pem), std::move(pair->cert_chain_pem)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace tessera
