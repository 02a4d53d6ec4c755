// Differentiable elementwise ops with NumPy broadcasting, and comparisons (masks, no gradient).
//
// Tensor-tensor ops take two tensors of one dtype (float32 or float64; comparisons and where
// also int64) whose shapes broadcast; the result has the broadcast shape. Scalar operands are
// converted to the tensor's dtype.
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

// ---- arithmetic ----

/// a + alpha * b, broadcasting.  auto y = tg::add(x, bias);
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
/// a + b for a scalar b.  auto y = tg::add(x, 2.0);
Tensor add(const Tensor& a, double b);
/// a - alpha * b, broadcasting.
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
/// a - b for a scalar b.
Tensor sub(const Tensor& a, double b);
/// a - b for a scalar a.
Tensor sub(double a, const Tensor& b);
/// a * b, broadcasting.
Tensor mul(const Tensor& a, const Tensor& b);
/// a * b for a scalar b.  auto half = tg::mul(x, 0.5);
Tensor mul(const Tensor& a, double b);
/// a / b, broadcasting.
Tensor div(const Tensor& a, const Tensor& b);
/// a / b for a scalar b.
Tensor div(const Tensor& a, double b);
/// a / b for a scalar a.
Tensor div(double a, const Tensor& b);

/// -x.
Tensor neg(const Tensor& x);
/// e^x.
Tensor exp(const Tensor& x);
/// Natural logarithm (NaN below 0, -inf at 0).
Tensor log(const Tensor& x);
/// Square root (NaN below 0).
Tensor sqrt(const Tensor& x);
/// x^exponent for a scalar exponent.  auto sq = tg::pow(x, 2.0);
Tensor pow(const Tensor& x, double exponent);
/// |x|; its gradient at 0 is 0.
Tensor abs(const Tensor& x);

/// Elementwise max of a and b, broadcasting; NaN if either is NaN. Where a == b the gradient is
/// split evenly (half to each), like PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
/// Elementwise min of a and b; see maximum.
Tensor minimum(const Tensor& a, const Tensor& b);

/// a where condition != 0, else b; the three shapes broadcast together. condition may have any
/// dtype and gets no gradient.  auto y = tg::where(tg::gt(x, 0.0), x, tg::mul(x, 0.1));
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// ---- comparisons: 1 where true, 0 where false, in the inputs' dtype; never require grad ----

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// Comparisons with a scalar.  auto positive = tg::gt(x, 0.0);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);

// ---- operators ----

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

}  // namespace tapegrad
