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
//   the compiler from turning each one- or two-element run into a memset call;
// - for float on a CPU with AVX-512, that "same" case runs in 16-lane chunks instead, each lane
//   masked by whether its pixel lies in the image (masks built once per call): im2col is one
//   masked load (masked-off lanes read as 0 and touch no memory) and one store per chunk of a
//   row, with no library calls and no second pass for the edges (7x7 images: 4.1 -> 2.5 us per
//   64-channel image); col2im walks the image plane instead, summing each chunk of 16 pixels
//   over the KH * KW rows in a register and storing it once (7x7: 4.7 -> 3.0 us, 28x28 with 8
//   channels: 5.1 -> 4.4 us), in the generic path's order of additions.
#include "tapegrad/core/im2col.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "tapegrad/core/error.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define TAPEGRAD_IM2COL_AVX512 1
#endif

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

// The valid ranges of every kernel row (kh) and column (kw), computed once per call: a range
// costs two integer divisions, as much as copying a row of a small image.
class WindowRanges {
 public:
  explicit WindowRanges(const Conv2dGeometry& g) {
    const std::size_t n = static_cast<std::size_t>(g.KH + g.KW);
    if (n > kInline) heap_.resize(n);
    ValidRange* r = n > kInline ? heap_.data() : inline_;
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      r[kh] = valid_range(g.OH, g.H, kh * g.dilation_h - g.pad_h, g.stride_h);
    for (std::int64_t kw = 0; kw < g.KW; ++kw)
      r[g.KH + kw] = valid_range(g.OW, g.W, kw * g.dilation_w - g.pad_w, g.stride_w);
    rows_ = r;
    columns_ = r + g.KH;
  }
  WindowRanges(const WindowRanges&) = delete;
  WindowRanges& operator=(const WindowRanges&) = delete;
  ValidRange rows(std::int64_t kh) const { return rows_[kh]; }
  ValidRange columns(std::int64_t kw) const { return columns_[kw]; }

 private:
  static constexpr std::size_t kInline = 32;
  ValidRange inline_[kInline];
  std::vector<ValidRange> heap_;
  const ValidRange* rows_;
  const ValidRange* columns_;
};

// Zeroes columns [0, ws.lo) and [ws.hi, OW) of rows [hs.lo, hs.hi) of a (OH, OW) column row.
template <class T>
void zero_edges(T* col, std::int64_t OW, ValidRange hs, ValidRange ws) {
  for (std::int64_t ow = 0; ow < ws.lo; ++ow)
    for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) col[oh * OW + ow] = T(0);
  for (std::int64_t ow = ws.hi; ow < OW; ++ow)
    for (std::int64_t oh = hs.lo; oh < hs.hi; ++oh) col[oh * OW + ow] = T(0);
}

#ifdef TAPEGRAD_IM2COL_AVX512

bool has_avx512() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return supported;
}

