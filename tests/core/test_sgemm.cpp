#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "tapegrad/core/blas.hpp"
#include "tapegrad/core/sgemm_avx512.hpp"

namespace tg = tapegrad;
namespace blas = tapegrad::blas;
namespace kernels = tapegrad::kernels;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One product: op(A) (M, K), op(B) (K, N), C (M, N), row-major with leading dimensions padded
// by `pad`. The padding holds NaN, so a kernel that reads it poisons C; C's padding must survive.
struct Product {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  float alpha, beta;
  std::int64_t pad = 0;

  std::int64_t lda() const { return (trans_a ? M : K) + pad; }
  std::int64_t ldb() const { return (trans_b ? K : N) + pad; }
  std::int64_t ldc() const { return N + pad; }
};

std::vector<float> padded_random(std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                 tg::Generator& gen) {
  std::vector<float> v(static_cast<std::size_t>(rows * ld), kNaN);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      v[r * ld + c] = static_cast<float>(gen.uniform(-1.0, 1.0));
  return v;
}

::testing::AssertionResult matches_reference(const Product& p, tg::Generator& gen) {
  const std::int64_t a_rows = p.trans_a ? p.K : p.M, a_cols = p.trans_a ? p.M : p.K;
  const std::int64_t b_rows = p.trans_b ? p.N : p.K, b_cols = p.trans_b ? p.K : p.N;
  const std::vector<float> A = padded_random(a_rows, a_cols, p.lda(), gen);
  const std::vector<float> B = padded_random(b_rows, b_cols, p.ldb(), gen);
  std::vector<float> C = padded_random(p.M, p.N, p.ldc(), gen);
  if (p.beta == 0.0f)  // beta = 0 must not read C: NaN there must not come through
    for (std::int64_t i = 0; i < p.M; ++i) std::fill_n(C.begin() + i * p.ldc(), p.N, kNaN);
  const std::vector<float> C0 = C;
  kernels::sgemm_avx512(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, A.data(), p.lda(), B.data(),
                        p.ldb(), p.beta, C.data(), p.ldc());
  for (std::int64_t i = 0; i < p.M; ++i)
    for (std::int64_t j = 0; j < p.ldc(); ++j) {
      const float got = C[i * p.ldc() + j];
      if (j >= p.N) {  // padding: untouched
        if (!std::isnan(got))
          return ::testing::AssertionFailure() << "padding C[" << i << "][" << j << "] written";
        continue;
      }
      double sum = 0.0, magnitude = 0.0;
      for (std::int64_t k = 0; k < p.K; ++k) {
        const double a = p.trans_a ? A[k * p.lda() + i] : A[i * p.lda() + k];
        const double b = p.trans_b ? B[j * p.ldb() + k] : B[k * p.ldb() + j];
        sum += a * b;
        magnitude += std::abs(a * b);
      }
      const double c0 = p.beta == 0.0f ? 0.0 : C0[i * p.ldc() + j];
      const double want = p.alpha * sum + p.beta * c0;
      const double bound = 1e-5 * std::sqrt(static_cast<double>(p.K) + 1.0) *
                               (std::abs(p.alpha) * magnitude + std::abs(p.beta * c0)) +
                           1e-30;
      if (!(std::abs(got - want) <= bound))
        return ::testing::AssertionFailure() << "C[" << i << "][" << j << "] = " << got << ", want "
                                             << want << " (bound " << bound << ")";
    }
  return ::testing::AssertionSuccess();
}

std::string describe(const Product& p) {
  return fmt::format("{}{} M={} N={} K={} alpha={} beta={} pad={}", p.trans_a ? 'T' : 'N',
                     p.trans_b ? 'T' : 'N', p.M, p.N, p.K, p.alpha, p.beta, p.pad);
}

// The kernels' tests, skipped on a CPU without AVX-512.
class Sgemm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::sgemm_avx512_supported()) GTEST_SKIP() << "this CPU has no AVX-512";
  }
};

