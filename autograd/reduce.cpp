// Reductions over a set S of dims, z = reduce_{i in S} x_i, and their gradients:
//   sum:  dx = broadcast(dz)
//   mean: dx = broadcast(dz) / n                          (n = number of reduced elements)
//   max:  dx = broadcast(dz) [x == z] / count(x == z)     (ties share the gradient evenly)
// where broadcast() spreads the kept-dims gradient back over the reduced dims.
#include "tapegrad/autograd/reduce.hpp"

#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/broadcast.hpp"
#include "tapegrad/core/reduce.hpp"

namespace tapegrad {
namespace {

using autograd::BackwardArgs;
using Grads = std::vector<Tensor>;

struct ReducedDims {
  std::vector<bool> reduced;  // per dim of x
  Shape keep_shape;           // x's shape with the reduced dims set to 1
  Shape out_shape;            // the result's shape (keep_shape, or without the reduced dims)
  std::int64_t count = 1;     // reduced elements per output
};

ReducedDims reduced_dims(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim,
                         std::string_view op) {
  const std::int64_t rank = x.dim();
  ReducedDims r;
  r.reduced.assign(static_cast<std::size_t>(rank), dims.empty());
  std::vector<bool> seen(static_cast<std::size_t>(std::max<std::int64_t>(rank, 1)), false);
  for (std::int64_t d : dims) {
    const std::int64_t w = wrap_dim(d, rank, op);
    check(!seen[w], "{}: expected distinct dims, got dim {} more than once in {}", op, w, dims);
    seen[w] = true;
    if (rank > 0) r.reduced[w] = true;
  }
  for (std::int64_t d = 0; d < rank; ++d) {
    const std::int64_t n = x.shape()[d];
    r.keep_shape.push_back(r.reduced[d] ? 1 : n);
    if (r.reduced[d]) r.count *= n;
    if (!r.reduced[d] || keepdim) r.out_shape.push_back(r.reduced[d] ? 1 : n);
  }
  return r;
}

// dz (out_shape) spread over x's shape.
Tensor spread(const Tensor& dz, const ReducedDims& r, const Shape& x_shape) {
  return kernels::broadcast_to(alias_with_shape(dz, r.keep_shape), x_shape);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  ReducedDims r = reduced_dims(x, dims, keepdim, "sum");
  Tensor z =
      alias_with_shape(kernels::reduce(x, r.reduced, kernels::Reduction::Sum, "sum"), r.out_shape);
  if (autograd::needs_recording({&x})) {
    autograd::record("sum", {x}, {&z}, {}, [r, xs = x.shape()](const BackwardArgs& g) {
      return Grads{spread(g.grad_outputs[0], r, xs)};
    });
  }
  return z;
}

Tensor sum(const Tensor& x) {
  return sum(x, {});
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  ReducedDims r = reduced_dims(x, dims, keepdim, "mean");
  Tensor z = alias_with_shape(kernels::reduce(x, r.reduced, kernels::Reduction::Mean, "mean"),
                              r.out_shape);
  if (autograd::needs_recording({&x})) {
    autograd::record("mean", {x}, {&z}, {}, [r, xs = x.shape()](const BackwardArgs& g) {
      return Grads{spread(div(g.grad_outputs[0], static_cast<double>(r.count)), r, xs)};
    });
  }
  return z;
}

Tensor mean(const Tensor& x) {
  return mean(x, {});
}

Tensor max(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  ReducedDims r = reduced_dims(x, dims, keepdim, "max");
  Tensor z =
      alias_with_shape(kernels::reduce(x, r.reduced, kernels::Reduction::Max, "max"), r.out_shape);
  if (autograd::needs_recording({&x})) {
    autograd::record("max", {x}, {&z}, {x, z}, [r](const BackwardArgs& g) {
      const Tensor& x = g.saved[0];
      const Tensor winners = eq(x, alias_with_shape(g.saved[1], r.keep_shape));
      const Tensor count = kernels::reduce(winners, r.reduced, kernels::Reduction::Sum, "max");
      const Tensor share = div(alias_with_shape(g.grad_outputs[0], r.keep_shape), count);
      return Grads{mul(winners, share)};
    });
  }
  return z;
}

Tensor max(const Tensor& x) {
  return max(x, {});
}

Tensor Tensor::sum() const {
  return tapegrad::sum(*this);
}
Tensor Tensor::sum(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tapegrad::sum(*this, dims, keepdim);
}
Tensor Tensor::mean() const {
  return tapegrad::mean(*this);
}
Tensor Tensor::mean(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tapegrad::mean(*this, dims, keepdim);
}
Tensor Tensor::max() const {
  return tapegrad::max(*this);
}
Tensor Tensor::max(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tapegrad::max(*this, dims, keepdim);
}

}  // namespace tapegrad
