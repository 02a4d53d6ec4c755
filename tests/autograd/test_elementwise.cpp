#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/reduce.hpp"

namespace tg = tapegrad;
using tapegrad::testing::bitwise_equal;
using tapegrad::testing::expect_error;
using tapegrad::testing::f64;
using tapegrad::testing::ThreadGuard;
using tapegrad::testing::values;
using Tensors = std::vector<tg::Tensor>;

namespace {

// A float64 leaf with values uniform in [lo, hi).
tg::Tensor leaf(const tg::Shape& shape, tg::Generator& gen, double lo = -2.0, double hi = 2.0) {
  return tg::uniform(shape, lo, hi, gen, tg::kFloat64).requires_grad_();
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-14) << i;
}

}  // namespace

TEST(Elementwise, BinaryValuesWithBroadcasting) {
  const tg::Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  const tg::Tensor b = f64({10, 20, 30}, {3});
  EXPECT_EQ(values(tg::add(a, b)), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(values(tg::add(a, b, 0.5)), (std::vector<double>{6, 12, 18, 9, 15, 21}));
  EXPECT_EQ(values(tg::sub(a, b)), (std::vector<double>{-9, -18, -27, -6, -15, -24}));
  EXPECT_EQ(values(tg::sub(a, b, 2.0)), (std::vector<double>{-19, -38, -57, -16, -35, -54}));
  EXPECT_EQ(values(tg::mul(a, b)), (std::vector<double>{10, 40, 90, 40, 100, 180}));
  EXPECT_EQ(values(tg::div(b, a)), (std::vector<double>{10, 10, 10, 2.5, 4, 5}));
  const tg::Tensor col = f64({1, -1}, {2, 1});
  EXPECT_EQ(tg::mul(col, b).shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(values(tg::mul(col, b)), (std::vector<double>{10, 20, 30, -10, -20, -30}));
  EXPECT_EQ(values(tg::maximum(a, f64({2, 5}, {2, 1}))), (std::vector<double>{2, 2, 3, 5, 5, 6}));
  EXPECT_EQ(values(tg::minimum(a, f64({2, 5}, {2, 1}))), (std::vector<double>{1, 2, 2, 4, 5, 5}));
}

TEST(Elementwise, ScalarOverloadsAndOperators) {
  const tg::Tensor x = f64({1, 2, 4}, {3});
  EXPECT_EQ(values(tg::add(x, 2.0)), (std::vector<double>{3, 4, 6}));
  EXPECT_EQ(values(tg::sub(x, 2.0)), (std::vector<double>{-1, 0, 2}));
  EXPECT_EQ(values(tg::sub(2.0, x)), (std::vector<double>{1, 0, -2}));
  EXPECT_EQ(values(tg::mul(x, 0.5)), (std::vector<double>{0.5, 1, 2}));
  EXPECT_EQ(values(tg::div(x, 4.0)), (std::vector<double>{0.25, 0.5, 1}));
  EXPECT_EQ(values(tg::div(4.0, x)), (std::vector<double>{4, 2, 1}));
  EXPECT_EQ(values(x + 1.0), values(1.0 + x));
  EXPECT_EQ(values(x * 3.0), values(3.0 * x));
  EXPECT_EQ(values(x - 1.0), (std::vector<double>{0, 1, 3}));
  EXPECT_EQ(values(1.0 - x), (std::vector<double>{0, -1, -3}));
  EXPECT_EQ(values(x / 2.0), (std::vector<double>{0.5, 1, 2}));
  EXPECT_EQ(values(8.0 / x), (std::vector<double>{8, 4, 2}));
  EXPECT_EQ(values(-x), (std::vector<double>{-1, -2, -4}));
  EXPECT_EQ(values(x + x - x * x / x), values(x));
  // A float32 tensor computes in float32: the scalar is rounded to float first.
  const tg::Tensor y = tg::from_vector(std::vector<float>{1.0f}, {1});
  EXPECT_EQ(tg::mul(y, 0.1).item<float>(), 1.0f * 0.1f);
  EXPECT_EQ(tg::mul(y, 0.1).dtype(), tg::kFloat32);
}

TEST(Elementwise, UnaryValuesMatchTheStandardLibrary) {
  const std::vector<double> v = {-2.5, -1.0, -0.0, 0.25, 1.0, 3.0};
  const tg::Tensor x = f64(v, {2, 3});
  const tg::Tensor p = f64({0.25, 1.0, 2.0, 9.0}, {4});
  const std::vector<double> vp = values(p);
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(values(tg::neg(x))[i], -v[i]);
    EXPECT_EQ(values(tg::exp(x))[i], std::exp(v[i]));
    EXPECT_EQ(values(tg::abs(x))[i], std::fabs(v[i]));
    EXPECT_EQ(values(tg::pow(x, 2.0))[i], v[i] * v[i]);
    EXPECT_EQ(values(tg::pow(x, 3.0))[i], v[i] * v[i] * v[i]);
  }
  for (std::size_t i = 0; i < vp.size(); ++i) {
    EXPECT_EQ(values(tg::log(p))[i], std::log(vp[i]));
    EXPECT_EQ(values(tg::sqrt(p))[i], std::sqrt(vp[i]));
    EXPECT_EQ(values(tg::pow(p, 0.5))[i], std::sqrt(vp[i]));
    EXPECT_EQ(values(tg::pow(p, -1.0))[i], 1.0 / vp[i]);
    EXPECT_EQ(values(tg::pow(p, 1.7))[i], std::pow(vp[i], 1.7));
  }
  EXPECT_TRUE(std::isnan(tg::log(f64({-1}, {1})).item<double>()));
  EXPECT_EQ(tg::log(f64({0}, {1})).item<double>(), -INFINITY);
  EXPECT_TRUE(std::isnan(tg::sqrt(f64({-1}, {1})).item<double>()));
  EXPECT_TRUE(
      std::isnan(tg::maximum(f64({NAN, 1}, {2}), f64({0, NAN}, {2})).to_vector<double>()[0]));
  EXPECT_TRUE(
      std::isnan(tg::maximum(f64({NAN, 1}, {2}), f64({0, NAN}, {2})).to_vector<double>()[1]));
}

TEST(Elementwise, Comparisons) {
  const tg::Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  const tg::Tensor b = f64({2, 2, 7}, {3});
  EXPECT_EQ(values(tg::eq(a, b)), (std::vector<double>{0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(values(tg::ne(a, b)), (std::vector<double>{1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(values(tg::lt(a, b)), (std::vector<double>{1, 0, 1, 0, 0, 1}));
  EXPECT_EQ(values(tg::le(a, b)), (std::vector<double>{1, 1, 1, 0, 0, 1}));
  EXPECT_EQ(values(tg::gt(a, b)), (std::vector<double>{0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(values(tg::ge(a, b)), (std::vector<double>{0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(values(tg::eq(a, 3.0)), (std::vector<double>{0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(values(tg::ne(a, 3.0)), (std::vector<double>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(values(tg::lt(a, 3.0)), (std::vector<double>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(values(tg::le(a, 3.0)), (std::vector<double>{1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(values(tg::gt(a, 3.0)), (std::vector<double>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(values(tg::ge(a, 3.0)), (std::vector<double>{0, 0, 1, 1, 1, 1}));
  // Masks take the input's dtype, never require grad, and int64 compares exactly.
  tg::Tensor w = tg::from_vector(std::vector<float>{-1, 0, 2}, {3}).requires_grad_();
  const tg::Tensor m = tg::gt(w, 0.0);
  EXPECT_EQ(m.dtype(), tg::kFloat32);
  EXPECT_FALSE(m.requires_grad());
  EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{0, 0, 1}));
  const tg::Tensor labels = tg::from_vector(std::vector<std::int64_t>{3, 0, 7}, {3});
  const tg::Tensor pred = tg::from_vector(std::vector<std::int64_t>{3, 1, 7}, {3});
  EXPECT_EQ(tg::eq(labels, pred).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(tg::eq(labels, pred).dtype(), tg::kInt64);
  EXPECT_EQ(tg::lt(labels, 0.5).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
  // NaN compares unequal to everything.
  EXPECT_EQ(values(tg::eq(f64({NAN}, {1}), f64({NAN}, {1}))), (std::vector<double>{0}));
  EXPECT_EQ(values(tg::ne(f64({NAN}, {1}), 0.0)), (std::vector<double>{1}));
}

TEST(Elementwise, WhereSelectsWithBroadcasting) {
  const tg::Tensor c = tg::from_vector(std::vector<std::int64_t>{1, 0, 2}, {3});
  const tg::Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  const tg::Tensor b = f64({-1, -2}, {2, 1});
  EXPECT_EQ(values(tg::where(c, a, b)), (std::vector<double>{1, -1, 3, 4, -2, 6}));
  const tg::Tensor x = f64({-2, 3}, {2});
  EXPECT_EQ(values(tg::where(tg::gt(x, 0.0), x, tg::mul(x, 0.1))), (std::vector<double>{-0.2, 3}));
}

TEST(Elementwise, GradCheckBinaryOpsWithBroadcasting) {
  tg::Generator gen(1);
  const tg::Tensor a = leaf({2, 3}, gen), b = leaf({3}, gen), c = leaf({2, 1, 3}, gen);
  const tg::Tensor d = leaf({4, 1}, gen), pos = leaf({2, 1}, gen, 0.5, 2.0);
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::add(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::add(in[0], in[1], -1.5); }, {a, b});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sub(in[0], in[1]); }, {c, d});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sub(in[0], in[1], 0.5); }, {c, d});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::mul(in[0], in[1]); }, {c, d});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::mul(in[0], in[0]); }, {a});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::div(in[0], in[1]); }, {a, pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::div(in[1], in[0]); }, {a, pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return in[0] * in[1] - in[1] / 3.0 + 1.0; }, {a, b});
}

TEST(Elementwise, GradCheckScalarOps) {
  tg::Generator gen(2);
  const tg::Tensor x = leaf({2, 3}, gen), pos = leaf({2, 3}, gen, 0.5, 2.0);
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::add(in[0], 2.0); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sub(in[0], 2.0); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sub(2.0, in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::mul(in[0], -0.5); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::div(in[0], 4.0); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::div(3.0, in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return -in[0]; }, {x});
}

TEST(Elementwise, GradCheckUnaryOps) {
  tg::Generator gen(3);
  const tg::Tensor x = leaf({3, 4}, gen), pos = leaf({3, 4}, gen, 0.5, 2.0);
  tg::Tensor away_from_zero = f64({-1.5, -0.4, 0.3, 1.2, 2.0, -2.2}, {2, 3}).requires_grad_();
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::neg(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::exp(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::log(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::sqrt(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::abs(in[0]); }, {away_from_zero});
  for (double p : {2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 1.7, 1.0, 0.0})
    EXPECT_GRADCHECK([p](const Tensors& in) { return tg::pow(in[0], p); }, {pos});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::pow(in[0], 3.0); }, {x});
}

TEST(Elementwise, GradCheckMaximumMinimumWhere) {
  tg::Generator gen(4);
  const tg::Tensor a = leaf({2, 3}, gen), b = leaf({3}, gen), col = leaf({2, 1}, gen);
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::maximum(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Tensors& in) { return tg::minimum(in[0], in[1]); }, {a, col});
  const tg::Tensor cond = f64({1, 0, 1}, {3});
  EXPECT_GRADCHECK([&](const Tensors& in) { return tg::where(cond, in[0], in[1]); }, {a, col});
  EXPECT_GRADCHECK([&](const Tensors& in) { return tg::where(cond, in[0], in[1]); }, {b, col});
}

TEST(Elementwise, MaximumTiesSplitTheGradientEvenly) {
  tg::Tensor a = f64({1, 2, 3}, {3}).requires_grad_();
  tg::Tensor b = f64({1, 0, 5}, {3}).requires_grad_();
  tg::maximum(a, b).backward(tg::ones({3}, tg::kFloat64));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.5, 1, 0}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0.5, 0, 1}));
  a.set_grad({});
  b.set_grad({});
  tg::minimum(a, b).backward(tg::ones({3}, tg::kFloat64));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.5, 0, 1}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0.5, 1, 0}));
}

TEST(Elementwise, GradientsOfBroadcastInputsAreSummed) {
  tg::Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  tg::Tensor b = f64({10, 20, 30}, {3}).requires_grad_();
  tg::div(a, b).backward(tg::ones({2, 3}, tg::kFloat64));
  expect_near(values(a.grad()), {0.1, 0.05, 1.0 / 30, 0.1, 0.05, 1.0 / 30});
  expect_near(values(b.grad()), {-5.0 / 100, -7.0 / 400, -9.0 / 900});
}

TEST(Elementwise, BadInputErrors) {
  const tg::Tensor a32 = tg::zeros({2, 3});
  const tg::Tensor b64 = tg::zeros({3}, tg::kFloat64);
  expect_error([&] { tg::add(a32, b64); },
               "add: expected tensors of the same dtype, got float32 [2, 3] and float64 [3]");
  expect_error([&] { tg::mul(a32, tg::zeros({4})); },
               "mul: shapes [2, 3] and [4] do not broadcast");
  expect_error(
      [&] {
        tg::sub(tg::zeros({2, 3}), tg::zeros({2, 1, 2}));
      },
      "sub: shapes [2, 3] and [2, 1, 2] do not broadcast");
  expect_error([&] { tg::lt(a32, b64); },
               "lt: expected tensors of the same dtype, got float32 [2, 3] and float64 [3]");
  expect_error([&] { tg::exp(tg::zeros({2}, tg::kInt64)); },
               "exp: expected a float32 or float64 tensor, got int64");
  expect_error([&] { tg::where(tg::zeros({2}), a32, b64); },
               "where: expected tensors of the same dtype, got float32 [2, 3] and float64 [3]");
  expect_error([&] { tg::where(tg::zeros({2}), a32, a32); },
               "where: shapes [2] and [2, 3] do not broadcast");
  EXPECT_THROW(tg::add(tg::Tensor(), a32), tg::Error);
}

TEST(Elementwise, NoRecordingWithoutGradOrUnderNoGradGuard) {
  tg::Tensor w = tg::ones({3}).requires_grad_();
  const tg::Tensor x = tg::ones({3});
  EXPECT_FALSE(tg::exp(x).requires_grad());
  EXPECT_TRUE(tg::exp(w).requires_grad());
  EXPECT_EQ(tg::exp(w).grad_fn_name(), "exp");
  tg::NoGradGuard guard;
  EXPECT_FALSE(tg::exp(w).requires_grad());
  EXPECT_FALSE((w * 2.0).requires_grad());
}

TEST(Elementwise, BitwiseSameAtOneAndTwoThreads) {
  ThreadGuard restore;
  tg::Generator gen(7);
  tg::Tensor x = tg::randn({64, 64, 64}, gen).requires_grad_();  // 2^18 elements
  tg::Tensor bias = tg::randn({64, 1, 64}, gen).requires_grad_();
  tg::Tensor scale = tg::randn({64}, gen).requires_grad_();
  auto run = [&] {
    for (tg::Tensor* t : {&x, &bias, &scale}) t->set_grad(tg::Tensor());
    const tg::Tensor y = tg::maximum(tg::exp(tg::mul(tg::add(x, bias), scale)), tg::div(x, 3.0));
    y.backward(tg::ones(y.shape()));
    return std::vector<tg::Tensor>{y, x.grad(), bias.grad(), scale.grad()};
  };
  tg::set_num_threads(1);
  const Tensors one = run();
  tg::set_num_threads(2);
  const Tensors two = run();
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}

TEST(Tape, DotShowsOpsAndShapesAndSizeCountsNodes) {
  const std::size_t before = tg::autograd::tape().size();
  tg::Tensor a = tg::ones({2, 3}).requires_grad_();
  tg::Tensor b = tg::ones({3}).requires_grad_();
  const tg::Tensor y = tg::exp(tg::add(a, b));
  const tg::Tensor loss = tg::sum(y);
  EXPECT_EQ(tg::autograd::tape().size(), before + 3);
  const std::string dot = tg::autograd::tape().to_dot();
  EXPECT_NE(dot.find("digraph"), std::string::npos) << dot;
  EXPECT_NE(dot.find("add\\n[2, 3]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("exp\\n[2, 3]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("sum\\n[]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("leaf\\n[3]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("leaf\\n[2, 3]"), std::string::npos) << dot;
  loss.backward();
  EXPECT_EQ(tg::autograd::tape().size(), before);
  // Work that needs no gradient records nothing.
  tg::exp(tg::ones({2}));
  EXPECT_EQ(tg::autograd::tape().size(), before);
}