// The lanes l of a 16-lane chunk with lo <= l < hi.
inline __mmask16 lane_range(std::int64_t lo, std::int64_t hi) {
  lo = std::clamp<std::int64_t>(lo, 0, 16);
  hi = std::clamp<std::int64_t>(hi, 0, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// For a stride-1 window with OW == W, at(kh, kw)[q]: the lanes of 16-lane chunk q whose pair
// (column entry, pixel) is inside both the column row and the image, the chunks counted along
// the column row (entries, for im2col) or along the image plane (pixels, for col2im). The masks
// repeat with the row length W == OW: built once per call from each lane's position in its row,
// stepped chunk by chunk.
class SameLaneMasks {
 public:
  enum class Along { Entries, Pixels };
  __attribute__((target("avx512f")))
  SameLaneMasks(const Conv2dGeometry& g, const WindowRanges& ranges, Along along)
      : chunks_(((along == Along::Entries ? g.OH : g.H) * g.W + 15) / 16), KW_(g.KW) {
    thread_local std::vector<__mmask16> buffer;
    buffer.resize(static_cast<std::size_t>(g.KH * g.KW * chunks_));
    __mmask16* masks = buffer.data();
    masks_ = masks;
    const std::int64_t n = (along == Along::Entries ? g.OH : g.H) * g.W;
    alignas(64) std::int32_t first[16];
    for (int l = 0; l < 16; ++l) first[l] = static_cast<std::int32_t>(l % g.W);
    const __m512i W = _mm512_set1_epi32(static_cast<std::int32_t>(g.W));
    const __m512i step = _mm512_set1_epi32(16 % static_cast<std::int32_t>(g.W));
    __m512i x = _mm512_load_si512(first);  // each lane's position in its row
    for (std::int64_t q = 0; q < chunks_; ++q) {
      const std::int64_t p = q * 16;
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        // Entries: output column ow in ws. Pixels: iw = ow + off_w with ow in ws.
        const ValidRange ws = ranges.columns(kw);
        const std::int64_t shift = along == Along::Entries ? 0 : kw * g.dilation_w - g.pad_w;
        const __mmask16 columns =
            _mm512_cmpge_epi32_mask(x,
                                    _mm512_set1_epi32(static_cast<std::int32_t>(ws.lo + shift))) &
            _mm512_cmplt_epi32_mask(x, _mm512_set1_epi32(static_cast<std::int32_t>(ws.hi + shift)));
        for (std::int64_t kh = 0; kh < g.KH; ++kh) {
          const ValidRange hs = ranges.rows(kh);
          const std::int64_t rows =
              along == Along::Entries ? 0 : kh * g.dilation_h - g.pad_h;  // ih = oh + off_h
          const std::int64_t lo = std::max((hs.lo + rows) * g.W, p);
          const std::int64_t hi = std::min((hs.hi + rows) * g.W, n);
          masks[(kh * g.KW + kw) * chunks_ + q] = columns & lane_range(lo - p, hi - p);
        }
      }
      x = _mm512_add_epi32(x, step);  // + 16 mod W: one wrap at most
      x = _mm512_mask_sub_epi32(x, _mm512_cmpge_epi32_mask(x, W), x, W);
    }
  }
  std::int64_t chunks() const { return chunks_; }
  // The masks of the chunks of rows (c, kh, kw), any c.
  const __mmask16* at(std::int64_t kh, std::int64_t kw) const {
    return masks_ + (kh * KW_ + kw) * chunks_;
  }

 private:
  std::int64_t chunks_, KW_;
  const __mmask16* masks_;
};

// The address of entry p's pixel in a column row of plane `plane` shifted by `shift` pixels:
// plane + shift + p, computed as an integer (it may lie outside the image where p is masked off).
inline std::uintptr_t shifted(const float* plane, std::int64_t shift) {
  return reinterpret_cast<std::uintptr_t>(plane) +
         static_cast<std::uintptr_t>(shift * static_cast<std::int64_t>(sizeof(float)));
}

// im2col for float, stride 1, OW == W: row (c, kh, kw) entry p = plane c pixel p + shift where
// valid, else 0.
__attribute__((target("avx512f"))) void im2col_same_avx512(float* columns, const float* image,
                                                           const Conv2dGeometry& g,
                                                           const WindowRanges& ranges) {
  const SameLaneMasks masks(g, ranges, SameLaneMasks::Along::Entries);
  const std::int64_t P = g.OH * g.OW, last = masks.chunks() - 1;
  const __mmask16 tail = lane_range(0, P - last * 16);
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        float* col = columns + ((c * g.KH + kh) * g.KW + kw) * P;
        const auto* src = reinterpret_cast<const float*>(
            shifted(image + c * g.H * g.W,
                    (kh * g.dilation_h - g.pad_h) * g.W + kw * g.dilation_w - g.pad_w));
        const __mmask16* m = masks.at(kh, kw);
        for (std::int64_t q = 0; q < last; ++q)
          _mm512_storeu_ps(col + q * 16, _mm512_maskz_loadu_ps(m[q], src + q * 16));
        _mm512_mask_storeu_ps(col + last * 16, tail,
                              _mm512_maskz_loadu_ps(m[last], src + last * 16));
      }
}

