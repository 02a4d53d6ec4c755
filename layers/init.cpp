#include "tapegrad/layers/init.hpp"

#include <cmath>

namespace tapegrad::nn::init {

std::int64_t fan_in(const Shape& s) {
  check(s.size() >= 2, "init: expected a weight with at least 2 dimensions, got {}", s);
  std::int64_t f = 1;
  for (std::size_t i = 1; i < s.size(); ++i) f *= s[i];
  return f;
}

void uniform_(Tensor& t, double lo, double hi, Generator& gen) {
  check(lo <= hi, "uniform_: expected lo <= hi, got [{}, {})", lo, hi);
  dispatch_floating(t.dtype(), "uniform_", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
  });
  t.bump_version();
}

void kaiming_uniform_(Tensor& t, double a, Generator& gen) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(t.shape())));
  uniform_(t, -bound, bound, gen);
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

}  // namespace tapegrad::nn::init
