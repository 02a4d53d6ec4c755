// safetensors checkpoints (https://github.com/huggingface/safetensors), the format PyTorch users
// share weights in:
//   8 bytes     N, the header length, little-endian uint64
//   N bytes     JSON: {"<name>": {"dtype": "F32"|"F64"|"I64", "shape": [...],
//                                  "data_offsets": [begin, end]}, ...,
//                      "__metadata__": {"<key>": "<value>", ...}}   (optional)
//   the rest    the tensors' bytes, little-endian, row-major; offsets are relative to this
//               buffer and tile it exactly, without gaps or overlaps.
// Loading checks every field against the file before allocating; saving replaces the file
// atomically, so a crash mid-save leaves the previous checkpoint intact.
#pragma once

#include <map>
#include <string>

#include "tapegrad/core/named_tensors.hpp"

namespace tapegrad {

/// Free-form string metadata stored in the header's "__metadata__".
using SafetensorsMetadata = std::map<std::string, std::string>;

/// A loaded file: tensors in the order of their data in the file, and the metadata.
struct SafetensorsFile {
  NamedTensors tensors;
  SafetensorsMetadata metadata;
};

/// Writes `tensors` (float32 as F32, float64 as F64, int64 as I64) in the given order.
/// Names must be unique, non-empty and not "__metadata__". An error if the directory is missing
/// or unwritable; the previous file at `path` survives any failure.
///   tg::save_safetensors("model.safetensors", net.state_dict(), {{"epoch", "3"}});
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafetensorsMetadata& metadata = {});

/// Reads and validates a file; any inconsistency is a tapegrad::Error naming the file and key.
SafetensorsFile read_safetensors(const std::string& path);

/// The tensors of a file, in file order.
///   net.load_state_dict(tg::load_safetensors("model.safetensors"));
NamedTensors load_safetensors(const std::string& path);

/// The tensors of a file, by name.
std::map<std::string, Tensor> load_safetensors_map(const std::string& path);

}  // namespace tapegrad
