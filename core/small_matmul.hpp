// Matrix products with one tiny dimension, the shapes a convolution with few channels per group
// makes: a 1-channel 3x3 convolution is y (16, 784) = w (16, 9) * columns (9, 784), its weight
// gradient dw (16, 9) += dy (16, 784) * columns^T, and a depthwise one has a single row.
//
// OpenBLAS packs both operands before every product; at an inner dimension of 9 that costs more
// than the arithmetic (20-90 GFLOP/s, 2-7 GFLOP/s with one row). These kernels read the operands
// in place, register-blocked, in the widest vectors the CPU has (AVX-512, AVX2 or portable
// 128-bit vectors, picked once at run time): 150-240 GFLOP/s with AVX-512.
//
// Each output is summed in a fixed order, so results are deterministic on a given CPU whatever
// the thread count (they may differ in the last bits between vector widths).
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

/// The dimension up to which the small-dimension kernels beat OpenBLAS (used by conv2d).
inline constexpr std::int64_t kSmallMatmulDim = 32;

// C (M, P) = init + A (M, K) * B (K, P).
// A[m][k] is read at A[m * a_row + k * a_col] (so A^T of a row-major (K, M) matrix is a_row = 1,
// a_col = M); B and C are row-major with P columns; init (M) is added to each row, or 0 if null.
// Meant for small K (at most a few dozen); any M and P.
template <class T>
void matmul_small_inner(T* C, const T* A, std::int64_t a_row, std::int64_t a_col, const T* B,
                        std::int64_t M, std::int64_t K, std::int64_t P, const T* init);

// C (M, N) += A (M, P) * B (N, P)^T, all row-major: M * N dot products of length P.
// Meant for small M * N (the weight gradient of a convolution with few channels per group).
template <class T>
void matmul_nt_accumulate(T* C, const T* A, const T* B, std::int64_t M, std::int64_t N,
                          std::int64_t P);

// sums (M) += the row sums of A (M, P), accumulated in double (a convolution's bias gradient).
template <class T>
void row_sums_accumulate(double* sums, const T* A, std::int64_t M, std::int64_t P);

/// Width in bytes of the vectors the kernels use: 64 (AVX-512), 32 (AVX2) or 16 (portable).
int small_matmul_vector_bytes();
/// Forces a narrower vector width (16, 32 or 64; wider than the CPU supports is clamped; 0 picks
/// the widest again). For tests and benchmarks of every code path on one machine.
void set_small_matmul_vector_bytes(int bytes);

}  // namespace tapegrad::kernels
