// Optimizer behaviour: state_dict save / load (bitwise resume, key names, errors), parameter
// groups, zero_grad, skipped parameters, no allocation after the first step, version bumps,
// thread-count independence, option checks, and training through the tape.
#include <gtest/gtest.h>

#include <functional>

#include "allocation_counter.hpp"
#include "optim_fixture.hpp"

namespace {

namespace tg = tapegrad;
namespace optim = tapegrad::optim;
using optim_test::json;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::string> keys(const tg::nn::NamedTensors& dict) {
  std::vector<std::string> out;
  for (const auto& [k, t] : dict) out.push_back(k);
  return out;
}

void expect_bitwise_equal(const tg::Tensor& a, const tg::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>()) << what;
}

// ---- state_dict ----

class StateDictRoundTrip : public ::testing::TestWithParam<std::string> {};

// 3 steps, save, load into a fresh optimizer (built with another lr), 2 more steps == 5 steps.
TEST_P(StateDictRoundTrip, ResumesBitwise) {
  const json& c = optim_test::find_case("optimizers", GetParam());
  ASSERT_FALSE(c.is_null());
  std::vector<tg::Tensor> straight = optim_test::initial_params(tg::kFloat32);
  auto reference = optim_test::make_optimizer(c, straight);
  for (std::size_t s = 0; s < 5; ++s) {
    optim_test::set_fixture_grads(straight, s);
    reference->step();
  }

  std::vector<tg::Tensor> first = optim_test::initial_params(tg::kFloat32);
  auto opt = optim_test::make_optimizer(c, first);
  for (std::size_t s = 0; s < 3; ++s) {
    optim_test::set_fixture_grads(first, s);
    opt->step();
  }
  const tg::nn::NamedTensors saved = optim_test::copies(opt->state_dict());

  std::vector<tg::Tensor> resumed = optim_test::copies(first);
  for (tg::Tensor& p : resumed) p.requires_grad_();
  auto fresh = optim_test::make_optimizer(c, resumed);
  fresh->set_lr(0.123);
  fresh->load_state_dict(saved);
  EXPECT_EQ(fresh->lr(0), opt->lr(0));
  for (std::size_t s = 3; s < 5; ++s) {
    optim_test::set_fixture_grads(resumed, s);
    fresh->step();
  }
  for (std::size_t i = 0; i < straight.size(); ++i)
    expect_bitwise_equal(resumed[i], straight[i], "parameter " + std::to_string(i));
  const tg::nn::NamedTensors a = fresh->state_dict(), b = reference->state_dict();
  ASSERT_EQ(keys(a), keys(b));
  for (std::size_t k = 0; k < a.size(); ++k)
    expect_bitwise_equal(a[k].second, b[k].second, a[k].first);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, StateDictRoundTrip,
                         ::testing::Values("sgd_nesterov", "sgd_groups", "adam_groups",
                                           "adamw_amsgrad"));

