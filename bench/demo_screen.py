#!/usr/bin/env python3
"""Screens settings of the README's main job (`oxnas search --preset cpu-demo`) by NAS-Bench-201 rank.

    python3 bench/demo_screen.py SETTINGS.json 10,11,12,13,14 [--oxnas BIN] [--out DIR] [--workers 2]

SETTINGS.json maps a name to a list of `--set` overrides, e.g. {"warmup10": ["decision.weight_warmup=10",
"optim.epochs=48"]}. Every (setting, seed) pair runs with one thread, `--workers` at a time, so the walls
are not idle walls: use bench/demo_vs_random.py for times. Screen on seeds other than the ones you
report (BENCHMARKS.md screens on 10-14 and reports 0-4). One JSON line per run goes to stdout and to
DIR/rows.jsonl.
"""
import argparse
import concurrent.futures
import json
import os

import demo_vs_random as demo


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("settings")
    ap.add_argument("seeds", help="comma-separated")
    ap.add_argument("--oxnas", default=os.path.join(demo.ROOT, "target", "release", "oxnas"))
    ap.add_argument("--out", default="runs/demo-screen")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with open(a.settings) as f:
        settings = json.load(f)
    seeds = [int(s) for s in a.seeds.split(",")]

    def one(name, sets, seed):
        out = os.path.join(a.out, name)
        os.makedirs(out, exist_ok=True)
        wall, arch = demo.run_demo(a.oxnas, seed, out, sets + ["run.threads=1"])
        rank, _, arch = demo.rank_of(a.oxnas, arch)
        return dict(cfg=name, seed=seed, wall=round(wall, 1), rank=rank, top=round(100.0 * rank / demo.CELLS, 1),
                    arch=arch)

    with concurrent.futures.ThreadPoolExecutor(a.workers) as pool:
        jobs = [pool.submit(one, n, s, seed) for n, s in settings.items() for seed in seeds]
        with open(os.path.join(a.out, "rows.jsonl"), "a") as log:
            for job in concurrent.futures.as_completed(jobs):
                line = json.dumps(job.result())
                print(line, flush=True)
                log.write(line + "\n")


if __name__ == "__main__":
    main()
