// Micro-benchmarks of the layers, float32, at 1 and 2 threads. Arguments: shape..., threads
// (BM_Gemm: shapes and GEMM backend, single-threaded).
// Bytes (BatchNorm, ReLU) count the tensors each pass must read and write once; FLOPs (Conv2d)
// are 2*N*OC*OH*OW*C*KH*KW per GEMM-equivalent pass (forward 1, forward+backward 3).
// bench/compare_torch.py runs the same cases in PyTorch, interleaved, and prints ratios.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

namespace {

enum class Pass { Forward, ForwardBackward, EvalForward };

void clear_grads(tg::Tensor& x, nn::Module& m) {
  x.set_grad(tg::Tensor());
  for (tg::Tensor& p : m.parameters()) p.set_grad(tg::Tensor());
}

// Runs one forward (and backward) of module m on x per iteration.
void run(benchmark::State& state, nn::Module& m, const tg::Shape& shape, Pass pass) {
  tg::Generator gen(0);
  tg::Tensor x = tg::randn(shape, gen);
  if (pass == Pass::EvalForward) m.eval();
  tg::Tensor dy;
  if (pass == Pass::ForwardBackward) {
    x.requires_grad_();
    tg::NoGradGuard g;
    dy = tg::randn(m.forward(x).shape(), gen);
  }
  for (auto _ : state) {
    if (pass == Pass::ForwardBackward) {
      clear_grads(x, m);
      tg::Tensor y = m.forward(x);
      y.backward(dy);
    } else {
      tg::NoGradGuard no_grad;
      tg::Tensor y = m.forward(x);
      benchmark::DoNotOptimize(y.raw_data());
    }
  }
}

std::int64_t numel(const tg::Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

void BM_BatchNorm2d(benchmark::State& state, Pass pass) {
  const tg::Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
  tg::set_num_threads(static_cast<int>(state.range(4)));
  nn::BatchNorm2d bn{nn::BatchNorm2dOptions(shape[1])};
  run(state, bn, shape, pass);
  // forward: read x, write y; backward: read x, dy, write dx.
  const std::int64_t bytes = numel(shape) * 4 * (pass == Pass::ForwardBackward ? 5 : 2);
  state.SetBytesProcessed(state.iterations() * bytes);
}

void BM_Conv2d(benchmark::State& state, Pass pass) {
  const tg::Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
  const std::int64_t OC = state.range(4);
  tg::set_num_threads(static_cast<int>(state.range(5)));
  tg::Generator gen(1);
  nn::Conv2d conv(nn::Conv2dOptions(shape[1], OC, 3).padding(1), gen);
  run(state, conv, shape, pass);
  const double flops = 2.0 *
                       static_cast<double>(shape[0] * OC * shape[2] * shape[3] * shape[1] * 9) *
                       (pass == Pass::ForwardBackward ? 3 : 1);
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_ReLU(benchmark::State& state) {
  const tg::Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
  tg::set_num_threads(static_cast<int>(state.range(4)));
  nn::ReLU relu;
  run(state, relu, shape, Pass::ForwardBackward);
  // forward: read x, write y; backward: read y (mask), dy, write dx.
  state.SetBytesProcessed(state.iterations() * numel(shape) * 4 * 5);
}

void BM_MaxPool2d(benchmark::State& state) {
  const tg::Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
  tg::set_num_threads(static_cast<int>(state.range(4)));
  nn::MaxPool2d pool(nn::MaxPool2dOptions(2));
  run(state, pool, shape, Pass::ForwardBackward);
}

void BM_Linear(benchmark::State& state) {
  const tg::Shape shape{state.range(0), state.range(1)};
  tg::set_num_threads(static_cast<int>(state.range(3)));
  tg::Generator gen(2);
  nn::Linear linear(nn::LinearOptions(shape[1], state.range(2)), gen);
  run(state, linear, shape, Pass::ForwardBackward);
}

// C (M, N) = op(A) op(B) through blas::gemm<float>, 1 thread. Arguments: M, N, K, trans_a,
// trans_b, backend (0: tapegrad's AVX-512 GEMM, 1: OpenBLAS). Skipped where the CPU has no
// AVX-512 and backend 0 is asked for.
void BM_Gemm(benchmark::State& state) {
  const std::int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool ta = state.range(3) != 0, tb = state.range(4) != 0;
  const auto backend =
      state.range(5) == 0 ? tg::blas::GemmBackend::AVX512 : tg::blas::GemmBackend::OpenBLAS;
  try {
    tg::blas::set_gemm_backend(backend);
  } catch (const tg::Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  tg::Generator gen(3);
  const tg::Tensor A = tg::randn({M * K}, gen), B = tg::randn({K * N}, gen);
  tg::Tensor C = tg::zeros({M * N});
  for (auto _ : state) {
    tg::blas::gemm<float>(ta, tb, M, N, K, 1.0f, A.data<float>(), ta ? M : K, B.data<float>(),
                          tb ? K : N, 0.0f, C.data<float>(), N);
    benchmark::DoNotOptimize(C.raw_data());
  }
  tg::blas::set_gemm_backend(tg::blas::GemmBackend::Auto);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(M * N * K * state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  // The three products of the 64 -> 128 channel 3x3 convolution of a 7x7 image (forward NN,
  // weight gradient NT, input gradient TN), and a square one.
  for (int backend : {0, 1})
    for (auto s : std::vector<std::vector<std::int64_t>>{{128, 49, 576, 0, 0},
                                                         {128, 576, 49, 0, 1},
                                                         {576, 49, 128, 1, 0},
                                                         {512, 512, 512, 0, 0}})
      b->Args({s[0], s[1], s[2], s[3], s[4], backend});
}

void bn_shapes(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2})
    for (auto s : std::vector<std::vector<std::int64_t>>{
             {64, 16, 28, 28}, {64, 32, 14, 14}, {128, 64, 7, 7}, {8, 256, 56, 56}})
      b->Args({s[0], s[1], s[2], s[3], t});
}

void conv_shapes(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2})
    for (auto s : std::vector<std::vector<std::int64_t>>{{64, 1, 28, 28, 8},
                                                         {64, 8, 28, 28, 16},
                                                         {64, 16, 14, 14, 32},
                                                         {64, 32, 14, 14, 64},
                                                         {64, 64, 7, 7, 128}})
      b->Args({s[0], s[1], s[2], s[3], s[4], t});
}

}  // namespace

BENCHMARK_CAPTURE(BM_BatchNorm2d, TrainForward, Pass::Forward)->Apply(bn_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_BatchNorm2d, TrainForwardBackward, Pass::ForwardBackward)
    ->Apply(bn_shapes)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_BatchNorm2d, EvalForward, Pass::EvalForward)->Apply(bn_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, Forward, Pass::EvalForward)->Apply(conv_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, ForwardBackward, Pass::ForwardBackward)
    ->Apply(conv_shapes)
    ->UseRealTime();
BENCHMARK(BM_ReLU)->Args({64, 32, 28, 28, 1})->Args({64, 32, 28, 28, 2})->UseRealTime();
BENCHMARK(BM_MaxPool2d)
    ->Args({64, 16, 28, 28, 1})
    ->Args({64, 16, 28, 28, 2})
    ->Args({64, 32, 14, 14, 1})
    ->Args({64, 32, 14, 14, 2})
    ->UseRealTime();
BENCHMARK(BM_Linear)->Args({64, 1568, 10, 1})->Args({64, 1568, 10, 2})->UseRealTime();
BENCHMARK(BM_Gemm)->Apply(gemm_shapes)->UseRealTime();

BENCHMARK_MAIN();
