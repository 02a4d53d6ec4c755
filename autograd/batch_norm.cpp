// batch_norm: forward and backward kernels and the tape binding.
//
// Forward, for one channel with its n = N * S values x_i (S = H * W):
//   mu = (1/n) sum_i x_i,   var = (1/n) sum_i (x_i - mu)^2   (training; the running stats in eval)
//   invstd = 1 / sqrt(var + eps),   xhat_i = (x_i - mu) * invstd,   y_i = w * xhat_i + b
//
// Backward, with dy_i = dL/dy_i:
//   db = sum_i dy_i,   dw = sum_i dy_i * xhat_i
//   Evaluation (mu, var constants):  dx_i = w * invstd * dy_i
//   Training, mu and var depend on every x_j. With g_j = w * dy_j = dL/dxhat_j:
//     d mu / d x_i = 1/n,   d var / d x_i = (2/n) (x_i - mu)   (the sum_j (x_j - mu) term is 0)
//     d invstd / d x_i = -1/2 invstd^3 * (2/n) (x_i - mu) = -invstd^2 xhat_i / n
//     d xhat_j / d x_i = invstd (delta_ij - 1/n) + (x_j - mu) * d invstd / d x_i
//                      = invstd (delta_ij - 1/n) - invstd xhat_j xhat_i / n
//     dx_i = sum_j g_j d xhat_j / d x_i = invstd/n (n g_i - sum_j g_j - xhat_i sum_j g_j xhat_j)
//          = w invstd / n * (n dy_i - db - xhat_i * dw)
//
// Numerics. Each channel is reduced by one task (a task owns a group of channels), over its
// planes in image order, with arithmetic that does not depend on the grouping: results are
// bitwise identical at any thread count. Values are centred on a shift k near the mean before
// they are summed (sums of d and d^2, d = x - k, in one read), so an input of mean 1e4 and std
// 1e-2 loses nothing to cancellation; if the shift turns out far from the mean (relative to the
// spread), the sums are redone around the mean (rare). Sums run in SIMD lanes of T, added into
// double lanes every kFlushBlocks blocks, and the output is formed as (x - k) * a + b' with k the
// mean rounded to T, never as x * a + b' (which cancels when |mean| >> std).
#include "tapegrad/autograd/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

// The elementwise loops (normalise, dx) are compiled for the x86-64 baseline and for AVX2, picked
// when the library loads; both do the same operations per element (no FMA), so the same results.
// GCC only: clang (up to at least 17) rejects target_clones on templates, so it gets the baseline.
// Not under ThreadSanitizer: the clones' ifunc resolvers run before its runtime starts and crash.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__) && \
    !defined(__SANITIZE_THREAD__)
#define TAPEGRAD_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TAPEGRAD_AVX2_CLONES
#endif

// ---- per-channel sums in SIMD lanes ----

// 16-byte vectors of T (one SSE register, the x86-64 baseline), via the GCC/Clang vector
// extension: the lanes, and so the order of the sums, are fixed by this source, not by the
// instruction set targeted.
template <class T>
struct Simd {
  typedef T type __attribute__((vector_size(16)));
};
template <class T>
using Vec = typename Simd<T>::type;
using VecD = Simd<double>::type;

template <class T>
constexpr std::int64_t kLanes = 16 / sizeof(T);  // elements per vector
template <class T>
constexpr std::int64_t kBlock = 4 * kLanes<T>;  // elements per step: 4 independent accumulators
// Blocks summed in T before the lanes are added into double: each T lane then holds at most 16
// terms (relative rounding error <= 16 * 2^-24 in float), and the flush costs ~10% of a pass.
constexpr std::int64_t kFlushBlocks = 16;

template <class T>
Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
Vec<T> splat(T value) {
  return Vec<T>{} + value;
}

struct Sums {
  double u = 0.0;
  double v = 0.0;
};

// The double lanes of one sum: four vectors of T widened.
template <class T>
struct WideLanes {
  static constexpr int kCount = static_cast<int>(kBlock<T> / 2);
  VecD lanes[kCount] = {};

