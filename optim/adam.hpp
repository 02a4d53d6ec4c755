// Adam and AdamW, as PyTorch 1.13's torch.optim.Adam / AdamW compute them (single-tensor
// implementation). For a parameter's t-th update (t counts its own steps), g its gradient:
//   Adam:   g = g + weight_decay * p                  (L2 penalty added to the gradient)
//   AdamW:  p = p * (1 - lr * weight_decay)           (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g                   exp_avg
//   v = beta2 * v + (1 - beta2) * g * g               exp_avg_sq
//   v_max = max(v_max, v), used instead of v          max_exp_avg_sq (amsgrad)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p - lr / (1 - beta1^t) * m / denom
#pragma once

#include <utility>

#include "tapegrad/optim/optimizer.hpp"

namespace tapegrad::optim {

/// Adam's options, PyTorch's defaults:  tg::optim::AdamOptions(1e-3).betas({0.9, 0.999}).eps(1e-8)
class AdamOptions : public OptimizerOptions {
 public:
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}

  double lr() const { return lr_; }
  AdamOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  const std::pair<double, double>& betas() const { return betas_; }
  AdamOptions& betas(const std::pair<double, double>& betas) {
    betas_ = betas;
    return *this;
  }
  double eps() const { return eps_; }
  AdamOptions& eps(double eps) {
    eps_ = eps;
    return *this;
  }
  double weight_decay() const { return weight_decay_; }
  AdamOptions& weight_decay(double weight_decay) {
    weight_decay_ = weight_decay;
    return *this;
  }
  bool amsgrad() const { return amsgrad_; }
  AdamOptions& amsgrad(bool amsgrad) {
    amsgrad_ = amsgrad;
    return *this;
  }

  std::unique_ptr<OptimizerOptions> clone() const override;
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  /// beta1.
  double get_momentum() const override { return betas_.first; }
  void set_momentum(double beta1) override { betas_.first = beta1; }
  /// lr, betas.0, betas.1, eps, weight_decay, amsgrad.
  std::vector<std::pair<std::string, double>> named_values() const override;
  bool set_named_value(std::string_view name, double value) override;

 private:
  double lr_;
  std::pair<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
  bool amsgrad_ = false;
};

/// AdamW's options: AdamOptions with AdamW's default weight_decay of 1e-2 (as in PyTorch).
///   tg::optim::AdamW opt(net.parameters(), tg::optim::AdamWOptions(1e-3).weight_decay(0.05));
class AdamWOptions : public AdamOptions {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { AdamOptions::weight_decay(1e-2); }

  using AdamOptions::amsgrad;
  using AdamOptions::betas;
  using AdamOptions::eps;
  using AdamOptions::lr;
  using AdamOptions::weight_decay;
  AdamWOptions& lr(double lr) {
    AdamOptions::lr(lr);
    return *this;
  }
  AdamWOptions& betas(const std::pair<double, double>& betas) {
    AdamOptions::betas(betas);
    return *this;
  }
  AdamWOptions& eps(double eps) {
    AdamOptions::eps(eps);
    return *this;
  }
  AdamWOptions& weight_decay(double weight_decay) {
    AdamOptions::weight_decay(weight_decay);
    return *this;
  }
  AdamWOptions& amsgrad(bool amsgrad) {
    AdamOptions::amsgrad(amsgrad);
    return *this;
  }

  std::unique_ptr<OptimizerOptions> clone() const override;
};

/// Adam. State per parameter: "step", "exp_avg", "exp_avg_sq" (and "max_exp_avg_sq" with amsgrad).
///   tg::optim::Adam opt(net.parameters(), tg::optim::AdamOptions(1e-3));
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, const AdamOptions& options = AdamOptions());
  /// Groups without options take `defaults`.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = AdamOptions());

 protected:
  /// For AdamW.
  Adam(std::string name, std::vector<ParamGroup> groups, const AdamOptions& defaults,
       bool decoupled_weight_decay);

  void check_options(const OptimizerOptions& options) const override;
  std::size_t required_buffers(const OptimizerOptions& options) const override;
  void update(const OptimizerOptions& options, Tensor& param, const Tensor& grad,
              ParamState& state) override;

 private:
  bool decoupled_weight_decay_;
};

/// AdamW: Adam with decoupled weight decay (the parameter shrinks by lr * weight_decay first).
/// Takes AdamWOptions (default weight_decay 1e-2) or AdamOptions (taken as given).
///   tg::optim::AdamW opt(net.parameters(), tg::optim::AdamWOptions(1e-3));
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, const AdamOptions& options = AdamWOptions());
  AdamW(std::vector<ParamGroup> groups, const AdamOptions& defaults = AdamWOptions());
};

}  // namespace tapegrad::optim
