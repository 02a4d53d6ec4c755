// Elementwise ops. For z = f(a, b) with broadcasting, the gradient of each input is the
// elementwise gradient summed over the dimensions that input was broadcast along (sum_to).
//   add:   da = dz,            db = alpha dz           (sub: db = -alpha dz)
//   mul:   da = dz b,          db = dz a
//   div:   da = dz / b,        db = -dz a / b^2
//   neg:   dx = -dz
//   exp:   dx = dz z           (z = e^x)
//   log:   dx = dz / x
//   sqrt:  dx = dz / (2 z)     (z = sqrt(x))
//   pow:   dx = dz p x^(p-1)   (0 when p = 0)
//   abs:   dx = dz sign(x)     (sign(0) = 0)
//   maximum: da = dz ([a > b] + [a == b] / 2),  db = dz ([b > a] + [a == b] / 2); minimum: <
//   where:   da = dz [c != 0],  db = dz [c == 0]
// Comparisons return 1/0 masks in the inputs' dtype and record nothing.
#include "tapegrad/autograd/elementwise.hpp"

#include <cmath>
#include <functional>
#include <tuple>
#include <type_traits>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/broadcast.hpp"

namespace tapegrad {
namespace {

using autograd::BackwardArgs;
using Grads = std::vector<Tensor>;
using kernels::Operand;
using kernels::sum_to;

void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op) {
  check(a.dtype() == b.dtype(), "{}: expected tensors of the same dtype, got {} {} and {} {}", op,
        a.dtype(), a.shape(), b.dtype(), b.shape());
}

// A new tensor of `shape` = f(inputs broadcast to shape); the inputs share one floating dtype and
// f takes one value of it per input.
template <class F, class... Ts>
Tensor map(std::string_view op, const Shape& shape, F f, const Ts&... in) {
  const Dtype dtype = std::get<0>(std::tie(in...)).dtype();
  Tensor out = empty(shape, dtype);
  dispatch_floating(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    kernels::broadcast_map(out.data<T>(), shape, f,
                           Operand<T>{in.template data<T>(), in.shape()}...);
  });
  return out;
}

// z = f(a, b) over the broadcast shape.
template <class F>
Tensor binary(const Tensor& a, const Tensor& b, std::string_view op, F f) {
  check_same_dtype(a, b, op);
  return map(op, broadcast_shapes(a.shape(), b.shape(), op), f, a, b);
}

// s converted to the element type of x (a lambda argument).
template <class V>
auto as(double s, V) {
  return static_cast<V>(s);
}

// ---- add, sub: z = a + alpha b ----

Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha, const char* op) {
  Tensor z = binary(a, b, op, [alpha](auto x, auto y) { return x + as(alpha, x) * y; });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record(op, {a, b}, {&z}, {},
                     [sa = a.shape(), sb = b.shape(), alpha](const BackwardArgs& g) {
                       const Tensor& dz = g.grad_outputs[0];
                       Tensor da, db;
                       if (g.needs_grad(0)) da = sum_to(dz, sa);
                       if (g.needs_grad(1)) {
                         db = sum_to(dz, sb);
                         if (alpha != 1.0) db = mul(db, alpha);
                       }
                       return Grads{da, db};
                     });
  }
  return z;
}

// z = x + s
Tensor add_scalar(const Tensor& x, double s, const char* op) {
  Tensor z = map(
      op, x.shape(), [s](auto v) { return v + as(s, v); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record(op, {x}, {&z}, {},
                     [](const BackwardArgs& g) { return Grads{g.grad_outputs[0]}; });
  return z;
}

// ---- maximum, minimum ----

template <bool Max, class V>
V extremum_value(V x, V y) {
  return ((Max ? x > y : x < y) || std::isnan(x)) ? x : y;
}

// The share of dz that goes to x in extremum(x, y): 1 if x wins, 1/2 on a tie, else 0.
template <bool Max, class V>
V extremum_share(V x, V y) {
  if (Max ? x > y : x < y) return V(1);
  return x == y ? V(0.5) : V(0);
}

template <bool Max>
Tensor extremum(const Tensor& a, const Tensor& b, const char* op) {
  Tensor z = binary(a, b, op, [](auto x, auto y) { return extremum_value<Max>(x, y); });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record(op, {a, b}, {&z}, {a, b}, [op](const BackwardArgs& g) {
      const Tensor& dz = g.grad_outputs[0];
      const Tensor& a = g.saved[0];
      const Tensor& b = g.saved[1];
      Tensor da, db;
      if (g.needs_grad(0))
        da = sum_to(
            map(
                op, dz.shape(),
                [](auto d, auto x, auto y) { return d * extremum_share<Max>(x, y); }, dz, a, b),
            a.shape());
      if (g.needs_grad(1))
        db = sum_to(
            map(
                op, dz.shape(),
                [](auto d, auto x, auto y) { return d * extremum_share<Max>(y, x); }, dz, a, b),
            b.shape());
      return Grads{da, db};
    });
  }
  return z;
}

// ---- comparisons ----

template <class Cmp>
Tensor compare(const Tensor& a, const Tensor& b, std::string_view op, Cmp cmp) {
  check_same_dtype(a, b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty(shape, a.dtype());
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::broadcast_map(
        out.data<T>(), shape, [cmp](T x, T y) { return cmp(x, y) ? T(1) : T(0); },
        Operand<T>{a.data<T>(), a.shape()}, Operand<T>{b.data<T>(), b.shape()});
  });
  return out;
}

