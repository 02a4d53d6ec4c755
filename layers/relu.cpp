#include "tapegrad/layers/relu.hpp"

#include "tapegrad/autograd/activation.hpp"

namespace tapegrad::nn {

Tensor ReLU::forward(const Tensor& x) {
  return relu(x);
}

std::string ReLU::name() const {
  return "ReLU()";
}

}  // namespace tapegrad::nn
