// libFuzzer target: tapegrad::load_npy on arbitrary bytes. A tapegrad::Error is the expected
// answer to bad input; anything else (a crash, a sanitizer report, std::bad_alloc or another
// exception escaping) is a finding.
#include "fuzz_input_file.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = tapegrad::fuzz::write_input_file(data, size, ".npy");
  try {
    const tapegrad::Tensor t = tapegrad::load_npy(path);
    if (t.nbytes() > size) __builtin_trap();  // more data than the file holds
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