// Floating tensors compare in their own dtype (the scalar rounded to it), int64 ones in double.
template <class Cmp>
Tensor compare(const Tensor& a, double s, Cmp cmp) {
  Tensor out = empty(a.shape(), a.dtype());
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    const C v = static_cast<C>(s);
    kernels::unary_map(out.data<T>(), a.data<T>(), a.numel(),
                       [cmp, v](T x) { return cmp(static_cast<C>(x), v) ? T(1) : T(0); });
  });
  return out;
}

// dz where (condition != 0) == keep, else 0; condition broadcasts to dz's shape.
Tensor masked_grad(const Tensor& condition, const Tensor& dz, bool keep) {
  Tensor out = empty(dz.shape(), dz.dtype());
  dispatch_all(condition.dtype(), [&](auto ctag) {
    using C = decltype(ctag);
    dispatch_floating(dz.dtype(), "where", [&](auto tag) {
      using T = decltype(tag);
      kernels::broadcast_map(
          out.data<T>(), dz.shape(), [keep](C c, T d) { return (c != C(0)) == keep ? d : T(0); },
          Operand<C>{condition.data<C>(), condition.shape()}, Operand<T>{dz.data<T>(), dz.shape()});
    });
  });
  return out;
}

// x^p with the exact shortcuts PyTorch takes for common exponents.
template <class V>
V pow_value(V x, double p) {
  if (p == 2.0) return x * x;
  if (p == 3.0) return x * x * x;
  if (p == 0.5) return std::sqrt(x);
  if (p == -0.5) return V(1) / std::sqrt(x);
  if (p == -1.0) return V(1) / x;
  if (p == -2.0) return V(1) / (x * x);
  return std::pow(x, static_cast<V>(p));
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  return add_scaled(a, b, alpha, "add");
}

Tensor add(const Tensor& a, double b) {
  return add_scalar(a, b, "add");
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  return add_scaled(a, b, -alpha, "sub");
}

Tensor sub(const Tensor& a, double b) {
  return add_scalar(a, -b, "sub");
}

Tensor sub(double a, const Tensor& b) {
  Tensor z = map(
      "sub", b.shape(), [a](auto v) { return as(a, v) - v; }, b);
  if (autograd::needs_recording({&b}))
    autograd::record("sub", {b}, {&z}, {},
                     [](const BackwardArgs& g) { return Grads{neg(g.grad_outputs[0])}; });
  return z;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor z = binary(a, b, "mul", [](auto x, auto y) { return x * y; });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("mul", {a, b}, {&z}, {a, b}, [](const BackwardArgs& g) {
      const Tensor& dz = g.grad_outputs[0];
      const Tensor& a = g.saved[0];
      const Tensor& b = g.saved[1];
      Tensor da, db;
      if (g.needs_grad(0)) da = sum_to(mul(dz, b), a.shape());
      if (g.needs_grad(1)) db = sum_to(mul(dz, a), b.shape());
      return Grads{da, db};
    });
  }
  return z;
}

Tensor mul(const Tensor& a, double b) {
  Tensor z = map(
      "mul", a.shape(), [b](auto v) { return v * as(b, v); }, a);
  if (autograd::needs_recording({&a}))
    autograd::record("mul", {a}, {&z}, {},
                     [b](const BackwardArgs& g) { return Grads{mul(g.grad_outputs[0], b)}; });
  return z;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor z = binary(a, b, "div", [](auto x, auto y) { return x / y; });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("div", {a, b}, {&z}, {a, b}, [](const BackwardArgs& g) {
      const Tensor& dz = g.grad_outputs[0];
      const Tensor& a = g.saved[0];
      const Tensor& b = g.saved[1];
      Tensor da, db;
      if (g.needs_grad(0)) da = sum_to(div(dz, b), a.shape());
      if (g.needs_grad(1))
        db = sum_to(map(
                        "div", dz.shape(), [](auto d, auto x, auto y) { return -d * x / (y * y); },
                        dz, a, b),
                    b.shape());
      return Grads{da, db};
    });
  }
  return z;
}

Tensor div(const Tensor& a, double b) {
  Tensor z = map(
      "div", a.shape(), [b](auto v) { return v / as(b, v); }, a);
  if (autograd::needs_recording({&a}))
    autograd::record("div", {a}, {&z}, {},
                     [b](const BackwardArgs& g) { return Grads{div(g.grad_outputs[0], b)}; });
  return z;
}

Tensor div(double a, const Tensor& b) {
  Tensor z = map(
      "div", b.shape(), [a](auto v) { return as(a, v) / v; }, b);
  if (autograd::needs_recording({&b}))
    autograd::record("div", {b}, {&z}, {b}, [a](const BackwardArgs& g) {
      return Grads{map(
          "div", g.saved[0].shape(), [a](auto d, auto x) { return -d * as(a, x) / (x * x); },
          g.grad_outputs[0], g.saved[0])};
    });
  return z;
}

