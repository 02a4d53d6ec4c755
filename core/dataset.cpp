#include "tapegrad/core/dataset.hpp"

namespace tapegrad::data {

void reuse_or_allocate(Tensor& buffer, const Shape& shape, Dtype dtype) {
  // use_count() == 1 is reliable even with threads: no other owner exists, and a new one could
  // only be made by copying `buffer` itself.
  const bool exclusive = buffer.defined() && buffer.impl_ptr().use_count() == 1 &&
                         buffer.impl().storage.use_count() == 1;
  if (exclusive && buffer.shape() == shape && buffer.dtype() == dtype && !buffer.requires_grad() &&
      buffer.is_leaf()) {
    buffer.bump_version();  // about to be overwritten in place
    return;
  }
  buffer = empty(shape, dtype);
}

Subset::Subset(const Dataset& base, std::int64_t count) : base_(base), count_(count) {
  check(count >= 0 && count <= base.size(), "Subset: expected a count in [0, {}], got {}",
        base.size(), count);
}

void Subset::get_batch_into(std::span<const std::int64_t> indices, Batch& out) const {
  for (std::int64_t i : indices)
    check(i >= 0 && i < count_, "Subset: expected indices in [0, {}), got {}", count_, i);
  base_.get_batch_into(indices, out);
}

}  // namespace tapegrad::data