TEST(OptimizerStateDict, KeysAndValues) {
  tg::Tensor a = tg::zeros({2, 3}).requires_grad_();
  tg::Tensor b = tg::zeros({4}).requires_grad_();  // never gets a gradient: no state
  optim::Adam opt({a, b}, optim::AdamOptions(0.01).betas({0.8, 0.9}).amsgrad(true));
  EXPECT_EQ(keys(opt.state_dict()),
            (std::vector<std::string>{"param_groups.0.lr", "param_groups.0.betas.0",
                                      "param_groups.0.betas.1", "param_groups.0.eps",
                                      "param_groups.0.weight_decay", "param_groups.0.amsgrad",
                                      "param_groups.0.params"}));
  a.set_grad(tg::ones({2, 3}));
  opt.step();
  opt.step();
  const tg::nn::NamedTensors dict = opt.state_dict();
  EXPECT_EQ(keys(dict),
            (std::vector<std::string>{"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq",
                                      "state.0.max_exp_avg_sq", "param_groups.0.lr",
                                      "param_groups.0.betas.0", "param_groups.0.betas.1",
                                      "param_groups.0.eps", "param_groups.0.weight_decay",
                                      "param_groups.0.amsgrad", "param_groups.0.params"}));
  EXPECT_EQ(dict[0].second.dim(), 0);
  EXPECT_EQ(dict[0].second.dtype(), tg::kFloat64);
  EXPECT_EQ(dict[0].second.item<double>(), 2.0);
  // exp_avg after two steps of gradient 1: 0.2 * 1 then 0.8 * 0.2 + 0.2 (in float32)
  EXPECT_EQ(dict[1].second.at<float>({1, 2}), 0.8f * 0.2f + 0.2f);
  EXPECT_EQ(dict[5].second.item<double>(), 0.8);
  EXPECT_EQ(dict[6].second.item<double>(), 0.9);
  EXPECT_EQ(dict[9].second.item<double>(), 1.0);
  EXPECT_EQ(dict[10].second.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1}));
  EXPECT_TRUE(opt.state(1).empty());

  optim::SGD sgd({a}, optim::SGDOptions(0.1));  // no momentum: no state
  sgd.step();
  EXPECT_EQ(keys(sgd.state_dict()),
            (std::vector<std::string>{"param_groups.0.lr", "param_groups.0.momentum",
                                      "param_groups.0.dampening", "param_groups.0.weight_decay",
                                      "param_groups.0.nesterov", "param_groups.0.params"}));
}

TEST(OptimizerStateDict, LoadNamesEveryProblemAndChangesNothing) {
  tg::Tensor a = tg::zeros({2, 3}).requires_grad_();
  tg::Tensor b = tg::zeros({4}).requires_grad_();
  optim::Adam opt({a, b}, optim::AdamOptions(0.01));
  a.set_grad(tg::ones({2, 3}));
  b.set_grad(tg::ones({4}));
  opt.step();
  const tg::nn::NamedTensors before = optim_test::copies(opt.state_dict());

  tg::nn::NamedTensors bad;
  for (const auto& [k, t] : before) {
    if (k == "state.0.exp_avg_sq") continue;  // missing
    if (k == "state.1.exp_avg") {
      bad.emplace_back(k, tg::zeros({5}));  // wrong shape
    } else if (k == "param_groups.0.betas.0") {
      bad.emplace_back(k, tg::scalar_tensor(1.5, tg::kFloat64));  // invalid value
    } else {
      bad.emplace_back(k, t);
    }
  }
  bad.emplace_back("state.2.exp_avg", tg::zeros({4}));                          // no parameter 2
  bad.emplace_back("param_groups.1.lr", tg::scalar_tensor(0.1, tg::kFloat64));  // no group 1
  EXPECT_EQ(error_of([&] { opt.load_state_dict(bad); }),
            "Adam.load_state_dict: the state dict does not match the optimizer; missing keys: "
            "[\"state.0.exp_avg_sq\"]; unexpected keys: [\"param_groups.1.lr\", "
            "\"state.2.exp_avg\"]; mismatched: [\"param_groups.0: Adam: expected betas[0] in "
            "[0, 1), got 1.5\", \"state.1.exp_avg: expected float32 [4] like parameter 1, got "
            "float32 [5]\"]");
  const tg::nn::NamedTensors after = opt.state_dict();
  ASSERT_EQ(keys(after), keys(before));
  for (std::size_t k = 0; k < after.size(); ++k)
    expect_bitwise_equal(after[k].second, before[k].second, after[k].first);
}

TEST(OptimizerStateDict, LoadChecksGroupLayoutAndScalars) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  tg::Tensor b = tg::zeros({3}).requires_grad_();
  optim::SGD two_groups({optim::ParamGroup({a}), optim::ParamGroup({b})}, optim::SGDOptions(0.1));
  optim::SGD one_group({a, b}, optim::SGDOptions(0.1));
  const std::string msg = error_of([&] { one_group.load_state_dict(two_groups.state_dict()); });
  EXPECT_NE(msg.find("param_groups.0.params: expected the int64 indices [0, 2) of the group's 2 "
                     "parameters, got int64 [1]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("unexpected keys: [\"param_groups.1.dampening\""), std::string::npos) << msg;

  tg::nn::NamedTensors dict = one_group.state_dict();
  dict[0].second = tg::zeros({2}, tg::kFloat64);  // lr must be a scalar
  EXPECT_EQ(error_of([&] { one_group.load_state_dict(dict); }),
            "SGD.load_state_dict: the state dict does not match the optimizer; mismatched: "
            "[\"param_groups.0.lr: expected a float scalar, got float64 [2]\"]");
}

