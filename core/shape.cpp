#include "tapegrad/core/shape.hpp"

#include <limits>

#include "tapegrad/core/error.hpp"

namespace tapegrad {

std::int64_t checked_numel(const Shape& shape, std::string_view op) {
  std::int64_t n = 1;
  for (std::int64_t s : shape) {
    check(s >= 0, "{}: expected non-negative sizes, got shape {}", op, shape);
    check(s == 0 || n <= std::numeric_limits<std::int64_t>::max() / s,
          "{}: shape {} has more elements than fit in int64", op, shape);
    n *= s;
  }
  return n;
}

std::vector<std::int64_t> contiguous_strides(const Shape& shape) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, std::string_view op) {
  const std::int64_t lo = rank == 0 ? -1 : -rank, hi = rank == 0 ? 0 : rank - 1;
  check(dim >= lo && dim <= hi, "{}: expected a dimension in [{}, {}], got {}", op, lo, hi, dim);
  return dim < 0 ? dim + (rank == 0 ? 1 : rank) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    check(sa == sb || sa == 1 || sb == 1, "{}: shapes {} and {} do not broadcast", op, a, b);
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

}  // namespace tapegrad
