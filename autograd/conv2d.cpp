// conv2d (formula in conv2d.hpp) and its gradients, with the same index map:
//
//   dx[n, g*C/G + c, ih, iw] = sum over the (oc in group g, kh, kw, oh, ow) whose window reads
//                              pixel (ih, iw):  w[oc, c, kh, kw] * dy[n, oc, oh, ow]
//   dw[oc, c, kh, kw]        = sum_{n, oh, ow} dy[n, oc, oh, ow] * x[n, g*C/G + c, ih, iw]
//   db[oc]                   = sum_{n, oh, ow} dy[n, oc, oh, ow]
//
// Through the column matrix cols = im2col(x[n]) (rows (c, kh, kw) of all C channels, so group
// g's rows are one contiguous block of K = C/G*KH*KW rows; P = OH*OW columns), per image n and
// group g:
//   y[n]_g   = w_g (OC/G, K) * cols_g (K, P)
//   dw_g    += dy[n]_g (OC/G, P) * cols_g^T (P, K)
//   dx[n]    = col2im(w_g^T (K, OC/G) * dy[n]_g (OC/G, P))
// A 1x1 kernel at stride 1 without padding needs no im2col: the image (C, H*W) already is the
// column matrix. Products with few channels per group (a first layer on 1-channel images,
// depthwise) go to the small-dimension kernels of core/small_matmul.hpp instead of the GEMM.
// In float with tapegrad's AVX-512 GEMM, most products never build the column matrix: implicit
// GEMMs read it out of a zero-padded copy of the image (see "the implicit path" below).
//
// Work is sized to stay in cache: one image at a time (a GEMM over the whole batch streams
// columns of N*K*P elements through memory and runs at about half the speed), parallel over
// images, each thread with its own column and padded-image buffers (kept across calls: no
// allocation once warm).
// The weight and bias gradients sum over images in fixed chunks of images, each chunk into its
// own partial, the partials then added in chunk order (in double): the chunks depend only on the
// shapes, so results are bitwise identical at any thread count.
#include "tapegrad/autograd/conv2d.hpp"

#include <algorithm>
#include <vector>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/blas.hpp"
#include "tapegrad/core/im2col.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/sgemm_avx512.hpp"
#include "tapegrad/core/small_matmul.hpp"

