#include "client/model_dir_install.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(const fs::path& path, const std::error_code& ec) {
  return absl::PermissionDeniedError(absl::StrCat(path.string(), ": ", ec.message()));
}

// `dir` without a trailing separator, so that it has a file name.
fs::path Normalized(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  return p.has_filename() ? p : p.parent_path();
}

bool SameContents(const fs::path& a, const fs::path& b) {
  std::error_code ec_a, ec_b;
  const uintmax_t size_a = fs::file_size(a, ec_a), size_b = fs::file_size(b, ec_b);
  if (ec_a || ec_b || size_a != size_b) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::string buf_a(1 << 16, '\0'), buf_b(1 << 16, '\0');
  while (fa && fb) {
    fa.read(buf_a.data(), static_cast<std::streamsize>(buf_a.size()));
    fb.read(buf_b.data(), static_cast<std::streamsize>(buf_b.size()));
    if (fa.gcount() != fb.gcount() || buf_a.compare(0, fa.gcount(), buf_b, 0, fb.gcount()) != 0) {
      return false;
    }
  }
  return fa.eof() && fb.eof();
}

// Why `dir` does not hold exactly what `staging` does, or nullopt when it does.
std::optional<std::string> FirstDifference(const InstallRequest& r) {
  for (const std::string& f : r.files) {
    std::error_code ec;
    if (!fs::is_regular_file(r.dir / f, ec)) return absl::StrCat(f, " is missing");
    if (!SameContents(r.staging / f, r.dir / f)) return absl::StrCat(f, " differs");
  }
  for (const std::string& f : r.shadowing_files) {
    std::error_code ec;
    if (fs::exists(r.dir / f, ec)) return absl::StrCat(f, " is present");
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<fs::path> MakeStagingDirectory(const fs::path& dir) {
  const fs::path target = Normalized(dir);
  if (target.empty() || target.filename() == "." || target.filename() == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", dir.string(), "\" does not name a directory to write"));
  }
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return FsError(parent, ec);
  std::string name = (parent / absl::StrCat(".", target.filename().string(), ".partial-XXXXXX"));
  if (mkdtemp(name.data()) == nullptr) {
    return FsError(name, std::error_code(errno, std::generic_category()));
  }
  // mkdtemp makes it private (0700); the finished model is an ordinary directory.
  const mode_t mask = umask(0);
  umask(mask);
  fs::permissions(name, static_cast<fs::perms>(0777 & ~mask), ec);
  if (ec) return FsError(name, ec);
  return fs::path(name);
}

absl::StatusOr<InstallOutcome> InstallModelDirectory(const InstallRequest& r) {
  const fs::path dir = Normalized(r.dir);
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), " exists and is not a directory"));
  }
  if (!fs::exists(status) || fs::is_empty(dir, ec)) {
    // rename(2) replaces an empty directory, and fails when another writer filled it first.
    fs::rename(r.staging, dir, ec);
    if (!ec) return InstallOutcome::kCreated;
    if (ec != std::errc::directory_not_empty && ec != std::errc::file_exists) {
      return FsError(dir, ec);
    }
  }
  const InstallRequest in_dir{r.staging, dir, r.files, r.shadowing_files, r.force};
  const std::optional<std::string> difference = FirstDifference(in_dir);
  if (!difference.has_value()) return InstallOutcome::kUnchanged;
  if (!r.force) {
    return absl::AlreadyExistsError(
        absl::StrCat(dir.string(), " already holds something else (", *difference,
                     "); pass --force to overwrite the model files in it"));
  }
  for (const std::string& f : r.files) {
    fs::rename(r.staging / f, dir / f, ec);
    if (ec) return FsError(dir / f, ec);
  }
  for (const std::string& f : r.shadowing_files) {
    fs::remove(dir / f, ec);
    if (ec) return FsError(dir / f, ec);
  }
  return InstallOutcome::kReplaced;
}

}  // namespace tessera
