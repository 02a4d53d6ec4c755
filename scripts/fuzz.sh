#!/usr/bin/env bash
# Fuzzes the file parsers (IDX, .npy, safetensors, training checkpoints) with libFuzzer, ASan and
# UBSan: configures build-fuzz/ with clang++ (TAPEGRAD_FUZZ=ON), builds tests/fuzz/fuzz_*, and runs
# each target for SECONDS on a scratch copy of its seed corpus tests/fuzz/corpus/<parser>/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 60
# Exits non-zero on any finding (crash, sanitizer report, leak, std::bad_alloc or any exception
# other than tapegrad::Error, RSS over 2 GiB); the reproducer is left in build-fuzz/findings/.
# Extra args after SECONDS go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --checks
seconds=${1:-60}
shift || true
build_dir=build-fuzz
parsers=(idx npy safetensors checkpoint)

cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF \
  -DTAPEGRAD_BUILD_BENCH=OFF "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${parsers[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
findings=$PWD/$build_dir/findings
mkdir -p "$findings"
# One target per core at a time: each libFuzzer process is single-threaded.
fuzz_one() {
  local parser=$1 work=$build_dir/corpus/$1 log=$build_dir/fuzz_$1.log rc=0
  rm -rf "$work"
  mkdir -p "$work"
  cp tests/fuzz/corpus/"$parser"/* "$work"/
  # A valid checkpoint of the fuzzed network is ~170 KB; a smaller cap would cut every seed short
  # and the loader past read_safetensors would never run.
  local max_len=65536
  [[ $parser == checkpoint ]] && max_len=262144
  "$build_dir/tests/fuzz/fuzz_$parser" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len=$max_len -malloc_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/${parser}-" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$build_dir/fuzz_$parser.rc"
}
echo "== fuzzing ${parsers[*]}: ${seconds}s each, $(nproc) at a time"
for parser in "${parsers[@]}"; do
  while (($(jobs -rp | wc -l) >= $(nproc))); do wait -n || true; done
  fuzz_one "$parser" &
done
wait

status=0
for parser in "${parsers[@]}"; do
  log=$build_dir/fuzz_$parser.log
  rc=$(cat "$build_dir/fuzz_$parser.rc")
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  if ((rc != 0)); then
    status=1
    echo "fuzz_$parser: FINDING after ${execs:-?} executions (exit $rc), see $log"
    grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|.*terminate called|.*what\(\))' "$log" | head -20
  else
    echo "fuzz_$parser: ${execs:-?} executions in ${seconds}s, no findings"
  fi
done
ls "$findings"/* 2>/dev/null || true
exit $status
