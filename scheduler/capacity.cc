#include "scheduler/capacity.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera {

Capacity::Capacity(Engine& engine, SchedulerState& state, const SchedulerOptions& options,
                   const Clock& clock)
    : clock_(clock),
      state_(state),
      max_num_seqs_(options.max_num_seqs),
      max_num_batched_tokens_(options.max_num_batched_tokens),
      adapter_prefetch_depth_(options.adapter_prefetch_depth),
      prefix_cache_scope_(options.prefix_cache_scope),
      geometry_(engine.kv_geometry()),
      blocks_(geometry_.num_blocks, geometry_.block_size, options.enable_prefix_caching),
      adapters_(engine, blocks_) {}

int64_t Capacity::FittingChunk(const Sequence& seq, int64_t want) const {
  const auto& table = blocks_.BlockTable(seq.id);
  const int64_t bs = geometry_.block_size;
  int64_t usable = static_cast<int64_t>(table.size()) + blocks_.num_free_blocks();
  // A shared block about to be written needs a private copy first.
  const int64_t first = seq.num_computed / bs;
  if (first < static_cast<int64_t>(table.size()) && blocks_.RefCount(table[first]) > 1) --usable;
  return std::clamp<int64_t>(usable * bs - seq.num_computed, 0, want);
}

bool Capacity::CanAllocate(const Sequence& seq, int64_t tokens) const {
  return blocks_.CanAllocate(seq.id, tokens, seq.num_computed);
}

void Capacity::Allocate(const Sequence& seq, int64_t tokens, std::vector<BlockCopyPair>* copies) {
  // Capacity was checked: this cannot fail.
  (void)blocks_.Allocate(seq.id, tokens, seq.num_computed, copies);
}

bool Capacity::LooksUpPrefixCache(const Sequence& seq) const {
  return blocks_.prefix_caching() && seq.request->request.prompt_logprobs == 0;
}

void Capacity::ExtendBlockHashes(Sequence* seq, int64_t num_blocks) {
  RequestState* r = seq->request;
  if (!r->prefix_seed) {
    const GenerateRequest& req = r->request;
    const AdapterRef* adapter = req.adapter.get();
    uint64_t version = 0;
    if (adapter != nullptr) {
      // Without a registry's version the weights' address names it: a request holds its weights,
      // so the address cannot be reused while this request's blocks are being cached.
      version = adapter->version != 0 ? adapter->version
                                      : reinterpret_cast<uintptr_t>(adapter->weights.get());
    }
    r->prefix_seed = PrefixSeed(adapter != nullptr ? adapter->name : "", version,
                                prefix_cache_scope_ == PrefixCacheScope::kTenant ? req.tenant : "",
                                req.cache_salt);
  }
  const int64_t bs = geometry_.block_size;
  block_tokens_.resize(bs);
  for (int64_t i = static_cast<int64_t>(seq->block_hashes.size()); i < num_blocks; ++i) {
    for (int64_t j = 0; j < bs; ++j) block_tokens_[j] = seq->TokenAt(i * bs + j);
    const BlockHash& parent = i == 0 ? *r->prefix_seed : seq->block_hashes[i - 1];
    seq->block_hashes.push_back(ChainBlockHash(parent, block_tokens_));
  }
}

int64_t Capacity::TakeCachedPrefix(Sequence* seq) {
  if (!LooksUpPrefixCache(*seq) || blocks_.Contains(seq->id)) return 0;
  const int64_t bs = geometry_.block_size;
  // The last token is always fed: its logits give the next sample.
  const int64_t max_blocks = (seq->FeedLimit() - 1) / bs;
  if (max_blocks <= 0) return 0;
  ExtendBlockHashes(seq, max_blocks);
  const absl::StatusOr<int32_t> taken =
      blocks_.TakeCachedPrefix(seq->id, absl::MakeConstSpan(seq->block_hashes).first(max_blocks),
                               static_cast<int32_t>(max_blocks));
  if (!taken.ok() || *taken == 0) return 0;
  seq->num_computed = *taken * bs;
  seq->num_offered_blocks = *taken;
  return seq->num_computed;
}

void Capacity::ReturnCachedPrefix(Sequence* seq) {
  if (seq->num_computed == 0) return;
  Free(*seq);
  seq->num_computed = 0;
  seq->num_offered_blocks = 0;
}

void Capacity::RecordPrefixLookup(const Sequence& seq, int64_t hit) {
  if (!LooksUpPrefixCache(seq)) return;
  state_.stats.prefix_cache_queries_total += seq.total_len();
  state_.stats.prefix_cache_hits_total += hit;
  if (!seq.request->started) seq.request->cached_prompt_tokens = std::min(hit, seq.prompt_len());
}

