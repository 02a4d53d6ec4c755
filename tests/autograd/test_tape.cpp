#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace tg = tapegrad;

TEST(Tape, AddMulBroadcastGradients) {
  tg::Tensor a = tg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  tg::Tensor b = tg::from_vector(std::vector<double>{10, 20, 30}, {3}).requires_grad_();
  tg::Tensor y = tg::mul(tg::add(a, b), b);  // (a + b) * b
  tg::Tensor loss = tg::add(y, tg::zeros({2, 3}, tg::kFloat64));
  loss.backward(tg::ones({2, 3}, tg::kFloat64));
  // dy/da = b, dy/db = a + 2b summed over rows
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{10, 20, 30, 10, 20, 30}));
  EXPECT_EQ(b.grad().to_vector<double>(),
            (std::vector<double>{1 + 4 + 20 + 20, 2 + 5 + 40 + 40, 3 + 6 + 60 + 60}));
}

TEST(Tape, GradientsAccumulateAcrossBackwardCalls) {
  tg::Tensor a = tg::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  for (int i = 0; i < 3; ++i) tg::mul(a, a).backward(tg::ones({2}));
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{6, 12}));
}

TEST(Tape, SecondBackwardThroughFreedGraphIsAnError) {
  tg::Tensor a = tg::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  tg::Tensor y = tg::mul(a, a);
  y.backward(tg::ones({2}));
  try {
    y.backward(tg::ones({2}));
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(Tape, RetainGraphAllowsSecondBackward) {
  tg::Tensor a = tg::from_vector(std::vector<float>{3}, {1}).requires_grad_();
  tg::Tensor y = tg::mul(a, a);
  y.backward(true);
  y.backward();
  EXPECT_FLOAT_EQ(a.grad().item<float>(), 12.0f);
}

TEST(Tape, InPlaceModificationOfSavedTensorIsDetected) {
  tg::Tensor a = tg::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  tg::Tensor b = tg::from_vector(std::vector<float>{3, 4}, {2});
  tg::Tensor y = tg::mul(a, b);
  b.bump_version();
  try {
    y.backward(tg::ones({2}));
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_STREQ(e.what(),
                 "backward: a tensor saved by mul was modified in place (version 1, expected 0)");
  }
}

TEST(Tape, DoesNotGrowAcrossIterations) {
  tg::Tensor w = tg::ones({4}).requires_grad_();
  tg::Tensor x = tg::full({4}, 2.0);
  const std::size_t before = tg::autograd::tape().size();
  for (int i = 0; i < 1000; ++i) tg::mul(tg::add(w, x), w).backward(tg::ones({4}));
  EXPECT_EQ(tg::autograd::tape().size(), before);
}

TEST(Tape, NoGradGuardRecordsNothing) {
  tg::Tensor w = tg::ones({4}).requires_grad_();
  {
    tg::NoGradGuard g;
    tg::NoGradGuard nested;
    EXPECT_FALSE(tg::mul(w, w).requires_grad());
  }
  EXPECT_TRUE(tg::is_grad_enabled());
  EXPECT_TRUE(tg::mul(w, w).requires_grad());
}

TEST(Gradcheck, PassesForAddMulAndCatchesAWrongGradient) {
  tg::Generator gen(1);
  tg::Tensor a = tg::randn({2, 3}, gen, tg::kFloat64).requires_grad_();
  tg::Tensor b = tg::randn({3}, gen, tg::kFloat64).requires_grad_();
  EXPECT_GRADCHECK(
      [](const std::vector<tg::Tensor>& in) { return tg::mul(tg::add(in[0], in[1]), in[1]); },
      {a, b});
  // A function whose recorded backward is wrong (gradient doubled) must fail.
  auto wrong = [](const std::vector<tg::Tensor>& in) {
    tg::Tensor y = tg::copy_data(in[0], tg::kFloat64);
    if (tg::autograd::needs_recording({&in[0]}))
      tg::autograd::record("wrong", {in[0]}, {&y}, {}, [](const tg::autograd::BackwardArgs& g) {
        return std::vector<tg::Tensor>{tg::add(g.grad_outputs[0], g.grad_outputs[0])};
      });
    return y;
  };
  const tg::GradcheckReport r = tg::gradcheck(wrong, {a});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.input_index, 0);
  EXPECT_NEAR(r.analytic, 2 * r.numeric, 1e-6);
  EXPECT_NE(r.summary.find("FAILED"), std::string::npos);
}

TEST(Tape, NonLeafGradIsKeptOnlyWithRetainGrad) {
  tg::Tensor x = tg::from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  tg::Tensor h = tg::mul(x, x);  // non-leaf
  tg::Tensor k = tg::mul(x, x);
  k.retain_grad();
  tg::Tensor y = tg::add(tg::mul(h, x), tg::mul(k, x));
  y.backward(tg::ones({2}, tg::kFloat64));
  EXPECT_FALSE(h.grad().defined());
  ASSERT_TRUE(k.grad().defined());
  EXPECT_EQ(k.grad().to_vector<double>(), (std::vector<double>{1, 2}));   // dy/dk = x
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 24}));  // d(2x^3)/dx = 6x^2
}
