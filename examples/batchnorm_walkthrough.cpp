// The BatchNorm2d walkthrough (seeds/batchnorm2d-walkthrough.md), step by step, on tapegrad:
// the input, the mean and variance of each channel, the normalised matrices, the same through
// nn::BatchNorm2d (affine=false), then train versus eval after a few training steps. Writes
// per-channel heatmaps of the input and output as PNGs.
//
//   batchnorm_walkthrough [--out DIR | DIR]      (default DIR: walkthrough_png)
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "batchnorm_walkthrough.hpp"

namespace {

namespace tg = tapegrad;

// One (H, W) plane of an (N, C, H, W) tensor, "[[-1.633, -0.816], [ 0.000,  0.816]]", rows
// separated by `row_sep`.
std::string format_plane(const tg::Tensor& t, std::int64_t n, std::int64_t c, const char* spec,
                         const std::string& row_sep = ", ") {
  const std::int64_t H = t.size(2), W = t.size(3);
  std::string s = "[";
  for (std::int64_t h = 0; h < H; ++h) {
    if (h > 0) s += row_sep;
    s += "[";
    for (std::int64_t w = 0; w < W; ++w) {
      if (w > 0) s += ", ";
      double v = t.at<double>({n, c, h, w});
      if (v == 0.0) v = 0.0;  // no "-0.000"
      s += fmt::format(fmt::runtime(spec), v);
    }
    s += "]";
  }
  return s + "]";
}

// Every plane, channel by channel, as the seed lays them out.
void print_planes(const tg::Tensor& t, const char* spec) {
  for (std::int64_t c = 0; c < t.size(1); ++c) {
    fmt::print("  Channel {}:\n", c);
    for (std::int64_t n = 0; n < t.size(0); ++n)
      fmt::print("    Image {}: {}\n", n, format_plane(t, n, c, spec, ",\n              "));
  }
}

std::string format_vector(const tg::Tensor& t) {
  std::vector<std::string> parts;
  for (double v : t.to_vector<double>()) parts.push_back(fmt::format("{:.5f}", v));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

// The values of channel c, image by image, in memory order.
std::vector<double> channel_values(const tg::Tensor& t, std::int64_t c) {
  std::vector<double> out;
  for (std::int64_t n = 0; n < t.size(0); ++n)
    for (std::int64_t h = 0; h < t.size(2); ++h)
      for (std::int64_t w = 0; w < t.size(3); ++w) out.push_back(t.at<double>({n, c, h, w}));
  return out;
}

// Diverging colormap: t in [-1, 1] from blue through white to red.
std::array<unsigned char, 3> diverging(double t) {
  t = std::clamp(t, -1.0, 1.0);
  const std::array<double, 3> white{247, 247, 247}, blue{33, 102, 172}, red{178, 24, 43};
  const std::array<double, 3>& end = t < 0 ? blue : red;
  const double a = std::abs(t);
  std::array<unsigned char, 3> rgb{};
  for (int k = 0; k < 3; ++k)
    rgb[k] = static_cast<unsigned char>(std::lround(white[k] + a * (end[k] - white[k])));
  return rgb;
}

// Channel c of t as a heatmap: the images side by side, each value a cell x cell square,
// coloured by (value - centre) / half_range.
void write_heatmap(const std::filesystem::path& path, const tg::Tensor& t, std::int64_t c,
                   double centre, double half_range) {
  constexpr int cell = 64, gap = 16;
  const int N = static_cast<int>(t.size(0)), H = static_cast<int>(t.size(2)),
            W = static_cast<int>(t.size(3));
  const int width = N * W * cell + (N - 1) * gap, height = H * cell;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * height * 3, 255);
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < W; ++w) {
        const auto rgb = diverging((t.at<double>({n, c, h, w}) - centre) / half_range);
        const int x0 = n * (W * cell + gap) + w * cell, y0 = h * cell;
        for (int y = y0; y < y0 + cell; ++y)
          for (int x = x0; x < x0 + cell; ++x)
            std::copy(rgb.begin(), rgb.end(), pixels.begin() + (std::size_t(y) * width + x) * 3);
      }
  tg::check(stbi_write_png(path.string().c_str(), width, height, 3, pixels.data(), width * 3) != 0,
            "batchnorm_walkthrough: could not write {}", path.string());
  fmt::print("  wrote {}\n", path.string());
}

