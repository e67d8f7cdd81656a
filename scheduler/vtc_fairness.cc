#include "scheduler/vtc_fairness.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera {

VtcFairness::VtcFairness() : VtcFairness(Options()) {}

absl::Status VtcFairness::Validate(const Options& options) {
  for (const auto& [name, w] : {std::pair<const char*, double>{"input", options.input_token_weight},
                                {"output", options.output_token_weight}}) {
    if (!(w >= 0 && std::isfinite(w))) {
      return absl::InvalidArgumentError(
          absl::StrCat("fairness: the ", name, " token weight must be finite and >= 0, got ", w));
    }
  }
  if (options.input_token_weight == 0 && options.output_token_weight == 0) {
    return absl::InvalidArgumentError(
        "fairness: the input and output token weights are both 0 (nothing would be counted)");
  }
  return absl::OkStatus();
}

absl::StatusOr<VtcFairness> VtcFairness::Create(const Options& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  return VtcFairness(options);
}

VtcFairness::Tenant& VtcFairness::Get(std::string_view tenant) {
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) it = tenants_.emplace(std::string(tenant), Tenant()).first;
  return it->second;
}

const VtcFairness::Tenant* VtcFairness::Find(std::string_view tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : &it->second;
}

absl::Status VtcFairness::SetWeight(std::string_view tenant, double weight) {
  if (!(weight > 0 && std::isfinite(weight))) {
    return absl::InvalidArgumentError(absl::StrCat("fairness: tenant \"", std::string(tenant),
                                                   "\": weight must be finite and > 0, got ",
                                                   weight));
  }
  Get(tenant).weight = weight;
  return absl::OkStatus();
}

double VtcFairness::weight(std::string_view tenant) const {
  const Tenant* t = Find(tenant);
  return t ? t->weight : 1.0;
}

void VtcFairness::OnWaiting(std::string_view tenant) {
  Tenant& t = Get(tenant);
  if (t.waiting++ > 0) return;
  // The backlog begins: lift to the smallest backlogged counter, or to the last one to leave.
  std::optional<double> floor;
  for (const auto& [name, other] : tenants_) {
    if (&other == &t || other.waiting == 0) continue;
    floor = std::min(floor.value_or(other.counter), other.counter);
  }
  if (!floor.has_value() && !last_left_.empty()) floor = tenants_.find(last_left_)->second.counter;
  if (floor.has_value()) t.counter = std::max(t.counter, *floor);
}

absl::Status VtcFairness::OnLeftWaiting(std::string_view tenant) {
  auto it = tenants_.find(tenant);
  if (it == tenants_.end() || it->second.waiting == 0) {
    return absl::FailedPreconditionError(absl::StrCat("fairness: tenant \"", std::string(tenant),
                                                      "\" has no waiting request to remove"));
  }
  if (--it->second.waiting == 0) last_left_ = it->first;
  return absl::OkStatus();
}

absl::Status VtcFairness::ChargeInput(std::string_view tenant, int64_t tokens) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("fairness: negative input token count ", tokens,
                                                   " for \"", std::string(tenant), "\""));
  }
  Tenant& t = Get(tenant);
  t.counter += options_.input_token_weight * static_cast<double>(tokens) / t.weight;
  return absl::OkStatus();
}

absl::Status VtcFairness::ChargeOutput(std::string_view tenant, int64_t tokens) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("fairness: negative output token count ", tokens,
                                                   " for \"", std::string(tenant), "\""));
  }
  Tenant& t = Get(tenant);
  t.counter += options_.output_token_weight * static_cast<double>(tokens) / t.weight;
  return absl::OkStatus();
}

std::optional<std::string> VtcFairness::PickNext() const {
  const std::pair<const std::string, Tenant>* best = nullptr;
  for (const auto& entry : tenants_) {
    if (entry.second.waiting == 0) continue;
    // Strictly smaller: among equal counters the first by name (map order) stays.
    if (best == nullptr || entry.second.counter < best->second.counter) best = &entry;
  }
  if (best == nullptr) return std::nullopt;
  return best->first;
}

std::vector<std::string> VtcFairness::BackloggedInOrder() const {
  std::vector<std::pair<double, const std::string*>> order;
  for (const auto& [name, t] : tenants_) {
    if (t.waiting > 0) order.emplace_back(t.counter, &name);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  std::vector<std::string> out;
  out.reserve(order.size());
  for (const auto& [counter, name] : order) out.push_back(*name);
  return out;
}

double VtcFairness::Counter(std::string_view tenant) const {
  const Tenant* t = Find(tenant);
  return t ? t->counter : 0.0;
}

int64_t VtcFairness::Waiting(std::string_view tenant) const {
  const Tenant* t = Find(tenant);
  return t ? t->waiting : 0;
}

std::vector<std::pair<std::string, double>> VtcFairness::Counters() const {
  std::vector<std::pair<std::string, double>> out;
  out.reserve(tenants_.size());
  for (const auto& [name, t] : tenants_) out.emplace_back(name, t.counter);
  return out;
}

}  // namespace tessera
