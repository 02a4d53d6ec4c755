// nn::Module: the base of every layer. It owns named parameters (tensors that require grad),
// buffers (state that is not trained, like BatchNorm's running statistics) and child modules,
// and gives them PyTorch's dotted names ("features.0.weight", "1.running_mean").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/core/named_tensors.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad::nn {

/// Named tensors in registration order (a state dict).
using NamedTensors = tapegrad::NamedTensors;
/// A state dict keyed by name, as load_state_dict takes it.
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;

  /// The layer's computation. Modules with several inputs define their own overloads.
  virtual Tensor forward(const Tensor& input) = 0;
  Tensor operator()(const Tensor& input) { return forward(input); }

  /// A short description for printing: "Conv2d(1, 16, kernel_size=[3, 3], padding=[1, 1])".
  virtual std::string name() const = 0;

  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;

  /// Sets training mode on this module and its children: net.train(); net.train(false);
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Zeroes the gradients of every parameter (keeps the buffers, so no allocation next step).
  void zero_grad();

  /// Converts parameters and floating buffers to `dtype` in place (float64 for gradcheck):
  /// handles held elsewhere see the new dtype; gradients are cleared.
  void to(Dtype dtype);

  /// Parameters then buffers of every module, with dotted names, as PyTorch orders them.
  NamedTensors state_dict() const;
  /// Copies values into parameters and buffers. strict: every key must match, and the error
  /// names each missing, unexpected or wrongly shaped key.
  void load_state_dict(const StateDict& dict, bool strict = true);
  void load_state_dict(const NamedTensors& dict, bool strict = true);

  /// A multi-line summary of the module tree.
  std::string to_string() const;

 protected:
  /// Registers (or replaces) a parameter; it is made a leaf that requires grad.
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  /// Registers (or replaces) a buffer; undefined means "absent" (skipped in state_dict).
  Tensor register_buffer(const std::string& name, Tensor value);
  /// Registers a child module and returns it.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> module);

  bool training_ = true;

 private:
  void collect(const std::string& prefix, bool recurse, bool params, NamedTensors& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace tapegrad::nn