namespace tapegrad {
namespace {

// A parallel task should hold at least this much work (flops): about 10 microseconds.
constexpr std::int64_t kTaskFlops = std::int64_t{1} << 20;
// At most this many per-chunk weight-gradient partials, within this many bytes in all. Each
// partial costs a pass to zero and one to add (16 partials of a 64 -> 128 channel 3x3 weight:
// 5% of its 7x7 forward+backward); 8 keep 8 threads busy.
constexpr std::int64_t kMaxWeightChunks = 8;
constexpr std::int64_t kWeightPartialBytes = std::int64_t{64} << 20;

// The validated sizes of one conv2d call.
struct Conv2dShape {
  std::int64_t N, C, H, W;       // input
  std::int64_t OC, KH, KW, G;    // weight, groups
  std::int64_t OH, OW;           // output
  std::int64_t Cg, OCg;          // channels per group
  std::int64_t K, P;             // column matrix of one group: (K, P) = (Cg*KH*KW, OH*OW)
  bool pointwise;                // 1x1, stride 1, no padding: the image is the column matrix
  kernels::Conv2dGeometry geom;  // the window over one whole image (all C channels)
};

// Checks every argument of a conv2d call and returns its sizes.
Conv2dShape check_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                         const Conv2dParams& p) {
  check(input.defined() && weight.defined(),
        "conv2d: expected defined input and weight tensors, got an undefined {}",
        input.defined() ? "weight" : "input");
  const Shape& xs = input.shape();
  const Shape& ws = weight.shape();
  check(xs.size() == 4, "conv2d: expected input of rank 4 [N, C, H, W], got {} (weight {})", xs,
        ws);
  check(ws.size() == 4,
        "conv2d: expected weight of rank 4 [OC, C/groups, KH, KW], got {} (input {})", ws, xs);
  check(is_floating(input.dtype()), "conv2d: expected a float32 or float64 input, got {} {}",
        input.dtype(), xs);
  check(weight.dtype() == input.dtype(),
        "conv2d: expected weight of the input's dtype {}, got {} (input {}, weight {})",
        input.dtype(), weight.dtype(), xs, ws);
  check(p.stride.h > 0 && p.stride.w > 0, "conv2d: expected a positive stride, got {}", p.stride);
  check(p.dilation.h > 0 && p.dilation.w > 0, "conv2d: expected a positive dilation, got {}",
        p.dilation);
  check(p.padding.h >= 0 && p.padding.w >= 0, "conv2d: expected a non-negative padding, got {}",
        p.padding);
  check(p.groups > 0, "conv2d: expected a positive number of groups, got {}", p.groups);
  check(std::all_of(xs.begin(), xs.end(), [](std::int64_t d) { return d > 0; }),
        "conv2d: expected input with no zero-size dimension, got {}", xs);
  check(std::all_of(ws.begin(), ws.end(), [](std::int64_t d) { return d > 0; }),
        "conv2d: expected weight with no zero-size dimension, got {}", ws);

  Conv2dShape s{};
  s.N = xs[0], s.C = xs[1], s.H = xs[2], s.W = xs[3];
  s.OC = ws[0], s.KH = ws[2], s.KW = ws[3], s.G = p.groups;
  check(s.C % s.G == 0, "conv2d: expected input channels divisible by groups {}, got input {}", s.G,
        xs);
  check(s.OC % s.G == 0,
        "conv2d: expected output channels divisible by groups {}, got weight {} ({} output "
        "channels)",
        s.G, ws, s.OC);
  check(ws[1] * s.G == s.C,
        "conv2d: expected input with {} channels (weight {}, groups {}), got {}", ws[1] * s.G, ws,
        s.G, xs);
  if (bias.defined()) {
    check(bias.dtype() == input.dtype(),
          "conv2d: expected bias of the input's dtype {}, got {} (bias {})", input.dtype(),
          bias.dtype(), bias.shape());
    check(bias.shape() == Shape{s.OC}, "conv2d: expected bias of shape [{}] (weight {}), got {}",
          s.OC, ws, bias.shape());
  }
  const Size2 span{p.dilation.h * (s.KH - 1) + 1, p.dilation.w * (s.KW - 1) + 1};
  check(span.h <= s.H + 2 * p.padding.h && span.w <= s.W + 2 * p.padding.w,
        "conv2d: expected a kernel no larger than the padded input, got a (dilated) kernel of {} "
        "for a padded input of {} (input {}, weight {}, padding {}, dilation {})",
        span, Size2{s.H + 2 * p.padding.h, s.W + 2 * p.padding.w}, xs, ws, p.padding, p.dilation);

  s.OH = kernels::conv_output_size(s.H, s.KH, p.stride.h, p.padding.h, p.dilation.h);
  s.OW = kernels::conv_output_size(s.W, s.KW, p.stride.w, p.padding.w, p.dilation.w);
  s.Cg = s.C / s.G;
  s.OCg = s.OC / s.G;
  s.K = s.Cg * s.KH * s.KW;
  s.P = s.OH * s.OW;
  s.pointwise = s.KH == 1 && s.KW == 1 && p.stride == Size2{1} && p.padding == Size2{0};
  s.geom = {.C = s.C,
            .H = s.H,
            .W = s.W,
            .KH = s.KH,
            .KW = s.KW,
            .stride_h = p.stride.h,
            .stride_w = p.stride.w,
            .pad_h = p.padding.h,
            .pad_w = p.padding.w,
            .dilation_h = p.dilation.h,
            .dilation_w = p.dilation.w,
            .OH = s.OH,
            .OW = s.OW};
  return s;
}

// Images per parallel task, from the work one image costs (depends on the shapes only).
std::int64_t image_grain(const Conv2dShape& s) {
  const std::int64_t flops_per_image = std::max<std::int64_t>(1, 2 * s.OC * s.K * s.P);
  return std::clamp<std::int64_t>((kTaskFlops + flops_per_image - 1) / flops_per_image, 1, s.N);
}

// Images per weight-gradient chunk: at least image_grain, and few enough chunks that their
// partials stay small. Depends on the shapes only, never on the thread count.
std::int64_t weight_chunk_grain(const Conv2dShape& s, std::size_t element_size) {
  const std::int64_t weight_bytes = s.OC * s.K * static_cast<std::int64_t>(element_size);
  const std::int64_t max_chunks = std::clamp<std::int64_t>(kWeightPartialBytes / weight_bytes, 1,
                                                           std::min(s.N, kMaxWeightChunks));
  return std::max(image_grain(s), (s.N + max_chunks - 1) / max_chunks);
}

// This thread's scratch buffer `Slot` of at least n elements: the column matrix (slot 0) or the
// padded images of the implicit GEMMs (1-3). Grown on demand and kept, so a training loop stops
// allocating after its first step. NOTE: used only inside a parallel_for body that never
// re-enters oneTBB, so no other task can run on this thread while the buffer is in use.
template <class T, int Slot = 0>
T* thread_scratch(std::int64_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}
template <class T>
T* thread_columns(std::int64_t n) {
  return thread_scratch<T, 0>(n);
}

// ---- the fast path: im2col + GEMM per image ----

// The three products of one image and group run on the GEMM (blas::gemm) or, when they are tiny
// in two dimensions (few channels per group: the first layer on 1-channel images, depthwise), on
// the small-dimension kernels, which read the operands in place instead of packing them. Measured
// with AVX-512 (GFLOP/s, small kernels vs OpenBLAS): 1-channel 3x3 into 16 channels, forward
// 150 vs 90 and weight gradient 160 vs 47; depthwise 85 vs 19 and 45 vs 6. With narrower vectors
// they win only on products with one or two rows. tapegrad's own AVX-512 GEMM (float) reads
// op(A) in place too and leaves them only dimensions below one vector (16 floats): 1-channel 3x3
// into 8 channels, small kernels vs that GEMM, forward 130 vs 114, weight gradient 112 vs 63,
// input gradient 119 vs 97; 16 -> 32 channels at 14x14, input gradient 214 vs 226.
//
// The largest small dimension the small-dimension kernels take for T.
template <class T>
std::int64_t small_dim_limit() {
  const bool own_gemm =
      std::is_same_v<T, float> && blas::gemm_backend() == blas::GemmBackend::AVX512;
  return own_gemm ? 15 : kernels::kSmallMatmulDim;
}

// Whether a product with `rows` rows (or output rows) and a small dimension `small` of the
// products above goes to the small-dimension kernels.
template <class T>
bool small_product(std::int64_t rows, std::int64_t small) {
  return small <= small_dim_limit<T>() && (rows <= 2 || kernels::small_matmul_vector_bytes() >= 64);
}

// y_g (OCg, P) = b_g + w_g (OCg, K) * cols_g (K, P); b_g may be null. w_t_g (K, OCg) is w_g
// transposed, for the GEMM (see transposed_weights); w_g for the small-dimension kernels.
template <class T>
void forward_product(T* y, const T* w, const T* w_t, const T* cols, const T* b,
                     const Conv2dShape& s) {
  if (small_product<T>(s.OCg, s.K)) {
    kernels::matmul_small_inner(y, w, s.K, 1, cols, s.OCg, s.K, s.P, b);
    return;
  }
  // The bias goes in first and the GEMM adds onto it (beta = 1): one pass over y, not two.
  if (b != nullptr)
    for (std::int64_t oc = 0; oc < s.OCg; ++oc) std::fill_n(y + oc * s.P, s.P, b[oc]);
  blas::gemm<T>(true, false, s.OCg, s.P, s.K, T(1), w_t, s.OCg, cols, s.P,
                b != nullptr ? T(1) : T(0), y, s.P);
}

// w_t (G, K, OCg) = each group's w_g (OCg, K) transposed (with one group and a bias b, the bias
// as an extra row K), or an undefined tensor when the forward products do not go to the GEMM. The
// AVX-512 GEMM reads op(A) in place but packs a transposed op(B); when it computes y_g^T = cols_g^T
// w_g^T (it does when P fills its vectors badly: 49 columns of a 7x7 image), w_g^T is its op(B).
// Stored transposed once per call, it is read in place by every image's product instead of being
// packed by each (10% of a 7x7 forward).
template <class T>
Tensor transposed_weights(const T* w, const T* b, const Conv2dShape& s) {
  if (small_product<T>(s.OCg, s.K)) return Tensor();
  // One group with a bias: the bias as row K (see forward_implicit).
  const bool bias_row = s.G == 1 && b != nullptr;
  Tensor w_t = empty({s.G, s.K + (bias_row ? 1 : 0), s.OCg}, dtype_of<T>());
  T* out = w_t.data<T>();
  if (bias_row) std::copy_n(b, s.OCg, out + s.K * s.OCg);
  constexpr std::int64_t kTile = 16;  // tiles of 16 x 16: whole cache lines read and written
  for (std::int64_t g = 0; g < s.G; ++g) {
    const T* w_g = w + g * s.OCg * s.K;
    T* out_g = out + g * s.K * s.OCg;
    for (std::int64_t oc0 = 0; oc0 < s.OCg; oc0 += kTile)
      for (std::int64_t k0 = 0; k0 < s.K; k0 += kTile)
        for (std::int64_t oc = oc0; oc < std::min(oc0 + kTile, s.OCg); ++oc)
          for (std::int64_t k = k0; k < std::min(k0 + kTile, s.K); ++k)
            out_g[k * s.OCg + oc] = w_g[oc * s.K + k];
  }
  return w_t;
}

// dw_g (OCg, K) += dy_g (OCg, P) * cols_g^T (P, K).
template <class T>
void weight_grad_product(T* dw, const T* dy, const T* cols, const Conv2dShape& s) {
  if (s.OCg <= small_dim_limit<T>() && small_product<T>(s.OCg, s.K))
    kernels::matmul_nt_accumulate(dw, dy, cols, s.OCg, s.K, s.P);
  else
    blas::gemm<T>(false, true, s.OCg, s.K, s.P, T(1), dy, s.P, cols, s.P, T(1), dw, s.K);
}

// dcols_g (K, P) = w_g^T (K, OCg) * dy_g (OCg, P).
template <class T>
void input_grad_product(T* dcols, const T* w, const T* dy, const Conv2dShape& s) {
  if (small_product<T>(s.K, s.OCg))
    kernels::matmul_small_inner(dcols, w, 1, s.K, dy, s.K, s.OCg, s.P,
                                static_cast<const T*>(nullptr));
  else
    blas::gemm<T>(true, false, s.K, s.P, s.OCg, T(1), w, s.K, dy, s.P, T(0), dcols, s.P);
}

// ---- the implicit path: GEMMs that read a zero-padded image in place, no column matrix ----
//
// tapegrad's AVX-512 GEMM can read op(A) through offsets (kernels::sgemm_avx512_indexed):
// element (i, k) at a[rows[i] + ks[k]]. Over the image zero-padded by the convolution's padding,
// xp (C, Hp, Wp), the column matrix's entry for output pixel p = (oh, ow) and tap t = (c, kh, kw)
// is xp[pixel(p) + tap(t)], with pixel(p) = oh SH Wp + ow SW and tap(t) = c Hp Wp + kh DH Wp +
// kw DW. So, per group, with C^T stored transposed by the GEMM:
//   forward   y_g^T (P, OCg)   = cols_g^T (P, K) * w_g^T (K, OCg)    rows: pixels, k: taps
//   weight    dw_g^T (K, OCg) += cols_g (K, P) * dy_g^T (P, OCg)     rows: taps, k: pixels, of a
//                                                                   batch of images at once
//   input     dx_g^T (HW, Cg)  = the correlation of dy, zero-padded by Q = (KH - 1) DH - PH (and
//             likewise along W), with the flipped kernel, at stride 1:
//               dx[c][ih][iw] = sum_{oc, kh, kw} w[oc][c][kh][kw] dyq[oc][ih + (KH-1-kh) DH][..]
//             rows: input pixels (ih Wq + iw), k: taps (oc Hq Wq + (KH-1-kh) DH Wq + ...)
// The padded images hold 1/(KH KW) of a column matrix's entries and stay in L1 for small images:
// no im2col or col2im, faster products (per 16 -> 32 channel 14x14 image, forward 9.3 -> 8.0 us,
// weight gradient 9.6 -> 8.2; per 32 -> 64 channel one, input gradient 33.7 -> 30.1).
//
// Those run their vectors along OCg (Cg for the input gradient). When that is one vector or less,
// the forward and input-gradient products run their vectors along the pixels instead, on a grid
// as wide as the padded image (kernels::sgemm_avx512_indexed_b): at stride 1, row t of the column
// matrix over that grid is the padded image from tap(t) on, read in place; the grid's last
// columns of each row (Wp - OW of them) are junk, dropped when the result is copied out. Per
// image, 8 -> 16 channels at 28x28 forward 9.8 -> 9.1 us, input gradient 12.4 -> 8.9; 16 -> 32
// at 14x14 input gradient 10.0 -> 8.8.
//
// A product goes implicit only where the product it replaces would run on the GEMM (not on the
// small-dimension kernels); the input gradient needs stride 1 and Q >= 0, the grid products
// stride 1 and at most a quarter of junk. Float only, with the AVX-512 GEMM backend.

constexpr std::int64_t kFloatsPerVector = 16;

// Which products of one conv2d call run implicit, and the offset tables they read through.
struct ImplicitPlan {
  bool forward = false, weight = false, input = false;  // vectors along the channels
  bool forward_grid = false, input_grid = false;        // vectors along the pixels
  bool bias_tap = false;             // forward: the bias as tap K, over a plane of ones (one group)
  std::int64_t Hp = 0, Wp = 0;       // x padded by (PH, PW)
  std::int64_t QH = 0, QW = 0;       // the padding of dy for the input gradient
  std::int64_t Hq = 0, Wq = 0;       // dy padded by (QH, QW)
  std::int64_t forward_columns = 0;  // grid pixels of the output: (OH - 1) Wp + OW
  std::int64_t input_columns = 0;    // grid pixels of dx: (H - 1) Wq + W
  std::int64_t batch = 1;            // images per weight-gradient product
  std::vector<std::int64_t> pixels;  // (batch * P): pixel p of padded image j, j C Hp Wp + ..
  std::vector<std::int64_t> taps;    // (K): tap (c, kh, kw) of a group's channels
  std::vector<std::int64_t> in_pixels;  // (H W): input pixel (ih, iw) in padded dy: ih Wq + iw
  std::vector<std::int64_t> dy_taps;    // (OCg KH KW): tap (oc, kh, kw) in padded dy
};

template <class T>
bool implicit_gemm_available(const Conv2dShape& s) {
  return std::is_same_v<T, float> && blas::gemm_backend() == blas::GemmBackend::AVX512 &&
         !s.pointwise;
}

// The plan of a forward pass (forward) or a backward pass (needing dw and/or dx).
template <class T>
ImplicitPlan implicit_plan(const Conv2dShape& s, bool forward, bool dweight, bool dinput,
                           std::int64_t images_per_chunk, bool bias = false) {
  ImplicitPlan plan;
  if (!implicit_gemm_available<T>(s)) return plan;
  const kernels::Conv2dGeometry& g = s.geom;
  const bool stride1 = g.stride_h == 1 && g.stride_w == 1;
  plan.Hp = s.H + 2 * g.pad_h;
  plan.Wp = s.W + 2 * g.pad_w;
  plan.QH = (s.KH - 1) * g.dilation_h - g.pad_h;
  plan.QW = (s.KW - 1) * g.dilation_w - g.pad_w;
  plan.Hq = s.OH + 2 * plan.QH;
  plan.Wq = s.OW + 2 * plan.QW;
  plan.forward_columns = (s.OH - 1) * plan.Wp + s.OW;
  plan.input_columns = (s.H - 1) * plan.Wq + s.W;
  // The products that would run on the GEMM.
  const bool gemm_forward = forward && !small_product<T>(s.OCg, s.K);
  const bool gemm_weight =
      dweight && !(s.OCg <= small_dim_limit<T>() && small_product<T>(s.OCg, s.K));
  const bool gemm_input =
      dinput && stride1 && plan.QH >= 0 && plan.QW >= 0 && !small_product<T>(s.K, s.OCg);
  plan.forward = gemm_forward && s.OCg > kFloatsPerVector;
  plan.weight = gemm_weight && s.OCg > kFloatsPerVector;
  plan.input = gemm_input && s.Cg > kFloatsPerVector;
  plan.forward_grid =
      gemm_forward && !plan.forward && stride1 && 4 * plan.forward_columns <= 5 * s.P;
  plan.input_grid = gemm_input && !plan.input && 4 * plan.input_columns <= 5 * s.H * s.W;
  if (plan.forward || plan.weight || plan.forward_grid) {
    plan.taps.resize(static_cast<std::size_t>(s.K));
    for (std::int64_t c = 0; c < s.Cg; ++c)
      for (std::int64_t kh = 0; kh < s.KH; ++kh)
        for (std::int64_t kw = 0; kw < s.KW; ++kw)
          plan.taps[(c * s.KH + kh) * s.KW + kw] =
              c * plan.Hp * plan.Wp + kh * g.dilation_h * plan.Wp + kw * g.dilation_w;
  }
  // One group with a bias: tap K reads a plane of ones after the image (see forward_implicit).
  plan.bias_tap = plan.forward && bias && s.G == 1;
  if (plan.bias_tap) plan.taps.push_back(s.C * plan.Hp * plan.Wp);
  if (plan.forward || plan.weight) {
    // A weight-gradient product sums over enough pixels (about 512) to amortise its pass over
    // dw: 10 images of 7x7, 2 of 14x14.
    plan.batch = plan.weight ? std::clamp<std::int64_t>(512 / s.P, 1, images_per_chunk) : 1;
    plan.pixels.resize(static_cast<std::size_t>(plan.batch * s.P));
    for (std::int64_t j = 0; j < plan.batch; ++j)
      for (std::int64_t oh = 0; oh < s.OH; ++oh)
        for (std::int64_t ow = 0; ow < s.OW; ++ow)
          plan.pixels[(j * s.OH + oh) * s.OW + ow] =
              j * s.C * plan.Hp * plan.Wp + oh * g.stride_h * plan.Wp + ow * g.stride_w;
  }
  if (plan.input) {
    plan.in_pixels.resize(static_cast<std::size_t>(s.H * s.W));
    for (std::int64_t ih = 0; ih < s.H; ++ih)
      for (std::int64_t iw = 0; iw < s.W; ++iw) plan.in_pixels[ih * s.W + iw] = ih * plan.Wq + iw;
  }
  if (plan.input || plan.input_grid) {
    plan.dy_taps.resize(static_cast<std::size_t>(s.OCg * s.KH * s.KW));
    for (std::int64_t oc = 0; oc < s.OCg; ++oc)
      for (std::int64_t kh = 0; kh < s.KH; ++kh)
        for (std::int64_t kw = 0; kw < s.KW; ++kw)
          plan.dy_taps[(oc * s.KH + kh) * s.KW + kw] = oc * plan.Hq * plan.Wq +
                                                       (s.KH - 1 - kh) * g.dilation_h * plan.Wq +
                                                       (s.KW - 1 - kw) * g.dilation_w;
  }
  return plan;
}

// out (rows, H, W) = grid (rows, (H - 1) Wg + W) without each grid row's last Wg - W columns,
// plus bias[r] on row r (bias may be null).
template <class T>
void copy_from_grid(T* out, const T* grid, std::int64_t rows, std::int64_t H, std::int64_t W,
                    std::int64_t Wg, const T* bias) {
  const std::int64_t columns = (H - 1) * Wg + W;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T add = bias != nullptr ? bias[r] : T(0);
    for (std::int64_t h = 0; h < H; ++h) {
      const T* src = grid + r * columns + h * Wg;
      T* dst = out + (r * H + h) * W;
      for (std::int64_t w = 0; w < W; ++w) dst[w] = src[w] + add;
    }
  }
}

