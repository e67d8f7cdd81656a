#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/json_fields.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using Json = nlohmann::json;

constexpr char kMetadataKey[] = "__metadata__";

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// nlohmann keeps the last of two equal keys without a word, which would let a header carry two
// different definitions of one tensor. This callback keeps one set of keys per open object and
// remembers the first repeat; `depth` 1 is the top level, where keys are tensor names.
class DuplicateKeyFinder {
 public:
  bool operator()(int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_.empty()) open_.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_.empty() && parsed.is_string() && !found_) {
          const std::string& key = parsed.get_ref<const std::string&>();
          if (!open_.back().insert(key).second) {
            found_ = true;
            key_ = key;
            depth_ = depth;
          }
        }
        break;
      default:
        break;
    }
    return true;  // keep everything; the DOM is checked afterwards
  }

  bool found() const { return found_; }
  const std::string& key() const { return key_; }
  int depth() const { return depth_; }

 private:
  std::vector<std::set<std::string>> open_;
  bool found_ = false;
  std::string key_;
  int depth_ = 0;
};

// A shape dimension: an integer in [0, INT64_MAX]; nullopt for anything else (floats included).
std::optional<int64_t> Dim(const Json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t s = v.get<int64_t>();
    if (s < 0) return std::nullopt;
    return s;
  }
  return std::nullopt;
}

struct Range {
  uint64_t begin;
  uint64_t end;
  const std::string* name;
};

}  // namespace

int64_t TensorView::NumElements() const {
  // Unsigned arithmetic: a hand-built view with absurd dims must not be signed-overflow UB.
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must fail the regular-file check below, not hang.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  if (st.st_size <= 0) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) return absl::ErrnoToStatus(mmap_err, absl::StrCat(path, ": mmap"));

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->base_ = static_cast<const std::byte*>(p);
  file->size_ = size;
  file->mapped_ = true;
  if (absl::Status s = file->Parse(); !s.ok()) return s;
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBytes(
    std::string bytes, const std::string& source) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = source;
  file->owned_ = std::move(bytes);
  file->base_ = reinterpret_cast<const std::byte*>(file->owned_.data());
  file->size_ = file->owned_.size();
  if (absl::Status s = file->Parse(); !s.ok()) return s;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped_ && base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), size_);
}

