// Differentiable reductions: sum, mean and max over all elements or over given dims.
//
// dims may be negative (counted from the end) and must not repeat; an empty list means every
// dim, like PyTorch. The reduced dims are dropped, or kept with size 1 when keepdim is true.
// Results are bitwise the same at any thread count (see core/reduce.hpp for the order); float32
// is accumulated in double.
#pragma once

#include <cstdint>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Sum of every element, as a 0-dim tensor.  auto total = tg::sum(x);
Tensor sum(const Tensor& x);
/// Sum over `dims`.  auto per_channel = tg::sum(x, {0, 2, 3}, true);  // (N,C,H,W) -> (1,C,1,1)
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);

/// Mean of every element (NaN for an empty tensor).
Tensor mean(const Tensor& x);
/// Mean over `dims`.  auto m = tg::mean(x, {-1});
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);

/// Largest element (NaN if any element is NaN); an error for an empty tensor.
/// NOTE: where several elements tie for the maximum, the gradient is split evenly among them
/// (each gets dz / count), like PyTorch's amax; max(x, dims) is amax: values only, no indices.
Tensor max(const Tensor& x);
/// Largest element over `dims`; see max(x) for ties.
Tensor max(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);

}  // namespace tapegrad