// y[n] (OC, P) = b + conv(x[n]), every group through the implicit GEMM; w_t (G, K, OCg). With
// plan.bias_tap, the bias is row K of w_t and tap K reads a plane of ones placed after the padded
// image: the GEMM adds it, and y is written once, not filled with the bias and read back.
template <class T>
void forward_implicit(T* yn, const T* xn, const T* w_t, const T* b, const ImplicitPlan& plan,
                      const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t plane = plan.Hp * plan.Wp;
    float* xp = thread_scratch<float, 1>((s.C + 1) * plane);
    kernels::pad_planes(xp, xn, s.C, s.H, s.W, s.geom.pad_h, s.geom.pad_w);
    if (plan.bias_tap) std::fill_n(xp + s.C * plane, plane, 1.0f);
    const std::int64_t K = s.K + (plan.bias_tap ? 1 : 0);
    const bool fill_bias = b != nullptr && !plan.bias_tap;
    for (std::int64_t g = 0; g < s.G; ++g) {
      float* y = yn + g * s.OCg * s.P;
      if (fill_bias)
        for (std::int64_t oc = 0; oc < s.OCg; ++oc)
          std::fill_n(y + oc * s.P, s.P, b[g * s.OCg + oc]);
      kernels::sgemm_avx512_indexed(s.P, s.OCg, K, 1.0f, xp + g * s.Cg * plane, plan.pixels.data(),
                                    plan.taps.data(), false, w_t + g * K * s.OCg, s.OCg,
                                    fill_bias ? 1.0f : 0.0f, y, 1, s.P);
    }
  }
}