TEST(OptimizerStateDict, LoadConvertsFloatingStateToTheParameterDtype) {
  tg::Tensor p64 = tg::zeros({3}, tg::kFloat64).requires_grad_();
  optim::SGD sgd64({p64}, optim::SGDOptions(0.1).momentum(0.9));
  p64.set_grad(tg::full({3}, 0.5, tg::kFloat64));
  sgd64.step();
  tg::Tensor p32 = tg::zeros({3}).requires_grad_();
  optim::SGD sgd32({p32}, optim::SGDOptions(0.1).momentum(0.9));
  sgd32.load_state_dict(sgd64.state_dict());
  const tg::Tensor& buffer = sgd32.state(0).buffers.at(0);
  EXPECT_EQ(buffer.dtype(), tg::kFloat32);
  EXPECT_EQ(buffer.to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f}));
}

// ---- groups, zero_grad, skipping ----

TEST(Optimizer, ParamGroupsHaveTheirOwnLr) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  tg::Tensor b = tg::zeros({2}).requires_grad_();
  optim::SGD opt({optim::ParamGroup({a}), optim::ParamGroup({b}, optim::SGDOptions(0.5))},
                 optim::SGDOptions(0.1));
  EXPECT_EQ(opt.num_param_groups(), 2U);
  EXPECT_EQ(opt.lr(0), 0.1);
  EXPECT_EQ(opt.lr(1), 0.5);
  a.set_grad(tg::ones({2}));
  b.set_grad(tg::ones({2}));
  opt.step();
  EXPECT_EQ(a.at<float>({0}), -0.1f);
  EXPECT_EQ(b.at<float>({0}), -0.5f);
  opt.set_lr(1, 0.25);
  EXPECT_EQ(opt.lr(1), 0.25);
  opt.set_lr(0.01);
  EXPECT_EQ(opt.lr(0), 0.01);
  EXPECT_EQ(opt.lr(1), 0.01);
  EXPECT_EQ(error_of([&] { opt.set_lr(2, 0.1); }), "SGD: param group 2 out of range (2 groups)");
  EXPECT_EQ(error_of([&] { opt.set_lr(0, -1.0); }), "SGD: expected lr >= 0, got -1");

  tg::Tensor c = tg::zeros({2}).requires_grad_();
  opt.add_param_group(optim::ParamGroup({c}));
  EXPECT_EQ(opt.lr(2), 0.1);  // the defaults, not the changed lr of other groups
  EXPECT_EQ(opt.num_params(), 3U);
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  tg::Tensor a = tg::ones({2}).requires_grad_();
  tg::Tensor b = tg::ones({2}).requires_grad_();
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(tg::ones({2}));
  const std::uint64_t version = b.version();
  opt.step();
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ(b.version(), version);
  EXPECT_GT(a.version(), version);
  EXPECT_TRUE(opt.state(1).empty());
  EXPECT_EQ(opt.state(0).step, 1);
}

TEST(Optimizer, ZeroGradZeroesInPlaceOrReleases) {
  tg::Tensor a = tg::ones({3}).requires_grad_();
  optim::SGD opt({a}, optim::SGDOptions(0.1));
  a.set_grad(tg::full({3}, 2.0));
  const void* data = a.grad().raw_data();
  const std::uint64_t version = a.grad().version();
  opt.zero_grad();
  EXPECT_EQ(a.grad().raw_data(), data);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_GT(a.grad().version(), version);
  opt.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(a.grad().defined());
  opt.step();  // no gradient: nothing happens
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 1, 1}));
}

