#include "tapegrad/core/tensor.hpp"

#include <cmath>
#include <cstring>

namespace tapegrad {
namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, Dtype dtype, std::string_view op) {
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = checked_numel(shape, op);
  check(impl->numel <= (std::int64_t{1} << 40), "{}: expected at most 2^40 elements, got shape {}",
        op, shape);
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage =
      std::make_shared<Storage>(static_cast<std::size_t>(impl->numel) * element_size(dtype));
  return impl;
}

template <class T>
void fill_typed(Tensor& t, double value) {
  T* p = t.data<T>();
  const T v = static_cast<T>(value);
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) p[i] = v;
}

void fill_value(Tensor& t, double value) {
  dispatch_all(t.dtype(), [&](auto tag) { fill_typed<decltype(tag)>(t, value); });
}

}  // namespace

std::int64_t Tensor::size(std::int64_t d) const {
  return shape()[wrap_dim(d, dim(), "size")];
}

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

void Tensor::check_dtype(Dtype expected) const {
  check(dtype() == expected, "data: expected a {} tensor, got {} (shape {})", expected, dtype(),
        shape());
}

template <class T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
  check(static_cast<std::int64_t>(index.size()) == dim(),
        "at: expected an index with {} coordinates, got {} for shape {}", dim(), index.size(),
        shape());
  std::int64_t flat = 0, d = 0;
  for (std::int64_t i : index) {
    check(i >= 0 && i < shape()[d], "at: index {} out of range for dimension {} of shape {}", i, d,
          shape());
    flat = flat * shape()[d] + i;
    ++d;
  }
  return dispatch_all(dtype(), [&](auto tag) -> T {
    return static_cast<T>(static_cast<const decltype(tag)*>(raw_data())[flat]);
  });
}

template <class T>
T Tensor::item() const {
  check(numel() == 1, "item: expected a tensor with one element, got shape {}", shape());
  return dispatch_all(dtype(), [&](auto tag) -> T {
    return static_cast<T>(*static_cast<const decltype(tag)*>(raw_data()));
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<std::size_t>(numel()));
  dispatch_all(dtype(), [&](auto tag) {
    const auto* p = static_cast<const decltype(tag)*>(raw_data());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

template float Tensor::at<float>(std::initializer_list<std::int64_t>) const;
template float Tensor::item<float>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template double Tensor::at<double>(std::initializer_list<std::int64_t>) const;
template double Tensor::item<double>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::int64_t Tensor::at<std::int64_t>(std::initializer_list<std::int64_t>) const;
template std::int64_t Tensor::item<std::int64_t>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;
template int Tensor::at<int>(std::initializer_list<std::int64_t>) const;
template int Tensor::item<int>() const;
template std::vector<int> Tensor::to_vector<int>() const;

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined())
    check(grad.shape() == shape() && grad.dtype() == dtype(),
          "set_grad: expected a gradient of shape {} and dtype {}, got {} {}", shape(), dtype(),
          grad.shape(), grad.dtype());
  impl().grad = grad.impl_ptr();
}

Tensor Tensor::detach() const {
  auto out = std::make_shared<TensorImpl>();
  out->storage = impl().storage;
  out->shape = impl().shape;
  out->numel = impl().numel;
  out->dtype = impl().dtype;
  return Tensor(std::move(out));
}

Tensor empty(const Shape& shape, Dtype dtype) {
  return Tensor(make_impl(shape, dtype, "empty"));
}

Tensor zeros(const Shape& shape, Dtype dtype) {
  Tensor t(make_impl(shape, dtype, "zeros"));
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor ones(const Shape& shape, Dtype dtype) {
  return full(shape, 1.0, dtype);
}

Tensor full(const Shape& shape, double value, Dtype dtype) {
  Tensor t(make_impl(shape, dtype, "full"));
  fill_value(t, value);
  return t;
}

Tensor arange(double start, double end, double step, Dtype dtype) {
  check(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
        "arange: expected finite start, end and a non-zero step, got ({}, {}, {})", start, end,
        step);
  check((end - start) / step >= 0,
        "arange: expected end on the side of start that step moves to, got ({}, {}, {})", start,
        end, step);
  const auto n = static_cast<std::int64_t>(std::ceil((end - start) / step));
  Tensor t(make_impl({n}, dtype, "arange"));
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i)
      p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor arange(double end, Dtype dtype) {
  return arange(0.0, end, 1.0, dtype);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  Tensor t(make_impl(shape, dtype_of<T>(), "from_vector"));
  check(static_cast<std::int64_t>(values.size()) == t.numel(),
        "from_vector: expected {} values for shape {}, got {}", t.numel(), shape, values.size());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&);

Tensor scalar_tensor(double value, Dtype dtype) {
  return full({}, value, dtype);
}
Tensor empty_like(const Tensor& t) {
  return empty(t.shape(), t.dtype());
}
Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), t.dtype());
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), t.dtype());
}
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, t.dtype());
}

Tensor copy_data(const Tensor& t, Dtype dtype) {
  Tensor out = empty(t.shape(), dtype);
  if (dtype == t.dtype()) {
    if (t.nbytes() > 0) std::memcpy(out.raw_data(), t.raw_data(), t.nbytes());
    return out;
  }
  dispatch_all(t.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_all(dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const S* src = static_cast<const S*>(t.raw_data());
      D* dst = static_cast<D*>(out.raw_data());
      for (std::int64_t i = 0; i < t.numel(); ++i) dst[i] = static_cast<D>(src[i]);
    });
  });
  return out;
}

Tensor alias_with_shape(const Tensor& t, const Shape& shape) {
  const std::int64_t n = checked_numel(shape, "view");
  check(n == t.numel(), "view: shape {} is invalid for input of size {} (shape {})", shape,
        t.numel(), t.shape());
  auto out = std::make_shared<TensorImpl>();
  out->storage = t.impl().storage;
  out->shape = shape;
  out->numel = n;
  out->dtype = t.dtype();
  return Tensor(std::move(out));
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const Shape s = broadcast_shapes(a.shape(), b.shape(), "allclose");
  check(s == a.shape() && s == b.shape(), "allclose: expected equal shapes, got {} and {}",
        a.shape(), b.shape());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  for (std::size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return false;
    if (va[i] == vb[i]) continue;  // equal infinities
    if (!(std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i]))) return false;
  }
  return true;
}

}  // namespace tapegrad
