// LR schedulers against PyTorch 1.13 (bitwise: the same double arithmetic in the same order),
// state save / restore, and bad arguments.
#include <gtest/gtest.h>

#include "optim_fixture.hpp"

namespace {

namespace tg = tapegrad;
namespace optim = tapegrad::optim;
using optim_test::json;

// The fixture's scheduler optimizer: two groups, lr 0.1 and 0.05 (SGD with momentum 0.9, or Adam).
struct TwoGroups {
  std::vector<tg::Tensor> params{tg::zeros({2}).requires_grad_(), tg::zeros({3}).requires_grad_()};
  std::unique_ptr<optim::Optimizer> opt;

  explicit TwoGroups(const std::string& type) {
    std::vector<optim::ParamGroup> groups;
    if (type == "SGD") {
      groups.emplace_back(std::vector{params[0]}, optim::SGDOptions(0.1).momentum(0.9));
      groups.emplace_back(std::vector{params[1]}, optim::SGDOptions(0.05).momentum(0.9));
      opt = std::make_unique<optim::SGD>(groups, optim::SGDOptions(0.1).momentum(0.9));
    } else {
      groups.emplace_back(std::vector{params[0]}, optim::AdamOptions(0.1));
      groups.emplace_back(std::vector{params[1]}, optim::AdamOptions(0.05));
      opt = std::make_unique<optim::Adam>(groups);
    }
  }
};

std::unique_ptr<optim::LRScheduler> make_scheduler(const json& c, optim::Optimizer& opt) {
  const std::string type = c.at("type");
  const json& o = c.at("options");
  if (type == "StepLR")
    return std::make_unique<optim::StepLR>(opt, o.at("step_size"), o.value("gamma", 0.1));
  if (type == "MultiStepLR")
    return std::make_unique<optim::MultiStepLR>(
        opt, o.at("milestones").get<std::vector<std::int64_t>>(), o.value("gamma", 0.1));
  if (type == "CosineAnnealingLR")
    return std::make_unique<optim::CosineAnnealingLR>(opt, o.at("T_max"), o.value("eta_min", 0.0));
  if (type == "OneCycleLR") {
    const json& m = o.at("max_lr");
    optim::OneCycleLROptions one =
        m.is_array() ? optim::OneCycleLROptions(m.get<std::vector<double>>(), o.at("total_steps"))
                     : optim::OneCycleLROptions(m.get<double>(), o.at("total_steps"));
    one.pct_start(o.value("pct_start", 0.3))
        .anneal_strategy(o.value("anneal_strategy", "cos") == "linear"
                             ? optim::AnnealStrategy::Linear
                             : optim::AnnealStrategy::Cos)
        .div_factor(o.value("div_factor", 25.0))
        .final_div_factor(o.value("final_div_factor", 1e4))
        .three_phase(o.value("three_phase", false))
        .cycle_momentum(o.value("cycle_momentum", true))
        .base_momentum(o.value("base_momentum", 0.85))
        .max_momentum(o.value("max_momentum", 0.95));
    return std::make_unique<optim::OneCycleLR>(opt, one);
  }
  throw std::runtime_error("unknown scheduler " + type);
}

// Each group's lr and momentum equal the fixture's row `step` bit for bit.
void expect_row(const optim::Optimizer& opt, const json& c, std::size_t step) {
  for (std::size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(opt.lr(g), c.at("lrs").at(step).at(g).get<double>())
        << "step " << step << " group " << g;
    EXPECT_EQ(opt.options(g).get_momentum(), c.at("momentum").at(step).at(g).get<double>())
        << "momentum, step " << step << " group " << g;
  }
}

class SchedulerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerParity, MatchesTorchEveryStepBitwise) {
  const json& c = optim_test::find_case("schedulers", GetParam());
  ASSERT_FALSE(c.is_null());
  TwoGroups s(c.at("optimizer"));
  auto sched = make_scheduler(c, *s.opt);
  EXPECT_EQ(sched->last_epoch(), 0);
  expect_row(*s.opt, c, 0);
  const std::size_t steps = c.at("steps");
  ASSERT_EQ(c.at("lrs").size(), steps + 1);
  for (std::size_t i = 1; i <= steps; ++i) {
    sched->step();
    expect_row(*s.opt, c, i);
    EXPECT_EQ(sched->get_last_lr()[1], s.opt->lr(1));
  }
  EXPECT_EQ(sched->last_epoch(), static_cast<std::int64_t>(steps));
}

// Stop after 7 steps, save optimizer and scheduler, build fresh ones, load, finish: the same lrs.
TEST_P(SchedulerParity, StateDictResumesExactly) {
  const json& c = optim_test::find_case("schedulers", GetParam());
  ASSERT_FALSE(c.is_null());
  tg::nn::NamedTensors opt_state, sched_state;
  {
    TwoGroups s(c.at("optimizer"));
    auto sched = make_scheduler(c, *s.opt);
    for (int i = 0; i < 7; ++i) sched->step();
    opt_state = optim_test::copies(s.opt->state_dict());
    sched_state = sched->state_dict();
  }
  TwoGroups s(c.at("optimizer"));
  auto sched = make_scheduler(c, *s.opt);
  s.opt->load_state_dict(opt_state);
  sched->load_state_dict(sched_state);
  EXPECT_EQ(sched->last_epoch(), 7);
  expect_row(*s.opt, c, 7);
  for (std::size_t i = 8; i < c.at("lrs").size(); ++i) {
    sched->step();
    expect_row(*s.opt, c, i);
  }
}

