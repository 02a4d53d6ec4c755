// 2-D pooling, x (N, C, H, W) -> y (N, C, OH, OW), computed one (H, W) plane at a time.
// Window (oh, ow) covers input rows [oh*SH - PH, oh*SH - PH + KH), columns likewise, clipped:
//   max:       y = max over the window, padding counting as -inf. The first maximum in row-major
//              scan order wins (NaN beats everything), as in PyTorch; its position in the plane
//              is saved and the backward scatters through it: dx[argmax] += dy.
//   avg:       y = (sum over the window) / count, where count is the window size clipped to the
//              padded input (count_include_pad) or to the input alone; dx[window] += dy / count.
//   adaptive:  rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), columns likewise; averaged as above.
// Output size (PyTorch's rule): OH = floor((H + 2*PH - KH [+ SH - 1 with ceil_mode]) / SH) + 1,
// minus one when ceil_mode would start the last window at or past H + PH. Padding is at most
// kernel / 2, so every window holds at least one input element.
#include "tapegrad/autograd/pooling.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/small_matmul.hpp"
#include "tapegrad/core/storage.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kElementGrain = 1 << 15;  // input elements per parallel chunk

// A window along one axis: [begin, end) inside the input, and its length counting padding.
struct Span {
  std::int64_t begin, end, padded;
};

// Window o of a (kernel k, stride s, padding p) pooling over an axis of `in` elements.
Span pool_span(std::int64_t o, std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) {
  const std::int64_t b = o * s - p;
  const std::int64_t e = std::min(b + k, in + p);
  return {std::max<std::int64_t>(b, 0), std::min(e, in), e - b};
}

// Window o of an adaptive pooling from `in` to `out` elements.
Span adaptive_span(std::int64_t o, std::int64_t in, std::int64_t out) {
  const std::int64_t b = o * in / out;
  const std::int64_t e = ((o + 1) * in + out - 1) / out;
  return {b, e, e - b};
}

// Planes and their sizes; kernel, stride and padding where the pooling has them.
struct PoolGeometry {
  std::int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0;
  std::int64_t KH = 1, KW = 1, SH = 1, SW = 1, PH = 0, PW = 0;

  std::int64_t planes() const { return N * C; }
  Span rows(std::int64_t oh) const { return pool_span(oh, H, KH, SH, PH); }
  Span cols(std::int64_t ow) const { return pool_span(ow, W, KW, SW, PW); }
  // Planes per parallel chunk: depends on the sizes only (determinism).
  std::int64_t grain() const {
    return std::max<std::int64_t>(1, kElementGrain / std::max(H * W, OH * OW));
  }
};

std::int64_t pooled_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p,
                         bool ceil_mode) {
  const std::int64_t span = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
  std::int64_t out = (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;  // floor division
  if (ceil_mode && out > 0 && (out - 1) * s >= in + p) --out;
  return out;
}

void check_pool_input(const Tensor& x, const char* op) {
  check(x.defined(), "{}: expected a defined tensor, got an undefined (empty) handle", op);
  check(x.dim() == 4, "{}: expected input [N, C, H, W], got {}", op, x.shape());
  const Shape& s = x.shape();
  check(s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0,
        "{}: expected input [N, C, H, W] with non-zero sizes, got {}", op, s);
  check(is_floating(x.dtype()), "{}: expected a float32 or float64 input, got {} {}", op, x.dtype(),
        s);
}

PoolGeometry pool_geometry(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding,
                           bool ceil_mode, const char* op) {
  check_pool_input(x, op);
  check(kernel.h > 0 && kernel.w > 0, "{}: expected a positive kernel size, got {}", op, kernel);
  check(stride.h > 0 && stride.w > 0, "{}: expected a positive stride, got {}", op, stride);
  check(padding.h >= 0 && padding.w >= 0, "{}: expected non-negative padding, got {}", op, padding);
  check(padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
        "{}: expected padding at most half the kernel size, got padding {} for kernel {}", op,
        padding, kernel);
  PoolGeometry g;
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.KH = kernel.h, g.KW = kernel.w, g.SH = stride.h, g.SW = stride.w;
  g.PH = padding.h, g.PW = padding.w;
  g.OH = pooled_size(g.H, g.KH, g.SH, g.PH, ceil_mode);
  g.OW = pooled_size(g.W, g.KW, g.SW, g.PW, ceil_mode);
  check(g.OH > 0 && g.OW > 0,
        "{}: expected a kernel that fits the padded input, got kernel {} for input {} with "
        "padding {} (output size [{}, {}])",
        op, kernel, x.shape(), padding, g.OH, g.OW);
  return g;
}

// ---- max ----

// The common 2x2, stride 2, unpadded pooling whose windows all lie inside the plane.
bool is_plain_2x2(const PoolGeometry& g) {
  return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 &&
         2 * g.OH <= g.H && 2 * g.OW <= g.W;
}

// One plane of a plain 2x2 max pooling in float32, 16 windows per step: the four corners of the
// windows are split out of two input rows (even and odd columns), then scanned in the order
// (0,0), (0,1), (1,0), (1,1) with the generic kernel's rules: a strictly greater value takes over
// (so the first maximum wins), and the last NaN, if any, wins over everything. ap may be null.
__attribute__((target("avx512f"))) void max_pool_2x2_plane_avx512(float* yp, std::int32_t* ap,
                                                                  const float* xp,
                                                                  const PoolGeometry& g) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const auto W = static_cast<std::int32_t>(g.W);
  const __m512i corner[4] = {_mm512_set1_epi32(0), _mm512_set1_epi32(1), _mm512_set1_epi32(W),
                             _mm512_set1_epi32(W + 1)};
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    const float* r0 = xp + 2 * oh * g.W;
    const float* r1 = r0 + g.W;
    for (std::int64_t ow = 0; ow < g.OW; ow += 16) {
      const std::int64_t n = std::min<std::int64_t>(16, g.OW - ow);
      const auto out = static_cast<__mmask16>((1u << n) - 1);
      const auto lo = static_cast<__mmask16>(n >= 8 ? 0xffff : (1u << (2 * n)) - 1);
      const auto hi = static_cast<__mmask16>(n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
      const float* c0 = r0 + 2 * ow;
      const float* c1 = r1 + 2 * ow;
      const __m512 r0lo = _mm512_maskz_loadu_ps(lo, c0), r0hi = _mm512_maskz_loadu_ps(hi, c0 + 16);
      const __m512 r1lo = _mm512_maskz_loadu_ps(lo, c1), r1hi = _mm512_maskz_loadu_ps(hi, c1 + 16);
      const __m512 v[4] = {
          _mm512_permutex2var_ps(r0lo, even, r0hi), _mm512_permutex2var_ps(r0lo, odd, r0hi),
          _mm512_permutex2var_ps(r1lo, even, r1hi), _mm512_permutex2var_ps(r1lo, odd, r1hi)};
      __m512 best = v[0], nan_value = v[0];
      __m512i at = corner[0], nan_at = corner[0];
      __mmask16 any_nan = _mm512_cmp_ps_mask(v[0], v[0], _CMP_UNORD_Q);
      for (int k = 1; k < 4; ++k) {
        const __mmask16 take = _mm512_cmp_ps_mask(v[k], best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, take, v[k]);
        at = _mm512_mask_mov_epi32(at, take, corner[k]);
        const __mmask16 nan = _mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q);
        nan_value = _mm512_mask_mov_ps(nan_value, nan, v[k]);
        nan_at = _mm512_mask_mov_epi32(nan_at, nan, corner[k]);
        any_nan = static_cast<__mmask16>(any_nan | nan);
      }
      _mm512_mask_storeu_ps(yp + oh * g.OW + ow, out, _mm512_mask_mov_ps(best, any_nan, nan_value));
      if (ap != nullptr) {
        const auto origin = static_cast<std::int32_t>(2 * oh * g.W + 2 * ow);
        const __m512i window = _mm512_add_epi32(_mm512_set1_epi32(origin), even);  // 2 * lane
        _mm512_mask_storeu_epi32(
            ap + oh * g.OW + ow, out,
            _mm512_add_epi32(window, _mm512_mask_mov_epi32(at, any_nan, nan_at)));
      }
    }
  }
}

// y (N*C, OH, OW) = max of x (N*C, H, W) over each window. kSaveArgmax: argmax (N*C, OH, OW) =
// the position h * W + w of that max in its plane (first in scan order; NaN wins).
template <class T, bool kSaveArgmax>
void max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  // The vector width follows the small-matmul kernels' choice, as relu does.
  const bool fast =
      std::is_same_v<T, float> && is_plain_2x2(g) && kernels::small_matmul_vector_bytes() == 64;
  parallel_for(0, g.planes(), g.grain(), [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      if constexpr (std::is_same_v<T, float>) {
        if (fast) {
          max_pool_2x2_plane_avx512(yp, kSaveArgmax ? argmax + p * g.OH * g.OW : nullptr, xp, g);
          continue;
        }
      }
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        const Span r = g.rows(oh);
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const Span c = g.cols(ow);
          // NOTE: branch-free on purpose: on real data "is this the new max?" mispredicts about
          // half the time. NaN is tracked apart; PyTorch's rule (a NaN always takes over) means
          // the result is the last NaN if there is one, else the first maximum.
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_at = r.begin * g.W + c.begin, nan_at = -1;
          for (std::int64_t h = r.begin; h < r.end; ++h)
            for (std::int64_t w = c.begin; w < c.end; ++w) {
              const std::int64_t i = h * g.W + w;
              const T v = xp[i];
              if constexpr (kSaveArgmax) {
                const std::int64_t take = -static_cast<std::int64_t>(v > best);  // 0 or ~0
                best_at = (i & take) | (best_at & ~take);
              }
              nan_at = v != v ? i : nan_at;
              best = std::max(best, v);  // keeps best when v is NaN
            }
          yp[oh * g.OW + ow] = nan_at >= 0 ? xp[nan_at] : best;
          if constexpr (kSaveArgmax)
            argmax[p * g.OH * g.OW + oh * g.OW + ow] =
                static_cast<std::int32_t>(nan_at >= 0 ? nan_at : best_at);
        }
      }
    }
  });
}

// dx (N*C, H, W) = dy (N*C, OH, OW) summed into the argmax positions (N*C, OH, OW) of each plane.
template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g) {
  parallel_for(0, g.planes(), g.grain(), [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * g.H * g.W;
      const T* dyp = dy + p * g.OH * g.OW;
      const std::int32_t* ap = argmax + p * g.OH * g.OW;
      std::fill_n(dxp, g.H * g.W, T(0));
      for (std::int64_t o = 0; o < g.OH * g.OW; ++o) dxp[ap[o]] += dyp[o];
    }
  });
}

// ---- average (fixed windows and adaptive) ----

// y (N*C, OH, OW) = mean of x (N*C, H, W) over each window; rows(oh) and cols(ow) give the
// windows; the divisor counts padding when count_include_pad. Sums accumulate in double.
template <class T, class Rows, class Cols>
void avg_pool2d_forward(T* y, const T* x, const PoolGeometry& g, Rows rows, Cols cols,
                        bool count_include_pad) {
  parallel_for(0, g.planes(), g.grain(), [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        const Span r = rows(oh);
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const Span c = cols(ow);
          double sum = 0.0;
          for (std::int64_t h = r.begin; h < r.end; ++h)
            for (std::int64_t w = c.begin; w < c.end; ++w) sum += xp[h * g.W + w];
          const std::int64_t count =
              count_include_pad ? r.padded * c.padded : (r.end - r.begin) * (c.end - c.begin);
          yp[oh * g.OW + ow] = static_cast<T>(sum / static_cast<double>(count));
        }
      }
    }
  });
}

// dx (N*C, H, W) = sum over the windows holding each position of dy (N*C, OH, OW) / count.
template <class T, class Rows, class Cols>
void avg_pool2d_backward(T* dx, const T* dy, const PoolGeometry& g, Rows rows, Cols cols,
                         bool count_include_pad) {
  parallel_for(0, g.planes(), g.grain(), [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * g.H * g.W;
      const T* dyp = dy + p * g.OH * g.OW;
      std::fill_n(dxp, g.H * g.W, T(0));
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        const Span r = rows(oh);
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          const Span c = cols(ow);
          const std::int64_t count =
              count_include_pad ? r.padded * c.padded : (r.end - r.begin) * (c.end - c.begin);
          const T share = static_cast<T>(dyp[oh * g.OW + ow] / static_cast<double>(count));
          for (std::int64_t h = r.begin; h < r.end; ++h)
            for (std::int64_t w = c.begin; w < c.end; ++w) dxp[h * g.W + w] += share;
        }
      }
    }
  });
}

// Runs the average forward, records its backward, returns y (N, C, OH, OW).
template <class Rows, class Cols>
Tensor avg_pool_op(const Tensor& x, const PoolGeometry& g, Rows rows, Cols cols,
                   bool count_include_pad, const char* op) {
  Tensor y = empty({g.N, g.C, g.OH, g.OW}, x.dtype());
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_forward(y.data<T>(), x.data<T>(), g, rows, cols, count_include_pad);
  });
  if (autograd::needs_recording({&x})) {
    autograd::record(
        op, {x}, {&y}, {},
        [g, rows, cols, count_include_pad, dtype = x.dtype()](const autograd::BackwardArgs& a) {
          Tensor dx = empty({g.N, g.C, g.H, g.W}, dtype);
          dispatch_floating(dtype, "avg_pool2d backward", [&](auto tag) {
            using T = decltype(tag);
            avg_pool2d_backward(dx.data<T>(), a.grad_outputs[0].data<T>(), g, rows, cols,
                                count_include_pad);
          });
          return std::vector<Tensor>{dx};
        });
  }
  return y;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Size2 kernel) {
  return max_pool2d(x, kernel, kernel);
}

Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, bool ceil_mode) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, ceil_mode, "max_pool2d");
  check(g.H * g.W <= std::numeric_limits<std::int32_t>::max(),
        "max_pool2d: expected planes of fewer than 2^31 elements, got input {}", x.shape());
  Tensor y = empty({g.N, g.C, g.OH, g.OW}, x.dtype());
  const bool recording = autograd::needs_recording({&x});
  // The argmax lives only as long as the tape node; nothing else can see or modify it.
  std::shared_ptr<Storage> argmax;
  if (recording)
    argmax = std::make_shared<Storage>(static_cast<std::size_t>(y.numel()) * sizeof(std::int32_t));
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    if (recording)
      max_pool2d_forward<T, true>(y.data<T>(), static_cast<std::int32_t*>(argmax->data),
                                  x.data<T>(), g);
    else
      max_pool2d_forward<T, false>(y.data<T>(), nullptr, x.data<T>(), g);
  });
  if (recording) {
    autograd::record("max_pool2d", {x}, {&y}, {},
                     [g, argmax, dtype = x.dtype()](const autograd::BackwardArgs& a) {
                       Tensor dx = empty({g.N, g.C, g.H, g.W}, dtype);
                       dispatch_floating(dtype, "max_pool2d backward", [&](auto tag) {
                         using T = decltype(tag);
                         max_pool2d_backward(dx.data<T>(), a.grad_outputs[0].data<T>(),
                                             static_cast<const std::int32_t*>(argmax->data), g);
                       });
                       return std::vector<Tensor>{dx};
                     });
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel) {
  return avg_pool2d(x, kernel, kernel);
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, bool ceil_mode,
                  bool count_include_pad) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, ceil_mode, "avg_pool2d");
  return avg_pool_op(
      x, g, [g](std::int64_t oh) { return g.rows(oh); },
      [g](std::int64_t ow) { return g.cols(ow); }, count_include_pad, "avg_pool2d");
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  check_pool_input(x, "adaptive_avg_pool2d");
  check(output_size.h > 0 && output_size.w > 0,
        "adaptive_avg_pool2d: expected a positive output size, got {}", output_size);
  PoolGeometry g;
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.OH = output_size.h, g.OW = output_size.w;
  return avg_pool_op(
      x, g, [H = g.H, OH = g.OH](std::int64_t oh) { return adaptive_span(oh, H, OH); },
      [W = g.W, OW = g.OW](std::int64_t ow) { return adaptive_span(ow, W, OW); }, true,
      "adaptive_avg_pool2d");
}

}  // namespace tapegrad
