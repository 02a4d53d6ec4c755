// Fully connected layer, x (N, IN), W (OUT, IN), b (OUT):
//   y  = x W^T + b         (N, OUT)
//   dx = dy W              (N, IN)
//   dW = dy^T x            (OUT, IN)
//   db = sum_n dy[n, :]    (OUT), accumulated in double, n ascending
// Each product is a row-major GEMM with transpose flags: nothing is transposed in memory.
// Parallel work is cut into blocks of fixed size (rows of x for y and dx, tiles of W for dW,
// column blocks for db), each computed by one task in a fixed order, so results are bitwise the
// same at any thread count.
#include "tapegrad/autograd/linear.hpp"

#include <algorithm>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/blas.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

constexpr std::int64_t kRowBlock = 256;  // rows of x (and y, dy, dx) per GEMM call
constexpr std::int64_t kTileOut = 64;    // dW tile: rows of W
constexpr std::int64_t kTileIn = 256;    // dW tile: columns of W
constexpr std::int64_t kColumns = 256;   // db: columns summed by one task

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// y (N, OUT) = x (N, IN) W^T + b; w (OUT, IN), b (OUT) or null.
template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, std::int64_t N, std::int64_t IN,
                    std::int64_t OUT) {
  parallel_for(0, ceil_div(N, kRowBlock), 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      const std::int64_t n0 = blk * kRowBlock, rows = std::min(kRowBlock, N - n0);
      T* yb = y + n0 * OUT;
      if (b != nullptr)
        for (std::int64_t r = 0; r < rows; ++r) std::copy_n(b, OUT, yb + r * OUT);
      blas::gemm<T>(false, true, rows, OUT, IN, T(1), x + n0 * IN, IN, w, IN,
                    b != nullptr ? T(1) : T(0), yb, OUT);
    }
  });
}

// dx (N, IN) = dy (N, OUT) W (OUT, IN).
template <class T>
void linear_backward_input(T* dx, const T* dy, const T* w, std::int64_t N, std::int64_t IN,
                           std::int64_t OUT) {
  parallel_for(0, ceil_div(N, kRowBlock), 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      const std::int64_t n0 = blk * kRowBlock, rows = std::min(kRowBlock, N - n0);
      blas::gemm<T>(false, false, rows, IN, OUT, T(1), dy + n0 * OUT, OUT, w, IN, T(0),
                    dx + n0 * IN, IN);
    }
  });
}

// dW (OUT, IN) = dy^T (OUT, N) x (N, IN); dy (N, OUT). One GEMM per (kTileOut, kTileIn) tile.
template <class T>
void linear_backward_weight(T* dw, const T* dy, const T* x, std::int64_t N, std::int64_t IN,
                            std::int64_t OUT) {
  const std::int64_t tiles_in = ceil_div(IN, kTileIn);
  parallel_for(0, ceil_div(OUT, kTileOut) * tiles_in, 1, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t o0 = (t / tiles_in) * kTileOut, i0 = (t % tiles_in) * kTileIn;
      const std::int64_t rows = std::min(kTileOut, OUT - o0), cols = std::min(kTileIn, IN - i0);
      blas::gemm<T>(true, false, rows, cols, N, T(1), dy + o0, OUT, x + i0, IN, T(0),
                    dw + o0 * IN + i0, IN);
    }
  });
}

// db (OUT) = sum over n of dy (N, OUT), in double, n ascending.
template <class T>
void linear_backward_bias(T* db, const T* dy, std::int64_t N, std::int64_t OUT) {
  parallel_for(0, ceil_div(OUT, kColumns), 1, [&](std::int64_t b0, std::int64_t b1) {
    double acc[kColumns];
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      const std::int64_t j0 = blk * kColumns, cols = std::min(kColumns, OUT - j0);
      std::fill_n(acc, cols, 0.0);
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = dy + n * OUT + j0;
        for (std::int64_t j = 0; j < cols; ++j) acc[j] += row[j];
      }
      for (std::int64_t j = 0; j < cols; ++j) db[j0 + j] = static_cast<T>(acc[j]);
    }
  });
}

void check_linear_args(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check(x.defined() && weight.defined(),
        "linear: expected a defined input and weight, got an undefined (empty) handle");
  check(weight.dim() == 2 && weight.size(0) > 0 && weight.size(1) > 0,
        "linear: expected weight [out_features, in_features] with non-zero sizes, got {}",
        weight.shape());
  const std::int64_t IN = weight.size(1), OUT = weight.size(0);
  check(x.dim() == 2 && x.size(1) == IN, "linear: expected input [N, {}], got {}", IN, x.shape());
  check(x.size(0) > 0, "linear: expected a non-empty batch, got input {}", x.shape());
  check(!bias.defined() || (bias.dim() == 1 && bias.size(0) == OUT),
        "linear: expected bias [{}], got {}", OUT, bias.defined() ? bias.shape() : Shape{});
  check(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
        "linear: expected input, weight and bias of one dtype, got input {} {}, weight {} {}{}",
        x.dtype(), x.shape(), weight.dtype(), weight.shape(),
        bias.defined() ? fmt::format(", bias {} {}", bias.dtype(), bias.shape()) : "");
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear_args(x, weight, bias);
  const std::int64_t N = x.size(0), IN = weight.size(1), OUT = weight.size(0);
  const bool has_bias = bias.defined();
  Tensor y = dispatch_floating(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    Tensor out = empty({N, OUT}, x.dtype());
    linear_forward(out.data<T>(), x.data<T>(), weight.data<T>(),
                   has_bias ? bias.data<T>() : nullptr, N, IN, OUT);
    return out;
  });
  if (autograd::needs_recording({&x, &weight, &bias})) {
    autograd::record(
        "linear", {x, weight, bias}, {&y}, {x, weight},
        [N, IN, OUT, has_bias](const autograd::BackwardArgs& g) {
          const Tensor& dy = g.grad_outputs[0];
          const Tensor& x = g.saved[0];
          const Tensor& w = g.saved[1];
          Tensor dx, dw, db;
          dispatch_floating(x.dtype(), "linear backward", [&](auto tag) {
            using T = decltype(tag);
            if (g.needs_grad(0)) {
              dx = empty({N, IN}, x.dtype());
              linear_backward_input(dx.data<T>(), dy.data<T>(), w.data<T>(), N, IN, OUT);
            }
            if (g.needs_grad(1)) {
              dw = empty({OUT, IN}, x.dtype());
              linear_backward_weight(dw.data<T>(), dy.data<T>(), x.data<T>(), N, IN, OUT);
            }
            if (has_bias && g.needs_grad(2)) {
              db = empty({OUT}, x.dtype());
              linear_backward_bias(db.data<T>(), dy.data<T>(), N, OUT);
            }
          });
          return std::vector<Tensor>{dx, dw, db};
        });
  }
  return y;
}

}  // namespace tapegrad
