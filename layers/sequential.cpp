#include "tapegrad/layers/sequential.hpp"

#include <cxxabi.h>

#include <cstdlib>

namespace tapegrad::nn {
namespace {

// A readable type name ("tapegrad::nn::Linear") where the ABI can demangle it.
std::string demangle(const char* name) {
  int status = 0;
  char* s = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && s != nullptr ? s : name;
  std::free(s);
  return out;
}

}  // namespace

Sequential::Sequential(std::initializer_list<AnyModule> modules) {
  for (const AnyModule& m : modules) push_back(m);
}

void Sequential::push_back(const AnyModule& module) {
  add_child(std::to_string(modules_.size()), module.ptr());
  modules_.push_back(module.ptr());
}

std::shared_ptr<Module> Sequential::ptr(std::size_t i) const {
  check(i < modules_.size(), "Sequential: expected an index below {}, got {}", modules_.size(), i);
  return modules_[i];
}

void Sequential::throw_wrong_type(std::size_t i, const char* requested) const {
  fail("Sequential: expected module {} to be a {}, got {}", i, demangle(requested),
       modules_[i]->name());
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const std::shared_ptr<Module>& m : modules_) y = m->forward(y);
  return y;
}

std::string Sequential::name() const {
  return "Sequential";
}

}  // namespace tapegrad::nn
