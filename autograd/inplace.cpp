// In-place ops: self = f(self, other), written into self's own storage.
//
// They record nothing: in-place ops are not differentiable in tapegrad. They exist for optimizer
// steps, zero_grad and load_state_dict, which run under NoGradGuard; outside it, a tensor that
// requires grad is refused. Each one bumps the storage version, so a backward that saved this
// storage (or a view of it) before the write fails with a clear error instead of a wrong gradient.
//   add_:  self += alpha * other     mul_:  self *= other     copy_: self = other (any dtype)
//   zero_: self = 0                  fill_: self = value
// other broadcasts to self's shape; same-shape updates are one parallel loop, no allocation.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/broadcast.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad {
namespace {

using kernels::kElementwiseGrain;
using kernels::Operand;

void check_inplace(const Tensor& self, const char* op) {
  if (!is_grad_enabled() || !self.requires_grad()) return;
  check(!self.is_leaf(),
        "{}: a leaf tensor that requires grad cannot be modified in place outside NoGradGuard "
        "(shape {})",
        op, self.shape());
  fail(
      "{}: in-place ops are not differentiable in tapegrad, and this tensor requires grad (the "
      "output of {}, shape {}); use the out-of-place op, or NoGradGuard",
      op, self.grad_fn_name(), self.shape());
}

void check_operand(const Tensor& self, const Tensor& other, const char* op) {
  check(other.dtype() == self.dtype(),
        "{}: expected tensors of the same dtype, got {} {} and {} {}", op, self.dtype(),
        self.shape(), other.dtype(), other.shape());
  check(other.dim() <= self.dim() &&
            broadcast_shapes(self.shape(), other.shape(), op) == self.shape(),
        "{}: expected an operand that broadcasts to {}, got {}", op, self.shape(), other.shape());
}

// An int64 tensor only takes integral scalars (0.5 would be silently truncated).
void check_scalar(const Tensor& self, double value, const char* op) {
  check(is_floating(self.dtype()) || value == std::trunc(value),
        "{}: expected an integral value for an int64 tensor, got {} (shape {})", op, value,
        self.shape());
}

// self[i] = f(self[i]) (shape S)
template <class T, class F>
void apply(Tensor& self, F f) {
  T* p = self.data<T>();
  parallel_for(0, self.numel(), kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) p[i] = f(p[i]);
  });
}

// self[i] = f(self[i], other[i]): self (S), other (broadcasts to S)
template <class T, class F>
void update(Tensor& self, const Tensor& other, F f) {
  T* p = self.data<T>();
  const T* q = other.data<T>();
  if (other.shape() == self.shape()) {
    parallel_for(0, self.numel(), kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) p[i] = f(p[i], q[i]);
    });
  } else {
    kernels::broadcast_map(p, self.shape(), f, Operand<T>{p, self.shape()},
                           Operand<T>{q, other.shape()});
  }
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  check_operand(*this, other, "add_");
  check_scalar(*this, alpha, "add_");
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(alpha);
    if (alpha == 1.0)
      update<T>(*this, other, [](T x, T y) { return x + y; });
    else
      update<T>(*this, other, [a](T x, T y) { return x + a * y; });
  });
  bump_version();
  return *this;
}

Tensor& Tensor::add_(double value) {
  check_inplace(*this, "add_");
  check_scalar(*this, value, "add_");
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    apply<T>(*this, [v = static_cast<T>(value)](T x) { return x + v; });
  });
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace(*this, "mul_");
  check_operand(*this, other, "mul_");
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    update<T>(*this, other, [](T x, T y) { return x * y; });
  });
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  check_scalar(*this, value, "mul_");
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    apply<T>(*this, [v = static_cast<T>(value)](T x) { return x * v; });
  });
  bump_version();
  return *this;
}

Tensor& Tensor::zero_() {
  check_inplace(*this, "zero_");
  auto* p = static_cast<unsigned char*>(raw_data());
  const auto size = static_cast<std::int64_t>(element_size(dtype()));
  parallel_for(0, numel(), kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
    std::memset(p + lo * size, 0, static_cast<std::size_t>((hi - lo) * size));
  });
  bump_version();
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  dispatch_all(dtype(), [&](auto tag) {
    using T = decltype(tag);
    apply<T>(*this, [v = static_cast<T>(value)](T) { return v; });
  });
  bump_version();
  return *this;
}

// self (S, dtype D) = src (broadcasts to S, dtype S) converted to D.
Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  check(src.dim() <= dim() && broadcast_shapes(shape(), src.shape(), "copy_") == shape(),
        "copy_: expected a source that broadcasts to {}, got {}", shape(), src.shape());
  if (src.raw_data() != raw_data()) {  // else: the same elements (shared storage, same numel)
    dispatch_all(src.dtype(), [&](auto src_tag) {
      using S = decltype(src_tag);
      dispatch_all(dtype(), [&](auto dst_tag) {
        using D = decltype(dst_tag);
        const S* in = src.data<S>();
        D* out = data<D>();
        if (src.shape() != shape()) {
          kernels::broadcast_map(
              out, shape(), [](S v) { return static_cast<D>(v); }, Operand<S>{in, src.shape()});
        } else {
          parallel_for(0, numel(), kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
            if constexpr (std::is_same_v<S, D>)
              std::memcpy(out + lo, in + lo, static_cast<std::size_t>(hi - lo) * sizeof(D));
            else
              for (std::int64_t i = lo; i < hi; ++i) out[i] = static_cast<D>(in[i]);
          });
        }
      });
    });
  }
  bump_version();
  return *this;
}

}  // namespace tapegrad