INSTANTIATE_TEST_SUITE_P(Torch, SchedulerParity,
                         ::testing::Values("step_lr", "multi_step_lr", "cosine_annealing_lr",
                                           "cosine_annealing_lr_no_min", "one_cycle_lr",
                                           "one_cycle_lr_three_phase_linear_adam",
                                           "one_cycle_lr_no_momentum"));

TEST(LRScheduler, FollowsLrChangedOutside) {
  // StepLR is chainable, like PyTorch's: it scales whatever lr the group has.
  TwoGroups s("SGD");
  optim::StepLR sched(*s.opt, 2, 0.5);
  s.opt->set_lr(0, 1.0);
  sched.step();
  EXPECT_EQ(s.opt->lr(0), 1.0);
  sched.step();
  EXPECT_EQ(s.opt->lr(0), 0.5);
  EXPECT_EQ(sched.base_lrs()[0], 0.1);
}

TEST(LRScheduler, OneCycleStepsPastTotalStepsThrowAndChangeNothing) {
  TwoGroups s("SGD");
  optim::OneCycleLR sched(*s.opt, optim::OneCycleLROptions(0.5, 4));
  for (int i = 0; i < 4; ++i) sched.step();  // total_steps calls are allowed, as in PyTorch
  const double lr = s.opt->lr(0);
  try {
    sched.step();
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_STREQ(e.what(), "OneCycleLR: tried to step 6 times, but total_steps is 4");
  }
  EXPECT_EQ(sched.last_epoch(), 4);
  EXPECT_EQ(s.opt->lr(0), lr);
}

TEST(LRScheduler, OneCycleEmptyPhaseIsAnError) {
  // pct_start * total_steps = 1: the warm-up phase ends at step 0 and has no length.
  TwoGroups s("SGD");
  EXPECT_THROW(optim::OneCycleLR(*s.opt, optim::OneCycleLROptions(0.5, 10).pct_start(0.1)),
               tg::Error);
}

TEST(LRScheduler, BadArgumentsThrow) {
  TwoGroups s("SGD");
  auto message = [](auto&& make) {
    try {
      make();
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([&] { optim::StepLR(*s.opt, 0); }), "StepLR: expected step_size >= 1, got 0");
  EXPECT_EQ(message([&] { optim::StepLR(*s.opt, 3, -0.5); }),
            "StepLR: expected gamma >= 0, got -0.5");
  EXPECT_EQ(message([&] {
              optim::MultiStepLR(*s.opt, {3, -1});
            }),
            "MultiStepLR: expected milestones >= 0, got [3, -1]");
  EXPECT_EQ(message([&] { optim::CosineAnnealingLR(*s.opt, 0); }),
            "CosineAnnealingLR: expected T_max >= 1, got 0");
  EXPECT_EQ(message([&] { optim::CosineAnnealingLR(*s.opt, 5, -1.0); }),
            "CosineAnnealingLR: expected eta_min >= 0, got -1");
  EXPECT_EQ(message([&] { optim::OneCycleLR(*s.opt, optim::OneCycleLROptions(0.1, 0)); }),
            "OneCycleLR: expected total_steps >= 1, got 0");
  EXPECT_EQ(
      message([&] { optim::OneCycleLR(*s.opt, optim::OneCycleLROptions(0.1, 10).pct_start(1.5)); }),
      "OneCycleLR: expected pct_start in [0, 1], got 1.5");
  EXPECT_EQ(message([&] {
              optim::OneCycleLR(*s.opt, optim::OneCycleLROptions({0.1, 0.2, 0.3}, 10));
            }),
            "OneCycleLR: expected one max_lr or one per param group (2), got 3");
}

TEST(LRScheduler, LoadStateDictNamesBadKeys) {
  TwoGroups s("SGD");
  optim::StepLR sched(*s.opt, 2);
  tg::nn::NamedTensors state = sched.state_dict();
  ASSERT_EQ(state.size(), 5U);  // last_epoch, base_lrs.0-1, last_lrs.0-1
  state.erase(state.begin() + 1);
  state.emplace_back("gamma", tg::scalar_tensor(0.1, tg::kFloat64));
  state[0].second = tg::scalar_tensor(2.5, tg::kFloat64);
  try {
    sched.load_state_dict(state);
    FAIL() << "expected tapegrad::Error";
  } catch (const tg::Error& e) {
    EXPECT_STREQ(e.what(),
                 "StepLR.load_state_dict: the state dict does not match the scheduler (2 param "
                 "groups); missing keys: [\"base_lrs.0\"]; unexpected keys: [\"gamma\"]; "
                 "mismatched: [\"last_epoch: expected an integer >= 0, got 2.5\"]");
  }
  EXPECT_EQ(sched.last_epoch(), 0);
}

}  // namespace
