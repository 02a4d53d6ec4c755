// 2-D pooling over (N, C, H, W) tensors: max, average and adaptive average (see pooling.cpp).
#pragma once

#include <cstdint>

#include "tapegrad/core/size2.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Max over each kernel window (padding counts as -inf), stride = kernel.
///   auto y = tg::max_pool2d(x, 2);  // [N, C, 28, 28] -> [N, C, 14, 14]
Tensor max_pool2d(const Tensor& x, Size2 kernel);
/// Max pooling with explicit stride and padding (at most kernel / 2). ceil_mode rounds the output
/// size up: a last, partial window is kept when it starts inside the input.
///   auto y = tg::max_pool2d(x, 3, 2, 1);
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0,
                  bool ceil_mode = false);

/// Mean over each kernel window, stride = kernel.  auto y = tg::avg_pool2d(x, 2);
Tensor avg_pool2d(const Tensor& x, Size2 kernel);
/// Average pooling. count_include_pad: the divisor counts padded positions (PyTorch's default);
/// otherwise only the input positions in the window.
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);

/// Mean over PyTorch's adaptive windows: output row i averages input rows
/// [floor(i * H / OH), ceil((i + 1) * H / OH)), columns likewise.
///   auto y = tg::adaptive_avg_pool2d(x, {1, 1});  // global average pooling
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);

}  // namespace tapegrad

namespace tapegrad::nn::functional {
using tapegrad::adaptive_avg_pool2d;
using tapegrad::avg_pool2d;
using tapegrad::max_pool2d;
}  // namespace tapegrad::nn::functional
