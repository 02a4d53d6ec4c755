#!/usr/bin/env bash
# Regenerates the committed seed corpora corpus/<parser>/: a few small valid files per parser and
# truncated copies of them (truncation is the commonest real-world damage).
#   tests/fuzz/make_corpus.sh [BUILD_DIR]   # BUILD_DIR (default build-fuzz) holds make_seed_checkpoint
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_dir=$(cd "$here/../.." && realpath -m "${1:-build-fuzz}")
corpus=$here/corpus
rm -rf "$corpus"
mkdir -p "$corpus"/{idx,npy,safetensors,checkpoint}

/usr/bin/python3 - "$corpus" <<'PY'
import gzip, json, struct, sys
import numpy as np

corpus = sys.argv[1]

def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)

# IDX: labels (rank 1), images (rank 3), empty, each raw and gzip-compressed.
files = {
    "labels": idx([5], [7, 2, 1, 0, 4]),
    "images": idx([2, 3, 4], range(24)),
    "empty": idx([0, 28, 28], []),
}
for name, data in files.items():
    write(f"{corpus}/idx/{name}.idx", data)
    write(f"{corpus}/idx/{name}.idx.gz", gzip.compress(data, mtime=0))
write(f"{corpus}/idx/images_truncated.idx", files["images"][:20])
write(f"{corpus}/idx/images_truncated.idx.gz", gzip.compress(files["images"], mtime=0)[:-6])

# .npy: float32, float64 (format 2.0), int64, a scalar, an empty array.
def npy(arr, version=(1, 0)):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()
arrays = {
    "f4_2x3": npy(np.arange(6, dtype="<f4").reshape(2, 3)),
    "f8_v2": npy(np.linspace(-1, 1, 5, dtype="<f8"), version=(2, 0)),
    "i8_3": npy(np.array([1, -2, 3], dtype="<i8")),
    "scalar": npy(np.array(2.5, dtype="<f4")),
    "empty": npy(np.zeros((0, 4), dtype="<f4")),
}
for name, data in arrays.items():
    write(f"{corpus}/npy/{name}.npy", data)
write(f"{corpus}/npy/f4_2x3_truncated_header.npy", arrays["f4_2x3"][:40])
write(f"{corpus}/npy/f4_2x3_truncated_data.npy", arrays["f4_2x3"][:-3])

# safetensors: tensors of each dtype with metadata, an empty file of tensors.
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, arr in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": {"float32": "F32", "float64": "F64", "int64": "I64"}[str(arr.dtype)],
                        "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data
small = safetensors({"w": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.array([0.5, -1.0]),
                     "steps": np.array([3], dtype="<i8")}, {"epoch": "2"})
write(f"{corpus}/safetensors/small.safetensors", small)
write(f"{corpus}/safetensors/scalar.safetensors", safetensors({"s": np.array(1.0, dtype="<f4")}))
write(f"{corpus}/safetensors/no_tensors.safetensors", safetensors({}, {"format": "x"}))
write(f"{corpus}/safetensors/small_truncated_header.safetensors", small[:30])
write(f"{corpus}/safetensors/small_truncated_data.safetensors", small[:-5])
PY

# Training checkpoint: a real one from the network the fuzz target loads into, and truncations.
"$build_dir/tests/fuzz/make_seed_checkpoint" "$corpus/checkpoint/mnist_cnn_sgd_onecycle.ckpt"
ckpt=$corpus/checkpoint/mnist_cnn_sgd_onecycle.ckpt
head -c 2000 "$ckpt" >"$corpus/checkpoint/truncated_header.ckpt"
head -c $(($(stat -c %s "$ckpt") - 100)) "$ckpt" >"$corpus/checkpoint/truncated_data.ckpt"
for dir in "$corpus"/*; do echo "$(basename "$dir"): $(ls "$dir" | wc -l) files, $(du -sh "$dir" | cut -f1)"; done
