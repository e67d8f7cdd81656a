// Reading one file of an adapter folder without leaving it.
//
// An adapter folder may hold symlinks (a tenant-writable catalogue, or a copied tree); following
// adapter_config.json -> /etc/passwd would load, hash and quote a file the caller has no business
// reading. ReadAdapterFile resolves the file's real path, refuses it unless it lies inside the
// canonical folder and is a regular file, opens that real path without following a final link,
// and checks that the descriptor it got is still that path, so that a link swapped in between
// cannot redirect it. Links that stay inside the folder are followed. Errors carry a caller-safe
// message naming the file by its name in the folder, and the absolute paths as detail
// (adapter_error.h). Stateless functions; thread-safe.
#ifndef TESSERA_ADAPTERS_ADAPTER_FILE_H_
#define TESSERA_ADAPTERS_ADAPTER_FILE_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

// Whether canonical `path` lies strictly inside canonical `dir` (component by component).
bool IsPathStrictlyInside(const std::filesystem::path& path, const std::filesystem::path& dir);

// The canonical path of the adapter folder `dir`; NotFound when it is missing, InvalidArgument
// when it is not a directory.
absl::StatusOr<std::filesystem::path> CanonicalAdapterFolder(const std::filesystem::path& dir);

// Whether `name` exists in the folder (as any kind of entry, a dangling link included).
bool AdapterFileExists(const std::filesystem::path& canonical_dir, absl::string_view name);

// The bytes of `name` in the canonical adapter folder `canonical_dir`:
//   NotFound         no such file (or a link leading nowhere);
//   InvalidArgument  its real path leaves the folder, it is not a regular file, it cannot be
//                    opened or read, or it holds more than `max_bytes`.
absl::StatusOr<std::string> ReadAdapterFile(const std::filesystem::path& canonical_dir,
                                            absl::string_view name, uintmax_t max_bytes);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_FILE_H_
