// NamedTensors: tensors with names in a meaningful order, the form of a state dict and of a
// checkpoint file's contents.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Named tensors in order: {{"0.weight", w}, {"0.bias", b}}.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tapegrad
