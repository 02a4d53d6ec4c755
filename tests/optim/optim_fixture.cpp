#include "optim_fixture.hpp"

#include <cmath>
#include <fstream>

namespace optim_test {
namespace {

tg::Tensor to_tensor(const json& values, const tg::Shape& shape, tg::Dtype dtype) {
  std::vector<double> v = values.get<std::vector<double>>();
  return tg::copy_data(tg::from_vector(v, shape), dtype);
}

// PyTorch semantics of a param group: its own options override the defaults.
json merged(const json& defaults, const json& overrides) {
  json out = defaults;
  for (const auto& [k, v] : overrides.items()) out[k] = v;
  return out;
}

tg::optim::SGDOptions sgd_options(const json& o) {
  return tg::optim::SGDOptions(o.at("lr").get<double>())
      .momentum(o.value("momentum", 0.0))
      .dampening(o.value("dampening", 0.0))
      .weight_decay(o.value("weight_decay", 0.0))
      .nesterov(o.value("nesterov", false));
}

tg::optim::AdamOptions adam_options(const json& o, bool adamw) {
  tg::optim::AdamOptions a = adamw ? tg::optim::AdamWOptions() : tg::optim::AdamOptions();
  if (o.contains("lr")) a.lr(o["lr"].get<double>());
  if (o.contains("betas")) a.betas({o["betas"][0].get<double>(), o["betas"][1].get<double>()});
  if (o.contains("eps")) a.eps(o["eps"].get<double>());
  if (o.contains("weight_decay")) a.weight_decay(o["weight_decay"].get<double>());
  if (o.contains("amsgrad")) a.amsgrad(o["amsgrad"].get<bool>());
  return a;
}

}  // namespace

const json& parity() {
  static const json doc = [] {
    std::ifstream in(tg::testing::fixture("optim/optim_parity.json"));
    if (!in) throw std::runtime_error("cannot open optim/optim_parity.json");
    return json::parse(in);
  }();
  return doc;
}

const json& find_case(const std::string& section, const std::string& name) {
  for (const json& c : parity().at(section))
    if (c.at("name") == name) return c;
  ADD_FAILURE() << "fixture case " << section << "/" << name << " is missing";
  static const json none;
  return none;
}

std::vector<tg::Tensor> initial_params(tg::Dtype dtype) {
  std::vector<tg::Tensor> out;
  for (const json& p : parity().at("params"))
    out.push_back(
        to_tensor(p.at("values"), p.at("shape").get<tg::Shape>(), dtype).requires_grad_());
  return out;
}

void set_fixture_grads(std::vector<tg::Tensor>& params, std::size_t step) {
  const json& row = parity().at("grads").at(step);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (row.at(i).is_null())
      params[i].set_grad(tg::Tensor());
    else
      params[i].set_grad(to_tensor(row.at(i), params[i].shape(), params[i].dtype()));
  }
}

std::unique_ptr<tg::optim::Optimizer> make_optimizer(const json& c,
                                                     const std::vector<tg::Tensor>& params) {
  const std::string type = c.at("type");
  const json& defaults = c.at("defaults");
  std::vector<tg::optim::ParamGroup> groups;
  for (const json& g : c.at("groups")) {
    std::vector<tg::Tensor> ps;
    for (const json& i : g.at("params")) ps.push_back(params.at(i.get<std::size_t>()));
    const json& own = g.at("options");
    if (own.empty())  // takes the optimizer's defaults
      groups.emplace_back(ps);
    else if (type == "SGD")
      groups.emplace_back(ps, sgd_options(merged(defaults, own)));
    else
      groups.emplace_back(ps, adam_options(merged(defaults, own), type == "AdamW"));
  }
  if (type == "SGD") return std::make_unique<tg::optim::SGD>(groups, sgd_options(defaults));
  if (type == "Adam")
    return std::make_unique<tg::optim::Adam>(groups, adam_options(defaults, false));
  if (type == "AdamW")
    return std::make_unique<tg::optim::AdamW>(groups, adam_options(defaults, true));
  throw std::runtime_error("unknown optimizer type " + type);
}

double max_scaled_error(const tg::Tensor& actual, const json& expected) {
  const std::vector<double> a = actual.to_vector<double>();
  const std::vector<double> e = expected.get<std::vector<double>>();
  EXPECT_EQ(a.size(), e.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size() && i < e.size(); ++i) {
    const double err = std::fabs(a[i] - e[i]) / std::max(1.0, std::fabs(e[i]));
    worst = std::isnan(err) ? INFINITY : std::max(worst, err);
  }
  return worst;
}

std::vector<tg::Tensor> copies(const std::vector<tg::Tensor>& tensors) {
  std::vector<tg::Tensor> out;
  for (const tg::Tensor& t : tensors) out.push_back(tg::copy_data(t, t.dtype()));
  return out;
}

tg::nn::NamedTensors copies(const tg::nn::NamedTensors& dict) {
  tg::nn::NamedTensors out;
  for (const auto& [name, t] : dict) out.emplace_back(name, tg::copy_data(t, t.dtype()));
  return out;
}

}  // namespace optim_test
