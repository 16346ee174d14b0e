#!/usr/bin/env bash
# Finding 5 of "How does supernet help in NAS?" at CPU scale: prune the NAS-Bench-201 space with a small
# single-path supernet on the embedded Fashion-MNIST subset (3 rounds, a fifth of the op choices per round),
# against random pruning on the same schedule, over seeds 0-2; then tabulate, per round, the survivors'
# median NAS-Bench-201 CIFAR-10 accuracy and the share of the true top-10% still alive.
# Writes runs/prune-nb201/ (about 15 minutes on 2 cores). Re-running resumes unfinished runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/prune-nb201
ox="${OX:-./oxnas}"
mkdir -p "$out"
seeds="${SEEDS:-0 1 2}"
for seed in $seeds; do
  for method in supernet random; do
    dir="$out/$method-s$seed"
    flag=""
    [ "$method" = random ] && flag="--random"
    if [ -f "$dir/config.toml" ]; then
      $ox prune --resume "$dir" > /dev/null
    else
      $ox prune --preset cpu-nb201 --seed "$seed" $flag --out "$dir" > /dev/null
    fi
  done
done
python3 - "$out" $seeds <<'PY'
import json, sys, statistics as st
out, seeds = sys.argv[1], sys.argv[2:]
def rows(method, seed):
    return [json.loads(l) for l in open(f"{out}/{method}-s{seed}/prune.jsonl")]
print("| method | seed | round | survivors | median CIFAR-10 acc | top-10% kept | top-1% kept | best by score (truth) |")
print("|---|---|---|---|---|---|---|---|")
for method in ("supernet", "random"):
    for seed in seeds:
        rs = rows(method, seed)
        t0 = rs[0]["truth_before"]
        print(f"| {method} | {seed} | 0 | {rs[0]['survivors_before']} | {t0['median']:.2f} | {t0['top10_kept']}/{t0['top10_total']} | {t0['top1_kept']}/{t0['top1_total']} | |")
        for r in rs:
            t = r["truth_after"]; b = r["best_by_score"]
            best = f"{b['score']:.1f} ({b['truth']:.2f})" if b else "-"
            print(f"| {method} | {seed} | {r['round']} | {r['survivors_after']} | {t['median']:.2f} | {t['top10_kept']}/{t['top10_total']} | {t['top1_kept']}/{t['top1_total']} | {best} |")
print()
print("| method | round | median of the survivors' median acc (seeds) | mean share of top-10% kept |")
print("|---|---|---|---|")
for method in ("supernet", "random"):
    n = len(rows(method, seeds[0]))
    for i in range(n):
        meds = [rows(method, s)[i]["truth_after"]["median"] for s in seeds]
        kept = [rows(method, s)[i]["truth_after"]["top10_kept"] / rows(method, s)[i]["truth_after"]["top10_total"] for s in seeds]
        print(f"| {method} | {i+1} | {st.median(meds):.2f} ({', '.join(f'{m:.2f}' for m in meds)}) | {st.mean(kept):.3f} |")
PY
