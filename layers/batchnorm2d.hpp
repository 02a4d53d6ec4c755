// nn::BatchNorm2d: batch normalisation of (N, C, H, W) images per channel, PyTorch's module;
// forward calls the functional tapegrad::batch_norm (formula in autograd/batch_norm.hpp).
//
// Training: normalise with the batch statistics, update the running statistics (with the
// unbiased variance), count the batch in num_batches_tracked. Evaluation: normalise with the
// running statistics. Without track_running_stats: batch statistics in both modes, no buffers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tapegrad/autograd/batch_norm.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// Options of BatchNorm2d: the channel count in the constructor, the rest as chained setters with
/// PyTorch's defaults. momentum(std::nullopt) makes the running statistics a cumulative average
/// (factor 1 / num_batches_tracked).
///   tg::nn::BatchNorm2dOptions(16).eps(1e-5).momentum(0.1).affine(true).track_running_stats(true)
class BatchNorm2dOptions {
 public:
  BatchNorm2dOptions(std::int64_t num_features)  // NOLINT: implicit, like PyTorch's
      : num_features_(num_features) {}

  BatchNorm2dOptions& eps(double value) {
    eps_ = value;
    return *this;
  }
  BatchNorm2dOptions& momentum(std::optional<double> value) {
    momentum_ = value;
    return *this;
  }
  BatchNorm2dOptions& affine(bool value) {
    affine_ = value;
    return *this;
  }
  BatchNorm2dOptions& track_running_stats(bool value) {
    track_running_stats_ = value;
    return *this;
  }

  std::int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

 private:
  std::int64_t num_features_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool affine_ = true;
  bool track_running_stats_ = true;
};

/// Batch normalisation of (N, C, H, W) input. Parameters "weight" (C, ones) and "bias" (C, zeros)
/// when affine; buffers "running_mean" (C, zeros), "running_var" (C, ones) and
/// "num_batches_tracked" (int64 scalar) when tracking running statistics. Copies share them.
///   tg::nn::BatchNorm2d bn(tg::nn::BatchNorm2dOptions(16));  auto y = bn(x);  bn.eval();
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(const BatchNorm2dOptions& options);

  /// input (N, num_features, H, W) -> the same shape.
  Tensor forward(const Tensor& input) override;
  /// "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)".
  std::string name() const override;

  const BatchNorm2dOptions& options() const { return options_; }

  /// Running statistics back to 0 (mean), 1 (var) and 0 batches.
  void reset_running_stats();
  /// reset_running_stats(), and weight to ones, bias to zeros.
  void reset_parameters();

  Tensor weight;               // (C), undefined unless affine
  Tensor bias;                 // (C), undefined unless affine
  Tensor running_mean;         // (C), undefined unless track_running_stats
  Tensor running_var;          // (C), undefined unless track_running_stats
  Tensor num_batches_tracked;  // int64 scalar, undefined unless track_running_stats

 private:
  BatchNorm2dOptions options_;
};

}  // namespace tapegrad::nn
