#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/test_support.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/reduce.hpp"

namespace tg = tapegrad;

namespace {

struct PrintCase {
  std::string name, expect;
  tg::Tensor tensor;
};

tg::Dtype parse_dtype(const std::string& s) {
  if (s == "float32") return tg::kFloat32;
  if (s == "float64") return tg::kFloat64;
  EXPECT_EQ(s, "int64");
  return tg::kInt64;
}

// A tensor from a "values ..." line (float32 as its shortest text, float64 as repr, int64) or a
// "formula a b c d" line: x_i = ((i * a) % b - c) / d in double, then converted.
tg::Tensor make_tensor(tg::Dtype dtype, const tg::Shape& shape, const std::string& line) {
  std::istringstream in(line);
  std::string kind, word;
  in >> kind;
  std::vector<double> f64;
  std::vector<std::int64_t> i64;
  if (kind == "formula") {
    std::int64_t a, b, c;
    std::string d;
    in >> a >> b >> c >> d;
    const double div = std::strtod(d.c_str(), nullptr);
    std::int64_t n = 1;
    for (std::int64_t s : shape) n *= s;
    for (std::int64_t i = 0; i < n; ++i) f64.push_back(static_cast<double>((i * a) % b - c) / div);
    for (double v : f64) i64.push_back(static_cast<std::int64_t>(v));
  } else {
    while (in >> word) {
      if (dtype == tg::kFloat32) f64.push_back(std::strtof(word.c_str(), nullptr));
      if (dtype == tg::kFloat64) f64.push_back(std::strtod(word.c_str(), nullptr));
      if (dtype == tg::kInt64) i64.push_back(std::strtoll(word.c_str(), nullptr, 10));
    }
  }
  if (dtype == tg::kInt64) return tg::from_vector(i64, shape);
  if (dtype == tg::kFloat64) return tg::from_vector(f64, shape);
  return tg::from_vector(std::vector<float>(f64.begin(), f64.end()), shape);
}

std::vector<PrintCase> load_cases() {
  std::ifstream file(tg::testing::fixture("print/print_cases.txt"));
  EXPECT_TRUE(file.good()) << "missing fixture print/print_cases.txt";
  std::vector<PrintCase> cases;
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("case ", 0) != 0) continue;
    PrintCase c;
    c.name = line.substr(5);
    std::string dtype_line, shape_line, values_line, expect_line;
    std::getline(file, dtype_line);
    std::getline(file, shape_line);
    std::getline(file, values_line);
    std::getline(file, expect_line);
    EXPECT_EQ(expect_line, "expect") << c.name;
    std::istringstream shape_in(shape_line.substr(5));
    tg::Shape shape;
    for (std::int64_t s; shape_in >> s;) shape.push_back(s);
    c.tensor = make_tensor(parse_dtype(dtype_line.substr(6)), shape, values_line);
    std::string body;
    while (std::getline(file, line) && line != "end") body += (body.empty() ? "" : "\n") + line;
    c.expect = body;
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

TEST(Print, MatchesPyTorchOnFixtureCases) {
  const std::vector<PrintCase> cases = load_cases();
  ASSERT_GE(cases.size(), 30U);
  for (const PrintCase& c : cases)
    EXPECT_EQ(tg::to_string(c.tensor), c.expect) << "case " << c.name;
}

TEST(Print, FourDimensionalFloat32) {
  std::vector<float> v;
  for (int i = 0; i < 16; ++i) v.push_back(static_cast<float>((i - 2) * 0.70710678118654752));
  const tg::Tensor x = tg::from_vector(v, {2, 2, 2, 2});
  EXPECT_EQ(tg::to_string(x),
            "tensor([[[[-1.4142, -0.7071],\n"
            "          [ 0.0000,  0.7071]],\n"
            "\n"
            "         [[ 1.4142,  2.1213],\n"
            "          [ 2.8284,  3.5355]]],\n"
            "\n"
            "\n"
            "        [[[ 4.2426,  4.9497],\n"
            "          [ 5.6569,  6.3640]],\n"
            "\n"
            "         [[ 7.0711,  7.7782],\n"
            "          [ 8.4853,  9.1924]]]], shape=[2, 2, 2, 2], dtype=float32)");
}

TEST(Print, IntegralFloatsInt64AndScalars) {
  EXPECT_EQ(tg::to_string(tg::from_vector(std::vector<float>{1, 2, 3}, {3})),
            "tensor([1., 2., 3.], shape=[3], dtype=float32)");
  EXPECT_EQ(tg::to_string(tg::from_vector(std::vector<std::int64_t>{1, -20, 300}, {3})),
            "tensor([  1, -20, 300], shape=[3], dtype=int64)");
  EXPECT_EQ(tg::to_string(tg::scalar_tensor(0.5, tg::kFloat64)),
            "tensor(0.5000, shape=[], dtype=float64)");
  EXPECT_EQ(tg::to_string(tg::zeros({0, 3})), "tensor([], shape=[0, 3], dtype=float32)");
}

TEST(Print, ShowsRequiresGradAndGradFn) {
  tg::Tensor w = tg::from_vector(std::vector<float>{1.5f, -2.0f}, {2}).requires_grad_();
  EXPECT_EQ(tg::to_string(w),
            "tensor([ 1.5000, -2.0000], shape=[2], dtype=float32, requires_grad=True)");
  const tg::Tensor y = tg::mul(w, w);
  EXPECT_EQ(tg::to_string(y), "tensor([2.2500, 4.0000], shape=[2], dtype=float32, grad_fn=<mul>)");
  std::ostringstream os;
  os << tg::sum(y);
  EXPECT_EQ(os.str(), "tensor(6.2500, shape=[], dtype=float32, grad_fn=<sum>)");
}

TEST(Print, LongSuffixWrapsToItsOwnLine) {
  // 72 characters of values: the suffixes no longer fit on the line and move under it.
  std::vector<float> v(10, 1.25f);
  const tg::Tensor x = tg::from_vector(v, {10}).requires_grad_();
  EXPECT_EQ(tg::to_string(x),
            "tensor([1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500,\n"
            "        1.2500], shape=[10], dtype=float32, requires_grad=True)");
  const tg::Tensor y = tg::from_vector(std::vector<float>(9, 1.25f), {9});
  EXPECT_EQ(tg::to_string(y),
            "tensor([1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500, 1.2500],\n"
            "       shape=[9], dtype=float32)");
}
