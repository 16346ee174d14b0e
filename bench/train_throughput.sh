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
#   THREADS [2]  REPS [2]  DARTS_LIMIT [288]  NB201_LIMIT [2048]  WORKLOADS ["darts nb201"]
#   BENCH_OUT     directory for the raw results [a new /tmp/oxnas-bench.XXXXXX]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
THREADS="${THREADS:-2}"
REPS="${REPS:-2}"
DARTS_LIMIT="${DARTS_LIMIT:-288}"
NB201_LIMIT="${NB201_LIMIT:-2048}"
WORKLOADS="${WORKLOADS:-darts nb201}"
PY="${BENCH_PYTHON:-$root/.bench-venv/bin/python}"
NB201_ARCH='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'

if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "error: $PY cannot import torch; run bench/setup-pytorch.sh or set BENCH_PYTHON" >&2
  exit 1
fi
if [ -z "${OXNAS:-}" ]; then
  "$root/oxnas" --help >/dev/null   # installs libtorch / builds the release binary when needed
  OXNAS="$root/target/release/oxnas"
fi
out="${BENCH_OUT:-$(mktemp -d /tmp/oxnas-bench.XXXXXX)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
echo "bench: raw results in $out" >&2

batch_of() { case "$1" in darts) echo 72 ;; nb201) echo 256 ;; esac; }
limit_of() { case "$1" in darts) echo "$DARTS_LIMIT" ;; nb201) echo "$NB201_LIMIT" ;; esac; }

run_oxnas() {  # workload rep
  local w="$1" rep="$2" dir="$out/oxnas-$1-$2" limit
  limit="$(limit_of "$w")"
  local common=(--epochs 1 --device cpu --out "$dir" --set data.source=\"embedded\"
    --set data.train_limit="$limit" --set data.test_limit=64 --set run.threads="$THREADS")
  local t0=$SECONDS
  case "$w" in
    darts) "$OXNAS" train --preset fashion-mnist "${common[@]}" >"$dir.log" 2>&1 ;;
    nb201) "$OXNAS" train --preset nb201-cifar --set data.dataset=\"fashion-mnist\" \
             --set data.train_transform=\"fashion-mnist-train\" --set data.eval_transform=\"fashion-mnist-eval\" \
             "${common[@]}" >"$dir.log" 2>&1 ;;
  esac || { echo "error: oxnas failed, see $dir.log" >&2; tail -5 "$dir.log" >&2; exit 1; }
  "$PY" - "$dir/metrics.jsonl" "$w" "$rep" "$((SECONDS - t0))" >>"$results" <<'EOF'
import json, sys
m = json.loads(open(sys.argv[1]).readline())
print(json.dumps({"framework": "oxnas", "workload": sys.argv[2], "rep": int(sys.argv[3]),
                  "images_per_s": m["images_per_s"], "wall_s": int(sys.argv[4])}))
EOF
  tail -1 "$results" >&2
}

run_pytorch() {  # workload rep
  local w="$1" rep="$2" limit batch steps args
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
  local t0=$SECONDS line
  line="$("$PY" bench/pytorch/train_throughput.py "${args[@]}" --classes 10 --in-channels 1 --image-size 32 \
          --train-limit "$limit" --warmup 2 --steps "$steps" --threads "$THREADS")"
  "$PY" - "$line" "$w" "$rep" "$((SECONDS - t0))" >>"$results" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
d.update({"framework": "pytorch", "workload": sys.argv[2], "rep": int(sys.argv[3]), "wall_s": int(sys.argv[4])})
print(json.dumps(d))
EOF
  tail -1 "$results" | cut -c1-200 >&2
}

for rep in $(seq 1 "$REPS"); do
  for w in $WORKLOADS; do
    if (( rep % 2 )); then run_oxnas "$w" "$rep"; run_pytorch "$w" "$rep"
    else run_pytorch "$w" "$rep"; run_oxnas "$w" "$rep"; fi
  done
done

"$PY" - "$results" "$THREADS" <<'EOF'
import json, sys
from statistics import mean
rows = [json.loads(l) for l in open(sys.argv[1])]
names = {"darts": "DARTS FashionMNIST_1 C=36 L=20, batch 72, aux 0.4",
         "nb201": "NB201 arch (C=16, N=5), batch 256"}
print()
print("Training throughput, CPU, %s threads, images/s (mean of %d runs; individual runs in brackets)"
      % (sys.argv[2], max(r["rep"] for r in rows)))
print()
print("| workload | oxnas img/s | PyTorch img/s (after 2 warm-up steps) | PyTorch img/s (all steps, as oxnas counts) | ratio oxnas/PyTorch (steady) | ratio oxnas/PyTorch (all steps) |")
print("|---|---|---|---|---|---|")
fmt = lambda xs: "%.2f [%s]" % (mean(xs), ", ".join("%.2f" % x for x in xs))
for w in dict.fromkeys(r["workload"] for r in rows):
    ox = [r["images_per_s"] for r in rows if r["workload"] == w and r["framework"] == "oxnas"]
    pt = [r["images_per_s"] for r in rows if r["workload"] == w and r["framework"] == "pytorch"]
    pa = [r["images_per_s_incl_warmup"] for r in rows if r["workload"] == w and r["framework"] == "pytorch"]
    print("| %s | %s | %s | %s | %.2f | %.2f |" % (names.get(w, w), fmt(ox), fmt(pt), fmt(pa),
                                                  mean(ox) / mean(pt), mean(ox) / mean(pa)))
EOF