int run(const std::filesystem::path& out_dir) {
  const tg::Tensor x = walkthrough::seed_input();
  const std::int64_t C = x.size(1);

  fmt::print("Input x, shape {} (N, C, H, W):\n", x.shape());
  print_planes(x, "{:.0f}");

  const walkthrough::ManualSteps m = walkthrough::manual_steps(x);
  fmt::print("\nStep 1: mean per channel, over N*H*W = 8 values\n");
  for (std::int64_t c = 0; c < C; ++c)
    fmt::print("  Channel {}: ({}) / 8 = {:g} / 8 = {:g}\n", c,
               fmt::join(channel_values(x, c), " + "), m.sum[c], m.mean[c]);

  fmt::print(
      "\nStep 2: variance per channel (biased: divided by N*H*W, as BatchNorm normalises)\n");
  for (std::int64_t c = 0; c < C; ++c) {
    std::vector<std::string> terms;
    for (double v : channel_values(x, c))
      terms.push_back(fmt::format("({:g}-{:g})^2", v, m.mean[c]));
    fmt::print("  Channel {}: [{}] / 8 = {:g} / 8 = {:g}\n", c, fmt::join(terms, " + "),
               m.squared_dev[c], m.var[c]);
  }
  fmt::print(
      "  (The seed writes 2.0 here, but the squared deviations 4+1+0+1+1+0+1+4 sum to 12: the\n"
      "   variance is 1.5, and PyTorch's nn.BatchNorm2d gives the values below, not -1.414 ...)\n");

  fmt::print("\nStep 3: normalise, x_hat = (x - mean) / sqrt(var + eps), eps = 1e-5\n");
  for (std::int64_t c = 0; c < C; ++c) {
    fmt::print("  Channel {}: sqrt({:g} + 1e-5) = {:.6f}\n", c, m.var[c], m.denom[c]);
    for (std::int64_t n = 0; n < x.size(0); ++n)
      fmt::print("    x_hat[{}, {}] = ({} - {:g}) / {:.4f} = {}\n", n, c,
                 format_plane(x, n, c, "{:.0f}"), m.mean[c], m.denom[c],
                 format_plane(m.normalised, n, c, "{:.3f}"));
  }

  fmt::print("\nStep 4: normalised output matrices\n");
  print_planes(m.normalised, "{:6.3f}");

  tg::nn::BatchNorm2d bn = walkthrough::seed_module();
  const tg::Tensor y = bn.forward(x);
  double worst = 0.0;
  const std::vector<double> yv = y.to_vector<double>(), mv = m.normalised.to_vector<double>();
  for (std::size_t i = 0; i < yv.size(); ++i) worst = std::max(worst, std::abs(yv[i] - mv[i]));
  fmt::print("\nStep 5: the same through the module, {}\n", bn.name());
  print_planes(y, "{:9.6f}");
  fmt::print("  max |module - manual| = {:.2e} (float32 output)\n", worst);
  std::cout << "\n  print(y), as PyTorch prints it:\n" << y << "\n";

  constexpr int steps = 3;
  const walkthrough::TrainEval te = walkthrough::train_then_eval(x, steps);
  fmt::print("\nTrain versus eval: after {} training passes on x (momentum 0.1)\n", te.batches);
  fmt::print("  running_mean = {}   (= (1 - 0.9^3) * batch mean)\n",
             format_vector(te.running_mean));
  fmt::print("  running_var  = {}   (unbiased batch variance 12/7 = 1.71429 blended into 1)\n",
             format_vector(te.running_var));
  fmt::print("  train mode (batch statistics):\n");
  print_planes(te.train_output, "{:6.3f}");
  fmt::print("  eval mode (running statistics):\n");
  print_planes(te.eval_output, "{:6.3f}");

  fmt::print("\nHeatmaps (blue < centre < red; input centred on the channel mean):\n");
  std::filesystem::create_directories(out_dir);
  for (std::int64_t c = 0; c < C; ++c) {
    double in_range = 0.0, out_range = 0.0;
    for (double v : channel_values(x, c)) in_range = std::max(in_range, std::abs(v - m.mean[c]));
    for (double v : channel_values(y, c)) out_range = std::max(out_range, std::abs(v));
    write_heatmap(out_dir / fmt::format("channel{}_input.png", c), x, c, m.mean[c], in_range);
    write_heatmap(out_dir / fmt::format("channel{}_output.png", c), y, c, 0.0, out_range);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path out_dir = "walkthrough_png";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      fmt::print("usage: {} [--out DIR | DIR]   (default DIR: walkthrough_png)\n", argv[0]);
      return 0;
    }
    if (arg == "--out" && i + 1 < argc)
      out_dir = argv[++i];
    else if (arg.rfind("--", 0) != 0)
      out_dir = arg;
    else {
      fmt::print(stderr, "batchnorm_walkthrough: unknown option {} (try --help)\n", arg);
      return 2;
    }
  }
  try {
    return run(out_dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "batchnorm_walkthrough: {}\n", e.what());
    return 1;
  }
}
