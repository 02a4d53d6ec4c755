// Gradient clipping by total norm and by value (formulas in clip_grad.hpp).
//
// The norm is a deterministic parallel reduction: each gradient is cut into chunks of kGrain
// elements, each chunk's sum of |g|^p (or max |g|) is computed in double by one task, and the
// partials are combined in chunk order, so the result does not depend on the thread count.
#include "tapegrad/optim/clip_grad.hpp"

#include <cmath>
#include <limits>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad::optim {
namespace {

constexpr std::int64_t kGrain = std::int64_t{1} << 15;

// Combines two partials: a sum for finite p, a NaN-propagating max for p = inf.
double combine(double acc, double x, bool max_norm) {
  if (!max_norm) return acc + x;
  return (acc > x || acc != acc) ? acc : x;
}

// grad: (n). Returns sum |g|^p over the chunk [begin, end), or max |g| when p is infinite.
template <class T>
double norm_partial(const T* grad, std::int64_t begin, std::int64_t end, double p) {
  const bool max_norm = std::isinf(p);
  double acc = 0.0;
  for (std::int64_t i = begin; i < end; ++i) {
    const double a = std::fabs(static_cast<double>(grad[i]));
    const double term = max_norm ? a : p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
    acc = combine(acc, term, max_norm);
  }
  return acc;
}

// Sum of |g|^p (or max |g|) over one gradient, combining per-chunk partials in chunk order.
double norm_accumulate(const Tensor& grad, double p) {
  const std::int64_t n = grad.numel();
  const bool max_norm = std::isinf(p);
  return dispatch_floating(grad.dtype(), "clip_grad_norm_", [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad.data<T>();
    if (n <= kGrain) return norm_partial(g, 0, n, p);
    std::vector<double> partials(static_cast<std::size_t>((n + kGrain - 1) / kGrain));
    parallel_for(0, n, kGrain, [&](std::int64_t begin, std::int64_t end) {
      partials[static_cast<std::size_t>(begin / kGrain)] = norm_partial(g, begin, end, p);
    });
    double acc = 0.0;
    for (double x : partials) acc = combine(acc, x, max_norm);
    return acc;
  });
}

// grad: (n). grad *= coef.
template <class T>
void scale(T* grad, std::int64_t n, double coef) {
  const T c = static_cast<T>(coef);
  parallel_for(0, n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) grad[i] = grad[i] * c;
  });
}

// grad: (n). grad = clamp(grad, lo, hi); NaN stays NaN.
template <class T>
void clamp(T* grad, std::int64_t n, double lo, double hi) {
  const T l = static_cast<T>(lo), h = static_cast<T>(hi);
  parallel_for(0, n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const T x = grad[i];
      grad[i] = x < l ? l : x > h ? h : x;
    }
  });
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  check(norm_type > 0, "clip_grad_norm_: expected norm_type > 0 (or infinity), got {}", norm_type);
  check(max_norm >= 0, "clip_grad_norm_: expected max_norm >= 0, got {}", max_norm);
  const bool max_type = std::isinf(norm_type);
  double acc = 0.0;
  bool any = false;
  for (const Tensor& p : params) {
    check(p.defined(), "clip_grad_norm_: expected defined parameters, got an undefined tensor");
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    any = true;
    acc = combine(acc, norm_accumulate(g, norm_type), max_type);
  }
  if (!any) return 0.0;
  const double total = max_type           ? acc
                       : norm_type == 2.0 ? std::sqrt(acc)
                                          : std::pow(acc, 1.0 / norm_type);
  check(!error_if_nonfinite || std::isfinite(total),
        "clip_grad_norm_: the total norm of order {} of the gradients is {}, so they cannot be "
        "clipped (pass error_if_nonfinite = false to scale them by it anyway)",
        norm_type, total);
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1.0) return total;  // clamp(coef, max=1): scaling by 1 changes nothing
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto tag) {
      using T = decltype(tag);
      scale(g.data<T>(), g.numel(), coef);
    });
    g.bump_version();
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  check(clip_value >= 0, "clip_grad_value_: expected clip_value >= 0, got {}", clip_value);
  for (const Tensor& p : params) {
    check(p.defined(), "clip_grad_value_: expected defined parameters, got an undefined tensor");
    Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch_floating(g.dtype(), "clip_grad_value_", [&](auto tag) {
      using T = decltype(tag);
      clamp(g.data<T>(), g.numel(), -clip_value, clip_value);
    });
    g.bump_version();
  }
}

}  // namespace tapegrad::optim
