// ReLU layer: y = max(x, 0) (tapegrad::relu).
#pragma once

#include <string>

#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Elementwise max(x, 0); no parameters.  tg::nn::ReLU relu;  auto y = relu(x);
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
};

}  // namespace tapegrad::nn
