// Reduction kernels; see reduce.hpp for the formulas and the determinism contract.
//
// The reduction is first planned on a merged view of x: size-1 dims dropped, neighbouring dims of
// the same kind (kept or reduced) fused. Two layouts remain:
//   A. the innermost merged dim is reduced: each output reduces "runs" of L contiguous elements
//      (one run per position of the outer reduced dims). Long runs are cut into chunks of
//      kReduceGrain, short runs are grouped kReduceGrain / L to a piece.
//   B. the innermost merged dim is kept: each group of L contiguous outputs (columns) reduces
//      "rows" of L contiguous inputs, kReduceGrain / L rows to a piece.
#include "tapegrad/core/reduce.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad::kernels {
namespace {

constexpr std::int64_t kGrain = kReduceGrain;
constexpr std::int64_t kColumnBlock = 256;  // outputs per task in layout B

// Merged dims, outermost first; stride is the input stride (in elements) of each merged dim.
struct ReducePlan {
  std::vector<std::int64_t> size, stride;
  std::vector<bool> reduced;
  std::int64_t n_out = 1, n_red = 1;
};

ReducePlan plan_reduce(const Shape& shape, const std::vector<bool>& reduced) {
  ReducePlan p;
  std::int64_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {  // innermost first, reversed at the end
    const std::int64_t n = shape[d];
    (reduced[d] ? p.n_red : p.n_out) *= n;
    if (n != 1) {
      if (!p.size.empty() && p.reduced.back() == reduced[d]) {
        p.size.back() *= n;
      } else {
        p.size.push_back(n);
        p.stride.push_back(stride);
        p.reduced.push_back(reduced[d]);
      }
    }
    stride *= n;
  }
  std::reverse(p.size.begin(), p.size.end());
  std::reverse(p.stride.begin(), p.stride.end());
  std::reverse(p.reduced.begin(), p.reduced.end());
  return p;
}

constexpr std::size_t kMaxDims = 64;

// The offsets of consecutive row-major positions over some dims (sizes and strides), starting at
// any position: next() steps with carry, so no division per step. Allocates nothing.
class Odometer {
 public:
  Odometer(const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride,
           std::int64_t start)
      : size_(size), stride_(stride) {
    for (std::size_t d = size_.size(); d-- > 0;) {
      index_[d] = start % size_[d];
      start /= size_[d];
      offset_ += index_[d] * stride_[d];
    }
  }
  std::int64_t offset() const { return offset_; }
  void next() {
    for (std::size_t d = size_.size(); d-- > 0;) {
      offset_ += stride_[d];
      if (++index_[d] < size_[d]) return;
      offset_ -= index_[d] * stride_[d];
      index_[d] = 0;
    }
  }

 private:
  const std::vector<std::int64_t>& size_;
  const std::vector<std::int64_t>& stride_;
  std::array<std::int64_t, kMaxDims> index_{};
  std::int64_t offset_ = 0;
};

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;  // std::isnan, in a form the vectoriser knows
  else
    return false;
}

// Lanes of a contiguous run: independent accumulators the compiler keeps in vector registers,
// combined pairwise at the end. A fixed number, so the order does not depend on the machine.
constexpr int kLanes = 8;

template <class Acc>
Acc combine_lanes(Acc* lane, void (*combine)(Acc&, Acc)) {
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) combine(lane[l], lane[l + width]);
  return lane[0];
}

template <class T>
struct SumReducer {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, std::int64_t>;
  static Acc identity() { return 0; }
  static void combine(Acc& a, Acc b) { a += b; }
  // p[0, n): element i goes to lane i % kLanes.
  static Acc run(const T* p, std::int64_t n) {
    Acc lane[kLanes] = {};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lane[l] += static_cast<Acc>(p[i + l]);
    for (int l = 0; i < n; ++i, ++l) lane[l] += static_cast<Acc>(p[i]);
    return combine_lanes(lane, combine);
  }
  static void columns(Acc* acc, const T* p, std::int64_t n) {
    for (std::int64_t c = 0; c < n; ++c) acc[c] += static_cast<Acc>(p[c]);
  }
};

template <class T>
struct MaxReducer {
  using Acc = T;
  static Acc identity() {
    if constexpr (std::is_floating_point_v<T>)
      return -std::numeric_limits<T>::infinity();
    else
      return std::numeric_limits<T>::lowest();
  }
  // NaN wins, like PyTorch; ties keep the first value.
  static void combine(Acc& a, Acc b) { a = (b > a || is_nan(b)) ? b : a; }
  static Acc run(const T* p, std::int64_t n) {
    Acc lane[kLanes];
    std::fill(lane, lane + kLanes, identity());
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) combine(lane[l], p[i + l]);
    for (int l = 0; i < n; ++i, ++l) combine(lane[l], p[i]);
    return combine_lanes(lane, combine);
  }
  static void columns(Acc* acc, const T* p, std::int64_t n) {
    for (std::int64_t c = 0; c < n; ++c) combine(acc[c], p[c]);
  }
};