// col2im for float, stride 1, OW == W: pixel p of plane c += row (c, kh, kw) entry p - shift
// where valid, for each (kh, kw) in order: a chunk of 16 pixels is summed in a register over the
// KH * KW rows and stored once, in the order of the generic path (so to the same bits), and
// without reading back what the previous row just stored.
__attribute__((target("avx512f"))) void col2im_same_avx512(float* image, const float* columns,
                                                           const Conv2dGeometry& g,
                                                           const WindowRanges& ranges) {
  const SameLaneMasks masks(g, ranges, SameLaneMasks::Along::Pixels);
  const std::int64_t P = g.OH * g.OW, HW = g.H * g.W, last = masks.chunks() - 1;
  const __mmask16 tail = lane_range(0, HW - last * 16);
  const std::int64_t KK = g.KH * g.KW;
  thread_local std::vector<const float*> rows;  // row (c, kh, kw) shifted to pixel space
  rows.resize(static_cast<std::size_t>(KK));
  for (std::int64_t c = 0; c < g.C; ++c) {
    float* plane = image + c * HW;
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw)
        rows[kh * g.KW + kw] = reinterpret_cast<const float*>(
            shifted(columns + ((c * g.KH + kh) * g.KW + kw) * P,
                    -((kh * g.dilation_h - g.pad_h) * g.W + kw * g.dilation_w - g.pad_w)));
    for (std::int64_t q = 0; q <= last; ++q) {
      const __mmask16 pixels = q < last ? __mmask16{0xffff} : tail;
      __m512 sum = _mm512_maskz_loadu_ps(pixels, plane + q * 16);
      const __mmask16* m = masks.at(0, 0) + q;
      for (std::int64_t k = 0; k < KK; ++k)
        sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(m[k * masks.chunks()], rows[k] + q * 16));
      _mm512_mask_storeu_ps(plane + q * 16, pixels, sum);
    }
  }
}

// pad_planes for float: each padded row in 16-lane chunks, the image's row loaded into the lanes
// [PW, PW + W) (the others read as 0 and touch no memory).
__attribute__((target("avx512f"))) void pad_planes_avx512(float* padded, const float* image,
                                                          std::int64_t C, std::int64_t H,
                                                          std::int64_t W, std::int64_t PH,
                                                          std::int64_t PW) {
  // Rows are written in address order, whole chunks: a row's last chunk may spill into the next
  // row, which is written next (only the very last chunk is masked).
  const std::int64_t Wp = W + 2 * PW, chunks = (Wp + 15) / 16;
  const std::int64_t end = C * (H + 2 * PH) * Wp;
  if (chunks == 1 && end >= 16) {  // rows of up to 16: one chunk each, a loop-invariant mask
    const __mmask16 m = lane_range(PW, PW + W);
    float* dst = padded;
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t h = -PH; h < H + PH; ++h, dst += Wp) {
        const auto* src = reinterpret_cast<const float*>(shifted(image, (c * H + h) * W - PW));
        const __m512 v = _mm512_maskz_loadu_ps(h >= 0 && h < H ? m : __mmask16{0}, src);
        if (dst + 16 <= padded + end)
          _mm512_storeu_ps(dst, v);
        else  // the last rows: their chunk would pass the end
          _mm512_mask_storeu_ps(dst, lane_range(0, padded + end - dst), v);
      }
    return;
  }
  thread_local std::vector<__mmask16> row_masks;  // the lanes of each chunk of an image row
  row_masks.resize(static_cast<std::size_t>(chunks));
  for (std::int64_t q = 0; q < chunks; ++q) row_masks[q] = lane_range(PW - q * 16, PW + W - q * 16);
  float* dst = padded;
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t h = -PH; h < H + PH; ++h, dst += Wp) {
      const bool inside = h >= 0 && h < H;
      // Lane l of chunk q reads column 16 q + l - PW of the image row.
      const auto* src = reinterpret_cast<const float*>(shifted(image, (c * H + h) * W - PW));
      for (std::int64_t q = 0; q < chunks; ++q) {
        const __m512 v = _mm512_maskz_loadu_ps(inside ? row_masks[q] : 0, src + q * 16);
        float* out = dst + q * 16;
        if (out + 16 <= padded + end)
          _mm512_storeu_ps(out, v);
        else
          _mm512_mask_storeu_ps(out, lane_range(0, padded + end - out), v);
      }
    }
}

