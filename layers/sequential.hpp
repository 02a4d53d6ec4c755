// Sequential: a chain of modules, each one's output the next one's input. Children are named
// "0", "1", ..., so parameters come out as PyTorch names them ("0.weight", "1.running_mean").
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tapegrad/layers/module.hpp"

namespace tapegrad::nn {

/// A handle to any module, so one braced list can mix layer types. Built from a module value
/// (copied: the copy shares the original's parameter tensors) or from a shared_ptr (shared).
class AnyModule {
 public:
  template <class M, class D = std::decay_t<M>,
            class = std::enable_if_t<std::is_base_of_v<Module, D> && !std::is_abstract_v<D>>>
  AnyModule(M&& module)  // NOLINT: implicit by design
      : module_(std::make_shared<D>(std::forward<M>(module))) {}
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module, M>>>
  AnyModule(std::shared_ptr<M> module)  // NOLINT: implicit by design
      : module_(std::move(module)) {}

  const std::shared_ptr<Module>& ptr() const { return module_; }

 private:
  std::shared_ptr<Module> module_;
};

/// Runs its modules in order.
///   tg::nn::Sequential net{conv, bn, tg::nn::ReLU(), tg::nn::MaxPool2d(2), tg::nn::Flatten(),
///                          tg::nn::Linear(8 * 14 * 14, 10)};
///   auto logits = net.forward(x);  auto& fc = net.at<tg::nn::Linear>(5);
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<AnyModule> modules);

  /// Appends a module, named by its position.
  void push_back(const AnyModule& module);
  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }

  /// Module i (an error when out of range).
  Module& operator[](std::size_t i) const { return *ptr(i); }
  std::shared_ptr<Module> ptr(std::size_t i) const;
  /// Module i as its concrete type: net.at<tg::nn::Linear>(5).weight. An error if it is not one.
  template <class M>
  M& at(std::size_t i) const {
    M* m = dynamic_cast<M*>(ptr(i).get());
    if (m == nullptr) throw_wrong_type(i, typeid(M).name());
    return *m;
  }

  /// The modules applied in order (the input itself when empty).
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  [[noreturn]] void throw_wrong_type(std::size_t i, const char* requested) const;

  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tapegrad::nn
