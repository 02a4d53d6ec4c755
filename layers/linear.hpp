// Linear (fully connected) layer: y = x W^T + b (tapegrad::linear), initialised as PyTorch does.
#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/init.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Linear's options: in and out features are required, bias is on by default.
///   tg::nn::LinearOptions(1568, 10).bias(false)
class LinearOptions {
 public:
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& bias(bool on) {
    bias_ = on;
    return *this;
  }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
  bool bias_ = true;
};

/// y (N, out) = x (N, in) W^T + b. weight (out, in) is kaiming_uniform(a = sqrt(5)), i.e.
/// U(-1/sqrt(in), 1/sqrt(in)), and bias U(-1/sqrt(in), 1/sqrt(in)), drawn from `gen`.
///   tg::nn::Linear fc(tg::nn::LinearOptions(8 * 14 * 14, 10));  auto logits = fc(features);
class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = init::default_generator());
  Linear(std::int64_t in_features, std::int64_t out_features,
         Generator& gen = init::default_generator());

  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  const LinearOptions& options() const { return options_; }

  Tensor weight;  // (out_features, in_features), registered as "weight"
  Tensor bias;    // (out_features), registered as "bias"; undefined without bias

 private:
  LinearOptions options_;
};

}  // namespace tapegrad::nn
