#include "tapegrad/core/broadcast.hpp"

#include <cassert>

#include "tapegrad/core/reduce.hpp"

namespace tapegrad::kernels {

std::vector<std::int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<std::int64_t> strides(out.size(), 0);
  const std::vector<std::int64_t> cs = contiguous_strides(in);
  const std::size_t offset = out.size() - in.size();
  for (std::size_t d = 0; d < in.size(); ++d)
    strides[d + offset] = in[d] == 1 && out[d + offset] != 1 ? 0 : cs[d];
  return strides;
}

namespace detail {

void BroadcastPlan::row_offsets(std::int64_t row, std::int64_t* offsets, std::size_t k) const {
  const std::size_t rank = outer.size();
  for (std::size_t i = 0; i < k; ++i) offsets[i] = 0;
  for (std::size_t d = rank; d-- > 0;) {
    const std::int64_t idx = row % outer[d];
    row /= outer[d];
    for (std::size_t i = 0; i < k; ++i) offsets[i] += idx * stride[i * rank + d];
  }
}

BroadcastPlan plan_broadcast(const Shape& out, std::initializer_list<const Shape*> inputs) {
  const std::size_t k = inputs.size();
  std::vector<std::vector<std::int64_t>> in_strides;
  for (const Shape* s : inputs) {
    check(s->size() <= out.size() && broadcast_shapes(*s, out, "broadcast_map") == out,
          "broadcast_map: expected an input that broadcasts to {}, got {}", out, *s);
    in_strides.push_back(broadcast_strides(*s, out));
  }
  // Merge from the innermost dim outwards: dim d joins the merged dim inside it when, for every
  // input, stepping once along d equals stepping through the whole merged dim.
  Shape size;                                    // merged dims, innermost first
  std::vector<std::vector<std::int64_t>> st(k);  // st[i][m]: stride of input i along merged dim m
  std::int64_t numel = 1;
  for (std::size_t d = out.size(); d-- > 0;) {
    numel *= out[d];
    if (out[d] == 1) continue;
    bool merge = !size.empty();
    for (std::size_t i = 0; i < k && merge; ++i)
      merge = in_strides[i][d] == st[i].back() * size.back();
    if (merge) {
      size.back() *= out[d];
    } else {
      size.push_back(out[d]);
      for (std::size_t i = 0; i < k; ++i) st[i].push_back(in_strides[i][d]);
    }
  }
  BroadcastPlan plan;
  plan.numel = numel;
  if (size.empty()) {  // one element (or none)
    plan.inner_contiguous = (1U << k) - 1;
    return plan;
  }
  plan.inner = size.front();
  plan.outer.assign(size.rbegin(), size.rend() - 1);
  const std::size_t rank = plan.outer.size();
  plan.stride.resize(k * rank);
  for (std::size_t i = 0; i < k; ++i) {
    assert(st[i][0] == 0 || st[i][0] == 1);
    if (st[i][0] == 1) plan.inner_contiguous |= 1U << i;
    for (std::size_t d = 0; d < rank; ++d) plan.stride[i * rank + d] = st[i][rank - d];
  }
  return plan;
}

}  // namespace detail

Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  check(broadcast_shapes(t.shape(), shape, "broadcast_to") == shape && t.dim() <= std::ssize(shape),
        "broadcast_to: expected a shape that {} broadcasts to, got {}", t.shape(), shape);
  Tensor out = empty(shape, t.dtype());
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_map(
        out.data<T>(), shape, [](T v) { return v; }, Operand<T>{t.data<T>(), t.shape()});
  });
  return out;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const Shape& in_shape = t.shape();
  check(shape.size() <= in_shape.size() && broadcast_shapes(shape, in_shape, "sum_to") == in_shape,
        "sum_to: expected a shape that broadcasts to {}, got {}", in_shape, shape);
  const std::size_t lead = in_shape.size() - shape.size();
  std::vector<bool> reduced(in_shape.size());
  for (std::size_t d = 0; d < in_shape.size(); ++d)
    reduced[d] = d < lead || (shape[d - lead] == 1 && in_shape[d] != 1);
  return alias_with_shape(reduce(t, reduced, Reduction::Sum, "sum_to"), shape);
}

}  // namespace tapegrad::kernels
