// Who may use, list and unload which adapter: the tenant isolation rules in one place.
//
// Adapters are keyed by (owner, name); owner "" is public. Names are per owner, so tenant A's
// private "foo" and a public "foo" may both exist, and A's shadows the public one for A only.
// Keeping names apart per owner is what makes another tenant's private adapter indistinguishable
// from a missing one: no name is ever "taken" by someone the caller cannot see.
//
//            use (Acquire)      list             unload
//   user     own + public       own + public     own
//   admin    own + public       all              all
//
// (An admin's own requests follow the user rule: an admin manages everyone's adapters but serves
// with its own and the public ones.) Plain values and pure functions; thread-safe.
#ifndef TESSERA_ADAPTERS_ADAPTER_ACCESS_H_
#define TESSERA_ADAPTERS_ADAPTER_ACCESS_H_

#include <compare>
#include <string>

namespace tessera {

struct AdapterKey {
  std::string owner;  // tenant, or "" for public
  std::string name;

  bool is_public() const { return owner.empty(); }
  auto operator<=>(const AdapterKey&) const = default;
};

// The caller as the server authenticated it (tenant and role of its API key).
struct AdapterCaller {
  std::string tenant;
  bool admin = false;
};

bool CanUseAdapter(const AdapterCaller& caller, const AdapterKey& key);
bool CanListAdapter(const AdapterCaller& caller, const AdapterKey& key);
bool CanUnloadAdapter(const AdapterCaller& caller, const AdapterKey& key);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_ACCESS_H_
