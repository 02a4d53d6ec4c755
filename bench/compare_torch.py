#!/usr/bin/python3
"""Side-by-side speed of tapegrad and PyTorch on the same cases, in one run, interleaved.

For every case and thread count it alternates a tapegrad measurement (build/bench/bench_layers,
one Google Benchmark case) and a PyTorch measurement (same shapes, same passes, in this process),
`--repeats` times, and reports the medians and the ratio tapegrad/torch (lower is better).

    /usr/bin/python3 bench/compare_torch.py                 # all cases, 1 and 2 threads
    /usr/bin/python3 bench/compare_torch.py --filter Conv2d --repeats 5
    /usr/bin/python3 bench/compare_torch.py --train          # also one training epoch each

Needs Debian's python3-torch (run with /usr/bin/python3) and a Release build in build/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BN_SHAPES = [(64, 16, 28, 28), (64, 32, 14, 14), (128, 64, 7, 7), (8, 256, 56, 56)]
CONV_SHAPES = [(64, 1, 28, 28, 8), (64, 8, 28, 28, 16), (64, 16, 14, 14, 32),
               (64, 32, 14, 14, 64), (64, 64, 7, 7, 128)]


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def cases():
    """(label, google-benchmark name without threads, torch setup fn, work metric)."""
    out = []
    for s in BN_SHAPES:
        for pass_name, tg_name in [("train fwd", "TrainForward"), ("train fwd+bwd", "TrainForwardBackward"),
                                   ("eval fwd", "EvalForward")]:
            nbytes = numel(s) * 4 * (5 if "bwd" in pass_name else 2)
            out.append((f"BatchNorm2d {pass_name} {s}", f"BM_BatchNorm2d/{tg_name}/{'/'.join(map(str, s))}",
                        lambda s=s, p=pass_name: bn_case(s, p), ("GB/s", nbytes / 1e9)))
    for s in CONV_SHAPES:
        n, c, h, w, oc = s
        flops = 2.0 * n * oc * h * w * c * 9
        for pass_name, tg_name, mult in [("fwd", "Forward", 1), ("fwd+bwd", "ForwardBackward", 3)]:
            out.append((f"Conv2d {pass_name} {s[:4]}->{oc}", f"BM_Conv2d/{tg_name}/{'/'.join(map(str, s))}",
                        lambda s=s, p=pass_name: conv_case(s, p), ("GFLOP/s", flops * mult / 1e9)))
    s = (64, 32, 28, 28)
    out.append((f"ReLU fwd+bwd {s}", f"BM_ReLU/{'/'.join(map(str, s))}", lambda s=s: relu_case(s),
                ("GB/s", numel(s) * 4 * 5 / 1e9)))
    for s in [(64, 16, 28, 28), (64, 32, 14, 14)]:
        out.append((f"MaxPool2d k2 fwd+bwd {s}", f"BM_MaxPool2d/{'/'.join(map(str, s))}",
                    lambda s=s: pool_case(s), None))
    out.append(("Linear 1568->10 fwd+bwd (64)", "BM_Linear/64/1568/10", lambda: linear_case(), None))
    return out


def module_step(module, x, dy, backward):
    params = list(module.parameters())
    if backward:
        def step():
            x.grad = None
            for p in params:
                p.grad = None
            module(x).backward(dy)
    else:
        def step():
            with torch.no_grad():
                module(x)
    return step


def bn_case(shape, pass_name):
    bn = nn.BatchNorm2d(shape[1])
    x = torch.randn(shape)
    if pass_name == "eval fwd":
        bn.eval()
    backward = "bwd" in pass_name
    if backward:
        x.requires_grad_(True)
    return module_step(bn, x, torch.randn(shape), backward)


def conv_case(s, pass_name):
    n, c, h, w, oc = s
    conv = nn.Conv2d(c, oc, 3, padding=1)
    x = torch.randn(n, c, h, w)
    backward = "bwd" in pass_name
    if backward:
        x.requires_grad_(True)
    return module_step(conv, x, torch.randn(n, oc, h, w), backward)


def relu_case(s):
    x = torch.randn(s, requires_grad=True)
    return module_step(nn.ReLU(), x, torch.randn(s), True)


def pool_case(s):
    x = torch.randn(s, requires_grad=True)
    n, c, h, w = s
    return module_step(nn.MaxPool2d(2), x, torch.randn(n, c, h // 2, w // 2), True)


def linear_case():
    x = torch.randn(64, 1568, requires_grad=True)
    return module_step(nn.Linear(1568, 10), x, torch.randn(64, 10), True)


def time_torch(step, min_time):
    for _ in range(3):
        step()
    iters, start = 0, time.perf_counter()
    while True:
        step()
        iters += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and iters >= 5:
            return elapsed / iters


def time_tapegrad(binary, name, threads, min_time):
    full = f"^{name}/{threads}/real_time$"
    out = subprocess.run([binary, f"--benchmark_filter={full}", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"],
                         check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs:
        raise SystemExit(f"no tapegrad benchmark matches {full}")
    r = runs[0]
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[r["time_unit"]]
    return r["real_time"] * scale


def train_epoch_torch(threads, data_dir, limit):
    """One epoch of the default model in PyTorch, in a fresh process (for its peak RSS)."""
    code = f"""
