#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches the data if absent and trains the
# default CNN. Extra arguments go to train_mnist (see build/examples/train_mnist --help), e.g.
#   ./scripts/train.sh --dataset fashion-mnist --epochs 5
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
dataset=mnist
data_dir=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --dataset) dataset=${args[$((i + 1))]} ;;
    --dataset=*) dataset=${args[$i]#--dataset=} ;;
    --data) data_dir=${args[$((i + 1))]} ;;
    --data=*) data_dir=${args[$i]#--data=} ;;
  esac
done
if [ -z "$data_dir" ]; then
  data_dir=data/$dataset
  args+=(--data "$data_dir")
fi
./scripts/get-data.sh "$dataset" "$data_dir"
exec "${BUILD_DIR:-build}/examples/train_mnist" "${args[@]}"
