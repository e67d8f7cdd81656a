// Parity of the LoRA BGMV and SGMV kernels with the CPU reference (AddLoraDelta) on random
// adapters of mixed ranks (8, 16, 64, 5, and modules of rank 0), with rows of no adapter
// interleaved. Every y element the launch must not change (other rows, rank-0 modules, columns
// outside the projections, padding columns, guard rows and guard elements around the buffer) is
// compared bit for bit with its value before the launch; the shrink scratch carries poisoned
// guards. Adapter rows sit in one device pool at scattered offsets like the KV blocks they live in
// in the engine, with a poisoned fill between rows, and the other layer and the other modules hold
// decoy adapters, so a wrong table index or an overrun row read changes the result.
//
// The argument checks run before any CUDA call, so their tests need no device.
#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cpu/lora.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/lora_args.h"
#include "engine/cuda/lora_args_check.h"
#include "engine/cuda/lora_bgmv.cuh"
#include "engine/cuda/lora_device_table.h"
#include "engine/cuda/lora_sgmv.cuh"
#include "engine/lora_weights.h"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/cuda/guarded_buffer.h"

namespace tessera {
namespace {

using ::tessera::testing::NormalizedError;
using ::tessera::testing::RandomBf16Values;
using ::tessera::testing::ToBf16;
using ::tessera::testing::ToFloat;

constexpr int32_t kNumLayers = 2;
constexpr int32_t kLayer = 1;  // the layer launched; layer 0 holds decoys
constexpr int32_t kDecoyRank = 3;
constexpr int64_t kGuard = 64;     // y elements and scratch floats before and after (multiple of 8)
constexpr int32_t kGuardRows = 2;  // rows of y past num_rows

// Tolerances. The kernels and the reference both accumulate in fp32 (only the summation order
// differs, ~1e-6 relative to the terms), and the kernel rounds each output to bf16 once, which
// moves it by at most half a bf16 ulp: 2^-8 of its magnitude. The inputs make |delta| about as
// large as |y| (h ~ 1/3, delta ~ 0.2 * scale, y ~ 0.15), so the normalized error of the deltas is
// the rms rounding error (~2^-9 |y|) over |delta|: ~2e-3 (measured 1.8e-3 .. 3.2e-3 on these
// cases). 1e-2 leaves 3x margin while a wrong scale, a dropped rank term (~0.12 normalized even
// at rank 64) or a wrong adapter fails. Per element: 2^-7 |want| (twice the rounding bound, and
// one ulp: what separates two correctly rounded results of the same sum in different orders)
// plus 1e-3 for the fp32 order.
constexpr double kMaxDeltaError = 1e-2;
constexpr double kElementRelTol = 1.0 / 128;
constexpr double kElementAbsTol = 1e-3;

using ::tessera::testing::Bits;
using ::tessera::testing::Upload;
float PoisonF32() { return ::tessera::testing::Poison<float>(); }

// ---------------------------------------------------------------------------------------------
// Test shapes and adapters

// The ranks a slot's adapter has for the group's projections (in order) at kLayer, and its scale.
struct SlotSpec {
  std::array<int32_t, kMaxLoraGroup> ranks;
  float scale;
};

// Slot 3 adapts none of the group's modules; slots 1, 2 and 4 mix ranks, with rank-0 modules.
std::vector<SlotSpec> MixedSlots() {
  return {{{8, 8, 8}, 2.0f},
          {{16, 5, 64}, 0.5f},
          {{64, 0, 16}, 1.0f},
          {{0, 0, 0}, 1.0f},
          {{5, 64, 0}, 1.5f}};
}

struct GroupShape {
  std::string name;
  int32_t in_features;
  std::vector<std::pair<LoraModule, int32_t>> projections;  // module, out_features
  int64_t first_offset;  // columns of y before the first projection
  int64_t y_pad;         // columns of y after the last projection
  int64_t x_pad;         // elements of x after in_features
  int32_t max_rank;
  // The last row of every A and B^T starts one element past a 16-byte boundary: the kernels must
  // take their scalar paths for it (for the whole expand block) and stay correct.
  bool misaligned_rows;
};

std::vector<GroupShape> Shapes() {
  using M = LoraModule;
  return {
      {"qkv_4096", 4096, {{M::kQ, 4096}, {M::kK, 1024}, {M::kV, 1024}}, 0, 8, 0, 64, false},
      {"o_64", 64, {{M::kO, 64}}, 8, 16, 8, 64, false},
      {"down_100_to_13", 100, {{M::kDown, 13}}, 3, 5, 3, 72, false},
      {"gate_up_13_to_100_64", 13, {{M::kGate, 100}, {M::kUp, 64}}, 0, 3, 1, 64, true},
      {"qkv_64_misaligned_rows", 64, {{M::kQ, 64}, {M::kK, 16}, {M::kV, 16}}, 8, 8, 0, 64, true},
  };
}

int64_t ProjectionOffset(const GroupShape& shape, int p) {
  int64_t offset = shape.first_offset;
  for (int q = 0; q < p; ++q) offset += shape.projections[q].second;
  return offset;
}

int64_t YStride(const GroupShape& shape) {
  const int num = static_cast<int>(shape.projections.size());
  return ProjectionOffset(shape, num) + shape.y_pad;
}

int64_t RoundUp8(int64_t n) { return (n + 7) / 8 * 8; }

// The adapters of one test on the host (LoraPair, values rounded to bf16) and on the device (rows
// in one pool, row-pointer arrays, the descriptor table). Every (slot, layer, module) entry is
// filled: the group's modules at kLayer with the slot's ranks, every other entry a decoy of rank
// kDecoyRank shaped (in_features, widest projection) so a wrong index reads wrong values but
// stays in bounds.
class TestAdapters {
 public:
  absl::Status Build(const GroupShape& shape, const std::vector<SlotSpec>& slots,
                     std::mt19937& rng) {
    num_slots_ = static_cast<int32_t>(slots.size());
    const int32_t in = shape.in_features;
    int32_t max_out = 0;
    for (const auto& [module, out] : shape.projections) max_out = std::max(max_out, out);
    const int64_t entries = int64_t{num_slots_} * kNumLayers * kNumLoraModules;
    pairs_.assign(entries, LoraPair{});
    for (int32_t slot = 0; slot < num_slots_; ++slot) {
      for (int32_t layer = 0; layer < kNumLayers; ++layer) {
        for (int32_t m = 0; m < kNumLoraModules; ++m) {
          LoraPair& pair = pairs_[LoraDescIndex(slot, kNumLayers, layer, m)];
          const int p = GroupIndex(shape, m);
          const bool in_group = layer == kLayer && p >= 0;
          pair.rank = in_group ? slots[slot].ranks[p] : kDecoyRank;
          pair.scale = in_group ? slots[slot].scale * (1.0f + 0.25f * p) : 3.0f;
          pair.in_features = in;
          pair.out_features = in_group ? shape.projections[p].second : max_out;
          if (pair.rank == 0) continue;
          pair.a = RandomBf16Values(int64_t{pair.rank} * in, 1.0f / std::sqrt(float(in)), rng);
          pair.b = RandomBf16Values(pair.out_features * pair.rank,
                                    1.0f / std::sqrt(float(pair.rank)), rng);
        }
      }
    }
    return UploadToDevice(shape.misaligned_rows);
  }

