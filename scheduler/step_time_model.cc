#include "scheduler/step_time_model.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {
namespace {

constexpr const char* kFeatureNames[StepTimeModel::kNumFeatures] = {
    "constant", "prefill_token", "decode_sequence", "attended_token", "adapter_row"};

std::array<double, StepTimeModel::kNumFeatures> ToArray(const StepTimeCoefficients& c) {
  return {c.constant, c.per_prefill_token, c.per_decode_sequence, c.per_attended_token,
          c.per_adapter_row};
}

StepTimeCoefficients FromArray(const std::array<double, StepTimeModel::kNumFeatures>& a) {
  return {a[0], a[1], a[2], a[3], a[4]};
}

// Solves the symmetric positive definite system a x = b (n x n, row-major in `a`) by Cholesky.
// False when `a` is not numerically positive definite.
bool SolveSpd(int n, double* a, double* b) {
  constexpr int kN = StepTimeModel::kNumFeatures;
  double l[kN][kN] = {};
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) s -= l[i][k] * l[j][k];
      if (i == j) {
        if (!(s > 1e-12 * std::abs(a[i * n + i]))) return false;
        l[i][i] = std::sqrt(s);
      } else {
        l[i][j] = s / l[j][j];
      }
    }
  }
  for (int i = 0; i < n; ++i) {  // l y = b
    for (int k = 0; k < i; ++k) b[i] -= l[i][k] * b[k];
    b[i] /= l[i][i];
  }
  for (int i = n - 1; i >= 0; --i) {  // l^T x = y
    for (int k = i + 1; k < n; ++k) b[i] -= l[k][i] * b[k];
    b[i] /= l[i][i];
  }
  return true;
}

}  // namespace

double StepTimeCoefficients::Predict(const StepShape& s) const {
  return constant + per_prefill_token * static_cast<double>(s.prefill_tokens) +
         per_decode_sequence * static_cast<double>(s.decode_sequences) +
         per_attended_token * static_cast<double>(s.attended_tokens) +
         per_adapter_row * static_cast<double>(s.adapter_rows);
}

std::string StepTimeCoefficients::DebugString() const {
  const auto a = ToArray(*this);
  std::string out;
  for (int i = 0; i < StepTimeModel::kNumFeatures; ++i) {
    absl::StrAppend(&out, i ? " " : "", kFeatureNames[i], "=",
                    absl::StrFormat("%.4gus", a[i] * 1e6));
  }
  return out;
}

StepTimeModel::StepTimeModel() : StepTimeModel(Options()) {}

absl::Status StepTimeModel::Validate(const Options& options) {
  if (!(options.decay > 0 && options.decay <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("step-time model: decay must be in (0, 1], got ", options.decay));
  }
  if (!(options.ridge >= 0 && std::isfinite(options.ridge))) {
    return absl::InvalidArgumentError(
        absl::StrCat("step-time model: ridge must be finite and >= 0, got ", options.ridge));
  }
  const auto prior = ToArray(options.prior);
  for (int i = 0; i < kNumFeatures; ++i) {
    if (!(prior[i] >= 0 && std::isfinite(prior[i]))) {
      return absl::InvalidArgumentError(absl::StrCat("step-time model: prior coefficient ",
                                                     kFeatureNames[i],
                                                     " must be finite and >= 0, got ", prior[i]));
    }
  }
  return absl::OkStatus();
}

StepTimeModel::StepTimeModel(const Options& options)
    : options_(options), coefficients_(options.prior), error_(options.decay) {}

absl::StatusOr<StepTimeModel> StepTimeModel::Create(const Options& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  return StepTimeModel(options);
}

StepTimeModel::Vector StepTimeModel::Features(const StepShape& s) {
  return {1.0, static_cast<double>(s.prefill_tokens), static_cast<double>(s.decode_sequences),
          static_cast<double>(s.attended_tokens), static_cast<double>(s.adapter_rows)};
}

absl::Status StepTimeModel::CheckSample(const StepShape& s, double seconds) {
  if (s.prefill_tokens < 0 || s.decode_sequences < 0 || s.attended_tokens < 0 ||
      s.adapter_rows < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step-time model: a step shape has a negative count (prefill_tokens=", s.prefill_tokens,
        " decode_sequences=", s.decode_sequences, " attended_tokens=", s.attended_tokens,
        " adapter_rows=", s.adapter_rows, ")"));
  }
  if (!(seconds >= 0 && std::isfinite(seconds))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step-time model: a measured step time must be finite and >= 0, got ", seconds));
  }
  return absl::OkStatus();
}

void StepTimeModel::Accumulate(const StepShape& shape, double seconds, double decay) {
  const Vector x = Features(shape);
  for (int i = 0; i < kNumFeatures; ++i) {
    for (int j = 0; j < kNumFeatures; ++j) gram_[i][j] = decay * gram_[i][j] + x[i] * x[j];
    moment_[i] = decay * moment_[i] + x[i] * seconds;
  }
  weight_sum_ = decay * weight_sum_ + 1;
}

