// AdaptiveAvgPool2d layer: averages (N, C, H, W) planes down to a fixed (OH, OW)
// (tapegrad::adaptive_avg_pool2d).
#pragma once

#include <string>

#include "tapegrad/autograd/pooling.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Adaptive average pooling to `output_size` whatever the input size; no parameters.
///   tg::nn::AdaptiveAvgPool2d gap(1);  // [N, C, H, W] -> [N, C, 1, 1]
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  Size2 output_size() const { return output_size_; }

 private:
  Size2 output_size_;
};

}  // namespace tapegrad::nn
