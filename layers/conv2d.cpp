#include "tapegrad/layers/conv2d.hpp"

#include <cmath>

namespace tapegrad::nn {

Conv2d::Conv2d(const Conv2dOptions& options, Generator& gen) : options_(options) {
  const Conv2dOptions& o = options_;
  check(o.in_channels() > 0 && o.out_channels() > 0,
        "Conv2d: expected positive in and out channels, got {} and {}", o.in_channels(),
        o.out_channels());
  check(o.groups() > 0 && o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0,
        "Conv2d: expected groups dividing in_channels {} and out_channels {}, got groups {}",
        o.in_channels(), o.out_channels(), o.groups());
  check(o.kernel_size().h > 0 && o.kernel_size().w > 0,
        "Conv2d: expected a positive kernel size, got {}", o.kernel_size());
  check(o.stride().h > 0 && o.stride().w > 0, "Conv2d: expected a positive stride, got {}",
        o.stride());
  check(o.dilation().h > 0 && o.dilation().w > 0, "Conv2d: expected a positive dilation, got {}",
        o.dilation());
  check(o.padding().h >= 0 && o.padding().w >= 0, "Conv2d: expected a non-negative padding, got {}",
        o.padding());

  // PyTorch's reset_parameters: the weight first, then the bias, from the same generator.
  Tensor w =
      empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size().h, o.kernel_size().w});
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (o.bias()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(w.shape())));
    Tensor b = empty({o.out_channels()});
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Conv2d::forward(const Tensor& input) {
  check(input.defined() && input.dim() == 4 && input.size(1) == options_.in_channels(),
        "Conv2d: expected input [N, {}, H, W], got {}", options_.in_channels(),
        input.defined() ? fmt::format("{}", input.shape()) : std::string("an undefined tensor"));
  return conv2d(input, weight, bias, options_.params());
}

std::string Conv2d::name() const {
  const Conv2dOptions& o = options_;
  std::string s = fmt::format("Conv2d({}, {}, kernel_size={}, stride={}", o.in_channels(),
                              o.out_channels(), o.kernel_size(), o.stride());
  if (o.padding() != Size2{0}) s += fmt::format(", padding={}", o.padding());
  if (o.dilation() != Size2{1}) s += fmt::format(", dilation={}", o.dilation());
  if (o.groups() != 1) s += fmt::format(", groups={}", o.groups());
  if (!o.bias()) s += ", bias=False";
  return s + ")";
}

}  // namespace tapegrad::nn
