// Parameter initialisation as PyTorch does it by default, from a seeded Generator.
//   Conv2d / Linear weight: kaiming_uniform(a = sqrt(5)), i.e. U(-b, b), b = 1/sqrt(fan_in);
//   their bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm: weight 1, bias 0.
#pragma once

#include <cstdint>

#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad::nn::init {

/// fan_in of a weight (OC, C/G, KH, KW) or (out, in): product of all dims but the first.
std::int64_t fan_in(const Shape& weight_shape);

/// Fills t with U(-bound, bound), bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
void kaiming_uniform_(Tensor& t, double a, Generator& gen);
/// Fills t with U(lo, hi).
void uniform_(Tensor& t, double lo, double hi, Generator& gen);

/// The generator layers use when none is given (seed 0; reseed for reproducible models).
Generator& default_generator();

}  // namespace tapegrad::nn::init
