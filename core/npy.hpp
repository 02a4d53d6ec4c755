// NumPy .npy files: float32, float64 and int64 tensors, C order, little-endian, format versions
// 1.0 and 2.0 (read) and 1.0 (or 2.0 when the header needs it, written).
//   tg::save_npy("y.npy", y);   tg::Tensor w = tg::load_npy("w.npy");
#pragma once

#include <string>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Reads a .npy file; a tapegrad::Error naming the file for anything it cannot represent.
Tensor load_npy(const std::string& path);
/// Writes t to a .npy file (atomically: a temporary file renamed over `path`).
void save_npy(const std::string& path, const Tensor& t);

}  // namespace tapegrad