// dw (OC, K) += the weight gradients of images [n0, n1) (at most plan.batch), in one implicit
// product per group; dw = them when overwrite.
template <class T>
void weight_grad_implicit(T* dw, const T* dy, const T* x, std::int64_t n0, std::int64_t n1,
                          bool overwrite, const ImplicitPlan& plan, const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t images = n1 - n0, plane = plan.Hp * plan.Wp;
    float* xp = thread_scratch<float, 1>(images * s.C * plane);
    for (std::int64_t j = 0; j < images; ++j)
      kernels::pad_planes(xp + j * s.C * plane, x + (n0 + j) * s.C * s.H * s.W, s.C, s.H, s.W,
                          s.geom.pad_h, s.geom.pad_w);
    // dy of the images side by side: (OC, images * P).
    const std::int64_t ld = images * s.P;
    const float* dyb = dy + n0 * s.OC * s.P;
    if (images > 1) {
      float* buffer = thread_scratch<float, 2>(s.OC * ld);
      for (std::int64_t oc = 0; oc < s.OC; ++oc)
        for (std::int64_t j = 0; j < images; ++j)
          std::copy_n(dy + ((n0 + j) * s.OC + oc) * s.P, s.P, buffer + oc * ld + j * s.P);
      dyb = buffer;
    }
    for (std::int64_t g = 0; g < s.G; ++g)
      kernels::sgemm_avx512_indexed(s.K, s.OCg, ld, 1.0f, xp + g * s.Cg * plane, plan.taps.data(),
                                    plan.pixels.data(), true, dyb + g * s.OCg * ld, ld,
                                    overwrite ? 0.0f : 1.0f, dw + g * s.OCg * s.K, 1, s.K);
  }
}

