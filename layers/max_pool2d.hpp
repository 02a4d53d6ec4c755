// MaxPool2d layer: max over kernel windows of (N, C, H, W) planes (tapegrad::max_pool2d).
#pragma once

#include <string>

#include "tapegrad/autograd/pooling.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// MaxPool2d's options, PyTorch's defaults: stride = kernel, padding 0, ceil_mode off.
///   tg::nn::MaxPool2dOptions(3).stride(2).padding(1)
class MaxPool2dOptions {
 public:
  MaxPool2dOptions(Size2 kernel_size)  // NOLINT: implicit, like PyTorch's
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  MaxPool2dOptions& stride(Size2 s) {
    stride_ = s;
    return *this;
  }
  MaxPool2dOptions& padding(Size2 p) {
    padding_ = p;
    return *this;
  }
  MaxPool2dOptions& ceil_mode(bool on) {
    ceil_mode_ = on;
    return *this;
  }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  bool ceil_mode() const { return ceil_mode_; }

 private:
  Size2 kernel_size_;
  Size2 stride_;
  Size2 padding_ = 0;
  bool ceil_mode_ = false;
};

/// Max pooling; no parameters.  tg::nn::MaxPool2d pool(2);  // [N, C, 28, 28] -> [N, C, 14, 14]
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options) : options_(options) {}
  explicit MaxPool2d(Size2 kernel_size) : options_(kernel_size) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  const MaxPool2dOptions& options() const { return options_; }

 private:
  MaxPool2dOptions options_;
};

}  // namespace tapegrad::nn
