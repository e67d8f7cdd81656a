#include "engine/checkpoint.h"

#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/json_fields.h"
#include "engine/parallel_tasks.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";
// Real indexes are a few hundred KB even for the largest models.
constexpr uintmax_t kMaxIndexBytes = 64ull << 20;

// A shard name from the index must name a file inside the model directory and nothing else.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name.find("..") == std::string::npos &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Tensor name -> shard file name, validated.
absl::StatusOr<std::map<std::string, std::string>> ReadIndex(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, kMaxIndexBytes);
  if (!text.ok()) return text.status();
  absl::StatusOr<nlohmann::json> root = ParseJsonObject(*text, path);
  if (!root.ok()) return root.status();
  const JsonFields fields(*root, path);
  const nlohmann::json* map = fields.Find("weight_map");
  if (map == nullptr) return fields.Error("\"weight_map\" is required");
  if (!map->is_object()) return fields.TypeError("weight_map", "an object", *map);
  if (map->empty()) return fields.Error("\"weight_map\" lists no tensors");
  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) {
      return fields.Error(absl::StrCat("tensor ", QuoteForError(tensor),
                                       ": shard must be a string, got ", DescribeJson(shard)));
    }
    const std::string& name = shard.get_ref<const std::string&>();
    if (!IsPlainFileName(name)) {
      return fields.Error(absl::StrCat("tensor ", QuoteForError(tensor), ": shard ",
                                       QuoteForError(name),
                                       " must be a plain file name inside the model directory"));
    }
    weight_map.emplace(tensor, name);
  }
  return weight_map;
}

// Same code, more context: which index entry led to the failing shard.
absl::Status Annotate(const absl::Status& s, const std::string& context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->dir_ = model_dir;
  const fs::path dir(model_dir);
  const std::string index_path = (dir / kIndexName).string();
  const std::string single_path = (dir / kSingleName).string();

  absl::StatusOr<std::map<std::string, std::string>> index = ReadIndex(index_path);
  if (index.ok()) {
    // Each distinct shard once, in name order so that errors are deterministic.
    std::map<std::string, const SafetensorsFile*> shards;
    for (const auto& [tensor, shard] : *index) shards.emplace(shard, nullptr);
    for (auto& [shard, file] : shards) {
      absl::StatusOr<std::unique_ptr<SafetensorsFile>> opened =
          SafetensorsFile::Open((dir / shard).string());
      if (!opened.ok()) {
        return Annotate(opened.status(),
                        absl::StrCat(index_path, ": shard ", QuoteForError(shard)));
      }
      file = opened->get();
      ckpt->files_.push_back(*std::move(opened));
    }
    for (const auto& [tensor, shard] : *index) {
      const SafetensorsFile* file = shards.at(shard);
      if (file->Find(tensor) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(file->path(), ": tensor ",
                                                       QuoteForError(tensor), " listed in ",
                                                       index_path, " is not in this shard"));
      }
    }
  } else if (absl::IsNotFound(index.status())) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(single_path);
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(absl::StrCat(model_dir, ": no weights: neither ", kIndexName,
                                              " nor ", kSingleName, " found"));
    }
    if (!file.ok()) return file.status();
    ckpt->files_.push_back(*std::move(file));
  } else {
    return index.status();
  }

  // Tensors a shard holds beyond the index are usable, but never in two places: which copy would
  // be the weight would depend on load order.
  for (const auto& file : ckpt->files_) {
    for (const auto& [name, view] : file->tensors()) {
      auto [it, inserted] = ckpt->by_name_.emplace(name, file.get());
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(model_dir, ": tensor ", QuoteForError(name),
                                                       " is in both ", it->second->path(), " and ",
                                                       file->path()));
      }
    }
  }
  return ckpt;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second->Find(name);
}

absl::StatusOr<const TensorView*> Checkpoint::Get(const std::string& name,
                                                  const std::vector<int64_t>& shape) const {
  const TensorView* t = Find(name);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat(dir_, ": tensor \"", name, "\" is missing"));
  }
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(FileOf(name), ": tensor \"", name,
                                                   "\" has shape ", ShapeString(t->shape),
                                                   ", expected ", ShapeString(shape)));
  }
  if (!IsFloatWeightDType(t->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        FileOf(name), ": tensor \"", name, "\" has dtype ", DTypeName(t->dtype),
        ", expected BF16, F16 or F32 (quantized tensors load only through a quantization_config)"));
  }
  return t;
}

std::string Checkpoint::FileOf(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? "" : it->second->path();
}

void Checkpoint::Prefetch(int32_t threads) const {
  RunParallel(static_cast<int64_t>(files_.size()), threads,
              [this](int64_t i) { files_[i]->Prefetch(); });
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(by_name_.size());
  for (const auto& [name, file] : by_name_) names.push_back(name);
  return names;
}

size_t Checkpoint::TotalBytes() const {
  size_t total = 0;
  for (const auto& [name, file] : by_name_) total += file->Find(name)->data.size();
  return total;
}

}  // namespace tessera
