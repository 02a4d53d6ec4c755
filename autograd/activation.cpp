// Activations. With m = max_j x_j and s = sum_j exp(x_j - m) along the softmax dimension:
//   relu:         y = max(x, 0)                 dx = dy * [y > 0]
//   softmax:      y_i = exp(x_i - m) / s        dx_i = y_i * (dy_i - sum_j dy_j y_j)
//   log_softmax:  y_i = x_i - m - log(s)        dx_i = dy_i - exp(y_i) * sum_j dy_j
// (softmax: dy_i/dx_k = y_i (delta_ik - y_k); log_softmax: d y_i/d x_k = delta_ik - y_k.)
// Every backward needs only the output y, so the tape saves y, not x. Subtracting m keeps exp
// from overflowing; sums over the dimension accumulate in double.
#include "tapegrad/autograd/activation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kElementGrain = 1 << 15;  // elements per parallel chunk
constexpr std::int64_t kColumns = 64;            // inner positions handled together (softmax)

// ---- relu ----

// y (n) = max(x, 0), x (n). NaN propagates (PyTorch's clamp_min behaviour).
template <class T>
void relu_forward(T* y, const T* x, std::int64_t n) {
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
  });
}

// dx (n) = dy where y > 0, else 0; dy, y (n).
template <class T>
void relu_backward(T* dx, const T* dy, const T* y, std::int64_t n) {
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const T g = dy[i];  // loaded unconditionally, so the loop vectorizes as a select
      dx[i] = y[i] > T(0) ? g : T(0);
    }
  });
}

// ---- softmax / log_softmax ----

// A tensor seen as (outer, D, inner) around the softmax dimension D.
struct SoftmaxDims {
  std::int64_t outer = 1, D = 1, inner = 1;
};

SoftmaxDims softmax_dims(const Shape& shape, std::int64_t dim) {
  SoftmaxDims d;
  for (std::int64_t i = 0; i < dim; ++i) d.outer *= shape[i];
  if (!shape.empty()) d.D = shape[dim];
  for (std::size_t i = dim + 1; i < shape.size(); ++i) d.inner *= shape[i];
  return d;
}

// Runs fn(o, j0, nj) over every (outer index o, block of nj <= kColumns inner positions from j0),
// in parallel; each call owns its outputs. Chunking depends only on the dims.
template <class Fn>
void for_each_column_block(const SoftmaxDims& d, Fn&& fn) {
  const std::int64_t blocks = (d.inner + kColumns - 1) / kColumns;
  const std::int64_t width = std::min(d.inner, kColumns);
  const std::int64_t grain =
      std::max<std::int64_t>(1, kElementGrain / std::max<std::int64_t>(1, d.D * width));
  parallel_for(0, d.outer * blocks, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t j0 = (t % blocks) * kColumns;
      fn(t / blocks, j0, std::min(kColumns, d.inner - j0));
    }
  });
}

// y (outer, D, inner) = softmax (kLog: log_softmax) of x (outer, D, inner) along D.
template <class T, bool kLog>
void softmax_forward(T* y, const T* x, const SoftmaxDims& d) {
  for_each_column_block(d, [&](std::int64_t o, std::int64_t j0, std::int64_t nj) {
    const std::int64_t off = o * d.D * d.inner + j0;
    const T* xp = x + off;
    T* yp = y + off;
    T max[kColumns];
    double sum[kColumns];
    std::fill_n(max, nj, -std::numeric_limits<T>::infinity());
    std::fill_n(sum, nj, 0.0);
    for (std::int64_t k = 0; k < d.D; ++k)
      for (std::int64_t j = 0; j < nj; ++j) max[j] = std::max(max[j], xp[k * d.inner + j]);
    for (std::int64_t k = 0; k < d.D; ++k)
      for (std::int64_t j = 0; j < nj; ++j) {
        const T e = std::exp(xp[k * d.inner + j] - max[j]);
        sum[j] += e;
        if constexpr (!kLog) yp[k * d.inner + j] = e;
      }
    if constexpr (kLog) {
      T log_sum[kColumns];
      for (std::int64_t j = 0; j < nj; ++j) log_sum[j] = static_cast<T>(std::log(sum[j]));
      for (std::int64_t k = 0; k < d.D; ++k)
        for (std::int64_t j = 0; j < nj; ++j)
          yp[k * d.inner + j] = (xp[k * d.inner + j] - max[j]) - log_sum[j];
    } else {
      T inv[kColumns];
      for (std::int64_t j = 0; j < nj; ++j) inv[j] = static_cast<T>(1.0 / sum[j]);
      for (std::int64_t k = 0; k < d.D; ++k)
        for (std::int64_t j = 0; j < nj; ++j) yp[k * d.inner + j] *= inv[j];
    }
  });
}