import gzip, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads({threads}); torch.manual_seed(0)
def idx(p):
    with gzip.open(p) as f: d = f.read()
    nd = d[3]; dims = [int.from_bytes(d[4+4*i:8+4*i], 'big') for i in range(nd)]
    return np.frombuffer(d, np.uint8, offset=4+4*nd).reshape(dims)
x = idx('{data_dir}/train-images-idx3-ubyte.gz')[:{limit}]; y = idx('{data_dir}/train-labels-idx1-ubyte.gz')[:{limit}]
x = (torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1) - 0.2860) / 0.3530; y = torch.from_numpy(y.astype(np.int64))
model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
perm = torch.randperm(len(y)); n = len(y) // 64 * 64
start = time.perf_counter()
for i in range(0, n, 64):
    idx_ = perm[i:i + 64]
    opt.zero_grad(); loss = F.cross_entropy(model(x[idx_]), y[idx_]); loss.backward(); opt.step()
sec = time.perf_counter() - start
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]
print(n / sec, sec, int(hwm) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    ips, sec, rss = map(float, out.split())
    return ips, sec, rss


def train_epoch_tapegrad(build, threads, data_dir, limit):
    out = subprocess.run([os.path.join(build, "bench", "bench_train"), f"--threads={threads}",
                          f"--data={data_dir}", f"--limit={limit}"],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split() if "=" in kv)
    return float(fields["images_per_s"]), float(fields["epoch_s"]), float(fields["peak_rss_mib"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--filter", default="")
    ap.add_argument("--train", action="store_true", help="also compare one training epoch")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--limit", type=int, default=60000, help="training images in the epoch")
    args = ap.parse_args()
    binary = os.path.join(args.build, "bench", "bench_layers")
    threads = [int(t) for t in args.threads.split(",")]

    print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"{args.repeats} interleaved repeats, medians")
    print(f"{'case':48} {'thr':>3} {'tapegrad ms':>12} {'torch ms':>10} {'ratio':>6} {'tapegrad':>16}")
    for label, name, make_torch, metric in cases():
        if args.filter and args.filter not in label:
            continue
        for t in threads:
            torch.set_num_threads(t)
            step = make_torch()
            tg_times, th_times = [], []
            for _ in range(args.repeats):
                tg_times.append(time_tapegrad(binary, name, t, args.min_time))
                th_times.append(time_torch(step, args.min_time))
            tg_ms, th_ms = statistics.median(tg_times) * 1e3, statistics.median(th_times) * 1e3
            work = f"{metric[1] / (tg_ms / 1e3):9.1f} {metric[0]}" if metric else ""
            print(f"{label:48} {t:>3} {tg_ms:12.3f} {th_ms:10.3f} {tg_ms / th_ms:6.2f} {work:>16}", flush=True)

    if args.train:
        print(f"\none training epoch, default MNIST model, batch 64, SGD momentum, {args.limit} images")
        print(f"{'threads':>7} {'tapegrad img/s':>15} {'torch img/s':>12} {'speedup':>8} "
              f"{'tapegrad RSS MiB':>17} {'torch RSS MiB':>14}")
        for t in threads:
            tg_ips, _, tg_rss = train_epoch_tapegrad(args.build, t, args.data, args.limit)
            th_ips, _, th_rss = train_epoch_torch(t, args.data, args.limit)
            print(f"{t:>7} {tg_ips:15.0f} {th_ips:12.0f} {tg_ips / th_ips:8.2f} {tg_rss:17.0f} {th_rss:14.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
