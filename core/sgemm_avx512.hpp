// Single-precision GEMM on AVX-512, for CPUs whose 512-bit FMAs run at twice the AVX2 rate
// (Zen 4/5, Intel server cores): C (M,N) = alpha * op(A) * op(B) + beta * C, row-major.
//
// A BLIS-style blocked product (see sgemm_avx512.cpp): register-blocked 8 x 48 micro-kernels of
// broadcast FMAs, op(A) read in place, op(B) in place or (transposed) packed into panels of 48
// columns, C or C^T computed, whichever fills the vectors better. Built with function-level
// target attributes, so the library needs no -mavx512f; call it only when
// sgemm_avx512_supported() is true. blas::gemm<float> routes here on such CPUs; conv2d also
// calls the indexed variants below directly (implicit GEMMs over padded images).
//
// Single-threaded. Each C element is summed in a fixed order that depends only on the shapes, so
// results are deterministic whatever the caller's thread count.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

/// Whether this CPU runs sgemm_avx512 (AVX-512 F, checked once).
bool sgemm_avx512_supported();

// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major, as cblas_sgemm:
// op(A) is A (M, K) with leading dimension lda, or A^T when trans_a (A stored (K, M)); the same
// for B. beta = 0 writes C without reading it; K = 0 gives C = beta * C; M or N = 0 does nothing.
void sgemm_avx512(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                  float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                  float beta, float* C, std::int64_t ldc);

// C = alpha * op(A) (M, K) * op(B) (K, N) + beta * C with op(A) gathered by offsets:
//   op(A)[i][k] = a[row_offsets[i] + k_offsets[k]]
// and C element (i, j) at C[i * c_row + j * c_col], c_col == 1 (row-major) or c_row == 1
// (stored transposed). A convolution's column matrix, never built: for a zero-padded image, the
// row offsets of the output pixels and the offsets of the (channel, kh, kw) taps address every
// entry of im2col (an implicit GEMM). op(B) as in sgemm_avx512. Computed as given (no switch to
// C^T): the vectors run along N.
void sgemm_avx512_indexed(std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                          const float* a, const std::int64_t* row_offsets,
                          const std::int64_t* k_offsets, bool trans_b, const float* B,
                          std::int64_t ldb, float beta, float* C, std::int64_t c_row,
                          std::int64_t c_col);

// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, row-major, with op(B)'s rows read
// through offsets: op(B)[k][j] = b[k_offsets[k] + j]. op(A) as in sgemm_avx512. The column
// matrix of a stride-1 convolution over a zero-padded image with rows of Wp pixels, its output
// computed on that Wp-wide grid (the last columns of each row are junk, discarded by the caller):
// row (c, kh, kw) starts at tap c Hp Wp + kh DH Wp + kw DW and runs contiguously. The vectors run
// along N (the pixels): for convolutions with few output channels.
void sgemm_avx512_indexed_b(bool trans_a, std::int64_t M, std::int64_t N, std::int64_t K,
                            float alpha, const float* A, std::int64_t lda, const float* b,
                            const std::int64_t* k_offsets, float beta, float* C, std::int64_t ldc);

}  // namespace tapegrad::kernels
