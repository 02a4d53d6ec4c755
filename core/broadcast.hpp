// Broadcasting elementwise kernels (no autograd): the loops every binary op shares.
#pragma once

#include <cstdint>
#include <vector>

#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad::kernels {

/// Strides (in elements) of `in` read as a tensor of `out` shape: 0 along broadcast dims.
std::vector<std::int64_t> broadcast_strides(const Shape& in, const Shape& out);

// out (out_shape) = f(a, b), a and b broadcast to out_shape. Parallel over rows of the last
// dimension; each output element is written by exactly one chunk.
template <class T, class R, class F>
void binary_broadcast(R* out, const Shape& out_shape, const T* a, const Shape& a_shape, const T* b,
                      const Shape& b_shape, F f) {
  std::int64_t n = 1;
  for (std::int64_t s : out_shape) n *= s;
  if (n == 0) return;
  if (a_shape == out_shape && b_shape == out_shape) {
    parallel_for(0, n, 1 << 15, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  const std::vector<std::int64_t> sa = broadcast_strides(a_shape, out_shape);
  const std::vector<std::int64_t> sb = broadcast_strides(b_shape, out_shape);
  const std::size_t rank = out_shape.size();
  const std::int64_t inner = rank == 0 ? 1 : out_shape[rank - 1];
  const std::int64_t ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1];
  const std::int64_t rows = n / inner;
  const std::int64_t grain =
      std::max<std::int64_t>(1, (1 << 15) / std::max<std::int64_t>(inner, 1));
  parallel_for(0, rows, grain, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      // offsets of row r in a and b
      std::int64_t rem = r, oa = 0, ob = 0;
      for (std::size_t d = rank - 1; d-- > 0;) {
        const std::int64_t idx = rem % out_shape[d];
        rem /= out_shape[d];
        oa += idx * sa[d];
        ob += idx * sb[d];
      }
      R* o = out + r * inner;
      const T* pa = a + oa;
      const T* pb = b + ob;
      for (std::int64_t i = 0; i < inner; ++i) o[i] = f(pa[i * ia], pb[i * ib]);
    }
  });
}

// out (n) = f(in) elementwise, parallel.
template <class T, class R, class F>
void unary_map(R* out, const T* in, std::int64_t n, F f) {
  parallel_for(0, n, 1 << 15, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) out[i] = f(in[i]);
  });
}

/// Sums `t` down to `shape` (which t's shape broadcasts from): the gradient of a broadcast.
/// Returns t itself when the shapes already match.
Tensor sum_to(const Tensor& t, const Shape& shape);

}  // namespace tapegrad::kernels
