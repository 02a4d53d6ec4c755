// Flatten layer: merges dimensions start_dim..end_dim into one (Tensor::flatten, a view).
#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Flattens dims [start_dim, end_dim] (negative counts from the end); by default everything but
/// the batch dimension:  tg::nn::Flatten flatten;  // [N, 8, 14, 14] -> [N, 1568]
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  std::int64_t start_dim() const { return start_dim_; }
  std::int64_t end_dim() const { return end_dim_; }

 private:
  std::int64_t start_dim_;
  std::int64_t end_dim_;
};

}  // namespace tapegrad::nn
