// SGD: PyTorch 1.13's single-tensor update (torch.optim.sgd._single_tensor_sgd), one fused pass
// over the parameter. Each hyper-parameter is rounded to T and every operation is done in T, in
// PyTorch's order, so float32 results follow PyTorch's float32 arithmetic step by step.
#include "tapegrad/optim/sgd.hpp"

#include <cmath>
#include <type_traits>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad::optim {
namespace {

enum class Momentum { None, First, Running };  // no buffer / its first step / later steps

// The per-step scalars of one update, rounded to T.
template <class T>
struct SGDScalars {
  T weight_decay, momentum, one_minus_dampening, neg_lr;
};

// param, momentum_buffer, grad: (n), updated over [begin, end); momentum_buffer is unused with
// Momentum::None and only written with Momentum::First (it becomes the decayed gradient).
// Ensures: param -= lr * direction, with the direction of the file comment in sgd.hpp.
// NOTE: the options are template parameters so that the loop has no branch and can vectorize.
template <class T, bool kDecay, Momentum kMomentum, bool kNesterov>
void sgd_update(T* param, T* momentum_buffer, const T* grad, std::int64_t begin, std::int64_t end,
                const SGDScalars<T> s) {
  for (std::int64_t i = begin; i < end; ++i) {
    T d = grad[i];
    if constexpr (kDecay) d = d + s.weight_decay * param[i];
    if constexpr (kMomentum != Momentum::None) {
      T b = d;
      if constexpr (kMomentum == Momentum::Running)
        b = momentum_buffer[i] * s.momentum + s.one_minus_dampening * d;
      momentum_buffer[i] = b;
      d = kNesterov ? d + s.momentum * b : b;
    }
    param[i] = param[i] + s.neg_lr * d;
  }
}

// Picks the sgd_update instantiation for (decay, momentum, nesterov).
template <class T>
void sgd_update(T* param, T* momentum_buffer, const T* grad, std::int64_t begin, std::int64_t end,
                const SGDScalars<T>& s, bool decay, Momentum momentum, bool nesterov) {
  auto run = [&](auto decay_tag, auto momentum_tag, auto nesterov_tag) {
    sgd_update<T, decltype(decay_tag)::value, decltype(momentum_tag)::value,
               decltype(nesterov_tag)::value>(param, momentum_buffer, grad, begin, end, s);
  };
  auto with_nesterov = [&](auto decay_tag, auto momentum_tag) {
    if (nesterov)
      run(decay_tag, momentum_tag, std::true_type{});
    else
      run(decay_tag, momentum_tag, std::false_type{});
  };
  auto with_momentum = [&](auto decay_tag) {
    switch (momentum) {
      case Momentum::None:
        return run(decay_tag, std::integral_constant<Momentum, Momentum::None>{},
                   std::false_type{});
      case Momentum::First:
        return with_nesterov(decay_tag, std::integral_constant<Momentum, Momentum::First>{});
      case Momentum::Running:
        return with_nesterov(decay_tag, std::integral_constant<Momentum, Momentum::Running>{});
    }
  };
  if (decay)
    with_momentum(std::true_type{});
  else
    with_momentum(std::false_type{});
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
  const Momentum mode = o.momentum() == 0.0 ? Momentum::None
                        : first_step        ? Momentum::First
                                            : Momentum::Running;
  dispatch_floating(param.dtype(), "SGD", [&](auto tag) {
    using T = decltype(tag);
    const SGDScalars<T> s{static_cast<T>(o.weight_decay()), static_cast<T>(o.momentum()),
                          static_cast<T>(1.0 - o.dampening()), static_cast<T>(-o.lr())};
    T* p = param.data<T>();
    T* momentum_buffer = mode != Momentum::None ? state.buffers[0].data<T>() : nullptr;
    const T* g = grad.data<T>();
    const bool decay = o.weight_decay() != 0.0;
    parallel_for(0, param.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
      sgd_update(p, momentum_buffer, g, begin, end, s, decay, mode, o.nesterov());
    });
  });
}

}  // namespace tapegrad::optim
