// Shape ops and their gradients:
//   reshape / view / flatten:  dx = dz read with x's shape (no copy either way)
//   permute (dims p):          dx = permute(dz, p^-1)      (transpose: the same swap again)
//   broadcast_to:              dx = sum_to(dz, x.shape)
//   clone, contiguous:         dx = dz
//   to(dtype):                 dx = dz converted back to x's dtype
#include "tapegrad/autograd/shape_ops.hpp"

#include <algorithm>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/broadcast.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

using autograd::BackwardArgs;
using Grads = std::vector<Tensor>;

// `shape` with a -1 replaced by the size that makes numel elements; errors name `op` and x.
Shape infer_shape(const Tensor& x, const Shape& shape, std::string_view op) {
  Shape out = shape;
  std::int64_t infer = -1;
  for (std::size_t i = 0; i < out.size(); ++i) {
    check(out[i] >= -1, "{}: expected sizes >= 0 (or one -1), got shape {}", op, shape);
    if (out[i] != -1) continue;
    check(infer < 0, "{}: expected at most one -1 in the shape, got {}", op, shape);
    infer = static_cast<std::int64_t>(i);
    out[i] = 1;
  }
  const std::int64_t known = checked_numel(out, op);
  if (infer >= 0) {
    check(known != 0 && x.numel() % known == 0,
          "{}: shape {} is invalid for input of size {} (shape {})", op, shape, x.numel(),
          x.shape());
    out[infer] = x.numel() / known;
  }
  check(checked_numel(out, op) == x.numel(),
        "{}: shape {} is invalid for input of size {} (shape {})", op, shape, x.numel(), x.shape());
  return out;
}

// z = x read with another shape (shared storage); `op` names the node.
Tensor alias_op(const Tensor& x, const Shape& shape, const char* op) {
  Tensor z = alias_with_shape(x, infer_shape(x, shape, op));
  if (autograd::needs_recording({&x}))
    autograd::record(op, {x}, {&z}, {}, [xs = x.shape()](const BackwardArgs& g) {
      return Grads{alias_with_shape(g.grad_outputs[0], xs)};
    });
  return z;
}

// A merged view of a permutation: output dims (innermost first) with their sizes, their strides
// in x and their strides in y.
struct PermutePlan {
  std::vector<std::int64_t> size, x_stride, y_stride;
  std::int64_t numel = 1;
};

// Size-1 dims are dropped and neighbouring output dims that stay adjacent in x are merged.
PermutePlan plan_permute(const Shape& x_shape, const std::vector<std::int64_t>& perm) {
  const std::vector<std::int64_t> x_stride = contiguous_strides(x_shape);
  PermutePlan p;
  for (std::size_t k = perm.size(); k-- > 0;) {
    const std::int64_t n = x_shape[perm[k]], s = x_stride[perm[k]];
    if (n == 1) {
      p.numel *= n;
      continue;
    }
    if (!p.size.empty() && s == p.x_stride.back() * p.size.back()) {
      p.size.back() *= n;
    } else {
      p.size.push_back(n);
      p.x_stride.push_back(s);
      p.y_stride.push_back(p.numel);
    }
    p.numel *= n;
  }
  return p;
}

// y (y.shape[k] = x.shape[perm[k]], y[.., i_k, ..] = x[.., i_k at dim perm[k], ..]) from x.
// When y's innermost dim is also x's, rows are plain copies. Otherwise y's innermost dim reads x
// at a stride, and x's innermost dim (stride 1) is some outer dim J of y: the copy then runs in
// kTile x kTile tiles of (J, innermost), so both the reads and the writes stay within a few cache
// lines per tile.
template <class T>
void permute_forward(T* y, const T* x, const Shape& x_shape,
                     const std::vector<std::int64_t>& perm) {
  constexpr std::int64_t kTile = 32;
  const PermutePlan p = plan_permute(x_shape, perm);
  if (p.numel == 0) return;
  if (p.size.empty()) {
    y[0] = x[0];
    return;
  }
  const std::int64_t inner = p.size[0], step = p.x_stride[0];
  const std::size_t rank = p.size.size();
  if (step == 1) {
    parallel_for(0, p.numel / inner, std::max<std::int64_t>(1, kernels::kElementwiseGrain / inner),
                 [&](std::int64_t r0, std::int64_t r1) {
                   for (std::int64_t r = r0; r < r1; ++r) {
                     std::int64_t row = r, offset = 0;
                     for (std::size_t d = 1; d < rank; ++d) {
                       offset += (row % p.size[d]) * p.x_stride[d];
                       row /= p.size[d];
                     }
                     std::copy(x + offset, x + offset + inner, y + r * inner);
                   }
                 });
    return;
  }
  std::size_t J = 1;
  while (p.x_stride[J] != 1) ++J;  // exists: x's innermost dim is one of y's
  const std::int64_t tiles = (p.size[J] + kTile - 1) / kTile;
  const std::int64_t others = p.numel / (inner * p.size[J]);
  const std::int64_t grain =
      std::max<std::int64_t>(1, kernels::kElementwiseGrain / (kTile * inner));
  parallel_for(0, others * tiles, grain, [&](std::int64_t u0, std::int64_t u1) {
    for (std::int64_t u = u0; u < u1; ++u) {
      // Offsets of the u-th (other dims, tile of J) block.
      std::int64_t rest = u / tiles, x_base = 0, y_base = 0;
      for (std::size_t d = 1; d < rank; ++d) {
        if (d == J) continue;
        x_base += (rest % p.size[d]) * p.x_stride[d];
        y_base += (rest % p.size[d]) * p.y_stride[d];
        rest /= p.size[d];
      }
      const std::int64_t a0 = (u % tiles) * kTile, a1 = std::min(p.size[J], a0 + kTile);
      for (std::int64_t b0 = 0; b0 < inner; b0 += kTile) {
        const std::int64_t b1 = std::min(inner, b0 + kTile);
        for (std::int64_t a = a0; a < a1; ++a) {
          T* dst = y + y_base + a * p.y_stride[J];
          const T* src = x + x_base + a;
          for (std::int64_t b = b0; b < b1; ++b) dst[b] = src[b * step];
        }
      }
    }
  });
}

