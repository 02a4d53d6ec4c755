// Anomaly mode: find the op where a NaN or an Inf first appears, forward or backward.
//
// When on, the tape checks every op it records (autograd::record) and every backward step it
// replays, and throws tapegrad::Error at the first non-finite value:
//   forward:  anomaly: log produced NaN in its forward output; inputs: [2, 3] float32
//   backward: anomaly: backward of div returned NaN in the gradient of input 1 ([4] float32)
// An input that was already non-finite is marked "(contains NaN)" and named at the end of the
// message, so the user sees whether the op created the value or received it.
//
// NOTE: the forward check covers the graph that backward will run through: ops that record on
// the tape (grad mode on and an input that requires grad), which in training is every op between
// the data and the loss. Ops under NoGradGuard (evaluation, optimizer updates, in-place ops) and
// ops on tensors without requires_grad record nothing and are not checked; a non-finite value
// they make is reported by the first recorded op that consumes it, as an input that was already
// non-finite. An op that throws here has already run: side effects such as BatchNorm's running
// statistics are updated, but its output gets no history.
//
// After a backward throws, the gradients already accumulated into leaves are kept, the nodes
// already replayed are freed (a second backward through them is the usual "second time" error),
// and the rest of the graph stays as it was until its tensors die.
//
// The switch is process-wide, as in PyTorch (torch.autograd.set_detect_anomaly): a guard on one
// thread turns checking on for the tapes of all threads. Off by default; when off, recording an
// op costs one relaxed atomic load more. When on, each output and each gradient is scanned once.
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

/// Turns anomaly detection on or off for the whole process.  tg::set_detect_anomaly(true);
void set_detect_anomaly(bool enabled);
/// Whether anomaly detection is on.
bool is_anomaly_enabled();

/// Sets anomaly detection for its scope and restores the previous setting (RAII, nestable):
///   { tg::DetectAnomalyGuard g; loss = net.forward(x); loss.backward(); }
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool enabled = true) : previous_(is_anomaly_enabled()) {
    set_detect_anomaly(enabled);
  }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

namespace autograd {

/// Throws the forward anomaly error if an output of op `name` holds a NaN or an Inf. Called by
/// record() when anomaly mode is on; inputs may contain undefined tensors (absent arguments).
void check_forward_anomaly(const char* name, std::span<const Tensor> inputs,
                           std::initializer_list<Tensor*> outputs);

/// Throws the backward anomaly error if a gradient that backward of op `name` returned for an
/// input that needs one (bit i of needs_grad_mask) holds a NaN or an Inf. Called by backward()
/// when anomaly mode is on, before any of these gradients is accumulated.
void check_backward_anomaly(const char* name, std::span<const Tensor> inputs,
                            std::span<const Tensor> grads, std::span<const Tensor> grad_outputs,
                            std::uint64_t needs_grad_mask);

}  // namespace autograd
}  // namespace tapegrad