  void add(Vec<T> a0, Vec<T> a1, Vec<T> a2, Vec<T> a3) {
    if constexpr (sizeof(T) == 4) {
      const Vec<T> a[4] = {a0, a1, a2, a3};
      for (int j = 0; j < 4; ++j) {
        lanes[2 * j] += VecD{a[j][0], a[j][1]};
        lanes[2 * j + 1] += VecD{a[j][2], a[j][3]};
      }
    } else {
      lanes[0] += a0;
      lanes[1] += a1;
      lanes[2] += a2;
      lanes[3] += a3;
    }
  }
  double total() const {
    double s = 0.0;
    for (const VecD& l : lanes) s += l[0] + l[1];
    return s;
  }
};

// The running sums (u, v) of one channel: kBlock lanes of T per sum, added into double lanes
// every kFlushBlocks blocks, and a double tail for the values past each plane's last block.
template <class T>
struct ChannelSums {
  Vec<T> u[4] = {}, v[4] = {};
  WideLanes<T> wide_u, wide_v;
  double tail_u = 0.0, tail_v = 0.0;
  std::int64_t pending = 0;  // blocks in the T lanes since the last flush

  // Adds the S values of the plane at flat offset base: term(p, kv) gives the (u, v) vectors of
  // the kLanes values at p, term_one(p, k) the (u, v) of the value at p, in double.
  template <class Term, class TermOne>
  void add_plane(std::int64_t base, std::int64_t S, T k, Term term, TermOne term_one) {
    constexpr std::int64_t W = kLanes<T>, B = kBlock<T>;
    const Vec<T> kv = splat(k);
    const std::int64_t body = S - S % B;
    Vec<T> u0 = u[0], u1 = u[1], u2 = u[2], u3 = u[3];
    Vec<T> v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];
    std::int64_t i = 0;
    while (i < body) {
      const std::int64_t stop = std::min(body, i + (kFlushBlocks - pending) * B);
      pending += (stop - i) / B;
      for (; i < stop; i += B) {
        const auto [a0, b0] = term(base + i, kv);
        const auto [a1, b1] = term(base + i + W, kv);
        const auto [a2, b2] = term(base + i + 2 * W, kv);
        const auto [a3, b3] = term(base + i + 3 * W, kv);
        u0 += a0;
        u1 += a1;
        u2 += a2;
        u3 += a3;
        v0 += b0;
        v1 += b1;
        v2 += b2;
        v3 += b3;
      }
      if (pending == kFlushBlocks) {
        wide_u.add(u0, u1, u2, u3);
        wide_v.add(v0, v1, v2, v3);
        u0 = u1 = u2 = u3 = v0 = v1 = v2 = v3 = Vec<T>{};
        pending = 0;
      }
    }
    u[0] = u0, u[1] = u1, u[2] = u2, u[3] = u3;
    v[0] = v0, v[1] = v1, v[2] = v2, v[3] = v3;
    for (; i < S; ++i) {
      const auto [a, b] = term_one(base + i, k);
      tail_u += a;
      tail_v += b;
    }
  }

  Sums total() {
    wide_u.add(u[0], u[1], u[2], u[3]);
    wide_v.add(v[0], v[1], v[2], v[3]);
    return {wide_u.total() + tail_u, wide_v.total() + tail_v};
  }
};

// Sums (u, v) over each channel c in [c0, c1) of an (N, C, S) tensor, the values of channel c
// centred on shift[c - c0] by the terms (see ChannelSums::add_plane). The group is read image by
// image, one contiguous run of (c1 - c0) planes per image; each channel's sums still see its
// planes in image order, so they do not depend on the group.
template <class T, class Term, class TermOne>
void group_sums(Sums* out, const T* shift, std::int64_t N, std::int64_t C, std::int64_t S,
                std::int64_t c0, std::int64_t c1, Term term, TermOne term_one) {
  std::vector<ChannelSums<T>> sums(static_cast<std::size_t>(c1 - c0));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = c0; c < c1; ++c)
      sums[c - c0].add_plane((n * C + c) * S, S, shift[c - c0], term, term_one);
  for (std::int64_t c = c0; c < c1; ++c) out[c - c0] = sums[c - c0].total();
}

