// Learning-rate schedulers: PyTorch 1.13's get_lr() formulas (the chainable, recursive forms),
// evaluated in double with the same operations in the same order, so the learning rates match
// PyTorch's bit for bit. Formulas: see lr_scheduler.hpp.
//
// NOTE: schedulers set the lr through the group's options, unchecked, because PyTorch's values
// may leave the valid range: OneCycleLR's allowed total_steps-th step extrapolates past min_lr
// (below 0 with linear annealing). The optimizer checks its options at each step, so training on
// such an lr is an error rather than a silent gradient ascent.
#include "tapegrad/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

namespace tapegrad::optim {
namespace {

constexpr double kPi = std::numbers::pi;  // == Python's math.pi

}  // namespace

// ---- LRScheduler ----

LRScheduler::LRScheduler(std::string name, Optimizer& optimizer)
    : optimizer_(optimizer), name_(std::move(name)) {
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g)
    base_lrs_.push_back(optimizer.lr(g));
  last_lrs_ = base_lrs_;
}

void LRScheduler::step() {
  const std::size_t groups = optimizer_.num_param_groups();
  check(groups == base_lrs_.size(),
        "{}: the optimizer has {} param groups, but the scheduler was built for {}", name_, groups,
        base_lrs_.size());
  const std::int64_t epoch = last_epoch_ + 1;
  for (std::size_t g = 0; g < groups; ++g) update_group(g, epoch);
  last_epoch_ = epoch;
  for (std::size_t g = 0; g < groups; ++g) last_lrs_[g] = optimizer_.lr(g);
}

nn::NamedTensors LRScheduler::state_dict() const {
  nn::NamedTensors out;
  out.emplace_back("last_epoch", scalar_tensor(static_cast<double>(last_epoch_), kFloat64));
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    out.emplace_back(fmt::format("base_lrs.{}", g), scalar_tensor(base_lrs_[g], kFloat64));
  for (std::size_t g = 0; g < last_lrs_.size(); ++g)
    out.emplace_back(fmt::format("last_lrs.{}", g), scalar_tensor(last_lrs_[g], kFloat64));
  return out;
}

void LRScheduler::load_state_dict(const nn::NamedTensors& dict) {
  const std::size_t groups = optimizer_.num_param_groups();
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> used;
  auto read = [&](const std::string& key, double& value) {
    for (const auto& [name, t] : dict) {
      if (name != key) continue;
      used.insert(name);
      if (t.defined() && t.numel() == 1 && is_floating(t.dtype()) &&
          std::isfinite(t.item<double>())) {
        value = t.item<double>();
      } else {
        mismatched.push_back(fmt::format(
            "{}: expected a finite float scalar, got {}", key,
            t.defined() ? fmt::format("{} {}", t.dtype(), t.shape()) : std::string("undefined")));
      }
      return;
    }
    missing.push_back(key);
  };
  double epoch = 0;
  std::vector<double> base(groups), last(groups);
  read("last_epoch", epoch);
  for (std::size_t g = 0; g < groups; ++g) read(fmt::format("base_lrs.{}", g), base[g]);
  for (std::size_t g = 0; g < groups; ++g) read(fmt::format("last_lrs.{}", g), last[g]);
  if (!(epoch >= 0 && epoch == std::floor(epoch) && epoch < 9.0e15))
    mismatched.push_back(fmt::format("last_epoch: expected an integer >= 0, got {}", epoch));
  for (const auto& [name, t] : dict)
    if (!used.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = fmt::format(
        "{}.load_state_dict: the state dict does not match the scheduler ({} param groups)", name_,
        groups);
    if (!missing.empty()) msg += fmt::format("; missing keys: {}", missing);
    if (!unexpected.empty()) msg += fmt::format("; unexpected keys: {}", unexpected);
    if (!mismatched.empty()) msg += fmt::format("; mismatched: {}", mismatched);
    throw Error(msg);
  }
  last_epoch_ = static_cast<std::int64_t>(epoch);
  base_lrs_ = base;
  last_lrs_ = last;
  for (std::size_t g = 0; g < groups; ++g) optimizer_.options(g).set_lr(last[g]);
}

// ---- StepLR ----

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  check(step_size >= 1, "StepLR: expected step_size >= 1, got {}", step_size);
  check(std::isfinite(gamma) && gamma >= 0, "StepLR: expected gamma >= 0, got {}", gamma);
  step();
}

void StepLR::update_group(std::size_t group, std::int64_t epoch) {
  if (epoch == 0 || epoch % step_size_ != 0) return;
  optimizer_.options(group).set_lr(optimizer_.lr(group) * gamma_);
}

// ---- MultiStepLR ----

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler("MultiStepLR", optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  for (std::int64_t m : milestones_)
    check(m >= 0, "MultiStepLR: expected milestones >= 0, got {}", milestones_);
  check(std::isfinite(gamma) && gamma >= 0, "MultiStepLR: expected gamma >= 0, got {}", gamma);
  std::sort(milestones_.begin(), milestones_.end());
  step();
}