Tensor permute_copy(const Tensor& x, const std::vector<std::int64_t>& perm) {
  Shape shape(perm.size());
  for (std::size_t k = 0; k < perm.size(); ++k) shape[k] = x.shape()[perm[k]];
  Tensor y = empty(shape, x.dtype());
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    permute_forward(y.data<T>(), x.data<T>(), x.shape(), perm);
  });
  return y;
}

// z = x permuted by perm (validated); backward permutes dz by the inverse.
Tensor permute_op(const Tensor& x, const std::vector<std::int64_t>& perm, const char* op) {
  Tensor z = permute_copy(x, perm);
  if (autograd::needs_recording({&x})) {
    std::vector<std::int64_t> inverse(perm.size());
    for (std::size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = static_cast<std::int64_t>(k);
    autograd::record(op, {x}, {&z}, {}, [inverse](const BackwardArgs& g) {
      return Grads{permute_copy(g.grad_outputs[0], inverse)};
    });
  }
  return z;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  return alias_op(x, shape, "reshape");
}

Tensor view(const Tensor& x, const Shape& shape) {
  return alias_op(x, shape, "view");
}

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  if (x.dim() == 0) return alias_op(x, {1}, "flatten");
  const std::int64_t s = wrap_dim(start_dim, x.dim(), "flatten");
  const std::int64_t e = wrap_dim(end_dim, x.dim(), "flatten");
  check(s <= e, "flatten: expected start_dim <= end_dim, got {} and {} for shape {}", start_dim,
        end_dim, x.shape());
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  std::int64_t merged = 1;
  for (std::int64_t d = s; d <= e; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return alias_op(x, shape, "flatten");
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  const std::int64_t rank = x.dim();
  const std::int64_t d0 = wrap_dim(dim0, rank, "transpose");
  const std::int64_t d1 = wrap_dim(dim1, rank, "transpose");
  std::vector<std::int64_t> perm(static_cast<std::size_t>(rank));
  for (std::int64_t d = 0; d < rank; ++d) perm[d] = d;
  if (rank > 0) std::swap(perm[d0], perm[d1]);
  return permute_op(x, perm, "transpose");
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  const std::int64_t rank = x.dim();
  check(std::ssize(dims) == rank, "permute: expected {} dims for shape {}, got {}", rank, x.shape(),
        dims);
  std::vector<std::int64_t> perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t k = 0; k < dims.size(); ++k) {
    perm[k] = wrap_dim(dims[k], rank, "permute");
    check(!seen[perm[k]], "permute: expected a permutation of the dims of {}, got {}", x.shape(),
          dims);
    seen[perm[k]] = true;
  }
  return permute_op(x, perm, "permute");
}

Tensor clone(const Tensor& x) {
  Tensor z = copy_data(x, x.dtype());
  if (autograd::needs_recording({&x}))
    autograd::record("clone", {x}, {&z}, {},
                     [](const BackwardArgs& g) { return Grads{g.grad_outputs[0]}; });
  return z;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Tensor z = kernels::broadcast_to(x, shape);
  if (autograd::needs_recording({&x}))
    autograd::record("broadcast_to", {x}, {&z}, {}, [xs = x.shape()](const BackwardArgs& g) {
      return Grads{kernels::sum_to(g.grad_outputs[0], xs)};
    });
  return z;
}

Tensor Tensor::reshape(const Shape& shape) const {
  return tapegrad::reshape(*this, shape);
}
Tensor Tensor::view(const Shape& shape) const {
  return tapegrad::view(*this, shape);
}
Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  return tapegrad::flatten(*this, start_dim, end_dim);
}
Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  return tapegrad::transpose(*this, dim0, dim1);
}
Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  return tapegrad::permute(*this, dims);
}
Tensor Tensor::contiguous() const {
  return *this;  // every tensor is contiguous
}
Tensor Tensor::clone() const {
  return tapegrad::clone(*this);
}

// Between float types the conversion is differentiable; to int64 the result has no gradient.
Tensor Tensor::to(Dtype dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor z = copy_data(*this, dtype);
  if (is_floating(dtype) && autograd::needs_recording({this}))
    autograd::record("to", {*this}, {&z}, {}, [from = this->dtype()](const BackwardArgs& g) {
      return Grads{copy_data(g.grad_outputs[0], from)};
    });
  return z;
}

}  // namespace tapegrad
