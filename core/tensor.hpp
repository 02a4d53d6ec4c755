// tapegrad::Tensor: a cheap shared handle to contiguous, row-major, 64-byte-aligned storage with a
// shape and a run-time dtype, plus the autograd metadata the tape needs.
//
// NOTE: the Tensor class is declared here, in core, so that every layer of the library shares one
// handle type. The methods that record on the tape (reshape, sum, backward, add_, ...) are
// declared here for convenience but defined in autograd/ (tensor_methods.cpp); core's own code
// never calls them. Link tapegrad::tapegrad (or tapegrad_autograd) to use them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/storage.hpp"

namespace tapegrad {

namespace autograd {
struct Node;
}

/// The shared state behind a Tensor handle.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::int64_t numel = 0;
  Dtype dtype = Dtype::Float32;

  // Autograd metadata, maintained by autograd/.
  bool requires_grad = false;
  bool retains_grad = false;
  std::uint32_t output_nr = 0;              // which output of grad_fn this tensor is
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  std::shared_ptr<TensorImpl> grad;         // accumulated gradient (leaves, retain_grad)
};

/// A tensor handle. Copies share data (like torch::Tensor); use clone() for a deep copy.
///   tg::Tensor x = tg::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  /// Size of dimension d (negative d counts from the end).
  std::int64_t size(std::int64_t d) const;
  std::int64_t numel() const { return impl().numel; }
  Dtype dtype() const { return impl().dtype; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }

  /// Typed pointer to the first element; T must match dtype(). Writes through it are not
  /// versioned: call bump_version() after writing into a tensor autograd may have saved.
  template <class T>
  T* data() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(impl().storage->data);
  }
  template <class T>
  const T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(impl().storage->data);
  }
  void* raw_data() { return impl().storage->data; }
  const void* raw_data() const { return impl().storage->data; }

  std::uint64_t version() const { return impl().storage->version; }
  void bump_version() { ++impl().storage->version; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage(const Tensor& other) const;

  /// Element at a full index, converted to T: x.at<float>({0, 1, 2, 3}).
  template <class T = double>
  T at(std::initializer_list<std::int64_t> index) const;
  /// The value of a one-element tensor.
  template <class T = double>
  T item() const;
  /// All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- autograd state (read here, changed through autograd/) ----
  bool requires_grad() const { return defined() && impl().requires_grad; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  /// The accumulated gradient; undefined until a backward reaches this tensor.
  Tensor grad() const { return Tensor(impl().grad); }
  /// Replaces (or clears, with an undefined tensor) the accumulated gradient.
  void set_grad(const Tensor& grad);
  /// Same data, no autograd history: the result does not require grad.
  Tensor detach() const;
  /// The name of the op that produced this tensor ("" for leaves).
  std::string grad_fn_name() const;

  // ---- defined in autograd/ (they record on the tape) ----
  /// Marks a leaf as requiring grad: x.requires_grad_();
  Tensor& requires_grad_(bool requires_grad = true);
  /// Keeps .grad() of a non-leaf after backward (PyTorch's retain_grad).
  void retain_grad();
  /// Backpropagates from a one-element tensor (seed 1).
  void backward(bool retain_graph = false) const;
  /// Backpropagates with an explicit gradient of the same shape.
  void backward(const Tensor& grad_output, bool retain_graph = false) const;

  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Dtype dtype) const;
  Tensor sum() const;
  Tensor sum(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(const std::vector<std::int64_t>& dims, bool keepdim = false) const;

  // In-place ops: bump the version; an error on a leaf that requires grad while grad mode is on.
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& add_(double value);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);

  TensorImpl& impl() const {
    check(impl_ != nullptr, "tensor: expected a defined tensor, got an undefined (empty) handle");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_dtype(Dtype expected) const;
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories ----
/// Uninitialised tensor.
Tensor empty(const Shape& shape, Dtype dtype = kFloat32);
Tensor zeros(const Shape& shape, Dtype dtype = kFloat32);
Tensor ones(const Shape& shape, Dtype dtype = kFloat32);
Tensor full(const Shape& shape, double value, Dtype dtype = kFloat32);
/// [start, end) in steps of `step`, like torch.arange.
Tensor arange(double start, double end, double step = 1.0, Dtype dtype = kFloat32);
Tensor arange(double end, Dtype dtype = kFloat32);
/// Copies `values` into a new tensor of `shape` (dtype from T: float, double or int64).
///   auto x = tg::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);
/// A 0-dimensional tensor holding `value`.
Tensor scalar_tensor(double value, Dtype dtype = kFloat32);
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

/// A new tensor with t's data (no autograd history), converted to `dtype`.
Tensor copy_data(const Tensor& t, Dtype dtype);
/// A new tensor sharing t's storage with another shape of the same numel (no autograd history).
Tensor alias_with_shape(const Tensor& t, const Shape& shape);

/// |a - b| <= atol + rtol * |b| elementwise, same shapes (or broadcastable), any float dtypes.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

/// PyTorch-style printing: values, then shape and dtype.
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace tapegrad