// dx[n] (C, H, W) = the input gradient of one image, every group through the implicit GEMM;
// w_r (G, OCg KH KW, Cg): w_r[g][(oc, kh, kw)][c] = w[g OCg + oc][c][kh][kw].
template <class T>
void input_grad_implicit(T* dxn, const T* dyn, const T* w_r, const ImplicitPlan& plan,
                         const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t plane = plan.Hq * plan.Wq, taps = s.OCg * s.KH * s.KW;
    float* dyq = thread_scratch<float, 3>(s.OC * plane);
    kernels::pad_planes(dyq, dyn, s.OC, s.OH, s.OW, plan.QH, plan.QW);
    for (std::int64_t g = 0; g < s.G; ++g)
      kernels::sgemm_avx512_indexed(s.H * s.W, s.Cg, taps, 1.0f, dyq + g * s.OCg * plane,
                                    plan.in_pixels.data(), plan.dy_taps.data(), false,
                                    w_r + g * taps * s.Cg, s.Cg, 0.0f, dxn + g * s.Cg * s.H * s.W,
                                    1, s.H * s.W);
  }
}

// y[n] (OC, P) = b + conv(x[n]) on the padded image's grid (stride 1, OCg up to one vector).
template <class T>
void forward_grid(T* yn, const T* xn, const T* w, const T* b, const ImplicitPlan& plan,
                  const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t plane = plan.Hp * plan.Wp, columns = plan.forward_columns;
    float* xp = thread_scratch<float, 1>(s.C * plane);
    float* grid = thread_scratch<float, 4>(s.OCg * columns);
    kernels::pad_planes(xp, xn, s.C, s.H, s.W, s.geom.pad_h, s.geom.pad_w);
    for (std::int64_t g = 0; g < s.G; ++g) {
      kernels::sgemm_avx512_indexed_b(false, s.OCg, columns, s.K, 1.0f, w + g * s.OCg * s.K, s.K,
                                      xp + g * s.Cg * plane, plan.taps.data(), 0.0f, grid, columns);
      copy_from_grid(yn + g * s.OCg * s.P, grid, s.OCg, s.OH, s.OW, plan.Wp,
                     b != nullptr ? b + g * s.OCg : nullptr);
    }
  }
}

