#include "tapegrad/layers/flatten.hpp"

namespace tapegrad::nn {

Tensor Flatten::forward(const Tensor& x) {
  return x.flatten(start_dim_, end_dim_);
}

std::string Flatten::name() const {
  return fmt::format("Flatten(start_dim={}, end_dim={})", start_dim_, end_dim_);
}

}  // namespace tapegrad::nn
