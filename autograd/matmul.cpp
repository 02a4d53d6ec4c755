// Matrix product, per batch b:  Z_b (M,N) = A_b (M,K) B_b (K,N)
//   dA_b = dZ_b B_b^T   (M,N)(N,K)
//   dB_b = A_b^T dZ_b   (K,M)(M,N)
// The transposes are GEMM flags, never materialised. A single B for a batch of A is folded into
// one GEMM over B*M rows, so its gradient sums over the batch inside that GEMM. Vectors are read
// as (1,K) on the left and (K,1) on the right.
#include "tapegrad/autograd/matmul.hpp"

#include <algorithm>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/blas.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {
namespace {

using autograd::BackwardArgs;
using Grads = std::vector<Tensor>;

// Multiply-adds per task when one product's rows are split over threads.
constexpr std::int64_t kGemmWork = std::int64_t{1} << 18;

struct MatmulDims {
  std::int64_t batch = 1, M = 1, K = 1, N = 1;
  bool batched_b = false;  // b holds one matrix per batch (else one for all)
  Shape out;
};

MatmulDims matmul_dims(const Shape& a, const Shape& b) {
  const std::size_t ra = a.size(), rb = b.size();
  check(ra >= 1 && ra <= 3 && rb >= 1 && rb <= 3,
        "matmul: expected 1-D, 2-D or 3-D tensors, got shapes {} and {}", a, b);
  check(rb < 3 || ra == 3,
        "matmul: expected a 3-D left operand for a 3-D right one, got shapes {} and {}", a, b);
  MatmulDims d;
  const std::int64_t ka = a[ra - 1], kb = rb == 1 ? b[0] : b[rb - 2];
  check(ka == kb, "matmul: expected matching inner sizes, got shapes {} and {} ({} vs {})", a, b,
        ka, kb);
  d.K = ka;
  d.N = rb == 1 ? 1 : b[rb - 1];
  if (ra == 3 && rb == 3) {
    check(a[0] == b[0], "matmul: expected equal batch sizes, got shapes {} and {}", a, b);
    d.batch = a[0];
    d.M = a[1];
    d.batched_b = true;
  } else {
    d.M = ra == 1 ? 1 : a[0] * (ra == 3 ? a[1] : 1);  // a batch of a with one b: fold into M
  }
  d.out.assign(a.begin(), a.end() - 1);
  if (rb >= 2) d.out.push_back(d.N);
  return d;
}

// C (batch, M, N) = op(A) op(B) for each batch, inner dimension K; op(X) = X^T where its flag is
// set (A then stored (K,M), B stored (N,K)). sa, sb: batch strides (0: one matrix for all).
// With a single product, rows of C are split into blocks fixed by the shape alone, so results do
// not depend on the thread count.
template <class T>
void gemm_batched(bool ta, bool tb, std::int64_t batch, std::int64_t M, std::int64_t N,
                  std::int64_t K, const T* A, std::int64_t sa, const T* B, std::int64_t sb, T* C) {
  const std::int64_t lda = ta ? M : K, ldb = tb ? K : N, sc = M * N;
  if (K == 0) {
    std::fill(C, C + batch * sc, T(0));
    return;
  }
  if (batch > 1) {
    parallel_for(0, batch, 1, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b)
        blas::gemm(ta, tb, M, N, K, T(1), A + b * sa, lda, B + b * sb, ldb, T(0), C + b * sc, N);
    });
    return;
  }
  const std::int64_t rows =
      std::max<std::int64_t>(16, kGemmWork / std::max<std::int64_t>(1, N * K));
  parallel_for(0, M, rows, [&](std::int64_t m0, std::int64_t m1) {
    blas::gemm(ta, tb, m1 - m0, N, K, T(1), ta ? A + m0 : A + m0 * lda, lda, B, ldb, T(0),
               C + m0 * N, N);
  });
}

// z (batch, M, N) = a (batch, M, K) b (batch or 1, K, N)
Tensor matmul_forward(const Tensor& a, const Tensor& b, const MatmulDims& d) {
  Tensor z = empty(d.out, a.dtype());
  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    gemm_batched<T>(false, false, d.batch, d.M, d.N, d.K, a.data<T>(), d.M * d.K, b.data<T>(),
                    d.batched_b ? d.K * d.N : 0, z.data<T>());
  });
  return z;
}

// dz (batch, M, N) -> da = dz b^T (batch, M, K), db = a^T dz (batch or 1, K, N)
Grads matmul_backward(const Tensor& dz, const Tensor& a, const Tensor& b, const MatmulDims& d,
                      bool need_a, bool need_b) {
  Tensor da, db;
  dispatch_floating(dz.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t sb = d.batched_b ? d.K * d.N : 0;
    if (need_a) {
      da = empty(a.shape(), a.dtype());
      gemm_batched<T>(false, true, d.batch, d.M, d.K, d.N, dz.data<T>(), d.M * d.N, b.data<T>(), sb,
                      da.data<T>());
    }
    if (need_b) {
      db = empty(b.shape(), b.dtype());
      gemm_batched<T>(true, false, d.batch, d.K, d.N, d.M, a.data<T>(), d.M * d.K, dz.data<T>(),
                      d.M * d.N, db.data<T>());
    }
  });
  return {da, db};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check(a.dtype() == b.dtype(), "matmul: expected tensors of the same dtype, got {} {} and {} {}",
        a.dtype(), a.shape(), b.dtype(), b.shape());
  const MatmulDims d = matmul_dims(a.shape(), b.shape());
  Tensor z = matmul_forward(a, b, d);
  if (autograd::needs_recording({&a, &b})) {
    autograd::record("matmul", {a, b}, {&z}, {a, b}, [d](const BackwardArgs& g) {
      return matmul_backward(g.grad_outputs[0], g.saved[0], g.saved[1], d, g.needs_grad(0),
                             g.needs_grad(1));
    });
  }
  return z;
}

}  // namespace tapegrad