// dx[n] (C, H, W) = the input gradient of one image on padded dy's grid (Cg up to one vector).
template <class T>
void input_grad_grid(T* dxn, const T* dyn, const T* w_r, const ImplicitPlan& plan,
                     const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    const std::int64_t plane = plan.Hq * plan.Wq, taps = s.OCg * s.KH * s.KW;
    const std::int64_t columns = plan.input_columns;
    float* dyq = thread_scratch<float, 3>(s.OC * plane);
    float* grid = thread_scratch<float, 4>(s.Cg * columns);
    kernels::pad_planes(dyq, dyn, s.OC, s.OH, s.OW, plan.QH, plan.QW);
    for (std::int64_t g = 0; g < s.G; ++g) {
      kernels::sgemm_avx512_indexed_b(true, s.Cg, columns, taps, 1.0f, w_r + g * taps * s.Cg, s.Cg,
                                      dyq + g * s.OCg * plane, plan.dy_taps.data(), 0.0f, grid,
                                      columns);
      copy_from_grid(dxn + g * s.Cg * s.H * s.W, grid, s.Cg, s.H, s.W, plan.Wq,
                     static_cast<const float*>(nullptr));
    }
  }
}

// w_r (G, OCg KH KW, Cg) from w (OC, Cg, KH, KW), for input_grad_implicit and _grid.
template <class T>
Tensor rearranged_weights(const T* w, const Conv2dShape& s) {
  const std::int64_t S = s.KH * s.KW;
  Tensor w_r = empty({s.G, s.OCg * S, s.Cg}, dtype_of<T>());
  T* out = w_r.data<T>();
  for (std::int64_t oc = 0; oc < s.OC; ++oc)  // oc = g OCg + (oc within the group)
    for (std::int64_t c = 0; c < s.Cg; ++c)
      for (std::int64_t t = 0; t < S; ++t)
        out[(oc * S + t) * s.Cg + c] = w[(oc * s.Cg + c) * S + t];
  return w_r;
}

// y (N, OC, OH, OW) = conv(x (N, C, H, W), w (OC, C/G, KH, KW)) + b (OC, or null).
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dShape& s) {
  const Tensor w_t = transposed_weights(w, b, s);
  const ImplicitPlan plan = implicit_plan<T>(s, true, false, false, 1, b != nullptr);
  parallel_for(0, s.N, image_grain(s), [&](std::int64_t n0, std::int64_t n1) {
    T* cols = s.pointwise || plan.forward || plan.forward_grid ? nullptr
                                                               : thread_columns<T>(s.G * s.K * s.P);
    for (std::int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * s.C * s.H * s.W;
      T* yn = y + n * s.OC * s.P;
      if (plan.forward) {
        forward_implicit(yn, xn, w_t.data<T>(), b, plan, s);
        continue;
      }
      if (plan.forward_grid) {
        forward_grid(yn, xn, w, b, plan, s);
        continue;
      }
      if (!s.pointwise) kernels::im2col(cols, xn, s.geom);
      const T* src = s.pointwise ? xn : cols;
      for (std::int64_t g = 0; g < s.G; ++g)
        forward_product(yn + g * s.OCg * s.P, w + g * s.OCg * s.K,
                        w_t.defined() ? w_t.data<T>() + g * s.K * s.OCg : nullptr,
                        src + g * s.K * s.P, b != nullptr ? b + g * s.OCg : nullptr, s);
    }
  });
}

