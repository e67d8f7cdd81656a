#include "adapters/adapter_name.h"

#include <algorithm>
#include <string>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "adapters/adapter_error.h"
#include "adapters/adapter_file.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool IsValidAdapterName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxAdapterNameLength && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

absl::Status ValidateAdapterName(absl::string_view name) {
  if (IsValidAdapterName(name)) return absl::OkStatus();
  if (name.empty()) return absl::InvalidArgumentError("the adapter name is empty");
  // Echo at most a prefix, escaped: the name comes from the network.
  const std::string shown = absl::CHexEscape(name.substr(0, 64));
  if (name.size() > kMaxAdapterNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adapter name \"", shown, "...\" is longer than ", kMaxAdapterNameLength, " characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("adapter name \"", shown, "\" is not allowed"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("adapter name \"", shown,
                   "\" may hold only letters, digits, '.', '_' and '-' (no path separators)"));
}

absl::Status AdapterNotFoundError(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("adapter ", name, " not found"));
}

absl::StatusOr<fs::path> ResolveAdapterPath(const fs::path& adapter_dir, absl::string_view name) {
  if (absl::Status s = ValidateAdapterName(name); !s.ok()) return s;
  std::error_code ec;
  const fs::path dir = fs::canonical(adapter_dir, ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return WithAdapterErrorDetail(
        absl::FailedPreconditionError("the server's adapter directory is not a readable directory"),
        absl::StrCat(adapter_dir.string(), ec ? absl::StrCat(": ", ec.message()) : ""));
  }
  const fs::path entry = dir / std::string(name);
  const fs::file_status link_status = fs::symlink_status(entry, ec);
  if (ec || !fs::exists(link_status)) return AdapterNotFoundError(name);
  const fs::path target = fs::canonical(entry, ec);
  if (ec) {
    // A dangling symlink reads as missing; anything else (a loop, no permission) is refused.
    if (ec == std::errc::no_such_file_or_directory) return AdapterNotFoundError(name);
    return absl::InvalidArgumentError(
        absl::StrCat("adapter ", name, " cannot be resolved in the adapter directory"));
  }
  if (!IsPathStrictlyInside(target, dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter ", name, " leads outside the adapter directory (a symlink?)"));
  }
  if (!fs::is_directory(target, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adapter ", name, " is not a directory in the adapter directory"));
  }
  return target;
}

}  // namespace tessera
