"""The README's main job against random search at the same wall time, seed by seed.

For each seed: `oxnas search --preset cpu-demo --seed S` is timed (wall clock, the machine otherwise
idle), and its cell is looked up in the embedded NAS-Bench-201 table (CIFAR-10 test accuracy after
200 epochs, rank among the 15,625 cells). Then random search gets that same wall time: it draws
cells uniformly (`oxnas groundtruth --archs sample:N --sample-seed S`), trains each briefly on the
same embedded Fashion-MNIST subset (`--preset cpu-smoke`, the sizes below) and, when the time is up,
keeps the cell with the best test accuracy on the embedded test split. How many cells it trained in
that time is part of its result.

    python3 bench/demo_vs_random.py --seeds 0-4 [--oxnas BIN] [--out DIR] [--demo-set K=V ...]

Prints one JSON line per seed and method, and a Markdown table at the end. Nothing here is timed
against a threshold: the numbers go to BENCHMARKS.md.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELLS = 15625
# Random search's per-cell training: the cpu-smoke recipe (C=8, one cell per stage) on the demo's
# 1,600 images, 2 epochs, evaluated on the embedded test split.
RANDOM_SETS = ["data.train_limit=1600", "optim.epochs=2"]


def seeds(text):
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def rank_of(oxnas, arch):
    out = subprocess.run([oxnas, "bench", "query", "--json", arch], check=True, capture_output=True, text=True)
    q = json.loads(out.stdout)
    return q["rank_cifar10_test_200ep"], q["cifar10_test_200ep"], q["arch_str"]


def run_demo(oxnas, seed, out, extra):
    d = os.path.join(out, "demo-seed-%d" % seed)
    cmd = [oxnas, "search", "--preset", "cpu-demo", "--seed", str(seed), "--out", d]
    for s in extra:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=open(d + ".log", "w"))
    wall = time.perf_counter() - t0
    with open(os.path.join(d, "result.json")) as f:
        arch = json.load(f)["genotype"]
    return wall, arch


def run_random(oxnas, seed, out, budget):
    table = os.path.join(out, "random-seed-%d.csv" % seed)
    cmd = [oxnas, "groundtruth", "--space", "nb201", "--archs", "sample:1000", "--sample-seed", str(seed),
           "--preset", "cpu-smoke", "--out", table]
    for s in RANDOM_SETS:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(table + ".log", "w"))
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    wall = time.perf_counter() - t0
    with open(table) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit("random search trained no cell in %.0f s; see %s.log" % (budget, table))
    best = max(rows, key=lambda r: float(r["accuracy"]))
    return wall, best["arch_str"], len(rows), float(best["accuracy"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--oxnas", default=os.path.join(ROOT, "target", "release", "oxnas"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--demo-set", action="append", default=[], help="extra --set for the demo (experiments)")
    ap.add_argument("--no-random", action="store_true", help="run the demo only")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="oxnas-demo-vs-random.")
    os.makedirs(out, exist_ok=True)
    rows = []
    for seed in seeds(a.seeds):
        wall, arch = run_demo(a.oxnas, seed, out, a.demo_set)
        rank, acc, arch = rank_of(a.oxnas, arch)
        row = dict(method="cpu-demo", seed=seed, wall_s=round(wall, 1), arch=arch, rank=rank,
                   top_pct=round(100.0 * rank / CELLS, 2), cifar10_test=acc)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if a.no_random:
            continue
        rwall, rarch, n, proxy = run_random(a.oxnas, seed, out, wall)
        rank, acc, rarch = rank_of(a.oxnas, rarch)
        row = dict(method="random", seed=seed, wall_s=round(rwall, 1), cells_trained=n, proxy_acc=proxy,
                   arch=rarch, rank=rank, top_pct=round(100.0 * rank / CELLS, 2), cifar10_test=acc)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| seed | cpu-demo wall | cpu-demo rank (top %) | random: cells trained | random rank (top %) |")
    print("|---|---|---|---|---|")
    by = {(r["method"], r["seed"]): r for r in rows}
    for seed in seeds(a.seeds):
        d, r = by[("cpu-demo", seed)], by.get(("random", seed))
        rs = "%d | %d (%.1f%%)" % (r["cells_trained"], r["rank"], r["top_pct"]) if r else "- | -"
        print("| %d | %.0f s | %d (%.1f%%) | %s |" % (seed, d["wall_s"], d["rank"], d["top_pct"], rs))
    for m in ("cpu-demo", "random"):
        tops = [r["top_pct"] for r in rows if r["method"] == m]
        if tops:
            print("%s: median top %.1f%%, median wall %.0f s" % (
                m, statistics.median(tops), statistics.median(r["wall_s"] for r in rows if r["method"] == m)))
    print("rows and logs in", out)


if __name__ == "__main__":
    main()