// (sum d, sum d^2) with d = x - shift[c - c0], for each channel c in [c0, c1) of x (N, C, S).
template <class T>
void shifted_moments(Sums* out, const T* shift, const T* x, std::int64_t N, std::int64_t C,
                     std::int64_t S, std::int64_t c0, std::int64_t c1) {
  group_sums<T>(
      out, shift, N, C, S, c0, c1,
      [&](std::int64_t p, Vec<T> kv) {
        const Vec<T> d = load(x + p) - kv;
        return std::pair{d, d * d};
      },
      [&](std::int64_t p, T k) {
        const double d = x[p] - k;
        return std::pair{d, d * d};
      });
}

// Mean and biased variance of each channel c in [c0, c1) of x (N, C, S), N * S > 0.
template <class T>
void batch_stats(double* mean, double* var, const T* x, std::int64_t N, std::int64_t C,
                 std::int64_t S, std::int64_t c0, std::int64_t c1) {
  const double count = static_cast<double>(N * S);
  const std::int64_t G = c1 - c0;
  // The shifts: the mean of the first (up to) 256 values of each channel, around the first one.
  std::vector<T> shift(static_cast<std::size_t>(G));
  for (std::int64_t c = c0; c < c1; ++c) {
    const T* first = x + c * S;
    const std::int64_t sample = std::min<std::int64_t>(S, 256);
    double sum = 0.0;
    for (std::int64_t i = 0; i < sample; ++i) sum += first[i] - first[0];
    shift[c - c0] = static_cast<T>(first[0] + sum / static_cast<double>(sample));
  }
  std::vector<Sums> sums(static_cast<std::size_t>(G));
  shifted_moments(sums.data(), shift.data(), x, N, C, S, c0, c1);
  for (std::int64_t c = c0; c < c1; ++c) {
    T k = shift[c - c0];
    Sums s = sums[c - c0];
    double d = s.u / count, v = s.v / count - d * d;
    // NOTE: sum d^2 / n is var + d^2, so its rounding error is relative to that; when the shift
    // is further than one standard deviation from the mean, redo the sums around the mean.
    if (d * d > v) {
      k = static_cast<T>(k + d);
      shifted_moments(&s, &k, x, N, C, S, c, c + 1);
      d = s.u / count;
      v = s.v / count - d * d;
    }
    mean[c] = k + d;
    var[c] = std::max(v, 0.0);
  }
}

// Channels per task. A task reads its channels image by image, so each image gives one
// contiguous run of G planes; runs of ~512 KB keep the hardware prefetchers streaming when the
// tensor comes from memory, where one plane of a few KB at a time does not (2x slower at
// (8, 256, 56, 56)). At most a quarter of a thread's share of the channels, for balance, and 64
// (the group's running sums stay in L1).
// NOTE: results do not depend on G (see group_sums), so it may depend on the thread count.
std::int64_t channels_per_task(std::int64_t C, std::int64_t S, std::size_t element_size) {
  constexpr std::int64_t kRunBytes = std::int64_t{512} << 10;
  const std::int64_t plane = std::max<std::int64_t>(1, S * static_cast<std::int64_t>(element_size));
  const std::int64_t balanced = std::clamp<std::int64_t>(C / (4 * get_num_threads()), 1, 64);
  return std::clamp<std::int64_t>((kRunBytes + plane - 1) / plane, 1, balanced);
}

// y = (x - k) * a + b for one channel: k the mean rounded to T (x - k is exact near the mean,
// where x * a + b' would cancel), a = weight * invstd, b = bias - (mean - k) * a.
template <class T>
struct Normalize {
  T k, a, b;

