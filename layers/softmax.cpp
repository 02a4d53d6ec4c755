#include "tapegrad/layers/softmax.hpp"

#include "tapegrad/autograd/activation.hpp"

namespace tapegrad::nn {

Tensor Softmax::forward(const Tensor& x) {
  return softmax(x, dim_);
}

std::string Softmax::name() const {
  return fmt::format("Softmax(dim={})", dim_);
}

}  // namespace tapegrad::nn
