#!/usr/bin/python3
"""Fashion-MNIST test accuracy with PyTorch's recipe, tapegrad vs PyTorch, over several seeds.

Recipe: the default model (Conv16-BN-ReLU-Pool, Conv32-BN-ReLU-Pool, Linear), SGD lr 0.05
momentum 0.9, batch 64, constant learning rate, no augmentation, 3 epochs.

    /usr/bin/python3 bench/accuracy_vs_torch.py [--seeds 3] [--epochs 3]
"""
import argparse
import gzip
import os
import re
import statistics
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path) as f:
        d = f.read()
    nd = d[3]
    dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(split):
    x = idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return (torch.from_numpy(x).unsqueeze(1) - 0.2860) / 0.3530, torch.from_numpy(y)


def torch_run(seed, epochs, train, test):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    (x, y), (tx, ty) = train, test
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y) // 64 * 64, 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return (model(tx).argmax(1) == ty).float().mean().item() * 100


def tapegrad_run(seed, epochs, build):
    out = subprocess.run([os.path.join(build, "examples", "train_mnist"), "--dataset", "fashion-mnist",
                          "--data", DATA, "--epochs", str(epochs), "--lr", "0.05", "--momentum", "0.9",
                          "--batch-size", "64", "--scheduler", "none", "--weight-decay", "0",
                          "--augment-shift", "0", "--seed", str(seed), "--log-level", "warn"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"summary: .* test_acc=([0-9.]+)%", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    train, test = load("train"), load("t10k")
    tg, th = [], []
    for seed in range(args.seeds):
        tg.append(tapegrad_run(seed, args.epochs, args.build))
        th.append(torch_run(seed, args.epochs, train, test))
        print(f"seed {seed}: tapegrad {tg[-1]:.2f}%  torch {th[-1]:.2f}%", flush=True)
    print(f"mean over {args.seeds} seeds after {args.epochs} epochs: tapegrad {statistics.mean(tg):.2f}%  "
          f"torch {statistics.mean(th):.2f}%  difference {statistics.mean(tg) - statistics.mean(th):+.2f} points")


if __name__ == "__main__":
    main()
