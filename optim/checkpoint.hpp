// Training checkpoints: everything needed to continue a run exactly where it stopped, in one
// safetensors file written atomically (temporary file, fsync, rename: a crash mid-save leaves
// the previous checkpoint intact).
//
// Keys: "model.<name>" (parameters and buffers, PyTorch names), "optimizer.<key>",
// "scheduler.<key>". Metadata: format, epoch, step, and any caller strings (e.g. a Generator's
// state()).
//   tg::optim::save_training_checkpoint("run.ckpt", net, opt, &sched, {epoch, step});
//   auto state = tg::optim::load_training_checkpoint("run.ckpt", net, opt, &sched);
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tapegrad/layers/module.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tapegrad::optim {

struct TrainingState {
  std::int64_t epoch = 0;                    // epochs completed
  std::int64_t step = 0;                     // optimizer steps taken
  std::map<std::string, std::string> extra;  // caller-defined strings (RNG states, notes)
};

/// Writes model, optimizer and (if given) scheduler state with `state`, atomically.
void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const Optimizer& optimizer, const LRScheduler* scheduler,
                              const TrainingState& state);

/// Restores model, optimizer and scheduler from a checkpoint and returns its TrainingState.
/// All or nothing: on any error (wrong file, architecture or optimizer mismatch) nothing is
/// changed and a tapegrad::Error says what does not match.
TrainingState load_training_checkpoint(const std::string& path, nn::Module& model,
                                       Optimizer& optimizer, LRScheduler* scheduler);

}  // namespace tapegrad::optim
