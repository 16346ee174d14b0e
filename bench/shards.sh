#!/usr/bin/env bash
# BENCHMARKS.md "Sharding and Slurm": groundtruth wall time for 8 cells with a tiny recipe, as one
# process, as 2 local shards, and as a 2-task Slurm array with its merge job; plus Slurm's own cost
# per task (an array of empty tasks). Needs a running Slurm (scripts/slurm-up.sh, SLURM_CONF exported)
# and the release binary (./oxnas --help builds it), or OXNAS_BIN=path/to/oxnas.
#   bench/shards.sh [REPEATS]      # prints a markdown table; raw times on stderr
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${OXNAS_BIN:-$root/target/release/oxnas}"
repeats="${1:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
archs=1835,6111,100,200,3000,4000,5000,9000
tiny=(--preset cpu-smoke --set 'run.device="cpu"' --set optim.epochs=1 --set data.train_limit=1024 --set data.test_limit=256)

now() { date +%s.%N; }
# Waits until none of the given jobs is pending or running in squeue.
wait_jobs() {
  while squeue -h -j "$1" -o %T 2>/dev/null | grep -qE 'PENDING|RUNNING|COMPLETING|CONFIGURING'; do sleep 0.1; done
}

one() { # mode repeat -> seconds
  local out="$1-$2.csv" t0
  t0=$(now)
  case "$1" in
    single) "$bin" groundtruth --archs "$archs" "${tiny[@]}" --out "$out" >/dev/null 2>&1 ;;
    local2) "$bin" groundtruth --archs "$archs" "${tiny[@]}" --out "$out" --shards 2 --jobs 2 >/dev/null 2>&1 ;;
    slurm2)
      local ids
      # OMP_NUM_THREADS=1 per task, as the local executor gives each of 2 shards on 2 cores.
      ids=$("$bin" groundtruth --archs "$archs" "${tiny[@]}" --out "$out" --shards 2 --executor slurm \
        --setup 'export OMP_NUM_THREADS=1' | awk '/^submitted/ {print $4 "," $12}')
      wait_jobs "$ids"
      [[ -s "$out" ]] || { echo "slurm run left no $out" >&2; exit 1; }
      ;;
  esac
  echo "$(now) - $t0" | bc
}

# Slurm's own cost: an array of 8 tasks that do nothing, submitted and waited for, per task.
empty_array() {
  local t0 id
  t0=$(now)
  id=$(sbatch --parsable --array=0-7 --output=/dev/null --wrap true)
  wait_jobs "$id"
  echo "($(now) - $t0) / 8" | bc -l
}

declare -A best
for mode in single local2 slurm2 empty; do
  for r in $(seq "$repeats"); do
    if [[ $mode == empty ]]; then t=$(empty_array); else t=$(one "$mode" "$r"); fi
    echo "$mode run $r: $t s" >&2
    if [[ -z "${best[$mode]:-}" ]] || (($(echo "$t < ${best[$mode]}" | bc))); then best[$mode]=$t; fi
  done
done
printf '| how | wall time (best of %s) |\n|---|---|\n' "$repeats"
printf '| 1 process (`--out`) | %.1f s |\n' "${best[single]}"
printf '| 2 local shards (`--shards 2 --jobs 2`), with the merge | %.1f s |\n' "${best[local2]}"
printf '| 2-task Slurm array + merge job (`--shards 2 --executor slurm`), submit to merged file | %.1f s |\n' "${best[slurm2]}"
printf '| Slurm alone: an array of 8 empty tasks, per task | %.2f s |\n' "${best[empty]}"
