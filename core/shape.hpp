// Shapes and the broadcasting rules shared by every op.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace tapegrad {

/// Sizes of a tensor's dimensions, outermost first. Formats as "[8, 3, 28, 28]".
using Shape = std::vector<std::int64_t>;

/// Number of elements, with a tapegrad::Error naming `op` on negative sizes or int64 overflow.
std::int64_t checked_numel(const Shape& shape, std::string_view op);

/// Row-major strides (in elements) of a contiguous tensor of this shape.
std::vector<std::int64_t> contiguous_strides(const Shape& shape);

/// Wraps a possibly negative dimension index into [0, rank); error names `op` if out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, std::string_view op);

/// NumPy broadcast of two shapes; error names `op` and both shapes if they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

}  // namespace tapegrad
