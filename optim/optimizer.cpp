// The optimizer base: parameter groups, the step loop (skip parameters without gradient, check,
// count, update, bump the parameter's version), zero_grad, and the state dict with its checks.
#include "tapegrad/optim/optimizer.hpp"

#include <cmath>
#include <cstring>
#include <set>
#include <unordered_map>

namespace tapegrad::optim {
namespace {

std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", t.dtype(), t.shape()) : std::string("undefined");
}

bool is_scalar(const Tensor& t) {
  return t.defined() && t.numel() == 1 && is_floating(t.dtype());
}

// dst <- src, converted to dst's dtype (same shape).
void copy_into(Tensor& dst, const Tensor& src) {
  const Tensor converted = src.dtype() == dst.dtype() ? src : copy_data(src, dst.dtype());
  // memmove: loading an optimizer's own state_dict() copies a buffer onto itself.
  if (dst.nbytes() > 0) std::memmove(dst.raw_data(), converted.raw_data(), dst.nbytes());
}

}  // namespace

ParamGroup::ParamGroup(const ParamGroup& other)
    : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr) {}

ParamGroup& ParamGroup::operator=(const ParamGroup& other) {
  if (this != &other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
  }
  return *this;
}

OptimizerOptions& ParamGroup::options() {
  check(options_ != nullptr,
        "ParamGroup: expected options, got a group without (it takes the "
        "optimizer's defaults when added to one)");
  return *options_;
}

const OptimizerOptions& ParamGroup::options() const {
  return const_cast<ParamGroup*>(this)->options();
}

bool ParamState::empty() const {
  if (step != 0) return false;
  for (const Tensor& b : buffers)
    if (b.defined()) return false;
  return true;
}

Optimizer::Optimizer(std::string name, const OptimizerOptions& defaults,
                     std::vector<std::string> buffer_names, bool counts_steps)
    : name_(std::move(name)),
      defaults_(defaults.clone()),
      buffer_names_(std::move(buffer_names)),
      counts_steps_(counts_steps) {}

void Optimizer::init(std::vector<ParamGroup> groups) {
  check(!groups.empty(), "{}: expected at least one parameter group, got none", name_);
  check_options(*defaults_);
  for (ParamGroup& g : groups) add_param_group(std::move(g));
  check(!params_.empty(), "{}: expected parameters to optimize, got an empty parameter list",
        name_);
}

void Optimizer::add_param_group(ParamGroup group) {
  const std::size_t g = groups_.size();
  if (!group.options_) group.options_ = defaults_->clone();
  check_options(*group.options_);

  std::unordered_map<const TensorImpl*, Slot> seen;
  for (const Slot& s : params_) seen.emplace(groups_[s.group].params_[s.index].impl_ptr().get(), s);
  for (std::size_t k = 0; k < group.params_.size(); ++k) {
    const Tensor& p = group.params_[k];
    check(p.defined(), "{}: parameter {} of param group {} is an undefined tensor", name_, k, g);
    check(is_floating(p.dtype()),
          "{}: expected float32 or float64 parameters, got {} {} (parameter {} of param group {})",
          name_, p.dtype(), p.shape(), k, g);
    check(p.is_leaf(),
          "{}: can't optimize a non-leaf tensor (parameter {} of param group {}, the "
          "output of {})",
          name_, k, g, p.grad_fn_name());
    auto [it, inserted] = seen.emplace(p.impl_ptr().get(), Slot{g, k});
    check(inserted,
          "{}: parameter {} of param group {} appears more than once (it is also "
          "parameter {} of param group {})",
          name_, k, g, it->second.index, it->second.group);
  }
  for (std::size_t k = 0; k < group.params_.size(); ++k) params_.push_back(Slot{g, k});
  state_.resize(params_.size());
  groups_.push_back(std::move(group));
}

const ParamGroup& Optimizer::param_group(std::size_t group) const {
  check(group < groups_.size(), "{}: param group {} out of range ({} groups)", name_, group,
        groups_.size());
  return groups_[group];
}

OptimizerOptions& Optimizer::options(std::size_t group) {
  check(group < groups_.size(), "{}: param group {} out of range ({} groups)", name_, group,
        groups_.size());
  return *groups_[group].options_;
}

const OptimizerOptions& Optimizer::options(std::size_t group) const {
  return *param_group(group).options_;
}