void Capacity::OfferBlocks(Sequence* seq, int64_t tokens) {
  if (!blocks_.prefix_caching()) return;
  const int64_t full = tokens / geometry_.block_size;
  if (full <= seq->num_offered_blocks) return;
  ExtendBlockHashes(seq, full);
  const std::vector<int32_t>& table = blocks_.BlockTable(seq->id);
  for (int64_t i = seq->num_offered_blocks; i < full; ++i) {
    (void)blocks_.CacheBlock(table[i], seq->block_hashes[i]);  // referenced: cannot fail
  }
  seq->num_offered_blocks = full;
}

void Capacity::ForgetBlocks(const Sequence& seq) {
  for (int32_t b : blocks_.BlockTable(seq.id)) blocks_.Uncache(b);
}

void Capacity::Free(const Sequence& seq) {
  if (blocks_.Contains(seq.id)) (void)blocks_.Free(seq.id);
}

void Capacity::Fork(const Sequence& parent, const Sequence& child) {
  (void)blocks_.Fork(parent.id, child.id);
}

void Capacity::ReclaimAdapterBlocks(const Sequence& seq, int64_t tokens) {
  const int32_t need = blocks_.BlocksNeeded(seq.id, tokens, seq.num_computed);
  if (need <= blocks_.num_free_blocks()) return;
  const AdapterRef* own = seq.request->request.adapter.get();
  adapters_.Reclaim(need, own != nullptr ? own->weights.get() : nullptr);
}

int32_t Capacity::FirstTokenBlocks(const Sequence& seq) const {
  return blocks_.BlocksNeeded(seq.id, seq.num_computed + 1, seq.num_computed);
}

bool Capacity::AdapterHasRoom(const Sequence& seq) const {
  const RequestState* r = seq.request;
  const AdapterRef* adapter = r->request.adapter.get();
  if (adapter == nullptr || r->adapter_slot >= 0) return true;
  const absl::StatusOr<int32_t> need = adapters_.BlocksFor(*adapter);
  // An adapter the engine cannot store fails its request at admission; nothing to make room for.
  return !need.ok() || adapters_.HasRoom(*adapter, *need, FirstTokenBlocks(seq));
}

void Capacity::Preempt(Sequence* seq) {
  Free(*seq);
  seq->num_computed = 0;
  seq->num_offered_blocks = 0;  // its blocks stay cached: the recompute takes them back
  seq->state = Sequence::State::kWaiting;
  state_.RemoveFromRunning(seq);
  state_.policy->Requeue(seq);
  ++seq->request->preemptions;
  ++state_.stats.num_preemptions_total;
  UnpinIfWaiting(*seq->request);
}

bool Capacity::MakeRoom(Sequence* seq, int64_t tokens, absl::Span<Sequence* const> candidates,
                        absl::Time now) {
  while (!CanAllocate(*seq, tokens)) {
    // Idle adapters go before any sequence (a preempted one may have just made its adapter idle).
    ReclaimAdapterBlocks(*seq, tokens);
    if (CanAllocate(*seq, tokens)) break;
    victims_.clear();
    for (Sequence* s : candidates) {
      if (s->state == Sequence::State::kRunning) victims_.push_back(s);
    }
    if (victims_.empty()) {
      Preempt(seq);
      return false;
    }
    Preempt(state_.policy->ChooseVictim(victims_, now));
  }
  return true;
}

void Capacity::PreemptForWaiting(absl::Time now, int64_t budget) {
  Sequence* head = state_.policy->Next(now);
  if (head == nullptr || !state_.policy->MayPreemptFor(*head, now)) return;
  const int64_t want = std::min<int64_t>(head->FeedLimit() - head->num_computed, budget);
  auto blocked = [&] {
    // Idle adapters' blocks go before any sequence (a preempted one may have made its adapter
    // idle).
    if (FittingChunk(*head, want) < want) ReclaimAdapterBlocks(*head, head->num_computed + want);
    return FittingChunk(*head, want) == 0 ||
           static_cast<int32_t>(state_.running.size()) >= max_num_seqs_ || !AdapterHasRoom(*head);
  };
  while (blocked()) {
    Sequence* victim = state_.policy->ChooseVictimFor(*head, state_.running, now);
    if (victim == nullptr) return;
    Preempt(victim);
  }
}