  const LoraModuleDesc* table() const { return table_.data(); }
  int32_t num_slots() const { return num_slots_; }

  // The group's projection p of `slot` at kLayer; null when the slot leaves it alone.
  const LoraPair* Pair(const GroupShape& shape, int32_t slot, int p) const {
    const int32_t module = static_cast<int32_t>(shape.projections[p].first);
    const LoraPair& pair = pairs_[LoraDescIndex(slot, kNumLayers, kLayer, module)];
    return pair.rank > 0 ? &pair : nullptr;
  }

 private:
  static int GroupIndex(const GroupShape& shape, int32_t module) {
    for (size_t p = 0; p < shape.projections.size(); ++p) {
      if (static_cast<int32_t>(shape.projections[p].first) == module) return static_cast<int>(p);
    }
    return -1;
  }

  // Lays every row out in the pool (16-byte aligned starts, 8 poisoned elements between rows),
  // then uploads the pool, the row-pointer arrays and the table.
  absl::Status UploadToDevice(bool misaligned_rows) {
    std::vector<int64_t> offsets;  // per entry: A rows, then B^T rows
    int64_t cursor = 0;
    auto place = [&](int64_t len, bool shift) {
      const int64_t at = cursor + (shift ? 1 : 0);
      offsets.push_back(at);
      cursor = RoundUp8(at + len) + 8;
    };
    for (const LoraPair& pair : pairs_) {
      for (int32_t r = 0; r < pair.rank; ++r) {
        place(pair.in_features, misaligned_rows && r == pair.rank - 1);
      }
      for (int32_t r = 0; r < pair.rank; ++r) {
        place(pair.out_features, misaligned_rows && r == pair.rank - 1);
      }
    }
    // A large value between rows: reading past a row's end shows in the result.
    std::vector<__nv_bfloat16> pool(cursor, __float2bfloat16(1000.0f));
    if (absl::Status s = pool_.Allocate(cursor); !s.ok()) return s;
    std::vector<const __nv_bfloat16*> row_ptrs;
    // Per entry: where its A and B^T row pointers start in row_ptrs.
    std::vector<std::pair<size_t, size_t>> first_ptr(pairs_.size());
    size_t next = 0;
    for (size_t i = 0; i < pairs_.size(); ++i) {
      const LoraPair& pair = pairs_[i];
      first_ptr[i].first = row_ptrs.size();
      for (int32_t r = 0; r < pair.rank; ++r) {
        const int64_t at = offsets[next++];
        for (int64_t k = 0; k < pair.in_features; ++k) {
          pool[at + k] = __float2bfloat16(pair.a[r * pair.in_features + k]);
        }
        row_ptrs.push_back(pool_.data() + at);
      }
      first_ptr[i].second = row_ptrs.size();
      for (int32_t r = 0; r < pair.rank; ++r) {
        const int64_t at = offsets[next++];
        for (int64_t o = 0; o < pair.out_features; ++o) {
          pool[at + o] = __float2bfloat16(pair.b[o * pair.rank + r]);  // column r of B
        }
        row_ptrs.push_back(pool_.data() + at);
      }
    }
    if (absl::Status s = pool_.CopyFromHost(pool.data(), cursor); !s.ok()) return s;
    if (absl::Status s = Upload(row_ptrs, &row_ptrs_); !s.ok()) return s;
    std::vector<LoraModuleDesc> table(pairs_.size());
    for (size_t i = 0; i < pairs_.size(); ++i) {
      table[i].rank = pairs_[i].rank;
      table[i].scale = pairs_[i].scale;
      if (pairs_[i].rank == 0) continue;
      table[i].a_rows = row_ptrs_.data() + first_ptr[i].first;
      table[i].b_rows = row_ptrs_.data() + first_ptr[i].second;
    }
    return Upload(table, &table_);
  }

