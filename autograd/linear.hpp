// Fully connected layer: y = x W^T + b (see linear.cpp).
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// x (N, in), weight (out, in), bias (out) or an undefined Tensor -> y (N, out) = x W^T + b.
///   auto logits = tg::linear(features, fc_weight, fc_bias);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace tapegrad

namespace tapegrad::nn::functional {
using tapegrad::linear;
}  // namespace tapegrad::nn::functional
