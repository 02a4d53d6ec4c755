// Differentiable shape ops.
//
// Tensors are always contiguous, so reshape, view and flatten return a tensor that shares x's
// storage (an in-place write through one is seen by the other, and bumps the shared version);
// transpose, permute and broadcast_to copy. Each has the matching Tensor method
// (x.reshape({2, -1}), x.transpose(0, 1), ...).
#pragma once

#include <cstdint>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// x with another shape of the same number of elements; one size may be -1 (inferred).
///   auto rows = tg::reshape(x, {x.size(0), -1});
Tensor reshape(const Tensor& x, const Shape& shape);
/// Same as reshape (every tensor is contiguous, so a view always exists).
Tensor view(const Tensor& x, const Shape& shape);
/// Merges dims start_dim..end_dim (inclusive, negative from the end) into one; a 0-dim tensor
/// becomes shape [1].  auto flat = tg::flatten(x, 1);  // (N,C,H,W) -> (N, C*H*W)
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
/// x with dims dim0 and dim1 swapped (a copy).
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
/// x with its dims reordered: result dim i is x's dim dims[i] (a copy).
///   auto nhwc = tg::permute(x, {0, 2, 3, 1});
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
/// A copy of x with its own storage (differentiable, unlike copy_data).
Tensor clone(const Tensor& x);
/// x broadcast (NumPy rules) to `shape`, as a new tensor; its gradient is summed back.
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tapegrad
