#include "tapegrad/layers/module.hpp"

#include <set>
#include <sstream>

#include "tapegrad/autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

// Replaces the data behind a tensor handle, so every handle on the same TensorImpl sees it.
void replace_data(Tensor& t, const Tensor& src) {
  TensorImpl& impl = t.impl();
  impl.storage = src.impl().storage;
  impl.dtype = src.dtype();
  impl.grad.reset();
}

}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check(value.defined(), "register_parameter: expected a defined tensor for '{}'", name);
  value = value.detach();
  if (requires_grad) value.requires_grad_();
  for (auto& [n, t] : params_)
    if (n == name) return t = value;
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  for (auto& [n, t] : buffers_)
    if (n == name) return t = value;
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check(module != nullptr, "register_module: expected a module for '{}', got null", name);
  for (auto& [n, m] : children_)
    if (n == name) {
      m = std::move(module);
      return;
    }
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool recurse, bool params,
                     NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", true, params, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad() {
  NoGradGuard no_grad;
  for (Tensor& p : parameters())
    if (p.grad().defined()) p.grad().zero_();
}

void Module::to(Dtype dtype) {
  check(is_floating(dtype), "Module::to: expected float32 or float64, got {}", dtype);
  for (Tensor& t : parameters())
    if (t.dtype() != dtype) replace_data(t, copy_data(t, dtype));
  for (Tensor& t : buffers())
    if (is_floating(t.dtype()) && t.dtype() != dtype) replace_data(t, copy_data(t, dtype));
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  std::vector<const Module*> stack;
  // PyTorch order: a module's own parameters, then its buffers, then each child in turn.
  struct Walker {
    static void walk(const Module& m, const std::string& prefix, NamedTensors& out) {
      for (const auto& [n, t] : m.params_)
        if (t.defined()) out.emplace_back(prefix + n, t);
      for (const auto& [n, t] : m.buffers_)
        if (t.defined()) out.emplace_back(prefix + n, t);
      for (const auto& [n, c] : m.children_) walk(*c, prefix + n + ".", out);
    }
  };
  Walker::walk(*this, "", out);
  return out;
}

void Module::load_state_dict(const NamedTensors& dict, bool strict) {
  StateDict map;
  for (const auto& [n, t] : dict) map[n] = t;
  load_state_dict(map, strict);
}

void Module::load_state_dict(const StateDict& dict, bool strict) {
  NamedTensors own = state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> own_names;
  for (auto& [name, t] : own) {
    own_names.insert(name);
    auto it = dict.find(name);
    if (it == dict.end()) {
      missing.push_back(name);
    } else if (!it->second.defined() || it->second.shape() != t.shape() ||
               is_floating(it->second.dtype()) != is_floating(t.dtype())) {
      mismatched.push_back(fmt::format(
          "{}: expected {} {}, got {}", name, t.dtype(), t.shape(),
          it->second.defined() ? fmt::format("{} {}", it->second.dtype(), it->second.shape())
                               : std::string("an undefined tensor")));
    }
  }
  for (const auto& [name, t] : dict)
    if (!own_names.count(name)) unexpected.push_back(name);
  const bool bad = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (bad) {
    std::string msg = "load_state_dict: the state dict does not match the module";
    if (!missing.empty()) msg += fmt::format("; missing keys: {}", missing);
    if (!unexpected.empty()) msg += fmt::format("; unexpected keys: {}", unexpected);
    if (!mismatched.empty()) msg += fmt::format("; wrong shapes: {}", mismatched);
    throw Error(msg);
  }
  // Everything checked: now copy, so a failed load changes nothing.
  NoGradGuard no_grad;
  for (auto& [name, t] : own) {
    auto it = dict.find(name);
    if (it != dict.end()) t.copy_(it->second);
  }
}

std::string Module::to_string() const {
  std::ostringstream os;
  os << name();
  if (!children_.empty()) {
    os << "(\n";
    for (const auto& [n, m] : children_) {
      std::string child = m->to_string();
      std::string indented;
      for (char c : child) {
        indented += c;
        if (c == '\n') indented += "  ";
      }
      os << "  (" << n << "): " << indented << "\n";
    }
    os << ")";
  }
  return os.str();
}

}  // namespace tapegrad::nn
