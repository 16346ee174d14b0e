#!/usr/bin/env python3
"""λmax along a real search: warm-started Lanczos (as the search ran it) against a cold Lanczos and
the full Hessian on the same weights and α batch, at every probe.

    python3 bench/lambda_warm.py nb201 [OUT_DIR]    # cpu-demo (NB201, 30 α)
    python3 bench/lambda_warm.py darts [OUT_DIR]    # a reduced-width DARTS SGAS-es supernet (140 α)
    EXTRA='--set hessian.tol=1e-2' python3 bench/lambda_warm.py nb201 runs/x   # other search settings

It runs one search with `hessian.mode = "lanczos"`, `warm_start = true` and `check = true`, which
also computes the full Hessian and a cold-started Lanczos (same tolerance) at every probe and logs
them in search.jsonl (`lambda_check`). It prints one JSON line per probe and a summary line;
BENCHMARKS.md quotes the summary. The binary is $OX (default target/release/oxnas).
"""
import json
import os
import statistics
import subprocess
import sys

OX = os.environ.get("OX", "target/release/oxnas")
SPACES = {
    # The README's main job, λmax by warm Lanczos instead of the full Hessian.
    "nb201": ["--preset", "cpu-demo"],
    # SGAS-es on the DARTS space (5 ops, 14 edges x 2 cells = 140 α) at C = 4 and 5 cells on 1,000
    # images of the embedded Fashion-MNIST subset, 8 epochs, so that the full Hessian at every probe
    # takes a minute, not the 18 of the paper-scale supernet.
    "darts": ["--preset", "sgas-es-fashion-mnist", "--set", "supernet.channels=4", "--set", "supernet.layers=5",
              "--set", 'data.source="embedded"', "--set", "data.train_limit=1000", "--set", "optim.epochs=8",
              "--set", "decision.frequency=4", "--set", "run.threads=2"],
}


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    space = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "runs/bench-lambda-%s" % space
    if not os.path.exists(os.path.join(out, "search.jsonl")):
        extra = os.environ.get("EXTRA", "").split()
        run([OX, "search", *SPACES[space], "--set", 'hessian.mode="lanczos"', "--set", "hessian.warm_start=true",
             "--set", "hessian.check=true", *extra, "--out", out])
    rows = []
    for line in open(os.path.join(out, "search.jsonl")):
        rec = json.loads(line)
        c = rec.get("lambda_check")
        if c is None:
            continue
        # A full Hessian takes one product per undecided α: its count is the dimension.
        row = dict(iteration=rec["iteration"], dim=c["full_hvps"], full=c["full"], full_s=c["full_s"], full_hvps=c["full_hvps"],
                   warm=rec["lambda_max"], warm_hvps=rec["hessian_hvps"], warm_s=rec["hessian_s"],
                   cold=c["cold"], cold_hvps=c["cold_hvps"], cold_s=c["cold_s"],
                   warm_rel_err=abs(rec["lambda_max"] - c["full"]) / abs(c["full"]),
                   cold_rel_err=abs(c["cold"] - c["full"]) / abs(c["full"]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    med = lambda k: statistics.median(r[k] for r in rows)
    print(json.dumps(dict(
        summary=space, probes=len(rows), dims=sorted({r["dim"] for r in rows}),
        median_full_hvps=med("full_hvps"), median_warm_hvps=med("warm_hvps"), median_cold_hvps=med("cold_hvps"),
        mean_warm_hvps=sum(r["warm_hvps"] for r in rows) / len(rows),
        max_warm_rel_err=max(r["warm_rel_err"] for r in rows), max_cold_rel_err=max(r["cold_rel_err"] for r in rows),
        median_full_s=med("full_s"), median_warm_s=med("warm_s"), median_cold_s=med("cold_s"),
        cost_ratio_warm=sum(r["warm_s"] for r in rows) / sum(r["full_s"] for r in rows),
        cost_ratio_cold=sum(r["cold_s"] for r in rows) / sum(r["full_s"] for r in rows))))


if __name__ == "__main__":
    main()
