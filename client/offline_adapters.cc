#include "client/offline_adapters.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "adapters/adapter_error.h"
#include "adapters/adapter_name.h"
#include "adapters/peft_adapter_loader.h"

namespace tessera {

absl::StatusOr<std::pair<std::string, std::string>> ParseAdapterFlag(absl::string_view flag) {
  const size_t eq = flag.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 == flag.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--adapter \"", flag, "\": expected NAME=DIR (an adapter name and its folder)"));
  }
  const absl::string_view name = flag.substr(0, eq);
  if (absl::Status s = ValidateAdapterName(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--adapter \"", flag, "\": ", s.message()));
  }
  return std::make_pair(std::string(name), std::string(flag.substr(eq + 1)));
}

namespace {

// The user runs this on their own files: the paths and the parser's words help, so the detail the
// daemon keeps to its log is shown here.
absl::Status WithLocalDetail(const absl::Status& s) {
  const std::string detail = AdapterErrorDetail(s);
  if (detail == s.message()) return s;
  return absl::Status(s.code(), absl::StrCat(s.message(), " (", detail, ")"));
}

}  // namespace

OfflineAdapters::OfflineAdapters(std::unique_ptr<AdapterRegistry> registry, bool has_adapter_dir)
    : registry_(std::move(registry)), has_adapter_dir_(has_adapter_dir) {}

absl::StatusOr<std::unique_ptr<OfflineAdapters>> OfflineAdapters::Create(
    const ModelConfig& model, const OfflineAdapterOptions& o) {
  PeftLoadOptions peft;
  peft.max_lora_rank = o.max_lora_rank;
  AdapterRegistryOptions ro;
  ro.adapter_dir = o.adapter_dir;
  std::unique_ptr<OfflineAdapters> adapters(
      new OfflineAdapters(std::make_unique<AdapterRegistry>(PeftAdapterLoader(model, peft), ro),
                          !o.adapter_dir.empty()));
  std::set<std::string> seen;
  for (const auto& [name, dir] : o.preload) {
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("--adapter ", name, " is given twice"));
    }
    // Public, as the daemon's --adapter: every request may use it.
    absl::StatusOr<AdapterInfo> info = adapters->registry_->Load({name, dir, /*owner=*/""});
    if (!info.ok()) return WithLocalDetail(info.status());
  }
  return adapters;
}

absl::StatusOr<std::shared_ptr<const AdapterRef>> OfflineAdapters::Get(const std::string& name) {
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  // Offline requests all belong to the default tenant, and every adapter here is public.
  absl::StatusOr<AdapterLease> lease = registry_->Acquire(name, GenerateRequest().tenant);
  absl::StatusOr<std::shared_ptr<const AdapterRef>> ref;
  if (lease.ok()) {
    auto r = std::make_shared<AdapterRef>();
    r->name = name;
    r->weights = lease->shared_weights();
    r->version = lease->version();
    leases_.push_back(*std::move(lease));
    ref = std::shared_ptr<const AdapterRef>(std::move(r));
  } else if (lease.status() == AdapterNotFoundError(name)) {
    ref = absl::NotFoundError(absl::StrCat(
        lease.status().message(),
        has_adapter_dir_
            ? " (not given with --adapter, and --adapter-dir has no folder of that name)"
            : " (load it with --adapter NAME=DIR, or give --adapter-dir)"));
  } else {
    ref = WithLocalDetail(lease.status());
  }
  return by_name_.emplace(name, std::move(ref)).first->second;
}

absl::Status OfflineAdapters::Resolve(GenerateRequest& request) {
  if (request.adapter == nullptr) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<const AdapterRef>> ref = Get(request.adapter->name);
  if (!ref.ok()) {
    return absl::Status(ref.status().code(),
                        absl::StrCat("request \"", request.id, "\": ", ref.status().message()));
  }
  request.adapter = *std::move(ref);
  return absl::OkStatus();
}

std::vector<AdapterInfo> OfflineAdapters::List() const {
  return registry_->List({/*tenant=*/"", /*admin=*/true});
}

}  // namespace tessera
