// Losses: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss (see loss.cpp).
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// How a loss combines its per-element values: none (keep them), their mean, or their sum.
enum class Reduction { None, Mean, Sum };

/// Cross entropy of logits (N, C) against int64 class labels (N) in [0, C):
/// loss_n = log(sum_c exp(x_nc)) - x_n,target_n, computed max-subtracted; Mean by default.
///   auto loss = tg::cross_entropy(net.forward(x), labels);
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean);

/// Negative log likelihood of log-probabilities (N, C) (from log_softmax) against int64 labels
/// (N): loss_n = -log_probs[n, target_n].  auto loss = tg::nll_loss(tg::log_softmax(x, 1), y);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean);

/// Squared error (input - target)^2 of two tensors of one shape and dtype; both may require grad.
///   auto loss = tg::mse_loss(prediction, expected);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace tapegrad

namespace tapegrad::nn::functional {
using tapegrad::cross_entropy;
using tapegrad::mse_loss;
using tapegrad::nll_loss;
using tapegrad::Reduction;
}  // namespace tapegrad::nn::functional
