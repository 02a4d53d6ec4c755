// LogSoftmax layer: x - log(sum(exp(x))) along one dimension (tapegrad::log_softmax).
#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Log-softmax along `dim` (negative counts from the end); pair it with nll_loss.
///   tg::nn::LogSoftmax log_softmax(1);
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::int64_t dim) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  std::int64_t dim() const { return dim_; }

 private:
  std::int64_t dim_;
};

}  // namespace tapegrad::nn