  int32_t num_slots_ = 0;
  std::vector<LoraPair> pairs_;  // by LoraDescIndex
  DeviceBuffer<__nv_bfloat16> pool_;
  DeviceBuffer<const __nv_bfloat16*> row_ptrs_;
  DeviceBuffer<LoraModuleDesc> table_;
};

// Row 0 uses slot 1 (every projection adapted), every third row none, the others a random slot.
std::vector<int32_t> RandomRowSlots(int32_t num_rows, int32_t num_slots, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> slot(0, num_slots - 1);
  std::vector<int32_t> row_slot(num_rows);
  for (int32_t t = 0; t < num_rows; ++t) row_slot[t] = t % 3 == 1 ? -1 : slot(rng);
  row_slot[0] = 1;
  return row_slot;
}

// ---------------------------------------------------------------------------------------------
// One launch's data

// x, y and the scratch of one launch on the host and the device. y holds kGuard elements, then
// num_rows + kGuardRows rows of y_stride, then kGuard elements, all random and non-zero.
class LoraBatch {
 public:
  absl::Status Init(const GroupShape& shape, const TestAdapters& adapters,
                    std::vector<int32_t> row_slot, std::mt19937& rng) {
    shape_ = shape;
    num_rows_ = static_cast<int32_t>(row_slot.size());
    row_slot_ = std::move(row_slot);
    x_stride_ = shape.in_features + shape.x_pad;
    y_stride_ = YStride(shape);
    x_ = RandomBf16Values(num_rows_ * x_stride_, 1.0f, rng);
    y0_ = ToBf16(RandomBf16Values(2 * kGuard + (num_rows_ + kGuardRows) * y_stride_, 0.25f, rng));
    table_ = adapters.table();
    std::vector<float> scratch(2 * kGuard + ScratchSize(), PoisonF32());
    if (absl::Status s = Upload(ToBf16(x_), &d_x_); !s.ok()) return s;
    if (absl::Status s = Upload(y0_, &d_y_); !s.ok()) return s;
    if (absl::Status s = Upload(scratch, &d_scratch_); !s.ok()) return s;
    return SetRowSlots(row_slot_);
  }

