#!/usr/bin/env bash
# Builds tapegrad with a sanitizer and runs the tests under it.
#   scripts/sanitize.sh address   # ASan + UBSan: build-asan/, the whole ctest suite (Embed.* excepted:
#                                 # those tests rebuild the project, which is slow and adds nothing)
#   scripts/sanitize.sh thread    # TSan: build-tsan/, every GoogleTest program in full (the kernels
#                                 # run on 2 threads; the 1-vs-2-thread tests switch counts too)
# Any sanitizer report fails the run (halt_on_error). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --checks
mode=${1:-address}
shift || true
jobs=$(nproc)

case "$mode" in
  address)
    build_dir=build-asan
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTAPEGRAD_SANITIZE=address,undefined -DTAPEGRAD_BUILD_BENCH=OFF "$@" >/dev/null
    cmake --build "$build_dir" -j "$jobs"
    export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -E '^Embed\.'
    ;;
  thread)
    build_dir=build-tsan
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=thread \
      -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF "$@" >/dev/null
    suites=(test_core test_autograd test_layers test_optim test_data)
    cmake --build "$build_dir" -j "$jobs" --target "${suites[@]}"
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    # No suppressions: oneTBB's uninstrumented scheduler is kept out of sight and its fork/join
    # edges are declared to TSan in core/parallel.cpp.
    status=0
    for suite in "${suites[@]}"; do
      echo "== $suite"
      "$build_dir/tests/$suite" --gtest_brief=1 || status=1
    done
    exit $status
    ;;
  *)
    echo "usage: $0 [address|thread] [cmake args...]" >&2
    exit 2
    ;;
esac
