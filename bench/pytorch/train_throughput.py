"""Training throughput of the PyTorch versions of oxnas's evaluation networks (bench/pytorch/nets.py).

Trains for --warmup + --steps SGD steps with the oxnas recipe on Fashion-MNIST images (oxnas's embedded
6000-image subset by default) augmented on the fly in the training thread, as oxnas's loader does, and
prints ONE JSON line:
  images_per_s               --steps steps after the warm-up steps (steady state)
  images_per_s_incl_warmup   all steps from the first, like oxnas's per-epoch `images_per_s`
A step's time covers: augmenting the batch, forward, loss, backward, grad clipping, SGD update, and
reading back the loss and the number correct (oxnas reads both every step too).

Defaults follow the oxnas presets:
  --space darts  = `fashion-mnist` preset: FashionMNIST_1, C=36, 20 layers, batch 72, aux 0.4,
                   drop-path 0.2, SGD lr 0.025 mom 0.9 wd 3e-4, grad clip 5,
                   crop 32 pad 4 + flip + normalize + cutout 16 + random erasing
  --space nb201  = `nb201-cifar` preset: arch below, C=16, N=5, batch 256, SGD lr 0.1 Nesterov mom 0.9
                   wd 5e-4, no clip, crop 32 pad 4 + flip + normalize (Fashion-MNIST mean/std)
Drop-path follows oxnas's ramp: prob = drop_path * epoch / epochs with --epoch (default 0) of
--epochs (default 1), so a one-epoch run, like `oxnas train --epochs 1`, trains with drop-path off.

    python bench/pytorch/train_throughput.py --space darts --steps 4 --threads 2
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nets import GENOTYPES, DartsNetwork, Nb201Network, count_params  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBSET = os.path.join(REPO, "crates", "core", "assets", "fashion-mnist-subset")
NB201_ARCH4 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
FMNIST_MEAN, FMNIST_STD = 0.2859, 0.3530

# Per-space defaults (the oxnas presets); a flag given on the command line wins.
DEFAULTS = {
    "darts": dict(channels=36, batch_size=72, auxiliary_weight=0.4, drop_path=0.2, lr=0.025, momentum=0.9,
                  weight_decay=3e-4, nesterov=False, grad_clip=5.0, cutout=16, random_erasing=True, seed=2),
    "nb201": dict(channels=16, batch_size=256, auxiliary_weight=0.0, drop_path=0.0, lr=0.1, momentum=0.9,
                  weight_decay=5e-4, nesterov=True, grad_clip=0.0, cutout=0, random_erasing=False, seed=777),
}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    n = int.from_bytes(raw[4:8], "big")
    if magic == 2051:
        h, w = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w).copy()
    if magic == 2049:
        return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)
    raise ValueError("%s: not an IDX image/label file (magic %d)" % (path, magic))


class Augment:
    """oxnas's Fashion-MNIST train transform, on a whole batch: RandomCrop(size, pad 4) from 28x28,
    horizontal flip p 0.5, /255, Normalize(0.2859, 0.3530), Cutout(length) in normalized space,
    RandomErasing (torchvision defaults, value 0). Random draws per sample from a seeded numpy RNG."""

    def __init__(self, size, cutout, random_erasing, rng, pad=4):
        self.size, self.cutout, self.erasing, self.rng, self.pad = size, cutout, random_erasing, rng, pad

    def __call__(self, images):  # uint8 (B, H, W) -> float32 (B, 1, size, size)
        b, h, w = images.shape
        s, p, rng = self.size, self.pad, self.rng
        # crop and flip on the uint8 pixels (a quarter of the bytes of float), then scale
        padded = np.pad(images, ((0, 0), (p, p), (p, p)))
        top = rng.integers(0, h + 2 * p - s + 1, b)
        left = rng.integers(0, w + 2 * p - s + 1, b)
        ar_np = np.arange(s)
        x = padded[np.arange(b)[:, None, None], (top[:, None] + ar_np)[:, :, None], (left[:, None] + ar_np)[:, None, :]]
        flip = rng.random(b) < 0.5
        x[flip] = x[flip, :, ::-1]
        x = torch.from_numpy(x).float()
        ar = torch.arange(s)
        x = (x / 255.0 - FMNIST_MEAN) / FMNIST_STD
        if self.cutout:
            half = self.cutout // 2
            cy = torch.from_numpy(rng.integers(0, s, b))[:, None]
            cx = torch.from_numpy(rng.integers(0, s, b))[:, None]
            in_r = (ar >= cy - half) & (ar < cy + half)
            in_c = (ar >= cx - half) & (ar < cx + half)
            x = x.masked_fill(in_r[:, :, None] & in_c[:, None, :], 0.0)
        if self.erasing:
            area = s * s
            for i in range(b):
                if rng.random() >= 0.5:
                    continue
                for _ in range(10):
                    ea = area * rng.uniform(0.02, 0.33)
                    aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
                    eh, ew = int(round(np.sqrt(ea * aspect))), int(round(np.sqrt(ea / aspect)))
                    if eh < s and ew < s:
                        r0, c0 = rng.integers(0, s - eh + 1), rng.integers(0, s - ew + 1)
                        x[i, r0:r0 + eh, c0:c0 + ew] = 0.0
                        break
        return x.unsqueeze(1).contiguous()


def batches(images, labels, batch_size, rng):
    """Endless shuffled epochs over the data, drop_last=False (as oxnas's loader)."""
    n = len(images)
    while True:
        order = rng.permutation(n)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            yield images[idx], labels[idx]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", choices=["darts", "nb201"], required=True)
    ap.add_argument("--genotype", default="FashionMNIST_1", choices=sorted(GENOTYPES))
    ap.add_argument("--arch", default=NB201_ARCH4)
    ap.add_argument("--channels", type=int)
    ap.add_argument("--layers", type=int, default=20, help="DARTS cells")
    ap.add_argument("--cells", type=int, default=5, help="NB201 cells per stage")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--steps", type=int, default=10, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--auxiliary-weight", type=float)
    ap.add_argument("--drop-path", type=float)
    ap.add_argument("--epoch", type=int, default=0, help="drop-path ramp position (oxnas: prob*epoch/epochs)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--nesterov", type=int, choices=[0, 1])
    ap.add_argument("--grad-clip", type=float, help="0 = off")
    ap.add_argument("--cutout", type=int, help="0 = off")
    ap.add_argument("--random-erasing", type=int, choices=[0, 1])
    ap.add_argument("--train-limit", type=int, default=0, help="use the first N training images (0 = all)")
    ap.add_argument("--data", default=SUBSET, help="directory with train-{images-idx3,labels-idx1}-ubyte.gz")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()
    for k, v in DEFAULTS[a.space].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.nesterov, a.random_erasing = bool(a.nesterov), bool(a.random_erasing)

    torch.set_num_threads(a.threads)
    images = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or a.in_channels != 1:
        sys.exit("only 1-channel IDX images are supported (--in-channels 1)")
    if a.train_limit:
        images, labels = images[:a.train_limit], labels[:a.train_limit]

    torch.manual_seed(a.seed)
    if a.space == "darts":
        model = DartsNetwork(GENOTYPES[a.genotype], a.channels, a.layers, a.classes, a.in_channels,
                             auxiliary=a.auxiliary_weight > 0)
        model.drop_path_prob = a.drop_path * a.epoch / a.epochs
        model.drop_path_gen = torch.Generator().manual_seed(a.seed + 1)
        arch = a.genotype
    else:
        model = Nb201Network(a.arch, a.channels, a.cells, a.classes, a.in_channels)
        arch = a.arch
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay,
                          nesterov=a.nesterov)
    criterion = nn.CrossEntropyLoss()
    rng = np.random.default_rng(a.seed)
    augment = Augment(a.image_size, a.cutout, a.random_erasing, rng)
    data = batches(images, labels, a.batch_size, rng)

    times, seen, losses = [], [], []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        xb, yb = next(data)
        x, y = augment(xb), torch.from_numpy(yb)
        opt.zero_grad(set_to_none=True)
        logits, aux = model(x) if a.space == "darts" else (model(x), None)
        loss = criterion(logits, y)
        if aux is not None:
            loss = loss + a.auxiliary_weight * criterion(aux, y)
        loss.backward()
        if a.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        losses.append(loss.item())
        _correct = (logits.argmax(1) == y).sum().item()
        times.append(time.perf_counter() - t0)
        seen.append(len(yb))

    w = a.warmup
    timed = sum(times[w:])
    out = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "space": a.space,
        "arch": arch,
        "channels": a.channels,
        "layers" if a.space == "darts" else "cells": a.layers if a.space == "darts" else a.cells,
        "params": count_params(model),
        "batch_size": a.batch_size,
        "warmup_steps": w,
        "steps": a.steps,
        "threads": torch.get_num_threads(),
        "drop_path_prob": getattr(model, "drop_path_prob", 0.0),
        "auxiliary_weight": a.auxiliary_weight if a.space == "darts" else 0.0,
        "images_per_s": sum(seen[w:]) / timed if a.steps else None,
        "images_per_s_incl_warmup": sum(seen) / sum(times),
        "first_step_s": times[0],
        "median_step_s": float(np.median(times[w:])) if a.steps else None,
        "total_train_s": sum(times),
        "step_times_s": [round(t, 3) for t in times],
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