double Optimizer::lr(std::size_t group) const {
  return options(group).get_lr();
}

void Optimizer::set_lr(std::size_t group, double lr) {
  check(std::isfinite(lr) && lr >= 0, "{}: expected lr >= 0, got {}", name_, lr);
  options(group).set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

const ParamState& Optimizer::state(std::size_t index) const {
  check(index < state_.size(), "{}: parameter {} out of range ({} parameters)", name_, index,
        state_.size());
  return state_[index];
}

void Optimizer::check_state_matches(std::size_t index, const Tensor& param) const {
  const ParamState& s = state_[index];
  for (std::size_t k = 0; k < s.buffers.size(); ++k) {
    const Tensor& b = s.buffers[k];
    if (!b.defined()) continue;
    check(b.dtype() == param.dtype() && b.shape() == param.shape(),
          "{}: state {} of parameter {} is {} {}, but the parameter is now {} {} (was the model "
          "converted after the optimizer stepped?)",
          name_, buffer_names_[k], index, b.dtype(), b.shape(), param.dtype(), param.shape());
  }
}

void Optimizer::step() {
  // Check every group first, so that bad options leave all parameters untouched.
  for (const ParamGroup& group : groups_) check_options(*group.options_);
  std::size_t index = 0;
  for (ParamGroup& group : groups_) {
    for (Tensor& param : group.params_) {
      const std::size_t i = index++;
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;
      check(grad.shape() == param.shape() && grad.dtype() == param.dtype(),
            "{}: expected the gradient of parameter {} to be {} {}, got {} {}", name_, i,
            param.dtype(), param.shape(), grad.dtype(), grad.shape());
      check_state_matches(i, param);
      ParamState& s = state_[i];
      if (counts_steps_) ++s.step;
      update(*group.options_, param, grad, s);
      param.bump_version();
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (ParamGroup& group : groups_) {
    for (Tensor& param : group.params_) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        param.set_grad(Tensor());
      } else {
        if (grad.nbytes() > 0) std::memset(grad.raw_data(), 0, grad.nbytes());
        grad.bump_version();
      }
    }
  }
}

nn::NamedTensors Optimizer::state_dict() const {
  nn::NamedTensors out;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (s.empty()) continue;
    const std::string prefix = fmt::format("state.{}.", i);
    if (counts_steps_)
      out.emplace_back(prefix + "step", scalar_tensor(static_cast<double>(s.step), kFloat64));
    for (std::size_t k = 0; k < s.buffers.size(); ++k)
      if (s.buffers[k].defined()) out.emplace_back(prefix + buffer_names_[k], s.buffers[k]);
  }
  std::size_t first = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = fmt::format("param_groups.{}.", g);
    for (const auto& [name, value] : groups_[g].options_->named_values())
      out.emplace_back(prefix + name, scalar_tensor(value, kFloat64));
    std::vector<std::int64_t> indices(groups_[g].params_.size());
    for (std::size_t k = 0; k < indices.size(); ++k)
      indices[k] = static_cast<std::int64_t>(first + k);
    first += indices.size();
    out.emplace_back(prefix + "params",
                     from_vector(indices, {static_cast<std::int64_t>(indices.size())}));
  }
  return out;
}

void Optimizer::load_state_dict(const nn::NamedTensors& dict) {
  nn::StateDict map;
  for (const auto& [name, t] : dict) map[name] = t;
  load_state_dict(map);
}

