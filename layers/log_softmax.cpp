#include "tapegrad/layers/log_softmax.hpp"

#include "tapegrad/autograd/activation.hpp"

namespace tapegrad::nn {

Tensor LogSoftmax::forward(const Tensor& x) {
  return log_softmax(x, dim_);
}

std::string LogSoftmax::name() const {
  return fmt::format("LogSoftmax(dim={})", dim_);
}

}  // namespace tapegrad::nn
