#include "tapegrad/autograd/gradcheck.hpp"

#include <cmath>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/generator.hpp"

namespace tapegrad {
namespace {

double dot(const Tensor& out, const std::vector<double>& v) {
  const std::vector<double> o = out.to_vector<double>();
  double s = 0.0;
  for (std::size_t i = 0; i < o.size(); ++i) s += o[i] * v[i];
  return s;
}

}  // namespace

GradcheckReport gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  bool any = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    any = true;
    check(x.dtype() == kFloat64,
          "gradcheck: expected float64 inputs (float32 is too coarse for central differences), "
          "got {} for input {} (shape {})",
          x.dtype(), i, x.shape());
    check(x.is_leaf(), "gradcheck: expected leaf inputs, got the output of {} for input {}",
          x.grad_fn_name(), i);
  }
  check(any, "gradcheck: expected at least one input that requires grad, got none of {}",
        inputs.size());

  // Analytic: one backward with a random v, on fresh gradients (the caller's are restored).
  std::vector<Tensor> saved_grads;
  for (const Tensor& x : inputs) saved_grads.push_back(x.defined() ? x.grad() : Tensor());
  // Handles share their TensorImpl: setting .grad through a copy sets the caller's.
  for (Tensor x : inputs)
    if (x.defined()) x.set_grad(Tensor());

  Tensor out = fn(inputs);
  check(out.defined() && out.dtype() == kFloat64,
        "gradcheck: expected fn to return a float64 tensor, got {}",
        out.defined() ? fmt::format("{}", out.dtype()) : std::string("an undefined tensor"));
  Generator gen(options.seed);
  Tensor v = uniform(out.shape(), -1.0, 1.0, gen, kFloat64);
  const std::vector<double> vv = v.to_vector<double>();
  std::vector<Tensor> analytic(inputs.size());
  if (out.requires_grad()) {
    backward(out, v);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].defined()) analytic[i] = inputs[i].grad();
  }
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (Tensor x = inputs[i]; x.defined()) x.set_grad(saved_grads[i]);

  // Numeric: central differences, element by element.
  GradcheckReport report;
  double worst = -1.0;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];  // same storage as the caller's tensor, perturbed and restored
    if (!x.defined() || !x.requires_grad()) continue;
    double* p = x.data<double>();
    const std::vector<double> a =
        analytic[i].defined() ? analytic[i].to_vector<double>() : std::vector<double>(x.numel());
    for (std::int64_t k = 0; k < x.numel(); ++k) {
      const double orig = p[k];
      p[k] = orig + options.eps;
      const double fp = dot(fn(inputs), vv);
      p[k] = orig - options.eps;
      const double fm = dot(fn(inputs), vv);
      p[k] = orig;
      const double numeric = (fp - fm) / (2.0 * options.eps);
      const double err = std::fabs(a[k] - numeric);
      const double tol = options.atol + options.rtol * std::fabs(numeric);
      report.max_abs_error = std::max(report.max_abs_error, err);
      report.max_rel_error =
          std::max(report.max_rel_error, err / std::max(std::fabs(numeric), options.atol));
      ++report.checked;
      if (err / tol > worst) {
        worst = err / tol;
        report.input_index = static_cast<int>(i);
        report.flat_index = k;
        report.numeric = numeric;
        report.analytic = a[k];
      }
      if (!(err <= tol)) report.ok = false;  // also catches NaN
    }
  }
  report.summary = fmt::format(
      "gradcheck {}: {} elements checked, max abs error {:.3g}, max rel error {:.3g}; worst: "
      "input {} element {}: analytic {:.10g} vs numeric {:.10g} (eps {}, atol {}, rtol {})",
      report.ok ? "passed" : "FAILED", report.checked, report.max_abs_error, report.max_rel_error,
      report.input_index, report.flat_index, report.analytic, report.numeric, options.eps,
      options.atol, options.rtol);
  return report;
}

}  // namespace tapegrad
