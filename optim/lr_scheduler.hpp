// Learning-rate schedulers, computing exactly what PyTorch 1.13's torch.optim.lr_scheduler computes
// at each step() call (the same recursive formulas, in double, in the same order). e = last_epoch
// after the step, lr = the group's current lr, base = its lr when the scheduler was built:
//   StepLR             lr * gamma when e > 0 and e % step_size == 0, else lr
//   MultiStepLR        lr * gamma^(times e appears in milestones)
//   CosineAnnealingLR  e == 0: lr;  (e - 1 - T_max) % (2 T_max) == 0:
//                        lr + (base - eta_min) * (1 - cos(pi / T_max)) / 2;
//                      otherwise: (1 + cos(pi e / T_max)) / (1 + cos(pi (e - 1) / T_max))
//                        * (lr - eta_min) + eta_min
//                      (while only it sets lr: eta_min + (base - eta_min) (1 + cos(pi e / T_max)) /
//                      2)
//   OneCycleLR         anneals initial = max_lr / div_factor -> max_lr -> initial /
//   final_div_factor
//                      over total_steps (closed form per step, not chainable), cycling momentum
//                      inversely between max_momentum and base_momentum.
//
// Usage, like PyTorch (construction already applies epoch 0):
//   tg::optim::SGD opt(net.parameters(), tg::optim::SGDOptions(0.1).momentum(0.9));
//   tg::optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (epoch...) { train(opt); sched.step(); }
// Resuming: build the optimizer and the scheduler as before, then load both state dicts.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tapegrad::optim {

/// The base of every scheduler. It keeps a reference to the optimizer, which must outlive it.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch (one batch for OneCycleLR) and sets each group's learning rate.
  void step();
  /// Epochs stepped so far: 0 right after construction.
  std::int64_t last_epoch() const { return last_epoch_; }
  /// Each group's learning rate as set by the last step().
  const std::vector<double>& get_last_lr() const { return last_lrs_; }
  /// Each group's learning rate when the scheduler was built.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  /// "last_epoch", "base_lrs.<g>", "last_lrs.<g>": 0-d float64 tensors.
  nn::NamedTensors state_dict() const;
  /// Restores state_dict() (and sets each group's lr to its saved last lr); an error names each
  /// missing, unexpected or mismatched key and changes nothing.
  void load_state_dict(const nn::NamedTensors& dict);

  const std::string& name() const { return name_; }

 protected:
  /// Records each group's current lr as its base lr.
  LRScheduler(std::string name, Optimizer& optimizer);
  /// Sets group `group`'s hyper-parameters for epoch `epoch` (last_epoch() + 1 during step()).
  /// May throw before changing anything (then step() changes nothing).
  virtual void update_group(std::size_t group, std::int64_t epoch) = 0;

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;

 private:
  std::string name_;
  std::int64_t last_epoch_ = -1;
  std::vector<double> last_lrs_;
};

/// Multiplies the learning rate by gamma every step_size epochs.
///   tg::optim::StepLR sched(opt, 30, 0.1);
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  void update_group(std::size_t group, std::int64_t epoch) override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// Multiplies the learning rate by gamma at each milestone epoch (a repeated milestone applies
/// gamma as many times).
///   tg::optim::MultiStepLR sched(opt, {30, 80}, 0.1);
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);

 protected:
  void update_group(std::size_t group, std::int64_t epoch) override;

 private:
  std::vector<std::int64_t> milestones_;  // sorted
  double gamma_;
};

/// Cosine annealing from each group's lr down to eta_min over T_max epochs (and back up, as
/// PyTorch's recursive form does past T_max).
///   tg::optim::CosineAnnealingLR sched(opt, /*T_max=*/100, /*eta_min=*/1e-5);
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);

 protected:
  void update_group(std::size_t group, std::int64_t epoch) override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

enum class AnnealStrategy { Cos, Linear };

/// OneCycleLR's options, PyTorch's defaults:
///   tg::optim::OneCycleLROptions(/*max_lr=*/0.1, /*total_steps=*/1000).pct_start(0.25)
class OneCycleLROptions {
 public:
  /// One max_lr for every group.
  OneCycleLROptions(double max_lr, std::int64_t total_steps)
      : max_lrs_{max_lr}, total_steps_(total_steps) {}
  /// One max_lr per group.
  OneCycleLROptions(std::vector<double> max_lrs, std::int64_t total_steps)
      : max_lrs_(std::move(max_lrs)), total_steps_(total_steps) {}

  const std::vector<double>& max_lrs() const { return max_lrs_; }
  std::int64_t total_steps() const { return total_steps_; }
  double pct_start() const { return pct_start_; }
  OneCycleLROptions& pct_start(double v) {
    pct_start_ = v;
    return *this;
  }
  AnnealStrategy anneal_strategy() const { return anneal_strategy_; }
  OneCycleLROptions& anneal_strategy(AnnealStrategy v) {
    anneal_strategy_ = v;
    return *this;
  }
  /// Cycle the optimizer's momentum (SGD's momentum, Adam's beta1) inversely to the lr.
  bool cycle_momentum() const { return cycle_momentum_; }
  OneCycleLROptions& cycle_momentum(bool v) {
    cycle_momentum_ = v;
    return *this;
  }
  double base_momentum() const { return base_momentum_; }
  OneCycleLROptions& base_momentum(double v) {
    base_momentum_ = v;
    return *this;
  }
  double max_momentum() const { return max_momentum_; }
  OneCycleLROptions& max_momentum(double v) {
    max_momentum_ = v;
    return *this;
  }
  double div_factor() const { return div_factor_; }
  OneCycleLROptions& div_factor(double v) {
    div_factor_ = v;
    return *this;
  }
  double final_div_factor() const { return final_div_factor_; }
  OneCycleLROptions& final_div_factor(double v) {
    final_div_factor_ = v;
    return *this;
  }
  bool three_phase() const { return three_phase_; }
  OneCycleLROptions& three_phase(bool v) {
    three_phase_ = v;
    return *this;
  }

 private:
  std::vector<double> max_lrs_;
  std::int64_t total_steps_;
  double pct_start_ = 0.3;
  AnnealStrategy anneal_strategy_ = AnnealStrategy::Cos;
  bool cycle_momentum_ = true;
  double base_momentum_ = 0.85;
  double max_momentum_ = 0.95;
  double div_factor_ = 25.0;
  double final_div_factor_ = 1e4;
  bool three_phase_ = false;
};

/// The 1cycle policy, stepped after every batch; total_steps step() calls after construction are
/// allowed, more are an error. On construction it sets each group's lr to max_lr / div_factor
/// (and, with cycle_momentum, its momentum to max_momentum).
///   tg::optim::OneCycleLR sched(opt, tg::optim::OneCycleLROptions(0.1, epochs * batches));
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);

 protected:
  void update_group(std::size_t group, std::int64_t epoch) override;

 private:
  enum Level { kInitialLr = 0, kMaxLr = 1, kMinLr = 2 };
  struct Phase {
    double end_step;  // the last step of the phase (fractional, as PyTorch computes it)
    Level start_lr, end_lr;
    double start_momentum, end_momentum;
  };
  double anneal(double start, double end, double pct) const;

  OneCycleLROptions options_;
  std::vector<Phase> phases_;
  std::vector<std::array<double, 3>> levels_;  // per group: initial_lr, max_lr, min_lr
};

}  // namespace tapegrad::optim
