// Differentiable elementwise ops with NumPy broadcasting.
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// a + alpha * b, broadcasting.  auto y = tg::add(x, bias);
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
/// a * b, broadcasting.
Tensor mul(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);

}  // namespace tapegrad
