#include "tapegrad/core/generator.hpp"

#include <cmath>
#include <numbers>
#include <sstream>

namespace tapegrad {

double Generator::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u1 = 0.0;
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(theta);
  has_spare_normal_ = true;
  return r * std::cos(theta);
}

std::uint64_t Generator::randint(std::uint64_t n) {
  check(n > 0, "randint: expected a positive bound, got {}", n);
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  std::uint64_t x = engine_();
  while (x >= limit) x = engine_();
  return x % n;
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_ << ' ' << has_spare_normal_ << ' ';
  os.precision(17);
  os << std::hexfloat << spare_normal_;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  std::mt19937_64 engine;
  bool has_spare = false;
  std::string spare_text;
  is >> engine >> has_spare >> spare_text;
  check(!is.fail(),
        "Generator::set_state: expected a state written by Generator::state, got {} characters "
        "that do not parse",
        state.size());
  engine_ = engine;
  has_spare_normal_ = has_spare;
  spare_normal_ = std::strtod(spare_text.c_str(), nullptr);
}

namespace {

template <class Fn>
Tensor generate(const Shape& shape, Dtype dtype, std::string_view op, Fn&& draw) {
  Tensor t = empty(shape, dtype);
  dispatch_floating(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, Dtype dtype) {
  return generate(shape, dtype, "rand", [&] { return gen.uniform(); });
}

Tensor randn(const Shape& shape, Generator& gen, Dtype dtype) {
  return generate(shape, dtype, "randn", [&] { return gen.normal(); });
}

Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, Dtype dtype) {
  check(lo <= hi, "uniform: expected lo <= hi, got [{}, {})", lo, hi);
  return generate(shape, dtype, "uniform", [&] { return gen.uniform(lo, hi); });
}

}  // namespace tapegrad
