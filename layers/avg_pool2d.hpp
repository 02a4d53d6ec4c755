// AvgPool2d layer: mean over kernel windows of (N, C, H, W) planes (tapegrad::avg_pool2d).
#pragma once

#include <string>

#include "tapegrad/autograd/pooling.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// AvgPool2d's options, PyTorch's defaults: stride = kernel, padding 0, ceil_mode off, padded
/// positions counted in the divisor.  tg::nn::AvgPool2dOptions(3).stride(2).padding(1)
class AvgPool2dOptions {
 public:
  AvgPool2dOptions(Size2 kernel_size)  // NOLINT: implicit, like PyTorch's
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  AvgPool2dOptions& stride(Size2 s) {
    stride_ = s;
    return *this;
  }
  AvgPool2dOptions& padding(Size2 p) {
    padding_ = p;
    return *this;
  }
  AvgPool2dOptions& ceil_mode(bool on) {
    ceil_mode_ = on;
    return *this;
  }
  AvgPool2dOptions& count_include_pad(bool on) {
    count_include_pad_ = on;
    return *this;
  }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  bool ceil_mode() const { return ceil_mode_; }
  bool count_include_pad() const { return count_include_pad_; }

 private:
  Size2 kernel_size_;
  Size2 stride_;
  Size2 padding_ = 0;
  bool ceil_mode_ = false;
  bool count_include_pad_ = true;
};

/// Average pooling; no parameters.  tg::nn::AvgPool2d pool(2);
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options) : options_(options) {}
  explicit AvgPool2d(Size2 kernel_size) : options_(kernel_size) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  const AvgPool2dOptions& options() const { return options_; }

 private:
  AvgPool2dOptions options_;
};

}  // namespace tapegrad::nn
