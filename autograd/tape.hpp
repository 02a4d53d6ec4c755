// The tape: a thread-local record of differentiable operations, replayed in reverse by backward().
//
// An op that runs with grad mode on and an input that requires grad appends one Node: its inputs
// (strong handles, to route gradients), its outputs (weak, so the graph dies with its tensors),
// the tensors its backward needs (saved with their storage version) and the backward closure.
//
// backward(out) collects the nodes reachable from out, replays them newest first (the tape's
// order, by sequence number), accumulates leaf gradients with +=, then frees those nodes unless
// retain_graph. Independent work on the same tape is untouched.
//
// With anomaly mode on (anomaly.hpp), record() and the replay check outputs and gradients for
// NaN and Inf and throw at the first op that has one.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

// ---- grad mode ----

/// Whether ops record on the tape on this thread.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// Turns recording off for its scope (nestable, RAII):  { tg::NoGradGuard g; y = net.forward(x); }
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Backpropagates from `out` with gradient `grad_output` (same shape as out).
void backward(const Tensor& out, const Tensor& grad_output, bool retain_graph = false);
/// Backpropagates from a one-element tensor with seed 1.
void backward(const Tensor& out, bool retain_graph = false);

namespace autograd {

/// What a backward closure receives.
struct BackwardArgs {
  std::span<const Tensor> grad_outputs;  // one per output, always defined (zeros if unreached)
  std::span<const Tensor> saved;         // the tensors given to record(), version-checked
  std::uint64_t needs_grad_mask;         // bit i set: input i needs a gradient

  bool needs_grad(std::size_t input) const { return (needs_grad_mask >> input) & 1U; }
};

/// Returns one gradient per input (undefined where none is needed), each of the input's shape.
using BackwardFn = std::function<std::vector<Tensor>(const BackwardArgs&)>;

struct SavedTensor {
  Tensor tensor;          // a detached handle on the same storage
  std::uint64_t version;  // storage version when saved
};

struct Node {
  ~Node();

  const char* name = "";
  std::uint64_t seq = 0;
  std::vector<Tensor> inputs;
  std::vector<std::weak_ptr<TensorImpl>> outputs;
  std::vector<Shape> output_shapes;
  std::vector<Dtype> output_dtypes;
  std::vector<SavedTensor> saved;
  BackwardFn backward;
  bool released = false;
  std::vector<Tensor> pending_grads;  // used during backward only
};

/// True when an op on these inputs must record: grad mode on and some input requires grad.
bool needs_recording(std::initializer_list<const Tensor*> inputs);
bool needs_recording(std::span<const Tensor> inputs);

/// Appends a node for op `name` and links `outputs` to it (they become non-leaves that require
/// grad). `inputs` may contain undefined tensors (absent optional arguments). At most 64 inputs.
///   autograd::record("relu", {x}, {y}, {y}, [](const BackwardArgs& a) { ... return {dx}; });
void record(const char* name, std::vector<Tensor> inputs, std::initializer_list<Tensor*> outputs,
            std::vector<Tensor> saved, BackwardFn backward);

/// The calling thread's tape.
class Tape {
 public:
  /// Number of live nodes (recorded, not yet freed by backward or by their tensors dying).
  std::size_t size();
  /// The live graph in Graphviz DOT: one box per op (name, output shapes), one ellipse per leaf.
  std::string to_dot();
  /// Frees every live node of this thread (tensors that point to them can no longer backward).
  void clear();
};

Tape& tape();

}  // namespace autograd
}  // namespace tapegrad