  // Replaces the slots in place (the device address stays, as a captured graph needs).
  absl::Status SetRowSlots(const std::vector<int32_t>& row_slot) {
    row_slot_ = row_slot;
    if (d_row_slot_.size() == 0) return Upload(row_slot_, &d_row_slot_);
    return d_row_slot_.CopyFromHost(row_slot_.data(), num_rows_);
  }
  absl::Status ResetY() { return d_y_.CopyFromHost(y0_.data(), static_cast<int64_t>(y0_.size())); }

  LoraGroupArgs args() {
    LoraGroupArgs args;
    args.table = table_;
    args.num_layers = kNumLayers;
    args.layer = kLayer;
    args.num_projections = static_cast<int32_t>(shape_.projections.size());
    for (int p = 0; p < args.num_projections; ++p) {
      args.proj[p].module = static_cast<int32_t>(shape_.projections[p].first);
      args.proj[p].out_features = shape_.projections[p].second;
      args.proj[p].out_offset = ProjectionOffset(shape_, p);
    }
    args.in_features = shape_.in_features;
    args.x = d_x_.data();
    args.x_stride = x_stride_;
    args.y = d_y_.data() + kGuard;
    args.y_stride = y_stride_;
    args.num_rows = num_rows_;
    args.row_slot = d_row_slot_.data();
    args.max_rank = shape_.max_rank;
    args.shrink = d_scratch_.data() + kGuard;
    return args;
  }

  // Waits for the device, copies y back and checks the scratch guards.
  absl::Status Download(std::vector<__nv_bfloat16>* y) const {
    if (absl::Status s = CudaStatus(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); !s.ok()) {
      return s;
    }
    y->resize(y0_.size());
    if (absl::Status s = d_y_.CopyToHost(y->data(), static_cast<int64_t>(y->size())); !s.ok()) {
      return s;
    }
    std::vector<float> scratch(d_scratch_.size());
    if (absl::Status s = d_scratch_.CopyToHost(scratch.data(), d_scratch_.size()); !s.ok()) {
      return s;
    }
    for (int64_t i = 0; i < kGuard; ++i) {
      if (Bits(scratch[i]) != Bits(PoisonF32()) ||
          Bits(scratch[kGuard + ScratchSize() + i]) != Bits(PoisonF32())) {
        return absl::DataLossError(absl::StrCat("shrink scratch guard ", i, " overwritten"));
      }
    }
    return absl::OkStatus();
  }

  // y0 + the LoRA delta in fp32 for every element of the y buffer, from the CPU op, and whether
  // the launch may change the element.
  void Reference(const TestAdapters& adapters, std::vector<float>* want,
                 std::vector<bool>* changed) const {
    *want = ToFloat(y0_);
    changed->assign(y0_.size(), false);
    const int32_t in = shape_.in_features;
    std::vector<float> x(int64_t{num_rows_} * in);
    for (int32_t t = 0; t < num_rows_; ++t) {
      std::copy_n(x_.begin() + t * x_stride_, in, x.begin() + int64_t{t} * in);
    }
    for (size_t p = 0; p < shape_.projections.size(); ++p) {
      const int32_t out = shape_.projections[p].second;
      const int64_t offset = ProjectionOffset(shape_, static_cast<int>(p));
      std::vector<const LoraPair*> pairs(num_rows_, nullptr);
      for (int32_t t = 0; t < num_rows_; ++t) {
        if (row_slot_[t] >= 0) pairs[t] = adapters.Pair(shape_, row_slot_[t], static_cast<int>(p));
      }
      auto at = [&](int32_t t, int64_t o) { return kGuard + t * y_stride_ + offset + o; };
      std::vector<float> y(int64_t{num_rows_} * out);
      for (int32_t t = 0; t < num_rows_; ++t) {
        for (int64_t o = 0; o < out; ++o) y[int64_t{t} * out + o] = (*want)[at(t, o)];
      }
      AddLoraDelta(x.data(), in, pairs, out, y.data());
      for (int32_t t = 0; t < num_rows_; ++t) {
        if (pairs[t] == nullptr) continue;
        for (int64_t o = 0; o < out; ++o) {
          (*want)[at(t, o)] = y[int64_t{t} * out + o];
          (*changed)[at(t, o)] = true;
        }
      }
    }
  }