Tensor neg(const Tensor& x) {
  Tensor z = map(
      "neg", x.shape(), [](auto v) { return -v; }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("neg", {x}, {&z}, {},
                     [](const BackwardArgs& g) { return Grads{neg(g.grad_outputs[0])}; });
  return z;
}

Tensor exp(const Tensor& x) {
  Tensor z = map(
      "exp", x.shape(), [](auto v) { return std::exp(v); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("exp", {x}, {&z}, {z}, [](const BackwardArgs& g) {
      return Grads{mul(g.grad_outputs[0], g.saved[0])};
    });
  return z;
}

Tensor log(const Tensor& x) {
  Tensor z = map(
      "log", x.shape(), [](auto v) { return std::log(v); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("log", {x}, {&z}, {x}, [](const BackwardArgs& g) {
      return Grads{div(g.grad_outputs[0], g.saved[0])};
    });
  return z;
}

Tensor sqrt(const Tensor& x) {
  Tensor z = map(
      "sqrt", x.shape(), [](auto v) { return std::sqrt(v); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("sqrt", {x}, {&z}, {z}, [](const BackwardArgs& g) {
      return Grads{map(
          "sqrt", g.saved[0].shape(), [](auto d, auto y) { return d / (y + y); }, g.grad_outputs[0],
          g.saved[0])};
    });
  return z;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor z = map(
      "pow", x.shape(), [exponent](auto v) { return pow_value(v, exponent); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("pow", {x}, {&z}, {x}, [p = exponent](const BackwardArgs& g) {
      if (p == 0.0) return Grads{zeros_like(g.saved[0])};
      return Grads{map(
          "pow", g.saved[0].shape(),
          [p](auto d, auto v) { return d * as(p, v) * pow_value(v, p - 1.0); }, g.grad_outputs[0],
          g.saved[0])};
    });
  return z;
}

Tensor abs(const Tensor& x) {
  Tensor z = map(
      "abs", x.shape(), [](auto v) { return std::abs(v); }, x);
  if (autograd::needs_recording({&x}))
    autograd::record("abs", {x}, {&z}, {x}, [](const BackwardArgs& g) {
      return Grads{map(
          "abs", g.saved[0].shape(),
          [](auto d, auto v) {
            using V = decltype(v);
            return v > V(0) ? d : (v < V(0) ? -d : V(0));
          },
          g.grad_outputs[0], g.saved[0])};
    });
  return z;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum<true>(a, b, "maximum");
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum<false>(a, b, "minimum");
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "where");
  const Shape shape =
      broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor z = empty(shape, a.dtype());
  dispatch_all(condition.dtype(), [&](auto ctag) {
    using C = decltype(ctag);
    dispatch_all(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      kernels::broadcast_map(
          z.data<T>(), shape, [](C c, T x, T y) { return c != C(0) ? x : y; },
          Operand<C>{condition.data<C>(), condition.shape()}, Operand<T>{a.data<T>(), a.shape()},
          Operand<T>{b.data<T>(), b.shape()});
    });
  });
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("where", {a, b}, {&z}, {condition},
                     [sa = a.shape(), sb = b.shape()](const BackwardArgs& g) {
                       const Tensor& dz = g.grad_outputs[0];
                       const Tensor& c = g.saved[0];
                       Tensor da, db;
                       if (g.needs_grad(0)) da = sum_to(masked_grad(c, dz, true), sa);
                       if (g.needs_grad(1)) db = sum_to(masked_grad(c, dz, false), sb);
                       return Grads{da, db};
                     });
  }
  return z;
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return compare(a, b, "eq", std::equal_to<>{});
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ne", std::not_equal_to<>{});
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "lt", std::less<>{});
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare(a, b, "le", std::less_equal<>{});
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "gt", std::greater<>{});
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ge", std::greater_equal<>{});
}
Tensor eq(const Tensor& a, double b) {
  return compare(a, b, std::equal_to<>{});
}
Tensor ne(const Tensor& a, double b) {
  return compare(a, b, std::not_equal_to<>{});
}
Tensor lt(const Tensor& a, double b) {
  return compare(a, b, std::less<>{});
}
Tensor le(const Tensor& a, double b) {
  return compare(a, b, std::less_equal<>{});
}
Tensor gt(const Tensor& a, double b) {
  return compare(a, b, std::greater<>{});
}
Tensor ge(const Tensor& a, double b) {
  return compare(a, b, std::greater_equal<>{});
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator+(const Tensor& a, double b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, double b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, double b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, double b) {
  return div(a, b);
}
Tensor operator+(double a, const Tensor& b) {
  return add(b, a);
}
Tensor operator-(double a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(double a, const Tensor& b) {
  return mul(b, a);
}
Tensor operator/(double a, const Tensor& b) {
  return div(a, b);
}
Tensor operator-(const Tensor& x) {
  return neg(x);
}

}  // namespace tapegrad
