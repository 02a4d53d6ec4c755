// Adam and AdamW: PyTorch 1.13's single-tensor updates (torch.optim.adam._single_tensor_adam,
// torch.optim.adamw._single_tensor_adamw) fused into one pass over the parameter. Hyper-parameters
// and bias corrections are computed in double, rounded to T, and every elementwise operation is
// done in T in PyTorch's order, so float32 results follow PyTorch's float32 arithmetic.
#include "tapegrad/optim/adam.hpp"

#include <cmath>
#include <type_traits>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad::optim {
namespace {

enum Buffer : std::size_t { kExpAvg = 0, kExpAvgSq = 1, kMaxExpAvgSq = 2 };

enum class Decay { None, L2, Decoupled };  // Adam without / with weight decay, AdamW

// The per-step scalars of one parameter's update, rounded to T.
template <class T>
struct AdamScalars {
  T param_scale;   // AdamW: 1 - lr * weight_decay
  T weight_decay;  // Adam: the L2 coefficient added to the gradient
  T beta1, one_minus_beta1;
  T beta2, one_minus_beta2;
  T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  T neg_step_size;          // -lr / (1 - beta1^t)
  T eps;
};

// param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad: (n), updated over [begin, end);
// max_exp_avg_sq is read only with kAmsgrad.
// Ensures: the moments and param hold the update of the file comment in adam.hpp.
// NOTE: the options are template parameters so that the loop has no branch and can vectorize.
template <class T, Decay kDecay, bool kAmsgrad>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad,
                 std::int64_t begin, std::int64_t end, const AdamScalars<T> s) {
  for (std::int64_t i = begin; i < end; ++i) {
    T p = param[i];
    T g = grad[i];
    if constexpr (kDecay == Decay::Decoupled) p = p * s.param_scale;
    if constexpr (kDecay == Decay::L2) g = g + s.weight_decay * p;
    const T m = exp_avg[i] * s.beta1 + s.one_minus_beta1 * g;
    T v = exp_avg_sq[i] * s.beta2 + s.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if constexpr (kAmsgrad) {
      const T v_max = max_exp_avg_sq[i];
      v = (v_max > v || v_max != v_max) ? v_max : v;  // torch.maximum: NaN wins
      max_exp_avg_sq[i] = v;
    }
    const T denom = std::sqrt(v) / s.bias_correction2_sqrt + s.eps;
    param[i] = p + s.neg_step_size * m / denom;
  }
}

// Picks the adam_update instantiation for (decay, amsgrad).
template <class T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad,
                 std::int64_t begin, std::int64_t end, const AdamScalars<T>& s, Decay decay) {
  auto run = [&](auto decay_tag, auto amsgrad_tag) {
    adam_update<T, decltype(decay_tag)::value, decltype(amsgrad_tag)::value>(
        param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, begin, end, s);
  };
  auto with_amsgrad = [&](auto decay_tag) {
    if (max_exp_avg_sq != nullptr)
      run(decay_tag, std::true_type{});
    else
      run(decay_tag, std::false_type{});
  };
  switch (decay) {
    case Decay::None:
      return with_amsgrad(std::integral_constant<Decay, Decay::None>{});
    case Decay::L2:
      return with_amsgrad(std::integral_constant<Decay, Decay::L2>{});
    case Decay::Decoupled:
      return with_amsgrad(std::integral_constant<Decay, Decay::Decoupled>{});
  }
}

}  // namespace

std::unique_ptr<OptimizerOptions> AdamOptions::clone() const {
  return std::make_unique<AdamOptions>(*this);
}

std::unique_ptr<OptimizerOptions> AdamWOptions::clone() const {
  return std::make_unique<AdamWOptions>(*this);
}

std::vector<std::pair<std::string, double>> AdamOptions::named_values() const {
  return {{"lr", lr_},   {"betas.0", betas_.first},       {"betas.1", betas_.second},
          {"eps", eps_}, {"weight_decay", weight_decay_}, {"amsgrad", amsgrad_ ? 1.0 : 0.0}};
}