  const std::vector<__nv_bfloat16>& y0() const { return y0_; }
  int32_t num_rows() const { return num_rows_; }

 private:
  int64_t ScratchSize() const { return int64_t{num_rows_} * kMaxLoraGroup * shape_.max_rank; }

  GroupShape shape_;
  int32_t num_rows_ = 0;
  std::vector<int32_t> row_slot_;
  int64_t x_stride_ = 0;
  int64_t y_stride_ = 0;
  std::vector<float> x_;
  std::vector<__nv_bfloat16> y0_;
  const LoraModuleDesc* table_ = nullptr;
  DeviceBuffer<__nv_bfloat16> d_x_;
  DeviceBuffer<__nv_bfloat16> d_y_;
  DeviceBuffer<float> d_scratch_;
  DeviceBuffer<int32_t> d_row_slot_;
};

// Elements that may not change are bit-identical to y0; the others are finite, each within the
// bf16 rounding of the reference, and their deltas match the reference's by normalized error.
void ExpectMatches(const std::vector<__nv_bfloat16>& y0, const std::vector<__nv_bfloat16>& got,
                   const std::vector<float>& want, const std::vector<bool>& changed) {
  ASSERT_EQ(got.size(), y0.size());
  int64_t stray = 0, first_stray = -1, bad = 0, first_bad = -1;
  std::vector<float> got_delta, want_delta;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!changed[i]) {
      if (Bits(got[i]) != Bits(y0[i]) && stray++ == 0) first_stray = static_cast<int64_t>(i);
      continue;
    }
    const float g = __bfloat162float(got[i]);
    const float base = __bfloat162float(y0[i]);
    got_delta.push_back(g - base);
    want_delta.push_back(want[i] - base);
    const bool ok = std::isfinite(g) && std::fabs(double(g) - want[i]) <=
                                            kElementRelTol * std::fabs(want[i]) + kElementAbsTol;
    if (!ok && bad++ == 0) first_bad = static_cast<int64_t>(i);
  }
  EXPECT_EQ(stray, 0) << "elements outside the adapted rows and columns changed, first at "
                      << first_stray;
  EXPECT_EQ(bad, 0) << "elements off the reference, first at " << first_bad << ": got "
                    << (first_bad >= 0 ? __bfloat162float(got[first_bad]) : 0.0f) << ", want "
                    << (first_bad >= 0 ? want[first_bad] : 0.0f);
  ASSERT_FALSE(got_delta.empty()) << "the case adapts nothing";
  EXPECT_LT(NormalizedError(got_delta, want_delta), kMaxDeltaError);
}

void ExpectMatchesReference(const LoraBatch& batch, const TestAdapters& adapters,
                            const std::vector<__nv_bfloat16>& got) {
  std::vector<float> want;
  std::vector<bool> changed;
  batch.Reference(adapters, &want, &changed);
  ExpectMatches(batch.y0(), got, want, changed);
}

// ---------------------------------------------------------------------------------------------
// BGMV

