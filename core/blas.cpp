#include "tapegrad/core/blas.hpp"

#include <cblas.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <mutex>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/log.hpp"
#include "tapegrad/core/sgemm_avx512.hpp"

namespace tapegrad::blas {
namespace {

GemmBackend resolve(GemmBackend backend) {
  if (backend != GemmBackend::Auto) return backend;
  return kernels::sgemm_avx512_supported() ? GemmBackend::AVX512 : GemmBackend::OpenBLAS;
}

// The starting choice: TAPEGRAD_GEMM, or Auto; an unusable value is logged and ignored.
GemmBackend initial_backend() {
  const char* env = std::getenv("TAPEGRAD_GEMM");
  if (env == nullptr) return resolve(GemmBackend::Auto);
  try {
    const GemmBackend backend = parse_gemm_backend(env);
    check(backend != GemmBackend::AVX512 || kernels::sgemm_avx512_supported(),
          "this CPU has no AVX-512");
    return resolve(backend);
  } catch (const Error& e) {
    logger()->warn("TAPEGRAD_GEMM='{}' ignored ({}); using the default", env, e.what());
    return resolve(GemmBackend::Auto);
  }
}

std::atomic<GemmBackend>& current_backend() {
  static std::atomic<GemmBackend> backend{initial_backend()};
  return backend;
}

}  // namespace

void init() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

GemmBackend parse_gemm_backend(std::string_view name) {
  if (name == "auto") return GemmBackend::Auto;
  if (name == "openblas") return GemmBackend::OpenBLAS;
  if (name == "avx512") return GemmBackend::AVX512;
  fail("gemm: expected a backend auto, openblas or avx512, got '{}'", name);
}

GemmBackend gemm_backend() {
  return current_backend().load(std::memory_order_relaxed);
}

void set_gemm_backend(GemmBackend backend) {
  check(backend != GemmBackend::AVX512 || kernels::sgemm_avx512_supported(),
        "set_gemm_backend: expected a CPU with AVX-512 for the AVX512 backend, got one without");
  current_backend().store(resolve(backend), std::memory_order_relaxed);
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_backend() == GemmBackend::AVX512)
      return kernels::sgemm_avx512(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  check(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
            ldc <= INT_MAX,
        "gemm: expected sizes below 2^31, got M={} N={} K={}", M, N, K);
  init();
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                          std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double,
                           const double*, std::int64_t, const double*, std::int64_t, double,
                           double*, std::int64_t);

}  // namespace tapegrad::blas
