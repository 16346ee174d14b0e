"""Single-path supernet training and scoring throughput in PyTorch: the PyTorch side of
`oxnas supernet train` / `oxnas supernet score` (crates/engine/src/oneshot/). Prints ONE JSON line.

Networks (bench/pytorch/single_path_nets.py, same parameter names, shapes and counts as oxnas's), 10
classes, 1-channel 28x28 input, BN with running statistics (every cpu-X preset's track_running_stats):
  --space nb201      the NB201 search supernet, BN affine=False, conv biases; --channels C --cells N
                     (cells per stage; default 16 x 5, the NB201 skeleton; cpu-nb201 is 8 x 1)
  --space darts      the DARTS search supernet, BN affine=False, pool + BN; --channels C --cells L
                     (layers) --ops darts|sgas-es (default 8 x 5, darts: cpu-darts)
  --space nb101      NAS-Bench-1Shot1 space 1's one-shot net; --channels C --cells N (cells per stack;
                     default 8 x 1: cpu-nb101)
  --space proxyless  the ProxylessNAS mobile backbone, six MBConvs per block; --width-mult (0.3:
                     cpu-proxyless)

Train (as oxnas's supernet trainer, paths_per_step = 1): per step one path drawn from the space's
distribution (single_path_nets.py says which), forward the train batch through that path only,
cross-entropy, backward (parameters off the path get no gradient, `zero_grad(set_to_none=True)`, so SGD
skips them, as oxnas does), clip_grad_norm_(5), SGD(lr 0.05, momentum 0.9, Nesterov, the preset's weight
decay: nb201 5e-4, darts and nb101 3e-4, proxyless 4e-5), loss and number correct read back. Data: the
w half of the first --train-limit images, shuffled, `fashion-mnist-eval` (no resize), batch 64.

Score (as `oxnas supernet score --bn train --archs sample:N`): --score-cells paths drawn (distinct
architectures, as sample:N, except nb201, drawn with replacement as before); the first --eval-images
held-out images of the other half in batches of --eval-batch (the last batch cut so that exactly
--eval-images are used, as oxnas's held_out_batches), built once; per path, under no_grad: set the
path, forward every batch with train-mode BN (batch statistics), cross-entropy and number correct read
back; the BN running statistics are saved before and restored after all paths. archs/s over all paths.

--expect-weights N (or, without it, the count single_path_nets.py records for oxnas at these sizes)
makes the script exit 2 after printing its line when the weight count differs.

    python bench/pytorch/single_path.py --steps 30 --score-cells 200 --threads 2
    python bench/pytorch/single_path.py --space darts --steps 30 --score-cells 200 --threads 2
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
from single_path_nets import build, count_weights, expected_weights  # noqa: E402

# The cpu-X presets' sizes and weight decay (nb201 keeps this script's earlier default, the NB201
# skeleton C=16 N=5; cpu-nb201 is --channels 8 --cells 1).
DEFAULTS = {
    "nb201": dict(channels=16, cells=5, weight_decay=5e-4),
    "darts": dict(channels=8, cells=5, weight_decay=3e-4),
    "nb101": dict(channels=8, cells=1, weight_decay=3e-4),
    "proxyless": dict(channels=None, cells=None, weight_decay=4e-5),
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nb201", choices=sorted(DEFAULTS))
    ap.add_argument("--channels", type=int, help="C (default: the space's preset; nb201 16)")
    ap.add_argument("--cells", type=int, help="nb201 cells per stage, darts layers, nb101 cells per stack")
    ap.add_argument("--ops", default="darts", choices=["darts", "sgas-es"], help="darts op set")
    ap.add_argument("--width-mult", type=float, default=0.3, help="proxyless width multiplier")
    ap.add_argument("--stage-openers", help="proxyless: the choice every stage's first block is fixed to (k3e6)")
    ap.add_argument("--zero-init-residual", action="store_true", help="proxyless: γ = 0 at residual blocks' last BN")
    ap.add_argument("--weight-decay", type=float, help="default: the space's preset")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30, help="timed train steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=0, help="default 2*(warmup+steps)*batch")
    ap.add_argument("--score-cells", type=int, default=200)
    ap.add_argument("--eval-images", type=int, default=500)
    ap.add_argument("--eval-batch", type=int, default=256, help="oxnas run.eval_batch_size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--expect-weights", type=int, help="oxnas's weight count; exit 2 when ours differs")
    a = ap.parse_args()
    d = DEFAULTS[a.space]
    a.channels = a.channels or d["channels"]
    a.cells = a.cells or d["cells"]
    a.weight_decay = d["weight_decay"] if a.weight_decay is None else a.weight_decay
    return a


def held_out(images, labels, held_idx, limit, batch):
    """The first `limit` held-out images in batches of `batch`, the last one cut (oxnas's held_out_batches)."""
    out = []
    for i in range(0, min(limit, len(held_idx)), batch):
        idx = held_idx[i:min(i + batch, limit)]
        out.append((eval_transform(images[idx]), torch.from_numpy(labels[idx])))
    return out


def draw_archs(sp, rng, n, distinct):
    """n paths; distinct by architecture (as oxnas's sample:N) unless `distinct` is false."""
    if not distinct:
        return [sp.sample(rng) for _ in range(n)]
    paths, seen = [], set()
    while len(paths) < n:
        p = sp.sample(rng)
        if sp.key(p) not in seen:
            seen.add(sp.key(p))
            paths.append(p)
    return paths


def main():
    a = parse_args()
    total = a.warmup + a.steps
    images, labels, train_idx, held_idx = start(a.threads, a.seed, a.train_limit or 2 * total * a.batch_size)
    sp = build(a.space, a.channels, a.cells, a.ops, a.width_mult, a.stage_openers, a.zero_init_residual)
    net = sp.net
    net.train()
    weights = net.weights()
    opt = torch.optim.SGD(weights, lr=0.05, momentum=0.9, nesterov=True, weight_decay=a.weight_decay)
    rng = np.random.default_rng(a.seed)

    order = rng.permutation(train_idx)
    times, seen = [], []
    for step in range(total):
        t0 = time.perf_counter()
        lo = (step * a.batch_size) % len(order)
        idx = order[lo:lo + a.batch_size]
        x, y = eval_transform(images[idx]), torch.from_numpy(labels[idx])
        path = sp.sample(rng)
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
    held = held_out(images, labels, held_idx, a.eval_images, a.eval_batch)
    n_held = sum(len(y) for _, y in held)
    cells = draw_archs(sp, rng, a.score_cells, distinct=a.space != "nb201")
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
    ours = count_weights(net)
    expect = a.expect_weights or expected_weights(a.space, a.channels, a.cells, a.ops, a.width_mult, a.stage_openers)
    print(json.dumps({
        "framework": "pytorch", "space": a.space,
        "train_images_per_s": sum(seen[w:]) / sum(times[w:]) if a.steps else None,
        "train_images_per_s_incl_warmup": sum(seen) / sum(times),
        "train_steps": total, "batch_size": a.batch_size, "weight_decay": a.weight_decay,
        "score_cells": len(cells), "score_images": n_held, "score_s": round(score_s, 3),
        "cells_per_s": len(cells) / score_s,
        "weights": ours, "expected_weights": expect, "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))
    if expect is not None and ours != expect:
        print("single_path.py: %s has %d weights, oxnas %d: MISMATCH" % (a.space, ours, expect), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
