#!/usr/bin/env bash
# Training throughput, oxnas vs PyTorch (same libtorch 2.11.0 kernels underneath), on this machine's CPU.
#
#   bench/train_throughput.sh
#
# Workloads (1-channel Fashion-MNIST from oxnas's embedded subset, random-cropped to 32x32):
#   darts  DARTS eval network FashionMNIST_1, C=36, 20 layers, batch 72, aux 0.4, drop-path 0.2:
#          the `fashion-mnist` preset (crop+flip+normalize+cutout16+random erasing, SGD 0.025, clip 5)
#   nb201  NB201 network |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|,
#          C=16, N=5, batch 256: the `nb201-cifar` recipe (SGD 0.1 Nesterov, wd 5e-4, no clip) on
#          Fashion-MNIST with the fashion-mnist-train transform (crop+flip+normalize)
# For each of REPS repetitions and each workload it runs one oxnas epoch of LIMIT images
# (`oxnas train --epochs 1 --set data.train_limit=LIMIT`, images_per_s from metrics.jsonl: train steps
# only, timed from the epoch's first step, evaluation excluded) and PyTorch (bench/pytorch/
# train_throughput.py) on the same number of images: 2 warm-up steps + LIMIT/batch - 2 timed steps. The
# order alternates (oxnas first on odd repetitions, PyTorch first on even ones) to spread drift.
# Runs are sequential, never in parallel.
#
# Environment (defaults in brackets):
#   BENCH_PYTHON  python with torch 2.11.0 [.bench-venv/bin/python; create it with bench/setup-pytorch.sh]
#   OXNAS         oxnas binary [target/release/oxnas, built through ./oxnas first]
#   THREADS [2]  REPS [2]  DARTS_LIMIT [576]  NB201_LIMIT [5120]  WORKLOADS ["darts nb201"]
#   WAIT_IDLE [0.3]  before each run, wait (at most MAX_WAIT [180] s) until other processes use fewer
#                 than this many cores; 0 = do not wait. Each run also records `foreign_cores`, the other
#                 processes' average CPU use during it (bench/measured.py); a run above 0.2 is measured
#                 again, up to RETRIES [2] times; the table marks runs that stay above with * and
#                 leaves them out of the means when a clean run of the same kind exists.
#   RUN_TIMEOUT [240]  seconds before one run is stopped (it counts as disturbed: another busy process can
#                 slow these 2-thread runs 5-10x); a workload with no finished run gets no row.
#   BENCH_OUT     directory for the raw results [a new /tmp/oxnas-bench.XXXXXX]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
THREADS="${THREADS:-2}"
REPS="${REPS:-2}"
DARTS_LIMIT="${DARTS_LIMIT:-576}"
NB201_LIMIT="${NB201_LIMIT:-5120}"
WAIT_IDLE="${WAIT_IDLE:-0.3}"
MAX_WAIT="${MAX_WAIT:-180}"
RETRIES="${RETRIES:-2}"
RUN_TIMEOUT="${RUN_TIMEOUT:-240}"
WORKLOADS="${WORKLOADS:-darts nb201}"
NB201_ARCH='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'
. "$root/bench/lib.sh"
out="${BENCH_OUT:-$(mktemp -d /tmp/oxnas-bench.XXXXXX)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
echo "bench: raw results in $out" >&2

batch_of() { case "$1" in darts) echo 72 ;; nb201) echo 256 ;; esac; }
limit_of() { case "$1" in darts) echo "$DARTS_LIMIT" ;; nb201) echo "$NB201_LIMIT" ;; esac; }
settle() {
  if [ "$WAIT_IDLE" != 0 ]; then "$PY" bench/measured.py --wait-idle "$WAIT_IDLE" --max-wait "$MAX_WAIT" >/dev/null; fi
}

# One oxnas epoch; appends a JSON row to $attempt_row. Args: workload rep attempt.
run_oxnas() {
  local w="$1" tag="$1-$2-$3" limit
  local dir="$out/oxnas-$tag"
  limit="$(limit_of "$w")"
  local common=(--epochs 1 --device cpu --out "$dir" --set data.source=\"embedded\"
    --set data.train_limit="$limit" --set data.test_limit=64 --set run.threads="$THREADS")
  local extra=()
  case "$w" in
    darts) extra=(--preset fashion-mnist) ;;
    nb201) extra=(--preset nb201-cifar --set data.dataset=\"fashion-mnist\"
                  --set data.train_transform=\"fashion-mnist-train\" --set data.eval_transform=\"fashion-mnist-eval\") ;;
  esac
  local rc=0
  "$PY" bench/measured.py "$dir.load.json" -- timeout "$RUN_TIMEOUT" "$OXNAS" train "${extra[@]}" "${common[@]}" \
    >"$dir.log" 2>&1 || rc=$?
  if (( rc != 0 && rc != 124 )); then
    echo "error: oxnas failed, see $dir.log" >&2; tail -5 "$dir.log" >&2; exit 1
  fi
  "$PY" - "$dir/metrics.jsonl" "$dir.load.json" "$rc" >"$attempt_row" <<'EOF2'
import json, sys
d = {"framework": "oxnas", "timed_out": sys.argv[3] == "124"}
if not d["timed_out"]:
    m = json.loads(open(sys.argv[1]).readline())
    d.update({"images_per_s": m["images_per_s"], "train_s": m["epoch_time_s"]})
d.update(json.load(open(sys.argv[2])))
print(json.dumps(d))
EOF2
}

