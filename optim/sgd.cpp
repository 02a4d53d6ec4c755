// SGD: PyTorch 1.13's single-tensor update (torch.optim.sgd._single_tensor_sgd), one fused pass
// over the parameter. Each hyper-parameter is rounded to T and every operation is done in T, in
// PyTorch's order, so float32 results follow PyTorch's float32 arithmetic step by step.
#include "tapegrad/optim/sgd.hpp"

#include <cmath>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad::optim {
namespace {

// param, momentum_buffer, grad: (n); momentum_buffer is null when momentum == 0.
// Requires: on `first_step` momentum_buffer holds garbage; it becomes the decayed gradient.
// Ensures: param -= lr * direction, with the direction of the file comment in sgd.hpp.
template <class T>
void sgd_update(T* param, T* momentum_buffer, const T* grad, std::int64_t n, const SGDOptions& o,
                bool first_step, std::int64_t grain) {
  const T weight_decay = static_cast<T>(o.weight_decay());
  const T momentum = static_cast<T>(o.momentum());
  const T one_minus_dampening = static_cast<T>(1.0 - o.dampening());
  const T neg_lr = static_cast<T>(-o.lr());
  const bool decay = o.weight_decay() != 0.0;
  const bool nesterov = o.nesterov();
  parallel_for(0, n, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      T d = grad[i];
      if (decay) d = d + weight_decay * param[i];
      if (momentum_buffer != nullptr) {
        T b = first_step ? d : momentum_buffer[i] * momentum + one_minus_dampening * d;
        momentum_buffer[i] = b;
        d = nesterov ? d + momentum * b : b;
      }
      param[i] = param[i] + neg_lr * d;
    }
  });
}

}  // namespace

std::unique_ptr<OptimizerOptions> SGDOptions::clone() const {
  return std::make_unique<SGDOptions>(*this);
}

std::vector<std::pair<std::string, double>> SGDOptions::named_values() const {
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"dampening", dampening_},
          {"weight_decay", weight_decay_},
          {"nesterov", nesterov_ ? 1.0 : 0.0}};
}

bool SGDOptions::set_named_value(std::string_view name, double value) {
  if (name == "lr")
    lr_ = value;
  else if (name == "momentum")
    momentum_ = value;
  else if (name == "dampening")
    dampening_ = value;
  else if (name == "weight_decay")
    weight_decay_ = value;
  else if (name == "nesterov")
    nesterov_ = value != 0.0;
  else
    return false;
  return true;
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults)
    : Optimizer("SGD", defaults, {"momentum_buffer"}, /*counts_steps=*/false) {
  init(std::move(groups));
}

void SGD::check_options(const OptimizerOptions& options) const {
  const auto* o = dynamic_cast<const SGDOptions*>(&options);
  check(o != nullptr, "SGD: expected SGDOptions, got the options of another optimizer");
  check(std::isfinite(o->lr()) && o->lr() >= 0, "SGD: expected lr >= 0, got {}", o->lr());
  check(std::isfinite(o->momentum()) && o->momentum() >= 0, "SGD: expected momentum >= 0, got {}",
        o->momentum());
  check(std::isfinite(o->dampening()), "SGD: expected a finite dampening, got {}", o->dampening());
  check(std::isfinite(o->weight_decay()) && o->weight_decay() >= 0,
        "SGD: expected weight_decay >= 0, got {}", o->weight_decay());
  check(!o->nesterov() || (o->momentum() > 0 && o->dampening() == 0),
        "SGD: nesterov momentum requires momentum > 0 and dampening 0, got momentum {} and "
        "dampening {}",
        o->momentum(), o->dampening());
}

std::size_t SGD::required_buffers(const OptimizerOptions& options) const {
  return static_cast<const SGDOptions&>(options).momentum() != 0.0 ? 1 : 0;
}

void SGD::update(const OptimizerOptions& options, Tensor& param, const Tensor& grad,
                 ParamState& state) {
  const auto& o = static_cast<const SGDOptions&>(options);
  bool first_step = false;
  if (o.momentum() != 0.0) {
    if (state.buffers.empty()) state.buffers.resize(1);
    if (!state.buffers[0].defined()) {
      state.buffers[0] = empty_like(param);
      first_step = true;
    }
  }
  dispatch_floating(param.dtype(), "SGD", [&](auto tag) {
    using T = decltype(tag);
    T* momentum_buffer = o.momentum() != 0.0 ? state.buffers[0].data<T>() : nullptr;
    sgd_update<T>(param.data<T>(), momentum_buffer, grad.data<T>(), param.numel(), o, first_step,
                  kGrain);
  });
}

}  // namespace tapegrad::optim
