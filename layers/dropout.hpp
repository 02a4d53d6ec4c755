// Dropout layer: inverted dropout while training, identity in eval mode (tapegrad::dropout).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tapegrad/core/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Zeroes elements with probability p while training and scales the rest by 1 / (1 - p); the
/// identity after eval(). Masks come from the layer's own Generator, seeded with `seed`, or
/// without one from a draw of init::default_generator().
///   tg::nn::Dropout drop(0.5, /*seed=*/7);
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, std::optional<std::uint64_t> seed = std::nullopt);
  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  double p() const { return p_; }
  /// The generator the masks come from (reseed it for a reproducible run).
  Generator& generator() { return gen_; }

 private:
  double p_;
  Generator gen_;
};

}  // namespace tapegrad::nn
