// Differentiable matrix product on OpenBLAS GEMM.
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Matrix product of two tensors of one floating dtype:
///   (M,K) @ (K,N) -> (M,N)                 2-D
///   (B,M,K) @ (B,K,N) -> (B,M,N)           batched, parallel over B
///   (B,M,K) @ (K,N) -> (B,M,N)             one matrix for the whole batch
///   (K) @ (K,N) -> (N),  (M,K) @ (K) -> (M),  (K) @ (K) -> ()   vectors, as in PyTorch
///   auto logits = tg::matmul(x, w);
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace tapegrad
