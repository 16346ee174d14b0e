#!/usr/bin/env python3
"""Where the cpu-demo supernet's α go when nothing is decided: the bias behind the demo's poor cells.

Runs the cpu-demo supernet as plain first-order DARTS (`decision.policy = "argmax"`, no λmax, no
warm-up) for 60 epochs, and after every epoch reads the cell softmax(α) would give (the strongest
op other than `none` on each edge) and its NAS-Bench-201 CIFAR-10 rank. If α converged towards good
cells, SGAS-es would only need more epochs per decision; if they drift to avg_pool, the early
decisions are what saves the demo, and more search time alone cannot.

    python3 bench/alpha_drift.py --seeds 1,2 [--set supernet.pool_bn=true ...] [--out DIR]
    python3 bench/alpha_drift.py --analyse RUN_DIR ...   # re-read finished runs

One JSON line per run: the top-% of the argmax cell every 3 epochs, the cell's ops (s skip, 1 and 3
the convs, p avg_pool) and the largest softmax(α) entry.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess

import demo_vs_random as demo

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
SHORT = "-s13p"


def long_darts_preset(path):
    """The cpu-demo preset with its SGAS-es sections replaced by plain DARTS for 60 epochs."""
    with open(os.path.join(demo.ROOT, "configs", "search", "cpu-demo.toml")) as f:
        text = f.read()
    text = re.sub(r"\[decision\].*?\n\n", '[decision]\npolicy = "argmax"\n\n', text, flags=re.S)
    text = re.sub(r"\[hessian\].*?\n\n", '[hessian]\nmode = "off"\n\n', text, flags=re.S)
    text = re.sub(r"\[early_stop\].*?\n\n", "", text, flags=re.S)
    text = re.sub(r"epochs = \d+", "epochs = 60", text)
    with open(path, "w") as f:
        f.write(text)


def analyse(oxnas, run_dir):
    ranks = {}
    trajectory = []
    with open(os.path.join(run_dir, "search.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        probs = r["alphas"][0]["probs"]
        best = [max(range(1, 5), key=lambda k: e[k]) for e in probs]
        arch = "|%s~0|+|%s~0|%s~1|+|%s~0|%s~1|%s~2|" % tuple(OPS[k] for k in best)
        if arch not in ranks:
            ranks[arch] = demo.rank_of(oxnas, arch)[0]
        if r["epoch"] % 3 == 0 or r is rows[-1]:
            top = round(100.0 * ranks[arch] / demo.CELLS, 1)
            trajectory.append([r["epoch"], top, "".join(SHORT[k] for k in best), round(max(map(max, probs)), 3)])
    return dict(run=run_dir, trajectory=trajectory)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--set", action="append", default=[], help="extra --set for the search")
    ap.add_argument("--oxnas", default=os.path.join(demo.ROOT, "target", "release", "oxnas"))
    ap.add_argument("--out", default="runs/alpha-drift")
    ap.add_argument("--analyse", nargs="+", help="finished run directories to read instead of running")
    a = ap.parse_args()
    if a.analyse:
        for d in a.analyse:
            print(json.dumps(analyse(a.oxnas, d)))
        return
    os.makedirs(a.out, exist_ok=True)
    preset = os.path.join(a.out, "long-darts.toml")
    long_darts_preset(preset)

    def one(seed):
        d = os.path.join(a.out, "seed-%d" % seed)
        cmd = [a.oxnas, "search", "--preset", preset, "--seed", str(seed), "--out", d, "--set", "run.threads=1"]
        for s in a.set:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=open(d + ".log", "w"))
        return analyse(a.oxnas, d)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for row in pool.map(one, demo.seeds(a.seeds)):
            print(json.dumps(dict(row, sets=a.set)), flush=True)


if __name__ == "__main__":
    main()
