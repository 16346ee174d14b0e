#!/usr/bin/env bash
# Reduced weight sharing at CPU scale: few-shot supernets on NAS-Bench-201 split by the op of edge 1<-0
# (K = 5) against one supernet (K = 1) trained for the same number of steps from the same warm-up, on
# the embedded Fashion-MNIST subset. 200 sampled cells are scored in both and ranked against the
# NAS-Bench-201 CIFAR-10 column and against a small ground truth of our own (24 of the cells trained
# standalone for 2 epochs on 3,000 Fashion-MNIST images).
# Writes runs/fewshot-nb201/ (about 15 minutes on 2 cores for one seed; SEEDS="0 1 2" for three). Re-running resumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/fewshot-nb201
ox="${OX:-./oxnas}"
mkdir -p "$out"
# The first seed samples the 200 cells; later seeds score the same cells, so every seed meets the same truth.
first=""
for seed in ${SEEDS:-0}; do
  dir="$out/s$seed"
  cells=()
  [ -n "$first" ] && cells=(--set "fewshot.archs=\"$out/cells.txt\"")
  if [ -f "$dir/config.toml" ]; then
    $ox supernet fewshot --resume "$dir" --jobs 2
  else
    $ox supernet fewshot --preset cpu-nb201 --seed "$seed" "${cells[@]}" --out "$dir" --jobs 2
  fi
  if [ -z "$first" ]; then
    first="$dir"
    awk -F, 'NR > 1 { print $2 }' "$first/scores-k1.csv" | tr -d '"' > "$out/cells.txt"
  fi
done
# Our own ground truth for 24 of the scored cells (the first 24 rows of the K = 1 table).
awk -F, 'NR > 1 && NR <= 25 { print $2 }' "$first/scores-k1.csv" | tr -d '"' > "$out/own-archs.txt"
$ox groundtruth --archs "$out/own-archs.txt" --preset cpu-smoke \
  --set optim.epochs=2 --set data.train_limit=3000 --set model.channels=8 --out "$out/groundtruth.csv"
for seed in ${SEEDS:-0}; do
  for k in 1 5; do
    echo "== seed $seed, K = $k vs NAS-Bench-201 CIFAR-10 =="
    $ox rank --scores "$out/s$seed/scores-k$k.csv" --truth cifar10_test_200ep --channels 8 --percent 1,10 | grep -E "Kendall|Spearman|precision|top |bottom "
    echo "== seed $seed, K = $k vs our own Fashion-MNIST ground truth (24 cells) =="
    $ox rank --scores "$out/s$seed/scores-k$k.csv" --truth "$out/groundtruth.csv" --channels 8 -k 1,3,5 --percent 10,25 \
      --out "$out/s$seed/scores-k$k-vs-own.rank" | grep -E "Kendall|Spearman|precision|top |bottom "
  done
done
# One table of every ranking above (K = 1 and K = 5, against both truths), with plots: Markdown, PNG, HTML.
$ox report ranking "$out" --out "$out/report"
