// Activations. With m = max_j x_j and s = sum_j exp(x_j - m) along the softmax dimension:
//   relu:         y = max(x, 0)                 dx = dy * [y > 0]
//   softmax:      y_i = exp(x_i - m) / s        dx_i = y_i * (dy_i - sum_j dy_j y_j)
//   log_softmax:  y_i = x_i - m - log(s)        dx_i = dy_i - exp(y_i) * sum_j dy_j
// (softmax: dy_i/dx_k = y_i (delta_ik - y_k); log_softmax: d y_i/d x_k = delta_ik - y_k.)
// softmax and log_softmax backward need only the output y, so the tape saves y, not x. relu's
// backward needs only [y > 0]: the forward writes it as a bit mask (1/32 of y's size in float32)
// and the tape saves that, so the backward reads dy and the mask instead of dy and y. Subtracting m
// keeps exp from overflowing; sums over the dimension accumulate in double.
#include "tapegrad/autograd/activation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <immintrin.h>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/small_matmul.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kElementGrain = 1 << 15;  // elements per parallel chunk
constexpr std::int64_t kColumns = 64;            // inner positions handled together (softmax)

// ---- relu ----
//
// The mask holds bit (i % 64) of word i / 64 for element i: set where x_i > 0 (so where y_i > 0;
// clear for NaN and -0). Chunks cover whole words, so each word is written by one chunk.

constexpr std::int64_t kMaskBits = 64;
constexpr std::int64_t kWordGrain = kElementGrain / kMaskBits;  // mask words per parallel chunk

// y (count) = max(x, 0), NaN propagating (PyTorch's clamp_min), and returns x > 0 as bits.
template <class T>
std::uint64_t relu_word(T* y, const T* x, std::int64_t count) {
  std::uint64_t bits = 0;
  for (std::int64_t j = 0; j < count; ++j) {
    const T v = x[j];
    y[j] = v < T(0) ? T(0) : v;
    bits |= std::uint64_t{v > T(0)} << j;
  }
  return bits;
}

// dx (count) = dy where the bit is set, else 0.
template <class T>
void relu_backward_word(T* dx, const T* dy, std::uint64_t bits, std::int64_t count) {
  for (std::int64_t j = 0; j < count; ++j) dx[j] = (bits >> j) & 1 ? dy[j] : T(0);
}

// Full words [w0, w1) of float32: max(0, v) returns v when v is NaN (the second operand) and -0
// for -0, as the portable code does.
__attribute__((target("avx512f"))) void relu_words_avx512(float* y, std::uint64_t* mask,
                                                          const float* x, std::int64_t w0,
                                                          std::int64_t w1) {
  const __m512 zero = _mm512_setzero_ps();
  for (std::int64_t w = w0; w < w1; ++w) {
    std::uint64_t bits = 0;
    for (int q = 0; q < 4; ++q) {
      const __m512 v = _mm512_loadu_ps(x + w * kMaskBits + q * 16);
      _mm512_storeu_ps(y + w * kMaskBits + q * 16, _mm512_maskz_max_ps(0xffff, zero, v));
      bits |= std::uint64_t{_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ)} << (q * 16);
    }
    mask[w] = bits;
  }
}

__attribute__((target("avx512f"))) void relu_backward_words_avx512(float* dx, const float* dy,
                                                                   const std::uint64_t* mask,
                                                                   std::int64_t w0,
                                                                   std::int64_t w1) {
  for (std::int64_t w = w0; w < w1; ++w)
    for (int q = 0; q < 4; ++q) {
      const auto k = static_cast<__mmask16>(mask[w] >> (q * 16));
      _mm512_storeu_ps(dx + w * kMaskBits + q * 16,
                       _mm512_maskz_loadu_ps(k, dy + w * kMaskBits + q * 16));
    }
}

__attribute__((target("avx2"))) void relu_words_avx2(float* y, std::uint64_t* mask, const float* x,
                                                     std::int64_t w0, std::int64_t w1) {
  const __m256 zero = _mm256_setzero_ps();
  for (std::int64_t w = w0; w < w1; ++w) {
    std::uint64_t bits = 0;
    for (int q = 0; q < 8; ++q) {
      const __m256 v = _mm256_loadu_ps(x + w * kMaskBits + q * 8);
      _mm256_storeu_ps(y + w * kMaskBits + q * 8, _mm256_max_ps(zero, v));
      const auto k = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ));
      bits |= std::uint64_t{static_cast<std::uint8_t>(k)} << (q * 8);
    }
    mask[w] = bits;
  }
}

