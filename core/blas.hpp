// The one caller of CBLAS. Row-major GEMM for float and double.
//
// OpenBLAS is kept single-threaded (set once, on first use): tapegrad parallelises with oneTBB
// around GEMM calls, and OpenBLAS's own threads inside TBB tasks would oversubscribe the cores.
#pragma once

#include <cstdint>

namespace tapegrad::blas {

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, all row-major.
// op(A) is A (M,K) with leading dimension lda, or A^T when A is stored (K,M).
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc);

/// Makes sure OpenBLAS runs single-threaded (idempotent; gemm calls it).
void init();

}  // namespace tapegrad::blas
