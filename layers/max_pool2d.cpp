#include "tapegrad/layers/max_pool2d.hpp"

namespace tapegrad::nn {

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, options_.kernel_size(), options_.stride(), options_.padding(),
                    options_.ceil_mode());
}

std::string MaxPool2d::name() const {
  return fmt::format("MaxPool2d(kernel_size={}, stride={}, padding={}, ceil_mode={})",
                     options_.kernel_size(), options_.stride(), options_.padding(),
                     options_.ceil_mode());
}

}  // namespace tapegrad::nn
