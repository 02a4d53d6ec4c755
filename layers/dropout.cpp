#include "tapegrad/layers/dropout.hpp"

#include "tapegrad/autograd/dropout.hpp"
#include "tapegrad/layers/init.hpp"

namespace tapegrad::nn {

Dropout::Dropout(double p, std::optional<std::uint64_t> seed)
    : p_(p), gen_(seed ? *seed : init::default_generator().next_u64()) {
  check(p >= 0.0 && p <= 1.0, "Dropout: expected a probability p in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) {
  return dropout(x, p_, is_training(), gen_);
}

std::string Dropout::name() const {
  return fmt::format("Dropout(p={})", p_);
}

}  // namespace tapegrad::nn