template <class V>
std::vector<V> pick(const std::vector<V>& v, const std::vector<bool>& mask, bool want,
                    std::size_t count) {
  std::vector<V> out;
  for (std::size_t d = 0; d < count; ++d)
    if (mask[d] == want) out.push_back(v[d]);
  return out;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// Layout A: x (kept and reduced dims, innermost reduced, of length L) -> out (n_out).
template <class R, class T, class Fin>
void reduce_inner(T* out, const T* x, const ReducePlan& p, Fin finalize) {
  using Acc = typename R::Acc;
  const std::size_t rank = p.size.size();
  const std::int64_t L = p.size.back();
  const std::int64_t runs = p.n_red / L;
  const std::int64_t chunks = L >= kGrain ? ceil_div(L, kGrain) : 1;  // per run
  const std::int64_t group = L >= kGrain ? 1 : kGrain / L;            // runs per piece
  const std::int64_t pieces = chunks > 1 ? runs * chunks : ceil_div(runs, group);
  const auto kept_size = pick(p.size, p.reduced, false, rank);
  const auto kept_stride = pick(p.stride, p.reduced, false, rank);
  const auto run_size = pick(p.size, p.reduced, true, rank - 1);
  const auto run_stride = pick(p.stride, p.reduced, true, rank - 1);

  // Piece q of output j.
  auto piece = [&](std::int64_t j, std::int64_t q) -> Acc {
    const T* base = x + Odometer(kept_size, kept_stride, j).offset();
    if (chunks > 1) {
      const std::int64_t begin = (q % chunks) * kGrain;
      return R::run(base + Odometer(run_size, run_stride, q / chunks).offset() + begin,
                    std::min(kGrain, L - begin));
    }
    Acc acc = R::identity();
    const std::int64_t r0 = q * group, r1 = std::min(runs, r0 + group);
    Odometer run(run_size, run_stride, r0);
    for (std::int64_t r = r0; r < r1; ++r, run.next())
      R::combine(acc, R::run(base + run.offset(), L));
    return acc;
  };

  if (pieces == 1) {
    parallel_for(0, p.n_out, std::max<std::int64_t>(1, kGrain / p.n_red),
                 [&](std::int64_t j0, std::int64_t j1) {
                   for (std::int64_t j = j0; j < j1; ++j) {
                     Acc acc = R::identity();
                     R::combine(acc, piece(j, 0));
                     out[j] = finalize(acc);
                   }
                 });
    return;
  }
  std::vector<Acc> partial(static_cast<std::size_t>(p.n_out * pieces));
  parallel_for(0, p.n_out * pieces, 1, [&](std::int64_t u0, std::int64_t u1) {
    for (std::int64_t u = u0; u < u1; ++u) partial[u] = piece(u / pieces, u % pieces);
  });
  parallel_for(0, p.n_out, std::max<std::int64_t>(1, kGrain / pieces),
               [&](std::int64_t j0, std::int64_t j1) {
                 for (std::int64_t j = j0; j < j1; ++j) {
                   Acc acc = R::identity();
                   for (std::int64_t q = 0; q < pieces; ++q)
                     R::combine(acc, partial[j * pieces + q]);
                   out[j] = finalize(acc);
                 }
               });
}

// Layout B: x (kept and reduced dims, innermost kept, of length L) -> out (n_out / L, L).
template <class R, class T, class Fin>
void reduce_outer(T* out, const T* x, const ReducePlan& p, Fin finalize) {
  using Acc = typename R::Acc;
  const std::size_t rank = p.size.size();
  const std::int64_t L = p.size.back();
  const std::int64_t outer = p.n_out / L;
  const std::int64_t rows = p.n_red;
  const std::int64_t group = std::max<std::int64_t>(1, kGrain / L);  // rows per piece
  const std::int64_t pieces = ceil_div(rows, group);
  const auto outer_size = pick(p.size, p.reduced, false, rank - 1);
  const auto outer_stride = pick(p.stride, p.reduced, false, rank - 1);
  const auto row_size = pick(p.size, p.reduced, true, rank);
  const auto row_stride = pick(p.stride, p.reduced, true, rank);

  // part[0, n) = piece q of columns [c0, c0 + n) of outer index o.
  auto piece = [&](Acc* part, std::int64_t o, std::int64_t q, std::int64_t c0, std::int64_t n) {
    const T* base = x + Odometer(outer_size, outer_stride, o).offset() + c0;
    std::fill(part, part + n, R::identity());
    const std::int64_t r0 = q * group, r1 = std::min(rows, r0 + group);
    Odometer row(row_size, row_stride, r0);
    for (std::int64_t r = r0; r < r1; ++r, row.next()) R::columns(part, base + row.offset(), n);
  };

  const std::int64_t blocks = ceil_div(L, kColumnBlock);
  if (pieces == 1 || group == 1 || outer * blocks >= 16) {
    // One task per (outer index, block of columns), its pieces in order.
    const std::int64_t grain = std::max<std::int64_t>(1, kGrain / (rows * kColumnBlock));
    parallel_for(0, outer * blocks, grain, [&](std::int64_t u0, std::int64_t u1) {
      std::array<Acc, kColumnBlock> acc, part;
      for (std::int64_t u = u0; u < u1; ++u) {
        const std::int64_t o = u / blocks, c0 = (u % blocks) * kColumnBlock;
        const std::int64_t n = std::min(kColumnBlock, L - c0);
        std::fill(acc.begin(), acc.begin() + n, R::identity());
        for (std::int64_t q = 0; q < pieces; ++q) {
          piece(part.data(), o, q, c0, n);
          for (std::int64_t c = 0; c < n; ++c) R::combine(acc[c], part[c]);
        }
        for (std::int64_t c = 0; c < n; ++c) out[o * L + c0 + c] = finalize(acc[c]);
      }
    });
    return;
  }
  // Few outputs and many rows: one task per (outer index, piece), then the pieces in order.
  std::vector<Acc> partial(static_cast<std::size_t>(outer * pieces * L));
  parallel_for(0, outer * pieces, 1, [&](std::int64_t u0, std::int64_t u1) {
    for (std::int64_t u = u0; u < u1; ++u) piece(&partial[u * L], u / pieces, u % pieces, 0, L);
  });
  parallel_for(0, outer * L, kGrain, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t o = i / L, c = i % L;
      Acc acc = R::identity();
      for (std::int64_t q = 0; q < pieces; ++q) R::combine(acc, partial[(o * pieces + q) * L + c]);
      out[i] = finalize(acc);
    }
  });
}

