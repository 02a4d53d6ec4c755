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

}  // namespace tapegrad::data
