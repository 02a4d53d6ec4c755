// Reduction kernels (no autograd): sum, mean and max of a tensor over a set of its dims.
//
//   sum:  out[j] = sum_{i -> j} x[i]           (double accumulator for float, int64 for int64)
//   mean: out[j] = sum_{i -> j} x[i] / count   (the division in double)
//   max:  out[j] = max_{i -> j} x[i]           (NaN if any of them is NaN, like PyTorch)
//
// Determinism: the order in which each output's inputs are combined is a function of the shape
// alone. The reduced elements of an output are cut into pieces of about kReduceGrain elements in
// memory order; each piece is reduced in order, and the pieces are combined in order. Pieces may
// run on different threads, so a long reduction is parallel too, but the result is bitwise the
// same at any thread count.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad::kernels {

/// Elements per piece of a reduction (see above).
inline constexpr std::int64_t kReduceGrain = std::int64_t{1} << 14;

enum class Reduction { Sum, Mean, Max };

// x (any shape), reduced[d] for each dim of x -> out (x's shape with the reduced dims set to 1).
// requires: reduced.size() == x.dim(); Mean and Max on an empty reduction: Mean gives NaN, Max
// is an error naming `op`; Mean needs a floating dtype.
Tensor reduce(const Tensor& x, const std::vector<bool>& reduced, Reduction kind,
              std::string_view op);

}  // namespace tapegrad::kernels