  Normalize(double mean, double invstd, const T* weight, const T* bias, std::int64_t c)
      : k(static_cast<T>(mean)) {
    const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
    a = static_cast<T>(scale);
    b = static_cast<T>((bias ? static_cast<double>(bias[c]) : 0.0) - (mean - k) * scale);
  }
  TAPEGRAD_AVX2_CLONES void apply(T* y, const T* x, std::int64_t S) const {
    for (std::int64_t i = 0; i < S; ++i) y[i] = (x[i] - k) * a + b;
  }
};

// One plane of dx: dy * g (x null, evaluation) or dy * g + (x - k) * h + e (training).
template <class T>
TAPEGRAD_AVX2_CLONES void dx_plane(T* dx, const T* dy, const T* x, std::int64_t S, T g, T h, T k,
                                   T e) {
  if (!x) {
    for (std::int64_t i = 0; i < S; ++i) dx[i] = dy[i] * g;
    return;
  }
  for (std::int64_t i = 0; i < S; ++i) dx[i] = dy[i] * g + (x[i] - k) * h + e;
}

// ---- kernels ----

// x, y (N, C, S); weight, bias (C) or null (then 1 and 0). mean, var (C): written with the batch
// statistics (var biased) when training, read (the running statistics) otherwise. invstd (C) is
// written. Training: one task per group of channels, statistics then the output while the group
// is in cache. Evaluation: the output in memory order.
template <class T>
void batch_norm_forward_kernel(T* y, double* mean, double* var, double* invstd, const T* x,
                               const T* weight, const T* bias, std::int64_t N, std::int64_t C,
                               std::int64_t S, bool training, double eps) {
  if (!training) {
    std::vector<Normalize<T>> norm;
    norm.reserve(static_cast<std::size_t>(C));
    for (std::int64_t c = 0; c < C; ++c) {
      invstd[c] = 1.0 / std::sqrt(var[c] + eps);
      norm.emplace_back(mean[c], invstd[c], weight, bias, c);
    }
    const std::int64_t grain =
        std::max<std::int64_t>(1, (std::int64_t{64} << 10) / (S * sizeof(T) + 1));
    parallel_for(0, N * C, grain, [&](std::int64_t p0, std::int64_t p1) {
      for (std::int64_t p = p0; p < p1; ++p) norm[p % C].apply(y + p * S, x + p * S, S);
    });
    return;
  }
  parallel_for(0, C, channels_per_task(C, S, sizeof(T)), [&](std::int64_t c0, std::int64_t c1) {
    batch_stats(mean, var, x, N, C, S, c0, c1);
    std::vector<Normalize<T>> norm;
    norm.reserve(static_cast<std::size_t>(c1 - c0));
    for (std::int64_t c = c0; c < c1; ++c) {
      invstd[c] = 1.0 / std::sqrt(var[c] + eps);
      norm.emplace_back(mean[c], invstd[c], weight, bias, c);
    }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = c0; c < c1; ++c)
        norm[c - c0].apply(y + (n * C + c) * S, x + (n * C + c) * S, S);
  });
}

