// Shared helpers of the optimizer tests: the PyTorch fixture (tests/fixtures/optim/
// optim_parity.json, written by gen_optim.py), optimizers built from its case descriptions, and
// comparisons against its trajectories.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace optim_test {

namespace tg = tapegrad;
using nlohmann::json;

/// The parsed fixture (read once).
const json& parity();
/// The case called `name` in parity()[section] (a test failure if absent).
const json& find_case(const std::string& section, const std::string& name);

/// The fixture's initial parameters, as fresh leaves that require grad.
std::vector<tg::Tensor> initial_params(tg::Dtype dtype);
/// Sets each parameter's gradient to the fixture's gradient of step `step` (none where null).
void set_fixture_grads(std::vector<tg::Tensor>& params, std::size_t step);

/// The optimizer a fixture case describes (type, groups, defaults), over `params`.
std::unique_ptr<tg::optim::Optimizer> make_optimizer(const json& c,
                                                     const std::vector<tg::Tensor>& params);

/// max over elements of |actual - expected| / max(1, |expected|).
double max_scaled_error(const tg::Tensor& actual, const json& expected);

/// A deep copy (data only) of each tensor.
std::vector<tg::Tensor> copies(const std::vector<tg::Tensor>& tensors);
/// Named tensors with every tensor deep-copied (state_dict() returns live buffers).
tg::nn::NamedTensors copies(const tg::nn::NamedTensors& dict);

}  // namespace optim_test