TEST(Optimizer, MomentumTurnedOnLaterStartsItsBuffer) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  optim::SGD opt({a}, optim::SGDOptions(1.0));
  a.set_grad(tg::ones({2}));
  opt.step();
  EXPECT_TRUE(opt.state(0).empty());
  opt.options(0).set_momentum(0.5);  // what OneCycleLR does
  a.set_grad(tg::full({2}, 2.0));
  opt.step();  // first momentum step: buffer = gradient
  EXPECT_EQ(opt.state(0).buffers.at(0).to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{-3, -3}));
}

// After the first step (which allocates the state), step + zero_grad + scheduler step allocate
// nothing.
TEST(Optimizer, TrainingStepAllocatesNothingAfterTheFirst) {
  std::vector<tg::Tensor> params{tg::zeros({8, 3}).requires_grad_(),
                                 tg::zeros({5}).requires_grad_()};
  params[0].set_grad(tg::ones({8, 3}));
  params[1].set_grad(tg::ones({5}));
  optim::SGD sgd(params, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4));
  optim::AdamW adamw(params, optim::AdamWOptions(1e-3).amsgrad(true));
  optim::OneCycleLR sched(adamw, optim::OneCycleLROptions(0.01, 100));
  sgd.step();
  adamw.step();
  optim_test::start_counting_allocations();
  for (int i = 0; i < 5; ++i) {
    sgd.step();
    adamw.step();
    sched.step();
    sgd.zero_grad();
  }
  EXPECT_EQ(optim_test::stop_counting_allocations(), 0);
  // The counter works: creating a tensor is counted.
  optim_test::start_counting_allocations();
  tg::Tensor t = tg::zeros({2});
  EXPECT_GT(optim_test::stop_counting_allocations(), 0);
}