# PyTorch on the same number of images: 2 warm-up steps + LIMIT/batch - 2 timed steps.
run_pytorch() {
  local w="$1" tag="$1-$2-$3" limit batch steps args
  limit="$(limit_of "$w")"; batch="$(batch_of "$w")"
  if (( limit % batch )) || (( limit / batch < 3 )); then
    echo "error: the $w limit ($limit) must be a multiple of its batch ($batch), at least 3 batches" >&2; exit 1
  fi
  steps=$((limit / batch - 2))
  case "$w" in
    darts) args=(--space darts --genotype FashionMNIST_1 --channels 36 --layers 20 --batch-size 72
                 --auxiliary-weight 0.4 --drop-path 0.2) ;;
    nb201) args=(--space nb201 --arch "$NB201_ARCH" --channels 16 --cells 5 --batch-size 256) ;;
  esac
  local line load="$out/pytorch-$tag.load.json" rc=0
  line="$("$PY" bench/measured.py "$load" -- timeout "$RUN_TIMEOUT" "$PY" bench/pytorch/train_throughput.py \
          "${args[@]}" --classes 10 --in-channels 1 --image-size 32 --train-limit "$limit" --warmup 2 \
          --steps "$steps" --threads "$THREADS")" || rc=$?
  if (( rc != 0 && rc != 124 )); then echo "error: bench/pytorch/train_throughput.py failed" >&2; exit 1; fi
  "$PY" - "$line" "$load" "$rc" >"$attempt_row" <<'EOF2'
import json, sys
d = {"framework": "pytorch", "timed_out": sys.argv[3] == "124"}
if not d["timed_out"]:
    d.update(json.loads(sys.argv[1]))
d.update(json.load(open(sys.argv[2])))
print(json.dumps(d))
EOF2
}

# Runs framework $1 on workload $2, repetition $3, again (up to RETRIES times) when other processes
# used more than 0.2 cores meanwhile; records the last attempt.
measure() {
  local fw="$1" w="$2" rep="$3" attempt=0
  attempt_row="$out/attempt.json"
  while :; do
    settle
    "run_$fw" "$w" "$rep" "$attempt"
    local foreign
    foreign="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(99 if d["timed_out"] else d["foreign_cores"])' "$attempt_row")"
    if "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) <= 0.2)' "$foreign" && (( attempt < RETRIES )); then
      echo "bench: $fw $w rep $rep: disturbed (other processes used $foreign cores meanwhile; 99 = timed out); measuring again" >&2
      attempt=$((attempt + 1))
      continue
    fi
    break
  done
  "$PY" - "$attempt_row" "$w" "$rep" "$attempt" >>"$results" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
d.update({"workload": sys.argv[2], "rep": int(sys.argv[3]), "retries": int(sys.argv[4])})
print(json.dumps(d))
EOF2
  "$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readlines()[-1]); print("bench: %-7s %-5s rep %d: %s img/s (%.1f s wall, foreign load %.2f cores)" % (d["framework"], d["workload"], d["rep"], "timed out" if d["timed_out"] else "%7.2f" % d["images_per_s"], d["wall_s"], d["foreign_cores"]))' "$results" >&2
}

for rep in $(seq 1 "$REPS"); do
  for w in $WORKLOADS; do
    if (( rep % 2 )); then measure oxnas "$w" "$rep"; measure pytorch "$w" "$rep"
    else measure pytorch "$w" "$rep"; measure oxnas "$w" "$rep"; fi
  done
done

"$PY" - "$results" "$THREADS" <<'EOF'
import json, sys
from statistics import mean
all_rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in all_rows if not r["timed_out"]]
names = {"darts": "DARTS FashionMNIST_1 C=36 L=20, batch 72, aux 0.4",
         "nb201": "NB201 arch (C=16, N=5), batch 256"}
print()
clean = lambda r: r["foreign_cores"] <= 0.2
print("Training throughput, CPU, %s threads, images/s: mean over the clean runs (all runs in brackets;"
      " * = other processes used > 0.2 cores meanwhile, left out of the mean unless no run was clean)" % sys.argv[2])
print()
print("| workload | oxnas img/s | PyTorch img/s (after 2 warm-up steps) | PyTorch img/s (all steps, as oxnas counts) | ratio oxnas/PyTorch (steady) | ratio oxnas/PyTorch (all steps) |")
print("|---|---|---|---|---|---|")
def avg(rs, key):
    use = [r for r in rs if clean(r)] or rs
    return mean(r[key] for r in use)
def fmt(rs, key):
    return "%.2f [%s]" % (avg(rs, key), ", ".join("%.2f%s" % (r[key], "" if clean(r) else "*") for r in rs))
for w in dict.fromkeys(r["workload"] for r in all_rows):
    ox = [r for r in rows if r["workload"] == w and r["framework"] == "oxnas"]
    pt = [r for r in rows if r["workload"] == w and r["framework"] == "pytorch"]
    if not ox or not pt:
        print("| %s | no finished run (RUN_TIMEOUT) |  |  |  |  |" % names.get(w, w))
        continue
    mo = avg(ox, "images_per_s")
    print("| %s | %s | %s | %s | %.2f | %.2f |" % (
        names.get(w, w), fmt(ox, "images_per_s"), fmt(pt, "images_per_s"), fmt(pt, "images_per_s_incl_warmup"),
        mo / avg(pt, "images_per_s"), mo / avg(pt, "images_per_s_incl_warmup")))
EOF