// sgemm_avx512_indexed against naive loops: op(A)[i][k] = a[rows[i] + ks[k]] with offsets that
// overlap (as an implicit im2col's do), C row-major or stored transposed, op(B) either way,
// alpha and beta, K across blocks.
TEST_F(Sgemm, IndexedMatchesNaiveProduct) {
  tg::Generator gen(6);
  for (const auto& [M, N, K] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {7, 17, 9}, {49, 40, 75}, {20, 33, 800}, {9, 130, 31}})
    for (bool tb : {false, true})
      for (bool transposed_c : {false, true})
        for (const auto& [alpha, beta] :
             std::vector<std::array<float, 2>>{{1.0f, 0.0f}, {-0.5f, 1.0f}}) {
          SCOPED_TRACE(testing::Message() << "M " << M << " N " << N << " K " << K << " tb " << tb
                                          << " C^T " << transposed_c << " beta " << beta);
          std::vector<std::int64_t> rows(M), ks(K);
          for (std::int64_t i = 0; i < M; ++i) rows[i] = (i / 5) * 7 + i % 5;  // runs of 5
          for (std::int64_t k = 0; k < K; ++k) ks[k] = static_cast<std::int64_t>(gen.randint(60));
          std::vector<float> a(rows.back() + 60);
          for (float& v : a) v = static_cast<float>(gen.uniform(-1.0, 1.0));
          const std::int64_t ldb = tb ? K + 2 : N + 3;
          const std::vector<float> B = padded_random(tb ? N : K, tb ? K : N, ldb, gen);
          const std::int64_t ldc = (transposed_c ? M : N) + 1;
          std::vector<float> C =
              padded_random(transposed_c ? N : M, transposed_c ? M : N, ldc, gen);
          const std::vector<float> C0 = C;
          const std::int64_t c_row = transposed_c ? 1 : ldc, c_col = transposed_c ? ldc : 1;
          kernels::sgemm_avx512_indexed(M, N, K, alpha, a.data(), rows.data(), ks.data(), tb,
                                        B.data(), ldb, beta, C.data(), c_row, c_col);
          for (std::int64_t i = 0; i < M; ++i)
            for (std::int64_t j = 0; j < N; ++j) {
              double sum = 0.0, magnitude = 0.0;
              for (std::int64_t k = 0; k < K; ++k) {
                const double product = static_cast<double>(a[rows[i] + ks[k]]) *
                                       (tb ? B[j * ldb + k] : B[k * ldb + j]);
                sum += product;
                magnitude += std::abs(product);
              }
              const double c0 = C0[i * c_row + j * c_col];
              const double want = alpha * sum + (beta == 0.0f ? 0.0 : beta * c0);
              ASSERT_NEAR(C[i * c_row + j * c_col], want,
                          1e-5 * std::sqrt(K + 1.0) * (magnitude + std::abs(c0)))
                  << "C[" << i << "][" << j << "]";
            }
          // The padding of C's rows stays untouched.
          for (std::int64_t r = 0; r < (transposed_c ? N : M); ++r)
            ASSERT_TRUE(std::isnan(C[r * ldc + ldc - 1])) << "row " << r;
        }
}

// Restores the automatic backend when a test ends.
struct BackendGuard {
  ~BackendGuard() { blas::set_gemm_backend(blas::GemmBackend::Auto); }
};

}  // namespace

// Sizes on both sides of the micro-tile (8 rows, 3 x 16 columns), of a vector (16), odd and
// prime sizes, M and N straddling the row and column blocks (192, 256) and K straddling the K
// block (768): every edge kernel, both orientations (C or C^T), packed and in-place op(B).
TEST_F(Sgemm, MatchesNaiveProductForEveryTransposeAndEdge) {
  tg::Generator gen(1);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::int64_t M : {1, 2, 7, 8, 9, 17, 49, 130})
        for (std::int64_t N : {1, 15, 16, 17, 48, 49, 97, 131})
          for (std::int64_t K : {1, 3, 16, 37, 130}) {
            const Product p{ta, tb, M, N, K, 1.0f, 0.0f};
            ASSERT_TRUE(matches_reference(p, gen)) << describe(p);
          }
}

TEST_F(Sgemm, MatchesNaiveProductAcrossCacheBlocks) {
  tg::Generator gen(2);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& [M, N, K] : std::vector<std::array<std::int64_t, 3>>{
               {193, 20, 9}, {20, 257, 9}, {3, 5, 769}, {9, 50, 1537}, {200, 390, 800}}) {
        const Product p{ta, tb, M, N, K, -1.0f, 0.5f};
        ASSERT_TRUE(matches_reference(p, gen)) << describe(p);
      }
}

// The products of the benchmarked convolutions (forward, weight and input gradients), which run
// C or C^T by the cost model, with alpha and beta and padded leading dimensions.
TEST_F(Sgemm, AlphaBetaAndLeadingDimensionsOnConvolutionShapes) {
  tg::Generator gen(3);
  for (const auto& [C, HW, OC] : std::vector<std::array<std::int64_t, 3>>{
           {8, 28 * 28, 16}, {16, 14 * 14, 32}, {32, 14 * 14, 64}, {64, 7 * 7, 128}}) {
    const std::int64_t K = C * 9;
    for (const auto& [alpha, beta] :
         std::vector<std::array<float, 2>>{{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 0.25f}})
      for (std::int64_t pad : {0, 3}) {
        for (const Product& p : {Product{false, false, OC, HW, K, alpha, beta, pad},
                                 Product{false, true, OC, K, HW, alpha, beta, pad},
                                 Product{true, false, K, HW, OC, alpha, beta, pad}})
          ASSERT_TRUE(matches_reference(p, gen)) << describe(p);
      }
  }
}

