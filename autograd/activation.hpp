// Activations: relu, softmax and log_softmax (differentiable; see activation.cpp for formulas).
#pragma once

#include <cstdint>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// max(x, 0) elementwise (NaN stays NaN).  auto y = tg::relu(x);
Tensor relu(const Tensor& x);

/// exp(x) / sum(exp(x)) along `dim` (negative counts from the end), computed max-subtracted.
///   auto p = tg::softmax(logits, 1);
Tensor softmax(const Tensor& x, std::int64_t dim);

/// x - log(sum(exp(x))) along `dim`, computed max-subtracted (log-sum-exp).
///   auto logp = tg::log_softmax(logits, 1);
Tensor log_softmax(const Tensor& x, std::int64_t dim);

}  // namespace tapegrad

namespace tapegrad::nn::functional {
using tapegrad::log_softmax;
using tapegrad::relu;
using tapegrad::softmax;
}  // namespace tapegrad::nn::functional