TEST(LoraBgmvTest, MatchesCpuReference) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  for (const GroupShape& shape : Shapes()) {
    TestAdapters adapters;
    TESSERA_ASSERT_OK(adapters.Build(shape, MixedSlots(), rng));
    for (int32_t num_rows : {1, 7, 64, 257}) {
      SCOPED_TRACE(absl::StrCat(shape.name, ", ", num_rows, " rows"));
      LoraBatch batch;
      TESSERA_ASSERT_OK(
          batch.Init(shape, adapters, RandomRowSlots(num_rows, adapters.num_slots(), rng), rng));
      TESSERA_ASSERT_OK(LaunchLoraBgmv(batch.args(), nullptr));
      std::vector<__nv_bfloat16> got;
      TESSERA_ASSERT_OK(batch.Download(&got));
      ExpectMatchesReference(batch, adapters, got);
    }
  }
}

TEST(LoraBgmvTest, NoAdapterRowsLeaveYUntouched) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(32);
  const GroupShape shape = Shapes()[0];
  TestAdapters adapters;
  TESSERA_ASSERT_OK(adapters.Build(shape, MixedSlots(), rng));
  // Slot 3 adapts none of q, k, v; -1 is no adapter at all.
  LoraBatch batch;
  TESSERA_ASSERT_OK(batch.Init(shape, adapters, {-1, 3, -1, 3, 3}, rng));
  TESSERA_ASSERT_OK(LaunchLoraBgmv(batch.args(), nullptr));
  std::vector<__nv_bfloat16> got;
  TESSERA_ASSERT_OK(batch.Download(&got));
  ASSERT_EQ(got.size(), batch.y0().size());
  EXPECT_EQ(std::memcmp(got.data(), batch.y0().data(), got.size() * sizeof(got[0])), 0);
}

// Owns a stream and a captured graph.
struct CapturedGraph {
  CapturedGraph() = default;
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  ~CapturedGraph() {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
};

TEST(LoraBgmvTest, CapturedGraphFollowsNewSlots) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(33);
  const GroupShape shape = Shapes()[4];  // q|k|v, 64 wide
  TestAdapters adapters;
  TESSERA_ASSERT_OK(adapters.Build(shape, MixedSlots(), rng));
  const int32_t num_rows = 9;
  LoraBatch batch;
  TESSERA_ASSERT_OK(batch.Init(shape, adapters, std::vector<int32_t>(num_rows, -1), rng));

  CapturedGraph g;
  TESSERA_ASSERT_OK(CudaStatus(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking),
                               "cudaStreamCreateWithFlags"));
  TESSERA_ASSERT_OK(CudaStatus(cudaStreamBeginCapture(g.stream, cudaStreamCaptureModeThreadLocal),
                               "cudaStreamBeginCapture"));
  const absl::Status launched = LaunchLoraBgmv(batch.args(), g.stream);
  const cudaError_t ended = cudaStreamEndCapture(g.stream, &g.graph);
  TESSERA_ASSERT_OK(launched);
  TESSERA_ASSERT_OK(CudaStatus(ended, "cudaStreamEndCapture"));
  TESSERA_ASSERT_OK(CudaStatus(cudaGraphInstantiate(&g.exec, g.graph, 0), "cudaGraphInstantiate"));

  // Captured with no adapter on any row; replayed after the slots change in place.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    TESSERA_ASSERT_OK(batch.SetRowSlots(RandomRowSlots(num_rows, adapters.num_slots(), rng)));
    TESSERA_ASSERT_OK(batch.ResetY());
    TESSERA_ASSERT_OK(CudaStatus(cudaGraphLaunch(g.exec, g.stream), "cudaGraphLaunch"));
    TESSERA_ASSERT_OK(CudaStatus(cudaStreamSynchronize(g.stream), "cudaStreamSynchronize"));
    std::vector<__nv_bfloat16> got;
    TESSERA_ASSERT_OK(batch.Download(&got));
    ExpectMatchesReference(batch, adapters, got);
  }
}

// ---------------------------------------------------------------------------------------------
// SGMV

// Segments of 1, 5, 33, 130 and 2 rows with rows outside every segment before and after them;
// the last segment's slot adapts none of the group's modules.
struct SegmentPlan {
  int32_t num_rows;
  std::vector<int32_t> starts;
  std::vector<int32_t> slots;
  int32_t max_segment_rows;
};

