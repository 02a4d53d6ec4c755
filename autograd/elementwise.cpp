// Elementwise ops. For z = f(a, b) with broadcasting, the gradient of each input is the
// elementwise gradient summed over the dimensions that input was broadcast along (sum_to).
//   add:  da = dz,            db = alpha * dz
//   mul:  da = dz * b,        db = dz * a
#include "tapegrad/autograd/elementwise.hpp"

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/broadcast.hpp"

namespace tapegrad {
namespace {

void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op) {
  check(a.dtype() == b.dtype(), "{}: expected tensors of the same dtype, got {} {} and {} {}", op,
        a.dtype(), a.shape(), b.dtype(), b.shape());
}

// z = f(a, b) over the broadcast shape.
template <class F>
Tensor binary_forward(const Tensor& a, const Tensor& b, std::string_view op, F f) {
  check_same_dtype(a, b, op);
  Tensor z = empty(broadcast_shapes(a.shape(), b.shape(), op), a.dtype());
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    kernels::binary_broadcast(z.data<T>(), z.shape(), a.data<T>(), a.shape(), b.data<T>(),
                              b.shape(), [&](T x, T y) { return f(x, y); });
  });
  return z;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  Tensor z = binary_forward(
      a, b, "add", [alpha](auto x, auto y) { return x + static_cast<decltype(x)>(alpha) * y; });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("add", {a, b}, {&z}, {},
                     [sa = a.shape(), sb = b.shape(), alpha](const autograd::BackwardArgs& g) {
                       const Tensor& dz = g.grad_outputs[0];
                       Tensor da, db;
                       if (g.needs_grad(0)) da = kernels::sum_to(dz, sa);
                       if (g.needs_grad(1)) {
                         db = kernels::sum_to(dz, sb);
                         if (alpha != 1.0) db = mul(db, scalar_tensor(alpha, db.dtype()));
                       }
                       return std::vector<Tensor>{da, db};
                     });
  }
  return z;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor z = binary_forward(a, b, "mul", [](auto x, auto y) { return x * y; });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("mul", {a, b}, {&z}, {a, b}, [](const autograd::BackwardArgs& g) {
      const Tensor& dz = g.grad_outputs[0];
      const Tensor& a = g.saved[0];
      const Tensor& b = g.saved[1];
      Tensor da, db;
      if (g.needs_grad(0)) da = kernels::sum_to(mul(dz, b), a.shape());
      if (g.needs_grad(1)) db = kernels::sum_to(mul(dz, a), b.shape());
      return std::vector<Tensor>{da, db};
    });
  }
  return z;
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}

}  // namespace tapegrad