// dx (outer, D, inner) from dy and the saved output y (outer, D, inner):
//   softmax: dx = y * (dy - sum_D dy y);  log_softmax: dx = dy - exp(y) * sum_D dy.
template <class T, bool kLog>
void softmax_backward(T* dx, const T* dy, const T* y, const SoftmaxDims& d) {
  for_each_column_block(d, [&](std::int64_t o, std::int64_t j0, std::int64_t nj) {
    const std::int64_t off = o * d.D * d.inner + j0;
    const T* dyp = dy + off;
    const T* yp = y + off;
    T* dxp = dx + off;
    double acc[kColumns];
    std::fill_n(acc, nj, 0.0);
    for (std::int64_t k = 0; k < d.D; ++k)
      for (std::int64_t j = 0; j < nj; ++j) {
        const std::int64_t i = k * d.inner + j;
        acc[j] += kLog ? double(dyp[i]) : double(dyp[i]) * double(yp[i]);
      }
    T s[kColumns];
    for (std::int64_t j = 0; j < nj; ++j) s[j] = static_cast<T>(acc[j]);
    for (std::int64_t k = 0; k < d.D; ++k)
      for (std::int64_t j = 0; j < nj; ++j) {
        const std::int64_t i = k * d.inner + j;
        if constexpr (kLog)
          dxp[i] = dyp[i] - std::exp(yp[i]) * s[j];
        else
          dxp[i] = yp[i] * (dyp[i] - s[j]);
      }
  });
}

template <bool kLog>
Tensor softmax_op(const Tensor& x, std::int64_t dim, const char* op) {
  check(x.defined(), "{}: expected a defined tensor, got an undefined (empty) handle", op);
  const SoftmaxDims d = softmax_dims(x.shape(), wrap_dim(dim, x.dim(), op));
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_forward<T, kLog>(y.data<T>(), x.data<T>(), d);
  });
  if (autograd::needs_recording({&x})) {
    autograd::record(op, {x}, {&y}, {y}, [d](const autograd::BackwardArgs& g) {
      const Tensor& dy = g.grad_outputs[0];
      const Tensor& y = g.saved[0];
      Tensor dx = empty(y.shape(), y.dtype());
      dispatch_floating(y.dtype(), "softmax backward", [&](auto tag) {
        using T = decltype(tag);
        softmax_backward<T, kLog>(dx.data<T>(), dy.data<T>(), y.data<T>(), d);
      });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace

Tensor relu(const Tensor& x) {
  check(x.defined(), "relu: expected a defined tensor, got an undefined (empty) handle");
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "relu", [&](auto tag) {
    using T = decltype(tag);
    relu_forward(y.data<T>(), x.data<T>(), x.numel());
  });
  if (autograd::needs_recording({&x})) {
    autograd::record("relu", {x}, {&y}, {y}, [](const autograd::BackwardArgs& g) {
      const Tensor& dy = g.grad_outputs[0];
      const Tensor& y = g.saved[0];
      Tensor dx = empty(y.shape(), y.dtype());
      dispatch_floating(y.dtype(), "relu backward", [&](auto tag) {
        using T = decltype(tag);
        relu_backward(dx.data<T>(), dy.data<T>(), y.data<T>(), y.numel());
      });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor softmax(const Tensor& x, std::int64_t dim) {
  return softmax_op<false>(x, dim, "softmax");
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_op<true>(x, dim, "log_softmax");
}

}  // namespace tapegrad
