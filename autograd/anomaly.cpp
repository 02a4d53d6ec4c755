// Anomaly mode: the process-wide switch and the NaN / Inf scans the tape runs when it is on.
#include "tapegrad/autograd/anomaly.hpp"

#include <atomic>
#include <cmath>
#include <string>

#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

std::atomic<bool> anomaly_enabled{false};

// Which kinds of non-finite values a tensor holds.
struct NonFinite {
  bool nan = false;
  bool inf = false;

  bool any() const { return nan || inf; }
  const char* name() const { return nan && inf ? "NaN and Inf" : nan ? "NaN" : "Inf"; }
};

// t (any shape); int64 and undefined tensors hold no non-finite values.
NonFinite scan(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return {};
  std::atomic<bool> nan{false}, inf{false};
  dispatch_floating(t.dtype(), "anomaly", [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    parallel_for(0, t.numel(), 1 << 16, [&](std::int64_t b, std::int64_t e) {
      bool any = false;  // the common case, no non-finite value, in one branch-free pass
      for (std::int64_t i = b; i < e; ++i) any |= !std::isfinite(p[i]);
      if (!any) return;
      for (std::int64_t i = b; i < e; ++i) {
        if (std::isnan(p[i])) nan.store(true, std::memory_order_relaxed);
        if (std::isinf(p[i])) inf.store(true, std::memory_order_relaxed);
      }
    });
  });
  return {nan.load(), inf.load()};
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "none";
  return fmt::format("{} {}", t.shape(), t.dtype());
}

// "[2, 3] float32 (contains NaN), none, [3] float32", and the indices of non-finite inputs.
std::string describe_inputs(std::span<const Tensor> inputs, std::vector<std::size_t>& bad) {
  std::string out;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) out += ", ";
    out += describe(inputs[i]);
    if (const NonFinite f = scan(inputs[i]); f.any()) {
      out += fmt::format(" (contains {})", f.name());
      bad.push_back(i);
    }
  }
  return inputs.empty() ? std::string("none") : out;
}

}  // namespace

void set_detect_anomaly(bool enabled) {
  anomaly_enabled.store(enabled, std::memory_order_relaxed);
}

bool is_anomaly_enabled() {
  return anomaly_enabled.load(std::memory_order_relaxed);
}

namespace autograd {

void check_forward_anomaly(const char* name, std::span<const Tensor> inputs,
                           std::initializer_list<Tensor*> outputs) {
  std::size_t k = 0;
  for (const Tensor* out : outputs) {
    const NonFinite f = scan(*out);
    if (f.any()) {
      std::vector<std::size_t> bad;
      const std::string ins = describe_inputs(inputs, bad);
      const std::string which = outputs.size() > 1 ? fmt::format(" {}", k) : std::string();
      const std::string origin =
          bad.empty() ? std::string()
                      : fmt::format(
                            "; input{} {} {} already non-finite (the anomaly started "
                            "before {})",
                            bad.size() > 1 ? "s" : "", fmt::join(bad, ", "),
                            bad.size() > 1 ? "were" : "was", name);
      fail("anomaly: {} produced {} in its forward output{}; inputs: {}{}", name, f.name(), which,
           ins, origin);
    }
    ++k;
  }
}

void check_backward_anomaly(const char* name, std::span<const Tensor> inputs,
                            std::span<const Tensor> grads, std::span<const Tensor> grad_outputs,
                            std::uint64_t needs_grad_mask) {
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!((needs_grad_mask >> i) & 1U) || !grads[i].defined()) continue;
    const NonFinite f = scan(grads[i]);
    if (!f.any()) continue;
    std::string upstream;
    for (std::size_t k = 0; k < grad_outputs.size(); ++k)
      if (const NonFinite g = scan(grad_outputs[k]); g.any())
        upstream += fmt::format("; the gradient it received for output {} already contained {}", k,
                                g.name());
    std::vector<std::string> shapes;
    for (const Tensor& in : inputs) shapes.push_back(describe(in));
    fail("anomaly: backward of {} returned {} in the gradient of input {} ({}); inputs: {}{}", name,
         f.name(), i, describe(inputs[i]), fmt::join(shapes, ", "), upstream);
  }
}

}  // namespace autograd
}  // namespace tapegrad
