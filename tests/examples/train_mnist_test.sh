#!/usr/bin/env bash
# End-to-end checks of train_mnist on a slice of Fashion-MNIST (Debian's dataset-fashion-mnist):
# the summary and metrics CSV, checkpoint + exact resume, a NaN loss that stops training and keeps
# the last good checkpoint (and, with --detect-anomaly, names the op that made it), and clear errors
# for bad arguments and missing data.
#   train_mnist_test.sh <path to train_mnist>
set -euo pipefail
bin=$1
data=/usr/share/datasets/fashion-mnist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
common=(--dataset fashion-mnist --data "$data" --limit-train 1280 --batch-size 64 --threads 2 --seed 3 --log-level warn)

# Two epochs straight, and a run stopped after epoch 1 then resumed: identical metrics for epoch 2.
"$bin" "${common[@]}" --epochs 2 --metrics "$work/straight.csv" > "$work/straight.out"
grep -q '^summary: dataset=fashion-mnist' "$work/straight.out" || fail "no summary line"
[ "$(wc -l < "$work/straight.csv")" -eq 3 ] || fail "metrics CSV should have a header and 2 rows"
head -1 "$work/straight.csv" | grep -q '^epoch,step,lr,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds$' ||
  fail "metrics header"
"$bin" "${common[@]}" --epochs 2 --stop-after-epoch 1 --save "$work/run.ckpt" --metrics "$work/resumed.csv" > /dev/null
[ -s "$work/run.ckpt" ] || fail "no checkpoint written"
"$bin" "${common[@]}" --epochs 2 --resume "$work/run.ckpt" --metrics "$work/resumed.csv" > "$work/resumed.out"
# Compare epoch 2 rows without the timing columns.
a=$(sed -n 3p "$work/straight.csv" | cut -d, -f1-7)
b=$(sed -n 3p "$work/resumed.csv" | cut -d, -f1-7)
[ "$a" = "$b" ] || fail "resumed epoch 2 differs: '$a' vs '$b'"

# A diverging run stops on the NaN with exit code 3 and leaves the last good checkpoint as it was.
cp "$work/run.ckpt" "$work/nan.ckpt"
before=$(sha256sum < "$work/nan.ckpt")
set +e
"$bin" "${common[@]}" --epochs 3 --save "$work/nan.ckpt" --lr 1e30 --scheduler none \
  > "$work/nan.out" 2> "$work/nan.err"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "expected exit code 3 on a NaN loss, got $rc"
grep -q "loss became" "$work/nan.err" || fail "no NaN message: $(cat "$work/nan.err")"
[ "$(sha256sum < "$work/nan.ckpt")" = "$before" ] || fail "the last good checkpoint was changed"
# The same run with --detect-anomaly stops at the op that first makes a NaN or an Inf, and names it.
set +e
"$bin" "${common[@]}" --epochs 3 --save "$work/nan.ckpt" --lr 1e30 --scheduler none --detect-anomaly \
  > "$work/anomaly.out" 2> "$work/anomaly.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "expected exit code 1 from --detect-anomaly, got $rc"
grep -Eq "^train_mnist: anomaly: [a-z_0-9]+ produced (NaN|Inf|NaN and Inf) in its forward output; inputs: \[" \
  "$work/anomaly.err" || fail "no anomaly message: $(cat "$work/anomaly.err")"
[ "$(sha256sum < "$work/nan.ckpt")" = "$before" ] || fail "--detect-anomaly changed the checkpoint"

# Bad input: clear errors, non-zero exit.
if "$bin" --data "$work/nowhere" --log-level off > /dev/null 2> "$work/missing.err"; then fail "missing data accepted"; fi
grep -q "train_mnist:" "$work/missing.err" || fail "missing-data error: $(cat "$work/missing.err")"
if "$bin" --data "$data" --optimizer rmsprop > /dev/null 2>&1; then fail "unknown optimizer accepted"; fi
"$bin" --help | grep -q -- "--resume" || fail "--help does not document --resume"
echo "train_mnist end-to-end checks passed"