// dx (N, C, H, W), dw (OC, C/G, KH, KW), db (OC) for dy (N, OC, OH, OW), given x and w; a null
// output is not computed. dx, dw and db are overwritten, not accumulated into.
template <class T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                     const Conv2dShape& s) {
  // The weight and bias gradients sum over images: each chunk of images sums into its own
  // partial, and the partials are added in chunk order below.
  const std::int64_t grain = dw != nullptr ? weight_chunk_grain(s, sizeof(T)) : image_grain(s);
  const std::int64_t chunks = (s.N + grain - 1) / grain;
  const std::int64_t weight_size = s.OC * s.K;
  Tensor dw_partials;  // (chunks, OC*K), recycled by the tensor allocator across steps
  if (dw != nullptr && chunks > 1) dw_partials = empty({chunks, weight_size}, dtype_of<T>());
  std::vector<double> db_partials(db != nullptr ? static_cast<std::size_t>(chunks * s.OC) : 0);

  const ImplicitPlan plan = implicit_plan<T>(s, false, dw != nullptr, dx != nullptr, grain);
  const Tensor w_r = plan.input || plan.input_grid ? rearranged_weights(w, s) : Tensor();
  const bool im2col_weight = dw != nullptr && !plan.weight;
  const bool im2col_input = dx != nullptr && !plan.input && !plan.input_grid;

  parallel_for(0, s.N, grain, [&](std::int64_t n0, std::int64_t n1) {
    const std::int64_t chunk = n0 / grain;
    T* cols = s.pointwise || !(im2col_weight || im2col_input) ? nullptr
                                                              : thread_columns<T>(s.G * s.K * s.P);
    T* dw_chunk = nullptr;
    if (dw != nullptr) {
      dw_chunk = chunks > 1 ? dw_partials.data<T>() + chunk * weight_size : dw;
      // The implicit products overwrite it on the chunk's first batch instead.
      if (!plan.weight) std::fill_n(dw_chunk, weight_size, T(0));
    }
    for (std::int64_t b0 = n0; b0 < n1; b0 += plan.batch) {
      const std::int64_t b1 = std::min(n1, b0 + plan.batch);
      if (dw != nullptr && plan.weight)
        weight_grad_implicit(dw_chunk, dy, x, b0, b1, b0 == n0, plan, s);
      for (std::int64_t n = b0; n < b1; ++n) {
        const T* xn = x + n * s.C * s.H * s.W;
        const T* dyn = dy + n * s.OC * s.P;
        if (db != nullptr) kernels::row_sums_accumulate(&db_partials[chunk * s.OC], dyn, s.OC, s.P);
        if (im2col_weight) {
          if (!s.pointwise) kernels::im2col(cols, xn, s.geom);
          const T* src = s.pointwise ? xn : cols;
          for (std::int64_t g = 0; g < s.G; ++g)
            weight_grad_product(dw_chunk + g * s.OCg * s.K, dyn + g * s.OCg * s.P,
                                src + g * s.K * s.P, s);
        }
        T* dxn = dx != nullptr ? dx + n * s.C * s.H * s.W : nullptr;
        if (dx != nullptr && plan.input) input_grad_implicit(dxn, dyn, w_r.data<T>(), plan, s);
        if (dx != nullptr && plan.input_grid) input_grad_grid(dxn, dyn, w_r.data<T>(), plan, s);
        if (im2col_input) {
          // Pointwise: dx[n]_g = w_g^T dy[n]_g directly; otherwise through the column buffer.
          T* dst = s.pointwise ? dxn : cols;
          for (std::int64_t g = 0; g < s.G; ++g)
            input_grad_product(dst + g * s.K * s.P, w + g * s.OCg * s.K, dyn + g * s.OCg * s.P, s);
          if (!s.pointwise) {
            std::fill_n(dxn, s.C * s.H * s.W, T(0));
            kernels::col2im(dxn, cols, s.geom);
          }
        }
      }
    }
  });

  if (db != nullptr)
    for (std::int64_t oc = 0; oc < s.OC; ++oc) {
      double sum = 0.0;
      for (std::int64_t c = 0; c < chunks; ++c) sum += db_partials[c * s.OC + oc];
      db[oc] = static_cast<T>(sum);
    }
  if (dw != nullptr && chunks > 1) {
    // dw = the partials summed in chunk order, in double; a block of elements at a time so the
    // inner loop runs along contiguous memory.
    const T* part = dw_partials.data<T>();
    constexpr std::int64_t kBlock = 1024;
    parallel_for(0, weight_size, kBlock, [&](std::int64_t i0, std::int64_t i1) {
      double sum[kBlock] = {};
      for (std::int64_t c = 0; c < chunks; ++c) {
        const T* p = part + c * weight_size + i0;
        for (std::int64_t i = 0; i < i1 - i0; ++i) sum[i] += p[i];
      }
      for (std::int64_t i = 0; i < i1 - i0; ++i) dw[i0 + i] = static_cast<T>(sum[i]);
    });
  }
}

// ---- the reference: direct loops, double accumulation ----

// Calls fn(n, oc, oh, ow, x_index, w_index) for every (output, in-image tap) pair of the conv.
template <class Fn>
void for_each_tap(const Conv2dShape& s, Fn fn) {
  const kernels::Conv2dGeometry& g = s.geom;
  for (std::int64_t n = 0; n < s.N; ++n)
    for (std::int64_t oc = 0; oc < s.OC; ++oc) {
      const std::int64_t group = oc / s.OCg;
      for (std::int64_t oh = 0; oh < s.OH; ++oh)
        for (std::int64_t ow = 0; ow < s.OW; ++ow)
          for (std::int64_t c = 0; c < s.Cg; ++c)
            for (std::int64_t kh = 0; kh < s.KH; ++kh)
              for (std::int64_t kw = 0; kw < s.KW; ++kw) {
                const std::int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
                const std::int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const std::int64_t xi = ((n * s.C + group * s.Cg + c) * s.H + ih) * s.W + iw;
                const std::int64_t wi = ((oc * s.Cg + c) * s.KH + kh) * s.KW + kw;
                fn(n, oc, oh, ow, xi, wi);
              }
    }
}

// y (N, OC, OH, OW) from x (N, C, H, W), w (OC, C/G, KH, KW), b (OC, or null).
template <class T>
void conv2d_reference_forward(T* y, const T* x, const T* w, const T* b, const Conv2dShape& s) {
  std::vector<double> acc(static_cast<std::size_t>(s.N * s.OC * s.P), 0.0);
  auto out = [&](std::int64_t n, std::int64_t oc, std::int64_t oh, std::int64_t ow) {
    return ((n * s.OC + oc) * s.OH + oh) * s.OW + ow;
  };
  for_each_tap(s, [&](auto n, auto oc, auto oh, auto ow, auto xi, auto wi) {
    acc[out(n, oc, oh, ow)] += static_cast<double>(w[wi]) * static_cast<double>(x[xi]);
  });
  for (std::int64_t i = 0; i < s.N * s.OC * s.P; ++i) {
    const double bias = b != nullptr ? static_cast<double>(b[(i / s.P) % s.OC]) : 0.0;
    y[i] = static_cast<T>(acc[i] + bias);
  }
}

