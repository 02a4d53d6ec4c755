#include "tapegrad/autograd/tape.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tapegrad/autograd/anomaly.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

thread_local bool grad_enabled = true;
std::atomic<std::uint64_t> next_seq{1};

struct TapeState {
  std::vector<std::weak_ptr<autograd::Node>> nodes;
  std::size_t prune_at = 256;

  void prune() {
    std::erase_if(nodes, [](const std::weak_ptr<autograd::Node>& w) {
      auto n = w.lock();
      return !n || n->released;
    });
    prune_at = std::max<std::size_t>(256, 2 * nodes.size());
  }
};

TapeState& tape_state() {
  thread_local TapeState state;
  return state;
}

// dst += src, same shape and dtype; chunked so results do not depend on the thread count.
void accumulate_into(Tensor& dst, const Tensor& src) {
  check(dst.shape() == src.shape() && dst.dtype() == src.dtype(),
        "backward: expected a gradient of shape {} ({}), got {} ({})", dst.shape(), dst.dtype(),
        src.shape(), src.dtype());
  dispatch_floating(dst.dtype(), "backward", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    parallel_for(0, dst.numel(), 1 << 16, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) d[i] += s[i];
    });
  });
  dst.bump_version();
}

// A gradient the caller may keep and write to: g itself if nothing else can see it, else a copy.
Tensor owned(const Tensor& g) {
  if (g.impl_ptr().use_count() == 1 && g.impl().storage.use_count() == 1) return g;
  return copy_data(g, g.dtype());
}

// Adds g into a gradient slot that may be shared with other tensors (never written in place).
void add_to_slot(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  Tensor sum = copy_data(slot, slot.dtype());
  accumulate_into(sum, g);
  slot = sum;
}

void accumulate_leaf_grad(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = owned(g).impl_ptr();  // backward runs without grad: g carries no history
    return;
  }
  Tensor grad(leaf.grad);
  accumulate_into(grad, g);
}

void release(autograd::Node& node) {
  node.released = true;
  node.inputs.clear();
  node.saved.clear();
  node.backward = nullptr;
  node.pending_grads.clear();
}

}  // namespace

bool is_grad_enabled() {
  return grad_enabled;
}
void set_grad_enabled(bool enabled) {
  grad_enabled = enabled;
}

