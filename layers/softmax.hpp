// Softmax layer: exp(x) / sum(exp(x)) along one dimension (tapegrad::softmax).
#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Softmax along `dim` (negative counts from the end).  tg::nn::Softmax softmax(1);
class Softmax : public Module {
 public:
  explicit Softmax(std::int64_t dim) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  std::int64_t dim() const { return dim_; }

 private:
  std::int64_t dim_;
};

}  // namespace tapegrad::nn
