#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/matmul.hpp"
#include "tapegrad/autograd/reduce.hpp"
#include "tapegrad/autograd/shape_ops.hpp"

namespace tg = tapegrad;
using tapegrad::testing::bitwise_equal;
using tapegrad::testing::expect_error;
using tapegrad::testing::ThreadGuard;
using Tensors = std::vector<tg::Tensor>;

namespace {

// Reference: z[b, m, n] = sum_k a[b, m, k] * w[b or 0, k, n], on (batch, M, K) and (bw, K, N).
std::vector<double> naive_matmul(const std::vector<double>& a, const std::vector<double>& w,
                                 std::int64_t batch, std::int64_t M, std::int64_t K, std::int64_t N,
                                 bool batched_w) {
  std::vector<double> z(batch * M * N, 0.0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k)
          s += a[(b * M + m) * K + k] * w[((batched_w ? b : 0) * K + k) * N + n];
        z[(b * M + m) * N + n] = s;
      }
  return z;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << i;
}

}  // namespace

TEST(Matmul, HandComputed2D) {
  const tg::Tensor a = tg::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  const tg::Tensor b = tg::from_vector(std::vector<float>{5, 6, 7, 8}, {2, 2});
  EXPECT_EQ(tg::matmul(a, b).to_vector<float>(), (std::vector<float>{19, 22, 43, 50}));
  const tg::Tensor r = tg::from_vector(std::vector<float>{1, 0, -1}, {1, 3});
  const tg::Tensor c = tg::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(tg::matmul(r, c).to_vector<float>(), (std::vector<float>{-4, -4}));
}

TEST(Matmul, AllSupportedRanksMatchNaiveReference) {
  struct Case {
    tg::Shape a, b, out;
    std::int64_t batch, M, K, N;
    bool batched_b;
  };
  const std::vector<Case> cases = {
      {{5, 7}, {7, 3}, {5, 3}, 1, 5, 7, 3, false},
      {{4, 5, 7}, {4, 7, 3}, {4, 5, 3}, 4, 5, 7, 3, true},
      {{4, 5, 7}, {7, 3}, {4, 5, 3}, 1, 20, 7, 3, false},
      {{4, 5, 7}, {7}, {4, 5}, 1, 20, 7, 1, false},
      {{7}, {7, 3}, {3}, 1, 1, 7, 3, false},
      {{5, 7}, {7}, {5}, 1, 5, 7, 1, false},
      {{7}, {7}, {}, 1, 1, 7, 1, false},
      {{300, 200}, {200, 50}, {300, 50}, 1, 300, 200, 50, false},  // rows split over tasks
  };
  tg::Generator gen(31);
  for (const Case& c : cases) {
    const tg::Tensor a = tg::randn(c.a, gen, tg::kFloat64);
    const tg::Tensor b = tg::randn(c.b, gen, tg::kFloat64);
    const tg::Tensor z = tg::matmul(a, b);
    EXPECT_EQ(z.shape(), c.out) << fmt::format("{} @ {}", c.a, c.b);
    expect_near(z.to_vector<double>(),
                naive_matmul(a.to_vector<double>(), b.to_vector<double>(), c.batch, c.M, c.K, c.N,
                             c.batched_b),
                1e-12);
    const tg::Tensor z32 = tg::matmul(a.to(tg::kFloat32), b.to(tg::kFloat32));
    expect_near(z32.to_vector<double>(), z.to_vector<double>(), 1e-4);
  }
}

TEST(Matmul, GradCheckEveryForm) {
  tg::Generator gen(32);
  auto leaf = [&](const tg::Shape& s) { return tg::randn(s, gen, tg::kFloat64).requires_grad_(); };
  const std::vector<std::pair<tg::Shape, tg::Shape>> forms = {
      {{3, 4}, {4, 2}}, {{2, 3, 4}, {2, 4, 5}}, {{2, 3, 4}, {4, 5}}, {{2, 3, 4}, {4}},
      {{4}, {4, 2}},    {{3, 4}, {4}},          {{4}, {4}}};
  auto mm = [](const Tensors& in) { return tg::matmul(in[0], in[1]); };
  for (const auto& [sa, sb] : forms) {
    const tg::Tensor a = leaf(sa), b = leaf(sb);
    EXPECT_GRADCHECK(mm, {a, b});
    EXPECT_GRADCHECK(mm, {a, b.detach()});  // only a needs a gradient
    EXPECT_GRADCHECK(mm, {a.detach(), b});
  }
  const tg::Tensor x = leaf({3, 3});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::matmul(in[0], in[0]); }, {x});
}