std::vector<SegmentPlan> SegmentPlans() {
  return {
      {177, {3, 4, 9, 42, 172, 174}, {2, 0, 4, 1, 3}, 130},
      // A bound above the real length: the surplus blocks exit.
      {1, {0, 1}, {1}, 20},
  };
}

// The BGMV view of a plan: each row gets its segment's slot, rows outside get -1.
std::vector<int32_t> RowSlots(const SegmentPlan& plan) {
  std::vector<int32_t> row_slot(plan.num_rows, -1);
  for (size_t s = 0; s < plan.slots.size(); ++s) {
    for (int32_t t = plan.starts[s]; t < plan.starts[s + 1]; ++t) row_slot[t] = plan.slots[s];
  }
  return row_slot;
}

TEST(LoraSgmvTest, MatchesCpuReferenceAndBgmv) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(41);
  for (const GroupShape& shape : Shapes()) {
    TestAdapters adapters;
    TESSERA_ASSERT_OK(adapters.Build(shape, MixedSlots(), rng));
    for (const SegmentPlan& plan : SegmentPlans()) {
      SCOPED_TRACE(absl::StrCat(shape.name, ", ", plan.num_rows, " rows"));
      LoraBatch batch;
      TESSERA_ASSERT_OK(batch.Init(shape, adapters, RowSlots(plan), rng));
      DeviceBuffer<int32_t> starts, slots;
      TESSERA_ASSERT_OK(Upload(plan.starts, &starts));
      TESSERA_ASSERT_OK(Upload(plan.slots, &slots));
      LoraSegments segments;
      segments.starts = starts.data();
      segments.slots = slots.data();
      segments.num_segments = static_cast<int32_t>(plan.slots.size());
      segments.max_segment_rows = plan.max_segment_rows;

      TESSERA_ASSERT_OK(LaunchLoraSgmv(batch.args(), segments, nullptr));
      std::vector<__nv_bfloat16> sgmv;
      TESSERA_ASSERT_OK(batch.Download(&sgmv));
      ExpectMatchesReference(batch, adapters, sgmv);

      TESSERA_ASSERT_OK(batch.ResetY());
      TESSERA_ASSERT_OK(LaunchLoraBgmv(batch.args(), nullptr));
      std::vector<__nv_bfloat16> bgmv;
      TESSERA_ASSERT_OK(batch.Download(&bgmv));
      // Same data, same rows adapted: the two differ by summation order only.
      std::vector<float> bgmv_f = ToFloat(bgmv);
      std::vector<bool> changed;
      std::vector<float> unused;
      batch.Reference(adapters, &unused, &changed);
      ExpectMatches(batch.y0(), sgmv, bgmv_f, changed);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Argument checks (no device needed: they fail before any CUDA call)

// Plausible arguments with fake device addresses, never dereferenced by the failing checks.
LoraGroupArgs FakeArgs() {
  static int64_t fake[64];
  LoraGroupArgs args;
  args.table = reinterpret_cast<const LoraModuleDesc*>(fake);
  args.num_layers = 2;
  args.layer = 1;
  args.num_projections = 1;
  args.proj[0] = {static_cast<int32_t>(LoraModule::kQ), 64, 0};
  args.in_features = 64;
  args.x = reinterpret_cast<const __nv_bfloat16*>(fake);
  args.x_stride = 64;
  args.y = reinterpret_cast<__nv_bfloat16*>(fake + 16);
  args.y_stride = 64;
  args.num_rows = 4;
  args.row_slot = reinterpret_cast<const int32_t*>(fake + 32);
  args.max_rank = 16;
  args.shrink = reinterpret_cast<float*>(fake + 48);
  return args;
}

LoraSegments FakeSegments() {
  static int32_t fake[8];
  LoraSegments segments;
  segments.starts = fake;
  segments.slots = fake + 4;
  segments.num_segments = 1;
  segments.max_segment_rows = 4;
  return segments;
}

TEST(LoraKernelArgsTest, RejectsInvalidArgumentsBeforeAnyLaunch) {
  const std::vector<std::pair<std::string, std::function<void(LoraGroupArgs&)>>> cases = {
      {"no projections", [](LoraGroupArgs& a) { a.num_projections = 0; }},
      {"four projections", [](LoraGroupArgs& a) { a.num_projections = 4; }},
      {"negative rows", [](LoraGroupArgs& a) { a.num_rows = -1; }},
      {"zero in_features", [](LoraGroupArgs& a) { a.in_features = 0; }},
      {"negative in_features", [](LoraGroupArgs& a) { a.in_features = -8; }},
      {"x_stride below in_features", [](LoraGroupArgs& a) { a.x_stride = 32; }},
      {"zero max_rank", [](LoraGroupArgs& a) { a.max_rank = 0; }},
      {"max_rank too large", [](LoraGroupArgs& a) { a.max_rank = kMaxLoraKernelRank + 1; }},
      {"no layers", [](LoraGroupArgs& a) { a.num_layers = 0; }},
      {"negative layer", [](LoraGroupArgs& a) { a.layer = -1; }},
      {"layer past the end", [](LoraGroupArgs& a) { a.layer = 2; }},
      {"negative module", [](LoraGroupArgs& a) { a.proj[0].module = -1; }},
      {"module past the end", [](LoraGroupArgs& a) { a.proj[0].module = kNumLoraModules; }},
      {"zero out_features", [](LoraGroupArgs& a) { a.proj[0].out_features = 0; }},
      {"negative out_features", [](LoraGroupArgs& a) { a.proj[0].out_features = -64; }},
      {"negative out_offset", [](LoraGroupArgs& a) { a.proj[0].out_offset = -1; }},
      {"projection past y_stride", [](LoraGroupArgs& a) { a.proj[0].out_offset = 8; }},
      {"overlapping projections",
       [](LoraGroupArgs& a) {
         a.y_stride = 128;
         a.num_projections = 2;
         a.proj[1] = {static_cast<int32_t>(LoraModule::kK), 64, 32};
       }},
      {"null table", [](LoraGroupArgs& a) { a.table = nullptr; }},
      {"null x", [](LoraGroupArgs& a) { a.x = nullptr; }},
      {"null y", [](LoraGroupArgs& a) { a.y = nullptr; }},
      {"null shrink", [](LoraGroupArgs& a) { a.shrink = nullptr; }},
  };
  for (const auto& [name, mutate] : cases) {
    SCOPED_TRACE(name);
    LoraGroupArgs args = FakeArgs();
    mutate(args);
    EXPECT_EQ(LaunchLoraBgmv(args, nullptr).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(LaunchLoraSgmv(args, FakeSegments(), nullptr).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(LoraKernelArgsTest, BgmvNeedsRowSlots) {
  LoraGroupArgs args = FakeArgs();
  args.row_slot = nullptr;
  EXPECT_EQ(LaunchLoraBgmv(args, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoraKernelArgsTest, SgmvRejectsInvalidSegments) {
  const std::vector<std::pair<std::string, std::function<void(LoraSegments&)>>> cases = {
      {"negative segments", [](LoraSegments& s) { s.num_segments = -1; }},
      {"negative max rows", [](LoraSegments& s) { s.max_segment_rows = -1; }},
      {"null starts", [](LoraSegments& s) { s.starts = nullptr; }},
      {"null slots", [](LoraSegments& s) { s.slots = nullptr; }},
  };
  for (const auto& [name, mutate] : cases) {
    SCOPED_TRACE(name);
    LoraSegments segments = FakeSegments();
    mutate(segments);
    EXPECT_EQ(LaunchLoraSgmv(FakeArgs(), segments, nullptr).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(LoraKernelArgsTest, EmptyBatchesLaunchNothing) {
  // With no rows (or no segments) there is nothing to launch, and the null pointers are fine.
  LoraGroupArgs args = FakeArgs();
  args.num_rows = 0;
  args.table = nullptr;
  args.x = nullptr;
  args.y = nullptr;
  args.row_slot = nullptr;
  args.shrink = nullptr;
  EXPECT_TRUE(LaunchLoraBgmv(args, nullptr).ok());
  EXPECT_TRUE(LaunchLoraSgmv(args, LoraSegments{}, nullptr).ok());
  LoraSegments none = FakeSegments();
  none.num_segments = 0;
  EXPECT_TRUE(LaunchLoraSgmv(FakeArgs(), none, nullptr).ok());
}

}  // namespace
}  // namespace tessera