namespace autograd {

Node::~Node() {
  // Dropping inputs can free the previous node, and so on down a long chain: unwind iteratively
  // instead of recursing once per node.
  thread_local int depth = 0;
  thread_local std::vector<std::vector<Tensor>> deferred;
  if (depth > 0) {
    deferred.push_back(std::move(inputs));
    return;
  }
  ++depth;
  inputs.clear();
  while (!deferred.empty()) {
    std::vector<Tensor> v = std::move(deferred.back());
    deferred.pop_back();
    v.clear();
  }
  --depth;
}

bool needs_recording(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

bool needs_recording(std::span<const Tensor> inputs) {
  if (!grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

void record(const char* name, std::vector<Tensor> inputs, std::initializer_list<Tensor*> outputs,
            std::vector<Tensor> saved, BackwardFn backward) {
  check(inputs.size() <= 64, "{}: expected at most 64 inputs to record, got {}", name,
        inputs.size());
  if (is_anomaly_enabled()) [[unlikely]]
    check_forward_anomaly(name, inputs, outputs);
  auto node = std::make_shared<Node>();
  node->name = name;
  node->seq = next_seq.fetch_add(1, std::memory_order_relaxed);
  node->inputs = std::move(inputs);
  node->saved.reserve(saved.size());
  for (Tensor& t : saved) {
    if (t.defined())
      node->saved.push_back({t.detach(), t.version()});
    else
      node->saved.push_back({Tensor(), 0});
  }
  node->backward = std::move(backward);
  std::uint32_t k = 0;
  for (Tensor* out : outputs) {
    TensorImpl& impl = out->impl();
    check(is_floating(impl.dtype), "{}: an int64 output cannot carry gradients", name);
    impl.requires_grad = true;
    impl.grad_fn = node;
    impl.output_nr = k++;
    node->outputs.push_back(out->impl_ptr());
    node->output_shapes.push_back(impl.shape);
    node->output_dtypes.push_back(impl.dtype);
  }
  TapeState& tape = tape_state();
  tape.nodes.push_back(node);
  if (tape.nodes.size() >= tape.prune_at) tape.prune();
}

std::size_t Tape::size() {
  tape_state().prune();
  return tape_state().nodes.size();
}

void Tape::clear() {
  for (auto& w : tape_state().nodes)
    if (auto n = w.lock()) release(*n);
  tape_state().prune();
}

std::string Tape::to_dot() {
  TapeState& state = tape_state();
  state.prune();
  std::ostringstream os;
  os << "digraph tape {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n";
  std::unordered_set<const TensorImpl*> leaves;
  for (auto& w : state.nodes) {
    auto n = w.lock();
    if (!n) continue;
    os << "  n" << n->seq << " [shape=box, label=\"" << n->name;
    for (const Shape& s : n->output_shapes) os << "\\n" << fmt::format("{}", s);
    os << "\"];\n";
    for (const Tensor& in : n->inputs) {
      if (!in.defined() || !in.requires_grad()) continue;
      if (in.impl().grad_fn) {
        os << "  n" << in.impl().grad_fn->seq << " -> n" << n->seq << ";\n";
      } else {
        const TensorImpl* leaf = &in.impl();
        if (leaves.insert(leaf).second)
          os << "  l" << reinterpret_cast<std::uintptr_t>(leaf)
             << " [shape=ellipse, label=\"leaf\\n"
             << fmt::format("{}", in.shape()) << "\"];\n";
        os << "  l" << reinterpret_cast<std::uintptr_t>(leaf) << " -> n" << n->seq << ";\n";
      }
    }
  }
  os << "}\n";
  return os.str();
}

Tape& tape() {
  thread_local Tape t;
  return t;
}

}  // namespace autograd

void backward(const Tensor& out, const Tensor& grad_output, bool retain_graph) {
  check(out.defined(), "backward: expected a defined tensor, got an undefined handle");
  check(out.requires_grad(),
        "backward: expected a tensor that requires grad, got one of shape {} without history "
        "(was it computed under NoGradGuard, or from inputs without requires_grad_?)",
        out.shape());
  check(grad_output.defined() && grad_output.shape() == out.shape() &&
            grad_output.dtype() == out.dtype(),
        "backward: expected a gradient of shape {} ({}), got {}", out.shape(), out.dtype(),
        grad_output.defined() ? fmt::format("{} ({})", grad_output.shape(), grad_output.dtype())
                              : std::string("an undefined tensor"));
  NoGradGuard no_grad;
  TensorImpl& root = out.impl();
  if (!root.grad_fn) {
    accumulate_leaf_grad(root, grad_output);
    return;
  }

  // Nodes reachable from the root, replayed newest first.
  // Strong references: releasing a node drops its inputs, which may hold the only reference to
  // an earlier node of this replay.
  std::vector<std::shared_ptr<autograd::Node>> order;
  std::unordered_set<autograd::Node*> seen;
  std::vector<std::shared_ptr<autograd::Node>> stack{root.grad_fn};
  seen.insert(root.grad_fn.get());
  while (!stack.empty()) {
    std::shared_ptr<autograd::Node> n = stack.back();
    stack.pop_back();
    check(!n->released,
          "backward: trying to backward through the graph a second time: the node of {} was "
          "already freed (pass retain_graph=true to the first backward to keep it)",
          n->name);
    order.push_back(n);
    for (const Tensor& in : n->inputs) {
      if (!in.defined() || !in.impl().grad_fn) continue;
      const std::shared_ptr<autograd::Node>& p = in.impl().grad_fn;
      if (seen.insert(p.get()).second) stack.push_back(p);
    }
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a->seq > b->seq; });

  for (auto& n : order) n->pending_grads.assign(n->outputs.size(), Tensor());
  root.grad_fn->pending_grads[root.output_nr] = grad_output;

  try {
    for (auto& n : order) {
      for (const autograd::SavedTensor& s : n->saved)
        if (s.tensor.defined())
          check(s.tensor.version() == s.version,
                "backward: a tensor saved by {} was modified in place (version {}, expected {})",
                n->name, s.tensor.version(), s.version);
      std::uint64_t mask = 0;
      for (std::size_t i = 0; i < n->inputs.size(); ++i)
        if (n->inputs[i].requires_grad()) mask |= std::uint64_t{1} << i;
      for (std::size_t k = 0; k < n->outputs.size(); ++k) {
        Tensor& g = n->pending_grads[k];
        if (!g.defined()) g = zeros(n->output_shapes[k], n->output_dtypes[k]);
        if (auto o = n->outputs[k].lock(); o && o->retains_grad) {
          Tensor retained(o->grad);
          add_to_slot(retained, g);
          o->grad = owned(retained).impl_ptr();
        }
      }
      std::vector<Tensor> saved;
      saved.reserve(n->saved.size());
      for (const autograd::SavedTensor& s : n->saved) saved.push_back(s.tensor);
      const autograd::BackwardArgs args{n->pending_grads, saved, mask};
      std::vector<Tensor> grads = n->backward(args);
      check(grads.size() == n->inputs.size(),
            "backward: the backward of {} returned {} gradients for {} inputs", n->name,
            grads.size(), n->inputs.size());
      if (is_anomaly_enabled()) [[unlikely]]
        autograd::check_backward_anomaly(n->name, n->inputs, grads, n->pending_grads, mask);
      for (std::size_t i = 0; i < grads.size(); ++i) {
        if (!((mask >> i) & 1U) || !grads[i].defined()) continue;
        const Tensor& in = n->inputs[i];
        check(grads[i].shape() == in.shape(),
              "backward: the backward of {} returned a gradient of shape {} for input {} of "
              "shape {}",
              n->name, grads[i].shape(), i, in.shape());
        TensorImpl& impl = in.impl();
        if (impl.grad_fn)
          add_to_slot(impl.grad_fn->pending_grads[impl.output_nr], grads[i]);
        else
          accumulate_leaf_grad(impl, grads[i]);
      }
      n->pending_grads.clear();
      if (!retain_graph) release(*n);
    }
  } catch (...) {
    for (auto& n : order) n->pending_grads.clear();
    throw;
  }
  if (!retain_graph) tape_state().prune();
}

void backward(const Tensor& out, bool retain_graph) {
  check(out.defined() && out.numel() == 1,
        "backward: expected a one-element tensor (pass a gradient otherwise), got shape {}",
        out.defined() ? out.shape() : Shape{});
  backward(out, ones(out.shape(), out.dtype()), retain_graph);
}

}  // namespace tapegrad
