"""Single-path supernet training and scoring throughput in PyTorch: the PyTorch side of
`oxnas supernet train` / `oxnas supernet score` (crates/engine/src/oneshot/). Prints ONE JSON line.

Network: the NB201 search supernet of bench/pytorch/supernets.py with BN affine=False *with* running
statistics (the cpu-nb201 preset's track_running_stats = true), conv biases, 1-channel 28x28 input.

Train (as oxnas's supernet trainer, paths_per_step = 1): per step one cell drawn uniformly (an op per
edge from the 5 NB201 ops), forward the train batch through that path only, cross-entropy, backward
(parameters off the path get no gradient, `zero_grad(set_to_none=True)`, so SGD skips them, as oxnas
does), clip_grad_norm_(5), SGD(lr 0.05, momentum 0.9, Nesterov, wd 5e-4), loss and number correct read
back. Data: the w half of the first --train-limit images, shuffled, `fashion-mnist-eval`, batch 64.

Score (as `oxnas supernet score --bn train`): --score-cells cells drawn uniformly; held-out batches of
--eval-batch images from the other half, taken in order until at least --eval-images are in (500 with
batch 256 -> 2 batches = 512 images, as oxnas), built once; per cell, under no_grad: set the path, forward
every batch with train-mode BN (batch statistics), cross-entropy and number correct read back; the BN
running statistics are saved before and restored after all cells. cells/s over all cells.

    python bench/pytorch/single_path.py --steps 30 --score-cells 200 --threads 2
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cross_entropy, eval_transform, start  # noqa: E402
from supernets import Nb201Supernet, count_weights  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30, help="timed train steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=0, help="default 2*(warmup+steps)*batch")
    ap.add_argument("--score-cells", type=int, default=200)
    ap.add_argument("--eval-images", type=int, default=500)
    ap.add_argument("--eval-batch", type=int, default=256, help="oxnas run.eval_batch_size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    total = a.warmup + a.steps
    images, labels, train_idx, held_idx = start(a.threads, a.seed, a.train_limit or 2 * total * a.batch_size)
    net = Nb201Supernet(a.channels, a.cells, 10, 1, track_running_stats=True)
    net.train()
    weights = net.weights()
    opt = torch.optim.SGD(weights, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    rng = np.random.default_rng(a.seed)

    order = rng.permutation(train_idx)
    times, seen = [], []
    for step in range(total):
        t0 = time.perf_counter()
        lo = (step * a.batch_size) % len(order)
        idx = order[lo:lo + a.batch_size]
        x, y = eval_transform(images[idx]), torch.from_numpy(labels[idx])
        path = rng.integers(0, 5, 6).tolist()
        opt.zero_grad(set_to_none=True)
        logits = net(x, path=path)
        loss = cross_entropy(logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        opt.step()
        _ = loss.item()
        _ = (logits.argmax(1) == y).sum().item()
        times.append(time.perf_counter() - t0)
        seen.append(len(idx))

    # Scoring.
    held = []
    n_held = 0
    for i in range(0, len(held_idx), a.eval_batch):
        if n_held >= a.eval_images:
            break
        idx = held_idx[i:i + a.eval_batch]
        held.append((eval_transform(images[idx]), torch.from_numpy(labels[idx])))
        n_held += len(idx)
    cells = [rng.integers(0, 5, 6).tolist() for _ in range(a.score_cells)]
    t0 = time.perf_counter()
    buffers = [b for n, b in net.named_buffers() if n.endswith("running_mean") or n.endswith("running_var")]
    saved = [b.clone() for b in buffers]
    accs = []
    with torch.no_grad():
        for path in cells:
            correct, loss_sum, n = 0, 0.0, 0
            for x, y in held:
                logits = net(x, path=path)
                loss_sum += cross_entropy(logits, y).item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                n += len(y)
            accs.append(100.0 * correct / n)
        for b, s in zip(buffers, saved):
            b.copy_(s)
    score_s = time.perf_counter() - t0

    w = a.warmup
    print(json.dumps({
        "framework": "pytorch",
        "train_images_per_s": sum(seen[w:]) / sum(times[w:]),
        "train_images_per_s_incl_warmup": sum(seen) / sum(times),
        "train_steps": total, "batch_size": a.batch_size,
        "score_cells": len(cells), "score_images": n_held, "score_s": round(score_s, 3),
        "cells_per_s": len(cells) / score_s,
        "weights": count_weights(net), "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