// dy, x, dx (N, C, S); weight (C) or null (1); mean, invstd (C) from the forward. dx may be null
// (not needed); sum_dy, sum_dy_xhat (C) are written when non-null (they are db and dw; training
// needs them for dx too). One task per group of channels: the two sums in one read of dy and x,
// then dx, image by image.
template <class T>
void batch_norm_backward_kernel(T* dx, double* sum_dy, double* sum_dy_xhat, const T* dy, const T* x,
                                const T* weight, const double* mean, const double* invstd,
                                std::int64_t N, std::int64_t C, std::int64_t S, bool training) {
  const double count = static_cast<double>(N * S);
  parallel_for(0, C, channels_per_task(C, S, sizeof(T)), [&](std::int64_t c0, std::int64_t c1) {
    const std::size_t G = static_cast<std::size_t>(c1 - c0);
    std::vector<T> k(G);  // x - mean = (x - k) - (mean - k)
    for (std::int64_t c = c0; c < c1; ++c) k[c - c0] = static_cast<T>(mean[c]);
    if (sum_dy) {
      std::vector<Sums> sums(G);
      group_sums<T>(
          sums.data(), k.data(), N, C, S, c0, c1,
          [&](std::int64_t p, Vec<T> kv) {
            const Vec<T> g = load(dy + p);
            return std::pair{g, g * (load(x + p) - kv)};
          },
          [&](std::int64_t p, T kc) {
            const double g = dy[p];
            return std::pair{g, g * static_cast<double>(x[p] - kc)};
          });
      for (std::int64_t c = c0; c < c1; ++c) {
        const Sums& s = sums[c - c0];
        sum_dy[c] = s.u;
        sum_dy_xhat[c] = (s.v - (mean[c] - k[c - c0]) * s.u) * invstd[c];
      }
    }
    if (!dx) return;
    // dx = g dy + h (x - k) + e  with  g = w invstd, and in training
    //   h = -g invstd dw / count,  e = -h (mean - k) - g db / count.
    struct Coefficients {
      T g, h, e;
    };
    std::vector<Coefficients> coef(G);
    for (std::int64_t c = c0; c < c1; ++c) {
      const double g = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd[c];
      const double h = training ? -g * invstd[c] * sum_dy_xhat[c] / count : 0.0;
      const double e = training ? -h * (mean[c] - k[c - c0]) - g * sum_dy[c] / count : 0.0;
      coef[c - c0] = {static_cast<T>(g), static_cast<T>(h), static_cast<T>(e)};
    }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t base = (n * C + c) * S;
        const Coefficients cf = coef[c - c0];
        dx_plane(dx + base, dy + base, training ? x + base : nullptr, S, cf.g, cf.h, k[c - c0],
                 cf.e);
      }
  });
}

// ---- argument checks ----

std::int64_t inner_size(const Shape& shape) {
  std::int64_t S = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) S *= shape[d];
  return S;
}

void check_channel_tensor(const Tensor& t, const char* what, const Tensor& input) {
  if (!t.defined()) return;
  const std::int64_t C = input.size(1);
  check(t.shape() == Shape{C} && t.dtype() == input.dtype(),
        "batch_norm: expected {} of shape [{}] and dtype {} (input {} {}), got {} {}", what, C,
        input.dtype(), input.shape(), input.dtype(), t.shape(), t.dtype());
}

void check_input(const Tensor& input, const char* what) {
  check(input.defined(), "batch_norm: expected a defined {} tensor, got an undefined one", what);
  check(input.dim() >= 2, "batch_norm: expected {} (N, C, *) with at least 2 dimensions, got {}",
        what, input.shape());
  check(is_floating(input.dtype()), "batch_norm: expected a float32 or float64 {}, got {} {}", what,
        input.dtype(), input.shape());
}

Tensor channel_vector(std::int64_t C) {
  return empty({C}, kFloat64);
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// A (C) float64 tensor converted to `dtype`.
Tensor to_dtype(const Tensor& t, Dtype dtype) {
  return dtype == kFloat64 ? t : copy_data(t, dtype);
}

}  // namespace

BatchNormForward batch_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    bool training, double eps) {
  check_input(input, "input");
  check_channel_tensor(weight, "weight", input);
  check_channel_tensor(bias, "bias", input);
  check_channel_tensor(running_mean, "running_mean", input);
  check_channel_tensor(running_var, "running_var", input);
  check(std::isfinite(eps) && eps >= 0.0, "batch_norm: expected a finite eps >= 0, got {}", eps);
  const std::int64_t N = input.size(0), C = input.size(1), S = inner_size(input.shape());
  check(!training || N * S > 1,
        "batch_norm: expected more than 1 value per channel when training, got input {}",
        input.shape());
  check(training || (running_mean.defined() && running_var.defined()),
        "batch_norm: expected running_mean and running_var in evaluation mode, got {} and {}",
        running_mean.defined() ? "a tensor" : "none", running_var.defined() ? "a tensor" : "none");

  BatchNormForward f{empty(input.shape(), input.dtype()), channel_vector(C), channel_vector(C),
                     channel_vector(C)};
  if (!training) {
    f.mean = copy_data(running_mean, kFloat64);
    f.var = copy_data(running_var, kFloat64);
  }
  dispatch_floating(input.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    batch_norm_forward_kernel<T>(f.output.data<T>(), f.mean.data<double>(), f.var.data<double>(),
                                 f.invstd.data<double>(), input.data<T>(), data_or_null<T>(weight),
                                 data_or_null<T>(bias), N, C, S, training, eps);
  });
  return f;
}

