#include "tapegrad/layers/batchnorm2d.hpp"

#include <cmath>

namespace tapegrad::nn {
namespace {

// Sets every element of a floating tensor to `value`, in place.
void fill_with(Tensor& t, double value) {
  dispatch_floating(t.dtype(), "BatchNorm2d", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(value);
  });
  t.bump_version();
}

}  // namespace

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options) : options_(options) {
  const BatchNorm2dOptions& o = options_;
  check(o.num_features() > 0, "BatchNorm2d: expected num_features > 0, got {}", o.num_features());
  check(std::isfinite(o.eps()) && o.eps() >= 0.0, "BatchNorm2d: expected a finite eps >= 0, got {}",
        o.eps());
  check(!o.momentum() || (*o.momentum() >= 0.0 && *o.momentum() <= 1.0),
        "BatchNorm2d: expected a momentum in [0, 1] or none, got {}", o.momentum().value_or(0.0));
  const Shape shape{o.num_features()};
  if (o.affine()) {
    weight = register_parameter("weight", ones(shape));
    bias = register_parameter("bias", zeros(shape));
  }
  if (o.track_running_stats()) {
    running_mean = register_buffer("running_mean", zeros(shape));
    running_var = register_buffer("running_var", ones(shape));
    num_batches_tracked = register_buffer("num_batches_tracked", scalar_tensor(0, kInt64));
  }
}

void BatchNorm2d::reset_running_stats() {
  if (!options_.track_running_stats()) return;
  fill_with(running_mean, 0.0);
  fill_with(running_var, 1.0);
  num_batches_tracked.data<std::int64_t>()[0] = 0;
  num_batches_tracked.bump_version();
}

void BatchNorm2d::reset_parameters() {
  reset_running_stats();
  if (!options_.affine()) return;
  fill_with(weight, 1.0);
  fill_with(bias, 0.0);
}

Tensor BatchNorm2d::forward(const Tensor& input) {
  const std::int64_t C = options_.num_features();
  check(input.defined() && input.dim() == 4 && input.size(1) == C,
        "BatchNorm2d: expected input [N, {}, H, W], got {}", C,
        input.defined() ? fmt::format("{}", input.shape()) : std::string("an undefined tensor"));
  const Tensor& state = weight.defined() ? weight : running_mean;
  const Dtype dtype = state.defined() ? state.dtype() : input.dtype();
  check(input.dtype() == dtype, "BatchNorm2d: expected a {} input (the layer's dtype), got {} {}",
        dtype, input.dtype(), input.shape());
  const bool batch_stats = is_training() || !options_.track_running_stats();
  check(!batch_stats || input.numel() / C > 1,
        "BatchNorm2d: expected more than 1 value per channel when training, got input {}",
        input.shape());

  std::optional<double> factor = options_.momentum();
  if (is_training() && options_.track_running_stats()) {
    std::int64_t& count = num_batches_tracked.data<std::int64_t>()[0];
    ++count;
    num_batches_tracked.bump_version();
    if (!factor) factor = 1.0 / static_cast<double>(count);  // cumulative moving average
  }
  return batch_norm(input, running_mean, running_var, weight, bias, batch_stats, factor,
                    options_.eps());
}

std::string BatchNorm2d::name() const {
  const BatchNorm2dOptions& o = options_;
  return fmt::format("BatchNorm2d({}, eps={}, momentum={}, affine={}, track_running_stats={})",
                     o.num_features(), o.eps(),
                     o.momentum() ? fmt::format("{}", *o.momentum()) : std::string("None"),
                     o.affine(), o.track_running_stats());
}

}  // namespace tapegrad::nn
