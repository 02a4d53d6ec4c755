// nn::Conv2d: a 2-D convolution layer with a learnable weight (OC, C/groups, KH, KW) and an
// optional bias (OC), initialised as PyTorch does; forward calls the functional tapegrad::conv2d
// (formula in autograd/conv2d.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/autograd/conv2d.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/init.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Options of Conv2d: channels and kernel in the constructor, the rest as chained setters with
/// PyTorch's defaults (stride 1, padding 0, dilation 1, groups 1, bias true). Sizes take one
/// value or {h, w}:
///   tg::nn::Conv2dOptions(1, 16, 3).stride(1).padding(1).bias(false)
class Conv2dOptions {
 public:
  Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  Conv2dOptions& stride(Size2 value) {
    stride_ = value;
    return *this;
  }
  Conv2dOptions& padding(Size2 value) {
    padding_ = value;
    return *this;
  }
  Conv2dOptions& dilation(Size2 value) {
    dilation_ = value;
    return *this;
  }
  Conv2dOptions& groups(std::int64_t value) {
    groups_ = value;
    return *this;
  }
  Conv2dOptions& bias(bool value) {
    bias_ = value;
    return *this;
  }

  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  Size2 dilation() const { return dilation_; }
  std::int64_t groups() const { return groups_; }
  bool bias() const { return bias_; }

  /// The functional op's parameters.
  Conv2dParams params() const { return {stride_, padding_, dilation_, groups_}; }

 private:
  std::int64_t in_channels_;
  std::int64_t out_channels_;
  Size2 kernel_size_;
  Size2 stride_ = 1;
  Size2 padding_ = 0;
  Size2 dilation_ = 1;
  std::int64_t groups_ = 1;
  bool bias_ = true;
};

/// A convolution layer. Parameters "weight" (OC, C/groups, KH, KW), U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)) (PyTorch's kaiming_uniform with a = sqrt(5)), and "bias" (OC), same bound,
/// absent with .bias(false). Copies share their parameters.
///   tg::nn::Conv2d conv(tg::nn::Conv2dOptions(1, 16, 3).padding(1));  auto y = conv(x);
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& gen = init::default_generator());

  /// input (N, in_channels, H, W) -> (N, out_channels, OH, OW).
  Tensor forward(const Tensor& input) override;
  /// "Conv2d(1, 16, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1])", PyTorch's format.
  std::string name() const override;

  const Conv2dOptions& options() const { return options_; }

  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  Conv2dOptions options_;
};

}  // namespace tapegrad::nn
