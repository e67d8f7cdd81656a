// Puts a model directory in place as a whole: the files are written to a staging directory beside
// the destination, then moved in. A reader (a daemon starting up) never sees half a model, two
// writers of the same model do not clash, and writing a model that is already there changes
// nothing, which makes `tessera make-model` idempotent.
#ifndef TESSERA_CLIENT_MODEL_DIR_INSTALL_H_
#define TESSERA_CLIENT_MODEL_DIR_INSTALL_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

// A new empty directory beside `dir` (same parent, so a rename moves it in), named
// ".<dir name>.partial-XXXXXX"; the parent is created if needed. The caller removes it.
absl::StatusOr<std::filesystem::path> MakeStagingDirectory(const std::filesystem::path& dir);

enum class InstallOutcome {
  kCreated,    // `dir` did not exist or was empty: the staging directory became it
  kUnchanged,  // `dir` already held the same files, byte for byte
  kReplaced,   // --force: `files` were moved over those in `dir`
};

struct InstallRequest {
  std::filesystem::path staging;  // holds `files`
  std::filesystem::path dir;
  std::vector<std::string> files;
  // Files that must not remain in `dir`, because a loader would read them in preference to
  // `files` (e.g. a shard index beside a single weights file).
  std::vector<std::string> shadowing_files;
  bool force = false;
};

// Installs `request.files` at `request.dir`. When `dir` holds anything else, it is left alone
// (AlreadyExists, naming the first file that differs) unless `force`. InvalidArgument when `dir`
// is not a directory; other codes for filesystem failures.
absl::StatusOr<InstallOutcome> InstallModelDirectory(const InstallRequest& request);

}  // namespace tessera

#endif  // TESSERA_CLIENT_MODEL_DIR_INSTALL_H_
