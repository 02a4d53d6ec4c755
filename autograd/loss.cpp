// Losses over a batch. A Reduction keeps the per-sample values (None), or sums them (Sum) or
// averages them (Mean, over N samples, or over every element for mse_loss). With g_n = dL/dloss_n
// (the upstream gradient itself for Sum and None, divided by the count for Mean):
//   cross_entropy: loss_n = lse_n - x[n, t_n],  lse_n = m_n + log(sum_c exp(x[n, c] - m_n)),
//                  m_n = max_c x[n, c];  dx[n, c] = g_n * (exp(x[n, c] - lse_n) - [c == t_n])
//                  (softmax minus one-hot; lse is saved in double, so the backward needs one pass)
//   nll_loss:      loss_n = -lp[n, t_n];                dlp[n, c] = -g_n * [c == t_n]
//   mse_loss:      loss_i = (x_i - y_i)^2;              dx_i = 2 g_i (x_i - y_i),  dy_i = -dx_i
// Sums run in double and in a fixed order (samples ascending; mse in fixed chunks).
#include "tapegrad/autograd/loss.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kElementGrain = 1 << 15;
constexpr std::int64_t kMaxPartials = 64;  // partial sums of a reduction over elements

// g_n = dL/dloss_n: the upstream gradient dy (one value per loss) for Reduction::None, else the
// scalar dy, divided by `count` for Reduction::Mean.
template <class T>
struct UpstreamGrad {
  const T* each = nullptr;  // Reduction::None: dy, one value per loss
  double all = 0.0;         // otherwise: the one value every loss gets
  double operator[](std::int64_t n) const {
    return each != nullptr ? static_cast<double>(each[n]) : all;
  }
};

template <class T>
UpstreamGrad<T> upstream_grad(const Tensor& dy, Reduction reduction, std::int64_t count) {
  if (reduction == Reduction::None) return {dy.data<T>(), 0.0};
  const double g = static_cast<double>(dy.data<T>()[0]);
  return {nullptr, reduction == Reduction::Mean ? g / static_cast<double>(count) : g};
}

// The loss tensor for per-sample values loss(n), n < count: (count) for None, else a scalar.
template <class T, class PerSample>
Tensor reduce_losses(std::int64_t count, Reduction reduction, PerSample loss) {
  if (reduction == Reduction::None) {
    Tensor out = empty({count}, dtype_of<T>());
    T* o = out.data<T>();
    for (std::int64_t n = 0; n < count; ++n) o[n] = static_cast<T>(loss(n));
    return out;
  }
  double total = 0.0;
  for (std::int64_t n = 0; n < count; ++n) total += loss(n);
  if (reduction == Reduction::Mean) total /= static_cast<double>(count);
  return scalar_tensor(total, dtype_of<T>());
}

// Checks input (N, C) and int64 labels (N) in [0, C).
void check_class_args(const Tensor& input, const Tensor& target, const char* op) {
  check(input.defined() && target.defined(),
        "{}: expected a defined input and target, got an undefined (empty) handle", op);
  check(input.dim() == 2, "{}: expected input [N, C], got {}", op, input.shape());
  check(input.size(0) > 0 && input.size(1) > 0,
        "{}: expected input [N, C] with non-zero sizes, got {}", op, input.shape());
  check(is_floating(input.dtype()), "{}: expected a float32 or float64 input, got {} {}", op,
        input.dtype(), input.shape());
  check(target.dtype() == kInt64, "{}: expected int64 target labels, got {} {}", op, target.dtype(),
        target.shape());
  const std::int64_t N = input.size(0), C = input.size(1);
  check(target.dim() == 1 && target.size(0) == N, "{}: expected target [{}] for input {}, got {}",
        op, N, input.shape(), target.shape());
  const std::int64_t* t = target.data<std::int64_t>();
  for (std::int64_t n = 0; n < N; ++n)
    check(t[n] >= 0 && t[n] < C, "{}: expected target labels in [0, {}), got {} at index {}", op, C,
          t[n], n);
}

// ---- cross_entropy ----