TEST_F(Sgemm, EmptyProductsOnlyScaleC) {
  std::vector<float> A(12, kNaN), B(12, kNaN), C{1, 2, 3, 4, 5, 6};
  // M or N = 0: nothing is read or written.
  kernels::sgemm_avx512(false, false, 0, 3, 4, 1.0f, A.data(), 4, B.data(), 3, 0.0f, C.data(), 3);
  kernels::sgemm_avx512(false, false, 2, 0, 4, 1.0f, A.data(), 4, B.data(), 3, 0.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // K = 0 or alpha = 0: C = beta * C, A and B unread.
  kernels::sgemm_avx512(false, false, 2, 3, 0, 1.0f, A.data(), 1, B.data(), 3, 0.5f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
  kernels::sgemm_avx512(true, true, 2, 3, 4, 0.0f, A.data(), 2, B.data(), 4, 2.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // beta = 0 overwrites C, NaN included.
  std::fill(C.begin(), C.end(), kNaN);
  kernels::sgemm_avx512(false, false, 2, 3, 0, 1.0f, A.data(), 1, B.data(), 3, 0.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>(6, 0.0f)));
}

// Each thread packs into its own buffer: products running at once give the results they give
// alone, bit for bit.
TEST_F(Sgemm, ConcurrentCallsMatchSerialBitwise) {
  tg::Generator gen(4);
  const std::int64_t M = 70, N = 90, K = 300;
  std::vector<std::vector<float>> A, B, serial, parallel;
  for (int t = 0; t < 4; ++t) {
    A.push_back(padded_random(M, K, K, gen));
    B.push_back(padded_random(N, K, K, gen));  // op(B) transposed: packed
    serial.emplace_back(M * N, 0.0f);
    parallel.emplace_back(M * N, 0.0f);
    kernels::sgemm_avx512(false, true, M, N, K, 1.0f, A[t].data(), K, B[t].data(), K, 0.0f,
                          serial[t].data(), N);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat)
        kernels::sgemm_avx512(false, true, M, N, K, 1.0f, A[t].data(), K, B[t].data(), K, 0.0f,
                              parallel[t].data(), N);
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(serial[t], parallel[t]) << "thread " << t;
}

TEST(Blas, GemmBackendFollowsTheCpuAndCanBeForced) {
  BackendGuard restore;
  blas::set_gemm_backend(blas::GemmBackend::Auto);
  const blas::GemmBackend best =
      kernels::sgemm_avx512_supported() ? blas::GemmBackend::AVX512 : blas::GemmBackend::OpenBLAS;
  EXPECT_EQ(blas::gemm_backend(), best);
  blas::set_gemm_backend(blas::GemmBackend::OpenBLAS);
  EXPECT_EQ(blas::gemm_backend(), blas::GemmBackend::OpenBLAS);
  if (kernels::sgemm_avx512_supported()) {
    blas::set_gemm_backend(blas::GemmBackend::AVX512);
    EXPECT_EQ(blas::gemm_backend(), blas::GemmBackend::AVX512);
  } else {
    EXPECT_THROW(blas::set_gemm_backend(blas::GemmBackend::AVX512), tg::Error);
  }
  EXPECT_EQ(blas::parse_gemm_backend("auto"), blas::GemmBackend::Auto);
  EXPECT_EQ(blas::parse_gemm_backend("openblas"), blas::GemmBackend::OpenBLAS);
  EXPECT_EQ(blas::parse_gemm_backend("avx512"), blas::GemmBackend::AVX512);
  tg::testing::expect_error([] { blas::parse_gemm_backend("mkl"); },
                            "gemm: expected a backend auto, openblas or avx512, got 'mkl'");
}

// Both backends compute the same product (to rounding) through blas::gemm<float>.
TEST_F(Sgemm, GemmBackendsAgreeThroughBlas) {
  BackendGuard restore;
  tg::Generator gen(5);
  const std::int64_t M = 33, N = 50, K = 70;
  const std::vector<float> A = padded_random(K, M, M, gen), B = padded_random(K, N, N, gen);
  std::vector<float> ours(M * N, 1.0f), openblas(M * N, 1.0f);
  blas::set_gemm_backend(blas::GemmBackend::AVX512);
  blas::gemm<float>(true, false, M, N, K, 2.0f, A.data(), M, B.data(), N, 0.5f, ours.data(), N);
  blas::set_gemm_backend(blas::GemmBackend::OpenBLAS);
  blas::gemm<float>(true, false, M, N, K, 2.0f, A.data(), M, B.data(), N, 0.5f, openblas.data(), N);
  for (std::size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], openblas[i], 1e-4) << i;
}
