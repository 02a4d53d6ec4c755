// Printing support. to_string(t) and operator<< are declared with Tensor in tensor.hpp.
#pragma once

#include <string>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Returns the name of the op that produced a non-leaf tensor.
using GradFnNamer = std::string (*)(const Tensor&);

/// Lets printing show `grad_fn=<name>`: core cannot see autograd's nodes, so autograd registers
/// this (once, at start-up) and core calls it. Without it, printing shows requires_grad=True.
void set_grad_fn_namer(GradFnNamer namer);

}  // namespace tapegrad