// lse (N) = log(sum_c exp(x[n, c])) of x (N, C), max-subtracted, in double.
template <class T>
void cross_entropy_forward(double* lse, const T* x, std::int64_t N, std::int64_t C) {
  parallel_for(0, N, std::max<std::int64_t>(1, kElementGrain / C),
               [&](std::int64_t n0, std::int64_t n1) {
                 for (std::int64_t n = n0; n < n1; ++n) {
                   const T* row = x + n * C;
                   T m = -std::numeric_limits<T>::infinity();
                   for (std::int64_t c = 0; c < C; ++c) m = std::max(m, row[c]);
                   double s = 0.0;
                   for (std::int64_t c = 0; c < C; ++c) s += std::exp(row[c] - m);
                   lse[n] = static_cast<double>(m) + std::log(s);
                 }
               });
}

// dx (N, C) = g_n * (exp(x - lse_n) - onehot(t_n)); x (N, C), lse (N), t (N).
template <class T>
void cross_entropy_backward(T* dx, const T* x, const double* lse, const std::int64_t* t,
                            const UpstreamGrad<T>& g, std::int64_t N, std::int64_t C) {
  parallel_for(0, N, std::max<std::int64_t>(1, kElementGrain / C),
               [&](std::int64_t n0, std::int64_t n1) {
                 for (std::int64_t n = n0; n < n1; ++n) {
                   const T* row = x + n * C;
                   T* drow = dx + n * C;
                   const double gn = g[n];
                   for (std::int64_t c = 0; c < C; ++c)
                     drow[c] = static_cast<T>(gn * std::exp(static_cast<double>(row[c]) - lse[n]));
                   drow[t[n]] -= static_cast<T>(gn);
                 }
               });
}

// ---- nll_loss ----

// dlp (N, C) = -g_n at [n, t_n], zero elsewhere.
template <class T>
void nll_loss_backward(T* dlp, const std::int64_t* t, const UpstreamGrad<T>& g, std::int64_t N,
                       std::int64_t C) {
  parallel_for(0, N, std::max<std::int64_t>(1, kElementGrain / C),
               [&](std::int64_t n0, std::int64_t n1) {
                 std::fill(dlp + n0 * C, dlp + n1 * C, T(0));
                 for (std::int64_t n = n0; n < n1; ++n) dlp[n * C + t[n]] = static_cast<T>(-g[n]);
               });
}

// ---- mse_loss ----

// out (n) = (x - y)^2 elementwise; x, y (n).
template <class T>
void mse_loss_forward(T* out, const T* x, const T* y, std::int64_t n) {
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
  });
}