TEST(Optimizer, StepBumpsTheParameterVersionSoStaleGraphsFail) {
  tg::Tensor w = tg::ones({2}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  w.set_grad(tg::ones({2}));
  tg::Tensor y = tg::mul(w, w);  // saves w
  opt.step();
  EXPECT_THROW(y.backward(tg::ones({2})), tg::Error);
}

TEST(Optimizer, SameResultAtOneAndTwoThreads) {
  const std::int64_t n = 3 * (1 << 15) + 101;  // several parallel chunks
  auto run = [&](int threads, bool adam) {
    tg::set_num_threads(threads);
    tg::Generator gen(3);
    tg::Tensor p = tg::randn({n}, gen).requires_grad_();
    std::unique_ptr<optim::Optimizer> opt;
    if (adam)
      opt = std::make_unique<optim::AdamW>(std::vector{p}, optim::AdamWOptions(0.01).amsgrad(true));
    else
      opt = std::make_unique<optim::SGD>(std::vector{p},
                                         optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
    for (int s = 0; s < 3; ++s) {
      p.set_grad(tg::randn({n}, gen));
      opt->step();
    }
    tg::set_num_threads(0);
    return p.to_vector<float>();
  };
  EXPECT_EQ(run(1, false), run(2, false));
  EXPECT_EQ(run(1, true), run(2, true));
}

// The vectorized, chunked update of a big tensor equals, element by element, the update of
// one-element tensors (the scalar path) with the same values.
TEST(Optimizer, BigTensorUpdateMatchesElementwiseReference) {
  const std::int64_t n = 2 * (1 << 15) + 37;
  using Make = std::function<std::unique_ptr<optim::Optimizer>(tg::Tensor&)>;
  const std::vector<Make> makers{
      [](tg::Tensor& p) {
        return std::make_unique<optim::SGD>(
            std::vector{p}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.2).weight_decay(0.01));
      },
      [](tg::Tensor& p) {
        return std::make_unique<optim::Adam>(std::vector{p},
                                             optim::AdamOptions(0.01).weight_decay(0.1));
      },
      [](tg::Tensor& p) {
        return std::make_unique<optim::AdamW>(std::vector{p},
                                              optim::AdamWOptions(0.01).amsgrad(true));
      }};
  for (std::size_t m = 0; m < makers.size(); ++m) {
    tg::Generator gen(11);
    tg::Tensor p = tg::randn({n}, gen).requires_grad_();
    const std::vector<tg::Tensor> grads{tg::randn({n}, gen), tg::randn({n}, gen),
                                        tg::randn({n}, gen)};
    const std::vector<float> p0 = p.to_vector<float>();
    auto opt = makers[m](p);
    for (const tg::Tensor& g : grads) {
      p.set_grad(g);
      opt->step();
    }
    const std::vector<float> big = p.to_vector<float>();
    for (std::int64_t i = 0; i < n; i += 997) {
      tg::Tensor q = tg::from_vector(std::vector<float>{p0[i]}, {1}).requires_grad_();
      auto ref = makers[m](q);
      for (const tg::Tensor& g : grads) {
        q.set_grad(tg::from_vector(std::vector<float>{g.at<float>({i})}, {1}));
        ref->step();
      }
      ASSERT_EQ(q.at<float>({0}), big[i]) << "optimizer " << m << ", element " << i;
    }
  }
}

// ---- options and parameters checked ----

TEST(OptimizerOptions, BadValuesNameTheOptimizerAndValue) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  const std::vector<tg::Tensor> ps{a};
  EXPECT_EQ(error_of([&] { optim::SGD(ps, optim::SGDOptions(-0.1)); }),
            "SGD: expected lr >= 0, got -0.1");
  EXPECT_EQ(error_of([&] { optim::SGD(ps, optim::SGDOptions(0.1).momentum(-0.9)); }),
            "SGD: expected momentum >= 0, got -0.9");
  EXPECT_EQ(error_of([&] { optim::SGD(ps, optim::SGDOptions(0.1).weight_decay(-1)); }),
            "SGD: expected weight_decay >= 0, got -1");
  EXPECT_EQ(error_of([&] { optim::SGD(ps, optim::SGDOptions(0.1).nesterov(true)); }),
            "SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum 0 and "
            "dampening 0");
  EXPECT_EQ(error_of([&] {
              optim::SGD(ps, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true));
            }),
            "SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum 0.9 and "
            "dampening 0.1");
  EXPECT_EQ(error_of([&] { optim::Adam(ps, optim::AdamOptions(-1e-3)); }),
            "Adam: expected lr >= 0, got -0.001");
  EXPECT_EQ(error_of([&] {
              optim::Adam(ps, optim::AdamOptions().betas({1.0, 0.999}));
            }),
            "Adam: expected betas[0] in [0, 1), got 1");
  EXPECT_EQ(error_of([&] {
              optim::Adam(ps, optim::AdamOptions().betas({0.9, -0.1}));
            }),
            "Adam: expected betas[1] in [0, 1), got -0.1");
  EXPECT_EQ(error_of([&] { optim::Adam(ps, optim::AdamOptions().eps(-1e-8)); }),
            "Adam: expected eps >= 0, got -1e-08");
  EXPECT_EQ(error_of([&] { optim::AdamW(ps, optim::AdamWOptions().weight_decay(-0.01)); }),
            "AdamW: expected weight_decay >= 0, got -0.01");
  EXPECT_EQ(error_of([&] { optim::Adam(ps, optim::AdamOptions(NAN)); }),
            "Adam: expected lr >= 0, got nan");
  // Options of another optimizer in a group.
  EXPECT_EQ(error_of([&] {
              optim::SGD({optim::ParamGroup(ps, optim::AdamOptions())}, optim::SGDOptions(0.1));
            }),
            "SGD: expected SGDOptions, got the options of another optimizer");
}

TEST(OptimizerOptions, DefaultsFollowPyTorch) {
  EXPECT_EQ(optim::AdamOptions().lr(), 1e-3);
  EXPECT_EQ(optim::AdamOptions().betas(), std::make_pair(0.9, 0.999));
  EXPECT_EQ(optim::AdamOptions().eps(), 1e-8);
  EXPECT_EQ(optim::AdamOptions().weight_decay(), 0.0);
  EXPECT_EQ(optim::AdamWOptions().weight_decay(), 1e-2);
  EXPECT_FALSE(optim::AdamOptions().amsgrad());
  const optim::SGDOptions sgd(0.1);
  EXPECT_EQ(sgd.momentum(), 0.0);
  EXPECT_EQ(sgd.dampening(), 0.0);
  EXPECT_FALSE(sgd.nesterov());
}

