// Adapter names, and where a name lives under --adapter-dir.
//
// A name is 1-128 characters of [A-Za-z0-9._-], neither "." nor "..": it can never hold a path
// separator, so DIR/<name> is always one entry of DIR. What remains is a symlink in DIR leading
// elsewhere; ResolveAdapterPath follows links and refuses any path whose canonical form leaves the
// canonical DIR. Stateless functions; thread-safe.
#ifndef TESSERA_ADAPTERS_ADAPTER_NAME_H_
#define TESSERA_ADAPTERS_ADAPTER_NAME_H_

#include <cstddef>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

inline constexpr size_t kMaxAdapterNameLength = 128;

bool IsValidAdapterName(absl::string_view name);

// OK, or InvalidArgument saying what is wrong with the name.
absl::Status ValidateAdapterName(absl::string_view name);

// NotFound "adapter NAME not found": the one answer for an adapter a caller may not see, whether it
// is missing or belongs to another tenant, so that the two cannot be told apart.
absl::Status AdapterNotFoundError(absl::string_view name);

// The canonical path of the adapter folder `adapter_dir`/`name`:
//   InvalidArgument   the name is invalid, the entry is not a directory, or its canonical path
//                     leaves the canonical `adapter_dir` (a symlink leading outside);
//   NotFound          no such entry (or a dangling symlink), as AdapterNotFoundError;
//   FailedPrecondition `adapter_dir` itself is missing or unreadable (a configuration error).
// Messages name the adapter, never the server's paths, since they may reach tenants.
absl::StatusOr<std::filesystem::path> ResolveAdapterPath(const std::filesystem::path& adapter_dir,
                                                         absl::string_view name);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_NAME_H_