bool AdamOptions::set_named_value(std::string_view name, double value) {
  if (name == "lr")
    lr_ = value;
  else if (name == "betas.0")
    betas_.first = value;
  else if (name == "betas.1")
    betas_.second = value;
  else if (name == "eps")
    eps_ = value;
  else if (name == "weight_decay")
    weight_decay_ = value;
  else if (name == "amsgrad")
    amsgrad_ = value != 0.0;
  else
    return false;
  return true;
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Adam("Adam", std::move(groups), defaults, /*decoupled_weight_decay=*/false) {}

Adam::Adam(std::string name, std::vector<ParamGroup> groups, const AdamOptions& defaults,
           bool decoupled_weight_decay)
    : Optimizer(std::move(name), defaults, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                /*counts_steps=*/true),
      decoupled_weight_decay_(decoupled_weight_decay) {
  init(std::move(groups));
}

void Adam::check_options(const OptimizerOptions& options) const {
  const auto* o = dynamic_cast<const AdamOptions*>(&options);
  check(o != nullptr, "{}: expected AdamOptions, got the options of another optimizer", name());
  check(std::isfinite(o->lr()) && o->lr() >= 0, "{}: expected lr >= 0, got {}", name(), o->lr());
  check(std::isfinite(o->eps()) && o->eps() >= 0, "{}: expected eps >= 0, got {}", name(),
        o->eps());
  check(o->betas().first >= 0 && o->betas().first < 1, "{}: expected betas[0] in [0, 1), got {}",
        name(), o->betas().first);
  check(o->betas().second >= 0 && o->betas().second < 1, "{}: expected betas[1] in [0, 1), got {}",
        name(), o->betas().second);
  check(std::isfinite(o->weight_decay()) && o->weight_decay() >= 0,
        "{}: expected weight_decay >= 0, got {}", name(), o->weight_decay());
}

std::size_t Adam::required_buffers(const OptimizerOptions& options) const {
  return static_cast<const AdamOptions&>(options).amsgrad() ? 3 : 2;
}

void Adam::update(const OptimizerOptions& options, Tensor& param, const Tensor& grad,
                  ParamState& state) {
  const auto& o = static_cast<const AdamOptions&>(options);
  state.buffers.resize(3);
  if (!state.buffers[kExpAvg].defined()) state.buffers[kExpAvg] = zeros_like(param);
  if (!state.buffers[kExpAvgSq].defined()) state.buffers[kExpAvgSq] = zeros_like(param);
  if (o.amsgrad() && !state.buffers[kMaxExpAvgSq].defined())
    state.buffers[kMaxExpAvgSq] = zeros_like(param);

  const auto step = static_cast<double>(state.step);
  // Not a structured binding: clang before 16 cannot capture those in the lambda below.
  const double beta1 = o.betas().first, beta2 = o.betas().second;
  const Decay decay = decoupled_weight_decay_   ? Decay::Decoupled
                      : o.weight_decay() != 0.0 ? Decay::L2
                                                : Decay::None;
  dispatch_floating(param.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    AdamScalars<T> s{};
    s.param_scale = static_cast<T>(1.0 - o.lr() * o.weight_decay());
    s.weight_decay = static_cast<T>(o.weight_decay());
    s.beta1 = static_cast<T>(beta1);
    s.one_minus_beta1 = static_cast<T>(1.0 - beta1);
    s.beta2 = static_cast<T>(beta2);
    s.one_minus_beta2 = static_cast<T>(1.0 - beta2);
    s.bias_correction2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, step)));
    s.neg_step_size = static_cast<T>(-(o.lr() / (1.0 - std::pow(beta1, step))));
    s.eps = static_cast<T>(o.eps());
    T* p = param.data<T>();
    T* exp_avg = state.buffers[kExpAvg].data<T>();
    T* exp_avg_sq = state.buffers[kExpAvgSq].data<T>();
    T* max_exp_avg_sq = o.amsgrad() ? state.buffers[kMaxExpAvgSq].data<T>() : nullptr;
    const T* g = grad.data<T>();
    parallel_for(0, param.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
      adam_update(p, exp_avg, exp_avg_sq, max_exp_avg_sq, g, begin, end, s, decay);
    });
  });
}

AdamW::AdamW(std::vector<Tensor> params, const AdamOptions& options)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Adam("AdamW", std::move(groups), defaults, /*decoupled_weight_decay=*/true) {}

}  // namespace tapegrad::optim
