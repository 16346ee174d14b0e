"""Checks that single_path_nets.py computes what oxnas computes, not only with the same weight count:
loads an `oxnas supernet train` checkpoint into our network, runs the architectures of an `oxnas
supernet score --bn train` scores CSV on the same held-out images, and compares loss and accuracy.

    oxnas supernet train --preset cpu-darts --epochs 1 --set data.train_limit=256 --out R
    oxnas supernet score --run R --archs sample:3 --bn train --eval-images 128 --out R/scores.csv
    python bench/pytorch/check_single_path.py --space darts --run R --scores R/scores.csv --eval-images 128

Sizes default to the space's preset (as single_path.py); the data are the first data.train_limit images
of the run's config (the embedded subset), split in half as oxnas does. Exits 1 on a difference above
--tol in the loss or any difference in accuracy.
"""
import argparse
import ast
import csv
import os
import re
import sys
import tomllib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cross_entropy, start  # noqa: E402
from single_path import DEFAULTS, held_out  # noqa: E402
from single_path_nets import (DARTS_OPS, SGAS_ES_OPS, build, nb101_catalogue,  # noqa: E402
                              nb101_hash)

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB101_LETTERS = {"3": "conv3x3", "1": "conv1x1", "m": "maxpool3x3"}


def nb201_path(arch):
    return [NB201_OPS.index(t.split("~")[0]) for t in re.findall(r"\|([a-z_0-9]+~\d)", arch)]


def darts_path(arch, ops):
    """Edge states (op column or None) of a genotype repr, per cell type."""
    fields = dict(re.findall(r"(normal|reduce)=(\[[^\]]*\])", arch))
    cells = []
    for kind in ("normal", "reduce"):
        pairs = ast.literal_eval(fields[kind])
        states = [None] * 14
        offset = 0
        for node in range(4):
            for op, inp in pairs[2 * node:2 * node + 2]:
                states[offset + inp] = ops.index(op)
            offset += node + 2
        cells.append(tuple(states))
    return tuple(cells)


def nb101_path(arch, catalogue):
    """The configuration oxnas runs for a cell in the short form OPS:ROWS."""
    letters, rows = arch.split(":")
    n = len(letters) + 2
    matrix = [[0] * n for _ in range(n)]
    for i, row in enumerate(rows.split("/")):
        for k, bit in enumerate(row):
            matrix[i][i + 1 + k] = int(bit)
    return catalogue[nb101_hash(matrix, [NB101_LETTERS[c] for c in letters])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", required=True, choices=sorted(DEFAULTS))
    ap.add_argument("--run", required=True, help="the oxnas supernet run directory")
    ap.add_argument("--scores", required=True, help="its `supernet score --bn train` CSV")
    ap.add_argument("--eval-images", type=int, required=True, help="as given to oxnas supernet score")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative loss difference allowed")
    a = ap.parse_args()
    with open(os.path.join(a.run, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    s = cfg["supernet"]
    ops = s.get("ops", "darts")
    channels = s.get("channels")
    cells = s.get("layers") or s.get("cells_per_stage") or s.get("cells_per_stack")
    sp = build(a.space, channels, cells, ops, s.get("width_mult", 0.3), s.get("stage_openers"),
               s.get("zero_init_residual", False))
    from safetensors.torch import load_file
    tensors = load_file(os.path.join(a.run, "checkpoints", "last.safetensors"))
    state = {k[2:]: v for k, v in tensors.items() if k.startswith("w.")}
    missing, unexpected = sp.net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked") and not k.startswith("alphas_")
               and k != "arch_parameters"]
    if missing or unexpected:
        sys.exit("checkpoint does not fit: missing %s, unexpected %s" % (missing[:5], unexpected[:5]))
    images, labels, _, held_idx = start(1, 0, cfg["data"]["train_limit"])
    held = held_out(images, labels, held_idx, a.eval_images, cfg.get("run", {}).get("eval_batch_size", 256))
    catalogue = nb101_catalogue() if a.space == "nb101" else None
    op_names = DARTS_OPS if ops == "darts" else SGAS_ES_OPS
    sp.net.train()  # --bn train: batch statistics
    ok = True
    with open(a.scores) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        arch = row["arch_str"]
        path = {"nb201": lambda: nb201_path(arch), "darts": lambda: darts_path(arch, op_names),
                "nb101": lambda: nb101_path(arch, catalogue),
                "proxyless": lambda: tuple(arch.split(","))}[a.space]()
        correct, loss_sum, n = 0, 0.0, 0
        with torch.no_grad():
            for x, y in held:
                logits = sp.net(x, path=path)
                loss_sum += cross_entropy(logits, y).item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                n += len(y)
        loss, acc = loss_sum / n, 100.0 * correct / n
        want_loss, want_acc = float(row["loss"]), float(row["score"])
        same = abs(loss - want_loss) <= a.tol * abs(want_loss) and abs(acc - want_acc) < 1e-9
        ok &= same
        print("%s  loss %.6f (oxnas %.6f)  acc %.4f (oxnas %.4f)  %s" % (
            arch[:60], loss, want_loss, acc, want_acc, "ok" if same else "DIFFERENT"))
    print("%s: %d archs, %s" % (a.space, len(rows), "all equal" if ok else "DIFFERENCES"))
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
