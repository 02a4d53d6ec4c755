// Inverted dropout (see dropout.cpp).
#pragma once

#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Training: zeroes each element with probability p and scales the rest by 1 / (1 - p), the mask
/// drawn from `gen`; p == 1 gives zeros. Not training, or p == 0: returns x itself.
///   auto y = tg::dropout(x, 0.5, /*training=*/true, gen);
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace tapegrad

namespace tapegrad::nn::functional {
using tapegrad::dropout;
}  // namespace tapegrad::nn::functional
