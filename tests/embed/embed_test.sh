#!/usr/bin/env bash
# Builds examples/embed as a separate project against tapegrad and runs it.
#   embed_test.sh installed <source dir> <tapegrad build dir>   (cmake --install, find_package)
#   embed_test.sh subdirectory <source dir>                      (add_subdirectory)
set -euo pipefail
mode=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$mode" = installed ]; then
  cmake --install "$3" --prefix "$work/prefix" >/dev/null
  cmake -S "$src/examples/embed" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
else
  cmake -S "$src/examples/embed" -B "$work/build" -DTAPEGRAD_SOURCE_DIR="$src" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$work/build" -j "$(nproc)" >/dev/null
"$work/build/embed_demo"
