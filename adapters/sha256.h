// Incremental SHA-256 over OpenSSL's libcrypto (EVP API), for adapters' content digests.
//
// Not thread-safe (one hashing stream); movable, not copyable.
#ifndef TESSERA_ADAPTERS_SHA256_H_
#define TESSERA_ADAPTERS_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

namespace tessera {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything fed so far as 64 lowercase hex digits; ends the stream.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_SHA256_H_
