#include "tapegrad/layers/adaptive_avg_pool2d.hpp"

namespace tapegrad::nn {

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return adaptive_avg_pool2d(x, output_size_);
}

std::string AdaptiveAvgPool2d::name() const {
  return fmt::format("AdaptiveAvgPool2d(output_size={})", output_size_);
}

}  // namespace tapegrad::nn