#endif

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
  const WindowRanges ranges(g);
#ifdef TAPEGRAD_IM2COL_AVX512
  // Rows of 2 KB and more copy faster through memmove (measured at 28x28: 2.8 vs 3.7 us).
  if constexpr (std::is_same_v<T, float>)
    if (same_stride1 && P < 512 && has_avx512())
      return im2col_same_avx512(columns, image, g, ranges);
#endif
  for (std::int64_t c = 0; c < g.C; ++c) {
    const T* plane = image + c * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t off_h = kh * g.dilation_h - g.pad_h;
      const ValidRange hs = ranges.rows(kh);
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        T* col = columns + ((c * g.KH + kh) * g.KW + kw) * P;
        const std::int64_t off_w = kw * g.dilation_w - g.pad_w;
        const ValidRange ws = ranges.columns(kw);
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
  const WindowRanges ranges(g);
#ifdef TAPEGRAD_IM2COL_AVX512
  if constexpr (std::is_same_v<T, float>)
    if (same_stride1 && has_avx512()) return col2im_same_avx512(image, columns, g, ranges);
#endif
  for (std::int64_t c = 0; c < g.C; ++c) {
    T* plane = image + c * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
      const std::int64_t off_h = kh * g.dilation_h - g.pad_h;
      const ValidRange hs = ranges.rows(kh);
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        T* col = columns + ((c * g.KH + kh) * g.KW + kw) * P;
        const std::int64_t off_w = kw * g.dilation_w - g.pad_w;
        const ValidRange ws = ranges.columns(kw);
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

template <class T>
void pad_planes(T* padded, const T* image, std::int64_t C, std::int64_t H, std::int64_t W,
                std::int64_t PH, std::int64_t PW) {
#ifdef TAPEGRAD_IM2COL_AVX512
  if constexpr (std::is_same_v<T, float>)
    if (has_avx512()) return pad_planes_avx512(padded, image, C, H, W, PH, PW);
#endif
  const std::int64_t Wp = W + 2 * PW;
  for (std::int64_t c = 0; c < C; ++c) {
    T* plane = padded + c * (H + 2 * PH) * Wp;
    std::fill(plane, plane + PH * Wp, T(0));
    for (std::int64_t h = 0; h < H; ++h) {
      T* row = plane + (PH + h) * Wp;
      std::fill(row, row + PW, T(0));
      std::copy(image + (c * H + h) * W, image + (c * H + h + 1) * W, row + PW);
      std::fill(row + PW + W, row + Wp, T(0));
    }
    std::fill(plane + (PH + H) * Wp, plane + (2 * PH + H) * Wp, T(0));
  }
}

template void im2col<float>(float*, const float*, const Conv2dGeometry&);
template void im2col<double>(double*, const double*, const Conv2dGeometry&);
template void col2im<float>(float*, float*, const Conv2dGeometry&);
template void col2im<double>(double*, double*, const Conv2dGeometry&);
template void pad_planes<float>(float*, const float*, std::int64_t, std::int64_t, std::int64_t,
                                std::int64_t, std::int64_t);
template void pad_planes<double>(double*, const double*, std::int64_t, std::int64_t, std::int64_t,
                                 std::int64_t, std::int64_t);

}  // namespace tapegrad::kernels
