// SGD, Adam and AdamW against PyTorch 1.13: 5 steps from the fixture's parameters and gradients
// (parameter 1 has no gradient at step 2), parameters compared after every step, in float32 and
// float64.
#include <gtest/gtest.h>

#include <iostream>

#include "optim_fixture.hpp"

namespace {

namespace tg = tapegrad;
using optim_test::json;

struct ParityCase {
  std::string name;
  tg::Dtype dtype;
};

void PrintTo(const ParityCase& c, std::ostream* os) {
  *os << c.name << " " << tg::dtype_name(c.dtype);
}

class OptimizerParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(OptimizerParity, MatchesTorchEveryStep) {
  const ParityCase& pc = GetParam();
  const json& c = optim_test::find_case("optimizers", pc.name);
  ASSERT_FALSE(c.is_null());
  const bool f32 = pc.dtype == tg::kFloat32;
  const json& trajectory = c.at(f32 ? "float32" : "float64");
  // float32: PyTorch's arithmetic is reproduced operation by operation; what remains is PyTorch
  // fusing some multiply-adds (FMA), a rounding or so per operation.
  const double tolerance = f32 ? 1e-6 : 1e-12;

  std::vector<tg::Tensor> params = optim_test::initial_params(pc.dtype);
  auto opt = optim_test::make_optimizer(c, params);
  double worst = 0;
  for (std::size_t step = 0; step < trajectory.size(); ++step) {
    optim_test::set_fixture_grads(params, step);
    opt->step();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const double err = optim_test::max_scaled_error(params[i], trajectory[step][i]);
      EXPECT_LE(err, tolerance) << "step " << step << ", parameter " << i;
      worst = std::max(worst, err);
    }
  }
  EXPECT_EQ(trajectory.size(), 5U);
  std::cout << "[  parity  ] " << pc.name << " " << tg::dtype_name(pc.dtype)
            << " max |tapegrad - torch| / max(1, |torch|) = " << worst << "\n";
}

std::vector<ParityCase> cases() {
  std::vector<ParityCase> out;
  for (const char* name : {"sgd_plain", "sgd_momentum_dampening_wd", "sgd_nesterov", "sgd_groups",
                           "adam", "adam_wd_betas_eps", "adam_amsgrad", "adam_groups", "adamw",
                           "adamw_default_wd", "adamw_amsgrad"})
    for (tg::Dtype d : {tg::kFloat32, tg::kFloat64}) out.push_back({name, d});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Torch, OptimizerParity, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<ParityCase>& info) {
                           return info.param.name + "_" +
                                  std::string(tg::dtype_name(info.param.dtype));
                         });

}  // namespace
