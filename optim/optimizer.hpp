// tapegrad::optim::Optimizer: the base of SGD, Adam and AdamW.
//
// An optimizer holds parameter groups (each group: its parameters and its own options, like
// PyTorch's param_groups) and per-parameter state (SGD's momentum buffer, Adam's moments and step
// count). step() updates, in place, every parameter that has a gradient; zero_grad() zeroes the
// gradients in place. State buffers are allocated on a parameter's first step, so after the first
// step a training step allocates nothing.
//
// state_dict() names the whole state as tensors, ready for a safetensors checkpoint:
//   state.<i>.<buffer>       buffers of parameter i (counted across groups, in order):
//                            "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"
//   state.<i>.step           its step count (Adam), a 0-d float64 tensor
//   param_groups.<g>.<name>  the group's hyper-parameters ("lr", "momentum", "betas.0", ...),
//                            0-d float64 tensors (flags as 0 / 1)
//   param_groups.<g>.params  the indices of the group's parameters, an int64 tensor
// Parameters that have not stepped yet have no state keys.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/layers/module.hpp"

namespace tapegrad::optim {

/// Options of one optimizer (SGDOptions, AdamOptions). Each parameter group holds its own copy.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;

  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// The momentum a scheduler may cycle (SGD's momentum, Adam's beta1).
  virtual double get_momentum() const = 0;
  virtual void set_momentum(double momentum) = 0;

  /// Every hyper-parameter as (name, value), in a fixed order; flags are 0 or 1. This is what
  /// state_dict() saves under param_groups.<g>.<name>.
  virtual std::vector<std::pair<std::string, double>> named_values() const = 0;
  /// Sets the hyper-parameter `name` (one of named_values()'s names); false for an unknown name.
  virtual bool set_named_value(std::string_view name, double value) = 0;
};

/// A group of parameters optimized with the same options. Without options, the group takes the
/// optimizer's defaults.
///   tg::optim::SGD opt({tg::optim::ParamGroup(body.parameters()),
///                       tg::optim::ParamGroup(head.parameters(), tg::optim::SGDOptions(0.01))},
///                      tg::optim::SGDOptions(0.1).momentum(0.9));
class ParamGroup {
 public:
  explicit ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
  template <std::derived_from<OptimizerOptions> Options>
  ParamGroup(std::vector<Tensor> params, const Options& options)
      : params_(std::move(params)), options_(options.clone()) {}

  ParamGroup(const ParamGroup& other);
  ParamGroup& operator=(const ParamGroup& other);
  ParamGroup(ParamGroup&&) noexcept = default;
  ParamGroup& operator=(ParamGroup&&) noexcept = default;
  ~ParamGroup() = default;

  const std::vector<Tensor>& params() const { return params_; }
  bool has_options() const { return options_ != nullptr; }
  /// The group's options (an error if it has none yet, before it joins an optimizer).
  OptimizerOptions& options();
  const OptimizerOptions& options() const;

 private:
  friend class Optimizer;
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
};

/// The state of one parameter. buffers[k] is named by the optimizer's buffer_names()[k] and is
/// undefined until the optimizer allocates it.
struct ParamState {
  std::int64_t step = 0;
  std::vector<Tensor> buffers;

  bool empty() const;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient (parameters without one are skipped).
  ///   loss.backward(); opt.step(); opt.zero_grad();
  void step();
  /// Zeroes every gradient in place, keeping its buffer (PyTorch 1.13's default); with
  /// set_to_none the gradients are released instead.
  void zero_grad(bool set_to_none = false);

  /// Adds a group (options default to the optimizer's); its parameters must be new to it.
  void add_param_group(ParamGroup group);
  std::size_t num_param_groups() const { return groups_.size(); }
  const ParamGroup& param_group(std::size_t group) const;
  /// The options of one group; change them freely (they are checked again at each step).
  OptimizerOptions& options(std::size_t group);
  const OptimizerOptions& options(std::size_t group) const;
  const OptimizerOptions& defaults() const { return *defaults_; }

  /// Learning rate of one group, for schedulers: opt.set_lr(0, opt.lr(0) * 0.1);
  double lr(std::size_t group = 0) const;
  void set_lr(std::size_t group, double lr);
  /// Sets the learning rate of every group.
  void set_lr(double lr);

  /// Number of parameters over all groups.
  std::size_t num_params() const { return params_.size(); }
  /// The state of parameter `index` (counted across groups, in order).
  const ParamState& state(std::size_t index) const;

  /// The optimizer's state as named tensors (see the top of this file). Buffers are returned as
  /// live handles (no copy): save them before the next step.
  nn::NamedTensors state_dict() const;
  /// Restores a state_dict() of an optimizer built over the same parameter groups: hyper-parameters
  /// and state are copied in (floating tensors converted to the parameter's dtype). Every key is
  /// checked first: an error names each missing, unexpected or mismatched key and changes nothing.
  void load_state_dict(const nn::NamedTensors& dict);
  void load_state_dict(const nn::StateDict& dict);

  /// "SGD", "Adam", "AdamW".
  const std::string& name() const { return name_; }

 protected:
  /// Elements per parallel_for chunk in update kernels: big enough to amortise scheduling, small
  /// enough to split a conv layer's weights.
  static constexpr std::int64_t kGrain = std::int64_t{1} << 15;

  /// `buffer_names`: the state buffers this optimizer may keep per parameter, in order;
  /// `counts_steps`: whether it keeps a per-parameter step count.
  Optimizer(std::string name, const OptimizerOptions& defaults,
            std::vector<std::string> buffer_names, bool counts_steps);

  /// Adds `groups` (at least one); derived constructors call it once their vtable is in place.
  void init(std::vector<ParamGroup> groups);

  /// Throws a tapegrad::Error naming the optimizer unless `options` are this optimizer's options
  /// type with valid values.
  virtual void check_options(const OptimizerOptions& options) const = 0;
  /// How many of buffer_names() (a prefix) a parameter with these options must have once it has
  /// stepped; the rest are optional.
  virtual std::size_t required_buffers(const OptimizerOptions& options) const = 0;
  /// One update of `param` from `grad` (same shape and dtype). `state` holds what earlier updates
  /// left; state.step was already incremented when counts_steps. Allocate missing buffers here.
  virtual void update(const OptimizerOptions& options, Tensor& param, const Tensor& grad,
                      ParamState& state) = 0;

 private:
  struct Slot {
    std::size_t group;
    std::size_t index;  // position in the group
  };
  void check_state_matches(std::size_t index, const Tensor& param) const;

  std::string name_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<std::string> buffer_names_;
  bool counts_steps_;
  std::vector<ParamGroup> groups_;
  std::vector<Slot> params_;  // global index -> (group, position)
  std::vector<ParamState> state_;
};

}  // namespace tapegrad::optim