void MultiStepLR::update_group(std::size_t group, std::int64_t epoch) {
  const auto [first, last] = std::equal_range(milestones_.begin(), milestones_.end(), epoch);
  const auto times = static_cast<double>(last - first);
  if (times == 0) return;
  optimizer_.options(group).set_lr(optimizer_.lr(group) * std::pow(gamma_, times));
}

// ---- CosineAnnealingLR ----

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), T_max_(T_max), eta_min_(eta_min) {
  check(T_max >= 1, "CosineAnnealingLR: expected T_max >= 1, got {}", T_max);
  check(std::isfinite(eta_min) && eta_min >= 0, "CosineAnnealingLR: expected eta_min >= 0, got {}",
        eta_min);
  step();
}

void CosineAnnealingLR::update_group(std::size_t group, std::int64_t epoch) {
  if (epoch == 0) return;
  const double lr = optimizer_.lr(group);
  const auto T = static_cast<double>(T_max_);
  const auto e = static_cast<double>(epoch);
  double next;
  if ((epoch - 1 - T_max_) % (2 * T_max_) == 0)  // leaving a minimum: the recursion's 0/0 case
    next = lr + (base_lrs_[group] - eta_min_) * (1 - std::cos(kPi / T)) / 2;
  else
    next = (1 + std::cos(kPi * e / T)) / (1 + std::cos(kPi * (e - 1) / T)) * (lr - eta_min_) +
           eta_min_;
  optimizer_.options(group).set_lr(next);
}

// ---- OneCycleLR ----

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options)
    : LRScheduler("OneCycleLR", optimizer), options_(options) {
  const std::size_t groups = optimizer.num_param_groups();
  const auto& o = options_;
  check(o.total_steps() >= 1, "OneCycleLR: expected total_steps >= 1, got {}", o.total_steps());
  check(o.pct_start() >= 0 && o.pct_start() <= 1,
        "OneCycleLR: expected pct_start in [0, 1], got {}", o.pct_start());
  check(o.max_lrs().size() == 1 || o.max_lrs().size() == groups,
        "OneCycleLR: expected one max_lr or one per param group ({}), got {}", groups,
        o.max_lrs().size());
  for (double m : o.max_lrs())
    check(std::isfinite(m) && m >= 0, "OneCycleLR: expected max_lr >= 0, got {}", m);
  check(std::isfinite(o.div_factor()) && o.div_factor() > 0,
        "OneCycleLR: expected div_factor > 0, got {}", o.div_factor());
  check(std::isfinite(o.final_div_factor()) && o.final_div_factor() > 0,
        "OneCycleLR: expected final_div_factor > 0, got {}", o.final_div_factor());

  const double total = static_cast<double>(o.total_steps());
  const double up_end = o.pct_start() * total - 1;
  const double high = o.max_momentum(), low = o.base_momentum();
  if (o.three_phase())
    phases_ = {{up_end, kInitialLr, kMaxLr, high, low},
               {2 * o.pct_start() * total - 2, kMaxLr, kInitialLr, low, high},
               {total - 1, kInitialLr, kMinLr, high, high}};
  else
    phases_ = {{up_end, kInitialLr, kMaxLr, high, low}, {total - 1, kMaxLr, kMinLr, low, high}};

  for (std::size_t g = 0; g < groups; ++g) {
    const double max_lr = o.max_lrs()[o.max_lrs().size() == 1 ? 0 : g];
    const double initial_lr = max_lr / o.div_factor();
    levels_.push_back({initial_lr, max_lr, initial_lr / o.final_div_factor()});
    base_lrs_[g] = initial_lr;
    if (o.cycle_momentum()) optimizer.options(g).set_momentum(high);
  }
  step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy() == AnnealStrategy::Linear) return (end - start) * pct + start;
  const double cos_out = std::cos(kPi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

void OneCycleLR::update_group(std::size_t group, std::int64_t epoch) {
  check(epoch <= options_.total_steps(),
        "OneCycleLR: tried to step {} times, but total_steps is {}", epoch + 1,
        options_.total_steps());
  const auto step = static_cast<double>(epoch);
  double start_step = 0;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const Phase& phase = phases_[i];
    if (step <= phase.end_step || i + 1 == phases_.size()) {
      check(phase.end_step != start_step,
            "OneCycleLR: phase {} is empty (pct_start {} of total_steps {}); choose another "
            "pct_start or more total_steps",
            i, options_.pct_start(), options_.total_steps());
      const double pct = (step - start_step) / (phase.end_step - start_step);
      const auto& levels = levels_[group];
      optimizer_.options(group).set_lr(anneal(levels[phase.start_lr], levels[phase.end_lr], pct));
      if (options_.cycle_momentum())
        optimizer_.options(group).set_momentum(
            anneal(phase.start_momentum, phase.end_momentum, pct));
      return;
    }
    start_step = phase.end_step;
  }
}

}  // namespace tapegrad::optim
