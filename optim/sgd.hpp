// Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum, as
// PyTorch 1.13's torch.optim.SGD computes it (g: gradient, p: parameter, b: momentum buffer):
//   g = g + weight_decay * p
//   b = g                                     on the parameter's first step with momentum
//   b = momentum * b + (1 - dampening) * g    afterwards
//   g = nesterov ? g + momentum * b : b       (when momentum != 0)
//   p = p - lr * g
#pragma once

#include "tapegrad/optim/optimizer.hpp"

namespace tapegrad::optim {

/// SGD's options, PyTorch's defaults:  tg::optim::SGDOptions(0.1).momentum(0.9).nesterov(true)
class SGDOptions : public OptimizerOptions {
 public:
  explicit SGDOptions(double lr) : lr_(lr) {}

  double lr() const { return lr_; }
  SGDOptions& lr(double lr) {
    lr_ = lr;
    return *this;
  }
  double momentum() const { return momentum_; }
  SGDOptions& momentum(double momentum) {
    momentum_ = momentum;
    return *this;
  }
  double dampening() const { return dampening_; }
  SGDOptions& dampening(double dampening) {
    dampening_ = dampening;
    return *this;
  }
  double weight_decay() const { return weight_decay_; }
  SGDOptions& weight_decay(double weight_decay) {
    weight_decay_ = weight_decay;
    return *this;
  }
  bool nesterov() const { return nesterov_; }
  SGDOptions& nesterov(bool nesterov) {
    nesterov_ = nesterov;
    return *this;
  }

  std::unique_ptr<OptimizerOptions> clone() const override;
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
  double get_momentum() const override { return momentum_; }
  void set_momentum(double momentum) override { momentum_ = momentum; }
  /// lr, momentum, dampening, weight_decay, nesterov.
  std::vector<std::pair<std::string, double>> named_values() const override;
  bool set_named_value(std::string_view name, double value) override;

 private:
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
};

/// SGD over parameters or parameter groups. State: "momentum_buffer" when momentum != 0.
///   tg::optim::SGD opt(net.parameters(), tg::optim::SGDOptions(0.01).momentum(0.9));
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  /// Groups without options take `defaults`.
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);

 protected:
  void check_options(const OptimizerOptions& options) const override;
  std::size_t required_buffers(const OptimizerOptions& options) const override;
  void update(const OptimizerOptions& options, Tensor& param, const Tensor& grad,
              ParamState& state) override;
};

}  // namespace tapegrad::optim
