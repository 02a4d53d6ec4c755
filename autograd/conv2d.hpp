// conv2d: 2-D convolution of a batch of images, with stride, zero padding, dilation and groups.
//
//   y[n, oc, oh, ow] = b[oc] + sum_{c < C/G, kh, kw} w[oc, c, kh, kw]
//                                * x[n, g*C/G + c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]
//
// with g = oc / (OC/G) the group of output channel oc and x read as 0 outside the image.
// Shapes: x (N, C, H, W), w (OC, C/G, KH, KW), b (OC) or none, y (N, OC, OH, OW) with
// OH = (H + 2 PH - DH (KH - 1) - 1) / SH + 1 (likewise OW), as in PyTorch.
#pragma once

#include <cstdint>

#include "tapegrad/core/size2.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// The options of a convolution, PyTorch's defaults:
///   tg::conv2d(x, w, b, {.stride = 2, .padding = 1});
struct Conv2dParams {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  std::int64_t groups = 1;
};

/// y = conv2d(x, w, b): input (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC) or an
/// undefined tensor for none; float32 or float64, all of one dtype. Differentiable in all three.
///   tg::Tensor y = tg::conv2d(x, w, b, {.stride = 1, .padding = 1});
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dParams& params = {});

/// The output shape [N, OC, OH, OW] of conv2d, after the same checks (a tapegrad::Error on bad
/// shapes, dtypes or params).
Shape conv2d_output_shape(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                          const Conv2dParams& params = {});

// ---- kernels (no autograd): what conv2d runs, exposed for tests and benchmarks ----

/// Which gradients conv2d_backward computes.
struct Conv2dNeeds {
  bool dinput = true;
  bool dweight = true;
  bool dbias = true;
};

/// Gradients of conv2d; a gradient that was not asked for is an undefined tensor.
struct Conv2dGrads {
  Tensor dinput;   // (N, C, H, W)
  Tensor dweight;  // (OC, C/G, KH, KW)
  Tensor dbias;    // (OC)
};

/// The fast forward: im2col + GEMM per image, parallel over images.
Tensor conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& params);
/// The fast backward for doutput (N, OC, OH, OW). The weight and bias gradients are reduced over
/// images in a fixed order: bitwise identical results at any thread count.
Conv2dGrads conv2d_backward(const Tensor& doutput, const Tensor& input, const Tensor& weight,
                            const Conv2dParams& params, Conv2dNeeds needs = {});

/// Naive direct convolution with double accumulation: the reference the fast path is tested
/// against. Slow; for tests only.
Tensor conv2d_reference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& params);
/// Naive gradients of conv2d_reference, double accumulation.
Conv2dGrads conv2d_reference_backward(const Tensor& doutput, const Tensor& input,
                                      const Tensor& weight, const Conv2dParams& params,
                                      Conv2dNeeds needs = {});

namespace nn::functional {
using tapegrad::conv2d;
using tapegrad::Conv2dParams;
}  // namespace nn::functional

}  // namespace tapegrad
