#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "support/test_support.hpp"
#include "tapegrad/core/small_matmul.hpp"

namespace tg = tapegrad;
namespace kernels = tapegrad::kernels;

namespace {

// Restores the automatic vector width when a test ends.
struct VectorWidthGuard {
  ~VectorWidthGuard() { kernels::set_small_matmul_vector_bytes(0); }
};

template <class T>
std::vector<T> random_values(std::size_t n, tg::Generator& gen) {
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(gen.uniform(-1.0, 1.0));
  return v;
}

template <class T>
void expect_near_all(const std::vector<T>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(static_cast<double>(got[i]), want[i], tol * (1.0 + std::abs(want[i])))
        << "element " << i;
}

// Every remainder of the row blocks (M), the vector blocks and the scalar tail (P), with and
// without init, A plain and transposed, at every vector width the CPU has.
template <class T>
void check_small_inner(double tol) {
  VectorWidthGuard restore;
  tg::Generator gen(1);
  for (int bytes : {16, 32, 64}) {
    kernels::set_small_matmul_vector_bytes(bytes);
    for (std::int64_t M : {1, 2, 3, 4, 5, 7, 9})
      for (std::int64_t K : {1, 3, 9, 25})
        for (std::int64_t P : {1, 5, 16, 37, 130}) {
          SCOPED_TRACE(testing::Message()
                       << "bytes " << bytes << " M " << M << " K " << K << " P " << P);
          const std::vector<T> A = random_values<T>(M * K, gen);
          const std::vector<T> B = random_values<T>(K * P, gen);
          const std::vector<T> init = random_values<T>(M, gen);
          for (bool transposed : {false, true})
            for (bool with_init : {false, true}) {
              // transposed: A is stored (K, M), read as A^T.
              const std::int64_t a_row = transposed ? 1 : K, a_col = transposed ? M : 1;
              std::vector<double> want(M * P);
              for (std::int64_t m = 0; m < M; ++m)
                for (std::int64_t p = 0; p < P; ++p) {
                  double sum = with_init ? init[m] : 0.0;
                  for (std::int64_t k = 0; k < K; ++k)
                    sum += static_cast<double>(A[m * a_row + k * a_col]) * B[k * P + p];
                  want[m * P + p] = sum;
                }
              std::vector<T> C(M * P, T(7));
              kernels::matmul_small_inner(C.data(), A.data(), a_row, a_col, B.data(), M, K, P,
                                          with_init ? init.data() : nullptr);
              expect_near_all(C, want, tol);
            }
        }
  }
}

template <class T>
void check_nt_accumulate(double tol) {
  VectorWidthGuard restore;
  tg::Generator gen(2);
  for (int bytes : {16, 32, 64}) {
    kernels::set_small_matmul_vector_bytes(bytes);
    for (std::int64_t M : {1, 2, 3, 4, 5, 9})
      for (std::int64_t N : {1, 3, 4, 9, 25})
        for (std::int64_t P : {1, 7, 16, 49, 196}) {
          SCOPED_TRACE(testing::Message()
                       << "bytes " << bytes << " M " << M << " N " << N << " P " << P);
          const std::vector<T> A = random_values<T>(M * P, gen);
          const std::vector<T> B = random_values<T>(N * P, gen);
          std::vector<T> C = random_values<T>(M * N, gen);  // accumulated into
          std::vector<double> want(M * N);
          for (std::int64_t m = 0; m < M; ++m)
            for (std::int64_t n = 0; n < N; ++n) {
              double sum = C[m * N + n];
              for (std::int64_t p = 0; p < P; ++p)
                sum += static_cast<double>(A[m * P + p]) * B[n * P + p];
              want[m * N + n] = sum;
            }
          kernels::matmul_nt_accumulate(C.data(), A.data(), B.data(), M, N, P);
          expect_near_all(C, want, tol);
        }
  }
}

}  // namespace

TEST(SmallMatmul, InnerProductMatchesNaiveLoopsFloat) {
  check_small_inner<float>(1e-5);
}

TEST(SmallMatmul, InnerProductMatchesNaiveLoopsDouble) {
  check_small_inner<double>(1e-13);
}

TEST(SmallMatmul, DotProductsAccumulateLikeNaiveLoopsFloat) {
  check_nt_accumulate<float>(1e-5);
}

TEST(SmallMatmul, DotProductsAccumulateLikeNaiveLoopsDouble) {
  check_nt_accumulate<double>(1e-13);
}

template <class T>
void check_row_sums() {
  VectorWidthGuard restore;
  tg::Generator gen(3);
  for (int bytes : {16, 32, 64}) {
    kernels::set_small_matmul_vector_bytes(bytes);
    for (std::int64_t M : {1, 3})
      for (std::int64_t P : {1, 5, 16, 63, 64, 65, 784}) {
        SCOPED_TRACE(testing::Message() << "bytes " << bytes << " M " << M << " P " << P);
        const std::vector<T> A = random_values<T>(M * P, gen);
        std::vector<double> sums(M, 0.5), want(M, 0.5);
        for (std::int64_t m = 0; m < M; ++m)
          for (std::int64_t p = 0; p < P; ++p) want[m] += A[m * P + p];
        kernels::row_sums_accumulate(sums.data(), A.data(), M, P);
        for (std::int64_t m = 0; m < M; ++m) EXPECT_NEAR(sums[m], want[m], 1e-12);
      }
  }
}

TEST(SmallMatmul, RowSumsAccumulateInDouble) {
  check_row_sums<float>();
  check_row_sums<double>();
  // In double: a float sum of 1 + 2^-24 * n loses every small term; the double sum keeps them.
  std::vector<float> values(1000, 0x1p-24f);
  values[0] = 1.0f;
  double sum = 0.0;
  kernels::row_sums_accumulate(&sum, values.data(), 1, 1000);
  EXPECT_DOUBLE_EQ(sum, 1.0 + 999 * 0x1p-24);
}

TEST(SmallMatmul, VectorWidthIsClampedToTheCpu) {
  VectorWidthGuard restore;
  const int widest = kernels::small_matmul_vector_bytes();
  EXPECT_TRUE(widest == 16 || widest == 32 || widest == 64) << widest;
  kernels::set_small_matmul_vector_bytes(16);
  EXPECT_EQ(kernels::small_matmul_vector_bytes(), 16);
  kernels::set_small_matmul_vector_bytes(128);
  EXPECT_EQ(kernels::small_matmul_vector_bytes(), widest);
  kernels::set_small_matmul_vector_bytes(0);
  EXPECT_EQ(kernels::small_matmul_vector_bytes(), widest);
}