TEST(Matmul, GradientsUseTheTransposes) {
  // z = a b, dz = 1: da = 1 b^T (row sums of b), db = a^T 1 (column sums of a).
  tg::Tensor a = tg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  tg::Tensor b = tg::from_vector(std::vector<double>{1, -1, 2, 0, 0, 3}, {3, 2}).requires_grad_();
  tg::matmul(a, b).backward(tg::ones({2, 2}, tg::kFloat64));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0, 2, 3, 0, 2, 3}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{5, 5, 7, 7, 9, 9}));
}

TEST(Matmul, EmptyInnerAndOuterSizes) {
  const tg::Tensor z = tg::matmul(tg::zeros({2, 0}), tg::zeros({0, 3}));
  EXPECT_EQ(z.shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(tg::matmul(tg::zeros({0, 4}), tg::zeros({4, 3})).shape(), (tg::Shape{0, 3}));
  tg::Tensor a = tg::zeros({2, 0}, tg::kFloat64).requires_grad_();
  tg::Tensor b = tg::zeros({0, 3}, tg::kFloat64).requires_grad_();
  tg::matmul(a, b).backward(tg::ones({2, 3}, tg::kFloat64));
  EXPECT_EQ(a.grad().shape(), (tg::Shape{2, 0}));
  EXPECT_EQ(b.grad().shape(), (tg::Shape{0, 3}));
  tg::Tensor c = tg::ones({0, 2}, tg::kFloat64).requires_grad_();
  tg::Tensor d = tg::ones({2, 3}, tg::kFloat64).requires_grad_();
  tg::sum(tg::matmul(c, d)).backward();
  EXPECT_EQ(d.grad().to_vector<double>(), std::vector<double>(6, 0.0));
}

TEST(Matmul, BadShapesNameBothShapes) {
  expect_error(
      [] {
        tg::matmul(tg::zeros({2, 3}), tg::zeros({4, 5}));
      },
      "matmul: expected matching inner sizes, got shapes [2, 3] and [4, 5] (3 vs 4)");
  expect_error(
      [] {
        tg::matmul(tg::zeros({2, 3, 4}), tg::zeros({3, 4, 5}));
      },
      "matmul: expected equal batch sizes, got shapes [2, 3, 4] and [3, 4, 5]");
  expect_error(
      [] {
        tg::matmul(tg::zeros({1, 2, 3, 4}), tg::zeros({4, 5}));
      },
      "matmul: expected 1-D, 2-D or 3-D tensors, got shapes [1, 2, 3, 4] and [4, 5]");
  expect_error(
      [] {
        tg::matmul(tg::zeros({3, 4}), tg::zeros({2, 4, 5}));
      },
      "matmul: expected a 3-D left operand for a 3-D right one, got shapes [3, 4] and "
      "[2, 4, 5]");
  expect_error([] { tg::matmul(tg::scalar_tensor(1.0), tg::zeros({1})); },
               "matmul: expected 1-D, 2-D or 3-D tensors, got shapes [] and [1]");
  expect_error(
      [] {
        tg::matmul(tg::zeros({2, 3}), tg::zeros({3, 2}, tg::kFloat64));
      },
      "matmul: expected tensors of the same dtype, got float32 [2, 3] and float64 [3, 2]");
  expect_error(
      [] {
        tg::matmul(tg::zeros({2, 3}, tg::kInt64), tg::zeros({3, 2}, tg::kInt64));
      },
      "matmul: expected a float32 or float64 tensor, got int64");
}

TEST(Matmul, BitwiseSameAtOneAndTwoThreads) {
  ThreadGuard restore;
  tg::Generator gen(33);
  tg::Tensor a = tg::randn({256, 192}, gen).requires_grad_();
  tg::Tensor b = tg::randn({192, 64}, gen).requires_grad_();
  tg::Tensor c = tg::randn({8, 32, 48}, gen).requires_grad_();
  tg::Tensor d = tg::randn({8, 48, 16}, gen).requires_grad_();
  auto run = [&] {
    for (tg::Tensor* t : {&a, &b, &c, &d}) t->set_grad(tg::Tensor());
    const tg::Tensor z = tg::matmul(a, b), y = tg::matmul(c, d);
    tg::add(tg::sum(tg::mul(z, z)), tg::sum(tg::mul(y, y))).backward();
    return Tensors{z, y, a.grad(), b.grad(), c.grad(), d.grad()};
  };
  tg::set_num_threads(1);
  const Tensors one = run();
  tg::set_num_threads(2);
  const Tensors two = run();
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}