BatchNormGrads batch_norm_backward(const Tensor& doutput, const Tensor& input, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd, bool training,
                                   BatchNormNeeds needs) {
  check_input(input, "input");
  check(doutput.defined() && doutput.shape() == input.shape() && doutput.dtype() == input.dtype(),
        "batch_norm_backward: expected doutput {} {}, got {}", input.shape(), input.dtype(),
        doutput.defined() ? fmt::format("{} {}", doutput.shape(), doutput.dtype())
                          : std::string("an undefined tensor"));
  check_channel_tensor(weight, "weight", input);
  const std::int64_t N = input.size(0), C = input.size(1), S = inner_size(input.shape());
  for (const Tensor* t : {&mean, &invstd})
    check(t->defined() && t->shape() == Shape{C} && t->dtype() == kFloat64,
          "batch_norm_backward: expected mean and invstd of shape [{}] float64, got {}", C,
          t->defined() ? fmt::format("{} {}", t->shape(), t->dtype()) : std::string("none"));

  BatchNormGrads grads;
  if (needs.dinput) grads.dinput = empty(input.shape(), input.dtype());
  const bool sums = needs.dweight || needs.dbias || (needs.dinput && training);
  Tensor sum_dy = sums ? channel_vector(C) : Tensor(),
         sum_dy_xhat = sum_dy.defined() ? channel_vector(C) : Tensor();
  dispatch_floating(input.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    batch_norm_backward_kernel<T>(
        needs.dinput ? grads.dinput.data<T>() : nullptr, sums ? sum_dy.data<double>() : nullptr,
        sums ? sum_dy_xhat.data<double>() : nullptr, doutput.data<T>(), input.data<T>(),
        data_or_null<T>(weight), mean.data<double>(), invstd.data<double>(), N, C, S, training);
  });
  if (needs.dweight) grads.dweight = to_dtype(sum_dy_xhat, input.dtype());
  if (needs.dbias) grads.dbias = to_dtype(sum_dy, input.dtype());
  return grads;
}

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training,
                  std::optional<double> momentum, double eps) {
  const bool update = training && (running_mean.defined() || running_var.defined());
  check(!update || momentum.has_value(),
        "batch_norm: expected a momentum to update the running statistics, got none (the "
        "cumulative average needs the batch count nn::BatchNorm2d keeps)");
  check(!update || std::isfinite(*momentum), "batch_norm: expected a finite momentum, got {}",
        momentum.value_or(0.0));
  BatchNormForward f =
      batch_norm_forward(input, weight, bias, running_mean, running_var, training, eps);

  if (update) {
    const double m = *momentum;
    const double n = static_cast<double>(input.numel() / input.size(1));
    const double* mean = f.mean.data<double>();
    const double* var = f.var.data<double>();
    dispatch_floating(input.dtype(), "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      const std::int64_t C = input.size(1);
      if (running_mean.defined()) {
        T* rm = Tensor(running_mean).data<T>();
        for (std::int64_t c = 0; c < C; ++c)
          rm[c] = static_cast<T>(m * mean[c] + (1.0 - m) * rm[c]);
      }
      if (running_var.defined()) {
        // NOTE: the running variance tracks the unbiased variance, though the batch is
        // normalised with the biased one (PyTorch's semantics).
        T* rv = Tensor(running_var).data<T>();
        for (std::int64_t c = 0; c < C; ++c)
          rv[c] = static_cast<T>(m * (var[c] * n / (n - 1.0)) + (1.0 - m) * rv[c]);
      }
    });
    for (Tensor running : {running_mean, running_var})
      if (running.defined()) running.bump_version();
  }

  if (autograd::needs_recording({&input, &weight, &bias})) {
    // NOTE: the weight is saved only when there is one (saved[1]).
    std::vector<Tensor> saved{input};
    if (weight.defined()) saved.push_back(weight);
    autograd::record(
        "batch_norm", {input, weight, bias}, {&f.output}, std::move(saved),
        [mean = f.mean, invstd = f.invstd, training](const autograd::BackwardArgs& g) {
          const BatchNormNeeds needs{g.needs_grad(0), g.needs_grad(1), g.needs_grad(2)};
          const Tensor weight = g.saved.size() > 1 ? g.saved[1] : Tensor();
          BatchNormGrads r = batch_norm_backward(g.grad_outputs[0], g.saved[0], weight, mean,
                                                 invstd, training, needs);
          return std::vector<Tensor>{r.dinput, r.dweight, r.dbias};
        });
  }
  return f.output;
}

