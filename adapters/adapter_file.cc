#include "adapters/adapter_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "adapters/adapter_error.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

// Closes the descriptor on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status Refuse(absl::StatusCode code, absl::string_view name, absl::string_view reason,
                    const fs::path& path, absl::string_view why) {
  return WithAdapterErrorDetail(absl::Status(code, absl::StrCat(name, " ", reason)),
                                absl::StrCat(path.string(), ": ", why));
}

// Where the descriptor really points (Linux: the kernel's name for the open file).
std::string PathOfDescriptor(int fd) {
  std::error_code ec;
  const fs::path p = fs::read_symlink(absl::StrCat("/proc/self/fd/", fd), ec);
  return ec ? std::string() : p.string();
}

}  // namespace

bool IsPathStrictlyInside(const fs::path& path, const fs::path& dir) {
  auto [dir_end, path_it] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  if (dir_end != dir.end()) return false;
  // A trailing separator of `dir` shows up as an empty last component; skip empties.
  for (; path_it != path.end(); ++path_it) {
    if (!path_it->empty()) return true;
  }
  return false;
}

absl::StatusOr<fs::path> CanonicalAdapterFolder(const fs::path& dir) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(dir, ec);
  if (ec) {
    return WithAdapterErrorDetail(absl::NotFoundError("the adapter folder does not exist"),
                                  absl::StrCat(dir.string(), ": ", ec.message()));
  }
  if (!fs::is_directory(canonical, ec)) {
    return WithAdapterErrorDetail(absl::InvalidArgumentError("the adapter path is not a folder"),
                                  absl::StrCat(dir.string(), ": not a directory"));
  }
  return canonical;
}

bool AdapterFileExists(const fs::path& canonical_dir, absl::string_view name) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(canonical_dir / std::string(name), ec));
}

absl::StatusOr<std::string> ReadAdapterFile(const fs::path& canonical_dir, absl::string_view name,
                                            uintmax_t max_bytes) {
  const fs::path path = canonical_dir / std::string(name);
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  if (ec == std::errc::no_such_file_or_directory) {
    return Refuse(absl::StatusCode::kNotFound, name, "not found", path, ec.message());
  }
  if (ec) {
    return Refuse(absl::StatusCode::kInvalidArgument, name, "cannot be resolved", path,
                  ec.message());
  }
  if (!IsPathStrictlyInside(real, canonical_dir)) {
    return Refuse(absl::StatusCode::kInvalidArgument, name,
                  "leads outside the adapter folder (a symlink?)", path,
                  absl::StrCat("resolves to ", real.string()));
  }
  // O_NONBLOCK: a FIFO planted under this name must not hang the loading thread.
  const Fd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    return Refuse(absl::StatusCode::kInvalidArgument, name, "cannot be opened", real,
                  std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Refuse(absl::StatusCode::kInvalidArgument, name, "is not a regular file", real,
                  "not a regular file");
  }
  // A directory on the way swapped for a link between canonical() and open() would land
  // elsewhere; what was opened must still be the path checked.
  const std::string opened = PathOfDescriptor(fd.get());
  if (opened != real.string()) {
    return Refuse(absl::StatusCode::kInvalidArgument, name, "changed while it was opened", real,
                  absl::StrCat("opened ", opened));
  }
  std::string data;
  data.reserve(
      static_cast<size_t>(std::min<uintmax_t>(static_cast<uintmax_t>(st.st_size), max_bytes)));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return Refuse(absl::StatusCode::kInvalidArgument, name, "cannot be read", real,
                    std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      return Refuse(absl::StatusCode::kInvalidArgument, name,
                    absl::StrCat("is larger than ", max_bytes, " bytes"), real, "too large");
    }
  }
  return data;
}

}  // namespace tessera
