#include "tapegrad/core/broadcast.hpp"

namespace tapegrad::kernels {

std::vector<std::int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<std::int64_t> strides(out.size(), 0);
  const std::vector<std::int64_t> cs = contiguous_strides(in);
  const std::size_t offset = out.size() - in.size();
  for (std::size_t d = 0; d < in.size(); ++d)
    strides[d + offset] = in[d] == 1 && out[d + offset] != 1 ? 0 : cs[d];
  return strides;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const Shape& in_shape = t.shape();
  check(broadcast_shapes(shape, in_shape, "sum_to") == in_shape,
        "sum_to: expected a shape that broadcasts to {}, got {}", in_shape, shape);
  Tensor out = zeros(shape, t.dtype());
  // Each output element sums the input elements that map to it; iterate the output in parallel
  // and the reduced positions in a fixed order, so results do not depend on the thread count.
  const std::vector<std::int64_t> so = broadcast_strides(shape, in_shape);
  const std::size_t rank = in_shape.size();
  const std::vector<std::int64_t> in_strides = contiguous_strides(in_shape);
  // Split input dims into kept (stride != 0 in out) and reduced ones.
  std::vector<std::size_t> kept, reduced;
  for (std::size_t d = 0; d < rank; ++d)
    (so[d] != 0 || in_shape[d] == 1 ? kept : reduced).push_back(d);
  std::int64_t n_reduced = 1;
  for (std::size_t d : reduced) n_reduced *= in_shape[d];
  const std::int64_t n_out = out.numel();
  dispatch_floating(t.dtype(), "sum_to", [&](auto tag) {
    using T = decltype(tag);
    const T* in = t.data<T>();
    T* o = out.data<T>();
    parallel_for(0, n_out, 256, [&](std::int64_t j0, std::int64_t j1) {
      for (std::int64_t j = j0; j < j1; ++j) {
        // input offset of output element j (kept dims)
        std::int64_t rem = j, base = 0;
        for (std::size_t k = kept.size(); k-- > 0;) {
          const std::size_t d = kept[k];
          const std::int64_t idx = rem % in_shape[d];
          rem /= in_shape[d];
          base += idx * in_strides[d];
        }
        double acc = 0.0;
        for (std::int64_t r = 0; r < n_reduced; ++r) {
          std::int64_t rr = r, off = base;
          for (std::size_t k = reduced.size(); k-- > 0;) {
            const std::size_t d = reduced[k];
            off += (rr % in_shape[d]) * in_strides[d];
            rr /= in_shape[d];
          }
          acc += static_cast<double>(in[off]);
        }
        o[j] = static_cast<T>(acc);
      }
    });
  });
  return out;
}

}  // namespace tapegrad::kernels
