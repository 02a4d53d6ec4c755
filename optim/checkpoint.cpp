#include "tapegrad/optim/checkpoint.hpp"

#include <charconv>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/safetensors.hpp"

namespace tapegrad::optim {
namespace {

constexpr const char* kFormat = "tapegrad-training-checkpoint/1";

void add_prefixed(NamedTensors& out, const std::string& prefix, const NamedTensors& in) {
  for (const auto& [name, t] : in) out.emplace_back(prefix + name, t);
}

std::int64_t parse_int(const std::string& path, const std::string& key, const std::string& text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  check(ec == std::errc() && end == text.data() + text.size() && v >= 0,
        "load_training_checkpoint: '{}': metadata '{}' should be a non-negative integer, got '{}'",
        path, key, text);
  return v;
}

NamedTensors snapshot(const NamedTensors& state) {
  NamedTensors out;
  for (const auto& [name, t] : state) out.emplace_back(name, copy_data(t, t.dtype()));
  return out;
}

}  // namespace

void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const Optimizer& optimizer, const LRScheduler* scheduler,
                              const TrainingState& state) {
  NamedTensors tensors;
  add_prefixed(tensors, "model.", model.state_dict());
  add_prefixed(tensors, "optimizer.", optimizer.state_dict());
  if (scheduler) add_prefixed(tensors, "scheduler.", scheduler->state_dict());
  SafetensorsMetadata meta;
  for (const auto& [k, v] : state.extra) meta["extra." + k] = v;
  meta["format"] = kFormat;
  meta["epoch"] = std::to_string(state.epoch);
  meta["step"] = std::to_string(state.step);
  meta["optimizer"] = optimizer.name();
  meta["scheduler"] = scheduler ? "yes" : "no";
  save_safetensors(path, tensors, meta);
}

TrainingState load_training_checkpoint(const std::string& path, nn::Module& model,
                                       Optimizer& optimizer, LRScheduler* scheduler) {
  const SafetensorsFile file = read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    check(it != file.metadata.end(),
          "load_training_checkpoint: '{}' is not a tapegrad training checkpoint (no '{}' in its "
          "metadata)",
          path, key);
    return it->second;
  };
  check(meta("format") == kFormat, "load_training_checkpoint: '{}': expected format '{}', got '{}'",
        path, kFormat, meta("format"));
  check(meta("optimizer") == optimizer.name(),
        "load_training_checkpoint: '{}' holds {} state, but the optimizer is {}", path,
        meta("optimizer"), optimizer.name());
  const bool has_scheduler = meta("scheduler") == "yes";
  check(has_scheduler == (scheduler != nullptr),
        "load_training_checkpoint: '{}' {} scheduler state, but {} scheduler was given", path,
        has_scheduler ? "holds" : "has no", scheduler ? "a" : "no");

  NamedTensors model_state, optimizer_state, scheduler_state;
  for (const auto& [name, t] : file.tensors) {
    if (name.rfind("model.", 0) == 0)
      model_state.emplace_back(name.substr(6), t);
    else if (name.rfind("optimizer.", 0) == 0)
      optimizer_state.emplace_back(name.substr(10), t);
    else if (name.rfind("scheduler.", 0) == 0)
      scheduler_state.emplace_back(name.substr(10), t);
    else
      fail("load_training_checkpoint: '{}': unexpected tensor '{}'", path, name);
  }
  TrainingState state;
  state.epoch = parse_int(path, "epoch", meta("epoch"));
  state.step = parse_int(path, "step", meta("step"));
  for (const auto& [k, v] : file.metadata)
    if (k.rfind("extra.", 0) == 0) state.extra[k.substr(6)] = v;

  // All or nothing: keep the current state and put it back if a later part does not load.
  const NamedTensors model_before = snapshot(model.state_dict());
  const NamedTensors optimizer_before = snapshot(optimizer.state_dict());
  try {
    model.load_state_dict(model_state, /*strict=*/true);
    optimizer.load_state_dict(optimizer_state);
    if (scheduler) scheduler->load_state_dict(scheduler_state);
  } catch (const Error& e) {
    model.load_state_dict(model_before, true);
    optimizer.load_state_dict(optimizer_before);
    throw Error(fmt::format("load_training_checkpoint: '{}' does not fit: {}", path, e.what()));
  }
  return state;
}

}  // namespace tapegrad::optim
