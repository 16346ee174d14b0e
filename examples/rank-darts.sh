#!/usr/bin/env bash
# "How does supernet help in NAS?" on the DARTS CIFAR-10 space, at CPU scale: train a single-path
# supernet over DARTS genotypes (8 ops, normal and reduce cells) on the embedded Fashion-MNIST subset,
# score 200 sampled genotypes with inherited weights, train 16 of them standalone as our own ground
# truth, and rank. There is no embedded benchmark for this space: bring NDS's DARTS models with
# `--truth nds:DARTS.json` to rank CIFAR-10 runs against published accuracies.
# Writes everything under runs/rank-darts/ (see docs/ranking.md for the time it took). Re-running resumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/rank-darts
ox="${OX:-./oxnas}"
mkdir -p "$out"

if [ -f "$out/supernet/checkpoints/last.safetensors" ]; then
  $ox supernet train --resume "$out/supernet" || true
else
  $ox supernet train --preset cpu-darts --out "$out/supernet"
fi
$ox supernet score --run "$out/supernet" --archs sample:200 --sample-seed 1 --bn train --eval-images 256 \
  --out "$out/scores-200.csv"
# Ground truth of our own: the first 16 of those 200 genotypes, each trained standalone for 2 epochs on
# 3,000 images with the cpu-darts train recipe (C=8, 5 cells): noisy, but the task the supernet saw.
head -n 17 "$out/scores-200.csv" > "$out/gt-list.csv"
$ox groundtruth --space darts --archs "$out/gt-list.csv" --preset cpu-darts \
  --set optim.epochs=2 --set data.train_limit=3000 --out "$out/groundtruth.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn train --eval-images 500 \
  --out "$out/scores-sample.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn recalibrate --recal-batches 10 \
  --eval-images 500 --out "$out/scores-sample-recal.csv"

echo "== 16 genotypes: supernet (train-mode BN) vs our own Fashion-MNIST ground truth =="
$ox rank --space darts --scores "$out/scores-sample.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
echo "== the same with BN recalibrated per genotype =="
$ox rank --space darts --scores "$out/scores-sample-recal.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
echo "== both rankings in one table (Markdown, PNG and a self-contained HTML page) =="
$ox report ranking "$out" --out "$out/report"