absl::Status StepTimeModel::Seed(absl::Span<const StepSample> samples) {
  for (const StepSample& s : samples) {
    if (absl::Status st = CheckSample(s.shape, s.seconds); !st.ok()) return st;
  }
  gram_ = {};
  moment_ = {};
  weight_sum_ = 0;
  error_.Reset();
  for (const StepSample& s : samples) Accumulate(s.shape, s.seconds, 1.0);
  Refit();
  return absl::OkStatus();
}

absl::Status StepTimeModel::Observe(const StepShape& shape, double seconds) {
  if (absl::Status st = CheckSample(shape, seconds); !st.ok()) return st;
  error_.Observe(Predict(shape), seconds);  // what the fit predicted before learning this step
  Accumulate(shape, seconds, options_.decay);
  Refit();
  return absl::OkStatus();
}

// Minimizes sum w (y - c.x)^2 + sum_j r_j (c_j - prior_j)^2 over c >= 0, r_j = ridge * G_jj.
// The objective is a convex quadratic; its constrained minimum is the unconstrained minimum
// restricted to some support set, so trying every support of the free features and keeping the
// best feasible one is exact (31 systems of at most 5 unknowns).
void StepTimeModel::Refit() {
  const Vector prior = ToArray(options_.prior);
  Vector c = prior;
  int free_idx[kNumFeatures];
  int num_free = 0;
  for (int j = 0; j < kNumFeatures; ++j) {
    if (gram_[j][j] > 0) free_idx[num_free++] = j;
  }
  // Normal equations on the free features, fixed ones moved to the right-hand side, scaled so
  // that the matrix has a unit diagonal (features differ by orders of magnitude).
  double h[kNumFeatures][kNumFeatures], g[kNumFeatures], scale[kNumFeatures];
  for (int a = 0; a < num_free; ++a) {
    const int i = free_idx[a];
    const double r = options_.ridge * gram_[i][i];
    scale[a] = std::sqrt(gram_[i][i] + r);
    g[a] = moment_[i] + r * prior[i];
    for (int j = 0; j < kNumFeatures; ++j) {
      if (gram_[j][j] <= 0) g[a] -= gram_[i][j] * prior[j];
    }
  }
  for (int a = 0; a < num_free; ++a) {
    const int i = free_idx[a];
    for (int b = 0; b < num_free; ++b) {
      const int j = free_idx[b];
      const double v = gram_[i][j] + (a == b ? options_.ridge * gram_[i][i] : 0.0);
      h[a][b] = v / (scale[a] * scale[b]);
    }
    g[a] /= scale[a];
  }
  double best_objective = 0;  // the empty support: every free coefficient 0
  Vector best_z{};
  for (unsigned mask = 1; mask < (1u << num_free); ++mask) {
    int idx[kNumFeatures];
    int n = 0;
    for (int a = 0; a < num_free; ++a) {
      if (mask & (1u << a)) idx[n++] = a;
    }
    double m[kNumFeatures * kNumFeatures], z[kNumFeatures];
    for (int p = 0; p < n; ++p) {
      z[p] = g[idx[p]];
      for (int q = 0; q < n; ++q) m[p * n + q] = h[idx[p]][idx[q]];
    }
    if (!SolveSpd(n, m, z)) continue;
    bool feasible = true;
    double objective = 0;  // 0.5 z'Hz - g'z at the solution = -0.5 g'z
    for (int p = 0; p < n; ++p) {
      feasible = feasible && z[p] >= 0;
      objective -= 0.5 * g[idx[p]] * z[p];
    }
    if (feasible && objective < best_objective) {
      best_objective = objective;
      best_z = {};
      for (int p = 0; p < n; ++p) best_z[idx[p]] = z[p];
    }
  }
  for (int a = 0; a < num_free; ++a) c[free_idx[a]] = best_z[a] / scale[a];
  coefficients_ = FromArray(c);
}

int64_t StepTimeModel::MaxTokens(absl::FunctionRef<StepShape(int64_t)> shape_of,
                                 double limit_seconds, int64_t cap) const {
  if (!(Predict(shape_of(0)) <= limit_seconds)) return -1;
  if (cap <= 0) return 0;
  if (Predict(shape_of(cap)) <= limit_seconds) return cap;
  // Invariant: Predict(shape_of(lo)) <= limit < Predict(shape_of(hi)).
  int64_t lo = 0, hi = cap;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (Predict(shape_of(mid)) <= limit_seconds) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

int64_t StepTimeModel::MaxPrefillTokens(const StepShape& base, double limit_seconds, int64_t cap,
                                        int64_t cached, bool adapter) const {
  return MaxTokens(
      [&](int64_t t) {
        StepShape s = base;
        s.prefill_tokens += t;
        s.attended_tokens += StepShape::AttendedByChunk(cached, t);
        if (adapter) s.adapter_rows += t;
        return s;
      },
      limit_seconds, cap);
}

}  // namespace tessera
