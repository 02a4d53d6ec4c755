#include "tapegrad/layers/avg_pool2d.hpp"

namespace tapegrad::nn {

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, options_.kernel_size(), options_.stride(), options_.padding(),
                    options_.ceil_mode(), options_.count_include_pad());
}

std::string AvgPool2d::name() const {
  return fmt::format(
      "AvgPool2d(kernel_size={}, stride={}, padding={}, ceil_mode={}, count_include_pad={})",
      options_.kernel_size(), options_.stride(), options_.padding(), options_.ceil_mode(),
      options_.count_include_pad());
}

}  // namespace tapegrad::nn