// dx (N, C, H, W), dw (OC, C/G, KH, KW), db (OC) for dy (N, OC, OH, OW); null outputs skipped.
template <class T>
void conv2d_reference_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const Conv2dShape& s) {
  std::vector<double> dx_acc(static_cast<std::size_t>(s.N * s.C * s.H * s.W), 0.0);
  std::vector<double> dw_acc(static_cast<std::size_t>(s.OC * s.K), 0.0);
  for_each_tap(s, [&](auto n, auto oc, auto oh, auto ow, auto xi, auto wi) {
    const double g = static_cast<double>(dy[((n * s.OC + oc) * s.OH + oh) * s.OW + ow]);
    dx_acc[xi] += g * static_cast<double>(w[wi]);
    dw_acc[wi] += g * static_cast<double>(x[xi]);
  });
  if (dx != nullptr)
    for (std::size_t i = 0; i < dx_acc.size(); ++i) dx[i] = static_cast<T>(dx_acc[i]);
  if (dw != nullptr)
    for (std::size_t i = 0; i < dw_acc.size(); ++i) dw[i] = static_cast<T>(dw_acc[i]);
  if (db != nullptr)
    for (std::int64_t oc = 0; oc < s.OC; ++oc) {
      double sum = 0.0;
      for (std::int64_t n = 0; n < s.N; ++n)
        for (std::int64_t i = 0; i < s.P; ++i) sum += dy[(n * s.OC + oc) * s.P + i];
      db[oc] = static_cast<T>(sum);
    }
}

// ---- tensor-level drivers shared by the fast path and the reference ----

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* data_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class Kernel>
Tensor run_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const Conv2dParams& params, Kernel kernel) {
  const Conv2dShape s = check_conv2d(input, weight, bias, params);
  Tensor y = empty({s.N, s.OC, s.OH, s.OW}, input.dtype());
  dispatch_floating(input.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    kernel(y.data<T>(), input.data<T>(), weight.data<T>(), data_or_null<T>(bias), s);
  });
  return y;
}

template <class Kernel>
Conv2dGrads run_backward(const Tensor& doutput, const Tensor& input, const Tensor& weight,
                         const Conv2dParams& params, Conv2dNeeds needs, Kernel kernel) {
  const Conv2dShape s = check_conv2d(input, weight, Tensor(), params);
  const Shape out_shape{s.N, s.OC, s.OH, s.OW};
  check(doutput.defined() && doutput.shape() == out_shape && doutput.dtype() == input.dtype(),
        "conv2d_backward: expected a gradient of shape {} and dtype {}, got {}", out_shape,
        input.dtype(),
        doutput.defined() ? fmt::format("{} {}", doutput.shape(), doutput.dtype())
                          : std::string("an undefined tensor"));
  Conv2dGrads grads;
  if (needs.dinput) grads.dinput = empty(input.shape(), input.dtype());
  if (needs.dweight) grads.dweight = empty(weight.shape(), weight.dtype());
  if (needs.dbias) grads.dbias = empty({s.OC}, weight.dtype());
  dispatch_floating(input.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    kernel(data_or_null<T>(grads.dinput), data_or_null<T>(grads.dweight),
           data_or_null<T>(grads.dbias), doutput.data<T>(), input.data<T>(), weight.data<T>(), s);
  });
  return grads;
}

}  // namespace

Shape conv2d_output_shape(const Tensor& input, const Tensor& weight, const Tensor& bias,
                          const Conv2dParams& params) {
  const Conv2dShape s = check_conv2d(input, weight, bias, params);
  return {s.N, s.OC, s.OH, s.OW};
}

Tensor conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& params) {
  return run_forward(input, weight, bias, params,
                     [](auto* y, auto* x, auto* w, auto* b, const Conv2dShape& s) {
                       conv2d_forward(y, x, w, b, s);
                     });
}

Conv2dGrads conv2d_backward(const Tensor& doutput, const Tensor& input, const Tensor& weight,
                            const Conv2dParams& params, Conv2dNeeds needs) {
  return run_backward(doutput, input, weight, params, needs,
                      [](auto* dx, auto* dw, auto* db, auto* dy, auto* x, auto* w,
                         const Conv2dShape& s) { conv2d_backward(dx, dw, db, dy, x, w, s); });
}

Tensor conv2d_reference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& params) {
  return run_forward(input, weight, bias, params,
                     [](auto* y, auto* x, auto* w, auto* b, const Conv2dShape& s) {
                       conv2d_reference_forward(y, x, w, b, s);
                     });
}

Conv2dGrads conv2d_reference_backward(const Tensor& doutput, const Tensor& input,
                                      const Tensor& weight, const Conv2dParams& params,
                                      Conv2dNeeds needs) {
  return run_backward(
      doutput, input, weight, params, needs,
      [](auto* dx, auto* dw, auto* db, auto* dy, auto* x, auto* w, const Conv2dShape& s) {
        conv2d_reference_backward(dx, dw, db, dy, x, w, s);
      });
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& params) {
  Tensor y = conv2d_forward(input, weight, bias, params);
  if (autograd::needs_recording({&input, &weight, &bias})) {
    autograd::record(
        "conv2d", {input, weight, bias}, {&y}, {input, weight},
        [params](const autograd::BackwardArgs& g) {
          Conv2dGrads grads = conv2d_backward(
              g.grad_outputs[0], g.saved[0], g.saved[1], params,
              {.dinput = g.needs_grad(0), .dweight = g.needs_grad(1), .dbias = g.needs_grad(2)});
          return std::vector<Tensor>{grads.dinput, grads.dweight, grads.dbias};
        });
  }
  return y;
}

}  // namespace tapegrad
