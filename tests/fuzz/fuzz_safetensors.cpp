// libFuzzer target: tapegrad::read_safetensors on arbitrary bytes. A tapegrad::Error is the
// expected answer to bad input; anything else (a crash, a sanitizer report, std::bad_alloc or
// another exception escaping, e.g. from the JSON parser) is a finding.
#include "fuzz_input_file.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = tapegrad::fuzz::write_input_file(data, size, ".safetensors");
  try {
    const tapegrad::SafetensorsFile f = tapegrad::read_safetensors(path);
    std::size_t bytes = 0;
    for (const auto& [name, t] : f.tensors) bytes += t.nbytes();
    if (bytes > size) __builtin_trap();  // more data than the file holds
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