void Optimizer::load_state_dict(const nn::StateDict& dict) {
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = dict.find(key);
    if (it == dict.end()) return nullptr;
    used.insert(key);
    return &it->second;
  };

  // Hyper-parameters: read into copies of the groups' options, checked as a whole.
  std::vector<std::unique_ptr<OptimizerOptions>> new_options;
  std::size_t first = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string prefix = fmt::format("param_groups.{}.", g);
    auto options = groups_[g].options_->clone();
    bool complete = true;
    for (const auto& [name, value] : options->named_values()) {
      const Tensor* t = find(prefix + name);
      if (t == nullptr) {
        missing.push_back(prefix + name);
        complete = false;
      } else if (!is_scalar(*t)) {
        mismatched.push_back(
            fmt::format("{}{}: expected a float scalar, got {}", prefix, name, describe(*t)));
        complete = false;
      } else {
        options->set_named_value(name, t->item<double>());
      }
    }
    const std::size_t n = groups_[g].params_.size();
    if (const Tensor* t = find(prefix + "params"); t == nullptr) {
      missing.push_back(prefix + "params");
    } else {
      bool ok = t->defined() && t->dtype() == kInt64 && t->dim() == 1 &&
                t->numel() == static_cast<std::int64_t>(n);
      if (ok) {
        const std::vector<std::int64_t> indices = t->to_vector<std::int64_t>();
        for (std::size_t k = 0; k < n; ++k)
          ok = ok && indices[k] == static_cast<std::int64_t>(first + k);
      }
      if (!ok)
        mismatched.push_back(fmt::format(
            "{}params: expected the int64 indices [{}, {}) of the group's {} parameters, got {}",
            prefix, first, first + n, n, describe(*t)));
    }
    first += n;
    if (complete) {
      try {
        check_options(*options);
      } catch (const Error& e) {
        mismatched.push_back(fmt::format("param_groups.{}: {}", g, e.what()));
      }
    }
    new_options.push_back(std::move(options));
  }

  // Per-parameter state: all keys of a parameter or none.
  struct Loaded {
    bool present = false;
    std::int64_t step = 0;
    std::vector<const Tensor*> buffers;
  };
  std::vector<Loaded> loaded(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = fmt::format("state.{}.", i);
    auto it = dict.lower_bound(prefix);
    if (it == dict.end() || it->first.compare(0, prefix.size(), prefix) != 0) continue;
    const Slot slot = params_[i];
    const Tensor& param = groups_[slot.group].params_[slot.index];
    Loaded& l = loaded[i];
    l.present = true;
    l.buffers.assign(buffer_names_.size(), nullptr);
    const std::size_t required = required_buffers(*new_options[slot.group]);
    for (std::size_t k = 0; k < buffer_names_.size(); ++k) {
      const Tensor* t = find(prefix + buffer_names_[k]);
      if (t == nullptr) {
        if (k < required) missing.push_back(prefix + buffer_names_[k]);
      } else if (!t->defined() || t->shape() != param.shape() || !is_floating(t->dtype())) {
        mismatched.push_back(fmt::format("{}{}: expected {} {} like parameter {}, got {}", prefix,
                                         buffer_names_[k], param.dtype(), param.shape(), i,
                                         describe(*t)));
      } else {
        l.buffers[k] = t;
      }
    }
    if (counts_steps_) {
      const Tensor* t = find(prefix + "step");
      if (t == nullptr) {
        missing.push_back(prefix + "step");
      } else {
        const double step = is_scalar(*t) ? t->item<double>() : -1.0;
        if (!(step >= 0 && step == std::floor(step) && step < 9.0e15))
          mismatched.push_back(fmt::format("{}step: expected a scalar count >= 0, got {}", prefix,
                                           is_scalar(*t) ? fmt::format("{}", step) : describe(*t)));
        else
          l.step = static_cast<std::int64_t>(step);
      }
    }
  }

  std::vector<std::string> unexpected;
  for (const auto& [name, t] : dict)
    if (!used.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg =
        fmt::format("{}.load_state_dict: the state dict does not match the optimizer", name_);
    if (!missing.empty()) msg += fmt::format("; missing keys: {}", missing);
    if (!unexpected.empty()) msg += fmt::format("; unexpected keys: {}", unexpected);
    if (!mismatched.empty()) msg += fmt::format("; mismatched: {}", mismatched);
    throw Error(msg);
  }

  // Everything checked: copy in, reusing existing buffers, so a failed load changes nothing.
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].options_ = std::move(new_options[g]);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Slot slot = params_[i];
    const Tensor& param = groups_[slot.group].params_[slot.index];
    ParamState& s = state_[i];
    if (!loaded[i].present) {
      s = ParamState{};
      continue;
    }
    s.step = loaded[i].step;
    s.buffers.resize(buffer_names_.size());
    for (std::size_t k = 0; k < buffer_names_.size(); ++k) {
      const Tensor* src = loaded[i].buffers[k];
      Tensor& dst = s.buffers[k];
      if (src == nullptr)
        dst = Tensor();
      else if (dst.defined() && dst.dtype() == param.dtype() && dst.shape() == param.shape())
        copy_into(dst, *src);
      else
        dst = copy_data(*src, param.dtype());
    }
  }
}

}  // namespace tapegrad::optim