__attribute__((target("avx2"))) void relu_backward_words_avx2(float* dx, const float* dy,
                                                              const std::uint64_t* mask,
                                                              std::int64_t w0, std::int64_t w1) {
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (std::int64_t w = w0; w < w1; ++w)
    for (int q = 0; q < 8; ++q) {
      const auto byte = static_cast<int>((mask[w] >> (q * 8)) & 0xff);
      const __m256i on =
          _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(byte), lane_bit), lane_bit);
      _mm256_storeu_ps(
          dx + w * kMaskBits + q * 8,
          _mm256_and_ps(_mm256_castsi256_ps(on), _mm256_loadu_ps(dy + w * kMaskBits + q * 8)));
    }
}

// y (n) = max(x, 0), x (n): inference, no mask.
template <class T>
void relu_forward(T* y, const T* x, std::int64_t n) {
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
  });
}

// y (n) = max(x, 0) and mask (ceil(n / 64)) = [x > 0], x (n). The vector width follows the
// small-matmul kernels' choice (tests force each width through set_small_matmul_vector_bytes).
template <class T>
void relu_forward(T* y, std::uint64_t* mask, const T* x, std::int64_t n) {
  const std::int64_t words = (n + kMaskBits - 1) / kMaskBits, full = n / kMaskBits;
  const int vector_bytes = kernels::small_matmul_vector_bytes();
  parallel_for(0, words, kWordGrain, [&](std::int64_t w0, std::int64_t w1) {
    std::int64_t w = w0;
    if constexpr (std::is_same_v<T, float>) {
      const std::int64_t w_end = std::min(w1, full);
      if (vector_bytes == 64 && w < w_end) relu_words_avx512(y, mask, x, w, w_end), w = w_end;
      if (vector_bytes == 32 && w < w_end) relu_words_avx2(y, mask, x, w, w_end), w = w_end;
    }
    for (; w < w1; ++w) {
      const std::int64_t i = w * kMaskBits;
      mask[w] = relu_word(y + i, x + i, std::min(kMaskBits, n - i));
    }
  });
}

// dx (n) = dy where the mask bit is set, else 0; dy (n), mask (ceil(n / 64)).
template <class T>
void relu_backward(T* dx, const T* dy, const std::uint64_t* mask, std::int64_t n) {
  const std::int64_t words = (n + kMaskBits - 1) / kMaskBits, full = n / kMaskBits;
  const int vector_bytes = kernels::small_matmul_vector_bytes();
  parallel_for(0, words, kWordGrain, [&](std::int64_t w0, std::int64_t w1) {
    std::int64_t w = w0;
    if constexpr (std::is_same_v<T, float>) {
      const std::int64_t w_end = std::min(w1, full);
      if (vector_bytes == 64 && w < w_end)
        relu_backward_words_avx512(dx, dy, mask, w, w_end), w = w_end;
      if (vector_bytes == 32 && w < w_end)
        relu_backward_words_avx2(dx, dy, mask, w, w_end), w = w_end;
    }
    for (; w < w1; ++w) {
      const std::int64_t i = w * kMaskBits;
      relu_backward_word(dx + i, dy + i, mask[w], std::min(kMaskBits, n - i));
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
  if (!autograd::needs_recording({&x})) {
    dispatch_floating(x.dtype(), "relu", [&](auto tag) {
      using T = decltype(tag);
      relu_forward(y.data<T>(), x.data<T>(), x.numel());
    });
    return y;
  }
  // The mask words are stored as int64 (the tensor's only 8-byte integer type) and read as bits.
  Tensor mask = empty({(x.numel() + kMaskBits - 1) / kMaskBits}, kInt64);
  auto* bits = reinterpret_cast<std::uint64_t*>(mask.data<std::int64_t>());
  dispatch_floating(x.dtype(), "relu", [&](auto tag) {
    using T = decltype(tag);
    relu_forward(y.data<T>(), bits, x.data<T>(), x.numel());
  });
  autograd::record("relu", {x}, {&y}, {mask}, [](const autograd::BackwardArgs& g) {
    const Tensor& dy = g.grad_outputs[0];
    const Tensor& mask = g.saved[0];
    Tensor dx = empty(dy.shape(), dy.dtype());
    dispatch_floating(dy.dtype(), "relu backward", [&](auto tag) {
      using T = decltype(tag);
      relu_backward(dx.data<T>(), dy.data<T>(),
                    reinterpret_cast<const std::uint64_t*>(mask.data<std::int64_t>()), dy.numel());
    });
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor softmax(const Tensor& x, std::int64_t dim) {
  return softmax_op<false>(x, dim, "softmax");
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_op<true>(x, dim, "log_softmax");
}

}  // namespace tapegrad
