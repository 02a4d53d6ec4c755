// Printing, in PyTorch's layout (torch/_tensor_str.py, default print options), with the shape and
// dtype always shown:
//   tensor([[ 0.0000, -1.5000],
//           [ 2.2500,  3.0000]], shape=[2, 2], dtype=float32)
// One format for every element, chosen from the nonzero finite values that are printed:
//   all integral: "1., 2." (or scientific if max/min > 1000 or max > 1e8);
//   else fixed with 4 decimals, or scientific ("1.0000e-05") if max/min > 1000, max > 1e8 or
//   min < 1e-4. int64 prints plainly. Lines wrap at 80 columns; above 1000 elements each dim
//   shows its first and last 3 entries around "...".
#include <cmath>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/core/print.hpp"

namespace tapegrad {
namespace {

constexpr int kPrecision = 4;
constexpr std::int64_t kThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

// The format shared by every printed element of one tensor.
class Formatter {
 public:
  // Float formats, chosen from the printed values.
  explicit Formatter(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values)
      if (std::isfinite(v) && v != 0.0) finite.push_back(v);
    if (finite.empty()) return;
    double lo = std::fabs(finite[0]), hi = lo;
    for (double v : finite) {
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || (!int_mode_ && lo < 1e-4);
    for (double v : finite) {
      const std::size_t n = sci_mode_   ? fmt::format("{:.{}e}", v, kPrecision).size()
                            : int_mode_ ? fmt::format("{:.0f}", v).size() + 1
                                        : fmt::format("{:.{}f}", v, kPrecision).size();
      width_ = std::max(width_, n);
    }
  }
  // int64: the widest printed value.
  explicit Formatter(const std::vector<std::int64_t>& values) {
    for (std::int64_t v : values) width_ = std::max(width_, fmt::formatted_size("{}", v));
  }

  std::size_t width() const { return width_; }

  std::string format(double v) const {
    if (sci_mode_) return pad(fmt::format("{:.{}e}", v, kPrecision));
    if (int_mode_) return pad(fmt::format("{:.0f}", v) + (std::isfinite(v) ? "." : ""));
    return pad(fmt::format("{:.{}f}", v, kPrecision));
  }
  std::string format(std::int64_t v) const { return pad(fmt::format("{}", v)); }

 private:
  std::string pad(std::string s) const {
    if (s.size() < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }

  bool int_mode_ = true;
  bool sci_mode_ = false;
  std::size_t width_ = 1;
};

// Walks a tensor with elements of type S in PyTorch's nesting, summarised or not; reads only the
// elements it prints, as double (floats) or int64.
template <class S>
struct Printer {
  using V = std::conditional_t<std::is_floating_point_v<S>, double, std::int64_t>;
  const Shape& shape;
  std::vector<std::int64_t> strides;
  const S* data;
  bool summarize;

  V value(std::int64_t offset) const { return static_cast<V>(data[offset]); }

  // The indices of dim d that are printed (-1 stands for the "..." between the edges).
  std::vector<std::int64_t> indices(std::size_t d) const {
    std::vector<std::int64_t> out;
    const std::int64_t n = shape[d];
    if (summarize && n > 2 * kEdgeItems) {
      for (std::int64_t i = 0; i < kEdgeItems; ++i) out.push_back(i);
      out.push_back(-1);
      for (std::int64_t i = n - kEdgeItems; i < n; ++i) out.push_back(i);
    } else {
      for (std::int64_t i = 0; i < n; ++i) out.push_back(i);
    }
    return out;
  }

  // The printed elements of the sub-tensor at `offset` spanning dims d.. (for the formatter).
  void collect(std::int64_t offset, std::size_t d, std::vector<V>& out) const {
    if (d == shape.size()) {
      out.push_back(value(offset));
      return;
    }
    for (std::int64_t i : indices(d))
      if (i >= 0) collect(offset + i * strides[d], d + 1, out);
  }

  std::string str(const Formatter& f, std::int64_t offset, std::size_t d, int indent) const {
    const std::size_t dims = shape.size() - d;
    if (dims == 0) return f.format(value(offset));
    std::vector<std::string> items;
    for (std::int64_t i : indices(d)) {
      if (i < 0)
        items.emplace_back(dims == 1 ? " ..." : "...");
      else
        items.push_back(dims == 1 ? f.format(value(offset + i))
                                  : str(f, offset + i * strides[d], d + 1, indent + 1));
    }
    std::string out = "[";
    if (dims == 1) {
      const auto per_line = static_cast<std::size_t>(
          std::max(1.0, std::floor(static_cast<double>(kLineWidth - indent) /
                                   static_cast<double>(f.width() + 2))));
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += i % per_line == 0 ? ",\n" + std::string(indent + 1, ' ') : ", ";
        out += items[i];
      }
    } else {
      const std::string sep = "," + std::string(dims - 1, '\n') + std::string(indent + 1, ' ');
      for (std::size_t i = 0; i < items.size(); ++i) out += (i > 0 ? sep : "") + items[i];
    }
    return out + "]";
  }
};

std::string values_str(const Tensor& t, int indent) {
  return dispatch_all(t.dtype(), [&](auto tag) {
    using S = decltype(tag);
    const Printer<S> printer{t.shape(), contiguous_strides(t.shape()), t.data<S>(),
                             t.numel() > kThreshold};
    std::vector<typename Printer<S>::V> shown;
    printer.collect(0, 0, shown);
    return printer.str(Formatter(shown), 0, 0, indent);
  });
}

GradFnNamer grad_fn_namer = nullptr;

// Appends ", suffix" to s, or ",\n<indent>suffix" when the line would pass 80 columns.
// NOTE: the length of the last line is counted as PyTorch counts it (one or two too many), so
// lines break exactly where PyTorch's do.
void add_suffixes(std::string& s, const std::vector<std::string>& suffixes, int indent) {
  const std::size_t newline = s.rfind('\n');
  std::size_t last_line = newline == std::string::npos ? s.size() + 2 : s.size() - newline + 1;
  for (const std::string& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > static_cast<std::size_t>(kLineWidth)) {
      s += ",\n" + std::string(indent, ' ') + suffix;
      last_line = indent + suffix.size();
    } else {
      s += ", " + suffix;
      last_line += suffix.size() + 2;
    }
  }
  s += ")";
}

}  // namespace

void set_grad_fn_namer(GradFnNamer namer) {
  grad_fn_namer = namer;
}

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  std::string s = prefix;
  s += t.numel() == 0 ? "[]" : values_str(t, indent);
  std::vector<std::string> suffixes{fmt::format("shape={}", t.shape()),
                                    fmt::format("dtype={}", t.dtype())};
  const std::string grad_fn = grad_fn_namer && !t.is_leaf() ? grad_fn_namer(t) : std::string();
  if (!grad_fn.empty())
    suffixes.push_back(fmt::format("grad_fn=<{}>", grad_fn));
  else if (t.requires_grad())
    suffixes.emplace_back("requires_grad=True");
  add_suffixes(s, suffixes, indent);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << to_string(t);
}

}  // namespace tapegrad