// sum of (x - y)^2 over x, y (n), in double: at most kMaxPartials fixed chunks summed in
// parallel, then added in chunk order (the same at any thread count, no scratch allocation).
template <class T>
double mse_loss_sum(const T* x, const T* y, std::int64_t n) {
  const std::int64_t grain = std::max(kElementGrain, (n + kMaxPartials - 1) / kMaxPartials);
  std::array<double, kMaxPartials> partial{};
  parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) {
    double s = 0.0;
    for (std::int64_t i = b; i < e; ++i) {
      const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
      s += d * d;
    }
    partial[b / grain] = s;
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// dx (n) = 2 g_i (x - y), dy (n) = -dx; either output may be null.
template <class T>
void mse_loss_backward(T* dx, T* dy, const T* x, const T* y, const UpstreamGrad<T>& g,
                       std::int64_t n) {
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const double d = 2.0 * g[i] * (static_cast<double>(x[i]) - static_cast<double>(y[i]));
      if (dx != nullptr) dx[i] = static_cast<T>(d);
      if (dy != nullptr) dy[i] = static_cast<T>(-d);
    }
  });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  check_class_args(logits, target, "cross_entropy");
  const std::int64_t N = logits.size(0), C = logits.size(1);
  Tensor lse = empty({N}, kFloat64);
  Tensor loss = dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* x = logits.data<T>();
    const std::int64_t* t = target.data<std::int64_t>();
    const double* l = lse.data<double>();
    cross_entropy_forward(lse.data<double>(), x, N, C);
    return reduce_losses<T>(
        N, reduction, [&](std::int64_t n) { return l[n] - static_cast<double>(x[n * C + t[n]]); });
  });
  if (autograd::needs_recording({&logits})) {
    autograd::record("cross_entropy", {logits}, {&loss}, {logits, target, lse},
                     [N, C, reduction](const autograd::BackwardArgs& a) {
                       const Tensor& x = a.saved[0];
                       Tensor dx = empty({N, C}, x.dtype());
                       dispatch_floating(x.dtype(), "cross_entropy backward", [&](auto tag) {
                         using T = decltype(tag);
                         cross_entropy_backward(
                             dx.data<T>(), x.data<T>(), a.saved[2].data<double>(),
                             a.saved[1].data<std::int64_t>(),
                             upstream_grad<T>(a.grad_outputs[0], reduction, N), N, C);
                       });
                       return std::vector<Tensor>{dx};
                     });
  }
  return loss;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  check_class_args(log_probs, target, "nll_loss");
  const std::int64_t N = log_probs.size(0), C = log_probs.size(1);
  Tensor loss = dispatch_floating(log_probs.dtype(), "nll_loss", [&](auto tag) {
    using T = decltype(tag);
    const T* lp = log_probs.data<T>();
    const std::int64_t* t = target.data<std::int64_t>();
    return reduce_losses<T>(N, reduction,
                            [&](std::int64_t n) { return -static_cast<double>(lp[n * C + t[n]]); });
  });
  if (autograd::needs_recording({&log_probs})) {
    autograd::record("nll_loss", {log_probs}, {&loss}, {target},
                     [N, C, reduction, dtype = log_probs.dtype()](const autograd::BackwardArgs& a) {
                       Tensor dlp = empty({N, C}, dtype);
                       dispatch_floating(dtype, "nll_loss backward", [&](auto tag) {
                         using T = decltype(tag);
                         nll_loss_backward(dlp.data<T>(), a.saved[0].data<std::int64_t>(),
                                           upstream_grad<T>(a.grad_outputs[0], reduction, N), N, C);
                       });
                       return std::vector<Tensor>{dlp};
                     });
  }
  return loss;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check(input.defined() && target.defined(),
        "mse_loss: expected a defined input and target, got an undefined (empty) handle");
  check(input.shape() == target.shape(),
        "mse_loss: expected target of the input's shape {}, got {}", input.shape(), target.shape());
  check(input.dtype() == target.dtype(),
        "mse_loss: expected input and target of one dtype, got {} {} and {} {}", input.dtype(),
        input.shape(), target.dtype(), target.shape());
  check(input.numel() > 0, "mse_loss: expected non-empty tensors, got {}", input.shape());
  const std::int64_t n = input.numel();
  Tensor loss = dispatch_floating(input.dtype(), "mse_loss", [&](auto tag) {
    using T = decltype(tag);
    if (reduction == Reduction::None) {
      Tensor out = empty(input.shape(), input.dtype());
      mse_loss_forward(out.data<T>(), input.data<T>(), target.data<T>(), n);
      return out;
    }
    double total = mse_loss_sum(input.data<T>(), target.data<T>(), n);
    if (reduction == Reduction::Mean) total /= static_cast<double>(n);
    return scalar_tensor(total, input.dtype());
  });
  if (autograd::needs_recording({&input, &target})) {
    autograd::record("mse_loss", {input, target}, {&loss}, {input, target},
                     [n, reduction](const autograd::BackwardArgs& a) {
                       const Tensor& x = a.saved[0];
                       const Tensor& y = a.saved[1];
                       Tensor dx, dy;
                       if (a.needs_grad(0)) dx = empty(x.shape(), x.dtype());
                       if (a.needs_grad(1)) dy = empty(y.shape(), y.dtype());
                       dispatch_floating(x.dtype(), "mse_loss backward", [&](auto tag) {
                         using T = decltype(tag);
                         mse_loss_backward(dx.defined() ? dx.data<T>() : nullptr,
                                           dy.defined() ? dy.data<T>() : nullptr, x.data<T>(),
                                           y.data<T>(),
                                           upstream_grad<T>(a.grad_outputs[0], reduction, n), n);
                       });
                       return std::vector<Tensor>{dx, dy};
                     });
  }
  return loss;
}

}  // namespace tapegrad
