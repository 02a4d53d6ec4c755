// batch_norm: batch normalisation over the channel dimension (PyTorch's F.batch_norm).
//
//   y[n, c, s] = (x[n, c, s] - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c]
//
// x is (N, C, *) (NCHW for images; every trailing dimension is flattened into S). In training,
// mean and var are the batch statistics of each channel over its n = N * S values (var biased,
// divided by n) and the running statistics are updated in place with the unbiased variance:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)
// In evaluation, mean and var are the running statistics. The backward derivation is at the top
// of batch_norm.cpp.
#pragma once

#include <optional>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Batch normalisation, PyTorch's F.batch_norm. input (N, C, *), float32 or float64;
/// running_mean, running_var, weight, bias (C) of the same dtype, each possibly an undefined
/// tensor (running statistics are then not tracked: they are required in evaluation). training:
/// normalise with the batch statistics and update the running statistics in place; momentum is
/// their update factor (std::nullopt is an error when there are running statistics to update:
/// the cumulative average needs a batch count, which nn::BatchNorm2d keeps). Differentiable in
/// input, weight and bias.
///   tg::Tensor y = tg::batch_norm(x, running_mean, running_var, weight, bias, true, 0.1, 1e-5);
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = {}, const Tensor& bias = {}, bool training = false,
                  std::optional<double> momentum = 0.1, double eps = 1e-5);

// ---- kernels (no autograd): what batch_norm runs, exposed for tests and benchmarks ----

/// What batch_norm_forward returns: the output and the per-channel statistics backward needs.
struct BatchNormForward {
  Tensor output;  // (N, C, *), the input's dtype
  Tensor mean;    // (C) float64: the batch mean (training) or the running mean
  Tensor var;     // (C) float64: the biased batch variance (training) or the running variance
  Tensor invstd;  // (C) float64: 1 / sqrt(var + eps)
};

/// Which gradients batch_norm_backward computes.
struct BatchNormNeeds {
  bool dinput = true;
  bool dweight = true;
  bool dbias = true;
};

/// Gradients of batch_norm; one that was not asked for (or has no parameter) is undefined.
struct BatchNormGrads {
  Tensor dinput;   // (N, C, *)
  Tensor dweight;  // (C)
  Tensor dbias;    // (C)
};

/// The fast forward, parallel over channels, one task per channel: batch statistics (training)
/// or the given running statistics, then the normalised output. Running statistics are read, not
/// updated. Bitwise identical at any thread count.
BatchNormForward batch_norm_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    bool training, double eps);
/// The fast backward for doutput (N, C, *), from batch_norm_forward's mean and invstd; training
/// selects the gradient through the batch statistics. Bitwise identical at any thread count.
BatchNormGrads batch_norm_backward(const Tensor& doutput, const Tensor& input, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd, bool training,
                                   BatchNormNeeds needs = {});

/// The textbook forward in double (two-pass statistics, direct formula): the reference the fast
/// kernels are tested against. Slow; for tests only. Same arguments as batch_norm_forward.
BatchNormForward batch_norm_reference(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      bool training, double eps);
/// The textbook backward in double, from batch_norm_reference's statistics.
BatchNormGrads batch_norm_reference_backward(const Tensor& doutput, const Tensor& input,
                                             const Tensor& weight, const Tensor& mean,
                                             const Tensor& invstd, bool training,
                                             BatchNormNeeds needs = {});

namespace nn::functional {
using tapegrad::batch_norm;
}  // namespace nn::functional

}  // namespace tapegrad