template <class R, class T, class Fin>
void reduce_typed(T* out, const T* x, const ReducePlan& p, Fin finalize) {
  if (p.reduced.back())
    reduce_inner<R>(out, x, p, finalize);
  else
    reduce_outer<R>(out, x, p, finalize);
}

}  // namespace

Tensor reduce(const Tensor& x, const std::vector<bool>& reduced, Reduction kind,
              std::string_view op) {
  check(reduced.size() == x.shape().size(), "{}: expected {} reduction flags for shape {}, got {}",
        op, x.dim(), x.shape(), reduced.size());
  check(x.shape().size() <= kMaxDims, "{}: expected at most {} dims, got shape {}", op, kMaxDims,
        x.shape());
  Shape out_shape = x.shape();
  for (std::size_t d = 0; d < out_shape.size(); ++d)
    if (reduced[d]) out_shape[d] = 1;
  const ReducePlan plan = plan_reduce(x.shape(), reduced);
  if (kind == Reduction::Mean)
    check(is_floating(x.dtype()), "{}: expected a float32 or float64 tensor, got {} (shape {})", op,
          x.dtype(), x.shape());
  if (plan.n_out == 0) return empty(out_shape, x.dtype());
  if (plan.n_red == 0) {
    check(kind != Reduction::Max,
          "{}: expected a non-empty reduction, got shape {} (max of no elements is undefined)", op,
          x.shape());
    return full(out_shape, kind == Reduction::Sum ? 0.0 : std::nan(""), x.dtype());
  }
  if (plan.n_red == 1) return alias_with_shape(copy_data(x, x.dtype()), out_shape);

  Tensor out = empty(out_shape, x.dtype());
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* in = x.data<T>();
    const double count = static_cast<double>(plan.n_red);
    switch (kind) {
      case Reduction::Sum:
        reduce_typed<SumReducer<T>>(o, in, plan, [](auto acc) { return static_cast<T>(acc); });
        break;
      case Reduction::Mean:
        reduce_typed<SumReducer<T>>(o, in, plan, [count](auto acc) {
          return static_cast<T>(static_cast<double>(acc) / count);
        });
        break;
      case Reduction::Max:
        reduce_typed<MaxReducer<T>>(o, in, plan, [](T acc) { return acc; });
        break;
    }
  });
  return out;
}

}  // namespace tapegrad::kernels
