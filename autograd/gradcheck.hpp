// gradcheck: numerical vs analytic gradients, in float64.
//
// For fn: tensors -> tensor, with a random v of the output's shape, the analytic vector-Jacobian
// product (backward(out, v)) is compared, for every element of every input that requires grad,
// with the central difference ((f(x + eps) - f(x - eps)) . v) / (2 eps). An element passes when
// |analytic - numeric| <= atol + rtol * |numeric| (PyTorch's defaults).
//
// The inputs are the caller's own tensors, perturbed in place and restored, so a layer's
// parameters can be passed and checked too.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 0;  // for the random v
};

struct GradcheckReport {
  bool ok = true;
  // The worst element (largest error relative to its tolerance):
  int input_index = -1;
  std::int64_t flat_index = -1;
  double numeric = 0.0;
  double analytic = 0.0;
  double max_abs_error = 0.0;  // over every checked element
  double max_rel_error = 0.0;  // |a - n| / max(|n|, 1e-12 ... atol) over every checked element
  std::int64_t checked = 0;    // number of elements compared
  std::string summary;         // one readable paragraph

  explicit operator bool() const { return ok; }
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Checks fn's gradients with respect to every input that requires grad (all must be float64
/// leaves).  auto r = tg::gradcheck([&](auto& in) { return conv.forward(in[0]); }, {x64});
GradcheckReport gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace tapegrad