void Capacity::UnpinIfWaiting(RequestState& r) {
  // A request with nothing running lets go of its slot. Pinned, its adapter's blocks could be the
  // ones it (or the request ahead of it) waits for, and with a few such requests nothing would
  // ever run; and even an adapter kept outside the pool would hold a slot that the head of the
  // queue may need, stalling everything until the preempted request ages. The adapter stays
  // resident (idle), so a request resuming soon finds it without a load.
  if (r.adapter_slot < 0) return;
  for (const auto& seq : r.seqs) {
    if (seq->state == Sequence::State::kRunning) return;
  }
  Unpin(r);
}

void Capacity::Unpin(RequestState& r) {
  if (r.adapter_slot < 0) return;
  adapters_.Unpin(r.adapter_slot);
  r.adapter_slot = -1;
}

Capacity::AdapterAdmission Capacity::PrepareAdapter(Sequence& seq) {
  using Outcome = AdapterAdmission::Outcome;
  RequestState* r = seq.request;
  const AdapterRef* adapter = r->request.adapter.get();
  if (adapter == nullptr || r->adapter_slot >= 0) return {Outcome::kReady};
  if (!adapters_.slots().CanAcquire(*adapter)) return {Outcome::kWait};
  auto fail = [&](auto&&... parts) {
    return AdapterAdmission{Outcome::kFailed, absl::InvalidArgumentError(absl::StrCat(
                                                  "request \"", r->request.id, "\": adapter \"",
                                                  adapter->name, "\" ", parts...))};
  };
  const absl::StatusOr<int32_t> need = adapters_.BlocksFor(*adapter);
  if (!need.ok()) return fail("cannot be stored by the engine: ", need.status().message());
  // Validation checked the request alone against the cache; with its adapter it must fit too, or
  // it would wait (or preempt itself) forever.
  const int64_t own = blocks_.BlocksFor(static_cast<int64_t>(r->request.prompt_token_ids.size()) +
                                        r->request.max_tokens - 1);
  if (own + *need > geometry_.num_blocks) {
    return fail("takes ", *need, " KV blocks and the request ", own, " more, but the cache has ",
                geometry_.num_blocks, " in all");
  }
  const bool load = !adapters_.IsResident(*adapter);
  const absl::Time started = clock_.Now();
  const AdapterPager::Pinned pinned = adapters_.Pin(*adapter, *need, FirstTokenBlocks(seq));
  switch (pinned.outcome) {
    case AdapterPager::Outcome::kPinned:
      r->adapter_slot = pinned.slot;
      if (load && adapter->weights != nullptr) {
        load_time_.Observe(adapter->weights->num_bytes(), clock_.Now() - started);
      }
      return {Outcome::kReady};
    case AdapterPager::Outcome::kFailed:
      return fail("cannot be loaded by the engine: ", pinned.error.message());
    case AdapterPager::Outcome::kNoSlot:
    case AdapterPager::Outcome::kNoRoom:
      break;
  }
  return {Outcome::kWait};
}

absl::Duration Capacity::PredictAdapterLoad(const AdapterRef& adapter) const {
  if (adapters_.IsResident(adapter) || adapter.weights == nullptr) return absl::ZeroDuration();
  return load_time_.Predict(adapter.weights->num_bytes());
}

void Capacity::PrefetchAdapters() {
  const SchedulingPolicy& waiting = *state_.policy;
  if (adapter_prefetch_depth_ <= 0 || waiting.num_waiting() == 0 || !adapters_.HasEmptySlot()) {
    return;
  }
  // Only blocks that stay free whatever the next step does: it adds at most a token budget of KV,
  // plus a partly filled block and a copy-on-write copy per sequence. A prefetched adapter is idle,
  // so a step that needs its blocks after all evicts it rather than preempt anything.
  const int64_t next_seqs = std::min<int64_t>(
      max_num_seqs_, static_cast<int64_t>(state_.running.size() + waiting.num_waiting()));
  const int64_t reserve = blocks_.BlocksFor(max_num_batched_tokens_) + 2 * next_seqs;
  if (reserve >= blocks_.num_free_blocks()) return;
  std::vector<const LoraWeights*> tried;
  waiting.ForEachWaiting([&](const Sequence* seq) {
    const RequestState* r = seq->request;
    const AdapterRef* adapter = r->request.adapter.get();
    if (adapter == nullptr || r->adapter_slot >= 0 || adapters_.IsResident(*adapter) ||
        std::find(tried.begin(), tried.end(), adapter->weights.get()) != tried.end()) {
      return true;
    }
    tried.push_back(adapter->weights.get());
    adapters_.Prefetch(*adapter, static_cast<int32_t>(reserve));
    return static_cast<int32_t>(tried.size()) < adapter_prefetch_depth_ && adapters_.HasEmptySlot();
  });
}

void Capacity::DropCaches() {
  blocks_.ClearCache();
  adapters_.EvictIdle();
}

}  // namespace tessera