void SafetensorsFile::Prefetch() const {
  if (!mapped_ || base_ == nullptr || size_ == 0) return;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size_ + page - 1) / page);
  if (::mincore(const_cast<std::byte*>(base_), size_, resident.data()) == 0 &&
      std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; })) {
    return;  // warm: reading it again would only cost a copy
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(size_t{16} << 20);
  while (::read(fd, buffer.data(), buffer.size()) > 0) {
  }
  ::close(fd);
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::Status SafetensorsFile::Parse() {
  auto error = [this](const auto&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", parts...));
  };

  if (size_ < 8) {
    return error("file is ", size_, " bytes, too short for the 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len = (header_len << 8) | static_cast<uint64_t>(base_[i]);
  }
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return error("header length ", header_len, " exceeds the limit of ", kMaxSafetensorsHeaderBytes,
                 " bytes");
  }
  if (header_len > size_ - 8) {
    return error("header length ", header_len, " exceeds the ", size_ - 8,
                 " bytes after the length field");
  }
  const char* header = reinterpret_cast<const char*>(base_ + 8);
  const std::byte* data = base_ + 8 + header_len;
  const uint64_t data_size = size_ - 8 - header_len;

  DuplicateKeyFinder duplicates;
  const Json root = Json::parse(header, header + header_len, std::ref(duplicates),
                                /*allow_exceptions=*/false);
  if (root.is_discarded()) return error("header is not valid JSON");
  if (!root.is_object()) return error("header must be a JSON object, got ", DescribeJson(root));
  if (duplicates.found()) {
    if (duplicates.depth() == 1 && duplicates.key() != kMetadataKey) {
      return error("tensor ", QuoteForError(duplicates.key()), " appears twice in the header");
    }
    return error("key ", QuoteForError(duplicates.key()), " appears twice in one header object");
  }

  std::vector<Range> ranges;
  ranges.reserve(root.size());
  for (const auto& [name, entry] : root.items()) {
    if (name == kMetadataKey) {
      if (!entry.is_object()) {
        return error("\"", kMetadataKey, "\" must be an object, got ", DescribeJson(entry));
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return error("\"", kMetadataKey, "\" entry ", QuoteForError(key),
                       " must be a string, got ", DescribeJson(value));
        }
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string tensor = absl::StrCat("tensor ", QuoteForError(name), ": ");
    if (!entry.is_object()) return error(tensor, "must be an object, got ", DescribeJson(entry));
    // An init-capture: clang before 16 cannot capture a structured binding by name.
    auto field = [&object = entry](const char* key) -> const Json* {
      auto it = object.find(key);
      return it == object.end() ? nullptr : &*it;
    };

    const Json* dtype_json = field("dtype");
    if (dtype_json == nullptr) return error(tensor, "missing \"dtype\"");
    if (!dtype_json->is_string()) {
      return error(tensor, "\"dtype\" must be a string, got ", DescribeJson(*dtype_json));
    }
    const std::string& dtype_name = dtype_json->get_ref<const std::string&>();
    const std::optional<DType> dtype = ParseDType(dtype_name);
    if (!dtype.has_value()) {
      return error(
          tensor, "unsupported dtype ", QuoteForError(dtype_name),
          " (tessera loads BF16, F16, F32, and I32, I64, F8_E4M3 in quantized checkpoints)");
    }

    const Json* shape_json = field("shape");
    if (shape_json == nullptr) return error(tensor, "missing \"shape\"");
    if (!shape_json->is_array()) {
      return error(tensor, "\"shape\" must be an array, got ", DescribeJson(*shape_json));
    }
    std::vector<int64_t> shape;
    shape.reserve(shape_json->size());
    for (const Json& d : *shape_json) {
      const std::optional<int64_t> dim = Dim(d);
      if (!dim.has_value()) {
        return error(tensor, "\"shape\"[", shape.size(), "] must be an integer in [0, 2^63), got ",
                     DescribeJson(d));
      }
      shape.push_back(*dim);
    }

    const Json* offsets = field("data_offsets");
    if (offsets == nullptr) return error(tensor, "missing \"data_offsets\"");
    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned()) {
      return error(tensor, "\"data_offsets\" must be two non-negative integers, got ",
                   offsets->is_array() ? absl::StrCat("an array of ", offsets->size())
                                       : DescribeJson(*offsets));
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>();
    const uint64_t end = (*offsets)[1].get<uint64_t>();
    if (begin > end) {
      return error(tensor, "\"data_offsets\" [", begin, ", ", end, "]: begin is after end");
    }

    // A zero dim makes the tensor empty whatever the other dims are, so the order of dims cannot
    // turn an empty tensor into an overflow.
    uint64_t elements = 1;
    bool overflow = false;
    if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
      elements = 0;
    } else {
      for (int64_t d : shape) {
        overflow =
            overflow || __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements);
      }
    }
    uint64_t bytes = 0;
    overflow = overflow || elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
               __builtin_mul_overflow(elements, DTypeSize(*dtype), &bytes);
    if (overflow) {
      return error(tensor, "shape ", ShapeString(shape), " x ", dtype_name, " overflows 64 bits");
    }
    if (bytes != end - begin) {
      return error(tensor, "shape ", ShapeString(shape), " x ", dtype_name, " is ", bytes,
                   " bytes but data_offsets span ", end - begin);
    }
    if (end > data_size) {
      return error(tensor, "data_offsets [", begin, ", ", end, "] run past the ", data_size,
                   " bytes of data");
    }

    TensorView view;
    view.name = name;
    view.dtype = *dtype;
    view.shape = std::move(shape);
    view.data = absl::Span<const std::byte>(data + begin, static_cast<size_t>(end - begin));
    // No collision possible: duplicate names were rejected above.
    auto it = tensors_.emplace(name, std::move(view)).first;
    if (end > begin) ranges.push_back({begin, end, &it->first});
  }

  // Empty tensors own no bytes, so only non-empty ranges can overlap. Sorted by begin, any overlap
  // shows up between neighbours.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range& a = ranges[i - 1];
    const Range& b = ranges[i];
    if (b.begin < a.end) {
      return error("tensors ", QuoteForError(*a.name), " [", a.begin, ", ", a.end, ") and ",
                   QuoteForError(*b.name), " [", b.begin, ", ", b.end, ") overlap");
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera
