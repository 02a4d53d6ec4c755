// im2col / col2im (see im2col.hpp for the formula).
//
// Both walk the column matrix one row (c, kh, kw) at a time, so its reads and writes are
// contiguous. For each row, the outputs whose input index falls inside the image form one
// interval per dimension, computed once: the inner loops carry no bounds checks and, at stride 1,
// are plain copies / adds. Small images make these rows short (14 elements for 14x14), so the
// per-row overhead matters as much as the copying:
// - at stride 1 with OW == W (a "same" convolution), column entry p of row (c, kh, kw) reads
//   pixel p + shift of channel c, for one constant shift: im2col copies the whole row at once and
//   then zeroes the few entries that wrapped around a row edge; col2im zeroes those entries in
//   its (scratch) input and adds the whole row at once;
// - the zeros along the left and right edges are written column-wise (strided), which also keeps
//   the compiler from turning each one- or two-element run into a memset call.
#include "tapegrad/core/im2col.hpp"

#include <algorithm>

#include "tapegrad/core/error.hpp"

namespace tapegrad::kernels {
namespace {

// The outputs o in [lo, hi) of a dimension of length `out` whose input index o*stride + offset
// lies in [0, in).
struct ValidRange {
  std::int64_t lo, hi;
};

ValidRange valid_range(std::int64_t out, std::int64_t in, std::int64_t offset,
                       std::int64_t stride) {
  const std::int64_t lo = offset >= 0 ? 0 : std::min(out, (-offset + stride - 1) / stride);
  const std::int64_t last = in - 1 - offset;  // o * stride <= last
  const std::int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {lo, std::max(lo, hi)};
}

// Zeroes columns [0, ws.lo) and [ws.hi, OW) of rows [hs.lo, hs.hi) of a (OH, OW) column row.
template <class T>
void zero_edges(T* col, std::int64_t OW, ValidRange hs, ValidRange ws) {
  for (std::int64_t ow = 0; ow < ws.lo; ++ow)
    for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) col[oh * OW + ow] = T(0);
  for (std::int64_t ow = ws.hi; ow < OW; ++ow)
    for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) col[oh * OW + ow] = T(0);
}

}  // namespace

std::int64_t conv_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                              std::int64_t pad, std::int64_t dilation) {
  check(stride >= 1 && dilation >= 1 && pad >= 0 && kernel >= 1,
        "conv_output_size: expected stride, dilation, kernel >= 1 and pad >= 0, got stride {}, "
        "dilation {}, kernel {}, pad {}",
        stride, dilation, kernel, pad);
  const std::int64_t span = dilation * (kernel - 1) + 1;
  check(span <= in + 2 * pad,
        "conv_output_size: expected a dilated kernel of {} to fit the padded input of {}", span,
        in + 2 * pad);
  return (in + 2 * pad - span) / stride + 1;
}

template <class T>
void im2col(T* columns, const T* image, const Conv2dGeometry& g) {
  const std::int64_t OW = g.OW, P = g.OH * g.OW, SH = g.stride_h, SW = g.stride_w;
  const bool same_stride1 = SH == 1 && SW == 1 && OW == g.W;
  for (std::int64_t c = 0; c < g.C; ++c) {
    const T* plane = image + c * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t off_h = kh * g.dilation_h - g.pad_h;
      const ValidRange hs = valid_range(g.OH, g.H, off_h, SH);
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        T* col = columns + ((c * g.KH + kh) * g.KW + kw) * P;
        const std::int64_t off_w = kw * g.dilation_w - g.pad_w;
        const ValidRange ws = valid_range(OW, g.W, off_w, SW);
        if (hs.lo == hs.hi || ws.lo == ws.hi) {
          std::fill(col, col + P, T(0));
          continue;
        }
        std::fill(col, col + hs.lo * OW, T(0));
        std::fill(col + hs.hi * OW, col + P, T(0));
        if (same_stride1) {
          // Entries [first, last) read pixels [first + shift, last + shift), all in the plane.
          const std::int64_t first = hs.lo * OW + ws.lo, last = (hs.hi - 1) * OW + ws.hi;
          const T* src = plane + (first + off_h * g.W + off_w);
          std::copy(src, src + (last - first), col + first);
        } else {
          for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) {
            T* dst = col + oh * OW;
            const T* src = plane + ((oh * SH + off_h) * g.W + ws.lo * SW + off_w);
            const std::int64_t n = ws.hi - ws.lo;
            if (SW == 1)
              for (std::int64_t i = 0; i < n; ++i) dst[ws.lo + i] = src[i];
            else
              for (std::int64_t i = 0; i < n; ++i) dst[ws.lo + i] = src[i * SW];
          }
        }
        zero_edges(col, OW, hs, ws);
      }
    }
  }
}

template <class T>
void col2im(T* image, T* columns, const Conv2dGeometry& g) {
  const std::int64_t OW = g.OW, P = g.OH * g.OW, SH = g.stride_h, SW = g.stride_w;
  const bool same_stride1 = SH == 1 && SW == 1 && OW == g.W;
  for (std::int64_t c = 0; c < g.C; ++c) {
    T* plane = image + c * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t off_h = kh * g.dilation_h - g.pad_h;
      const ValidRange hs = valid_range(g.OH, g.H, off_h, SH);
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        T* col = columns + ((c * g.KH + kh) * g.KW + kw) * P;
        const std::int64_t off_w = kw * g.dilation_w - g.pad_w;
        const ValidRange ws = valid_range(OW, g.W, off_w, SW);
        if (hs.lo == hs.hi || ws.lo == ws.hi) continue;
        if (same_stride1) {
          // Zero the entries that wrapped around a row edge, then add the whole run at once:
          // entries [first, last) go to pixels [first + shift, last + shift).
          zero_edges(col, OW, hs, ws);
          const std::int64_t first = hs.lo * OW + ws.lo, last = (hs.hi - 1) * OW + ws.hi;
          const T* __restrict src = col + first;
          T* __restrict dst = plane + (first + off_h * g.W + off_w);
          for (std::int64_t i = 0; i < last - first; ++i) dst[i] += src[i];
          continue;
        }
        const std::int64_t n = ws.hi - ws.lo;
        for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) {
          const T* __restrict src = col + (oh * OW + ws.lo);
          T* __restrict dst = plane + ((oh * SH + off_h) * g.W + ws.lo * SW + off_w);
          if (SW == 1)
            for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
          else
            for (std::int64_t i = 0; i < n; ++i) dst[i * SW] += src[i];
        }
      }
    }
  }
}

template void im2col<float>(float*, const float*, const Conv2dGeometry&);
template void im2col<double>(double*, const double*, const Conv2dGeometry&);
template void col2im<float>(float*, float*, const Conv2dGeometry&);
template void col2im<double>(double*, double*, const Conv2dGeometry&);

}  // namespace tapegrad::kernels
