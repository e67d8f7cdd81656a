#include "scheduler/block_hash.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace tessera {
namespace {

BlockHash Sha256(const void* data, size_t size) {
  BlockHash out;
  unsigned int len = 0;
  // EVP_Digest fails only when libcrypto cannot allocate: nothing sensible to go on with.
  if (EVP_Digest(data, size, out.bytes.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.bytes.size()) {
    std::fprintf(stderr, "tessera: SHA-256 of a KV block key failed in libcrypto\n");
    std::abort();
  }
  return out;
}

void AppendU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

void AppendField(std::string& s, std::string_view field) {
  AppendU64(s, field.size());
  s.append(field);
}

}  // namespace

BlockHash PrefixSeed(std::string_view adapter_name, uint64_t adapter_version,
                     std::string_view scope_salt, std::string_view cache_salt) {
  std::string input = "tessera prefix cache v1";
  AppendField(input, adapter_name);
  AppendU64(input, adapter_version);
  AppendField(input, scope_salt);
  AppendField(input, cache_salt);
  return Sha256(input.data(), input.size());
}

BlockHash ChainBlockHash(const BlockHash& parent, absl::Span<const int32_t> tokens) {
  // Little-endian token bytes after the parent: fixed-size fields, so no ambiguity.
  std::string input(parent.bytes.begin(), parent.bytes.end());
  input.reserve(parent.bytes.size() + 4 * tokens.size());
  for (int32_t t : tokens) {
    const auto u = static_cast<uint32_t>(t);
    for (int i = 0; i < 4; ++i) input.push_back(static_cast<char>(u >> (8 * i)));
  }
  return Sha256(input.data(), input.size());
}

}  // namespace tessera
