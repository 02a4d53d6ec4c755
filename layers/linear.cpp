#include "tapegrad/layers/linear.hpp"

#include <cmath>

#include "tapegrad/autograd/linear.hpp"

namespace tapegrad::nn {

Linear::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
  const std::int64_t in = options.in_features(), out = options.out_features();
  check(in > 0 && out > 0, "Linear: expected positive in_features and out_features, got {} and {}",
        in, out);
  Tensor w = empty({out, in});
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  weight = register_parameter("weight", w);
  if (options.bias()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    Tensor b = empty({out});
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen)
    : Linear(LinearOptions(in_features, out_features), gen) {}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, weight, bias);
}

std::string Linear::name() const {
  return fmt::format("Linear(in_features={}, out_features={}, bias={})", options_.in_features(),
                     options_.out_features(), options_.bias());
}

}  // namespace tapegrad::nn
