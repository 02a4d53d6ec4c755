// The worked BatchNorm2d example of the project's origin story (seeds/batchnorm2d-walkthrough.md),
// step by step: its numeric core, shared by the example program (batchnorm_walkthrough.cpp) and
// the test that asserts its numbers (tests/layers/test_batchnorm_walkthrough.cpp).
//
// NOTE: the seed's step 2 says each channel's variance is 2.0 and normalises by sqrt(2); the
// squared deviations of channel 0 (4, 1, 0, 1, 1, 0, 1, 4) sum to 12, so the (biased) variance
// PyTorch normalises with is 12 / 8 = 1.5, and x_hat = (x - 3) / sqrt(1.5 + 1e-5): -1.63299,
// -0.81650, 0, 0.81650, 1.63299, not -1.414, -0.707, ... These are the numbers tapegrad and
// PyTorch compute.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace walkthrough {

namespace tg = tapegrad;

/// The seed's input: 2 images, 2 channels, 2x2 feature maps.
inline tg::Tensor seed_input() {
  return tg::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8,   // image 0: channel 0, 1
                                            2, 3, 4, 5, 6, 7, 8, 9},  // image 1: channel 0, 1
                         {2, 2, 2, 2});
}

/// Steps 1 to 3 by hand: plain loops over the values, in double.
struct ManualSteps {
  std::vector<double> sum;          // per channel
  std::vector<double> mean;         // sum / (N H W)
  std::vector<double> squared_dev;  // sum of (x - mean)^2
  std::vector<double> var;          // squared_dev / (N H W): biased, as BatchNorm normalises
  std::vector<double> denom;        // sqrt(var + eps)
  tg::Tensor normalised;            // (x - mean) / denom, float64 (N, C, H, W)
};

inline ManualSteps manual_steps(const tg::Tensor& x, double eps = 1e-5) {
  const std::int64_t N = x.size(0), C = x.size(1), S = x.size(2) * x.size(3);
  const std::vector<double> v = x.to_vector<double>();
  auto at = [&](std::int64_t n, std::int64_t c, std::int64_t i) { return (n * C + c) * S + i; };
  ManualSteps m{std::vector<double>(C), std::vector<double>(C), std::vector<double>(C),
                std::vector<double>(C), std::vector<double>(C), tg::Tensor()};
  std::vector<double> y(v.size());
  const double count = static_cast<double>(N * S);
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i) m.sum[c] += v[at(n, c, i)];
    m.mean[c] = m.sum[c] / count;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i) {
        const double d = v[at(n, c, i)] - m.mean[c];
        m.squared_dev[c] += d * d;
      }
    m.var[c] = m.squared_dev[c] / count;
    m.denom[c] = std::sqrt(m.var[c] + eps);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < S; ++i)
        y[at(n, c, i)] = (v[at(n, c, i)] - m.mean[c]) / m.denom[c];
  }
  m.normalised = tg::from_vector(y, x.shape());
  return m;
}

/// Step 5: the module without gamma and beta, as the seed's PyTorch code builds it.
inline tg::nn::BatchNorm2d seed_module() {
  return tg::nn::BatchNorm2d(tg::nn::BatchNorm2dOptions(2).affine(false));
}

/// Train versus eval on the same input: `steps` training passes (momentum 0.1), then one eval.
struct TrainEval {
  tg::Tensor train_output;  // the last training pass: batch statistics
  tg::Tensor running_mean;  // after the training passes
  tg::Tensor running_var;
  std::int64_t batches = 0;
  tg::Tensor eval_output;  // running statistics
};

inline TrainEval train_then_eval(const tg::Tensor& x, int steps) {
  tg::nn::BatchNorm2d bn = seed_module();
  TrainEval r;
  for (int i = 0; i < steps; ++i) r.train_output = bn.forward(x);
  r.running_mean = bn.running_mean;
  r.running_var = bn.running_var;
  r.batches = bn.num_batches_tracked.item<std::int64_t>();
  bn.eval();
  r.eval_output = bn.forward(x);
  return r;
}

}  // namespace walkthrough
