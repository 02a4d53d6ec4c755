// Broadcasting elementwise kernels (no autograd): the loops every elementwise op shares.
//
// out[i] = f(in_0[j_0(i)], in_1[j_1(i)], ...) where each input is read as if broadcast (NumPy
// rules) to the output's shape. Dims that are 1 everywhere are dropped and neighbouring dims with
// the same broadcast pattern in every input are merged, so the innermost loop is as long as
// possible; each input is then either contiguous along it (stride 1) or repeated (stride 0), and
// the loop is compiled for that pattern so that it vectorises.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad::kernels {

/// Elements per parallel chunk of an elementwise loop.
inline constexpr std::int64_t kElementwiseGrain = std::int64_t{1} << 15;

/// A read-only input of broadcast_map: its data and its shape (which broadcasts to the output's).
template <class T>
struct Operand {
  const T* data;
  const Shape& shape;
};

/// Strides (in elements) of `in` read as a tensor of `out` shape: 0 along broadcast dims.
std::vector<std::int64_t> broadcast_strides(const Shape& in, const Shape& out);

namespace detail {

// The iteration of an elementwise op over an output shape with k broadcast inputs: rows of
// `inner` output elements, each input contiguous (bit set in inner_contiguous) or repeated
// along a row.
struct BroadcastPlan {
  std::int64_t numel = 0;
  std::int64_t inner = 1;
  Shape outer;                       // merged outer dims (without the inner one), outermost first
  std::vector<std::int64_t> stride;  // stride[input * outer.size() + d]
  unsigned inner_contiguous = 0;

  // Offsets of row `row` in each of the k inputs.
  void row_offsets(std::int64_t row, std::int64_t* offsets, std::size_t k) const;
};

BroadcastPlan plan_broadcast(const Shape& out, std::initializer_list<const Shape*> inputs);

// An input along a row: contiguous, or one value repeated (read once, before the loop).
template <class T>
struct Contiguous {
  const T* p;
  T operator[](std::int64_t i) const { return p[i]; }
};
template <class T>
struct Repeated {
  T v;
  T operator[](std::int64_t) const { return v; }
};

template <unsigned Mask, std::size_t I, class T>
auto row_input(const T* p) {
  if constexpr (((Mask >> I) & 1U) != 0)
    return Contiguous<T>{p};
  else
    return Repeated<T>{*p};
}

template <class R, class F, class... In>
void row_loop(R* out, std::int64_t n, F& f, In... in) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<R>(f(in[i]...));
}

// out[0, n) = f(inputs along one row); input i's row starts at data_i + offset[i].
template <unsigned Mask, class R, class F, std::size_t... I, class... T>
void map_row(R* out, std::int64_t n, F& f, const std::int64_t* offset, std::index_sequence<I...>,
             const T*... data) {
  row_loop(out, n, f, row_input<Mask, I>(data + offset[I])...);
}

// Calls fn(std::integral_constant<unsigned, mask>) for the run-time mask (< 2^K).
template <class Fn, unsigned... M>
void dispatch_mask(unsigned mask, Fn&& fn, std::integer_sequence<unsigned, M...>) {
  ((mask == M ? (fn(std::integral_constant<unsigned, M>{}), true) : false) || ...);
}

}  // namespace detail

// out (out_shape) = f(in...) elementwise, every input broadcast to out_shape; f takes one value
// per input. Parallel in chunks of kElementwiseGrain output elements; out may be the data of an
// input of the same shape (in-place ops).
//   kernels::broadcast_map(z, z_shape, [](float a, float b) { return a * b; },
//                          Operand<float>{a, a_shape}, Operand<float>{b, b_shape});
template <class R, class F, class... T>
void broadcast_map(R* out, const Shape& out_shape, F f, Operand<T>... in) {
  constexpr std::size_t K = sizeof...(T);
  static_assert(K >= 1 && K <= 4, "broadcast_map takes one to four inputs");
  const detail::BroadcastPlan plan = detail::plan_broadcast(out_shape, {&in.shape...});
  if (plan.numel == 0) return;
  detail::dispatch_mask(
      plan.inner_contiguous,
      [&](auto mask) {
        constexpr unsigned M = decltype(mask)::value;
        parallel_for(0, plan.numel, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
          std::array<std::int64_t, K> offset{};
          for (std::int64_t i = lo; i < hi;) {
            const std::int64_t row = i / plan.inner, col = i % plan.inner;
            const std::int64_t n = std::min(plan.inner - col, hi - i);
            plan.row_offsets(row, offset.data(), K);
            std::size_t k = 0;
            for (std::int64_t& o : offset) o += ((M >> k++) & 1U) ? col : 0;
            detail::map_row<M>(out + i, n, f, offset.data(), std::make_index_sequence<K>{},
                               in.data...);
            i += n;
          }
        });
      },
      std::make_integer_sequence<unsigned, (1U << K)>{});
}

// out (out_shape) = f(a, b), a and b broadcast to out_shape.
template <class T, class R, class F>
void binary_broadcast(R* out, const Shape& out_shape, const T* a, const Shape& a_shape, const T* b,
                      const Shape& b_shape, F f) {
  broadcast_map(out, out_shape, f, Operand<T>{a, a_shape}, Operand<T>{b, b_shape});
}

// out (n) = f(in) elementwise, parallel.
template <class T, class R, class F>
void unary_map(R* out, const T* in, std::int64_t n, F f) {
  parallel_for(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) out[i] = f(in[i]);
  });
}

/// A new tensor of `shape` holding t broadcast to it (t's shape must broadcast to `shape`).
Tensor broadcast_to(const Tensor& t, const Shape& shape);

/// Sums `t` down to `shape` (which t's shape broadcasts from): the gradient of a broadcast.
/// Returns t itself when the shapes already match. Deterministic (see reduce.hpp).
Tensor sum_to(const Tensor& t, const Shape& shape);

}  // namespace tapegrad::kernels
