// The one caller of CBLAS. Row-major GEMM for float and double.
//
// float runs on tapegrad's own AVX-512 kernels (core/sgemm_avx512.hpp) where the CPU has
// AVX-512: about twice OpenBLAS's speed on cores whose 512-bit FMAs run at twice the AVX2 rate,
// and on the products of a convolution whatever kernels OpenBLAS picked. Elsewhere, and for
// double, OpenBLAS runs it.
//
// OpenBLAS is kept single-threaded (set once, on first use): tapegrad parallelises with oneTBB
// around GEMM calls, and OpenBLAS's own threads inside TBB tasks would oversubscribe the cores.
#pragma once

#include <cstdint>
#include <string_view>

namespace tapegrad::blas {

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, all row-major.
// op(A) is A (M,K) with leading dimension lda, or A^T when A is stored (K,M).
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc);

/// What runs gemm<float>. Auto: AVX512 where the CPU has it, else OpenBLAS; the environment
/// variable TAPEGRAD_GEMM (auto, openblas or avx512) sets the starting choice.
enum class GemmBackend { Auto, OpenBLAS, AVX512 };

/// The backend gemm<float> uses now (never Auto).
GemmBackend gemm_backend();
/// Picks the backend of gemm<float> for the whole process (Auto: the CPU's best); AVX512 on a
/// CPU without AVX-512 throws. For A/B comparisons and tests:
///   tg::blas::set_gemm_backend(tg::blas::GemmBackend::OpenBLAS);
void set_gemm_backend(GemmBackend backend);
/// The backend named "auto", "openblas" or "avx512"; a tapegrad::Error for any other name.
GemmBackend parse_gemm_backend(std::string_view name);

/// Makes sure OpenBLAS runs single-threaded (idempotent; gemm calls it).
void init();

}  // namespace tapegrad::blas
