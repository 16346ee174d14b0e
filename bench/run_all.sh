#!/usr/bin/env bash
# Search-side benchmarks, oxnas vs PyTorch (same libtorch 2.11.0 kernels), on this machine's CPU:
# search-step throughput (NB201 and DARTS supernets), λmax cost (full Hessian vs Lanczos), single-path
# supernet training and scoring, the NAS-Bench-201 table, the data loader, language-model retraining
# (tokens/s), and the cpu-demo search.
#
#   bench/run_all.sh                       # everything (≈25 min on a quiet 2-core machine)
#   WORKLOADS="search hessian" bench/run_all.sh
#
# Environment (defaults in brackets); see bench/run_all.py for what each workload runs:
#   BENCH_PYTHON [.bench-venv/bin/python]  OXNAS [target/release/oxnas, built through ./oxnas first]
#   THREADS [2]  REPS [2]  RETRIES [1]  WAIT_IDLE [0.3]  MAX_WAIT [300]
#   WORKLOADS ["search hessian single_path table loader lm lm_search demo"]
#   NB201_STEPS [8]  DARTS_STEPS [4]  DARTS_REPS [1]  ALPHA_GRADS ["backward alphas"]   (search)
#   HESSIAN_SPACES ["nb201 darts"]  HESSIAN_REPS [1]  DARTS_FULL_ROWS [10]: PyTorch computes this
#     many of the 140 DARTS Hessian rows and extrapolates (0 = all, ≈15 min)  OXNAS_DARTS_FULL [0]:
#     1 also runs oxnas's full DARTS Hessian (≈15+ min on 2 cores)                     (hessian)
#   SP_STEPS [32]  SP_REPS [1]  SCORE_CELLS [200]  SP_SPACES ["nb201"]: any of nb201 darts nb101
#     proxyless, e.g. "darts nb101 proxyless" (the cpu-X presets' sizes; darts:256 for 256 held-out
#     images per arch)  SP_EVAL_IMAGES [500] (darts, nb101, proxyless)
#     SP_CONFIGS ["16x5:500 8x1:256"] (nb201 sizes, CxN:eval images)                      (single_path)
#   LM_REPS [1]: one-epoch cpu-darts-rnn trainings / searches per side                  (lm, lm_search)
#   PANDAS_PYTHON [unset: pandas skipped] a python with pandas, for the table baseline
#   BENCH_OUT [a new /tmp/oxnas-searchbench.XXXXXX]: raw rows in results.jsonl, logs, run directories
# `bench/run_all.py --summary` (with BENCH_OUT set) re-prints the tables from results.jsonl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"
# The engine-free examples (no libtorch needed).
cargo build --release -q -p oxnas-core --example bench_table --example bench_loader
export BENCH_PYTHON="$PY"
exec "$PY" bench/run_all.py
