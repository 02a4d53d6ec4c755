// tapegrad::Error, the one exception type of the library, and the checks that raise it.
//
// Every message names the operation, what it expected and what it got:
//   conv2d: expected input with 1 channels, got [8, 3, 28, 28]
// Arguments are formatted only when the check fails, so checks cost nothing on the hot path.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace tapegrad {

/// The exception every tapegrad function throws on bad input or misuse.
///   try { conv.forward(x); } catch (const tapegrad::Error& e) { std::cerr << e.what(); }
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws tapegrad::Error with a formatted message.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

/// Throws tapegrad::Error with a formatted message unless `ok`.
template <class... Args>
void check(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) [[unlikely]]
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tapegrad
