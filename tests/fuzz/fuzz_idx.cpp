// libFuzzer target: tapegrad::read_idx on arbitrary bytes (raw or gzip IDX). A tapegrad::Error
// is the expected answer to bad input; anything else (a crash, a sanitizer report, std::bad_alloc
// or another exception escaping) is a finding.
#include "fuzz_input_file.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = tapegrad::fuzz::write_input_file(data, size, ".idx");
  try {
    const tapegrad::IdxArray a = tapegrad::read_idx(path);
    std::size_t numel = 1;
    for (std::int64_t d : a.dims) numel *= static_cast<std::size_t>(d);
    if (a.dims.empty() || numel != a.data.size()) __builtin_trap();  // contract broken
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