// ---- the textbook reference, in double ----

BatchNormForward batch_norm_reference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      bool training, double eps) {
  check_input(input, "input");
  const std::int64_t N = input.size(0), C = input.size(1), S = inner_size(input.shape());
  const std::vector<double> x = input.to_vector<double>();
  const std::vector<double> w =
      weight.defined() ? weight.to_vector<double>() : std::vector<double>(C, 1.0);
  const std::vector<double> b =
      bias.defined() ? bias.to_vector<double>() : std::vector<double>(C, 0.0);
  std::vector<double> mean(C), var(C), invstd(C), y(x.size());
  const double count = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c) {
    if (training) {
      double sum = 0.0, sq = 0.0;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < S; ++i) sum += x[(n * C + c) * S + i];
      mean[c] = sum / count;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < S; ++i) {
          const double d = x[(n * C + c) * S + i] - mean[c];
          sq += d * d;
        }
      var[c] = sq / count;
    } else {
      mean[c] = running_mean.at<double>({c});
      var[c] = running_var.at<double>({c});
    }
    invstd[c] = 1.0 / std::sqrt(var[c] + eps);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t p = (n * C + c) * S + i;
        y[p] = (x[p] - mean[c]) * invstd[c] * w[c] + b[c];
      }
  }
  return {copy_data(from_vector(y, input.shape()), input.dtype()), from_vector(mean, {C}),
          from_vector(var, {C}), from_vector(invstd, {C})};
}

BatchNormGrads batch_norm_reference_backward(const Tensor& doutput, const Tensor& input,
                                             const Tensor& weight, const Tensor& mean,
                                             const Tensor& invstd, bool training,
                                             BatchNormNeeds needs) {
  check_input(input, "input");
  const std::int64_t N = input.size(0), C = input.size(1), S = inner_size(input.shape());
  const std::vector<double> x = input.to_vector<double>(), dy = doutput.to_vector<double>();
  const std::vector<double> mu = mean.to_vector<double>(), is = invstd.to_vector<double>();
  const std::vector<double> w =
      weight.defined() ? weight.to_vector<double>() : std::vector<double>(C, 1.0);
  std::vector<double> dx(x.size()), dw(C), db(C);
  const double count = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t p = (n * C + c) * S + i;
        db[c] += dy[p];
        dw[c] += dy[p] * (x[p] - mu[c]) * is[c];
      }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i) {
        const std::int64_t p = (n * C + c) * S + i;
        const double xhat = (x[p] - mu[c]) * is[c];
        dx[p] = training ? w[c] * is[c] / count * (count * dy[p] - db[c] - xhat * dw[c])
                         : dy[p] * w[c] * is[c];
      }
  }
  BatchNormGrads grads;
  if (needs.dinput) grads.dinput = copy_data(from_vector(dx, input.shape()), input.dtype());
  if (needs.dweight) grads.dweight = copy_data(from_vector(dw, {C}), input.dtype());
  if (needs.dbias) grads.dbias = copy_data(from_vector(db, {C}), input.dtype());
  return grads;
}

}  // namespace tapegrad
