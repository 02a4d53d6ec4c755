// Gradient clipping, as PyTorch 1.13's torch.nn.utils.clip_grad_norm_ / clip_grad_value_:
//   total = (sum over every gradient element g of |g|^p)^(1/p)   (max |g| for p = inf)
//   coef  = max_norm / (total + 1e-6); gradients *= coef when coef < 1
// Parameters without a gradient are ignored.
#pragma once

#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad::optim {

/// Scales the gradients in place so that their total norm is at most max_norm; returns the total
/// norm before clipping (accumulated in double). norm_type: p > 0, or INFINITY for the max norm.
/// A NaN or infinite total norm is an error with error_if_nonfinite; otherwise it scales the
/// gradients by the resulting coefficient, as PyTorch does.
///   loss.backward(); tg::optim::clip_grad_norm_(net.parameters(), 1.0); opt.step();
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every gradient element into [-clip_value, clip_value] in place (NaN stays NaN).
///   tg::optim::clip_grad_value_(net.parameters(), 0.5);
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace tapegrad::optim

namespace tapegrad::nn::utils {
// PyTorch's spelling: torch::nn::utils::clip_grad_norm_.
using optim::clip_grad_norm_;
using optim::clip_grad_value_;
}  // namespace tapegrad::nn::utils
