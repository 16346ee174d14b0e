"""Bilevel search-step throughput of the PyTorch supernets (bench/pytorch/supernets.py), on the path the
reference code takes (quark0/darts train_search.py + first-order Architect, AutoDL's DARTS-V1 loop), with
oxnas's `cpu-demo` search hyper-parameters. Prints ONE JSON line.

One step (alpha first, as oxnas's `arch.step_order = "alpha-first"` and the references):
  1. train batch: the next `--batch-size` images of a shuffled epoch over the w half of the data;
     α batch: `--batch-size` images drawn without replacement from the α half (DARTS's
     next(iter(valid_queue))); both `fashion-mnist-eval` (to_float + normalize, 28x28, 1 channel)
  2. α step: loss on the α batch, gradient, Adam(lr 3e-3, betas (0.5, 0.999), wd 1e-3) on α
     --alpha-grad backward  (default) the references' `loss.backward()`: also computes (and then
                            discards) the gradients of all weights
     --alpha-grad alphas    torch.autograd.grad(loss, α) only: the work oxnas does
  3. w step: loss on the train batch, backward, clip_grad_norm_(5), SGD(lr 0.025, momentum 0.9,
     Nesterov, wd 5e-4); the loss and the number correct are read back (oxnas reads both every step)

    python bench/pytorch/search_step.py --space nb201 --steps 8 --threads 2
    python bench/pytorch/search_step.py --space darts --device cuda   # batches copied to the GPU each step
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
from supernets import build_search, count_weights  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", choices=["nb201", "darts"], required=True)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5, help="NB201 cells per stage")
    ap.add_argument("--layers", type=int, default=8, help="DARTS cells")
    ap.add_argument("--ops", choices=["sgas-es", "darts"], default="sgas-es", help="DARTS op set")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=0,
                    help="images used (half w, half α); default 2*(warmup+steps)*batch, as oxnas is run")
    ap.add_argument("--alpha-grad", choices=["backward", "alphas"], default="backward")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="capture the whole step (α step, w step, both optimisers) once as a CUDA graph and "
                         "replay it; needs --device cuda and --alpha-grad alphas")
    a = ap.parse_args()
    if a.cuda_graph and (a.device == "cpu" or a.alpha_grad != "alphas"):
        ap.error("--cuda-graph needs --device cuda and --alpha-grad alphas")

    total = a.warmup + a.steps
    images, labels, train_idx, valid_idx = start(a.threads, a.seed, a.train_limit or 2 * total * a.batch_size)
    net, weights, alphas, w_opt, a_opt = build_search(a)
    rng = np.random.default_rng(a.seed)

    def train_batches():
        while True:
            order = rng.permutation(train_idx)
            for i in range(0, len(order), a.batch_size):
                yield order[i:i + a.batch_size]

    batches = train_batches()
    if a.cuda_graph:
        times, seen = graph_steps(a, net, weights, alphas, w_opt, images, labels, batches, valid_idx, rng, total)
    else:
        times, seen = eager_steps(a, net, weights, alphas, w_opt, a_opt, images, labels, batches, valid_idx, rng, total)

    w = a.warmup
    print(json.dumps({
        "framework": "pytorch", "space": a.space, "alpha_grad": a.alpha_grad, "cuda_graph": a.cuda_graph,
        "images_per_s": sum(seen[w:]) / sum(times[w:]),
        "images_per_s_incl_warmup": sum(seen) / sum(times),
        "step_s": [round(t, 4) for t in times], "steps": total, "batch_size": a.batch_size,
        "weights": count_weights(net), "alphas": sum(p.numel() for p in alphas),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "device": a.device,
    }))


def next_batches(a, images, labels, batches, valid_idx, rng):
    idx = next(batches)
    x, y = eval_transform(images[idx]).to(a.device), torch.from_numpy(labels[idx]).to(a.device)
    vidx = rng.choice(valid_idx, size=min(a.batch_size, len(valid_idx)), replace=False)
    xv, yv = eval_transform(images[vidx]).to(a.device), torch.from_numpy(labels[vidx]).to(a.device)
    return x, y, xv, yv


def graph_steps(a, net, weights, alphas, w_opt, images, labels, batches, valid_idx, rng, total):
    """The step as one CUDA graph: batches are copied into static input tensors, the graph replays
    every kernel of both half-steps without the CPU launching them one by one. Adam must be
    `capturable` to keep its step count on the GPU. The capture itself happens after three eager
    steps on a side stream (cuDNN's and the allocator's warm-up), which count as warm-up steps."""
    a_opt = torch.optim.Adam(alphas, lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3, capturable=True)
    sx, sy, sxv, syv = next_batches(a, images, labels, batches, valid_idx, rng)

    def step():
        alpha_step(net, alphas, a_opt, sxv, syv, "alphas")
        # Zeroed in place, not set to None: the graph's backward must write into the same tensors.
        return weight_step(net, weights, w_opt, sx, sy, set_to_none=False)

    times, seen = [], []
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            seen.append(a.batch_size)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out_loss, out_correct = step()
    for _ in range(total - 3):
        t0 = time.perf_counter()
        for static, fresh in zip((sx, sy, sxv, syv), next_batches(a, images, labels, batches, valid_idx, rng)):
            static.copy_(fresh)
        graph.replay()
        _ = out_loss.item()
        _ = out_correct.item()
        times.append(time.perf_counter() - t0)
        seen.append(a.batch_size)
    return times, seen


def alpha_step(net, alphas, a_opt, xv, yv, alpha_grad):
    """First-order α step: `backward` as the references do (weights' gradients computed too), or
    `alphas`, the gradients of α alone."""
    loss_v = cross_entropy(net(xv), yv)
    if alpha_grad == "backward":
        a_opt.zero_grad(set_to_none=True)
        loss_v.backward()
    else:
        for p, g in zip(alphas, torch.autograd.grad(loss_v, alphas)):
            p.grad = g
    a_opt.step()


def weight_step(net, weights, w_opt, x, y, set_to_none=True):
    """w step; returns the loss and the number correct, as tensors (read back by the caller)."""
    w_opt.zero_grad(set_to_none=set_to_none)
    logits = net(x)
    loss = cross_entropy(logits, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(weights, 5.0)
    w_opt.step()
    return loss, (logits.argmax(1) == y).sum()


def eager_steps(a, net, weights, alphas, w_opt, a_opt, images, labels, batches, valid_idx, rng, total):
    times, seen = [], []
    for _ in range(total):
        t0 = time.perf_counter()
        x, y, xv, yv = next_batches(a, images, labels, batches, valid_idx, rng)
        alpha_step(net, alphas, a_opt, xv, yv, a.alpha_grad)
        loss, correct = weight_step(net, weights, w_opt, x, y)
        _ = loss.item()
        _ = correct.item()
        times.append(time.perf_counter() - t0)
        seen.append(len(y))
    return times, seen


if __name__ == "__main__":
    main()