TEST(OptimizerOptions, ChangedToBadValuesFailAtStepAndChangeNothing) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  tg::Tensor b = tg::zeros({2}).requires_grad_();
  optim::Adam opt({optim::ParamGroup({a}), optim::ParamGroup({b})}, optim::AdamOptions(0.1));
  a.set_grad(tg::ones({2}));
  b.set_grad(tg::ones({2}));
  opt.options(1).set_momentum(1.0);  // beta1 = 1
  EXPECT_EQ(error_of([&] { opt.step(); }), "Adam: expected betas[0] in [0, 1), got 1");
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0, 0}));  // group 0 untouched too
  EXPECT_TRUE(opt.state(0).empty());
}

TEST(OptimizerParams, BadParametersThrow) {
  tg::Tensor a = tg::zeros({2}).requires_grad_();
  EXPECT_EQ(error_of([&] { optim::SGD(std::vector<tg::Tensor>{}, optim::SGDOptions(0.1)); }),
            "SGD: expected parameters to optimize, got an empty parameter list");
  EXPECT_EQ(error_of([&] { optim::Adam(std::vector<optim::ParamGroup>{}); }),
            "Adam: expected at least one parameter group, got none");
  EXPECT_EQ(error_of([&] {
              optim::SGD({a, a}, optim::SGDOptions(0.1));
            }),
            "SGD: parameter 1 of param group 0 appears more than once (it is also parameter 0 of "
            "param group 0)");
  EXPECT_EQ(error_of([&] {
              optim::SGD({optim::ParamGroup({a}), optim::ParamGroup({tg::ones({1}), a})},
                         optim::SGDOptions(0.1));
            }),
            "SGD: parameter 1 of param group 1 appears more than once (it is also parameter 0 of "
            "param group 0)");
  EXPECT_EQ(error_of([&] {
              optim::SGD({a, tg::mul(a, a)}, optim::SGDOptions(0.1));
            }),
            "SGD: can't optimize a non-leaf tensor (parameter 1 of param group 0, the output of "
            "mul)");
  EXPECT_EQ(error_of([&] { optim::SGD({tg::zeros({2}, tg::kInt64)}, optim::SGDOptions(0.1)); }),
            "SGD: expected float32 or float64 parameters, got int64 [2] (parameter 0 of param "
            "group 0)");
  EXPECT_EQ(error_of([&] { optim::AdamW({tg::Tensor()}); }),
            "AdamW: parameter 0 of param group 0 is an undefined tensor");
}

// ---- end to end through the tape ----

// Minimizes sum((w - target)^2) with gradients from backward().
TEST(Optimizer, TrainsAQuadraticThroughTheTape) {
  const tg::Tensor neg_target = tg::from_vector(std::vector<float>{-1, 2, -3}, {3});
  auto train = [&](optim::Optimizer& opt, tg::Tensor& w, int steps) {
    for (int i = 0; i < steps; ++i) {
      tg::Tensor d = tg::add(w, neg_target);
      tg::mul(d, d).backward(tg::ones({3}));
      opt.step();
      opt.zero_grad();
    }
  };
  tg::Tensor w1 = tg::zeros({3}).requires_grad_();
  optim::SGD sgd({w1}, optim::SGDOptions(0.05).momentum(0.9));
  train(sgd, w1, 300);
  tg::Tensor w2 = tg::zeros({3}).requires_grad_();
  optim::Adam adam({w2}, optim::AdamOptions(0.05));
  train(adam, w2, 600);
  for (const tg::Tensor& w : {w1, w2}) {
    EXPECT_NEAR(w.at<float>({0}), 1.0f, 1e-3);
    EXPECT_NEAR(w.at<float>({1}), -2.0f, 1e-3);
    EXPECT_NEAR(w.at<float>({2}), 3.0f, 1e-3);
  }
}

}  // namespace
