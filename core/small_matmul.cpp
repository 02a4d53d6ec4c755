// Small-dimension matrix products (see small_matmul.hpp).
//
// The kernels are written once, on GCC/Clang vector extensions (`T __attribute__((vector_size))`,
// which lower to whatever the target has), as templates on the vector width; thin wrappers compile
// them for AVX-512 and AVX2 with the `target` attribute, and the widest the CPU supports is picked
// at run time. Nothing here needs the library to be built with -march flags.
//
// matmul_small_inner keeps an MB x NV block of C in registers (MB rows, NV vectors of P) and walks
// the K inner products, broadcasting A[m][k] and loading B's row k once per block:
//   acc[i][j] += A[m+i][k] * B[k][p + j*L ...]   for k = 0..K-1
// matmul_nt_accumulate keeps MB x NB dot products in vector registers, walks P one vector at a
// time, then adds each vector's lanes in order.
#include "tapegrad/core/small_matmul.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TAPEGRAD_SMALL_MATMUL_X86 1
#endif

namespace tapegrad::kernels {
namespace {

// A vector of Bytes / sizeof(T) lanes and how many accumulators fit the register file.
template <class T, int Bytes>
struct Simd {
  typedef T vec __attribute__((vector_size(Bytes)));
  // The same vector at the element's alignment, to load from and store to any T*.
  typedef T unaligned __attribute__((vector_size(Bytes), aligned(alignof(T)), may_alias));
  static constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  static constexpr int accumulators = Bytes == 64 ? 16 : 8;  // 32 zmm vs 16 ymm/xmm registers
};

template <class V, class T>
[[gnu::always_inline]] inline void load(V& v, const T* p) {
  using U = typename Simd<T, sizeof(V)>::unaligned;
  v = *reinterpret_cast<const U*>(p);
}
template <class V, class T>
[[gnu::always_inline]] inline void store(T* p, const V& v) {
  using U = typename Simd<T, sizeof(V)>::unaligned;
  *reinterpret_cast<U*>(p) = v;
}

// The sum of v's lanes, by halving (lo + hi) down to 16 bytes, then lane by lane: a fixed order.
template <class T, int Bytes>
[[gnu::always_inline]] inline T lane_sum(const typename Simd<T, Bytes>::vec& v) {
  if constexpr (Bytes > 16) {
    using half = typename Simd<T, Bytes / 2>::vec;
    half lo, hi;
    std::memcpy(&lo, &v, sizeof(half));
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(half), sizeof(half));
    return lane_sum<T, Bytes / 2>(lo + hi);
  } else {
    T sum = v[0];
    for (int l = 1; l < Simd<T, Bytes>::lanes; ++l) sum += v[l];
    return sum;
  }
}

// C[i][j*L ..] = start[i] + sum_k A[i][k] * B[k][j*L ..] for i < MB rows and NV vectors of L
// columns; B and C have row strides ldb and ldc.
template <class T, int Bytes, int MB, int NV>
[[gnu::always_inline]] inline void inner_block(T* C, std::int64_t ldc, const T* A,
                                               std::int64_t a_row, std::int64_t a_col, const T* B,
                                               std::int64_t ldb, std::int64_t K,
                                               const T (&start)[MB]) {
  using vec = typename Simd<T, Bytes>::vec;
  constexpr int L = Simd<T, Bytes>::lanes;
  vec acc[MB][NV];
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = vec{} + start[i];
  for (std::int64_t k = 0; k < K; ++k) {
    vec b[NV];
    for (int j = 0; j < NV; ++j) load(b[j], B + k * ldb + j * L);
    for (int i = 0; i < MB; ++i) {
      const vec a = vec{} + A[i * a_row + k * a_col];
      for (int j = 0; j < NV; ++j) acc[i][j] += a * b[j];
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NV; ++j) store(C + i * ldc + j * L, acc[i][j]);
}

// Rows [0, MB) of C (.., P) = init + A * B, with C, A and init already offset to the first row.
// tail: B's last P % L columns, zero-padded to (K, L), or null (then they are done one by one).
template <class T, int Bytes, int MB>
[[gnu::always_inline]] inline void small_inner_rows(T* C, const T* A, std::int64_t a_row,
                                                    std::int64_t a_col, const T* B, std::int64_t K,
                                                    std::int64_t P, const T* init, const T* tail) {
  constexpr int L = Simd<T, Bytes>::lanes;
  constexpr int NV = std::min(8, Simd<T, Bytes>::accumulators / MB);
  T start[MB];
  for (int i = 0; i < MB; ++i) start[i] = init != nullptr ? init[i] : T(0);
  std::int64_t p = 0;
  for (; p + NV * L <= P; p += NV * L)
    inner_block<T, Bytes, MB, NV>(C + p, P, A, a_row, a_col, B + p, P, K, start);
  if constexpr (NV > 2)
    for (; p + 2 * L <= P; p += 2 * L)
      inner_block<T, Bytes, MB, 2>(C + p, P, A, a_row, a_col, B + p, P, K, start);
  for (; p + L <= P; p += L)
    inner_block<T, Bytes, MB, 1>(C + p, P, A, a_row, a_col, B + p, P, K, start);
  if (p == P) return;
  if (tail != nullptr) {
    T out[MB][L];
    inner_block<T, Bytes, MB, 1>(out[0], L, A, a_row, a_col, tail, L, K, start);
    for (int i = 0; i < MB; ++i) std::copy(out[i], out[i] + (P - p), C + i * P + p);
    return;
  }
  for (; p < P; ++p)
    for (int i = 0; i < MB; ++i) {
      T sum = start[i];
      for (std::int64_t k = 0; k < K; ++k) sum += A[i * a_row + k * a_col] * B[k * P + p];
      C[i * P + p] = sum;
    }
}

template <class T, int Bytes>
[[gnu::always_inline]] inline void small_inner(T* C, const T* A, std::int64_t a_row,
                                               std::int64_t a_col, const T* B, std::int64_t M,
                                               std::int64_t K, std::int64_t P, const T* init) {
  // The last P % L columns of B, zero-padded to whole vectors, so they run vectorised too.
  constexpr int L = Simd<T, Bytes>::lanes;
  const std::int64_t p_tail = P - P % L;
  T tail_buffer[kSmallMatmulDim * L];
  const T* tail = nullptr;
  if (p_tail < P && K <= kSmallMatmulDim) {
    std::fill_n(tail_buffer, K * L, T(0));
    for (std::int64_t k = 0; k < K; ++k)
      std::copy(B + k * P + p_tail, B + (k + 1) * P, tail_buffer + k * L);
    tail = tail_buffer;
  }
  auto at = [&](std::int64_t m) { return init != nullptr ? init + m : nullptr; };
  std::int64_t m = 0;
  for (; m + 4 <= M; m += 4)
    small_inner_rows<T, Bytes, 4>(C + m * P, A + m * a_row, a_row, a_col, B, K, P, at(m), tail);
  if (m + 2 <= M) {
    small_inner_rows<T, Bytes, 2>(C + m * P, A + m * a_row, a_row, a_col, B, K, P, at(m), tail);
    m += 2;
  }
  if (m < M)
    small_inner_rows<T, Bytes, 1>(C + m * P, A + m * a_row, a_row, a_col, B, K, P, at(m), tail);
}

// C[i][j] (row stride ldc) += dot(A row i, B row j) for i < MB, j < NB; rows of length P.
template <class T, int Bytes, int MB, int NB>
[[gnu::always_inline]] inline void dot_block(T* C, std::int64_t ldc, const T* A, const T* B,
                                             std::int64_t P) {
  using vec = typename Simd<T, Bytes>::vec;
  constexpr int L = Simd<T, Bytes>::lanes;
  vec acc[MB][NB] = {};
  std::int64_t p = 0;
  for (; p + L <= P; p += L) {
    vec a[MB], b[NB];
    for (int i = 0; i < MB; ++i) load(a[i], A + i * P + p);
    for (int j = 0; j < NB; ++j) load(b[j], B + j * P + p);
    for (int i = 0; i < MB; ++i)
      for (int j = 0; j < NB; ++j) acc[i][j] += a[i] * b[j];
  }
  if (p < P) {  // the last P % L elements, as one vector padded with zeros
    T pad[MB + NB][L] = {};
    for (int i = 0; i < MB; ++i) std::copy(A + i * P + p, A + i * P + P, pad[i]);
    for (int j = 0; j < NB; ++j) std::copy(B + j * P + p, B + j * P + P, pad[MB + j]);
    vec a[MB], b[NB];
    for (int i = 0; i < MB; ++i) load(a[i], pad[i]);
    for (int j = 0; j < NB; ++j) load(b[j], pad[MB + j]);
    for (int i = 0; i < MB; ++i)
      for (int j = 0; j < NB; ++j) acc[i][j] += a[i] * b[j];
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) C[i * ldc + j] += lane_sum<T, Bytes>(acc[i][j]);
}

// Rows [0, MB) of C (.., N) += A * B^T, with C and A already offset to the first row.
template <class T, int Bytes, int MB>
[[gnu::always_inline]] inline void nt_rows(T* C, const T* A, const T* B, std::int64_t N,
                                           std::int64_t P) {
  constexpr int NB = 4;
  std::int64_t n = 0;
  for (; n + NB <= N; n += NB) dot_block<T, Bytes, MB, NB>(C + n, N, A, B + n * P, P);
  for (; n < N; ++n) dot_block<T, Bytes, MB, 1>(C + n, N, A, B + n * P, P);
}

template <class T, int Bytes>
[[gnu::always_inline]] inline void nt_accumulate(T* C, const T* A, const T* B, std::int64_t M,
                                                 std::int64_t N, std::int64_t P) {
  constexpr int MB = Bytes == 64 ? 4 : 2;  // MB x 4 accumulators, plus MB + 4 loaded vectors
  std::int64_t m = 0;
  for (; m + MB <= M; m += MB) nt_rows<T, Bytes, MB>(C + m * N, A + m * P, B, N, P);
  for (; m < M; ++m) nt_rows<T, Bytes, 1>(C + m * N, A + m * P, B, N, P);
}

// sums[m] += the sum of row m of A (M, P), in double: kChains vectors of double partial sums
// (WL lanes each: one register), combined in a fixed order, then the lanes, then the last
// elements one by one.
template <class T, int Bytes>
[[gnu::always_inline]] inline void row_sums(double* sums, const T* A, std::int64_t M,
                                            std::int64_t P) {
  using wide = typename Simd<double, Bytes>::vec;
  constexpr int WL = Simd<double, Bytes>::lanes;
  using narrow = typename Simd<T, WL* static_cast<int>(sizeof(T))>::vec;  // WL elements of T
  constexpr int kChains = 4;  // independent additions in flight
  for (std::int64_t m = 0; m < M; ++m) {
    const T* a = A + m * P;
    wide acc[kChains] = {};
    std::int64_t p = 0;
    for (; p + kChains * WL <= P; p += kChains * WL)
      for (int c = 0; c < kChains; ++c) {
        narrow v;
        load(v, a + p + c * WL);
        acc[c] += __builtin_convertvector(v, wide);
      }
    for (; p + WL <= P; p += WL) {
      narrow v;
      load(v, a + p);
      acc[0] += __builtin_convertvector(v, wide);
    }
    double sum = lane_sum<double, Bytes>((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (; p < P; ++p) sum += static_cast<double>(a[p]);
    sums[m] += sum;
  }
}

// ---- one instantiation per instruction set ----

#ifdef TAPEGRAD_SMALL_MATMUL_X86
template <class T>
__attribute__((target("avx512f,avx2,fma"))) void small_inner_avx512(T* C, const T* A,
                                                                    std::int64_t a_row,
                                                                    std::int64_t a_col, const T* B,
                                                                    std::int64_t M, std::int64_t K,
                                                                    std::int64_t P, const T* init) {
  small_inner<T, 64>(C, A, a_row, a_col, B, M, K, P, init);
}
template <class T>
__attribute__((target("avx2,fma"))) void small_inner_avx2(T* C, const T* A, std::int64_t a_row,
                                                          std::int64_t a_col, const T* B,
                                                          std::int64_t M, std::int64_t K,
                                                          std::int64_t P, const T* init) {
  small_inner<T, 32>(C, A, a_row, a_col, B, M, K, P, init);
}
template <class T>
__attribute__((target("avx512f,avx2,fma"))) void nt_accumulate_avx512(T* C, const T* A, const T* B,
                                                                      std::int64_t M,
                                                                      std::int64_t N,
                                                                      std::int64_t P) {
  nt_accumulate<T, 64>(C, A, B, M, N, P);
}
template <class T>
__attribute__((target("avx2,fma"))) void nt_accumulate_avx2(T* C, const T* A, const T* B,
                                                            std::int64_t M, std::int64_t N,
                                                            std::int64_t P) {
  nt_accumulate<T, 32>(C, A, B, M, N, P);
}
template <class T>
__attribute__((target("avx512f,avx2,fma"))) void row_sums_avx512(double* sums, const T* A,
                                                                 std::int64_t M, std::int64_t P) {
  row_sums<T, 64>(sums, A, M, P);
}
template <class T>
__attribute__((target("avx2,fma"))) void row_sums_avx2(double* sums, const T* A, std::int64_t M,
                                                       std::int64_t P) {
  row_sums<T, 32>(sums, A, M, P);
}
#endif

int detect_vector_bytes() {
#ifdef TAPEGRAD_SMALL_MATMUL_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 64;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 32;
#endif
  return 16;
}

std::atomic<int> forced_vector_bytes{0};

}  // namespace

int small_matmul_vector_bytes() {
  static const int detected = detect_vector_bytes();
  const int forced = forced_vector_bytes.load(std::memory_order_relaxed);
  return forced == 0 ? detected : std::min(forced, detected);
}

void set_small_matmul_vector_bytes(int bytes) {
  forced_vector_bytes.store(bytes >= 64   ? 64
                            : bytes >= 32 ? 32
                            : bytes > 0   ? 16
                                          : 0,
                            std::memory_order_relaxed);
}

template <class T>
void matmul_small_inner(T* C, const T* A, std::int64_t a_row, std::int64_t a_col, const T* B,
                        std::int64_t M, std::int64_t K, std::int64_t P, const T* init) {
  switch (small_matmul_vector_bytes()) {
#ifdef TAPEGRAD_SMALL_MATMUL_X86
    case 64:
      return small_inner_avx512(C, A, a_row, a_col, B, M, K, P, init);
    case 32:
      return small_inner_avx2(C, A, a_row, a_col, B, M, K, P, init);
#endif
    default:
      return small_inner<T, 16>(C, A, a_row, a_col, B, M, K, P, init);
  }
}

template <class T>
void matmul_nt_accumulate(T* C, const T* A, const T* B, std::int64_t M, std::int64_t N,
                          std::int64_t P) {
  switch (small_matmul_vector_bytes()) {
#ifdef TAPEGRAD_SMALL_MATMUL_X86
    case 64:
      return nt_accumulate_avx512(C, A, B, M, N, P);
    case 32:
      return nt_accumulate_avx2(C, A, B, M, N, P);
#endif
    default:
      return nt_accumulate<T, 16>(C, A, B, M, N, P);
  }
}

template <class T>
void row_sums_accumulate(double* sums, const T* A, std::int64_t M, std::int64_t P) {
  switch (small_matmul_vector_bytes()) {
#ifdef TAPEGRAD_SMALL_MATMUL_X86
    case 64:
      return row_sums_avx512(sums, A, M, P);
    case 32:
      return row_sums_avx2(sums, A, M, P);
#endif
    default:
      return row_sums<T, 16>(sums, A, M, P);
  }
}

template void matmul_small_inner<float>(float*, const float*, std::int64_t, std::int64_t,
                                        const float*, std::int64_t, std::int64_t, std::int64_t,
                                        const float*);
template void matmul_small_inner<double>(double*, const double*, std::int64_t, std::int64_t,
                                         const double*, std::int64_t, std::int64_t, std::int64_t,
                                         const double*);
template void matmul_nt_accumulate<float>(float*, const float*, const float*, std::int64_t,
                                          std::int64_t, std::int64_t);
template void matmul_nt_accumulate<double>(double*, const double*, const double*, std::int64_t,
                                           std::int64_t, std::int64_t);

template void row_sums_accumulate<float>(double*, const float*, std::int64_t, std::int64_t);
template void row_sums_accumulate<double>(double*, const double*, std::int64_t, std::int64_t);

}  // namespace tapegrad::kernels
