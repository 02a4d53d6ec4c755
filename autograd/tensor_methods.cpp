// The Tensor methods that touch autograd state (declared in core/tensor.hpp).
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/print.hpp"
#include "tapegrad/core/tensor.hpp"

namespace tapegrad {
namespace {

// Printing lives in core, which cannot see autograd's nodes: give it their names. This file is
// linked whenever a tensor can require grad (requires_grad_ is here), so a tensor with a grad_fn
// always prints it.
[[maybe_unused]] const bool grad_fn_namer_registered = [] {
  set_grad_fn_namer([](const Tensor& t) { return t.grad_fn_name(); });
  return true;
}();

}  // namespace

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TensorImpl& i = impl();
  check(i.grad_fn == nullptr || requires_grad,
        "requires_grad_: expected a leaf tensor, got the output of {} (use detach() first)",
        grad_fn_name());
  check(!requires_grad || is_floating(i.dtype),
        "requires_grad_: expected a float32 or float64 tensor, got {} (shape {})", i.dtype,
        i.shape);
  i.requires_grad = requires_grad;
  return *this;
}

void Tensor::retain_grad() {
  check(requires_grad(), "retain_grad: expected a tensor that requires grad, got shape {}",
        shape());
  if (!is_leaf()) impl().retains_grad = true;
}

std::string Tensor::grad_fn_name() const {
  return impl().grad_fn ? std::string(impl().grad_fn->name) : std::string();
}

void Tensor::backward(bool retain_graph) const {
  tapegrad::backward(*this, retain_graph);
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  tapegrad::backward(*this, grad_output, retain_graph);
}

}  // namespace tapegrad
