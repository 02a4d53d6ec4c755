// Inverted dropout: y = x * m / (1 - p), m_i ~ Bernoulli(1 - p);  dx = dy * m / (1 - p).
//
// The mask is never stored. Each call draws one 64-bit key from the Generator, and element i is
// kept when the SplitMix64 hash of (key, i) falls below (1 - p) * 2^53. The hash is a pure
// function of (key, i), so the forward runs in parallel chunks, the result does not depend on the
// thread count, and the backward regenerates the same mask instead of reading a saved one.
#include "tapegrad/autograd/dropout.hpp"

#include <cmath>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kElementGrain = 1 << 15;

// Element i of the SplitMix64 stream that starts at `key` (Steele, Lea, Flood 2014).
inline std::uint64_t splitmix64(std::uint64_t key, std::uint64_t i) {
  std::uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// What identifies one dropout mask: element i is kept when hash(key, i) >> 11 < threshold.
struct DropoutMask {
  std::uint64_t key = 0;
  std::uint64_t threshold = 0;  // (1 - p) * 2^53
  double scale = 0.0;           // 1 / (1 - p)

  bool keep(std::int64_t i) const {
    return (splitmix64(key, static_cast<std::uint64_t>(i)) >> 11) < threshold;
  }
};

// out (n) = in (n) * mask, mask = scale where kept, else 0. The forward (in = x) and the backward
// (in = dy) are the same kernel.
template <class T>
void dropout_apply(T* out, const T* in, std::int64_t n, const DropoutMask& m) {
  const T scale = static_cast<T>(m.scale);
  parallel_for(0, n, kElementGrain, [&](std::int64_t b, std::int64_t e) {
    // Multiplying by the mask value (0 or scale), as PyTorch does, keeps the loop free of
    // branches, which would mispredict on every other element at p = 0.5.
    for (std::int64_t i = b; i < e; ++i) out[i] = in[i] * (static_cast<T>(m.keep(i)) * scale);
  });
}

// y (n) = dropout of x (n): the forward, and with x = dy the backward.
Tensor dropout_map(const Tensor& x, const DropoutMask& m, const char* op) {
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    dropout_apply(y.data<T>(), x.data<T>(), x.numel(), m);
  });
  return y;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check(x.defined(), "dropout: expected a defined tensor, got an undefined (empty) handle");
  check(p >= 0.0 && p <= 1.0, "dropout: expected a probability p in [0, 1], got {}", p);
  check(is_floating(x.dtype()), "dropout: expected a float32 or float64 input, got {} {}",
        x.dtype(), x.shape());
  if (!training || p == 0.0) return x;
  DropoutMask m;
  if (p < 1.0) {  // p == 1 drops everything: threshold 0, and no draw from the generator
    m.key = gen.next_u64();
    m.threshold = static_cast<std::uint64_t>(std::ldexp(1.0 - p, 53));
    m.scale = 1.0 / (1.0 - p);
  }
  Tensor y = dropout_map(x, m, "dropout");
  if (autograd::needs_recording({&x})) {
    autograd::record("dropout", {x}, {&y}, {}, [m](const autograd::BackwardArgs& g) {
      return std::vector<Tensor>{dropout_map(g.grad_outputs[0], m, "dropout backward")};
    });
  }
  return y;
}

}  // namespace tapegrad
