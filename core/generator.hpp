// tapegrad::Generator: seeded random numbers that are the same on every machine.
//
// The engine is std::mt19937_64 (its output sequence is fixed by the C++ standard); the
// distributions are our own code, because std:: distributions differ between standard libraries.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// A seeded random source: tg::Generator gen(42); auto x = tg::randn({8, 1, 28, 28}, gen);
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}

  void seed(std::uint64_t seed) {
    engine_.seed(seed);
    has_spare_normal_ = false;
  }
  /// Raw 64 random bits.
  std::uint64_t next_u64() { return engine_(); }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box-Muller; values come in pairs).
  double normal();
  /// Uniform integer in [0, n), without modulo bias.
  std::uint64_t randint(std::uint64_t n);
  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }

  /// The full state as text (engine and cached normal), for checkpoints.
  std::string state() const;
  /// Restores a state from state(); a tapegrad::Error if the text is not one.
  void set_state(const std::string& state);

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

/// SplitMix64: a fixed 64-bit mixing function, for deriving independent seeds and stateless
/// per-item random choices from (seed, index) keys.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Uniform in [0, 1).
Tensor rand(const Shape& shape, Generator& gen, Dtype dtype = kFloat32);
/// Standard normal.
Tensor randn(const Shape& shape, Generator& gen, Dtype dtype = kFloat32);
/// Uniform in [lo, hi).
Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen, Dtype dtype = kFloat32);

}  // namespace tapegrad
